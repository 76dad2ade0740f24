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

/// The verified heads, by ref name.
pub fn read(repo: &Repo) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    let file = path(repo);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(StoreError::io(&file, e)),
    };
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(id, name)| {
            ObjectId::from_hex(id.as_bytes())
                .ok()
                .map(|id| (name.to_owned(), id))
        })
        .collect())
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
