//! `ddx trust`: show what `.ddx/config.yml` (or a workflow of a catalog that is not trusted)
//! would run, and trust (or stop trusting) it as it is.

use super::{cwd, instance, Cli, ExitCode, Output};
use crate::engine::actions::{self, CONFIG_FILE};
use crate::trust::{Ledger, Status};
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Workflows to trust as they are now, instead of .ddx/config.yml (of a registered
    /// repository, the project library, or committed under .ddx/local/workflows).
    #[arg(value_name = "WORKFLOW")]
    pub workflows: Vec<String>,
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
    if !args.workflows.is_empty() {
        return trust_workflows(cli, out, args, &repo, ledger);
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

/// What `ddx trust <workflow> --json` prints, one per workflow.
#[derive(Debug, Serialize)]
struct WorkflowView {
    workflow: String,
    source: String,
    /// `git:` and the id of the definition's tree, what `ddx trust` records.
    hash: Option<String>,
    status: Status,
    /// Why the workflow needs no trust of its own, when it does not.
    trusted_by: Option<String>,
    commands: Vec<actions::Defined>,
    /// As in [`View`].
    action: &'static str,
}

fn trust_workflows(
    cli: &Cli,
    out: &Output,
    args: &TrustArgs,
    repo: &crate::store::Repo,
    mut ledger: Ledger,
) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let mut views = Vec::new();
    let mut changed = false;
    for name in &args.workflows {
        let located = crate::catalog::locate(name, &here)?;
        let wf = located.load()?;
        let source = located.source.to_string();
        let by_source = actions::trust(repo, &source, &wf.name, None, false);
        let tree = actions::definition_tree(repo, located.tree.as_ref());
        let subject = crate::trust::workflow_subject(&source, &wf.name);
        let hash = tree.as_ref().map(crate::trust::tree_hash);
        let mut view = WorkflowView {
            workflow: wf.name.clone(),
            source: source.clone(),
            status: match &hash {
                _ if by_source.trusted => Status::Trusted,
                Some(h) => ledger.status_of(&subject, h),
                None => Status::Untrusted,
            },
            hash,
            trusted_by: by_source.trusted.then(|| by_source.how.clone()),
            commands: actions::commands_of(&wf),
            action: "shown",
        };
        let changes = match (&view.hash, args.show, args.revoke) {
            _ if view.trusted_by.is_some() => false,
            (_, true, _) => false,
            (_, _, true) => ledger.hash(&subject).is_some(),
            (Some(_), _, false) => view.status != Status::Trusted,
            (None, _, false) => false,
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
            changed = true;
            if args.revoke {
                ledger.revoke(&subject);
                view.status = Status::Untrusted;
            } else if let Some(h) = &view.hash {
                ledger.trust_hash(&subject, h);
                view.status = Status::Trusted;
            }
        }
        views.push(view);
    }
    if changed {
        ledger.write(&repo.ddx_dir())?;
    }
    if args.json {
        out.json(&views)?;
        return Ok(ExitCode::Ok);
    }
    for v in &views {
        let status = match v.status {
            Status::Trusted => out.green(v.status.as_str()),
            _ => out.yellow(v.status.as_str()),
        };
        let hash = v.hash.as_deref().unwrap_or("no git tree");
        out.line(format!(
            "{} from {} ({hash}): {status}",
            out.bold(&v.workflow),
            v.source
        ));
        if v.commands.is_empty() {
            out.line("  runs no command");
        }
        for c in &v.commands {
            out.line(format!("  {}: {}", c.place, c.command));
        }
        let note = match v.action {
            _ if v.trusted_by.is_some() => format!(
                "{} comes from {}, which is trusted already: nothing to record.",
                v.workflow,
                v.trusted_by.as_deref().unwrap_or_default()
            ),
            "trusted" => format!(
                "Trusted {} as it is now; recorded in .git/ddx/trust, never shared. A fetched change needs `ddx trust {}` again.",
                v.workflow, v.workflow
            ),
            "would_trust" => format!("Dry run: would trust {}; nothing is written.", v.workflow),
            "revoked" => format!("Revoked your trust in {}.", v.workflow),
            "would_revoke" => format!("Dry run: would revoke your trust in {}; nothing is written.", v.workflow),
            "unchanged" if args.revoke => format!("Nothing changed: you had not trusted {}.", v.workflow),
            "unchanged" if v.hash.is_none() => format!(
                "{} is not a git tree, so it cannot be trusted by its hash; --trust runs its commands once.",
                v.workflow
            ),
            "unchanged" => format!("Nothing changed: {} is already trusted as it is.", v.workflow),
            _ if v.status != Status::Trusted => format!("`ddx trust {}` trusts it as it is now.", v.workflow),
            _ => continue,
        };
        out.note(note);
    }
    Ok(ExitCode::Ok)
}
