//! `ddx agents …`: write, inspect and remove the coding agents' command files and AGENTS.md section.

use super::instance::{self, InstanceArg};
use super::{cwd, Cli, ExitCode, Output};
use crate::catalog;
use crate::engine::agents::{self, Agent, Context, StaleOutcome};
use crate::engine::artifacts::FileAction;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AgentsCommand {
    /// Write AGENTS.md's ddx section and each agent's command files for the instance in progress.
    Install(InstallArgs),
    /// Show which agents are installed and whether each file is current, edited or missing.
    Status(StatusArgs),
    /// Remove what ddx wrote and still holds ddx's content; edited files are kept and named.
    Remove(RemoveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentArg {
    Claude,
    Copilot,
    Cursor,
    Gemini,
    Codex,
    All,
}

fn chosen(args: &[AgentArg]) -> Vec<Agent> {
    let mut out = Vec::new();
    for a in args {
        let add: &[Agent] = match a {
            AgentArg::Claude => &[Agent::Claude],
            AgentArg::Copilot => &[Agent::Copilot],
            AgentArg::Cursor => &[Agent::Cursor],
            AgentArg::Gemini => &[Agent::Gemini],
            AgentArg::Codex => &[Agent::Codex],
            AgentArg::All => &Agent::ALL,
        };
        for x in add {
            if !out.contains(x) {
                out.push(*x);
            }
        }
    }
    out
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The agents (repeatable); default: those whose folders exist, else all.
    #[arg(long = "agent", value_enum)]
    pub agents: Vec<AgentArg>,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// With no instance: the workflow (a name or a path) whose actions become commands.
    #[arg(long, value_name = "NAME|PATH")]
    pub workflow: Option<String>,
    /// Overwrite files ddx did not write (never a file the user edited since ddx wrote it).
    #[arg(long)]
    pub force: bool,
    /// Also merge ddx's hooks into the agents' settings (Claude Code: a `Stop` hook that runs
    /// `ddx gate check`), keeping every other setting.
    #[arg(long)]
    pub hooks: bool,
    /// Show what would be written, per file, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: the agents, and what happened to each file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The agents (repeatable); default: every installed one.
    #[arg(long = "agent", value_enum)]
    pub agents: Vec<AgentArg>,
    /// Show what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: what happened to each file.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &AgentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AgentsCommand::Install(args) => cmd_install(cli, out, args),
        AgentsCommand::Status(args) => cmd_status(cli, out, args),
        AgentsCommand::Remove(args) => cmd_remove(cli, out, args),
    }
}

fn cmd_install(cli: &Cli, out: &Output, args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let ctx = match &args.workflow {
        Some(spec) => Context::of_workflow(&catalog::locate(spec, &cwd(cli)?)?.load()?),
        None => {
            let id = instance::resolve(&repo, &args.instance)?;
            Context::of_instance(&repo, &id)?
        }
    };
    let agents = if args.agents.is_empty() {
        agents::detect(repo.work_dir())
    } else {
        chosen(&args.agents)
    };
    let record = agents::load_record(&repo)?;
    let plan = agents::plan(repo.work_dir(), &record, &agents, &ctx, args.force)?;
    // With --json, one document at the end says it all.
    let line = |text: String| {
        if !args.json {
            out.line(text);
        }
    };
    for p in &plan.files {
        let label = match (p.action, args.dry_run) {
            (FileAction::Create, false) => "created",
            (FileAction::Create, true) => "new",
            (FileAction::Unchanged, _) => "unchanged",
            (FileAction::Overwrite, false) => "updated",
            (FileAction::Overwrite, true) => "would update",
            (FileAction::WouldOverwrite, _) => "skipped: exists and ddx did not write it (--force)",
            (FileAction::UserEdited, _) => "kept: edited since ddx wrote it",
        };
        line(format!("{label:<10}  {}", p.path));
    }
    for s in &plan.stale {
        let label = match (s.outcome, args.dry_run) {
            (StaleOutcome::Delete, false) => "removed",
            (StaleOutcome::Delete, true) => "would remove",
            (StaleOutcome::Edited, _) => "kept: no longer used, but edited since ddx wrote it",
            (StaleOutcome::Gone, _) => "gone",
        };
        line(format!("{label:<10}  {}", s.path));
    }
    let hook = match (args.hooks, agents.contains(&Agent::Claude)) {
        (true, true) => Some(agents::plan_hook(repo.work_dir())?),
        (true, false) => {
            out.note(
                "--hooks: of the chosen agents only Claude Code has hooks ddx uses; none added.",
            );
            None
        }
        (false, _) => None,
    };
    if let Some(h) = &hook {
        let label = match (h.action, args.dry_run) {
            (FileAction::Unchanged, _) => "unchanged",
            (_, false) => "hook added",
            (_, true) => "would add hook",
        };
        line(format!(
            "{label:<10}  {} ({}: {})",
            h.path, h.event, h.command
        ));
    }
    let json = || {
        let names: Vec<&str> = agents.iter().map(|a| a.name()).collect();
        serde_json::json!({
            "dry_run": args.dry_run,
            "agents": names,
            "files": plan.files,
            "stale": plan.stale,
            "hook": hook,
        })
    };
    if args.dry_run {
        if args.json {
            out.json(&json())?;
            return Ok(ExitCode::Ok);
        }
        out.note("Dry run: nothing is written.");
        return Ok(ExitCode::Ok);
    }
    let before = record.agents.clone();
    agents::install(&repo, &plan, &agents)?;
    if let Some(h) = &hook {
        agents::apply_hook(&repo, h)?;
    }
    if args.json {
        out.json(&json())?;
        return Ok(ExitCode::Ok);
    }
    let added: Vec<&str> = agents
        .iter()
        .filter(|a| !before.contains(a))
        .map(|a| a.name())
        .collect();
    if !added.is_empty() {
        out.note(format!(
            "{} now lists {} under `{}:`; commit it so every clone keeps the files current.",
            crate::config::CONFIG_PATH,
            added.join(", "),
            agents::CONFIG_KEY
        ));
    }
    let hook_added = hook.as_ref().is_some_and(|h| h.action.writes());
    if !plan.touches_files() && added.is_empty() && !hook_added {
        out.note("Nothing changed.");
    }
    Ok(ExitCode::Ok)
}

fn cmd_status(cli: &Cli, out: &Output, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let (record, files, hooks) = agents::status(&repo)?;
    if args.json {
        out.json(&serde_json::json!({ "agents": record.agents, "files": files, "hooks": hooks }))?;
        return Ok(ExitCode::Ok);
    }
    if record.agents.is_empty() {
        out.note("No agents installed; `ddx agents install` writes their files.");
        return Ok(ExitCode::Ok);
    }
    let names: Vec<&str> = record.agents.iter().map(|a| a.name()).collect();
    out.line(format!("agents: {}", names.join(", ")));
    for f in &files {
        let state = match f.state {
            agents::FileState::Current => "current",
            agents::FileState::Edited => "edited",
            agents::FileState::Missing => "missing",
        };
        if f.stale {
            out.line(format!(
                "{state:<8}  {}  (no longer used; kept because it was edited)",
                f.path
            ));
        } else {
            out.line(format!("{state:<8}  {}", f.path));
        }
    }
    for h in &hooks {
        let state = match h.state {
            agents::FileState::Missing => "missing",
            _ => "current",
        };
        out.line(format!(
            "{state:<8}  {} (hook {}: {})",
            h.path, h.event, h.command
        ));
    }
    Ok(ExitCode::Ok)
}

fn cmd_remove(cli: &Cli, out: &Output, args: &RemoveArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let removed = agents::remove(&repo, &chosen(&args.agents), args.dry_run)?;
    if args.json {
        out.json(&serde_json::json!({ "dry_run": args.dry_run, "files": removed }))?;
        return Ok(ExitCode::Ok);
    }
    for r in &removed {
        out.line(format!("{}  {}", r.outcome, r.path));
    }
    if args.dry_run {
        out.note("Dry run: nothing is removed.");
    }
    Ok(ExitCode::Ok)
}
