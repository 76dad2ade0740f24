//! Reading and writing an instance stays O(1): its 10,000th transition costs what its 10th does.
//!
//! Run: `cargo bench --bench transitions_o1` (release; `DDX_BENCH_DIR=/dev/shm` on tmpfs,
//! `DDX_BENCH_TRANSITIONS=N` for a shorter run). Transitions go through the library
//! (`Engine::apply`: complete and reopen a phase, alternately), each one event commit plus one
//! audit commit, all in one repository:
//!
//! 1. an **old** instance is taken to 9,900 transitions, with the median of each block of 1,000
//!    printed as it goes (flat when nothing grows with the chain);
//! 2. a **young** instance is taken to 10 transitions;
//! 3. then, alternately, one transition of the young instance (its 11th to 110th) and one of the
//!    old instance (its 9,901st to 10,000th) are timed. Interleaving them exposes both to the same
//!    load from the rest of the machine, so their ratio is the cost of a long chain alone.
//!
//! Prints the medians (wall and CPU time) and their ratio; the target (issue 4) is within 25%.

mod common;

use common::{median, ms, timed, Bench};
use ddx::catalog::locate;
use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::time::{Duration, Instant};

const TOTAL: usize = 10_000;
const WINDOW: usize = 100;
const YOUNG: usize = 10;

fn transition(i: usize) -> Op {
    if i.is_multiple_of(2) {
        Op::Complete {
            phase: "loop".into(),
            force: false,
        }
    } else {
        Op::Reopen {
            phase: "loop".into(),
        }
    }
}

fn main() {
    let total: usize = std::env::var("DDX_BENCH_TRANSITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TOTAL)
        .max(2 * WINDOW);
    println!("transitions_o1: {total} transitions on one instance (release build)");
    let b = Bench::new(&common::workflow(0));
    let repo = Repo::discover(b.root()).expect("repo");
    let engine = Engine::new(&repo).expect("engine");
    let located = locate("./wf", b.root()).expect("workflow");
    let start = Op::Start {
        phase: "loop".into(),
        force: false,
    };
    let new_instance = |id: &str| {
        let id = engine
            .init(&located, Default::default(), Some(id), false)
            .expect("init")
            .instance;
        engine.apply(&id, &start, None, false).expect("start");
        id
    };

    // 1. The old instance, up to `total - WINDOW` transitions.
    let old = new_instance("old");
    println!();
    println!(
        "{:<36} {:>12} {:>12}",
        "old instance, transitions", "wall", "CPU"
    );
    let started = Instant::now();
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for i in 0..total - WINDOW {
        let (res, w, c) = timed(false, || engine.apply(&old, &transition(i), None, false));
        res.expect("transition");
        wall.push(w);
        cpu.push(c);
        if (i + 1) % 1000 == 0 || i + 1 == total - WINDOW {
            println!(
                "{:<36} {:>12} {:>12}",
                format!("{}..{}", i + 2 - wall.len(), i + 1),
                ms(median(&mut wall)),
                ms(median(&mut cpu))
            );
            wall.clear();
            cpu.clear();
        }
    }
    eprintln!(
        "  {} transitions in {:.1} s",
        total - WINDOW,
        started.elapsed().as_secs_f64()
    );

    // 2. The young instance, up to its 10th transition.
    let young = new_instance("young");
    for i in 0..YOUNG {
        engine
            .apply(&young, &transition(i), None, false)
            .expect("transition");
    }

    // 3. Interleaved: young's 11th..110th, old's last 100.
    let (mut yw, mut yc, mut ow, mut oc): (
        Vec<Duration>,
        Vec<Duration>,
        Vec<Duration>,
        Vec<Duration>,
    ) = Default::default();
    for k in 0..WINDOW {
        let (res, w, c) = timed(false, || {
            engine.apply(&young, &transition(YOUNG + k), None, false)
        });
        res.expect("young transition");
        yw.push(w);
        yc.push(c);
        let (res, w, c) = timed(false, || {
            engine.apply(&old, &transition(total - WINDOW + k), None, false)
        });
        res.expect("old transition");
        ow.push(w);
        oc.push(c);
    }
    let chain = |id: &str| {
        b.git(&["rev-list", "--count", &format!("refs/ddx/instances/{id}")])
            .trim()
            .to_owned()
    };
    let (yw, yc, ow, oc) = (
        median(&mut yw),
        median(&mut yc),
        median(&mut ow),
        median(&mut oc),
    );
    println!();
    println!(
        "events on the chains: old {}, young {}, audit {}",
        chain(&old),
        chain(&young),
        b.git(&["rev-list", "--count", "refs/ddx/audit"]).trim()
    );
    println!(
        "{:<36} {:>12} {:>12}",
        "interleaved, median of", "wall", "CPU"
    );
    println!(
        "{:<36} {:>12} {:>12}",
        format!("young: transitions {}..{}", YOUNG + 1, YOUNG + WINDOW),
        ms(yw),
        ms(yc)
    );
    println!(
        "{:<36} {:>12} {:>12}",
        format!("old: transitions {}..{}", total - WINDOW + 1, total),
        ms(ow),
        ms(oc)
    );
    let verdict = |r: f64| {
        if (0.75..=1.25).contains(&r) {
            "ok"
        } else {
            "MISSED"
        }
    };
    let (r, rc) = (
        ow.as_secs_f64() / yw.as_secs_f64(),
        oc.as_secs_f64() / yc.as_secs_f64(),
    );
    println!(
        "old / young: {r:.3} wall ({}), {rc:.3} CPU ({})   (target: within 25%)",
        verdict(r),
        verdict(rc)
    );
}
