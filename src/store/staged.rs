//! What a commit is about to record: the index (as `GIT_INDEX_FILE` names it) against HEAD.

use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::collections::HashMap;
use std::path::Path;

/// The index being committed.
pub struct Staged {
    /// Path -> blob id of every index entry (stage 0).
    entries: HashMap<String, ObjectId>,
    /// Paths whose index entry differs from HEAD (added, modified or deleted).
    pub changed: Vec<String>,
}

impl Staged {
    /// Reads the index and compares it with HEAD's tree.
    pub fn read(repo: &Repo) -> Result<Staged, StoreError> {
        let gix = repo.gix();
        let index = gix
            .index_or_empty()
            .map_err(|e| StoreError::git("reading the index", e))?;
        let mut entries = HashMap::with_capacity(index.entries().len());
        for e in index.entries() {
            let path = e.path(&index).to_string();
            entries.insert(path, e.id);
        }
        let mut head: HashMap<String, ObjectId> = HashMap::new();
        if let Ok(tree) = gix.head_tree() {
            let files = tree
                .traverse()
                .breadthfirst
                .files()
                .map_err(|e| StoreError::git("reading HEAD's tree", e))?;
            for f in files.into_iter().filter(|f| !f.mode.is_tree()) {
                head.insert(f.filepath.to_string(), f.oid);
            }
        }
        let mut changed: Vec<String> = entries
            .iter()
            .filter(|(p, id)| head.get(*p) != Some(*id))
            .map(|(p, _)| p.clone())
            .chain(head.keys().filter(|p| !entries.contains_key(*p)).cloned())
            .collect();
        changed.sort();
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
            let target = dir.join(path);
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
