//! Every commit of the repository's packs, decoded once, for a verification that reads them all.
//!
//! Reading commits one by one through the object database resolves each one's delta chain anew:
//! a commit at delta depth d inflates up to d deltas whenever its bases were not read just
//! before, so verifying 100,000 audit entries inflated about 1.5 million objects for 200,000
//! commits. [`Preloaded::load`] walks each pack's delta forest the way `git index-pack` does,
//! from every full commit down through the deltas made against it, so each commit is inflated
//! and resolved exactly once. Each decoded commit is hashed and kept only when it has the id the
//! pack index gives it. Whatever this cannot read (a pack it cannot open, a corrupt entry, a
//! delta whose base is in another pack, a loose object) is simply absent: a reader then takes the
//! normal read path, which reports the problem if there is one.
//!
//! The preload decodes the project's own commits too, not only ddx's: in a repository of many
//! project commits and a short ddx history it costs more than it saves, so it stops at a budget
//! of bytes ([`BUDGET`]); the commits beyond it are read the normal way.

use gix::hashtable::HashMap;
use gix::odb::pack;
use gix::ObjectId;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many bytes of commits a preload holds at most: commits of ddx histories are about 600
/// bytes, so some 450,000 of them (a history of 200,000 audit entries and their events), decoded
/// in about 2 s of CPU. What lies beyond is read the normal way.
pub const BUDGET: usize = 256 << 20;

/// Commits and deltas larger than this are left to the normal read path: commits are small, and
/// a corrupt size in a pack entry's header must not make the preload allocate gigabytes.
const MAX_OBJECT_SIZE: u64 = 16 << 20;

/// No entry (a root of the delta forest, or an entry whose base is unknown).
const NONE: u32 = u32::MAX;

/// Where a commit's bytes lie: an arena and a range of it; [`Slot::PACKED`] for another object
/// a pack index lists.
#[derive(Debug, Clone, Copy)]
struct Slot {
    arena: u32,
    len: u32,
    start: usize,
}

impl Slot {
    const PACKED: Slot = Slot {
        arena: u32::MAX,
        len: 0,
        start: 0,
    };
}

/// The bytes of every commit found in the packs, by id, and the ids of every other packed
/// object (a verification asks for hundreds of thousands whether an object exists; a hash
/// lookup answers faster than a binary search in a pack index).
#[derive(Default)]
pub struct Preloaded {
    /// The commits' bytes back to back, one arena per decoding task.
    arenas: Vec<Vec<u8>>,
    slots: HashMap<ObjectId, Slot>,
    commits: usize,
}

impl std::fmt::Debug for Preloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preloaded")
            .field("commits", &self.commits)
            .field("objects", &self.slots.len())
            .field("bytes", &self.arenas.iter().map(Vec::len).sum::<usize>())
            .finish()
    }
}

impl Preloaded {
    /// Decodes the commits of every pack of `repo`'s object database (alternates are left out),
    /// up to [`BUDGET`] bytes of them.
    /// `DDX_BENCH_NO_PRELOAD` turns it off, for a benchmark to weigh it in the same run.
    pub fn for_repo(repo: &gix::Repository) -> Preloaded {
        if std::env::var_os("DDX_BENCH_NO_PRELOAD").is_some() {
            return Preloaded::default();
        }
        Preloaded::load(repo.objects.store_ref().path(), repo.object_hash(), BUDGET)
    }

    /// Decodes the commits of every pack in `objects_dir/pack`, and stops decoding once they
    /// hold `budget` bytes (give or take a delta tree per thread). Never fails: a pack that
    /// cannot be read is logged (debug) and left out.
    pub fn load(objects_dir: &Path, hash: gix::hash::Kind, budget: usize) -> Preloaded {
        let mut out = Preloaded::default();
        let used = AtomicUsize::new(0);
        for idx in pack_indices(&objects_dir.join("pack")) {
            match Pack::open(&idx, hash) {
                Ok(p) => p.decode_commits(hash, (&used, budget), &mut out),
                Err(e) => tracing::debug!(
                    index = %idx.display(),
                    error = %e,
                    "commit preload: the pack is left to the normal read path"
                ),
            }
        }
        if used.load(Ordering::Relaxed) >= budget {
            tracing::debug!(
                budget,
                commits = out.commits,
                "commit preload: budget reached, the other commits are read one by one"
            );
        }
        out
    }

    /// The bytes of commit `id`, when it was preloaded.
    pub fn get(&self, id: &ObjectId) -> Option<&[u8]> {
        let s = self.slots.get(id)?;
        self.arenas
            .get(s.arena as usize)?
            .get(s.start..s.start + s.len as usize)
    }

    /// Whether the index of a pack that was read lists object `id` (of any kind).
    pub fn is_packed(&self, id: &ObjectId) -> bool {
        self.slots.contains_key(id)
    }

    /// How many commits are preloaded.
    pub fn len(&self) -> usize {
        self.commits
    }

    pub fn is_empty(&self) -> bool {
        self.commits == 0
    }
}

/// The `.idx` files of a pack folder that have their `.pack`, in name order.
fn pack_indices(dir: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "commit preload: no pack folder");
            return Vec::new();
        }
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "idx") && p.with_extension("pack").is_file())
        .collect();
    out.sort();
    out
}

/// Why the preload leaves a pack, or one entry of it, to the normal read path (logged at debug
/// level with the pack and the entry's offset).
#[derive(Debug, thiserror::Error)]
enum Skip {
    #[error("its index cannot be opened: {0}")]
    Index(String),
    #[error("it cannot be opened: {0}")]
    Pack(String),
    #[error("the index does not belong to the pack (checksums differ)")]
    Mismatch,
    #[error("its header cannot be read: {0}")]
    Header(String),
    #[error("it is {0} bytes")]
    TooLarge(u64),
    #[error("it cannot be inflated: {0}")]
    Inflate(String),
    #[error("its delta cannot be inflated: {0}")]
    DeltaInflate(String),
    #[error("its delta has no {0} size")]
    DeltaSize(&'static str),
    #[error("its delta is for a base of {expected} bytes, not {actual}")]
    DeltaBase { expected: u64, actual: usize },
    #[error("it would be {0} bytes")]
    ResultTooLarge(u64),
    #[error("its delta cannot be applied: {0}")]
    Apply(&'static str),
    #[error("it cannot be hashed: {0}")]
    Hash(String),
    #[error("it is not commit {0}")]
    NotTheCommit(ObjectId),
}

/// One pack and its index, with its delta forest.
struct Pack {
    index: pack::index::File,
    data: pack::data::File,
    /// The index's entries by pack offset: (offset, entry number in the index).
    entries: Vec<(u64, u32)>,
    /// Children of entry `i` (a position in `entries`): `children[first[i]..first[i + 1]]`.
    first: Vec<u32>,
    children: Vec<u32>,
    /// Full commits: the roots of the subtrees decoded.
    roots: Vec<u32>,
}

/// What a decoding task found: its arena, and the commits in it.
struct Part {
    arena: Vec<u8>,
    found: Vec<(ObjectId, usize, u32)>,
}

impl Pack {
    fn open(idx: &Path, hash: gix::hash::Kind) -> Result<Pack, Skip> {
        let index = pack::index::File::at(idx, hash).map_err(|e| Skip::Index(format!("{e:?}")))?;
        let data = pack::data::File::at(idx.with_extension("pack"), hash)
            .map_err(|e| Skip::Pack(format!("{e:?}")))?;
        if index.pack_checksum() != data.checksum() {
            return Err(Skip::Mismatch);
        }
        let mut entries: Vec<(u64, u32)> = (0..index.num_objects())
            .into_par_iter()
            .map(|i| (index.pack_offset_at_index(i), i))
            .collect();
        entries.par_sort_unstable();
        let position = |offset: u64| -> Option<u32> {
            entries
                .binary_search_by_key(&offset, |e| e.0)
                .ok()
                .and_then(|p| u32::try_from(p).ok())
        };
        // Each entry's base, as a position in `entries` (NONE for a full object or an unknown
        // base), and whether it is a full commit.
        let bases: Vec<(u32, bool)> = entries
            .par_iter()
            .map(|(offset, _)| {
                let Ok(entry) = data.entry(*offset) else {
                    return (NONE, false);
                };
                let base = match entry.header {
                    pack::data::entry::Header::Commit => return (NONE, true),
                    pack::data::entry::Header::OfsDelta { base_distance } => entry
                        .checked_base_pack_offset(base_distance)
                        .and_then(position),
                    pack::data::entry::Header::RefDelta { base_id } => index
                        .lookup(base_id)
                        .and_then(|i| position(index.pack_offset_at_index(i))),
                    _ => None,
                };
                (base.unwrap_or(NONE), false)
            })
            .collect();
        let roots: Vec<u32> = (0..bases.len() as u32)
            .filter(|p| bases[*p as usize].1)
            .collect();
        let base: Vec<u32> = bases.into_iter().map(|(b, _)| b).collect();
        // The children lists, compressed (counts, then running sums, then filled).
        let mut first = vec![0u32; entries.len() + 1];
        for b in base.iter().filter(|b| **b != NONE) {
            first[*b as usize + 1] += 1;
        }
        for i in 1..first.len() {
            first[i] += first[i - 1];
        }
        let mut fill = first.clone();
        let mut children = vec![0u32; first[entries.len()] as usize];
        for (pos, b) in base.iter().enumerate().filter(|(_, b)| **b != NONE) {
            let at = &mut fill[*b as usize];
            children[*at as usize] = pos as u32;
            *at += 1;
        }
        Ok(Pack {
            index,
            data,
            entries,
            first,
            children,
            roots,
        })
    }

    fn children(&self, pos: u32) -> &[u32] {
        let p = pos as usize;
        &self.children[self.first[p] as usize..self.first[p + 1] as usize]
    }

    /// Decodes every commit subtree of the forest, in parallel, into `out`; lists the pack's
    /// other objects meanwhile.
    fn decode_commits(
        &self,
        hash: gix::hash::Kind,
        budget: (&AtomicUsize, usize),
        out: &mut Preloaded,
    ) {
        // A few tasks per thread, so that one large subtree does not leave a core idle.
        let tasks = rayon::current_num_threads().max(1) * 4;
        let chunk = self.roots.len().div_ceil(tasks).max(1);
        let (mut packed, parts) = rayon::join(
            || {
                let mut ids: HashMap<ObjectId, Slot> = HashMap::default();
                ids.reserve(self.entries.len());
                for i in 0..self.index.num_objects() {
                    ids.insert(self.index.oid_at_index(i).to_owned(), Slot::PACKED);
                }
                ids
            },
            || -> Vec<Part> {
                self.roots
                    .par_chunks(chunk)
                    .map(|roots| self.decode_subtrees(roots, hash, budget))
                    .collect()
            },
        );
        if out.slots.is_empty() {
            std::mem::swap(&mut out.slots, &mut packed);
        } else {
            for (id, slot) in packed {
                out.slots.entry(id).or_insert(slot);
            }
        }
        for part in parts {
            let Ok(arena) = u32::try_from(out.arenas.len()) else {
                break;
            };
            for (id, start, len) in part.found {
                let slot = out.slots.entry(id).or_insert(Slot::PACKED);
                // The first pack that holds a commit serves it.
                if slot.arena == Slot::PACKED.arena {
                    *slot = Slot { arena, len, start };
                    out.commits += 1;
                }
            }
            out.arenas.push(part.arena);
        }
    }

    /// Decodes the subtrees of `roots` depth first (a delta is applied to its base's bytes,
    /// which are still in the arena), while the bytes used stay within the budget.
    fn decode_subtrees(
        &self,
        roots: &[u32],
        hash: gix::hash::Kind,
        (used, budget): (&AtomicUsize, usize),
    ) -> Part {
        let mut part = Part {
            arena: Vec::new(),
            found: Vec::new(),
        };
        let mut inflate = gix::zlib::Inflate::default();
        let mut delta = Vec::new();
        // (entry, its base's start and length in the arena)
        let mut stack: Vec<(u32, usize, usize)> = Vec::new();
        for &root in roots {
            if used.load(Ordering::Relaxed) >= budget {
                break;
            }
            let start = part.arena.len();
            let decoded = self.inflate_full(root, &mut inflate, &mut part.arena);
            stack.extend(
                self.keep(root, start, decoded, hash, &mut part)
                    .map(|len| self.children(root).iter().map(move |c| (*c, start, len)))
                    .into_iter()
                    .flatten(),
            );
            while let Some((pos, base_start, base_len)) = stack.pop() {
                let at = part.arena.len();
                let decoded = self.resolve_delta(
                    pos,
                    (base_start, base_len),
                    &mut inflate,
                    &mut delta,
                    &mut part.arena,
                );
                if let Some(len) = self.keep(pos, at, decoded, hash, &mut part) {
                    stack.extend(self.children(pos).iter().map(|c| (*c, at, len)));
                }
            }
            // The whole subtree's bytes: it starts where its root does.
            used.fetch_add(part.arena.len() - start, Ordering::Relaxed);
        }
        part
    }

    /// Records the object just decoded at `start` of the arena when it hashes, as a commit, to
    /// its id in the index; else drops it (and so its subtree). Returns its length when kept.
    fn keep(
        &self,
        pos: u32,
        start: usize,
        decoded: Result<(), Skip>,
        hash: gix::hash::Kind,
        part: &mut Part,
    ) -> Option<usize> {
        let (offset, number) = self.entries[pos as usize];
        let outcome = decoded.and_then(|()| {
            let bytes = &part.arena[start..];
            let id = gix::objs::compute_hash(hash, gix::object::Kind::Commit, bytes)
                .map_err(|e| Skip::Hash(e.to_string()))?;
            let len = u32::try_from(bytes.len()).map_err(|_| Skip::TooLarge(bytes.len() as u64))?;
            match self.index.oid_at_index(number) == id.as_ref() {
                true => Ok((id, len)),
                false => Err(Skip::NotTheCommit(
                    self.index.oid_at_index(number).to_owned(),
                )),
            }
        });
        match outcome {
            Ok((id, len)) => {
                part.found.push((id, start, len));
                Some(len as usize)
            }
            Err(why) => {
                tracing::debug!(
                    pack = %self.data.path().display(),
                    offset,
                    "commit preload: entry left to the normal read path: {why}"
                );
                part.arena.truncate(start);
                None
            }
        }
    }

    /// Inflates the full object at entry `pos` onto the end of `arena`.
    fn inflate_full(
        &self,
        pos: u32,
        inflate: &mut gix::zlib::Inflate,
        arena: &mut Vec<u8>,
    ) -> Result<(), Skip> {
        let entry = self.entry(pos)?;
        let start = arena.len();
        arena.resize(start + entry.decompressed_size as usize, 0);
        self.data
            .decompress_entry(&entry, inflate, &mut arena[start..])
            .map_err(|e| Skip::Inflate(format!("{e:?}")))?;
        Ok(())
    }

    /// Inflates the delta at entry `pos` and applies it to the base at `base` (start, length) of
    /// `arena`, writing the result onto the end of `arena`.
    fn resolve_delta(
        &self,
        pos: u32,
        base: (usize, usize),
        inflate: &mut gix::zlib::Inflate,
        delta: &mut Vec<u8>,
        arena: &mut Vec<u8>,
    ) -> Result<(), Skip> {
        let entry = self.entry(pos)?;
        delta.clear();
        delta.resize(entry.decompressed_size as usize, 0);
        self.data
            .decompress_entry(&entry, inflate, delta)
            .map_err(|e| Skip::DeltaInflate(format!("{e:?}")))?;
        let mut at = 0;
        let base_size = delta_size(delta, &mut at).ok_or(Skip::DeltaSize("base"))?;
        let result_size = delta_size(delta, &mut at).ok_or(Skip::DeltaSize("result"))?;
        if base_size != base.1 as u64 {
            return Err(Skip::DeltaBase {
                expected: base_size,
                actual: base.1,
            });
        }
        if result_size > MAX_OBJECT_SIZE {
            return Err(Skip::ResultTooLarge(result_size));
        }
        let start = arena.len();
        arena.resize(start + result_size as usize, 0);
        let (before, target) = arena.split_at_mut(start);
        apply_delta(&before[base.0..base.0 + base.1], &delta[at..], target).map_err(Skip::Apply)
    }

    /// The pack entry at position `pos`, when its size is one the preload takes.
    fn entry(&self, pos: u32) -> Result<pack::data::Entry, Skip> {
        let entry = self
            .data
            .entry(self.entries[pos as usize].0)
            .map_err(|e| Skip::Header(format!("{e:?}")))?;
        if entry.decompressed_size > MAX_OBJECT_SIZE {
            return Err(Skip::TooLarge(entry.decompressed_size));
        }
        Ok(entry)
    }
}

/// Reads one of the two sizes a git delta begins with (7 bits a byte, least significant first).
fn delta_size(delta: &[u8], at: &mut usize) -> Option<u64> {
    let mut size = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *delta.get(*at)?;
        *at += 1;
        if shift >= u64::BITS {
            return None;
        }
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Some(size);
        }
    }
}

/// Applies the instructions of a git delta (after its two sizes) to `base`, filling `target`
/// exactly. An instruction with its high bit set copies from the base (the low 4 bits say which
/// offset bytes follow, the next 3 which size bytes; size 0 means 0x10000); any other but 0
/// inserts that many literal bytes that follow it.
fn apply_delta(base: &[u8], delta: &[u8], target: &mut [u8]) -> Result<(), &'static str> {
    let mut i = 0;
    let mut at = 0;
    let next = |i: &mut usize| -> Result<usize, &'static str> {
        let byte = delta.get(*i).ok_or("a copy instruction is cut short")?;
        *i += 1;
        Ok(usize::from(*byte))
    };
    while let Some(&cmd) = delta.get(i) {
        i += 1;
        let (bytes, len) = if cmd & 0x80 != 0 {
            let mut offset = 0usize;
            let mut size = 0usize;
            for bit in 0..4 {
                if cmd & (1 << bit) != 0 {
                    offset |= next(&mut i)? << (8 * bit);
                }
            }
            for bit in 0..3 {
                if cmd & (0x10 << bit) != 0 {
                    size |= next(&mut i)? << (8 * bit);
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let bytes = base
                .get(offset..offset + size)
                .ok_or("a copy reaches beyond the base")?;
            (bytes, size)
        } else if cmd != 0 {
            let size = usize::from(cmd);
            let bytes = delta
                .get(i..i + size)
                .ok_or("an insert instruction is cut short")?;
            i += size;
            (bytes, size)
        } else {
            return Err("it holds the reserved instruction 0");
        };
        target
            .get_mut(at..at + len)
            .ok_or("it writes more than its result size")?
            .copy_from_slice(bytes);
        at += len;
    }
    match at == target.len() {
        true => Ok(()),
        false => Err("it writes less than its result size"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::git;

    /// A repository of 40 commits whose messages and trees differ a little each time, packed
    /// with deltas recomputed, plus one loose commit made after the repack.
    fn packed_repo() -> (tempfile::TempDir, gix::Repository) {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        for i in 0..40 {
            std::fs::write(d.join("state.yml"), format!("count: {i}\nphase: build\n"))
                .expect("write");
            git(d, &["add", "state.yml"]);
            let message = format!(
                "ddx(x): event {i}\n\nA body that stays the same from one commit to the next,\nso that git stores most commits as deltas of others.\n\nDdx-Event: complete\nDdx-Instance: x\nDdx-Seq: {i}\n"
            );
            git(d, &["commit", "-q", "-m", &message]);
        }
        git(d, &["repack", "-adF", "-q"]);
        std::fs::write(d.join("state.yml"), "loose: true\n").expect("write");
        git(d, &["commit", "-q", "-am", "made after the repack"]);
        let repo = gix::open(d).expect("open the repository");
        (dir, repo)
    }

    #[test]
    fn preloaded_commits_are_the_bytes_git_prints() {
        let (dir, repo) = packed_repo();
        let d = dir.path();
        // The test is about deltas: some commits must be stored as deltas of others.
        let idx = git(d, &["rev-parse", "--git-path", "objects/pack"]);
        let verify = std::fs::read_dir(d.join(idx.trim()))
            .expect("pack folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .map(|p| git(d, &["verify-pack", "-v", p.to_str().expect("UTF-8 path")]))
            .expect("a pack index");
        let deltified = verify
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("commit"))
            .filter(|l| l.split_whitespace().count() == 7)
            .count();
        assert!(deltified >= 10, "too few deltified commits:\n{verify}");

        let preload = Preloaded::for_repo(&repo);
        let loose = git(d, &["rev-parse", "HEAD"]);
        let loose = ObjectId::from_hex(loose.trim().as_bytes()).expect("an id");
        let mut seen = 0;
        for line in git(d, &["rev-list", "--all"]).lines() {
            let id = ObjectId::from_hex(line.as_bytes()).expect("an id");
            if id == loose {
                assert_eq!(preload.get(&id), None, "the loose commit is not preloaded");
                continue;
            }
            let expected = git(d, &["cat-file", "commit", line]);
            assert_eq!(
                preload
                    .get(&id)
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                Some(expected),
                "commit {line}"
            );
            seen += 1;
        }
        assert_eq!(seen, 40);
        assert_eq!(preload.len(), 40, "trees and blobs are not preloaded");
        // Every packed object is known to exist; the objects of the loose commit are not.
        let loose_objects = git(d, &["rev-parse", "HEAD", "HEAD^{tree}", "HEAD:state.yml"]);
        for line in git(d, &["rev-list", "--objects", "--all"]).lines() {
            let id = line.split(' ').next().expect("an id");
            let loose_object = loose_objects.lines().any(|l| l == id);
            let id = ObjectId::from_hex(id.as_bytes()).expect("an id");
            assert_eq!(preload.is_packed(&id), !loose_object, "object {id}");
        }
    }

    #[test]
    fn nothing_is_decoded_beyond_the_budget() {
        let (_dir, repo) = packed_repo();
        let objects = repo.objects.store_ref().path();
        let none = Preloaded::load(objects, repo.object_hash(), 0);
        assert_eq!(none.len(), 0);
        let head = repo.head_id().expect("HEAD").detach();
        let first = repo.rev_parse_single("HEAD~1").expect("HEAD~1").detach();
        assert_eq!(none.get(&first), None);
        // Still known to exist: only the loose commit is not.
        assert!(none.is_packed(&first));
        assert!(!none.is_packed(&head));
        assert_eq!(
            Preloaded::load(objects, repo.object_hash(), BUDGET).len(),
            40
        );
    }

    #[test]
    fn a_pack_that_cannot_be_read_is_left_out() {
        let (dir, repo) = packed_repo();
        let pack_dir = repo.objects.store_ref().path().join("pack");
        let junk = pack_dir.join("pack-0000000000000000000000000000000000000000");
        std::fs::write(junk.with_extension("idx"), b"not an index").expect("write");
        std::fs::write(junk.with_extension("pack"), b"PACK and then nothing").expect("write");
        let preload = Preloaded::for_repo(&repo);
        assert_eq!(preload.len(), 40);
        drop(dir);
    }

    #[test]
    fn deltas_apply_and_malformed_ones_are_errors() {
        let base = b"0123456789abcdef";
        // copy 4 bytes from offset 2, insert "XY", copy 3 bytes from offset 10.
        let delta = [0x91, 2, 4, 2, b'X', b'Y', 0x91, 10, 3];
        let mut out = [0u8; 9];
        assert_eq!(apply_delta(base, &delta, &mut out), Ok(()));
        assert_eq!(&out, b"2345XYabc");
        let mut short = [0u8; 8];
        assert!(apply_delta(base, &delta, &mut short).is_err());
        let mut long = [0u8; 10];
        assert!(apply_delta(base, &delta, &mut long).is_err());
        let mut out = [0u8; 20];
        for bad in [
            &[0x91, 12, 8][..], // beyond the base
            &[0x91, 2][..],     // cut short
            &[5, b'a'][..],     // insert cut short
            &[0][..],           // reserved
        ] {
            assert!(apply_delta(base, bad, &mut out).is_err(), "{bad:?}");
        }
        let mut at = 0;
        assert_eq!(delta_size(&[0x90, 0x01, 0x05], &mut at), Some(0x90));
        assert_eq!(delta_size(&[0x05], &mut { 0 }), Some(5));
        assert_eq!(delta_size(&[0x80], &mut { 0 }), None);
        assert_eq!(delta_size(&[0xff; 11], &mut { 0 }), None);
    }
}
