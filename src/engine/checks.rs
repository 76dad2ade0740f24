//! Machine checks: the typed [`Check`]s of DESIGN §2, evaluated against a work tree.
//!
//! Each check returns an [`Outcome`]: whether it passed, a one-line summary, and the evidence a
//! person needs to see why (matching files and lines, duplicates and where they stand, the tail of
//! a command's output). Files are read without following symbolic links, and nothing outside the
//! work tree is read.

use crate::model::{template, Check, CountOp, Expected};
use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// At most this many evidence items are kept per check.
const MAX_EVIDENCE: usize = 20;
/// A line quoted as evidence is cut to this many characters (docs/audit.md).
pub const MAX_EVIDENCE_LINE: usize = 200;
/// Files larger than this are not scanned by pattern checks.
const MAX_SCAN: u64 = 8 * 1024 * 1024;

/// One piece of evidence: a file, optionally a line, optionally its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// In place of the text, for a check from an untrusted source: `sha256:` and the SHA-256
    /// git blob id of the matching line's bytes, without its line ending (docs/audit.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Evidence {
    pub fn file(path: impl Into<String>) -> Self {
        Evidence {
            path: path.into(),
            line: None,
            text: None,
            hash: None,
        }
    }

    /// A matching line: quoted (trimmed, cut to [`MAX_EVIDENCE_LINE`] characters) when `quote`,
    /// else only its hash.
    fn line(path: &str, number: usize, line: &str, quote: bool) -> Self {
        let (text, hash) = if quote {
            (
                Some(line.trim().chars().take(MAX_EVIDENCE_LINE).collect()),
                None,
            )
        } else {
            (None, Some(line_hash(line)))
        };
        Evidence {
            path: path.to_owned(),
            line: Some(number),
            text,
            hash,
        }
    }
}

/// `sha256:` and the SHA-256 git blob id of `line`'s bytes (what `git hash-object` prints for
/// the line in a SHA-256 repository), the same hash `ddx trust` keeps files by.
pub fn line_hash(line: &str) -> String {
    crate::trust::content_hash(line.as_bytes())
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub passed: bool,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

impl Outcome {
    fn pass(summary: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        Outcome {
            passed: true,
            summary: summary.into(),
            evidence,
        }
    }

    fn fail(summary: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        Outcome {
            passed: false,
            summary: summary.into(),
            evidence,
        }
    }
}

pub use crate::store::worktree::Committed;

/// What checks may look at.
pub struct CheckContext<'a> {
    pub work_dir: &'a Path,
    /// Variables and instance context, for `{{ … }}` in commands and `variable_set`.
    pub variables: &'a serde_json::Value,
    /// Is this phase completed?
    pub phase_completed: &'a dyn Fn(&str) -> bool,
    /// How a path stands against HEAD.
    pub committed: &'a dyn Fn(&str) -> Result<Committed, String>,
    /// May `command` checks run (trusted source or explicit consent)?
    pub allow_commands: bool,
    /// Quote matching lines as evidence (a trusted source)? Else only their hash is recorded,
    /// so an untrusted workflow's check never copies file contents into shared refs.
    pub quote: bool,
    /// Does git ignore this untracked file (or folder, when the flag is set)? Checks never
    /// read such a file.
    pub ignored: &'a dyn Fn(&str, bool) -> bool,
    /// Is this file, byte for byte, what ddx rendered for an artifact (the change tracker's
    /// blob)? Gives what rendered it (`artifact prd`).
    pub as_rendered: &'a dyn Fn(&str) -> Option<String>,
    /// Files already read by earlier checks of the same evaluation (several pattern checks
    /// over one folder read each file once).
    pub files: Option<&'a FileCache>,
}

/// The text of files read by checks, by path; cleared when a command may have changed them.
#[derive(Debug, Default)]
pub struct FileCache(
    std::cell::RefCell<std::collections::HashMap<String, Option<std::rc::Rc<str>>>>,
);

impl FileCache {
    /// Forgets everything read (after a command ran).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

/// Evaluates one check.
pub fn evaluate(check: &Check, cx: &CheckContext<'_>) -> Outcome {
    match check {
        Check::FileExists { path } => file_exists(cx, path),
        Check::GlobCount { glob, expected } => glob_count(cx, glob, *expected),
        Check::Pattern {
            regex,
            path,
            expected,
        } => pattern(cx, regex, path, *expected),
        Check::UniqueIds { regex, path } => unique_ids(cx, regex, path),
        Check::Command { command, timeout } => run_command(cx, command, *timeout),
        Check::PhaseCompleted { phase } => {
            if (cx.phase_completed)(phase) {
                Outcome::pass(format!("phase {phase} is completed"), vec![])
            } else {
                Outcome::fail(format!("phase {phase} is not completed"), vec![])
            }
        }
        Check::Committed { path } => match (cx.committed)(path) {
            Ok(Committed::Clean) => Outcome::pass(
                format!("{path} is committed and unchanged"),
                vec![Evidence::file(path)],
            ),
            Ok(Committed::Modified) => Outcome::fail(
                format!("{path} has changes that are not committed"),
                vec![Evidence::file(path)],
            ),
            Ok(Committed::Absent) => {
                Outcome::fail(format!("{path} is not in HEAD"), vec![Evidence::file(path)])
            }
            Err(e) => Outcome::fail(
                format!("cannot tell whether {path} is committed: {e}"),
                vec![],
            ),
        },
        Check::Filled { path } => filled(cx, path),
        Check::VariableSet { name } => {
            let set = cx.variables.get(name).is_some_and(|v| match v {
                serde_json::Value::Null => false,
                serde_json::Value::String(s) => !s.trim().is_empty(),
                _ => true,
            });
            if set {
                Outcome::pass(format!("variable {name} is set"), vec![])
            } else {
                Outcome::fail(format!("variable {name} is not set"), vec![])
            }
        }
    }
}

/// Resolves a check path inside the work tree; `None` when it would leave it.
fn inside(cx: &CheckContext<'_>, rel: &str) -> Option<PathBuf> {
    let rel = rel.split('#').next().unwrap_or(rel).trim_end_matches('/');
    if crate::model::load::safe_relative_path(rel).is_err() && !rel.is_empty() {
        return None;
    }
    // No component of the path may be a symbolic link.
    let mut at = cx.work_dir.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return None;
        }
    }
    Some(at)
}

fn file_exists(cx: &CheckContext<'_>, path: &str) -> Outcome {
    match inside(cx, path) {
        Some(p) if p.exists() => {
            Outcome::pass(format!("{path} exists"), vec![Evidence::file(path)])
        }
        Some(_) => Outcome::fail(format!("{path} does not exist"), vec![]),
        None => Outcome::fail(
            format!("{path} is outside the work tree or behind a symbolic link"),
            vec![],
        ),
    }
}

/// Every regular file under `dir` (recursively, no symlinks, no `.git`, nothing git ignores),
/// as relative paths.
fn files_under(cx: &CheckContext<'_>, dir: &Path, out: &mut Vec<String>) {
    let root = cx.work_dir;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if kind.is_dir() {
            if entry.file_name() == ".git" || (cx.ignored)(&rel, true) {
                continue;
            }
            files_under(cx, &path, out);
        } else if kind.is_file() && !(cx.ignored)(&rel, false) {
            out.push(rel);
        }
    }
}

fn glob_matcher(glob: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

/// The folder a glob names literally (`docs/stories` of `docs/stories/US-*.md`).
fn glob_base(glob: &str) -> String {
    let parts: Vec<&str> = glob.split('/').collect();
    let literal = parts
        .iter()
        .take_while(|p| !p.contains(['*', '?', '[', '{']))
        .count();
    parts[..literal.min(parts.len() - 1)].join("/")
}

/// The files `glob` matches, sorted.
fn glob_files(cx: &CheckContext<'_>, glob: &str) -> Result<Vec<String>, Outcome> {
    let matcher = glob_matcher(glob)
        .map_err(|e| Outcome::fail(format!("the glob {glob} is invalid: {e}"), vec![]))?;
    // Walk only below the deepest directory the glob names literally.
    let Some(start) = inside(cx, &glob_base(glob)) else {
        return Err(Outcome::fail(
            format!("{glob} is outside the work tree"),
            vec![],
        ));
    };
    let mut files = Vec::new();
    files_under(cx, &start, &mut files);
    files.sort();
    Ok(files.into_iter().filter(|f| matcher.is_match(f)).collect())
}

fn glob_count(cx: &CheckContext<'_>, glob: &str, expected: Expected) -> Outcome {
    let matched = match glob_files(cx, glob) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let n = matched.len() as u64;
    let evidence = matched
        .iter()
        .take(MAX_EVIDENCE)
        .map(Evidence::file)
        .collect();
    let summary = format!(
        "{n} file{} match {glob} (expected {expected})",
        if n == 1 { "" } else { "s" }
    );
    if expected.holds(n) {
        Outcome::pass(summary, evidence)
    } else if !matches!(expected.op, CountOp::Eq | CountOp::Gt | CountOp::Ge) || n > expected.n {
        Outcome::fail(summary, evidence)
    } else {
        // Too few: say what to name the files and where.
        let base = glob_base(glob);
        let name = glob.strip_prefix(&format!("{base}/")).unwrap_or(glob);
        let place = if base.is_empty() {
            String::new()
        } else {
            format!(" in {base}/")
        };
        Outcome::fail(
            format!("{summary}; add files named {name}{place}"),
            evidence,
        )
    }
}

/// The files a FILE|DIR path names, or an outcome explaining why there are none.
fn target_files(cx: &CheckContext<'_>, path: &str) -> Result<Vec<String>, Outcome> {
    let Some(full) = inside(cx, path) else {
        return Err(Outcome::fail(
            format!("{path} is outside the work tree or behind a symbolic link"),
            vec![],
        ));
    };
    let meta = std::fs::symlink_metadata(&full)
        .map_err(|_| Outcome::fail(format!("{path} does not exist"), vec![]))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        files_under(cx, &full, &mut files);
        files.sort();
        Ok(files)
    } else {
        let rel = path.split('#').next().unwrap_or(path);
        if (cx.ignored)(rel.trim_start_matches("./"), false) {
            return Err(Outcome::fail(
                format!("{path} is ignored by git; checks do not read ignored files"),
                vec![],
            ));
        }
        Ok(vec![rel.to_owned()])
    }
}

fn read_uncached(cx: &CheckContext<'_>, rel: &str) -> Option<std::rc::Rc<str>> {
    let full = cx.work_dir.join(rel);
    let meta = std::fs::symlink_metadata(&full).ok()?;
    if !meta.is_file() || meta.len() > MAX_SCAN {
        return None;
    }
    let bytes = std::fs::read(full).ok()?;
    Some(match String::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into(),
    })
}

fn read_small(cx: &CheckContext<'_>, rel: &str) -> Option<std::rc::Rc<str>> {
    let Some(cache) = cx.files else {
        return read_uncached(cx, rel);
    };
    if let Some(hit) = cache.0.borrow().get(rel) {
        return hit.clone();
    }
    let text = read_uncached(cx, rel);
    cache.0.borrow_mut().insert(rel.to_owned(), text.clone());
    text
}

fn pattern(cx: &CheckContext<'_>, regex: &str, path: &str, expected: Expected) -> Outcome {
    let re = match Regex::new(regex) {
        Ok(r) => r,
        Err(e) => return Outcome::fail(format!("the regex {regex} is invalid: {e}"), vec![]),
    };
    let files = match target_files(cx, path) {
        Ok(f) => f,
        // A path that does not exist holds no match: `expected: 0` passes, `>0` fails.
        Err(_) if inside(cx, path).is_some_and(|full| std::fs::symlink_metadata(full).is_err()) => {
            Vec::new()
        }
        Err(o) => return o,
    };
    // A whole-file test first: most files of a folder do not match at all, and one search of
    // the text is cheaper than one per line. `(?mR)` makes `^`/`$` match at every line (as in
    // the line-by-line search below), so the test never misses a line that would match.
    let prefilter = (!regex.contains("\\A") && !regex.contains("\\z"))
        .then(|| Regex::new(&format!("(?mR:{regex})")).ok())
        .flatten();
    let mut count = 0u64;
    let mut evidence = Vec::new();
    for rel in &files {
        let Some(text) = read_small(cx, rel) else {
            continue;
        };
        if prefilter.as_ref().is_some_and(|p| !p.is_match(&text)) {
            continue;
        }
        if regex.contains("(?m)") || regex.contains("(?s)") || regex.contains("\\n") {
            // A multi-line pattern is matched against the whole file.
            for m in re.find_iter(&text) {
                count += 1;
                if evidence.len() < MAX_EVIDENCE {
                    let line = text[..m.start()].matches('\n').count() + 1;
                    let body = text.lines().nth(line - 1).unwrap_or_default();
                    evidence.push(Evidence::line(rel, line, body, cx.quote));
                }
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                if re.is_match(line) {
                    count += 1;
                    if evidence.len() < MAX_EVIDENCE {
                        evidence.push(Evidence::line(rel, i + 1, line, cx.quote));
                    }
                }
            }
        }
    }
    let summary = format!(
        "{count} match{} of {regex} in {path} (expected {expected})",
        if count == 1 { "" } else { "es" }
    );
    if expected.holds(count) {
        Outcome::pass(summary, evidence)
    } else {
        Outcome::fail(summary, evidence)
    }
}

/// One placeholder or clarification marker left in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// 1-based line number.
    pub line: usize,
    /// The marker as written (`[Product owner]`, `[NEEDS CLARIFICATION: who?]`, `TODO`).
    pub marker: String,
}

/// The placeholders of `text`: bracketed template text (`[Product owner]`, `FEAT-[NNN]`,
/// `[...]`), `[NEEDS CLARIFICATION …]`, and the words `TODO`, `TBD` and `FIXME`. Not
/// counted: task boxes (`[ ]`, `[x]`), links (`[text](url)`, `[text][ref]`, `[ref]: url`), a
/// bracket written as `\[`, code (fenced blocks and `inline` spans) and HTML comments.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let words = Regex::new(r"\b(TODO|TBD|FIXME)\b").expect("a valid regex");
    let plains = plain_lines(text);
    let mut out = Vec::new();
    for (i, plain) in plains.iter().enumerate() {
        let mut found: Vec<(usize, String)> = Vec::new();
        let bytes = plain.as_bytes();
        let mut at = 0;
        while let Some(open) = plain[at..].find('[').map(|o| o + at) {
            // The closing bracket: on this line, or on one of the next few (a placeholder
            // sentence wrapped over lines).
            let (inner, next) = match plain[open + 1..].find(']').map(|c| c + open + 1) {
                Some(close) => {
                    at = close + 1;
                    (
                        plain[open + 1..close].to_owned(),
                        bytes.get(close + 1).copied(),
                    )
                }
                None => {
                    at = plain.len();
                    let mut inner = plain[open + 1..].to_owned();
                    let mut closed = None;
                    for later in plains.iter().skip(i + 1).take(4) {
                        match later.find(['[', ']']) {
                            Some(c) if later.as_bytes()[c] == b']' => {
                                inner.push(' ');
                                inner.push_str(later[..c].trim());
                                closed = Some(later.as_bytes().get(c + 1).copied());
                                break;
                            }
                            Some(_) => break,
                            None => {
                                inner.push(' ');
                                inner.push_str(later.trim());
                            }
                        }
                    }
                    match closed {
                        Some(next) => (inner, next),
                        None => break,
                    }
                }
            };
            if inner.contains('[') {
                at = open + 1;
                continue;
            }
            let escaped = open > 0 && bytes[open - 1] == b'\\';
            let after_link = open > 0 && bytes[open - 1] == b']';
            let link = matches!(next, Some(b'(') | Some(b'['))
                || (next == Some(b':') && plain[..open].trim().is_empty());
            let task_box = inner.trim().chars().count() <= 1;
            if escaped || after_link || link || task_box {
                continue;
            }
            found.push((open, format!("[{inner}]")));
        }
        for m in words.find_iter(plain) {
            if !found
                .iter()
                .any(|(s, f)| *s <= m.start() && m.end() <= s + f.len())
            {
                found.push((m.start(), m.as_str().to_owned()));
            }
        }
        found.sort();
        out.extend(found.into_iter().map(|(_, marker)| Placeholder {
            line: i + 1,
            marker,
        }));
    }
    out
}

/// Each line of `text` as placeholders are looked for in it: fenced code blocks empty, HTML
/// comments and `inline code` blanked out.
fn plain_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    let mut in_comment = false;
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            out.push(String::new());
            continue;
        }
        if let Some(f) = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f)) {
            fence = Some(f);
            out.push(String::new());
            continue;
        }
        // What is left of the line outside comments.
        let mut line = String::new();
        let mut rest = raw;
        while !rest.is_empty() {
            if in_comment {
                match rest.find("-->") {
                    Some(end) => {
                        rest = &rest[end + 3..];
                        in_comment = false;
                    }
                    None => rest = "",
                }
            } else {
                match rest.find("<!--") {
                    Some(start) => {
                        line.push_str(&rest[..start]);
                        rest = &rest[start + 4..];
                        in_comment = true;
                    }
                    None => {
                        line.push_str(rest);
                        rest = "";
                    }
                }
            }
        }
        let mut plain = String::new();
        for (n, part) in line.split('`').enumerate() {
            if n % 2 == 0 {
                plain.push_str(part);
            } else {
                plain.push_str(&" ".repeat(part.len() + 2));
            }
        }
        out.push(plain);
    }
    out
}

fn filled(cx: &CheckContext<'_>, path: &str) -> Outcome {
    // The path may name variables (`docs/adr/{{ adr_id }}.md`).
    let path = match template::render(path, cx.variables) {
        Ok(p) => p,
        Err(e) => return Outcome::fail(format!("the path {path} does not render: {e}"), vec![]),
    };
    let path = path.as_str();
    let files = if path.contains(['*', '?', '[', '{']) {
        glob_files(cx, path)
    } else {
        target_files(cx, path)
    };
    let files = match files {
        Ok(f) => f,
        Err(o) => return o,
    };
    if files.is_empty() {
        return Outcome::fail(format!("no file to fill in matches {path}"), vec![]);
    }
    // A folder or glob holds items of their own: the rendered file is a model to copy.
    let many = files.len() > 1 || files.first().is_some_and(|f| f != path);
    let mut untouched = Vec::new();
    let mut left = Vec::new();
    for rel in &files {
        if let Some(by) = (cx.as_rendered)(rel) {
            untouched.push((rel.clone(), by));
            continue;
        }
        let Some(text) = read_small(cx, rel) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for p in placeholders(&text) {
            let line = lines[p.line - 1].to_owned();
            left.push((rel.clone(), p, line));
        }
    }
    if !untouched.is_empty() {
        let names: Vec<String> = untouched
            .iter()
            .map(|(rel, by)| format!("{rel} ({by})"))
            .collect();
        let (one, verb) = if untouched.len() == 1 {
            ("it", "is")
        } else {
            ("them", "are")
        };
        return Outcome::fail(
            format!(
                "{} {verb} still the template as ddx rendered {one}: write the content it asks for{}",
                names.join(", "),
                if many {
                    format!(", under the name it asks for (or remove {one})")
                } else {
                    String::new()
                }
            ),
            untouched
                .iter()
                .map(|(rel, _)| Evidence::file(rel))
                .collect(),
        );
    }
    if left.is_empty() {
        let n = files.len();
        return Outcome::pass(
            format!(
                "{path}: {n} file{} changed from the template, no placeholder left",
                if n == 1 { "" } else { "s" }
            ),
            files
                .iter()
                .take(MAX_EVIDENCE)
                .map(Evidence::file)
                .collect(),
        );
    }
    let first: Vec<String> = left
        .iter()
        .take(3)
        .map(|(rel, p, _)| format!("{} ({rel}:{})", p.marker, p.line))
        .collect();
    let more = left.len().saturating_sub(3);
    Outcome::fail(
        format!(
            "{} placeholder{} left in {path}; replace {}{}",
            left.len(),
            if left.len() == 1 { "" } else { "s" },
            first.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
        left.iter()
            .take(MAX_EVIDENCE)
            .map(|(rel, p, line)| Evidence::line(rel, p.line, line, cx.quote))
            .collect(),
    )
}

fn unique_ids(cx: &CheckContext<'_>, regex: &str, path: &str) -> Outcome {
    let re = match Regex::new(regex) {
        Ok(r) => r,
        Err(e) => return Outcome::fail(format!("the regex {regex} is invalid: {e}"), vec![]),
    };
    let is_dir = inside(cx, path).is_some_and(|p| p.is_dir());
    let files = match target_files(cx, path) {
        Ok(f) => f,
        Err(o) => return o,
    };
    let mut seen: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    if is_dir {
        for rel in &files {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if let Some(m) = re.find(name) {
                seen.entry(m.as_str().to_owned())
                    .or_default()
                    .push(Evidence::file(rel.clone()));
            }
        }
    } else {
        for rel in &files {
            let Some(text) = read_small(cx, rel) else {
                continue;
            };
            for (i, line) in text.lines().enumerate() {
                // An id stands at the start of a line or of a table row's first cell.
                let body = line.trim_start_matches(|c: char| {
                    c.is_whitespace() || matches!(c, '|' | '-' | '*' | '#' | '>')
                });
                if let Some(m) = re.find(body).filter(|m| m.start() == 0) {
                    seen.entry(m.as_str().to_owned())
                        .or_default()
                        .push(Evidence::line(rel, i + 1, line, cx.quote));
                }
            }
        }
    }
    let dups: Vec<(&String, &Vec<Evidence>)> = seen.iter().filter(|(_, v)| v.len() > 1).collect();
    if dups.is_empty() {
        return Outcome::pass(
            format!(
                "{} id{} in {path}, each once",
                seen.len(),
                if seen.len() == 1 { "" } else { "s" }
            ),
            vec![],
        );
    }
    let names: Vec<String> = dups
        .iter()
        .map(|(id, v)| format!("{id} ({}x)", v.len()))
        .collect();
    let evidence = dups
        .iter()
        .flat_map(|(_, v)| v.iter().cloned())
        .take(MAX_EVIDENCE)
        .collect();
    Outcome::fail(
        format!("duplicate ids in {path}: {}", names.join(", ")),
        evidence,
    )
}

fn run_command(cx: &CheckContext<'_>, command: &str, timeout: u64) -> Outcome {
    let rendered = match template::render(command, cx.variables) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("the command does not render: {e}"), vec![]),
    };
    if !cx.allow_commands {
        return Outcome::fail(
            format!("not run: `{rendered}` comes from an untrusted source (use --trust)"),
            vec![],
        );
    }
    match run_shell(cx.work_dir, &rendered, Duration::from_secs(timeout)) {
        Ok(run) => {
            let evidence = run
                .tail
                .iter()
                .map(|l| Evidence {
                    path: format!("$ {rendered}"),
                    line: None,
                    text: Some(l.clone()),
                    hash: None,
                })
                .collect();
            match run.status {
                Some(0) => Outcome::pass(format!("`{rendered}` exited with 0"), evidence),
                Some(code) => Outcome::fail(format!("`{rendered}` exited with {code}"), evidence),
                None if run.timed_out => Outcome::fail(
                    format!("`{rendered}` ran longer than {timeout} s and was stopped"),
                    evidence,
                ),
                None => Outcome::fail(format!("`{rendered}` was killed by a signal"), evidence),
            }
        }
        Err(e) => Outcome::fail(format!("`{rendered}` could not start: {e}"), vec![]),
    }
}

/// What a finished shell command left behind.
#[derive(Debug)]
pub struct ShellRun {
    /// The exit code; `None` when killed by a signal or the timeout.
    pub status: Option<i32>,
    pub timed_out: bool,
    /// The last lines of its combined output.
    pub tail: Vec<String>,
    /// Bytes of output in all.
    pub output_bytes: usize,
}

/// Runs `sh -c command` in `dir` with a timeout; on timeout the whole process group is killed.
pub fn run_shell(dir: &Path, command: &str, timeout: Duration) -> std::io::Result<ShellRun> {
    run_shell_with_input(dir, command, timeout, None)
}

/// [`run_shell`] with `input` written to the command's stdin.
pub fn run_shell_with_input(
    dir: &Path,
    command: &str,
    timeout: Duration,
    input: Option<&[u8]>,
) -> std::io::Result<ShellRun> {
    run_shell_full(dir, command, &[], timeout, input, false)
}

/// Runs `sh -c command ddx args…` in `dir` (so the command sees `args` as `"$@"`), with
/// `input` on its stdin and a timeout. With `echo`, its output is also passed through to this
/// process's stdout and stderr as it arrives (for agents and actions a person watches).
pub fn run_shell_full(
    dir: &Path,
    command: &str,
    args: &[String],
    timeout: Duration,
    input: Option<&[u8]>,
    echo: bool,
) -> std::io::Result<ShellRun> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .arg("ddx")
        .args(args)
        .current_dir(dir)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn()?;
    let feeder = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => {
            let bytes = bytes.to_vec();
            Some(std::thread::spawn(move || {
                use std::io::Write;
                // A command that does not read its input is not an error.
                let _ = stdin.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let stdout = child
        .stdout
        .take()
        .map(|s| (Box::new(s) as Box<dyn Read + Send>, true));
    let stderr = child
        .stderr
        .take()
        .map(|s| (Box::new(s) as Box<dyn Read + Send>, false));
    let readers: Vec<_> = [stdout, stderr]
        .into_iter()
        .flatten()
        .map(|(mut r, is_out)| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    match r.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if echo {
                                use std::io::Write;
                                // Output the reader no longer wants is not an error of ours.
                                let _ = if is_out {
                                    std::io::stdout().write_all(&chunk[..n])
                                } else {
                                    std::io::stderr().write_all(&chunk[..n])
                                };
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                    }
                }
                buf
            })
        })
        .collect();
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill_group(&mut child);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let mut output = Vec::new();
    for r in readers {
        output.extend(r.join().unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&output);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..]
        .iter()
        .map(|l| l.chars().take(300).collect())
        .collect();
    Ok(ShellRun {
        status: if timed_out { None } else { status.code() },
        timed_out,
        tail,
        output_bytes: output.len(),
    })
}

fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group the child leads.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fixture {
        dir: tempfile::TempDir,
        vars: serde_json::Value,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                dir: tempfile::tempdir().unwrap(),
                vars: json!({"name": "shop", "empty": "", "cmd": "exit 3"}),
            }
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        fn eval(&self, check: Check) -> Outcome {
            let done = |p: &str| p == "frame";
            let committed = |p: &str| {
                Ok(if p == "a.md" {
                    Committed::Clean
                } else {
                    Committed::Absent
                })
            };
            let cx = CheckContext {
                work_dir: self.dir.path(),
                variables: &self.vars,
                phase_completed: &done,
                committed: &committed,
                as_rendered: &|p: &str| {
                    (p == "docs/rendered.md").then(|| "artifact spec".to_owned())
                },
                allow_commands: true,
                quote: true,
                ignored: &|p: &str, _| p == ".env" || p.starts_with("secret"),
                files: None,
            };
            evaluate(&check, &cx)
        }
    }

    fn gt0() -> Expected {
        Expected {
            op: CountOp::Gt,
            n: 0,
        }
    }

    #[test]
    fn file_and_glob_checks() {
        let f = Fixture::new();
        f.write("docs/prd.md", "x");
        f.write("docs/stories/US-001-a.md", "x");
        f.write("docs/stories/US-002-b.md", "x");
        f.write("docs/stories/deep/US-003.md", "x");
        assert!(
            f.eval(Check::FileExists {
                path: "docs/prd.md".into()
            })
            .passed
        );
        assert!(
            !f.eval(Check::FileExists {
                path: "docs/none.md".into()
            })
            .passed
        );
        let o = f.eval(Check::GlobCount {
            glob: "docs/stories/US-*.md".into(),
            expected: gt0(),
        });
        assert!(o.passed);
        assert_eq!(
            o.summary,
            "2 files match docs/stories/US-*.md (expected >0)"
        );
        let o = f.eval(Check::GlobCount {
            glob: "docs/**/US-*.md".into(),
            expected: Expected::parse("3").unwrap(),
        });
        assert!(o.passed, "{o:?}");
        assert!(
            !f.eval(Check::GlobCount {
                glob: "none/*.md".into(),
                expected: gt0()
            })
            .passed
        );
    }

    #[test]
    fn the_whole_file_prefilter_never_hides_a_line() {
        let f = Fixture::new();
        f.write("d/crlf.md", "# Title\r\nbody end\r\n- [ ] open\r\n");
        f.write("d/none.md", "nothing here\n");
        let count = |regex: &str| {
            let o = f.eval(Check::Pattern {
                regex: regex.into(),
                path: "d/".into(),
                expected: Expected::ABSENT,
            });
            o.evidence.len()
        };
        assert_eq!(count("^# "), 1);
        assert_eq!(count("end$"), 1);
        assert_eq!(count(r"^- \[ \]"), 1);
        assert_eq!(count(r"\Abody"), 1);
        assert_eq!(count("(?i)TITLE"), 1);
        assert_eq!(count("here|open"), 2);
        assert_eq!(count("absent"), 0);
        // A cache shared by several checks reads each file once and gives the same answers.
        let cache = FileCache::default();
        let done = |_: &str| false;
        let committed = |_: &str| Ok(Committed::Absent);
        let cx = CheckContext {
            work_dir: f.dir.path(),
            variables: &f.vars,
            phase_completed: &done,
            committed: &committed,
            as_rendered: &|_| None,
            allow_commands: false,
            quote: true,
            ignored: &|_, _| false,
            files: Some(&cache),
        };
        let check = Check::Pattern {
            regex: "^# ".into(),
            path: "d/".into(),
            expected: Expected::PRESENT,
        };
        assert!(evaluate(&check, &cx).passed);
        assert_eq!(cache.0.borrow().len(), 2);
        assert!(evaluate(&check, &cx).passed);
    }

    #[test]
    fn pattern_counts_lines_with_evidence() {
        let f = Fixture::new();
        f.write(
            "docs/prd.md",
            "# PRD\n[NEEDS CLARIFICATION] who?\nok\n[NEEDS CLARIFICATION] when?\n",
        );
        let o = f.eval(Check::Pattern {
            regex: r"\[NEEDS CLARIFICATION".into(),
            path: "docs/".into(),
            expected: Expected::ABSENT,
        });
        assert!(!o.passed);
        assert_eq!(
            o.summary,
            r"2 matches of \[NEEDS CLARIFICATION in docs/ (expected 0)"
        );
        assert_eq!(
            o.evidence[0],
            Evidence {
                path: "docs/prd.md".into(),
                line: Some(2),
                text: Some("[NEEDS CLARIFICATION] who?".into()),
                hash: None,
            }
        );
        let o = f.eval(Check::Pattern {
            regex: "(?m)^ok$".into(),
            path: "docs/prd.md".into(),
            expected: Expected::PRESENT,
        });
        assert!(o.passed);
        assert_eq!(o.evidence[0].line, Some(3));
        let o = f.eval(Check::Pattern {
            regex: "x".into(),
            path: "missing.md".into(),
            expected: Expected::ABSENT,
        });
        assert!(
            o.passed,
            "a missing path counts zero matches: {}",
            o.summary
        );
        let o = f.eval(Check::Pattern {
            regex: "x".into(),
            path: "missing.md".into(),
            expected: Expected::PRESENT,
        });
        assert!(!o.passed);
        assert!(o.summary.contains("missing.md"), "{}", o.summary);
    }

    #[test]
    fn unique_ids_names_duplicates_and_where_they_stand() {
        let f = Fixture::new();
        f.write("reg.md", "| ID | Name |\n|----|----|\n| FEAT-001 | a |\n| FEAT-002 | b |\n| FEAT-001 | c |\nsee FEAT-002 in text\n");
        let o = f.eval(Check::UniqueIds {
            regex: r"FEAT-\d+".into(),
            path: "reg.md".into(),
        });
        assert!(!o.passed);
        assert_eq!(o.summary, "duplicate ids in reg.md: FEAT-001 (2x)");
        assert_eq!(
            o.evidence
                .iter()
                .map(|e| e.line.unwrap())
                .collect::<Vec<_>>(),
            vec![3, 5]
        );
        f.write("adr/ADR-0001-x.md", "");
        f.write("adr/ADR-0002-y.md", "");
        assert!(
            f.eval(Check::UniqueIds {
                regex: r"ADR-\d{4}".into(),
                path: "adr/".into()
            })
            .passed
        );
        f.write("adr/ADR-0002-z.md", "");
        let o = f.eval(Check::UniqueIds {
            regex: r"ADR-\d{4}".into(),
            path: "adr/".into(),
        });
        assert_eq!(o.summary, "duplicate ids in adr/: ADR-0002 (2x)");
        assert_eq!(o.evidence.len(), 2);
    }

    #[test]
    fn commands_run_with_variables_and_timeouts() {
        let f = Fixture::new();
        let o = f.eval(Check::Command {
            command: "echo {{ name }}".into(),
            timeout: 10,
        });
        assert!(o.passed);
        assert_eq!(o.evidence[0].text.as_deref(), Some("shop"));
        let o = f.eval(Check::Command {
            command: "{{ cmd }}".into(),
            timeout: 10,
        });
        assert_eq!(o.summary, "`exit 3` exited with 3");
        let start = Instant::now();
        let o = f.eval(Check::Command {
            command: "sleep 30 & sleep 30".into(),
            timeout: 1,
        });
        assert!(!o.passed);
        assert!(o.summary.contains("ran longer than 1 s"), "{}", o.summary);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the process group was killed"
        );
    }

    #[test]
    fn state_checks() {
        let f = Fixture::new();
        assert!(
            f.eval(Check::PhaseCompleted {
                phase: "frame".into()
            })
            .passed
        );
        assert!(
            !f.eval(Check::PhaseCompleted {
                phase: "design".into()
            })
            .passed
        );
        assert!(
            f.eval(Check::VariableSet {
                name: "name".into()
            })
            .passed
        );
        assert!(
            !f.eval(Check::VariableSet {
                name: "empty".into()
            })
            .passed
        );
        assert!(
            !f.eval(Check::VariableSet {
                name: "nope".into()
            })
            .passed
        );
        assert!(
            f.eval(Check::Committed {
                path: "a.md".into()
            })
            .passed
        );
        assert!(
            !f.eval(Check::Committed {
                path: "b.md".into()
            })
            .passed
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let f = Fixture::new();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "TOKEN").unwrap();
        std::os::unix::fs::symlink(outside.path(), f.dir.path().join("docs")).unwrap();
        let o = f.eval(Check::Pattern {
            regex: "TOKEN".into(),
            path: "docs/secret.md".into(),
            expected: Expected::PRESENT,
        });
        assert!(!o.passed);
        assert!(o.summary.contains("symbolic link"));
    }

    #[test]
    fn files_git_ignores_are_never_read() {
        let f = Fixture::new();
        f.write(".env", "API_SECRET=hunter2\n");
        f.write("secrets/key", "API_SECRET=k\n");
        f.write("docs/a.md", "API_SECRET is documented\n");
        let o = f.eval(Check::Pattern {
            regex: "API_SECRET".into(),
            path: ".".into(),
            expected: gt0(),
        });
        assert!(o.passed);
        assert_eq!(o.evidence.len(), 1, "{:?}", o.evidence);
        assert_eq!(o.evidence[0].path, "docs/a.md");
        let o = f.eval(Check::Pattern {
            regex: "API_SECRET".into(),
            path: ".env".into(),
            expected: gt0(),
        });
        assert!(!o.passed);
        assert_eq!(
            o.summary,
            ".env is ignored by git; checks do not read ignored files"
        );
        assert!(o.evidence.is_empty());
    }

    #[test]
    fn unquoted_evidence_is_the_location_and_the_hash_of_the_line() {
        let f = Fixture::new();
        f.write("a.md", "intro\n  API_SECRET=hunter2\r\n");
        let done = |_: &str| false;
        let committed = |_: &str| Ok(Committed::Absent);
        let cx = CheckContext {
            work_dir: f.dir.path(),
            variables: &f.vars,
            phase_completed: &done,
            committed: &committed,
            allow_commands: false,
            quote: false,
            ignored: &|_, _| false,
            files: None,
            as_rendered: &|_| None,
        };
        for regex in ["SECRET", "(?m)SECRET"] {
            let check = Check::Pattern {
                regex: regex.into(),
                path: "a.md".into(),
                expected: Expected::ABSENT,
            };
            let o = evaluate(&check, &cx);
            assert_eq!(o.evidence.len(), 1, "{regex}");
            let e = &o.evidence[0];
            assert_eq!(
                (e.path.as_str(), e.line, e.text.as_deref()),
                ("a.md", Some(2), None)
            );
            // The SHA-256 blob id of `  API_SECRET=hunter2`.
            assert_eq!(
                e.hash.as_deref(),
                Some("sha256:cea0dad6aa27e599e51b5b42a11b21d09990ef21316af686ee1a4e443a9ff847")
            );
        }
    }

    #[test]
    fn evidence_lines_are_cut_to_the_documented_length() {
        let f = Fixture::new();
        f.write("docs/long.md", &format!("KEY={}\n", "x".repeat(5000)));
        for regex in ["KEY=", "(?m)^KEY="] {
            let o = f.eval(Check::Pattern {
                regex: regex.into(),
                path: "docs/".into(),
                expected: gt0(),
            });
            let text = o.evidence[0].text.as_deref().unwrap();
            assert_eq!(text.chars().count(), MAX_EVIDENCE_LINE, "{regex}");
        }
    }

    #[test]
    fn placeholders_are_template_brackets_and_markers_not_links_boxes_or_code() {
        let text = "# US-[NNN]: [Short title]\n\
            As a [persona from the PRD], I want it.\n\
            - [ ] open task\n\
            - [x] done task\n\
            See [the guide](https://x) and [ref][1], not \\[literal].\n\
            [1]: https://example.com\n\
            Pros: [...] and TODO later, TBD.\n\
            `[in code]` stays\n\
            <!-- Save as [NAME].md -->\n\
            ```\n\
            let v = [1, 2];\n\
            ```\n\
            [NEEDS CLARIFICATION: who signs?]\n\
            [Three sentences, written\n\
            last.] and [an open bracket\n";
        let found: Vec<(usize, String)> = placeholders(text)
            .into_iter()
            .map(|p| (p.line, p.marker))
            .collect();
        let want: Vec<(usize, String)> = [
            (1, "[NNN]"),
            (1, "[Short title]"),
            (2, "[persona from the PRD]"),
            (7, "[...]"),
            (7, "TODO"),
            (7, "TBD"),
            (13, "[NEEDS CLARIFICATION: who signs?]"),
            (14, "[Three sentences, written last.]"),
        ]
        .into_iter()
        .map(|(l, m)| (l, m.to_owned()))
        .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn filled_fails_on_the_rendered_template_and_on_placeholders_left() {
        let f = Fixture::new();
        f.write("docs/rendered.md", "# Spec\n\n[Describe it]\n");
        let o = f.eval(Check::Filled {
            path: "docs/rendered.md".into(),
        });
        assert!(!o.passed);
        assert_eq!(
            o.summary,
            "docs/rendered.md (artifact spec) is still the template as ddx rendered it: write the content it asks for"
        );
        f.write("docs/other.md", "# Spec\n\nOwner: [Product owner]\nDone.\n");
        let o = f.eval(Check::Filled {
            path: "docs/other.md".into(),
        });
        assert!(!o.passed);
        assert_eq!(
            o.summary,
            "1 placeholder left in docs/other.md; replace [Product owner] (docs/other.md:3)"
        );
        assert_eq!(
            o.evidence[0],
            Evidence {
                path: "docs/other.md".into(),
                line: Some(3),
                text: Some("Owner: [Product owner]".into()),
                hash: None,
            }
        );
        f.write("docs/other.md", "# Spec\n\nOwner: Ann\n");
        let o = f.eval(Check::Filled {
            path: "docs/other.md".into(),
        });
        assert!(o.passed, "{o:?}");
        // A folder: every file beneath it; the rendered one holds the gate shut.
        let o = f.eval(Check::Filled {
            path: "docs/".into(),
        });
        assert!(!o.passed);
        assert!(
            o.summary.starts_with("docs/rendered.md (artifact spec)"),
            "{}",
            o.summary
        );
        let o = f.eval(Check::Filled {
            path: "none.md".into(),
        });
        assert!(!o.passed);
        assert_eq!(o.summary, "none.md does not exist");
    }
}
