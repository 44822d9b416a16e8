//! `cnpgops runbooks list|show NAME|validate FILE...`.

use super::Context;
use crate::cli::RunbooksCommand;
use crate::error::Error;
use crate::runbook::source::Source;
use crate::runbook::{Diagnostic, Runbook, RunbookError};
use crate::ui::Format;

pub(super) fn run(ctx: &Context, cmd: RunbooksCommand) -> Result<(), Error> {
    match cmd {
        RunbooksCommand::List => list(ctx),
        RunbooksCommand::Show { name } => show(ctx, &name),
        RunbooksCommand::Validate { files } => validate(ctx, &files),
    }
}

fn list(ctx: &Context) -> Result<(), Error> {
    let mut rows = Vec::new();
    for source in ctx.runbooks.sources()? {
        let display = source.display.clone();
        let loaded = crate::runbook::load(source, ctx.registry.as_ref());
        rows.push(match loaded {
            Ok(l) => serde_json::json!({"name": l.runbook.name, "summary": l.runbook.summary, "source": display, "valid": true}),
            Err(_) => serde_json::json!({"name": null, "summary": null, "source": display, "valid": false}),
        });
    }
    match ctx.global.output {
        Format::Json => ctx.print_json(&rows),
        Format::Text => {
            let mut out = String::new();
            for r in &rows {
                let name = r["name"].as_str().unwrap_or("(invalid)");
                out.push_str(&format!(
                    "{name:<24} {}\n",
                    r["summary"].as_str().unwrap_or("")
                ));
            }
            ctx.print(&out);
        }
    }
    Ok(())
}

fn show(ctx: &Context, name: &str) -> Result<(), Error> {
    let loaded = ctx.load(name)?;
    let rb = &loaded.runbook;
    if ctx.global.output == Format::Json {
        ctx.print_json(&serde_json::json!({
            "name": rb.name, "summary": rb.summary, "description": rb.description,
            "source": loaded.source.display, "digest": loaded.source.digest(), "params": rb.params,
            "steps": rb.steps.iter().map(|s| serde_json::json!({
                "id": s.id, "uses": s.uses, "destructive": s.destructive, "always": s.always,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    ctx.print(&show_text(rb, &loaded.source));
    Ok(())
}

fn show_text(rb: &Runbook, source: &Source) -> String {
    let mut out = format!("{} - {}\nsource: {}\n", rb.name, rb.summary, source.display);
    if let Some(d) = &rb.description {
        out.push_str(&format!("\n{}\n", d.trim_end()));
    }
    out.push_str("\nparams:\n");
    for p in &rb.params {
        let req = if p.required { " (required)" } else { "" };
        let default = p
            .default
            .as_ref()
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<16} {}{req}{default}  {}\n",
            p.name,
            p.ty.name(),
            p.description.clone().unwrap_or_default()
        ));
    }
    out.push_str("steps:\n");
    for s in &rb.steps {
        let flags = [(s.destructive, " destructive"), (s.always, " always")];
        let flags: String = flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect();
        out.push_str(&format!("  {:<20} {}{flags}\n", s.id, s.uses));
    }
    out
}

fn validate(ctx: &Context, files: &[std::path::PathBuf]) -> Result<(), Error> {
    let mut failures: Vec<Diagnostic> = Vec::new();
    let mut ok = Vec::new();
    for file in files {
        let result =
            Source::read(file).and_then(|s| crate::runbook::load(s, ctx.registry.as_ref()));
        match result {
            Ok(l) => ok.push(format!(
                "ok: {} ({}, {} steps)",
                l.source.display,
                l.runbook.name,
                l.runbook.steps.len()
            )),
            Err(RunbookError::Invalid { diagnostics }) => failures.extend(diagnostics),
            Err(other) => return Err(other.into()),
        }
    }
    match ctx.global.output {
        Format::Json => ctx.print_json(
            &serde_json::json!({"valid": failures.is_empty(), "diagnostics": failures}),
        ),
        Format::Text => ctx.print(&ok.iter().map(|l| format!("{l}\n")).collect::<String>()),
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(RunbookError::Invalid {
            diagnostics: failures,
        }
        .into())
    }
}
