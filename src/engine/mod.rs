//! The engine: workflow instances and their life, on top of the store.
//!
//! [`state`] is the `state.yml` document; [`graph`] decides readiness from `depends_on` and
//! `when`; [`machine`] applies transitions to a state in memory; [`gates`] evaluates criteria
//! behind one interface. This module ties them to the store: read the tip (O(1)), apply, and
//! commit the result as one event through the store's one transaction type. Reads
//! ([`status`], [`checkpoints`], [`resolve_instance`]) never write.

pub mod actions;
pub mod agents;
pub mod artifacts;
pub mod checks;
pub mod gate_check;
pub mod gates;
pub mod graph;
pub mod join;
pub mod machine;
pub mod merge;
pub mod recorded;
pub mod replay;
pub mod state;
pub mod upgrade;
pub mod work;

use crate::catalog::{CatalogError, Located};
use crate::model::load::DefinitionError;
use crate::model::{load_workflow, Variable, Workflow};
use crate::observe::log::FILE_ONLY;
use crate::store::audit::AuditRecord;
use crate::store::event::{self, Message, Sink, Tip};
use crate::store::pending::{self, Recovery};
use crate::store::transaction::{self, Decision, ExtraRef, ExtraTarget, NewEvent, Outcome, Plan};
use crate::store::{heads, refs, GitTree, Identity, LookupError, ObjectId, Repo, StoreError};
use gates::{CheckEvaluator, CriterionStatus, Evaluation, GateContext};
use machine::{Applied, EventContext, Op, TransitionError};
use serde::Serialize;
use state::{GateKind, InstanceStatus, PhaseStatus, State, StateError, TransitionRecord};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

/// Records an operation that touches no instance (`repo add`, `hooks install`, a bypass, …) in
/// the audit chain. The operation itself has happened: when it cannot be recorded, say so on
/// the log, and carry on.
pub fn record_operation(repo: &Repo, operation: &str, summary: String, args: &[(&str, String)]) {
    let record = crate::store::audit::AuditRecord {
        operation: operation.to_owned(),
        summary,
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    let done = repo.identity().and_then(|identity| {
        crate::store::audit::record_operation(repo, &identity, &record, false)
    });
    if let Err(e) = done {
        tracing::warn!(
            operation,
            "the audit chain does not record `{}`: {e}",
            record.summary
        );
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("the workflow pinned by instance {instance} cannot be loaded")]
    Pinned {
        instance: String,
        #[source]
        source: DefinitionError,
    },
    #[error(transparent)]
    Artifact(#[from] artifacts::ArtifactError),
    #[error(transparent)]
    Action(#[from] actions::ActionError),
    #[error(transparent)]
    Change(#[from] upgrade::ChangeError),
    #[error("wrote {} but could not record {}: {source}", files.join(", "), if files.len() == 1 { "it" } else { "them" })]
    Unrecorded {
        files: Vec<String>,
        source: Box<EngineError>,
    },
    #[error("missing required variable{}: {}", if missing.len() == 1 { "" } else { "s" }, missing.iter().map(|(n, p)| match p { Some(p) => format!("{n} ({p})"), None => n.clone() }).collect::<Vec<_>>().join(", "))]
    MissingVariables {
        /// (name, prompt or description)
        missing: Vec<(String, Option<String>)>,
    },
    #[error("the histories {ours} and {theirs} of instance {instance} share no event, so they cannot be joined")]
    Unrelated {
        instance: String,
        ours: ObjectId,
        theirs: ObjectId,
    },
}

/// The time and actor of an event ([`Engine::stamp`]).
struct Stamp {
    at: String,
    actor: String,
}

impl Stamp {
    /// What the state machine is told about the event, run in `work_dir`.
    fn context<'a>(
        &'a self,
        reason: Option<&'a str>,
        work_dir: &'a std::path::Path,
    ) -> EventContext<'a> {
        EventContext {
            actor: &self.actor,
            at: &self.at,
            reason,
            work_dir: Some(work_dir),
        }
    }
}

/// A new instance before its first event ([`Engine::new_instance`]).
struct NewInstance {
    id: String,
    state: State,
    lines: Vec<String>,
}

/// What a mutating operation did (or, in a dry run, would do).
#[derive(Debug, Clone)]
pub struct Report {
    pub instance: String,
    pub outcome: Outcome,
    /// What changed, one line each (`frame: ready -> in_progress`).
    pub lines: Vec<String>,
    /// The state after the operation (before it, when nothing changed). Shared with the
    /// engine, which starts its next event on the instance from it.
    pub state: Option<Arc<State>>,
}

impl Report {
    pub fn changed(&self) -> bool {
        !matches!(self.outcome, Outcome::Nothing(_))
    }
}

/// The required variables of `workflow` that have no value in `given` and no default.
pub fn missing_variables<'w>(
    workflow: &'w Workflow,
    given: &BTreeMap<String, String>,
) -> Vec<&'w Variable> {
    workflow
        .variables
        .iter()
        .filter(|v| v.required && v.default.is_none() && !given.contains_key(&v.name))
        .collect()
}

/// Acts on instances as one user, at one time.
pub struct Engine<'r> {
    repo: &'r Repo,
    identity: Identity,
    project_commit: Option<ObjectId>,
    evaluator: Box<dyn CheckEvaluator + 'r>,
    definitions: RefCell<HashMap<ObjectId, Rc<Workflow>>>,
    /// The last state this engine wrote of each instance, with the id of its `state.yml`
    /// blob: the next event starts from it instead of parsing the YAML again.
    last_state: RefCell<HashMap<String, (ObjectId, Arc<State>)>>,
}

impl<'r> Engine<'r> {
    /// An engine acting as the git user of `repo` (an error names the git config to set).
    pub fn new(repo: &'r Repo) -> Result<Engine<'r>, EngineError> {
        let identity = repo.identity()?;
        Ok(Engine {
            repo,
            identity,
            project_commit: repo.project_commit(),
            evaluator: Box::new(gates::MachineChecks::new(repo, false, gates::Commands::Run)),
            definitions: RefCell::new(HashMap::new()),
            last_state: RefCell::new(HashMap::new()),
        })
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Runs `command` checks of workflows from untrusted sources too (`--trust`).
    pub fn set_trust(&mut self, consent: bool) {
        self.evaluator = Box::new(gates::MachineChecks::new(
            self.repo,
            consent,
            gates::Commands::Run,
        ));
    }

    /// Uses a different clock (benchmarks and replays); the actor stays.
    pub fn set_time(&mut self, seconds: i64) {
        self.identity.seconds = seconds;
    }

    /// Sends this command's log lines to `instance`'s log (never for a dry run, which writes
    /// nothing at all).
    pub(crate) fn attach_log(&self, instance: &str, dry_run: bool) {
        if !dry_run {
            attach_log(self.repo, instance);
        }
    }

    fn options<'a>(&'a self, instance: &'a str, dry_run: bool) -> transaction::Options<'a> {
        transaction::Options {
            instance,
            identity: &self.identity,
            project_commit: self.project_commit,
            dry_run,
        }
    }

    /// Who makes an event now, and when.
    fn stamp(&self) -> Stamp {
        Stamp {
            at: self.identity.time(),
            actor: self.identity.actor(),
        }
    }

    /// The one transaction prologue of an operation on an existing instance: `decide` gets its
    /// tip (a missing instance is [`LookupError::NotFound`]) and runs again after a lost race.
    fn on_instance(
        &self,
        instance: &str,
        dry_run: bool,
        mut decide: impl FnMut(&Tip) -> Result<Decision, EngineError>,
    ) -> Result<Outcome, EngineError> {
        let outcome = transaction::commit(self.repo, &self.options(instance, dry_run), |base| {
            let tip = base
                .instance
                .as_ref()
                .ok_or_else(|| LookupError::NotFound {
                    prefix: instance.to_owned(),
                    suggestion: None,
                })?;
            decide(tip)
        })?;
        self.after_commit(instance, &outcome);
        Ok(outcome)
    }

    /// What follows every event this engine commits: the installed coding agents' files
    /// (AGENTS.md's section, the per-phase commands) are brought up to the new state.
    fn after_commit(&self, instance: &str, outcome: &Outcome) {
        if let Outcome::Committed(w) = outcome {
            if w.plan.event.is_some() {
                agents::after_event(self.repo, instance);
            }
        }
    }

    /// The transaction of an operation that creates instance `id` with its first event:
    /// refused when it exists (also when another writer made it meanwhile).
    fn on_new_instance(
        &self,
        id: &str,
        dry_run: bool,
        event: NewEvent,
        audit: AuditRecord,
    ) -> Result<Outcome, EngineError> {
        let outcome = transaction::commit(self.repo, &self.options(id, dry_run), |base| {
            if base.instance.is_some() {
                return Err(EngineError::from(LookupError::InstanceExists {
                    id: id.to_owned(),
                }));
            }
            Ok(Decision::Change(Box::new(Plan {
                event: Some(event.clone()),
                audit: audit.clone(),
                extra: Vec::new(),
                audit_joins: Vec::new(),
            })))
        })?;
        self.after_commit(id, &outcome);
        Ok(outcome)
    }

    /// The first state of a new instance of `located` (`wf`, loaded), before its first event:
    /// its variables and id ([`Engine::new_instance_values`]; an id in use is refused), the
    /// facts of init, and its phases made ready. `lines` say what it is (workflow, variables)
    /// and which phases became ready.
    fn new_instance(
        &self,
        located: &Located,
        wf: &Workflow,
        variables: BTreeMap<String, String>,
        id: Option<&str>,
        dry_run: bool,
    ) -> Result<NewInstance, EngineError> {
        let (values, id) = self.new_instance_values(wf, variables, id)?;
        self.attach_log(&id, dry_run);
        if refs::read(self.repo, &refs::instance_ref(&id))?.is_some() {
            return Err(LookupError::InstanceExists { id }.into());
        }
        let at = self.identity.time();
        let mut state = self.new_state(wf, &id, located, values, &at);
        let mut lines = vec![format!(
            "workflow: {} {} ({}), {} phases",
            wf.name,
            wf.version,
            located.source,
            wf.phases.len()
        )];
        if !state.variables.is_empty() {
            lines.push(format!(
                "variables: {}",
                state
                    .variables
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for c in graph::refresh(&mut state, wf).map_err(TransitionError::from)? {
            let mut line = format!("{}: {} -> {}", c.phase, c.from, c.to);
            if let Some(r) = &c.reason {
                line.push_str(&format!(" ({r})"));
            }
            lines.push(line);
        }
        machine::derive_status(&mut state);
        Ok(NewInstance { id, state, lines })
    }

    /// The tree a new instance pins its definition in: the catalog's own tree when it is in
    /// this repository, else `located`'s files written as a tree (hashed only, in a dry run),
    /// with how many files that wrote.
    fn pin_definition(
        &self,
        located: &Located,
        dry_run: bool,
    ) -> Result<(ObjectId, Option<usize>), EngineError> {
        let reused = located
            .tree
            .git_tree_id()
            .filter(|t| self.repo.has_object(t));
        if let Some(t) = reused {
            return Ok((t, None));
        }
        let sink = if dry_run {
            Sink::HashOnly(self.repo)
        } else {
            Sink::Write(self.repo)
        };
        let (t, n) = event::write_file_tree(sink, located.tree.as_ref())?;
        Ok((t, Some(n)))
    }

    /// What a new instance starts from: its variables (defaults, then `variables`; every one
    /// without a value named in the error) and its id (`id`, or a new one).
    fn new_instance_values(
        &self,
        wf: &Workflow,
        variables: BTreeMap<String, String>,
        id: Option<&str>,
    ) -> Result<(BTreeMap<String, String>, String), EngineError> {
        let mut values: BTreeMap<String, String> = wf
            .variables
            .iter()
            .filter_map(|v| v.default.clone().map(|d| (v.name.clone(), d)))
            .collect();
        values.extend(variables);
        let missing = missing_variables(wf, &values);
        if !missing.is_empty() {
            return Err(EngineError::MissingVariables {
                missing: missing
                    .iter()
                    .map(|v| {
                        (
                            v.name.clone(),
                            v.prompt.clone().or_else(|| v.description.clone()),
                        )
                    })
                    .collect(),
            });
        }
        let id = match id {
            Some(id) => {
                refs::validate_name("an instance id", id)?;
                id.to_owned()
            }
            None => refs::new_instance_id(&wf.name, self.identity.seconds),
        };
        Ok((values, id))
    }

    /// The first state of instance `id`, with the facts of init in its context: the work
    /// tree's folder name and the branch checked out.
    fn new_state(
        &self,
        wf: &Workflow,
        id: &str,
        located: &Located,
        values: BTreeMap<String, String>,
        at: &str,
    ) -> State {
        let actor = self.identity.actor();
        let mut st = State::new(wf, id, &located.source.to_string(), values, at, &actor);
        st.context.insert(
            "project".to_owned(),
            self.repo
                .work_dir()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        if let Some(branch) = refs::head_branch(self.repo) {
            st.context.insert("branch".to_owned(), branch);
        }
        st
    }

    /// The definition pinned in an event (cached by tree id).
    pub fn definition(&self, instance: &str, tip: &Tip) -> Result<Rc<Workflow>, EngineError> {
        if let Some(w) = self.definitions.borrow().get(&tip.workflow_tree) {
            return Ok(w.clone());
        }
        let w = Rc::new(load_pinned(self.repo, instance, tip)?);
        self.definitions
            .borrow_mut()
            .insert(tip.workflow_tree, w.clone());
        Ok(w)
    }

    /// The state of `tip`: parsed from its `state.yml`, or, when that blob is the one this
    /// engine last saw, a copy of the state it was written from (blobs are named by their
    /// content, so the same id is the same bytes).
    fn tip_state(&self, instance: &str, tip: &Tip, origin: &str) -> Result<State, StateError> {
        // Taken, not copied: the event being made replaces it (a retry parses the tip again).
        // Copied only while the caller still holds the report it came with.
        if let Some((id, st)) = self.last_state.borrow_mut().remove(instance) {
            if id == tip.state_id {
                return Ok(Arc::try_unwrap(st).unwrap_or_else(|shared| (*shared).clone()));
            }
        }
        State::from_yaml(&tip.state, origin)
    }

    /// The report of an event on `instance`: its outcome, and the lines and state its decision
    /// left in `result`. A committed state is remembered for the next event
    /// ([`Engine::tip_state`]); the report is logged.
    fn report(
        &self,
        instance: &str,
        outcome: Outcome,
        result: Option<(Vec<String>, State)>,
    ) -> Report {
        let (lines, st) = result.unzip();
        let st = st.map(Arc::new);
        if let (Outcome::Committed(w), Some(st)) = (&outcome, &st) {
            if let Some(blob) = w.state_blob {
                self.remember_state(instance, blob, st);
            }
        }
        let report = Report {
            instance: instance.to_owned(),
            outcome,
            lines: lines.unwrap_or_default(),
            state: st,
        };
        log_report(&report);
        report
    }

    /// Remembers `st`, just written as the blob `state_blob`, for [`Engine::tip_state`].
    fn remember_state(&self, instance: &str, state_blob: ObjectId, st: &Arc<State>) {
        self.last_state
            .borrow_mut()
            .insert(instance.to_owned(), (state_blob, Arc::clone(st)));
    }

    /// `ddx workflow init`: a new instance of `located`, with `variables` and maybe an `id`.
    pub fn init(
        &self,
        located: &Located,
        variables: BTreeMap<String, String>,
        id: Option<&str>,
        dry_run: bool,
    ) -> Result<Report, EngineError> {
        let wf = located.load()?;
        let NewInstance {
            id,
            state: mut st,
            mut lines,
        } = self.new_instance(located, &wf, variables, id, dry_run)?;
        let (workflow_tree, files) = self.pin_definition(located, dry_run)?;
        let pinned = match files {
            Some(n) => format!(
                "pinned definition: tree {workflow_tree} ({n} file{} written)",
                if n == 1 { "" } else { "s" }
            ),
            None => format!("pinned definition: tree {workflow_tree} (reused from the catalog)"),
        };
        lines.insert(1, pinned);
        st.metrics.events = 1;
        let mut message = Message::new(format!("ddx({id}): init {} {}", wf.name, wf.version));
        message.body = lines.join("\n");
        message.trailer("Ddx-Event", "init");
        message.trailer("Ddx-Workflow", format!("{} {}", wf.name, wf.version));
        let yaml = st.to_yaml();
        let audit = AuditRecord {
            operation: "init".to_owned(),
            summary: format!("init {} {}", wf.name, wf.version),
            args: [
                ("workflow".to_owned(), format!("{} {}", wf.name, wf.version)),
                ("source".to_owned(), located.source.to_string()),
            ]
            .into_iter()
            .collect(),
        };
        let event = NewEvent {
            joins: Vec::new(),
            renders: None,
            state: yaml,
            workflow_tree,
            message,
        };
        let outcome = self.on_new_instance(&id, dry_run, event, audit)?;
        let report = Report {
            instance: id,
            outcome,
            lines,
            state: Some(Arc::new(st)),
        };
        log_report(&report);
        Ok(report)
    }

    /// Applies `op` to `instance` as one event (or nothing, or a dry run).
    pub fn apply(
        &self,
        instance: &str,
        op: &Op,
        reason: Option<&str>,
        dry_run: bool,
    ) -> Result<Report, EngineError> {
        self.attach_log(instance, dry_run);
        // Free text as its trailer carries it, so a replay of the event sees the same.
        let op = &replay::normalize_op(op);
        let reason = replay::normalize_text(reason);
        let reason = reason.as_deref();
        let mut result: Option<(Vec<String>, State)> = None;
        let ref_name = refs::instance_ref(instance);
        let outcome = self.on_instance(instance, dry_run, |tip| {
            let mut st = self.tip_state(instance, tip, &format!("{ref_name}:state.yml"))?;
            // The check results this transition depends on, recorded for replay.
            let recorder = replay::Recorder::new(self.evaluator.as_ref());
            let wf = if op.needs_definition() {
                Some(self.definition(instance, tip)?)
            } else {
                None
            };
            let stamp = self.stamp();
            let cx = stamp.context(reason, self.repo.work_dir());
            let effect = match machine::apply(&mut st, wf.as_deref(), op, &cx, &recorder)? {
                Applied::Nothing(why) => {
                    result = Some((Vec::new(), st));
                    return Ok(Decision::Nothing(why));
                }
                Applied::Changed(effect) => effect,
            };
            let mut message = Message::new(format!("ddx({instance}): {}", effect.subject));
            message.body = effect.lines.join("\n");
            let checks = recorder.calls().into_iter().map(|c| c.trailer());
            let args = effect.write_trailers(&mut message, checks);
            let yaml = st.to_yaml();
            debug_assert_eq!(
                State::from_yaml(&yaml, "a state just written")
                    .ok()
                    .as_ref(),
                Some(&st),
                "a state must read back as it was written"
            );
            let plan = Plan {
                event: Some(NewEvent {
                    joins: Vec::new(),
                    renders: None,
                    state: yaml,
                    workflow_tree: tip.workflow_tree,
                    message,
                }),
                audit: AuditRecord {
                    operation: effect.event.clone(),
                    summary: effect.subject.clone(),
                    args,
                },
                extra: Vec::new(),
                audit_joins: Vec::new(),
            };
            result = Some((effect.lines, st));
            Ok(Decision::Change(Box::new(plan)))
        })?;
        Ok(self.report(instance, outcome, result))
    }

    /// `ddx workflow restore`: a new event whose state equals checkpoint `name`'s.
    pub fn restore(
        &self,
        instance: &str,
        name: &str,
        reason: Option<&str>,
        dry_run: bool,
    ) -> Result<Report, EngineError> {
        self.attach_log(instance, dry_run);
        let reason = replay::normalize_text(reason);
        let reason = reason.as_deref();
        let cp_ref = refs::checkpoint_ref(instance, name);
        let Some(cp_commit) = refs::read(self.repo, &cp_ref)? else {
            return Err(checkpoint_not_found(self.repo, instance, name)?.into());
        };
        let cp_tip = event::read_event(self.repo, &cp_ref, cp_commit)?;
        let cp_state = State::from_yaml(&cp_tip.state, &format!("{cp_ref}:state.yml"))?;
        if cp_state.instance != instance {
            return Err(StoreError::Corrupt {
                reference: cp_ref,
                commit: cp_commit.to_string(),
                what: format!("it holds the state of instance {}", cp_state.instance),
            }
            .into());
        }
        let mut result: Option<(Vec<String>, State)> = None;
        let ref_name = refs::instance_ref(instance);
        let outcome = self.on_instance(instance, dry_run, |tip| {
            let current = State::from_yaml(&tip.state, &format!("{ref_name}:state.yml"))?;
            let mut st = cp_state.clone();
            st.metrics = current.metrics.clone();
            st.transitions = current.transitions.clone();
            if st == current && tip.workflow_tree == cp_tip.workflow_tree {
                result = Some((Vec::new(), current));
                return Ok(Decision::Nothing(format!(
                    "instance {instance} is already in the state of checkpoint {name}"
                )));
            }
            let mut lines = vec![format!(
                "restored the state of checkpoint {name} ({cp_commit})"
            )];
            for p in &st.phases {
                if let Some(before) = current.phase(&p.id) {
                    if before.status != p.status {
                        lines.push(format!("{}: {} -> {}", p.id, before.status, p.status));
                    }
                }
            }
            if current.status != st.status {
                lines.push(format!("instance: {} -> {}", current.status, st.status));
            }
            let at = self.identity.time();
            st.metrics.events += 1;
            st.record(TransitionRecord {
                at: at.clone(),
                by: self.identity.actor(),
                event: "restore".to_owned(),
                phase: None,
                from: current.status.as_str().to_owned(),
                to: st.status.as_str().to_owned(),
                reason: reason.map(str::to_owned),
            });
            let mut message = Message::new(format!("ddx({instance}): restore checkpoint {name}"));
            message.body = lines.join("\n");
            message.trailer("Ddx-Event", "restore");
            message.trailer("Ddx-Checkpoint", name);
            message.trailer("Ddx-Restored-From", cp_commit.to_string());
            let mut args = vec![
                ("Ddx-Checkpoint".to_owned(), name.to_owned()),
                ("Ddx-Restored-From".to_owned(), cp_commit.to_string()),
            ];
            if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
                message.trailer("Ddx-Reason", r);
                args.push(("Ddx-Reason".to_owned(), r.to_owned()));
            }
            let plan = Plan {
                event: Some(NewEvent {
                    joins: Vec::new(),
                    renders: None,
                    state: st.to_yaml(),
                    workflow_tree: cp_tip.workflow_tree,
                    message,
                }),
                audit: AuditRecord {
                    operation: "restore".to_owned(),
                    summary: format!("restore checkpoint {name}"),
                    args: args.into_iter().collect(),
                },
                extra: Vec::new(),
                audit_joins: Vec::new(),
            };
            result = Some((lines, st));
            Ok(Decision::Change(Box::new(plan)))
        })?;
        let (lines, st) = result.unzip();
        let report = Report {
            instance: instance.to_owned(),
            outcome,
            lines: lines.unwrap_or_default(),
            state: st.map(Arc::new),
        };
        log_report(&report);
        Ok(report)
    }

    /// `ddx checkpoint create`: names the instance's tip `name`.
    pub fn checkpoint(
        &self,
        instance: &str,
        name: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<Report, EngineError> {
        self.attach_log(instance, dry_run);
        refs::validate_name("a checkpoint name", name)?;
        let cp_ref = refs::checkpoint_ref(instance, name);
        let mut lines = Vec::new();
        let outcome = self.on_instance(instance, dry_run, |tip| {
            lines.clear();
            let existing = refs::read(self.repo, &cp_ref)?;
            if let Some(old) = existing {
                if old == tip.commit {
                    return Ok(Decision::Nothing(format!(
                        "checkpoint {name} already points at the tip of {instance} ({old})"
                    )));
                }
                if !force {
                    return Err(LookupError::CheckpointExists {
                        instance: instance.to_owned(),
                        name: name.to_owned(),
                        commit: old.to_string(),
                    }
                    .into());
                }
                lines.push(format!("{cp_ref}: moved from {old} to {}", tip.commit));
            } else {
                lines.push(format!("{cp_ref}: created at {}", tip.commit));
            }
            Ok(Decision::Change(Box::new(Plan {
                event: None,
                audit: AuditRecord {
                    operation: "checkpoint".to_owned(),
                    summary: format!("checkpoint {name}"),
                    args: [("Ddx-Checkpoint".to_owned(), name.to_owned())]
                        .into_iter()
                        .collect(),
                },
                extra: vec![ExtraRef {
                    name: cp_ref.clone(),
                    expected: existing,
                    target: ExtraTarget::Commit(tip.commit),
                }],
                audit_joins: Vec::new(),
            })))
        })?;
        let report = Report {
            instance: instance.to_owned(),
            outcome,
            lines,
            state: None,
        };
        log_report(&report);
        Ok(report)
    }

    /// Finishes or rolls back the interrupted step, if any (see [`crate::store::pending`]).
    pub fn recover(&self) -> Result<Option<Recovery>, EngineError> {
        let done = pending::recover(self.repo, &self.identity)?;
        if let Some(r) = &done {
            match r {
                Recovery::RolledBack { step, reason } => tracing::warn!(
                    target: FILE_ONLY,
                    step = step.as_str(),
                    "rolled back an interrupted step: {reason}"
                ),
                Recovery::Finished { step, .. } | Recovery::AlreadyDone { step } => {
                    tracing::info!(step = step.as_str(), "finished an interrupted step")
                }
            }
            // A finished step is an event committed now: the agents' files follow it.
            if let Recovery::Finished { moved, .. } = r {
                for id in moved.iter().filter_map(|m| m.strip_prefix(refs::INSTANCES)) {
                    agents::after_event(self.repo, id);
                }
            }
        }
        Ok(done)
    }
}

/// Sends this command's log lines to `instance`'s log, `.git/ddx/logs/<instance>.jsonl`.
pub fn attach_log(repo: &Repo, instance: &str) {
    if let Err(e) = crate::observe::log::attach_instance(&repo.ddx_dir(), instance) {
        tracing::warn!("cannot write the log of instance {instance}: {e}");
    }
}

/// Logs what an operation did: the event at info (a forced gate at warn), each change below it.
pub fn log_report(report: &Report) {
    let instance = report.instance.as_str();
    match &report.outcome {
        Outcome::Committed(w) => {
            let event = w
                .plan
                .event
                .as_ref()
                .and_then(|e| e.message.get("Ddx-Event"))
                .unwrap_or(w.plan.audit.operation.as_str());
            tracing::info!(
                event,
                commit = w.event.map(|c| c.to_string()).unwrap_or_default(),
                audit = %w.audit,
                "{instance}: {}",
                w.plan.audit.summary
            );
            for line in &report.lines {
                if line.contains("forced past") {
                    // A deviation: kept in the instance log; stdout already shows the line.
                    tracing::warn!(target: FILE_ONLY, event, "{line}");
                } else {
                    tracing::info!(event, "{line}");
                }
            }
        }
        Outcome::DryRun(w) => {
            tracing::debug!("dry run: would record {}", w.plan.audit.summary)
        }
        Outcome::Nothing(why) => tracing::info!("{instance}: nothing changed: {why}"),
    }
}

fn checkpoint_not_found(
    repo: &Repo,
    instance: &str,
    name: &str,
) -> Result<LookupError, EngineError> {
    let names: Vec<String> = refs::list(repo, &format!("{}{instance}/", refs::CHECKPOINTS))?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok(LookupError::CheckpointNotFound {
        instance: instance.to_owned(),
        name: name.to_owned(),
        suggestion: crate::model::diag::did_you_mean(name, names.iter().map(String::as_str))
            .map(str::to_owned),
    })
}

/// Loads the definition pinned in an event's `workflow/` tree.
pub fn load_pinned(repo: &Repo, instance: &str, tip: &Tip) -> Result<Workflow, EngineError> {
    let tree = GitTree::open(
        repo,
        tip.workflow_tree,
        format!("{}:workflow", refs::instance_ref(instance)),
    );
    load_workflow(&tree).map_err(|source| EngineError::Pinned {
        instance: instance.to_owned(),
        source,
    })
}

/// The tip and state of an instance: one commit, one tree, one blob.
pub fn load(repo: &Repo, instance: &str) -> Result<(Tip, State), EngineError> {
    let name = refs::instance_ref(instance);
    let Some(commit) = refs::read(repo, &name)? else {
        return Err(LookupError::NotFound {
            prefix: instance.to_owned(),
            suggestion: None,
        }
        .into());
    };
    let tip = event::read_event(repo, &name, commit)?;
    let st = State::from_yaml(&tip.state, &format!("{name}:state.yml"))?;
    Ok((tip, st))
}

/// The instance a command acts on: `given` (an id or unique prefix), else the one active
/// instance, else the only instance there is.
pub fn resolve_instance(repo: &Repo, given: Option<&str>) -> Result<String, EngineError> {
    // A whole id (what scripts and hooks pass) needs no listing of every instance.
    if let Some(id) = given.filter(|id| refs::validate_name("an instance id", id).is_ok()) {
        if refs::read(repo, &refs::instance_ref(id))?.is_some() {
            return Ok(id.to_owned());
        }
    }
    let ids = refs::instance_ids(repo)?;
    if let Some(prefix) = given {
        return Ok(refs::resolve_prefix(&ids, prefix)?);
    }
    match ids.len() {
        0 => return Err(LookupError::NoInstances.into()),
        1 => return Ok(ids[0].clone()),
        _ => {}
    }
    let mut active = Vec::new();
    for id in &ids {
        match load(repo, id) {
            Ok((_, st)) if !st.status.is_active() => {}
            _ => active.push(id.clone()),
        }
    }
    match active.len() {
        1 => Ok(active.remove(0)),
        0 => Err(LookupError::NoneActive { count: ids.len() }.into()),
        _ => Err(LookupError::SeveralActive { ids: active }.into()),
    }
}

/// One phase in `ddx workflow status`.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseView {
    pub id: String,
    pub name: String,
    pub status: PhaseStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    pub criteria: Vec<Evaluation>,
}

/// `ddx workflow status` of one instance.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub id: String,
    pub workflow: String,
    pub version: String,
    pub status: InstanceStatus,
    /// Completed and skipped phases, in percent.
    pub progress: u32,
    pub phases: Vec<PhaseView>,
    /// Commands that move the instance on.
    pub next: Vec<String>,
    /// The tip commit of `refs/ddx/instances/<id>`.
    pub commit: String,
    pub source: String,
    pub created: String,
    pub created_by: String,
    pub variables: BTreeMap<String, String>,
    pub events: u64,
    /// Interrupted steps awaiting `ddx workflow resume`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interrupted: Vec<String>,
    /// The head ddx wrote last, when the ref has since moved outside ddx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_outside_ddx: Option<String>,
    /// Every file artifacts and actions wrote (the change tracker), by path.
    pub files: BTreeMap<String, state::FileRecord>,
    /// Conflicts a merge of forked histories left (`ddx sync`), until a command settles them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<state::Conflict>,
    /// Remotes whose last fetched history of the instance (the staging refs of `ddx sync` or a
    /// plain `git fetch` after `ddx sync --setup`) has events this clone does not: `ddx sync`
    /// joins them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_events: Vec<String>,
}

/// The remotes whose staged history of `instance` holds events its ref here does not.
fn remotes_ahead(repo: &Repo, instance: &str, tip: ObjectId) -> Vec<String> {
    let suffix = format!("/ddx/instances/{instance}");
    refs::list(repo, "refs/ddx-remote/")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, id)| {
            let remote = name.strip_suffix(&suffix)?;
            let behind =
                id != tip && !crate::store::ancestry::reaches(repo, tip, id).unwrap_or(true);
            behind.then(|| remote.to_owned())
        })
        .collect()
}

/// The command that settles `c` by keeping what the merge kept (a phase's status), or what
/// settles it otherwise.
pub fn settle_hint(c: &state::Conflict) -> String {
    match (&c.phase, c.field.as_str()) {
        (Some(p), "status") => {
            let kept = c.kept.split(':').next().unwrap_or_default();
            let confirm = match kept {
                "completed" => Some("complete"),
                "failed" => Some("fail"),
                "skipped" => Some("skip"),
                "in_progress" => Some("start"),
                _ => None,
            };
            match confirm {
                Some(cmd) => format!(
                    "keep {kept} with `ddx phase {cmd} {p}`, or take the other side's with `ddx phase reopen {p}` and the phase command it needs"
                ),
                None => format!("any phase command that changes {p} settles it"),
            }
        }
        (Some(p), _) => format!("any phase command that changes {p} settles it"),
        (None, _) => "a change of the instance's status (`ddx workflow pause`, `resume`, a phase command) settles it".to_owned(),
    }
}

/// The status of `instance` from its tip; the machine checks of the phases that are ready or
/// in progress are evaluated, except `command` checks (`ddx gate check` runs those).
pub fn status(repo: &Repo, instance: &str) -> Result<StatusView, EngineError> {
    attach_log(repo, instance);
    let (tip, st) = load(repo, instance)?;
    let wf = match load_pinned(repo, instance, &tip) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("{e}: machine checks are not evaluated");
            None
        }
    };
    let cx = GateContext {
        work_dir: Some(repo.work_dir()),
        state: &st,
        workflow: wf.as_ref(),
    };
    let machine = gates::MachineChecks::new(repo, false, gates::Commands::Skip);
    let recorded = recorded::recorded_checks(repo, tip.commit, &st);
    let phases: Vec<PhaseView> = st
        .phases
        .iter()
        .map(|p| PhaseView {
            id: p.id.clone(),
            name: p.name.clone(),
            status: p.status,
            started: p.started.clone(),
            completed: p.completed.clone(),
            reason: p.reason.clone(),
            forced: p.forced.clone(),
            criteria: (1..=p.criteria.len())
                .map(|n| {
                    let current = matches!(p.status, PhaseStatus::Ready | PhaseStatus::InProgress);
                    let evaluator: &dyn CheckEvaluator = if current {
                        &machine
                    } else {
                        &gates::NotEvaluatedHere
                    };
                    let mut e = gates::evaluate_one(p, n, &cx, evaluator);
                    if let Some((call, commit)) = recorded.get(&(p.id.clone(), n)) {
                        if e.status == CriterionStatus::NotEvaluated {
                            e.status = call.status;
                            e.detail = call.detail.clone();
                            e.recorded_in = Some(commit.to_string());
                        }
                    }
                    e
                })
                .collect(),
        })
        .collect();
    let mut next = suggestions(&st, &phases, instance, repo)?;
    let mut seen = std::collections::HashSet::new();
    next.retain(|n| seen.insert(n.clone()));
    let interrupted = pending::interrupted(repo)?.into_iter().collect();
    let ref_name = refs::instance_ref(instance);
    let moved = heads::moved_outside(repo, &ref_name, Some(tip.commit))?;
    Ok(StatusView {
        id: st.instance.clone(),
        workflow: st.workflow.clone(),
        version: st.version.clone(),
        status: st.status,
        progress: st.progress(),
        phases,
        next,
        commit: tip.commit.to_string(),
        source: st.source.clone(),
        created: st.created.clone(),
        created_by: st.created_by.clone(),
        variables: st.variables.clone(),
        events: st.metrics.events,
        interrupted,
        moved_outside_ddx: moved.map(|m| m.to_string()),
        files: st.files.clone(),
        conflicts: st.conflicts.clone(),
        remote_events: remotes_ahead(repo, instance, tip.commit),
    })
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\\\""))
}

/// What to run next, from the state alone.
fn suggestions(
    st: &State,
    phases: &[PhaseView],
    instance: &str,
    repo: &Repo,
) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    // Conflicts a set or an upgrade left in this instance's files come first.
    for path in upgrade::conflicted(repo) {
        let marked = st.files.contains_key(&path)
            && std::fs::read(repo.work_dir().join(&path))
                .is_ok_and(|d| crate::store::merge::has_conflict_markers(&d));
        if marked {
            out.push(format!(
                "resolve the conflict in {path}, then `git add {path}`  # or `git mergetool`"
            ));
        }
    }
    // Then a conflict of joined histories: what follows depends on how it is settled.
    for c in &st.conflicts {
        if let (Some(p), "status") = (&c.phase, c.field.as_str()) {
            match c.kept.split(':').next().unwrap_or_default() {
                "completed" => out.push(format!("ddx phase complete {p}")),
                "failed" => out.push(format!("ddx phase fail {p}")),
                "skipped" => out.push(format!("ddx phase skip {p}")),
                _ => {}
            }
            out.push(format!("ddx phase reopen {p}"));
        }
    }
    match st.status {
        InstanceStatus::Paused => {
            out.push("ddx workflow resume".to_owned());
            return Ok(out);
        }
        InstanceStatus::Cancelled => {
            let cps = refs::list(repo, &format!("{}{instance}/", refs::CHECKPOINTS))?;
            if let Some((name, _)) = cps.last() {
                out.push(format!("ddx workflow restore {name}"));
            }
            return Ok(out);
        }
        InstanceStatus::Completed => return Ok(out),
        _ => {}
    }
    let mut advance = false;
    // The honest steps first (fix a check, run the checks, ask for an approval); `--force`
    // only after them, with what it costs.
    let mut forces = Vec::new();
    for p in phases {
        let gate = match p.status {
            PhaseStatus::Failed => {
                out.push(format!("ddx phase reopen {}", p.id));
                out.push(format!("ddx phase skip {}", p.id));
                continue;
            }
            PhaseStatus::InProgress => GateKind::Exit,
            PhaseStatus::Ready => GateKind::Input,
            _ => continue,
        };
        let blocking: Vec<&Evaluation> = p
            .criteria
            .iter()
            .filter(|e| e.gate == gate && e.required && !e.status.is_satisfied())
            .collect();
        if blocking.is_empty() {
            advance = true;
            continue;
        }
        // Status runs no command: a gate held shut only by command checks is decided by
        // `ddx workflow next`, which runs them.
        if blocking
            .iter()
            .all(|e| e.kind == "command" && e.status == CriterionStatus::NotEvaluated)
        {
            advance = true;
            continue;
        }
        let mut machine = 0;
        for e in &blocking {
            match e.status {
                CriterionStatus::NeedsApproval => out.push(format!(
                    "ddx gate approve {} {}  # ask a reviewer",
                    p.id,
                    quote(&e.criteria)
                )),
                CriterionStatus::Failed => {
                    machine += 1;
                    out.push(fix_hint(e));
                }
                _ => {
                    machine += 1;
                    let cmd = format!("ddx gate check {}", p.id);
                    if !out.contains(&cmd) {
                        out.push(cmd);
                    }
                }
            }
        }
        if machine > 0 {
            let verb = if gate == GateKind::Exit {
                "complete"
            } else {
                "start"
            };
            forces.push(format!(
                "ddx phase {verb} {} --force  # last resort: records {machine} unmet check{} as a deviation",
                p.id,
                if machine == 1 { "" } else { "s" }
            ));
        }
    }
    out.extend(forces);
    if advance {
        out.insert(0, "ddx workflow next".to_owned());
    }
    Ok(out)
}

/// What would make a failed machine check pass, from what the check found.
fn fix_hint(e: &Evaluation) -> String {
    let mut hint = format!("fix {}", quote(&e.criteria));
    if let Some(d) = &e.detail {
        hint.push_str(&format!(": {d}"));
    }
    if e.kind == "committed" {
        if let Some(path) = e.evidence.first().map(|ev| ev.path.as_str()) {
            hint.push_str(&format!(" (commit it: `git add {path} && git commit`)"));
        }
    }
    hint
}

/// Every instance's status: those that can be read, and why the others cannot (a state of a
/// format this ddx does not know, a damaged tip), so one bad instance hides none of the others.
pub fn status_all(repo: &Repo) -> Result<AllStatus, EngineError> {
    let mut all = AllStatus::default();
    for id in refs::instance_ids(repo)? {
        match status(repo, &id) {
            Ok(view) => all.views.push(view),
            Err(e) => all.unreadable.push((id, e)),
        }
    }
    Ok(all)
}

/// What [`status_all`] found.
#[derive(Debug, Default)]
pub struct AllStatus {
    pub views: Vec<StatusView>,
    /// Instances whose status cannot be read, with why.
    pub unreadable: Vec<(String, EngineError)>,
}

/// One checkpoint of `ddx checkpoint list`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointView {
    pub name: String,
    pub commit: String,
    pub time: String,
    pub status: InstanceStatus,
    pub progress: u32,
    /// Phases in progress at the checkpoint.
    pub active: Vec<String>,
}

/// The checkpoints of `instance`, oldest first.
pub fn checkpoints(repo: &Repo, instance: &str) -> Result<Vec<CheckpointView>, EngineError> {
    let prefix = format!("{}{instance}/", refs::CHECKPOINTS);
    let mut out = Vec::new();
    for (name, commit) in refs::list(repo, &prefix)? {
        let ref_name = format!("{prefix}{name}");
        let tip = event::read_event(repo, &ref_name, commit)?;
        let st = State::from_yaml(&tip.state, &format!("{ref_name}:state.yml"))?;
        let (seconds, _) = event::commit_info(repo, commit)?;
        out.push(CheckpointView {
            name,
            commit: commit.to_string(),
            time: refs::rfc3339(seconds),
            status: st.status,
            progress: st.progress(),
            active: st
                .phases
                .iter()
                .filter(|p| p.status == PhaseStatus::InProgress)
                .map(|p| p.id.clone())
                .collect(),
        });
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then(a.name.cmp(&b.name)));
    Ok(out)
}
