//! The store: the only module that talks to git objects and refs (DESIGN §4, §8).
//!
//! [`repo`] opens the project's repository and refuses the ones ddx cannot safely write to;
//! [`tree`] reads workflow files straight from git tree objects; [`refs`] names the
//! `refs/ddx/*` layout; [`event`] writes and reads event commits; [`audit`] the audit chain;
//! [`transaction`] is the one way state changes (objects first, then every ref in one
//! compare-and-swap transaction); [`pending`] makes an interrupted transaction recoverable;
//! [`heads`] remembers what ddx wrote; [`chain`] reads whole chains as they really are (for
//! verification and reports); [`verified`] remembers the heads verification found intact.

pub mod audit;
pub mod chain;
pub mod event;
pub mod heads;
pub mod pending;
pub mod refs;
pub mod repo;
pub mod transaction;
pub mod tree;
pub mod verified;

pub use event::Identity;
pub use refs::LookupError;
pub use repo::{Repo, StoreError};
pub use tree::GitTree;
