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
        md.contains("| frame | Problem statement clearly documented | Bob \\<bob@example.com\\> | 2026-01-14T12:20:00Z | looks right |"),
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
    // One bar per phase run: frame 1, design 2, ship 1 (besides the background and the
    // legend's seven).
    assert_eq!(html.matches("<rect x=\"").count() - 1 - 7, 4, "{html}");
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

/// Texts that look like Markdown or HTML, evidence a reviewer should not have to wade through.
const ROUGH: &str = r#"name: rough
version: 0.1.0
description: A workflow whose texts look like Markdown
phases:
  - id: frame
    order: 1
    name: Frame <the> **problem**
    exit_criteria:
      - "<unknown> users are **named**"
      - criteria: "- no open questions"
        required: false
        check: {pattern: "\\[NEEDS CLARIFICATION|<unknown>", path: docs/prd.md, expected: 0}
      - criteria: "1. tests pass"
        required: false
        check: {command: "printf 'thread main panicked at src/lib.rs:1\\n   0: std::backtrace\\n   1: core::panicking\\n   2: a\\n   3: b\\n   4: c\\n   5: d\\n   6: e\\n   7: f\\nerror: test failed, exit 101\\n'; exit 101", timeout: 30}
  - id: build
    order: 2
    name: Build
    depends_on: [frame]
    exit_criteria:
      - criteria: Release notes exist
        check: {file_exists: RELEASE.md}
"#;

const PRD: &str =
    "# PRD\n\n- <unknown> users **bold** [NEEDS CLARIFICATION: who]\n1. a numbered line\n";

/// frame completes with two optional checks failing, build is forced through, then the
/// instance is restored to the checkpoint taken while frame was in progress.
fn rough_history() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", ROUGH);
    repo.write("docs/prd.md", PRD);
    repo.commit_all("initial");
    ddx_at(&repo, 0, "Ann", &["workflow", "init", "./wf", "--id", "h1"]);
    ddx_at(&repo, 0, "Ann", &["workflow", "next"]);
    ddx_at(&repo, 5, "Ann", &["checkpoint", "create", "framing"]);
    ddx_at(
        &repo,
        10,
        "Bob",
        &["gate", "approve", "frame", "1", "-m", "**ok** <b>by me</b>"],
    );
    ddx_at(&repo, 20, "Ann", &["phase", "complete", "frame", "--trust"]);
    ddx_at(&repo, 20, "Ann", &["workflow", "next"]);
    ddx_at(
        &repo,
        30,
        "Ann",
        &[
            "phase",
            "complete",
            "build",
            "--force",
            "--reason",
            "ship <now>",
        ],
    );
    ddx_at(&repo, 40, "Ann", &["workflow", "restore", "framing"]);
    repo
}

fn event_of(repo: &TestRepo, grep: &str) -> String {
    repo.git(&[
        "log",
        "--format=%H",
        &format!("--grep={grep}"),
        "refs/ddx/instances/h1",
    ])
    .trim()
    .to_owned()
}

#[test]
fn the_report_marks_optional_criteria_and_shortens_evidence_to_what_a_reviewer_reads() {
    let repo = rough_history();
    let r = report_json(&repo, &[]);
    let i = &r["instances"][0];
    let frame_exit = i["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["phase"] == "frame" && g["gate"] == "exit")
        .unwrap();
    let complete = event_of(&repo, "complete frame");
    assert_eq!(frame_exit["commit"], complete.as_str());
    let pattern = &frame_exit["criteria"][1];
    assert_eq!(pattern["required"], false);
    assert_eq!(pattern["status"], "failed");
    assert_eq!(pattern["summary"], "1 match in docs/prd.md (expected 0)");
    assert_eq!(
        pattern["evidence"],
        serde_json::json!(["docs/prd.md:3: - <unknown> users **bold** [NEEDS CLARIFICATION: who]"])
    );
    let command = &frame_exit["criteria"][2];
    assert_eq!(command["required"], false);
    assert_eq!(command["summary"], "the command exited with 101");
    assert_eq!(
        command["evidence"],
        serde_json::json!(["   6: e", "   7: f", "error: test failed, exit 101"])
    );
    // The full record stays in the event, and the JSON keeps it whole.
    assert!(command["detail"]
        .as_str()
        .unwrap()
        .contains("thread main panicked at src/lib.rs:1"));
    let trailers = repo.git(&["log", "-1", "--format=%B", &complete]);
    assert!(trailers.contains("thread main panicked"), "{trailers}");

    let md = stdout(&repo.ddx(&["audit", "report"]));
    let line = md
        .lines()
        .find(|l| l.contains("tests pass"))
        .expect("the command criterion in the Markdown");
    assert!(line.contains("optional"), "{line}");
    assert!(!line.contains("panicked"), "{line}");
    assert!(
        !md.contains("NEEDS CLARIFICATION|"),
        "the raw regex is shown:\n{md}"
    );
    assert!(
        md.contains(&format!("full record: `git show {}`", &complete[..12])),
        "{md}"
    );
}

#[test]
fn restores_and_forced_completions_are_drawn_as_the_table_lists_them() {
    let repo = rough_history();
    let r = report_json(&repo, &[]);
    let phases = r["instances"][0]["phases"].as_array().unwrap();
    let build = phases.iter().find(|p| p["id"] == "build").unwrap();
    assert_eq!(build["status"], "pending");
    let run = &build["runs"][0];
    assert_eq!(run["outcome"], "completed");
    assert_eq!(run["forced"], true);
    assert_eq!(run["undone"], "2026-01-14T12:40:00Z");
    let frame = phases.iter().find(|p| p["id"] == "frame").unwrap();
    assert_eq!(frame["status"], "in_progress");
    assert_eq!(frame["runs"][0]["undone"], "2026-01-14T12:40:00Z");
    assert_eq!(frame["runs"][1]["outcome"], "in_progress");

    let html = stdout(&repo.ddx(&["audit", "report", "--format", "html"]));
    let bars: Vec<&str> = html
        .split("<rect ")
        .filter(|r| r.contains("<title>build"))
        .collect();
    assert_eq!(bars.len(), 1, "{html}");
    assert!(
        !bars[0].contains("#2da44e"),
        "a green bar for a pending phase: {}",
        bars[0]
    );
    assert!(bars[0].contains("forced"), "{}", bars[0]);
    assert!(bars[0].contains("undone by the restore"), "{}", bars[0]);
    assert!(html.contains("class=\"restore-mark\""), "no restore drawn");
    let md = stdout(&repo.ddx(&["audit", "report"]));
    let row = md.lines().find(|l| l.starts_with("| build")).unwrap();
    assert!(row.contains("pending"), "{row}");
    assert!(row.contains("forced, then undone by a restore"), "{row}");
}

/// The text of rendered Markdown, with every HTML event (raw HTML would disappear in a
/// viewer) and every emphasis reported.
fn render_markdown(md: &str) -> (String, Vec<String>) {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut text = String::new();
    let mut odd = Vec::new();
    let mut lists = 0usize;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::End(end) => {
                text.push('\n');
                if matches!(end, TagEnd::List(_)) {
                    lists = lists.saturating_sub(1);
                }
            }
            Event::Html(h) | Event::InlineHtml(h) => odd.push(format!("html {h}")),
            Event::Start(Tag::Emphasis) => odd.push("emphasis".into()),
            Event::Start(Tag::List(_)) => {
                lists += 1;
                if lists > 1 {
                    odd.push("nested list".into());
                }
            }
            Event::Start(Tag::Strong) => text.push_str("<<strong>>"),
            _ => {}
        }
    }
    (text, odd)
}

#[test]
fn the_markdown_report_renders_workflow_text_literally() {
    let repo = rough_history();
    let md = stdout(&repo.ddx(&["audit", "report"]));
    let (text, odd) = render_markdown(&md);
    assert_eq!(odd, Vec::<String>::new(), "{md}");
    for literal in [
        "Frame <the> **problem**",
        "<unknown> users are **named**",
        "- no open questions",
        "1. tests pass",
        "**ok** <b>by me</b>",
        "docs/prd.md:3: - <unknown> users **bold** [NEEDS CLARIFICATION: who]",
        "ship <now>",
    ] {
        assert!(
            text.contains(literal),
            "{literal:?} is not in the rendered text:\n{text}"
        );
    }
}

#[test]
fn the_html_report_parses_in_headless_chromium() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!(
            "skipped: /usr/bin/chromium is absent (apt-get install chromium to run this test)"
        );
        return;
    }
    let repo = rough_history();
    let file = repo.path("report.html");
    repo.ddx_ok(&[
        "audit",
        "report",
        "--format",
        "html",
        "-o",
        file.to_str().unwrap(),
    ]);
    let profile = repo.path("chromium-profile");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "{}", stderr(&out));
    let dom = stdout(&out);
    // The browser parsed workflow text as text: no element named by it.
    assert!(!dom.contains("<unknown>"), "{dom}");
    assert!(!dom.contains("<the>"), "{dom}");
    assert!(dom.contains("&lt;unknown&gt; users are **named**"), "{dom}");
    assert!(dom.contains("<svg"), "{dom}");
    assert!(dom.contains("<title>build: completed, forced"), "{dom}");
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("</html>"), "{dom}");
}

#[test]
fn applied_artifacts_and_the_approvals_apply_gives_are_in_the_report() {
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
        "shop",
    ]);
    let init = repo
        .git(&["rev-parse", "refs/ddx/instances/shop"])
        .trim()
        .to_owned();
    let r = report_json(&repo, &[]);
    let i = &r["instances"][0];
    let prd = "docs/helix/01-frame/prd.md";
    let blob = repo.git(&["hash-object", prd]).trim().to_owned();
    let artifact = i["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == prd)
        .expect("the PRD among the artifacts");
    assert_eq!(artifact["after"], blob.as_str());
    assert_eq!(artifact["commit"], init.as_str());
    let approvals = i["approvals"].as_array().unwrap();
    assert!(!approvals.is_empty(), "{i}");
    for a in approvals {
        assert_eq!(a["commit"], init.as_str(), "{a}");
        assert_eq!(a["by"], "Test User <test@example.com>", "{a}");
    }
    let input = i["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["phase"] == "frame" && g["gate"] == "input")
        .expect("frame's input gate");
    assert_eq!(input["criteria"].as_array().unwrap().len(), approvals.len());
    assert!(input["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "approved"));
    let md = repo.ddx_ok(&["audit", "report"]);
    assert!(
        md.contains(&format!("| frame | `{prd}` | (new) | `{blob}` |")),
        "{md}"
    );
    assert!(!md.contains("None recorded."), "{md}");
}
