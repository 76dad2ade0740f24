//! `ddx sync`: share the instances, checkpoints, audit chain, ratings and notes with a remote.

use super::progress::Spinner;
use super::{cwd, Cli, ExitCode, Output};
use crate::share::sync::{self, Move, Step};
use crate::store::Repo;
use clap::Args;

/// Fetch the others' refs/ddx and notes, join forked histories, push ours (never forced).
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The remote to sync with (default: the current branch's remote, else `origin`).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::remotes))]
    pub remote: Option<String>,
    /// Say what would be fetched, joined and pushed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object with what moved.
    #[arg(long)]
    pub json: bool,
    /// Add fetch refspecs so a plain `git fetch` brings the others' ddx refs and notes too.
    #[arg(long)]
    pub setup: bool,
}

pub fn cmd_sync(cli: &Cli, out: &Output, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let repo = Repo::discover(&cwd(cli)?)?;
    let remote = match &args.remote {
        Some(r) => {
            sync::check_remote(&repo, r)?;
            r.clone()
        }
        None => sync::default_remote(&repo)?,
    };
    if args.setup {
        let added = sync::setup(&repo, &remote, args.dry_run)?;
        if args.json {
            out.json(&serde_json::json!({
                "remote": remote,
                "dry_run": args.dry_run,
                "added": added,
            }))?;
            return Ok(ExitCode::Ok);
        }
        if added.is_empty() {
            out.line(format!(
                "remote.{remote}.fetch already fetches the ddx refs into the staging namespace"
            ));
        }
        let verb = if args.dry_run { "would add" } else { "added" };
        for spec in &added {
            out.line(format!("{verb} remote.{remote}.fetch {spec}"));
        }
        if !added.is_empty() && !args.dry_run {
            out.note(format!(
                "`git fetch {remote}` now stages the others' refs/ddx and notes; `ddx sync` joins them"
            ));
        }
        return Ok(ExitCode::Ok);
    }
    let spinner = Spinner::start(format!("fetching from {remote}"));
    let mut on_step = |s: Step| {
        spinner.set_message(match s {
            Step::Fetching => format!("fetching from {remote}"),
            Step::Joining => "joining forked histories".to_owned(),
            Step::Pushing => format!("pushing to {remote}"),
        })
    };
    let report = sync::sync(&repo, &remote, args.dry_run, &mut on_step);
    drop(spinner);
    let report = report?;
    if args.json {
        out.json(&report)?;
        return Ok(ExitCode::Ok);
    }
    if !report.changed() {
        out.line(format!(
            "Everything is shared with {remote}; nothing changed."
        ));
        return Ok(ExitCode::Ok);
    }
    let dry = report.dry_run;
    let short = |id: &Option<String>| {
        id.as_deref()
            .map_or_else(|| "(none)".to_owned(), |i| i[..i.len().min(12)].to_owned())
    };
    for r in &report.refs {
        let line = match r.action {
            Move::Same => continue,
            Move::Fetched => format!(
                "{} {}: {} -> {}",
                if dry { "would fetch" } else { "fetched" },
                r.name,
                short(&r.local),
                short(&r.remote)
            ),
            Move::Pushed => format!(
                "{} {}: {} -> {}",
                if dry { "would push" } else { "pushed" },
                r.name,
                short(&r.remote),
                short(&r.local)
            ),
            Move::Joined => match dry {
                true => format!(
                    "would join {}: ours {} and theirs {}",
                    r.name,
                    short(&r.local),
                    short(&r.remote)
                ),
                false => format!(
                    "joined {}: ours {} and theirs {} in {}",
                    r.name,
                    short(&r.local),
                    short(&r.remote),
                    short(&r.result)
                ),
            },
            Move::Renamed => format!(
                "{} {}: the remote's checkpoint {} is kept here as {} (this clone's stays)",
                if dry { "would keep" } else { "kept" },
                r.name,
                short(&r.remote),
                r.result.as_deref().unwrap_or_default()
            ),
        };
        out.line(out.escape(&line));
    }
    if report.notes_merged {
        out.line(if dry {
            "would merge refs/notes/ddx"
        } else {
            "merged refs/notes/ddx"
        });
    }
    if report.notes_pushed {
        out.line(if dry {
            "would push refs/notes/ddx"
        } else {
            "pushed refs/notes/ddx"
        });
    }
    for (instance, conflicts) in &report.conflicts {
        for c in conflicts {
            out.warn(out.escape(&format!("conflict in {instance}: {c}")));
        }
    }
    if !report.conflicts.is_empty() {
        out.note("`ddx workflow status` shows each conflict until a phase command settles it (docs/sharing.md)");
    }
    if report.rounds > 1 {
        out.note(format!(
            "{remote} moved meanwhile: took {} rounds",
            report.rounds
        ));
    }
    Ok(ExitCode::Ok)
}
