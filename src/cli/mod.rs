//! The command line: clap types, dispatch, and the one place that prints.
//!
//! Each command group is one file with its `…Args` structs (their doc comments are the help
//! text) and `cmd_…` functions. Errors are mapped once, in [`classify`], to an exit code and a
//! hint with the next thing to try.

mod completion;
mod hooks;
mod log;
mod output;
mod workflow;

pub use output::Output;

use crate::catalog::CatalogError;
use crate::model::load::DefinitionError;
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
pub enum Command {
    /// Find, inspect and validate workflows.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// Install, remove and inspect the git hooks that enforce phase gates.
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
    /// Query and export the structured log.
    Log(log::LogArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
}

/// Runs ddx with the process's arguments and returns the exit code.
pub fn main() -> i32 {
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

/// The working directory of this invocation (`-C` or the process's).
pub(crate) fn cwd(cli: &Cli) -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir()?;
    Ok(match &cli.directory {
        Some(d) => here.join(d),
        None => here,
    })
}

fn run(cli: &Cli, out: &Output) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Workflow(cmd) => workflow::run(cli, out, cmd),
        Command::Hooks(cmd) => hooks::run(cli, out, cmd),
        Command::Log(args) => log::cmd_log(cli, out, args),
        Command::Completion(args) => completion::cmd_completion(args),
    }
}

/// Maps an error to its exit code and a hint, once for the whole CLI.
pub fn classify(err: &anyhow::Error) -> (ExitCode, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CatalogError>() {
            return match e {
                CatalogError::NotFound { suggestion, .. } => (
                    ExitCode::NotFound,
                    Some(match suggestion {
                        Some(s) => {
                            format!("did you mean `{s}`? `ddx workflow list` shows every workflow")
                        }
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
            };
        }
        if let Some(e) = cause.downcast_ref::<crate::store::StoreError>() {
            use crate::store::StoreError as S;
            return match e {
                S::NotARepository { .. } => (
                    ExitCode::Failure,
                    Some("run ddx inside a git work tree (`git init` makes one)".to_owned()),
                ),
                S::Bare { .. } => (
                    ExitCode::Failure,
                    Some("run ddx in a clone with a work tree".to_owned()),
                ),
                S::Reftable { .. } => (
                    ExitCode::Failure,
                    Some("convert with `git refs migrate --ref-format=files`".to_owned()),
                ),
                _ => (ExitCode::Failure, None),
            };
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
