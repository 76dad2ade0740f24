//! `ddx gate check`: every criterion of the current phase(s), evaluated, with its evidence.
//!
//! The current phases are the ones in progress (their exit criteria) and the ones ready to
//! start (their input gates); `--phase` picks one phase instead. Evaluation is the same the
//! state machine uses for `phase complete` and `workflow next` ([`super::gates`]), so what this
//! reports is what those commands will decide. Nothing is written.

use super::checks::Evidence;
use super::gates::{self, CriterionStatus, GateContext, MachineChecks};
use super::machine::TransitionError;
use super::state::{Approval, GateKind, PhaseStatus};
use super::{load, load_pinned, EngineError};
use crate::model::diag::did_you_mean;
use crate::store::Repo;
use serde::Serialize;

/// A criterion's verdict in `ddx gate check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A check that passed, or a human criterion someone approved.
    Pass,
    /// A check that failed (or could not run).
    Fail,
    /// A human criterion nobody approved yet.
    NeedsApproval,
}

impl Verdict {
    pub fn of(status: CriterionStatus) -> Verdict {
        match status {
            CriterionStatus::Passed | CriterionStatus::Approved => Verdict::Pass,
            CriterionStatus::NeedsApproval => Verdict::NeedsApproval,
            CriterionStatus::Failed | CriterionStatus::NotEvaluated => Verdict::Fail,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NeedsApproval => "needs_approval",
        }
    }
}

/// One criterion, checked.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionView {
    /// The criterion's text.
    pub criteria: String,
    /// `pass`, `fail` or `needs_approval`.
    pub status: Verdict,
    /// The finer result: `passed`, `failed`, `approved`, `needs_approval`, `not_evaluated`.
    pub result: CriterionStatus,
    /// 1-based position among the phase's criteria (as `ddx gate approve` accepts it).
    pub number: usize,
    pub gate: GateKind,
    /// `human`, or the kind of check.
    pub kind: String,
    pub required: bool,
    /// What the check found, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Files and lines that support the result.
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// One phase's gate, checked.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseCheck {
    pub id: String,
    pub name: String,
    pub status: PhaseStatus,
    /// The gate shown: `input` for a phase not started yet, else `exit`.
    pub gate: GateKind,
    /// Every required criterion passes.
    pub satisfied: bool,
    pub criteria: Vec<CriterionView>,
}

/// The result of `ddx gate check`.
#[derive(Debug, Clone, Serialize)]
pub struct GateCheckView {
    pub instance: String,
    pub workflow: String,
    /// Every phase shown has its gate satisfied.
    pub satisfied: bool,
    pub phases: Vec<PhaseCheck>,
    /// Conflicts a merge of forked histories left, until settled ([`super::state::Conflict`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<super::state::Conflict>,
}

/// Checks the gates of `instance`'s current phases (or of `phase`); `consent` is `--trust`.
pub fn check(
    repo: &Repo,
    instance: &str,
    phase: Option<&str>,
    consent: bool,
) -> Result<GateCheckView, EngineError> {
    super::attach_log(repo, instance);
    let (tip, st) = load(repo, instance)?;
    let wf = load_pinned(repo, instance, &tip)?;
    if let Some(id) = phase {
        if st.phase(id).is_none() {
            let known: Vec<String> = st.phases.iter().map(|p| p.id.clone()).collect();
            return Err(TransitionError::UnknownPhase {
                workflow: st.workflow.clone(),
                phase: id.to_owned(),
                suggestion: did_you_mean(id, known.iter().map(String::as_str)).map(str::to_owned),
                known,
            }
            .into());
        }
    }
    let evaluator = MachineChecks::new(repo, consent, gates::Commands::Run);
    let cx = GateContext {
        work_dir: Some(repo.work_dir()),
        state: &st,
        workflow: Some(&wf),
    };
    let mut phases = Vec::new();
    for p in &st.phases {
        let gate = match (phase, p.status) {
            (Some(id), _) if id != p.id => continue,
            (Some(_), PhaseStatus::Pending | PhaseStatus::Ready) => GateKind::Input,
            (Some(_), _) => GateKind::Exit,
            (None, PhaseStatus::InProgress) => GateKind::Exit,
            (None, PhaseStatus::Ready) => GateKind::Input,
            (None, _) => continue,
        };
        let report = gates::evaluate(p, gate, &cx, &evaluator);
        let satisfied = report.satisfied();
        phases.push(PhaseCheck {
            id: p.id.clone(),
            name: p.name.clone(),
            status: p.status,
            gate,
            satisfied,
            criteria: report
                .items
                .into_iter()
                .map(|e| CriterionView {
                    criteria: e.criteria,
                    status: Verdict::of(e.status),
                    result: e.status,
                    number: e.number,
                    gate: e.gate,
                    kind: e.kind,
                    required: e.required,
                    detail: e.detail,
                    evidence: e.evidence,
                    approval: e.approval,
                })
                .collect(),
        });
    }
    Ok(GateCheckView {
        instance: st.instance.clone(),
        workflow: st.workflow.clone(),
        satisfied: phases.iter().all(|p| p.satisfied),
        phases,
        conflicts: st.conflicts.clone(),
    })
}
