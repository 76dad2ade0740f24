//! What a commit is about to record: the index (as `GIT_INDEX_FILE` names it) against HEAD.

use super::repo::{Repo, StoreError};
use gix::bstr::{BStr, ByteSlice};
use gix::index::extension::Tree as CachedTree;
use gix::ObjectId;
use std::cmp::Ordering;
use std::path::Path;

/// The index being committed.
pub struct Staged {
    index: gix::index::File,
    /// Paths whose index entry differs from HEAD (added, modified or deleted), in byte order.
    pub changed: Vec<String>,
}

/// One entry per path of a sorted index (its first stage), in byte order of the paths.
fn entries(index: &gix::index::State) -> Vec<(&BStr, ObjectId)> {
    let mut entries: Vec<(&BStr, ObjectId)> = index
        .entries()
        .iter()
        .map(|e| (e.path(index), e.id))
        .collect();
    entries.dedup_by(|a, b| a.0 == b.0);
    entries
}

impl Staged {
    /// Reads the index and compares it with HEAD's tree, folder by folder. A folder whose tree
    /// the index has cached (git's cache-tree extension, which every change below it
    /// invalidates) with HEAD's id is skipped unread, so a commit that touches a few folders
    /// reads a few trees, however large the repository.
    pub fn read(repo: &Repo) -> Result<Staged, StoreError> {
        let gix = repo.gix();
        // Without checking the file's trailing checksum, as git reads its index (only
        // `git fsck` checks it): hashing a 10,000-file index costs as much as decoding it.
        let mut index = gix::index::File::at_or_default(
            gix.index_path(),
            gix.object_hash(),
            true,
            Default::default(),
        )
        .map_err(|e| StoreError::git("reading the index", e))?;
        // git writes the index sorted; this only guards against a tool that did not.
        let sorted = index
            .entries()
            .windows(2)
            .all(|w| w[0].path(&index) <= w[1].path(&index));
        if !sorted {
            index.sort_entries();
        }
        // An unborn HEAD has no tree: everything staged is new.
        let head = gix.head_tree_id().ok().map(|id| id.detach());
        let mut changed = Vec::new();
        compare(gix, head, b"", &entries(&index), index.tree(), &mut changed)?;
        Ok(Staged { index, changed })
    }

    /// The staged content of `path` (its stage-0 entry), `None` when it has none (absent, or
    /// still unmerged).
    pub fn staged_blob(&self, repo: &Repo, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(entry) = self
            .index
            .entry_by_path_and_stage(path.into(), gix::index::entry::Stage::Unconflicted)
        else {
            return Ok(None);
        };
        let blob = repo
            .gix()
            .find_blob(entry.id)
            .map_err(|e| StoreError::git(format!("reading the staged {path}"), e))?;
        Ok(Some(blob.data.clone()))
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
        let below = self
            .index
            .prefixed_entries(prefix.into())
            .unwrap_or_default();
        let mut previous: Option<&BStr> = None;
        for entry in below {
            let (path, id) = (entry.path(&self.index), entry.id);
            // One file per path: the first stage, as `entries` keeps.
            if previous.replace(path) == Some(path) {
                continue;
            }
            let inside = prefix.is_empty()
                || path == prefix
                || path
                    .strip_prefix(prefix.as_bytes())
                    .is_some_and(|r| r.starts_with(b"/"));
            if !inside {
                continue;
            }
            let path = path.to_string();
            let blob = repo
                .gix()
                .find_blob(id)
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

/// Orders a folder's items as git orders a tree's entries: a folder sorts as its name with `/`
/// appended, which is also the byte order of the full paths below it.
fn tree_order(a: &[u8], a_is_dir: bool, b: &[u8], b_is_dir: bool) -> Ordering {
    let slash = |is_dir: bool| is_dir.then_some(&b'/');
    a.iter()
        .chain(slash(a_is_dir))
        .cmp(b.iter().chain(slash(b_is_dir)))
}

/// Adds to `changed` every path below `prefix` (empty, or ending in `/`) whose id differs
/// between `tree` (HEAD's tree of that folder, `None` when it has none) and `entries` (the
/// index entries below `prefix`, in byte order), in byte order.
fn compare(
    repo: &gix::Repository,
    tree: Option<ObjectId>,
    prefix: &[u8],
    entries: &[(&BStr, ObjectId)],
    cached: Option<&CachedTree>,
    changed: &mut Vec<String>,
) -> Result<(), StoreError> {
    if let (Some(tree), Some(cached)) = (tree, cached) {
        if cached.num_entries.is_some() && cached.id == tree {
            return Ok(());
        }
    }
    let reading = |e| StoreError::git(format!("reading HEAD's tree of /{}", prefix.as_bstr()), e);
    let object = tree
        .map(|id| repo.find_tree(id))
        .transpose()
        .map_err(reading)?;
    let head = match &object {
        Some(t) => t.decode().map_err(reading)?.entries,
        None => Vec::new(),
    };
    let mut head = head.iter().peekable();
    let mut rest = entries;
    loop {
        // The index's next item in this folder: a file, or a folder and every entry below it.
        let next = rest.first().map(|(path, _)| {
            let relative = &path[prefix.len()..];
            match relative.find_byte(b'/') {
                Some(end) => {
                    let name = &relative[..end];
                    let below = rest
                        .iter()
                        .take_while(|(p, _)| {
                            p[prefix.len()..].starts_with(name)
                                && p.get(prefix.len() + end) == Some(&b'/')
                        })
                        .count();
                    (name, true, below)
                }
                None => (relative, false, 1),
            }
        });
        let order = match (next, head.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((name, is_dir, _)), Some(h)) => {
                tree_order(name, is_dir, h.filename, h.mode.is_tree())
            }
        };
        match order {
            Ordering::Less => {
                let (_, _, count) = next.expect("the index has an item when it sorts first");
                changed.extend(rest[..count].iter().map(|(p, _)| p.to_string()));
                rest = &rest[count..];
            }
            Ordering::Greater => {
                let h = head.next().expect("HEAD has an item when it sorts first");
                let path = [prefix, h.filename.as_bytes()].concat();
                if h.mode.is_tree() {
                    compare_folder(repo, h.oid.to_owned(), path, &[], None, changed)?;
                } else {
                    changed.push(path.as_bstr().to_string());
                }
            }
            Ordering::Equal => {
                let (name, is_dir, count) =
                    next.expect("the index has an item when it sorts equal");
                let h = head.next().expect("HEAD has an item when it sorts equal");
                if is_dir {
                    let child = cached.and_then(|c| {
                        c.children
                            .binary_search_by(|t| t.name.as_slice().cmp(name))
                            .ok()
                            .map(|i| &c.children[i])
                    });
                    let path = [prefix, name].concat();
                    compare_folder(repo, h.oid.to_owned(), path, &rest[..count], child, changed)?;
                } else if rest[0].1 != h.oid {
                    changed.push(rest[0].0.to_string());
                }
                rest = &rest[count..];
            }
        }
    }
}

/// [`compare`] for the folder `path` (without its trailing `/`).
fn compare_folder(
    repo: &gix::Repository,
    tree: ObjectId,
    mut path: Vec<u8>,
    entries: &[(&BStr, ObjectId)],
    cached: Option<&CachedTree>,
    changed: &mut Vec<String>,
) -> Result<(), StoreError> {
    path.push(b'/');
    compare(repo, Some(tree), &path, entries, cached, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::testing::git;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// What git itself says is staged.
    fn git_changed(dir: &Path) -> Vec<String> {
        git(dir, &["diff", "--cached", "--name-only", "--no-renames"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn changed(dir: &Path) -> Vec<String> {
        Staged::read(&Repo::discover(dir).unwrap()).unwrap().changed
    }

    #[test]
    fn changed_paths_are_what_git_diff_cached_names() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        git(dir, &["init", "-q"]);
        write(dir, "a/keep.rs", "keep\n");
        write(dir, "a/edit.rs", "old\n");
        write(dir, "a/deep/x.rs", "x\n");
        write(dir, "gone/one.rs", "1\n");
        write(dir, "gone/two/three.rs", "3\n");
        write(dir, "file-then-dir", "f\n");
        write(dir, "dir-then-file/inner.rs", "i\n");
        write(dir, "same/s.rs", "s\n");
        write(dir, "top.rs", "top\n");
        // Before the first commit, everything staged is new.
        git(dir, &["add", "-A"]);
        assert_eq!(changed(dir), git_changed(dir));
        assert_eq!(changed(dir).len(), 9);
        git(dir, &["commit", "-q", "-m", "base"]);
        assert_eq!(changed(dir), Vec::<String>::new());

        write(dir, "a/edit.rs", "new\n");
        write(dir, "a/deep/y.rs", "y\n");
        write(dir, "a.rs", "beside the folder a\n");
        write(dir, "new/dir/n.rs", "n\n");
        git(
            dir,
            &["rm", "-rq", "gone", "file-then-dir", "dir-then-file"],
        );
        write(dir, "file-then-dir/now.rs", "d\n");
        write(dir, "dir-then-file", "f\n");
        git(dir, &["rm", "-q", "top.rs"]);
        git(dir, &["add", "-A"]);
        let expected = git_changed(dir);
        assert_eq!(changed(dir), expected);
        assert_eq!(expected.len(), 11, "{expected:?}");
        // With every folder's tree cached in the index, the answer is the same.
        git(dir, &["write-tree"]);
        assert_eq!(changed(dir), expected);
        // A folder staged back to what HEAD has counts as unchanged.
        git(dir, &["reset", "-q", "--", "a"]);
        assert_eq!(changed(dir), git_changed(dir));
    }

    #[test]
    fn materialize_writes_the_staged_version_under_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        git(dir, &["init", "-q"]);
        write(dir, "tests/a.rs", "staged\n");
        write(dir, "tests-other/b.rs", "b\n");
        write(dir, "src/c.rs", "c\n");
        git(dir, &["add", "-A"]);
        write(dir, "tests/a.rs", "only in the work tree\n");
        let out = tempfile::tempdir().unwrap();
        let staged = Staged::read(&Repo::discover(dir).unwrap()).unwrap();
        let n = staged
            .materialize(&Repo::discover(dir).unwrap(), "tests/", out.path())
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            std::fs::read_to_string(out.path().join("tests/a.rs")).unwrap(),
            "staged\n"
        );
        assert!(!out.path().join("tests-other").exists());
    }
}
