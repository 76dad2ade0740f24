//! `ddx repo`: registered repositories fetched into refs/ddx/sources/<name>, checked with git.

mod common;

use common::{stderr, stdout, TestRepo};
use serde_json::Value;
use std::path::PathBuf;

/// An upstream work repository with workflows at `dir`, and a bare clone of it to register.
struct Upstream {
    work: TestRepo,
    bare: PathBuf,
}

impl Upstream {
    fn new(dir: &str, names: &[&str]) -> Upstream {
        let work = TestRepo::new();
        for n in names {
            work.write(
                &format!("{dir}{n}/workflow.yml"),
                format!("name: {n}\nversion: 1.0.0\ndescription: {n} from the team\nphases:\n  - id: go\n"),
            );
        }
        work.write("README.md", "team catalog\n");
        work.commit_all("workflows");
        let bare = work.home.join("team.git");
        work.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
        Upstream { work, bare }
    }

    fn url(&self) -> &str {
        self.bare.to_str().unwrap()
    }

    /// Commits a new workflow upstream and pushes it to the bare repository.
    fn publish(&self, name: &str) -> String {
        self.work.write(
            &format!("workflows/{name}/workflow.yml"),
            format!("name: {name}\nphases:\n  - id: go\n"),
        );
        self.work.commit_all(name);
        self.work.git(&["push", "-q", self.url(), "main"]);
        self.work.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn head(&self) -> String {
        self.work.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }
}

fn names_from(repo: &TestRepo, source: &str) -> Vec<String> {
    repo.ddx_json(&["workflow", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["source"] == source)
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

fn source_ref(repo: &TestRepo, name: &str) -> String {
    repo.git(&[
        "for-each-ref",
        "--format=%(objectname)",
        &format!("refs/ddx/sources/{name}"),
    ])
    .trim()
    .to_owned()
}

#[test]
fn an_added_repository_is_listed_after_the_fetch_and_gone_after_remove() {
    let up = Upstream::new("workflows/", &["teamflow", "hotfix"]);
    let repo = TestRepo::new();
    repo.commit_all("initial");

    let out = repo.ddx_ok(&["repo", "add", "team", up.url()]);
    assert_eq!(
        out,
        format!(
            "Added `team` ({}, branch main): fetched {} into refs/ddx/sources/team.\n2 workflows in workflows/: hotfix, teamflow\n",
            up.url(),
            &up.head()[..12]
        )
    );
    // What git sees: the ref, its reflog, the config, a clean object database.
    assert_eq!(source_ref(&repo, "team"), up.head());
    let reflog = repo.git(&["reflog", "show", "--format=%gs", "refs/ddx/sources/team"]);
    assert_eq!(
        reflog.trim(),
        format!("ddx repo add team: main of {}", up.url())
    );
    assert_eq!(
        repo.read(".ddx/config.yml"),
        format!("repositories:\n- name: team\n  url: {}\n", up.url())
    );
    repo.git(&["fsck", "--full", "--no-progress"]);
    assert_eq!(
        repo.git(&[
            "cat-file",
            "-t",
            &format!("{}:workflows/teamflow/workflow.yml", up.head())
        ])
        .trim(),
        "blob"
    );

    assert_eq!(names_from(&repo, "repo:team"), ["hotfix", "teamflow"]);
    let shown = repo.ddx_json(&["workflow", "show", "teamflow", "--json"]);
    assert_eq!(shown["source"], "repo:team");
    assert_eq!(shown["description"], "teamflow from the team");

    let listed = repo.ddx_json(&["repo", "list", "--json"]);
    assert_eq!(listed[0]["name"], "team");
    assert_eq!(listed[0]["commit"], up.head().as_str());
    assert_eq!(listed[0]["workflows"], 2);
    assert_eq!(listed[0]["configured"], true);

    let removed = repo.ddx_ok(&["repo", "remove", "team"]);
    assert!(
        removed
            .starts_with("Removed `team` from .ddx/config.yml and deleted refs/ddx/sources/team"),
        "{removed}"
    );
    assert_eq!(source_ref(&repo, "team"), "");
    assert_eq!(repo.read(".ddx/config.yml"), "");
    assert!(names_from(&repo, "repo:team").is_empty());
    assert_eq!(
        repo.ddx_json(&["repo", "list", "--json"]),
        Value::Array(vec![])
    );

    let again = repo.ddx(&["repo", "remove", "team"]);
    assert_eq!(again.status.code(), Some(5));
    assert!(stderr(&again).contains("error: no repository named `team` is registered"));
}

#[test]
fn fetch_moves_the_source_with_a_reflog_and_the_catalog_follows() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::new();
    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    let first = up.head();

    let up_to_date = repo.ddx_ok(&["repo", "fetch"]);
    assert_eq!(
        up_to_date,
        format!("team: up to date at {} (main)\n", &first[..12])
    );

    let second = up.publish("release");
    let dry = repo.ddx(&["repo", "fetch", "team", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0));
    assert_eq!(source_ref(&repo, "team"), first, "a dry run moves nothing");
    assert!(stdout(&dry).contains("would move"));

    let moved = repo.ddx_ok(&["repo", "fetch", "team"]);
    assert_eq!(
        moved,
        format!("team: moved {} -> {} (main)\n", &first[..12], &second[..12])
    );
    assert_eq!(source_ref(&repo, "team"), second);
    let reflog = repo.git(&["reflog", "show", "--format=%H %gs", "refs/ddx/sources/team"]);
    let lines: Vec<&str> = reflog.lines().collect();
    assert_eq!(lines.len(), 2, "{reflog}");
    assert!(lines[0].starts_with(&second) && lines[0].contains("ddx repo fetch team: main of"));
    assert!(names_from(&repo, "repo:team").contains(&"release".to_owned()));
    repo.git(&["fsck", "--full", "--no-progress"]);
}

#[test]
fn a_source_moved_by_plain_git_fetch_is_seen() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::new();
    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    assert_eq!(names_from(&repo, "repo:team"), ["teamflow"]);
    up.publish("extra");
    // Someone updates the ref with git itself: the cache key (the tree id) changes with it.
    repo.git(&[
        "fetch",
        "-q",
        up.url(),
        "+refs/heads/main:refs/ddx/sources/team",
    ]);
    assert_eq!(names_from(&repo, "repo:team"), ["extra", "teamflow"]);
}

#[test]
fn bad_urls_missing_branches_and_duplicates_leave_the_config_unchanged() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::new();
    let config = "# our team settings\nagent:\n  command: my-agent   # keep me\n";
    repo.write(".ddx/config.yml", config);
    let refs_before = repo.git(&["for-each-ref"]);

    let missing = repo.ddx(&["repo", "add", "team", "/nonexistent/team.git"]);
    assert_eq!(missing.status.code(), Some(5));
    assert_eq!(
        stderr(&missing).lines().next().unwrap(),
        "error: `/nonexistent/team.git` is not a repository URL or path: /nonexistent/team.git does not exist"
    );

    let not_a_repo = repo.ddx(&["repo", "add", "team", repo.home.to_str().unwrap()]);
    assert_eq!(not_a_repo.status.code(), Some(1), "{}", stderr(&not_a_repo));
    assert!(stderr(&not_a_repo).starts_with("error: cannot fetch from "));

    let branch = repo.ddx(&["repo", "add", "team", up.url(), "--branch", "nope"]);
    assert_eq!(branch.status.code(), Some(5));
    assert_eq!(
        stderr(&branch).lines().next().unwrap(),
        format!("error: {} has no branch `nope` (branches: main)", up.url())
    );

    let bad_name = repo.ddx(&["repo", "add", "team/x", up.url()]);
    assert_eq!(bad_name.status.code(), Some(2));

    assert_eq!(repo.read(".ddx/config.yml"), config);
    assert_eq!(repo.git(&["for-each-ref"]), refs_before);

    // A successful add keeps the rest of the file, comments included.
    repo.ddx_ok(&["repo", "add", "team", up.url(), "--branch", "main"]);
    let saved = repo.read(".ddx/config.yml");
    assert_eq!(
        saved,
        format!(
            "{config}repositories:\n- name: team\n  url: {}\n  branch: main\n",
            up.url()
        )
    );
    let dup = repo.ddx(&["repo", "add", "team", up.url()]);
    assert_eq!(dup.status.code(), Some(6));
    assert!(stderr(&dup).contains("a repository named `team` is already registered"));
    assert_eq!(repo.read(".ddx/config.yml"), saved);
}

#[test]
fn dry_runs_change_nothing() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::new();
    repo.commit_all("initial");
    let snapshot = |r: &TestRepo| {
        (
            r.git(&["for-each-ref"]),
            r.git(&["status", "--porcelain", "--ignored"]),
            r.path(".ddx/config.yml").exists(),
        )
    };
    let before = snapshot(&repo);
    let out = repo.ddx_ok(&["repo", "add", "team", up.url(), "--dry-run"]);
    assert!(out.starts_with("Would add `team`"), "{out}");
    assert_eq!(snapshot(&repo), before);
    // Nothing was fetched either: the upstream commit is not in the object database.
    let probe = repo
        .command("git")
        .args(["cat-file", "-e", &up.head()])
        .output()
        .unwrap();
    assert!(!probe.status.success());

    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    let config = repo.read(".ddx/config.yml");
    let before = snapshot(&repo);
    let out = repo.ddx_ok(&["repo", "remove", "team", "--dry-run"]);
    assert!(out.starts_with("Would remove `team`"), "{out}");
    assert_eq!(snapshot(&repo), before);
    assert_eq!(repo.read(".ddx/config.yml"), config);
}

#[test]
fn workflows_are_found_under_library_workflows_or_at_the_root() {
    let lib = Upstream::new("library/workflows/", &["from-lib"]);
    let root = Upstream::new("", &["at-root"]);
    // At the root, folders without a workflow.yml are the repository's other content.
    root.work.write("docs/guide.md", "# guide\n");
    root.work.commit_all("docs");
    root.work.git(&["push", "-q", root.url(), "main"]);

    let repo = TestRepo::new();
    let out = repo.ddx_ok(&["repo", "add", "lib", lib.url()]);
    assert!(
        out.ends_with("1 workflow in library/workflows/: from-lib\n"),
        "{out}"
    );
    let out = repo.ddx_ok(&["repo", "add", "root", root.url()]);
    assert!(out.ends_with("1 workflow in the root: at-root\n"), "{out}");
    assert_eq!(names_from(&repo, "repo:lib"), ["from-lib"]);
    assert_eq!(names_from(&repo, "repo:root"), ["at-root"]);
    let err = stderr(&repo.ddx(&["workflow", "list"]));
    assert!(!err.contains("docs"), "{err}");
}

#[test]
fn the_project_library_shadows_a_registered_repository() {
    let up = Upstream::new("workflows/", &["shared"]);
    let repo = TestRepo::new();
    repo.write(
        ".ddx/library/workflows/shared/workflow.yml",
        "name: shared\ndescription: ours\nphases:\n  - id: a\n",
    );
    repo.commit_all("library");
    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    let shown = repo.ddx_json(&["workflow", "show", "shared", "--json"]);
    assert_eq!(shown["source"], "project");
    let all = repo.ddx_json(&["workflow", "list", "--all", "--json"]);
    let team = all
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["source"] == "repo:team")
        .unwrap();
    assert_eq!(team["shadowed_by"], "project");
    let hits = repo.ddx_json(&[
        "workflow", "search", "shared", "--source", "team", "--all", "--json",
    ]);
    assert_eq!(hits[0]["source"], "repo:team");
}

#[test]
fn repo_commands_outside_a_repository_say_so() {
    let dir = TestRepo::plain();
    let out = dir.ddx(&["repo", "list"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("is not inside a git work tree"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_url_is_fetched_and_kept_as_written() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::new();
    let url = format!("file://{}", up.url());
    repo.ddx_ok(&["repo", "add", "team", &url]);
    assert_eq!(source_ref(&repo, "team"), up.head());
    assert_eq!(
        repo.read(".ddx/config.yml"),
        format!("repositories:\n- name: team\n  url: {url}\n")
    );
    assert_eq!(names_from(&repo, "repo:team"), ["teamflow"]);
}

#[test]
fn a_config_that_does_not_parse_is_reported_and_left_alone() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::new();
    let broken = "repositories:\n  - name: [oops\n";
    repo.write(".ddx/config.yml", broken);
    let out = repo.ddx(&["repo", "add", "team", up.url()]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: {}:",
            repo.path(".ddx/config.yml").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: fix .ddx/config.yml; ddx did not change it"),
        "{err}"
    );
    assert_eq!(repo.read(".ddx/config.yml"), broken);
    assert_eq!(
        source_ref(&repo, "team"),
        "",
        "nothing was fetched into a ref"
    );
}

#[test]
fn a_large_catalog_is_summarised_not_listed_name_by_name() {
    let names: Vec<String> = (0..25).map(|i| format!("flow-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let team = Upstream::new("workflows/", &refs);
    let repo = TestRepo::new();
    let out = repo.ddx_ok(&["repo", "add", "big", team.url()]);
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "25 workflows in workflows/: flow-00, flow-01, flow-02, flow-03, flow-04, flow-05, \
         flow-06, flow-07, flow-08, flow-09, … and 15 more (`ddx workflow list` shows them all)"
    );
    // The JSON keeps every name.
    let repo2 = TestRepo::new();
    let added: Value =
        serde_json::from_str(&repo2.ddx_ok(&["repo", "add", "big", team.url(), "--json"]))
            .expect("JSON");
    assert_eq!(added["workflows"].as_array().map(Vec::len), Some(25));
}

#[test]
fn a_library_caller_of_add_and_remove_gets_the_same_audit_as_the_cli() {
    let up = Upstream::new("workflows/", &["review"]);
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    // A dry run fetches and writes nothing, the audit chain included.
    ddx::share::repos::add(&store, "team", up.url(), None, &repo.path(""), true).unwrap();
    assert!(repo.git(&["for-each-ref", "refs/ddx"]).is_empty());
    let added =
        ddx::share::repos::add(&store, "team", up.url(), None, &repo.path(""), false).unwrap();
    assert_eq!(added.workflows, ["review"]);
    let entry = repo.git(&["show", "refs/ddx/audit:entry.yml"]);
    assert!(entry.contains("operation: repo-add\n"), "{entry}");
    assert!(entry.contains(&added.commit.to_string()), "{entry}");
    let subject = repo.git(&["log", "-1", "--format=%s", "refs/ddx/audit"]);
    assert_eq!(
        subject.trim(),
        format!("ddx(audit): repo add team {}", up.url())
    );
    ddx::share::repos::remove(&store, "team", false).unwrap();
    let entry = repo.git(&["show", "refs/ddx/audit:entry.yml"]);
    assert!(entry.contains("operation: repo-remove\n"), "{entry}");
    assert_eq!(
        repo.git(&["rev-list", "--count", "refs/ddx/audit"]).trim(),
        "2"
    );
    assert!(repo.git(&["for-each-ref", "refs/ddx/sources"]).is_empty());
    repo.git(&["fsck", "--strict"]);
}

#[test]
fn a_catalog_is_added_fetched_and_removed_in_a_reftable_repository() {
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::shaped(&["--ref-format=reftable"]);
    repo.commit_all("initial");
    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    // The source ref is in the reftable (no loose file), and ddx reads it back.
    assert!(!repo.path(".git/refs/ddx").exists());
    assert_eq!(source_ref(&repo, "team"), up.head());
    assert_eq!(names_from(&repo, "repo:team"), ["teamflow"]);
    // A fetch moves it with compare-and-swap; its reflog says so.
    let new = up.publish("second");
    repo.ddx_ok(&["repo", "fetch", "team"]);
    assert_eq!(source_ref(&repo, "team"), new);
    let log = repo.git(&["reflog", "show", "--format=%gs", "refs/ddx/sources/team"]);
    assert_eq!(log.lines().count(), 2, "{log}");
    assert_eq!(names_from(&repo, "repo:team"), ["second", "teamflow"]);
    // Removing deletes the ref.
    repo.ddx_ok(&["repo", "remove", "team"]);
    assert_eq!(source_ref(&repo, "team"), "");
    let fsck = repo
        .command("git")
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "git fsck: {}", stderr(&fsck));
}

#[cfg(unix)]
#[test]
fn a_catalog_fetched_into_a_group_shared_repository_gets_gits_modes() {
    use std::os::unix::fs::PermissionsExt;
    let up = Upstream::new("workflows/", &["teamflow"]);
    let repo = TestRepo::shaped(&["--shared=group"]);
    repo.commit_all("initial");
    repo.ddx_ok(&["repo", "add", "team", up.url()]);
    assert_eq!(names_from(&repo, "repo:team"), ["teamflow"]);
    // Every pack folder entry and object folder the fetch made is group-readable (and the
    // folders group-writable), as git makes them in such a repository.
    for entry in std::fs::read_dir(repo.path(".git/objects")).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
        if entry.file_type().unwrap().is_dir() {
            assert_eq!(mode & 0o2070, 0o2070, "{:?} is {mode:o}", entry.path());
        }
    }
    for entry in std::fs::read_dir(repo.path(".git/objects/pack")).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode & 0o040, 0o040, "{:?} is {mode:o}", entry.path());
    }
}
