//! Repository shapes git makes besides the default one: SHA-256 object ids and shared
//! (`--shared=group`) repositories. Each journey is checked with the real `git` binary.

mod common;

use common::{stderr, stdout, TestRepo};

const WORKFLOW: &str = r#"name: shaped
version: 0.1.0
description: A workflow with one artifact, for repository shapes
variables:
  - name: project_name
    required: true
phases:
  - id: frame
    order: 1
    name: Frame
    exit_criteria:
      - Problem statement clearly documented
  - id: build
    order: 2
    name: Build
    exit_criteria:
      - Reviewed
"#;

/// A repository made by `git init ARGS`, holding the workflow above, committed.
fn repo_with(init: &[&str]) -> TestRepo {
    let repo = TestRepo::plain();
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend_from_slice(init);
    repo.git(&args);
    repo.git(&["config", "user.name", "Test User"]);
    repo.git(&["config", "user.email", "test@example.com"]);
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.write(
        "wf/phases/01-frame/artifacts/brief/template.md",
        "# {{ project_name }}\n\nThe problem.\n",
    );
    repo.write(
        "wf/phases/01-frame/artifacts/brief/meta.yml",
        "name: Brief\noutput:\n  location: docs/brief.md\n",
    );
    repo.commit_all("initial");
    repo
}

fn ok(repo: &TestRepo, args: &[&str]) -> String {
    let out = repo.ddx(args);
    assert!(
        out.status.success(),
        "ddx {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// apply, approve, complete, checkpoint, verify: the whole chain written and checked.
fn journey(repo: &TestRepo) {
    ok(
        repo,
        &[
            "workflow",
            "apply",
            "./wf",
            "--var",
            "project_name=shop",
            "--id",
            "s1",
        ],
    );
    ok(repo, &["gate", "approve", "frame", "1"]);
    ok(repo, &["workflow", "next"]);
    ok(repo, &["checkpoint", "create", "cp1"]);
    ok(repo, &["gate", "approve", "build", "1"]);
    let verify = ok(repo, &["audit", "verify"]);
    assert!(verify.contains("every chain is intact"), "{verify}");
    let fsck = repo
        .command("git")
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "git fsck: {}", stderr(&fsck));
}

#[test]
fn a_sha256_repository_gets_sha256_objects_that_git_reads() {
    let repo = repo_with(&["--object-format=sha256"]);
    journey(&repo);
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/s1"]);
    assert_eq!(tip.trim().len(), 64, "not a SHA-256 id: {tip}");
    assert_eq!(repo.git(&["cat-file", "-t", tip.trim()]).trim(), "commit");
    let audit = repo.git(&["rev-parse", "refs/ddx/audit"]);
    assert_eq!(audit.trim().len(), 64);
    // The change tracker records the artifact under the id git gives it.
    let blob = repo.git(&["hash-object", "docs/brief.md"]);
    let state = repo.git(&["show", "refs/ddx/instances/s1:state.yml"]);
    assert!(
        state.contains(blob.trim()),
        "state.yml does not record docs/brief.md as {blob}:\n{state}"
    );
    let log = repo.git(&["log", "--format=%s", "refs/ddx/audit"]);
    assert_eq!(log.lines().count(), 5, "{log}");
}

#[cfg(unix)]
#[test]
fn a_group_shared_repository_gets_the_modes_git_gives_its_own_files() {
    use std::os::unix::fs::PermissionsExt;
    let repo = repo_with(&["--shared=group"]);
    journey(&repo);
    let mode = |rel: &str| {
        std::fs::metadata(repo.path(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o7777
    };
    // git's own ref and reflog of the branch, against ddx's.
    assert_eq!(mode(".git/refs/ddx/audit"), mode(".git/refs/heads/main"));
    assert_eq!(
        mode(".git/logs/refs/ddx/audit"),
        mode(".git/logs/refs/heads/main")
    );
    assert_eq!(
        mode(".git/refs/ddx/audit") & 0o060,
        0o060,
        "refs must be group-writable"
    );
    // Every object folder and object ddx wrote has the group bits git gives.
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/s1"]);
    let tip = tip.trim();
    let folder = format!(".git/objects/{}", &tip[..2]);
    let object = format!("{folder}/{}", &tip[2..]);
    assert_eq!(
        mode(&folder) & 0o2070,
        0o2070,
        "{folder} is {:o}",
        mode(&folder)
    );
    assert_eq!(
        mode(&object) & 0o040,
        0o040,
        "{object} is {:o}",
        mode(&object)
    );
}
