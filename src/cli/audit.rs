//! `ddx audit …`: the audit chain — list and show entries, verify every chain, write compliance
//! reports, export.

use super::{cwd, Cli, ExitCode, Output};
use crate::observe::audit::{self as query, EntryFilter};
use crate::observe::export::{self, ExportFormat, ExportOptions};
use crate::observe::report::{self, ReportFormat, ReportOptions};
use crate::observe::time;
use crate::observe::verify::{self, VerifyOptions};
use crate::store::Repo;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AuditCommand {
    /// List the entries of the audit chain (refs/ddx/audit), newest first.
    Log(LogArgs),
    /// Show one audit entry in full, with the instance event it records.
    Show(ShowArgs),
    /// Check the audit chain and every instance chain, and name the first break.
    ///
    /// Exits with 3 when anything is broken (docs/audit.md lists the checks).
    Verify(VerifyArgs),
    /// Write a compliance report: phases with times, approvals, gate evidence, artifacts and
    /// deviations, per instance.
    Report(ReportArgs),
    /// Export the audit chain as JSON Lines, CSV, OpenTelemetry log records or CloudEvents,
    /// with a manifest.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only entries of this instance (any unique prefix of its id).
    #[arg(long, short = 'i', value_name = "ID")]
    pub instance: Option<String>,
    /// Only entries at or after this time (2026-01-14, 2026-01-14T12:00:00Z, or an age: 30m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many entries.
    #[arg(long, short = 'n')]
    pub max_count: Option<usize>,
    /// Print one JSON document (an array) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The entry: a commit id or unique prefix, `audit` (the newest), or `audit~N` (N before it).
    pub entry: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print one JSON document: `{ok, checked, breaks: [{ref, commit, problem, kind}]}`.
    #[arg(long)]
    pub json: bool,
    /// Do not remember the verified heads in .git/ddx/verified.
    #[arg(long)]
    pub no_record: bool,
    /// Check every signature again, also those an earlier verification found good (after the
    /// trusted keys changed).
    #[arg(long)]
    pub all_signatures: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    Md,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this instance (any unique prefix of its id); default: every instance.
    #[arg(long, short = 'i', value_name = "ID")]
    pub instance: Option<String>,
    /// The report's format.
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Md)]
    pub format: ReportFormatArg,
    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    Jsonl,
    Csv,
    Otel,
    Cloudevents,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The export's format.
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Jsonl)]
    pub format: ExportFormatArg,
    /// Write the export to this file (and its manifest to FILE.manifest.json) instead of
    /// stdout (the manifest then goes to stderr).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the manifest to this file.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Only entries of this instance (any unique prefix of its id).
    #[arg(long, short = 'i', value_name = "ID")]
    pub instance: Option<String>,
    /// Only entries at or after this time.
    #[arg(long)]
    pub since: Option<String>,
    /// Also export the structured log lines (`.git/ddx/logs/`), after the audit entries.
    #[arg(long)]
    pub log: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    let repo = Repo::discover(&cwd(cli)?)?;
    match cmd {
        AuditCommand::Log(args) => cmd_log(&repo, out, args),
        AuditCommand::Show(args) => cmd_show(&repo, out, args),
        AuditCommand::Verify(args) => cmd_verify(&repo, out, args),
        AuditCommand::Report(args) => cmd_report(&repo, out, args),
        AuditCommand::Export(args) => cmd_export(&repo, out, args),
    }
}

fn seconds(text: Option<&str>) -> anyhow::Result<Option<i64>> {
    let now = std::time::SystemTime::now();
    Ok(match text {
        Some(t) => {
            let normalized = time::parse_user_time(t, now)?;
            time::parse_timestamp(&normalized)
        }
        None => None,
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

fn cmd_log(repo: &Repo, out: &Output, args: &LogArgs) -> anyhow::Result<ExitCode> {
    let filter = EntryFilter {
        instance: args.instance.clone(),
        since: seconds(args.since.as_deref())?,
        until: seconds(args.until.as_deref())?,
    };
    let mut entries = query::log(repo, &filter)?;
    if let Some(n) = args.max_count {
        entries.truncate(n);
    }
    if args.json {
        out.json(&entries)?;
        return Ok(ExitCode::Ok);
    }
    if entries.is_empty() {
        out.note("No audit entries match.");
        return Ok(ExitCode::Ok);
    }
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    for e in &entries {
        let id = e.id.to_string();
        let line = format!(
            "{} {} {:<10} {} {}  {}",
            out.yellow(short(&id)),
            e.time,
            e.operation,
            e.instance.as_deref().unwrap_or("-"),
            e.summary,
            out.dim(&e.actor)
        );
        writeln!(w, "{}", out.escape(&line))?;
    }
    w.flush()?;
    Ok(ExitCode::Ok)
}

fn cmd_show(repo: &Repo, out: &Output, args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let id = query::resolve_entry(repo, &args.entry)?;
    let d = query::show(repo, id)?;
    if args.json {
        out.json(&d)?;
        return Ok(ExitCode::Ok);
    }
    let e = &d.entry;
    out.line(out.bold(&format!("audit entry {}", e.id)));
    out.line(format!("operation:       {}", e.operation));
    if let Some(i) = &e.instance {
        out.line(format!("instance:        {i}"));
    }
    out.line(format!("actor:           {}", e.actor));
    out.line(format!("time:            {}", e.time));
    if let Some(c) = &e.instance_commit {
        out.line(format!("instance commit: {c}"));
    }
    if let Some(c) = &e.project_commit {
        out.line(format!("project commit:  {c}"));
    }
    out.line(format!(
        "parent:          {}",
        e.parents
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.line(format!(
        "signed:          {}",
        if e.signed { "yes" } else { "no" }
    ));
    if !e.args.is_empty() {
        out.line("arguments:");
        for (k, v) in &e.args {
            out.line(format!("  {k}: {v}"));
        }
    }
    out.line(format!("summary:         {}", e.summary));
    if let Some(ev) = &d.event {
        out.line("");
        out.line(out.bold(&format!("event {}", ev.commit)));
        out.line(format!("  {}", ev.subject));
        for l in ev.body.lines() {
            out.line(format!("  {l}"));
        }
        for (k, v) in &ev.trailers {
            out.line(format!("  {}", out.dim(&format!("{k}: {v}"))));
        }
    }
    Ok(ExitCode::Ok)
}

fn cmd_verify(repo: &Repo, out: &Output, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let spinner = super::progress::Spinner::start("Verifying every chain of refs/ddx/*");
    let v = verify::verify(
        repo,
        VerifyOptions {
            record: !args.no_record,
            all_signatures: args.all_signatures,
        },
    )?;
    drop(spinner);
    let code = if v.ok {
        ExitCode::Ok
    } else {
        ExitCode::GateNotSatisfied
    };
    if args.json {
        out.json(&v)?;
        return Ok(code);
    }
    let c = &v.checked;
    out.line(format!(
        "checked {} audit entr{}, {} instance{} ({} event{}, {} replayed{}), {} checkpoint{}, {} pinned workflow tree{}, {} signature{}{}",
        c.audit_entries,
        if c.audit_entries == 1 { "y" } else { "ies" },
        c.instances,
        if c.instances == 1 { "" } else { "s" },
        c.events,
        if c.events == 1 { "" } else { "s" },
        c.replayed,
        if c.not_replayed > 0 {
            format!(", {} not replayable by this ddx", c.not_replayed)
        } else {
            String::new()
        },
        c.checkpoints,
        if c.checkpoints == 1 { "" } else { "s" },
        c.workflow_trees,
        if c.workflow_trees == 1 { "" } else { "s" },
        c.signatures,
        if c.signatures == 1 { "" } else { "s" },
        if c.signatures_verified_before > 0 {
            format!(" ({} more verified before)", c.signatures_verified_before)
        } else {
            String::new()
        },
    ));
    if v.ok {
        out.line(out.green("ok: every chain is intact"));
        if v.recorded {
            out.note("Verified heads recorded in .git/ddx/verified.");
        }
        return Ok(code);
    }
    out.line(out.red(&format!(
        "BROKEN: {} break{}",
        v.breaks.len(),
        if v.breaks.len() == 1 { "" } else { "s" }
    )));
    for (i, b) in v.breaks.iter().enumerate() {
        let label = if i == 0 { "first break" } else { "break" };
        out.line(format!(
            "{label}: {}{}: {}",
            b.reference,
            b.commit
                .as_deref()
                .map(|c| format!(" at {c}"))
                .unwrap_or_default(),
            b.problem
        ));
    }
    out.note("hint: `git log --format=fuller <ref>` shows who wrote each commit; docs/audit.md explains each check");
    Ok(code)
}

/// Writes a report or an export to `path`, exactly, or to stdout (escaped unless `exact`).
fn write_output(
    out: &Output,
    path: Option<&PathBuf>,
    bytes: &[u8],
    exact: bool,
) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes)
                .map_err(|e| anyhow::anyhow!(e).context(format!("cannot write {}", p.display())))?;
            out.note(format!("Wrote {} ({} bytes).", p.display(), bytes.len()));
        }
        None => out.data(bytes, exact)?,
    }
    Ok(())
}

fn cmd_report(repo: &Repo, out: &Output, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        ReportFormatArg::Md => ReportFormat::Markdown,
        ReportFormatArg::Html => ReportFormat::Html,
        ReportFormatArg::Json => ReportFormat::Json,
    };
    let spinner = super::progress::Spinner::start("Reading and verifying refs/ddx/*");
    let r = report::build(
        repo,
        &ReportOptions {
            instance: args.instance.clone(),
        },
    )?;
    drop(spinner);
    let bytes = report::render(&r, format)?;
    write_output(
        out,
        args.output.as_ref(),
        &bytes,
        format == ReportFormat::Json,
    )?;
    Ok(ExitCode::Ok)
}

fn cmd_export(repo: &Repo, out: &Output, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        ExportFormatArg::Jsonl => ExportFormat::Jsonl,
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Otel => ExportFormat::Otel,
        ExportFormatArg::Cloudevents => ExportFormat::CloudEvents,
    };
    let result = export::export(
        repo,
        &ExportOptions {
            format,
            instance: args.instance.clone(),
            since: seconds(args.since.as_deref())?,
            include_log: args.log,
            file_name: args
                .output
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
        },
    )?;
    // Every export format is data (JSON or CSV), exact unless it reaches a terminal.
    write_output(out, args.output.as_ref(), &result.bytes, true)?;
    let manifest = serde_json::to_string_pretty(&result.manifest)? + "\n";
    let manifest_path = args.manifest.clone().or_else(|| {
        args.output.as_ref().map(|p| {
            let mut s = p.clone().into_os_string();
            s.push(".manifest.json");
            PathBuf::from(s)
        })
    });
    match manifest_path {
        Some(p) => write_output(out, Some(&p), manifest.as_bytes(), true)?,
        None => eprint!("{manifest}"),
    }
    Ok(ExitCode::Ok)
}
