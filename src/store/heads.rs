//! The heads ddx wrote last, remembered in `.git/ddx/heads`, so a ref moved by anything else is
//! noticed.
//!
//! The file has one `<id> <ref>` line per ref, like `packed-refs`. It is local and never shared.
//! Updates happen under `.git/ddx/heads.lock` (holding the writer's pid, so a lock left by a
//! killed process is recognised and taken over), and a head is recorded only while the ref
//! still points at it: of two racing writers, the later ref move wins, as in the refs.

use super::pending::process_alive;
use super::refs;
use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn path(repo: &Repo) -> PathBuf {
    repo.ddx_dir().join("heads")
}

/// The remembered heads, by ref name.
pub fn read(repo: &Repo) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    read_file(&path(repo))
}

fn read_file(file: &Path) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(StoreError::io(file, e)),
    };
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((id, name)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(id) = ObjectId::from_hex(id.as_bytes()) {
            out.insert(name.to_owned(), id);
        }
    }
    Ok(out)
}

/// A lock file holding our pid; removed on drop.
struct Lock(PathBuf);

impl Lock {
    fn acquire(path: PathBuf, patience: Duration) -> Result<Option<Lock>, StoreError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Some(Lock(path)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    if owner.is_some_and(|pid| !process_alive(pid)) {
                        // Left by a killed process: take it over.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() > patience {
                        return Ok(None);
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(StoreError::io(&path, e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Remembers `moves` (ref name, id ddx just wrote) for the refs that still point there.
pub fn record(repo: &Repo, moves: &[(String, ObjectId)]) -> Result<(), StoreError> {
    if moves.is_empty() {
        return Ok(());
    }
    let dir = repo.ddx_dir();
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let file = path(repo);
    let lock_path = dir.join("heads.lock");
    let Some(lock) = Lock::acquire(lock_path.clone(), Duration::from_secs(5))? else {
        tracing::warn!(
            "could not lock {} to remember the heads ddx wrote",
            lock_path.display()
        );
        return Ok(());
    };
    let mut heads = read_file(&file)?;
    let mut changed = false;
    for (name, id) in moves {
        if refs::read(repo, name)? == Some(*id) && heads.get(name) != Some(id) {
            heads.insert(name.clone(), *id);
            changed = true;
        }
    }
    if changed {
        let tmp = dir.join(format!("heads.{}.tmp", std::process::id()));
        let mut text = String::new();
        for (name, id) in &heads {
            text.push_str(&format!("{id} {name}\n"));
        }
        std::fs::write(&tmp, text).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| StoreError::io(&file, e))?;
    }
    drop(lock);
    Ok(())
}

/// The remembered head of `name` when the ref now points elsewhere (moved outside ddx).
pub fn moved_outside(
    repo: &Repo,
    name: &str,
    current: Option<ObjectId>,
) -> Result<Option<ObjectId>, StoreError> {
    let heads = read(repo)?;
    Ok(heads.get(name).copied().filter(|h| Some(*h) != current))
}
