//! Registered repositories (`ddx repo …`): team or private catalogs listed in
//! `.ddx/config.yml` and fetched into `refs/ddx/sources/<name>`.
//!
//! The config and the ref change together or not at all: `add` fetches first (a bad URL, a
//! missing branch or an unreachable host fails before anything is written), moves the ref, and
//! only then saves the config; if saving fails, the ref is put back.

use crate::config::{Config, ConfigError, RepositoryConfig};
use crate::model::diag::did_you_mean;
use crate::store::sources::{self, Fetched, SourceError};
use crate::store::{library, ObjectId, Repo, StoreError};
use serde::Serialize;
use std::path::Path;

/// What went wrong managing registered repositories.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("a repository named `{name}` is already registered ({url})")]
    Exists { name: String, url: String },
    #[error("no repository named `{name}` is registered")]
    NotFound {
        name: String,
        suggestion: Option<String>,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of `ddx repo add`.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub name: String,
    pub url: String,
    pub branch: String,
    #[serde(serialize_with = "hex")]
    pub commit: ObjectId,
    pub reference: String,
    /// The workflow folders found (empty on a dry run, which fetches nothing).
    pub workflows: Vec<String>,
    /// Where in the fetched tree they were found (`workflows`, `library/workflows`, or `` for the root).
    pub workflows_path: Option<String>,
    pub dry_run: bool,
}

/// The outcome of fetching one repository.
#[derive(Debug, Clone, Serialize)]
pub struct Fetch {
    pub name: String,
    pub url: String,
    pub branch: String,
    #[serde(serialize_with = "hex_opt")]
    pub old: Option<ObjectId>,
    #[serde(serialize_with = "hex")]
    pub new: ObjectId,
    pub changed: bool,
    pub dry_run: bool,
}

/// The outcome of `ddx repo remove`.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub name: String,
    pub url: Option<String>,
    #[serde(serialize_with = "hex_opt")]
    pub commit: Option<ObjectId>,
    pub reference: String,
    pub dry_run: bool,
}

/// One line of `ddx repo list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    /// `None` for a fetched source that `.ddx/config.yml` does not list (any more).
    pub url: Option<String>,
    pub branch: Option<String>,
    pub reference: String,
    /// `None` when it was never fetched.
    #[serde(serialize_with = "hex_opt")]
    pub commit: Option<ObjectId>,
    pub workflows: Option<usize>,
    pub configured: bool,
}

fn hex<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn hex_opt<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// A local path as the config keeps it (absolute), or the URL as given.
pub fn normalize_url(url: &str, cwd: &Path) -> String {
    let looks_like_url = url.contains("://");
    let scp_like = !looks_like_url
        && url
            .split_once(':')
            .is_some_and(|(host, _)| !host.contains('/') && host.len() > 1);
    if looks_like_url || scp_like {
        return url.to_owned();
    }
    let path = cwd.join(url);
    match path.canonicalize() {
        Ok(p) => p.display().to_string(),
        Err(_) => url.to_owned(),
    }
}

fn workflows_of(repo: &Repo, commit: ObjectId) -> Result<(String, Vec<String>), StoreError> {
    let root = sources::workflows_root(repo, commit)?;
    let names = library::workflow_folders(repo, root.tree, root.only_with_workflow_yml)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok((root.path, names))
}

/// Registers `url` as `name`, fetching it into `refs/ddx/sources/<name>`.
pub fn add(
    repo: &Repo,
    name: &str,
    url: &str,
    branch: Option<&str>,
    cwd: &Path,
    dry_run: bool,
) -> Result<Added, RepoError> {
    sources::validate_name(name)?;
    let mut config = Config::load(repo.work_dir())?;
    if let Some(existing) = config.repository(name) {
        return Err(RepoError::Exists {
            name: name.to_owned(),
            url: existing.url.clone(),
        });
    }
    let url = normalize_url(url, cwd);
    let fetched = sources::fetch(repo, &url, branch, dry_run)?;
    let reference = sources::ref_name(name);
    let mut added = Added {
        name: name.to_owned(),
        url: url.clone(),
        branch: fetched.branch.clone(),
        commit: fetched.commit,
        reference,
        workflows: Vec::new(),
        workflows_path: None,
        dry_run,
    };
    if dry_run {
        return Ok(added);
    }
    let old = sources::get(repo, name)?;
    if old != Some(fetched.commit) {
        sources::set(
            repo,
            name,
            fetched.commit,
            old,
            &format!("ddx repo add {name}: {} of {url}", fetched.branch),
        )?;
    }
    config.repositories.push(RepositoryConfig {
        name: name.to_owned(),
        url,
        branch: branch.map(str::to_owned),
        extra: Default::default(),
    });
    let before = std::fs::read(Config::path(repo.work_dir())).ok();
    if let Err(e) = config.save(repo.work_dir()) {
        restore_ref(repo, name, old, fetched.commit);
        return Err(e.into());
    }
    keep_trust(repo, before);
    let (path, names) = workflows_of(repo, fetched.commit)?;
    added.workflows = names;
    added.workflows_path = Some(path);
    if !added.dry_run {
        crate::engine::record_operation(
            repo,
            "repo-add",
            format!("repo add {} {}", added.name, added.url),
            &[
                ("name", added.name.clone()),
                ("url", added.url.clone()),
                ("branch", added.branch.clone()),
                ("commit", added.commit.to_string()),
            ],
        );
    }
    Ok(added)
}

/// Puts a source ref back to `old` after a later step failed.
fn restore_ref(repo: &Repo, name: &str, old: Option<ObjectId>, now: ObjectId) {
    let result = match old {
        Some(old) if old != now => sources::set(repo, name, old, Some(now), "ddx: undo"),
        Some(_) => Ok(()),
        None => sources::delete(repo, name, now),
    };
    if let Err(e) = result {
        tracing::error!("could not put {} back: {e}", sources::ref_name(name));
    }
}

/// The outcome of fetching one repository of several, by name.
pub type FetchResult = (String, Result<Fetch, RepoError>);

/// Fetches one registered repository (`name`) or all of them.
pub fn fetch(
    repo: &Repo,
    name: Option<&str>,
    dry_run: bool,
) -> Result<Vec<FetchResult>, RepoError> {
    let config = Config::load(repo.work_dir())?;
    let targets: Vec<&RepositoryConfig> = match name {
        Some(n) => match config.repository(n) {
            Some(r) => vec![r],
            None => return Err(not_found(repo, &config, n)),
        },
        None => config.repositories.iter().collect(),
    };
    Ok(targets
        .into_iter()
        .map(|r| (r.name.clone(), fetch_one(repo, r, dry_run)))
        .collect())
}

fn fetch_one(repo: &Repo, r: &RepositoryConfig, dry_run: bool) -> Result<Fetch, RepoError> {
    sources::validate_name(&r.name)?;
    let Fetched { commit, branch } = sources::fetch(repo, &r.url, r.branch.as_deref(), dry_run)?;
    let old = sources::get(repo, &r.name)?;
    let changed = old != Some(commit);
    if changed && !dry_run {
        sources::set(
            repo,
            &r.name,
            commit,
            old,
            &format!("ddx repo fetch {}: {branch} of {}", r.name, r.url),
        )?;
        let mut what = vec![
            ("name", r.name.clone()),
            ("url", r.url.clone()),
            ("branch", branch.clone()),
            ("commit", commit.to_string()),
        ];
        what.extend(old.map(|o| ("old", o.to_string())));
        crate::engine::record_operation(
            repo,
            "repo-fetch",
            format!("repo fetch {} -> {}", r.name, commit.to_hex_with_len(12)),
            &what,
        );
    }
    Ok(Fetch {
        name: r.name.clone(),
        url: r.url.clone(),
        branch,
        old,
        new: commit,
        changed,
        dry_run,
    })
}

fn not_found(repo: &Repo, config: &Config, name: &str) -> RepoError {
    let mut names: Vec<String> = config.repositories.iter().map(|r| r.name.clone()).collect();
    if let Ok(refs) = sources::list(repo) {
        names.extend(refs.into_iter().map(|(n, _)| n));
    }
    RepoError::NotFound {
        name: name.to_owned(),
        suggestion: did_you_mean(name, names.iter().map(String::as_str)).map(str::to_owned),
    }
}

/// The user's own `ddx repo` command rewrote the config: if they trusted it as it was (`ddx
/// trust`), they trust what their command made of it. A config they had not trusted stays so.
pub(crate) fn keep_trust(repo: &Repo, before: Option<Vec<u8>>) {
    let file = crate::engine::actions::CONFIG_FILE;
    let dir = repo.ddx_dir();
    let mut ledger = crate::trust::Ledger::read(&dir);
    let Some(before) = before else { return };
    if ledger.status(file, &before) != crate::trust::Status::Trusted {
        return;
    }
    if let Ok(after) = std::fs::read(Config::path(repo.work_dir())) {
        ledger.trust(file, &after);
        if let Err(e) = ledger.write(&dir) {
            tracing::warn!("could not keep your trust in {file}: {e}");
        }
    }
}

/// Unregisters `name`: removes it from the config and deletes its source ref.
pub fn remove(repo: &Repo, name: &str, dry_run: bool) -> Result<Removed, RepoError> {
    let mut config = Config::load(repo.work_dir())?;
    let commit = if sources::validate_name(name).is_ok() {
        sources::get(repo, name)?
    } else {
        None
    };
    let position = config.repositories.iter().position(|r| r.name == name);
    if position.is_none() && commit.is_none() {
        return Err(not_found(repo, &config, name));
    }
    let removed = Removed {
        name: name.to_owned(),
        url: position.map(|i| config.repositories[i].url.clone()),
        commit,
        reference: sources::ref_name(name),
        dry_run,
    };
    if dry_run {
        return Ok(removed);
    }
    if let Some(id) = commit {
        sources::delete(repo, name, id)?;
    }
    if let Some(i) = position {
        config.repositories.remove(i);
        let before = std::fs::read(Config::path(repo.work_dir())).ok();
        if let Err(e) = config.save(repo.work_dir()) {
            if let Some(id) = commit {
                if let Err(e) = sources::set(repo, name, id, None, "ddx: undo remove") {
                    tracing::error!("could not put {} back: {e}", sources::ref_name(name));
                }
            }
            return Err(e.into());
        }
        keep_trust(repo, before);
    }
    let mut what = vec![("name", removed.name.clone())];
    what.extend(removed.url.clone().map(|u| ("url", u)));
    what.extend(removed.commit.map(|c| ("commit", c.to_string())));
    crate::engine::record_operation(
        repo,
        "repo-remove",
        format!("repo remove {}", removed.name),
        &what,
    );
    Ok(removed)
}

/// The registered repositories and fetched sources.
pub fn list(repo: &Repo) -> Result<Vec<Listed>, RepoError> {
    let config = Config::load(repo.work_dir())?;
    let refs = sources::list(repo)?;
    let count = |commit: Option<ObjectId>| {
        commit.and_then(|c| workflows_of(repo, c).ok().map(|(_, n)| n.len()))
    };
    let mut out: Vec<Listed> = config
        .repositories
        .iter()
        .map(|r| {
            let commit = refs.iter().find(|(n, _)| n == &r.name).map(|(_, c)| *c);
            Listed {
                name: r.name.clone(),
                url: Some(r.url.clone()),
                branch: r.branch.clone(),
                reference: sources::ref_name(&r.name),
                commit,
                workflows: count(commit),
                configured: true,
            }
        })
        .collect();
    for (name, commit) in refs {
        if config.repository(&name).is_none() {
            out.push(Listed {
                reference: sources::ref_name(&name),
                name,
                url: None,
                branch: None,
                commit: Some(commit),
                workflows: count(Some(commit)),
                configured: false,
            });
        }
    }
    Ok(out)
}
