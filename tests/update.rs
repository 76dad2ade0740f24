//! `ddx update` and `ddx contribute` against local bare upstreams, checked with git.

mod common;

use common::{stderr, stdout, TestRepo, MINI_WORKFLOW};
use std::path::PathBuf;

/// An upstream library: a work repository with `workflows/mini/`, and a bare clone of it that
/// projects follow.
struct Upstream {
    work: TestRepo,
    bare: PathBuf,
}

impl Upstream {
    fn new() -> Upstream {
        let work = TestRepo::new();
        work.write("workflows/mini/workflow.yml", MINI_WORKFLOW);
        work.write(
            "workflows/mini/README.md",
            "# mini\n\nLine one.\nLine two.\nLine three.\n",
        );
        work.write("README.md", "the team library\n");
        work.commit_all("mini workflow");
        let bare = work.home.join("library.git");
        work.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
        Upstream { work, bare }
    }

    fn url(&self) -> &str {
        self.bare.to_str().unwrap()
    }

    /// Writes `rel` upstream, commits and pushes it; returns the new upstream commit.
    fn change(&self, rel: &str, content: &str, message: &str) -> String {
        self.work.write(rel, content);
        self.work.commit_all(message);
        self.work.git(&["push", "-q", self.url(), "main"]);
        self.work.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn bare_git(&self, args: &[&str]) -> String {
        let mut all = vec!["--git-dir", self.url()];
        all.extend_from_slice(args);
        self.work.git(&all)
    }
}

fn project() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/main.rs", "fn main() {}\n");
    repo.commit_all("initial");
    repo
}

fn head(repo: &TestRepo) -> String {
    repo.git(&["rev-parse", "HEAD"]).trim().to_owned()
}

/// Refs, index and work tree as git sees them, to compare before and after.
fn snapshot(repo: &TestRepo) -> String {
    format!(
        "{}\n--\n{}\n--\n{}",
        repo.git(&["for-each-ref"]),
        repo.git(&["ls-files", "-s"]),
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
    )
}

#[test]
fn update_brings_the_library_in_as_one_commit_naming_the_upstream() {
    let up = Upstream::new();
    let repo = project();
    let before = head(&repo);

    let out = repo.ddx_ok(&["update", "--from", up.url()]);
    let upstream = up.work.git(&["rev-parse", "HEAD"]).trim().to_owned();
    assert!(out.starts_with("Added .ddx/library/ from "), "{out}");

    // One commit on top of the old HEAD, whose second parent is the upstream commit.
    let parents = repo.git(&["log", "-1", "--format=%P"]);
    assert_eq!(parents.trim(), format!("{before} {upstream}"));
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains("git-subtree-dir: .ddx/library\n"),
        "{message}"
    );
    assert!(
        message.contains(&format!("git-subtree-split: {upstream}\n")),
        "{message}"
    );
    assert_eq!(
        repo.git(&["show", "HEAD:.ddx/library/workflows/mini/workflow.yml"]),
        MINI_WORKFLOW
    );
    assert_eq!(repo.read(".ddx/library/README.md"), "the team library\n");
    assert_eq!(
        repo.git(&["rev-parse", "refs/ddx/upstream/library"]).trim(),
        upstream
    );
    let config = repo.read(".ddx/config.yml");
    assert!(
        config.contains(&format!("library:\n  url: {}\n", up.url())),
        "{config}"
    );
    // Only the config is left to commit.
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        "?? .ddx/config.yml\n"
    );
    // The catalog sees the project library.
    let list = repo.ddx_json(&["workflow", "list", "--json"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "mini" && w["source"] == "project"),
        "{list}"
    );
    repo.git(&["fsck", "--no-progress"]);

    // Again with nothing new upstream: up to date, HEAD unmoved.
    repo.commit_all("record the library upstream");
    let at = head(&repo);
    let again = repo.ddx_ok(&["update"]);
    assert!(again.contains("is up to date"), "{again}");
    assert_eq!(head(&repo), at);
}

#[test]
fn an_upstream_change_merges_with_a_local_commit_which_stays_an_ancestor() {
    let up = Upstream::new();
    let repo = project();
    repo.ddx_ok(&["update", "--from", up.url()]);
    repo.commit_all("record the library upstream");

    // A local change to the library, committed; an upstream change to another line.
    repo.write(
        ".ddx/library/workflows/mini/README.md",
        "# mini\n\nLine one, as we say it here.\nLine two.\nLine three.\n",
    );
    repo.commit_all("mini: our wording");
    let local = head(&repo);
    let upstream = up.change(
        "workflows/mini/README.md",
        "# mini\n\nLine one.\nLine two.\nLine three, improved upstream.\n",
        "mini: better line three",
    );

    let json = repo.ddx_json(&["update", "--json"]);
    assert_eq!(json["action"], "merged", "{json}");
    assert_eq!(json["upstream"], upstream.as_str());
    assert_eq!(json["commit"], head(&repo).as_str());

    assert_eq!(
        repo.read(".ddx/library/workflows/mini/README.md"),
        "# mini\n\nLine one, as we say it here.\nLine two.\nLine three, improved upstream.\n"
    );
    // The local commit is kept in history, never rewritten.
    repo.git(&["merge-base", "--is-ancestor", &local, "HEAD"]);
    repo.git(&["merge-base", "--is-ancestor", &upstream, "HEAD"]);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%P"]).trim(),
        format!("{local} {upstream}")
    );
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(&format!("git-subtree-split: {upstream}\n")),
        "{message}"
    );
    // Upstream files landed inside the library only; the audit chain recorded both updates.
    assert!(!repo.path("workflows").exists());
    repo.ddx_ok(&["audit", "verify"]);
    let audit = repo.git(&["log", "--format=%s", "refs/ddx/audit"]);
    assert_eq!(
        audit.matches("update .ddx/library from").count(),
        2,
        "{audit}"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}

#[test]
fn an_overlapping_change_is_left_as_a_git_merge_conflict() {
    let up = Upstream::new();
    let repo = project();
    repo.ddx_ok(&["update", "--from", up.url()]);
    repo.commit_all("record the library upstream");
    repo.write(
        ".ddx/library/workflows/mini/README.md",
        "# mini\n\nLine one, ours.\nLine two.\nLine three.\n",
    );
    repo.commit_all("mini: ours");
    up.change(
        "workflows/mini/README.md",
        "# mini\n\nLine one, theirs.\nLine two.\nLine three.\n",
        "mini: theirs",
    );

    let out = repo.ddx(&["update"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("stopped with conflicts in:\n  .ddx/library/workflows/mini/README.md\n"),
        "{text}"
    );
    assert!(stderr(&out).contains("`git add`"), "{}", stderr(&out));

    // A normal git merge conflict: MERGE_HEAD, index stages, markers with both texts.
    repo.git(&["rev-parse", "-q", "--verify", "MERGE_HEAD"]);
    let stages = repo.git(&["ls-files", "-u", ".ddx/library/workflows/mini/README.md"]);
    assert_eq!(stages.lines().count(), 3, "{stages}");
    let file = repo.read(".ddx/library/workflows/mini/README.md");
    assert!(file.contains("<<<<<<< "), "{file}");
    assert!(file.contains("Line one, ours."), "{file}");
    assert!(file.contains("Line one, theirs."), "{file}");
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "UU .ddx/library/workflows/mini/README.md\n"
    );

    // Finished the git way; the commit message names the upstream commit.
    repo.write(
        ".ddx/library/workflows/mini/README.md",
        "# mini\n\nLine one, both.\nLine two.\nLine three.\n",
    );
    repo.git(&["add", ".ddx/library/workflows/mini/README.md"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(message.contains("git-subtree-split: "), "{message}");
    let again = repo.ddx_ok(&["update"]);
    assert!(again.contains("is up to date"), "{again}");
}

#[test]
fn a_dirty_library_is_refused_with_nothing_changed() {
    let up = Upstream::new();
    let repo = project();
    repo.ddx_ok(&["update", "--from", up.url()]);
    repo.commit_all("record the library upstream");
    up.change(
        "workflows/mini/README.md",
        "new upstream text\n",
        "upstream",
    );
    repo.write(
        ".ddx/library/workflows/mini/README.md",
        "uncommitted edit\n",
    );
    let before = snapshot(&repo);

    let out = repo.ddx(&["update"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "error: .ddx/library/ has uncommitted changes: .ddx/library/workflows/mini/README.md"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&repo), before);
    assert_eq!(
        repo.read(".ddx/library/workflows/mini/README.md"),
        "uncommitted edit\n"
    );

    // Staged changes elsewhere are refused too: the merge commit would take them in.
    repo.git(&["checkout", "--", ".ddx/library"]);
    repo.write("src/lib.rs", "// staged\n");
    repo.git(&["add", "src/lib.rs"]);
    let before = snapshot(&repo);
    let out = repo.ddx(&["update"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("staged changes"), "{}", stderr(&out));
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn dry_run_changes_nothing() {
    let up = Upstream::new();
    let repo = project();
    let before = snapshot(&repo);
    let objects = repo.git(&["count-objects", "-v"]);
    let out = repo.ddx_ok(&["update", "--from", up.url(), "--dry-run"]);
    assert!(out.starts_with("Would fetch "), "{out}");
    assert!(out.contains("and add it as .ddx/library/"), "{out}");
    assert_eq!(snapshot(&repo), before);
    assert_eq!(repo.git(&["count-objects", "-v"]), objects);
    assert!(!repo.path(".ddx").exists());

    repo.ddx_ok(&["update", "--from", up.url()]);
    repo.commit_all("record the library upstream");
    up.change("workflows/mini/README.md", "new\n", "upstream");
    let before = snapshot(&repo);
    let json = repo.ddx_json(&["update", "--dry-run", "--json"]);
    assert_eq!(json["action"], "merged", "{json}");
    assert_eq!(json["dry_run"], true);
    assert_eq!(snapshot(&repo), before);
    let _ = up.bare_git(&["rev-parse", "main"]);
}

#[test]
fn update_without_an_upstream_says_how_to_name_one() {
    let repo = project();
    let out = repo.ddx(&["update"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: the project library has no upstream yet"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("ddx update --from <url>"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn update_names_the_instances_a_newer_definition_can_upgrade() {
    let up = Upstream::new();
    let repo = project();
    repo.ddx_ok(&["update", "--from", up.url()]);
    repo.commit_all("record the library upstream");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "mini",
        "--var",
        "project_name=shop",
        "--id",
        "mini-1",
    ]);
    let none = repo.ddx_json(&["update", "--json"]);
    assert_eq!(none["upgrades"], serde_json::json!([]), "{none}");

    up.change(
        "workflows/mini/workflow.yml",
        &MINI_WORKFLOW.replace("version: 0.1.0", "version: 0.2.0"),
        "mini 0.2.0",
    );
    let out = repo.ddx_ok(&["update"]);
    assert!(
        out.contains(
            "Upgrade available for mini-1 (mini 0.1.0 -> 0.2.0, from project): ddx workflow upgrade -i mini-1\n"
        ),
        "{out}"
    );
    let json = repo.ddx_json(&["update", "--json"]);
    assert_eq!(json["action"], "up-to-date", "{json}");
    assert_eq!(json["upgrades"][0]["instance"], "mini-1", "{json}");
    assert_eq!(json["upgrades"][0]["available_version"], "0.2.0");
}

/// A project whose library follows `up`, committed.
fn following(up: &Upstream) -> TestRepo {
    let repo = project();
    repo.ddx_ok(&["update", "--from", up.url()]);
    repo.commit_all("record the library upstream");
    repo
}

fn bare_refs(up: &Upstream) -> String {
    up.bare_git(&["for-each-ref"])
}

#[test]
fn contribute_pushes_one_commit_on_upstreams_tip_touching_only_the_workflow() {
    let up = Upstream::new();
    up.change("docs/other.md", "unrelated upstream file\n", "docs");
    let repo = following(&up);
    let main = up.bare_git(&["rev-parse", "main"]).trim().to_owned();

    // A local commit: a new phase, a changed criterion, and a template.
    let lib = ".ddx/library/workflows/mini";
    let changed = MINI_WORKFLOW
        .replace("Success metrics defined", "Success metrics agreed")
        .replace(
            "  - id: ship\n",
            "  - id: review\n    order: 5\n    name: Review\n    depends_on: [ship]\n  - id: ship\n",
        );
    repo.write(&format!("{lib}/workflow.yml"), &changed);
    repo.write(
        &format!("{lib}/phases/01-frame/artifacts/notes/template.md"),
        "# Notes for {{ project_name }}\n",
    );
    repo.commit_all("mini: a review phase and frame notes");
    repo.ddx_ok(&["workflow", "validate", "mini"]);

    let json = repo.ddx_json(&["contribute", "mini", "--json"]);
    let branch = json["branch"].as_str().unwrap().to_owned();
    assert!(branch.starts_with("ddx/contribute/mini-"), "{json}");
    assert_eq!(json["pushed"], true);
    assert_eq!(json["path"], "workflows/mini");
    assert_eq!(
        json["changelog"]["phases"]["added"],
        serde_json::json!(["review"])
    );
    // Only the local commit is credited, not the upstream's own history.
    assert_eq!(json["credits"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(
        json["changelog"]["gates"]["added"],
        serde_json::json!(["frame exit: Success metrics agreed"])
    );
    assert_eq!(
        json["changelog"]["gates"]["removed"],
        serde_json::json!(["frame exit: Success metrics defined"])
    );
    assert_eq!(
        json["changelog"]["templates"]["added"],
        serde_json::json!(["phases/01-frame/artifacts/notes/template.md"])
    );

    // Upstream main did not move; the branch is exactly one commit on top of it.
    assert_eq!(up.bare_git(&["rev-parse", "main"]).trim(), main);
    let tip = up.bare_git(&["rev-parse", &branch]).trim().to_owned();
    assert_eq!(up.bare_git(&["rev-parse", &format!("{tip}^")]).trim(), main);
    assert_eq!(
        up.bare_git(&["rev-list", "--count", &format!("main..{branch}")])
            .trim(),
        "1"
    );
    assert_eq!(
        up.bare_git(&["diff", "--name-only", "main", &branch]),
        "workflows/mini/phases/01-frame/artifacts/notes/template.md\nworkflows/mini/workflow.yml\n"
    );
    assert_eq!(
        up.bare_git(&["show", &format!("{branch}:workflows/mini/workflow.yml")]),
        changed
    );
    let message = up.bare_git(&["log", "-1", "--format=%B", &branch]);
    assert!(
        message.starts_with("mini: local changes to 0.1.0\n\n"),
        "{message}"
    );
    assert!(message.contains("Phases:\n- added: review\n"), "{message}");
    assert!(
        message.contains("- added: frame exit: Success metrics agreed\n"),
        "{message}"
    );
    assert!(
        message.contains("- mini: a review phase and frame notes (Test User <test@example.com>, "),
        "{message}"
    );
    up.bare_git(&["fsck", "--no-progress"]);

    // Uncommitted edits of the committed library are not contributed, and it says so.
    repo.write(&format!("{lib}/README.md"), "uncommitted\n");
    let dry = repo.ddx(&["contribute", "mini", "--dry-run", "--branch", "other"]);
    assert!(
        stderr(&dry).contains(&format!(
            "1 uncommitted change under {lib} is not part of it (the committed version is): {lib}/README.md"
        )),
        "{}",
        stderr(&dry)
    );

    // The same branch again is refused, and nothing is pushed.
    let before = bare_refs(&up);
    let out = repo.ddx(&["contribute", "mini", "--branch", &branch]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "already has a branch `{branch}`; nothing was pushed"
        )),
        "{}",
        stderr(&out)
    );
    // As is the branch upstream follows.
    let out = repo.ddx(&["contribute", "mini", "--branch", "main"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(bare_refs(&up), before);
}

#[test]
fn contribute_refuses_an_invalid_workflow_and_pushes_nothing() {
    let up = Upstream::new();
    let repo = following(&up);
    repo.write(
        ".ddx/local/workflows/mini/workflow.yml",
        MINI_WORKFLOW.replace(
            "depends_on: [frame]\n    input_gates",
            "depends_on: [ship]\n    input_gates",
        ),
    );
    let before = bare_refs(&up);
    let out = repo.ddx(&["contribute", "mini"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("error: mini is invalid, so it was not contributed (nothing was pushed)"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("cycle"), "{}", stderr(&out));
    assert_eq!(bare_refs(&up), before);
}

#[test]
fn contribute_a_new_local_workflow_to_a_registered_repository() {
    let up = Upstream::new();
    let repo = project();
    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    repo.write(
        ".ddx/local/workflows/fresh/workflow.yml",
        "name: fresh\nversion: 1.0.0\ndescription: a new one\nphases:\n  - id: go\n",
    );
    let main = up.bare_git(&["rev-parse", "main"]).trim().to_owned();

    let before = bare_refs(&up);
    let dry = repo.ddx_ok(&["contribute", "fresh", "--to", "team", "--dry-run"]);
    assert!(dry.starts_with("Would push "), "{dry}");
    assert_eq!(bare_refs(&up), before);

    let out = repo.ddx_ok(&[
        "contribute",
        "fresh",
        "--to",
        "team",
        "--branch",
        "add-fresh",
        "--message",
        "fresh: a workflow for new projects",
    ]);
    assert!(out.contains("as branch add-fresh."), "{out}");
    assert_eq!(
        up.bare_git(&["diff", "--name-only", "main", "add-fresh"]),
        "workflows/fresh/workflow.yml\n"
    );
    assert_eq!(
        up.bare_git(&["log", "-1", "--format=%s", "add-fresh"])
            .trim(),
        "fresh: a workflow for new projects"
    );
    assert_eq!(up.bare_git(&["rev-parse", "main"]).trim(), main);
    assert_eq!(up.bare_git(&["rev-parse", "add-fresh^"]).trim(), main);
}

#[test]
fn update_and_contribute_work_in_sha256_and_reftable_repositories() {
    for shape in [
        &["--object-format=sha256"][..],
        &["--ref-format=reftable"][..],
    ] {
        let work = TestRepo::shaped(shape);
        work.write("workflows/mini/workflow.yml", MINI_WORKFLOW);
        work.commit_all("mini");
        let bare = work.home.join("library.git");
        work.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
        let url = bare.to_str().unwrap();

        let repo = TestRepo::shaped(shape);
        repo.commit_all("initial");
        repo.ddx_ok(&["update", "--from", url]);
        repo.commit_all("record the library upstream");
        repo.write(
            ".ddx/library/workflows/mini/workflow.yml",
            MINI_WORKFLOW.replace("Budget approved", "Budget signed off"),
        );
        repo.commit_all("mini: wording");
        work.write("workflows/mini/README.md", "# mini\n");
        work.commit_all("readme");
        work.git(&["push", "-q", url, "main"]);

        let json = repo.ddx_json(&["update", "--json"]);
        assert_eq!(json["action"], "merged", "{shape:?}: {json}");
        assert_eq!(
            repo.read(".ddx/library/workflows/mini/README.md"),
            "# mini\n"
        );
        repo.git(&["fsck", "--no-progress"]);

        let out = repo.ddx_json(&["contribute", "mini", "--branch", "wording", "--json"]);
        assert_eq!(out["pushed"], true, "{shape:?}: {out}");
        let diff = work.git(&["--git-dir", url, "diff", "--name-only", "main", "wording"]);
        assert_eq!(diff, "workflows/mini/workflow.yml\n", "{shape:?}");
    }
}

/// Copies the folder `from` to `to` inside a test repository.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_real_helix_library_merges_and_a_template_edit_is_contributed() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let work = TestRepo::new();
    copy_dir(&helix, &work.path("workflows/helix"));
    work.commit_all("helix as shipped");
    let bare = work.home.join("library.git");
    work.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let url = bare.to_str().unwrap();

    let repo = project();
    repo.ddx_ok(&["update", "--from", url]);
    repo.commit_all("record the library upstream");
    let prd = "phases/01-frame/artifacts/prd/template.md";
    let local_prd = format!(".ddx/library/workflows/helix/{prd}");
    let ours = format!("{}\n## Our house rules\n", repo.read(&local_prd));
    repo.write(&local_prd, &ours);
    repo.commit_all("helix: our PRD house rules");
    let local = head(&repo);

    let feasibility = "workflows/helix/phases/01-frame/artifacts/feasibility-study/template.md";
    let theirs = format!("{}\n## Upstream addition\n", work.read(feasibility));
    work.write(feasibility, &theirs);
    work.commit_all("helix: feasibility addition");
    work.git(&["push", "-q", url, "main"]);

    let json = repo.ddx_json(&["update", "--json"]);
    assert_eq!(json["action"], "merged", "{json}");
    assert_eq!(json["workflows"], serde_json::json!(["helix"]));
    repo.git(&["merge-base", "--is-ancestor", &local, "HEAD"]);
    assert_eq!(repo.read(&local_prd), ours);
    assert_eq!(repo.read(&format!(".ddx/library/{feasibility}")), theirs);
    repo.ddx_ok(&["workflow", "validate", "helix"]);

    let dry = repo.ddx_json(&["contribute", "helix", "--dry-run", "--json"]);
    assert_eq!(dry["pushed"], false);
    assert_eq!(
        dry["changelog"]["templates"],
        serde_json::json!({"added": [], "changed": [prd], "removed": []}),
        "{dry}"
    );
    assert_eq!(
        dry["changelog"]["files"]["changed"],
        serde_json::json!([prd])
    );
    assert_eq!(dry["changelog"]["phases"]["changed"], serde_json::json!([]));
}
