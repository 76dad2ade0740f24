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
