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
    let repo = TestRepo::new();
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
