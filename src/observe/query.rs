//! Reading the instance logs back: filters, and export as text, JSON Lines or CSV.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What went wrong reading logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no log of an instance matching `{0}`")]
    NoSuchInstance(String),
    #[error("`{prefix}` matches the logs of several instances: {}", candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("unknown level `{0}`: use error, warn, info, debug or trace")]
    Level(String),
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The five levels, most severe first.
pub const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Rank of a level name (error = 0); `None` when unknown.
pub fn level_rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// One line of an instance log, borrowed from the file's text where it can be.
#[derive(Debug, Deserialize, Serialize)]
pub struct LogRecord<'a> {
    #[serde(borrow)]
    pub time: Cow<'a, str>,
    #[serde(borrow)]
    pub level: Cow<'a, str>,
    #[serde(borrow, default)]
    pub target: Cow<'a, str>,
    #[serde(borrow, default)]
    pub message: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub instance: Cow<'a, str>,
    #[serde(borrow, default)]
    pub run: Cow<'a, str>,
}

/// Which lines to keep.
#[derive(Debug, Default)]
pub struct LogFilter {
    /// Keep lines at this level or more severe.
    pub max_rank: Option<usize>,
    /// Normalized RFC 3339 bounds (inclusive since, exclusive until).
    pub since: Option<String>,
    pub until: Option<String>,
    /// Matched against the message and the fields.
    pub grep: Option<Regex>,
    pub run: Option<String>,
}

impl LogFilter {
    pub fn keeps(&self, r: &LogRecord<'_>) -> bool {
        if let Some(max) = self.max_rank {
            if level_rank(&r.level).is_none_or(|rank| rank > max) {
                return false;
            }
        }
        if self.since.as_deref().is_some_and(|s| r.time.as_ref() < s) {
            return false;
        }
        if self.until.as_deref().is_some_and(|u| r.time.as_ref() >= u) {
            return false;
        }
        if self
            .run
            .as_deref()
            .is_some_and(|run| !r.run.starts_with(run))
        {
            return false;
        }
        if let Some(re) = &self.grep {
            let in_fields = r.fields.is_some_and(|f| re.is_match(f.get()));
            if !re.is_match(&r.message) && !in_fields {
                return false;
            }
        }
        true
    }
}

/// Cheap tests on a raw line, before it is parsed: the level and time the log writer puts
/// first, and a literal `--grep` text (which must then appear in the line itself).
struct QuickFilter<'f> {
    filter: &'f LogFilter,
    literal: Option<String>,
}

impl<'f> QuickFilter<'f> {
    fn new(filter: &'f LogFilter) -> Self {
        let literal = filter.grep.as_ref().map(|re| re.as_str()).filter(|p| {
            !p.is_empty()
                && regex::escape(p) == *p
                && !p.contains(['"', '\\'])
                && p.chars().all(|c| !c.is_control())
        });
        QuickFilter {
            filter,
            literal: literal.map(str::to_owned),
        }
    }

    /// The value of `"key":"…"` in a raw line, when it is a plain string.
    fn field<'l>(line: &'l str, key: &str) -> Option<&'l str> {
        let start = line.find(key)? + key.len();
        let rest = &line[start..];
        let end = rest.find('"')?;
        let value = &rest[..end];
        (!value.contains('\\')).then_some(value)
    }

    /// False only when the line certainly does not pass the filter.
    fn may_keep(&self, line: &str) -> bool {
        if let Some(max) = self.filter.max_rank {
            if let Some(level) = Self::field(line, "\"level\":\"") {
                if level_rank(level).is_none_or(|rank| rank > max) {
                    return false;
                }
            }
        }
        if self.filter.since.is_some() || self.filter.until.is_some() {
            if let Some(time) = Self::field(line, "\"time\":\"") {
                if self.filter.since.as_deref().is_some_and(|s| time < s)
                    || self.filter.until.as_deref().is_some_and(|u| time >= u)
                {
                    return false;
                }
            }
        }
        if let Some(lit) = &self.literal {
            if !line.contains(lit.as_str()) {
                return false;
            }
        }
        true
    }
}

/// The log files to read: one instance's (by unique prefix), or all.
pub fn log_files(ddx_dir: &Path, instance: Option<&str>) -> Result<Vec<PathBuf>, LogError> {
    let dir = ddx_dir.join("logs");
    let mut files: Vec<(String, PathBuf)> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".jsonl")
                    .map(|id| (id.to_owned(), e.path()))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let Some(prefix) = instance else {
        return Ok(files.into_iter().map(|(_, p)| p).collect());
    };
    if let Some((_, p)) = files.iter().find(|(id, _)| id == prefix) {
        return Ok(vec![p.clone()]);
    }
    let matching: Vec<&(String, PathBuf)> = files
        .iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .collect();
    match matching.as_slice() {
        [] => Err(LogError::NoSuchInstance(prefix.to_owned())),
        [(_, p)] => Ok(vec![p.clone()]),
        many => Err(LogError::Ambiguous {
            prefix: prefix.to_owned(),
            candidates: many.iter().map(|(id, _)| id.clone()).collect(),
        }),
    }
}

/// Output format of `ddx log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
}

fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Reads the files, keeps what the filter keeps, sorts by time and writes them in `format`.
/// Lines that are not JSON (a torn write) are skipped. Returns how many lines were written.
pub fn export(
    files: &[PathBuf],
    filter: &LogFilter,
    format: Format,
    out: &mut dyn Write,
) -> Result<usize, LogError> {
    let texts: Vec<String> = files
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|source| LogError::Io {
                    path: p.display().to_string(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    use rayon::prelude::*;
    let lines: Vec<&str> = texts.iter().flat_map(|t| t.lines()).collect();
    let quick = QuickFilter::new(filter);
    // Lines are judged in parallel; most are ruled out before they are parsed.
    let mut records: Vec<(LogRecord<'_>, &str)> = lines
        .par_iter()
        .filter(|line| quick.may_keep(line))
        .filter_map(|line| {
            serde_json::from_str::<LogRecord<'_>>(line)
                .ok()
                .map(|r| (r, *line))
        })
        .filter(|(r, _)| filter.keeps(r))
        .collect();
    if files.len() > 1 {
        records.par_sort_by(|(a, _), (b, _)| a.time.cmp(&b.time));
    }
    let io = |source| LogError::Io {
        path: "stdout".into(),
        source,
    };
    if format == Format::Csv {
        writeln!(out, "time,level,target,instance,run,message,fields").map_err(io)?;
    }
    for (r, raw) in &records {
        match format {
            // The line as the log holds it: already one JSON object.
            Format::Json => writeln!(out, "{raw}").map_err(io)?,
            Format::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.time,
                r.level,
                csv_field(&r.target),
                csv_field(&r.instance),
                r.run,
                csv_field(&r.message),
                csv_field(r.fields.map_or("", |f| f.get()))
            )
            .map_err(io)?,
            Format::Text => {
                let fields = r
                    .fields
                    .and_then(|f| {
                        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(f.get())
                            .ok()
                    })
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| match v {
                                serde_json::Value::String(s) => format!(" {k}={s}"),
                                other => format!(" {k}={other}"),
                            })
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{} {:5} {} [{}] {}{fields}",
                    r.time,
                    r.level.to_uppercase(),
                    r.instance,
                    r.run,
                    r.message
                )
                .map_err(io)?;
            }
        }
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &Path, id: &str, lines: &[&str]) {
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(
            dir.join("logs").join(format!("{id}.jsonl")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }

    #[test]
    fn filters_by_level_time_text_and_run() {
        let dir = tempfile::tempdir().unwrap();
        write_log(
            dir.path(),
            "tdd-1",
            &[
                r#"{"time":"2026-01-01T00:00:00.000000Z","level":"info","target":"ddx","message":"started","fields":{"phase":"red"},"instance":"tdd-1","run":"r1"}"#,
                r#"{"time":"2026-01-02T00:00:00.000000Z","level":"debug","target":"ddx","message":"detail","fields":{},"instance":"tdd-1","run":"r1"}"#,
                "torn {",
                r#"{"time":"2026-01-03T00:00:00.000000Z","level":"error","target":"ddx","message":"gate, \"failed\"","fields":{},"instance":"tdd-1","run":"r2"}"#,
            ],
        );
        let files = log_files(dir.path(), Some("tdd")).unwrap();
        let run = |f: LogFilter, format: Format| {
            let mut out = Vec::new();
            let n = export(&files, &f, format, &mut out).unwrap();
            (n, String::from_utf8(out).unwrap())
        };
        assert_eq!(run(LogFilter::default(), Format::Json).0, 3);
        assert_eq!(
            run(
                LogFilter {
                    max_rank: level_rank("info"),
                    ..Default::default()
                },
                Format::Json
            )
            .0,
            2
        );
        let since = LogFilter {
            since: Some("2026-01-02T00:00:00.000000Z".into()),
            ..Default::default()
        };
        assert_eq!(run(since, Format::Json).0, 2);
        let grep = LogFilter {
            grep: Some(Regex::new("red").unwrap()),
            ..Default::default()
        };
        assert_eq!(run(grep, Format::Json).0, 1);
        let (n, csv) = run(
            LogFilter {
                run: Some("r2".into()),
                ..Default::default()
            },
            Format::Csv,
        );
        assert_eq!(n, 1);
        assert_eq!(
            csv,
            "time,level,target,instance,run,message,fields\n2026-01-03T00:00:00.000000Z,error,ddx,tdd-1,r2,\"gate, \"\"failed\"\"\",{}\n"
        );
        let (_, text) = run(
            LogFilter {
                max_rank: Some(2),
                ..Default::default()
            },
            Format::Text,
        );
        assert!(
            text.starts_with("2026-01-01T00:00:00.000000Z INFO  tdd-1 [r1] started phase=red\n"),
            "{text}"
        );
        assert!(matches!(
            log_files(dir.path(), Some("zz")),
            Err(LogError::NoSuchInstance(_))
        ));
    }
}
