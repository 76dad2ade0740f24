//! Interrupted steps and their recovery (`ddx workflow resume`).
//!
//! A ddx writer records its intended ref moves in `.git/ddx/heads.lock` before any ref moves
//! (see [`super::heads`]). A lock whose process is gone is an interrupted step. Recovery
//! removes the ref lock files the dead process left, then looks at each ref of the step: when
//! every ref is at its old value or its new one (or past it), the step is finished by moving
//! the rest (compare-and-swap, as always); when a ref moved on to something else, the step lost
//! its base and is rolled back, which costs nothing because the objects it wrote are reachable
//! from no ref. A step that had recorded no move yet had moved nothing and is dropped. Either
//! way the heads are written and the lock removed, so running recovery twice does nothing the
//! second time.

use super::event::Identity;
use super::heads::{self, HeadsDoc, RefMove};
use super::refs;
use super::repo::{Repo, StoreError};
use gix::ObjectId;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What recovery did with the interrupted step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Recovery {
    /// Some refs had not moved yet; they were moved, completing the step.
    Finished { step: String, moved: Vec<String> },
    /// Every ref had already moved; only the bookkeeping was left.
    AlreadyDone { step: String },
    /// The step was dropped: it had moved nothing, or a ref moved on since it began.
    RolledBack { step: String, reason: String },
}

/// The interrupted step, if a dead process left one.
pub fn interrupted(repo: &Repo) -> Result<Option<String>, StoreError> {
    Ok(heads::dead_holder(repo)?.map(|h| h.describe()))
}

/// True while process `pid` runs (a zombie, killed but not yet reaped, counts as gone).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                // `pid (comm) S …`: the state follows the last `)`.
                return stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next())
                    .is_some_and(|s| s != 'Z' && s != 'X');
            }
            Err(_) => {
                if Path::new("/proc/self/stat").exists() {
                    return false;
                }
            }
        }
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: kill with signal 0 only checks that the process exists; it sends nothing.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        // Without a portable liveness check, a lock is never taken over.
        let _ = pid;
        true
    }
}

/// The lock file git and gix use for a loose ref.
fn ref_lock_path(repo: &Repo, name: &str) -> PathBuf {
    let mut p = repo.common_dir().join(name).into_os_string();
    p.push(".lock");
    PathBuf::from(p)
}

/// Excludes a second `resume` while one recovers.
struct RecoveryLock(PathBuf);

impl Drop for RecoveryLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn recovery_lock(repo: &Repo) -> Result<Option<RecoveryLock>, StoreError> {
    let path = repo.ddx_dir().join("recover.lock");
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                let _ = write!(f, "{}", std::process::id());
                return Ok(Some(RecoveryLock(path)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                if owner.is_some_and(process_alive) {
                    return Ok(None);
                }
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        }
    }
}

/// Finishes or rolls back the interrupted step, if there is one.
pub fn recover(repo: &Repo, identity: &Identity) -> Result<Option<Recovery>, StoreError> {
    remove_dead_temporaries(repo);
    if heads::dead_holder(repo)?.is_none() {
        return Ok(None);
    }
    let Some(_guard) = recovery_lock(repo)? else {
        return Ok(None);
    };
    // Read again under the recovery lock: another resume may have finished meanwhile.
    let Some(holder) = heads::dead_holder(repo)? else {
        return Ok(None);
    };
    let step = holder.describe();
    let doc = holder.doc.clone().unwrap_or_default();
    let result = if doc.moves.is_empty() {
        Recovery::RolledBack {
            step,
            reason: "it had not moved any ref".to_owned(),
        }
    } else {
        recover_moves(repo, identity, &doc, step)?
    };
    let mut remembered = heads::read(repo)?;
    if !matches!(result, Recovery::RolledBack { .. }) {
        for m in &doc.moves {
            remembered.insert(m.name.clone(), m.new);
        }
    }
    heads::write_heads(repo, remembered)?;
    let lock = heads::lock_path(repo);
    match std::fs::remove_file(&lock) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&lock, e)),
    }
    Ok(Some(result))
}

/// Temporary files (`heads.lock.<pid>`, `heads.<pid>.tmp`) of processes that died writing them.
fn remove_dead_temporaries(repo: &Repo) {
    let Ok(entries) = std::fs::read_dir(repo.ddx_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("heads.lock.")
            .or_else(|| {
                name.strip_prefix("heads.")
                    .and_then(|n| n.strip_suffix(".tmp"))
            })
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !process_alive(p)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
    // The dead process held heads.lock, so no live ddx process holds these ref locks.
    for m in &doc.moves {
        let lock = ref_lock_path(repo, &m.name);
        if lock.exists() {
            tracing::info!("removing {} left by process {}", lock.display(), doc.pid);
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
