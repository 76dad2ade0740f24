//! Machine-checked gates end to end: `ddx gate check`, and `phase complete` / `workflow next`
//! deciding with the same evaluation; results checked with the real `git`.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;

/// Two phases: spec (every kind of check, one human criterion, one artifact) -> build (an input
/// gate that waits for spec, and a glob check).
const WORKFLOW: &str = r#"name: gated
version: 1.0.0
description: Gates for tests
variables:
  - name: project_name
    required: true
phases:
  - id: spec
    order: 1
    name: Specify
    exit_criteria:
      - criteria: Spec exists
        check: {file_exists: docs/spec.md}
      - criteria: No open questions
        check: {pattern: "\\[NEEDS CLARIFICATION", path: docs/, expected: 0}
      - criteria: Requirement ids are unique
        check: {unique_ids: 'REQ-\d+', path: docs/spec.md}
      - criteria: Spec is committed
        check: {committed: docs/spec.md}
      - criteria: Project is named
        check: {variable_set: project_name}
      - criteria: Checks pass
        check: {command: "test -f ok.txt && echo all good", timeout: 20}
      - Reviewed by a peer
      - criteria: Glossary written
        required: false
        check: {file_exists: docs/glossary.md}
  - id: build
    order: 2
    name: Build
    input_gates:
      - criteria: Spec is done
        check: {phase_completed: spec}
    exit_criteria:
      - criteria: Two stories
        check: {glob_count: "docs/stories/*.md", expected: ">=2"}
"#;

const TEMPLATE: &str = "# {{ project_name }} spec\n\n[Describe the problem]\n";

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.write("wf/phases/01-spec/artifacts/spec/template.md", TEMPLATE);
    repo.write(
        "wf/phases/01-spec/artifacts/spec/meta.yml",
        "name: Spec\noutput:\n  location: docs/spec.md\n",
    );
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        "g-1",
    ]);
    repo
}

fn check_json(repo: &TestRepo, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["gate", "check", "--json"];
    all.extend_from_slice(args);
    let out = repo.ddx(&all);
    let json = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), json)
}

fn criterion<'a>(phase: &'a Value, text: &str) -> &'a Value {
    phase["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["criteria"] == text)
        .unwrap_or_else(|| panic!("no criterion {text}: {phase}"))
}

fn trailer(repo: &TestRepo, rev: &str, key: &str) -> String {
    repo.git(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly,separator=%x7C)"),
        rev,
    ])
    .trim()
    .to_owned()
}

#[test]
fn gate_check_lists_every_criterion_with_its_evidence_and_exits_3() {
    let repo = setup();
    repo.write(
        "docs/spec.md",
        "# shop spec\nREQ-1 first\nREQ-1 again\n[NEEDS CLARIFICATION: who pays?]\n",
    );
    let (code, json) = check_json(&repo, &[]);
    assert_eq!(code, Some(3), "{json}");
    assert_eq!(json["instance"], "g-1");
    assert_eq!(json["satisfied"], false);
    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1);
    let spec = &phases[0];
    assert_eq!(spec["id"], "spec");
    assert_eq!(spec["gate"], "exit");
    let statuses: Vec<(&str, &str)> = spec["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["criteria"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("Spec exists", "pass"),
            ("No open questions", "fail"),
            ("Requirement ids are unique", "fail"),
            ("Spec is committed", "fail"),
            ("Project is named", "pass"),
            ("Checks pass", "fail"),
            ("Reviewed by a peer", "needs_approval"),
            ("Glossary written", "fail"),
        ]
    );
    let open = criterion(spec, "No open questions");
    assert_eq!(
        open["evidence"],
        serde_json::json!([{"path": "docs/spec.md", "line": 4, "text": "[NEEDS CLARIFICATION: who pays?]"}])
    );
    assert_eq!(
        open["detail"],
        "1 match of \\[NEEDS CLARIFICATION in docs/ (expected 0)"
    );
    let ids = criterion(spec, "Requirement ids are unique");
    assert_eq!(ids["detail"], "duplicate ids in docs/spec.md: REQ-1 (2x)");
    let lines: Vec<u64> = ids["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3]);
    assert_eq!(
        criterion(spec, "Spec is committed")["detail"],
        "docs/spec.md is not in HEAD"
    );
    // A path given on the command line is trusted: the command ran, and failed.
    assert_eq!(
        criterion(spec, "Checks pass")["detail"],
        "`test -f ok.txt && echo all good` exited with 1 (run as trusted: a path given on the command line (./wf))"
    );
    assert_eq!(criterion(spec, "Glossary written")["required"], false);
    assert_eq!(criterion(spec, "Reviewed by a peer")["kind"], "human");

    // The text form says the same, on stdout, and exits 3 too.
    let out = repo.ddx(&["gate", "check"]);
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert!(
        text.starts_with("spec (in_progress), exit criteria: not satisfied\n"),
        "{text}"
    );
    assert!(
        text.contains("docs/spec.md:4: [NEEDS CLARIFICATION: who pays?]"),
        "{text}"
    );
    assert!(stderr(&out).contains(
        "gate not satisfied: 5 required criteria do not pass; fix the failing checks above (what each found is under it); ask a reviewer to approve a human one with `ddx gate approve spec 7`"
    ));

    // Fix everything: the gate passes (the optional glossary may still fail), exit 0.
    repo.write("docs/spec.md", "# shop spec\nREQ-1 first\nREQ-2 second\n");
    repo.write("ok.txt", "ok\n");
    repo.commit_all("spec");
    repo.ddx_ok(&["gate", "approve", "spec", "Reviewed by a peer"]);
    let (code, json) = check_json(&repo, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["satisfied"], true);
    let checks = criterion(&json["phases"][0], "Checks pass");
    assert_eq!(checks["status"], "pass");
    assert_eq!(checks["evidence"][0]["text"], "all good");
    let approved = criterion(&json["phases"][0], "Reviewed by a peer");
    assert_eq!(approved["result"], "approved");
    assert_eq!(approved["approval"]["by"], "Test User <test@example.com>");

    // next completes spec with the same evaluation, and build's input gate now passes.
    assert_eq!(
        repo.ddx_ok(&["workflow", "next"]),
        "spec: in_progress -> completed\nbuild: pending -> ready\nbuild: ready -> in_progress\n"
    );
    let (code, json) = check_json(&repo, &[]);
    assert_eq!(code, Some(3));
    assert_eq!(json["phases"][0]["id"], "build");
    assert_eq!(
        criterion(&json["phases"][0], "Two stories")["detail"],
        "0 files match docs/stories/*.md (expected >=2); add files named *.md in docs/stories/"
    );
}

#[test]
fn complete_refuses_until_forced_and_force_is_recorded_as_a_deviation() {
    let repo = setup();
    let r = "refs/ddx/instances/g-1";
    let before = repo.git(&["rev-parse", r]);
    let out = repo.ddx(&["phase", "complete", "spec"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("the exit gate of phase spec is not satisfied: \"Spec is committed\" (failed), \"Checks pass\" (failed), \"Reviewed by a peer\" (needs_approval)"),
        "{err}"
    );
    assert!(err.contains("hint: approve with `ddx gate approve spec \"Reviewed by a peer\"`, or complete anyway with --force (recorded as a deviation)"), "{err}");
    assert_eq!(
        repo.git(&["rev-parse", r]),
        before,
        "a refusal writes nothing"
    );

    repo.ddx_ok(&[
        "phase",
        "complete",
        "spec",
        "--force",
        "--reason",
        "demo tomorrow",
    ]);
    assert_eq!(
        trailer(&repo, r, "Ddx-Forced"),
        "Spec is committed|Checks pass|Reviewed by a peer"
    );
    assert_eq!(trailer(&repo, r, "Ddx-Reason"), "demo tomorrow");
    let state: serde_yaml::Value =
        serde_yaml::from_str(&repo.git(&["show", &format!("{r}:state.yml")])).unwrap();
    let spec = &state["phases"][0];
    assert_eq!(spec["status"].as_str(), Some("completed"));
    let forced: Vec<&str> = spec["forced"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        forced,
        ["Spec is committed", "Checks pass", "Reviewed by a peer"]
    );
    let body = repo.git(&["log", "-1", "--format=%b", r]);
    assert!(
        body.contains("spec: forced past \"Checks pass\" (failed)"),
        "{body}"
    );
}

#[test]
fn gate_check_of_one_phase_and_of_an_unknown_one() {
    let repo = setup();
    let (code, json) = check_json(&repo, &["--phase", "build"]);
    assert_eq!(code, Some(3));
    let build = &json["phases"][0];
    assert_eq!(build["id"], "build");
    assert_eq!(build["status"], "pending");
    assert_eq!(build["gate"], "input");
    assert_eq!(
        criterion(build, "Spec is done")["detail"],
        "phase spec is not completed"
    );
    let out = repo.ddx(&["gate", "check", "--phase", "biuld"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("workflow gated has no phase `biuld` (phases: spec, build)"));
    assert!(stderr(&out).contains("hint: did you mean `build`?"));
}

#[test]
fn status_evaluates_the_current_checks_but_runs_no_command() {
    let repo = setup();
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let spec = &st["phases"][0];
    let find = |text: &str| {
        spec["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["criteria"] == text)
            .unwrap()
            .clone()
    };
    assert_eq!(find("Spec exists")["status"], "passed");
    assert_eq!(find("Checks pass")["status"], "not_evaluated");
    // build is not current: its check waits.
    assert_eq!(st["phases"][1]["criteria"][0]["status"], "not_evaluated");
    let next: Vec<&str> = st["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    // The honest steps first; --force last, with what it costs.
    assert_eq!(
        next,
        [
            "fix \"Spec is committed\": docs/spec.md is not in HEAD (commit it: `git add docs/spec.md && git commit`)",
            "ddx gate check spec",
            "ddx gate approve spec \"Reviewed by a peer\"  # ask a reviewer",
            "ddx phase complete spec --force  # last resort: records 2 unmet checks as a deviation"
        ]
    );
}

#[test]
fn status_folds_finished_phases_unless_verbose() {
    let repo = setup();
    repo.commit_all("add the spec");
    repo.write("ok.txt", "ok\n");
    repo.ddx_ok(&["gate", "approve", "spec", "Reviewed by a peer"]);
    repo.ddx_ok(&["workflow", "next"]);
    let text = repo.ddx_ok(&["workflow", "status"]);
    assert!(
        text.contains(
            "spec   completed    Specify  [8 criteria, 6 checks passed, 1 optional check failed, 1 approved; --verbose lists them]"
        ),
        "{text}"
    );
    assert!(!text.contains("Reviewed by a peer"), "{text}");
    let full = repo.ddx_ok(&["workflow", "status", "--verbose"]);
    assert!(full.contains("Reviewed by a peer"), "{full}");
}

#[test]
fn committed_checks_compare_head_with_the_work_tree() {
    let repo = setup();
    let status = |repo: &TestRepo| {
        let (_, json) = check_json(repo, &[]);
        criterion(&json["phases"][0], "Spec is committed")["detail"].clone()
    };
    repo.commit_all("add the spec");
    assert_eq!(status(&repo), "docs/spec.md is committed and unchanged");
    repo.write("docs/spec.md", "# changed\n");
    assert_eq!(
        status(&repo),
        "docs/spec.md has changes that are not committed"
    );
}

#[test]
fn next_runs_each_command_check_once() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: once\nversion: 1.0.0\ndescription: d\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - criteria: counted\n        check: {command: \"echo run >> runs.log\"}\n  - id: b\n    order: 2\n    name: B\n",
    );
    repo.commit_all("wf");
    repo.ddx_ok(&["workflow", "apply", "./wf"]);
    assert_eq!(
        repo.ddx_ok(&["workflow", "next"]),
        "a: in_progress -> completed\nb: pending -> ready\nb: ready -> in_progress\n"
    );
    assert_eq!(repo.read("runs.log"), "run\n");
    let events = repo.git(&["rev-list", "--count", "--glob=refs/ddx/instances/*"]);
    assert_eq!(events.trim(), "2");
}

#[test]
fn a_blocked_next_runs_each_command_check_once_too() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: once\nversion: 1.0.0\ndescription: d\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - criteria: counted\n        check: {command: \"echo run >> runs.log; false\"}\n",
    );
    repo.commit_all("wf");
    repo.ddx_ok(&["workflow", "apply", "./wf"]);
    let out = repo.ddx(&["workflow", "next"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out)
        .contains("nothing can advance: a (in_progress) waits for \"counted\" (failed)"));
    assert_eq!(repo.read("runs.log"), "run\n");
}
