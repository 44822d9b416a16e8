//! `uses: kube.scale_all`: scale every Deployment of a namespace (optionally matching a label
//! selector) to `replicas`, or back to the counts in `restore`, and wait until the Pods of the
//! ones scaled to zero are gone. Outputs `previous` (name -> replicas before), noted in the
//! checkpoint on the first attempt so a resumed run restores the original counts.
//!
//! The count before is also written on each Deployment as the annotation
//! [`REPLICAS_BEFORE`] before it is scaled down, and removed when `restore` scales it back. A
//! later run that finds the annotation (an earlier run was killed before it could scale the
//! app back) records the annotated count as `previous`, never the 0 that run left.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch};
use kube::runtime::watcher;
use kube::Api;
use serde_json::{json, Value};

use crate::k8s::conditions::{gone, Check};
use crate::k8s::{params, wait, Connector, K8sError, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeScaleAll(pub Connector);

/// The annotation holding a Deployment's replicas from before cnpgops scaled it down.
pub(super) const REPLICAS_BEFORE: &str = "cnpgops.io/replicas-before";

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.scale_all",
    summary:
        "scale the Deployments of a namespace (and wait for their Pods to go), or restore counts",
    inputs: &[
        input("namespace", true, "where the Deployments are"),
        input(
            "selector",
            false,
            "a label selector (default: every Deployment)",
        ),
        input(
            "replicas",
            false,
            "the new replicas of each (with no `restore`)",
        ),
        input(
            "restore",
            false,
            "name -> replicas, as output by an earlier `previous`",
        ),
        input(
            "timeout",
            false,
            "how long to wait for Pods to go (default 5m)",
        ),
        input(
            "prod",
            false,
            "whether this is production (the engine's prod guard)",
        ),
    ],
    outputs: &["previous"],
    idempotent: true,
};

/// Either one count for all, or the counts to restore.
enum Wanted {
    All(i64),
    Restore(BTreeMap<String, i64>),
}

fn wanted(inputs: &Inputs) -> Result<Wanted, StepError> {
    match inputs.get("restore") {
        Some(Value::Object(map)) => {
            let counts = map
                .iter()
                .map(|(k, v)| {
                    v.as_i64()
                        .map(|n| (k.clone(), n))
                        .ok_or_else(|| StepError::input("restore", "expected name: replicas"))
                })
                .collect::<Result<_, _>>()?;
            Ok(Wanted::Restore(counts))
        }
        Some(_) => Err(StepError::input(
            "restore",
            "expected a mapping of Deployment names to replicas",
        )),
        None => Ok(Wanted::All(inputs.int("replicas")?.max(0))),
    }
}

#[async_trait::async_trait]
impl Step for KubeScaleAll {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let ns = inputs.str("namespace")?;
        let which = match inputs.opt_str("selector")?.filter(|s| !s.is_empty()) {
            Some(sel) => format!("the Deployments of namespace {ns} matching `{sel}`"),
            None => format!("every Deployment of namespace {ns}"),
        };
        let description = match wanted(inputs)? {
            Wanted::All(0) => format!("record the replicas of {which}, scale them to 0 and wait until their Pods are gone"),
            Wanted::All(n) => format!("scale {which} to {n} replicas"),
            Wanted::Restore(counts) => format!("scale {which} back to {counts:?}"),
        };
        Ok(StepPlan {
            description,
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let ns = ctx.inputs.str("namespace")?;
        let wanted = wanted(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let api: Api<Deployment> = Api::namespaced(kube.client.clone(), &ns);
        let selector = ctx.inputs.opt_str("selector")?.unwrap_or_default();
        let object = ObjectRef::new("Deployment", Some(&ns), &format!("(selector `{selector}`)"));
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(K8sError::api("list", &object))?;
        let noted = ctx
            .checkpoint
            .notes(&ctx.step_id)
            .await
            .get("previous")
            .cloned();
        let mut previous: BTreeMap<String, i64> = noted
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let first = previous.is_empty();
        let mut selectors = Vec::new();
        for d in &list.items {
            let name = d.metadata.name.clone().unwrap_or_default();
            let now = i64::from(d.spec.replicas.unwrap_or(1));
            if first {
                previous.insert(name.clone(), annotated(d).unwrap_or(now));
            }
            let target = match &wanted {
                Wanted::Restore(counts) => match counts.get(&name) {
                    Some(n) => *n,
                    None => continue,
                },
                Wanted::All(n) => *n,
            };
            let what = ObjectRef::new("Deployment", Some(&ns), &name);
            let before = previous.get(&name).copied();
            if matches!(wanted, Wanted::All(0)) && before.is_some() && annotated(d) != before {
                let text = before.map(|n| n.to_string());
                annotate(ctx, &api, &what, text.as_deref()).await?;
            }
            let patch = Patch::Merge(json!({"spec": {"replicas": target}}));
            api.patch_scale(&name, &params::patch(ctx.mode), &patch)
                .await
                .map_err(K8sError::api("scale", &what))?;
            if matches!(wanted, Wanted::Restore(_)) && annotated(d).is_some() {
                annotate(ctx, &api, &what, None).await?;
            }
            let verb = if params::dry(ctx.mode) {
                "dry run: server accepted scaling"
            } else {
                "scaled"
            };
            ctx.events
                .log(format!("{verb} {what} from {now} to {target} replicas"));
            if target == 0 {
                selectors.push(pod_selector(d));
            }
        }
        if first && !params::dry(ctx.mode) && matches!(wanted, Wanted::All(_)) {
            ctx.checkpoint
                .note(&ctx.step_id, "previous", json!(previous))
                .await
                .map_err(|e| {
                    StepError::Failed(format!("failed to save the previous replicas: {e}"))
                })?;
        }
        if !params::dry(ctx.mode) {
            let timeout = match ctx.inputs.get("timeout") {
                Some(_) => ctx.inputs.duration("timeout")?,
                None => Duration::from_secs(300),
            };
            wait_gone(ctx, &kube, &ns, &selectors, timeout).await?;
        }
        Ok(Outputs::default().with("previous", json!(previous)))
    }
}

/// The replicas an earlier run recorded on `d` before scaling it down.
fn annotated(d: &Deployment) -> Option<i64> {
    d.metadata
        .annotations
        .as_ref()?
        .get(REPLICAS_BEFORE)?
        .parse()
        .ok()
}

/// Sets (`Some`) or removes (`None`) [`REPLICAS_BEFORE`] on a Deployment.
async fn annotate(
    ctx: &StepContext,
    api: &Api<Deployment>,
    what: &ObjectRef,
    value: Option<&str>,
) -> Result<(), StepError> {
    let patch = Patch::Merge(json!({"metadata": {"annotations": {REPLICAS_BEFORE: value}}}));
    api.patch(&what.name, &params::patch(ctx.mode), &patch)
        .await
        .map_err(K8sError::api("annotate", what))?;
    Ok(())
}

fn pod_selector(d: &Deployment) -> String {
    let labels = d.spec.selector.match_labels.clone().unwrap_or_default();
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Waits until no Pod matching each of `selectors` is left (`gone`, watching them), all within
/// `timeout`.
async fn wait_gone(
    ctx: &StepContext,
    kube: &crate::k8s::Kube,
    ns: &str,
    selectors: &[String],
    timeout: Duration,
) -> Result<(), StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    for sel in selectors.iter().filter(|s| !s.is_empty()) {
        let object = ObjectRef::new("Pod", Some(ns), &format!("(selector `{sel}`)"));
        let api: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
        let pods = wait::watched(api, watcher::Config::default().labels(sel));
        let none_left = || gone::gone(&pods.store.state(), None) == Check::Ok;
        let waited = wait::until_judged(vec![pods.changes], None, || none_left().then_some(()));
        let outcome = tokio::select! {
            r = tokio::time::timeout_at(deadline, waited) => r,
            _ = ctx.cancel.cancelled() => return Err(StepError::Cancelled),
        };
        match outcome {
            Ok(Ok(())) => ctx
                .events
                .log(format!("no Pods left in {ns} matching `{sel}`")),
            Ok(Err(e)) => return Err(wait::watch_failed(&object)(e).into()),
            Err(_) => {
                return Err(StepError::Failed(format!(
                    "timed out after {} waiting for {} Pod(s) matching `{sel}` in {ns} to go",
                    humantime::format_duration(timeout),
                    pods.store.state().len()
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::testing::inputs;

    fn deployment(annotations: Value, labels: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": annotations},
            "spec": {"selector": {"matchLabels": labels}, "template": {}}
        }))
        .unwrap()
    }

    #[test]
    fn the_plan_says_what_is_scaled_to_what() {
        let step = KubeScaleAll(Connector::default());
        let stop = step
            .plan(&inputs(
                json!({"namespace": "web-shop-dev", "replicas": 0, "prod": true}),
            ))
            .unwrap();
        assert_eq!(
            stop.description,
            "record the replicas of every Deployment of namespace web-shop-dev, scale them to 0 \
             and wait until their Pods are gone"
        );
        assert!(stop.writes && stop.prod);
        let back = step
            .plan(&inputs(
                json!({"namespace": "n", "selector": "app=web", "restore": {"web": 2}}),
            ))
            .unwrap();
        assert_eq!(
            back.description,
            "scale the Deployments of namespace n matching `app=web` back to {\"web\": 2}"
        );
    }

    #[test]
    fn counts_to_restore_must_be_numbers_and_negative_replicas_are_zero() {
        assert!(matches!(
            wanted(&inputs(json!({"restore": {"web": "two"}}))),
            Err(StepError::Input { name, .. }) if name == "restore"
        ));
        assert!(wanted(&inputs(json!({"restore": ["web"]}))).is_err());
        assert!(
            wanted(&inputs(json!({}))).is_err(),
            "replicas or restore is required"
        );
        assert!(matches!(
            wanted(&inputs(json!({"replicas": -3}))),
            Ok(Wanted::All(0))
        ));
    }

    #[test]
    fn the_recorded_count_and_the_pod_selector_come_from_the_deployment() {
        let d = deployment(
            json!({REPLICAS_BEFORE: "3"}),
            json!({"app": "web", "tier": "front"}),
        );
        assert_eq!(annotated(&d), Some(3));
        assert_eq!(pod_selector(&d), "app=web,tier=front");
        let unrecorded = deployment(json!({REPLICAS_BEFORE: "lots"}), json!({}));
        assert_eq!(annotated(&unrecorded), None);
        assert_eq!(pod_selector(&unrecorded), "");
    }
}
