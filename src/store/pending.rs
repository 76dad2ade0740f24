//! Pending operations: the intended ref moves of a transaction, recorded before any ref moves,
//! so a process killed at any moment can be finished or rolled back by `ddx workflow resume`.
//!
//! A transaction writes its objects, then `.git/ddx/pending/<pid>-<n>.yml` (atomically: a
//! temporary file renamed into place), then moves the refs, remembers the heads, and removes the
//! file. A file whose process is gone marks an interrupted step. Recovery removes the ref lock
//! files the dead process left, then looks at each ref: when every ref is at its old value or its
//! new one (or past it), the step is finished by moving the rest (compare-and-swap, as always);
//! when a ref has moved on to something else, the step lost its base and is rolled back, which
//! costs nothing because the objects it wrote are not reachable from any ref. Either way the
//! file is removed, so running recovery twice does nothing the second time.

use super::event::Identity;
use super::repo::{Repo, StoreError};
use super::{heads, refs};
use gix::ObjectId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One ref a pending operation moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRef {
    pub name: String,
    /// `None`: the ref must not exist yet.
    #[serde(with = "opt_oid")]
    pub old: Option<ObjectId>,
    #[serde(with = "oid")]
    pub new: ObjectId,
}

/// A transaction between "objects written" and "refs moved".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOp {
    pub pid: u32,
    pub started: String,
    pub description: String,
    pub refs: Vec<PendingRef>,
    #[serde(skip)]
    pub file: PathBuf,
}

/// What recovery did with one interrupted operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Recovery {
    /// Some refs had not moved yet; they were moved, completing the step.
    Finished {
        description: String,
        moved: Vec<String>,
    },
    /// Every ref had already moved; only the bookkeeping was left.
    AlreadyDone { description: String },
    /// A ref moved on to something else in the meantime; the step was dropped.
    RolledBack { description: String, reason: String },
}

impl Recovery {
    pub fn description(&self) -> &str {
        match self {
            Recovery::Finished { description, .. }
            | Recovery::AlreadyDone { description }
            | Recovery::RolledBack { description, .. } => description,
        }
    }
}

fn dir(repo: &Repo) -> PathBuf {
    repo.ddx_dir().join("pending")
}

/// Records `op` before its refs move; returns the file to remove once they have.
pub fn write(repo: &Repo, op: &PendingOp) -> Result<PathBuf, StoreError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = dir(repo);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{}-{n}", op.pid);
    let file = dir.join(format!("{name}.yml"));
    let tmp = dir.join(format!(".{name}.tmp"));
    let text = serde_yaml::to_string(op)
        .map_err(|e| StoreError::git("encoding a pending operation", e))?;
    std::fs::write(&tmp, text).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| StoreError::io(&file, e))?;
    Ok(file)
}

/// Removes a pending file once its refs have moved (or when nothing moved).
pub fn remove(file: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(file, e)),
    }
}

/// Every pending operation, of live processes and dead ones.
pub fn list(repo: &Repo) -> Result<Vec<PendingOp>, StoreError> {
    let dir = dir(repo);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "yml") {
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let mut op: PendingOp = serde_yaml::from_str(&text).map_err(|e| StoreError::Corrupt {
            reference: path.display().to_string(),
            commit: String::new(),
            what: format!("the pending operation cannot be read: {e}"),
        })?;
        op.file = path;
        out.push(op);
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// The pending operations whose process is gone: interrupted steps.
pub fn interrupted(repo: &Repo) -> Result<Vec<PendingOp>, StoreError> {
    Ok(list(repo)?
        .into_iter()
        .filter(|op| op.pid != std::process::id() && !process_alive(op.pid))
        .collect())
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
        // Without a portable liveness check, a pending operation is never taken over.
        let _ = pid;
        true
    }
}

/// The lock file git and gix use for a loose ref.
fn lock_path(repo: &Repo, name: &str) -> PathBuf {
    let mut p = repo.common_dir().join(name).into_os_string();
    p.push(".lock");
    PathBuf::from(p)
}

/// Finishes or rolls back every interrupted operation.
pub fn recover(repo: &Repo, identity: &Identity) -> Result<Vec<Recovery>, StoreError> {
    let all = list(repo)?;
    let live_refs: Vec<String> = all
        .iter()
        .filter(|op| op.pid == std::process::id() || process_alive(op.pid))
        .flat_map(|op| op.refs.iter().map(|r| r.name.clone()))
        .collect();
    let mut out = Vec::new();
    for op in all
        .iter()
        .filter(|op| op.pid != std::process::id() && !process_alive(op.pid))
    {
        out.push(recover_one(repo, identity, op, &live_refs)?);
    }
    // Temporary files of a pending file being written when its process died.
    if let Ok(entries) = std::fs::read_dir(dir(repo)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix('.')
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            {
                if name.ends_with(".tmp") && !process_alive(pid) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
enum Position {
    AtOld,
    AtNew,
    Elsewhere(Option<ObjectId>),
}

fn recover_one(
    repo: &Repo,
    identity: &Identity,
    op: &PendingOp,
    live_refs: &[String],
) -> Result<Recovery, StoreError> {
    for r in &op.refs {
        let lock = lock_path(repo, &r.name);
        if lock.exists() && !live_refs.contains(&r.name) {
            tracing::info!("removing {} left by process {}", lock.display(), op.pid);
            std::fs::remove_file(&lock).map_err(|e| StoreError::io(&lock, e))?;
        }
    }
    let mut positions = Vec::new();
    for r in &op.refs {
        let current = refs::read(repo, &r.name)?;
        let pos = if current == r.old {
            Position::AtOld
        } else if current == Some(r.new) || current.is_some_and(|c| descends_from(repo, c, r.new)) {
            Position::AtNew
        } else {
            Position::Elsewhere(current)
        };
        positions.push(pos);
    }
    let description = op.description.clone();
    let result = if let Some((r, Position::Elsewhere(current))) = op
        .refs
        .iter()
        .zip(&positions)
        .find(|(_, p)| matches!(p, Position::Elsewhere(_)))
    {
        Recovery::RolledBack {
            description,
            reason: format!(
                "{} moved to {} since the step began",
                r.name,
                current.map_or_else(|| "nothing (deleted)".to_owned(), |c| c.to_string())
            ),
        }
    } else if positions.iter().all(|p| *p == Position::AtNew) {
        Recovery::AlreadyDone { description }
    } else {
        let rest: Vec<PendingRef> = op
            .refs
            .iter()
            .zip(&positions)
            .filter(|(_, p)| **p == Position::AtOld)
            .map(|(r, _)| r.clone())
            .collect();
        let message = format!("ddx: resume: {}", op.description);
        super::transaction::move_refs(repo, identity, &rest, &message)?;
        Recovery::Finished {
            description,
            moved: rest.into_iter().map(|r| r.name).collect(),
        }
    };
    if !matches!(result, Recovery::RolledBack { .. }) {
        let moves: Vec<(String, ObjectId)> =
            op.refs.iter().map(|r| (r.name.clone(), r.new)).collect();
        heads::record(repo, &moves)?;
    }
    remove(&op.file)?;
    Ok(result)
}

/// True when `ancestor` is reachable from `tip` (bounded walk: recovery is rare and chains of
/// one step's age are short).
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

mod oid {
    use gix::ObjectId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectId, D::Error> {
        let text = String::deserialize(d)?;
        ObjectId::from_hex(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

mod opt_oid {
    use gix::ObjectId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.collect_str(id),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ObjectId>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => ObjectId::from_hex(text.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}
