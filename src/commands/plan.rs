//! `cnpgops plan RUNBOOK -p k=v`: render every step; contacts nothing.

use super::Context;
use crate::cli::PlanArgs;
use crate::engine::plan::plan;
use crate::engine::{Plan, PlannedStep};
use crate::error::Error;
use crate::ui::Format;

pub(super) fn run(ctx: &Context, args: PlanArgs) -> Result<(), Error> {
    let (loaded, params) = ctx.load_with_params(&args.runbook)?;
    let plan = plan(
        &loaded,
        &ctx.registry,
        &params,
        &ctx.profile_scope(&params)?,
    )?;
    match ctx.global.output {
        Format::Json => ctx.print_json(&plan),
        Format::Text => ctx.print(&text(&plan)),
    }
    Ok(())
}

fn text(plan: &Plan) -> String {
    let params: Vec<String> = plan
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut out = format!("plan for {} ({})\n", plan.runbook, params.join(", "));
    if let Some(lock) = &plan.lock {
        out.push_str(&format!("lock: {lock} (held for the whole run)\n"));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        out.push_str(&format!(
            "{:>2}. {} [{}]: {}\n",
            i + 1,
            step.id,
            step.uses,
            effect(step)
        ));
        let mut flags = Vec::new();
        if step.destructive {
            flags.push(format!(
                "destructive, confirm by typing `{}`",
                step.confirm.clone().unwrap_or_default()
            ));
        }
        if step.confirmation_point {
            flags.push(format!(
                "asks to confirm by typing `{}`",
                step.confirm.clone().unwrap_or_default()
            ));
        }
        if step.always {
            flags.push("always runs".to_string());
        }
        match (step.when, &step.when_expr) {
            (Some(false), Some(e)) => flags.push(format!("skipped: `{e}` is false")),
            (None, Some(e)) => flags.push(format!("runs if `{e}` (decided at run time)")),
            _ => {}
        }
        if !flags.is_empty() {
            out.push_str(&format!("      {}\n", flags.join("; ")));
        }
        out.push_str(&format!("      with: {}\n", step.inputs));
    }
    out
}

fn effect(step: &PlannedStep) -> String {
    match &step.effect {
        Some(e) if e.writes => format!(
            "{} (writes{})",
            e.description,
            if e.prod { ", PRODUCTION" } else { "" }
        ),
        Some(e) => e.description.clone(),
        None => "decided at run time (inputs depend on earlier steps)".into(),
    }
}
