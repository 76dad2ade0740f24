//! Opening the project repository, with clear refusals for the ones ddx cannot work in.
//!
//! The repository is opened with git's replacement refs (`refs/replace/*`) switched off, as
//! `git --no-replace-objects` would: what ddx reads of its own objects is what their ids name,
//! never a substitute someone put in with `git replace`.

use super::event::Identity;
use gix::ObjectId;
use std::path::{Path, PathBuf};

/// What went wrong reaching or using the repository.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} is not inside a git work tree", path.display())]
    NotARepository { path: PathBuf },
    #[error("{} is a bare repository; ddx needs a work tree", path.display())]
    Bare { path: PathBuf },
    #[error("cannot open the git repository at {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "no git identity is configured: set one with `git config user.name \"Your Name\"` and `git config user.email you@example.com`"
    )]
    NoIdentity,
    #[error("{reference} is damaged{}: {what}", if commit.is_empty() { String::new() } else { format!(" at {commit}") })]
    Corrupt {
        reference: String,
        commit: String,
        what: String,
    },
    #[error("{reference} {what}")]
    MovedOutside { reference: String, what: String },
    #[error("an earlier ddx command was interrupted before it finished: {}", steps.join("; "))]
    Interrupted { steps: Vec<String> },
    #[error("{reference} kept changing under ddx: gave up after {attempts} attempts")]
    Contended {
        reference: String,
        attempts: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git {what} failed")]
    Git {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why an object could not be read as the object its id names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("the object is missing")]
    Missing,
    #[error("it cannot be read: {0}")]
    Unreadable(String),
    #[error("it is damaged: its bytes hash to {actual}, not to its id (`git fsck` names it too)")]
    Damaged { actual: ObjectId },
    #[error("it is a {found}, not a {expected}")]
    Kind {
        found: gix::object::Kind,
        expected: gix::object::Kind,
    },
    #[error("it is not a valid {kind}: {why}")]
    Invalid {
        kind: gix::object::Kind,
        why: String,
    },
    #[error("bad signature line: {0}")]
    Person(String),
}

impl ObjectError {
    /// The object is there but its bytes are not what its id names.
    pub fn is_damaged(&self) -> bool {
        matches!(self, ObjectError::Damaged { .. })
    }

    /// From a gix error, with its whole chain of causes (gix's `Display` shows the top only).
    pub fn unreadable(e: &dyn std::error::Error) -> Self {
        ObjectError::Unreadable(error_chain(e))
    }
}

/// Checks that `data`, read as an object of `kind`, hashes to `id` in the repository's hash
/// (SHA-1 or SHA-256): an object file rewritten or damaged on disk is refused, not believed.
pub fn check_id(
    hash: gix::hash::Kind,
    id: &ObjectId,
    kind: gix::object::Kind,
    data: &[u8],
) -> Result<(), ObjectError> {
    let actual =
        gix::objs::compute_hash(hash, kind, data).map_err(|e| ObjectError::unreadable(&e))?;
    match actual == *id {
        true => Ok(()),
        false => Err(ObjectError::Damaged { actual }),
    }
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub fn git(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Git {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// The configuration that turns replacement refs off when the repository is opened (gix reads
/// `core.useReplaceRefs` as git does, and `GIT_NO_REPLACE_OBJECTS` sets it false).
const NO_REPLACE_OBJECTS: &str = "core.useReplaceRefs=false";

/// An error and its causes, on one line (a cause its wrapper already quotes is left out).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

/// The project repository ddx works in.
pub struct Repo {
    repo: gix::Repository,
    work_dir: PathBuf,
    /// The last event this process wrote (see [`Repo::last_event`]).
    last_event: std::sync::Mutex<Option<super::event::Tip>>,
    /// Whether objects and refs are written with git (see [`Repo::writes_through_git`]).
    through_git: std::sync::OnceLock<bool>,
    /// Refs are kept in reftable, which gix cannot read: ddx reads them with git.
    reftable: bool,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("work_dir", &self.work_dir)
            .finish()
    }
}

impl Repo {
    /// Finds the repository containing `dir`, honouring `GIT_DIR` and friends (as inside hooks).
    pub fn discover(dir: &Path) -> Result<Repo, StoreError> {
        let mut trust = gix::sec::trust::Mapping::<gix::open::Options>::default();
        trust.full = trust.full.config_overrides([NO_REPLACE_OBJECTS]);
        trust.reduced = trust.reduced.config_overrides([NO_REPLACE_OBJECTS]);
        let found = gix::ThreadSafeRepository::discover_with_environment_overrides_opts(
            dir,
            Default::default(),
            trust,
        );
        let repo = match found {
            Ok(r) => r.to_thread_local(),
            // Searched again only to tell "no repository here" from "a repository that cannot
            // be opened".
            Err(_)
                if std::env::var_os("GIT_DIR").is_none()
                    && gix::discover::upwards(dir).is_err() =>
            {
                return Err(StoreError::NotARepository {
                    path: dir.to_owned(),
                });
            }
            Err(e) => {
                return Err(StoreError::Open {
                    path: dir.to_owned(),
                    source: Box::new(e),
                })
            }
        };
        Self::from_gix(repo)
    }

    /// Wraps an open repository, refusing bare ones.
    pub(in crate::store) fn from_gix(repo: gix::Repository) -> Result<Repo, StoreError> {
        let Some(work_dir) = repo.workdir().map(Path::to_owned) else {
            return Err(StoreError::Bare {
                path: repo.git_dir().to_owned(),
            });
        };
        Ok(Repo::wrap(repo, work_dir))
    }

    fn wrap(repo: gix::Repository, work_dir: PathBuf) -> Repo {
        let reftable = repo
            .config_snapshot()
            .string("extensions.refStorage")
            .is_some_and(|s| s.to_string().eq_ignore_ascii_case("reftable"));
        Repo {
            repo,
            work_dir,
            last_event: std::sync::Mutex::new(None),
            through_git: std::sync::OnceLock::new(),
            reftable,
        }
    }

    /// Whether this repository's objects and refs must be written by git itself: gix writes
    /// neither with `core.sharedRepository`'s modes nor with `core.fsync`'s fsyncs, does not
    /// run a `reference-transaction` hook, and cannot write reftable ref storage.
    pub fn writes_through_git(&self) -> bool {
        *self.through_git.get_or_init(|| {
            let config = self.repo.config_snapshot();
            let set = |key: &str| config.string(key).is_some();
            let hook = self
                .hooks_dir()
                .is_ok_and(|d| d.join("reference-transaction").is_file());
            self.reftable
                || hook
                || set("core.sharedRepository")
                || set("core.fsync")
                || config.boolean("core.fsyncObjectFiles") == Some(true)
        })
    }

    /// The event commit `commit`, if it is the last one this process wrote: a command that
    /// appends several events (or a long-lived caller of the library) reads back nothing it
    /// has just written. Objects never change, so the commit id is the whole key.
    pub fn last_event(&self, commit: ObjectId) -> Option<super::event::Tip> {
        let last = self.last_event.lock().ok()?;
        last.as_ref().filter(|t| t.commit == commit).cloned()
    }

    /// Remembers the event this process has just written.
    pub fn remember_event(&self, tip: super::event::Tip) {
        if let Ok(mut last) = self.last_event.lock() {
            *last = Some(tip);
        }
    }

    /// The bytes of object `id`, which must be a `kind`, checked against its id.
    pub fn read_object(
        &self,
        id: ObjectId,
        kind: gix::object::Kind,
    ) -> Result<Vec<u8>, ObjectError> {
        use gix::prelude::Find;
        let mut buf = Vec::new();
        let data = self
            .repo
            .objects
            .try_find(&id, &mut buf)
            .map_err(|e| ObjectError::unreadable(&e))?
            .ok_or(ObjectError::Missing)?;
        check_id(self.repo.object_hash(), &id, data.kind, data.data)?;
        if data.kind != kind {
            return Err(ObjectError::Kind {
                found: data.kind,
                expected: kind,
            });
        }
        Ok(data.data.to_vec())
    }

    /// The gix handle, for the store's own modules only: the layers above reach objects and
    /// refs through store functions, so that every ref read goes through [`super::refs`].
    pub(in crate::store) fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// A handle worker threads each open their own [`Repo`] from (a `Repo` is not `Sync`).
    pub fn shared(&self) -> SharedRepo {
        SharedRepo {
            repo: self.repo.clone().into_sync(),
            work_dir: self.work_dir.clone(),
        }
    }

    /// The names of the configured remotes.
    pub fn remote_names(&self) -> Vec<String> {
        self.repo
            .remote_names()
            .into_iter()
            .map(|n| n.to_string())
            .collect()
    }

    /// The remote the current branch pulls from (`branch.<name>.remote`), if any.
    pub fn branch_remote(&self) -> Option<String> {
        let head = self.repo.head_name().ok().flatten()?;
        let key = format!("branch.{}.remote", head.shorten());
        self.repo
            .config_snapshot()
            .string(key.as_str())
            .map(|v| v.to_string())
    }

    /// Every value of the multi-valued config `key` (`remote.origin.fetch`).
    pub fn config_values(&self, key: &str) -> Vec<String> {
        self.repo
            .config_snapshot()
            .plumbing()
            .strings(key)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// `.git` (the common directory, shared by linked worktrees).
    pub fn common_dir(&self) -> &Path {
        self.repo.common_dir()
    }

    /// Where git runs hooks from: `core.hooksPath` (relative to the work tree) when set, else the
    /// common git directory's `hooks/`, shared by linked worktrees.
    pub fn hooks_dir(&self) -> Result<PathBuf, StoreError> {
        let configured = self
            .repo
            .config_snapshot()
            .trusted_path("core.hooksPath")
            .map_err(|e| StoreError::git("reading core.hooksPath", e))?;
        Ok(match configured {
            Some(p) if p.is_absolute() => p,
            Some(p) => self.work_dir.join(p),
            None => self.common_dir().join("hooks"),
        })
    }

    /// Where ddx keeps local, never-shared files: `.git/ddx/`.
    pub fn ddx_dir(&self) -> PathBuf {
        self.common_dir().join("ddx")
    }

    /// The user from git config (`user.name`, `user.email`, or the `GIT_COMMITTER_*`
    /// variables, as git resolves them) and the time of this command: `GIT_COMMITTER_DATE`
    /// when set, else now. ddx records times in UTC (offset `+0000`), the same for every
    /// member of a team. (Resolved here rather than by gix, whose identity lookup reads the
    /// whole time-zone database on every call: a millisecond per command.)
    pub fn identity(&self) -> Result<Identity, StoreError> {
        let snap = self.repo.config_snapshot();
        let pick = |var: &str, keys: &[&str]| -> Option<String> {
            std::env::var(var)
                .ok()
                .or_else(|| {
                    keys.iter()
                        .find_map(|k| snap.string(*k).map(|v| v.to_string()))
                })
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let name = pick("GIT_COMMITTER_NAME", &["committer.name", "user.name"]);
        let email = pick("GIT_COMMITTER_EMAIL", &["committer.email", "user.email"])
            .or_else(|| std::env::var("EMAIL").ok().filter(|e| !e.trim().is_empty()));
        let (Some(name), Some(email)) = (name, email) else {
            return Err(StoreError::NoIdentity);
        };
        let seconds = match std::env::var("GIT_COMMITTER_DATE") {
            Ok(date) if !date.trim().is_empty() => {
                gix::date::parse(date.trim(), None)
                    .map_err(|e| {
                        StoreError::git(format!("reading GIT_COMMITTER_DATE ({date})"), e)
                    })?
                    .seconds
            }
            _ => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        };
        Ok(Identity {
            name,
            email,
            seconds,
            offset: 0,
        })
    }

    /// Whether ddx keeps a reflog for the refs it moves: always, as `git update-ref
    /// --create-reflog` does, unless `core.logAllRefUpdates` is `false`.
    pub fn logs_ref_updates(&self) -> bool {
        let config = self.repo.config_snapshot();
        match config.string("core.logAllRefUpdates") {
            Some(v) => {
                let v = v.to_string().to_ascii_lowercase();
                !matches!(v.as_str(), "false" | "no" | "off" | "0")
            }
            None => true,
        }
    }

    /// Whether refs are kept in reftable storage, read with git rather than gix.
    pub fn reads_refs_through_git(&self) -> bool {
        self.reftable
    }

    /// The commit `HEAD` points at, `None` while it is unborn.
    pub fn project_commit(&self) -> Option<ObjectId> {
        super::refs::head_commit(self)
    }
}

/// A repository opened once and shared by worker threads, each of which reads through a
/// [`Repo`] of its own ([`SharedRepo::to_thread_local`]).
pub struct SharedRepo {
    repo: gix::ThreadSafeRepository,
    work_dir: PathBuf,
}

impl SharedRepo {
    /// This thread's own [`Repo`], keeping up to `object_cache` bytes of decoded objects unless
    /// the repository's config sets a cache size.
    pub fn to_thread_local(&self, object_cache: usize) -> Repo {
        let mut repo = self.repo.to_thread_local();
        repo.object_cache_size_if_unset(object_cache);
        Repo::wrap(repo, self.work_dir.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        crate::store::testing::git(dir, args);
    }

    #[test]
    fn the_project_commit_is_head_however_it_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        let repo = Repo::discover(root).unwrap();
        assert_eq!(repo.project_commit(), None, "unborn");
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let rev = |r: &str| {
            let out = crate::store::testing::git(root, &["rev-parse", r]);
            gix::ObjectId::from_hex(out.trim().as_bytes()).unwrap()
        };
        let head = rev("HEAD");
        assert_eq!(repo.project_commit(), Some(head));
        git(root, &["pack-refs", "--all"]);
        assert_eq!(repo.project_commit(), Some(head));
        git(root, &["commit", "-q", "--allow-empty", "-m", "two"]);
        git(root, &["checkout", "-q", "--detach", "HEAD~1"]);
        assert_eq!(repo.project_commit(), Some(head));
    }

    #[test]
    fn refuses_places_without_a_work_tree() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        assert!(matches!(
            Repo::discover(&plain),
            Err(StoreError::NotARepository { .. })
        ));
        git(dir.path(), &["init", "-q", "--bare", "bare.git"]);
        assert!(matches!(
            Repo::discover(&dir.path().join("bare.git")),
            Err(StoreError::Bare { .. })
        ));
        git(dir.path(), &["init", "-q", "--ref-format=reftable", "rt"]);
        let rt = Repo::discover(&dir.path().join("rt")).unwrap();
        assert!(rt.reads_refs_through_git());
        assert_eq!(rt.project_commit(), None);
        assert!(crate::store::refs::head_branch(&rt).is_some());
        git(dir.path(), &["init", "-q", "ok"]);
        let repo = Repo::discover(&dir.path().join("ok")).unwrap();
        assert!(repo.ddx_dir().ends_with(".git/ddx"));
    }
}
