//! What the instance commands share: the `--instance` and `--dry-run` arguments, opening the
//! repository, and printing what a transaction did.

use super::{cwd, Cli, ExitCode, Output};
use crate::engine::artifacts::FileAction;
use crate::engine::work::WorkReport;
use crate::engine::{self, Engine, Report};
use crate::store::transaction::{Outcome, Written};
use crate::store::Repo;
use clap::Args;
use serde::Serialize;

// Which instance a command acts on (flattened: a doc comment here would become the
// about of every command that flattens it, as subcommands are built lazily).
#[derive(Debug, Clone, Args)]
pub struct InstanceArg {
    /// The instance: an id or any unique prefix of one (may be left out while exactly one
    /// instance is active).
    #[arg(short = 'i', long = "instance", value_name = "ID",
          add = clap_complete::engine::ArgValueCandidates::new(super::completion::instances))]
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
    /// Print one JSON document: what changed, the event and audit commits, the refs moved.
    #[arg(long)]
    pub json: bool,
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

/// A ref a command moved (or, in a dry run, would move).
#[derive(Debug, Serialize)]
pub struct RefMoved {
    #[serde(rename = "ref")]
    pub name: String,
    /// `null` for a ref the command created.
    pub old: Option<String>,
    pub new: String,
}

/// A file a command wrote (or would write, or left alone).
#[derive(Debug, Serialize)]
pub struct FileChange<'a> {
    pub phase: &'a str,
    pub artifact: &'a str,
    pub path: &'a str,
    /// `new`, `unchanged`, `overwrite`, `would_overwrite`, `user_edited`.
    pub action: &'a str,
    pub before: Option<&'a str>,
    pub after: &'a str,
}

/// The `--json` document of a mutating instance command.
#[derive(Debug, Serialize)]
pub struct ChangeJson<'a> {
    pub instance: &'a str,
    /// Whether anything was (in a dry run: would be) recorded.
    pub changed: bool,
    pub dry_run: bool,
    /// Why nothing changed, when nothing did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing: Option<&'a str>,
    /// The event commit on `refs/ddx/instances/<id>`, and the audit commit.
    pub event: Option<String>,
    pub audit: Option<String>,
    /// What changed, one line each (`frame: ready -> in_progress`).
    pub changes: &'a [String],
    pub refs: Vec<RefMoved>,
    /// The instance's status and its phases' after the command.
    pub status: Option<&'a str>,
    pub phases: Vec<PhaseNow<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileChange<'a>>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct PhaseNow<'a> {
    pub id: &'a str,
    pub status: &'a str,
}

fn action_name(action: FileAction) -> &'static str {
    match action {
        FileAction::Create => "new",
        FileAction::Unchanged => "unchanged",
        FileAction::Overwrite => "overwrite",
        FileAction::WouldOverwrite => "would_overwrite",
        FileAction::UserEdited => "user_edited",
    }
}

/// The `--json` document of `report` (and of the files of `work`).
pub fn change_json<'a>(report: &'a Report, work: Option<&'a WorkReport>) -> ChangeJson<'a> {
    let (written, nothing) = match &report.outcome {
        Outcome::Nothing(why) => (None, Some(why.as_str())),
        Outcome::Committed(w) | Outcome::DryRun(w) => (Some(w), None),
    };
    ChangeJson {
        instance: &report.instance,
        changed: report.changed(),
        dry_run: matches!(report.outcome, Outcome::DryRun(_)),
        nothing,
        event: written.and_then(|w| w.event.map(|e| e.to_string())),
        audit: written.map(|w| w.audit.to_string()),
        changes: &report.lines,
        refs: written
            .map(|w| {
                w.moves
                    .iter()
                    .map(|m| RefMoved {
                        name: m.name.clone(),
                        old: m.old.map(|o| o.to_string()),
                        new: m.new.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        status: report.state.as_ref().map(|s| s.status.as_str()),
        phases: report
            .state
            .as_ref()
            .map(|s| {
                s.phases
                    .iter()
                    .map(|p| PhaseNow {
                        id: &p.id,
                        status: p.status.as_str(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        created: work.map(|w| w.created),
        files: work.map(|w| {
            w.files
                .iter()
                .map(|f| FileChange {
                    phase: &f.phase,
                    artifact: &f.file.artifact,
                    path: &f.file.path,
                    action: action_name(f.file.action),
                    before: f.file.before.as_deref(),
                    after: &f.file.after,
                })
                .collect()
        }),
        notes: work.map(|w| w.notes.as_slice()).unwrap_or_default(),
    }
}

/// Prints a report: with `json`, one JSON document; else what changed on stdout, refs moved
/// and "Nothing changed." on stderr.
pub fn print_report(out: &Output, report: &Report, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        out.json(&change_json(report, None))?;
        return Ok(ExitCode::Ok);
    }
    Ok(print_report_text(out, report))
}

fn print_report_text(out: &Output, report: &Report) -> ExitCode {
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
pub fn print_work(
    out: &Output,
    work: &WorkReport,
    diff: bool,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        out.json(&change_json(&work.report, Some(work)))?;
        return Ok(ExitCode::Ok);
    }
    Ok(print_work_text(out, work, diff, dry_run))
}

fn print_work_text(out: &Output, work: &WorkReport, diff: bool, dry_run: bool) -> ExitCode {
    if dry_run && !matches!(work.report.outcome, Outcome::DryRun(_)) {
        out.note("Dry run: nothing is written.");
    }
    let code = print_report_text(out, &work.report);
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
