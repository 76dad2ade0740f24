//! The test environment: temporary git repositories and the real `ddx` binary, hermetic.
//!
//! Every command runs with a cleared environment, `HOME` in the temporary directory, no global
//! or system git config, pinned dates and `TZ=UTC`, so no test depends on the machine.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const DATE: &str = "2026-01-14T12:34:56Z";

/// A temporary directory holding a git repository (or, with [`TestRepo::plain`], not).
pub struct TestRepo {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
}

impl TestRepo {
    /// A fresh repository on branch `main` with a configured user and no commits.
    pub fn new() -> Self {
        Self::shaped(&[])
    }

    /// A repository made by `git init` with `args` (`--object-format=sha256`,
    /// `--ref-format=reftable`, `--shared=group`), with an identity configured.
    pub fn shaped(args: &[&str]) -> Self {
        let repo = Self::plain();
        let mut init = vec!["init", "-q", "-b", "main"];
        init.extend_from_slice(args);
        repo.git(&init);
        repo.git(&["config", "user.name", "Test User"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo
    }

    /// A temporary directory that is not a git repository.
    pub fn plain() -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let root = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).expect("create repo dir");
        std::fs::create_dir_all(&home).expect("create home dir");
        TestRepo {
            _tmp: tmp,
            root,
            home,
        }
    }

    /// A command with the hermetic environment, run in the repository.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", DATE)
            .env("GIT_COMMITTER_DATE", DATE)
            .env("TZ", "UTC")
            .env("LANG", "C")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs git and returns its stdout; panics with its stderr when it fails.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.command("git").args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("git output is UTF-8")
    }

    /// Runs the `ddx` binary built for these tests.
    pub fn ddx(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_ddx"))
            .args(args)
            .output()
            .expect("run ddx")
    }

    /// Runs ddx, asserts it succeeded, and returns its stdout.
    pub fn ddx_ok(&self, args: &[&str]) -> String {
        let out = self.ddx(args);
        assert!(
            out.status.success(),
            "ddx {args:?} failed with {:?}:\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("ddx output is UTF-8")
    }

    /// Runs ddx with `--json` output and parses it.
    pub fn ddx_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ddx_ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("ddx {args:?} printed no JSON ({e}): {out}"))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, content).expect("write file");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).expect("read file")
    }

    /// Stages everything and commits.
    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }
}

/// The shared corpus (`$DDX_CORPUS` or `../shared/corpus`). `None` means skip, which the test
/// says; with `DDX_REQUIRE_CORPUS=1` a missing corpus fails the test instead.
pub fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("DDX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if path.join("ddx-helix/helix/workflow.yml").is_file() {
        return Some(path);
    }
    if std::env::var("DDX_REQUIRE_CORPUS").is_ok_and(|v| v == "1") {
        panic!(
            "the corpus is required (DDX_REQUIRE_CORPUS=1) but {} has none",
            path.display()
        );
    }
    eprintln!("skipped: no corpus at {} (set DDX_CORPUS)", path.display());
    None
}

/// The HELIX workflow of the corpus.
pub fn corpus_helix() -> Option<PathBuf> {
    corpus().map(|c| c.join("ddx-helix/helix"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small workflow (the instance and audit tests share it): frame (two human exit criteria) -> design and ui (parallel; ui only when
/// `has_ui` is yes) -> ship (one machine check).
pub const MINI_WORKFLOW: &str = r#"name: mini
version: 0.1.0
description: A small workflow for tests
variables:
  - name: project_name
    required: true
    prompt: What is your project name?
  - name: has_ui
    default: "no"
phases:
  - id: frame
    order: 1
    name: Frame the problem
    exit_criteria:
      - Problem statement clearly documented
      - Success metrics defined
  - id: design
    order: 2
    name: Design
    depends_on: [frame]
    input_gates:
      - Budget approved
    exit_criteria:
      - Architecture documented
  - id: ui
    order: 3
    name: User interface
    depends_on: [frame]
    when: "has_ui == 'yes'"
    exit_criteria:
      - Mockups reviewed
  - id: ship
    order: 4
    name: Ship
    depends_on: [design, ui]
    exit_criteria:
      - criteria: Release notes exist
        check: {file_exists: RELEASE.md}
"#;
