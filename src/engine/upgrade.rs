//! Changing an applied instance: its variables (`ddx workflow set`) and the definition it runs
//! (`ddx workflow upgrade`), with every artifact ddx rendered merged three-way.
//!
//! Both re-render the instance's artifacts and compare, per file, three versions: the render
//! ddx recorded (the change tracker's `after`, the base, kept in the `renders/` tree of the event
//! that rendered it), the file as it is now (ours) and the new render (theirs). A file never edited is rewritten; an edited one gets the three-way merge
//! of [`crate::store::merge`]: a clean merge is written, overlapping changes are left between
//! conflict markers with the three versions staged in the index, as `git merge` leaves them. A
//! file the user deleted stays deleted. The new render becomes the recorded base. Each command is
//! one event (`Ddx-Event: set` or `upgrade`) recording every file's blobs, which replay
//! ([`super::replay`]) reproduces with [`set_variables`] and [`migrate`].

use super::artifacts::{self, FileAction, PlannedFile};
use super::graph;
use super::machine;
use super::state::TransitionRecord;
use super::state::{CriterionState, FileRecord, PhaseState, PhaseStatus, State};
use super::work::{describe_files, render_context, NO_BLOB};
use super::{Engine, EngineError, Report};
use crate::catalog::Located;
use crate::model::{FileTree, Workflow};
use crate::store::audit::AuditRecord;
use crate::store::event::{Identity, Message};
use crate::store::merge::{self, Labels};
use crate::store::transaction::{Decision, NewEvent, Outcome, Plan};
use crate::store::{refs, GitTree, ObjectId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The trailer of each variable a `set` event gives: `Ddx-Var: NAME=VALUE`.
pub const VAR_TRAILER: &str = "Ddx-Var";
/// The trailer of each file an event merged: `Ddx-Merge: <outcome> <base>..<result> <path>`.
pub const MERGE_TRAILER: &str = "Ddx-Merge";
/// Where ddx lists the files it left with conflict markers, for the pre-commit hook.
pub const CONFLICTS_FILE: &str = "conflicts";

/// Why a `set` or an `upgrade` is refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("`{name}` cannot be set: {why}")]
    BadVariable { name: String, why: String },
    #[error("nothing to set: give one or more NAME=VALUE")]
    NoVariables,
    #[error("the catalog's {workflow} is version {found} ({origin}), not {wanted}; `--source` names where another version is")]
    Version {
        workflow: String,
        found: String,
        origin: String,
        wanted: String,
    },
    #[error("instance {instance} runs workflow {runs}, but {origin} holds workflow {found}")]
    OtherWorkflow {
        instance: String,
        runs: String,
        found: String,
        origin: String,
    },
    #[error("instance {instance} changed while its files were being merged; nothing was recorded, run the command again")]
    Moved { instance: String },
}

/// What happened (or, in a dry run, would happen) to one artifact file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    /// The file already is what the new render gives, or the render did not change.
    Unchanged,
    /// Never edited since ddx wrote it: rewritten with the new render.
    Updated,
    /// Edited, and the new render merged into it cleanly.
    Merged,
    /// Edited where the render changed too: conflict markers, and the index stages.
    Conflict,
    /// The user deleted it: it stays deleted.
    KeptDeleted,
    /// Not there before: written.
    New,
    /// There, but not written by ddx: left alone.
    KeptUnowned,
    /// No artifact renders to it any more (its artifact left the workflow, or now writes to
    /// another path): left as it is.
    KeptRemoved,
}

impl FileOutcome {
    pub fn label(self) -> &'static str {
        match self {
            FileOutcome::Unchanged => "unchanged",
            FileOutcome::Updated => "updated",
            FileOutcome::Merged => "merged",
            FileOutcome::Conflict => "conflict",
            FileOutcome::KeptDeleted => "kept deleted",
            FileOutcome::New => "new",
            FileOutcome::KeptUnowned => "kept (not written by ddx)",
            FileOutcome::KeptRemoved => "kept (no longer rendered)",
        }
    }

    fn writes(self) -> bool {
        matches!(
            self,
            FileOutcome::Updated | FileOutcome::Merged | FileOutcome::Conflict | FileOutcome::New
        )
    }
}

/// One artifact file of a `set` or an `upgrade`.
#[derive(Debug, Clone, Serialize)]
pub struct FileMerge {
    pub phase: String,
    pub artifact: String,
    pub path: String,
    pub outcome: FileOutcome,
    /// The render ddx recorded (the base of the merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The file as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ours: Option<String>,
    /// The new render.
    pub theirs: String,
    /// What the file becomes (the merge, markers and all, for a conflict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip)]
    content: Vec<u8>,
    #[serde(skip)]
    sides: Sides,
}

/// The three versions of a file, kept for the index stages and the object database.
#[derive(Debug, Clone, Default)]
struct Sides {
    base: Option<Vec<u8>>,
    ours: Option<Vec<u8>>,
    theirs: Vec<u8>,
}

/// What `set` or `upgrade` did (or, in a dry run, would do).
#[derive(Debug, Clone)]
pub struct ChangeReport {
    pub report: Report,
    pub files: Vec<FileMerge>,
    pub notes: Vec<String>,
}

impl ChangeReport {
    pub fn conflicts(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.outcome == FileOutcome::Conflict)
            .count()
    }
}

/// Checks the values `set` is given: a name, a value on one line (events carry it in a
/// trailer), and no required variable emptied.
pub fn validate_set(wf: &Workflow, vars: &BTreeMap<String, String>) -> Result<(), ChangeError> {
    if vars.is_empty() {
        return Err(ChangeError::NoVariables);
    }
    for (name, value) in vars {
        let bad = |why: &str| ChangeError::BadVariable {
            name: name.clone(),
            why: why.to_owned(),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(bad(
                "a variable name is letters, digits, `_`, `-` and `.` only",
            ));
        }
        if value.contains(['\n', '\r']) || value.trim() != value {
            return Err(bad(
                "a value is one line of text, with no space at either end",
            ));
        }
        let required = wf.variables.iter().any(|v| v.name == *name && v.required);
        if required && value.is_empty() {
            return Err(bad("it is required by the workflow, so it cannot be empty"));
        }
    }
    Ok(())
}

/// `st` with `vars` set and the phase graph refreshed (a `when:` may now hold or not); the
/// writer and replay both call this. Returns the lines that say what changed.
pub fn set_variables(
    st: &mut State,
    wf: &Workflow,
    vars: &[(String, String)],
) -> Result<Vec<String>, graph::ConditionError> {
    let mut lines = Vec::new();
    for (k, v) in vars {
        match st.variables.insert(k.clone(), v.clone()) {
            Some(old) if old == *v => {}
            Some(old) => lines.push(format!("{k}: {old} -> {v}")),
            None => lines.push(format!("{k}: (unset) -> {v}")),
        }
    }
    for c in graph::refresh(st, wf)? {
        lines.push(format!("{}: {} -> {}", c.phase, c.from, c.to));
    }
    machine::derive_status(st);
    Ok(lines)
}

/// The state of `before` moved onto the definition `wf`: the writer and replay both call this.
///
/// Phases keep their status, times and reasons; their criteria follow the new definition, and
/// an approval stays with a criterion whose text (and gate) is unchanged. Phases new in `wf` are
/// pending or ready as the graph says; phases `wf` no longer has are kept, with their history,
/// as `removed`. New variables get their defaults. Returns the lines that say what changed.
pub fn migrate(
    before: &State,
    wf: &Workflow,
    at: &str,
    actor: &str,
) -> Result<(State, Vec<String>), graph::ConditionError> {
    let mut st = before.clone();
    let mut lines = vec![format!(
        "workflow: {} {} -> {} {}",
        before.workflow, before.version, wf.name, wf.version
    )];
    let mut phases = Vec::with_capacity(wf.phases.len());
    let fresh = State::new(wf, &st.instance, &st.source, BTreeMap::new(), at, actor);
    for (def, new) in wf.phases.iter().zip(fresh.phases) {
        let Some(old) = before.phase(&def.id) else {
            lines.push(format!("{}: new phase", def.id));
            phases.push(new);
            continue;
        };
        let mut p = old.clone();
        p.name = new.name.clone();
        if p.status == PhaseStatus::Removed {
            p.status = PhaseStatus::Pending;
            p.reason = None;
            lines.push(format!("{}: back in the workflow", def.id));
        }
        p.criteria = new
            .criteria
            .into_iter()
            .map(|mut c| {
                c.approval = kept_approval(old, &c);
                c
            })
            .collect();
        let (was, now) = (criteria_texts(old), criteria_texts(&p));
        for added in now.difference(&was) {
            lines.push(format!("{}: new criterion \"{}\"", def.id, added.1));
        }
        for gone in was.difference(&now) {
            lines.push(format!("{}: criterion \"{}\" removed", def.id, gone.1));
        }
        phases.push(p);
    }
    for old in &before.phases {
        if wf.phase(&old.id).is_some() {
            continue;
        }
        let mut p = old.clone();
        if p.status != PhaseStatus::Removed {
            lines.push(format!("{}: {} -> removed", p.id, p.status));
            p.reason = Some(format!(
                "not in {} {} (was {})",
                wf.name, wf.version, old.status
            ));
            p.status = PhaseStatus::Removed;
        }
        phases.push(p);
    }
    st.phases = phases;
    st.workflow = wf.name.clone();
    st.version = wf.version.clone();
    for v in &wf.variables {
        if let (Some(d), false) = (&v.default, st.variables.contains_key(&v.name)) {
            st.variables.insert(v.name.clone(), d.clone());
            lines.push(format!("variable {}: (unset) -> {d} (its default)", v.name));
        }
    }
    for c in graph::refresh(&mut st, wf)? {
        lines.push(format!("{}: {} -> {}", c.phase, c.from, c.to));
    }
    let status = st.status;
    machine::derive_status(&mut st);
    st.record(TransitionRecord {
        at: at.to_owned(),
        by: actor.to_owned(),
        event: "upgrade".to_owned(),
        phase: None,
        from: before.version.clone(),
        to: wf.version.clone(),
        reason: None,
    });
    if status != st.status {
        lines.push(format!("instance: {status} -> {}", st.status));
    }
    Ok((st, lines))
}

fn criteria_texts(p: &PhaseState) -> BTreeSet<(&'static str, String)> {
    p.criteria
        .iter()
        .map(|c| (c.gate.as_str(), c.criteria.clone()))
        .collect()
}

/// The approval of `old`'s criterion with the same text and gate as `c`, if it had one.
fn kept_approval(old: &PhaseState, c: &CriterionState) -> Option<super::state::Approval> {
    old.criteria
        .iter()
        .find(|o| o.criteria == c.criteria && o.gate == c.gate && o.kind == c.kind)
        .and_then(|o| o.approval.clone())
}

/// One definition and state to render from.
struct Side<'a> {
    st: &'a State,
    wf: &'a Workflow,
    tree: &'a dyn FileTree,
}

impl Engine<'_> {
    /// Renders every artifact of `side`'s phases `phases` as planned files, by path (the first
    /// phase to claim a path keeps it), with `identity` giving the date and the user.
    fn renders(
        &self,
        side: &Side<'_>,
        phases: &BTreeSet<String>,
        identity: &Identity,
    ) -> Result<BTreeMap<String, (String, PlannedFile)>, EngineError> {
        let hooks = self.hooks_in_tree();
        let none = |_: &str| None;
        let mut out = BTreeMap::new();
        for id in phases {
            let Some(phase) = side.wf.phase(id) else {
                continue;
            };
            let ctx = render_context(side.st, side.wf, Some(phase), identity);
            let planned = artifacts::plan_guarded(
                side.tree,
                side.wf,
                phase,
                &ctx,
                self.repo.work_dir(),
                hooks.as_deref(),
                &none,
                false,
                self.repo.object_hash(),
            )?;
            for f in planned {
                out.entry(f.path.clone()).or_insert((id.clone(), f));
            }
        }
        Ok(out)
    }

    /// The render ddx recorded for `path` (blob `base`): from the object database, or, for a
    /// file rendered before ddx kept its renders there, the old definition rendered again as of
    /// the record's time, when that gives the very blob.
    fn base_of(
        &self,
        old: &Side<'_>,
        path: &str,
        record: &FileRecord,
        base: &str,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        if let Some(data) = merge::read_blob(self.repo, base) {
            return Ok(Some(data));
        }
        let Some(phase) = record.phase.clone() else {
            return Ok(None);
        };
        let mut identity = self.identity.clone();
        if let Some(s) = crate::observe::time::parse_timestamp(&record.at) {
            identity.seconds = s;
        }
        let again = self.renders(old, &BTreeSet::from([phase]), &identity)?;
        Ok(again
            .get(path)
            .filter(|(_, f)| f.after == base)
            .map(|(_, f)| f.content.clone()))
    }

    /// Every artifact file of `new` compared with what `old` rendered and the work tree holds:
    /// the files ddx recorded, and those of the phases in progress.
    fn merge_files(&self, old: &Side<'_>, new: &Side<'_>) -> Result<Vec<FileMerge>, EngineError> {
        let mut phases: BTreeSet<String> = new
            .st
            .phases
            .iter()
            .filter(|p| p.status == PhaseStatus::InProgress)
            .map(|p| p.id.clone())
            .collect();
        let recorded: Vec<(&String, &FileRecord, &str)> = old
            .st
            .files
            .iter()
            .filter_map(|(path, r)| {
                let artifact = r.by.strip_prefix("artifact ")?;
                Some((path, r, artifact))
            })
            .collect();
        phases.extend(recorded.iter().filter_map(|(_, r, _)| r.phase.clone()));
        let renders = self.renders(new, &phases, &self.identity)?;
        let mut out = Vec::new();
        for (path, r, artifact) in &recorded {
            if renders.contains_key(*path) {
                continue;
            }
            let current = artifacts::read_beneath(self.repo.work_dir(), path)?;
            out.push(FileMerge {
                phase: r.phase.clone().unwrap_or_default(),
                artifact: (*artifact).to_owned(),
                path: (*path).clone(),
                outcome: FileOutcome::KeptRemoved,
                base: r.after.clone(),
                ours: current
                    .as_deref()
                    .map(|c| artifacts::blob_id(self.repo.object_hash(), c)),
                theirs: r.after.clone().unwrap_or_default(),
                result: None,
                content: Vec::new(),
                sides: Sides::default(),
            });
        }
        let hash = self.repo.object_hash();
        for (path, (phase, f)) in renders {
            let record = old
                .st
                .files
                .get(&path)
                .filter(|r| r.by.starts_with("artifact "));
            // A phase that is not in progress renders only the files it already has.
            let in_progress = new
                .st
                .phase(&phase)
                .is_some_and(|p| p.status == PhaseStatus::InProgress);
            if record.is_none() && !in_progress {
                continue;
            }
            let theirs = f.content.clone();
            let theirs_id = f.after.clone();
            let ours = f.current.clone();
            let ours_id = f.before.clone();
            let base_id = record.and_then(|r| r.after.clone());
            let mut m = FileMerge {
                phase,
                artifact: f.artifact.clone(),
                path: path.clone(),
                outcome: FileOutcome::Unchanged,
                base: base_id.clone(),
                ours: ours_id.clone(),
                theirs: theirs_id.clone(),
                result: ours_id.clone(),
                content: Vec::new(),
                sides: Sides {
                    base: None,
                    ours: ours.clone(),
                    theirs: theirs.clone(),
                },
            };
            match (record, ours) {
                (None, None) => {
                    m.outcome = FileOutcome::New;
                    m.result = Some(theirs_id.clone());
                    m.content = theirs;
                }
                (None, Some(_)) if ours_id.as_deref() == Some(theirs_id.as_str()) => {}
                (None, Some(_)) => m.outcome = FileOutcome::KeptUnowned,
                (Some(_), None) => {
                    m.outcome = FileOutcome::KeptDeleted;
                    m.result = None;
                }
                (Some(r), Some(ours)) => {
                    let base_id = base_id.unwrap_or_default();
                    if ours_id.as_deref() == Some(theirs_id.as_str()) || base_id == theirs_id {
                        // Already the new render, or a render that did not change.
                    } else if ours_id.as_deref() == Some(base_id.as_str()) {
                        m.outcome = FileOutcome::Updated;
                        m.result = Some(theirs_id.clone());
                        m.content = theirs;
                    } else {
                        let base = self.base_of(old, &path, r, &base_id)?;
                        let merged = merge::merge_text(
                            base.as_deref().unwrap_or_default(),
                            &ours,
                            &theirs,
                            Labels {
                                base: "rendered before",
                                ours: "yours",
                                theirs: "rendered now",
                            },
                        );
                        m.outcome = if merged.conflict {
                            FileOutcome::Conflict
                        } else {
                            FileOutcome::Merged
                        };
                        m.result = Some(artifacts::blob_id(hash, &merged.content));
                        m.content = merged.content;
                        m.sides.base = base;
                    }
                }
            }
            out.push(m);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The change-tracker records of `files`: each file written, and each file found already
    /// as the new render whose record says otherwise.
    fn merge_records(&self, st: &State, files: &[FileMerge]) -> Vec<(String, FileRecord)> {
        let at = self.identity.time();
        files
            .iter()
            .filter(|f| {
                f.outcome.writes()
                    || (f.outcome == FileOutcome::Unchanged
                        && f.ours.as_deref() == Some(f.theirs.as_str())
                        && st.files.get(&f.path).and_then(|r| r.after.as_deref())
                            != Some(f.theirs.as_str()))
            })
            .map(|f| {
                let merged = matches!(f.outcome, FileOutcome::Merged | FileOutcome::Conflict)
                    .then(|| f.result.clone())
                    .flatten();
                (
                    f.path.clone(),
                    FileRecord {
                        before: f.ours.clone(),
                        after: Some(f.theirs.clone()),
                        merged,
                        by: format!("artifact {}", f.artifact),
                        phase: Some(f.phase.clone()),
                        at: at.clone(),
                    },
                )
            })
            .collect()
    }

    /// Writes the files of a merge: each render and side into the object database, each file
    /// into the work tree, each conflict into the index, and the conflicted paths into
    /// `.git/ddx/conflicts` for the pre-commit hook.
    fn write_merges(&self, files: &[FileMerge]) -> Result<(), EngineError> {
        let hooks = self.hooks_in_tree();
        let mut conflicts = Vec::new();
        for f in files.iter().filter(|f| f.outcome.writes()) {
            if let Some(ours) = &f.sides.ours {
                merge::save_blob(self.repo, ours)?;
            }
            let planned = PlannedFile {
                artifact: f.artifact.clone(),
                path: f.path.clone(),
                action: if f.ours.is_some() {
                    FileAction::Overwrite
                } else {
                    FileAction::Create
                },
                before: f.ours.clone(),
                after: f.result.clone().unwrap_or_default(),
                current: None,
                content: f.content.clone(),
            };
            artifacts::write_guarded(
                std::slice::from_ref(&planned),
                self.repo.work_dir(),
                hooks.as_deref(),
            )?;
            if f.outcome == FileOutcome::Merged {
                merge::save_blob(self.repo, &f.content)?;
            }
            if f.outcome == FileOutcome::Conflict {
                merge::stage_conflict(
                    self.repo,
                    &f.path,
                    f.sides.base.as_deref(),
                    f.sides.ours.as_deref(),
                    Some(&f.sides.theirs),
                )?;
                conflicts.push(f.path.clone());
            }
        }
        if !conflicts.is_empty() {
            add_conflicts(self.repo, &conflicts).map_err(|source| {
                artifacts::ArtifactError::Io {
                    path: self
                        .repo
                        .ddx_dir()
                        .join(CONFLICTS_FILE)
                        .display()
                        .to_string(),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// `ddx workflow set`: new values for `vars` of `instance`, its artifacts re-rendered and
    /// merged, as one event.
    pub fn set(
        &self,
        instance: &str,
        vars: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<ChangeReport, EngineError> {
        self.attach_log(instance, dry_run);
        let (tip, st0) = super::load(self.repo, instance)?;
        let wf = self.definition(instance, &tip)?;
        validate_set(&wf, vars)?;
        let tree = GitTree::open(
            self.repo,
            tip.workflow_tree,
            format!("{}:workflow", refs::instance_ref(instance)),
        );
        let mut notes = Vec::new();
        for name in vars.keys() {
            if !wf.variables.iter().any(|v| v.name == *name) {
                notes.push(format!(
                    "{name} is not a variable {} declares; templates that use it get the value",
                    wf.name
                ));
            }
        }
        let given: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut st = st0.clone();
        let mut lines =
            set_variables(&mut st, &wf, &given).map_err(super::TransitionError::from)?;
        let changed: Vec<(String, String)> = given
            .into_iter()
            .filter(|(k, v)| st0.variables.get(k) != Some(v))
            .collect();
        if changed.is_empty() {
            return self.nothing(
                instance,
                st0,
                format!("instance {instance} already has {}", shown_vars(vars)),
                notes,
            );
        }
        let old = Side {
            st: &st0,
            wf: &wf,
            tree: &tree,
        };
        let new = Side {
            st: &st,
            wf: &wf,
            tree: &tree,
        };
        let files = self.merge_files(&old, &new)?;
        let mut message = Message::new(format!(
            "ddx({instance}): set {}",
            changed
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        message.trailer("Ddx-Event", "set");
        for (k, v) in &changed {
            message.trailer(VAR_TRAILER, format!("{k}={v}"));
        }
        let args = BTreeMap::from([(
            "var".to_owned(),
            changed
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )]);
        let summary = message
            .subject
            .trim_start_matches(&format!("ddx({instance}): "))
            .to_owned();
        self.commit_change(
            instance,
            tip.commit,
            tip.workflow_tree,
            st,
            &mut lines,
            files,
            message,
            AuditRecord {
                operation: "set".to_owned(),
                summary,
                args,
            },
            notes,
            dry_run,
        )
    }

    /// `ddx workflow upgrade`: re-pins `instance` to `located` (its workflow as the catalog has
    /// it now, or the one named), migrates the state and merges every artifact, as one event.
    pub fn upgrade(
        &self,
        instance: &str,
        located: &Located,
        to: Option<&str>,
        dry_run: bool,
    ) -> Result<ChangeReport, EngineError> {
        self.attach_log(instance, dry_run);
        let (tip, st0) = super::load(self.repo, instance)?;
        let old_wf = self.definition(instance, &tip)?;
        let new_wf = located.load()?;
        if new_wf.name != st0.workflow {
            return Err(ChangeError::OtherWorkflow {
                instance: instance.to_owned(),
                runs: st0.workflow.clone(),
                found: new_wf.name.clone(),
                origin: located.source.to_string(),
            }
            .into());
        }
        if let Some(v) = to.filter(|v| *v != new_wf.version) {
            return Err(ChangeError::Version {
                workflow: new_wf.name.clone(),
                found: new_wf.version.clone(),
                origin: located.source.to_string(),
                wanted: v.to_owned(),
            }
            .into());
        }
        let (new_tree, _) = self.pin_definition(located, dry_run)?;
        if new_tree == tip.workflow_tree {
            return self.nothing(
                instance,
                st0,
                format!(
                    "instance {instance} already runs {} {} as {} has it",
                    new_wf.name, new_wf.version, located.source
                ),
                Vec::new(),
            );
        }
        let old_tree = GitTree::open(
            self.repo,
            tip.workflow_tree,
            format!("{}:workflow", refs::instance_ref(instance)),
        );
        let stamp = self.stamp();
        let (st, mut lines) = migrate(&st0, &new_wf, &stamp.at, &stamp.actor)
            .map_err(super::TransitionError::from)?;
        let mut notes = Vec::new();
        for v in &new_wf.variables {
            if v.required && v.default.is_none() && !st.variables.contains_key(&v.name) {
                notes.push(format!(
                    "{} {} needs the variable {}: `ddx workflow set {}=<value>` gives it",
                    new_wf.name, new_wf.version, v.name, v.name
                ));
            }
        }
        let old = Side {
            st: &st0,
            wf: &old_wf,
            tree: &old_tree,
        };
        let new = Side {
            st: &st,
            wf: &new_wf,
            tree: located.tree.as_ref(),
        };
        let files = self.merge_files(&old, &new)?;
        let mut message = Message::new(format!(
            "ddx({instance}): upgrade {} {} -> {}",
            new_wf.name, st0.version, new_wf.version
        ));
        message.trailer("Ddx-Event", "upgrade");
        message.trailer(
            "Ddx-Workflow",
            format!("{} {}", new_wf.name, new_wf.version),
        );
        message.trailer("Ddx-From-Version", &st0.version);
        message.trailer("Ddx-From-Tree", tip.workflow_tree.to_string());
        message.trailer("Ddx-To-Tree", new_tree.to_string());
        message.trailer("Ddx-Source", located.source.to_string());
        let args = BTreeMap::from([
            (
                "workflow".to_owned(),
                format!("{} {}", new_wf.name, new_wf.version),
            ),
            ("from_version".to_owned(), st0.version.clone()),
            ("from_tree".to_owned(), tip.workflow_tree.to_string()),
            ("to_tree".to_owned(), new_tree.to_string()),
            ("source".to_owned(), located.source.to_string()),
        ]);
        let summary = format!(
            "upgrade {} {} -> {}",
            new_wf.name, st0.version, new_wf.version
        );
        self.commit_change(
            instance,
            tip.commit,
            new_tree,
            st,
            &mut lines,
            files,
            message,
            AuditRecord {
                operation: "upgrade".to_owned(),
                summary,
                args,
            },
            notes,
            dry_run,
        )
    }

    fn nothing(
        &self,
        instance: &str,
        st: State,
        why: String,
        notes: Vec<String>,
    ) -> Result<ChangeReport, EngineError> {
        let report = Report {
            instance: instance.to_owned(),
            outcome: Outcome::Nothing(why),
            lines: Vec::new(),
            state: Some(Arc::new(st)),
        };
        super::log_report(&report);
        Ok(ChangeReport {
            report,
            files: Vec::new(),
            notes,
        })
    }

    /// Writes the files (not in a dry run) and records the event: `st` after the change, the
    /// files' records and trailers added.
    #[allow(clippy::too_many_arguments)]
    fn commit_change(
        &self,
        instance: &str,
        planned_from: ObjectId,
        workflow_tree: ObjectId,
        mut st: State,
        lines: &mut Vec<String>,
        files: Vec<FileMerge>,
        mut message: Message,
        mut audit: AuditRecord,
        notes: Vec<String>,
        dry_run: bool,
    ) -> Result<ChangeReport, EngineError> {
        let records = self.merge_records(&st, &files);
        let mut body = lines.clone();
        let mut args = BTreeMap::new();
        describe_files(&records, &mut message, &mut body, &mut args);
        for f in &files {
            if matches!(f.outcome, FileOutcome::Merged | FileOutcome::Conflict) {
                message.trailer(
                    MERGE_TRAILER,
                    format!(
                        "{} {}..{} {}",
                        f.outcome.label(),
                        f.base.as_deref().unwrap_or(NO_BLOB),
                        f.result.as_deref().unwrap_or(NO_BLOB),
                        f.path
                    ),
                );
            }
            if !matches!(f.outcome, FileOutcome::Unchanged) {
                body.push(format!("{}: {}", f.path, f.outcome.label()));
            }
        }
        audit.args.extend(args);
        for (path, r) in &records {
            st.files.insert(path.clone(), r.clone());
        }
        st.metrics.events += 1;
        message.body = body.join("\n");
        if !records.is_empty() {
            message.subject.push_str(&format!(
                " ({} file{})",
                records.len(),
                if records.len() == 1 { "" } else { "s" }
            ));
        }
        let renders: Vec<(String, Vec<u8>)> = files
            .iter()
            .filter(|f| records.iter().any(|(p, _)| *p == f.path))
            .map(|f| (f.path.clone(), f.sides.theirs.clone()))
            .collect();
        let sink = if dry_run {
            crate::store::event::Sink::HashOnly(self.repo)
        } else {
            crate::store::event::Sink::Write(self.repo)
        };
        let renders = crate::store::event::write_renders(sink, renders)?;
        if !dry_run {
            if refs::read(self.repo, &refs::instance_ref(instance))? != Some(planned_from) {
                return Err(ChangeError::Moved {
                    instance: instance.to_owned(),
                }
                .into());
            }
            self.write_merges(&files)?;
        }
        let yaml = st.to_yaml();
        let outcome = self.on_instance(instance, dry_run, |tip| {
            if tip.commit != planned_from {
                return Err(ChangeError::Moved {
                    instance: instance.to_owned(),
                }
                .into());
            }
            Ok(Decision::Change(Box::new(Plan {
                event: Some(NewEvent {
                    joins: Vec::new(),
                    renders,
                    state: yaml.clone(),
                    workflow_tree,
                    message: message.clone(),
                }),
                audit: audit.clone(),
                extra: Vec::new(),
                audit_joins: Vec::new(),
            })))
        })?;
        let st = Arc::new(st);
        if let Outcome::Committed(w) = &outcome {
            if let Some(blob) = w.state_blob {
                self.remember_state(instance, blob, &st);
            }
        }
        let report = Report {
            instance: instance.to_owned(),
            outcome,
            lines: std::mem::take(lines),
            state: Some(st),
        };
        super::log_report(&report);
        Ok(ChangeReport {
            report,
            files,
            notes,
        })
    }
}

fn shown_vars(vars: &BTreeMap<String, String>) -> String {
    vars.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The paths ddx left with conflict markers (`.git/ddx/conflicts`, one a line).
pub fn conflicted(repo: &crate::store::Repo) -> Vec<String> {
    std::fs::read_to_string(repo.ddx_dir().join(CONFLICTS_FILE))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Adds `paths` to `.git/ddx/conflicts`.
fn add_conflicts(repo: &crate::store::Repo, paths: &[String]) -> std::io::Result<()> {
    let mut all: BTreeSet<String> = conflicted(repo).into_iter().collect();
    all.extend(paths.iter().cloned());
    write_conflicts(repo, &all)
}

/// Replaces the list of conflicted paths (removing the file when there are none).
pub fn write_conflicts(repo: &crate::store::Repo, paths: &BTreeSet<String>) -> std::io::Result<()> {
    let file = repo.ddx_dir().join(CONFLICTS_FILE);
    if paths.is_empty() {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(repo.ddx_dir())?;
    let mut text = String::new();
    for p in paths {
        text.push_str(p);
        text.push('\n');
    }
    std::fs::write(file, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Approval;
    use crate::model::{load_workflow, StaticTree};

    fn wf(yaml: &'static str) -> Workflow {
        load_workflow(&StaticTree::new(
            "t",
            vec![("workflow.yml", yaml.as_bytes())],
        ))
        .unwrap()
    }

    const V1: &str = "name: t\nversion: 1.0.0\ndescription: t\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - Kept\n      - Changed\n  - id: gone\n    order: 2\n    name: Gone\n";
    const V2: &str = "name: t\nversion: 2.0.0\ndescription: t\nvariables:\n  - name: tool\n    default: make\nphases:\n  - id: a\n    order: 1\n    name: A again\n    exit_criteria:\n      - Kept\n      - Changed a little\n  - id: new\n    order: 2\n    name: New\n    depends_on: []\n";

    #[test]
    fn migrate_keeps_history_and_approvals_of_unchanged_criteria() {
        let (w1, w2) = (wf(V1), wf(V2));
        let mut st = State::new(&w1, "t-1", "local", BTreeMap::new(), "T0", "A <a@b>");
        graph::refresh(&mut st, &w1).unwrap();
        let a = st.phase_mut("a").unwrap();
        a.status = PhaseStatus::InProgress;
        a.started = Some("T1".into());
        for c in &mut a.criteria {
            c.approval = Some(Approval {
                by: "A <a@b>".into(),
                at: "T1".into(),
                comment: None,
            });
        }
        let (after, lines) = migrate(&st, &w2, "T2", "A <a@b>").unwrap();
        assert_eq!(after.version, "2.0.0");
        let a = after.phase("a").unwrap();
        assert_eq!(
            (a.status, a.name.as_str()),
            (PhaseStatus::InProgress, "A again")
        );
        assert_eq!(a.started.as_deref(), Some("T1"));
        assert!(
            a.criteria[0].approval.is_some(),
            "the unchanged criterion keeps it"
        );
        assert_eq!(a.criteria[1].criteria, "Changed a little");
        assert!(a.criteria[1].approval.is_none());
        assert_eq!(after.phase("new").unwrap().status, PhaseStatus::Ready);
        let gone = after.phase("gone").unwrap();
        assert_eq!(gone.status, PhaseStatus::Removed);
        assert_eq!(gone.reason.as_deref(), Some("not in t 2.0.0 (was pending)"));
        assert_eq!(
            after.variables.get("tool").map(String::as_str),
            Some("make")
        );
        assert_eq!(after.progress(), 0);
        assert!(
            lines.contains(&"gone: pending -> removed".to_owned()),
            "{lines:?}"
        );
        assert!(lines.contains(&"new: new phase".to_owned()), "{lines:?}");
        // Moving back brings the removed phase back, waiting.
        let (back, _) = migrate(&after, &w1, "T3", "A <a@b>").unwrap();
        assert_eq!(back.phase("gone").unwrap().status, PhaseStatus::Pending);
        assert_eq!(back.phase("new").unwrap().status, PhaseStatus::Removed);
    }

    #[test]
    fn set_refuses_what_a_trailer_could_not_carry_and_empty_required_values() {
        let w = wf("name: t\nversion: 1.0.0\ndescription: t\nvariables:\n  - name: project_name\n    required: true\nphases:\n  - id: a\n    order: 1\n    name: A\n");
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert!(validate_set(&w, &one("project_name", "shop")).is_ok());
        assert!(validate_set(&w, &one("test_command", "make test")).is_ok());
        for (k, v, why) in [
            ("project_name", "", "`project_name` cannot be set: it is required by the workflow, so it cannot be empty"),
            ("x", "two\nlines", "`x` cannot be set: a value is one line of text, with no space at either end"),
            ("x", " padded", "`x` cannot be set: a value is one line of text, with no space at either end"),
            ("a b", "1", "`a b` cannot be set: a variable name is letters, digits, `_`, `-` and `.` only"),
        ] {
            assert_eq!(validate_set(&w, &one(k, v)).unwrap_err().to_string(), why);
        }
        assert!(matches!(
            validate_set(&w, &BTreeMap::new()),
            Err(ChangeError::NoVariables)
        ));
    }
}
