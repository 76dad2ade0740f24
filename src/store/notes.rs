//! `refs/notes/ddx`: on the project's own commits, which instance and phase they belong to.
//!
//! A note is one JSON object per line, so `git notes merge -s cat_sort_uniq` always merges
//! them. Notes are a derived index: `ddx notes rebuild` regenerates them from the commits'
//! `Ddx-Instance`/`Ddx-Phase` trailers.

use super::repo::{Repo, StoreError};
use gix::ObjectId;

/// The notes ref.
pub const NOTES_REF: &str = "refs/notes/ddx";

/// The note on `commit`, if any.
pub fn read(repo: &Repo, commit: ObjectId) -> Result<Option<String>, StoreError> {
    let mut notes = repo
        .gix()
        .notes()
        .and_then(|n| n.with_refs([NOTES_REF]))
        .map_err(|e| StoreError::git("opening refs/notes/ddx", e))?;
    let found = notes
        .get(commit)
        .map_err(|e| StoreError::git(format!("reading the note of {commit}"), e))?;
    Ok(found
        .first()
        .map(|n| String::from_utf8_lossy(&n.blob.data).into_owned()))
}

/// Adds `line` (one JSON object) to the note on `commit`, unless it is there already.
/// Returns false when nothing changed.
pub fn append(repo: &Repo, commit: ObjectId, line: &str) -> Result<bool, StoreError> {
    let existing = read(repo, commit)?.unwrap_or_default();
    if existing.lines().any(|l| l == line) {
        return Ok(false);
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    replace(repo, commit, &text)?;
    Ok(true)
}

/// Sets the note on `commit` to `text`.
pub fn replace(repo: &Repo, commit: ObjectId, text: &str) -> Result<(), StoreError> {
    let mut notes = repo
        .gix()
        .notes()
        .map_err(|e| StoreError::git("opening refs/notes/ddx", e))?
        .with_commit_message(format!("ddx: note on {}", commit.to_hex_with_len(12)));
    notes
        .replace_at_ref(
            NOTES_REF
                .try_into()
                .expect("refs/notes/ddx is a valid full ref name"),
            commit,
            text,
        )
        .map_err(|e| StoreError::git(format!("writing the note of {commit}"), e))?;
    Ok(())
}

/// One commit's derived note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedNote {
    pub commit: ObjectId,
    pub text: String,
}

/// Commits reachable from HEAD (newest first) with their message and commit time in seconds.
pub fn history(repo: &Repo) -> Result<Vec<(ObjectId, String, i64)>, StoreError> {
    let gix = repo.gix();
    let Some(head) = super::refs::head_commit(repo) else {
        return Ok(Vec::new());
    };
    let walk = gix
        .rev_walk([head])
        .all()
        .map_err(|e| StoreError::git("walking the history", e))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.map_err(|e| StoreError::git("walking the history", e))?;
        let commit = gix
            .find_commit(info.id)
            .map_err(|e| StoreError::git(format!("reading commit {}", info.id), e))?;
        let time = commit.time().map(|t| t.seconds).unwrap_or(0);
        out.push((info.id, commit.message_raw_sloppy().to_string(), time));
    }
    Ok(out)
}

/// The audit chain's commits with their commit time in seconds, in chain order, oldest first.
pub fn audit_times(repo: &Repo) -> Result<Vec<(i64, ObjectId)>, StoreError> {
    let gix = repo.gix();
    let Some(head) = super::refs::read(repo, "refs/ddx/audit")? else {
        return Ok(Vec::new());
    };
    let walk = gix
        .rev_walk([head])
        .all()
        .map_err(|e| StoreError::git("walking refs/ddx/audit", e))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.map_err(|e| StoreError::git("walking refs/ddx/audit", e))?;
        let commit = gix
            .find_commit(info.id)
            .map_err(|e| StoreError::git(format!("reading audit commit {}", info.id), e))?;
        out.push((commit.time().map(|t| t.seconds).unwrap_or(0), info.id));
    }
    out.reverse();
    Ok(out)
}

/// Sets each note in `notes` unless it already reads so; returns how many changed.
pub fn write_all(repo: &Repo, notes: &[DerivedNote], dry_run: bool) -> Result<usize, StoreError> {
    let mut changed = 0;
    for n in notes {
        if read(repo, n.commit)?.as_deref() == Some(n.text.as_str()) {
            continue;
        }
        changed += 1;
        if !dry_run {
            replace(repo, n.commit, &n.text)?;
        }
    }
    Ok(changed)
}
