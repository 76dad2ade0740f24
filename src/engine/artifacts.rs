//! Artifacts: templates rendered into the work tree, safely.
//!
//! [`plan`] decides, per file, what rendering a phase's artifacts would do — create, leave
//! unchanged, overwrite (only with `--force`), or refuse because the user edited what ddx wrote —
//! without touching anything; [`write`] carries a plan out. Files are written only inside the
//! work tree, never through a symbolic link, atomically (temporary file, then rename), and each
//! is recorded with its blob id before and after (the change tracker).

use crate::model::{template, Artifact, FileTree, OutputLocation, Phase, Workflow};
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
pub fn blob_id(data: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
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

/// Checks that `rel` can be written inside `root` without leaving it or following a symlink.
pub fn safe_target(root: &Path, rel: &str) -> Result<PathBuf, ArtifactError> {
    let unsafe_path = |why: &str| ArtifactError::Unsafe {
        path: rel.to_owned(),
        why: why.to_owned(),
    };
    crate::model::load::safe_relative_path(rel).map_err(unsafe_path)?;
    let mut at = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
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

/// Plans the artifacts of `phase`: renders each template and compares with the work tree.
///
/// `recorded` gives the blob id ddx last wrote to a path (from the instance's change tracker),
/// so a file the user changed since is told apart from one ddx wrote.
pub fn plan(
    tree: &dyn FileTree,
    w: &Workflow,
    phase: &Phase,
    context: &serde_json::Value,
    work_dir: &Path,
    recorded: &dyn Fn(&str) -> Option<String>,
    force: bool,
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
        let full = safe_target(work_dir, &rel)?;
        let current = match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => {
                Some(std::fs::read(&full).map_err(|source| ArtifactError::Io {
                    path: rel.clone(),
                    source,
                })?)
            }
            Ok(_) => {
                return Err(ArtifactError::Unsafe {
                    path: rel,
                    why: "it exists and is not a regular file".into(),
                })
            }
            Err(_) => None,
        };
        let content = rendered.into_bytes();
        let after = blob_id(&content);
        let before = current.as_deref().map(blob_id);
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
    let mut written = Vec::new();
    for f in plan.iter().filter(|f| f.action.writes()) {
        let full = safe_target(work_dir, &f.path)?;
        let io = |source| ArtifactError::Io {
            path: f.path.clone(),
            source,
        };
        let dir = full.parent().unwrap_or(work_dir);
        std::fs::create_dir_all(dir).map_err(io)?;
        // Re-check after creating folders: nothing may have become a link meanwhile.
        safe_target(work_dir, &f.path)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, &f.content).map_err(io)?;
        tmp.persist(&full).map_err(|e| io(e.error))?;
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
            blob_id(b"hello\n"),
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
}
