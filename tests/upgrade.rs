//! `ddx workflow set` and `ddx workflow upgrade` end to end: a local workflow applied, one
//! artifact edited and one untouched; set re-renders the untouched one and merges the edited
//! one; upgrade moves to a version with a new phase and changed templates; an overlapping change
//! leaves conflict markers and index stages; dry runs leave refs, index and work tree byte for
//! byte as they were; `ddx audit verify` passes after each. Checked with git.

mod common;

use common::{stderr, stdout, TestRepo};
use std::collections::BTreeMap;
use std::path::Path;

const LOCAL: &str = ".ddx/local/workflows/notes";

const WORKFLOW_1: &str = r#"name: notes
version: 0.1.0
description: A small local workflow
variables:
  - name: project_name
    required: true
  - name: test_command
    default: cargo test
phases:
  - id: frame
    order: 1
    name: Frame
    exit_criteria:
      - Problem stated
      - Scope agreed
  - id: build
    order: 2
    name: Build
    exit_criteria:
      - Code reviewed
"#;

const WORKFLOW_2: &str = r#"name: notes
version: 0.2.0
description: A small local workflow
variables:
  - name: project_name
    required: true
  - name: test_command
    default: cargo test
phases:
  - id: frame
    order: 1
    name: Frame the problem
    exit_criteria:
      - Problem stated
      - Scope agreed by the team
  - id: review
    order: 2
    name: Review
    depends_on: [frame]
    exit_criteria:
      - Reviewed
"#;

const BRIEF_1: &str = "# {{ project_name }} brief\n\n## Problem\n\n[Describe the problem]\n\n## Tests\n\nRun `{{ test_command }}`.\n";
const PLAN_1: &str =
    "# Plan for {{ project_name }}\n\n## Steps\n\n1. [First step]\n\n## Checks\n\n`{{ test_command }}` passes.\n";
const BRIEF_2: &str = "# {{ project_name }} brief\n\n## Problem\n\n[Describe the problem]\n\n## Tests\n\nRun `{{ test_command }}`.\n\n## Risks\n\n[List the risks]\n";
const PLAN_2: &str =
    "# Plan for {{ project_name }}\n\n## Steps\n\n1. [First step]\n\n## Checks\n\n`{{ test_command }}` passes.\n\n## Owner\n\n[Who]\n";

fn write_workflow(repo: &TestRepo, workflow: &str, brief: &str, plan: &str) {
    repo.write(&format!("{LOCAL}/workflow.yml"), workflow);
    for (name, template) in [("brief", brief), ("plan", plan)] {
        repo.write(
            &format!("{LOCAL}/phases/01-frame/artifacts/{name}/template.md"),
            template,
        );
        repo.write(
            &format!("{LOCAL}/phases/01-frame/artifacts/{name}/meta.yml"),
            format!("name: {name}\noutput:\n  location: docs/{name}.md\n"),
        );
    }
}

/// A repository with `notes` 0.1.0 applied (instance `n-1`), its two artifacts committed, and
/// the brief edited where the templates do not change (its problem statement).
fn applied() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "# shop\n");
    repo.write(".gitignore", ".ddx/local/\n");
    repo.commit_all("initial");
    write_workflow(&repo, WORKFLOW_1, BRIEF_1, PLAN_1);
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "notes",
        "--var",
        "project_name=shop",
        "--id",
        "n-1",
    ]);
    assert_eq!(
        repo.read("docs/brief.md"),
        "# shop brief\n\n## Problem\n\n[Describe the problem]\n\n## Tests\n\nRun `cargo test`.\n"
    );
    repo.commit_all("artifacts");
    let brief = repo
        .read("docs/brief.md")
        .replace("[Describe the problem]", "Orders get lost.");
    repo.write("docs/brief.md", brief);
    repo
}

/// A line `<label>  <path>` of the file table (labels are padded to one width).
fn file_line(text: &str, label: &str, path: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(label)
            .is_some_and(|rest| rest.starts_with("  ") && rest.trim_start() == path)
    })
}

fn verify(repo: &TestRepo) {
    let out = repo.ddx(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

fn trailers(repo: &TestRepo, rev: &str, key: &str) -> Vec<String> {
    repo.git(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly)"),
        rev,
    ])
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_owned)
    .collect()
}

fn state(repo: &TestRepo) -> serde_yaml::Value {
    serde_yaml::from_str(&repo.git(&["show", "refs/ddx/instances/n-1:state.yml"])).unwrap()
}

/// Every ref, the index's bytes and every work-tree file's bytes (outside `.git`).
fn snapshot(repo: &TestRepo) -> (String, Vec<u8>, BTreeMap<String, Vec<u8>>) {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let refs = repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
    let index = std::fs::read(repo.path(".git/index")).unwrap();
    let mut files = BTreeMap::new();
    walk(&repo.root, &repo.root, &mut files);
    (refs, index, files)
}

#[test]
fn set_rerenders_the_untouched_artifact_and_merges_the_edited_one() {
    let repo = applied();
    let before = snapshot(&repo);
    let dry = repo.ddx_ok(&["workflow", "set", "test_command=make test", "--dry-run"]);
    assert!(file_line(&dry, "updated", "docs/plan.md"), "{dry}");
    assert!(file_line(&dry, "merged", "docs/brief.md"), "{dry}");
    assert!(dry.contains("would move refs/ddx/instances/n-1"), "{dry}");
    assert_eq!(snapshot(&repo), before, "a dry run changes nothing");

    let out = repo.ddx_json(&["workflow", "set", "test_command=make test", "--json"]);
    assert_eq!(out["changed"], true);
    assert_eq!(out["conflicts"], 0);
    let outcomes: Vec<(String, String)> = out["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("docs/brief.md".to_owned(), "merged".to_owned()),
            ("docs/plan.md".to_owned(), "updated".to_owned())
        ]
    );
    assert_eq!(
        repo.read("docs/plan.md"),
        "# Plan for shop\n\n## Steps\n\n1. [First step]\n\n## Checks\n\n`make test` passes.\n"
    );
    assert_eq!(
        repo.read("docs/brief.md"),
        "# shop brief\n\n## Problem\n\nOrders get lost.\n\n## Tests\n\nRun `make test`.\n"
    );
    let r = "refs/ddx/instances/n-1";
    assert_eq!(trailers(&repo, r, "Ddx-Event"), ["set"]);
    assert_eq!(trailers(&repo, r, "Ddx-Var"), ["test_command=make test"]);
    assert_eq!(trailers(&repo, r, "Ddx-File").len(), 2);
    assert_eq!(trailers(&repo, r, "Ddx-Merge").len(), 1);
    let st = state(&repo);
    assert_eq!(st["variables"]["test_command"], "make test");
    // The recorded render is the new one: the base of the next merge, kept in git.
    assert_eq!(
        repo.git(&["show", &format!("{r}:renders/docs/plan.md")]),
        repo.read("docs/plan.md")
    );
    let plan_after = st["files"]["docs/plan.md"]["after"].as_str().unwrap();
    assert_eq!(
        repo.git(&["hash-object", "docs/plan.md"]).trim(),
        plan_after
    );
    let brief_after = st["files"]["docs/brief.md"]["after"].as_str().unwrap();
    assert!(repo
        .git(&["cat-file", "-p", brief_after])
        .contains("[Describe the problem]"));
    assert_eq!(
        st["files"]["docs/brief.md"]["merged"].as_str().unwrap(),
        repo.git(&["hash-object", "docs/brief.md"]).trim()
    );
    verify(&repo);

    // The same values again: nothing to do.
    let again = repo.ddx(&["workflow", "set", "test_command=make test"]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("Nothing changed"),
        "{}",
        stderr(&again)
    );
    // A bad value is refused by name.
    let bad = repo.ddx(&["workflow", "set", "project_name="]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains(
            "`project_name` cannot be set: it is required by the workflow, so it cannot be empty"
        ),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_second_apply_with_another_value_points_to_set_and_a_new_version_to_upgrade() {
    let repo = applied();
    write_workflow(
        &repo,
        &WORKFLOW_1.replace("0.1.0", "0.1.1"),
        BRIEF_1,
        PLAN_1,
    );
    let out = repo.ddx(&["workflow", "apply", "notes", "--var", "test_command=make"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--var test_command=make is not applied: instance n-1 has test_command=cargo test; `ddx workflow set test_command=make -i n-1` changes it"), "{err}");
    assert!(err.contains("instance n-1 runs notes 0.1.0, and local has notes 0.1.1: `ddx workflow upgrade -i n-1` moves it there"), "{err}");
}

#[test]
fn upgrade_adds_the_new_phase_and_merges_changed_templates_cleanly() {
    let repo = applied();
    repo.ddx_ok(&["gate", "approve", "frame", "Problem stated"]);
    repo.ddx_ok(&["gate", "approve", "frame", "Scope agreed"]);
    write_workflow(&repo, WORKFLOW_2, BRIEF_2, PLAN_2);
    let before = snapshot(&repo);
    let dry = repo.ddx_ok(&["workflow", "upgrade", "--dry-run"]);
    assert!(file_line(&dry, "merged", "docs/brief.md"), "{dry}");
    assert!(file_line(&dry, "updated", "docs/plan.md"), "{dry}");
    assert!(dry.contains("would move refs/ddx/instances/n-1"), "{dry}");
    assert!(dry.contains("would move refs/ddx/audit"), "{dry}");
    assert_eq!(snapshot(&repo), before, "a dry run changes nothing");

    let elsewhere = repo.ddx(&["workflow", "upgrade", "--source", "embedded"]);
    assert_eq!(elsewhere.status.code(), Some(5));
    assert!(
        stderr(&elsewhere).contains("no workflow named `notes` in source `embedded`"),
        "{}",
        stderr(&elsewhere)
    );
    let refused = repo.ddx(&["workflow", "upgrade", "--to", "0.3.0"]);
    assert_eq!(refused.status.code(), Some(5));
    assert!(stderr(&refused).contains("the catalog's notes is version 0.2.0 (local), not 0.3.0"));

    let out = repo.ddx_ok(&["workflow", "upgrade", "--to", "0.2.0", "--source", "local"]);
    assert!(
        out.contains("workflow: notes 0.1.0 -> notes 0.2.0"),
        "{out}"
    );
    assert_eq!(
        repo.read("docs/brief.md"),
        "# shop brief\n\n## Problem\n\nOrders get lost.\n\n## Tests\n\nRun `cargo test`.\n\n## Risks\n\n[List the risks]\n"
    );
    assert!(repo.read("docs/plan.md").ends_with("## Owner\n\n[Who]\n"));
    assert!(repo.git(&["ls-files", "-u"]).is_empty());
    let st = state(&repo);
    assert_eq!(st["version"], "0.2.0");
    let phases: Vec<(String, String)> = st["phases"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            ("frame".to_owned(), "in_progress".to_owned()),
            ("review".to_owned(), "pending".to_owned()),
            ("build".to_owned(), "removed".to_owned()),
        ]
    );
    // The approval of the unchanged criterion stays; the changed one needs a new approval.
    let criteria = st["phases"][0]["criteria"].as_sequence().unwrap();
    assert_eq!(criteria[0]["criteria"], "Problem stated");
    assert!(criteria[0]["approval"]["by"].is_string());
    assert_eq!(criteria[1]["criteria"], "Scope agreed by the team");
    assert!(criteria[1].get("approval").is_none());
    let r = "refs/ddx/instances/n-1";
    assert_eq!(trailers(&repo, r, "Ddx-Event"), ["upgrade"]);
    let old_tree = repo.git(&["rev-parse", &format!("{r}~1^{{tree}}")]);
    let old_wf = repo.git(&["rev-parse", &format!("{r}~1:workflow")]);
    assert_ne!(old_tree, old_wf);
    assert_eq!(trailers(&repo, r, "Ddx-From-Tree"), [old_wf.trim()]);
    assert_eq!(
        trailers(&repo, r, "Ddx-To-Tree"),
        [repo.git(&["rev-parse", &format!("{r}:workflow")]).trim()]
    );
    verify(&repo);
    // Upgrading again: nothing to do.
    let again = repo.ddx(&["workflow", "upgrade"]);
    assert!(
        stderr(&again).contains("Nothing changed"),
        "{}",
        stderr(&again)
    );
    // The removed phase takes no transition.
    let start = repo.ddx(&["phase", "start", "build"]);
    assert!(!start.status.success());
}

#[test]
fn an_overlapping_change_leaves_markers_and_index_stages() {
    let repo = applied();
    // The user rewrites the very line the new template changes.
    let brief = repo
        .read("docs/brief.md")
        .replace("Run `cargo test`.", "Run `cargo nextest run` in CI.");
    repo.write("docs/brief.md", brief);
    write_workflow(
        &repo,
        &WORKFLOW_1.replace("0.1.0", "0.1.1"),
        &BRIEF_1.replace(
            "Run `{{ test_command }}`.",
            "Run `{{ test_command }}` before every push.",
        ),
        PLAN_1,
    );
    let before = snapshot(&repo);
    let dry = repo.ddx_ok(&["workflow", "upgrade", "--dry-run"]);
    assert!(file_line(&dry, "conflict", "docs/brief.md"), "{dry}");
    assert_eq!(snapshot(&repo), before, "a dry run changes nothing");
    let out = repo.ddx(&["workflow", "upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 file is left with conflict markers, unmerged in the index"),
        "{}",
        stderr(&out)
    );
    let text = repo.read("docs/brief.md");
    assert!(text.contains("<<<<<<< yours\nRun `cargo nextest run` in CI.\n=======\nRun `cargo test` before every push.\n>>>>>>> rendered now\n"), "{text}");
    assert!(text.contains("Orders get lost."), "{text}");
    let unmerged = repo.git(&["ls-files", "-u", "docs/brief.md"]);
    let stages: Vec<&str> = unmerged
        .lines()
        .map(|l| l.split('\t').next().unwrap().rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(stages, ["1", "2", "3"], "{unmerged}");
    let blob = |stage: &str| repo.git(&["show", &format!(":{stage}:docs/brief.md")]);
    assert!(blob("1").contains("Run `cargo test`.\n"));
    assert!(
        blob("2").contains("Run `cargo nextest run` in CI.")
            && blob("2").contains("Orders get lost.")
    );
    assert!(blob("3").contains("Run `cargo test` before every push."));
    assert!(
        repo.git(&["status", "--porcelain"])
            .lines()
            .any(|l| l == "UU docs/brief.md"),
        "{}",
        repo.git(&["status", "--porcelain"])
    );
    verify(&repo);
    let status = repo.ddx_json(&["workflow", "status", "--json"]);
    assert!(
        status["next"].as_array().unwrap().contains(&serde_json::json!(
            "resolve the conflict in docs/brief.md, then `git add docs/brief.md`  # or `git mergetool`"
        )),
        "{status}"
    );

    // The hook refuses to commit the markers once staged.
    repo.ddx_ok(&["hooks", "install"]);
    repo.git(&["add", "docs/brief.md"]);
    let commit = repo
        .command("git")
        .args(["commit", "-q", "-m", "merged"])
        .output()
        .unwrap();
    assert!(!commit.status.success());
    assert!(
        String::from_utf8_lossy(&commit.stderr)
            .contains("docs/brief.md still has conflict markers"),
        "{}",
        String::from_utf8_lossy(&commit.stderr)
    );
    // Resolved, it commits.
    let resolved = repo.read("docs/brief.md");
    let resolved: String = resolved
        .lines()
        .filter(|l| {
            !l.starts_with("<<<<<<<")
                && !l.starts_with("=======")
                && !l.starts_with(">>>>>>>")
                && *l != "Run `cargo test` before every push."
        })
        .map(|l| format!("{l}\n"))
        .collect();
    repo.write("docs/brief.md", resolved);
    repo.git(&["add", "docs/brief.md"]);
    repo.git(&["commit", "-q", "-m", "merged"]);
}

#[test]
fn a_deleted_artifact_stays_deleted() {
    let repo = applied();
    std::fs::remove_file(repo.path("docs/plan.md")).unwrap();
    write_workflow(
        &repo,
        &WORKFLOW_1.replace("0.1.0", "0.1.1"),
        BRIEF_1,
        PLAN_2,
    );
    let out = repo.ddx_ok(&["workflow", "upgrade"]);
    assert!(file_line(&out, "kept deleted", "docs/plan.md"), "{out}");
    assert!(!repo.path("docs/plan.md").exists());
    verify(&repo);
}

#[test]
fn the_helix_corpus_keeps_five_edits_when_every_frame_template_changes() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let repo = TestRepo::new();
    repo.write(".gitignore", ".ddx/local/\n");
    repo.commit_all("initial");
    let local = repo.path(".ddx/local/workflows/helix");
    copy_dir(&helix, &local);
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "helix",
        "--var",
        "project_name=shop",
        "--id",
        "h-1",
    ]);
    let st: serde_yaml::Value =
        serde_yaml::from_str(&repo.git(&["show", "refs/ddx/instances/h-1:state.yml"])).unwrap();
    let files: Vec<String> = st["files"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert!(files.len() >= 5, "{files:?}");
    repo.commit_all("frame artifacts");
    // Five artifacts edited at their top.
    let edited: Vec<&String> = files.iter().take(5).collect();
    for f in &edited {
        let text = repo.read(f);
        repo.write(f, format!("Edited by hand: {f}\n\n{text}"));
    }
    // Every frame template changed at its end.
    let frame = local.join("phases/01-frame/artifacts");
    let mut changed = 0;
    for e in std::fs::read_dir(&frame).unwrap() {
        let t = e.unwrap().path().join("template.md");
        if t.is_file() {
            let mut text = std::fs::read_to_string(&t).unwrap();
            text.push_str("\n<!-- template 2 -->\n");
            std::fs::write(&t, text).unwrap();
            changed += 1;
        }
    }
    assert!(changed >= 5);
    let wf = local.join("workflow.yml");
    let text = std::fs::read_to_string(&wf).unwrap();
    std::fs::write(&wf, text.replacen("version: ", "version: 9", 1)).unwrap();
    let out = repo.ddx_json(&["workflow", "upgrade", "--json"]);
    assert_eq!(out["conflicts"], 0, "{out}");
    for f in &edited {
        let text = repo.read(f);
        assert!(
            text.starts_with(&format!("Edited by hand: {f}\n")),
            "{f}: {text}"
        );
        assert!(text.ends_with("<!-- template 2 -->\n"), "{f}: {text}");
    }
    for f in files.iter().skip(5) {
        assert!(repo.read(f).ends_with("<!-- template 2 -->\n"), "{f}");
    }
    verify(&repo);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_render_is_the_base_of_the_merge_even_when_it_was_never_committed() {
    let repo = TestRepo::new();
    repo.write(".gitignore", ".ddx/local/\n");
    repo.commit_all("initial");
    write_workflow(&repo, WORKFLOW_1, BRIEF_1, PLAN_1);
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "notes",
        "--var",
        "project_name=shop",
        "--id",
        "notes-1",
    ]);
    let brief = repo
        .read("docs/brief.md")
        .replace("[Describe the problem]", "Orders get lost.");
    repo.write("docs/brief.md", brief);
    // The render is kept in the event's `renders/` tree: `git gc` keeps it.
    repo.git(&["gc", "-q", "--prune=now"]);
    assert!(repo
        .git(&["show", "refs/ddx/instances/notes-1:renders/docs/brief.md"])
        .contains("[Describe the problem]"));
    let out = repo.ddx_ok(&["workflow", "set", "project_name=store"]);
    assert!(file_line(&out, "merged", "docs/brief.md"), "{out}");
    assert_eq!(
        repo.read("docs/brief.md"),
        "# store brief\n\n## Problem\n\nOrders get lost.\n\n## Tests\n\nRun `cargo test`.\n"
    );
    verify(&repo);
}

#[test]
fn a_conflict_is_staged_in_a_sha256_repository_too() {
    let repo = TestRepo::shaped(&["--object-format=sha256"]);
    repo.write(".gitignore", ".ddx/local/\n");
    repo.commit_all("initial");
    write_workflow(&repo, WORKFLOW_1, BRIEF_1, PLAN_1);
    repo.ddx_ok(&["workflow", "apply", "notes", "--var", "project_name=shop"]);
    let brief = repo
        .read("docs/brief.md")
        .replace("# shop brief", "# Shop, the brief");
    repo.write("docs/brief.md", brief);
    write_workflow(
        &repo,
        &WORKFLOW_1.replace("0.1.0", "0.1.1"),
        &BRIEF_1.replace(
            "# {{ project_name }} brief",
            "# Brief of {{ project_name }}",
        ),
        PLAN_1,
    );
    repo.ddx_ok(&["workflow", "upgrade"]);
    let unmerged = repo.git(&["ls-files", "-u"]);
    assert_eq!(unmerged.lines().count(), 3, "{unmerged}");
    assert!(unmerged
        .lines()
        .all(|l| l.split(' ').nth(1).unwrap().len() == 64));
    verify(&repo);
}

#[test]
fn upgrade_to_a_version_takes_it_from_the_source_that_has_it() {
    let repo = applied();
    // The project library has 0.3.0; the local copy stays at 0.1.0 and comes first.
    let lib = ".ddx/library/workflows/notes";
    repo.write(
        &format!("{lib}/workflow.yml"),
        WORKFLOW_1.replace("0.1.0", "0.3.0"),
    );
    for name in ["brief", "plan"] {
        let dir = format!("{lib}/phases/01-frame/artifacts/{name}");
        let template = if name == "brief" { BRIEF_2 } else { PLAN_1 };
        repo.write(&format!("{dir}/template.md"), template);
        repo.write(
            &format!("{dir}/meta.yml"),
            format!("name: {name}\noutput:\n  location: docs/{name}.md\n"),
        );
    }
    repo.git(&["add", lib]);
    repo.git(&["commit", "-q", "-m", "library 0.3.0"]);
    let nothing = repo.ddx(&["workflow", "upgrade"]);
    assert!(
        stderr(&nothing).contains("Nothing changed"),
        "{}",
        stderr(&nothing)
    );
    let out = repo.ddx_ok(&["workflow", "upgrade", "--to", "0.3.0"]);
    assert!(
        out.contains("workflow: notes 0.1.0 -> notes 0.3.0"),
        "{out}"
    );
    assert!(repo.read("docs/brief.md").contains("Orders get lost."));
    assert!(repo
        .read("docs/brief.md")
        .ends_with("## Risks\n\n[List the risks]\n"));
    assert_eq!(
        trailers(&repo, "refs/ddx/instances/n-1", "Ddx-Source"),
        ["project"]
    );
    verify(&repo);
}
