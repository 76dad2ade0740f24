//! Rendering every template of the real corpus: no error, and no placeholder lost.

mod common;

use regex::Regex;
use std::path::{Path, PathBuf};

fn templates(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            templates(&path, out);
        } else {
            let name = path.file_name().unwrap().to_string_lossy();
            if name == "template.md"
                || name.ends_with(".template")
                || path.parent().unwrap().ends_with("templates")
            {
                out.push(path);
            }
        }
    }
}

#[test]
fn every_corpus_template_renders_keeping_every_placeholder() {
    let Some(helix) = common::corpus_helix() else {
        return;
    };
    let mut files = Vec::new();
    templates(&helix, &mut files);
    assert!(files.len() >= 46, "found {} templates", files.len());
    let context = serde_json::json!({
        "project_name": "shop",
        "date": "2026-01-14",
        "workflow": {"name": "helix"},
    });
    // What a render may change: only the placeholders of values that are set.
    let set = Regex::new(r"\{\{-?\s*(project_name|date)\s*-?\}\}").unwrap();
    let brackets = Regex::new(r"\[[^\]\n]+\]").unwrap();
    let mut placeholders_kept = 0;
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let rendered = ddx::model::template::render(&source, &context)
            .unwrap_or_else(|e| panic!("{} does not render: {e}", file.display()));
        let expected = set.replace_all(&source, |c: &regex::Captures<'_>| match &c[1] {
            "project_name" => "shop".to_owned(),
            _ => "2026-01-14".to_owned(),
        });
        assert_eq!(rendered, expected, "{}", file.display());
        placeholders_kept += brackets.find_iter(&rendered).count();
        placeholders_kept += rendered.matches("{{").count();
    }
    assert!(
        placeholders_kept > 1000,
        "only {placeholders_kept} placeholders seen"
    );
}
