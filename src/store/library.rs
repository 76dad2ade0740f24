//! Workflow libraries read from git tree objects: the project library at
//! `HEAD:.ddx/library/workflows`, the folders of a library tree, and whole-workflow snapshots
//! read in one pass for the catalog index.

use super::{refs, Repo, StoreError};
use crate::model::tree::{MemFile, MemTree, MAX_FILE_SIZE};
use gix::ObjectId;

/// Where the project library lives inside the project's tree.
pub const PROJECT_LIBRARY: &str = ".ddx/library/workflows";

/// The tree id at `path` inside `root`, if it is a tree.
pub fn subtree(repo: &Repo, root: ObjectId, path: &str) -> Result<Option<ObjectId>, StoreError> {
    let tree = repo
        .gix()
        .find_tree(root)
        .map_err(|e| StoreError::git(format!("reading tree {root}"), e))?;
    let entry = tree
        .lookup_entry_by_path(path)
        .map_err(|e| StoreError::git(format!("looking up {path} in tree {root}"), e))?;
    Ok(entry.filter(|e| e.mode().is_tree()).map(|e| e.object_id()))
}

/// The tree of `HEAD:.ddx/library/workflows`; `None` when there is no commit yet or no library.
pub fn project_library(repo: &Repo) -> Result<Option<ObjectId>, StoreError> {
    let Some(head) = refs::head(repo)? else {
        return Ok(None);
    };
    let root = repo
        .gix()
        .find_commit(head)
        .map_err(|e| StoreError::git("reading the commit of HEAD", e))?
        .tree_id()
        .map_err(|e| StoreError::git("reading the tree of HEAD", e))?
        .detach();
    subtree(repo, root, PROJECT_LIBRARY)
}

/// The folders of a library tree, as `(name, tree id)` sorted by name. With
/// `only_with_workflow_yml`, folders without a `workflow.yml` are left out.
pub fn workflow_folders(
    repo: &Repo,
    tree: ObjectId,
    only_with_workflow_yml: bool,
) -> Result<Vec<(String, ObjectId)>, StoreError> {
    let t = repo
        .gix()
        .find_tree(tree)
        .map_err(|e| StoreError::git(format!("reading tree {tree}"), e))?;
    let mut out = Vec::new();
    for entry in t.iter() {
        let entry = entry.map_err(|e| StoreError::git(format!("reading tree {tree}"), e))?;
        if !entry.inner.mode.is_tree() {
            continue;
        }
        let Ok(name) = std::str::from_utf8(entry.inner.filename) else {
            continue;
        };
        let id = entry.inner.oid.to_owned();
        if only_with_workflow_yml && !has_workflow_yml(repo, id)? {
            continue;
        }
        out.push((name.to_owned(), id));
    }
    out.sort();
    Ok(out)
}

/// The tree of folder `name` of a library tree.
pub fn workflow_folder(
    repo: &Repo,
    tree: ObjectId,
    name: &str,
    only_with_workflow_yml: bool,
) -> Result<Option<ObjectId>, StoreError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Ok(None);
    }
    let Some(id) = subtree(repo, tree, name)? else {
        return Ok(None);
    };
    if only_with_workflow_yml && !has_workflow_yml(repo, id)? {
        return Ok(None);
    }
    Ok(Some(id))
}

fn has_workflow_yml(repo: &Repo, tree: ObjectId) -> Result<bool, StoreError> {
    let t = repo
        .gix()
        .find_tree(tree)
        .map_err(|e| StoreError::git(format!("reading tree {tree}"), e))?;
    for entry in t.iter() {
        let entry = entry.map_err(|e| StoreError::git(format!("reading tree {tree}"), e))?;
        if entry.inner.filename == "workflow.yml" && entry.inner.mode.is_blob() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads every file of `tree` into memory (files over the loader's limit only by size).
pub fn snapshot(
    repo: &Repo,
    tree: ObjectId,
    label: impl Into<String>,
) -> Result<MemTree, StoreError> {
    let t = repo
        .gix()
        .find_tree(tree)
        .map_err(|e| StoreError::git(format!("reading tree {tree}"), e))?;
    let entries = t
        .traverse()
        .breadthfirst
        .files()
        .map_err(|e| StoreError::git(format!("walking tree {tree}"), e))?;
    let mut files = Vec::with_capacity(entries.len());
    for e in entries {
        if !e.mode.is_blob() {
            continue;
        }
        let Ok(path) = String::from_utf8(e.filepath.into()) else {
            continue;
        };
        let header = repo
            .gix()
            .find_header(e.oid)
            .map_err(|err| StoreError::git(format!("reading {path}"), err))?;
        if header.size() > MAX_FILE_SIZE {
            files.push((path, MemFile::TooLarge(header.size())));
            continue;
        }
        let mut blob = repo
            .gix()
            .find_blob(e.oid)
            .map_err(|err| StoreError::git(format!("reading {path}"), err))?;
        files.push((path, MemFile::Data(blob.take_data())));
    }
    Ok(MemTree::new(label, files))
}

/// Where the project library subtree lives: the folder `ddx update` merges its upstream into.
pub const LIBRARY_ROOT: &str = ".ddx/library";

/// A copy of tree `root` in which the folder at `path` (`a/b/c`, created with its parents when
/// missing) is `folder`, and nothing else differs; the new trees go to `sink`.
pub fn replace_folder(
    sink: super::event::Sink<'_>,
    root: ObjectId,
    path: &str,
    folder: ObjectId,
) -> Result<ObjectId, StoreError> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    splice(sink, Some(root), &parts, folder)
}

fn splice(
    sink: super::event::Sink<'_>,
    tree: Option<ObjectId>,
    parts: &[&str],
    folder: ObjectId,
) -> Result<ObjectId, StoreError> {
    use gix::objs::tree::{Entry, EntryKind};
    let Some((first, rest)) = parts.split_first() else {
        return Ok(folder);
    };
    let repo = sink.store();
    let mut entries: Vec<Entry> = match tree {
        Some(id) => {
            let t = repo
                .gix()
                .find_tree(id)
                .map_err(|e| StoreError::git(format!("reading tree {id}"), e))?;
            let decoded = t
                .decode()
                .map_err(|e| StoreError::git(format!("decoding tree {id}"), e))?;
            gix::objs::Tree::from(decoded).entries
        }
        None => Vec::new(),
    };
    let at = entries.iter().position(|e| e.filename == *first);
    let below = at
        .map(|i| &entries[i])
        .filter(|e| e.mode.is_tree())
        .map(|e| e.oid);
    let id = splice(sink, below, rest, folder)?;
    let entry = Entry {
        mode: EntryKind::Tree.into(),
        filename: (*first).into(),
        oid: id,
    };
    match at {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    entries.sort();
    sink.put(&gix::objs::Tree { entries })
}

/// The root tree of commit `commit`.
pub fn commit_tree(repo: &Repo, commit: ObjectId) -> Result<ObjectId, StoreError> {
    Ok(repo
        .gix()
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?
        .tree_id()
        .map_err(|e| StoreError::git(format!("reading the tree of {commit}"), e))?
        .detach())
}

/// Writes a commit for another repository's history (a contribution), signed as `git commit`
/// would sign it: when `commit.gpgSign` is on, with `gpg.format` and `user.signingKey`. A dry
/// run only hashes the unsigned commit.
pub fn write_commit_as_git_would(
    sink: super::event::Sink<'_>,
    identity: &super::Identity,
    message: &super::event::Message,
    tree: ObjectId,
    parents: &[ObjectId],
) -> Result<ObjectId, StoreError> {
    let commit = super::event::commit_object(identity, message, tree, parents);
    if sink.is_dry_run() {
        return sink.put(&commit);
    }
    let options = sink
        .store()
        .gix()
        .commit_signing_options_if_enabled()
        .map_err(|e| {
            StoreError::git(
                "reading the signing configuration (gpg.format, user.signingKey)",
                e,
            )
        })?;
    match options {
        Some(options) => {
            let signed = commit.sign(options).map_err(|e| {
                StoreError::git(
                    "signing the commit (commit.gpgSign is on: check gpg.format and user.signingKey)",
                    e,
                )
            })?;
            sink.put(&signed)
        }
        None => sink.put(&commit),
    }
}
