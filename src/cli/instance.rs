//! What the instance commands share: the `--instance` and `--dry-run` arguments, opening the
//! repository, and printing what a transaction did.

use super::{cwd, Cli, ExitCode, Output};
use crate::engine::artifacts::FileAction;
use crate::engine::work::WorkReport;
use crate::engine::{self, Engine, Report};
use crate::store::transaction::{Outcome, Written};
use crate::store::Repo;
use clap::Args;

// Which instance a command acts on (flattened: a doc comment here would become the
// about of every command that flattens it, as subcommands are built lazily).
#[derive(Debug, Clone, Args)]
pub struct InstanceArg {
    /// The instance: an id or any unique prefix of one (may be left out while exactly one
    /// instance is active).
    #[arg(short = 'i', long = "instance", value_name = "ID")]
    pub instance: Option<String>,
}

// Options of every mutating instance command (a plain comment: see `InstanceArg`).
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// Show what would be recorded, per ref, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why: recorded in the event and the audit chain.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

pub fn open(cli: &Cli) -> anyhow::Result<Repo> {
    Ok(Repo::discover(&cwd(cli)?)?)
}

/// The instance to act on: the one given (or its unique prefix), else the only active one.
pub fn resolve(repo: &Repo, arg: &InstanceArg) -> anyhow::Result<String> {
    Ok(engine::resolve_instance(repo, arg.instance.as_deref())?)
}

fn short(id: &crate::store::ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

fn print_moves(out: &Output, w: &Written, dry_run: bool) {
    for m in &w.moves {
        let from = m.old.as_ref().map_or_else(|| "(new)".to_owned(), short);
        if dry_run {
            out.line(format!("would move {} {from} -> {}", m.name, short(&m.new)));
        } else {
            out.note(format!("{} {from} -> {}", m.name, short(&m.new)));
        }
    }
}

/// Prints a report: what changed on stdout; refs moved and "Nothing changed." on stderr.
pub fn print_report(out: &Output, report: &Report) -> ExitCode {
    match &report.outcome {
        Outcome::Nothing(why) => {
            out.note(format!("Nothing changed: {why}."));
        }
        Outcome::Committed(w) => {
            for l in &report.lines {
                out.line(l);
            }
            print_moves(out, w, false);
        }
        Outcome::DryRun(w) => {
            out.note("Dry run: nothing is written.");
            for l in &report.lines {
                out.line(format!("would record: {l}"));
            }
            print_moves(out, w, true);
        }
    }
    ExitCode::Ok
}

/// Runs an engine operation on the instance of `arg`.
pub fn engine(repo: &Repo) -> anyhow::Result<Engine<'_>> {
    Ok(Engine::new(repo)?)
}

/// What a file of an artifact plan says, in a real run and in a dry run.
fn file_label(action: FileAction, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (FileAction::Create, false) => "created",
        (FileAction::Create, true) => "new",
        (FileAction::Unchanged, _) => "unchanged",
        (FileAction::Overwrite, false) => "overwritten",
        (FileAction::Overwrite, true) => "would overwrite",
        (FileAction::WouldOverwrite, false) => {
            "skipped: exists with other content (--force overwrites)"
        }
        (FileAction::WouldOverwrite, true) => "would overwrite (refused without --force)",
        (FileAction::UserEdited, false) => "kept: edited since ddx wrote it",
        (FileAction::UserEdited, true) => "user-edited (refused)",
    }
}

/// Prints what a command that renders artifacts did: its event, then one line per file (and
/// a unified diff with `diff`), then notes.
pub fn print_work(out: &Output, work: &WorkReport, diff: bool, dry_run: bool) -> ExitCode {
    if dry_run && !matches!(work.report.outcome, Outcome::DryRun(_)) {
        out.note("Dry run: nothing is written.");
    }
    let code = print_report(out, &work.report);
    if !work.files.is_empty() {
        let w = work
            .files
            .iter()
            .map(|f| file_label(f.file.action, dry_run).len())
            .filter(|n| *n <= 22)
            .max()
            .unwrap_or(0);
        for f in &work.files {
            let label = file_label(f.file.action, dry_run);
            let painted = match f.file.action {
                FileAction::Create | FileAction::Overwrite => out.green(&format!("{label:w$}")),
                FileAction::Unchanged => out.dim(&format!("{label:w$}")),
                _ => out.yellow(&format!("{label:w$}")),
            };
            out.line(format!("{painted}  {}", f.file.path));
            let shows_diff = matches!(
                f.file.action,
                FileAction::Create
                    | FileAction::Overwrite
                    | FileAction::WouldOverwrite
                    | FileAction::UserEdited
            );
            if diff && shows_diff {
                out.raw(&f.file.diff());
            }
        }
    }
    for n in &work.notes {
        out.warn(n);
    }
    let skipped = work
        .files
        .iter()
        .filter(|f| f.file.action == FileAction::WouldOverwrite)
        .count();
    if skipped > 0 && !dry_run {
        out.warn(format!(
            "{skipped} file{} left as {} (--dry-run --diff shows the differences, --force overwrites)",
            if skipped == 1 { "" } else { "s" },
            if skipped == 1 { "it was" } else { "they were" }
        ));
    }
    code
}
