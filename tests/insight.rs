//! `ddx analyze` against real repositories made in the test: what it detects and finds.

mod common;

use common::TestRepo;

fn commit(repo: &TestRepo, path: &str, content: &str, subject: &str) {
    repo.write(path, content);
    repo.git(&["add", path]);
    repo.git(&["commit", "-q", "-m", subject]);
}

#[test]
fn a_rust_project_without_tests_and_mostly_fixes_gets_tdd_bugfix_and_cargo_test() {
    let repo = TestRepo::new();
    commit(
        &repo,
        "Cargo.toml",
        "[package]\nname = \"shop\"\n",
        "Start the shop",
    );
    for n in 0..9 {
        commit(
            &repo,
            "src/main.rs",
            &format!("fn main() {{ println!(\"{n}\"); }}\n"),
            &format!("Fix the crash number {n}"),
        );
    }
    let out = repo.ddx_json(&["analyze", "--json"]);
    let project = &out["project"];
    assert_eq!(project["languages"], serde_json::json!(["Rust"]), "{out}");
    assert_eq!(project["test_command"], "cargo test", "{out}");
    assert_eq!(project["commits"], 10, "{out}");
    assert_eq!(project["test_files"], 0, "{out}");
    let findings = out["findings"].as_array().expect("findings");
    let find = |id: &str| findings.iter().find(|f| f["id"] == id).cloned();
    let no_tests = find("no-tests").expect("no-tests finding");
    assert_eq!(no_tests["workflows"], serde_json::json!(["tdd"]));
    assert!(
        no_tests["evidence"].to_string().contains("src/main.rs"),
        "{no_tests}"
    );
    let fixes = find("mostly-fixes").expect("mostly-fixes finding");
    assert_eq!(fixes["workflows"], serde_json::json!(["bugfix"]));
    assert!(
        fixes["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("9 of the last 10"),
        "{fixes}"
    );
    let head = repo.git(&["rev-parse", "--short=12", "HEAD"]);
    assert!(
        fixes["evidence"].to_string().contains(head.trim()),
        "{fixes}"
    );
    assert!(find("test-command").is_some());

    let text = repo.ddx_ok(&["analyze"]);
    assert!(
        text.contains("cargo test") && text.contains("tdd"),
        "{text}"
    );
}

#[test]
fn a_tested_project_with_few_fixes_has_neither_finding() {
    let repo = TestRepo::new();
    commit(&repo, "package.json", "{\"name\": \"web\"}\n", "Start");
    commit(&repo, "src/app.js", "export const a = 1;\n", "Add the app");
    commit(
        &repo,
        "test/app.test.js",
        "test('a', () => {});\n",
        "Test the app",
    );
    commit(&repo, "src/app.js", "export const a = 2;\n", "Fix a typo");
    let out = repo.ddx_json(&["analyze", "--json"]);
    assert_eq!(out["project"]["test_command"], "npm test", "{out}");
    let ids: Vec<&str> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["test-command"], "{out}");
}

#[test]
fn a_repository_without_commits_is_analysed_as_empty() {
    let repo = TestRepo::new();
    let out = repo.ddx_json(&["analyze", "--json"]);
    assert_eq!(out["project"]["commits"], 0, "{out}");
    assert_eq!(out["findings"], serde_json::json!([]), "{out}");
}
