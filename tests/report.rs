//! `ddx audit report` and `ddx audit export` on real histories, checked against `git`.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;

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
  - id: design
    order: 2
    name: Design
    depends_on: [frame]
    exit_criteria:
      - Architecture documented
  - id: ship
    order: 3
    name: Ship
    depends_on: [design]
    exit_criteria:
      - criteria: Release notes exist
        check: {file_exists: RELEASE.md}
"#;

/// 2026-01-14T12:00:00Z.
const T0: i64 = 1_768_392_000;

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.commit_all("initial");
    repo
}

fn ddx_at(repo: &TestRepo, minutes: i64, who: &str, args: &[&str]) {
    let date = format!("@{} +0000", T0 + minutes * 60);
    let out = repo
        .command(env!("CARGO_BIN_EXE_ddx"))
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_NAME", who)
        .env(
            "GIT_COMMITTER_EMAIL",
            format!("{}@example.com", who.to_lowercase()),
        )
        .args(args)
        .output()
        .expect("run ddx");
    assert!(
        out.status.success(),
        "ddx {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// Ann frames (30 minutes), Bob approves; design fails, is reopened and completed; ship is
/// forced through at 2h 05m; then Carol skips nothing but reopens nothing: the history is fixed.
fn history(repo: &TestRepo) {
    ddx_at(
        repo,
        0,
        "Ann",
        &[
            "workflow",
            "init",
            "./wf",
            "--var",
            "project_name=shop",
            "--id",
            "r1",
        ],
    );
    ddx_at(repo, 0, "Ann", &["workflow", "next"]);
    ddx_at(
        repo,
        20,
        "Bob",
        &["gate", "approve", "frame", "1", "-m", "looks right"],
    );
    ddx_at(repo, 25, "Bob", &["gate", "approve", "frame", "2"]);
    ddx_at(repo, 30, "Ann", &["workflow", "next"]);
    ddx_at(
        repo,
        40,
        "Ann",
        &["phase", "fail", "design", "--reason", "wrong approach"],
    );
    ddx_at(repo, 50, "Ann", &["phase", "reopen", "design"]);
    ddx_at(repo, 90, "Bob", &["gate", "approve", "design", "1"]);
    ddx_at(repo, 95, "Ann", &["workflow", "next"]);
    ddx_at(
        repo,
        125,
        "Ann",
        &[
            "phase",
            "complete",
            "ship",
            "--force",
            "--reason",
            "release today",
        ],
    );
}

fn report_json(repo: &TestRepo, args: &[&str]) -> Value {
    let mut all = vec!["audit", "report", "--format", "json"];
    all.extend_from_slice(args);
    repo.ddx_json(&all)
}

#[test]
fn the_json_report_has_phase_times_approvals_evidence_and_deviations() {
    let repo = setup();
    history(&repo);
    let r = report_json(&repo, &[]);
    assert_eq!(r["verification"]["ok"], true, "{:#}", r["verification"]);
    assert_eq!(
        r["audit_head"],
        repo.git(&["rev-parse", "refs/ddx/audit"]).trim()
    );
    let i = &r["instances"][0];
    assert_eq!(i["id"], "r1");
    assert_eq!(i["status"], "completed");
    assert_eq!(i["events"], 10);
    assert_eq!(
        i["tip"],
        repo.git(&["rev-parse", "refs/ddx/instances/r1"]).trim()
    );
    let phase = |id: &str| {
        i["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
            .clone()
    };
    let frame = phase("frame");
    assert_eq!(frame["start"], "2026-01-14T12:00:00Z");
    assert_eq!(frame["end"], "2026-01-14T12:30:00Z");
    assert_eq!(frame["duration_seconds"], 1800);
    assert_eq!(frame["duration"], "30m 00s");
    assert_eq!(frame["runs"][0]["started_by"], "Ann <ann@example.com>");
    // design: failed after 10 minutes, reopened, completed 45 minutes later: two runs.
    let design = phase("design");
    assert_eq!(design["runs"].as_array().unwrap().len(), 2);
    assert_eq!(design["runs"][0]["outcome"], "failed");
    assert_eq!(design["runs"][0]["duration_seconds"], 600);
    assert_eq!(design["runs"][1]["outcome"], "completed");
    assert_eq!(design["runs"][1]["start"], "2026-01-14T12:50:00Z");
    assert_eq!(design["duration_seconds"], 600 + 2700);
    let ship = phase("ship");
    assert_eq!(ship["duration"], "30m 00s");

    let approvals = i["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 3);
    assert_eq!(
        approvals[0]["criterion"],
        "Problem statement clearly documented"
    );
    assert_eq!(approvals[0]["by"], "Bob <bob@example.com>");
    assert_eq!(approvals[0]["at"], "2026-01-14T12:20:00Z");
    assert_eq!(approvals[0]["comment"], "looks right");
    let approve_commit = repo
        .git(&[
            "log",
            "--format=%H",
            "--grep=approve frame: Problem",
            "refs/ddx/instances/r1",
        ])
        .trim()
        .to_owned();
    assert_eq!(approvals[0]["commit"], approve_commit.as_str());

    let evidence = i["evidence"].as_array().unwrap();
    let frame_exit = evidence
        .iter()
        .find(|g| g["phase"] == "frame" && g["gate"] == "exit")
        .unwrap();
    assert_eq!(frame_exit["at"], "2026-01-14T12:30:00Z");
    assert_eq!(frame_exit["criteria"][1]["status"], "approved");
    assert_eq!(
        frame_exit["criteria"][1]["detail"],
        "by Bob <bob@example.com> at 2026-01-14T12:25:00Z"
    );
    let ship_exit = evidence
        .iter()
        .find(|g| g["phase"] == "ship" && g["gate"] == "exit")
        .unwrap();
    assert_eq!(ship_exit["criteria"][0]["kind"], "file_exists");
    assert_eq!(ship_exit["criteria"][0]["status"], "failed");
    assert_eq!(ship_exit["criteria"][0]["forced"], true);

    let kinds: Vec<&str> = i["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["failed", "forced"]);
    let forced = &i["deviations"][1];
    assert_eq!(forced["phase"], "ship");
    assert_eq!(
        forced["detail"],
        "complete ship: passed over \"Release notes exist\" with --force (reason: release today)"
    );
    assert_eq!(forced["by"], "Ann <ann@example.com>");
}

#[test]
fn failed_verifications_and_bypasses_show_as_deviations() {
    let repo = setup();
    history(&repo);
    // A bypass recorded by an operation that touches no instance (as hooks will), and a
    // commit made with plain git on the instance.
    let store = ddx::store::Repo::discover(&repo.root).unwrap();
    let identity = store.identity().unwrap();
    ddx::store::audit::record_operation(
        &store,
        &identity,
        &ddx::store::audit::AuditRecord {
            operation: "bypass".into(),
            summary: "commit abc1234 skipped the pre-commit hook".into(),
            args: [("deviation".to_owned(), "--no-verify".to_owned())].into(),
        },
        false,
    )
    .unwrap();
    let tip = repo
        .git(&["rev-parse", "refs/ddx/instances/r1"])
        .trim()
        .to_owned();
    let plain = repo
        .git(&[
            "commit-tree",
            &format!("{tip}^{{tree}}"),
            "-p",
            &tip,
            "-m",
            "edit",
        ])
        .trim()
        .to_owned();
    repo.git(&["update-ref", "refs/ddx/instances/r1", &plain]);
    let r = report_json(&repo, &[]);
    assert_eq!(r["verification"]["ok"], false);
    let deviations = r["instances"][0]["deviations"].as_array().unwrap();
    let verification: Vec<&Value> = deviations
        .iter()
        .filter(|d| d["kind"] == "verification")
        .collect();
    assert!(
        verification.iter().any(|d| d["commit"] == plain.as_str()
            && d["detail"].as_str().unwrap().contains("made outside ddx")),
        "{deviations:#?}"
    );
    let ops = r["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["operation"], "bypass");
    let md = String::from_utf8(
        repo.command(env!("CARGO_BIN_EXE_ddx"))
            .args(["audit", "report"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(md.contains("**Verification: BROKEN**"), "{md}");
    assert!(md.contains("## Repository operations"), "{md}");
    assert!(
        md.contains("commit abc1234 skipped the pre-commit hook"),
        "{md}"
    );
}

#[test]
fn markdown_and_html_reports_are_complete_and_self_contained() {
    let repo = setup();
    history(&repo);
    let md = repo.ddx_ok(&["audit", "report", "-i", "r"]);
    assert!(md.starts_with("# Compliance report: repo\n"), "{md}");
    assert!(md.contains("**Verification: intact.**"), "{md}");
    assert!(
        md.contains("| frame (Frame the problem) | completed | 2026-01-14T12:00:00Z | 2026-01-14T12:30:00Z | 30m 00s | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("| frame | Problem statement clearly documented | Bob <bob@example.com> | 2026-01-14T12:20:00Z | looks right |"),
        "{md}"
    );
    assert!(
        md.contains("| failed | design | fail design (reason: wrong approach)"),
        "{md}"
    );

    let file = repo.home.join("report.html");
    let out = repo.ddx(&[
        "audit",
        "report",
        "--format",
        "html",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("<style>"));
    assert!(html.contains("<svg "));
    // One bar per phase run: frame 1, design 2, ship 1.
    assert_eq!(html.matches("<rect x=\"").count() - 1 - 5, 4, "{html}");
    assert!(html.contains(
        "<title>design: failed from 2026-01-14T12:30:00Z to 2026-01-14T12:40:00Z (10m 00s)</title>"
    ));
    // Nothing is fetched: no scripts, no external styles, images or fonts.
    for banned in [
        "<script",
        "<link",
        "src=",
        "url(",
        "@import",
        "https://",
        "http://cdn",
    ] {
        assert!(!html.contains(banned), "the report contains `{banned}`");
    }
    let network_refs = html.matches("http").count();
    assert_eq!(
        network_refs,
        html.matches("http://www.w3.org/2000/svg").count(),
        "the only URL is the SVG namespace"
    );
    let out = repo.ddx(&["audit", "report", "-i", "zz"]);
    assert_eq!(out.status.code(), Some(5));
}

fn export(repo: &TestRepo, format: &str, extra: &[&str]) -> (String, Value, std::path::PathBuf) {
    let file = repo.home.join(format!("audit.{format}"));
    let mut args = vec![
        "audit",
        "export",
        "--format",
        format,
        "-o",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = repo.ddx(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let manifest_path = std::path::PathBuf::from(format!("{}.manifest.json", file.display()));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    (text, manifest, file)
}

#[test]
fn exports_carry_a_manifest_that_git_confirms() {
    let repo = setup();
    history(&repo);
    let entries = repo
        .git(&["rev-list", "--count", "refs/ddx/audit"])
        .trim()
        .parse::<u64>()
        .unwrap();
    let (jsonl, manifest, file) = export(&repo, "jsonl", &[]);
    let records: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as u64, entries);
    assert_eq!(manifest["entries"], entries);
    assert_eq!(manifest["format"], "jsonl");
    assert_eq!(manifest["first_time"], "2026-01-14T12:00:00Z");
    assert_eq!(manifest["last_time"], "2026-01-14T14:05:00Z");
    assert_eq!(
        manifest["head"],
        repo.git(&["rev-parse", "refs/ddx/audit"]).trim()
    );
    assert_eq!(
        manifest["blob"],
        repo.git(&["hash-object", file.to_str().unwrap()]).trim()
    );
    assert!(manifest["verify"][0]
        .as_str()
        .unwrap()
        .starts_with("git hash-object audit.jsonl"));
    // Oldest first; each names its commit, which git knows as an audit commit.
    assert_eq!(records[0]["operation"], "init");
    assert_eq!(records[0]["severity_number"], 9);
    let last = records.last().unwrap();
    assert_eq!(
        last["id"],
        repo.git(&["rev-parse", "refs/ddx/audit"]).trim()
    );
    assert_eq!(last["level"], "warn", "a forced completion is a deviation");
    assert_eq!(last["severity_number"], 13);
    assert_eq!(last["args"]["forced"], "Release notes exist");
    let fail = records.iter().find(|r| r["operation"] == "fail").unwrap();
    assert_eq!(fail["level"], "error");
    assert_eq!(fail["severity_number"], 17);

    let (csv, manifest, _) = export(
        &repo,
        "csv",
        &["--instance", "r1", "--since", "2026-01-14T13:00:00Z"],
    );
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "source,time,level,severity_number,operation,instance,actor,summary,id,instance_commit,project_commit,args"
    );
    assert_eq!(rows.len(), 4, "{csv}");
    assert_eq!(manifest["entries"], 3);
    assert_eq!(manifest["filter"]["instance"], "r1");
    assert!(
        rows[1].starts_with("audit,2026-01-14T13:30:00Z,info,9,approve,r1,Bob <bob@example.com>,"),
        "{csv}"
    );

    let (otel, manifest, _) = export(&repo, "otel", &["--log"]);
    let doc: Value = serde_json::from_str(otel.trim()).unwrap();
    let scopes = doc["resourceLogs"][0]["scopeLogs"].as_array().unwrap();
    assert_eq!(scopes[0]["scope"]["name"], "ddx.audit");
    let audit_records = scopes[0]["logRecords"].as_array().unwrap();
    assert_eq!(audit_records.len() as u64, entries);
    assert_eq!(audit_records[0]["timeUnixNano"], format!("{}000000000", T0));
    assert_eq!(audit_records[0]["severityText"], "INFO");
    let log_records = scopes[1]["logRecords"].as_array().unwrap();
    assert_eq!(
        log_records.len() as u64,
        manifest["log_lines"].as_u64().unwrap()
    );
    assert!(!log_records.is_empty());
    for r in log_records.iter().chain(audit_records) {
        let n = r["severityNumber"].as_u64().unwrap();
        let expected = match r["severityText"].as_str().unwrap() {
            "TRACE" => 1,
            "DEBUG" => 5,
            "INFO" => 9,
            "WARN" => 13,
            "ERROR" => 17,
            other => panic!("unknown severity {other}"),
        };
        assert_eq!(n, expected);
    }
    assert!(log_records.iter().any(|r| r["severityNumber"] == 13));

    let (events, _, _) = export(&repo, "cloudevents", &[]);
    let first: Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["type"], "dev.ddx.audit.init");
    assert_eq!(first["subject"], "r1");
    assert_eq!(first["source"], "ddx://repo/refs/ddx/audit");
    assert_eq!(first["time"], "2026-01-14T12:00:00Z");
    assert_eq!(events.lines().count() as u64, entries);

    // To stdout, the manifest goes to stderr.
    let out = repo.ddx(&["audit", "export", "--format", "jsonl"]);
    assert_eq!(stdout(&out), jsonl);
    let m: Value = serde_json::from_str(&stderr(&out)).unwrap();
    assert_eq!(m["entries"], entries);
}
