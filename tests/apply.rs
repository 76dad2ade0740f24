//! Artifacts end to end: `workflow apply`, `phase start` and `workflow next` write artifacts
//! safely and record them (blob ids before and after) in the event and in `state.yml`; dry runs
//! leave the work tree, the index and every ref byte for byte as they were. Checked with git.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const HELIX_FRAME: [&str; 4] = [
    "docs/helix/01-frame/prd.md",
    "docs/helix/01-frame/principles.md",
    "docs/helix/01-frame/user-stories/user-stories.md",
    "docs/helix/01-frame/feature-registry.md",
];

fn fresh() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "# shop\n");
    repo.commit_all("initial");
    repo
}

fn apply_helix(repo: &TestRepo, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "workflow",
        "apply",
        "helix",
        "--var",
        "project_name=shop",
        "--id",
        "h-1",
    ];
    args.extend_from_slice(extra);
    repo.ddx(&args)
}

fn state(repo: &TestRepo, rev: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&repo.git(&["show", &format!("{rev}:state.yml")])).unwrap()
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

/// A line `<label>  <path>` of the file table (labels are padded to one width).
fn file_line(text: &str, label: &str, path: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(label)
            .is_some_and(|rest| rest.starts_with("  ") && rest.trim_start() == path)
    })
}

fn hash(repo: &TestRepo, path: &str) -> String {
    repo.git(&["hash-object", path]).trim().to_owned()
}

/// What a dry run must leave byte-identical: the index file, every ref, every work-tree file,
/// and the object database's loose objects.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    index: Vec<u8>,
    refs: String,
    files: BTreeMap<String, Vec<u8>>,
    objects: String,
}

fn snapshot(repo: &TestRepo) -> Snapshot {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&repo.root, &repo.root, &mut files);
    Snapshot {
        index: std::fs::read(repo.path(".git/index")).unwrap_or_default(),
        refs: repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        files,
        objects: repo.git(&["count-objects", "-v"]),
    }
}

/// Runs `args` (a dry run) and asserts that it changed nothing git can see.
fn assert_dry_run_changes_nothing(repo: &TestRepo, args: &[&str]) -> std::process::Output {
    let status_before = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    let before = snapshot(repo);
    let out = repo.ddx(args);
    assert!(
        out.status.success(),
        "ddx {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("Dry run: nothing is written."));
    let after = snapshot(repo);
    assert_eq!(before.index, after.index, "the index changed: {args:?}");
    assert_eq!(before.refs, after.refs, "a ref changed: {args:?}");
    assert_eq!(
        before.objects, after.objects,
        "objects were written: {args:?}"
    );
    assert_eq!(before.files, after.files, "the work tree changed: {args:?}");
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        status_before
    );
    out
}

#[test]
fn apply_writes_the_frame_artifacts_and_records_them_with_their_blob_ids() {
    let repo = fresh();
    let out = apply_helix(&repo, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for path in HELIX_FRAME {
        assert!(file_line(&text, "created", path), "{text}");
        assert!(repo.path(path).is_file(), "{path}");
    }
    let prd = repo.read("docs/helix/01-frame/prd.md");
    assert!(prd.contains("shop"), "the project name is filled in");
    assert!(
        !prd.contains("{{ project_name }}"),
        "set variables are rendered"
    );

    let r = "refs/ddx/instances/h-1";
    // One event: the instance, frame started, its human input gates approved by applying,
    // and every file written.
    assert_eq!(repo.git(&["rev-list", "--count", r]).trim(), "1");
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", r]).trim(),
        "ddx(h-1): apply helix 1.0.0"
    );
    assert_eq!(trailers(&repo, r, "Ddx-Event"), ["init"]);
    assert_eq!(trailers(&repo, r, "Ddx-Phase"), ["frame"]);
    let files = trailers(&repo, r, "Ddx-File");
    assert_eq!(files.len(), 4, "{files:?}");
    for path in HELIX_FRAME {
        let expected = format!("{}..{} {path}", "0".repeat(40), hash(&repo, path));
        assert!(files.contains(&expected), "{expected} not in {files:?}");
    }
    let st = state(&repo, r);
    assert_eq!(st["status"].as_str(), Some("running"));
    for path in HELIX_FRAME {
        let rec = &st["files"][path];
        assert_eq!(rec["after"].as_str(), Some(hash(&repo, path).as_str()));
        assert!(rec["before"].is_null(), "{rec:?}");
        assert_eq!(rec["phase"].as_str(), Some("frame"));
    }
    assert_eq!(
        st["files"]["docs/helix/01-frame/prd.md"]["by"].as_str(),
        Some("artifact prd")
    );
    let frame = &st["phases"][0];
    let approved: Vec<&str> = frame["criteria"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|c| c["gate"].as_str() == Some("input"))
        .map(|c| c["approval"]["comment"].as_str().unwrap())
        .collect();
    assert_eq!(approved.len(), 2);
    assert!(approved
        .iter()
        .all(|c| *c == "approved by applying the workflow (`ddx workflow apply`)"));
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Ddx-Operation,valueonly)",
            "refs/ddx/audit"
        ])
        .trim(),
        "apply"
    );

    // status lists the files.
    let view = repo.ddx_json(&["workflow", "status", "--json"]);
    assert_eq!(
        view["files"]["docs/helix/01-frame/principles.md"]["after"],
        hash(&repo, "docs/helix/01-frame/principles.md")
    );
    let text = repo.ddx_ok(&["workflow", "status"]);
    assert!(text.contains("files:\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("  docs/helix/01-frame/prd.md ")
                && l.contains(" none -> ")
                && l.ends_with("artifact prd (frame)")),
        "{text}"
    );
    let fsck = repo
        .command("git")
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{}", stderr(&fsck));
}

#[test]
fn applying_again_changes_nothing_and_never_touches_what_the_user_edited() {
    let repo = fresh();
    assert!(apply_helix(&repo, &[]).status.success());
    let r = "refs/ddx/instances/h-1";
    let tip = repo.git(&["rev-parse", r]);
    let out = repo.ddx(&["workflow", "apply", "helix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Continuing instance h-1 of helix."));
    assert!(stderr(&out).contains("Nothing changed: no ready phase can start."));
    for path in HELIX_FRAME {
        assert!(file_line(&stdout(&out), "unchanged", path));
    }
    assert_eq!(repo.git(&["rev-parse", r]), tip);

    // The user fills in the PRD: it is reported and kept, even with --force.
    repo.write("docs/helix/01-frame/prd.md", "# Shop\nmy own words\n");
    let out = repo.ddx(&["workflow", "apply", "helix", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        file_line(
            &stdout(&out),
            "kept: edited since ddx wrote it",
            "docs/helix/01-frame/prd.md"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        repo.read("docs/helix/01-frame/prd.md"),
        "# Shop\nmy own words\n"
    );
    assert_eq!(repo.git(&["rev-parse", r]), tip);

    // A deleted artifact is written again, and that is recorded.
    std::fs::remove_file(repo.path("docs/helix/01-frame/principles.md")).unwrap();
    let out = repo.ddx(&["workflow", "apply", "helix"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(file_line(
        &stdout(&out),
        "created",
        "docs/helix/01-frame/principles.md"
    ));
    assert_eq!(trailers(&repo, r, "Ddx-Event"), ["artifacts"]);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", r]).trim(),
        "ddx(h-1): artifacts of frame (1 file)"
    );
    // A --var that differs from the instance's is not silently taken.
    let out = repo.ddx(&["workflow", "apply", "helix", "--var", "project_name=other"]);
    assert!(stderr(&out)
        .contains("--var project_name=other is not applied: instance h-1 has project_name=shop; `ddx workflow set project_name=other -i h-1` changes it and merges the artifacts"));
}

#[test]
fn files_that_exist_are_overwritten_only_with_force_and_their_content_is_kept_in_git() {
    let repo = fresh();
    repo.write(
        "docs/helix/01-frame/prd.md",
        "# Our PRD\nwritten before ddx\n",
    );
    repo.commit_all("our prd");
    let out = apply_helix(&repo, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(file_line(
        &stdout(&out),
        "skipped: exists with other content (--force overwrites)",
        "docs/helix/01-frame/prd.md"
    ));
    assert!(stderr(&out).contains(
        "1 file left as it was (--dry-run --diff shows the differences, --force overwrites)"
    ));
    assert_eq!(
        repo.read("docs/helix/01-frame/prd.md"),
        "# Our PRD\nwritten before ddx\n"
    );
    let r = "refs/ddx/instances/h-1";
    assert!(state(&repo, r)["files"]["docs/helix/01-frame/prd.md"].is_null());

    let old = hash(&repo, "docs/helix/01-frame/prd.md");
    let out = repo.ddx(&["workflow", "apply", "helix", "--dry-run", "--diff"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        file_line(
            &text,
            "would overwrite (refused without --force)",
            "docs/helix/01-frame/prd.md"
        ),
        "{text}"
    );
    assert!(
        text.contains("--- docs/helix/01-frame/prd.md\n+++ docs/helix/01-frame/prd.md\n"),
        "{text}"
    );
    assert!(text.contains("\n-written before ddx\n"), "{text}");

    let out = repo.ddx(&["workflow", "apply", "helix", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(file_line(
        &stdout(&out),
        "overwritten",
        "docs/helix/01-frame/prd.md"
    ));
    let rec = &state(&repo, r)["files"]["docs/helix/01-frame/prd.md"];
    assert_eq!(rec["before"].as_str(), Some(old.as_str()));
    assert_eq!(
        rec["after"].as_str(),
        Some(hash(&repo, "docs/helix/01-frame/prd.md").as_str())
    );
    assert_eq!(
        trailers(&repo, r, "Ddx-File"),
        [format!(
            "{old}..{} docs/helix/01-frame/prd.md",
            hash(&repo, "docs/helix/01-frame/prd.md")
        )]
    );
    // The overwritten bytes are in the object database.
    assert_eq!(
        repo.git(&["cat-file", "-p", &old]),
        "# Our PRD\nwritten before ddx\n"
    );
}

#[test]
fn artifacts_are_never_written_outside_the_work_tree_or_through_a_link() {
    let repo = fresh();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path("docs")).unwrap();
    let out = apply_helix(&repo, &[]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "error: docs/helix/01-frame/prd.md is not a safe place to write: it goes through a symbolic link"
    ));
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(repo.git(&["for-each-ref", "refs/ddx"]), "");
}

#[test]
fn dry_runs_change_nothing_and_name_the_event_they_would_write() {
    let repo = fresh();
    repo.git(&["status"]);
    let out = assert_dry_run_changes_nothing(
        &repo,
        &[
            "workflow",
            "apply",
            "helix",
            "--var",
            "project_name=shop",
            "--id",
            "h-1",
            "--dry-run",
            "--diff",
        ],
    );
    let text = stdout(&out);
    for path in HELIX_FRAME {
        assert!(file_line(&text, "new", path), "{text}");
    }
    assert!(
        text.contains("--- /dev/null\n+++ docs/helix/01-frame/prd.md\n"),
        "{text}"
    );
    let would = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("would move {name} (new) -> ")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no move of {name} in {text}"))
    };
    let event = would(&text, "refs/ddx/instances/h-1");
    let audit = would(&text, "refs/ddx/audit");
    // The same command for real writes exactly the event the dry run named.
    assert!(apply_helix(&repo, &[]).status.success());
    assert_eq!(
        repo.git(&["rev-parse", "--short=7", "refs/ddx/instances/h-1"])
            .trim(),
        event
    );
    assert_eq!(
        repo.git(&["rev-parse", "--short=7", "refs/ddx/audit"])
            .trim(),
        audit
    );

    // With edits and files of the user's around, a dry run says what it would refuse.
    repo.write("docs/helix/01-frame/prd.md", "mine\n");
    std::fs::remove_file(repo.path("docs/helix/01-frame/principles.md")).unwrap();
    repo.git(&["add", "-A"]);
    repo.write("untracked.txt", "x\n");
    repo.git(&["status"]);
    let out = assert_dry_run_changes_nothing(
        &repo,
        &["workflow", "apply", "helix", "--dry-run", "--force"],
    );
    let text = stdout(&out);
    assert!(
        file_line(&text, "user-edited (refused)", "docs/helix/01-frame/prd.md"),
        "{text}"
    );
    assert!(
        file_line(&text, "new", "docs/helix/01-frame/principles.md"),
        "{text}"
    );
    assert!(
        file_line(
            &text,
            "unchanged",
            "docs/helix/01-frame/feature-registry.md"
        ),
        "{text}"
    );
    assert!(
        text.contains("would move refs/ddx/instances/h-1 "),
        "{text}"
    );

    // phase start and next, dry.
    repo.ddx_ok(&["phase", "complete", "frame", "--force"]);
    repo.ddx_ok(&["gate", "approve", "design", "1"]);
    repo.ddx_ok(&["gate", "approve", "design", "2"]);
    repo.git(&["status"]);
    let out = assert_dry_run_changes_nothing(&repo, &["phase", "start", "design", "--dry-run"]);
    let text = stdout(&out);
    assert!(
        file_line(&text, "new", "docs/helix/02-design/architecture.md"),
        "{text}"
    );
    assert!(
        text.contains("would record: design: ready -> in_progress\n"),
        "{text}"
    );
    assert_dry_run_changes_nothing(&repo, &["workflow", "next", "--dry-run"]);
    assert_dry_run_changes_nothing(&repo, &["action", "run", "status-report", "--dry-run"]);
    assert_dry_run_changes_nothing(&repo, &["action", "run", "build/run-tests", "--dry-run"]);
}

/// A workflow whose second phase has an artifact, for `phase start` and `next`.
const TWO: &str = r#"name: two
version: 0.1.0
description: two phases
phases:
  - id: a
    order: 1
    name: A
    exit_criteria: ["A done"]
  - id: b
    order: 2
    name: B
"#;

#[test]
fn phase_start_and_next_write_the_artifacts_of_the_phases_they_start() {
    let repo = fresh();
    repo.write("wf/workflow.yml", TWO);
    repo.write(
        "wf/phases/02-b/artifacts/notes/template.md",
        "# Notes of {{ phase.name }} in {{ project }} by {{ user.name }} on {{ date }} ({{ instance.id }}, {{ workflow.name }} {{ workflow.version }})\n",
    );
    repo.write(
        "wf/phases/02-b/artifacts/log/template.md",
        "# Log\n[Entries]\n",
    );
    repo.write(
        "wf/phases/02-b/artifacts/log/meta.yml",
        "output:\n  location: docs/logs/\n",
    );
    repo.commit_all("wf");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "t-1"]);
    repo.ddx_ok(&["gate", "approve", "a", "1"]);
    repo.ddx_ok(&["phase", "complete", "a"]);
    let out = repo.ddx(&["phase", "start", "b", "--dry-run", "--diff"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("+# Notes of B in repo by Test User on 2026-01-14 (t-1, two 0.1.0)\n"),
        "{text}"
    );
    let out = repo.ddx(&["phase", "start", "b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Default location, and a folder location.
    assert_eq!(
        repo.read("docs/two/02-b/notes.md"),
        "# Notes of B in repo by Test User on 2026-01-14 (t-1, two 0.1.0)\n"
    );
    assert_eq!(repo.read("docs/logs/log.md"), "# Log\n[Entries]\n");
    let r = "refs/ddx/instances/t-1";
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", r]).trim(),
        "ddx(t-1): start b (2 files)"
    );
    assert_eq!(trailers(&repo, r, "Ddx-Event"), ["start"]);
    // Starting it again writes what is missing, nothing else.
    std::fs::remove_file(repo.path("docs/logs/log.md")).unwrap();
    let out = repo.ddx(&["phase", "start", "b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(trailers(&repo, r, "Ddx-Event"), ["artifacts"]);
    assert!(repo.path("docs/logs/log.md").is_file());
    let out = repo.ddx(&["phase", "start", "b"]);
    assert!(stderr(&out).contains("Nothing changed: phase b is already in progress."));
}

/// The real HELIX corpus: the state of `ddx workflow show --json` says where each artifact goes.
fn corpus_artifacts(repo: &TestRepo, helix: &str) -> Vec<(String, String, Option<String>)> {
    let show = repo.ddx_json(&["workflow", "show", helix, "--json"]);
    let mut out = Vec::new();
    for p in show["phases"].as_array().unwrap() {
        for a in p["artifacts"].as_array().unwrap() {
            if a["template"].is_null() {
                continue;
            }
            let file = match &a["output"] {
                Value::Object(o) if o["kind"] == "file" => {
                    Some(o["path"].as_str().unwrap().to_owned())
                }
                _ => None,
            };
            out.push((
                p["id"].as_str().unwrap().to_owned(),
                a["id"].as_str().unwrap().to_owned(),
                file,
            ));
        }
    }
    out
}

#[test]
fn applying_the_corpus_by_path_writes_the_frame_artifacts_at_their_meta_locations() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let helix = helix.to_str().unwrap().to_owned();
    let repo = fresh();
    let out = repo.ddx(&["workflow", "apply", &helix, "--var", "project_name=shop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(repo.path("docs/helix/01-frame/prd.md").is_file());
    let frame: Vec<_> = corpus_artifacts(&repo, &helix)
        .into_iter()
        .filter(|(p, _, _)| p == "frame")
        .collect();
    assert_eq!(frame.len(), 13);
    for (_, id, file) in &frame {
        if let Some(f) = file {
            assert!(repo.path(f).is_file(), "{id}: {f}");
        }
    }
    assert!(repo
        .path("docs/helix/01-frame/features/feature-specification.md")
        .is_file());
}

#[test]
fn walking_all_six_corpus_phases_writes_every_artifact() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let helix = helix.to_str().unwrap().to_owned();
    let repo = fresh();
    let out = repo.ddx(&[
        "workflow",
        "apply",
        &helix,
        "--var",
        "project_name=shop",
        "--id",
        "c-1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 30, "the walk does not end");
        let out = repo.ddx(&["gate", "check", "--json"]);
        let check: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let phases = check["phases"].as_array().unwrap();
        if phases.is_empty() {
            break;
        }
        // Approve every human criterion shown (input gates of ready phases, exit criteria of
        // phases in progress).
        for p in phases {
            for c in p["criteria"].as_array().unwrap() {
                if c["status"] == "needs_approval" {
                    let n = c["number"].to_string();
                    repo.ddx_ok(&["gate", "approve", p["id"].as_str().unwrap(), &n]);
                }
            }
        }
        // Machine checks the templates cannot pass (HELIX validation rules): forced, on record.
        let out = repo.ddx(&["gate", "check", "--json"]);
        let check: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let mut forced = false;
        for p in check["phases"].as_array().unwrap() {
            if p["status"] == "in_progress" && p["satisfied"] == false {
                repo.ddx_ok(&[
                    "phase",
                    "complete",
                    p["id"].as_str().unwrap(),
                    "--force",
                    "--reason",
                    "templates only",
                ]);
                forced = true;
            }
        }
        if !forced {
            let out = repo.ddx(&["workflow", "next"]);
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let r = "refs/ddx/instances/c-1";
    let st = state(&repo, r);
    assert_eq!(st["status"].as_str(), Some("completed"));
    let phases: Vec<(&str, &str)> = st["phases"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [
            ("frame", "completed"),
            ("design", "completed"),
            ("test", "completed"),
            ("build", "completed"),
            ("deploy", "completed"),
            ("iterate", "completed")
        ]
    );
    // Every artifact with a template was written and recorded, where its meta.yml says.
    let files = st["files"].as_mapping().unwrap();
    let artifacts = corpus_artifacts(&repo, &helix);
    assert_eq!(artifacts.len(), 46);
    for (phase, id, file) in artifacts {
        let (path, rec) = files
            .iter()
            .find(|(_, r)| r["by"].as_str() == Some(&format!("artifact {id}")))
            .unwrap_or_else(|| panic!("artifact {id} of {phase} is not recorded"));
        let path = path.as_str().unwrap();
        assert_eq!(rec["phase"].as_str(), Some(phase.as_str()), "{id}");
        if let Some(f) = file {
            assert_eq!(path, f, "{id}");
        }
        assert_eq!(
            rec["after"].as_str(),
            Some(hash(&repo, path).as_str()),
            "{id} at {path}"
        );
    }
    let fsck = repo
        .command("git")
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{}", stderr(&fsck));
    // The whole walk replays: every event, from the recorded checks and file records.
    let verified = repo.ddx_json(&["audit", "verify", "--json"]);
    assert_eq!(verified["ok"], true, "{verified:#}");
    assert_eq!(
        verified["checked"]["replayed"], verified["checked"]["events"],
        "{verified:#}"
    );
}

#[test]
fn a_library_caller_gets_applys_choice_of_instance() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: mini\nversion: 1.0.0\nphases:\n  - id: one\n    name: One\n    exit_criteria: [Done]\n",
    );
    repo.commit_all("initial");
    let open = || ddx::store::Repo::discover(&repo.path("")).unwrap();
    let store = open();
    let engine = ddx::engine::Engine::new(&store).unwrap();
    // No instance of the workflow: apply makes a new one.
    assert_eq!(engine.apply_target("mini", None, None).unwrap(), None);
    repo.ddx_ok(&["workflow", "init", "./wf", "--id", "m1"]);
    let store = open();
    let engine = ddx::engine::Engine::new(&store).unwrap();
    // One active instance: it is continued; a new id asks for a new one.
    assert_eq!(
        engine.apply_target("mini", None, None).unwrap(),
        Some(("m1".to_owned(), "mini".to_owned()))
    );
    assert_eq!(engine.apply_target("mini", None, Some("m2")).unwrap(), None);
    repo.ddx_ok(&["workflow", "init", "./wf", "--id", "m2"]);
    let store = open();
    let engine = ddx::engine::Engine::new(&store).unwrap();
    let err = engine.apply_target("mini", None, None).unwrap_err();
    assert!(
        err.to_string().contains("m1") && err.to_string().contains("m2"),
        "{err}"
    );
    // A variable that differs from the instance's is named, not applied.
    let vars = BTreeMap::from([("x".to_owned(), "1".to_owned())]);
    let work = engine
        .apply_continue(
            "m1",
            &vars,
            ddx::engine::work::FileOptions { force: false },
            true,
        )
        .unwrap();
    assert_eq!(
        work.notes.first().map(String::as_str),
        Some("--var x=1 is not applied: instance m1 was started without it; `ddx workflow set x=1 -i m1` sets it")
    );
}

#[test]
fn a_library_caller_of_apply_workflow_creates_then_continues() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: mini\nversion: 1.0.0\nphases:\n  - id: one\n    name: One\n    exit_criteria: [Done]\n",
    );
    repo.commit_all("initial");
    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    let catalog = ddx::catalog::Catalog::open(&repo.path("")).unwrap();
    let located = catalog.locate("./wf", &repo.path("")).unwrap();
    let wf = located.load().unwrap();
    let engine = ddx::engine::Engine::new(&store).unwrap();
    let opts = ddx::engine::work::ApplyOptions {
        id: Some("m1"),
        ..Default::default()
    };
    // No instance yet: one is made, its ready phase started, in one event.
    let made = engine.apply_workflow(&located, &wf, &opts).unwrap();
    assert!(made.created);
    assert_eq!(made.report.instance, "m1");
    assert_eq!(
        repo.git(&[
            "log",
            "--format=%(trailers:key=Ddx-Event,valueonly)",
            "refs/ddx/instances/m1"
        ])
        .trim(),
        "init"
    );
    let entry = repo.git(&["show", "refs/ddx/audit:entry.yml"]);
    assert!(entry.contains("operation: apply\n"), "{entry}");
    // Now the one active instance of `mini` is continued, whatever id is not asked for.
    let again = engine
        .apply_workflow(&located, &wf, &Default::default())
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.report.instance, "m1");
    assert_eq!(
        repo.git(&["for-each-ref", "--format=%(refname)", "refs/ddx/instances"])
            .trim(),
        "refs/ddx/instances/m1"
    );
}
