//! Git hooks with real `git commit` and `git push`: gates enforced, trailers, notes, bypasses.

mod common;

use common::{stderr, TestRepo};

const WORKFLOW: &str = "name: guarded
version: 1.0.0
phases:
  - id: tests
    name: Write the tests
    protected_paths: [\"src/**\"]
    exit_criteria: [Tests are written]
  - id: build
    name: Build
    exit_criteria:
      - criteria: No TODO markers are committed
        on: commit
        check: {pattern: TODO, path: src/, expected: 0}
";

/// A repository with one commit, the guarded workflow started at its first phase.
fn guarded_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.write(".wf/guarded/workflow.yml", WORKFLOW);
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "init", "./.wf/guarded", "--id", "guarded-1"]);
    repo.ddx_ok(&["workflow", "next"]);
    repo
}

fn commit(repo: &TestRepo, args: &[&str]) -> std::process::Output {
    let mut full = vec!["commit", "-q"];
    full.extend_from_slice(args);
    repo.command("git")
        .env("PATH", path_with_ddx())
        .args(full)
        .output()
        .unwrap()
}

fn path_with_ddx() -> String {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_ddx"))
        .parent()
        .unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_forbidden_commit_is_refused_and_an_allowed_one_gets_trailers_and_a_note() {
    let repo = guarded_repo();
    repo.ddx_ok(&["hooks", "install"]);
    repo.write("src/lib.rs", "pub fn f() {}\n");
    repo.git(&["add", "src/lib.rs"]);
    let out = commit(&repo, &["-m", "implementation too early"]);
    assert!(!out.status.success(), "the commit must be refused");
    let err = stderr(&out);
    assert!(
        err.contains("[guarded-1 / phase tests] protected_paths: src/**: src/lib.rs is protected while phase `tests` is in progress"),
        "{err}"
    );
    assert!(
        err.contains("ddx phase complete tests -i guarded-1"),
        "{err}"
    );
    assert!(err.contains("git commit --no-verify"), "{err}");
    assert_eq!(
        repo.git(&["rev-list", "--count", "HEAD"]).trim(),
        "1",
        "nothing was committed"
    );

    repo.git(&["restore", "--staged", "src/lib.rs"]);
    repo.write("tests/cart.rs", "#[test] fn t() {}\n");
    repo.git(&["add", "tests/cart.rs"]);
    let out = commit(&repo, &["-m", "Add a cart test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert_eq!(
        message,
        "Add a cart test\n\nDdx-Instance: guarded-1\nDdx-Phase: tests\n\n"
    );
    let note = repo.git(&["notes", "--ref=ddx", "show", "HEAD"]);
    let json: serde_json::Value = serde_json::from_str(note.trim()).unwrap();
    assert_eq!(json["instance"], "guarded-1");
    assert_eq!(json["phase"], "tests");
    assert_eq!(
        json["audit"].as_str().unwrap(),
        repo.git(&["rev-parse", "refs/ddx/audit"]).trim()
    );
    let log = repo.git(&["log", "-1", "--notes=ddx", "--format=%N"]);
    assert!(log.contains("\"instance\":\"guarded-1\""), "{log}");
}

#[test]
fn a_no_verify_commit_lands_and_is_recorded_as_a_bypass() {
    let repo = guarded_repo();
    repo.ddx_ok(&["hooks", "install"]);
    repo.write("src/lib.rs", "pub fn f() {}\n");
    repo.git(&["add", "src/lib.rs"]);
    let out = commit(&repo, &["--no-verify", "-m", "skip the gate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("committed without the pre-commit hook; recorded as a bypass"));
    let note = repo.git(&["notes", "--ref=ddx", "show", "HEAD"]);
    let json: serde_json::Value = serde_json::from_str(note.trim()).unwrap();
    assert_eq!(json["bypass"], true);
    assert_eq!(json["instance"], "guarded-1");
    // The audit chain records the bypass, and the note names that entry.
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let entry = repo.git(&["log", "-1", "--format=%B", "refs/ddx/audit"]);
    assert!(entry.contains("Ddx-Operation: bypass\n"), "{entry}");
    assert!(entry.contains(&format!("Ddx-Commit: {head}\n")), "{entry}");
    assert!(entry.contains("Ddx-Instances: guarded-1\n"), "{entry}");
    assert_eq!(
        json["audit"].as_str().unwrap(),
        repo.git(&["rev-parse", "refs/ddx/audit"]).trim()
    );
    // The compliance report shows it as a deviation of the instance; the history verifies.
    let report: serde_json::Value =
        serde_json::from_str(&repo.ddx_ok(&["audit", "report", "--format", "json"])).unwrap();
    let deviations = report["instances"][0]["deviations"].as_array().unwrap();
    assert!(
        deviations
            .iter()
            .any(|d| d["kind"] == "bypass" && d["detail"].as_str().unwrap().contains(&head[..12])),
        "{deviations:#?}"
    );
    repo.ddx_ok(&["audit", "verify"]);
}

#[test]
fn install_and_uninstall_are_audited_once_each() {
    let repo = guarded_repo();
    let before = repo.git(&["rev-list", "--count", "refs/ddx/audit"]);
    repo.ddx_ok(&["hooks", "install", "--dry-run"]);
    repo.ddx_ok(&["hooks", "install"]);
    repo.ddx_ok(&["hooks", "install"]);
    let ops = repo.git(&[
        "log",
        "--format=%(trailers:key=Ddx-Operation,valueonly)",
        "refs/ddx/audit",
    ]);
    let ops: Vec<&str> = ops.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(ops[0], "hooks-install", "{ops:?}");
    assert_eq!(
        ops[1], "next",
        "a second install changes nothing and records nothing"
    );
    repo.ddx_ok(&["hooks", "uninstall"]);
    let after = repo.git(&["rev-list", "--count", "refs/ddx/audit"]);
    assert_eq!(
        after.trim().parse::<u32>().unwrap(),
        before.trim().parse::<u32>().unwrap() + 2
    );
    assert!(repo
        .git(&["log", "-1", "--format=%s", "refs/ddx/audit"])
        .contains("hooks uninstall"));
    repo.ddx_ok(&["audit", "verify"]);
}

#[test]
fn a_criterion_checked_at_commit_judges_the_index_not_the_work_tree() {
    let repo = guarded_repo();
    repo.ddx_ok(&["phase", "complete", "tests", "--force"]);
    repo.ddx_ok(&["workflow", "next"]);
    repo.ddx_ok(&["hooks", "install"]);
    repo.write("src/lib.rs", "// TODO: finish\n");
    repo.git(&["add", "src/lib.rs"]);
    // The work tree is clean of TODOs, but the index is not.
    repo.write("src/lib.rs", "pub fn done() {}\n");
    let out = commit(&repo, &["-m", "with a TODO staged"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("No TODO markers are committed: 1 match of TODO in src/ (expected 0)"),
        "{}",
        stderr(&out)
    );
    repo.git(&["add", "src/lib.rs"]);
    let out = commit(&repo, &["-m", "clean"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_existing_hook_keeps_running_and_uninstall_restores_it() {
    let repo = guarded_repo();
    let mine = "#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/mine.log\"\n";
    repo.write(".git/hooks/pre-commit", mine);
    std::process::Command::new("chmod")
        .args(["+x", repo.path(".git/hooks/pre-commit").to_str().unwrap()])
        .status()
        .unwrap();
    let out = repo.ddx_ok(&["hooks", "install"]);
    assert!(
        out.contains("pre-commit: installed; your hook kept as pre-commit.ddx-chained"),
        "{out}"
    );
    assert!(repo.ddx(&["hooks", "install"]).status.success());
    assert!(stderr(&repo.ddx(&["hooks", "install"])).contains("Nothing changed."));
    let status = repo.ddx_json(&["hooks", "status", "--json"]);
    assert_eq!(status["hooks"][0]["state"], "chained");
    repo.write("tests/a.rs", "\n");
    repo.git(&["add", "tests/a.rs"]);
    assert!(commit(&repo, &["-m", "a test"]).status.success());
    assert_eq!(repo.read(".git/mine.log"), "ran\n");
    repo.ddx_ok(&["hooks", "uninstall"]);
    assert_eq!(repo.read(".git/hooks/pre-commit"), mine);
    assert!(!repo.path(".git/hooks/commit-msg").exists());
    assert!(!repo.path(".git/hooks/pre-commit.ddx-chained").exists());
}

#[test]
fn core_hooks_path_and_linked_worktrees_are_honoured() {
    let repo = guarded_repo();
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    repo.ddx_ok(&["hooks", "install"]);
    assert!(repo.path(".githooks/pre-commit").exists());
    assert!(!repo.path(".git/hooks/pre-commit").exists());
    repo.git(&["config", "--unset", "core.hooksPath"]);
    repo.ddx_ok(&["hooks", "install"]);
    let wt = repo.root.parent().unwrap().join("linked");
    repo.git(&["worktree", "add", "-q", wt.to_str().unwrap()]);
    std::fs::create_dir_all(wt.join("src")).unwrap();
    std::fs::write(wt.join("src/x.rs"), "\n").unwrap();
    let add = repo
        .command("git")
        .current_dir(&wt)
        .args(["add", "src/x.rs"])
        .output()
        .unwrap();
    assert!(add.status.success());
    let out = repo
        .command("git")
        .current_dir(&wt)
        .env("PATH", path_with_ddx())
        .args(["commit", "-q", "-m", "from the linked worktree"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the linked worktree shares the hooks"
    );
    assert!(
        stderr(&out).contains("src/x.rs is protected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pre_push_warns_when_workflow_state_is_not_shared() {
    let repo = guarded_repo();
    let remote = repo.root.parent().unwrap().join("remote.git");
    repo.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    repo.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    repo.ddx_ok(&["hooks", "install"]);
    let out = repo
        .command("git")
        .env("PATH", path_with_ddx())
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a push is never blocked silently: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("not shared with origin yet; `ddx sync origin` shares them"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("refs/ddx/*:"), "{}", stderr(&out));
    // Once synced, a push of the project says nothing of the workflow state.
    repo.ddx_ok(&["sync"]);
    let out = repo
        .command("git")
        .env("PATH", path_with_ddx())
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("ddx sync"), "{}", stderr(&out));
    let out = repo
        .command("git")
        .env("PATH", path_with_ddx())
        .args(["push", "-q", "origin", "refs/ddx/*:refs/ddx/*"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!stderr(&out).contains("does not share"), "{}", stderr(&out));

    // A history that does not verify: pushing code warns and names the break; sharing
    // refs/ddx/* is refused, saying why and how to push anyway.
    let tip = repo
        .git(&["rev-parse", "refs/ddx/instances/guarded-1"])
        .trim()
        .to_owned();
    let sneaky = repo
        .git(&[
            "commit-tree",
            &format!("{tip}^{{tree}}"),
            "-p",
            &tip,
            "-m",
            "edited by hand",
        ])
        .trim()
        .to_owned();
    repo.git(&["update-ref", "refs/ddx/instances/guarded-1", &sneaky]);
    repo.write("b.txt", "b\n");
    repo.git(&["add", "b.txt"]);
    assert!(commit(&repo, &["-m", "b"]).status.success());
    let out = repo
        .command("git")
        .env("PATH", path_with_ddx())
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ddx: the workflow history is broken")
            && stderr(&out).contains(&sneaky[..12]),
        "{}",
        stderr(&out)
    );
    let out = repo
        .command("git")
        .env("PATH", path_with_ddx())
        .args(["push", "-q", "origin", "refs/ddx/*:refs/ddx/*"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken history is not shared");
    assert!(
        stderr(&out).contains("to push anyway: git push --no-verify"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        repo.git(&[
            "--git-dir",
            remote.to_str().unwrap(),
            "rev-parse",
            "refs/ddx/instances/guarded-1"
        ])
        .trim(),
        tip,
        "the remote keeps what it had"
    );
}

#[test]
fn notes_rebuild_regenerates_notes_from_trailers() {
    let repo = guarded_repo();
    repo.ddx_ok(&["hooks", "install"]);
    repo.write("tests/a.rs", "\n");
    repo.git(&["add", "tests/a.rs"]);
    assert!(commit(&repo, &["-m", "a test"]).status.success());
    let before = repo.git(&["notes", "--ref=ddx", "show", "HEAD"]);
    // Lose the notes, as a forced fetch of refs/notes/* would.
    repo.git(&["update-ref", "-d", "refs/notes/ddx"]);
    let out = repo.ddx_ok(&["notes", "rebuild", "--dry-run"]);
    assert_eq!(out, "1 of 1 notes would be rewritten in refs/notes/ddx\n");
    assert!(
        repo.command("git")
            .args(["notes", "--ref=ddx", "show", "HEAD"])
            .output()
            .unwrap()
            .status
            .code()
            != Some(0)
    );
    repo.ddx_ok(&["notes", "rebuild"]);
    let after = repo.git(&["notes", "--ref=ddx", "show", "HEAD"]);
    assert_eq!(after, before);
    assert!(stderr(&repo.ddx(&["notes", "rebuild"])).contains("Nothing changed."));
    repo.git(&["fsck", "--strict"]);
    // In JSON: the notes derived, how many changed, and where the ref moved.
    let old = repo.git(&["rev-parse", "refs/notes/ddx"]).trim().to_owned();
    repo.git(&["update-ref", "-d", "refs/notes/ddx"]);
    let rebuilt = repo.ddx_json(&["notes", "rebuild", "--json"]);
    assert_eq!(rebuilt["notes"], 1);
    assert_eq!(rebuilt["changed"], 1);
    assert_eq!(rebuilt["old"], serde_json::Value::Null);
    assert_eq!(
        rebuilt["new"],
        repo.git(&["rev-parse", "refs/notes/ddx"]).trim()
    );
    // Pinned dates: the rebuilt notes commit is the one written before, byte for byte.
    assert_eq!(rebuilt["new"], old.as_str());
}

#[test]
fn a_library_caller_of_install_gets_the_same_audit_as_the_cli() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    let dir = store.hooks_dir().unwrap();
    let changes = ddx::hooks::install_recorded(&store, &dir, "ddx", false).unwrap();
    assert!(changes.iter().any(|(_, c)| c.changes()));
    let entry = repo.git(&["show", "refs/ddx/audit:entry.yml"]);
    assert!(entry.contains("operation: hooks-install\n"), "{entry}");
    // Removing them is recorded on top; a dry run records nothing.
    ddx::hooks::uninstall_recorded(&store, &dir, true).unwrap();
    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/ddx/audit"]).trim(),
        "1"
    );
    ddx::hooks::uninstall_recorded(&store, &dir, false).unwrap();
    let entry = repo.git(&["show", "refs/ddx/audit:entry.yml"]);
    assert!(entry.contains("operation: hooks-uninstall\n"), "{entry}");
    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/ddx/audit"]).trim(),
        "2"
    );
}

#[test]
fn a_library_caller_runs_a_hook_and_gets_its_verdict_and_message() {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.commit_all("initial");
    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    let dir = store.hooks_dir().unwrap();
    let err = ddx::hooks::run(&store, &dir, "pre-rebase", &[], b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`pre-rebase` is not a hook ddx manages (pre-commit, commit-msg, post-commit, pre-push)"
    );
    // No instance: nothing to judge.
    let run = ddx::hooks::run(&store, &dir, "pre-commit", &[], b"").unwrap();
    assert!(run.passed && run.message.is_empty(), "{run:?}");
    // With workflow state that a push of a branch does not share, the push goes on with a hint.
    repo.ddx_ok(&["workflow", "init", "./wf", "--id", "g1"]);
    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    let push = "refs/heads/main 1111111111111111111111111111111111111111 refs/heads/main 0000000000000000000000000000000000000000\n";
    let run = ddx::hooks::run(
        &store,
        &dir,
        "pre-push",
        &["origin".to_owned()],
        push.as_bytes(),
    )
    .unwrap();
    assert!(run.passed, "{run:?}");
    assert_eq!(
        run.message,
        "ddx: the workflow state in refs/ddx is shared through a named remote: `git remote add <name> origin`, then `ddx sync <name>`\n"
    );
}
