//! A folder held open, in which files are named by short relative paths.
//!
//! Every system call that names a file walks its path one component at a time; the object,
//! ref, reflog and lock files an event writes are seven or more components deep
//! (`/home/…/project/.git/objects/ab/…`), and an event names files about twenty times. Named
//! relative to an open `.git` or `objects` folder (`openat`, `renameat`), each walk is two to
//! four components. A [`super::Repo`] opens these folders once, when first needed, and holds
//! them while it lives — as it holds the repository itself: a repository whose `.git` is
//! replaced under an open `Repo` is not supported either way (writes then fail, as the folder
//! held is gone).
//!
//! Elsewhere than on Unix the same calls use whole paths.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct Dir {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Dir").field(&self.path).finish()
    }
}

impl Dir {
    #[cfg(unix)]
    pub fn open(path: &Path) -> io::Result<Dir> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(path)?;
        Ok(Dir {
            path: path.to_owned(),
            fd: file.into(),
        })
    }

    #[cfg(not(unix))]
    pub fn open(path: &Path) -> io::Result<Dir> {
        if !path.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not a folder"));
        }
        Ok(Dir {
            path: path.to_owned(),
        })
    }

    /// The whole path of `rel`, for messages (and for calls elsewhere than on Unix).
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Creates `rel`, which must not exist, for writing, with permission bits `mode`.
    pub fn create_new(&self, rel: &str, mode: u32) -> io::Result<File> {
        self.open_with(rel, Open::CreateNew(mode))
    }

    /// Opens `rel` for reading.
    pub fn open_read(&self, rel: &str) -> io::Result<File> {
        self.open_with(rel, Open::Read)
    }

    /// Opens `rel` for appending, creating it when missing.
    pub fn open_append(&self, rel: &str) -> io::Result<File> {
        self.open_with(rel, Open::Append)
    }

    /// Opens `rel` for reading and writing, creating it when missing (never truncating).
    pub fn open_rw(&self, rel: &str) -> io::Result<File> {
        self.open_with(rel, Open::ReadWrite)
    }

    #[cfg(unix)]
    fn open_with(&self, rel: &str, how: Open) -> io::Result<File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let name = c_path(rel)?;
        let (flags, mode) = match how {
            Open::CreateNew(mode) => (libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode),
            Open::Read => (libc::O_RDONLY, 0),
            Open::Append => (libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND, 0o666),
            Open::ReadWrite => (libc::O_RDWR | libc::O_CREAT, 0o666),
        };
        loop {
            // SAFETY: `name` is a NUL-terminated string that outlives the call; the folder's
            // descriptor is open while `self` lives.
            let fd = unsafe {
                libc::openat(
                    self.fd.as_raw_fd(),
                    name.as_ptr(),
                    flags | libc::O_CLOEXEC,
                    mode as libc::c_uint,
                )
            };
            if fd >= 0 {
                // SAFETY: a descriptor the kernel has just given us, owned by nothing else.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    #[cfg(not(unix))]
    fn open_with(&self, rel: &str, how: Open) -> io::Result<File> {
        let mut options = std::fs::OpenOptions::new();
        match how {
            Open::CreateNew(_) => options.write(true).create_new(true),
            Open::Read => options.read(true),
            Open::Append => options.append(true).create(true),
            Open::ReadWrite => options.read(true).write(true).create(true).truncate(false),
        };
        options.open(self.join(rel))
    }

    /// Renames `from` to `to` (both in this folder), replacing `to`.
    #[cfg(unix)]
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let (from, to) = (c_path(from)?, c_path(to)?);
        let fd = self.fd.as_raw_fd();
        // SAFETY: both names are NUL-terminated strings that outlive the call.
        if unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[cfg(not(unix))]
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.join(from), self.join(to))
    }

    /// Removes the file `rel`.
    pub fn remove_file(&self, rel: &str) -> io::Result<()> {
        std::fs::remove_file(self.join(rel))
    }

    /// Creates the folder `rel` and any missing parent.
    pub fn create_dir_all(&self, rel: &str) -> io::Result<()> {
        std::fs::create_dir_all(self.join(rel))
    }
}

/// Whether `file` still has a name (it was not removed, or replaced by a rename, since it was
/// opened). Elsewhere than on Unix: never assumed, so nothing is kept open.
pub fn still_linked(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().map(|m| m.nlink() > 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

enum Open {
    CreateNew(u32),
    Read,
    Append,
    ReadWrite,
}

#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;

/// `rel` as the kernel takes it; a relative path only (an absolute one would escape the
/// folder, and ddx never makes one).
#[cfg(unix)]
fn c_path(rel: &str) -> io::Result<std::ffi::CString> {
    if rel.starts_with('/') || rel.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{rel}` is not a path inside the folder"),
        ));
    }
    std::ffi::CString::new(rel).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` holds a NUL byte", rel.escape_debug()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn files_are_made_read_renamed_and_appended_relative_to_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("ab")).unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let mut f = dir.create_new("ab/tmp_1", 0o444).unwrap();
        f.write_all(b"one").unwrap();
        drop(f);
        let e = dir.create_new("ab/tmp_1", 0o444).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        dir.rename("ab/tmp_1", "ab/cd").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("ab/cd")).unwrap(), b"one");
        assert!(!tmp.path().join("ab/tmp_1").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("ab/cd"))
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o444);
        }
        let mut text = String::new();
        dir.open_read("ab/cd")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one");
        for line in ["a\n", "b\n"] {
            dir.open_append("log")
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
        }
        assert_eq!(std::fs::read(tmp.path().join("log")).unwrap(), b"a\nb\n");
        assert_eq!(
            dir.open_read("missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            dir.open_read("/etc/passwd").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            dir.open_read("a\0b").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
