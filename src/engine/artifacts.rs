//! Artifacts: templates rendered into the work tree, safely.
//!
//! [`plan`] decides, per file, what rendering a phase's artifacts would do — create, leave
//! unchanged, overwrite (only with `--force`), or refuse because the user edited what ddx wrote —
//! without touching anything; [`write`] carries a plan out. Files are written only inside the
//! work tree, never through a symbolic link, atomically (temporary file, then rename), and each
//! is recorded with its blob id before and after (the change tracker).

use crate::model::{template, Artifact, FileTree, OutputLocation, Phase, Workflow};
use crate::store::{objects, HashKind};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why an artifact could not be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read the template {path}")]
    Template {
        path: String,
        #[source]
        source: crate::model::TreeError,
    },
    #[error("the template {path} does not render: {message}")]
    Render { path: String, message: String },
    #[error("{path} is not a safe place to write: {why}")]
    Unsafe { path: String, why: String },
    #[error("cannot write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What rendering does to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// The file does not exist: it is created.
    Create,
    /// The file already has exactly this content.
    Unchanged,
    /// The file exists with other content and `--force` was given: it is replaced.
    Overwrite,
    /// The file exists with other content: left alone unless `--force`.
    WouldOverwrite,
    /// ddx wrote this file and the user changed it since: reported, never touched.
    UserEdited,
}

impl FileAction {
    pub fn writes(self) -> bool {
        matches!(self, FileAction::Create | FileAction::Overwrite)
    }

    pub fn label(self) -> &'static str {
        match self {
            FileAction::Create => "new",
            FileAction::Unchanged => "unchanged",
            FileAction::Overwrite => "overwrite",
            FileAction::WouldOverwrite => "would overwrite (use --force)",
            FileAction::UserEdited => "user-edited (refused)",
        }
    }
}

/// One file of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    pub artifact: String,
    pub path: String,
    pub action: FileAction,
    /// Blob id of the file as it is now (none when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Blob id of the rendered content.
    pub after: String,
    #[serde(skip)]
    pub current: Option<Vec<u8>>,
    #[serde(skip)]
    pub content: Vec<u8>,
}

impl PlannedFile {
    /// A unified diff from the current content to the rendered one.
    pub fn diff(&self) -> String {
        let old = self
            .current
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let new = String::from_utf8_lossy(&self.content);
        similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
            .unified_diff()
            .header(
                if self.current.is_some() {
                    &self.path
                } else {
                    "/dev/null"
                },
                &self.path,
            )
            .to_string()
    }
}

/// The git blob id of `data` (what `git hash-object` prints).
pub fn blob_id(hash: HashKind, data: &[u8]) -> String {
    objects::blob_id(hash, data)
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// Where an artifact is written, relative to the repository root.
///
/// A file location is used as is. A folder location (`docs/adr/`) holds one file per item:
/// ddx writes the rendered template as `<folder>/<artifact-id>.md` for people to copy. A pattern
/// (`TD-{id}-{name}.md`) has its `{placeholders}` filled from the variables; when one is not
/// set, the file goes into the pattern's folder as `<artifact-id>.md`. Without a location the
/// default is `docs/<workflow>/<phase folder or id>/<artifact-id>.md`.
pub fn output_path(w: &Workflow, phase: &Phase, a: &Artifact, vars: &serde_json::Value) -> String {
    let ext = a
        .template
        .as_deref()
        .and_then(|t| t.rsplit('/').next())
        .and_then(|name| name.strip_prefix("template"))
        .filter(|e| !e.is_empty())
        .unwrap_or(".md");
    match &a.output {
        Some(OutputLocation::File(p)) => p.clone(),
        Some(OutputLocation::Folder(p)) => format!("{}/{}{ext}", p.trim_end_matches('/'), a.id),
        Some(OutputLocation::Pattern(p)) => fill_pattern(p, vars).unwrap_or_else(|| {
            let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
            if dir.is_empty() {
                format!("{}{ext}", a.id)
            } else {
                format!("{dir}/{}{ext}", a.id)
            }
        }),
        None => format!(
            "docs/{}/{}/{}{ext}",
            w.name,
            phase.folder.as_deref().unwrap_or(&phase.id),
            a.id
        ),
    }
}

/// Replaces every `{name}` of a pattern by the variable's value; `None` if one is not set.
fn fill_pattern(pattern: &str, vars: &serde_json::Value) -> Option<String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        let name = &rest[open + 1..close];
        let value = match vars.get(name)? {
            serde_json::Value::String(s) if !s.is_empty() => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return None,
        };
        if value.contains(['/', '\\']) || value == ".." {
            return None;
        }
        out.push_str(&rest[..open]);
        out.push_str(&value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Checks that `rel` names a place an artifact may write: inside `root`, not inside `.ddx/`,
/// `.git/` or the hooks folder (`hooks`, relative to the work tree, when it is inside it), and
/// not through a symbolic link as the tree is now. The write itself opens each folder without
/// following links ([`write`]), so a link that appears after this check is refused too.
pub fn safe_target(root: &Path, rel: &str) -> Result<PathBuf, ArtifactError> {
    safe_target_in(root, rel, None)
}

fn safe_target_in(root: &Path, rel: &str, hooks: Option<&str>) -> Result<PathBuf, ArtifactError> {
    let unsafe_path = |why: &str| ArtifactError::Unsafe {
        path: rel.to_owned(),
        why: why.to_owned(),
    };
    crate::model::load::safe_relative_path(rel).map_err(unsafe_path)?;
    if let Some(why) = reserved(rel, hooks) {
        return Err(unsafe_path(why));
    }
    let mut at = root.to_path_buf();
    for part in parts(rel) {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_path("it goes through a symbolic link"))
            }
            _ => {}
        }
    }
    Ok(at)
}

/// The components of a relative path, without empty ones and `.`.
fn parts(rel: &str) -> impl Iterator<Item = &str> {
    rel.split('/').filter(|p| !p.is_empty() && *p != ".")
}

/// Why `rel` is a folder ddx keeps its trust in, if it is one. Compared without case, as a
/// case-insensitive file system would resolve it.
fn reserved(rel: &str, hooks: Option<&str>) -> Option<&'static str> {
    let mut it = parts(rel);
    let first = it.next()?;
    if first.eq_ignore_ascii_case(".ddx") {
        return Some("it is inside .ddx/, where ddx keeps its configuration");
    }
    if parts(rel).any(|p| p.eq_ignore_ascii_case(".git")) {
        return Some("points into .git");
    }
    if let Some(h) = hooks {
        let mut ours = parts(rel);
        let inside = parts(h).all(|hp| ours.next().is_some_and(|p| p.eq_ignore_ascii_case(hp)));
        if inside && parts(h).next().is_some() {
            return Some("it is inside the git hooks folder");
        }
    }
    None
}

/// Reads the regular file at `rel` beneath `root`, following no link; `None` when it is absent.
#[cfg(unix)]
pub(crate) fn read_beneath(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
    use rustix::fs::{fstat, openat, FileType, Mode, OFlags};
    let (dir, name) = match beneath::open_parent(root, rel, false)? {
        Some(found) => found,
        None => return Ok(None),
    };
    let fd = match openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => return Err(beneath::not_regular(rel)),
        Err(e) => return Err(beneath::io(rel, e)),
    };
    let st = fstat(&fd).map_err(|e| beneath::io(rel, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(beneath::not_regular(rel));
    }
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut data).map_err(|source| {
        ArtifactError::Io {
            path: rel.to_owned(),
            source,
        }
    })?;
    Ok(Some(data))
}

#[cfg(not(unix))]
pub(crate) fn read_beneath(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
    let full = safe_target(root, rel)?;
    match std::fs::symlink_metadata(&full) {
        Ok(m) if m.is_file() => {
            std::fs::read(&full)
                .map(Some)
                .map_err(|source| ArtifactError::Io {
                    path: rel.to_owned(),
                    source,
                })
        }
        Ok(_) => Err(ArtifactError::Unsafe {
            path: rel.to_owned(),
            why: "it exists and is not a regular file".into(),
        }),
        Err(_) => Ok(None),
    }
}

/// Writes `content` to `rel` beneath `root` atomically: each folder is opened (or made) relative
/// to the one before it without following links, the bytes go to a new file in the last one,
/// which is then renamed over the name. A folder swapped for a link at any moment is refused or
/// still written inside the tree, never through the link.
#[cfg(unix)]
fn write_beneath(root: &Path, rel: &str, content: &[u8]) -> Result<(), ArtifactError> {
    use rustix::fs::{openat, renameat, unlinkat, AtFlags, Mode, OFlags};
    let (dir, name) = beneath::open_parent(root, rel, true)?.ok_or_else(|| ArtifactError::Io {
        path: rel.to_owned(),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    let tmp = format!(".{name}.ddx-{}.tmp", std::process::id());
    let fd = openat(
        &dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )
    .map_err(|e| beneath::io(rel, e))?;
    let mut file = std::fs::File::from(fd);
    let written = std::io::Write::write_all(&mut file, content).and_then(|()| file.sync_data());
    drop(file);
    let renamed = written
        .map_err(|source| ArtifactError::Io {
            path: rel.to_owned(),
            source,
        })
        .and_then(|()| renameat(&dir, tmp.as_str(), &dir, name).map_err(|e| beneath::io(rel, e)));
    if renamed.is_err() {
        let _ = unlinkat(&dir, tmp.as_str(), AtFlags::empty());
    }
    renamed
}

#[cfg(not(unix))]
fn write_beneath(root: &Path, rel: &str, content: &[u8]) -> Result<(), ArtifactError> {
    let full = safe_target(root, rel)?;
    let io = |source| ArtifactError::Io {
        path: rel.to_owned(),
        source,
    };
    let dir = full.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(io)?;
    safe_target(root, rel)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, content).map_err(io)?;
    tmp.persist(&full).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(unix)]
mod beneath {
    //! Folders opened one component at a time relative to the last, never through a link.
    use super::ArtifactError;
    use rustix::fd::OwnedFd;
    use rustix::fs::{mkdirat, open, openat, Mode, OFlags};
    use rustix::io::Errno;
    use std::path::Path;

    pub(super) fn io(rel: &str, e: Errno) -> ArtifactError {
        if e == Errno::LOOP || e == Errno::NOTDIR {
            return ArtifactError::Unsafe {
                path: rel.to_owned(),
                why: "it goes through a symbolic link".into(),
            };
        }
        ArtifactError::Io {
            path: rel.to_owned(),
            source: e.into(),
        }
    }

    pub(super) fn not_regular(rel: &str) -> ArtifactError {
        ArtifactError::Unsafe {
            path: rel.to_owned(),
            why: "it exists and is not a regular file".into(),
        }
    }

    /// The folder that holds `rel`'s last component, and that component; `None` when a folder
    /// is missing and `create` is false.
    pub(super) fn open_parent<'r>(
        root: &Path,
        rel: &'r str,
        create: bool,
    ) -> Result<Option<(OwnedFd, &'r str)>, ArtifactError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut dir = open(root, flags, Mode::empty()).map_err(|e| ArtifactError::Io {
            path: root.display().to_string(),
            source: e.into(),
        })?;
        let parts: Vec<&str> = super::parts(rel).collect();
        let Some((name, folders)) = parts.split_last() else {
            return Err(not_regular(rel));
        };
        for part in folders {
            let next = match openat(&dir, *part, flags | OFlags::NOFOLLOW, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match mkdirat(&dir, *part, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(io(rel, e)),
                    }
                    openat(&dir, *part, flags | OFlags::NOFOLLOW, Mode::empty())
                }
                other => other,
            };
            dir = match next {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(io(rel, e)),
            };
        }
        Ok(Some((dir, name)))
    }
}

/// Plans the artifacts of `phase`: renders each template and compares with the work tree.
///
/// `recorded` gives the blob id ddx last wrote to a path (from the instance's change tracker),
/// so a file the user changed since is told apart from one ddx wrote.
#[cfg(test)]
pub fn plan(
    tree: &dyn FileTree,
    w: &Workflow,
    phase: &Phase,
    context: &serde_json::Value,
    work_dir: &Path,
    recorded: &dyn Fn(&str) -> Option<String>,
    force: bool,
) -> Result<Vec<PlannedFile>, ArtifactError> {
    let hash = HashKind::Sha1;
    plan_guarded(
        tree, w, phase, context, work_dir, None, recorded, force, hash,
    )
}

/// [`plan`], refusing also any file inside the hooks folder `hooks` (relative to the work tree).
#[allow(clippy::too_many_arguments)]
pub fn plan_guarded(
    tree: &dyn FileTree,
    w: &Workflow,
    phase: &Phase,
    context: &serde_json::Value,
    work_dir: &Path,
    hooks: Option<&str>,
    recorded: &dyn Fn(&str) -> Option<String>,
    force: bool,
    hash: HashKind,
) -> Result<Vec<PlannedFile>, ArtifactError> {
    let mut out = Vec::new();
    for a in &phase.artifacts {
        let Some(template_path) = &a.template else {
            continue;
        };
        let source = tree
            .read(template_path)
            .map_err(|source| ArtifactError::Template {
                path: tree.display(template_path),
                source,
            })?
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&source);
        let rendered = template::render(&text, context).map_err(|e| ArtifactError::Render {
            path: tree.display(template_path),
            message: e.to_string(),
        })?;
        let rel = output_path(w, phase, a, context);
        safe_target_in(work_dir, &rel, hooks)?;
        let current = read_beneath(work_dir, &rel)?;
        let content = rendered.into_bytes();
        let after = blob_id(hash, &content);
        let before = current.as_deref().map(|c| blob_id(hash, c));
        let action = match &before {
            None => FileAction::Create,
            Some(b) if *b == after => FileAction::Unchanged,
            Some(b) => match recorded(&rel) {
                Some(r) if r != *b => FileAction::UserEdited,
                _ if force => FileAction::Overwrite,
                _ => FileAction::WouldOverwrite,
            },
        };
        out.push(PlannedFile {
            artifact: a.id.clone(),
            path: rel,
            action,
            before,
            after,
            current,
            content,
        });
    }
    Ok(out)
}

/// Writes the files of a plan that create or overwrite, atomically; returns what was written.
pub fn write<'p>(
    plan: &'p [PlannedFile],
    work_dir: &Path,
) -> Result<Vec<&'p PlannedFile>, ArtifactError> {
    write_guarded(plan, work_dir, None)
}

/// [`write`], refusing also any file inside the hooks folder `hooks` (relative to the work tree).
pub fn write_guarded<'p>(
    plan: &'p [PlannedFile],
    work_dir: &Path,
    hooks: Option<&str>,
) -> Result<Vec<&'p PlannedFile>, ArtifactError> {
    let mut written = Vec::new();
    for f in plan.iter().filter(|f| f.action.writes()) {
        safe_target_in(work_dir, &f.path, hooks)?;
        write_beneath(work_dir, &f.path, &f.content)?;
        tracing::info!(
            artifact = f.artifact.as_str(),
            path = f.path.as_str(),
            action = f.action.label(),
            before = f.before.as_deref().unwrap_or("-"),
            after = f.after.as_str(),
            "wrote {} ({})",
            f.path,
            f.action.label()
        );
        written.push(f);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{load_workflow, StaticTree};
    use serde_json::json;

    fn workflow() -> (StaticTree, Workflow) {
        let files: Vec<(&'static str, &'static [u8])> = vec![
            (
                "workflow.yml",
                b"name: w\nvariables:\n  - name: project_name\nphases:\n  - id: a\n",
            ),
            (
                "phases/01-a/artifacts/prd/template.md",
                b"# {{ project_name }}\n[Problem]\n{{ Unset }}\n",
            ),
            (
                "phases/01-a/artifacts/prd/meta.yml",
                b"name: PRD\noutput:\n  location: docs/prd.md\n",
            ),
            ("phases/01-a/artifacts/adr/template.md", b"# ADR\n"),
            (
                "phases/01-a/artifacts/adr/meta.yml",
                b"output:\n  location: docs/adr/\n",
            ),
            ("phases/01-a/artifacts/td/template.md", b"# TD\n"),
            (
                "phases/01-a/artifacts/td/meta.yml",
                b"output:\n  location: docs/td/TD-{id}.md\n",
            ),
            ("phases/01-a/artifacts/plain/template.md", b"plain\n"),
        ];
        let tree = StaticTree::new("t", files);
        let w = load_workflow(&tree).unwrap();
        (tree, w)
    }

    #[test]
    fn plans_creates_then_unchanged_then_refuses_edits() {
        let (tree, w) = workflow();
        let dir = tempfile::tempdir().unwrap();
        let ctx = json!({"project_name": "shop"});
        let none = |_: &str| None;
        let p = plan(&tree, &w, &w.phases[0], &ctx, dir.path(), &none, false).unwrap();
        let paths: Vec<(&str, FileAction)> =
            p.iter().map(|f| (f.path.as_str(), f.action)).collect();
        assert_eq!(
            paths,
            vec![
                ("docs/adr/adr.md", FileAction::Create),
                ("docs/w/01-a/plain.md", FileAction::Create),
                ("docs/prd.md", FileAction::Create),
                ("docs/td/td.md", FileAction::Create),
            ]
        );
        write(&p, dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("docs/prd.md")).unwrap(),
            "# shop\n[Problem]\n{{ Unset }}\n"
        );
        let prd_blob = p[2].after.clone();
        let p2 = plan(&tree, &w, &w.phases[0], &ctx, dir.path(), &none, false).unwrap();
        assert!(p2.iter().all(|f| f.action == FileAction::Unchanged));

        // Another value: ddx's own unedited file would be overwritten, only with --force.
        let ctx2 = json!({"project_name": "store", "id": "007"});
        let recorded = |p: &str| (p == "docs/prd.md").then(|| prd_blob.clone());
        let p3 = plan(&tree, &w, &w.phases[0], &ctx2, dir.path(), &recorded, false).unwrap();
        assert_eq!(p3[2].action, FileAction::WouldOverwrite);
        assert!(
            p3[2].diff().contains("-# shop\n+# store\n"),
            "{}",
            p3[2].diff()
        );
        assert_eq!(p3[3].path, "docs/td/TD-007.md");
        let p4 = plan(&tree, &w, &w.phases[0], &ctx2, dir.path(), &recorded, true).unwrap();
        assert_eq!(p4[2].action, FileAction::Overwrite);

        // The user edits the file: it is never touched, even with --force.
        std::fs::write(dir.path().join("docs/prd.md"), "# mine\n").unwrap();
        let p5 = plan(&tree, &w, &w.phases[0], &ctx2, dir.path(), &recorded, true).unwrap();
        assert_eq!(p5[2].action, FileAction::UserEdited);
        write(&p5, dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("docs/prd.md")).unwrap(),
            "# mine\n"
        );
    }

    #[test]
    fn blob_ids_match_git() {
        assert_eq!(
            blob_id(HashKind::Sha1, b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_symlink() {
        let (tree, w) = workflow();
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("docs")).unwrap();
        let none = |_: &str| None;
        let err = plan(
            &tree,
            &w,
            &w.phases[0],
            &json!({}),
            dir.path(),
            &none,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "docs/adr/adr.md is not a safe place to write: it goes through a symbolic link"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    fn one_file(path: &str) -> PlannedFile {
        PlannedFile {
            artifact: "x".into(),
            path: path.into(),
            action: FileAction::Create,
            before: None,
            after: blob_id(HashKind::Sha1, b"planted\n"),
            current: None,
            content: b"planted\n".to_vec(),
        }
    }

    #[test]
    fn never_writes_where_ddx_keeps_its_trust() {
        let dir = tempfile::tempdir().unwrap();
        for (path, why) in [
            (
                ".ddx/config.yml",
                "it is inside .ddx/, where ddx keeps its configuration",
            ),
            (
                ".DDX/local/workflows/helix/workflow.yml",
                "it is inside .ddx/, where ddx keeps its configuration",
            ),
            (
                "./.ddx/config.yml",
                "it is inside .ddx/, where ddx keeps its configuration",
            ),
            (".git/hooks/pre-commit", "points into .git"),
            ("sub/.Git/config", "points into .git"),
            ("githooks/pre-commit", "it is inside the git hooks folder"),
        ] {
            let err = write_guarded(&[one_file(path)], dir.path(), Some("githooks")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{path} is not a safe place to write: {why}")
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_guarded(&[one_file("githooks.md")], dir.path(), Some("githooks")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("githooks.md")).unwrap(),
            "planted\n"
        );
    }

    /// A thread swaps a folder and a link to outside (renameat2 RENAME_EXCHANGE) while ddx
    /// writes into the folder: no try may write outside.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_swapped_for_a_symlink_mid_write_never_redirects_it() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("swap")).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = stop.clone();
            let root = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let (a, b) = (root.join("docs"), root.join("swap"));
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &a,
                        rustix::fs::CWD,
                        &b,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let plan = [one_file("docs/deep/x.md")];
        for _ in 0..2000 {
            let _ = write_guarded(&plan, dir.path(), None);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(swapper.join().unwrap() > 0);
        let leaked: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
        assert!(leaked.is_empty(), "written outside: {leaked:?}");
    }
}
