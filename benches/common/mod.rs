//! Shared set-up of the instance benchmarks: a hermetic temporary repository with a workflow.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Bench {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

/// A workflow shaped like HELIX (6 phases, 4 human exit criteria each), with `extra` more
/// human criteria on the first phase (for benchmarks that need many distinct approvals).
pub fn workflow(extra: usize) -> String {
    let mut s = String::from(
        "name: bench\nversion: 1.0.0\ndescription: benchmark workflow\nvariables:\n  - name: project_name\n    default: bench\nphases:\n",
    );
    for (i, id) in ["frame", "design", "test", "build", "deploy", "iterate"]
        .iter()
        .enumerate()
    {
        s.push_str(&format!(
            "  - id: {id}\n    order: {}\n    name: Phase {id}\n    exit_criteria:\n",
            i + 1
        ));
        for k in 0..4 {
            s.push_str(&format!("      - {id} criterion {k}\n"));
        }
        if i == 0 {
            for k in 0..extra {
                s.push_str(&format!("      - extra {k}\n"));
            }
        }
    }
    s.push_str("  - id: loop\n    order: 7\n    name: Loop\n    depends_on: []\n");
    s
}

impl Bench {
    pub fn new(workflow_yaml: &str) -> Bench {
        // Hermetic: no user or system git config, a fixed identity.
        std::env::set_var("GIT_CONFIG_GLOBAL", "/dev/null");
        std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
        std::env::set_var("GIT_AUTHOR_DATE", "2026-01-14T12:34:56Z");
        std::env::set_var("GIT_COMMITTER_DATE", "2026-01-14T12:34:56Z");
        // `cargo bench` points the dynamic loader at the toolchain's and target's folders;
        // every process the bench starts (git's and ddx's alike) would search them for its
        // libraries, which no user's shell does.
        std::env::remove_var("LD_LIBRARY_PATH");
        // `DDX_BENCH_DIR` picks the file system (e.g. /dev/shm for tmpfs); default: the system's.
        let tmp = match std::env::var_os("DDX_BENCH_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => tempfile::tempdir_in(dir),
            None => tempfile::tempdir(),
        }
        .expect("temporary directory");
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("wf")).expect("create repo");
        let b = Bench { _tmp: tmp, root };
        b.git(&["init", "-q", "-b", "main"]);
        b.git(&["config", "user.name", "Bench User"]);
        b.git(&["config", "user.email", "bench@example.com"]);
        std::fs::write(b.root.join("wf/workflow.yml"), workflow_yaml).expect("write workflow");
        // A project with some history, as real ones have: its loose objects have created the
        // object directories, which a fresh `git init` lacks (the first hundred objects of a new
        // repository each create one, a cost no later event pays).
        std::fs::create_dir_all(b.root.join("src")).expect("create src");
        for i in 0..2000 {
            std::fs::write(
                b.root.join(format!("src/file{i}.txt")),
                format!("line {i}\n"),
            )
            .expect("write project file");
        }
        b.git(&["add", "-A"]);
        b.git(&["commit", "-q", "-m", "initial"]);
        // Let the disk write the set-up out now, not while the first events are measured.
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
        b
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.root)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// CPU time (user + system) of this process, or of its waited-for children.
pub fn cpu(children: bool) -> Duration {
    // SAFETY: getrusage fills the struct we pass; all-zero is a valid initial value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let who = if children {
        libc::RUSAGE_CHILDREN
    } else {
        libc::RUSAGE_SELF
    };
    // SAFETY: `u` is a valid, writable rusage.
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Wall and CPU time of `f` (CPU of this process, or of the children it waited for).
pub fn timed<T>(children: bool, f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (c0, t0) = (cpu(children), std::time::Instant::now());
    let out = f();
    (out, t0.elapsed(), cpu(children).saturating_sub(c0))
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
