//! `.git/ddx/heads`: the heads ddx wrote last, and the journal of the step being written.
//!
//! Every ddx writer holds an exclusive lock (`flock`) on `.git/ddx/lock` for its whole
//! transaction (read the tip, decide, write objects, move refs), so ddx writers take turns — every
//! operation moves `refs/ddx/audit` anyway. Before any ref moves, the writer records the step
//! and its intended moves in the file; once the refs have moved it records the new heads and
//! clears the step. The kernel releases the lock when a process dies, so a step still recorded
//! when a writer gets the lock was left by a killed process: an interrupted step, which
//! [`super::pending`] finishes or rolls back. Nothing here depends on pids or timeouts.
//!
//! The lock is the standard library's advisory whole-file lock (`File::lock`, `flock` on Unix)
//! on `.git/ddx/lock`, a file that is never replaced. The heads file is YAML ending in a
//! `# end` line; the lock holder writes it whole to `.git/ddx/heads.new` and renames that over
//! it, so a reader sees the old document or the new one, never a part. Local, never shared.

use super::repo::{Repo, StoreError};
use gix::ObjectId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

/// The heads file, named in the git folder.
const HEADS: &str = "ddx/heads";
/// The writers' lock, named in the git folder.
const LOCK: &str = "ddx/lock";
/// Where the lock holder writes the next heads document before renaming it over the heads file.
const NEXT: &str = "ddx/heads.new";

/// The line that ends the document.
const END: &str = "# end\n";

/// One ref a transaction moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefMove {
    pub name: String,
    /// `None`: the ref must not exist yet.
    #[serde(with = "opt_oid")]
    pub old: Option<ObjectId>,
    #[serde(with = "oid")]
    pub new: ObjectId,
}

/// The document in `.git/ddx/heads`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsDoc {
    /// The step in flight (its commit subject); empty when none is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started: String,
    /// The process writing the step (for messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The step's intended ref moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<RefMove>,
    /// Every ref ddx wrote, with the id it wrote last.
    #[serde(default, with = "oid_map")]
    pub heads: BTreeMap<String, ObjectId>,
}

impl HeadsDoc {
    /// Parses the file's text; `None` when it is damaged.
    pub fn parse(text: &str) -> Option<HeadsDoc> {
        let body = match text.find(END) {
            Some(i) if i == 0 || text.as_bytes()[i - 1] == b'\n' => &text[..i],
            _ => text,
        };
        if body.trim().is_empty() {
            return Some(HeadsDoc::default());
        }
        if let Some(doc) = Self::parse_heads_only(body) {
            debug_assert_eq!(
                serde_yaml::from_str::<HeadsDoc>(body).ok().as_ref(),
                Some(&doc),
                "the quick reading must agree with serde_yaml"
            );
            return Some(doc);
        }
        serde_yaml::from_str(body).ok()
    }

    /// The usual document between transactions, `heads:` and lines of `  refs/…: <hex id>`,
    /// read without a YAML parser; `None` for anything else (serde_yaml reads it then).
    fn parse_heads_only(body: &str) -> Option<HeadsDoc> {
        let mut lines = body.lines();
        let mut doc = HeadsDoc::default();
        match lines.next()? {
            "heads:" => {}
            "heads: {}" => return lines.next().is_none().then_some(doc),
            _ => return None,
        }
        for line in lines {
            let (name, id) = line.strip_prefix("  ")?.split_once(": ")?;
            let plain = name.starts_with("refs/")
                && name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'-' | b'_' | b'.'));
            if !plain || !matches!(id.len(), 40 | 64) || !id.bytes().all(|c| c.is_ascii_hexdigit())
            {
                return None;
            }
            let id = ObjectId::from_hex(id.as_bytes()).ok()?;
            doc.heads.insert(name.to_owned(), id);
        }
        Some(doc)
    }

    fn to_text(&self) -> String {
        let mut text = super::encoding::to_string(self)
            .expect("a document of strings and maps is inside the encoding");
        text.push_str(END);
        text
    }

    /// A step is recorded: under the lock, one whose writer died.
    pub fn in_flight(&self) -> bool {
        !self.step.is_empty() || !self.moves.is_empty()
    }

    pub fn describe(&self) -> String {
        if self.step.is_empty() {
            "an unnamed ddx step".to_owned()
        } else {
            self.step.clone()
        }
    }
}

fn lock_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join(LOCK)
}

pub(crate) fn heads_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join(HEADS)
}

/// The file as it is now (no lock: a reader's view). A damaged file (not UTF-8, not the
/// document) is warned about and read as empty: it is local bookkeeping, never a reason for a
/// read to fail, and the next write rebuilds it.
pub fn peek(repo: &Repo) -> Result<HeadsDoc, StoreError> {
    let path = heads_path(repo);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(parse_or_warn(bytes, &path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HeadsDoc::default()),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

/// The document in `bytes`; an empty one, with a warning naming `path`, when it is damaged.
fn parse_or_warn(bytes: Vec<u8>, path: &std::path::Path) -> HeadsDoc {
    let parsed = String::from_utf8(bytes)
        .ok()
        .and_then(|text| HeadsDoc::parse(&text));
    parsed.unwrap_or_else(|| {
        tracing::warn!(
            "{} is damaged; the heads ddx wrote are forgotten, and the next ddx write rebuilds it",
            path.display()
        );
        HeadsDoc::default()
    })
}

/// The remembered heads, by ref name.
pub fn read(repo: &Repo) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    Ok(peek(repo)?.heads)
}

/// The remembered head of `name` when the ref now points elsewhere (moved outside ddx).
pub fn moved_outside(
    repo: &Repo,
    name: &str,
    current: Option<ObjectId>,
) -> Result<Option<ObjectId>, StoreError> {
    Ok(read(repo)?
        .get(name)
        .copied()
        .filter(|h| Some(*h) != current))
}

/// The interrupted step, if a killed writer left one: a step is recorded and nobody holds the
/// lock. (While a live writer holds it, its step is in progress, not interrupted.)
pub fn interrupted(repo: &Repo) -> Result<Option<String>, StoreError> {
    let doc = peek(repo)?;
    if !doc.in_flight() {
        return Ok(None);
    }
    let path = lock_path(repo);
    let file = match File::open(&path) {
        Ok(f) => f,
        // No writer ever took the lock here: nobody is writing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(doc.describe()));
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
    }
    // We hold the lock: read again, the writer may have finished meanwhile.
    Ok(Some(peek(repo)?)
        .filter(HeadsDoc::in_flight)
        .map(|d| d.describe()))
}

/// The writers' lock on `.git/ddx/lock`, with the heads document read under it. Dropping it
/// unlocks.
pub struct Journal<'r> {
    repo: &'r Repo,
    /// The locked file; always there until the journal is dropped.
    file: Option<File>,
    path: PathBuf,
    pub doc: HeadsDoc,
}

impl Drop for Journal<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Closing unlocks too, should unlocking fail.
            let _ = file.unlock();
        }
    }
}

impl<'r> Journal<'r> {
    /// Takes the lock, waiting while another ddx writer holds it. A step left recorded by a
    /// killed writer is refused, for `ddx workflow resume` to recover.
    pub fn acquire(repo: &'r Repo) -> Result<Journal<'r>, StoreError> {
        let j = Journal::acquire_for_recovery(repo)?;
        if j.doc.in_flight() {
            return Err(StoreError::Interrupted {
                steps: vec![j.doc.describe()],
            });
        }
        Ok(j)
    }

    /// Takes the lock and reads the document, whatever step it records.
    pub fn acquire_for_recovery(repo: &'r Repo) -> Result<Journal<'r>, StoreError> {
        let lock = lock_path(repo);
        let open = || {
            let dir = repo.ddx_dir();
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock)
                .map_err(|e| StoreError::io(&lock, e))
        };
        let mut file = open()?;
        file.lock().map_err(|e| StoreError::io(&lock, e))?;
        if !still_linked(&file) {
            // Removed while we waited for it: the lock that counts is on the file there now.
            file = open()?;
            file.lock().map_err(|e| StoreError::io(&lock, e))?;
        }
        // A writer killed while writing the next document leaves it: only the lock holder
        // writes it, so it is ours to remove.
        let next = repo.common_dir().join(NEXT);
        match std::fs::remove_file(&next) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&next, e)),
        }
        let path = heads_path(repo);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let doc = parse_or_warn(bytes, &path);
        Ok(Journal {
            repo,
            file: Some(file),
            path,
            doc,
        })
    }

    /// Writes the document whole to `.git/ddx/heads.new` and renames it over the heads file.
    fn write(&mut self) -> Result<(), StoreError> {
        if self.file.is_none() {
            let closed = std::io::Error::other("the journal was already closed");
            return Err(StoreError::io(&self.path, closed));
        }
        let next = self.repo.common_dir().join(NEXT);
        std::fs::write(&next, self.doc.to_text()).map_err(|e| StoreError::io(&next, e))?;
        std::fs::rename(&next, &self.path).map_err(|e| StoreError::io(&self.path, e))
    }

    /// Every ref ddx wrote, with the id it wrote last.
    pub fn heads(&self) -> &BTreeMap<String, ObjectId> {
        &self.doc.heads
    }

    /// Records the step and its intended moves, before any ref moves.
    pub fn record(
        &mut self,
        step: &str,
        started: &str,
        moves: &[RefMove],
    ) -> Result<(), StoreError> {
        self.doc.step = step.to_owned();
        self.doc.started = started.to_owned();
        self.doc.pid = Some(std::process::id());
        self.doc.moves = moves.to_vec();
        self.write()
    }

    /// Forgets the recorded step: nothing moved (a lost race, or a step rolled back).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        if !self.doc.in_flight() {
            return Ok(());
        }
        self.doc.step.clear();
        self.doc.started.clear();
        self.doc.pid = None;
        self.doc.moves.clear();
        self.write()
    }

    /// The refs moved: remember the new heads and clear the step. Unlocks.
    pub fn commit(mut self) -> Result<(), StoreError> {
        for m in std::mem::take(&mut self.doc.moves) {
            self.doc.heads.insert(m.name, m.new);
        }
        self.clear_step();
        self.write()
    }

    /// Nothing moved: clear any recorded step. Unlocks.
    pub fn release(mut self) -> Result<(), StoreError> {
        self.clear()
    }

    /// Unlocks and leaves the step recorded, for `ddx workflow resume`: some ref may have moved.
    pub fn keep(self) {}

    fn clear_step(&mut self) {
        self.doc.step.clear();
        self.doc.started.clear();
        self.doc.pid = None;
    }
}

/// Whether `file` is still the one its path names (not removed since it was opened).
#[cfg(unix)]
fn still_linked(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| m.nlink() > 0)
}

#[cfg(not(unix))]
fn still_linked(_file: &File) -> bool {
    true
}

mod oid {
    use gix::ObjectId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectId, D::Error> {
        let text = String::deserialize(d)?;
        ObjectId::from_hex(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

mod opt_oid {
    use gix::ObjectId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.collect_str(id),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ObjectId>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => ObjectId::from_hex(text.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

mod oid_map {
    use gix::ObjectId;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<String, ObjectId>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, v.to_string())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, ObjectId>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        raw.into_iter()
            .map(|(k, v)| {
                ObjectId::from_hex(v.as_bytes())
                    .map(|id| (k, id))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ObjectId {
        ObjectId::empty_tree(gix::hash::Kind::Sha1)
    }

    #[test]
    fn the_document_round_trips_and_ignores_what_follows_its_end() {
        let doc = HeadsDoc {
            step: "ddx(x): start a".into(),
            started: "T".into(),
            pid: Some(42),
            moves: vec![RefMove {
                name: "refs/ddx/audit".into(),
                old: None,
                new: id(),
            }],
            heads: BTreeMap::from([("refs/ddx/audit".to_owned(), id())]),
        };
        let text = doc.to_text();
        assert!(text.ends_with("\n# end\n"), "{text}");
        assert_eq!(HeadsDoc::parse(&text), Some(doc.clone()));
        // A shorter document written over a longer one, killed before the truncation.
        let torn = format!("{text}  refs/ddx/instances/old: {}\n# end\n", id());
        assert_eq!(HeadsDoc::parse(&torn), Some(doc));
        assert_eq!(HeadsDoc::parse(""), Some(HeadsDoc::default()));
        assert_eq!(HeadsDoc::parse("heads: [\n"), None);
    }

    #[test]
    fn the_usual_document_is_read_without_yaml_and_anything_else_with_it() {
        let heads = BTreeMap::from([
            ("refs/ddx/audit".to_owned(), id()),
            ("refs/ddx/instances/helix-1.a_b".to_owned(), id()),
        ]);
        let doc = HeadsDoc {
            heads,
            ..HeadsDoc::default()
        };
        let text = doc.to_text();
        assert_eq!(
            text,
            format!(
                "heads:\n  refs/ddx/audit: {0}\n  refs/ddx/instances/helix-1.a_b: {0}\n# end\n",
                id()
            )
        );
        assert_eq!(
            HeadsDoc::parse_heads_only(&text[..text.len() - END.len()]),
            Some(doc.clone())
        );
        assert_eq!(HeadsDoc::parse(&text), Some(doc));
        assert_eq!(HeadsDoc::default().to_text(), "heads: {}\n# end\n");
        assert_eq!(HeadsDoc::parse("heads: {}\n"), Some(HeadsDoc::default()));
        // Quoted ids (all digits) and other shapes are left to serde_yaml.
        let digits = "1".repeat(40);
        let quoted = format!("heads:\n  refs/ddx/audit: '{digits}'\n");
        assert_eq!(HeadsDoc::parse_heads_only(&quoted), None);
        let read = HeadsDoc::parse(&quoted).unwrap();
        assert_eq!(read.heads["refs/ddx/audit"].to_string(), digits);
        assert_eq!(HeadsDoc::parse_heads_only("step: x\nheads: {}\n"), None);
    }

    /// A new repository, opened by the store.
    fn new_repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let repo = Repo::discover(dir.path()).unwrap();
        (dir, repo)
    }

    #[test]
    fn the_lock_is_exclusive_and_a_recorded_step_is_refused() {
        let (_dir, repo) = new_repo();
        let mut j = Journal::acquire(&repo).unwrap();
        // Held: nobody else gets it, and a reader does not call a live step interrupted.
        let f = File::open(lock_path(&repo)).unwrap();
        assert!(f.try_lock().is_err());
        j.record(
            "ddx(x): start a",
            "T",
            &[RefMove {
                name: "refs/ddx/audit".into(),
                old: None,
                new: id(),
            }],
        )
        .unwrap();
        assert_eq!(interrupted(&repo).unwrap(), None);
        // Unlocked with the step still recorded: it is interrupted.
        j.keep();
        assert_eq!(
            interrupted(&repo).unwrap().as_deref(),
            Some("ddx(x): start a")
        );
        let err = Journal::acquire(&repo).err().unwrap();
        assert!(matches!(err, StoreError::Interrupted { .. }), "{err}");
        // A writer killed while writing the next document left it behind.
        std::fs::write(repo.common_dir().join(NEXT), "heads:\n  refs/ddx/x: 12").unwrap();
        let mut j = Journal::acquire_for_recovery(&repo).unwrap();
        assert!(!repo.common_dir().join(NEXT).exists());
        j.commit_for_test();
        drop(j);
        // The new document replaced the step whole.
        let text = std::fs::read_to_string(heads_path(&repo)).unwrap();
        assert_eq!(text, format!("heads:\n  refs/ddx/audit: {}\n# end\n", id()));
        let j = Journal::acquire(&repo).unwrap();
        assert_eq!(j.doc.heads.get("refs/ddx/audit"), Some(&id()));
        assert!(!j.doc.in_flight());
    }

    #[test]
    fn a_removed_lock_file_is_made_again_and_locked() {
        let (_dir, repo) = new_repo();
        let mut j = Journal::acquire(&repo).unwrap();
        j.doc.heads.insert("refs/ddx/audit".into(), id());
        j.commit_for_test();
        drop(j);
        // Unlocked once the journal is dropped: another program can lock it meanwhile.
        let f = File::open(lock_path(&repo)).unwrap();
        assert!(f.try_lock().is_ok());
        drop(f);
        // Removed (the whole `.git/ddx`): the next writer locks and reads the file there now.
        std::fs::remove_dir_all(repo.ddx_dir()).unwrap();
        let j = Journal::acquire(&repo).unwrap();
        assert!(j.heads().is_empty(), "{:?}", j.heads());
        let f = File::open(lock_path(&repo)).unwrap();
        assert!(f.try_lock().is_err());
        drop(j);
        assert!(f.try_lock().is_ok());
    }

    impl Journal<'_> {
        fn commit_for_test(&mut self) {
            for m in std::mem::take(&mut self.doc.moves) {
                self.doc.heads.insert(m.name, m.new);
            }
            self.clear_step();
            self.write().unwrap();
        }
    }
}
