//! The audit chain end to end: every mutating command audited in its own ref transaction,
//! `ddx audit log/show`, and `ddx audit verify` against history tampered with by the real `git`
//! binary (commit-tree, update-ref, replace, deleted objects, signatures).

mod common;

use common::{stderr, stdout, TestRepo, MINI_WORKFLOW};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

/// 2026-01-14T12:00:00Z; each step of a journey runs a minute later than the one before.
const T0: i64 = 1_768_392_000;

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", MINI_WORKFLOW);
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo
}

/// Runs ddx as if at `T0 + minutes` minutes.
fn ddx_at(repo: &TestRepo, minutes: i64, args: &[&str]) -> std::process::Output {
    let date = format!("@{} +0000", T0 + minutes * 60);
    repo.command(env!("CARGO_BIN_EXE_ddx"))
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_AUTHOR_DATE", &date)
        .args(args)
        .output()
        .expect("run ddx")
}

fn ok_at(repo: &TestRepo, minutes: i64, args: &[&str]) -> String {
    let out = ddx_at(repo, minutes, args);
    assert!(
        out.status.success(),
        "ddx {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A history with every kind of event: init, next, approve, complete (forced), checkpoint,
/// start, fail, reopen, skip, pause, resume, abort and restore.
fn journey(repo: &TestRepo) {
    let steps: &[&[&str]] = &[
        &[
            "workflow",
            "init",
            "./wf",
            "--var",
            "project_name=shop",
            "--id",
            "a1",
        ],
        &["workflow", "next"],
        &[
            "gate",
            "approve",
            "frame",
            "1",
            "-m",
            "reviewed in the\nweekly meeting",
        ],
        &[
            "phase", "complete", "frame", "--force", "--reason", "deadline",
        ],
        &["checkpoint", "create", "cp1"],
        &["gate", "approve", "design", "Budget approved"],
        &["phase", "start", "design"],
        &["phase", "fail", "design", "--reason", "wrong approach"],
        &["phase", "reopen", "design"],
        &["gate", "approve", "design", "Architecture documented"],
        &["workflow", "next"],
        &["workflow", "pause"],
        &["workflow", "resume"],
        &["phase", "complete", "ship", "--force"],
        &["workflow", "restore", "cp1", "--reason", "redo design"],
        &["phase", "skip", "design", "--reason", "not needed"],
        &["workflow", "abort"],
    ];
    for (i, args) in steps.iter().enumerate() {
        ok_at(repo, i as i64, args);
    }
}

fn verify(repo: &TestRepo) -> (i32, Value) {
    let out = repo.ddx(&["audit", "verify", "--json"]);
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("verify printed no JSON ({e}): {}", stdout(&out)));
    (code, v)
}

fn breaks(v: &Value) -> Vec<(String, String, String, String)> {
    v["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["ref"].as_str().unwrap().to_owned(),
                b["commit"].as_str().unwrap_or("").to_owned(),
                b["kind"].as_str().unwrap().to_owned(),
                b["problem"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts verification fails (exit 3) with a break of `kind` on `reference` at `commit`
/// whose problem contains `words`; returns the breaks.
fn assert_break(
    repo: &TestRepo,
    reference: &str,
    commit: &str,
    kind: &str,
    words: &str,
) -> Vec<(String, String, String, String)> {
    let (code, v) = verify(repo);
    assert_eq!(code, 3, "verify must fail: {v:#}");
    assert_eq!(v["ok"], false);
    let all = breaks(&v);
    assert!(
        all.iter().any(|(r, c, k, p)| r == reference
            && (commit.is_empty() || c == commit)
            && k == kind
            && p.contains(words)),
        "no `{kind}` break on {reference} at {commit} mentioning `{words}` in:\n{all:#?}"
    );
    all
}

fn rev(repo: &TestRepo, spec: &str) -> String {
    repo.git(&["rev-parse", spec]).trim().to_owned()
}

fn git_stdin(repo: &TestRepo, args: &[&str], envs: &[(&str, String)], input: &[u8]) -> String {
    let mut cmd = repo.command("git");
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run git");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A commit taken apart, to be forged again.
#[derive(Clone, Debug)]
struct Meta {
    tree: String,
    parents: Vec<String>,
    /// `Name <email>`
    author: (String, String),
    /// `<seconds> <offset>`
    date: String,
    message: String,
}

fn meta(repo: &TestRepo, id: &str) -> Meta {
    let raw = repo.git(&["cat-file", "commit", id]);
    let (head, message) = raw.split_once("\n\n").unwrap();
    let mut m = Meta {
        tree: String::new(),
        parents: Vec::new(),
        author: (String::new(), String::new()),
        date: String::new(),
        message: message.to_owned(),
    };
    for line in head.lines() {
        if let Some(t) = line.strip_prefix("tree ") {
            m.tree = t.to_owned();
        } else if let Some(p) = line.strip_prefix("parent ") {
            m.parents.push(p.to_owned());
        } else if let Some(a) = line.strip_prefix("author ") {
            let (name, rest) = a.split_once(" <").unwrap();
            let (email, date) = rest.split_once("> ").unwrap();
            m.author = (name.to_owned(), email.to_owned());
            m.date = date.to_owned();
        }
    }
    m
}

/// Writes `m` as a commit with author and committer alike, as ddx would: a careful forgery.
fn forge(repo: &TestRepo, m: &Meta) -> String {
    let mut args = vec!["commit-tree".to_owned(), m.tree.clone()];
    for p in &m.parents {
        args.push("-p".into());
        args.push(p.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let envs = [
        ("GIT_AUTHOR_NAME", m.author.0.clone()),
        ("GIT_AUTHOR_EMAIL", m.author.1.clone()),
        ("GIT_AUTHOR_DATE", m.date.clone()),
        ("GIT_COMMITTER_NAME", m.author.0.clone()),
        ("GIT_COMMITTER_EMAIL", m.author.1.clone()),
        ("GIT_COMMITTER_DATE", m.date.clone()),
    ];
    git_stdin(repo, &args, &envs, m.message.as_bytes())
}

/// The commits of a linear chain, oldest first.
fn chain(repo: &TestRepo, reference: &str) -> Vec<String> {
    repo.git(&["rev-list", "--reverse", reference])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Re-creates `metas` one on top of the other, the first on `base`, and moves `reference` to
/// the last; returns the new ids.
fn rebuild(repo: &TestRepo, reference: &str, base: &[String], metas: &[Meta]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for m in metas {
        let mut m = m.clone();
        m.parents = match ids.last() {
            Some(prev) => vec![prev.clone()],
            None => base.to_vec(),
        };
        ids.push(forge(repo, &m));
    }
    repo.git(&["update-ref", reference, ids.last().unwrap()]);
    ids
}

fn with_blob(repo: &TestRepo, tree: &str, name: &str, content: &str) -> String {
    let blob = git_stdin(
        repo,
        &["hash-object", "-w", "--stdin"],
        &[],
        content.as_bytes(),
    );
    let listing = repo.git(&["ls-tree", tree]);
    let mut out = String::new();
    for line in listing.lines() {
        let (head, file) = line.split_once('\t').unwrap();
        if file == name {
            out.push_str(&format!("100644 blob {blob}\t{name}\n"));
        } else {
            out.push_str(&format!("{head}\t{file}\n"));
        }
    }
    git_stdin(repo, &["mktree"], &[], out.as_bytes())
}

fn loose_path(repo: &TestRepo, id: &str) -> std::path::PathBuf {
    repo.root.join(".git/objects").join(&id[..2]).join(&id[2..])
}

#[test]
fn every_mutating_command_appends_one_audit_commit_in_the_same_ref_transaction() {
    let repo = setup();
    let cases: &[(&[&str], bool)] = &[
        (
            &[
                "workflow",
                "init",
                "./wf",
                "--var",
                "project_name=shop",
                "--id",
                "t1",
            ],
            true,
        ),
        (&["workflow", "next"], true),
        (&["gate", "approve", "frame", "1"], true),
        (&["phase", "complete", "frame", "--force"], true),
        (&["checkpoint", "create", "c1"], false),
        (&["gate", "approve", "design", "1"], true),
        (&["phase", "start", "design"], true),
        (&["phase", "fail", "design"], true),
        (&["phase", "reopen", "design"], true),
        (&["phase", "skip", "design"], true),
        (&["workflow", "pause"], true),
        (&["workflow", "resume"], true),
        (&["workflow", "abort"], true),
        (&["workflow", "restore", "c1"], true),
        (&["checkpoint", "create", "c1", "--force"], false),
    ];
    let count = |r: &str| {
        repo.command("git")
            .args(["rev-list", "--count", r])
            .output()
            .map(|o| stdout(&o).trim().parse::<usize>().unwrap_or(0))
            .unwrap_or(0)
    };
    for (i, (args, event)) in cases.iter().enumerate() {
        let audit_before = count("refs/ddx/audit");
        let events_before = count("refs/ddx/instances/t1");
        let head_before = repo
            .command("git")
            .args(["rev-parse", "-q", "--verify", "refs/ddx/audit"])
            .output()
            .map(|o| stdout(&o).trim().to_owned())
            .unwrap();
        ok_at(&repo, i as i64, args);
        assert_eq!(count("refs/ddx/audit"), audit_before + 1, "{args:?}");
        let audit = rev(&repo, "refs/ddx/audit");
        let body = repo.git(&["log", "-1", "--format=%B", "refs/ddx/audit"]);
        let tip = rev(&repo, "refs/ddx/instances/t1");
        assert!(
            body.contains(&format!("Ddx-Instance-Commit: {tip}")),
            "{args:?}: {body}"
        );
        if head_before.is_empty() {
            assert_eq!(repo.git(&["log", "-1", "--format=%P", &audit]).trim(), "");
        } else {
            assert_eq!(
                repo.git(&["log", "-1", "--format=%P", &audit]).trim(),
                head_before
            );
        }
        if *event {
            assert_eq!(
                count("refs/ddx/instances/t1"),
                events_before + 1,
                "{args:?}"
            );
            let msg = repo.git(&["log", "-1", "--format=%B", &tip]);
            if !head_before.is_empty() {
                assert!(
                    msg.contains(&format!("Ddx-Audit-Parent: {head_before}")),
                    "{args:?}: {msg}"
                );
            }
            // One ref transaction: both reflogs gained the same entry.
            let audit_log = repo.git(&["reflog", "-1", "--format=%gs", "refs/ddx/audit"]);
            let instance_log = repo.git(&["reflog", "-1", "--format=%gs", "refs/ddx/instances/t1"]);
            assert_eq!(audit_log, instance_log, "{args:?}");
        } else {
            assert_eq!(count("refs/ddx/instances/t1"), events_before, "{args:?}");
        }
    }
    let (code, v) = verify(&repo);
    assert_eq!(code, 0, "{v:#}");
}

#[test]
fn a_clean_history_verifies_replays_every_event_and_records_its_heads() {
    let repo = setup();
    journey(&repo);
    let (code, v) = verify(&repo);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["breaks"], serde_json::json!([]));
    let events = chain(&repo, "refs/ddx/instances/a1").len() as u64;
    assert_eq!(v["checked"]["events"], events);
    assert_eq!(v["checked"]["replayed"], events);
    assert_eq!(
        v["checked"]["audit_entries"],
        chain(&repo, "refs/ddx/audit").len() as u64
    );
    assert_eq!(v["checked"]["instances"], 1);
    assert_eq!(v["checked"]["checkpoints"], 1);
    assert_eq!(v["recorded"], true);
    let verified = std::fs::read_to_string(repo.path(".git/ddx/verified")).unwrap();
    assert!(verified.contains(&format!("{} refs/ddx/audit", rev(&repo, "refs/ddx/audit"))));
    assert!(verified.contains(&format!(
        "{} refs/ddx/instances/a1",
        rev(&repo, "refs/ddx/instances/a1")
    )));
    // The text form says the same, and git agrees the objects are sound.
    let text = repo.ddx_ok(&["audit", "verify"]);
    assert!(text.contains("ok: every chain is intact"), "{text}");
    repo.git(&["fsck", "--strict", "--no-progress"]);
    // The check results a transition depended on are recorded for replay.
    let ship = repo.git(&[
        "log",
        "--format=%B",
        "--grep=complete ship",
        "refs/ddx/instances/a1",
    ]);
    assert!(
        ship.contains("Ddx-Check: ship 1 failed: RELEASE.md does not exist"),
        "{ship}"
    );
    // Free text goes into the event on one line, as its trailer carries it.
    let state = repo.git(&["show", "refs/ddx/instances/a1:state.yml"]);
    assert!(
        state.contains("comment: reviewed in the weekly meeting\n"),
        "{state}"
    );
}

#[test]
fn every_state_and_entry_of_a_journey_is_in_the_canonical_encoding() {
    use ddx::engine::state::State;
    use ddx::store::audit::EntryFile;
    let repo = setup();
    journey(&repo);
    // What git has stored is read by serde_yaml, and a state re-encoded is the very same bytes.
    let states = chain(&repo, "refs/ddx/instances/a1");
    assert!(states.len() > 10, "{}", states.len());
    for c in &states {
        let text = repo.git(&["show", &format!("{c}:state.yml")]);
        let state: State = serde_yaml::from_str(&text).unwrap();
        assert_eq!(String::from_utf8(state.to_yaml()).unwrap(), text);
    }
    let entries = chain(&repo, "refs/ddx/audit");
    assert!(entries.len() >= states.len(), "{}", entries.len());
    for c in &entries {
        let text = repo.git(&["show", &format!("{c}:entry.yml")]);
        let entry: EntryFile = serde_yaml::from_str(&text).unwrap();
        assert_eq!(EntryFile::parse(text.as_bytes()).unwrap(), entry, "{text}");
    }
}

#[test]
fn a_format_1_chain_is_read_through_the_upgrade_and_a_newer_format_is_refused() {
    use ddx::engine::state::State;
    use ddx::store::audit::EntryFile;
    use ddx::store::upgrade;
    let repo = setup();
    journey(&repo);
    // Every document of the chains git holds is format 1 and reads as the current format.
    for c in chain(&repo, "refs/ddx/instances/a1") {
        let text = repo.git(&["show", &format!("{c}:state.yml")]);
        assert!(text.starts_with("format: 1\n"), "{text}");
        let state = upgrade::read::<State>(text.as_bytes(), "state.yml").unwrap();
        assert_eq!(state.format, 1);
        assert_eq!(
            State::from_yaml(text.as_bytes(), "state.yml").unwrap(),
            state
        );
    }
    for c in chain(&repo, "refs/ddx/audit") {
        let text = repo.git(&["show", &format!("{c}:entry.yml")]);
        let entry = upgrade::read::<EntryFile>(text.as_bytes(), "entry.yml").unwrap();
        assert_eq!(entry.format, 1);
    }
    // A tip whose entry says a format this ddx does not know is refused, by name.
    let tip = repo.git(&["rev-parse", "refs/ddx/audit"]);
    let text = repo.git(&["show", &format!("{}:entry.yml", tip.trim())]);
    let newer = text.replacen("format: 1\n", "format: 2\n", 1);
    assert_eq!(
        EntryFile::parse(newer.as_bytes()).unwrap_err(),
        "entry.yml has audit entry format 2, but this ddx reads format 1 only; use a ddx that knows format 2"
    );
}

#[test]
fn a_forgery_that_changes_nothing_is_the_same_commit() {
    // The tamper helpers below are faithful: re-creating a commit unchanged yields its own id.
    let repo = setup();
    journey(&repo);
    for r in ["refs/ddx/audit", "refs/ddx/instances/a1"] {
        let id = rev(&repo, r);
        assert_eq!(forge(&repo, &meta(&repo, &id)), id);
    }
}

#[test]
fn an_amended_audit_head_is_not_a_descendant_of_what_ddx_wrote() {
    let repo = setup();
    journey(&repo);
    verify(&repo);
    let head = rev(&repo, "refs/ddx/audit");
    let mut m = meta(&repo, &head);
    m.message = m.message.replacen("abort", "abort (amended)", 1);
    let amended = forge(&repo, &m);
    repo.git(&["update-ref", "refs/ddx/audit", &amended]);
    let all = assert_break(
        &repo,
        "refs/ddx/audit",
        &amended,
        "not_descendant",
        &format!("it is not a descendant of {head}, the head ddx last wrote (.git/ddx/heads)"),
    );
    assert!(all
        .iter()
        .any(|(_, _, _, p)| p.contains("the head ddx last verified (.git/ddx/verified)")));
}

#[test]
fn an_amended_audit_commit_in_the_middle_is_named() {
    let repo = setup();
    journey(&repo);
    let ids = chain(&repo, "refs/ddx/audit");
    let mut metas: Vec<Meta> = ids[5..].iter().map(|i| meta(&repo, i)).collect();
    metas[0].message = metas[0].message.replacen("design", "design (edited)", 1);
    rebuild(&repo, "refs/ddx/audit", &[ids[4].clone()], &metas);
    // The event written after the amended entry names an audit parent the chain lost.
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        "",
        "rewritten",
        &format!("it follows audit commit {}", ids[5]),
    );
}

#[test]
fn reordered_audit_commits_are_named() {
    let repo = setup();
    journey(&repo);
    let ids = chain(&repo, "refs/ddx/audit");
    let mut metas: Vec<Meta> = ids[6..].iter().map(|i| meta(&repo, i)).collect();
    metas.swap(0, 1);
    rebuild(&repo, "refs/ddx/audit", &[ids[5].clone()], &metas);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        "",
        "rewritten",
        "which refs/ddx/audit does not contain: the audit chain was rewritten, reordered or cut",
    );
}

#[test]
fn a_dropped_audit_commit_leaves_its_event_unaudited() {
    let repo = setup();
    journey(&repo);
    let ids = chain(&repo, "refs/ddx/audit");
    // ids[7] records the `fail` event.
    let dropped_event = repo
        .git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Ddx-Instance-Commit,valueonly)",
            &ids[7],
        ])
        .trim()
        .to_owned();
    let metas: Vec<Meta> = ids[8..].iter().map(|i| meta(&repo, i)).collect();
    rebuild(&repo, "refs/ddx/audit", &[ids[6].clone()], &metas);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &dropped_event,
        "not_audited",
        "no entry of refs/ddx/audit records this `fail` event",
    );
}

#[test]
fn a_re_created_audit_chain_is_named() {
    let repo = setup();
    journey(&repo);
    // Every entry written again a day later, as consistently as git allows.
    let mut metas: Vec<Meta> = chain(&repo, "refs/ddx/audit")
        .iter()
        .map(|i| meta(&repo, i))
        .collect();
    for m in &mut metas {
        let secs: i64 = m.date.split(' ').next().unwrap().parse().unwrap();
        m.date = format!("{} +0000", secs + 86_400);
    }
    let ids = rebuild(&repo, "refs/ddx/audit", &[], &metas);
    let all = assert_break(
        &repo,
        "refs/ddx/audit",
        &ids[0],
        "trailer",
        "entry.yml disagrees with the commit",
    );
    assert!(all.iter().any(|(r, _, k, p)| r == "refs/ddx/instances/a1"
        && k == "rewritten"
        && p.contains("the audit chain was rewritten, reordered or cut")));
    assert!(all.iter().any(|(_, _, k, _)| k == "not_descendant"));
}

#[test]
fn an_instance_ref_moved_backwards_is_named_even_without_local_heads() {
    let repo = setup();
    journey(&repo);
    let tip = rev(&repo, "refs/ddx/instances/a1");
    let back = rev(&repo, "refs/ddx/instances/a1~3");
    repo.git(&["update-ref", "refs/ddx/instances/a1", &back]);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &back,
        "moved_backwards",
        &format!("behind {tip}, the event its last audit entry"),
    );
    // A fresh clone has no .git/ddx: the audit chain alone still tells.
    std::fs::remove_file(repo.path(".git/ddx/heads")).unwrap();
    let _ = std::fs::remove_file(repo.path(".git/ddx/verified"));
    let all = assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &back,
        "moved_backwards",
        "the ref was moved backwards",
    );
    assert!(
        all.iter().all(|(_, _, k, _)| k != "not_descendant"),
        "{all:#?}"
    );
}

#[test]
fn an_instance_ref_moved_to_an_unrelated_commit_is_named() {
    let repo = setup();
    journey(&repo);
    ok_at(
        &repo,
        30,
        &[
            "workflow",
            "init",
            "./wf",
            "--var",
            "project_name=other",
            "--id",
            "b2",
        ],
    );
    let other = rev(&repo, "refs/ddx/instances/b2");
    repo.git(&["update-ref", "refs/ddx/instances/a1", &other]);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &other,
        "unrelated",
        "which is unrelated to",
    );
}

#[test]
fn an_instance_commit_made_with_plain_git_is_named() {
    let repo = setup();
    journey(&repo);
    let tip = rev(&repo, "refs/ddx/instances/a1");
    // A commit that looks like ddx's: same tree, a copied message, ddx's trailers.
    let mut m = meta(&repo, &tip);
    m.parents = vec![tip.clone()];
    m.message = m.message.replace("Ddx-Event: abort", "Ddx-Event: resume");
    let sneaky = forge(&repo, &m);
    repo.git(&["update-ref", "refs/ddx/instances/a1", &sneaky]);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &sneaky,
        "not_audited",
        "no entry of refs/ddx/audit records this `resume` event: it was written outside ddx (plain git)",
    );
    // And one with no trailers at all, by `git commit-tree -m`.
    let plain = repo
        .git(&[
            "commit-tree",
            &format!("{tip}^{{tree}}"),
            "-p",
            &tip,
            "-m",
            "fix state",
        ])
        .trim()
        .to_owned();
    repo.git(&["update-ref", "refs/ddx/instances/a1", &plain]);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &plain,
        "not_audited",
        "it has no Ddx-* trailers and no entry of refs/ddx/audit records it",
    );
}

#[test]
fn a_state_the_events_before_it_do_not_produce_is_named() {
    let repo = setup();
    journey(&repo);
    // Rewrite the `next` event that completed design and started ship: its state now says
    // ship was already completed.
    let ids = chain(&repo, "refs/ddx/instances/a1");
    let target = ids
        .iter()
        .find(|i| {
            repo.git(&["log", "-1", "--format=%s", i])
                .contains("design -> ship")
        })
        .unwrap()
        .clone();
    let mut m = meta(&repo, &target);
    let state = repo.git(&["show", &format!("{target}:state.yml")]);
    let forged_state = state.replacen(
        "- id: ship\n  name: Ship\n  status: in_progress",
        "- id: ship\n  name: Ship\n  status: completed",
        1,
    );
    assert_ne!(
        state, forged_state,
        "the state has the shape this test expects"
    );
    m.tree = with_blob(&repo, &m.tree, "state.yml", &forged_state);
    let forged = forge(&repo, &m);
    repo.git(&["replace", &target, &forged]);
    // Plain git now shows the forged state; verify reads what the ids really name...
    assert!(repo
        .git(&["show", &format!("{target}:state.yml")])
        .contains("status: completed"));
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &target,
        "replaced",
        "git shows other content than ddx recorded",
    );
    // ...and a forged chain built on the forged state fails replay.
    repo.git(&["replace", "-d", &target]);
    repo.git(&["update-ref", "refs/ddx/instances/a1", &forged]);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &forged,
        "replay",
        "its state.yml is not what replaying `next` on the state before it gives: phases[ship].status is `completed` in state.yml, replay gives `in_progress`",
    );
}

#[test]
fn missing_objects_are_named() {
    let repo = setup();
    journey(&repo);
    // The state of the second event (`next`), a loose object.
    let event = rev(&repo, "refs/ddx/instances/a1~14");
    let blob = rev(&repo, &format!("{event}:state.yml"));
    std::fs::remove_file(loose_path(&repo, &blob)).unwrap();
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &event,
        "missing_object",
        &format!("its state.yml ({blob})"),
    );
    // An audit commit in the middle of the chain.
    let audit = rev(&repo, "refs/ddx/audit~4");
    std::fs::remove_file(loose_path(&repo, &audit)).unwrap();
    assert_audit_commit_missing(&repo, &audit);
}

/// Verification names `audit`, the commit before `refs/ddx/audit~3`, as missing.
fn assert_audit_commit_missing(repo: &TestRepo, audit: &str) {
    let child = rev(repo, "refs/ddx/audit~3");
    assert_break(
        repo,
        "refs/ddx/audit",
        audit,
        "missing_object",
        &format!("audit commit {audit} (a parent of {})", &child[..12]),
    );
}

#[test]
fn a_packed_history_verifies_alike_and_a_commit_missing_from_its_pack_is_named() {
    // Verification decodes the packed commits up front (each delta once); loose and packed, the
    // same history must give the same answer.
    let repo = setup();
    journey(&repo);
    let unpacked = repo.ddx_json(&["audit", "verify", "--json", "--no-record"]);
    assert_eq!(unpacked["ok"], true, "{unpacked:#}");
    repo.git(&["repack", "-adF", "-q"]);
    let pack_dir = repo.path(".git/objects/pack");
    let packs = |ext: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&pack_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect()
    };
    assert_eq!(packs("pack").len(), 1);
    let deltas = repo.git(&["verify-pack", "-v", packs("idx")[0].to_str().unwrap()]);
    assert!(
        deltas
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("commit")
                && l.split_whitespace().count() == 7),
        "no commit is stored as a delta:\n{deltas}"
    );
    let packed = repo.ddx_json(&["audit", "verify", "--json", "--no-record"]);
    assert_eq!(packed, unpacked);
    // One pack again, without an audit commit in the middle of the chain.
    let audit = rev(&repo, "refs/ddx/audit~4");
    let child = rev(&repo, "refs/ddx/audit~3");
    let objects: String = repo
        .git(&["rev-list", "--objects", "--all"])
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|id| *id != audit)
        .map(|id| format!("{id}\n"))
        .collect();
    let old = [packs("pack"), packs("idx"), packs("rev")].concat();
    git_stdin(
        &repo,
        &["pack-objects", "-q", ".git/objects/pack/pack"],
        &[],
        objects.as_bytes(),
    );
    for f in old {
        std::fs::remove_file(f).unwrap();
    }
    assert_eq!(repo.git(&["cat-file", "-t", &child]).trim(), "commit");
    assert_audit_commit_missing(&repo, &audit);
}

#[test]
fn a_ref_rewritten_behind_the_verified_head_is_named() {
    let repo = setup();
    journey(&repo);
    let (code, _) = verify(&repo);
    assert_eq!(code, 0);
    let verified_tip = rev(&repo, "refs/ddx/instances/a1");
    // Someone rewrites the instance chain's last event and fixes up .git/ddx/heads too.
    let mut m = meta(&repo, &verified_tip);
    m.message = m.message.replacen("abort", "abort (rewritten)", 1);
    let rewritten = forge(&repo, &m);
    repo.git(&["update-ref", "refs/ddx/instances/a1", &rewritten]);
    let heads = std::fs::read_to_string(repo.path(".git/ddx/heads")).unwrap();
    std::fs::write(
        repo.path(".git/ddx/heads"),
        heads.replace(&verified_tip, &rewritten),
    )
    .unwrap();
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &rewritten,
        "not_descendant",
        &format!(
            "it is not a descendant of {verified_tip}, the head ddx last verified (.git/ddx/verified)"
        ),
    );
}

#[test]
fn trailers_that_disagree_with_the_event_are_named() {
    let repo = setup();
    journey(&repo);
    let tip = rev(&repo, "refs/ddx/instances/a1");
    let mut m = meta(&repo, &tip);
    m.message = m
        .message
        .replace(
            "Ddx-Actor: Test User <test@example.com>",
            "Ddx-Actor: Mallory <m@example.com>",
        )
        .replace("Ddx-Instance: a1", "Ddx-Instance: b9");
    let forged = forge(&repo, &m);
    repo.git(&["update-ref", "refs/ddx/instances/a1", &forged]);
    let all = assert_break(
        &repo,
        "refs/ddx/instances/a1",
        &forged,
        "trailer",
        "its Ddx-Actor trailer says `Mallory <m@example.com>`, but its author is `Test User <test@example.com>`",
    );
    assert!(all.iter().any(|(_, c, k, p)| c == &forged
        && k == "trailer"
        && p == "its Ddx-Instance trailer says `b9`, but it is an event of a1"));
    // An audit entry whose entry.yml says another operation than its trailer.
    let head = rev(&repo, "refs/ddx/audit");
    let mut a = meta(&repo, &head);
    let entry = repo.git(&["show", &format!("{head}:entry.yml")]);
    a.tree = with_blob(
        &repo,
        &a.tree,
        "entry.yml",
        &entry.replace("operation: abort", "operation: resume"),
    );
    let forged_audit = forge(&repo, &a);
    repo.git(&["update-ref", "refs/ddx/audit", &forged_audit]);
    assert_break(
        &repo,
        "refs/ddx/audit",
        &forged_audit,
        "trailer",
        "its entry.yml disagrees with the commit: it says operation `resume` (Ddx-Operation: `abort`)",
    );
}

#[test]
fn a_checkpoint_pointing_outside_its_instance_is_named() {
    let repo = setup();
    journey(&repo);
    let audit = rev(&repo, "refs/ddx/audit");
    repo.git(&["update-ref", "refs/ddx/checkpoints/a1/cp1", &audit]);
    assert_break(
        &repo,
        "refs/ddx/checkpoints/a1/cp1",
        &audit,
        "checkpoint",
        "which is not an event of instance a1",
    );
}

#[test]
fn a_deleted_instance_ref_is_named() {
    let repo = setup();
    journey(&repo);
    repo.git(&["update-ref", "-d", "refs/ddx/instances/a1"]);
    assert_break(
        &repo,
        "refs/ddx/instances/a1",
        "",
        "deleted",
        "the ref does not exist, but refs/ddx/audit records",
    );
}

fn ssh_keygen(repo: &TestRepo, name: &str) -> std::path::PathBuf {
    let key = repo.home.join(name);
    let out = repo
        .command("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
    key
}

#[test]
fn signed_audit_commits_verify_and_bad_or_missing_signatures_are_named() {
    let repo = setup();
    let key = ssh_keygen(&repo, "signer");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = repo.home.join("allowed_signers");
    std::fs::write(&allowed, format!("test@example.com {public}")).unwrap();
    repo.git(&["config", "gpg.format", "ssh"]);
    repo.git(&["config", "user.signingKey", key.to_str().unwrap()]);
    repo.git(&[
        "config",
        "gpg.ssh.allowedSignersFile",
        allowed.to_str().unwrap(),
    ]);
    repo.git(&["config", "ddx.sign", "true"]);
    journey(&repo);
    // Git itself accepts every signature ddx made.
    let statuses = repo.git(&["log", "--format=%G?", "refs/ddx/audit"]);
    assert!(
        statuses.lines().all(|s| s == "G"),
        "every audit commit is signed and good: {statuses}"
    );
    repo.git(&["verify-commit", "refs/ddx/audit"]);
    let (code, v) = verify(&repo);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["checked"]["signatures"],
        chain(&repo, "refs/ddx/audit").len() as u64
    );
    // An entry written without signing while signing is on is named.
    repo.git(&["config", "ddx.sign", "false"]);
    ok_at(&repo, 40, &["workflow", "restore", "cp1"]);
    repo.git(&["config", "ddx.sign", "true"]);
    let unsigned = rev(&repo, "refs/ddx/audit");
    assert_break(
        &repo,
        "refs/ddx/audit",
        &unsigned,
        "signature",
        "it is not signed, although signing is on and the entries before it are signed",
    );
    // A signer the allowed-signers file no longer trusts: every signature fails once they are
    // all checked again (a verification otherwise trusts what an earlier one found good).
    let other = ssh_keygen(&repo, "stranger");
    let stranger = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    std::fs::write(&allowed, format!("test@example.com {stranger}")).unwrap();
    let (_, v) = verify(&repo);
    assert_eq!(
        v["checked"]["signatures_verified_before"],
        chain(&repo, "refs/ddx/audit").len() as u64 - 1
    );
    let first = chain(&repo, "refs/ddx/audit")[0].clone();
    let out = repo.ddx(&["audit", "verify", "--json", "--all-signatures"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let all = breaks(&v);
    assert!(
        all.iter().any(|(r, c, k, p)| r == "refs/ddx/audit"
            && c == &first
            && k == "signature"
            && p.starts_with("its signature does not verify")),
        "{all:#?}"
    );
}

#[test]
fn signing_that_cannot_work_fails_the_command_and_writes_nothing() {
    let repo = setup();
    repo.git(&["config", "gpg.format", "ssh"]);
    repo.git(&["config", "user.signingKey", "/nonexistent/key"]);
    repo.git(&["config", "ddx.sign", "true"]);
    let out = repo.ddx(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        "s1",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("signing the audit commit"),
        "{}",
        stderr(&out)
    );
    assert!(repo
        .command("git")
        .args(["rev-parse", "-q", "--verify", "refs/ddx/audit"])
        .output()
        .map(|o| stdout(&o).trim().is_empty())
        .unwrap());
}

#[test]
fn audit_log_lists_entries_newest_first_with_filters() {
    let repo = setup();
    journey(&repo);
    ok_at(
        &repo,
        60,
        &[
            "workflow",
            "init",
            "./wf",
            "--var",
            "project_name=other",
            "--id",
            "b2",
        ],
    );
    let all = repo.ddx_json(&["audit", "log", "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), chain(&repo, "refs/ddx/audit").len());
    assert_eq!(all[0]["id"], rev(&repo, "refs/ddx/audit").as_str());
    assert_eq!(all[0]["operation"], "init");
    assert_eq!(all[0]["instance"], "b2");
    assert_eq!(all[0]["actor"], "Test User <test@example.com>");
    assert_eq!(all[0]["time"], "2026-01-14T13:00:00Z");
    let last = all.last().unwrap();
    assert_eq!(last["operation"], "init");
    assert_eq!(last["instance"], "a1");
    assert_eq!(
        last["instance_commit"],
        chain(&repo, "refs/ddx/instances/a1")[0].as_str()
    );
    let only_a1 = repo.ddx_json(&["audit", "log", "--json", "--instance", "a"]);
    assert_eq!(only_a1.as_array().unwrap().len(), all.len() - 1);
    let since = repo.ddx_json(&["audit", "log", "--json", "--since", "2026-01-14T12:15:00Z"]);
    let ops: Vec<&str> = since
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["init", "abort", "skip"]);
    let until = repo.ddx_json(&[
        "audit",
        "log",
        "--json",
        "--until",
        "2026-01-14T12:01:00Z",
        "-i",
        "a1",
    ]);
    assert_eq!(until.as_array().unwrap().len(), 1);
    let text = repo.ddx_ok(&["audit", "log", "-n", "2"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains(" init       b2 init mini 0.1.0  Test User <test@example.com>"),
        "{text}"
    );
    let out = repo.ddx(&["audit", "log", "--instance", "zz"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

#[test]
fn audit_show_reads_an_entry_by_id_prefix_or_position() {
    let repo = setup();
    journey(&repo);
    let approve = chain(&repo, "refs/ddx/audit")[2].clone();
    let by_prefix = repo.ddx_json(&["audit", "show", &approve[..8], "--json"]);
    assert_eq!(by_prefix["id"], approve.as_str());
    assert_eq!(by_prefix["operation"], "approve");
    assert_eq!(by_prefix["args"]["phase"], "frame");
    assert_eq!(
        by_prefix["args"]["comment"],
        "reviewed in the weekly meeting"
    );
    assert_eq!(
        by_prefix["event"]["commit"],
        repo.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Ddx-Instance-Commit,valueonly)",
            &approve
        ])
        .trim()
    );
    let n = chain(&repo, "refs/ddx/audit").len();
    let by_position = repo.ddx_json(&["audit", "show", &format!("audit~{}", n - 3), "--json"]);
    assert_eq!(by_position["id"], approve.as_str());
    let head = repo.ddx_ok(&["audit", "show", "audit"]);
    assert!(
        head.starts_with(&format!("audit entry {}", rev(&repo, "refs/ddx/audit"))),
        "{head}"
    );
    assert!(head.contains("operation:       abort"), "{head}");
    // A commit outside the audit chain is not an entry.
    let event = rev(&repo, "refs/ddx/instances/a1");
    let out = repo.ddx(&["audit", "show", &event]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains(&format!("`{event}` names no entry of refs/ddx/audit")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint: `ddx audit log` lists the entries"));
}

#[test]
fn operations_that_touch_no_instance_are_audited_through_the_library() {
    let repo = setup();
    journey(&repo);
    let store = ddx::store::Repo::discover(&repo.root).unwrap();
    let identity = store.identity().unwrap();
    let record = ddx::store::audit::AuditRecord {
        operation: "repo-add".into(),
        summary: "repo add team /srv/team.git".into(),
        args: [("name".to_owned(), "team".to_owned())].into(),
    };
    let before = rev(&repo, "refs/ddx/audit");
    let dry = ddx::store::audit::record_operation(&store, &identity, &record, true).unwrap();
    assert!(matches!(dry, ddx::store::transaction::Outcome::DryRun(_)));
    assert_eq!(
        rev(&repo, "refs/ddx/audit"),
        before,
        "a dry run writes nothing"
    );
    ddx::store::audit::record_operation(&store, &identity, &record, false).unwrap();
    let head = rev(&repo, "refs/ddx/audit");
    assert_eq!(rev(&repo, "refs/ddx/audit~1"), before);
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/ddx/audit"]);
    assert!(
        msg.starts_with("ddx(audit): repo add team /srv/team.git\n"),
        "{msg}"
    );
    assert!(msg.contains("Ddx-Operation: repo-add\n"), "{msg}");
    assert!(!msg.contains("Ddx-Instance"), "{msg}");
    let entry = repo.git(&["show", "refs/ddx/audit:entry.yml"]);
    assert!(entry.contains("operation: repo-add\n"), "{entry}");
    assert!(entry.contains("  name: team\n"), "{entry}");
    assert!(!entry.contains("instance"), "{entry}");
    let heads = std::fs::read_to_string(repo.path(".git/ddx/heads")).unwrap();
    assert!(
        heads.contains(&format!("refs/ddx/audit: {head}")),
        "{heads}"
    );
    // The chain still verifies, and the next event follows the operation's entry.
    let (code, v) = verify(&repo);
    assert_eq!(code, 0, "{v:#}");
    ok_at(&repo, 50, &["workflow", "restore", "cp1"]);
    let tip = rev(&repo, "refs/ddx/instances/a1");
    assert!(repo
        .git(&["log", "-1", "--format=%B", &tip])
        .contains(&format!("Ddx-Audit-Parent: {head}")));
    let (code, v) = verify(&repo);
    assert_eq!(code, 0, "{v:#}");
    let log = repo.ddx_json(&["audit", "log", "--json"]);
    assert_eq!(log[1]["operation"], "repo-add");
    assert!(log[1].get("instance").is_none());
}

/// Applying a workflow (an `init` that starts phases, approves their input gates and writes
/// artifacts), continuing it, machine checks, command actions and forced completions: every
/// event replays, and what it records of the work tree agrees with its trailers.
#[test]
fn histories_of_apply_checks_and_actions_replay() {
    let repo = TestRepo::new();
    repo.write("README.md", "# shop\n");
    repo.write(
        "wf/workflow.yml",
        "name: acts\nversion: 1.0.0\nphases:\n  - id: a\n    order: 1\n    input_gates:\n      - A sponsor asked for it\n    exit_criteria:\n      - criteria: Notes exist\n        check: {file_exists: out.txt}\n  - id: b\n    order: 2\n    exit_criteria:\n      - Reviewed\n",
    );
    repo.write(
        "wf/phases/01-a/actions/build.md",
        "---\ndescription: Builds\ncommand: \"echo built > out.txt\"\n---\n# Build\n",
    );
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "w1"]);
    let init = repo.git(&["log", "-1", "--format=%B", "refs/ddx/instances/w1"]);
    assert!(init.contains("Ddx-Step: start-ready"), "{init}");
    repo.ddx_ok(&["action", "run", "build", "--trust"]);
    let action = repo.git(&["log", "-1", "--format=%B", "refs/ddx/instances/w1"]);
    assert!(action.contains("Ddx-File: "), "{action}");
    repo.ddx_ok(&["workflow", "next"]);
    let next = repo.git(&["log", "-1", "--format=%B", "refs/ddx/instances/w1"]);
    assert!(next.contains("Ddx-Check: a 2 passed"), "{next}");
    repo.ddx_ok(&["phase", "complete", "b", "--force", "--reason", "shipped"]);
    let (code, v) = verify(&repo);
    assert_eq!(code, 0, "{v:#}");
    let ids = chain(&repo, "refs/ddx/instances/w1");
    assert_eq!(v["checked"]["replayed"], ids.len() as u64, "{v:#}");

    // A file record its Ddx-File trailer does not vouch for is a break of replay.
    let k = ids
        .iter()
        .position(|i| {
            repo.git(&["log", "-1", "--format=%s", i])
                .contains("action a/build")
        })
        .unwrap();
    let mut metas: Vec<Meta> = ids[k..].iter().map(|i| meta(&repo, i)).collect();
    let state = repo.git(&["show", &format!("{}:state.yml", ids[k])]);
    let after = repo.git(&["hash-object", "out.txt"]);
    let forged_state = state.replacen(
        &format!("after: {}", after.trim()),
        "after: 0123456789abcdef0123456789abcdef01234567",
        1,
    );
    assert_ne!(state, forged_state, "the state records out.txt: {state}");
    metas[0].tree = with_blob(&repo, &metas[0].tree, "state.yml", &forged_state);
    let forged = rebuild(
        &repo,
        "refs/ddx/instances/w1",
        &[ids[k - 1].clone()],
        &metas,
    );
    assert_break(
        &repo,
        "refs/ddx/instances/w1",
        &forged[0],
        "replay",
        "its state.yml records out.txt otherwise than its Ddx-File trailer and time say",
    );
}

#[test]
fn an_audit_ref_pointing_at_a_blob_is_refused_and_nothing_is_written() {
    let repo = setup();
    ok_at(
        &repo,
        0,
        &[
            "workflow",
            "init",
            "./wf",
            "--var",
            "project_name=shop",
            "--id",
            "a1",
        ],
    );
    let instance = rev(&repo, "refs/ddx/instances/a1");
    let blob = git_stdin(
        &repo,
        &["hash-object", "-w", "--stdin"],
        &[],
        b"not a commit\n",
    );
    let blob = blob.trim().to_owned();
    repo.git(&["update-ref", "refs/ddx/audit", &blob]);
    let objects_before = repo.git(&["count-objects", "-v"]);

    let out = ddx_at(&repo, 1, &["gate", "approve", "frame", "1"]);
    assert!(
        !out.status.success(),
        "approve on a damaged audit ref succeeded"
    );
    let err = stderr(&out);
    assert!(
        err.contains("refs/ddx/audit is damaged") && err.contains("not a commit"),
        "unexpected error: {err}"
    );
    assert_eq!(rev(&repo, "refs/ddx/audit"), blob);
    assert_eq!(rev(&repo, "refs/ddx/instances/a1"), instance);
    assert_eq!(repo.git(&["count-objects", "-v"]), objects_before);
}
