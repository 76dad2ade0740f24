//! The catalog: where workflows come from, and how a name or a path becomes a workflow.
//!
//! Sources, highest precedence first (DESIGN §3): local workflows in the working tree
//! (`.ddx/local/workflows/`), the project library in git tree objects
//! (`HEAD:.ddx/library/workflows/`), registered repositories (`refs/ddx/sources/<name>`, by
//! name), and the library embedded in the binary. A name resolves to the first source that has
//! it; the others are *shadowed*. Every source is read through [`FileTree`], so one loader reads
//! them all. [`index`] summarises every workflow (in parallel, cached by source tree ids) and
//! [`search`] ranks them for a query.

mod cache;
pub mod embedded;
pub mod index;
mod record;
pub mod search;
mod source;

pub use index::{BrokenWorkflow, Entry, Index, IndexedWorkflow};
pub use record::Record;
pub use source::{Root, LOCAL_WORKFLOWS};

use crate::model::diag::did_you_mean;
use crate::model::load::DefinitionError;
use crate::model::{self, DirTree, FileTree, Validation, Workflow};
use crate::store::{Repo, StoreError};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a workflow was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A directory named on the command line.
    Path(PathBuf),
    /// `.ddx/local/workflows/` in the working tree.
    Local,
    /// `HEAD:.ddx/library/workflows/`.
    Project,
    /// A registered repository, fetched into `refs/ddx/sources/<name>`.
    Registered(String),
    /// The library embedded in the binary.
    Embedded,
}

impl Source {
    /// True when `filter` names this source: its display form (`repo:team`), its kind
    /// (`local`, `project`, `repo`, `embedded`) or a registered repository's name (`team`).
    pub fn matches(&self, filter: &str) -> bool {
        let f = filter.trim();
        if self.to_string().eq_ignore_ascii_case(f) {
            return true;
        }
        match self {
            Source::Registered(name) => {
                f.eq_ignore_ascii_case("repo")
                    || f.eq_ignore_ascii_case("registered")
                    || name.eq_ignore_ascii_case(f)
            }
            Source::Path(_) => f.eq_ignore_ascii_case("path"),
            _ => false,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(p) => write!(f, "path:{}", p.display()),
            Source::Local => f.write_str("local"),
            Source::Project => f.write_str("project"),
            Source::Registered(name) => write!(f, "repo:{name}"),
            Source::Embedded => f.write_str("embedded"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a workflow could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no workflow named `{name}`")]
    NotFound {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{}` is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error(transparent)]
    Invalid(#[from] DefinitionError),
    #[error("{count} workflow{} of the catalog {} broken: {}", plural(*count), if *count == 1 { "is" } else { "are" }, names.join(", "))]
    Broken { count: usize, names: Vec<String> },
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A workflow name or path resolved to its files.
pub struct Located {
    pub name: String,
    pub source: Source,
    pub tree: Box<dyn FileTree>,
}

impl fmt::Debug for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Located")
            .field("name", &self.name)
            .field("source", &self.source)
            .finish()
    }
}

impl Located {
    pub fn validate(&self) -> Validation {
        model::validate(self.tree.as_ref())
    }

    pub fn load(&self) -> Result<Workflow, CatalogError> {
        Ok(model::load_workflow(self.tree.as_ref())?)
    }
}

/// One line of `ddx workflow list`. JSON field names are a contract: add, never rename.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub version: String,
    pub category: String,
    pub tags: Vec<String>,
    pub description: String,
    pub source: String,
    pub phases: usize,
    pub artifacts: usize,
    pub keywords: Vec<String>,
    pub languages: Vec<String>,
    /// The source whose workflow of the same name wins (only with `--all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadowed_by: Option<String>,
}

impl Summary {
    pub fn of(w: &Workflow, source: &Source) -> Summary {
        Summary {
            name: w.name.clone(),
            version: w.version.clone(),
            category: w.category.clone(),
            tags: w.tags.clone(),
            description: w.description.clone(),
            source: source.to_string(),
            phases: w.phases.len(),
            artifacts: w.artifact_count(),
            keywords: w.keywords.clone(),
            languages: w.languages.clone(),
            shadowed_by: None,
        }
    }
}

/// True when `spec` names a directory rather than a catalog entry.
pub fn is_path(spec: &str) -> bool {
    spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR) || spec == "." || spec == ".."
}

/// The catalog as seen from one directory: the sources of the repository around it (if any)
/// and the embedded library.
pub struct Catalog {
    repo: Option<Repo>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("work_dir", &self.repo.as_ref().map(Repo::work_dir))
            .finish()
    }
}

impl Catalog {
    /// The catalog of the repository containing `cwd`; outside a repository, only the
    /// embedded library.
    pub fn open(cwd: &Path) -> Result<Catalog, CatalogError> {
        match Repo::discover(cwd) {
            Ok(repo) => Ok(Catalog { repo: Some(repo) }),
            Err(StoreError::NotARepository { .. }) => {
                tracing::debug!(
                    "{} is in no git repository: embedded catalog only",
                    cwd.display()
                );
                Ok(Catalog::embedded_only())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The catalog of an open repository.
    pub fn of_repo(repo: Repo) -> Catalog {
        Catalog { repo: Some(repo) }
    }

    /// Only the library embedded in the binary.
    pub fn embedded_only() -> Catalog {
        Catalog { repo: None }
    }

    pub fn repo(&self) -> Option<&Repo> {
        self.repo.as_ref()
    }

    /// The sources, highest precedence first.
    pub fn roots(&self) -> Result<Vec<Root>, CatalogError> {
        source::roots(self.repo.as_ref())
    }

    /// Resolves a workflow name (by precedence) or a path (anything containing `/`).
    pub fn locate(&self, spec: &str, cwd: &Path) -> Result<Located, CatalogError> {
        if is_path(spec) {
            return locate_path(spec, cwd);
        }
        let roots = self.roots()?;
        let repo = self.repo.as_ref();
        for root in &roots {
            if let Some(found) = root.find(repo, spec)? {
                return Ok(found);
            }
        }
        let mut names = Vec::new();
        for root in &roots {
            names.extend(root.names(repo)?);
        }
        Err(CatalogError::NotFound {
            name: spec.to_owned(),
            suggestion: did_you_mean(spec, names.iter().map(String::as_str)).map(str::to_owned),
        })
    }

    /// The workflow `name` as the source `source` has it: a path (anything containing `/`), or
    /// a source as `--source` filters name them (`local`, `project`, `embedded`, `repo:team`,
    /// `team`).
    pub fn locate_from(
        &self,
        name: &str,
        source: &str,
        cwd: &Path,
    ) -> Result<Located, CatalogError> {
        if is_path(source) {
            return locate_path(source, cwd);
        }
        let repo = self.repo.as_ref();
        let mut names = Vec::new();
        for root in self.roots()?.iter().filter(|r| r.source.matches(source)) {
            if let Some(found) = root.find(repo, name)? {
                return Ok(found);
            }
            names.extend(root.names(repo)?);
        }
        Err(CatalogError::NotFound {
            name: format!("{name}` in source `{source}"),
            suggestion: did_you_mean(name, names.iter().map(String::as_str)).map(str::to_owned),
        })
    }

    /// The workflow `name` of version `version`, from the first source (by precedence) that has
    /// that version; `None` when none has it.
    pub fn locate_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Located>, CatalogError> {
        let repo = self.repo.as_ref();
        for root in &self.roots()? {
            if let Some(found) = root.find(repo, name)? {
                if found.load().is_ok_and(|w| w.version == version) {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// The index of every workflow of every source, from the cache where it is current.
    pub fn index(&self) -> Result<Index, CatalogError> {
        index::build(self)
    }

    /// The summaries of `list` (with `all`, shadowed workflows too) and the broken workflows.
    pub fn list(&self, all: bool) -> Result<(Vec<Summary>, Vec<BrokenWorkflow>), CatalogError> {
        let index = self.index()?;
        let good = index
            .workflows
            .iter()
            .filter(|w| all || w.shadowed_by.is_none())
            .map(IndexedWorkflow::summary)
            .collect();
        Ok((good, index.broken))
    }
}

fn locate_path(spec: &str, cwd: &Path) -> Result<Located, CatalogError> {
    let path = cwd.join(spec);
    if !path.is_dir() {
        return Err(CatalogError::NotADirectory { path });
    }
    let name = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| spec.to_owned());
    Ok(Located {
        name,
        source: Source::Path(PathBuf::from(spec)),
        tree: Box::new(DirTree::new(path)),
    })
}

/// Resolves a workflow name (catalog lookup, by precedence) or a path (anything containing `/`).
pub fn locate(spec: &str, cwd: &Path) -> Result<Located, CatalogError> {
    if is_path(spec) {
        return locate_path(spec, cwd);
    }
    Catalog::open(cwd)?.locate(spec, cwd)
}

/// Every workflow of the embedded library (the catalog outside any repository), with the broken
/// ones reported separately. [`Catalog::list`] covers every source.
pub fn list() -> (Vec<Summary>, Vec<(String, DefinitionError)>) {
    match Catalog::embedded_only().list(false) {
        Ok((good, bad)) => (
            good,
            bad.into_iter()
                .map(|b| (b.name.clone(), b.to_definition_error()))
                .collect(),
        ),
        Err(e) => (
            Vec::new(),
            vec![(
                "embedded".to_owned(),
                DefinitionError {
                    name: "embedded".to_owned(),
                    diagnostics: vec![model::Diagnostic::error("embedded:", e.to_string())],
                },
            )],
        ),
    }
}
