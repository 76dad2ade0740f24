//! Audit chain queries: `ddx audit log` (entries, filtered) and `ddx audit show` (one entry in
//! full, with the event it records).

use crate::store::audit::{self, AuditEntry, EntryFile};
use crate::store::chain::{self, Reader};
use crate::store::ObjectId;
use crate::store::{refs, LookupError, Repo, StoreError};
use serde::Serialize;

/// Why an audit query failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{spec}` names no entry of refs/ddx/audit")]
    NoSuchEntry { spec: String },
    #[error("the audit chain is empty: nothing has been recorded in this repository yet")]
    Empty,
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// Which entries `ddx audit log` shows.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Only entries of this instance (an id or a unique prefix of one).
    pub instance: Option<String>,
    /// Only entries at or after this time (seconds since the epoch).
    pub since: Option<i64>,
    /// Only entries before this time.
    pub until: Option<i64>,
}

impl EntryFilter {
    pub fn keeps(&self, e: &AuditEntry) -> bool {
        self.instance
            .as_deref()
            .is_none_or(|i| e.instance.as_deref() == Some(i))
            && self.since.is_none_or(|s| e.seconds >= s)
            && self.until.is_none_or(|u| e.seconds < u)
    }
}

/// The entries the filter keeps, newest first.
pub fn log(repo: &Repo, filter: &EntryFilter) -> Result<Vec<AuditEntry>, AuditError> {
    let mut entries = audit::entries(repo, false)?;
    let filter = resolved(repo, filter, &entries)?;
    entries.retain(|e| filter.keeps(e));
    entries.reverse();
    Ok(entries)
}

/// `filter` with its instance prefix resolved among the instances that exist or that the audit
/// chain names (an instance whose ref is gone keeps its history).
pub fn resolved(
    repo: &Repo,
    filter: &EntryFilter,
    entries: &[AuditEntry],
) -> Result<EntryFilter, AuditError> {
    let Some(prefix) = &filter.instance else {
        return Ok(filter.clone());
    };
    let mut ids = refs::instance_ids(repo)?;
    ids.extend(entries.iter().filter_map(|e| e.instance.clone()));
    ids.sort();
    ids.dedup();
    Ok(EntryFilter {
        instance: Some(refs::resolve_prefix(&ids, prefix)?),
        ..filter.clone()
    })
}

/// Resolves what a user typed for an entry: `audit` (the head), `audit~N`, `audit^`, a commit
/// id or a unique prefix of one. It must name a commit of the audit chain.
pub fn resolve_entry(repo: &Repo, spec: &str) -> Result<ObjectId, AuditError> {
    let head = refs::read(repo, refs::AUDIT)?.ok_or(AuditError::Empty)?;
    let not_found = || AuditError::NoSuchEntry {
        spec: spec.to_owned(),
    };
    let rev = match spec.strip_prefix("audit") {
        Some(rest) if rest.is_empty() || rest.starts_with(['~', '^']) => {
            format!("{}{rest}", refs::AUDIT)
        }
        _ => spec.to_owned(),
    };
    let id = chain::rev_parse(repo, &rev)?.ok_or_else(not_found)?;
    if id == head {
        return Ok(id);
    }
    let walk = Reader::new(repo).walk(&[head]);
    if walk.contains(&id) {
        Ok(id)
    } else {
        Err(not_found())
    }
}

/// A commit's message, split up.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub commit: String,
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
    pub trailers: Vec<(String, String)>,
}

/// One entry in full: `ddx audit show`.
#[derive(Debug, Clone, Serialize)]
pub struct EntryDetail {
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// `entry.yml` as recorded.
    pub entry_file: Option<EntryFile>,
    pub message: MessageView,
    /// The instance event this entry records, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<MessageView>,
}

/// Reads one entry and the event it records.
pub fn show(repo: &Repo, id: ObjectId) -> Result<EntryDetail, AuditError> {
    let reader = Reader::new(repo);
    let c = reader.commit(id).map_err(|what| StoreError::Corrupt {
        reference: refs::AUDIT.to_owned(),
        commit: id.to_string(),
        what,
    })?;
    let mut entry = AuditEntry::from_commit(&c);
    let entry_file = audit::read_entry_file(&reader, &c).ok();
    if let Some(f) = &entry_file {
        entry.args = f.args.clone();
    }
    let event = entry
        .instance_commit
        .and_then(|e| reader.commit(e).ok())
        .filter(|e| e.message.get("Ddx-Event").is_some())
        .filter(|_| {
            // A checkpoint names the tip it marks; the event is another operation's.
            entry.operation != "checkpoint"
        })
        .map(|e| MessageView {
            commit: e.id.to_string(),
            subject: e.message.subject.clone(),
            body: e.message.body.clone(),
            trailers: e.message.trailers.clone(),
        });
    Ok(EntryDetail {
        message: MessageView {
            commit: c.id.to_string(),
            subject: c.message.subject.clone(),
            body: c.message.body.clone(),
            trailers: c.message.trailers.clone(),
        },
        entry,
        entry_file,
        event,
    })
}
