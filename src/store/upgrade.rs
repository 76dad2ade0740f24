//! Versioned documents read across formats: `state.yml` and `entry.yml` carry `format: N`.
//!
//! A document is read in three steps, as stgit reads its stack state: its raw version first,
//! then each upgrade step from that version to the next, up to the current one, then the typed
//! document. A version this ddx does not know (0, or newer than it) is refused with a message
//! naming it. Today format 1 is both the first and the current format, so no step exists yet;
//! a format 2 adds `upgrade_1_to_2` to the document's [`Versioned::STEPS`].

use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// One upgrade step: a document of format `n` made into one of format `n + 1`.
pub type Step = fn(Value) -> Result<Value, StepError>;

/// Why a step could not upgrade a document (what it lacks, in a sentence).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl From<&str> for StepError {
    fn from(why: &str) -> StepError {
        StepError(why.to_owned())
    }
}

/// A document with a `format` field that ddx can upgrade.
pub trait Versioned: DeserializeOwned {
    /// What the document is, in messages ("state", "audit entry").
    const KIND: &'static str;
    /// The format this ddx writes.
    const CURRENT: u32;
    /// `STEPS[n - 1]` upgrades format `n` to `n + 1`; `CURRENT - 1` steps in all.
    const STEPS: &'static [Step];
    /// The `format` the typed document carries.
    fn format(&self) -> u32;
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{origin} has {kind} format {found}, but this ddx reads format {current} only; use a ddx that knows format {found}")]
    UnknownFormat {
        origin: String,
        kind: &'static str,
        found: u64,
        current: u32,
    },
    #[error("{origin} is not a valid {kind} document: {message}")]
    Invalid {
        origin: String,
        kind: &'static str,
        message: String,
    },
}

/// Reads a document of any known format as the current one; `origin` names it in errors.
pub fn read<T: Versioned>(bytes: &[u8], origin: &str) -> Result<T, FormatError> {
    // One parse in the usual case (a document of the current format).
    let first = match serde_yaml::from_slice::<T>(bytes) {
        Ok(doc) if doc.format() == T::CURRENT => return Ok(doc),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let invalid = |message: String| FormatError::Invalid {
        origin: origin.to_owned(),
        kind: T::KIND,
        message,
    };
    let value: Value = serde_yaml::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let found = match value.get("format") {
        None => return Err(invalid("it has no `format` field".to_owned())),
        Some(f) => f
            .as_u64()
            .ok_or_else(|| invalid(format!("`format` is not a number: {f:?}")))?,
    };
    let value = upgrade(value, found, T::CURRENT, T::STEPS).map_err(|e| match e {
        Refused::Unknown => FormatError::UnknownFormat {
            origin: origin.to_owned(),
            kind: T::KIND,
            found,
            current: T::CURRENT,
        },
        Refused::Step { from, why } => invalid(format!(
            "upgrading it from format {from} to {} failed: {why}",
            from + 1
        )),
    })?;
    if found == u64::from(T::CURRENT) {
        // Already current, yet not readable: serde_yaml's first message says why.
        return Err(invalid(first.unwrap_or_default()));
    }
    serde_yaml::from_value::<T>(value).map_err(|e| invalid(e.to_string()))
}

enum Refused {
    Unknown,
    Step { from: u64, why: StepError },
}

/// Applies the steps from `found` up to `current`, setting `format` after each.
fn upgrade(mut value: Value, found: u64, current: u32, steps: &[Step]) -> Result<Value, Refused> {
    if found == 0 || found > u64::from(current) {
        return Err(Refused::Unknown);
    }
    for from in found..u64::from(current) {
        let step = usize::try_from(from - 1)
            .ok()
            .and_then(|i| steps.get(i))
            .ok_or(Refused::Unknown)?;
        value = step(value).map_err(|why| Refused::Step { from, why })?;
        if let Value::Mapping(m) = &mut value {
            m.insert("format".into(), Value::from(from + 1));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A document of format 3, whose format 1 named `title` `name` and format 2 lacked `tags`.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        format: u32,
        title: String,
        tags: Vec<String>,
    }

    fn rename_name(mut v: Value) -> Result<Value, StepError> {
        let m = v.as_mapping_mut().ok_or("not a mapping")?;
        let name = m.remove("name").ok_or("it has no `name`")?;
        m.insert("title".into(), name);
        Ok(v)
    }

    fn add_tags(mut v: Value) -> Result<Value, StepError> {
        let m = v.as_mapping_mut().ok_or("not a mapping")?;
        m.insert("tags".into(), Value::Sequence(Vec::new()));
        Ok(v)
    }

    impl Versioned for Doc {
        const KIND: &'static str = "test";
        const CURRENT: u32 = 3;
        const STEPS: &'static [Step] = &[rename_name, add_tags];
        fn format(&self) -> u32 {
            self.format
        }
    }

    #[test]
    fn every_known_format_is_read_as_the_current_one() {
        let want = Doc {
            format: 3,
            title: "t".into(),
            tags: vec![],
        };
        assert_eq!(read::<Doc>(b"format: 1\nname: t\n", "x").unwrap(), want);
        assert_eq!(read::<Doc>(b"format: 2\ntitle: t\n", "x").unwrap(), want);
        assert_eq!(
            read::<Doc>(b"format: 3\ntitle: t\ntags: []\n", "x").unwrap(),
            want
        );
    }

    #[test]
    fn unknown_formats_are_refused_by_name() {
        for (text, found) in [("format: 4\ntitle: t\n", 4), ("format: 0\n", 0)] {
            let err = read::<Doc>(text.as_bytes(), "x.yml").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("x.yml has test format {found}, but this ddx reads format 3 only; use a ddx that knows format {found}")
            );
        }
        let err = read::<Doc>(b"title: t\n", "x.yml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.yml is not a valid test document: it has no `format` field"
        );
        let err = read::<Doc>(b"format: 1\ntitle: t\n", "x.yml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.yml is not a valid test document: upgrading it from format 1 to 2 failed: it has no `name`"
        );
        let err = read::<Doc>(b"format: 3\ntitle: t\n", "x.yml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.yml is not a valid test document: missing field `tags`"),
            "{err}"
        );
    }
}
