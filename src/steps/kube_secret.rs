//! `uses: kube.secret`: read keys of a Kubernetes Secret as secret outputs.
//!
//! Every value of the Secret is taught to the redactor (and with it the password of any URI
//! inside it, see [`crate::redact`]). Each requested key becomes a secret output named like the
//! key (`steps.<id>.outputs.password`, or `steps.<id>.outputs["tls.crt"]`): templates of this
//! process can use it, and nothing persists it (a resumed run reads the Secret again). A read,
//! so it runs in `--dry-run` too.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::Api;
use serde_json::Value;

use crate::k8s::object::{NAME, NAMESPACE};
use crate::k8s::{Connector, K8sError, ObjectRef};
use crate::redact::SecretString;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct KubeSecret(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "kube.secret",
    summary: "read keys of a Kubernetes Secret as secret outputs (never stored)",
    inputs: &[
        NAME,
        NAMESPACE,
        input(
            "keys",
            false,
            "the keys to read, e.g. `[username, password]` (default: every key)",
        ),
    ],
    // One output per key read: any name is accepted.
    outputs: &["*"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for KubeSecret {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let object = ObjectRef::new(
            "Secret",
            inputs.opt_str(NAMESPACE.name)?.as_deref(),
            &inputs.str(NAME.name)?,
        );
        let description = match keys(inputs)? {
            Some(keys) => format!("read keys {} of {object}", keys.join(", ")),
            None => format!("read every key of {object}"),
        };
        Ok(StepPlan {
            description,
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let name = ctx.inputs.str(NAME.name)?;
        let wanted = keys(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let ns = ctx
            .inputs
            .opt_str(NAMESPACE.name)?
            .unwrap_or_else(|| kube.namespace.clone());
        let object = ObjectRef::new("Secret", Some(&ns), &name);
        let api: Api<Secret> = Api::namespaced(kube.client.clone(), &ns);
        let secret = api
            .get_opt(&name)
            .await
            .map_err(K8sError::api("read", &object))?
            .ok_or_else(|| K8sError::NotFound {
                object: object.clone(),
            })?;
        let data = secret.data.unwrap_or_default();
        let values = learn_all(ctx, &data);
        let wanted = wanted.unwrap_or_else(|| data.keys().cloned().collect());
        let mut out = Outputs::default();
        for key in wanted {
            let value = values
                .get(&key)
                .ok_or_else(|| missing(&object, &key, &data))?;
            let value = value.clone().map_err(|()| {
                StepError::Failed(format!("key `{key}` of {object} is not UTF-8 text"))
            })?;
            out.secrets.insert(key, value);
        }
        ctx.events
            .log(format!("read {} key(s) of {object}", out.secrets.len()));
        Ok(out)
    }
}

/// Every value as text, each taught to the redactor before anything else happens.
fn learn_all(
    ctx: &StepContext,
    data: &BTreeMap<String, ByteString>,
) -> BTreeMap<String, Result<SecretString, ()>> {
    data.iter()
        .map(|(key, bytes)| {
            let text = String::from_utf8(bytes.0.clone()).map_err(|_| ());
            let secret = text.map(SecretString::from);
            if let Ok(s) = &secret {
                ctx.redactor.learn(s);
            }
            (key.clone(), secret)
        })
        .collect()
}

fn missing(object: &ObjectRef, key: &str, data: &BTreeMap<String, ByteString>) -> StepError {
    let known: Vec<&str> = data.keys().map(String::as_str).collect();
    StepError::Failed(format!(
        "{object} has no key `{key}`; its keys: {}",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// `keys:` as a list of names; `None` for every key.
fn keys(inputs: &Inputs) -> Result<Option<Vec<String>>, StepError> {
    match inputs.get("keys") {
        None => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(StepError::input("keys", "expected a list of key names")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(StepError::input(
            "keys",
            "expected a non-empty list of key names",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(v: Value) -> Inputs {
        Inputs(v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn plans_a_read_naming_the_keys() {
        let step = KubeSecret(Connector::default());
        let plan = step
            .plan(&inputs(
                serde_json::json!({"name": "app", "namespace": "db", "keys": ["password"]}),
            ))
            .unwrap();
        assert_eq!(plan.description, "read keys password of Secret db/app");
        assert!(!plan.writes);
        let all = step
            .plan(&inputs(serde_json::json!({"name": "app"})))
            .unwrap();
        assert_eq!(all.description, "read every key of Secret app");
        let bad = inputs(serde_json::json!({"name": "app", "keys": "password"}));
        assert!(step.plan(&bad).is_err());
    }
}
