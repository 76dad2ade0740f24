//! Loading workflows: the real corpus and the embedded library, in process and as a whole
//! `ddx workflow validate` process. Run with `cargo bench --bench load`.

mod util;

use ddx::model::{DirTree, SubTree};
use std::path::{Path, PathBuf};
use util::{describe, sample, sample_process};

fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("DDX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let helix = path.join("ddx-helix/helix");
    helix.join("workflow.yml").is_file().then_some(helix)
}

fn main() {
    let ddx = Path::new(env!("CARGO_BIN_EXE_ddx"));
    let tmp = tempfile::tempdir().expect("temporary directory");
    let ok = Command::new("git")
        .args(["init", "-q"])
        .current_dir(tmp.path())
        .status()
        .expect("run git init")
        .success();
    assert!(ok, "git init");

    println!("== loading workflows (release build, medians)");
    for name in ddx::catalog::embedded::names() {
        let tree = SubTree::new(ddx::catalog::embedded::library(), name);
        let t = sample(50, || {
            ddx::model::load_workflow(&tree).expect("embedded workflows are valid");
        });
        println!("in process   load embedded {name:<8} {}", describe(&t));
    }
    let t = sample(20, || {
        for name in ddx::catalog::embedded::names() {
            let tree = SubTree::new(ddx::catalog::embedded::library(), name);
            ddx::model::load_workflow(&tree).expect("embedded workflows are valid");
        }
    });
    println!("in process   load whole embedded library {}", describe(&t));
    let t = sample_process(30, tmp.path(), ddx, &["workflow", "list"]);
    println!("process      ddx workflow list            {}", describe(&t));

    let Some(helix) = corpus() else {
        println!("skipped: no corpus (set DDX_CORPUS)");
        return;
    };
    let tree = DirTree::new(&helix);
    let t = sample(50, || {
        ddx::model::load_workflow(&tree).expect("the corpus is valid");
    });
    println!("in process   load corpus helix            {}", describe(&t));
    let helix_arg = helix.to_str().expect("UTF-8 path");
    let t = sample_process(30, tmp.path(), ddx, &["workflow", "validate", helix_arg]);
    println!(
        "process      ddx workflow validate <corpus> {}   (target: < 20 ms)",
        describe(&t)
    );
}

use std::process::Command;
