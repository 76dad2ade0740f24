//! The command line: clap types, dispatch, and the one place that prints.
//!
//! Each command group is one file with its `…Args` structs (their doc comments are the help
//! text) and `cmd_…` functions. Errors are mapped once, in [`classify`], to an exit code and a
//! hint with the next thing to try.

mod action;
mod agents;
mod analyze;
mod audit;
mod checkpoint;
mod completion;
mod contribute;
mod gate;
mod hooks;
mod instance;
mod log;
mod man;
mod notes;
mod output;
mod phase;
mod progress;
mod rate;
mod recommend;
mod repo;
mod stats;
mod sync;
mod trust;
mod update;
mod workflow;

pub use output::Output;

use crate::catalog::CatalogError;
use crate::config::ConfigError;
use crate::engine::machine::TransitionError;
use crate::engine::state::StateError;
use crate::engine::EngineError;
use crate::model::load::DefinitionError;
use crate::share::repos::RepoError;
use crate::store::sources::SourceError;
use crate::store::{LookupError, StoreError};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes: stable, documented in docs/exit-codes.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    GateNotSatisfied = 3,
    Invalid = 4,
    NotFound = 5,
    Conflict = 6,
}

/// ddx: methodology workflows applied to a git repository, gated and recorded in git.
#[derive(Debug, Parser)]
#[command(name = "ddx", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Run as if ddx was started in this directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output on stderr (-q errors only, -qq nothing).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Find, inspect and validate workflows.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// Install, remove and inspect the git hooks that enforce phase gates.
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
    /// Start, complete, skip, fail and reopen the phases of an instance.
    #[command(subcommand)]
    Phase(phase::PhaseCommand),
    /// Check the gates of the current phases, and approve human criteria.
    #[command(subcommand)]
    Gate(gate::GateCommand),
    /// List and run a workflow's actions (prompts for an agent, commands).
    #[command(subcommand)]
    Action(action::ActionCommand),
    /// Name an instance's state, to restore it later.
    #[command(subcommand)]
    Checkpoint(checkpoint::CheckpointCommand),
    /// Maintain refs/notes/ddx, the notes on the project's commits.
    #[command(subcommand)]
    Notes(notes::NotesCommand),
    /// Query and export the structured log.
    Log(log::LogArgs),
    /// Register, list, fetch and remove team or private catalogs.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// The audit chain: list, show, verify, report, export.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Show what .ddx/config.yml (or a workflow) would run, and trust it as it is (kept locally).
    Trust(trust::TrustArgs),
    /// Write and keep current the coding agents' command files and AGENTS.md section.
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Share instances, checkpoints, the audit chain and notes with a remote; join forks.
    Sync(sync::SyncArgs),
    /// Detect the project's languages, tests and history; report findings and workflows.
    Analyze(analyze::AnalyzeArgs),
    /// Merge the project library's upstream into .ddx/library/; list possible upgrades.
    Update(update::UpdateArgs),
    /// Push the local version of a workflow to a new branch of its upstream, for review.
    Contribute(contribute::ContributeArgs),
    /// Rate a workflow from 1 to 5 (kept on refs/ddx/ratings, shared by sync).
    Rate(rate::RateArgs),
    /// Usage of the workflows, from the instance histories in refs/ddx/*.
    Stats(stats::StatsArgs),
    /// Rank the catalog's workflows for an issue described in words, saying why.
    Recommend(recommend::RecommendArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
    /// Write the manual pages (ddx.1, git-ddx.1, one per subcommand).
    Man(man::ManArgs),
}

/// Runs ddx with the process's arguments and returns the exit code.
pub fn main() -> i32 {
    quiet_on_closed_pipe();
    // `COMPLETE=bash ddx -- ddx workflow show h`: the shell asks for candidates (the
    // registration script of `ddx completion bash` does); ddx prints them and exits.
    clap_complete::CompleteEnv::with_factory(command)
        .var(completion::VAR)
        .complete();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            return code as i32;
        }
    };
    let out = Output::new(cli.color);
    crate::observe::log::init(cli.verbose as i8 - cli.quiet as i8, out.color_stderr());
    let code = match run(&cli, &out) {
        Ok(code) => code as i32,
        Err(err) if broken_pipe(&err) => output::reader_gone(),
        Err(err) => {
            let (code, hint) = classify(&err);
            let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            // Into the instance log only: stderr gets the error printed below.
            tracing::error!(target: crate::observe::log::FILE_ONLY, exit_code = code as i32, causes = ?chain, "{err}");
            out.error(&err, hint.as_deref());
            code as i32
        }
    };
    crate::observe::log::flush();
    code
}

/// A panic while printing to a reader that went away (`ddx … | head -1`) ends ddx as git
/// ends, not with a panic message: whatever printed, the pipe is what failed.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if output::stdout_gone() {
            output::reader_gone();
        }
        default(info)
    }));
}

/// Whether `err` is stdout's reader going away.
fn broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A command line ddx cannot act on (exit code 2, as clap's own errors).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot change to '{}': {why}", dir.display())]
    Directory { dir: PathBuf, why: String },
}

/// The working directory of this invocation (`-C` or the process's).
pub(crate) fn cwd(cli: &Cli) -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir()?;
    Ok(match &cli.directory {
        Some(d) => here.join(d),
        None => here,
    })
}

/// `-C DIR` must name a directory, as git's `-C` must.
fn check_directory(cli: &Cli) -> Result<(), UsageError> {
    let Some(dir) = &cli.directory else {
        return Ok(());
    };
    let why = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "Not a directory".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "No such file or directory".to_owned()
        }
        Err(e) => e.to_string(),
    };
    Err(UsageError::Directory {
        dir: dir.clone(),
        why,
    })
}

fn run(cli: &Cli, out: &Output) -> anyhow::Result<ExitCode> {
    check_directory(cli)?;
    dispatch(cli, out)
}

fn dispatch(cli: &Cli, out: &Output) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Workflow(cmd) => workflow::run(cli, out, cmd),
        Command::Hooks(cmd) => hooks::run(cli, out, cmd),
        Command::Phase(cmd) => phase::run(cli, out, cmd),
        Command::Gate(cmd) => gate::run(cli, out, cmd),
        Command::Action(cmd) => action::run(cli, out, cmd),
        Command::Checkpoint(cmd) => checkpoint::run(cli, out, cmd),
        Command::Notes(cmd) => notes::run(cli, out, cmd),
        Command::Log(args) => log::cmd_log(cli, out, args),
        Command::Repo(cmd) => repo::run(cli, out, cmd),
        Command::Audit(cmd) => audit::run(cli, out, cmd),
        Command::Agents(cmd) => agents::run(cli, out, cmd),
        Command::Trust(args) => trust::cmd_trust(cli, out, args),
        Command::Analyze(args) => analyze::cmd_analyze(cli, out, args),
        Command::Sync(args) => sync::cmd_sync(cli, out, args),
        Command::Update(args) => update::cmd_update(cli, out, args),
        Command::Contribute(args) => contribute::cmd_contribute(cli, out, args),
        Command::Rate(args) => rate::cmd_rate(cli, out, args),
        Command::Stats(args) => stats::cmd_stats(cli, out, args),
        Command::Recommend(args) => recommend::cmd_recommend(cli, out, args),
        Command::Completion(args) => completion::cmd_completion(args),
        Command::Man(args) => man::cmd_man(out, args),
    }
}

/// Maps an error to its exit code and a hint, once for the whole CLI.
pub fn classify(err: &anyhow::Error) -> (ExitCode, Option<String>) {
    for cause in err.chain() {
        if let Some(UsageError::Directory { .. }) = cause.downcast_ref::<UsageError>() {
            return (
                ExitCode::Usage,
                Some("-C takes a directory that exists, as `git -C` does".to_owned()),
            );
        }
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return classify_engine(e);
        }
        if let Some(e) = cause.downcast_ref::<crate::share::sync::SyncError>() {
            use crate::share::sync::SyncError as S;
            return match e {
                S::Store(e) => classify_store(e),
                S::Engine(e) => classify_engine(e),
                S::Ratings(_) => (
                    ExitCode::Failure,
                    Some("`git log refs/ddx/ratings` shows the ratings chain".to_owned()),
                ),
                S::NoRemote { .. } => (
                    ExitCode::NotFound,
                    Some("add one with `git remote add origin <url>`, or name one: `ddx sync <remote>`".to_owned()),
                ),
                S::Contended { .. } => (
                    ExitCode::Conflict,
                    Some("others are syncing too: run `ddx sync` again in a moment".to_owned()),
                ),
                S::Git { .. } => (
                    ExitCode::Failure,
                    Some("`git fetch <remote>` shows whether the remote can be reached".to_owned()),
                ),
            };
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return classify_store(e);
        }
        if let Some(e) = cause.downcast_ref::<LookupError>() {
            return classify_lookup(e);
        }
        if let Some(e) = cause.downcast_ref::<CatalogError>() {
            return classify_catalog(e);
        }
        if let Some(e) = cause.downcast_ref::<RepoError>() {
            return classify_repo(e);
        }
        if let Some(e) = cause.downcast_ref::<crate::share::update::UpdateError>() {
            return update::classify(e);
        }
        if let Some(e) = cause.downcast_ref::<crate::share::contribute::ContributeError>() {
            return contribute::classify(e);
        }
        if let Some(e) = cause.downcast_ref::<SourceError>() {
            return classify_source(e);
        }
        if let Some(e) = cause.downcast_ref::<ConfigError>() {
            return classify_config(e);
        }
        if let Some(e) = cause.downcast_ref::<crate::engine::agents::AgentsError>() {
            if let Some(c) = classify_agents(e) {
                return c;
            }
        }
        if let Some(e) = cause.downcast_ref::<crate::observe::audit::AuditError>() {
            use crate::observe::audit::AuditError as A;
            match e {
                A::NoSuchEntry { .. } | A::Empty => return (
                    ExitCode::NotFound,
                    Some(
                        "`ddx audit log` lists the entries; `audit~N` counts back from the newest"
                            .to_owned(),
                    ),
                ),
                A::Lookup(e) => return classify_lookup(e),
                A::Store(_) => {}
            }
        }
        if let Some(crate::observe::report::ReportError::Lookup(e)) =
            cause.downcast_ref::<crate::observe::report::ReportError>()
        {
            return classify_lookup(e);
        }
        if let Some(e) = cause.downcast_ref::<crate::observe::query::LogError>() {
            use crate::observe::query::LogError as L;
            return match e {
                L::NoSuchInstance(_) => (
                    ExitCode::NotFound,
                    Some("`ddx log` without --instance shows every instance's log".to_owned()),
                ),
                L::Ambiguous { .. } => (ExitCode::Usage, Some("give more of the id".to_owned())),
                L::Level(_) => (ExitCode::Usage, None),
                L::Io { .. } => (ExitCode::Failure, None),
            };
        }
        if cause
            .downcast_ref::<crate::observe::time::TimeError>()
            .is_some()
            || cause.downcast_ref::<regex::Error>().is_some()
        {
            return (ExitCode::Usage, None);
        }
        if cause.downcast_ref::<DefinitionError>().is_some() {
            return (
                ExitCode::Invalid,
                Some("`ddx workflow validate <name|path>` lists every problem".to_owned()),
            );
        }
    }
    (ExitCode::Failure, None)
}

fn classify_catalog(e: &CatalogError) -> (ExitCode, Option<String>) {
    match e {
        CatalogError::NotFound { suggestion, .. } => (
            ExitCode::NotFound,
            Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? `ddx workflow list` shows every workflow"),
                None => "`ddx workflow list` shows every workflow".to_owned(),
            }),
        ),
        CatalogError::NotADirectory { .. } => (
            ExitCode::NotFound,
            Some("a name containing `/` is a path to a workflow folder".to_owned()),
        ),
        CatalogError::Invalid(_) => (
            ExitCode::Invalid,
            Some("`ddx workflow validate <name|path>` lists every problem".to_owned()),
        ),
        CatalogError::Broken { .. } => (
            ExitCode::Invalid,
            Some(
                "`ddx workflow validate <name>` lists every problem of one workflow; without \
                 --strict the good ones are listed"
                    .to_owned(),
            ),
        ),
        CatalogError::Store(e) => classify_store(e),
        CatalogError::Io { .. } => (ExitCode::Failure, None),
    }
}

fn classify_repo(e: &RepoError) -> (ExitCode, Option<String>) {
    match e {
        RepoError::Exists { name, .. } => (
            ExitCode::Conflict,
            Some(format!(
                "`ddx repo fetch {name}` updates it; `ddx repo remove {name}` unregisters it"
            )),
        ),
        RepoError::NotFound { suggestion, .. } => (
            ExitCode::NotFound,
            Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? `ddx repo list` shows them all"),
                None => "`ddx repo list` shows the registered repositories".to_owned(),
            }),
        ),
        RepoError::Source(s) => classify_source(s),
        RepoError::Config(c) => classify_config(c),
        RepoError::Store(s) => classify_store(s),
    }
}

fn classify_source(e: &SourceError) -> (ExitCode, Option<String>) {
    match e {
        SourceError::InvalidName { .. } => (ExitCode::Usage, None),
        SourceError::BadUrl { .. } => (
            ExitCode::NotFound,
            Some("give a path to a git repository, or a URL (ssh, file://, https)".to_owned()),
        ),
        SourceError::NoSuchBranch { .. } => (
            ExitCode::NotFound,
            Some(
                "name an existing branch with --branch, or leave it out for the default branch"
                    .to_owned(),
            ),
        ),
        SourceError::NoDefaultBranch { .. } => (
            ExitCode::NotFound,
            Some("name a branch with --branch".to_owned()),
        ),
        SourceError::RefMoved { .. } => (
            ExitCode::Conflict,
            Some("another command changed it at the same time; run this one again".to_owned()),
        ),
        SourceError::Fetch { url, .. } | SourceError::Git { url, .. } => (
            ExitCode::Failure,
            Some(format!(
                "check the URL and your access with `git ls-remote {url}`"
            )),
        ),
        SourceError::Store(s) => classify_store(s),
        SourceError::NotACommit { .. } => (ExitCode::Failure, None),
    }
}

fn classify_config(e: &ConfigError) -> (ExitCode, Option<String>) {
    match e {
        ConfigError::Parse { .. } => (
            ExitCode::Invalid,
            Some("fix .ddx/config.yml; ddx did not change it".to_owned()),
        ),
        _ => (ExitCode::Failure, None),
    }
}

/// The agents' errors that are not a wrapped engine, artifact or config error.
fn classify_agents(e: &crate::engine::agents::AgentsError) -> Option<(ExitCode, Option<String>)> {
    use crate::engine::agents::AgentsError as A;
    match e {
        A::Config(c) => Some(classify_config(c)),
        A::Engine(e) => Some(classify_engine(e)),
        A::Artifact(crate::engine::artifacts::ArtifactError::Unsafe { .. }) => Some((
            ExitCode::Conflict,
            Some("agents' files are written only inside the work tree, never through a symbolic link".to_owned()),
        )),
        A::Artifact(_) => None,
        A::BadRecord { path, .. } if path == crate::config::CONFIG_PATH => Some((
            ExitCode::Invalid,
            Some(format!(
                "fix the `agents:` list in {path}; ddx did not change it"
            )),
        )),
        A::BadSettings { path, .. } => Some((
            ExitCode::Invalid,
            Some(format!("fix {path} (Claude Code reads it as JSON), then run the install again")),
        )),
        A::BadRecord { .. } | A::Record { .. } => None,
    }
}

fn classify_engine(e: &EngineError) -> (ExitCode, Option<String>) {
    use crate::engine::actions::ActionError as A;
    use crate::engine::artifacts::ArtifactError as F;
    match e {
        EngineError::Artifact(F::Unsafe { .. }) => (
            ExitCode::Conflict,
            Some("artifacts are written only inside the work tree, never through a symbolic link".to_owned()),
        ),
        EngineError::Artifact(F::Template { .. } | F::Render { .. }) => (
            ExitCode::Invalid,
            Some("`ddx workflow validate <name|path>` lists every problem".to_owned()),
        ),
        EngineError::Artifact(F::Io { .. }) => (ExitCode::Failure, None),
        EngineError::Unrelated { instance, .. } => (
            ExitCode::Conflict,
            Some(format!("two instances were started apart under the id {instance}, so nothing was synced; `git log refs/ddx/instances/{instance}` here and `git log refs/ddx-remote/<remote>/ddx/instances/{instance}` show both (docs/sharing.md says how to part them)")),
        ),
        EngineError::Action(a) => match a {
            A::Config { .. } => (
                ExitCode::Invalid,
                Some("fix .ddx/config.yml (`agent: {command: ...}`, `trusted_sources: [...]`)".to_owned()),
            ),
            A::Unknown { suggestion, .. } => (
                ExitCode::NotFound,
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? `ddx action list` shows every action"),
                    None => "`ddx action list` shows every action".to_owned(),
                }),
            ),
            A::Ambiguous { .. } => (
                ExitCode::Usage,
                Some("name it as <phase>/<action>".to_owned()),
            ),
            A::Untrusted { .. } => (
                ExitCode::Conflict,
                Some("run it anyway with --trust, or trust the source in .ddx/config.yml (`trusted_sources: [...]`) and then the file with `ddx trust`".to_owned()),
            ),
            A::NotTrusted { .. } => (
                ExitCode::Conflict,
                Some("`ddx trust --show` lists what .ddx/config.yml would run; `ddx trust` trusts it as it is now; DDX_AGENT or --trust runs your own choice once".to_owned()),
            ),
            A::OutOfPhase { phase, .. } => (
                ExitCode::Conflict,
                Some(format!(
                    "`ddx workflow status` shows where the instance is; `ddx phase start {phase}` starts the phase"
                )),
            ),
            A::Render { .. } => (ExitCode::Invalid, None),
            A::Read { .. } | A::Spawn { .. } => (ExitCode::Failure, None),
        },
        EngineError::Unrecorded { source, .. } => {
            let (code, _) = classify_engine(source);
            (
                code,
                Some("run the command again: ddx records the files it finds exactly as it would write them".to_owned()),
            )
        }
        EngineError::Store(e) => classify_store(e),
        EngineError::Lookup(e) => classify_lookup(e),
        EngineError::Catalog(e) => classify_catalog(e),
        EngineError::State(StateError::UnknownFormat { .. }) => (ExitCode::Invalid, None),
        EngineError::State(StateError::Invalid { .. }) => (
            ExitCode::Failure,
            Some("`git log` on the instance ref shows who changed it".to_owned()),
        ),
        EngineError::Pinned { .. } => (ExitCode::Invalid, None),
        EngineError::Change(c) => {
            use crate::engine::upgrade::ChangeError as C;
            match c {
                C::BadVariable { .. } | C::NoVariables => (ExitCode::Usage, None),
                C::Version { .. } | C::OtherWorkflow { .. } => (
                    ExitCode::NotFound,
                    Some("`ddx workflow list --all` shows every version the catalog has".to_owned()),
                ),
                C::Moved { .. } => (ExitCode::Conflict, None),
            }
        }
        EngineError::MissingVariables { missing } => (
            ExitCode::Usage,
            Some(format!(
                "pass {} (or run on a terminal to be asked)",
                missing
                    .iter()
                    .map(|(n, _)| format!("--var {n}=..."))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        ),
        EngineError::Transition(t) => {
            let code = match t {
                TransitionError::GateNotSatisfied { .. } | TransitionError::Blocked { .. } => {
                    ExitCode::GateNotSatisfied
                }
                TransitionError::UnknownPhase { .. } | TransitionError::UnknownCriterion { .. } => {
                    ExitCode::NotFound
                }
                TransitionError::AmbiguousCriterion { .. } => ExitCode::Usage,
                TransitionError::Condition(_) => ExitCode::Invalid,
                TransitionError::NeedsDefinition { .. } => ExitCode::Failure,
                TransitionError::MachineCriterion { .. }
                | TransitionError::PhaseRefused { .. }
                | TransitionError::InstanceRefused { .. } => ExitCode::Conflict,
            };
            (code, t.hint())
        }
    }
}

fn classify_store(e: &StoreError) -> (ExitCode, Option<String>) {
    match e {
        StoreError::NotARepository { .. } => (
            ExitCode::Failure,
            Some(
                "run ddx inside a git work tree (`git init` makes one), or pass -C DIR".to_owned(),
            ),
        ),
        StoreError::Bare { .. } => (
            ExitCode::Failure,
            Some("run ddx in a clone with a work tree".to_owned()),
        ),
        StoreError::NoIdentity => (ExitCode::Failure, None),
        StoreError::Interrupted { .. } => (
            ExitCode::Conflict,
            Some("`ddx workflow resume` finishes or rolls back the interrupted step".to_owned()),
        ),
        StoreError::Contended { .. } => (
            ExitCode::Conflict,
            Some("other ddx processes kept writing; run the command again".to_owned()),
        ),
        StoreError::MovedOutside { .. } => (ExitCode::Conflict, None),
        _ => (ExitCode::Failure, None),
    }
}

fn classify_lookup(e: &LookupError) -> (ExitCode, Option<String>) {
    match e {
        LookupError::NotFound { suggestion, .. } => (
            ExitCode::NotFound,
            Some(match suggestion {
                Some(s) => {
                    format!("did you mean `{s}`? `ddx workflow status --all` lists every instance")
                }
                None => "`ddx workflow status --all` lists every instance".to_owned(),
            }),
        ),
        LookupError::Ambiguous { .. } => (ExitCode::Usage, Some("give more of the id".to_owned())),
        LookupError::NoInstances => (
            ExitCode::NotFound,
            Some("`ddx workflow init <workflow>` starts one".to_owned()),
        ),
        LookupError::NoneActive { .. } => (
            ExitCode::NotFound,
            Some("pass --instance ID; `ddx workflow status --all` lists every instance".to_owned()),
        ),
        LookupError::SeveralActive { .. } => (
            ExitCode::Usage,
            Some("pass --instance ID (-i); any unique prefix of an id will do".to_owned()),
        ),
        LookupError::InstanceExists { .. } => (
            ExitCode::Conflict,
            Some("choose another --id, or leave it out for a generated one".to_owned()),
        ),
        LookupError::CheckpointNotFound { suggestion, .. } => (
            ExitCode::NotFound,
            Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? `ddx checkpoint list` shows them"),
                None => "`ddx checkpoint list` shows the checkpoints".to_owned(),
            }),
        ),
        LookupError::CheckpointExists { .. } => (
            ExitCode::Conflict,
            Some("--force moves it to the current state".to_owned()),
        ),
        LookupError::InvalidName { .. } => (ExitCode::Usage, None),
    }
}

/// The clap command, for completions and tests.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
