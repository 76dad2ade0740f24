//! Catalog benchmark: `ddx workflow search <keyword>` on a project library of N synthetic
//! workflows, as a whole process, cold (no cache) and warm, against `git grep -l` on the same
//! repository. Prints medians and peak memory.
//!
//! Run (release build): `cargo bench --bench catalog`
//! Options after `--`: `--workflows 1000,10000` (default), `--runs 5`, `--keep` (keep the
//! repositories and print where they are).
//!
//! Each repository is made by `git fast-import` (one commit holding
//! `.ddx/library/workflows/wf-NNNNN/{workflow.yml,metadata.yml}`, five phases each), then
//! repacked into one pack (`git repack -adq`) and checked out, as a real project would be.

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEYWORD: &str = "kubernetes";
const DDX: &str = env!("CARGO_BIN_EXE_ddx");

/// A small deterministic generator (xorshift64*), so every run builds the same library.
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

    fn some<'a>(&mut self, words: &[&'a str], n: usize) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        while out.len() < n {
            let w = self.pick(words);
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }
}

const CATEGORIES: &[&str] = &[
    "development",
    "quality",
    "operations",
    "security",
    "documentation",
    "design",
    "research",
    "release",
    "compliance",
    "data",
    "frontend",
    "infrastructure",
];
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
    "profiling",
    "logging",
    "tracing",
    "metrics",
    "alerting",
    "rollback",
    "canary",
    "staging",
    "docs",
    "tutorial",
    "onboarding",
    "accessibility",
    "performance",
    "caching",
    "queue",
    "stream",
    "batch",
    "pipeline",
    "container",
    "cluster",
    "network",
    "storage",
    "database",
    "index",
    "search",
    "ranking",
    "model",
    "training",
    "evaluation",
    "dataset",
    "labeling",
    "privacy",
    "consent",
    "licence",
    "dependency",
    "upgrade",
    "patch",
    "hotfix",
    "triage",
    "design",
    "mockup",
    "wireframe",
    "usability",
    "interview",
    "survey",
    "analysis",
    "report",
    "contract",
    "interface",
    "protocol",
    "client",
    "server",
    "mobile",
    "desktop",
    "embedded",
    "firmware",
    "hardware",
    "simulation",
    "validation",
    "verification",
    "specification",
    "requirements",
    "architecture",
    "decision",
    "record",
    "threat",
    "risk",
    "mitigation",
    "governance",
    "policy",
    "approval",
    "handoff",
    "retrospective",
    "planning",
    "estimate",
];
const LANGUAGES: &[&str] = &[
    "rust",
    "go",
    "python",
    "typescript",
    "java",
    "kotlin",
    "swift",
    "c",
    "cpp",
    "ruby",
];
const PHASES: &[&str] = &[
    "frame", "design", "test", "build", "deploy", "iterate", "discover", "plan", "review",
    "release", "measure", "learn", "spec", "verify", "document",
];

/// workflow.yml and metadata.yml of synthetic workflow `i`.
fn workflow_files(i: usize, rng: &mut Rng) -> (String, String, String) {
    let name = format!("wf-{i:05}");
    let mut description: Vec<&str> = (0..14).map(|_| rng.pick(WORDS)).collect();
    description[0] = "A";
    let tags = rng.some(WORDS, 3);
    let mut keywords = rng.some(WORDS, 4);
    if i % 100 == 7 {
        keywords.push(KEYWORD);
    }
    let count = 1 + (rng.next() % 2) as usize;
    let langs = rng.some(LANGUAGES, count);
    let phases = rng.some(PHASES, 5);
    let mut wf = format!(
        "name: {name}\nversion: 1.{}.0\ndescription: {}\nauthor: bench\ntags: [{}]\nvariables:\n  - name: project_name\n    required: true\nphases:\n",
        i % 10,
        description.join(" "),
        tags.join(", ")
    );
    for (n, p) in phases.iter().enumerate() {
        wf.push_str(&format!(
            "  - id: {p}\n    order: {}\n    name: {} {}\n    description: {} the {}\n    exit_criteria:\n      - {} is done\n",
            n + 1,
            p,
            rng.pick(WORDS),
            p,
            rng.pick(WORDS),
            p
        ));
    }
    let meta = format!(
        "category: {}\nkeywords: [{}]\ncompatibility:\n  languages: [{}]\nstatistics:\n  usage_count: {}\n  success_rate: 0.{}\nrating:\n  average: {}.{}\n  votes: {}\n",
        rng.pick(CATEGORIES),
        keywords.join(", "),
        langs.join(", "),
        rng.next() % 1000,
        rng.next() % 100,
        1 + rng.next() % 4,
        rng.next() % 10,
        rng.next() % 500
    );
    (name, wf, meta)
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    assert!(status.success(), "git {args:?} failed");
}

/// A fresh repository with `n` synthetic workflows committed, packed and checked out.
fn make_repo(root: &Path, n: usize) -> PathBuf {
    let dir = root.join(format!("lib-{n}"));
    std::fs::create_dir_all(&dir).expect("create the repository folder");
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.name", "Bench"]);
    git(&dir, &["config", "user.email", "bench@example.com"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    {
        let mut w = std::io::BufWriter::new(child.stdin.take().expect("piped stdin"));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let msg = format!("{n} synthetic workflows");
        write!(
            w,
            "commit refs/heads/main\ncommitter Bench <bench@example.com> 1768394096 +0000\ndata {}\n{msg}\n",
            msg.len() + 1
        )
        .expect("write to fast-import");
        let file = |w: &mut dyn Write, path: &str, data: &str| {
            write!(w, "M 100644 inline {path}\ndata {}\n{data}\n", data.len())
                .expect("write to fast-import");
        };
        file(&mut w, "README.md", "# benchmark project\n");
        for i in 0..n {
            let (name, wf, meta) = workflow_files(i, &mut rng);
            let base = format!(".ddx/library/workflows/{name}");
            file(&mut w, &format!("{base}/workflow.yml"), &wf);
            file(&mut w, &format!("{base}/metadata.yml"), &meta);
        }
        w.flush().expect("flush fast-import");
    }
    assert!(child.wait().expect("wait for fast-import").success());
    git(&dir, &["repack", "-adq"]);
    git(&dir, &["prune-packed"]);
    git(&dir, &["reset", "-q", "--hard"]);
    dir
}

struct Run {
    wall: Duration,
    /// User plus system CPU time: what the machine's other load does not inflate.
    cpu: Duration,
    /// Peak resident set size in KiB.
    max_rss_kib: i64,
    stdout: Vec<u8>,
}

/// Runs a command to completion and measures its wall time and peak memory.
// The child is reaped by `wait4`, which also reports its resource usage.
#[allow(clippy::zombie_processes)]
fn measure(dir: &Path, program: &str, args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_end(&mut out, &mut stdout).expect("read stdout");
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for the child we spawned and reaps it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{program} {args:?} failed"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        stdout,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    util::median(&v)
}

use util::ms;

fn bench(root: &Path, n: usize, runs: usize) {
    let t = Instant::now();
    let dir = make_repo(root, n);
    eprintln!(
        "built {n} workflows in {:.1} s at {}",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    let cache = dir.join(".git/ddx/cache");
    let search = ["workflow", "search", KEYWORD];
    let grep = ["grep", "-l", KEYWORD, "HEAD", "--", ".ddx/library"];

    // Check first that both find the same workflows.
    let _ = std::fs::remove_dir_all(&cache);
    let all = measure(
        &dir,
        DDX,
        &[
            "workflow", "search", KEYWORD, "--json", "--limit", "1000000",
        ],
    );
    let hits: serde_json::Value = serde_json::from_slice(&all.stdout).expect("search --json");
    let ddx_hits = hits.as_array().map_or(0, Vec::len);
    let grep_hits = String::from_utf8_lossy(&measure(&dir, "git", &grep).stdout)
        .lines()
        .count();
    assert_eq!(ddx_hits, grep_hits, "ddx and git grep disagree");

    let (mut cold, mut cold_cpu, mut cold_rss) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&cache);
        let r = measure(&dir, DDX, &search);
        cold.push(r.wall);
        cold_cpu.push(r.cpu);
        cold_rss = cold_rss.max(r.max_rss_kib);
    }
    let (mut warm, mut warm_cpu, mut warm_rss) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs * 2 {
        let r = measure(&dir, DDX, &search);
        warm.push(r.wall);
        warm_cpu.push(r.cpu);
        warm_rss = warm_rss.max(r.max_rss_kib);
    }
    let (mut grep_times, mut grep_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs * 2 {
        let r = measure(&dir, "git", &grep);
        grep_times.push(r.wall);
        grep_cpu.push(r.cpu);
    }
    let (cold, warm, grep_t) = (median(cold), median(warm), median(grep_times));
    let (cold_cpu, warm_cpu, grep_cpu) = (median(cold_cpu), median(warm_cpu), median(grep_cpu));
    let mb = |kib: i64| kib as f64 / 1024.0;
    println!(
        "workflows: {n} ({ddx_hits} match `{KEYWORD}`), {runs} cold / {} warm runs, medians",
        runs * 2
    );
    println!(
        "  ddx workflow search, cold:  {:8.1} ms   cpu {:8.1} ms   peak {:6.1} MB",
        ms(cold),
        ms(cold_cpu),
        mb(cold_rss)
    );
    println!(
        "  ddx workflow search, warm:  {:8.1} ms   cpu {:8.1} ms   peak {:6.1} MB",
        ms(warm),
        ms(warm_cpu),
        mb(warm_rss)
    );
    println!(
        "  git grep -l:                {:8.1} ms   cpu {:8.1} ms",
        ms(grep_t),
        ms(grep_cpu)
    );
    println!(
        "  warm / git grep = {:.2}  (ddx warm is {:.1}x faster); cold / git grep = {:.2}",
        ms(warm) / ms(grep_t),
        ms(grep_t) / ms(warm),
        ms(cold) / ms(grep_t)
    );
    if n == 10_000 {
        let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
        println!(
            "  targets at 10,000: cold < 2 s {}, warm < 100 ms {}, peak < 200 MB {}, warm beats git grep {}",
            verdict(cold < Duration::from_secs(2)),
            verdict(warm < Duration::from_millis(100)),
            verdict(cold_rss.max(warm_rss) < 200 * 1024),
            verdict(warm < grep_t)
        );
    }
    if n == 1_000 {
        println!(
            "  the Go design allowed 30 s for discovery at 1,000 workflows: cold is {:.0}x below it",
            30_000.0 / ms(cold)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = vec![1_000, 10_000];
    let mut runs = 5;
    let mut keep = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--workflows" => {
                i += 1;
                sizes = args[i]
                    .split(',')
                    .map(|s| s.trim().parse().expect("--workflows takes numbers"))
                    .collect();
            }
            "--runs" => {
                i += 1;
                runs = args[i].parse().expect("--runs takes a number");
            }
            "--keep" => keep = true,
            // `cargo bench` passes --bench; other harness flags are ignored too.
            _ => {}
        }
        i += 1;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    println!("ddx catalog benchmark ({})", DDX);
    for n in sizes {
        bench(tmp.path(), n, runs.max(1));
    }
    if keep {
        let kept = tmp.keep();
        println!("repositories kept in {}", kept.display());
    }
}
