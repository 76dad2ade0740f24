//! `ddx analyze`: what the project is made of and the workflows that fit it.

use super::{cwd, Cli, ExitCode, Output};
use crate::store::Repo;
use clap::Args;

/// Read HEAD's tree and the history; report findings with evidence and workflows.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Print one JSON object with `project` and `findings`.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_analyze(cli: &Cli, out: &Output, args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let repo = Repo::discover(&cwd(cli)?)?;
    let analysis = {
        let _spinner = super::progress::Spinner::start("Reading the tree and the history");
        crate::analyze::analyze(repo.work_dir())?
    };
    if args.json {
        out.json(&analysis)?;
        return Ok(ExitCode::Ok);
    }
    let p = &analysis.project;
    out.line(format!("languages: {}", p.languages.join(", ")));
    out.line(format!("build systems: {}", p.build_systems.join(", ")));
    out.line(format!(
        "files: {} source, {} test ({} not committed yet); commits: {} ({} fixes) by {} authors",
        p.source_files, p.test_files, p.untracked_files, p.commits, p.fix_commits, p.authors
    ));
    for f in &analysis.findings {
        out.line(format!(
            "{}: {} [{}]",
            f.id,
            out.escape(&f.title),
            f.workflows.join(", ")
        ));
        for e in &f.evidence {
            out.line(format!("  {}", out.escape(e)));
        }
    }
    Ok(ExitCode::Ok)
}
