//! The default library compiled into the binary (`library/` at build time).

use crate::model::StaticTree;
use std::sync::OnceLock;

mod files {
    include!(concat!(env!("OUT_DIR"), "/library.rs"));
}

/// The whole embedded library as one tree: `<workflow>/workflow.yml`, …
pub fn library() -> &'static StaticTree {
    static TREE: OnceLock<StaticTree> = OnceLock::new();
    TREE.get_or_init(|| StaticTree::new("embedded:", files::FILES.to_vec()))
}

/// Names of the embedded workflows: folders with a `workflow.yml`.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = files::FILES
        .iter()
        .filter_map(|(p, _)| p.strip_suffix("/workflow.yml"))
        .filter(|n| !n.contains('/'))
        .collect();
    names.sort_unstable();
    names
}
