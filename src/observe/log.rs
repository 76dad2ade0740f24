//! Human log lines on stderr, filtered by `-v`/`-q` and `DDX_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger. `verbosity` is the count of `-v` minus the count of `-q`;
/// `DDX_LOG` (an `EnvFilter` directive such as `debug` or `ddx::catalog=trace`) wins over it.
pub fn init(verbosity: i8, color: bool) {
    let level = match verbosity {
        i8::MIN..=-2 => "off",
        -1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("DDX_LOG")
        .ok()
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("ddx={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .try_init();
}
