//! The engine: phase graph, transitions, gates, artifacts and actions.

pub mod artifacts;
pub mod checks;
