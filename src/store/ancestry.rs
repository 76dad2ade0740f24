//! How commits of ddx's chains relate: ancestors, merge bases, commit times, counts. The
//! questions `ddx sync` asks before it joins two histories.

use super::repo::{Repo, StoreError};
use gix::ObjectId;

/// Whether `ancestor` is `from` or reachable from it.
pub fn reaches(repo: &Repo, from: ObjectId, ancestor: ObjectId) -> Result<bool, StoreError> {
    if from == ancestor {
        return Ok(true);
    }
    let walk = repo
        .gix()
        .rev_walk([from])
        .all()
        .map_err(|e| StoreError::git(format!("walking the history of {from}"), e))?;
    for info in walk {
        let info =
            info.map_err(|e| StoreError::git(format!("walking the history of {from}"), e))?;
        if info.id == ancestor {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The merge base of `a` and `b`: of several (criss-cross histories), the smallest id, so the
/// choice does not depend on which side is named first. `None` when they share no history.
///
/// git answers (`git merge-base --all`): gix's merge base walks by commit time, and among
/// commits of one second (a sync joins within the second its events were made) it returned a
/// common ancestor older than the best one (`tests/sync.rs` found it; verify refuses such a
/// merge), which would make the three-way merge see changes both sides already share.
pub fn merge_base(repo: &Repo, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>, StoreError> {
    let bases = super::git::merge_bases(repo.work_dir(), a, b)
        .map_err(|e| StoreError::git(format!("finding the merge base of {a} and {b}"), e))?;
    Ok(bases.into_iter().min())
}

/// The committer time of `commit`, in seconds since the epoch.
pub fn commit_time(repo: &Repo, commit: ObjectId) -> Result<i64, StoreError> {
    let c = repo
        .gix()
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading commit {commit}"), e))?;
    let time = c
        .time()
        .map_err(|e| StoreError::git(format!("reading the time of commit {commit}"), e))?;
    Ok(time.seconds)
}

/// How many commits `tips` reach, the tips included.
pub fn count(repo: &Repo, tips: &[ObjectId]) -> Result<u64, StoreError> {
    let walk = repo
        .gix()
        .rev_walk(tips.iter().copied())
        .all()
        .map_err(|e| StoreError::git("counting events", e))?;
    let mut n = 0;
    for info in walk {
        info.map_err(|e| StoreError::git("counting events", e))?;
        n += 1;
    }
    Ok(n)
}
