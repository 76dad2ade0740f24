//! `.ddx/config.yml`: the project's shared ddx settings (registered repositories, and later the
//! agent command, trusted sources and hook policy).
//!
//! The file belongs to the team and is committed, so saving it loses nothing: keys ddx does not
//! know are kept, and top-level sections whose value did not change are written back byte for
//! byte, comments included. The write is atomic (a temporary file renamed over the old one).

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Where the config lives inside the work tree.
pub const CONFIG_PATH: &str = ".ddx/config.yml";

/// Why the config could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), location(*line, *column))]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {message}", path.display())]
    Serialize { path: PathBuf, message: String },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// A registered catalog repository (`ddx repo add`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositoryConfig {
    pub name: String,
    pub url: String,
    /// The branch to fetch; the remote's default branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Keys ddx does not interpret, kept as written.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// The upstream the project library `.ddx/library/` follows (`ddx update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryConfig {
    pub url: String,
    /// The branch to follow; the remote's default branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Keys ddx does not interpret, kept as written.
    #[serde(flatten)]
    pub extra: Mapping,
}

/// The whole `.ddx/config.yml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<RepositoryConfig>,
    /// The upstream of the project library, once `ddx update --from` named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryConfig>,
    /// Top-level keys ddx does not interpret (yet), kept as written.
    #[serde(flatten)]
    pub extra: Mapping,
    /// The text the config was read from, so that saving can keep what did not change.
    #[serde(skip)]
    original: Option<String>,
}

impl Config {
    /// The config file of a work tree.
    pub fn path(work_dir: &Path) -> PathBuf {
        work_dir.join(CONFIG_PATH)
    }

    /// Reads the config of a work tree; a missing or empty file is an empty config.
    pub fn load(work_dir: &Path) -> Result<Config, ConfigError> {
        let path = Self::path(work_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&path, &text)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let blank = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
        let mut config = if blank {
            Config::default()
        } else {
            serde_yaml::from_str::<Config>(text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
                let message = e.to_string();
                let message = match message.rfind(" at line ") {
                    Some(i) => message[..i].to_owned(),
                    None => message,
                };
                ConfigError::Parse {
                    path: path.to_owned(),
                    line,
                    column,
                    message,
                }
            })?
        };
        config.original = Some(text.to_owned());
        Ok(config)
    }

    pub fn repository(&self, name: &str) -> Option<&RepositoryConfig> {
        self.repositories.iter().find(|r| r.name == name)
    }

    /// The text this config saves as: unchanged top-level sections keep their exact text.
    pub fn render(&self) -> Result<String, String> {
        let value = serde_yaml::to_value(self).map_err(|e| e.to_string())?;
        let new = match value {
            Value::Mapping(m) => m,
            _ => Mapping::new(),
        };
        if let Some(text) = self.original.as_deref().filter(|t| !t.trim().is_empty()) {
            if let Some(spliced) = splice(text, &new) {
                return Ok(spliced);
            }
        }
        if new.is_empty() {
            return Ok(String::new());
        }
        serde_yaml::to_string(&new).map_err(|e| e.to_string())
    }

    /// Writes the config atomically into the work tree (creating `.ddx/` when needed).
    pub fn save(&mut self, work_dir: &Path) -> Result<(), ConfigError> {
        let path = Self::path(work_dir);
        let text = self.render().map_err(|message| ConfigError::Serialize {
            path: path.clone(),
            message,
        })?;
        write_atomically(&path, text.as_bytes()).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })?;
        self.original = Some(text);
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// One top-level `key:` section of a YAML file: the comments and blank lines before it, then
/// the key's own lines.
struct Section<'t> {
    key: Option<String>,
    lead: Vec<&'t str>,
    body: Vec<&'t str>,
}

/// The top-level key a line opens, if it opens one (`key:` at column 0).
fn top_level_key(line: &str) -> Option<Result<String, ()>> {
    let first = line.chars().next()?;
    if line.starts_with("---") || line.starts_with("...") || matches!(first, '{' | '[') {
        return Some(Err(()));
    }
    // Sequence items may sit at column 0 under their key (`key:\n- item`).
    if first.is_whitespace() || first == '#' || first == '-' {
        return None;
    }
    let (key, _) = line.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    Some(Ok(key.to_owned()))
}

/// Rewrites only the top-level sections of `text` whose values differ from `new`, keeping the
/// rest byte for byte. `None` when the file's shape is not simple enough to do that safely.
fn splice(text: &str, new: &Mapping) -> Option<String> {
    let old = match serde_yaml::from_str::<Value>(text).ok()? {
        Value::Mapping(m) => m,
        _ => return None,
    };
    let mut sections: Vec<Section<'_>> = vec![Section {
        key: None,
        lead: Vec::new(),
        body: Vec::new(),
    }];
    for line in text.split_inclusive('\n') {
        match top_level_key(line) {
            Some(Err(())) => return None,
            Some(Ok(key)) => {
                // Comments and blank lines at the end of the previous section introduce this one.
                let prev = sections.last_mut().expect("there is always a section");
                let keep = prev
                    .body
                    .iter()
                    .rposition(|l| !(l.trim().is_empty() || l.starts_with('#')))
                    .map_or(0, |i| i + 1);
                let lead = if prev.key.is_some() {
                    prev.body.split_off(keep)
                } else {
                    std::mem::take(&mut prev.body)
                };
                sections.push(Section {
                    key: Some(key),
                    lead,
                    body: vec![line],
                });
            }
            None => sections
                .last_mut()
                .expect("there is always a section")
                .body
                .push(line),
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for s in &sections {
        out.extend(s.lead.iter().copied());
        let Some(key) = &s.key else {
            out.extend(s.body.iter().copied());
            continue;
        };
        if !seen.insert(key.clone()) {
            return None;
        }
        let k = Value::String(key.clone());
        match (old.get(&k), new.get(&k)) {
            (Some(o), Some(n)) if o == n => out.extend(s.body.iter().copied()),
            (_, Some(n)) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&render_entry(&k, n)?);
            }
            (_, None) => {}
        }
    }
    for (k, v) in new {
        let Value::String(key) = k else { return None };
        if !seen.contains(key) {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&render_entry(k, v)?);
        }
    }
    // Only trust the splice when it reads back as exactly what we meant to write.
    let check = if out.trim().is_empty() {
        Mapping::new()
    } else {
        match serde_yaml::from_str::<Value>(&out).ok()? {
            Value::Mapping(m) => m,
            Value::Null => Mapping::new(),
            _ => return None,
        }
    };
    (&check == new).then_some(out)
}

fn render_entry(key: &Value, value: &Value) -> Option<String> {
    let mut m = Mapping::new();
    m.insert(key.clone(), value.clone());
    serde_yaml::to_string(&m).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str, url: &str) -> RepositoryConfig {
        RepositoryConfig {
            name: name.into(),
            url: url.into(),
            branch: None,
            extra: Mapping::new(),
        }
    }

    #[test]
    fn missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert!(c.repositories.is_empty());
        assert!(c.extra.is_empty());
    }

    #[test]
    fn keeps_unknown_keys_and_comments_of_untouched_sections() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# team settings\nagent:\n  command: claude   # the agent we use\n\nrepositories:\n  - name: old\n    url: /x\n    trusted: true\n\n# hooks below\nhooks: {policy: strict}\n";
        std::fs::create_dir_all(dir.path().join(".ddx")).unwrap();
        std::fs::write(dir.path().join(CONFIG_PATH), text).unwrap();
        let mut c = Config::load(dir.path()).unwrap();
        assert_eq!(c.repositories[0].extra.len(), 1, "trusted is kept");
        c.repositories.push(repo("team", "/srv/team.git"));
        c.save(dir.path()).unwrap();
        let saved = std::fs::read_to_string(dir.path().join(CONFIG_PATH)).unwrap();
        assert!(
            saved
                .starts_with("# team settings\nagent:\n  command: claude   # the agent we use\n\n"),
            "{saved}"
        );
        assert!(
            saved.ends_with("# hooks below\nhooks: {policy: strict}\n"),
            "{saved}"
        );
        let again = Config::load(dir.path()).unwrap();
        assert_eq!(again.repositories.len(), 2);
        assert_eq!(again.repositories[0].extra, c.repositories[0].extra);
        assert_eq!(again.repositories[1].url, "/srv/team.git");
        assert_eq!(again.extra, c.extra);
    }

    #[test]
    fn an_unchanged_config_saves_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let text = "repositories:\n- {name: a, url: /a}   # flow style, kept\nother: 1\n";
        std::fs::create_dir_all(dir.path().join(".ddx")).unwrap();
        std::fs::write(dir.path().join(CONFIG_PATH), text).unwrap();
        let mut c = Config::load(dir.path()).unwrap();
        c.save(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CONFIG_PATH)).unwrap(),
            text
        );
    }

    #[test]
    fn removing_the_last_repository_drops_the_section() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ddx")).unwrap();
        std::fs::write(
            dir.path().join(CONFIG_PATH),
            "repositories:\n  - name: a\n    url: /a\nagent: x\n",
        )
        .unwrap();
        let mut c = Config::load(dir.path()).unwrap();
        c.repositories.clear();
        c.save(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CONFIG_PATH)).unwrap(),
            "agent: x\n"
        );
    }

    #[test]
    fn the_library_upstream_is_added_keeping_the_rest_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# team settings\nrepositories:\n  - name: a\n    url: /a   # ours\nagent: x\n";
        std::fs::create_dir_all(dir.path().join(".ddx")).unwrap();
        std::fs::write(dir.path().join(CONFIG_PATH), text).unwrap();
        let mut c = Config::load(dir.path()).unwrap();
        assert_eq!(c.library, None);
        c.library = Some(LibraryConfig {
            url: "/srv/library.git".into(),
            branch: Some("stable".into()),
            extra: Mapping::new(),
        });
        c.save(dir.path()).unwrap();
        let saved = std::fs::read_to_string(dir.path().join(CONFIG_PATH)).unwrap();
        assert_eq!(
            saved,
            format!("{text}library:\n  url: /srv/library.git\n  branch: stable\n")
        );
        let again = Config::load(dir.path()).unwrap();
        assert_eq!(again.library, c.library);
        assert_eq!(again.repositories.len(), 1);
    }

    #[test]
    fn a_broken_file_names_where() {
        let err = Config::parse(Path::new("c.yml"), "repositories: [\n").unwrap_err();
        assert!(
            matches!(err, ConfigError::Parse { line: Some(_), .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("c.yml:"), "{err}");
    }
}
