//! `ddx rate`: record the user's rating of a workflow on `refs/ddx/ratings`.

use super::{cwd, Cli, ExitCode, Output};
use crate::catalog::Catalog;
use crate::store::ratings::{self, Rated};
use crate::store::StoreError;
use clap::Args;
use serde::Serialize;

/// Rate a workflow from 1 to 5 (one rating per person and workflow version; rating again
/// replaces it). Ratings are kept in git on refs/ddx/ratings and shared by `ddx sync`.
#[derive(Debug, Args)]
pub struct RateArgs {
    /// The workflow's catalog name.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::workflows))]
    pub workflow: String,
    /// A whole number from 1 (poor) to 5 (excellent).
    #[arg(value_parser = parse_score, allow_negative_numbers = true)]
    pub score: u8,
    /// A few words on why.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Say what would be recorded, and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object with what was recorded.
    #[arg(long)]
    pub json: bool,
}

fn parse_score(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(n) if (1..=5).contains(&n) => Ok(n),
        _ => Err("a rating is a whole number from 1 to 5".to_owned()),
    }
}

#[derive(Debug, Serialize)]
struct RateReport {
    workflow: String,
    version: String,
    score: u8,
    path: String,
    commit: Option<String>,
    replaced: bool,
    changed: bool,
    dry_run: bool,
}

pub fn cmd_rate(cli: &Cli, out: &Output, args: &RateArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let catalog = Catalog::open(&here)?;
    let Some(repo) = catalog.repo() else {
        return Err(StoreError::NotARepository { path: here }.into());
    };
    let located = catalog.locate(&args.workflow, &here)?;
    let version = located.load()?.version;
    let version = if version.trim().is_empty() {
        "unversioned".to_owned()
    } else {
        version
    };
    let identity = repo.identity()?;
    let rated = ratings::rate(
        repo,
        &identity,
        &located.name,
        &version,
        i64::from(args.score),
        args.comment.as_deref(),
        args.dry_run,
    )?;
    let mut report = RateReport {
        workflow: located.name.clone(),
        version: version.clone(),
        score: args.score,
        path: String::new(),
        commit: None,
        replaced: false,
        changed: false,
        dry_run: args.dry_run,
    };
    match &rated {
        Rated::Written {
            commit,
            previous,
            path,
            replaced,
            dry_run,
        } => {
            report.path = path.clone();
            report.commit = Some(commit.to_string());
            report.replaced = *replaced;
            report.changed = true;
            if !args.json {
                let old = previous.map_or("(none)".to_owned(), |p| p.to_string());
                let verb = if *dry_run { "Would record" } else { "Recorded" };
                let what = if *replaced {
                    ", replacing your earlier rating"
                } else {
                    ""
                };
                out.note(format!(
                    "{verb} {}/5 for {} {version}{what}: {} {old} -> {commit} ({path})",
                    args.score,
                    located.name,
                    ratings::RATINGS
                ));
            }
        }
        Rated::Unchanged { path } => {
            report.path = path.clone();
            if !args.json {
                out.note("Nothing changed: your rating of this version is already that.");
            }
        }
    }
    if args.json {
        out.json(&report)?;
    }
    Ok(ExitCode::Ok)
}
