//! Actions end to end: prompts printed or piped to an agent, commands run only when trusted,
//! every run recorded as an event with its exit status, output size and the files it changed.

mod common;

use common::{stderr, stdout, TestRepo};

const WORKFLOW: &str = r#"name: acts
version: 1.0.0
description: Actions for tests
variables:
  - name: project_name
    required: true
phases:
  - id: a
    order: 1
    name: A
    exit_criteria:
      - criteria: Suite passes
        check: {command: "true"}
"#;

const BUILD: &str = "---\ndescription: Builds\ncommand: \"echo built {{ project_name }} $1 > out.txt; echo ok; exit ${CODE:-0}\"\ntimeout: 20\n---\n# Build\n";
const REVIEW: &str =
    "# Review\n\nReview {{ project_name }} in phase {{ phase.id }} with {{ args | join(\", \") }}.\n";

fn setup() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("wf/workflow.yml", WORKFLOW);
    repo.write("wf/phases/01-a/actions/build.md", BUILD);
    repo.write("wf/actions/review.md", REVIEW);
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "./wf",
        "--var",
        "project_name=shop",
        "--id",
        "a-1",
    ]);
    repo
}

const REF: &str = "refs/ddx/instances/a-1";

fn trailer(repo: &TestRepo, key: &str) -> String {
    repo.git(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly,separator=%x7C)"),
        REF,
    ])
    .trim()
    .to_owned()
}

fn hash(repo: &TestRepo, path: &str) -> String {
    repo.git(&["hash-object", path]).trim().to_owned()
}

fn run_with_env(repo: &TestRepo, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = repo.command(env!("CARGO_BIN_EXE_ddx"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

#[test]
fn action_list_names_prompts_and_commands() {
    let repo = setup();
    let list = repo.ddx_json(&["action", "list", "--json"]);
    let names: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("review", "prompt"), ("a/build", "command")]);
    assert_eq!(list[1]["phase"], "a");
    assert_eq!(list[1]["timeout"], 20);
    let text = repo.ddx_ok(&["action", "list"]);
    assert!(text.contains("a/build"), "{text}");
    // Without an instance, from the catalog.
    let helix = repo.ddx_json(&["action", "list", "--workflow", "helix", "--json"]);
    assert!(helix
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "build/run-tests" && a["command"] == "{{ test_command }}"));
    let out = repo.ddx(&["action", "run", "reveiw"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("hint: did you mean `review`?"));
}

#[test]
fn a_prompt_without_an_agent_is_printed_and_nothing_is_recorded() {
    let repo = setup();
    let tip = repo.git(&["rev-parse", REF]);
    let out = repo.ddx(&["action", "run", "review", "security", "speed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "# Review\n\nReview shop in phase a with security, speed.\n"
    );
    assert!(stderr(&out).contains("No agent is configured"));
    assert_eq!(repo.git(&["rev-parse", REF]), tip);
}

#[test]
fn a_prompt_is_piped_to_the_agent_and_the_run_is_recorded() {
    let repo = setup();
    let out = run_with_env(
        &repo,
        &[("DDX_AGENT", "cat > agent-input.md; echo done")],
        &["action", "run", "review", "tests"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "done\n",
        "the agent's output is passed through"
    );
    assert_eq!(
        repo.read("agent-input.md"),
        "# Review\n\nReview shop in phase a with tests.\n"
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", REF]).trim(),
        "ddx(a-1): action review: exit 0"
    );
    assert_eq!(trailer(&repo, "Ddx-Event"), "action");
    assert_eq!(trailer(&repo, "Ddx-Action"), "review");
    assert_eq!(trailer(&repo, "Ddx-Action-Kind"), "prompt");
    assert_eq!(trailer(&repo, "Ddx-Exit-Status"), "0");
    assert_eq!(trailer(&repo, "Ddx-Output-Bytes"), "5");
    assert_eq!(
        trailer(&repo, "Ddx-Agent"),
        "cat > agent-input.md; echo done (from DDX_AGENT)"
    );
    let file = format!(
        "{}..{} agent-input.md",
        "0".repeat(40),
        hash(&repo, "agent-input.md")
    );
    assert_eq!(trailer(&repo, "Ddx-File"), file);
    let st: serde_yaml::Value =
        serde_yaml::from_str(&repo.git(&["show", &format!("{REF}:state.yml")])).unwrap();
    assert_eq!(
        st["files"]["agent-input.md"]["by"].as_str(),
        Some("action review")
    );
    assert_eq!(
        repo.git(&[
            "log",
            "-1",
            "--format=%(trailers:key=Ddx-Operation,valueonly)",
            "refs/ddx/audit"
        ])
        .trim(),
        "action"
    );

    // The team's agent from .ddx/config.yml; it changes a tracked file.
    repo.write(".ddx/config.yml", "agent:\n  command: wc -c > size.txt\n");
    repo.write("size.txt", "old\n");
    repo.commit_all("config");
    let old = hash(&repo, "size.txt");
    // A committed agent command runs once the user trusted the file (tests/trust.rs).
    repo.ddx_ok(&["trust"]);
    let out = repo.ddx(&["action", "run", "review"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(repo.read("size.txt").trim(), "40");
    assert_eq!(
        trailer(&repo, "Ddx-Agent"),
        "wc -c > size.txt (from .ddx/config.yml)"
    );
    assert_eq!(
        trailer(&repo, "Ddx-File"),
        format!("{old}..{} size.txt", hash(&repo, "size.txt"))
    );
}

#[test]
fn a_command_from_a_trusted_source_runs_and_a_failure_is_recorded_too() {
    let repo = setup();
    let out = repo.ddx(&["action", "run", "build", "fast"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
    assert_eq!(repo.read("out.txt"), "built shop fast\n");
    assert_eq!(
        trailer(&repo, "Ddx-Trusted"),
        "a path given on the command line (./wf)"
    );
    assert_eq!(trailer(&repo, "Ddx-Action"), "a/build");
    assert_eq!(trailer(&repo, "Ddx-Phase"), "a");
    assert_eq!(trailer(&repo, "Ddx-Exit-Status"), "0");
    assert_eq!(
        trailer(&repo, "Ddx-File"),
        format!("{}..{} out.txt", "0".repeat(40), hash(&repo, "out.txt"))
    );

    let before = repo.git(&["rev-parse", REF]);
    let out = run_with_env(
        &repo,
        &[("CODE", "4")],
        &["action", "run", "a/build", "slow"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("action a/build exited with 4"));
    assert_eq!(
        repo.git(&["rev-parse", &format!("{REF}~1")]),
        before,
        "the failed run is recorded"
    );
    assert_eq!(trailer(&repo, "Ddx-Exit-Status"), "4");
    assert_eq!(
        trailer(&repo, "Ddx-File"),
        format!(
            "{}..{} out.txt",
            hash_of_text(&repo, "built shop fast\n"),
            hash(&repo, "out.txt")
        )
    );
    assert_eq!(repo.read("out.txt"), "built shop slow\n");
}

fn hash_of_text(repo: &TestRepo, text: &str) -> String {
    let mut child = repo
        .command("git")
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Rewrites the instance's source as if it came from a registered repository (what `ddx repo
/// add` catalogs produce), with plain git.
fn make_untrusted(repo: &TestRepo) {
    let state = repo.git(&["show", &format!("{REF}:state.yml")]);
    assert!(state.contains("source: path:./wf\n"), "{state}");
    let state = state.replace("source: path:./wf\n", "source: repo:team\n");
    repo.write("state.tmp", &state);
    let blob = repo.git(&["hash-object", "-w", "state.tmp"]);
    std::fs::remove_file(repo.path("state.tmp")).unwrap();
    let workflow = repo.git(&["rev-parse", &format!("{REF}:workflow")]);
    let listing = format!(
        "100644 blob {}\tstate.yml\n040000 tree {}\tworkflow\n",
        blob.trim(),
        workflow.trim()
    );
    let mut child = repo
        .command("git")
        .arg("mktree")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(listing.as_bytes())
        .unwrap();
    let tree = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let old = repo.git(&["rev-parse", REF]);
    let new = repo.git(&[
        "commit-tree",
        tree.trim(),
        "-p",
        old.trim(),
        "-m",
        "fetched from team",
    ]);
    repo.git(&["update-ref", REF, new.trim(), old.trim()]);
}

#[test]
fn commands_from_an_untrusted_source_run_only_with_consent_or_config() {
    let repo = setup();
    make_untrusted(&repo);
    let tip = repo.git(&["rev-parse", REF]);
    let out = repo.ddx(&["action", "run", "build"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(
        "error: action `a/build` runs the command `echo built shop $1 > out.txt; echo ok; exit ${CODE:-0}`, which comes from repo:team, which .ddx/config.yml does not trust: refused"
    ), "{err}");
    assert!(err.contains("hint: run it anyway with --trust"), "{err}");
    assert!(!repo.path("out.txt").exists());
    assert_eq!(
        repo.git(&["rev-parse", REF]),
        tip,
        "a refusal records nothing"
    );

    // The gate's command check is not run either: it fails, saying why.
    let out = repo.ddx(&["gate", "check", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["phases"][0]["criteria"][0]["detail"],
        "not run: `true` comes from repo:team, which .ddx/config.yml does not trust; pass --trust to run it once, or `ddx trust acts` to trust the workflow as it is"
    );
    let out = repo.ddx(&["gate", "check", "--trust"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let out = repo.ddx(&["action", "run", "build", "--trust"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(trailer(&repo, "Ddx-Trusted"), "repo:team, with --trust");

    repo.write(".ddx/config.yml", "trusted_sources: [team]\n");
    repo.ddx_ok(&["trust"]);
    let out = repo.ddx(&["action", "run", "build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        trailer(&repo, "Ddx-Trusted"),
        "repo:team, trusted in .ddx/config.yml"
    );
    let out = repo.ddx(&["phase", "complete", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_registered_repository_is_trusted_only_when_the_config_says_so() {
    let upstream = TestRepo::new();
    upstream.write("workflows/acts/workflow.yml", WORKFLOW);
    upstream.write("workflows/acts/phases/01-a/actions/build.md", BUILD);
    upstream.commit_all("team workflows");
    let bare = upstream.home.join("team.git");
    upstream.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);

    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    repo.ddx_ok(&["repo", "add", "team", bare.to_str().unwrap()]);
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "acts",
        "--var",
        "project_name=shop",
        "--id",
        "a-1",
    ]);
    let state = repo.git(&["show", &format!("{REF}:state.yml")]);
    assert!(state.contains("source: repo:team\n"), "{state}");

    let out = repo.ddx(&["action", "run", "build"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out)
        .contains("which comes from repo:team, which .ddx/config.yml does not trust: refused"));
    assert!(!repo.path("out.txt").exists());

    let config = repo.read(".ddx/config.yml");
    repo.write(
        ".ddx/config.yml",
        format!("{config}trusted_sources: [team]\n"),
    );
    repo.ddx_ok(&["trust"]);
    let out = repo.ddx(&["action", "run", "build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(repo.read("out.txt"), "built shop\n");
    assert_eq!(
        trailer(&repo, "Ddx-Trusted"),
        "repo:team, trusted in .ddx/config.yml"
    );
}

#[test]
fn action_run_json_says_what_ran_what_changed_and_which_refs_moved() {
    let repo = setup();
    let before = repo.git(&["rev-parse", REF]).trim().to_owned();
    let out = repo.ddx(&["action", "run", "build", "fast", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // One JSON document; the command's own output ("ok") is not mixed in.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["ran"]["kind"], "ran");
    assert_eq!(v["ran"]["status"], 0);
    assert_eq!(v["succeeded"], true);
    assert_eq!(v["ran"]["output_bytes"], 3);
    let changes = v["ran"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{v}");
    assert_eq!(changes[0]["path"], "out.txt");
    assert_eq!(changes[0]["after"], hash(&repo, "out.txt"));
    let tip = repo.git(&["rev-parse", REF]).trim().to_owned();
    assert_eq!(v["recorded"]["event"], tip);
    let refs = v["recorded"]["refs"].as_array().unwrap();
    let moved = refs
        .iter()
        .find(|r| r["ref"] == REF)
        .unwrap_or_else(|| panic!("the instance ref moved: {refs:?}"));
    assert_eq!(moved["old"], before);
    assert_eq!(moved["new"], tip);

    // A prompt without an agent: the prompt is in the document, nothing is recorded.
    let out = repo.ddx(&["action", "run", "review", "--json", "--", "US-001"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ran"]["kind"], "printed");
    assert!(
        v["ran"]["prompt"].as_str().unwrap().contains("US-001"),
        "{v}"
    );
    assert!(v["recorded"].is_null());
    assert_eq!(repo.git(&["rev-parse", REF]).trim(), tip);
}

#[test]
fn an_action_that_says_so_is_refused_outside_its_phase() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: two\nversion: 1.0.0\ndescription: Two phases\nphases:\n  - id: a\n    order: 1\n    name: A\n  - id: b\n    order: 2\n    name: B\n    dependencies: [a]\n",
    );
    repo.write(
        "wf/phases/02-b/actions/ship.md",
        "---\ndescription: Ships\ncommand: \"touch shipped\"\nin_phase_only: true\n---\n# Ship\n",
    );
    repo.write(
        "wf/phases/02-b/actions/note.md",
        "---\ndescription: Notes\ncommand: \"touch noted\"\n---\n# Note\n",
    );
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "t-1"]);
    let before = repo.git(&["rev-parse", "refs/ddx/instances/t-1"]);
    // Phase b has not started: `ship` says it runs only in b, and is refused.
    let out = repo.ddx(&["action", "run", "ship"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("runs only while phase b is in progress, and it is pending"),
        "{err}"
    );
    assert!(err.contains("ddx phase start b"), "{err}");
    assert!(!repo.path("shipped").exists(), "the command ran");
    assert_eq!(repo.git(&["rev-parse", "refs/ddx/instances/t-1"]), before);
    // An action that does not say so runs, with a warning.
    let out = repo.ddx(&["action", "run", "note"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not in progress"), "{}", stderr(&out));
    assert!(repo.path("noted").exists());
}
