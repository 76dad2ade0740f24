//! Git hooks: one-line shims that call `ddx hooks run <hook>`, installed beside the user's own.
//!
//! The shim (`hooks/shim.sh`) sits between marker lines, so ddx recognises its own hooks. A hook
//! the user already had is moved aside to `<hook>.ddx-chained` and run first by
//! `ddx hooks run`, with the same arguments and standard input; uninstalling moves it back,
//! byte for byte. Installing twice changes nothing.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The hooks ddx installs.
pub const HOOKS: [&str; 4] = ["pre-commit", "commit-msg", "post-commit", "pre-push"];

/// Suffix of a user's hook that ddx moved aside and chains to.
pub const CHAINED_SUFFIX: &str = ".ddx-chained";

const SHIM: &str = include_str!("../hooks/shim.sh");
const BEGIN: &str = "# >>> ddx hooks >>>";

/// What went wrong with a hook file.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{0}` is not a hook ddx manages (pre-commit, commit-msg, post-commit, pre-push)")]
    Unknown(String),
    #[error("{} already exists, so the hook there cannot be moved aside", path.display())]
    ChainedExists { path: PathBuf },
    #[error("cannot update {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HookError + '_ {
    move |source| HookError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The shim for `hook`, with `ddx_path` as the fallback when `ddx` is not on PATH.
pub fn shim(hook: &str, ddx_path: &str) -> String {
    SHIM.replace("@HOOK@", hook).replace("@DDX@", ddx_path)
}

/// Is this file content a ddx shim?
pub fn is_ours(content: &[u8]) -> bool {
    String::from_utf8_lossy(content).contains(BEGIN)
}

/// How one hook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookState {
    /// The ddx shim is installed.
    Installed,
    /// The ddx shim is installed and runs the user's own hook first.
    Chained,
    /// No hook.
    Missing,
    /// The user's own hook, without ddx.
    Foreign,
}

/// One hook's state, for `ddx hooks status`.
#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    pub hook: &'static str,
    pub path: String,
    pub state: HookState,
}

/// What install or uninstall did (or, in a dry run, would do) to one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookChange {
    Installed,
    /// The user's hook was moved aside and is chained.
    InstalledChained,
    /// The shim was rewritten (a newer shim, another ddx path).
    Updated,
    Unchanged,
    Removed,
    /// The user's hook was put back.
    Restored,
    /// Nothing of ddx's was there.
    NotInstalled,
}

impl HookChange {
    pub fn changes(self) -> bool {
        !matches!(self, HookChange::Unchanged | HookChange::NotInstalled)
    }
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, HookError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn chained_path(dir: &Path, hook: &str) -> PathBuf {
    dir.join(format!("{hook}{CHAINED_SUFFIX}"))
}

/// The state of every hook in `dir`.
pub fn status(dir: &Path) -> Result<Vec<HookStatus>, HookError> {
    HOOKS
        .iter()
        .map(|&hook| {
            let path = dir.join(hook);
            let state = match read(&path)? {
                None => HookState::Missing,
                Some(c) if is_ours(&c) => {
                    if chained_path(dir, hook).exists() {
                        HookState::Chained
                    } else {
                        HookState::Installed
                    }
                }
                Some(_) => HookState::Foreign,
            };
            Ok(HookStatus {
                hook,
                path: path.display().to_string(),
                state,
            })
        })
        .collect()
}

fn write_executable(path: &Path, content: &str) -> Result<(), HookError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(path))?;
    std::io::Write::write_all(&mut tmp, content.as_bytes()).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(io(path))?;
    }
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// Installs the shims into `dir`; with `dry_run`, only says what it would do.
pub fn install(
    dir: &Path,
    ddx_path: &str,
    dry_run: bool,
) -> Result<Vec<(&'static str, HookChange)>, HookError> {
    let mut changes = Vec::new();
    // Check everything first, so a refusal leaves every hook as it was.
    for hook in HOOKS {
        let path = dir.join(hook);
        if let Some(c) = read(&path)? {
            if !is_ours(&c) && chained_path(dir, hook).exists() {
                return Err(HookError::ChainedExists {
                    path: chained_path(dir, hook),
                });
            }
        }
    }
    for hook in HOOKS {
        let path = dir.join(hook);
        let wanted = shim(hook, ddx_path);
        let change = match read(&path)? {
            Some(c) if c == wanted.as_bytes() => HookChange::Unchanged,
            Some(c) if is_ours(&c) => HookChange::Updated,
            Some(_) => HookChange::InstalledChained,
            None => HookChange::Installed,
        };
        if !dry_run {
            if change == HookChange::InstalledChained {
                let aside = chained_path(dir, hook);
                std::fs::rename(&path, &aside).map_err(io(&aside))?;
            }
            if change.changes() {
                write_executable(&path, &wanted)?;
            }
        }
        changes.push((hook, change));
    }
    Ok(changes)
}

/// Removes the shims from `dir`, putting back the hooks they chained.
pub fn uninstall(dir: &Path, dry_run: bool) -> Result<Vec<(&'static str, HookChange)>, HookError> {
    let mut changes = Vec::new();
    for hook in HOOKS {
        let path = dir.join(hook);
        let aside = chained_path(dir, hook);
        let change = match read(&path)? {
            Some(c) if is_ours(&c) => {
                if aside.exists() {
                    HookChange::Restored
                } else {
                    HookChange::Removed
                }
            }
            _ => HookChange::NotInstalled,
        };
        if !dry_run {
            match change {
                HookChange::Restored => std::fs::rename(&aside, &path).map_err(io(&path))?,
                HookChange::Removed => std::fs::remove_file(&path).map_err(io(&path))?,
                _ => {}
            }
        }
        changes.push((hook, change));
    }
    Ok(changes)
}

/// [`install`], with what changed recorded in `repo`'s audit chain (`hooks-install`).
pub fn install_recorded(
    repo: &crate::store::Repo,
    dir: &Path,
    ddx_path: &str,
    dry_run: bool,
) -> Result<Vec<(&'static str, HookChange)>, HookError> {
    let changes = install(dir, ddx_path, dry_run)?;
    record_changes(repo, "hooks-install", dir, &changes, dry_run);
    Ok(changes)
}

/// [`uninstall`], with what changed recorded in `repo`'s audit chain (`hooks-uninstall`).
pub fn uninstall_recorded(
    repo: &crate::store::Repo,
    dir: &Path,
    dry_run: bool,
) -> Result<Vec<(&'static str, HookChange)>, HookError> {
    let changes = uninstall(dir, dry_run)?;
    record_changes(repo, "hooks-uninstall", dir, &changes, dry_run);
    Ok(changes)
}

/// Records an install or uninstall that changed anything in the audit chain.
fn record_changes(
    repo: &crate::store::Repo,
    operation: &str,
    dir: &Path,
    changes: &[(&str, HookChange)],
    dry_run: bool,
) {
    let changed: Vec<&str> = changes
        .iter()
        .filter(|(_, c)| c.changes())
        .map(|(h, _)| *h)
        .collect();
    if dry_run || changed.is_empty() {
        return;
    }
    crate::engine::record_operation(
        repo,
        operation,
        format!("{} {}", operation.replace('-', " "), changed.join(", ")),
        &[
            ("hooks", changed.join(", ")),
            ("hooks_dir", dir.display().to_string()),
        ],
    );
}

/// Runs the user's own hook that ddx chained, if any, with `args` and `stdin`.
/// Returns its exit code (`None`: there is none).
pub fn run_chained(
    dir: &Path,
    hook: &str,
    args: &[String],
    stdin: &[u8],
    work_dir: &Path,
) -> Result<Option<i32>, HookError> {
    let path = chained_path(dir, hook);
    if !path.is_file() {
        return Ok(None);
    }
    let mut child = std::process::Command::new(&path)
        .args(args)
        .current_dir(work_dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(io(&path))?;
    if let Some(mut input) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = std::io::Write::write_all(&mut input, stdin);
    }
    let status = child.wait().map_err(io(&path))?;
    Ok(Some(status.code().unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_chains_and_uninstall_restores_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mine = b"#!/bin/sh\necho mine\n";
        std::fs::write(dir.path().join("pre-commit"), mine).unwrap();
        let changes = install(dir.path(), "/usr/bin/ddx", false).unwrap();
        assert_eq!(changes[0], ("pre-commit", HookChange::InstalledChained));
        assert_eq!(changes[1], ("commit-msg", HookChange::Installed));
        assert_eq!(
            std::fs::read(dir.path().join("pre-commit.ddx-chained")).unwrap(),
            mine
        );
        let st = status(dir.path()).unwrap();
        assert_eq!(st[0].state, HookState::Chained);
        assert_eq!(st[1].state, HookState::Installed);
        // A second install changes nothing.
        let again = install(dir.path(), "/usr/bin/ddx", false).unwrap();
        assert!(again.iter().all(|(_, c)| *c == HookChange::Unchanged));
        let removed = uninstall(dir.path(), false).unwrap();
        assert_eq!(removed[0], ("pre-commit", HookChange::Restored));
        assert_eq!(std::fs::read(dir.path().join("pre-commit")).unwrap(), mine);
        assert!(!dir.path().join("commit-msg").exists());
        assert!(!dir.path().join("pre-commit.ddx-chained").exists());
    }

    #[test]
    fn dry_run_touches_nothing_and_a_taken_backup_name_refuses_all() {
        let dir = tempfile::tempdir().unwrap();
        let changes = install(dir.path(), "ddx", true).unwrap();
        assert!(changes.iter().all(|(_, c)| *c == HookChange::Installed));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(dir.path().join("pre-push"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("pre-push.ddx-chained"), "#!/bin/sh\n").unwrap();
        assert!(matches!(
            install(dir.path(), "ddx", false),
            Err(HookError::ChainedExists { .. })
        ));
        assert!(
            !dir.path().join("pre-commit").exists(),
            "nothing installed after a refusal"
        );
    }
}

/// Why a hook could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum HookRunError {
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An instance whose phases guard commits: running, with phases in progress.
pub struct Active {
    pub id: String,
    pub workflow: crate::model::Workflow,
    pub state: crate::engine::state::State,
    /// Ids of the phases in progress.
    pub phases: Vec<String>,
}

/// What a hook run decided: whether git may go on, and what to tell the user (on stderr).
#[derive(Debug, Default)]
pub struct HookRun {
    pub passed: bool,
    pub message: String,
}

impl HookRun {
    fn pass(message: String) -> HookRun {
        HookRun {
            passed: true,
            message,
        }
    }
    fn refuse(message: String) -> HookRun {
        HookRun {
            passed: false,
            message,
        }
    }
}

/// Runs git hook `hook` (what the shims call): the hook it chained first, then ddx's part —
/// pre-commit judges the staged change against the active phases, commit-msg adds trailers,
/// post-commit records notes (and a bypass), pre-push verifies before `refs/ddx/*` is shared.
/// `args` and `stdin` are what git gave the hook.
pub fn run(
    repo: &crate::store::Repo,
    dir: &Path,
    hook: &str,
    args: &[String],
    stdin: &[u8],
) -> Result<HookRun, HookRunError> {
    if !HOOKS.contains(&hook) {
        return Err(HookError::Unknown(hook.to_owned()).into());
    }
    if let Some(code) = run_chained(dir, hook, args, stdin, repo.work_dir())? {
        if code != 0 {
            return Ok(HookRun::refuse(format!(
                "ddx: your own {hook} hook failed (exit {code})\n"
            )));
        }
    }
    let mut message = String::new();
    let head = || repo.project_commit();
    match hook {
        "pre-commit" => {
            let marked = conflict_markers(repo)?;
            if !marked.is_empty() {
                return Ok(HookRun::refuse(conflict_message(&marked)));
            }
            let active = active_instances(repo)?;
            // Without an active instance there is nothing to judge, and no bypass to notice
            // (post-commit records one only while an instance is active): no marker either.
            if active.is_empty() {
                return Ok(HookRun::pass(message));
            }
            let violations = pre_commit(repo, &active)?;
            if !violations.is_empty() {
                for v in &violations {
                    tracing::warn!(instance = %v.instance, phase = %v.phase, rule = %v.rule, "commit refused: {}", v.detail);
                }
                return Ok(HookRun::refuse(refusal_message(&violations)));
            }
            mark_passed(repo, head())?;
            Ok(HookRun::pass(message))
        }
        "commit-msg" => {
            let Some(file) = args.first() else {
                return Ok(HookRun::pass(message));
            };
            let active = active_instances(repo)?;
            if active.is_empty() {
                return Ok(HookRun::pass(message));
            }
            let path = repo.work_dir().join(file);
            let path = if std::path::Path::new(file).is_absolute() {
                std::path::PathBuf::from(file)
            } else {
                path
            };
            let text = std::fs::read_to_string(&path).map_err(|source| HookRunError::Io {
                path: path.clone(),
                source,
            })?;
            if let Some(new) = add_trailers(&text, &active) {
                std::fs::write(&path, new).map_err(|source| HookRunError::Io {
                    path: path.clone(),
                    source,
                })?;
            }
            Ok(HookRun::pass(message))
        }
        "post-commit" => {
            let Some(head) = head() else {
                return Ok(HookRun::pass(message));
            };
            let commit = repo.read_commit(head)?;
            let text = commit.message;
            let parent = commit.parents.first().copied();
            let passed = take_passed(repo, parent);
            let mut pairs = trailers(&text);
            let active = active_instances(repo)?;
            if pairs.is_empty() {
                pairs = active
                    .iter()
                    .map(|a| (a.id.clone(), a.phases.join(", ")))
                    .collect();
            }
            // A bypass: the pre-commit hook did not pass this commit while an instance was
            // active. Recorded first, so that the note names the audit entry that records it.
            let bypassed = !passed && !active.is_empty();
            if bypassed {
                let short = head.to_hex_with_len(12).to_string();
                crate::engine::record_operation(
                    repo,
                    "bypass",
                    format!("commit {short} was made without the pre-commit hook"),
                    &[
                        ("commit", head.to_string()),
                        (
                            "instances",
                            active
                                .iter()
                                .map(|a| a.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        (
                            "phase",
                            active
                                .iter()
                                .flat_map(|a| a.phases.iter().map(String::as_str))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        (
                            "deviation",
                            "committed with --no-verify: the phase rules were not checked"
                                .to_owned(),
                        ),
                    ],
                );
                tracing::warn!(commit = %head, "commit made without the pre-commit hook (--no-verify)");
                message.push_str(&format!(
                    "ddx: {} was committed without the pre-commit hook; recorded as a bypass\n",
                    head.to_hex_with_len(12)
                ));
            }
            let audit = crate::store::refs::read(repo, "refs/ddx/audit")?.map(|a| a.to_string());
            for (instance, phase) in &pairs {
                let mut line: serde_json::Value =
                    serde_json::from_str(&note_line(instance, phase, audit.as_deref()))
                        .expect("note_line writes a JSON object");
                if bypassed {
                    line["bypass"] = serde_json::Value::Bool(true);
                }
                crate::store::notes::append(repo, head, &line.to_string())?;
            }
            Ok(HookRun::pass(message))
        }
        "pre-push" => {
            let text = String::from_utf8_lossy(stdin);
            let pushes_ddx = text.lines().any(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|r| r.starts_with("refs/ddx/"))
            });
            let has_ddx = !crate::store::refs::instance_ids(repo)?.is_empty();
            if has_ddx {
                let verification = crate::observe::verify::verify(
                    repo,
                    crate::observe::verify::VerifyOptions {
                        record: true,
                        all_signatures: false,
                    },
                );
                // A verification that cannot run does not stop the push; it says so.
                let breaks = match verification {
                    Ok(v) => v.breaks,
                    Err(e) => {
                        message.push_str(&format!(
                            "ddx: could not verify the workflow history: {e}\n"
                        ));
                        Vec::new()
                    }
                };
                if let Some(first) = breaks.first() {
                    let at = first
                        .commit
                        .as_deref()
                        .map(|c| format!(" at {}", &c[..c.len().min(12)]))
                        .unwrap_or_default();
                    message.push_str(&format!(
                        "ddx: the workflow history is broken ({} break{}); first: {}{at}: {}\n  `ddx audit verify` names every break\n",
                        breaks.len(),
                        if breaks.len() == 1 { "" } else { "s" },
                        first.reference,
                        first.problem
                    ));
                    if pushes_ddx {
                        message.push_str("ddx: refusing to share refs/ddx/* while they do not verify; to push anyway: git push --no-verify\n");
                        return Ok(HookRun::refuse(message));
                    }
                }
            }
            if has_ddx && !pushes_ddx {
                message.push_str(&unshared_hint(
                    repo,
                    args.first().map_or("origin", String::as_str),
                ));
            }
            Ok(HookRun::pass(message))
        }
        _ => Ok(HookRun::pass(message)),
    }
}

/// What pre-push says when the workflow state is not shared with `remote` (a remote's name, or
/// the URL git was given): nothing once everything is (as of the last `ddx sync` or fetch).
fn unshared_hint(repo: &crate::store::Repo, remote: &str) -> String {
    if !repo.remote_names().iter().any(|r| r == remote) {
        return format!(
            "ddx: the workflow state in refs/ddx is shared through a named remote: `git remote add <name> {remote}`, then `ddx sync <name>`\n"
        );
    }
    match crate::share::sync::unshared(repo, remote) {
        Ok(0) => String::new(),
        Ok(n) => format!(
            "ddx: {n} workflow ref{} not shared with {remote} yet; `ddx sync {remote}` shares {} (it joins what others pushed and never forces)\n",
            if n == 1 { " is" } else { "s are" },
            if n == 1 { "it" } else { "them" }
        ),
        Err(e) => format!("ddx: could not tell whether the workflow state is shared with {remote}: {e}\n"),
    }
}

/// Every instance that is running with at least one phase in progress. Cheap when there are
/// no instances: one directory listing.
pub fn active_instances(repo: &crate::store::Repo) -> Result<Vec<Active>, HookRunError> {
    use crate::engine::state::{InstanceStatus, PhaseStatus};
    let mut out = Vec::new();
    for id in crate::store::refs::instance_ids(repo)? {
        let (tip, state) = crate::engine::load(repo, &id)?;
        if !matches!(
            state.status,
            InstanceStatus::Running | InstanceStatus::Pending
        ) {
            continue;
        }
        let phases: Vec<String> = state
            .phases
            .iter()
            .filter(|p| p.status == PhaseStatus::InProgress)
            .map(|p| p.id.clone())
            .collect();
        if phases.is_empty() {
            continue;
        }
        let workflow = crate::engine::load_pinned(repo, &id, &tip)?;
        out.push(Active {
            id,
            workflow,
            state,
            phases,
        });
    }
    Ok(out)
}

/// One rule a commit breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub instance: String,
    pub phase: String,
    /// `protected_paths`, `allowed_paths`, or the criterion's text.
    pub rule: String,
    pub detail: String,
}

fn glob_set(globs: &[String]) -> Option<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        // Invalid globs were reported by `ddx workflow validate`; here they match nothing.
        if let Ok(glob) = globset::GlobBuilder::new(g).literal_separator(true).build() {
            b.add(glob);
        }
        // `dir/` and `dir` also cover everything below.
        let dir = g.trim_end_matches('/');
        if !dir.contains(['*', '?', '[', '{']) {
            if let Ok(glob) = globset::GlobBuilder::new(&format!("{dir}/**"))
                .literal_separator(true)
                .build()
            {
                b.add(glob);
            }
        }
    }
    b.build().ok()
}

/// The literal directory part of a check path (what must be staged for the check to see).
fn literal_prefix(path: &str) -> String {
    path.split('#')
        .next()
        .unwrap_or(path)
        .split('/')
        .take_while(|p| !p.contains(['*', '?', '[', '{']))
        .collect::<Vec<_>>()
        .join("/")
}

/// Judges the index being committed against the phases in progress.
pub fn pre_commit(
    repo: &crate::store::Repo,
    active: &[Active],
) -> Result<Vec<Violation>, HookRunError> {
    use crate::engine::checks::{self, CheckContext, Committed};
    use crate::model::Check;
    let staged = crate::store::staged::Staged::read(repo)?;
    let mut violations = Vec::new();
    for a in active {
        for phase_id in &a.phases {
            let Some(phase) = a.workflow.phase(phase_id) else {
                continue;
            };
            let allowed = (!phase.allowed_paths.is_empty())
                .then(|| glob_set(&phase.allowed_paths))
                .flatten();
            let protected = (!phase.protected_paths.is_empty())
                .then(|| glob_set(&phase.protected_paths))
                .flatten();
            for path in &staged.changed {
                if let Some(p) = &protected {
                    if p.is_match(path) {
                        violations.push(Violation {
                            instance: a.id.clone(),
                            phase: phase_id.clone(),
                            rule: format!("protected_paths: {}", phase.protected_paths.join(", ")),
                            detail: format!(
                                "{path} is protected while phase `{phase_id}` is in progress"
                            ),
                        });
                        continue;
                    }
                }
                if let Some(al) = &allowed {
                    if !al.is_match(path) {
                        violations.push(Violation {
                            instance: a.id.clone(),
                            phase: phase_id.clone(),
                            rule: format!("allowed_paths: {}", phase.allowed_paths.join(", ")),
                            detail: format!("{path} is outside what phase `{phase_id}` allows"),
                        });
                    }
                }
            }
            // Criteria checked at commit time, against what is staged.
            let at_commit: Vec<_> = phase
                .input_gates
                .iter()
                .chain(&phase.exit_criteria)
                .filter(|c| c.on_commit && c.required)
                .collect();
            if at_commit.is_empty() {
                continue;
            }
            let scratch = scratch_dir().map_err(|source| HookRunError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            let vars = serde_json::to_value(&a.state.variables).unwrap_or_default();
            for c in at_commit {
                let failure = match &c.check {
                    None => {
                        let approved = a
                            .state
                            .phases
                            .iter()
                            .find(|p| &p.id == phase_id)
                            .and_then(|p| p.criteria.iter().find(|s| s.criteria == c.criteria))
                            .is_some_and(|s| s.approval.is_some());
                        (!approved).then(|| {
                            format!(
                                "needs approval: ddx gate approve {phase_id} \"{}\"",
                                c.criteria
                            )
                        })
                    }
                    Some(check) => {
                        let target = match check {
                            Check::FileExists { path }
                            | Check::Pattern { path, .. }
                            | Check::UniqueIds { path, .. }
                            | Check::Committed { path }
                            | Check::Filled { path } => literal_prefix(path),
                            Check::GlobCount { glob, .. } => literal_prefix(glob),
                            _ => String::new(),
                        };
                        staged.materialize(repo, &target, scratch.path())?;
                        let done = |p: &str| {
                            a.state.phases.iter().any(|s| {
                                s.id == p
                                    && s.status == crate::engine::state::PhaseStatus::Completed
                            })
                        };
                        let committed = |_: &str| Ok(Committed::Clean);
                        // A staged file that is still what ddx rendered for an artifact.
                        let as_rendered = |rel: &str| {
                            let r = a.state.files.get(rel)?;
                            let data = std::fs::read(scratch.path().join(rel)).ok()?;
                            let now = crate::store::worktree::blob_id(repo, &data).to_string();
                            (r.by.starts_with("artifact ") && r.after.as_deref() == Some(&now))
                                .then(|| r.by.clone())
                        };
                        let cx = CheckContext {
                            work_dir: scratch.path(),
                            variables: &vars,
                            phase_completed: &done,
                            committed: &committed,
                            as_rendered: &as_rendered,
                            // Commands are not run from a hook: a commit must stay quick.
                            allow_commands: false,
                            // Only the summary is used, which quotes no line.
                            quote: false,
                            // The scratch tree holds only staged files.
                            ignored: &|_, _| false,
                            files: None,
                        };
                        let outcome = checks::evaluate(check, &cx);
                        (!outcome.passed).then_some(outcome.summary)
                    }
                };
                if let Some(detail) = failure {
                    violations.push(Violation {
                        instance: a.id.clone(),
                        phase: phase_id.clone(),
                        rule: c.criteria.clone(),
                        detail,
                    });
                }
            }
        }
    }
    Ok(violations)
}

/// A scratch folder for the staged files a commit-time check reads: in memory (`/dev/shm`) where
/// there is one, since creating and removing files on a busy disk was most of a hook's time;
/// else in the temporary directory.
fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new().prefix("ddx-hook-").tempdir_in(shm) {
            return Ok(dir);
        }
    }
    tempfile::Builder::new().prefix("ddx-hook-").tempdir()
}

/// The files ddx merged with conflicts (`ddx workflow set`, `ddx workflow upgrade`) that the
/// commit would record with conflict markers still in them. Paths resolved both in the index
/// and in the work tree are forgotten.
pub fn conflict_markers(repo: &crate::store::Repo) -> Result<Vec<String>, HookRunError> {
    use crate::engine::upgrade;
    use crate::store::merge::has_conflict_markers;
    let listed = upgrade::conflicted(repo);
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let staged = crate::store::staged::Staged::read(repo)?;
    let mut marked = Vec::new();
    let mut open = std::collections::BTreeSet::new();
    for path in listed {
        let in_index = staged.staged_blob(repo, &path)?;
        let in_tree = std::fs::read(repo.work_dir().join(&path)).ok();
        let index_marked = in_index.as_deref().is_some_and(has_conflict_markers);
        if index_marked && staged.changed.contains(&path) {
            marked.push(path.clone());
        }
        let tree_marked = in_tree.as_deref().is_some_and(has_conflict_markers);
        if index_marked || tree_marked || in_index.is_none() && in_tree.is_some() {
            open.insert(path);
        }
    }
    if let Err(e) = upgrade::write_conflicts(repo, &open) {
        tracing::warn!("cannot update the list of conflicted files: {e}");
    }
    Ok(marked)
}

/// Why a commit with conflict markers is refused, and the way forward.
pub fn conflict_message(paths: &[String]) -> String {
    let mut text = String::from("ddx: this commit would record unresolved conflicts\n");
    for p in paths {
        text.push_str(&format!(
            "  {p} still has conflict markers (<<<<<<<, =======, >>>>>>>) from a ddx merge\n"
        ));
    }
    text.push_str("Ways forward:\n");
    text.push_str(
        "  - resolve each conflict (edit the file or `git mergetool`), then `git add` it\n",
    );
    text.push_str(
        "  - or commit anyway: git commit --no-verify (ddx records the commit in its audit as a bypass)\n",
    );
    text
}

/// The message that explains a refused commit, and the ways forward.
pub fn refusal_message(violations: &[Violation]) -> String {
    let mut text =
        String::from("ddx: this commit breaks the rules of the workflow phase in progress\n");
    for v in violations {
        text.push_str(&format!(
            "  [{} / phase {}] {}: {}\n",
            v.instance, v.phase, v.rule, v.detail
        ));
    }
    let phases: std::collections::BTreeSet<(&str, &str)> = violations
        .iter()
        .map(|v| (v.instance.as_str(), v.phase.as_str()))
        .collect();
    text.push_str("Ways forward:\n");
    for (instance, phase) in phases {
        text.push_str(&format!(
            "  - finish the phase: ddx phase complete {phase} -i {instance}   (then ddx phase start <next>)\n"
        ));
    }
    text.push_str("  - or unstage those paths: git restore --staged <path>\n");
    text.push_str(
        "  - or commit anyway: git commit --no-verify (ddx records the commit in its audit as a bypass)\n",
    );
    text
}

/// Where pre-commit leaves word for post-commit that it ran and passed.
pub fn pass_marker(repo: &crate::store::Repo) -> PathBuf {
    repo.ddx_dir().join("hooks").join("pre-commit-passed")
}

/// Records that pre-commit passed for a commit on top of `head` (`none` before the first).
pub fn mark_passed(
    repo: &crate::store::Repo,
    head: Option<crate::store::ObjectId>,
) -> Result<(), HookRunError> {
    let path = pass_marker(repo);
    let io = |source| HookRunError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(
        &path,
        head.map_or_else(|| "none".to_owned(), |h| h.to_string()),
    )
    .map_err(io)
}

/// Did pre-commit pass for the commit whose first parent is `parent`? Consumes the marker.
pub fn take_passed(repo: &crate::store::Repo, parent: Option<crate::store::ObjectId>) -> bool {
    let path = pass_marker(repo);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    let _ = std::fs::remove_file(&path);
    text.trim() == parent.map_or_else(|| "none".to_owned(), |h| h.to_string())
}

/// Adds `Ddx-Instance`/`Ddx-Phase` trailers for the active instances to a commit message,
/// once. Returns the new message, or `None` when it already has them.
pub fn add_trailers(message: &str, active: &[Active]) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    for a in active {
        let instance = format!("Ddx-Instance: {}", a.id);
        if message.lines().any(|l| l.trim() == instance) {
            continue;
        }
        lines.push(instance);
        lines.push(format!("Ddx-Phase: {}", a.phases.join(", ")));
    }
    if lines.is_empty() {
        return None;
    }
    // Comments git strips later must stay below the body.
    let (body, comments) = match message.find("\n#") {
        Some(i) if !message.starts_with('#') => (&message[..i + 1], &message[i + 1..]),
        _ if message.starts_with('#') => ("", message),
        _ => (message, ""),
    };
    let body = body.trim_end();
    let last_para = body.rsplit("\n\n").next().unwrap_or("");
    let ends_in_trailers = !last_para.is_empty()
        && body.contains("\n\n")
        && last_para.lines().all(|l| {
            l.split_once(": ")
                .is_some_and(|(k, _)| !k.is_empty() && !k.contains(' '))
        });
    let mut out = String::from(body);
    out.push_str(if ends_in_trailers { "\n" } else { "\n\n" });
    out.push_str(&lines.join("\n"));
    out.push('\n');
    if !comments.is_empty() {
        out.push_str(comments);
    }
    Some(out)
}

/// The `Ddx-Instance`/`Ddx-Phase` pairs in a commit message.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut instance: Option<String> = None;
    for line in message.lines() {
        if let Some(i) = line.strip_prefix("Ddx-Instance: ") {
            instance = Some(i.trim().to_owned());
        } else if let Some(p) = line.strip_prefix("Ddx-Phase: ") {
            if let Some(i) = instance.take() {
                out.push((i, p.trim().to_owned()));
            }
        }
    }
    if let Some(i) = instance {
        out.push((i, String::new()));
    }
    out
}

/// The note line for a commit: one JSON object.
pub fn note_line(instance: &str, phase: &str, audit: Option<&str>) -> String {
    serde_json::json!({"instance": instance, "phase": phase, "audit": audit}).to_string()
}

#[cfg(test)]
mod trailer_tests {
    use super::*;

    #[test]
    fn trailers_are_added_once_below_the_body() {
        let a = Active {
            id: "tdd-1".into(),
            workflow: crate::model::load_workflow(&crate::model::StaticTree::new(
                "t",
                vec![("workflow.yml", b"name: t\nphases:\n  - id: red\n" as &[u8])],
            ))
            .unwrap(),
            state: serde_yaml::from_str("format: 1\ninstance: tdd-1\nworkflow: t\nversion: '1'\nsource: embedded\nstatus: running\ncreated: x\ncreated_by: x\nphases: []\n").unwrap(),
            phases: vec!["red".into()],
        };
        let m = add_trailers(
            "Add cart\n\nBody.\n# Please enter\n",
            std::slice::from_ref(&a),
        )
        .unwrap();
        assert_eq!(
            m,
            "Add cart\n\nBody.\n\nDdx-Instance: tdd-1\nDdx-Phase: red\n# Please enter\n"
        );
        assert_eq!(add_trailers(&m, std::slice::from_ref(&a)), None);
        let m2 = add_trailers("Fix\n\nSigned-off-by: A <a@b>\n", std::slice::from_ref(&a)).unwrap();
        assert_eq!(
            m2,
            "Fix\n\nSigned-off-by: A <a@b>\nDdx-Instance: tdd-1\nDdx-Phase: red\n"
        );
        assert_eq!(trailers(&m2), vec![("tdd-1".to_owned(), "red".to_owned())]);
    }
}

/// Derives `refs/notes/ddx` from the history: every commit with `Ddx-Instance` trailers gets
/// one line per instance, naming the audit head of its time.
pub fn derive_notes(
    repo: &crate::store::Repo,
) -> Result<Vec<crate::store::notes::DerivedNote>, HookRunError> {
    let audit = crate::store::notes::audit_times(repo)?;
    let mut out = Vec::new();
    for (commit, message, time) in crate::store::notes::history(repo)? {
        let pairs = trailers(&message);
        if pairs.is_empty() {
            continue;
        }
        let head = audit
            .iter()
            .rev()
            .find(|(t, _)| *t <= time)
            .map(|(_, id)| id.to_string());
        let text: String = pairs
            .iter()
            .map(|(i, p)| note_line(i, p, head.as_deref()) + "\n")
            .collect();
        out.push(crate::store::notes::DerivedNote { commit, text });
    }
    Ok(out)
}
