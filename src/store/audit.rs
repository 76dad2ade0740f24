//! The audit chain, `refs/ddx/audit`: one commit per operation that changed anything.
//!
//! Each audit commit's tree holds one small `entry.yml` (operation, actor, time, instance, the
//! instance commit it produced, the project commit it ran at, and the arguments that matter);
//! its trailers say the same for `git log`. The chain is append-only and moves in the same ref
//! transaction as the instance ref, so the two chains vouch for each other: the audit commit
//! names the instance commit (`Ddx-Instance-Commit`), the instance commit names the audit head
//! it follows (`Ddx-Audit-Parent`). Operations that touch no instance (`ddx repo add`, `ddx
//! hooks install`, …) are recorded with [`record_operation`]. When the user signs commits
//! (`ddx.sign`, else `commit.gpgSign`), every audit commit is signed before its ref moves.
//! [`entries`] reads the chain back for logs, reports and exports.

use super::chain::{CommitData, Reader};
use super::event::{commit_object, Identity, Message, Sink, FORMAT};
use super::refs;
use super::repo::{ObjectError, Repo, StoreError};
use super::transaction::{self, Decision, Options, Outcome, Plan};
use gix::objs::tree::{Entry, EntryKind};
use gix::ObjectId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The file of an audit commit's tree.
pub const ENTRY_FILE: &str = "entry.yml";

/// Whether an audit entry of `operation` may record an instance event of kind `event`
/// (`Ddx-Event`): the same name, except `apply`, whose first event is the instance's `init`.
pub fn records_event(operation: &str, event: &str) -> bool {
    operation == event || (operation == "apply" && event == "init")
}

/// What an operation records in the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// `init`, `approve`, `start`, `checkpoint`, …
    pub operation: String,
    /// A readable summary, the subject's tail.
    pub summary: String,
    /// The arguments that matter (phase, criterion, reason, checkpoint, …).
    pub args: BTreeMap<String, String>,
}

/// `entry.yml`, as written.
#[derive(Serialize)]
pub struct EntryDoc<'a> {
    pub format: u32,
    pub operation: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_commit: Option<String>,
    pub actor: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_commit: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: &'a BTreeMap<String, String>,
}

/// The tree of an audit commit: one `entry.yml`.
pub fn entry_tree(entry_blob: ObjectId) -> gix::objs::Tree {
    gix::objs::Tree {
        entries: vec![Entry {
            mode: EntryKind::Blob.into(),
            filename: ENTRY_FILE.into(),
            oid: entry_blob,
        }],
    }
}

/// The argument name of an audit commit's trailer (the inverse of [`trailer_key`] for the names
/// ddx writes: `Ddx-Exit-Status` is `exit_status`).
pub fn arg_name(trailer: &str) -> String {
    trailer
        .trim_start_matches("Ddx-")
        .to_lowercase()
        .replace('-', "_")
}

/// Writes the audit commit for `record` on top of `parent` and `joins` (signed when the user
/// signs commits and the objects are really written). An empty `instance` is an operation that
/// touches no instance.
#[allow(clippy::too_many_arguments)]
pub fn write_entry(
    sink: Sink<'_>,
    identity: &Identity,
    parent: Option<ObjectId>,
    joins: &[ObjectId],
    instance: &str,
    instance_commit: Option<ObjectId>,
    project_commit: Option<ObjectId>,
    record: &AuditRecord,
) -> Result<ObjectId, StoreError> {
    let entry = EntryDoc {
        format: FORMAT,
        operation: &record.operation,
        instance,
        instance_commit: instance_commit.map(|c| c.to_string()),
        actor: identity.actor(),
        time: identity.time(),
        project_commit: project_commit.map(|c| c.to_string()),
        args: &record.args,
    };
    let yaml = super::encoding::to_string(&entry)
        .map_err(|e| StoreError::git("encoding an audit entry", e))?;
    let blob = sink.blob(yaml.as_bytes())?;
    let tree = sink.put(&entry_tree(blob))?;
    let mut message = if instance.is_empty() {
        Message::new(format!("ddx(audit): {}", record.summary))
    } else {
        Message::new(format!("ddx(audit): {instance}: {}", record.summary))
    };
    message.trailer("Ddx-Operation", &record.operation);
    if !instance.is_empty() {
        message.trailer("Ddx-Instance", instance);
    }
    if let Some(c) = instance_commit {
        message.trailer("Ddx-Instance-Commit", c.to_string());
    }
    message.trailer("Ddx-Actor", identity.actor());
    if let Some(c) = project_commit {
        message.trailer("Ddx-Project-Commit", c.to_string());
    }
    // The arguments are in entry.yml; as trailers too, for `git log` readers.
    for (k, v) in &record.args {
        message.trailer(&trailer_key(k), v);
    }
    message.trailer("Ddx-Format", FORMAT.to_string());
    let parents: Vec<ObjectId> = parent.into_iter().chain(joins.iter().copied()).collect();
    let commit = commit_object(identity, &message, tree, &parents);
    match sink {
        Sink::Write(repo) => match signing_options(repo.gix())? {
            Some(options) => {
                let signed = commit.sign(options).map_err(|e| {
                    StoreError::git(
                        "signing the audit commit (ddx.sign or commit.gpgSign is on: check gpg.format and user.signingKey, or set ddx.sign=false)",
                        e,
                    )
                })?;
                sink.put(&signed)
            }
            None => sink.put(&commit),
        },
        Sink::HashOnly(_) => sink.put(&commit),
    }
}

/// How to sign audit commits, when the user signs: `ddx.sign` when it is set, else
/// `commit.gpgSign`; the key and program come from `gpg.format`, `user.signingKey` and friends.
pub fn signing_options(
    repo: &gix::Repository,
) -> Result<Option<gix::objs::signature::sign::Options>, StoreError> {
    let config = repo.config_snapshot();
    let explicit = config.boolean("ddx.sign");
    let hint = "reading the signing configuration (gpg.format, user.signingKey)";
    match explicit {
        Some(true) => repo
            .commit_signing_options()
            .map(Some)
            .map_err(|e| StoreError::git(hint, e)),
        Some(false) => Ok(None),
        None => repo
            .commit_signing_options_if_enabled()
            .map_err(|e| StoreError::git(hint, e)),
    }
}

/// Whether audit commits of this repository are signed (`ddx.sign`, else `commit.gpgSign`).
pub fn signing_enabled(repo: &Repo) -> bool {
    let config = repo.gix().config_snapshot();
    config
        .boolean("ddx.sign")
        .or_else(|| config.boolean("commit.gpgSign"))
        .unwrap_or(false)
}

/// Records an operation that touches no instance (`ddx repo add`, `ddx hooks install`, …) as
/// one audit commit: compare-and-swap on `refs/ddx/audit`, retried on a lost race, through the
/// one transaction type. A dry run writes nothing and says which commit it would write.
pub fn record_operation(
    repo: &Repo,
    identity: &Identity,
    record: &AuditRecord,
    dry_run: bool,
) -> Result<Outcome, StoreError> {
    let opts = Options {
        instance: "",
        identity,
        project_commit: repo.project_commit(),
        dry_run,
    };
    transaction::commit(repo, &opts, |_| -> Result<Decision, StoreError> {
        Ok(Decision::Change(Box::new(Plan {
            event: None,
            audit: record.clone(),
            extra: Vec::new(),
            audit_joins: Vec::new(),
        })))
    })
}

/// `entry.yml` as read back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct EntryFile {
    pub format: u32,
    pub operation: String,
    #[serde(default)]
    pub instance: String,
    #[serde(default)]
    pub instance_commit: Option<String>,
    pub actor: String,
    pub time: String,
    #[serde(default)]
    pub project_commit: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

impl EntryFile {
    /// Reads `entry.yml` of any known format (through [`super::upgrade`]).
    pub fn parse(bytes: &[u8]) -> Result<EntryFile, String> {
        use super::upgrade::FormatError;
        super::upgrade::read::<EntryFile>(bytes, ENTRY_FILE).map_err(|e| match e {
            FormatError::Invalid { message, .. } => message,
            unknown => unknown.to_string(),
        })
    }
}

impl super::upgrade::Versioned for EntryFile {
    const KIND: &'static str = "audit entry";
    const CURRENT: u32 = FORMAT;
    // Format 1 is the first: no step yet.
    const STEPS: &'static [super::upgrade::Step] = &[];
    fn format(&self) -> u32 {
        self.format
    }
}

/// One audit entry, read back from its commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    #[serde(serialize_with = "ser_oid")]
    pub id: ObjectId,
    #[serde(serialize_with = "ser_oids")]
    pub parents: Vec<ObjectId>,
    /// RFC 3339 UTC.
    pub time: String,
    #[serde(skip)]
    pub seconds: i64,
    pub actor: String,
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(
        serialize_with = "ser_opt_oid",
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_commit: Option<ObjectId>,
    #[serde(
        serialize_with = "ser_opt_oid",
        skip_serializing_if = "Option::is_none"
    )]
    pub project_commit: Option<ObjectId>,
    /// The readable summary (the subject after `ddx(audit): <instance>: `).
    pub summary: String,
    /// The arguments from `entry.yml` (empty when they were not read).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    pub signed: bool,
}

fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn ser_opt_oid<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

fn ser_oids<S: serde::Serializer>(ids: &[ObjectId], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter().map(|i| i.to_string()))
}

impl AuditEntry {
    /// The entry an audit commit records, from its trailers (arguments are read separately).
    pub fn from_commit(c: &CommitData) -> AuditEntry {
        let m = &c.message;
        let oid = |key: &str| {
            m.get(key)
                .and_then(|v| ObjectId::from_hex(v.as_bytes()).ok())
        };
        let instance = m.get("Ddx-Instance").map(str::to_owned);
        let prefix = match &instance {
            Some(i) => format!("ddx(audit): {i}: "),
            None => "ddx(audit): ".to_owned(),
        };
        AuditEntry {
            id: c.id,
            parents: c.parents.clone(),
            time: c.committer.time(),
            seconds: c.committer.seconds,
            actor: m
                .get("Ddx-Actor")
                .map_or_else(|| c.author.actor(), str::to_owned),
            operation: m.get("Ddx-Operation").unwrap_or_default().to_owned(),
            instance,
            instance_commit: oid("Ddx-Instance-Commit"),
            project_commit: oid("Ddx-Project-Commit"),
            summary: m
                .subject
                .strip_prefix(&prefix)
                .unwrap_or(&m.subject)
                .to_owned(),
            args: BTreeMap::new(),
            signed: c.signed,
        }
    }
}

/// Why an audit commit's `entry.yml` cannot be read (the commit is named by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("its tree {tree} cannot be read: {why}")]
    Tree { tree: ObjectId, why: ObjectError },
    #[error("its tree has no {ENTRY_FILE}")]
    NoEntry,
    #[error("its {ENTRY_FILE} ({blob}) cannot be read: {why}")]
    Blob { blob: ObjectId, why: ObjectError },
    #[error("its {ENTRY_FILE} is not valid: {0}")]
    Invalid(String),
}

/// Reads `entry.yml` of an audit commit.
pub fn read_entry_file(reader: &Reader, c: &CommitData) -> Result<EntryFile, EntryError> {
    let items = reader
        .tree(c.tree)
        .map_err(|why| EntryError::Tree { tree: c.tree, why })?;
    let item = items
        .iter()
        .find(|i| i.name == ENTRY_FILE && i.is_blob)
        .ok_or(EntryError::NoEntry)?;
    let bytes = reader
        .blob(item.id)
        .map_err(|why| EntryError::Blob { blob: item.id, why })?;
    EntryFile::parse(&bytes).map_err(EntryError::Invalid)
}

/// Every entry of the audit chain, oldest first (parents before children), with their
/// arguments when `with_args`. A commit or `entry.yml` that cannot be read is an error naming
/// it (`ddx audit verify` says more).
pub fn entries(repo: &Repo, with_args: bool) -> Result<Vec<AuditEntry>, StoreError> {
    let Some(head) = refs::read(repo, refs::AUDIT)? else {
        return Ok(Vec::new());
    };
    let reader = Reader::new(repo);
    let walk = reader.walk(&[head]);
    if let Some(m) = walk.missing.first() {
        return Err(StoreError::Corrupt {
            reference: refs::AUDIT.to_owned(),
            commit: m.id.to_string(),
            what: m.why.to_string(),
        });
    }
    let mut out = Vec::with_capacity(walk.order.len());
    for id in &walk.order {
        let c = &walk.commits[id];
        let mut entry = AuditEntry::from_commit(c);
        if with_args {
            let file = read_entry_file(&reader, c).map_err(|what| StoreError::Corrupt {
                reference: refs::AUDIT.to_owned(),
                commit: id.to_string(),
                what: what.to_string(),
            })?;
            entry.args = file.args;
        }
        out.push(entry);
    }
    Ok(out)
}

/// The subject of an audit commit.
pub fn subject(instance: &str, summary: &str) -> String {
    if instance.is_empty() {
        format!("ddx(audit): {summary}")
    } else {
        format!("ddx(audit): {instance}: {summary}")
    }
}

/// A trailer key git recognises: `exit_status` becomes `Ddx-Exit-Status`; `Ddx-…` stays.
pub fn trailer_key(key: &str) -> String {
    if key.starts_with("Ddx-") {
        return key.to_owned();
    }
    let words: Vec<String> = key
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("Ddx-{}", words.join("-"))
}
