//! Writing one loose object with as few system calls as git's format allows.
//!
//! An event writes six small objects (two commits, two trees, two blobs, a few hundred bytes
//! each). gix's loose writer asks first whether each exists, creates its folder every time,
//! sets up a fresh zlib compressor (allocating and clearing 300 KB of tables: most of the user
//! time of an append) and writes in several pieces. Here an object is hashed and encoded in
//! memory, then written with one `write` into a temporary file inside its own fan-out folder
//! (`objects/ab/tmp_obj_…`, as git names them, so `git gc` prunes any a crash leaves) and
//! renamed into place; the folder is created only when it is missing. An object that exists
//! already is replaced by the same bytes, which is harmless: its name is the hash of its
//! content.
//!
//! Encoding: unless `core.looseCompression` (or `core.compression`) asks for a level, the zlib
//! stream holds the object uncompressed, in stored blocks — what git writes with
//! `core.looseCompression=0`, and what every git reads. Such small objects shrink little, and
//! `git gc` compresses them when it packs them. With a level set, one compressor kept per
//! thread is reused.

use super::dir::Dir;
use super::repo::{Repo, StoreError};
use gix::objs::Kind;
use gix::zlib::stream::deflate::{Compress, FlushCompress};
use gix::zlib::Status;
use gix::ObjectId;
use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// The compressor and output buffer reused by every object this thread writes.
    static ZLIB: RefCell<Option<(Compress, Vec<u8>, u32)>> = const { RefCell::new(None) };
}

/// Distinguishes the temporary files of one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, asked of the kernel once (glibc does not cache it). A forked child that
/// kept the parent's would only collide with it on a name, and take the next one.
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// The whole content of a small regular file, with one `read` when it fits in `hint` bytes
/// (`read_to_end` first asks the file's size and position, and reads once more to see the
/// end). For a regular file, a read shorter than asked is its end.
pub(crate) fn read_small(file: &mut impl std::io::Read, hint: usize) -> std::io::Result<Vec<u8>> {
    read_growing(hint, |buf, _| file.read(buf))
}

/// The whole content of a small regular file from its start, whatever its position (`pread`):
/// as [`read_small`].
pub(crate) fn read_small_at(file: &std::fs::File, hint: usize) -> std::io::Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        read_growing(hint, |buf, at| file.read_at(buf, at as u64))
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(0))?;
        read_small(&mut file, hint)
    }
}

/// Reads with `read(buffer, offset)` into a buffer of `hint` bytes, doubled while reads fill it.
fn read_growing(
    hint: usize,
    mut read: impl FnMut(&mut [u8], usize) -> std::io::Result<usize>,
) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; hint.max(64)];
    let mut len = 0;
    loop {
        match read(&mut buf[len..], len) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len < buf.len() {
                    break;
                }
                buf.resize(buf.len() * 2, 0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// Writes the object of `kind` whose encoded bytes are `data` into the repository's object
/// folder; returns its id.
pub fn write(repo: &Repo, kind: Kind, data: &[u8]) -> Result<ObjectId, StoreError> {
    let id = gix::objs::compute_hash(repo.gix().object_hash(), kind, data)
        .map_err(|e| StoreError::git("hashing an object", e))?;
    let header = gix::objs::encode::loose_header(kind, data.len() as u64);
    let objects = repo.objects_dir()?;
    match repo.loose_level() {
        None => {
            let mut out = Vec::with_capacity(header.len() + data.len() + 16);
            stored(&[&header, data], &mut out);
            put(objects, &id, &out)?;
        }
        Some(level) => ZLIB.with(|cell| -> Result<(), StoreError> {
            let mut cell = cell.borrow_mut();
            let (z, out) = match &mut *cell {
                Some((z, out, l)) if *l == level => (z, out),
                slot => {
                    let fresh = (
                        Compress::new(
                            gix::zlib::Compression::new(level as i32)
                                .unwrap_or(gix::zlib::Compression::BEST_SPEED),
                        ),
                        Vec::with_capacity(4096),
                        level,
                    );
                    let (z, out, _) = slot.insert(fresh);
                    (z, out)
                }
            };
            out.clear();
            z.reset();
            compress(z, &header, FlushCompress::None, out)?;
            compress(z, data, FlushCompress::Finish, out)?;
            put(objects, &id, out)
        })?,
    }
    Ok(id)
}

/// Appends to `out` the zlib stream (RFC 1950) of the concatenated `parts` in stored
/// (uncompressed) deflate blocks of at most 65,535 bytes.
fn stored(parts: &[&[u8]], out: &mut Vec<u8>) {
    // CMF 0x78: deflate with a 32 KB window; FLG 0x01 makes CMF·256 + FLG a multiple of 31.
    out.extend_from_slice(&[0x78, 0x01]);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut adler = Adler32::default();
    let mut left = total;
    let mut chunks = parts.iter().flat_map(|p| p.chunks(u16::MAX as usize));
    let mut pending: Option<&[u8]> = chunks.next();
    loop {
        // One block holds up to 65,535 bytes, gathered across parts.
        let len = left.min(u16::MAX as usize);
        left -= len;
        out.push(u8::from(left == 0)); // BFINAL, BTYPE 00 (stored)
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&(!(len as u16)).to_le_bytes());
        let mut need = len;
        while need > 0 {
            let Some(chunk) = pending else { break };
            let take = need.min(chunk.len());
            out.extend_from_slice(&chunk[..take]);
            adler.update(&chunk[..take]);
            need -= take;
            pending = if take == chunk.len() {
                chunks.next()
            } else {
                Some(&chunk[take..])
            };
        }
        if left == 0 {
            break;
        }
    }
    out.extend_from_slice(&adler.finish().to_be_bytes());
}

/// The Adler-32 checksum zlib streams end with.
struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    fn update(&mut self, data: &[u8]) {
        const MOD: u32 = 65_521;
        // 5,552 bytes is the most that can be summed before `b` could overflow a u32.
        for chunk in data.chunks(5552) {
            for &byte in chunk {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= MOD;
            self.b %= MOD;
        }
    }

    fn finish(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// Feeds `input` to `z`, appending what it produces to `out`; with `Finish`, until the stream
/// ends.
fn compress(
    z: &mut Compress,
    mut input: &[u8],
    flush: FlushCompress,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    loop {
        if out.capacity() - out.len() < 256 {
            out.reserve(out.capacity().max(4096));
        }
        let len = out.len();
        let spare = out.capacity() - len;
        out.resize(len + spare, 0);
        let (total_in, total_out) = (z.total_in(), z.total_out());
        let status = z
            .compress(input, &mut out[len..], flush)
            .map_err(|e| StoreError::git("compressing an object", e))?;
        let consumed = (z.total_in() - total_in) as usize;
        let produced = (z.total_out() - total_out) as usize;
        out.truncate(len + produced);
        input = &input[consumed..];
        match (status, flush) {
            (Status::StreamEnd, _) => return Ok(()),
            (_, FlushCompress::None) if input.is_empty() => return Ok(()),
            _ if consumed == 0 && produced == 0 && out.capacity() - out.len() >= 256 => {
                return Err(StoreError::Corrupt {
                    reference: "objects".to_owned(),
                    commit: String::new(),
                    what: "zlib made no progress compressing an object".to_owned(),
                })
            }
            _ => {}
        }
    }
}

/// The loose object `id`, read with one `read` and inflated: its kind and data. `None` when it
/// is not there as a loose object or does not decode (packed, or damaged): the caller asks gix
/// then, which finds packed objects and says what is wrong with a damaged one. (gix's own
/// lookup stats the file, maps it and unmaps it: six system calls instead of three.)
pub fn read(repo: &gix::Repository, id: &ObjectId) -> Option<(Kind, Vec<u8>)> {
    let hex = id.to_hex().to_string();
    let (fan, rest) = hex.split_at(2);
    let path = repo.objects.store_ref().path().join(fan).join(rest);
    let mut file = std::fs::File::open(path).ok()?;
    let raw = read_small(&mut file, 8192).ok()?;
    thread_local! {
        static INFLATE: RefCell<gix::zlib::Inflate> = RefCell::new(gix::zlib::Inflate::default());
    }
    INFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset();
        let mut head = [0u8; 64];
        let (_, used, n) = z.prefix(&raw, &mut head).ok()?;
        let nul = head[..n].iter().position(|&b| b == 0)?;
        let (kind, size) = std::str::from_utf8(&head[..nul]).ok()?.split_once(' ')?;
        let kind = Kind::from_bytes(kind.as_bytes()).ok()?;
        let size: usize = size.parse().ok()?;
        if n - (nul + 1) > size {
            return None;
        }
        let mut data = Vec::new();
        let got = z
            .rest(&raw[used..], &head[..n], nul + 1, &mut data, size)
            .ok()?;
        (got == size).then_some((kind, data))
    })
}

/// Puts the compressed object `bytes` at its place in `objects` (the object folder).
fn put(objects: &Dir, id: &ObjectId, bytes: &[u8]) -> Result<(), StoreError> {
    let hex = id.to_hex().to_string();
    let (fan, rest) = hex.split_at(2);
    let io = |rel: &str, e: std::io::Error| StoreError::io(&objects.join(rel), e);
    let mut created_dir = false;
    let (tmp, mut file) = loop {
        let tmp = format!(
            "{fan}/tmp_obj_{}_{}",
            pid(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        match objects.create_new(&tmp, 0o444) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !created_dir => {
                match std::fs::create_dir(objects.join(fan)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io(fan, e)),
                }
                created_dir = true;
            }
            // A temporary file left by an earlier process with the same id: take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&tmp, e)),
        }
    };
    let written = file.write_all(bytes);
    drop(file);
    let name = format!("{fan}/{rest}");
    let done = written.and_then(|()| objects.rename(&tmp, &name));
    if let Err(e) = done {
        let _ = objects.remove_file(&tmp);
        return Err(io(&name, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::git;

    #[test]
    fn written_objects_read_back_with_git() {
        check_round_trip(None);
    }

    #[test]
    fn a_configured_compression_level_is_used() {
        check_round_trip(Some("1"));
        check_round_trip(Some("9"));
    }

    #[test]
    fn stored_streams_inflate_to_their_input() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        for parts in [
            vec![&b""[..]],
            vec![&b"blob 5\0"[..], &b"hello"[..]],
            vec![&b"blob 70000\0"[..], &big[..]],
        ] {
            let mut out = Vec::new();
            stored(&parts, &mut out);
            let mut z = gix::zlib::Inflate::default();
            let mut back = vec![0u8; parts.iter().map(|p| p.len()).sum::<usize>() + 1];
            let (status, _, written) = z.once(&out, &mut back).expect("inflate");
            assert_eq!(status, gix::zlib::Status::StreamEnd);
            assert_eq!(&back[..written], &parts.concat()[..]);
        }
    }

    #[test]
    fn loose_objects_read_back_directly_and_anything_else_is_left_to_gix() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        git(root, &["init", "-q"]);
        let store = Repo::discover(root).expect("open");
        let repo = store.gix().clone();
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        // Written by ddx (stored blocks), and by git (compressed, any size).
        for data in [b"hello\n".to_vec(), Vec::new(), big.clone()] {
            let id = write(&store, Kind::Blob, &data).expect("write");
            assert_eq!(read(&repo, &id), Some((Kind::Blob, data.clone())));
        }
        std::fs::write(root.join("f"), &big).expect("write file");
        let by_git = git(root, &["hash-object", "-w", "f"]);
        let by_git = ObjectId::from_hex(by_git.trim().as_bytes()).expect("id");
        assert_eq!(read(&repo, &by_git), Some((Kind::Blob, big)));
        git(root, &["add", "f"]);
        git(root, &["commit", "-qm", "c"]);
        let head = git(root, &["rev-parse", "HEAD"]);
        let head = ObjectId::from_hex(head.trim().as_bytes()).expect("id");
        let (kind, data) = read(&repo, &head).expect("commit");
        assert_eq!(kind, Kind::Commit);
        assert_eq!(
            data,
            git(root, &["cat-file", "commit", "HEAD"]).into_bytes()
        );
        // Missing, packed, or damaged: None (gix reads the packed one and names the damage).
        let missing = ObjectId::from_hex(&[b'a'; 40]).expect("id");
        assert_eq!(read(&repo, &missing), None);
        git(root, &["repack", "-adq"]);
        git(root, &["prune-packed"]);
        assert_eq!(read(&repo, &head), None);
        let one = write(&store, Kind::Blob, b"one\n").expect("write");
        let hex = one.to_string();
        let path = root.join(".git/objects").join(&hex[..2]).join(&hex[2..]);
        let mut perms = std::fs::metadata(&path).expect("meta").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).expect("chmod");
        for damaged in [&b"not zlib at all"[..], &b""[..]] {
            std::fs::write(&path, damaged).expect("damage");
            assert_eq!(read(&repo, &one), None);
        }
        // A header that claims less than the stream holds.
        let mut out = Vec::new();
        stored(&[&b"blob 2\0"[..], &b"longer"[..]], &mut out);
        std::fs::write(&path, &out).expect("damage");
        assert_eq!(read(&repo, &one), None);
    }

    fn check_round_trip(level: Option<&str>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        git(root, &["init", "-q"]);
        if let Some(level) = level {
            git(root, &["config", "core.looseCompression", level]);
        }
        let objects = root.join(".git/objects");
        let store = Repo::discover(root).expect("open");
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for (kind, data) in [
            (Kind::Blob, b"hello\n".to_vec()),
            (Kind::Blob, Vec::new()),
            (Kind::Blob, big.clone()),
        ] {
            let id = write(&store, kind, &data).expect("write");
            // The same object again: no error, same id.
            let again = write(&store, kind, &data).expect("write");
            assert_eq!(id, again);
            let out = std::process::Command::new("git")
                .args(["cat-file", "blob", &id.to_string()])
                .current_dir(root)
                .output()
                .expect("git cat-file");
            assert!(out.status.success());
            assert_eq!(out.stdout, data);
        }
        git(root, &["fsck", "--strict"]);
        // No temporary file is left behind.
        for dir in std::fs::read_dir(&objects).expect("objects") {
            let dir = dir.expect("entry").path();
            if dir.is_dir() {
                for f in std::fs::read_dir(&dir).expect("fan-out") {
                    let name = f.expect("entry").file_name();
                    assert!(!name.to_string_lossy().starts_with("tmp_obj_"), "{name:?}");
                }
            }
        }
    }
}
