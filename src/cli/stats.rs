//! `ddx stats`: usage of the workflows, from the instance histories in refs/ddx/*.

use super::{cwd, Cli, ExitCode, Output};
use crate::analyze::stats::{self, WorkflowStats};
use crate::catalog::Catalog;
use crate::store::StoreError;
use clap::Args;

/// Usage per workflow from refs/ddx/*: instances started, completed, active and abandoned,
/// median times, gate failures, forced criteria, hook bypasses and ratings; beside them the
/// catalog's metadata.yml statistics, labelled as the author's claims.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this workflow.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::workflows))]
    pub workflow: Option<String>,
    /// Print one JSON document (an array, one object per workflow).
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_stats(cli: &Cli, out: &Output, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let catalog = Catalog::open(&here)?;
    let Some(repo) = catalog.repo() else {
        return Err(StoreError::NotARepository { path: here }.into());
    };
    let claims = |name: &str| {
        let w = catalog.locate(name, &here).ok()?.load().ok()?;
        serde_json::to_value(w.statistics?).ok()
    };
    let all = {
        let _spinner = super::progress::Spinner::start("Reading the instance histories");
        stats::stats(repo, args.workflow.as_deref(), &claims)?
    };
    if args.json {
        out.json(&all)?;
        return Ok(ExitCode::Ok);
    }
    if all.is_empty() {
        out.note("No instances or ratings here yet: `ddx workflow apply <workflow>` starts one.");
        return Ok(ExitCode::Ok);
    }
    for s in &all {
        print_one(out, s);
    }
    Ok(ExitCode::Ok)
}

fn secs(s: Option<f64>) -> String {
    match s {
        None => "-".to_owned(),
        Some(s) if s >= 3600.0 => format!("{:.1}h", s / 3600.0),
        Some(s) if s >= 60.0 => format!("{:.1}m", s / 60.0),
        Some(s) => format!("{s}s"),
    }
}

fn print_one(out: &Output, s: &WorkflowStats) {
    out.line(out.bold(&s.workflow));
    out.line(format!(
        "  instances: {} started, {} completed, {} active, {} abandoned ({:.0}% completed)",
        s.instances,
        s.completed,
        s.active,
        s.abandoned,
        s.completion_rate * 100.0
    ));
    out.line(format!(
        "  median time per completed instance: {}; forced criteria: {}; hook bypasses: {}",
        secs(s.median_s),
        s.forced,
        s.bypasses
    ));
    let rating = match s.ratings.mean {
        Some(m) => format!("{m:.2}/5 from {}", s.ratings.count),
        None => "none yet".to_owned(),
    };
    out.line(format!("  ratings: {rating}"));
    for p in &s.phases {
        let failures: Vec<String> = p
            .gate_failures
            .iter()
            .map(|(c, n)| format!("\"{}\" ×{n}", out.escape(c)))
            .collect();
        out.line(format!(
            "  {:12} median {:>7}  forced {}{}",
            p.id,
            secs(p.median_s),
            p.forced,
            if failures.is_empty() {
                String::new()
            } else {
                format!("  gate failures: {}", failures.join(", "))
            }
        ));
    }
    if let Some(c) = &s.author_claims {
        out.line(out.dim(&format!(
            "  author's claims (metadata.yml, not measured): {c}"
        )));
    }
}
