//! The store: the only module that talks to git objects and refs (DESIGN §4, §8).
//!
//! [`repo`] opens the project's repository and refuses the ones ddx cannot safely write to;
//! [`tree`] reads workflow files straight from git tree objects.

pub mod repo;
pub mod tree;

pub use repo::{Repo, StoreError};
pub use tree::GitTree;
