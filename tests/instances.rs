//! Workflow instances end to end: the real binary in temporary repositories, every result
//! checked with the real `git`.

mod common;

use common::{stderr, stdout, TestRepo, MINI_WORKFLOW};
use std::collections::BTreeMap;
use std::path::Path;

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", MINI_WORKFLOW);
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo
}

fn init(repo: &TestRepo, extra: &[&str]) -> String {
    let mut args = vec!["workflow", "init", "./wf", "--var", "project_name=shop"];
    args.extend_from_slice(extra);
    repo.ddx_ok(&args).trim().to_owned()
}

fn tip(repo: &TestRepo, id: &str) -> String {
    repo.git(&["rev-parse", &format!("refs/ddx/instances/{id}")])
        .trim()
        .to_owned()
}

fn trailer(repo: &TestRepo, rev: &str, key: &str) -> String {
    repo.git(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly,separator=%x2C)"),
        rev,
    ])
    .trim()
    .to_owned()
}

fn state_yaml(repo: &TestRepo, rev: &str) -> serde_yaml::Value {
    let text = repo.git(&["show", &format!("{rev}:state.yml")]);
    serde_yaml::from_str(&text).expect("state.yml is YAML")
}

fn phase_status(state: &serde_yaml::Value, phase: &str) -> String {
    state["phases"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_str() == Some(phase))
        .unwrap_or_else(|| panic!("no phase {phase}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_fsck_clean(repo: &TestRepo) {
    let out = repo
        .command("git")
        .args(["fsck", "--strict", "--no-progress"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "git fsck failed: {err}");
    for bad in ["error", "missing", "broken", "corrupt", "bad "] {
        assert!(
            !err.contains(bad) && !stdout(&out).contains(bad),
            "git fsck: {err}"
        );
    }
}

/// Every file under `.git` with its content, and every file of the work tree.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn init_writes_an_event_commit_that_plain_git_reads() {
    let repo = setup();
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let id = init(&repo, &[]);
    let re = regex::Regex::new(r"^mini-20260114-123456-[0-9a-f]{4}$").unwrap();
    assert!(re.is_match(&id), "{id}");
    let r = format!("refs/ddx/instances/{id}");

    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", &r]).trim(),
        format!("ddx({id}): init mini 0.1.0")
    );
    assert_eq!(trailer(&repo, &r, "Ddx-Event"), "init");
    assert_eq!(trailer(&repo, &r, "Ddx-Instance"), id);
    assert_eq!(
        trailer(&repo, &r, "Ddx-Actor"),
        "Test User <test@example.com>"
    );
    assert_eq!(trailer(&repo, &r, "Ddx-Project-Commit"), head);
    assert_eq!(trailer(&repo, &r, "Ddx-Format"), "1");
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", &r])
            .trim(),
        "Test User <test@example.com>|Test User <test@example.com>"
    );
    // No parent: the first event.
    assert_eq!(repo.git(&["rev-list", "--count", &r]).trim(), "1");
    // The tree: state.yml and the pinned workflow.
    let tree = repo.git(&["ls-tree", "--name-only", &r]);
    assert_eq!(tree, "state.yml\nworkflow\n");
    assert_eq!(
        repo.git(&["show", &format!("{r}:workflow/workflow.yml")]),
        MINI_WORKFLOW
    );
    let state = state_yaml(&repo, &r);
    assert_eq!(state["format"].as_u64(), Some(1));
    assert_eq!(state["instance"].as_str(), Some(id.as_str()));
    assert_eq!(state["status"].as_str(), Some("pending"));
    assert_eq!(state["variables"]["project_name"].as_str(), Some("shop"));
    assert_eq!(state["variables"]["has_ui"].as_str(), Some("no"));
    assert_eq!(phase_status(&state, "frame"), "ready");
    assert_eq!(phase_status(&state, "design"), "pending");

    // The audit chain names the instance commit, in the same ref transaction.
    assert_eq!(
        trailer(&repo, "refs/ddx/audit", "Ddx-Instance-Commit"),
        tip(&repo, &id)
    );
    assert_eq!(trailer(&repo, "refs/ddx/audit", "Ddx-Operation"), "init");
    assert_eq!(
        trailer(&repo, "refs/ddx/audit", "Ddx-Workflow"),
        "mini 0.1.0"
    );
    // The audit commit's tree is one entry.yml that says the same as the trailers.
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", "refs/ddx/audit"])
            .trim(),
        "entry.yml"
    );
    let entry: serde_yaml::Value =
        serde_yaml::from_str(&repo.git(&["show", "refs/ddx/audit:entry.yml"])).unwrap();
    assert_eq!(entry["operation"].as_str(), Some("init"));
    assert_eq!(entry["instance"].as_str(), Some(id.as_str()));
    assert_eq!(
        entry["instance_commit"].as_str(),
        Some(tip(&repo, &id).trim())
    );
    // Reflogs exist for both refs.
    assert_eq!(repo.git(&["reflog", "show", &r]).lines().count(), 1);
    assert_eq!(
        repo.git(&["reflog", "show", "refs/ddx/audit"])
            .lines()
            .count(),
        1
    );
    // ddx remembers what it wrote.
    let heads = std::fs::read_to_string(repo.path(".git/ddx/heads")).unwrap();
    assert!(
        heads.contains(&format!("  {r}: {}\n", tip(&repo, &id))),
        "{heads}"
    );
    assert_fsck_clean(&repo);
}

#[test]
fn a_full_journey_reads_as_history_in_git_log() {
    let repo = setup();
    let id = init(&repo, &["--id", "shop-1"]);
    assert_eq!(id, "shop-1");
    let r = "refs/ddx/instances/shop-1";

    assert_eq!(
        repo.ddx_ok(&["workflow", "next"]),
        "frame: ready -> in_progress\ninstance: pending -> running\n"
    );
    // Exit criteria need approval: next is blocked (gate not satisfied, exit 3).
    let out = repo.ddx(&["workflow", "next"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "nothing can advance: frame (in_progress) waits for \"Problem statement clearly documented\" (needs_approval), \"Success metrics defined\" (needs_approval)"
    ));
    let out = repo.ddx(&["phase", "complete", "frame"]);
    assert_eq!(out.status.code(), Some(3));

    repo.ddx_ok(&[
        "gate",
        "approve",
        "frame",
        "Problem statement clearly documented",
    ]);
    // By number, by unique part.
    repo.ddx_ok(&[
        "gate",
        "approve",
        "frame",
        "metrics",
        "-m",
        "checked with Ann",
    ]);
    let out = repo.ddx(&["workflow", "next"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "frame: in_progress -> completed\ndesign: pending -> ready\nui: pending -> skipped (`when: has_ui == 'yes'` is false)\n"
    );
    // design has a human input gate: it is not started until approved.
    let out = repo.ddx(&["phase", "start", "design"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("the input gate of phase design is not satisfied"));
    repo.ddx_ok(&["gate", "approve", "design", "Budget approved"]);
    repo.ddx_ok(&["phase", "start", "design", "--reason", "kick-off"]);
    repo.ddx_ok(&["gate", "approve", "design", "2"]);
    repo.ddx_ok(&["workflow", "next"]);
    // ship's machine check fails (no RELEASE.md): forced, recorded as a deviation.
    let out = repo.ddx(&["phase", "complete", "ship"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("\"Release notes exist\" (failed)"));
    repo.ddx_ok(&[
        "phase",
        "complete",
        "ship",
        "--force",
        "--reason",
        "release by hand",
    ]);

    let subjects = repo.git(&["log", "--reverse", "--format=%s", r]);
    assert_eq!(
        subjects,
        "ddx(shop-1): init mini 0.1.0\n\
         ddx(shop-1): start frame\n\
         ddx(shop-1): approve frame: Problem statement clearly documented\n\
         ddx(shop-1): approve frame: Success metrics defined\n\
         ddx(shop-1): complete frame\n\
         ddx(shop-1): approve design: Budget approved\n\
         ddx(shop-1): start design\n\
         ddx(shop-1): approve design: Architecture documented\n\
         ddx(shop-1): design -> ship\n\
         ddx(shop-1): complete ship\n"
    );
    assert_eq!(trailer(&repo, r, "Ddx-Forced"), "Release notes exist");
    assert_eq!(trailer(&repo, r, "Ddx-Reason"), "release by hand");
    assert_eq!(
        trailer(&repo, &format!("{r}~1"), "Ddx-Phase"),
        "design,ship"
    );
    assert_eq!(trailer(&repo, &format!("{r}~3"), "Ddx-Reason"), "kick-off");
    assert_eq!(
        trailer(&repo, &format!("{r}~6"), "Ddx-Comment"),
        "checked with Ann"
    );

    let state = state_yaml(&repo, r);
    assert_eq!(state["status"].as_str(), Some("completed"));
    assert_eq!(phase_status(&state, "ui"), "skipped");
    assert_eq!(state["metrics"]["events"].as_u64(), Some(10));
    assert_eq!(state["metrics"]["approvals"].as_u64(), Some(4));

    // Every instance commit has exactly one audit entry naming it, in order, and each names
    // the audit head before it.
    let events: Vec<String> = repo
        .git(&["rev-list", "--reverse", r])
        .lines()
        .map(str::to_owned)
        .collect();
    let audits: Vec<String> = repo
        .git(&["rev-list", "--reverse", "refs/ddx/audit"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(events.len(), audits.len());
    for (i, (ev, au)) in events.iter().zip(&audits).enumerate() {
        assert_eq!(&trailer(&repo, au, "Ddx-Instance-Commit"), ev);
        let parent = trailer(&repo, ev, "Ddx-Audit-Parent");
        if i == 0 {
            assert_eq!(parent, "");
        } else {
            assert_eq!(&parent, &audits[i - 1]);
        }
    }
    assert_fsck_clean(&repo);

    // gc loses nothing.
    repo.git(&["gc", "--prune=now", "--quiet"]);
    assert_fsck_clean(&repo);
    assert_eq!(repo.git(&["rev-list", "--count", r]).trim(), "10");
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(st["status"], "completed");
    assert_eq!(st["progress"], 100);
}

#[test]
fn status_json_has_the_documented_shape() {
    let repo = setup();
    let id = init(&repo, &["--var", "has_ui=yes"]);
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["workflow"], "mini");
    assert_eq!(st["version"], "0.1.0");
    assert_eq!(st["status"], "running");
    assert_eq!(st["progress"], 0);
    let phases = st["phases"].as_array().unwrap();
    let ids: Vec<&str> = phases.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["frame", "design", "ui", "ship"]);
    assert_eq!(phases[0]["status"], "in_progress");
    let c = &phases[0]["criteria"];
    assert_eq!(c[0]["criteria"], "Problem statement clearly documented");
    assert_eq!(c[0]["status"], "approved");
    assert_eq!(c[0]["approval"]["by"], "Test User <test@example.com>");
    assert_eq!(c[0]["approval"]["at"], "2026-01-14T12:34:56Z");
    assert_eq!(c[1]["status"], "needs_approval");
    assert_eq!(phases[3]["criteria"][0]["status"], "not_evaluated");
    assert_eq!(phases[3]["criteria"][0]["kind"], "file_exists");
    assert_eq!(
        st["next"][0],
        "ddx gate approve frame \"Success metrics defined\"  # ask a reviewer"
    );
    // By positional id and by prefix; --all lists every instance.
    let by_prefix = repo.ddx_json(&["workflow", "status", "mini-", "--json"]);
    assert_eq!(by_prefix["id"], id.as_str());
    let all = repo.ddx_json(&["workflow", "status", "--all", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn parallel_phases_are_in_progress_at_once() {
    let repo = setup();
    init(&repo, &["--var", "has_ui=yes"]);
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    repo.ddx_ok(&["gate", "approve", "frame", "2"]);
    repo.ddx_ok(&["gate", "approve", "design", "Budget approved"]);
    assert_eq!(
        repo.ddx_ok(&["workflow", "next"]),
        "frame: in_progress -> completed\ndesign: pending -> ready\nui: pending -> ready\n\
         design: ready -> in_progress\nui: ready -> in_progress\n"
    );
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let active: Vec<&str> = st["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "in_progress")
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["design", "ui"]);
    // ship waits for both.
    let out = repo.ddx(&["phase", "start", "ship"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out)
            .contains("phase ship is pending, so it cannot be started: it waits for design, ui"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn approving_twice_changes_nothing_and_says_so() {
    let repo = setup();
    let id = init(&repo, &[]);
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let before = (tip(&repo, &id), repo.git(&["rev-parse", "refs/ddx/audit"]));
    let out = repo.ddx(&[
        "gate",
        "approve",
        "frame",
        "Problem statement clearly documented",
    ]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "Nothing changed: \"Problem statement clearly documented\" of phase frame was already approved by Test User <test@example.com> at 2026-01-14T12:34:56Z.\n"
    );
    let after = (tip(&repo, &id), repo.git(&["rev-parse", "refs/ddx/audit"]));
    assert_eq!(before, after);
}

#[test]
fn errors_name_what_is_wrong_and_what_to_do() {
    let repo = setup();
    // No instance yet.
    let out = repo.ddx(&["workflow", "status"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("there is no workflow instance in this repository"));
    assert!(stderr(&out).contains("`ddx workflow init <workflow>` starts one"));
    // Required variable missing, not on a terminal.
    let out = repo.ddx(&["workflow", "init", "./wf"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: missing required variable: project_name (What is your project name?)\n\
         hint: pass --var project_name=... (or run on a terminal to be asked)\n"
    );
    assert!(repo.git(&["for-each-ref", "refs/ddx"]).is_empty());

    let id = init(&repo, &[]);
    let out = repo.ddx(&["phase", "start", "desing"]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        "error: workflow mini has no phase `desing` (phases: frame, design, ui, ship)\nhint: did you mean `design`?\n"
    );
    let out = repo.ddx(&["gate", "approve", "frame", "nonsense"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("phase frame has no criterion matching \"nonsense\""));
    let out = repo.ddx(&["gate", "approve", "frame", "d"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("matches 2 criteria of phase frame"));
    let out = repo.ddx(&["gate", "approve", "ship", "Release notes exist"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("is machine-checked (file_exists)"));
    // The same id twice.
    let out = repo.ddx(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=x",
        "--id",
        &id,
    ]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains(&format!("workflow instance `{id}` already exists")));
    let out = repo.ddx(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=x",
        "--id",
        "a/b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`a/b` cannot be used as an instance id"));
}

#[test]
fn instances_are_found_by_unique_prefix_or_as_the_only_active_one() {
    let repo = setup();
    init(&repo, &["--id", "alpha-1"]);
    init(&repo, &["--id", "alpha-2"]);
    init(&repo, &["--id", "beta-1"]);
    let out = repo.ddx(&["workflow", "next"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: 3 workflow instances are active: alpha-1, alpha-2, beta-1\n\
         hint: pass --instance ID (-i); any unique prefix of an id will do\n"
    );
    let out = repo.ddx(&["workflow", "next", "-i", "alpha"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`alpha` matches 2 instances: alpha-1, alpha-2"));
    repo.ddx_ok(&["workflow", "next", "-i", "b"]);
    assert_eq!(
        phase_status(&state_yaml(&repo, "refs/ddx/instances/beta-1"), "frame"),
        "in_progress"
    );
    repo.ddx_ok(&["workflow", "abort", "-i", "alpha-1"]);
    repo.ddx_ok(&["workflow", "abort", "--instance", "alpha-2"]);
    // beta-1 is now the only active instance.
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    assert_eq!(
        trailer(&repo, "refs/ddx/instances/beta-1", "Ddx-Event"),
        "approve"
    );
    let out = repo.ddx(&["workflow", "status", "-i", "gamma"]);
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn pause_resume_and_abort() {
    let repo = setup();
    let id = init(&repo, &[]);
    repo.ddx_ok(&["workflow", "next"]);
    assert_eq!(
        repo.ddx_ok(&["workflow", "pause", "--reason", "holiday"]),
        "instance: running -> paused\n"
    );
    let out = repo.ddx(&["gate", "approve", "frame", "1"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("is paused, so it cannot be changed by approvals"));
    assert!(stderr(&out).contains("hint: `ddx workflow resume` continues it"));
    assert_eq!(
        repo.ddx_ok(&["workflow", "resume"]),
        "instance: paused -> running\n"
    );
    let out = repo.ddx(&["workflow", "resume"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("Nothing changed: instance"));
    repo.ddx_ok(&["workflow", "abort"]);
    assert_eq!(
        state_yaml(&repo, &format!("refs/ddx/instances/{id}"))["status"].as_str(),
        Some("cancelled")
    );
    let out = repo.ddx(&["workflow", "next", "-i", &id]);
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn restore_appends_an_event_with_the_checkpoint_state() {
    let repo = setup();
    let id = init(&repo, &[]);
    let r = format!("refs/ddx/instances/{id}");
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    repo.ddx_ok(&["checkpoint", "create", "half-way"]);
    let cp = format!("refs/ddx/checkpoints/{id}/half-way");
    assert_eq!(repo.git(&["rev-parse", &cp]), repo.git(&["rev-parse", &r]));
    assert_eq!(
        trailer(&repo, "refs/ddx/audit", "Ddx-Operation"),
        "checkpoint"
    );
    let out = repo.ddx(&["checkpoint", "create", "half-way"]);
    assert!(stderr(&out).contains("Nothing changed: checkpoint half-way already points at the tip"));
    repo.ddx_ok(&["gate", "approve", "frame", "2"]);
    repo.ddx_ok(&["workflow", "next"]);
    let out = repo.ddx(&["checkpoint", "create", "half-way"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("--force moves it"));
    let list = repo.ddx_json(&["checkpoint", "list", "--json"]);
    assert_eq!(list[0]["name"], "half-way");
    assert_eq!(list[0]["active"][0], "frame");

    let before = repo.git(&["rev-parse", &r]).trim().to_owned();
    let out = repo.ddx(&["workflow", "restore", "half-wy"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("did you mean `half-way`?"));
    repo.ddx_ok(&[
        "workflow",
        "restore",
        "half-way",
        "--reason",
        "redo the metrics",
    ]);
    // A new event on top: history is kept.
    assert_eq!(repo.git(&["rev-parse", &format!("{r}^")]).trim(), before);
    repo.git(&["merge-base", "--is-ancestor", &cp, &r]);
    assert_eq!(trailer(&repo, &r, "Ddx-Event"), "restore");
    assert_eq!(
        trailer(&repo, &r, "Ddx-Restored-From"),
        repo.git(&["rev-parse", &cp]).trim()
    );
    let mut now = state_yaml(&repo, &r);
    let mut then = state_yaml(&repo, &cp);
    for s in [&mut now, &mut then] {
        let m = s.as_mapping_mut().unwrap();
        m.remove("metrics");
        m.remove("transitions");
    }
    assert_eq!(now, then);
    // Restoring again changes nothing.
    let out = repo.ddx(&["workflow", "restore", "half-way"]);
    assert!(stderr(&out).contains("Nothing changed"));
    assert_fsck_clean(&repo);
}

#[test]
fn dry_run_changes_nothing_at_all() {
    let repo = setup();
    let before = snapshot(&repo.root);
    let out = repo.ddx_ok(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        "d1",
        "--dry-run",
    ]);
    assert!(
        out.contains("would move refs/ddx/instances/d1 (new) -> "),
        "{out}"
    );
    assert!(out.contains("would move refs/ddx/audit (new) -> "), "{out}");
    assert_eq!(
        snapshot(&repo.root),
        before,
        "init --dry-run wrote something"
    );

    init(&repo, &["--id", "d1"]);
    repo.ddx_ok(&["workflow", "next"]);
    let cases: &[&[&str]] = &[
        &["gate", "approve", "frame", "1", "--dry-run"],
        &["phase", "complete", "frame", "--force", "--dry-run"],
        &["phase", "skip", "design", "--dry-run"],
        &["phase", "fail", "frame", "--dry-run"],
        &["workflow", "pause", "--dry-run"],
        &["workflow", "abort", "--dry-run"],
        &["checkpoint", "create", "c1", "--dry-run"],
    ];
    let before = snapshot(&repo.root);
    for args in cases {
        let out = repo.ddx(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("would move refs/ddx/audit"),
            "{args:?}"
        );
        assert!(stderr(&out).contains("Dry run: nothing is written."));
        assert_eq!(snapshot(&repo.root), before, "{args:?} wrote something");
    }
    // A dry run names the commit a real run writes (same time, same state).
    let dry = repo.ddx_ok(&["gate", "approve", "frame", "1", "--dry-run"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let real = tip(&repo, "d1");
    assert!(
        dry.contains(&format!("-> {}", &real[..7])),
        "{dry} vs {real}"
    );
    // checkpoint + restore dry runs too.
    repo.ddx_ok(&["checkpoint", "create", "c1"]);
    repo.ddx_ok(&["gate", "approve", "frame", "2"]);
    let before = snapshot(&repo.root);
    repo.ddx_ok(&["workflow", "restore", "c1", "--dry-run"]);
    repo.ddx_ok(&["workflow", "resume", "--dry-run"]);
    assert_eq!(snapshot(&repo.root), before);
}

#[test]
fn refuses_places_it_cannot_work_in() {
    let plain = TestRepo::plain();
    let out = plain.ddx(&["workflow", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not inside a git work tree"),
        "{}",
        stderr(&out)
    );

    let repo = TestRepo::plain();
    repo.git(&["init", "-q", "--bare", "bare.git"]);
    let out = repo.ddx(&["-C", "bare.git", "workflow", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a bare repository; ddx needs a work tree"));
}

#[test]
fn a_missing_identity_is_named_with_the_config_to_set() {
    let repo = TestRepo::plain();
    repo.git(&["init", "-q", "-b", "main"]);
    repo.write("wf/workflow.yml", MINI_WORKFLOW);
    let out = repo.ddx(&["workflow", "init", "./wf", "--var", "project_name=x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no git identity is configured: set one with `git config user.name \"Your Name\"` and `git config user.email you@example.com`\n"
    );
    assert!(repo.git(&["for-each-ref"]).is_empty());
}

#[test]
fn an_unknown_state_format_is_refused_clearly() {
    let repo = setup();
    let id = init(&repo, &[]);
    let r = format!("refs/ddx/instances/{id}");
    // Hand-craft an event with format 2 on top, as a newer ddx might.
    let state =
        repo.git(&["show", &format!("{r}:state.yml")])
            .replacen("format: 1", "format: 2", 1);
    repo.write("state.yml", &state);
    let blob = repo
        .git(&["hash-object", "-w", "state.yml"])
        .trim()
        .to_owned();
    let wf = repo
        .git(&["rev-parse", &format!("{r}:workflow")])
        .trim()
        .to_owned();
    let tree = {
        let mut cmd = repo.command("git");
        cmd.args(["mktree"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        write!(
            child.stdin.take().unwrap(),
            "100644 blob {blob}\tstate.yml\n040000 tree {wf}\tworkflow\n"
        )
        .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned()
    };
    let commit = repo
        .git(&["commit-tree", &tree, "-p", &r, "-m", "from the future"])
        .trim()
        .to_owned();
    repo.git(&["update-ref", &r, &commit]);
    let out = repo.ddx(&["workflow", "status"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        stderr(&out),
        format!("error: {r}:state.yml has state format 2, but this ddx reads format 1 only; use a ddx that knows format 2\n")
    );
}

#[test]
fn status_of_the_real_helix_corpus_instance() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let repo = TestRepo::new();
    let path = helix.display().to_string();
    let id = repo
        .ddx_ok(&["workflow", "init", &path, "--var", "project_name=shop"])
        .trim()
        .to_owned();
    assert!(id.starts_with("helix-"), "{id}");
    // frame has human input gates: approve each by its number, then start it.
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    let frame = &st["phases"][0];
    assert_eq!(frame["status"], "ready");
    let inputs: Vec<String> = frame["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["gate"] == "input")
        .map(|c| c["number"].to_string())
        .collect();
    assert!(!inputs.is_empty());
    for n in &inputs {
        repo.ddx_ok(&["gate", "approve", "frame", n]);
    }
    repo.ddx_ok(&["workflow", "next"]);
    let st = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(st["workflow"], "helix");
    assert_eq!(st["phases"].as_array().unwrap().len(), 6);
    assert_eq!(st["phases"][0]["status"], "in_progress");
    // Every file of the corpus workflow is pinned in the event's tree.
    let pinned = repo.git(&[
        "ls-tree",
        "-r",
        "--name-only",
        &format!("refs/ddx/instances/{id}:workflow"),
    ]);
    assert!(pinned.lines().any(|l| l == "workflow.yml"));
    assert!(pinned.lines().count() > 50, "{}", pinned.lines().count());
    // Its state.yml, as git stored it, is read by serde_yaml and is the canonical encoding.
    let text = repo.git(&["show", &format!("refs/ddx/instances/{id}:state.yml")]);
    let state: ddx::engine::state::State = serde_yaml::from_str(&text).unwrap();
    assert_eq!(String::from_utf8(state.to_yaml()).unwrap(), text);
    assert_fsck_clean(&repo);
}

#[test]
fn an_instance_ref_moved_back_outside_ddx_is_never_built_over() {
    // ddx remembers the heads it wrote last; a ref another program moved back (or deleted)
    // would drop recorded events if ddx built on it: the write is refused, names the ref and
    // the way out, and writes nothing. A ref moved forward (events from another clone on top of
    // ddx's) is built on where it is.
    let repo = setup();
    let id = init(&repo, &[]);
    let name = format!("refs/ddx/instances/{id}");
    repo.ddx_ok(&["workflow", "next"]);
    let started = tip(&repo, &id);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let approved = tip(&repo, &id);
    let audit = repo.git(&["rev-parse", "refs/ddx/audit"]);

    // Moved back: refused, nothing written.
    repo.git(&["update-ref", &name, &started]);
    let out = repo.ddx(&["gate", "approve", "frame", "2"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(&name), "{err}");
    assert!(err.contains("moved outside ddx"), "{err}");
    assert!(
        err.contains(&format!("git update-ref {name} {approved}")),
        "{err}"
    );
    assert_eq!(tip(&repo, &id), started);
    assert_eq!(repo.git(&["rev-parse", "refs/ddx/audit"]), audit);
    // A read still works, and says what happened.
    let status = repo.ddx(&["workflow", "status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stderr(&status).contains("moved outside ddx"),
        "{}",
        stderr(&status)
    );

    // The way out it names puts the ref back, and the next write builds on what ddx wrote.
    repo.git(&["update-ref", &name, &approved]);
    repo.ddx_ok(&["gate", "approve", "frame", "2"]);
    let parent = repo.git(&["rev-parse", &format!("{name}^")]);
    assert_eq!(parent.trim(), approved);

    // Moved forward by another program (a commit on top of ddx's tip): built on where it is.
    let now = tip(&repo, &id);
    let forward = repo.git(&[
        "commit-tree",
        &format!("{now}^{{tree}}"),
        "-p",
        &now,
        "-m",
        &format!("ddx({id}): from another clone\n\nDdx-Instance: {id}"),
    ]);
    repo.git(&["update-ref", &name, forward.trim()]);
    repo.ddx_ok(&["workflow", "pause"]);
    let parent = repo.git(&["rev-parse", &format!("{name}^")]);
    assert_eq!(parent.trim(), forward.trim());

    // Deleted: refused too, with the value to put back.
    let paused = tip(&repo, &id);
    repo.git(&["update-ref", "-d", &name]);
    let out = repo.ddx(&[
        "workflow",
        "init",
        "./wf",
        "--id",
        &id,
        "--var",
        "project_name=demo",
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("was deleted outside ddx"), "{err}");
    assert!(
        err.contains(&format!("git update-ref {name} {paused}")),
        "{err}"
    );
    repo.git(&["update-ref", &name, &paused]);
    repo.ddx_ok(&["workflow", "resume"]);

    // The audit chain is guarded the same way.
    let audit = repo.git(&["rev-parse", "refs/ddx/audit"]);
    repo.git(&["update-ref", "refs/ddx/audit", "refs/ddx/audit^"]);
    let out = repo.ddx(&["workflow", "pause"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("refs/ddx/audit was moved outside ddx"),
        "{}",
        stderr(&out)
    );
    repo.git(&["update-ref", "refs/ddx/audit", audit.trim()]);
    repo.ddx_ok(&["workflow", "pause"]);
    assert_fsck_clean(&repo);
}

#[test]
fn an_event_can_join_another_history_of_the_instance_with_two_parents() {
    use ddx::store::event::Message;
    use ddx::store::transaction::{self, Decision, NewEvent, Options, Outcome, Plan};
    let repo = setup();
    let id = init(&repo, &[]);
    let name = format!("refs/ddx/instances/{id}");
    let base = tip(&repo, &id);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let ours = tip(&repo, &id);
    // Another clone's event on the same base (as `ddx sync` would fetch it).
    let theirs = repo.git(&[
        "commit-tree",
        &format!("{ours}^{{tree}}"),
        "-p",
        &base,
        "-m",
        &format!("ddx({id}): approve elsewhere\n\nDdx-Instance: {id}"),
    ]);
    let theirs = ddx::store::ObjectId::from_hex(theirs.trim().as_bytes()).unwrap();

    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    let identity = store.identity().unwrap();
    let opts = Options {
        instance: &id,
        identity: &identity,
        project_commit: store.project_commit(),
        dry_run: false,
    };
    let outcome = transaction::commit::<ddx::store::StoreError>(&store, &opts, |b| {
        let tip = b.instance.as_ref().expect("the instance exists");
        Ok(Decision::Change(Box::new(Plan {
            event: Some(NewEvent {
                state: tip.state.clone(),
                workflow_tree: tip.workflow_tree,
                renders: None,
                message: Message::new(format!("ddx({id}): join")),
                joins: vec![theirs],
            }),
            audit: ddx::store::audit::AuditRecord {
                operation: "join".to_owned(),
                summary: "join".to_owned(),
                args: Default::default(),
            },
            extra: Vec::new(),
            audit_joins: Vec::new(),
        })))
    })
    .unwrap();
    assert!(matches!(outcome, Outcome::Committed(_)));
    // git sees a merge: ddx's own chain first, the joined history second.
    let parents = repo.git(&["rev-list", "--parents", "-n", "1", &name]);
    let parents: Vec<&str> = parents.split_whitespace().skip(1).collect();
    assert_eq!(parents, [ours.as_str(), &theirs.to_string()]);
    // Both histories are reachable from the instance ref, and the state reads back.
    let all = repo.git(&["rev-list", &name]);
    assert!(all.contains(&theirs.to_string()) && all.contains(&ours));
    let status = repo.ddx_ok(&["workflow", "status", "--json"]);
    assert!(status.contains(&id), "{status}");
    assert_fsck_clean(&repo);
}
