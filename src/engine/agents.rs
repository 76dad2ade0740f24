//! Coding agents: the AGENTS.md section and each agent's command files, written and kept current.
//!
//! [`Context`] says what an agent should know: the workflow, the phases in progress with their
//! artifacts and open criteria, and the workflow's actions. [`files`] renders, per agent, the
//! files that carry it (Claude Code, Copilot, Cursor, Gemini CLI command files; the AGENTS.md
//! section between ddx's markers for every agent, Codex included). [`plan`] compares them with
//! the work tree and the [`Record`] (the installed agents in `.ddx/config.yml`, what ddx wrote
//! in `.git/ddx/agents.json`); [`apply`] writes through the artifact writer, so a file the user
//! edited is never written over and the user's text around the AGENTS.md markers is kept byte
//! for byte, and deletes the files of actions and phases that are gone while they still hold
//! ddx's content. The engine calls [`refresh`] after every event it commits: with agents
//! installed, it rewrites what changed and writes nothing otherwise.

use super::artifacts::{self, ArtifactError, FileAction, PlannedFile};
use super::state::PhaseStatus;
use super::EngineError;
use crate::config::{Config, ConfigError, CONFIG_PATH};
use crate::engine::actions::ActionView;
use crate::store::Repo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The line that opens ddx's section of AGENTS.md.
pub const BEGIN: &str =
    "<!-- ddx:agents:begin (written by `ddx agents install`; edit outside these lines) -->";
/// The line that closes it.
pub const END: &str = "<!-- ddx:agents:end -->";
/// The shared instructions file.
pub const AGENTS_MD: &str = "AGENTS.md";

/// Why agents' files could not be planned, written or removed.
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Engine(#[from] Box<EngineError>),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read or write the agents record {path}")]
    Record {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the agents record {path} is not valid: {message}")]
    BadRecord { path: String, message: String },
    #[error("cannot merge ddx's hook into {path}: {message}; nothing in it was changed")]
    BadSettings { path: String, message: String },
}

/// A coding agent ddx writes files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Claude,
    Copilot,
    Cursor,
    Gemini,
    Codex,
}

impl Agent {
    pub const ALL: [Agent; 5] = [
        Agent::Claude,
        Agent::Copilot,
        Agent::Cursor,
        Agent::Gemini,
        Agent::Codex,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Copilot => "copilot",
            Agent::Cursor => "cursor",
            Agent::Gemini => "gemini",
            Agent::Codex => "codex",
        }
    }

    /// The folder whose presence says the project uses this agent (none for Codex, which
    /// reads AGENTS.md alone).
    fn marker_dir(self) -> Option<&'static str> {
        match self {
            Agent::Claude => Some(".claude"),
            Agent::Copilot => Some(".github/prompts"),
            Agent::Cursor => Some(".cursor"),
            Agent::Gemini => Some(".gemini"),
            Agent::Codex => None,
        }
    }
}

/// The agents whose folders exist in `work_dir`; all of them when none does.
pub fn detect(work_dir: &Path) -> Vec<Agent> {
    let found: Vec<Agent> = Agent::ALL
        .into_iter()
        .filter(|a| a.marker_dir().is_some_and(|d| work_dir.join(d).is_dir()))
        .collect();
    if found.is_empty() {
        Agent::ALL.to_vec()
    } else {
        found
    }
}

/// A phase in progress, as an agent sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseContext {
    pub id: String,
    pub name: String,
    /// Artifact files ddx wrote for the phase.
    pub artifacts: Vec<String>,
    /// Required criteria that do not hold yet.
    pub open: Vec<String>,
}

/// What the agents' files say.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub workflow: String,
    pub description: String,
    pub instance: Option<String>,
    pub phases: Vec<PhaseContext>,
    pub actions: Vec<ActionView>,
}

impl Context {
    /// The context of `instance`, from its status and pinned definition.
    pub fn of_instance(repo: &Repo, instance: &str) -> Result<Context, AgentsError> {
        let boxed = |e: EngineError| AgentsError::Engine(Box::new(e));
        let view = super::status(repo, instance).map_err(boxed)?;
        let (tip, _) = super::load(repo, instance).map_err(boxed)?;
        let wf = super::load_pinned(repo, instance, &tip).map_err(boxed)?;
        let phases = view
            .phases
            .iter()
            .filter(|p| p.status == PhaseStatus::InProgress)
            .map(|p| PhaseContext {
                id: p.id.clone(),
                name: p.name.clone(),
                artifacts: view
                    .files
                    .iter()
                    .filter(|(_, f)| f.phase.as_deref() == Some(p.id.as_str()) && f.after.is_some())
                    .map(|(path, _)| path.clone())
                    .collect(),
                open: p
                    .criteria
                    .iter()
                    .filter(|c| c.required && !c.status.is_satisfied())
                    .map(|c| c.criteria.clone())
                    .collect(),
            })
            .collect();
        Ok(Context {
            workflow: view.workflow.clone(),
            description: wf.description.clone(),
            instance: Some(instance.to_owned()),
            phases,
            actions: super::actions::list(&wf),
        })
    }

    /// Whether action `a` becomes a command: a workflow action always, a phase's action while
    /// the phase is in progress (every one when there is no instance to say which).
    fn serves(&self, a: &ActionView) -> bool {
        match &a.phase {
            None => true,
            Some(p) => self.instance.is_none() || self.phases.iter().any(|x| &x.id == p),
        }
    }

    /// The context of a workflow with no instance.
    pub fn of_workflow(wf: &crate::model::Workflow) -> Context {
        Context {
            workflow: wf.name.clone(),
            description: wf.description.clone(),
            instance: None,
            phases: Vec::new(),
            actions: super::actions::list(wf),
        }
    }
}

/// One file an agent gets: its path and full content (for AGENTS.md, ddx's section only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFile {
    pub agent: Agent,
    pub path: String,
    pub content: String,
}

/// A command every agent gets, or one per action.
struct Command {
    /// File stem: `status`, `next`, `check`, or the action's name with `/` as `-`.
    name: String,
    description: String,
    /// The instructions, in markdown; `ARGS` stands for the agent's argument placeholder.
    body: String,
}

fn commands(ctx: &Context) -> Vec<Command> {
    let inst = ctx
        .instance
        .as_deref()
        .map(|i| format!(" -i {i}"))
        .unwrap_or_default();
    let mut out = vec![
        Command {
            name: "status".into(),
            description: format!(
                "Show the {} workflow's phases and what to do next",
                ctx.workflow
            ),
            body: format!(
                "Run `ddx workflow status{inst} --json` and summarise the phases in progress, \
                 their artifacts and the criteria still open. Suggest the next step.\n"
            ),
        },
        Command {
            name: "next".into(),
            description: format!(
                "Move the {} workflow on when its criteria hold",
                ctx.workflow
            ),
            body: format!(
                "Run `ddx gate check{inst} --json`. When every required criterion passes, run \
                 `ddx workflow next{inst}` and report what it started; otherwise work on the first \
                 failing criterion.\n"
            ),
        },
        Command {
            name: "check".into(),
            description: "Check the exit criteria of the phases in progress".into(),
            body: format!(
                "Run `ddx gate check{inst} --json` and explain each criterion that fails or \
                 needs approval, with what would make it pass.\n"
            ),
        },
    ];
    for a in ctx.actions.iter().filter(|a| ctx.serves(a)) {
        let name = a
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>();
        if name.is_empty() || out.iter().any(|c| c.name == name) {
            continue;
        }
        let description = a.description.clone().unwrap_or_else(|| a.title.clone());
        let body = if a.kind == "prompt" {
            format!(
                "Run `ddx action run {}{inst} -- ARGS` and carry out the prompt it prints.\n",
                a.name
            )
        } else {
            format!(
                "Run `ddx action run {}{inst} -- ARGS` and report its outcome.\n",
                a.name
            )
        };
        out.push(Command {
            name,
            description: one_line(&description),
            body,
        });
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A YAML scalar in double quotes (JSON strings are valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A TOML basic string: JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`) are TOML's too.
fn toml_str(s: &str) -> String {
    yaml_str(s)
}

/// ddx's AGENTS.md section, markers included.
pub fn section(ctx: &Context) -> String {
    let mut s = format!("{BEGIN}\n## ddx workflow: {}\n\n", ctx.workflow);
    if !ctx.description.trim().is_empty() {
        s.push_str(&format!("{}\n\n", one_line(&ctx.description)));
    }
    match &ctx.instance {
        Some(id) => s.push_str(&format!("Instance `{id}`.\n\n")),
        None => s.push_str("No instance yet: `ddx workflow apply` starts one.\n\n"),
    }
    if ctx.phases.is_empty() {
        s.push_str("No phase is in progress.\n\n");
    }
    for p in &ctx.phases {
        s.push_str(&format!(
            "### Phase in progress: {} (`{}`)\n\n",
            p.name, p.id
        ));
        if !p.artifacts.is_empty() {
            s.push_str("Artifacts:\n");
            for a in &p.artifacts {
                s.push_str(&format!("- `{a}`\n"));
            }
            s.push('\n');
        }
        if !p.open.is_empty() {
            s.push_str("Criteria still open:\n");
            for c in &p.open {
                s.push_str(&format!("- {}\n", one_line(c)));
            }
            s.push('\n');
        }
    }
    s.push_str(
        "Use ddx, not guesses, for the workflow's state:\n\
         - `ddx workflow status --json`: phases, artifacts, what to do next\n\
         - `ddx gate check --json`: which exit criteria pass, fail or need approval\n\
         - `ddx action list` and `ddx action run <action>`: the workflow's prompts and commands\n\
         - `ddx workflow next`: complete the phase once its criteria hold\n",
    );
    s.push_str(END);
    s.push('\n');
    s
}

/// The files `agent` gets for `ctx`.
pub fn files(agent: Agent, ctx: &Context) -> Vec<AgentFile> {
    let file = |path: String, content: String| AgentFile {
        agent,
        path,
        content,
    };
    let cmds = commands(ctx);
    match agent {
        Agent::Codex => Vec::new(),
        Agent::Claude => cmds
            .iter()
            .map(|c| {
                file(
                    format!(".claude/commands/ddx/{}.md", c.name),
                    format!(
                        "---\ndescription: {}\nargument-hint: \"[arguments]\"\nallowed-tools: Bash(ddx:*)\n---\n\n{}",
                        yaml_str(&c.description),
                        c.body.replace("ARGS", "$ARGUMENTS")
                    ),
                )
            })
            .collect(),
        Agent::Copilot => cmds
            .iter()
            .map(|c| {
                file(
                    format!(".github/prompts/ddx-{}.prompt.md", c.name),
                    format!(
                        "---\ndescription: {}\nagent: agent\nargument-hint: \"[arguments]\"\n---\n\n{}",
                        yaml_str(&c.description),
                        c.body.replace("ARGS", "${input:args}")
                    ),
                )
            })
            .collect(),
        Agent::Cursor => {
            let mut out = vec![file(
                ".cursor/rules/ddx.mdc".into(),
                format!(
                    "---\ndescription: {}\nglobs:\nalwaysApply: true\n---\n\n{}",
                    yaml_str(&format!("The {} workflow ddx runs in this project", ctx.workflow)),
                    section(ctx)
                        .lines()
                        .filter(|l| *l != BEGIN && *l != END)
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                ),
            )];
            out.extend(cmds.iter().map(|c| {
                file(
                    format!(".cursor/commands/ddx-{}.md", c.name),
                    format!(
                        "# {}\n\n{}",
                        c.description,
                        c.body.replace("ARGS", "<arguments typed after the command>")
                    ),
                )
            }));
            out
        }
        Agent::Gemini => cmds
            .iter()
            .map(|c| {
                file(
                    format!(".gemini/commands/ddx/{}.toml", c.name),
                    format!(
                        "description = {}\nprompt = {}\n",
                        toml_str(&c.description),
                        toml_str(&c.body.replace("ARGS", "{{args}}"))
                    ),
                )
            })
            .collect(),
    }
}

/// Finds ddx's section in `text`: the byte range from its first marker line to the end of
/// its last (newline included).
pub fn find_section(text: &str) -> Option<std::ops::Range<usize>> {
    let mut at = 0;
    let mut begin = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if begin.is_none() && bare == BEGIN {
            begin = Some(at);
        } else if bare == END {
            if let Some(b) = begin {
                return Some(b..at + line.len());
            }
        }
        at += line.len();
    }
    None
}

/// `current` with ddx's section replaced by `section`, or appended after a blank line.
pub fn splice(current: &str, section: &str) -> String {
    match find_section(current) {
        Some(r) => format!("{}{section}{}", &current[..r.start], &current[r.end..]),
        None if current.is_empty() => section.to_owned(),
        None if current.ends_with('\n') => format!("{current}\n{section}"),
        None => format!("{current}\n\n{section}"),
    }
}

/// `current` without ddx's section (and the blank line [`splice`] put before an appended one).
pub fn strip(current: &str) -> String {
    let Some(r) = find_section(current) else {
        return current.to_owned();
    };
    let mut before = &current[..r.start];
    let after = &current[r.end..];
    if after.is_empty() && before.ends_with("\n\n") {
        before = &before[..before.len() - 1];
    }
    format!("{before}{after}")
}

/// The installed agents and what ddx wrote for them.
///
/// Which agents are installed is the team's choice: it lives in `.ddx/config.yml` (`agents:`),
/// committed, so every clone keeps the same files current. What ddx wrote (the blob of each file,
/// the settings files holding its hook) is this clone's knowledge: `.git/ddx/agents.json`, local.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub agents: Vec<Agent>,
    pub files: BTreeMap<String, RecordedFile>,
    /// Settings files into which ddx merged its hook (`--hooks`).
    pub hooks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedFile {
    pub agent: Agent,
    pub blob: String,
    /// No longer one of the agent's files; kept because the user edited it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// `.git/ddx/agents.json`. Records written before the list of agents moved to the config hold
/// it too: it is read while the config has no `agents:` key, and kept until install or remove
/// writes the key.
#[derive(Debug, Default, Serialize, Deserialize)]
struct LocalRecord {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    agents: Vec<Agent>,
    #[serde(default)]
    files: BTreeMap<String, RecordedFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hooks: Vec<String>,
}

/// The key of `.ddx/config.yml` that lists the installed agents.
pub const CONFIG_KEY: &str = "agents";

fn local_path(repo: &Repo) -> std::path::PathBuf {
    repo.ddx_dir().join("agents.json")
}

fn load_local(repo: &Repo) -> Result<LocalRecord, AgentsError> {
    let path = local_path(repo);
    match std::fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| AgentsError::BadRecord {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LocalRecord::default()),
        Err(source) => Err(AgentsError::Record {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn save_local(
    repo: &Repo,
    files: &BTreeMap<String, RecordedFile>,
    hooks: &[String],
    legacy_agents: &[Agent],
) -> Result<(), AgentsError> {
    let path = local_path(repo);
    let record = LocalRecord {
        agents: legacy_agents.to_vec(),
        files: files.clone(),
        hooks: hooks.to_vec(),
    };
    let data = serde_json::to_vec_pretty(&record).expect("a record serialises");
    crate::config::write_atomically(&path, &data).map_err(|source| AgentsError::Record {
        path: path.display().to_string(),
        source,
    })
}

fn agent_names() -> String {
    Agent::ALL.map(Agent::name).join(", ")
}

/// The agents `.ddx/config.yml` lists; `None` when it has no `agents:` key.
pub fn configured(work_dir: &Path) -> Result<Option<Vec<Agent>>, AgentsError> {
    let config = Config::load(work_dir)?;
    let Some(value) = config.extra.get(CONFIG_KEY) else {
        return Ok(None);
    };
    let bad = |message: String| AgentsError::BadRecord {
        path: CONFIG_PATH.to_owned(),
        message,
    };
    if value.is_null() {
        return Ok(Some(Vec::new()));
    }
    let items = value.as_sequence().ok_or_else(|| {
        bad(format!(
            "`{CONFIG_KEY}` must be a list of agents ({})",
            agent_names()
        ))
    })?;
    let mut out = Vec::new();
    for item in items {
        let name = item.as_str().unwrap_or_default();
        let agent = Agent::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                bad(format!(
                    "`{CONFIG_KEY}` lists {}, which is not one of {}",
                    serde_yaml::to_string(item)
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default(),
                    agent_names()
                ))
            })?;
        if !out.contains(&agent) {
            out.push(agent);
        }
    }
    Ok(Some(out))
}

/// Writes the list of installed agents into `.ddx/config.yml`, keeping the rest of the file;
/// an empty list drops the key (and a config left empty, which ddx then removes).
fn save_configured(work_dir: &Path, agents: &[Agent]) -> Result<(), AgentsError> {
    let mut config = Config::load(work_dir)?;
    let key = serde_yaml::Value::String(CONFIG_KEY.to_owned());
    let new = (!agents.is_empty()).then(|| {
        serde_yaml::Value::Sequence(
            agents
                .iter()
                .map(|a| serde_yaml::Value::String(a.name().to_owned()))
                .collect(),
        )
    });
    if config.extra.get(&key) == new.as_ref() {
        return Ok(());
    }
    match new {
        Some(v) => {
            config.extra.insert(key, v);
        }
        None => {
            config.extra.remove(&key);
        }
    }
    let empty = config
        .render()
        .map(|t| t.trim().is_empty())
        .unwrap_or(false);
    if empty {
        let path = Config::path(work_dir);
        return match std::fs::remove_file(&path) {
            Ok(()) => {
                remove_empty_dirs(work_dir, CONFIG_PATH);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AgentsError::Record {
                path: CONFIG_PATH.to_owned(),
                source,
            }),
        };
    }
    config.save(work_dir)?;
    Ok(())
}

/// The record of installed agents; the default when none are.
pub fn load_record(repo: &Repo) -> Result<Record, AgentsError> {
    let local = load_local(repo)?;
    let mut agents = match configured(repo.work_dir())? {
        Some(list) => list,
        None => local.agents,
    };
    agents.sort();
    Ok(Record {
        agents,
        files: local.files,
        hooks: local.hooks,
    })
}

/// One file of an install plan.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub agent: Agent,
    pub path: String,
    pub action: FileAction,
    /// Blob of what ddx records: the whole file, or the section of AGENTS.md.
    pub blob: String,
    #[serde(skip)]
    file: PlannedFile,
}

/// What happens to a file ddx wrote that the agent no longer gets (an action or phase gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaleOutcome {
    /// Still as ddx wrote it: deleted.
    Delete,
    /// Edited since ddx wrote it: kept, and named by `ddx agents status`.
    Edited,
    /// Already gone: forgotten.
    Gone,
}

/// A file of the record that is not one of the agents' files any more.
#[derive(Debug, Clone, Serialize)]
pub struct Stale {
    pub agent: Agent,
    pub path: String,
    pub outcome: StaleOutcome,
    #[serde(skip)]
    blob: String,
    #[serde(skip)]
    flagged: bool,
}

/// What an install or a refresh writes and deletes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub files: Vec<Planned>,
    pub stale: Vec<Stale>,
    /// The record already says exactly what this plan would record.
    #[serde(skip)]
    recorded: bool,
}

impl Plan {
    /// Whether applying the plan changes a file of the work tree.
    pub fn touches_files(&self) -> bool {
        self.files.iter().any(|p| p.action.writes())
            || self.stale.iter().any(|s| s.outcome == StaleOutcome::Delete)
    }

    /// Whether applying the plan changes anything, the local record included.
    pub fn changes(&self) -> bool {
        self.touches_files() || !self.recorded
    }
}

/// The file at `rel` as it is now, read beneath the work tree without following links.
fn read_current(work_dir: &Path, rel: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
    artifacts::read_beneath(work_dir, rel)
}

/// The id under which the local record (`.git/ddx/agents.json`) remembers what ddx wrote: a
/// SHA-1 blob id of the content in every repository, compared only with ids of the same kind
/// in that record, never with the repository's objects.
fn blob_id(data: &[u8]) -> String {
    artifacts::blob_id(crate::store::HashKind::Sha1, data)
}

/// The blob ddx's record is compared with: the section of AGENTS.md, the whole file otherwise.
fn recorded_part(path: &str, data: &[u8]) -> Option<String> {
    if path == AGENTS_MD {
        let text = String::from_utf8_lossy(data);
        find_section(&text).map(|r| blob_id(text[r].as_bytes()))
    } else {
        Some(blob_id(data))
    }
}

/// Plans the files of `agents` (and AGENTS.md) for `ctx` against the work tree and the record;
/// files of the record that `agents` no longer get are planned for deletion (or kept, edited).
pub fn plan(
    work_dir: &Path,
    record: &Record,
    agents: &[Agent],
    ctx: &Context,
    force: bool,
) -> Result<Plan, AgentsError> {
    let sec = section(ctx);
    let mut wanted = vec![AgentFile {
        agent: Agent::Codex,
        path: AGENTS_MD.into(),
        content: sec.clone(),
    }];
    for a in agents {
        wanted.extend(files(*a, ctx));
    }
    let mut out = Plan {
        recorded: true,
        ..Plan::default()
    };
    for f in &wanted {
        let current = read_current(work_dir, &f.path)?;
        let (content, blob) = if f.path == AGENTS_MD {
            let text = current
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            (splice(&text, &sec).into_bytes(), blob_id(sec.as_bytes()))
        } else {
            let b = blob_id(f.content.as_bytes());
            (f.content.clone().into_bytes(), b)
        };
        let after = blob_id(&content);
        let before = current.as_deref().map(blob_id);
        let recorded = record.files.get(&f.path);
        let action = match (&current, &before) {
            (None, _) => FileAction::Create,
            (Some(_), Some(b)) if *b == after => FileAction::Unchanged,
            (Some(data), _) => {
                let now = recorded_part(&f.path, data);
                match recorded.map(|r| r.blob.as_str()) {
                    Some(r) if now.as_deref() == Some(r) => FileAction::Overwrite,
                    // AGENTS.md without ddx's section: the section is added, the text kept.
                    Some(_) if f.path == AGENTS_MD && now.is_none() => FileAction::Overwrite,
                    Some(_) => FileAction::UserEdited,
                    // The markers say the section is ddx's (a clone whose record is new).
                    None if f.path == AGENTS_MD => FileAction::Overwrite,
                    None if force => FileAction::Overwrite,
                    None => FileAction::WouldOverwrite,
                }
            }
        };
        let records = action.writes() || action == FileAction::Unchanged;
        if records && recorded.is_none_or(|r| r.blob != blob || r.stale) {
            out.recorded = false;
        }
        if action == FileAction::UserEdited && recorded.is_some_and(|r| r.stale) {
            out.recorded = false;
        }
        out.files.push(Planned {
            agent: f.agent,
            path: f.path.clone(),
            action,
            blob,
            file: PlannedFile {
                artifact: format!("agents {}", f.agent.name()),
                path: f.path.clone(),
                action,
                before,
                after,
                current,
                content,
            },
        });
    }
    for (path, r) in &record.files {
        if path == AGENTS_MD || !agents.contains(&r.agent) || wanted.iter().any(|f| &f.path == path)
        {
            continue;
        }
        let outcome = match read_current(work_dir, path)? {
            None => StaleOutcome::Gone,
            Some(data) if blob_id(&data) == r.blob => StaleOutcome::Delete,
            Some(_) => StaleOutcome::Edited,
        };
        if outcome != StaleOutcome::Edited || !r.stale {
            out.recorded = false;
        }
        out.stale.push(Stale {
            agent: r.agent,
            path: path.clone(),
            outcome,
            blob: r.blob.clone(),
            flagged: r.stale,
        });
    }
    Ok(out)
}

/// Deletes `rel` if it still holds the blob `blob` (and the folders that became empty).
fn delete_if_ours(work: &Path, rel: &str, blob: &str) -> Result<bool, AgentsError> {
    match read_current(work, rel)? {
        Some(data) if blob_id(&data) == blob => {
            let full = artifacts::safe_target(work, rel)?;
            std::fs::remove_file(&full).map_err(|source| ArtifactError::Io {
                path: rel.to_owned(),
                source,
            })?;
            remove_empty_dirs(work, rel);
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Writes a plan through the artifact writer, deletes the stale files that still hold ddx's
/// content, and records what ddx now holds.
pub fn apply(repo: &Repo, plan: &Plan) -> Result<(), AgentsError> {
    let files: Vec<PlannedFile> = plan.files.iter().map(|p| p.file.clone()).collect();
    artifacts::write(&files, repo.work_dir())?;
    let mut record = load_record(repo)?;
    for p in &plan.files {
        if p.action.writes() || p.action == FileAction::Unchanged {
            record.files.insert(
                p.path.clone(),
                RecordedFile {
                    agent: p.agent,
                    blob: p.blob.clone(),
                    stale: false,
                },
            );
        } else if let Some(r) = record.files.get_mut(&p.path) {
            r.stale = false;
        }
    }
    for s in &plan.stale {
        match s.outcome {
            StaleOutcome::Delete => {
                if delete_if_ours(repo.work_dir(), &s.path, &s.blob)? {
                    record.files.remove(&s.path);
                } else if let Some(r) = record.files.get_mut(&s.path) {
                    r.stale = true;
                }
            }
            StaleOutcome::Gone => {
                record.files.remove(&s.path);
            }
            StaleOutcome::Edited => {
                if let Some(r) = record.files.get_mut(&s.path) {
                    r.stale = true;
                }
            }
        }
    }
    let legacy = match configured(repo.work_dir())? {
        Some(_) => Vec::new(),
        None => record.agents.clone(),
    };
    save_local(repo, &record.files, &record.hooks, &legacy)
}

/// `ddx agents install`: adds `agents` to the installed ones in `.ddx/config.yml` and applies
/// `plan`.
pub fn install(repo: &Repo, plan: &Plan, agents: &[Agent]) -> Result<(), AgentsError> {
    let mut all = load_record(repo)?.agents;
    for a in agents {
        if !all.contains(a) {
            all.push(*a);
        }
    }
    all.sort();
    save_configured(repo.work_dir(), &all)?;
    apply(repo, plan)
}

/// What a refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Files written (created or updated).
    pub written: Vec<String>,
    /// Stale files deleted.
    pub deleted: Vec<String>,
    /// Stale files kept because the user edited them.
    pub kept: Vec<String>,
    /// Files left behind the state: they exist, and this clone has no record that ddx wrote them.
    pub held: Vec<String>,
}

/// After a transition of `instance`: rewrites the installed agents' files that changed, deletes
/// the ones no longer wanted, keeps edited ones, and writes nothing when nothing changed or no
/// agent is installed.
pub fn refresh(repo: &Repo, instance: &str) -> Result<Refreshed, AgentsError> {
    let record = load_record(repo)?;
    if record.agents.is_empty() {
        return Ok(Refreshed::default());
    }
    let ctx = Context::of_instance(repo, instance)?;
    let planned = plan(repo.work_dir(), &record, &record.agents, &ctx, false)?;
    let held: Vec<String> = planned
        .files
        .iter()
        .filter(|p| p.action == FileAction::WouldOverwrite)
        .map(|p| p.path.clone())
        .collect();
    if !planned.changes() {
        return Ok(Refreshed {
            held,
            ..Refreshed::default()
        });
    }
    apply(repo, &planned)?;
    let stale = |o: StaleOutcome, new_only: bool| {
        planned
            .stale
            .iter()
            .filter(|s| s.outcome == o && !(new_only && s.flagged))
            .map(|s| s.path.clone())
            .collect()
    };
    Ok(Refreshed {
        written: planned
            .files
            .iter()
            .filter(|p| p.action.writes())
            .map(|p| p.path.clone())
            .collect(),
        deleted: stale(StaleOutcome::Delete, false),
        kept: stale(StaleOutcome::Edited, true),
        held,
    })
}

/// The engine's call after it committed an event of `instance`: the installed agents' files
/// follow the new state in the same command. The event stands whatever happens here, so a
/// failure is a warning.
pub(crate) fn after_event(repo: &Repo, instance: &str) {
    match refresh(repo, instance) {
        Ok(done) => {
            for p in &done.written {
                tracing::info!("agents: updated {p}");
            }
            for p in &done.deleted {
                tracing::info!("agents: removed {p}, which the workflow no longer has");
            }
            for p in &done.kept {
                tracing::warn!(
                    "agents: kept {p}: the workflow no longer has it, but it was edited since ddx wrote it"
                );
            }
            for p in &done.held {
                tracing::warn!(
                    "agents: left {p} as it is: ddx has no record of writing it in this clone \
                     (`ddx agents install --force` takes it over)"
                );
            }
        }
        Err(e) => tracing::warn!("agents: could not refresh the agents' files: {e}"),
    }
}

/// Claude Code's project settings, where its hooks live.
pub const CLAUDE_SETTINGS: &str = ".claude/settings.json";
/// The event of ddx's hook: Claude Code runs it when the agent finishes its answer.
pub const HOOK_EVENT: &str = "Stop";
/// The command of ddx's hook. Its exit code when a criterion is open (3) is, for Claude Code, a
/// non-blocking error: the user sees which criteria are open, the agent is not held back.
pub const HOOK_COMMAND: &str = "ddx gate check";

fn ddx_hook() -> serde_json::Value {
    serde_json::json!({ "type": "command", "command": HOOK_COMMAND })
}

fn is_ddx_hook(h: &serde_json::Value) -> bool {
    h.get("type").and_then(|t| t.as_str()) == Some("command")
        && h.get("command").and_then(|c| c.as_str()) == Some(HOOK_COMMAND)
}

fn settings_error(message: String) -> AgentsError {
    AgentsError::BadSettings {
        path: CLAUDE_SETTINGS.to_owned(),
        message,
    }
}

/// The settings document of `text` (an empty object for no file), checked to have the shape
/// Claude Code documents where ddx touches it.
fn parse_settings(
    text: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, AgentsError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(serde_json::Map::new());
    };
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        settings_error(format!(
            "it is not JSON (line {}, column {}: {e})",
            e.line(),
            e.column()
        ))
    })?;
    let serde_json::Value::Object(doc) = doc else {
        return Err(settings_error("it is not a JSON object".into()));
    };
    if let Some(hooks) = doc.get("hooks") {
        let Some(hooks) = hooks.as_object() else {
            return Err(settings_error("`hooks` is not an object".into()));
        };
        if hooks.get(HOOK_EVENT).is_some_and(|e| !e.is_array()) {
            return Err(settings_error(format!(
                "`hooks.{HOOK_EVENT}` is not a list"
            )));
        }
    }
    Ok(doc)
}

fn render_settings(doc: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut text = serde_json::to_string_pretty(doc).expect("a JSON value serialises");
    text.push('\n');
    text
}

/// Whether the settings hold ddx's hook.
fn has_hook(doc: &serde_json::Map<String, serde_json::Value>) -> bool {
    doc.get("hooks")
        .and_then(|h| h.get(HOOK_EVENT))
        .and_then(|e| e.as_array())
        .is_some_and(|groups| {
            groups.iter().any(|g| {
                g.get("hooks")
                    .and_then(|h| h.as_array())
                    .is_some_and(|hs| hs.iter().any(is_ddx_hook))
            })
        })
}

/// The settings text with ddx's hook merged in, every other key kept in its place; `None` when
/// the hook is there already.
pub fn with_hook(text: Option<&str>) -> Result<Option<String>, AgentsError> {
    let mut doc = parse_settings(text)?;
    if has_hook(&doc) {
        return Ok(None);
    }
    let hooks = doc
        .entry("hooks")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    let event = hooks
        .as_object_mut()
        .expect("checked to be an object")
        .entry(HOOK_EVENT)
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    event
        .as_array_mut()
        .expect("checked to be a list")
        .push(serde_json::json!({ "hooks": [ddx_hook()] }));
    Ok(Some(render_settings(&doc)))
}

/// The settings text without ddx's hook (and the lists and objects it leaves empty); `None`
/// when the hook is not there, `Some("")` when nothing else is left.
pub fn without_hook(text: &str) -> Result<Option<String>, AgentsError> {
    let mut doc = parse_settings(Some(text))?;
    if !has_hook(&doc) {
        return Ok(None);
    }
    let hooks = doc
        .get_mut("hooks")
        .and_then(|h| h.as_object_mut())
        .expect("has_hook saw it");
    let groups = hooks
        .get_mut(HOOK_EVENT)
        .and_then(|e| e.as_array_mut())
        .expect("has_hook saw it");
    let mut taken = false;
    for g in groups.iter_mut() {
        if taken {
            break;
        }
        if let Some(hs) = g.get_mut("hooks").and_then(|h| h.as_array_mut()) {
            if let Some(i) = hs.iter().position(is_ddx_hook) {
                hs.remove(i);
                taken = true;
            }
        }
    }
    groups.retain(|g| {
        g.get("hooks")
            .and_then(|h| h.as_array())
            .is_none_or(|hs| !hs.is_empty())
    });
    if groups.is_empty() {
        hooks.remove(HOOK_EVENT);
    }
    if hooks.is_empty() {
        doc.remove("hooks");
    }
    if doc.is_empty() {
        return Ok(Some(String::new()));
    }
    Ok(Some(render_settings(&doc)))
}

/// What `--hooks` does to Claude Code's settings.
#[derive(Debug, Clone, Serialize)]
pub struct HookPlan {
    pub path: String,
    pub event: &'static str,
    pub command: &'static str,
    /// `Create` or `Overwrite` when ddx adds its hook; `Unchanged` when it is there already.
    pub action: FileAction,
    #[serde(skip)]
    file: PlannedFile,
}

/// Plans ddx's hook in Claude Code's settings (only Claude Code documents hooks ddx uses).
pub fn plan_hook(work_dir: &Path) -> Result<HookPlan, AgentsError> {
    let current = read_current(work_dir, CLAUDE_SETTINGS)?;
    let text = current
        .as_deref()
        .map(|d| std::str::from_utf8(d).map_err(|_| settings_error("it is not UTF-8 text".into())))
        .transpose()?;
    let merged = with_hook(text)?;
    let action = match (&current, &merged) {
        (_, None) => FileAction::Unchanged,
        (None, Some(_)) => FileAction::Create,
        (Some(_), Some(_)) => FileAction::Overwrite,
    };
    let content = merged.map(String::into_bytes).unwrap_or_default();
    Ok(HookPlan {
        path: CLAUDE_SETTINGS.to_owned(),
        event: HOOK_EVENT,
        command: HOOK_COMMAND,
        action,
        file: PlannedFile {
            artifact: "agents claude hooks".to_owned(),
            path: CLAUDE_SETTINGS.to_owned(),
            action,
            before: current.as_deref().map(blob_id),
            after: blob_id(&content),
            current,
            content,
        },
    })
}

/// Writes ddx's hook and records that ddx put it there (a hook the user had already is theirs:
/// not recorded, so `remove` leaves it).
pub fn apply_hook(repo: &Repo, hook: &HookPlan) -> Result<(), AgentsError> {
    if !hook.action.writes() {
        return Ok(());
    }
    artifacts::write(std::slice::from_ref(&hook.file), repo.work_dir())?;
    let mut record = load_record(repo)?;
    if !record.hooks.contains(&hook.path) {
        record.hooks.push(hook.path.clone());
    }
    let legacy = match configured(repo.work_dir())? {
        Some(_) => Vec::new(),
        None => record.agents.clone(),
    };
    save_local(repo, &record.files, &record.hooks, &legacy)
}

/// Takes ddx's hook out of `path` (the rest of the settings kept); the file goes when nothing
/// else is left in it.
fn remove_hook(work: &Path, path: &str, dry_run: bool) -> Result<&'static str, AgentsError> {
    let Some(data) = read_current(work, path)? else {
        return Ok("missing");
    };
    let text =
        std::str::from_utf8(&data).map_err(|_| settings_error("it is not UTF-8 text".into()))?;
    let Some(rest) = without_hook(text)? else {
        return Ok("missing");
    };
    if !dry_run {
        let full = artifacts::safe_target(work, path)?;
        let io = |source| ArtifactError::Io {
            path: path.to_owned(),
            source,
        };
        if rest.is_empty() {
            std::fs::remove_file(&full).map_err(io)?;
            remove_empty_dirs(work, path);
        } else {
            crate::config::write_atomically(&full, rest.as_bytes()).map_err(io)?;
        }
    }
    Ok("hook removed")
}

/// Whether ddx's hook is still in each settings file ddx put it in.
#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    pub path: String,
    pub event: &'static str,
    pub command: &'static str,
    /// `current` or `missing`.
    pub state: FileState,
}

fn hook_status(work: &Path, path: &str) -> Result<HookStatus, AgentsError> {
    let present = match read_current(work, path)? {
        None => false,
        Some(data) => std::str::from_utf8(&data)
            .ok()
            .and_then(|t| parse_settings(Some(t)).ok())
            .is_some_and(|doc| has_hook(&doc)),
    };
    Ok(HookStatus {
        path: path.to_owned(),
        event: HOOK_EVENT,
        command: HOOK_COMMAND,
        state: if present {
            FileState::Current
        } else {
            FileState::Missing
        },
    })
}

/// The state of one file ddx wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// As ddx wrote it.
    Current,
    /// Changed since ddx wrote it.
    Edited,
    /// Gone (for AGENTS.md: ddx's section is).
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    pub agent: Agent,
    pub path: String,
    pub state: FileState,
    /// No longer one of the agent's files (kept because it was edited).
    pub stale: bool,
}

/// What ddx wrote for the installed agents, and how each file and hook stands now.
pub fn status(repo: &Repo) -> Result<(Record, Vec<FileStatus>, Vec<HookStatus>), AgentsError> {
    let record = load_record(repo)?;
    let mut out = Vec::new();
    for (path, r) in &record.files {
        let state = match read_current(repo.work_dir(), path)? {
            None => FileState::Missing,
            Some(data) => match recorded_part(path, &data) {
                None => FileState::Missing,
                Some(b) if b == r.blob => FileState::Current,
                Some(_) => FileState::Edited,
            },
        };
        out.push(FileStatus {
            agent: r.agent,
            path: path.clone(),
            state,
            stale: r.stale,
        });
    }
    let hooks = record
        .hooks
        .iter()
        .map(|p| hook_status(repo.work_dir(), p))
        .collect::<Result<_, _>>()?;
    Ok((record, out, hooks))
}

/// What `remove` did to one file.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub path: String,
    /// `removed`, `section removed`, `hook removed`, `kept (edited)`, `missing`.
    pub outcome: &'static str,
}

/// Removes what ddx wrote for `agents` (all installed ones when empty) and still holds ddx's
/// content; AGENTS.md loses only ddx's section, and only once no agent is left.
pub fn remove(repo: &Repo, agents: &[Agent], dry_run: bool) -> Result<Vec<Removed>, AgentsError> {
    let mut record = load_record(repo)?;
    let gone: Vec<Agent> = if agents.is_empty() {
        record.agents.clone()
    } else {
        agents.to_vec()
    };
    let left: Vec<Agent> = record
        .agents
        .iter()
        .copied()
        .filter(|a| !gone.contains(a))
        .collect();
    let work = repo.work_dir();
    let mut out = Vec::new();
    let paths: Vec<(String, RecordedFile)> = record
        .files
        .iter()
        .filter(|(p, r)| {
            if p.as_str() == AGENTS_MD {
                left.is_empty()
            } else {
                gone.contains(&r.agent)
            }
        })
        .map(|(p, r)| (p.clone(), r.clone()))
        .collect();
    for (path, r) in paths {
        let full = artifacts::safe_target(work, &path)?;
        let io = |source| ArtifactError::Io {
            path: path.clone(),
            source,
        };
        let outcome = match read_current(work, &path)? {
            None => "missing",
            Some(data) if recorded_part(&path, &data).as_deref() != Some(r.blob.as_str()) => {
                if recorded_part(&path, &data).is_none() {
                    "missing"
                } else {
                    "kept (edited)"
                }
            }
            Some(data) if path == AGENTS_MD => {
                let rest = strip(&String::from_utf8_lossy(&data));
                if !dry_run {
                    if rest.is_empty() {
                        std::fs::remove_file(&full).map_err(io)?;
                    } else {
                        crate::config::write_atomically(&full, rest.as_bytes()).map_err(io)?;
                    }
                }
                "section removed"
            }
            Some(_) => {
                if !dry_run {
                    std::fs::remove_file(&full).map_err(io)?;
                    remove_empty_dirs(work, &path);
                }
                "removed"
            }
        };
        if outcome != "kept (edited)" {
            record.files.remove(&path);
        }
        out.push(Removed { path, outcome });
    }
    if gone.contains(&Agent::Claude) {
        for path in std::mem::take(&mut record.hooks) {
            let outcome = remove_hook(work, &path, dry_run)?;
            out.push(Removed { path, outcome });
        }
    }
    if !dry_run {
        save_configured(work, &left)?;
        save_local(repo, &record.files, &record.hooks, &[])?;
    }
    Ok(out)
}

/// Removes the folders of `rel` that became empty, up to (not including) the work tree.
fn remove_empty_dirs(work: &Path, rel: &str) {
    let mut parent = Path::new(rel).parent();
    while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
        if std::fs::remove_dir(work.join(p)).is_err() {
            break;
        }
        parent = p.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_merges_into_the_users_settings_and_comes_out_exactly() {
        let user = "{\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(ls:*)\"\n    ]\n  },\n  \"hooks\": {\n    \"Stop\": [\n      {\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"say done\"\n          }\n        ]\n      }\n    ]\n  },\n  \"model\": \"opus\"\n}\n";
        let merged = with_hook(Some(user)).unwrap().expect("the hook is added");
        let doc: serde_json::Value = serde_json::from_str(&merged).unwrap();
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["permissions", "hooks", "model"]);
        assert_eq!(doc["hooks"]["Stop"][0]["hooks"][0]["command"], "say done");
        assert_eq!(doc["hooks"]["Stop"][1]["hooks"][0]["command"], HOOK_COMMAND);
        assert_eq!(doc["hooks"]["Stop"][1]["hooks"][0]["type"], "command");
        assert_eq!(with_hook(Some(&merged)).unwrap(), None, "added once");
        assert_eq!(without_hook(&merged).unwrap().as_deref(), Some(user));
        assert_eq!(
            without_hook(user).unwrap(),
            None,
            "the user's hooks are theirs"
        );

        let fresh = with_hook(None).unwrap().unwrap();
        assert_eq!(without_hook(&fresh).unwrap().as_deref(), Some(""));
        let err = with_hook(Some("{\"hooks\": []}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot merge ddx's hook into .claude/settings.json: `hooks` is not an object; nothing in it was changed"
        );
        let err = with_hook(Some("{ // no comments in JSON\n}")).unwrap_err();
        assert!(
            err.to_string().contains("it is not JSON (line 1, column 3"),
            "{err}"
        );
    }

    #[test]
    fn splice_and_strip_keep_the_users_text() {
        let sec = format!("{BEGIN}\nx\n{END}\n");
        for user in ["", "Mine\n", "Mine\n\n", "# A\n\ntext\n"] {
            let spliced = splice(user, &sec);
            assert!(spliced.contains(&sec));
            assert_eq!(strip(&spliced), user, "{user:?}");
        }
        let middle = format!("top\n{sec}bottom\n");
        let new = format!("{BEGIN}\ny\n{END}\n");
        assert_eq!(splice(&middle, &new), format!("top\n{new}bottom\n"));
        assert_eq!(strip(&middle), "top\nbottom\n");
    }
}
