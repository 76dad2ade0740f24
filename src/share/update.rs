//! `ddx update`: the project library `.ddx/library/` follows its upstream.
//!
//! The upstream (URL and branch, kept in `.ddx/config.yml` once given) is fetched into
//! `refs/ddx/upstream/library`, a local ref that is never shared. Its tree is then merged into
//! `.ddx/library/` the way `git subtree` does it, by git itself: the first time with `read-tree
//! --prefix` and a commit whose parents are HEAD and the upstream commit, afterwards with `git
//! merge -Xsubtree=.ddx/library`, whose merge base is the upstream commit merged last. So local
//! commits to the library survive as ancestors of the new HEAD, nothing is reset or rewritten,
//! and a conflict is a normal git merge conflict for the user to finish. Every such commit
//! names its upstream commit in `git-subtree-dir:`/`git-subtree-split:` trailers.
//!
//! Then the registered repositories are fetched (as `ddx repo fetch` does) and every active
//! instance whose pinned definition differs from the catalog's current one is reported.

use crate::catalog::Catalog;
use crate::config::{Config, ConfigError, LibraryConfig};
use crate::engine;
use crate::share::repos::{self, Fetch, RepoError};
use crate::store::event::{Message, Sink};
use crate::store::git::{self, GitCommandError, MergeOutcome};
use crate::store::library::{self, LIBRARY_ROOT};
use crate::store::refedit::{self, EditError, Update as RefUpdate};
use crate::store::sources::{self, SourceError};
use crate::store::{refs, ObjectId, Repo, StoreError};
use serde::Serialize;
use std::path::Path;

/// The local ref the library's upstream is fetched into (never pushed by `ddx sync`).
pub const UPSTREAM_REF: &str = "refs/ddx/upstream/library";

/// Why `ddx update` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("the project library has no upstream yet")]
    NoUpstream,
    #[error("the repository has no commit yet; ddx update merges the library into HEAD")]
    NoCommit,
    #[error(
        "a merge is in progress; finish it (`git commit`) or abort it (`git merge --abort`) first"
    )]
    MergeInProgress,
    #[error("{LIBRARY_ROOT}/ has uncommitted changes: {}", shown(paths))]
    DirtyLibrary { paths: Vec<String> },
    #[error(
        "the index has staged changes, which the merge commit would take in: {}",
        shown(paths)
    )]
    StagedChanges { paths: Vec<String> },
    #[error("{reference} was moved by someone else while ddx was updating it")]
    RefMoved { reference: String },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Git(#[from] GitCommandError),
}

/// At most this many paths in a message; `git status` shows them all.
const SHOWN: usize = 5;

fn shown(paths: &[String]) -> String {
    let mut s = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

/// What happened to `.ddx/library/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The library was brought in (first time).
    Added,
    /// The upstream was merged in.
    Merged,
    /// HEAD already contains the upstream commit.
    UpToDate,
    /// The merge stopped with conflicts, left for the user to finish.
    Conflict,
}

/// An applied instance whose workflow has a newer definition in the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct Upgrade {
    pub instance: String,
    pub workflow: String,
    pub pinned_version: String,
    pub available_version: String,
    /// The catalog source of the current definition (`project`, `repo:team`, …).
    pub source: String,
    pub pinned_tree: String,
    pub available_tree: String,
}

/// A registered repository that could not be fetched.
#[derive(Debug, Clone, Serialize)]
pub struct FetchFailure {
    pub name: String,
    pub error: String,
}

/// The outcome of `ddx update`. JSON field names are a contract: add, never rename.
#[derive(Debug, Clone, Serialize)]
pub struct Updated {
    pub url: String,
    pub branch: String,
    pub reference: String,
    /// The upstream commit fetched (on a dry run: the one the remote has).
    pub upstream: String,
    /// The upstream commit merged last, from the `git-subtree-split:` trailers.
    pub previous: Option<String>,
    pub action: Action,
    /// The new HEAD (added or merged).
    pub commit: Option<String>,
    /// Unmerged paths, when the merge stopped.
    pub conflicts: Vec<String>,
    /// Whether `.ddx/config.yml` was (or, on a dry run, would be) written.
    pub config_changed: bool,
    pub repositories: Vec<Fetch>,
    pub repository_failures: Vec<FetchFailure>,
    pub upgrades: Vec<Upgrade>,
    /// The workflows of `.ddx/library/workflows/` in HEAD afterwards (empty on a dry run).
    pub workflows: Vec<String>,
    pub dry_run: bool,
}

/// What `ddx update` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub from: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub dry_run: bool,
}

/// Refuses when the merge could lose or take in work: a merge in progress, uncommitted changes
/// under `.ddx/library/`, anything staged.
fn check_clean(dir: &Path) -> Result<(), UpdateError> {
    if git::merge_in_progress(dir) {
        return Err(UpdateError::MergeInProgress);
    }
    let dirty: Vec<String> = git::status_of(dir, &[LIBRARY_ROOT])?
        .into_iter()
        .map(|l| l.get(3..).unwrap_or(&l).to_owned())
        .collect();
    if !dirty.is_empty() {
        return Err(UpdateError::DirtyLibrary { paths: dirty });
    }
    let staged = git::staged_paths(dir)?;
    if !staged.is_empty() {
        return Err(UpdateError::StagedChanges { paths: staged });
    }
    Ok(())
}

/// Brings `.ddx/library/` up to date with its upstream, then fetches the registered
/// repositories and lists the instances that can be upgraded.
pub fn update(repo: &Repo, cwd: &Path, opts: &Options<'_>) -> Result<Updated, UpdateError> {
    let dir = repo.work_dir().to_owned();
    let mut config = Config::load(&dir)?;
    let configured = config.library.clone();
    let url = match (opts.from, &configured) {
        (Some(u), _) => repos::normalize_url(u, cwd),
        (None, Some(l)) => l.url.clone(),
        (None, None) => return Err(UpdateError::NoUpstream),
    };
    let branch = opts
        .branch
        .map(str::to_owned)
        .or_else(|| configured.as_ref().and_then(|l| l.branch.clone()));
    let wanted = LibraryConfig {
        url: url.clone(),
        branch: branch.clone(),
        extra: configured
            .as_ref()
            .map(|l| l.extra.clone())
            .unwrap_or_default(),
    };
    let config_changed = configured.as_ref() != Some(&wanted);

    let Some(head) = refs::head(repo)? else {
        return Err(UpdateError::NoCommit);
    };
    check_clean(&dir)?;

    let fetched = sources::fetch(repo, &url, branch.as_deref(), opts.dry_run)?;
    let upstream = fetched.commit;
    let previous = git::last_subtree_split(&dir, LIBRARY_ROOT)?.map(|(_, split)| split);
    let head_tree = library::commit_tree(repo, head)?;
    let has_library = library::subtree(repo, head_tree, LIBRARY_ROOT)?.is_some();
    let known = repo.has_object(&upstream);
    let up_to_date = has_library
        && (previous == Some(upstream) || known && git::is_ancestor(&dir, upstream, head)?);
    let planned = if up_to_date {
        Action::UpToDate
    } else if has_library {
        Action::Merged
    } else {
        Action::Added
    };
    let mut out = Updated {
        url: url.clone(),
        branch: fetched.branch.clone(),
        reference: UPSTREAM_REF.to_owned(),
        upstream: upstream.to_string(),
        previous: previous.map(|p| p.to_string()),
        action: planned,
        commit: None,
        conflicts: Vec::new(),
        config_changed,
        repositories: Vec::new(),
        repository_failures: Vec::new(),
        upgrades: Vec::new(),
        workflows: Vec::new(),
        dry_run: opts.dry_run,
    };
    if opts.dry_run {
        fetch_repositories(repo, true, &mut out)?;
        out.upgrades = upgrades(repo)?;
        return Ok(out);
    }

    move_upstream_ref(repo, upstream, &url, &fetched.branch)?;
    if config_changed {
        config.library = Some(wanted);
        let before = std::fs::read(Config::path(&dir)).ok();
        config.save(&dir)?;
        repos::keep_trust(repo, before);
    }
    if planned != Action::UpToDate {
        let message = merge_message(planned, &url, &fetched.branch, upstream, previous, head);
        match planned {
            Action::Added => {
                let id = git::subtree_add(&dir, LIBRARY_ROOT, upstream, head, &message)?;
                out.commit = Some(id.to_string());
            }
            _ => match git::subtree_merge(&dir, LIBRARY_ROOT, upstream, &message)? {
                MergeOutcome::Merged(id) => out.commit = Some(id.to_string()),
                MergeOutcome::Conflict(paths) => {
                    out.action = Action::Conflict;
                    out.conflicts = paths;
                }
            },
        }
        let mut what = vec![
            ("url", url.clone()),
            ("branch", fetched.branch.clone()),
            ("upstream", upstream.to_string()),
        ];
        what.extend(out.commit.clone().map(|c| ("commit", c)));
        what.extend(previous.map(|p| ("previous", p.to_string())));
        engine::record_operation(
            repo,
            "update",
            format!(
                "update {LIBRARY_ROOT} from {url} -> {}",
                upstream.to_hex_with_len(12)
            ),
            &what,
        );
    }
    if out.action == Action::Conflict {
        return Ok(out);
    }
    // Reopened: the merge wrote objects and moved HEAD behind this handle's back.
    let fresh = Repo::discover(&dir)?;
    if let Some(tree) = library::project_library(&fresh)? {
        out.workflows = library::workflow_folders(&fresh, tree, false)?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
    }
    fetch_repositories(&fresh, false, &mut out)?;
    out.upgrades = upgrades(&fresh)?;
    Ok(out)
}

fn move_upstream_ref(
    repo: &Repo,
    upstream: ObjectId,
    url: &str,
    branch: &str,
) -> Result<(), UpdateError> {
    let old = refs::read(repo, UPSTREAM_REF)?;
    if old == Some(upstream) {
        return Ok(());
    }
    let identity = repo.identity()?;
    let edit = RefUpdate {
        name: UPSTREAM_REF,
        old,
        new: Some(upstream),
    };
    match refedit::apply(
        repo,
        &identity,
        &[edit],
        &format!("ddx update: {branch} of {url}"),
    ) {
        Ok(()) => Ok(()),
        Err(EditError::Conflict(_)) => Err(UpdateError::RefMoved {
            reference: UPSTREAM_REF.to_owned(),
        }),
        Err(EditError::Failed(e)) => Err(e.into()),
    }
}

/// The message of the add or merge commit, with the trailers `git subtree` writes.
fn merge_message(
    action: Action,
    url: &str,
    branch: &str,
    upstream: ObjectId,
    previous: Option<ObjectId>,
    head: ObjectId,
) -> String {
    let short = upstream.to_hex_with_len(12);
    let mut m = match action {
        Action::Added => Message::new(format!(
            "ddx update: add {LIBRARY_ROOT} from {branch} at {short}"
        )),
        _ => Message::new(format!(
            "ddx update: merge {branch} at {short} into {LIBRARY_ROOT}"
        )),
    };
    m.body = match previous {
        Some(p) => format!(
            "The library follows {url} ({branch}).\nMerged upstream commit {upstream} over {p}, the one merged last."
        ),
        None => format!("The library follows {url} ({branch}).\nUpstream commit {upstream}."),
    };
    m.trailer("git-subtree-dir", LIBRARY_ROOT);
    m.trailer("git-subtree-mainline", head.to_string());
    m.trailer("git-subtree-split", upstream.to_string());
    m.render()
}

fn fetch_repositories(repo: &Repo, dry_run: bool, out: &mut Updated) -> Result<(), UpdateError> {
    for (name, result) in repos::fetch(repo, None, dry_run)? {
        match result {
            Ok(f) => out.repositories.push(f),
            Err(e) => out.repository_failures.push(FetchFailure {
                name,
                error: crate::store::repo::error_chain(&e),
            }),
        }
    }
    Ok(())
}

/// The active instances whose workflow's definition in the catalog (by precedence) is not the
/// one they pinned.
pub fn upgrades(repo: &Repo) -> Result<Vec<Upgrade>, UpdateError> {
    let ids = refs::instance_ids(repo)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let catalog = Catalog::of_repo(Repo::discover(repo.work_dir())?);
    let mut out = Vec::new();
    for id in ids {
        let (tip, st) = match engine::load(repo, &id) {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!("{id} is left out of the upgrade check: {e}");
                continue;
            }
        };
        if !st.status.is_active() {
            continue;
        }
        let Ok(located) = catalog.locate(&st.workflow, repo.work_dir()) else {
            continue;
        };
        let tree = match located.tree.git_tree_id() {
            Some(t) => t,
            None => {
                crate::store::event::write_file_tree(Sink::HashOnly(repo), located.tree.as_ref())?.0
            }
        };
        if tree == tip.workflow_tree {
            continue;
        }
        let Ok(wf) = located.load() else {
            tracing::warn!(
                "{} in {} is invalid: {id} cannot be upgraded to it",
                st.workflow,
                located.source
            );
            continue;
        };
        out.push(Upgrade {
            instance: id,
            workflow: st.workflow.clone(),
            pinned_version: st.version.clone(),
            available_version: wf.version,
            source: located.source.to_string(),
            pinned_tree: tip.workflow_tree.to_string(),
            available_tree: tree.to_string(),
        });
    }
    Ok(out)
}
