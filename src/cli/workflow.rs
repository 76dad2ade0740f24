//! `ddx workflow …`: list, search, show and validate workflows; init, status, next, pause,
//! resume, abort, restore, set and upgrade instances.

use super::instance::{self, ChangeArgs, InstanceArg};
use super::{cwd, Cli, ExitCode, Output};
use crate::analyze::stats::{self, RatingSummary};
use crate::catalog::search::{self, Filter, Match};
use crate::catalog::{
    self, BrokenWorkflow, Catalog, CatalogError, IndexedWorkflow, Located, Summary,
};
use crate::engine::gates::{self, CriterionStatus};
use crate::engine::machine::Op;
use crate::engine::state::PhaseStatus;
use crate::engine::work::{ApplyOptions, FileOptions, Render, Step};
use crate::engine::{self, EngineError, StatusView};
use crate::model::{Action, Criterion, Diagnostic, Phase, Variable, Workflow};
use crate::store::pending::Recovery;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum WorkflowCommand {
    /// List the workflows of the catalog, with the source each comes from.
    List(ListArgs),
    /// Find workflows by words, ranked, saying why each matched.
    Search(SearchArgs),
    /// Preview a workflow: phases, dependencies, gates, artifacts, actions and variables.
    Show(ShowArgs),
    /// Check a workflow definition and report every problem.
    Validate(ShowArgs),
    /// Start a new instance of a workflow in this repository (recorded on refs/ddx/instances/<id>).
    Init(InitArgs),
    /// Apply a workflow: start (or continue) its instance, start the ready phases and write their artifacts.
    Apply(ApplyArgs),
    /// Show an instance: phases, criteria, progress and what to do next.
    Status(StatusArgs),
    /// Complete the phases whose exit criteria hold, start the phases that become ready, and
    /// write their artifacts.
    Next(NextArgs),
    /// Pause an instance: it takes no transitions until resumed.
    Pause(PlainChangeArgs),
    /// Finish or roll back an interrupted command, and resume a paused instance.
    Resume(PlainChangeArgs),
    /// Cancel an instance (its history stays; `restore` can bring a checkpoint back).
    Abort(PlainChangeArgs),
    /// Record a new event whose state equals a checkpoint's (history is never rewritten).
    Restore(RestoreArgs),
    /// Change an instance's variables; its artifacts are re-rendered, your edits merged in.
    Set(SetArgs),
    /// Move an instance to its workflow's current definition; your edits are merged in.
    Upgrade(UpgradeArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The values: `test_command="make test"` (repeat for several).
    #[arg(required = true, value_name = "NAME=VALUE", value_parser = parse_var)]
    pub values: Vec<(String, String)>,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// Show per file and per ref what would happen, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: what changed, each file with its blobs, the refs moved.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub instance: InstanceArg,
    /// The version to move to: taken from the first source that has it (with `--source`, that
    /// source must have it).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Take the definition from this source (`local`, `project`, `embedded`, a repository
    /// name) or folder, instead of the catalog's first.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Show per file and per ref what would happen, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: what changed, each file with its blobs, the refs moved.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A workflow name, or a path to a workflow folder (anything containing `/`).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::workflows))]
    pub workflow: String,
    /// Set a variable (repeat for several): `--var project_name=shop`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// The instance id (default: `<workflow>-YYYYMMDD-HHMMSS-<4 hex>`).
    #[arg(long)]
    pub id: Option<String>,
    /// Show what would be recorded and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: the instance id, the event and audit commits, the refs moved.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A workflow name, or a path to a workflow folder (anything containing `/`).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::workflows))]
    pub workflow: String,
    /// Set a variable (repeat for several): `--var project_name=shop`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Continue this instance (default: the active instance of the workflow, or a new one).
    #[command(flatten)]
    pub instance: InstanceArg,
    /// The id of a new instance (default: `<workflow>-YYYYMMDD-HHMMSS-<4 hex>`).
    #[arg(long, conflicts_with = "instance")]
    pub id: Option<String>,
    /// Overwrite artifact files that exist with other content (never ones you edited after
    /// ddx wrote them).
    #[arg(long, alias = "overwrite")]
    pub force: bool,
    /// Run `command` checks of input gates although the workflow's source is not trusted.
    #[arg(long)]
    pub trust: bool,
    /// Show per file and per ref what would happen, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Show a unified diff of every file written or that would be.
    #[arg(long)]
    pub diff: bool,
    /// Print one JSON document: the instance id, the files written with their blob ids, the
    /// event and audit commits, the refs moved.
    #[arg(long, conflicts_with = "diff")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    #[command(flatten)]
    pub change: PlainChangeArgs,
    /// Run `command` checks although the workflow's source is not trusted.
    #[arg(long)]
    pub trust: bool,
    /// Show a unified diff of every artifact file written or that would be.
    #[arg(long)]
    pub diff: bool,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The instance: an id or unique prefix (default: the active one).
    #[arg(value_name = "ID", conflicts_with = "instance")]
    pub id: Option<String>,
    #[command(flatten)]
    pub instance: InstanceArg,
    /// Every instance of the repository.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlainChangeArgs {
    #[command(flatten)]
    pub instance: InstanceArg,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The checkpoint's name (`ddx checkpoint list` shows them).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::checkpoints))]
    pub checkpoint: String,
    #[command(flatten)]
    pub instance: InstanceArg,
    #[command(flatten)]
    pub change: ChangeArgs,
}

// Filters shared by `list` and `search` (a plain comment: see `instance::InstanceArg`).
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only workflows of this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only workflows with this tag or keyword (repeat for several; all must match).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Only workflows from this source: local, project, embedded, repo, or a repository name.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Only workflows compatible with this language (those that name no language fit any).
    #[arg(long, value_name = "LANGUAGE")]
    pub compatible_with: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> Filter {
        Filter {
            category: self.category.clone(),
            tags: self.tag.clone(),
            source: self.source.clone(),
            compatible_with: self.compatible_with.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Also list workflows shadowed by a workflow of the same name in a higher source.
    #[arg(long)]
    pub all: bool,
    /// Fail (exit 4) when any workflow of the catalog is broken, instead of listing the others.
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON document (an array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for in names, categories, tags, keywords, descriptions, phases and artifacts.
    #[arg(required = true, value_name = "WORDS")]
    pub words: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Also search workflows shadowed by a workflow of the same name in a higher source.
    #[arg(long)]
    pub all: bool,
    /// Fail (exit 4) when any workflow of the catalog is broken.
    #[arg(long)]
    pub strict: bool,
    /// Show at most this many matches.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Order of the matches: relevance to the words, rating (mean, then count), or
    /// popularity (instances of the workflow in this repository plus its ratings).
    #[arg(long, value_enum, default_value_t = SortBy::Relevance)]
    pub sort: SortBy,
    /// Print one JSON document (an array) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How `search` orders its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    Relevance,
    Rating,
    Popularity,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A workflow name, or a path to a workflow folder (anything containing `/`).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(super::completion::workflows))]
    pub workflow: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &WorkflowCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WorkflowCommand::List(args) => cmd_list(cli, out, args),
        WorkflowCommand::Search(args) => cmd_search(cli, out, args),
        WorkflowCommand::Show(args) => cmd_show(cli, out, args, false),
        WorkflowCommand::Validate(args) => cmd_show(cli, out, args, true),
        WorkflowCommand::Init(args) => cmd_init(cli, out, args),
        WorkflowCommand::Apply(args) => cmd_apply(cli, out, args),
        WorkflowCommand::Status(args) => cmd_status(cli, out, args),
        WorkflowCommand::Next(args) => cmd_next(cli, out, args),
        WorkflowCommand::Pause(args) => cmd_op(cli, out, args, Op::Pause),
        WorkflowCommand::Resume(args) => cmd_resume(cli, out, args),
        WorkflowCommand::Abort(args) => cmd_op(cli, out, args, Op::Abort),
        WorkflowCommand::Restore(args) => cmd_restore(cli, out, args),
        WorkflowCommand::Set(args) => cmd_set(cli, out, args),
        WorkflowCommand::Upgrade(args) => cmd_upgrade(cli, out, args),
    }
}

fn cmd_init(cli: &Cli, out: &Output, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let engine = instance::engine(&repo)?;
    let located = catalog::locate(&args.workflow, &cwd(cli)?)?;
    let mut vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    let report = loop {
        match engine.init(&located, vars.clone(), args.id.as_deref(), args.dry_run) {
            Err(EngineError::MissingVariables { missing }) if std::io::stdin().is_terminal() => {
                for (name, prompt) in missing {
                    let value = prompt_for(&name, prompt.as_deref())?;
                    vars.insert(name, value);
                }
            }
            other => break other?,
        }
    };
    let id = report.instance.clone();
    match &report.outcome {
        crate::store::transaction::Outcome::Committed(_) => {
            for l in &report.lines {
                out.note(l);
            }
            out.note(format!(
                "Initialised instance {id}; next: `ddx workflow next` starts the ready phases."
            ));
            if !args.json {
                out.line(&id);
            }
        }
        _ if args.json => {}
        _ => {
            instance::print_report(out, &report, false)?;
        }
    }
    if args.json {
        instance::print_report(out, &report, true)?;
    }
    Ok(ExitCode::Ok)
}

fn cmd_apply(cli: &Cli, out: &Output, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    // One open of the repository serves the catalog and the engine.
    let catalog = catalog::Catalog::open(&here)?;
    let Some(repo) = catalog.repo() else {
        return Err(crate::store::StoreError::NotARepository { path: here }.into());
    };
    let mut engine = instance::engine(repo)?;
    engine.set_trust(args.trust);
    let located = catalog.locate(&args.workflow, &here)?;
    let wf = located.load()?;
    let files = FileOptions { force: args.force };
    let instance = match &args.instance.instance {
        Some(_) => Some(instance::resolve(repo, &args.instance)?),
        None => None,
    };
    let mut opts = ApplyOptions {
        instance: instance.as_deref(),
        id: args.id.as_deref(),
        variables: args.vars.iter().cloned().collect(),
        files,
        dry_run: args.dry_run,
    };
    default_test_command(out, repo, &engine, &wf, &mut opts)?;
    let work = loop {
        match engine.apply_workflow(&located, &wf, &opts) {
            Err(EngineError::MissingVariables { missing }) if std::io::stdin().is_terminal() => {
                for (name, prompt) in missing {
                    let value = prompt_for(&name, prompt.as_deref())?;
                    opts.variables.insert(name, value);
                }
            }
            other => break other?,
        }
    };
    if let (false, Some(st)) = (work.created, &work.report.state) {
        out.note(format!(
            "Continuing instance {} of {}.",
            work.report.instance, st.workflow
        ));
    }
    let code = instance::print_work(out, &work, args.diff, args.dry_run, args.json)?;
    if let (Some(st), crate::store::transaction::Outcome::Committed(_)) =
        (&work.report.state, &work.report.outcome)
    {
        let active: Vec<&str> = st
            .phases
            .iter()
            .filter(|p| p.status == PhaseStatus::InProgress)
            .map(|p| p.id.as_str())
            .collect();
        out.note(format!(
            "{} instance {}{}; next: fill in the artifacts, then `ddx gate check`.",
            if work.created {
                "Applied: new"
            } else {
                "Applied:"
            },
            work.report.instance,
            if active.is_empty() {
                String::new()
            } else {
                format!(", in progress: {}", active.join(", "))
            }
        ));
    }
    Ok(code)
}

/// The variable `apply` fills from the project's build files when the user leaves it out.
const TEST_COMMAND: &str = "test_command";

/// Sets `test_command` for a new instance of a workflow that has the variable, when the user
/// did not: to the command the project's build files name (as `ddx analyze` detects it), if
/// they name one. When they name several, nothing is set and the user is told.
fn default_test_command(
    out: &Output,
    repo: &crate::store::Repo,
    engine: &engine::Engine<'_>,
    wf: &Workflow,
    opts: &mut ApplyOptions<'_>,
) -> anyhow::Result<()> {
    if opts.variables.contains_key(TEST_COMMAND)
        || !wf.variables.iter().any(|v| v.name == TEST_COMMAND)
        || engine
            .apply_target(&wf.name, opts.instance, opts.id)?
            .is_some()
    {
        return Ok(());
    }
    use crate::analyze::TestCommand;
    match crate::analyze::detect_test_command(repo.work_dir()) {
        Ok(TestCommand::Simple { command, from }) => {
            out.note(format!(
                "{TEST_COMMAND} is `{command}`, as {from} says (pass --var {TEST_COMMAND}=... for another)."
            ));
            opts.variables.insert(TEST_COMMAND.to_owned(), command);
        }
        Ok(TestCommand::Several(found)) => {
            let list: Vec<String> = found.iter().map(|(c, f)| format!("`{c}` ({f})")).collect();
            out.note(format!(
                "{TEST_COMMAND} is left to the workflow: the build files name several test commands, {}; pass --var {TEST_COMMAND}=... to choose.",
                list.join(", ")
            ));
        }
        Ok(TestCommand::Unknown) => {}
        Err(e) => tracing::debug!("no test command detected: {e}"),
    }
    Ok(())
}

fn cmd_next(cli: &Cli, out: &Output, args: &NextArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.change.instance)?;
    let mut engine = instance::engine(&repo)?;
    engine.set_trust(args.trust);
    let work = engine.work(
        &id,
        &Step::Op(Op::Next),
        &Render::Started,
        FileOptions::default(),
        args.change.change.reason.as_deref(),
        args.change.change.dry_run,
    )?;
    instance::print_work(
        out,
        &work,
        args.diff,
        args.change.change.dry_run,
        args.change.change.json,
    )
}

fn prompt_for(name: &str, prompt: Option<&str>) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr().lock();
    // The prompt is workflow text.
    let question = format!("{} [{name}]: ", prompt.unwrap_or(name));
    write!(
        stderr,
        "{}",
        super::output::escape_controls(&question, false)
    )?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let value = line.trim().to_owned();
    if value.is_empty() {
        anyhow::bail!("no value given for the required variable {name}");
    }
    Ok(value)
}

fn cmd_op(cli: &Cli, out: &Output, args: &PlainChangeArgs, op: Op) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let engine = instance::engine(&repo)?;
    let report = engine.apply(&id, &op, args.change.reason.as_deref(), args.change.dry_run)?;
    instance::print_report(out, &report, args.change.json)
}

fn cmd_resume(cli: &Cli, out: &Output, args: &PlainChangeArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let engine = instance::engine(&repo)?;
    let mut recovered = 0;
    if args.change.dry_run {
        if let Some(step) = crate::store::pending::interrupted(&repo)? {
            out.line(format!(
                "would finish or roll back the interrupted step \"{step}\""
            ));
            recovered += 1;
        }
    } else if let Some(r) = engine.recover()? {
        recovered += 1;
        match &r {
            Recovery::Finished { step, moved } => out.line(format!(
                "finished the interrupted step \"{step}\" (moved {})",
                moved.join(", ")
            )),
            Recovery::AlreadyDone { step } => out.line(format!(
                "the interrupted step \"{step}\" had completed; cleaned up"
            )),
            Recovery::RolledBack { step, reason } => out.line(format!(
                "rolled back the interrupted step \"{step}\": {reason}"
            )),
        }
    }
    let id = match engine::resolve_instance(&repo, args.instance.instance.as_deref()) {
        Ok(id) => id,
        Err(EngineError::Lookup(crate::store::LookupError::NoInstances)) if recovered > 0 => {
            return Ok(ExitCode::Ok)
        }
        Err(e) => return Err(e.into()),
    };
    let report = engine.apply(
        &id,
        &Op::Resume,
        args.change.reason.as_deref(),
        args.change.dry_run,
    )?;
    if recovered > 0 && !report.changed() {
        return Ok(ExitCode::Ok);
    }
    instance::print_report(out, &report, args.change.json)
}

fn cmd_restore(cli: &Cli, out: &Output, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let engine = instance::engine(&repo)?;
    let report = engine.restore(
        &id,
        &args.checkpoint,
        args.change.reason.as_deref(),
        args.change.dry_run,
    )?;
    instance::print_report(out, &report, args.change.json)
}

fn cmd_status(cli: &Cli, out: &Output, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    if args.all {
        let engine::AllStatus {
            views: all,
            unreadable,
        } = engine::status_all(&repo)?;
        for (id, e) in &unreadable {
            out.warn(format!(
                "instance {id} cannot be shown: {}",
                crate::store::repo::error_chain(e)
            ));
        }
        if args.json {
            out.json(&all)?;
        } else if all.is_empty() && unreadable.is_empty() {
            out.note("No workflow instances; `ddx workflow init <workflow>` starts one.");
        } else {
            for v in &all {
                let active: Vec<&str> = v
                    .phases
                    .iter()
                    .filter(|p| p.status == PhaseStatus::InProgress)
                    .map(|p| p.id.as_str())
                    .collect();
                out.line(format!(
                    "{}  {} {}  {}  {}%{}",
                    out.bold(&v.id),
                    v.workflow,
                    v.version,
                    status_word(out, v.status.as_str()),
                    v.progress,
                    if active.is_empty() {
                        String::new()
                    } else {
                        format!("  in progress: {}", active.join(", "))
                    }
                ));
            }
        }
        return Ok(ExitCode::Ok);
    }
    let given = args.id.as_deref().or(args.instance.instance.as_deref());
    let id = engine::resolve_instance(&repo, given)?;
    let view = engine::status(&repo, &id)?;
    if args.json {
        out.json(&view)?;
    } else {
        print_status(out, &view, cli.verbose > 0);
    }
    Ok(ExitCode::Ok)
}

fn status_word(out: &Output, status: &str) -> String {
    match status {
        "completed" | "approved" | "passed" => out.green(status),
        "failed" | "cancelled" => out.red(status),
        "in_progress" | "running" | "ready" | "paused" | "needs_approval" => out.yellow(status),
        _ => out.dim(status),
    }
}

/// Prints an instance; finished phases fold into one line each unless `verbose`.
fn print_status(out: &Output, v: &StatusView, verbose: bool) {
    out.line(format!(
        "{}  {} {}  {}  {}% done",
        out.bold(&v.id),
        v.workflow,
        v.version,
        status_word(out, v.status.as_str()),
        v.progress
    ));
    out.line(out.dim(&format!(
        "  created {} by {}; {} events; tip {}",
        v.created,
        v.created_by,
        v.events,
        &v.commit[..v.commit.len().min(12)]
    )));
    let w = v.phases.iter().map(|p| p.id.len()).max().unwrap_or(0);
    for p in &v.phases {
        let mut line = format!("  {:w$}  {:11}  {}", p.id, p.status.as_str(), p.name);
        if let Some(r) = &p.reason {
            line.push_str(&format!(" ({r})"));
        }
        let finished = matches!(p.status, PhaseStatus::Completed | PhaseStatus::Skipped);
        if finished && !verbose && !p.criteria.is_empty() {
            line.push_str(&folded_summary(p));
        }
        let colored = line.replacen(p.status.as_str(), &status_word(out, p.status.as_str()), 1);
        out.line(colored);
        let show = verbose
            || matches!(
                p.status,
                PhaseStatus::InProgress | PhaseStatus::Ready | PhaseStatus::Failed
            );
        if show {
            for c in &p.criteria {
                let mark = if c.status.is_satisfied() {
                    "[x]"
                } else {
                    "[ ]"
                };
                let mut text = format!(
                    "      {mark} {}. {} ({} {}{})",
                    c.number,
                    c.criteria,
                    c.gate.as_str(),
                    status_word(out, c.status.as_str()),
                    if c.required { "" } else { ", optional" }
                );
                if let Some(a) = &c.approval {
                    text.push_str(&format!(" by {} at {}", a.by, a.at));
                }
                if let Some(commit) = &c.recorded_in {
                    text.push_str(&format!(
                        " recorded in event {}",
                        &commit[..commit.len().min(12)]
                    ));
                }
                out.line(text);
            }
            for f in &p.forced {
                out.line(format!("      forced past: {f}"));
            }
        }
    }
    if !v.files.is_empty() {
        out.line(out.bold("files:"));
        let w = v.files.keys().map(|p| p.len()).max().unwrap_or(0);
        for (path, r) in &v.files {
            let short = |id: &Option<String>| {
                id.as_deref()
                    .map_or_else(|| "none".to_owned(), |i| i.chars().take(7).collect())
            };
            out.line(format!(
                "  {path:w$}  {} -> {}  {}{}",
                short(&r.before),
                short(&r.after),
                r.by,
                r.phase
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            ));
        }
    }
    if !v.conflicts.is_empty() {
        out.line(out.bold("conflicts (forked histories joined by `ddx sync`):"));
        for c in &v.conflicts {
            out.line(format!("  {}", out.yellow(&out.escape(&c.to_string()))));
            out.line(out.dim(&format!("    {}", engine::settle_hint(c))));
        }
    }
    for remote in &v.remote_events {
        out.note(format!(
            "{remote} has events of this instance that are not here yet: `ddx sync {remote}` joins them"
        ));
    }
    for step in &v.interrupted {
        out.warn(format!(
            "an interrupted step awaits `ddx workflow resume`: {step}"
        ));
    }
    if let Some(m) = &v.moved_outside_ddx {
        out.warn(format!(
            "refs/ddx/instances/{} moved outside ddx (ddx last wrote {m})",
            v.id
        ));
    }
    if !v.next.is_empty() {
        out.line(out.bold("next:"));
        for n in &v.next {
            out.line(format!("  {n}"));
        }
    }
}

/// One finished phase's criteria in a few words: how many were approved, how many were
/// forced past.
fn folded_summary(p: &engine::PhaseView) -> String {
    let approved = p.criteria.iter().filter(|c| c.approval.is_some()).count();
    let mut parts = vec![format!(
        "{} criteri{}",
        p.criteria.len(),
        if p.criteria.len() == 1 { "on" } else { "a" }
    )];
    let recorded: Vec<&gates::Evaluation> = p
        .criteria
        .iter()
        .filter(|c| c.recorded_in.is_some())
        .collect();
    let passed = recorded
        .iter()
        .filter(|c| c.status == CriterionStatus::Passed)
        .count();
    if passed > 0 {
        parts.push(format!(
            "{passed} check{} passed",
            if passed == 1 { "" } else { "s" }
        ));
    }
    let failed = |required: bool| {
        recorded
            .iter()
            .filter(|c| c.status != CriterionStatus::Passed && c.required == required)
            .count()
    };
    for (n, what) in [(failed(true), ""), (failed(false), "optional ")] {
        if n > 0 {
            parts.push(format!(
                "{n} {what}check{} failed",
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    if approved > 0 {
        parts.push(format!("{approved} approved"));
    }
    if !p.forced.is_empty() {
        parts.push(format!("{} forced past", p.forced.len()));
    }
    format!("  [{}; --verbose lists them]", parts.join(", "))
}

/// Names the broken workflows on stderr; with `strict`, fails after naming them.
fn report_broken(out: &Output, broken: &[BrokenWorkflow], strict: bool) -> anyhow::Result<()> {
    for b in broken {
        let shadow = b
            .shadowed_by
            .as_ref()
            .map(|s| format!(", shadowed by {s}"))
            .unwrap_or_default();
        if strict {
            out.note(format!(
                "workflow `{}` ({}{shadow}) is broken:",
                b.name, b.source
            ));
        } else {
            out.warn(format!(
                "workflow `{}` ({}{shadow}) is broken and not listed:",
                b.name, b.source
            ));
        }
        for d in &b.diagnostics {
            out.note(format!("  {d}"));
        }
    }
    if strict && !broken.is_empty() {
        let mut names: Vec<String> = broken
            .iter()
            .map(|b| format!("{} ({})", b.name, b.source))
            .collect();
        names.dedup();
        return Err(CatalogError::Broken {
            count: broken.len(),
            names,
        }
        .into());
    }
    Ok(())
}

fn cmd_list(cli: &Cli, out: &Output, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&cwd(cli)?)?;
    let index = catalog.index()?;
    report_broken(out, &index.broken, args.strict)?;
    let filter = args.filter.filter();
    let found: Vec<Summary> = index
        .workflows
        .iter()
        .filter(|w| args.all || w.shadowed_by.is_none())
        .filter(|w| filter.matches(w))
        .map(|w| w.summary())
        .collect();
    let rated = ratings_of(out, &catalog);
    let rating = |name: &str| rated.get(name).copied().unwrap_or_default();
    if args.json {
        let listed: Vec<Rated> = found
            .iter()
            .map(|s| Rated {
                summary: s.clone(),
                rating: rating(&s.name),
            })
            .collect();
        out.json(&listed)?;
        return Ok(ExitCode::Ok);
    }
    if found.is_empty() {
        out.note("No workflows match.");
        return Ok(ExitCode::Ok);
    }
    let width = |f: &dyn Fn(&Summary) -> usize, min: usize| {
        found.iter().map(f).max().unwrap_or(min).max(min)
    };
    let w_name = width(&|s| s.name.len(), 4);
    let w_ver = width(&|s| s.version.len(), 7);
    let w_cat = width(&|s| s.category.len(), 8);
    let w_src = width(&|s| s.source.len(), 6);
    out.line(out.bold(&format!(
        "{:w_name$}  {:w_ver$}  {:w_cat$}  {:w_src$}  {:10}  DESCRIPTION",
        "NAME", "VERSION", "CATEGORY", "SOURCE", "RATING"
    )));
    for s in &found {
        let shadowed = s
            .shadowed_by
            .as_ref()
            .map(|by| out.dim(&format!(" (shadowed by {by})")))
            .unwrap_or_default();
        out.line(format!(
            "{}  {:w_ver$}  {:w_cat$}  {:w_src$}  {:10}  {}{shadowed}",
            out.bold(&format!("{:w_name$}", s.name)),
            s.version,
            s.category,
            s.source,
            rating_text(rating(&s.name)),
            s.description
        ));
    }
    Ok(ExitCode::Ok)
}

/// One workflow of `list --json`: its summary and its ratings.
#[derive(Debug, Serialize)]
struct Rated {
    #[serde(flatten)]
    summary: Summary,
    rating: RatingSummary,
}

/// The ratings of every workflow on refs/ddx/ratings (none outside a repository). Ratings that
/// cannot be read are reported and left out: they never stop a listing.
fn ratings_of(out: &Output, catalog: &Catalog) -> BTreeMap<String, RatingSummary> {
    let Some(repo) = catalog.repo() else {
        return BTreeMap::new();
    };
    match stats::ratings_by_workflow(repo) {
        Ok(r) => r,
        Err(e) => {
            out.warn(format!("ratings are not shown: {e}"));
            BTreeMap::new()
        }
    }
}

/// `4.50 (2)`, or `-` while a workflow has no rating.
fn rating_text(r: RatingSummary) -> String {
    match r.mean {
        Some(m) => format!("{m:.2} ({})", r.count),
        None => "-".to_owned(),
    }
}

/// One result of `search --json`: the fields of `list`, and the ranking.
#[derive(Debug, Serialize)]
struct SearchResult {
    #[serde(flatten)]
    summary: Summary,
    rating: RatingSummary,
    /// Instances here plus ratings (only with `--sort popularity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    popularity: Option<usize>,
    score: f64,
    exact_name: bool,
    why: Vec<String>,
    matches: Vec<Match>,
}

fn cmd_search(cli: &Cli, out: &Output, args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&cwd(cli)?)?;
    let index = catalog.index()?;
    report_broken(out, &index.broken, args.strict)?;
    let filter = args.filter.filter();
    let candidates: Vec<&IndexedWorkflow> = index
        .workflows
        .iter()
        .filter(|w| args.all || w.shadowed_by.is_none())
        .filter(|w| filter.matches(w))
        .collect();
    let mut hits = search::search(&candidates, &args.words);
    let rated = ratings_of(out, &catalog);
    let rating = |name: &str| rated.get(name).copied().unwrap_or_default();
    let popularity: Option<BTreeMap<String, usize>> = match (args.sort, catalog.repo()) {
        (SortBy::Popularity, Some(repo)) => Some(stats::instance_counts(repo)?),
        (SortBy::Popularity, None) => Some(BTreeMap::new()),
        _ => None,
    };
    let popular = |name: &str| {
        popularity
            .as_ref()
            .map(|p| p.get(name).copied().unwrap_or(0) + rating(name).count)
    };
    // Stable sorts: among equals, the order of relevance stays.
    match args.sort {
        SortBy::Relevance => {}
        SortBy::Rating => hits.sort_by(|a, b| {
            let (ra, rb) = (rating(&a.entry.name), rating(&b.entry.name));
            rb.mean
                .unwrap_or(0.0)
                .total_cmp(&ra.mean.unwrap_or(0.0))
                .then(rb.count.cmp(&ra.count))
        }),
        SortBy::Popularity => hits.sort_by_key(|h| std::cmp::Reverse(popular(&h.entry.name))),
    }
    let total = hits.len();
    let shown = &hits[..total.min(args.limit)];
    if args.json {
        let results: Vec<SearchResult> = shown
            .iter()
            .map(|h| SearchResult {
                summary: h.workflow.summary_of(&h.entry),
                rating: rating(&h.entry.name),
                popularity: popular(&h.entry.name),
                score: (h.score * 1000.0).round() / 1000.0,
                exact_name: h.exact_name,
                why: h.why(),
                matches: h.matches.clone(),
            })
            .collect();
        out.json(&results)?;
        return Ok(ExitCode::Ok);
    }
    if shown.is_empty() {
        out.note(format!(
            "No workflow matches {}.",
            args.words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        return Ok(ExitCode::Ok);
    }
    let w_name = shown
        .iter()
        .map(|h| h.entry.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_src = shown
        .iter()
        .map(|h| h.workflow.source.to_string().len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.line(out.bold(&format!(
        "{:w_name$}  {:w_src$}  {:>6}  {:10}  DESCRIPTION",
        "NAME", "SOURCE", "SCORE", "RATING"
    )));
    for h in shown {
        let w = h.workflow;
        out.line(format!(
            "{}  {:w_src$}  {:>6.2}  {:10}  {}",
            out.bold(&format!("{:w_name$}", h.entry.name)),
            w.source.to_string(),
            h.score,
            rating_text(rating(&h.entry.name)),
            h.entry.description
        ));
        out.line(out.dim(&format!("{:w_name$}  matched: {}", "", h.why().join("; "))));
    }
    if total > shown.len() {
        out.note(format!(
            "{} more match{}; use --limit to see them.",
            total - shown.len(),
            if total - shown.len() == 1 { "es" } else { "" }
        ));
    }
    Ok(ExitCode::Ok)
}

/// Counts shown by `show` and `validate`.
#[derive(Debug, Serialize)]
struct Counts {
    phases: usize,
    artifacts: usize,
    actions: usize,
    input_gates: usize,
    exit_criteria: usize,
    checks: usize,
    variables: usize,
}

impl Counts {
    fn of(w: &Workflow) -> Counts {
        let criteria = || {
            w.phases
                .iter()
                .flat_map(|p| p.input_gates.iter().chain(&p.exit_criteria))
        };
        Counts {
            phases: w.phases.len(),
            artifacts: w.artifact_count(),
            actions: w.all_actions().count(),
            input_gates: w.phases.iter().map(|p| p.input_gates.len()).sum(),
            exit_criteria: w.phases.iter().map(|p| p.exit_criteria.len()).sum(),
            checks: criteria().filter(|c| !c.is_human()).count(),
            variables: w.variables.len(),
        }
    }
}

/// The JSON document of `show` and `validate`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    name: &'a str,
    version: &'a str,
    source: String,
    valid: bool,
    rating: RatingSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<Counts>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    workflow: Option<&'a Workflow>,
    phases: &'a [Phase],
    actions: &'a [Action],
    variables: &'a [Variable],
    errors: Vec<&'a Diagnostic>,
    warnings: Vec<&'a Diagnostic>,
}

fn cmd_show(cli: &Cli, out: &Output, args: &ShowArgs, validate: bool) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    // A path needs no repository (and is not rated); a name is looked up in the catalog.
    let (located, rating) = if catalog::is_path(&args.workflow) {
        (
            catalog::locate(&args.workflow, &here)?,
            RatingSummary::default(),
        )
    } else {
        let catalog = Catalog::open(&here)?;
        let located = catalog.locate(&args.workflow, &here)?;
        let rating = ratings_of(out, &catalog)
            .get(&located.name)
            .copied()
            .unwrap_or_default();
        (located, rating)
    };
    let v = located.validate();
    let errors: Vec<&Diagnostic> = v.errors().collect();
    let warnings: Vec<&Diagnostic> = v.diagnostics.iter().filter(|d| !d.is_error()).collect();
    let code = if v.is_valid() {
        ExitCode::Ok
    } else {
        ExitCode::Invalid
    };
    if args.json {
        let w = v.workflow.as_ref();
        let report = Report {
            name: w.map_or(located.name.as_str(), |w| w.name.as_str()),
            version: w.map_or("", |w| w.version.as_str()),
            source: located.source.to_string(),
            valid: v.is_valid(),
            rating,
            counts: w.map(Counts::of),
            workflow: w,
            phases: w.map_or(&[], |w| w.phases.as_slice()),
            actions: w.map_or(&[], |w| w.actions.as_slice()),
            variables: w.map_or(&[], |w| w.variables.as_slice()),
            errors,
            warnings,
        };
        out.json(&report)?;
        return Ok(code);
    }
    if validate {
        print_validation(out, &located, v.workflow.as_ref(), &errors, &warnings);
    } else {
        match &v.workflow {
            Some(w) => {
                print_preview(out, &located, w);
                if rating.count > 0 {
                    out.line(format!("  rating: {}", rating_text(rating)));
                }
            }
            None => out.line(format!("{}: the workflow could not be read", located.name)),
        }
        for d in errors.iter().chain(warnings.iter()) {
            out.note(d.to_string());
        }
    }
    Ok(code)
}

fn print_validation(
    out: &Output,
    located: &Located,
    w: Option<&Workflow>,
    errors: &[&Diagnostic],
    warnings: &[&Diagnostic],
) {
    for d in errors.iter().chain(warnings.iter()) {
        out.line(d.to_string());
    }
    let name = w.map_or(located.name.as_str(), |w| w.name.as_str());
    let counts = w.map(|w| {
        let c = Counts::of(w);
        format!(
            "{}, {}, {}, {}, {} ({} machine-checked)",
            plural(c.phases, "phase"),
            plural(c.artifacts, "artifact"),
            plural(c.actions, "action"),
            plural(c.input_gates, "input gate"),
            plural(c.exit_criteria, "exit criterion"),
            c.checks
        )
    });
    if errors.is_empty() && w.is_some() {
        out.line(format!(
            "{} {name} {} is valid: {}",
            out.green("ok:"),
            w.map_or("", |w| w.version.as_str()),
            counts.unwrap_or_default()
        ));
    } else {
        let n = errors.len();
        out.line(format!(
            "{} {name} has {n} error{}{}",
            out.red("invalid:"),
            if n == 1 { "" } else { "s" },
            counts.map(|c| format!(" ({c})")).unwrap_or_default()
        ));
    }
}

/// `1 phase`, `2 phases`, `3 exit criteria`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else if let Some(stem) = word.strip_suffix("criterion") {
        format!("{n} {stem}criteria")
    } else {
        format!("{n} {word}s")
    }
}

fn criterion_line(out: &Output, c: &Criterion) -> String {
    let tag = match &c.check {
        None => out.yellow("human"),
        Some(check) => out.green(check.kind()),
    };
    let optional = if c.required { "" } else { " (optional)" };
    format!("[{tag}] {}{optional}", c.criteria)
}

fn print_preview(out: &Output, located: &Located, w: &Workflow) {
    out.line(format!("{} {}", out.bold(&w.name), w.version));
    if !w.description.is_empty() {
        out.line(format!("  {}", w.description));
    }
    out.line(format!(
        "  source: {}   category: {}{}",
        located.source,
        w.category,
        if w.tags.is_empty() {
            String::new()
        } else {
            format!("   tags: {}", w.tags.join(", "))
        }
    ));
    if !w.keywords.is_empty() {
        out.line(format!("  keywords: {}", w.keywords.join(", ")));
    }
    if !w.languages.is_empty() {
        out.line(format!("  languages: {}", w.languages.join(", ")));
    }
    if let Some(stats) = &w.statistics {
        out.line(format!("  statistics: {}", yaml_inline(stats)));
    }
    if let Some(rating) = &w.rating {
        out.line(format!("  rating: {}", yaml_inline(rating)));
    }
    if !w.variables.is_empty() {
        out.line(out.bold("\nVariables"));
        for v in &w.variables {
            let mut line = format!("  {}", v.name);
            if v.required {
                line.push_str(" (required)");
            }
            if let Some(d) = &v.default {
                line.push_str(&format!(" [default: {d}]"));
            }
            if let Some(d) = &v.description {
                line.push_str(&format!(" — {d}"));
            }
            out.line(line);
        }
    }
    out.line(out.bold("\nPhases"));
    for p in &w.phases {
        out.line(format!("  {}. {} — {}", p.order, out.bold(&p.id), p.name));
        let deps = if p.depends_on.is_empty() {
            "nothing".to_owned()
        } else {
            p.depends_on.join(", ")
        };
        out.line(format!("     depends on: {deps}"));
        if let Some(when) = &p.when {
            out.line(format!("     when: {when}"));
        }
        if !p.input_gates.is_empty() {
            out.line(format!("     input gates ({}):", p.input_gates.len()));
            for c in &p.input_gates {
                out.line(format!("       {}", criterion_line(out, c)));
            }
        }
        if !p.exit_criteria.is_empty() {
            out.line(format!("     exit criteria ({}):", p.exit_criteria.len()));
            for c in &p.exit_criteria {
                out.line(format!("       {}", criterion_line(out, c)));
            }
        }
        if !p.artifacts.is_empty() {
            out.line(format!("     artifacts ({}):", p.artifacts.len()));
            for a in &p.artifacts {
                let to = a
                    .output
                    .as_ref()
                    .map(|o| format!(" -> {}", o.path()))
                    .unwrap_or_default();
                out.line(format!("       {}{}", a.id, out.dim(&to)));
            }
        }
        if !p.actions.is_empty() {
            let names: Vec<&str> = p.actions.iter().map(|a| a.id.as_str()).collect();
            out.line(format!("     actions: {}", names.join(", ")));
        }
    }
    if !w.actions.is_empty() {
        out.line(out.bold("\nWorkflow actions"));
        for a in &w.actions {
            let kind = match &a.kind {
                crate::model::ActionKind::Prompt => "prompt".to_owned(),
                crate::model::ActionKind::Command { command, .. } => format!("command: {command}"),
            };
            out.line(format!(
                "  {} — {} {}",
                a.id,
                a.title,
                out.dim(&format!("({kind})"))
            ));
        }
    }
}

/// A metadata value on one line: `key value, key value` for a mapping, the scalar otherwise.
fn yaml_inline(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| format!("{} {}", yaml_inline(k), yaml_inline(v)))
            .collect::<Vec<_>>()
            .join(", "),
        serde_yaml::Value::Sequence(items) => {
            items.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
        }
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Null => "-".to_owned(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Tagged(t) => yaml_inline(&t.value),
    }
}

fn cmd_set(cli: &Cli, out: &Output, args: &SetArgs) -> anyhow::Result<ExitCode> {
    let repo = instance::open(cli)?;
    let id = instance::resolve(&repo, &args.instance)?;
    let engine = instance::engine(&repo)?;
    let values: BTreeMap<String, String> = args.values.iter().cloned().collect();
    let change = engine.set(&id, &values, args.dry_run)?;
    print_change(out, &change, args.dry_run, args.json)
}

fn cmd_upgrade(cli: &Cli, out: &Output, args: &UpgradeArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let catalog = catalog::Catalog::open(&here)?;
    let Some(repo) = catalog.repo() else {
        return Err(crate::store::StoreError::NotARepository { path: here }.into());
    };
    let id = instance::resolve(repo, &args.instance)?;
    let engine = instance::engine(repo)?;
    let (_, st) = engine::load(repo, &id)?;
    let located = match (&args.source, &args.to) {
        (Some(source), _) => catalog.locate_from(&st.workflow, source, &here)?,
        // The first source with that version; none has it: the first, which upgrade refuses.
        (None, Some(v)) => match catalog.locate_version(&st.workflow, v)? {
            Some(found) => found,
            None => catalog.locate(&st.workflow, &here)?,
        },
        (None, None) => catalog.locate(&st.workflow, &here)?,
    };
    let change = engine.upgrade(&id, &located, args.to.as_deref(), args.dry_run)?;
    print_change(out, &change, args.dry_run, args.json)
}

/// The `--json` document of `workflow set` and `workflow upgrade`.
#[derive(Serialize)]
struct ChangeDoc<'a> {
    #[serde(flatten)]
    change: instance::ChangeJson<'a>,
    files: &'a [engine::upgrade::FileMerge],
    conflicts: usize,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

/// Prints what `set` or `upgrade` did: the event, one line per file, then what to do about
/// conflicts.
fn print_change(
    out: &Output,
    change: &engine::upgrade::ChangeReport,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use engine::upgrade::FileOutcome;
    if json {
        out.json(&ChangeDoc {
            change: instance::change_json(&change.report, None),
            files: &change.files,
            conflicts: change.conflicts(),
            notes: &change.notes,
        })?;
        return Ok(ExitCode::Ok);
    }
    let code = instance::print_report(out, &change.report, false)?;
    let w = change
        .files
        .iter()
        .map(|f| f.outcome.label().len())
        .max()
        .unwrap_or(0);
    for f in &change.files {
        let label = format!("{:w$}", f.outcome.label());
        let painted = match f.outcome {
            FileOutcome::Updated | FileOutcome::Merged | FileOutcome::New => out.green(&label),
            FileOutcome::Unchanged => out.dim(&label),
            _ => out.yellow(&label),
        };
        out.line(format!("{painted}  {}", f.path));
    }
    for n in &change.notes {
        out.warn(n);
    }
    let conflicts = change.conflicts();
    if conflicts > 0 {
        let verb = match (dry_run, conflicts == 1) {
            (true, _) => "would be left",
            (false, true) => "is left",
            (false, false) => "are left",
        };
        out.warn(format!(
            "{conflicts} file{} {verb} with conflict markers, unmerged in the index: edit {}, then `git add` {}; `git mergetool` works too, and ddx's pre-commit hook refuses to commit markers",
            if conflicts == 1 { "" } else { "s" },
            if conflicts == 1 { "it" } else { "them" },
            if conflicts == 1 { "it" } else { "them" },
        ));
    }
    Ok(code)
}
