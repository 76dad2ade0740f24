//! The work tree against git: is a path committed, and which files did a command change?
//!
//! [`committed`] compares a path's blob in `HEAD` with the blob id of the file in the work tree
//! (for `committed` checks). [`Snapshot`] records, before a command runs, every file that
//! differs from the index (plus the index itself), so that [`Snapshot::changes`] can name every
//! file the command created, changed or deleted, with its blob id before and after: the change
//! tracker of actions. Nothing here writes to the repository or the work tree.

use super::repo::{Repo, StoreError};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use std::collections::{BTreeMap, BTreeSet};

/// How a path stands against `HEAD`, for `committed` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// In `HEAD` and identical in the work tree.
    Clean,
    /// In `HEAD`, but changed (or deleted) in the work tree.
    Modified,
    /// Not in `HEAD` (or no commit yet).
    Absent,
}

/// The git blob id of `data`.
pub fn blob_id(repo: &Repo, data: &[u8]) -> ObjectId {
    gix::objs::compute_hash(repo.gix().object_hash(), gix::objs::Kind::Blob, data)
        .unwrap_or_else(|_| ObjectId::null(repo.gix().object_hash()))
}

/// Writes `data` into the object database as a blob (the bytes of a file about to be
/// overwritten, so `git cat-file -p <id>` can show them).
pub fn save_blob(repo: &Repo, data: &[u8]) -> Result<ObjectId, StoreError> {
    repo.gix()
        .write_blob(data)
        .map(|id| id.detach())
        .map_err(|e| StoreError::git("saving the content of an overwritten file", e))
}

/// The blob id of the work-tree file at `rel` (a symbolic link hashes as its target, as git
/// stores it); `None` when there is no file.
pub fn file_blob(repo: &Repo, rel: &str) -> Option<ObjectId> {
    let full = repo.work_dir().join(rel);
    let meta = std::fs::symlink_metadata(&full).ok()?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&full).ok()?;
        return Some(blob_id(repo, target.to_string_lossy().as_bytes()));
    }
    if !meta.is_file() {
        return None;
    }
    std::fs::read(&full).ok().map(|data| blob_id(repo, &data))
}

/// Whether `path` (a file, or a folder: every file of it) is in `HEAD` and unchanged in the
/// work tree.
pub fn committed(repo: &Repo, path: &str) -> Result<Committed, StoreError> {
    let g = repo.gix();
    let rel = path
        .split('#')
        .next()
        .unwrap_or(path)
        .trim_start_matches("./")
        .trim_end_matches('/');
    let Some(head) = super::refs::head(repo)? else {
        return Ok(Committed::Absent);
    };
    let head = g
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(|e| StoreError::git("reading the tree of HEAD", e))?;
    let Some(entry) = head
        .lookup_entry_by_path(rel)
        .map_err(|e| StoreError::git(format!("looking up {rel} in HEAD"), e))?
    else {
        return Ok(Committed::Absent);
    };
    if entry.mode().is_tree() {
        let tree = g
            .find_tree(entry.oid())
            .map_err(|e| StoreError::git(format!("reading {rel} in HEAD"), e))?;
        let files = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(|e| StoreError::git(format!("listing {rel} in HEAD"), e))?;
        for f in files
            .iter()
            .filter(|f| !f.mode.is_tree() && !f.mode.is_commit())
        {
            let sub = format!("{rel}/{}", f.filepath.to_str_lossy());
            if file_blob(repo, &sub) != Some(f.oid) {
                return Ok(Committed::Modified);
            }
        }
        return Ok(Committed::Clean);
    }
    Ok(if file_blob(repo, rel) == Some(entry.oid().to_owned()) {
        Committed::Clean
    } else {
        Committed::Modified
    })
}

/// One file a command changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    /// The blob id before (`None`: the file did not exist).
    pub before: Option<ObjectId>,
    /// The blob id after (`None`: the file was deleted).
    pub after: Option<ObjectId>,
}

/// The state of the work tree before a command runs: what differs from the index, and the
/// index's own entries.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Files that differ from the index (untracked ones included), with their blob ids
    /// (`None`: deleted from the work tree).
    dirty: BTreeMap<String, Option<ObjectId>>,
    index: BTreeMap<String, ObjectId>,
}

fn index_entries(repo: &Repo) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    let g = repo.gix();
    if !g.index_path().is_file() {
        return Ok(BTreeMap::new());
    }
    let index = g
        .open_index()
        .map_err(|e| StoreError::git("reading the index", e))?;
    Ok(index
        .entries()
        .iter()
        .filter(|e| e.stage_raw() == 0)
        .map(|e| (e.path(&index).to_str_lossy().into_owned(), e.id))
        .collect())
}

fn dirty_files(repo: &Repo) -> Result<BTreeMap<String, Option<ObjectId>>, StoreError> {
    use gix::status::index_worktree::iter::Summary;
    let g = repo.gix();
    let fail = |e: gix::Error| StoreError::git("reading the status of the work tree", e);
    let iter = g
        .status(gix::utils::progress::Discard)
        .map_err(fail)?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .index_worktree_submodules(gix::status::Submodule::Given {
            ignore: gix::submodule::config::Ignore::All,
            check_dirty: false,
        })
        .into_index_worktree_iter(Vec::<gix::bstr::BString>::new())
        .map_err(fail)?;
    let mut out = BTreeMap::new();
    for item in iter {
        let item = item.map_err(fail)?;
        let Some(summary) = item.summary() else {
            continue;
        };
        let path = item.rela_path().to_str_lossy().into_owned();
        let id = match summary {
            Summary::Removed => None,
            _ => file_blob(repo, &path),
        };
        out.insert(path, id);
    }
    Ok(out)
}

impl Snapshot {
    /// Takes a snapshot of the work tree and the index.
    pub fn take(repo: &Repo) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            dirty: dirty_files(repo)?,
            index: index_entries(repo)?,
        })
    }

    fn blob(&self, path: &str) -> Option<ObjectId> {
        match self.dirty.get(path) {
            Some(id) => *id,
            None => self.index.get(path).copied(),
        }
    }

    /// Every file whose content differs between this snapshot and the work tree now.
    pub fn changes(&self, repo: &Repo) -> Result<Vec<FileChange>, StoreError> {
        let now = Snapshot::take(repo)?;
        let mut paths: BTreeSet<&String> = self.dirty.keys().chain(now.dirty.keys()).collect();
        // A file committed or staged by the command is clean afterwards: the index tells.
        for (p, id) in &now.index {
            if self.index.get(p) != Some(id) {
                paths.insert(p);
            }
        }
        for p in self.index.keys() {
            if !now.index.contains_key(p) {
                paths.insert(p);
            }
        }
        Ok(paths
            .into_iter()
            .filter_map(|p| {
                let before = self.blob(p);
                let after = now.blob(p);
                (before != after).then(|| FileChange {
                    path: p.clone(),
                    before,
                    after,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn git(dir: &Path, args: &[&str]) -> String {
        crate::store::testing::git(dir, args).trim().to_owned()
    }

    fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        let repo = Repo::discover(dir.path()).unwrap();
        (dir, repo)
    }

    #[test]
    fn committed_compares_head_with_the_work_tree() {
        let (dir, repo) = repo();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/run.md"), "run\n").unwrap();
        assert_eq!(committed(&repo, "docs/run.md").unwrap(), Committed::Absent);
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "c"]);
        let repo = Repo::discover(dir.path()).unwrap();
        assert_eq!(committed(&repo, "docs/run.md").unwrap(), Committed::Clean);
        assert_eq!(committed(&repo, "docs/").unwrap(), Committed::Clean);
        assert_eq!(
            committed(&repo, "docs/other.md").unwrap(),
            Committed::Absent
        );
        std::fs::write(dir.path().join("docs/run.md"), "changed\n").unwrap();
        assert_eq!(
            committed(&repo, "docs/run.md").unwrap(),
            Committed::Modified
        );
        assert_eq!(committed(&repo, "docs").unwrap(), Committed::Modified);
        std::fs::remove_file(dir.path().join("docs/run.md")).unwrap();
        assert_eq!(
            committed(&repo, "docs/run.md").unwrap(),
            Committed::Modified
        );
    }

    #[test]
    fn snapshots_name_every_change_with_blob_ids_git_agrees_with() {
        let (dir, repo) = repo();
        let w = |p: &str, t: &str| std::fs::write(dir.path().join(p), t).unwrap();
        w("kept.txt", "kept\n");
        w("edited.txt", "old\n");
        w("gone.txt", "gone\n");
        w("committed.txt", "one\n");
        w("dirty.txt", "dirty before\n");
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "c"]);
        w("dirty.txt", "dirty before, changed\n");
        let before = Snapshot::take(&repo).unwrap();
        // The "command":
        w("edited.txt", "new\n");
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        w("created.txt", "created\n");
        w("committed.txt", "two\n");
        git(dir.path(), &["commit", "-q", "-am", "by the command"]);
        let changes = before.changes(&repo).unwrap();
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        // dirty.txt was committed by the command too, unchanged in content: not a change.
        assert_eq!(
            paths,
            ["committed.txt", "created.txt", "edited.txt", "gone.txt"]
        );
        let hash = |p: &str| git(dir.path(), &["hash-object", p]);
        let created = &changes[1];
        assert_eq!(created.before, None);
        assert_eq!(created.after.unwrap().to_string(), hash("created.txt"));
        let edited = &changes[2];
        assert_eq!(edited.after.unwrap().to_string(), hash("edited.txt"));
        assert_eq!(
            edited.before.unwrap().to_string(),
            git(dir.path(), &["rev-parse", "HEAD~1:edited.txt"])
        );
        assert_eq!(changes[3].after, None);
        assert_eq!(
            changes[0].before.unwrap().to_string(),
            git(dir.path(), &["rev-parse", "HEAD~1:committed.txt"])
        );
    }
}
