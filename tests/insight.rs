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

    // The work tree counts too: a test written but not committed yet, and an ignored file not.
    repo.write(".gitignore", "target/\n");
    repo.write("tests/cart.rs", "#[test]\nfn cart() {}\n");
    repo.write("target/debug/junk_test.rs", "// build output\n");
    // And the instances applied here.
    repo.ddx_ok(&[
        "workflow",
        "init",
        "tdd",
        "--id",
        "tdd-1",
        "--var",
        "feature_name=cart",
    ]);
    let out = repo.ddx_json(&["analyze", "--json"]);
    let project = &out["project"];
    assert_eq!(project["test_files"], 1, "{out}");
    assert_eq!(project["untracked_files"], 2, "{out}");
    assert_eq!(project["instances"][0]["id"], "tdd-1", "{out}");
    assert_eq!(project["instances"][0]["workflow"], "tdd", "{out}");
    let findings = out["findings"].as_array().expect("findings");
    assert!(findings.iter().all(|f| f["id"] != "no-tests"), "{out}");
    let applied = findings
        .iter()
        .find(|f| f["id"] == "instances")
        .expect("an instances finding");
    assert_eq!(applied["workflows"], serde_json::json!(["tdd"]));
    assert!(
        applied["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("tdd-1: tdd "),
        "{applied}"
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

/// The time of the test's `n`th second: ddx stamps its events with `GIT_COMMITTER_DATE`.
fn at(n: i64) -> String {
    format!("@{} +0000", 1_768_394_096 + n)
}

/// Runs ddx at second `n`, as `email`; asserts it succeeded.
fn ddx_at(repo: &TestRepo, n: i64, email: &str, args: &[&str]) -> String {
    let out = repo
        .command(env!("CARGO_BIN_EXE_ddx"))
        .env("GIT_COMMITTER_DATE", at(n))
        .env("GIT_COMMITTER_EMAIL", email)
        .args(args)
        .output()
        .expect("run ddx");
    assert!(
        out.status.success(),
        "ddx {args:?}: {}",
        common::stderr(&out)
    );
    common::stdout(&out)
}

#[test]
fn ratings_out_of_range_are_refused_and_the_mean_is_exact() {
    let repo = TestRepo::new();
    commit(&repo, "README.md", "# shop\n", "Start");
    for bad in ["0", "6", "-1", "4.5", "five"] {
        let out = repo.ddx(&["rate", "tdd", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            common::stderr(&out).contains("a rating is a whole number from 1 to 5"),
            "{}",
            common::stderr(&out)
        );
    }
    assert!(repo.git(&["for-each-ref", "refs/ddx/ratings"]).is_empty());
    let out = repo.ddx(&["rate", "nosuch", "3"]);
    assert_eq!(out.status.code(), Some(5), "{}", common::stderr(&out));

    ddx_at(&repo, 1, "ann@example.com", &["rate", "tdd", "2"]);
    ddx_at(
        &repo,
        2,
        "bob@example.com",
        &["rate", "tdd", "5", "--comment", "clear"],
    );
    // Ann rates again: her rating is replaced, not added.
    ddx_at(&repo, 3, "ann@example.com", &["rate", "tdd", "4"]);
    ddx_at(&repo, 4, "cy@example.com", &["rate", "bugfix", "3"]);
    let before = repo.git(&["for-each-ref", "refs/ddx/"]);
    let dry = ddx_at(
        &repo,
        5,
        "cy@example.com",
        &["rate", "bugfix", "1", "--dry-run", "--json"],
    );
    assert!(dry.contains("\"dry_run\": true"), "{dry}");
    assert_eq!(repo.git(&["for-each-ref", "refs/ddx/"]), before);

    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/ddx/ratings"])
            .trim(),
        "4"
    );
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/ddx/ratings"]);
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.ends_with(".yml")));
    assert_eq!(
        files.iter().filter(|f| f.starts_with("tdd/1.0.0/")).count(),
        2
    );
    let bob = files
        .iter()
        .map(|f| repo.git(&["show", &format!("refs/ddx/ratings:{f}")]))
        .find(|t| t.contains("bob@example.com"))
        .expect("bob's rating");
    assert!(
        bob.contains("score: 5\n") && bob.contains("comment: clear\n"),
        "{bob}"
    );
    repo.git(&["fsck", "--strict"]);

    let list = repo.ddx_json(&["workflow", "list", "--json"]);
    let rating = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| w["rating"].clone())
            .unwrap()
    };
    assert_eq!(rating("tdd"), serde_json::json!({"count": 2, "mean": 4.5}));
    assert_eq!(
        rating("bugfix"),
        serde_json::json!({"count": 1, "mean": 3.0})
    );
    assert_eq!(rating("adr"), serde_json::json!({"count": 0, "mean": null}));
    let show = repo.ddx_json(&["workflow", "show", "tdd", "--json"]);
    assert_eq!(show["rating"], serde_json::json!({"count": 2, "mean": 4.5}));
    let text = repo.ddx_ok(&["workflow", "list"]);
    assert!(text.contains("4.50 (2)"), "{text}");

    let names = |args: &[&str]| -> Vec<String> {
        repo.ddx_json(args)
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_rating = names(&["workflow", "search", "test", "--sort", "rating", "--json"]);
    assert_eq!(by_rating[..2], ["tdd", "bugfix"], "{by_rating:?}");
    let popular = repo.ddx_json(&[
        "workflow",
        "search",
        "test",
        "--sort",
        "popularity",
        "--json",
    ]);
    assert_eq!(popular[0]["name"], "tdd");
    assert_eq!(popular[0]["popularity"], 2);

    // Shared by `ddx sync`: a second clone sees them, and ratings made in both are united.
    let other = TestRepo::plain();
    other.git(&["clone", "-q", repo.root.to_str().unwrap(), "."]);
    other.git(&["config", "user.name", "Other"]);
    other.git(&["config", "user.email", "other@example.com"]);
    other.ddx_ok(&["sync", "origin"]);
    let rating_in = |r: &TestRepo, name: &str| {
        r.ddx_json(&["workflow", "list", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap()["rating"]
            .clone()
    };
    assert_eq!(
        rating_in(&other, "tdd"),
        serde_json::json!({"count": 2, "mean": 4.5})
    );
    other.ddx_ok(&["rate", "adr", "2"]);
    repo.ddx_ok(&["rate", "bugfix", "4"]);
    other.ddx_ok(&["sync", "origin"]);
    assert_eq!(
        rating_in(&other, "adr"),
        serde_json::json!({"count": 1, "mean": 2.0})
    );
    // Cy's rating and the one made here since: both reach the other clone.
    assert_eq!(rating_in(&other, "bugfix")["count"], 2);
    assert_eq!(rating_in(&other, "bugfix"), rating_in(&repo, "bugfix"));
    other.git(&["fsck", "--no-progress"]);
}

fn path_with_ddx() -> String {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_ddx"))
        .parent()
        .unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn stats_of_instances_made_here_are_exact() {
    let repo = TestRepo::new();
    repo.write(
        ".ddx/local/workflows/mini/workflow.yml",
        common::MINI_WORKFLOW,
    );
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    let me = "test@example.com";
    let run = |n: i64, args: &[&str]| ddx_at(&repo, n, me, args);
    let init = [
        "workflow",
        "init",
        "mini",
        "--var",
        "project_name=shop",
        "--id",
    ];

    // a: completed, its last phase forced past a failing check.
    run(0, &[&init[..], &["a"]].concat());
    run(10, &["workflow", "next", "-i", "a"]);
    run(20, &["gate", "approve", "frame", "1", "-i", "a"]);
    run(30, &["gate", "approve", "frame", "2", "-i", "a"]);
    run(100, &["workflow", "next", "-i", "a"]);
    run(
        110,
        &["gate", "approve", "design", "Budget approved", "-i", "a"],
    );
    run(120, &["phase", "start", "design", "-i", "a"]);
    run(130, &["gate", "approve", "design", "2", "-i", "a"]);
    run(400, &["workflow", "next", "-i", "a"]);
    run(1000, &["phase", "complete", "ship", "--force", "-i", "a"]);
    // b: aborted in its first phase.
    run(0, &[&init[..], &["b"]].concat());
    run(10, &["workflow", "next", "-i", "b"]);
    run(40, &["workflow", "abort", "-i", "b"]);
    // c: active, its first phase done in 50 s.
    run(0, &[&init[..], &["c"]].concat());
    run(10, &["workflow", "next", "-i", "c"]);
    run(20, &["gate", "approve", "frame", "1", "-i", "c"]);
    run(20, &["gate", "approve", "frame", "2", "-i", "c"]);
    run(60, &["workflow", "next", "-i", "c"]);
    // d: active in its first phase, when a commit is made without the pre-commit hook.
    run(0, &[&init[..], &["d"]].concat());
    run(10, &["workflow", "next", "-i", "d"]);
    repo.ddx_ok(&["hooks", "install"]);
    repo.write("notes.txt", "x\n");
    repo.git(&["add", "notes.txt"]);
    let out = repo
        .command("git")
        .env("PATH", path_with_ddx())
        .args(["commit", "-q", "--no-verify", "-m", "skip"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    ddx_at(&repo, 2000, me, &["rate", "mini", "4"]);

    let all = repo.ddx_json(&["stats", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    let s = &all[0];
    assert_eq!(s["workflow"], "mini");
    assert_eq!(s["instances"], 4, "{s}");
    assert_eq!(s["completed"], 1, "{s}");
    assert_eq!(s["active"], 2, "{s}");
    assert_eq!(s["abandoned"], 1, "{s}");
    assert_eq!(s["completion_rate"], 0.25, "{s}");
    assert_eq!(s["median_s"], 1000.0, "{s}");
    assert_eq!(s["forced"], 1, "{s}");
    assert_eq!(s["bypasses"], 1, "{s}");
    assert_eq!(s["ratings"], serde_json::json!({"count": 1, "mean": 4.0}));
    let phase = |id: &str| {
        s["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no phase {id}: {s}"))
    };
    assert_eq!(phase("frame")["median_s"], 70.0, "{s}");
    assert_eq!(phase("design")["median_s"], 280.0, "{s}");
    assert_eq!(phase("ship")["median_s"], 600.0, "{s}");
    assert_eq!(phase("ui")["median_s"], serde_json::Value::Null, "{s}");
    assert_eq!(phase("ship")["forced"], 1, "{s}");
    assert_eq!(phase("frame")["forced"], 0, "{s}");
    assert_eq!(
        phase("ship")["gate_failures"],
        serde_json::json!({"Release notes exist": 1}),
        "{s}"
    );
    assert_eq!(phase("frame")["gate_failures"], serde_json::json!({}));

    let one = repo.ddx_json(&["stats", "mini", "--json"]);
    assert_eq!(one, all);
    let none = repo.ddx_json(&["stats", "tdd", "--json"]);
    assert_eq!(none[0]["instances"], 0);
    assert!(none[0]["author_claims"].is_object(), "{none}");
    let text = repo.ddx_ok(&["stats"]);
    assert!(
        text.contains("4 started, 1 completed, 2 active, 1 abandoned"),
        "{text}"
    );
}

/// The names `ddx recommend` ranks for `text`, best first.
fn ranked(repo: &TestRepo, text: &str) -> Vec<String> {
    let mut args = vec!["recommend", "--json", "--limit", "10"];
    args.extend(text.split_whitespace());
    repo.ddx_json(&args)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

const CRASHES: [&str; 12] = [
    "The app crashes when I save a file",
    "Checkout fails with a 500 error after the last deploy",
    "Segfault in the parser on empty input",
    "Login is broken since yesterday's release",
    "Regression: search results are wrong after the upgrade",
    "NullPointerException thrown when the cart is empty",
    "The service hangs and times out under load",
    "Users report a crash on startup on Android 14",
    "Memory leak in the image resizer",
    "Exporting to CSV produces corrupt files",
    "Panic in the scheduler: index out of bounds",
    "The nightly job failed with a stack trace in the logs",
];

const DECISIONS: [&str; 12] = [
    "Should we use Postgres or MySQL for the orders database",
    "Choose between Kafka and RabbitMQ for our event bus",
    "Decide on a frontend framework: React or Vue",
    "Which cloud provider should we adopt for hosting",
    "Record the decision to move from REST to gRPC",
    "Evaluate GraphQL versus REST for the public API",
    "We need to pick a technology for search: Elasticsearch or Meilisearch",
    "Architecture decision on monolith vs microservices",
    "Select a message queue technology for background jobs",
    "Trade-offs of switching to Kubernetes from plain VMs",
    "Which ORM should the team standardise on",
    "Document why we chose Rust over Go for the CLI",
];

const NEW_SERVICES: [&str; 12] = [
    "Build a new payment service",
    "We are starting a new product for booking appointments",
    "Greenfield project: an inventory management system",
    "Create a new microservice for notifications",
    "Launch an MVP of a recipe sharing app",
    "Design and build a new customer portal from scratch",
    "New service to ingest sensor data from devices",
    "Start a new platform for internal analytics",
    "We want to build a marketplace product end to end",
    "Kick off a new application for field technicians",
    "Plan the requirements and architecture for a new billing system",
    "A new feature-rich web product for online courses",
];

#[test]
fn crashes_rank_bugfix_first_decisions_adr_and_new_services_helix_in_the_top_two() {
    let repo = TestRepo::new();
    commit(&repo, "README.md", "# shop\n", "Start the shop");
    let names: Vec<String> = repo
        .ddx_json(&["workflow", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["adr", "bugfix", "helix", "tdd"],
        "the embedded library changed"
    );
    for text in CRASHES {
        let r = ranked(&repo, text);
        assert_eq!(r[0], "bugfix", "{text}: {r:?}");
        assert_eq!(r.len(), 4, "every workflow is ranked");
    }
    for text in DECISIONS {
        let r = ranked(&repo, text);
        assert_eq!(r[0], "adr", "{text}: {r:?}");
    }
    for text in NEW_SERVICES {
        let r = ranked(&repo, text);
        assert!(r[..2].contains(&"helix".to_owned()), "{text}: {r:?}");
    }
}

#[test]
fn recommendations_say_why_and_weigh_findings_and_history() {
    let repo = TestRepo::new();
    commit(&repo, "Cargo.toml", "[package]\nname = \"shop\"\n", "Start");
    commit(&repo, "src/main.rs", "fn main() {}\n", "Add main");
    let out = repo.ddx_json(&["recommend", "--json", "the", "checkout", "crashes"]);
    let first = &out[0];
    assert_eq!(first["name"], "bugfix");
    assert_eq!(first["source"], "embedded");
    let why = first["why"].as_array().unwrap();
    assert!(
        why.iter().any(|y| y["signal"] == "kind"
            && y["weight"] == 1.5
            && y["detail"] == "bugfix work: crash"),
        "{first}"
    );
    let sum: f64 = why.iter().map(|y| y["weight"].as_f64().unwrap()).sum();
    assert!(
        (sum - first["score"].as_f64().unwrap()).abs() < 0.01,
        "{first}"
    );
    // No tests here: analyze's finding names tdd.
    let tdd = out
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "tdd")
        .unwrap();
    assert!(
        tdd["why"]
            .as_array()
            .unwrap()
            .iter()
            .any(|y| y["signal"] == "finding"
                && y["weight"] == 0.5
                && y["detail"].as_str().unwrap().starts_with("no-tests")),
        "{tdd}"
    );
    assert_eq!(
        repo.ddx_json(&["recommend", "--json", "--limit", "1", "x"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Two workflows alike but for their names: the one completed here ranks above the one
    // abandoned here.
    for name in ["alpha", "beta"] {
        repo.write(
            &format!(".ddx/local/workflows/{name}/workflow.yml"),
            format!("name: {name}\nversion: 1.0.0\ndescription: A one-step release checklist\nphases:\n  - id: only\n    name: Only\n"),
        );
    }
    let names = ranked(&repo, "release checklist");
    assert_eq!(names[..2], ["alpha", "beta"], "ties go by name");
    repo.ddx_ok(&["workflow", "init", "beta", "--id", "b1"]);
    repo.ddx_ok(&["workflow", "abort", "-i", "b1"]);
    repo.ddx_ok(&["workflow", "init", "alpha", "--id", "a1"]);
    repo.ddx_ok(&["workflow", "next", "-i", "a1"]);
    repo.ddx_ok(&["workflow", "next", "-i", "a1"]);
    repo.ddx_ok(&["workflow", "init", "beta", "--id", "b2"]);
    repo.ddx_ok(&["workflow", "next", "-i", "b2"]);
    repo.ddx_ok(&["workflow", "next", "-i", "b2"]);
    repo.ddx_ok(&["workflow", "init", "beta", "--id", "b3"]);
    repo.ddx_ok(&["workflow", "abort", "-i", "b3"]);
    let out = repo.ddx_json(&["recommend", "--json", "release", "checklist"]);
    assert_eq!(out[0]["name"], "alpha", "{out}");
    assert_eq!(out[1]["name"], "beta", "{out}");
    let history = |r: &serde_json::Value| {
        r["why"]
            .as_array()
            .unwrap()
            .iter()
            .find(|y| y["signal"] == "history")
            .cloned()
            .unwrap()
    };
    assert_eq!(history(&out[0])["weight"], 0.25);
    assert_eq!(history(&out[0])["detail"], "1 completed, 0 abandoned here");
    assert_eq!(history(&out[1])["weight"], -0.25);
    let text = repo.ddx_ok(&["recommend", "release", "checklist"]);
    assert!(
        text.contains("history: 1 completed, 0 abandoned here"),
        "{text}"
    );
}

/// The variables of the only instance, as git shows its state.
fn instance_variables(repo: &TestRepo) -> serde_yaml::Value {
    let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/ddx/instances/"]);
    let name = refs.trim();
    assert!(!name.is_empty() && !name.contains('\n'), "{refs}");
    let state: serde_yaml::Value =
        serde_yaml::from_str(&repo.git(&["show", &format!("{name}:state.yml")])).unwrap();
    state["variables"].clone()
}

#[test]
fn apply_takes_test_command_from_the_build_files_unless_told_or_unsure() {
    let repo = TestRepo::new();
    commit(&repo, "package.json", "{\"name\": \"web\"}\n", "Start");
    let out = repo.ddx(&["workflow", "apply", "tdd", "--var", "feature_name=cart"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out)
            .contains("test_command is `npm test`, as package.json says (pass --var test_command=... for another)."),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(instance_variables(&repo)["test_command"], "npm test");

    // Told: the user's word stands.
    let repo = TestRepo::new();
    commit(&repo, "package.json", "{\"name\": \"web\"}\n", "Start");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "tdd",
        "--var",
        "feature_name=cart",
        "--var",
        "test_command=make check",
    ]);
    assert_eq!(instance_variables(&repo)["test_command"], "make check");

    // Unsure: two build files disagree; the workflow's default stays and the user is told.
    let repo = TestRepo::new();
    commit(&repo, "package.json", "{\"name\": \"web\"}\n", "Start");
    commit(&repo, "go.mod", "module shop\n", "Go too");
    let out = repo.ddx(&["workflow", "apply", "tdd", "--var", "feature_name=cart"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("the build files name several test commands, `go test ./...` (go.mod), `npm test` (package.json)"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(instance_variables(&repo)["test_command"], "cargo test");
}

#[test]
fn a_project_with_helix_documents_is_recognised_and_a_duplicate_id_named() {
    let repo = TestRepo::new();
    repo.write("docs/helix/01-frame/prd.md", "# PRD\n");
    repo.write("docs/helix/01-frame/features/FEAT-001-cart.md", "# Cart\n");
    repo.write(
        "docs/helix/01-frame/features/FEAT-001-checkout.md",
        "# Checkout\n",
    );
    repo.write("docs/helix/02-design/architecture.md", "# Architecture\n");
    repo.commit_all("Frame and design the shop");
    let out = repo.ddx_json(&["analyze", "--json"]);
    assert_eq!(
        out["project"]["helix_phases"],
        serde_json::json!(["01-frame", "02-design"]),
        "{out}"
    );
    let findings = out["findings"].as_array().unwrap();
    let find = |id: &str| findings.iter().find(|f| f["id"] == id).cloned();
    let helix = find("helix-artifacts").expect("helix-artifacts");
    assert_eq!(helix["workflows"], serde_json::json!(["helix"]));
    assert_eq!(
        helix["evidence"],
        serde_json::json!([
            "docs/helix/01-frame/: 3 files",
            "docs/helix/02-design/: 1 file",
            "phases that look done: 01-frame; in phase 02-design"
        ])
    );
    let dup = find("duplicate-ids").expect("duplicate-ids");
    assert_eq!(
        dup["evidence"],
        serde_json::json!([
            "FEAT-001: docs/helix/01-frame/features/FEAT-001-cart.md, docs/helix/01-frame/features/FEAT-001-checkout.md"
        ])
    );
    let text = repo.ddx_ok(&["analyze"]);
    assert!(
        text.contains("duplicate-ids: Document ids are used more than once [helix]"),
        "{text}"
    );
}
