//! The "tree of files" that workflow definitions are read from.
//!
//! One small trait, [`FileTree`], is all the loader needs: a directory on disk, a git tree object
//! and the library embedded in the binary all implement it, so one loader reads them all.

use std::fmt;
use std::path::{Path, PathBuf};

/// Largest file the loader reads; anything bigger is refused with a clear error.
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// Why a file of a tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{path} is {size} bytes, more than the {limit} bytes a workflow file may have")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {message}")]
    Other { path: String, message: String },
}

/// A read-only tree of files addressed by `/`-separated relative paths.
pub trait FileTree: Send + Sync {
    /// Every file of the tree, as sorted relative paths with `/` separators.
    fn files(&self) -> Result<Vec<String>, TreeError>;

    /// The bytes of one file, `None` when it does not exist. Files over `limit` bytes are refused.
    fn read_limited(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TreeError>;

    /// How to name a file of this tree in a message (a real path where there is one).
    fn display(&self, path: &str) -> String;

    /// The bytes of one file, with the default size limit.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        self.read_limited(path, MAX_FILE_SIZE)
    }

    /// The id of the git tree object this tree is, when it is one: an instance then pins the
    /// workflow by reusing that tree instead of writing its files again.
    fn git_tree_id(&self) -> Option<crate::store::ObjectId> {
        None
    }
}

/// A directory on disk. Symbolic links are not followed: a workflow is what lies inside it.
#[derive(Debug, Clone)]
pub struct DirTree {
    root: PathBuf,
}

impl DirTree {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirTree { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), TreeError> {
        let entries = std::fs::read_dir(dir).map_err(|source| TreeError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| TreeError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                // A name that is not UTF-8 cannot be addressed by a workflow: skip it.
                continue;
            };
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type().map_err(|source| TreeError::Io {
                path: entry.path().display().to_string(),
                source,
            })?;
            if kind.is_dir() {
                if name == ".git" {
                    continue;
                }
                self.walk(&entry.path(), &rel, out)?;
            } else if kind.is_file() {
                out.push(rel);
            }
        }
        Ok(())
    }

    fn path_of(&self, rel: &str) -> Option<PathBuf> {
        if rel.split('/').any(|c| c == ".." || c.is_empty()) || rel.starts_with('/') {
            return None;
        }
        Some(self.root.join(rel))
    }
}

impl FileTree for DirTree {
    fn files(&self) -> Result<Vec<String>, TreeError> {
        let mut out = Vec::new();
        self.walk(&self.root, "", &mut out)?;
        out.sort();
        Ok(out)
    }

    fn read_limited(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TreeError> {
        let Some(full) = self.path_of(path) else {
            return Ok(None);
        };
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TreeError::Io {
                    path: full.display().to_string(),
                    source,
                })
            }
        };
        if !meta.is_file() {
            return Ok(None);
        }
        if meta.len() > limit {
            return Err(TreeError::TooLarge {
                path: full.display().to_string(),
                size: meta.len(),
                limit,
            });
        }
        std::fs::read(&full)
            .map(Some)
            .map_err(|source| TreeError::Io {
                path: full.display().to_string(),
                source,
            })
    }

    fn display(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }
}

/// A tree of static files, such as the library compiled into the binary.
#[derive(Clone)]
pub struct StaticTree {
    label: String,
    files: Vec<(&'static str, &'static [u8])>,
}

impl StaticTree {
    /// `files` are relative paths with their contents; `label` prefixes displayed paths.
    pub fn new(label: impl Into<String>, mut files: Vec<(&'static str, &'static [u8])>) -> Self {
        files.sort_by(|a, b| a.0.cmp(b.0));
        StaticTree {
            label: label.into(),
            files,
        }
    }
}

impl fmt::Debug for StaticTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTree")
            .field("label", &self.label)
            .field("files", &self.files.len())
            .finish()
    }
}

impl FileTree for StaticTree {
    fn files(&self) -> Result<Vec<String>, TreeError> {
        Ok(self.files.iter().map(|(p, _)| (*p).to_owned()).collect())
    }

    fn read_limited(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TreeError> {
        match self.files.binary_search_by(|(p, _)| (*p).cmp(path)) {
            Ok(i) => {
                let data = self.files[i].1;
                if data.len() as u64 > limit {
                    return Err(TreeError::TooLarge {
                        path: self.display(path),
                        size: data.len() as u64,
                        limit,
                    });
                }
                Ok(Some(data.to_vec()))
            }
            Err(_) => Ok(None),
        }
    }

    fn display(&self, path: &str) -> String {
        format!("{}/{}", self.label, path)
    }
}

/// A file of a [`MemTree`]: its bytes, or only its size when it was over the read limit.
#[derive(Debug, Clone)]
pub enum MemFile {
    Data(Vec<u8>),
    TooLarge(u64),
}

/// Files held in memory, such as a snapshot of a git tree read in one go.
#[derive(Debug, Clone)]
pub struct MemTree {
    label: String,
    files: Vec<(String, MemFile)>,
}

impl MemTree {
    /// `files` are relative paths with their contents; `label` prefixes displayed paths.
    pub fn new(label: impl Into<String>, mut files: Vec<(String, MemFile)>) -> Self {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        MemTree {
            label: label.into(),
            files,
        }
    }
}

impl FileTree for MemTree {
    fn files(&self) -> Result<Vec<String>, TreeError> {
        Ok(self.files.iter().map(|(p, _)| p.clone()).collect())
    }

    fn read_limited(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TreeError> {
        let Ok(i) = self.files.binary_search_by(|(p, _)| p.as_str().cmp(path)) else {
            return Ok(None);
        };
        let size = match &self.files[i].1 {
            MemFile::Data(d) => d.len() as u64,
            MemFile::TooLarge(size) => *size,
        };
        match &self.files[i].1 {
            MemFile::Data(d) if size <= limit => Ok(Some(d.clone())),
            _ => Err(TreeError::TooLarge {
                path: self.display(path),
                size,
                limit,
            }),
        }
    }

    fn display(&self, path: &str) -> String {
        if path.is_empty() {
            self.label.clone()
        } else {
            format!("{}/{}", self.label, path)
        }
    }
}

/// A view of a sub-folder of another tree.
pub struct SubTree<'a> {
    inner: &'a dyn FileTree,
    prefix: String,
}

impl<'a> SubTree<'a> {
    pub fn new(inner: &'a dyn FileTree, prefix: &str) -> Self {
        SubTree {
            inner,
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    fn full(&self, path: &str) -> String {
        format!("{}/{}", self.prefix, path)
    }
}

impl FileTree for SubTree<'_> {
    fn files(&self) -> Result<Vec<String>, TreeError> {
        let lead = format!("{}/", self.prefix);
        Ok(self
            .inner
            .files()?
            .into_iter()
            .filter_map(|p| p.strip_prefix(&lead).map(str::to_owned))
            .collect())
    }

    fn read_limited(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, TreeError> {
        self.inner.read_limited(&self.full(path), limit)
    }

    fn display(&self, path: &str) -> String {
        self.inner.display(&self.full(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_tree_lists_and_reads_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.yml"), "x: 1").unwrap();
        std::fs::write(dir.path().join("top.md"), "# t").unwrap();
        let tree = DirTree::new(dir.path());
        assert_eq!(tree.files().unwrap(), vec!["a/b/c.yml", "top.md"]);
        assert_eq!(tree.read("a/b/c.yml").unwrap().unwrap(), b"x: 1");
        assert!(tree.read("missing").unwrap().is_none());
        assert!(tree.read("../escape").unwrap().is_none());
        let sub = SubTree::new(&tree, "a");
        assert_eq!(sub.files().unwrap(), vec!["b/c.yml"]);
        assert!(sub.read("b/c.yml").unwrap().is_some());
    }

    #[test]
    fn dir_tree_refuses_files_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![b'a'; 100]).unwrap();
        let err = DirTree::new(dir.path())
            .read_limited("big", 10)
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("100 bytes, more than the 10 bytes"));
    }

    #[cfg(unix)]
    #[test]
    fn dir_tree_does_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        let tree = DirTree::new(dir.path());
        assert!(tree.files().unwrap().is_empty());
        assert!(tree.read("link").unwrap().is_none());
    }
}
