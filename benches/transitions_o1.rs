//! Reading and writing an instance stays O(1): the 10,000th transition costs what the 10th does.
//!
//! Run: `cargo bench --bench transitions_o1` (release). One instance, 10,000 phase transitions
//! through the library (`Engine::apply`: complete and reopen a phase, alternately), each one
//! event commit plus one audit commit. Prints the median of transitions 10–109 and of
//! 9,901–10,000 and their ratio; the target (issue 4) is within 25%.

mod common;

use common::{median, ms, Bench};
use ddx::catalog::locate;
use ddx::engine::machine::Op;
use ddx::engine::Engine;
use ddx::store::Repo;
use std::time::Instant;

const TOTAL: usize = 10_000;
const WINDOW: usize = 100;

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
        let t = Instant::now();
        engine.apply(&id, &op, None, false).expect("transition");
        times.push(t.elapsed());
        if (i + 1) % 2000 == 0 {
            eprintln!(
                "  {} transitions, {:.1} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let early = median(&mut times[10..10 + WINDOW].to_vec());
    let late = median(&mut times[total - WINDOW..].to_vec());
    let ratio = late.as_secs_f64() / early.as_secs_f64();
    let count = b.git(&["rev-list", "--count", &format!("refs/ddx/instances/{id}")]);
    println!();
    println!(
        "events on the chain                      {:>12}",
        count.trim()
    );
    println!(
        "median of transitions 10..{}            {:>12}",
        10 + WINDOW,
        ms(early)
    );
    println!(
        "median of transitions {}..{}       {:>12}",
        total - WINDOW + 1,
        total,
        ms(late)
    );
    println!(
        "late / early                             {:>12.3}   (target within 25%: {})",
        ratio,
        if (0.75..=1.25).contains(&ratio) {
            "ok"
        } else {
            "MISSED"
        }
    );
}
