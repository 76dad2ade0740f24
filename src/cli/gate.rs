//! `ddx gate …`: check the gates of the current phases, and approve a human criterion.

use super::instance::{self, InstanceArg};
use super::{Cli, ExitCode, Output};
use crate::engine::gate_check::{self, GateCheckView, Verdict};
use crate::engine::machine::Op;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum GateCommand {
    /// Evaluate every criterion of the current phase(s); exits with 3 when a required one does not pass.
    Check(CheckArgs),
    /// Approve a human criterion of a phase; the approval is recorded with you as its actor.
    Approve(ApproveArgs),
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The phase id.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::phases))]
    pub phase: String,
    /// The criteria: each its text, a unique part of it, or its number in `ddx workflow
    /// status`; several are approved in one event.
    #[arg(required = true, num_args = 1..,
          add = clap_complete::engine::ArgValueCandidates::new(super::completion::criteria))]
    pub criteria: Vec<String>,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// A comment recorded with the approval.
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub comment: Option<String>,
    /// Show what would be recorded and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: what changed, the event and audit commits, the refs moved.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check this phase (its input gate before it starts, its exit criteria after) instead of
    /// the current ones.
    #[arg(long, value_name = "ID")]
    pub phase: Option<String>,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// Run `command` checks although the workflow's source is not trusted.
    #[arg(long)]
    pub trust: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &GateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GateCommand::Check(args) => cmd_check(cli, out, args),
        GateCommand::Approve(args) => cmd_approve(cli, out, args),
    }
}

fn cmd_check(cli: &Cli, out: &Output, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let view = gate_check::check(&repo, &id, args.phase.as_deref(), args.trust)?;
    if args.json {
        out.json(&view)?;
    } else {
        print_check(out, &view);
    }
    Ok(if view.satisfied {
        ExitCode::Ok
    } else {
        ExitCode::GateNotSatisfied
    })
}

fn verdict(out: &Output, v: Verdict) -> String {
    let text = format!("{:14}", v.as_str());
    match v {
        Verdict::Pass => out.green(&text),
        Verdict::Fail => out.red(&text),
        Verdict::NeedsApproval => out.yellow(&text),
    }
}

fn print_check(out: &Output, view: &GateCheckView) {
    for c in &view.conflicts {
        out.warn(out.escape(&format!("conflict: {c}; {}", crate::engine::settle_hint(c))));
    }
    if view.phases.is_empty() {
        out.note(format!(
            "Instance {} has no phase in progress or ready: nothing to check.",
            view.instance
        ));
        return;
    }
    let mut blocking = 0;
    let mut failing = 0;
    let mut approve = None;
    for p in &view.phases {
        let gate = match p.gate {
            crate::engine::state::GateKind::Input => "input gate",
            crate::engine::state::GateKind::Exit => "exit criteria",
        };
        let state = if p.satisfied {
            out.green("satisfied")
        } else {
            out.red("not satisfied")
        };
        out.line(format!(
            "{} ({}), {gate}: {state}",
            out.bold(&p.id),
            p.status
        ));
        if p.criteria.is_empty() {
            out.line(format!("  (no {gate})"));
        }
        for c in &p.criteria {
            let optional = if c.required { "" } else { " (optional)" };
            out.line(format!(
                "  {} {}. {}{optional} {}",
                verdict(out, c.status),
                c.number,
                c.criteria,
                out.dim(&format!("[{}]", c.kind))
            ));
            if let Some(a) = &c.approval {
                out.line(format!("  {:14}   approved by {} at {}", "", a.by, a.at));
            }
            if let Some(d) = &c.detail {
                out.line(format!("  {:14}   {d}", ""));
            }
            for e in &c.evidence {
                let at = match e.line {
                    Some(l) => format!("{}:{l}", e.path),
                    None => e.path.clone(),
                };
                let text = match (&e.text, &e.hash) {
                    (Some(t), _) => format!(": {t}"),
                    (None, Some(h)) => format!(": [line {h}]"),
                    (None, None) => String::new(),
                };
                out.line(out.dim(&format!("  {:14}   {at}{text}", "")));
            }
            if c.required && c.status != Verdict::Pass {
                blocking += 1;
                if c.status == Verdict::NeedsApproval {
                    approve
                        .get_or_insert_with(|| format!("ddx gate approve {} {}", p.id, c.number));
                } else {
                    failing += 1;
                }
            }
        }
    }
    if blocking > 0 {
        // Name only what is there: checks to fix, criteria to have approved.
        let mut hints = Vec::new();
        if failing > 0 {
            hints.push(format!(
                "fix the failing check{} above (what each found is under it)",
                if failing == 1 { "" } else { "s" }
            ));
        }
        if let Some(a) = approve {
            hints.push(format!("ask a reviewer to approve a human one with `{a}`"));
        }
        out.note(format!(
            "gate not satisfied: {blocking} required criteri{} not pass; {}",
            if blocking == 1 { "on does" } else { "a do" },
            hints.join("; ")
        ));
    }
}

fn cmd_approve(cli: &Cli, out: &Output, args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let who = repo.identity()?;
    if let Some(refused) = crate::engine::gates::separation_of_duties(
        &repo,
        &id,
        &args.phase,
        &args.criteria,
        &who.actor(),
        &who.email,
    )? {
        anyhow::bail!(
            "{refused}\nhint: ask someone who did not write them to run `ddx gate approve {} {}`",
            args.phase,
            args.criteria
                .iter()
                .map(|c| if c.contains([' ', '"', '\'', '`', '$']) {
                    format!("\"{}\"", c.replace('\\', "\\\\").replace('"', "\\\""))
                } else {
                    c.clone()
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let engine = instance::engine(&repo)?;
    let op = Op::Approve {
        phase: args.phase.clone(),
        criteria: args.criteria.clone(),
        comment: args.comment.clone(),
    };
    let report = engine.apply(&id, &op, None, args.dry_run)?;
    instance::print_report(out, &report, args.json)
}
