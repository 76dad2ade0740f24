//! Moving several `refs/ddx/*` refs at once with compare-and-swap: git's own lock protocol,
//! written out for the one shape of edit ddx makes.
//!
//! Every ref is locked as git locks it (`<ref>.lock`, created exclusively), its current value
//! read under the lock (the loose file, else `packed-refs`) and compared with the value the
//! caller expects; only when every ref is locked and matches are the reflog lines appended
//! and the lock files renamed over the refs. A ref that does not match, or whose lock another
//! program holds for longer than git's default `core.filesRefLockTimeout` (100 ms), makes the
//! whole edit a [`EditError::Conflict`] with nothing moved: every lock taken is removed.
//!
//! gix's general transaction does the same with about twice the system calls (it re-creates
//! each ref's folder, stats `packed-refs` twice, and writes a reflog line in a dozen pieces);
//! an event's append makes two of these moves, so they were a fifth of its cost.

use super::dir::Dir;
use super::event::Identity;
use super::heads::RefMove;
use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::io::Write;
use std::time::{Duration, Instant};

/// How long a lock held by another program is waited for (git's default).
const LOCK_TIMEOUT: Duration = Duration::from_millis(100);

/// Why an edit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Another program moved or holds a ref: nothing was moved; reading again and retrying
    /// may succeed.
    #[error("{0}")]
    Conflict(String),
    /// Something else failed; some refs may have moved if it happened while renaming.
    #[error(transparent)]
    Failed(#[from] StoreError),
}

/// Lock files taken (named in the git folder) and not yet renamed; dropping removes them.
struct Locks<'d>(&'d Dir, Vec<String>);

impl Drop for Locks<'_> {
    fn drop(&mut self) {
        for lock in &self.1 {
            let _ = self.0.remove_file(lock);
        }
    }
}

/// Moves every ref of `moves` from its `old` to its `new` value, or none of them.
pub fn edit(
    repo: &Repo,
    identity: &Identity,
    moves: &[RefMove],
    message: &str,
) -> Result<(), EditError> {
    let git = repo.git_dir()?;
    let mut locks = Locks(git, Vec::with_capacity(moves.len()));
    let mut targets = Vec::with_capacity(moves.len());
    for m in moves {
        let full: &gix::refs::FullNameRef = m
            .name
            .as_str()
            .try_into()
            .map_err(|e| StoreError::git(format!("using {} as a ref name", m.name), e))?;
        if !m.name.starts_with("refs/") {
            return Err(StoreError::Corrupt {
                reference: m.name.clone(),
                commit: String::new(),
                what: "ddx moves only refs under refs/".to_owned(),
            }
            .into());
        }
        let path = full.as_bstr().to_string();
        let lock = format!("{path}.lock");
        let mut file = acquire(git, &lock, &m.name)?;
        locks.1.push(lock.clone());
        let current = current(repo, git, &m.name, &path)?;
        if current != m.old {
            let show =
                |v: Option<ObjectId>| v.map_or_else(|| "nothing".to_owned(), |v| v.to_string());
            return Err(EditError::Conflict(format!(
                "{} is at {}, not at {} as expected",
                m.name,
                show(current),
                show(m.old)
            )));
        }
        file.write_all(format!("{}\n", m.new).as_bytes())
            .map_err(|e| StoreError::io(&git.join(&lock), e))?;
        targets.push((lock, path));
    }
    for m in moves {
        append_reflog(repo, git, identity, m, message)?;
    }
    for (lock, path) in &targets {
        git.rename(lock, path)
            .map_err(|e| StoreError::io(&git.join(path), e))?;
        locks.1.retain(|l| l != lock);
    }
    Ok(())
}

/// The folder part of `rel` (a path with `/` separators), if any.
fn parent(rel: &str) -> Option<&str> {
    rel.rsplit_once('/').map(|(dir, _)| dir)
}

/// Creates the lock file `lock` (in the git folder), waiting up to [`LOCK_TIMEOUT`] for
/// another program's.
fn acquire(git: &Dir, lock: &str, name: &str) -> Result<std::fs::File, EditError> {
    let start = Instant::now();
    let mut made_dir = false;
    let mut pause = Duration::from_micros(500);
    loop {
        match git.create_new(lock, 0o666) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !made_dir => {
                if let Some(dir) = parent(lock) {
                    git.create_dir_all(dir)
                        .map_err(|e| StoreError::io(&git.join(dir), e))?;
                }
                made_dir = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if start.elapsed() >= LOCK_TIMEOUT {
                    return Err(EditError::Conflict(format!(
                        "{name} is locked by another program ({} exists)",
                        git.join(lock).display()
                    )));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(e) => return Err(StoreError::io(&git.join(lock), e).into()),
        }
    }
}

/// The value of ref `name` (loose at `path` in the git folder, else in `packed-refs`), read
/// under its lock.
fn current(repo: &Repo, git: &Dir, name: &str, path: &str) -> Result<Option<ObjectId>, EditError> {
    let odd = |what: String| StoreError::Corrupt {
        reference: name.to_owned(),
        commit: String::new(),
        what,
    };
    match git.open_read(path) {
        Ok(mut file) => {
            let text = super::loose::read_small(&mut file, 128)
                .map_err(|e| StoreError::io(&git.join(path), e))?;
            let trimmed = text.trim_ascii_end();
            if trimmed.starts_with(b"ref:") {
                return Err(odd("it is a symbolic ref".to_owned()).into());
            }
            ObjectId::from_hex(trimmed)
                .map(Some)
                .map_err(|e| odd(format!("its file does not hold an object id: {e}")).into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let packed = repo
                .gix()
                .refs
                .cached_packed_buffer()
                .map_err(|e| StoreError::git("reading packed-refs", e))?;
            let Some(packed) = packed else {
                return Ok(None);
            };
            let found = packed
                .try_find(name)
                .map_err(|e| StoreError::git(format!("looking up {name} in packed-refs"), e))?;
            Ok(found.map(|r| r.target()))
        }
        Err(e) => Err(StoreError::io(&git.join(path), e).into()),
    }
}

/// Appends the reflog line of `m` (git's format) to `logs/<ref>`, with one write.
fn append_reflog(
    repo: &Repo,
    git: &Dir,
    identity: &Identity,
    m: &RefMove,
    message: &str,
) -> Result<(), StoreError> {
    let path = format!("logs/{}", m.name);
    let old = m
        .old
        .unwrap_or_else(|| ObjectId::null(repo.gix().object_hash()));
    let sign = if identity.offset < 0 { '-' } else { '+' };
    let minutes = identity.offset.unsigned_abs() / 60;
    let one_line: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let line = format!(
        "{old} {} {} <{}> {} {sign}{:02}{:02}\t{}\n",
        m.new,
        identity.name,
        identity.email,
        identity.seconds,
        minutes / 60,
        minutes % 60,
        one_line.trim()
    );
    // The reflog this repository appended to last time, if it is still the one there: git
    // replaces or removes a reflog only under the ref's lock, which we hold.
    let kept = repo.take_kept(&path).filter(super::dir::still_linked);
    let mut file = match kept {
        Some(file) => Ok(file),
        None => match git.open_append(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = parent(&path) {
                    git.create_dir_all(dir)
                        .map_err(|e| StoreError::io(&git.join(dir), e))?;
                }
                git.open_append(&path)
            }
            other => other,
        },
    }
    .map_err(|e| StoreError::io(&git.join(&path), e))?;
    file.write_all(line.as_bytes())
        .map_err(|e| StoreError::io(&git.join(&path), e))?;
    repo.keep(&path, file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::git;

    fn setup() -> (tempfile::TempDir, Repo, ObjectId, ObjectId, Identity) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        git(root, &["init", "-q"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let one = git(root, &["rev-parse", "HEAD"]).trim().to_owned();
        git(root, &["commit", "-q", "--allow-empty", "-m", "two"]);
        let two = git(root, &["rev-parse", "HEAD"]).trim().to_owned();
        let repo = Repo::discover(root).expect("repo");
        let id = Identity {
            name: "T".into(),
            email: "t@example.com".into(),
            seconds: 1_700_000_000,
            offset: 3600,
        };
        let parse = |s: &str| ObjectId::from_hex(s.as_bytes()).expect("hex");
        (tmp, repo, parse(&one), parse(&two), id)
    }

    fn mv(name: &str, old: Option<ObjectId>, new: ObjectId) -> RefMove {
        RefMove {
            name: name.to_owned(),
            old,
            new,
        }
    }

    #[test]
    fn moves_create_and_update_with_reflogs_git_reads() {
        let (tmp, repo, one, two, id) = setup();
        let root = tmp.path();
        let moves = [mv("refs/ddx/a", None, one), mv("refs/ddx/x/b", None, one)];
        edit(&repo, &id, &moves, "create").expect("create");
        edit(&repo, &id, &[mv("refs/ddx/a", Some(one), two)], "move\nit").expect("move");
        assert_eq!(
            git(root, &["rev-parse", "refs/ddx/a"]).trim(),
            two.to_string()
        );
        assert_eq!(
            git(root, &["rev-parse", "refs/ddx/x/b"]).trim(),
            one.to_string()
        );
        let log = git(root, &["reflog", "show", "--format=%H %gs", "refs/ddx/a"]);
        assert_eq!(log, format!("{two} move it\n{one} create\n"));
        // Git parses the identity and time of the line.
        let who = git(
            root,
            &[
                "log",
                "-g",
                "--format=%gn <%ge> %gd",
                "--date=raw",
                "refs/ddx/a",
            ],
        );
        assert!(
            who.starts_with("T <t@example.com> ddx/a@{1700000000 +0100}"),
            "{who}"
        );
        git(root, &["fsck", "--strict"]);
    }

    #[test]
    fn a_reflog_git_replaced_or_removed_is_appended_to_where_it_is_now() {
        // The repository keeps the reflogs it appended to open; git rewrites a reflog
        // (`reflog expire`, by rename) or removes it (deleting the ref) under the ref's lock.
        let (tmp, repo, one, two, id) = setup();
        let root = tmp.path();
        let a = "refs/ddx/a";
        edit(&repo, &id, &[mv(a, None, one)], "create").expect("create");
        edit(&repo, &id, &[mv(a, Some(one), two)], "second").expect("move");
        let log = || git(root, &["reflog", "show", "--format=%H %gs", a]);
        assert_eq!(
            log(),
            format!(
                "{two} second
{one} create
"
            )
        );
        git(root, &["reflog", "expire", "--expire=now", "--all"]);
        assert_eq!(log(), "");
        edit(&repo, &id, &[mv(a, Some(two), one)], "third").expect("move");
        assert_eq!(
            log(),
            format!(
                "{one} third
"
            )
        );
        git(root, &["update-ref", "-d", a]);
        assert!(!root.join(".git/logs").join(a).exists());
        edit(&repo, &id, &[mv(a, None, two)], "again").expect("create again");
        assert_eq!(
            log(),
            format!(
                "{two} again
"
            )
        );
        git(root, &["fsck", "--strict"]);
    }

    #[test]
    fn a_ref_elsewhere_is_a_conflict_and_nothing_moves() {
        let (tmp, repo, one, two, id) = setup();
        let root = tmp.path();
        edit(
            &repo,
            &id,
            &[mv("refs/ddx/a", None, one), mv("refs/ddx/b", None, one)],
            "c",
        )
        .expect("create");
        // b is not where the edit expects it: a must not move either.
        let err = edit(
            &repo,
            &id,
            &[
                mv("refs/ddx/a", Some(one), two),
                mv("refs/ddx/b", Some(two), two),
            ],
            "m",
        )
        .expect_err("conflict");
        assert!(matches!(err, EditError::Conflict(_)), "{err:?}");
        assert_eq!(
            git(root, &["rev-parse", "refs/ddx/a"]).trim(),
            one.to_string()
        );
        // Creating a ref that exists is a conflict too.
        let err = edit(&repo, &id, &[mv("refs/ddx/a", None, two)], "m").expect_err("exists");
        assert!(matches!(err, EditError::Conflict(_)), "{err:?}");
        assert!(!root.join(".git/refs/ddx/a.lock").exists());
        assert!(!root.join(".git/refs/ddx/b.lock").exists());
    }

    #[test]
    fn packed_refs_are_read_and_held_locks_respected() {
        let (tmp, repo, one, two, id) = setup();
        let root = tmp.path();
        edit(&repo, &id, &[mv("refs/ddx/a", None, one)], "c").expect("create");
        git(root, &["pack-refs", "--all"]);
        assert!(!root.join(".git/refs/ddx/a").exists());
        let repo = Repo::discover(root).expect("repo");
        let err = edit(&repo, &id, &[mv("refs/ddx/a", None, two)], "m").expect_err("packed");
        assert!(matches!(err, EditError::Conflict(_)), "{err:?}");
        // Another program's lock: a conflict after the timeout, and its lock file stays.
        std::fs::write(root.join(".git/refs/ddx/a.lock"), "").expect("lock");
        let err = edit(&repo, &id, &[mv("refs/ddx/a", Some(one), two)], "m").expect_err("held");
        assert!(matches!(err, EditError::Conflict(_)), "{err:?}");
        assert!(root.join(".git/refs/ddx/a.lock").exists());
        std::fs::remove_file(root.join(".git/refs/ddx/a.lock")).expect("unlock");
        edit(&repo, &id, &[mv("refs/ddx/a", Some(one), two)], "m").expect("packed ref moves");
        assert_eq!(
            git(root, &["rev-parse", "refs/ddx/a"]).trim(),
            two.to_string()
        );
        git(root, &["fsck", "--strict"]);
    }
}
