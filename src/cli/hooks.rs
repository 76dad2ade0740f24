//! `ddx hooks …`: install, remove and inspect the git hook shims; `run` is what they call.

use super::{cwd, Cli, ExitCode, Output};
use crate::hooks::{self, HookChange, HookState};
use crate::store::Repo;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum HooksCommand {
    /// Install the shims for pre-commit, commit-msg, post-commit and pre-push.
    Install(ChangeArgs),
    /// Remove the shims, putting back the hooks they chained.
    Uninstall(ChangeArgs),
    /// Show which hooks are installed.
    Status(StatusArgs),
    /// Run a hook (what the shims call).
    #[command(hide = true)]
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Say what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document: each hook's path and what happened to it.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The hook: pre-commit, commit-msg, post-commit or pre-push.
    pub hook: String,
    /// The arguments git passed to the hook.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(cli: &Cli, out: &Output, cmd: &HooksCommand) -> anyhow::Result<ExitCode> {
    let repo = Repo::discover(&cwd(cli)?)?;
    let dir = repo.hooks_dir()?;
    match cmd {
        HooksCommand::Install(args) => {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.canonicalize().ok())
                .map(|p| p.with_file_name("ddx").display().to_string())
                .unwrap_or_else(|| "ddx".to_owned());
            let changes = hooks::install_recorded(&repo, &dir, &exe, args.dry_run)?;
            report(out, &dir, &changes, args)?;
            Ok(ExitCode::Ok)
        }
        HooksCommand::Uninstall(args) => {
            let changes = hooks::uninstall_recorded(&repo, &dir, args.dry_run)?;
            report(out, &dir, &changes, args)?;
            Ok(ExitCode::Ok)
        }
        HooksCommand::Status(args) => {
            let status = hooks::status(&dir)?;
            if args.json {
                out.json(&serde_json::json!({
                    "hooks_dir": dir.display().to_string(),
                    "hooks": status,
                }))?;
                return Ok(ExitCode::Ok);
            }
            out.line(format!("hooks in {}", dir.display()));
            for s in status {
                let state = match s.state {
                    HookState::Installed => out.green("installed"),
                    HookState::Chained => {
                        format!("{} (runs your own hook first)", out.green("installed"))
                    }
                    HookState::Missing => out.dim("not installed"),
                    HookState::Foreign => {
                        format!("{} (your own hook is there)", out.yellow("not installed"))
                    }
                };
                out.line(format!("  {:12} {state}", s.hook));
            }
            Ok(ExitCode::Ok)
        }
        HooksCommand::Run(args) => run_hook(out, &repo, &dir, args),
    }
}

fn report(
    out: &Output,
    dir: &std::path::Path,
    changes: &[(&str, HookChange)],
    args: &ChangeArgs,
) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    if args.json {
        let hooks: Vec<serde_json::Value> = changes
            .iter()
            .map(|(hook, change)| {
                serde_json::json!({
                    "hook": hook,
                    "path": dir.join(hook).display().to_string(),
                    "change": change,
                })
            })
            .collect();
        return out.json(&serde_json::json!({
            "hooks_dir": dir.display().to_string(),
            "dry_run": dry_run,
            "changed": changes.iter().any(|(_, c)| c.changes()),
            "hooks": hooks,
        }));
    }
    if changes.iter().all(|(_, c)| !c.changes()) {
        out.note("Nothing changed.");
        return Ok(());
    }
    let would = if dry_run { "would be " } else { "" };
    for (hook, change) in changes {
        let what = match change {
            HookChange::Installed => format!("{would}installed"),
            HookChange::InstalledChained => format!(
                "{would}installed; your hook {would}kept as {hook}{}",
                hooks::CHAINED_SUFFIX
            ),
            HookChange::Updated => format!("{would}updated"),
            HookChange::Unchanged => "unchanged".to_owned(),
            HookChange::Removed => format!("{would}removed"),
            HookChange::Restored => format!("{would}removed; your own hook {would}put back"),
            HookChange::NotInstalled => "not installed".to_owned(),
        };
        out.line(format!("{}/{hook}: {what}", dir.display()));
    }
    Ok(())
}

fn run_hook(
    out: &Output,
    repo: &Repo,
    dir: &std::path::Path,
    args: &RunArgs,
) -> anyhow::Result<ExitCode> {
    let mut stdin = Vec::new();
    if args.hook == "pre-push" {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut stdin)?;
    }
    let run = hooks::run(repo, dir, &args.hook, &args.args, &stdin)?;
    // The message quotes criteria and evidence: workflow text.
    out.note_raw(&run.message);
    Ok(if run.passed {
        ExitCode::Ok
    } else {
        ExitCode::Failure
    })
}
