//! `ddx sync` between clones of one bare remote made in the test: forks joined by merge events,
//! approvals kept, conflicts shown, notes shared, sources kept local, every chain verified by
//! ddx and by `git fsck`, in every repository shape.

mod common;

use common::{stderr, stdout, TestRepo};
use std::collections::BTreeMap;

const WORKFLOW: &str = "name: team
version: 1.0.0
phases:
  - id: plan
    name: Plan
    exit_criteria: [c1, c2, c3, c4, c5, c6]
  - id: build
    name: Build
    exit_criteria: [Built]
  - id: ship
    name: Ship
    exit_criteria: [Shipped]
";

const SHARED: [&str; 4] = [
    "refs/ddx/instances",
    "refs/ddx/checkpoints",
    "refs/ddx/audit",
    "refs/notes/ddx",
];

/// A bare remote and clones of it, the first of which started instance `team-1`.
struct Team {
    remote: TestRepo,
    clones: Vec<TestRepo>,
}

impl Team {
    fn new(n: usize, shape: &[&str]) -> Team {
        let remote = TestRepo::plain();
        let mut init = vec!["init", "-q", "--bare", "-b", "main"];
        init.extend_from_slice(shape);
        init.push(".");
        remote.git(&init);
        let first = TestRepo::shaped(shape);
        first.git(&["config", "user.name", "Clone 0"]);
        first.git(&["config", "user.email", "c0@example.com"]);
        first.write(".wf/team/workflow.yml", WORKFLOW);
        first.write("README.md", "# team\n");
        first.commit_all("initial");
        first.git(&["remote", "add", "origin", remote.root.to_str().unwrap()]);
        first.git(&["push", "-q", "origin", "main"]);
        first.ddx_ok(&["workflow", "init", "./.wf/team", "--id", "team-1"]);
        first.ddx_ok(&["workflow", "next"]);
        first.ddx_ok(&["sync"]);
        let mut clones = vec![first];
        for i in 1..n {
            clones.push(clone_of(&remote, i));
            clones[i].ddx_ok(&["sync"]);
        }
        Team { remote, clones }
    }

    fn sync(&self, i: usize) -> String {
        self.clones[i].ddx_ok(&["sync"])
    }

    /// Two quiet rounds: every clone syncs, twice over.
    fn quiet_rounds(&self) {
        for _ in 0..2 {
            for i in 0..self.clones.len() {
                self.sync(i);
            }
        }
    }

    fn remote_tips(&self) -> BTreeMap<String, String> {
        refs_of(&self.remote, &["refs/ddx", "refs/notes"])
    }
}

fn clone_of(remote: &TestRepo, i: usize) -> TestRepo {
    let c = TestRepo::plain();
    c.git(&["clone", "-q", remote.root.to_str().unwrap(), "."]);
    c.git(&["config", "user.name", &format!("Clone {i}")]);
    c.git(&["config", "user.email", &format!("c{i}@example.com")]);
    c
}

fn refs_of(repo: &TestRepo, prefixes: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["for-each-ref", "--format=%(refname) %(objectname)"];
    args.extend_from_slice(prefixes);
    repo.git(&args)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, id)| (n.to_owned(), id.to_owned()))
        .collect()
}

fn approvals(repo: &TestRepo) -> Vec<String> {
    let v = repo.ddx_json(&["workflow", "status", "--json"]);
    let mut out = Vec::new();
    for p in v["phases"].as_array().unwrap() {
        for c in p["criteria"].as_array().unwrap() {
            if let Some(by) = c["approval"]["by"].as_str() {
                out.push(format!("{} {} {by}", p["id"], c["criteria"]));
            }
        }
    }
    out.sort();
    out
}

/// `ddx audit verify` and `git fsck` pass.
fn verified(repo: &TestRepo) {
    let out = repo.ddx(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    repo.git(&["fsck", "--no-progress", "--strict"]);
}

/// Every remote tip seen before is an ancestor of (or equal to) the one now.
fn only_forward(team: &Team, before: &BTreeMap<String, String>) {
    let now = team.remote_tips();
    for (name, old) in before {
        let new = now
            .get(name)
            .unwrap_or_else(|| panic!("{name} vanished from the remote"));
        let ok = team
            .remote
            .command("git")
            .args(["merge-base", "--is-ancestor", old, new])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{name} moved from {old} to {new}, not forward");
    }
}

/// Runs git with `input` on its stdin; its stdout, trimmed.
fn git_input(repo: &TestRepo, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = repo
        .command("git")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run git");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(input.as_bytes())
        .expect("write to git");
    let out = child.wait_with_output().expect("wait for git");
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn approve(repo: &TestRepo, criterion: &str) {
    repo.ddx_ok(&["gate", "approve", "plan", criterion]);
}

#[test]
fn three_clones_converge_and_keep_every_approval() {
    let team = Team::new(3, &[]);
    let mut seen = team.remote_tips();
    approve(&team.clones[0], "c1");
    approve(&team.clones[1], "c2");
    approve(&team.clones[2], "c3");
    for i in [1, 0, 2] {
        team.sync(i);
        only_forward(&team, &seen);
        seen = team.remote_tips();
    }
    approve(&team.clones[0], "c4");
    // Transitions interleave with the approvals: a pause and a resume in one clone.
    team.clones[2].ddx_ok(&["workflow", "pause"]);
    team.clones[2].ddx_ok(&["workflow", "resume"]);
    approve(&team.clones[2], "c5");
    approve(&team.clones[1], "c6");
    team.sync(2);
    // Two clones sync at the same moment: one push wins, the other fetches and joins again.
    let (a, b) = (&team.clones[0], &team.clones[1]);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.ddx(&["sync"]));
        let tb = s.spawn(|| b.ddx(&["sync"]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert!(ra.status.success(), "{}", stderr(&ra));
    assert!(rb.status.success(), "{}", stderr(&rb));
    only_forward(&team, &seen);
    team.quiet_rounds();
    only_forward(&team, &seen);

    let first = refs_of(&team.clones[0], &SHARED);
    assert!(first.contains_key("refs/ddx/audit"), "{first:?}");
    for c in &team.clones {
        assert_eq!(
            refs_of(c, &SHARED),
            first,
            "every clone holds the same refs"
        );
        let a = approvals(c);
        assert_eq!(a.len(), 6, "every approval made anywhere is kept: {a:?}");
        for (i, crit) in ["c1", "c2", "c3", "c4", "c5", "c6"].iter().enumerate() {
            let by = [0, 1, 2, 0, 2, 1][i];
            assert!(
                a.iter()
                    .any(|x| x.contains(&format!("\"{crit}\" Clone {by} "))),
                "{crit} by clone {by}: {a:?}"
            );
        }
        verified(c);
    }
    // The chain is a real merge history, as plain git shows it.
    let merges = team.clones[0].git(&[
        "log",
        "--merges",
        "--format=%(trailers:key=Ddx-Event,valueonly)",
        "refs/ddx/instances/team-1",
    ]);
    assert!(merges.lines().any(|l| l == "merge"), "{merges}");
    // A quiet sync changes nothing and says so.
    assert_eq!(
        team.sync(0).trim(),
        "Everything is shared with origin; nothing changed."
    );
    // The phase completes on what was approved in three clones.
    team.clones[2].ddx_ok(&["phase", "complete", "plan"]);
    team.quiet_rounds();
    for c in &team.clones {
        let v = c.ddx_json(&["workflow", "status", "--json"]);
        assert_eq!(v["phases"][0]["status"], "completed");
    }
    // A fresh clone verifies exactly as the clones that wrote it.
    let fresh = clone_of(&team.remote, 9);
    fresh.ddx_ok(&["sync"]);
    assert_eq!(refs_of(&fresh, &SHARED), refs_of(&team.clones[0], &SHARED));
    verified(&fresh);
}

#[test]
fn complete_against_fail_is_a_conflict_that_every_clone_shows_until_settled() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    a.ddx_ok(&["phase", "complete", "plan", "--force"]);
    b.ddx_ok(&["phase", "fail", "plan", "--reason", "the plan is wrong"]);
    team.sync(0);
    let joined = b.ddx_ok(&["sync"]);
    assert!(
        joined.contains("joined refs/ddx/instances/team-1"),
        "{joined}"
    );
    team.sync(0);
    for c in &team.clones {
        let v = c.ddx_json(&["workflow", "status", "--json"]);
        let conflicts = v["conflicts"].as_array().expect("conflicts in --json");
        assert_eq!(conflicts.len(), 1, "{v}");
        assert_eq!(conflicts[0]["phase"], "plan");
        assert_eq!(conflicts[0]["field"], "status");
        let kept = conflicts[0]["kept"].as_str().unwrap().to_owned();
        let other = conflicts[0]["other"].as_str().unwrap().to_owned();
        let mut both = [kept.as_str(), other.as_str()];
        both.sort();
        assert_eq!(both, ["completed", "failed: the plan is wrong"]);
        let text = c.ddx_ok(&["workflow", "status"]);
        assert!(
            text.contains("conflicts (forked histories joined by `ddx sync`):"),
            "{text}"
        );
        assert!(
            text.contains(&format!("phase plan: status is `{kept}`")),
            "{text}"
        );
        let gate = c.ddx(&["gate", "check"]);
        assert!(
            stderr(&gate).contains("conflict: phase plan"),
            "{}",
            stderr(&gate)
        );
        let report = c.ddx_ok(&["audit", "report", "--format", "json"]);
        assert!(report.contains("\"conflicts\""), "{report}");
        verified(c);
    }
    // A person settles it with an ordinary command: reopening the phase.
    b.ddx_ok(&["phase", "reopen", "plan"]);
    team.quiet_rounds();
    for c in &team.clones {
        let v = c.ddx_json(&["workflow", "status", "--json"]);
        assert!(v.get("conflicts").is_none(), "{v}");
        assert_eq!(v["phases"][0]["status"], "in_progress");
        verified(c);
    }
}

#[test]
fn checkpoints_of_one_name_at_different_events_are_both_kept() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    approve(a, "c1");
    a.ddx_ok(&["checkpoint", "create", "review"]);
    approve(b, "c2");
    b.ddx_ok(&["checkpoint", "create", "review"]);
    let ta = a.git(&["rev-parse", "refs/ddx/checkpoints/team-1/review"]);
    let tb = b.git(&["rev-parse", "refs/ddx/checkpoints/team-1/review"]);
    assert_ne!(ta, tb);
    team.sync(0);
    let out = team.sync(1);
    let kept = format!("review-{}", &ta.trim()[..8]);
    assert!(
        out.contains(&format!("kept here as refs/ddx/checkpoints/team-1/{kept}")),
        "{out}"
    );
    team.quiet_rounds();
    for (c, own, other) in [(a, &ta, &tb), (b, &tb, &ta)] {
        let refs = refs_of(c, &["refs/ddx/checkpoints"]);
        assert_eq!(refs.len(), 2, "{refs:?}");
        assert_eq!(&refs["refs/ddx/checkpoints/team-1/review"], own.trim());
        let copy = format!("refs/ddx/checkpoints/team-1/review-{}", &other.trim()[..8]);
        assert_eq!(&refs[&copy], other.trim(), "{refs:?}");
        verified(c);
    }
    // Quiet rounds leave them be.
    let before = refs_of(a, &["refs/ddx"]);
    team.quiet_rounds();
    assert_eq!(refs_of(a, &["refs/ddx"]), before);
}

#[test]
fn notes_written_under_the_hooks_reach_the_other_clones() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    a.ddx_ok(&["hooks", "install"]);
    a.write("notes.txt", "x\n");
    a.git(&["add", "notes.txt"]);
    let path = format!(
        "{}:{}",
        std::path::Path::new(env!("CARGO_BIN_EXE_ddx"))
            .parent()
            .unwrap()
            .display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = a
        .command("git")
        .env("PATH", &path)
        .args(["commit", "-q", "-m", "work"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let head = a.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let note = a.git(&["notes", "--ref=ddx", "show", &head]);
    assert!(note.contains("team-1"), "{note}");
    a.git(&["push", "-q", "--no-verify", "origin", "main"]);
    team.sync(0);
    b.git(&["pull", "-q", "--ff-only", "origin", "main"]);
    b.ddx_ok(&["sync"]);
    assert_eq!(b.git(&["notes", "--ref=ddx", "show", &head]), note);
    // A note each side adds to the same commit: both lines kept, as cat_sort_uniq merges.
    b.git(&[
        "notes",
        "--ref=ddx",
        "append",
        "-m",
        "{\"by\":\"b\"}",
        &head,
    ]);
    a.git(&[
        "notes",
        "--ref=ddx",
        "append",
        "-m",
        "{\"by\":\"a\"}",
        &head,
    ]);
    team.sync(1);
    team.quiet_rounds();
    for c in [a, b] {
        let n = c.git(&["notes", "--ref=ddx", "show", &head]);
        assert!(
            n.contains("{\"by\":\"a\"}") && n.contains("{\"by\":\"b\"}"),
            "{n}"
        );
        assert!(n.contains("team-1"), "{n}");
    }
    assert_eq!(
        refs_of(a, &["refs/notes/ddx"]),
        refs_of(b, &["refs/notes/ddx"])
    );
}

#[test]
fn sources_and_the_local_folder_never_reach_the_remote() {
    let team = Team::new(1, &[]);
    let a = &team.clones[0];
    let catalog = TestRepo::new();
    catalog.write(
        "workflows/extra/workflow.yml",
        WORKFLOW.replace("team", "extra"),
    );
    catalog.commit_all("catalog");
    a.ddx_ok(&["repo", "add", "extra", catalog.root.to_str().unwrap()]);
    assert!(!refs_of(a, &["refs/ddx/sources"]).is_empty());
    team.sync(0);
    let remote = team.remote.git(&["for-each-ref", "--format=%(refname)"]);
    assert!(!remote.contains("refs/ddx/sources"), "{remote}");
    assert!(!remote.contains("refs/ddx-remote"), "{remote}");
    assert!(remote.contains("refs/ddx/audit"), "{remote}");
}

#[test]
fn a_dry_run_says_what_would_move_and_moves_nothing() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    approve(a, "c1");
    approve(b, "c2");
    team.sync(0);
    let local = a.git(&["for-each-ref"]);
    let remote = team.remote.git(&["for-each-ref"]);
    let before_b = b.git(&["for-each-ref"]);
    let out = b.ddx_ok(&["sync", "--dry-run"]);
    assert!(
        out.contains("would join refs/ddx/instances/team-1"),
        "{out}"
    );
    assert!(out.contains("would join refs/ddx/audit"), "{out}");
    let v = b.ddx_json(&["sync", "--dry-run", "--json"]);
    assert_eq!(v["dry_run"], true);
    assert!(v["refs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "refs/ddx/instances/team-1" && r["action"] == "joined"));
    // Not a ref moves, staging refs included.
    assert_eq!(b.git(&["for-each-ref"]), before_b);
    assert_eq!(a.git(&["for-each-ref"]), local);
    assert_eq!(team.remote.git(&["for-each-ref"]), remote);
}

#[test]
fn setup_lets_plain_git_fetch_stage_the_others_refs() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    let out = b.ddx_ok(&["sync", "--setup"]);
    assert!(
        out.contains("added remote.origin.fetch +refs/ddx/instances/*"),
        "{out}"
    );
    let again = b.ddx_ok(&["sync", "--setup"]);
    assert!(again.contains("already"), "{again}");
    approve(a, "c1");
    team.sync(0);
    b.git(&["fetch", "-q", "origin"]);
    let staged = refs_of(b, &["refs/ddx-remote/origin/ddx/instances"]);
    assert_eq!(
        staged.values().next().map(String::as_str),
        Some(a.git(&["rev-parse", "refs/ddx/instances/team-1"]).trim())
    );
    // Status says so until the next sync joins them.
    let status = b.ddx(&["workflow", "status"]);
    assert!(
        stderr(&status).contains(
            "origin has events of this instance that are not here yet: `ddx sync origin` joins them"
        ),
        "{}",
        stderr(&status)
    );
    let v = b.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(v["remote_events"], serde_json::json!(["origin"]));
    b.ddx_ok(&["sync"]);
    assert_eq!(approvals(b).len(), 1);
    let status = b.ddx(&["workflow", "status"]);
    assert!(
        !stderr(&status).contains("not here yet"),
        "{}",
        stderr(&status)
    );
}

#[test]
fn an_unknown_remote_is_refused_with_a_hint() {
    let repo = TestRepo::new();
    repo.commit_all("initial");
    let out = repo.ddx(&["sync", "upstream"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`upstream` is not a remote of this repository (its remotes: none)"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("git remote add"), "{}", stderr(&out));
}

#[test]
fn sha256_and_reftable_clones_sync_and_verify() {
    for shape in [
        &["--object-format=sha256"][..],
        &["--ref-format=reftable"][..],
    ] {
        let team = Team::new(2, shape);
        approve(&team.clones[0], "c1");
        approve(&team.clones[1], "c2");
        team.quiet_rounds();
        let first = refs_of(&team.clones[0], &SHARED);
        for c in &team.clones {
            assert_eq!(refs_of(c, &SHARED), first, "{shape:?}");
            assert_eq!(approvals(c).len(), 2, "{shape:?}");
            verified(c);
        }
    }
}

/// A small deterministic generator: each seed is one random history, replayable by its number.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_histories_on_two_to_four_clones_converge_and_lose_no_approval() {
    let seeds: Vec<u64> = match std::env::var("DDX_SYNC_SEEDS") {
        Ok(s) => s.split(',').filter_map(|x| x.parse().ok()).collect(),
        Err(_) => vec![7, 11, 2026],
    };
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let n = 2 + rng.below(3);
        let team = Team::new(n, &[]);
        let mut approved: Vec<String> = Vec::new();
        for step in 0..10 {
            let who = rng.below(n);
            let c = &team.clones[who];
            match rng.below(4) {
                0 | 1 => {
                    let crit = format!("c{}", 1 + rng.below(6));
                    let v = c.ddx_json(&["workflow", "status", "--json"]);
                    let open = v["phases"][0]["criteria"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x["criteria"] == crit.as_str() && x["approval"].is_null());
                    if open && v["phases"][0]["status"] == "in_progress" {
                        approve(c, &crit);
                        approved.push(crit);
                    }
                }
                2 => {
                    team.sync(who);
                }
                3 if rng.below(2) == 0 => {
                    c.ddx_ok(&["workflow", "pause"]);
                    c.ddx_ok(&["workflow", "resume"]);
                }
                _ => {
                    c.ddx_ok(&["checkpoint", "create", &format!("s{seed}-{step}")]);
                }
            }
        }
        team.quiet_rounds();
        let first = refs_of(&team.clones[0], &SHARED);
        approved.sort();
        approved.dedup();
        for (i, c) in team.clones.iter().enumerate() {
            assert_eq!(refs_of(c, &SHARED), first, "seed {seed}: clone {i} differs");
            let have = approvals(c);
            for crit in &approved {
                assert!(
                    have.iter().any(|h| h.contains(&format!("\"{crit}\""))),
                    "seed {seed}: {crit} lost in clone {i}: {have:?}"
                );
            }
            verified(c);
        }
    }
}

#[test]
fn a_fresh_clone_sees_an_audit_history_cut_short_by_the_notes() {
    let team = Team::new(1, &[]);
    let a = &team.clones[0];
    a.ddx_ok(&["hooks", "install"]);
    approve(a, "c1");
    let path = format!(
        "{}:{}",
        std::path::Path::new(env!("CARGO_BIN_EXE_ddx"))
            .parent()
            .unwrap()
            .display(),
        std::env::var("PATH").unwrap_or_default()
    );
    a.write("work.txt", "x\n");
    a.git(&["add", "work.txt"]);
    let out = a
        .command("git")
        .env("PATH", &path)
        .args(["commit", "-q", "-m", "work"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let head = a.git(&["rev-parse", "refs/ddx/audit"]).trim().to_owned();
    a.git(&["push", "-q", "--no-verify", "origin", "main"]);
    team.sync(0);
    // Someone with write access cuts the shared audit chain back by one entry.
    let earlier = team
        .remote
        .git(&["rev-parse", "refs/ddx/audit~1"])
        .trim()
        .to_owned();
    team.remote.git(&["update-ref", "refs/ddx/audit", &earlier]);
    let fresh = clone_of(&team.remote, 5);
    fresh.ddx_ok(&["sync"]);
    let out = fresh.ddx(&["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(&format!(
            "names audit head {}, which refs/ddx/audit does not contain",
            &head[..12]
        )),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_instance_from_another_clone_runs_no_command_its_source_did_not_give_here() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    // In clone b, a workflow from a path b typed: trusted there, so its command check runs.
    b.write(
        ".wf/evil/workflow.yml",
        "name: evil\nversion: 1.0.0\nphases:\n  - id: one\n    exit_criteria:\n      - criteria: planted\n        check: {command: \"touch PLANTED\", timeout: 10}\n",
    );
    b.ddx_ok(&["workflow", "init", "./.wf/evil", "--id", "evil-1"]);
    b.ddx_ok(&["workflow", "next", "-i", "evil-1"]);
    team.sync(1);
    team.sync(0);
    // In clone a, which never saw that path, the same pinned workflow is anyone's commit.
    let out = a.ddx(&["gate", "check", "-i", "evil-1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        !a.path("PLANTED").exists(),
        "a fetched instance ran a command"
    );
    assert!(
        stdout(&out).contains("not run: `touch PLANTED` comes from"),
        "{}",
        stdout(&out)
    );
    // A state forged by hand to claim the embedded library vouches for nothing either.
    let tip = b
        .git(&["rev-parse", "refs/ddx/instances/evil-1"])
        .trim()
        .to_owned();
    let state = b
        .git(&["show", &format!("{tip}:state.yml")])
        .replace("source: path:./.wf/evil", "source: embedded");
    assert!(state.contains("source: embedded"), "{state}");
    let blob = git_input(b, &["hash-object", "-w", "--stdin"], &state);
    let wf = b
        .git(&["rev-parse", &format!("{tip}:workflow")])
        .trim()
        .to_owned();
    let tree_text = format!("100644 blob {blob}\tstate.yml\n040000 tree {wf}\tworkflow\n");
    let tree = git_input(b, &["mktree"], &tree_text);
    let forged = b
        .git(&["commit-tree", &tree, "-p", &tip, "-m", "forged"])
        .trim()
        .to_owned();
    b.git(&[
        "push",
        "-q",
        "--no-verify",
        "origin",
        &format!("{forged}:refs/ddx/instances/evil-1"),
    ]);
    a.ddx_ok(&["sync"]);
    assert_eq!(
        a.git(&["rev-parse", "refs/ddx/instances/evil-1"]).trim(),
        forged
    );
    let out = a.ddx(&["gate", "check", "-i", "evil-1"]);
    assert!(
        !a.path("PLANTED").exists(),
        "a forged instance ran a command"
    );
    assert!(
        stdout(&out).contains("not run: `touch PLANTED` comes from embedded"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn two_instances_started_apart_under_one_id_are_refused_and_nothing_moves() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    a.ddx_ok(&["workflow", "init", "./.wf/team", "--id", "same"]);
    team.sync(0);
    let remote = team.remote.git(&["for-each-ref"]);
    b.ddx_ok(&["workflow", "init", "./.wf/team", "--id", "same"]);
    let before = b.git(&["for-each-ref", "refs/ddx"]);
    let out = b.ddx(&["sync"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("share no event, so they cannot be joined")
            && stderr(&out).contains("started apart under the id same"),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.git(&["for-each-ref", "refs/ddx"]), before);
    assert_eq!(team.remote.git(&["for-each-ref"]), remote);
    verified(b);
}

#[test]
fn a_merge_event_that_names_an_older_merge_base_is_a_break() {
    let team = Team::new(2, &[]);
    let (a, b) = (&team.clones[0], &team.clones[1]);
    approve(a, "c1");
    approve(a, "c2");
    approve(b, "c3");
    team.sync(0);
    team.sync(1);
    let merge = b
        .git(&["rev-parse", "refs/ddx/instances/team-1"])
        .trim()
        .to_owned();
    let parents = b.git(&["rev-parse", &format!("{merge}^1"), &format!("{merge}^2")]);
    let parents: Vec<&str> = parents.lines().collect();
    let base = b
        .git(&["merge-base", parents[0], parents[1]])
        .trim()
        .to_owned();
    let init = b
        .git(&["rev-list", "--max-parents=0", "refs/ddx/instances/team-1"])
        .trim()
        .to_owned();
    assert_ne!(base, init, "the real base is later than init");
    let message = b.git(&["log", "-1", "--format=%B", &merge]).replace(
        &format!("Ddx-Merge-Base: {base}"),
        &format!("Ddx-Merge-Base: {init}"),
    );
    let forged = b
        .command("git")
        .args([
            "commit-tree",
            &format!("{merge}^{{tree}}"),
            "-p",
            parents[0],
            "-p",
            parents[1],
            "-m",
            &message,
        ])
        .output()
        .unwrap();
    let forged = String::from_utf8_lossy(&forged.stdout).trim().to_owned();
    b.git(&["update-ref", "refs/ddx/instances/team-1", &forged, &merge]);
    let out = b.ddx(&["audit", "verify"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(&format!(
            "its merge base {} is not the last event both sides share",
            &init[..12]
        )),
        "{}",
        stdout(&out)
    );
}
