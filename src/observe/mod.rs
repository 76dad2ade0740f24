//! Observability: logging set-up (and, in later layers, the audit chain and reports).

pub mod log;
pub mod query;
pub mod time;
