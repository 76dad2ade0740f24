//! `ddx contribute`: push the local version of a workflow to a new branch of its upstream.

use super::{cwd, Cli, ExitCode, Output};
use crate::share::contribute::{self, Changes, ContributeError, Contributed, Options};
use crate::store::Repo;
use clap::Args;

#[derive(Debug, Args)]
pub struct ContributeArgs {
    /// The workflow (.ddx/local/workflows/<name>/, else .ddx/library/workflows/<name>/ in HEAD).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::workflows))]
    pub workflow: String,
    /// The registered repository to contribute to (default: the library's upstream).
    #[arg(long, value_name = "SOURCE")]
    pub to: Option<String>,
    /// The new upstream branch (default: ddx/contribute/<name>-<short id>); must not exist.
    #[arg(long, short, value_name = "NAME")]
    pub branch: Option<String>,
    /// The commit's subject line (the changelog and credits follow it).
    #[arg(long, short, value_name = "M")]
    pub message: Option<String>,
    /// Build the commit and say what would be pushed, pushing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_contribute(cli: &Cli, out: &Output, args: &ContributeArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let repo = Repo::discover(&here)?;
    let spinner = super::progress::Spinner::start(format!("Contributing {}", args.workflow));
    let result = contribute::contribute(
        &repo,
        &Options {
            workflow: &args.workflow,
            to: args.to.as_deref(),
            branch: args.branch.as_deref(),
            message: args.message.as_deref(),
            dry_run: args.dry_run,
        },
    );
    drop(spinner);
    let done = result?;
    if args.json {
        out.json(&done)?;
        return Ok(ExitCode::Ok);
    }
    print(out, &done);
    Ok(ExitCode::Ok)
}

fn print(out: &Output, c: &Contributed) {
    if !c.uncommitted.is_empty() {
        out.warn(format!(
            "{} uncommitted change{} under {} {} not part of it (the committed version is): {}",
            c.uncommitted.len(),
            if c.uncommitted.len() == 1 { "" } else { "s" },
            c.local.trim_start_matches("HEAD:"),
            if c.uncommitted.len() == 1 {
                "is"
            } else {
                "are"
            },
            c.uncommitted.join(", ")
        ));
    }
    if c.unchanged {
        out.line(format!(
            "{} ({}) has {} exactly as {} has it: nothing to contribute.",
            c.url, c.base_branch, c.path, c.local
        ));
        return;
    }
    let commit = c.commit.as_deref().unwrap_or_default();
    let commit = commit.get(..12).unwrap_or(commit);
    let base = c.base.get(..12).unwrap_or(&c.base);
    if c.dry_run {
        out.line(format!(
            "Would push {commit} ({} {}, on {} at {base}) to {} as branch {}.",
            c.workflow, c.version, c.base_branch, c.url, c.branch
        ));
    } else {
        out.line(format!(
            "Pushed {commit} ({} {}, on {} at {base}) to {} as branch {}.",
            c.workflow, c.version, c.base_branch, c.url, c.branch
        ));
    }
    let log = &c.changelog;
    for (title, changes) in [
        ("phases", &log.phases),
        ("gates", &log.gates),
        ("templates", &log.templates),
        ("files", &log.files),
    ] {
        if !changes.is_empty() {
            out.line(format!("  {title}: {}", summary(changes)));
        }
    }
    if !c.credits.is_empty() {
        out.line(format!(
            "  credits: {} local commit{}",
            c.credits.len(),
            if c.credits.len() == 1 { "" } else { "s" }
        ));
    }
    match &c.pr_command {
        Some(cmd) if !c.dry_run => out.note(format!("Open a pull request with: {cmd}")),
        Some(cmd) => out.note(format!("Then a pull request would open with: {cmd}")),
        None if !c.dry_run => out.note(format!(
            "Ask the maintainers of {} to review branch {}.",
            c.url, c.branch
        )),
        None => {}
    }
    if c.dry_run {
        out.note("Nothing was pushed (dry run).");
    }
}

fn summary(c: &Changes) -> String {
    [
        ("added", &c.added),
        ("changed", &c.changed),
        ("removed", &c.removed),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{} {k}", v.len()))
    .collect::<Vec<_>>()
    .join(", ")
}

/// The exit code and hint of a [`ContributeError`].
pub(super) fn classify(e: &ContributeError) -> (ExitCode, Option<String>) {
    use ContributeError as C;
    match e {
        C::BadName { .. } | C::BadBranch { .. } => (ExitCode::Usage, None),
        C::NotFound { suggestion, .. } => (
            ExitCode::NotFound,
            Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`ddx workflow list --all` shows where each workflow comes from".to_owned(),
            }),
        ),
        C::Invalid { .. } => (
            ExitCode::Invalid,
            Some("fix the errors above (`ddx workflow validate <name>`), then contribute again".to_owned()),
        ),
        C::NoUpstream => (
            ExitCode::Usage,
            Some("name one with `--to <repository>` (`ddx repo list`), or give the library an upstream with `ddx update --from <url>`".to_owned()),
        ),
        C::UnknownSource { suggestion, .. } => (
            ExitCode::NotFound,
            Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? `ddx repo list` shows them all"),
                None => "`ddx repo list` shows the registered repositories".to_owned(),
            }),
        ),
        C::BranchExists { .. } | C::DefaultBranch { .. } => (
            ExitCode::Conflict,
            Some("name another branch with `--branch <name>`".to_owned()),
        ),
        C::Source(s) => super::classify_source(s),
        C::Config(c) => super::classify_config(c),
        C::Store(s) => super::classify_store(s),
        C::Git(_) => (ExitCode::Failure, None),
    }
}
