//! `ddx workflow validate|show|list` on the real corpus, the embedded library and broken input.

mod common;

use common::{corpus_helix, stderr, stdout, TestRepo};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

#[test]
fn corpus_helix_validates_with_every_phase_artifact_gate_and_action() {
    let Some(helix) = corpus_helix() else { return };
    let repo = TestRepo::new();
    let json = repo.ddx_json(&["workflow", "validate", helix.to_str().unwrap(), "--json"]);
    assert_eq!(json["name"], "helix");
    assert_eq!(json["valid"], true);
    assert_eq!(json["errors"], Json::Array(vec![]), "{:#}", json["errors"]);
    let phases = json["phases"].as_array().unwrap();
    let ids: Vec<&str> = phases.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["frame", "design", "test", "build", "deploy", "iterate"]
    );
    assert_eq!(json["counts"]["phases"], 6);
    assert_eq!(json["counts"]["artifacts"], 46);
    assert_eq!(json["counts"]["actions"], 19);

    // Every gate of every gate file, counted independently of ddx.
    let mut input_gates = 0;
    let mut exit_gates = 0;
    for entry in std::fs::read_dir(helix.join("phases")).unwrap() {
        let dir = entry.unwrap().path();
        let count = |file: &str, key: &str| -> usize {
            let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
                return 0;
            };
            let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            v[key].as_sequence().map_or(0, |s| s.len())
                + v["validation_rules"].as_sequence().map_or(0, |s| s.len())
        };
        input_gates += count("input-gates.yml", "input_gates");
        exit_gates += count("exit-gates.yml", "exit_gates");
    }
    let wf: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(helix.join("workflow.yml")).unwrap())
            .unwrap();
    let inline: usize = wf["phases"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["exit_criteria"].as_sequence().map_or(0, |s| s.len()))
        .sum();
    assert_eq!((input_gates, exit_gates + inline), (19, 45));
    assert_eq!(json["counts"]["input_gates"], input_gates);
    assert_eq!(json["counts"]["exit_criteria"], exit_gates + inline);

    // Every artifact of the frame phase carries its meta.yml output location.
    let frame = &phases[0];
    let prd = frame["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "prd")
        .expect("prd artifact");
    assert_eq!(prd["output"]["path"], "docs/helix/01-frame/prd.md");
    // HELIX validation rules became typed checks.
    let checks: Vec<&str> = frame["exit_criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["check"]["kind"].as_str())
        .collect();
    assert_eq!(checks, ["pattern", "unique_ids", "pattern"]);
}

/// Every key and every text value of every YAML file of the corpus is somewhere in the JSON.
#[test]
fn no_yaml_key_or_value_of_the_corpus_is_dropped() {
    let Some(helix) = corpus_helix() else { return };
    let repo = TestRepo::new();
    let out = repo.ddx_ok(&["workflow", "show", helix.to_str().unwrap(), "--json"]);
    let json: Json = serde_json::from_str(&out).unwrap();
    let mut json_keys = BTreeSet::new();
    let mut json_strings = BTreeSet::new();
    collect_json(&json, &mut json_keys, &mut json_strings);

    // Keys the model renames, each with where its content went.
    let renamed = [
        ("exit_gates", "exit_criteria"),
        (
            "validation_rules",
            "exit_criteria (origin: validation_rule)",
        ),
        ("pattern", "check.regex"),
        ("unique_ids", "check.kind"),
    ];
    let mut yaml_files = Vec::new();
    walk(&helix, &mut yaml_files);
    assert_eq!(yaml_files.len(), 25, "YAML files of the corpus");
    let mut missing = Vec::new();
    for file in &yaml_files {
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut keys = BTreeSet::new();
        let mut strings = BTreeSet::new();
        collect_yaml(&v, &mut keys, &mut strings);
        for k in keys {
            if !json_keys.contains(&k) && !renamed.iter().any(|(r, _)| *r == k) {
                missing.push(format!("{}: key {k}", file.display()));
            }
        }
        for s in strings {
            if !json_strings.contains(&s) {
                missing.push(format!("{}: value {s:?}", file.display()));
            }
        }
    }
    assert!(missing.is_empty(), "dropped:\n{}", missing.join("\n"));
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

fn collect_json(v: &Json, keys: &mut BTreeSet<String>, strings: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                keys.insert(k.clone());
                collect_json(v, keys, strings);
            }
        }
        Json::Array(a) => a.iter().for_each(|v| collect_json(v, keys, strings)),
        Json::String(s) => {
            strings.insert(s.trim().to_owned());
        }
        Json::Number(n) => {
            strings.insert(n.to_string());
        }
        Json::Bool(b) => {
            strings.insert(b.to_string());
        }
        Json::Null => {}
    }
}

fn collect_yaml(
    v: &serde_yaml::Value,
    keys: &mut BTreeSet<String>,
    strings: &mut BTreeSet<String>,
) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                if let Some(k) = k.as_str() {
                    keys.insert(k.to_owned());
                }
                collect_yaml(v, keys, strings);
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|v| collect_yaml(v, keys, strings)),
        serde_yaml::Value::String(s) => {
            strings.insert(s.trim().to_owned());
        }
        serde_yaml::Value::Number(n) => {
            strings.insert(n.to_string());
        }
        serde_yaml::Value::Bool(b) => {
            strings.insert(b.to_string());
        }
        _ => {}
    }
}

#[test]
fn every_embedded_workflow_is_valid_without_warnings() {
    let repo = TestRepo::new();
    let list = repo.ddx_json(&["workflow", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    for required in ["adr", "bugfix", "helix", "tdd"] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    for name in names {
        let json = repo.ddx_json(&["workflow", "validate", name, "--json"]);
        assert_eq!(json["valid"], true, "{name}: {:#}", json["errors"]);
        assert_eq!(
            json["warnings"],
            Json::Array(vec![]),
            "{name}: {:#}",
            json["warnings"]
        );
        assert!(
            json["counts"]["artifacts"].as_u64().unwrap() >= 2,
            "{name} has too few artifacts"
        );
    }
    let helix = repo.ddx_json(&["workflow", "show", "helix", "--json"]);
    assert_eq!(helix["phases"].as_array().unwrap().len(), 6);
    assert!(
        helix["counts"]["checks"].as_u64().unwrap() > 0,
        "helix has machine checks"
    );
    let design = &helix["phases"][1];
    assert!(design["depends_on"]
        .as_array()
        .is_some_and(|d| !d.is_empty()));
}

/// Runs `validate` on a fixture and returns its stdout with the fixture's path replaced.
fn validate_fixture(name: &str) -> (Option<i32>, String) {
    let repo = TestRepo::new();
    let dir = fixtures().join("invalid").join(name);
    let out = repo.ddx(&["workflow", "validate", dir.to_str().unwrap()]);
    let text = stdout(&out).replace(dir.to_str().unwrap(), "<dir>");
    (out.status.code(), text)
}

#[test]
fn each_broken_workflow_gets_a_clear_message_with_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        ("yaml-syntax", "<dir>/workflow.yml:4:16: error: mapping values are not allowed in this context"),
        ("wrong-type", "<dir>/workflow.yml:4:12: error: phases[0].order: invalid type: string \"first\", expected a whole number"),
        ("no-workflow-yml", "<dir>/workflow.yml: error: no workflow.yml found (a workflow is a folder with a workflow.yml at its top)"),
        ("unknown-dependency", "<dir>/workflow.yml:5:5: error: phase `build` depends on `desing`, which is not a phase of this workflow (did you mean `design`?)"),
        ("dependency-cycle", "<dir>/workflow.yml:4:5: error: the phases depend on each other in a cycle: a -> c -> b -> a (remove one of these dependencies)"),
        ("duplicate-phase-ids", "<dir>/workflow.yml:5:9: error: phase id `frame` is used twice (phases 1 and 3) (every phase needs its own id)"),
        ("duplicate-artifact-ids", "<dir>/phases/02-do/artifacts/notes: error: artifact id `notes` is also used by <dir>/phases/01-plan/artifacts/notes (give each artifact its own id (folder name or meta.yml `id`))"),
        ("invalid-regex", "<dir>/workflow.yml:6:27: error: the regex `[NEEDS CLARIFICATION` of `No open markers` is invalid: unclosed character class (patterns use Rust regex syntax; escape backslashes in double-quoted YAML)"),
        ("template-syntax", "<dir>/phases/01-a/artifacts/doc/template.md:3: error: template does not parse: syntax error: unexpected end of input, expected end of block (`{% %}` statements are minijinja; close every block and tag)"),
        ("output-dotdot", "<dir>/phases/01-a/artifacts/doc/meta.yml:3:13: error: output location `../outside/doc.md` leaves the repository (`..`) (artifact paths are relative to the repository root and stay inside it)"),
        ("output-absolute", "<dir>/phases/01-a/artifacts/doc/meta.yml:3:13: error: output location `/etc/ddx-doc.md` is absolute (artifact paths are relative to the repository root and stay inside it)"),
        ("non-utf8", "<dir>/workflow.yml:2:17: error: the file is not valid UTF-8 (invalid byte 0xe9) (save the file as UTF-8)"),
        ("empty-file", "<dir>/workflow.yml: error: the file is empty; expected a workflow definition with `name:` and `phases:`"),
        ("misspelt-key", "<dir>/workflow.yml:4:5: error: unknown key `exit_critera` in phase `a` (did you mean `exit_criteria`?)"),
        ("bad-when", "<dir>/workflow.yml:5:12: error: `when` of phase `ui` does not parse: syntax error: unexpected end of input, expected expression (write a minijinja expression over the variables, such as `language == 'rust'`)"),
        ("orphan-phase-folder", "<dir>/phases/02-desgn: error: folder `02-desgn` belongs to no phase: workflow.yml has no phase `desgn` (add the phase to workflow.yml or remove the folder)"),
    ];
    for (name, expected) in cases {
        let (code, text) = validate_fixture(name);
        assert_eq!(code, Some(4), "{name}: exit code; output:\n{text}");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(first, *expected, "{name}");
        let last = text.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("invalid: {name} has 1 error"))
                || last.starts_with("invalid: "),
            "{name}: {last}"
        );
    }
}

#[test]
fn validate_reports_every_error_not_only_the_first() {
    let (code, text) = validate_fixture("several-errors");
    assert_eq!(code, Some(4));
    assert_eq!(
        text,
        "<dir>/workflow.yml:4:5: error: phase `a` depends on `zzz`, which is not a phase of this workflow (phases are: a, b)\n\
         <dir>/workflow.yml:7:27: error: the regex `(` of `bad` is invalid: unclosed group (patterns use Rust regex syntax; escape backslashes in double-quoted YAML)\n\
         <dir>/workflow.yml:9:12: error: `when` of phase `b` does not parse: syntax error: unexpected `=` (write a minijinja expression over the variables, such as `language == 'rust'`)\n\
         invalid: several-errors has 3 errors (2 phases, 0 artifacts, 0 actions, 0 input gates, 1 exit criterion (0 machine-checked))\n"
    );
    let (_, text) = validate_fixture("unknown-check");
    assert!(text.contains("workflow.yml:6:56: error: `expected: lots` of `Tests exist` is not a count (write 0, >0, >=N, present or absent)"), "{text}");
    assert!(
        text.contains("workflow.yml:8:9: error: the check of `Something` names no check kind"),
        "{text}"
    );
}

#[test]
fn validate_json_lists_errors_with_locations() {
    let repo = TestRepo::new();
    let dir = fixtures().join("invalid/misspelt-key");
    let out = repo.ddx(&["workflow", "validate", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(4));
    let json: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let err = &json["errors"][0];
    assert_eq!(err["line"], 4);
    assert_eq!(err["column"], 5);
    assert_eq!(err["message"], "unknown key `exit_critera` in phase `a`");
    assert_eq!(err["hint"], "did you mean `exit_criteria`?");
}

#[test]
fn a_50_mb_file_is_refused_without_reading_it_whole() {
    let repo = TestRepo::new();
    let dir = repo.path("huge");
    std::fs::create_dir_all(dir.join("phases/01-a/artifacts/doc")).unwrap();
    std::fs::write(dir.join("workflow.yml"), "name: huge\nphases:\n  - id: a\n").unwrap();
    let big = vec![b'x'; 50 * 1024 * 1024];
    std::fs::write(dir.join("phases/01-a/artifacts/doc/template.md"), &big).unwrap();
    let out = repo.ddx(&["workflow", "validate", "./huge"]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("template.md: error: ")
            && text.contains(
                "is 52428800 bytes, more than the 4194304 bytes a workflow file may have"
            ),
        "{text}"
    );
    std::fs::write(dir.join("workflow.yml"), &big).unwrap();
    let out = repo.ddx(&["workflow", "validate", "./huge"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stdout(&out).contains("workflow.yml is 52428800 bytes"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn no_mangled_definition_makes_the_loader_panic() {
    let Some(helix) = corpus_helix() else { return };
    let text = std::fs::read(helix.join("workflow.yml")).unwrap();
    let gates = std::fs::read(helix.join("phases/01-frame/exit-gates.yml")).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..400 {
        let mut w = text.clone();
        let mut g = gates.clone();
        for buf in [&mut w, &mut g] {
            match round % 4 {
                0 => buf.truncate((next() as usize) % buf.len()),
                1 => {
                    let i = (next() as usize) % buf.len();
                    buf[i] = (next() % 256) as u8;
                }
                2 => {
                    let i = (next() as usize) % buf.len();
                    let choices: [&[u8]; 6] = [b": [", b"\n  - ", b"{{ ", b"{% if", b"\t", b"\xff"];
                    let bytes = choices[(next() % 6) as usize];
                    buf.splice(i..i, bytes.iter().copied());
                }
                _ => {
                    let a = (next() as usize) % buf.len();
                    let b = (next() as usize) % buf.len();
                    let (a, b) = (a.min(b), a.max(b));
                    buf.drain(a..b);
                }
            }
        }
        let tree = ddx::model::StaticTree::new(
            "mangled",
            vec![
                ("workflow.yml", Box::leak(w.into_boxed_slice())),
                (
                    "phases/01-frame/exit-gates.yml",
                    Box::leak(g.into_boxed_slice()),
                ),
            ],
        );
        // Must return, valid or not, with a diagnostic whenever it is not valid.
        let v = ddx::model::validate(&tree);
        if !v.is_valid() {
            assert!(v.errors().next().is_some() || v.workflow.is_none());
        }
    }
}

#[test]
fn list_works_in_a_fresh_repository_and_outside_any() {
    let repo = TestRepo::new();
    let text = repo.ddx_ok(&["workflow", "list"]);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("helix ")), "{text}");
    let plain = TestRepo::plain();
    assert!(plain.ddx_ok(&["workflow", "list"]).contains("tdd"));

    let json = repo.ddx_json(&["workflow", "list", "--json"]);
    for entry in json.as_array().unwrap() {
        for field in [
            "name",
            "version",
            "category",
            "tags",
            "description",
            "source",
        ] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
        assert_eq!(entry["source"], "embedded");
    }
    let tagged = repo.ddx_json(&["workflow", "list", "--json", "--tag", "no-such-tag"]);
    assert_eq!(tagged, Json::Array(vec![]));
    let helix_cat = json
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "helix")
        .unwrap()["category"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_cat = repo.ddx_json(&["workflow", "list", "--json", "--category", &helix_cat]);
    assert!(by_cat
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["category"] == helix_cat.as_str()));
    assert!(by_cat
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["name"] == "helix"));
}

#[test]
fn show_json_has_the_contract_fields() {
    let repo = TestRepo::new();
    let json = repo.ddx_json(&["workflow", "show", "tdd", "--json"]);
    for field in [
        "name",
        "version",
        "phases",
        "actions",
        "variables",
        "errors",
    ] {
        assert!(json.get(field).is_some(), "{field} missing");
    }
    for phase in json["phases"].as_array().unwrap() {
        for field in [
            "id",
            "name",
            "depends_on",
            "artifacts",
            "actions",
            "input_gates",
            "exit_criteria",
        ] {
            assert!(phase.get(field).is_some(), "phase field {field} missing");
        }
    }
    let text = repo.ddx_ok(&["workflow", "show", "tdd"]);
    assert!(text.contains("Phases"), "{text}");
}

#[test]
fn an_unknown_name_suggests_the_closest_one() {
    let repo = TestRepo::new();
    let out = repo.ddx(&["workflow", "show", "helx"]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        "error: no workflow named `helx`\nhint: did you mean `helix`? `ddx workflow list` shows every workflow\n"
    );
    let out = repo.ddx(&["workflow", "show", "./no/such/dir"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("is not a directory"));
    let out = repo.ddx(&["workflow", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn git_ddx_works_as_a_git_subcommand() {
    let repo = TestRepo::new();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_git-ddx")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = repo
        .command("git")
        .env("PATH", path)
        .args(["ddx", "workflow", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("helix"));
}

#[test]
fn version_and_completions() {
    let repo = TestRepo::new();
    assert_eq!(
        repo.ddx_ok(&["--version"]),
        format!("ddx {}\n", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish"] {
        // The registration of the dynamic engine: the shell asks ddx at each Tab.
        let script = repo.ddx_ok(&["completion", shell]);
        assert!(
            (script.contains(&format!("COMPLETE=\"{shell}\""))
                || script.contains(&format!("COMPLETE={shell}")))
                && script.contains("ddx"),
            "{shell} completion registers ddx: {script}"
        );
    }
}

/// Parsing each corpus file into its raw type and serializing it back keeps every key and value.
#[test]
fn raw_types_round_trip_every_corpus_file() {
    use ddx::model::raw::*;
    let Some(helix) = corpus_helix() else { return };
    let mut files = Vec::new();
    walk(&helix, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        let back: serde_yaml::Value = match name {
            "workflow.yml" => {
                serde_yaml::to_value(serde_yaml::from_str::<RawWorkflow>(&text).unwrap())
            }
            "input-gates.yml" => {
                serde_yaml::to_value(serde_yaml::from_str::<RawInputGatesFile>(&text).unwrap())
            }
            "exit-gates.yml" => {
                serde_yaml::to_value(serde_yaml::from_str::<RawExitGatesFile>(&text).unwrap())
            }
            "meta.yml" => {
                serde_yaml::to_value(serde_yaml::from_str::<RawArtifactMeta>(&text).unwrap())
            }
            _ => serde_yaml::to_value(serde_yaml::from_str::<RawStateRules>(&text).unwrap()),
        }
        .unwrap();
        let original: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(normalize(&back), normalize(&original), "{}", file.display());
    }
}

/// Scalars compared by their text, so `1` and `"1"` are the same value.
fn normalize(v: &serde_yaml::Value) -> serde_yaml::Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Mapping(m) => Y::Mapping(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (normalize(k), normalize(v)))
                .collect(),
        ),
        Y::Sequence(s) => Y::Sequence(s.iter().map(normalize).collect()),
        Y::Number(n) => Y::String(n.to_string()),
        Y::Bool(b) => Y::String(b.to_string()),
        Y::String(s) => Y::String(s.clone()),
        other => other.clone(),
    }
}
