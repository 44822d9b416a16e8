//! Runs `refresh::space`'s probe Job against a CNPG instance's data claim and reads what it
//! measured. The Job is deleted afterwards (its Pod with it), whatever happened.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use super::error::ObjectRef;
use super::job::{follow, Outcome};
use super::Kube;
use crate::refresh::space::{self, Measured, Probe};

/// The longest a measurement may take (the Pod's start included).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(120);

/// What the probe needs besides the instance.
pub(crate) struct Request<'a> {
    pub namespace: &'a str,
    pub cluster: &'a str,
    /// The primary instance's Pod.
    pub pod: &'a str,
    pub image: &'a str,
    pub pull_secrets: Vec<String>,
    pub run_id: &'a str,
    pub step: &'a str,
    pub attempt: u32,
}

/// What the probe measured and where, or why it could not measure.
pub(crate) async fn measure(kube: &Kube, r: &Request<'_>) -> Result<(Measured, Probe), String> {
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), r.namespace);
    let pod = pods
        .get(r.pod)
        .await
        .map_err(|e| format!("failed to read Pod {}/{}: {e}", r.namespace, r.pod))?;
    let spec = pod.spec.unwrap_or_default();
    let node = spec
        .node_name
        .ok_or_else(|| format!("Pod {}/{} is on no node yet", r.namespace, r.pod))?;
    // CNPG's data volume is `pgdata`, its claim named like the instance.
    let claim = spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "pgdata")
        .and_then(|v| v.persistent_volume_claim)
        .map(|c| c.claim_name)
        .unwrap_or_else(|| r.pod.to_string());
    let probe = Probe {
        name: format!("{}-{}", space::name(r.cluster, r.run_id), r.attempt),
        namespace: r.namespace.into(),
        run_id: r.run_id.into(),
        step: r.step.into(),
        image: r.image.into(),
        node,
        claim,
        pull_secrets: r.pull_secrets.clone(),
    };
    let jobs: Api<Job> = Api::namespaced(kube.client.clone(), r.namespace);
    let object = ObjectRef::new("Job", Some(r.namespace), &probe.name);
    let job: Job = serde_json::from_value(space::manifest(&probe))
        .map_err(|e| format!("failed to build {object}: {e}"))?;
    jobs.create(&PostParams::default(), &job)
        .await
        .map_err(|e| format!("failed to create {object}: {e}"))?;
    let mut found = None;
    let mut tail = Vec::new();
    let followed = tokio::time::timeout(
        TIMEOUT,
        follow(kube, r.namespace, &probe.name, |line| {
            match space::parse(line) {
                Some(m) => found = Some(m),
                None => tail.push(line.to_string()),
            };
        }),
    )
    .await;
    let _ = jobs.delete(&probe.name, &DeleteParams::background()).await;
    let outcome = match followed {
        Err(_) => {
            return Err(format!(
                "{object} did not finish within {}s",
                TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) => return Err(crate::error::chain(&e)),
        Ok(Ok(o)) => o,
    };
    match (outcome, found) {
        (Outcome::Complete, Some(m)) => Ok((m, probe)),
        (Outcome::Complete, None) => Err(format!(
            "{object} printed no measurement: {}",
            tail.join(" | ")
        )),
        (Outcome::Failed(why) | Outcome::NotStarted(why), _) => {
            Err(format!("{object} failed: {why} {}", tail.join(" | ")))
        }
    }
}
