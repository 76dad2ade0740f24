//! What a commit is about to record: the index (as `GIT_INDEX_FILE` names it) against HEAD.

use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::path::Path;

/// The index being committed.
pub struct Staged {
    /// Path and blob id of every index entry, in index (byte) order.
    entries: Vec<(gix::bstr::BString, ObjectId)>,
    /// Paths whose index entry differs from HEAD (added, modified or deleted).
    pub changed: Vec<String>,
}

impl Staged {
    /// Reads the index and compares it with HEAD's tree: both sorted by path, merged in one
    /// pass, so a 10,000-file repository costs a few milliseconds.
    pub fn read(repo: &Repo) -> Result<Staged, StoreError> {
        let gix = repo.gix();
        let index = gix
            .index_or_empty()
            .map_err(|e| StoreError::git("reading the index", e))?;
        let mut entries: Vec<(gix::bstr::BString, ObjectId)> = index
            .entries()
            .iter()
            .map(|e| (e.path(&index).to_owned(), e.id))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        let mut head: Vec<(gix::bstr::BString, ObjectId)> = match gix.head_tree() {
            Ok(tree) => tree
                .traverse()
                .breadthfirst
                .files()
                .map_err(|e| StoreError::git("reading HEAD's tree", e))?
                .into_iter()
                .filter(|f| !f.mode.is_tree())
                .map(|f| (f.filepath, f.oid))
                .collect(),
            Err(_) => Vec::new(),
        };
        head.sort_by(|a, b| a.0.cmp(&b.0));
        let mut changed = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < entries.len() || j < head.len() {
            match (entries.get(i), head.get(j)) {
                (Some(a), Some(b)) if a.0 == b.0 => {
                    if a.1 != b.1 {
                        changed.push(a.0.to_string());
                    }
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a.0 < b.0 => {
                    changed.push(a.0.to_string());
                    i += 1;
                }
                (Some(_), Some(b)) | (None, Some(b)) => {
                    changed.push(b.0.to_string());
                    j += 1;
                }
                (Some(a), None) => {
                    changed.push(a.0.to_string());
                    i += 1;
                }
                (None, None) => break,
            }
        }
        Ok(Staged { entries, changed })
    }

    /// Writes the index's version of every file at or under `prefix` (a literal path, no
    /// wildcards; empty for all) into `dir`, so checks judge what is being committed rather
    /// than the work tree.
    pub fn materialize(&self, repo: &Repo, prefix: &str, dir: &Path) -> Result<usize, StoreError> {
        let prefix = prefix
            .split('#')
            .next()
            .unwrap_or(prefix)
            .trim_end_matches('/');
        let mut n = 0;
        for (path, id) in &self.entries {
            let path = path.to_string();
            let inside = prefix.is_empty()
                || path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('/'));
            if !inside {
                continue;
            }
            let blob = repo
                .gix()
                .find_blob(*id)
                .map_err(|e| StoreError::git(format!("reading the staged {path}"), e))?;
            let target = dir.join(&path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::git(format!("staging {path} for a check"), e))?;
            }
            std::fs::write(&target, &blob.data)
                .map_err(|e| StoreError::git(format!("staging {path} for a check"), e))?;
            n += 1;
        }
        Ok(n)
    }
}
