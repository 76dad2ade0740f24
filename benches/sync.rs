//! `ddx sync` against `git push` of the same refs, a sync with nothing new, and the join of two
//! forks of 1,000 events each. Run with `cargo bench --bench sync`.

mod util;

use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use util::{describe, load_average, median, ms, time_process};

const EVENTS: usize = 1_000;
const RUNS: usize = 5;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ddx(dir: &Path, args: &[&str]) {
    let ddx = Path::new(env!("CARGO_BIN_EXE_ddx"));
    time_process(dir, ddx, args, &[0]);
}

fn identity(dir: &Path, name: &str) {
    git(dir, &["config", "user.name", name]);
    git(
        dir,
        &["config", "user.email", &format!("{name}@example.com")],
    );
}

/// `n` events (pause and resume, alternately) on `instance`, written through the library.
fn events(dir: &Path, instance: &str, n: usize) {
    let repo = Repo::discover(dir).expect("repository");
    let engine = Engine::new(&repo).expect("engine");
    for i in 0..n {
        let op = if i % 2 == 0 { Op::Pause } else { Op::Resume };
        engine.apply(instance, &op, None, false).expect("event");
    }
}

fn bare(path: &Path) {
    std::fs::create_dir_all(path).expect("create the remote");
    git(path, &["init", "-q", "--bare"]);
}

fn main() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let root = tmp.path();
    let work = root.join("work");
    util::fresh_repo(&work);
    std::fs::create_dir_all(work.join(".wf/team")).expect("create dir");
    std::fs::write(
        work.join(".wf/team/workflow.yml"),
        "name: team\nphases:\n  - id: plan\n    exit_criteria: [Planned]\n",
    )
    .expect("write workflow");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "workflow"]);
    ddx(&work, &["workflow", "init", "./.wf/team", "--id", "team-1"]);
    events(&work, "team-1", EVENTS - 1);

    println!("== ddx sync ({EVENTS} events; release build, wall-clock medians of {RUNS} runs)");
    println!("load average at the start: {}", load_average());

    // 1. Pushing 1,000 new events to an empty remote, against git push of the same refs.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let remote = root.join(format!("empty-{run}.git"));
        bare(&remote);
        let plain = root.join(format!("plain-{run}.git"));
        bare(&plain);
        // Not there on the first run.
        let _ = Command::new("git")
            .args(["remote", "remove", "origin"])
            .current_dir(&work)
            .output();
        git(
            &work,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        // Staging refs of an earlier run's remote would make this sync a no-op.
        for line in git(
            &work,
            &["for-each-ref", "--format=%(refname)", "refs/ddx-remote"],
        )
        .lines()
        {
            git(&work, &["update-ref", "-d", line]);
        }
        let git_bin = Path::new("/usr/bin/env");
        theirs.push(time_process(
            &work,
            git_bin,
            &[
                "git",
                "push",
                "-q",
                plain.to_str().unwrap(),
                "refs/ddx/instances/*:refs/ddx/instances/*",
                "refs/ddx/audit:refs/ddx/audit",
            ],
            &[0],
        ));
        ours.push(time_process(
            &work,
            Path::new(env!("CARGO_BIN_EXE_ddx")),
            &["sync"],
            &[0],
        ));
    }
    ours.sort();
    theirs.sort();
    println!("git push of the same refs   {}", describe(&theirs));
    println!("ddx sync to an empty remote {}", describe(&ours));
    println!(
        "ratio: {:.2} (target: at most 2)",
        ms(median(&ours)) / ms(median(&theirs))
    );

    // 2. A sync with nothing new.
    let mut quiet: Vec<Duration> = (0..10)
        .map(|_| time_process(&work, Path::new(env!("CARGO_BIN_EXE_ddx")), &["sync"], &[0]))
        .collect();
    quiet.sort();
    println!(
        "ddx sync, nothing new       {} (target: < 100 ms)",
        describe(&quiet)
    );

    // 3. Two forks of 1,000 events each, joined: the second clone's sync fetches the first's
    // events, writes the merge event and pushes it.
    let remote = root.join("forks.git");
    bare(&remote);
    git(&work, &["remote", "remove", "origin"]);
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    ddx(&work, &["sync"]);
    let other = root.join("other");
    git(
        root,
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    identity(&other, "other");
    ddx(&other, &["sync"]);
    events(&work, "team-1", EVENTS);
    events(&other, "team-1", EVENTS);
    ddx(&work, &["sync"]);
    let mut joins = Vec::new();
    for run in 0..RUNS {
        let (r, o) = (
            root.join(format!("forks-{run}.git")),
            root.join(format!("other-{run}")),
        );
        git(
            root,
            &[
                "clone",
                "-q",
                "--mirror",
                remote.to_str().unwrap(),
                r.to_str().unwrap(),
            ],
        );
        copy_dir(&other, &o);
        git(&o, &["remote", "set-url", "origin", r.to_str().unwrap()]);
        joins.push(time_process(
            &o,
            Path::new(env!("CARGO_BIN_EXE_ddx")),
            &["sync"],
            &[0],
        ));
        let merges = git(
            &o,
            &[
                "rev-list",
                "--merges",
                "--count",
                "refs/ddx/instances/team-1",
            ],
        );
        assert_eq!(merges.trim(), "1", "the sync joined the forks");
    }
    joins.sort();
    println!(
        "ddx sync joining 2 x {EVENTS}  {} (fetch, join, push)",
        describe(&joins)
    );
    // The join alone: the other's events already fetched (as a dry run fetches them, writing
    // no ref), one merge event written through the library.
    let theirs = git(&work, &["rev-parse", "refs/ddx/instances/team-1"])
        .trim()
        .to_owned();
    let mut alone = Vec::new();
    for run in 0..RUNS {
        let o = root.join(format!("join-{run}"));
        copy_dir(&other, &o);
        git(
            &o,
            &["remote", "set-url", "origin", remote.to_str().unwrap()],
        );
        ddx(&o, &["sync", "--dry-run"]);
        let repo = Repo::discover(&o).expect("repository");
        let engine = Engine::new(&repo).expect("engine");
        let id = ddx::store::ObjectId::from_hex(theirs.as_bytes()).expect("an id");
        let start = std::time::Instant::now();
        let report = engine.join("team-1", id, false).expect("join");
        alone.push(start.elapsed());
        assert!(report.changed(), "a merge event was written");
    }
    alone.sort();
    println!(
        "Engine::join of 2 x {EVENTS}    {} (target: < 1 s)",
        describe(&alone)
    );
    println!("load average at the end: {}", load_average());
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .expect("run cp")
        .success();
    assert!(ok, "cp -a {from:?} {to:?}");
}
