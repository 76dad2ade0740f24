//! Search over the catalog index: filters, and ranking of workflows for a few words.
//!
//! Ranking puts a workflow whose name is the query (or one of its words) first, then orders by
//! a BM25F-style score: each field has a weight (the name counts most, the description least),
//! a word's weight falls with the number of workflows that contain it, and long workflows do not
//! win by length alone. A word also matches the start of a longer word (`test` finds `testing`)
//! at half weight. Every hit says which fields matched, and with what.

use super::index::{Entry, IndexedWorkflow};
use serde::Serialize;
use std::collections::HashMap;

/// A searchable field of a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Tag,
    Keyword,
    Category,
    Phase,
    Artifact,
    Description,
}

impl Field {
    pub fn weight(self) -> f32 {
        match self {
            Field::Name => 4.0,
            Field::Tag | Field::Keyword => 2.5,
            Field::Category => 2.0,
            Field::Phase | Field::Artifact => 1.5,
            Field::Description => 1.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Tag => "tag",
            Field::Keyword => "keyword",
            Field::Category => "category",
            Field::Phase => "phase",
            Field::Artifact => "artifact",
            Field::Description => "description",
        }
    }
}

/// Calls `f` with every searchable value of `e`.
fn for_each_field(e: &Entry, mut f: impl FnMut(Field, &str)) {
    f(Field::Name, &e.name);
    for t in &e.tags {
        f(Field::Tag, t);
    }
    for k in &e.keywords {
        f(Field::Keyword, k);
    }
    f(Field::Category, &e.category);
    for p in &e.phases {
        f(Field::Phase, &p.name);
        if p.id != p.name {
            f(Field::Phase, &p.id);
        }
    }
    for a in &e.artifacts {
        f(Field::Artifact, a);
    }
    f(Field::Description, &e.description);
}

/// The lowercase words of `text`: runs of letters and digits.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// The weighted number of words of an entry (its length for ranking).
pub fn weighted_length(e: &Entry) -> f32 {
    let mut len = 0.0;
    for_each_field(e, |field, value| {
        len += field.weight() * tokens(value).count() as f32;
    });
    len
}

/// Which workflows a search or a list keeps.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub category: Option<String>,
    /// Every one of these tags (or keywords) must be present.
    pub tags: Vec<String>,
    /// A source: `local`, `project`, `embedded`, `repo`, `repo:<name>` or a repository name.
    pub source: Option<String>,
    /// A language the workflow is compatible with: one it lists, or any language when it
    /// lists none.
    pub compatible_with: Option<String>,
}

impl Filter {
    pub fn matches(&self, w: &IndexedWorkflow) -> bool {
        if let Some(s) = &self.source {
            if !w.source.matches(s) {
                return false;
            }
        }
        if self.category.is_none() && self.tags.is_empty() && self.compatible_with.is_none() {
            return true;
        }
        let e = &w.entry();
        if let Some(c) = &self.category {
            if !e.category.eq_ignore_ascii_case(c) {
                return false;
            }
        }
        for t in &self.tags {
            let has = e
                .tags
                .iter()
                .chain(&e.keywords)
                .any(|x| x.eq_ignore_ascii_case(t));
            if !has {
                return false;
            }
        }
        if let Some(lang) = &self.compatible_with {
            let ok = e.languages.is_empty()
                || e.languages.iter().any(|l| {
                    l.eq_ignore_ascii_case(lang) || matches!(l.as_str(), "any" | "all" | "*")
                });
            if !ok {
                return false;
            }
        }
        true
    }
}

/// One reason a workflow matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The query word.
    pub term: String,
    pub field: Field,
    /// The value that matched (a tag, a phase name, a word of the description, …).
    pub value: String,
    /// False when the word only matched the start of a longer word, or the other way round.
    pub exact: bool,
}

/// A ranked search result.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    pub workflow: &'a IndexedWorkflow,
    /// The workflow's decoded index entry.
    pub entry: Entry,
    pub score: f64,
    /// The query is the workflow's name, or one of its words is.
    pub exact_name: bool,
    pub matches: Vec<Match>,
}

impl Hit<'_> {
    /// Why the workflow matched, as short phrases (`exact name`, `"test": tag testing`).
    pub fn why(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.exact_name {
            out.push("exact name".to_owned());
        }
        let mut terms: Vec<&str> = Vec::new();
        for m in &self.matches {
            if !terms.contains(&m.term.as_str()) {
                terms.push(&m.term);
            }
        }
        for t in terms {
            let parts: Vec<String> = self
                .matches
                .iter()
                .filter(|m| m.term == t)
                .map(|m| {
                    let partial = if m.exact { "" } else { "~" };
                    format!("{} {partial}{}", m.field.label(), m.value)
                })
                .collect();
            out.push(format!("\"{t}\": {}", parts.join(", ")));
        }
        out
    }
}

const K1: f64 = 1.2;
const B: f64 = 0.75;
const PARTIAL: f32 = 0.5;

/// How `term` matches `token`: `Some(true)` exactly, `Some(false)` by prefix.
fn term_matches(term: &str, token: &str) -> Option<bool> {
    if term == token {
        Some(true)
    } else if (term.chars().count() >= 3 && token.starts_with(term))
        || (token.chars().count() >= 4 && term.starts_with(token))
    {
        Some(false)
    } else {
        None
    }
}

/// The first up to four characters of `term`: any match contains them.
fn probe(term: &str) -> String {
    term.chars().take(4).collect()
}

/// ASCII-case-insensitive substring test over bytes, without allocating.
fn contains_ci(h: &[u8], n: &[u8]) -> bool {
    let Some(&first) = n.first() else {
        return true;
    };
    if h.len() < n.len() {
        return false;
    }
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let last = h.len() - n.len();
    let mut i = 0;
    while i <= last {
        match h[i..=last].iter().position(|&c| c == lo || c == up) {
            None => return false,
            Some(p) => i += p,
        }
        if h[i..i + n.len()].eq_ignore_ascii_case(n) {
            return true;
        }
        i += 1;
    }
    false
}

/// Ranks `candidates` for `words`. Workflows matching no word are left out.
pub fn search<'a>(candidates: &[&'a IndexedWorkflow], words: &[String]) -> Vec<Hit<'a>> {
    let mut terms: Vec<String> = Vec::new();
    for w in words {
        for t in tokens(w) {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
    }
    let lowered: Vec<String> = words.iter().map(|w| w.trim().to_lowercase()).collect();
    let phrase = lowered.join("-");
    let probes: Vec<String> = terms.iter().map(|t| probe(t)).collect();

    let n = candidates.len().max(1) as f64;
    let avg_len = (candidates
        .iter()
        .map(|w| f64::from(w.record.length()))
        .sum::<f64>()
        / n)
        .max(1.0);
    // A probe that is not ASCII cannot be matched case-insensitively on raw bytes.
    let probe_all = probes.iter().any(|p| !p.is_ascii());

    // Per candidate that matches at all: weighted term frequencies and the matches.
    struct Scored<'a> {
        workflow: &'a IndexedWorkflow,
        entry: Entry,
        exact_name: bool,
        tf: Vec<f32>,
        matches: Vec<Match>,
    }
    let mut scored: Vec<Scored<'a>> = Vec::new();
    for &w in candidates {
        let name = w.name();
        let exact_name = !phrase.is_empty()
            && (name.eq_ignore_ascii_case(&phrase)
                || lowered.iter().any(|l| name.eq_ignore_ascii_case(l))
                || (!name.is_ascii() && {
                    let name = name.to_lowercase();
                    name == phrase || lowered.contains(&name)
                }));
        // Every match contains its word's first characters: skip the rest unread.
        let maybe = exact_name
            || probe_all
            || probes
                .iter()
                .any(|p| contains_ci(w.record.raw(), p.as_bytes()));
        if !maybe {
            continue;
        }
        let entry = w.entry();
        let e = &entry;
        let mut tf = vec![0.0f32; terms.len()];
        let mut matches: Vec<Match> = Vec::new();
        for_each_field(e, |field, value| {
            for token in tokens(value) {
                for (i, term) in terms.iter().enumerate() {
                    let Some(exact) = term_matches(term, &token) else {
                        continue;
                    };
                    tf[i] += field.weight() * if exact { 1.0 } else { PARTIAL };
                    let shown = if field == Field::Description {
                        token.clone()
                    } else {
                        value.to_owned()
                    };
                    let m = Match {
                        term: term.clone(),
                        field,
                        value: shown,
                        exact,
                    };
                    if !matches.contains(&m) {
                        matches.push(m);
                    }
                }
            }
        });
        if exact_name || tf.iter().any(|&x| x > 0.0) {
            scored.push(Scored {
                workflow: w,
                entry,
                exact_name,
                tf,
                matches,
            });
        }
    }

    let mut df: HashMap<usize, f64> = HashMap::new();
    for s in &scored {
        for (i, &x) in s.tf.iter().enumerate() {
            if x > 0.0 {
                *df.entry(i).or_default() += 1.0;
            }
        }
    }
    let mut hits: Vec<Hit<'a>> = scored
        .into_iter()
        .map(|s| {
            let len = f64::from(s.entry.length).max(1.0);
            let mut score = 0.0;
            for (i, &x) in s.tf.iter().enumerate() {
                if x <= 0.0 {
                    continue;
                }
                let d = df.get(&i).copied().unwrap_or(0.0);
                let idf = (1.0 + (n - d + 0.5) / (d + 0.5)).ln();
                let x = f64::from(x);
                score += idf * x * (K1 + 1.0) / (x + K1 * (1.0 - B + B * len / avg_len));
            }
            Hit {
                workflow: s.workflow,
                entry: s.entry,
                score,
                exact_name: s.exact_name,
                matches: s.matches,
            }
        })
        .collect();
    hits.sort_by(|a, b| {
        b.exact_name
            .cmp(&a.exact_name)
            .then(b.score.total_cmp(&a.score))
            .then(a.workflow.rank.cmp(&b.workflow.rank))
            .then(a.entry.name.cmp(&b.entry.name))
    });
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::index::PhaseRef;
    use crate::catalog::Source;

    fn wf(name: &str, tags: &[&str], description: &str, phases: &[&str]) -> IndexedWorkflow {
        let mut entry = Entry {
            name: name.into(),
            version: "1".into(),
            category: "development".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            keywords: Vec::new(),
            languages: Vec::new(),
            description: description.into(),
            phases: phases
                .iter()
                .map(|p| PhaseRef {
                    id: p.to_string(),
                    name: p.to_string(),
                })
                .collect(),
            artifacts: Vec::new(),
            artifact_count: 0,
            length: 0.0,
            key: String::new(),
        };
        entry.length = weighted_length(&entry);
        IndexedWorkflow::new(&entry, Source::Embedded, 0)
    }

    #[test]
    fn an_exact_name_ranks_first_even_against_a_denser_match() {
        let all = [
            wf(
                "testing-suite",
                &["tdd", "tdd-first"],
                "tdd tdd tdd everywhere",
                &["tdd"],
            ),
            wf("tdd", &[], "red green refactor", &["red", "green"]),
        ];
        let c: Vec<&IndexedWorkflow> = all.iter().collect();
        let hits = search(&c, &["tdd".to_owned()]);
        assert_eq!(hits[0].entry.name, "tdd");
        assert!(hits[0].exact_name);
        assert_eq!(hits[1].entry.name, "testing-suite");
        assert!(
            hits[1].score > hits[0].score,
            "the exact name wins on rank, not score"
        );
    }

    #[test]
    fn rarer_words_and_better_fields_score_higher() {
        let all = [
            wf("a", &["security"], "a workflow", &["plan"]),
            wf("b", &[], "mentions security once", &["plan"]),
            wf("c", &[], "nothing relevant", &["plan"]),
        ];
        let c: Vec<&IndexedWorkflow> = all.iter().collect();
        let hits = search(&c, &["security".to_owned()]);
        let names: Vec<&str> = hits.iter().map(|h| h.entry.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(hits[0].why(), ["\"security\": tag security"]);
        assert_eq!(hits[1].why(), ["\"security\": description security"]);
    }

    #[test]
    fn a_word_matches_the_start_of_longer_words() {
        let all = [wf("x", &["testing"], "", &["deploy"])];
        let c: Vec<&IndexedWorkflow> = all.iter().collect();
        let hits = search(&c, &["test".to_owned()]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].why(), ["\"test\": tag ~testing"]);
        assert!(search(&c, &["zzz".to_owned()]).is_empty());
    }

    #[test]
    fn filters_combine() {
        let with_langs = |langs: &[&str]| {
            let mut e = wf("x", &["Rust"], "", &[]).entry();
            e.languages = langs.iter().map(|s| s.to_string()).collect();
            IndexedWorkflow::new(&e, Source::Embedded, 0)
        };
        let w = with_langs(&["rust"]);
        let f = Filter {
            tags: vec!["rust".into()],
            compatible_with: Some("Rust".into()),
            source: Some("embedded".into()),
            ..Filter::default()
        };
        assert!(f.matches(&w));
        let f = Filter {
            compatible_with: Some("go".into()),
            ..Filter::default()
        };
        assert!(!f.matches(&w));
        let w = with_langs(&[]);
        assert!(f.matches(&w), "no languages listed: any language");
        let f = Filter {
            source: Some("project".into()),
            ..Filter::default()
        };
        assert!(!f.matches(&w));
    }
}
