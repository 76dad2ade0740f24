//! Library changes into a project: `ddx workflow upgrade` of the real HELIX corpus applied as a
//! local workflow (13 frame artifacts, 5 of them edited, every frame template changed) against
//! `copier update --conflict inline` of the same 13 templates with the same edits, in the same
//! run. copier is installed by the benchmark into a Python virtual environment under
//! `target/bench-tools/`; when that fails, its half is skipped and says so. Run with
//! `cargo bench --bench upgrade`.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::{describe, fresh_repo, median, time_process};

const EDITED: usize = 5;
const MARK: &str = "\n<!-- template 2 -->\n";

fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("DDX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let helix = path.join("ddx-helix/helix");
    helix.join("workflow.yml").is_file().then_some(helix)
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for e in std::fs::read_dir(from).expect("read folder") {
        let e = e.expect("folder entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}

/// Prepends a line to the first `EDITED` files of `files`: the user's edits.
fn edit(dir: &Path, files: &[String]) {
    for f in files.iter().take(EDITED) {
        let p = dir.join(f);
        let text = std::fs::read_to_string(&p).expect("read artifact");
        std::fs::write(&p, format!("Edited by hand: {f}\n\n{text}")).expect("edit artifact");
    }
}

/// Appends the mark to every `template.md` below `frame`: the new version of the templates.
fn change_templates(frame: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(frame).expect("read artifacts") {
        let t = e.expect("artifact").path().join("template.md");
        if t.is_file() {
            let mut text = std::fs::read_to_string(&t).expect("read template");
            text.push_str(MARK);
            std::fs::write(&t, text).expect("write template");
            n += 1;
        }
    }
    n
}

/// A repository with the corpus applied as `.ddx/local/workflows/helix`, its artifacts
/// committed, 5 edited, and the local workflow moved to a new version with every frame
/// template changed. Returns the artifact files.
fn ddx_project(dir: &Path, ddx: &Path, helix: &Path) -> Vec<String> {
    fresh_repo(dir);
    std::fs::write(dir.join(".gitignore"), ".ddx/local/\n").expect("write .gitignore");
    let local = dir.join(".ddx/local/workflows/helix");
    copy_dir(helix, &local);
    let ddx = ddx.to_str().expect("UTF-8 path");
    run(
        dir,
        ddx,
        &["workflow", "apply", "helix", "--var", "project_name=bench"],
    );
    run(dir, "git", &["add", "-A"]);
    run(dir, "git", &["commit", "-q", "-m", "frame artifacts"]);
    let mut files: Vec<String> = std::fs::read_dir(dir.join("docs/helix/01-frame"))
        .expect("artifacts written")
        .flat_map(|e| {
            let p = e.expect("entry").path();
            if p.is_dir() {
                std::fs::read_dir(&p)
                    .expect("read folder")
                    .map(|e| e.expect("entry").path())
                    .collect()
            } else {
                vec![p]
            }
        })
        .map(|p| p.strip_prefix(dir).expect("inside").display().to_string())
        .collect();
    files.sort();
    edit(dir, &files);
    change_templates(&local.join("phases/01-frame/artifacts"));
    let wf = local.join("workflow.yml");
    let text = std::fs::read_to_string(&wf).expect("read workflow.yml");
    std::fs::write(&wf, text.replacen("version: ", "version: 9", 1)).expect("bump version");
    files
}

fn check_kept(dir: &Path, files: &[String]) {
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(dir.join(f)).expect("read artifact");
        assert!(text.ends_with(MARK), "{f} has the new template");
        if i < EDITED {
            assert!(text.starts_with("Edited by hand"), "{f} keeps its edit");
        }
    }
}

fn bench_ddx(tmp: &Path, ddx: &Path, helix: &Path, runs: usize) -> Vec<Duration> {
    let projects: Vec<(PathBuf, Vec<String>)> = (0..=runs)
        .map(|i| {
            let d = tmp.join(format!("ddx-{i}"));
            let files = ddx_project(&d, ddx, helix);
            (d, files)
        })
        .collect();
    let (first, files) = &projects[0];
    assert_eq!(files.len(), 13, "13 frame artifacts: {files:?}");
    // The first run warms the file cache and is not counted.
    time_process(first, ddx, &["workflow", "upgrade"], &[0]);
    check_kept(first, files);
    let mut times: Vec<Duration> = projects[1..]
        .iter()
        .map(|(d, _)| time_process(d, ddx, &["workflow", "upgrade"], &[0]))
        .collect();
    for (d, files) in &projects[1..] {
        check_kept(d, files);
    }
    times.sort();
    times
}

/// copier from a virtual environment under `target/bench-tools/`, installed if need be.
fn copier() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tools/copier-venv");
    let bin = venv.join("bin/copier");
    if bin.is_file() {
        return Ok(bin);
    }
    let step = |program: &Path, args: &[&str]| -> Result<(), String> {
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {args:?} failed: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let venv_text = venv.to_str().ok_or("the target folder is not UTF-8")?;
    step(Path::new("python3"), &["-m", "venv", venv_text])?;
    step(&venv.join("bin/pip"), &["install", "-q", "copier"])?;
    bin.is_file()
        .then_some(bin)
        .ok_or_else(|| "pip installed no copier".to_owned())
}

/// A copier template repository of the 13 frame templates (tag v1), a project copied from it
/// with 5 files edited and committed, and the template moved on to v2 with every file changed.
/// Returns the project.
fn copier_project(tmp: &Path, copier: &Path, helix: &Path) -> PathBuf {
    let template = tmp.join("copier-template");
    fresh_repo(&template);
    std::fs::write(
        template.join("copier.yml"),
        "project_name:\n  type: str\n  default: bench\n",
    )
    .expect("write copier.yml");
    std::fs::write(
        template.join("{{_copier_conf.answers_file}}.jinja"),
        "{{ _copier_answers|to_nice_yaml -}}\n",
    )
    .expect("write the answers template");
    let frame = helix.join("phases/01-frame/artifacts");
    let out = template.join("docs/helix/01-frame");
    std::fs::create_dir_all(&out).expect("create docs");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&frame).expect("read artifacts") {
        let p = e.expect("artifact").path();
        if p.join("template.md").is_file() {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            std::fs::copy(p.join("template.md"), out.join(format!("{name}.md")))
                .expect("copy template");
            names.push(format!("docs/helix/01-frame/{name}.md"));
        }
    }
    names.sort();
    run(&template, "git", &["add", "-A"]);
    run(&template, "git", &["commit", "-q", "-m", "v1"]);
    run(&template, "git", &["tag", "v1"]);
    let project = tmp.join("copier-project");
    fresh_repo(&project);
    let copier_s = copier.to_str().expect("UTF-8 path");
    let template_s = template.to_str().expect("UTF-8 path");
    let project_s = project.to_str().expect("UTF-8 path");
    run(
        tmp,
        copier_s,
        &[
            "copy",
            "--defaults",
            "--trust",
            "--vcs-ref",
            "v1",
            template_s,
            project_s,
        ],
    );
    run(&project, "git", &["add", "-A"]);
    run(&project, "git", &["commit", "-q", "-m", "copied"]);
    edit(&project, &names);
    run(&project, "git", &["commit", "-q", "-a", "-m", "edits"]);
    for n in &names {
        let p = template.join(n);
        let mut text = std::fs::read_to_string(&p).expect("read template");
        text.push_str(MARK);
        std::fs::write(&p, text).expect("write template");
    }
    run(&template, "git", &["commit", "-q", "-a", "-m", "v2"]);
    run(&template, "git", &["tag", "v2"]);
    project
}

fn bench_copier(tmp: &Path, copier: &Path, helix: &Path, runs: usize) -> Vec<Duration> {
    let project = copier_project(tmp, copier, helix);
    let copies: Vec<PathBuf> = (0..=runs)
        .map(|i| {
            let d = tmp.join(format!("copier-{i}"));
            run(
                tmp,
                "cp",
                &[
                    "-a",
                    project.to_str().expect("UTF-8"),
                    d.to_str().expect("UTF-8"),
                ],
            );
            d
        })
        .collect();
    let args = ["update", "--defaults", "--trust", "--conflict", "inline"];
    time_process(&copies[0], copier, &args, &[0]);
    let mut times: Vec<Duration> = copies[1..]
        .iter()
        .map(|d| time_process(d, copier, &args, &[0]))
        .collect();
    times.sort();
    times
}

fn main() {
    let ddx = Path::new(env!("CARGO_BIN_EXE_ddx"));
    let Some(helix) = corpus() else {
        println!("skipped: no corpus (set DDX_CORPUS)");
        return;
    };
    let tmp = tempfile::tempdir().expect("temporary directory");
    println!("== library changes into a project (release build, whole processes, medians)");
    let t = bench_ddx(tmp.path(), ddx, &helix, 15);
    println!(
        "process  ddx workflow upgrade, HELIX corpus, 13 artifacts, 5 edited  {}",
        describe(&t)
    );
    match copier() {
        Ok(copier) => {
            let c = bench_copier(tmp.path(), &copier, &helix, 5);
            println!(
                "process  copier update --conflict inline, same templates, edits  {}",
                describe(&c)
            );
            println!(
                "ratio    copier / ddx (medians)                               {:.1}x   (target: >= 10x)",
                median(&c).as_secs_f64() / median(&t).as_secs_f64()
            );
        }
        Err(why) => println!("skipped: copier update (copier could not be installed: {why})"),
    }
}
