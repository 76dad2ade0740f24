//! The definition model: raw file types, the resolved workflow the engine runs, and validation.
//!
//! Reading goes in two steps. [`raw`] mirrors the files; [`load`] resolves them into
//! [`Workflow`]: the phase graph, typed checks, artifacts and actions, collecting every problem
//! as a [`Diagnostic`] instead of stopping at the first.

pub mod diag;
pub mod load;
pub mod raw;
pub mod template;
pub mod tree;

pub use diag::{Diagnostic, Severity};
pub use load::{load_workflow, validate, Validation};
pub use tree::{DirTree, FileTree, MemFile, MemTree, StaticTree, SubTree, TreeError};

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Keys of a definition file that the model does not interpret, kept so nothing is lost.
pub type Extra = BTreeMap<String, serde_yaml::Value>;

/// A workflow, resolved and ready for the engine.
#[derive(Debug, Clone, Serialize)]
pub struct Workflow {
    pub name: String,
    pub version: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    pub languages: Vec<String>,
    pub prerequisites: Vec<String>,
    pub variables: Vec<Variable>,
    pub phases: Vec<Phase>,
    /// Workflow-level actions (`actions/*.md`).
    pub actions: Vec<Action>,
    /// Other documents of the workflow (README.md, guides), by path.
    pub documents: Vec<String>,
    /// `metadata.yml` statistics and rating, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics: Option<serde_yaml::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<serde_yaml::Value>,
    /// `state-rules.yml`, kept whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_rules: Option<serde_yaml::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl Workflow {
    pub fn phase(&self, id: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.id == id)
    }

    pub fn artifact_count(&self) -> usize {
        self.phases.iter().map(|p| p.artifacts.len()).sum()
    }

    /// Every action of the workflow: workflow-level first, then phase by phase.
    pub fn all_actions(&self) -> impl Iterator<Item = &Action> {
        self.actions
            .iter()
            .chain(self.phases.iter().flat_map(|p| p.actions.iter()))
    }
}

/// A variable the workflow asks for.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// One phase of the phase graph.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub id: String,
    pub name: String,
    pub order: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The folder under `phases/` holding this phase's files, e.g. `01-frame`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Phases that must be completed (or skipped) before this one is ready.
    pub depends_on: Vec<String>,
    /// A minijinja expression over the variables; false means the phase is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_duration: Option<String>,
    pub input_gates: Vec<Criterion>,
    pub exit_criteria: Vec<Criterion>,
    pub artifacts: Vec<Artifact>,
    pub actions: Vec<Action>,
    /// Globs the phase protects from commits, and globs it allows (hook enforcement).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protected_paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// `README.md` and `enforcer.md` of the phase folder, by path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcer: Option<String>,
    /// Keys of the phase's files the model does not interpret, by file.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Extra>,
}

/// Where a criterion comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionOrigin {
    /// `workflow.yml`.
    Workflow,
    /// `input-gates.yml` or `exit-gates.yml`.
    GateFile,
    /// An `exit-gates.yml` `validation_rules` entry.
    ValidationRule,
}

/// An input gate or exit criterion: human (approved by a person) or machine-checked.
#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    /// The criterion's text; also its key for approvals.
    pub criteria: String,
    pub required: bool,
    /// `None` for a human criterion, which passes when approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    /// The phase the criterion's evidence comes from (`source:`), or `external`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<GateSource>,
    /// What a reviewer checks (HELIX `validation:`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<String>,
    /// A path (optionally `#anchor`) where the evidence lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Evaluated by the pre-commit hook too (`on: commit`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub on_commit: bool,
    /// Paths the criterion reviews (`separate_from:`): their authors may not approve it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub separate_from: Vec<String>,
    pub origin: CriterionOrigin,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl Criterion {
    pub fn is_human(&self) -> bool {
        self.check.is_none()
    }
}

/// The `source:` of a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateSource {
    External,
    Phase(String),
}

/// A machine check (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Check {
    FileExists {
        path: String,
    },
    GlobCount {
        glob: String,
        expected: Expected,
    },
    Pattern {
        regex: String,
        path: String,
        expected: Expected,
    },
    UniqueIds {
        regex: String,
        path: String,
    },
    Command {
        command: String,
        timeout: u64,
    },
    PhaseCompleted {
        phase: String,
    },
    Committed {
        path: String,
    },
    VariableSet {
        name: String,
    },
    /// The file, or every file of the folder, is changed from what ddx rendered and holds no
    /// placeholder or clarification marker.
    Filled {
        path: String,
    },
}

impl Check {
    /// The kind key as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::FileExists { .. } => "file_exists",
            Check::GlobCount { .. } => "glob_count",
            Check::Pattern { .. } => "pattern",
            Check::UniqueIds { .. } => "unique_ids",
            Check::Command { .. } => "command",
            Check::PhaseCompleted { .. } => "phase_completed",
            Check::Committed { .. } => "committed",
            Check::VariableSet { .. } => "variable_set",
            Check::Filled { .. } => "filled",
        }
    }
}

/// Default timeout of a `command` check, in seconds.
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 300;

/// An expected count: `0`, `>0`, `>=N`, `present`, `absent`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub op: CountOp,
    pub n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Expected {
    pub const PRESENT: Expected = Expected {
        op: CountOp::Ge,
        n: 1,
    };
    pub const ABSENT: Expected = Expected {
        op: CountOp::Eq,
        n: 0,
    };

    /// Parses `0`, `3`, `>0`, `>=2`, `<5`, `<=5`, `==1`, `present`, `absent`.
    pub fn parse(text: &str) -> Option<Expected> {
        let t = text.trim();
        match t {
            "present" => return Some(Expected::PRESENT),
            "absent" | "none" => return Some(Expected::ABSENT),
            _ => {}
        }
        let (op, rest) = if let Some(r) = t.strip_prefix(">=") {
            (CountOp::Ge, r)
        } else if let Some(r) = t.strip_prefix("<=") {
            (CountOp::Le, r)
        } else if let Some(r) = t.strip_prefix("==") {
            (CountOp::Eq, r)
        } else if let Some(r) = t.strip_prefix('>') {
            (CountOp::Gt, r)
        } else if let Some(r) = t.strip_prefix('<') {
            (CountOp::Lt, r)
        } else {
            (CountOp::Eq, t)
        };
        rest.trim().parse().ok().map(|n| Expected { op, n })
    }

    pub fn holds(&self, count: u64) -> bool {
        match self.op {
            CountOp::Eq => count == self.n,
            CountOp::Gt => count > self.n,
            CountOp::Ge => count >= self.n,
            CountOp::Lt => count < self.n,
            CountOp::Le => count <= self.n,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Expected::PRESENT {
            return f.write_str("present");
        }
        let op = match self.op {
            CountOp::Eq => "",
            CountOp::Gt => ">",
            CountOp::Ge => ">=",
            CountOp::Lt => "<",
            CountOp::Le => "<=",
        };
        write!(f, "{op}{}", self.n)
    }
}

impl Serialize for Expected {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where an artifact is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum OutputLocation {
    /// One file.
    File(String),
    /// A folder (written as `path/`): the artifact is one file per item inside it.
    Folder(String),
    /// A file name with `{placeholders}`, such as `TD-{id}-{name}.md`.
    Pattern(String),
}

impl OutputLocation {
    pub fn path(&self) -> &str {
        match self {
            OutputLocation::File(p) | OutputLocation::Folder(p) | OutputLocation::Pattern(p) => p,
        }
    }
}

/// Where an artifact stands in its phase's creation order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", untagged)]
pub enum CreationOrder {
    Position(f64),
    #[serde(serialize_with = "serialize_last")]
    Last,
}

fn serialize_last<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("last")
}

/// An artifact of a phase: a template, with its prompt, example and metadata.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The artifact's folder inside the workflow.
    pub folder: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// Further template files of the artifact (e.g. `unit-test.go.template`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_templates: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_order: Option<CreationOrder>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub informs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_variables: Vec<String>,
    /// The whole meta.yml, as written (both dialects carry much more than the engine needs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_yaml::Value>,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ActionKind {
    /// Rendered markdown for an agent (or printed).
    Prompt,
    /// A command, run only from trusted sources.
    Command { command: String, timeout: u64 },
}

/// A workflow or phase action.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub id: String,
    /// The first heading of the markdown, or the id.
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The markdown file, relative to the workflow.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Runs only while its phase is in progress (`in_phase_only: true` in its front matter);
    /// otherwise an action of a phase not in progress runs with a warning.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_phase_only: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// The HELIX transition block of an exit-gates file.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_phase: Option<String>,
    pub approval_required: bool,
    pub approvers: Vec<String>,
    pub pre_transition_tasks: Vec<String>,
    pub rollback_conditions: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_parses_every_documented_form() {
        assert_eq!(Expected::parse("0"), Some(Expected::ABSENT));
        assert_eq!(
            Expected::parse(">0"),
            Some(Expected {
                op: CountOp::Gt,
                n: 0
            })
        );
        assert_eq!(
            Expected::parse(">=3"),
            Some(Expected {
                op: CountOp::Ge,
                n: 3
            })
        );
        assert_eq!(Expected::parse("present"), Some(Expected::PRESENT));
        assert_eq!(Expected::parse("lots"), None);
        assert!(Expected::parse(">0").unwrap().holds(1));
        assert!(!Expected::parse(">0").unwrap().holds(0));
        assert_eq!(Expected::parse(">=3").unwrap().to_string(), ">=3");
        assert_eq!(Expected::parse(">=1").unwrap().to_string(), "present");
    }
}
