//! Artifact templates: minijinja, with foreign placeholders left exactly as written.
//!
//! Workflow templates mix minijinja with text that only looks like it: HELIX's Handlebars blocks
//! (`{{#each x}}`), placeholders for values nobody set (`{{ComponentName}}`), Prometheus and GitHub
//! Actions snippets (`{{ $labels.pod }}`), `[Bracket]` text. [`protect`] wraps everything that is
//! not a minijinja expression over known values in `{% raw %}`, so rendering never loses a
//! placeholder and never turns one into an empty string. `{% … %}` statements are minijinja.

use minijinja::{Environment, UndefinedBehavior, Value};
use std::collections::BTreeSet;

/// Rendering budget: a template that loops forever runs out of fuel instead of hanging.
const FUEL: u64 = 5_000_000;

/// A template that does not parse or does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub line: Option<usize>,
    pub message: String,
}

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        let message = match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        };
        TemplateError {
            line: e.line(),
            message,
        }
    }
}

/// Names every template may use besides the workflow's variables.
pub const CONTEXT_NAMES: &[&str] = &["date", "workflow", "phase", "user", "project", "instance"];

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_fuel(Some(FUEL));
    env
}

/// Which `{{ … }}` expressions minijinja may render.
enum Keep<'a> {
    /// Validation: expressions over declared names.
    Declared(&'a BTreeSet<String>),
    /// Rendering: expressions whose value is defined and not none.
    Values(&'a Value),
}

/// Rewrites `src` so that only minijinja expressions that [`Keep`] allows are evaluated.
fn protect(env: &Environment<'_>, src: &str, keep: &Keep<'_>) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut rest = src;
    while let Some(start) = find_open(rest) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with("{%") {
            let Some(end) = rest.find("%}") else {
                out.push_str(rest);
                return out;
            };
            let stmt = &rest[..end + 2];
            let word =
                stmt[2..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            if word == "raw" {
                // Copy a raw block through untouched, up to its end tag.
                let after = &rest[end + 2..];
                let close = find_endraw(after).map_or(rest.len(), |i| end + 2 + i);
                out.push_str(&rest[..close]);
                rest = &rest[close..];
            } else {
                out.push_str(stmt);
                rest = &rest[end + 2..];
            }
        } else if rest.starts_with("{#") {
            out.push_str("{% raw %}{#{% endraw %}");
            rest = &rest[2..];
        } else {
            // `{{`
            let Some(end) = rest[2..].find("}}").map(|i| i + 2) else {
                push_raw(&mut out, rest);
                return out;
            };
            let whole = &rest[..end + 2];
            let inner = &rest[2..end];
            if is_minijinja(env, inner, keep) {
                out.push_str(whole);
            } else {
                push_raw(&mut out, whole);
            }
            rest = &rest[end + 2..];
        }
    }
    out.push_str(rest);
    out
}

fn find_open(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(1)).find(|&i| b[i] == b'{' && matches!(b[i + 1], b'{' | b'%' | b'#'))
}

fn find_endraw(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("{%") {
        let at = from + i;
        let end = s[at..].find("%}")? + at + 2;
        let word =
            s[at + 2..end - 2].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        if word == "endraw" {
            return Some(end);
        }
        from = end;
    }
    None
}

fn push_raw(out: &mut String, text: &str) {
    out.push_str("{% raw %}");
    out.push_str(text);
    out.push_str("{% endraw %}");
}

fn is_minijinja(env: &Environment<'_>, inner: &str, keep: &Keep<'_>) -> bool {
    let trimmed = inner.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
    // Handlebars blocks, partials, comments and `{{else}}`.
    if trimmed.is_empty()
        || trimmed.starts_with(['#', '/', '>', '!', '^', '~', '$'])
        || trimmed == "else"
    {
        return false;
    }
    let Ok(expr) = env.compile_expression(trimmed) else {
        return false;
    };
    match keep {
        Keep::Declared(names) => expr
            .undeclared_variables(false)
            .iter()
            .all(|v| names.contains(v)),
        Keep::Values(ctx) => {
            let roots = expr.undeclared_variables(false);
            let all_set = roots.iter().all(|v| {
                ctx.get_attr(v)
                    .map(|x| !x.is_undefined() && !x.is_none())
                    .unwrap_or(false)
            });
            all_set
                && expr
                    .eval(ctx)
                    .map(|v| !v.is_undefined() && !v.is_none())
                    .unwrap_or(false)
        }
    }
}

/// Checks that `src` parses as a template whose minijinja parts use only `declared` names
/// (plus [`CONTEXT_NAMES`]); foreign placeholders are fine, broken `{% %}` statements are not.
pub fn check_syntax(src: &str, declared: &[String]) -> Result<(), TemplateError> {
    let env = environment();
    let names: BTreeSet<String> = declared
        .iter()
        .cloned()
        .chain(CONTEXT_NAMES.iter().map(|s| (*s).to_owned()))
        .collect();
    let protected = protect(&env, src, &Keep::Declared(&names));
    // Kept `{{ }}` expressions were each compiled by `protect`; only `{% %}` statements can
    // still fail, so a template without any needs no second, whole-file compile.
    if src.contains("{%") {
        env.template_from_str(&protected)?;
    }
    Ok(())
}

/// Renders `src` with `context` (an object: variables and the instance context). Placeholders
/// of values that are not set are left exactly as written.
pub fn render(src: &str, context: &serde_json::Value) -> Result<String, TemplateError> {
    let env = environment();
    let ctx = Value::from_serialize(context);
    let protected = protect(&env, src, &Keep::Values(&ctx));
    let template = env.template_from_str(&protected)?;
    Ok(template.render(&ctx)?)
}

/// Evaluates a `when:` expression; `None` when it does not parse.
pub fn compile_condition(expr: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.compile_expression(expr)?;
    Ok(())
}

/// Evaluates a `when:` expression over the variables. Unset variables are undefined (falsy).
pub fn eval_condition(expr: &str, context: &serde_json::Value) -> Result<bool, TemplateError> {
    let env = environment();
    let compiled = env.compile_expression(expr)?;
    Ok(compiled.eval(context)?.is_true())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_known_values_and_keeps_everything_else() {
        let src = "# {{ project_name }}\n{{#each items}}\n- {{this}}\n{{/each}}\n\
                   {{ComponentName}} [Fill me] {{ $labels.pod }} ${#arr[@]} {{ job.status == 'ok' }}\n";
        let out = render(src, &json!({"project_name": "shop"})).unwrap();
        assert_eq!(
            out,
            "# shop\n{{#each items}}\n- {{this}}\n{{/each}}\n\
             {{ComponentName}} [Fill me] {{ $labels.pod }} ${#arr[@]} {{ job.status == 'ok' }}\n"
        );
    }

    #[test]
    fn unset_and_empty_values_keep_their_placeholder() {
        let out = render("a {{ x }} b {{ y.z }} c", &json!({"x": null, "y": {}})).unwrap();
        assert_eq!(out, "a {{ x }} b {{ y.z }} c");
    }

    #[test]
    fn statements_are_minijinja() {
        let out = render("{% if x %}yes{% endif %}", &json!({"x": true})).unwrap();
        assert_eq!(out, "yes");
        let err = check_syntax("{% if project_name %}open", &[]).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }

    #[test]
    fn raw_blocks_pass_through() {
        let out = render(
            "{% raw %}{{ a }}{% endraw %} {{ b }}",
            &json!({"a": 1, "b": 2}),
        )
        .unwrap();
        assert_eq!(out, "{{ a }} 2");
    }

    #[test]
    fn conditions_evaluate_over_variables() {
        assert!(eval_condition("lang == 'rust'", &json!({"lang": "rust"})).unwrap());
        assert!(!eval_condition("has_ui", &json!({})).unwrap());
        assert!(compile_condition("a ==").is_err());
    }
}
