//! `ddx checkpoint …`: name an instance's current event, and list the names.

use super::instance::{self, InstanceArg};
use super::{Cli, ExitCode, Output};
use crate::engine;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum CheckpointCommand {
    /// Name the instance's current state (refs/ddx/checkpoints/<id>/<name>).
    Create(CreateArgs),
    /// List the checkpoints of an instance.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The checkpoint's name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// Move an existing checkpoint of that name to the current state.
    #[arg(long)]
    pub force: bool,
    /// Show what would be recorded and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: the checkpoint's ref, the refs moved.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub instance: InstanceArg,
    /// Print one JSON document (an array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &CheckpointCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CheckpointCommand::Create(args) => {
            let repo = instance::open(cli)?;
            let id = instance::resolve(&repo, &args.instance)?;
            let engine = instance::engine(&repo)?;
            let report = engine.checkpoint(&id, &args.name, args.force, args.dry_run)?;
            instance::print_report(out, &report, args.json)
        }
        CheckpointCommand::List(args) => {
            let repo = instance::open(cli)?;
            let id = instance::resolve(&repo, &args.instance)?;
            let list = engine::checkpoints(&repo, &id)?;
            if args.json {
                out.json(&list)?;
                return Ok(ExitCode::Ok);
            }
            if list.is_empty() {
                out.note(format!(
                    "Instance {id} has no checkpoints; `ddx checkpoint create <name>` makes one."
                ));
                return Ok(ExitCode::Ok);
            }
            let w = list.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
            out.line(out.bold(&format!(
                "{:w$}  COMMIT   TIME                  STATUS     DONE  IN PROGRESS",
                "NAME"
            )));
            for c in &list {
                out.line(format!(
                    "{:w$}  {}  {}  {:9}  {:>3}%  {}",
                    c.name,
                    &c.commit[..7],
                    c.time,
                    c.status.as_str(),
                    c.progress,
                    c.active.join(", ")
                ));
            }
            Ok(ExitCode::Ok)
        }
    }
}
