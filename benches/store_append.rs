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
//! - with `DDX_BENCH_BASELINE=<path to an older ddx binary>`, the same `gate approve` process of
//!   that binary, on instances of its own in the same repository, interleaved with the rest;
//!
//! and, after them, `ddx workflow status` and `ddx phase complete|reopen` processes.
//!
//! Targets (issue 14, the store on gix): the library append under 2 ms per event; a whole
//! `ddx gate approve` process not slower than the four git processes; transitions under 1 s and
//! state updates under 50 ms (the design document).

mod common;

use common::{median, ms, timed, Bench};
use ddx::catalog::locate;
use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Runs a ddx process; returns its wall and CPU time.
fn ddx(root: &Path, args: &[&str]) -> (Duration, Duration) {
    ddx_bin(Path::new(env!("CARGO_BIN_EXE_ddx")), root, args)
}

/// Runs the ddx binary `bin`; returns its wall and CPU time.
fn ddx_bin(bin: &Path, root: &Path, args: &[&str]) -> (Duration, Duration) {
    let (out, wall, cpu) = timed(true, || {
        Command::new(bin)
            .args(args)
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run ddx")
    });
    assert!(
        out.status.success(),
        "ddx {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (wall, cpu)
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
    let baseline = std::env::var_os("DDX_BENCH_BASELINE").map(std::path::PathBuf::from);
    let (mut old_approve, mut old_approve_cpu) = (Vec::new(), Vec::new());

    let (mut lib, mut plumbing, mut approve) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lib_cpu, mut plumbing_cpu, mut approve_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        // 1. Four git processes.
        let body = format!("{state}# event {i}\n");
        let (commit, wall, cpu) = timed(true, || {
            let blob = git_with_stdin(&root, &["hash-object", "-w", "--stdin"], body.as_bytes());
            let tree = git_with_stdin(
                &root,
                &["mktree"],
                format!("100644 blob {blob}\tstate.yml\n040000 tree {wf_tree}\tworkflow\n")
                    .as_bytes(),
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
            commit
        });
        plumbing.push(wall);
        plumbing_cpu.push(cpu);
        old = commit;

        // 2. The library's append.
        let op = if i % 2 == 0 { Op::Pause } else { Op::Resume };
        let (res, wall, cpu) = timed(false, || engine.apply(&lib_id, &op, None, false));
        res.expect("append");
        lib.push(wall);
        lib_cpu.push(cpu);

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
        let (wall, cpu) = ddx(
            &root,
            &[
                "gate",
                "approve",
                "-i",
                &format!("proc-{proc_instance}"),
                phase,
                c,
            ],
        );
        approve.push(wall);
        approve_cpu.push(cpu);

        // 4. The same process of the baseline binary, on instances of its own.
        if let Some(bin) = &baseline {
            let id = format!("old-{proc_instance}");
            if k == 0 {
                ddx_bin(bin, &root, &["workflow", "init", "./wf", "--id", &id]);
            }
            let (wall, cpu) = ddx_bin(bin, &root, &["gate", "approve", "-i", &id, phase, c]);
            old_approve.push(wall);
            old_approve_cpu.push(cpu);
        }
    }

    let id = format!("proc-{proc_instance}");
    let mut status = Vec::new();
    for _ in 0..50 {
        status.push(ddx(&root, &["workflow", "status", "--json", "-i", &id]).0);
    }
    let status = median(&mut status);
    ddx(&root, &["phase", "start", "loop", "-i", &id]);
    let mut transition = Vec::new();
    for _ in 0..25 {
        transition.push(ddx(&root, &["phase", "complete", "loop", "-i", &id]).0);
        transition.push(ddx(&root, &["phase", "reopen", "loop", "-i", &id]).0);
    }
    let transition = median(&mut transition);

    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let row = |name: &str, wall: &mut Vec<Duration>, cpu: &mut Vec<Duration>| {
        (name.to_owned(), median(wall), median(cpu))
    };
    let rows = [
        row(
            "git plumbing, 4 processes per event",
            &mut plumbing,
            &mut plumbing_cpu,
        ),
        row("library append (Engine::apply)", &mut lib, &mut lib_cpu),
        row("`ddx gate approve` process", &mut approve, &mut approve_cpu),
        row(
            "baseline `ddx gate approve` process",
            &mut old_approve,
            &mut old_approve_cpu,
        ),
    ];
    println!();
    println!("{:<40} {:>12} {:>12}", "per event", "wall", "CPU");
    for (name, wall, cpu) in &rows[..if baseline.is_some() { 4 } else { 3 }] {
        println!("{name:<40} {:>12} {:>12}", ms(*wall), ms(*cpu));
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let (pw, pc) = (rows[0].1, rows[0].2);
    println!();
    println!(
        "library append {:>10} per event; target < 2 ms: {}",
        ms(rows[1].1),
        verdict(rows[1].1 < Duration::from_millis(2))
    );
    let mut processes = vec![("`ddx gate approve` process", rows[2].1, rows[2].2)];
    if baseline.is_some() {
        processes.push(("baseline `ddx gate approve`", rows[3].1, rows[3].2));
    }
    for (name, wall, cpu) in processes {
        let (rw, rc) = (ratio(pw, wall), ratio(pc, cpu));
        println!(
            "{name:<28} {rw:>6.2}x the plumbing's speed (wall), {rc:>6.2}x (CPU); target >= 1x: wall {}, CPU {}",
            verdict(rw >= 1.0),
            verdict(rc >= 1.0)
        );
    }
    println!(
        "`ddx phase complete|reopen` process {:>10}   (design: transitions < 1 s: {})",
        ms(transition),
        verdict(transition < Duration::from_secs(1))
    );
    println!(
        "`ddx workflow status --json` process {:>9}   (design: state reads < 50 ms: {})",
        ms(status),
        verdict(status < Duration::from_millis(50))
    );
}
