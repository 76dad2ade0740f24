//! The roots of the catalog's sources: where each source keeps its workflows, how each is
//! keyed for the cache, and how one workflow of it is read.

use super::{embedded, CatalogError, Located, Source};
use crate::model::{DirTree, FileTree, SubTree};
use crate::store::{library, objects, sources, GitTree, ObjectId, Repo};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the user's own, uncommitted workflows live inside the work tree.
pub const LOCAL_WORKFLOWS: &str = ".ddx/local/workflows";

/// One source of the catalog and where its workflows are.
#[derive(Debug, Clone)]
pub struct Root {
    pub source: Source,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A folder of the work tree, read from disk.
    Dir(PathBuf),
    /// A git tree whose folders are workflows; `prefix` + name labels a workflow's files.
    Git {
        tree: ObjectId,
        prefix: String,
        only_with_workflow_yml: bool,
    },
    Embedded,
}

/// One workflow folder of a root, with the key its index entry is cached under (its tree id, or
/// a digest of its files where there is no tree object).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub name: String,
    pub key: String,
}

/// A hex digest of `parts`, each length-prefixed so that boundaries count.
pub(crate) fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    // `None` is a detected SHA-1 collision: a key nothing else can have, so nothing is reused.
    objects::digest(parts).unwrap_or_else(|| format!("uncacheable-{}", std::process::id()))
}

/// The digest of one embedded workflow's files.
fn embedded_member_key(name: &str) -> String {
    let lib = embedded::library();
    let files = lib.files().unwrap_or_default();
    let prefix = format!("{name}/");
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for f in files.iter().filter(|f| f.starts_with(&prefix)) {
        parts.push(f.as_bytes().to_vec());
        parts.push(
            lib.read_limited(f, u64::MAX)
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
    }
    digest(parts.iter().map(Vec::as_slice))
}

fn embedded_members() -> &'static [Member] {
    static MEMBERS: OnceLock<Vec<Member>> = OnceLock::new();
    MEMBERS.get_or_init(|| {
        embedded::names()
            .into_iter()
            .map(|n| Member {
                name: n.to_owned(),
                key: embedded_member_key(n),
            })
            .collect()
    })
}

/// The digest of a folder's files (paths and contents), for workflows that live on disk.
fn dir_key(dir: &Path) -> Result<String, CatalogError> {
    let tree = DirTree::new(dir);
    let files = tree.files().map_err(|e| CatalogError::Io {
        path: dir.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for f in &files {
        parts.push(f.as_bytes().to_vec());
        let bytes = std::fs::read(dir.join(f)).map_err(|source| CatalogError::Io {
            path: dir.join(f),
            source,
        })?;
        parts.push(bytes);
    }
    Ok(digest(parts.iter().map(Vec::as_slice)))
}

/// The sources of the catalog around `repo`, highest precedence first.
pub(crate) fn roots(repo: Option<&Repo>) -> Result<Vec<Root>, CatalogError> {
    let mut out = Vec::new();
    if let Some(repo) = repo {
        let local = repo.work_dir().join(LOCAL_WORKFLOWS);
        if local.is_dir() {
            out.push(Root {
                source: Source::Local,
                kind: Kind::Dir(local),
            });
        }
        if let Some(tree) = library::project_library(repo)? {
            out.push(Root {
                source: Source::Project,
                kind: Kind::Git {
                    tree,
                    prefix: format!("HEAD:{}/", library::PROJECT_LIBRARY),
                    only_with_workflow_yml: false,
                },
            });
        }
        for (name, commit) in sources::list(repo)? {
            match sources::workflows_root(repo, commit) {
                Ok(root) => {
                    let at = if root.path.is_empty() {
                        String::new()
                    } else {
                        format!("{}/", root.path)
                    };
                    out.push(Root {
                        source: Source::Registered(name.clone()),
                        kind: Kind::Git {
                            tree: root.tree,
                            prefix: format!("{}:{at}", sources::ref_name(&name)),
                            only_with_workflow_yml: root.only_with_workflow_yml,
                        },
                    });
                }
                Err(e) => tracing::warn!(
                    "{} is left out of the catalog: {}",
                    sources::ref_name(&name),
                    crate::store::repo::error_chain(&e)
                ),
            }
        }
    }
    out.push(Root {
        source: Source::Embedded,
        kind: Kind::Embedded,
    });
    Ok(out)
}

impl Root {
    /// A short file-name-safe name of the source, for its cache file.
    pub(crate) fn slug(&self) -> String {
        match &self.source {
            Source::Registered(name) => format!("repo-{name}"),
            Source::Local => "local".to_owned(),
            Source::Project => "project".to_owned(),
            Source::Embedded => "embedded".to_owned(),
            Source::Path(_) => "path".to_owned(),
        }
    }

    /// What the source's index is cached under: its tree id, or a digest of its files.
    pub(crate) fn key(&self) -> Result<String, CatalogError> {
        match &self.kind {
            Kind::Git { tree, .. } => Ok(tree.to_string()),
            Kind::Dir(_) => {
                let members = self.members(None)?;
                let parts: Vec<&[u8]> = members
                    .iter()
                    .flat_map(|m| [m.name.as_bytes(), m.key.as_bytes()])
                    .collect();
                Ok(digest(parts))
            }
            Kind::Embedded => {
                let members = embedded_members();
                let parts: Vec<&[u8]> = members
                    .iter()
                    .flat_map(|m| [m.name.as_bytes(), m.key.as_bytes()])
                    .collect();
                Ok(digest(parts))
            }
        }
    }

    /// The workflow folders of this source, sorted by name. A folder whose name no workflow
    /// may have (`.`, `..`, `.git`, control characters: docs/workflow-format.md) is no member.
    pub(crate) fn members(&self, repo: Option<&Repo>) -> Result<Vec<Member>, CatalogError> {
        let mut members = self.all_members(repo)?;
        members.retain(|m| crate::model::load::name_problem(&m.name).is_none());
        Ok(members)
    }

    fn all_members(&self, repo: Option<&Repo>) -> Result<Vec<Member>, CatalogError> {
        match &self.kind {
            Kind::Git {
                tree,
                only_with_workflow_yml,
                ..
            } => {
                let Some(repo) = repo else {
                    return Ok(Vec::new());
                };
                Ok(
                    library::workflow_folders(repo, *tree, *only_with_workflow_yml)?
                        .into_iter()
                        .map(|(name, id)| Member {
                            name,
                            key: id.to_string(),
                        })
                        .collect(),
                )
            }
            Kind::Dir(dir) => {
                let mut out = Vec::new();
                let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Io {
                    path: dir.clone(),
                    source,
                })?;
                for entry in entries {
                    let entry = entry.map_err(|source| CatalogError::Io {
                        path: dir.clone(),
                        source,
                    })?;
                    let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                    let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                        continue;
                    };
                    if !is_dir || name.starts_with('.') {
                        continue;
                    }
                    let key = dir_key(&entry.path())?;
                    out.push(Member { name, key });
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
            Kind::Embedded => Ok(embedded_members().to_vec()),
        }
    }

    /// The names of this source's workflows.
    pub(crate) fn names(&self, repo: Option<&Repo>) -> Result<Vec<String>, CatalogError> {
        Ok(self.members(repo)?.into_iter().map(|m| m.name).collect())
    }

    /// The files of one member, for the index: git trees are read in one pass into memory.
    pub(crate) fn member_tree(
        &self,
        repo: Option<&Repo>,
        member: &Member,
    ) -> Result<Box<dyn FileTree>, CatalogError> {
        match &self.kind {
            Kind::Git { prefix, .. } => {
                let repo = repo.ok_or_else(|| CatalogError::NotFound {
                    name: member.name.clone(),
                    suggestion: None,
                })?;
                let id = ObjectId::from_hex(member.key.as_bytes()).map_err(|_| {
                    CatalogError::NotFound {
                        name: member.name.clone(),
                        suggestion: None,
                    }
                })?;
                Ok(Box::new(library::snapshot(
                    repo,
                    id,
                    format!("{prefix}{}", member.name),
                )?))
            }
            Kind::Dir(dir) => Ok(Box::new(DirTree::new(dir.join(&member.name)))),
            Kind::Embedded => Ok(Box::new(SubTree::new(embedded::library(), &member.name))),
        }
    }

    /// The workflow called `name` in this source, if it has one.
    pub(crate) fn find(
        &self,
        repo: Option<&Repo>,
        name: &str,
    ) -> Result<Option<Located>, CatalogError> {
        if crate::model::load::name_problem(name).is_some() {
            return Ok(None);
        }
        let located = |tree: Box<dyn FileTree>| Located {
            name: name.to_owned(),
            source: self.source.clone(),
            tree,
        };
        match &self.kind {
            Kind::Git {
                tree,
                prefix,
                only_with_workflow_yml,
            } => {
                let Some(repo) = repo else { return Ok(None) };
                let Some(id) =
                    library::workflow_folder(repo, *tree, name, *only_with_workflow_yml)?
                else {
                    return Ok(None);
                };
                Ok(Some(located(Box::new(GitTree::open(
                    repo,
                    id,
                    format!("{prefix}{name}"),
                )))))
            }
            Kind::Dir(dir) => {
                let path = dir.join(name);
                let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                Ok(is_dir.then(|| located(Box::new(DirTree::new(path)))))
            }
            Kind::Embedded => Ok(embedded::names()
                .contains(&name)
                .then(|| located(Box::new(SubTree::new(embedded::library(), name))))),
        }
    }
}
