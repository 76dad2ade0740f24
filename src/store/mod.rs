//! The store: the only module that talks to git objects and refs (DESIGN §4, §8).
//!
//! [`repo`] opens the project's repository and refuses the ones ddx cannot safely write to;
//! [`tree`] reads workflow files straight from git tree objects; [`library`] finds workflow
//! libraries in trees; [`sources`] keeps fetched catalogs under `refs/ddx/sources/`; [`git`] is
//! the one place that runs the `git` binary.

pub mod git;
pub mod library;
pub mod repo;
pub mod sources;
pub mod tree;

pub use repo::{Repo, StoreError};
pub use tree::GitTree;
