//! Reading and writing `state.yml`: serde_yaml's read, `State::from_yaml` (the same read
//! through the format upgrade) and the canonical encoding's write (`State::to_yaml`), on a
//! state the size of a HELIX instance's halfway through. Run with
//! `cargo bench --bench state_yaml`.
//!
//! The state comes from the corpus HELIX (`$DDX_CORPUS` or `../shared/corpus`), or from the
//! embedded HELIX when there is no corpus: every phase and criterion of the definition, the
//! first half of the phases done with their human criteria approved (with comments), the last
//! 20 transitions and a file record per artifact-like path.

mod util;

use ddx::engine::state::{
    Approval, FileRecord, InstanceStatus, PhaseStatus, State, TransitionRecord,
};
use ddx::model::{DirTree, SubTree, Workflow};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use util::{load_average, median, sample};

fn corpus_helix() -> Option<PathBuf> {
    let path = std::env::var_os("DDX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let helix = path.join("ddx-helix/helix");
    helix.join("workflow.yml").is_file().then_some(helix)
}

fn helix() -> (Workflow, &'static str) {
    match corpus_helix() {
        Some(dir) => (
            ddx::model::load_workflow(&DirTree::new(&dir)).expect("the corpus is valid"),
            "corpus",
        ),
        None => {
            let tree = SubTree::new(ddx::catalog::embedded::library(), "helix");
            (
                ddx::model::load_workflow(&tree).expect("the embedded HELIX is valid"),
                "embedded",
            )
        }
    }
}

/// A HELIX instance halfway through.
fn state(w: &Workflow) -> State {
    let at = |i: usize| format!("2026-01-{:02}T{:02}:{:02}:00Z", 14 + i / 24, i % 24, i % 60);
    let by = "Ann Example <ann@example.com>";
    let mut s = State::new(
        w,
        "helix-20260114-123456-a3f9",
        "path:../shared/corpus/ddx-helix/helix",
        BTreeMap::from([
            ("project_name".to_owned(), "shop".to_owned()),
            ("has_ui".to_owned(), "yes".to_owned()),
        ]),
        &at(0),
        by,
    );
    s.status = InstanceStatus::Running;
    let done = s.phases.len() / 2;
    let mut n = 0;
    for (i, p) in s.phases.iter_mut().enumerate() {
        if i > done {
            break;
        }
        p.status = if i == done {
            PhaseStatus::InProgress
        } else {
            PhaseStatus::Completed
        };
        p.started = Some(at(i * 10));
        if i < done {
            p.completed = Some(at(i * 10 + 9));
        }
        for c in p.criteria.iter_mut().filter(|c| c.is_human()) {
            n += 1;
            c.approval = Some(Approval {
                by: by.to_owned(),
                at: at(n),
                comment: (n % 2 == 0).then(|| format!("reviewed with the team, item {n}")),
            });
        }
    }
    s.metrics.events = 40;
    s.metrics.transitions = 20;
    s.metrics.approvals = n as u64;
    for k in 0..20 {
        let phase = &s.phases[(k / 4).min(s.phases.len() - 1)].id;
        s.record(TransitionRecord {
            at: at(k),
            by: by.to_owned(),
            event: ["start", "complete"][k % 2].to_owned(),
            phase: Some(phase.clone()),
            from: ["ready", "in_progress"][k % 2].to_owned(),
            to: ["in_progress", "completed"][k % 2].to_owned(),
            reason: (k == 7).then(|| "deadline".to_owned()),
        });
    }
    for k in 0..12 {
        s.files.insert(
            format!("docs/helix/0{}-phase/artifact-{k}.md", k % 6),
            FileRecord {
                before: (k % 3 == 0).then(|| format!("{:040x}", k * 7919 + 1)),
                after: Some(format!("{:040x}", k * 104_729 + 3)),
                merged: None,
                by: format!("artifact artifact-{k}"),
                phase: Some(s.phases[k % s.phases.len()].id.clone()),
                at: at(k),
            },
        );
    }
    s
}

/// Median time of one call, from batches of `batch` calls.
fn per_call(runs: usize, batch: usize, mut f: impl FnMut()) -> Duration {
    let t = sample(runs, || {
        for _ in 0..batch {
            f();
        }
    });
    median(&t) / batch as u32
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let (w, from) = helix();
    let s = state(&w);
    let yaml = s.to_yaml();
    let criteria: usize = s.phases.iter().map(|p| p.criteria.len()).sum();
    println!(
        "== reading state.yml (release build, medians): {from} HELIX, {} phases, {criteria} criteria, {} transitions, {} files, {} bytes",
        s.phases.len(),
        s.transitions.len(),
        s.files.len(),
        yaml.len()
    );
    assert_eq!(
        s,
        serde_yaml::from_slice::<State>(&yaml).expect("serde_yaml reads it")
    );

    let (runs, batch) = (400, 10);
    // Alternate the three so all see the same load from the rest of the machine.
    let (mut read, mut whole, mut write) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        read.push(per_call(runs / 5, batch, || {
            std::hint::black_box(serde_yaml::from_slice::<State>(&yaml).expect("read"));
        }));
        whole.push(per_call(runs / 5, batch, || {
            std::hint::black_box(State::from_yaml(&yaml, "bench").expect("read"));
        }));
        write.push(per_call(runs / 5, batch, || {
            std::hint::black_box(s.to_yaml());
        }));
    }
    let mid = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (read, whole, write) = (mid(&mut read), mid(&mut whole), mid(&mut write));
    println!("serde_yaml::from_slice::<State>      {:>8.1} µs", us(read));
    println!("State::from_yaml (with upgrade)      {:>8.1} µs", us(whole));
    println!("State::to_yaml (canonical encoding)  {:>8.1} µs", us(write));
    println!("load average: {}", load_average());
}
