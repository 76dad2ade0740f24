//! Coding agents: the AGENTS.md section and each agent's command files, written and kept current.
//!
//! [`Context`] says what an agent should know: the workflow, the phases in progress with their
//! artifacts and open criteria, and the workflow's actions. [`files`] renders, per agent, the
//! files that carry it (Claude Code, Copilot, Cursor, Gemini CLI command files; the AGENTS.md
//! section between ddx's markers for every agent, Codex included). [`plan`] compares them with
//! the work tree and the record of what ddx wrote (`.git/ddx/agents.json`, local), [`apply`]
//! writes through the artifact writer, so a file the user edited is never written over and the
//! user's text around the AGENTS.md markers is kept byte for byte. [`refresh`] is called after
//! a transition: with agents installed, it rewrites what changed and writes nothing otherwise.

use super::artifacts::{self, ArtifactError, FileAction, PlannedFile};
use super::state::PhaseStatus;
use super::EngineError;
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
    #[error("cannot read or write the agents record {path}")]
    Record {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the agents record {path} is not valid: {message}")]
    BadRecord { path: String, message: String },
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
    for a in &ctx.actions {
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
                        "---\ndescription: {}\nagent: agent\n---\n\n{}",
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

/// What ddx wrote, per path: the agent and the blob (of the section, for AGENTS.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    pub agents: Vec<Agent>,
    pub files: BTreeMap<String, RecordedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedFile {
    pub agent: Agent,
    pub blob: String,
}

fn record_path(repo: &Repo) -> std::path::PathBuf {
    repo.ddx_dir().join("agents.json")
}

/// The record of installed agents; the default when none are.
pub fn load_record(repo: &Repo) -> Result<Record, AgentsError> {
    let path = record_path(repo);
    match std::fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| AgentsError::BadRecord {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(source) => Err(AgentsError::Record {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn save_record(repo: &Repo, record: &Record) -> Result<(), AgentsError> {
    let path = record_path(repo);
    let io = |source| AgentsError::Record {
        path: path.display().to_string(),
        source,
    };
    let dir = repo.ddx_dir();
    std::fs::create_dir_all(&dir).map_err(io)?;
    let data = serde_json::to_vec_pretty(record).expect("a record serialises");
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, &data).map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
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

/// Plans the files of `agents` (and AGENTS.md) for `ctx` against the work tree and the record.
pub fn plan(
    work_dir: &Path,
    record: &Record,
    agents: &[Agent],
    ctx: &Context,
    force: bool,
) -> Result<Vec<Planned>, AgentsError> {
    let sec = section(ctx);
    let mut wanted = vec![AgentFile {
        agent: Agent::Codex,
        path: AGENTS_MD.into(),
        content: sec.clone(),
    }];
    for a in agents {
        wanted.extend(files(*a, ctx));
    }
    let mut out = Vec::new();
    for f in wanted {
        let current = read_current(work_dir, &f.path)?;
        let (content, blob) = if f.path == AGENTS_MD {
            let text = current
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            (splice(&text, &sec).into_bytes(), blob_id(sec.as_bytes()))
        } else {
            let b = blob_id(f.content.as_bytes());
            (f.content.into_bytes(), b)
        };
        let after = blob_id(&content);
        let before = current.as_deref().map(blob_id);
        let recorded = record.files.get(&f.path).map(|r| r.blob.as_str());
        let action = match (&current, &before) {
            (None, _) => FileAction::Create,
            (Some(_), Some(b)) if *b == after => FileAction::Unchanged,
            (Some(data), _) => {
                let now = recorded_part(&f.path, data);
                match recorded {
                    Some(r) if now.as_deref() == Some(r) => FileAction::Overwrite,
                    Some(_) => FileAction::UserEdited,
                    // AGENTS.md without ddx's section: the section is added, the text kept.
                    None if f.path == AGENTS_MD && now.is_none() => FileAction::Overwrite,
                    None if force => FileAction::Overwrite,
                    None => FileAction::WouldOverwrite,
                }
            }
        };
        out.push(Planned {
            agent: f.agent,
            path: f.path.clone(),
            action,
            blob,
            file: PlannedFile {
                artifact: format!("agents {}", f.agent.name()),
                path: f.path,
                action,
                before,
                after,
                current,
                content,
            },
        });
    }
    Ok(out)
}

/// Writes a plan through the artifact writer and records what ddx now holds.
pub fn apply(repo: &Repo, plan: &[Planned], agents: &[Agent]) -> Result<(), AgentsError> {
    let files: Vec<PlannedFile> = plan.iter().map(|p| p.file.clone()).collect();
    artifacts::write(&files, repo.work_dir())?;
    let mut record = load_record(repo)?;
    for a in agents {
        if !record.agents.contains(a) {
            record.agents.push(*a);
        }
    }
    record.agents.sort();
    for p in plan {
        if p.action.writes() || p.action == FileAction::Unchanged {
            record.files.insert(
                p.path.clone(),
                RecordedFile {
                    agent: p.agent,
                    blob: p.blob.clone(),
                },
            );
        }
    }
    save_record(repo, &record)
}

/// After a transition of `instance`: rewrites the installed agents' files that changed, keeps
/// edited ones, and writes nothing when nothing changed or no agent is installed.
pub fn refresh(repo: &Repo, instance: &str) -> Result<Vec<String>, AgentsError> {
    let record = load_record(repo)?;
    if record.agents.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = Context::of_instance(repo, instance)?;
    let planned = plan(repo.work_dir(), &record, &record.agents, &ctx, false)?;
    if planned.iter().all(|p| !p.action.writes()) {
        return Ok(Vec::new());
    }
    apply(repo, &planned, &record.agents)?;
    Ok(planned
        .iter()
        .filter(|p| p.action.writes())
        .map(|p| p.path.clone())
        .collect())
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
}

/// What ddx wrote for the installed agents, and how each file stands now.
pub fn status(repo: &Repo) -> Result<(Record, Vec<FileStatus>), AgentsError> {
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
        });
    }
    Ok((record, out))
}

/// What `remove` did to one file.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub path: String,
    /// `removed`, `section removed`, `kept (edited)`, `missing`.
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
                        let mut tmp = tempfile::NamedTempFile::new_in(work).map_err(io)?;
                        std::io::Write::write_all(&mut tmp, rest.as_bytes()).map_err(io)?;
                        tmp.persist(&full).map_err(|e| io(e.error))?;
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
    record.agents = left;
    if !dry_run {
        save_record(repo, &record)?;
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
