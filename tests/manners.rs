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

/// Runs ddx with a stdout whose reader is gone before ddx writes, as `ddx … | head -0`.
#[cfg(unix)]
fn with_closed_stdout(repo: &TestRepo, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = repo
        .command(env!("CARGO_BIN_EXE_ddx"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ddx");
    drop(child.stdout.take());
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
