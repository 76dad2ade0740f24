//! Registered catalogs in git: `refs/ddx/sources/<name>`, fetched from their repositories.
//!
//! Fetching goes through gix for local paths, `file://` and ssh, and through the `git` binary
//! ([`super::git`]) for http(s), which this build of gix cannot speak. Either way only objects
//! are fetched; the source ref is then moved here, with compare-and-swap and a reflog entry, so
//! a concurrent change is noticed instead of overwritten.

use super::event::Identity;
use super::git::{self, GitCommandError};
use super::refedit::{self, EditError, Update};
use super::{Repo, StoreError};
use gix::ObjectId;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Where fetched catalogs live.
pub const PREFIX: &str = "refs/ddx/sources/";

/// The identity reflog entries are written with when git has no `user.name`/`user.email`.
pub const FALLBACK_NAME: &str = "ddx";
pub const FALLBACK_EMAIL: &str = "ddx@localhost";

/// What went wrong with a registered source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("`{name}` cannot name a repository: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("`{url}` is not a repository URL or path: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot fetch from {url}")]
    Fetch {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{url} has no branch `{branch}`{}", available_list(available))]
    NoSuchBranch {
        url: String,
        branch: String,
        available: Vec<String>,
    },
    #[error("{url} has no default branch (its HEAD points to no commit)")]
    NoDefaultBranch { url: String },
    #[error("{what} of {url} is {id}, which is not a commit")]
    NotACommit {
        url: String,
        what: String,
        id: ObjectId,
    },
    #[error("{ref_name} was changed by someone else while ddx was updating it")]
    RefMoved { ref_name: String },
    #[error("cannot fetch from {url}")]
    Git {
        url: String,
        #[source]
        source: GitCommandError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn available_list(branches: &[String]) -> String {
    if branches.is_empty() {
        String::new()
    } else {
        format!(" (branches: {})", branches.join(", "))
    }
}

/// Checks that `name` can be a source name and a ref name component.
pub fn validate_name(name: &str) -> Result<(), SourceError> {
    let bad = |reason| {
        Err(SourceError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("use letters, digits, `-`, `_` and `.` only");
    }
    if name.starts_with(['.', '-']) || name.ends_with('.') || name.ends_with(".lock") {
        return bad("it may not start with `.` or `-`, nor end with `.` or `.lock`");
    }
    if name.contains("..") {
        return bad("it may not contain `..`");
    }
    Ok(())
}

/// The full ref name of source `name`.
pub fn ref_name(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// Every fetched source: name and commit, sorted by name.
pub fn list(repo: &Repo) -> Result<Vec<(String, ObjectId)>, StoreError> {
    super::refs::list(repo, PREFIX)
}

/// The commit source `name` points to, if it was fetched.
pub fn get(repo: &Repo, name: &str) -> Result<Option<ObjectId>, StoreError> {
    super::refs::read(repo, &ref_name(name))
}

/// Who the reflog names: git's identity, or ddx's fallback when git has none (fetching a
/// catalog needs no identity).
fn reflog_identity(repo: &Repo, ref_name: &str) -> Identity {
    repo.identity().unwrap_or_else(|_| {
        tracing::warn!(
            "git has no user.name/user.email; the reflog of {ref_name} names `{FALLBACK_NAME} <{FALLBACK_EMAIL}>`"
        );
        Identity {
            name: FALLBACK_NAME.to_owned(),
            email: FALLBACK_EMAIL.to_owned(),
            seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            offset: 0,
        }
    })
}

/// Moves (or deletes) source `name`'s ref from `old` to `new`, through the store's one ref path.
fn move_ref(
    repo: &Repo,
    name: &str,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    message: &str,
) -> Result<(), SourceError> {
    validate_name(name)?;
    let ref_name = ref_name(name);
    let identity = reflog_identity(repo, &ref_name);
    let update = Update {
        name: &ref_name,
        old,
        new,
    };
    match refedit::apply(repo, &identity, &[update], message) {
        Ok(()) => Ok(()),
        Err(EditError::Conflict(_)) => Err(SourceError::RefMoved { ref_name }),
        Err(EditError::Failed(e)) => Err(e.into()),
    }
}

/// Moves source `name` to `new` if it still points to `expected` (`None`: it must not exist).
pub fn set(
    repo: &Repo,
    name: &str,
    new: ObjectId,
    expected: Option<ObjectId>,
    message: &str,
) -> Result<(), SourceError> {
    move_ref(repo, name, expected, Some(new), message)
}

/// Deletes source `name` (and, as git does, its reflog) if it still points to `expected`.
pub fn delete(repo: &Repo, name: &str, expected: ObjectId) -> Result<(), SourceError> {
    move_ref(repo, name, Some(expected), None, "ddx: remove")
}

/// What a fetch found (and, unless it was a dry run, brought into the object database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit the branch points to.
    pub commit: ObjectId,
    /// The branch fetched, as a short name (`main`).
    pub branch: String,
}

/// How a URL is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// gix: local paths, `file://`, ssh, `git://`.
    Gix,
    /// The `git` binary: http and https.
    GitBinary,
}

impl Transport {
    /// The transport for `url`.
    pub fn for_url(url: &str) -> Result<Transport, SourceError> {
        let parsed = gix::url::Url::try_from(url).map_err(|e| SourceError::BadUrl {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        Ok(match parsed.scheme {
            gix::url::Scheme::Http | gix::url::Scheme::Https => Transport::GitBinary,
            _ => Transport::Gix,
        })
    }
}

/// Fetches `branch` (or the remote's default branch) of `url` into the object database without
/// writing any ref. With `dry_run`, only asks the remote what it would fetch.
pub fn fetch(
    repo: &Repo,
    url: &str,
    branch: Option<&str>,
    dry_run: bool,
) -> Result<Fetched, SourceError> {
    let transport = Transport::for_url(url)?;
    fetch_via(repo, url, branch, dry_run, transport)
}

/// [`fetch`] through a chosen transport.
pub fn fetch_via(
    repo: &Repo,
    url: &str,
    branch: Option<&str>,
    dry_run: bool,
    transport: Transport,
) -> Result<Fetched, SourceError> {
    if let Some(b) = branch {
        if b.is_empty() || b.starts_with('-') || b.contains("..") || b.contains(char::is_whitespace)
        {
            return Err(SourceError::NoSuchBranch {
                url: url.to_owned(),
                branch: b.to_owned(),
                available: Vec::new(),
            });
        }
    }
    // Where git must write (see `Repo::writes_through_git`), git fetches too: gix would write
    // the pack without the repository's modes or fsync, and negotiates with local refs it cannot
    // read in a reftable repository.
    let transport = match transport {
        Transport::Gix if repo.writes_through_git() => Transport::GitBinary,
        t => t,
    };
    let fetched = match transport {
        Transport::Gix => fetch_with_gix(repo.gix(), url, branch, dry_run)?,
        Transport::GitBinary => fetch_with_git(repo.work_dir(), url, branch, dry_run)?,
    };
    if !dry_run {
        let kind = repo
            .gix()
            .find_header(fetched.commit)
            .map_err(|e| StoreError::git(format!("reading {}", fetched.commit), e))?
            .kind();
        if kind != gix::object::Kind::Commit {
            return Err(SourceError::NotACommit {
                url: url.to_owned(),
                what: format!("branch `{}`", fetched.branch),
                id: fetched.commit,
            });
        }
    }
    Ok(fetched)
}

fn short_branch(full: &str) -> String {
    full.strip_prefix("refs/heads/").unwrap_or(full).to_owned()
}

fn fetch_error(url: &str, e: impl std::error::Error + Send + Sync + 'static) -> SourceError {
    SourceError::Fetch {
        url: url.to_owned(),
        source: Box::new(e),
    }
}

fn fetch_with_gix(
    repo: &gix::Repository,
    url: &str,
    branch: Option<&str>,
    dry_run: bool,
) -> Result<Fetched, SourceError> {
    let parsed = gix::url::Url::try_from(url).map_err(|e| SourceError::BadUrl {
        url: url.to_owned(),
        message: e.to_string(),
    })?;
    if parsed.scheme == gix::url::Scheme::File {
        if let Ok(path) = gix::path::from_bstr(AsRef::<gix::bstr::BStr>::as_ref(&parsed.path)) {
            if !path.exists() {
                return Err(SourceError::BadUrl {
                    url: url.to_owned(),
                    message: format!("{} does not exist", path.display()),
                });
            }
        }
    }
    let spec = match branch {
        Some(b) => format!("refs/heads/{b}"),
        None => "HEAD".to_owned(),
    };
    let remote = repo
        .remote_at(parsed)
        .map_err(|e| fetch_error(url, e))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs([spec.as_str()], gix::remote::Direction::Fetch)
        .map_err(|e| fetch_error(url, e))?;
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| fetch_error(url, e))?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| fetch_error(url, e))?;
    let map = prepare.ref_map();
    let branches: Vec<String> = map
        .remote_refs
        .iter()
        .filter_map(|r| {
            let (name, _, _) = r.unpack();
            let name = name.to_string();
            name.starts_with("refs/heads/").then(|| short_branch(&name))
        })
        .collect();
    let found = map
        .mappings
        .iter()
        .find_map(|m| m.remote.as_id().map(|id| (id.to_owned(), &m.remote)));
    let (commit, resolved) = match (found, branch) {
        (Some((id, _)), Some(b)) => (id, b.to_owned()),
        (Some((id, source)), None) => {
            let target = source
                .as_target()
                .map(|t| t.to_string())
                .or_else(|| head_target(&map.remote_refs));
            (
                id,
                target.map_or_else(|| "HEAD".to_owned(), |t| short_branch(&t)),
            )
        }
        (None, Some(b)) => {
            drop(prepare);
            return Err(SourceError::NoSuchBranch {
                url: url.to_owned(),
                branch: b.to_owned(),
                available: remote_branches(repo, url).unwrap_or(branches),
            });
        }
        (None, None) => {
            return Err(SourceError::NoDefaultBranch {
                url: url.to_owned(),
            })
        }
    };
    if !dry_run {
        let interrupt = AtomicBool::new(false);
        prepare
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fetch_error(url, e))?;
    }
    Ok(Fetched {
        commit,
        branch: resolved,
    })
}

/// The branches of `url` (one more round trip, on the error path only).
fn remote_branches(repo: &gix::Repository, url: &str) -> Option<Vec<String>> {
    // Only the ref map is asked for: the destination is never written.
    let remote = repo
        .remote_at(url)
        .ok()?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(
            ["refs/heads/*:refs/ddx/probe/*"],
            gix::remote::Direction::Fetch,
        )
        .ok()?;
    let connection = remote.connect(gix::remote::Direction::Fetch).ok()?;
    let (map, _) = connection
        .ref_map(gix::progress::Discard, Default::default())
        .ok()?;
    let mut names: Vec<String> = map
        .remote_refs
        .iter()
        .filter_map(|r| {
            let name = r.unpack().0.to_string();
            name.starts_with("refs/heads/").then(|| short_branch(&name))
        })
        .collect();
    names.sort();
    Some(names)
}

fn head_target(refs: &[gix::protocol::handshake::Ref]) -> Option<String> {
    refs.iter().find_map(|r| match r {
        gix::protocol::handshake::Ref::Symbolic {
            full_ref_name,
            target,
            ..
        } if full_ref_name == "HEAD" => Some(target.to_string()),
        _ => None,
    })
}

fn fetch_with_git(
    dir: &Path,
    url: &str,
    branch: Option<&str>,
    dry_run: bool,
) -> Result<Fetched, SourceError> {
    let git_error = |source| SourceError::Git {
        url: url.to_owned(),
        source,
    };
    // The branch can move between listing and fetching; try again once if it did.
    for _ in 0..2 {
        let refs = git::ls_remote(dir, url).map_err(git_error)?;
        let branches: Vec<String> = refs
            .iter()
            .filter(|r| r.name.starts_with("refs/heads/"))
            .map(|r| short_branch(&r.name))
            .collect();
        let (full, commit) = match branch {
            Some(b) => {
                let full = format!("refs/heads/{b}");
                match refs.iter().find(|r| r.name == full) {
                    Some(r) => (full, r.id),
                    None => {
                        return Err(SourceError::NoSuchBranch {
                            url: url.to_owned(),
                            branch: b.to_owned(),
                            available: branches,
                        })
                    }
                }
            }
            None => match refs.iter().find(|r| r.name == "HEAD") {
                Some(h) => (
                    h.symref_target.clone().unwrap_or_else(|| "HEAD".to_owned()),
                    h.id,
                ),
                None => {
                    return Err(SourceError::NoDefaultBranch {
                        url: url.to_owned(),
                    })
                }
            },
        };
        let fetched = Fetched {
            commit,
            branch: short_branch(&full),
        };
        if dry_run {
            return Ok(fetched);
        }
        git::fetch_objects(dir, url, &full).map_err(git_error)?;
        let repo = gix::open(dir).map_err(|e| StoreError::git("reopening the repository", e))?;
        if repo.has_object(commit) {
            return Ok(fetched);
        }
    }
    Err(SourceError::Fetch {
        url: url.to_owned(),
        source: "the branch kept moving while it was fetched".into(),
    })
}

/// Where the workflows of a fetched catalog are: `workflows/`, `library/workflows/`, or the
/// root of its tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowsRoot {
    /// The folder inside the tree (`""` for the root).
    pub path: String,
    pub tree: ObjectId,
    /// At the root, only folders with a `workflow.yml` are workflows (the rest is the
    /// repository's other content); in a dedicated folder, every folder is meant to be one.
    pub only_with_workflow_yml: bool,
}

/// Finds the workflows folder of `commit`'s tree.
pub fn workflows_root(repo: &Repo, commit: ObjectId) -> Result<WorkflowsRoot, StoreError> {
    let commit_obj = repo
        .gix()
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?;
    let root = commit_obj
        .tree_id()
        .map_err(|e| StoreError::git(format!("reading the tree of {commit}"), e))?
        .detach();
    for path in ["workflows", "library/workflows"] {
        if let Some(tree) = super::library::subtree(repo, root, path)? {
            return Ok(WorkflowsRoot {
                path: path.to_owned(),
                tree,
                only_with_workflow_yml: false,
            });
        }
    }
    Ok(WorkflowsRoot {
        path: String::new(),
        tree: root,
        only_with_workflow_yml: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::testing::git;

    #[test]
    fn ref_moves_are_compare_and_swap_with_a_reflog() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["config", "user.name", "T"]);
        git(dir.path(), &["config", "user.email", "t@example.com"]);
        git(dir.path(), &["commit", "-q", "--allow-empty", "-m", "a"]);
        let a =
            ObjectId::from_hex(git(dir.path(), &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        git(dir.path(), &["commit", "-q", "--allow-empty", "-m", "b"]);
        let b =
            ObjectId::from_hex(git(dir.path(), &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        let repo = Repo::discover(dir.path()).unwrap();

        set(&repo, "team", a, None, "first").unwrap();
        assert!(matches!(
            set(&repo, "team", b, None, "must not exist"),
            Err(SourceError::RefMoved { .. })
        ));
        assert!(matches!(
            set(&repo, "team", b, Some(b), "wrong expectation"),
            Err(SourceError::RefMoved { .. })
        ));
        set(&repo, "team", b, Some(a), "second").unwrap();
        assert_eq!(get(&repo, "team").unwrap(), Some(b));
        assert_eq!(list(&repo).unwrap(), vec![("team".to_owned(), b)]);
        let log = git(
            dir.path(),
            &["reflog", "show", "--format=%gs", "refs/ddx/sources/team"],
        );
        assert_eq!(log, "second\nfirst\n");

        assert!(matches!(
            delete(&repo, "team", a),
            Err(SourceError::RefMoved { .. })
        ));
        delete(&repo, "team", b).unwrap();
        assert_eq!(get(&repo, "team").unwrap(), None);
        assert!(git(dir.path(), &["for-each-ref", "refs/ddx"]).is_empty());
    }

    #[test]
    fn both_transports_fetch_objects_only_and_name_missing_branches() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("up");
        std::fs::create_dir(&up).unwrap();
        git(&up, &["init", "-q", "-b", "trunk"]);
        git(&up, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&up, &["branch", "stable"]);
        let tip = ObjectId::from_hex(git(&up, &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        let url = up.to_str().unwrap();
        for transport in [Transport::Gix, Transport::GitBinary] {
            let here = tmp.path().join(format!("{transport:?}"));
            std::fs::create_dir(&here).unwrap();
            git(&here, &["init", "-q"]);
            let repo = Repo::discover(&here).unwrap();

            let dry = fetch_via(&repo, url, None, true, transport).unwrap();
            assert_eq!(
                dry,
                Fetched {
                    commit: tip,
                    branch: "trunk".into()
                },
                "{transport:?}"
            );
            assert!(
                !repo.has_object(&tip),
                "{transport:?}: a dry run fetches nothing"
            );

            let got = fetch_via(&repo, url, Some("stable"), false, transport).unwrap();
            assert_eq!(got.branch, "stable");
            let reopened = gix::open(&here).unwrap();
            assert!(reopened.has_object(tip), "{transport:?}");
            assert!(
                git(&here, &["for-each-ref"]).is_empty(),
                "{transport:?}: no ref written"
            );
            assert!(!here.join(".git/FETCH_HEAD").exists(), "{transport:?}");

            match fetch_via(&repo, url, Some("nope"), false, transport) {
                Err(SourceError::NoSuchBranch { available, .. }) => {
                    assert_eq!(available, ["stable", "trunk"], "{transport:?}")
                }
                other => panic!("{transport:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_reflog_names_a_fallback_identity_when_git_has_none() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["commit", "-q", "--allow-empty", "-m", "a"]);
        let a =
            ObjectId::from_hex(git(dir.path(), &["rev-parse", "HEAD"]).trim().as_bytes()).unwrap();
        // No user.name/user.email in this repository's config, none global (see `git`).
        let isolated = gix::open_opts(dir.path(), gix::open::Options::isolated()).unwrap();
        assert!(isolated.committer().is_none());
        let repo = Repo::from_gix(isolated).unwrap();
        set(&repo, "team", a, None, "no identity").unwrap();
        let log = git(
            dir.path(),
            &[
                "reflog",
                "show",
                "--format=%gn <%ge>",
                "refs/ddx/sources/team",
            ],
        );
        assert_eq!(log, "ddx <ddx@localhost>\n");
    }

    #[test]
    fn names_must_be_ref_safe() {
        assert!(validate_name("team").is_ok());
        assert!(validate_name("team-2.x_y").is_ok());
        for bad in [
            "", "a/b", "a b", "..", "a..b", ".hidden", "x.lock", "-x", "ü",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_goes_through_git_and_the_rest_through_gix() {
        assert_eq!(
            Transport::for_url("https://example.com/x.git").unwrap(),
            Transport::GitBinary
        );
        assert_eq!(Transport::for_url("/srv/x.git").unwrap(), Transport::Gix);
        assert_eq!(
            Transport::for_url("file:///srv/x.git").unwrap(),
            Transport::Gix
        );
        assert_eq!(
            Transport::for_url("git@example.com:team/x.git").unwrap(),
            Transport::Gix
        );
    }
}
