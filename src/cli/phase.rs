//! `ddx phase …`: start, complete, skip, fail and reopen a phase of an instance.

use super::instance::{self, ChangeArgs, InstanceArg};
use super::{Cli, ExitCode, Output};
use crate::engine::machine::Op;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PhaseCommand {
    /// Start a ready phase (its input gates must pass, or --force).
    Start(ForceArgs),
    /// Complete a phase in progress (its exit criteria must pass or be approved, or --force).
    Complete(ForceArgs),
    /// Skip a phase; phases depending on it may go ahead.
    Skip(PhaseArgs),
    /// Mark a phase in progress as failed.
    Fail(PhaseArgs),
    /// Work on a completed, failed or skipped phase again (its exit approvals are cleared).
    Reopen(PhaseArgs),
}

#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// The phase id (`ddx workflow status` lists them).
    pub phase: String,
    #[command(flatten)]
    pub instance: InstanceArg,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct ForceArgs {
    #[command(flatten)]
    pub phase: PhaseArgs,
    /// Go ahead although the gate is not satisfied; recorded as a deviation.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &PhaseCommand) -> anyhow::Result<ExitCode> {
    let (args, op) = match cmd {
        PhaseCommand::Start(a) => (
            &a.phase,
            Op::Start {
                phase: a.phase.phase.clone(),
                force: a.force,
            },
        ),
        PhaseCommand::Complete(a) => (
            &a.phase,
            Op::Complete {
                phase: a.phase.phase.clone(),
                force: a.force,
            },
        ),
        PhaseCommand::Skip(a) => (
            a,
            Op::Skip {
                phase: a.phase.clone(),
            },
        ),
        PhaseCommand::Fail(a) => (
            a,
            Op::Fail {
                phase: a.phase.clone(),
            },
        ),
        PhaseCommand::Reopen(a) => (
            a,
            Op::Reopen {
                phase: a.phase.clone(),
            },
        ),
    };
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let engine = instance::engine(&repo)?;
    let report = engine.apply(&id, &op, args.change.reason.as_deref(), args.change.dry_run)?;
    Ok(instance::print_report(out, &report))
}
