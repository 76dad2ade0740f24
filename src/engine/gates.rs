//! Gate evaluation behind one interface: is each criterion of a phase's gate satisfied?
//!
//! A human criterion is `approved` once someone ran `ddx gate approve`, else it
//! `needs_approval`; its `evidence:` path, when it has one, is shown with whether it exists. A
//! machine criterion is evaluated by a [`CheckEvaluator`]: [`MachineChecks`] runs the typed
//! checks of DESIGN §2 ([`super::checks`]) against the work tree, with `command` checks only
//! from trusted sources or with consent; [`NotEvaluatedHere`] evaluates nothing (for tests of
//! the state machine). A gate is satisfied when every required criterion is `passed` or
//! `approved`.

use super::actions::{self, Trust};
use super::checks::{self, CheckContext, Evidence};
use super::state::{Approval, CriterionState, GateKind, PhaseState, PhaseStatus, State};
use crate::model::{Check, Criterion, Phase, Workflow};
use crate::store::{worktree, Repo};
use serde::Serialize;
use std::cell::OnceCell;
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
    pub evidence: Vec<Evidence>,
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

    /// Forgets whatever was cached from the work tree: a new gate is evaluated, and files may
    /// have changed since the last one.
    fn refresh(&self) {}
}

/// Runs no check: every machine criterion is `not_evaluated` (phases that are not current, and
/// tests of the state machine).
pub struct NotEvaluatedHere;

impl CheckEvaluator for NotEvaluatedHere {
    fn evaluate(&self, check: &Check, _cx: &GateContext<'_>) -> CheckResult {
        CheckResult {
            status: CriterionStatus::NotEvaluated,
            detail: Some(format!(
                "{} check: evaluated while its phase is ready or in progress",
                check.kind()
            )),
            evidence: Vec::new(),
        }
    }
}

/// Whether `command` checks run at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commands {
    /// Run them (from trusted sources, or with consent).
    Run,
    /// Leave them `not_evaluated` (`ddx workflow status` runs no command).
    Skip,
}

/// The real evaluator: the machine checks of DESIGN §2, run against the work tree of `repo`.
pub struct MachineChecks<'r> {
    repo: &'r Repo,
    consent: bool,
    commands: Commands,
    trust: OnceCell<(String, Trust)>,
    files: checks::FileCache,
}

impl<'r> MachineChecks<'r> {
    /// Checks in `repo`'s work tree; `consent` is `--trust` (run commands of untrusted sources).
    pub fn new(repo: &'r Repo, consent: bool, commands: Commands) -> Self {
        MachineChecks {
            repo,
            consent,
            commands,
            trust: OnceCell::new(),
            files: checks::FileCache::default(),
        }
    }

    /// How `state`'s workflow is trusted, without `--trust` (which only lets commands run).
    fn trust(&self, state: &State) -> Trust {
        let key = format!("{}\n{}", state.source, state.instance);
        let (k, t) = self
            .trust
            .get_or_init(|| (key.clone(), self.trust_of(state)));
        if *k == key {
            t.clone()
        } else {
            self.trust_of(state)
        }
    }

    fn trust_of(&self, state: &State) -> Trust {
        let pinned = pinned_tree(self.repo, state);
        actions::trust(self.repo, &state.source, &state.workflow, pinned, false)
    }
}

/// The git tree `state`'s instance pins its definition as: its tip's, or, while the instance is
/// being applied, the catalog's tree it is about to pin.
fn pinned_tree(repo: &Repo, state: &State) -> Option<crate::store::ObjectId> {
    if let Ok((tip, _)) = super::load(repo, &state.instance) {
        return Some(tip.workflow_tree);
    }
    let located = crate::catalog::locate(&state.workflow, repo.work_dir()).ok()?;
    if located.source.to_string() != state.source {
        return None;
    }
    actions::definition_tree(repo, located.tree.as_ref())
}

impl CheckEvaluator for MachineChecks<'_> {
    fn refresh(&self) {
        self.files.clear();
    }

    fn evaluate(&self, check: &Check, cx: &GateContext<'_>) -> CheckResult {
        let mut trusted = None;
        if let Check::Command { command, .. } = check {
            if self.commands == Commands::Skip {
                return CheckResult {
                    status: CriterionStatus::NotEvaluated,
                    detail: Some(
                        "command checks run in `ddx gate check`, `ddx phase complete` and `ddx workflow next`"
                            .to_owned(),
                    ),
                    evidence: Vec::new(),
                };
            }
            let trust = self.trust(cx.state);
            if !trust.trusted && !self.consent {
                return CheckResult {
                    status: CriterionStatus::Failed,
                    detail: Some(format!(
                        "not run: `{command}` comes from {}; pass --trust to run it once, or `ddx trust {}` to trust the workflow as it is",
                        trust.how, cx.state.workflow
                    )),
                    evidence: Vec::new(),
                };
            }
            trusted = Some(if trust.trusted {
                trust.how
            } else {
                format!("{}, with --trust", cx.state.source)
            });
        }
        let variables = cx.state.template_context();
        let done = |id: &str| {
            cx.state
                .phase(id)
                .is_some_and(|p| p.status == PhaseStatus::Completed)
        };
        let committed = |path: &str| {
            worktree::committed(self.repo, path).map_err(|e| crate::store::repo::error_chain(&e))
        };
        let ignore = crate::store::ignore::Ignored::new(self.repo).ok();
        let ignored = |p: &str, dir: bool| ignore.as_ref().is_none_or(|i| i.is_ignored(p, dir));
        let as_rendered = |rel: &str| {
            let r = cx.state.files.get(rel)?;
            if !r.by.starts_with("artifact ") {
                return None;
            }
            let now = worktree::file_blob(self.repo, rel)?;
            (Some(now.to_string().as_str()) == r.after.as_deref()).then(|| r.by.clone())
        };
        let ccx = CheckContext {
            work_dir: self.repo.work_dir(),
            variables: &variables,
            phase_completed: &done,
            committed: &committed,
            as_rendered: &as_rendered,
            allow_commands: true,
            // Only the project's own and trusted workflows' checks quote what they match; a
            // registered repository's do not, unless trusted (never with mere --trust).
            quote: !cx.state.source.starts_with("repo:") || self.trust(cx.state).trusted,
            ignored: &ignored,
            files: Some(&self.files),
        };
        let outcome = checks::evaluate(check, &ccx);
        if matches!(check, Check::Command { .. }) {
            // The command may have changed any file.
            self.files.clear();
        }
        let mut detail = outcome.summary;
        if let Some(how) = trusted {
            detail.push_str(&format!(" (run as trusted: {how})"));
        }
        CheckResult {
            status: if outcome.passed {
                CriterionStatus::Passed
            } else {
                CriterionStatus::Failed
            },
            detail: Some(detail),
            evidence: outcome.evidence,
        }
    }
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
    pub evidence: Vec<Evidence>,
    /// For a finished phase: the event commit that recorded this check's result, when the
    /// phase started (input gates) or completed (exit criteria).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_in: Option<String>,
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

fn definition_of<'w>(def: Option<&'w Phase>, c: &CriterionState) -> Option<&'w Criterion> {
    let def = def?;
    let list = match c.gate {
        GateKind::Input => &def.input_gates,
        GateKind::Exit => &def.exit_criteria,
    };
    list.iter().find(|d| d.criteria == c.criteria)
}

/// The `evidence:` path of a human criterion, and whether it exists in the work tree.
fn evidence_of(def: Option<&Criterion>, work_dir: Option<&Path>) -> Vec<Evidence> {
    let (Some(path), Some(work_dir)) = (def.and_then(|d| d.evidence.as_deref()), work_dir) else {
        return Vec::new();
    };
    let file = path.split('#').next().unwrap_or(path);
    let exists = crate::model::load::safe_relative_path(file.trim_end_matches('/')).is_ok()
        && std::fs::symlink_metadata(work_dir.join(file)).is_ok();
    vec![Evidence {
        path: path.to_owned(),
        line: None,
        text: Some(if exists { "exists" } else { "missing" }.to_owned()),
        hash: None,
    }]
}

/// Evaluates one criterion of `phase` (the `number`th, 1-based).
pub fn evaluate_one(
    phase: &PhaseState,
    number: usize,
    cx: &GateContext<'_>,
    evaluator: &dyn CheckEvaluator,
) -> Evaluation {
    let c = &phase.criteria[number - 1];
    let def = definition_of(cx.workflow.and_then(|w| w.phase(&phase.id)), c);
    let (status, detail, evidence) = if c.is_human() {
        let evidence = evidence_of(def, cx.work_dir);
        match &c.approval {
            Some(_) => (CriterionStatus::Approved, None, evidence),
            None => (CriterionStatus::NeedsApproval, None, evidence),
        }
    } else {
        match def.and_then(|d| d.check.as_ref()) {
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
        recorded_in: None,
    }
}

/// Evaluates the `gate` of `phase`.
pub fn evaluate(
    phase: &PhaseState,
    gate: GateKind,
    cx: &GateContext<'_>,
    evaluator: &dyn CheckEvaluator,
) -> GateReport {
    evaluator.refresh();
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

/// Why an approver may not approve a criterion: they wrote what it reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSeparate {
    pub criterion: String,
    pub approver: String,
    /// The approver's commits touched these files.
    pub files: Vec<String>,
}

impl std::fmt::Display for NotSeparate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} may not approve \"{}\": they authored commits touching {}, which it reviews",
            self.approver,
            self.criterion,
            self.files.join(", ")
        )
    }
}

/// What stops ddx from telling who wrote what a criterion reviews.
#[derive(Debug, thiserror::Error)]
pub enum SeparationError {
    #[error(transparent)]
    Engine(#[from] super::EngineError),
    #[error("cannot read who wrote the reviewed paths")]
    Git(#[from] crate::store::git::GitCommandError),
}

/// Separation of duties: the criteria of `phase` named by `queries` that declare
/// `separate_from:` paths, checked against git's history of those paths; the first criterion
/// whose paths `email` authored commits touching is returned.
pub fn separation_of_duties(
    repo: &Repo,
    instance: &str,
    phase: &str,
    queries: &[String],
    approver: &str,
    email: &str,
) -> Result<Option<NotSeparate>, SeparationError> {
    let (tip, st) = super::load(repo, instance)?;
    let wf = super::load_pinned(repo, instance, &tip)?;
    let (Some(ps), Some(def)) = (st.phase(phase), wf.phase(phase)) else {
        return Ok(None);
    };
    for q in queries {
        let Ok(ci) = super::machine::find_criterion(&st, phase, q) else {
            continue; // the transition names the unknown criterion
        };
        let Some(c) = definition_of(Some(def), &ps.criteria[ci]) else {
            continue;
        };
        if c.separate_from.is_empty() {
            continue;
        }
        let authors = crate::store::git::authors_of(repo.work_dir(), &c.separate_from)?;
        let suffix = format!("<{email}>");
        if let Some((_, files)) = authors
            .into_iter()
            .find(|(a, _)| a.to_lowercase().ends_with(&suffix.to_lowercase()))
        {
            return Ok(Some(NotSeparate {
                criterion: c.criteria.clone(),
                approver: approver.to_owned(),
                files,
            }));
        }
    }
    Ok(None)
}
