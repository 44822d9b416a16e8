//! `cnpgops refresh-dev APP [--from prod] [--to dev] [--method dump|recovery]`: the
//! `refresh-dev` runbook (or `refresh-dev-recovery`) with its parameters, after the naming profile's prod guard (a production target is refused here,
//! before anything is contacted, whatever the flags).

use std::collections::BTreeMap;

use super::{start_run, Context};
use crate::cli::{value_name, ConfirmArgs, RefreshDevArgs, RefreshMethod};
use crate::error::Error;
use crate::profile::Resolved;
use crate::refresh::RefreshMode;

pub(super) async fn run(ctx: &Context, args: RefreshDevArgs) -> Result<(), Error> {
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
    if args.mode == RefreshMode::Parallel {
        // Said before anyone is asked to type the target's name.
        eprintln!(
            "warning: --mode parallel is {}",
            RefreshMode::Parallel.promise()
        );
    }
    let (runbook, given) = runbook_call(&args)?;
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

/// The runbook `--method` picks and its parameters, from the flags checked once. clap cannot
/// say "only with this value of another flag", so this is where `--target-time` is refused
/// without `--method recovery`.
fn runbook_call(args: &RefreshDevArgs) -> Result<(&'static str, BTreeMap<String, String>), Error> {
    match args.method {
        RefreshMethod::Recovery => Ok(("refresh-dev-recovery", recovery_params(args))),
        RefreshMethod::Dump if args.target_time.is_some() => Err(Error::Usage(
            "--target-time needs --method recovery (a dump is always of now)".into(),
        )),
        RefreshMethod::Dump => Ok(("refresh-dev", dump_params(args))),
    }
}

/// The `refresh-dev` runbook's parameters (dump and restore through a Job).
fn dump_params(args: &RefreshDevArgs) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_string(), args.app.clone()),
        ("from".to_string(), args.from.clone()),
        ("to".to_string(), args.to.clone()),
        ("verify".to_string(), value_name(&args.verify)),
        ("mode".to_string(), value_name(&args.mode)),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(line: &[&str]) -> RefreshDevArgs {
        let argv = ["cnpgops", "refresh-dev", "shop"].iter().chain(line);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::RefreshDev(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_method_picks_the_runbook_and_typed_flags_reach_it_by_name() {
        let (runbook, given) =
            runbook_call(&args(&["--mode", "parallel", "--verify", "checksums"])).unwrap();
        assert_eq!(runbook, "refresh-dev");
        assert_eq!(
            (given["mode"].as_str(), given["verify"].as_str()),
            ("parallel", "checksums")
        );
        let (runbook, given) = runbook_call(&args(&[])).unwrap();
        assert_eq!(
            (given["mode"].as_str(), given["verify"].as_str()),
            ("stream", "counts")
        );
        assert_eq!(runbook, "refresh-dev");
        let recovery = args(&[
            "--method",
            "recovery",
            "--target-time",
            "2026-11-24T01:30:00Z",
        ]);
        let (runbook, given) = runbook_call(&recovery).unwrap();
        assert_eq!(runbook, "refresh-dev-recovery");
        assert_eq!(given["target_time"], "2026-11-24T01:30:00Z");
    }

    #[test]
    fn a_target_time_without_recovery_is_bad_usage() {
        let err = runbook_call(&args(&["--target-time", "2026-11-24T01:30:00Z"])).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
        assert!(
            err.to_string()
                .contains("--target-time needs --method recovery"),
            "{err}"
        );
    }
}
