//! Workflow files read straight from git tree objects: no checkout, and a dirty work tree
//! cannot change what is read.

use crate::model::tree::{FileTree, TreeError};
use gix::ObjectId;

/// A git tree object as a [`FileTree`].
pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    tree: ObjectId,
    label: String,
}

impl GitTree {
    /// Tree `tree` of `repo`; `label` prefixes displayed paths, e.g.
    /// `HEAD:.ddx/library/workflows/helix`.
    pub fn open(repo: &super::Repo, tree: ObjectId, label: impl Into<String>) -> Self {
        GitTree::new(repo.gix(), tree, label)
    }

    /// [`GitTree::open`] for the store's own readers, which hold a gix handle.
    pub(in crate::store) fn new(
        repo: &gix::Repository,
        tree: ObjectId,
        label: impl Into<String>,
    ) -> Self {
        GitTree {
            repo: repo.clone().into_sync(),
            tree,
            label: label.into(),
        }
    }

    pub fn id(&self) -> ObjectId {
        self.tree
    }

    fn other(&self, path: &str, e: impl std::fmt::Display) -> TreeError {
        TreeError::Other {
            path: self.display(path),
            message: e.to_string(),
        }
    }
}

impl FileTree for GitTree {
    fn files(&self) -> Result<Vec<String>, TreeError> {
        let repo = self.repo.to_thread_local();
        let tree = repo.find_tree(self.tree).map_err(|e| self.other("", e))?;
        let entries = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|e| self.other("", e))?;
        let mut out: Vec<String> = entries
            .into_iter()
            .filter(|e| e.mode.is_blob())
            .filter_map(|e| String::from_utf8(e.filepath.into()).ok())
            .collect();
        out.sort();
        Ok(out)
    }

    fn read_limited(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TreeError> {
        let repo = self.repo.to_thread_local();
        let tree = repo.find_tree(self.tree).map_err(|e| self.other(path, e))?;
        let Some(entry) = tree
            .lookup_entry_by_path(path)
            .map_err(|e| self.other(path, e))?
        else {
            return Ok(None);
        };
        if !entry.mode().is_blob() {
            return Ok(None);
        }
        let header = repo
            .find_header(entry.oid())
            .map_err(|e| self.other(path, e))?;
        if header.size() > limit {
            return Err(TreeError::TooLarge {
                path: self.display(path),
                size: header.size(),
                limit,
            });
        }
        let blob = repo
            .find_blob(entry.oid())
            .map_err(|e| self.other(path, e))?;
        Ok(Some(blob.data.clone()))
    }

    fn git_tree_id(&self) -> Option<ObjectId> {
        Some(self.tree)
    }

    fn display(&self, path: &str) -> String {
        if path.is_empty() {
            self.label.clone()
        } else {
            format!("{}/{}", self.label, path)
        }
    }
}
