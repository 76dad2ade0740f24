//! `ddx audit verify`: walks the audit chain and every instance chain and names what is broken.
//!
//! Every commit reachable from `refs/ddx/audit` and `refs/ddx/instances/*` is read with git's
//! replacement refs ignored, through all parents. The checks (docs/audit.md lists them):
//! objects exist; ddx wrote each commit (author and committer agree; trailers and `entry.yml`
//! agree with each other and with the commit); the two chains vouch for each other (each event
//! has the audit entry written with it, which follows the audit head the event names); each
//! event's `state.yml` is what replaying the event on its parent's state gives; each instance
//! ref points at the event its last audit entry records; every ref descends from the head ddx
//! last wrote (`.git/ddx/heads`) and last verified (`.git/ddx/verified`); no ddx commit is
//! replaced; checkpoints point into their instance; signatures verify. A clean run remembers
//! the heads it verified.

use crate::engine::replay::{self, EventInput, ReplayError};
use crate::engine::state::State;
use crate::model::{load_workflow, Workflow};
use crate::store::audit::{self, AuditEntry};
use crate::store::chain::{self, CommitData, Reader, SharedReader, Walk};
use crate::store::event::{FORMAT, STATE_FILE, WORKFLOW_DIR};
use crate::store::{heads, refs, verified, Repo, StoreError};
use gix::ObjectId;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// What kind of break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// An object a chain needs is missing or unreadable.
    MissingObject,
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
}

struct Breaks(Vec<Break>);

impl Breaks {
    fn push(
        &mut self,
        reference: &str,
        commit: Option<ObjectId>,
        kind: BreakKind,
        problem: String,
    ) {
        self.0.push(Break {
            reference: reference.to_owned(),
            commit: commit.map(|c| c.to_string()),
            problem,
            kind,
        });
    }
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

/// Whether `c` carries any `Ddx-*` trailer; a commit with none was made outside ddx, which
/// is one break, not one per missing trailer.
fn has_ddx_trailers(c: &CommitData) -> bool {
    c.message
        .trailers
        .iter()
        .any(|(k, _)| k.len() > 4 && k[..4].eq_ignore_ascii_case("ddx-"))
}

/// Checks that ddx wrote `c`: author and committer agree, `Ddx-Actor` names the author,
/// `Ddx-Format` is known.
fn check_authorship(c: &CommitData, reference: &str, breaks: &mut Breaks) {
    if c.author != c.committer {
        breaks.push(
            reference,
            Some(c.id),
            BreakKind::Rewritten,
            format!(
                "its committer ({}, {}) differs from its author ({}, {}): ddx writes both alike, so the commit was rewritten or made outside ddx",
                c.committer.actor(),
                c.committer.time(),
                c.author.actor(),
                c.author.time()
            ),
        );
    }
    match c.message.get("Ddx-Actor") {
        Some(a) if a == c.author.actor() => {}
        Some(a) => breaks.push(
            reference,
            Some(c.id),
            BreakKind::Trailer,
            format!(
                "its Ddx-Actor trailer says `{a}`, but its author is `{}`",
                c.author.actor()
            ),
        ),
        None => breaks.push(
            reference,
            Some(c.id),
            BreakKind::Trailer,
            "it has no Ddx-Actor trailer: ddx did not write it".to_owned(),
        ),
    }
    match c.message.get("Ddx-Format") {
        Some(f) if f == FORMAT.to_string() => {}
        Some(f) => breaks.push(
            reference,
            Some(c.id),
            BreakKind::Trailer,
            format!("its Ddx-Format trailer says `{f}`; this ddx writes and reads format {FORMAT}"),
        ),
        None => breaks.push(
            reference,
            Some(c.id),
            BreakKind::Trailer,
            "it has no Ddx-Format trailer: ddx did not write it".to_owned(),
        ),
    }
}

/// The audit chain, read and checked.
struct AuditSide {
    walk: Walk,
    entries: HashMap<ObjectId, AuditEntry>,
    /// Audit entries by the instance commit they record.
    by_instance_commit: HashMap<ObjectId, Vec<ObjectId>>,
    /// Per instance: its audit entries in chain order.
    by_instance: BTreeMap<String, Vec<ObjectId>>,
}

fn check_audit(reader: &Reader, head: Option<ObjectId>, breaks: &mut Breaks) -> AuditSide {
    let walk = head.map(|h| reader.walk(&[h])).unwrap_or_default();
    for m in &walk.missing {
        breaks.push(
            refs::AUDIT,
            Some(m.id),
            BreakKind::MissingObject,
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
    // entry.yml is read and parsed in parallel: it is most of the work.
    let shared = reader.shared();
    let files: Vec<(ObjectId, Result<audit::EntryFile, String>)> = walk
        .order
        .par_iter()
        .map_init(
            || shared.local(),
            |r, id| (*id, audit::read_entry_file(r, &walk.commits[id])),
        )
        .collect();
    let mut entries = HashMap::with_capacity(walk.order.len());
    let mut by_instance_commit: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    let mut by_instance: BTreeMap<String, Vec<ObjectId>> = BTreeMap::new();
    for (id, file) in files {
        let c = &walk.commits[&id];
        if !has_ddx_trailers(c) {
            breaks.push(
                refs::AUDIT,
                Some(id),
                BreakKind::Rewritten,
                format!(
                    "it has no Ddx-* trailers: it is not an audit entry ddx wrote (made by {} at {})",
                    c.author.actor(),
                    c.author.time()
                ),
            );
            continue;
        }
        check_authorship(c, refs::AUDIT, breaks);
        let mut entry = AuditEntry::from_commit(c);
        if entry.operation.is_empty() {
            breaks.push(
                refs::AUDIT,
                Some(id),
                BreakKind::Trailer,
                "it has no Ddx-Operation trailer: it is not an audit entry ddx wrote".to_owned(),
            );
        }
        match file {
            Err(why) => {
                let kind = if why.contains("missing") || why.contains("cannot be read") {
                    BreakKind::MissingObject
                } else {
                    BreakKind::Trailer
                };
                breaks.push(refs::AUDIT, Some(id), kind, why);
            }
            Ok(f) => {
                let trailer = |key: &str| c.message.get(key).unwrap_or_default().to_owned();
                let mut differ = Vec::new();
                if f.operation != entry.operation {
                    differ.push(format!(
                        "operation `{}` (Ddx-Operation: `{}`)",
                        f.operation, entry.operation
                    ));
                }
                if f.instance != trailer("Ddx-Instance") {
                    differ.push(format!(
                        "instance `{}` (Ddx-Instance: `{}`)",
                        f.instance,
                        trailer("Ddx-Instance")
                    ));
                }
                if f.instance_commit.clone().unwrap_or_default() != trailer("Ddx-Instance-Commit") {
                    differ.push(format!(
                        "instance commit `{}` (Ddx-Instance-Commit: `{}`)",
                        f.instance_commit.clone().unwrap_or_default(),
                        trailer("Ddx-Instance-Commit")
                    ));
                }
                if f.project_commit.clone().unwrap_or_default() != trailer("Ddx-Project-Commit") {
                    differ.push(format!(
                        "project commit `{}` (Ddx-Project-Commit: `{}`)",
                        f.project_commit.clone().unwrap_or_default(),
                        trailer("Ddx-Project-Commit")
                    ));
                }
                if f.actor != c.author.actor() {
                    differ.push(format!(
                        "actor `{}` (the commit's author: `{}`)",
                        f.actor,
                        c.author.actor()
                    ));
                }
                if f.time != c.author.time() {
                    differ.push(format!(
                        "time {} (the commit's: {})",
                        f.time,
                        c.author.time()
                    ));
                }
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
                entry.args = f.args;
            }
        }
        if let Some(ic) = entry.instance_commit {
            by_instance_commit.entry(ic).or_default().push(id);
        }
        if let Some(i) = &entry.instance {
            by_instance.entry(i.clone()).or_default().push(id);
        }
        entries.insert(id, entry);
    }
    AuditSide {
        walk,
        entries,
        by_instance_commit,
        by_instance,
    }
}

/// What one instance's verification found.
#[derive(Default)]
struct InstanceResult {
    breaks: Vec<Break>,
    events: usize,
    replayed: usize,
    not_replayed: usize,
    workflow_trees: usize,
    /// Every commit of the chain.
    commits: HashSet<ObjectId>,
}

/// Reads the tree of an event: `state.yml`'s blob and the `workflow/` tree.
fn event_tree(
    reader: &Reader,
    c: &CommitData,
) -> Result<(ObjectId, ObjectId), (BreakKind, String)> {
    let items = reader.tree(c.tree).map_err(|why| {
        (
            BreakKind::MissingObject,
            format!("its tree {} cannot be read: {why}", c.tree),
        )
    })?;
    let state = items
        .iter()
        .find(|i| i.name == STATE_FILE && i.is_blob)
        .map(|i| i.id)
        .ok_or_else(|| (BreakKind::Trailer, format!("its tree has no {STATE_FILE}")))?;
    let wf = items
        .iter()
        .find(|i| i.name == WORKFLOW_DIR && i.is_tree)
        .map(|i| i.id)
        .ok_or_else(|| {
            (
                BreakKind::Trailer,
                format!("its tree has no {WORKFLOW_DIR}/ folder"),
            )
        })?;
    Ok((state, wf))
}

fn read_state(reader: &Reader, blob: ObjectId, origin: &str) -> Result<State, (BreakKind, String)> {
    let bytes = reader.blob(blob).map_err(|why| {
        (
            BreakKind::MissingObject,
            format!("its {STATE_FILE} ({blob}) cannot be read: {why}"),
        )
    })?;
    State::from_yaml(&bytes, origin).map_err(|e| (BreakKind::Replay, e.to_string()))
}

struct InstanceInput<'a> {
    id: &'a str,
    tip: ObjectId,
    audit: &'a AuditSide,
}

fn check_instance(reader: &Reader, input: &InstanceInput<'_>) -> InstanceResult {
    let id = input.id;
    let reference = refs::instance_ref(id);
    let mut breaks = Breaks(Vec::new());
    let mut out = InstanceResult::default();
    let walk = reader.walk(&[input.tip]);
    for m in &walk.missing {
        breaks.push(
            &reference,
            Some(m.id),
            BreakKind::MissingObject,
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
    let mut children: HashMap<ObjectId, usize> = HashMap::new();
    for c in walk.commits.values() {
        for p in &c.parents {
            *children.entry(*p).or_default() += 1;
        }
    }
    let mut states: HashMap<ObjectId, (State, ObjectId)> = HashMap::new();
    let mut definitions: HashMap<ObjectId, Result<Rc<Workflow>, String>> = HashMap::new();
    let mut complete_trees: HashSet<ObjectId> = HashSet::new();
    let mut checked_trees: HashSet<ObjectId> = HashSet::new();
    for cid in &walk.order {
        let c = &walk.commits[cid];
        out.events += 1;
        if !has_ddx_trailers(c) {
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
                if let Ok(st) = read_state(reader, blob, &reference) {
                    states.insert(c.id, (st, wf));
                }
            }
            continue;
        }
        check_authorship(c, &reference, &mut breaks);
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
        check_audited(c, &event, id, &reference, input.audit, &mut breaks);
        // The objects of the event.
        let (state_blob, wf_tree) = match event_tree(reader, c) {
            Ok(t) => t,
            Err((kind, why)) => {
                breaks.push(&reference, Some(c.id), kind, why);
                continue;
            }
        };
        if checked_trees.insert(wf_tree) {
            out.workflow_trees += 1;
            if let Err((missing, path, why)) = reader.tree_complete(wf_tree, &mut complete_trees) {
                breaks.push(
                    &reference,
                    Some(c.id),
                    BreakKind::MissingObject,
                    format!("its pinned workflow/{path} ({missing}) cannot be read: {why}"),
                );
            }
        }
        // Replay.
        let origin = format!("{reference}@{}:{STATE_FILE}", short(&c.id));
        let parent = match c.parents.as_slice() {
            [p] => states.get(p),
            _ => None,
        };
        if c.parents.len() == 1 && parent.is_none() {
            // The parent could not be read or checked: judge this event on its own.
            out.not_replayed += 1;
            match read_state(reader, state_blob, &origin) {
                Ok(st) => {
                    states.insert(c.id, (st, wf_tree));
                }
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
        let def_tree = if event == "init" || event == "restore" {
            wf_tree
        } else {
            parent.map_or(wf_tree, |(_, t)| *t)
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
        // Only an init or restore needs the recorded state before replaying.
        let needs_recorded = event == "init" || c.parents.len() != 1;
        let mut recorded: Option<State> = None;
        if needs_recorded {
            match read_state(reader, state_blob, &origin) {
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
            Err(ReplayError::Unsupported(
                "a merge of forked histories is not replayed".to_owned(),
            ))
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
                let named: Vec<String> = c
                    .message
                    .trailers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("Ddx-Phase"))
                    .map(|(_, v)| v.clone())
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
                let bytes = replayed.state.to_yaml();
                if reader.blob_id(&bytes) == state_blob {
                    if !reader.has(&state_blob) {
                        breaks.push(
                            &reference,
                            Some(c.id),
                            BreakKind::MissingObject,
                            format!("its {STATE_FILE} ({state_blob}) is missing"),
                        );
                    }
                    Some(replayed.state)
                } else {
                    let rec = match recorded.take() {
                        Some(r) => Ok(r),
                        None => read_state(reader, state_blob, &origin),
                    };
                    match rec {
                        Ok(rec) => {
                            let a = serde_yaml::to_value(&rec).unwrap_or_default();
                            let b = serde_yaml::to_value(&replayed.state).unwrap_or_default();
                            let diff = replay::first_difference(&a, &b).unwrap_or_else(|| {
                                "its bytes differ from the state replay writes".to_owned()
                            });
                            breaks.push(
                                &reference,
                                Some(c.id),
                                BreakKind::Replay,
                                format!(
                                    "its {STATE_FILE} is not what replaying `{event}` on the state before it gives: {diff}"
                                ),
                            );
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
                    None => match read_state(reader, state_blob, &origin) {
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
                    None => read_state(reader, state_blob, &origin).ok(),
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
            if children.get(cid).copied().unwrap_or(0) > 0 {
                states.insert(c.id, (st, wf_tree));
            }
        }
        // Parents whose children are all done are dropped: memory stays flat on long chains.
        for p in &c.parents {
            if let Some(n) = children.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    states.remove(p);
                }
            }
        }
        if c.parents.is_empty() && event != "init" {
            breaks.push(
                &reference,
                Some(c.id),
                BreakKind::Trailer,
                format!("the first event of the chain is `{event}`, not `init`"),
            );
        }
    }
    out.commits = walk.commits.keys().copied().collect();
    out.commits.extend(walk.missing.iter().map(|m| m.id));
    check_tip(reader, input, &walk, &reference, &mut breaks);
    out.breaks = breaks.0;
    out
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "no phase".to_owned()
    } else {
        items.join(", ")
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
    read_state(reader, blob, &format!("{reference}@{}", short(&id))).ok()
}

/// Checks that the audit chain records event `c`: an entry naming it, of its operation,
/// following the audit head the event names.
fn check_audited(
    c: &CommitData,
    event: &str,
    instance: &str,
    reference: &str,
    audit: &AuditSide,
    breaks: &mut Breaks,
) {
    let parent = c
        .message
        .get("Ddx-Audit-Parent")
        .map(|p| ObjectId::from_hex(p.as_bytes()));
    let parent = match parent {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            breaks.push(
                reference,
                Some(c.id),
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
                Some(c.id),
                BreakKind::Rewritten,
                format!(
                    "it follows audit commit {p} (Ddx-Audit-Parent), which {} does not contain: the audit chain was rewritten, reordered or cut",
                    refs::AUDIT
                ),
            );
            return;
        }
    }
    let naming: Vec<&AuditEntry> = audit
        .by_instance_commit
        .get(&c.id)
        .into_iter()
        .flatten()
        .filter_map(|a| audit.entries.get(a))
        .filter(|a| a.instance.as_deref() == Some(instance) && a.operation == event)
        .collect();
    if naming.is_empty() {
        breaks.push(
            reference,
            Some(c.id),
            BreakKind::NotAudited,
            format!(
                "no entry of {} records this `{event}` event: it was written outside ddx (plain git)",
                refs::AUDIT
            ),
        );
        return;
    }
    let follows = naming.iter().any(|a| match parent {
        Some(p) => a.parents.contains(&p),
        None => a.parents.is_empty(),
    });
    if !follows {
        let a = naming[0];
        breaks.push(
            refs::AUDIT,
            Some(a.id),
            BreakKind::Rewritten,
            format!(
                "it records event {} of {instance}, but follows {} where the event says {}: the audit chain was reordered or rewritten",
                short(&c.id),
                a.parents.first().map_or_else(|| "nothing".to_owned(), short),
                parent.map_or_else(|| "nothing (the first entry)".to_owned(), |p| short(&p))
            ),
        );
    }
}

/// Checks that the instance ref points at the event its last audit entry records.
fn check_tip(
    reader: &Reader,
    input: &InstanceInput<'_>,
    walk: &Walk,
    reference: &str,
    breaks: &mut Breaks,
) {
    let Some(last) = input
        .audit
        .by_instance
        .get(input.id)
        .and_then(|entries| entries.last())
        .and_then(|a| input.audit.entries.get(a))
    else {
        return;
    };
    let Some(expected) = last.instance_commit else {
        return;
    };
    if expected == input.tip || walk.contains(&expected) {
        // At it, or past it (the events after it are named above as not audited).
        if !walk.contains(&expected) {
            return;
        }
        // Entries of this instance naming commits the chain does not contain: dropped events.
        for a in input.audit.by_instance[input.id]
            .iter()
            .filter_map(|a| input.audit.entries.get(a))
        {
            if let Some(ic) = a.instance_commit {
                if !walk.contains(&ic) && !walk.missing.iter().any(|m| m.id == ic) {
                    breaks.push(
                        reference,
                        Some(ic),
                        BreakKind::MovedBackwards,
                        format!(
                            "audit entry {} records event {ic}, which the chain of {} no longer contains: the event was dropped",
                            short(&a.id),
                            input.id
                        ),
                    );
                }
            }
        }
        return;
    }
    let behind = reader.walk(&[expected]);
    let problem = if behind.missing.iter().any(|m| m.id == expected) {
        (
            BreakKind::MissingObject,
            format!(
                "its last audit entry {} records event {expected}, which cannot be read",
                short(&last.id)
            ),
        )
    } else if behind.contains(&input.tip) {
        (
            BreakKind::MovedBackwards,
            format!(
                "it points at {}, behind {expected}, the event its last audit entry {} records: the ref was moved backwards",
                input.tip,
                short(&last.id)
            ),
        )
    } else {
        (
            BreakKind::Unrelated,
            format!(
                "it points at {}, which is unrelated to {expected}, the event its last audit entry {} records: the ref was moved to another history",
                input.tip,
                short(&last.id)
            ),
        )
    };
    breaks.push(reference, Some(input.tip), problem.0, problem.1);
}

/// Verifies every chain of the repository.
pub fn verify(repo: &Repo, options: VerifyOptions) -> Result<Verification, StoreError> {
    let reader = Reader::new(repo);
    let all_refs = chain::ddx_refs(repo)?;
    let current: BTreeMap<String, ObjectId> = all_refs.iter().cloned().collect();
    let mut checked = Checked {
        refs: all_refs.len(),
        ..Checked::default()
    };
    let mut breaks = Breaks(Vec::new());
    let audit_head = current.get(refs::AUDIT).copied();
    let audit = check_audit(&reader, audit_head, &mut breaks);
    checked.audit_entries = audit.walk.order.len();

    let instances: Vec<(String, ObjectId)> = all_refs
        .iter()
        .filter_map(|(name, id)| {
            name.strip_prefix(refs::INSTANCES)
                .filter(|i| !i.contains('/'))
                .map(|i| (i.to_owned(), *id))
        })
        .collect();
    checked.instances = instances.len();
    let shared: SharedReader = reader.shared();
    let audit_ref = &audit;
    let results: Vec<InstanceResult> = instances
        .par_iter()
        .map_init(
            || shared.local(),
            |r, (id, tip)| {
                check_instance(
                    r,
                    &InstanceInput {
                        id,
                        tip: *tip,
                        audit: audit_ref,
                    },
                )
            },
        )
        .collect();
    let mut chains: HashMap<String, HashSet<ObjectId>> = HashMap::new();
    for ((id, _), r) in instances.iter().zip(results) {
        checked.events += r.events;
        checked.replayed += r.replayed;
        checked.not_replayed += r.not_replayed;
        checked.workflow_trees += r.workflow_trees;
        breaks.0.extend(r.breaks);
        chains.insert(id.clone(), r.commits);
    }
    // Instances the audit chain knows but whose ref is gone.
    for (id, entries) in &audit.by_instance {
        if !chains.contains_key(id) {
            let last = entries.last().and_then(|a| audit.entries.get(a));
            breaks.push(
                &refs::instance_ref(id),
                None,
                BreakKind::Deleted,
                format!(
                    "the ref does not exist, but {} records {} entr{} for instance {id} (the last: {})",
                    refs::AUDIT,
                    entries.len(),
                    if entries.len() == 1 { "y" } else { "ies" },
                    last.map_or_else(String::new, |a| format!("{} {}", short(&a.id), a.summary))
                ),
            );
        }
    }
    // Checkpoints point into their instance.
    for (name, target) in &all_refs {
        let Some(rest) = name.strip_prefix(refs::CHECKPOINTS) else {
            continue;
        };
        checked.checkpoints += 1;
        let Some((instance, cp)) = rest.split_once('/') else {
            continue;
        };
        let inside = chains.get(instance).is_some_and(|c| c.contains(target));
        if !inside {
            breaks.push(
                name,
                Some(*target),
                BreakKind::Checkpoint,
                format!("checkpoint {cp} points at {target}, which is not an event of instance {instance}"),
            );
        }
    }
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
        (".git/ddx/verified", verified::read(repo)?, false),
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
                None => breaks.push(
                    &name,
                    None,
                    BreakKind::Deleted,
                    format!("the ref was deleted; {what} was {head} ({file})"),
                ),
                Some(now) if *now == head => {}
                Some(now) if is_checkpoint => breaks.push(
                    &name,
                    Some(*now),
                    BreakKind::NotDescendant,
                    format!("it was moved outside ddx: {what} was {head} ({file})"),
                ),
                Some(now) if contains(&name, &head) => {
                    let _ = now;
                }
                Some(now) => {
                    let backwards = reader.walk(&[head]).contains(now);
                    breaks.push(
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
    // Replacements of ddx commits.
    for (old, new) in chain::replacements(repo)? {
        let owner = if audit.walk.contains(&old) {
            Some(refs::AUDIT.to_owned())
        } else {
            chains
                .iter()
                .find(|(_, c)| c.contains(&old))
                .map(|(i, _)| refs::instance_ref(i))
        };
        if let Some(reference) = owner {
            breaks.push(
                &reference,
                Some(old),
                BreakKind::Replaced,
                format!(
                    "commit {old} is replaced by {new} (refs/replace/{old}): git shows other content than ddx recorded; `git replace -d {old}` removes the replacement"
                ),
            );
        }
    }
    // Signatures of the audit chain.
    let signing = audit::signing_enabled(repo);
    let mut signed_before: HashMap<ObjectId, bool> = HashMap::new();
    for id in &audit.walk.order {
        let c = &audit.walk.commits[id];
        let after_signed = c
            .parents
            .iter()
            .any(|p| signed_before.get(p).copied().unwrap_or(false));
        signed_before.insert(*id, after_signed || c.signed);
        if c.signed {
            checked.signatures += 1;
            match reader.verify_signature(*id) {
                Ok(Some(s)) if s.valid => {}
                Ok(Some(s)) => breaks.push(
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
                Err(e) => breaks.push(
                    refs::AUDIT,
                    Some(*id),
                    BreakKind::Signature,
                    format!("its signature cannot be checked: {}", error_chain(&e)),
                ),
            }
        } else if signing && after_signed {
            breaks.push(
                refs::AUDIT,
                Some(*id),
                BreakKind::Signature,
                "it is not signed, although signing is on and the entries before it are signed: it was written outside ddx".to_owned(),
            );
        }
    }
    let ok = breaks.0.is_empty();
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
        breaks: breaks.0,
        audit_head: audit_head.map(|h| h.to_string()),
        recorded,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
