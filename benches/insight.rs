//! Insight benchmark: the whole `ddx` process for
//! - `ddx analyze --json` of a repository of 10,000 files and 5,000 commits (target < 1 s),
//! - `ddx recommend --json <a crash report>` over a catalog of 10,000 workflows, index warm
//!   (target < 100 ms),
//! - `ddx stats --json` over 1,000 instances of 20 events each (target < 1 s).
//!
//! Run (release build): `cargo bench --bench insight`
//! Options after `--`: `--runs N` (default 5), `--keep` (keep the repositories).
//!
//! Fixtures are written by `git fast-import`: the analysed history (every commit touching three
//! files, a third of the subjects fixes), the synthetic catalog (as `benches/catalog.rs` makes
//! it, one commit under `.ddx/library/workflows/`), and the instance chains (each a chain of 20
//! event commits whose tip holds the `state.yml` and pinned `workflow/` tree of an instance
//! ddx itself made, given a new id).

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DDX: &str = env!("CARGO_BIN_EXE_ddx");

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ddx(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(DDX)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run ddx");
    assert!(
        out.status.success(),
        "ddx {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn new_repo(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("create the repository folder");
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.name", "Bench"]);
    git(&dir, &["config", "user.email", "bench@example.com"]);
    dir
}

/// Feeds `write` to `git fast-import` in `dir`.
fn fast_import(dir: &Path, write: impl FnOnce(&mut dyn Write)) {
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    {
        let mut w = std::io::BufWriter::new(child.stdin.take().expect("piped stdin"));
        write(&mut w);
        w.flush().expect("flush fast-import");
    }
    assert!(child.wait().expect("wait for fast-import").success());
}

fn data(w: &mut dyn Write, text: &str) {
    write!(w, "data {}\n{text}\n", text.len()).expect("write to fast-import");
}

/// 10,000 files (a Rust project, no tests) and 5,000 commits.
fn analysed_repo(root: &Path) -> PathBuf {
    let dir = new_repo(root, "analysed");
    let (files, commits) = (10_000usize, 5_000usize);
    fast_import(&dir, |w| {
        let mut t = 1_700_000_000u64;
        for c in 0..commits {
            t += 60;
            let subject = if c % 3 == 0 {
                format!("Fix the crash in module {c}")
            } else {
                format!("Add feature {c}")
            };
            writeln!(w, "commit refs/heads/main").expect("write");
            writeln!(
                w,
                "author Dev{} <dev{}@example.com> {t} +0000",
                c % 7,
                c % 7
            )
            .expect("write");
            writeln!(w, "committer Bench <bench@example.com> {t} +0000").expect("write");
            data(w, &subject);
            if c == 0 {
                data_file(w, "Cargo.toml", "[package]\nname = \"big\"\n");
                for f in 0..files {
                    data_file(
                        w,
                        &format!("src/m{}/f{f}.rs", f % 100),
                        &format!("// {f}\n"),
                    );
                }
            } else {
                for k in 0..3 {
                    let f = (c * 7 + k * 3_331) % files;
                    data_file(
                        w,
                        &format!("src/m{}/f{f}.rs", f % 100),
                        &format!("// {f} changed by {c}\n"),
                    );
                }
            }
        }
    });
    git(&dir, &["repack", "-adq"]);
    git(&dir, &["reset", "-q", "--hard"]);
    dir
}

fn data_file(w: &mut dyn Write, path: &str, text: &str) {
    writeln!(w, "M 100644 inline {path}").expect("write");
    data(w, text);
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "api",
    "review",
    "testing",
    "refactor",
    "deploy",
    "monitor",
    "incident",
    "audit",
    "schema",
    "migration",
    "feature",
    "backlog",
    "sprint",
    "story",
    "spike",
    "prototype",
    "benchmark",
    "logging",
    "tracing",
    "metrics",
    "alerting",
    "rollback",
    "canary",
    "staging",
    "docs",
    "onboarding",
    "performance",
    "caching",
    "queue",
    "stream",
    "pipeline",
    "container",
    "cluster",
    "network",
    "storage",
    "database",
    "index",
    "search",
    "privacy",
    "dependency",
    "upgrade",
    "patch",
    "hotfix",
    "triage",
    "design",
    "usability",
    "report",
    "contract",
    "interface",
    "protocol",
    "client",
    "server",
    "mobile",
    "firmware",
    "validation",
    "requirements",
    "architecture",
    "decision",
    "threat",
    "risk",
    "governance",
    "planning",
];

/// A catalog of `n` synthetic workflows in the project library, committed and checked out.
fn catalog_repo(root: &Path, n: usize) -> PathBuf {
    let dir = new_repo(root, "catalog");
    fast_import(&dir, |w| {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        writeln!(w, "commit refs/heads/main").expect("write");
        writeln!(w, "committer Bench <bench@example.com> 1768394096 +0000").expect("write");
        data(w, &format!("{n} synthetic workflows"));
        data_file(w, "README.md", "# benchmark project\n");
        for i in 0..n {
            let name = format!("wf-{i:05}");
            let description: Vec<&str> = (0..14).map(|_| rng.pick(WORDS)).collect();
            let tags: Vec<&str> = (0..3).map(|_| rng.pick(WORDS)).collect();
            let mut wf = format!(
                "name: {name}\nversion: 1.0.0\ndescription: A {}\ntags: [{}]\nphases:\n",
                description.join(" "),
                tags.join(", ")
            );
            for (k, p) in ["frame", "design", "build", "verify", "release"]
                .iter()
                .enumerate()
            {
                wf.push_str(&format!(
                    "  - id: {p}\n    order: {}\n    name: {p} {}\n    exit_criteria:\n      - {p} is done\n",
                    k + 1,
                    rng.pick(WORDS)
                ));
            }
            data_file(
                w,
                &format!(".ddx/library/workflows/{name}/workflow.yml"),
                &wf,
            );
        }
    });
    git(&dir, &["repack", "-adq"]);
    git(&dir, &["reset", "-q", "--hard"]);
    dir
}

/// 1,000 instances of 20 events each (a third cancelled, the rest completed), and an audit
/// chain with an entry per event.
fn instances_repo(root: &Path, count: usize, events: usize) -> PathBuf {
    let dir = new_repo(root, "instances");
    std::fs::create_dir_all(dir.join(".ddx/local/workflows/solo")).expect("create workflow");
    std::fs::write(
        dir.join(".ddx/local/workflows/solo/workflow.yml"),
        "name: solo\nversion: 1.0.0\ndescription: One phase\nphases:\n  - id: only\n    name: Only\n",
    )
    .expect("write workflow");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "initial"]);
    // One instance made by ddx: its tip is the template of every generated one.
    ddx(&dir, &["workflow", "init", "solo", "--id", "template"]);
    ddx(&dir, &["workflow", "next", "-i", "template"]);
    ddx(&dir, &["workflow", "next", "-i", "template"]);
    let state = git(&dir, &["show", "refs/ddx/instances/template:state.yml"]);
    let workflow_tree = git(&dir, &["rev-parse", "refs/ddx/instances/template:workflow"]);
    let workflow_tree = workflow_tree.trim();
    assert!(state.contains("\nstatus: completed\n"), "{state}");
    fast_import(&dir, |w| {
        for i in 0..count {
            let id = format!("solo-{i:05}");
            let mut st = state.replace("instance: template\n", &format!("instance: {id}\n"));
            if i % 3 == 0 {
                st = st.replace("\nstatus: completed\n", "\nstatus: cancelled\n");
            }
            let mut t = 1_768_394_096u64 + i as u64;
            for e in 0..events {
                t += 30;
                writeln!(w, "commit refs/ddx/instances/{id}").expect("write");
                writeln!(w, "author Bench <bench@example.com> {t} +0000").expect("write");
                writeln!(w, "committer Bench <bench@example.com> {t} +0000").expect("write");
                let mut msg = format!(
                    "ddx({id}): event {e}\n\nDdx-Event: approve\nDdx-Instance: {id}\nDdx-Phase: only\n"
                );
                if e % 5 == 4 {
                    msg.push_str("Ddx-Check: only 1 failed: not yet\n");
                }
                if e == events - 1 && i % 10 == 1 {
                    msg.push_str("Ddx-Forced: it is done\n");
                }
                data(w, &msg);
                if e == 0 {
                    writeln!(w, "M 040000 {workflow_tree} workflow").expect("write");
                }
                if e == 0 || e == events - 1 {
                    data_file(w, "state.yml", &st);
                }
                // The audit chain has an entry per event, as ddx writes them; one in a hundred
                // is a bypass naming the instance.
                writeln!(w, "commit refs/ddx/audit").expect("write");
                writeln!(w, "committer Bench <bench@example.com> {t} +0000").expect("write");
                let audit = if e == 10 && i % 100 == 0 {
                    format!("ddx(audit): commit made without the pre-commit hook\n\nDdx-Operation: bypass\nDdx-Instances: {id}\nDdx-Format: 1\n")
                } else {
                    format!("ddx(audit): {id}: event {e}\n\nDdx-Operation: approve\nDdx-Instance: {id}\nDdx-Format: 1\n")
                };
                data(w, &audit);
                if i == 0 && e == 0 {
                    writeln!(w, "from refs/ddx/audit^0").expect("write");
                }
                data_file(
                    w,
                    "entry.yml",
                    &format!("format: 1\noperation: approve\ninstance: {id}\n"),
                );
            }
        }
    });
    git(&dir, &["pack-refs", "--all"]);
    git(&dir, &["repack", "-adq"]);
    dir
}

fn report(what: &str, target_ms: f64, times: &[Duration]) {
    let m = util::ms(util::median(times));
    let verdict = if m < target_ms { "ok" } else { "MISSED" };
    println!(
        "  {what:58} median {m:8.1} ms  (min {:.1}, max {:.1}; target < {target_ms} ms: {verdict})",
        util::ms(times[0]),
        util::ms(times[times.len() - 1])
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 5;
    let mut keep = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--runs" => {
                i += 1;
                runs = args[i].parse().expect("--runs takes a number");
            }
            "--keep" => keep = true,
            _ => {}
        }
        i += 1;
    }
    std::env::set_var("GIT_CONFIG_GLOBAL", "/dev/null");
    std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
    std::env::remove_var("LD_LIBRARY_PATH");
    let tmp = match std::env::var_os("DDX_BENCH_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let root = tmp.path();
    println!("ddx insight benchmark ({DDX}), {runs} runs each after one warm-up");

    let analysed = analysed_repo(root);
    let out = ddx(&analysed, &["analyze", "--json"]);
    let a: serde_json::Value = serde_json::from_str(&out).expect("analyze --json");
    assert_eq!(a["project"]["commits"], 5_000, "{}", a["project"]);
    let times = util::sample_process(runs, &analysed, Path::new(DDX), &["analyze", "--json"]);
    report("ddx analyze: 10,000 files, 5,000 commits", 1_000.0, &times);

    let catalog = catalog_repo(root, 10_000);
    let words = [
        "recommend",
        "--json",
        "the",
        "checkout",
        "crashes",
        "with",
        "an",
        "error",
    ];
    let out = ddx(&catalog, &words);
    let r: serde_json::Value = serde_json::from_str(&out).expect("recommend --json");
    assert_eq!(r[0]["name"], "bugfix", "{}", r[0]);
    let times = util::sample_process(runs, &catalog, Path::new(DDX), &words);
    report("ddx recommend: 10,000 workflows, index warm", 100.0, &times);

    let instances = instances_repo(root, 1_000, 20);
    let out = ddx(&instances, &["stats", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&out).expect("stats --json");
    assert_eq!(s[0]["instances"], 1_001, "{}", s[0]);
    assert_eq!(s[0]["bypasses"], 10, "{}", s[0]);
    let times = util::sample_process(runs, &instances, Path::new(DDX), &["stats", "--json"]);
    report("ddx stats: 1,000 instances of 20 events", 1_000.0, &times);

    if keep {
        let kept = tmp.keep();
        println!("repositories kept in {}", kept.display());
    }
}
