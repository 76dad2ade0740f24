//! Shared measuring helpers for the benchmarks: medians of repeated runs.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `f` `runs` times and returns the sorted durations.
pub fn sample(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

pub fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// Times a whole process `runs` times (after one warm-up run); panics if it fails.
pub fn sample_process(runs: usize, dir: &Path, program: &Path, args: &[&str]) -> Vec<Duration> {
    let run = || {
        let out = Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("start the process");
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run();
    sample(runs, run)
}

/// `median (min … max)` in milliseconds.
pub fn describe(sorted: &[Duration]) -> String {
    format!(
        "median {:.2} ms (min {:.2}, max {:.2}, n={})",
        ms(median(sorted)),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1]),
        sorted.len()
    )
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
