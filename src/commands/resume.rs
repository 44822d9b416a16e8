//! `cnpgops resume RUN_ID`: continue at the first unfinished step (see `engine::resume`).

use tokio_util::sync::CancellationToken;

use super::{cancel_on_signals, finish_run, Context};
use crate::cli::ResumeArgs;
use crate::engine::ResumeOptions;
use crate::error::Error;

pub(super) async fn run(ctx: &Context, args: ResumeArgs) -> Result<(), Error> {
    let state = ctx.store()?.load(&args.run_id).await?;
    let source = ctx.runbooks.reopen(&state.runbook.origin)?;
    let loaded = crate::runbook::load(source, ctx.registry.as_ref())?;
    let cancel = CancellationToken::new();
    let profile = ctx.profile_scope(&state.params)?;
    let engine = ctx.engine_with(args.confirm, cancel.clone(), profile)?;
    cancel_on_signals(cancel);
    let options = ResumeOptions {
        mark_done: args.mark_done,
        rerun: args.rerun,
    };
    let report = engine.resume(&loaded, &args.run_id, &options).await?;
    finish_run(ctx, &report)
}
