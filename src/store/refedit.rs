//! The one way ddx moves refs: a transaction of compare-and-swap edits with reflog lines.
//!
//! Every ref of an edit must be where the caller read it (or must not exist yet); either all
//! move, or none does and the edit is a [`EditError::Conflict`]. gix does it (`RefEdit` with
//! `PreviousValue::MustExistAndMatch`/`MustNotExist`, `force_create_reflog`, waiting for a held
//! lock as `core.filesRefLockTimeout` says), except where gix would not do what git does: in a
//! repository with reftable ref storage, a `reference-transaction` hook, `core.sharedRepository`
//! or `core.fsync`, the same transaction goes through `git update-ref --stdin`
//! ([`super::git::update_refs`]).

use super::event::Identity;
use super::git::{self, RefUpdate, UpdateError};
use super::heads::RefMove;
use super::repo::{Repo, StoreError};
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;

/// Why an edit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Another program moved or holds a ref: nothing was moved; reading again and retrying
    /// may succeed.
    #[error("{0}")]
    Conflict(String),
    /// Something else failed (a hook refused, a file could not be written).
    #[error(transparent)]
    Failed(#[from] StoreError),
}

/// Moves every ref of `moves` from its `old` to its `new` value, or none of them.
pub fn edit(
    repo: &Repo,
    identity: &Identity,
    moves: &[RefMove],
    message: &str,
) -> Result<(), EditError> {
    for m in moves {
        if !m.name.starts_with("refs/") {
            return Err(StoreError::Corrupt {
                reference: m.name.clone(),
                commit: String::new(),
                what: "ddx moves only refs under refs/".to_owned(),
            }
            .into());
        }
    }
    if moves.is_empty() {
        return Ok(());
    }
    if repo.writes_through_git() {
        let updates: Vec<RefUpdate<'_>> = moves
            .iter()
            .map(|m| RefUpdate {
                name: &m.name,
                old: m.old,
                new: m.new,
            })
            .collect();
        let who = (
            identity.name.as_str(),
            identity.email.as_str(),
            identity.seconds,
        );
        return git::update_refs(repo.work_dir(), who, &updates, message).map_err(|e| match e {
            UpdateError::Conflict(why) => EditError::Conflict(why),
            UpdateError::Failed(e) => StoreError::git("moving the refs", e).into(),
        });
    }
    let one_line: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let mut edits = Vec::with_capacity(moves.len());
    for m in moves {
        let name = m
            .name
            .as_str()
            .try_into()
            .map_err(|e| StoreError::git(format!("using {} as a ref name", m.name), e))?;
        edits.push(RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: true,
                    message: one_line.trim().into(),
                },
                expected: match m.old {
                    Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
                    None => PreviousValue::MustNotExist,
                },
                new: Target::Object(m.new),
            },
            name,
            deref: false,
        });
    }
    let signature = identity.signature();
    let mut buf = gix::date::parse::TimeBuf::default();
    match repo
        .gix()
        .edit_references_as(edits, Some(signature.to_ref(&mut buf)))
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Err(EditError::Conflict(format!("{e:?}"))),
        Err(e) => Err(StoreError::git("moving the refs", e).into()),
    }
}
