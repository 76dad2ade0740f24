//! The heads ddx wrote last, in `.git/ddx/heads`, and the lock that makes every write
//! recoverable, `.git/ddx/heads.lock`.
//!
//! The heads file is updated the way git updates a ref: a writer creates `heads.lock`, does its
//! work, and renames the lock over `heads`. ddx holds that lock for the whole of a transaction
//! (read the tip, decide, write objects, move refs), so ddx writers take turns — every
//! operation moves `refs/ddx/audit` anyway — and the heads recorded are exactly the values the
//! refs got. Before any ref moves, the lock holds the writer's pid and the intended moves: the
//! intent recorded before the side effects. A writer killed at any moment leaves the lock with
//! a dead pid and, if it got that far, its moves; [`super::pending`] finishes or rolls the step
//! back. The file is YAML, local and never shared.

use super::repo::{Repo, StoreError};
use gix::ObjectId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// The heads document (and, while locked, the journal of the step in progress).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeadsDoc {
    /// The process that wrote the document.
    #[serde(default)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started: String,
    /// The step, as its commit subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step: String,
    /// The ref moves of the step (in the lock: intended; in `heads`: done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<RefMove>,
    /// Every ref ddx wrote, with the id it wrote last.
    #[serde(default, with = "oid_map")]
    pub heads: BTreeMap<String, ObjectId>,
}

impl HeadsDoc {
    pub fn parse(text: &str) -> Option<HeadsDoc> {
        serde_yaml::from_str(text).ok()
    }

    /// The pid of a lock whose document did not parse (killed while writing): the first line.
    pub fn pid_of(text: &str) -> Option<u32> {
        text.lines()
            .next()?
            .strip_prefix("pid: ")?
            .trim()
            .parse()
            .ok()
    }

    fn to_text(&self) -> String {
        // `pid` serialises first, so the first line of the file always names its writer.
        serde_yaml::to_string(self).expect("a document of strings and maps always serialises")
    }
}

pub(crate) fn heads_path(repo: &Repo) -> PathBuf {
    repo.ddx_dir().join("heads")
}

pub(crate) fn lock_path(repo: &Repo) -> PathBuf {
    repo.ddx_dir().join("heads.lock")
}

fn read_doc(path: &Path) -> Result<Option<HeadsDoc>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(HeadsDoc::parse(&text).unwrap_or_default())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// The remembered heads, by ref name.
pub fn read(repo: &Repo) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    Ok(read_doc(&heads_path(repo))?.unwrap_or_default().heads)
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

/// Writes the heads file (atomically: a temporary file renamed into place). Used by recovery,
/// which owns the lock of a dead writer and so cannot rename it.
pub(crate) fn write_heads(
    repo: &Repo,
    heads: BTreeMap<String, ObjectId>,
) -> Result<(), StoreError> {
    let doc = HeadsDoc {
        pid: std::process::id(),
        heads,
        ..HeadsDoc::default()
    };
    let tmp = repo
        .ddx_dir()
        .join(format!("heads.{}.tmp", std::process::id()));
    std::fs::write(&tmp, doc.to_text()).map_err(|e| StoreError::io(&tmp, e))?;
    let path = heads_path(repo);
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))
}

/// The lock of a ddx writer: held for a whole transaction, renamed over `heads` on success.
pub struct Journal {
    file: std::fs::File,
    path: PathBuf,
    heads: PathBuf,
    doc: HeadsDoc,
    done: bool,
}

/// Who holds `heads.lock`, as far as the file says.
#[derive(Debug, Clone)]
pub struct Holder {
    pub pid: Option<u32>,
    pub doc: Option<HeadsDoc>,
    text: String,
}

impl Holder {
    /// The holder's process is gone. (A lock always names its pid from its creation on; one
    /// that does not was damaged, and nobody can be holding it.)
    pub fn is_dead(&self) -> bool {
        match self.pid {
            Some(pid) => pid != std::process::id() && !super::pending::process_alive(pid),
            None => true,
        }
    }

    pub fn describe(&self) -> String {
        match &self.doc {
            Some(d) if !d.step.is_empty() => d.step.clone(),
            _ => match self.pid {
                Some(pid) => format!("a ddx command (pid {pid}) that had not started writing"),
                None => "a ddx command that had not started writing".to_owned(),
            },
        }
    }
}

/// Reads `heads.lock`, if there is one.
pub fn holder(repo: &Repo) -> Result<Option<Holder>, StoreError> {
    let path = lock_path(repo);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let doc = HeadsDoc::parse(&text).filter(|d| d.pid != 0);
    let pid = doc
        .as_ref()
        .map(|d| d.pid)
        .or_else(|| HeadsDoc::pid_of(&text));
    Ok(Some(Holder { pid, doc, text }))
}

/// The holder of `heads.lock` when its process is gone and it left the lock behind. A holder
/// that finished normally between our reading the lock and checking its pid has renamed or
/// removed the lock; reading it again tells the two apart.
pub fn dead_holder(repo: &Repo) -> Result<Option<Holder>, StoreError> {
    let Some(h) = holder(repo)? else {
        return Ok(None);
    };
    if !h.is_dead() {
        return Ok(None);
    }
    Ok(holder(repo)?.filter(|again| again.text == h.text))
}

/// Creates `path` already holding `pid: <pid>`: written to a private file first, then linked
/// into place (which, like `O_EXCL`, fails when the lock exists), so the lock names its holder
/// from the instant it exists.
fn create_with_pid(dir: &Path, path: &Path, pid: u32) -> std::io::Result<std::fs::File> {
    let tmp = dir.join(format!("heads.lock.{pid}"));
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            return create_with_pid(dir, path, pid);
        }
        Err(e) => return Err(e),
    };
    file.write_all(format!("pid: {pid}\n").as_bytes())?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map(|()| file)
}

/// How long a writer waits for another live writer before giving up.
pub const PATIENCE: Duration = Duration::from_secs(60);

impl Journal {
    /// Takes `heads.lock`, waiting while another live ddx process holds it. A lock left by a
    /// dead process is an interrupted step: refused, for `ddx workflow resume` to recover.
    pub fn acquire(repo: &Repo) -> Result<Journal, StoreError> {
        let dir = repo.ddx_dir();
        let path = lock_path(repo);
        let start = Instant::now();
        let mut pause = Duration::from_micros(100);
        let pid = std::process::id();
        loop {
            match create_with_pid(&dir, &path, pid) {
                Ok(file) => {
                    return Ok(Journal {
                        file,
                        path,
                        heads: heads_path(repo),
                        doc: HeadsDoc {
                            pid,
                            ..HeadsDoc::default()
                        },
                        done: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Some(h) = dead_holder(repo)? {
                        return Err(StoreError::Interrupted {
                            steps: vec![h.describe()],
                        });
                    }
                    if start.elapsed() > PATIENCE {
                        return Err(StoreError::Busy {
                            path: path.clone(),
                            waited: start.elapsed().as_secs(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err(e) => return Err(StoreError::io(&path, e)),
            }
        }
    }

    /// Records the intended moves before any ref moves (and the heads they will make).
    pub fn record(
        &mut self,
        repo: &Repo,
        step: &str,
        started: &str,
        moves: &[RefMove],
    ) -> Result<(), StoreError> {
        let mut heads = read_doc(&self.heads)?.unwrap_or_default().heads;
        for m in moves {
            heads.insert(m.name.clone(), m.new);
        }
        let _ = repo;
        self.doc.step = step.to_owned();
        self.doc.started = started.to_owned();
        self.doc.moves = moves.to_vec();
        self.doc.heads = heads;
        let text = self.doc.to_text();
        // Overwrite in place from the start, then cut: the first line names us throughout.
        write_at_start(&mut self.file, text.as_bytes())
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.file
            .set_len(text.len() as u64)
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// Forgets the recorded moves (nothing moved: a lost race, to be retried).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.doc.moves.clear();
        self.doc.step.clear();
        let text = format!("pid: {}\n", self.doc.pid);
        write_at_start(&mut self.file, text.as_bytes())
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.file
            .set_len(text.len() as u64)
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// The refs moved: the lock becomes the heads file.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.done = true;
        std::fs::rename(&self.path, &self.heads).map_err(|e| StoreError::io(&self.heads, e))
    }

    /// Nothing moved: give the lock up.
    pub fn release(mut self) -> Result<(), StoreError> {
        self.done = true;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&self.path, e)),
        }
    }

    /// Keep the lock (and its moves) for `ddx workflow resume`: some ref may have moved.
    pub fn keep(mut self) {
        self.done = true;
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // An error before any ref could move: give the lock up. After `record`, an early
        // drop is an error path whose refs may have moved; the lock stays for recovery.
        if !self.done && self.doc.moves.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn write_at_start(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)
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

    #[test]
    fn the_document_names_its_writer_on_the_first_line() {
        let doc = HeadsDoc {
            pid: 42,
            step: "ddx(x): start a".into(),
            started: "T".into(),
            moves: vec![RefMove {
                name: "refs/ddx/audit".into(),
                old: None,
                new: ObjectId::empty_tree(gix::hash::Kind::Sha1),
            }],
            heads: BTreeMap::from([(
                "refs/ddx/audit".to_owned(),
                ObjectId::empty_tree(gix::hash::Kind::Sha1),
            )]),
        };
        let text = doc.to_text();
        assert!(text.starts_with("pid: 42\n"), "{text}");
        assert_eq!(HeadsDoc::pid_of(&text), Some(42));
        let back = HeadsDoc::parse(&text).unwrap();
        assert_eq!(back.moves, doc.moves);
        assert_eq!(back.heads, doc.heads);
        assert_eq!(HeadsDoc::pid_of("pid: 7\nsteps: [unfinished"), Some(7));
        assert!(HeadsDoc::parse("pid: 7\n").unwrap().moves.is_empty());
    }
}
