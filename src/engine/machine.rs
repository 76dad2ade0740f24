//! The state machine: every transition of DESIGN §5 as a pure change of a [`State`].
//!
//! [`apply`] takes the state at the tip, the pinned definition (when the operation needs it),
//! and an operation; it changes the state in memory and says what happened ([`Effect`]: the
//! event's name, subject, body lines and trailers), or that nothing would change and why, or
//! why the operation is refused. It writes nothing: the engine commits the result as one event.

use super::gates::{self, CheckEvaluator, GateContext};
use super::graph::{self, ConditionError};
use super::state::{
    Approval, Conflict, GateKind, InstanceStatus, PhaseStatus, State, TransitionRecord,
};
use crate::model::diag::did_you_mean;
use crate::model::Workflow;
use std::path::Path;

/// An operation on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Start {
        phase: String,
        force: bool,
    },
    Complete {
        phase: String,
        force: bool,
    },
    Skip {
        phase: String,
    },
    Fail {
        phase: String,
    },
    Reopen {
        phase: String,
    },
    Next,
    Pause,
    Resume,
    Abort,
    /// Approves one or more human criteria of a phase, in one event.
    Approve {
        phase: String,
        criteria: Vec<String>,
        comment: Option<String>,
    },
}

impl Op {
    /// The event's name (`Ddx-Event`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Start { .. } => "start",
            Op::Complete { .. } => "complete",
            Op::Skip { .. } => "skip",
            Op::Fail { .. } => "fail",
            Op::Reopen { .. } => "reopen",
            Op::Next => "next",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::Abort => "abort",
            Op::Approve { .. } => "approve",
        }
    }

    /// Whether the operation reads the definition (phase graph, checks); approvals, pause,
    /// resume and abort work from the state alone.
    pub fn needs_definition(&self) -> bool {
        !matches!(
            self,
            Op::Approve { .. } | Op::Pause | Op::Resume | Op::Abort | Op::Fail { .. }
        )
    }
}

/// Who acts, when, and why.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// `Name <email>`.
    pub actor: &'a str,
    /// RFC 3339 UTC.
    pub at: &'a str,
    pub reason: Option<&'a str>,
    pub work_dir: Option<&'a Path>,
}

/// What an event did, for its commit message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    /// `Ddx-Event`.
    pub event: String,
    /// The subject after `ddx(<id>): `.
    pub subject: String,
    /// Body lines: `frame: ready -> in_progress`, …
    pub lines: Vec<String>,
    /// `Ddx-Phase` trailers.
    pub phases: Vec<String>,
    /// Further trailers (`Ddx-Criterion`, `Ddx-Reason`, `Ddx-Forced`, …).
    pub trailers: Vec<(String, String)>,
}

impl Effect {
    /// Writes the event's trailers into `message` (`Ddx-Event`, `Ddx-Phase`, the `Ddx-Check`
    /// results in `checks`, then the further ones), and returns the audit arguments they make:
    /// `phase`, and each further trailer under its name without `Ddx-`, lower case (values of a
    /// repeated trailer joined with `; `).
    pub fn write_trailers(
        &self,
        message: &mut crate::store::event::Message,
        checks: impl IntoIterator<Item = String>,
    ) -> std::collections::BTreeMap<String, String> {
        message.trailer("Ddx-Event", &self.event);
        for p in &self.phases {
            message.trailer("Ddx-Phase", p);
        }
        for c in checks {
            message.trailer(super::replay::CHECK_TRAILER, c);
        }
        let mut args = std::collections::BTreeMap::new();
        if !self.phases.is_empty() {
            args.insert("phase".to_owned(), self.phases.join(", "));
        }
        for (k, v) in &self.trailers {
            message.trailer(k, v);
            let key = k.trim_start_matches("Ddx-").to_lowercase();
            args.entry(key)
                .and_modify(|e: &mut String| {
                    e.push_str("; ");
                    e.push_str(v);
                })
                .or_insert_with(|| v.clone());
        }
        args
    }
}

/// The result of an operation that was not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Changed(Effect),
    /// Nothing to do, and why.
    Nothing(String),
}

/// Why an operation is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransitionError {
    #[error("workflow {workflow} has no phase `{phase}` (phases: {})", known.join(", "))]
    UnknownPhase {
        workflow: String,
        phase: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("phase {phase} has no criterion matching \"{criterion}\"")]
    UnknownCriterion {
        phase: String,
        criterion: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("\"{criterion}\" matches {} criteria of phase {phase}: {}", matches.len(), matches.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", "))]
    AmbiguousCriterion {
        phase: String,
        criterion: String,
        matches: Vec<String>,
    },
    #[error("\"{criterion}\" of phase {phase} is machine-checked ({kind}): it passes when its check does, not by approval")]
    MachineCriterion {
        phase: String,
        criterion: String,
        kind: String,
    },
    #[error("phase {phase} is {status}, so it cannot be {action}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    PhaseRefused {
        phase: String,
        status: PhaseStatus,
        action: &'static str,
        detail: String,
        hint: Option<String>,
    },
    #[error("instance {instance} is {status}, so it cannot be {action}")]
    InstanceRefused {
        instance: String,
        status: InstanceStatus,
        action: String,
        hint: Option<String>,
    },
    #[error("the {} gate of phase {phase} is not satisfied: {}", gate.as_str(), blocking.iter().map(|(c, s)| format!("\"{c}\" ({s})")).collect::<Vec<_>>().join(", "))]
    GateNotSatisfied {
        phase: String,
        gate: GateKind,
        /// (criterion, status)
        blocking: Vec<(String, String)>,
        hint: Option<String>,
    },
    #[error("nothing can advance: {}", reasons.join("; "))]
    Blocked {
        reasons: Vec<String>,
        hint: Option<String>,
    },
    #[error(transparent)]
    Condition(#[from] ConditionError),
    #[error("the definition of the workflow is needed for {op}, but was not loaded")]
    NeedsDefinition { op: &'static str },
}

impl TransitionError {
    /// The next command to try, when there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        match self {
            TransitionError::UnknownPhase { suggestion, .. } => {
                suggestion.as_ref().map(|s| format!("did you mean `{s}`?"))
            }
            TransitionError::UnknownCriterion {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => format!(
                    "criteria of this phase: {}",
                    known
                        .iter()
                        .enumerate()
                        .map(|(i, k)| format!("{}. \"{k}\"", i + 1))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            TransitionError::AmbiguousCriterion { .. } => Some(
                "quote the whole criterion, or give its number from `ddx workflow status`"
                    .to_owned(),
            ),
            TransitionError::PhaseRefused { hint, .. }
            | TransitionError::InstanceRefused { hint, .. }
            | TransitionError::GateNotSatisfied { hint, .. }
            | TransitionError::Blocked { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

fn phase_index(state: &State, id: &str) -> Result<usize, TransitionError> {
    state.phases.iter().position(|p| p.id == id).ok_or_else(|| {
        let known: Vec<String> = state.phases.iter().map(|p| p.id.clone()).collect();
        TransitionError::UnknownPhase {
            workflow: state.workflow.clone(),
            phase: id.to_owned(),
            suggestion: did_you_mean(id, known.iter().map(String::as_str)).map(str::to_owned),
            known,
        }
    })
}

/// Finds a criterion of a phase by its text, a unique part of it, or its number.
pub fn find_criterion(state: &State, phase: &str, query: &str) -> Result<usize, TransitionError> {
    let p = &state.phases[phase_index(state, phase)?];
    let texts: Vec<&str> = p.criteria.iter().map(|c| c.criteria.as_str()).collect();
    if let Some(i) = texts.iter().position(|t| *t == query) {
        return Ok(i);
    }
    let q = query.trim().to_lowercase();
    if let Some(i) = texts.iter().position(|t| t.trim().to_lowercase() == q) {
        return Ok(i);
    }
    if let Ok(n) = q.parse::<usize>() {
        if (1..=texts.len()).contains(&n) {
            return Ok(n - 1);
        }
    }
    let hits: Vec<usize> = texts
        .iter()
        .enumerate()
        .filter(|(_, t)| !q.is_empty() && t.to_lowercase().contains(&q))
        .map(|(i, _)| i)
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(TransitionError::UnknownCriterion {
            phase: phase.to_owned(),
            criterion: query.to_owned(),
            suggestion: did_you_mean(query, texts.iter().copied()).map(str::to_owned),
            known: texts.iter().map(|t| (*t).to_owned()).collect(),
        }),
        _ => Err(TransitionError::AmbiguousCriterion {
            phase: phase.to_owned(),
            criterion: query.to_owned(),
            matches: hits.iter().map(|&i| texts[i].to_owned()).collect(),
        }),
    }
}

/// Derives the instance status from its phases (paused and cancelled are left alone).
pub fn derive_status(state: &mut State) {
    if matches!(
        state.status,
        InstanceStatus::Paused | InstanceStatus::Cancelled
    ) {
        return;
    }
    state.status = if state.phases.iter().any(|p| p.status == PhaseStatus::Failed) {
        InstanceStatus::Failed
    } else if state
        .phases
        .iter()
        .all(|p| p.status.is_done() || !p.status.counts())
    {
        InstanceStatus::Completed
    } else if state
        .phases
        .iter()
        .any(|p| matches!(p.status, PhaseStatus::InProgress | PhaseStatus::Completed))
    {
        InstanceStatus::Running
    } else {
        InstanceStatus::Pending
    };
}

fn check_instance(state: &State, op: &Op) -> Result<(), TransitionError> {
    let allowed = match state.status {
        InstanceStatus::Pending | InstanceStatus::Running => true,
        InstanceStatus::Paused => matches!(op, Op::Resume | Op::Abort | Op::Pause),
        InstanceStatus::Failed => matches!(
            op,
            Op::Reopen { .. }
                | Op::Skip { .. }
                | Op::Abort
                | Op::Approve { .. }
                | Op::Pause
                | Op::Resume
                | Op::Fail { .. }
        ),
        InstanceStatus::Completed => matches!(op, Op::Reopen { .. } | Op::Resume | Op::Abort),
        InstanceStatus::Cancelled => matches!(op, Op::Abort | Op::Resume),
    };
    if allowed {
        return Ok(());
    }
    let hint = match state.status {
        InstanceStatus::Paused => Some("`ddx workflow resume` continues it".to_owned()),
        InstanceStatus::Failed => Some(
            "reopen the failed phase with `ddx phase reopen <phase>`, or skip it with `ddx phase skip <phase>`"
                .to_owned(),
        ),
        InstanceStatus::Completed => {
            Some("`ddx phase reopen <phase>` reopens a phase".to_owned())
        }
        InstanceStatus::Cancelled => Some(
            "`ddx workflow restore <checkpoint>` brings back an earlier state".to_owned(),
        ),
        _ => None,
    };
    let action = match op {
        Op::Approve { .. } => "changed by approvals".to_owned(),
        Op::Next => "advanced".to_owned(),
        other => format!("changed by `{}`", other.name()),
    };
    Err(TransitionError::InstanceRefused {
        instance: state.instance.clone(),
        status: state.status,
        action,
        hint,
    })
}

fn reason_of(cx: &EventContext<'_>) -> Option<String> {
    cx.reason
        .map(str::to_owned)
        .filter(|r| !r.trim().is_empty())
}

fn record_phase(
    state: &mut State,
    effect: &mut Effect,
    cx: &EventContext<'_>,
    phase: &str,
    from: PhaseStatus,
    to: PhaseStatus,
) {
    effect.lines.push(format!("{phase}: {from} -> {to}"));
    if !effect.phases.iter().any(|p| p == phase) {
        effect.phases.push(phase.to_owned());
    }
    state.metrics.transitions += 1;
    state.record(TransitionRecord {
        at: cx.at.to_owned(),
        by: cx.actor.to_owned(),
        event: effect.event.clone(),
        phase: Some(phase.to_owned()),
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        reason: reason_of(cx),
    });
}

fn refresh(state: &mut State, wf: &Workflow, effect: &mut Effect) -> Result<(), TransitionError> {
    for c in graph::refresh(state, wf)? {
        let mut line = format!("{}: {} -> {}", c.phase, c.from, c.to);
        if let Some(r) = &c.reason {
            line.push_str(&format!(" ({r})"));
        }
        effect.lines.push(line);
    }
    Ok(())
}

fn finish(state: &mut State, effect: &mut Effect, cx: &EventContext<'_>, before: InstanceStatus) {
    derive_status(state);
    if state.status != before {
        effect
            .lines
            .push(format!("instance: {before} -> {}", state.status));
        state.record(TransitionRecord {
            at: cx.at.to_owned(),
            by: cx.actor.to_owned(),
            event: effect.event.clone(),
            phase: None,
            from: before.as_str().to_owned(),
            to: state.status.as_str().to_owned(),
            reason: reason_of(cx),
        });
    }
    if let Some(r) = reason_of(cx) {
        effect.trailers.push(("Ddx-Reason".to_owned(), r));
    }
    state.metrics.events += 1;
}

fn need<'w>(wf: Option<&'w Workflow>, op: &Op) -> Result<&'w Workflow, TransitionError> {
    wf.ok_or(TransitionError::NeedsDefinition { op: op.name() })
}

fn blocking_list(report: &gates::GateReport) -> Vec<(String, String)> {
    report
        .blocking()
        .map(|e| (e.criteria.clone(), e.status.as_str().to_owned()))
        .collect()
}

fn gate_hint(phase: &str, report: &gates::GateReport, action: &str) -> Option<String> {
    let human = report
        .blocking()
        .find(|e| e.status == gates::CriterionStatus::NeedsApproval);
    Some(match human {
        Some(e) => format!(
            "approve with `ddx gate approve {phase} \"{}\"`, or {action} anyway with --force (recorded as a deviation)",
            e.criteria
        ),
        None => format!("{action} anyway with --force (recorded as a deviation)"),
    })
}

/// Applies `op` to `state`. See the module documentation.
///
/// Conflicts left by a merge of forked histories ([`State::conflicts`]) are settled here: one
/// on a phase by any event that changes that phase's status, one on the instance by any change
/// of the instance's status; and an operation that would change nothing because its phase is
/// already where it would put it (`phase complete` of a completed phase) confirms that status
/// and settles the phase's conflicts, as its own event.
pub fn apply(
    state: &mut State,
    wf: Option<&Workflow>,
    op: &Op,
    cx: &EventContext<'_>,
    evaluator: &dyn CheckEvaluator,
) -> Result<Applied, TransitionError> {
    if state.conflicts.is_empty() {
        return apply_op(state, wf, op, cx, evaluator);
    }
    let phases: Vec<(String, PhaseStatus)> = state
        .phases
        .iter()
        .map(|p| (p.id.clone(), p.status))
        .collect();
    let status = state.status;
    match apply_op(state, wf, op, cx, evaluator)? {
        Applied::Changed(mut effect) => {
            let now: Vec<(String, PhaseStatus)> = state
                .phases
                .iter()
                .map(|p| (p.id.clone(), p.status))
                .collect();
            let instance_moved = state.status != status;
            let of = |list: &[(String, PhaseStatus)], id: &str| {
                list.iter().find(|(p, _)| p == id).map(|(_, s)| *s)
            };
            let moved = |c: &Conflict| match &c.phase {
                Some(id) => of(&phases, id) != of(&now, id),
                None => instance_moved,
            };
            let (settled, kept): (Vec<Conflict>, Vec<Conflict>) =
                std::mem::take(&mut state.conflicts)
                    .into_iter()
                    .partition(moved);
            state.conflicts = kept;
            for c in settled {
                effect.lines.push(format!("conflict settled: {c}"));
            }
            Ok(Applied::Changed(effect))
        }
        Applied::Nothing(why) => {
            Ok(confirm(state, op, cx).map_or(Applied::Nothing(why), Applied::Changed))
        }
    }
}

/// `op` names a phase that is already in the status `op` would give it, and that phase has
/// conflicts: the person confirms the status the merge kept, and the conflicts are settled.
fn confirm(state: &mut State, op: &Op, cx: &EventContext<'_>) -> Option<Effect> {
    let (phase, wanted) = match op {
        Op::Start { phase, .. } => (phase, PhaseStatus::InProgress),
        Op::Complete { phase, .. } => (phase, PhaseStatus::Completed),
        Op::Skip { phase } => (phase, PhaseStatus::Skipped),
        Op::Fail { phase } => (phase, PhaseStatus::Failed),
        _ => return None,
    };
    if state.phase(phase).map(|p| p.status) != Some(wanted)
        || !state
            .conflicts
            .iter()
            .any(|c| c.phase.as_ref() == Some(phase))
    {
        return None;
    }
    let (settled, kept): (Vec<Conflict>, Vec<Conflict>) = std::mem::take(&mut state.conflicts)
        .into_iter()
        .partition(|c| c.phase.as_ref() == Some(phase));
    state.conflicts = kept;
    let mut effect = Effect {
        event: op.name().to_owned(),
        subject: format!("{phase}: {wanted} confirmed"),
        phases: vec![phase.clone()],
        ..Effect::default()
    };
    effect.lines = settled
        .iter()
        .map(|c| format!("conflict settled: {c}"))
        .collect();
    if let Some(r) = reason_of(cx) {
        effect.trailers.push(("Ddx-Reason".to_owned(), r));
    }
    state.metrics.events += 1;
    Some(effect)
}

fn apply_op(
    state: &mut State,
    wf: Option<&Workflow>,
    op: &Op,
    cx: &EventContext<'_>,
    evaluator: &dyn CheckEvaluator,
) -> Result<Applied, TransitionError> {
    check_instance(state, op)?;
    let before = state.status;
    let mut effect = Effect {
        event: op.name().to_owned(),
        ..Effect::default()
    };
    match op {
        Op::Approve {
            phase,
            criteria,
            comment,
        } => {
            let pi = phase_index(state, phase)?;
            let mut chosen: Vec<usize> = Vec::new();
            for criterion in criteria {
                let ci = find_criterion(state, phase, criterion)?;
                let c = &state.phases[pi].criteria[ci];
                if !c.is_human() {
                    return Err(TransitionError::MachineCriterion {
                        phase: phase.clone(),
                        criterion: c.criteria.clone(),
                        kind: c.kind.clone(),
                    });
                }
                if !chosen.contains(&ci) {
                    chosen.push(ci);
                }
            }
            let mut already = Vec::new();
            let mut texts = Vec::new();
            for ci in chosen {
                let c = &state.phases[pi].criteria[ci];
                if let Some(a) = &c.approval {
                    already.push(format!(
                        "\"{}\" of phase {phase} was already approved by {} at {}",
                        c.criteria, a.by, a.at
                    ));
                    continue;
                }
                texts.push(c.criteria.clone());
                state.phases[pi].criteria[ci].approval = Some(Approval {
                    by: cx.actor.to_owned(),
                    at: cx.at.to_owned(),
                    comment: comment.clone().filter(|c| !c.trim().is_empty()),
                });
                state.metrics.approvals += 1;
            }
            if texts.is_empty() {
                return Ok(Applied::Nothing(already.join("; ")));
            }
            effect.subject = match texts.as_slice() {
                [one] => format!("approve {phase}: {one}"),
                many => format!("approve {phase}: {} criteria", many.len()),
            };
            for text in &texts {
                effect.lines.push(format!("{phase}: approved \"{text}\""));
            }
            effect.lines.extend(already);
            effect.phases.push(phase.clone());
            for text in texts {
                effect.trailers.push(("Ddx-Criterion".to_owned(), text));
            }
            if let Some(c) = comment.as_ref().filter(|c| !c.trim().is_empty()) {
                effect.trailers.push(("Ddx-Comment".to_owned(), c.clone()));
            }
        }
        Op::Start { phase, force } => {
            let wf = need(wf, op)?;
            let pi = phase_index(state, phase)?;
            let status = state.phases[pi].status;
            match status {
                PhaseStatus::Ready => {}
                PhaseStatus::InProgress => {
                    return Ok(Applied::Nothing(format!(
                        "phase {phase} is already in progress"
                    )))
                }
                PhaseStatus::Pending => {
                    let waiting: Vec<String> = wf
                        .phase(phase)
                        .map(|d| {
                            d.depends_on
                                .iter()
                                .filter(|dep| state.phase(dep).is_some_and(|p| !p.status.is_done()))
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default();
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "started",
                        detail: if waiting.is_empty() {
                            String::new()
                        } else {
                            format!("it waits for {}", waiting.join(", "))
                        },
                        hint: waiting.first().map(|w| {
                            format!("finish {w} first (`ddx workflow status` shows what it needs)")
                        }),
                    });
                }
                _ => {
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "started",
                        detail: String::new(),
                        hint: Some(format!("`ddx phase reopen {phase}` works on it again")),
                    })
                }
            }
            let cx_gate = GateContext {
                work_dir: cx.work_dir,
                state,
                workflow: Some(wf),
            };
            let report = gates::evaluate(&state.phases[pi], GateKind::Input, &cx_gate, evaluator);
            if !report.satisfied() {
                if !force {
                    return Err(TransitionError::GateNotSatisfied {
                        phase: phase.clone(),
                        gate: GateKind::Input,
                        blocking: blocking_list(&report),
                        hint: gate_hint(phase, &report, "start"),
                    });
                }
                force_record(state, pi, &report, &mut effect);
            }
            let p = &mut state.phases[pi];
            p.status = PhaseStatus::InProgress;
            p.started = Some(cx.at.to_owned());
            p.completed = None;
            effect.subject = format!("start {phase}");
            record_phase(
                state,
                &mut effect,
                cx,
                phase,
                status,
                PhaseStatus::InProgress,
            );
        }
        Op::Complete { phase, force } => {
            let wf = need(wf, op)?;
            let pi = phase_index(state, phase)?;
            let status = state.phases[pi].status;
            match status {
                PhaseStatus::InProgress => {}
                PhaseStatus::Completed => {
                    return Ok(Applied::Nothing(format!(
                        "phase {phase} is already completed"
                    )))
                }
                PhaseStatus::Ready => {
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "completed",
                        detail: "it has not been started".to_owned(),
                        hint: Some(format!("`ddx phase start {phase}` starts it")),
                    })
                }
                _ => {
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "completed",
                        detail: String::new(),
                        hint: None,
                    })
                }
            }
            complete_phase(state, wf, pi, *force, cx, evaluator, &mut effect, None)?;
            effect.subject = format!("complete {phase}");
            refresh(state, wf, &mut effect)?;
        }
        Op::Skip { phase } => {
            let wf = need(wf, op)?;
            let pi = phase_index(state, phase)?;
            let status = state.phases[pi].status;
            match status {
                PhaseStatus::Skipped => {
                    return Ok(Applied::Nothing(format!(
                        "phase {phase} is already skipped"
                    )))
                }
                PhaseStatus::Completed => {
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "skipped",
                        detail: String::new(),
                        hint: Some(format!("`ddx phase reopen {phase}` works on it again")),
                    })
                }
                _ => {}
            }
            let p = &mut state.phases[pi];
            p.status = PhaseStatus::Skipped;
            p.reason = reason_of(cx);
            p.completed = Some(cx.at.to_owned());
            effect.subject = format!("skip {phase}");
            record_phase(state, &mut effect, cx, phase, status, PhaseStatus::Skipped);
            refresh(state, wf, &mut effect)?;
        }
        Op::Fail { phase } => {
            let pi = phase_index(state, phase)?;
            let status = state.phases[pi].status;
            match status {
                PhaseStatus::InProgress => {}
                PhaseStatus::Failed => {
                    return Ok(Applied::Nothing(format!(
                        "phase {phase} has already failed"
                    )))
                }
                _ => {
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "failed",
                        detail: "only a phase in progress can fail".to_owned(),
                        hint: None,
                    })
                }
            }
            let p = &mut state.phases[pi];
            p.status = PhaseStatus::Failed;
            p.reason = reason_of(cx);
            p.completed = Some(cx.at.to_owned());
            effect.subject = format!("fail {phase}");
            record_phase(state, &mut effect, cx, phase, status, PhaseStatus::Failed);
        }
        Op::Reopen { phase } => {
            let wf = need(wf, op)?;
            let pi = phase_index(state, phase)?;
            let status = state.phases[pi].status;
            match status {
                PhaseStatus::Completed | PhaseStatus::Failed | PhaseStatus::Skipped => {}
                PhaseStatus::InProgress => {
                    return Ok(Applied::Nothing(format!(
                        "phase {phase} is already in progress"
                    )))
                }
                _ => {
                    return Err(TransitionError::PhaseRefused {
                        phase: phase.clone(),
                        status,
                        action: "reopened",
                        detail: "it has not run yet".to_owned(),
                        hint: Some(format!("`ddx phase start {phase}` starts it")),
                    })
                }
            }
            let p = &mut state.phases[pi];
            p.status = PhaseStatus::InProgress;
            p.started = Some(cx.at.to_owned());
            p.completed = None;
            p.reason = reason_of(cx);
            p.forced.clear();
            let mut cleared = 0;
            for c in p.criteria.iter_mut().filter(|c| c.gate == GateKind::Exit) {
                if c.approval.take().is_some() {
                    cleared += 1;
                }
            }
            effect.subject = format!("reopen {phase}");
            record_phase(
                state,
                &mut effect,
                cx,
                phase,
                status,
                PhaseStatus::InProgress,
            );
            if cleared > 0 {
                effect.lines.push(format!(
                    "{phase}: {cleared} exit approval{} cleared, to be given again",
                    if cleared == 1 { "" } else { "s" }
                ));
            }
            refresh(state, wf, &mut effect)?;
        }
        Op::Next => {
            let wf = need(wf, op)?;
            let held = next(state, wf, cx, evaluator, &mut effect)?;
            if effect.lines.is_empty() {
                return match state.status {
                    InstanceStatus::Completed => Ok(Applied::Nothing(format!(
                        "instance {} is completed",
                        state.instance
                    ))),
                    _ => Err(blocked(state, wf, cx, evaluator, &held)),
                };
            }
        }
        Op::Pause => {
            if state.status == InstanceStatus::Paused {
                return Ok(Applied::Nothing(format!(
                    "instance {} is already paused",
                    state.instance
                )));
            }
            state.paused_from = Some(state.status);
            state.status = InstanceStatus::Paused;
            effect.subject = "pause".to_owned();
        }
        Op::Resume => {
            if state.status != InstanceStatus::Paused {
                return Ok(Applied::Nothing(format!(
                    "instance {} is {}, not paused",
                    state.instance, state.status
                )));
            }
            state.status = state.paused_from.take().unwrap_or(InstanceStatus::Running);
            effect.subject = "resume".to_owned();
        }
        Op::Abort => match state.status {
            InstanceStatus::Cancelled => {
                return Ok(Applied::Nothing(format!(
                    "instance {} is already cancelled",
                    state.instance
                )))
            }
            InstanceStatus::Completed => {
                return Err(TransitionError::InstanceRefused {
                    instance: state.instance.clone(),
                    status: state.status,
                    action: "aborted".to_owned(),
                    hint: None,
                })
            }
            _ => {
                state.paused_from = None;
                state.status = InstanceStatus::Cancelled;
                effect.subject = "abort".to_owned();
            }
        },
    }
    finish(state, &mut effect, cx, before);
    Ok(Applied::Changed(effect))
}

fn force_record(state: &mut State, pi: usize, report: &gates::GateReport, effect: &mut Effect) {
    let phase = state.phases[pi].id.clone();
    for e in report.blocking() {
        state.phases[pi].forced.push(e.criteria.clone());
        effect.lines.push(format!(
            "{phase}: forced past \"{}\" ({})",
            e.criteria,
            e.status.as_str()
        ));
        effect
            .trailers
            .push(("Ddx-Forced".to_owned(), e.criteria.clone()));
    }
}

/// Completes phase `pi`; `evaluated` is its exit gate when the caller evaluated it already (a
/// check may be a long command: it runs once).
#[allow(clippy::too_many_arguments)]
fn complete_phase(
    state: &mut State,
    wf: &Workflow,
    pi: usize,
    force: bool,
    cx: &EventContext<'_>,
    evaluator: &dyn CheckEvaluator,
    effect: &mut Effect,
    evaluated: Option<gates::GateReport>,
) -> Result<(), TransitionError> {
    let phase = state.phases[pi].id.clone();
    let report = match evaluated {
        Some(r) => r,
        None => {
            let cx_gate = GateContext {
                work_dir: cx.work_dir,
                state,
                workflow: Some(wf),
            };
            gates::evaluate(&state.phases[pi], GateKind::Exit, &cx_gate, evaluator)
        }
    };
    if !report.satisfied() {
        if !force {
            return Err(TransitionError::GateNotSatisfied {
                phase: phase.clone(),
                gate: GateKind::Exit,
                blocking: blocking_list(&report),
                hint: gate_hint(&phase, &report, "complete"),
            });
        }
        force_record(state, pi, &report, effect);
    }
    let p = &mut state.phases[pi];
    p.status = PhaseStatus::Completed;
    p.completed = Some(cx.at.to_owned());
    record_phase(
        state,
        effect,
        cx,
        &phase,
        PhaseStatus::InProgress,
        PhaseStatus::Completed,
    );
    Ok(())
}

/// `next`: complete what may complete, then start what became ready and may start. Returns the
/// gates that held phases back (so no check runs twice to explain it).
fn next(
    state: &mut State,
    wf: &Workflow,
    cx: &EventContext<'_>,
    evaluator: &dyn CheckEvaluator,
    effect: &mut Effect,
) -> Result<Vec<gates::GateReport>, TransitionError> {
    let mut held = Vec::new();
    let mut completed = Vec::new();
    for pi in 0..state.phases.len() {
        if state.phases[pi].status != PhaseStatus::InProgress {
            continue;
        }
        let report = {
            let cx_gate = GateContext {
                work_dir: cx.work_dir,
                state,
                workflow: Some(wf),
            };
            gates::evaluate(&state.phases[pi], GateKind::Exit, &cx_gate, evaluator)
        };
        if report.satisfied() {
            complete_phase(state, wf, pi, false, cx, evaluator, effect, Some(report))?;
            completed.push(state.phases[pi].id.clone());
        } else {
            held.push(report);
        }
    }
    refresh(state, wf, effect)?;
    let mut started = Vec::new();
    for pi in 0..state.phases.len() {
        if state.phases[pi].status != PhaseStatus::Ready {
            continue;
        }
        let report = {
            let cx_gate = GateContext {
                work_dir: cx.work_dir,
                state,
                workflow: Some(wf),
            };
            gates::evaluate(&state.phases[pi], GateKind::Input, &cx_gate, evaluator)
        };
        if report.satisfied() {
            let id = state.phases[pi].id.clone();
            let p = &mut state.phases[pi];
            p.status = PhaseStatus::InProgress;
            p.started = Some(cx.at.to_owned());
            record_phase(
                state,
                effect,
                cx,
                &id,
                PhaseStatus::Ready,
                PhaseStatus::InProgress,
            );
            started.push(id);
        } else {
            held.push(report);
        }
    }
    effect.subject = match (completed.is_empty(), started.is_empty()) {
        (false, false) => format!("{} -> {}", completed.join(", "), started.join(", ")),
        (false, true) => format!("complete {}", completed.join(", ")),
        (true, false) => format!("start {}", started.join(", ")),
        (true, true) => "next".to_owned(),
    };
    Ok(held)
}

/// Why `next` could do nothing, with the most useful next command.
fn blocked(
    state: &State,
    wf: &Workflow,
    cx: &EventContext<'_>,
    evaluator: &dyn CheckEvaluator,
    known: &[gates::GateReport],
) -> TransitionError {
    let cx_gate = GateContext {
        work_dir: cx.work_dir,
        state,
        workflow: Some(wf),
    };
    let mut reasons = Vec::new();
    let mut hint = None;
    for p in &state.phases {
        let gate = match p.status {
            PhaseStatus::InProgress => GateKind::Exit,
            PhaseStatus::Ready => GateKind::Input,
            _ => continue,
        };
        let report = match known.iter().find(|r| r.phase == p.id && r.gate == gate) {
            Some(r) => r.clone(),
            None => gates::evaluate(p, gate, &cx_gate, evaluator),
        };
        let items: Vec<String> = report
            .blocking()
            .map(|e| format!("\"{}\" ({})", e.criteria, e.status.as_str()))
            .collect();
        reasons.push(format!(
            "{} ({}) waits for {}",
            p.id,
            p.status,
            items.join(", ")
        ));
        if hint.is_none() {
            hint = report
                .blocking()
                .find(|e| e.status == gates::CriterionStatus::NeedsApproval)
                .map(|e| format!("`ddx gate approve {} \"{}\"`", p.id, e.criteria));
        }
    }
    if reasons.is_empty() {
        reasons.push(
            match state
                .phases
                .iter()
                .find(|p| p.status == PhaseStatus::Failed)
            {
                Some(p) => format!("phase {} failed", p.id),
                None => "no phase is in progress or ready".to_owned(),
            },
        );
    }
    TransitionError::Blocked { reasons, hint }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gates::NotEvaluatedHere;
    use crate::model::{load_workflow, StaticTree};
    use std::collections::BTreeMap;

    const WF: &str = r#"name: t
version: 1.0.0
description: test
variables:
  - name: ui
phases:
  - id: a
    order: 1
    name: A
    exit_criteria: ["A done"]
  - id: b
    order: 2
    name: B
    depends_on: [a]
  - id: c
    order: 3
    name: C
    depends_on: [a]
    when: "ui == 'yes'"
  - id: d
    order: 4
    name: D
    depends_on: [b, c]
    exit_criteria:
      - criteria: built
        check: {command: "true"}
"#;

    fn workflow() -> Workflow {
        let tree = StaticTree::new("t", vec![("workflow.yml", WF.as_bytes())]);
        load_workflow(&tree).unwrap()
    }

    fn fresh(wf: &Workflow, ui: &str) -> State {
        let mut s = State::new(
            wf,
            "t-1",
            "test",
            BTreeMap::from([("ui".to_owned(), ui.to_owned())]),
            "T0",
            "A <a@b>",
        );
        graph::refresh(&mut s, wf).unwrap();
        s
    }

    fn cx(at: &str) -> EventContext<'_> {
        EventContext {
            actor: "A <a@b>",
            at,
            reason: None,
            work_dir: None,
        }
    }

    fn run(s: &mut State, wf: &Workflow, op: Op) -> Result<Applied, TransitionError> {
        apply(s, Some(wf), &op, &cx("T1"), &NotEvaluatedHere)
    }

    fn status(s: &State, id: &str) -> PhaseStatus {
        s.phase(id).unwrap().status
    }

    #[test]
    fn phases_follow_the_graph_and_when_skips() {
        let wf = workflow();
        let mut s = fresh(&wf, "no");
        assert_eq!(status(&s, "a"), PhaseStatus::Ready);
        assert_eq!(status(&s, "b"), PhaseStatus::Pending);
        let err = run(
            &mut s,
            &wf,
            Op::Start {
                phase: "b".into(),
                force: false,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "phase b is pending, so it cannot be started: it waits for a"
        );
        run(
            &mut s,
            &wf,
            Op::Start {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap();
        assert_eq!(s.status, InstanceStatus::Running);
        let err = run(
            &mut s,
            &wf,
            Op::Complete {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, TransitionError::GateNotSatisfied { .. }),
            "{err}"
        );
        run(
            &mut s,
            &wf,
            Op::Approve {
                phase: "a".into(),
                criteria: vec!["a done".into()],
                comment: None,
            },
        )
        .unwrap();
        let Applied::Changed(e) = run(
            &mut s,
            &wf,
            Op::Complete {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap() else {
            panic!("complete changed nothing")
        };
        assert_eq!(
            e.lines,
            vec![
                "a: in_progress -> completed",
                "b: pending -> ready",
                "c: pending -> skipped (`when: ui == 'yes'` is false)"
            ]
        );
        // b and (skipped) c done: d becomes ready once b completes.
        run(
            &mut s,
            &wf,
            Op::Start {
                phase: "b".into(),
                force: false,
            },
        )
        .unwrap();
        run(
            &mut s,
            &wf,
            Op::Complete {
                phase: "b".into(),
                force: false,
            },
        )
        .unwrap();
        assert_eq!(status(&s, "d"), PhaseStatus::Ready);
        run(
            &mut s,
            &wf,
            Op::Start {
                phase: "d".into(),
                force: false,
            },
        )
        .unwrap();
        // d's machine check is not evaluated here: it blocks unless forced.
        let err = run(
            &mut s,
            &wf,
            Op::Complete {
                phase: "d".into(),
                force: false,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the exit gate of phase d is not satisfied: \"built\" (not_evaluated)"
        );
        run(
            &mut s,
            &wf,
            Op::Complete {
                phase: "d".into(),
                force: true,
            },
        )
        .unwrap();
        assert_eq!(s.phase("d").unwrap().forced, vec!["built"]);
        assert_eq!(s.status, InstanceStatus::Completed);
        assert_eq!(s.progress(), 100);
    }

    #[test]
    fn parallel_phases_run_at_once() {
        let wf = workflow();
        let mut s = fresh(&wf, "yes");
        run(
            &mut s,
            &wf,
            Op::Start {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap();
        run(
            &mut s,
            &wf,
            Op::Approve {
                phase: "a".into(),
                criteria: vec!["1".into()],
                comment: None,
            },
        )
        .unwrap();
        let Applied::Changed(e) = run(&mut s, &wf, Op::Next).unwrap() else {
            panic!()
        };
        assert_eq!(e.subject, "a -> b, c");
        assert_eq!(status(&s, "b"), PhaseStatus::InProgress);
        assert_eq!(status(&s, "c"), PhaseStatus::InProgress);
    }

    #[test]
    fn approvals_are_recorded_once_and_reopen_clears_them() {
        let wf = workflow();
        let mut s = fresh(&wf, "no");
        run(
            &mut s,
            &wf,
            Op::Start {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap();
        let op = Op::Approve {
            phase: "a".into(),
            criteria: vec!["A done".into()],
            comment: None,
        };
        assert!(matches!(
            run(&mut s, &wf, op.clone()).unwrap(),
            Applied::Changed(_)
        ));
        let again = run(&mut s, &wf, op).unwrap();
        assert_eq!(
            again,
            Applied::Nothing("\"A done\" of phase a was already approved by A <a@b> at T1".into())
        );
        assert_eq!(s.metrics.approvals, 1);
        run(
            &mut s,
            &wf,
            Op::Complete {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap();
        run(&mut s, &wf, Op::Reopen { phase: "a".into() }).unwrap();
        assert_eq!(status(&s, "a"), PhaseStatus::InProgress);
        assert_eq!(status(&s, "b"), PhaseStatus::Pending);
        assert!(s.phase("a").unwrap().criteria[0].approval.is_none());
        let err = run(
            &mut s,
            &wf,
            Op::Approve {
                phase: "a".into(),
                criteria: vec!["nope".into()],
                comment: None,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "phase a has no criterion matching \"nope\""
        );
        let err = run(
            &mut s,
            &wf,
            Op::Approve {
                phase: "x".into(),
                criteria: vec!["1".into()],
                comment: None,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "workflow t has no phase `x` (phases: a, b, c, d)"
        );
    }

    #[test]
    fn paused_and_cancelled_instances_refuse_work() {
        let wf = workflow();
        let mut s = fresh(&wf, "no");
        run(&mut s, &wf, Op::Pause).unwrap();
        let err = run(
            &mut s,
            &wf,
            Op::Start {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance t-1 is paused, so it cannot be changed by `start`"
        );
        run(&mut s, &wf, Op::Resume).unwrap();
        assert_eq!(s.status, InstanceStatus::Pending);
        assert!(matches!(
            run(&mut s, &wf, Op::Resume).unwrap(),
            Applied::Nothing(_)
        ));
        run(&mut s, &wf, Op::Abort).unwrap();
        assert_eq!(s.status, InstanceStatus::Cancelled);
        assert!(run(&mut s, &wf, Op::Next).is_err());
    }

    #[test]
    fn failing_a_phase_fails_the_instance_until_reopened() {
        let wf = workflow();
        let mut s = fresh(&wf, "no");
        run(
            &mut s,
            &wf,
            Op::Start {
                phase: "a".into(),
                force: false,
            },
        )
        .unwrap();
        run(&mut s, &wf, Op::Fail { phase: "a".into() }).unwrap();
        assert_eq!(s.status, InstanceStatus::Failed);
        run(&mut s, &wf, Op::Reopen { phase: "a".into() }).unwrap();
        assert_eq!(s.status, InstanceStatus::Running);
    }

    #[test]
    fn next_says_what_blocks_it() {
        let wf = workflow();
        let mut s = fresh(&wf, "no");
        run(&mut s, &wf, Op::Next).unwrap();
        assert_eq!(status(&s, "a"), PhaseStatus::InProgress);
        let err = run(&mut s, &wf, Op::Next).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing can advance: a (in_progress) waits for \"A done\" (needs_approval)"
        );
        assert_eq!(err.hint().unwrap(), "`ddx gate approve a \"A done\"`");
    }
}
