//! Many objects at once: one pack file instead of one loose file per object.
//!
//! Pinning a workflow definition that is not yet in the repository (the embedded library, a
//! folder named on the command line) writes a blob per file and a tree per folder: about a
//! hundred objects for HELIX. As loose objects that is a hundred temporary files, renames and
//! folders, which on slow file systems costs more than everything else a command does. They
//! are written as one pack instead (its index is built by gix, as for a fetch), which `git`
//! reads like any other; `git gc` treats it like any other pack.

use super::repo::{Repo, StoreError};
use gix::objs::Kind;
use gix::zlib::stream::deflate::{Compress, FlushCompress};
use gix::zlib::Status;
use gix::ObjectId;
use std::collections::BTreeSet;

/// Below this many new objects, loose objects are cheaper than a pack and its index.
const PACK_THRESHOLD: usize = 8;

/// An encoded object and its id.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: Kind,
    pub data: Vec<u8>,
    pub id: ObjectId,
}

fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    }
}

/// Appends `data`, zlib-compressed as one stream, to `out`.
fn deflate(
    z: &mut Compress,
    chunk: &mut [u8],
    mut data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    z.reset();
    loop {
        let (total_in, total_out) = (z.total_in(), z.total_out());
        let status = z
            .compress(data, chunk, FlushCompress::Finish)
            .map_err(|e| StoreError::git("compressing an object for a pack", e))?;
        let consumed = (z.total_in() - total_in) as usize;
        let produced = (z.total_out() - total_out) as usize;
        out.extend_from_slice(&chunk[..produced]);
        data = &data[consumed..];
        match status {
            Status::StreamEnd => return Ok(()),
            _ if consumed == 0 && produced == 0 => {
                return Err(StoreError::Corrupt {
                    reference: "objects/pack".to_owned(),
                    commit: String::new(),
                    what: "zlib made no progress compressing an object".to_owned(),
                })
            }
            _ => {}
        }
    }
}

/// The bytes of a pack (version 2, no deltas) holding `objects`.
fn pack_bytes(repo: &gix::Repository, objects: &[&Object]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(objects.iter().map(|o| o.data.len() / 2 + 16).sum());
    out.extend_from_slice(b"PACK");
    out.extend_from_slice(&2u32.to_be_bytes());
    let count = u32::try_from(objects.len()).map_err(|_| StoreError::Corrupt {
        reference: "objects/pack".to_owned(),
        commit: String::new(),
        what: "too many objects for one pack".to_owned(),
    })?;
    out.extend_from_slice(&count.to_be_bytes());
    // One compressor for all objects: making one allocates and clears its tables.
    let mut z = Compress::new(gix::zlib::Compression::BEST_SPEED);
    let mut chunk = vec![0u8; 32 * 1024];
    for o in objects {
        // Type and size: 3 bits of type, then the size 4 bits first, 7 bits per further byte.
        let mut size = o.data.len() as u64;
        let mut byte = (kind_code(o.kind) << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            out.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        out.push(byte);
        deflate(&mut z, &mut chunk, &o.data, &mut out)?;
    }
    let mut hasher = gix::hash::hasher(repo.object_hash());
    hasher.update(&out);
    let checksum = hasher
        .try_finalize()
        .map_err(|e| StoreError::git("hashing a pack", e))?;
    out.extend_from_slice(checksum.as_slice());
    Ok(out)
}

/// Writes the objects the repository does not have yet: as one pack when there are many, as
/// loose objects when there are few (or always, with `DDX_BENCH_LOOSE_ONLY`, for a benchmark to
/// weigh the pack in the same run). The pack and its index get git's modes: written by
/// `git index-pack` where git must write (see [`Repo::writes_through_git`]), else by gix and
/// then made read-only, as git makes its packs.
pub fn write_objects(repo: &Repo, objects: &[Object]) -> Result<(), StoreError> {
    let g = repo.gix();
    let mut seen = BTreeSet::new();
    let missing: Vec<&Object> = objects
        .iter()
        .filter(|o| seen.insert(o.id) && !g.has_object(o.id))
        .collect();
    if missing.len() < PACK_THRESHOLD || std::env::var_os("DDX_BENCH_LOOSE_ONLY").is_some() {
        for o in missing {
            super::event::write_raw(repo, o.kind, &o.data)?;
        }
        return Ok(());
    }
    let bytes = pack_bytes(g, &missing)?;
    if repo.writes_through_git() {
        return super::git::index_pack(repo.work_dir(), &bytes)
            .map_err(|e| StoreError::git("writing a pack", e));
    }
    let dir = g.common_dir().join("objects").join("pack");
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let outcome = gix::odb::pack::Bundle::write_to_directory(
        &mut std::io::BufReader::new(bytes.as_slice()),
        Some(&dir),
        &mut gix::utils::progress::Discard,
        &std::sync::atomic::AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        g.object_hash(),
        gix::odb::pack::bundle::write::Options {
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .map_err(|e| StoreError::git("writing a pack", e))?;
    // The refs that will reach these objects are written next, in this same command.
    if let Some(keep) = outcome.keep_path {
        std::fs::remove_file(&keep).map_err(|e| StoreError::io(&keep, e))?;
    }
    #[cfg(unix)]
    for path in [outcome.data_path, outcome.index_path]
        .into_iter()
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444 & !umask()))
            .map_err(|e| StoreError::io(&path, e))?;
    }
    Ok(())
}

/// The process's umask, as git applies it to the read-only files it creates: read from
/// `/proc/self/status` (setting the umask to learn it would race with other threads); the
/// usual 022 where that cannot be read.
#[cfg(unix)]
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    use crate::store::testing::git;

    fn objects(repo: &gix::Repository, n: usize) -> Vec<Object> {
        (0..n)
            .map(|i| {
                // Sizes that need one, two and three size bytes in the pack header.
                let data = format!("object {i}\n").repeat(i * 700 + 1).into_bytes();
                let id = gix::objs::compute_hash(repo.object_hash(), Kind::Blob, &data).unwrap();
                Object {
                    kind: Kind::Blob,
                    data,
                    id,
                }
            })
            .collect()
    }

    #[test]
    fn many_objects_become_one_pack_that_git_reads() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        let store = Repo::discover(dir.path()).unwrap();
        let repo = store.gix().clone();
        let mut objs = objects(&repo, 12);
        // Incompressible bytes, larger than the compressor's output chunk.
        let mut x: u32 = 12345;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect();
        let id = gix::objs::compute_hash(repo.object_hash(), Kind::Blob, &noise).unwrap();
        objs.push(Object {
            kind: Kind::Blob,
            data: noise,
            id,
        });
        write_objects(&store, &objs).unwrap();
        let packs: Vec<_> = std::fs::read_dir(dir.path().join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(packs.len(), 2, "{packs:?}: a .pack and an .idx, no .keep");
        for o in &objs {
            let out = Command::new("git")
                .args(["cat-file", "blob", &o.id.to_string()])
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(out.stdout, o.data);
        }
        git(dir.path(), &["fsck", "--strict"]);
        // Written again: nothing new.
        write_objects(&store, &objs).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join(".git/objects/pack"))
                .unwrap()
                .count(),
            2
        );
        // A few objects are written loose.
        let few = objects(&repo, 15).split_off(13);
        write_objects(&store, &few).unwrap();
        assert_eq!(
            git(dir.path(), &["count-objects"]).split(' ').next(),
            Some("2")
        );
    }
}
