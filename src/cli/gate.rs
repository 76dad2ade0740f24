//! `ddx gate …`: approve a human criterion (the machine checks arrive with `ddx gate check`).

use super::instance::{self, InstanceArg};
use super::{Cli, ExitCode, Output};
use crate::engine::machine::Op;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Approve a human criterion of a phase; the approval is recorded with you as its actor.
    Approve(ApproveArgs),
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The phase id.
    pub phase: String,
    /// The criterion: its text, a unique part of it, or its number in `ddx workflow status`.
    pub criterion: String,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// A comment recorded with the approval.
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub comment: Option<String>,
    /// Show what would be recorded and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &GateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GateCommand::Approve(args) => cmd_approve(cli, out, args),
    }
}

fn cmd_approve(cli: &Cli, out: &Output, args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let engine = instance::engine(&repo)?;
    let op = Op::Approve {
        phase: args.phase.clone(),
        criterion: args.criterion.clone(),
        comment: args.comment.clone(),
    };
    let report = engine.apply(&id, &op, None, args.dry_run)?;
    Ok(instance::print_report(out, &report))
}
