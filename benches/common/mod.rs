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
        let tmp = tempfile::tempdir().expect("temporary directory");
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("wf")).expect("create repo");
        let b = Bench { _tmp: tmp, root };
        b.git(&["init", "-q", "-b", "main"]);
        b.git(&["config", "user.name", "Bench User"]);
        b.git(&["config", "user.email", "bench@example.com"]);
        std::fs::write(b.root.join("wf/workflow.yml"), workflow_yaml).expect("write workflow");
        b.git(&["add", "-A"]);
        b.git(&["commit", "-q", "-m", "initial"]);
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

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
