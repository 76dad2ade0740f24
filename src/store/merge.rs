//! Three-way merges of files, and conflicts left as git leaves them.
//!
//! [`merge_text`] merges two changed versions of a text over their common base with gix's
//! built-in text driver (the one `git merge-file` corresponds to): changes that do not overlap
//! are combined; overlapping ones are kept between `<<<<<<<`, `=======` and `>>>>>>>` marker
//! lines, labelled with where each side came from. [`stage_conflict`] puts the three versions
//! of a conflicted path into the index as stages 1 (base), 2 (ours) and 3 (theirs), so that
//! `git status` shows it unmerged and `git mergetool` can resolve it. [`save_blob`] and
//! [`read_blob`] keep the versions a merge needs in the object database.

use super::event::write_raw;
use super::repo::{Repo, StoreError};
use gix::bstr::BStr;
use gix::merge::blob::builtin_driver::text;
use gix::merge::blob::Resolution;
use gix::ObjectId;

/// What merging one file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub content: Vec<u8>,
    /// Overlapping changes are left between conflict markers in `content`.
    pub conflict: bool,
}

/// The labels written after the conflict markers.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub base: &'a str,
    pub ours: &'a str,
    pub theirs: &'a str,
}

/// Merges `ours` and `theirs` over `base`, line by line.
pub fn merge_text(base: &[u8], ours: &[u8], theirs: &[u8], labels: Labels<'_>) -> Merged {
    if ours == theirs || base == theirs {
        return Merged {
            content: ours.to_vec(),
            conflict: false,
        };
    }
    if base == ours {
        return Merged {
            content: theirs.to_vec(),
            conflict: false,
        };
    }
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()));
    let mut input = gix::diff::blob::InternedInput::default();
    let resolution = text(
        &mut out,
        &mut input,
        text::Labels {
            ancestor: Some(BStr::new(labels.base)),
            current: Some(BStr::new(labels.ours)),
            other: Some(BStr::new(labels.theirs)),
        },
        ours,
        base,
        theirs,
        text::Options::default(),
    );
    Merged {
        content: out,
        conflict: resolution == Resolution::Conflict,
    }
}

/// Whether `data` holds a line that starts a conflict marker as git writes them
/// (`<<<<<<< `, `=======`, `>>>>>>> `).
pub fn has_conflict_markers(data: &[u8]) -> bool {
    data.split(|b| *b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.starts_with(b"<<<<<<< ")
            || line == b"<<<<<<<"
            || line == b"======="
            || line.starts_with(b">>>>>>> ")
            || line == b">>>>>>>"
    })
}

/// Writes `data` into the object database as a blob (as the store writes every object).
pub fn save_blob(repo: &Repo, data: &[u8]) -> Result<ObjectId, StoreError> {
    write_raw(repo, gix::objs::Kind::Blob, data)
}

/// The bytes of blob `id`, if the object database has it (checked against its id).
pub fn read_blob(repo: &Repo, id: &str) -> Option<Vec<u8>> {
    let id = ObjectId::from_hex(id.as_bytes()).ok()?;
    repo.read_object(id, gix::objs::Kind::Blob).ok()
}

/// Leaves `path` unmerged in the index: stage 1 `base`, 2 `ours`, 3 `theirs` (each written to
/// the object database first; an absent side has no stage), as `git merge` leaves a conflict.
pub fn stage_conflict(
    repo: &Repo,
    path: &str,
    base: Option<&[u8]>,
    ours: Option<&[u8]>,
    theirs: Option<&[u8]>,
) -> Result<(), StoreError> {
    let mut stages = Vec::new();
    for (n, side) in [(1u8, base), (2, ours), (3, theirs)] {
        if let Some(data) = side {
            stages.push((n, save_blob(repo, data)?));
        }
    }
    super::git::stage_unmerged(repo.work_dir(), path, &stages)
        .map_err(|e| StoreError::git(format!("leaving {path} unmerged in the index"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: Labels<'static> = Labels {
        base: "rendered",
        ours: "yours",
        theirs: "new",
    };

    #[test]
    fn changes_apart_merge_cleanly() {
        let base = b"# Title\n\none\ntwo\nthree\n";
        let ours = b"# Title\n\none, edited\ntwo\nthree\n";
        let theirs = b"# Title\n\none\ntwo\nthree\nfour\n";
        let m = merge_text(base, ours, theirs, LABELS);
        assert!(!m.conflict);
        assert_eq!(m.content, b"# Title\n\none, edited\ntwo\nthree\nfour\n");
    }

    #[test]
    fn overlapping_changes_are_marked() {
        let base = b"a\nb\nc\n";
        let ours = b"a\nmine\nc\n";
        let theirs = b"a\ntheirs\nc\n";
        let m = merge_text(base, ours, theirs, LABELS);
        assert!(m.conflict);
        let text = String::from_utf8(m.content.clone()).unwrap();
        assert_eq!(
            text,
            "a\n<<<<<<< yours\nmine\n=======\ntheirs\n>>>>>>> new\nc\n"
        );
        assert!(has_conflict_markers(&m.content));
        assert!(!has_conflict_markers(
            b"a\n======= not a marker\n<<<<<<<<\n"
        ));
    }

    #[test]
    fn one_sided_changes_take_that_side() {
        assert_eq!(merge_text(b"a\n", b"a\n", b"b\n", LABELS).content, b"b\n");
        assert_eq!(merge_text(b"a\n", b"b\n", b"a\n", LABELS).content, b"b\n");
        assert_eq!(merge_text(b"a\n", b"b\n", b"b\n", LABELS).content, b"b\n");
    }
}
