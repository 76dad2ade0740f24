//! Git hooks: one-line shims that call `ddx hooks run <hook>`, installed beside the user's own.
//!
//! The shim (`hooks/shim.sh`) sits between marker lines, so ddx recognises its own hooks. A hook
//! the user already had is moved aside to `<hook>.ddx-chained` and run first by
//! `ddx hooks run`, with the same arguments and standard input; uninstalling moves it back,
//! byte for byte. Installing twice changes nothing.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The hooks ddx installs.
pub const HOOKS: [&str; 4] = ["pre-commit", "commit-msg", "post-commit", "pre-push"];

/// Suffix of a user's hook that ddx moved aside and chains to.
pub const CHAINED_SUFFIX: &str = ".ddx-chained";

const SHIM: &str = include_str!("../hooks/shim.sh");
const BEGIN: &str = "# >>> ddx hooks >>>";

/// What went wrong with a hook file.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{0}` is not a hook ddx manages (pre-commit, commit-msg, post-commit, pre-push)")]
    Unknown(String),
    #[error("{} already exists, so the hook there cannot be moved aside", path.display())]
    ChainedExists { path: PathBuf },
    #[error("cannot update {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HookError + '_ {
    move |source| HookError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The shim for `hook`, with `ddx_path` as the fallback when `ddx` is not on PATH.
pub fn shim(hook: &str, ddx_path: &str) -> String {
    SHIM.replace("@HOOK@", hook).replace("@DDX@", ddx_path)
}

/// Is this file content a ddx shim?
pub fn is_ours(content: &[u8]) -> bool {
    String::from_utf8_lossy(content).contains(BEGIN)
}

/// How one hook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookState {
    /// The ddx shim is installed.
    Installed,
    /// The ddx shim is installed and runs the user's own hook first.
    Chained,
    /// No hook.
    Missing,
    /// The user's own hook, without ddx.
    Foreign,
}

/// One hook's state, for `ddx hooks status`.
#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    pub hook: &'static str,
    pub path: String,
    pub state: HookState,
}

/// What install or uninstall did (or, in a dry run, would do) to one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookChange {
    Installed,
    /// The user's hook was moved aside and is chained.
    InstalledChained,
    /// The shim was rewritten (a newer shim, another ddx path).
    Updated,
    Unchanged,
    Removed,
    /// The user's hook was put back.
    Restored,
    /// Nothing of ddx's was there.
    NotInstalled,
}

impl HookChange {
    pub fn changes(self) -> bool {
        !matches!(self, HookChange::Unchanged | HookChange::NotInstalled)
    }
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, HookError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn chained_path(dir: &Path, hook: &str) -> PathBuf {
    dir.join(format!("{hook}{CHAINED_SUFFIX}"))
}

/// The state of every hook in `dir`.
pub fn status(dir: &Path) -> Result<Vec<HookStatus>, HookError> {
    HOOKS
        .iter()
        .map(|&hook| {
            let path = dir.join(hook);
            let state = match read(&path)? {
                None => HookState::Missing,
                Some(c) if is_ours(&c) => {
                    if chained_path(dir, hook).exists() {
                        HookState::Chained
                    } else {
                        HookState::Installed
                    }
                }
                Some(_) => HookState::Foreign,
            };
            Ok(HookStatus {
                hook,
                path: path.display().to_string(),
                state,
            })
        })
        .collect()
}

fn write_executable(path: &Path, content: &str) -> Result<(), HookError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(path))?;
    std::io::Write::write_all(&mut tmp, content.as_bytes()).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(io(path))?;
    }
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// Installs the shims into `dir`; with `dry_run`, only says what it would do.
pub fn install(
    dir: &Path,
    ddx_path: &str,
    dry_run: bool,
) -> Result<Vec<(&'static str, HookChange)>, HookError> {
    let mut changes = Vec::new();
    // Check everything first, so a refusal leaves every hook as it was.
    for hook in HOOKS {
        let path = dir.join(hook);
        if let Some(c) = read(&path)? {
            if !is_ours(&c) && chained_path(dir, hook).exists() {
                return Err(HookError::ChainedExists {
                    path: chained_path(dir, hook),
                });
            }
        }
    }
    for hook in HOOKS {
        let path = dir.join(hook);
        let wanted = shim(hook, ddx_path);
        let change = match read(&path)? {
            Some(c) if c == wanted.as_bytes() => HookChange::Unchanged,
            Some(c) if is_ours(&c) => HookChange::Updated,
            Some(_) => HookChange::InstalledChained,
            None => HookChange::Installed,
        };
        if !dry_run {
            if change == HookChange::InstalledChained {
                let aside = chained_path(dir, hook);
                std::fs::rename(&path, &aside).map_err(io(&aside))?;
            }
            if change.changes() {
                write_executable(&path, &wanted)?;
            }
        }
        changes.push((hook, change));
    }
    Ok(changes)
}

/// Removes the shims from `dir`, putting back the hooks they chained.
pub fn uninstall(dir: &Path, dry_run: bool) -> Result<Vec<(&'static str, HookChange)>, HookError> {
    let mut changes = Vec::new();
    for hook in HOOKS {
        let path = dir.join(hook);
        let aside = chained_path(dir, hook);
        let change = match read(&path)? {
            Some(c) if is_ours(&c) => {
                if aside.exists() {
                    HookChange::Restored
                } else {
                    HookChange::Removed
                }
            }
            _ => HookChange::NotInstalled,
        };
        if !dry_run {
            match change {
                HookChange::Restored => std::fs::rename(&aside, &path).map_err(io(&path))?,
                HookChange::Removed => std::fs::remove_file(&path).map_err(io(&path))?,
                _ => {}
            }
        }
        changes.push((hook, change));
    }
    Ok(changes)
}

/// Runs the user's own hook that ddx chained, if any, with `args` and `stdin`.
/// Returns its exit code (`None`: there is none).
pub fn run_chained(
    dir: &Path,
    hook: &str,
    args: &[String],
    stdin: &[u8],
    work_dir: &Path,
) -> Result<Option<i32>, HookError> {
    let path = chained_path(dir, hook);
    if !path.is_file() {
        return Ok(None);
    }
    let mut child = std::process::Command::new(&path)
        .args(args)
        .current_dir(work_dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(io(&path))?;
    if let Some(mut input) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = std::io::Write::write_all(&mut input, stdin);
    }
    let status = child.wait().map_err(io(&path))?;
    Ok(Some(status.code().unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_chains_and_uninstall_restores_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mine = b"#!/bin/sh\necho mine\n";
        std::fs::write(dir.path().join("pre-commit"), mine).unwrap();
        let changes = install(dir.path(), "/usr/bin/ddx", false).unwrap();
        assert_eq!(changes[0], ("pre-commit", HookChange::InstalledChained));
        assert_eq!(changes[1], ("commit-msg", HookChange::Installed));
        assert_eq!(
            std::fs::read(dir.path().join("pre-commit.ddx-chained")).unwrap(),
            mine
        );
        let st = status(dir.path()).unwrap();
        assert_eq!(st[0].state, HookState::Chained);
        assert_eq!(st[1].state, HookState::Installed);
        // A second install changes nothing.
        let again = install(dir.path(), "/usr/bin/ddx", false).unwrap();
        assert!(again.iter().all(|(_, c)| *c == HookChange::Unchanged));
        let removed = uninstall(dir.path(), false).unwrap();
        assert_eq!(removed[0], ("pre-commit", HookChange::Restored));
        assert_eq!(std::fs::read(dir.path().join("pre-commit")).unwrap(), mine);
        assert!(!dir.path().join("commit-msg").exists());
        assert!(!dir.path().join("pre-commit.ddx-chained").exists());
    }

    #[test]
    fn dry_run_touches_nothing_and_a_taken_backup_name_refuses_all() {
        let dir = tempfile::tempdir().unwrap();
        let changes = install(dir.path(), "ddx", true).unwrap();
        assert!(changes.iter().all(|(_, c)| *c == HookChange::Installed));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::write(dir.path().join("pre-push"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("pre-push.ddx-chained"), "#!/bin/sh\n").unwrap();
        assert!(matches!(
            install(dir.path(), "ddx", false),
            Err(HookError::ChainedExists { .. })
        ));
        assert!(
            !dir.path().join("pre-commit").exists(),
            "nothing installed after a refusal"
        );
    }
}
