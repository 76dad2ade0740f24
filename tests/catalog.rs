//! The catalog end to end: sources and precedence, the cache, search and broken workflows.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;

fn workflow_yml(name: &str, description: &str, tags: &[&str], phases: &[&str]) -> String {
    let mut s = format!(
        "name: {name}\nversion: 1.0.0\ndescription: {description}\ntags: [{}]\nphases:\n",
        tags.join(", ")
    );
    for p in phases {
        s.push_str(&format!("  - id: {p}\n    name: {p}\n"));
    }
    s
}

/// Writes a workflow folder at `dir/<name>/`.
fn write_workflow(repo: &TestRepo, dir: &str, name: &str, description: &str, tags: &[&str]) {
    repo.write(
        &format!("{dir}/{name}/workflow.yml"),
        workflow_yml(name, description, tags, &["plan", "build"]),
    );
}

const LIB: &str = ".ddx/library/workflows";
const LOCAL: &str = ".ddx/local/workflows";

/// (name, source, description) of every listed workflow.
fn listed(repo: &TestRepo, extra: &[&str]) -> Vec<(String, String, String)> {
    let mut args = vec!["workflow", "list", "--json"];
    args.extend_from_slice(extra);
    let v = repo.ddx_json(&args);
    v.as_array()
        .expect("list --json prints an array")
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_owned(),
                w["source"].as_str().unwrap().to_owned(),
                w["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn find<'a>(
    list: &'a [(String, String, String)],
    name: &str,
    source: &str,
) -> Option<&'a (String, String, String)> {
    list.iter().find(|(n, s, _)| n == name && s == source)
}

#[test]
fn project_library_is_read_from_head_not_from_the_work_tree() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "alpha", "First version", &["review"]);
    // No commit yet: no project source, and no error.
    assert!(find(&listed(&repo, &[]), "alpha", "project").is_none());

    repo.commit_all("add alpha");
    let list = listed(&repo, &[]);
    assert_eq!(
        find(&list, "alpha", "project").map(|w| w.2.as_str()),
        Some("First version")
    );

    // An uncommitted edit and an uncommitted new workflow change nothing.
    write_workflow(&repo, LIB, "alpha", "Edited but not committed", &["review"]);
    write_workflow(&repo, LIB, "beta", "New but not committed", &[]);
    let list = listed(&repo, &[]);
    assert_eq!(
        find(&list, "alpha", "project").map(|w| w.2.as_str()),
        Some("First version")
    );
    assert!(find(&list, "beta", "project").is_none());
    let shown = repo.ddx_json(&["workflow", "show", "alpha", "--json"]);
    assert_eq!(shown["description"], "First version");
    assert_eq!(shown["source"], "project");

    // A new commit does.
    repo.commit_all("edit alpha, add beta");
    let list = listed(&repo, &[]);
    assert_eq!(
        find(&list, "alpha", "project").map(|w| w.2.as_str()),
        Some("Edited but not committed")
    );
    assert!(find(&list, "beta", "project").is_some());
}

#[test]
fn a_broken_work_tree_cannot_break_the_project_library() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "alpha", "Good", &[]);
    repo.commit_all("add alpha");
    repo.write(&format!("{LIB}/alpha/workflow.yml"), "name: [unclosed\n");
    let out = repo.ddx(&["workflow", "list", "--strict", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"Good\""));
}

#[test]
fn local_workflows_shadow_the_project_library_and_all_shows_both() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "alpha", "From the project", &[]);
    repo.commit_all("add alpha");
    write_workflow(&repo, LOCAL, "alpha", "My own copy", &[]);

    let list = listed(&repo, &[]);
    let alphas: Vec<_> = list.iter().filter(|w| w.0 == "alpha").collect();
    assert_eq!(alphas.len(), 1);
    assert_eq!(alphas[0].1, "local");
    assert_eq!(alphas[0].2, "My own copy");

    let all = repo.ddx_json(&["workflow", "list", "--all", "--json"]);
    let rows: Vec<(String, Value)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["name"] == "alpha")
        .map(|w| {
            (
                w["source"].as_str().unwrap().to_owned(),
                w["shadowed_by"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("local".to_owned(), Value::Null),
            ("project".to_owned(), Value::String("local".into()))
        ]
    );

    // Name lookup follows the same precedence.
    let shown = repo.ddx_json(&["workflow", "show", "alpha", "--json"]);
    assert_eq!(shown["source"], "local");
    assert_eq!(shown["description"], "My own copy");

    // The text table says what is shadowed.
    let text = repo.ddx_ok(&["workflow", "list", "--all"]);
    assert!(
        text.lines()
            .any(|l| l.contains("project") && l.ends_with("(shadowed by local)")),
        "{text}"
    );
}

#[test]
fn the_cache_is_reused_and_rebuilt_after_a_commit() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "alpha", "Alpha", &["security"]);
    write_workflow(&repo, LIB, "beta", "Beta", &[]);
    repo.commit_all("library");
    let debug = |args: &[&str]| {
        let out = repo
            .command(env!("CARGO_BIN_EXE_ddx"))
            .args(args)
            .env("DDX_LOG", "debug")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };

    let first = debug(&["workflow", "search", "security"]);
    assert!(
        first.contains("catalog cache: rebuilt project") && first.contains("read 2 of 2 workflows"),
        "{first}"
    );
    let cached: Vec<_> = std::fs::read_dir(repo.path(".git/ddx/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("catalog-project-"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");

    let warm = debug(&["workflow", "search", "security"]);
    assert!(warm.contains("catalog cache: used for project"), "{warm}");
    assert!(!warm.contains("rebuilt project"), "{warm}");

    // A commit changes the library tree: the index is rebuilt, re-reading only what changed.
    write_workflow(&repo, LIB, "beta", "Beta, now about security", &[]);
    repo.commit_all("beta");
    let after = debug(&["workflow", "search", "security"]);
    assert!(
        after.contains("catalog cache: rebuilt project") && after.contains("read 1 of 2 workflows"),
        "{after}"
    );
    let hits = repo.ddx_json(&["workflow", "search", "security", "--json"]);
    let names: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{hits}");

    // A commit that does not touch the library keeps the cache.
    repo.write("README.md", "hello\n");
    repo.commit_all("readme");
    let untouched = debug(&["workflow", "list"]);
    assert!(
        untouched.contains("catalog cache: used for project"),
        "{untouched}"
    );

    // Deleting the cache is always safe.
    std::fs::remove_dir_all(repo.path(".git/ddx/cache")).unwrap();
    let again = debug(&["workflow", "search", "security"]);
    assert!(again.contains("catalog cache: rebuilt project"), "{again}");
    assert_eq!(
        repo.ddx_json(&["workflow", "search", "security", "--json"]),
        hits
    );
}

#[test]
fn a_change_that_arrives_by_pull_is_seen_without_invalidation() {
    let upstream = TestRepo::new();
    write_workflow(&upstream, LIB, "alpha", "Alpha", &[]);
    upstream.commit_all("alpha");
    let clone = TestRepo::plain();
    clone.git(&["clone", "-q", upstream.root.to_str().unwrap(), "."]);
    clone.git(&["config", "user.name", "Test User"]);
    clone.git(&["config", "user.email", "test@example.com"]);
    assert!(find(&listed(&clone, &[]), "alpha", "project").is_some());
    assert!(find(&listed(&clone, &[]), "gamma", "project").is_none());

    write_workflow(&upstream, LIB, "gamma", "Gamma", &[]);
    upstream.commit_all("gamma");
    clone.git(&["pull", "-q", "--ff-only"]);
    assert!(find(&listed(&clone, &[]), "gamma", "project").is_some());
}

#[test]
fn an_exact_name_ranks_first_and_every_hit_says_why() {
    let repo = TestRepo::new();
    // `code-review` mentions "review" everywhere; `review` only is called that.
    repo.write(
        &format!("{LIB}/code-review/workflow.yml"),
        workflow_yml(
            "code-review",
            "Review code, review tests, review review review",
            &["review", "peer-review"],
            &["review", "rework"],
        ),
    );
    repo.write(
        &format!("{LIB}/review/workflow.yml"),
        workflow_yml("review", "A lightweight checklist", &[], &["check"]),
    );
    repo.write(
        &format!("{LIB}/deploy/workflow.yml"),
        workflow_yml("deploy", "Ship it", &["ops"], &["ship"]),
    );
    repo.commit_all("library");

    let hits = repo.ddx_json(&["workflow", "search", "review", "--json"]);
    let hits = hits.as_array().unwrap();
    let names: Vec<&str> = hits.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["review", "code-review"], "{names:?}");
    // Anything after them comes from the embedded library (which mentions reviews too).
    assert!(
        hits[2..].iter().all(|h| h["source"] == "embedded"),
        "{hits:?}"
    );
    assert!(!names.contains(&"deploy"));
    assert_eq!(hits[0]["exact_name"], true);
    assert_eq!(hits[0]["why"][0], "exact name");
    assert_eq!(hits[1]["exact_name"], false);
    let why: Vec<&str> = hits[1]["why"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(
        why,
        ["\"review\": name code-review, tag review, tag peer-review, phase review, description review"]
    );

    let text = repo.ddx_ok(&["workflow", "search", "review"]);
    let first_row = text.lines().nth(1).unwrap();
    assert!(first_row.starts_with("review "), "{text}");
    assert!(text.contains("matched: exact name"), "{text}");

    let none = repo.ddx(&["workflow", "search", "kubernetes"]);
    assert_eq!(none.status.code(), Some(0));
    assert!(stderr(&none).contains("No workflow matches `kubernetes`."));
    assert_eq!(stdout(&none), "");
}

#[test]
fn search_filters_by_category_tag_source_and_language() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "rusty", "Quokka in rust", &["quokka"]);
    repo.write(
        &format!("{LIB}/rusty/metadata.yml"),
        "category: quality\nkeywords: [cargo]\ncompatibility:\n  languages: [rust]\n",
    );
    write_workflow(&repo, LIB, "gopher", "Quokka in go", &["quokka"]);
    repo.write(
        &format!("{LIB}/gopher/metadata.yml"),
        "category: quality\ncompatibility:\n  languages: [go]\n",
    );
    write_workflow(&repo, LIB, "anything", "Quokka anywhere", &["quokka"]);
    repo.commit_all("library");
    write_workflow(
        &repo,
        LOCAL,
        "mine",
        "Quokka my way",
        &["quokka", "personal"],
    );

    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["workflow", "search", "quokka", "--json"];
        a.extend_from_slice(args);
        let mut n: Vec<String> = repo
            .ddx_json(&a)
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&[]), ["anything", "gopher", "mine", "rusty"]);
    assert_eq!(names(&["--category", "quality"]), ["gopher", "rusty"]);
    assert_eq!(names(&["--tag", "personal"]), ["mine"]);
    assert_eq!(
        names(&["--tag", "cargo"]),
        ["rusty"],
        "keywords count as tags"
    );
    assert_eq!(names(&["--source", "local"]), ["mine"]);
    assert_eq!(
        names(&["--source", "project"]),
        ["anything", "gopher", "rusty"]
    );
    assert_eq!(
        names(&["--compatible-with", "rust"]),
        ["anything", "mine", "rusty"],
        "workflows that name no language fit any"
    );
}

#[test]
fn broken_workflows_are_named_and_strict_fails() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "good", "Fine", &[]);
    repo.write(
        &format!("{LIB}/bad/workflow.yml"),
        "name: bad\nphases:\n  - id: a\n    depends_on: [nowhere]\n",
    );
    repo.write(&format!("{LIB}/empty/README.md"), "no workflow.yml here\n");
    repo.commit_all("library");

    for _ in 0..2 {
        // The same report cold and from the cache.
        let out = repo.ddx(&["workflow", "list", "--json"]);
        assert_eq!(out.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["source"] == "project")
            .map(|w| w["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["good"]);
        let err = stderr(&out);
        assert!(
            err.contains("warning: workflow `bad` (project) is broken and not listed:"),
            "{err}"
        );
        assert!(
            err.contains("HEAD:.ddx/library/workflows/bad/workflow.yml:4:"),
            "{err}"
        );
        assert!(err.contains("depends on `nowhere`"), "{err}");
        assert!(
            err.contains("workflow `empty` (project) is broken"),
            "{err}"
        );
        assert!(err.contains("no workflow.yml found"), "{err}");
    }

    let strict = repo.ddx(&["workflow", "list", "--strict"]);
    assert_eq!(strict.status.code(), Some(4));
    assert_eq!(stdout(&strict), "");
    assert!(stderr(&strict)
        .contains("error: 2 workflows of the catalog are broken: bad (project), empty (project)"));
    let strict = repo.ddx(&["workflow", "search", "fine", "--strict"]);
    assert_eq!(strict.status.code(), Some(4));
}

#[test]
fn show_includes_metadata_statistics_and_rating() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "alpha", "Alpha", &[]);
    repo.write(
        &format!("{LIB}/alpha/metadata.yml"),
        "category: quality\nstatistics:\n  usage_count: 42\n  success_rate: 0.93\nrating:\n  average: 4.5\n  votes: 12\n",
    );
    repo.commit_all("alpha");
    let text = repo.ddx_ok(&["workflow", "show", "alpha"]);
    assert!(
        text.contains("  statistics: usage_count 42, success_rate 0.93\n"),
        "{text}"
    );
    assert!(text.contains("  rating: average 4.5, votes 12\n"), "{text}");
    let json = repo.ddx_json(&["workflow", "show", "alpha", "--json"]);
    assert_eq!(json["statistics"]["usage_count"], 42);
    assert_eq!(json["rating"]["votes"], 12);
    assert_eq!(json["category"], "quality");
}

#[test]
fn outside_a_repository_the_catalog_still_works() {
    let dir = TestRepo::plain();
    let out = dir.ddx(&["workflow", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["source"] == "embedded"));
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    for expected in ["adr", "bugfix", "helix", "tdd"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let hits = dir.ddx_json(&["workflow", "search", "tdd", "--json"]);
    assert_eq!(hits[0]["name"], "tdd");
    assert_eq!(hits[0]["exact_name"], true);
    assert!(!dir.path(".git").exists());
}

#[test]
fn an_unknown_name_gets_a_suggestion_from_every_source() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "security-review", "S", &[]);
    repo.commit_all("lib");
    let out = repo.ddx(&["workflow", "show", "security-reviw"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("did you mean `security-review`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_corpus_helix_is_indexed_from_a_committed_library() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let repo = TestRepo::new();
    std::fs::create_dir_all(repo.path(LIB)).unwrap();
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&helix)
        .arg(repo.path(&format!("{LIB}/helix")))
        .status()
        .unwrap();
    assert!(status.success());
    repo.commit_all("helix");
    let hits = repo.ddx_json(&["workflow", "search", "helix", "--json", "--strict"]);
    let first = &hits.as_array().unwrap()[0];
    assert_eq!(first["name"], "helix");
    assert_eq!(first["source"], "project");
    assert_eq!(first["exact_name"], true);
    let phases = first["phases"].as_u64().unwrap();
    assert!(phases >= 5, "{first}");
}

#[test]
fn a_project_workflow_shadows_the_embedded_one_of_the_same_name() {
    let repo = TestRepo::new();
    write_workflow(&repo, LIB, "tdd", "Our own TDD", &[]);
    repo.commit_all("our tdd");
    let shown = repo.ddx_json(&["workflow", "show", "tdd", "--json"]);
    assert_eq!(shown["source"], "project");
    assert_eq!(shown["description"], "Our own TDD");
    let all = repo.ddx_json(&["workflow", "list", "--all", "--json"]);
    let tdds: Vec<(&str, &Value)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["name"] == "tdd")
        .map(|w| (w["source"].as_str().unwrap(), &w["shadowed_by"]))
        .collect();
    assert_eq!(
        tdds,
        vec![
            ("project", &Value::Null),
            ("embedded", &Value::String("project".into()))
        ]
    );
}
