//! Event commits: the commits of an instance chain, and the objects they are made of.
//!
//! An event commit's tree holds `state.yml` (the whole state after the event), `workflow/`
//! (the pinned definition tree) and, for an event that rendered artifacts, `renders/` (each
//! render by its path: the base of later merges); its parent is the previous event; its message has a readable
//! subject (`ddx(<id>): <what>`), a body, and `Ddx-*` trailers. Objects are written through a
//! [`Sink`], which either writes them or, for `--dry-run`, only computes their ids.

use super::repo::{Repo, StoreError};
use crate::model::tree::FileTree;
use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::{Entry, EntryKind};
use gix::objs::{Kind, WriteTo};
use gix::ObjectId;
use std::collections::BTreeMap;

/// The version of the storage format written by this ddx (`Ddx-Format`, `format:` in state.yml).
pub const FORMAT: u32 = 1;

/// The file of an event's tree that holds the state.
pub const STATE_FILE: &str = "state.yml";
/// The folder of an event's tree that holds the pinned workflow definition.
pub const WORKFLOW_DIR: &str = "workflow";
/// The folder of an event's tree that holds the artifacts it rendered, by path.
pub const RENDERS_DIR: &str = "renders";

/// Where objects go: into the object database, or (dry run) nowhere, with their ids computed.
#[derive(Clone, Copy)]
pub enum Sink<'r> {
    Write(&'r Repo),
    HashOnly(&'r Repo),
}

impl Sink<'_> {
    /// Writes (or only hashes) one object and returns its id.
    pub fn put(&self, object: &impl WriteTo) -> Result<ObjectId, StoreError> {
        match self {
            Sink::HashOnly(repo) => {
                let mut buf = Vec::with_capacity(object.size() as usize);
                object
                    .write_to(&mut buf)
                    .map_err(|e| StoreError::git("encoding an object", e))?;
                gix::objs::compute_hash(repo.gix().object_hash(), object.kind(), &buf)
                    .map_err(|e| StoreError::git("hashing an object", e))
            }
            Sink::Write(repo) => {
                let mut buf = Vec::with_capacity(object.size() as usize);
                object
                    .write_to(&mut buf)
                    .map_err(|e| StoreError::git("encoding an object", e))?;
                write_raw(repo, object.kind(), &buf)
            }
        }
    }

    pub fn blob(&self, data: &[u8]) -> Result<ObjectId, StoreError> {
        self.put(&gix::objs::BlobRef { data })
    }

    pub fn is_dry_run(&self) -> bool {
        matches!(self, Sink::HashOnly(_))
    }

    /// The repository objects go to (or are hashed for).
    pub(in crate::store) fn repo(&self) -> &gix::Repository {
        self.store().gix()
    }

    /// The repository, as the store opened it.
    pub fn store(&self) -> &Repo {
        match self {
            Sink::Write(r) | Sink::HashOnly(r) => r,
        }
    }
}

/// Writes one encoded object: through gix, or with git where gix would not honour the
/// repository's modes and fsync settings (see [`Repo::writes_through_git`]).
pub(crate) fn write_raw(repo: &Repo, kind: Kind, data: &[u8]) -> Result<ObjectId, StoreError> {
    if repo.writes_through_git() {
        let hex = super::git::write_object(repo.work_dir(), &kind.to_string(), data)
            .map_err(|e| StoreError::git(format!("writing a {kind}"), e))?;
        return ObjectId::from_hex(hex.as_bytes())
            .map_err(|e| StoreError::git(format!("reading the id git gave a {kind} ({hex})"), e));
    }
    use gix::objs::Write as _;
    repo.gix()
        .write_buf(kind, data)
        .map_err(|e| StoreError::git(format!("writing a {kind}"), e))
}

/// Writes every file of `tree` as blobs and trees (as one pack when there are many, see
/// [`super::pack`]); returns the root tree id and the file count.
pub fn write_file_tree(
    sink: Sink<'_>,
    tree: &dyn FileTree,
) -> Result<(ObjectId, usize), StoreError> {
    #[derive(Default)]
    struct Dir {
        files: BTreeMap<String, ObjectId>,
        dirs: BTreeMap<String, Dir>,
    }
    let repo = sink.repo();
    let mut objects: Vec<super::pack::Object> = Vec::new();
    let mut put = |kind: gix::objs::Kind, data: Vec<u8>| -> Result<ObjectId, StoreError> {
        let id = gix::objs::compute_hash(repo.object_hash(), kind, &data)
            .map_err(|e| StoreError::git("hashing an object", e))?;
        objects.push(super::pack::Object { kind, data, id });
        Ok(id)
    };
    fn write(
        dir: &Dir,
        put: &mut dyn FnMut(gix::objs::Kind, Vec<u8>) -> Result<ObjectId, StoreError>,
    ) -> Result<ObjectId, StoreError> {
        let mut entries = Vec::with_capacity(dir.files.len() + dir.dirs.len());
        for (name, id) in &dir.files {
            entries.push(Entry {
                mode: EntryKind::Blob.into(),
                filename: name.as_str().into(),
                oid: *id,
            });
        }
        for (name, sub) in &dir.dirs {
            entries.push(Entry {
                mode: EntryKind::Tree.into(),
                filename: name.as_str().into(),
                oid: write(sub, put)?,
            });
        }
        entries.sort();
        let tree = gix::objs::Tree { entries };
        let mut buf = Vec::with_capacity(tree.size() as usize);
        tree.write_to(&mut buf)
            .map_err(|e| StoreError::git("encoding a tree", e))?;
        put(gix::objs::Kind::Tree, buf)
    }
    let files = tree
        .files()
        .map_err(|e| StoreError::git("listing the workflow", e))?;
    let mut root = Dir::default();
    for path in &files {
        let Some(data) = tree
            .read(path)
            .map_err(|e| StoreError::git("reading the workflow", e))?
        else {
            continue;
        };
        let id = put(gix::objs::Kind::Blob, data)?;
        let mut parts: Vec<&str> = path.split('/').collect();
        let file = parts.pop().unwrap_or_default();
        let mut dir = &mut root;
        for p in parts {
            dir = dir.dirs.entry(p.to_owned()).or_default();
        }
        dir.files.insert(file.to_owned(), id);
    }
    let root_id = write(&root, &mut put)?;
    if let Sink::Write(_) = sink {
        super::pack::write_objects(sink.store(), &objects)?;
    }
    Ok((root_id, files.len()))
}

/// The tree of an event: `state.yml` and `workflow/`; returns the ids of the `state.yml` blob
/// and of the tree.
pub fn write_event_tree(
    sink: Sink<'_>,
    state: &[u8],
    workflow_tree: ObjectId,
) -> Result<(ObjectId, ObjectId), StoreError> {
    write_event_tree_with(sink, state, workflow_tree, None)
}

/// [`write_event_tree`], with the `renders/` tree of an event that rendered artifacts.
pub fn write_event_tree_with(
    sink: Sink<'_>,
    state: &[u8],
    workflow_tree: ObjectId,
    renders: Option<ObjectId>,
) -> Result<(ObjectId, ObjectId), StoreError> {
    let state_id = sink.blob(state)?;
    Ok((
        state_id,
        sink.put(&event_tree_with(state_id, workflow_tree, renders))?,
    ))
}

/// The tree of an event: `state.yml` and the pinned `workflow/`.
pub fn event_tree(state: ObjectId, workflow_tree: ObjectId) -> gix::objs::Tree {
    event_tree_with(state, workflow_tree, None)
}

/// The tree of an event, with the `renders/` tree of the artifacts it rendered, if any.
pub fn event_tree_with(
    state: ObjectId,
    workflow_tree: ObjectId,
    renders: Option<ObjectId>,
) -> gix::objs::Tree {
    let mut entries = vec![
        Entry {
            mode: EntryKind::Blob.into(),
            filename: STATE_FILE.into(),
            oid: state,
        },
        Entry {
            mode: EntryKind::Tree.into(),
            filename: WORKFLOW_DIR.into(),
            oid: workflow_tree,
        },
    ];
    if let Some(r) = renders {
        entries.push(Entry {
            mode: EntryKind::Tree.into(),
            filename: RENDERS_DIR.into(),
            oid: r,
        });
    }
    entries.sort();
    gix::objs::Tree { entries }
}

/// Writes (or, in a dry run, hashes) the renders of an event's artifacts as a tree of their
/// paths: the base of every later three-way merge, reachable from the chain so `git gc` keeps
/// it. `None` when there is none.
pub fn write_renders(
    sink: Sink<'_>,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Option<ObjectId>, StoreError> {
    use crate::model::tree::{MemFile, MemTree};
    if files.is_empty() {
        return Ok(None);
    }
    let tree = MemTree::new(
        RENDERS_DIR,
        files
            .into_iter()
            .map(|(p, data)| (p, MemFile::Data(data)))
            .collect(),
    );
    write_file_tree(sink, &tree).map(|(id, _)| Some(id))
}

/// Who did something, and when (from git config: `user.name`, `user.email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// Seconds since the epoch.
    pub seconds: i64,
    /// Offset from UTC, in seconds.
    pub offset: i32,
}

impl Identity {
    /// `Name <email>`, as in git.
    pub fn actor(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }

    pub fn signature(&self) -> gix::actor::Signature {
        gix::actor::Signature {
            name: self.name.as_str().into(),
            email: self.email.as_str().into(),
            time: gix::date::Time {
                seconds: self.seconds,
                offset: self.offset,
            },
        }
    }

    /// The time as RFC 3339 UTC.
    pub fn time(&self) -> String {
        super::refs::rfc3339(self.seconds)
    }
}

/// A commit message: subject, body and `Key: value` trailers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    pub trailers: Vec<(String, String)>,
}

impl Message {
    pub fn new(subject: impl Into<String>) -> Self {
        Message {
            subject: one_line(&subject.into()),
            ..Message::default()
        }
    }

    /// Adds a trailer; newlines in the value become spaces, so a trailer is always one line.
    pub fn trailer(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        self.trailers
            .push((key.to_owned(), one_line(value.as_ref())));
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn render(&self) -> String {
        let mut out = self.subject.clone();
        out.push_str("\n\n");
        let body = self.body.trim();
        if !body.is_empty() {
            out.push_str(body);
            out.push_str("\n\n");
        }
        for (k, v) in &self.trailers {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out
    }

    /// Parses a message written by [`Message::render`] (or by hand): the trailers are the
    /// `Key: value` lines of the last paragraph.
    pub fn parse(text: &str) -> Message {
        let text = text.trim_end();
        let (subject, rest) = text.split_once('\n').unwrap_or((text, ""));
        let rest = rest.trim_start_matches('\n');
        let (body, last) = match rest.rfind("\n\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => ("", rest),
        };
        let is_trailer = |l: &str| {
            l.split_once(": ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        };
        if !last.is_empty() && last.lines().all(is_trailer) {
            let trailers = last
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Message {
                subject: subject.to_owned(),
                body: body.to_owned(),
                trailers,
            }
        } else {
            Message {
                subject: subject.to_owned(),
                body: rest.to_owned(),
                trailers: Vec::new(),
            }
        }
    }
}

/// `s` on one line: lines trimmed, blank ones dropped, the rest joined by spaces (as a trailer
/// value is written).
pub fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a commit with `identity` as author and committer.
pub fn write_commit(
    sink: Sink<'_>,
    identity: &Identity,
    message: &Message,
    tree: ObjectId,
    parents: &[ObjectId],
) -> Result<ObjectId, StoreError> {
    sink.put(&commit_object(identity, message, tree, parents))
}

/// The commit [`write_commit`] writes, not yet written (to be signed first, for instance).
pub fn commit_object(
    identity: &Identity,
    message: &Message,
    tree: ObjectId,
    parents: &[ObjectId],
) -> gix::objs::Commit {
    let sig = identity.signature();
    gix::objs::Commit {
        tree,
        parents: parents.iter().copied().collect(),
        author: sig.clone(),
        committer: sig,
        encoding: None,
        message: BString::from(message.render()),
        extra_headers: Vec::new(),
    }
}

/// The tip of an instance chain, read in O(1): one commit, one tree, one blob.
#[derive(Debug, Clone)]
pub struct Tip {
    pub commit: ObjectId,
    pub tree: ObjectId,
    pub workflow_tree: ObjectId,
    /// The id of the `state.yml` blob.
    pub state_id: ObjectId,
    /// The bytes of `state.yml`.
    pub state: Vec<u8>,
}

/// Reads the event commit `commit` (its `state.yml` and pinned `workflow/`).
pub fn read_event(repo: &Repo, ref_name: &str, commit: ObjectId) -> Result<Tip, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        reference: ref_name.to_owned(),
        commit: commit.to_string(),
        what,
    };
    let g = repo.gix();
    let hash = g.object_hash();
    let data = object(repo, commit, Kind::Commit)
        .map_err(|e| corrupt(format!("the commit cannot be read: {e}")))?;
    let tree_id = gix::objs::CommitRefIter::from_bytes(&data, hash)
        .tree_id()
        .map_err(|e| corrupt(format!("the commit has no readable tree: {e}")))?;
    let tree = object(repo, tree_id, Kind::Tree)
        .map_err(|e| corrupt(format!("its tree cannot be read: {e}")))?;
    let mut state_id = None;
    let mut workflow_tree = None;
    for entry in gix::objs::TreeRefIter::from_bytes(&tree, hash) {
        let entry = entry.map_err(|e| corrupt(format!("its tree cannot be decoded: {e}")))?;
        let name = entry.filename;
        if name == STATE_FILE.as_bytes().as_bstr() && entry.mode.is_blob() {
            state_id = Some(entry.oid.to_owned());
        } else if name == WORKFLOW_DIR.as_bytes().as_bstr() && entry.mode.is_tree() {
            workflow_tree = Some(entry.oid.to_owned());
        }
    }
    let state_id = state_id.ok_or_else(|| corrupt(format!("its tree has no {STATE_FILE}")))?;
    let workflow_tree =
        workflow_tree.ok_or_else(|| corrupt(format!("its tree has no {WORKFLOW_DIR}/ folder")))?;
    let state = object(repo, state_id, Kind::Blob)
        .map_err(|e| corrupt(format!("its {STATE_FILE} cannot be read: {e}")))?;
    Ok(Tip {
        commit,
        tree: tree_id,
        workflow_tree,
        state_id,
        state,
    })
}

/// The data of object `id`, which must be a `kind`, checked against its id.
fn object(repo: &Repo, id: ObjectId, kind: Kind) -> Result<Vec<u8>, String> {
    repo.read_object(id, kind).map_err(|e| format!("{id}: {e}"))
}

/// The message of a commit, parsed.
pub fn read_message(repo: &Repo, commit: ObjectId) -> Result<Message, StoreError> {
    let c = repo
        .gix()
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?;
    let raw = c
        .message_raw()
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?;
    Ok(Message::parse(&raw.to_str_lossy()))
}

/// The author time (seconds) and parents of a commit.
pub fn commit_info(repo: &Repo, commit: ObjectId) -> Result<(i64, Vec<ObjectId>), StoreError> {
    let c = repo
        .gix()
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?;
    let time = c
        .time()
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?;
    Ok((time.seconds, c.parent_ids().map(|p| p.detach()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_their_trailers() {
        let mut m = Message::new("ddx(x): start frame");
        m.body = "frame: ready -> in_progress\n\nsecond paragraph".into();
        m.trailer("Ddx-Event", "start")
            .trailer("Ddx-Reason", "two\nlines");
        let text = m.render();
        assert_eq!(
            text,
            "ddx(x): start frame\n\nframe: ready -> in_progress\n\nsecond paragraph\n\n\
             Ddx-Event: start\nDdx-Reason: two lines\n"
        );
        let back = Message::parse(&text);
        assert_eq!(back.subject, "ddx(x): start frame");
        assert_eq!(back.get("ddx-event"), Some("start"));
        assert_eq!(back.get("Ddx-Reason"), Some("two lines"));
        assert_eq!(back.body, "frame: ready -> in_progress\n\nsecond paragraph");
        let plain = Message::parse("subject only\n");
        assert!(plain.trailers.is_empty());
    }
}
