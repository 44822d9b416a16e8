//! refresh-dev on a locked-down cluster: the Job the server holds passes PodSecurity
//! `restricted` (checked by an oracle written from the standard, and by the API server itself
//! where it enforces the namespace label), carries the Clusters' pull secrets and the given
//! resources; a cluster without a CA is refused unless `--insecure-no-tls`; a Job whose Pod
//! cannot start fails the refresh in seconds naming why, the app comes back, dev is unchanged.

use std::time::{Duration, Instant};

use crate::fingerprint::{self as fp, assert_same};
use serde_json::{json, Value};

use crate::harness::World;
use crate::pss_restricted::violations;
use crate::refresh_world::{self as rw, DEV_PASSWORD};
use crate::sandbox::{replicas, Kube};

/// The labels under which kube-apiserver's PodSecurity admission enforces `restricted` (the
/// oracle checks the Job too, should a server ignore them).
fn enforce_restricted(kube: &Kube, ns: &str) {
    let patch = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }}});
    kube.block_on(kube.api("Namespace", "").patch(
        ns,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    ))
    .unwrap();
}

fn refresh_jobs(kube: &Kube, ns: &str) -> Vec<Value> {
    kube.list("Job", ns, "cnpgops.io/step=dump_restore")
}

#[test]
fn the_job_passes_restricted_and_a_cluster_without_a_ca_is_refused_unless_opted_out() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 100);
    enforce_restricted(&kube, "databases");
    for cluster in ["shop-cnpg", "shop-dev-cnpg"] {
        let pull = json!({"spec": {"imagePullSecrets": [{"name": "regcred"}]}});
        kube.block_on(kube.api("Cluster", "databases").patch(
            cluster,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&pull),
        ))
        .unwrap();
    }
    let escalating = probe_pod(json!({"allowPrivilegeEscalation": true}));
    eprintln!(
        "PodSecurity `restricted` enforced by this API server: {}",
        refuses(&kube, "databases", escalating)
    );

    // A cluster with no CA Secret is refused before anything changes. CNPG always creates
    // `<cluster>-ca`: it is deleted here while CNPG is told not to reconcile the Cluster
    // (`cnpg.io/reconciliationLoop: disabled`, else it would issue a new CA at once), then put
    // back as it was.
    let ca = kube
        .get("Secret", "databases", "shop-cnpg-ca")
        .expect("CNPG's CA Secret");
    kube.cnpg_reconciles("databases", "shop-cnpg", false);
    let secrets = kube.api("Secret", "databases");
    kube.block_on(secrets.delete("shop-cnpg-ca", &Default::default()))
        .unwrap();
    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    ran.code(3);
    ran.says(&[
        "cannot verify the server's TLS certificate",
        "Secret databases/shop-cnpg-ca does not exist",
        "--insecure-no-tls",
    ]);
    assert!(refresh_jobs(&kube, "databases").is_empty(), "no Job");
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2);
    // Opted out, the same refresh runs, saying loudly that it does not verify the server.
    let opted_out = ["refresh-dev", "shop", "--yes", "--insecure-no-tls"];
    let ran = kube.run(&w, &opted_out);
    ran.code(0);
    ran.says(&[
        "WARNING: --insecure-no-tls",
        "Secret databases/shop-cnpg-ca does not exist",
    ]);
    let put_back = json!({
        "apiVersion": "v1", "kind": "Secret", "type": ca["type"], "data": ca["data"],
        "metadata": {"name": "shop-cnpg-ca", "namespace": "databases",
            "labels": ca["metadata"]["labels"], "ownerReferences": ca["metadata"]["ownerReferences"]},
    });
    kube.create(&put_back.to_string());
    kube.cnpg_reconciles("databases", "shop-cnpg", true);

    let ran = kube.run(
        &w,
        &[
            "refresh-dev",
            "shop",
            "--yes",
            "--job-memory",
            "512Mi",
            "--job-cpu",
            "500m",
        ],
    );
    ran.code(0);
    // The Job of this last run: the newest (names carry random run ids, so list order says nothing).
    let jobs = refresh_jobs(&kube, "databases");
    let job = jobs
        .iter()
        .max_by_key(|j| {
            j["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .expect("the refresh Job");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(violations(pod), Vec::<String>::new(), "{pod:#}");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_i64().unwrap() > 0);
    let c = &pod["containers"][0];
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(c["resources"]["requests"]["cpu"], "500m");
    for v in pod["volumes"].as_array().unwrap() {
        if let Some(dir) = v.get("emptyDir") {
            assert!(dir["sizeLimit"].is_string(), "{v}");
        }
    }
    assert!(!job.to_string().contains("ca.key"), "{job}");
    assert!(job.to_string().contains("verify-full"), "{job}");
    assert!(!ran.stderr.contains("insecure"), "{}", ran.stderr);
}

#[test]
fn a_pod_that_cannot_start_fails_the_refresh_in_seconds_and_dev_is_unchanged() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 1000);
    let before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    // An image no registry serves: the node agent reports ErrImagePull, then
    // ImagePullBackOff, as the kubelet does for a registry that does not resolve.
    let t0 = Instant::now();
    let ran = kube.run(
        &w,
        &[
            "refresh-dev",
            "shop",
            "--yes",
            "--image",
            "registry.invalid/cloudnative-pg/postgresql:15",
        ],
    );
    let took = t0.elapsed();
    eprintln!("a refresh whose Job cannot start failed after {took:?}");
    ran.code(4);
    assert!(took < Duration::from_secs(120), "{took:?}");
    ran.says(&[
        "the refresh Job databases/cnpgops-refresh-shop-dev-cnpg-",
        "could not start: Pod databases/cnpgops-refresh-shop-dev-cnpg-",
        "container refresh is",
        "registry.invalid",
        "was not touched",
    ]);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains("ErrImagePull") || all.contains("ImagePullBackOff"),
        "the kubelet's reason is named: {all}"
    );
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");
    let after = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("dev before", &before),
        ("dev after", &after),
        "dev unchanged",
    );
    assert!(
        refresh_jobs(&kube, "databases").is_empty(),
        "the Job that could not start was deleted"
    );
}

/// Whether the server's admission refuses `pod` in `ns` (probed as a `dryRun=All` create):
/// the sandbox's kube-apiserver enforces ResourceQuota and PodSecurity.
fn refuses(kube: &Kube, ns: &str, pod: Value) -> bool {
    let pod: kube::core::DynamicObject = serde_json::from_value(pod).unwrap();
    let dry = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    kube.block_on(kube.api("Pod", ns).create(&dry, &pod))
        .is_err()
}

fn probe_pod(security: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": security,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}}}]}})
}

#[test]
fn a_quota_that_refuses_the_pod_fails_the_refresh_in_seconds_naming_it() {
    let (w, kube) = (World::new(), Kube::start());
    rw::world(&kube, "shop", 100);
    let quotas: kube::Api<k8s_openapi::api::core::v1::ResourceQuota> =
        kube::Api::namespaced(kube.client.clone(), "databases");
    let tiny = serde_json::from_value(json!({"metadata": {"name": "tiny"},
        "spec": {"hard": {"requests.memory": "1Mi"}}}))
    .unwrap();
    kube.block_on(quotas.create(&Default::default(), &tiny))
        .expect("the quota is created");
    // The quota controller fills in `status.hard`; admission enforces the quota from then on.
    let t0 = Instant::now();
    while !refuses(&kube, "databases", probe_pod(json!({}))) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "kube-apiserver never enforced the quota"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let before = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    let t0 = Instant::now();
    let ran = kube.run(&w, &["refresh-dev", "shop", "--yes"]);
    let took = t0.elapsed();
    eprintln!("a refresh refused by a quota failed after {took:?}");
    ran.code(4);
    assert!(took < Duration::from_secs(120), "{took:?}");
    ran.says(&["could not start", "FailedCreate", "exceeded quota: tiny"]);
    assert_eq!(replicas(&kube, "web-shop-dev", "web"), 2, "the app is back");
    let after = fp::of(&kube, "shop-dev-cnpg", "shop", DEV_PASSWORD);
    assert_same(
        ("dev before", &before),
        ("dev after", &after),
        "dev unchanged",
    );
    assert!(
        refresh_jobs(&kube, "databases").is_empty(),
        "the Job was deleted"
    );
}
