//! Speed of appending an event, against the git plumbing a shell script would use.
//!
//! Run: `cargo bench --bench store_append` (release). Prints medians per event:
//! - the library's append (`Engine::apply`: read the tip, change the state, write the event
//!   and audit commits, move both refs in one compare-and-swap transaction);
//! - the four git processes a script would run per event (`hash-object -w`, `mktree`,
//!   `commit-tree`, `update-ref <ref> <new> <old>`), which write less (no audit chain);
//! - a whole `ddx gate approve` process; `ddx workflow status` and `ddx phase start` processes.
//!
//! Targets (issue 4): library append at least 20x faster than the four git processes; a whole
//! `ddx gate approve` at least 2x faster than them; transitions under 1 s, state updates under
//! 50 ms (the design document).

mod common;

use common::{median, ms, Bench};
use ddx::catalog::locate;
use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 200;

fn git_with_stdin(root: &std::path::Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("git output");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn main() {
    println!("store_append: {N} events per measurement, medians per event (release build)");

    // 1. The library's append.
    let b = Bench::new(&common::workflow(0));
    let repo = Repo::discover(b.root()).expect("repo");
    let engine = Engine::new(&repo).expect("engine");
    let located = locate("./wf", b.root()).expect("workflow");
    let id = engine
        .init(&located, Default::default(), Some("bench-1"), false)
        .expect("init")
        .instance;
    let mut lib = Vec::with_capacity(N);
    for i in 0..N {
        let op = if i % 2 == 0 { Op::Pause } else { Op::Resume };
        let t = Instant::now();
        engine.apply(&id, &op, None, false).expect("append");
        lib.push(t.elapsed());
    }
    let lib = median(&mut lib);

    // 2. The same event with git plumbing: four processes.
    let r = "refs/ddx/instances/bench-1";
    let state = b.git(&["show", &format!("{r}:state.yml")]);
    let wf_tree = b
        .git(&["rev-parse", &format!("{r}:workflow")])
        .trim()
        .to_owned();
    let mut old = b.git(&["rev-parse", r]).trim().to_owned();
    let mut plumbing = Vec::with_capacity(N);
    for i in 0..N {
        let body = format!("{state}# event {i}\n");
        let t = Instant::now();
        let blob = git_with_stdin(b.root(), &["hash-object", "-w", "--stdin"], body.as_bytes());
        let tree = git_with_stdin(
            b.root(),
            &["mktree"],
            format!("100644 blob {blob}\tstate.yml\n040000 tree {wf_tree}\tworkflow\n").as_bytes(),
        );
        let commit = git_with_stdin(
            b.root(),
            &["commit-tree", &tree, "-p", &old],
            format!("ddx(bench-1): event {i}\n\nDdx-Event: test\n").as_bytes(),
        );
        let out = Command::new("git")
            .args(["update-ref", r, &commit, &old])
            .current_dir(b.root())
            .status()
            .expect("update-ref");
        assert!(out.success());
        plumbing.push(t.elapsed());
        old = commit;
    }
    let plumbing = median(&mut plumbing);

    // 3. Whole processes.
    let ddx = env!("CARGO_BIN_EXE_ddx");
    let p = Bench::new(&common::workflow(N));
    let run = |args: &[&str]| -> Duration {
        let t = Instant::now();
        let out = Command::new(ddx)
            .args(args)
            .current_dir(p.root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run ddx");
        let d = t.elapsed();
        assert!(
            out.status.success(),
            "ddx {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    };
    let init = run(&["workflow", "init", "./wf", "--id", "proc-1"]);
    let start = run(&["phase", "start", "frame"]);
    let mut approve = Vec::with_capacity(N);
    for k in 0..N {
        approve.push(run(&["gate", "approve", "frame", &format!("extra {k}")]));
    }
    let approve = median(&mut approve);
    let mut status = Vec::with_capacity(50);
    for _ in 0..50 {
        status.push(run(&["workflow", "status", "--json"]));
    }
    let status = median(&mut status);
    let mut transition = vec![run(&["phase", "start", "loop"])];
    for _ in 0..25 {
        transition.push(run(&["phase", "complete", "loop"]));
        transition.push(run(&["phase", "reopen", "loop"]));
    }
    let transition = median(&mut transition);

    let ratio_lib = plumbing.as_secs_f64() / lib.as_secs_f64();
    let ratio_proc = plumbing.as_secs_f64() / approve.as_secs_f64();
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!();
    println!(
        "git plumbing, 4 processes per event      {:>12}",
        ms(plumbing)
    );
    println!(
        "library append (Engine::apply)           {:>12}   {:.1}x faster (target >= 20x: {})",
        ms(lib),
        ratio_lib,
        verdict(ratio_lib >= 20.0)
    );
    println!(
        "`ddx gate approve` process               {:>12}   {:.1}x faster (target >= 2x: {})",
        ms(approve),
        ratio_proc,
        verdict(ratio_proc >= 2.0)
    );
    println!(
        "`ddx phase reopen|complete` process      {:>12}   (design: transitions < 1 s: {})",
        ms(transition),
        verdict(transition < Duration::from_secs(1))
    );
    println!(
        "`ddx workflow status --json` process     {:>12}   (design: state reads < 50 ms: {})",
        ms(status),
        verdict(status < Duration::from_millis(50))
    );
    println!("`ddx workflow init` process (once)       {:>12}", ms(init));
    println!("`ddx phase start` process (once)         {:>12}", ms(start));
}
