//! `cnpgops run RUNBOOK_OR_FILE -p k=v [--dry-run] [--yes] [--allow-prod]`.

use tokio_util::sync::CancellationToken;

use super::{cancel_on_signals, finish_run, Context};
use crate::cli::RunArgs;
use crate::engine::Mode;
use crate::error::Error;

pub async fn run(ctx: &Context, args: RunArgs) -> Result<(), Error> {
    let (loaded, params) = ctx.load_with_params(&args.runbook)?;
    let cancel = CancellationToken::new();
    let profile = ctx.profile_scope(&params)?;
    let engine = ctx.engine_with(args.confirm, cancel.clone(), profile)?;
    cancel_on_signals(cancel);
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Real
    };
    let report = engine.start(&loaded, params, mode).await?;
    finish_run(ctx, &report)
}
