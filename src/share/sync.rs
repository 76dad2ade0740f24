//! `ddx sync`: shares `refs/ddx/instances/*`, `refs/ddx/checkpoints/*`, `refs/ddx/audit`,
//! `refs/ddx/ratings` and `refs/notes/ddx` with a git remote. The remote's refs are fetched into
//! the staging namespace `refs/ddx-remote/<remote>/…` (never under `refs/ddx/`, so they are
//! neither pushed nor read as local state); each shared ref is then compared with its staged
//! value and fast-forwarded locally, pushed with the fetched value as the expected old one, or
//! reported as diverged. Notes are merged as `git notes merge -s cat_sort_uniq` does.
//! `refs/ddx/sources/*` and `.git/ddx/` stay local.

use crate::store::git::{self, GitCommandError, Push};
use crate::store::{ObjectId, Repo};
use serde::Serialize;

/// The shared ref patterns, relative to `refs/`.
const SHARED: [&str; 4] = [
    "ddx/instances/*",
    "ddx/checkpoints/*",
    "ddx/audit",
    "ddx/ratings",
];

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot sync with remote `{remote}`")]
    Git {
        remote: String,
        #[source]
        source: GitCommandError,
    },
    #[error("cannot tell who is syncing: {0}")]
    Identity(String),
}

/// What happened to one shared ref.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// Local and remote agree.
    Same,
    /// Local was missing or behind: moved to the remote's value.
    Fetched,
    /// Remote was missing or behind: pushed.
    Pushed,
    /// Both sides moved: joining forks is not done yet, nothing moved.
    Diverged,
}

/// One shared ref and what sync did with it.
#[derive(Debug, Clone, Serialize)]
pub struct RefReport {
    pub name: String,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub action: Move,
}

/// The summary of one sync.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub remote: String,
    pub dry_run: bool,
    pub refs: Vec<RefReport>,
    pub notes_merged: bool,
}

/// The staging ref of `name` (`refs/ddx/…` or `refs/notes/ddx`) for `remote`.
pub fn staging(remote: &str, name: &str) -> String {
    format!(
        "refs/ddx-remote/{remote}/{}",
        name.strip_prefix("refs/").unwrap_or(name)
    )
}

fn refs_under(repo: &Repo, prefix: &str) -> Result<Vec<(String, ObjectId)>, GitCommandError> {
    Ok(git::local_refs(repo.work_dir(), prefix)?
        .into_iter()
        .map(|r| (r.name, r.id))
        .collect())
}

/// Syncs with `remote`: fetch into staging, fast-forward or push each shared ref, merge notes.
pub fn sync(repo: &Repo, remote: &str, dry_run: bool) -> Result<Report, SyncError> {
    let err = |source| SyncError::Git {
        remote: remote.to_owned(),
        source,
    };
    let dir = repo.work_dir();
    let mut specs: Vec<String> = SHARED
        .iter()
        .map(|p| format!("+refs/{p}:{}", staging(remote, &format!("refs/{p}"))))
        .collect();
    specs.push(format!(
        "+refs/notes/ddx:{}",
        staging(remote, "refs/notes/ddx")
    ));
    git::fetch_refs(dir, remote, &specs).map_err(err)?;

    let mut names: std::collections::BTreeMap<String, (Option<ObjectId>, Option<ObjectId>)> =
        Default::default();
    for p in SHARED {
        let prefix = format!("refs/{}", p.trim_end_matches('*'));
        for (n, id) in refs_under(repo, &prefix).map_err(err)? {
            if n.starts_with("refs/ddx/sources/") {
                continue;
            }
            names.entry(n).or_default().0 = Some(id);
        }
        let staged = staging(remote, &prefix);
        for (n, id) in refs_under(repo, &staged).map_err(err)? {
            let local = format!("refs/{}", &n[staging(remote, "refs/").len()..]);
            names.entry(local).or_default().1 = Some(id);
        }
    }

    let mut refs = Vec::new();
    let mut pushes = Vec::new();
    let mut local_moves = Vec::new();
    for (name, (local, remote_id)) in &names {
        let action = match (local, remote_id) {
            (Some(l), Some(r)) if l == r => Move::Same,
            (None, Some(_)) => Move::Fetched,
            (Some(_), None) => Move::Pushed,
            (Some(l), Some(r)) => {
                if git::is_ancestor(dir, *r, *l).map_err(err)? {
                    Move::Pushed
                } else if git::is_ancestor(dir, *l, *r).map_err(err)? {
                    Move::Fetched
                } else {
                    Move::Diverged
                }
            }
            (None, None) => continue,
        };
        match (&action, local, remote_id) {
            (Move::Pushed, Some(l), _) => pushes.push((name.clone(), *l, *remote_id)),
            (Move::Fetched, _, Some(_)) => local_moves.push((name.clone(), *local, *remote_id)),
            _ => {}
        }
        refs.push(RefReport {
            name: name.clone(),
            local: local.map(|i| i.to_string()),
            remote: remote_id.map(|i| i.to_string()),
            action,
        });
    }
    let notes_staged = staging(remote, "refs/notes/ddx");
    let notes_remote = refs_under(repo, &notes_staged)
        .map_err(err)?
        .first()
        .map(|r| r.1);
    let notes_local = refs_under(repo, "refs/notes/ddx")
        .map_err(err)?
        .first()
        .map(|r| r.1);
    let notes_merged = notes_remote.is_some() && notes_remote != notes_local;
    if dry_run {
        return Ok(Report {
            remote: remote.to_owned(),
            dry_run,
            refs,
            notes_merged,
        });
    }
    if !local_moves.is_empty() {
        let updates: Vec<git::RefUpdate<'_>> = local_moves
            .iter()
            .map(|(n, old, new)| git::RefUpdate {
                name: n,
                old: *old,
                new: *new,
            })
            .collect();
        let who = repo
            .identity()
            .map_err(|e| SyncError::Identity(e.to_string()))?;
        let who = (who.name.as_str(), who.email.as_str(), who.seconds);
        git::update_refs(dir, who, &updates, "ddx sync: fetched", true).map_err(|e| match e {
            git::UpdateError::Failed(g) => err(g),
            git::UpdateError::Conflict(c) => err(GitCommandError::Failed {
                args: "update-ref".into(),
                stderr: c,
            }),
        })?;
    }
    if notes_merged {
        git::merge_notes(dir, &notes_staged).map_err(err)?;
    }
    let mut push_list: Vec<Push<'_>> = pushes
        .iter()
        .map(|(n, new, expected)| Push {
            name: n,
            new: *new,
            expected: *expected,
        })
        .collect();
    let notes_now = refs_under(repo, "refs/notes/ddx")
        .map_err(err)?
        .first()
        .map(|r| r.1);
    let notes_name = "refs/notes/ddx".to_owned();
    if let Some(n) = notes_now {
        if Some(n) != notes_remote {
            push_list.push(Push {
                name: &notes_name,
                new: n,
                expected: notes_remote,
            });
        }
    }
    git::push_refs(dir, remote, &push_list).map_err(err)?;
    Ok(Report {
        remote: remote.to_owned(),
        dry_run,
        refs,
        notes_merged,
    })
}
