//! The catalog cache under `.git/ddx/cache/`: one file per source, named after the source's
//! tree id (or file digest) and the binary's version.
//!
//! A key names exactly one content, so an entry is never stale and nothing needs invalidating:
//! a commit, `git pull` or `git fetch` changes a tree id and so the file looked for. Files are
//! written atomically; a missing, unreadable or foreign file is a miss, never an error, so the
//! cache can be deleted at any time. Reading a file parses no YAML: entries are kept in the
//! compact form of [`super::record`].

use super::index::BrokenEntry;
use super::record::{Reader, Record, Writer};
use super::source::{digest, Root};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bumped whenever the file layout or what the index keeps changes.
const FORMAT: u32 = 2;
const VERSION: &str = env!("CARGO_PKG_VERSION");
const MAGIC: &[u8] = b"ddx catalog cache\n";

/// The index of one source.
#[derive(Debug)]
pub(crate) struct Segment {
    pub source: String,
    pub key: String,
    pub records: Vec<Record>,
    pub broken: Vec<BrokenEntry>,
}

impl Segment {
    pub fn new(root: &Root, key: &str) -> Segment {
        Segment {
            source: root.source.to_string(),
            key: key.to_owned(),
            records: Vec::new(),
            broken: Vec::new(),
        }
    }

    fn encode(&self) -> std::io::Result<Vec<u8>> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u32(FORMAT);
        w.str(VERSION);
        w.str(&self.source);
        w.str(&self.key);
        w.u32(u32::try_from(self.records.len()).map_err(std::io::Error::other)?);
        for r in &self.records {
            let raw = r.raw();
            w.u32(u32::try_from(raw.len()).map_err(std::io::Error::other)?);
            w.buf.extend_from_slice(raw);
        }
        let broken = serde_json::to_string(&self.broken).map_err(std::io::Error::other)?;
        w.str(&broken);
        Ok(w.buf)
    }

    /// Reads a segment; `None` if it is damaged or was written by another version.
    fn decode(bytes: Vec<u8>) -> Option<Segment> {
        let data = Arc::new(bytes);
        let mut r = Reader::new(&data);
        if r.bytes(MAGIC.len())? != MAGIC || r.u32()? != FORMAT || r.str()? != VERSION {
            return None;
        }
        let source = r.str()?.to_owned();
        let key = r.str()?.to_owned();
        let count = r.u32()? as usize;
        let from = r.pos();
        let (records, end) = Record::split(data.clone(), from, count)?;
        let mut r = Reader::new(&data);
        r.bytes(end)?;
        let broken: Vec<BrokenEntry> = serde_json::from_str(r.str()?).ok()?;
        if !r.at_end() {
            return None;
        }
        Some(Segment {
            source,
            key,
            records,
            broken,
        })
    }
}

pub(crate) struct Cache {
    dir: PathBuf,
}

const PREFIX: &str = "catalog-";
const SUFFIX: &str = ".bin";

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

    /// The cache files of `root`'s source.
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

    fn read(path: &Path, root: &Root) -> Option<Segment> {
        let bytes = std::fs::read(path).ok()?;
        let seg = Segment::decode(bytes);
        if seg.is_none() {
            tracing::debug!(
                "catalog cache: ignoring {}: damaged or foreign",
                path.display()
            );
        }
        seg.filter(|s| s.source == root.source.to_string())
    }

    /// The cached segment of `root` under `key`, if there is one.
    pub fn load(&self, root: &Root, key: &str) -> Option<Segment> {
        Self::read(&self.file(root, key), root).filter(|s| s.key == key)
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
            .find_map(|(_, p)| Self::read(&p, root))
    }

    /// Writes `segment` atomically and removes the source's older files. Failing to cache is
    /// not an error: the next run builds the segment again.
    pub fn store(&self, root: &Root, segment: &Segment) {
        let path = self.file(root, &segment.key);
        let result = segment
            .encode()
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
/// crash does not decode, and is then simply a miss.
fn write_file(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
