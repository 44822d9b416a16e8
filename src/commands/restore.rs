//! `cnpgops restore APP --env ENV [--target-time T | --target-lsn L | --backup-id ID |
//! --latest] [--to-cluster NAME | --in-place]`: the `restore` runbook with its parameters and
//! the naming profile's names for ENV (`profile.target.*`). In place on production needs
//! `--allow-prod`, checked here before anything is contacted.

use std::collections::BTreeMap;

use super::{duration_param, start_run, Context};
use crate::cli::RestoreArgs;
use crate::error::Error;
use crate::profile::Resolved;

pub(super) async fn run(ctx: &Context, args: RestoreArgs) -> Result<(), Error> {
    let (name, profile) = ctx.naming_profile()?;
    let resolved = Resolved::new(&name, &profile, &args.app, &profile.prod_env, &args.env);
    let in_place = args.to_cluster.is_none();
    if in_place && resolved.is_prod(&resolved.target) && !args.confirm.allow_prod && !args.dry_run {
        // Said before anything is read or paused (the runbook decides in place at run time).
        return Err(Error::Refused {
            message: format!(
                "refused: restoring Cluster {}/{} in place deletes a production cluster; pass --allow-prod (or restore into a new cluster with --to-cluster NAME). Nothing was changed",
                resolved.target.namespace, resolved.target.cluster
            ),
        });
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let given = BTreeMap::from([
        ("app".to_string(), args.app.clone()),
        ("env".to_string(), args.env.clone()),
        ("target_time".to_string(), text(&args.target_time)),
        ("target_lsn".to_string(), text(&args.target_lsn)),
        ("backup_id".to_string(), text(&args.backup_id)),
        ("latest".to_string(), args.latest.to_string()),
        ("to_cluster".to_string(), text(&args.to_cluster)),
        (
            "skip_safety_backup".to_string(),
            args.skip_safety_backup.to_string(),
        ),
        ("timeout".to_string(), duration_param(args.timeout)),
        (
            "resume_autosync".to_string(),
            args.resume_autosync.to_string(),
        ),
    ]);
    let (loaded, values) = ctx.load_given("restore", &given)?;
    start_run(
        ctx,
        &loaded,
        values,
        args.confirm,
        resolved.scope(),
        args.dry_run,
    )
    .await
}
