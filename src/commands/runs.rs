//! `cnpgops runs list|show RUN_ID`.

use super::Context;
use crate::cli::RunsCommand;
use crate::engine::RunState;
use crate::error::Error;
use crate::ui::Format;

pub(super) async fn run(ctx: &Context, cmd: RunsCommand) -> Result<(), Error> {
    let store = ctx.store()?;
    match cmd {
        RunsCommand::List => {
            let runs = store.list().await?;
            match ctx.global.output {
                Format::Json => ctx.print_json(&runs.iter().map(summary).collect::<Vec<_>>()),
                Format::Text => {
                    let mut out = format!(
                        "{:<22} {:<20} {:<18} {}\n",
                        "RUN", "RUNBOOK", "STATUS", "UPDATED"
                    );
                    for r in &runs {
                        let status = word(&r.status);
                        out.push_str(&format!(
                            "{:<22} {:<20} {:<18} {}\n",
                            r.run_id,
                            r.runbook.name,
                            status,
                            r.updated_at.to_rfc3339()
                        ));
                    }
                    ctx.print(&out);
                }
            }
        }
        RunsCommand::Show { run_id } => {
            let state = store.load(&run_id).await?;
            match ctx.global.output {
                Format::Json => ctx.print_json(&state),
                Format::Text => ctx.print(&show(&state)),
            }
        }
    }
    Ok(())
}

fn summary(r: &RunState) -> serde_json::Value {
    serde_json::json!({
        "run_id": r.run_id, "runbook": r.runbook.name, "status": r.status,
        "created_at": r.created_at, "updated_at": r.updated_at,
    })
}

fn word(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn show(r: &RunState) -> String {
    let mut out = format!(
        "run {}\nrunbook: {} ({}, {})\nmode: {}\nstatus: {}\n",
        r.run_id,
        r.runbook.name,
        r.runbook.origin,
        r.runbook.digest,
        word(&r.mode),
        word(&r.status)
    );
    if let Some(m) = &r.message {
        out.push_str(&format!("message: {m}\n"));
    }
    out.push_str(&format!(
        "params: {}\nsteps:\n",
        serde_json::to_string(&r.params).unwrap_or_default()
    ));
    for s in &r.steps {
        out.push_str(&format!(
            "  {:<20} {:<10} attempts={}",
            s.id,
            word(&s.status),
            s.attempts
        ));
        if !s.outputs.is_empty() {
            out.push_str(&format!(
                " outputs={}",
                serde_json::to_string(&s.outputs).unwrap_or_default()
            ));
        }
        if let Some(e) = &s.error {
            out.push_str(&format!(" error: {e}"));
        }
        out.push('\n');
    }
    out
}
