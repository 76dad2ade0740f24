//! Repository shapes git makes besides the default one: SHA-256 object ids, reftable ref
//! storage (git 3.0's defaults), both, and shared (`--shared=group`) repositories. Each journey
//! is checked with the real `git` binary.

mod common;

use common::{stderr, stdout, TestRepo};

const WORKFLOW: &str = r#"name: shaped
version: 0.1.0
description: A workflow with one artifact, for repository shapes
variables:
  - name: project_name
    required: true
phases:
  - id: frame
    order: 1
    name: Frame
    exit_criteria:
      - Problem statement clearly documented
  - id: build
    order: 2
    name: Build
    exit_criteria:
      - Reviewed
"#;

/// A repository made by `git init ARGS`, holding the workflow above, committed.
fn repo_with(init: &[&str]) -> TestRepo {
    let repo = TestRepo::plain();
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend_from_slice(init);
    repo.git(&args);
    repo.git(&["config", "user.name", "Test User"]);
    repo.git(&["config", "user.email", "test@example.com"]);
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.write(
        "wf/phases/01-frame/artifacts/brief/template.md",
        "# {{ project_name }}\n\nThe problem.\n",
    );
    repo.write(
        "wf/phases/01-frame/artifacts/brief/meta.yml",
        "name: Brief\noutput:\n  location: docs/brief.md\n",
    );
    repo.commit_all("initial");
    repo
}

fn ok(repo: &TestRepo, args: &[&str]) -> String {
    let out = repo.ddx(args);
    assert!(
        out.status.success(),
        "ddx {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// apply, approve, complete, checkpoint, verify: the whole chain written and checked.
fn journey(repo: &TestRepo) {
    ok(
        repo,
        &[
            "workflow",
            "apply",
            "./wf",
            "--var",
            "project_name=shop",
            "--id",
            "s1",
        ],
    );
    ok(repo, &["gate", "approve", "frame", "1"]);
    ok(repo, &["workflow", "next"]);
    ok(repo, &["checkpoint", "create", "cp1"]);
    ok(repo, &["gate", "approve", "build", "1"]);
    // A project commit of the instance gets its note in refs/notes/ddx.
    repo.write("docs/brief.md", "# shop\n\nThe real problem.\n");
    repo.git(&["add", "-A"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "Write the brief\n\nDdx-Instance: s1\nDdx-Phase: build",
    ]);
    let rebuilt = ok(repo, &["notes", "rebuild"]);
    assert!(rebuilt.contains("1 of 1"), "{rebuilt}");
    let note = repo.git(&["notes", "--ref=ddx", "show", "HEAD"]);
    assert!(note.contains("\"s1\""), "{note}");
    let notes_tip = repo.git(&["rev-parse", "refs/notes/ddx"]);
    let again = ok(repo, &["notes", "rebuild"]);
    assert!(!again.contains("rewritten"), "{again}");
    assert_eq!(repo.git(&["rev-parse", "refs/notes/ddx"]), notes_tip);
    // The instance reads back as written.
    let status = ok(repo, &["workflow", "status", "--json"]);
    assert!(status.contains("\"s1\""), "{status}");
    let verify = ok(repo, &["audit", "verify"]);
    assert!(verify.contains("every chain is intact"), "{verify}");
    let fsck = repo
        .command("git")
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "git fsck: {}", stderr(&fsck));
}

#[test]
fn a_sha256_repository_gets_sha256_objects_that_git_reads() {
    let repo = repo_with(&["--object-format=sha256"]);
    journey(&repo);
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/s1"]);
    assert_eq!(tip.trim().len(), 64, "not a SHA-256 id: {tip}");
    assert_eq!(repo.git(&["cat-file", "-t", tip.trim()]).trim(), "commit");
    let audit = repo.git(&["rev-parse", "refs/ddx/audit"]);
    assert_eq!(audit.trim().len(), 64);
    // The change tracker records the artifact under the id git gives it.
    // (As rendered, before the journey edited it.)
    repo.write("rendered.md", "# shop\n\nThe problem.\n");
    let blob = repo.git(&["hash-object", "rendered.md"]);
    let state = repo.git(&["show", "refs/ddx/instances/s1:state.yml"]);
    assert!(
        state.contains(blob.trim()),
        "state.yml does not record docs/brief.md as {blob}:\n{state}"
    );
    let log = repo.git(&["log", "--format=%s", "refs/ddx/audit"]);
    assert_eq!(log.lines().count(), 5, "{log}");
}

#[test]
fn a_reftable_repository_keeps_ddx_refs_where_git_reads_them() {
    let repo = repo_with(&["--ref-format=reftable"]);
    journey(&repo);
    // No loose ref files: every ref is in the reftable, and git lists ddx's.
    assert!(!repo.path(".git/refs/ddx").exists());
    let refs = repo.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/ddx",
        "refs/notes",
    ]);
    let names: Vec<&str> = refs.lines().collect();
    assert_eq!(
        names,
        [
            "refs/ddx/audit",
            "refs/ddx/checkpoints/s1/cp1",
            "refs/ddx/instances/s1",
            "refs/notes/ddx"
        ],
        "{refs}"
    );
    // Every move is in git's reflog of the ref.
    let log = repo.git(&["reflog", "show", "--format=%gs", "refs/ddx/instances/s1"]);
    assert_eq!(log.lines().count(), 4, "{log}");
    // Revisions of the audit chain resolve as git resolves them.
    let second = repo.git(&["rev-parse", "refs/ddx/audit~1"]);
    let shown = ok(&repo, &["audit", "show", "audit~1", "--json"]);
    assert!(shown.contains(second.trim()), "{shown}");
}

#[test]
fn a_sha256_reftable_repository_works_as_git_3_makes_them() {
    let repo = repo_with(&["--object-format=sha256", "--ref-format=reftable"]);
    journey(&repo);
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/s1"]);
    assert_eq!(tip.trim().len(), 64, "not a SHA-256 id: {tip}");
    let log = repo.git(&["log", "--format=%s", "refs/ddx/audit"]);
    assert_eq!(log.lines().count(), 5, "{log}");
}

#[cfg(unix)]
#[test]
fn a_group_shared_repository_gets_the_modes_git_gives_its_own_files() {
    use std::os::unix::fs::PermissionsExt;
    let repo = repo_with(&["--shared=group"]);
    journey(&repo);
    let mode = |rel: &str| {
        std::fs::metadata(repo.path(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o7777
    };
    // git's own ref and reflog of the branch, against ddx's.
    assert_eq!(mode(".git/refs/ddx/audit"), mode(".git/refs/heads/main"));
    assert_eq!(
        mode(".git/logs/refs/ddx/audit"),
        mode(".git/logs/refs/heads/main")
    );
    assert_eq!(
        mode(".git/refs/ddx/audit") & 0o060,
        0o060,
        "refs must be group-writable"
    );
    // Every object folder and object ddx wrote has the group bits git gives.
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/s1"]);
    let tip = tip.trim();
    let folder = format!(".git/objects/{}", &tip[..2]);
    let object = format!("{folder}/{}", &tip[2..]);
    assert_eq!(
        mode(&folder) & 0o2070,
        0o2070,
        "{folder} is {:o}",
        mode(&folder)
    );
    assert_eq!(
        mode(&object) & 0o040,
        0o040,
        "{object} is {:o}",
        mode(&object)
    );
}

/// The modes of every pack and index in the repository, by file name.
#[cfg(unix)]
fn pack_modes(repo: &TestRepo) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out: Vec<(String, u32)> = std::fs::read_dir(repo.path(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(".pack") || n.ends_with(".idx")
        })
        .map(|e| {
            let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    out.sort();
    out
}

#[cfg(unix)]
#[test]
fn a_pinned_definition_is_packed_with_the_modes_git_gives_its_packs() {
    for shape in [&[][..], &["--shared=group"][..]] {
        let repo = repo_with(shape);
        // The embedded HELIX is pinned as one pack (about a hundred objects).
        ok(
            &repo,
            &["workflow", "apply", "helix", "--var", "project_name=shop"],
        );
        let ours = pack_modes(&repo);
        assert!(!ours.is_empty(), "{shape:?}: no pack was written");
        // git's own pack of the same repository, made next to it.
        repo.git(&["repack", "-q"]);
        let theirs: Vec<u32> = pack_modes(&repo)
            .into_iter()
            .filter(|(n, _)| !ours.iter().any(|(o, _)| o == n))
            .map(|(_, m)| m)
            .collect();
        assert!(!theirs.is_empty(), "{shape:?}: git wrote no pack");
        for (name, mode) in &ours {
            assert_eq!(
                *mode, theirs[0],
                "{shape:?}: {name} is {mode:o}, git's {:o}",
                theirs[0]
            );
        }
        let fsck = repo
            .command("git")
            .args(["fsck", "--strict"])
            .output()
            .unwrap();
        assert!(fsck.status.success(), "git fsck: {}", stderr(&fsck));
    }
}

#[test]
fn a_linked_worktree_shares_instances_with_the_main_one_in_every_ref_format() {
    for shape in [&[][..], &["--ref-format=reftable"][..]] {
        let repo = repo_with(shape);
        let linked = repo.path("../linked");
        repo.git(&[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            linked.to_str().unwrap(),
        ]);
        let run = |dir: &std::path::Path, args: &[&str]| {
            let out = repo
                .command(env!("CARGO_BIN_EXE_ddx"))
                .current_dir(dir)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{shape:?}: ddx {args:?} in {}: {}",
                dir.display(),
                stderr(&out)
            );
            stdout(&out)
        };
        // Applied in the linked worktree, its artifact lands there; the instance is the
        // repository's, seen and moved from the main worktree too.
        run(
            &linked,
            &[
                "workflow",
                "apply",
                "./wf",
                "--var",
                "project_name=shop",
                "--id",
                "w1",
            ],
        );
        assert!(linked.join("docs/brief.md").is_file(), "{shape:?}");
        assert!(!repo.path("docs/brief.md").exists(), "{shape:?}");
        run(
            &repo.path(""),
            &["gate", "approve", "frame", "1", "-i", "w1"],
        );
        let status = run(&linked, &["workflow", "status", "--json", "-i", "w1"]);
        let v: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(
            v["phases"][0]["criteria"][0]["status"], "approved",
            "{status}"
        );
        // The event records the linked worktree's own HEAD as its project commit.
        let side = repo.git(&["rev-parse", "side"]);
        let trailers = repo.git(&[
            "log",
            "--format=%(trailers:key=Ddx-Project-Commit,valueonly)",
            "refs/ddx/instances/w1",
        ]);
        assert!(trailers.contains(side.trim()), "{shape:?}: {trailers}");
        // One journal for both, in the common git folder.
        assert!(repo.path(".git/ddx/heads").is_file(), "{shape:?}");
        assert!(run(&linked, &["audit", "verify"]).contains("every chain is intact"));
        let fsck = repo
            .command("git")
            .args(["fsck", "--strict"])
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{shape:?}: git fsck: {}",
            stderr(&fsck)
        );
    }
}
