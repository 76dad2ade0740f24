//! `ddx audit report`: a compliance report, read from the chains (never from the work tree).
//!
//! Per instance: its phases with start, end and duration (every run: a reopened phase runs
//! again), who approved which criterion and when (and which approvals a reopen cleared), the
//! gate evidence at each gate a phase passed (approvals, recorded check results, forced
//! criteria), the artifacts with their blob ids, and the deviations (forced gates, forced
//! overwrites, trusted commands, skipped and failed phases, aborts, restores, bypasses recorded
//! in the audit, and whatever `ddx audit verify` finds broken). Rendered as Markdown, JSON, or
//! one self-contained HTML file with an SVG timeline (no network: no external CSS, scripts or
//! fonts).

use super::verify::{self, Break, Checked, VerifyOptions};
use crate::engine::replay::CheckCall;
use crate::engine::state::{GateKind, PhaseStatus, State};
use crate::store::audit::{self, AuditEntry};
use crate::store::chain::{CommitData, Reader};
use crate::store::event::STATE_FILE;
use crate::store::ObjectId;
use crate::store::{refs, LookupError, Repo, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("{reference} cannot be reported on: {what}")]
    Unreadable { reference: String, what: String },
    #[error("cannot encode the report as JSON")]
    Json(#[from] serde_json::Error),
}

/// The report's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Html,
    Json,
}

/// What to report on.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// One instance (an id or unique prefix); `None`: every instance.
    pub instance: Option<String>,
}

/// The result of verification, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VerificationSummary {
    pub ok: bool,
    pub checked: Checked,
    pub breaks: Vec<Break>,
}

/// A compliance report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the report was made (RFC 3339 UTC).
    pub generated: String,
    /// The work tree's folder name.
    pub repository: String,
    pub audit_head: Option<String>,
    pub verification: VerificationSummary,
    pub instances: Vec<InstanceReport>,
    /// Audit entries that touch no instance (`repo add`, `hooks install`, bypasses, …).
    pub operations: Vec<AuditEntry>,
}

/// One instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub id: String,
    pub workflow: String,
    pub version: String,
    pub source: String,
    pub status: String,
    pub progress: u32,
    pub created: String,
    pub created_by: String,
    pub tip: String,
    pub events: usize,
    pub variables: BTreeMap<String, String>,
    pub phases: Vec<PhaseReport>,
    pub approvals: Vec<ApprovalRecord>,
    pub evidence: Vec<GateEvidence>,
    pub artifacts: Vec<ArtifactRecord>,
    pub deviations: Vec<Deviation>,
    /// Conflicts left by joins of forked histories (`ddx sync`) and not yet settled.
    pub conflicts: Vec<crate::engine::state::Conflict>,
    pub history: Vec<EventRecord>,
    #[serde(skip)]
    first_seconds: i64,
    /// When restores happened, for the timeline.
    #[serde(skip)]
    restores: Vec<(i64, String)>,
    #[serde(skip)]
    last_seconds: i64,
}

/// A phase: status and every run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub id: String,
    pub name: String,
    pub status: String,
    /// The start of its first run.
    pub start: Option<String>,
    /// The end of its last run.
    pub end: Option<String>,
    /// Time spent in progress, over all runs.
    pub duration_seconds: Option<i64>,
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the status alone does not say: forced outcomes, outcomes a restore undid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub runs: Vec<PhaseRun>,
}

/// One run of a phase: from in progress to its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRun {
    pub start: String,
    pub started_by: String,
    pub end: Option<String>,
    pub ended_by: Option<String>,
    /// completed, failed, skipped, reopened, in_progress, …
    pub outcome: String,
    pub duration_seconds: Option<i64>,
    /// Whether the run ended with criteria passed over with `--force`.
    pub forced: bool,
    /// When a restore brought back a state from before this run's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone: Option<String>,
    #[serde(skip)]
    start_seconds: i64,
    #[serde(skip)]
    end_seconds: Option<i64>,
}

/// An approval of a human criterion.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRecord {
    pub phase: String,
    pub criterion: String,
    pub by: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub commit: String,
    /// When a reopen of the phase cleared it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared: Option<String>,
}

/// A gate a phase passed, with what stood behind each criterion.
#[derive(Debug, Clone, Serialize)]
pub struct GateEvidence {
    pub phase: String,
    pub gate: String,
    pub at: String,
    pub by: String,
    pub event: String,
    pub commit: String,
    pub criteria: Vec<CriterionEvidence>,
}

/// One criterion at a gate.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionEvidence {
    pub number: usize,
    pub criterion: String,
    pub kind: String,
    pub required: bool,
    /// approved, passed, failed, not_evaluated, needs_approval
    pub status: String,
    pub forced: bool,
    /// The recorded detail in full, as the event's `Ddx-Check` trailer holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What a reviewer reads of it: the result in a few words …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// … and the lines that show it (the matched lines, a command's last lines).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// A file an artifact or action wrote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ArtifactRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    pub at: String,
    pub commit: String,
}

/// Something that went another way than the workflow's gates intend.
#[derive(Debug, Clone, Serialize)]
pub struct Deviation {
    /// forced, overwrite, trusted, skipped, failed, aborted, restored, bypass, verification
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    pub detail: String,
    pub by: String,
    pub at: String,
    pub commit: Option<String>,
}

/// One event of the instance's history.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub at: String,
    pub event: String,
    pub by: String,
    pub summary: String,
    pub commit: String,
}

/// `1h 05m 03s`, `2m 10s`, `0s`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

fn trailers<'a>(c: &'a CommitData, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    c.message
        .trailers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn event_state(reader: &Reader, c: &CommitData, reference: &str) -> Result<State, ReportError> {
    let unreadable = |what: String| ReportError::Unreadable {
        reference: reference.to_owned(),
        what,
    };
    let items = reader
        .tree(c.tree)
        .map_err(|e| unreadable(format!("the tree of {} cannot be read: {e}", c.id)))?;
    let blob = items
        .iter()
        .find(|i| i.name == STATE_FILE)
        .ok_or_else(|| unreadable(format!("event {} has no {STATE_FILE}", c.id)))?;
    let bytes = reader
        .blob(blob.id)
        .map_err(|e| unreadable(format!("{STATE_FILE} of {} cannot be read: {e}", c.id)))?;
    State::from_yaml(&bytes, &format!("{reference}@{}:{STATE_FILE}", c.id))
        .map_err(|e| unreadable(e.to_string()))
}

/// Artifacts a state records (`artifacts:` or `files:` lists of `{path, before, after}`, at
/// the top or under a phase), read loosely so any version of the change tracker is shown.
fn artifacts_in(state: &serde_yaml::Value, at: &str, commit: &str) -> Vec<ArtifactRecord> {
    fn text(v: &serde_yaml::Value, keys: &[&str]) -> Option<String> {
        keys.iter()
            .find_map(|k| v.get(*k))
            .and_then(|x| x.as_str())
            .map(str::to_owned)
    }
    fn collect(
        v: &serde_yaml::Value,
        phase: Option<&str>,
        at: &str,
        commit: &str,
        out: &mut Vec<ArtifactRecord>,
    ) {
        for key in ["artifacts", "files"] {
            if let Some(list) = v.get(key).and_then(|l| l.as_sequence()) {
                for item in list {
                    if let Some(path) = text(item, &["path", "file"]) {
                        out.push(ArtifactRecord {
                            phase: phase.map(str::to_owned).or_else(|| text(item, &["phase"])),
                            path,
                            before: text(item, &["before", "blob_before"]),
                            after: text(item, &["after", "blob", "blob_after"]),
                            at: at.to_owned(),
                            commit: commit.to_owned(),
                        });
                    }
                }
            }
            // The change tracker of `state.yml` (`files:`): a map from path to record.
            if let Some(map) = v.get(key).and_then(|l| l.as_mapping()) {
                for (path, item) in map {
                    if let Some(path) = path.as_str() {
                        out.push(ArtifactRecord {
                            phase: phase.map(str::to_owned).or_else(|| text(item, &["phase"])),
                            path: path.to_owned(),
                            before: text(item, &["before", "blob_before"]),
                            after: text(item, &["after", "blob", "blob_after"]),
                            at: at.to_owned(),
                            commit: commit.to_owned(),
                        });
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    collect(state, None, at, commit, &mut out);
    if let Some(phases) = state.get("phases").and_then(|p| p.as_sequence()) {
        for p in phases {
            let id = p.get("id").and_then(|i| i.as_str());
            collect(p, id, at, commit, &mut out);
        }
    }
    out
}

/// Artifacts an event names in `Ddx-Artifact: <path> <before|-> <after>` trailers.
fn artifacts_in_trailers(c: &CommitData, at: &str) -> Vec<ArtifactRecord> {
    trailers(c, "Ddx-Artifact")
        .filter_map(|v| {
            let mut parts = v.split_whitespace();
            let path = parts.next()?.to_owned();
            let id = |p: Option<&str>| p.filter(|x| *x != "-").map(str::to_owned);
            let before = id(parts.next());
            let after = id(parts.next());
            Some(ArtifactRecord {
                phase: c.message.get("Ddx-Phase").map(str::to_owned),
                path,
                before,
                after,
                at: at.to_owned(),
                commit: c.id.to_string(),
            })
        })
        .collect()
}

/// What a reviewer reads of a check's recorded detail.
#[derive(Debug, Default, PartialEq, Eq)]
struct Short {
    summary: Option<String>,
    lines: Vec<String>,
}

/// At most this many evidence lines per criterion in the report; the event holds them all.
const SHORT_LINES: usize = 3;

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Splits evidence items joined by `; ` where the next item starts as `path:line: ` does, so a
/// `; ` inside a quoted line stays in it.
fn located_items(rest: &str) -> Vec<String> {
    let starts_item = |t: &str| {
        let Some((path, after)) = t.split_once(':') else {
            return false;
        };
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        !path.is_empty()
            && !path.contains(char::is_whitespace)
            && (digits == 0 || after[digits..].starts_with(": "))
    };
    let mut items: Vec<String> = Vec::new();
    for piece in rest.split("; ") {
        match items.last_mut() {
            Some(last) if !starts_item(piece) => {
                last.push_str("; ");
                last.push_str(piece);
            }
            _ => items.push(piece.to_owned()),
        }
    }
    items
}

/// Shortens a check's recorded detail (`<summary>[; <evidence>]…`, see `ddx audit report` in
/// docs/audit.md) to what a reviewer reads: a command's exit status and last lines, a pattern's
/// count and first matched lines, never the regex or a whole backtrace. Detail in another shape
/// is kept, cut to one line.
fn shorten(kind: &str, detail: &str) -> Short {
    let short = match kind {
        "command" => shorten_command(detail),
        "pattern" => shorten_pattern(detail),
        _ => None,
    };
    short.unwrap_or_else(|| {
        let mut parts = detail.splitn(2, "; ");
        let summary = parts.next().unwrap_or_default();
        let items = parts.next().map(located_items).unwrap_or_default();
        let mut lines: Vec<String> = items
            .iter()
            .take(SHORT_LINES)
            .map(|l| cut(l, 200))
            .collect();
        if items.len() > SHORT_LINES {
            lines.push(format!("… and {} more", items.len() - SHORT_LINES));
        }
        Short {
            summary: Some(cut(summary, 200)),
            lines,
        }
    })
}

fn shorten_command(detail: &str) -> Option<Short> {
    let body = detail.strip_prefix('`')?;
    let end = [
        "` exited with ",
        "` ran longer than ",
        "` was killed by",
        "` could not start",
    ]
    .iter()
    .filter_map(|m| body.find(m))
    .min()?;
    let command = &body[..end];
    let separator = format!("; $ {command}: ");
    let mut pieces = body[end + 1..].split(separator.as_str());
    let outcome = pieces.next().unwrap_or_default();
    let outcome = outcome.split(" (run as").next().unwrap_or(outcome).trim();
    let shown = if command.chars().count() <= 60 && !command.contains(['\n', '\\']) {
        format!("`{command}`")
    } else {
        "the command".to_owned()
    };
    let output: Vec<&str> = pieces.collect();
    Some(Short {
        summary: Some(format!("{shown} {outcome}")),
        lines: output[output.len().saturating_sub(SHORT_LINES)..]
            .iter()
            .map(|l| cut(l.trim_end(), 200))
            .collect(),
    })
}

fn shorten_pattern(detail: &str) -> Option<Short> {
    let expected = detail.find(" (expected ")?;
    let close = expected + detail[expected..].find(')')?;
    let head = &detail[..expected];
    let (count, _) = head.split_once(" of ")?;
    let (_, path) = head.rsplit_once(" in ")?;
    let summary = format!("{count} in {path}{}", &detail[expected..=close]);
    let items = detail[close + 1..]
        .strip_prefix("; ")
        .map(located_items)
        .unwrap_or_default();
    let mut lines: Vec<String> = items
        .iter()
        .take(SHORT_LINES)
        .map(|l| cut(l, 200))
        .collect();
    if items.len() > SHORT_LINES {
        lines.push(format!("… and {} more", items.len() - SHORT_LINES));
    }
    Some(Short {
        summary: Some(summary),
        lines,
    })
}

fn instance_report(
    reader: &Reader,
    id: &str,
    tip: ObjectId,
    audit_entries: &[&AuditEntry],
    breaks: &[Break],
) -> Result<InstanceReport, ReportError> {
    let reference = refs::instance_ref(id);
    let walk = reader.walk(&[tip]);
    if let Some(m) = walk.missing.first() {
        return Err(ReportError::Unreadable {
            reference,
            what: format!("commit {} cannot be read: {}", m.id, m.why),
        });
    }
    let mut runs: BTreeMap<String, Vec<PhaseRun>> = BTreeMap::new();
    let mut approvals: Vec<ApprovalRecord> = Vec::new();
    let mut evidence = Vec::new();
    let mut artifacts: Vec<ArtifactRecord> = Vec::new();
    let mut deviations = Vec::new();
    let mut history = Vec::new();
    let mut states: HashMap<ObjectId, State> = HashMap::new();
    let mut last_state: Option<State> = None;
    let mut restores = Vec::new();
    let mut first_seconds = i64::MAX;
    let mut last_seconds = i64::MIN;
    for cid in &walk.order {
        let c = &walk.commits[cid];
        let after = event_state(reader, c, &reference)?;
        let before = c.parents.first().and_then(|p| states.get(p));
        let at = c.author.time();
        let secs = c.author.seconds;
        first_seconds = first_seconds.min(secs);
        last_seconds = last_seconds.max(secs);
        let by = c.author.actor();
        let event = c.message.get("Ddx-Event").unwrap_or_default().to_owned();
        let commit = c.id.to_string();
        let summary = c
            .message
            .subject
            .strip_prefix(&format!("ddx({id}): "))
            .unwrap_or(&c.message.subject)
            .to_owned();
        history.push(EventRecord {
            at: at.clone(),
            event: event.clone(),
            by: by.clone(),
            summary: summary.clone(),
            commit: commit.clone(),
        });
        let checks = CheckCall::all_in(&c.message);
        let forced: Vec<&str> = trailers(c, "Ddx-Forced").collect();
        let reason = c.message.get("Ddx-Reason").map(str::to_owned);
        let restore = event == "restore";
        if restore {
            restores.push((secs, at.clone()));
        }
        for p in &after.phases {
            let old = before.and_then(|b| b.phase(&p.id));
            let old_status = old.map(|o| o.status);
            if old_status == Some(p.status) {
                continue;
            }
            let phase_runs = runs.entry(p.id.clone()).or_default();
            // A restore takes a phase back from its outcome: that run's outcome is undone.
            if restore && old_status != Some(PhaseStatus::InProgress) {
                if let Some(r) = phase_runs
                    .last_mut()
                    .filter(|r| r.end.is_some() && r.undone.is_none())
                {
                    r.undone = Some(at.clone());
                }
            }
            let open = phase_runs.last_mut().filter(|r| r.end.is_none());
            if old_status == Some(PhaseStatus::InProgress) {
                if let Some(r) = open {
                    r.end = Some(at.clone());
                    r.end_seconds = Some(secs);
                    r.ended_by = Some(by.clone());
                    r.outcome = if restore {
                        "restored".to_owned()
                    } else {
                        p.status.as_str().to_owned()
                    };
                    r.duration_seconds = Some(secs - r.start_seconds);
                    r.forced = p
                        .criteria
                        .iter()
                        .any(|k| forced.contains(&k.criteria.as_str()));
                }
            }
            if p.status == PhaseStatus::InProgress {
                if let Some(r) = runs
                    .get_mut(&p.id)
                    .and_then(|r| r.last_mut())
                    .filter(|r| r.end.is_none())
                {
                    r.end = Some(at.clone());
                    r.end_seconds = Some(secs);
                    r.ended_by = Some(by.clone());
                    r.outcome = "restarted".to_owned();
                    r.duration_seconds = Some(secs - r.start_seconds);
                }
                runs.entry(p.id.clone()).or_default().push(PhaseRun {
                    start: at.clone(),
                    started_by: by.clone(),
                    end: None,
                    ended_by: None,
                    outcome: "in_progress".to_owned(),
                    duration_seconds: None,
                    forced: false,
                    undone: None,
                    start_seconds: secs,
                    end_seconds: None,
                });
            } else if p.status == PhaseStatus::Skipped
                && old_status != Some(PhaseStatus::InProgress)
            {
                runs.entry(p.id.clone()).or_default().push(PhaseRun {
                    start: at.clone(),
                    started_by: by.clone(),
                    end: Some(at.clone()),
                    ended_by: Some(by.clone()),
                    outcome: "skipped".to_owned(),
                    duration_seconds: Some(0),
                    forced: false,
                    undone: None,
                    start_seconds: secs,
                    end_seconds: Some(secs),
                });
            }
            // Gate evidence: the input gate when a phase starts, the exit gate when it completes.
            let gate = match (old_status, p.status) {
                // `apply` creates a phase and starts it in one event.
                (Some(PhaseStatus::Ready) | None, PhaseStatus::InProgress) => Some(GateKind::Input),
                (Some(PhaseStatus::InProgress), PhaseStatus::Completed) => Some(GateKind::Exit),
                _ => None,
            };
            if let (Some(gate), Some(old)) = (gate, old.or(Some(p))) {
                let criteria: Vec<CriterionEvidence> = old
                    .criteria
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.gate == gate)
                    .map(|(i, k)| {
                        let number = i + 1;
                        let call = checks
                            .iter()
                            .rev()
                            .find(|cc| cc.phase == p.id && cc.number == number);
                        // An approval given by the event itself (apply) counts too.
                        let approval = k
                            .approval
                            .as_ref()
                            .or_else(|| p.criteria.get(i).and_then(|n| n.approval.as_ref()));
                        let (status, detail) = if k.is_human() {
                            match approval {
                                Some(a) => (
                                    "approved".to_owned(),
                                    Some(format!("by {} at {}", a.by, a.at)),
                                ),
                                None => ("needs_approval".to_owned(), None),
                            }
                        } else {
                            match call {
                                Some(cc) => (cc.status.as_str().to_owned(), cc.detail.clone()),
                                None => ("not_evaluated".to_owned(), None),
                            }
                        };
                        let short = match (&detail, k.is_human()) {
                            (Some(d), false) => shorten(&k.kind, d),
                            _ => Short::default(),
                        };
                        CriterionEvidence {
                            number,
                            criterion: k.criteria.clone(),
                            kind: k.kind.clone(),
                            required: k.required,
                            status,
                            forced: forced.contains(&k.criteria.as_str()),
                            detail,
                            summary: short.summary,
                            evidence: short.lines,
                        }
                    })
                    .collect();
                if !criteria.is_empty() {
                    evidence.push(GateEvidence {
                        phase: p.id.clone(),
                        gate: gate.as_str().to_owned(),
                        at: at.clone(),
                        by: by.clone(),
                        event: event.clone(),
                        commit: commit.clone(),
                        criteria,
                    });
                }
            }
        }
        // Every approval the event gave, from the state it wrote: `approve` (one criterion or
        // several) and `apply`, which approves input gates in the user's name. A restore
        // brings back approvals given earlier, and a merge joins ones already counted.
        if !matches!(event.as_str(), "restore" | "merge" | "sync") {
            for p in &after.phases {
                let old = before.and_then(|b| b.phase(&p.id));
                for k in &p.criteria {
                    let Some(a) = &k.approval else { continue };
                    let had = old
                        .and_then(|o| o.criteria.iter().find(|x| x.criteria == k.criteria))
                        .is_some_and(|x| x.approval.is_some());
                    if !had {
                        approvals.push(ApprovalRecord {
                            phase: p.id.clone(),
                            criterion: k.criteria.clone(),
                            by: a.by.clone(),
                            at: a.at.clone(),
                            comment: a.comment.clone(),
                            commit: commit.clone(),
                            cleared: None,
                        });
                    }
                }
            }
        }
        let phase = c.message.get("Ddx-Phase").map(str::to_owned);
        if let (true, Some(ph)) = (event == "reopen", &phase) {
            for a in approvals.iter_mut().filter(|a| &a.phase == ph) {
                let cleared = after.phase(ph).is_some_and(|p| {
                    p.criteria.iter().any(|k| {
                        k.criteria == a.criterion
                            && k.gate == GateKind::Exit
                            && k.approval.is_none()
                    })
                });
                if cleared && a.cleared.is_none() {
                    a.cleared = Some(at.clone());
                }
            }
        }
        let mut deviate = |kind: &str, detail: String| {
            deviations.push(Deviation {
                kind: kind.to_owned(),
                phase: phase.clone(),
                detail,
                by: by.clone(),
                at: at.clone(),
                commit: Some(commit.clone()),
            })
        };
        let why = reason
            .as_deref()
            .map(|r| format!(" (reason: {r})"))
            .unwrap_or_else(|| " (no reason given)".to_owned());
        for f in &forced {
            deviate(
                "forced",
                format!("{summary}: passed over \"{f}\" with --force{why}"),
            );
        }
        match event.as_str() {
            "skip" => deviate("skipped", format!("{summary}{why}")),
            "fail" => deviate("failed", format!("{summary}{why}")),
            "abort" => deviate("aborted", format!("{summary}{why}")),
            "restore" => deviate(
                "restored",
                format!(
                    "{summary}: the state of {} was brought back{why}",
                    c.message.get("Ddx-Restored-From").unwrap_or("a checkpoint")
                ),
            ),
            _ => {}
        }
        for (k, v) in &c.message.trailers {
            let key = k.to_ascii_lowercase();
            if key.contains("overwrit") {
                deviate(
                    "overwrite",
                    format!("{summary}: overwrote {v} with --force"),
                );
            } else if key.contains("trust") {
                deviate("trusted", format!("{summary}: ran a command on trust: {v}"));
            }
        }
        let mut found = artifacts_in(
            &serde_yaml::to_value(&after).unwrap_or_default(),
            &at,
            &commit,
        );
        found.extend(artifacts_in_trailers(c, &at));
        for a in found {
            if !artifacts
                .iter()
                .any(|x| x.path == a.path && x.after == a.after && x.before == a.before)
            {
                artifacts.push(a);
            }
        }
        for p in &c.parents {
            states.remove(p);
        }
        states.insert(c.id, after.clone());
        last_state = Some(after);
    }
    for a in audit_entries {
        if let Some(d) = a.args.get("deviation") {
            deviations.push(Deviation {
                kind: "bypass".to_owned(),
                phase: a.args.get("phase").cloned(),
                detail: format!("{}: {d}", a.summary),
                by: a.actor.clone(),
                at: a.time.clone(),
                commit: Some(a.id.to_string()),
            });
        } else if a.operation == "bypass" {
            deviations.push(Deviation {
                kind: "bypass".to_owned(),
                phase: a.args.get("phase").cloned(),
                detail: a.summary.clone(),
                by: a.actor.clone(),
                at: a.time.clone(),
                commit: Some(a.id.to_string()),
            });
        }
    }
    for b in breaks.iter().filter(|b| b.reference == reference) {
        deviations.push(Deviation {
            kind: "verification".to_owned(),
            phase: None,
            detail: format!("ddx audit verify: {}", b.problem),
            by: "ddx audit verify".to_owned(),
            at: super::time::now(),
            commit: b.commit.clone(),
        });
    }
    let st = last_state.ok_or_else(|| ReportError::Unreadable {
        reference: reference.clone(),
        what: "the instance has no events".to_owned(),
    })?;
    let phases = st
        .phases
        .iter()
        .map(|p| {
            let r = runs.remove(&p.id).unwrap_or_default();
            let total: Option<i64> = if r.is_empty() {
                None
            } else {
                Some(
                    r.iter()
                        .map(|x| {
                            x.duration_seconds
                                .unwrap_or_else(|| last_seconds - x.start_seconds)
                        })
                        .sum(),
                )
            };
            let notes = r
                .iter()
                .enumerate()
                .filter(|(_, x)| x.forced || x.undone.is_some())
                .map(|(n, x)| {
                    let mut note = format!("run {}: {}", n + 1, x.outcome.replace('_', " "));
                    if x.forced {
                        note.push_str(", forced");
                    }
                    if let Some(u) = &x.undone {
                        let _ = write!(
                            note,
                            "{} undone by a restore at {u}",
                            if x.forced { ", then" } else { "," }
                        );
                    }
                    note
                })
                .collect();
            PhaseReport {
                notes,
                id: p.id.clone(),
                name: p.name.clone(),
                status: p.status.as_str().to_owned(),
                start: r.first().map(|x| x.start.clone()),
                end: r.last().and_then(|x| x.end.clone()),
                duration_seconds: total,
                duration: total.map(human_duration),
                reason: p.reason.clone(),
                runs: r,
            }
        })
        .collect();
    Ok(InstanceReport {
        id: id.to_owned(),
        workflow: st.workflow.clone(),
        version: st.version.clone(),
        source: st.source.clone(),
        status: st.status.as_str().to_owned(),
        progress: st.progress(),
        created: st.created.clone(),
        created_by: st.created_by.clone(),
        tip: tip.to_string(),
        events: walk.order.len(),
        variables: st.variables.clone(),
        phases,
        approvals,
        evidence,
        artifacts,
        deviations,
        conflicts: st.conflicts.clone(),
        history,
        first_seconds,
        last_seconds,
        restores,
    })
}

/// Builds the report from the chains.
pub fn build(repo: &Repo, options: &ReportOptions) -> Result<Report, ReportError> {
    let verification = verify::verify(
        repo,
        VerifyOptions {
            record: false,
            all_signatures: false,
        },
    )?;
    let entries = audit::entries(repo, true).unwrap_or_default();
    let mut ids = refs::instance_ids(repo)?;
    if let Some(prefix) = &options.instance {
        ids = vec![refs::resolve_prefix(&ids, prefix)?];
    }
    let reader = Reader::new(repo);
    let mut instances = Vec::new();
    for id in &ids {
        let Some(tip) = refs::read(repo, &refs::instance_ref(id))? else {
            continue;
        };
        // Its own entries, and operations that name it (a bypass names the active instances).
        let mine: Vec<&AuditEntry> = entries
            .iter()
            .filter(|e| match e.instance.as_deref() {
                Some(i) => i == id,
                None => e
                    .args
                    .get("instances")
                    .is_some_and(|named| named.split(", ").any(|n| n == id)),
            })
            .collect();
        instances.push(instance_report(
            &reader,
            id,
            tip,
            &mine,
            &verification.breaks,
        )?);
    }
    let operations = match options.instance {
        Some(_) => Vec::new(),
        None => entries
            .iter()
            .filter(|e| e.instance.is_none())
            .cloned()
            .collect(),
    };
    let breaks = match &options.instance {
        None => verification.breaks.clone(),
        Some(_) => verification
            .breaks
            .iter()
            .filter(|b| {
                ids.iter().any(|i| b.reference == refs::instance_ref(i))
                    || !b.reference.starts_with(refs::INSTANCES)
            })
            .cloned()
            .collect(),
    };
    Ok(Report {
        generated: super::time::now(),
        repository: repo
            .work_dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        audit_head: verification.audit_head.clone(),
        verification: VerificationSummary {
            ok: verification.ok,
            checked: verification.checked,
            breaks,
        },
        instances,
        operations,
    })
}

/// Renders the report.
pub fn render(report: &Report, format: ReportFormat) -> Result<Vec<u8>, ReportError> {
    Ok(match format {
        ReportFormat::Json => {
            let mut v = serde_json::to_vec_pretty(report)?;
            v.push(b'\n');
            v
        }
        ReportFormat::Markdown => markdown(report).into_bytes(),
        ReportFormat::Html => html(report).into_bytes(),
    })
}

/// `s` as literal Markdown text on one line, in a paragraph, list item or table cell: every
/// character CommonMark or its table extension could read as markup (emphasis, code, links,
/// raw HTML, entities, a cell's end) is backslash-escaped, and so is a leading list or heading
/// marker (`-`, `+`, `#`, `1.`, `1)`).
fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let lead = s.trim_start();
    let digits = lead.chars().take_while(char::is_ascii_digit).count();
    let marker = if digits > 0 && lead[digits..].starts_with(['.', ')']) {
        Some(s.len() - lead.len() + digits)
    } else {
        None
    };
    for (at, ch) in s.char_indices() {
        match ch {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(ch);
            }
            '-' | '+' | '=' if at == s.len() - lead.len() => {
                out.push('\\');
                out.push(ch);
            }
            '.' | ')' if Some(at) == marker => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// `s` as a Markdown code span, fenced by more backticks than it holds in a row (`|` escaped,
/// as a table cell needs).
fn md_code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for ch in s.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `: <summary>: <line>; <line>` of a criterion's evidence, each part through `text` (the
/// format's escaping); an approval's detail as it is.
fn criterion_detail(c: &CriterionEvidence, text: fn(&str) -> String) -> String {
    let mut out = String::new();
    match (&c.summary, &c.detail) {
        (Some(summary), _) => {
            let _ = write!(out, ": {}", text(summary));
            if !c.evidence.is_empty() {
                let lines: Vec<String> = c.evidence.iter().map(|l| text(l)).collect();
                let _ = write!(out, ": {}", lines.join("; "));
            }
        }
        (None, Some(detail)) => {
            let _ = write!(out, ": {}", text(detail));
        }
        (None, None) => {}
    }
    out
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("—")
}

fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Compliance report: {}\n", md_cell(&r.repository));
    let _ = writeln!(
        o,
        "Generated {} by ddx {} from `refs/ddx/*` (audit head `{}`).\n",
        r.generated,
        env!("CARGO_PKG_VERSION"),
        r.audit_head.as_deref().unwrap_or("none")
    );
    let c = &r.verification.checked;
    if r.verification.ok {
        let _ = writeln!(
            o,
            "**Verification: intact.** {} checked.\n",
            checked_summary(c)
        );
    } else {
        let _ = writeln!(
            o,
            "**Verification: BROKEN** — {} break(s):\n",
            r.verification.breaks.len()
        );
        for b in &r.verification.breaks {
            let _ = writeln!(
                o,
                "- `{}`{}: {}",
                b.reference,
                b.commit
                    .as_deref()
                    .map(|c| format!(" at `{c}`"))
                    .unwrap_or_default(),
                md_cell(&b.problem)
            );
        }
        o.push('\n');
    }
    if r.instances.is_empty() {
        o.push_str("No workflow instance to report on.\n\n");
    }
    for i in &r.instances {
        let _ = writeln!(o, "## Instance `{}`\n", i.id);
        let _ = writeln!(
            o,
            "- workflow: {} {} ({})\n- status: {} ({}% done)\n- created: {} by {}\n- tip: `{}` ({} events)",
            md_cell(&i.workflow), md_cell(&i.version), md_cell(&i.source), i.status, i.progress, i.created, md_cell(&i.created_by), i.tip, i.events
        );
        if !i.variables.is_empty() {
            let _ = writeln!(
                o,
                "- variables: {}",
                i.variables
                    .iter()
                    .map(|(k, v)| md_code(&format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        o.push_str("\n### Phases\n\n| phase | status | start | end | duration | runs |\n|---|---|---|---|---|---|\n");
        for p in &i.phases {
            let _ = writeln!(
                o,
                "| {} ({}) | {}{}{} | {} | {} | {} | {} |",
                md_cell(&p.id),
                md_cell(&p.name),
                p.status,
                p.reason
                    .as_deref()
                    .map(|r| format!(": {}", md_cell(r)))
                    .unwrap_or_default(),
                p.notes
                    .iter()
                    .map(|n| format!("; {}", md_cell(n)))
                    .collect::<String>(),
                opt(&p.start),
                opt(&p.end),
                opt(&p.duration),
                p.runs.len()
            );
        }
        o.push_str("\n### Approvals\n\n");
        if i.approvals.is_empty() {
            o.push_str("None.\n");
        } else {
            o.push_str(
                "| phase | criterion | by | at | comment | commit |\n|---|---|---|---|---|---|\n",
            );
            for a in &i.approvals {
                let _ = writeln!(
                    o,
                    "| {} | {}{} | {} | {} | {} | `{}` |",
                    md_cell(&a.phase),
                    md_cell(&a.criterion),
                    a.cleared
                        .as_deref()
                        .map(|c| format!(" (cleared by a reopen at {c})"))
                        .unwrap_or_default(),
                    md_cell(&a.by),
                    a.at,
                    md_cell(a.comment.as_deref().unwrap_or("")),
                    &a.commit[..a.commit.len().min(12)]
                );
            }
        }
        o.push_str("\n### Gate evidence\n\n");
        if i.evidence.is_empty() {
            o.push_str("No gate was passed yet.\n");
        }
        for g in &i.evidence {
            let _ = writeln!(
                o,
                "**{} {} gate**, passed at {} by {} ({}; full record: `git show {}`):\n",
                md_cell(&g.phase),
                g.gate,
                g.at,
                md_cell(&g.by),
                md_cell(&g.event),
                &g.commit[..g.commit.len().min(12)]
            );
            for c in &g.criteria {
                let _ = writeln!(
                    o,
                    "- {}\\. {} — {} ({}{}){}{}",
                    c.number,
                    md_cell(&c.criterion),
                    c.status,
                    md_cell(&c.kind),
                    if c.required { "" } else { ", optional" },
                    if c.forced { ", **forced**" } else { "" },
                    criterion_detail(c, md_cell)
                );
            }
            o.push('\n');
        }
        o.push_str("\n### Artifacts\n\n");
        if i.artifacts.is_empty() {
            o.push_str("None recorded.\n");
        } else {
            o.push_str("| phase | path | blob before | blob after | at |\n|---|---|---|---|---|\n");
            for a in &i.artifacts {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    md_cell(opt(&a.phase)),
                    md_code(&a.path),
                    a.before
                        .as_deref()
                        .map(|b| format!("`{b}`"))
                        .unwrap_or_else(|| "(new)".into()),
                    a.after
                        .as_deref()
                        .map(|b| format!("`{b}`"))
                        .unwrap_or_else(|| "(removed)".into()),
                    a.at
                );
            }
        }
        o.push_str("\n### Deviations\n\n");
        if i.deviations.is_empty() {
            o.push_str("None.\n");
        } else {
            o.push_str("| kind | phase | what | by | at |\n|---|---|---|---|---|\n");
            for d in &i.deviations {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    d.kind,
                    md_cell(opt(&d.phase)),
                    md_cell(&d.detail),
                    md_cell(&d.by),
                    d.at
                );
            }
        }
        if !i.conflicts.is_empty() {
            o.push_str("\n### Unsettled conflicts\n\n");
            for c in &i.conflicts {
                let _ = writeln!(o, "- {}", md_cell(&c.to_string()));
            }
        }
        o.push_str("\n### History\n\n| at | event | by | what | commit |\n|---|---|---|---|---|\n");
        for e in &i.history {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | `{}` |",
                e.at,
                md_cell(&e.event),
                md_cell(&e.by),
                md_cell(&e.summary),
                &e.commit[..e.commit.len().min(12)]
            );
        }
        o.push('\n');
    }
    if !r.operations.is_empty() {
        o.push_str("## Repository operations\n\n| at | operation | by | what | entry |\n|---|---|---|---|---|\n");
        for e in &r.operations {
            let id = e.id.to_string();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | `{}` |",
                e.time,
                md_cell(&e.operation),
                md_cell(&e.actor),
                md_cell(&e.summary),
                &id[..12]
            );
        }
        o.push('\n');
    }
    o
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}h3{margin-top:1.4em}\
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;padding:1px 3px}\
.ok{color:#1a7f37;font-weight:bold}.broken{color:#cf222e;font-weight:bold}.forced{color:#cf222e;font-weight:bold}\
.muted{color:#57606a}ul.facts{list-style:none;padding:0}svg{max-width:100%;height:auto}";

fn status_color(outcome: &str) -> &'static str {
    match outcome {
        "completed" => "#2da44e",
        "in_progress" => "#0969da",
        "failed" => "#cf222e",
        "skipped" => "#8c959f",
        "restarted" | "reopened" => "#bf8700",
        _ => "#6e7781",
    }
}

/// The SVG timeline of an instance's phases: one row per phase, one bar per run.
fn timeline(i: &InstanceReport) -> String {
    let (label_w, w, row_h, top) = (170.0_f64, 1000.0_f64, 24.0_f64, 28.0_f64);
    let h = top + row_h * i.phases.len() as f64 + 26.0;
    let t0 = i.first_seconds;
    let t1 = i.last_seconds.max(t0 + 1);
    let span = (t1 - t0) as f64;
    let x = |t: i64| label_w + ((t - t0) as f64 / span) * (w - label_w - 20.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"Timeline of the phases of {}\">",
        esc(&i.id)
    );
    let _ = write!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\
         <text x=\"{label_w}\" y=\"16\" font-size=\"11\" fill=\"#57606a\">{}</text>\
         <text x=\"{}\" y=\"16\" font-size=\"11\" fill=\"#57606a\" text-anchor=\"end\">{}</text>",
        esc(&crate::store::refs::rfc3339(t0)),
        w - 20.0,
        esc(&crate::store::refs::rfc3339(t1))
    );
    // Behind the bars: a mark where a restore brought back an earlier state.
    let rows_end = top + row_h * i.phases.len() as f64;
    for (t, at) in &i.restores {
        let rx = x(*t);
        let _ = write!(
            s,
            "<g class=\"restore-mark\"><line x1=\"{rx:.1}\" y1=\"{}\" x2=\"{rx:.1}\" y2=\"{rows_end}\" stroke=\"#8250df\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" fill=\"#8250df\" text-anchor=\"{}\">restore</text><title>restore at {}</title></g>",
            top - 6.0,
            if rx > w / 2.0 { rx - 3.0 } else { rx + 3.0 },
            top - 1.0,
            if rx > w / 2.0 { "end" } else { "start" },
            esc(at),
        );
    }
    for (row, p) in i.phases.iter().enumerate() {
        let y = top + row_h * row as f64;
        let _ = write!(
            s,
            "<text x=\"4\" y=\"{}\" font-size=\"12\" fill=\"#1b1f24\">{}</text>\
             <line x1=\"{label_w}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#eaeef2\"/>",
            y + 15.0,
            esc(&p.id),
            y + row_h - 2.0,
            w - 20.0,
            y + row_h - 2.0
        );
        for r in &p.runs {
            let start = x(r.start_seconds);
            let end = x(r.end_seconds.unwrap_or(t1));
            let width = (end - start).max(4.0);
            // An outcome a restore undid is not drawn as that outcome: the table no longer
            // lists it. A forced one is outlined in red.
            let (fill, undone) = match &r.undone {
                Some(u) => ("#d0d7de", format!(", undone by the restore at {u}")),
                None => (status_color(&r.outcome), String::new()),
            };
            let stroke = match (r.forced, r.undone.is_some()) {
                (true, _) => " stroke=\"#cf222e\" stroke-width=\"2\"",
                (false, true) => " stroke=\"#8c959f\" stroke-dasharray=\"3 2\"",
                (false, false) => "",
            };
            let _ = write!(
                s,
                "<rect x=\"{start:.1}\" y=\"{}\" width=\"{width:.1}\" height=\"{}\" rx=\"3\" fill=\"{fill}\"{stroke}><title>{}: {}{}{} from {} to {} ({})</title></rect>",
                y + 4.0,
                row_h - 10.0,
                esc(&p.id),
                esc(&r.outcome.replace('_', " ")),
                if r.forced { ", forced" } else { "" },
                esc(&undone),
                esc(&r.start),
                esc(r.end.as_deref().unwrap_or("now")),
                esc(&r
                    .duration_seconds
                    .map(human_duration)
                    .unwrap_or_else(|| "running".into()))
            );
        }
    }
    let legend_y = h - 8.0;
    let mut lx = label_w;
    for (label, outcome) in [
        ("completed", "completed"),
        ("in progress", "in_progress"),
        ("failed", "failed"),
        ("skipped", "skipped"),
        ("reopened", "restarted"),
        ("undone by a restore", "undone"),
        ("forced", "forced"),
    ] {
        let (fill, stroke) = match outcome {
            "undone" => ("#d0d7de", ""),
            "forced" => ("#ffffff", " stroke=\"#cf222e\" stroke-width=\"2\""),
            o => (status_color(o), ""),
        };
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{fill}\"{stroke}/><text x=\"{}\" y=\"{legend_y}\" font-size=\"11\" fill=\"#57606a\">{label}</text>",
            legend_y - 9.0,
            lx + 14.0
        );
        lx += if label.len() > 12 { 140.0 } else { 100.0 };
    }
    s.push_str("</svg>");
    s
}

fn html(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Compliance report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&r.repository)
    );
    let _ = writeln!(
        o,
        "<h1>Compliance report: {}</h1>\n<p class=\"muted\">Generated {} by ddx {} from <code>refs/ddx/*</code> (audit head <code>{}</code>).</p>",
        esc(&r.repository),
        esc(&r.generated),
        env!("CARGO_PKG_VERSION"),
        esc(r.audit_head.as_deref().unwrap_or("none"))
    );
    let c = &r.verification.checked;
    if r.verification.ok {
        let _ = writeln!(
            o,
            "<p><span class=\"ok\">Verification: intact.</span> {} checked.</p>",
            checked_summary(c)
        );
    } else {
        let _ = writeln!(
            o,
            "<p><span class=\"broken\">Verification: BROKEN</span> — {} break(s):</p>\n<ul>",
            r.verification.breaks.len()
        );
        for b in &r.verification.breaks {
            let _ = writeln!(
                o,
                "<li><code>{}</code>{}: {}</li>",
                esc(&b.reference),
                b.commit
                    .as_deref()
                    .map(|c| format!(" at <code>{}</code>", esc(c)))
                    .unwrap_or_default(),
                esc(&b.problem)
            );
        }
        o.push_str("</ul>\n");
    }
    for i in &r.instances {
        let _ = writeln!(
            o,
            "<section>\n<h2>Instance <code>{}</code></h2>",
            esc(&i.id)
        );
        let _ = writeln!(
            o,
            "<ul class=\"facts\"><li>workflow: {} {} ({})</li><li>status: {} ({}% done)</li><li>created {} by {}</li><li>tip <code>{}</code> ({} events)</li>{}</ul>",
            esc(&i.workflow),
            esc(&i.version),
            esc(&i.source),
            esc(&i.status),
            i.progress,
            esc(&i.created),
            esc(&i.created_by),
            esc(&i.tip),
            i.events,
            if i.variables.is_empty() {
                String::new()
            } else {
                format!(
                    "<li>variables: {}</li>",
                    i.variables
                        .iter()
                        .map(|(k, v)| format!("<code>{}={}</code>", esc(k), esc(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        o.push_str("<h3>Timeline</h3>\n");
        o.push_str(&timeline(i));
        o.push_str("\n<h3>Phases</h3>\n<table><tr><th>phase</th><th>status</th><th>start</th><th>end</th><th>duration</th><th>runs</th></tr>\n");
        for p in &i.phases {
            let _ = writeln!(
                o,
                "<tr><td>{} <span class=\"muted\">{}</span></td><td>{}{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.id),
                esc(&p.name),
                esc(&p.status),
                p.reason
                    .as_deref()
                    .map(|r| format!(": {}", esc(r)))
                    .unwrap_or_default(),
                p.notes
                    .iter()
                    .map(|n| format!("; <span class=\"forced\">{}</span>", esc(n)))
                    .collect::<String>(),
                esc(opt(&p.start)),
                esc(opt(&p.end)),
                esc(opt(&p.duration)),
                p.runs.len()
            );
        }
        o.push_str("</table>\n<h3>Approvals</h3>\n");
        if i.approvals.is_empty() {
            o.push_str("<p>None.</p>\n");
        } else {
            o.push_str("<table><tr><th>phase</th><th>criterion</th><th>by</th><th>at</th><th>comment</th><th>commit</th></tr>\n");
            for a in &i.approvals {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    esc(&a.phase),
                    esc(&a.criterion),
                    a.cleared
                        .as_deref()
                        .map(|c| format!(" <span class=\"muted\">(cleared by a reopen at {})</span>", esc(c)))
                        .unwrap_or_default(),
                    esc(&a.by),
                    esc(&a.at),
                    esc(a.comment.as_deref().unwrap_or("")),
                    esc(&a.commit[..a.commit.len().min(12)])
                );
            }
            o.push_str("</table>\n");
        }
        o.push_str("<h3>Gate evidence</h3>\n");
        if i.evidence.is_empty() {
            o.push_str("<p>No gate was passed yet.</p>\n");
        }
        for g in &i.evidence {
            let _ = writeln!(
                o,
                "<p><strong>{} {} gate</strong>, passed at {} by {} (<code>{}</code>; full record: <code>git show {}</code>)</p>\n<ul>",
                esc(&g.phase),
                esc(&g.gate),
                esc(&g.at),
                esc(&g.by),
                esc(&g.event),
                esc(&g.commit[..g.commit.len().min(12)])
            );
            for c in &g.criteria {
                let _ = writeln!(
                    o,
                    "<li>{}. {} — {} ({}{}){}{}</li>",
                    c.number,
                    esc(&c.criterion),
                    esc(&c.status),
                    esc(&c.kind),
                    if c.required { "" } else { ", optional" },
                    if c.forced {
                        ", <span class=\"forced\">forced</span>"
                    } else {
                        ""
                    },
                    criterion_detail(c, esc)
                );
            }
            o.push_str("</ul>\n");
        }
        o.push_str("<h3>Artifacts</h3>\n");
        if i.artifacts.is_empty() {
            o.push_str("<p>None recorded.</p>\n");
        } else {
            o.push_str("<table><tr><th>phase</th><th>path</th><th>blob before</th><th>blob after</th><th>at</th></tr>\n");
            for a in &i.artifacts {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(opt(&a.phase)),
                    esc(&a.path),
                    a.before
                        .as_deref()
                        .map(|b| format!("<code>{}</code>", esc(b)))
                        .unwrap_or_else(|| "(new)".into()),
                    a.after
                        .as_deref()
                        .map(|b| format!("<code>{}</code>", esc(b)))
                        .unwrap_or_else(|| "(removed)".into()),
                    esc(&a.at)
                );
            }
            o.push_str("</table>\n");
        }
        o.push_str("<h3>Deviations</h3>\n");
        if i.deviations.is_empty() {
            o.push_str("<p>None.</p>\n");
        } else {
            o.push_str(
                "<table><tr><th>kind</th><th>phase</th><th>what</th><th>by</th><th>at</th></tr>\n",
            );
            for d in &i.deviations {
                let _ = writeln!(
                    o,
                    "<tr><td class=\"forced\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&d.kind),
                    esc(opt(&d.phase)),
                    esc(&d.detail),
                    esc(&d.by),
                    esc(&d.at)
                );
            }
            o.push_str("</table>\n");
        }
        if !i.conflicts.is_empty() {
            o.push_str("<h3>Unsettled conflicts</h3>\n<ul>\n");
            for c in &i.conflicts {
                let _ = writeln!(o, "<li>{}</li>", esc(&c.to_string()));
            }
            o.push_str("</ul>\n");
        }
        o.push_str("<h3>History</h3>\n<table><tr><th>at</th><th>event</th><th>by</th><th>what</th><th>commit</th></tr>\n");
        for e in &i.history {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&e.at),
                esc(&e.event),
                esc(&e.by),
                esc(&e.summary),
                esc(&e.commit[..e.commit.len().min(12)])
            );
        }
        o.push_str("</table>\n</section>\n");
    }
    if !r.operations.is_empty() {
        o.push_str("<h2>Repository operations</h2>\n<table><tr><th>at</th><th>operation</th><th>by</th><th>what</th><th>entry</th></tr>\n");
        for e in &r.operations {
            let id = e.id.to_string();
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&e.time),
                esc(&e.operation),
                esc(&e.actor),
                esc(&e.summary),
                esc(&id[..12])
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// `17 audit entries, 1 instance, 16 events (16 replayed)`.
fn checked_summary(c: &crate::observe::verify::Checked) -> String {
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    format!(
        "{}, {}, {} ({} replayed)",
        n(c.audit_entries, "audit entry", "audit entries"),
        n(c.instances, "instance", "instances"),
        n(c.events, "event", "events"),
        c.replayed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_write_them() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(130), "2m 10s");
        assert_eq!(human_duration(3_903), "1h 05m 03s");
        assert_eq!(human_duration(90_061), "1d 01h 01m");
    }

    #[test]
    fn html_text_is_escaped() {
        assert_eq!(
            esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn markdown_text_is_escaped_to_read_literally() {
        assert_eq!(
            md_cell("<unknown> **x** a|b"),
            "\\<unknown\\> \\*\\*x\\*\\* a\\|b"
        );
        assert_eq!(md_cell("- item"), "\\- item");
        assert_eq!(md_cell("12. step 1.5"), "12\\. step 1.5");
        assert_eq!(md_cell("2026-01-14"), "2026-01-14");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`x"), "`` `x ``");
    }

    #[test]
    fn command_evidence_keeps_the_exit_status_and_last_lines() {
        let detail = "`make; make test` exited with 2 (run as trusted: the embedded library); \
                      $ make; make test: a; $ make; make test: b; c; $ make; make test: d; \
                      $ make; make test: e";
        assert_eq!(
            shorten("command", detail),
            Short {
                summary: Some("`make; make test` exited with 2".into()),
                lines: vec!["b; c".into(), "d".into(), "e".into()],
            }
        );
    }

    #[test]
    fn pattern_evidence_drops_the_regex_and_keeps_the_first_lines() {
        let detail = "5 matches of \\[TODO; x in docs (expected 0); docs/a.md:1: TODO; now; \
                      docs/a.md:2: b; docs/b.md:7: c; docs/c.md:1: d; docs/c.md:2: e";
        assert_eq!(
            shorten("pattern", detail),
            Short {
                summary: Some("5 matches in docs (expected 0)".into()),
                lines: vec![
                    "docs/a.md:1: TODO; now".into(),
                    "docs/a.md:2: b".into(),
                    "docs/b.md:7: c".into(),
                    "… and 2 more".into()
                ],
            }
        );
        // Detail of another shape is kept, cut to one line.
        assert_eq!(
            shorten("pattern", "the regex ( is invalid")
                .summary
                .as_deref(),
            Some("the regex ( is invalid")
        );
    }

    #[test]
    fn artifacts_are_found_wherever_the_change_tracker_puts_them() {
        let state: serde_yaml::Value = serde_yaml::from_str(
            "artifacts:\n- {path: a.md, after: 'abc'}\nphases:\n- id: frame\n  artifacts:\n  - {path: docs/prd.md, before: '111', after: '222'}\n",
        )
        .unwrap();
        let found = artifacts_in(&state, "T", "C");
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].phase.as_deref(), Some("frame"));
        assert_eq!(found[1].before.as_deref(), Some("111"));
    }
}
