//! Interrupted steps and their recovery (`ddx workflow resume`).
//!
//! A ddx writer records its step and intended ref moves in `.git/ddx/heads` before any ref
//! moves, under a lock the kernel drops when the writer dies (see [`super::heads`]). A step
//! still recorded when the lock is free is an interrupted step. Recovery takes the lock,
//! removes the ref lock files the dead writer left, then looks at each ref of the step: when
//! every ref is at its old value or its new one (or past it), the step is finished by moving
//! the rest (compare-and-swap, as always); when a ref moved on to something else, the step lost
//! its base and is rolled back, which costs nothing because the objects it wrote are reachable
//! from no ref. Either way the step is cleared, so running recovery twice does nothing the
//! second time.

use super::event::Identity;
use super::heads::{HeadsDoc, Journal, RefMove};
use super::refs;
use super::repo::{Repo, StoreError};
use gix::ObjectId;
use serde::Serialize;
use std::path::PathBuf;

/// What recovery did with the interrupted step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Recovery {
    /// Some refs had not moved yet; they were moved, completing the step.
    Finished { step: String, moved: Vec<String> },
    /// Every ref had already moved; only the bookkeeping was left.
    AlreadyDone { step: String },
    /// The step was dropped: a ref moved on since it began.
    RolledBack { step: String, reason: String },
}

/// The interrupted step, if a killed writer left one.
pub fn interrupted(repo: &Repo) -> Result<Option<String>, StoreError> {
    super::heads::interrupted(repo)
}

/// The lock file git and gix use for a loose ref.
fn ref_lock_path(repo: &Repo, name: &str) -> PathBuf {
    let mut p = repo.common_dir().join(name).into_os_string();
    p.push(".lock");
    PathBuf::from(p)
}

/// Finishes or rolls back the interrupted step, if there is one.
pub fn recover(repo: &Repo, identity: &Identity) -> Result<Option<Recovery>, StoreError> {
    if !super::heads::peek(repo)?.in_flight() {
        return Ok(None);
    }
    // Waits for a live writer; then any step recorded is one whose writer died.
    let journal = Journal::acquire_for_recovery(repo)?;
    if !journal.doc.in_flight() {
        return Ok(None);
    }
    let step = journal.doc.describe();
    let result = recover_moves(repo, identity, &journal.doc, step)?;
    match result {
        Recovery::RolledBack { .. } => journal.release()?,
        _ => journal.commit()?,
    }
    Ok(Some(result))
}

#[derive(Debug, PartialEq, Eq)]
enum Position {
    AtOld,
    AtNew,
    Elsewhere(Option<ObjectId>),
}

fn recover_moves(
    repo: &Repo,
    identity: &Identity,
    doc: &HeadsDoc,
    step: String,
) -> Result<Recovery, StoreError> {
    // The journal is a local file anyone with write access can forge: recovery only ever moves
    // refs ddx owns, and only to commits that exist.
    for m in &doc.moves {
        let ours = m.name.starts_with("refs/ddx/") || m.name == super::notes::NOTES_REF;
        let why = if !ours || m.name.contains("..") {
            Some("names a ref outside refs/ddx/, which recovery never moves".to_owned())
        } else if !is_commit(repo, m.new) {
            Some(format!(
                "moves {} to {}, which is not a commit",
                m.name, m.new
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(StoreError::Corrupt {
                reference: ".git/ddx/heads".into(),
                commit: String::new(),
                what: format!(
                    "the interrupted step {}",
                    if ours {
                        why
                    } else {
                        format!("{why}: {}", m.name)
                    }
                ),
            });
        }
    }
    // We hold the writers' lock, so no live ddx process holds these ref locks.
    for m in &doc.moves {
        let lock = ref_lock_path(repo, &m.name);
        if lock.exists() {
            tracing::info!("removing {} left by an interrupted step", lock.display());
            std::fs::remove_file(&lock).map_err(|e| StoreError::io(&lock, e))?;
        }
    }
    let mut positions = Vec::new();
    for m in &doc.moves {
        let current = refs::read(repo, &m.name)?;
        positions.push(if current == m.old {
            Position::AtOld
        } else if current == Some(m.new) || current.is_some_and(|c| descends_from(repo, c, m.new)) {
            Position::AtNew
        } else {
            Position::Elsewhere(current)
        });
    }
    if let Some((m, Position::Elsewhere(current))) = doc
        .moves
        .iter()
        .zip(&positions)
        .find(|(_, p)| matches!(p, Position::Elsewhere(_)))
    {
        return Ok(Recovery::RolledBack {
            step,
            reason: format!(
                "{} moved to {} since the step began",
                m.name,
                current.map_or_else(|| "nothing (deleted)".to_owned(), |c| c.to_string())
            ),
        });
    }
    if positions.iter().all(|p| *p == Position::AtNew) {
        return Ok(Recovery::AlreadyDone { step });
    }
    let rest: Vec<RefMove> = doc
        .moves
        .iter()
        .zip(&positions)
        .filter(|(_, p)| **p == Position::AtOld)
        .map(|(m, _)| m.clone())
        .collect();
    super::transaction::move_refs(repo, identity, &rest, &format!("ddx: resume: {step}"))?;
    Ok(Recovery::Finished {
        step,
        moved: rest.into_iter().map(|m| m.name).collect(),
    })
}

/// True when `id` names a commit in the object database.
fn is_commit(repo: &Repo, id: ObjectId) -> bool {
    repo.gix()
        .find_header(id)
        .is_ok_and(|h| h.kind() == gix::object::Kind::Commit)
}

/// True when `ancestor` is reachable from `tip` (a bounded walk: recovery is rare).
fn descends_from(repo: &Repo, tip: ObjectId, ancestor: ObjectId) -> bool {
    let mut queue = vec![tip];
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = queue.pop() {
        if id == ancestor {
            return true;
        }
        if !seen.insert(id) || seen.len() > 100_000 {
            continue;
        }
        if let Ok(c) = repo.gix().find_commit(id) {
            queue.extend(c.parent_ids().map(|p| p.detach()));
        }
    }
    false
}
