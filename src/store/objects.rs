//! Plain reads of the object database for the layers above the store: whether an object is
//! there, the repository's hash, blob ids, a project commit's message and parents, and content
//! digests. Everything outside `src/store/` reaches git objects through here or through the
//! readers of [`super::library`], [`super::tree`] and [`super::event`], never through gix.

use super::{Repo, StoreError};
use gix::ObjectId;

/// The hash function of a repository's object names (SHA-1 or SHA-256).
pub use gix::hash::Kind as HashKind;

/// A commit of the project, as hooks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCommit {
    /// The whole message, trailers included.
    pub message: String,
    pub parents: Vec<ObjectId>,
}

impl Repo {
    /// Whether the object database has `id` (loose or packed).
    pub fn has_object(&self, id: &ObjectId) -> bool {
        self.gix().has_object(id)
    }

    /// The hash this repository names its objects with.
    pub fn object_hash(&self) -> HashKind {
        self.gix().object_hash()
    }

    /// The message and parents of commit `id`.
    pub fn read_commit(&self, id: ObjectId) -> Result<ProjectCommit, StoreError> {
        let commit = self
            .gix()
            .find_commit(id)
            .map_err(|e| StoreError::git(format!("reading commit {id}"), e))?;
        Ok(ProjectCommit {
            message: commit.message_raw_sloppy().to_string(),
            parents: commit.parent_ids().map(|p| p.detach()).collect(),
        })
    }
}

/// The id git gives a blob of `data` in a repository hashed with `hash` (what
/// `git hash-object` prints there). `None` only on a detected SHA-1 collision.
pub fn blob_id(hash: HashKind, data: &[u8]) -> Option<ObjectId> {
    gix::objs::compute_hash(hash, gix::objs::Kind::Blob, data).ok()
}

/// A SHA-1 hex digest of `parts`, each length-prefixed so that boundaries count. `None` on a
/// detected SHA-1 collision.
pub fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
    let mut h = gix::hash::hasher(HashKind::Sha1);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.try_finalize().ok().map(|id| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::git;

    #[test]
    fn blob_ids_are_the_ones_git_gives_in_either_hash() {
        let dir = tempfile::tempdir().unwrap();
        for (name, format, kind) in [
            ("one", "sha1", HashKind::Sha1),
            ("two", "sha256", HashKind::Sha256),
        ] {
            let root = dir.path().join(name);
            std::fs::create_dir(&root).unwrap();
            git(&root, &["init", "-q", &format!("--object-format={format}")]);
            std::fs::write(root.join("f"), "hello\n").unwrap();
            let by_git = git(&root, &["hash-object", "f"]);
            let repo = Repo::discover(&root).unwrap();
            assert_eq!(repo.object_hash(), kind);
            let id = blob_id(repo.object_hash(), b"hello\n").unwrap();
            assert_eq!(id.to_string(), by_git.trim(), "{format}");
            assert!(!repo.has_object(&id), "{format}: not written");
            git(&root, &["hash-object", "-w", "f"]);
            assert!(repo.has_object(&id), "{format}: written by git");
        }
    }

    #[test]
    fn a_commit_reads_back_with_its_message_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(
            root,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "two\n\nDdx-Phase: frame",
            ],
        );
        let rev = |r: &str| ObjectId::from_hex(git(root, &["rev-parse", r]).trim().as_bytes());
        let repo = Repo::discover(root).unwrap();
        let head = repo.read_commit(rev("HEAD").unwrap()).unwrap();
        assert_eq!(head.message, "two\n\nDdx-Phase: frame\n");
        assert_eq!(head.parents, vec![rev("HEAD~1").unwrap()]);
        assert!(repo
            .read_commit(rev("HEAD~1").unwrap())
            .unwrap()
            .parents
            .is_empty());
        let tree = rev("HEAD^{tree}").unwrap();
        assert!(repo.read_commit(tree).is_err(), "a tree is not a commit");
    }

    #[test]
    fn head_is_read_through_refs_born_unborn_or_detached() {
        use crate::store::refs;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "trunk"]);
        let repo = Repo::discover(root).unwrap();
        assert_eq!(refs::head_branch(&repo).as_deref(), Some("trunk"), "unborn");
        assert_eq!(refs::head(&repo).unwrap(), None);
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let id = ObjectId::from_hex(git(root, &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        assert_eq!(refs::head(&repo).unwrap(), Some(id));
        git(root, &["checkout", "-q", "-b", "feature/x"]);
        assert_eq!(refs::head_branch(&repo).as_deref(), Some("feature/x"));
        git(root, &["checkout", "-q", "--detach"]);
        assert_eq!(refs::head_branch(&repo), None, "detached");
        assert_eq!(refs::head(&repo).unwrap(), Some(id));
        std::fs::write(root.join(".git/HEAD"), format!("{}\n", "e".repeat(40))).unwrap();
        assert!(refs::head(&repo).is_err(), "a HEAD at a missing object");
    }

    /// Files outside `src/store/` that still name gix themselves (see docs/storage.md, Layers).
    const NOT_YET_LAYERED: &[&str] = &["src/observe/verify.rs"];

    #[test]
    fn only_the_store_names_gix() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("src"), &mut files);
        assert!(files.len() > 20, "the sources were found");
        let mut found = Vec::new();
        for path in files {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("src/store/") || NOT_YET_LAYERED.contains(&rel.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                let names_gix = code
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|word| word == "gix");
                if names_gix && !code.starts_with("//") {
                    found.push(format!("{rel}:{}: {code}", n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "only src/store/ may use gix; use a store function instead:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn digests_count_boundaries() {
        let ab = digest([b"a".as_slice(), b"b".as_slice()]).unwrap();
        assert_eq!(ab.len(), 40);
        assert_ne!(ab, digest([b"ab".as_slice()]).unwrap());
        assert_eq!(ab, digest([b"a".as_slice(), b"b".as_slice()]).unwrap());
    }
}
