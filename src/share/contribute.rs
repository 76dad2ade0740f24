//! `ddx contribute`: send the local version of a workflow back to its upstream as one commit on
//! a new branch there.
//!
//! The local version is `.ddx/local/workflows/<name>/` in the work tree, else the committed
//! `HEAD:.ddx/library/workflows/<name>/`. It must validate. The upstream (a registered
//! repository, or the library's upstream from `.ddx/config.yml`) is fetched without moving any
//! ref; the commit is built on its branch's tip with a tree that differs only in the workflow's
//! folder, and a message whose changelog comes from the diff of the two definitions and whose
//! credits come from the local commits that touched the folder. It is pushed to a branch that
//! must not exist yet (never the default branch, never forced).

use crate::config::{Config, ConfigError};
use crate::model::diag::did_you_mean;
use crate::model::load::{name_problem, DefinitionError};
use crate::model::{self, DirTree, FileTree, Workflow};
use crate::store::event::{self, Message, Sink};
use crate::store::git::{self, Credit, GitCommandError, Push};
use crate::store::library::{self, PROJECT_LIBRARY};
use crate::store::sources::{self, SourceError};
use crate::store::{GitTree, ObjectId, Repo, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why nothing was contributed.
#[derive(Debug, thiserror::Error)]
pub enum ContributeError {
    #[error("`{name}` cannot name a workflow: it {why}")]
    BadName { name: String, why: &'static str },
    #[error("there is no local workflow `{name}`: neither .ddx/local/workflows/{name}/ nor {PROJECT_LIBRARY}/{name}/ in HEAD")]
    NotFound {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{name} is invalid, so it was not contributed (nothing was pushed)")]
    Invalid {
        name: String,
        #[source]
        source: DefinitionError,
    },
    #[error("there is no upstream to contribute to")]
    NoUpstream,
    #[error("no repository named `{name}` is registered")]
    UnknownSource {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{branch}` cannot name a branch: {why}")]
    BadBranch { branch: String, why: &'static str },
    #[error("{url} already has a branch `{branch}`; nothing was pushed")]
    BranchExists { url: String, branch: String },
    #[error("`{branch}` is the branch {url} follows; contributions go to a new branch")]
    DefaultBranch { url: String, branch: String },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Git(#[from] GitCommandError),
}

/// What was added, changed and removed, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// Compares two maps of comparable values by key.
    fn between<V: PartialEq>(old: &BTreeMap<String, V>, new: &BTreeMap<String, V>) -> Changes {
        let mut c = Changes::default();
        for (k, v) in new {
            match old.get(k) {
                None => c.added.push(k.clone()),
                Some(o) if o != v => c.changed.push(k.clone()),
                Some(_) => {}
            }
        }
        c.removed = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect();
        c
    }
}

/// The changelog of a contribution, from the diff of the upstream and local definitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changelog {
    pub phases: Changes,
    /// Input gates and exit criteria, as `<phase>: <criterion>`.
    pub gates: Changes,
    /// Artifact templates, by path inside the workflow.
    pub templates: Changes,
    /// Every file, by path inside the workflow.
    pub files: Changes,
}

/// The outcome of `ddx contribute`. JSON field names are a contract: add, never rename.
#[derive(Debug, Clone, Serialize)]
pub struct Contributed {
    pub workflow: String,
    pub version: String,
    /// Where the local version was read (`.ddx/local/workflows/x`, `HEAD:.ddx/library/workflows/x`).
    pub local: String,
    pub url: String,
    /// The upstream branch the commit is built on.
    pub base_branch: String,
    /// Its tip, the new commit's parent.
    pub base: String,
    /// The workflow's folder upstream.
    pub path: String,
    /// The branch pushed (or, on a dry run, that would be).
    pub branch: String,
    pub commit: Option<String>,
    pub message: String,
    pub changelog: Changelog,
    pub credits: Vec<Credit>,
    /// The command that opens a pull (merge) request, when the host is known.
    pub pr_command: Option<String>,
    /// Uncommitted changes under the committed library folder, which are not contributed.
    pub uncommitted: Vec<String>,
    /// Upstream already has exactly this version: nothing to push.
    pub unchanged: bool,
    pub pushed: bool,
    pub dry_run: bool,
}

/// What `ddx contribute` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub workflow: &'a str,
    pub to: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub message: Option<&'a str>,
    pub dry_run: bool,
}

/// The local version of `name`: its files, a label and the path its history is under.
fn local_version(
    repo: &Repo,
    name: &str,
) -> Result<(Box<dyn FileTree>, String, String), ContributeError> {
    let local = format!("{}/{name}", crate::catalog::LOCAL_WORKFLOWS);
    let dir = repo.work_dir().join(&local);
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Ok((Box::new(DirTree::new(dir)), local.clone(), local));
    }
    let mut names = Vec::new();
    if let Some(lib) = library::project_library(repo)? {
        if let Some(id) = library::workflow_folder(repo, lib, name, false)? {
            let path = format!("{PROJECT_LIBRARY}/{name}");
            let label = format!("HEAD:{path}");
            return Ok((
                Box::new(GitTree::open(repo, id, label.clone())),
                label,
                path,
            ));
        }
        names.extend(
            library::workflow_folders(repo, lib, false)?
                .into_iter()
                .map(|(n, _)| n),
        );
    }
    if let Ok(entries) = std::fs::read_dir(repo.work_dir().join(crate::catalog::LOCAL_WORKFLOWS)) {
        names.extend(
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned)),
        );
    }
    Err(ContributeError::NotFound {
        name: name.to_owned(),
        suggestion: did_you_mean(name, names.iter().map(String::as_str)).map(str::to_owned),
    })
}

/// The upstream URL and branch: the registered repository `to`, else the library's upstream.
fn upstream(repo: &Repo, to: Option<&str>) -> Result<(String, Option<String>), ContributeError> {
    let config = Config::load(repo.work_dir())?;
    match to {
        Some(name) => match config.repository(name) {
            Some(r) => Ok((r.url.clone(), r.branch.clone())),
            None => Err(ContributeError::UnknownSource {
                name: name.to_owned(),
                suggestion: did_you_mean(name, config.repositories.iter().map(|r| r.name.as_str()))
                    .map(str::to_owned),
            }),
        },
        None => match config.library {
            Some(l) => Ok((l.url, l.branch)),
            None => Err(ContributeError::NoUpstream),
        },
    }
}

fn check_branch(branch: &str) -> Result<(), ContributeError> {
    let bad = |why| {
        Err(ContributeError::BadBranch {
            branch: branch.to_owned(),
            why,
        })
    };
    if branch.is_empty() || branch.starts_with('/') || branch.ends_with('/') {
        return bad("it is empty, or starts or ends with `/`");
    }
    for part in branch.split('/') {
        if sources::validate_name(part).is_err() {
            return bad("use letters, digits, `-`, `_`, `.` and `/` between parts");
        }
    }
    Ok(())
}

/// Contributes the local version of a workflow to its upstream.
pub fn contribute(repo: &Repo, opts: &Options<'_>) -> Result<Contributed, ContributeError> {
    let name = opts.workflow;
    if let Some(why) = name_problem(name) {
        return Err(ContributeError::BadName {
            name: name.to_owned(),
            why,
        });
    }
    let (tree, local, history_path) = local_version(repo, name)?;
    let wf = model::load_workflow(tree.as_ref()).map_err(|source| ContributeError::Invalid {
        name: name.to_owned(),
        source,
    })?;
    if let Some(b) = opts.branch {
        check_branch(b)?;
    }
    let (url, branch) = upstream(repo, opts.to)?;
    let dir = repo.work_dir().to_owned();
    // Objects only, no ref moves (a dry run too: the changelog needs upstream's tree).
    let fetched = sources::fetch(repo, &url, branch.as_deref(), false)?;
    let base = fetched.commit;
    let base_tree = library::commit_tree(repo, base)?;
    let (path, old) = upstream_folder(repo, base, base_tree, name)?;
    let sink = if opts.dry_run {
        Sink::HashOnly(repo)
    } else {
        Sink::Write(repo)
    };
    let folder = match tree.git_tree_id() {
        Some(id) => id,
        None => event::write_file_tree(sink, tree.as_ref())?.0,
    };
    let old_tree: Option<GitTree> = old.map(|id| GitTree::open(repo, id, format!("{url}:{path}")));
    // Upstream's own version may be invalid: the changelog then compares files only.
    let old_wf = old_tree.as_ref().and_then(|t| model::validate(t).workflow);
    let changelog = changelog(
        old_tree.as_ref().map(|t| t as &dyn FileTree),
        old_wf.as_ref(),
        tree.as_ref(),
        &wf,
    );
    let credits = git::credits(&dir, &[history_path.as_str()], None)?;
    let old_version = old_wf.map(|w| w.version);
    let subject = match (opts.message, old, old_version) {
        (Some(m), _, _) => m.to_owned(),
        (None, None, _) => format!("{name}: add workflow {}", wf.version),
        (None, Some(_), Some(v)) if v == wf.version => {
            format!("{name}: local changes to {}", wf.version)
        }
        (None, Some(_), _) => format!("{name}: update to {}", wf.version),
    };
    let mut message = Message::new(subject);
    message.body = body(&changelog, &credits, &history_path);
    let identity = repo.identity()?;
    let mut co_authors = BTreeSet::new();
    for c in &credits {
        if c.author != identity.actor() && co_authors.insert(c.author.clone()) {
            message.trailer("Co-authored-by", &c.author);
        }
    }
    let mut out = Contributed {
        workflow: name.to_owned(),
        version: wf.version.clone(),
        local,
        url: url.clone(),
        base_branch: fetched.branch.clone(),
        base: base.to_string(),
        path: path.clone(),
        branch: String::new(),
        commit: None,
        message: String::new(),
        changelog,
        credits,
        pr_command: None,
        uncommitted: if tree.git_tree_id().is_some() {
            git::status_of(&dir, &[history_path.as_str()])?
                .into_iter()
                .map(|l| l.get(3..).unwrap_or(&l).to_owned())
                .collect()
        } else {
            Vec::new()
        },
        unchanged: old == Some(folder),
        pushed: false,
        dry_run: opts.dry_run,
    };
    if out.unchanged {
        return Ok(out);
    }
    let new_root = library::replace_folder(sink, base_tree, &path, folder)?;
    let commit = library::write_commit_as_git_would(sink, &identity, &message, new_root, &[base])?;
    let branch = match opts.branch {
        Some(b) => b.to_owned(),
        None => format!("ddx/contribute/{name}-{}", commit.to_hex_with_len(8)),
    };
    check_branch(&branch)?;
    let remote = git::ls_remote(&dir, &url).map_err(|source| SourceError::Git {
        url: url.clone(),
        source,
    })?;
    let default = remote
        .iter()
        .find(|r| r.name == "HEAD")
        .and_then(|h| h.symref_target.clone());
    let full = format!("refs/heads/{branch}");
    if branch == fetched.branch || default.as_deref() == Some(full.as_str()) {
        return Err(ContributeError::DefaultBranch { url, branch });
    }
    if remote.iter().any(|r| r.name == full) {
        return Err(ContributeError::BranchExists { url, branch });
    }
    out.branch = branch.clone();
    out.commit = Some(commit.to_string());
    out.message = message.render();
    out.pr_command = pr_command(&url, &branch, &fetched.branch);
    if opts.dry_run {
        return Ok(out);
    }
    git::push_refs(
        &dir,
        &url,
        &[Push {
            name: &full,
            new: commit,
            expected: None,
        }],
    )
    .map_err(|source| match &source {
        GitCommandError::Failed { stderr, .. } if stderr.contains("stale info") => {
            ContributeError::BranchExists {
                url: url.clone(),
                branch: branch.clone(),
            }
        }
        _ => ContributeError::Git(source),
    })?;
    out.pushed = true;
    crate::engine::record_operation(
        repo,
        "contribute",
        format!("contribute {name} to {url} {branch}"),
        &[
            ("workflow", name.to_owned()),
            ("url", url.clone()),
            ("branch", branch.clone()),
            ("base", base.to_string()),
            ("commit", commit.to_string()),
        ],
    );
    Ok(out)
}

/// Where `name` lives in upstream's tree, and its folder there: the first of `workflows/`,
/// `library/workflows/` and the root that has it, else (a new workflow) where upstream keeps
/// its workflows.
fn upstream_folder(
    repo: &Repo,
    base: ObjectId,
    base_tree: ObjectId,
    name: &str,
) -> Result<(String, Option<ObjectId>), ContributeError> {
    for (root, needs_yml) in [
        ("workflows", false),
        ("library/workflows", false),
        ("", true),
    ] {
        let tree = if root.is_empty() {
            Some(base_tree)
        } else {
            library::subtree(repo, base_tree, root)?
        };
        let Some(tree) = tree else { continue };
        if let Some(id) = library::workflow_folder(repo, tree, name, needs_yml)? {
            let path = if root.is_empty() {
                name.to_owned()
            } else {
                format!("{root}/{name}")
            };
            return Ok((path, Some(id)));
        }
    }
    let root = sources::workflows_root(repo, base)?;
    let path = if root.path.is_empty() {
        name.to_owned()
    } else {
        format!("{}/{name}", root.path)
    };
    Ok((path, None))
}

/// The commit message body: the changelog, then the local commits credited.
fn body(changelog: &Changelog, credits: &[Credit], local: &str) -> String {
    let mut s = String::new();
    let mut section = |title: &str, c: &Changes| {
        if c.is_empty() {
            return;
        }
        s.push_str(title);
        s.push_str(":\n");
        for (verb, items) in [
            ("added", &c.added),
            ("changed", &c.changed),
            ("removed", &c.removed),
        ] {
            for i in items {
                s.push_str(&format!("- {verb}: {}\n", event::one_line(i)));
            }
        }
        s.push('\n');
    };
    section("Phases", &changelog.phases);
    section("Gates", &changelog.gates);
    section("Templates", &changelog.templates);
    if changelog.phases.is_empty() && changelog.gates.is_empty() && changelog.templates.is_empty() {
        section("Files", &changelog.files);
    }
    if credits.is_empty() {
        s.push_str(&format!("Contributed from {local} with ddx.\n"));
    } else {
        s.push_str(&format!("Local commits to {local}:\n"));
        for c in credits {
            let short = c.commit.get(..12).unwrap_or(&c.commit);
            s.push_str(&format!("- {} ({}, {short})\n", c.subject, c.author));
        }
    }
    s
}

/// Every file of `tree` with its bytes.
fn files_of(tree: &dyn FileTree) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for f in tree.files().unwrap_or_default() {
        if let Ok(Some(bytes)) = tree.read(&f) {
            out.insert(f, bytes);
        }
    }
    out
}

/// Phases by id, as their definitions serialise.
fn phases_of(wf: &Workflow) -> BTreeMap<String, serde_json::Value> {
    wf.phases
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            // Artifacts and gates have their own sections: a phase changed is its own fields.
            if let Some(m) = v.as_object_mut() {
                for k in ["artifacts", "input_gates", "exit_criteria"] {
                    m.remove(k);
                }
            }
            (p.id.clone(), v)
        })
        .collect()
}

fn gates_of(wf: &Workflow) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for p in &wf.phases {
        for (kind, list) in [("input", &p.input_gates), ("exit", &p.exit_criteria)] {
            for c in list {
                out.insert(
                    format!("{} {kind}: {}", p.id, c.criteria),
                    serde_json::to_value(c).unwrap_or_default(),
                );
            }
        }
    }
    out
}

fn template_paths(wf: &Workflow) -> BTreeSet<String> {
    wf.phases
        .iter()
        .flat_map(|p| &p.artifacts)
        .flat_map(|a| a.template.iter().chain(&a.extra_templates))
        .cloned()
        .collect()
}

/// The changelog from `old` (upstream's files and definition, if it has them) to `new`.
fn changelog(
    old: Option<&dyn FileTree>,
    old_wf: Option<&Workflow>,
    new: &dyn FileTree,
    wf: &Workflow,
) -> Changelog {
    let old_files = old.map(files_of).unwrap_or_default();
    let new_files = files_of(new);
    let (old_phases, old_gates) = match old_wf {
        Some(w) => (phases_of(w), gates_of(w)),
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    let old_templates = old_wf.map(template_paths).unwrap_or_default();
    let new_templates = template_paths(wf);
    let pick = |files: &BTreeMap<String, Vec<u8>>, paths: &BTreeSet<String>| {
        files
            .iter()
            .filter(|(p, _)| paths.contains(*p))
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    Changelog {
        phases: Changes::between(&old_phases, &phases_of(wf)),
        gates: Changes::between(&old_gates, &gates_of(wf)),
        templates: Changes::between(
            &pick(&old_files, &old_templates),
            &pick(&new_files, &new_templates),
        ),
        files: Changes::between(&old_files, &new_files),
    }
}

/// The command that opens a pull request for `branch` on GitHub, or a merge request on GitLab.
pub fn pr_command(url: &str, branch: &str, base: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let cut = rest.find(['/', ':'])?;
    let host = rest[..cut].to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or(&host);
    let mut path = rest[cut + 1..].trim_matches('/');
    // `host:port/owner/repo` in an ssh:// URL.
    if rest[cut..].starts_with(':') {
        if let Some((port, p)) = path.split_once('/') {
            if port.chars().all(|c| c.is_ascii_digit()) {
                path = p;
            }
        }
    }
    let path = path.strip_suffix(".git").unwrap_or(path);
    if path.split('/').filter(|p| !p.is_empty()).count() < 2 {
        return None;
    }
    match host {
        "github.com" => Some(format!(
            "gh pr create --repo {path} --head {branch} --base {base} --fill"
        )),
        "gitlab.com" => Some(format!(
            "glab mr create --repo {path} --source-branch {branch} --target-branch {base} --fill"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_commands_for_known_hosts_only() {
        for url in [
            "https://github.com/acme/library.git",
            "git@github.com:acme/library.git",
            "ssh://git@github.com/acme/library",
        ] {
            assert_eq!(
                pr_command(url, "ddx/contribute/x-1", "main").as_deref(),
                Some(
                    "gh pr create --repo acme/library --head ddx/contribute/x-1 --base main --fill"
                ),
                "{url}"
            );
        }
        assert_eq!(
            pr_command("https://gitlab.com/acme/tools/library.git", "b", "trunk").as_deref(),
            Some("glab mr create --repo acme/tools/library --source-branch b --target-branch trunk --fill")
        );
        assert_eq!(pr_command("/srv/library.git", "b", "main"), None);
        assert_eq!(pr_command("https://example.com/a/b.git", "b", "main"), None);
        assert_eq!(pr_command("https://github.com/acme", "b", "main"), None);
    }

    #[test]
    fn changes_compare_by_key() {
        let old: BTreeMap<String, i32> = [("a".into(), 1), ("b".into(), 2)].into();
        let new: BTreeMap<String, i32> = [("b".into(), 3), ("c".into(), 4)].into();
        assert_eq!(
            Changes::between(&old, &new),
            Changes {
                added: vec!["c".into()],
                changed: vec!["b".into()],
                removed: vec!["a".into()],
            }
        );
    }
}
