//! `cnpgops refresh-dev APP [--from prod] [--to dev] [--method dump|recovery]`: the
//! `refresh-dev` runbook (or `refresh-dev-recovery`) with its parameters, after the naming profile's prod guard (a production target is refused here,
//! before anything is contacted, whatever the flags).

use std::collections::BTreeMap;

use super::{start_run, Context};
use crate::cli::{ConfirmArgs, RefreshDevArgs};
use crate::error::Error;
use crate::profile::Resolved;

pub async fn run(ctx: &Context, args: RefreshDevArgs) -> Result<(), Error> {
    let (name, profile) = ctx.naming_profile()?;
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
            crate::refresh::RefreshMode::Parallel.promise()
        );
    }
    let (runbook, given) = if args.method == "recovery" {
        ("refresh-dev-recovery", recovery_params(&args))
    } else if args.target_time.is_some() {
        return Err(Error::Usage(
            "--target-time needs --method recovery (a dump is always of now)".into(),
        ));
    } else {
        ("refresh-dev", dump_params(&args))
    };
    let (loaded, values) = ctx.load_given(runbook, &given)?;
    let confirm = ConfirmArgs {
        yes: args.yes,
        allow_prod: false,
        grace: args.grace,
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

/// The `refresh-dev` runbook's parameters (dump and restore through a Job).
fn dump_params(args: &RefreshDevArgs) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_string(), args.app.clone()),
        ("from".to_string(), args.from.clone()),
        ("to".to_string(), args.to.clone()),
        ("verify".to_string(), args.verify.clone()),
        ("mode".to_string(), args.mode.clone()),
        ("jobs".to_string(), args.jobs.to_string()),
        ("image".to_string(), args.image.clone().unwrap_or_default()),
        (
            "job_cpu".to_string(),
            args.job_cpu.clone().unwrap_or_default(),
        ),
        (
            "job_memory".to_string(),
            args.job_memory.clone().unwrap_or_default(),
        ),
        (
            "insecure_no_tls".to_string(),
            args.insecure_no_tls.to_string(),
        ),
        (
            "dump_storage_class".to_string(),
            args.dump_storage_class.clone().unwrap_or_default(),
        ),
    ])
}

/// `--method recovery`: the `refresh-dev-recovery` runbook's parameters (dev recreated from
/// prod's object store).
fn recovery_params(args: &RefreshDevArgs) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_string(), args.app.clone()),
        ("from".to_string(), args.from.clone()),
        ("to".to_string(), args.to.clone()),
        (
            "target_time".to_string(),
            args.target_time.clone().unwrap_or_default(),
        ),
        (
            "resume_autosync".to_string(),
            args.resume_autosync.to_string(),
        ),
    ])
}
