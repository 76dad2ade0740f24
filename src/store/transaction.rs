//! The one transaction type through which every change of state goes (STYLE "The shape").
//!
//! [`commit`] takes the writers' lock on `.git/ddx/heads` (see [`super::heads`]), reads the
//! base (the instance tip and the audit head: first as the journal remembers them, see
//! [`remembered_base`]), asks the caller what to change, writes the
//! objects (event commit, audit commit), records the step and its intended ref moves, and then
//! moves the instance ref, `refs/ddx/audit` and any extra ref in ONE ref transaction
//! ([`super::refedit`]), each with compare-and-swap (it must be where it was read, or must not
//! exist) and a reflog entry; then
//! it records the new heads and clears the step. A lost race (a ref moved by another program, or a ref
//! lock held) is retried from a fresh read, a bounded number of times with jittered back-off.
//! A change that changes nothing writes nothing. A dry run takes no lock, builds every object
//! in memory, hashes it, and writes nothing at all.

use super::ancestry::reaches;
use super::audit::{self, AuditRecord};
use super::event::{
    read_event, write_commit, write_event_tree_with, Identity, Message, Sink, Tip, FORMAT,
};
use super::heads::{Journal, RefMove};
use super::refedit::{self as reftx, EditError};
use super::refs;
use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How many times a lost race is retried before giving up.
pub const MAX_ATTEMPTS: u32 = 50;

/// What a transaction starts from.
#[derive(Debug, Clone)]
pub struct Base {
    /// The instance's tip, `None` when the instance does not exist yet.
    pub instance: Option<Tip>,
    /// The head of `refs/ddx/audit`, `None` before the first audited operation.
    pub audit: Option<ObjectId>,
}

/// A new event on the instance chain.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The full `state.yml` after the event.
    pub state: Vec<u8>,
    /// The pinned definition tree.
    pub workflow_tree: ObjectId,
    /// The tree of the artifacts the event rendered, by path (`renders/`), if it rendered any.
    pub renders: Option<ObjectId>,
    /// Subject, body and the event's own trailers (`Ddx-Event`, `Ddx-Phase`, …); the
    /// transaction adds `Ddx-Instance`, `Ddx-Actor`, `Ddx-Project-Commit`, `Ddx-Format` and
    /// `Ddx-Audit-Parent`.
    pub message: Message,
    /// Further parents after the instance's tip: a merge event, which joins another history of
    /// the instance (another clone's events) into this one. Empty for an ordinary event.
    pub joins: Vec<ObjectId>,
}

/// Where an extra ref should point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraTarget {
    Commit(ObjectId),
    /// The event commit this transaction writes.
    NewEvent,
}

/// A ref moved along with the instance and audit refs (a checkpoint, for instance).
#[derive(Debug, Clone)]
pub struct ExtraRef {
    pub name: String,
    /// `None`: the ref must not exist.
    pub expected: Option<ObjectId>,
    pub target: ExtraTarget,
}

/// What the caller wants changed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The instance event, if the instance's state changes.
    pub event: Option<NewEvent>,
    pub audit: AuditRecord,
    pub extra: Vec<ExtraRef>,
    /// Further parents of the audit commit after the audit head: a merge of the audit chain,
    /// which joins another clone's audit history into this one. Empty for an ordinary entry.
    pub audit_joins: Vec<ObjectId>,
}

/// The caller's answer to a base.
#[derive(Debug, Clone)]
pub enum Decision {
    Change(Box<Plan>),
    /// Nothing to do, and why.
    Nothing(String),
}

/// A ref move a transaction made or would make.
pub type Move = RefMove;

/// What the transaction wrote (or, in a dry run, would write).
#[derive(Debug, Clone)]
pub struct Written {
    pub event: Option<ObjectId>,
    /// The event's `state.yml` blob.
    pub state_blob: Option<ObjectId>,
    pub audit: ObjectId,
    pub moves: Vec<Move>,
    pub attempts: u32,
    /// The plan that was applied (from the last, successful attempt).
    pub plan: Box<Plan>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Committed(Written),
    DryRun(Written),
    Nothing(String),
}

/// Options of one transaction.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    pub instance: &'a str,
    pub identity: &'a Identity,
    pub project_commit: Option<ObjectId>,
    pub dry_run: bool,
}

/// Reads the base of `instance`: its tip (O(1)) and the audit head. An empty `instance` is an
/// operation that touches no instance (`ddx repo add`, `ddx hooks install`, …): only the audit
/// head is read.
pub fn read_base(repo: &Repo, instance: &str) -> Result<Base, StoreError> {
    let name = refs::instance_ref(instance);
    let tip = match instance.is_empty() {
        true => None,
        false => match refs::read(repo, &name)? {
            Some(commit) => match repo.last_event(commit) {
                Some(tip) => Some(tip),
                None => Some(read_event(repo, &name, commit)?),
            },
            None => None,
        },
    };
    let audit = refs::read(repo, refs::AUDIT)?;
    if let Some(head) = audit {
        audit_head_is_a_commit(repo, head)?;
    }
    Ok(Base {
        instance: tip,
        audit,
    })
}

/// Refuses an audit head that is not a commit (a ref set by hand to a blob or tree): building on
/// it would write a commit whose parent is not one, which `git gc` then refuses.
fn audit_head_is_a_commit(repo: &Repo, head: ObjectId) -> Result<(), StoreError> {
    let damaged = |what: String| StoreError::Corrupt {
        reference: refs::AUDIT.to_owned(),
        commit: head.to_string(),
        what,
    };
    let header = repo
        .gix()
        .find_header(head)
        .map_err(|e| damaged(format!("the object it points at cannot be read ({e}); set it back with `git update-ref {} <the audit commit>` (see `git reflog {}`)", refs::AUDIT, refs::AUDIT)))?;
    match header.kind() {
        gix::object::Kind::Commit => Ok(()),
        kind => Err(damaged(format!(
            "it points at a {kind}, not a commit; nothing was written. Set it back with `git update-ref {} <the audit commit>` (see `git reflog {}`)",
            refs::AUDIT,
            refs::AUDIT
        ))),
    }
}

/// The base as the journal remembers it: the heads ddx wrote last, read under the writers' lock,
/// so the refs need not be read twice (the ref transaction reads them again under their own
/// locks, and finds any that another program moved since: a conflict, and [`commit`] then
/// starts again from [`read_base`]). `None` when the journal does not know a head (a new
/// instance, the first operation, a damaged journal) or the tip it names cannot be read.
fn remembered_base(
    repo: &Repo,
    instance: &str,
    heads: &std::collections::BTreeMap<String, ObjectId>,
) -> Option<Base> {
    let audit = *heads.get(refs::AUDIT)?;
    // The audit ref as it is (one small read): one moved by hand, to a blob say, must be
    // refused before any object is written.
    if refs::read(repo, refs::AUDIT).ok()? != Some(audit) {
        return None;
    }
    let tip = match instance.is_empty() {
        true => None,
        false => {
            let name = refs::instance_ref(instance);
            let commit = *heads.get(&name)?;
            match repo.last_event(commit) {
                Some(tip) => Some(tip),
                None => Some(read_event(repo, &name, commit).ok()?),
            }
        }
    };
    Some(Base {
        instance: tip,
        audit: Some(audit),
    })
}

/// Whether the instance ref and `refs/ddx/audit` are where `base` says.
fn refs_at(repo: &Repo, instance: &str, base: &Base) -> Result<bool, StoreError> {
    let tip = match instance.is_empty() {
        true => None,
        false => refs::read(repo, &refs::instance_ref(instance))?,
    };
    Ok(tip == base.instance.as_ref().map(|t| t.commit)
        && refs::read(repo, refs::AUDIT)? == base.audit)
}

/// Refuses to build on `name` when it was moved outside ddx to a place from which the head
/// ddx last wrote there (`heads`) cannot be reached — deleted, moved back, or set to another
/// history: building on it would drop recorded events. A ref moved forward (another clone's
/// events fetched on top of ddx's) is built on.
fn not_moved_back(
    repo: &Repo,
    heads: &std::collections::BTreeMap<String, ObjectId>,
    name: &str,
    now: Option<ObjectId>,
) -> Result<(), StoreError> {
    let Some(&last) = heads.get(name) else {
        return Ok(());
    };
    if now == Some(last) {
        return Ok(());
    }
    let put_back = format!("`git update-ref {name} {last}` puts it back");
    let Some(now) = now else {
        return Err(StoreError::MovedOutside {
            reference: name.to_owned(),
            what: format!("was deleted outside ddx; ddx last wrote {last} there and nothing was written. {put_back}"),
        });
    };
    if reaches(repo, now, last)? {
        return Ok(());
    }
    Err(StoreError::MovedOutside {
        reference: name.to_owned(),
        what: format!(
            "was moved outside ddx from {last} to {now}, which does not contain {last}; building on it would drop what was recorded there, so nothing was written. {put_back} (`git reflog {name}` shows the moves)"
        ),
    })
}

/// Runs one transaction: see the module documentation.
pub fn commit<E: From<StoreError>>(
    repo: &Repo,
    opts: &Options<'_>,
    mut decide: impl FnMut(&Base) -> Result<Decision, E>,
) -> Result<Outcome, E> {
    // Writers take turns (every operation moves refs/ddx/audit anyway); the locked file also
    // records the intended moves before any ref moves, and the heads once they have.
    let mut journal = if opts.dry_run {
        None
    } else {
        Some(Journal::acquire(repo)?)
    };
    // An operation that touches no instance moves only the audit ref.
    let instance_ref = if opts.instance.is_empty() {
        refs::AUDIT.to_owned()
    } else {
        refs::instance_ref(opts.instance)
    };
    let mut attempt = 0;
    let mut remembered = journal
        .as_ref()
        .and_then(|j| remembered_base(repo, opts.instance, j.heads()));
    loop {
        attempt += 1;
        let from_journal = remembered.is_some();
        let base = match remembered.take() {
            Some(base) => base,
            None => {
                let base = read_base(repo, opts.instance)?;
                if let Some(j) = &journal {
                    let tip = base.instance.as_ref().map(|t| t.commit);
                    not_moved_back(repo, j.heads(), &instance_ref, tip)?;
                    not_moved_back(repo, j.heads(), refs::AUDIT, base.audit)?;
                }
                base
            }
        };
        let decided = decide(&base);
        // Nothing to do, or a refusal, is only answered from the refs as they are.
        if from_journal
            && !matches!(decided, Ok(Decision::Change(_)))
            && !refs_at(repo, opts.instance, &base)?
        {
            attempt -= 1;
            continue;
        }
        let plan = match decided? {
            Decision::Nothing(why) => {
                if let Some(j) = journal {
                    j.release()?;
                }
                return Ok(Outcome::Nothing(why));
            }
            Decision::Change(plan) => plan,
        };
        let sink = if opts.dry_run {
            Sink::HashOnly(repo)
        } else {
            Sink::Write(repo)
        };
        let mut moves = Vec::new();
        let mut new_tip = None;
        let event = match &plan.event {
            Some(ev) => {
                let (state_id, tree) =
                    write_event_tree_with(sink, &ev.state, ev.workflow_tree, ev.renders)?;
                let mut message = ev.message.clone();
                message.trailer("Ddx-Instance", opts.instance);
                message.trailer("Ddx-Actor", opts.identity.actor());
                if let Some(c) = opts.project_commit {
                    message.trailer("Ddx-Project-Commit", c.to_string());
                }
                message.trailer("Ddx-Format", FORMAT.to_string());
                if let Some(a) = base.audit {
                    message.trailer("Ddx-Audit-Parent", a.to_string());
                }
                let parents: Vec<ObjectId> = base
                    .instance
                    .as_ref()
                    .map(|t| t.commit)
                    .into_iter()
                    .chain(ev.joins.iter().copied())
                    .collect();
                let id = write_commit(sink, opts.identity, &message, tree, &parents)?;
                moves.push(Move {
                    name: instance_ref.clone(),
                    old: base.instance.as_ref().map(|t| t.commit),
                    new: id,
                });
                new_tip = Some(Tip {
                    commit: id,
                    tree,
                    workflow_tree: ev.workflow_tree,
                    state_id,
                    state: ev.state.clone(),
                });
                Some(id)
            }
            // An operation that touches no instance.
            None if opts.instance.is_empty() => None,
            None => {
                base.instance.as_ref().ok_or_else(|| StoreError::Corrupt {
                    reference: instance_ref.clone(),
                    commit: String::new(),
                    what: "an operation without an event needs an existing instance".to_owned(),
                })?;
                None
            }
        };
        let recorded = event.or(base.instance.as_ref().map(|t| t.commit));
        let audit = audit::write_entry(
            sink,
            opts.identity,
            base.audit,
            &plan.audit_joins,
            opts.instance,
            recorded,
            opts.project_commit,
            &plan.audit,
        )?;
        moves.push(Move {
            name: refs::AUDIT.to_owned(),
            old: base.audit,
            new: audit,
        });
        for extra in &plan.extra {
            let new = match extra.target {
                ExtraTarget::Commit(c) => c,
                ExtraTarget::NewEvent => event.ok_or_else(|| StoreError::Corrupt {
                    reference: extra.name.clone(),
                    commit: String::new(),
                    what: "a ref was to point at an event that was not written".to_owned(),
                })?,
            };
            moves.push(Move {
                name: extra.name.clone(),
                old: extra.expected,
                new,
            });
        }
        let step = plan.event.as_ref().map_or_else(
            || audit::subject(opts.instance, &plan.audit.summary),
            |e| e.message.subject.clone(),
        );
        let written = Written {
            event,
            state_blob: new_tip.as_ref().map(|t| t.state_id),
            audit,
            moves,
            attempts: attempt,
            plan,
        };
        let Some(j) = journal.as_mut() else {
            return Ok(Outcome::DryRun(written));
        };
        j.record(&step, &opts.identity.time(), &written.moves)?;
        match reftx::edit(repo, opts.identity, &written.moves, &step) {
            Ok(()) => {
                if let Some(j) = journal.take() {
                    j.commit()?;
                }
                if let Some(tip) = new_tip {
                    repo.remember_event(tip);
                }
                return Ok(Outcome::Committed(written));
            }
            Err(e @ EditError::Conflict(_)) => {
                // Nothing moved: every ref is locked and checked before any moves. Another
                // program moved a ref (ddx writers hold the journal): read again and redo.
                j.clear()?;
                if from_journal {
                    // The journal's heads were not the refs' (another program moved one).
                    attempt -= 1;
                    continue;
                }
                if attempt >= MAX_ATTEMPTS {
                    return Err(StoreError::Contended {
                        reference: instance_ref,
                        attempts: attempt,
                        source: Box::new(e),
                    }
                    .into());
                }
                tracing::debug!("lost a race on attempt {attempt}, retrying: {e}");
                std::thread::sleep(backoff(attempt));
            }
            Err(e) => {
                let moved = written
                    .moves
                    .iter()
                    .any(|m| refs::read(repo, &m.name).ok().flatten() == Some(m.new));
                if let Some(j) = journal.take() {
                    if moved {
                        // Partly done: leave the step for `ddx workflow resume`.
                        j.keep();
                    } else {
                        j.release()?;
                    }
                }
                return Err(match e {
                    EditError::Failed(e) => e,
                    conflict => StoreError::git("moving the refs", conflict),
                }
                .into());
            }
        }
    }
}

/// Jittered, growing pause before retry `attempt`.
fn backoff(attempt: u32) -> Duration {
    let cap_us = 500u64 << attempt.min(5); // 1 ms … 16 ms
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    h.write_u32(std::process::id());
    Duration::from_micros(200 + h.finish() % cap_us)
}

/// Moves `moves` in one ref transaction, with compare-and-swap and reflog (used by recovery).
pub fn move_refs(
    repo: &Repo,
    identity: &Identity,
    moves: &[RefMove],
    message: &str,
) -> Result<(), StoreError> {
    if moves.is_empty() {
        return Ok(());
    }
    reftx::edit(repo, identity, moves, message).map_err(|e| match e {
        EditError::Failed(e) => e,
        conflict => StoreError::git("moving the refs", conflict),
    })
}

/// Moves refs to commits another clone wrote (fetched by `ddx sync`), under the writers' lock,
/// and records them as the heads ddx knows, so the next transaction builds on them. Every move
/// is compare-and-swap; the caller moves refs only forward (the new value contains the old).
pub fn adopt(
    repo: &Repo,
    identity: &Identity,
    moves: &[RefMove],
    message: &str,
) -> Result<(), StoreError> {
    if moves.is_empty() {
        return Ok(());
    }
    let mut journal = Journal::acquire(repo)?;
    journal.record(message, &identity.time(), moves)?;
    match reftx::edit(repo, identity, moves, message) {
        Ok(()) => journal.commit(),
        Err(e) => {
            journal.release()?;
            Err(match e {
                EditError::Failed(e) => e,
                conflict => StoreError::git("moving the refs", conflict),
            })
        }
    }
}
