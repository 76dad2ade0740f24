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
            report(out, &dir, &changes, args.dry_run);
            Ok(ExitCode::Ok)
        }
        HooksCommand::Uninstall(args) => {
            let changes = hooks::uninstall_recorded(&repo, &dir, args.dry_run)?;
            report(out, &dir, &changes, args.dry_run);
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
        HooksCommand::Run(args) => run_hook(&repo, &dir, args),
    }
}

fn report(out: &Output, dir: &std::path::Path, changes: &[(&str, HookChange)], dry_run: bool) {
    if changes.iter().all(|(_, c)| !c.changes()) {
        out.note("Nothing changed.");
        return;
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
}

fn run_hook(repo: &Repo, dir: &std::path::Path, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if !hooks::HOOKS.contains(&args.hook.as_str()) {
        return Err(hooks::HookError::Unknown(args.hook.clone()).into());
    }
    let mut stdin = Vec::new();
    if args.hook == "pre-push" {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut stdin)?;
    }
    if let Some(code) = hooks::run_chained(dir, &args.hook, &args.args, &stdin, repo.work_dir())? {
        if code != 0 {
            eprintln!("ddx: your own {} hook failed (exit {code})", args.hook);
            return Ok(ExitCode::Failure);
        }
    }
    let head = || repo.gix().head_id().ok().map(|id| id.detach());
    match args.hook.as_str() {
        "pre-commit" => {
            let active = hooks::active_instances(repo)?;
            // Without an active instance there is nothing to judge, and no bypass to notice
            // (post-commit records one only while an instance is active): no marker either.
            if active.is_empty() {
                return Ok(ExitCode::Ok);
            }
            let violations = hooks::pre_commit(repo, &active)?;
            if !violations.is_empty() {
                for v in &violations {
                    tracing::warn!(instance = %v.instance, phase = %v.phase, rule = %v.rule, "commit refused: {}", v.detail);
                }
                eprint!("{}", hooks::refusal_message(&violations));
                return Ok(ExitCode::Failure);
            }
            hooks::mark_passed(repo, head())?;
            Ok(ExitCode::Ok)
        }
        "commit-msg" => {
            let Some(file) = args.args.first() else {
                return Ok(ExitCode::Ok);
            };
            let active = hooks::active_instances(repo)?;
            if active.is_empty() {
                return Ok(ExitCode::Ok);
            }
            let path = repo.work_dir().join(file);
            let path = if std::path::Path::new(file).is_absolute() {
                std::path::PathBuf::from(file)
            } else {
                path
            };
            let message = std::fs::read_to_string(&path)?;
            if let Some(new) = hooks::add_trailers(&message, &active) {
                std::fs::write(&path, new)?;
            }
            Ok(ExitCode::Ok)
        }
        "post-commit" => {
            let Some(head) = head() else {
                return Ok(ExitCode::Ok);
            };
            let commit = repo.gix().find_commit(head)?;
            let message = commit.message_raw_sloppy().to_string();
            let parent = commit.parent_ids().next().map(|p| p.detach());
            let passed = hooks::take_passed(repo, parent);
            let mut pairs = hooks::trailers(&message);
            let active = hooks::active_instances(repo)?;
            if pairs.is_empty() {
                pairs = active
                    .iter()
                    .map(|a| (a.id.clone(), a.phases.join(", ")))
                    .collect();
            }
            // A bypass: the pre-commit hook did not pass this commit while an instance was
            // active. Recorded first, so that the note names the audit entry that records it.
            let bypassed = !passed && !active.is_empty();
            if bypassed {
                let short = head.to_hex_with_len(12).to_string();
                crate::engine::record_operation(
                    repo,
                    "bypass",
                    format!("commit {short} was made without the pre-commit hook"),
                    &[
                        ("commit", head.to_string()),
                        (
                            "instances",
                            active
                                .iter()
                                .map(|a| a.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        (
                            "phase",
                            active
                                .iter()
                                .flat_map(|a| a.phases.iter().map(String::as_str))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        (
                            "deviation",
                            "committed with --no-verify: the phase rules were not checked"
                                .to_owned(),
                        ),
                    ],
                );
                tracing::warn!(commit = %head, "commit made without the pre-commit hook (--no-verify)");
                eprintln!(
                    "ddx: {} was committed without the pre-commit hook; recorded as a bypass",
                    head.to_hex_with_len(12)
                );
            }
            let audit = crate::store::refs::read(repo, "refs/ddx/audit")?.map(|a| a.to_string());
            for (instance, phase) in &pairs {
                let mut line: serde_json::Value =
                    serde_json::from_str(&hooks::note_line(instance, phase, audit.as_deref()))?;
                if bypassed {
                    line["bypass"] = serde_json::Value::Bool(true);
                }
                crate::store::notes::append(repo, head, &line.to_string())?;
            }
            Ok(ExitCode::Ok)
        }
        "pre-push" => {
            let text = String::from_utf8_lossy(&stdin);
            let pushes_ddx = text.lines().any(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|r| r.starts_with("refs/ddx/"))
            });
            let has_ddx = !crate::store::refs::instance_ids(repo)?.is_empty();
            if has_ddx {
                let verification = crate::observe::verify::verify(
                    repo,
                    crate::observe::verify::VerifyOptions {
                        record: true,
                        all_signatures: false,
                    },
                );
                // A verification that cannot run does not stop the push; it says so.
                let breaks = match verification {
                    Ok(v) => v.breaks,
                    Err(e) => {
                        eprintln!("ddx: could not verify the workflow history: {e}");
                        Vec::new()
                    }
                };
                if let Some(first) = breaks.first() {
                    let at = first
                        .commit
                        .as_deref()
                        .map(|c| format!(" at {}", &c[..c.len().min(12)]))
                        .unwrap_or_default();
                    eprintln!(
                        "ddx: the workflow history is broken ({} break{}); first: {}{at}: {}\n  `ddx audit verify` names every break",
                        breaks.len(),
                        if breaks.len() == 1 { "" } else { "s" },
                        first.reference,
                        first.problem
                    );
                    if pushes_ddx {
                        eprintln!(
                            "ddx: refusing to share refs/ddx/* while they do not verify; to push anyway: git push --no-verify"
                        );
                        return Ok(ExitCode::Failure);
                    }
                }
            }
            if has_ddx && !pushes_ddx {
                let remote = args.args.first().map_or("origin", String::as_str);
                eprintln!(
                    "ddx: this push does not share the workflow state in refs/ddx/*; to share it:\n  git push {remote} 'refs/ddx/*:refs/ddx/*' refs/notes/ddx"
                );
            }
            Ok(ExitCode::Ok)
        }
        _ => Ok(ExitCode::Ok),
    }
}
