//! `ddx stats`: usage of each workflow, computed from the instance histories in
//! `refs/ddx/instances/*` (each tip's `state.yml` and the trailers of every event commit), the
//! bypasses the hooks recorded in `refs/ddx/audit`, and the ratings on `refs/ddx/ratings`;
//! never from a side file. The catalog's `metadata.yml` statistics are reported beside them as
//! the author's claims.

use super::recommend::Outcomes;
use crate::engine::gates::CriterionStatus;
use crate::engine::replay::CheckCall;
use crate::engine::state::{InstanceStatus, State};
use crate::store::chain::{self, Reader};
use crate::store::event::{read_event, Message};
use crate::store::ratings::{self, Rating, RatingError};
use crate::store::{refs, ObjectId, Repo, StoreError};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Why statistics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ratings(#[from] RatingError),
    #[error("the state of instance {instance} cannot be read")]
    State {
        instance: String,
        #[source]
        source: crate::engine::state::StateError,
    },
    #[error("instance {instance}'s history cannot be read: commit {commit}: {why}")]
    History {
        instance: String,
        commit: String,
        why: String,
    },
}

/// The count and mean of a workflow's ratings (every version, every rater).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RatingSummary {
    pub count: usize,
    /// `None` while nobody has rated it; rounded to two decimals.
    pub mean: Option<f64>,
}

/// The ratings summarised per workflow name.
pub fn rating_summaries(ratings: &[Rating]) -> BTreeMap<String, RatingSummary> {
    let mut sums: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for r in ratings {
        let s = sums.entry(r.workflow.clone()).or_default();
        s.0 += 1;
        s.1 += u64::from(r.score);
    }
    sums.into_iter()
        .map(|(w, (count, total))| {
            let mean = (total as f64 / count as f64 * 100.0).round() / 100.0;
            (
                w,
                RatingSummary {
                    count,
                    mean: Some(mean),
                },
            )
        })
        .collect()
}

/// The summaries of every rating on `refs/ddx/ratings`.
pub fn ratings_by_workflow(repo: &Repo) -> Result<BTreeMap<String, RatingSummary>, RatingError> {
    Ok(rating_summaries(&ratings::ratings(repo)?))
}

/// One phase of a workflow, over its instances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStats {
    pub id: String,
    /// The median of completed − started, over the instances that completed the phase.
    pub median_s: Option<f64>,
    /// How often each criterion's machine check was recorded failing.
    pub gate_failures: BTreeMap<String, usize>,
    /// Criteria passed over with `--force` (`Ddx-Forced` trailers).
    pub forced: usize,
}

/// The usage of one workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowStats {
    pub workflow: String,
    /// Instances started.
    pub instances: usize,
    pub completed: usize,
    /// Pending, running or paused.
    pub active: usize,
    /// Cancelled or failed.
    pub abandoned: usize,
    /// completed / instances, rounded to three decimals.
    pub completion_rate: f64,
    /// The median of last event − first event, over completed instances.
    pub median_s: Option<f64>,
    /// Criteria passed over with `--force`, over every phase.
    pub forced: usize,
    /// Commits made without the pre-commit hook while an instance of it was active.
    pub bypasses: usize,
    pub phases: Vec<PhaseStats>,
    pub ratings: RatingSummary,
    /// The `statistics` of the workflow's `metadata.yml`: what its author claims, not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_claims: Option<serde_json::Value>,
}

/// What one instance's history contributes.
#[derive(Debug, Default)]
struct InstanceFacts {
    workflow: String,
    status: Option<InstanceStatus>,
    duration: Option<i64>,
    /// (phase id, seconds) of each completed phase.
    phase_times: Vec<(String, i64)>,
    /// (phase, criterion) of each failed check.
    failures: Vec<(String, String)>,
    /// The phase of each forced criterion.
    forced: Vec<String>,
    phase_order: Vec<String>,
}

/// Reads one instance: its tip's state and the trailers of every event commit.
fn facts(
    reader: &Reader,
    repo: &Repo,
    id: &str,
    tip: ObjectId,
) -> Result<InstanceFacts, StatsError> {
    let name = refs::instance_ref(id);
    let event = read_event(repo, &name, tip)?;
    let state = State::from_yaml(&event.state, &name).map_err(|source| StatsError::State {
        instance: id.to_owned(),
        source,
    })?;
    struct Ev {
        seconds: i64,
        message: Message,
    }
    let walk = reader.walk_map(&[tip], |_, view| {
        let text = view.message();
        let trailers = chain::trailers(&text)
            .into_iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case("Ddx-Check")
                    || k.eq_ignore_ascii_case("Ddx-Forced")
                    || k.eq_ignore_ascii_case("Ddx-Phase")
            })
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Ev {
            seconds: view.author()?.seconds,
            message: Message {
                trailers,
                ..Message::default()
            },
        })
    });
    if let Some(m) = walk.missing.first() {
        return Err(StatsError::History {
            instance: id.to_owned(),
            commit: m.id.to_string(),
            why: m.why.to_string(),
        });
    }
    let mut f = InstanceFacts {
        workflow: state.workflow.clone(),
        status: Some(state.status),
        phase_order: state.phases.iter().map(|p| p.id.clone()).collect(),
        ..InstanceFacts::default()
    };
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for node in walk.nodes.values() {
        let ev = &node.value;
        first = first.min(ev.seconds);
        last = last.max(ev.seconds);
        for check in CheckCall::all_in(&ev.message) {
            if check.status != CriterionStatus::Failed {
                continue;
            }
            let criterion = state
                .phase(&check.phase)
                .and_then(|p| p.criteria.get(check.number.wrapping_sub(1)))
                .map_or_else(|| format!("#{}", check.number), |c| c.criteria.clone());
            f.failures.push((check.phase.clone(), criterion));
        }
        let phase = ev.message.get("Ddx-Phase");
        for (k, criterion) in &ev.message.trailers {
            if !k.eq_ignore_ascii_case("Ddx-Forced") {
                continue;
            }
            // An event may name several phases (`Ddx-Phase: design,ship`): the one whose
            // state lists the criterion as forced owns it.
            let named: Vec<&str> = phase
                .map(|p| p.split(',').map(str::trim).collect())
                .unwrap_or_default();
            let owner = state
                .phases
                .iter()
                .filter(|p| named.is_empty() || named.contains(&p.id.as_str()))
                .find(|p| p.forced.contains(criterion))
                .map(|p| p.id.clone())
                .or_else(|| named.first().map(|p| (*p).to_owned()))
                .unwrap_or_default();
            f.forced.push(owner);
        }
    }
    if state.status == InstanceStatus::Completed && first <= last {
        f.duration = Some(last - first);
    }
    for p in &state.phases {
        let at = |t: &Option<String>| t.as_deref().and_then(crate::observe::time::parse_timestamp);
        if let (Some(s), Some(c)) = (at(&p.started), at(&p.completed)) {
            if c >= s {
                f.phase_times.push((p.id.clone(), c - s));
            }
        }
    }
    Ok(f)
}

fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
    })
}

/// Counts of the bypasses recorded in `refs/ddx/audit`, per instance they name.
fn bypasses(repo: &Repo, reader: &Reader) -> Result<HashMap<String, usize>, StoreError> {
    let mut out = HashMap::new();
    let Some(head) = refs::read(repo, refs::AUDIT)? else {
        return Ok(out);
    };
    let walk = reader.walk_map(&[head], |_, view| {
        let text = view.message();
        let t = chain::trailers(&text);
        let bypass = t
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Ddx-Operation") && *v == "bypass");
        Ok(bypass.then(|| {
            t.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("Ddx-Instances"))
                .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()))
                .filter(|s| !s.is_empty())
                .collect::<Vec<String>>()
        }))
    });
    for node in walk.nodes.values() {
        for i in node.value.iter().flatten() {
            *out.entry(i.clone()).or_default() += 1;
        }
    }
    Ok(out)
}

/// How many instances of each workflow `refs/ddx/instances/*` holds (by the workflow their
/// state names).
pub fn instance_counts(repo: &Repo) -> Result<BTreeMap<String, usize>, StatsError> {
    Ok(instance_outcomes(repo)?
        .into_iter()
        .map(|(w, o)| (w, o.instances))
        .collect())
}

/// The instances of each workflow here, completed and abandoned (cancelled or failed), from
/// each instance's tip.
pub fn instance_outcomes(repo: &Repo) -> Result<BTreeMap<String, Outcomes>, StatsError> {
    let mut out: BTreeMap<String, Outcomes> = BTreeMap::new();
    for (id, tip) in refs::list(repo, refs::INSTANCES)? {
        let name = refs::instance_ref(&id);
        let event = read_event(repo, &name, tip)?;
        let state = State::from_yaml(&event.state, &name).map_err(|source| StatsError::State {
            instance: id.clone(),
            source,
        })?;
        let o = out.entry(state.workflow).or_default();
        o.instances += 1;
        match state.status {
            InstanceStatus::Completed => o.completed += 1,
            InstanceStatus::Cancelled | InstanceStatus::Failed => o.abandoned += 1,
            _ => {}
        }
    }
    Ok(out)
}

/// The usage of every workflow with an instance or a rating here (only `only`, when given),
/// by workflow name. `claims` gives a workflow's `metadata.yml` statistics, when the catalog
/// has it.
pub fn stats(
    repo: &Repo,
    only: Option<&str>,
    claims: &dyn Fn(&str) -> Option<serde_json::Value>,
) -> Result<Vec<WorkflowStats>, StatsError> {
    let instances = refs::list(repo, refs::INSTANCES)?;
    // Instances in parallel (one repository handle per worker), the audit chain beside them.
    let shared = repo.shared();
    let local = || {
        let r = shared.to_thread_local(4 * 1024 * 1024);
        let reader = Reader::new(&r);
        (r, reader)
    };
    let (read, bypassed) = rayon::join(
        || {
            instances
                .par_iter()
                .map_init(local, |(r, reader), (id, tip)| {
                    facts(reader, r, id, *tip).map(|f| (id.clone(), f))
                })
                .collect::<Vec<_>>()
        },
        || {
            let (r, reader) = local();
            bypasses(&r, &reader)
        },
    );
    let bypassed = bypassed?;
    let mut per: BTreeMap<String, Vec<(String, InstanceFacts)>> = BTreeMap::new();
    for item in read {
        let (id, f) = item?;
        if only.is_some_and(|w| w != f.workflow) {
            continue;
        }
        per.entry(f.workflow.clone()).or_default().push((id, f));
    }
    let rated = ratings_by_workflow(repo)?;
    let mut names: Vec<String> = per.keys().cloned().collect();
    for w in rated.keys() {
        if only.is_none_or(|o| o == w) && !per.contains_key(w) {
            names.push(w.clone());
        }
    }
    if let Some(o) = only {
        if !names.iter().any(|n| n == o) {
            names.push(o.to_owned());
        }
    }
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let list = per.remove(&name).unwrap_or_default();
        let count = |pred: &dyn Fn(InstanceStatus) -> bool| {
            list.iter()
                .filter(|(_, f)| f.status.is_some_and(pred))
                .count()
        };
        let completed = count(&|s| s == InstanceStatus::Completed);
        let abandoned = count(&|s| matches!(s, InstanceStatus::Cancelled | InstanceStatus::Failed));
        let active = list.len() - completed - abandoned;
        let mut durations: Vec<i64> = list.iter().filter_map(|(_, f)| f.duration).collect();
        let mut order: Vec<String> = Vec::new();
        for (_, f) in &list {
            for p in &f.phase_order {
                if !order.contains(p) {
                    order.push(p.clone());
                }
            }
        }
        let phases = order
            .iter()
            .map(|id| {
                let mut times: Vec<i64> = list
                    .iter()
                    .flat_map(|(_, f)| f.phase_times.iter())
                    .filter(|(p, _)| p == id)
                    .map(|(_, s)| *s)
                    .collect();
                let mut gate_failures = BTreeMap::new();
                for (_, f) in &list {
                    for (p, c) in &f.failures {
                        if p == id {
                            *gate_failures.entry(c.clone()).or_default() += 1;
                        }
                    }
                }
                PhaseStats {
                    id: id.clone(),
                    median_s: median(&mut times),
                    gate_failures,
                    forced: list
                        .iter()
                        .flat_map(|(_, f)| f.forced.iter())
                        .filter(|p| *p == id)
                        .count(),
                }
            })
            .collect();
        let instances = list.len();
        out.push(WorkflowStats {
            completion_rate: if instances == 0 {
                0.0
            } else {
                (completed as f64 / instances as f64 * 1000.0).round() / 1000.0
            },
            median_s: median(&mut durations),
            forced: list.iter().map(|(_, f)| f.forced.len()).sum(),
            bypasses: list
                .iter()
                .map(|(id, _)| bypassed.get(id).copied().unwrap_or(0))
                .sum(),
            phases,
            ratings: rated.get(&name).copied().unwrap_or_default(),
            author_claims: claims(&name),
            workflow: name,
            instances,
            completed,
            active,
            abandoned,
        });
    }
    Ok(out)
}
