//! `deploy/`: the kustomize base parses as k8s-openapi types, the sandbox accepts every object
//! with `dryRun=All`, and the CronJob is shaped for an unattended night. That it runs, and that
//! its RBAC is just enough, is proven in-cluster by `incluster`.

use std::process::Command;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::PostParams;
use kube::Api;
use serde_json::Value;

use crate::harness::root;
use crate::sandbox::Kube;

/// One object of `deploy/base`, as its k8s-openapi type.
#[derive(Debug)]
enum Manifest {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    CronJob(Box<CronJob>),
}

/// The rendered base: `kubectl kustomize deploy/base` when kubectl is installed, else the files
/// its kustomization lists.
pub(crate) fn rendered() -> Vec<Value> {
    let base = root().join("deploy/base");
    let home = tempfile::tempdir().unwrap();
    let mut kubectl = Command::new("kubectl");
    crate::harness::hermetic(&mut kubectl, home.path());
    let kubectl = kubectl.arg("kustomize").arg(&base).output();
    let text = match kubectl {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
        _ => {
            let k: Value = serde_saphyr::from_str(
                &std::fs::read_to_string(base.join("kustomization.yaml")).unwrap(),
            )
            .unwrap();
            let files = k["resources"].as_array().unwrap().iter();
            files
                .map(|f| {
                    std::fs::read_to_string(base.join(f.as_str().unwrap())).unwrap() + "\n---\n"
                })
                .collect()
        }
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    docs.into_iter().filter(|d| d.is_object()).collect()
}

fn parse(doc: &Value) -> Manifest {
    fn typed<T: serde::de::DeserializeOwned>(d: &Value) -> Result<T, serde_json::Error> {
        serde_json::from_value(d.clone())
    }
    let kind = doc["kind"].as_str().unwrap_or_default();
    let m = match kind {
        "Namespace" => typed(doc).map(Manifest::Namespace),
        "ServiceAccount" => typed(doc).map(Manifest::ServiceAccount),
        "Role" => typed(doc).map(Manifest::Role),
        "RoleBinding" => typed(doc).map(Manifest::RoleBinding),
        "CronJob" => typed(doc).map(|c| Manifest::CronJob(Box::new(c))),
        other => panic!("unexpected kind {other} in deploy/base"),
    };
    m.unwrap_or_else(|e| panic!("{kind} does not parse as k8s-openapi: {e}"))
}

fn manifests() -> Vec<Manifest> {
    rendered().iter().map(parse).collect()
}

/// Creates `m` (dry run: `dryRun=All`), panicking with the server's answer.
fn create(kube: &Kube, m: &Manifest, dry_run: bool) {
    let pp = PostParams {
        dry_run,
        ..Default::default()
    };
    let c = kube.client.clone();
    let ns = |meta: &kube::api::ObjectMeta| {
        meta.namespace
            .clone()
            .expect("namespaced objects name their namespace")
    };
    let result = kube.block_on(async {
        match m {
            Manifest::Namespace(o) => Api::<Namespace>::all(c).create(&pp, o).await.map(|_| ()),
            Manifest::ServiceAccount(o) => Api::namespaced(c, &ns(&o.metadata))
                .create(&pp, o)
                .await
                .map(|_| ()),
            Manifest::Role(o) => Api::namespaced(c, &ns(&o.metadata))
                .create(&pp, o)
                .await
                .map(|_| ()),
            Manifest::RoleBinding(o) => Api::namespaced(c, &ns(&o.metadata))
                .create(&pp, o)
                .await
                .map(|_| ()),
            Manifest::CronJob(o) => Api::namespaced(c, &ns(&o.metadata))
                .create(&pp, o.as_ref())
                .await
                .map(|_| ()),
        }
    });
    result.unwrap_or_else(|e| panic!("the sandbox refused {m:?}: {e}"));
}

fn cronjob() -> CronJob {
    manifests()
        .into_iter()
        .find_map(|m| match m {
            Manifest::CronJob(c) => Some(*c),
            _ => None,
        })
        .expect("a CronJob")
}

#[test]
fn the_cronjob_is_shaped_for_an_unattended_night() {
    let cj = cronjob();
    let spec = cj.spec;
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert!(spec.starting_deadline_seconds.is_some_and(|s| s > 0));
    let job = spec.job_template.spec.unwrap();
    assert_eq!(job.backoff_limit, Some(0));
    let pod = job.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("cnpgops"));
    let c = &pod.containers[0];
    let limits = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .expect("limits");
    assert!(limits.contains_key("cpu") && limits.contains_key("memory"));
    let args = c.args.clone().unwrap().join(" ");
    for part in [
        "refresh-dev synestra-io",
        "--yes",
        "--state kubernetes",
        "-o json",
        "--grace 25s",
    ] {
        assert!(args.contains(part), "`{part}` missing from `{args}`");
    }
    // SIGTERM: the cleanup's grace budget (25s) fits before the kubelet's SIGKILL.
    assert!(pod.termination_grace_period_seconds.is_some_and(|s| s > 25));
    // The refresh Job's own deadline (2h) plus verification fires before this Pod's.
    assert!(job
        .active_deadline_seconds
        .is_some_and(|s| s >= 7200 + 1200));
    // The profile ConfigMap, optional, where the default config path is.
    let env = c.env.clone().unwrap_or_default();
    let xdg = env
        .iter()
        .find(|e| e.name == "XDG_CONFIG_HOME")
        .expect("XDG_CONFIG_HOME");
    let mount = &c.volume_mounts.clone().unwrap()[0];
    assert_eq!(
        mount.mount_path,
        format!("{}/cnpgops", xdg.value.clone().unwrap())
    );
    let volume = &pod.volumes.clone().unwrap()[0];
    let cm = volume.config_map.as_ref().expect("a ConfigMap volume");
    assert_eq!(
        (cm.name.as_str(), cm.optional),
        ("cnpgops-profile", Some(true))
    );
    // The notification Secret's key is the one docs/real-cluster.md tells to create.
    let notify = env.iter().find(|e| e.name == "CNPGOPS_NOTIFY_URL").unwrap();
    let key = &notify
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap()
        .key;
    let docs = std::fs::read_to_string(root().join("docs/real-cluster.md")).unwrap();
    assert!(
        docs.contains(&format!(
            "create secret generic cnpgops-notify --from-literal={key}="
        )),
        "docs/real-cluster.md creates cnpgops-notify with key `{key}`"
    );
}

/// The Pods a NetworkPolicy applies to.
fn selector(
    p: &k8s_openapi::api::networking::v1::NetworkPolicy,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
    p.spec.as_ref().unwrap().pod_selector.clone().unwrap()
}

#[test]
fn the_network_policies_let_the_cronjob_and_the_job_reach_only_dns_the_api_and_postgres() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let text = std::fs::read_to_string(root().join("deploy/hardened/networkpolicy.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let policies: Vec<NetworkPolicy> = docs
        .into_iter()
        .filter(|d| d.is_object())
        .map(|d| serde_json::from_value(d).unwrap())
        .collect();
    assert_eq!(policies.len(), 2);
    let ports = |p: &NetworkPolicy| -> Vec<String> {
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.ingress.as_ref().map(Vec::len), Some(0), "no ingress");
        spec.egress
            .iter()
            .flatten()
            .flat_map(|r| r.ports.iter().flatten())
            .map(|p| format!("{}/{:?}", p.protocol.clone().unwrap_or_default(), p.port))
            .collect()
    };
    let cron = &policies[0];
    let labels = cronjob()
        .spec
        .job_template
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .labels
        .unwrap();
    let wanted = selector(cron).match_labels.unwrap();
    assert!(
        wanted.iter().all(|(k, v)| labels.get(k) == Some(v)),
        "selects the CronJob's Pod"
    );
    let cron_ports = ports(cron).join(" ");
    for p in [
        "UDP/Some(Int(53))",
        "TCP/Some(Int(443))",
        "TCP/Some(Int(6443))",
        "TCP/Some(Int(5432))",
    ] {
        assert!(cron_ports.contains(p), "{p} in {cron_ports}");
    }
    let job = &policies[1];
    assert_eq!(job.metadata.namespace.as_deref(), Some("databases"));
    let expressions = selector(job).match_expressions.unwrap();
    assert_eq!(
        expressions[0].key,
        cnpgops::support::RUN_ID_LABEL,
        "the label every refresh Job Pod carries"
    );
    let job_ports = ports(job).join(" ");
    assert!(
        job_ports.contains("TCP/Some(Int(5432))") && !job_ports.contains("443"),
        "{job_ports}"
    );
}

#[test]
fn the_sandbox_accepts_every_object_as_a_dry_run() {
    let kube = Kube::plain();
    let all = manifests();
    assert!(all.len() >= 8, "{all:?}");
    for m in all.iter().filter(|m| matches!(m, Manifest::Namespace(_))) {
        create(&kube, m, true);
    }
    // Namespaced objects need their namespace to exist, dry run or not.
    for ns in ["cnpgops", "databases", "web-synestra-io-dev", "argocd"] {
        kube.namespace(ns);
    }
    for m in all.iter().filter(|m| !matches!(m, Manifest::Namespace(_))) {
        create(&kube, m, true);
    }
    assert!(
        kube.get("CronJob", "cnpgops", "refresh-dev-synestra-io")
            .is_none(),
        "a dry run creates nothing"
    );
}
