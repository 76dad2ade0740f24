//! The `refs/ddx/*` layout (DESIGN §4): ref names, instance ids, and resolving what users type.
//!
//! One ref per instance (`refs/ddx/instances/<id>`), named checkpoints beside it
//! (`refs/ddx/checkpoints/<id>/<name>`), and one audit chain (`refs/ddx/audit`). Instance ids are
//! `<workflow>-YYYYMMDD-HHMMSS-<4 hex>`; any unique prefix of one is accepted.

use super::repo::{Repo, StoreError};
use gix::ObjectId;
use std::hash::{BuildHasher, Hasher};

pub const INSTANCES: &str = "refs/ddx/instances/";
pub const CHECKPOINTS: &str = "refs/ddx/checkpoints/";
pub const AUDIT: &str = "refs/ddx/audit";

/// The ref of an instance.
pub fn instance_ref(id: &str) -> String {
    format!("{INSTANCES}{id}")
}

/// The ref of a checkpoint of an instance.
pub fn checkpoint_ref(id: &str, name: &str) -> String {
    format!("{CHECKPOINTS}{id}/{name}")
}

/// Why an instance or checkpoint could not be resolved, or a name cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no workflow instance matches `{prefix}`")]
    NotFound {
        prefix: String,
        suggestion: Option<String>,
    },
    #[error("`{prefix}` matches {} instances: {}", matches.len(), matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error("there is no workflow instance in this repository")]
    NoInstances,
    #[error("no workflow instance is active (all {count} are completed or cancelled)")]
    NoneActive { count: usize },
    #[error("{} workflow instances are active: {}", ids.len(), ids.join(", "))]
    SeveralActive { ids: Vec<String> },
    #[error("workflow instance `{id}` already exists")]
    InstanceExists { id: String },
    #[error("instance {instance} has no checkpoint named `{name}`")]
    CheckpointNotFound {
        instance: String,
        name: String,
        suggestion: Option<String>,
    },
    #[error("instance {instance} already has a checkpoint named `{name}` (at {commit})")]
    CheckpointExists {
        instance: String,
        name: String,
        commit: String,
    },
    #[error("`{name}` cannot be used as {what}: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: &'static str,
    },
}

/// Checks that `name` can be one component of a ref name (an instance id or checkpoint name).
pub fn validate_name(what: &'static str, name: &str) -> Result<(), LookupError> {
    let bad = |why| {
        Err(LookupError::InvalidName {
            what,
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 200 {
        return bad("it is longer than 200 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only letters, digits, `-`, `_` and `.` are allowed");
    }
    if name.starts_with(['.', '-']) || name.ends_with('.') {
        return bad("it may not start with `.` or `-`, nor end with `.`");
    }
    if name.contains("..") || name.ends_with(".lock") {
        return bad("it may not contain `..` nor end with `.lock`");
    }
    Ok(())
}

/// A fresh instance id: `<workflow>-YYYYMMDD-HHMMSS-<4 hex>` at `seconds` (UTC).
pub fn new_instance_id(workflow: &str, seconds: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(seconds);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    let suffix = hasher.finish() & 0xffff;
    let base: String = workflow
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let base = base.trim_matches('-');
    let base = if base.is_empty() { "workflow" } else { base };
    format!("{base}-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}-{suffix:04x}")
}

/// `seconds` since the epoch as RFC 3339 UTC, e.g. `2026-01-14T12:34:56Z`.
pub fn rfc3339(seconds: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(seconds);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Civil date and time in UTC (Howard Hinnant's `civil_from_days`).
fn civil(seconds: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Every ref under `prefix`, as (name without the prefix, target id), sorted by name.
pub fn list(repo: &Repo, prefix: &str) -> Result<Vec<(String, ObjectId)>, StoreError> {
    if repo.reads_refs_through_git() {
        let mut out: Vec<(String, ObjectId)> = super::git::local_refs(repo.work_dir(), prefix)
            .map_err(|e| StoreError::git(format!("listing {prefix}"), e))?
            .into_iter()
            .filter_map(|r| Some((r.name.strip_prefix(prefix)?.to_owned(), r.id)))
            .collect();
        out.sort();
        return Ok(out);
    }
    let platform = repo
        .gix()
        .references()
        .map_err(|e| StoreError::git(format!("listing {prefix}"), e))?;
    let iter = platform
        .prefixed(prefix)
        .map_err(|e| StoreError::git(format!("listing {prefix}"), e))?;
    let mut out = Vec::new();
    for r in iter {
        let r = r.map_err(|e| StoreError::git(format!("reading a ref under {prefix}"), e))?;
        let name = r.name().as_bstr().to_string();
        let Some(id) = r.try_id() else { continue };
        if let Some(short) = name.strip_prefix(prefix) {
            out.push((short.to_owned(), id.detach()));
        }
    }
    out.sort();
    Ok(out)
}

/// The id a ref points at, `None` when it does not exist.
pub fn read(repo: &Repo, name: &str) -> Result<Option<ObjectId>, StoreError> {
    if repo.reads_refs_through_git() {
        let found = super::git::local_refs(repo.work_dir(), name)
            .map_err(|e| StoreError::git(format!("reading {name}"), e))?;
        return Ok(found.into_iter().find(|r| r.name == name).map(|r| r.id));
    }
    let r = repo
        .gix()
        .try_find_reference(name)
        .map_err(|e| StoreError::git(format!("reading {name}"), e))?;
    Ok(r.and_then(|r| r.try_id().map(|id| id.detach())))
}

/// The commit `HEAD` points at (through any symbolic ref), `None` while it is unborn.
pub fn head_commit(repo: &Repo) -> Option<ObjectId> {
    if repo.reads_refs_through_git() {
        return super::git::head(repo.work_dir()).ok().and_then(|(_, c)| c);
    }
    repo.gix().head_id().ok().map(|id| id.detach())
}

/// The commit `HEAD` points at, `None` while it is unborn; a `HEAD` that cannot be read or
/// does not lead to a commit is an error.
pub fn head(repo: &Repo) -> Result<Option<ObjectId>, StoreError> {
    if repo.reads_refs_through_git() {
        return super::git::head(repo.work_dir())
            .map(|(_, c)| c)
            .map_err(|e| StoreError::git("reading HEAD", e));
    }
    let mut head = repo
        .gix()
        .head()
        .map_err(|e| StoreError::git("reading HEAD", e))?;
    if head.is_unborn() {
        return Ok(None);
    }
    let commit = head
        .peel_to_commit()
        .map_err(|e| StoreError::git("resolving HEAD to a commit", e))?;
    Ok(Some(commit.id))
}

/// The branch `HEAD` names, short (`main`), also while it is unborn; `None` when detached.
pub fn head_branch(repo: &Repo) -> Option<String> {
    if repo.reads_refs_through_git() {
        let (branch, _) = super::git::head(repo.work_dir()).ok()?;
        let branch = branch?;
        return Some(
            branch
                .strip_prefix("refs/heads/")
                .unwrap_or(&branch)
                .to_owned(),
        );
    }
    let name = repo.gix().head_name().ok()??;
    Some(name.shorten().to_string())
}

/// The ids of every instance.
pub fn instance_ids(repo: &Repo) -> Result<Vec<String>, StoreError> {
    Ok(list(repo, INSTANCES)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !id.contains('/'))
        .collect())
}

/// Resolves an exact id or a unique prefix among `ids`.
pub fn resolve_prefix(ids: &[String], prefix: &str) -> Result<String, LookupError> {
    if let Some(id) = ids.iter().find(|id| *id == prefix) {
        return Ok(id.clone());
    }
    let matches: Vec<String> = ids
        .iter()
        .filter(|id| id.starts_with(prefix))
        .cloned()
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one match")),
        0 => Err(LookupError::NotFound {
            prefix: prefix.to_owned(),
            suggestion: crate::model::diag::did_you_mean(prefix, ids.iter().map(String::as_str))
                .map(str::to_owned),
        }),
        _ => Err(LookupError::Ambiguous {
            prefix: prefix.to_owned(),
            matches,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        // 2026-01-14T12:34:56Z
        let id = new_instance_id("helix", 1_768_394_096);
        assert!(id.starts_with("helix-20260114-123456-"), "{id}");
        let suffix = id.rsplit('-').next().unwrap();
        assert_eq!(suffix.len(), 4);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        validate_name("an instance id", &id).unwrap();
        assert_eq!(
            new_instance_id("my flow!", 0).rsplit_once('-').unwrap().0,
            "my-flow-19700101-000000"
        );
    }

    #[test]
    fn rfc3339_handles_leap_years_and_the_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_768_394_096), "2026-01-14T12:34:56Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn names_that_git_or_people_would_trip_over_are_refused() {
        for bad in ["", "a/b", "a..b", ".x", "-x", "x.lock", "a b", "x."] {
            assert!(validate_name("a checkpoint name", bad).is_err(), "{bad}");
        }
        for good in ["v1", "before-design", "a.b_c"] {
            validate_name("a checkpoint name", good).unwrap();
        }
    }

    #[test]
    fn prefixes_resolve_uniquely_or_say_why_not() {
        let ids = vec![
            "helix-20260114-123456-a3f9".to_owned(),
            "helix-20260114-123456-b001".to_owned(),
            "tdd-20260101-000000-0000".to_owned(),
        ];
        assert_eq!(resolve_prefix(&ids, "tdd").unwrap(), ids[2]);
        assert_eq!(
            resolve_prefix(&ids, "helix-20260114-123456-a").unwrap(),
            ids[0]
        );
        let err = resolve_prefix(&ids, "helix").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`helix` matches 2 instances: helix-20260114-123456-a3f9, helix-20260114-123456-b001"
        );
        assert!(matches!(
            resolve_prefix(&ids, "adr"),
            Err(LookupError::NotFound { .. })
        ));
    }
}
