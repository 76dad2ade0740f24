//! Which work-tree paths git ignores. Checks never read an ignored file that is not tracked
//! (DESIGN §7): that is where secrets (`.env`, keys, build output) live.

use super::{repo::Repo, StoreError};
use std::cell::RefCell;

/// The ignore rules of a work tree (`.gitignore`, `info/exclude`, `core.excludesFile`) and its
/// index, for asking path by path.
pub struct Ignored<'r> {
    stack: RefCell<gix::AttributeStack<'r>>,
    index: gix::worktree::Index,
}

impl<'r> Ignored<'r> {
    pub fn new(repo: &'r Repo) -> Result<Self, StoreError> {
        let g = repo.gix();
        let index = g
            .index_or_empty()
            .map_err(|e| StoreError::git("reading the index", e))?;
        let stack = g
            .excludes(
                &index,
                None,
                gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
            )
            .map_err(|e| StoreError::git("reading the ignore rules", e))?;
        Ok(Ignored {
            stack: RefCell::new(stack),
            index,
        })
    }

    /// Is `rel` (a file, or a folder when `dir`) ignored and not tracked? A path the rules
    /// cannot be asked about counts as ignored: a check reads too little rather than a secret.
    pub fn is_ignored(&self, rel: &str, dir: bool) -> bool {
        use gix::bstr::ByteSlice;
        if !dir && self.index.entry_by_path(rel.as_bytes().as_bstr()).is_some() {
            return false;
        }
        let mode = if dir {
            gix::index::entry::Mode::DIR
        } else {
            gix::index::entry::Mode::FILE
        };
        let mut stack = self.stack.borrow_mut();
        stack
            .at_entry(rel.as_bytes().as_bstr(), Some(mode))
            .map_or(true, |p| p.is_excluded())
    }
}
