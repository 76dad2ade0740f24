//! `ddx man [DIR]`: manual pages generated from the command line's own definition.

use super::{ExitCode, Output};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write ddx.1, git-ddx.1 and one page per subcommand (ddx-workflow-apply.1, …) into
    /// this folder, made if missing (say ~/.cargo/share/man/man1); without it, print ddx.1.
    pub dir: Option<PathBuf>,
}

/// Every page: the command itself, then each subcommand at every depth, named as git names
/// its pages (`ddx-workflow-apply`).
fn pages(cmd: &clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
    let page = cmd.clone().name(name.to_owned());
    out.push((name.to_owned(), page));
    // clap's own `help` subcommands are `--help` by another name: no page of their own.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

fn render(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut bytes)?;
    Ok(bytes)
}

fn write_page(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, bytes)
        .map_err(|e| anyhow::anyhow!(e).context(format!("cannot write {}", path.display())))
}

pub fn cmd_man(out: &Output, args: &ManArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::command();
    cmd.build();
    let Some(dir) = &args.dir else {
        let bytes = render(cmd)?;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes)?;
        stdout.flush()?;
        return Ok(ExitCode::Ok);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!(e).context(format!("cannot make {}", dir.display())))?;
    let mut all = Vec::new();
    pages(&cmd, "ddx", &mut all);
    for (name, page) in &all {
        write_page(dir, name, &render(page.clone())?)?;
    }
    // `git ddx --help` opens `man git-ddx`.
    write_page(
        dir,
        "git-ddx",
        &render(cmd.clone().name("git-ddx").bin_name("git ddx"))?,
    )?;
    out.note(format!(
        "Wrote {} manual pages into {}.",
        all.len() + 1,
        dir.display()
    ));
    Ok(ExitCode::Ok)
}
