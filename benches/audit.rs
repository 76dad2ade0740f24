//! Observability: `ddx audit verify` over 100,000 audit entries (target < 5 s), a `ddx log`
//! query over 100,000 lines (target < 300 ms), and what logging adds to a transition (target
//! < 1 ms). Run with `cargo bench --bench audit`; figures in docs/benchmarks.md.
//! `DDX_BENCH_BASELINE=<path to an older ddx binary>` times that binary's verify too.
//!
//! The audit history is generated with the library's own pieces (the state machine, the check
//! recorder, the event and audit commit writers), exactly as `ddx` writes its objects, then
//! `git repack`ed (a repository after `git gc`: compressed, deltified).
//! Writing 100,000 transactions through the ref store one by one would take the better part of
//! an hour on a slow disk; the objects and refs are the same either way, and the benchmark
//! checks that `ddx audit verify` finds every chain intact before it times anything. The
//! repository is kept under `target/bench-data/` and reused while the generator is unchanged.

mod util;

use ddx::engine::machine::{self, Applied, EventContext, Op};
use ddx::engine::replay::Recorder;
use ddx::engine::state::State;
use ddx::engine::{gates, graph};
use ddx::model::{load_workflow, DirTree};
use ddx::store::audit::{self, AuditRecord};
use ddx::store::event::{self, Message, Sink, FORMAT};
use ddx::store::{HashKind, Identity, ObjectId};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::{describe, load_average, median, ms, sample, sample_process, sample_process_cpu};

/// Bump when what the generator writes changes, so a cached repository is rebuilt.
const GENERATOR: u32 = 3;
const INSTANCES: usize = 200;
const EVENTS_PER_INSTANCE: usize = 500;
/// 2026-01-14T12:00:00Z.
const T0: i64 = 1_768_392_000;

const WORKFLOW: &str = r#"name: cycle
version: 1.0.0
description: One phase, reviewed and built, reopened again and again.
variables:
  - name: project_name
    required: true
phases:
  - id: build
    order: 1
    name: Build
    exit_criteria:
      - Reviewed by a second person
      - criteria: binary built
        check: {file_exists: target/app}
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn git_stdin(dir: &Path, args: &[&str], input: &[u8]) {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("feed git");
    assert!(
        child.wait().expect("wait for git").success(),
        "git {args:?}"
    );
}

fn new_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the repository folder");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Bench User"]);
    git(dir, &["config", "user.email", "bench@example.com"]);
    std::fs::create_dir_all(dir.join("wf")).expect("create wf/");
    std::fs::write(dir.join("wf/workflow.yml"), WORKFLOW).expect("write the workflow");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
}

/// The commit message and audit record of a transition, as the engine writes them.
fn event_message(
    instance: &str,
    effect: &machine::Effect,
    checks: &Recorder<'_>,
) -> (Message, AuditRecord) {
    let mut message = Message::new(format!("ddx({instance}): {}", effect.subject));
    message.body = effect.lines.join("\n");
    let args = effect.write_trailers(&mut message, checks.calls().iter().map(|c| c.trailer()));
    let record = AuditRecord {
        operation: effect.event.clone(),
        summary: effect.subject.clone(),
        args,
    };
    (message, record)
}

/// Generates `instances` instances of `per_instance` events each, interleaved on one audit
/// chain, one second apart; returns the refs to set.
fn generate(dir: &Path, instances: usize, per_instance: usize) -> Vec<(String, ObjectId)> {
    new_repo(dir);
    let store = ddx::store::Repo::discover(dir).expect("open the repository");
    let project = store.project_commit();
    let tree = DirTree::new(dir.join("wf"));
    let wf = load_workflow(&tree).expect("the workflow is valid");
    let mut heads = Vec::new();
    {
        let sink = Sink::Write(&store);
        let (wf_tree, _) = event::write_file_tree(sink, &tree).expect("write the workflow tree");
        let mut identity = Identity {
            name: "Bench User".into(),
            email: "bench@example.com".into(),
            seconds: T0,
            offset: 0,
        };
        let mut audit_head: Option<ObjectId> = None;
        let mut chains: Vec<(String, State, ObjectId)> = Vec::new();
        let cycle = [
            Op::Approve {
                phase: "build".into(),
                criteria: vec!["Reviewed by a second person".into()],
                comment: None,
            },
            Op::Complete {
                phase: "build".into(),
                force: true,
            },
            Op::Reopen {
                phase: "build".into(),
            },
        ];
        for round in 0..per_instance {
            for i in 0..instances {
                identity.seconds = T0 + (round * instances + i) as i64;
                let at = identity.time();
                let actor = identity.actor();
                let (state, mut message, record, parents) = if round == 0 {
                    let id = format!("cycle-{i:04}");
                    let vars = BTreeMap::from([("project_name".to_owned(), format!("p{i}"))]);
                    let mut st = State::new(&wf, &id, "path:./wf", vars, &at, &actor);
                    st.context.insert("project".into(), "bench".into());
                    st.context.insert("branch".into(), "main".into());
                    graph::refresh(&mut st, &wf).expect("refresh");
                    machine::derive_status(&mut st);
                    st.metrics.events = 1;
                    let mut message = Message::new(format!("ddx({id}): init cycle 1.0.0"));
                    message.body = "workflow: cycle 1.0.0 (path:./wf), 1 phases".into();
                    message.trailer("Ddx-Event", "init");
                    message.trailer("Ddx-Workflow", "cycle 1.0.0");
                    let record = AuditRecord {
                        operation: "init".into(),
                        summary: "init cycle 1.0.0".into(),
                        args: BTreeMap::from([
                            ("workflow".to_owned(), "cycle 1.0.0".to_owned()),
                            ("version".to_owned(), "1.0.0".to_owned()),
                            ("source".to_owned(), "path:./wf".to_owned()),
                        ]),
                    };
                    chains.push((id, st.clone(), ObjectId::null(HashKind::Sha1)));
                    (st, message, record, Vec::new())
                } else {
                    let (id, before, tip) = &chains[i];
                    let op = if round == 1 {
                        Op::Next
                    } else {
                        cycle[(round - 2) % cycle.len()].clone()
                    };
                    let mut st = before.clone();
                    let recorder = Recorder::new(&gates::NotEvaluatedHere);
                    let cx = EventContext {
                        actor: &actor,
                        at: &at,
                        reason: None,
                        work_dir: None,
                    };
                    let Applied::Changed(effect) =
                        machine::apply(&mut st, Some(&wf), &op, &cx, &recorder)
                            .expect("the cycle applies")
                    else {
                        panic!("the cycle changes something every time");
                    };
                    let (message, record) = event_message(id, &effect, &recorder);
                    (st, message, record, vec![*tip])
                };
                let id = chains[i].0.clone();
                message.trailer("Ddx-Instance", &id);
                message.trailer("Ddx-Actor", &actor);
                if let Some(p) = project {
                    message.trailer("Ddx-Project-Commit", p.to_string());
                }
                message.trailer("Ddx-Format", FORMAT.to_string());
                if let Some(a) = audit_head {
                    message.trailer("Ddx-Audit-Parent", a.to_string());
                }
                let (_, tree) = event::write_event_tree(sink, &state.to_yaml(), wf_tree)
                    .expect("write the event tree");
                let commit = event::write_commit(sink, &identity, &message, tree, &parents)
                    .expect("write the event");
                let entry = audit::write_entry(
                    sink,
                    &identity,
                    audit_head,
                    &[],
                    &id,
                    Some(commit),
                    project,
                    &record,
                )
                .expect("write the audit entry");
                audit_head = Some(entry);
                chains[i].1 = state;
                chains[i].2 = commit;
            }
        }
        for (id, _, tip) in &chains {
            heads.push((format!("refs/ddx/instances/{id}"), *tip));
        }
        heads.push((
            "refs/ddx/audit".to_owned(),
            audit_head.expect("at least one entry"),
        ));
    }
    let mut refs = String::from("start\n");
    for (name, id) in &heads {
        refs.push_str(&format!("create {name} {id}\n"));
    }
    refs.push_str("commit\n");
    git_stdin(dir, &["update-ref", "--stdin"], refs.as_bytes());
    // What ddx would remember having written.
    let ddx_dir = dir.join(".git/ddx");
    std::fs::create_dir_all(&ddx_dir).expect("create .git/ddx");
    let text: String = heads
        .iter()
        .map(|(name, id)| format!("{id} {name}\n"))
        .collect();
    std::fs::write(ddx_dir.join("heads"), text).expect("write the heads");
    heads
}

fn bench_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(name)
}

/// The 100,000-entry repository, generated once and reused.
fn audit_repo() -> PathBuf {
    let dir = bench_data(&format!(
        "audit-{INSTANCES}x{EVENTS_PER_INSTANCE}-v{GENERATOR}"
    ));
    let done = dir.join(".git/ddx/bench-complete");
    if done.exists() {
        println!("reusing {}", dir.display());
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    generate(&dir, INSTANCES, EVENTS_PER_INSTANCE);
    println!(
        "generated {} events and audit entries in memory and packed them: {:.1} s",
        INSTANCES * EVENTS_PER_INSTANCE,
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    git(&dir, &["repack", "-adFq"]);
    git(&dir, &["pack-refs", "--all"]);
    println!(
        "git repack -adF (recompressed and deltified, as after git gc --aggressive): {:.1} s",
        start.elapsed().as_secs_f64()
    );
    std::fs::write(&done, "").expect("mark the data complete");
    dir
}

fn bench_verify(ddx: &Path) {
    let dir = audit_repo();
    let count: usize = git(&dir, &["rev-list", "--count", "refs/ddx/audit"])
        .trim()
        .parse()
        .expect("a count");
    let out = Command::new(ddx)
        .args(["audit", "verify", "--json", "--no-record"])
        .current_dir(&dir)
        .output()
        .expect("run ddx audit verify");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("verify prints one JSON document");
    assert_eq!(
        v["ok"],
        true,
        "the generated history must verify: {}",
        serde_json::to_string_pretty(&v["breaks"][0]).unwrap_or_default()
    );
    assert_eq!(v["checked"]["audit_entries"], count as u64);
    assert_eq!(v["checked"]["replayed"], count as u64);
    println!(
        "history: {count} audit entries, {} instances, {} events (all replayed), packed",
        v["checked"]["instances"], v["checked"]["events"]
    );
    let (wall, cpu) =
        sample_process_cpu(7, &dir, ddx, &["audit", "verify", "--json", "--no-record"]);
    println!(
        "process      ddx audit verify ({count} entries) {}   (target: < 5000 ms)",
        describe(&wall)
    );
    println!(
        "             its CPU time (user + system, all threads)  {}",
        describe(&cpu)
    );
    // Without the commit preload, to weigh it in the same run.
    std::env::set_var("DDX_BENCH_NO_PRELOAD", "1");
    let (wall, cpu) =
        sample_process_cpu(7, &dir, ddx, &["audit", "verify", "--json", "--no-record"]);
    std::env::remove_var("DDX_BENCH_NO_PRELOAD");
    println!(
        "process      ... the same without the commit preload {}, CPU {}",
        describe(&wall),
        describe(&cpu)
    );
    if let Some(old) = std::env::var_os("DDX_BENCH_BASELINE") {
        let (wall, cpu) = sample_process_cpu(
            7,
            &dir,
            Path::new(&old),
            &["audit", "verify", "--json", "--no-record"],
        );
        println!(
            "process      baseline ddx audit verify ({count} entries) {}, CPU {}",
            describe(&wall),
            describe(&cpu)
        );
    }
    println!(
        "             load average after measuring: {}",
        load_average()
    );
    let t = sample_process(3, &dir, ddx, &["audit", "log", "--json"]);
    println!(
        "process      ddx audit log --json ({count} entries) {}",
        describe(&t)
    );
}

/// A log of `n` lines over `instances` instance files, as the log layer writes them.
fn log_repo(n: usize, instances: usize) -> PathBuf {
    let dir = bench_data(&format!("log-{n}-v{GENERATOR}"));
    let done = dir.join(".git/ddx/bench-complete");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    new_repo(&dir);
    let logs = dir.join(".git/ddx/logs");
    std::fs::create_dir_all(&logs).expect("create the log folder");
    let mut files: Vec<std::io::BufWriter<std::fs::File>> = (0..instances)
        .map(|i| {
            std::io::BufWriter::new(
                std::fs::File::create(logs.join(format!("cycle-{i:04}.jsonl"))).expect("create"),
            )
        })
        .collect();
    for k in 0..n {
        let i = k % instances;
        let secs = T0 + (k / 4) as i64;
        let time = ddx::observe::time::format_unix(secs, (k % 1000) as u32 * 997);
        let run = format!("{:x}{:05x}-{:x}", secs, k % 7919, 4000 + k / 10);
        let (level, target, message, fields) = match k % 20 {
            0 => (
                "warn",
                "instance_log",
                "build: forced past \"binary built\" (not_evaluated)".to_owned(),
                r#"{"event":"complete"}"#.to_owned(),
            ),
            1 => (
                "error",
                "instance_log",
                "the exit gate of phase build is not satisfied".to_owned(),
                r#"{"exit_code":3,"causes":["the exit gate of phase build is not satisfied"]}"#
                    .to_owned(),
            ),
            2..=5 => (
                "debug",
                "ddx::store::transaction",
                format!("lost a race on attempt {}, retrying", k % 3 + 1),
                "{}".to_owned(),
            ),
            _ => (
                "info",
                "ddx::engine",
                format!("cycle-{i:04}: approve build: Reviewed by a second person ({k})"),
                format!(
                    r#"{{"event":"approve","commit":"{:040x}","audit":"{:040x}"}}"#,
                    k * 7919,
                    k * 104_729
                ),
            ),
        };
        let line = serde_json::json!({
            "time": time,
            "level": level,
            "target": target,
            "message": message,
            "fields": serde_json::from_str::<serde_json::Value>(&fields).expect("fields"),
            "run": run,
            "instance": format!("cycle-{i:04}"),
        });
        writeln!(files[i], "{line}").expect("write a log line");
    }
    for mut f in files {
        f.flush().expect("flush the log");
    }
    std::fs::write(&done, "").expect("mark the data complete");
    dir
}

fn bench_log_query(ddx: &Path) {
    const LINES: usize = 100_000;
    let dir = log_repo(LINES, 20);
    let bytes: u64 = std::fs::read_dir(dir.join(".git/ddx/logs"))
        .expect("the logs")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "log: {LINES} lines in 20 instance files, {:.1} MB",
        bytes as f64 / 1e6
    );
    let queries: &[(&str, &[&str])] = &[
        (
            "--level warn --grep forced (all instances)",
            &[
                "log", "--level", "warn", "--grep", "forced", "--format", "json",
            ],
        ),
        (
            "--instance cycle-0007 --since 2026-01-14T12:30:00Z",
            &[
                "log",
                "--instance",
                "cycle-0007",
                "--since",
                "2026-01-14T12:30:00Z",
                "--format",
                "json",
            ],
        ),
        (
            "--run <one run> (all instances)",
            &["log", "--run", "6967852a", "--format", "csv"],
        ),
        (
            "every line as JSON (all instances)",
            &["log", "--format", "json"],
        ),
    ];
    for (label, args) in queries {
        let t = sample_process(10, &dir, ddx, args);
        println!(
            "process      ddx log {label:<52} {}   (target: < 300 ms)",
            describe(&t)
        );
    }
}

/// Child process: transitions in a tmpfs repository, with or without the instance log.
fn logging_child(with_log: bool) {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let tmp = tempfile::tempdir_in(base).expect("temporary directory");
    let dir = tmp.path().join("repo");
    new_repo(&dir);
    if with_log {
        ddx::observe::log::init(-2, false);
    }
    let repo = ddx::store::Repo::discover(&dir).expect("open");
    let located = ddx::catalog::locate("./wf", &dir).expect("locate");
    let engine = ddx::engine::Engine::new(&repo).expect("engine");
    let vars = BTreeMap::from([("project_name".to_owned(), "p".to_owned())]);
    engine
        .init(&located, vars, Some("c1"), false)
        .expect("init");
    engine.apply("c1", &Op::Next, None, false).expect("next");
    let ops = [
        Op::Approve {
            phase: "build".into(),
            criteria: vec!["1".into()],
            comment: None,
        },
        Op::Complete {
            phase: "build".into(),
            force: true,
        },
        Op::Reopen {
            phase: "build".into(),
        },
    ];
    let mut k = 0;
    let times = sample(300, || {
        engine
            .apply("c1", &ops[k % 3], None, false)
            .expect("a transition");
        k += 1;
    });
    let lines = std::fs::read_to_string(dir.join(".git/ddx/logs/c1.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!("{} {lines}", median(&times).as_nanos());
    if with_log {
        // The logging of one transition alone, into the attached file.
        let report = engine
            .apply("c1", &ops[k % 3], None, false)
            .expect("a transition");
        let t = sample(20_000, || ddx::engine::log_report(&report));
        println!("{}", median(&t).as_nanos());
        ddx::observe::log::flush();
    }
}

fn bench_logging_cost() {
    let me = std::env::current_exe().expect("this benchmark's path");
    let run = |with_log: bool| -> (Duration, usize, Option<Duration>) {
        let out = Command::new(&me)
            .env(
                "DDX_BENCH_LOGGING_CHILD",
                if with_log { "on" } else { "off" },
            )
            .output()
            .expect("run the child");
        assert!(
            out.status.success(),
            "child: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let mut first = lines.next().expect("a median").split(' ');
        let median = Duration::from_nanos(first.next().expect("ns").parse().expect("ns"));
        let written: usize = first.next().expect("lines").parse().expect("lines");
        let alone = lines
            .next()
            .map(|l| Duration::from_nanos(l.parse().expect("ns")));
        (median, written, alone)
    };
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut alone = Vec::new();
    let mut written = 0;
    for _ in 0..3 {
        let (m, _, _) = run(false);
        without.push(m);
        let (m, n, a) = run(true);
        with.push(m);
        written = n;
        alone.extend(a);
    }
    with.sort();
    without.sort();
    alone.sort();
    println!(
        "in process   transition with the instance log    median of 3×300: {:.3} ms ({written} log lines for 300 transitions)",
        ms(median(&with))
    );
    println!(
        "in process   transition without logging           median of 3×300: {:.3} ms",
        ms(median(&without))
    );
    println!(
        "in process   logging one transition (its lines into the file) median: {:.1} µs   (target: < 1000 µs)",
        median(&alone).as_secs_f64() * 1e6
    );
}

fn main() {
    if let Ok(mode) = std::env::var("DDX_BENCH_LOGGING_CHILD") {
        logging_child(mode == "on");
        return;
    }
    let ddx = Path::new(env!("CARGO_BIN_EXE_ddx"));
    println!("== observability (release build, medians)");
    println!("load average at the start: {}", load_average());
    bench_log_query(ddx);
    bench_logging_cost();
    bench_verify(ddx);
}
