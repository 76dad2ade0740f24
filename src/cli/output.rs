//! Terminal output: data on stdout, messages on stderr, colour only where wanted.
//!
//! Text from workflows (descriptions, names, evidence) reaches the terminal through here, so
//! every line printed has its control characters escaped (`\x1b` shown as the four characters
//! `\x1b`): a hostile description cannot set the window title, clear the screen or move the
//! cursor. Only colour codes (SGR, `ESC [ … m`) pass, and only when colour is on. JSON output is
//! left exact: serde_json already escapes control characters.

use super::ColorChoice;
use std::io::{IsTerminal, Write};

/// Ends the process as git does when the reader of stdout went away (`ddx log | head -1`):
/// killed by SIGPIPE, quietly, after the instance log is written. ddx ignores SIGPIPE
/// otherwise (Rust's default), so a command whose stdin closes early is an error to report,
/// never a silent death in the middle of a step.
pub fn reader_gone() -> ! {
    crate::observe::log::flush();
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal and raising it; nothing else
    // runs on this thread afterwards.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // 128 + SIGPIPE: what a shell reports for a process SIGPIPE ended.
    std::process::exit(141)
}

/// Whether stdout is a pipe whose reader has gone.
pub fn stdout_gone() -> bool {
    #[cfg(unix)]
    {
        let mut fd = libc::pollfd {
            fd: 1,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        n == 1 && fd.revents & libc::POLLERR != 0
    }
    #[cfg(not(unix))]
    {
        false
    }
}

fn quiet_if_gone(written: std::io::Result<()>) {
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            reader_gone();
        }
    }
}

/// Where and how the CLI prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    color_out: bool,
    color_err: bool,
}

fn wants_color(choice: ColorChoice, is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                false
            } else if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0")
            {
                true
            } else {
                is_tty && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }
}

/// `text` with every control character but newline and tab escaped; with `keep_sgr`, colour
/// sequences (`ESC [ digits;… m`) are kept as they are.
pub fn escape_controls(text: &str, keep_sgr: bool) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && keep_sgr {
            let body = &rest[1..];
            let params = body.strip_prefix('[').map(|b| {
                b.len()
                    - b.trim_start_matches(|d: char| d.is_ascii_digit() || d == ';')
                        .len()
            });
            if let Some(n) = params.filter(|n| body[1 + n..].starts_with('m')) {
                let len = 1 + 1 + n + 1;
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        if c.is_control() && c != '\n' && c != '\t' {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

impl Output {
    pub fn new(choice: ColorChoice) -> Self {
        Output {
            color_out: wants_color(choice, std::io::stdout().is_terminal()),
            color_err: wants_color(choice, std::io::stderr().is_terminal()),
        }
    }

    pub fn color_stderr(&self) -> bool {
        self.color_err
    }

    /// Wraps `text` in an SGR colour code when stdout is coloured.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color_out {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn paint_err(&self, code: &str, text: &str) -> String {
        if self.color_err {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Prints one JSON document on stdout.
    pub fn json<T: serde::Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(value)?;
        text.push('\n');
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            // A reader that stopped reading (`| head`) is not an error of ours.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => reader_gone(),
            other => Ok(other?),
        }
    }

    /// Prints a line of data on stdout.
    pub fn line(&self, text: impl AsRef<str>) {
        let mut stdout = std::io::stdout().lock();
        let written = writeln!(stdout, "{}", escape_controls(text.as_ref(), self.color_out));
        quiet_if_gone(written);
    }

    /// Prints text on stdout as it is (a newline is added when it has none at its end).
    pub fn raw(&self, text: &str) {
        let text = escape_controls(text, self.color_out);
        let mut stdout = std::io::stdout().lock();
        let mut written = stdout.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            written = written.and_then(|()| stdout.write_all(b"\n"));
        }
        quiet_if_gone(written);
    }

    /// `text` as it may reach stdout: control characters escaped, colour kept when it is on.
    pub fn escape<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        escape_controls(text, self.color_out)
    }

    /// Writes data on stdout. Human text (`exact` false) has its control characters escaped;
    /// exact data (JSON, CSV) is written as it is, unless stdout is a terminal.
    pub fn data(&self, bytes: &[u8], exact: bool) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        let result = if exact && !std::io::stdout().is_terminal() {
            stdout.write_all(bytes)
        } else {
            let text = String::from_utf8_lossy(bytes);
            stdout.write_all(escape_controls(&text, false).as_bytes())
        };
        match result.and_then(|()| stdout.flush()) {
            // A reader that stopped reading (`| head`): end quietly, as git does.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => reader_gone(),
            other => other,
        }
    }

    /// Prints a message on stderr as it is, escaped (no newline added).
    pub fn note_raw(&self, text: &str) {
        eprint!("{}", escape_controls(text, self.color_err));
    }

    /// Prints a message (not data) on stderr.
    pub fn note(&self, text: impl AsRef<str>) {
        eprintln!("{}", escape_controls(text.as_ref(), self.color_err));
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        eprintln!(
            "{} {}",
            self.paint_err("33", "warning:"),
            escape_controls(text.as_ref(), self.color_err)
        );
    }

    /// Prints an error with its cause chain and a hint.
    pub fn error(&self, err: &anyhow::Error, hint: Option<&str>) {
        eprintln!(
            "{} {}",
            self.paint_err("31;1", "error:"),
            escape_controls(&err.to_string(), false)
        );
        let mut last = err.to_string();
        for cause in err.chain().skip(1) {
            let text = cause.to_string();
            // Transparent wrappers repeat their source's message.
            if text != last && !last.ends_with(&text) {
                eprintln!("  caused by: {}", escape_controls(&text, false));
            }
            last = text;
        }
        if let Some(d) = err
            .chain()
            .find_map(|c| c.downcast_ref::<crate::model::load::DefinitionError>())
        {
            for diag in &d.diagnostics {
                eprintln!("  {}", escape_controls(&diag.to_string(), false));
            }
        }
        if let Some(hint) = hint {
            eprintln!(
                "{} {}",
                self.paint_err("36", "hint:"),
                escape_controls(hint, false)
            );
        }
    }
}

#[cfg(test)]
mod escape_tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_only_colour_codes_kept() {
        let hostile = "a\x1b]0;t\x07\x1b[2J\x1b[31mred\x1b[0m\r\u{9b}b\n\tc";
        assert_eq!(
            escape_controls(hostile, true),
            "a\\x1b]0;t\\x07\\x1b[2J\x1b[31mred\x1b[0m\\x0d\\x9bb\n\tc"
        );
        assert_eq!(
            escape_controls(hostile, false),
            "a\\x1b]0;t\\x07\\x1b[2J\\x1b[31mred\\x1b[0m\\x0d\\x9bb\n\tc"
        );
        assert_eq!(escape_controls("plain ü\n", false), "plain ü\n");
        assert_eq!(escape_controls("\x1b[", true), "\\x1b[");
    }
}
