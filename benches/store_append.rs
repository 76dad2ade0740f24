//! Speed of appending an event, against the git plumbing a shell script would use.
//!
//! Run: `cargo bench --bench store_append` (release; `DDX_BENCH_DIR=/dev/shm` runs it on
//! tmpfs). The three measurements are interleaved, one of each per round, so a busy machine
//! slows them alike. Prints medians per event of:
//! - the library's append (`Engine::apply`: take the writers' lock, read the tip, change the
//!   state, write the event and audit commits, move both refs in one compare-and-swap
//!   transaction, record the heads);
//! - the four git processes a script would run per event (`hash-object -w`, `mktree`,
//!   `commit-tree`, `update-ref <ref> <new> <old>`), which write less (no audit chain, no
//!   journal);
//! - a whole `ddx gate approve` process;
//!
//! and, after them, `ddx workflow status` and `ddx phase complete|reopen` processes.
//!
//! Targets (issue 4): library append at least 20x faster than the four git processes; a whole
//! `ddx gate approve` at least 2x faster than them; transitions under 1 s and state updates
//! under 50 ms (the design document).

mod common;

use common::{median, ms, Bench};
use ddx::catalog::locate;
use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 200;
/// Human exit criteria per phase of the benchmark workflow (HELIX has 4).
const PER_PHASE: usize = 4;

fn git_with_stdin(root: &Path, args: &[&str], input: &[u8]) -> String {
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

fn ddx(root: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ddx"))
        .args(args)
        .current_dir(root)
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
}

fn main() {
    println!("store_append: {ROUNDS} rounds, medians per event (release build)");
    let b = Bench::new(&common::workflow(0));
    let root = b.root().to_owned();

    // The library's instance, and the state a script would write.
    let repo = Repo::discover(&root).expect("repo");
    let engine = Engine::new(&repo).expect("engine");
    let located = locate("./wf", &root).expect("workflow");
    let lib_id = engine
        .init(&located, Default::default(), Some("lib-1"), false)
        .expect("init")
        .instance;
    let r = "refs/ddx/plumbing";
    let state = b.git(&["show", "refs/ddx/instances/lib-1:state.yml"]);
    let wf_tree = b
        .git(&["rev-parse", "refs/ddx/instances/lib-1:workflow"])
        .trim()
        .to_owned();
    let mut old = b
        .git(&["rev-parse", "refs/ddx/instances/lib-1"])
        .trim()
        .to_owned();
    b.git(&["update-ref", r, &old]);

    let phases = ["frame", "design", "test", "build", "deploy", "iterate"];
    let criteria: Vec<(&str, String)> = phases
        .iter()
        .flat_map(|p| (0..PER_PHASE).map(move |k| (*p, format!("{p} criterion {k}"))))
        .collect();
    let mut proc_instance = 0;

    let (mut lib, mut plumbing, mut approve) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        // 1. Four git processes.
        let body = format!("{state}# event {i}\n");
        let t = Instant::now();
        let blob = git_with_stdin(&root, &["hash-object", "-w", "--stdin"], body.as_bytes());
        let tree = git_with_stdin(
            &root,
            &["mktree"],
            format!("100644 blob {blob}\tstate.yml\n040000 tree {wf_tree}\tworkflow\n").as_bytes(),
        );
        let commit = git_with_stdin(
            &root,
            &["commit-tree", &tree, "-p", &old],
            format!("ddx(plumbing): event {i}\n\nDdx-Event: test\n").as_bytes(),
        );
        let ok = Command::new("git")
            .args(["update-ref", r, &commit, &old])
            .current_dir(&root)
            .status()
            .expect("update-ref")
            .success();
        assert!(ok);
        plumbing.push(t.elapsed());
        old = commit;

        // 2. The library's append.
        let op = if i % 2 == 0 { Op::Pause } else { Op::Resume };
        let t = Instant::now();
        engine.apply(&lib_id, &op, None, false).expect("append");
        lib.push(t.elapsed());

        // 3. A whole `ddx gate approve` process, on HELIX-sized instances (a fresh one once
        //    every criterion of the last one is approved).
        let k = i % criteria.len();
        if k == 0 {
            proc_instance += 1;
            ddx(
                &root,
                &[
                    "workflow",
                    "init",
                    "./wf",
                    "--id",
                    &format!("proc-{proc_instance}"),
                ],
            );
        }
        let (phase, c) = &criteria[k];
        approve.push(ddx(
            &root,
            &[
                "gate",
                "approve",
                "-i",
                &format!("proc-{proc_instance}"),
                phase,
                c,
            ],
        ));
    }
    let (lib, plumbing, approve) = (
        median(&mut lib),
        median(&mut plumbing),
        median(&mut approve),
    );

    let id = format!("proc-{proc_instance}");
    let mut status = Vec::new();
    for _ in 0..50 {
        status.push(ddx(&root, &["workflow", "status", "--json", "-i", &id]));
    }
    let status = median(&mut status);
    ddx(&root, &["phase", "start", "loop", "-i", &id]);
    let mut transition = Vec::new();
    for _ in 0..25 {
        transition.push(ddx(&root, &["phase", "complete", "loop", "-i", &id]));
        transition.push(ddx(&root, &["phase", "reopen", "loop", "-i", &id]));
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
        "`ddx phase complete|reopen` process      {:>12}   (design: transitions < 1 s: {})",
        ms(transition),
        verdict(transition < Duration::from_secs(1))
    );
    println!(
        "`ddx workflow status --json` process     {:>12}   (design: state reads < 50 ms: {})",
        ms(status),
        verdict(status < Duration::from_millis(50))
    );
}
