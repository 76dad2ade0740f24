//! `ddx agents`: every agent's files written once, kept current on transitions, never over a
//! user's edit, and removed exactly. Checked with git and the files' own formats.

mod common;

use common::TestRepo;
use serde_json::Value;

const USER_TEXT: &str = "# Our agents\n\nRun the tests before you push.\n";

fn applied() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "# shop\n");
    repo.write("AGENTS.md", USER_TEXT);
    repo.commit_all("initial");
    repo.ddx_ok(&[
        "workflow",
        "apply",
        "helix",
        "--var",
        "project_name=shop",
        "--id",
        "h-1",
    ]);
    repo.commit_all("frame artifacts");
    repo
}

/// The YAML front matter of a markdown file, parsed.
fn front_matter(text: &str) -> serde_yaml::Value {
    let rest = text
        .strip_prefix("---\n")
        .expect("front matter opens the file");
    let (yaml, _) = rest.split_once("\n---\n").expect("front matter closes");
    serde_yaml::from_str(yaml).expect("front matter is YAML")
}

/// The files of `dir` (relative to the repository) whose names end in `suffix`, with their text.
fn files_in(repo: &TestRepo, dir: &str, suffix: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(repo.path(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .map(|n| {
            let rel = format!("{dir}/{n}");
            let text = repo.read(&rel);
            (rel, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no {suffix} files in {dir}");
    out
}

/// A YAML string field of parsed front matter.
fn yaml_string<'v>(fm: &'v serde_yaml::Value, key: &str, path: &str) -> &'v str {
    fm.get(key)
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or_else(|| panic!("{path}: `{key}` is a string: {fm:?}"))
}

#[test]
fn every_agents_files_parse_in_the_format_it_documents() {
    let repo = applied();
    repo.ddx_ok(&["agents", "install", "--agent", "all"]);
    // The commands every agent gets: the three of ddx, the workflow's and the phase's actions.
    let names = [
        "status",
        "next",
        "check",
        "status-report",
        "frame-challenge-priorities",
    ];

    // Claude Code: markdown with YAML front matter; `$ARGUMENTS` for what follows the command.
    let claude = files_in(&repo, ".claude/commands/ddx", ".md");
    for (path, text) in &claude {
        let fm = front_matter(text);
        assert!(!yaml_string(&fm, "description", path).is_empty());
        assert_eq!(yaml_string(&fm, "allowed-tools", path), "Bash(ddx:*)");
        yaml_string(&fm, "argument-hint", path);
        assert!(text.contains("`ddx "), "{path}");
    }
    for n in names {
        assert!(
            claude.iter().any(|(p, _)| p.ends_with(&format!("/{n}.md"))),
            "{n}"
        );
    }
    assert!(repo
        .read(".claude/commands/ddx/frame-challenge-priorities.md")
        .contains("ddx action run frame/challenge-priorities -i h-1 -- $ARGUMENTS"));

    // Copilot (VS Code prompt files): optional YAML front matter, `agent` mode, `${input:…}`.
    let copilot = files_in(&repo, ".github/prompts", ".prompt.md");
    for (path, text) in &copilot {
        assert!(path.contains("/ddx-"), "{path}");
        let fm = front_matter(text);
        assert!(!yaml_string(&fm, "description", path).is_empty());
        assert_eq!(yaml_string(&fm, "agent", path), "agent");
        yaml_string(&fm, "argument-hint", path);
    }
    assert_eq!(copilot.len(), claude.len());
    assert!(repo
        .read(".github/prompts/ddx-status-report.prompt.md")
        .contains("-- ${input:args}"));

    // Cursor: an always-applied rule (.mdc front matter) and plain markdown commands.
    let rule = repo.read(".cursor/rules/ddx.mdc");
    let fm = front_matter(&rule);
    assert_eq!(fm.get("alwaysApply"), Some(&serde_yaml::Value::Bool(true)));
    assert!(!yaml_string(&fm, "description", ".cursor/rules/ddx.mdc").is_empty());
    assert!(rule.contains("ddx gate check --json"), "{rule}");
    assert!(!rule.contains("ddx:agents:begin"), "{rule}");
    let cursor = files_in(&repo, ".cursor/commands", ".md");
    for (path, text) in &cursor {
        assert!(text.starts_with("# "), "{path}: {text}");
        assert!(!text.starts_with("---"), "{path}");
        assert!(text.contains("`ddx "), "{path}");
    }
    assert_eq!(cursor.len(), claude.len());

    // Gemini CLI: TOML with a required `prompt` and a `description`; `{{args}}` for arguments.
    let gemini = files_in(&repo, ".gemini/commands/ddx", ".toml");
    for (path, text) in &gemini {
        let table: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        assert_eq!(keys, ["description", "prompt"], "{path}");
        assert!(
            table["prompt"].as_str().unwrap().contains("`ddx "),
            "{path}"
        );
        assert!(!table["description"].as_str().unwrap().is_empty(), "{path}");
    }
    assert_eq!(gemini.len(), claude.len());
    let check: toml::Table =
        toml::from_str(&repo.read(".gemini/commands/ddx/status-report.toml")).unwrap();
    assert!(
        check["prompt"].as_str().unwrap().contains("-- {{args}}"),
        "{check:?}"
    );

    // Codex and the others: AGENTS.md, one ddx section between the marker lines.
    let agents_md = repo.read("AGENTS.md");
    assert_eq!(agents_md.matches("<!-- ddx:agents:begin").count(), 1);
    assert_eq!(agents_md.matches("<!-- ddx:agents:end -->").count(), 1);
    assert!(agents_md.contains("`ddx workflow status --json`"));
}

#[test]
fn install_keeps_users_text_refreshes_on_transitions_and_removes_exactly() {
    let repo = applied();
    repo.ddx_ok(&["agents", "install", "--agent", "all"]);
    let agents_md = repo.read("AGENTS.md");
    assert!(agents_md.starts_with(USER_TEXT), "{agents_md}");
    assert!(
        agents_md.contains("Phase in progress: Frame the problem (`frame`)"),
        "{agents_md}"
    );
    assert!(
        agents_md.contains("`docs/helix/01-frame/prd.md`"),
        "{agents_md}"
    );

    for (path, key) in [
        (".claude/commands/ddx/status.md", "description"),
        (".claude/commands/ddx/next.md", "allowed-tools"),
        (".github/prompts/ddx-check.prompt.md", "agent"),
        (".cursor/rules/ddx.mdc", "alwaysApply"),
    ] {
        let text = repo.read(path);
        assert!(front_matter(&text).get(key).is_some(), "{path}: {text}");
        assert!(text.contains("ddx "), "{path}");
    }
    assert!(repo
        .read(".cursor/commands/ddx-next.md")
        .contains("ddx workflow next"));
    let gemini: toml::Table =
        toml::from_str(&repo.read(".gemini/commands/ddx/check.toml")).unwrap();
    assert!(
        gemini["prompt"]
            .as_str()
            .unwrap()
            .contains("ddx gate check"),
        "{gemini:?}"
    );

    // A second install changes nothing.
    repo.commit_all("agents");
    repo.ddx_ok(&["agents", "install", "--agent", "all"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    // The instance moves on: the section names the new phase.
    repo.ddx_ok(&["phase", "complete", "frame", "--force"]);
    repo.ddx_ok(&["gate", "approve", "design", "1"]);
    repo.ddx_ok(&["gate", "approve", "design", "2"]);
    repo.ddx_ok(&["phase", "start", "design"]);
    let agents_md = repo.read("AGENTS.md");
    assert!(agents_md.contains("(`design`)"), "{agents_md}");
    assert!(!agents_md.contains("(`frame`)"), "{agents_md}");
    assert!(agents_md.starts_with(USER_TEXT));

    // An edited command file is reported as edited, and kept by remove.
    repo.write(".claude/commands/ddx/status.md", "mine\n");
    let status: Value = repo.ddx_json(&["agents", "status", "--json"]);
    let files = status["files"].as_array().unwrap();
    let state = |p: &str| {
        files
            .iter()
            .find(|f| f["path"] == p)
            .map(|f| f["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        state(".claude/commands/ddx/status.md").as_deref(),
        Some("edited")
    );
    assert_eq!(
        state(".claude/commands/ddx/next.md").as_deref(),
        Some("current")
    );
    assert_eq!(state("AGENTS.md").as_deref(), Some("current"));

    repo.ddx_ok(&["agents", "remove"]);
    assert_eq!(repo.read(".claude/commands/ddx/status.md"), "mine\n");
    assert!(!repo.path(".claude/commands/ddx/next.md").exists());
    assert!(!repo.path(".gemini").exists());
    assert!(!repo.path(".cursor/rules/ddx.mdc").exists());
    assert!(!repo.path(".github/prompts/ddx-check.prompt.md").exists());
    assert_eq!(repo.read("AGENTS.md"), USER_TEXT);
}

#[test]
fn dry_run_writes_nothing_and_a_foreign_file_needs_force() {
    let repo = applied();
    repo.write(".claude/commands/ddx/status.md", "theirs\n");
    repo.commit_all("their command");
    let out = repo.ddx_ok(&["agents", "install", "--agent", "claude", "--dry-run"]);
    assert!(
        out.contains("new         .claude/commands/ddx/next.md"),
        "{out}"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    repo.ddx_ok(&["agents", "install", "--agent", "claude"]);
    assert_eq!(repo.read(".claude/commands/ddx/status.md"), "theirs\n");
    repo.ddx_ok(&["agents", "install", "--agent", "claude", "--force"]);
    assert!(repo
        .read(".claude/commands/ddx/status.md")
        .contains("ddx workflow status"));
}

/// The identity of the file at `rel`: a rewrite (temporary file renamed over it) changes it.
#[cfg(unix)]
fn file_id(repo: &TestRepo, rel: &str) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(repo.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (m.ino(), m.modified().unwrap())
}

#[test]
fn the_engine_refreshes_the_files_when_called_as_a_library() {
    use ddx::engine::machine::Op;
    let repo = applied();
    repo.ddx_ok(&[
        "agents", "install", "--agent", "claude", "--agent", "gemini",
    ]);
    // The frame phase's own actions are commands while it is in progress.
    assert!(repo
        .path(".claude/commands/ddx/frame-challenge-priorities.md")
        .exists());
    assert!(repo
        .path(".gemini/commands/ddx/frame-challenge-priorities.toml")
        .exists());
    assert!(!repo
        .path(".claude/commands/ddx/design-review-design.md")
        .exists());
    // Workflow actions are commands in every phase.
    assert!(repo.path(".claude/commands/ddx/status-report.md").exists());
    // An edited command of the frame phase outlives it, named by status.
    repo.write(
        ".gemini/commands/ddx/frame-challenge-priorities.toml",
        "prompt = \"mine\"\n",
    );

    let store = ddx::store::Repo::discover(&repo.path("")).unwrap();
    let engine = ddx::engine::Engine::new(&store).unwrap();
    let complete = Op::Complete {
        phase: "frame".into(),
        force: true,
    };
    assert!(engine
        .apply("h-1", &complete, None, false)
        .unwrap()
        .changed());
    let agents_md = repo.read("AGENTS.md");
    assert!(
        agents_md.contains("No phase is in progress."),
        "{agents_md}"
    );
    assert!(!agents_md.contains("(`frame`)"), "{agents_md}");
    assert!(agents_md.starts_with(USER_TEXT));
    // Stale commands that still hold ddx's content are gone; the edited one is kept.
    assert!(!repo
        .path(".claude/commands/ddx/frame-challenge-priorities.md")
        .exists());
    assert!(!repo
        .path(".claude/commands/ddx/frame-interview-stakeholders.md")
        .exists());
    assert_eq!(
        repo.read(".gemini/commands/ddx/frame-challenge-priorities.toml"),
        "prompt = \"mine\"\n"
    );
    assert!(repo.path(".claude/commands/ddx/status-report.md").exists());

    let approve = Op::Approve {
        phase: "design".into(),
        criteria: vec!["1".into(), "2".into()],
        comment: None,
    };
    engine.apply("h-1", &approve, None, false).unwrap();
    let start = Op::Start {
        phase: "design".into(),
        force: false,
    };
    engine.apply("h-1", &start, None, false).unwrap();
    assert!(repo.read("AGENTS.md").contains("(`design`)"));
    assert!(repo
        .read(".claude/commands/ddx/design-review-design.md")
        .contains("ddx action run design/review-design -i h-1"));

    let status: Value = repo.ddx_json(&["agents", "status", "--json"]);
    let kept = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == ".gemini/commands/ddx/frame-challenge-priorities.toml")
        .unwrap_or_else(|| panic!("the edited stale file is named: {status:#}"));
    assert_eq!(kept["state"], "edited");
    assert_eq!(kept["stale"], true);
    let text = repo.ddx_ok(&["agents", "status"]);
    assert!(
        text.contains(
            "edited    .gemini/commands/ddx/frame-challenge-priorities.toml  (no longer used; kept because it was edited)"
        ),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn an_unchanged_refresh_touches_no_file_and_records_no_event() {
    let repo = applied();
    repo.ddx_ok(&["agents", "install", "--agent", "all"]);
    repo.commit_all("agents");
    let watched = [
        "AGENTS.md",
        ".claude/commands/ddx/status.md",
        ".cursor/rules/ddx.mdc",
        ".gemini/commands/ddx/check.toml",
        ".git/ddx/agents.json",
    ];
    let before: Vec<_> = watched.iter().map(|p| file_id(&repo, p)).collect();
    let events = |r: &TestRepo| r.git(&["rev-list", "--count", "refs/ddx/audit"]);
    let audit = events(&repo);
    // Pausing changes the instance, not what the agents are told.
    repo.ddx_ok(&["workflow", "pause"]);
    let after: Vec<_> = watched.iter().map(|p| file_id(&repo, p)).collect();
    assert_eq!(before, after);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert_eq!(
        events(&repo).trim().parse::<u64>().unwrap(),
        audit.trim().parse::<u64>().unwrap() + 1,
        "the pause is the only event"
    );
}

#[test]
fn the_installed_agents_live_in_the_config_with_the_users_keys_and_comments() {
    let repo = applied();
    let config = "# our team settings\nagent:\n  command: claude -p   # the agent we use\n";
    repo.write(".ddx/config.yml", config);
    repo.ddx_ok(&[
        "agents", "install", "--agent", "cursor", "--agent", "claude",
    ]);
    let text = repo.read(".ddx/config.yml");
    assert!(text.starts_with(config), "{text}");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        parsed["agents"],
        serde_yaml::from_str::<serde_yaml::Value>("[claude, cursor]").unwrap()
    );
    assert_eq!(parsed["agent"]["command"], "claude -p");
    let status: Value = repo.ddx_json(&["agents", "status", "--json"]);
    assert_eq!(status["agents"], serde_json::json!(["claude", "cursor"]));

    // Removing one agent keeps the other listed; removing the last drops the key only.
    repo.ddx_ok(&["agents", "remove", "--agent", "cursor"]);
    let parsed: serde_yaml::Value = serde_yaml::from_str(&repo.read(".ddx/config.yml")).unwrap();
    assert_eq!(
        parsed["agents"],
        serde_yaml::from_str::<serde_yaml::Value>("[claude]").unwrap()
    );
    repo.ddx_ok(&["agents", "remove"]);
    assert_eq!(repo.read(".ddx/config.yml"), config);
}

#[test]
fn an_old_local_record_is_read_and_moved_to_the_config() {
    let repo = applied();
    repo.ddx_ok(&["agents", "install", "--agent", "claude"]);
    // The record as ddx wrote it before the list moved: agents in .git/ddx/agents.json.
    std::fs::remove_file(repo.path(".ddx/config.yml")).unwrap();
    let local = repo.path(".git/ddx/agents.json");
    let mut old: Value = serde_json::from_str(&std::fs::read_to_string(&local).unwrap()).unwrap();
    old["agents"] = serde_json::json!(["claude"]);
    std::fs::write(&local, serde_json::to_string(&old).unwrap()).unwrap();

    let status: Value = repo.ddx_json(&["agents", "status", "--json"]);
    assert_eq!(status["agents"], serde_json::json!(["claude"]));
    // Still kept current on a transition.
    repo.ddx_ok(&["phase", "complete", "frame", "--force"]);
    assert!(repo.read("AGENTS.md").contains("No phase is in progress."));
    // The next install writes the list into the config.
    repo.ddx_ok(&["agents", "install", "--agent", "claude"]);
    let parsed: serde_yaml::Value = serde_yaml::from_str(&repo.read(".ddx/config.yml")).unwrap();
    assert_eq!(
        parsed["agents"],
        serde_yaml::from_str::<serde_yaml::Value>("[claude]").unwrap()
    );
}

#[test]
fn a_bad_agents_list_in_the_config_is_an_error_naming_the_file() {
    let repo = applied();
    repo.write(".ddx/config.yml", "agents: [claude, vim]\n");
    let out = repo.ddx(&["agents", "status"]);
    assert_eq!(out.status.code(), Some(4), "an invalid config");
    let err = common::stderr(&out);
    assert!(
        err.contains(
            "the agents record .ddx/config.yml is not valid: `agents` lists vim, which is not one of claude, copilot, cursor, gemini, codex"
        ),
        "{err}"
    );
}

#[test]
fn hooks_merge_into_claudes_settings_and_remove_takes_out_only_ddxs() {
    let repo = applied();
    let settings = "{\n  \"permissions\": {\n    \"deny\": [\n      \"Read(./.env)\"\n    ]\n  },\n  \"hooks\": {\n    \"PostToolUse\": [\n      {\n        \"matcher\": \"Edit|Write\",\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"cargo fmt\"\n          }\n        ]\n      }\n    ]\n  }\n}\n";
    repo.write(".claude/settings.json", settings);
    repo.commit_all("our settings");

    let out = repo.ddx_ok(&[
        "agents",
        "install",
        "--agent",
        "claude",
        "--hooks",
        "--dry-run",
    ]);
    assert!(
        out.contains("would add hook  .claude/settings.json (Stop: ddx gate check)"),
        "{out}"
    );
    assert_eq!(repo.read(".claude/settings.json"), settings);

    repo.ddx_ok(&["agents", "install", "--agent", "claude", "--hooks"]);
    let doc: Value = serde_json::from_str(&repo.read(".claude/settings.json")).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["permissions", "hooks"]);
    assert_eq!(doc["permissions"]["deny"][0], "Read(./.env)");
    assert_eq!(
        doc["hooks"]["PostToolUse"][0]["hooks"][0]["command"],
        "cargo fmt"
    );
    assert_eq!(
        doc["hooks"]["Stop"],
        serde_json::json!([{ "hooks": [{ "type": "command", "command": "ddx gate check" }] }])
    );
    let status: Value = repo.ddx_json(&["agents", "status", "--json"]);
    assert_eq!(
        status["hooks"],
        serde_json::json!([{ "path": ".claude/settings.json", "event": "Stop",
            "command": "ddx gate check", "state": "current" }])
    );

    // Once is enough: a second install leaves the settings alone.
    repo.commit_all("agents");
    repo.ddx_ok(&["agents", "install", "--agent", "claude", "--hooks"]);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    // The user adds a key meanwhile; remove takes out exactly ddx's hook.
    let mut edited = doc.clone();
    edited["model"] = Value::from("opus");
    repo.write(
        ".claude/settings.json",
        serde_json::to_string_pretty(&edited).unwrap() + "\n",
    );
    let out = repo.ddx_ok(&["agents", "remove"]);
    assert!(out.contains("hook removed  .claude/settings.json"), "{out}");
    let after: Value = serde_json::from_str(&repo.read(".claude/settings.json")).unwrap();
    let mut expected: Value = serde_json::from_str(settings).unwrap();
    expected["model"] = Value::from("opus");
    assert_eq!(after, expected);
    assert!(!repo.path(".claude/commands").exists());
}

#[test]
fn hooks_alone_create_the_settings_and_remove_deletes_what_only_ddx_wrote() {
    let repo = applied();
    repo.ddx_ok(&["agents", "install", "--agent", "claude", "--hooks"]);
    assert!(repo
        .read(".claude/settings.json")
        .contains("ddx gate check"));
    repo.ddx_ok(&["agents", "remove"]);
    assert!(!repo.path(".claude").exists());
    // A settings file ddx cannot read is named, and nothing is written.
    repo.write(".claude/settings.json", "{ \"hooks\": [] }\n");
    let out = repo.ddx(&["agents", "install", "--agent", "claude", "--hooks"]);
    assert_eq!(out.status.code(), Some(4), "settings that do not parse");
    assert!(
        common::stderr(&out).contains(
            "cannot merge ddx's hook into .claude/settings.json: `hooks` is not an object; nothing in it was changed"
        ),
        "{}",
        common::stderr(&out)
    );
    assert!(!repo.path(".claude/commands").exists());
}

#[test]
fn a_clone_without_the_local_record_adopts_ddxs_files_and_names_the_others() {
    let repo = applied();
    repo.ddx_ok(&["agents", "install", "--agent", "claude"]);
    // As in a fresh clone of a repository whose agents' files were committed elsewhere.
    std::fs::remove_file(repo.path(".git/ddx/agents.json")).unwrap();
    repo.write(".claude/commands/ddx/status.md", "theirs\n");
    let out = repo.ddx(&["phase", "complete", "frame", "--force"]);
    assert!(out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains(
            "agents: left .claude/commands/ddx/status.md as it is: ddx has no record of writing it in this clone (`ddx agents install --force` takes it over)"
        ),
        "{err}"
    );
    assert_eq!(repo.read(".claude/commands/ddx/status.md"), "theirs\n");
    // ddx's section is known by its markers; a file as ddx would write it is adopted.
    assert!(repo.read("AGENTS.md").contains("No phase is in progress."));
    let status: Value = repo.ddx_json(&["agents", "status", "--json"]);
    let files = status["files"].as_array().unwrap();
    let state = |p: &str| {
        files
            .iter()
            .find(|f| f["path"] == p)
            .map(|f| f["state"].clone())
    };
    assert_eq!(
        state(".claude/commands/ddx/next.md"),
        Some(Value::from("current"))
    );
    assert_eq!(state("AGENTS.md"), Some(Value::from("current")));
    assert_eq!(state(".claude/commands/ddx/status.md"), None);
}

#[test]
fn install_and_remove_say_in_json_what_they_did_to_each_file() {
    let repo = applied();
    let dry = repo.ddx_json(&[
        "agents",
        "install",
        "--agent",
        "claude",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert!(!repo.path(".claude").exists(), "a dry run wrote files");
    let done = repo.ddx_json(&["agents", "install", "--agent", "claude", "--json"]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["agents"], serde_json::json!(["claude"]));
    let files = done["files"].as_array().expect("files");
    assert!(!files.is_empty(), "{done}");
    for f in files {
        let path = f["path"].as_str().expect("a path");
        assert!(repo.path(path).is_file(), "{path} was not written");
    }
    let removed = repo.ddx_json(&["agents", "remove", "--json"]);
    let removed = removed["files"].as_array().expect("files");
    assert!(
        removed.iter().any(|r| r["outcome"] == "removed"),
        "{removed:?}"
    );
    assert!(!repo.path(".claude/commands/ddx").exists());
}
