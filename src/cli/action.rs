//! `ddx action …`: list a workflow's actions, and run one for an instance.

use super::instance::{self, InstanceArg};
use super::{cwd, Cli, ExitCode, Output};
use crate::catalog;
use crate::engine::actions::{self, ActionView, Ran, RunOptions};
use crate::store::transaction::Outcome;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ActionCommand {
    /// List the actions of the instance's workflow (or of --workflow): prompts and commands.
    List(ListArgs),
    /// Run an action: a prompt goes to the agent (or is printed), a command runs; recorded as an event.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub instance: InstanceArg,
    /// List the actions of this workflow (a name, or a path) instead of an instance's.
    #[arg(long, value_name = "NAME|PATH", conflicts_with = "instance")]
    pub workflow: Option<String>,
    /// Print one JSON document (an array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The action: its id, or `<phase>/<id>` (`ddx action list` shows them).
    pub action: String,
    /// Arguments for the action: `args` in its template, `"$@"` of a command (after `--` when
    /// they start with `-`).
    pub args: Vec<String>,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// Run a command action although its workflow's source is not trusted.
    #[arg(long)]
    pub trust: bool,
    /// Show what would run and be recorded, and run and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: what ran, its exit status, the files it changed, the event and
    /// the refs moved. The action's own output is not passed through (its size is given).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &ActionCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActionCommand::List(args) => cmd_list(cli, out, args),
        ActionCommand::Run(args) => cmd_run(cli, out, args),
    }
}

fn cmd_list(cli: &Cli, out: &Output, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let list: Vec<ActionView> = match &args.workflow {
        Some(spec) => actions::list(&catalog::locate(spec, &cwd(cli)?)?.load()?),
        None => {
            let repo = instance::open(cli)?;
            let id = instance::resolve(&repo, &args.instance)?;
            let (tip, _) = crate::engine::load(&repo, &id)?;
            actions::list(&crate::engine::load_pinned(&repo, &id, &tip)?)
        }
    };
    if args.json {
        out.json(&list)?;
        return Ok(ExitCode::Ok);
    }
    if list.is_empty() {
        out.note("The workflow has no actions.");
        return Ok(ExitCode::Ok);
    }
    let w = list.iter().map(|a| a.name.len()).max().unwrap_or(4).max(4);
    out.line(out.bold(&format!("{:w$}  {:7}  TITLE", "NAME", "KIND")));
    for a in &list {
        let mut line = format!(
            "{}  {:7}  {}",
            out.bold(&format!("{:w$}", a.name)),
            a.kind,
            a.title
        );
        if let Some(c) = &a.command {
            line.push_str(&out.dim(&format!("  $ {c}")));
        }
        out.line(line);
    }
    Ok(ExitCode::Ok)
}

/// Warns when the action belongs to a phase that is not in progress (the run itself names
/// any error, so a failed lookup here says nothing).
fn warn_out_of_phase(out: &Output, repo: &crate::store::Repo, id: &str, spec: &str) {
    let Ok((tip, st)) = crate::engine::load(repo, id) else {
        return;
    };
    let Ok(wf) = crate::engine::load_pinned(repo, id, &tip) else {
        return;
    };
    let current: Vec<String> = st
        .phases
        .iter()
        .filter(|p| p.status == crate::engine::state::PhaseStatus::InProgress)
        .map(|p| p.id.clone())
        .collect();
    let Ok(action) = actions::find(&wf, spec, &current) else {
        return;
    };
    let Some(phase) = action.phase.as_deref() else {
        return;
    };
    if let Some(p) = st.phase(phase).filter(|p| !current.contains(&p.id)) {
        out.warn(format!(
            "{spec} belongs to phase {phase}, which is {}, not in progress (in progress: {})",
            p.status.as_str(),
            if current.is_empty() {
                "none".to_owned()
            } else {
                current.join(", ")
            }
        ));
    }
}

fn cmd_run(cli: &Cli, out: &Output, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    warn_out_of_phase(out, &repo, &id, &args.action);
    let engine = instance::engine(&repo)?;
    let opts = RunOptions {
        args: args.args.clone(),
        consent: args.trust,
        dry_run: args.dry_run,
        echo: !args.json,
    };
    let report = engine.run_action(&id, &args.action, &opts)?;
    if args.json {
        out.json(&run_json(&report))?;
        return Ok(if report.succeeded() {
            ExitCode::Ok
        } else {
            ExitCode::Failure
        });
    }
    let name = &report.action.name;
    if args.dry_run {
        out.note("Dry run: nothing is written.");
    }
    match &report.ran {
        Ran::Printed { text } => {
            out.note(format!(
                "No agent is configured (`agent: {{command: ...}}` in .ddx/config.yml, or DDX_AGENT): here is the prompt of {name}; nothing is recorded."
            ));
            out.raw(text);
        }
        Ran::WouldRun { command, input } => {
            match (&report.agent, input) {
                (Some(agent), Some(prompt)) => {
                    out.line(format!(
                        "would pipe the prompt of {name} ({} bytes) to `{command}` (from {})",
                        prompt.len(),
                        agent.from
                    ));
                    out.raw(prompt);
                }
                _ => {
                    let how = report
                        .trust
                        .as_ref()
                        .map(|t| format!(" (trusted: {})", t.how))
                        .unwrap_or_default();
                    out.line(format!("would run `{command}`{how}"));
                }
            }
            if let Some(r) = &report.report {
                if let Outcome::DryRun(w) = &r.outcome {
                    for m in &w.moves {
                        out.line(format!(
                            "would move {} {} -> (an event recording the exit status, output size and changed files)",
                            m.name,
                            m.old.map_or_else(|| "(new)".to_owned(), |o| o.to_hex_with_len(7).to_string())
                        ));
                    }
                }
            }
        }
        Ran::Ran {
            status,
            timed_out,
            output_bytes,
            changes,
            ..
        } => {
            let exit = match (status, timed_out) {
                (Some(n), _) => format!("exited with {n}"),
                (None, true) => "ran out of time and was stopped".to_owned(),
                (None, false) => "was killed by a signal".to_owned(),
            };
            out.note(format!(
                "action {name} {exit} ({output_bytes} bytes of output, {} file{} changed)",
                changes.len(),
                if changes.len() == 1 { "" } else { "s" }
            ));
            if let Some(r) = &report.report {
                for l in r.lines.iter().skip(1) {
                    out.note(format!("  {l}"));
                }
                if let Outcome::Committed(w) = &r.outcome {
                    for m in &w.moves {
                        out.note(format!(
                            "{} {} -> {}",
                            m.name,
                            m.old.map_or_else(
                                || "(new)".to_owned(),
                                |o| o.to_hex_with_len(7).to_string()
                            ),
                            m.new.to_hex_with_len(7)
                        ));
                    }
                }
            }
        }
    }
    Ok(if report.succeeded() {
        ExitCode::Ok
    } else {
        ExitCode::Failure
    })
}

/// `ddx action run --json`.
fn run_json(report: &crate::engine::actions::ActionReport) -> serde_json::Value {
    let ran = match &report.ran {
        Ran::Printed { text } => serde_json::json!({ "kind": "printed", "prompt": text }),
        Ran::WouldRun { command, input } => {
            serde_json::json!({ "kind": "would_run", "command": command, "input": input })
        }
        Ran::Ran {
            command,
            status,
            timed_out,
            output_bytes,
            changes,
        } => serde_json::json!({
            "kind": "ran",
            "command": command,
            "status": status,
            "timed_out": timed_out,
            "output_bytes": output_bytes,
            "changes": changes
                .iter()
                .map(|c| serde_json::json!({
                    "path": c.path,
                    "before": c.before.map(|b| b.to_string()),
                    "after": c.after.map(|a| a.to_string()),
                }))
                .collect::<Vec<_>>(),
        }),
    };
    serde_json::json!({
        "action": report.action,
        "ran": ran,
        "succeeded": report.succeeded(),
        "trust": report.trust,
        "agent": report.agent,
        "recorded": report.report.as_ref().map(|r| instance::change_json(r, None)),
    })
}
