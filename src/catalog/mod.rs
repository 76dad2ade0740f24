//! The catalog: where workflows come from, and how a name or a path becomes a workflow.
//!
//! Sources, highest precedence first (DESIGN §3): local workflows in the working tree, the
//! project library in git tree objects, registered repositories, and the library embedded in
//! the binary. Every source is read through [`FileTree`], so one loader reads them all.

pub mod embedded;

use crate::model::diag::did_you_mean;
use crate::model::load::DefinitionError;
use crate::model::{self, DirTree, FileTree, SubTree, Validation, Workflow};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a workflow was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A directory named on the command line.
    Path(PathBuf),
    /// The library embedded in the binary.
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(p) => write!(f, "path:{}", p.display()),
            Source::Embedded => f.write_str("embedded"),
        }
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

/// One line of `ddx workflow list`.
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
        }
    }
}

/// True when `spec` names a directory rather than a catalog entry.
pub fn is_path(spec: &str) -> bool {
    spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR) || spec == "." || spec == ".."
}

/// Resolves a workflow name (catalog lookup) or a path (anything containing `/`).
pub fn locate(spec: &str, cwd: &Path) -> Result<Located, CatalogError> {
    if is_path(spec) {
        let path = cwd.join(spec);
        if !path.is_dir() {
            return Err(CatalogError::NotADirectory { path });
        }
        let name = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| spec.to_owned());
        return Ok(Located {
            name,
            source: Source::Path(PathBuf::from(spec)),
            tree: Box::new(DirTree::new(path)),
        });
    }
    let names = embedded::names();
    if let Some(&name) = names.iter().find(|n| **n == spec) {
        return Ok(Located {
            name: name.to_owned(),
            source: Source::Embedded,
            tree: Box::new(SubTree::new(embedded::library(), name)),
        });
    }
    Err(CatalogError::NotFound {
        name: spec.to_owned(),
        suggestion: did_you_mean(spec, names.iter().copied()).map(str::to_owned),
    })
}

/// Every workflow the catalog knows, with the broken ones reported separately.
pub fn list() -> (Vec<Summary>, Vec<(String, DefinitionError)>) {
    use rayon::prelude::*;
    let loaded: Vec<_> = embedded::names()
        .into_par_iter()
        .map(|name| {
            (
                name,
                model::load_workflow(&SubTree::new(embedded::library(), name)),
            )
        })
        .collect();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (name, result) in loaded {
        match result {
            Ok(w) => good.push(Summary::of(&w, &Source::Embedded)),
            Err(e) => bad.push((name.to_owned(), e)),
        }
    }
    (good, bad)
}
