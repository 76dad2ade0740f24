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
use gix::ObjectId;

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

/// One compare-and-swap edit of a ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update<'a> {
    pub name: &'a str,
    /// Where the ref must be now; `None`: it must not exist.
    pub old: Option<ObjectId>,
    /// Where it goes; `None`: it is deleted (with its reflog, as git does).
    pub new: Option<ObjectId>,
}

/// Moves every ref of `moves` from its `old` to its `new` value, or none of them.
pub fn edit(
    repo: &Repo,
    identity: &Identity,
    moves: &[RefMove],
    message: &str,
) -> Result<(), EditError> {
    let updates: Vec<Update<'_>> = moves
        .iter()
        .map(|m| Update {
            name: &m.name,
            old: m.old,
            new: Some(m.new),
        })
        .collect();
    apply(repo, identity, &updates, message)
}

/// Applies every update of `updates`, or none of them.
pub fn apply(
    repo: &Repo,
    identity: &Identity,
    updates: &[Update<'_>],
    message: &str,
) -> Result<(), EditError> {
    for u in updates {
        if !u.name.starts_with("refs/") {
            return Err(StoreError::Corrupt {
                reference: u.name.to_owned(),
                commit: String::new(),
                what: "ddx moves only refs under refs/".to_owned(),
            }
            .into());
        }
        if u.old.is_none() && u.new.is_none() {
            return Err(StoreError::Corrupt {
                reference: u.name.to_owned(),
                commit: String::new(),
                what: "an edit that deletes must name the value it deletes".to_owned(),
            }
            .into());
        }
    }
    if updates.is_empty() {
        return Ok(());
    }
    let one_line: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let message = one_line.trim();
    let reflog = repo.logs_ref_updates();
    if repo.writes_through_git() {
        let git_updates: Vec<RefUpdate<'_>> = updates
            .iter()
            .map(|u| RefUpdate {
                name: u.name,
                old: u.old,
                new: u.new,
            })
            .collect();
        let who = (
            identity.name.as_str(),
            identity.email.as_str(),
            identity.seconds,
        );
        return git::update_refs(repo.work_dir(), who, &git_updates, message, reflog).map_err(
            |e| match e {
                UpdateError::Conflict(why) => EditError::Conflict(why),
                UpdateError::Failed(e) => StoreError::git("moving the refs", e).into(),
            },
        );
    }
    let mut edits = Vec::with_capacity(updates.len());
    for u in updates {
        let name = u
            .name
            .try_into()
            .map_err(|e| StoreError::git(format!("using {} as a ref name", u.name), e))?;
        let expected = match u.old {
            Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
            None => PreviousValue::MustNotExist,
        };
        let change = match u.new {
            Some(new) => Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: reflog,
                    message: message.into(),
                },
                expected,
                new: Target::Object(new),
            },
            None => Change::Delete {
                expected,
                log: RefLog::AndReference,
            },
        };
        edits.push(RefEdit {
            change,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::git;

    #[test]
    fn a_reference_transaction_hook_sees_the_moves_and_can_refuse_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        git(root, &["init", "-q"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let one = git(root, &["rev-parse", "HEAD"]).trim().to_owned();
        let one = gix::ObjectId::from_hex(one.as_bytes()).expect("hex");
        let hook = root.join(".git/hooks/reference-transaction");
        let dir = root.join(".git").display().to_string();
        let script = format!("#!/bin/sh\ncat >> '{dir}/seen'\ntest ! -e '{dir}/refuse'\n");
        std::fs::write(&hook, script).expect("hook");
        std::process::Command::new("chmod")
            .args(["755", hook.to_str().expect("utf-8")])
            .status()
            .expect("chmod");
        let repo = Repo::discover(root).expect("repo");
        assert!(repo.writes_through_git());
        let id = Identity {
            name: "T".into(),
            email: "t@example.com".into(),
            seconds: 1_700_000_000,
            offset: 0,
        };
        let mv = |name: &str| RefMove {
            name: name.to_owned(),
            old: None,
            new: one,
        };
        edit(&repo, &id, &[mv("refs/ddx/a")], "create").expect("create");
        let seen = std::fs::read_to_string(root.join(".git/seen")).expect("seen");
        assert!(seen.contains(&format!("{one} refs/ddx/a")), "{seen}");
        std::fs::write(root.join(".git/refuse"), "").expect("refuse");
        let err = edit(&repo, &id, &[mv("refs/ddx/b")], "create").expect_err("refused");
        assert!(matches!(err, EditError::Failed(_)), "{err:?}");
        assert!(git(root, &["for-each-ref", "refs/ddx/b"]).is_empty());
        git(root, &["fsck", "--strict"]);
    }
}
