//! Templating of step inputs, `confirm` and `when` with minijinja, strict about undefined names.
//!
//! A template sees `params.<name>`, `profile.<key>` and `steps.<id>.outputs.<key>` (earlier
//! steps only). A string that is exactly one `{{ expression }}` keeps the expression's type
//! (`{{ params.count }}` stays an integer); any other string renders to a string.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use super::error::{Diagnostics, Pos};

/// What a template can see.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Scope {
    pub params: BTreeMap<String, Value>,
    pub profile: BTreeMap<String, Value>,
    /// `steps.<id>.outputs.<key>`.
    pub steps: BTreeMap<String, StepScope>,
}

/// The part of a step visible to later templates.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StepScope {
    pub outputs: BTreeMap<String, Value>,
}

/// A template failure (syntax, undefined name, bad filter use), without a file position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct TemplateError {
    pub message: String,
}

impl From<minijinja::Error> for TemplateError {
    fn from(err: minijinja::Error) -> Self {
        let mut message = match err.detail() {
            Some(detail) => format!("{}: {detail}", err.kind()),
            None => err.kind().to_string(),
        };
        if let Some(name) = err
            .name()
            .filter(|n| *n != "<string>" && *n != "<expression>")
        {
            message.push_str(&format!(" (in {name})"));
        }
        TemplateError { message }
    }
}

/// The environment every runbook template uses.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_filter("b64encode", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    });
    env
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The expression when `text` is exactly `{{ expression }}`.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Renders one string.
pub(crate) fn render_str(
    env: &Environment<'_>,
    text: &str,
    scope: &Scope,
) -> Result<Value, TemplateError> {
    if !is_template(text) {
        return Ok(Value::from(text));
    }
    if let Some(expr) = sole_expression(text) {
        let value = env.compile_expression(expr)?.eval(scope)?;
        if value.is_undefined() {
            return Err(TemplateError {
                message: format!("undefined value: `{expr}`"),
            });
        }
        return serde_json::to_value(&value).map_err(|e| TemplateError {
            message: format!("failed to convert `{expr}`: {e}"),
        });
    }
    Ok(Value::from(env.render_str(text, scope)?))
}

/// Evaluates a `when:` expression to a boolean (Jinja truthiness).
pub(crate) fn eval_condition(
    env: &Environment<'_>,
    expr: &str,
    scope: &Scope,
) -> Result<bool, TemplateError> {
    let expr = sole_expression(expr).unwrap_or(expr);
    Ok(env.compile_expression(expr)?.eval(scope)?.is_true())
}

/// The names a template or expression reads, as dotted paths (`steps.a.outputs.x`).
pub(crate) fn references(
    env: &Environment<'_>,
    text: &str,
    expression: bool,
) -> Result<HashSet<String>, TemplateError> {
    if expression {
        let expr = sole_expression(text).unwrap_or(text);
        return Ok(env.compile_expression(expr)?.undeclared_variables(true));
    }
    if !is_template(text) {
        return Ok(HashSet::new());
    }
    if let Some(expr) = sole_expression(text) {
        return Ok(env.compile_expression(expr)?.undeclared_variables(true));
    }
    Ok(env.template_from_str(text)?.undeclared_variables(true))
}

/// What references may point at while checking one step.
pub(crate) struct RefRules<'a> {
    pub params: &'a [String],
    /// Earlier steps and the outputs their kind declares.
    pub earlier: &'a BTreeMap<String, &'static [&'static str]>,
    /// Every step id, to tell "later step" from "no such step".
    pub all_steps: &'a [String],
}

/// Checks a template's syntax and references, reporting at `pos`.
pub(crate) fn check(
    env: &Environment<'_>,
    text: &str,
    expression: bool,
    pos: Pos,
    rules: &RefRules<'_>,
    diags: &mut Diagnostics,
) {
    let refs = match references(env, text, expression) {
        Ok(refs) => refs,
        Err(e) => return diags.push(pos, format!("invalid template: {e}")),
    };
    let mut refs: Vec<String> = refs.into_iter().collect();
    refs.sort();
    for r in refs {
        if let Err(message) = check_reference(&r, rules) {
            diags.push(pos, message);
        }
    }
}

/// In a kind's declared outputs: the kind names its outputs at run time (e.g. `kube.secret`,
/// one output per key of the Secret), so any key is accepted.
pub(crate) const ANY_OUTPUT: &str = "*";

const BUILTINS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "true",
    "false",
    "none",
    "loop",
];

fn check_reference(reference: &str, rules: &RefRules<'_>) -> Result<(), String> {
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        ["params", name, ..] if !rules.params.iter().any(|p| p == name) => Err(format!(
            "unknown param `{name}` in `{reference}`; declared params: {}",
            rules.params.join(", ")
        )),
        ["params", ..] | ["profile", ..] | ["steps"] => Ok(()),
        ["steps", id, rest @ ..] => check_step_reference(reference, id, rest, rules),
        [root, ..] if BUILTINS.contains(root) => Ok(()),
        _ => Err(format!(
            "unknown name `{reference}`; expected params.<name>, profile.<key> or steps.<id>.outputs.<key>"
        )),
    }
}

fn check_step_reference(
    reference: &str,
    id: &str,
    rest: &[&str],
    rules: &RefRules<'_>,
) -> Result<(), String> {
    let Some(outputs) = rules.earlier.get(id) else {
        return Err(if rules.all_steps.iter().any(|s| s == id) {
            format!("`{reference}` refers to step `{id}`, which does not run before this one")
        } else {
            format!("`{reference}` refers to unknown step `{id}`")
        });
    };
    match rest {
        [] | ["outputs"] => Ok(()),
        ["outputs", key, ..] if outputs.contains(key) || outputs.contains(&ANY_OUTPUT) => Ok(()),
        ["outputs", key, ..] => Err(format!(
            "step `{id}` has no output `{key}`; its outputs: {}",
            if outputs.is_empty() {
                "none".to_string()
            } else {
                outputs.join(", ")
            }
        )),
        [other, ..] => Err(format!(
            "`{reference}`: expected steps.{id}.outputs.<key>, found `{other}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::default();
        s.params.insert("n".into(), Value::from(3));
        s.params.insert("name".into(), Value::from("db"));
        let mut out = StepScope::default();
        out.outputs.insert("x".into(), Value::from("hello"));
        s.steps.insert("a".into(), out);
        s
    }

    #[test]
    fn sole_expression_keeps_its_type() {
        let env = environment();
        assert_eq!(
            render_str(&env, "{{ params.n }}", &scope()).unwrap(),
            Value::from(3)
        );
        assert_eq!(
            render_str(&env, "n={{ params.n }}", &scope()).unwrap(),
            Value::from("n=3")
        );
        assert_eq!(
            render_str(&env, "{{ steps.a.outputs.x | upper }}", &scope()).unwrap(),
            Value::from("HELLO")
        );
    }

    #[test]
    fn undefined_names_are_errors() {
        let env = environment();
        assert!(render_str(&env, "{{ params.typo }}", &scope()).is_err());
        assert!(render_str(&env, "x {{ params.typo }} y", &scope()).is_err());
    }

    #[test]
    fn conditions_use_truthiness() {
        let env = environment();
        assert!(eval_condition(&env, "params.n > 2", &scope()).unwrap());
        assert!(!eval_condition(&env, "{{ params.name == 'x' }}", &scope()).unwrap());
    }

    #[test]
    fn b64encode_filter_is_available() {
        let env = environment();
        assert_eq!(
            render_str(&env, "{{ 'ab' | b64encode }}", &scope()).unwrap(),
            Value::from("YWI=")
        );
    }

    #[test]
    fn references_are_checked_against_earlier_steps() {
        let env = environment();
        let earlier = BTreeMap::from([("a".to_string(), &["x"][..])]);
        let params = vec!["n".to_string()];
        let all = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let rules = RefRules {
            params: &params,
            earlier: &earlier,
            all_steps: &all,
        };
        let mut d = Diagnostics::new("f");
        check(
            &env,
            "{{ steps.a.outputs.x }} {{ params.n }} {{ profile.ns }}",
            false,
            Pos::new(1, 1),
            &rules,
            &mut d,
        );
        assert!(d.is_empty(), "{d:?}");
        for (bad, expect) in [
            ("{{ steps.c.outputs.x }}", "does not run before"),
            ("{{ steps.zz.outputs.x }}", "unknown step"),
            ("{{ steps.a.outputs.y }}", "no output `y`"),
            ("{{ params.m }}", "unknown param `m`"),
            ("{{ parms.n }}", "unknown name"),
            ("{{ unclosed", "invalid template"),
        ] {
            let mut d = Diagnostics::new("f");
            check(&env, bad, false, Pos::new(1, 1), &rules, &mut d);
            let msg = d.finish(()).unwrap_err().to_string();
            assert!(msg.contains(expect), "{bad}: {msg}");
        }
    }
}
