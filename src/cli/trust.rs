//! `ddx trust`: show what `.ddx/config.yml` would run, and trust (or stop trusting) it as it is.

use super::{instance, Cli, ExitCode, Output};
use crate::engine::actions::{self, CONFIG_FILE};
use crate::trust::{Ledger, Status};
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Show what the file would run and whether it is trusted; record nothing.
    #[arg(long, conflicts_with_all = ["revoke", "dry_run"])]
    pub show: bool,
    /// Stop trusting the file: its agent command and trusted sources no longer count.
    #[arg(long)]
    pub revoke: bool,
    /// Show what would be recorded, and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `ddx trust --json` prints.
#[derive(Debug, Serialize)]
struct View {
    file: &'static str,
    exists: bool,
    /// The content hash of the file as it is now.
    hash: Option<String>,
    status: Status,
    /// The hash recorded in `.git/ddx/trust`, when the file was ever trusted.
    trusted_hash: Option<String>,
    agent_command: Option<String>,
    trusted_sources: Vec<String>,
    /// `shown`, `trusted`, `revoked`, `unchanged`, or with --dry-run `would_trust`, `would_revoke`.
    action: &'static str,
}

pub fn cmd_trust(cli: &Cli, out: &Output, args: &TrustArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let ddx_dir = repo.ddx_dir();
    let mut ledger = Ledger::read(&ddx_dir);
    for damage in &ledger.damage {
        out.warn(format!("{damage}; the next `ddx trust` rewrites the file"));
    }
    let found = actions::review(repo.work_dir(), &ddx_dir)?;
    let mut view = View {
        file: CONFIG_FILE,
        exists: found.is_some(),
        hash: found.as_ref().map(|(r, _)| r.hash.clone()),
        status: found.as_ref().map_or(Status::Untrusted, |(r, _)| r.status),
        trusted_hash: ledger.hash(CONFIG_FILE).map(str::to_owned),
        agent_command: found.as_ref().and_then(|(r, _)| r.agent_command.clone()),
        trusted_sources: found
            .as_ref()
            .map(|(r, _)| r.trusted_sources.clone())
            .unwrap_or_default(),
        action: "shown",
    };
    let changes = if args.show {
        false
    } else if args.revoke {
        view.trusted_hash.is_some()
    } else {
        found.is_some() && view.status != Status::Trusted
    };
    view.action = match (args.show, args.revoke, changes, args.dry_run) {
        (true, ..) => "shown",
        (_, _, false, _) => "unchanged",
        (_, true, true, false) => "revoked",
        (_, true, true, true) => "would_revoke",
        (_, false, true, false) => "trusted",
        (_, false, true, true) => "would_trust",
    };
    if changes && !args.dry_run {
        if args.revoke {
            ledger.revoke(CONFIG_FILE);
            view.status = Status::Untrusted;
            view.trusted_hash = None;
        } else if let Some((_, bytes)) = &found {
            ledger.trust(CONFIG_FILE, bytes);
            view.status = Status::Trusted;
            view.trusted_hash = view.hash.clone();
        }
        ledger.write(&ddx_dir)?;
    }
    if args.json {
        out.json(&view)?;
        return Ok(ExitCode::Ok);
    }
    print_view(out, &view);
    match view.action {
        "trusted" => out.note(format!(
            "Trusted {CONFIG_FILE} as it is now; recorded in .git/ddx/trust, never shared. A change to the file needs `ddx trust` again."
        )),
        "would_trust" => out.note(format!(
            "Dry run: would trust {CONFIG_FILE} as it is now in .git/ddx/trust; nothing is written."
        )),
        "revoked" => out.note(format!(
            "Revoked your trust in {CONFIG_FILE}: its agent command and trusted sources no longer count."
        )),
        "would_revoke" => out.note(format!(
            "Dry run: would revoke your trust in {CONFIG_FILE}; nothing is written."
        )),
        "unchanged" if !view.exists && !args.revoke => {
            out.note(format!("Nothing changed: there is no {CONFIG_FILE} to trust."))
        }
        "unchanged" if args.revoke => out.note(format!(
            "Nothing changed: you had not trusted {CONFIG_FILE}."
        )),
        "unchanged" => out.note(format!(
            "Nothing changed: {CONFIG_FILE} is already trusted as it is."
        )),
        _ if view.exists && view.status != Status::Trusted => out.note(format!(
            "`ddx trust` trusts {CONFIG_FILE} as it is now."
        )),
        _ => {}
    }
    Ok(ExitCode::Ok)
}

fn print_view(out: &Output, view: &View) {
    let Some(hash) = &view.hash else {
        out.line(format!("{CONFIG_FILE}: no such file"));
        return;
    };
    let status = match view.status {
        Status::Trusted => out.green(view.status.as_str()),
        _ => out.yellow(view.status.as_str()),
    };
    out.line(format!("{} ({hash}): {status}", out.bold(CONFIG_FILE)));
    if view.agent_command.is_none() && view.trusted_sources.is_empty() {
        out.line("  runs no command and trusts no source");
    }
    if let Some(c) = &view.agent_command {
        out.line(format!("  agent.command: {c}  (prompts are piped to it)"));
    }
    for s in &view.trusted_sources {
        out.line(format!(
            "  trusted source: {s}  (the commands of its workflows run)"
        ));
    }
}
