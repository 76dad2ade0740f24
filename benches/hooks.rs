//! What each hook adds to a commit in a 10,000-file repository, with and without an active
//! instance. Run with `cargo bench --bench hooks`.

mod util;

use std::path::Path;
use std::process::Command;
use util::{describe, load_average, median, ms, sample_process_cpu, sample_process_cpu_after};

const FILES: usize = 10_000;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("run git")
        .success();
    assert!(ok, "git {args:?}");
}

fn main() {
    let ddx = Path::new(env!("CARGO_BIN_EXE_ddx"));
    let tmp = tempfile::tempdir().expect("temporary directory");
    let repo = tmp.path();
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["config", "user.name", "Bench"]);
    git(repo, &["config", "user.email", "bench@example.com"]);
    for i in 0..FILES {
        let dir = repo.join(format!("src/m{:03}", i / 100));
        std::fs::create_dir_all(&dir).expect("create dir");
        std::fs::write(dir.join(format!("f{i}.rs")), format!("// file {i}\n")).expect("write file");
    }
    std::fs::create_dir_all(repo.join(".wf/guarded")).expect("create dir");
    std::fs::write(
        repo.join(".wf/guarded/workflow.yml"),
        "name: guarded\nphases:\n  - id: tests\n    protected_paths: [\"src/**\"]\n    exit_criteria:\n      - Tests written\n      - criteria: No TODO staged\n        on: commit\n        check: {pattern: TODO, path: tests/, expected: 0}\n",
    )
    .expect("write workflow");
    git(repo, &["add", "-A"]);
    // No automatic gc in the background: it would race the `git gc` below and load the machine.
    git(
        repo,
        &["-c", "gc.auto=0", "commit", "-q", "-m", "10,000 files"],
    );
    // A repository of this size is packed, as `git gc --auto` leaves it.
    git(repo, &["gc", "-q"]);
    // A staged change, as at commit time.
    std::fs::create_dir_all(repo.join("tests")).expect("create dir");
    std::fs::write(repo.join("tests/a.rs"), "// test\n").expect("write");
    git(repo, &["add", "tests/a.rs"]);
    let msg = repo.join(".git/COMMIT_EDITMSG");
    std::fs::write(&msg, "A message\n").expect("write message");
    let msg = msg.to_str().expect("UTF-8 path");

    println!("== hooks in a {FILES}-file repository (release build, process medians)");
    println!("load average at the start: {}", load_average());
    let (wall, cpu) = sample_process_cpu(30, repo, ddx, &["--version"]);
    println!(
        "{:<20} {:<12} {}; CPU median {:.2} ms",
        "floor",
        "ddx --version",
        describe(&wall),
        ms(median(&cpu))
    );
    let run = |label: &str| {
        for hook in ["pre-commit", "commit-msg", "post-commit"] {
            let mut args = vec!["hooks", "run", hook];
            if hook == "commit-msg" {
                std::fs::write(msg, "A message\n").expect("reset message");
                args.push(msg);
            }
            // As in a commit: post-commit follows a pre-commit that passed (else it records a
            // bypass). HEAD is the repository's first commit, so the marker says `none`.
            let marker = repo.join(".git/ddx/hooks/pre-commit-passed");
            let prepare = || {
                if hook == "post-commit" {
                    std::fs::create_dir_all(repo.join(".git/ddx/hooks")).expect("create dir");
                    std::fs::write(&marker, "none").expect("write the pass marker");
                }
            };
            let (wall, cpu) = sample_process_cpu_after(30, repo, ddx, &args, prepare);
            println!(
                "{label:<20} {hook:<12} {}; CPU median {:.2} ms",
                describe(&wall),
                ms(median(&cpu))
            );
        }
    };
    run("no instance");
    let out = Command::new(ddx)
        .args(["workflow", "init", "./.wf/guarded", "--id", "g-1"])
        .current_dir(repo)
        .output()
        .expect("run ddx");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(ddx)
        .args(["workflow", "next"])
        .current_dir(repo)
        .output()
        .expect("run ddx");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run("active instance");
    let audit = Command::new("git")
        .args(["log", "--format=%s", "refs/ddx/audit"])
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(
        !String::from_utf8_lossy(&audit.stdout).contains("without the pre-commit hook"),
        "the measured post-commit runs followed a passing pre-commit: no bypass is recorded"
    );
    println!("load average at the end: {}", load_average());
    println!("targets: < 5 ms per hook without an instance, < 20 ms with one");
}
