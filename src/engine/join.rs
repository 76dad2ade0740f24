//! [`Engine::join`]: the merge event that joins another history of an instance (another
//! clone's events, fetched by `ddx sync`) into this clone's chain. Its state is the three-way
//! merge of [`super::merge`]; its first parent is this clone's tip, its second the joined one.

use super::merge::{self, Side};
use super::state::State;
use super::{Engine, EngineError, Report};
use crate::store::ancestry;
use crate::store::audit::AuditRecord;
use crate::store::event::{self, Message};
use crate::store::transaction::{Decision, NewEvent, Plan};
use crate::store::{refs, ObjectId, StoreError};
use std::collections::BTreeMap;

/// The trailer of a merge event that names the merge base its state was merged over.
pub const MERGE_BASE_TRAILER: &str = "Ddx-Merge-Base";
/// The trailer of a merge event that names the history it joined.
pub const JOINED_TRAILER: &str = "Ddx-Joined";

impl Engine<'_> {
    /// Joins `theirs`, another history of `instance`, into its chain with one merge event;
    /// nothing when the chain already contains it. A history the chain is behind is not joined
    /// but fast-forwarded by the caller (nothing here, and it says so).
    pub fn join(
        &self,
        instance: &str,
        theirs: ObjectId,
        dry_run: bool,
    ) -> Result<Report, EngineError> {
        self.attach_log(instance, dry_run);
        let repo = self.repo;
        let ref_name = refs::instance_ref(instance);
        let read = |commit: ObjectId| -> Result<(event::Tip, State), EngineError> {
            let tip = event::read_event(repo, &ref_name, commit)?;
            let st = State::from_yaml(&tip.state, &format!("{commit}:state.yml"))?;
            if st.instance != instance {
                return Err(StoreError::Corrupt {
                    reference: ref_name.clone(),
                    commit: commit.to_string(),
                    what: format!("it holds the state of instance {}", st.instance),
                }
                .into());
            }
            Ok((tip, st))
        };
        let (their_tip, their_state) = read(theirs)?;
        let mut result: Option<(Vec<String>, State)> = None;
        let outcome = self.on_instance(instance, dry_run, |tip| {
            let ours = tip.commit;
            let our_state = self.tip_state(instance, tip, &format!("{ref_name}:state.yml"))?;
            let base = ancestry::merge_base(repo, ours, theirs)?.ok_or_else(|| {
                EngineError::Unrelated {
                    instance: instance.to_owned(),
                    ours,
                    theirs,
                }
            })?;
            // A side that is the merge base is contained in the other: nothing to join.
            if base == theirs {
                result = Some((Vec::new(), our_state));
                return Ok(Decision::Nothing(format!(
                    "{ref_name} already contains {theirs}"
                )));
            }
            if base == ours {
                result = Some((Vec::new(), our_state));
                return Ok(Decision::Nothing(format!(
                    "{ref_name} is behind {theirs}: a fast-forward, not a join"
                )));
            }
            let (base_tip, base_state) = read(base)?;
            let (our_hex, their_hex) = (ours.to_string(), theirs.to_string());
            let our_side = Side {
                state: &our_state,
                commit: &our_hex,
                time: ancestry::commit_time(repo, ours)?,
            };
            let their_side = Side {
                state: &their_state,
                commit: &their_hex,
                time: ancestry::commit_time(repo, theirs)?,
            };
            let events = ancestry::count(repo, &[ours, theirs])? + 1;
            let merged = merge::merge(&base_state, our_side, their_side, events);
            let workflow_tree = merge::later_value(
                base_tip.workflow_tree,
                (our_side, tip.workflow_tree),
                (their_side, their_tip.workflow_tree),
            );
            let short = |id: ObjectId| id.to_hex_with_len(12).to_string();
            let subject = format!("merge {}", short(theirs));
            let mut lines = vec![format!(
                "joined {} into {} over {}",
                short(theirs),
                short(ours),
                short(base)
            )];
            for c in &merged.conflicts {
                if !our_state.conflicts.contains(c) && !their_state.conflicts.contains(c) {
                    lines.push(format!("conflict: {c}"));
                }
            }
            let mut message = Message::new(format!("ddx({instance}): {subject}"));
            message.body = lines.join("\n");
            message.trailer("Ddx-Event", "merge");
            message.trailer(MERGE_BASE_TRAILER, base.to_string());
            message.trailer(JOINED_TRAILER, theirs.to_string());
            let args = BTreeMap::from([
                ("merge_base".to_owned(), base.to_string()),
                ("joined".to_owned(), theirs.to_string()),
            ]);
            let plan = Plan {
                event: Some(NewEvent {
                    state: merged.to_yaml(),
                    workflow_tree,
                    // A merge renders nothing: each side's renders stay in its own events.
                    renders: None,
                    message,
                    joins: vec![theirs],
                }),
                audit: AuditRecord {
                    operation: "merge".to_owned(),
                    summary: subject,
                    args,
                },
                extra: Vec::new(),
                audit_joins: Vec::new(),
            };
            result = Some((lines, merged));
            Ok(Decision::Change(Box::new(plan)))
        })?;
        Ok(self.report(instance, outcome, result))
    }
}
