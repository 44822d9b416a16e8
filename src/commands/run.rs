//! `cnpgops run RUNBOOK_OR_FILE -p k=v [--dry-run] [--yes] [--allow-prod]`.

use super::{start_run, Context};
use crate::cli::RunArgs;
use crate::error::Error;

pub(super) async fn run(ctx: &Context, args: RunArgs) -> Result<(), Error> {
    let (loaded, params) = ctx.load_with_params(&args.runbook)?;
    let profile = ctx.profile_scope(&params)?;
    start_run(ctx, &loaded, params, args.confirm, profile, args.dry_run).await
}
