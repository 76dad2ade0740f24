//! The store: the only module that talks to git objects and refs (DESIGN §4, §8).
//!
//! [`repo`] opens the project's repository and refuses the ones ddx cannot safely write to;
//! [`tree`] reads workflow files straight from git tree objects; [`library`] finds workflow
//! libraries in trees; [`sources`] keeps fetched catalogs under `refs/ddx/sources/`; [`git`] is
//! the one place that runs the `git` binary; [`refs`] names the `refs/ddx/*` layout and
//! [`refedit`] is the one way refs move (several at once, compare-and-swap); [`event`] writes and reads event commits; [`audit`] the
//! audit chain; [`transaction`] is the one way state changes (objects first, then every ref in
//! one compare-and-swap transaction); [`pending`] makes an interrupted transaction recoverable;
//! [`heads`] remembers what ddx wrote; [`worktree`] compares the work tree with `HEAD` and the
//! index (committed checks, the change tracker of actions); [`pack`] writes many objects at once
//! as one pack; [`chain`] reads whole chains as they
//! really are (for verification and reports), [`preload`] decodes every packed commit once for a
//! verification that reads them all; [`verified`] remembers the heads verification found intact;
//! [`objects`] answers the plain object questions of the layers above (an object's presence, the
//! hash, blob ids, a project commit); [`merge`] merges files three-way with gix and leaves a
//! conflict in the index as git leaves one; [`ratings`] keeps `ddx rate`'s chain on
//! `refs/ddx/ratings`. The gix handle stays inside this module: above it, ids are
//! [`ObjectId`] values and every ref is read through [`refs`].

pub mod ancestry;
pub mod audit;
pub mod chain;
pub mod encoding;
pub mod event;
pub mod git;
pub mod heads;
pub mod ignore;
pub mod library;
pub mod merge;
pub mod notes;
pub mod objects;
pub mod pack;
pub mod pending;
pub mod preload;
pub mod ratings;
pub mod refedit;
pub mod refs;
pub mod repo;
pub mod sources;
pub mod staged;
#[cfg(test)]
mod testing;
pub mod transaction;
pub mod tree;
pub mod upgrade;
pub mod verified;
pub mod worktree;

pub use event::Identity;
/// Object ids, as plain values: the one gix type the layers above the store name.
pub use gix::ObjectId;
pub use objects::HashKind;
pub use refs::LookupError;
pub use repo::{ObjectError, Repo, SharedRepo, StoreError};
pub use tree::GitTree;
