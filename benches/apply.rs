//! Phases that do work: a whole `ddx workflow apply` process into a fresh repository (the
//! embedded HELIX and the real corpus by path), and `ddx gate check` over a project of 1,000
//! markdown files with 5 pattern checks. Run with `cargo bench --bench apply`;
//! `DDX_BENCH_BASELINE=<path to an older ddx binary>` times that binary's `apply helix` too, in
//! the same run.

mod util;

use std::path::{Path, PathBuf};
use std::time::Duration;
use util::{describe, fresh_repo, sample_process, time_process};

fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("DDX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let helix = path.join("ddx-helix/helix");
    helix.join("workflow.yml").is_file().then_some(helix)
}

/// Times `runs` applies, each into a repository of its own made beforehand.
fn apply_into_fresh_repos(
    tmp: &Path,
    ddx: &Path,
    name: &str,
    workflow: &str,
    runs: usize,
) -> Vec<Duration> {
    let dirs: Vec<PathBuf> = (0..=runs)
        .map(|i| {
            let d = tmp.join(format!("{name}-{i}"));
            fresh_repo(&d);
            d
        })
        .collect();
    let args = ["workflow", "apply", workflow, "--var", "project_name=bench"];
    // The first run warms the file cache and is not counted.
    time_process(&dirs[0], ddx, &args, &[0]);
    let mut times: Vec<Duration> = dirs[1..]
        .iter()
        .map(|d| time_process(d, ddx, &args, &[0]))
        .collect();
    times.sort();
    for d in &dirs[1..] {
        assert!(
            d.join("docs/helix/01-frame/prd.md").is_file(),
            "apply wrote the PRD"
        );
    }
    times
}

const CHECKS: &str = r#"name: checked
version: 1.0.0
description: five pattern checks over a thousand documents
phases:
  - id: review
    order: 1
    name: Review
    exit_criteria:
      - criteria: No open clarification markers
        check: {pattern: "\\[NEEDS CLARIFICATION", path: docs/, expected: 0}
      - criteria: No TODO left
        check: {pattern: "TODO", path: docs/, expected: 0}
      - criteria: Every document has a title
        check: {pattern: "(?m)^# ", path: docs/, expected: ">=1000"}
      - criteria: Requirements are numbered
        check: {pattern: 'REQ-\d{4}', path: docs/, expected: ">0"}
      - criteria: Nothing is marked unknown
        check: {pattern: '\bunknown\b', path: docs/, expected: 0}
"#;

fn gate_check_project(dir: &Path, ddx: &Path) {
    fresh_repo(dir);
    std::fs::create_dir_all(dir.join("wf")).expect("create wf");
    std::fs::write(dir.join("wf/workflow.yml"), CHECKS).expect("write the workflow");
    for i in 0..1000 {
        let sub = dir.join(format!("docs/area-{:02}", i / 100));
        std::fs::create_dir_all(&sub).expect("create docs");
        let mut text = format!("# Document {i}\n\n");
        for l in 0..40 {
            text.push_str(&format!(
                "REQ-{i:04}.{l}: the system shall do thing {l} of document {i}, measured and known.\n"
            ));
        }
        std::fs::write(sub.join(format!("doc-{i:04}.md")), text).expect("write a document");
    }
    let out = std::process::Command::new(ddx)
        .args(["workflow", "apply", "./wf"])
        .current_dir(dir)
        .output()
        .expect("run ddx");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let ddx = Path::new(env!("CARGO_BIN_EXE_ddx"));
    let tmp = tempfile::tempdir().expect("temporary directory");
    println!("== phases that do work (release build, whole processes, medians)");
    let t = apply_into_fresh_repos(tmp.path(), ddx, "embedded", "helix", 30);
    println!(
        "process  ddx workflow apply helix (embedded), fresh repo   {}   (target: < 100 ms)",
        describe(&t)
    );
    // The same with the pinned definition written as loose objects instead of one pack, to
    // weigh the pack writer in the same run.
    std::env::set_var("DDX_BENCH_LOOSE_ONLY", "1");
    let t = apply_into_fresh_repos(tmp.path(), ddx, "loose", "helix", 30);
    std::env::remove_var("DDX_BENCH_LOOSE_ONLY");
    println!(
        "process  ... the same, definition as loose objects        {}",
        describe(&t)
    );
    if let Some(old) = std::env::var_os("DDX_BENCH_BASELINE") {
        let t = apply_into_fresh_repos(tmp.path(), Path::new(&old), "baseline", "helix", 30);
        println!(
            "process  baseline ddx workflow apply helix, fresh repo     {}",
            describe(&t)
        );
    }
    match corpus() {
        Some(helix) => {
            let helix = helix.to_str().expect("UTF-8 path").to_owned();
            let t = apply_into_fresh_repos(tmp.path(), ddx, "corpus", &helix, 30);
            println!(
                "process  ddx workflow apply <corpus> (by path), fresh repo {}   (target: < 200 ms)",
                describe(&t)
            );
        }
        None => println!("skipped: no corpus (set DDX_CORPUS)"),
    }
    let project = tmp.path().join("checked");
    gate_check_project(&project, ddx);
    let t = sample_process(30, &project, ddx, &["gate", "check"]);
    println!(
        "process  ddx gate check, 1,000 markdown files, 5 patterns  {}   (target: < 100 ms)",
        describe(&t)
    );
}
