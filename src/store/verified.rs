//! The heads `ddx audit verify` last found intact, remembered in `.git/ddx/verified`.
//!
//! Same format as `.git/ddx/heads` (one `<id> <ref>` line per ref); local and never shared. A
//! later verification names any ref that is not a descendant of its verified head: history
//! that was verified cannot be rewritten unnoticed, even by someone who also rewrites what
//! ddx wrote last.

use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::collections::BTreeMap;

fn path(repo: &Repo) -> std::path::PathBuf {
    repo.ddx_dir().join("verified")
}

/// The verified heads, by ref name. A line that is not `<id> <ref under refs/ddx/>` (damaged
/// bytes, an edit) is left out with a warning naming the file and line: the file is local
/// bookkeeping, never a reason for a read to fail, and the next verification that records
/// rewrites it whole.
pub fn read(repo: &Repo) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    let file = path(repo);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(StoreError::io(&file, e)),
    };
    let mut heads = BTreeMap::new();
    let mut damaged = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Some((name, id)) => {
                heads.insert(name, id);
            }
            None => damaged.push((n + 1).to_string()),
        }
    }
    if !damaged.is_empty() {
        tracing::warn!(
            "{} is damaged (line {}): those heads are not compared; a verification that finds nothing broken rewrites the file",
            file.display(),
            damaged.join(", ")
        );
    }
    Ok(heads)
}

/// One `<hex id> <ref>` line, the ref under `refs/ddx/` and of the characters ddx names refs
/// with.
fn parse_line(line: &[u8]) -> Option<(String, ObjectId)> {
    let text = std::str::from_utf8(line).ok()?;
    let (id, name) = text.split_once(' ')?;
    let plain = name.starts_with("refs/ddx/")
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'-' | b'_' | b'.'));
    if !plain || !matches!(id.len(), 40 | 64) {
        return None;
    }
    Some((name.to_owned(), ObjectId::from_hex(id.as_bytes()).ok()?))
}

/// Replaces the verified heads with `heads` (atomically: a temporary file renamed into place).
pub fn record(repo: &Repo, heads: &BTreeMap<String, ObjectId>) -> Result<(), StoreError> {
    let dir = repo.ddx_dir();
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let file = path(repo);
    let tmp = dir.join(format!("verified.{}.tmp", std::process::id()));
    let text: String = heads
        .iter()
        .map(|(name, id)| format!("{id} {name}\n"))
        .collect();
    std::fs::write(&tmp, text).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| StoreError::io(&file, e))
}
