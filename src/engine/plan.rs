//! Plan: every step's rendered inputs and intended effect, before anything runs.
//!
//! Outputs of earlier steps are not known yet: they render as `<steps.ID.outputs.KEY>`
//! placeholders, and a `when:` reading them is decided at run time.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::lock::LockTarget;
use super::registry::Registry;
use super::step::{Inputs, StepPlan};
use crate::runbook::error::Diagnostics;
use crate::runbook::template::{self, Scope, StepScope};
use crate::runbook::{Loaded, ParamValues, RunbookError, StepSpec};

/// A runbook rendered with parameters.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Plan {
    pub runbook: String,
    pub params: ParamValues,
    /// The rendered `NAMESPACE/NAME` the run will hold locked.
    pub lock: Option<String>,
    pub steps: Vec<PlannedStep>,
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlannedStep {
    pub id: String,
    pub uses: String,
    pub destructive: bool,
    pub always: bool,
    /// The rendered name to type, for destructive steps and confirmation points.
    pub confirm: Option<String>,
    /// The step is an explicit confirmation point (the `confirm` kind).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirmation_point: bool,
    /// `Some(false)`: skipped; `None`: no condition, or decided at run time (`when_expr`).
    pub when: Option<bool>,
    pub when_expr: Option<String>,
    pub inputs: Value,
    /// What the kind says it will do; `None` when that depends on earlier outputs.
    pub effect: Option<StepPlan>,
}

impl PlannedStep {
    /// Whether the run must confirm before this step (destructive, or a confirmation point).
    pub(crate) fn needs_confirmation(&self) -> bool {
        self.destructive || self.confirmation_point
    }
}

/// A placeholder for an output not produced yet.
pub(crate) fn placeholder(step: &str, key: &str) -> String {
    format!("<steps.{step}.outputs.{key}>")
}

/// Renders every step of `loaded` with `params` and `profile`.
pub(crate) fn plan(
    loaded: &Loaded,
    registry: &Registry,
    params: &ParamValues,
    profile: &BTreeMap<String, Value>,
) -> Result<Plan, RunbookError> {
    let env = template::environment();
    let mut d = Diagnostics::new(&loaded.source.display);
    let mut scope = Scope {
        params: params.clone(),
        profile: profile.clone(),
        steps: BTreeMap::new(),
    };
    let lock = loaded.runbook.lock.as_ref().and_then(|l| {
        let rendered = template::render_str(&env, &l.value, &scope)
            .map_err(|e| d.push(l.pos, format!("failed to render `lock`: {e}")))
            .ok()?;
        let text = value_text(&rendered);
        LockTarget::parse(&text)
            .map_err(|e| d.push(l.pos, e))
            .ok()?;
        Some(text)
    });
    let mut steps = Vec::new();
    for spec in &loaded.runbook.steps {
        steps.push(plan_step(&env, registry, spec, &scope, &mut d));
        let outputs = registry
            .get(&spec.uses)
            .map(|s| s.signature().outputs)
            .unwrap_or(&[]);
        let step_scope = StepScope {
            outputs: outputs
                .iter()
                .map(|k| (k.to_string(), Value::from(placeholder(&spec.id, k))))
                .collect(),
        };
        scope.steps.insert(spec.id.clone(), step_scope);
    }
    d.finish(Plan {
        runbook: loaded.runbook.name.clone(),
        params: params.clone(),
        lock,
        steps,
    })
}

fn plan_step(
    env: &minijinja::Environment<'_>,
    registry: &Registry,
    spec: &StepSpec,
    scope: &Scope,
    d: &mut Diagnostics,
) -> PlannedStep {
    let mut render = |text: &str, pos| {
        template::render_str(env, text, scope).or_else(|e| {
            // Reads into an earlier step's output (`steps.a.outputs.obj.field`): unknown yet.
            if reads_outputs(env, text, false) {
                return Ok(Value::from(output_placeholder(text)));
            }
            d.push(pos, format!("failed to render template: {e}"));
            Err(())
        })
    };
    let inputs = spec.with.to_json(&mut render).unwrap_or(Value::Null);
    let confirm = spec
        .confirm
        .as_ref()
        .and_then(|c| render(&c.value, c.pos).ok())
        .map(|v| value_text(&v));
    let when_expr = spec.when.as_ref().map(|w| w.value.clone());
    let when = match &spec.when {
        Some(w) if !reads_outputs(env, &w.value, true) => {
            template::eval_condition(env, &w.value, scope)
                .map_err(|e| d.push(w.pos, format!("failed to evaluate `when`: {e}")))
                .ok()
        }
        _ => None,
    };
    let effect = match (registry.get(&spec.uses), &inputs) {
        (Some(step), Value::Object(map)) => {
            let planned = step.plan(&Inputs(map.clone()));
            match planned {
                Ok(p) => Some(p),
                Err(_) if inputs.to_string().contains("<steps.") => None,
                Err(e) => {
                    d.push(spec.pos, format!("step `{}`: {e}", spec.id));
                    None
                }
            }
        }
        _ => None,
    };
    let point = match (registry.get(&spec.uses), &inputs) {
        (Some(step), Value::Object(map)) => step
            .confirmation_target(&Inputs(map.clone()))
            .ok()
            .flatten(),
        _ => None,
    };
    PlannedStep {
        id: spec.id.clone(),
        uses: spec.uses.clone(),
        destructive: spec.destructive,
        always: spec.always,
        confirmation_point: point.is_some(),
        confirm: point.or(confirm),
        when,
        when_expr,
        inputs,
        effect,
    }
}

/// A value as the text a person would type.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{{ steps.a.outputs.x.y }}` -> `<steps.a.outputs.x.y>`.
fn output_placeholder(text: &str) -> String {
    let inner = text.trim();
    let inner = inner
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(inner);
    format!("<{}>", inner.trim())
}

fn reads_outputs(env: &minijinja::Environment<'_>, text: &str, expression: bool) -> bool {
    template::references(env, text, expression)
        .map(|refs| refs.iter().any(|r| r.starts_with("steps")))
        .unwrap_or(true)
}
