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

/// CPU time (user + system) of the children this process has waited for.
pub fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we pass; all-zero is a valid initial value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Like [`sample_process`], and also the CPU time (user + system) of each run; both sorted.
pub fn sample_process_cpu(
    runs: usize,
    dir: &Path,
    program: &Path,
    args: &[&str],
) -> (Vec<Duration>, Vec<Duration>) {
    sample_process_cpu_after(runs, dir, program, args, || {})
}

/// Like [`sample_process_cpu`], calling `prepare` (untimed) before each run.
pub fn sample_process_cpu_after(
    runs: usize,
    dir: &Path,
    program: &Path,
    args: &[&str],
    prepare: impl Fn(),
) -> (Vec<Duration>, Vec<Duration>) {
    let run = || {
        prepare();
        let cpu = children_cpu();
        let start = Instant::now();
        let out = Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("start the process");
        let wall = start.elapsed();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        (wall, children_cpu().saturating_sub(cpu))
    };
    run();
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..runs).map(|_| run()).unzip();
    wall.sort();
    cpu.sort();
    (wall, cpu)
}

/// The load averages of the machine (1, 5 and 15 minutes), as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Times one run of a whole process in `dir`; panics if it exits with a code not in `ok`.
pub fn time_process(dir: &Path, program: &Path, args: &[&str], ok: &[i32]) -> Duration {
    let start = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("start the process");
    let took = start.elapsed();
    assert!(
        out.status.code().is_some_and(|c| ok.contains(&c)),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Makes `dir` a git repository with a user and one commit (for benchmarks that need a fresh
/// repository per run).
pub fn fresh_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the repository folder");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git")
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.name", "Bench"]);
    git(&["config", "user.email", "bench@example.com"]);
    std::fs::write(dir.join("README.md"), "# bench\n").expect("write README");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "initial"]);
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
