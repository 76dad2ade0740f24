//! Reading whole chains of commits as they really are, for verification, reports and export.
//!
//! A [`Reader`] reads objects with git's replacement refs (`refs/replace/*`) ignored and checks
//! every object it reads against its id, so what it returns is what the ids name, never a
//! substitute someone slipped in nor a file damaged on disk; [`replacements`] lists the
//! substitutes so a verifier can name them. [`Reader::walk`] follows every parent
//! (chains may fork and be joined by merges) and returns the commits parents-first, with the
//! objects that could not be read instead of failing on the first one.

use super::event::Message;
use super::preload::Preloaded;
use super::repo::{check_id, ObjectError, Repo, StoreError};
use super::{refs, GitTree};
use gix::bstr::ByteSlice;
use gix::hashtable::{HashMap, HashSet};
use gix::ObjectId;
use std::sync::Arc;

/// Maps and sets keyed by object id, with the fast hasher gix uses for ids.
pub use gix::hashtable::{HashMap as IdMap, HashSet as IdSet};

/// One commit as a walk reads it, borrowed from the reader's buffer (see [`Reader::walk_map`]).
pub struct CommitView<'r, 'a>(&'r gix::objs::CommitRef<'a>);

impl CommitView<'_, '_> {
    pub fn tree(&self) -> ObjectId {
        self.0.tree()
    }

    pub fn author(&self) -> Result<Person, ObjectError> {
        person(self.0.author())
    }

    pub fn committer(&self) -> Result<Person, ObjectError> {
        person(self.0.committer())
    }

    /// Whether it carries a signature.
    pub fn signed(&self) -> bool {
        is_signed(self.0)
    }

    /// The message, invalid UTF-8 replaced.
    pub fn message(&self) -> std::borrow::Cow<'_, str> {
        self.0.message.to_str_lossy()
    }
}

/// Someone in a commit header: author or committer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
    /// Seconds since the epoch.
    pub seconds: i64,
    /// Offset from UTC in seconds.
    pub offset: i32,
}

impl Person {
    /// `Name <email>`, as ddx writes `Ddx-Actor`.
    pub fn actor(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }

    /// The time as RFC 3339 UTC.
    pub fn time(&self) -> String {
        refs::rfc3339(self.seconds)
    }
}

/// One commit, decoded.
#[derive(Debug, Clone)]
pub struct CommitData {
    pub id: ObjectId,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author: Person,
    pub committer: Person,
    /// The message, parsed into subject, body and trailers.
    pub message: Message,
    /// Whether the commit carries a signature (`gpgsig`).
    pub signed: bool,
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeItem {
    pub name: String,
    pub id: ObjectId,
    pub is_tree: bool,
    pub is_blob: bool,
}

/// An object that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub id: ObjectId,
    /// The commit that refers to it, when there is one.
    pub wanted_by: Option<ObjectId>,
    pub why: ObjectError,
}

/// Every commit reachable from some tips.
#[derive(Debug, Default)]
pub struct Walk {
    /// Parents before children; among unrelated commits, the order of discovery.
    pub order: Vec<ObjectId>,
    pub commits: HashMap<ObjectId, CommitData>,
    /// Commits that are referred to but cannot be read.
    pub missing: Vec<Unreadable>,
}

impl Walk {
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.commits.contains_key(id)
    }
}

/// The outcome of checking one commit's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub valid: bool,
    /// `good`, `bad`, `expired`, `error`, …
    pub status: String,
    pub signer: Option<String>,
    /// What the verifying program said, when the signature is not valid.
    pub output: String,
}

/// A thread-safe handle from which each worker makes its own [`Reader`] (sharing the commit
/// preload, when there is one).
#[derive(Clone)]
pub struct SharedReader {
    repo: gix::ThreadSafeRepository,
    preload: Option<Arc<Preloaded>>,
}

impl SharedReader {
    pub fn local(&self) -> Reader {
        let mut reader = Reader::from_gix(self.repo.to_thread_local());
        reader.preload = self.preload.clone();
        reader
    }
}

/// Reads objects with replacement refs ignored.
pub struct Reader {
    repo: gix::Repository,
    /// Reused for every object read: a long walk allocates nothing per object for its bytes.
    buf: std::cell::RefCell<Vec<u8>>,
    /// Every packed commit, decoded beforehand, for a reader that reads them all.
    preload: Option<Arc<Preloaded>>,
}

impl Reader {
    pub fn new(repo: &Repo) -> Reader {
        Reader::from_gix(repo.gix().clone())
    }

    /// A reader that first decodes every commit of the repository's packs, once each (see
    /// [`Preloaded`]), and serves commits from them: for verification, which reads every
    /// commit of every chain. Commits it could not preload are read the normal way.
    pub fn with_commit_preload(repo: &Repo) -> Reader {
        let mut reader = Reader::new(repo);
        reader.preload = Some(Arc::new(Preloaded::for_repo(&reader.repo)));
        reader
    }

    fn from_gix(mut repo: gix::Repository) -> Reader {
        repo.objects.ignore_replacements = true;
        // A delta base cache: a packed chain's objects are deltas of one another (after `git
        // gc`, chains up to 50 deep), and without it every read resolves its delta chain again.
        // Measured over 100,000 packed events: 32 MB per reader 15 s of CPU, 256 MB 10 s. Each
        // thread has its own reader, so the readers share 512 MB at most. With the commit
        // preload, verification reads commits without it and the cache stays nearly empty (8 MB
        // instead made no measurable difference); it is kept for the trees and blobs read when
        // a prediction fails, and for readers without the preload. It fills only as it is used.
        let cap = (512 << 20) / rayon::current_num_threads().max(1);
        repo.objects.set_pack_cache(move || {
            Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
                cap.max(32 << 20),
            ))
        });
        Reader {
            repo,
            buf: std::cell::RefCell::new(Vec::with_capacity(8192)),
            preload: None,
        }
    }

    /// Reads object `id` into the reused buffer, checks it against its id, and hands its kind
    /// and bytes to `f`. (The preload checked the commits it holds when it decoded them.)
    fn read<T>(
        &self,
        id: ObjectId,
        f: impl FnOnce(gix::object::Kind, &[u8]) -> Result<T, ObjectError>,
    ) -> Result<T, ObjectError> {
        use gix::prelude::Find;
        if let Some(bytes) = self.preload.as_ref().and_then(|p| p.get(&id)) {
            return f(gix::object::Kind::Commit, bytes);
        }
        let mut buf = self.buf.borrow_mut();
        let data = self
            .repo
            .objects
            .try_find(&id, &mut buf)
            .map_err(|e| ObjectError::unreadable(&e))?
            .ok_or(ObjectError::Missing)?;
        check_id(self.repo.object_hash(), &id, data.kind, data.data)?;
        f(data.kind, data.data)
    }

    pub fn shared(&self) -> SharedReader {
        SharedReader {
            repo: self.repo.clone().into_sync(),
            preload: self.preload.clone(),
        }
    }

    pub fn object_hash(&self) -> gix::hash::Kind {
        self.repo.object_hash()
    }

    /// A tree as a [`GitTree`], to load a pinned workflow definition from.
    pub fn git_tree(&self, tree: ObjectId, label: String) -> GitTree {
        GitTree::new(&self.repo, tree, label)
    }

    /// Whether the object exists and is intact. An object a pack index lists (the preload
    /// knows them all) is taken as there without reading it; any other is read and checked
    /// against its id, so a damaged loose object is found even where its content was
    /// predicted rather than read.
    pub fn has(&self, id: &ObjectId) -> bool {
        self.check(id).is_ok()
    }

    /// Like [`Reader::has`], saying why not.
    pub fn check(&self, id: &ObjectId) -> Result<(), ObjectError> {
        if self.preload.as_ref().is_some_and(|p| p.is_packed(id)) {
            return Ok(());
        }
        self.read(*id, |_, _| Ok(()))
    }

    /// Reads and decodes one commit.
    pub fn commit(&self, id: ObjectId) -> Result<CommitData, ObjectError> {
        let hash = self.repo.object_hash();
        self.read(id, |kind, data| {
            if kind != gix::object::Kind::Commit {
                return Err(ObjectError::Kind {
                    found: kind,
                    expected: gix::object::Kind::Commit,
                });
            }
            let c = gix::objs::CommitRef::from_bytes(data, hash)
                .map_err(|e| invalid(gix::object::Kind::Commit, &e))?;
            decode(id, &c, hash)
        })
    }

    /// The entries of one tree.
    pub fn tree(&self, id: ObjectId) -> Result<Vec<TreeItem>, ObjectError> {
        let hash = self.repo.object_hash();
        self.read(id, |kind, data| {
            if kind != gix::object::Kind::Tree {
                return Err(ObjectError::Kind {
                    found: kind,
                    expected: gix::object::Kind::Tree,
                });
            }
            let tree = gix::objs::TreeRef::from_bytes(data, hash)
                .map_err(|e| invalid(gix::object::Kind::Tree, &e))?;
            Ok(tree
                .entries
                .iter()
                .map(|e| TreeItem {
                    name: e.filename.to_str_lossy().into_owned(),
                    id: e.oid.to_owned(),
                    is_tree: e.mode.is_tree(),
                    is_blob: e.mode.is_blob(),
                })
                .collect())
        })
    }

    /// The ids of the entries `names` of one tree (`None` for a name it lacks), with whether
    /// each is a tree.
    pub fn tree_lookup<const N: usize>(
        &self,
        id: ObjectId,
        names: [&str; N],
    ) -> Result<[Option<(ObjectId, bool)>; N], ObjectError> {
        let hash = self.repo.object_hash();
        self.read(id, |kind, data| {
            if kind != gix::object::Kind::Tree {
                return Err(ObjectError::Kind {
                    found: kind,
                    expected: gix::object::Kind::Tree,
                });
            }
            let mut out = [None; N];
            for e in gix::objs::TreeRefIter::from_bytes(data, hash) {
                let e = e.map_err(|e| invalid(gix::object::Kind::Tree, &e))?;
                if let Some(i) = names.iter().position(|n| e.filename == n.as_bytes()) {
                    out[i] = Some((e.oid.to_owned(), e.mode.is_tree()));
                }
            }
            Ok(out)
        })
    }

    /// The bytes of one blob.
    pub fn blob(&self, id: ObjectId) -> Result<Vec<u8>, ObjectError> {
        self.read(id, |kind, data| {
            if kind != gix::object::Kind::Blob {
                return Err(ObjectError::Kind {
                    found: kind,
                    expected: gix::object::Kind::Blob,
                });
            }
            Ok(data.to_vec())
        })
    }

    /// Hands the bytes of one blob to `f` without copying them.
    pub fn with_blob<T>(&self, id: ObjectId, f: impl FnOnce(&[u8]) -> T) -> Result<T, ObjectError> {
        self.read(id, |kind, data| {
            if kind != gix::object::Kind::Blob {
                return Err(ObjectError::Kind {
                    found: kind,
                    expected: gix::object::Kind::Blob,
                });
            }
            Ok(f(data))
        })
    }

    /// The id `data` has as a blob (to compare content with a tree entry without reading it).
    pub fn blob_id(&self, data: &[u8]) -> ObjectId {
        gix::objs::compute_hash(self.repo.object_hash(), gix::object::Kind::Blob, data)
            .expect("hashing bytes in memory cannot fail")
    }

    /// The id `tree` would have (hashed, not written).
    pub fn tree_id(&self, tree: &gix::objs::Tree) -> ObjectId {
        let mut buf = Vec::with_capacity(96);
        gix::objs::WriteTo::write_to(tree, &mut buf)
            .expect("writing a tree into memory cannot fail");
        gix::objs::compute_hash(self.repo.object_hash(), gix::object::Kind::Tree, &buf)
            .expect("hashing bytes in memory cannot fail")
    }

    /// Checks that a tree and everything under it exists and is intact; `seen` skips trees
    /// already checked. Returns the first object that is not, with its path.
    pub fn tree_complete(
        &self,
        root: ObjectId,
        seen: &mut HashSet<ObjectId>,
    ) -> Result<(), (ObjectId, String, ObjectError)> {
        let mut stack = vec![(root, String::new())];
        while let Some((id, path)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let items = self.tree(id).map_err(|why| (id, path.clone(), why))?;
            for item in items {
                let p = if path.is_empty() {
                    item.name.clone()
                } else {
                    format!("{path}/{}", item.name)
                };
                if item.is_tree {
                    stack.push((item.id, p));
                } else if item.is_blob && !seen.contains(&item.id) {
                    self.check(&item.id).map_err(|why| (item.id, p, why))?;
                    seen.insert(item.id);
                }
            }
        }
        Ok(())
    }

    /// Every commit reachable from `tips` through all parents, parents first.
    pub fn walk(&self, tips: &[ObjectId]) -> Walk {
        let hash = self.repo.object_hash();
        Walk::from(self.walk_map(tips, |id, c| decode(id, c.0, hash)))
    }

    /// Like [`Reader::walk`], for verification: the messages hold their trailers only (no
    /// subject, no body).
    pub fn walk_lean(&self, tips: &[ObjectId]) -> Walk {
        Walk::from(self.walk_map(tips, |id, view| {
            let c = view.0;
            let text = c.message.to_str_lossy();
            Ok(CommitData {
                id,
                tree: c.tree(),
                parents: c.parents().collect(),
                author: person(c.author())?,
                committer: person(c.committer())?,
                signed: is_signed(c),
                message: Message {
                    subject: String::new(),
                    body: String::new(),
                    trailers: trailers(&text)
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                },
            })
        }))
    }

    /// Like [`Reader::walk`], keeping of each commit only what `f` takes from it (a long walk
    /// then allocates only what it keeps).
    pub fn walk_map<T>(
        &self,
        tips: &[ObjectId],
        mut f: impl FnMut(ObjectId, &CommitView<'_, '_>) -> Result<T, ObjectError>,
    ) -> WalkOf<T> {
        let hash = self.repo.object_hash();
        let mut walk = WalkOf {
            order: Vec::new(),
            nodes: HashMap::default(),
            missing: Vec::new(),
        };
        let mut known: HashSet<ObjectId> = HashSet::default();
        let mut stack: Vec<(ObjectId, Option<ObjectId>, bool)> =
            tips.iter().rev().map(|t| (*t, None, false)).collect();
        while let Some((id, child, expanded)) = stack.pop() {
            if expanded {
                walk.order.push(id);
                continue;
            }
            if !known.insert(id) {
                continue;
            }
            let read = self.read(id, |kind, data| {
                if kind != gix::object::Kind::Commit {
                    return Err(ObjectError::Kind {
                        found: kind,
                        expected: gix::object::Kind::Commit,
                    });
                }
                let c = gix::objs::CommitRef::from_bytes(data, hash)
                    .map_err(|e| invalid(gix::object::Kind::Commit, &e))?;
                let parents: Vec<ObjectId> = c.parents().collect();
                Ok((parents, f(id, &CommitView(&c))?))
            });
            match read {
                Ok((parents, value)) => {
                    stack.push((id, None, true));
                    for p in parents.iter().rev() {
                        if !known.contains(p) {
                            stack.push((*p, Some(id), false));
                        }
                    }
                    walk.nodes.insert(id, Node { parents, value });
                }
                Err(why) => walk.missing.push(Unreadable {
                    id,
                    wanted_by: child,
                    why,
                }),
            }
        }
        walk
    }

    /// Checks a commit's signature with the programs git would use (gpg, ssh-keygen).
    pub fn verify_signature(&self, id: ObjectId) -> Result<Option<SignatureCheck>, StoreError> {
        let commit = self
            .repo
            .find_commit(id)
            .map_err(|e| StoreError::git(format!("reading commit {id}"), e))?;
        let outcome = commit
            .verify_signature()
            .map_err(|e| StoreError::git(format!("checking the signature of {id}"), e))?;
        Ok(outcome.map(|o| SignatureCheck {
            valid: o.is_valid(),
            status: format!("{:?}", o.status).to_lowercase(),
            signer: o.signer.map(|s| s.to_str_lossy().into_owned()),
            output: o.output.to_str_lossy().trim().to_owned(),
        }))
    }
}

impl From<WalkOf<CommitData>> for Walk {
    fn from(mapped: WalkOf<CommitData>) -> Walk {
        Walk {
            order: mapped.order,
            commits: mapped
                .nodes
                .into_iter()
                .map(|(id, n)| (id, n.value))
                .collect(),
            missing: mapped.missing,
        }
    }
}

/// One commit of a [`WalkOf`]: its parents and what was kept of it.
#[derive(Debug, Clone)]
pub struct Node<T> {
    pub parents: Vec<ObjectId>,
    pub value: T,
}

/// Every commit reachable from some tips, with what a [`Reader::walk_map`] kept of each.
#[derive(Debug)]
pub struct WalkOf<T> {
    /// Parents before children.
    pub order: Vec<ObjectId>,
    pub nodes: HashMap<ObjectId, Node<T>>,
    pub missing: Vec<Unreadable>,
}

impl<T> WalkOf<T> {
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.nodes.contains_key(id)
    }
}

/// Someone in a commit header, decoded.
pub fn person(
    sig: Result<gix::actor::SignatureRef<'_>, gix::Error>,
) -> Result<Person, ObjectError> {
    let sig = sig.map_err(|e| ObjectError::Person(e.to_string()))?;
    let time = sig.time().unwrap_or_default();
    Ok(Person {
        name: sig.name.to_str_lossy().into_owned(),
        email: sig.email.to_str_lossy().into_owned(),
        seconds: time.seconds,
        offset: time.offset,
    })
}

fn decode(
    id: ObjectId,
    c: &gix::objs::CommitRef<'_>,
    _hash: gix::hash::Kind,
) -> Result<CommitData, ObjectError> {
    let message = Message::parse(&c.message.to_str_lossy());
    Ok(CommitData {
        id,
        tree: c.tree(),
        parents: c.parents().collect(),
        author: person(c.author())?,
        committer: person(c.committer())?,
        signed: is_signed(c),
        message,
    })
}

/// An object that does not decode as a `kind`.
fn invalid(kind: gix::object::Kind, e: &dyn std::error::Error) -> ObjectError {
    ObjectError::Invalid {
        kind,
        why: e.to_string(),
    }
}

/// Whether a commit carries a signature.
pub fn is_signed(c: &gix::objs::CommitRef<'_>) -> bool {
    c.extra_headers.iter().any(|(k, _)| *k == "gpgsig")
}

/// The `Key: value` trailers of a message, borrowed (the same paragraph
/// [`Message::parse`] takes as trailers).
pub fn trailers(text: &str) -> Vec<(&str, &str)> {
    let text = text.trim_end();
    let Some((_, rest)) = text.split_once('\n') else {
        return Vec::new();
    };
    let rest = rest.trim_start_matches('\n');
    let last = match rest.rfind("\n\n") {
        Some(i) => &rest[i + 2..],
        None => rest,
    };
    let mut out = Vec::new();
    for line in last.lines() {
        match line.split_once(": ") {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                out.push((k, v))
            }
            _ => return Vec::new(),
        }
    }
    out
}

/// The replacement refs: (replaced id, replacement id).
pub fn replacements(repo: &Repo) -> Result<Vec<(ObjectId, ObjectId)>, StoreError> {
    Ok(refs::list(repo, "refs/replace/")?
        .into_iter()
        .filter_map(|(name, target)| {
            ObjectId::from_hex(name.as_bytes())
                .ok()
                .map(|id| (id, target))
        })
        .collect())
}

/// Every ref under `refs/ddx/` with its target, by full name.
pub fn ddx_refs(repo: &Repo) -> Result<Vec<(String, ObjectId)>, StoreError> {
    Ok(refs::list(repo, "refs/ddx/")?
        .into_iter()
        .map(|(name, id)| (format!("refs/ddx/{name}"), id))
        .collect())
}

/// Resolves a revision (`refs/ddx/audit~2`, an id or a prefix of one) to a commit id.
pub fn rev_parse(repo: &Repo, spec: &str) -> Result<Option<ObjectId>, StoreError> {
    if repo.reads_refs_through_git() {
        // gix cannot read reftable refs; git resolves the same revision syntax.
        return Ok(super::git::rev_parse_commit(repo.work_dir(), spec));
    }
    match repo.gix().rev_parse_single(spec) {
        Ok(id) => match id.object() {
            Ok(o) if o.kind == gix::object::Kind::Commit => Ok(Some(id.detach())),
            Ok(_) => Ok(None),
            Err(e) => Err(StoreError::git(format!("reading {spec}"), e)),
        },
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_trailers_are_the_ones_message_parse_finds() {
        for text in [
            "ddx(x): start a\n\nbody\n\nDdx-Event: start\nDdx-Phase: a\n",
            "subject\n\nDdx-Event: init\nDdx-Reason: a: b\n",
            "subject only\n",
            "subject\n\nnot: a trailer block\nbecause this line is prose\n",
            "subject\n\nfirst paragraph\n\n\n",
        ] {
            let parsed = Message::parse(text);
            let borrowed: Vec<(String, String)> = trailers(text)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(borrowed, parsed.trailers, "{text:?}");
        }
    }
}
