//! Every `ddx` command the README and docs/ show in a shell block is one ddx accepts: each is
//! parsed as the binary parses its command line, so a renamed command or option in the docs
//! fails here. (The walks in tests/first_hour.rs run the user guide's HELIX steps for real.)

use clap::Parser;
use ddx::cli::Cli;

/// The `ddx …` commands of the fenced `sh` blocks of `text`, with `$`-prompts, comments and
/// line continuations handled, `&&`/`|`/`;` chains split.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = matches!(trimmed, "```sh" | "```bash" | "```shell");
            pending.clear();
            continue;
        }
        if !in_sh {
            continue;
        }
        let mut line = trimmed.strip_prefix("$ ").unwrap_or(trimmed).to_owned();
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        if !pending.is_empty() {
            line = format!("{pending}{line}");
            pending.clear();
        }
        for part in line.split(['|', ';']).flat_map(|p| p.split("&&")) {
            let part = part.trim();
            // Environment assignments before the command.
            let words: Vec<&str> = part
                .split_whitespace()
                .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                .collect();
            if words.first() == Some(&"ddx") {
                out.push(words.join(" "));
            }
        }
    }
    out
}

/// Splits a command line into words as a shell would for these examples: quotes group, a `#`
/// outside quotes starts a comment, a `>` outside quotes starts a redirection.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut has_word = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if !has_word => break,
            (None, '>') => break,
            (None, '"' | '\'') => {
                quote = Some(c);
                has_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if has_word {
                    out.push(std::mem::take(&mut word));
                    has_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        out.push(word);
    }
    out
}

#[test]
fn every_ddx_command_in_the_docs_parses_as_ddx_parses_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    let mut checked = 0;
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for command in commands(&text) {
            let argv = words(&command);
            // Placeholders the reader fills in (`<id>`, `ID`, `…`) are left as they are: clap
            // takes them as values.
            checked += 1;
            if let Err(e) = Cli::try_parse_from(&argv) {
                if !matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) {
                    let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                    bad.push(format!(
                        "{}: `{command}`: {first}",
                        file.strip_prefix(root).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} ddx commands found in the docs"
    );
    assert!(
        bad.is_empty(),
        "{} of {checked}:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_example_reader_finds_what_a_shell_would_run() {
    let text = "```sh\n$ ddx gate approve frame \"Reviewed # twice\" # ask Bob\nGIT_COMMITTER_NAME=Bob ddx workflow next && git log\nddx audit report \\\n  --format html\n```\n```\nddx not-a-shell-block\n```\n";
    let found = commands(text);
    assert_eq!(
        found,
        [
            "ddx gate approve frame \"Reviewed # twice\" # ask Bob",
            "ddx workflow next",
            "ddx audit report --format html"
        ]
    );
    assert_eq!(
        words(&found[0]),
        ["ddx", "gate", "approve", "frame", "Reviewed # twice"]
    );
    assert_eq!(
        words("ddx audit report --format json > audit.json"),
        ["ddx", "audit", "report", "--format", "json"]
    );
}
