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
