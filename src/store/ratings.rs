//! Ratings of workflows (`ddx rate`), kept as a commit chain on `refs/ddx/ratings`.
//!
//! Each commit's tree holds one blob per workflow, version and rater, at
//! `<workflow>/<version>/<rater-key>.yml`, where the rater key is the SHA-1 hex digest of the
//! rater's email (lowercased): rating again replaces that blob. A commit's parent is the
//! previous tip; the ref moves by compare-and-swap ([`super::refedit`]), and a lost race is
//! retried from a fresh read. Two clones' chains are joined by [`join_ratings`], whose tree is
//! the union of both, so sharing ratings never loses one.

use super::event::{write_commit, Identity, Message, Sink};
use super::heads::RefMove;
use super::refedit::{self, EditError};
use super::refs;
use super::repo::{Repo, StoreError};
use gix::objs::tree::{Entry, EntryKind};
use gix::ObjectId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ref that holds the ratings chain.
pub const RATINGS: &str = "refs/ddx/ratings";

/// How many times a lost race is retried.
const ATTEMPTS: u32 = 20;

/// One person's rating of one version of a workflow: the blob at its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    pub workflow: String,
    pub version: String,
    /// `Name <email>`, as in git.
    pub by: String,
    /// From 1 to 5.
    pub score: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// RFC 3339 UTC.
    pub at: String,
}

/// Why ratings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RatingError {
    #[error("a rating is a whole number from 1 to 5, not {score}")]
    OutOfRange { score: i64 },
    #[error("`{value}` cannot be part of a rating's path ({what}): it must not be empty, contain `/` or start with `.`")]
    BadName { what: &'static str, value: String },
    #[error("{path} in {reference} (commit {commit}) is not a rating: {why}")]
    Invalid {
        reference: String,
        commit: String,
        path: String,
        why: String,
    },
    #[error(
        "{RATINGS} kept moving while ddx wrote a rating ({attempts} attempts); nothing was written"
    )]
    Contended { attempts: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`rate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rated {
    /// The ratings commit written (or, in a dry run, the one that would be), and the ref's
    /// previous tip.
    Written {
        commit: ObjectId,
        previous: Option<ObjectId>,
        path: String,
        replaced: bool,
        dry_run: bool,
    },
    /// The same rating is recorded already.
    Unchanged { path: String },
}

/// The key of a rater in paths: the SHA-1 hex digest of the email, lowercased.
pub fn rater_key(email: &str) -> String {
    let email = email.trim().to_lowercase();
    super::objects::digest([email.as_bytes()]).unwrap_or_else(|| {
        // Only a detected SHA-1 collision gets here; the email's bytes still name one rater.
        email.bytes().map(|b| format!("{b:02x}")).collect()
    })
}

/// The path of a rating in the ratings tree.
pub fn rating_path(workflow: &str, version: &str, email: &str) -> Result<String, RatingError> {
    for (what, value) in [("workflow", workflow), ("version", version)] {
        if value.is_empty() || value.contains('/') || value.starts_with('.') {
            return Err(RatingError::BadName {
                what,
                value: value.to_owned(),
            });
        }
    }
    Ok(format!("{workflow}/{version}/{}.yml", rater_key(email)))
}

/// The tip of `refs/ddx/ratings`, `None` before the first rating.
pub fn tip(repo: &Repo) -> Result<Option<ObjectId>, StoreError> {
    refs::read(repo, RATINGS)
}

/// Every rating at the tip of `refs/ddx/ratings` (none when it does not exist).
pub fn ratings(repo: &Repo) -> Result<Vec<Rating>, RatingError> {
    match tip(repo)? {
        Some(t) => read_ratings(repo, t),
        None => Ok(Vec::new()),
    }
}

/// Every rating in the tree of the ratings commit `tip`, in path order.
pub fn read_ratings(repo: &Repo, tip: ObjectId) -> Result<Vec<Rating>, RatingError> {
    let files = files_of(repo.gix(), tip)?;
    let mut out = Vec::with_capacity(files.len());
    for (path, blob) in files {
        out.push(parse_blob(repo.gix(), tip, &path, blob)?);
    }
    Ok(out)
}

fn parse_blob(
    repo: &gix::Repository,
    commit: ObjectId,
    path: &str,
    blob: ObjectId,
) -> Result<Rating, RatingError> {
    let invalid = |why: String| RatingError::Invalid {
        reference: RATINGS.to_owned(),
        commit: commit.to_string(),
        path: path.to_owned(),
        why,
    };
    let data = repo
        .find_blob(blob)
        .map_err(|e| invalid(format!("its blob {blob} cannot be read: {e}")))?;
    let rating: Rating = serde_yaml::from_slice(&data.data).map_err(|e| invalid(e.to_string()))?;
    if !(1..=5).contains(&rating.score) {
        return Err(invalid(format!(
            "its score {} is not from 1 to 5",
            rating.score
        )));
    }
    Ok(rating)
}

/// Every blob of the tree of commit `commit`, by path.
fn files_of(
    repo: &gix::Repository,
    commit: ObjectId,
) -> Result<BTreeMap<String, ObjectId>, StoreError> {
    let tree = repo
        .find_commit(commit)
        .map_err(|e| StoreError::git(format!("reading ratings commit {commit}"), e))?
        .tree()
        .map_err(|e| StoreError::git(format!("reading the tree of ratings commit {commit}"), e))?;
    let files =
        tree.traverse().breadthfirst.files().map_err(|e| {
            StoreError::git(format!("listing the tree of ratings commit {commit}"), e)
        })?;
    Ok(files
        .into_iter()
        .filter(|f| f.mode.is_blob())
        .map(|f| (f.filepath.to_string(), f.oid))
        .collect())
}

/// Writes the tree holding `files` (paths with `/`) and returns its id.
fn write_tree(sink: Sink<'_>, files: &BTreeMap<String, ObjectId>) -> Result<ObjectId, StoreError> {
    #[derive(Default)]
    struct Dir<'a> {
        files: BTreeMap<&'a str, ObjectId>,
        dirs: BTreeMap<&'a str, Dir<'a>>,
    }
    fn put(sink: Sink<'_>, dir: &Dir<'_>) -> Result<ObjectId, StoreError> {
        let mut entries = Vec::with_capacity(dir.files.len() + dir.dirs.len());
        for (name, id) in &dir.files {
            entries.push(Entry {
                mode: EntryKind::Blob.into(),
                filename: (*name).into(),
                oid: *id,
            });
        }
        for (name, sub) in &dir.dirs {
            entries.push(Entry {
                mode: EntryKind::Tree.into(),
                filename: (*name).into(),
                oid: put(sink, sub)?,
            });
        }
        entries.sort();
        sink.put(&gix::objs::Tree { entries })
    }
    let mut root = Dir::default();
    for (path, id) in files {
        let mut dir = &mut root;
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        for p in parts {
            dir = dir.dirs.entry(p).or_default();
        }
        dir.files.insert(name, *id);
    }
    put(sink, &root)
}

/// Records `rating` by `identity` (the rater is the identity, whatever `rating.by` says):
/// one commit on `refs/ddx/ratings`, replacing the rater's earlier rating of the same version.
/// A dry run computes the commit and writes nothing.
pub fn rate(
    repo: &Repo,
    identity: &Identity,
    workflow: &str,
    version: &str,
    score: i64,
    comment: Option<&str>,
    dry_run: bool,
) -> Result<Rated, RatingError> {
    let score = match u8::try_from(score) {
        Ok(s) if (1..=5).contains(&s) => s,
        _ => return Err(RatingError::OutOfRange { score }),
    };
    let path = rating_path(workflow, version, &identity.email)?;
    let rating = Rating {
        workflow: workflow.to_owned(),
        version: version.to_owned(),
        by: identity.actor(),
        score,
        comment: comment
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        at: identity.time(),
    };
    let yaml = serde_yaml::to_string(&rating)
        .map_err(|e| StoreError::git("encoding a rating", e))?
        .into_bytes();
    let sink = if dry_run {
        Sink::HashOnly(repo)
    } else {
        Sink::Write(repo)
    };
    for _ in 0..ATTEMPTS {
        let previous = tip(repo)?;
        let mut files = match previous {
            Some(t) => files_of(repo.gix(), t)?,
            None => BTreeMap::new(),
        };
        let blob = sink.blob(&yaml)?;
        let old = files.insert(path.clone(), blob);
        if let (Some(old), Some(t)) = (old, previous) {
            let same = parse_blob(repo.gix(), t, &path, old)
                .is_ok_and(|r| r.score == rating.score && r.comment == rating.comment);
            if same {
                return Ok(Rated::Unchanged { path });
            }
        }
        let tree = write_tree(sink, &files)?;
        let mut message = Message::new(format!("ddx(ratings): {workflow} {version}: {score}/5"));
        message
            .trailer("Ddx-Workflow", workflow)
            .trailer("Ddx-Version", version)
            .trailer("Ddx-Score", score.to_string())
            .trailer("Ddx-Actor", identity.actor());
        let parents: Vec<ObjectId> = previous.into_iter().collect();
        let commit = write_commit(sink, identity, &message, tree, &parents)?;
        let written = Rated::Written {
            commit,
            previous,
            path: path.clone(),
            replaced: old.is_some(),
            dry_run,
        };
        if dry_run {
            return Ok(written);
        }
        let mv = RefMove {
            name: RATINGS.to_owned(),
            old: previous,
            new: commit,
        };
        match refedit::edit(repo, identity, &[mv], &message.subject) {
            Ok(()) => return Ok(written),
            Err(EditError::Conflict(why)) => {
                tracing::debug!("{RATINGS} moved while rating, reading it again: {why}");
            }
            Err(EditError::Failed(e)) => return Err(e.into()),
        }
    }
    Err(RatingError::Contended { attempts: ATTEMPTS })
}

/// Joins two ratings chains: writes a merge commit with parents `ours` and `theirs` whose tree
/// is the union of both trees by path. Where both hold the same path with different blobs, the
/// rating with the later `at` wins (on a tie, the greater blob id), so both orders give the
/// same tree. No base is needed: a rating is never deleted, only replaced. No ref moves: the
/// caller (`ddx sync`) moves it.
pub fn join_ratings(
    store: &Repo,
    identity: &Identity,
    ours: ObjectId,
    theirs: ObjectId,
) -> Result<ObjectId, RatingError> {
    let repo = store.gix();
    let mut files = files_of(repo, ours)?;
    for (path, blob) in files_of(repo, theirs)? {
        match files.get(&path).copied() {
            None => {
                files.insert(path, blob);
            }
            Some(mine) if mine == blob => {}
            Some(mine) => {
                let a = parse_blob(repo, ours, &path, mine)?;
                let b = parse_blob(repo, theirs, &path, blob)?;
                let at = |r: &Rating| crate::observe::time::parse_timestamp(&r.at).unwrap_or(0);
                let theirs_wins = (at(&b), blob) > (at(&a), mine);
                if theirs_wins {
                    files.insert(path, blob);
                }
            }
        }
    }
    let sink = Sink::Write(store);
    let tree = write_tree(sink, &files)?;
    let mut message = Message::new("ddx(ratings): join two histories of the ratings");
    message
        .trailer("Ddx-Event", "join")
        .trailer("Ddx-Actor", identity.actor());
    Ok(write_commit(
        sink,
        identity,
        &message,
        tree,
        &[ours, theirs],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::git;

    fn identity(email: &str, seconds: i64) -> Identity {
        Identity {
            name: "Rater".into(),
            email: email.into(),
            seconds,
            offset: 0,
        }
    }

    fn repo() -> (tempfile::TempDir, Repo) {
        let tmp = tempfile::tempdir().expect("tempdir");
        git(tmp.path(), &["init", "-q"]);
        let repo = Repo::discover(tmp.path()).expect("repo");
        (tmp, repo)
    }

    fn written(r: Rated) -> ObjectId {
        match r {
            Rated::Written { commit, .. } => commit,
            other => panic!("nothing written: {other:?}"),
        }
    }

    fn tree_of(dir: &std::path::Path, commit: ObjectId) -> String {
        git(dir, &["rev-parse", &format!("{commit}^{{tree}}")])
            .trim()
            .to_owned()
    }

    #[test]
    fn rating_again_replaces_the_raters_blob_and_out_of_range_is_refused() {
        let (tmp, repo) = repo();
        let me = identity("A@example.com", 1_700_000_000);
        written(rate(&repo, &me, "tdd", "1.0.0", 3, None, false).expect("rate"));
        let second =
            written(rate(&repo, &me, "tdd", "1.0.0", 5, Some("good"), false).expect("again"));
        assert_eq!(
            rate(&repo, &me, "tdd", "1.0.0", 5, Some("good"), false).expect("same"),
            Rated::Unchanged {
                path: rating_path("tdd", "1.0.0", "a@example.com").expect("path")
            }
        );
        let all = ratings(&repo).expect("read");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].score, 5);
        assert_eq!(all[0].comment.as_deref(), Some("good"));
        let files = git(tmp.path(), &["ls-tree", "-r", "--name-only", RATINGS]);
        assert_eq!(
            files.trim(),
            format!("tdd/1.0.0/{}.yml", rater_key("a@example.com"))
        );
        let log = git(tmp.path(), &["rev-list", "--count", RATINGS]);
        assert_eq!(log.trim(), "2");
        assert_eq!(
            git(tmp.path(), &["rev-parse", RATINGS]).trim(),
            second.to_string()
        );
        for bad in [0, 6, -1] {
            let err = rate(&repo, &me, "tdd", "1.0.0", bad, None, false).expect_err("refused");
            assert!(matches!(err, RatingError::OutOfRange { .. }), "{err}");
        }
        git(tmp.path(), &["fsck", "--strict"]);
    }

    #[test]
    fn a_dry_run_writes_nothing() {
        let (tmp, repo) = repo();
        let me = identity("a@example.com", 1_700_000_000);
        let before = git(tmp.path(), &["count-objects", "-v"]);
        let r = rate(&repo, &me, "adr", "1", 4, None, true).expect("dry run");
        assert!(matches!(r, Rated::Written { dry_run: true, .. }));
        assert_eq!(git(tmp.path(), &["count-objects", "-v"]), before);
        assert!(git(tmp.path(), &["for-each-ref", RATINGS]).is_empty());
    }

    #[test]
    fn joining_in_either_order_gives_the_same_tree_and_loses_nothing() {
        let (tmp, repo) = repo();
        let a = identity("a@example.com", 1_700_000_000);
        let b = identity("b@example.com", 1_700_000_100);
        let base = written(rate(&repo, &a, "tdd", "1", 2, None, false).expect("base"));
        // Ours: a re-rates tdd later; b rates adr. Theirs (from base): a re-rates tdd earlier,
        // b rates helix.
        let a_late = identity("a@example.com", 1_700_000_500);
        written(rate(&repo, &a_late, "tdd", "1", 5, None, false).expect("ours 1"));
        let ours = written(rate(&repo, &b, "adr", "2", 4, None, false).expect("ours 2"));
        git(tmp.path(), &["update-ref", RATINGS, &base.to_string()]);
        let a_early = identity("a@example.com", 1_700_000_200);
        written(rate(&repo, &a_early, "tdd", "1", 1, None, false).expect("theirs 1"));
        let theirs = written(rate(&repo, &b, "helix", "3", 3, None, false).expect("theirs 2"));

        let one = join_ratings(&repo, &a, ours, theirs).expect("join");
        let two = join_ratings(&repo, &a, theirs, ours).expect("join back");
        assert_eq!(tree_of(tmp.path(), one), tree_of(tmp.path(), two));
        let parents = git(
            tmp.path(),
            &["rev-list", "--parents", "-n1", &one.to_string()],
        );
        assert_eq!(parents.trim(), format!("{one} {ours} {theirs}"));
        assert_eq!(
            git(
                tmp.path(),
                &["for-each-ref", "--format=%(objectname)", RATINGS]
            )
            .trim(),
            theirs.to_string(),
            "join moves no ref"
        );
        let all = read_ratings(&repo, one).expect("read");
        let got: Vec<(&str, &str, u8)> = all
            .iter()
            .map(|r| (r.workflow.as_str(), r.by.as_str(), r.score))
            .collect();
        let mut want = vec![
            ("adr", "Rater <b@example.com>", 4),
            ("helix", "Rater <b@example.com>", 3),
            ("tdd", "Rater <a@example.com>", 5),
        ];
        let mut got = got;
        got.sort();
        want.sort();
        assert_eq!(got, want);
        git(tmp.path(), &["fsck", "--strict"]);
    }

    #[test]
    fn a_tie_in_time_is_broken_by_the_greater_blob_in_either_order() {
        let (tmp, repo) = repo();
        let a = identity("a@example.com", 1_700_000_000);
        let ours = written(rate(&repo, &a, "tdd", "1", 2, None, false).expect("ours"));
        git(tmp.path(), &["update-ref", "-d", RATINGS]);
        let theirs = written(rate(&repo, &a, "tdd", "1", 4, None, false).expect("theirs"));
        let one = join_ratings(&repo, &a, ours, theirs).expect("join");
        let two = join_ratings(&repo, &a, theirs, ours).expect("join back");
        assert_eq!(tree_of(tmp.path(), one), tree_of(tmp.path(), two));
        let blob = |c: ObjectId| {
            git(
                tmp.path(),
                &[
                    "rev-parse",
                    &format!("{c}:tdd/1/{}.yml", rater_key("a@example.com")),
                ],
            )
            .trim()
            .to_owned()
        };
        let winner = blob(ours).max(blob(theirs));
        assert_eq!(blob(one), winner);
    }
}
