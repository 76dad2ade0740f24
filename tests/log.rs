//! The structured log end to end: real instances write JSON lines to `.git/ddx/logs/`, and
//! `ddx log` filters and exports them.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;
use std::collections::BTreeSet;

const WORKFLOW: &str = r#"name: mini
version: 0.1.0
description: A small workflow for tests
variables:
  - name: project_name
    required: true
phases:
  - id: frame
    order: 1
    name: Frame the problem
    exit_criteria:
      - Problem statement clearly documented
      - Success metrics defined
  - id: ship
    order: 2
    name: Ship
    depends_on: [frame]
    exit_criteria:
      - criteria: Release notes exist
        check: {file_exists: RELEASE.md}
"#;

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.commit_all("initial");
    repo
}

fn lines(repo: &TestRepo, id: &str) -> Vec<Value> {
    let path = repo.path(&format!(".git/ddx/logs/{id}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// init, next, a refused completion (exit 3), approvals, next, a forced completion.
fn journey(repo: &TestRepo, id: &str) {
    repo.ddx_ok(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        id,
    ]);
    repo.ddx_ok(&["workflow", "next", "-i", id]);
    let refused = repo.ddx(&["phase", "complete", "frame", "-i", id]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    repo.ddx_ok(&["gate", "approve", "frame", "1", "-i", id]);
    repo.ddx_ok(&["gate", "approve", "frame", "2", "-i", id]);
    repo.ddx_ok(&["workflow", "next", "-i", id]);
    repo.ddx_ok(&["phase", "complete", "ship", "--force", "-i", id]);
}

fn log_json(repo: &TestRepo, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["log", "--format", "json"];
    all.extend_from_slice(args);
    repo.ddx_ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn commands_that_touch_an_instance_append_json_lines_with_instance_and_run() {
    let repo = setup();
    journey(&repo, "l1");
    let log = lines(&repo, "l1");
    assert!(!log.is_empty());
    for l in &log {
        for key in ["time", "level", "target", "message", "fields", "run"] {
            assert!(l.get(key).is_some(), "no `{key}` in {l}");
        }
        assert_eq!(l["instance"], "l1", "{l}");
        assert!(l["time"].as_str().unwrap().ends_with('Z'));
    }
    // One correlation id per command: seven commands, each logged something.
    let runs: BTreeSet<&str> = log.iter().map(|l| l["run"].as_str().unwrap()).collect();
    assert_eq!(runs.len(), 7, "{runs:?}");
    let find = |msg: &str| {
        log.iter()
            .find(|l| l["message"].as_str().unwrap().contains(msg))
            .unwrap_or_else(|| panic!("no line with `{msg}` in {log:#?}"))
    };
    // The transition, with its event and commits.
    let start = find("l1: start frame");
    assert_eq!(start["level"], "info");
    assert_eq!(start["fields"]["event"], "next");
    let tip_after_next = repo
        .git(&["rev-parse", "refs/ddx/instances/l1~4"])
        .trim()
        .to_owned();
    assert_eq!(start["fields"]["commit"], tip_after_next.as_str());
    assert_eq!(find("frame: ready -> in_progress")["level"], "info");
    // The refused command's error, with its cause chain, in the same run as nothing else.
    let error = find("the exit gate of phase frame is not satisfied");
    assert_eq!(error["level"], "error");
    assert_eq!(error["fields"]["exit_code"], 3);
    let causes = error["fields"]["causes"]
        .as_array()
        .expect("causes is a list");
    assert_eq!(
        causes[0],
        "the exit gate of phase frame is not satisfied: \"Problem statement clearly documented\" (needs_approval), \"Success metrics defined\" (needs_approval)"
    );
    // Gate results and the deviation.
    let check = find("check file_exists of ship #1: failed");
    assert_eq!(check["level"], "info");
    assert_eq!(check["fields"]["kind"], "file_exists");
    let forced = find("ship: forced past \"Release notes exist\"");
    assert_eq!(forced["level"], "warn");
    assert_eq!(
        find("approve frame: Success metrics defined")["level"],
        "info"
    );

    // A dry run and a read that has nothing to say write nothing.
    let before = std::fs::read(repo.path(".git/ddx/logs/l1.jsonl")).unwrap();
    repo.ddx_ok(&["phase", "reopen", "ship", "-i", "l1", "--dry-run"]);
    repo.ddx_ok(&["workflow", "status", "l1"]);
    assert_eq!(
        std::fs::read(repo.path(".git/ddx/logs/l1.jsonl")).unwrap(),
        before
    );
    // A command that fails before it knows its instance has no instance log to write to.
    let out = repo.ddx(&["phase", "start", "ship", "-i", "nope"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(!repo.path(".git/ddx/logs/nope.jsonl").exists());
}

#[test]
fn ddx_log_filters_by_instance_level_time_text_and_run() {
    let repo = setup();
    journey(&repo, "l1");
    journey(&repo, "l2");
    let all = log_json(&repo, &[]);
    assert_eq!(
        all.len(),
        lines(&repo, "l1").len() + lines(&repo, "l2").len()
    );
    let times: Vec<&str> = all.iter().map(|l| l["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(
        times, sorted,
        "lines of several instances come in time order"
    );

    let l1 = log_json(&repo, &["--instance", "l1"]);
    assert_eq!(l1.len(), lines(&repo, "l1").len());
    assert!(l1.iter().all(|l| l["instance"] == "l1"));

    let errors = log_json(&repo, &["--level", "error"]);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors.iter().all(|l| l["level"] == "error"));
    let warn_or_worse = log_json(&repo, &["--level", "warn", "-i", "l2"]);
    let levels: BTreeSet<&str> = warn_or_worse
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, BTreeSet::from(["error", "warn"]));

    let grep = log_json(&repo, &["--grep", "forced past", "-i", "l1"]);
    assert_eq!(grep.len(), 1);
    // Fields are searched too.
    let by_field = log_json(&repo, &["--grep", "file_exists", "-i", "l2"]);
    assert!(!by_field.is_empty());

    let run = errors[0]["run"].as_str().unwrap();
    let of_run = log_json(&repo, &["--run", run]);
    assert!(!of_run.is_empty());
    assert!(of_run.iter().all(|l| l["run"] == run));
    assert!(of_run.iter().any(|l| l["level"] == "error"));

    assert_eq!(log_json(&repo, &["--since", "1h"]).len(), all.len());
    assert!(log_json(&repo, &["--until", "2000-01-01"]).is_empty());
    assert!(log_json(&repo, &["--since", "2999-01-01"]).is_empty());

    let csv = repo.ddx_ok(&["log", "--format", "csv", "-i", "l1", "--level", "error"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "time,level,target,instance,run,message,fields");
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[1].contains(",error,instance_log,l1,"), "{csv}");
    let text = repo.ddx_ok(&["log", "-i", "l1", "--level", "warn"]);
    let first = text.lines().next().unwrap();
    assert!(first.contains(" ERROR l1 ["), "{text}");

    let out = repo.ddx(&["log", "--level", "loud"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown level `loud`"));
    let out = repo.ddx(&["log", "-i", "zz"]);
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
}

#[test]
fn each_written_artifact_is_logged_once() {
    let repo = TestRepo::new();
    repo.write("README.md", "hello\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "helix",
        "--var",
        "project_name=shop",
        "--id",
        "once",
    ]);
    let text = repo.ddx_ok(&["log", "-i", "once"]);
    let prd: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("wrote docs/helix/01-frame/prd.md"))
        .collect();
    assert_eq!(prd.len(), 1, "{text}");
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": apply helix"))
        .collect();
    assert_eq!(events.len(), 1, "{text}");
}
