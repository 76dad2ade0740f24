//! `ddx audit export`: the audit chain (and, on request, the structured log) as JSON Lines,
//! CSV, OpenTelemetry log records (OTLP/JSON) or CloudEvents, with a manifest.
//!
//! Each audit entry becomes one record with a level: `error` for a failed phase, `warn` for a
//! deviation (a forced gate, a skipped phase, an abort, a restore, a bypass), `info` otherwise.
//! Log lines keep their own level. The five levels map to the OpenTelemetry severity numbers
//! trace 1, debug 5, info 9, warn 13, error 17. The manifest says how many entries there are,
//! their first and last time, the audit head they end at, the export's blob id (what `git
//! hash-object FILE` prints) and how to verify all of it.

use super::audit::{resolved, AuditError, EntryFilter};
use super::query::{self, LogFilter, LogRecord};
use crate::store::audit::{self, AuditEntry};
use crate::store::chain::Reader;
use crate::store::{refs, Repo};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    /// One OTLP/JSON `ExportLogsServiceRequest` (the OpenTelemetry file exporter's line format).
    Otel,
    /// CloudEvents 1.0, structured mode, one JSON event per line.
    CloudEvents,
}

impl ExportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
            ExportFormat::Otel => "otel",
            ExportFormat::CloudEvents => "cloudevents",
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// Only entries of this instance (an id or a unique prefix).
    pub instance: Option<String>,
    /// Only entries at or after this time (seconds since the epoch).
    pub since: Option<i64>,
    /// Also the structured log lines.
    pub include_log: bool,
    /// The file the export goes to, named in the manifest.
    pub file_name: Option<String>,
}

/// What the export holds and how to check it.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: String,
    /// Audit entries exported.
    pub entries: usize,
    /// Log lines exported (with `--log`).
    pub log_lines: usize,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The audit head at export time; the last exported entry when no filter is given.
    pub head: Option<String>,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The export's git blob id: `git hash-object <file>` prints the same.
    pub blob: String,
    pub bytes: usize,
    pub filter: Map<String, Value>,
    pub generated: String,
    pub generator: String,
    /// How to verify the export and the chain it came from.
    pub verify: Vec<String>,
}

/// The export and its manifest.
#[derive(Debug, Clone)]
pub struct Exported {
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// The OpenTelemetry severity number of a level (trace 1, debug 5, info 9, warn 13, error 17).
pub fn severity_number(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "trace" => 1,
        "debug" => 5,
        "warn" | "warning" => 13,
        "error" => 17,
        _ => 9,
    }
}

/// The level of an audit entry: failures are errors, deviations warnings, the rest info.
pub fn entry_level(e: &AuditEntry) -> &'static str {
    let deviation = matches!(
        e.operation.as_str(),
        "skip" | "abort" | "restore" | "bypass"
    ) || e.args.contains_key("forced")
        || e.args.contains_key("deviation")
        || e.args
            .keys()
            .any(|k| k.contains("overwrit") || k.contains("trust"));
    if e.operation == "fail" {
        "error"
    } else if deviation {
        "warn"
    } else {
        "info"
    }
}

/// One exported record: an audit entry or a log line.
struct Record {
    source: &'static str,
    time: String,
    /// Nanoseconds since the epoch.
    nanos: i128,
    level: String,
    operation: String,
    instance: Option<String>,
    actor: Option<String>,
    summary: String,
    id: String,
    instance_commit: Option<String>,
    project_commit: Option<String>,
    parents: Vec<String>,
    args: Map<String, Value>,
    run: Option<String>,
    target: Option<String>,
}

impl Record {
    fn from_entry(e: &AuditEntry) -> Record {
        Record {
            source: "audit",
            time: e.time.clone(),
            nanos: i128::from(e.seconds) * 1_000_000_000,
            level: entry_level(e).to_owned(),
            operation: e.operation.clone(),
            instance: e.instance.clone(),
            actor: Some(e.actor.clone()),
            summary: e.summary.clone(),
            id: e.id.to_string(),
            instance_commit: e.instance_commit.map(|c| c.to_string()),
            project_commit: e.project_commit.map(|c| c.to_string()),
            parents: e.parents.iter().map(|p| p.to_string()).collect(),
            args: e
                .args
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            run: None,
            target: None,
        }
    }

    fn from_log(r: &LogRecord<'_>, n: usize) -> Record {
        let fields: Map<String, Value> = r
            .fields
            .and_then(|f| serde_json::from_str(f.get()).ok())
            .unwrap_or_default();
        Record {
            source: "log",
            time: r.time.to_string(),
            nanos: time_nanos(&r.time),
            level: r.level.to_ascii_lowercase(),
            operation: "log".to_owned(),
            instance: (!r.instance.is_empty()).then(|| r.instance.to_string()),
            actor: None,
            summary: r.message.to_string(),
            id: format!("{}-{n}", r.run),
            instance_commit: None,
            project_commit: None,
            parents: Vec::new(),
            args: fields,
            run: Some(r.run.to_string()),
            target: Some(r.target.to_string()),
        }
    }

    fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("source".into(), json!(self.source));
        m.insert("time".into(), json!(self.time));
        m.insert("level".into(), json!(self.level));
        m.insert(
            "severity_number".into(),
            json!(severity_number(&self.level)),
        );
        m.insert("operation".into(), json!(self.operation));
        m.insert("instance".into(), json!(self.instance));
        if let Some(a) = &self.actor {
            m.insert("actor".into(), json!(a));
        }
        m.insert("summary".into(), json!(self.summary));
        m.insert("id".into(), json!(self.id));
        if self.source == "audit" {
            m.insert("instance_commit".into(), json!(self.instance_commit));
            m.insert("project_commit".into(), json!(self.project_commit));
            m.insert("parents".into(), json!(self.parents));
        }
        if let Some(r) = &self.run {
            m.insert("run".into(), json!(r));
        }
        if let Some(t) = &self.target {
            m.insert("target".into(), json!(t));
        }
        m.insert("args".into(), Value::Object(self.args.clone()));
        Value::Object(m)
    }
}

/// `2026-01-14T12:34:56.123456Z` as nanoseconds since the epoch.
fn time_nanos(text: &str) -> i128 {
    let secs = super::time::parse_timestamp(text).unwrap_or(0);
    let frac = text
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('Z'))
        .unwrap_or("");
    let digits: String = frac.chars().take(9).filter(char::is_ascii_digit).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse::<i128>().unwrap_or(0)
    };
    i128::from(secs) * 1_000_000_000 + nanos
}

fn csv(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

fn otel_value(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n.as_f64() }),
        Value::Array(a) => {
            json!({ "arrayValue": { "values": a.iter().map(otel_value).collect::<Vec<_>>() } })
        }
        other => json!({ "stringValue": other.to_string() }),
    }
}

fn otel_record(r: &Record) -> Value {
    let mut attrs = Vec::new();
    let mut attr = |k: &str, v: Value| attrs.push(json!({ "key": k, "value": otel_value(&v) }));
    attr("ddx.source", json!(r.source));
    attr("ddx.operation", json!(r.operation));
    if let Some(i) = &r.instance {
        attr("ddx.instance", json!(i));
    }
    if let Some(a) = &r.actor {
        attr("enduser.id", json!(a));
    }
    attr("ddx.id", json!(r.id));
    if let Some(c) = &r.instance_commit {
        attr("ddx.instance_commit", json!(c));
    }
    if let Some(c) = &r.project_commit {
        attr("vcs.ref.head.revision", json!(c));
    }
    if let Some(run) = &r.run {
        attr("ddx.run", json!(run));
    }
    if let Some(t) = &r.target {
        attr("code.namespace", json!(t));
    }
    for (k, v) in &r.args {
        attr(&format!("ddx.arg.{k}"), v.clone());
    }
    json!({
        "timeUnixNano": r.nanos.to_string(),
        "observedTimeUnixNano": r.nanos.to_string(),
        "severityNumber": severity_number(&r.level),
        "severityText": r.level.to_uppercase(),
        "body": { "stringValue": r.summary },
        "attributes": attrs,
    })
}

fn cloud_event(r: &Record, repository: &str) -> Value {
    let kind = match r.source {
        "audit" => format!("dev.ddx.audit.{}", r.operation),
        _ => format!("dev.ddx.log.{}", r.level),
    };
    let mut e = json!({
        "specversion": "1.0",
        "id": r.id,
        "source": format!("ddx://{repository}/{}", if r.source == "audit" { refs::AUDIT } else { "logs" }),
        "type": kind,
        "time": r.time,
        "datacontenttype": "application/json",
        "data": r.json(),
    });
    if let (Some(i), Some(m)) = (&r.instance, e.as_object_mut()) {
        m.insert("subject".into(), json!(i));
    }
    e
}

/// Exports the audit chain (and the log, on request).
pub fn export(repo: &Repo, options: &ExportOptions) -> Result<Exported, AuditError> {
    let all = audit::entries(repo, true)?;
    let head = refs::read(repo, refs::AUDIT)?;
    let filter = resolved(
        repo,
        &EntryFilter {
            instance: options.instance.clone(),
            since: options.since,
            until: None,
        },
        &all,
    )?;
    let entries: Vec<&AuditEntry> = all.iter().filter(|e| filter.keeps(e)).collect();
    let mut records: Vec<Record> = entries.iter().map(|e| Record::from_entry(e)).collect();
    let mut log_lines = 0;
    if options.include_log {
        let files = match &filter.instance {
            Some(i) => query::log_files(&repo.ddx_dir(), Some(i)).unwrap_or_default(),
            None => query::log_files(&repo.ddx_dir(), None).unwrap_or_default(),
        };
        let texts: Vec<String> = files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        let since = options.since.map(|s| super::time::format_unix(s, 0));
        let log_filter = LogFilter {
            since,
            ..LogFilter::default()
        };
        let mut lines: Vec<LogRecord<'_>> = texts
            .iter()
            .flat_map(|t| t.lines())
            .filter_map(|l| serde_json::from_str::<LogRecord<'_>>(l).ok())
            .filter(|r| log_filter.keeps(r))
            .collect();
        lines.sort_by(|a, b| a.time.cmp(&b.time));
        log_lines = lines.len();
        records.extend(
            lines
                .iter()
                .enumerate()
                .map(|(n, r)| Record::from_log(r, n)),
        );
    }
    let repository = repo
        .work_dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    match options.format {
        ExportFormat::Jsonl => {
            for r in &records {
                out.extend(serde_json::to_vec(&r.json()).unwrap_or_default());
                out.push(b'\n');
            }
        }
        ExportFormat::Csv => {
            out.extend_from_slice(
                b"source,time,level,severity_number,operation,instance,actor,summary,id,instance_commit,project_commit,args\n",
            );
            for r in &records {
                let args = serde_json::to_string(&r.args).unwrap_or_default();
                let line = format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    r.source,
                    r.time,
                    r.level,
                    severity_number(&r.level),
                    csv(&r.operation),
                    csv(r.instance.as_deref().unwrap_or("")),
                    csv(r.actor.as_deref().unwrap_or("")),
                    csv(&r.summary),
                    csv(&r.id),
                    r.instance_commit.as_deref().unwrap_or(""),
                    r.project_commit.as_deref().unwrap_or(""),
                    csv(&args)
                );
                out.extend_from_slice(line.as_bytes());
            }
        }
        ExportFormat::Otel => {
            let (audit_records, log_records): (Vec<&Record>, Vec<&Record>) =
                records.iter().partition(|r| r.source == "audit");
            let mut scopes = vec![json!({
                "scope": { "name": "ddx.audit", "version": env!("CARGO_PKG_VERSION") },
                "logRecords": audit_records.iter().map(|r| otel_record(r)).collect::<Vec<_>>(),
            })];
            if options.include_log {
                scopes.push(json!({
                    "scope": { "name": "ddx.log", "version": env!("CARGO_PKG_VERSION") },
                    "logRecords": log_records.iter().map(|r| otel_record(r)).collect::<Vec<_>>(),
                }));
            }
            let doc = json!({
                "resourceLogs": [{
                    "resource": { "attributes": [
                        { "key": "service.name", "value": { "stringValue": "ddx" } },
                        { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
                        { "key": "vcs.repository.name", "value": { "stringValue": repository } },
                    ] },
                    "scopeLogs": scopes,
                }]
            });
            out.extend(serde_json::to_vec(&doc).unwrap_or_default());
            out.push(b'\n');
        }
        ExportFormat::CloudEvents => {
            for r in &records {
                out.extend(serde_json::to_vec(&cloud_event(r, &repository)).unwrap_or_default());
                out.push(b'\n');
            }
        }
    }
    let blob = Reader::new(repo).blob_id(&out).to_string();
    let mut filter_doc = Map::new();
    if let Some(i) = &filter.instance {
        filter_doc.insert("instance".into(), json!(i));
    }
    if let Some(s) = options.since {
        filter_doc.insert("since".into(), json!(refs::rfc3339(s)));
    }
    let file = options.file_name.clone();
    let target = file.clone().unwrap_or_else(|| "<file>".to_owned());
    let mut verify = vec![
        format!("git hash-object {target}   # prints {blob}"),
        "ddx audit verify   # the chain is intact".to_owned(),
    ];
    if let Some(h) = head {
        verify.push(format!(
            "git merge-base --is-ancestor {h} {}   # the chain still holds every exported entry",
            refs::AUDIT
        ));
    }
    let manifest = Manifest {
        format: options.format.name().to_owned(),
        entries: entries.len(),
        log_lines,
        first_time: entries.first().map(|e| e.time.clone()),
        last_time: entries.last().map(|e| e.time.clone()),
        head: head.map(|h| h.to_string()),
        reference: refs::AUDIT.to_owned(),
        file,
        blob,
        bytes: out.len(),
        filter: filter_doc,
        generated: super::time::now(),
        generator: format!("ddx {}", env!("CARGO_PKG_VERSION")),
        verify,
    };
    Ok(Exported {
        bytes: out,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_opentelemetry_severity_numbers() {
        let got: Vec<u8> = ["trace", "debug", "info", "warn", "error"]
            .iter()
            .map(|l| severity_number(l))
            .collect();
        assert_eq!(got, vec![1, 5, 9, 13, 17]);
    }

    #[test]
    fn log_times_keep_their_fraction() {
        assert_eq!(time_nanos("1970-01-01T00:00:01.000002Z"), 1_000_002_000);
        assert_eq!(time_nanos("1970-01-01T00:00:02Z"), 2_000_000_000);
    }
}
