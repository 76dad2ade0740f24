//! Phases that do work: transitions that render their phases' artifacts, and `apply`.
//!
//! A command that starts phases (`apply`, `phase start`, `workflow next`) plans the artifacts of
//! the phases it starts ([`super::artifacts::plan`]), writes the files that are new (or, with
//! `--force`, that ddx may overwrite), and records the transition and every file written — its
//! blob id before and after — as ONE event: the change tracker lives in `state.yml` (`files:`)
//! and in the event's `Ddx-File:` trailers, and the renders themselves in the event's `renders/`
//! tree (the base of later three-way merges, [`super::upgrade`]). Files the user edited since
//! ddx wrote them are reported and never touched; files that exist with other content are left
//! alone without `--force`. A dry run plans the same and writes nothing at all.

use super::artifacts::{self, FileAction, PlannedFile};
use super::gates::{self, GateContext};
use super::machine::{self, Applied, Effect, EventContext, Op};
use super::replay::{CheckCall, Recorder};
use super::state::{FileRecord, GateKind, PhaseStatus, State};
use super::{Engine, EngineError, Report};
use crate::catalog::Located;
use crate::model::{FileTree, Phase, Workflow};
use crate::store::audit::AuditRecord;
use crate::store::event::{Identity, Message};
use crate::store::transaction::{Decision, NewEvent, Outcome, Plan};
use crate::store::{refs, worktree, GitTree, LookupError, Repo};
use std::collections::{BTreeMap, BTreeSet};

/// The id written for "no file" in `Ddx-File:` trailers (as in `git diff`'s index lines).
pub const NO_BLOB: &str = "0000000000000000000000000000000000000000";

/// The comment of the approvals `apply` gives the human input gates of the phases it starts.
pub const APPLY_APPROVAL: &str = "approved by applying the workflow (`ddx workflow apply`)";

/// What happens to the state before artifacts are rendered.
#[derive(Debug, Clone)]
pub enum Step {
    /// A transition of the state machine.
    Op(Op),
    /// Start every ready phase whose machine-checked input gates pass, approving its human
    /// input gates in the user's name (`apply`).
    StartReady,
}

/// Which phases have their artifacts rendered.
#[derive(Debug, Clone)]
pub enum Render {
    /// The phases the step started.
    Started,
    /// The phases the step started, and this one if it is in progress (`phase start`).
    AlsoPhase(String),
    /// Every phase in progress after the step (`apply` on an existing instance).
    AllInProgress,
}

/// How files are treated.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileOptions {
    /// Overwrite files that exist with other content (never the ones the user edited).
    pub force: bool,
}

/// One planned file and the phase it belongs to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseFile {
    pub phase: String,
    #[serde(flatten)]
    pub file: PlannedFile,
}

/// What `workflow apply` is asked for ([`Engine::apply_workflow`]).
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions<'a> {
    /// The instance to continue (an exact id), when one was named.
    pub instance: Option<&'a str>,
    /// The id of the new instance, when a new one is asked for.
    pub id: Option<&'a str>,
    /// Values for the workflow's variables (a new instance only; an existing one keeps its own).
    pub variables: BTreeMap<String, String>,
    pub files: FileOptions,
    pub dry_run: bool,
}

/// What a command that renders artifacts did (or, in a dry run, would do).
#[derive(Debug, Clone)]
pub struct WorkReport {
    pub report: Report,
    /// Every artifact file considered, with what happened to it.
    pub files: Vec<PhaseFile>,
    /// Things the user should know that are not errors (a phase whose input gate holds it back,
    /// a variable that was not changed).
    pub notes: Vec<String>,
    /// A new instance was (or would be) created.
    pub created: bool,
}

/// The context artifact templates and prompts render with: the variables, then `project`,
/// `workflow` (name, version), `phase` (id, name), `date` (YYYY-MM-DD, UTC), `user` (name,
/// email) and `instance` (id), which take precedence over variables of the same name.
pub fn render_context(
    st: &State,
    wf: &Workflow,
    phase: Option<&Phase>,
    identity: &Identity,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut map = serde_json::Map::new();
    for (k, v) in &st.variables {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    for (k, v) in &st.context {
        map.entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    map.insert(
        "project".to_owned(),
        Value::String(st.context.get("project").cloned().unwrap_or_default()),
    );
    map.insert(
        "workflow".to_owned(),
        json!({"name": wf.name, "version": wf.version}),
    );
    if let Some(p) = phase {
        map.insert("phase".to_owned(), json!({"id": p.id, "name": p.name}));
    }
    let day: String = refs::rfc3339(identity.seconds).chars().take(10).collect();
    map.insert("date".to_owned(), Value::String(day));
    map.insert(
        "user".to_owned(),
        json!({"name": identity.name, "email": identity.email}),
    );
    map.insert("instance".to_owned(), json!({"id": st.instance}));
    Value::Object(map)
}

/// Adds the `Ddx-File:` trailers, body lines and audit argument (`files`) of `records` to an
/// event.
pub(crate) fn describe_files(
    records: &[(String, FileRecord)],
    message: &mut Message,
    lines: &mut Vec<String>,
    args: &mut BTreeMap<String, String>,
) {
    if !records.is_empty() {
        args.insert(
            "files".to_owned(),
            records
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    for (path, r) in records {
        let short = |id: &Option<String>| {
            id.as_deref()
                .map_or_else(|| "none".to_owned(), |i| i.chars().take(7).collect())
        };
        lines.push(match (&r.before, &r.after) {
            (None, Some(_)) => format!("{path}: new ({}, {})", short(&r.after), r.by),
            (Some(_), None) => format!("{path}: deleted (was {}, {})", short(&r.before), r.by),
            _ => format!(
                "{path}: {} -> {} ({})",
                short(&r.before),
                short(&r.after),
                r.by
            ),
        });
        message.trailer(
            "Ddx-File",
            format!(
                "{}..{} {path}",
                r.before.as_deref().unwrap_or(NO_BLOB),
                r.after.as_deref().unwrap_or(NO_BLOB)
            ),
        );
    }
}

fn merge(into: &mut Option<Effect>, e: Effect) {
    match into {
        None => *into = Some(e),
        Some(m) => {
            m.lines.extend(e.lines);
            for p in e.phases {
                if !m.phases.contains(&p) {
                    m.phases.push(p);
                }
            }
            for t in e.trailers {
                if !m.trailers.contains(&t) {
                    m.trailers.push(t);
                }
            }
        }
    }
}

fn in_progress(st: &State) -> impl Iterator<Item = &str> {
    st.phases
        .iter()
        .filter(|p| p.status == PhaseStatus::InProgress)
        .map(|p| p.id.as_str())
}

fn to_render(before: &State, after: &State, render: &Render) -> Vec<String> {
    let was: BTreeSet<&str> = in_progress(before).collect();
    after
        .phases
        .iter()
        .filter(|p| p.status == PhaseStatus::InProgress)
        .filter(|p| match render {
            Render::Started => !was.contains(p.id.as_str()),
            Render::AlsoPhase(id) => !was.contains(p.id.as_str()) || p.id == *id,
            Render::AllInProgress => true,
        })
        .map(|p| p.id.clone())
        .collect()
}

/// The marker trailer of an event that started every ready phase ([`Step::StartReady`]), so
/// that replay does the same.
pub const START_READY: (&str, &str) = ("Ddx-Step", "start-ready");

/// Starts every ready phase of `st` whose machine-checked input gates pass, approving its human
/// input criteria in the user's name ([`APPLY_APPROVAL`]); `notes` collects the phases held
/// back. The writer and replay both call this, with the real checks and with recorded results.
pub fn start_ready(
    st: &mut State,
    wf: &Workflow,
    cx: &EventContext<'_>,
    evaluator: &dyn gates::CheckEvaluator,
    notes: &mut Vec<String>,
) -> Result<Applied, machine::TransitionError> {
    let ready: Vec<String> = st
        .phases
        .iter()
        .filter(|p| p.status == PhaseStatus::Ready)
        .map(|p| p.id.clone())
        .collect();
    let mut merged = None;
    for id in ready {
        let report = {
            let gcx = GateContext {
                work_dir: cx.work_dir,
                state: st,
                workflow: Some(wf),
            };
            match st.phase(&id) {
                Some(p) => gates::evaluate(p, GateKind::Input, &gcx, evaluator),
                None => continue,
            }
        };
        let machine_blocking: Vec<String> = report
            .blocking()
            .filter(|e| e.status != gates::CriterionStatus::NeedsApproval)
            .map(|e| format!("\"{}\" ({})", e.criteria, e.status.as_str()))
            .collect();
        if !machine_blocking.is_empty() {
            notes.push(format!(
                    "phase {id} is ready but not started: its input gate waits for {}; `ddx gate check --phase {id}` shows why",
                    machine_blocking.join(", ")
                ));
            continue;
        }
        // Applying a workflow is the user's decision to begin: the human criteria
        // of the input gate are approved in their name, and say so.
        let human: Vec<String> = report.blocking().map(|e| e.criteria.clone()).collect();
        for criterion in human {
            let op = Op::Approve {
                phase: id.clone(),
                criteria: vec![criterion],
                comment: Some(APPLY_APPROVAL.to_owned()),
            };
            if let Applied::Changed(e) = machine::apply(st, Some(wf), &op, cx, evaluator)? {
                merge(&mut merged, e);
            }
        }
        let op = Op::Start {
            phase: id,
            force: false,
        };
        if let Applied::Changed(e) = machine::apply(st, Some(wf), &op, cx, evaluator)? {
            merge(&mut merged, e);
        }
    }
    Ok(match merged {
        Some(mut e) => {
            e.subject = format!("start {}", e.phases.join(", "));
            e.event = "start".to_owned();
            e.trailers
                .push((START_READY.0.to_owned(), START_READY.1.to_owned()));
            Applied::Changed(e)
        }
        None => Applied::Nothing("no ready phase can start".to_owned()),
    })
}

impl Engine<'_> {
    /// Applies `step` to `st` in memory, with the check results it depended on (to record for
    /// replay). `notes` collects phases held back by their input gate.
    fn step(
        &self,
        st: &mut State,
        wf: &Workflow,
        step: &Step,
        reason: Option<&str>,
        notes: &mut Vec<String>,
    ) -> Result<(Applied, Vec<CheckCall>), EngineError> {
        let stamp = self.stamp();
        let cx = stamp.context(reason, self.repo.work_dir());
        let recorder = Recorder::new(self.evaluator.as_ref());
        let applied = match step {
            Step::Op(op) => machine::apply(st, Some(wf), op, &cx, &recorder)?,
            Step::StartReady => start_ready(st, wf, &cx, &recorder, notes)?,
        };
        Ok((applied, recorder.calls()))
    }

    /// The hooks folder relative to the work tree, when `core.hooksPath` puts it there.
    pub(super) fn hooks_in_tree(&self) -> Option<String> {
        let hooks = self.repo.hooks_dir().ok()?;
        let rel = hooks.strip_prefix(self.repo.work_dir()).ok()?;
        rel.to_str().map(|r| r.replace('\\', "/"))
    }

    /// Plans the artifacts of `phases` from the templates in `tree`.
    fn plan_files(
        &self,
        tree: &dyn FileTree,
        wf: &Workflow,
        st: &State,
        phases: &[String],
        files: FileOptions,
        notes: &mut Vec<String>,
    ) -> Result<Vec<PhaseFile>, EngineError> {
        let recorded = |p: &str| st.files.get(p).and_then(|r| r.after.clone());
        let hooks = self.hooks_in_tree();
        let mut out: Vec<PhaseFile> = Vec::new();
        for id in phases {
            let Some(phase) = wf.phase(id) else {
                continue;
            };
            let ctx = render_context(st, wf, Some(phase), &self.identity);
            let planned = artifacts::plan_guarded(
                tree,
                wf,
                phase,
                &ctx,
                self.repo.work_dir(),
                hooks.as_deref(),
                &recorded,
                files.force,
                self.repo.object_hash(),
            )?;
            for f in planned {
                if let Some(first) = out.iter().find(|o| o.file.path == f.path) {
                    notes.push(format!(
                        "artifact {} of phase {id} goes to {}, which artifact {} already fills; it is not written",
                        f.artifact, f.path, first.file.artifact
                    ));
                    continue;
                }
                out.push(PhaseFile {
                    phase: id.clone(),
                    file: f,
                });
            }
        }
        Ok(out)
    }

    /// The change-tracker records of a plan: files written, and files ddx finds already as it
    /// would write them but has no record of.
    fn records(&self, st: &State, planned: &[PhaseFile]) -> Vec<(String, FileRecord)> {
        let at = self.identity.time();
        planned
            .iter()
            .filter(|pf| {
                let f = &pf.file;
                f.action.writes()
                    || (f.action == FileAction::Unchanged
                        && st.files.get(&f.path).and_then(|r| r.after.as_deref())
                            != Some(f.after.as_str()))
            })
            .map(|pf| {
                (
                    pf.file.path.clone(),
                    FileRecord {
                        before: pf.file.before.clone(),
                        after: Some(pf.file.after.clone()),
                        merged: None,
                        by: format!("artifact {}", pf.file.artifact),
                        phase: Some(pf.phase.clone()),
                        at: at.clone(),
                    },
                )
            })
            .collect()
    }

    /// Writes the files of a plan (keeping the bytes of every file it overwrites in the
    /// object database, so `git cat-file -p <before>` shows them).
    fn write_files(&self, planned: &[PhaseFile]) -> Result<(), EngineError> {
        for pf in planned {
            if pf.file.action == FileAction::Overwrite {
                if let Some(old) = &pf.file.current {
                    worktree::save_blob(self.repo, old)?;
                }
            }
        }
        let files: Vec<PlannedFile> = planned.iter().map(|pf| pf.file.clone()).collect();
        let hooks = self.hooks_in_tree();
        // `write_guarded` logs each file it writes, once.
        artifacts::write_guarded(&files, self.repo.work_dir(), hooks.as_deref())?;
        Ok(())
    }

    /// The `renders/` tree of the files `records` records (written, or hashed in a dry run):
    /// each render is the base of the next three-way merge (`workflow set`, `workflow
    /// upgrade`), kept in git whatever the user does to the file.
    fn renders_tree(
        &self,
        planned: &[PhaseFile],
        records: &[(String, FileRecord)],
        dry_run: bool,
    ) -> Result<Option<crate::store::ObjectId>, EngineError> {
        let files = planned
            .iter()
            .filter(|pf| records.iter().any(|(p, _)| *p == pf.file.path))
            .map(|pf| (pf.file.path.clone(), pf.file.content.clone()))
            .collect();
        let sink = if dry_run {
            crate::store::event::Sink::HashOnly(self.repo)
        } else {
            crate::store::event::Sink::Write(self.repo)
        };
        Ok(crate::store::event::write_renders(sink, files)?)
    }

    /// Applies `step` to `instance`, renders the artifacts `render` names, and records both as
    /// one event (see the module documentation).
    pub fn work(
        &self,
        instance: &str,
        step: &Step,
        render: &Render,
        files: FileOptions,
        reason: Option<&str>,
        dry_run: bool,
    ) -> Result<WorkReport, EngineError> {
        self.attach_log(instance, dry_run);
        let (tip, st0) = super::load(self.repo, instance)?;
        let wf = self.definition(instance, &tip)?;
        let tree = GitTree::open(
            self.repo,
            tip.workflow_tree,
            format!("{}:workflow", refs::instance_ref(instance)),
        );
        let mut notes = Vec::new();
        let planned_from = tip.commit;
        let mut st1 = st0.clone();
        let events_before = st1.metrics.events;
        let (applied, calls) = self.step(&mut st1, &wf, step, reason, &mut notes)?;
        let phases = to_render(&st0, &st1, render);
        let planned = self.plan_files(&tree, &wf, &st1, &phases, files, &mut notes)?;
        let records = self.records(&st0, &planned);
        if let Applied::Nothing(why) = &applied {
            if records.is_empty() {
                let report = Report {
                    instance: instance.to_owned(),
                    outcome: Outcome::Nothing(why.clone()),
                    lines: Vec::new(),
                    state: Some(std::sync::Arc::new(st1)),
                };
                super::log_report(&report);
                return Ok(WorkReport {
                    report,
                    files: planned,
                    notes,
                    created: false,
                });
            }
        }
        let renders = self.renders_tree(&planned, &records, dry_run)?;
        if !dry_run {
            self.write_files(&planned)?;
        }
        let mut result: Option<(Vec<String>, State)> = None;
        let ref_name = refs::instance_ref(instance);
        let outcome = self
            .on_instance(instance, dry_run, |tip| {
                // The tip planned from is still the tip: use that plan, so no check (a command
                // check may take minutes) runs twice. After a lost race, step again.
                let (mut st, applied, calls, events) = if tip.commit == planned_from {
                    (st1.clone(), applied.clone(), calls.clone(), events_before)
                } else {
                    let mut st = State::from_yaml(&tip.state, &format!("{ref_name}:state.yml"))?;
                    let events = st.metrics.events;
                    let (applied, calls) =
                        self.step(&mut st, &wf, step, reason, &mut Vec::new())?;
                    (st, applied, calls, events)
                };
                let effect = match applied {
                    Applied::Changed(e) => Some(e),
                    Applied::Nothing(why) if records.is_empty() => {
                        return Ok(Decision::Nothing(why));
                    }
                    Applied::Nothing(_) => None,
                };
                let (message, audit, lines) =
                    event_of(instance, effect, &calls, &phases, &records, &mut st);
                st.metrics.events = events + 1;
                let plan = Plan {
                    event: Some(NewEvent {
                        joins: Vec::new(),
                        renders,
                        state: st.to_yaml(),
                        workflow_tree: tip.workflow_tree,
                        message,
                    }),
                    audit,
                    extra: Vec::new(),
                    audit_joins: Vec::new(),
                };
                result = Some((lines, st));
                Ok(Decision::Change(Box::new(plan)))
            })
            .map_err(|e| unrecorded(e, &records, dry_run))?;
        let (lines, st) = result.unzip();
        let report = Report {
            instance: instance.to_owned(),
            outcome,
            lines: lines.unwrap_or_default(),
            state: st.or(Some(st1)).map(std::sync::Arc::new),
        };
        super::log_report(&report);
        Ok(WorkReport {
            report,
            files: planned,
            notes,
            created: false,
        })
    }

    /// `ddx workflow apply` of `located` (`wf`, loaded): continues the instance
    /// [`Engine::apply_target`] chooses ([`Engine::apply_continue`]), or creates one
    /// ([`Engine::apply_new`]). [`WorkReport::created`] says which.
    pub fn apply_workflow(
        &self,
        located: &Located,
        wf: &Workflow,
        opts: &ApplyOptions<'_>,
    ) -> Result<WorkReport, EngineError> {
        match self.apply_target(&wf.name, opts.instance, opts.id)? {
            Some((id, _)) => {
                let mut work =
                    self.apply_continue(&id, &opts.variables, opts.files, opts.dry_run)?;
                if let Some(st) = &work.report.state {
                    if st.workflow == wf.name && st.version != wf.version {
                        work.notes.push(format!(
                            "instance {id} runs {} {}, and {} has {} {}: `ddx workflow upgrade -i {id}` moves it there, merging your edits",
                            st.workflow, st.version, located.source, wf.name, wf.version
                        ));
                    }
                }
                Ok(work)
            }
            None => self.apply_new(
                located,
                wf,
                opts.variables.clone(),
                opts.id,
                opts.files,
                opts.dry_run,
            ),
        }
    }

    /// Which instance `workflow apply` of `workflow` continues: `instance` when given, none
    /// when a new `id` is asked for, else the one active instance of that workflow (none: a new
    /// one; several: [`LookupError::SeveralActive`]). Returns the id and its workflow's name.
    pub fn apply_target(
        &self,
        workflow: &str,
        instance: Option<&str>,
        id: Option<&str>,
    ) -> Result<Option<(String, String)>, EngineError> {
        let existing = match (instance, id) {
            (Some(i), _) => Some(i.to_owned()),
            (None, Some(_)) => None,
            (None, None) => {
                let mut active = active_instances_of(self.repo, workflow)?;
                match active.len() {
                    0 => None,
                    1 => active.pop(),
                    _ => return Err(LookupError::SeveralActive { ids: active }.into()),
                }
            }
        };
        match existing {
            None => Ok(None),
            Some(id) => {
                let (_, st) = super::load(self.repo, &id)?;
                Ok(Some((id, st.workflow)))
            }
        }
    }

    /// `workflow apply` on an instance that exists: starts what is ready and renders what is in
    /// progress; each of `variables` that differs from the instance's is named in a note.
    pub fn apply_continue(
        &self,
        instance: &str,
        variables: &BTreeMap<String, String>,
        files: FileOptions,
        dry_run: bool,
    ) -> Result<WorkReport, EngineError> {
        let (_, st) = super::load(self.repo, instance)?;
        let mut notes = Vec::new();
        for (k, v) in variables {
            match st.variables.get(k) {
                Some(old) if old == v => {}
                Some(old) => notes.push(format!(
                    "--var {k}={v} is not applied: instance {instance} has {k}={old}; `ddx workflow set {k}={v} -i {instance}` changes it and merges the artifacts"
                )),
                None => notes.push(format!(
                    "--var {k}={v} is not applied: instance {instance} was started without it; `ddx workflow set {k}={v} -i {instance}` sets it"
                )),
            }
        }
        let mut work = self.work(
            instance,
            &Step::StartReady,
            &Render::AllInProgress,
            files,
            None,
            dry_run,
        )?;
        notes.append(&mut work.notes);
        work.notes = notes;
        Ok(work)
    }

    /// `ddx workflow apply` of a workflow with no instance yet: one event that creates the
    /// instance, starts its ready phases and records the artifacts it writes.
    /// `wf` is `located`, loaded.
    pub fn apply_new(
        &self,
        located: &Located,
        wf: &Workflow,
        variables: BTreeMap<String, String>,
        id: Option<&str>,
        files: FileOptions,
        dry_run: bool,
    ) -> Result<WorkReport, EngineError> {
        let super::NewInstance {
            id,
            state: mut st,
            mut lines,
        } = self.new_instance(located, wf, variables, id, dry_run)?;
        let fresh = st.clone();
        let mut notes = Vec::new();
        let (applied, calls) = self.step(&mut st, wf, &Step::StartReady, None, &mut notes)?;
        let phases = to_render(&fresh, &st, &Render::Started);
        let planned =
            self.plan_files(located.tree.as_ref(), wf, &st, &phases, files, &mut notes)?;
        let records = self.records(&fresh, &planned);
        let (workflow_tree, _) = self.pin_definition(located, dry_run)?;
        let renders = self.renders_tree(&planned, &records, dry_run)?;
        if !dry_run {
            self.write_files(&planned)?;
        }
        let effect = match applied {
            Applied::Changed(e) => Some(e),
            Applied::Nothing(_) => None,
        };
        let (mut message, mut audit, transitions) =
            event_of(&id, effect, &calls, &phases, &records, &mut st);
        st.metrics.events = 1;
        message.subject = format!("ddx({id}): apply {} {}", wf.name, wf.version);
        message.body = format!("{}\n{}", lines.join("\n"), message.body)
            .trim_end()
            .to_owned();
        lines.extend(transitions);
        message.trailers.retain(|(k, _)| k != "Ddx-Event");
        message
            .trailers
            .insert(0, ("Ddx-Event".to_owned(), "init".to_owned()));
        message.trailer("Ddx-Workflow", format!("{} {}", wf.name, wf.version));
        audit.operation = "apply".to_owned();
        audit.summary = format!("apply {} {}", wf.name, wf.version);
        audit
            .args
            .insert("workflow".to_owned(), format!("{} {}", wf.name, wf.version));
        audit
            .args
            .insert("source".to_owned(), located.source.to_string());
        let event = NewEvent {
            joins: Vec::new(),
            renders,
            state: st.to_yaml(),
            workflow_tree,
            message,
        };
        let outcome = self
            .on_new_instance(&id, dry_run, event, audit)
            .map_err(|e| unrecorded(e, &records, dry_run))?;
        let report = Report {
            instance: id,
            outcome,
            lines,
            state: Some(std::sync::Arc::new(st)),
        };
        super::log_report(&report);
        Ok(WorkReport {
            report,
            files: planned,
            notes,
            created: true,
        })
    }
}

/// The message, audit record and transition lines of an event that applied `effect` (if any)
/// and wrote `records` (the message body lists both); the records are entered into `st.files`.
fn event_of(
    instance: &str,
    effect: Option<Effect>,
    checks: &[CheckCall],
    rendered: &[String],
    records: &[(String, FileRecord)],
    st: &mut State,
) -> (Message, AuditRecord, Vec<String>) {
    let effect = effect.unwrap_or_else(|| Effect {
        event: "artifacts".to_owned(),
        subject: format!("artifacts of {}", rendered.join(", ")),
        phases: rendered.to_vec(),
        ..Effect::default()
    });
    let lines = effect.lines.clone();
    let mut subject = effect.subject.clone();
    if !records.is_empty() {
        subject.push_str(&format!(
            " ({} file{})",
            records.len(),
            if records.len() == 1 { "" } else { "s" }
        ));
    }
    let mut message = Message::new(format!("ddx({instance}): {subject}"));
    let mut args = effect.write_trailers(&mut message, checks.iter().map(CheckCall::trailer));
    let mut body = lines.clone();
    describe_files(records, &mut message, &mut body, &mut args);
    for (path, r) in records {
        st.files.insert(path.clone(), r.clone());
    }
    message.body = body.join("\n");
    let audit = AuditRecord {
        operation: effect.event.clone(),
        summary: subject,
        args: args.into_iter().collect(),
    };
    (message, audit, lines)
}

/// An error after files were written: say which files are not recorded yet.
fn unrecorded(e: EngineError, records: &[(String, FileRecord)], dry_run: bool) -> EngineError {
    let written: Vec<String> = records
        .iter()
        .filter(|(_, r)| r.before != r.after)
        .map(|(p, _)| p.clone())
        .collect();
    if dry_run || written.is_empty() {
        return e;
    }
    EngineError::Unrecorded {
        files: written,
        source: Box::new(e),
    }
}

/// Every active instance of the workflow named `name`.
pub fn active_instances_of(repo: &Repo, name: &str) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    for id in refs::instance_ids(repo)? {
        if let Ok((_, st)) = super::load(repo, &id) {
            if st.workflow == name && st.status.is_active() {
                out.push(id);
            }
        }
    }
    Ok(out)
}
