//! `ddx notes rebuild`: regenerate `refs/notes/ddx` from the commits' trailers and the audit.

use super::{cwd, Cli, ExitCode, Output};
use crate::store::Repo;
use clap::{Args, Subcommand};

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
}

pub fn run(cli: &Cli, out: &Output, cmd: &NotesCommand) -> anyhow::Result<ExitCode> {
    let NotesCommand::Rebuild(args) = cmd;
    let repo = Repo::discover(&cwd(cli)?)?;
    let notes = crate::hooks::derive_notes(&repo)?;
    let changed = crate::store::notes::write_all(&repo, &notes, args.dry_run)?;
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
