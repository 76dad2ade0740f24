//! The trust model (docs/security.md) tried as an attacker would: a registered catalog, a
//! committed config, hostile text. Each test is one attack and asserts that it is refused.

mod common;

use common::{stderr, TestRepo};

/// A registered team catalog (a local bare repository) holding `workflows/<name>/` files.
fn team_catalog(repo: &TestRepo, files: &[(&str, &str)]) {
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
