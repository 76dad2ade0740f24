//! Reliability: concurrent writers, processes killed at random moments, interrupted steps.
//! Every check reads what ddx wrote with the real `git`.

mod common;

use common::{stderr, stdout, TestRepo};
use ddx::engine::state::State;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A workflow with one phase of `n` human exit criteria named `c-<i>`.
fn workflow(n: usize) -> String {
    let mut s = String::from(
        "name: many\nversion: 1.0.0\ndescription: many approvals\nphases:\n  - id: p\n    order: 1\n    name: P\n    exit_criteria:\n",
    );
    for i in 0..n {
        s.push_str(&format!("      - c-{i}\n"));
    }
    s.push_str("  - id: q\n    order: 2\n    name: Q\n");
    s
}

/// The repository shapes git makes that every reliability test runs in: the default one,
/// SHA-256, reftable, both, and a group-shared one.
const SHAPES: &[&[&str]] = &[
    &[],
    &["--object-format=sha256"],
    &["--ref-format=reftable"],
    &["--object-format=sha256", "--ref-format=reftable"],
    &["--shared=group"],
];

fn setup(n: usize) -> (TestRepo, String) {
    setup_shaped(n, &[])
}

fn setup_shaped(n: usize, shape: &[&str]) -> (TestRepo, String) {
    let repo = TestRepo::shaped(shape);
    repo.write("wf/workflow.yml", workflow(n));
    repo.commit_all("initial");
    let id = repo
        .ddx_ok(&["workflow", "init", "./wf", "--id", "many-1"])
        .trim()
        .to_owned();
    (repo, id)
}

fn git_lines(repo: &TestRepo, args: &[&str]) -> Vec<String> {
    repo.git(args).lines().map(str::to_owned).collect()
}

/// `key` trailers of every commit of `rev`, oldest first, one string per commit.
fn trailers(repo: &TestRepo, rev: &str, key: &str) -> Vec<String> {
    let out = repo.git(&[
        "log",
        "--reverse",
        &format!("--format=%(trailers:key={key},valueonly,separator=%x2C)%x00"),
        rev,
    ]);
    let mut parts: Vec<String> = out.split('\0').map(|s| s.trim().to_owned()).collect();
    parts.pop();
    parts
}

fn assert_fsck_clean(repo: &TestRepo) {
    let out = repo
        .command("git")
        .args(["fsck", "--strict", "--no-progress"])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "git fsck failed: {text}");
    for bad in ["error", "missing", "broken", "corrupt", "bad "] {
        assert!(!text.contains(bad), "git fsck: {text}");
    }
}

/// Every state.yml of the chain, read with `git cat-file --batch`.
fn all_states(repo: &TestRepo, r: &str) -> Vec<String> {
    let revs = git_lines(repo, &["rev-list", "--reverse", r]);
    let mut child = repo
        .command("git")
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for rev in &revs {
            writeln!(stdin, "{rev}:state.yml").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap().stdout;
    let mut states = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&rest[..nl]).unwrap();
        let size: usize = header
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("no state.yml: {header}"));
        states.push(String::from_utf8(rest[nl + 1..nl + 1 + size].to_vec()).unwrap());
        rest = &rest[nl + 2 + size..];
    }
    assert_eq!(states.len(), revs.len());
    states
}

/// The two chains vouch for each other: every instance event has exactly one audit entry
/// naming it, in the same order, and names the audit head it followed.
fn assert_chains_match(repo: &TestRepo, r: &str) {
    let events = git_lines(repo, &["rev-list", "--reverse", r]);
    let audits = git_lines(repo, &["rev-list", "--reverse", "refs/ddx/audit"]);
    let named = trailers(repo, "refs/ddx/audit", "Ddx-Instance-Commit");
    let ops = trailers(repo, "refs/ddx/audit", "Ddx-Operation");
    let parents = trailers(repo, r, "Ddx-Audit-Parent");
    assert_eq!(named.len(), audits.len());
    assert_eq!(parents.len(), events.len());
    let event_set: BTreeSet<&String> = events.iter().collect();
    // Audit entries of operations that wrote an instance event, in order.
    let mut event_audits = Vec::new();
    for (i, a) in audits.iter().enumerate() {
        assert!(
            event_set.contains(&named[i]),
            "audit {a} names {} which is not on {r}",
            named[i]
        );
        if ops[i] != "checkpoint" {
            event_audits.push((i, named[i].clone()));
        }
    }
    let recorded: Vec<&String> = event_audits.iter().map(|(_, c)| c).collect();
    assert_eq!(
        recorded,
        events.iter().collect::<Vec<_>>(),
        "the audit chain does not record each event once, in order"
    );
    for (k, (i, _)) in event_audits.iter().enumerate() {
        let expected = if *i == 0 { "" } else { audits[i - 1].as_str() };
        assert_eq!(
            parents[k], expected,
            "event {} names the wrong audit parent",
            events[k]
        );
    }
    // The tips agree.
    let tip = repo.git(&["rev-parse", r]).trim().to_owned();
    assert_eq!(named.last().unwrap(), &tip);
}

fn assert_no_leftovers(repo: &TestRepo) {
    for lock in [
        ".git/refs/ddx/audit.lock",
        ".git/refs/ddx/instances/many-1.lock",
    ] {
        assert!(!repo.path(lock).exists(), "{lock} left behind");
    }
    let heads = std::fs::read_to_string(repo.path(".git/ddx/heads")).unwrap();
    assert!(
        !heads.contains("step:") && !heads.contains("moves:"),
        "a step is left recorded: {heads}"
    );
    let temporaries: Vec<String> = std::fs::read_dir(repo.path(".git/ddx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !matches!(n.as_str(), "heads" | "logs" | "verified"))
        .collect();
    assert!(temporaries.is_empty(), "left in .git/ddx: {temporaries:?}");
}

#[test]
fn four_processes_record_fifty_approvals_each() {
    four_processes_in(&[]);
}

#[test]
fn four_processes_record_fifty_approvals_each_in_every_repository_shape() {
    for shape in &SHAPES[1..] {
        eprintln!("shape: {shape:?}");
        four_processes_in(shape);
    }
}

fn four_processes_in(shape: &[&str]) {
    const PROCS: usize = 4;
    const EACH: usize = 50;
    let (repo, id) = setup_shaped(PROCS * EACH, shape);
    let r = format!("refs/ddx/instances/{id}");
    let repo = std::sync::Arc::new(repo);
    let handles: Vec<_> = (0..PROCS)
        .map(|p| {
            let repo = repo.clone();
            let id = id.clone();
            std::thread::spawn(move || {
                for k in 0..EACH {
                    let c = format!("c-{}", p * EACH + k);
                    let out = repo.ddx(&["gate", "approve", "p", &c, "-i", &id]);
                    assert!(out.status.success(), "approve {c} failed: {}", stderr(&out));
                    assert_eq!(
                        stdout(&out).lines().next().unwrap(),
                        format!("p: approved \"{c}\"")
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a writer failed");
    }
    // 1 init + 200 approvals, each once.
    let events = git_lines(&repo, &["rev-list", &r]);
    assert_eq!(events.len(), 1 + PROCS * EACH);
    let criteria = trailers(&repo, &r, "Ddx-Criterion");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in criteria.iter().filter(|c| !c.is_empty()) {
        *counts.entry(c.as_str()).or_default() += 1;
    }
    assert_eq!(counts.len(), PROCS * EACH);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    // Every state parses; each has one approval more than its parent.
    for (i, text) in all_states(&repo, &r).iter().enumerate() {
        let st = State::from_yaml(text.as_bytes(), "test").unwrap();
        assert_eq!(st.metrics.approvals, i as u64);
        let approved = st.phases[0]
            .criteria
            .iter()
            .filter(|c| c.approval.is_some())
            .count();
        assert_eq!(approved, i);
    }
    assert_chains_match(&repo, &r);
    assert_no_leftovers(&repo);
    assert_fsck_clean(&repo);
    // ddx remembers the heads it wrote last.
    let heads = std::fs::read_to_string(repo.path(".git/ddx/heads")).unwrap();
    let tip = repo.git(&["rev-parse", &r]).trim().to_owned();
    assert!(heads.contains(&format!("  {r}: {tip}\n")), "{heads}");
}

/// A small deterministic generator (xorshift), seeded from the clock and printed, so a
/// failing run can be repeated with `DDX_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("DDX_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("DDX_TEST_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn processes_killed_at_random_moments_leave_a_consistent_chain() {
    killed_in(&[], 50);
}

#[test]
fn processes_killed_at_random_moments_in_every_repository_shape() {
    for shape in &SHAPES[1..] {
        eprintln!("shape: {shape:?}");
        killed_in(shape, 15);
    }
}

fn killed_in(shape: &[&str], kills_wanted: usize) {
    let (repo, id) = setup_shaped(600, shape);
    let r = format!("refs/ddx/instances/{id}");
    let mut rng = Rng::new();
    // How long one uninterrupted command takes here.
    let start = Instant::now();
    repo.ddx_ok(&["gate", "approve", "p", "c-0"]);
    let typical = start.elapsed().as_micros() as u64;
    let mut kills = 0;
    let mut finished = 0;
    let mut next = 1;
    let mut iterations = 0;
    while kills < kills_wanted {
        iterations += 1;
        assert!(iterations < 1000, "only {kills} kills in {iterations} runs");
        let args: Vec<String> = if next % 9 == 0 {
            vec!["checkpoint".into(), "create".into(), format!("cp{next}")]
        } else {
            vec![
                "gate".into(),
                "approve".into(),
                "p".into(),
                format!("c-{next}"),
            ]
        };
        next += 1;
        let mut child = repo
            .command(env!("CARGO_BIN_EXE_ddx"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Half the kills anywhere, half in the last part where objects and refs are written.
        let delay = if rng.below(2) == 0 {
            rng.below(typical * 11 / 10)
        } else {
            typical / 2 + rng.below(typical * 7 / 10)
        };
        std::thread::sleep(Duration::from_micros(delay));
        if child.try_wait().unwrap().is_some() {
            finished += 1;
            continue;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;

        // The previous state (or the new one) is intact and readable.
        let out = repo.ddx(&["workflow", "status", "--json"]);
        assert!(
            out.status.success(),
            "status after kill {kills}: {}",
            stderr(&out)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        assert_fsck_clean(&repo);
        let out = repo.ddx(&["workflow", "resume"]);
        assert!(
            out.status.success(),
            "resume after kill {kills}: {}",
            stderr(&out)
        );
        // Resuming again does nothing more.
        let again = repo.ddx(&["workflow", "resume"]);
        assert!(again.status.success());
        assert!(stdout(&again).is_empty(), "{}", stdout(&again));
        assert_no_leftovers(&repo);
        assert_chains_match(&repo, &r);
        assert_fsck_clean(&repo);
    }
    eprintln!("{kills} kills, {finished} runs finished before their kill");
    for text in all_states(&repo, &r) {
        State::from_yaml(text.as_bytes(), "test").unwrap();
    }
    // The instance still works after all that.
    repo.ddx_ok(&["gate", "approve", "p", "c-599"]);
    repo.git(&["gc", "--prune=now", "--quiet"]);
    assert_chains_match(&repo, &r);
    assert_fsck_clean(&repo);
}

/// `.git/ddx/heads` as a writer killed mid-step leaves it: the step and its intended moves.
fn write_journal(repo: &TestRepo, moves: &[(&str, Option<&str>, &str)]) {
    let mut text =
        "step: 'ddx(many-1): approve p: c-1'\nstarted: 2026-01-14T12:34:56Z\npid: 4242\nmoves:\n"
            .to_owned();
    for (name, old, new) in moves {
        text.push_str(&format!(
            "- name: {name}\n  old: {}\n  new: {new}\n",
            old.unwrap_or("null")
        ));
    }
    text.push_str("heads: {}\n# end\n");
    repo.write(".git/ddx/heads", text);
}

fn rev(repo: &TestRepo, r: &str) -> String {
    repo.git(&["rev-parse", r]).trim().to_owned()
}

#[test]
fn an_interrupted_step_is_finished_by_resume() {
    let (repo, id) = setup(5);
    let r = format!("refs/ddx/instances/{id}");
    let (old_tip, old_audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    repo.ddx_ok(&["gate", "approve", "p", "c-1"]);
    let (new_tip, new_audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    // Put the refs back as if the process died after writing its objects and recording its
    // moves, holding the audit ref's lock, before moving any ref.
    repo.git(&["update-ref", &r, &old_tip, &new_tip]);
    repo.git(&["update-ref", "refs/ddx/audit", &old_audit, &new_audit]);
    write_journal(
        &repo,
        &[
            (&r, Some(&old_tip), &new_tip),
            ("refs/ddx/audit", Some(&old_audit), &new_audit),
        ],
    );
    repo.write(".git/refs/ddx/audit.lock", format!("{new_audit}\n"));

    // Reading still works, and says what awaits.
    let out = repo.ddx(&["workflow", "status"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains(
        "warning: an interrupted step awaits `ddx workflow resume`: ddx(many-1): approve p: c-1"
    ));
    // Writing refuses until the step is recovered.
    let out = repo.ddx(&["gate", "approve", "p", "c-2"]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(
        stderr(&out),
        "error: an earlier ddx command was interrupted before it finished: ddx(many-1): approve p: c-1\n\
         hint: `ddx workflow resume` finishes or rolls back the interrupted step\n"
    );
    let out = repo.ddx_ok(&["workflow", "resume"]);
    assert_eq!(
        out,
        format!("finished the interrupted step \"ddx(many-1): approve p: c-1\" (moved {r}, refs/ddx/audit)\n")
    );
    assert_eq!(rev(&repo, &r), new_tip);
    assert_eq!(rev(&repo, "refs/ddx/audit"), new_audit);
    assert!(!repo.path(".git/refs/ddx/audit.lock").exists());
    assert_no_leftovers(&repo);
    // Idempotent: nothing left to do.
    let out = repo.ddx(&["workflow", "resume"]);
    assert!(out.status.success());
    assert!(stdout(&out).is_empty());
    repo.ddx_ok(&["gate", "approve", "p", "c-2"]);
    assert_fsck_clean(&repo);
}

#[test]
fn a_finished_interrupted_step_refreshes_the_agents_files() {
    let (repo, id) = setup(3);
    repo.ddx_ok(&["phase", "start", "p"]);
    let r = format!("refs/ddx/instances/{id}");
    let (old_tip, old_audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    repo.ddx_ok(&["gate", "approve", "p", "c-1"]);
    let (new_tip, new_audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    repo.git(&["update-ref", &r, &old_tip, &new_tip]);
    repo.git(&["update-ref", "refs/ddx/audit", &old_audit, &new_audit]);
    write_journal(
        &repo,
        &[
            (&r, Some(&old_tip), &new_tip),
            ("refs/ddx/audit", Some(&old_audit), &new_audit),
        ],
    );
    // Installed while the approval is not yet on the refs: c-1 is still open.
    repo.ddx_ok(&["agents", "install", "--agent", "codex"]);
    assert!(repo.read("AGENTS.md").contains("- c-1\n"));
    repo.ddx_ok(&["workflow", "resume"]);
    assert_eq!(rev(&repo, &r), new_tip);
    let agents_md = repo.read("AGENTS.md");
    assert!(!agents_md.contains("- c-1\n"), "{agents_md}");
    assert!(agents_md.contains("- c-2\n"), "{agents_md}");
}

#[test]
fn an_interrupted_step_half_done_is_completed() {
    let (repo, id) = setup(5);
    let r = format!("refs/ddx/instances/{id}");
    let old_audit = rev(&repo, "refs/ddx/audit");
    let old_tip = rev(&repo, &r);
    repo.ddx_ok(&["gate", "approve", "p", "c-1"]);
    let (new_tip, new_audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    // The instance ref moved, the audit ref did not (killed between the two renames).
    repo.git(&["update-ref", "refs/ddx/audit", &old_audit, &new_audit]);
    write_journal(
        &repo,
        &[
            (&r, Some(&old_tip), &new_tip),
            ("refs/ddx/audit", Some(&old_audit), &new_audit),
        ],
    );
    let out = repo.ddx_ok(&["workflow", "resume"]);
    assert_eq!(
        out,
        "finished the interrupted step \"ddx(many-1): approve p: c-1\" (moved refs/ddx/audit)\n"
    );
    assert_eq!(rev(&repo, "refs/ddx/audit"), new_audit);
    assert_chains_match(&repo, &r);
}

#[test]
fn an_interrupted_step_that_lost_its_base_is_rolled_back() {
    let (repo, id) = setup(5);
    let r = format!("refs/ddx/instances/{id}");
    let (base_tip, base_audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    // A commit the dead process wrote but never referenced.
    let orphan = repo
        .git(&[
            "commit-tree",
            &format!("{base_tip}^{{tree}}"),
            "-p",
            &base_tip,
            "-m",
            "orphan",
        ])
        .trim()
        .to_owned();
    // Meanwhile the instance moved on.
    repo.ddx_ok(&["gate", "approve", "p", "c-1"]);
    let (tip, audit) = (rev(&repo, &r), rev(&repo, "refs/ddx/audit"));
    write_journal(
        &repo,
        &[
            (&r, Some(&base_tip), &orphan),
            ("refs/ddx/audit", Some(&base_audit), &orphan),
        ],
    );
    let out = repo.ddx_ok(&["workflow", "resume"]);
    assert_eq!(
        out,
        format!("rolled back the interrupted step \"ddx(many-1): approve p: c-1\": {r} moved to {tip} since the step began\n")
    );
    assert_eq!(rev(&repo, &r), tip);
    assert_eq!(rev(&repo, "refs/ddx/audit"), audit);
    assert_no_leftovers(&repo);
    assert_chains_match(&repo, &r);
}
