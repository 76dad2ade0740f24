//! The loader: reads a workflow from any [`FileTree`] and resolves it into a [`Workflow`].
//!
//! Every problem becomes a [`Diagnostic`] naming the file, line and column where known; the
//! loader never stops at the first one, so `ddx workflow validate` reports them all.

use super::diag::did_you_mean;
use super::raw::{self, KnownFields, OneOrMany, RawCriterion, RawMetaVariables};
use super::template;
use super::tree::FileTree;
use super::{
    Action, ActionKind, Artifact, Check, CreationOrder, Criterion, CriterionOrigin, Diagnostic,
    Expected, GateSource, OutputLocation, Phase, Transition, Variable, Workflow,
    DEFAULT_COMMAND_TIMEOUT,
};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The ids HELIX `unique_ids` rules look for when they name no pattern (`FEAT-001`, `US-042`).
pub const DEFAULT_ID_PATTERN: &str = r"\b[A-Z][A-Z0-9]*-\d+\b";

/// The outcome of validating a workflow: what could be resolved, and every problem found.
#[derive(Debug)]
pub struct Validation {
    pub workflow: Option<Workflow>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn is_valid(&self) -> bool {
        self.workflow.is_some() && self.errors().next().is_none()
    }
}

/// A workflow definition that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("workflow {name} is invalid ({count} error{plural})", count = diagnostics.len(), plural = if diagnostics.len() == 1 { "" } else { "s" })]
pub struct DefinitionError {
    pub name: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads a workflow, failing when it has any error.
pub fn load_workflow(tree: &dyn FileTree) -> Result<Workflow, DefinitionError> {
    let v = validate(tree);
    match v.workflow {
        Some(w) if v.diagnostics.iter().all(|d| !d.is_error()) => Ok(w),
        w => Err(DefinitionError {
            name: w.map_or_else(|| tree.display(""), |w| w.name),
            diagnostics: v.diagnostics.into_iter().filter(|d| d.is_error()).collect(),
        }),
    }
}

/// Reads and resolves a workflow, collecting every problem.
pub fn validate(tree: &dyn FileTree) -> Validation {
    let mut cx = Loader {
        tree,
        diags: Vec::new(),
    };
    let workflow = cx.load();
    // Report in reading order: file by file, line by line.
    cx.diags
        .sort_by(|a, b| (&a.file, a.line.unwrap_or(0)).cmp(&(&b.file, b.line.unwrap_or(0))));
    Validation {
        workflow,
        diagnostics: cx.diags,
    }
}

struct Loader<'a> {
    tree: &'a dyn FileTree,
    diags: Vec<Diagnostic>,
}

/// Files of one phase folder, by role.
#[derive(Default)]
struct PhaseFolder {
    name: String,
    files: Vec<String>,
}

impl Loader<'_> {
    /// A name that breaks [`name_problem`]'s rules, reported where it stands in workflow.yml.
    fn name_error(&mut self, text: &str, key: &str, value: &str, what: &str, why: &str) {
        let first = value.lines().next().unwrap_or_default();
        let (line, column) = value_position(text, key, first);
        let d = self.error("workflow.yml", format!("{what} {:?} {why}", value));
        d.line = line;
        d.column = column;
    }

    fn error(&mut self, path: &str, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::error(self.tree.display(path), message);
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let d = Diagnostic::warning(self.tree.display(path), message);
        self.diags.push(d);
    }

    /// Reads a file as UTF-8 text; problems become diagnostics.
    fn read_text(&mut self, path: &str) -> Option<String> {
        let bytes = match self.tree.read(path) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                self.error(path, e.to_string());
                return None;
            }
        };
        match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
                let column = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
                self.error(
                    path,
                    format!(
                        "the file is not valid UTF-8 (invalid byte 0x{:02x})",
                        e.as_bytes()[e.utf8_error().valid_up_to()]
                    ),
                )
                .line = Some(line);
                self.diags.last_mut().expect("just pushed").column = Some(column);
                self.diags.last_mut().expect("just pushed").hint =
                    Some("save the file as UTF-8".into());
                None
            }
        }
    }

    /// Reads and parses a YAML file into `T`.
    fn parse<T: DeserializeOwned>(&mut self, path: &str, expected: &str) -> Option<(T, String)> {
        let text = self.read_text(path)?;
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            self.error(path, format!("the file is empty; expected {expected}"));
            return None;
        }
        match serde_yaml::from_str::<T>(&text) {
            Ok(v) => Some((v, text)),
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
                let message = friendly_serde_message(&strip_location(&e.to_string()));
                self.error(path, message).line = line;
                self.diags.last_mut().expect("just pushed").column = column;
                None
            }
        }
    }

    /// Flags keys that look like misspellings of a known field of `T`.
    fn check_keys<T: KnownFields>(
        &mut self,
        path: &str,
        text: &str,
        extra: &raw::Extra,
        what: &str,
    ) {
        for key in extra.keys() {
            if let Some(near) = did_you_mean(key, T::FIELDS.iter().copied()) {
                let (line, column) = key_position(text, key);
                let d = Diagnostic::error(
                    self.tree.display(path),
                    format!("unknown key `{key}` in {what}"),
                )
                .at(line, column)
                .with_hint(format!("did you mean `{near}`?"));
                self.diags.push(d);
            }
        }
    }

    fn load(&mut self) -> Option<Workflow> {
        let files = match self.tree.files() {
            Ok(f) => f,
            Err(e) => {
                self.error("", e.to_string());
                return None;
            }
        };
        if !files.iter().any(|f| f == "workflow.yml") {
            let d = Diagnostic::error(self.tree.display("workflow.yml"), "no workflow.yml found")
                .with_hint("a workflow is a folder with a workflow.yml at its top");
            self.diags.push(d);
            return None;
        }
        let parsed = self.parse::<raw::RawWorkflow>(
            "workflow.yml",
            "a workflow definition with `name:` and `phases:`",
        );

        // Phase folders, known even when workflow.yml is broken so their files are still checked.
        let mut folders: BTreeMap<String, PhaseFolder> = BTreeMap::new();
        for f in &files {
            if let Some(rest) = f.strip_prefix("phases/") {
                if let Some((folder, _)) = rest.split_once('/') {
                    let entry = folders
                        .entry(folder_phase_id(folder).to_owned())
                        .or_default();
                    entry.name = folder.to_owned();
                    entry.files.push(f.clone());
                }
            }
        }

        let Some((rw, text)) = parsed else {
            // Still report problems in the other files.
            for folder in folders.values() {
                let mut dummy = empty_phase(folder_phase_id(&folder.name), 0);
                self.load_phase_folder(folder, &mut dummy, &[]);
            }
            return None;
        };
        self.check_keys::<raw::RawWorkflow>("workflow.yml", &text, &rw.extra, "workflow.yml");
        if let Some(why) = name_problem(&rw.name) {
            self.name_error(&text, "name", &rw.name, "the workflow name", why);
        }

        let mut variables = Vec::new();
        let mut seen_vars = BTreeSet::new();
        for v in &rw.variables {
            self.check_keys::<raw::RawVariable>(
                "workflow.yml",
                &text,
                &v.extra,
                &format!("variable `{}`", v.name),
            );
            if !seen_vars.insert(v.name.clone()) {
                let (line, column) = value_position(&text, "name", &v.name);
                self.error(
                    "workflow.yml",
                    format!("variable `{}` is declared twice", v.name),
                )
                .line = line;
                self.diags.last_mut().expect("just pushed").column = column;
            }
            variables.push(Variable {
                name: v.name.clone(),
                description: v.description.clone(),
                prompt: v.prompt.clone(),
                required: v.required.unwrap_or(false),
                default: v.default.as_ref().map(|s| s.0.clone()),
                extra: v.extra.clone(),
            });
        }
        let declared: Vec<String> = variables.iter().map(|v| v.name.clone()).collect();

        // Phases in order; `order` defaults to the position in the file.
        let mut phases: Vec<Phase> = Vec::new();
        let mut seen_ids: HashMap<String, usize> = HashMap::new();
        for (i, rp) in rw.phases.iter().enumerate() {
            self.check_keys::<raw::RawPhase>(
                "workflow.yml",
                &text,
                &rp.extra,
                &format!("phase `{}`", rp.id),
            );
            if let Some(prev) = seen_ids.insert(rp.id.clone(), i) {
                let (line, column) = nth_value_position(&text, "id", &rp.id, 1);
                let d = Diagnostic::error(
                    self.tree.display("workflow.yml"),
                    format!(
                        "phase id `{}` is used twice (phases {} and {})",
                        rp.id,
                        prev + 1,
                        i + 1
                    ),
                )
                .at(line, column)
                .with_hint("every phase needs its own id");
                self.diags.push(d);
                continue;
            }
            if !is_id(&rp.id) {
                let first = rp.id.lines().next().unwrap_or_default();
                let (line, column) = value_position(&text, "id", first);
                let d = Diagnostic::error(
                    self.tree.display("workflow.yml"),
                    format!(
                        "phase id {:?} may contain only lowercase letters, digits, `-` and `_`",
                        rp.id
                    ),
                )
                .at(line, column)
                .with_hint(
                    "a phase id stands in folder names (`NN-<id>`), refs and commit trailers",
                );
                self.diags.push(d);
            }
            let mut phase = empty_phase(&rp.id, rp.order.unwrap_or(i as u32 + 1));
            phase.name = rp.name.clone().unwrap_or_else(|| rp.id.clone());
            phase.description = rp.description.clone();
            phase.required_role = rp.required_role.clone();
            phase.estimated_duration = rp.estimated_duration.as_ref().map(|s| s.0.clone());
            phase.when = rp.when.clone();
            phase.protected_paths = rp.protected_paths.clone();
            phase.allowed_paths = rp.allowed_paths.clone();
            if !rp.extra.is_empty() {
                phase.extra.insert("workflow.yml".into(), rp.extra.clone());
            }
            for c in &rp.input_gates {
                let crit = self.criterion(c, "workflow.yml", &text, CriterionOrigin::Workflow);
                phase.input_gates.push(crit);
            }
            for c in &rp.exit_criteria {
                let crit = self.criterion(c, "workflow.yml", &text, CriterionOrigin::Workflow);
                phase.exit_criteria.push(crit);
            }
            if let Some(when) = &rp.when {
                if let Err(e) = template::compile_condition(when) {
                    let (line, column) = value_position(&text, "when", when);
                    let d = Diagnostic::error(
                        self.tree.display("workflow.yml"),
                        format!("`when` of phase `{}` does not parse: {}", rp.id, e.message),
                    )
                    .at(line, column)
                    .with_hint("write a minijinja expression over the variables, such as `language == 'rust'`");
                    self.diags.push(d);
                }
            }
            phases.push(phase);
        }
        phases.sort_by_key(|p| p.order);

        // Dependencies: explicit, or the previous phase by order.
        let explicit: HashMap<&str, &Option<Vec<String>>> = rw
            .phases
            .iter()
            .map(|p| (p.id.as_str(), &p.depends_on))
            .collect();
        let ids: Vec<String> = phases.iter().map(|p| p.id.clone()).collect();
        for (i, phase) in phases.iter_mut().enumerate() {
            let deps = match explicit.get(phase.id.as_str()).copied() {
                Some(Some(deps)) => deps.clone(),
                _ => i
                    .checked_sub(1)
                    .map(|j| vec![ids[j].clone()])
                    .unwrap_or_default(),
            };
            for d in &deps {
                if !ids.contains(d) {
                    let (line, column) = key_position(&text, "depends_on");
                    let mut diag = Diagnostic::error(
                        self.tree.display("workflow.yml"),
                        format!(
                            "phase `{}` depends on `{d}`, which is not a phase of this workflow",
                            phase.id
                        ),
                    )
                    .at(line, column);
                    diag = match did_you_mean(d, ids.iter().map(String::as_str)) {
                        Some(near) => diag.with_hint(format!("did you mean `{near}`?")),
                        None => diag.with_hint(format!("phases are: {}", ids.join(", "))),
                    };
                    self.diags.push(diag);
                }
            }
            phase.depends_on = deps;
        }
        if let Some(cycle) = find_cycle(&phases) {
            let (line, column) = key_position(&text, "depends_on");
            let d = Diagnostic::error(
                self.tree.display("workflow.yml"),
                format!(
                    "the phases depend on each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            )
            .at(line, column)
            .with_hint("remove one of these dependencies");
            self.diags.push(d);
        }

        // Phase folders, read in parallel: they are most of the files.
        let matched: Vec<(usize, &PhaseFolder)> = folders
            .iter()
            .filter_map(|(id, f)| phases.iter().position(|p| &p.id == id).map(|i| (i, f)))
            .collect();
        let tree = self.tree;
        let load = |&(i, folder): &(usize, &PhaseFolder)| {
            let mut sub = Loader {
                tree,
                diags: Vec::new(),
            };
            let mut phase = phases[i].clone();
            sub.load_phase_folder(folder, &mut phase, &declared);
            (i, phase, sub.diags)
        };
        // Starting rayon's threads costs more than reading one folder (a hook loads workflows
        // without phase folders on every commit).
        let loaded: Vec<(usize, Phase, Vec<Diagnostic>)> = if matched.len() > 1 {
            matched.par_iter().map(load).collect()
        } else {
            matched.iter().map(load).collect()
        };
        for (i, phase, diags) in loaded {
            phases[i] = phase;
            self.diags.extend(diags);
        }
        for (id, folder) in &folders {
            match phases.iter().position(|p| &p.id == id) {
                Some(_) => {}
                None => {
                    let path = format!("phases/{}", folder.name);
                    let hint = match did_you_mean(id, ids.iter().map(String::as_str)) {
                        Some(near) => format!("did you mean `{near}`? rename the folder or add the phase to workflow.yml"),
                        None => "add the phase to workflow.yml or remove the folder".to_owned(),
                    };
                    let d = Diagnostic::error(
                        self.tree.display(&path),
                        format!(
                            "folder `{}` belongs to no phase: workflow.yml has no phase `{id}`",
                            folder.name
                        ),
                    )
                    .with_hint(hint);
                    self.diags.push(d);
                }
            }
        }

        // Gate sources name phase folders or phase ids.
        let folder_names: HashMap<String, String> = phases
            .iter()
            .filter_map(|p| p.folder.clone().map(|f| (f, p.id.clone())))
            .collect();
        let mut unknown_sources = Vec::new();
        for p in &mut phases {
            for c in p.input_gates.iter_mut().chain(p.exit_criteria.iter_mut()) {
                if let Some(GateSource::Phase(s)) = &c.source {
                    if let Some(id) = folder_names.get(s) {
                        c.source = Some(GateSource::Phase(id.clone()));
                    } else if !ids.contains(s) {
                        unknown_sources.push((p.folder.clone(), p.id.clone(), s.clone()));
                    }
                }
            }
        }
        for (folder, phase, source) in unknown_sources {
            let path = folder.map_or_else(|| "workflow.yml".to_owned(), |f| format!("phases/{f}"));
            self.error(
                &path,
                format!("a gate of phase `{phase}` names source `{source}`, which is no phase"),
            )
            .hint = Some("use a phase folder such as `01-frame`, a phase id, or `external`".into());
        }

        // Checks that name phases or variables.
        for p in &phases {
            for c in p.input_gates.iter().chain(p.exit_criteria.iter()) {
                match &c.check {
                    Some(Check::PhaseCompleted { phase }) if !ids.contains(phase) => {
                        let d = Diagnostic::error(
                            self.tree.display("workflow.yml"),
                            format!("criterion `{}` of phase `{}` checks phase `{phase}`, which is not a phase of this workflow", c.criteria, p.id),
                        );
                        self.diags.push(d);
                    }
                    Some(Check::VariableSet { name }) if !declared.contains(name) => {
                        self.warn(
                            "workflow.yml",
                            format!("criterion `{}` of phase `{}` checks variable `{name}`, which the workflow does not declare", c.criteria, p.id),
                        );
                    }
                    _ => {}
                }
            }
            let mut seen = BTreeSet::new();
            for c in &p.exit_criteria {
                if !seen.insert(c.criteria.as_str()) {
                    let path = p
                        .folder
                        .as_ref()
                        .map_or_else(|| "workflow.yml".to_owned(), |f| format!("phases/{f}"));
                    self.warn(
                        &path,
                        format!(
                            "phase `{}` lists exit criterion `{}` twice; one approval covers both",
                            p.id, c.criteria
                        ),
                    );
                }
            }
        }

        // Duplicate artifact ids across the workflow.
        let mut artifact_at: HashMap<String, String> = HashMap::new();
        for p in &phases {
            for a in &p.artifacts {
                if let Some(other) = artifact_at.insert(a.id.clone(), a.folder.clone()) {
                    self.error(
                        &a.folder,
                        format!(
                            "artifact id `{}` is also used by {}",
                            a.id,
                            self.tree.display(&other)
                        ),
                    )
                    .hint =
                        Some("give each artifact its own id (folder name or meta.yml `id`)".into());
                }
            }
        }

        // Workflow-level actions and other documents.
        let mut actions = Vec::new();
        let mut documents = Vec::new();
        for f in &files {
            if let Some(a) = action_file(f, "actions/") {
                if let Some(action) = self.action(f, &a, None, &declared) {
                    actions.push(action);
                }
            } else if !f.starts_with("phases/") && f.ends_with(".md") && !f.starts_with("actions/")
            {
                documents.push(f.clone());
            }
        }

        // metadata.yml and state-rules.yml are optional.
        let mut meta = raw::RawMetadata::default();
        if files.iter().any(|f| f == "metadata.yml") {
            if let Some((m, mtext)) =
                self.parse::<raw::RawMetadata>("metadata.yml", "catalog metadata")
            {
                self.check_keys::<raw::RawMetadata>(
                    "metadata.yml",
                    &mtext,
                    &m.extra,
                    "metadata.yml",
                );
                for s in &m.phases {
                    if !ids.contains(&s.id) {
                        self.warn(
                            "metadata.yml",
                            format!(
                                "phase summary names `{}`, which is not a phase of this workflow",
                                s.id
                            ),
                        );
                    }
                }
                meta = m;
            }
        }
        let state_rules = if files.iter().any(|f| f == "state-rules.yml") {
            self.parse::<serde_yaml::Value>("state-rules.yml", "state detection rules")
                .map(|(v, _)| v)
        } else {
            None
        };

        let mut tags = rw.tags.clone();
        for t in &meta.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        Some(Workflow {
            name: rw.name.clone(),
            version: rw
                .version
                .as_ref()
                .map_or_else(|| "0.0.0".to_owned(), |v| v.0.clone()),
            description: rw
                .description
                .clone()
                .or_else(|| meta.description.clone())
                .unwrap_or_default(),
            author: rw.author.clone(),
            created: rw.created.as_ref().map(|c| c.0.clone()),
            category: meta
                .category
                .clone()
                .or_else(|| rw.category.clone())
                .unwrap_or_else(|| "general".to_owned()),
            tags,
            keywords: meta.keywords.clone(),
            languages: meta
                .compatibility
                .as_ref()
                .map(|c| c.languages.clone())
                .unwrap_or_default(),
            prerequisites: meta.prerequisites.clone(),
            variables,
            phases,
            actions,
            documents,
            statistics: meta.statistics.clone(),
            rating: meta.rating.clone(),
            state_rules,
            extra: rw.extra.clone(),
        })
    }

    fn load_phase_folder(&mut self, folder: &PhaseFolder, phase: &mut Phase, declared: &[String]) {
        let base = format!("phases/{}", folder.name);
        phase.folder = Some(folder.name.clone());
        let has = |name: &str| folder.files.iter().any(|f| f == &format!("{base}/{name}"));
        if has("README.md") {
            phase.readme = Some(format!("{base}/README.md"));
        }
        if has("enforcer.md") {
            phase.enforcer = Some(format!("{base}/enforcer.md"));
        }
        let input = format!("{base}/input-gates.yml");
        if has("input-gates.yml") {
            if let Some((f, text)) =
                self.parse::<raw::RawInputGatesFile>(&input, "`input_gates:`, a list of criteria")
            {
                self.check_keys::<raw::RawInputGatesFile>(
                    &input,
                    &text,
                    &f.extra,
                    "input-gates.yml",
                );
                for c in &f.input_gates {
                    let crit = self.criterion(c, &input, &text, CriterionOrigin::GateFile);
                    phase.input_gates.push(crit);
                }
                if !f.extra.is_empty() {
                    phase.extra.insert(input.clone(), f.extra);
                }
            }
        }
        let exit = format!("{base}/exit-gates.yml");
        if has("exit-gates.yml") {
            if let Some((f, text)) =
                self.parse::<raw::RawExitGatesFile>(&exit, "`exit_gates:`, a list of criteria")
            {
                self.check_keys::<raw::RawExitGatesFile>(&exit, &text, &f.extra, "exit-gates.yml");
                for c in &f.exit_gates {
                    let crit = self.criterion(c, &exit, &text, CriterionOrigin::GateFile);
                    phase.exit_criteria.push(crit);
                }
                for r in &f.validation_rules {
                    self.check_keys::<raw::RawValidationRule>(
                        &exit,
                        &text,
                        &r.extra,
                        &format!("validation rule `{}`", r.rule),
                    );
                    let crit = self.validation_rule(r, &exit, &text);
                    phase.exit_criteria.push(crit);
                }
                if let Some(t) = &f.transition {
                    phase.transition = Some(Transition {
                        to_phase: t.to_phase.clone(),
                        approval_required: t.approval_required.unwrap_or(false),
                        approvers: t.approvers.clone(),
                        pre_transition_tasks: t.pre_transition_tasks.clone(),
                        rollback_conditions: t.rollback_conditions.clone(),
                        extra: t.extra.clone(),
                    });
                }
                if !f.extra.is_empty() {
                    phase.extra.insert(exit.clone(), f.extra);
                }
            }
        }

        // Artifacts: phases/NN-id/artifacts/<artifact>/...
        let art_prefix = format!("{base}/artifacts/");
        let mut artifacts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in &folder.files {
            if let Some(rest) = f.strip_prefix(&art_prefix) {
                if let Some((id, _)) = rest.split_once('/') {
                    artifacts.entry(id.to_owned()).or_default().push(f.clone());
                }
            }
        }
        for (id, files) in &artifacts {
            let a = self.artifact(&format!("{art_prefix}{id}"), id, files, declared);
            phase.artifacts.push(a);
        }
        phase.artifacts.sort_by(|a, b| {
            let key = |a: &Artifact| match a.creation_order {
                Some(CreationOrder::Position(p)) => (0, p),
                None => (1, 0.0),
                Some(CreationOrder::Last) => (2, 0.0),
            };
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });

        // Phase actions: actions/<name>.md or actions/<name>/prompt.md.
        let act_prefix = format!("{base}/actions/");
        for f in &folder.files {
            if let Some(a) = action_file(f, &act_prefix) {
                if let Some(action) = self.action(f, &a, Some(phase.id.clone()), declared) {
                    phase.actions.push(action);
                }
            }
        }
    }

    fn artifact(
        &mut self,
        folder: &str,
        id: &str,
        files: &[String],
        declared: &[String],
    ) -> Artifact {
        if let Some(why) = name_problem(id) {
            let d = Diagnostic::error(
                self.tree.display(folder),
                format!("the artifact folder name {id:?} {why}"),
            )
            .with_hint(ARTIFACT_ID_HINT);
            self.diags.push(d);
        }
        let file = |name: &str| {
            let p = format!("{folder}/{name}");
            files.contains(&p).then_some(p)
        };
        let mut a = Artifact {
            id: id.to_owned(),
            name: id.to_owned(),
            description: None,
            folder: folder.to_owned(),
            template: file("template.md"),
            prompt: file("prompt.md"),
            example: file("example.md"),
            extra_templates: files
                .iter()
                .filter(|f| f.ends_with(".template"))
                .cloned()
                .collect(),
            output: None,
            creation_order: None,
            informs: Vec::new(),
            required_variables: Vec::new(),
            meta: None,
        };
        if let Some(meta_path) = file("meta.yml") {
            if let Some((m, text)) =
                self.parse::<raw::RawArtifactMeta>(&meta_path, "artifact metadata")
            {
                let header = m.artifact.as_ref();
                if let Some(mid) = header.and_then(|h| h.id.clone()).or_else(|| m.id.clone()) {
                    if let Some(why) = name_problem(&mid) {
                        let first = mid.lines().next().unwrap_or_default();
                        let (line, column) = value_position(&text, "id", first);
                        let d = Diagnostic::error(
                            self.tree.display(&meta_path),
                            format!("the artifact id {mid:?} {why}"),
                        )
                        .at(line, column)
                        .with_hint(ARTIFACT_ID_HINT);
                        self.diags.push(d);
                    }
                    a.id = mid;
                }
                if let Some(name) = header
                    .and_then(|h| h.name.clone())
                    .or_else(|| m.name.clone())
                {
                    a.name = name;
                }
                a.description = m.description.as_ref().map(|d| d.trim().to_owned());
                if let Some(loc) = m.output.as_ref().and_then(|o| o.location.clone()) {
                    match output_location(&loc) {
                        Ok(o) => a.output = Some(o),
                        Err(why) => {
                            let (line, column) = value_position(&text, "location", &loc);
                            let d = Diagnostic::error(
                                self.tree.display(&meta_path),
                                format!("output location `{loc}` {why}"),
                            )
                            .at(line, column)
                            .with_hint("artifact paths are relative to the repository root and stay inside it");
                            self.diags.push(d);
                        }
                    }
                }
                let order = m
                    .creation_order
                    .clone()
                    .or_else(|| m.workflow.as_ref().and_then(|w| w.creation_order.clone()));
                if let Some(order) = order {
                    match creation_order(&order) {
                        Some(o) => a.creation_order = Some(o),
                        None => {
                            let (line, column) = key_position(&text, "creation_order");
                            let d = Diagnostic::error(
                                self.tree.display(&meta_path),
                                "`creation_order` must be a number or `last`",
                            )
                            .at(line, column);
                            self.diags.push(d);
                        }
                    }
                }
                a.informs = m.informs.clone();
                if let Some(r) = &m.relationships {
                    a.informs.extend(r.informs.iter().cloned());
                }
                a.required_variables = match &m.variables {
                    Some(RawMetaVariables::Split { required, .. }) => required.clone(),
                    Some(RawMetaVariables::List(list)) => list
                        .iter()
                        .filter(|v| v.required.unwrap_or(false))
                        .map(|v| v.name.clone())
                        .collect(),
                    None => Vec::new(),
                };
                // The raw type round-trips every key, so serializing it is the whole file.
                a.meta = serde_yaml::to_value(&m).ok();
            }
        }
        for t in a
            .template
            .iter()
            .chain(a.extra_templates.iter())
            .cloned()
            .collect::<Vec<_>>()
        {
            self.check_template(&t, declared);
        }
        a
    }

    fn check_template(&mut self, path: &str, declared: &[String]) {
        let Some(text) = self.read_text(path) else {
            return;
        };
        if let Err(e) = template::check_syntax(&text, declared) {
            let d = Diagnostic::error(
                self.tree.display(path),
                format!("template does not parse: {}", e.message),
            )
            .at(e.line, None)
            .with_hint("`{% %}` statements are minijinja; close every block and tag");
            self.diags.push(d);
        }
    }

    fn action(
        &mut self,
        path: &str,
        id: &str,
        phase: Option<String>,
        declared: &[String],
    ) -> Option<Action> {
        if let Some(why) = name_problem(id) {
            // The id stands in trailers (`Ddx-Action:`) and agents' file names.
            let d = Diagnostic::error(
                self.tree.display(path),
                format!("the action name {id:?} {why}"),
            )
            .with_hint("an action is named by its file (`actions/<name>.md`) or folder (`actions/<name>/prompt.md`)");
            self.diags.push(d);
            return None;
        }
        let text = self.read_text(path)?;
        let (front, body, front_text) = match split_front_matter(&text) {
            Some((fm, body)) => match serde_yaml::from_str::<raw::RawActionFront>(fm) {
                Ok(f) => (f, body, fm),
                Err(e) => {
                    // Front matter starts on line 2.
                    let line = e.location().map(|l| l.line() + 1);
                    let column = e.location().map(|l| l.column());
                    let d = Diagnostic::error(
                        self.tree.display(path),
                        format!(
                            "front matter does not parse: {}",
                            strip_location(&e.to_string())
                        ),
                    )
                    .at(line, column);
                    self.diags.push(d);
                    return None;
                }
            },
            None => (raw::RawActionFront::default(), text.as_str(), ""),
        };
        self.check_keys::<raw::RawActionFront>(path, front_text, &front.extra, "the front matter");
        if let Err(e) = template::check_syntax(body, declared) {
            let d = Diagnostic::error(
                self.tree.display(path),
                format!("action does not parse as a template: {}", e.message),
            )
            .at(
                e.line
                    .map(|l| l + text.lines().count() - body.lines().count()),
                None,
            );
            self.diags.push(d);
        }
        let title = body
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(|t| t.trim().to_owned())
            .or_else(|| front.name.clone())
            .unwrap_or_else(|| id.to_owned());
        let kind = match &front.command {
            Some(c) => ActionKind::Command {
                command: c.clone(),
                timeout: front.timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            },
            None => ActionKind::Prompt,
        };
        Some(Action {
            id: id.to_owned(),
            title,
            description: front.description.clone(),
            path: path.to_owned(),
            phase,
            kind,
            in_phase_only: front.in_phase_only.unwrap_or(false),
            extra: front.extra,
        })
    }

    fn criterion(
        &mut self,
        c: &RawCriterion,
        path: &str,
        text: &str,
        origin: CriterionOrigin,
    ) -> Criterion {
        match c {
            RawCriterion::Text(t) => Criterion {
                criteria: t.clone(),
                required: true,
                check: None,
                source: None,
                validation: Vec::new(),
                evidence: None,
                on_commit: false,
                separate_from: Vec::new(),
                origin,
                extra: Default::default(),
            },
            RawCriterion::Gate(g) => {
                self.check_keys::<raw::RawGate>(
                    path,
                    text,
                    &g.extra,
                    &format!("criterion `{}`", g.criteria),
                );
                let check = g.check.as_ref().and_then(|rc| {
                    self.check_keys::<raw::RawCheck>(
                        path,
                        text,
                        &rc.extra,
                        &format!("the check of `{}`", g.criteria),
                    );
                    self.check(rc, &g.criteria, path, text)
                });
                if let Some(on) = &g.on {
                    if on != "commit" {
                        let (line, column) = value_position(text, "on", on);
                        let d = Diagnostic::error(
                            self.tree.display(path),
                            format!(
                                "criterion `{}` has `on: {on}`; the only trigger is `commit`",
                                g.criteria
                            ),
                        )
                        .at(line, column);
                        self.diags.push(d);
                    }
                }
                Criterion {
                    criteria: g.criteria.clone(),
                    required: g.required.unwrap_or(true),
                    check,
                    source: g.source.as_ref().map(|s| {
                        if s == "external" {
                            GateSource::External
                        } else {
                            GateSource::Phase(s.clone())
                        }
                    }),
                    validation: g
                        .validation
                        .clone()
                        .map(OneOrMany::into_vec)
                        .unwrap_or_default(),
                    evidence: g.evidence.clone(),
                    on_commit: g.on.as_deref() == Some("commit"),
                    separate_from: g
                        .separate_from
                        .clone()
                        .map(OneOrMany::into_vec)
                        .unwrap_or_default(),
                    origin,
                    extra: g.extra.clone(),
                }
            }
        }
    }

    /// Resolves a check object into a typed [`Check`].
    fn check(
        &mut self,
        rc: &raw::RawCheck,
        criterion: &str,
        path: &str,
        text: &str,
    ) -> Option<Check> {
        let kinds: Vec<&str> = [
            ("file_exists", rc.file_exists.is_some()),
            ("glob_count", rc.glob_count.is_some()),
            ("pattern", rc.pattern.is_some()),
            ("unique_ids", rc.unique_ids.is_some()),
            ("command", rc.command.is_some()),
            ("phase_completed", rc.phase_completed.is_some()),
            ("committed", rc.committed.is_some()),
            ("variable_set", rc.variable_set.is_some()),
            ("filled", rc.filled.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let (line, column) = key_position_after(text, "check", criterion);
        let fail = |this: &mut Self, message: String, hint: Option<&str>| {
            let mut d = Diagnostic::error(this.tree.display(path), message).at(line, column);
            if let Some(h) = hint {
                d = d.with_hint(h);
            }
            this.diags.push(d);
            None
        };
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                return fail(
                    self,
                    format!("the check of `{criterion}` names no check kind"),
                    Some("use one of file_exists, glob_count, pattern, unique_ids, command, phase_completed, committed, variable_set, filled"),
                )
            }
            many => {
                return fail(
                    self,
                    format!("the check of `{criterion}` names several kinds: {}", many.join(", ")),
                    Some("write one check per criterion"),
                )
            }
        };
        let expected = |this: &mut Self, default: Expected| -> Option<Expected> {
            match &rc.expected {
                None => Some(default),
                Some(e) => Expected::parse(&e.0).or_else(|| {
                    let (line, column) = value_position(text, "expected", &e.0);
                    let d = Diagnostic::error(
                        this.tree.display(path),
                        format!("`expected: {}` of `{criterion}` is not a count", e.0),
                    )
                    .at(line, column)
                    .with_hint("write 0, >0, >=N, present or absent");
                    this.diags.push(d);
                    None
                }),
            }
        };
        let path_of = |this: &mut Self, p: &str| -> Option<String> {
            match safe_relative_path(p) {
                Ok(()) => Some(p.to_owned()),
                Err(why) => {
                    let d = Diagnostic::error(
                        this.tree.display(path),
                        format!("path `{p}` of `{criterion}` {why}"),
                    )
                    .at(line, column)
                    .with_hint(
                        "check paths are relative to the repository root and stay inside it",
                    );
                    this.diags.push(d);
                    None
                }
            }
        };
        let regex_of = |this: &mut Self, r: &str| -> Option<String> {
            match regex::Regex::new(r) {
                Ok(_) => Some(r.to_owned()),
                Err(e) => {
                    let (line, column) = value_position(text, "pattern", r);
                    let (line, column) = if line.is_some() {
                        (line, column)
                    } else {
                        value_position(text, "unique_ids", r)
                    };
                    let msg = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .trim_start_matches("error: ")
                        .to_owned();
                    let d = Diagnostic::error(
                        this.tree.display(path),
                        format!("the regex `{r}` of `{criterion}` is invalid: {msg}"),
                    )
                    .at(line, column)
                    .with_hint(
                        "patterns use Rust regex syntax; escape backslashes in double-quoted YAML",
                    );
                    this.diags.push(d);
                    None
                }
            }
        };
        match kind {
            "file_exists" => Some(Check::FileExists {
                path: path_of(self, rc.file_exists.as_deref()?)?,
            }),
            "glob_count" => {
                let glob = rc.glob_count.clone()?;
                path_of(self, &glob)?;
                Some(Check::GlobCount {
                    glob,
                    expected: expected(
                        self,
                        Expected {
                            op: super::CountOp::Gt,
                            n: 0,
                        },
                    )?,
                })
            }
            "pattern" => {
                let Some(p) = rc.path.as_deref() else {
                    return fail(
                        self,
                        format!("the pattern check of `{criterion}` has no `path`"),
                        Some("add `path: FILE` or `path: DIR/`"),
                    );
                };
                let path = path_of(self, p)?;
                let regex = regex_of(self, rc.pattern.as_deref()?)?;
                Some(Check::Pattern {
                    regex,
                    path,
                    expected: expected(self, Expected::PRESENT)?,
                })
            }
            "unique_ids" => {
                let Some(p) = rc.path.as_deref() else {
                    return fail(
                        self,
                        format!("the unique_ids check of `{criterion}` has no `path`"),
                        Some("add `path: FILE` or `path: DIR/`"),
                    );
                };
                let path = path_of(self, p)?;
                Some(Check::UniqueIds {
                    regex: regex_of(self, rc.unique_ids.as_deref()?)?,
                    path,
                })
            }
            "command" => {
                let command = rc.command.clone()?;
                if command.trim().is_empty() {
                    return fail(
                        self,
                        format!("the command check of `{criterion}` is empty"),
                        None,
                    );
                }
                Some(Check::Command {
                    command,
                    timeout: rc.timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
                })
            }
            "phase_completed" => Some(Check::PhaseCompleted {
                phase: rc.phase_completed.clone()?,
            }),
            "committed" => Some(Check::Committed {
                path: path_of(self, rc.committed.as_deref()?)?,
            }),
            "variable_set" => Some(Check::VariableSet {
                name: rc.variable_set.clone()?,
            }),
            "filled" => Some(Check::Filled {
                path: path_of(self, rc.filled.as_deref()?)?,
            }),
            _ => None,
        }
    }

    /// Maps a HELIX `validation_rules` entry onto a typed check.
    fn validation_rule(&mut self, r: &raw::RawValidationRule, path: &str, text: &str) -> Criterion {
        let criteria = r.description.clone().unwrap_or_else(|| r.rule.clone());
        let required = r.severity.as_deref() != Some("warning");
        let mut rc = raw::RawCheck {
            path: r.path.clone(),
            expected: r.expected.clone(),
            ..Default::default()
        };
        let mut check = None;
        match (r.check.as_deref(), &r.pattern) {
            (Some("unique_ids"), _) => {
                rc.unique_ids = Some(
                    r.pattern
                        .clone()
                        .unwrap_or_else(|| DEFAULT_ID_PATTERN.to_owned()),
                );
                rc.expected = None;
                check = self.check(&rc, &criteria, path, text);
            }
            (None, Some(p)) => {
                rc.pattern = Some(p.clone());
                check = self.check(&rc, &criteria, path, text);
            }
            (Some(name), _) => {
                self.warn(
                    path,
                    format!("validation rule `{}` names check `{name}`, which ddx cannot run; it is a criterion for a person to approve", r.rule),
                );
            }
            (None, None) => {}
        }
        let mut extra = r.extra.clone();
        extra.insert("rule".into(), serde_yaml::Value::String(r.rule.clone()));
        if let Some(sev) = &r.severity {
            extra.insert("severity".into(), serde_yaml::Value::String(sev.clone()));
        }
        if check.is_none() {
            if let Some(name) = &r.check {
                extra.insert("check".into(), serde_yaml::Value::String(name.clone()));
            }
        }
        Criterion {
            criteria,
            required,
            check,
            source: None,
            validation: Vec::new(),
            evidence: r.path.clone(),
            on_commit: false,
            separate_from: Vec::new(),
            origin: CriterionOrigin::ValidationRule,
            extra,
        }
    }
}

fn empty_phase(id: &str, order: u32) -> Phase {
    Phase {
        id: id.to_owned(),
        name: id.to_owned(),
        order,
        description: None,
        folder: None,
        depends_on: Vec::new(),
        when: None,
        required_role: None,
        estimated_duration: None,
        input_gates: Vec::new(),
        exit_criteria: Vec::new(),
        artifacts: Vec::new(),
        actions: Vec::new(),
        protected_paths: Vec::new(),
        allowed_paths: Vec::new(),
        transition: None,
        readme: None,
        enforcer: None,
        extra: BTreeMap::new(),
    }
}

/// `01-frame` -> `frame`; a folder with no number prefix is its own id.
fn folder_phase_id(folder: &str) -> &str {
    match folder.split_once('-') {
        Some((n, id)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => id,
        _ => folder,
    }
}

const ARTIFACT_ID_HINT: &str =
    "an artifact id (its folder name, or `id` in meta.yml) is letters, digits, `-`, `_` and `.`";

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The action id of `actions/<name>.md` or `actions/<name>/prompt.md` under `prefix`.
fn action_file(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    if let Some(name) = rest.strip_suffix(".md") {
        if !name.contains('/') {
            return Some(name.to_owned());
        }
    }
    rest.strip_suffix("/prompt.md")
        .filter(|n| !n.contains('/'))
        .map(str::to_owned)
}

/// Splits `---\nyaml\n---\nbody` into its front matter and body.
pub fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Checks that a path stays inside the repository: relative, no `..`, no backslashes.
/// Why `name` is not a valid workflow name, if it is not: names are letters, digits,
/// `-`, `_` and `.`, do not start with `.`, and are never `.`, `..` or `.git`
/// (docs/workflow-format.md). They end up in ref names, paths and commit trailers.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('.') {
        Some("may not start with `.`")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("may contain only letters, digits, `-`, `_` and `.`")
    } else {
        None
    }
}

pub fn safe_relative_path(p: &str) -> Result<(), &'static str> {
    if p.trim().is_empty() {
        return Err("is empty");
    }
    if p.starts_with('/') || p.starts_with('~') || (p.len() > 1 && p.as_bytes()[1] == b':') {
        return Err("is absolute");
    }
    if p.contains('\\') {
        return Err("contains a backslash");
    }
    if p.split('/').any(|c| c == "..") {
        return Err("leaves the repository (`..`)");
    }
    if p.split('/').any(|c| c == ".git") {
        return Err("points into .git");
    }
    Ok(())
}

fn output_location(loc: &str) -> Result<OutputLocation, &'static str> {
    safe_relative_path(loc)?;
    Ok(if loc.ends_with('/') {
        OutputLocation::Folder(loc.to_owned())
    } else if loc.contains('{') || loc.contains('*') {
        OutputLocation::Pattern(loc.to_owned())
    } else {
        OutputLocation::File(loc.to_owned())
    })
}

fn creation_order(v: &serde_yaml::Value) -> Option<CreationOrder> {
    match v {
        serde_yaml::Value::Number(n) => n.as_f64().map(CreationOrder::Position),
        serde_yaml::Value::String(s) if s == "last" => Some(CreationOrder::Last),
        serde_yaml::Value::String(s) => s.parse().ok().map(CreationOrder::Position),
        _ => None,
    }
}

/// Depth-first search for a dependency cycle; returns it as ids, first id repeated at the end.
fn find_cycle(phases: &[Phase]) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = phases
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    // 0 = new, 1 = on the stack, 2 = done
    let mut state = vec![0u8; phases.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        phases: &[Phase],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        stack.push(i);
        for d in &phases[i].depends_on {
            let Some(&j) = index.get(d.as_str()) else {
                continue;
            };
            if state[j] == 1 {
                let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                let mut cycle: Vec<String> = stack[from..]
                    .iter()
                    .map(|&k| phases[k].id.clone())
                    .collect();
                cycle.push(phases[j].id.clone());
                return Some(cycle);
            }
            if state[j] == 0 {
                if let Some(c) = visit(j, phases, index, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    (0..phases.len()).find_map(|i| {
        if state[i] == 0 {
            visit(i, phases, &index, &mut state, &mut stack)
        } else {
            None
        }
    })
}

/// serde_yaml appends " at line L column C" to messages; the diagnostic carries those itself.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Every `key:` in `text` (block or flow style): line, column of the key, and the rest of the line
/// after the colon.
fn key_occurrences<'t>(
    text: &'t str,
    key: &'t str,
) -> impl Iterator<Item = (usize, usize, &'t str)> + 't {
    text.lines().enumerate().flat_map(move |(n, line)| {
        line.match_indices(key).filter_map(move |(at, _)| {
            let before_ok = line[..at]
                .chars()
                .next_back()
                .is_none_or(|c| matches!(c, ' ' | '\t' | '{' | ',' | '-' | '"' | '\''));
            let after = line[at + key.len()..].trim_start_matches(['"', '\'']);
            let after = after.trim_start();
            let rest = after.strip_prefix(':')?;
            before_ok.then_some((n + 1, at + 1, rest))
        })
    })
}

/// Line and column of the first `key:` at or after the line that mentions `anchor`.
fn key_position_after(text: &str, key: &str, anchor: &str) -> (Option<usize>, Option<usize>) {
    let from = text
        .lines()
        .position(|l| l.contains(anchor))
        .map_or(0, |i| i + 1);
    key_occurrences(text, key)
        .find(|(l, _, _)| *l >= from)
        .map_or((None, None), |(l, c, _)| (Some(l), Some(c)))
}

/// serde names Rust types ("expected u32"); users write YAML.
fn friendly_serde_message(message: &str) -> String {
    message
        .replace("expected u32", "expected a whole number")
        .replace("expected u64", "expected a whole number")
        .replace("expected i64", "expected a number")
}

/// Line and column (1-based) of the first `key:` in `text`.
fn key_position(text: &str, key: &str) -> (Option<usize>, Option<usize>) {
    key_occurrences(text, key)
        .next()
        .map_or((None, None), |(l, c, _)| (Some(l), Some(c)))
}

/// Line and column of the value of the first `key: value` whose value is `value`.
fn value_position(text: &str, key: &str, value: &str) -> (Option<usize>, Option<usize>) {
    nth_value_position(text, key, value, 0)
}

fn nth_value_position(
    text: &str,
    key: &str,
    value: &str,
    nth: usize,
) -> (Option<usize>, Option<usize>) {
    let lines: Vec<&str> = text.lines().collect();
    key_occurrences(text, key)
        .filter(|(_, _, rest)| rest.contains(value))
        .nth(nth)
        .map_or((None, None), |(l, c, _)| {
            let line = lines[l - 1];
            let from = c - 1 + key.len();
            let col = line[from..].find(value).map(|i| from + i + 1);
            (Some(l), col)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::StaticTree;

    fn tree(files: Vec<(&'static str, &'static str)>) -> StaticTree {
        StaticTree::new(
            "t",
            files.into_iter().map(|(p, c)| (p, c.as_bytes())).collect(),
        )
    }

    #[test]
    fn defaults_dependencies_to_the_previous_phase() {
        let t = tree(vec![(
            "workflow.yml",
            "name: w\nphases:\n  - id: b\n    order: 2\n  - id: a\n    order: 1\n  - id: c\n    depends_on: []\n    order: 3\n",
        )]);
        let w = load_workflow(&t).unwrap();
        let ids: Vec<_> = w
            .phases
            .iter()
            .map(|p| (p.id.as_str(), p.depends_on.clone()))
            .collect();
        assert_eq!(
            ids,
            vec![("a", vec![]), ("b", vec!["a".to_owned()]), ("c", vec![])]
        );
    }

    #[test]
    fn names_a_cycle() {
        let t = tree(vec![(
            "workflow.yml",
            "name: w\nphases:\n  - id: a\n    depends_on: [c]\n  - id: b\n    depends_on: [a]\n  - id: c\n    depends_on: [b]\n",
        )]);
        let v = validate(&t);
        let msgs: Vec<_> = v.errors().map(|d| d.message.clone()).collect();
        assert_eq!(
            msgs,
            vec!["the phases depend on each other in a cycle: a -> c -> b -> a"]
        );
    }

    #[test]
    fn resolves_checks_and_reports_bad_ones() {
        let t = tree(vec![(
            "workflow.yml",
            "name: w\nphases:\n  - id: a\n    exit_criteria:\n      - Human\n      - criteria: no markers\n        check: {pattern: 'X', path: docs/, expected: 0}\n      - criteria: bad\n        check: {pattern: '(', path: docs/}\n",
        )]);
        let v = validate(&t);
        let w = v.workflow.as_ref().unwrap();
        assert!(w.phases[0].exit_criteria[0].is_human());
        assert_eq!(
            w.phases[0].exit_criteria[1].check,
            Some(Check::Pattern {
                regex: "X".into(),
                path: "docs/".into(),
                expected: Expected::ABSENT
            })
        );
        let errs: Vec<_> = v.errors().collect();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .message
                .starts_with("the regex `(` of `bad` is invalid"),
            "{}",
            errs[0].message
        );
        assert_eq!(errs[0].line, Some(9));
    }

    #[test]
    fn front_matter_makes_command_actions() {
        let t = tree(vec![
            ("workflow.yml", "name: w\nphases:\n  - id: a\n"),
            (
                "actions/test.md",
                "---\ndescription: run\ncommand: cargo test\ntimeout: 60\n---\n# Run tests\n",
            ),
            ("phases/01-a/actions/think/prompt.md", "# Think\nhard\n"),
        ]);
        let w = load_workflow(&t).unwrap();
        assert_eq!(
            w.actions[0].kind,
            ActionKind::Command {
                command: "cargo test".into(),
                timeout: 60
            }
        );
        assert_eq!(w.actions[0].title, "Run tests");
        assert_eq!(w.phases[0].actions[0].id, "think");
        assert_eq!(w.phases[0].actions[0].kind, ActionKind::Prompt);
    }

    #[test]
    fn safe_paths() {
        assert!(safe_relative_path("docs/a.md").is_ok());
        assert_eq!(safe_relative_path("/etc/passwd"), Err("is absolute"));
        assert_eq!(
            safe_relative_path("docs/../../x"),
            Err("leaves the repository (`..`)")
        );
        assert_eq!(safe_relative_path(".git/config"), Err("points into .git"));
    }
}
#[cfg(test)]
mod position_tests {
    use super::*;
    #[test]
    fn finds_flow_keys() {
        let t = "phases:\n  - id: a\n    exit_criteria:\n      - criteria: x\n        check: {pattern: \"[NEEDS\", path: docs/prd.md, expected: lots}\n";
        assert_eq!(value_position(t, "pattern", "[NEEDS"), (Some(5), Some(27)));
        assert_eq!(value_position(t, "expected", "lots"), (Some(5), Some(65)));
    }
}
