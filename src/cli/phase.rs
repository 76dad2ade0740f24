//! `ddx phase …`: start, complete, skip, fail and reopen a phase of an instance.

use super::instance::{self, ChangeArgs, InstanceArg};
use super::{Cli, ExitCode, Output};
use crate::engine::machine::Op;
use crate::engine::work::{FileOptions, Render, Step};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum PhaseCommand {
    /// Start a ready phase (its input gates must pass, or --force) and render its artifacts.
    Start(StartArgs),
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
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::phases))]
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
    /// Run `command` checks although the workflow's source is not trusted.
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub start: ForceArgs,
    /// Overwrite artifact files that exist with other content (never ones you edited after
    /// ddx wrote them).
    #[arg(long)]
    pub overwrite: bool,
    /// Show a unified diff of every file written or that would be.
    #[arg(long)]
    pub diff: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &PhaseCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PhaseCommand::Start(a) => cmd_start(cli, out, a),
        PhaseCommand::Complete(a) => cmd_op(
            cli,
            out,
            &a.phase,
            Op::Complete {
                phase: a.phase.phase.clone(),
                force: a.force,
            },
            a.trust,
        ),
        PhaseCommand::Skip(a) => cmd_op(
            cli,
            out,
            a,
            Op::Skip {
                phase: a.phase.clone(),
            },
            false,
        ),
        PhaseCommand::Fail(a) => cmd_op(
            cli,
            out,
            a,
            Op::Fail {
                phase: a.phase.clone(),
            },
            false,
        ),
        PhaseCommand::Reopen(a) => cmd_op(
            cli,
            out,
            a,
            Op::Reopen {
                phase: a.phase.clone(),
            },
            false,
        ),
    }
}

fn cmd_start(cli: &Cli, out: &Output, a: &StartArgs) -> anyhow::Result<ExitCode> {
    let args = &a.start.phase;
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let mut engine = instance::engine(&repo)?;
    engine.set_trust(a.start.trust);
    let op = Op::Start {
        phase: args.phase.clone(),
        force: a.start.force,
    };
    let work = engine.work(
        &id,
        &Step::Op(op),
        &Render::AlsoPhase(args.phase.clone()),
        FileOptions { force: a.overwrite },
        args.change.reason.as_deref(),
        args.change.dry_run,
    )?;
    instance::print_work(out, &work, a.diff, args.change.dry_run, args.change.json)
}

fn cmd_op(
    cli: &Cli,
    out: &Output,
    args: &PhaseArgs,
    op: Op,
    trust: bool,
) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let mut engine = instance::engine(&repo)?;
    engine.set_trust(trust);
    let report = engine.apply(&id, &op, args.change.reason.as_deref(), args.change.dry_run)?;
    instance::print_report(out, &report, args.change.json)
}
