//! Insight into the project (DESIGN §8): what `ddx analyze` detects in HEAD's tree, the work
//! tree's new files, the history and the instances in `refs/ddx/instances/`, and the findings it
//! reports, each with its evidence and the workflows that address it. Methodology documents are
//! recognised by their paths (HELIX phase folders, FEAT/US ids in file names, decision records).

pub mod recommend;
pub mod stats;

use crate::store::git::{self, GitCommandError, HistoryCommit};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the project is made of.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Project {
    pub languages: Vec<String>,
    pub build_systems: Vec<String>,
    pub test_command: Option<String>,
    pub source_files: usize,
    pub test_files: usize,
    pub ci: Vec<String>,
    pub commits: usize,
    pub authors: usize,
    pub fix_commits: usize,
    pub hot_files: Vec<(String, usize)>,
    /// Decision records: files under an `adr`/`adrs`/`decisions` folder, or named `ADR-…`.
    pub decision_records: usize,
    /// The HELIX phase folders (`docs/helix/NN-<phase>/`) that hold files, in order.
    pub helix_phases: Vec<String>,
    /// Files of the work tree git neither tracks nor ignores (counted with HEAD's).
    pub untracked_files: usize,
    /// The instances of workflows in `refs/ddx/instances/`.
    pub instances: Vec<InstanceSummary>,
}

/// One instance of a workflow applied here.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InstanceSummary {
    pub id: String,
    pub workflow: String,
    pub status: String,
    pub progress: u32,
}

/// One thing analysis noticed, with its evidence and the workflows that address it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub title: String,
    pub evidence: Vec<String>,
    pub workflows: Vec<String>,
}

/// The result of [`analyze`].
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub project: Project,
    pub findings: Vec<Finding>,
}

/// The build files ddx recognises: (file name, language, build system, test command).
const BUILDS: &[(&str, &str, &str, &str)] = &[
    ("Cargo.toml", "Rust", "cargo", "cargo test"),
    ("package.json", "JavaScript", "npm", "npm test"),
    ("go.mod", "Go", "go", "go test ./..."),
    ("pyproject.toml", "Python", "pyproject", "pytest"),
    ("setup.py", "Python", "setuptools", "pytest"),
    ("pom.xml", "Java", "maven", "mvn test"),
    ("build.gradle", "Java", "gradle", "gradle test"),
];

/// Source extensions and their language.
const SOURCES: &[(&str, &str)] = &[
    ("rs", "Rust"),
    ("js", "JavaScript"),
    ("ts", "TypeScript"),
    ("go", "Go"),
    ("py", "Python"),
    ("java", "Java"),
    ("c", "C"),
    ("cpp", "C++"),
    ("rb", "Ruby"),
];

/// Whether a path is a test file: under a test folder, or named as tests are.
fn is_test(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    lower
        .split('/')
        .any(|c| c == "tests" || c == "test" || c == "__tests__" || c == "spec")
        || name.starts_with("test_")
        || name.contains("_test.")
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// HELIX's phase folders, in order.
const HELIX_PHASES: &[&str] = &[
    "01-frame",
    "02-design",
    "03-test",
    "04-build",
    "05-deploy",
    "06-iterate",
];

/// Whether a path is a decision record.
fn is_decision_record(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let in_folder = lower
        .split('/')
        .rev()
        .skip(1)
        .any(|c| c == "adr" || c == "adrs" || c == "decisions");
    (in_folder || name.starts_with("adr-") || name.starts_with("adr_")) && name.ends_with(".md")
}

/// The FEAT-/US- id a file name starts with (`FEAT-001-cart.md` → `FEAT-001`).
fn document_id(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let upper = name.to_ascii_uppercase();
    for prefix in ["FEAT-", "US-"] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                return Some(format!("{prefix}{digits}"));
            }
        }
    }
    None
}

/// Whether a commit subject describes a fix.
fn is_fix(subject: &str) -> bool {
    let lower = subject.to_ascii_lowercase();
    let fix = crate::catalog::search::tokens(&lower).any(|w| {
        matches!(
            w.as_str(),
            "fix" | "fixes" | "fixed" | "bug" | "bugfix" | "hotfix" | "crash" | "regression"
        )
    });
    fix
}

/// The command that runs a project's tests, as its build files say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestCommand {
    /// No build file ddx knows.
    Unknown,
    /// One command: every build file considered agrees (`from` names the first).
    Simple { command: String, from: String },
    /// Build files that disagree: (command, build file) of each.
    Several(Vec<(String, String)>),
}

/// The test command of a project with these files (HEAD's tree): the build files at the root
/// decide; without any there, every build file does.
pub fn test_command_of(files: &[String]) -> TestCommand {
    let mut found: Vec<(String, String)> = Vec::new();
    for f in files {
        let name = f.rsplit('/').next().unwrap_or(f);
        if let Some((_, _, _, cmd)) = BUILDS.iter().find(|(file, ..)| *file == name) {
            found.push(((*cmd).to_owned(), f.clone()));
        }
    }
    let root: Vec<(String, String)> = found
        .iter()
        .filter(|(_, f)| !f.contains('/'))
        .cloned()
        .collect();
    let considered = if root.is_empty() { found } else { root };
    match considered.first() {
        None => TestCommand::Unknown,
        Some((command, from)) if considered.iter().all(|(c, _)| c == command) => {
            TestCommand::Simple {
                command: command.clone(),
                from: from.clone(),
            }
        }
        Some(_) => TestCommand::Several(considered),
    }
}

/// The test command of the project whose work tree is `dir`, from HEAD's tree only (no
/// history is read).
pub fn detect_test_command(dir: &Path) -> Result<TestCommand, GitCommandError> {
    Ok(test_command_of(&git::head_files(dir)?))
}

/// Analyses the project whose work tree is `dir`: HEAD's files and the history are read at
/// the same time.
pub fn analyze(dir: &Path) -> Result<Analysis, GitCommandError> {
    let (files, untracked, history) = std::thread::scope(|s| {
        let files = s.spawn(|| git::head_files(dir));
        let untracked = s.spawn(|| git::untracked_files(dir));
        let history = git::history(dir);
        let joined =
            |h: std::thread::ScopedJoinHandle<'_, _>| h.join().unwrap_or_else(|_| Ok(Vec::new()));
        (joined(files), joined(untracked), history)
    });
    let mut files = files?;
    let untracked = untracked?;
    files.extend(untracked.iter().cloned());
    files.sort();
    files.dedup();
    let mut analysis = from_parts(&files, &history?);
    analysis.project.untracked_files = untracked.len();
    add_instances(&mut analysis, &instances(dir));
    Ok(analysis)
}

/// The instances in `refs/ddx/instances/` of the repository at `dir` (none when it cannot be
/// read: analysis reports what it can).
fn instances(dir: &Path) -> Vec<InstanceSummary> {
    let Ok(repo) = crate::store::Repo::discover(dir) else {
        return Vec::new();
    };
    let ids = crate::store::refs::instance_ids(&repo).unwrap_or_default();
    ids.into_iter()
        .filter_map(|id| {
            let (_, st) = crate::engine::load(&repo, &id).ok()?;
            Some(InstanceSummary {
                id,
                workflow: st.workflow.clone(),
                status: st.status.as_str().to_owned(),
                progress: st.progress(),
            })
        })
        .collect()
}

/// Adds the instances to `analysis`, with a finding that names the workflows already applied.
pub fn add_instances(analysis: &mut Analysis, instances: &[InstanceSummary]) {
    if !instances.is_empty() {
        let mut workflows: Vec<String> = instances.iter().map(|i| i.workflow.clone()).collect();
        workflows.sort();
        workflows.dedup();
        analysis.findings.push(Finding {
            id: "instances".to_owned(),
            title: "Workflows are already applied here".to_owned(),
            evidence: instances
                .iter()
                .map(|i| {
                    format!(
                        "{}: {} {}, {}% done",
                        i.id, i.workflow, i.status, i.progress
                    )
                })
                .collect(),
            workflows,
        });
    }
    analysis.project.instances = instances.to_vec();
}

/// The analysis of a project with these files (HEAD's tree) and this history (newest first).
pub fn from_parts(files: &[String], history: &[HistoryCommit]) -> Analysis {
    let mut languages = BTreeSet::new();
    let mut builds = BTreeSet::new();
    let mut test_command = None;
    let mut build_paths = Vec::new();
    for f in files {
        let name = f.rsplit('/').next().unwrap_or(f);
        for (file, lang, build, cmd) in BUILDS {
            if name == *file {
                languages.insert((*lang).to_owned());
                builds.insert((*build).to_owned());
                build_paths.push(f.clone());
                if test_command.is_none() || !f.contains('/') {
                    test_command = Some((*cmd).to_owned());
                }
            }
        }
    }
    let (mut sources, mut tests) = (Vec::new(), Vec::new());
    for f in files {
        let ext = f.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if let Some((_, lang)) = SOURCES.iter().find(|(e, _)| *e == ext) {
            languages.insert((*lang).to_owned());
            if is_test(f) {
                tests.push(f.clone());
            } else {
                sources.push(f.clone());
            }
        }
    }
    let ci: Vec<String> = files
        .iter()
        .filter(|f| {
            f.starts_with(".github/workflows/")
                || f.as_str() == ".gitlab-ci.yml"
                || f.starts_with(".circleci/")
                || f.as_str() == "Jenkinsfile"
        })
        .cloned()
        .collect();
    let authors: BTreeSet<&str> = history.iter().map(|c| c.author.as_str()).collect();
    let fixes: Vec<&HistoryCommit> = history.iter().filter(|c| is_fix(&c.subject)).collect();
    let mut churn: BTreeMap<&str, usize> = BTreeMap::new();
    for c in history {
        for p in &c.paths {
            *churn.entry(p.as_str()).or_default() += 1;
        }
    }
    let mut hot: Vec<(String, usize)> = churn.into_iter().map(|(p, n)| (p.to_owned(), n)).collect();
    hot.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    hot.truncate(10);

    let records: Vec<&String> = files.iter().filter(|f| is_decision_record(f)).collect();
    let mut helix: BTreeMap<&str, usize> = BTreeMap::new();
    for f in files {
        if let Some(rest) = f.strip_prefix("docs/helix/") {
            if let Some((phase, _)) = rest.split_once('/') {
                if let Some(p) = HELIX_PHASES.iter().find(|p| **p == phase) {
                    *helix.entry(p).or_default() += 1;
                }
            }
        }
    }
    let mut ids: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for f in files
        .iter()
        .filter(|f| f.to_ascii_lowercase().ends_with(".md"))
    {
        if let Some(id) = document_id(f) {
            ids.entry(id).or_default().push(f);
        }
    }
    // Build files changed after they were added: dependencies and tooling changing, the kind of
    // change a decision record explains.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut build_changes: Vec<&HistoryCommit> = Vec::new();
    for c in history.iter().rev() {
        let mut changed = false;
        for p in &c.paths {
            let name = p.rsplit('/').next().unwrap_or(p);
            if BUILDS.iter().any(|(file, ..)| *file == name) && !seen.insert(p.as_str()) {
                changed = true;
            }
        }
        if changed {
            build_changes.push(c);
        }
    }

    let mut findings = Vec::new();
    if !sources.is_empty() && tests.is_empty() {
        let mut evidence = vec![format!("{} source files, 0 test files", sources.len())];
        evidence.extend(sources.iter().take(5).cloned());
        findings.push(Finding {
            id: "no-tests".to_owned(),
            title: "The code has no tests".to_owned(),
            evidence,
            workflows: vec!["tdd".to_owned()],
        });
    }
    let recent: Vec<&HistoryCommit> = history.iter().take(10).collect();
    let recent_fixes: Vec<&&HistoryCommit> = recent.iter().filter(|c| is_fix(&c.subject)).collect();
    if !recent.is_empty() && recent_fixes.len() * 2 > recent.len() {
        let mut evidence = vec![format!(
            "{} of the last {} commits are fixes",
            recent_fixes.len(),
            recent.len()
        )];
        evidence.extend(
            recent_fixes
                .iter()
                .take(5)
                .map(|c| format!("{} {}", &c.id[..c.id.len().min(12)], c.subject)),
        );
        findings.push(Finding {
            id: "mostly-fixes".to_owned(),
            title: "Most recent commits are fixes".to_owned(),
            evidence,
            workflows: vec!["bugfix".to_owned()],
        });
    }
    if records.is_empty() && build_changes.len() >= 3 {
        let mut evidence = vec![format!(
            "{} commits changed the build files after they were added; no decision record (docs/adr/, ADR-*.md)",
            build_changes.len()
        )];
        evidence.extend(
            build_changes
                .iter()
                .rev()
                .take(5)
                .map(|c| format!("{} {}", &c.id[..c.id.len().min(12)], c.subject)),
        );
        findings.push(Finding {
            id: "no-decision-records".to_owned(),
            title: "Dependencies and tooling change without decision records".to_owned(),
            evidence,
            workflows: vec!["adr".to_owned()],
        });
    }
    if !helix.is_empty() {
        let mut evidence: Vec<String> = helix
            .iter()
            .map(|(p, n)| {
                format!(
                    "docs/helix/{p}/: {n} file{}",
                    if *n == 1 { "" } else { "s" }
                )
            })
            .collect();
        let last = HELIX_PHASES
            .iter()
            .rposition(|p| helix.contains_key(p))
            .unwrap_or(0);
        let done: Vec<&str> = HELIX_PHASES[..last].to_vec();
        evidence.push(if done.is_empty() {
            format!("in phase {}", HELIX_PHASES[last])
        } else {
            format!(
                "phases that look done: {}; in phase {}",
                done.join(", "),
                HELIX_PHASES[last]
            )
        });
        findings.push(Finding {
            id: "helix-artifacts".to_owned(),
            title: "HELIX documents are present".to_owned(),
            evidence,
            workflows: vec!["helix".to_owned()],
        });
    }
    let duplicates: Vec<(&String, &Vec<&String>)> =
        ids.iter().filter(|(_, paths)| paths.len() > 1).collect();
    if !duplicates.is_empty() {
        findings.push(Finding {
            id: "duplicate-ids".to_owned(),
            title: "Document ids are used more than once".to_owned(),
            evidence: duplicates
                .iter()
                .map(|(id, paths)| {
                    let list: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
                    format!("{id}: {}", list.join(", "))
                })
                .collect(),
            workflows: vec!["helix".to_owned()],
        });
    }
    if let Some(cmd) = &test_command {
        findings.push(Finding {
            id: "test-command".to_owned(),
            title: format!("The tests run with `{cmd}`"),
            evidence: build_paths.clone(),
            workflows: Vec::new(),
        });
    }
    Analysis {
        project: Project {
            languages: languages.into_iter().collect(),
            build_systems: builds.into_iter().collect(),
            test_command,
            source_files: sources.len(),
            test_files: tests.len(),
            ci,
            commits: history.len(),
            authors: authors.len(),
            fix_commits: fixes.len(),
            hot_files: hot,
            decision_records: records.len(),
            helix_phases: helix.keys().map(|p| (*p).to_owned()).collect(),
            untracked_files: 0,
            instances: Vec::new(),
        },
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn helix_documents_decision_records_and_duplicate_ids_are_found() {
        let a = from_parts(
            &files(&[
                "docs/helix/01-frame/features/FEAT-001-cart.md",
                "docs/helix/01-frame/features/FEAT-002-pay.md",
                "docs/helix/02-design/architecture.md",
                "docs/helix/01-frame/user-stories/US-001-buy.md",
                "docs/old/feat-001-cart-draft.md",
                "docs/adr/0001-use-postgres.md",
            ]),
            &[],
        );
        assert_eq!(a.project.helix_phases, ["01-frame", "02-design"]);
        assert_eq!(a.project.decision_records, 1);
        let find = |id: &str| a.findings.iter().find(|f| f.id == id).cloned();
        let helix = find("helix-artifacts").expect("helix");
        assert_eq!(helix.workflows, ["helix"]);
        assert_eq!(
            helix.evidence,
            [
                "docs/helix/01-frame/: 3 files",
                "docs/helix/02-design/: 1 file",
                "phases that look done: 01-frame; in phase 02-design"
            ]
        );
        let dup = find("duplicate-ids").expect("duplicates");
        assert_eq!(
            dup.evidence,
            ["FEAT-001: docs/helix/01-frame/features/FEAT-001-cart.md, docs/old/feat-001-cart-draft.md"]
        );
    }

    #[test]
    fn build_files_that_keep_changing_without_records_ask_for_adr() {
        let commit = |n: usize, paths: &[&str]| HistoryCommit {
            id: format!("{n:040}"),
            author: "a".into(),
            time: n as i64,
            subject: format!("change {n}"),
            paths: paths.iter().map(|s| s.to_string()).collect(),
        };
        // Newest first: the first commit adds Cargo.toml, three later ones change it.
        let history = vec![
            commit(4, &["Cargo.toml"]),
            commit(3, &["Cargo.toml", "src/a.rs"]),
            commit(2, &["Cargo.toml"]),
            commit(1, &["Cargo.toml", "src/a.rs"]),
        ];
        let a = from_parts(&files(&["Cargo.toml", "src/a.rs"]), &history);
        let f = a
            .findings
            .iter()
            .find(|f| f.id == "no-decision-records")
            .expect("adr");
        assert_eq!(f.workflows, ["adr"]);
        assert!(
            f.evidence[0].starts_with("3 commits changed the build files"),
            "{f:?}"
        );
        let with_record = from_parts(
            &files(&["Cargo.toml", "src/a.rs", "docs/decisions/0001-x.md"]),
            &history,
        );
        assert!(with_record
            .findings
            .iter()
            .all(|f| f.id != "no-decision-records"));
        let two = from_parts(&files(&["Cargo.toml"]), &history[1..]);
        assert!(two.findings.iter().all(|f| f.id != "no-decision-records"));
    }

    #[test]
    fn the_test_command_is_simple_only_when_the_build_files_agree() {
        assert_eq!(
            test_command_of(&files(&["README.md"])),
            TestCommand::Unknown
        );
        assert_eq!(
            test_command_of(&files(&["Cargo.toml", "web/package.json", "src/main.rs"])),
            TestCommand::Simple {
                command: "cargo test".into(),
                from: "Cargo.toml".into()
            }
        );
        assert_eq!(
            test_command_of(&files(&["a/go.mod", "b/go.mod"])),
            TestCommand::Simple {
                command: "go test ./...".into(),
                from: "a/go.mod".into()
            }
        );
        assert_eq!(
            test_command_of(&files(&["Cargo.toml", "package.json"])),
            TestCommand::Several(vec![
                ("cargo test".into(), "Cargo.toml".into()),
                ("npm test".into(), "package.json".into())
            ])
        );
    }
}
