//! `uses: kube.apply`: server-side apply of one manifest (field manager `cnpgops`), labelled
//! `cnpgops.io/run-id` and `cnpgops.io/step` so a resumed run adopts what it created.
//!
//! With `metadata.generateName` (no name) an earlier attempt's object is found by those labels
//! and applied again instead of creating a second one. In `--dry-run` the write is sent with
//! `dryRun=All`; with `replaces` (an earlier step deletes the live object, which a dry run did
//! not do) the server is asked to accept creating the object afresh instead of merging it
//! into the live one: a dry-run create under a generated name, so admission (CNPG's webhook
//! refuses a second bootstrap method merged into a live Cluster) judges what the run creates.

use kube::api::{ListParams, Patch};
use kube::core::DynamicObject;
use serde_json::{json, Value};

use crate::k8s::resources::{self, Kind};
use crate::k8s::{params, Connector, K8sError, ObjectRef, RUN_ID_LABEL, STEP_LABEL};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeApply(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.apply",
    summary: "server-side apply a manifest (adopts what an earlier attempt created)",
    inputs: &[
        input(
            "manifest",
            true,
            "the object (apiVersion, kind, metadata.name or generateName, ...)",
        ),
        input(
            "namespace",
            false,
            "used when the manifest has no metadata.namespace",
        ),
        input(
            "replaces",
            false,
            "an earlier step deletes the live object: a dry run rehearses creating it afresh (default false)",
        ),
    ],
    outputs: &["name", "namespace", "uid", "resourceVersion", "created"],
    idempotent: true,
};

/// The manifest's identity fields.
struct Manifest {
    body: Value,
    api_version: String,
    kind: String,
    name: Option<String>,
}

fn manifest(inputs: &Inputs) -> Result<Manifest, StepError> {
    let body = inputs.get("manifest").cloned().unwrap_or(Value::Null);
    if !body.is_object() {
        return Err(StepError::input(
            "manifest",
            "expected a mapping (a Kubernetes object)",
        ));
    }
    let text = |p: &str| body.pointer(p).and_then(Value::as_str).map(String::from);
    let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
        return Err(StepError::input("manifest", "needs apiVersion and kind"));
    };
    let name = text("/metadata/name");
    if name.is_none() && text("/metadata/generateName").is_none() {
        return Err(StepError::input(
            "manifest",
            "needs metadata.name or metadata.generateName",
        ));
    }
    Ok(Manifest {
        name,
        api_version,
        kind,
        body,
    })
}

#[async_trait::async_trait]
impl Step for KubeApply {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let m = manifest(inputs)?;
        let ns = m
            .body
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from)
            .or(inputs.opt_str("namespace")?);
        let name = m.name.clone().unwrap_or_else(|| {
            format!(
                "{}<generated>",
                m.body
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            )
        });
        Ok(StepPlan {
            description: format!("apply {}", ObjectRef::new(&m.kind, ns.as_deref(), &name)),
            writes: true,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let mut m = manifest(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let kind = resources::resolve(&kube, Some(&m.api_version), &m.kind).await?;
        let ns = m
            .body
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from)
            .or(ctx.inputs.opt_str("namespace")?)
            .unwrap_or(kube.namespace.clone());
        let run_id = ctx.checkpoint.snapshot().await.run_id;
        label(&mut m.body, &kind, &ns, &run_id, &ctx.step_id);
        let api = kind.api(&kube, &ns);
        let name = match m.name.clone() {
            Some(name) => name,
            None => match adoptable(&api, &kind, &ns, &run_id, &ctx.step_id).await? {
                Some(name) => {
                    ctx.events.log(format!(
                        "adopting {} created by an earlier attempt",
                        kind.object(&ns, &name)
                    ));
                    name
                }
                None => return create(ctx, &api, &kind, &ns, &m.body).await,
            },
        };
        let object = kind.object(&ns, &name);
        let before = api
            .get_opt(&name)
            .await
            .map_err(K8sError::api("read", &object))?;
        if before.is_some() && params::dry(ctx.mode) && ctx.inputs.bool_or("replaces", false)? {
            // An earlier step deletes the live object for real, not in a dry run: ask the
            // server to accept creating it afresh, under `<name>-<generated>`.
            ctx.events.log(format!(
                "dry run: {object} is deleted by an earlier step first; rehearsing its creation afresh"
            ));
            let meta = &mut m.body["metadata"];
            if let Some(meta) = meta.as_object_mut() {
                meta.remove("name");
            }
            meta["generateName"] = Value::from(format!("{name}-"));
            let created = create(ctx, &api, &kind, &ns, &m.body).await?;
            return Ok(created.with("name", name));
        }
        m.body["metadata"]["name"] = Value::from(name.clone());
        let applied = api
            .patch(&name, &params::apply(ctx.mode), &Patch::Apply(&m.body))
            .await
            .map_err(K8sError::api("apply", &object))?;
        ctx.events
            .log(describe(ctx, &object, before.as_ref(), &run_id));
        Ok(outputs(&applied, &ns, before.is_none()))
    }
}

/// Adds the run and step labels (and the namespace, for namespaced kinds).
fn label(body: &mut Value, kind: &Kind, ns: &str, run_id: &str, step: &str) {
    let meta = &mut body["metadata"];
    if kind.namespaced {
        meta["namespace"] = Value::from(ns);
    }
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["labels"][RUN_ID_LABEL] = Value::from(run_id);
    meta["labels"][STEP_LABEL] = Value::from(step);
}

/// The name of the object an earlier attempt of this run's step created, if any.
async fn adoptable(
    api: &kube::Api<DynamicObject>,
    kind: &Kind,
    ns: &str,
    run_id: &str,
    step: &str,
) -> Result<Option<String>, K8sError> {
    let selector = format!("{RUN_ID_LABEL}={run_id},{STEP_LABEL}={step}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(K8sError::api(
            "list",
            &kind.object(ns, &format!("(labels {selector})")),
        ))?;
    Ok(list.items.into_iter().find_map(|o| o.metadata.name))
}

async fn create(
    ctx: &StepContext,
    api: &kube::Api<DynamicObject>,
    kind: &Kind,
    ns: &str,
    body: &Value,
) -> Result<Outputs, StepError> {
    let object: DynamicObject = serde_json::from_value(body.clone())
        .map_err(|e| StepError::input("manifest", &e.to_string()))?;
    let what = kind.object(ns, object.metadata.generate_name.as_deref().unwrap_or(""));
    let created = api
        .create(&params::post(ctx.mode), &object)
        .await
        .map_err(K8sError::api("create", &what))?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let verb = if params::dry(ctx.mode) {
        "dry run: server accepted creating"
    } else {
        "created"
    };
    ctx.events.log(format!("{verb} {}", kind.object(ns, &name)));
    Ok(outputs(&created, ns, true))
}

fn describe(
    ctx: &StepContext,
    object: &ObjectRef,
    before: Option<&DynamicObject>,
    run_id: &str,
) -> String {
    let ours = before
        .and_then(|b| b.metadata.labels.as_ref())
        .is_some_and(|l| {
            l.get(RUN_ID_LABEL).map(String::as_str) == Some(run_id)
                && l.get(STEP_LABEL) == Some(&ctx.step_id)
        });
    let what = match before {
        None => "created",
        Some(_) if ours => "adopted (created by an earlier attempt of this step)",
        Some(_) => "updated",
    };
    if params::dry(ctx.mode) {
        format!("dry run: server accepted applying {object} (would be {what})")
    } else {
        format!("{what} {object}")
    }
}

fn outputs(obj: &DynamicObject, ns: &str, created: bool) -> Outputs {
    let m = &obj.metadata;
    Outputs::default()
        .with("name", m.name.clone().unwrap_or_default())
        .with(
            "namespace",
            m.namespace.clone().unwrap_or_else(|| ns.to_string()),
        )
        .with("uid", m.uid.clone().unwrap_or_default())
        .with(
            "resourceVersion",
            m.resource_version.clone().unwrap_or_default(),
        )
        .with("created", created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(v: Value) -> Inputs {
        Inputs(v.as_object().unwrap().clone())
    }

    #[test]
    fn plan_names_the_object_and_checks_the_manifest() {
        let ok = inputs(
            json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, "namespace": "n"}),
        );
        let plan = KubeApply(Connector::default()).plan(&ok).unwrap();
        assert_eq!(plan.description, "apply ConfigMap n/c");
        assert!(plan.writes);
        for bad in [
            json!({"manifest": "x"}),
            json!({"manifest": {"kind": "ConfigMap"}}),
            json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}}),
        ] {
            assert!(
                KubeApply(Connector::default())
                    .plan(&inputs(bad.clone()))
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_are_added_without_losing_existing_ones() {
        let kind = resources::known("ConfigMap", None).unwrap();
        let mut body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "x"}}});
        label(&mut body, &kind, "ns", "run1", "make");
        assert_eq!(
            body["metadata"]["labels"],
            json!({"app": "x", "cnpgops.io/run-id": "run1", "cnpgops.io/step": "make"})
        );
        assert_eq!(body["metadata"]["namespace"], "ns");
    }
}
