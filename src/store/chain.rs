//! Reading whole chains of commits as they really are, for verification, reports and export.
//!
//! A [`Reader`] reads objects with git's replacement refs (`refs/replace/*`) ignored, so what
//! it returns is what the ids name, never a substitute someone slipped in; [`replacements`]
//! lists the substitutes so a verifier can name them. [`Reader::walk`] follows every parent
//! (chains may fork and be joined by merges) and returns the commits parents-first, with the
//! objects that could not be read instead of failing on the first one.

use super::event::Message;
use super::repo::{Repo, StoreError};
use super::{refs, GitTree};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use std::collections::{HashMap, HashSet};

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
    /// The message, raw.
    pub raw_message: String,
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
    pub why: String,
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

/// A thread-safe handle from which each worker makes its own [`Reader`].
#[derive(Clone)]
pub struct SharedReader(gix::ThreadSafeRepository);

impl SharedReader {
    pub fn local(&self) -> Reader {
        Reader::from_gix(self.0.to_thread_local())
    }
}

/// Reads objects with replacement refs ignored.
pub struct Reader {
    repo: gix::Repository,
}

impl Reader {
    pub fn new(repo: &Repo) -> Reader {
        Reader::from_gix(repo.gix().clone())
    }

    fn from_gix(mut repo: gix::Repository) -> Reader {
        repo.objects.ignore_replacements = true;
        repo.object_cache_size_if_unset(32 * 1024 * 1024);
        Reader { repo }
    }

    pub fn shared(&self) -> SharedReader {
        SharedReader(self.repo.clone().into_sync())
    }

    pub fn object_hash(&self) -> gix::hash::Kind {
        self.repo.object_hash()
    }

    /// A tree as a [`GitTree`], to load a pinned workflow definition from.
    pub fn git_tree(&self, tree: ObjectId, label: String) -> GitTree {
        GitTree::new(&self.repo, tree, label)
    }

    /// Whether the object exists (without reading it).
    pub fn has(&self, id: &ObjectId) -> bool {
        self.repo.has_object(id)
    }

    /// Reads and decodes one commit.
    pub fn commit(&self, id: ObjectId) -> Result<CommitData, String> {
        let object = self
            .repo
            .try_find_object(id)
            .map_err(|e| format!("it cannot be read: {e}"))?
            .ok_or_else(|| "the object is missing".to_owned())?;
        if object.kind != gix::object::Kind::Commit {
            return Err(format!("it is a {}, not a commit", object.kind));
        }
        let c = gix::objs::CommitRef::from_bytes(&object.data, self.repo.object_hash())
            .map_err(|e| format!("it is not a valid commit: {e}"))?;
        let person = |sig: Result<gix::actor::SignatureRef<'_>, _>| -> Result<Person, String> {
            let sig = sig.map_err(|e: gix::error::Error| format!("bad signature line: {e}"))?;
            let time = sig.time().unwrap_or_default();
            Ok(Person {
                name: sig.name.to_str_lossy().into_owned(),
                email: sig.email.to_str_lossy().into_owned(),
                seconds: time.seconds,
                offset: time.offset,
            })
        };
        let raw_message = c.message.to_str_lossy().into_owned();
        let message = Message::parse(&raw_message);
        Ok(CommitData {
            id,
            tree: c.tree(),
            parents: c.parents().collect(),
            author: person(c.author())?,
            committer: person(c.committer())?,
            signed: c.extra_headers.iter().any(|(k, _)| *k == "gpgsig"),
            raw_message,
            message,
        })
    }

    /// The entries of one tree.
    pub fn tree(&self, id: ObjectId) -> Result<Vec<TreeItem>, String> {
        let object = self
            .repo
            .try_find_object(id)
            .map_err(|e| format!("it cannot be read: {e}"))?
            .ok_or_else(|| "the object is missing".to_owned())?;
        if object.kind != gix::object::Kind::Tree {
            return Err(format!("it is a {}, not a tree", object.kind));
        }
        let tree = gix::objs::TreeRef::from_bytes(&object.data, self.repo.object_hash())
            .map_err(|e| format!("it is not a valid tree: {e}"))?;
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
    }

    /// The bytes of one blob.
    pub fn blob(&self, id: ObjectId) -> Result<Vec<u8>, String> {
        let object = self
            .repo
            .try_find_object(id)
            .map_err(|e| format!("it cannot be read: {e}"))?
            .ok_or_else(|| "the object is missing".to_owned())?;
        if object.kind != gix::object::Kind::Blob {
            return Err(format!("it is a {}, not a blob", object.kind));
        }
        Ok(object.detach().data)
    }

    /// The id `data` has as a blob (to compare content with a tree entry without reading it).
    pub fn blob_id(&self, data: &[u8]) -> ObjectId {
        gix::objs::compute_hash(self.repo.object_hash(), gix::object::Kind::Blob, data)
            .expect("hashing bytes in memory cannot fail")
    }

    /// Checks that a tree and everything under it exists; `seen` skips trees already checked.
    /// Returns the first object that is missing, with its path.
    pub fn tree_complete(
        &self,
        root: ObjectId,
        seen: &mut HashSet<ObjectId>,
    ) -> Result<(), (ObjectId, String, String)> {
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
                    if !self.has(&item.id) {
                        return Err((item.id, p, "the object is missing".to_owned()));
                    }
                    seen.insert(item.id);
                }
            }
        }
        Ok(())
    }

    /// Every commit reachable from `tips` through all parents, parents first.
    pub fn walk(&self, tips: &[ObjectId]) -> Walk {
        let mut walk = Walk::default();
        let mut known: HashSet<ObjectId> = HashSet::new();
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
            match self.commit(id) {
                Ok(c) => {
                    stack.push((id, None, true));
                    for p in c.parents.iter().rev() {
                        if !known.contains(p) {
                            stack.push((*p, Some(id), false));
                        }
                    }
                    walk.commits.insert(id, c);
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
    match repo.gix().rev_parse_single(spec) {
        Ok(id) => match id.object() {
            Ok(o) if o.kind == gix::object::Kind::Commit => Ok(Some(id.detach())),
            Ok(_) => Ok(None),
            Err(e) => Err(StoreError::git(format!("reading {spec}"), e)),
        },
        Err(_) => Ok(None),
    }
}
