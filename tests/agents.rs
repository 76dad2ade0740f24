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

/// The `key = "string"` lines of a Gemini command (TOML basic strings, JSON-compatible).
fn toml_strings(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once(" = ").expect("key = value");
            (
                k.to_owned(),
                serde_json::from_str::<String>(v).expect("a basic string"),
            )
        })
        .collect()
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
    let gemini = toml_strings(&repo.read(".gemini/commands/ddx/check.toml"));
    assert!(gemini["prompt"].contains("ddx gate check"), "{gemini:?}");
    assert!(!gemini["description"].is_empty());

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
