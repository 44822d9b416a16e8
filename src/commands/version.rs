//! `cnpgops version`.

use super::Context;
use crate::error::Error;
use crate::ui::Format;

pub(super) fn run(ctx: &Context) -> Result<(), Error> {
    let version = env!("CARGO_PKG_VERSION");
    match ctx.global.output {
        Format::Json => ctx.print_json(&serde_json::json!({ "version": version })),
        Format::Text => ctx.print(&format!("cnpgops {version}\n")),
    }
    Ok(())
}
