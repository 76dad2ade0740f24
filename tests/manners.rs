//! Git-grade manners of the command line: a closed pipe, `-C`, man pages, completions.

mod common;

use common::{stderr, TestRepo};
use std::io::Read;
use std::process::Stdio;

fn applied() -> TestRepo {
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
    repo
}

/// Runs ddx with a stdout whose reader is gone before ddx starts, as `ddx … | head -0`.
#[cfg(unix)]
fn with_closed_stdout(repo: &TestRepo, args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = repo
        .command(env!("CARGO_BIN_EXE_ddx"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ddx");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    (child.wait().expect("wait for ddx"), err)
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_ddx_quietly_as_sigpipe_ends_git() {
    use std::os::unix::process::ExitStatusExt;
    let repo = applied();
    for args in [
        &["workflow", "list"][..],
        &["log"],
        &["completion", "bash"],
        &["audit", "report"],
        &["audit", "log"],
        &["workflow", "status", "--json"],
    ] {
        let (status, err) = with_closed_stdout(&repo, args);
        assert_eq!(status.signal(), Some(13), "ddx {args:?}: {status:?}: {err}");
        assert_eq!(err, "", "ddx {args:?} said something on stderr");
    }
}

#[test]
fn dash_c_to_a_missing_folder_is_a_usage_error_naming_it() {
    let repo = applied();
    let missing = repo.root.join("no-such-folder");
    let out = repo.ddx(&[
        "-C",
        missing.to_str().expect("utf-8 path"),
        "workflow",
        "list",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().next().unwrap_or_default(),
        format!(
            "error: cannot change to '{}': No such file or directory",
            missing.display()
        )
    );
    repo.write("a-file", "x\n");
    let out = repo.ddx(&["-C", "a-file", "workflow", "status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot change to 'a-file': Not a directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ddx_man_writes_a_page_for_ddx_git_ddx_and_every_subcommand() {
    let repo = TestRepo::plain();
    let dir = repo.home.join(".local/share/man/man1");
    let out = repo.ddx(&["man", dir.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the man folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for page in [
        "ddx.1",
        "git-ddx.1",
        "ddx-workflow.1",
        "ddx-workflow-apply.1",
        "ddx-gate-approve.1",
        "ddx-audit-report.1",
        "ddx-man.1",
    ] {
        assert!(
            names.iter().any(|n| n == page),
            "{page} is missing: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.ends_with("-help.1")),
        "a page for clap's help subcommand: {names:?}"
    );
    let apply = std::fs::read_to_string(dir.join("ddx-workflow-apply.1")).expect("read page");
    assert!(apply.contains(".TH ddx-workflow-apply 1"), "{apply}");
    assert!(apply.contains("ddx workflow apply"), "{apply}");
    assert!(apply.contains("\\-\\-dry\\-run"), "{apply}");
    let git = std::fs::read_to_string(dir.join("git-ddx.1")).expect("read page");
    assert!(git.contains(".TH git-ddx 1"), "{git}");
    // Where `git ddx --help` looks: `man git-ddx` finds the page in that folder's man path.
    if std::path::Path::new("/usr/bin/man").exists() {
        let found = repo
            .command("/usr/bin/man")
            .env("MANPATH", repo.home.join(".local/share/man"))
            .args(["-w", "git-ddx"])
            .output()
            .expect("run man");
        assert_eq!(
            common::stdout(&found).trim(),
            dir.join("git-ddx.1").display().to_string(),
            "{}",
            stderr(&found)
        );
    }
    // Without a folder, ddx(1) on stdout.
    let page = repo.ddx(&["man"]);
    assert!(page.status.success(), "{}", stderr(&page));
    assert!(common::stdout(&page).contains(".TH ddx 1"));
}

/// The candidates ddx gives for the last of `words`, as the bash registration asks for them.
fn complete(repo: &TestRepo, words: &[&str]) -> Vec<String> {
    let out = repo
        .command(env!("CARGO_BIN_EXE_ddx"))
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_IFS", "\n")
        .arg("--")
        .args(words)
        .output()
        .expect("run ddx");
    assert!(out.status.success(), "{}", stderr(&out));
    common::stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
fn completions_name_workflows_instances_phases_criteria_and_checkpoints() {
    let repo = applied();
    repo.ddx_ok(&["checkpoint", "create", "before-review"]);
    assert_eq!(
        complete(&repo, &["ddx", "workflow", "show", "h"]),
        ["helix"]
    );
    assert_eq!(
        complete(&repo, &["ddx", "workflow", "apply", "td"]),
        ["tdd"]
    );
    assert_eq!(
        complete(&repo, &["ddx", "workflow", "status", "--instance", "s"]),
        ["shop"]
    );
    assert_eq!(
        complete(&repo, &["ddx", "phase", "complete", "fr"]),
        ["frame"]
    );
    assert_eq!(
        complete(&repo, &["ddx", "workflow", "restore", "be"]),
        ["before-review"]
    );
    repo.git(&["remote", "add", "upstream", "../elsewhere.git"]);
    assert_eq!(complete(&repo, &["ddx", "sync", "up"]), ["upstream"]);
    // The human criteria of frame still to approve, by number: apply approved its input gate.
    let status = repo.ddx_json(&["workflow", "status", "--json"]);
    let criteria = status["phases"][0]["criteria"]
        .as_array()
        .expect("criteria");
    let open: Vec<String> = criteria
        .iter()
        .enumerate()
        .filter(|(_, c)| c["kind"] == "human" && c["status"] != "approved")
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    assert!(!open.is_empty(), "{status}");
    let numbers: Vec<String> = complete(&repo, &["ddx", "gate", "approve", "frame", ""])
        .into_iter()
        .filter(|c| !c.starts_with('-'))
        .collect();
    assert_eq!(numbers, open);
    // `ddx completion bash` registers this engine.
    let script = repo.ddx_ok(&["completion", "bash"]);
    assert!(script.contains("COMPLETE=\"bash\""), "{script}");
}

#[test]
fn mutating_commands_say_in_json_what_changed_and_which_refs_moved() {
    let repo = TestRepo::new();
    repo.write("README.md", "hello\n");
    repo.commit_all("initial");
    let applied = repo.ddx_json(&[
        "workflow",
        "apply",
        "tdd",
        "--var",
        "feature_name=login",
        "--json",
    ]);
    let id = applied["instance"]
        .as_str()
        .expect("the instance id")
        .to_owned();
    let instance_ref = format!("refs/ddx/instances/{id}");
    let tip = repo.git(&["rev-parse", &instance_ref]).trim().to_owned();
    assert_eq!(applied["event"], tip.as_str());
    assert_eq!(applied["changed"], true);
    assert_eq!(applied["dry_run"], false);
    assert_eq!(applied["created"], true);
    assert_eq!(
        applied["audit"],
        repo.git(&["rev-parse", "refs/ddx/audit"]).trim()
    );
    assert_eq!(applied["refs"][0]["ref"], instance_ref.as_str());
    assert_eq!(applied["refs"][0]["old"], serde_json::Value::Null);
    assert_eq!(applied["refs"][0]["new"], tip.as_str());
    let files = applied["files"].as_array().expect("files");
    assert!(!files.is_empty(), "{applied}");
    for f in files {
        let path = f["path"].as_str().unwrap();
        assert_eq!(f["action"], "new");
        assert_eq!(
            f["after"],
            repo.git(&["hash-object", path]).trim(),
            "{path}"
        );
    }

    // A human criterion of the phase in progress, approved in JSON.
    let status = repo.ddx_json(&["workflow", "status", "--json"]);
    let phase = status["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "in_progress")
        .expect("a phase in progress");
    let phase_id = phase["id"].as_str().unwrap().to_owned();
    let number = phase["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["kind"] == "human" && c["status"] != "approved")
        .map(|i| (i + 1).to_string());
    assert!(number.is_some(), "no human criterion to approve: {status}");
    if let Some(number) = number {
        let before = repo.git(&["rev-parse", &instance_ref]).trim().to_owned();
        let dry = repo.ddx_json(&["gate", "approve", &phase_id, &number, "--dry-run", "--json"]);
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["changed"], true);
        assert_eq!(repo.git(&["rev-parse", &instance_ref]).trim(), before);
        let approved = repo.ddx_json(&["gate", "approve", &phase_id, &number, "--json"]);
        assert_eq!(approved["refs"][0]["old"], before.as_str());
        assert_eq!(
            approved["refs"][0]["new"],
            repo.git(&["rev-parse", &instance_ref]).trim()
        );
        assert!(approved["changes"][0]
            .as_str()
            .unwrap()
            .contains("approved"));
    }

    // A forced completion, and one that changes nothing.
    let completed = repo.ddx_json(&["phase", "complete", &phase_id, "--force", "--json"]);
    assert_eq!(completed["changed"], true);
    let now = completed["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == phase_id.as_str())
        .unwrap();
    assert_eq!(now["status"], "completed");
    let checkpoint = repo.ddx_json(&["checkpoint", "create", "done", "--json"]);
    let name = format!("refs/ddx/checkpoints/{id}/done");
    let moved = checkpoint["refs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ref"] == name.as_str())
        .expect("the checkpoint's ref among the refs moved");
    assert_eq!(moved["new"], repo.git(&["rev-parse", &name]).trim());
}

#[test]
fn hooks_install_and_uninstall_say_in_json_what_they_did() {
    let repo = TestRepo::new();
    let dry = repo.ddx_json(&["hooks", "install", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["changed"], true);
    assert!(!repo.path(".git/hooks/pre-commit").exists());
    let installed = repo.ddx_json(&["hooks", "install", "--json"]);
    let hooks = installed["hooks"].as_array().expect("hooks");
    let pre_commit = hooks
        .iter()
        .find(|h| h["hook"] == "pre-commit")
        .expect("pre-commit");
    assert_eq!(pre_commit["change"], "installed");
    let path = pre_commit["path"].as_str().unwrap();
    assert!(std::path::Path::new(path).exists(), "{path}");
    let again = repo.ddx_json(&["hooks", "install", "--json"]);
    assert_eq!(again["changed"], false);
    let removed = repo.ddx_json(&["hooks", "uninstall", "--json"]);
    assert!(removed["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["hook"] == "pre-commit" && h["change"] == "removed"));
    assert!(!std::path::Path::new(path).exists());
}

#[test]
fn long_work_shows_a_spinner_on_a_terminal_only() {
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: /usr/bin/script (util-linux) is absent, no terminal to test on");
        return;
    }
    let repo = applied();
    let ddx = env!("CARGO_BIN_EXE_ddx");
    // On a terminal (script gives ddx one), once the work has taken the delay (0 here).
    let on_tty = repo
        .command(script)
        .env("DDX_PROGRESS_AFTER", "0")
        .env("TERM", "xterm")
        .args(["-qec", &format!("{ddx} audit verify"), "/dev/null"])
        .output()
        .expect("run script");
    assert!(on_tty.status.success(), "{}", stderr(&on_tty));
    let shown = common::stdout(&on_tty);
    assert!(
        shown.contains("Verifying every chain of refs/ddx/*"),
        "{shown:?}"
    );
    assert!(shown.contains("every chain is intact"), "{shown:?}");
    // Not on a terminal: never.
    let piped = repo
        .command(ddx)
        .env("DDX_PROGRESS_AFTER", "0")
        .env("TERM", "xterm")
        .args(["audit", "verify"])
        .output()
        .expect("run ddx");
    assert!(!stderr(&piped).contains("Verifying"), "{}", stderr(&piped));
}

#[test]
fn workflow_init_json_names_the_new_instance_and_nothing_else_on_stdout() {
    let repo = TestRepo::new();
    repo.write("README.md", "hello\n");
    repo.commit_all("initial");
    let out = repo.ddx(&[
        "workflow",
        "init",
        "helix",
        "--var",
        "project_name=shop",
        "--id",
        "shop",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&common::stdout(&out)).expect("one JSON document on stdout");
    assert_eq!(doc["instance"], "shop");
    assert_eq!(
        doc["event"],
        repo.git(&["rev-parse", "refs/ddx/instances/shop"]).trim()
    );
    assert_eq!(doc["status"], "pending");
}
