//! Logging: human lines on stderr, and JSON lines per instance under `.git/ddx/logs/`.
//!
//! Stderr shows what `-v`/`-q` or `DDX_LOG` ask for. Independently, every event at `info` and
//! above (or what `DDX_FILE_LOG` asks for) is kept for the instance log: events are buffered from
//! the start of the command, and once a command knows which instance it touches
//! ([`attach_instance`]) they go to `.git/ddx/logs/<instance>.jsonl`, one JSON object per line
//! with time, level, target, message, fields, instance and run id (the correlation id). A command
//! that touches no instance writes no log file.

use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Target of events meant for the instance log only, not for stderr.
pub const FILE_ONLY: &str = "instance_log";

/// Events kept in memory before the command knows its instance.
const MAX_BUFFERED: usize = 10_000;

enum Sink {
    Buffer(Vec<Map<String, Value>>),
    File {
        instance: String,
        path: PathBuf,
        /// Opened at the first line, so a command that logs nothing creates no file.
        out: Option<BufWriter<File>>,
    },
}

struct FileState {
    run: String,
    sink: Sink,
}

static STATE: OnceLock<Arc<Mutex<FileState>>> = OnceLock::new();

fn state() -> &'static Arc<Mutex<FileState>> {
    STATE.get_or_init(|| {
        Arc::new(Mutex::new(FileState {
            run: new_run_id(),
            sink: Sink::Buffer(Vec::new()),
        }))
    })
}

/// A run id: the start time and process id, unique enough to correlate one command's lines.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:x}{:05x}-{:x}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    )
}

/// This command's run id.
pub fn run_id() -> String {
    state().lock().map(|s| s.run.clone()).unwrap_or_default()
}

/// The log file of an instance.
pub fn log_path(ddx_dir: &Path, instance: &str) -> PathBuf {
    ddx_dir.join("logs").join(format!("{instance}.jsonl"))
}

/// Opens a log for appending; its folder is made only when it is missing (the usual open is
/// one system call).
fn open(path: &Path) -> std::io::Result<BufWriter<File>> {
    let open = || OpenOptions::new().create(true).append(true).open(path);
    let file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()?
        }
        other => other?,
    };
    Ok(BufWriter::new(file))
}

fn write_line(
    out: &mut Option<BufWriter<File>>,
    path: &Path,
    instance: &str,
    mut line: Map<String, Value>,
) {
    if out.is_none() {
        // A log that cannot be written must not fail the command it describes.
        *out = open(path).ok();
    }
    let Some(out) = out else { return };
    line.insert("instance".into(), Value::String(instance.to_owned()));
    if let Ok(text) = serde_json::to_string(&line) {
        let _ = writeln!(out, "{text}");
    }
}

/// From now on, this command's log lines (and those buffered so far) go to the instance's log,
/// `.git/ddx/logs/<instance>.jsonl`, created at its first line. Attaching again (another
/// instance) sends later lines there.
pub fn attach_instance(ddx_dir: &Path, instance: &str) -> std::io::Result<()> {
    let path = log_path(ddx_dir, instance);
    let Ok(mut st) = state().lock() else {
        return Ok(());
    };
    if let Sink::File {
        instance: current, ..
    } = &st.sink
    {
        if current == instance {
            return Ok(());
        }
    }
    let old = std::mem::replace(&mut st.sink, Sink::Buffer(Vec::new()));
    let mut out = None;
    match old {
        Sink::Buffer(lines) => {
            if !lines.is_empty() {
                out = Some(open(&path)?);
            }
            for line in lines {
                write_line(&mut out, &path, instance, line);
            }
        }
        Sink::File { out: prev, .. } => {
            if let Some(mut prev) = prev {
                let _ = prev.flush();
            }
        }
    }
    if let Some(o) = out.as_mut() {
        o.flush()?;
    }
    st.sink = Sink::File {
        instance: instance.to_owned(),
        path,
        out,
    };
    Ok(())
}

/// Writes out what is buffered for the attached instance; call before the process exits.
pub fn flush() {
    if let Ok(mut st) = state().lock() {
        if let Sink::File { out: Some(out), .. } = &mut st.sink {
            let _ = out.flush();
        }
    }
}

/// Collects an event's fields into a JSON map.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            // A list (an error's cause chain, logged as `causes = ?chain`) stays a list.
            let value = match text.starts_with('[') {
                true => serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                false => Value::String(text),
            };
            self.fields.insert(field.name().to_owned(), value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
}

/// The layer that feeds instance logs.
struct InstanceLogLayer;

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for InstanceLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let Ok(mut st) = state().lock() else { return };
        let mut line = Map::new();
        line.insert("time".into(), Value::String(super::time::now()));
        line.insert(
            "level".into(),
            Value::String(level_name(event.metadata().level()).into()),
        );
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().into()),
        );
        line.insert(
            "message".into(),
            Value::String(visitor.message.unwrap_or_default()),
        );
        line.insert("fields".into(), Value::Object(visitor.fields));
        line.insert("run".into(), Value::String(st.run.clone()));
        match &mut st.sink {
            Sink::Buffer(lines) => {
                if lines.len() < MAX_BUFFERED {
                    lines.push(line);
                }
            }
            Sink::File {
                instance,
                path,
                out,
            } => {
                let instance = instance.clone();
                let path = path.clone();
                write_line(out, &path, &instance, line);
            }
        }
    }
}

/// Installs the loggers. `verbosity` is the count of `-v` minus the count of `-q`;
/// `DDX_LOG` (an `EnvFilter` directive such as `debug` or `ddx::catalog=trace`) wins over it.
pub fn init(verbosity: i8, color: bool) {
    use tracing::level_filters::LevelFilter;
    let level = match verbosity {
        i8::MIN..=-2 => LevelFilter::OFF,
        -1 => LevelFilter::ERROR,
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .with_filter(filter(
            "DDX_LOG",
            Targets::new().with_target("ddx", level),
            &[],
        ));
    let file_layer = InstanceLogLayer.with_filter(filter(
        "DDX_FILE_LOG",
        Targets::new()
            .with_target("ddx", LevelFilter::INFO)
            .with_target(FILE_ONLY, LevelFilter::TRACE),
        &[(FILE_ONLY, LevelFilter::TRACE)],
    ));
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
}

/// The filter the environment variable `var` sets (`EnvFilter` syntax), with `always` added;
/// `default` when it is unset or invalid. (A plain target list costs nothing to build; an
/// `EnvFilter` compiles its directive syntax first, a tenth of a millisecond on every run.)
fn filter<S>(
    var: &str,
    default: Targets,
    always: &[(&str, tracing::level_filters::LevelFilter)],
) -> Box<dyn tracing_subscriber::layer::Filter<S> + Send + Sync>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let given = std::env::var(var)
        .ok()
        .and_then(|d| EnvFilter::try_new(d).ok());
    match given {
        Some(mut env) => {
            for (target, level) in always {
                if let Ok(directive) = format!("{target}={level}").parse() {
                    env = env.add_directive(directive);
                }
            }
            Box::new(env)
        }
        None => Box::new(default),
    }
}
