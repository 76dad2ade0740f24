//! Opening the project repository, with clear refusals for the ones ddx cannot work in.

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
    #[error("{} uses the reftable ref storage, which ddx cannot write to safely yet", path.display())]
    Reftable { path: PathBuf },
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

/// The project repository ddx works in.
pub struct Repo {
    repo: gix::Repository,
    work_dir: PathBuf,
    /// The last event this process wrote (see [`Repo::last_event`]).
    last_event: std::sync::Mutex<Option<super::event::Tip>>,
    /// The common git folder and the object folder, opened when first written to.
    git_dir: std::sync::OnceLock<super::dir::Dir>,
    objects_dir: std::sync::OnceLock<super::dir::Dir>,
    /// The zlib level of loose objects, looked up when first needed.
    loose_level: std::sync::OnceLock<Option<u32>>,
    /// Files kept open from one transaction to the next (see [`Repo::take_kept`]).
    kept: std::sync::Mutex<Vec<(String, std::fs::File)>>,
}

/// How many files a [`Repo`] keeps open between transactions (the heads file and the reflogs
/// of the refs it moved last).
const KEPT_FILES: usize = 8;

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
        let repo = match gix::discover_with_environment_overrides(dir) {
            Ok(r) => r,
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
        Self::from_gix(repo, dir)
    }

    /// Wraps an open repository, refusing bare and reftable ones.
    pub fn from_gix(repo: gix::Repository, dir: &Path) -> Result<Repo, StoreError> {
        let Some(work_dir) = repo.workdir().map(Path::to_owned) else {
            return Err(StoreError::Bare {
                path: repo.git_dir().to_owned(),
            });
        };
        let storage = repo
            .config_snapshot()
            .string("extensions.refStorage")
            .map(|s| s.to_string().to_ascii_lowercase());
        if storage.as_deref() == Some("reftable") {
            return Err(StoreError::Reftable {
                path: dir.to_owned(),
            });
        }
        Ok(Repo {
            repo,
            work_dir,
            last_event: std::sync::Mutex::new(None),
            git_dir: std::sync::OnceLock::new(),
            objects_dir: std::sync::OnceLock::new(),
            loose_level: std::sync::OnceLock::new(),
            kept: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The common git folder (`.git`), held open: refs, reflogs and `ddx/` are named in it.
    pub fn git_dir(&self) -> Result<&super::dir::Dir, StoreError> {
        held(&self.git_dir, self.common_dir())
    }

    /// The zlib level the user asked loose objects to be written with, if any (git's
    /// `core.looseCompression`, else `core.compression`; -1 means zlib's default, 6), looked up
    /// once (gix reads the configuration when the repository is opened).
    pub fn loose_level(&self) -> Option<u32> {
        *self.loose_level.get_or_init(|| {
            let config = self.repo.config_snapshot();
            let asked = config
                .integer("core.looseCompression")
                .or_else(|| config.integer("core.compression"))?;
            match asked {
                -1 => Some(6),
                1..=9 => Some(asked as u32),
                _ => None,
            }
        })
    }

    /// The file `rel` (in the git folder) as a transaction left it open, if it did. A long-lived
    /// caller of the library appends to the same few files event after event; opening each again
    /// costs a path walk and a file-table entry every time. The file may have been removed or
    /// replaced since (`git reflog expire` replaces a reflog, under the ref's lock): the caller
    /// checks [`super::dir::still_linked`] once it holds the lock that matters.
    pub(crate) fn take_kept(&self, rel: &str) -> Option<std::fs::File> {
        let mut kept = self.kept.lock().ok()?;
        let at = kept.iter().position(|(name, _)| name == rel)?;
        // In order: the first is the one used longest ago, given up first by `keep`.
        Some(kept.remove(at).1)
    }

    /// Keeps `file`, open as `rel` in the git folder, for the next transaction.
    pub(crate) fn keep(&self, rel: &str, file: std::fs::File) {
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= KEPT_FILES {
                kept.remove(0);
            }
            kept.push((rel.to_owned(), file));
        }
    }

    /// The object folder, held open: loose objects are named in it.
    pub fn objects_dir(&self) -> Result<&super::dir::Dir, StoreError> {
        held(&self.objects_dir, self.repo.objects.store_ref().path())
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

    pub fn gix(&self) -> &gix::Repository {
        &self.repo
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

    /// The commit `HEAD` points at, `None` while it is unborn.
    pub fn project_commit(&self) -> Option<gix::ObjectId> {
        self.head_loose()
            .or_else(|| self.repo.head_id().ok().map(|id| id.detach()))
    }

    /// `HEAD` read as plain files: a detached id, or `ref: refs/heads/…` naming a loose branch
    /// (a few system calls; gix stats `packed-refs` on the way). `None` for anything else — a
    /// packed or unborn branch, an odd `HEAD` —, which gix reads.
    fn head_loose(&self) -> Option<gix::ObjectId> {
        use super::refs::{line_id, loose_id};
        let mut file = std::fs::File::open(self.repo.git_dir().join("HEAD")).ok()?;
        let text = super::loose::read_small(&mut file, 256).ok()?;
        match text.strip_prefix(b"ref: ") {
            Some(name) => {
                let name = std::str::from_utf8(name).ok()?.strip_suffix('\n')?;
                if !name.starts_with("refs/heads/") {
                    return None;
                }
                loose_id(self, &self.common_dir().join(name), name)
            }
            None => line_id(self, &text),
        }
    }
}

/// The folder held in `cell`, opening `path` the first time.
fn held<'a>(
    cell: &'a std::sync::OnceLock<super::dir::Dir>,
    path: &Path,
) -> Result<&'a super::dir::Dir, StoreError> {
    if let Some(dir) = cell.get() {
        return Ok(dir);
    }
    let dir = super::dir::Dir::open(path).map_err(|e| StoreError::io(path, e))?;
    Ok(cell.get_or_init(|| dir))
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
        assert_eq!(repo.head_loose(), Some(head), "a loose branch");
        assert_eq!(repo.project_commit(), Some(head));
        git(root, &["pack-refs", "--all"]);
        assert_eq!(repo.head_loose(), None, "a packed branch is gix's");
        assert_eq!(repo.project_commit(), Some(head));
        git(root, &["commit", "-q", "--allow-empty", "-m", "two"]);
        git(root, &["checkout", "-q", "--detach", "HEAD~1"]);
        assert_eq!(repo.head_loose(), Some(head), "detached");
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
        let err = Repo::discover(&dir.path().join("rt")).unwrap_err();
        assert!(matches!(err, StoreError::Reftable { .. }), "{err:?}");
        git(dir.path(), &["init", "-q", "ok"]);
        let repo = Repo::discover(&dir.path().join("ok")).unwrap();
        assert!(repo.ddx_dir().ends_with(".git/ddx"));
    }
}
