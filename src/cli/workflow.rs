//! `ddx workflow …`: list, search, show and validate workflows.

use super::{cwd, Cli, ExitCode, Output};
use crate::catalog::search::{self, Filter, Match};
use crate::catalog::{
    self, BrokenWorkflow, Catalog, CatalogError, IndexedWorkflow, Located, Summary,
};
use crate::model::{Action, Criterion, Diagnostic, Phase, Variable, Workflow};
use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// List the workflows of the catalog, with the source each comes from.
    List(ListArgs),
    /// Find workflows by words, ranked, saying why each matched.
    Search(SearchArgs),
    /// Preview a workflow: phases, dependencies, gates, artifacts, actions and variables.
    Show(ShowArgs),
    /// Check a workflow definition and report every problem.
    Validate(ShowArgs),
}

/// Filters shared by `list` and `search`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only workflows of this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only workflows with this tag or keyword (repeat for several; all must match).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Only workflows from this source: local, project, embedded, repo, or a repository name.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Only workflows compatible with this language (those that name no language fit any).
    #[arg(long, value_name = "LANGUAGE")]
    pub compatible_with: Option<String>,
}

impl FilterArgs {
    fn filter(&self) -> Filter {
        Filter {
            category: self.category.clone(),
            tags: self.tag.clone(),
            source: self.source.clone(),
            compatible_with: self.compatible_with.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Also list workflows shadowed by a workflow of the same name in a higher source.
    #[arg(long)]
    pub all: bool,
    /// Fail (exit 4) when any workflow of the catalog is broken, instead of listing the others.
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON document (an array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for in names, categories, tags, keywords, descriptions, phases and artifacts.
    #[arg(required = true, value_name = "WORDS")]
    pub words: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Also search workflows shadowed by a workflow of the same name in a higher source.
    #[arg(long)]
    pub all: bool,
    /// Fail (exit 4) when any workflow of the catalog is broken.
    #[arg(long)]
    pub strict: bool,
    /// Show at most this many matches.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Print one JSON document (an array) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A workflow name, or a path to a workflow folder (anything containing `/`).
    pub workflow: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, out: &Output, cmd: &WorkflowCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WorkflowCommand::List(args) => cmd_list(cli, out, args),
        WorkflowCommand::Search(args) => cmd_search(cli, out, args),
        WorkflowCommand::Show(args) => cmd_show(cli, out, args, false),
        WorkflowCommand::Validate(args) => cmd_show(cli, out, args, true),
    }
}

/// Names the broken workflows on stderr; with `strict`, fails after naming them.
fn report_broken(out: &Output, broken: &[BrokenWorkflow], strict: bool) -> anyhow::Result<()> {
    for b in broken {
        let shadow = b
            .shadowed_by
            .as_ref()
            .map(|s| format!(", shadowed by {s}"))
            .unwrap_or_default();
        if strict {
            out.note(format!(
                "workflow `{}` ({}{shadow}) is broken:",
                b.name, b.source
            ));
        } else {
            out.warn(format!(
                "workflow `{}` ({}{shadow}) is broken and not listed:",
                b.name, b.source
            ));
        }
        for d in &b.diagnostics {
            out.note(format!("  {d}"));
        }
    }
    if strict && !broken.is_empty() {
        let mut names: Vec<String> = broken
            .iter()
            .map(|b| format!("{} ({})", b.name, b.source))
            .collect();
        names.dedup();
        return Err(CatalogError::Broken {
            count: broken.len(),
            names,
        }
        .into());
    }
    Ok(())
}

fn cmd_list(cli: &Cli, out: &Output, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&cwd(cli)?)?;
    let index = catalog.index()?;
    report_broken(out, &index.broken, args.strict)?;
    let filter = args.filter.filter();
    let found: Vec<Summary> = index
        .workflows
        .iter()
        .filter(|w| args.all || w.shadowed_by.is_none())
        .filter(|w| filter.matches(w))
        .map(|w| w.summary())
        .collect();
    if args.json {
        out.json(&found)?;
        return Ok(ExitCode::Ok);
    }
    if found.is_empty() {
        out.note("No workflows match.");
        return Ok(ExitCode::Ok);
    }
    let width = |f: &dyn Fn(&Summary) -> usize, min: usize| {
        found.iter().map(f).max().unwrap_or(min).max(min)
    };
    let w_name = width(&|s| s.name.len(), 4);
    let w_ver = width(&|s| s.version.len(), 7);
    let w_cat = width(&|s| s.category.len(), 8);
    let w_src = width(&|s| s.source.len(), 6);
    out.line(out.bold(&format!(
        "{:w_name$}  {:w_ver$}  {:w_cat$}  {:w_src$}  DESCRIPTION",
        "NAME", "VERSION", "CATEGORY", "SOURCE"
    )));
    for s in &found {
        let shadowed = s
            .shadowed_by
            .as_ref()
            .map(|by| out.dim(&format!(" (shadowed by {by})")))
            .unwrap_or_default();
        out.line(format!(
            "{}  {:w_ver$}  {:w_cat$}  {:w_src$}  {}{shadowed}",
            out.bold(&format!("{:w_name$}", s.name)),
            s.version,
            s.category,
            s.source,
            s.description
        ));
    }
    Ok(ExitCode::Ok)
}

/// One result of `search --json`: the fields of `list`, and the ranking.
#[derive(Debug, Serialize)]
struct SearchResult {
    #[serde(flatten)]
    summary: Summary,
    score: f64,
    exact_name: bool,
    why: Vec<String>,
    matches: Vec<Match>,
}

fn cmd_search(cli: &Cli, out: &Output, args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&cwd(cli)?)?;
    let index = catalog.index()?;
    report_broken(out, &index.broken, args.strict)?;
    let filter = args.filter.filter();
    let candidates: Vec<&IndexedWorkflow> = index
        .workflows
        .iter()
        .filter(|w| args.all || w.shadowed_by.is_none())
        .filter(|w| filter.matches(w))
        .collect();
    let hits = search::search(&candidates, &args.words);
    let total = hits.len();
    let shown = &hits[..total.min(args.limit)];
    if args.json {
        let results: Vec<SearchResult> = shown
            .iter()
            .map(|h| SearchResult {
                summary: h.workflow.summary_of(&h.entry),
                score: (h.score * 1000.0).round() / 1000.0,
                exact_name: h.exact_name,
                why: h.why(),
                matches: h.matches.clone(),
            })
            .collect();
        out.json(&results)?;
        return Ok(ExitCode::Ok);
    }
    if shown.is_empty() {
        out.note(format!(
            "No workflow matches {}.",
            args.words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        return Ok(ExitCode::Ok);
    }
    let w_name = shown
        .iter()
        .map(|h| h.entry.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_src = shown
        .iter()
        .map(|h| h.workflow.source.to_string().len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.line(out.bold(&format!(
        "{:w_name$}  {:w_src$}  {:>6}  DESCRIPTION",
        "NAME", "SOURCE", "SCORE"
    )));
    for h in shown {
        let w = h.workflow;
        out.line(format!(
            "{}  {:w_src$}  {:>6.2}  {}",
            out.bold(&format!("{:w_name$}", h.entry.name)),
            w.source.to_string(),
            h.score,
            h.entry.description
        ));
        out.line(out.dim(&format!("{:w_name$}  matched: {}", "", h.why().join("; "))));
    }
    if total > shown.len() {
        out.note(format!(
            "{} more match{}; use --limit to see them.",
            total - shown.len(),
            if total - shown.len() == 1 { "es" } else { "" }
        ));
    }
    Ok(ExitCode::Ok)
}

/// Counts shown by `show` and `validate`.
#[derive(Debug, Serialize)]
struct Counts {
    phases: usize,
    artifacts: usize,
    actions: usize,
    input_gates: usize,
    exit_criteria: usize,
    checks: usize,
    variables: usize,
}

impl Counts {
    fn of(w: &Workflow) -> Counts {
        let criteria = || {
            w.phases
                .iter()
                .flat_map(|p| p.input_gates.iter().chain(&p.exit_criteria))
        };
        Counts {
            phases: w.phases.len(),
            artifacts: w.artifact_count(),
            actions: w.all_actions().count(),
            input_gates: w.phases.iter().map(|p| p.input_gates.len()).sum(),
            exit_criteria: w.phases.iter().map(|p| p.exit_criteria.len()).sum(),
            checks: criteria().filter(|c| !c.is_human()).count(),
            variables: w.variables.len(),
        }
    }
}

/// The JSON document of `show` and `validate`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    name: &'a str,
    version: &'a str,
    source: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<Counts>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    workflow: Option<&'a Workflow>,
    phases: &'a [Phase],
    actions: &'a [Action],
    variables: &'a [Variable],
    errors: Vec<&'a Diagnostic>,
    warnings: Vec<&'a Diagnostic>,
}

fn cmd_show(cli: &Cli, out: &Output, args: &ShowArgs, validate: bool) -> anyhow::Result<ExitCode> {
    let located = catalog::locate(&args.workflow, &cwd(cli)?)?;
    let v = located.validate();
    let errors: Vec<&Diagnostic> = v.errors().collect();
    let warnings: Vec<&Diagnostic> = v.diagnostics.iter().filter(|d| !d.is_error()).collect();
    let code = if v.is_valid() {
        ExitCode::Ok
    } else {
        ExitCode::Invalid
    };
    if args.json {
        let w = v.workflow.as_ref();
        let report = Report {
            name: w.map_or(located.name.as_str(), |w| w.name.as_str()),
            version: w.map_or("", |w| w.version.as_str()),
            source: located.source.to_string(),
            valid: v.is_valid(),
            counts: w.map(Counts::of),
            workflow: w,
            phases: w.map_or(&[], |w| w.phases.as_slice()),
            actions: w.map_or(&[], |w| w.actions.as_slice()),
            variables: w.map_or(&[], |w| w.variables.as_slice()),
            errors,
            warnings,
        };
        out.json(&report)?;
        return Ok(code);
    }
    if validate {
        print_validation(out, &located, v.workflow.as_ref(), &errors, &warnings);
    } else {
        match &v.workflow {
            Some(w) => print_preview(out, &located, w),
            None => out.line(format!("{}: the workflow could not be read", located.name)),
        }
        for d in errors.iter().chain(warnings.iter()) {
            out.note(d.to_string());
        }
    }
    Ok(code)
}

fn print_validation(
    out: &Output,
    located: &Located,
    w: Option<&Workflow>,
    errors: &[&Diagnostic],
    warnings: &[&Diagnostic],
) {
    for d in errors.iter().chain(warnings.iter()) {
        out.line(d.to_string());
    }
    let name = w.map_or(located.name.as_str(), |w| w.name.as_str());
    let counts = w.map(|w| {
        let c = Counts::of(w);
        format!(
            "{} phases, {} artifacts, {} actions, {} input gates, {} exit criteria ({} machine-checked)",
            c.phases, c.artifacts, c.actions, c.input_gates, c.exit_criteria, c.checks
        )
    });
    if errors.is_empty() && w.is_some() {
        out.line(format!(
            "{} {name} {} is valid: {}",
            out.green("ok:"),
            w.map_or("", |w| w.version.as_str()),
            counts.unwrap_or_default()
        ));
    } else {
        let n = errors.len();
        out.line(format!(
            "{} {name} has {n} error{}{}",
            out.red("invalid:"),
            if n == 1 { "" } else { "s" },
            counts.map(|c| format!(" ({c})")).unwrap_or_default()
        ));
    }
}

fn criterion_line(out: &Output, c: &Criterion) -> String {
    let tag = match &c.check {
        None => out.yellow("human"),
        Some(check) => out.green(check.kind()),
    };
    let optional = if c.required { "" } else { " (optional)" };
    format!("[{tag}] {}{optional}", c.criteria)
}

fn print_preview(out: &Output, located: &Located, w: &Workflow) {
    out.line(format!("{} {}", out.bold(&w.name), w.version));
    if !w.description.is_empty() {
        out.line(format!("  {}", w.description));
    }
    out.line(format!(
        "  source: {}   category: {}{}",
        located.source,
        w.category,
        if w.tags.is_empty() {
            String::new()
        } else {
            format!("   tags: {}", w.tags.join(", "))
        }
    ));
    if !w.keywords.is_empty() {
        out.line(format!("  keywords: {}", w.keywords.join(", ")));
    }
    if !w.languages.is_empty() {
        out.line(format!("  languages: {}", w.languages.join(", ")));
    }
    if let Some(stats) = &w.statistics {
        out.line(format!("  statistics: {}", yaml_inline(stats)));
    }
    if let Some(rating) = &w.rating {
        out.line(format!("  rating: {}", yaml_inline(rating)));
    }
    if !w.variables.is_empty() {
        out.line(out.bold("\nVariables"));
        for v in &w.variables {
            let mut line = format!("  {}", v.name);
            if v.required {
                line.push_str(" (required)");
            }
            if let Some(d) = &v.default {
                line.push_str(&format!(" [default: {d}]"));
            }
            if let Some(d) = &v.description {
                line.push_str(&format!(" — {d}"));
            }
            out.line(line);
        }
    }
    out.line(out.bold("\nPhases"));
    for p in &w.phases {
        out.line(format!("  {}. {} — {}", p.order, out.bold(&p.id), p.name));
        let deps = if p.depends_on.is_empty() {
            "nothing".to_owned()
        } else {
            p.depends_on.join(", ")
        };
        out.line(format!("     depends on: {deps}"));
        if let Some(when) = &p.when {
            out.line(format!("     when: {when}"));
        }
        if !p.input_gates.is_empty() {
            out.line(format!("     input gates ({}):", p.input_gates.len()));
            for c in &p.input_gates {
                out.line(format!("       {}", criterion_line(out, c)));
            }
        }
        if !p.exit_criteria.is_empty() {
            out.line(format!("     exit criteria ({}):", p.exit_criteria.len()));
            for c in &p.exit_criteria {
                out.line(format!("       {}", criterion_line(out, c)));
            }
        }
        if !p.artifacts.is_empty() {
            out.line(format!("     artifacts ({}):", p.artifacts.len()));
            for a in &p.artifacts {
                let to = a
                    .output
                    .as_ref()
                    .map(|o| format!(" -> {}", o.path()))
                    .unwrap_or_default();
                out.line(format!("       {}{}", a.id, out.dim(&to)));
            }
        }
        if !p.actions.is_empty() {
            let names: Vec<&str> = p.actions.iter().map(|a| a.id.as_str()).collect();
            out.line(format!("     actions: {}", names.join(", ")));
        }
    }
    if !w.actions.is_empty() {
        out.line(out.bold("\nWorkflow actions"));
        for a in &w.actions {
            let kind = match &a.kind {
                crate::model::ActionKind::Prompt => "prompt".to_owned(),
                crate::model::ActionKind::Command { command, .. } => format!("command: {command}"),
            };
            out.line(format!(
                "  {} — {} {}",
                a.id,
                a.title,
                out.dim(&format!("({kind})"))
            ));
        }
    }
}

/// A metadata value on one line: `key value, key value` for a mapping, the scalar otherwise.
fn yaml_inline(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| format!("{} {}", yaml_inline(k), yaml_inline(v)))
            .collect::<Vec<_>>()
            .join(", "),
        serde_yaml::Value::Sequence(items) => {
            items.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
        }
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Null => "-".to_owned(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Tagged(t) => yaml_inline(&t.value),
    }
}
