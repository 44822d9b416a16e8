//! The preflight's storage check: the target must have room for the source database plus
//! half again (indexes rebuilt, WAL; the old contents stay until the one transaction commits),
//! measured on the target's data volume (`refresh::space`'s probe), not taken from
//! `spec.storage.size`.

use crate::k8s::volume_probe::{self, Request};
use crate::k8s::{params, Kube};
use crate::pg::connect::Target;
use crate::refresh::space::{Measured, Probe};

use super::human_bytes;
use crate::steps::{StepContext, StepError};

/// What the space is checked against.
pub(super) struct Space<'a> {
    pub target: &'a Target,
    pub source_bytes: i64,
    /// The target Cluster's `spec.storage.size`.
    pub capacity: Option<i64>,
    pub image: &'a str,
    pub pull_secrets: Vec<String>,
}

/// Measures the target's free space and refuses when it is too small. Without a measurement
/// (`--dry-run`, or a probe that could not run: its reason is warned) the claim's size is used.
pub(super) async fn check(ctx: &StepContext, kube: &Kube, s: Space<'_>) -> Result<(), StepError> {
    let t = s.target;
    let measured = if params::dry(ctx.mode) {
        Err("dry run: no probe Pod is started".to_string())
    } else {
        let run_id = ctx.checkpoint.snapshot().await.run_id;
        let request = Request {
            namespace: &t.namespace,
            cluster: &t.cluster,
            pod: &t.pod,
            image: s.image,
            pull_secrets: s.pull_secrets.clone(),
            run_id: &run_id,
            step: &ctx.step_id,
            attempt: ctx.attempt,
        };
        volume_probe::measure(kube, &request).await
    };
    match measured {
        Ok((m, probe)) => {
            let free = m.free(s.capacity);
            ctx.events.log(format!(
                "target's data volume: {} free ({})",
                human_bytes(free),
                where_measured(&m, &probe, s.capacity)
            ));
            enough(
                s.source_bytes,
                free,
                t,
                &where_measured(&m, &probe, s.capacity),
            )
        }
        Err(why) => {
            ctx.events.warn(format!(
                "could not measure the free space of {}'s data volume ({why}); checking against spec.storage.size instead",
                t.describe()
            ));
            match s.capacity {
                Some(c) => enough(s.source_bytes, c, t, "spec.storage.size, not measured"),
                None => Ok(()),
            }
        }
    }
}

fn where_measured(m: &Measured, p: &Probe, capacity: Option<i64>) -> String {
    let claim = match capacity {
        Some(c) => format!(
            "; the claim's {} less the {} it holds",
            human_bytes(c),
            human_bytes(m.used)
        ),
        None => String::new(),
    };
    format!(
        "claim {}/{} on node {}: the filesystem has {} available{claim}",
        p.namespace,
        p.claim,
        p.node,
        human_bytes(m.available)
    )
}

/// The target needs room for the source's data plus half again.
pub(super) fn enough(
    source_bytes: i64,
    free: i64,
    t: &Target,
    measured: &str,
) -> Result<(), StepError> {
    let needed = source_bytes.saturating_mul(3) / 2;
    if free >= needed {
        return Ok(());
    }
    Err(StepError::Refused(format!(
        "refused: Cluster {}/{} has {} free on its data volume ({measured}), the restore needs about {} (1.5 x the source's {}: the target's old contents stay until the one transaction commits). Free space there or grow spec.storage.size. Nothing was changed",
        t.namespace,
        t.cluster,
        human_bytes(free),
        human_bytes(needed),
        human_bytes(source_bytes)
    )))
}
