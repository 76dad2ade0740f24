//! `ddx recommend`: ranks every workflow of the catalog for a piece of work described in words.
//!
//! A workflow's score is the sum of four signals, each reported with its weight in `why`:
//! - **relevance**: the catalog search's BM25F score of the words (stop words left out) against
//!   the workflow's name, tags, keywords, category, phases, artifacts and description, scaled so
//!   that the best match scores [`RELEVANCE`];
//! - **kind of work**: words that say what kind of work it is (`crash` → bug fixing, `decision`
//!   → a decision record, …, see [`KINDS`]), [`KIND_WEIGHT`] each (at most [`KIND_CAP`] per
//!   kind), for the workflows of that kind: the one named so, or one tagged so;
//! - **finding**: [`FINDING_WEIGHT`] for each finding of `ddx analyze` that names the workflow;
//! - **history**: [`HISTORY_WEIGHT`] per instance of it completed here, minus as much per
//!   instance abandoned here (cancelled or failed), within ±[`HISTORY_CAP`].

use super::Finding;
use crate::catalog::search;
use crate::catalog::IndexedWorkflow;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the best textual match scores.
pub const RELEVANCE: f64 = 3.0;
/// What each word of a kind of work adds.
pub const KIND_WEIGHT: f64 = 1.5;
/// The most one kind of work adds.
pub const KIND_CAP: f64 = 4.5;
/// What each finding that names the workflow adds.
pub const FINDING_WEIGHT: f64 = 0.5;
/// What each instance completed here adds (and each abandoned one takes away).
pub const HISTORY_WEIGHT: f64 = 0.25;
/// The most the history adds or takes away.
pub const HISTORY_CAP: f64 = 1.0;

/// Kinds of work: the kind (a workflow name or tag) and the words that signal it. A word
/// matches a word of the text that starts with it (`crash` matches `crashes`); a phrase matches
/// consecutive words.
pub const KINDS: &[(&str, &[&str])] = &[
    (
        "bugfix",
        &[
            "crash",
            "bug",
            "regression",
            "error",
            "fail",
            "broken",
            "breaks",
            "exception",
            "panic",
            "segfault",
            "stack trace",
            "stacktrace",
            "traceback",
            "defect",
            "hang",
            "freez",
            "incorrect",
            "wrong result",
            "not working",
            "stopped working",
            "doesn t work",
            "leak",
            "corrupt",
            "timeout",
            "times out",
            "fix",
            "hotfix",
            "glitch",
            "500",
        ],
    ),
    (
        "adr",
        &[
            "decision",
            "decide",
            "choos",
            "choice",
            "architecture",
            "architectural",
            "technology",
            "which database",
            "which framework",
            "versus",
            "vs",
            "trade off",
            "tradeoff",
            "alternative",
            "adopt",
            "evaluate",
            "framework",
            "migrate to",
            "switch to",
            "select a",
            "pick a",
            "tech stack",
            "rfc",
            "should we use",
            "standardis",
            "standardiz",
            "database",
            "library",
            "vendor",
            "provider",
            "over",
            "between",
        ],
    ),
    (
        "helix",
        &[
            "new service",
            "new product",
            "new app",
            "new application",
            "new system",
            "new platform",
            "new project",
            "microservice",
            "product",
            "feature",
            "greenfield",
            "from scratch",
            "mvp",
            "launch",
            "requirements",
            "platform",
            "build a",
            "start a",
            "startup",
            "end to end",
            "roadmap",
        ],
    ),
    (
        "tdd",
        &[
            "test",
            "coverage",
            "refactor",
            "untested",
            "unit test",
            "tdd",
            "red green",
            "legacy code",
            "test first",
            "test driven",
        ],
    ),
];

/// Words left out of the relevance search: they say nothing about the kind of work.
const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "when", "is", "are",
    "was", "were", "be", "been", "it", "its", "this", "that", "these", "i", "we", "my", "our",
    "us", "you", "your", "at", "by", "from", "as", "after", "before", "should", "which", "what",
    "how", "do", "does", "did", "not", "no", "can", "could", "would", "will", "into", "up", "out",
    "about", "there", "their", "then", "than", "so", "if", "but", "have", "has", "had", "get",
    "gets", "got", "me", "need", "needs", "want", "some", "all", "every", "one", "now", "t", "s",
    "let", "lets", "new",
];

/// One signal's part of a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Why {
    /// `relevance`, `kind`, `finding` or `history`.
    pub signal: String,
    pub weight: f64,
    pub detail: String,
}

/// One ranked workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub name: String,
    pub source: String,
    pub score: f64,
    pub why: Vec<Why>,
}

/// How a workflow fared here: instances completed and abandoned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    pub instances: usize,
    pub completed: usize,
    pub abandoned: usize,
}

/// What, beyond the words, a recommendation takes into account.
#[derive(Debug)]
pub struct Context<'a> {
    /// The findings of `ddx analyze`.
    pub findings: &'a [Finding],
    /// The outcomes of the instances here, by workflow.
    pub outcomes: &'a BTreeMap<String, Outcomes>,
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Whether `words` holds `signal`: one word, matched as a prefix (or, when long, a suffix), or
/// a phrase of consecutive words, the last matched as a prefix.
fn holds(words: &[String], signal: &str) -> bool {
    let parts: Vec<&str> = signal.split(' ').collect();
    if parts.len() == 1 {
        // A short signal matches only short words (`vs`, not `vsync`); a long one also ends
        // compounds (`exception` in `nullpointerexception`, `error` in `typeerror`).
        return words.iter().any(|w| {
            (w.starts_with(signal) && (signal.len() >= 4 || w.len() <= signal.len() + 2))
                || (signal.len() >= 5 && w.ends_with(signal))
        });
    }
    words.windows(parts.len()).any(|win| {
        win.iter().zip(&parts).enumerate().all(|(i, (w, p))| {
            if i + 1 == parts.len() {
                w.starts_with(p)
            } else {
                w == p
            }
        })
    })
}

/// The kinds of work `words` signal, each with the signal words found.
pub fn kinds(words: &[String]) -> Vec<(&'static str, Vec<&'static str>)> {
    KINDS
        .iter()
        .filter_map(|(kind, signals)| {
            let found: Vec<&str> = signals
                .iter()
                .copied()
                .filter(|s| holds(words, s))
                .collect();
            (!found.is_empty()).then_some((*kind, found))
        })
        .collect()
}

/// Whether workflow `w` is of kind `kind`: named so, or tagged so.
fn is_kind(w: &IndexedWorkflow, kind: &str) -> bool {
    if w.name().eq_ignore_ascii_case(kind) {
        return true;
    }
    let raw = w.record.raw();
    let has = raw
        .windows(kind.len())
        .any(|win| win.eq_ignore_ascii_case(kind.as_bytes()));
    has && {
        let e = w.entry();
        e.tags
            .iter()
            .chain(&e.keywords)
            .any(|t| t.eq_ignore_ascii_case(kind))
    }
}

/// Ranks every workflow of `candidates` for `text`, best first (ties by name).
pub fn recommend(
    candidates: &[&IndexedWorkflow],
    text: &[String],
    cx: &Context<'_>,
) -> Vec<Recommendation> {
    let words: Vec<String> = text
        .iter()
        .flat_map(|t| search::tokens(t).collect::<Vec<_>>())
        .collect();
    let query: Vec<String> = words
        .iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .cloned()
        .collect();
    let hits = if query.is_empty() {
        Vec::new()
    } else {
        search::search(candidates, &query)
    };
    let best = hits.iter().map(|h| h.score).fold(0.0f64, f64::max);
    let mut relevance: BTreeMap<(&str, usize), (f64, String)> = BTreeMap::new();
    for h in &hits {
        let terms: Vec<&str> = {
            let mut t: Vec<&str> = h.matches.iter().map(|m| m.term.as_str()).collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        // Scaled to the best match, and by the share of the words matched: one common word
        // in a long description says little.
        let coverage = terms.len() as f64 / query.len() as f64;
        let scaled = if best > 0.0 {
            RELEVANCE * h.score / best * coverage.min(1.0)
        } else {
            0.0
        };
        relevance.insert(
            (h.workflow.name(), h.workflow.rank),
            (scaled, format!("matched {}", terms.join(", "))),
        );
    }
    let kinds = kinds(&words);
    let mut out: Vec<Recommendation> = candidates
        .iter()
        .map(|w| {
            let mut why = Vec::new();
            if let Some((score, detail)) = relevance.get(&(w.name(), w.rank)) {
                why.push(Why {
                    signal: "relevance".to_owned(),
                    weight: round(*score),
                    detail: detail.clone(),
                });
            }
            for (kind, found) in &kinds {
                if is_kind(w, kind) {
                    let weight = (KIND_WEIGHT * found.len() as f64).min(KIND_CAP);
                    why.push(Why {
                        signal: "kind".to_owned(),
                        weight,
                        detail: format!("{kind} work: {}", found.join(", ")),
                    });
                }
            }
            for f in cx.findings {
                if f.workflows.iter().any(|n| n == w.name()) {
                    why.push(Why {
                        signal: "finding".to_owned(),
                        weight: FINDING_WEIGHT,
                        detail: format!("{}: {}", f.id, f.title),
                    });
                }
            }
            if let Some(o) = cx.outcomes.get(w.name()) {
                let net = o.completed as f64 - o.abandoned as f64;
                let weight = (HISTORY_WEIGHT * net).clamp(-HISTORY_CAP, HISTORY_CAP);
                if o.completed + o.abandoned > 0 {
                    why.push(Why {
                        signal: "history".to_owned(),
                        weight,
                        detail: format!(
                            "{} completed, {} abandoned here",
                            o.completed, o.abandoned
                        ),
                    });
                }
            }
            Recommendation {
                name: w.name().to_owned(),
                source: w.source.to_string(),
                score: round(why.iter().map(|y| y.weight).sum::<f64>() + 0.0),
                why,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        search::tokens(text).collect()
    }

    #[test]
    fn signal_words_match_word_starts_and_phrases() {
        assert!(holds(&words("the app crashes on save"), "crash"));
        assert!(holds(
            &words("we need a new service for billing"),
            "new service"
        ));
        assert!(holds(&words("a new services layer"), "new service"));
        assert!(!holds(&words("a service that is new"), "new service"));
        assert!(holds(&words("Postgres vs MySQL"), "vs"));
        assert!(!holds(&words("the vsync setting"), "vs"));
        assert!(holds(&words("a NullPointerException"), "exception"));
        let k = kinds(&words("Decide which database: Postgres vs MySQL"));
        assert_eq!(
            k,
            [("adr", vec!["decide", "which database", "vs", "database"])]
        );
    }
}
