//! The state document, `state.yml` (format 1): the whole state of an instance after an event.
//!
//! Every event commit carries one, so reading an instance is reading one blob at its tip, never
//! a replay. It holds the instance's status, its variables and context, every phase with its
//! status, times and criteria (with their approvals), counters, and the most recent transitions
//! (bounded: the full history is the commit chain). Unknown formats are refused with a message
//! that says which ddx to use.

use crate::model::{Criterion, Workflow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The format this ddx reads and writes.
pub const FORMAT: u32 = 1;

/// How many transitions `state.yml` keeps; older ones are in the commit chain.
pub const RECENT_TRANSITIONS: usize = 20;

/// Why a state document cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{origin} has state format {found}, but this ddx reads format {FORMAT} only; use a ddx that knows format {found}")]
    UnknownFormat { origin: String, found: u64 },
    #[error("{origin} is not a valid state document: {message}")]
    Invalid { origin: String, message: String },
}

impl crate::store::upgrade::Versioned for State {
    const KIND: &'static str = "state";
    const CURRENT: u32 = FORMAT;
    // Format 1 is the first: no step yet.
    const STEPS: &'static [crate::store::upgrade::Step] = &[];
    fn format(&self) -> u32 {
        self.format
    }
}

/// Instance status (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    Pending,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl InstanceStatus {
    /// Active instances are the ones `--instance` may be left out for.
    pub fn is_active(self) -> bool {
        !matches!(self, InstanceStatus::Completed | InstanceStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Pending => "pending",
            InstanceStatus::Running => "running",
            InstanceStatus::Paused => "paused",
            InstanceStatus::Completed => "completed",
            InstanceStatus::Failed => "failed",
            InstanceStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Phase status (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    Pending,
    Ready,
    InProgress,
    Completed,
    Failed,
    Skipped,
    /// The phase is no longer in the workflow the instance runs (`ddx workflow upgrade`); it
    /// keeps its history and takes no transition.
    Removed,
}

impl PhaseStatus {
    /// Completed or skipped: dependants may go ahead.
    pub fn is_done(self) -> bool {
        matches!(self, PhaseStatus::Completed | PhaseStatus::Skipped)
    }

    /// Whether the phase counts in the instance's progress and status (a removed one does not).
    pub fn counts(self) -> bool {
        self != PhaseStatus::Removed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Pending => "pending",
            PhaseStatus::Ready => "ready",
            PhaseStatus::InProgress => "in_progress",
            PhaseStatus::Completed => "completed",
            PhaseStatus::Failed => "failed",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::Removed => "removed",
        }
    }
}

impl fmt::Display for PhaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which gate of a phase a criterion belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// Must pass before the phase starts.
    Input,
    /// Must pass before the phase completes.
    Exit,
}

impl GateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::Input => "input",
            GateKind::Exit => "exit",
        }
    }
}

/// A person's approval of a human criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `Name <email>`.
    pub by: String,
    /// RFC 3339 UTC.
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A criterion of a phase, as the instance tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionState {
    /// The criterion's text: its key.
    pub criteria: String,
    pub gate: GateKind,
    /// `human`, or the kind of machine check (`file_exists`, `pattern`, …).
    pub kind: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl CriterionState {
    pub fn of(c: &Criterion, gate: GateKind) -> Self {
        CriterionState {
            criteria: c.criteria.clone(),
            gate,
            kind: c
                .check
                .as_ref()
                .map_or_else(|| "human".to_owned(), |k| k.kind().to_owned()),
            required: c.required,
            approval: None,
        }
    }

    pub fn is_human(&self) -> bool {
        self.kind == "human"
    }
}

/// One phase of the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseState {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub status: PhaseStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    /// Why the phase was skipped, failed or reopened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Criteria passed over with `--force`, recorded as a deviation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    #[serde(default)]
    pub criteria: Vec<CriterionState>,
}

/// Counters over the instance's life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Events on the chain, this one included.
    pub events: u64,
    /// Phase transitions (start, complete, skip, fail, reopen).
    pub transitions: u64,
    pub approvals: u64,
}

/// One recent transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    pub at: String,
    pub by: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A file an artifact or action of the instance wrote: the change tracker's record of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The blob id before the write; absent when the file did not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The blob id ddx left; absent when an action deleted the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The blob ddx wrote when it merged a new render of the artifact into the file as the
    /// user had changed it (`workflow set`, `workflow upgrade`): `after` stays the render, the
    /// base of the next merge; absent when ddx wrote the render itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<String>,
    /// What wrote it: `artifact <id>` or `action <id>`.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// RFC 3339 UTC.
    pub at: String,
}

/// Two clones changed the same thing differently: what `ddx sync`'s merge kept and what it set
/// aside. It stays in the state, shown by `workflow status`, `gate check` and `audit report`,
/// until an ordinary command settles it (any transition of its phase; for the instance's own
/// fields, any change of the instance's status).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Conflict {
    /// The phase it concerns; absent for the instance's own fields (status, variables, files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// What differs: `status`, `variable NAME`, `file PATH`, …
    pub field: String,
    /// The value the merge kept (the later side's).
    pub kept: String,
    /// The event commit the kept value came from.
    pub kept_from: String,
    /// The value set aside.
    pub other: String,
    /// The event commit the set-aside value came from.
    pub other_from: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |id: &str| id.chars().take(12).collect::<String>();
        if let Some(p) = &self.phase {
            write!(f, "phase {p}: ")?;
        }
        write!(
            f,
            "{} is `{}` (from {}), the other side had `{}` (from {})",
            self.field,
            self.kept,
            short(&self.kept_from),
            self.other,
            short(&self.other_from)
        )
    }
}

/// The state of an instance: `state.yml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub instance: String,
    pub workflow: String,
    pub version: String,
    /// Where the definition came from at `init` (`embedded`, `path:…`); the definition itself
    /// is pinned in the event's `workflow/` tree.
    pub source: String,
    pub status: InstanceStatus,
    /// The status to return to on `resume`, while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_from: Option<InstanceStatus>,
    pub created: String,
    pub created_by: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    pub phases: Vec<PhaseState>,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub transitions: Vec<TransitionRecord>,
    /// Every file artifacts and actions wrote, by path: the last write of each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileRecord>,
    /// What merges of forked histories could not decide, until settled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

impl State {
    /// A fresh state for `workflow`: every phase pending, criteria from the definition.
    pub fn new(
        workflow: &Workflow,
        instance: &str,
        source: &str,
        variables: BTreeMap<String, String>,
        created: &str,
        created_by: &str,
    ) -> State {
        let phases = workflow
            .phases
            .iter()
            .map(|p| PhaseState {
                id: p.id.clone(),
                name: p.name.clone(),
                status: PhaseStatus::Pending,
                started: None,
                completed: None,
                reason: None,
                forced: Vec::new(),
                criteria: p
                    .input_gates
                    .iter()
                    .map(|c| CriterionState::of(c, GateKind::Input))
                    .chain(
                        p.exit_criteria
                            .iter()
                            .map(|c| CriterionState::of(c, GateKind::Exit)),
                    )
                    .collect(),
            })
            .collect();
        State {
            format: FORMAT,
            instance: instance.to_owned(),
            workflow: workflow.name.clone(),
            version: workflow.version.clone(),
            source: source.to_owned(),
            status: InstanceStatus::Pending,
            paused_from: None,
            created: created.to_owned(),
            created_by: created_by.to_owned(),
            variables,
            context: BTreeMap::new(),
            phases,
            metrics: Metrics::default(),
            transitions: Vec::new(),
            files: BTreeMap::new(),
            conflicts: Vec::new(),
        }
    }

    /// Parses `state.yml` of any known format (through the store's upgrade steps); `origin`
    /// names where it came from in errors.
    pub fn from_yaml(bytes: &[u8], origin: &str) -> Result<State, StateError> {
        use crate::store::upgrade::{self, FormatError};
        upgrade::read::<State>(bytes, origin).map_err(|e| match e {
            FormatError::UnknownFormat { origin, found, .. } => {
                StateError::UnknownFormat { origin, found }
            }
            FormatError::Invalid {
                origin, message, ..
            } => StateError::Invalid { origin, message },
        })
    }

    /// `state.yml`'s bytes, in ddx's canonical encoding (`store::encoding`).
    pub fn to_yaml(&self) -> Vec<u8> {
        crate::store::encoding::to_string(self)
            .expect("a state of strings, integers, maps and lists is inside the encoding")
            .into_bytes()
    }

    pub fn phase(&self, id: &str) -> Option<&PhaseState> {
        self.phases.iter().find(|p| p.id == id)
    }

    pub fn phase_mut(&mut self, id: &str) -> Option<&mut PhaseState> {
        self.phases.iter_mut().find(|p| p.id == id)
    }

    /// Completed and skipped phases as a whole percentage of the phases that count (not the
    /// removed ones).
    pub fn progress(&self) -> u32 {
        let counted = self.phases.iter().filter(|p| p.status.counts()).count();
        if counted == 0 {
            return 100;
        }
        let done = self.phases.iter().filter(|p| p.status.is_done()).count();
        (done * 100 / counted) as u32
    }

    /// Appends to the bounded list of recent transitions.
    pub fn record(&mut self, t: TransitionRecord) {
        self.transitions.push(t);
        if self.transitions.len() > RECENT_TRANSITIONS {
            let extra = self.transitions.len() - RECENT_TRANSITIONS;
            self.transitions.drain(..extra);
        }
    }

    /// The variables and context as a template context (for `when:` conditions).
    pub fn template_context(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.context {
            map.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        for (k, v) in &self.variables {
            map.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        map.insert(
            "workflow".to_owned(),
            serde_json::Value::String(self.workflow.clone()),
        );
        map.insert(
            "instance".to_owned(),
            serde_json::Value::String(self.instance.clone()),
        );
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            format: 1,
            instance: "x-20260114-123456-abcd".into(),
            workflow: "x".into(),
            version: "1.0.0".into(),
            source: "embedded".into(),
            status: InstanceStatus::Running,
            paused_from: None,
            created: "2026-01-14T12:34:56Z".into(),
            created_by: "A <a@b>".into(),
            variables: BTreeMap::from([("project_name".into(), "shop".into())]),
            context: BTreeMap::new(),
            phases: vec![PhaseState {
                id: "frame".into(),
                name: "Frame".into(),
                status: PhaseStatus::InProgress,
                started: Some("2026-01-14T12:34:56Z".into()),
                completed: None,
                reason: None,
                forced: vec![],
                criteria: vec![CriterionState {
                    criteria: "Problem stated".into(),
                    gate: GateKind::Exit,
                    kind: "human".into(),
                    required: true,
                    approval: Some(Approval {
                        by: "A <a@b>".into(),
                        at: "2026-01-14T12:34:56Z".into(),
                        comment: None,
                    }),
                }],
            }],
            metrics: Metrics {
                events: 3,
                transitions: 1,
                approvals: 1,
            },
            transitions: vec![],
            files: BTreeMap::new(),
            conflicts: vec![],
        }
    }

    #[test]
    fn state_round_trips_through_yaml() {
        let s = sample();
        let yaml = s.to_yaml();
        let text = String::from_utf8(yaml.clone()).unwrap();
        assert!(text.starts_with("format: 1\n"), "{text}");
        assert!(text.contains("status: in_progress"), "{text}");
        assert_eq!(State::from_yaml(&yaml, "test").unwrap(), s);
    }

    #[test]
    fn unknown_formats_are_refused_by_name() {
        let err =
            State::from_yaml(b"format: 2\ninstance: x\n", "refs/ddx/instances/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "refs/ddx/instances/x has state format 2, but this ddx reads format 1 only; use a ddx that knows format 2"
        );
        let err = State::from_yaml(b"instance: x\n", "somewhere").unwrap_err();
        assert_eq!(
            err.to_string(),
            "somewhere is not a valid state document: it has no `format` field"
        );
        assert!(State::from_yaml(b"format: 1\n", "x").is_err());
    }

    #[test]
    fn a_whole_state_of_another_format_is_refused_too() {
        // serde_yaml reads it; the format check still applies.
        let mut s = sample();
        s.format = 2;
        let yaml = s.to_yaml();
        assert!(serde_yaml::from_slice::<State>(&yaml).is_ok());
        let err = State::from_yaml(&yaml, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x has state format 2, but this ddx reads format 1 only; use a ddx that knows format 2"
        );
    }

    #[test]
    fn recent_transitions_stay_bounded() {
        let mut s = sample();
        for i in 0..50 {
            s.record(TransitionRecord {
                at: i.to_string(),
                by: "A".into(),
                event: "start".into(),
                phase: None,
                from: "a".into(),
                to: "b".into(),
                reason: None,
            });
        }
        assert_eq!(s.transitions.len(), RECENT_TRANSITIONS);
        assert_eq!(s.transitions[0].at, "30");
    }
}
