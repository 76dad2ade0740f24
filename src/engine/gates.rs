//! Gate evaluation behind one interface: is each criterion of a phase's gate satisfied?
//!
//! A human criterion is `approved` once someone ran `ddx gate approve`, else it
//! `needs_approval`. A machine criterion is evaluated by a [`CheckEvaluator`]; the one here,
//! [`NotEvaluatedHere`], says `not_evaluated` for every check, and the checks of DESIGN §2 plug
//! in as another evaluator without changing any caller. A gate is satisfied when every required
//! criterion is `passed` or `approved`.

use super::state::{Approval, CriterionState, GateKind, PhaseState, State};
use crate::model::{Check, Phase, Workflow};
use serde::Serialize;
use std::path::Path;

/// Where a criterion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionStatus {
    /// A machine check that passed.
    Passed,
    /// A machine check that failed.
    Failed,
    /// A human criterion someone approved.
    Approved,
    /// A human criterion nobody approved yet.
    NeedsApproval,
    /// A machine check this evaluator does not run.
    NotEvaluated,
}

impl CriterionStatus {
    pub fn is_satisfied(self) -> bool {
        matches!(self, CriterionStatus::Passed | CriterionStatus::Approved)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CriterionStatus::Passed => "passed",
            CriterionStatus::Failed => "failed",
            CriterionStatus::Approved => "approved",
            CriterionStatus::NeedsApproval => "needs_approval",
            CriterionStatus::NotEvaluated => "not_evaluated",
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: CriterionStatus,
    pub detail: Option<String>,
    /// Where the evidence is (files, lines).
    pub evidence: Vec<String>,
}

/// What a check may look at.
pub struct GateContext<'a> {
    pub work_dir: Option<&'a Path>,
    pub state: &'a State,
    pub workflow: Option<&'a Workflow>,
}

/// Evaluates machine checks. The one seam for machine-checked gates.
pub trait CheckEvaluator {
    fn evaluate(&self, check: &Check, cx: &GateContext<'_>) -> CheckResult;
}

/// Runs no check: every machine criterion is `not_evaluated`.
pub struct NotEvaluatedHere;

impl CheckEvaluator for NotEvaluatedHere {
    fn evaluate(&self, check: &Check, _cx: &GateContext<'_>) -> CheckResult {
        CheckResult {
            status: CriterionStatus::NotEvaluated,
            detail: Some(format!(
                "{} checks are not evaluated by this version of ddx",
                check.kind()
            )),
            evidence: Vec::new(),
        }
    }
}

/// The evaluator the engine uses.
pub fn default_evaluator() -> &'static dyn CheckEvaluator {
    &NotEvaluatedHere
}

/// One criterion, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// 1-based position among the phase's criteria (as `ddx workflow status` numbers them).
    pub number: usize,
    pub criteria: String,
    pub gate: GateKind,
    pub kind: String,
    pub required: bool,
    pub status: CriterionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// A gate of a phase, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub phase: String,
    pub gate: GateKind,
    pub items: Vec<Evaluation>,
}

impl GateReport {
    /// Every required criterion passed or is approved.
    pub fn satisfied(&self) -> bool {
        self.items
            .iter()
            .all(|e| !e.required || e.status.is_satisfied())
    }

    /// The required criteria that hold the gate shut.
    pub fn blocking(&self) -> impl Iterator<Item = &Evaluation> {
        self.items
            .iter()
            .filter(|e| e.required && !e.status.is_satisfied())
    }
}

fn check_of<'w>(def: Option<&'w Phase>, c: &CriterionState) -> Option<&'w Check> {
    let def = def?;
    let list = match c.gate {
        GateKind::Input => &def.input_gates,
        GateKind::Exit => &def.exit_criteria,
    };
    list.iter()
        .find(|d| d.criteria == c.criteria)
        .and_then(|d| d.check.as_ref())
}

/// Evaluates one criterion of `phase` (the `number`th, 1-based).
pub fn evaluate_one(
    phase: &PhaseState,
    number: usize,
    cx: &GateContext<'_>,
    evaluator: &dyn CheckEvaluator,
) -> Evaluation {
    let c = &phase.criteria[number - 1];
    let (status, detail, evidence) = if c.is_human() {
        match &c.approval {
            Some(_) => (CriterionStatus::Approved, None, Vec::new()),
            None => (CriterionStatus::NeedsApproval, None, Vec::new()),
        }
    } else {
        let def = cx.workflow.and_then(|w| w.phase(&phase.id));
        match check_of(def, c) {
            Some(check) => {
                let r = evaluator.evaluate(check, cx);
                (r.status, r.detail, r.evidence)
            }
            None => (
                CriterionStatus::NotEvaluated,
                Some(format!("{} check not evaluated here", c.kind)),
                Vec::new(),
            ),
        }
    };
    Evaluation {
        number,
        criteria: c.criteria.clone(),
        gate: c.gate,
        kind: c.kind.clone(),
        required: c.required,
        status,
        approval: c.approval.clone(),
        detail,
        evidence,
    }
}

/// Evaluates the `gate` of `phase`.
pub fn evaluate(
    phase: &PhaseState,
    gate: GateKind,
    cx: &GateContext<'_>,
    evaluator: &dyn CheckEvaluator,
) -> GateReport {
    let items = phase
        .criteria
        .iter()
        .enumerate()
        .filter(|(_, c)| c.gate == gate)
        .map(|(i, _)| evaluate_one(phase, i + 1, cx, evaluator))
        .collect();
    GateReport {
        phase: phase.id.clone(),
        gate,
        items,
    }
}
