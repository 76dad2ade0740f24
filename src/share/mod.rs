//! Sharing catalogs and state between repositories: registered repositories ([`repos`]), and in
//! later layers library updates, upstream contributions and `refs/ddx/*` sync.

pub mod contribute;
pub mod repos;
pub mod sync;
pub mod update;
