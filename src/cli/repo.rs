//! `ddx repo …`: register, list, fetch and remove team or private catalogs.

use super::{cwd, Cli, ExitCode, Output};
use crate::share::repos;
use crate::store::Repo;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum RepoCommand {
    /// Register a repository of workflows and fetch it into refs/ddx/sources/<name>.
    Add(AddArgs),
    /// List the registered repositories and what was fetched from them.
    List(ListArgs),
    /// Unregister a repository and delete its fetched catalog ref.
    Remove(RemoveArgs),
    /// Fetch one registered repository, or all of them, again.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The name to register it under (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// A URL (ssh, file://, https) or a path to a git repository.
    pub url: String,
    /// The branch to follow (default: the repository's default branch).
    #[arg(long, short)]
    pub branch: Option<String>,
    /// Check the repository and branch, and say what would be done, changing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON document (an array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The registered name.
    pub name: String,
    /// Say what would be removed, changing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The registered name (default: every registered repository).
    pub name: Option<String>,
    /// Ask the repositories what would change, changing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// At most this many workflow names after `ddx repo add`.
const SHOWN: usize = 10;

pub fn run(cli: &Cli, out: &Output, cmd: &RepoCommand) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let repo = Repo::discover(&here)?;
    match cmd {
        RepoCommand::Add(args) => cmd_add(out, &repo, &here, args),
        RepoCommand::List(args) => cmd_list(out, &repo, args),
        RepoCommand::Remove(args) => cmd_remove(out, &repo, args),
        RepoCommand::Fetch(args) => cmd_fetch(out, &repo, args),
    }
}

fn short(id: &impl std::fmt::Display) -> String {
    let s = id.to_string();
    s.get(..12).unwrap_or(&s).to_owned()
}

fn cmd_add(
    out: &Output,
    repo: &Repo,
    here: &std::path::Path,
    args: &AddArgs,
) -> anyhow::Result<ExitCode> {
    let spinner = super::progress::Spinner::start(format!("Fetching {}", args.url));
    let added = repos::add(
        repo,
        &args.name,
        &args.url,
        args.branch.as_deref(),
        here,
        args.dry_run,
    )?;
    drop(spinner);
    if args.json {
        out.json(&added)?;
        return Ok(ExitCode::Ok);
    }
    if added.dry_run {
        out.line(format!(
            "Would add `{}` ({}, branch {}) to .ddx/config.yml and fetch {} into {}.",
            added.name,
            added.url,
            added.branch,
            short(&added.commit),
            added.reference
        ));
        out.note("Nothing changed (dry run).");
        return Ok(ExitCode::Ok);
    }
    out.line(format!(
        "Added `{}` ({}, branch {}): fetched {} into {}.",
        added.name,
        added.url,
        added.branch,
        short(&added.commit),
        added.reference
    ));
    let at = match added.workflows_path.as_deref() {
        Some("") | None => "the root".to_owned(),
        Some(p) => format!("{p}/"),
    };
    if added.workflows.is_empty() {
        out.warn(
            "it has no workflows: ddx looks for folders with a workflow.yml in workflows/, \
             library/workflows/ or at the root",
        );
    } else {
        // A catalog of thousands is summarised: `ddx workflow list` and `--json` name them all.
        let n = added.workflows.len();
        let shown = added.workflows[..n.min(SHOWN)].join(", ");
        let more = if n > SHOWN {
            format!(
                ", … and {} more (`ddx workflow list` shows them all)",
                n - SHOWN
            )
        } else {
            String::new()
        };
        out.line(format!(
            "{n} workflow{} in {at}: {shown}{more}",
            if n == 1 { "" } else { "s" },
        ));
    }
    out.note("Commit .ddx/config.yml to share the repository with your team.");
    Ok(ExitCode::Ok)
}

fn cmd_list(out: &Output, repo: &Repo, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let listed = repos::list(repo)?;
    if args.json {
        out.json(&listed)?;
        return Ok(ExitCode::Ok);
    }
    if listed.is_empty() {
        out.note("No repositories are registered. Add one with `ddx repo add <name> <url>`.");
        return Ok(ExitCode::Ok);
    }
    let w_name = listed
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.line(out.bold(&format!(
        "{:w_name$}  {:12}  {:9}  {:10}  URL",
        "NAME", "COMMIT", "WORKFLOWS", "BRANCH"
    )));
    for l in &listed {
        let commit = l
            .commit
            .as_ref()
            .map_or_else(|| "not fetched".to_owned(), short);
        let workflows = l
            .workflows
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let branch = l.branch.clone().unwrap_or_else(|| "(default)".to_owned());
        let url = match &l.url {
            Some(u) => u.clone(),
            None => out.yellow("(not in .ddx/config.yml)"),
        };
        out.line(format!(
            "{}  {commit:12}  {workflows:>9}  {branch:10}  {url}",
            out.bold(&format!("{:w_name$}", l.name))
        ));
    }
    Ok(ExitCode::Ok)
}

fn cmd_remove(out: &Output, repo: &Repo, args: &RemoveArgs) -> anyhow::Result<ExitCode> {
    let removed = repos::remove(repo, &args.name, args.dry_run)?;
    if args.json {
        out.json(&removed)?;
        return Ok(ExitCode::Ok);
    }
    let what = match (&removed.url, &removed.commit) {
        (Some(_), Some(c)) => format!(
            "from .ddx/config.yml and deleted {} (was {})",
            removed.reference,
            short(c)
        ),
        (Some(_), None) => "from .ddx/config.yml (it was never fetched)".to_owned(),
        (None, Some(c)) => format!("{} (was {})", removed.reference, short(c)),
        (None, None) => String::new(),
    };
    if removed.dry_run {
        out.line(format!("Would remove `{}` {what}.", removed.name));
        out.note("Nothing changed (dry run).");
    } else {
        out.line(format!("Removed `{}` {what}.", removed.name));
    }
    Ok(ExitCode::Ok)
}

fn cmd_fetch(out: &Output, repo: &Repo, args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let spinner = super::progress::Spinner::start("Fetching the registered repositories");
    let results = repos::fetch(repo, args.name.as_deref(), args.dry_run);
    drop(spinner);
    let results = results?;
    if results.is_empty() {
        out.note("No repositories are registered. Add one with `ddx repo add <name> <url>`.");
    }
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    let mut done = Vec::new();
    for (name, result) in results {
        match result {
            Ok(f) => done.push(f),
            Err(e) => failed.push((name, e.into())),
        }
    }
    if args.json {
        out.json(&done)?;
    } else {
        for f in &done {
            let verb = if f.dry_run { "would move" } else { "moved" };
            let line = match (f.changed, f.old) {
                (false, _) => format!("{}: up to date at {} ({})", f.name, short(&f.new), f.branch),
                (true, Some(old)) => format!(
                    "{}: {verb} {} -> {} ({})",
                    f.name,
                    short(&old),
                    short(&f.new),
                    f.branch
                ),
                (true, None) => format!(
                    "{}: {} {} ({})",
                    f.name,
                    if f.dry_run { "would fetch" } else { "fetched" },
                    short(&f.new),
                    f.branch
                ),
            };
            out.line(line);
        }
        if args.dry_run {
            out.note("Nothing changed (dry run).");
        }
    }
    let mut code = ExitCode::Ok;
    let single = failed.len() == 1 && done.is_empty();
    for (name, e) in failed {
        if single {
            return Err(e);
        }
        let (c, hint) = super::classify(&e);
        out.error(
            &e.context(format!("fetching `{name}` failed")),
            hint.as_deref(),
        );
        code = if code == ExitCode::Ok {
            c
        } else {
            ExitCode::Failure
        };
    }
    Ok(code)
}
