//! The audit chain, `refs/ddx/audit`: one commit per operation that changed anything.
//!
//! An audit commit records, in its trailers, the operation, the instance, the instance commit
//! it produced (`Ddx-Instance-Commit`), the actor, the project commit it ran at, and the
//! arguments that matter (`Ddx-Phase`, `Ddx-Criterion`, `Ddx-Reason`, …). Its tree is the
//! instance's tree after the operation (`state.yml` and `workflow/`), so it costs no object of
//! its own and `git show refs/ddx/audit:state.yml` is the state the entry produced. The chain is
//! append-only and moves in the same ref transaction as the instance ref, so the two chains
//! vouch for each other: the audit commit names the instance commit, the instance commit names
//! the audit head it follows (`Ddx-Audit-Parent`). Verification and reports build on this.

use super::event::{write_commit, Identity, Message, Sink, FORMAT};
use super::repo::StoreError;
use gix::ObjectId;

/// What an operation records in the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// `init`, `approve`, `start`, `checkpoint`, … (`Ddx-Operation`).
    pub operation: String,
    /// A readable summary: the subject's tail.
    pub summary: String,
    /// The arguments that matter, as trailers (`Ddx-Phase`, `Ddx-Criterion`, …).
    pub args: Vec<(String, String)>,
}

/// Writes the audit commit for `record` on top of `parent`, with the instance's `tree`.
#[allow(clippy::too_many_arguments)]
pub fn write_entry(
    sink: Sink<'_>,
    identity: &Identity,
    parent: Option<ObjectId>,
    tree: ObjectId,
    instance: &str,
    instance_commit: Option<ObjectId>,
    project_commit: Option<ObjectId>,
    record: &AuditRecord,
) -> Result<ObjectId, StoreError> {
    let mut message = Message::new(subject(instance, &record.summary));
    message.trailer("Ddx-Operation", &record.operation);
    message.trailer("Ddx-Instance", instance);
    if let Some(c) = instance_commit {
        message.trailer("Ddx-Instance-Commit", c.to_string());
    }
    message.trailer("Ddx-Actor", identity.actor());
    if let Some(c) = project_commit {
        message.trailer("Ddx-Project-Commit", c.to_string());
    }
    for (k, v) in &record.args {
        message.trailer(&trailer_key(k), v);
    }
    message.trailer("Ddx-Format", FORMAT.to_string());
    let parents: Vec<ObjectId> = parent.into_iter().collect();
    write_commit(sink, identity, &message, tree, &parents)
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

/// The subject of an audit commit.
pub fn subject(instance: &str, summary: &str) -> String {
    format!("ddx(audit): {instance}: {summary}")
}
