//! What ddx reads of its own objects is what their ids name: replacement refs (`git replace`)
//! are never followed, and an object whose bytes no longer hash to its id is named by
//! `ddx audit verify` and refused by a write — checked with the real `git` binary.

mod common;

use common::{stderr, stdout, TestRepo, MINI_WORKFLOW};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

const INSTANCE: &str = "refs/ddx/instances/a1";

/// A repository with the mini workflow committed and instance `a1` initialised.
fn setup() -> TestRepo {
    setup_in(TestRepo::new())
}

/// The same in a SHA-256 repository.
fn setup_sha256() -> TestRepo {
    let repo = TestRepo::plain();
    repo.git(&["init", "-q", "-b", "main", "--object-format=sha256"]);
    repo.git(&["config", "user.name", "Test User"]);
    repo.git(&["config", "user.email", "test@example.com"]);
    setup_in(repo)
}

fn setup_in(repo: TestRepo) -> TestRepo {
    repo.write("wf/workflow.yml", MINI_WORKFLOW);
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        "a1",
    ]);
    repo
}

fn rev(repo: &TestRepo, spec: &str) -> String {
    repo.git(&["rev-parse", spec]).trim().to_owned()
}

/// Runs git with `input` on stdin; returns its trimmed stdout.
fn git_stdin(repo: &TestRepo, args: &[&str], input: &[u8]) -> String {
    let mut child = repo
        .command("git")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// What git itself reads, replacements ignored.
fn git_real(repo: &TestRepo, args: &[&str]) -> String {
    let mut all = vec!["--no-replace-objects"];
    all.extend_from_slice(args);
    repo.git(&all)
}

fn verify(repo: &TestRepo) -> (i32, Value) {
    let out = repo.ddx(&["audit", "verify", "--json", "--no-record"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The breaks of a verification as (ref, commit, kind, problem).
fn breaks(v: &Value) -> Vec<(String, String, String, String)> {
    v["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap_or("").to_owned();
            (s("ref"), s("commit"), s("kind"), s("problem"))
        })
        .collect()
}

fn fsck(repo: &TestRepo) {
    repo.git(&["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_replaced_state_blob_is_not_followed_and_verify_names_it() {
    let repo = setup();
    let tip = rev(&repo, INSTANCE);
    let blob = rev(&repo, &format!("{tip}:state.yml"));
    let state = repo.git(&["show", &format!("{tip}:state.yml")]);
    let forged_state = state.replacen("status: pending\n", "status: cancelled\n", 1);
    assert_ne!(
        state, forged_state,
        "the state has the shape this test expects"
    );
    let forged = git_stdin(
        &repo,
        &["hash-object", "-w", "--stdin"],
        forged_state.as_bytes(),
    );
    repo.git(&["replace", &blob, &forged]);
    // git itself now shows the forged state...
    assert!(repo
        .git(&["show", &format!("{INSTANCE}:state.yml")])
        .contains("status: cancelled"));
    // ...ddx reads what the ids name.
    let status = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(status["status"], "pending", "{status:#}");
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(
        breaks(&v),
        vec![(
            INSTANCE.to_owned(),
            tip.clone(),
            "replaced".to_owned(),
            format!(
                "blob {blob} (state.yml of event {}) is replaced by {forged} (refs/replace/{blob}): git shows other content than ddx recorded; `git replace -d {blob}` removes the replacement",
                &tip[..12]
            )
        )]
    );
    // A write builds on the real state, not on the substitute (a cancelled instance would
    // refuse to start its phases).
    repo.ddx_ok(&["workflow", "next"]);
    let new_tip = rev(&repo, INSTANCE);
    assert_eq!(rev(&repo, &format!("{new_tip}^")), tip);
    let written = git_real(&repo, &["show", &format!("{new_tip}:state.yml")]);
    assert!(written.contains("\nstatus: running\n"), "{written}");
    repo.git(&["replace", "-d", &blob]);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    fsck(&repo);
}

#[test]
fn a_replaced_event_commit_is_not_followed() {
    let repo = setup();
    repo.ddx_ok(&["workflow", "next"]);
    let tip = rev(&repo, INSTANCE);
    // The forged commit: the first event's tree (nothing started) under the tip's message.
    let first = rev(&repo, &format!("{INSTANCE}~1"));
    let raw = repo.git(&["cat-file", "commit", &tip]);
    let forged_raw = raw.replacen(
        &format!("tree {}", rev(&repo, &format!("{tip}^{{tree}}"))),
        &format!("tree {}", rev(&repo, &format!("{first}^{{tree}}"))),
        1,
    );
    assert_ne!(raw, forged_raw);
    let forged = git_stdin(
        &repo,
        &["hash-object", "-w", "-t", "commit", "--stdin"],
        forged_raw.as_bytes(),
    );
    repo.git(&["replace", &tip, &forged]);
    assert!(repo
        .git(&["show", &format!("{INSTANCE}:state.yml")])
        .contains("\nstatus: pending\n"));
    let status = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(status["status"], "running", "{status:#}");
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    let all = breaks(&v);
    assert!(
        all.iter().any(|(r, c, k, p)| r == INSTANCE
            && *c == tip
            && k == "replaced"
            && p.contains(&format!("`git replace -d {tip}`"))),
        "{all:#?}"
    );
    // The next event follows the real tip, with the real state.
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let new_tip = rev(&repo, INSTANCE);
    assert_eq!(
        git_real(&repo, &["rev-parse", &format!("{new_tip}^")]).trim(),
        tip
    );
    repo.git(&["replace", "-d", &tip]);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    fsck(&repo);
}

fn loose_path(repo: &TestRepo, id: &str) -> std::path::PathBuf {
    repo.root.join(".git/objects").join(&id[..2]).join(&id[2..])
}

/// Overwrites loose object `id` with the (valid, compressed) file of another object holding
/// `content` as a `kind`; returns the other object's id and the original bytes.
fn corrupt(repo: &TestRepo, id: &str, kind: &str, content: &[u8]) -> (String, Vec<u8>) {
    let other = git_stdin(
        repo,
        &["hash-object", "-w", "--literally", "-t", kind, "--stdin"],
        content,
    );
    let path = loose_path(repo, id);
    let original = std::fs::read(&path).expect("a loose object");
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::copy(loose_path(repo, &other), &path).unwrap();
    (other, original)
}

fn restore(repo: &TestRepo, id: &str, original: &[u8]) {
    std::fs::write(loose_path(repo, id), original).unwrap();
}

#[test]
fn a_corrupted_loose_state_blob_is_named_and_never_built_on() {
    let repo = setup();
    repo.ddx_ok(&["workflow", "next"]);
    let tip = rev(&repo, INSTANCE);
    let audit = rev(&repo, "refs/ddx/audit");
    let blob = rev(&repo, &format!("{tip}:state.yml"));
    let state = repo.git(&["show", &format!("{tip}:state.yml")]);
    let forged_state = state.replacen("\nstatus: running\n", "\nstatus: completed\n", 1);
    assert_ne!(state, forged_state);
    let (other, original) = corrupt(&repo, &blob, "blob", forged_state.as_bytes());
    let damaged = format!(
        "it is damaged: its bytes hash to {other}, not to its id (`git fsck` names it too)"
    );
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(
        breaks(&v),
        vec![(
            INSTANCE.to_owned(),
            tip.clone(),
            "damaged_object".to_owned(),
            format!("its state.yml ({blob}) cannot be read: {damaged}")
        )]
    );
    // A write refuses, naming the object, and moves nothing.
    let out = repo.ddx(&["gate", "approve", "frame", "1"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert_ne!(out.status.code(), Some(101), "no panic: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{INSTANCE} is damaged at {tip}: its state.yml cannot be read: {blob}: {damaged}"
        )),
        "{err}"
    );
    assert_eq!(rev(&repo, INSTANCE), tip);
    assert_eq!(rev(&repo, "refs/ddx/audit"), audit);
    // A read says the same, without a panic.
    let out = repo.ddx(&["workflow", "status"]);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(101), "no panic: {}", stderr(&out));
    assert!(stderr(&out).contains(&blob), "{}", stderr(&out));
    restore(&repo, &blob, &original);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    fsck(&repo);
}

#[test]
fn a_corrupted_loose_audit_commit_is_named() {
    let repo = setup();
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let head = rev(&repo, "refs/ddx/audit");
    let middle = rev(&repo, "refs/ddx/audit~1");
    // The middle entry's file now holds the same commit with another actor.
    let raw = repo.git(&["cat-file", "commit", &middle]);
    let forged = raw.replace("Test User", "Mallory");
    assert_ne!(raw, forged);
    let (other, original) = corrupt(&repo, &middle, "commit", forged.as_bytes());
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    let all = breaks(&v);
    assert!(
        all.contains(&(
            "refs/ddx/audit".to_owned(),
            middle.clone(),
            "damaged_object".to_owned(),
            format!(
                "audit commit {middle} (a parent of {}) cannot be read: it is damaged: its bytes hash to {other}, not to its id (`git fsck` names it too)",
                &head[..12]
            )
        )),
        "{all:#?}"
    );
    restore(&repo, &middle, &original);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    fsck(&repo);
}

#[test]
fn a_corrupted_loose_object_is_named_in_a_sha256_repository() {
    let repo = setup_sha256();
    repo.ddx_ok(&["workflow", "next"]);
    let tip = rev(&repo, INSTANCE);
    assert_eq!(tip.len(), 64);
    let blob = rev(&repo, &format!("{tip}:state.yml"));
    let (other, original) = corrupt(&repo, &blob, "blob", b"format: 1\n");
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(
        breaks(&v),
        vec![(
            INSTANCE.to_owned(),
            tip.clone(),
            "damaged_object".to_owned(),
            format!("its state.yml ({blob}) cannot be read: it is damaged: its bytes hash to {other}, not to its id (`git fsck` names it too)")
        )]
    );
    restore(&repo, &blob, &original);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    fsck(&repo);
}

/// Writes a copy of audit commit `id` with `edit` applied to its message and its `entry.yml`
/// alike, on `parents`, with `git commit-tree` and the same author and committer: a careful
/// forgery.
fn forge_entry(
    repo: &TestRepo,
    id: &str,
    parents: &[&str],
    edit: impl Fn(&str) -> String,
) -> String {
    let entry = edit(&repo.git(&["show", &format!("{id}:entry.yml")]));
    let blob = git_stdin(repo, &["hash-object", "-w", "--stdin"], entry.as_bytes());
    let tree = git_stdin(
        repo,
        &["mktree"],
        format!("100644 blob {blob}\tentry.yml\n").as_bytes(),
    );
    let message = edit(&repo.git(&["log", "-1", "--format=%B", id]));
    let who = |f: &str| {
        repo.git(&["log", "-1", &format!("--format={f}"), id])
            .trim()
            .to_owned()
    };
    let mut args = vec!["commit-tree".to_owned(), tree];
    for p in parents {
        args.extend(["-p".to_owned(), (*p).to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = repo
        .command("git")
        .args(&args)
        .env("GIT_AUTHOR_NAME", who("%an"))
        .env("GIT_AUTHOR_EMAIL", who("%ae"))
        .env(
            "GIT_AUTHOR_DATE",
            who("%ad --date=raw").replace("--date=raw", ""),
        )
        .env("GIT_COMMITTER_NAME", who("%cn"))
        .env("GIT_COMMITTER_EMAIL", who("%ce"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.trim_end().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// Asserts that verification fails with exactly `expected` among its breaks.
fn assert_breaks_include(repo: &TestRepo, expected: &[(&str, &str, &str, String)]) {
    let (code, v) = verify(repo);
    assert_eq!(code, 3, "{v:#}");
    let all = breaks(&v);
    for (r, c, k, p) in expected {
        assert!(
            all.contains(&(r.to_string(), c.to_string(), k.to_string(), p.clone())),
            "no {k} break on {r} at {c}: `{p}` in\n{all:#?}"
        );
    }
}

/// Two events and their entries: init, next, approve.
fn approved() -> TestRepo {
    let repo = setup();
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    repo
}

#[test]
fn a_copy_of_the_last_audit_entry_is_a_forged_entry() {
    let repo = approved();
    let head = rev(&repo, "refs/ddx/audit");
    let tip = rev(&repo, INSTANCE);
    let copy = forge_entry(&repo, &head, &[&head], |s| s.to_owned());
    assert_ne!(copy, head);
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Ddx-Instance-Commit,valueonly)",
            &copy
        ])
        .trim(),
        tip
    );
    repo.git(&["update-ref", "refs/ddx/audit", &copy, &head]);
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(
        breaks(&v),
        vec![(
            "refs/ddx/audit".to_owned(),
            copy.clone(),
            "forged_entry".to_owned(),
            format!(
                "it records event {} of a1, which audit entry {} already records: each event has one entry, so this one was copied outside ddx",
                &tip[..12],
                &head[..12]
            )
        )]
    );
    repo.git(&["update-ref", "refs/ddx/audit", &head, &copy]);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    fsck(&repo);
}

#[test]
fn invented_audit_entries_are_forged_entries() {
    let repo = approved();
    let head = rev(&repo, "refs/ddx/audit");
    let tip = rev(&repo, INSTANCE);
    let project = rev(&repo, "HEAD");
    // An entry of another operation naming the last event.
    let skip = forge_entry(&repo, &head, &[&head], |s| {
        s.replace("Ddx-Operation: approve", "Ddx-Operation: skip")
            .replace("operation: approve", "operation: skip")
    });
    // An entry naming the project's commit as its event.
    let elsewhere = forge_entry(&repo, &head, &[&skip], |s| s.replace(&tip, &project));
    // An entry of the instance naming no event at all.
    let nothing = forge_entry(&repo, &head, &[&elsewhere], |s| {
        s.lines()
            .filter(|l| {
                !l.starts_with("Ddx-Instance-Commit: ") && !l.starts_with("instance_commit: ")
            })
            .map(|l| format!("{l}\n"))
            .collect()
    });
    repo.git(&["update-ref", "refs/ddx/audit", &nothing, &head]);
    assert_breaks_include(
        &repo,
        &[
            (
                "refs/ddx/audit",
                &skip,
                "forged_entry",
                format!(
                    "it records `skip` of event {} of a1, but that event is `approve`: ddx did not write this entry",
                    &tip[..12]
                ),
            ),
            (
                "refs/ddx/audit",
                &elsewhere,
                "forged_entry",
                format!("it names commit {project} as its event, but that commit is no event of a1: ddx did not write this entry"),
            ),
            (
                "refs/ddx/audit",
                &nothing,
                "forged_entry",
                "it is an entry of instance a1 that names no event of it (no valid Ddx-Instance-Commit): ddx did not write it".to_owned(),
            ),
        ],
    );
    fsck(&repo);
}

#[test]
fn an_audit_entry_whose_arguments_differ_from_its_event_is_a_forged_entry() {
    let repo = approved();
    let head = rev(&repo, "refs/ddx/audit");
    let parent = rev(&repo, "refs/ddx/audit~1");
    let tip = rev(&repo, INSTANCE);
    let other = forge_entry(&repo, &head, &[&parent], |s| {
        s.replace(
            "Problem statement clearly documented",
            "Success metrics defined",
        )
    });
    repo.git(&["update-ref", "refs/ddx/audit", &other, &head]);
    assert_breaks_include(
        &repo,
        &[(
            "refs/ddx/audit",
            &other,
            "forged_entry",
            format!(
                "it records event {} of a1, but not as the event was: its `criterion` is `Success metrics defined`, but the event's Ddx-Criterion says `Problem statement clearly documented`",
                &tip[..12]
            ),
        )],
    );
    fsck(&repo);
}

#[test]
fn a_corrupted_pinned_workflow_file_is_named_and_never_loaded() {
    let repo = setup();
    let tip = rev(&repo, INSTANCE);
    let blob = rev(&repo, &format!("{tip}:workflow/workflow.yml"));
    assert!(
        loose_path(&repo, &blob).is_file(),
        "the pinned file is loose"
    );
    let definition = repo.git(&["cat-file", "blob", &blob]);
    let forged = definition.replace("Problem statement clearly documented", "Nothing at all");
    assert_ne!(definition, forged);
    let (other, original) = corrupt(&repo, &blob, "blob", forged.as_bytes());
    let out = repo.ddx(&["workflow", "next"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert_ne!(out.status.code(), Some(101), "no panic: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "blob {blob}: it is damaged: its bytes hash to {other}"
        )),
        "{err}"
    );
    assert_eq!(rev(&repo, INSTANCE), tip, "nothing was written");
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    let all = breaks(&v);
    assert!(
        all.iter().any(|(r, c, k, p)| r == INSTANCE
            && *c == tip
            && k == "damaged_object"
            && p.contains(&format!(
                "its pinned workflow/workflow.yml ({blob}) cannot be read: it is damaged"
            ))),
        "{all:#?}"
    );
    restore(&repo, &blob, &original);
    repo.ddx_ok(&["workflow", "next"]);
    fsck(&repo);
}

#[test]
fn a_replaced_object_of_a_fetched_catalog_is_named() {
    let repo = setup();
    // A catalog as `ddx repo add` keeps one: a commit under refs/ddx/sources/.
    repo.write("team/notes.md", "the team's catalog\n");
    repo.commit_all("catalog");
    let catalog = rev(&repo, "HEAD");
    repo.git(&["update-ref", "refs/ddx/sources/team", &catalog]);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    let blob = rev(&repo, &format!("{catalog}:team/notes.md"));
    let forged = git_stdin(&repo, &["hash-object", "-w", "--stdin"], b"another text\n");
    repo.git(&["replace", &blob, &forged]);
    let (code, v) = verify(&repo);
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(
        breaks(&v),
        vec![(
            "refs/ddx/sources/team".to_owned(),
            catalog.clone(),
            "replaced".to_owned(),
            format!(
                "blob {blob} (team/notes.md of commit {}) is replaced by {forged} (refs/replace/{blob}): git shows other content than ddx recorded; `git replace -d {blob}` removes the replacement",
                &catalog[..12]
            )
        )]
    );
    // A replaced project commit that no ddx ref reaches is no break of ddx's.
    repo.git(&["replace", "-d", &blob]);
    repo.commit_all("second");
    let second = rev(&repo, "HEAD");
    repo.git(&["replace", &second, &catalog]);
    let (code, v) = verify(&repo);
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v:#}");
    fsck(&repo);
}
