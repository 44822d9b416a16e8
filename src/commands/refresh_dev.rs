//! `cnpgops refresh-dev APP [--from prod] [--to dev]`: the `refresh-dev` runbook with its
//! parameters, after the naming profile's prod guard (a production target is refused here,
//! before anything is contacted, whatever the flags).

use std::collections::BTreeMap;

use super::{start_run, Context};
use crate::cli::{ConfirmArgs, RefreshDevArgs};
use crate::error::Error;
use crate::profile::Resolved;
use crate::runbook::params;

pub async fn run(ctx: &Context, args: RefreshDevArgs) -> Result<(), Error> {
    let (name, profile) =
        crate::profile::load(ctx.global.config.as_deref(), ctx.global.profile.as_deref())
            .map_err(|e| Error::Usage(crate::k8s::error::chain(&e)))?;
    let resolved = Resolved::new(&name, &profile, &args.app, &args.from, &args.to);
    if resolved.is_prod(&resolved.target) {
        return Err(Error::Refused {
            message: format!(
                "refused: the target, env `{}` (Cluster {}/{}), is production in naming profile `{name}`; refresh-dev never writes to production, not even with --yes. Nothing was changed",
                args.to, resolved.target.namespace, resolved.target.cluster
            ),
        });
    }
    let (source, target) = (&resolved.source, &resolved.target);
    if (
        &source.namespace,
        &source.cluster,
        &source.database,
        &source.database_resource,
    ) == (
        &target.namespace,
        &target.cluster,
        &target.database,
        &target.database_resource,
    ) {
        return Err(Error::Usage(format!(
            "--from `{}` and --to `{}` name the same database (Cluster {}/{}) in naming profile `{name}`; pick two environments, e.g. --from prod --to dev. Nothing was changed",
            args.from, args.to, target.namespace, target.cluster
        )));
    }
    if args.mode == "parallel" {
        // Said before anyone is asked to type the target's name.
        eprintln!(
            "warning: --mode parallel is {}",
            crate::refresh::Mode::Parallel.promise()
        );
    }
    if args.method == "recovery" {
        return recovery(ctx, &args, resolved).await;
    }
    if args.target_time.is_some() {
        return Err(Error::Usage(
            "--target-time needs --method recovery (a dump is always of now)".into(),
        ));
    }
    let loaded = ctx.load("refresh-dev")?;
    let given = BTreeMap::from([
        ("app".to_string(), args.app.clone()),
        ("from".to_string(), args.from.clone()),
        ("to".to_string(), args.to.clone()),
        ("verify".to_string(), args.verify.clone()),
        ("mode".to_string(), args.mode.clone()),
        ("jobs".to_string(), args.jobs.to_string()),
        ("image".to_string(), args.image.clone().unwrap_or_default()),
    ]);
    let rb = &loaded.runbook;
    let values = params::resolve(&loaded.source.display, &rb.params, rb.name_pos, &given)?;
    let confirm = ConfirmArgs {
        yes: args.yes,
        allow_prod: false,
    };
    start_run(
        ctx,
        &loaded,
        values,
        confirm,
        resolved.scope(),
        args.dry_run,
    )
    .await
}

/// `--method recovery`: the `refresh-dev-recovery` runbook (dev recreated from prod's store).
async fn recovery(ctx: &Context, args: &RefreshDevArgs, resolved: Resolved) -> Result<(), Error> {
    let loaded = ctx.load("refresh-dev-recovery")?;
    let given = BTreeMap::from([
        ("app".to_string(), args.app.clone()),
        ("from".to_string(), args.from.clone()),
        ("to".to_string(), args.to.clone()),
        (
            "target_time".to_string(),
            args.target_time.clone().unwrap_or_default(),
        ),
    ]);
    let rb = &loaded.runbook;
    let values = params::resolve(&loaded.source.display, &rb.params, rb.name_pos, &given)?;
    let confirm = ConfirmArgs {
        yes: args.yes,
        allow_prod: false,
    };
    start_run(
        ctx,
        &loaded,
        values,
        confirm,
        resolved.scope(),
        args.dry_run,
    )
    .await
}
