//! `ddx recommend`: the catalog's workflows ranked for a piece of work described in words.

use super::{cwd, Cli, ExitCode, Output};
use crate::analyze::recommend::{self, Context, Outcomes};
use crate::analyze::{stats, Finding};
use crate::catalog::{Catalog, IndexedWorkflow};
use clap::Args;
use std::collections::BTreeMap;

/// Rank every workflow of the catalog for an issue described in words: relevance of the words,
/// the kind of work they signal, `ddx analyze`'s findings and how the workflows fared here.
/// Each result says why (the signals and their weights).
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The issue, in words (`ddx recommend the app crashes on save`).
    #[arg(required = true, value_name = "TEXT")]
    pub text: Vec<String>,
    /// Show at most this many workflows.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub limit: usize,
    /// Print one JSON document: an array of {name, source, score, why}.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_recommend(cli: &Cli, out: &Output, args: &RecommendArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let catalog = Catalog::open(&here)?;
    let spinner =
        super::progress::Spinner::start("Reading the catalog, the project and its history");
    let index = catalog.index()?;
    let candidates: Vec<&IndexedWorkflow> = index.visible().collect();
    let mut findings: Vec<Finding> = Vec::new();
    let mut outcomes: BTreeMap<String, Outcomes> = BTreeMap::new();
    if let Some(repo) = catalog.repo() {
        match crate::analyze::analyze(repo.work_dir()) {
            Ok(a) => findings = a.findings,
            Err(e) => out.warn(format!("the project's findings are left out: {e}")),
        }
        match stats::instance_outcomes(repo) {
            Ok(o) => outcomes = o,
            Err(e) => out.warn(format!("the history here is left out: {e}")),
        }
    }
    drop(spinner);
    let cx = Context {
        findings: &findings,
        outcomes: &outcomes,
    };
    let mut ranked = recommend::recommend(&candidates, &args.text, &cx);
    ranked.truncate(args.limit);
    if args.json {
        out.json(&ranked)?;
        return Ok(ExitCode::Ok);
    }
    if ranked.is_empty() {
        out.note("The catalog has no workflows.");
        return Ok(ExitCode::Ok);
    }
    let w = ranked
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for r in &ranked {
        out.line(format!(
            "{}  {:>6.2}  {}",
            out.bold(&format!("{:w$}", r.name)),
            r.score,
            r.source
        ));
        for y in &r.why {
            out.line(out.dim(&format!(
                "{:w$}  {:+6.2}  {}: {}",
                "",
                y.weight,
                y.signal,
                out.escape(&y.detail)
            )));
        }
    }
    Ok(ExitCode::Ok)
}
