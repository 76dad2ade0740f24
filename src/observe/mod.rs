//! Observability: logging ([`log`], [`query`]), and the audit chain read back: queries
//! ([`audit`]), verification ([`verify`]), compliance reports ([`report`]) and exports ([`export`]).

pub mod audit;
pub mod export;
pub mod log;
pub mod query;
pub mod report;
pub mod time;
pub mod verify;
