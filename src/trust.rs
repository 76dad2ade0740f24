//! Consent by content: the files whose commands the user trusted, by hash (`ddx trust`).
//!
//! A committed or fetched file that defines commands (`agent.command`, `trusted_sources` in
//! `.ddx/config.yml`) is anyone's to change, so its commands run only when the user trusted the
//! file's exact content. The ledger of that consent is `.git/ddx/trust`: local, never shared,
//! like direnv's and mise's `trust`. A file whose content changed since is not trusted until the
//! user trusts it again. Each line is `<hash> <subject>`: for a file, the file's git blob id in
//! SHA-256 (`sha256:` and 64 hex digits), whatever the repository's own hash; for a workflow of
//! a catalog source that is not trusted (`<source>/<name>`), `git:` and its definition's tree id.
//!
//! A damaged ledger (unreadable bytes, lines that are not entries) trusts nothing it cannot read
//! and is never fatal: the damage is reported, and the next `ddx trust` rewrites the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The ledger's file name under `.git/ddx/`.
pub const LEDGER: &str = "trust";

/// Why the ledger cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct TrustError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The content hash ddx trusts by: `sha256:` and the SHA-256 git blob id of `data`.
pub fn content_hash(data: &[u8]) -> String {
    match crate::store::objects::blob_id(crate::store::HashKind::Sha256, data) {
        Some(id) => format!("sha256:{id}"),
        // Hashing in memory does not fail; an empty hash matches no entry.
        None => String::new(),
    }
}

/// Whether a file's content is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The user trusted exactly this content.
    Trusted,
    /// The user trusted the file, but its content changed since.
    Changed,
    /// The user never trusted the file.
    Untrusted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Trusted => "trusted",
            Status::Changed => "changed since you trusted it",
            Status::Untrusted => "not trusted",
        }
    }
}

/// `.git/ddx/trust`: the hash the user trusted, per file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: BTreeMap<String, String>,
    /// What could not be read, for a warning (the ledger is then rewritten on the next trust).
    pub damage: Vec<String>,
}

impl Ledger {
    /// The ledger file in `ddx_dir` (`.git/ddx`).
    pub fn path(ddx_dir: &Path) -> PathBuf {
        ddx_dir.join(LEDGER)
    }

    /// Reads the ledger of `ddx_dir`; a missing file is an empty ledger, and damage is noted.
    pub fn read(ddx_dir: &Path) -> Ledger {
        let path = Self::path(ddx_dir);
        let mut ledger = Ledger::default();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ledger,
            Err(e) => {
                ledger
                    .damage
                    .push(format!("{} cannot be read: {e}", path.display()));
                return ledger;
            }
        };
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let Ok(line) = std::str::from_utf8(line) else {
                ledger
                    .damage
                    .push(format!("{}:{}: not UTF-8, ignored", path.display(), n + 1));
                continue;
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(' ') {
                Some((hash, file)) if valid_hash(hash) && !file.is_empty() => {
                    ledger.entries.insert(file.to_owned(), hash.to_owned());
                }
                _ => ledger.damage.push(format!(
                    "{}:{}: not `<hash> <file>`, ignored",
                    path.display(),
                    n + 1
                )),
            }
        }
        ledger
    }

    /// How `file` (relative to the work tree) with content `data` stands.
    pub fn status(&self, file: &str, data: &[u8]) -> Status {
        self.status_of(file, &content_hash(data))
    }

    /// How `subject` stands when its content has `hash`.
    pub fn status_of(&self, subject: &str, hash: &str) -> Status {
        match self.entries.get(subject) {
            Some(h) if h == hash => Status::Trusted,
            Some(_) => Status::Changed,
            None => Status::Untrusted,
        }
    }

    /// Trusts the content with `hash` for `subject` (replacing what was trusted before).
    pub fn trust_hash(&mut self, subject: &str, hash: &str) {
        self.entries.insert(subject.to_owned(), hash.to_owned());
    }

    /// The hash trusted for `file`, if any.
    pub fn hash(&self, file: &str) -> Option<&str> {
        self.entries.get(file).map(String::as_str)
    }

    /// Trusts `data` as the content of `file` (replacing what was trusted before).
    pub fn trust(&mut self, file: &str, data: &[u8]) {
        self.entries.insert(file.to_owned(), content_hash(data));
    }

    /// Forgets the trust of `file`; whether there was any.
    pub fn revoke(&mut self, file: &str) -> bool {
        self.entries.remove(file).is_some()
    }

    /// Writes the ledger into `ddx_dir` atomically (a temporary file renamed over it).
    pub fn write(&self, ddx_dir: &Path) -> Result<(), TrustError> {
        let path = Self::path(ddx_dir);
        let mut text = String::from(
            "# Files whose commands you trusted with `ddx trust`: <hash> <file>. Local, never shared.\n",
        );
        for (file, hash) in &self.entries {
            text.push_str(&format!("{hash} {file}\n"));
        }
        crate::config::write_atomically(&path, text.as_bytes())
            .map_err(|source| TrustError { path, source })
    }
}

/// The ledger's subject for a workflow of a catalog source: `<source>/<name>`.
pub fn workflow_subject(source: &str, name: &str) -> String {
    format!("{source}/{name}")
}

/// The hash a workflow is trusted by: `git:` and the id of its definition's git tree, which is
/// the tree an instance pins (so the trust holds for exactly what runs).
pub fn tree_hash(tree: &crate::store::ObjectId) -> String {
    format!("git:{tree}")
}

fn valid_hash(hash: &str) -> bool {
    let hex = |h: &str, lens: &[usize]| {
        lens.contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit())
    };
    match hash.split_once(':') {
        Some(("sha256", h)) => hex(h, &[64]),
        Some(("git", h)) => hex(h, &[40, 64]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_sha256_blob_id() {
        // `printf 'hello\n' | git hash-object --stdin` in a SHA-256 repository.
        assert_eq!(
            content_hash(b"hello\n"),
            "sha256:2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4"
        );
    }

    #[test]
    fn a_changed_file_needs_trust_again_and_revoke_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::read(dir.path());
        assert_eq!(ledger.status("c.yml", b"a"), Status::Untrusted);
        ledger.trust("c.yml", b"a");
        ledger.write(dir.path()).unwrap();
        let ledger = Ledger::read(dir.path());
        assert!(ledger.damage.is_empty(), "{:?}", ledger.damage);
        assert_eq!(ledger.status("c.yml", b"a"), Status::Trusted);
        assert_eq!(ledger.status("c.yml", b"b"), Status::Changed);
        assert_eq!(ledger.status("other.yml", b"a"), Status::Untrusted);
        let mut ledger = ledger;
        assert!(ledger.revoke("c.yml"));
        assert!(!ledger.revoke("c.yml"));
        assert_eq!(ledger.status("c.yml", b"a"), Status::Untrusted);
    }

    #[test]
    fn a_damaged_ledger_trusts_nothing_it_cannot_read_and_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let good = content_hash(b"a");
        std::fs::write(
            Ledger::path(dir.path()),
            [
                b"\xff\xfe junk\n".as_slice(),
                b"sha256:1234 short.yml\n",
                format!("{good} c.yml\n").as_bytes(),
            ]
            .concat(),
        )
        .unwrap();
        let ledger = Ledger::read(dir.path());
        assert_eq!(ledger.damage.len(), 2, "{:?}", ledger.damage);
        assert!(ledger.damage[0].ends_with("trust:1: not UTF-8, ignored"));
        assert_eq!(ledger.status("c.yml", b"a"), Status::Trusted);
        assert_eq!(ledger.status("short.yml", b""), Status::Untrusted);
    }
}
