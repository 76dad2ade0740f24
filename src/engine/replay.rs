//! Recording what a transition depended on, and replaying it.
//!
//! A transition's outcome depends on the state before it, the operation, who and when, and
//! the results of the machine checks it evaluated (which read the work tree of that moment).
//! [`Recorder`] wraps the engine's check evaluator and keeps each result, which the event
//! records as a `Ddx-Check: <phase> <number> <status>[: <detail>]` trailer. [`replay`] re-applies
//! an event with the same state machine, from its trailers and commit header, with a
//! [`Replayer`] answering the checks from the recorded results, so `ddx audit verify` can tell
//! whether an event's `state.yml` is the one its history produces.

use super::gates::{CheckEvaluator, CheckResult, CriterionStatus, GateContext};
use super::graph;
use super::machine::{self, Applied, EventContext, Op};
use super::state::{FileRecord, State, TransitionRecord};
use super::work;
use crate::model::{Check, Workflow};
use crate::store::event::{one_line, Message};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

/// The trailer holding one recorded check result.
pub const CHECK_TRAILER: &str = "Ddx-Check";

/// One machine check a transition evaluated, and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCall {
    pub phase: String,
    /// 1-based position among the phase's criteria, as `ddx workflow status` numbers them.
    pub number: usize,
    pub status: CriterionStatus,
    /// The check's detail and evidence, on one line.
    pub detail: Option<String>,
}

fn status_from(text: &str) -> Option<CriterionStatus> {
    Some(match text {
        "passed" => CriterionStatus::Passed,
        "failed" => CriterionStatus::Failed,
        "approved" => CriterionStatus::Approved,
        "needs_approval" => CriterionStatus::NeedsApproval,
        "not_evaluated" => CriterionStatus::NotEvaluated,
        _ => return None,
    })
}

impl CheckCall {
    /// The trailer value: `<phase> <number> <status>[: <detail>]`.
    pub fn trailer(&self) -> String {
        let mut out = format!("{} {} {}", self.phase, self.number, self.status.as_str());
        if let Some(d) = self.detail.as_deref().filter(|d| !d.is_empty()) {
            out.push_str(": ");
            out.push_str(d);
        }
        out
    }

    /// Parses a trailer value written by [`CheckCall::trailer`].
    pub fn parse(value: &str) -> Option<CheckCall> {
        let (head, detail) = match value.split_once(": ") {
            Some((h, d)) => (h, Some(d.to_owned())),
            None => (value, None),
        };
        let mut parts = head.split_whitespace();
        let phase = parts.next()?.to_owned();
        let number = parts.next()?.parse().ok()?;
        let status = status_from(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(CheckCall {
            phase,
            number,
            status,
            detail,
        })
    }

    /// Every check result recorded in an event's trailers, in order.
    pub fn all_in(message: &Message) -> Vec<CheckCall> {
        message
            .trailers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(CHECK_TRAILER))
            .filter_map(|(_, v)| CheckCall::parse(v))
            .collect()
    }
}

/// The phase and criterion number of `check` in `wf` (by identity: the evaluator is handed a
/// reference into the definition).
fn locate(check: &Check, wf: &Workflow) -> Option<(String, usize)> {
    for p in &wf.phases {
        for (i, c) in p.input_gates.iter().enumerate() {
            if c.check.as_ref().is_some_and(|k| std::ptr::eq(k, check)) {
                return Some((p.id.clone(), i + 1));
            }
        }
        for (i, c) in p.exit_criteria.iter().enumerate() {
            if c.check.as_ref().is_some_and(|k| std::ptr::eq(k, check)) {
                return Some((p.id.clone(), p.input_gates.len() + i + 1));
            }
        }
    }
    None
}

fn detail_of(r: &CheckResult) -> Option<String> {
    let mut parts: Vec<String> = r.detail.iter().cloned().collect();
    parts.extend(r.evidence.iter().map(|e| {
        let text = e
            .text
            .clone()
            .or_else(|| e.hash.as_ref().map(|h| format!("[line {h}]")));
        match (&e.line, text) {
            (Some(l), Some(t)) => format!("{}:{l}: {t}", e.path),
            (_, Some(t)) => format!("{}: {t}", e.path),
            _ => e.path.clone(),
        }
    }));
    let text = one_line(&parts.join("; "));
    (!text.is_empty()).then_some(text)
}

/// Wraps an evaluator and keeps every result, for the event to record.
pub struct Recorder<'a> {
    inner: &'a dyn CheckEvaluator,
    calls: RefCell<Vec<CheckCall>>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn CheckEvaluator) -> Self {
        Recorder {
            inner,
            calls: RefCell::new(Vec::new()),
        }
    }

    /// The results so far, in the order they were evaluated.
    pub fn calls(&self) -> Vec<CheckCall> {
        self.calls.borrow().clone()
    }
}

impl CheckEvaluator for Recorder<'_> {
    fn evaluate(&self, check: &Check, cx: &GateContext<'_>) -> CheckResult {
        let result = self.inner.evaluate(check, cx);
        if let Some((phase, number)) = cx.workflow.and_then(|w| locate(check, w)) {
            tracing::info!(
                phase = phase.as_str(),
                criterion = number,
                kind = check.kind(),
                status = result.status.as_str(),
                "check {} of {phase} #{number}: {}",
                check.kind(),
                result.status.as_str()
            );
            self.calls.borrow_mut().push(CheckCall {
                phase,
                number,
                status: result.status,
                detail: detail_of(&result),
            });
        }
        result
    }
}

/// Answers checks from the results an event recorded; a check with no recorded result is
/// `not_evaluated`, as it was for ddx versions that ran no checks.
pub struct Replayer {
    recorded: RefCell<HashMap<(String, usize), VecDeque<CheckCall>>>,
}

impl Replayer {
    pub fn new(calls: Vec<CheckCall>) -> Self {
        let mut recorded: HashMap<(String, usize), VecDeque<CheckCall>> = HashMap::new();
        for c in calls {
            recorded
                .entry((c.phase.clone(), c.number))
                .or_default()
                .push_back(c);
        }
        Replayer {
            recorded: RefCell::new(recorded),
        }
    }
}

impl CheckEvaluator for Replayer {
    fn evaluate(&self, check: &Check, cx: &GateContext<'_>) -> CheckResult {
        let call = cx.workflow.and_then(|w| locate(check, w)).and_then(|key| {
            self.recorded
                .borrow_mut()
                .get_mut(&key)
                .and_then(VecDeque::pop_front)
        });
        match call {
            Some(c) => CheckResult {
                status: c.status,
                detail: c.detail,
                evidence: Vec::new(),
            },
            None => CheckResult {
                status: CriterionStatus::NotEvaluated,
                detail: None,
                evidence: Vec::new(),
            },
        }
    }
}

/// Reasons and comments as their trailers carry them (one line), so replay sees what the
/// state recorded.
pub fn normalize_text(text: Option<&str>) -> Option<String> {
    text.map(one_line).filter(|t| !t.is_empty())
}

/// `op` with its free text normalized like [`normalize_text`].
pub fn normalize_op(op: &Op) -> Op {
    match op {
        Op::Approve {
            phase,
            criteria,
            comment,
        } => Op::Approve {
            phase: phase.clone(),
            criteria: criteria.clone(),
            comment: normalize_text(comment.as_deref()),
        },
        other => other.clone(),
    }
}

/// An event, as replay reads it: its message, and who wrote it when (the commit's author).
pub struct EventInput<'a> {
    pub message: &'a Message,
    /// `Name <email>` of the commit's author.
    pub actor: &'a str,
    /// The author time, RFC 3339 UTC.
    pub at: &'a str,
}

/// What replaying an event produced.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub state: State,
    /// The phases the event names (`Ddx-Phase`).
    pub phases: Vec<String>,
}

/// Why an event could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// The event is of a kind this ddx does not replay (a merge, a newer event): not a break.
    Unsupported(String),
    /// Replaying it fails: its history does not lead to it.
    Fails(String),
}

/// The operation an event records, from its trailers (`None` for kinds that are not ops).
pub fn op_of(message: &Message) -> Result<Option<Op>, String> {
    let event = message.get("Ddx-Event").unwrap_or_default();
    let phase = || {
        message
            .get("Ddx-Phase")
            .map(str::to_owned)
            .ok_or_else(|| format!("the `{event}` event has no Ddx-Phase trailer"))
    };
    Ok(Some(match event {
        // `--force` leaves a trace only where it mattered; where it did not, forcing changes
        // nothing, so replay may always force.
        "start" => Op::Start {
            phase: phase()?,
            force: true,
        },
        "complete" => Op::Complete {
            phase: phase()?,
            force: true,
        },
        "skip" => Op::Skip { phase: phase()? },
        "fail" => Op::Fail { phase: phase()? },
        "reopen" => Op::Reopen { phase: phase()? },
        "next" => Op::Next,
        "pause" => Op::Pause,
        "resume" => Op::Resume,
        "abort" => Op::Abort,
        "approve" => Op::Approve {
            phase: phase()?,
            criteria: {
                // One trailer per criterion an approval event approved.
                let all: Vec<String> = message
                    .trailers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("Ddx-Criterion"))
                    .map(|(_, v)| v.clone())
                    .collect();
                if all.is_empty() {
                    return Err("the `approve` event has no Ddx-Criterion trailer".into());
                }
                all
            },
            comment: message.get("Ddx-Comment").map(str::to_owned),
        },
        _ => return Ok(None),
    }))
}

/// Replays one event on `before` (the parent's state, taken: replay changes it).
///
/// `wf` is the definition the event ran with (the parent's pinned `workflow/`; for `init` and
/// `upgrade`, the event's own). `recorded` is the event's own state, needed only by `init` (an `init` takes its variables and
/// context from it: they came from the user and the work tree, not from history). `restored`
/// is the state of the checkpoint a `restore` names.
pub fn replay(
    before: Option<State>,
    input: &EventInput<'_>,
    wf: Option<&Workflow>,
    recorded: Option<&State>,
    restored: Option<&State>,
) -> Result<Replayed, ReplayError> {
    let event = input.message.get("Ddx-Event").unwrap_or_default();
    let phases: Vec<String> = input
        .message
        .trailers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Ddx-Phase"))
        .map(|(_, v)| v.clone())
        .collect();
    let fails = |e: String| ReplayError::Fails(e);
    let files = files_of(input, recorded).map_err(fails)?;
    let start_ready = input.message.get(work::START_READY.0) == Some(work::START_READY.1);
    let evaluator = Replayer::new(CheckCall::all_in(input.message));
    let cx = EventContext {
        actor: input.actor,
        at: input.at,
        reason: input.message.get("Ddx-Reason"),
        work_dir: None,
    };
    let need_wf = || wf.ok_or_else(|| fails("its pinned workflow cannot be loaded".to_owned()));
    match event {
        "init" => {
            let wf = need_wf()?;
            let recorded =
                recorded.ok_or_else(|| fails("its own state.yml cannot be read".to_owned()))?;
            let mut st = State::new(
                wf,
                &recorded.instance,
                &recorded.source,
                recorded.variables.clone(),
                input.at,
                input.actor,
            );
            st.context = recorded.context.clone();
            graph::refresh(&mut st, wf).map_err(|e| fails(e.to_string()))?;
            machine::derive_status(&mut st);
            // `ddx workflow apply` starts the ready phases in the same event.
            if start_ready {
                work::start_ready(&mut st, wf, &cx, &evaluator, &mut Vec::new())
                    .map_err(|e| fails(format!("starting the ready phases is refused: {e}")))?;
            }
            st.files.extend(files);
            st.metrics.events = 1;
            return Ok(Replayed { state: st, phases });
        }
        "restore" => {
            let current =
                before.ok_or_else(|| fails("a restore cannot be the first event".into()))?;
            let cp = restored.ok_or_else(|| {
                fails("the checkpoint it restores (Ddx-Restored-From) cannot be read".to_owned())
            })?;
            let mut st = cp.clone();
            st.metrics = current.metrics.clone();
            st.transitions = current.transitions.clone();
            st.metrics.events += 1;
            st.record(TransitionRecord {
                at: input.at.to_owned(),
                by: input.actor.to_owned(),
                event: "restore".to_owned(),
                phase: None,
                from: current.status.as_str().to_owned(),
                to: st.status.as_str().to_owned(),
                reason: input.message.get("Ddx-Reason").map(str::to_owned),
            });
            return Ok(Replayed { state: st, phases });
        }
        // New values of variables, artifacts merged (`ddx workflow set`).
        "set" => {
            let wf = need_wf()?;
            let mut st =
                before.ok_or_else(|| fails("a `set` event cannot be the first event".into()))?;
            let vars: Vec<(String, String)> = input
                .message
                .trailers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(super::upgrade::VAR_TRAILER))
                .filter_map(|(_, v)| v.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect();
            if vars.is_empty() {
                return Err(fails("the `set` event has no Ddx-Var trailer".into()));
            }
            super::upgrade::set_variables(&mut st, wf, &vars).map_err(|e| fails(e.to_string()))?;
            st.files.extend(files);
            st.metrics.events += 1;
            return Ok(Replayed { state: st, phases });
        }
        // A new definition pinned (`ddx workflow upgrade`): `wf` is the event's own.
        "upgrade" => {
            let wf = need_wf()?;
            let current =
                before.ok_or_else(|| fails("an `upgrade` cannot be the first event".into()))?;
            let (mut st, _) = super::upgrade::migrate(&current, wf, input.at, input.actor)
                .map_err(|e| fails(e.to_string()))?;
            st.files.extend(files);
            st.metrics.events += 1;
            return Ok(Replayed { state: st, phases });
        }
        // Events that change no status: artifacts rendered, an action run. They record the
        // files written, and name the phase they belong to.
        "artifacts" | "action" => {
            let mut st = before
                .ok_or_else(|| fails(format!("a `{event}` event cannot be the first event")))?;
            st.files.extend(files);
            st.metrics.events += 1;
            return Ok(Replayed { state: st, phases });
        }
        _ => {}
    }
    let Some(op) = op_of(input.message).map_err(fails)? else {
        return Err(ReplayError::Unsupported(if event.is_empty() {
            "it has no Ddx-Event trailer".to_owned()
        } else {
            format!("this ddx does not replay `{event}` events")
        }));
    };
    let mut st =
        before.ok_or_else(|| fails(format!("a `{event}` event cannot be the first event")))?;
    let events = st.metrics.events;
    let applied = if start_ready {
        work::start_ready(&mut st, need_wf()?, &cx, &evaluator, &mut Vec::new())
    } else {
        let wf = if op.needs_definition() { wf } else { None };
        machine::apply(&mut st, wf, &op, &cx, &evaluator)
    };
    match applied {
        Ok(Applied::Changed(effect)) => {
            st.files.extend(files);
            st.metrics.events = events + 1;
            Ok(Replayed {
                state: st,
                phases: effect.phases,
            })
        }
        Ok(Applied::Nothing(why)) => Err(fails(format!(
            "replaying `{event}` on the state before it changes nothing ({why})"
        ))),
        Err(e) => Err(fails(format!(
            "replaying `{event}` on the state before it is refused: {e}"
        ))),
    }
}

/// Whether an event's message names files it wrote (`Ddx-File`): replay then needs the
/// event's own state, whose records of those files it takes.
pub fn writes_files(message: &Message) -> bool {
    message.get("Ddx-File").is_some()
}

/// The records of the files an event wrote. What a file held came from the work tree, not from
/// history, so they are taken from the event's own state, as `init` takes its variables; each
/// must agree with its `Ddx-File: <before>..<after> <path>` trailer and the event's time.
fn files_of(
    input: &EventInput<'_>,
    recorded: Option<&State>,
) -> Result<Vec<(String, FileRecord)>, String> {
    let mut out = Vec::new();
    for (k, v) in &input.message.trailers {
        if !k.eq_ignore_ascii_case("Ddx-File") {
            continue;
        }
        let (ids, path) = v
            .split_once(' ')
            .ok_or_else(|| format!("its Ddx-File trailer `{v}` has no path"))?;
        let (before, after) = ids
            .split_once("..")
            .ok_or_else(|| format!("its Ddx-File trailer `{v}` has no `before..after` ids"))?;
        let id = |s: &str| (s != work::NO_BLOB).then(|| s.to_owned());
        let recorded = recorded
            .ok_or_else(|| "its own state.yml cannot be read".to_owned())?
            .files
            .get(path)
            .ok_or_else(|| format!("its state.yml does not record {path}, which Ddx-File names"))?;
        if recorded.before != id(before) || recorded.after != id(after) || recorded.at != input.at {
            return Err(format!(
                "its state.yml records {path} otherwise than its Ddx-File trailer and time say"
            ));
        }
        out.push((path.to_owned(), recorded.clone()));
    }
    Ok(out)
}

/// The first place two YAML documents differ, as `path: left vs right`.
pub fn first_difference(
    recorded: &serde_yaml::Value,
    replayed: &serde_yaml::Value,
) -> Option<String> {
    fn show(v: &serde_yaml::Value) -> String {
        match v {
            serde_yaml::Value::Null => "nothing".to_owned(),
            serde_yaml::Value::String(s) => format!("`{s}`"),
            other => {
                let t = serde_yaml::to_string(other).unwrap_or_default();
                let t = one_line(&t);
                if t.chars().count() > 80 {
                    format!("`{}…`", t.chars().take(80).collect::<String>())
                } else {
                    format!("`{t}`")
                }
            }
        }
    }
    fn walk(a: &serde_yaml::Value, b: &serde_yaml::Value, path: &str) -> Option<String> {
        use serde_yaml::Value as V;
        match (a, b) {
            (V::Mapping(ma), V::Mapping(mb)) => {
                for (k, va) in ma {
                    let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
                    let sub = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    let vb = mb.get(k).unwrap_or(&V::Null);
                    if let Some(d) = walk(va, vb, &sub) {
                        return Some(d);
                    }
                }
                for (k, vb) in mb {
                    if !ma.contains_key(k) {
                        let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
                        let sub = if path.is_empty() {
                            key
                        } else {
                            format!("{path}.{key}")
                        };
                        return walk(&V::Null, vb, &sub);
                    }
                }
                None
            }
            (V::Sequence(sa), V::Sequence(sb)) => {
                for (i, (va, vb)) in sa.iter().zip(sb).enumerate() {
                    let label = va
                        .get("id")
                        .and_then(V::as_str)
                        .map_or_else(|| i.to_string(), str::to_owned);
                    if let Some(d) = walk(va, vb, &format!("{path}[{label}]")) {
                        return Some(d);
                    }
                }
                if sa.len() != sb.len() {
                    return Some(format!(
                        "{path} has {} entries in state.yml, replay gives {}",
                        sa.len(),
                        sb.len()
                    ));
                }
                None
            }
            _ if a == b => None,
            _ => Some(format!(
                "{path} is {} in state.yml, replay gives {}",
                show(a),
                show(b)
            )),
        }
    }
    walk(recorded, replayed, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_trailers_round_trip() {
        let c = CheckCall {
            phase: "ship".into(),
            number: 2,
            status: CriterionStatus::Passed,
            detail: Some("RELEASE.md exists: yes".into()),
        };
        assert_eq!(c.trailer(), "ship 2 passed: RELEASE.md exists: yes");
        assert_eq!(CheckCall::parse(&c.trailer()), Some(c));
        let bare = CheckCall::parse("frame 1 not_evaluated").unwrap();
        assert_eq!(bare.status, CriterionStatus::NotEvaluated);
        assert_eq!(bare.detail, None);
        assert_eq!(CheckCall::parse("frame x passed"), None);
        assert_eq!(CheckCall::parse("frame 1 sideways"), None);
    }

    use crate::engine::gates::NotEvaluatedHere;
    use crate::model::{load_workflow, StaticTree};
    use std::collections::BTreeMap;

    const WF: &str = r#"name: t
version: 1.0.0
description: test
phases:
  - id: a
    order: 1
    name: A
    exit_criteria:
      - Reviewed
      - criteria: built
        check: {command: "make"}
"#;

    struct PassAll;

    impl CheckEvaluator for PassAll {
        fn evaluate(&self, _: &Check, _: &GateContext<'_>) -> CheckResult {
            CheckResult {
                status: CriterionStatus::Passed,
                detail: Some("exit status 0".into()),
                evidence: vec![crate::engine::checks::Evidence {
                    path: "make".into(),
                    line: None,
                    text: None,
                    hash: None,
                }],
            }
        }
    }

    /// Applies `op` as the engine does (recording checks) and returns the state and message.
    fn step(st: &State, wf: &Workflow, op: Op, inner: &dyn CheckEvaluator) -> (State, Message) {
        let mut st = st.clone();
        let recorder = Recorder::new(inner);
        let cx = EventContext {
            actor: "A <a@b>",
            at: "T1",
            reason: None,
            work_dir: None,
        };
        let Applied::Changed(effect) =
            machine::apply(&mut st, Some(wf), &op, &cx, &recorder).expect("the operation applies")
        else {
            panic!("nothing changed")
        };
        let mut m = Message::new(effect.subject.clone());
        m.trailer("Ddx-Event", &effect.event);
        for p in &effect.phases {
            m.trailer("Ddx-Phase", p);
        }
        for c in recorder.calls() {
            m.trailer(CHECK_TRAILER, c.trailer());
        }
        for (k, v) in &effect.trailers {
            m.trailer(k, v);
        }
        (st, m)
    }

    fn run(before: &State, wf: &Workflow, m: &Message) -> Result<State, ReplayError> {
        let input = EventInput {
            message: m,
            actor: "A <a@b>",
            at: "T1",
        };
        replay(Some(before.clone()), &input, Some(wf), None, None).map(|r| r.state)
    }

    #[test]
    fn replay_reproduces_a_transition_from_its_recorded_check_results() {
        let wf =
            load_workflow(&StaticTree::new("t", vec![("workflow.yml", WF.as_bytes())])).unwrap();
        let mut st = State::new(&wf, "t-1", "test", BTreeMap::new(), "T0", "A <a@b>");
        graph::refresh(&mut st, &wf).unwrap();
        let (started, m) = step(&st, &wf, Op::Next, &NotEvaluatedHere);
        assert_eq!(run(&st, &wf, &m).unwrap(), started);
        let approve = Op::Approve {
            phase: "a".into(),
            criteria: vec!["Reviewed".into()],
            comment: Some("ok".into()),
        };
        let (approved, m) = step(&started, &wf, approve, &NotEvaluatedHere);
        assert_eq!(run(&started, &wf, &m).unwrap(), approved);
        // The check passed when the phase completed: no force needed, none recorded.
        let complete = Op::Complete {
            phase: "a".into(),
            force: false,
        };
        let (done, m) = step(&approved, &wf, complete, &PassAll);
        assert_eq!(
            m.get(CHECK_TRAILER),
            Some("a 2 passed: exit status 0; make")
        );
        assert!(done.phase("a").unwrap().forced.is_empty());
        assert_eq!(run(&approved, &wf, &m).unwrap(), done);
        // A forged check result leads elsewhere: replay then forces, and the states differ.
        let mut forged = m.clone();
        for (k, v) in &mut forged.trailers {
            if k == CHECK_TRAILER {
                *v = "a 2 failed".into();
            }
        }
        let other = run(&approved, &wf, &forged).unwrap();
        assert_eq!(other.phase("a").unwrap().forced, vec!["built"]);
        assert_ne!(other, done);
        // An event replayed on a state it cannot apply to says why.
        let err = run(&st, &wf, &m).unwrap_err();
        assert!(
            matches!(&err, ReplayError::Fails(e) if e.contains("phase a is ready, so it cannot be completed")),
            "{err:?}"
        );
        // Events this ddx does not know are not breaks.
        let mut unknown = Message::new("x");
        unknown.trailer("Ddx-Event", "sync");
        assert!(matches!(
            run(&st, &wf, &unknown),
            Err(ReplayError::Unsupported(_))
        ));
    }

    #[test]
    fn differences_are_named_by_path() {
        let a: serde_yaml::Value =
            serde_yaml::from_str("phases:\n- id: a\n  status: completed\n- id: b\n").unwrap();
        let b: serde_yaml::Value =
            serde_yaml::from_str("phases:\n- id: a\n  status: in_progress\n- id: b\n").unwrap();
        assert_eq!(
            first_difference(&a, &b).unwrap(),
            "phases[a].status is `completed` in state.yml, replay gives `in_progress`"
        );
        assert_eq!(first_difference(&a, &a), None);
    }
}
