//! The first hour of a new team with the embedded workflows: what apply writes meets the
//! workflow's own checks, checked with the real `git`.

mod common;

use common::TestRepo;
use serde_json::Value;

fn criterion<'a>(phase: &'a Value, text: &str) -> &'a Value {
    phase["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["criteria"] == text)
        .unwrap_or_else(|| panic!("no criterion {text:?} in {phase}"))
}

#[test]
fn adr_apply_writes_the_record_its_first_check_looks_for() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "adr",
        "--var",
        "adr_id=ADR-0007",
        "--var",
        "decision_title=Use PostgreSQL",
    ]);
    assert!(repo
        .read("docs/adr/ADR-0007.md")
        .starts_with("# ADR-0007: Use PostgreSQL"));
    let untracked = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(untracked.contains("docs/adr/ADR-0007.md"), "{untracked}");
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let propose = &st["phases"][0];
    assert_eq!(
        criterion(propose, "At least one record exists in docs/adr/")["status"],
        "passed"
    );
    assert_eq!(
        criterion(propose, "ADR ids in file names are unique")["status"],
        "passed"
    );
}

#[test]
fn a_pattern_check_over_a_missing_path_counts_zero_matches() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "adr",
        "--var",
        "adr_id=ADR-0001",
        "--var",
        "decision_title=Pick a queue",
    ]);
    // With docs/adr/ gone, a pattern check over it counts zero matches (so `expected: 0` would
    // hold), instead of failing with "does not exist".
    std::fs::remove_dir_all(repo.path("docs/adr")).unwrap();
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let propose = &st["phases"][0];
    let c = criterion(propose, "A record is marked Proposed");
    assert_eq!(c["status"], "failed");
    assert!(
        !c["detail"].as_str().unwrap().contains("does not exist"),
        "{c}"
    );
}

/// One phase whose input gate and exit criteria are all human.
const REVIEWED: &str = r#"name: reviewed
version: 1.0.0
description: Human gates only
phases:
  - id: a
    order: 1
    name: A
    input_gates:
      - The team agreed to start
    exit_criteria:
      - First review done
      - Second review done
"#;

fn reviewed_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", REVIEWED);
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "r"]);
    repo
}

#[test]
fn gate_approve_takes_several_criteria_in_one_event() {
    let repo = reviewed_repo();
    let events = |repo: &TestRepo| {
        repo.git(&["rev-list", "--count", "refs/ddx/instances/r"])
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let before = events(&repo);
    repo.ddx_ok(&["gate", "approve", "a", "First review", "Second review"]);
    assert_eq!(events(&repo), before + 1, "one event for both approvals");
    let trailers = repo.git(&[
        "log",
        "-1",
        "--format=%(trailers:key=Ddx-Criterion,valueonly)",
        "refs/ddx/instances/r",
    ]);
    assert_eq!(trailers.trim(), "First review done\nSecond review done");
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    for c in st["phases"][0]["criteria"].as_array().unwrap() {
        assert_eq!(c["status"], "approved", "{c}");
    }
    // Replay reproduces the state the event wrote.
    repo.ddx_ok(&["audit", "verify"]);
    // Again: nothing changes, nothing is written.
    repo.ddx_ok(&["gate", "approve", "a", "First review", "Second review"]);
    assert_eq!(events(&repo), before + 1);
}

#[test]
fn the_report_lists_the_approvals_apply_gave() {
    let repo = reviewed_repo();
    repo.ddx_ok(&["gate", "approve", "a", "First review"]);
    let report = repo.ddx_json(&["audit", "report", "--format", "json"]);
    let i = &report["instances"][0];
    let approvals: Vec<&str> = i["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["criterion"].as_str().unwrap())
        .collect();
    assert_eq!(approvals, ["The team agreed to start", "First review done"]);
    let input = i["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["gate"] == "input")
        .unwrap_or_else(|| panic!("no input gate evidence in {i}"));
    assert_eq!(input["criteria"][0]["status"], "approved", "{input}");
}

const SEPARATE: &str = r#"name: separate
version: 1.0.0
description: A review by someone else
phases:
  - id: design
    order: 1
    name: Design
    exit_criteria:
      - criteria: The design was reviewed by someone who did not write it
        separate_from: docs/design.md
"#;

#[test]
fn the_author_of_what_a_criterion_reviews_may_not_approve_it() {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", SEPARATE);
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "s"]);
    repo.write("docs/design.md", "# Design\n\nQueues.\n");
    repo.commit_all("design");
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/s"]);
    let out = repo.ddx(&["gate", "approve", "design", "1"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("Test User <test@example.com> may not approve \"The design was reviewed by someone who did not write it\": they authored commits touching docs/design.md, which it reviews"),
        "{err}"
    );
    assert_eq!(repo.git(&["rev-parse", "refs/ddx/instances/s"]), tip);
    // Someone else may.
    let out = repo
        .command(env!("CARGO_BIN_EXE_ddx"))
        .env("GIT_COMMITTER_NAME", "Bob")
        .env("GIT_COMMITTER_EMAIL", "bob@example.com")
        .args(["gate", "approve", "design", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let by = repo.git(&["log", "-1", "--format=%an <%ae>", "refs/ddx/instances/s"]);
    assert_eq!(by.trim(), "Bob <bob@example.com>");
}

#[test]
fn an_embedded_prompt_renders_the_arguments_it_is_given() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "tdd",
        "--var",
        "test_command=true",
        "--var",
        "feature_name=cart",
    ]);
    let prompt = repo.ddx_ok(&[
        "action",
        "run",
        "write-next-test",
        "--",
        "US-001",
        "empty cart",
    ]);
    assert!(
        prompt.contains("**Asked for:** US-001 empty cart"),
        "{prompt}"
    );
    let bare = repo.ddx(&["action", "run", "write-next-test"]);
    assert!(!common::stdout(&bare).contains("Asked for"));
    // The red phase has not started: the run says so.
    let err = common::stderr(&bare);
    assert!(
        err.contains("write-next-test belongs to phase red, which is pending, not in progress (in progress: specify)"),
        "{err}"
    );
}

#[test]
fn the_report_lists_the_files_status_tracks_with_their_blob_ids() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "adr",
        "--var",
        "adr_id=ADR-0003",
        "--var",
        "decision_title=Use a queue",
    ]);
    let blob = repo.git(&["hash-object", "docs/adr/ADR-0003.md"]);
    let report = repo.ddx_json(&["audit", "report", "--format", "json"]);
    let artifacts = report["instances"][0]["artifacts"].as_array().unwrap();
    let a = artifacts
        .iter()
        .find(|a| a["path"] == "docs/adr/ADR-0003.md")
        .unwrap_or_else(|| panic!("not in the report: {artifacts:?}"));
    assert_eq!(a["after"], blob.trim());
    let md = repo.ddx_ok(&["audit", "report"]);
    assert!(!md.contains("None recorded."), "{md}");
}

#[test]
fn a_completed_phase_shows_what_its_checks_recorded_when_it_completed() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "adr",
        "--id",
        "d",
        "--var",
        "adr_id=ADR-0002",
        "--var",
        "decision_title=Use a queue",
    ]);
    repo.write(
        "docs/adr/ADR-0002.md",
        "# ADR-0002: Use a queue\n\n- **Status:** Proposed\n\n## Context\n\nLoad spikes.\n\n## Options considered\n\nA queue; a bigger box.\n",
    );
    repo.ddx_ok(&["gate", "approve", "propose", "5", "6"]);
    repo.ddx_ok(&["workflow", "next"]);
    let completing = repo.git(&["rev-parse", "refs/ddx/instances/d"]);
    // The work tree moves on: the record is gone, so the checks would fail now.
    std::fs::remove_dir_all(repo.path("docs/adr")).unwrap();
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let propose = &st["phases"][0];
    assert_eq!(propose["status"], "completed");
    let c = criterion(propose, "A record is marked Proposed");
    assert_eq!(c["status"], "passed", "{c}");
    assert_eq!(c["recorded_in"], completing.trim(), "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("docs/adr/ADR-0002.md:3: - **Status:** Proposed"),
        "{c}"
    );
    let text = repo.ddx_ok(&["-v", "workflow", "status"]);
    let propose_lines = text
        .split("  propose  ")
        .nth(1)
        .and_then(|t| t.split("  review  ").next())
        .unwrap();
    assert!(!propose_lines.contains("not_evaluated"), "{text}");
    assert!(
        text.contains(&format!(
            "[x] 4. A record is marked Proposed (exit passed) recorded in event {}",
            &completing.trim()[..12]
        )),
        "{text}"
    );
    let folded = repo.ddx_ok(&["workflow", "status"]);
    assert!(
        folded.contains("propose  completed    Propose  [6 criteria, 4 checks passed, 2 approved; --verbose lists them]"),
        "{folded}"
    );
}

/// Applies an embedded workflow to a fresh repository with `vars`.
fn applied(workflow: &str, vars: &[&str]) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    let mut args = vec!["workflow", "apply", workflow, "--id", workflow];
    for v in vars {
        args.extend(["--var", v]);
    }
    repo.ddx_ok(&args);
    repo
}

fn next_steps(repo: &TestRepo) -> Vec<String> {
    repo.ddx_json(&["workflow", "status", "--json"])["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn untouched_templates_cannot_pass_their_gates() {
    let cases: [(&str, &[&str], &str, &str); 4] = [
        (
            "helix",
            &["project_name=shop"],
            "The PRD is filled in: no template placeholder or clarification marker is left",
            "docs/helix/01-frame/prd.md",
        ),
        (
            "tdd",
            &["feature_name=cart", "test_command=true"],
            "The test list names real behaviours in place of the template's placeholders",
            "docs/tdd/test-list.md",
        ),
        (
            "bugfix",
            &["bug_id=BUG-1", "bug_title=Crash on empty cart"],
            "The bug report is written in place of the template's placeholders",
            "docs/bugfix/bug-report.md",
        ),
        (
            "adr",
            &["adr_id=ADR-0004", "decision_title=Use a queue"],
            "The new record is written in place of the template's placeholders",
            "docs/adr/ADR-0004.md",
        ),
    ];
    for (workflow, vars, text, path) in cases {
        let repo = applied(workflow, vars);
        let st = repo.ddx_json(&["workflow", "status", "--json"]);
        let c = criterion(&st["phases"][0], text);
        assert_eq!(c["status"], "failed", "{workflow}: {c}");
        let hint = format!(
            "fix \"{text}\": {path} (artifact {}) is still the template as ddx rendered it: write the content it asks for",
            &st["files"][path]["by"].as_str().unwrap()["artifact ".len()..]
        );
        assert!(
            next_steps(&repo).contains(&hint),
            "{workflow}: {:?}",
            next_steps(&repo)
        );
        // Half filled: the placeholders left are named with their lines.
        let mut half = repo.read(path);
        half.push_str("\nThis part is written.\n");
        repo.write(path, &half);
        let st = repo.ddx_json(&["workflow", "status", "--json"]);
        let c = criterion(&st["phases"][0], text);
        assert_eq!(c["status"], "failed", "{workflow}: {c}");
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("placeholders left in {path}; replace [")),
            "{workflow}: {detail}"
        );
    }
}

#[test]
fn helix_hints_name_the_user_story_files() {
    let repo = applied("helix", &["project_name=shop"]);
    let next = next_steps(&repo);
    assert!(
        next.contains(&"fix \"At least one user story is written\": 0 files match docs/helix/01-frame/user-stories/US-*.md (expected >0); add files named US-*.md in docs/helix/01-frame/user-stories/".to_owned()),
        "{next:?}"
    );
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

/// `git commit` with the hooks ddx installed (ddx on PATH), as `who` when given.
fn git_commit(repo: &TestRepo, message: &str, who: Option<(&str, &str)>) -> std::process::Output {
    let mut cmd = repo.command("git");
    cmd.env("PATH", path_with_ddx());
    if let Some((name, email)) = who {
        cmd.env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email);
    }
    cmd.args(["commit", "-q", "-m", message]).output().unwrap()
}

/// The user guide's `on: commit` example, as written there.
const GUIDE_RED: &str = r#"name: guide-red
version: 1.0.0
phases:
  - id: red
    protected_paths: ["src/**"]          # tests first: no implementation yet
    exit_criteria:
      - criteria: No focused tests are committed
        on: commit
        check: {pattern: "\\.only\\(", path: tests/, expected: 0}
"#;

#[test]
fn the_user_guides_on_commit_example_refuses_only_what_it_says() {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", GUIDE_RED);
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "g"]);
    repo.ddx_ok(&["hooks", "install"]);
    // No tests/ yet: a commit of anything else goes through.
    repo.write("docs/notes.md", "notes\n");
    repo.git(&["add", "docs/notes.md"]);
    let out = git_commit(&repo, "notes", None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    // A focused test is refused, naming the rule.
    repo.write("tests/cart.test.js", "it.only('adds', () => {});\n");
    repo.git(&["add", "tests/cart.test.js"]);
    let out = git_commit(&repo, "focused", None);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("[g / phase red] No focused tests are committed: 1 match of \\.only\\( in tests/ (expected 0)"),
        "{err}"
    );
    repo.write("tests/cart.test.js", "it('adds', () => {});\n");
    repo.git(&["add", "tests/cart.test.js"]);
    let out = git_commit(&repo, "a test", None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    repo.write("src/cart.js", "export {};\n");
    repo.git(&["add", "src/cart.js"]);
    let out = git_commit(&repo, "code", None);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("src/cart.js is protected while phase `red` is in progress")
    );
}

#[test]
fn embedded_tdd_refuses_code_before_the_list_and_a_red_commit_without_its_failure() {
    let repo = applied("tdd", &["feature_name=cart", "test_command=true"]);
    repo.ddx_ok(&["hooks", "install"]);
    repo.write("src/cart.rs", "pub fn total() -> u32 { 0 }\n");
    repo.git(&["add", "src/cart.rs"]);
    let out = git_commit(&repo, "code first", None);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out)
            .contains("[tdd / phase specify] protected_paths: src/**, lib/**: src/cart.rs is protected while phase `specify` is in progress"),
        "{}",
        common::stderr(&out)
    );
    repo.git(&["rm", "-q", "--cached", "src/cart.rs"]);
    std::fs::remove_file(repo.path("src/cart.rs")).unwrap();
    repo.write(
        "docs/tdd/test-list.md",
        "# Test list: cart\n\n## Behaviours\n\n- [ ] An empty cart totals 0\n",
    );
    repo.git(&["add", "docs/tdd/test-list.md"]);
    let out = git_commit(&repo, "Test list", None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    repo.ddx_ok(&["gate", "approve", "specify", "The list covers"]);
    repo.ddx_ok(&["workflow", "next"]);
    // Red: a test without its step in the cycle log is refused.
    repo.write(
        "tests/cart.rs",
        "#[test] fn empty() { assert_eq!(cart::total(), 0); }\n",
    );
    repo.git(&["add", "tests/cart.rs"]);
    let out = git_commit(&repo, "failing test", None);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains(
            "[tdd / phase red] Every commit of the red phase carries a cycle-log step with the failure seen"
        ),
        "{}",
        common::stderr(&out)
    );
    repo.write(
        "docs/tdd/cycle-log.md",
        "# Cycle log: cart\n\n| Step | Test list item | Test | Failure seen | Passing commit | Notes |\n|---|---|---|---|---|---|\n| 1 | An empty cart totals 0 | tests/cart.rs empty | cannot find function `total` | | |\n",
    );
    repo.git(&["add", "docs/tdd/cycle-log.md"]);
    let out = git_commit(&repo, "failing test", None);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

/// What a team writes when a hint asks for it: a hint containing `trigger` is answered by
/// writing each file (or removing it, for `None`) and committing.
type Step<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)]);

const BOB: (&str, &str) = ("Bob Reviewer", "bob@example.com");

/// Runs ddx as `who` (author and committer), or as the repository's own user.
fn ddx_as(repo: &TestRepo, who: Option<(&str, &str)>, args: &[&str]) -> std::process::Output {
    let mut cmd = repo.command(env!("CARGO_BIN_EXE_ddx"));
    if let Some((name, email)) = who {
        cmd.env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email);
    }
    cmd.args(args).output().unwrap()
}

/// What the walk did.
#[derive(Default, Debug)]
struct Walked {
    /// Approvals refused because the approver wrote what the criterion reviews.
    refused_to_author: Vec<String>,
    approvals: usize,
    commits: usize,
    /// Every hint status gave on the way.
    hints: std::collections::BTreeSet<String>,
}

/// Walks the only instance of `repo` to completed by doing what `workflow status` suggests:
/// `ddx workflow next`, writing what a hint asks for (from `steps`) and committing it,
/// approving the human criteria it names (as the author, or as Bob when the author may not).
/// Never `--force`, never an approval of a machine check.
fn walk(repo: &TestRepo, steps: &[Step<'_>]) -> Walked {
    let mut used = vec![false; steps.len()];
    let mut walked = Walked::default();
    for _ in 0..200 {
        let st = repo.ddx_json(&["workflow", "status", "--json"]);
        if st["status"] == "completed" {
            return walked;
        }
        let next = next_steps(repo);
        walked.hints.extend(next.iter().cloned());
        let text = repo.ddx_ok(&["workflow", "status"]);
        assert!(!next.is_empty(), "no next step:\n{text}");
        assert!(!next[0].contains("--force"), "--force first:\n{text}");
        if next[0] == "ddx workflow next" {
            repo.ddx_ok(&["workflow", "next"]);
            continue;
        }
        if let Some(hint) = next.iter().find(|h| h.starts_with("fix ")) {
            let Some(i) = steps.iter().position(|(t, _)| hint.contains(t)) else {
                panic!("dead end, nothing answers {hint:?}:\n{text}");
            };
            assert!(
                !used[i],
                "writing {:?} did not fix {hint:?}:\n{text}",
                steps[i].0
            );
            used[i] = true;
            for (path, content) in steps[i].1 {
                match content {
                    Some(c) => repo.write(path, c),
                    None => {
                        repo.git(&["rm", "-q", path]);
                    }
                }
            }
            repo.git(&["add", "-A"]);
            let out = git_commit(repo, &format!("Answer: {}", steps[i].0), None);
            assert!(out.status.success(), "{hint}: {}", common::stderr(&out));
            walked.commits += 1;
            continue;
        }
        let approvals: Vec<&String> = next
            .iter()
            .filter(|h| h.starts_with("ddx gate approve ") && h.ends_with("# ask a reviewer"))
            .collect();
        assert!(
            !approvals.is_empty(),
            "dead end: only {next:?} is suggested:\n{text}"
        );
        for hint in approvals {
            let rest = &hint["ddx gate approve ".len()..];
            let (phase, rest) = rest.split_once(' ').unwrap();
            let criterion = rest
                .trim_end_matches("# ask a reviewer")
                .trim()
                .trim_matches('"')
                .replace("\\\"", "\"");
            let args = ["gate", "approve", phase, criterion.as_str()];
            let out = ddx_as(repo, None, &args);
            if !out.status.success() {
                let err = common::stderr(&out);
                assert!(err.contains("may not approve"), "{hint}: {err}");
                // The hint is a command that can be pasted as it is.
                assert!(
                    err.contains(&format!(
                        "to run `ddx gate approve {phase} \"{criterion}\"`"
                    )),
                    "{err}"
                );
                walked.refused_to_author.push(criterion.clone());
                let out = ddx_as(repo, Some(BOB), &args);
                assert!(out.status.success(), "{hint}: {}", common::stderr(&out));
            }
            walked.approvals += 1;
        }
    }
    panic!("the walk did not end");
}

/// A walk ends completed, with every phase completed or skipped, nothing forced, and a history
/// that verifies; git sees what ddx wrote.
fn assert_walked_clean(repo: &TestRepo, workflow: &str) {
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(st["status"], "completed");
    for p in st["phases"].as_array().unwrap() {
        assert!(
            p["status"] == "completed" || p["status"] == "skipped",
            "{p}"
        );
        assert!(
            p.get("forced")
                .is_none_or(|f| f.as_array().unwrap().is_empty()),
            "{p}"
        );
        if p["status"] == "completed" {
            for c in p["criteria"].as_array().unwrap() {
                if c["kind"] != "human" && c["required"] == true {
                    assert_eq!(c["status"], "passed", "{workflow}: {c}");
                }
            }
        }
    }
    let reference = format!("refs/ddx/instances/{workflow}");
    let forced = repo.git(&[
        "log",
        "--format=%(trailers:key=Ddx-Forced,valueonly)",
        &reference,
    ]);
    assert!(forced.trim().is_empty(), "{forced}");
    repo.ddx_ok(&["audit", "verify"]);
    repo.git(&["fsck", "--no-progress"]);
}

/// A fresh repository with `workflow` applied and the hooks installed.
fn walk_repo(workflow: &str, vars: &[&str]) -> TestRepo {
    let repo = applied(workflow, vars);
    repo.ddx_ok(&["hooks", "install"]);
    repo
}

const PRD: &str = "# shop: Product Requirements\n\n| Field | Value |\n|---|---|\n| Status | Accepted |\n| Owner | Ann Product |\n\n## Summary\n\nShoppers give up at checkout because it takes five screens.\n\n## Success metrics\n\n| Metric | Baseline | Target | Measured how | By when | Owner |\n|---|---|---|---|---|---|\n| Checkout completion | 61% | 75% | Analytics funnel | 2026-06-30 | Ann |\n\n## Scope\n\nIn: one-step checkout with a saved card. Out: new payment providers.\n\n## Requirements\n\n| ID | Requirement | Priority |\n|---|---|---|\n| R-01 | Pay with a saved card in one step | P0 |\n\n## Sign-off\n\n| Role | Name | Date | Decision |\n|---|---|---|---|\n| Sponsor | Sam Sponsor | 2026-01-14 | Accepted |\n";

#[test]
fn helix_walks_from_apply_to_completed_by_following_the_hints() {
    let repo = walk_repo("helix", &["project_name=shop", "test_command=true"]);
    let steps: &[Step<'_>] = &[
        ("01-frame/prd.md", &[("docs/helix/01-frame/prd.md", Some(PRD))]),
        (
            "01-frame/principles.md",
            &[(
                "docs/helix/01-frame/principles.md",
                Some("# shop: Principles\n\n1. Tests before code.\n2. Small, reversible releases.\n"),
            )],
        ),
        (
            "US-*.md",
            &[(
                "docs/helix/01-frame/user-stories/US-001-one-step-checkout.md",
                Some("# US-001: Pay in one step\n\n| Field | Value |\n|---|---|\n| Feature | FEAT-001 |\n| Priority | P0 |\n\nAs a returning shopper, I want to pay with my saved card in one step so that I finish quickly.\n\n1. **Given** a saved card, **when** I press Pay, **then** the order is placed.\n"),
            )],
        ),
        (
            "01-frame/feature-registry.md",
            &[(
                "docs/helix/01-frame/feature-registry.md",
                Some("# shop: Feature registry\n\n| ID | Feature | Priority | Status | Owner | Depends on | Stories |\n|---|---|---|---|---|---|---|\n| FEAT-001 | One-step checkout | P0 | Framed | Ann | none | US-001 |\n"),
            )],
        ),
        (
            "02-design/architecture.md",
            &[(
                "docs/helix/02-design/architecture.md",
                Some("# shop: Architecture\n\nA checkout service calls the payment gateway through one client module.\n"),
            )],
        ),
        (
            "02-design/adr/ADR-*.md",
            &[(
                "docs/helix/02-design/adr/ADR-001-payment-client.md",
                Some("# ADR-001: One payment client\n\n- **Status:** Accepted\n\nAll gateway calls go through one client, so retries live in one place.\n"),
            )],
        ),
        (
            "02-design/contracts/contracts.md",
            &[
                ("docs/helix/02-design/contracts/contracts.md", None),
                (
                    "docs/helix/02-design/contracts/checkout-api.md",
                    Some("# Contract: Checkout API\n\n`POST /checkout` with a saved card id; answers 201 with the order id, or 402.\n"),
                ),
            ],
        ),
        (
            "03-test/test-plan.md",
            &[
                (
                    "docs/helix/03-test/test-plan.md",
                    Some("# shop: Test plan\n\n| Test | Story |\n|---|---|\n| tests/checkout.rs one_step_payment | US-001 |\n"),
                ),
                ("tests/checkout.rs", Some("#[test]\nfn one_step_payment() {}\n")),
            ],
        ),
        (
            "04-build/implementation-plan.md",
            &[
                (
                    "docs/helix/04-build/implementation-plan.md",
                    Some("# shop: Implementation plan\n\n- [x] Payment client\n- [x] Checkout endpoint\n"),
                ),
                ("src/checkout.rs", Some("pub fn checkout() {}\n")),
            ],
        ),
        (
            "05-deploy/runbook.md",
            &[(
                "docs/helix/05-deploy/runbook.md",
                Some("# shop: Runbook\n\nOwner: the checkout team. Roll back with `deploy rollback checkout`.\n"),
            )],
        ),
        (
            "05-deploy/deployment-checklist.md",
            &[(
                "docs/helix/05-deploy/deployment-checklist.md",
                Some("# shop: Deployment checklist\n\n- [x] Migrations applied\n- [x] Smoke checks green\n"),
            )],
        ),
        (
            "06-iterate/lessons-learned.md",
            &[(
                "docs/helix/06-iterate/lessons-learned.md",
                Some("# shop: Lessons learned\n\nThe saved-card flow needed a second review of its error states.\n"),
            )],
        ),
        (
            "06-iterate/improvement-backlog.md",
            &[(
                "docs/helix/06-iterate/improvement-backlog.md",
                Some("# shop: Improvement backlog\n\n| ID | Improvement | Priority |\n|---|---|---|\n| IMP-001 | Review error states with support | High |\n"),
            )],
        ),
    ];
    let walked = walk(&repo, steps);
    assert_walked_clean(&repo, "helix");
    // Hints said what to name files, what to commit, and never led with --force.
    for hint in [
        "fix \"Runbook exists and is committed\": docs/helix/05-deploy/runbook.md is not in HEAD (commit it: `git add docs/helix/05-deploy/runbook.md && git commit`)",
        "fix \"At least one architecture decision is recorded\": 0 files match docs/helix/02-design/adr/ADR-*.md (expected >0); add files named ADR-*.md in docs/helix/02-design/adr/",
        "fix \"Every contract is filled in, each in a file named after its interface\": docs/helix/02-design/contracts/contracts.md (artifact contracts) is still the template as ddx rendered it: write the content it asks for, under the name it asks for (or remove it)",
    ] {
        assert!(walked.hints.contains(hint), "not suggested: {hint}\n{:#?}", walked.hints);
    }
    assert_eq!(walked.commits, steps.len(), "every answer was asked for");
    // The architecture and the test plan were reviewed by someone who did not write them.
    assert_eq!(
        walked.refused_to_author,
        [
            "The architecture has been reviewed by someone who did not write it",
            "A reviewer other than its author has approved the test plan"
        ],
        "{walked:?}"
    );
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let design = &st["phases"][1];
    let review = criterion(
        design,
        "The architecture has been reviewed by someone who did not write it",
    );
    assert_eq!(review["approval"]["by"], "Bob Reviewer <bob@example.com>");
}

#[test]
fn tdd_walks_from_apply_to_completed_by_following_the_hints() {
    let repo = walk_repo("tdd", &["feature_name=cart", "test_command=true"]);
    let log = "# Cycle log: cart\n\n| Step | Test list item | Test | Failure seen | Passing commit | Notes |\n|---|---|---|---|---|---|\n| 1 | An empty cart totals 0 | tests/cart.rs empty | cannot find function `total` | | |\n";
    let steps: &[Step<'_>] = &[
        (
            "docs/tdd/test-list.md (artifact test-list)",
            &[(
                "docs/tdd/test-list.md",
                Some("# Test list: cart\n\n## Behaviours\n\n- [ ] An empty cart totals 0\n"),
            )],
        ),
        (
            "docs/tdd/cycle-log.md",
            &[
                ("docs/tdd/cycle-log.md", Some(log)),
                (
                    "tests/cart.rs",
                    Some("#[test]\nfn empty() { assert_eq!(cart::total(), 0); }\n"),
                ),
            ],
        ),
        (
            "docs/tdd/refactoring-log.md",
            &[
                (
                    "docs/tdd/refactoring-log.md",
                    Some("# Refactoring log: cart\n\n| Date | Cycle step | Refactoring | Reason | Files |\n|---|---|---|---|---|\n| 2026-01-14 | 1 | Rename sum to total | Says what it is | src/cart.rs |\n"),
                ),
                ("src/cart.rs", Some("pub fn total() -> u32 {\n    0\n}\n")),
            ],
        ),
        (
            "Every item on the test list is done",
            &[(
                "docs/tdd/test-list.md",
                Some("# Test list: cart\n\n## Behaviours\n\n- [x] An empty cart totals 0\n"),
            )],
        ),
    ];
    let walked = walk(&repo, steps);
    assert_walked_clean(&repo, "tdd");
    assert_eq!(walked.commits, steps.len(), "{walked:?}");
}

#[test]
fn bugfix_walks_from_apply_to_completed_by_following_the_hints() {
    let repo = walk_repo(
        "bugfix",
        &[
            "bug_id=BUG-7",
            "bug_title=Total is wrong for an empty cart",
            "test_command=true",
        ],
    );
    let note = |status: &str| {
        format!("# Regression test for BUG-7\n\n| Field | Value |\n|---|---|\n| Test | tests/cart.rs empty_total |\n| Level | Unit |\n| Status | {status} |\n\nAn empty cart totals 0.\n")
    };
    let failing = note("failing");
    let passing = note("passing");
    let steps: &[Step<'_>] = &[
        (
            "docs/bugfix/bug-report.md",
            &[(
                "docs/bugfix/bug-report.md",
                Some("# BUG-7: Total is wrong for an empty cart\n\n| Field | Value |\n|---|---|\n| Reported by | Support |\n| Severity | High |\n\n## Steps to reproduce\n\n1. Open an empty cart\n2. Read the total: it says 1\n"),
            )],
        ),
        (
            "docs/bugfix/regression-test.md (artifact",
            &[
                ("docs/bugfix/regression-test.md", Some(&failing)),
                ("tests/cart.rs", Some("#[test]\nfn empty_total() {}\n")),
            ],
        ),
        (
            "docs/bugfix/root-cause.md",
            &[(
                "docs/bugfix/root-cause.md",
                Some("# Root cause of BUG-7\n\n| Field | Value |\n|---|---|\n| Category | Logic error |\n\nThe sum starts at 1.\n"),
            )],
        ),
        (
            "The regression test is recorded as passing",
            &[
                ("docs/bugfix/regression-test.md", Some(&passing)),
                ("src/cart.rs", Some("pub fn total() -> u32 { 0 }\n")),
            ],
        ),
    ];
    let walked = walk(&repo, steps);
    assert_walked_clean(&repo, "bugfix");
    assert_eq!(walked.commits, steps.len(), "{walked:?}");
}

#[test]
fn adr_walks_from_apply_to_completed_by_following_the_hints() {
    let repo = walk_repo("adr", &["adr_id=ADR-0004", "decision_title=Use a queue"]);
    let record = |status: &str| {
        format!("# ADR-0004: Use a queue\n\n- **Status:** {status}\n- **Deciders:** Ann Architect\n- **Reviewers:** Bob Reviewer, the payments team\n- **Supersedes:** none\n\n## Context\n\nOrders arrive in bursts the database cannot absorb.\n\n## Options considered\n\nA queue: smooths bursts, adds an operated component. A bigger database: simple, costly.\n\n## Decision\n\nWe will put a queue in front of order writes.\n")
    };
    let proposed = record("Proposed");
    let accepted = record("Accepted");
    let steps: &[Step<'_>] = &[
        (
            "docs/adr/ADR-0004.md (artifact adr)",
            &[("docs/adr/ADR-0004.md", Some(&proposed))],
        ),
        (
            "A record is marked Accepted or Rejected",
            &[("docs/adr/ADR-0004.md", Some(&accepted))],
        ),
        (
            "docs/adr/index.md",
            &[(
                "docs/adr/index.md",
                Some("# Architecture decisions\n\n| ID | Title | Status | Decided | Superseded by |\n|---|---|---|---|---|\n| ADR-0004 | [Use a queue](ADR-0004.md) | Accepted | 2026-01-14 | |\n"),
            )],
        ),
    ];
    let walked = walk(&repo, steps);
    assert_walked_clean(&repo, "adr");
    assert_eq!(walked.commits, steps.len(), "{walked:?}");
}

const FORCED: &str = r#"name: forced
version: 1.0.0
phases:
  - id: a
    order: 1
    input_gates:
      - criteria: The brief exists
        check: {file_exists: brief.md}
    exit_criteria:
      - criteria: The notes exist
        check: {file_exists: notes.md}
  - id: b
    order: 2
    exit_criteria:
      - Done
"#;

#[test]
fn a_phase_forced_to_complete_shows_the_failure_it_recorded_not_todays_files() {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", FORCED);
    repo.write("brief.md", "# Brief\n");
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "f"]);
    repo.ddx_ok(&[
        "phase",
        "complete",
        "a",
        "--force",
        "--reason",
        "notes later",
    ]);
    let completing = repo.git(&["rev-parse", "refs/ddx/instances/f"]);
    // The files change afterwards: the notes appear, the brief goes.
    repo.write("notes.md", "# Notes\n");
    std::fs::remove_file(repo.path("brief.md")).unwrap();
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let a = &st["phases"][0];
    assert_eq!(a["status"], "completed");
    let notes = criterion(a, "The notes exist");
    assert_eq!(notes["status"], "failed", "{notes}");
    assert_eq!(notes["recorded_in"], completing.trim());
    assert_eq!(notes["detail"], "notes.md does not exist");
    // The input gate: as recorded when the phase started (apply).
    let brief = criterion(a, "The brief exists");
    assert_eq!(brief["status"], "passed", "{brief}");
    let started = repo.git(&["rev-list", "--max-parents=0", "refs/ddx/instances/f"]);
    assert_eq!(brief["recorded_in"], started.trim());
    let folded = repo.ddx_ok(&["workflow", "status"]);
    assert!(
        folded.contains(
            "[2 criteria, 1 check passed, 1 check failed, 1 forced past; --verbose lists them]"
        ),
        "{folded}"
    );
}
