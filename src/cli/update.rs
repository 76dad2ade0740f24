//! `ddx update`: merge the project library's upstream into `.ddx/library/`, fetch the
//! registered repositories, and say which instances can be upgraded.

use super::{cwd, Cli, ExitCode, Output};
use crate::share::update::{self, Action, Options, Updated};
use crate::store::Repo;
use clap::Args;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The upstream repository of .ddx/library/ (URL or path); kept in .ddx/config.yml.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// The upstream branch to follow (default: its default branch); kept in .ddx/config.yml.
    #[arg(long, short, value_name = "B")]
    pub branch: Option<String>,
    /// Say what would be fetched and merged, changing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub fn cmd_update(cli: &Cli, out: &Output, args: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let here = cwd(cli)?;
    let repo = Repo::discover(&here)?;
    let spinner = super::progress::Spinner::start("Updating the project library");
    let opts = Options {
        from: args.from.as_deref(),
        branch: args.branch.as_deref(),
        dry_run: args.dry_run,
    };
    let result = update::update(&repo, &here, &opts);
    drop(spinner);
    let updated = result?;
    let code = if updated.action == Action::Conflict {
        ExitCode::Conflict
    } else {
        ExitCode::Ok
    };
    if args.json {
        out.json(&updated)?;
        return Ok(code);
    }
    print(out, &updated);
    Ok(code)
}

fn print(out: &Output, u: &Updated) {
    let lib = crate::store::library::LIBRARY_ROOT;
    let up = short(&u.upstream);
    let from = format!("{} ({})", u.url, u.branch);
    let would = u.dry_run;
    match (u.action, would) {
        (Action::UpToDate, _) => out.line(format!("{lib}/ is up to date with {from} at {up}.")),
        (Action::Added, true) => out.line(format!(
            "Would fetch {up} from {from} into {} and add it as {lib}/.",
            u.reference
        )),
        (Action::Merged, true) => out.line(format!(
            "Would fetch {up} from {from} into {} and merge it into {lib}/ over {}.",
            u.reference,
            u.previous
                .as_deref()
                .map_or("no common base (first merge)".to_owned(), |p| short(p)
                    .to_owned())
        )),
        (Action::Added, false) => out.line(format!(
            "Added {lib}/ from {from} at {up}: commit {}.",
            u.commit.as_deref().map_or("", short)
        )),
        (Action::Merged, false) => out.line(format!(
            "Merged {from} at {up} into {lib}/: commit {}.",
            u.commit.as_deref().map_or("", short)
        )),
        (Action::Conflict, _) => {
            out.line(format!(
                "Merging {from} at {up} into {lib}/ stopped with conflicts in:"
            ));
            for p in &u.conflicts {
                out.line(format!("  {p}"));
            }
            out.note(
                "Edit each file to resolve the conflict, `git add` it, then `git commit` to \
                 finish the merge (or `git merge --abort` to undo it).",
            );
        }
    }
    if !would && u.action != Action::Conflict && u.workflows.is_empty() {
        out.warn(format!(
            "{lib}/workflows/ has no workflow: the catalog reads workflow folders there, so the \
             upstream should keep them in workflows/ at its root"
        ));
    }
    if u.config_changed {
        if would {
            out.note("Would record the upstream in .ddx/config.yml.");
        } else {
            out.note(
                "Recorded the upstream in .ddx/config.yml; commit it to share it with your team.",
            );
        }
    }
    for f in &u.repositories {
        let verb = if f.dry_run { "would move" } else { "moved" };
        let line = match (f.changed, f.old) {
            (false, _) => format!("{}: up to date at {}", f.name, f.new.to_hex_with_len(12)),
            (true, Some(old)) => format!(
                "{}: {verb} {} -> {}",
                f.name,
                old.to_hex_with_len(12),
                f.new.to_hex_with_len(12)
            ),
            (true, None) => format!("{}: fetched {}", f.name, f.new.to_hex_with_len(12)),
        };
        out.line(line);
    }
    for f in &u.repository_failures {
        out.warn(format!("fetching `{}` failed: {}", f.name, f.error));
    }
    for g in &u.upgrades {
        let what = if g.pinned_version == g.available_version {
            format!("{} {}, definition changed", g.workflow, g.pinned_version)
        } else {
            format!(
                "{} {} -> {}",
                g.workflow, g.pinned_version, g.available_version
            )
        };
        out.line(format!(
            "Upgrade available for {} ({what}, from {}): ddx workflow upgrade -i {}",
            g.instance, g.source, g.instance
        ));
    }
    if would {
        out.note("Nothing changed (dry run).");
    }
}

/// The exit code and hint of an [`update::UpdateError`].
pub(super) fn classify(e: &update::UpdateError) -> (ExitCode, Option<String>) {
    use update::UpdateError as U;
    match e {
        U::NoUpstream => (
            ExitCode::Usage,
            Some("name it once with `ddx update --from <url>`; it is kept in .ddx/config.yml".to_owned()),
        ),
        U::NoCommit => (
            ExitCode::Failure,
            Some("commit something first (`git commit --allow-empty -m init`)".to_owned()),
        ),
        U::MergeInProgress => (ExitCode::Conflict, None),
        U::DirtyLibrary { .. } => (
            ExitCode::Conflict,
            Some("commit your changes to .ddx/library/ (or `git stash` them), then run ddx update again; nothing was changed".to_owned()),
        ),
        U::StagedChanges { .. } => (
            ExitCode::Conflict,
            Some("commit or unstage them (`git restore --staged <path>`), then run ddx update again; nothing was changed".to_owned()),
        ),
        U::RefMoved { .. } => (ExitCode::Conflict, Some("run ddx update again".to_owned())),
        U::Source(s) => super::classify_source(s),
        U::Config(c) => super::classify_config(c),
        U::Repo(r) => super::classify_repo(r),
        U::Store(s) => super::classify_store(s),
        U::Git(_) => (ExitCode::Failure, None),
    }
}
