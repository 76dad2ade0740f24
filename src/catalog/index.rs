//! The catalog index: one summary per workflow of every source, enough to list, filter and
//! search without reading a definition again.
//!
//! Each source's part (a *segment*) is cached under its tree id (see [`super::cache`]); a
//! segment that is not cached is built in parallel with rayon, and entries of the source's
//! previous segment whose workflow tree did not change are reused, so a commit that touches one
//! workflow re-reads one workflow.

use super::cache::{Cache, Segment};
use super::record::Record;
use super::source::{Member, Root};
use super::{Catalog, CatalogError, Source, Summary};
use crate::model::load::DefinitionError;
use crate::model::{self, Diagnostic, Workflow};
use crate::store::Repo;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A phase as the index knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRef {
    pub id: String,
    pub name: String,
}

/// What the index keeps of one good workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The catalog name: the workflow's folder.
    pub name: String,
    pub version: String,
    pub category: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    pub languages: Vec<String>,
    pub description: String,
    pub phases: Vec<PhaseRef>,
    /// Artifact names, each once.
    pub artifacts: Vec<String>,
    pub artifact_count: usize,
    /// The weighted number of searchable words, for length normalisation in ranking.
    pub length: f32,
    /// The cache key of the workflow: its tree id, or a digest of its files.
    pub key: String,
}

impl Entry {
    pub fn of(name: &str, key: &str, w: &Workflow) -> Entry {
        let mut artifacts: Vec<String> = Vec::new();
        for a in w.phases.iter().flat_map(|p| &p.artifacts) {
            if !artifacts.contains(&a.name) {
                artifacts.push(a.name.clone());
            }
        }
        let mut e = Entry {
            name: name.to_owned(),
            version: w.version.clone(),
            category: w.category.clone(),
            tags: w.tags.clone(),
            keywords: w.keywords.clone(),
            languages: w.languages.clone(),
            description: w.description.clone(),
            phases: w
                .phases
                .iter()
                .map(|p| PhaseRef {
                    id: p.id.clone(),
                    name: p.name.clone(),
                })
                .collect(),
            artifacts,
            artifact_count: w.artifact_count(),
            length: 0.0,
            key: key.to_owned(),
        };
        e.length = super::search::weighted_length(&e);
        e
    }
}

/// A workflow that could not be loaded, with its errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokenEntry {
    pub name: String,
    pub key: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// A good workflow of the index, with its source. Its entry is kept compact and decoded on
/// demand (see [`super::record`]).
#[derive(Debug, Clone)]
pub struct IndexedWorkflow {
    pub record: Record,
    pub source: Source,
    /// Position of the source in precedence order (0 is the highest).
    pub rank: usize,
    /// The source whose workflow of the same name wins over this one.
    pub shadowed_by: Option<Source>,
}

impl IndexedWorkflow {
    pub fn new(entry: &Entry, source: Source, rank: usize) -> IndexedWorkflow {
        IndexedWorkflow {
            record: Record::of(entry),
            source,
            rank,
            shadowed_by: None,
        }
    }

    /// The catalog name, without decoding the rest.
    pub fn name(&self) -> &str {
        self.record.name()
    }

    pub fn entry(&self) -> Entry {
        self.record.entry()
    }

    pub fn summary(&self) -> Summary {
        self.summary_of(&self.entry())
    }

    /// The summary of this workflow, from its already decoded entry.
    pub fn summary_of(&self, e: &Entry) -> Summary {
        Summary {
            name: e.name.clone(),
            version: e.version.clone(),
            category: e.category.clone(),
            tags: e.tags.clone(),
            description: e.description.clone(),
            source: self.source.to_string(),
            phases: e.phases.len(),
            artifacts: e.artifact_count,
            keywords: e.keywords.clone(),
            languages: e.languages.clone(),
            shadowed_by: self.shadowed_by.as_ref().map(Source::to_string),
        }
    }
}

/// A broken workflow of the index, with its source.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenWorkflow {
    pub name: String,
    pub source: Source,
    pub diagnostics: Vec<Diagnostic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadowed_by: Option<Source>,
}

impl BrokenWorkflow {
    pub fn to_definition_error(&self) -> DefinitionError {
        DefinitionError {
            name: self.name.clone(),
            diagnostics: self.diagnostics.clone(),
        }
    }
}

/// Every workflow of every source, in precedence order.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub workflows: Vec<IndexedWorkflow>,
    pub broken: Vec<BrokenWorkflow>,
    /// How many sources came from the cache, and how many were rebuilt.
    pub cached_sources: usize,
    pub rebuilt_sources: usize,
}

impl Index {
    /// The workflows a name resolves to (not shadowed).
    pub fn visible(&self) -> impl Iterator<Item = &IndexedWorkflow> {
        self.workflows.iter().filter(|w| w.shadowed_by.is_none())
    }
}

enum Loaded {
    Good(Record),
    Broken(BrokenEntry),
}

fn load_member(root: &Root, repo: Option<&Repo>, member: &Member) -> Loaded {
    let broken = |diagnostics| {
        Loaded::Broken(BrokenEntry {
            name: member.name.clone(),
            key: member.key.clone(),
            diagnostics,
        })
    };
    let tree = match root.member_tree(repo, member) {
        Ok(t) => t,
        Err(e) => {
            return broken(vec![Diagnostic::error(
                format!("{}:{}", root.source, member.name),
                e.to_string(),
            )])
        }
    };
    let v = model::validate(tree.as_ref());
    match v.workflow {
        Some(w) if v.diagnostics.iter().all(|d| !d.is_error()) => {
            Loaded::Good(Record::of(&Entry::of(&member.name, &member.key, &w)))
        }
        _ => broken(v.diagnostics.into_iter().filter(|d| d.is_error()).collect()),
    }
}

/// Builds the segment of `root`, reusing entries of `previous` whose key did not change.
/// Returns the segment and how many workflows had to be read.
fn build_segment(
    root: &Root,
    repo: Option<&Repo>,
    key: &str,
    previous: Option<Segment>,
) -> Result<(Segment, usize), CatalogError> {
    let members = root.members(repo)?;
    let mut old_good: HashMap<String, Record> = HashMap::new();
    let mut old_bad: HashMap<String, BrokenEntry> = HashMap::new();
    if let Some(prev) = previous {
        for r in prev.records {
            let e = r.entry();
            old_good.insert(format!("{}\0{}", e.name, e.key), r);
        }
        for b in prev.broken {
            old_bad.insert(format!("{}\0{}", b.name, b.key), b);
        }
    }
    let mut loaded: Vec<Option<Loaded>> = members
        .iter()
        .map(|m| {
            let k = format!("{}\0{}", m.name, m.key);
            old_good
                .remove(&k)
                .map(Loaded::Good)
                .or_else(|| old_bad.remove(&k).map(Loaded::Broken))
        })
        .collect();
    let todo: Vec<usize> = (0..members.len())
        .filter(|&i| loaded[i].is_none())
        .collect();
    let shared = repo.map(Repo::shared);
    let fresh: Vec<(usize, Loaded)> = todo
        .par_iter()
        .map_init(
            || shared.as_ref().map(|s| s.to_thread_local(4 * 1024 * 1024)),
            |r, &i| (i, load_member(root, r.as_ref(), &members[i])),
        )
        .collect();
    let parsed = fresh.len();
    for (i, l) in fresh {
        loaded[i] = Some(l);
    }
    let mut seg = Segment::new(root, key);
    for l in loaded.into_iter().flatten() {
        match l {
            Loaded::Good(r) => seg.records.push(r),
            Loaded::Broken(b) => seg.broken.push(b),
        }
    }
    Ok((seg, parsed))
}

fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

/// Builds the index of `catalog`, from the cache where it is current.
pub(crate) fn build(catalog: &Catalog) -> Result<Index, CatalogError> {
    let roots = catalog.roots()?;
    let repo = catalog.repo();
    let cache = catalog
        .repo()
        .map(|r| Cache::new(r.ddx_dir().join("cache")));
    if cache.is_none() {
        tracing::debug!("catalog cache: not used outside a repository");
    }
    let mut index = Index::default();
    let mut segments = Vec::with_capacity(roots.len());
    for root in &roots {
        let key = root.key()?;
        if let Some(seg) = cache.as_ref().and_then(|c| c.load(root, &key)) {
            tracing::debug!(
                "catalog cache: used for {} (key {}, {} workflows)",
                root.source,
                short(&key),
                seg.records.len() + seg.broken.len()
            );
            index.cached_sources += 1;
            segments.push(seg);
            continue;
        }
        let previous = cache.as_ref().and_then(|c| c.latest(root));
        let (seg, parsed) = build_segment(root, repo, &key, previous)?;
        tracing::debug!(
            "catalog cache: rebuilt {} (key {}, read {parsed} of {} workflows)",
            root.source,
            short(&key),
            seg.records.len() + seg.broken.len()
        );
        index.rebuilt_sources += 1;
        if let Some(c) = &cache {
            c.store(root, &seg);
        }
        segments.push(seg);
    }

    // A workflow is shadowed by the first earlier source with the same name. Records are
    // sorted by name, so each lookup is a binary search and no name is copied.
    for seg in &mut segments {
        if !seg.records.windows(2).all(|w| w[0].name() <= w[1].name()) {
            seg.records.sort_by(|a, b| a.name().cmp(b.name()));
        }
    }
    let owner = |upto: usize, name: &str| -> Option<Source> {
        roots[..upto]
            .iter()
            .zip(&segments[..upto])
            .find(|(_, seg)| {
                seg.records.binary_search_by(|r| r.name().cmp(name)).is_ok()
                    || seg.broken.iter().any(|b| b.name == name)
            })
            .map(|(root, _)| root.source.clone())
    };
    // Per segment: who shadows each good and each broken workflow.
    type Shadows = (Vec<Option<Source>>, Vec<Option<Source>>);
    let shadows: Vec<Shadows> = segments
        .iter()
        .enumerate()
        .map(|(rank, seg)| {
            (
                seg.records.iter().map(|r| owner(rank, r.name())).collect(),
                seg.broken.iter().map(|b| owner(rank, &b.name)).collect(),
            )
        })
        .collect();
    for (rank, ((root, seg), (good, bad))) in roots.iter().zip(segments).zip(shadows).enumerate() {
        for (record, shadowed_by) in seg.records.into_iter().zip(good) {
            index.workflows.push(IndexedWorkflow {
                record,
                source: root.source.clone(),
                rank,
                shadowed_by,
            });
        }
        for (b, shadowed_by) in seg.broken.into_iter().zip(bad) {
            index.broken.push(BrokenWorkflow {
                name: b.name,
                source: root.source.clone(),
                diagnostics: b.diagnostics,
                shadowed_by,
            });
        }
    }
    Ok(index)
}
