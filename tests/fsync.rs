//! `core.fsync` is honoured: in a repository that asks for it, what ddx writes reaches the disk
//! with fsync, as git's own writes do. Observed with `strace`; skipped, saying so, where strace
//! is missing or cannot trace (a container without ptrace).

mod common;

use common::{stderr, TestRepo, MINI_WORKFLOW};

/// Whether `strace` runs here and can trace a child.
fn strace_works() -> bool {
    std::process::Command::new("strace")
        .args(["-f", "-e", "trace=fsync", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The fsync and fdatasync calls of `ddx args` and its children, as strace logs them.
fn traced_syncs(repo: &TestRepo, args: &[&str]) -> Vec<String> {
    let log = repo.home.join("strace.log");
    let out = repo
        .command("strace")
        .args(["-f", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_ddx"))
        .args(args)
        .output()
        .expect("run strace");
    assert!(out.status.success(), "ddx {args:?}: {}", stderr(&out));
    std::fs::read_to_string(&log)
        .expect("the strace log")
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .map(str::to_owned)
        .collect()
}

#[test]
fn core_fsync_all_makes_ddx_writes_fsync() {
    if !strace_works() {
        eprintln!("skipped: strace is not installed or cannot trace here");
        return;
    }
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", MINI_WORKFLOW);
    repo.commit_all("initial");
    // Without the setting nothing is synced (gix does not fsync), so the syncs below are the
    // setting's doing.
    let syncs = traced_syncs(
        &repo,
        &["workflow", "init", "./wf", "--var", "project_name=x"],
    );
    assert_eq!(syncs, Vec::<String>::new(), "no core.fsync, no fsync");
    repo.git(&["config", "core.fsync", "all"]);
    let init = [
        "workflow",
        "init",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        "a1",
    ];
    let syncs = traced_syncs(&repo, &init);
    assert!(
        !syncs.is_empty(),
        "no fsync while writing the instance with core.fsync=all"
    );
    let syncs = traced_syncs(&repo, &["workflow", "next", "-i", "a1"]);
    assert!(!syncs.is_empty(), "no fsync while writing an event");
    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/ddx/instances/a1"])
            .trim(),
        "2"
    );
    repo.git(&["fsck", "--strict", "--no-dangling"]);
}
