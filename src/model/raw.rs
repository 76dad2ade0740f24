//! Raw definition types: serde mirrors of the files a workflow is made of.
//!
//! These types only describe what the files say. Keys the model does not interpret are kept in
//! `extra` (never dropped) and every type serializes back, so a round trip loses nothing.
//! Resolving them into the engine's model happens in [`super::load`].

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Keys of a mapping that no raw field claims.
pub type Extra = BTreeMap<String, serde_yaml::Value>;

/// The fields a raw type knows, used to tell a misspelt key from an extension key.
pub trait KnownFields {
    const FIELDS: &'static [&'static str];
}

/// A scalar written as a string, number or boolean, kept as its text (`version: 1.0` stays "1.0").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scalar(pub String);

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One string or a list of strings (HELIX writes gate `validation` both ways).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `workflow.yml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawWorkflow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<RawVariable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<RawPhase>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawWorkflow {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "version",
        "description",
        "author",
        "created",
        "category",
        "tags",
        "variables",
        "phases",
    ];
}

/// A variable a workflow asks for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawVariable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawVariable {
    const FIELDS: &'static [&'static str] =
        &["name", "description", "prompt", "required", "default"];
}

/// A phase as written in `workflow.yml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawPhase {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_duration: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_gates: Vec<RawCriterion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_criteria: Vec<RawCriterion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_paths: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawPhase {
    const FIELDS: &'static [&'static str] = &[
        "id",
        "order",
        "name",
        "description",
        "required_role",
        "estimated_duration",
        "depends_on",
        "when",
        "input_gates",
        "exit_criteria",
        "protected_paths",
        "allowed_paths",
    ];
}

/// A criterion: a plain string (a human criterion) or an object with `criteria:`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawCriterion {
    Text(String),
    Gate(Box<RawGate>),
}

impl Serialize for RawCriterion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RawCriterion::Text(t) => s.serialize_str(t),
            RawCriterion::Gate(g) => g.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RawCriterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCriterion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a criterion: a string, or a mapping with `criteria:`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCriterion, E> {
                Ok(RawCriterion::Text(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawCriterion, A::Error> {
                RawGate::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|g| RawCriterion::Gate(Box::new(g)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A criterion written as an object (HELIX gate files, and our machine-checkable criteria).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawGate {
    pub criteria: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<RawCheck>,
    /// `on: commit` makes the pre-commit hook evaluate this criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// Paths under review: whoever authored commits touching them may not approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separate_from: Option<OneOrMany>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawGate {
    const FIELDS: &'static [&'static str] = &[
        "criteria",
        "required",
        "source",
        "validation",
        "evidence",
        "check",
        "on",
        "separate_from",
    ];
}

/// A machine check: exactly one kind key, plus the options of that kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_exists: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob_count: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_ids: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawCheck {
    const FIELDS: &'static [&'static str] = &[
        "file_exists",
        "glob_count",
        "pattern",
        "unique_ids",
        "command",
        "phase_completed",
        "committed",
        "variable_set",
        "filled",
        "path",
        "expected",
        "timeout",
    ];
}

/// `phases/NN-id/input-gates.yml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawInputGatesFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_gates: Vec<RawCriterion>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawInputGatesFile {
    const FIELDS: &'static [&'static str] = &["input_gates"];
}

/// `phases/NN-id/exit-gates.yml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawExitGatesFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_gates: Vec<RawCriterion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_rules: Vec<RawValidationRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<RawTransition>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawExitGatesFile {
    const FIELDS: &'static [&'static str] = &["exit_gates", "validation_rules", "transition"];
}

/// A HELIX automated validation rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawValidationRule {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Scalar>,
    /// A named check (`unique_ids`, or a name ddx does not know, which stays a human criterion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawValidationRule {
    const FIELDS: &'static [&'static str] = &[
        "rule",
        "description",
        "path",
        "pattern",
        "expected",
        "check",
        "severity",
    ];
}

/// The HELIX `transition:` block of an exit-gates file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawTransition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_transition_tasks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_conditions: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawTransition {
    const FIELDS: &'static [&'static str] = &[
        "to_phase",
        "approval_required",
        "approvers",
        "pre_transition_tasks",
        "rollback_conditions",
    ];
}

/// An artifact's `meta.yml`, in either dialect: flat (`name:` at the top) or nested
/// (`artifact: {name, id, type, phase}`). Only the fields the engine uses are typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawArtifactMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<RawArtifactHeader>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<RawOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_order: Option<serde_yaml::Value>,
    /// Nested dialect: `workflow: {creation_order, …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<RawMetaWorkflow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<RawMetaVariables>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub informs: Vec<String>,
    /// Nested dialect: `relationships: {informs: […], …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationships: Option<RawRelationships>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `artifact:` of the nested meta.yml dialect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawArtifactHeader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `output:` of a meta.yml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `workflow:` of the nested meta.yml dialect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawMetaWorkflow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_order: Option<serde_yaml::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `relationships:` of the nested meta.yml dialect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawRelationships {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub informs: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Artifact variables: `{required: [..], optional: [..]}` or a list of variable objects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "`required:`/`optional:` lists, or a list of variables"
)]
pub enum RawMetaVariables {
    Split {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        required: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        optional: Vec<String>,
    },
    List(Vec<RawVariable>),
}

/// Optional YAML front matter of an action's markdown.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawActionFront {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The action runs only while its phase is in progress (else it only warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_phase_only: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawActionFront {
    const FIELDS: &'static [&'static str] =
        &["name", "description", "command", "timeout", "in_phase_only"];
}

/// `metadata.yml` beside `workflow.yml`: catalog metadata (our extension).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<RawCompatibility>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<RawPhaseSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<serde_yaml::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KnownFields for RawMetadata {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "category",
        "keywords",
        "tags",
        "compatibility",
        "prerequisites",
        "phases",
        "statistics",
        "rating",
    ];
}

/// `compatibility:` of metadata.yml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawCompatibility {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One phase summary of metadata.yml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawPhaseSummary {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `state-rules.yml`: globs that detect a project's phase. Kept whole; the analyzer reads it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawStateRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}
