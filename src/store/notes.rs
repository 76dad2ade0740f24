//! `refs/notes/ddx`: on the project's own commits, which instance and phase they belong to.
//!
//! A note is one JSON object per line, so `git notes merge -s cat_sort_uniq` always merges
//! them. Notes are a derived index: `ddx notes rebuild` regenerates them from the commits'
//! `Ddx-Instance`/`Ddx-Phase` trailers.

use super::refedit::{self, EditError, Update};
use super::repo::{Repo, StoreError};
use gix::ObjectId;

/// The notes ref.
pub const NOTES_REF: &str = "refs/notes/ddx";

/// The notes tree of `refs/notes/ddx`, read at the commit the ref points to now.
struct NotesTree {
    /// The notes commit (`None`: the ref does not exist yet).
    parent: Option<ObjectId>,
    state: gix::note::plumbing::State,
}

fn open_tree(repo: &Repo) -> Result<NotesTree, StoreError> {
    let gix = repo.gix();
    let parent = super::refs::read(repo, NOTES_REF)?;
    let root = match parent {
        Some(commit) => gix
            .find_commit(commit)
            .map_err(|e| StoreError::Corrupt {
                reference: NOTES_REF.to_owned(),
                commit: commit.to_string(),
                what: format!("it does not point at a commit ({e})"),
            })?
            .tree_id()
            .map_err(|e| StoreError::git(format!("reading the tree of {commit}"), e))?
            .detach(),
        None => ObjectId::empty_tree(gix.object_hash()),
    };
    let state = gix::note::plumbing::State::new(root, gix)
        .map_err(|e| StoreError::git(format!("reading the notes tree {root}"), e))?;
    Ok(NotesTree { parent, state })
}

impl NotesTree {
    fn get(&mut self, repo: &Repo, commit: ObjectId) -> Result<Option<String>, StoreError> {
        let gix = repo.gix();
        let Some(blob) = self
            .state
            .get(&commit, gix)
            .map_err(|e| StoreError::git(format!("reading the note of {commit}"), e))?
        else {
            return Ok(None);
        };
        let data = gix
            .find_blob(blob)
            .map_err(|e| StoreError::git(format!("reading note blob {blob}"), e))?;
        Ok(Some(String::from_utf8_lossy(&data.data).into_owned()))
    }
}

/// The note on `commit`, if any.
pub fn read(repo: &Repo, commit: ObjectId) -> Result<Option<String>, StoreError> {
    open_tree(repo)?.get(repo, commit)
}

/// Adds `line` (one JSON object) to the note on `commit`, unless it is there already.
/// Returns false when nothing changed.
pub fn append(repo: &Repo, commit: ObjectId, line: &str) -> Result<bool, StoreError> {
    update(repo, |tree| {
        let existing = tree.get(repo, commit)?.unwrap_or_default();
        if existing.lines().any(|l| l == line) {
            return Ok(Vec::new());
        }
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        Ok(vec![(commit, text)])
    })
    .map(|n| n > 0)
}

/// Sets the note on `commit` to `text`.
pub fn replace(repo: &Repo, commit: ObjectId, text: &str) -> Result<(), StoreError> {
    update(repo, |_| Ok(vec![(commit, text.to_owned())])).map(|_| ())
}

/// How often a notes edit is tried again when another writer moved the notes ref meanwhile.
const ATTEMPTS: u32 = 8;

/// Reads the notes tree, asks `change` for the notes to set, and writes them in one notes
/// commit, moved through the store's one ref path (compare-and-swap against the notes commit it
/// was built on); read again and retried when another writer moved the ref meanwhile. Returns
/// how many notes were set.
fn update(
    repo: &Repo,
    mut change: impl FnMut(&mut NotesTree) -> Result<Vec<(ObjectId, String)>, StoreError>,
) -> Result<usize, StoreError> {
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let mut tree = open_tree(repo)?;
        let notes = change(&mut tree)?;
        if notes.is_empty() {
            return Ok(0);
        }
        match commit_notes(repo, tree, &notes)? {
            Ok(()) => return Ok(notes.len()),
            Err(why) => last = why,
        }
    }
    Err(StoreError::Contended {
        reference: NOTES_REF.to_owned(),
        attempts: ATTEMPTS,
        source: last.into(),
    })
}

/// Writes `notes` over `tree` as one notes commit and moves the ref; `Ok(Err(why))` when the
/// ref moved since `tree` was read.
fn commit_notes(
    repo: &Repo,
    mut tree: NotesTree,
    notes: &[(ObjectId, String)],
) -> Result<Result<(), String>, StoreError> {
    let identity = repo.identity()?;
    let objects = Collected::new(repo);
    for (commit, text) in notes {
        let blob = objects.put(gix::objs::Kind::Blob, text.as_bytes().to_vec())?;
        tree.state
            .edit(*commit, Some(blob), &objects)
            .map_err(|e| StoreError::git(format!("noting {commit}"), e))?;
    }
    let root = tree
        .state
        .write(&objects)
        .map_err(|e| StoreError::git("writing the notes tree", e))?;
    for (kind, data) in objects.take() {
        super::event::write_raw(repo, kind, &data)?;
    }
    let message = match notes {
        [(commit, _)] => format!("ddx: note on {}", commit.to_hex_with_len(12)),
        many => format!("ddx: notes on {} commits", many.len()),
    };
    let subject = super::event::Message {
        subject: message.clone(),
        body: String::new(),
        trailers: Vec::new(),
    };
    let commit = super::event::write_commit(
        super::event::Sink::Write(repo),
        &identity,
        &subject,
        root,
        tree.parent.as_slice(),
    )?;
    let update = Update {
        name: NOTES_REF,
        old: tree.parent,
        new: Some(commit),
    };
    match refedit::apply(repo, &identity, &[update], &format!("notes: {message}")) {
        Ok(()) => Ok(Ok(())),
        Err(EditError::Conflict(why)) => Ok(Err(why)),
        Err(EditError::Failed(e)) => Err(e),
    }
}

/// Objects made while editing the notes tree, kept in memory (and readable back) until they
/// are written the way the store writes objects (see [`super::event::write_raw`]).
struct Collected<'r> {
    repo: &'r Repo,
    objects: std::cell::RefCell<std::collections::HashMap<ObjectId, (gix::objs::Kind, Vec<u8>)>>,
}

impl<'r> Collected<'r> {
    fn new(repo: &'r Repo) -> Self {
        Collected {
            repo,
            objects: Default::default(),
        }
    }

    fn put(&self, kind: gix::objs::Kind, data: Vec<u8>) -> Result<ObjectId, StoreError> {
        let id = gix::objs::compute_hash(self.repo.gix().object_hash(), kind, &data)
            .map_err(|e| StoreError::git("hashing an object", e))?;
        self.objects.borrow_mut().entry(id).or_insert((kind, data));
        Ok(id)
    }

    fn take(self) -> Vec<(gix::objs::Kind, Vec<u8>)> {
        self.objects.into_inner().into_values().collect()
    }
}

impl gix::objs::Find for Collected<'_> {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'a>>> {
        let found = self.objects.borrow().get(id).cloned();
        match found {
            Some((kind, data)) => {
                *buffer = data;
                Ok(Some(gix::objs::Data {
                    kind,
                    object_hash: self.repo.gix().object_hash(),
                    data: buffer.as_slice(),
                }))
            }
            None => self.repo.gix().try_find(id, buffer),
        }
    }
}

impl gix::objs::Write for Collected<'_> {
    fn write_buf_with_known_id(
        &self,
        kind: gix::objs::Kind,
        from: &[u8],
        _id: ObjectId,
    ) -> gix::Result<ObjectId> {
        self.write_stream(kind, from.len() as u64, &mut &*from)
    }

    fn write_stream(
        &self,
        kind: gix::objs::Kind,
        _size: u64,
        from: &mut dyn std::io::Read,
    ) -> gix::Result<ObjectId> {
        use gix::error::ResultExt as _;
        let mut data = Vec::new();
        from.read_to_end(&mut data).or_error()?;
        self.put(kind, data).or_error()
    }

    fn write_stream_with_known_id(
        &self,
        kind: gix::objs::Kind,
        size: u64,
        from: &mut dyn std::io::Read,
        _id: ObjectId,
    ) -> gix::Result<ObjectId> {
        self.write_stream(kind, size, from)
    }
}

/// One commit's derived note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedNote {
    pub commit: ObjectId,
    pub text: String,
}

/// Commits reachable from HEAD (newest first) with their message and commit time in seconds.
pub fn history(repo: &Repo) -> Result<Vec<(ObjectId, String, i64)>, StoreError> {
    let gix = repo.gix();
    let Some(head) = repo.project_commit() else {
        return Ok(Vec::new());
    };
    let walk = gix
        .rev_walk([head])
        .all()
        .map_err(|e| StoreError::git("walking the history", e))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.map_err(|e| StoreError::git("walking the history", e))?;
        let commit = gix
            .find_commit(info.id)
            .map_err(|e| StoreError::git(format!("reading commit {}", info.id), e))?;
        let time = commit.time().map(|t| t.seconds).unwrap_or(0);
        out.push((info.id, commit.message_raw_sloppy().to_string(), time));
    }
    Ok(out)
}

/// The audit chain's commits with their commit time in seconds, in chain order, oldest first.
pub fn audit_times(repo: &Repo) -> Result<Vec<(i64, ObjectId)>, StoreError> {
    let gix = repo.gix();
    let Some(head) = super::refs::read(repo, "refs/ddx/audit")? else {
        return Ok(Vec::new());
    };
    let walk = gix
        .rev_walk([head])
        .all()
        .map_err(|e| StoreError::git("walking refs/ddx/audit", e))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.map_err(|e| StoreError::git("walking refs/ddx/audit", e))?;
        let commit = gix
            .find_commit(info.id)
            .map_err(|e| StoreError::git(format!("reading audit commit {}", info.id), e))?;
        out.push((commit.time().map(|t| t.seconds).unwrap_or(0), info.id));
    }
    out.reverse();
    Ok(out)
}

/// Sets each note in `notes` unless it already reads so, in one notes commit; returns how
/// many changed.
pub fn write_all(repo: &Repo, notes: &[DerivedNote], dry_run: bool) -> Result<usize, StoreError> {
    let changed = |tree: &mut NotesTree| -> Result<Vec<(ObjectId, String)>, StoreError> {
        let mut out = Vec::new();
        for n in notes {
            if tree.get(repo, n.commit)?.as_deref() != Some(n.text.as_str()) {
                out.push((n.commit, n.text.clone()));
            }
        }
        Ok(out)
    };
    if dry_run {
        return Ok(changed(&mut open_tree(repo)?)?.len());
    }
    update(repo, changed)
}

/// Every note of `refs/notes/ddx`: the annotated commit (as its hex id, the note's path without
/// fan-out slashes) and the note's text. Empty when there are no notes.
pub fn all(repo: &Repo) -> Result<Vec<(String, String)>, StoreError> {
    let gix = repo.gix();
    let Some(commit) = super::refs::read(repo, NOTES_REF)? else {
        return Ok(Vec::new());
    };
    let tree = gix
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading notes commit {commit}"), e))?
        .tree_id()
        .map_err(|e| StoreError::git(format!("reading the tree of {commit}"), e))?
        .detach();
    let mut out = Vec::new();
    let mut todo = vec![(tree, String::new())];
    while let Some((id, prefix)) = todo.pop() {
        let t = gix
            .find_tree(id)
            .map_err(|e| StoreError::git(format!("reading notes tree {id}"), e))?;
        for entry in t.iter() {
            let entry =
                entry.map_err(|e| StoreError::git(format!("reading notes tree {id}"), e))?;
            let path = format!("{prefix}{}", entry.filename());
            if entry.mode().is_tree() {
                todo.push((entry.oid().to_owned(), path));
            } else if entry.mode().is_blob() {
                let blob = gix.find_blob(entry.oid()).map_err(|e| {
                    StoreError::git(format!("reading note blob {}", entry.oid()), e)
                })?;
                out.push((path, String::from_utf8_lossy(&blob.data).into_owned()));
            }
        }
    }
    out.sort();
    Ok(out)
}
