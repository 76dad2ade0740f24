//! `ddx sync`: shares `refs/ddx/instances/*`, `refs/ddx/checkpoints/*`, `refs/ddx/audit`,
//! `refs/ddx/ratings` and `refs/notes/ddx` with a git remote, so a team's clones hold the same
//! instances. There is no server: any git remote is the meeting point.
//!
//! One round: the remote's shared refs are fetched into the staging namespace
//! `refs/ddx-remote/<remote>/…` (never under `refs/ddx/`, so they are neither pushed nor read as
//! local state). Each shared ref is then compared with its staged value: one behind is moved
//! forward (under the writers' lock, recorded as the head ddx knows); histories that both moved
//! are joined, the audit chain by an audit commit with two parents, an instance by a merge event
//! ([`crate::engine::Engine::join`]); checkpoints of the same name at different events are both
//! kept, the remote's under `<name>-<8 hex of its event>`; notes are merged as
//! `git notes merge -s cat_sort_uniq` does. Then every ref the remote lacks or is behind on is
//! pushed, atomically, each with the value it was fetched at as the expected old one: never
//! forced. A remote that moved meanwhile refuses the push, and the round starts again from a
//! fresh fetch (a bounded number of rounds, with jittered pauses). `refs/ddx/sources/*` and
//! `.git/ddx/` stay local.

use crate::engine::{Engine, EngineError};
use crate::store::audit::AuditRecord;
use crate::store::git::{self, GitCommandError, Push};
use crate::store::heads::RefMove;
use crate::store::ratings::{self, RatingError, RATINGS};
use crate::store::transaction::{self, Decision, Options, Outcome, Plan};
use crate::store::{ancestry, refs, ObjectId, Repo, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

/// The shared chains, each one ref or a folder of them.
const CHAINS: [&str; 3] = ["refs/ddx/instances/", refs::AUDIT, RATINGS];
/// The notes ref ddx writes.
pub const NOTES: &str = "refs/notes/ddx";
/// How many rounds of fetch, join and push before giving up on a remote that keeps moving.
pub const MAX_ROUNDS: u32 = 5;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot sync with remote `{remote}`")]
    Git {
        remote: String,
        #[source]
        source: GitCommandError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Ratings(#[from] RatingError),
    #[error("`{name}` is not a remote of this repository (its remotes: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    NoRemote { name: String, known: Vec<String> },
    #[error("remote `{remote}` moved during each of {rounds} rounds of sync; nothing of this clone was lost")]
    Contended { remote: String, rounds: u32 },
}

/// What happened to one shared ref.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// Local and remote agree.
    Same,
    /// Local was missing or behind: moved to the remote's value.
    Fetched,
    /// Remote was missing or behind: pushed.
    Pushed,
    /// Both sides moved: joined, then pushed.
    Joined,
    /// A checkpoint of the remote whose name this clone uses for another event: kept here
    /// under a suffixed name.
    Renamed,
}

/// One shared ref and what sync did with it (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RefReport {
    pub name: String,
    /// Its value here before the sync.
    pub local: Option<String>,
    /// Its value on the remote, as fetched.
    pub remote: Option<String>,
    pub action: Move,
    /// For a joined ref: the merge commit; for a renamed checkpoint: the name it is kept as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// The summary of one sync.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub remote: String,
    pub dry_run: bool,
    /// Rounds of fetch, join and push it took.
    pub rounds: u32,
    /// Every shared ref that differed, and what was done with it.
    pub refs: Vec<RefReport>,
    /// Whether the remote's notes were merged into `refs/notes/ddx`.
    pub notes_merged: bool,
    /// Whether `refs/notes/ddx` was pushed.
    pub notes_pushed: bool,
    /// Conflicts the joins recorded (`phase design: status is …`), by instance.
    pub conflicts: BTreeMap<String, Vec<String>>,
}

impl Report {
    /// Whether anything moved (or would move) anywhere.
    pub fn changed(&self) -> bool {
        self.notes_merged || self.notes_pushed || self.refs.iter().any(|r| r.action != Move::Same)
    }
}

/// What a step of sync is doing, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Fetching,
    Joining,
    Pushing,
}

/// The staging ref of `name` (`refs/ddx/…` or `refs/notes/ddx`) for `remote`.
pub fn staging(remote: &str, name: &str) -> String {
    format!(
        "refs/ddx-remote/{remote}/{}",
        name.strip_prefix("refs/").unwrap_or(name)
    )
}

/// The refspecs that fetch the remote's shared refs into the staging namespace. Single refs
/// are fetched by a pattern that matches them (`refs/ddx/audit*`), so a remote that does not
/// have one yet is no error.
pub fn fetch_refspecs(remote: &str) -> Vec<String> {
    CHAINS
        .iter()
        .chain(&[refs::CHECKPOINTS, NOTES])
        .map(|p| {
            let pattern = format!("{p}*");
            format!("+{pattern}:{}", staging(remote, &pattern))
        })
        .collect()
}

fn refs_under(repo: &Repo, prefix: &str) -> Result<BTreeMap<String, ObjectId>, GitCommandError> {
    Ok(git::local_refs(repo.work_dir(), prefix)?
        .into_iter()
        .filter(|r| r.name == prefix || prefix.ends_with('/'))
        .map(|r| (r.name, r.id))
        .collect())
}

/// The shared refs here and as the remote has them (as fetched): name → (local, remote).
type Pairs = BTreeMap<String, (Option<ObjectId>, Option<ObjectId>)>;

/// The remote's shared refs, by their names here (`refs/ddx/…`, `refs/notes/ddx`).
type Staged = BTreeMap<String, ObjectId>;

fn pairs(repo: &Repo, staged: &Staged, prefix: &str) -> Result<Pairs, GitCommandError> {
    let mut out = Pairs::new();
    for (n, id) in refs_under(repo, prefix)? {
        out.entry(n).or_default().0 = Some(id);
    }
    let matches = |n: &str| match prefix.ends_with('/') {
        true => n.starts_with(prefix),
        false => n == prefix,
    };
    for (n, id) in staged.iter().filter(|(n, _)| matches(n)) {
        out.entry(n.clone()).or_default().1 = Some(*id);
    }
    Ok(out)
}

/// Whether `name` is a ref `ddx sync` shares.
fn is_shared(name: &str) -> bool {
    CHAINS
        .iter()
        .chain(&[refs::CHECKPOINTS])
        .any(|p| match p.ends_with('/') {
            true => name.starts_with(p),
            false => name == *p,
        })
        || name == NOTES
}

/// The staging refs of `remote`, by the names they stage.
fn read_staging(repo: &Repo, remote: &str) -> Result<Staged, GitCommandError> {
    let strip = staging(remote, "refs/");
    Ok(refs_under(repo, &strip)?
        .into_iter()
        .map(|(n, id)| (format!("refs/{}", &n[strip.len()..]), id))
        .filter(|(n, _)| is_shared(n))
        .collect())
}

/// Brings the remote's shared refs: into the staging namespace, or, for a dry run, only their
/// objects (no ref is written), and returns their values.
fn fetch(repo: &Repo, remote: &str, dry_run: bool) -> Result<Staged, GitCommandError> {
    let dir = repo.work_dir();
    if !dry_run {
        git::fetch_refs(dir, remote, &fetch_refspecs(remote))?;
        return read_staging(repo, remote);
    }
    let listed: Staged = git::remote_refs(dir, remote, &["refs/ddx/*", NOTES])?
        .into_iter()
        .filter(|(n, _)| is_shared(n))
        .collect();
    let names: Vec<String> = listed.keys().cloned().collect();
    git::fetch_objects_of(dir, remote, &names)?;
    Ok(listed)
}

/// How a shared chain's local value relates to the remote's.
fn relate(
    repo: &Repo,
    local: Option<ObjectId>,
    remote: Option<ObjectId>,
) -> Result<Move, StoreError> {
    Ok(match (local, remote) {
        (Some(l), Some(r)) if l == r => Move::Same,
        (None, _) => Move::Fetched,
        (Some(_), None) => Move::Pushed,
        // The merge base says it: the remote's value (ours contains it), ours (we are behind),
        // or neither.
        (Some(l), Some(r)) => match ancestry::merge_base(repo, l, r)? {
            Some(b) if b == r => Move::Pushed,
            Some(b) if b == l => Move::Fetched,
            _ => Move::Joined,
        },
    })
}

/// The name a checkpoint of another clone is kept under when its own name is taken here.
pub fn suffixed(name: &str, commit: ObjectId) -> String {
    format!("{name}-{}", commit.to_hex_with_len(8))
}

/// Checkpoints: per instance, the (name, event) pairs of both sides are united. A remote
/// checkpoint whose name is free here is fetched; one whose name is taken by another event is
/// kept as [`suffixed`]; one this clone already holds under either name is left. The same
/// rules, the other way, decide what is pushed (`pushes`, with no expected value).
fn checkpoints(
    repo: &Repo,
    staged: &Staged,
    report: &mut Vec<RefReport>,
    moves: &mut Vec<RefMove>,
    pushes: &mut Vec<(String, ObjectId)>,
) -> Result<(), GitCommandError> {
    let all = pairs(repo, staged, refs::CHECKPOINTS)?;
    // name → (local, staged), grouped by instance folder.
    let mut by_instance: BTreeMap<String, Pairs> = BTreeMap::new();
    for (name, v) in all {
        let Some((folder, _)) = name.rsplit_once('/') else {
            continue;
        };
        by_instance
            .entry(folder.to_owned())
            .or_default()
            .insert(name, v);
    }
    for group in by_instance.values() {
        let holds = |side: usize, name: &str, c: ObjectId| {
            [name.to_owned(), suffixed(name, c)]
                .iter()
                .any(|n| group.get(n).and_then(|v| if side == 0 { v.0 } else { v.1 }) == Some(c))
        };
        for (name, (local, staged)) in group {
            match (local, staged) {
                (Some(l), Some(r)) if l == r => {}
                (None, Some(r)) => {
                    let base = name.as_str();
                    if holds(0, base, *r) || is_kept_copy(group, name, *r, 0) {
                        continue;
                    }
                    moves.push(RefMove {
                        name: name.clone(),
                        old: None,
                        new: *r,
                    });
                    report.push(RefReport {
                        name: name.clone(),
                        local: None,
                        remote: Some(r.to_string()),
                        action: Move::Fetched,
                        result: None,
                    });
                }
                (Some(l), None) => {
                    if is_kept_copy(group, name, *l, 1) {
                        continue;
                    }
                    pushes.push((name.clone(), *l));
                    report.push(RefReport {
                        name: name.clone(),
                        local: Some(l.to_string()),
                        remote: None,
                        action: Move::Pushed,
                        result: None,
                    });
                }
                (Some(l), Some(r)) => {
                    // One name, two events: each side keeps its own under the name and gets
                    // the other's under a suffixed one.
                    let theirs = suffixed(name, *r);
                    if !holds(0, name, *r) {
                        moves.push(RefMove {
                            name: theirs.clone(),
                            old: None,
                            new: *r,
                        });
                        report.push(RefReport {
                            name: name.clone(),
                            local: Some(l.to_string()),
                            remote: Some(r.to_string()),
                            action: Move::Renamed,
                            result: Some(theirs),
                        });
                    }
                    let ours = suffixed(name, *l);
                    if !holds(1, name, *l) {
                        pushes.push((ours, *l));
                    }
                }
                (None, None) => {}
            }
        }
    }
    Ok(())
}

/// Whether `name` is itself the suffixed copy (`<base>-<8 hex of c>`) of a checkpoint `<base>`
/// that the other side (`side`: 0 here, 1 the remote) already holds at `c`.
fn is_kept_copy(group: &Pairs, name: &str, c: ObjectId, side: usize) -> bool {
    let suffix = format!("-{}", c.to_hex_with_len(8));
    let Some(base) = name.strip_suffix(&suffix) else {
        return false;
    };
    group
        .get(base)
        .and_then(|v| if side == 0 { v.0 } else { v.1 })
        == Some(c)
}

/// Syncs with `remote`; see the module documentation. `step` is told what is under way.
pub fn sync(
    repo: &Repo,
    remote: &str,
    dry_run: bool,
    step: &mut dyn FnMut(Step),
) -> Result<Report, SyncError> {
    let err = |source| SyncError::Git {
        remote: remote.to_owned(),
        source,
    };
    let engine = Engine::new(repo)?;
    let mut first: Option<Report> = None;
    for round in 1..=MAX_ROUNDS {
        step(Step::Fetching);
        let staged = fetch(repo, remote, dry_run).map_err(err)?;
        let mut report = Report {
            remote: remote.to_owned(),
            dry_run,
            rounds: round,
            refs: Vec::new(),
            notes_merged: false,
            notes_pushed: false,
            conflicts: BTreeMap::new(),
        };
        // The chains: fast-forwards, joins, pushes.
        let mut chains = Pairs::new();
        for prefix in CHAINS {
            chains.extend(pairs(repo, &staged, prefix).map_err(err)?);
        }
        let mut moves = Vec::new();
        let mut joins = Vec::new();
        for (name, (local, staged)) in &chains {
            let action = relate(repo, *local, *staged)?;
            match action {
                Move::Same => continue,
                Move::Fetched => moves.push(RefMove {
                    name: name.clone(),
                    old: *local,
                    new: staged.expect("a ref fetched has a staged value"),
                }),
                Move::Joined => joins.push((
                    name.clone(),
                    staged.expect("a ref joined has a staged value"),
                )),
                Move::Pushed | Move::Renamed => {}
            }
            report.refs.push(RefReport {
                name: name.clone(),
                local: local.map(|i| i.to_string()),
                remote: staged.map(|i| i.to_string()),
                action,
                result: None,
            });
        }
        let mut checkpoint_pushes = Vec::new();
        checkpoints(
            repo,
            &staged,
            &mut report.refs,
            &mut moves,
            &mut checkpoint_pushes,
        )
        .map_err(err)?;
        let notes = pairs(repo, &staged, NOTES).map_err(err)?;
        let (notes_local, notes_staged) = notes.get(NOTES).copied().unwrap_or_default();
        report.notes_merged = notes_staged.is_some() && notes_staged != notes_local;
        // Histories that share no event (two instances made apart under one id) cannot be
        // joined: refused before anything here moves, so nothing is half shared.
        for (name, theirs) in &joins {
            let Some(id) = name.strip_prefix(refs::INSTANCES) else {
                continue;
            };
            let ours = chains
                .get(name)
                .and_then(|(l, _)| *l)
                .expect("a ref joined exists here");
            if ancestry::merge_base(repo, ours, *theirs)?.is_none() {
                return Err(EngineError::Unrelated {
                    instance: id.to_owned(),
                    ours,
                    theirs: *theirs,
                }
                .into());
            }
        }
        if dry_run {
            report.notes_pushed = notes_local.is_some() && notes_local != notes_staged;
            return Ok(report);
        }

        // Here: forward moves first, then the audit chain's join, then the instances' (whose
        // entries follow the joined audit head).
        let identity = engine.identity().clone();
        transaction::adopt(
            repo,
            &identity,
            &moves,
            &format!("ddx sync: fetched from {remote}"),
        )?;
        if let Some((_, theirs)) = joins.iter().find(|(n, _)| n == refs::AUDIT) {
            let joined = join_audit(repo, &identity, remote, *theirs)?;
            set_result(&mut report, refs::AUDIT, joined);
        }
        if let Some((_, theirs)) = joins.iter().find(|(n, _)| n == RATINGS) {
            let ours = chains
                .get(RATINGS)
                .and_then(|(l, _)| *l)
                .expect("a ratings chain joined exists here");
            let joined = ratings::join_ratings(repo, &identity, ours, *theirs)?;
            transaction::adopt(
                repo,
                &identity,
                &[RefMove {
                    name: RATINGS.to_owned(),
                    old: Some(ours),
                    new: joined,
                }],
                &format!("ddx sync: joined the ratings of {remote}"),
            )?;
            set_result(&mut report, RATINGS, joined);
        }
        if joins.iter().any(|(n, _)| n.starts_with(refs::INSTANCES)) {
            step(Step::Joining);
        }
        for (name, theirs) in &joins {
            let Some(id) = name.strip_prefix(refs::INSTANCES) else {
                continue;
            };
            let r = engine.join(id, *theirs, false)?;
            if let Outcome::Committed(w) = &r.outcome {
                if let Some(event) = w.event {
                    set_result(&mut report, name, event);
                }
                let lines: Vec<String> = r
                    .lines
                    .iter()
                    .filter_map(|l| l.strip_prefix("conflict: ").map(str::to_owned))
                    .collect();
                if !lines.is_empty() {
                    report.conflicts.insert(id.to_owned(), lines);
                }
            }
        }
        if report.notes_merged {
            git::merge_notes(repo.work_dir(), &staging(remote, NOTES)).map_err(err)?;
        }

        // Everything the remote lacks, each with the value it was fetched at.
        let mut pushes: Vec<(String, ObjectId, Option<ObjectId>)> = Vec::new();
        for (name, (_, staged)) in &chains {
            let Some(now) = refs::read(repo, name)? else {
                continue;
            };
            match staged {
                Some(s) if *s == now => {}
                // Only what contains the remote's history is pushed: a lease alone would let a
                // push replace it (a chain this ddx cannot join yet stays as it is there).
                Some(s) if !ancestry::reaches(repo, now, *s)? => {
                    tracing::warn!("{name} was not joined with {remote}'s; it is not pushed");
                }
                _ => pushes.push((name.clone(), now, *staged)),
            }
        }
        pushes.extend(checkpoint_pushes.into_iter().map(|(n, c)| (n, c, None)));
        let notes_now = refs::read(repo, NOTES)?;
        if let Some(n) = notes_now.filter(|n| Some(*n) != notes_staged) {
            pushes.push((NOTES.to_owned(), n, notes_staged));
            report.notes_pushed = true;
        }
        if !pushes.is_empty() {
            step(Step::Pushing);
        }
        let list: Vec<Push<'_>> = pushes
            .iter()
            .map(|(name, new, expected)| Push {
                name,
                new: *new,
                expected: *expected,
            })
            .collect();
        match git::push_refs(repo.work_dir(), remote, &list) {
            Ok(()) => {
                // The staging refs say what the remote now has, as git's remote-tracking refs
                // do after a push.
                let staged: Vec<RefMove> = pushes
                    .iter()
                    .map(|(name, new, expected)| RefMove {
                        name: staging(remote, name),
                        old: *expected,
                        new: *new,
                    })
                    .collect();
                transaction::move_refs(repo, &identity, &staged, "ddx sync: pushed")?;
                let mut report = merge_reports(first.take(), report);
                report.rounds = round;
                return Ok(report);
            }
            Err(e) if is_lost_race(&e) && round < MAX_ROUNDS => {
                tracing::debug!("remote {remote} moved during sync round {round}: {e}");
                first = Some(merge_reports(first.take(), report));
                std::thread::sleep(pause(round));
            }
            Err(e) if is_lost_race(&e) => {
                return Err(SyncError::Contended {
                    remote: remote.to_owned(),
                    rounds: round,
                })
            }
            Err(e) => return Err(err(e)),
        }
    }
    Err(SyncError::Contended {
        remote: remote.to_owned(),
        rounds: MAX_ROUNDS,
    })
}

fn set_result(report: &mut Report, name: &str, id: ObjectId) {
    if let Some(r) = report.refs.iter_mut().find(|r| r.name == name) {
        r.result = Some(id.to_string());
    }
}

/// The report of several rounds: the first round's view of each ref, the later rounds' news.
fn merge_reports(first: Option<Report>, later: Report) -> Report {
    let Some(mut first) = first else {
        return later;
    };
    for r in later.refs {
        match first.refs.iter_mut().find(|f| f.name == r.name) {
            Some(f) if r.action == Move::Joined => *f = r,
            Some(_) => {}
            None => first.refs.push(r),
        }
    }
    first.notes_merged |= later.notes_merged;
    first.notes_pushed |= later.notes_pushed;
    first.conflicts.extend(later.conflicts);
    first
}

/// Whether a push failed because the remote moved since the fetch (a lease no longer held).
fn is_lost_race(e: &GitCommandError) -> bool {
    match e {
        GitCommandError::Failed { stderr, .. } => {
            stderr.contains("stale info")
                || stderr.contains("fetch first")
                || stderr.contains("non-fast-forward")
                || stderr.contains("atomic push failed")
                || stderr.contains("cannot lock ref")
        }
        _ => false,
    }
}

/// Jittered, growing pause before round `round + 1`.
fn pause(round: u32) -> std::time::Duration {
    let cap_ms = 50u64 << round.min(4);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(round);
    h.write_u32(std::process::id());
    std::time::Duration::from_millis(10 + h.finish() % cap_ms)
}

/// Joins the remote's audit chain into this one: an audit commit (operation `sync`) whose
/// parents are this clone's audit head and the remote's. Returns the new head.
fn join_audit(
    repo: &Repo,
    identity: &crate::store::Identity,
    remote: &str,
    theirs: ObjectId,
) -> Result<ObjectId, StoreError> {
    let opts = Options {
        instance: "",
        identity,
        project_commit: repo.project_commit(),
        dry_run: false,
    };
    let outcome = transaction::commit(repo, &opts, |base| -> Result<Decision, StoreError> {
        if let Some(head) = base.audit {
            if ancestry::reaches(repo, head, theirs)? {
                return Ok(Decision::Nothing(format!(
                    "{} already contains {theirs}",
                    refs::AUDIT
                )));
            }
        }
        Ok(Decision::Change(Box::new(Plan {
            event: None,
            audit: AuditRecord {
                operation: "sync".to_owned(),
                summary: format!("sync: joined the audit chain of {remote}"),
                args: BTreeMap::from([
                    ("remote".to_owned(), remote.to_owned()),
                    ("joined".to_owned(), theirs.to_string()),
                ]),
            },
            extra: Vec::new(),
            audit_joins: vec![theirs],
        })))
    })?;
    Ok(match outcome {
        Outcome::Committed(w) | Outcome::DryRun(w) => w.audit,
        Outcome::Nothing(_) => refs::read(repo, refs::AUDIT)?.unwrap_or(theirs),
    })
}

/// The remote `ddx sync` uses when none is named: the current branch's remote, else `origin`.
/// Refused when the repository has no such remote (the staging refs are named after it).
pub fn default_remote(repo: &Repo) -> Result<String, SyncError> {
    let branch_remote = repo.branch_remote();
    let name = branch_remote.unwrap_or_else(|| "origin".to_owned());
    check_remote(repo, &name)?;
    Ok(name)
}

/// Refuses a name that is not a configured remote of the repository.
pub fn check_remote(repo: &Repo, name: &str) -> Result<(), SyncError> {
    let known = repo.remote_names();
    if known.iter().any(|k| k == name) {
        return Ok(());
    }
    Err(SyncError::NoRemote {
        name: name.to_owned(),
        known,
    })
}

/// `ddx sync --setup`: adds the staging refspecs to `remote.<remote>.fetch`, so a plain
/// `git fetch` brings the others' refs into the staging namespace too (the next `ddx sync` joins
/// them). Returns the refspecs added (none when they are all there already).
pub fn setup(repo: &Repo, remote: &str, dry_run: bool) -> Result<Vec<String>, SyncError> {
    check_remote(repo, remote)?;
    let key = format!("remote.{remote}.fetch");
    let have = repo.config_values(&key);
    let missing: Vec<String> = fetch_refspecs(remote)
        .into_iter()
        .filter(|s| !have.contains(s))
        .collect();
    if !dry_run {
        for spec in &missing {
            git::config_add(repo.work_dir(), &key, spec).map_err(|source| SyncError::Git {
                remote: remote.to_owned(),
                source,
            })?;
        }
    }
    Ok(missing)
}

/// How many shared refs here differ from what was last fetched of `remote` (the staging refs):
/// what a push of the project alone would leave unshared. Zero once everything is shared.
pub fn unshared(repo: &Repo, remote: &str) -> Result<usize, GitCommandError> {
    let staged = read_staging(repo, remote)?;
    let mut n = 0;
    for prefix in CHAINS.iter().chain(&[NOTES]) {
        n += pairs(repo, &staged, prefix)?
            .values()
            .filter(|(local, staged)| local.is_some() && local != staged)
            .count();
    }
    // Checkpoints are shared when sync would neither fetch nor push one (a name two clones use
    // for different events is shared under a suffixed name).
    let (mut report, mut moves, mut pushes) = (Vec::new(), Vec::new(), Vec::new());
    checkpoints(repo, &staged, &mut report, &mut moves, &mut pushes)?;
    Ok(n + pushes.len())
}
