//! The catalog cache under `.git/ddx/cache/`: one file per source, named after the source's
//! tree id (or file digest) and the binary's version.
//!
//! A key names exactly one content, so an entry is never stale and nothing needs invalidating:
//! a commit, `git pull` or `git fetch` changes a tree id and so the file looked for. Files are
//! written atomically; a missing, unreadable or foreign file is a miss, never an error, so the
//! cache can be deleted at any time.

use super::index::{BrokenEntry, Entry};
use super::source::{digest, Root};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped whenever the segment layout or what the index keeps changes.
const FORMAT: u32 = 1;
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The index of one source, as cached.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Segment {
    pub format: u32,
    pub ddx_version: String,
    pub source: String,
    pub key: String,
    pub entries: Vec<Entry>,
    pub broken: Vec<BrokenEntry>,
}

impl Segment {
    pub fn new(root: &Root, key: &str) -> Segment {
        Segment {
            format: FORMAT,
            ddx_version: VERSION.to_owned(),
            source: root.source.to_string(),
            key: key.to_owned(),
            entries: Vec::new(),
            broken: Vec::new(),
        }
    }

    fn fits(&self, root: &Root) -> bool {
        self.format == FORMAT
            && self.ddx_version == VERSION
            && self.source == root.source.to_string()
    }
}

pub(crate) struct Cache {
    dir: PathBuf,
}

const PREFIX: &str = "catalog-";
const SUFFIX: &str = ".json";

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    fn file(&self, root: &Root, key: &str) -> PathBuf {
        let id = digest([
            FORMAT.to_string().as_bytes(),
            VERSION.as_bytes(),
            root.source.to_string().as_bytes(),
            key.as_bytes(),
        ]);
        self.dir
            .join(format!("{PREFIX}{}-{id}{SUFFIX}", root.slug()))
    }

    /// The files of `root`'s source other than `except`.
    fn files_of(&self, root: &Root) -> Vec<PathBuf> {
        let slug = root.slug();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let Some(name) = name.to_str() else {
                    return false;
                };
                name.strip_prefix(PREFIX)
                    .and_then(|n| n.strip_suffix(SUFFIX))
                    .and_then(|n| n.rsplit_once('-'))
                    .is_some_and(|(s, _)| s == slug)
            })
            .map(|e| e.path())
            .collect()
    }

    fn read(path: &Path) -> Option<Segment> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice::<Segment>(&bytes) {
            Ok(seg) => Some(seg),
            Err(e) => {
                tracing::debug!("catalog cache: ignoring {}: {e}", path.display());
                None
            }
        }
    }

    /// The cached segment of `root` under `key`, if there is a current one.
    pub fn load(&self, root: &Root, key: &str) -> Option<Segment> {
        Self::read(&self.file(root, key)).filter(|s| s.fits(root) && s.key == key)
    }

    /// The most recent segment of `root` under any key, to reuse unchanged workflows from.
    pub fn latest(&self, root: &Root) -> Option<Segment> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = self
            .files_of(root)
            .into_iter()
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        files.sort();
        files
            .into_iter()
            .rev()
            .find_map(|(_, p)| Self::read(&p).filter(|s| s.fits(root)))
    }

    /// Writes `segment` atomically and removes the source's older segments. Failing to cache is
    /// not an error: the next run builds the segment again.
    pub fn store(&self, root: &Root, segment: &Segment) {
        let path = self.file(root, &segment.key);
        let result = serde_json::to_vec(segment)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_file(&self.dir, &path, &bytes));
        match result {
            Ok(()) => {
                for old in self.files_of(root).into_iter().filter(|p| p != &path) {
                    let _ = std::fs::remove_file(old);
                }
            }
            Err(e) => tracing::debug!("catalog cache: cannot write {}: {e}", path.display()),
        }
    }
}

/// Writes through a temporary file renamed into place. No fsync: a cache file cut short by a
/// crash does not parse or does not match its key, and is then simply a miss.
fn write_file(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
