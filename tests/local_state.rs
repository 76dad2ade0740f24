//! Local, never-shared files under `.git/ddx/` are bookkeeping: damaged, they are warned about
//! and rebuilt, never fatal to a read-only command; and one instance ddx cannot read hides none
//! of the others. Checked against the real `git` binary.

mod common;

use common::{stderr, stdout, TestRepo, MINI_WORKFLOW};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", MINI_WORKFLOW);
    repo.commit_all("initial");
    init(&repo, "a1");
    repo.ddx_ok(&["workflow", "next", "-i", "a1"]);
    repo
}

fn init(repo: &TestRepo, id: &str) {
    repo.ddx_ok(&[
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        id,
    ]);
}

fn rev(repo: &TestRepo, spec: &str) -> String {
    repo.git(&["rev-parse", spec]).trim().to_owned()
}

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

/// Runs ddx; asserts it succeeded; returns stdout and stderr.
fn ddx_ok_err(repo: &TestRepo, args: &[&str]) -> (String, String) {
    let out = repo.ddx(args);
    assert!(
        out.status.success(),
        "ddx {args:?} failed with {:?}:\n{}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    (stdout(&out), stderr(&out))
}

fn fsck(repo: &TestRepo) {
    repo.git(&["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn non_utf8_bytes_in_verified_are_warned_about_and_rebuilt() {
    let repo = setup();
    repo.ddx_ok(&["audit", "verify"]);
    let file = repo.path(".git/ddx/verified");
    let good = std::fs::read(&file).unwrap();
    let mut damaged = b"\xff\xfe not a line\n".to_vec();
    damaged.extend_from_slice(&good);
    std::fs::write(&file, &damaged).unwrap();
    let (out, err) = ddx_ok_err(&repo, &["audit", "verify", "--json", "--no-record"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true, "{v:#}");
    assert!(
        err.contains(".git/ddx/verified is damaged (line 1): those heads are not compared"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        damaged,
        "--no-record leaves it"
    );
    // A verification that records rewrites it whole.
    let (_, err) = ddx_ok_err(&repo, &["audit", "verify"]);
    assert!(err.contains("is damaged"), "{err}");
    let rebuilt = String::from_utf8(std::fs::read(&file).unwrap()).expect("UTF-8 again");
    assert_eq!(rebuilt.as_bytes(), good.as_slice());
    let (_, err) = ddx_ok_err(&repo, &["audit", "verify", "--no-record"]);
    assert!(!err.contains("damaged"), "{err}");
}

#[test]
fn non_utf8_bytes_in_heads_are_warned_about_and_rebuilt() {
    let repo = setup();
    let file = repo.path(".git/ddx/heads");
    std::fs::write(&file, b"heads:\n  refs/ddx/audit: \xff\xff\xff\n# end\n").unwrap();
    for args in [
        &["workflow", "status"][..],
        &["workflow", "status", "--all"][..],
        &["audit", "verify", "--no-record"][..],
    ] {
        let (_, err) = ddx_ok_err(&repo, args);
        assert!(
            err.contains(".git/ddx/heads is damaged; the heads ddx wrote are forgotten, and the next ddx write rebuilds it"),
            "{args:?}: {err}"
        );
    }
    // The next write rebuilds it.
    repo.ddx_ok(&["gate", "approve", "frame", "1"]);
    let text = String::from_utf8(std::fs::read(&file).unwrap()).expect("UTF-8 again");
    let audit = rev(&repo, "refs/ddx/audit");
    let tip = rev(&repo, "refs/ddx/instances/a1");
    assert!(
        text.contains(&format!("  refs/ddx/audit: {audit}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  refs/ddx/instances/a1: {tip}\n")),
        "{text}"
    );
    let (_, err) = ddx_ok_err(&repo, &["workflow", "status"]);
    assert!(!err.contains("damaged"), "{err}");
    let (out, _) = ddx_ok_err(&repo, &["audit", "verify", "--json", "--no-record"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["ok"], true);
    fsck(&repo);
}

#[test]
fn an_instance_of_an_unknown_format_hides_none_of_the_others() {
    let repo = setup();
    init(&repo, "b1");
    // b1's tip moves to an event whose state has a format this ddx does not know.
    let tip = rev(&repo, "refs/ddx/instances/b1");
    let state = repo.git(&["show", &format!("{tip}:state.yml")]);
    let newer = state.replacen("format: 1\n", "format: 99\n", 1);
    assert_ne!(state, newer);
    let blob = git_stdin(&repo, &["hash-object", "-w", "--stdin"], newer.as_bytes());
    let workflow = rev(&repo, &format!("{tip}:workflow"));
    let tree = git_stdin(
        &repo,
        &["mktree"],
        format!("100644 blob {blob}\tstate.yml\n040000 tree {workflow}\tworkflow\n").as_bytes(),
    );
    let newer_tip = git_stdin(
        &repo,
        &["commit-tree", &tree, "-p", &tip, "-m", "a newer ddx"],
        b"",
    );
    repo.git(&["update-ref", "refs/ddx/instances/b1", &newer_tip, &tip]);
    let (out, err) = ddx_ok_err(&repo, &["workflow", "status", "--all", "--json"]);
    let all: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1"], "{all:#}");
    assert!(
        err.contains("warning: instance b1 cannot be shown: ")
            && err.contains("state format 99, but this ddx reads format 1 only"),
        "{err}"
    );
    let (out, err) = ddx_ok_err(&repo, &["workflow", "status", "--all"]);
    assert!(out.starts_with("a1  mini 0.1.0  running"), "{out}");
    assert!(err.contains("instance b1 cannot be shown"), "{err}");
    fsck(&repo);
}
