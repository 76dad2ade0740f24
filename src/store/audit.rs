//! The audit chain, `refs/ddx/audit`: one commit per operation that changed anything.
//!
//! Each audit commit's tree holds one small `entry.yml` (operation, actor, time, instance, the
//! instance commit it produced, the project commit it ran at, and the arguments that matter);
//! its trailers say the same for `git log`. The chain is append-only and moves in the same ref
//! transaction as the instance ref, so the two chains vouch for each other: the audit commit
//! names the instance commit (`Ddx-Instance-Commit`), the instance commit names the audit head
//! it follows (`Ddx-Audit-Parent`). Verification and reports (issue 6) read this.

use super::event::{write_commit, Identity, Message, Sink, FORMAT};
use super::repo::StoreError;
use gix::objs::tree::{Entry, EntryKind};
use gix::ObjectId;
use serde::Serialize;
use std::collections::BTreeMap;

/// The file of an audit commit's tree.
pub const ENTRY_FILE: &str = "entry.yml";

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

#[derive(Serialize)]
struct EntryDoc<'a> {
    format: u32,
    operation: &'a str,
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_commit: Option<String>,
    actor: String,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_commit: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    args: &'a BTreeMap<String, String>,
}

/// Writes the audit commit for `record` on top of `parent`.
pub fn write_entry(
    sink: Sink<'_>,
    identity: &Identity,
    parent: Option<ObjectId>,
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
    let yaml =
        serde_yaml::to_string(&entry).map_err(|e| StoreError::git("encoding an audit entry", e))?;
    let blob = sink.blob(yaml.as_bytes())?;
    let tree = sink.put(&gix::objs::Tree {
        entries: vec![Entry {
            mode: EntryKind::Blob.into(),
            filename: ENTRY_FILE.into(),
            oid: blob,
        }],
    })?;
    let mut message = Message::new(format!("ddx(audit): {instance}: {}", record.summary));
    message.trailer("Ddx-Operation", &record.operation);
    message.trailer("Ddx-Instance", instance);
    if let Some(c) = instance_commit {
        message.trailer("Ddx-Instance-Commit", c.to_string());
    }
    message.trailer("Ddx-Actor", identity.actor());
    if let Some(c) = project_commit {
        message.trailer("Ddx-Project-Commit", c.to_string());
    }
    message.trailer("Ddx-Format", FORMAT.to_string());
    let parents: Vec<ObjectId> = parent.into_iter().collect();
    write_commit(sink, identity, &message, tree, &parents)
}
