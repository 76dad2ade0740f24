//! `ddx notes rebuild`: regenerate `refs/notes/ddx` from the commits' trailers and the audit.

use super::{cwd, Cli, ExitCode, Output};
use crate::store::Repo;
use clap::{Args, Subcommand};

const NOTES_REF: &str = "refs/notes/ddx";

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NotesCommand {
    /// Regenerate refs/notes/ddx from the Ddx-Instance/Ddx-Phase trailers and the audit.
    Rebuild(RebuildArgs),
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Say how many notes would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: the notes derived, how many changed, where the ref moved.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &NotesCommand) -> anyhow::Result<ExitCode> {
    let NotesCommand::Rebuild(args) = cmd;
    let repo = Repo::discover(&cwd(cli)?)?;
    let notes = crate::hooks::derive_notes(&repo)?;
    let before = crate::store::refs::read(&repo, NOTES_REF)?;
    let changed = crate::store::notes::write_all(&repo, &notes, args.dry_run)?;
    if args.json {
        let after = crate::store::refs::read(&repo, NOTES_REF)?;
        out.json(&serde_json::json!({
            "ref": NOTES_REF,
            "dry_run": args.dry_run,
            "notes": notes.len(),
            "changed": changed,
            "old": before.map(|o| o.to_string()),
            "new": after.map(|o| o.to_string()),
        }))?;
        return Ok(ExitCode::Ok);
    }
    if changed == 0 {
        out.note("Nothing changed.");
    } else if args.dry_run {
        out.line(format!(
            "{changed} of {} notes would be rewritten in refs/notes/ddx",
            notes.len()
        ));
    } else {
        out.line(format!(
            "{changed} of {} notes rewritten in refs/notes/ddx",
            notes.len()
        ));
    }
    Ok(ExitCode::Ok)
}
