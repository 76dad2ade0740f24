//! Reading and writing an instance stays O(1): the 10,000th transition costs what the 10th does.
//!
//! Run: `cargo bench --bench transitions_o1` (release; `DDX_BENCH_DIR=/dev/shm` on tmpfs,
//! `DDX_BENCH_TRANSITIONS=N` for a shorter run). After 500 warm-up transitions on another
//! instance, one instance gets 10,000 phase transitions through the library (`Engine::apply`:
//! complete and reopen a phase, alternately), each one event commit plus one audit commit. Prints
//! the medians (wall and CPU time) of its transitions 11–110 and 9,901–10,000 and their ratio;
//! the target (issue 4) is within 25%.

mod common;

use common::{median, ms, timed, Bench};
use ddx::catalog::locate;
use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::time::Instant;

const TOTAL: usize = 10_000;
const WINDOW: usize = 100;
const WARM_UP: usize = 500;

fn main() {
    let total: usize = std::env::var("DDX_BENCH_TRANSITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TOTAL);
    println!("transitions_o1: {total} transitions on one instance (release build)");
    let b = Bench::new(&common::workflow(0));
    let repo = Repo::discover(b.root()).expect("repo");
    let engine = Engine::new(&repo).expect("engine");
    let located = locate("./wf", b.root()).expect("workflow");
    // Warm up the repository (file system, object directories, caches) on another instance,
    // so that the measured instance's 10th transition is not also the repository's 10th write.
    let warm = engine
        .init(&located, Default::default(), Some("warm-up"), false)
        .expect("init")
        .instance;
    let start = Op::Start {
        phase: "loop".into(),
        force: false,
    };
    engine.apply(&warm, &start, None, false).expect("start");
    for i in 0..WARM_UP {
        let op = if i % 2 == 0 {
            Op::Complete {
                phase: "loop".into(),
                force: false,
            }
        } else {
            Op::Reopen {
                phase: "loop".into(),
            }
        };
        engine.apply(&warm, &op, None, false).expect("warm-up");
    }
    let id = engine
        .init(&located, Default::default(), Some("o1"), false)
        .expect("init")
        .instance;
    engine
        .apply(
            &id,
            &Op::Start {
                phase: "loop".into(),
                force: false,
            },
            None,
            false,
        )
        .expect("start");
    let mut times = Vec::with_capacity(total);
    let mut cpus = Vec::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        let op = if i % 2 == 0 {
            Op::Complete {
                phase: "loop".into(),
                force: false,
            }
        } else {
            Op::Reopen {
                phase: "loop".into(),
            }
        };
        let (res, wall, cpu) = timed(false, || engine.apply(&id, &op, None, false));
        res.expect("transition");
        times.push(wall);
        cpus.push(cpu);
        if (i + 1) % 2000 == 0 {
            eprintln!(
                "  {} transitions, {:.1} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let window =
        |v: &[std::time::Duration], from: usize| median(&mut v[from..from + WINDOW].to_vec());
    let (early, late) = (window(&times, 10), window(&times, total - WINDOW));
    let (early_cpu, late_cpu) = (window(&cpus, 10), window(&cpus, total - WINDOW));
    let count = b.git(&["rev-list", "--count", &format!("refs/ddx/instances/{id}")]);
    let verdict = |r: f64| {
        if (0.75..=1.25).contains(&r) {
            "ok"
        } else {
            "MISSED"
        }
    };
    println!();
    println!("events on the chain: {}", count.trim());
    println!("{:<36} {:>12} {:>12}", "median of", "wall", "CPU");
    println!(
        "{:<36} {:>12} {:>12}",
        format!("transitions 11..{}", 10 + WINDOW),
        ms(early),
        ms(early_cpu)
    );
    println!(
        "{:<36} {:>12} {:>12}",
        format!("transitions {}..{}", total - WINDOW + 1, total),
        ms(late),
        ms(late_cpu)
    );
    let (r, rc) = (
        late.as_secs_f64() / early.as_secs_f64(),
        late_cpu.as_secs_f64() / early_cpu.as_secs_f64(),
    );
    println!(
        "late / early: {r:.3} wall ({}), {rc:.3} CPU ({})   (target: within 25%)",
        verdict(r),
        verdict(rc)
    );
}
