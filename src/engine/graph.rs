//! The phase graph at run time: which phases are ready, which wait, which `when:` skips.
//!
//! A phase waiting (`pending` or `ready`) becomes `ready` once every phase it depends on is
//! completed or skipped and its `when:` holds, `skipped` when its `when:` is false, and goes
//! back to `pending` when a dependency is reopened. Phases that have started keep their status:
//! the graph never undoes work. Several phases may be ready or in progress at once.

use super::state::{PhaseStatus, State};
use crate::model::template::eval_condition;
use crate::model::Workflow;

/// A `when:` condition that could not be evaluated.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the `when:` of phase {phase} (`{expr}`) cannot be evaluated: {message}")]
pub struct ConditionError {
    pub phase: String,
    pub expr: String,
    pub message: String,
}

/// A phase whose status the graph changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub phase: String,
    pub from: PhaseStatus,
    pub to: PhaseStatus,
    pub reason: Option<String>,
}

/// Brings every waiting phase's status in line with its dependencies and `when:`.
pub fn refresh(state: &mut State, workflow: &Workflow) -> Result<Vec<Change>, ConditionError> {
    let ctx = state.template_context();
    let mut changes: Vec<Change> = Vec::new();
    // Skips can cascade: repeat until nothing moves (at most once per phase).
    for _ in 0..=state.phases.len() {
        let mut moved = false;
        for i in 0..state.phases.len() {
            let current = state.phases[i].status;
            if !matches!(current, PhaseStatus::Pending | PhaseStatus::Ready) {
                continue;
            }
            let id = state.phases[i].id.clone();
            let Some(def) = workflow.phase(&id) else {
                continue;
            };
            let deps_done = def
                .depends_on
                .iter()
                .all(|d| state.phase(d).is_none_or(|p| p.status.is_done()));
            let (next, reason) = if !deps_done {
                (PhaseStatus::Pending, None)
            } else {
                match &def.when {
                    Some(expr) => {
                        let holds = eval_condition(expr, &ctx).map_err(|e| ConditionError {
                            phase: id.clone(),
                            expr: expr.clone(),
                            message: e.to_string(),
                        })?;
                        if holds {
                            (PhaseStatus::Ready, None)
                        } else {
                            (
                                PhaseStatus::Skipped,
                                Some(format!("`when: {expr}` is false")),
                            )
                        }
                    }
                    None => (PhaseStatus::Ready, None),
                }
            };
            if next != current {
                let p = &mut state.phases[i];
                p.status = next;
                if next == PhaseStatus::Skipped {
                    p.reason = reason.clone();
                }
                match changes.iter_mut().find(|c| c.phase == id) {
                    Some(c) => {
                        c.to = next;
                        c.reason = reason;
                    }
                    None => changes.push(Change {
                        phase: id,
                        from: current,
                        to: next,
                        reason,
                    }),
                }
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    changes.retain(|c| c.from != c.to);
    Ok(changes)
}

/// The phases depending on `id`, directly or through others.
pub fn dependants(workflow: &Workflow, id: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut frontier = vec![id.to_owned()];
    while let Some(cur) = frontier.pop() {
        for p in &workflow.phases {
            if p.depends_on.contains(&cur) && !out.contains(&p.id) {
                out.push(p.id.clone());
                frontier.push(p.id.clone());
            }
        }
    }
    out
}
