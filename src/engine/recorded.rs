//! What the machine checks of a finished phase found when it started and when it completed.
//!
//! A completed phase's checks are not evaluated again (the work tree has moved on); what they
//! found is in the `Ddx-Check` trailers of the events that started and completed the phase.
//! [`recorded_checks`] walks the instance's chain back from its tip to those events: for each
//! completed phase, the newest event whose body says `<phase>: … -> completed` (and, for its
//! input gates, `<phase>: … -> in_progress`) at the time the state records. The walk reads at
//! most [`MAX_EVENTS`] events, so that a status stays fast on a chain of any length; checks
//! recorded further back are shown as not evaluated here (`ddx log` and `ddx audit report` still
//! show them).

use super::replay::CheckCall;
use super::state::{PhaseStatus, State};
use crate::store::chain::Reader;
use crate::store::ObjectId;
use crate::store::Repo;
use std::collections::{HashMap, HashSet, VecDeque};

/// How many events back the walk reads at most.
pub const MAX_EVENTS: usize = 500;

/// Recorded results by phase and criterion number, with the event commit that recorded each.
pub type Recorded = HashMap<(String, usize), (CheckCall, ObjectId)>;

/// One transition whose recorded checks are wanted.
struct Wanted<'a> {
    phase: &'a str,
    /// The status the phase moved to in that event.
    to: &'static str,
    /// When the state says it happened (RFC 3339), if it says.
    at: Option<&'a str>,
}

/// The check results recorded when the completed phases of `st` started and completed.
pub fn recorded_checks(repo: &Repo, tip: ObjectId, st: &State) -> Recorded {
    let mut wanted: Vec<Wanted<'_>> = Vec::new();
    for p in st
        .phases
        .iter()
        .filter(|p| p.status == PhaseStatus::Completed)
    {
        let machine = |input: bool| {
            p.criteria
                .iter()
                .any(|c| !c.is_human() && (c.gate == super::state::GateKind::Input) == input)
        };
        if machine(false) {
            wanted.push(Wanted {
                phase: &p.id,
                to: "completed",
                at: p.completed.as_deref(),
            });
        }
        if machine(true) {
            wanted.push(Wanted {
                phase: &p.id,
                to: "in_progress",
                at: p.started.as_deref(),
            });
        }
    }
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    // Newest first, every parent followed (chains may fork and be joined); each commit is
    // read and decoded once.
    let reader = Reader::new(repo);
    let mut queue = VecDeque::from([tip]);
    let mut seen = HashSet::from([tip]);
    let mut read = 0;
    while let Some(commit) = queue.pop_front() {
        if wanted.is_empty() || read == MAX_EVENTS {
            break;
        }
        read += 1;
        let c = match reader.commit(commit) {
            Ok(c) => c,
            Err(why) => {
                // Status still answers; `ddx audit verify` names the damage.
                tracing::warn!(
                    "event {commit} of {} cannot be read ({why}): the checks recorded before it are not shown",
                    st.instance
                );
                break;
            }
        };
        let (message, parents, time) = (c.message, c.parents, c.author.time());
        let calls = CheckCall::all_in(&message);
        wanted.retain(|w| {
            let moved = message.body.lines().any(|l| {
                l.strip_prefix(w.phase)
                    .and_then(|rest| rest.strip_prefix(": "))
                    .is_some_and(|rest| {
                        rest.split(" -> ")
                            .nth(1)
                            .is_some_and(|to| to.split_whitespace().next() == Some(w.to))
                    })
            });
            if !moved || w.at.is_some_and(|at| at != time) {
                return true;
            }
            for c in calls.iter().filter(|c| c.phase == w.phase) {
                found
                    .entry((c.phase.clone(), c.number))
                    .or_insert_with(|| (c.clone(), commit));
            }
            false
        });
        for p in parents {
            if seen.insert(p) {
                queue.push_back(p);
            }
        }
    }
    found
}
