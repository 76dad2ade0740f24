//! `ddx audit verify`: walks the audit chain and every instance chain and names what is broken.
//!
//! Every commit reachable from `refs/ddx/audit` and `refs/ddx/instances/*` is read with git's
//! replacement refs ignored, through all parents, and every object read is checked against its
//! id. The checks (docs/audit.md lists them): objects exist, intact; ddx wrote each commit
//! (author and committer agree; trailers and `entry.yml` agree with each other and with the
//! commit); the two chains vouch for each other (each event has the audit entry written with
//! it, which follows the audit head the event names); each event has exactly one entry of its
//! operation, with its arguments, and no entry names anything else; each event's `state.yml` is
//! what replaying the event on its parent's state gives; each instance ref points at the event
//! its last audit entry records; every ref descends from the head ddx last wrote
//! (`.git/ddx/heads`) and last verified (`.git/ddx/verified`); nothing a ddx ref reaches is
//! replaced; checkpoints point into their instance; signatures verify. A clean run remembers
//! the heads it verified.

use crate::engine::replay::{self, EventInput, ReplayError};
use crate::engine::state::State;
use crate::model::{load_workflow, Workflow};
use crate::store::audit;
use crate::store::chain::{
    self, CommitData, CommitView, IdMap as HashMap, IdSet as HashSet, Node, Person, Reader,
    SharedReader, Walk, WalkOf,
};
use crate::store::event::{self, FORMAT, STATE_FILE, WORKFLOW_DIR};
use crate::store::{heads, refs, verified, ObjectError, ObjectId, Repo, StoreError};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What kind of break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// An object a chain needs is missing or unreadable.
    MissingObject,
    /// An object's bytes do not hash to its id: damaged or rewritten on disk.
    DamagedObject,
    /// A commit was rewritten or made outside ddx (amended, rebased, re-created).
    Rewritten,
    /// An event no audit entry records.
    NotAudited,
    /// An event's `state.yml` is not what replaying its history gives.
    Replay,
    /// A `Ddx-*` trailer or `entry.yml` disagrees with the event or commit.
    Trailer,
    /// A ref points behind the event its audit records, or behind a head ddx wrote.
    MovedBackwards,
    /// A ref points at a commit unrelated to the one its audit records.
    Unrelated,
    /// A ref is not a descendant of the head ddx last wrote or verified.
    NotDescendant,
    /// A ref that the audit chain (or ddx) knows is gone.
    Deleted,
    /// A ddx commit is replaced (`refs/replace/*`).
    Replaced,
    /// An audit entry that records no event of its own: a copy of another entry, an entry of
    /// an instance naming no event, or one whose operation or arguments are not what the event
    /// it names did.
    ForgedEntry,
    /// A checkpoint points outside its instance.
    Checkpoint,
    /// A signature does not verify, or a commit is unsigned where signing is on.
    Signature,
}

/// One break: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    #[serde(rename = "ref")]
    pub reference: String,
    /// The commit the problem is in (or the ref points at); `null` for a ref that is gone.
    pub commit: Option<String>,
    pub problem: String,
    pub kind: BreakKind,
}

/// What was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Refs under `refs/ddx/`.
    pub refs: usize,
    pub audit_entries: usize,
    pub instances: usize,
    pub events: usize,
    /// Events whose state was replayed and compared.
    pub replayed: usize,
    /// Events of a kind this ddx does not replay (merges, newer events): checked otherwise.
    pub not_replayed: usize,
    pub checkpoints: usize,
    /// Pinned workflow trees checked to be complete.
    pub workflow_trees: usize,
    /// Signatures verified.
    pub signatures: usize,
    /// Signatures of entries up to the audit head a previous verification found intact: not
    /// checked again (their commit ids have not changed).
    pub signatures_verified_before: usize,
    /// Remembered heads compared (`.git/ddx/heads`, `.git/ddx/verified`).
    pub heads: usize,
}

/// The outcome of `ddx audit verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub checked: Checked,
    /// In history order: the audit chain (oldest first), each instance (oldest first), then
    /// the refs. The first is the first break.
    pub breaks: Vec<Break>,
    /// The audit head that was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
    /// Whether the verified heads were recorded in `.git/ddx/verified`.
    pub recorded: bool,
}

/// Options of a verification.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Remember the verified heads when nothing is broken.
    pub record: bool,
    /// Check every signature, also those an earlier verification found good (after a change
    /// of `gpg.ssh.allowedSignersFile` or of the keys trusted, for instance).
    pub all_signatures: bool,
}

/// Breaks as they are found, with where they stand in history: a group (the audit chain, an
/// instance, the refs) and a position in it, so the first break comes first.
#[derive(Default)]
struct Breaks {
    list: Vec<(u32, u64, Break)>,
    group: u32,
    seq: u64,
}

impl Breaks {
    fn new(group: u32) -> Self {
        Breaks {
            group,
            ..Breaks::default()
        }
    }

    fn push(
        &mut self,
        reference: &str,
        commit: Option<ObjectId>,
        kind: BreakKind,
        problem: String,
    ) {
        self.list.push((
            self.group,
            self.seq,
            Break {
                reference: reference.to_owned(),
                commit: commit.map(|c| c.to_string()),
                problem,
                kind,
            },
        ));
    }
}

/// A break found while reading: its kind and what is wrong.
type Found = (BreakKind, String);

/// The kind of break an object that cannot be read is.
fn read_kind(why: &ObjectError) -> BreakKind {
    match why.is_damaged() {
        true => BreakKind::DamagedObject,
        false => BreakKind::MissingObject,
    }
}

/// Why object `id`, named `what` (`its tree`, `its state.yml`, …), is not there intact.
fn not_intact(what: &str, id: &ObjectId, why: &ObjectError) -> Found {
    let problem = match why {
        ObjectError::Missing => format!("{what} ({id}) is missing"),
        why => format!("{what} ({id}) cannot be read: {why}"),
    };
    (read_kind(why), problem)
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

fn is_ddx_trailer(key: &str) -> bool {
    key.len() > 4 && key[..4].eq_ignore_ascii_case("ddx-")
}

/// `Ddx-Format` as ddx writes it.
static FORMAT_TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| FORMAT.to_string());

/// Whether `actor` is `Name <email>` of `person` (without formatting it: this runs for every
/// commit).
fn is_actor(actor: &str, person: &Person) -> bool {
    actor
        .strip_prefix(person.name.as_str())
        .and_then(|rest| rest.strip_prefix(" <"))
        .and_then(|rest| rest.strip_suffix('>'))
        == Some(person.email.as_str())
}

/// Checks that ddx wrote a commit: author and committer agree, `Ddx-Actor` names the author,
/// `Ddx-Format` is known.
fn check_authorship(
    id: ObjectId,
    author: &Person,
    committer: Option<&Person>,
    actor: Option<&str>,
    format: Option<&str>,
    reference: &str,
    breaks: &mut Breaks,
) {
    if let Some(committer) = committer.filter(|c| *c != author) {
        breaks.push(
            reference,
            Some(id),
            BreakKind::Rewritten,
            format!(
                "its committer ({}, {}) differs from its author ({}, {}): ddx writes both alike, so the commit was rewritten or made outside ddx",
                committer.actor(),
                committer.time(),
                author.actor(),
                author.time()
            ),
        );
    }
    match actor {
        Some(a) if is_actor(a, author) => {}
        Some(a) => breaks.push(
            reference,
            Some(id),
            BreakKind::Trailer,
            format!(
                "its Ddx-Actor trailer says `{a}`, but its author is `{}`",
                author.actor()
            ),
        ),
        None => breaks.push(
            reference,
            Some(id),
            BreakKind::Trailer,
            "it has no Ddx-Actor trailer: ddx did not write it".to_owned(),
        ),
    }
    match format {
        Some(f) if f == FORMAT_TEXT.as_str() => {}
        Some(f) => breaks.push(
            reference,
            Some(id),
            BreakKind::Trailer,
            format!("its Ddx-Format trailer says `{f}`; this ddx writes and reads format {FORMAT}"),
        ),
        None => breaks.push(
            reference,
            Some(id),
            BreakKind::Trailer,
            "it has no Ddx-Format trailer: ddx did not write it".to_owned(),
        ),
    }
}

/// What verification keeps of an audit commit.
struct AuditNode {
    tree: ObjectId,
    signed: bool,
    author: Person,
    /// Only when it differs from the author.
    committer: Option<Person>,
    operation: String,
    instance: Option<String>,
    instance_commit: Option<String>,
    project_commit: Option<String>,
    actor: Option<String>,
    format: Option<String>,
    any_ddx: bool,
    /// The other `Ddx-*` trailers: the operation's arguments, by their `entry.yml` names.
    args: BTreeMap<String, String>,
}

impl AuditNode {
    fn read(c: &CommitView<'_, '_>) -> Result<AuditNode, ObjectError> {
        let author = c.author()?;
        let committer = c.committer()?;
        let message = c.message();
        let mut node = AuditNode {
            tree: c.tree(),
            signed: c.signed(),
            committer: (committer != author).then_some(committer),
            author,
            operation: String::new(),
            instance: None,
            instance_commit: None,
            project_commit: None,
            actor: None,
            format: None,
            any_ddx: false,
            args: BTreeMap::new(),
        };
        for (k, v) in chain::trailers(&message) {
            node.any_ddx |= is_ddx_trailer(k);
            let slot = match k {
                "Ddx-Operation" => {
                    node.operation = v.to_owned();
                    continue;
                }
                "Ddx-Instance" => &mut node.instance,
                "Ddx-Instance-Commit" => &mut node.instance_commit,
                "Ddx-Project-Commit" => &mut node.project_commit,
                "Ddx-Actor" => &mut node.actor,
                "Ddx-Format" => &mut node.format,
                _ => {
                    if is_ddx_trailer(k) {
                        node.args.insert(audit::arg_name(k), v.to_owned());
                    }
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(v.to_owned());
            }
        }

        Ok(node)
    }

    fn instance_commit(&self) -> Option<ObjectId> {
        self.instance_commit
            .as_deref()
            .and_then(|c| ObjectId::from_hex(c.as_bytes()).ok())
    }
}

/// What `entry.yml` must begin with when it agrees with its commit (the fields of the store's
/// entry document, in its order; `args` follow).
#[derive(Serialize)]
struct ExpectedEntry<'a> {
    format: u32,
    operation: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_commit: Option<&'a str>,
    actor: String,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_commit: Option<&'a str>,
}

/// Checks an audit commit's `entry.yml`: `Ok(None)` when it agrees with the commit (found
/// without parsing it), `Ok(Some(file))` when it must be compared field by field; else the
/// break it is.
fn entry_file(reader: &Reader, n: &AuditNode) -> Result<Option<audit::EntryFile>, Found> {
    let trailer = |problem: String| (BreakKind::Trailer, problem);
    // The entry ddx would have written for this commit, predicted from its header and trailers:
    // when the tree's id is that entry's, the tree and entry.yml need not be read (reading
    // objects is most of a verification's time). Otherwise they are read and compared.
    let predicted = crate::store::encoding::to_string(&audit::EntryDoc {
        format: FORMAT,
        operation: &n.operation,
        instance: n.instance.as_deref().unwrap_or_default(),
        instance_commit: n.instance_commit.clone(),
        actor: n.author.actor(),
        time: n.author.time(),
        project_commit: n.project_commit.clone(),
        args: &n.args,
    });
    if let Ok(yaml) = predicted {
        let blob = reader.blob_id(yaml.as_bytes());
        if reader.tree_id(&audit::entry_tree(blob)) == n.tree {
            reader
                .check(&n.tree)
                .map_err(|why| not_intact("its tree", &n.tree, &why))?;
            reader
                .check(&blob)
                .map_err(|why| not_intact(&format!("its {}", audit::ENTRY_FILE), &blob, &why))?;
            return Ok(None);
        }
    }
    let [entry] = reader
        .tree_lookup(n.tree, [audit::ENTRY_FILE])
        .map_err(|why| {
            (
                read_kind(&why),
                format!("its tree {} cannot be read: {why}", n.tree),
            )
        })?;
    let (blob, is_tree) =
        entry.ok_or_else(|| trailer(format!("its tree has no {}", audit::ENTRY_FILE)))?;
    if is_tree {
        return Err(trailer(format!("its {} is a folder", audit::ENTRY_FILE)));
    }
    let expected = crate::store::encoding::to_string(&ExpectedEntry {
        format: FORMAT,
        operation: &n.operation,
        instance: n.instance.as_deref().unwrap_or_default(),
        instance_commit: n.instance_commit.as_deref(),
        actor: n.author.actor(),
        time: n.author.time(),
        project_commit: n.project_commit.as_deref(),
    });
    let parsed = reader
        .with_blob(blob, |bytes| {
            let agrees = expected.as_deref().is_ok_and(|e| {
                bytes.starts_with(e.as_bytes()) && {
                    let rest = &bytes[e.len()..];
                    rest.is_empty() || rest.starts_with(b"args:\n")
                }
            });
            match agrees {
                true => Ok(None),
                false => audit::EntryFile::parse(bytes).map(Some),
            }
        })
        .map_err(|why| not_intact(&format!("its {}", audit::ENTRY_FILE), &blob, &why))?;
    parsed.map_err(|e| trailer(format!("its {} is not valid: {e}", audit::ENTRY_FILE)))
}

/// Compares a parsed `entry.yml` with its commit, field by field.
fn entry_differences(f: &audit::EntryFile, n: &AuditNode) -> Vec<String> {
    let mut differ = Vec::new();
    let mut field = |what: &str, file: &str, trailer: &str, source: &str| {
        if file != trailer {
            differ.push(format!("{what} `{file}` ({source}: `{trailer}`)"));
        }
    };
    field("operation", &f.operation, &n.operation, "Ddx-Operation");
    field(
        "instance",
        &f.instance,
        n.instance.as_deref().unwrap_or_default(),
        "Ddx-Instance",
    );
    field(
        "instance commit",
        f.instance_commit.as_deref().unwrap_or_default(),
        n.instance_commit.as_deref().unwrap_or_default(),
        "Ddx-Instance-Commit",
    );
    field(
        "project commit",
        f.project_commit.as_deref().unwrap_or_default(),
        n.project_commit.as_deref().unwrap_or_default(),
        "Ddx-Project-Commit",
    );
    field("actor", &f.actor, &n.author.actor(), "the commit's author");
    if f.time != n.author.time() {
        differ.push(format!(
            "time {} (the commit's: {})",
            f.time,
            n.author.time()
        ));
    }
    differ
}

/// The audit chain, read and checked.
struct AuditSide {
    walk: WalkOf<AuditNode>,
    /// Audit entries by the instance commit they record.
    by_instance_commit: HashMap<ObjectId, Vec<ObjectId>>,
    /// Per instance: its audit entries in chain order.
    by_instance: BTreeMap<String, Vec<ObjectId>>,
    breaks: Breaks,
}

impl AuditSide {
    fn node(&self, id: &ObjectId) -> Option<&Node<AuditNode>> {
        self.walk.nodes.get(id)
    }
}

fn check_audit(shared: &SharedReader, head: Option<ObjectId>) -> AuditSide {
    let reader = shared.local();
    let mut breaks = Breaks::new(0);
    let walk = match head {
        Some(h) => reader.walk_map(&[h], |_, c| AuditNode::read(c)),
        None => WalkOf {
            order: Vec::new(),
            nodes: HashMap::default(),
            missing: Vec::new(),
        },
    };
    for m in &walk.missing {
        breaks.push(
            refs::AUDIT,
            Some(m.id),
            read_kind(&m.why),
            match m.wanted_by {
                Some(child) => format!(
                    "audit commit {} (a parent of {}) cannot be read: {}",
                    m.id,
                    short(&child),
                    m.why
                ),
                None => format!("the audit head {} cannot be read: {}", m.id, m.why),
            },
        );
    }
    // entry.yml is read and checked in parallel: it is most of the work.
    let files: Vec<(ObjectId, Result<Option<audit::EntryFile>, Found>)> = walk
        .order
        .par_iter()
        .map_init(
            || shared.local(),
            |r, id| (*id, entry_file(r, &walk.nodes[id].value)),
        )
        .collect();
    let mut by_instance_commit: HashMap<ObjectId, Vec<ObjectId>> = HashMap::default();
    let mut by_instance: BTreeMap<String, Vec<ObjectId>> = BTreeMap::new();
    for (seq, (id, file)) in files.into_iter().enumerate() {
        breaks.seq = seq as u64;
        let n = &walk.nodes[&id].value;
        if !n.any_ddx {
            breaks.push(
                refs::AUDIT,
                Some(id),
                BreakKind::Rewritten,
                format!(
                    "it has no Ddx-* trailers: it is not an audit entry ddx wrote (made by {} at {})",
                    n.author.actor(),
                    n.author.time()
                ),
            );
            continue;
        }
        check_authorship(
            id,
            &n.author,
            n.committer.as_ref(),
            n.actor.as_deref(),
            n.format.as_deref(),
            refs::AUDIT,
            &mut breaks,
        );
        if n.operation.is_empty() {
            breaks.push(
                refs::AUDIT,
                Some(id),
                BreakKind::Trailer,
                "it has no Ddx-Operation trailer: it is not an audit entry ddx wrote".to_owned(),
            );
        }
        match file {
            Ok(None) => {}
            Err((kind, why)) => breaks.push(refs::AUDIT, Some(id), kind, why),
            Ok(Some(f)) => {
                let differ = entry_differences(&f, n);
                if !differ.is_empty() {
                    breaks.push(
                        refs::AUDIT,
                        Some(id),
                        BreakKind::Trailer,
                        format!(
                            "its {} disagrees with the commit: it says {}",
                            audit::ENTRY_FILE,
                            differ.join(", ")
                        ),
                    );
                }
            }
        }
        match (&n.instance, n.instance_commit()) {
            (_, Some(ic)) => by_instance_commit.entry(ic).or_default().push(id),
            (Some(instance), None) => breaks.push(
                refs::AUDIT,
                Some(id),
                BreakKind::ForgedEntry,
                format!(
                    "it is an entry of instance {instance} that names no event of it (no valid Ddx-Instance-Commit): ddx did not write it"
                ),
            ),
            (None, None) => {}
        }
        if let Some(i) = &n.instance {
            by_instance.entry(i.clone()).or_default().push(id);
        }
    }
    AuditSide {
        walk,
        by_instance_commit,
        by_instance,
        breaks,
    }
}

/// What an event says about the audit chain, checked once the chain is read.
struct EventFact {
    id: ObjectId,
    /// Position in the instance's history.
    seq: u64,
    event: String,
    /// `Ddx-Audit-Parent`, as written.
    audit_parent: Option<String>,
    /// The trailers that carry the operation's arguments (`Ddx-Phase`, `Ddx-Reason`, …).
    args: Vec<(String, String)>,
}

/// Trailers of an event that are not arguments of its operation.
const NOT_ARGS: [&str; 8] = [
    "Ddx-Event",
    "Ddx-Instance",
    "Ddx-Actor",
    "Ddx-Project-Commit",
    "Ddx-Format",
    "Ddx-Audit-Parent",
    "Ddx-Check",
    "Ddx-File",
];

/// Arguments every audit entry of an event records when the event has them.
const RECORDED_ARGS: [&str; 5] = ["phase", "criterion", "comment", "reason", "forced"];

/// Arguments an audit entry records in another form than the event's trailer (`agent`: the
/// command, where `Ddx-Agent` adds where it came from).
const OTHER_FORM_ARGS: [&str; 1] = ["agent"];

/// How an audit entry's arguments disagree with the trailers of the event it records: an
/// argument the event also carries must say what the event's trailers say (a repeated trailer
/// is one argument, its values joined with `, ` for `phase` and `; ` otherwise), and the
/// arguments of [`RECORDED_ARGS`] the event carries must be there.
fn arg_differences(
    entry: &BTreeMap<String, String>,
    event_trailers: &[(String, String)],
) -> Vec<String> {
    let mut by_arg: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for (k, v) in event_trailers {
        by_arg
            .entry(audit::arg_name(k))
            .or_insert_with(|| (k.clone(), Vec::new()))
            .1
            .push(v);
    }
    let mut differ = Vec::new();
    for (arg, (trailer, values)) in &by_arg {
        let expected = values.join(if arg == "phase" { ", " } else { "; " });
        match entry.get(arg) {
            Some(v) if *v == expected || OTHER_FORM_ARGS.contains(&arg.as_str()) => {}
            Some(v) => differ.push(format!(
                "its `{arg}` is `{v}`, but the event's {trailer} says `{expected}`"
            )),
            None if RECORDED_ARGS.contains(&arg.as_str()) => differ.push(format!(
                "it has no `{arg}`, but the event's {trailer} says `{expected}`"
            )),
            None => {}
        }
    }
    differ
}

/// What one instance's verification found.
#[derive(Default)]
struct InstanceResult {
    breaks: Breaks,
    events: usize,
    replayed: usize,
    not_replayed: usize,
    workflow_trees: usize,
    /// Every commit of the chain (and the ones it names that cannot be read).
    commits: HashSet<ObjectId>,
    facts: Vec<EventFact>,
}

/// Where a state comes from, for error messages (formatted only when one is needed).
struct Origin<'a>(&'a str, ObjectId);

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{STATE_FILE}", self.0, short(&self.1))
    }
}

/// `state.yml`'s blob of an event whose tree was predicted rather than read: read it now.
fn late_state_blob(
    reader: &Reader,
    c: &CommitData,
    known: &mut Option<ObjectId>,
) -> Result<ObjectId, Found> {
    if let Some(blob) = known {
        return Ok(*blob);
    }
    let (blob, _) = event_tree(reader, c)?;
    *known = Some(blob);
    Ok(blob)
}

/// Reads the tree of an event: `state.yml`'s blob and the `workflow/` tree.
fn event_tree(reader: &Reader, c: &CommitData) -> Result<(ObjectId, ObjectId), Found> {
    let [state, wf] = reader
        .tree_lookup(c.tree, [STATE_FILE, WORKFLOW_DIR])
        .map_err(|why| {
            (
                read_kind(&why),
                format!("its tree {} cannot be read: {why}", c.tree),
            )
        })?;
    let state = state
        .filter(|(_, is_tree)| !is_tree)
        .map(|(id, _)| id)
        .ok_or_else(|| (BreakKind::Trailer, format!("its tree has no {STATE_FILE}")))?;
    let wf = wf
        .filter(|(_, is_tree)| *is_tree)
        .map(|(id, _)| id)
        .ok_or_else(|| {
            (
                BreakKind::Trailer,
                format!("its tree has no {WORKFLOW_DIR}/ folder"),
            )
        })?;
    Ok((state, wf))
}

fn read_state(reader: &Reader, blob: ObjectId, origin: &Origin<'_>) -> Result<State, Found> {
    let bytes = reader.blob(blob).map_err(|why| {
        (
            read_kind(&why),
            format!("its {STATE_FILE} ({blob}) cannot be read: {why}"),
        )
    })?;
    State::from_yaml(&bytes, &origin.to_string()).map_err(|e| (BreakKind::Replay, e.to_string()))
}

fn check_instance(reader: &Reader, group: u32, id: &str, tip: ObjectId) -> InstanceResult {
    let reference = refs::instance_ref(id);
    let mut breaks = Breaks::new(group);
    let mut out = InstanceResult::default();
    let walk = reader.walk_lean(&[tip]);
    for m in &walk.missing {
        breaks.push(
            &reference,
            Some(m.id),
            read_kind(&m.why),
            match m.wanted_by {
                Some(child) => format!(
                    "event {} (a parent of {}) cannot be read: {}",
                    m.id,
                    short(&child),
                    m.why
                ),
                None => format!("the tip {} cannot be read: {}", m.id, m.why),
            },
        );
    }
    // How many children still need each commit's state.
    let mut children: HashMap<ObjectId, usize> = HashMap::default();
    for c in walk.commits.values() {
        for p in &c.parents {
            *children.entry(*p).or_default() += 1;
        }
    }
    let mut states: HashMap<ObjectId, (State, ObjectId)> = HashMap::default();
    let mut definitions: HashMap<ObjectId, Result<Rc<Workflow>, String>> = HashMap::default();
    let mut complete_trees: HashSet<ObjectId> = HashSet::default();
    let mut checked_trees: HashSet<ObjectId> = HashSet::default();
    let mut yaml = String::with_capacity(8192);
    for (seq, cid) in walk.order.iter().enumerate() {
        breaks.seq = seq as u64;
        let c = &walk.commits[cid];
        out.events += 1;
        if !c.message.trailers.iter().any(|(k, _)| is_ddx_trailer(k)) {
            breaks.push(
                &reference,
                Some(c.id),
                BreakKind::NotAudited,
                format!(
                    "it has no Ddx-* trailers and no entry of {} records it: it was made outside ddx (plain git), by {} at {}",
                    refs::AUDIT,
                    c.author.actor(),
                    c.author.time()
                ),
            );
            out.not_replayed += 1;
            if let Ok((blob, wf)) = event_tree(reader, c) {
                if let Ok(st) = read_state(reader, blob, &Origin(&reference, c.id)) {
                    states.insert(c.id, (st, wf));
                }
            }
            continue;
        }
        check_authorship(
            c.id,
            &c.author,
            Some(&c.committer),
            c.message.get("Ddx-Actor"),
            c.message.get("Ddx-Format"),
            &reference,
            &mut breaks,
        );
        let event = c.message.get("Ddx-Event").unwrap_or_default().to_owned();
        match c.message.get("Ddx-Instance") {
            Some(i) if i == id => {}
            Some(i) => breaks.push(
                &reference,
                Some(c.id),
                BreakKind::Trailer,
                format!("its Ddx-Instance trailer says `{i}`, but it is an event of {id}"),
            ),
            None => breaks.push(
                &reference,
                Some(c.id),
                BreakKind::Trailer,
                "it has no Ddx-Instance trailer: ddx did not write it".to_owned(),
            ),
        }
        if event.is_empty() {
            breaks.push(
                &reference,
                Some(c.id),
                BreakKind::Trailer,
                "it has no Ddx-Event trailer: ddx did not write it".to_owned(),
            );
        }
        out.facts.push(EventFact {
            id: c.id,
            seq: seq as u64,
            event: event.clone(),
            audit_parent: c.message.get("Ddx-Audit-Parent").map(str::to_owned),
            args: c
                .message
                .trailers
                .iter()
                .filter(|(k, _)| is_ddx_trailer(k) && !NOT_ARGS.contains(&k.as_str()))
                .cloned()
                .collect(),
        });
        if c.parents.is_empty() && event != "init" {
            breaks.push(
                &reference,
                Some(c.id),
                BreakKind::Trailer,
                format!("the first event of the chain is `{event}`, not `init`"),
            );
        }
        // The objects of the event. An event on a parent whose state is known, keeping its
        // pinned workflow, is predicted to have the tree {state.yml: the replayed state,
        // workflow: the parent's}; the prediction is checked by the tree's id after replay, and
        // the tree is read only when it fails (most of a verification's time is reading objects).
        let predicted = match c.parents.as_slice() {
            [p] if event != "init"
                && event != "restore"
                && event != "upgrade"
                && !replay::writes_files(&c.message) =>
            {
                states.get(p).map(|(_, wf)| *wf)
            }
            _ => None,
        };
        let (mut state_blob, wf_tree) = match predicted {
            Some(wf) => (None, wf),
            None => match event_tree(reader, c) {
                Ok((s, w)) => (Some(s), w),
                Err((kind, why)) => {
                    breaks.push(&reference, Some(c.id), kind, why);
                    continue;
                }
            },
        };
        if checked_trees.insert(wf_tree) {
            out.workflow_trees += 1;
            if let Err((missing, path, why)) = reader.tree_complete(wf_tree, &mut complete_trees) {
                breaks.push(
                    &reference,
                    Some(c.id),
                    read_kind(&why),
                    format!("its pinned workflow/{path} ({missing}) cannot be read: {why}"),
                );
            }
        }
        // Replay.
        let origin = Origin(&reference, c.id);
        // The parent's state: taken when this is its last child (no copy on a linear chain).
        let parent: Option<(State, ObjectId)> = match c.parents.as_slice() {
            [p] => match children.get(p).copied().unwrap_or(0) <= 1 {
                true => states.remove(p),
                false => states.get(p).cloned(),
            },
            _ => None,
        };
        // A merge event's sides, before their states may be dropped below.
        let sides: Vec<(ObjectId, State, ObjectId)> = match c.parents.len() > 1 {
            true => c
                .parents
                .iter()
                .filter_map(|p| states.get(p).map(|(st, wf)| (*p, st.clone(), *wf)))
                .collect(),
            false => Vec::new(),
        };
        for p in &c.parents {
            if let Some(n) = children.get_mut(p) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    // Memory stays flat on long chains.
                    states.remove(p);
                }
            }
        }
        let keep = children.get(cid).copied().unwrap_or(0) > 0;
        if c.parents.len() == 1 && parent.is_none() {
            // The parent could not be read or checked: judge this event on its own.
            out.not_replayed += 1;
            match late_state_blob(reader, c, &mut state_blob)
                .and_then(|blob| read_state(reader, blob, &origin))
            {
                Ok(st) if keep => {
                    states.insert(c.id, (st, wf_tree));
                }
                Ok(_) => {}
                Err((kind, why)) => breaks.push(&reference, Some(c.id), kind, why),
            }
            continue;
        }
        let at = c.author.time();
        let actor = c.author.actor();
        let input_event = EventInput {
            message: &c.message,
            actor: &actor,
            at: &at,
        };
        // An upgrade runs with the definition it pins.
        let def_tree = if event == "init" || event == "restore" || event == "upgrade" {
            wf_tree
        } else {
            parent.as_ref().map_or(wf_tree, |(_, t)| *t)
        };
        let definition = definitions
            .entry(def_tree)
            .or_insert_with(|| {
                let tree = reader.git_tree(def_tree, format!("{reference}:{WORKFLOW_DIR}"));
                load_workflow(&tree)
                    .map(Rc::new)
                    .map_err(|e| format!("its pinned workflow cannot be loaded: {e}"))
            })
            .clone();
        // Only an init, a merge or an event that wrote files needs the recorded state before
        // replaying.
        let mut recorded: Option<State> = None;
        if event == "init" || c.parents.len() > 1 || replay::writes_files(&c.message) {
            match late_state_blob(reader, c, &mut state_blob)
                .and_then(|blob| read_state(reader, blob, &origin))
            {
                Ok(st) => recorded = Some(st),
                Err((kind, why)) => {
                    breaks.push(&reference, Some(c.id), kind, why);
                    continue;
                }
            }
        }
        let restored = match event.as_str() {
            "restore" => restored_state(reader, c, &walk, &reference),
            _ => None,
        };
        let result = if c.parents.len() > 1 {
            replay_merge(reader, c, &walk, &sides, wf_tree, &reference)
        } else {
            match (&definition, event.as_str()) {
                (Err(why), "init") => Err(ReplayError::Fails(why.clone())),
                _ => replay::replay(
                    parent.map(|(s, _)| s),
                    &input_event,
                    definition.as_ref().ok().map(|d| d.as_ref()),
                    recorded.as_ref(),
                    restored.as_ref(),
                ),
            }
        };
        let state = match result {
            Ok(replayed) => {
                out.replayed += 1;
                let named: Vec<&str> = c
                    .message
                    .trailers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("Ddx-Phase"))
                    .map(|(_, v)| v.as_str())
                    .collect();
                if event != "init" && event != "restore" && named != replayed.phases {
                    breaks.push(
                        &reference,
                        Some(c.id),
                        BreakKind::Trailer,
                        format!(
                            "its Ddx-Phase trailers name {}, but the event changes {}",
                            list_or_none(&named),
                            list_or_none(&replayed.phases)
                        ),
                    );
                }
                // The replayed state's blob id, in ddx's canonical encoding: the recorded
                // state must be those very bytes.
                let replayed_blob = crate::store::encoding::write(&replayed.state, &mut yaml)
                    .ok()
                    .map(|()| reader.blob_id(yaml.as_bytes()));
                if state_blob.is_none() {
                    // A predicted tree: the replayed state with the parent's workflow must make
                    // the commit's tree. When it does not, read the tree and judge what it holds.
                    let predicts = |blob: &ObjectId| {
                        reader.tree_id(&event::event_tree(*blob, wf_tree)) == c.tree
                    };
                    state_blob = replayed_blob.filter(predicts);
                }
                if state_blob.is_none() {
                    match event_tree(reader, c) {
                        Ok((s, w)) => {
                            state_blob = Some(s);
                            if checked_trees.insert(w) {
                                out.workflow_trees += 1;
                                if let Err((missing, path, why)) =
                                    reader.tree_complete(w, &mut complete_trees)
                                {
                                    breaks.push(
                                        &reference,
                                        Some(c.id),
                                        read_kind(&why),
                                        format!(
                                            "its pinned workflow/{path} ({missing}) cannot be read: {why}"
                                        ),
                                    );
                                }
                            }
                        }
                        Err((kind, why)) => {
                            breaks.push(&reference, Some(c.id), kind, why);
                            continue;
                        }
                    }
                }
                let same = state_blob.is_some_and(|recorded| replayed_blob == Some(recorded));
                if same {
                    // Predicted, not read: each must still be there, intact.
                    if let Err(why) = reader.check(&c.tree) {
                        let (kind, problem) = not_intact("its tree", &c.tree, &why);
                        breaks.push(&reference, Some(c.id), kind, problem);
                    }
                    if let Some((blob, Err(why))) = state_blob.map(|b| (b, reader.check(&b))) {
                        let (kind, problem) = not_intact(&format!("its {STATE_FILE}"), &blob, &why);
                        breaks.push(&reference, Some(c.id), kind, problem);
                    }
                    Some(replayed.state)
                } else {
                    let rec = match recorded.take() {
                        Some(r) => Ok(r),
                        None => late_state_blob(reader, c, &mut state_blob)
                            .and_then(|blob| read_state(reader, blob, &origin)),
                    };
                    match rec {
                        Ok(rec) => {
                            let a = serde_yaml::to_value(&rec).unwrap_or_default();
                            let b = serde_yaml::to_value(&replayed.state).unwrap_or_default();
                            // The same state in other bytes was written by an earlier ddx,
                            // whose encoding quoted some strings differently (docs/storage.md):
                            // what the chain records is what replay gives, so it is no break.
                            if let Some(diff) = replay::first_difference(&a, &b) {
                                breaks.push(
                                    &reference,
                                    Some(c.id),
                                    BreakKind::Replay,
                                    format!(
                                        "its {STATE_FILE} is not what replaying `{event}` on the state before it gives: {diff}"
                                    ),
                                );
                            }
                            // Judge later events on what this one recorded.
                            Some(rec)
                        }
                        Err((kind, why)) => {
                            breaks.push(&reference, Some(c.id), kind, why);
                            None
                        }
                    }
                }
            }
            Err(ReplayError::Unsupported(_)) => {
                out.not_replayed += 1;
                match recorded.take() {
                    Some(r) => Some(r),
                    None => match late_state_blob(reader, c, &mut state_blob)
                        .and_then(|blob| read_state(reader, blob, &origin))
                    {
                        Ok(r) => Some(r),
                        Err((kind, why)) => {
                            breaks.push(&reference, Some(c.id), kind, why);
                            None
                        }
                    },
                }
            }
            Err(ReplayError::Fails(why)) => {
                breaks.push(
                    &reference,
                    Some(c.id),
                    BreakKind::Replay,
                    format!("the events before it do not produce it: {why}"),
                );
                match recorded.take() {
                    Some(r) => Some(r),
                    None => late_state_blob(reader, c, &mut state_blob)
                        .and_then(|blob| read_state(reader, blob, &origin))
                        .ok(),
                }
            }
        };
        if let Some(st) = state {
            if st.instance != id {
                breaks.push(
                    &reference,
                    Some(c.id),
                    BreakKind::Trailer,
                    format!(
                        "its {STATE_FILE} is the state of instance `{}`",
                        st.instance
                    ),
                );
            }
            if keep {
                states.insert(c.id, (st, wf_tree));
            }
        }
    }
    out.commits = walk.commits.keys().copied().collect();
    out.commits.extend(walk.missing.iter().map(|m| m.id));
    out.breaks = breaks;
    out
}

/// Replays a merge event: its state must be the three-way merge (`engine::merge`) of its two
/// sides over the merge base its `Ddx-Merge-Base` trailer names, an ancestor of both; its pinned
/// workflow, the one the same rule picks.
fn replay_merge(
    reader: &Reader,
    c: &CommitData,
    walk: &Walk,
    sides: &[(ObjectId, State, ObjectId)],
    wf_tree: ObjectId,
    reference: &str,
) -> Result<replay::Replayed, ReplayError> {
    use crate::engine::merge::{self, Side};
    let [(a, sa, wa), (b, sb, wb)] = sides else {
        return Err(match c.parents.len() {
            2 => ReplayError::Unsupported("a side of the merge could not be read".to_owned()),
            n => ReplayError::Fails(format!("a merge event joins two histories, this one {n}")),
        });
    };
    let base = c
        .message
        .get(crate::engine::join::MERGE_BASE_TRAILER)
        .and_then(|h| ObjectId::from_hex(h.as_bytes()).ok())
        .ok_or_else(|| {
            ReplayError::Fails(format!(
                "it has no valid {} trailer naming the merge base",
                crate::engine::join::MERGE_BASE_TRAILER
            ))
        })?;
    // The commits each side reaches, to check the base and count the events.
    let reach = |from: ObjectId| {
        let mut seen: HashSet<ObjectId> = HashSet::default();
        let mut todo = vec![from];
        while let Some(id) = todo.pop() {
            if seen.insert(id) {
                if let Some(cd) = walk.commits.get(&id) {
                    todo.extend(cd.parents.iter().copied());
                }
            }
        }
        seen
    };
    let (ra, rb) = (reach(*a), reach(*b));
    if !ra.contains(&base) || !rb.contains(&base) {
        return Err(ReplayError::Fails(format!(
            "its merge base {} is not an event of both sides",
            short(&base)
        )));
    }
    // A best common event: no other event of both sides descends from it (then one of its
    // children would be common too), as ddx picks it.
    let later = ra.intersection(&rb).find(|id| {
        walk.commits
            .get(*id)
            .is_some_and(|cd| cd.parents.contains(&base))
    });
    if let Some(later) = later {
        return Err(ReplayError::Fails(format!(
            "its merge base {} is not the last event both sides share ({} is later)",
            short(&base),
            short(later)
        )));
    }
    let base_commit = walk
        .commits
        .get(&base)
        .ok_or_else(|| ReplayError::Unsupported("its merge base cannot be read".to_owned()))?;
    let (blob, base_wf) = event_tree(reader, base_commit)
        .map_err(|(_, why)| ReplayError::Unsupported(format!("its merge base: {why}")))?;
    let base_state = read_state(reader, blob, &Origin(reference, base))
        .map_err(|(_, why)| ReplayError::Unsupported(format!("its merge base: {why}")))?;
    let time = |id: &ObjectId| walk.commits.get(id).map_or(0, |cd| cd.committer.seconds);
    let (ha, hb) = (a.to_string(), b.to_string());
    let side_a = Side {
        state: sa,
        commit: &ha,
        time: time(a),
    };
    let side_b = Side {
        state: sb,
        commit: &hb,
        time: time(b),
    };
    let events = ra.union(&rb).count() as u64 + 1;
    let state = merge::merge(&base_state, side_a, side_b, events);
    let wf = merge::later_value(base_wf, (side_a, *wa), (side_b, *wb));
    if wf != wf_tree {
        return Err(ReplayError::Fails(format!(
            "it pins workflow {}, but the merge rules give {}",
            short(&wf_tree),
            short(&wf)
        )));
    }
    Ok(replay::Replayed {
        state,
        phases: Vec::new(),
    })
}

fn list_or_none<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "no phase".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The state of the checkpoint a restore event names (`Ddx-Restored-From`).
fn restored_state(reader: &Reader, c: &CommitData, walk: &Walk, reference: &str) -> Option<State> {
    let from = c.message.get("Ddx-Restored-From")?;
    let id = ObjectId::from_hex(from.as_bytes()).ok()?;
    let cp = walk
        .commits
        .get(&id)
        .cloned()
        .or_else(|| reader.commit(id).ok())?;
    let (blob, _) = event_tree(reader, &cp).ok()?;
    read_state(reader, blob, &Origin(reference, id)).ok()
}

/// Checks that the audit chain records an event: an entry naming it, of its operation,
/// following the audit head the event names.
fn check_audited(
    fact: &EventFact,
    instance: &str,
    reference: &str,
    audit: &AuditSide,
    breaks: &mut Breaks,
) {
    breaks.seq = fact.seq;
    let parent = match fact
        .audit_parent
        .as_deref()
        .map(|p| ObjectId::from_hex(p.as_bytes()))
    {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            breaks.push(
                reference,
                Some(fact.id),
                BreakKind::Trailer,
                "its Ddx-Audit-Parent trailer is not a commit id".to_owned(),
            );
            return;
        }
    };
    if let Some(p) = parent {
        if !audit.walk.contains(&p) && !audit.walk.missing.iter().any(|m| m.id == p) {
            breaks.push(
                reference,
                Some(fact.id),
                BreakKind::Rewritten,
                format!(
                    "it follows audit commit {p} (Ddx-Audit-Parent), which {} does not contain: the audit chain was rewritten, reordered or cut",
                    refs::AUDIT
                ),
            );
            return;
        }
    }
    let event = fact.event.as_str();
    let of_instance: Vec<(&ObjectId, &Node<AuditNode>)> = audit
        .by_instance_commit
        .get(&fact.id)
        .into_iter()
        .flatten()
        .filter_map(|a| audit.node(a).map(|n| (a, n)))
        .filter(|(_, n)| n.value.instance.as_deref() == Some(instance))
        .collect();
    // A checkpoint's entry names the event it points at, which has its own entry; any other
    // entry naming this event must be of its operation.
    let (naming, others): (Vec<_>, Vec<_>) = of_instance
        .into_iter()
        .filter(|(_, n)| n.value.operation != "checkpoint")
        .partition(|(_, n)| audit::records_event(&n.value.operation, event));
    for (a, n) in others {
        breaks.push(
            refs::AUDIT,
            Some(*a),
            BreakKind::ForgedEntry,
            format!(
                "it records `{}` of event {} of {instance}, but that event is `{event}`: ddx did not write this entry",
                n.value.operation,
                short(&fact.id)
            ),
        );
    }
    if naming.is_empty() {
        breaks.push(
            reference,
            Some(fact.id),
            BreakKind::NotAudited,
            format!(
                "no entry of {} records this `{event}` event: it was written outside ddx (plain git)",
                refs::AUDIT
            ),
        );
        return;
    }
    // The entry written with the event follows the audit head the event names; the chain
    // lists entries parents first, so of copies that all follow it, the first is the one.
    let genuine = naming.iter().position(|(_, n)| match parent {
        Some(p) => n.parents.contains(&p),
        None => n.parents.is_empty(),
    });
    let Some(genuine) = genuine else {
        let (a, n) = naming[0];
        breaks.push(
            refs::AUDIT,
            Some(*a),
            BreakKind::Rewritten,
            format!(
                "it records event {} of {instance}, but follows {} where the event says {}: the audit chain was reordered or rewritten",
                short(&fact.id),
                n.parents.first().map_or_else(|| "nothing".to_owned(), short),
                parent.map_or_else(|| "nothing (the first entry)".to_owned(), |p| short(&p))
            ),
        );
        return;
    };
    let (first, entry) = naming[genuine];
    let differ = arg_differences(&entry.value.args, &fact.args);
    if !differ.is_empty() {
        breaks.push(
            refs::AUDIT,
            Some(*first),
            BreakKind::ForgedEntry,
            format!(
                "it records event {} of {instance}, but not as the event was: {}",
                short(&fact.id),
                differ.join("; ")
            ),
        );
    }
    for (i, (a, _)) in naming.iter().enumerate() {
        if i != genuine {
            breaks.push(
                refs::AUDIT,
                Some(**a),
                BreakKind::ForgedEntry,
                format!(
                    "it records event {} of {instance}, which audit entry {} already records: each event has one entry, so this one was copied outside ddx",
                    short(&fact.id),
                    short(first)
                ),
            );
        }
    }
}

/// Why commit `named`, which an audit entry of `instance` names, was never an event of that
/// instance (`None` when it is one, or cannot be read: a dropped event's objects may be gone).
fn not_an_event(reader: &Reader, named: ObjectId, instance: &str) -> Option<String> {
    let c = reader.commit(named).ok()?;
    match (c.message.get("Ddx-Event"), c.message.get("Ddx-Instance")) {
        (Some(_), Some(i)) if i == instance => None,
        _ => Some(format!(
            "it names commit {named} as its event, but that commit is no event of {instance}: ddx did not write this entry"
        )),
    }
}

/// Checks that the instance ref points at the event its last audit entry records.
fn check_tip(
    reader: &Reader,
    id: &str,
    tip: ObjectId,
    commits: &HashSet<ObjectId>,
    audit: &AuditSide,
    breaks: &mut Breaks,
) {
    let reference = refs::instance_ref(id);
    breaks.seq = u64::MAX;
    let Some(entries) = audit.by_instance.get(id) else {
        return;
    };
    // Entries naming commits the chain does not contain: a commit that is no event of this
    // instance was never recorded by ddx; any other is an event that was dropped.
    let mut named: Vec<(ObjectId, ObjectId)> = Vec::new();
    let mut dropped: Vec<(ObjectId, ObjectId)> = Vec::new();
    for a in entries {
        let Some(ic) = audit.node(a).and_then(|n| n.value.instance_commit()) else {
            continue;
        };
        if commits.contains(&ic) {
            named.push((*a, ic));
        } else if let Some(why) = not_an_event(reader, ic, id) {
            breaks.push(refs::AUDIT, Some(*a), BreakKind::ForgedEntry, why);
        } else {
            named.push((*a, ic));
            dropped.push((*a, ic));
        }
    }
    let Some(&(last_id, expected)) = named.last() else {
        return;
    };
    if commits.contains(&expected) {
        // At it, or past it (the events after it are named above as not audited).
        for (a, ic) in dropped {
            breaks.push(
                &reference,
                Some(ic),
                BreakKind::MovedBackwards,
                format!(
                    "audit entry {} records event {ic}, which the chain of {id} no longer contains: the event was dropped",
                    short(&a)
                ),
            );
        }
        return;
    }
    let behind = reader.walk(&[expected]);
    let problem = if behind.missing.iter().any(|m| m.id == expected) {
        (
            BreakKind::MissingObject,
            format!(
                "its last audit entry {} records event {expected}, which cannot be read",
                short(&last_id)
            ),
        )
    } else if behind.contains(&tip) {
        (
            BreakKind::MovedBackwards,
            format!(
                "it points at {tip}, behind {expected}, the event its last audit entry {} records: the ref was moved backwards",
                short(&last_id)
            ),
        )
    } else {
        (
            BreakKind::Unrelated,
            format!(
                "it points at {tip}, which is unrelated to {expected}, the event its last audit entry {} records: the ref was moved to another history",
                short(&last_id)
            ),
        )
    };
    breaks.push(&reference, Some(tip), problem.0, problem.1);
}

/// Verifies every chain of the repository.
pub fn verify(repo: &Repo, options: VerifyOptions) -> Result<Verification, StoreError> {
    // Every commit of every chain is read: decoding all packed commits at once, each delta
    // resolved once, costs a fraction of resolving each commit's delta chain on its own.
    let reader = Reader::with_commit_preload(repo);
    let shared = reader.shared();
    let all_refs = chain::ddx_refs(repo)?;
    let current: BTreeMap<String, ObjectId> = all_refs.iter().cloned().collect();
    let mut checked = Checked {
        refs: all_refs.len(),
        ..Checked::default()
    };
    let audit_head = current.get(refs::AUDIT).copied();
    let instances: Vec<(String, ObjectId)> = all_refs
        .iter()
        .filter_map(|(name, id)| {
            name.strip_prefix(refs::INSTANCES)
                .filter(|i| !i.contains('/'))
                .map(|i| (i.to_owned(), *id))
        })
        .collect();
    checked.instances = instances.len();
    // The audit chain (a sequential walk) is read while the instances are checked.
    let (mut audit, results) = rayon::join(
        || check_audit(&shared, audit_head),
        || -> Vec<InstanceResult> {
            instances
                .par_iter()
                .enumerate()
                .map_init(
                    || shared.local(),
                    |r, (i, (id, tip))| check_instance(r, i as u32 + 1, id, *tip),
                )
                .collect()
        },
    );
    checked.audit_entries = audit.walk.order.len();
    // What each instance's events say about the audit chain, checked now that it is read.
    let results: Vec<InstanceResult> = instances
        .par_iter()
        .zip(results)
        .map_init(
            || shared.local(),
            |r, ((id, tip), mut res)| {
                let reference = refs::instance_ref(id);
                for fact in std::mem::take(&mut res.facts) {
                    check_audited(&fact, id, &reference, &audit, &mut res.breaks);
                }
                check_tip(r, id, *tip, &res.commits, &audit, &mut res.breaks);
                res
            },
        )
        .collect();
    let mut breaks: Vec<(u32, u64, Break)> = Vec::new();
    let mut chains: std::collections::HashMap<String, HashSet<ObjectId>> =
        std::collections::HashMap::new();
    for ((id, _), r) in instances.iter().zip(results) {
        checked.events += r.events;
        checked.replayed += r.replayed;
        checked.not_replayed += r.not_replayed;
        checked.workflow_trees += r.workflow_trees;
        breaks.extend(r.breaks.list);
        chains.insert(id.clone(), r.commits);
    }
    let mut rest = Breaks::new(u32::MAX);
    // Instances the audit chain knows but whose ref is gone.
    for (id, entries) in &audit.by_instance {
        if !chains.contains_key(id) {
            let last = entries.last().and_then(|a| audit.node(a).map(|n| (a, n)));
            rest.push(
                &refs::instance_ref(id),
                None,
                BreakKind::Deleted,
                format!(
                    "the ref does not exist, but {} records {} entr{} for instance {id} (the last: {})",
                    refs::AUDIT,
                    entries.len(),
                    if entries.len() == 1 { "y" } else { "ies" },
                    last.map_or_else(String::new, |(a, _)| {
                        let subject = reader
                            .commit(*a)
                            .map(|c| c.message.subject)
                            .unwrap_or_default();
                        format!("{} {subject}", short(a))
                    })
                ),
            );
        }
    }
    // Checkpoints point into their instance.
    for (name, target) in &all_refs {
        let Some(cp_rest) = name.strip_prefix(refs::CHECKPOINTS) else {
            continue;
        };
        checked.checkpoints += 1;
        let Some((instance, cp)) = cp_rest.split_once('/') else {
            continue;
        };
        if !chains.get(instance).is_some_and(|c| c.contains(target)) {
            rest.push(
                name,
                Some(*target),
                BreakKind::Checkpoint,
                format!("checkpoint {cp} points at {target}, which is not an event of instance {instance}"),
            );
        }
    }
    // The notes are the anchor a fresh clone has: each names the audit head its commit saw, so
    // an audit history cut short (or replaced) since is seen even with no remembered heads.
    for (commit, text) in crate::store::notes::all(repo)? {
        for line in text.lines() {
            let Some(head) = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("audit").and_then(|a| a.as_str()).map(str::to_owned))
                .and_then(|h| ObjectId::from_hex(h.as_bytes()).ok())
            else {
                continue;
            };
            if !audit.walk.contains(&head) && !audit.walk.missing.iter().any(|m| m.id == head) {
                rest.push(
                    crate::store::notes::NOTES_REF,
                    ObjectId::from_hex(commit.as_bytes()).ok(),
                    BreakKind::Rewritten,
                    format!(
                        "the note on project commit {} names audit head {}, which {} does not contain: the audit history was cut short or rewritten since",
                        &commit[..commit.len().min(12)],
                        short(&head),
                        refs::AUDIT
                    ),
                );
                break;
            }
        }
    }
    let verified_heads = verified::read(repo)?;
    // Remembered heads: what ddx last wrote, and what verification last found intact.
    let contains = |name: &str, id: &ObjectId| -> bool {
        if name == refs::AUDIT {
            audit.walk.contains(id)
        } else {
            name.strip_prefix(refs::INSTANCES)
                .and_then(|i| chains.get(i))
                .is_some_and(|c| c.contains(id))
        }
    };
    for (file, remembered, exact_checkpoints) in [
        (".git/ddx/heads", heads::read(repo)?, true),
        (".git/ddx/verified", verified_heads.clone(), false),
    ] {
        let what = if exact_checkpoints {
            "the head ddx last wrote"
        } else {
            "the head ddx last verified"
        };
        for (name, head) in remembered {
            let is_checkpoint = name.starts_with(refs::CHECKPOINTS);
            if is_checkpoint && !exact_checkpoints {
                continue;
            }
            checked.heads += 1;
            match current.get(&name) {
                None => rest.push(
                    &name,
                    None,
                    BreakKind::Deleted,
                    format!("the ref was deleted; {what} was {head} ({file})"),
                ),
                Some(now) if *now == head => {}
                Some(now) if is_checkpoint => rest.push(
                    &name,
                    Some(*now),
                    BreakKind::NotDescendant,
                    format!("it was moved outside ddx: {what} was {head} ({file})"),
                ),
                Some(_) if contains(&name, &head) => {}
                Some(now) => {
                    let backwards = reader.walk(&[head]).contains(now);
                    rest.push(
                        &name,
                        Some(*now),
                        if backwards {
                            BreakKind::MovedBackwards
                        } else {
                            BreakKind::NotDescendant
                        },
                        if backwards {
                            format!("it was moved backwards: {what} was {head} ({file}), a descendant of where it points now")
                        } else {
                            format!("it is not a descendant of {head}, {what} ({file}): its history was rewritten or replaced")
                        },
                    );
                }
            }
        }
    }
    // Replacements of ddx commits, and of the trees and blobs they hold.
    let mut others: HashMap<ObjectId, ObjectId> = HashMap::default();
    for (old, new) in chain::replacements(repo)? {
        let owner = if audit.walk.contains(&old) {
            Some(refs::AUDIT.to_owned())
        } else {
            chains
                .iter()
                .find(|(_, c)| c.contains(&old))
                .map(|(i, _)| refs::instance_ref(i))
        };
        match owner {
            Some(reference) => rest.push(
                &reference,
                Some(old),
                BreakKind::Replaced,
                format!(
                    "commit {old} is replaced by {new} (refs/replace/{old}): git shows other content than ddx recorded; `git replace -d {old}` removes the replacement"
                ),
            ),
            None => {
                others.insert(old, new);
            }
        }
    }
    if !others.is_empty() {
        // Other refs under refs/ddx/ (fetched catalogs): their commits first, then what any
        // chain holds.
        let mut other_commits: Vec<(String, ObjectId)> = Vec::new();
        for (name, tip) in all_refs.iter().filter(|(name, _)| {
            name != refs::AUDIT
                && !name.starts_with(refs::INSTANCES)
                && !name.starts_with(refs::CHECKPOINTS)
        }) {
            for c in reader.walk_lean(&[*tip]).order {
                if let Some(new) = others.remove(&c) {
                    rest.push(
                        name,
                        Some(c),
                        BreakKind::Replaced,
                        format!(
                            "commit {c} is replaced by {new} (refs/replace/{c}): git shows other content than was fetched; `git replace -d {c}` removes the replacement"
                        ),
                    );
                }
                other_commits.push((name.clone(), c));
            }
        }
        let audit_commits = audit
            .walk
            .order
            .iter()
            .map(|c| (refs::AUDIT.to_owned(), *c));
        let instance_commits = instances.iter().flat_map(|(id, tip)| {
            let reference = refs::instance_ref(id);
            reader
                .walk_lean(&[*tip])
                .order
                .into_iter()
                .map(move |c| (reference.clone(), c))
        });
        let commits = audit_commits.chain(instance_commits).chain(other_commits);
        for (reference, commit, old, path) in replaced_contents(&reader, commits, &others) {
            let new = others[&old];
            let holder = if reference == refs::AUDIT {
                "audit entry"
            } else if reference.starts_with(refs::INSTANCES) {
                "event"
            } else {
                "commit"
            };
            rest.push(
                &reference,
                Some(commit),
                BreakKind::Replaced,
                format!(
                    "{path} of {holder} {}) is replaced by {new} (refs/replace/{old}): git shows other content than ddx recorded; `git replace -d {old}` removes the replacement",
                    short(&commit)
                ),
            );
        }
    }
    // Signatures of the audit chain. Those a verification already found good need no second
    // look while the chain still holds that head: a commit id covers its signature.
    let signing = audit::signing_enabled(repo);
    let mut already: HashSet<ObjectId> = HashSet::default();
    if let Some(h) = verified_heads
        .get(refs::AUDIT)
        .filter(|h| !options.all_signatures && audit.walk.contains(h))
    {
        let mut stack = vec![*h];
        while let Some(id) = stack.pop() {
            if already.insert(id) {
                if let Some(n) = audit.walk.nodes.get(&id) {
                    stack.extend(n.parents.iter().copied());
                }
            }
        }
    }
    let mut audit_breaks = std::mem::take(&mut audit.breaks);
    let mut signed_before: HashMap<ObjectId, bool> = HashMap::default();
    for (seq, id) in audit.walk.order.iter().enumerate() {
        audit_breaks.seq = seq as u64;
        let n = &audit.walk.nodes[id];
        let after_signed = n
            .parents
            .iter()
            .any(|p| signed_before.get(p).copied().unwrap_or(false));
        signed_before.insert(*id, after_signed || n.value.signed);
        if n.value.signed && already.contains(id) {
            checked.signatures_verified_before += 1;
        } else if n.value.signed {
            checked.signatures += 1;
            match reader.verify_signature(*id) {
                Ok(Some(s)) if s.valid => {}
                Ok(Some(s)) => audit_breaks.push(
                    refs::AUDIT,
                    Some(*id),
                    BreakKind::Signature,
                    format!(
                        "its signature does not verify ({}{}){}",
                        s.status,
                        s.signer
                            .map(|s| format!(", signer {s}"))
                            .unwrap_or_default(),
                        if s.output.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", crate::store::event::one_line(&s.output))
                        }
                    ),
                ),
                Ok(None) => {}
                Err(e) => audit_breaks.push(
                    refs::AUDIT,
                    Some(*id),
                    BreakKind::Signature,
                    format!(
                        "its signature cannot be checked: {}",
                        crate::store::repo::error_chain(&e)
                    ),
                ),
            }
        } else if signing && after_signed {
            audit_breaks.push(
                refs::AUDIT,
                Some(*id),
                BreakKind::Signature,
                "it is not signed, although signing is on and the entries before it are signed: it was written outside ddx".to_owned(),
            );
        }
    }
    breaks.extend(audit_breaks.list);
    breaks.extend(rest.list);
    // History order: the audit chain, each instance, then the refs; oldest first in each.
    breaks.sort_by_key(|(group, seq, _)| (*group, *seq));
    let breaks: Vec<Break> = breaks.into_iter().map(|(_, _, b)| b).collect();
    let ok = breaks.is_empty();
    // Freeing what was read (hundreds of thousands of small allocations) takes a noticeable
    // part of a second; the answer need not wait for it.
    rayon::spawn(move || drop((audit, chains, reader, shared)));
    let mut recorded = false;
    if ok && options.record {
        let heads: BTreeMap<String, ObjectId> = current
            .iter()
            .filter(|(name, _)| name.as_str() == refs::AUDIT || name.starts_with(refs::INSTANCES))
            .map(|(n, i)| (n.clone(), *i))
            .collect();
        verified::record(repo, &heads)?;
        recorded = true;
    }
    Ok(Verification {
        ok,
        checked,
        breaks,
        audit_head: audit_head.map(|h| h.to_string()),
        recorded,
    })
}

/// The trees and blobs among `replaced` that the commits hold, each with the first commit
/// (in the order given) that holds it: (ref, commit, replaced id, "<kind> <id> (<path>").
fn replaced_contents(
    reader: &Reader,
    commits: impl Iterator<Item = (String, ObjectId)>,
    replaced: &HashMap<ObjectId, ObjectId>,
) -> Vec<(String, ObjectId, ObjectId, String)> {
    let mut found = Vec::new();
    let mut named: HashSet<ObjectId> = HashSet::default();
    let mut seen: HashSet<ObjectId> = HashSet::default();
    for (reference, commit) in commits {
        if named.len() == replaced.len() {
            break;
        }
        let Ok(c) = reader.commit(commit) else {
            continue;
        };
        let mut stack = vec![(c.tree, String::new())];
        while let Some((tree, path)) = stack.pop() {
            if !seen.insert(tree) {
                continue;
            }
            if replaced.contains_key(&tree) && named.insert(tree) {
                let what = match path.is_empty() {
                    true => "the tree".to_owned(),
                    false => format!("{path}/"),
                };
                found.push((
                    reference.clone(),
                    commit,
                    tree,
                    format!("tree {tree} ({what}"),
                ));
            }
            let Ok(items) = reader.tree(tree) else {
                continue;
            };
            for item in items {
                let p = match path.is_empty() {
                    true => item.name.clone(),
                    false => format!("{path}/{}", item.name),
                };
                if item.is_tree {
                    stack.push((item.id, p));
                } else if replaced.contains_key(&item.id) && named.insert(item.id) {
                    found.push((
                        reference.clone(),
                        commit,
                        item.id,
                        format!("blob {} ({p}", item.id),
                    ));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_actor_agrees_with_person_actor() {
        let person = |name: &str, email: &str| Person {
            name: name.to_owned(),
            email: email.to_owned(),
            seconds: 0,
            offset: 0,
        };
        for p in [
            person("Ada", "ada@example.com"),
            person("", ""),
            person("A <b>", "c"),
            person("Ada Lovelace", "ada <x>"),
        ] {
            for actor in [
                p.actor(),
                format!("{} <{}>", p.name, p.email).replace(" <", "<"),
                format!("{}<{}>", p.name, p.email),
                format!("{} <{}> ", p.name, p.email),
                "Ada <ada@example.com>".to_owned(),
                String::new(),
            ] {
                assert_eq!(is_actor(&actor, &p), actor == p.actor(), "{actor:?} {p:?}");
            }
        }
    }
}
