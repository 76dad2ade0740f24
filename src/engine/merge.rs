//! The three-way merge of two forked histories of one instance: the state of a merge event.
//!
//! When two clones changed the same instance, `ddx sync` joins the two tips with a merge event
//! whose state is [`merge`] of the two tips' states over their merge base. The rules, written
//! for users in docs/storage.md:
//! - a field only one side changed takes that side's value;
//! - approvals are a union: a criterion approved on either side stays approved (approved on
//!   both: the earlier approval, with its actor and time);
//! - the same field changed differently on both sides takes the **later** side's value (the
//!   side whose tip was committed later; equal times: the greater commit id) and, where the
//!   difference matters (a phase's status, the instance's status, a variable, a file), records
//!   a [`Conflict`] that stays until a person settles it;
//! - counters add what each side added; recent transitions are the union, in time order.
//!
//! The merge is symmetric: which clone joins, and in which order it names the sides, does not
//! change the result, so clones that join the same pair write the same state.

use super::machine::derive_status;
use super::state::{
    Conflict, CriterionState, FileRecord, Metrics, PhaseState, State, RECENT_TRANSITIONS,
};
use std::collections::{BTreeMap, BTreeSet};

/// One side of a merge: a tip's state and what orders it.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub state: &'a State,
    /// The tip's event commit (hex).
    pub commit: &'a str,
    /// The tip's commit time (seconds since the epoch).
    pub time: i64,
}

/// The three-way result of one value.
enum Pick<T> {
    Agreed(T),
    /// Both sides changed it differently: the later side's, and the earlier side's.
    Clash(T, T),
}

/// The three-way rule for one value: `early` and `late` as the sides have it, `base` as the
/// merge base had it.
fn pick<T: PartialEq + Clone>(base: &T, early: &T, late: &T) -> Pick<T> {
    if early == late || early == base {
        Pick::Agreed(late.clone())
    } else if late == base {
        Pick::Agreed(early.clone())
    } else {
        Pick::Clash(late.clone(), early.clone())
    }
}

struct Merger<'a> {
    early: Side<'a>,
    late: Side<'a>,
    conflicts: Vec<Conflict>,
}

impl Merger<'_> {
    fn clash(&mut self, phase: Option<&str>, field: String, kept: String, other: String) {
        self.conflicts.push(Conflict {
            phase: phase.map(str::to_owned),
            field,
            kept,
            kept_from: self.late.commit.to_owned(),
            other,
            other_from: self.early.commit.to_owned(),
        });
    }

    /// Per-key three-way merge of a map; clashes are recorded as `<what> <key>`.
    fn map<V: PartialEq + Clone>(
        &mut self,
        what: &str,
        base: &BTreeMap<String, V>,
        early: &BTreeMap<String, V>,
        late: &BTreeMap<String, V>,
        show: impl Fn(Option<&V>) -> String,
    ) -> BTreeMap<String, V> {
        let keys: BTreeSet<&String> = base.keys().chain(early.keys()).chain(late.keys()).collect();
        let mut out = BTreeMap::new();
        for k in keys {
            let value = match pick(&base.get(k), &early.get(k), &late.get(k)) {
                Pick::Agreed(v) => v,
                Pick::Clash(kept, other) => {
                    self.clash(None, format!("{what} {k}"), show(kept), show(other));
                    kept
                }
            };
            if let Some(v) = value {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    fn phase(
        &mut self,
        base: Option<&PhaseState>,
        early: Option<&PhaseState>,
        late: Option<&PhaseState>,
    ) -> Option<PhaseState> {
        let (e, l) = match pick(&base, &early, &late) {
            Pick::Agreed(p) => return p.cloned(),
            Pick::Clash(l, e) => (e, l),
        };
        // A phase one side no longer has (an upgrade removed it) and the other changed: kept.
        let (Some(e), Some(l)) = (e, l) else {
            return e.or(l).cloned();
        };
        let progress = |p: Option<&PhaseState>| {
            p.map(|p| {
                (
                    p.status,
                    p.started.clone(),
                    p.completed.clone(),
                    p.reason.clone(),
                )
            })
        };
        let mut out = l.clone();
        match pick(&progress(base), &progress(Some(e)), &progress(Some(l))) {
            Pick::Agreed(Some((status, started, completed, reason))) => {
                out.status = status;
                out.started = started;
                out.completed = completed;
                out.reason = reason;
            }
            Pick::Agreed(None) => {}
            Pick::Clash(_, _) if e.status == l.status => {}
            Pick::Clash(_, _) => {
                let show = |p: &PhaseState| match &p.reason {
                    Some(r) => format!("{}: {r}", p.status),
                    None => p.status.to_string(),
                };
                self.clash(Some(&l.id), "status".to_owned(), show(l), show(e));
            }
        }
        for f in &e.forced {
            if !out.forced.contains(f) {
                out.forced.push(f.clone());
            }
        }
        let key = |c: &CriterionState| (c.criteria.clone(), c.gate.as_str());
        let find = |p: Option<&PhaseState>, k: &(String, &str)| {
            p.and_then(|p| p.criteria.iter().find(|c| &key(c) == k).cloned())
        };
        let mut criteria = Vec::new();
        let order = l.criteria.iter().chain(
            e.criteria
                .iter()
                .filter(|c| !l.criteria.iter().any(|x| key(x) == key(c))),
        );
        for c in order {
            let k = key(c);
            let (cb, ce, cl) = (find(base, &k), find(Some(e), &k), find(Some(l), &k));
            let merged = match pick(&cb, &ce, &cl) {
                Pick::Agreed(c) => c,
                Pick::Clash(cl, ce) => match (cl, ce) {
                    (Some(mut cl), Some(ce)) => {
                        // Approvals are a union; approved on both sides, the earlier stands.
                        cl.approval = match (cl.approval.take(), ce.approval) {
                            (Some(a), Some(b)) => Some(if (&b.at, &b.by) < (&a.at, &a.by) {
                                b
                            } else {
                                a
                            }),
                            (a, b) => a.or(b),
                        };
                        Some(cl)
                    }
                    (cl, ce) => cl.or(ce),
                },
            };
            criteria.extend(merged);
        }
        out.criteria = criteria;
        Some(out)
    }
}

/// The three-way rule for one value that has no conflict of its own (the pinned definition
/// tree): one side's change is taken, changes on both take the later side's.
pub fn later_value<T: PartialEq + Clone>(base: T, a: (Side<'_>, T), b: (Side<'_>, T)) -> T {
    let ((_, early), (_, late)) = if (a.0.time, a.0.commit) <= (b.0.time, b.0.commit) {
        (a, b)
    } else {
        (b, a)
    };
    match pick(&base, &early, &late) {
        Pick::Agreed(v) | Pick::Clash(v, _) => v,
    }
}

/// The state of the merge event joining `a` and `b` over `base`: see the module documentation.
/// `events` is the number of events the merge event's chain holds, itself included (the
/// commits both sides reach, plus one).
pub fn merge(base: &State, a: Side<'_>, b: Side<'_>, events: u64) -> State {
    let (early, late) = if (a.time, a.commit) <= (b.time, b.commit) {
        (a, b)
    } else {
        (b, a)
    };
    let (e, l) = (early.state, late.state);
    // Two joins of the same pair (clones that joined at once): the same state, nothing to add.
    let mut same = e.clone();
    same.metrics.events = l.metrics.events;
    if &same == l {
        same.metrics.events = events;
        return same;
    }
    let mut m = Merger {
        early,
        late,
        conflicts: Vec::new(),
    };
    let mut out = l.clone();
    out.version = match pick(&base.version, &e.version, &l.version) {
        Pick::Agreed(v) => v,
        Pick::Clash(kept, other) => {
            m.clash(None, "version".to_owned(), kept.clone(), other);
            kept
        }
    };
    let status = |s: &State| (s.status, s.paused_from);
    match pick(&status(base), &status(e), &status(l)) {
        Pick::Agreed((s, p)) => {
            out.status = s;
            out.paused_from = p;
        }
        Pick::Clash((s, p), (other, _)) => {
            out.status = s;
            out.paused_from = p;
            m.clash(None, "status".to_owned(), s.to_string(), other.to_string());
        }
    }
    let text = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".to_owned());
    out.variables = m.map(
        "variable",
        &base.variables,
        &e.variables,
        &l.variables,
        text,
    );
    out.context = m.map("context", &base.context, &e.context, &l.context, text);
    let blob = |f: Option<&FileRecord>| {
        f.and_then(|f| f.after.clone())
            .unwrap_or_else(|| "(deleted)".to_owned())
    };
    out.files = m.map("file", &base.files, &e.files, &l.files, blob);

    let mut ids: Vec<&str> = l.phases.iter().map(|p| p.id.as_str()).collect();
    for p in &e.phases {
        if !ids.contains(&p.id.as_str()) {
            ids.push(&p.id);
        }
    }
    out.phases = ids
        .into_iter()
        .filter_map(|id| m.phase(base.phase(id), e.phase(id), l.phase(id)))
        .collect();

    // Counters add what each side added.
    let added = |f: fn(&Metrics) -> u64| {
        let (b, e, l) = (f(&base.metrics), f(&e.metrics), f(&l.metrics));
        (e + l).saturating_sub(b)
    };
    out.metrics = Metrics {
        events,
        transitions: added(|m| m.transitions),
        approvals: added(|m| m.approvals),
    };
    let mut transitions = e.transitions.clone();
    for t in &l.transitions {
        if !transitions.contains(t) {
            transitions.push(t.clone());
        }
    }
    transitions.sort_by(|x, y| {
        (&x.at, &x.by, &x.event, &x.phase, &x.from, &x.to)
            .cmp(&(&y.at, &y.by, &y.event, &y.phase, &y.from, &y.to))
    });
    let extra = transitions.len().saturating_sub(RECENT_TRANSITIONS);
    transitions.drain(..extra);
    out.transitions = transitions;

    // A conflict the base had stays only while neither side settled it.
    let settled = |c: &Conflict| {
        base.conflicts.contains(c) && !(e.conflicts.contains(c) && l.conflicts.contains(c))
    };
    let mut conflicts: BTreeSet<Conflict> = e
        .conflicts
        .iter()
        .chain(&l.conflicts)
        .filter(|c| !settled(c))
        .cloned()
        .collect();
    conflicts.extend(m.conflicts);
    out.conflicts = conflicts.into_iter().collect();
    derive_status(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{Approval, GateKind, InstanceStatus, PhaseStatus, TransitionRecord};

    fn criterion(text: &str) -> CriterionState {
        CriterionState {
            criteria: text.into(),
            gate: GateKind::Exit,
            kind: "human".into(),
            required: true,
            approval: None,
        }
    }

    fn phase(id: &str, status: PhaseStatus) -> PhaseState {
        PhaseState {
            id: id.into(),
            name: id.into(),
            status,
            started: None,
            completed: None,
            reason: None,
            forced: vec![],
            criteria: vec![criterion("one"), criterion("two")],
        }
    }

    fn base() -> State {
        State {
            format: 1,
            instance: "w-1".into(),
            workflow: "w".into(),
            version: "1".into(),
            source: "embedded".into(),
            status: InstanceStatus::Running,
            paused_from: None,
            created: "T0".into(),
            created_by: "A <a@x>".into(),
            variables: BTreeMap::from([("name".into(), "shop".into())]),
            context: BTreeMap::new(),
            phases: vec![
                phase("frame", PhaseStatus::InProgress),
                phase("design", PhaseStatus::Pending),
            ],
            metrics: Metrics {
                events: 3,
                transitions: 2,
                approvals: 0,
            },
            transitions: vec![],
            files: BTreeMap::new(),
            conflicts: vec![],
        }
    }

    fn approve(s: &mut State, phase: &str, i: usize, by: &str, at: &str) {
        let p = s.phase_mut(phase).unwrap();
        p.criteria[i].approval = Some(Approval {
            by: by.into(),
            at: at.into(),
            comment: None,
        });
        s.metrics.approvals += 1;
        s.metrics.events += 1;
    }

    fn side<'a>(state: &'a State, commit: &'a str, time: i64) -> Side<'a> {
        Side {
            state,
            commit,
            time,
        }
    }

    #[test]
    fn approvals_of_both_sides_are_kept_and_counted() {
        let b = base();
        let mut x = base();
        approve(&mut x, "frame", 0, "X <x@x>", "T1");
        let mut y = base();
        approve(&mut y, "frame", 1, "Y <y@y>", "T2");
        let m = merge(&b, side(&x, "aa", 10), side(&y, "bb", 20), 6);
        let f = m.phase("frame").unwrap();
        assert_eq!(f.criteria[0].approval.as_ref().unwrap().by, "X <x@x>");
        assert_eq!(f.criteria[1].approval.as_ref().unwrap().by, "Y <y@y>");
        assert_eq!(m.metrics.approvals, 2);
        assert_eq!(m.metrics.events, 6);
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    }

    #[test]
    fn the_same_criterion_approved_on_both_sides_keeps_the_earlier_approval() {
        let b = base();
        let mut x = base();
        approve(&mut x, "frame", 0, "X <x@x>", "T5");
        let mut y = base();
        approve(&mut y, "frame", 0, "Y <y@y>", "T3");
        let m = merge(&b, side(&x, "aa", 30), side(&y, "bb", 20), 6);
        let a = m.phase("frame").unwrap().criteria[0]
            .approval
            .clone()
            .unwrap();
        assert_eq!((a.by.as_str(), a.at.as_str()), ("Y <y@y>", "T3"));
    }

    #[test]
    fn complete_against_fail_keeps_the_later_and_records_a_conflict() {
        let b = base();
        let mut x = base();
        x.phase_mut("frame").unwrap().status = PhaseStatus::Completed;
        let mut y = base();
        y.phase_mut("frame").unwrap().status = PhaseStatus::Failed;
        y.phase_mut("frame").unwrap().reason = Some("tests broke".into());
        let m = merge(&b, side(&x, "aa", 20), side(&y, "bb", 10), 6);
        assert_eq!(m.phase("frame").unwrap().status, PhaseStatus::Completed);
        assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
        let c = &m.conflicts[0];
        assert_eq!(
            c.to_string(),
            "phase frame: status is `completed` (from aa), the other side had `failed: tests broke` (from bb)"
        );
        // Equal times: the greater commit id is the later side.
        let m = merge(&b, side(&x, "aa", 10), side(&y, "bb", 10), 6);
        assert_eq!(m.phase("frame").unwrap().status, PhaseStatus::Failed);
        assert_eq!(m.status, InstanceStatus::Failed);
    }

    #[test]
    fn merging_is_symmetric() {
        let b = base();
        let mut x = base();
        x.phase_mut("frame").unwrap().status = PhaseStatus::Completed;
        x.variables.insert("name".into(), "store".into());
        approve(&mut x, "frame", 0, "X <x@x>", "T1");
        x.record(TransitionRecord {
            at: "T1".into(),
            by: "X".into(),
            event: "complete".into(),
            phase: Some("frame".into()),
            from: "in_progress".into(),
            to: "completed".into(),
            reason: None,
        });
        let mut y = base();
        y.phase_mut("frame").unwrap().status = PhaseStatus::Failed;
        y.variables.insert("name".into(), "market".into());
        y.variables.insert("lang".into(), "rust".into());
        approve(&mut y, "frame", 1, "Y <y@y>", "T2");
        let one = merge(&b, side(&x, "aa", 5), side(&y, "bb", 9), 6);
        let two = merge(&b, side(&y, "bb", 9), side(&x, "aa", 5), 6);
        assert_eq!(one, two);
        assert_eq!(one.to_yaml(), two.to_yaml());
        assert_eq!(one.variables["lang"], "rust");
        assert_eq!(one.variables["name"], "market");
        assert_eq!(one.conflicts.len(), 2, "{:?}", one.conflicts);
        assert_eq!(one.transitions.len(), 1);
    }

    #[test]
    fn a_change_of_one_side_is_taken_and_a_settled_conflict_stays_settled() {
        let mut b = base();
        b.conflicts.push(Conflict {
            phase: Some("frame".into()),
            field: "status".into(),
            kept: "completed".into(),
            kept_from: "aa".into(),
            other: "failed".into(),
            other_from: "bb".into(),
        });
        let mut x = b.clone();
        x.conflicts.clear();
        x.phase_mut("design").unwrap().status = PhaseStatus::Ready;
        let y = b.clone();
        let m = merge(&b, side(&x, "cc", 1), side(&y, "dd", 2), 6);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.phase("design").unwrap().status, PhaseStatus::Ready);
    }
}
