//! The trust model (docs/security.md) tried as an attacker would: a registered catalog, a
//! committed config, hostile text. Each test is one attack and asserts that it is refused.

mod common;

use common::{stderr, TestRepo};

/// A registered team catalog (a local bare repository) holding `workflows/<name>/` files.
fn team_catalog(repo: &TestRepo, files: &[(&str, &str)]) -> std::path::PathBuf {
    let upstream = TestRepo::new();
    for (path, text) in files {
        upstream.write(path, text);
    }
    upstream.commit_all("team workflows");
    let bare = upstream.home.join("team.git");
    upstream.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    repo.ddx_ok(&["repo", "add", "team", bare.to_str().unwrap()]);
    // The bare repository lives in the upstream's home, removed with it; keep it.
    std::mem::forget(upstream);
    bare
}

#[test]
fn an_untrusted_catalog_cannot_plant_a_config_or_a_local_workflow() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    team_catalog(
        &repo,
        &[
            (
                "workflows/plant/workflow.yml",
                "name: plant\nversion: 1.0.0\ndescription: Plants\nvariables:\n  - name: dir\nphases:\n  - id: a\n    order: 1\n    name: A\n",
            ),
            (
                "workflows/plant/phases/01-a/artifacts/cfg/template.md",
                "trusted_sources: [team]\nagent:\n  command: \"touch pwned\"\n",
            ),
            (
                "workflows/plant/phases/01-a/artifacts/local/template.md",
                "name: helix\n",
            ),
            (
                "workflows/plant/phases/01-a/artifacts/local/meta.yml",
                "output:\n  location: .ddx/local/workflows/helix/workflow.yml\n",
            ),
            (
                "workflows/plant/phases/01-a/artifacts/cfg/meta.yml",
                "output:\n  location: \"{dir}/config.yml\"\n",
            ),
        ],
    );
    let config_before = std::fs::read(repo.path(".ddx/config.yml")).ok();
    let out = repo.ddx(&[
        "workflow", "apply", "plant", "--var", "dir=.ddx", "--id", "p-1",
    ]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            ".ddx/config.yml is not a safe place to write: it is inside .ddx/, where ddx keeps its configuration"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(repo.path(".ddx/config.yml")).ok(),
        config_before
    );
    assert!(!repo.path("pwned").exists());
    assert!(!repo.path(".ddx/local").exists());
}

#[test]
fn a_check_never_reads_a_git_ignored_secret_into_shared_refs() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: leak\nversion: 1.0.0\ndescription: Leaks\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - criteria: Secrets\n        check: {pattern: \"API_SECRET\", path: \".\", expected: \">=1\"}\n",
    );
    repo.write(".gitignore", ".env\n");
    repo.commit_all("initial");
    repo.write(".env", "API_SECRET=hunter2\n");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "l-1"]);
    let _ = repo.ddx(&["gate", "check"]);
    let _ = repo.ddx(&["phase", "complete", "a"]);
    let objects = repo.git(&["rev-list", "--objects", "--glob=refs/ddx/*"]);
    for line in objects.lines() {
        let id = line.split(' ').next().unwrap();
        let body = repo.git(&["cat-file", "-p", id]);
        assert!(
            !body.contains("hunter2"),
            "{line} holds the secret:\n{body}"
        );
        assert!(
            !body.contains(".env"),
            "{line} names the secret file:\n{body}"
        );
    }
}

#[test]
fn a_forged_journal_never_moves_a_branch_or_points_a_ref_at_a_non_commit() {
    let repo = TestRepo::new();
    repo.write("README.md", "# one\n");
    repo.commit_all("first");
    let first = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    repo.write("README.md", "# two\n");
    repo.commit_all("second");
    let main = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let blob = repo.git(&["rev-parse", "HEAD:README.md"]).trim().to_owned();
    let heads = repo.path(".git/ddx/heads");
    std::fs::create_dir_all(heads.parent().unwrap()).unwrap();
    for (name, old, new, said) in [
        (
            "refs/heads/main",
            main.as_str(),
            first.as_str(),
            "the interrupted step names a ref outside refs/ddx/, which recovery never moves: refs/heads/main".to_owned(),
        ),
        (
            "refs/ddx/instances/x",
            main.as_str(),
            blob.as_str(),
            format!("the interrupted step moves refs/ddx/instances/x to {blob}, which is not a commit"),
        ),
    ] {
        std::fs::write(
            &heads,
            format!("step: forged\nmoves:\n  - name: {name}\n    old: {old}\n    new: {new}\n# end\n"),
        )
        .unwrap();
        let out = repo.ddx(&["workflow", "resume"]);
        assert!(!out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains(&said), "{}", stderr(&out));
        assert_eq!(repo.git(&["rev-parse", "refs/heads/main"]).trim(), main);
        assert!(repo
            .git(&["for-each-ref", "refs/ddx/instances/"])
            .trim()
            .is_empty());
    }
}

#[test]
fn a_hostile_description_never_reaches_the_terminal_raw() {
    let repo = TestRepo::new();
    repo.write(
        ".ddx/local/workflows/evil/workflow.yml",
        "name: evil\nversion: 1.0.0\ndescription: \"Nice\\e]0;pwned\\a\\e[2J\\rdone\"\nphases:\n  - id: a\n    order: 1\n    name: A\n",
    );
    repo.commit_all("initial");
    for args in [
        &["workflow", "list"][..],
        &["workflow", "show", "evil"][..],
        &["workflow", "list", "--color", "always"][..],
    ] {
        let mut cmd = repo.command(env!("CARGO_BIN_EXE_ddx"));
        let out = cmd.env("NO_COLOR", "1").args(args).output().unwrap();
        let text = common::stdout(&out);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            text.contains("Nice\\x1b]0;pwned\\x07\\x1b[2J\\x0ddone"),
            "{args:?}: {text:?}"
        );
        assert!(!text.contains(['\x07', '\r']), "{args:?}: {text:?}");
        assert!(
            !text.contains("\x1b]") && !text.contains("\x1b[2J"),
            "{args:?}: {text:?}"
        );
    }
    // JSON stays exact.
    let shown = repo.ddx_json(&["workflow", "show", "evil", "--json"]);
    assert_eq!(shown["description"], "Nice\x1b]0;pwned\x07\x1b[2J\rdone");
}

#[test]
fn a_hostile_name_is_a_validation_error_and_plants_no_trailer() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: \"evil\\nDdx-Forced: yes\"\nversion: 1.0.0\ndescription: d\nphases:\n  - id: a\n    order: 1\n    name: A\n",
    );
    repo.commit_all("initial");
    let out = repo.ddx(&["workflow", "validate", "./wf"]);
    assert!(!out.status.success());
    let err = format!("{}{}", common::stdout(&out), stderr(&out));
    assert!(
        err.contains("the workflow name \"evil\\nDdx-Forced: yes\" may contain only letters, digits, `-`, `_` and `.`"),
        "{err}"
    );
    assert!(err.contains("wf/workflow.yml:1:8: error:"), "{err}");
    let out = repo.ddx(&["workflow", "apply", "./wf", "--id", "e-1"]);
    assert!(!out.status.success());
    assert!(repo
        .git(&["for-each-ref", "refs/ddx/instances/"])
        .trim()
        .is_empty());
}

/// A workflow given by path (trusted) with one prompt action, applied as `c-1`.
fn prompt_workflow(repo: &TestRepo) {
    repo.write(
        "wf/workflow.yml",
        "name: consent\nversion: 1.0.0\ndescription: Prompts\nphases:\n  - id: a\n    order: 1\n    name: A\n",
    );
    repo.write("wf/actions/ask.md", "# Ask\nPlease review.\n");
}

#[test]
fn a_committed_agent_command_runs_only_after_the_user_trusted_that_exact_config() {
    let repo = TestRepo::new();
    prompt_workflow(&repo);
    // Anyone's pull request: a committed config whose agent plants a marker.
    repo.write(".ddx/config.yml", "agent:\n  command: \"touch marker\"\n");
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "c-1"]);
    let tip = repo.git(&["rev-parse", "refs/ddx/instances/c-1"]);

    let out = repo.ddx(&["action", "run", "ask"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "error: the agent command `touch marker` comes from .ddx/config.yml, and you have not trusted .ddx/config.yml (`ddx trust` shows what it runs and trusts it): refused"
    ), "{}", stderr(&out));
    assert!(!repo.path("marker").exists(), "the agent ran untrusted");
    assert_eq!(repo.git(&["rev-parse", "refs/ddx/instances/c-1"]), tip);

    // `ddx trust --show` says what would run and records nothing.
    let shown = repo.ddx_json(&["trust", "--show", "--json"]);
    assert_eq!(shown["status"], "untrusted");
    assert_eq!(shown["agent_command"], "touch marker");
    assert_eq!(shown["file"], ".ddx/config.yml");
    assert!(!repo.path(".git/ddx/trust").exists());
    let text = repo.ddx_ok(&["trust", "--dry-run"]);
    assert!(text.contains("agent.command: touch marker"), "{text}");
    assert!(!repo.path(".git/ddx/trust").exists());

    let out = repo.ddx(&["trust"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(common::stdout(&out).contains("agent.command: touch marker"));
    let ledger = repo.read(".git/ddx/trust");
    let hash = shown["hash"].as_str().unwrap();
    assert!(
        ledger.contains(&format!("{hash} .ddx/config.yml\n")),
        "{ledger}"
    );
    // The hash is the file's SHA-256 blob id, as git computes it.
    let sha256 = TestRepo::new();
    sha256.git(&["init", "-q", "--object-format=sha256", "s"]);
    let by_git = sha256.git(&[
        "-C",
        "s",
        "hash-object",
        repo.path(".ddx/config.yml").to_str().unwrap(),
    ]);
    assert_eq!(hash, format!("sha256:{}", by_git.trim()));

    repo.ddx_ok(&["action", "run", "ask"]);
    assert!(repo.path("marker").exists(), "the trusted agent runs");
    // Consent is local: nothing of it is in a ref ddx shares or in the work tree.
    assert!(repo.git(&["status", "--porcelain"]).contains("marker"));
    assert!(!repo.git(&["status", "--porcelain"]).contains("trust"));

    // A changed file needs trust again.
    std::fs::remove_file(repo.path("marker")).unwrap();
    repo.write(".ddx/config.yml", "agent:\n  command: \"touch marker2\"\n");
    let out = repo.ddx(&["action", "run", "ask"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "the agent command `touch marker2` comes from .ddx/config.yml, and .ddx/config.yml changed since you trusted it (`ddx trust` shows it and trusts it again): refused"
    ), "{}", stderr(&out));
    assert!(!repo.path("marker2").exists());
    assert_eq!(
        repo.ddx_json(&["trust", "--show", "--json"])["status"],
        "changed"
    );

    // The user's own consent on the command line and in the environment still counts.
    repo.ddx_ok(&["action", "run", "ask", "--trust"]);
    assert!(repo.path("marker2").exists());
    let mut cmd = repo.command(env!("CARGO_BIN_EXE_ddx"));
    let out = cmd
        .env("DDX_AGENT", "touch mine")
        .args(["action", "run", "ask"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(repo.path("mine").exists());

    // Revoked, the trusted content no longer runs.
    repo.ddx_ok(&["trust"]);
    repo.ddx_ok(&["trust", "--revoke"]);
    std::fs::remove_file(repo.path("marker2")).unwrap();
    let out = repo.ddx(&["action", "run", "ask"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(!repo.path("marker2").exists());
}

#[test]
fn a_committed_trusted_sources_list_trusts_nothing_until_the_user_trusts_it() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    let bare = team_catalog(
        &repo,
        &[
            (
                "workflows/cmd/workflow.yml",
                "name: cmd\nversion: 1.0.0\ndescription: Commands\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - criteria: Built\n        check: {command: \"touch checked\"}\n",
            ),
            (
                "workflows/cmd/phases/01-a/actions/go.md",
                "---\ncommand: \"touch ran\"\n---\n# Go\n",
            ),
        ],
    );
    repo.ddx_ok(&["workflow", "apply", "cmd", "--id", "t-1"]);
    // The pull request: the team's repository trusted by a line in the committed config.
    let config = repo.read(".ddx/config.yml");
    repo.write(
        ".ddx/config.yml",
        format!("{config}trusted_sources: [team]\n"),
    );
    repo.commit_all("trust the team");

    let out = repo.ddx(&["action", "run", "go"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "action `a/go` runs the command `touch ran`, which comes from repo:team, which .ddx/config.yml trusts, but you have not trusted .ddx/config.yml (`ddx trust` shows what it runs and trusts it): refused"
    ), "{}", stderr(&out));
    let out = repo.ddx(&["gate", "check", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert!(json["phases"][0]["criteria"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("not run: `touch checked` comes from repo:team, which .ddx/config.yml trusts, but you have not trusted"));
    assert!(!repo.path("ran").exists() && !repo.path("checked").exists());

    let shown = repo.ddx_json(&["trust", "--show", "--json"]);
    assert_eq!(shown["trusted_sources"], serde_json::json!(["team"]));
    repo.ddx_ok(&["trust"]);
    repo.ddx_ok(&["action", "run", "go"]);
    assert!(repo.path("ran").exists());
    repo.ddx_ok(&["gate", "check"]);
    assert!(repo.path("checked").exists());

    // The user's own `ddx repo add` keeps their trust in the file it rewrites; a hand edit not.
    repo.ddx_ok(&["repo", "add", "other", bare.to_str().unwrap()]);
    assert!(repo.read(".ddx/config.yml").contains("name: other"));
    assert_eq!(
        repo.ddx_json(&["trust", "--show", "--json"])["status"],
        "trusted"
    );
    let config = repo.read(".ddx/config.yml");
    repo.write(
        ".ddx/config.yml",
        format!("{config}agent: \"touch pwned\"\n"),
    );
    assert_eq!(
        repo.ddx_json(&["trust", "--show", "--json"])["status"],
        "changed"
    );
}

#[test]
fn hostile_phase_and_artifact_ids_are_validation_errors_with_where() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: ids\nversion: 1.0.0\ndescription: d\nphases:\n  - id: \"a\\nDdx-Forced: yes\"\n    order: 1\n    name: A\n  - id: b\n    order: 2\n    name: B\n",
    );
    repo.write("wf/phases/02-b/artifacts/doc/template.md", "# Doc\n");
    repo.write(
        "wf/phases/02-b/artifacts/doc/meta.yml",
        "id: \"../../.git/x\"\n",
    );
    repo.write("wf/actions/go\nDdx-Forced: yes.md", "# Go\n");
    repo.commit_all("initial");
    let out = repo.ddx(&["workflow", "validate", "./wf"]);
    assert!(!out.status.success());
    let err = format!("{}{}", common::stdout(&out), stderr(&out));
    assert!(
        err.contains("wf/workflow.yml:5:10: error: phase id \"a\\nDdx-Forced: yes\" may contain only lowercase letters, digits, `-` and `_`"),
        "{err}"
    );
    assert!(
        err.contains("wf/phases/02-b/artifacts/doc/meta.yml:1:6: error: the artifact id \"../../.git/x\" may not start with `.`"),
        "{err}"
    );
    assert!(
        err.contains("error: the action name \"go\\nDdx-Forced: yes\" may contain only letters, digits, `-`, `_` and `.`"),
        "{err}"
    );
    let out = repo.ddx(&["workflow", "apply", "./wf", "--id", "i-1"]);
    assert!(!out.status.success());
    assert!(repo
        .git(&["for-each-ref", "refs/ddx/"])
        .lines()
        .all(|l| !l.contains("instances")));
}

/// Runs git with `input` on its stdin and returns its stdout.
fn git_stdin(repo: &TestRepo, args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut child = repo
        .command("git")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn catalog_entries_named_dot_dotdot_or_dotgit_are_not_workflows() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    // A hand-made tree: git itself would never check these names out.
    let upstream = TestRepo::new();
    let wf =
        "name: ok\nversion: 1.0.0\ndescription: d\nphases:\n  - id: a\n    order: 1\n    name: A\n";
    upstream.write("w.yml", wf);
    let blob = upstream.git(&["hash-object", "-w", "w.yml"]);
    let folder = git_stdin(
        &upstream,
        &["mktree"],
        &format!("100644 blob {}\tworkflow.yml\n", blob.trim()),
    );
    let folder = folder.trim();
    let mut entries = String::new();
    for name in [".", "..", ".git", "ok"] {
        entries.push_str(&format!("040000 tree {folder}\t{name}\n"));
    }
    let workflows = git_stdin(&upstream, &["mktree"], &entries);
    let root = git_stdin(
        &upstream,
        &["mktree"],
        &format!("040000 tree {}\tworkflows\n", workflows.trim()),
    );
    let commit = upstream.git(&["commit-tree", root.trim(), "-m", "hostile names"]);
    upstream.git(&["update-ref", "refs/heads/main", commit.trim()]);
    let bare = upstream.home.join("team.git");
    upstream.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    repo.ddx_ok(&["repo", "add", "team", bare.to_str().unwrap()]);

    let list = repo.ddx_json(&["workflow", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["source"].as_str().is_some_and(|s| s.contains("team")))
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ok"], "{list}");
    for name in [".", "..", ".git"] {
        let out = repo.ddx(&["workflow", "show", name]);
        assert!(!out.status.success(), "{name}: {}", common::stdout(&out));
    }
    std::mem::forget(upstream);
}

#[test]
fn hostile_text_is_escaped_on_every_command_and_exact_in_json() {
    let repo = TestRepo::new();
    repo.write(
        "wf/workflow.yml",
        "name: ctl\nversion: 1.0.0\ndescription: \"D\\e]0;t\\a\"\nphases:\n  - id: a\n    order: 1\n    name: \"Phase\\e[2J\"\n    description: \"Desc\\r\\e[1A\"\n    exit_criteria:\n      - \"Human\\e]0;x\\a criterion\"\n      - criteria: \"Machine\\e[2J\"\n        check: {pattern: \"TODO\", path: notes.md, expected: 0}\n",
    );
    repo.write(
        "wf/actions/go.md",
        "---\ndescription: \"Go\\u001b]0;x\\u0007\"\n---\n# Go\u{1b}]0;t\u{7}\nPrompt \u{1b}[2J text\n",
    );
    repo.write("notes.md", "TODO \u{1b}]0;evil\u{7}\r\n");
    repo.commit_all("initial");
    repo.ddx_ok(&["workflow", "apply", "./wf", "--id", "x-1"]);
    let commands: &[&[&str]] = &[
        &["workflow", "show", "./wf"],
        &["workflow", "status"],
        &["workflow", "status", "--all"],
        &["workflow", "validate", "./wf"],
        &["workflow", "next"],
        &["gate", "check"],
        &["gate", "check", "-v"],
        &["phase", "complete", "a"],
        &["action", "list"],
        &["action", "run", "go"],
        &["gate", "approve", "a", "Human\u{1b}]0;x\u{7} criterion"],
        &["audit", "log"],
        &["audit", "report"],
        &["log"],
        &["hooks", "run", "pre-commit"],
    ];
    for args in commands {
        let out = repo.ddx(args);
        for (stream, text) in [("stdout", common::stdout(&out)), ("stderr", stderr(&out))] {
            assert!(
                !text.contains(['\x1b', '\x07', '\r']),
                "ddx {args:?} printed a raw control character on {stream}: {text:?}"
            );
        }
    }
    // The text is there, escaped.
    for (args, escaped) in [
        (&["gate", "check"][..], "notes.md:1: TODO \\x1b]0;evil\\x07"),
        (&["gate", "check"][..], "Machine\\x1b[2J"),
        (&["workflow", "status"][..], "Phase\\x1b[2J"),
        (
            &["audit", "log"][..],
            "approve a: Human\\x1b]0;x\\x07 criterion",
        ),
        // (Markdown escapes the bracket as well.)
        (&["audit", "report"][..], "a (Phase\\x1b\\[2J)"),
        (&["workflow", "show", "./wf"][..], "D\\x1b]0;t\\x07"),
        (&["action", "run", "go"][..], "Prompt \\x1b[2J text"),
    ] {
        let out = repo.ddx(args);
        let text = format!("{}{}", common::stdout(&out), stderr(&out));
        assert!(text.contains(escaped), "ddx {args:?}: {text}");
    }
    // JSON stays exact.
    let out = repo.ddx(&["gate", "check", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let text = json.to_string();
    assert!(text.contains("Machine\\u001b[2J"), "{text}");
}

#[test]
fn an_untrusted_catalogs_check_records_where_and_a_hash_never_the_line() {
    let repo = TestRepo::new();
    // Tracked, so checks may read it; but the workflow reading it is nobody the user trusts.
    repo.write(
        "deploy/settings.env",
        "HOST=example.com\nAPI_SECRET=hunter2\n",
    );
    repo.commit_all("initial");
    team_catalog(
        &repo,
        &[(
            "workflows/peek/workflow.yml",
            "name: peek\nversion: 1.0.0\ndescription: Peeks\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - criteria: Secrets\n        check: {pattern: \"API_SECRET\", path: \".\", expected: \">=1\"}\n",
        )],
    );
    repo.ddx_ok(&["workflow", "apply", "peek", "--id", "p-1"]);
    let json = repo.ddx_json(&["gate", "check", "--json"]);
    let evidence = &json["phases"][0]["criteria"][0]["evidence"][0];
    assert_eq!(evidence["path"], "deploy/settings.env", "{json}");
    assert_eq!(evidence["line"], 2);
    assert!(evidence.get("text").is_none(), "{json}");
    // The line's blob id in a SHA-256 repository, as git computes it.
    let sha256 = TestRepo::plain();
    sha256.git(&["init", "-q", "--object-format=sha256", "."]);
    let by_git = git_stdin(&sha256, &["hash-object", "--stdin"], "API_SECRET=hunter2");
    assert_eq!(evidence["hash"], format!("sha256:{}", by_git.trim()));
    assert_eq!(
        evidence["hash"],
        "sha256:a590f96531eb8b1a8ebd2a5592ef6e7ed800a0b150f00f0fee08a2dcd1b233b3"
    );
    let shown = repo.ddx_ok(&["gate", "check"]);
    assert!(
        shown.contains("deploy/settings.env:2: [line sha256:"),
        "{shown}"
    );
    repo.ddx_ok(&["phase", "complete", "a"]);
    let report = repo.ddx_ok(&["audit", "report"]);
    assert!(!report.contains("hunter2"), "{report}");
    let objects = repo.git(&["rev-list", "--objects", "--glob=refs/ddx/*"]);
    let mut recorded = false;
    for line in objects.lines() {
        let id = line.split(' ').next().unwrap();
        let body = repo.git(&["cat-file", "-p", id]);
        recorded |= body.contains("deploy/settings.env:2: [line sha256:");
        assert!(
            !body.contains("hunter2"),
            "{line} holds the secret:\n{body}"
        );
    }
    assert!(recorded, "the evidence is recorded as location and hash");
}

#[test]
fn a_workflow_of_an_untrusted_catalog_runs_commands_only_as_the_user_trusted_it() {
    let repo = TestRepo::new();
    repo.write("README.md", "# project\n");
    repo.commit_all("initial");
    let workflow = "name: cmd\nversion: 1.0.0\ndescription: Commands\nphases:\n  - id: a\n    order: 1\n    name: A\n    exit_criteria:\n      - criteria: Built\n        check: {command: \"touch checked\"}\n";
    let bare = team_catalog(
        &repo,
        &[
            ("workflows/cmd/workflow.yml", workflow),
            (
                "workflows/cmd/phases/01-a/actions/go.md",
                "---\ncommand: \"touch ran\"\n---\n# Go\n",
            ),
        ],
    );
    repo.ddx_ok(&["workflow", "apply", "cmd", "--id", "w-1"]);
    let out = repo.ddx(&["action", "run", "go"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "error: action `a/go` runs the command `touch ran`, which comes from repo:team, which .ddx/config.yml does not trust: refused (it is in phases/01-a/actions/go.md of workflow cmd; `ddx trust cmd` shows the workflow's commands and trusts it as it is)"
    ), "{}", stderr(&out));
    assert!(!repo.path("ran").exists());

    let shown = repo.ddx_json(&["trust", "cmd", "--show", "--json"]);
    assert_eq!(shown[0]["status"], "untrusted", "{shown}");
    assert_eq!(shown[0]["source"], "repo:team");
    assert_eq!(
        shown[0]["commands"],
        serde_json::json!([
            {"place": "phase a, exit criterion \"Built\"", "command": "touch checked"},
            {"place": "phases/01-a/actions/go.md", "command": "touch ran"},
        ])
    );
    // The hash is the tree the catalog holds and the instance pins.
    let tree = repo.git(&["rev-parse", "refs/ddx/sources/team:workflows/cmd"]);
    assert_eq!(shown[0]["hash"], format!("git:{}", tree.trim()));
    assert!(!repo.path(".git/ddx/trust").exists());

    repo.ddx_ok(&["trust", "cmd"]);
    let out = repo.ddx(&["action", "run", "go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(repo.path("ran").exists());
    assert!(repo
        .git(&["log", "-1", "--format=%B", "refs/ddx/instances/w-1"])
        .contains("Ddx-Trusted: repo:team, workflow cmd trusted as it is (`ddx trust cmd`)"));
    repo.ddx_ok(&["gate", "check"]);
    assert!(repo.path("checked").exists());

    // The catalog changes: an instance of the new content needs trust again.
    let clone = TestRepo::plain();
    clone.git(&["clone", "-q", bare.to_str().unwrap(), "c"]);
    std::fs::write(
        clone.path("c/workflows/cmd/phases/01-a/actions/go.md"),
        "---\ncommand: \"touch pwned\"\n---\n# Go\n",
    )
    .unwrap();
    clone.git(&[
        "-C",
        "c",
        "-c",
        "user.name=Team",
        "-c",
        "user.email=team@example.com",
        "commit",
        "-qam",
        "changed",
    ]);
    clone.git(&["-C", "c", "push", "-q"]);
    repo.ddx_ok(&["repo", "fetch", "team"]);
    repo.ddx_ok(&["workflow", "apply", "cmd", "--id", "w-2"]);
    let out = repo.ddx(&["action", "run", "go", "-i", "w-2"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "and its workflow cmd changed since you trusted it (`ddx trust cmd`): refused"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!repo.path("pwned").exists());
    assert_eq!(
        repo.ddx_json(&["trust", "cmd", "--show", "--json"])[0]["status"],
        "changed"
    );
}

#[test]
fn committed_workflows_of_the_project_run_commands_only_once_trusted() {
    let repo = TestRepo::new();
    let workflow = |name: &str| {
        format!("name: {name}\nversion: 1.0.0\ndescription: d\nphases:\n  - id: a\n    order: 1\n    name: A\n")
    };
    let action = |marker: &str| format!("---\ncommand: \"touch {marker}\"\n---\n# Go\n");
    // Anyone's commits: the project library, and a local workflow someone committed.
    for (dir, name) in [
        (".ddx/library/workflows", "lib"),
        (".ddx/local/workflows", "loc"),
    ] {
        repo.write(&format!("{dir}/{name}/workflow.yml"), workflow(name));
        repo.write(&format!("{dir}/{name}/actions/go.md"), action(name));
    }
    repo.commit_all("initial");
    // The user's own local workflow, not committed.
    repo.write(".ddx/local/workflows/own/workflow.yml", workflow("own"));
    repo.write(".ddx/local/workflows/own/actions/go.md", action("own"));

    for (name, source) in [("lib", "project"), ("loc", "local")] {
        repo.ddx_ok(&["workflow", "apply", name, "--id", name]);
        let out = repo.ddx(&["action", "run", "go", "-i", name]);
        assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "runs the command `touch {name}`, which comes from {source}, which .ddx/config.yml does not trust: refused (it is in actions/go.md of workflow {name}; `ddx trust {name}`"
            )),
            "{}",
            stderr(&out)
        );
        assert!(!repo.path(name).exists(), "{name} ran untrusted");
        repo.ddx_ok(&["trust", name]);
        repo.ddx_ok(&["action", "run", "go", "-i", name]);
        assert!(repo.path(name).exists(), "{name} runs once trusted");
    }
    repo.ddx_ok(&["workflow", "apply", "own", "--id", "own"]);
    repo.ddx_ok(&["action", "run", "go", "-i", "own"]);
    assert!(repo.path("own").exists());
}
