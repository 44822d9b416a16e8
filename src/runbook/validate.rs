//! Turns a parsed runbook into a checked [`Runbook`], collecting every problem with its position.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde_saphyr::Spanned;

use super::error::{Diagnostics, Pos, RunbookError};
use super::kinds::{KindSignature, KindSignatures};
use super::model::{RawParam, RawRetries, RawRunbook, RawStep};
use super::node::{Node, NodeValue};
use super::params::{ParamSpec, ParamType};
use super::template::{self, RefRules};
use super::{Located, Retries, Runbook, StepSpec};

fn identifier() -> Regex {
    // Step ids and param names are read in templates as `steps.<id>`: they must be identifiers.
    Regex::new("^[a-z_][a-z0-9_]*$").unwrap_or_else(|_| unreachable!("constant regex"))
}

/// Validates `raw` (parsed from `file`) against the known step kinds.
pub(crate) fn validate(
    file: &str,
    raw: RawRunbook,
    kinds: &dyn KindSignatures,
) -> Result<Runbook, RunbookError> {
    let mut d = Diagnostics::new(file);
    let name_pos = Pos::from(raw.name.referenced);
    let name_re =
        Regex::new("^[a-z0-9][a-z0-9-]*$").unwrap_or_else(|_| unreachable!("constant regex"));
    if !name_re.is_match(&raw.name.value) {
        d.push(
            name_pos,
            format!(
                "invalid runbook name `{}`: expected lowercase letters, digits and `-`",
                raw.name.value
            ),
        );
    }
    let params = check_params(&raw.params, &mut d);
    let steps = check_steps(&raw.steps, &params, kinds, &mut d);
    let lock = raw.lock.as_ref().map(located);
    if let Some(lock) = &lock {
        check_lock(lock, &params, &mut d);
    }
    d.finish(Runbook {
        name: raw.name.value,
        summary: raw.summary.value,
        description: raw.description,
        params,
        lock,
        steps,
        name_pos,
    })
}

fn check_params(raw: &[Spanned<RawParam>], d: &mut Diagnostics) -> Vec<ParamSpec> {
    let mut out: Vec<ParamSpec> = Vec::new();
    for p in raw {
        let pos = Pos::from(p.value.name.referenced);
        let name = &p.value.name.value;
        if !identifier().is_match(name) {
            d.push(
                pos,
                format!("invalid param name `{name}`: expected an identifier like `target_db`"),
            );
        }
        if out.iter().any(|o| &o.name == name) {
            d.push(pos, format!("duplicate param `{name}`"));
        }
        if let Some(spec) = check_param(&p.value, pos, d) {
            out.push(spec);
        }
    }
    out
}

fn check_param(p: &RawParam, pos: Pos, d: &mut Diagnostics) -> Option<ParamSpec> {
    let ty_pos = Pos::from(p.ty.referenced);
    let ty = match (p.ty.value.as_str(), &p.values) {
        ("enum", Some(values)) if !values.value.is_empty() => ParamType::Enum(values.value.clone()),
        ("enum", _) => {
            d.push(
                ty_pos,
                format!(
                    "param `{}` of type enum needs a non-empty `values:` list",
                    p.name.value
                ),
            );
            return None;
        }
        (_, Some(values)) => {
            d.push(
                values.referenced.into(),
                "`values:` is only allowed on params of type enum",
            );
            return None;
        }
        ("string", _) => ParamType::String,
        ("int", _) => ParamType::Int,
        ("bool", _) => ParamType::Bool,
        ("duration", _) => ParamType::Duration,
        ("timestamp", _) => ParamType::Timestamp,
        (other, _) => {
            d.push(ty_pos, format!("unknown param type `{other}`: expected string, int, bool, duration, timestamp or enum"));
            return None;
        }
    };
    let pattern = p
        .pattern
        .as_ref()
        .and_then(|pat| match Regex::new(&pat.value) {
            Ok(re) => Some(re),
            Err(e) => {
                d.push(
                    pat.referenced.into(),
                    format!("invalid pattern for param `{}`: {e}", p.name.value),
                );
                None
            }
        });
    let mut spec = ParamSpec {
        name: p.name.value.clone(),
        ty,
        required: p.required,
        default: None,
        pattern,
        description: p.description.clone(),
        pos,
    };
    if let Some(default) = &p.default {
        if p.required {
            d.push(
                default.pos,
                format!(
                    "param `{}` is required and has a default: choose one",
                    spec.name
                ),
            );
        }
        match scalar_text(default).map(|t| spec.convert(&t)) {
            Some(Ok(v)) => spec.default = Some(v),
            Some(Err(e)) => d.push(
                default.pos,
                format!("invalid default for param `{}`: {e}", spec.name),
            ),
            None => d.push(
                default.pos,
                format!(
                    "invalid default for param `{}`: expected a scalar",
                    spec.name
                ),
            ),
        }
    }
    Some(spec)
}

/// `lock:` may read params and the profile, not step outputs (it is taken before any step).
fn check_lock(lock: &Located<String>, params: &[ParamSpec], d: &mut Diagnostics) {
    let names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    let rules = RefRules {
        params: &names,
        earlier: &BTreeMap::new(),
        all_steps: &[],
    };
    let env = template::environment();
    template::check(&env, &lock.value, false, lock.pos, &rules, d);
}

fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        NodeValue::String(s) => Some(s.clone()),
        NodeValue::Bool(b) => Some(b.to_string()),
        NodeValue::Int(i) => Some(i.to_string()),
        NodeValue::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

fn check_steps(
    raw: &Spanned<Vec<Spanned<RawStep>>>,
    params: &[ParamSpec],
    kinds: &dyn KindSignatures,
    d: &mut Diagnostics,
) -> Vec<StepSpec> {
    if raw.value.is_empty() {
        d.push(raw.referenced.into(), "a runbook needs at least one step");
    }
    let env = template::environment();
    let param_names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    let all_steps: Vec<String> = raw.value.iter().map(|s| s.value.id.value.clone()).collect();
    let mut earlier: BTreeMap<String, &'static [&'static str]> = BTreeMap::new();
    let mut out = Vec::new();
    for step in &raw.value {
        let id = &step.value.id;
        if !identifier().is_match(&id.value) {
            d.push(
                id.referenced.into(),
                format!(
                    "invalid step id `{}`: expected an identifier like `scale_down`",
                    id.value
                ),
            );
        }
        if earlier.contains_key(&id.value) {
            d.push(
                id.referenced.into(),
                format!("duplicate step id `{}`", id.value),
            );
        }
        let rules = RefRules {
            params: &param_names,
            earlier: &earlier,
            all_steps: &all_steps,
        };
        let sig = kinds.signature(&step.value.uses.value);
        if sig.is_none() {
            d.push(
                step.value.uses.referenced.into(),
                format!(
                    "unknown step kind `{}`; known kinds: {}",
                    step.value.uses.value,
                    kinds.names().join(", ")
                ),
            );
        }
        let spec = check_step(step, sig, &env, &rules, d);
        earlier.insert(id.value.clone(), sig.map(|s| s.outputs).unwrap_or(&[]));
        out.push(spec);
    }
    out
}

fn check_step(
    step: &Spanned<RawStep>,
    sig: Option<&KindSignature>,
    env: &minijinja::Environment<'_>,
    rules: &RefRules<'_>,
    d: &mut Diagnostics,
) -> StepSpec {
    let s = &step.value;
    let pos = Pos::from(s.id.referenced);
    let with = s.with_.clone().unwrap_or_else(|| Node::empty_map(pos));
    check_inputs(&s.id.value, &with, sig, d);
    for (text, at) in with.strings() {
        template::check(env, text, false, at, rules, d);
    }
    let confirm = s.confirm.as_ref().map(located);
    if let Some(c) = &confirm {
        template::check(env, &c.value, false, c.pos, rules, d);
        if !s.destructive {
            d.push(
                c.pos,
                format!(
                    "step `{}` has `confirm:` but is not `destructive: true`",
                    s.id.value
                ),
            );
        }
    } else if s.destructive {
        d.push(
            pos,
            format!(
                "destructive step `{}` needs `confirm:` (the target name the user must type)",
                s.id.value
            ),
        );
    }
    let when = s.when.as_ref().map(located);
    if let Some(w) = &when {
        template::check(env, &w.value, true, w.pos, rules, d);
    }
    let timeout = s.timeout.as_ref().and_then(|t| duration(t, "timeout", d));
    let retries = s
        .retries
        .as_ref()
        .map(|r| retries(r, d))
        .unwrap_or_default();
    if s.destructive && retries.attempts > 1 && !sig.is_none_or(|k| k.idempotent) {
        d.push(
            pos,
            format!(
                "destructive step `{}` cannot be retried: kind `{}` is not idempotent",
                s.id.value, s.uses.value
            ),
        );
    }
    StepSpec {
        id: s.id.value.clone(),
        uses: s.uses.value.clone(),
        description: s.description.clone(),
        with,
        destructive: s.destructive,
        confirm,
        timeout,
        retries,
        when,
        always: s.always,
        rerun_on_resume: s.rerun_on_resume,
        pos,
    }
}

fn check_inputs(id: &str, with: &Node, sig: Option<&KindSignature>, d: &mut Diagnostics) {
    let Some(entries) = with.entries() else {
        return d.push(
            with.pos,
            format!("`with:` of step `{id}` must be a mapping of input names to values"),
        );
    };
    let Some(sig) = sig else { return };
    for (key, node) in entries {
        if !sig.inputs.iter().any(|i| i.name == key) {
            let known: Vec<&str> = sig.inputs.iter().map(|i| i.name).collect();
            d.push(
                node.pos,
                format!(
                    "unknown input `{key}` for kind `{}`; expected one of: {}",
                    sig.name,
                    known.join(", ")
                ),
            );
        }
    }
    for input in sig.inputs.iter().filter(|i| i.required) {
        if !entries.iter().any(|(k, _)| k == input.name) {
            d.push(
                with.pos,
                format!(
                    "step `{id}` is missing input `{}` required by kind `{}`",
                    input.name, sig.name
                ),
            );
        }
    }
}

fn located(s: &Spanned<String>) -> Located<String> {
    Located {
        value: s.value.clone(),
        pos: s.referenced.into(),
    }
}

fn duration(s: &Spanned<String>, what: &str, d: &mut Diagnostics) -> Option<Duration> {
    match humantime::parse_duration(&s.value) {
        Ok(v) => Some(v),
        Err(e) => {
            d.push(
                s.referenced.into(),
                format!(
                    "invalid {what} `{}`: expected a duration like `30s` or `10m` ({e})",
                    s.value
                ),
            );
            None
        }
    }
}

fn retries(r: &Spanned<RawRetries>, d: &mut Diagnostics) -> Retries {
    if r.value.attempts == 0 {
        d.push(
            r.referenced.into(),
            "`retries.attempts` counts every attempt and must be at least 1",
        );
    }
    let backoff = r
        .value
        .backoff
        .as_ref()
        .and_then(|b| duration(b, "backoff", d));
    Retries {
        attempts: r.value.attempts.max(1),
        backoff: backoff.unwrap_or(Retries::default().backoff),
    }
}
