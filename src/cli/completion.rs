//! `ddx completion <shell>`.

use super::ExitCode;
use clap::Args;
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn cmd_completion(args: &CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::command();
    clap_complete::generate(args.shell, &mut cmd, "ddx", &mut std::io::stdout());
    Ok(ExitCode::Ok)
}
