//! Actions, and who may run commands.
//!
//! A workflow's actions are `prompt`s (markdown rendered for an agent: piped to the agent
//! command of `.ddx/config.yml` or `DDX_AGENT`, or printed when none is configured) and
//! `command`s (run only when the workflow's source is trusted, or with `--trust`). A run is
//! recorded as one event on the instance: exit status, output size, how it was trusted, and
//! every file it created, changed or deleted with its blob id before and after.
//!
//! Trust (DESIGN §7): the embedded library, the project's own library, local workflows and a
//! path the user named on the command line are trusted; a registered repository is trusted
//! only when `.ddx/config.yml` says so. This module reads the two settings it needs from that
//! file (`agent`, and trusted sources) with a small reader of its own.

use super::checks::{self, ShellRun};
use super::machine::TransitionError;
use super::state::{FileRecord, InstanceStatus, PhaseStatus, State};
use super::work::{describe_files, render_context};
use super::{Engine, EngineError, Report};
use crate::model::diag::did_you_mean;
use crate::model::load::split_front_matter;
use crate::model::{template, Action, ActionKind, FileTree, TreeError, Workflow};
use crate::store::audit::AuditRecord;
use crate::store::event::Message;
use crate::store::transaction::{Decision, NewEvent, Plan};
use crate::store::worktree::{FileChange, Snapshot};
use crate::store::{refs, GitTree};
use crate::trust as ledger;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the team's settings live, relative to the work tree.
pub const CONFIG_FILE: &str = ".ddx/config.yml";

/// How long an agent may run when `agent.timeout` does not say, in seconds.
pub const DEFAULT_AGENT_TIMEOUT: u64 = 3600;

/// Why an action cannot be found or run, or the settings cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("action `{action}` runs only while phase {phase} is in progress, and it is {status}")]
    OutOfPhase {
        action: String,
        phase: String,
        status: String,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("workflow {workflow} has no action `{action}`{}", if known.is_empty() { String::new() } else { format!(" (actions: {})", known.join(", ")) })]
    Unknown {
        workflow: String,
        action: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("`{action}` names {} actions of workflow {workflow}: {}", matches.len(), matches.join(", "))]
    Ambiguous {
        workflow: String,
        action: String,
        matches: Vec<String>,
    },
    #[error("action `{action}` runs the command `{command}`, which comes from {how}: refused (it is in {file} of workflow {workflow}; `ddx trust {workflow}` shows the workflow's commands and trusts it as it is)")]
    Untrusted {
        action: String,
        command: String,
        how: String,
        /// The action's file, inside the workflow.
        file: String,
        workflow: String,
    },
    #[error("{what} `{command}` comes from {CONFIG_FILE}, and {why}: refused")]
    NotTrusted {
        what: String,
        command: String,
        why: String,
    },
    #[error("the {what} of action `{action}` does not render: {message}")]
    Render {
        action: String,
        what: &'static str,
        message: String,
    },
    #[error("cannot read action `{action}`")]
    Read {
        action: String,
        #[source]
        source: TreeError,
    },
    #[error("cannot start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// The settings this module reads from `.ddx/config.yml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Settings {
    agent_command: Option<String>,
    agent_timeout: Option<u64>,
    /// Trusted sources: registered repository names (`team`) or source names (`repo:team`).
    trusted: Vec<String>,
}

/// The settings of `.ddx/config.yml` and the bytes they were parsed from (`None`: no file).
fn load_config(work_dir: &Path) -> Result<Option<(Settings, Vec<u8>)>, ActionError> {
    let path = work_dir.join(CONFIG_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ActionError::Config {
                path,
                line: None,
                message: format!("cannot be read: {e}"),
            })
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| ActionError::Config {
        path: path.clone(),
        line: None,
        message: format!("is not UTF-8 ({e})"),
    })?;
    let settings = parse_settings(&path, text)?;
    Ok(Some((settings, bytes)))
}

/// The settings of `.ddx/config.yml`, and how the user's trust in the file as it is now stands
/// (`None`: there is no file). The bytes hashed are the bytes parsed.
fn read_settings(
    work_dir: &Path,
    ddx_dir: &Path,
) -> Result<(Settings, Option<ledger::Status>), ActionError> {
    Ok(match load_config(work_dir)? {
        None => (Settings::default(), None),
        Some((settings, bytes)) => {
            let status = ledger::Ledger::read(ddx_dir).status(CONFIG_FILE, &bytes);
            (settings, Some(status))
        }
    })
}

/// What `.ddx/config.yml` would run or trust, for `ddx trust` to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// The file, relative to the work tree.
    pub file: String,
    /// Its content hash (docs/security.md), what `ddx trust` records.
    pub hash: String,
    pub status: ledger::Status,
    /// The agent command prompts are piped to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_command: Option<String>,
    /// Sources whose workflows' commands the file trusts (`trusted_sources`, and repositories
    /// marked `trusted: true`).
    pub trusted_sources: Vec<String>,
}

/// What `.ddx/config.yml` of `work_dir` would run, and whether it is trusted; `None` when there
/// is no config file. The ledger is read from `ddx_dir` (`.git/ddx`).
pub fn review(work_dir: &Path, ddx_dir: &Path) -> Result<Option<(Review, Vec<u8>)>, ActionError> {
    let Some((settings, bytes)) = load_config(work_dir)? else {
        return Ok(None);
    };
    let review = Review {
        file: CONFIG_FILE.to_owned(),
        hash: ledger::content_hash(&bytes),
        status: ledger::Ledger::read(ddx_dir).status(CONFIG_FILE, &bytes),
        agent_command: settings.agent_command.filter(|c| !c.trim().is_empty()),
        trusted_sources: settings.trusted,
    };
    Ok(Some((review, bytes)))
}

fn parse_settings(path: &Path, text: &str) -> Result<Settings, ActionError> {
    use serde_yaml::Value;
    let bad = |line: Option<usize>, message: String| ActionError::Config {
        path: path.to_owned(),
        line,
        message,
    };
    let doc: Value = serde_yaml::from_str(text).map_err(|e| {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        bad(e.location().map(|l| l.line()), message)
    })?;
    let mut s = Settings::default();
    if doc.is_null() {
        return Ok(s);
    }
    match doc.get("agent") {
        None | Some(Value::Null) => {}
        Some(Value::String(c)) => s.agent_command = Some(c.clone()),
        Some(Value::Mapping(m)) => {
            match m.get("command") {
                None | Some(Value::Null) => {}
                Some(Value::String(c)) => s.agent_command = Some(c.clone()),
                Some(_) => {
                    return Err(bad(
                        None,
                        "`agent.command` must be a string (a shell command)".to_owned(),
                    ))
                }
            }
            match m.get("timeout") {
                None | Some(Value::Null) => {}
                Some(v) => {
                    s.agent_timeout = Some(v.as_u64().ok_or_else(|| {
                        bad(
                            None,
                            "`agent.timeout` must be a number of seconds".to_owned(),
                        )
                    })?)
                }
            }
        }
        Some(_) => {
            return Err(bad(
                None,
                "`agent` must be a command, or a mapping with `command` and `timeout`".to_owned(),
            ))
        }
    }
    if let Some(Value::Sequence(repos)) = doc.get("repositories") {
        for r in repos {
            if r.get("trusted").and_then(Value::as_bool) == Some(true) {
                if let Some(name) = r.get("name").and_then(Value::as_str) {
                    s.trusted.push(name.to_owned());
                }
            }
        }
    }
    match doc.get("trusted_sources") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(list)) => {
            for t in list {
                match t.as_str() {
                    Some(name) => s.trusted.push(name.to_owned()),
                    None => {
                        return Err(bad(
                            None,
                            "`trusted_sources` must be a list of source names".to_owned(),
                        ))
                    }
                }
            }
        }
        Some(_) => {
            return Err(bad(
                None,
                "`trusted_sources` must be a list of source names".to_owned(),
            ))
        }
    }
    Ok(s)
}

/// Whether commands of a workflow may run, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trust {
    pub trusted: bool,
    /// How it is trusted (`the embedded library`, `--trust`, …), or what the source is and
    /// why it is not.
    pub how: String,
}

/// The trust of the workflow `name` from `source` (as recorded in the instance: `embedded`,
/// `local`, `project`, `path:<dir>`, `repo:<name>`) in `repo`; `tree` is the git tree its
/// instance pins, when known; `consent` is `--trust`.
pub fn trust(
    repo: &crate::store::Repo,
    source: &str,
    name: &str,
    tree: Option<crate::store::ObjectId>,
    consent: bool,
) -> Trust {
    // A local workflow is the user's own while it is not committed: a commit is anyone's.
    let local_committed = source == "local"
        && crate::store::worktree::committed(repo, &format!("{LOCAL_WORKFLOWS}/{name}"))
            .map_or(true, |c| c != crate::store::worktree::Committed::Absent);
    // The embedded library, a local workflow and a path vouch for what they hold now: an
    // instance that pins another definition under their name (one fetched from another clone
    // by `ddx sync`, or made by an older ddx) is trusted only by its tree, as any other.
    let pinned_elsewhere = tree.is_some_and(|t| !holds_now(repo, source, name, t));
    let workflow = tree.map(|t| (name, t));
    trust_in(
        repo.work_dir(),
        &repo.ddx_dir(),
        source,
        local_committed,
        pinned_elsewhere,
        workflow,
        consent,
    )
}

/// Whether `source` (`embedded`, `local`, `path:<dir>`) holds workflow `name` as the tree
/// `pinned` now; true for the other sources, which vouch for nothing by themselves.
fn holds_now(
    repo: &crate::store::Repo,
    source: &str,
    name: &str,
    pinned: crate::store::ObjectId,
) -> bool {
    let (kind, rest) = source.split_once(':').unwrap_or((source, ""));
    let located = match kind {
        "embedded" => crate::catalog::Catalog::embedded_only().locate(name, repo.work_dir()),
        "local" => crate::catalog::locate(&format!("./{LOCAL_WORKFLOWS}/{name}"), repo.work_dir()),
        "path" => crate::catalog::locate(rest, repo.work_dir()),
        _ => return true,
    };
    located
        .ok()
        .and_then(|l| definition_tree(repo, l.tree.as_ref()))
        == Some(pinned)
}

/// The git tree an instance of the workflow in `tree` pins: the catalog's own tree, or the tree
/// of its files (computed, not written).
pub fn definition_tree(
    repo: &crate::store::Repo,
    tree: &dyn FileTree,
) -> Option<crate::store::ObjectId> {
    tree.git_tree_id().or_else(|| {
        crate::store::event::write_file_tree(crate::store::event::Sink::HashOnly(repo), tree)
            .ok()
            .map(|(t, _)| t)
    })
}

/// Where local workflows live in the work tree.
const LOCAL_WORKFLOWS: &str = ".ddx/local/workflows";

/// [`trust`] for a work tree and its ledger folder (`.git/ddx`). The embedded library, a path
/// the user named and uncommitted local workflows are trusted; the project library, a committed
/// local workflow and a registered repository are anyone's commit. A source that
/// `.ddx/config.yml` lists (`project`, `local`, a repository's name) is trusted only while the
/// user trusts that file as it is; any other workflow only while the user trusts its
/// definition's tree (`ddx trust <name>`).
fn trust_in(
    work_dir: &Path,
    ddx_dir: &Path,
    source: &str,
    local_committed: bool,
    pinned_elsewhere: bool,
    workflow: Option<(&str, crate::store::ObjectId)>,
    consent: bool,
) -> Trust {
    let (kind, rest) = source.split_once(':').unwrap_or((source, ""));
    let by_source = match kind {
        _ if pinned_elsewhere => None,
        "embedded" => Some("the embedded library".to_owned()),
        "local" if !local_committed => {
            Some("your own local workflows (.ddx/local/workflows, not committed)".to_owned())
        }
        "path" => Some(format!("a path given on the command line ({rest})")),
        _ => None,
    };
    if let Some(how) = by_source {
        return Trust { trusted: true, how };
    }
    let name = if kind == "repo" { rest } else { source };
    let trusted = |how: String| Trust { trusted: true, how };
    let refused = |how: String| Trust {
        trusted: false,
        how,
    };
    let mut why = match read_settings(work_dir, ddx_dir) {
        Ok((s, status)) if s.trusted.iter().any(|t| t == name || t == source) => match status {
            Some(ledger::Status::Trusted) => {
                return trusted(format!("{source}, trusted in {CONFIG_FILE}"))
            }
            _ => format!(
                "{source}, which {CONFIG_FILE} trusts, but {}",
                not_trusted(status.unwrap_or(ledger::Status::Untrusted))
            ),
        },
        Ok(_) => format!("{source}, which {CONFIG_FILE} does not trust"),
        Err(e) => format!("{source}, and {e}"),
    };
    if let Some((wf, tree)) = workflow {
        let ledger = ledger::Ledger::read(ddx_dir);
        let subject = ledger::workflow_subject(source, wf);
        match ledger.status_of(&subject, &ledger::tree_hash(&tree)) {
            ledger::Status::Trusted => {
                return trusted(format!(
                    "{source}, workflow {wf} trusted as it is (`ddx trust {wf}`)"
                ))
            }
            ledger::Status::Changed => why.push_str(&format!(
                ", and its workflow {wf} changed since you trusted it (`ddx trust {wf}`)"
            )),
            ledger::Status::Untrusted => {}
        }
    }
    if consent {
        return trusted(format!("{source}, with --trust"));
    }
    refused(why)
}

/// One command a workflow would run, and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Defined {
    /// `phase a, exit criterion "Built"`, or the action's file.
    pub place: String,
    pub command: String,
}

/// Every command `wf` defines: command checks of its gates, then command actions.
pub fn commands_of(wf: &Workflow) -> Vec<Defined> {
    let mut out = Vec::new();
    for p in &wf.phases {
        for (what, list) in [
            ("input gate", &p.input_gates),
            ("exit criterion", &p.exit_criteria),
        ] {
            for c in list {
                if let Some(crate::model::Check::Command { command, .. }) = &c.check {
                    out.push(Defined {
                        place: format!("phase {}, {what} {:?}", p.id, c.criteria),
                        command: command.clone(),
                    });
                }
            }
        }
    }
    for a in wf.all_actions() {
        if let ActionKind::Command { command, .. } = &a.kind {
            out.push(Defined {
                place: a.path.clone(),
                command: command.clone(),
            });
        }
    }
    out
}

/// Why a config that is not trusted is not, with what to run.
fn not_trusted(status: ledger::Status) -> String {
    match status {
        ledger::Status::Changed => {
            format!("{CONFIG_FILE} changed since you trusted it (`ddx trust` shows it and trusts it again)")
        }
        _ => format!(
            "you have not trusted {CONFIG_FILE} (`ddx trust` shows what it runs and trusts it)"
        ),
    }
}

/// The agent prompts are piped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// A shell command that reads the prompt on its stdin.
    pub command: String,
    /// `DDX_AGENT` or `.ddx/config.yml`.
    pub from: String,
    pub timeout: u64,
}

/// The configured agent: `DDX_AGENT` when set (a personal override), else `agent.command` of
/// `.ddx/config.yml`, which runs only while the user trusts that file as it is (`ddx trust`) or
/// with `consent` (`--trust`); `None` when neither is set.
pub fn agent(work_dir: &Path, ddx_dir: &Path, consent: bool) -> Result<Option<Agent>, ActionError> {
    let (settings, status) = read_settings(work_dir, ddx_dir)?;
    let timeout = settings.agent_timeout.unwrap_or(DEFAULT_AGENT_TIMEOUT);
    if let Some(c) = std::env::var("DDX_AGENT")
        .ok()
        .filter(|c| !c.trim().is_empty())
    {
        return Ok(Some(Agent {
            command: c,
            from: "DDX_AGENT".to_owned(),
            timeout,
        }));
    }
    let Some(command) = settings.agent_command.filter(|c| !c.trim().is_empty()) else {
        return Ok(None);
    };
    let status = status.unwrap_or(ledger::Status::Untrusted);
    let from = match status {
        ledger::Status::Trusted => CONFIG_FILE.to_owned(),
        _ if consent => format!("{CONFIG_FILE}, with --trust"),
        _ => {
            return Err(ActionError::NotTrusted {
                what: "the agent command".to_owned(),
                command,
                why: not_trusted(status),
            })
        }
    };
    Ok(Some(Agent {
        command,
        from,
        timeout,
    }))
}

/// One action of `ddx action list`.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub id: String,
    /// `phase/id` for phase actions, `id` for workflow actions: always unique.
    pub name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `prompt` or `command`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The markdown file, inside the workflow.
    pub path: String,
}

impl ActionView {
    pub fn of(a: &Action) -> ActionView {
        let (kind, command, timeout) = match &a.kind {
            ActionKind::Prompt => ("prompt", None, None),
            ActionKind::Command { command, timeout } => {
                ("command", Some(command.clone()), Some(*timeout))
            }
        };
        ActionView {
            id: a.id.clone(),
            name: match &a.phase {
                Some(p) => format!("{p}/{}", a.id),
                None => a.id.clone(),
            },
            title: a.title.clone(),
            description: a.description.clone(),
            phase: a.phase.clone(),
            kind,
            command,
            timeout,
            path: a.path.clone(),
        }
    }
}

/// Every action of `wf`: workflow actions first, then phase by phase.
pub fn list(wf: &Workflow) -> Vec<ActionView> {
    wf.all_actions().map(ActionView::of).collect()
}

/// Finds an action by `id` or `phase/id`; an id several phases share is resolved to the one
/// of the phase in progress, when exactly one is.
pub fn find<'w>(
    wf: &'w Workflow,
    spec: &str,
    in_progress: &[String],
) -> Result<&'w Action, ActionError> {
    let all: Vec<&Action> = wf.all_actions().collect();
    let name = |a: &Action| ActionView::of(a).name;
    if let Some(a) = all.iter().find(|a| name(a) == spec) {
        return Ok(a);
    }
    let hits: Vec<&&Action> = all.iter().filter(|a| a.id == spec).collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => {
            let known: Vec<String> = all.iter().map(|a| name(a)).collect();
            Err(ActionError::Unknown {
                workflow: wf.name.clone(),
                action: spec.to_owned(),
                suggestion: did_you_mean(spec, known.iter().map(String::as_str))
                    .or_else(|| did_you_mean(spec, all.iter().map(|a| a.id.as_str())))
                    .map(str::to_owned),
                known,
            })
        }
        _ => {
            let current: Vec<&&&Action> = hits
                .iter()
                .filter(|a| a.phase.as_ref().is_some_and(|p| in_progress.contains(p)))
                .collect();
            if current.len() == 1 {
                return Ok(current[0]);
            }
            Err(ActionError::Ambiguous {
                workflow: wf.name.clone(),
                action: spec.to_owned(),
                matches: hits.iter().map(|a| name(a)).collect(),
            })
        }
    }
}

/// How to run an action.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Arguments after the action's name: `args` in its template, `"$@"` of a command.
    pub args: Vec<String>,
    /// `--trust`: run a command from a source that is not trusted.
    pub consent: bool,
    pub dry_run: bool,
    /// Pass the output through to this process's stdout and stderr while it runs.
    pub echo: bool,
}

/// What running an action did.
#[derive(Debug, Clone)]
pub enum Ran {
    /// A prompt with no agent configured: the rendered text, for the user to read or copy.
    Printed { text: String },
    /// A dry run: what would be run, and with which input.
    WouldRun {
        command: String,
        input: Option<String>,
    },
    /// It ran.
    Ran {
        command: String,
        status: Option<i32>,
        timed_out: bool,
        output_bytes: usize,
        changes: Vec<FileChange>,
    },
}

/// The result of `ddx action run`.
#[derive(Debug, Clone)]
pub struct ActionReport {
    pub action: ActionView,
    pub ran: Ran,
    /// How a command was trusted; the agent a prompt went to.
    pub trust: Option<Trust>,
    pub agent: Option<Agent>,
    /// The event recorded (or, in a dry run, that would be).
    pub report: Option<Report>,
}

impl ActionReport {
    /// The run finished with exit status 0 (or nothing ran).
    pub fn succeeded(&self) -> bool {
        match &self.ran {
            Ran::Ran { status, .. } => *status == Some(0),
            _ => true,
        }
    }
}

fn exit_text(status: Option<i32>, timed_out: bool) -> String {
    match (status, timed_out) {
        (Some(n), _) => n.to_string(),
        (None, true) => "timeout".to_owned(),
        (None, false) => "signal".to_owned(),
    }
}

impl Engine<'_> {
    /// `ddx action run`: renders and runs `spec` of `instance`'s workflow and records the run.
    pub fn run_action(
        &self,
        instance: &str,
        spec: &str,
        opts: &RunOptions,
    ) -> Result<ActionReport, EngineError> {
        self.attach_log(instance, opts.dry_run);
        let (tip, st) = super::load(self.repo, instance)?;
        if st.status == InstanceStatus::Cancelled {
            return Err(TransitionError::InstanceRefused {
                instance: instance.to_owned(),
                status: st.status,
                action: "used to run actions".to_owned(),
                hint: Some(
                    "`ddx workflow restore <checkpoint>` brings back an earlier state".to_owned(),
                ),
            }
            .into());
        }
        let wf = self.definition(instance, &tip)?;
        let current: Vec<String> = st
            .phases
            .iter()
            .filter(|p| p.status == PhaseStatus::InProgress)
            .map(|p| p.id.clone())
            .collect();
        let action = find(&wf, spec, &current)?;
        let view = ActionView::of(action);
        if let Some(phase) = action
            .phase
            .as_deref()
            .filter(|p| action.in_phase_only && !current.iter().any(|c| c == p))
        {
            return Err(ActionError::OutOfPhase {
                action: view.name.clone(),
                phase: phase.to_owned(),
                status: st
                    .phase(phase)
                    .map_or("unknown", |p| p.status.as_str())
                    .to_owned(),
            }
            .into());
        }
        let tree = GitTree::open(
            self.repo,
            tip.workflow_tree,
            format!("{}:workflow", refs::instance_ref(instance)),
        );
        let text = tree
            .read(&action.path)
            .map_err(|source| ActionError::Read {
                action: view.name.clone(),
                source,
            })?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let body = split_front_matter(&text).map_or(text.as_str(), |(_, b)| b);
        let phase = action
            .phase
            .as_deref()
            .or(current.first().map(String::as_str))
            .and_then(|p| wf.phase(p));
        let mut ctx = render_context(&st, &wf, phase, &self.identity);
        if let Some(map) = ctx.as_object_mut() {
            map.insert("args".to_owned(), serde_json::json!(opts.args));
        }
        let render = |what: &'static str, src: &str| {
            template::render(src, &ctx).map_err(|e| ActionError::Render {
                action: view.name.clone(),
                what,
                message: e.to_string(),
            })
        };
        let (command, input, timeout, trust, agent) = match &action.kind {
            ActionKind::Prompt => {
                let prompt = render("prompt", body)?;
                let Some(agent) = agent(self.repo.work_dir(), &self.repo.ddx_dir(), opts.consent)?
                else {
                    return Ok(ActionReport {
                        action: view,
                        ran: Ran::Printed { text: prompt },
                        trust: None,
                        agent: None,
                        report: None,
                    });
                };
                (
                    agent.command.clone(),
                    Some(prompt),
                    agent.timeout,
                    None,
                    Some(agent),
                )
            }
            ActionKind::Command { command, timeout } => {
                let t = trust(
                    self.repo,
                    &st.source,
                    &st.workflow,
                    Some(tip.workflow_tree),
                    opts.consent,
                );
                let rendered = render("command", command)?;
                if !t.trusted {
                    return Err(ActionError::Untrusted {
                        action: view.name.clone(),
                        command: rendered,
                        how: t.how,
                        file: action.path.clone(),
                        workflow: st.workflow.clone(),
                    }
                    .into());
                }
                (rendered, None, *timeout, Some(t), None)
            }
        };
        if opts.dry_run {
            let pending = Ran::WouldRun {
                command: command.clone(),
                input: input.clone(),
            };
            let report = self.record_action(
                instance,
                &view,
                &pending,
                trust.as_ref(),
                agent.as_ref(),
                true,
            )?;
            return Ok(ActionReport {
                action: view,
                ran: pending,
                trust,
                agent,
                report: Some(report),
            });
        }
        let before = Snapshot::take(self.repo)?;
        let run: ShellRun = checks::run_shell_full(
            self.repo.work_dir(),
            &command,
            if input.is_some() { &[] } else { &opts.args },
            Duration::from_secs(timeout),
            input.as_deref().map(str::as_bytes),
            opts.echo,
        )
        .map_err(|source| ActionError::Spawn {
            command: command.clone(),
            source,
        })?;
        let changes = before.changes(self.repo)?;
        tracing::info!(
            action = %view.name,
            exit = %exit_text(run.status, run.timed_out),
            output_bytes = run.output_bytes,
            files = changes.len(),
            "ran action {}",
            view.name
        );
        let ran = Ran::Ran {
            command,
            status: run.status,
            timed_out: run.timed_out,
            output_bytes: run.output_bytes,
            changes,
        };
        let report =
            self.record_action(instance, &view, &ran, trust.as_ref(), agent.as_ref(), false)?;
        Ok(ActionReport {
            action: view,
            ran,
            trust,
            agent,
            report: Some(report),
        })
    }

    /// Records a run (or, in a dry run, computes the event that would record it).
    fn record_action(
        &self,
        instance: &str,
        view: &ActionView,
        ran: &Ran,
        trust: Option<&Trust>,
        agent: Option<&Agent>,
        dry_run: bool,
    ) -> Result<Report, EngineError> {
        let at = self.identity.time();
        let records: Vec<(String, FileRecord)> = match ran {
            Ran::Ran { changes, .. } => changes
                .iter()
                .map(|c| {
                    (
                        c.path.clone(),
                        FileRecord {
                            before: c.before.map(|b| b.to_string()),
                            after: c.after.map(|a| a.to_string()),
                            merged: None,
                            by: format!("action {}", view.name),
                            phase: view.phase.clone(),
                            at: at.clone(),
                        },
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut lines = Vec::new();
        let mut args = BTreeMap::from([
            ("action".to_owned(), view.name.clone()),
            ("kind".to_owned(), view.kind.to_owned()),
        ]);
        let mut message;
        match ran {
            Ran::Ran {
                command,
                status,
                timed_out,
                output_bytes,
                ..
            } => {
                let exit = exit_text(*status, *timed_out);
                message = Message::new(format!(
                    "ddx({instance}): action {}: exit {exit}",
                    view.name
                ));
                lines.push(format!(
                    "ran `{command}`: exit {exit}, {output_bytes} bytes of output"
                ));
                args.insert("exit_status".to_owned(), exit.clone());
                args.insert("output_bytes".to_owned(), output_bytes.to_string());
                message.trailer("Ddx-Event", "action");
                message.trailer("Ddx-Action", &view.name);
                message.trailer("Ddx-Action-Kind", view.kind);
                message.trailer("Ddx-Exit-Status", &exit);
                message.trailer("Ddx-Output-Bytes", output_bytes.to_string());
            }
            _ => {
                message = Message::new(format!("ddx({instance}): action {}", view.name));
                message.trailer("Ddx-Event", "action");
                message.trailer("Ddx-Action", &view.name);
                message.trailer("Ddx-Action-Kind", view.kind);
            }
        }
        if let Some(p) = &view.phase {
            message.trailer("Ddx-Phase", p);
            args.insert("phase".to_owned(), p.clone());
        }
        if let Some(t) = trust {
            message.trailer("Ddx-Trusted", &t.how);
            args.insert("trusted".to_owned(), t.how.clone());
        }
        if let Some(a) = agent {
            message.trailer("Ddx-Agent", format!("{} (from {})", a.command, a.from));
            args.insert("agent".to_owned(), a.command.clone());
        }
        describe_files(&records, &mut message, &mut lines, &mut args);
        message.body = lines.join("\n");
        let audit = AuditRecord {
            operation: "action".to_owned(),
            summary: message
                .subject
                .split_once("): ")
                .map_or(message.subject.clone(), |(_, s)| s.to_owned()),
            args: args.into_iter().collect(),
        };
        let ref_name = refs::instance_ref(instance);
        let mut result: Option<State> = None;
        let outcome = self.on_instance(instance, dry_run, |tip| {
            let mut st = State::from_yaml(&tip.state, &format!("{ref_name}:state.yml"))?;
            for (path, r) in &records {
                st.files.insert(path.clone(), r.clone());
            }
            st.metrics.events += 1;
            let plan = Plan {
                event: Some(NewEvent {
                    joins: Vec::new(),
                    renders: None,
                    state: st.to_yaml(),
                    workflow_tree: tip.workflow_tree,
                    message: message.clone(),
                }),
                audit: audit.clone(),
                extra: Vec::new(),
                audit_joins: Vec::new(),
            };
            result = Some(st);
            Ok(Decision::Change(Box::new(plan)))
        })?;
        Ok(Report {
            instance: instance.to_owned(),
            outcome,
            lines,
            state: result.map(std::sync::Arc::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{load_workflow, StaticTree};

    fn settings(text: &str) -> Result<Settings, ActionError> {
        parse_settings(Path::new(".ddx/config.yml"), text)
    }

    #[test]
    fn settings_read_the_agent_and_trusted_sources() {
        let s = settings(
            "agent:\n  command: claude -p\n  timeout: 60\nrepositories:\n  - name: team\n    url: /x\n    trusted: true\n  - name: other\n    url: /y\ntrusted_sources: [repo:extra]\nhooks: {policy: strict}\n",
        )
        .unwrap();
        assert_eq!(s.agent_command.as_deref(), Some("claude -p"));
        assert_eq!(s.agent_timeout, Some(60));
        assert_eq!(s.trusted, ["team", "repo:extra"]);
        assert_eq!(
            settings("agent: cat\n").unwrap().agent_command.as_deref(),
            Some("cat")
        );
        assert_eq!(settings("").unwrap(), Settings::default());
        assert_eq!(
            settings("agent: [1]\n").unwrap_err().to_string(),
            ".ddx/config.yml: `agent` must be a command, or a mapping with `command` and `timeout`"
        );
        let err = settings("agent:\n  command: [\n").unwrap_err();
        assert!(err.to_string().starts_with(".ddx/config.yml:"), "{err}");
    }

    #[test]
    fn trust_follows_the_source_then_the_config_then_consent() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ddx = d.join(".git/ddx");
        assert_eq!(
            trust_in(d, &ddx, "embedded", false, false, None, false),
            Trust {
                trusted: true,
                how: "the embedded library".into()
            }
        );
        // The project library and a committed local workflow are anyone's commit.
        assert_eq!(
            trust_in(d, &ddx, "project", false, false, None, false).how,
            "project, which .ddx/config.yml does not trust"
        );
        assert!(trust_in(d, &ddx, "local", false, false, None, false).trusted);
        assert!(!trust_in(d, &ddx, "local", true, false, None, false).trusted);
        assert_eq!(
            trust_in(d, &ddx, "path:./wf", false, false, None, false).how,
            "a path given on the command line (./wf)"
        );
        let t = trust_in(d, &ddx, "repo:team", false, false, None, false);
        assert_eq!(
            t,
            Trust {
                trusted: false,
                how: "repo:team, which .ddx/config.yml does not trust".into()
            }
        );
        assert_eq!(
            trust_in(d, &ddx, "repo:team", false, false, None, true).how,
            "repo:team, with --trust"
        );
        std::fs::create_dir_all(d.join(".ddx")).unwrap();
        std::fs::write(
            d.join(".ddx/config.yml"),
            "repositories:\n  - name: team\n    url: /x\n    trusted: true\n",
        )
        .unwrap();
        // Listed, but the file is anyone's: it counts once the user trusted it as it is.
        assert_eq!(
            trust_in(d, &ddx, "repo:team", false, false, None, false),
            Trust {
                trusted: false,
                how: "repo:team, which .ddx/config.yml trusts, but you have not trusted .ddx/config.yml (`ddx trust` shows what it runs and trusts it)".into()
            }
        );
        let mut ledger = ledger::Ledger::read(&ddx);
        ledger.trust(CONFIG_FILE, &std::fs::read(d.join(CONFIG_FILE)).unwrap());
        ledger.write(&ddx).unwrap();
        assert_eq!(
            trust_in(d, &ddx, "repo:team", false, false, None, false),
            Trust {
                trusted: true,
                how: "repo:team, trusted in .ddx/config.yml".into()
            }
        );
        std::fs::write(
            d.join(".ddx/config.yml"),
            "repositories:\n  - name: team\n    url: /evil\n    trusted: true\n",
        )
        .unwrap();
        let t = trust_in(d, &ddx, "repo:team", false, false, None, false);
        assert!(!t.trusted);
        assert!(t.how.ends_with("but .ddx/config.yml changed since you trusted it (`ddx trust` shows it and trusts it again)"), "{}", t.how);
        assert!(!trust_in(d, &ddx, "repo:other", false, false, None, false).trusted);
        std::fs::write(d.join(".ddx/config.yml"), "agent: [\n").unwrap();
        let t = trust_in(d, &ddx, "repo:team", false, false, None, false);
        assert!(!t.trusted);
        assert!(t.how.starts_with("repo:team, and "), "{}", t.how);
    }

    #[test]
    fn actions_are_found_by_id_or_phase_and_id() {
        let tree = StaticTree::new(
            "t",
            vec![
                (
                    "workflow.yml",
                    b"name: t\nphases:\n  - id: a\n    order: 1\n  - id: b\n    order: 2\n"
                        as &[u8],
                ),
                ("actions/report.md", b"# Report\n"),
                (
                    "phases/01-a/actions/run.md",
                    b"---\ncommand: make\n---\n# Run\n",
                ),
                ("phases/02-b/actions/run.md", b"# Run b\n"),
            ],
        );
        let wf = load_workflow(&tree).unwrap();
        let names: Vec<String> = list(&wf).into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["report", "a/run", "b/run"]);
        assert_eq!(find(&wf, "report", &[]).unwrap().id, "report");
        assert_eq!(find(&wf, "b/run", &[]).unwrap().phase.as_deref(), Some("b"));
        assert_eq!(
            find(&wf, "run", &[]).unwrap_err().to_string(),
            "`run` names 2 actions of workflow t: a/run, b/run"
        );
        assert_eq!(
            find(&wf, "run", &["a".to_owned()])
                .unwrap()
                .phase
                .as_deref(),
            Some("a")
        );
        let err = find(&wf, "reprt", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "workflow t has no action `reprt` (actions: report, a/run, b/run)"
        );
        assert!(matches!(err, ActionError::Unknown { suggestion: Some(s), .. } if s == "report"));
    }
}
