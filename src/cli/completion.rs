//! Shell completions: `ddx completion <shell>` prints the registration script of clap's
//! dynamic engine (the same as `COMPLETE=<shell> ddx`), and the functions here give the
//! names only the repository knows: workflows, instances, phases, criteria and checkpoints.
//!
//! A completion runs ddx with the words typed so far (`COMPLETE=bash ddx -- ddx workflow show
//! h`); the candidates are read from the repository of the current directory (or `-C DIR`
//! among the words), never written, and an error gives no candidates rather than a message.

use super::ExitCode;
use crate::catalog::Catalog;
use crate::engine;
use crate::store::{refs, Repo};
use clap::Args;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use clap_complete::Shell;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The environment variable that asks ddx for completions.
pub const VAR: &str = "COMPLETE";

pub fn cmd_completion(args: &CompletionArgs) -> anyhow::Result<ExitCode> {
    let completer: &dyn EnvCompleter = match args.shell {
        Shell::Bash => &Bash,
        Shell::Elvish => &Elvish,
        Shell::Fish => &Fish,
        Shell::PowerShell => &Powershell,
        Shell::Zsh => &Zsh,
        other => anyhow::bail!("no completions for {other}"),
    };
    let mut script = Vec::new();
    completer.write_registration(VAR, "ddx", "ddx", "ddx", &mut script)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(ExitCode::Ok)
}

/// The words of the command line being completed (after `--`, the program name first).
fn words() -> Vec<OsString> {
    std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect()
}

/// The value of an option among the words (`-i X`, `--instance X`, `--instance=X`).
fn option(words: &[OsString], short: &str, long: &str) -> Option<String> {
    let mut it = words.iter().map(|w| w.to_string_lossy().into_owned());
    while let Some(w) = it.next() {
        if w == short || w == long {
            return it.next();
        }
        if let Some(v) = w.strip_prefix(&format!("{long}=")) {
            return Some(v.to_owned());
        }
    }
    None
}

fn directory(words: &[OsString]) -> Option<PathBuf> {
    let here = std::env::current_dir().ok()?;
    Some(match option(words, "-C", "-C") {
        Some(d) => here.join(d),
        None => here,
    })
}

fn repo(words: &[OsString]) -> Option<Repo> {
    Repo::discover(&directory(words)?).ok()
}

/// The instance the words name, or the one active instance.
fn instance(repo: &Repo, words: &[OsString]) -> Option<String> {
    let given = option(words, "-i", "--instance");
    engine::resolve_instance(repo, given.as_deref()).ok()
}

fn candidate(value: &str, help: &str) -> CompletionCandidate {
    CompletionCandidate::new(value.to_owned()).help(Some(help.to_owned().into()))
}

/// Every workflow the catalog of this directory finds.
pub fn workflows() -> Vec<CompletionCandidate> {
    let words = words();
    let Some(dir) = directory(&words) else {
        return Vec::new();
    };
    let Ok(index) = Catalog::open(&dir).and_then(|c| c.index()) else {
        return Vec::new();
    };
    index
        .workflows
        .iter()
        .filter(|w| w.shadowed_by.is_none())
        .map(|w| {
            let s = w.summary();
            candidate(&s.name, &s.description)
        })
        .collect()
}

/// Every instance of the repository.
pub fn instances() -> Vec<CompletionCandidate> {
    let Some(repo) = repo(&words()) else {
        return Vec::new();
    };
    refs::instance_ids(&repo)
        .unwrap_or_default()
        .iter()
        .map(|id| CompletionCandidate::new(id.clone()))
        .collect()
}

/// The repository's remotes (`ddx sync <remote>`).
pub fn remotes() -> Vec<CompletionCandidate> {
    let Some(repo) = repo(&words()) else {
        return Vec::new();
    };
    repo.remote_names()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The phases of the instance, with their status.
pub fn phases() -> Vec<CompletionCandidate> {
    let words = words();
    let Some(repo) = repo(&words) else {
        return Vec::new();
    };
    let Some(Ok((_, state))) = instance(&repo, &words).map(|i| engine::load(&repo, &i)) else {
        return Vec::new();
    };
    state
        .phases
        .iter()
        .map(|p| candidate(&p.id, &format!("{} ({})", p.name, p.status.as_str())))
        .collect()
}

/// The human criteria still to approve of the phase the words name (`gate approve PHASE …`),
/// by number, with their text as help.
pub fn criteria() -> Vec<CompletionCandidate> {
    let words = words();
    let Some(repo) = repo(&words) else {
        return Vec::new();
    };
    let text: Vec<String> = words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    // The first word after `approve` that is not an option (nor an option's value).
    let mut phase = None;
    let mut after = text.iter().skip_while(|w| *w != "approve").skip(1);
    while let Some(w) = after.next() {
        if w == "-i" || w == "--instance" || w == "-m" || w == "--comment" || w == "-C" {
            after.next();
        } else if !w.starts_with('-') {
            phase = Some(w.clone());
            break;
        }
    }
    let Some(phase) = phase else {
        return Vec::new();
    };
    let Some(Ok((_, state))) = instance(&repo, &words).map(|i| engine::load(&repo, &i)) else {
        return Vec::new();
    };
    let Some(p) = state.phase(&phase) else {
        return Vec::new();
    };
    p.criteria
        .iter()
        .enumerate()
        .filter(|(_, k)| k.is_human() && k.approval.is_none())
        .map(|(i, k)| candidate(&(i + 1).to_string(), &k.criteria))
        .collect()
}

/// The checkpoints of the instance.
pub fn checkpoints() -> Vec<CompletionCandidate> {
    let words = words();
    let Some(repo) = repo(&words) else {
        return Vec::new();
    };
    let Some(id) = instance(&repo, &words) else {
        return Vec::new();
    };
    engine::checkpoints(&repo, &id)
        .unwrap_or_default()
        .iter()
        .map(|c| candidate(&c.name, &c.time))
        .collect()
}
