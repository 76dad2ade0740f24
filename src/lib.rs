//! ddx: a git-native workflow engine.
//!
//! The library owns all logic: the definition [`model`], the [`catalog`] of workflows, and (in
//! later layers) the store, engine and observability. The [`cli`] module parses arguments,
//! calls the library and prints; the `ddx` and `git-ddx` binaries only call [`cli::main`].

pub mod catalog;
pub mod cli;
pub mod engine;
pub mod hooks;
pub mod model;
pub mod observe;
pub mod store;
