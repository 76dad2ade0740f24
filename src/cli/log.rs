//! `ddx log`: query and export the structured per-instance logs.

use super::{cwd, Cli, ExitCode, Output};
use crate::observe::query::{self, Format, LogFilter};
use crate::observe::time;
use crate::store::Repo;
use clap::{Args, ValueEnum};

// Query and export the structured log (`.git/ddx/logs/<instance>.jsonl`). A plain comment:
// the variant's doc is the command's about (see `instance::InstanceArg`).
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this instance (any unique prefix of its id).
    #[arg(long, short = 'i')]
    pub instance: Option<String>,
    /// Only lines at this level or more severe (error, warn, info, debug, trace).
    #[arg(long)]
    pub level: Option<String>,
    /// Only lines at or after this time (2026-01-14, 2026-01-14T12:00:00Z, or an age: 30m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Only lines whose message or fields match this regular expression.
    #[arg(long)]
    pub grep: Option<String>,
    /// Only lines of this run (a correlation id, or a prefix of it).
    #[arg(long)]
    pub run: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
    Csv,
}

pub fn cmd_log(cli: &Cli, out: &Output, args: &LogArgs) -> anyhow::Result<ExitCode> {
    let repo = Repo::discover(&cwd(cli)?)?;
    let now = std::time::SystemTime::now();
    let max_rank = match &args.level {
        Some(l) => Some(query::level_rank(l).ok_or_else(|| query::LogError::Level(l.clone()))?),
        None => None,
    };
    let filter = LogFilter {
        max_rank,
        since: args
            .since
            .as_deref()
            .map(|t| time::parse_user_time(t, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| time::parse_user_time(t, now))
            .transpose()?,
        grep: args.grep.as_deref().map(regex::Regex::new).transpose()?,
        run: args.run.clone(),
    };
    let files = query::log_files(&repo.ddx_dir(), args.instance.as_deref())?;
    let format = match args.format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
        LogFormat::Csv => Format::Csv,
    };
    // Log lines quote workflow text: text is escaped, JSON Lines and CSV are exact data.
    let mut buf = Vec::new();
    let n = query::export(&files, &filter, format, &mut buf)?;
    out.data(&buf, format != Format::Text)?;
    if n == 0 && format == Format::Text {
        out.note("No log lines match.");
    }
    Ok(ExitCode::Ok)
}
