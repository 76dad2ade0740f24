//! ddx: a git-native workflow engine.
//!
//! The library owns all logic: the definition [`model`], the [`catalog`] of workflows, the
//! project [`config`], the [`store`] in git, and [`share`] for registered repositories (later
//! layers add the engine). The [`cli`] module parses arguments, calls the library and prints;
//! the `ddx` and `git-ddx` binaries only call [`cli::main`].

pub mod analyze;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod engine;
pub mod hooks;
pub mod model;
pub mod observe;
pub mod share;
pub mod store;
pub mod trust;
