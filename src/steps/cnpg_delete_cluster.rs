//! `uses: cnpg.delete_cluster`: delete a CNPG Cluster and wait until it, its Pods and its PVCs
//! are gone, only if it is still the object that was planned (`uid`).
//!
//! The delete carries a UID precondition: a Cluster of the same name created since (a resumed
//! restore's recovered cluster) is never deleted; a resumed attempt whose Cluster is already
//! gone only waits for the Pods and PVCs. In `--dry-run` the delete is a server-side dry run.

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::PropagationPolicy;
use kube::core::DynamicObject;
use kube::runtime::watcher;
use kube::Api;

use crate::k8s::conditions::{gone, Condition};
use crate::k8s::{params, resources, wait, Connector, K8sError, Kube, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct CnpgDeleteCluster(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "cnpg.delete_cluster",
    summary: "delete a CNPG Cluster (only the planned one, by UID) and wait until its Pods and PVCs are gone",
    inputs: &[
        input("namespace", true, "the Cluster's namespace"),
        input("name", true, "the Cluster"),
        input("uid", true, "the UID of the Cluster that was planned; another is never deleted"),
        input("timeout", false, "how long to wait until everything is gone (default 10m)"),
        input("prod", false, "whether it is production (needs --allow-prod)"),
    ],
    outputs: &["deleted", "uid"],
    idempotent: true,
};

fn timeout(i: &Inputs) -> Result<Duration, StepError> {
    match i.get("timeout") {
        None => Ok(Duration::from_secs(600)),
        Some(_) => i.duration("timeout"),
    }
}

#[async_trait::async_trait]
impl Step for CnpgDeleteCluster {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let (ns, name) = (inputs.str("namespace")?, inputs.str("name")?);
        inputs.str("uid")?;
        timeout(inputs)?;
        Ok(StepPlan {
            description: format!(
                "delete Cluster {ns}/{name} and wait until its Pods and PVCs are gone"
            ),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let i = &ctx.inputs;
        let (ns, name, uid) = (i.str("namespace")?, i.str("name")?, i.str("uid")?);
        let limit = timeout(i)?;
        let kube = self.0.get().await?;
        let object = ObjectRef::new("Cluster", Some(&ns), &name);
        let api: Api<DynamicObject> =
            Api::namespaced_with(kube.client.clone(), &ns, &resources::cnpg_cluster());
        let now = api
            .get_opt(&name)
            .await
            .map_err(K8sError::api("read", &object))?;
        let out = Outputs::default().with("uid", uid.clone());
        match now.as_ref().and_then(|c| c.metadata.uid.clone()) {
            None => ctx.events.log(format!("{object} is already gone")),
            Some(found) if found != uid => {
                ctx.events.log(format!(
                    "{object} is not the planned cluster (uid {found}, planned {uid}): it is not deleted"
                ));
                return Ok(out.with("deleted", false));
            }
            Some(_) => {
                let dp = params::delete(ctx.mode, PropagationPolicy::Background, Some(uid.clone()));
                match api.delete(&name, &dp).await {
                    Ok(_) => {}
                    Err(e) if crate::k8s::error::status_code(&e) == Some(404) => {}
                    Err(e) => return Err(K8sError::api("delete", &object)(e).into()),
                }
                if params::dry(ctx.mode) {
                    ctx.events
                        .log(format!("dry run: server accepted deleting {object}"));
                    return Ok(out.with("deleted", false));
                }
                ctx.events
                    .progress(format!("waiting for {object} to be gone"), None, None);
                let waited =
                    wait::until(&api, &object, Condition::Deleted, Some(uid.clone()), limit);
                tokio::select! {
                    r = waited => { r?; }
                    _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
                }
            }
        }
        children_gone(ctx, &kube, &ns, &name, &uid, limit).await?;
        ctx.events
            .log(format!("deleted {object} (uid {uid}), its Pods and PVCs"));
        Ok(out.with("deleted", true))
    }
}

/// Waits until no Pod or PVC owned by the Cluster with `uid` is left (`gone`, watching both).
async fn children_gone(
    ctx: &StepContext,
    kube: &Kube,
    ns: &str,
    name: &str,
    uid: &str,
    limit: Duration,
) -> Result<(), StepError> {
    let config = watcher::Config::default().labels(&format!("cnpg.io/cluster={name}"));
    let pods = wait::watched(
        Api::<Pod>::namespaced(kube.client.clone(), ns),
        config.clone(),
    );
    let pvcs = wait::watched(
        Api::<PersistentVolumeClaim>::namespaced(kube.client.clone(), ns),
        config,
    );
    let left = || {
        let (p, v) = (pods.store.state(), pvcs.store.state());
        (gone::left(&p, Some(uid)), gone::left(&v, Some(uid)))
    };
    let mut last = String::new();
    let judge = || {
        let (p, v) = left();
        if p.is_empty() && v.is_empty() {
            return Some(());
        }
        let now = format!(
            "waiting for {} Pods and {} PVCs of Cluster {ns}/{name} to be gone",
            p.len(),
            v.len()
        );
        if now != last {
            ctx.events.progress(now.clone(), None, None);
            last = now;
        }
        None
    };
    let waited = wait::until_judged(vec![pods.changes, pvcs.changes], None, judge);
    let object = ObjectRef::new("Cluster", Some(ns), name);
    let outcome = tokio::select! {
        r = tokio::time::timeout(limit, waited) => r,
        _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(wait::watch_failed(&object)(e).into()),
        Err(_) => {
            let (p, v) = left();
            Err(StepError::Failed(format!(
                "{object} is deleted but after {} these remain: {}",
                humantime::format_duration(limit),
                [p, v].concat().join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::testing::inputs;
    use serde_json::json;

    #[test]
    fn the_plan_needs_the_planned_uid_and_carries_the_prod_flag() {
        let step = CnpgDeleteCluster(Connector::default());
        let with =
            json!({"namespace": "databases", "name": "shop-cnpg", "uid": "u-1", "prod": "true"});
        let plan = step.plan(&inputs(with)).unwrap();
        assert_eq!(
            plan.description,
            "delete Cluster databases/shop-cnpg and wait until its Pods and PVCs are gone"
        );
        assert!(plan.writes && plan.prod);
        let no_uid = step.plan(&inputs(
            json!({"namespace": "databases", "name": "shop-cnpg"}),
        ));
        assert!(matches!(no_uid, Err(StepError::Input { name, .. }) if name == "uid"));
        let bad = step.plan(&inputs(
            json!({"namespace": "d", "name": "c", "uid": "u", "timeout": [1]}),
        ));
        assert!(matches!(bad, Err(StepError::Input { name, .. }) if name == "timeout"));
    }

    #[test]
    fn the_timeout_defaults_to_ten_minutes() {
        assert_eq!(
            timeout(&inputs(json!({}))).unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(
            timeout(&inputs(json!({"timeout": 5}))).unwrap(),
            Duration::from_secs(5)
        );
    }
}
