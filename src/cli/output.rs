//! Terminal output: data on stdout, messages on stderr, colour only where wanted.

use super::ColorChoice;
use std::io::{IsTerminal, Write};

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
        match stdout.write_all(text.as_bytes()) {
            // A reader that stopped reading (`| head`) is not an error of ours.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    /// Prints a line of data on stdout.
    pub fn line(&self, text: impl AsRef<str>) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.as_ref());
    }

    /// Prints text on stdout as it is (a newline is added when it has none at its end).
    pub fn raw(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = stdout.write_all(b"\n");
        }
    }

    /// Prints a message (not data) on stderr.
    pub fn note(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        eprintln!("{} {}", self.paint_err("33", "warning:"), text.as_ref());
    }

    /// Prints an error with its cause chain and a hint.
    pub fn error(&self, err: &anyhow::Error, hint: Option<&str>) {
        eprintln!("{} {err}", self.paint_err("31;1", "error:"));
        let mut last = err.to_string();
        for cause in err.chain().skip(1) {
            let text = cause.to_string();
            // Transparent wrappers repeat their source's message.
            if text != last && !last.ends_with(&text) {
                eprintln!("  caused by: {text}");
            }
            last = text;
        }
        if let Some(d) = err
            .chain()
            .find_map(|c| c.downcast_ref::<crate::model::load::DefinitionError>())
        {
            for diag in &d.diagnostics {
                eprintln!("  {diag}");
            }
        }
        if let Some(hint) = hint {
            eprintln!("{} {hint}", self.paint_err("36", "hint:"));
        }
    }
}
