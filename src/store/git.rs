//! The one module that runs the `git` binary, for what gix cannot do in this build: fetching
//! over http(s) (gix is built without an http transport), moving refs where gix would not write
//! what git writes (reftable ref storage, a `reference-transaction` hook, `core.sharedRepository`,
//! `core.fsync`), writing objects where gix would not honour those settings, and, later, pushing.
//!
//! Every call names the repository explicitly, never prompts on a non-terminal, reads objects
//! with replacement refs ignored (`GIT_NO_REPLACE_OBJECTS`, as the store's own reads do), and
//! turns a failure into a [`GitCommandError`] that carries git's own message.

use gix::ObjectId;
use std::path::Path;
use std::process::{Command, Stdio};

/// A `git` invocation that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GitCommandError {
    #[error("cannot run `git {args}`; is git installed and on PATH?")]
    Spawn {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("`git {args}` printed something ddx does not understand: {line}")]
    Unexpected { args: String, line: String },
}

/// Runs git in `dir` with `args`; returns its stdout.
fn run(dir: &Path, args: &[&str]) -> Result<String, GitCommandError> {
    let shown = args.join(" ");
    tracing::debug!("running git {shown}");
    let out = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| GitCommandError::Spawn {
            args: shown.clone(),
            source,
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(GitCommandError::Failed {
            args: shown,
            stderr: if stderr.is_empty() {
                format!("exit status {}", out.status)
            } else {
                stderr
            },
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A ref of the local repository, as `git for-each-ref` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRef {
    pub name: String,
    /// What the ref points at.
    pub id: ObjectId,
    /// For a ref to an annotated tag: the object the tag points at.
    pub peeled: Option<ObjectId>,
}

/// Every local ref whose full name starts with `prefix` (a whole ref name reads just that ref),
/// with `git for-each-ref`: for ref storage gix cannot read (reftable).
pub fn local_refs(dir: &Path, prefix: &str) -> Result<Vec<LocalRef>, GitCommandError> {
    // for-each-ref matches a pattern up to a slash; the exact prefix is applied here.
    let pattern = prefix.trim_end_matches('/');
    let args = [
        "for-each-ref",
        "--format=%(objectname) %(*objectname) %(refname)",
        "--",
        pattern,
    ];
    let out = run(dir, &args)?;
    let mut refs = Vec::new();
    for line in out.lines() {
        let unexpected = || GitCommandError::Unexpected {
            args: args.join(" "),
            line: line.to_owned(),
        };
        let mut parts = line.splitn(3, ' ');
        let (Some(id), Some(peeled), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(unexpected());
        };
        if !name.starts_with(prefix) {
            continue;
        }
        let parse = |hex: &str| ObjectId::from_hex(hex.as_bytes()).map_err(|_| unexpected());
        refs.push(LocalRef {
            name: name.to_owned(),
            id: parse(id)?,
            peeled: if peeled.is_empty() {
                None
            } else {
                Some(parse(peeled)?)
            },
        });
    }
    Ok(refs)
}

/// Where `HEAD` points: the branch (`None` when detached) and the commit (`None` while unborn),
/// as git reads them, whatever the ref storage.
pub fn head(dir: &Path) -> Result<(Option<String>, Option<ObjectId>), GitCommandError> {
    let branch = run(dir, &["symbolic-ref", "-q", "HEAD"])
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let commit = run(dir, &["rev-parse", "-q", "--verify", "HEAD^{commit}"])
        .ok()
        .and_then(|s| ObjectId::from_hex(s.trim().as_bytes()).ok());
    Ok((branch, commit))
}

/// The commit revision `spec` names, as `git rev-parse` resolves it; `None` when it names
/// nothing, or something that is not a commit.
pub fn rev_parse_commit(dir: &Path, spec: &str) -> Option<ObjectId> {
    let out = run(
        dir,
        &["rev-parse", "-q", "--verify", "--end-of-options", spec],
    )
    .ok()?;
    let id = ObjectId::from_hex(out.trim().as_bytes()).ok()?;
    let kind = run(dir, &["cat-file", "-t", &id.to_string()]).ok()?;
    (kind.trim() == "commit").then_some(id)
}

/// Stores the pack `bytes` (with its index) in the repository with `git index-pack --stdin`,
/// so that git's modes and fsync apply; git checks every object of it.
pub fn index_pack(dir: &Path, bytes: &[u8]) -> Result<(), GitCommandError> {
    run_with_input(dir, &["index-pack", "--stdin"], bytes).map(|_| ())
}

/// Runs git in `dir` with `args`, `input` on its stdin and replacement objects ignored; returns
/// its stdout, trimmed.
fn run_with_input(dir: &Path, args: &[&str], input: &[u8]) -> Result<String, GitCommandError> {
    use std::io::Write;
    let shown = args.join(" ");
    tracing::debug!("running git {shown}");
    let spawn_error = |source| GitCommandError::Spawn {
        args: shown.clone(),
        source,
    };
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // git may stop reading early (a bad object or pack); its message says why.
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(GitCommandError::Failed {
            args: shown,
            stderr: if stderr.is_empty() {
                format!("exit status {}", out.status)
            } else {
                stderr
            },
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A ref advertised by a remote repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    pub name: String,
    pub id: ObjectId,
    /// For `HEAD`: the branch it points to.
    pub symref_target: Option<String>,
}

/// `git ls-remote --symref <url> HEAD refs/heads/*`: the remote's branches and its HEAD.
pub fn ls_remote(dir: &Path, url: &str) -> Result<Vec<RemoteRef>, GitCommandError> {
    let args = ["ls-remote", "--symref", "--", url, "HEAD", "refs/heads/*"];
    let text = run(dir, &args)?;
    let mut refs: Vec<RemoteRef> = Vec::new();
    let mut head_target = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("ref: ") {
            // `ref: refs/heads/main<TAB>HEAD`
            if let Some((target, name)) = rest.split_once('\t') {
                if name == "HEAD" {
                    head_target = Some(target.to_owned());
                }
            }
            continue;
        }
        let unexpected = || GitCommandError::Unexpected {
            args: args.join(" "),
            line: line.to_owned(),
        };
        let (id, name) = line.split_once('\t').ok_or_else(unexpected)?;
        let id = ObjectId::from_hex(id.as_bytes()).map_err(|_| unexpected())?;
        refs.push(RemoteRef {
            name: name.to_owned(),
            id,
            symref_target: None,
        });
    }
    if let Some(h) = refs.iter_mut().find(|r| r.name == "HEAD") {
        h.symref_target = head_target;
    }
    Ok(refs)
}

/// Fetches `refspec` from `url` into the object database of the repository at `dir`, writing
/// no ref (not even FETCH_HEAD) and no tags: the caller moves its own ref afterwards.
pub fn fetch_objects(dir: &Path, url: &str, refspec: &str) -> Result<(), GitCommandError> {
    fetch_quietly(dir, url, false, &[refspec])
}

/// `git fetch` of `specs` from `from`: quiet, no tags, no FETCH_HEAD, no submodules; `prune`
/// deletes the destination refs whose source is gone.
fn fetch_quietly(
    dir: &Path,
    from: &str,
    prune: bool,
    specs: &[&str],
) -> Result<(), GitCommandError> {
    let mut args = vec![
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
    ];
    if prune {
        args.push("--prune");
    }
    args.push("--");
    args.push(from);
    args.extend_from_slice(specs);
    run(dir, &args).map(|_| ())
}

/// The remote's refs that match `patterns` (`git ls-remote`), by name.
pub fn remote_refs(
    dir: &Path,
    remote: &str,
    patterns: &[&str],
) -> Result<Vec<(String, ObjectId)>, GitCommandError> {
    let mut args = vec!["ls-remote", "--", remote];
    args.extend_from_slice(patterns);
    let text = run(dir, &args)?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let unexpected = || GitCommandError::Unexpected {
            args: args.join(" "),
            line: line.to_owned(),
        };
        let (id, name) = line.split_once('\t').ok_or_else(unexpected)?;
        let id = ObjectId::from_hex(id.as_bytes()).map_err(|_| unexpected())?;
        out.push((name.to_owned(), id));
    }
    Ok(out)
}

/// Fetches the objects of the remote's refs `names` into the object database, writing no ref
/// (not even FETCH_HEAD): what a dry run needs to compare histories without moving anything.
pub fn fetch_objects_of(dir: &Path, remote: &str, names: &[String]) -> Result<(), GitCommandError> {
    if names.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    fetch_quietly(dir, remote, false, &names)
}

/// The authors (`Name <email>`) of the commits reachable from HEAD that touch `paths`, each
/// once, with the paths each touched; an empty list when HEAD does not exist yet.
pub fn authors_of(
    dir: &Path,
    paths: &[String],
) -> Result<Vec<(String, Vec<String>)>, GitCommandError> {
    if rev_parse_commit(dir, "HEAD").is_none() {
        return Ok(Vec::new());
    }
    let mut args = vec![
        "log",
        "--no-renames",
        "--format=%x00%aN <%aE>",
        "--name-only",
        "HEAD",
        "--",
    ];
    args.extend(paths.iter().map(String::as_str));
    let text = run(dir, &args)?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for record in text.split('\0').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let Some(author) = lines.next().map(str::to_owned) else {
            continue;
        };
        let i = match out.iter().position(|(a, _)| *a == author) {
            Some(i) => i,
            None => {
                out.push((author, Vec::new()));
                out.len() - 1
            }
        };
        for file in lines.map(str::trim).filter(|l| !l.is_empty()) {
            if !out[i].1.iter().any(|f| f == file) {
                out[i].1.push(file.to_owned());
            }
        }
    }
    Ok(out)
}

/// One ref of an [`update_refs`] transaction: `old` `None` means the ref must not exist yet.
pub struct RefUpdate<'a> {
    pub name: &'a str,
    /// `None`: the ref must not exist.
    pub old: Option<ObjectId>,
    /// `None`: the ref is deleted.
    pub new: Option<ObjectId>,
}

/// Why [`update_refs`] moved nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// A ref was not where expected, or its lock was held: reading again may succeed.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Failed(#[from] GitCommandError),
}

/// Moves every ref of `updates` or none, with `git update-ref --stdin` (`start`, `update <ref>
/// <new> <old>`, `prepare`, `commit`): git's own transaction, with its hooks, ref storage,
/// modes and fsync. Reflog lines name `committer` (`name`, `email`, `seconds`).
pub fn update_refs(
    dir: &Path,
    committer: (&str, &str, i64),
    updates: &[RefUpdate<'_>],
    message: &str,
    reflog: bool,
) -> Result<(), UpdateError> {
    use std::io::Write;
    let mut script = String::from("start\n");
    for u in updates {
        match (u.new, u.old) {
            (Some(new), old) => {
                // An id of zeros, as long as the new one, means "must not exist".
                let old = old.unwrap_or_else(|| ObjectId::null(new.kind()));
                script.push_str(&format!("update {} {new} {old}\n", u.name));
            }
            (None, Some(old)) => script.push_str(&format!("delete {} {old}\n", u.name)),
            (None, None) => {}
        }
    }
    script.push_str("prepare\ncommit\n");
    let one_line: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let mut args = vec!["update-ref"];
    if reflog {
        args.push("--create-reflog");
    }
    args.extend(["-m", one_line.trim(), "--stdin"]);
    let shown = args.join(" ");
    tracing::debug!("running git {shown}");
    let (name, email, seconds) = committer;
    let spawned = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_COMMITTER_DATE", format!("@{seconds} +0000"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let spawn_error = |source| GitCommandError::Spawn {
        args: shown.clone(),
        source,
    };
    let mut child = spawned.map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // git may stop reading early (a refused update); its message says why.
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.contains("cannot lock ref") {
        return Err(UpdateError::Conflict(stderr));
    }
    Err(GitCommandError::Failed {
        args: shown,
        stderr: if stderr.is_empty() {
            format!("exit status {}", out.status)
        } else {
            stderr
        },
    }
    .into())
}

/// Writes one object of `kind` with `git hash-object -w`, so that git's `core.sharedRepository`
/// modes and `core.fsync` apply; returns its id as git printed it. git checks the object's
/// format (no `--literally`): should ddx die while writing, git reads a cut-off commit or tree
/// and refuses it rather than store a bogus object.
pub fn write_object(dir: &Path, kind: &str, data: &[u8]) -> Result<String, GitCommandError> {
    run_with_input(dir, &["hash-object", "-w", "-t", kind, "--stdin"], data)
}

/// Fetches `refspecs` (`+<src>:<dst>`, `<dst>` in a staging namespace ddx owns) from `remote`,
/// writing those refs and no tags. A ref the remote lacks is simply not fetched.
pub fn fetch_refs(dir: &Path, remote: &str, refspecs: &[String]) -> Result<(), GitCommandError> {
    let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
    fetch_quietly(dir, remote, true, &specs)
}

/// Every best common ancestor of `a` and `b` (`git merge-base --all`); empty when they share
/// no history.
pub fn merge_bases(dir: &Path, a: ObjectId, b: ObjectId) -> Result<Vec<ObjectId>, GitCommandError> {
    let (a, b) = (a.to_string(), b.to_string());
    let args = ["merge-base", "--all", a.as_str(), b.as_str()];
    let (status, stdout, stderr) = run_any(dir, &args)?;
    match status {
        Some(0) => stdout
            .lines()
            .map(|l| {
                ObjectId::from_hex(l.trim().as_bytes()).map_err(|_| GitCommandError::Unexpected {
                    args: args.join(" "),
                    line: l.to_owned(),
                })
            })
            .collect(),
        // No common ancestor: git says nothing and exits 1.
        Some(1) if stdout.trim().is_empty() && stderr.trim().is_empty() => Ok(Vec::new()),
        _ => Err(GitCommandError::Failed {
            args: args.join(" "),
            stderr: stderr.trim().to_owned(),
        }),
    }
}

/// Whether `ancestor` is reachable from `descendant` (`git merge-base --is-ancestor`).
pub fn is_ancestor(
    dir: &Path,
    ancestor: ObjectId,
    descendant: ObjectId,
) -> Result<bool, GitCommandError> {
    let (a, d) = (ancestor.to_string(), descendant.to_string());
    let args = ["merge-base", "--is-ancestor", a.as_str(), d.as_str()];
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| GitCommandError::Spawn {
            args: args.join(" "),
            source,
        })?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(GitCommandError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

/// One ref a [`push_refs`] moves on the remote: `expected` is the value it was fetched at
/// (`None`: the remote must not have it), so a remote that moved meanwhile refuses the push.
pub struct Push<'a> {
    pub name: &'a str,
    pub new: ObjectId,
    pub expected: Option<ObjectId>,
}

/// Pushes every ref of `pushes` to `remote` atomically, each with its expected old value
/// (`--force-with-lease=<ref>:<old>`: git refuses the push of a ref the remote moved since;
/// callers push only descendants of what they fetched, so no history is ever dropped).
pub fn push_refs(dir: &Path, remote: &str, pushes: &[Push<'_>]) -> Result<(), GitCommandError> {
    if pushes.is_empty() {
        return Ok(());
    }
    let mut owned: Vec<String> = vec![
        "push".into(),
        "--quiet".into(),
        "--atomic".into(),
        "--no-verify".into(),
    ];
    for p in pushes {
        let old = p.expected.map(|o| o.to_string()).unwrap_or_default();
        owned.push(format!("--force-with-lease={}:{old}", p.name));
    }
    owned.push("--".into());
    owned.push(remote.into());
    for p in pushes {
        owned.push(format!("{}:{}", p.new, p.name));
    }
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    run(dir, &args).map(|_| ())
}

/// Adds `value` to the multi-valued config `key` of the repository (`git config --add`).
pub fn config_add(dir: &Path, key: &str, value: &str) -> Result<(), GitCommandError> {
    run(dir, &["config", "--add", key, value]).map(|_| ())
}

/// Merges the notes of `other` (a notes ref) into `refs/notes/ddx` with git's own
/// `cat_sort_uniq` strategy: every note becomes the sorted unique union of its lines.
pub fn merge_notes(dir: &Path, other: &str) -> Result<(), GitCommandError> {
    run(
        dir,
        &[
            "notes",
            "--ref=refs/notes/ddx",
            "merge",
            "--quiet",
            "-s",
            "cat_sort_uniq",
            other,
        ],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::testing::git;

    #[test]
    fn lists_and_fetches_without_writing_refs() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("up");
        std::fs::create_dir(&up).unwrap();
        git(&up, &["init", "-q", "-b", "trunk"]);
        std::fs::write(up.join("f"), "x").unwrap();
        git(&up, &["add", "f"]);
        git(&up, &["commit", "-q", "-m", "one"]);
        let tip = git(&up, &["rev-parse", "HEAD"]).trim().to_owned();
        let here = tmp.path().join("here");
        std::fs::create_dir(&here).unwrap();
        git(&here, &["init", "-q"]);

        let refs = ls_remote(&here, up.to_str().unwrap()).unwrap();
        let head = refs.iter().find(|r| r.name == "HEAD").unwrap();
        assert_eq!(head.symref_target.as_deref(), Some("refs/heads/trunk"));
        assert_eq!(head.id.to_string(), tip);
        assert!(refs.iter().any(|r| r.name == "refs/heads/trunk"));

        let before = git(&here, &["for-each-ref"]);
        fetch_objects(&here, up.to_str().unwrap(), "refs/heads/trunk").unwrap();
        assert_eq!(git(&here, &["cat-file", "-t", &tip]).trim(), "commit");
        assert_eq!(git(&here, &["for-each-ref"]), before, "no ref was written");
        assert!(!here.join(".git/FETCH_HEAD").exists());

        let err = ls_remote(&here, tmp.path().join("nowhere").to_str().unwrap()).unwrap_err();
        assert!(matches!(err, GitCommandError::Failed { .. }), "{err:?}");
    }
}

/// One commit of the project's history, as [`history`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommit {
    pub id: String,
    pub author: String,
    pub time: i64,
    pub subject: String,
    /// The paths the commit changed against its first parent.
    pub paths: Vec<String>,
}

/// The commits reachable from HEAD, newest first, with the paths each changed; empty when
/// HEAD does not exist yet. Merges are left out: their changes are their parents'.
pub fn history(dir: &Path) -> Result<Vec<HistoryCommit>, GitCommandError> {
    if rev_parse_commit(dir, "HEAD").is_none() {
        return Ok(Vec::new());
    }
    let text = run(
        dir,
        &[
            "log",
            "--no-merges",
            "--no-renames",
            "--format=%x00%H%x1f%aE%x1f%at%x1f%s",
            "--name-only",
            "HEAD",
        ],
    )?;
    let mut out = Vec::new();
    for record in text.split('\0').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let head = lines.next().unwrap_or_default();
        let mut fields = head.splitn(4, '\x1f');
        let (Some(id), Some(author), Some(time), Some(subject)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(GitCommandError::Unexpected {
                args: "log --name-only HEAD".to_owned(),
                line: head.to_owned(),
            });
        };
        out.push(HistoryCommit {
            id: id.to_owned(),
            author: author.to_owned(),
            time: time.parse().unwrap_or(0),
            subject: subject.to_owned(),
            paths: lines
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        });
    }
    Ok(out)
}

/// The work tree's files that git does not track and does not ignore (`git ls-files --others
/// --exclude-standard`): new files not committed yet.
pub fn untracked_files(dir: &Path) -> Result<Vec<String>, GitCommandError> {
    let text = run(dir, &["ls-files", "-z", "--others", "--exclude-standard"])?;
    Ok(text
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The paths of HEAD's tree (files only, recursively); empty when HEAD does not exist yet.
pub fn head_files(dir: &Path) -> Result<Vec<String>, GitCommandError> {
    if rev_parse_commit(dir, "HEAD").is_none() {
        return Ok(Vec::new());
    }
    let text = run(dir, &["ls-tree", "-r", "-z", "--name-only", "HEAD"])?;
    Ok(text
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs git in `dir` with `args`, whatever its exit status: the status, stdout and stderr.
fn run_any(dir: &Path, args: &[&str]) -> Result<(Option<i32>, String, String), GitCommandError> {
    let shown = args.join(" ");
    tracing::debug!("running git {shown}");
    let out = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_MERGE_AUTOEDIT", "no")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| GitCommandError::Spawn {
            args: shown,
            source,
        })?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

/// The entries of `git status --porcelain` under `paths` (untracked files included, ignored
/// ones not), as `XY path` lines.
pub fn status_of(dir: &Path, paths: &[&str]) -> Result<Vec<String>, GitCommandError> {
    let mut args = vec![
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
    ];
    args.extend_from_slice(paths);
    let text = run(dir, &args)?;
    Ok(text
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The paths staged in the index that differ from HEAD (`git diff --cached --name-only`).
pub fn staged_paths(dir: &Path) -> Result<Vec<String>, GitCommandError> {
    let text = run(
        dir,
        &["diff", "--cached", "--name-only", "-z", "--no-renames"],
    )?;
    Ok(text
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The paths with unmerged entries (index stages 1–3) in the index.
pub fn unmerged_paths(dir: &Path) -> Result<Vec<String>, GitCommandError> {
    let text = run(dir, &["diff", "--name-only", "-z", "--diff-filter=U"])?;
    let mut paths: Vec<String> = text
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    paths.dedup();
    Ok(paths)
}

/// Whether a merge is in progress (`MERGE_HEAD` exists).
pub fn merge_in_progress(dir: &Path) -> bool {
    rev_parse_commit(dir, "MERGE_HEAD").is_some()
}

/// The newest commit reachable from HEAD whose message carries `git-subtree-dir: <prefix>`,
/// and the upstream commit its `git-subtree-split:` trailer names, as `git subtree` finds them.
pub fn last_subtree_split(
    dir: &Path,
    prefix: &str,
) -> Result<Option<(ObjectId, ObjectId)>, GitCommandError> {
    if rev_parse_commit(dir, "HEAD").is_none() {
        return Ok(None);
    }
    let grep = format!("--grep=^git-subtree-dir: {}/*$", regex::escape(prefix));
    let text = run(
        dir,
        &["log", "-E", &grep, "--format=%x00%H%n%B", "HEAD", "--"],
    )?;
    for record in text.split('\0').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let Some(Ok(commit)) = lines
            .next()
            .map(|h| ObjectId::from_hex(h.trim().as_bytes()))
        else {
            continue;
        };
        let split = lines.find_map(|l| {
            let v = l.trim().strip_prefix("git-subtree-split:")?;
            ObjectId::from_hex(v.trim().as_bytes()).ok()
        });
        if let Some(split) = split {
            return Ok(Some((commit, split)));
        }
    }
    Ok(None)
}

/// What [`subtree_merge`] left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The merge commit, now HEAD.
    Merged(ObjectId),
    /// A merge in progress with these unmerged paths, for the user to finish.
    Conflict(Vec<String>),
}

/// `git merge --no-ff -Xsubtree=<prefix>` of `commit` with `message`: git's own merge, so a
/// conflict is a normal merge conflict (markers, index stages, `MERGE_HEAD`). Histories
/// without a common commit (a library committed by hand, an upstream that changed) merge over
/// an empty base, so files both sides have differently conflict rather than being refused.
pub fn subtree_merge(
    dir: &Path,
    prefix: &str,
    commit: ObjectId,
    message: &str,
) -> Result<MergeOutcome, GitCommandError> {
    let subtree = format!("-Xsubtree={prefix}");
    let msg = format!("--message={message}");
    let id = commit.to_string();
    let args = [
        "merge",
        "--no-ff",
        "--no-edit",
        "--no-log",
        "--no-stat",
        "--allow-unrelated-histories",
        subtree.as_str(),
        msg.as_str(),
        id.as_str(),
    ];
    let (code, stdout, stderr) = run_any(dir, &args)?;
    if code == Some(0) {
        let head = rev_parse_commit(dir, "HEAD").ok_or_else(|| GitCommandError::Unexpected {
            args: "rev-parse HEAD".to_owned(),
            line: "HEAD names no commit after the merge".to_owned(),
        })?;
        return Ok(MergeOutcome::Merged(head));
    }
    if merge_in_progress(dir) {
        let paths = unmerged_paths(dir)?;
        if !paths.is_empty() {
            return Ok(MergeOutcome::Conflict(paths));
        }
    }
    let said = if stderr.is_empty() {
        stdout.trim()
    } else {
        &stderr
    };
    Err(GitCommandError::Failed {
        args: "merge -Xsubtree".to_owned() + " " + &id,
        stderr: said.to_owned(),
    })
}

/// Adds `commit`'s tree under `prefix/` as `git subtree add` does: reads it into the index and
/// the work tree, and commits with parents HEAD and `commit`; HEAD moves from `head` with
/// compare-and-swap. The index must match HEAD and nothing may exist at `prefix/`.
pub fn subtree_add(
    dir: &Path,
    prefix: &str,
    commit: ObjectId,
    head: ObjectId,
    message: &str,
) -> Result<ObjectId, GitCommandError> {
    let at = format!("--prefix={prefix}/");
    let id = commit.to_string();
    run(dir, &["read-tree", &at, "-u", &id])?;
    let result = (|| {
        let tree = run(dir, &["write-tree"])?;
        let tree = tree.trim();
        let parent = head.to_string();
        let new = run_with_input(
            dir,
            &["commit-tree", tree, "-p", &parent, "-p", &id, "-F", "-"],
            message.as_bytes(),
        )?;
        let subject = message.lines().next().unwrap_or_default();
        let reflog = format!("-m{subject}");
        run(dir, &["update-ref", &reflog, "HEAD", new.trim(), &parent])?;
        ObjectId::from_hex(new.trim().as_bytes()).map_err(|_| GitCommandError::Unexpected {
            args: "commit-tree".to_owned(),
            line: new.clone(),
        })
    })();
    if result.is_err() {
        // Back to HEAD: only files this function just wrote are removed.
        if let Err(e) = run(dir, &["read-tree", "-m", "-u", "HEAD"]) {
            tracing::error!("could not put the index back to HEAD: {e}");
        }
    }
    result
}

/// One commit that touched a path, for credits: author (`Name <email>`), subject, id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credit {
    pub author: String,
    pub subject: String,
    pub commit: String,
}

/// The commits reachable from HEAD (and not from `exclude`, when given) that touch `paths`,
/// merges left out, oldest first.
pub fn credits(
    dir: &Path,
    paths: &[&str],
    exclude: Option<ObjectId>,
) -> Result<Vec<Credit>, GitCommandError> {
    if rev_parse_commit(dir, "HEAD").is_none() {
        return Ok(Vec::new());
    }
    let not = exclude.map(|e| format!("^{e}"));
    let mut args = vec![
        "log",
        "--no-merges",
        "--reverse",
        "--format=%H%x1f%aN <%aE>%x1f%s",
        "HEAD",
    ];
    if let Some(n) = &not {
        args.push(n);
    }
    args.push("--");
    args.extend_from_slice(paths);
    let text = run(dir, &args)?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\x1f');
            Some(Credit {
                commit: f.next()?.to_owned(),
                author: f.next()?.to_owned(),
                subject: f.next()?.to_owned(),
            })
        })
        .collect())
}

/// Leaves `path` unmerged in the index with `stages` (stage number and blob id: 1 base,
/// 2 ours, 3 theirs), replacing whatever the index held for it, with `git update-index
/// --index-info`: the index is git's file, with extensions gix does not rewrite.
pub fn stage_unmerged(
    dir: &Path,
    path: &str,
    stages: &[(u8, ObjectId)],
) -> Result<(), GitCommandError> {
    let Some((_, first)) = stages.first() else {
        return Ok(());
    };
    // A mode of 0 removes every stage of the path first, as git's documentation asks.
    let mut input = format!("0 {}\t{path}\0", ObjectId::null(first.kind()));
    for (stage, id) in stages {
        input.push_str(&format!("100644 {id} {stage}\t{path}\0"));
    }
    run_with_input(
        dir,
        &["update-index", "-z", "--index-info"],
        input.as_bytes(),
    )
    .map(|_| ())
}
