//! The in-cluster path runs: `deploy/base` applied with kubectl as an SRE would (namespace,
//! ServiceAccount, RBAC, the CronJob; the profile ConfigMap as docs/real-cluster.md creates it),
//! changed only where a user would, and a night started with `kubectl create job
//! --from=cronjob/...`. The node agent runs its Pod from the image `deploy/` names (the cnpgops
//! this test built), as uid 65532 under PodSecurity `restricted`, with the projected
//! ServiceAccount token. Afterwards dev is prod by the tests' own fingerprint, prod is
//! unchanged, and the Pod's log shows the in-cluster path: connections straight to the `-rw`
//! Services, no port-forward (which its Role does not allow).
//!
//! Twice, on the real CloudNativePG operator with TLS verified (`pg_hba` refuses plain text from
//! Pods): the synestra world with the profile from a ConfigMap, which also proves
//! `deploy/base/rbac.yaml` enough and requests outside it forbidden; and a world whose owner
//! Secrets have other names, the CronJob as shipped but for those names in the Role.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::Api;
use serde_json::{json, Value};

use crate::fingerprint as fp;
use crate::harness::{bin, hermetic, World};
use crate::refresh_world::{self as rw, DEV_PASSWORD, PROD_PASSWORD};
use crate::sandbox::{replicas, Kube};

/// `synestra.yaml`'s owner and password (both clusters', sandbox data).
const OWNER: &str = "synestra_io";
const PASSWORD: &str = "sandbox-initdb-Pa55";
const CRONJOB: &str = "refresh-dev-synestra-io";
const JOB: &str = "refresh-now";

/// A naming profile as an SRE writes one: seed 000's layout spelled out under its own name, and
/// the app's Deployments chosen by label (which shows in the log that this file was read).
const PROFILE: &str = "profile: nightly\nprofiles:\n  nightly:\n    cluster_namespace: databases\n    prod_cluster: '{app}-cnpg'\n    cluster: '{app}-{env}-cnpg'\n    credentials_secret: synestra-io-initdb-secret\n    app_namespace: 'web-{app}-{env}'\n    app_selector: 'app.kubernetes.io/part-of={app}'\n";

/// kubectl against the sandbox as its admin, in a hermetic environment: its output.
fn kubectl_output(kube: &Kube, w: &World, args: &[&str]) -> std::process::Output {
    let home = w.path("kubectl-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("kubectl");
    hermetic(&mut cmd, &home)
        .arg("--kubeconfig")
        .arg(&kube.kubeconfig)
        .args(args);
    cmd.output().expect("kubectl runs")
}

/// [`kubectl_output`]'s stdout; panics on failure.
fn kubectl(kube: &Kube, w: &World, args: &[&str]) -> String {
    let out = kubectl_output(kube, w, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "kubectl {args:?}: {stdout}{stderr}");
    stdout.into_owned()
}

/// Whether the CronJob's ServiceAccount may `verb resource` in `ns`
/// (`kubectl auth can-i ... --as`, the RBAC authorizer's answer).
fn sa_can(kube: &Kube, w: &World, ns: &str, verb: &str, resource: &str) -> bool {
    let sa = "system:serviceaccount:cnpgops:cnpgops";
    let args = ["auth", "can-i", verb, resource, "-n", ns, "--as", sa];
    let out = kubectl_output(kube, w, &args);
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => panic!(
            "kubectl auth can-i {verb} {resource}: {other} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `deploy/base` with its CronJob suspended: the test starts the night itself.
fn manifests() -> Vec<Value> {
    let mut docs = crate::deploy::rendered();
    cronjob(&mut docs)["spec"]["suspend"] = json!(true);
    docs
}

fn cronjob(docs: &mut [Value]) -> &mut Value {
    docs.iter_mut()
        .find(|d| d["kind"] == "CronJob")
        .expect("a CronJob")
}

/// The Role `cnpgops-refresh` naming `secrets` as the Secrets it may read (what a user with
/// other owner Secrets sets), the Clusters' CA Secrets kept.
fn with_owner_secrets(mut docs: Vec<Value>, secrets: &[&str]) -> Vec<Value> {
    let role = docs
        .iter_mut()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "cnpgops-refresh")
        .expect("the Role cnpgops-refresh");
    let rule = role["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["resources"] == json!(["secrets"]))
        .expect("the rule on Secrets");
    let names = rule["resourceNames"].as_array_mut().unwrap();
    names.retain(|n| n.as_str().is_some_and(|n| n.ends_with("-ca")));
    names.extend(secrets.iter().map(|s| json!(s)));
    docs
}

/// Writes `docs` as one YAML stream and applies it.
fn apply(kube: &Kube, w: &World, docs: &[Value]) {
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_saphyr::to_string(d).unwrap()))
        .collect();
    let path = w.path("deploy.yaml");
    std::fs::write(&path, text).unwrap();
    kubectl(kube, w, &["apply", "-f", &path.display().to_string()]);
}

/// Waits for the Job to finish; its status, or a panic naming what happened.
fn wait_finished(kube: &Kube, ns: &str, job: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let j = kube.get("Job", ns, job).expect("the Job exists");
        let done = j["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
        if done {
            return j["status"].clone();
        }
        // A ceiling for a stuck night, not a timing assumption: the run takes a minute or two.
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "Job {ns}/{job} never finished: {:#}\nevents: {:#?}",
            j["status"],
            kube.list("Event", ns, "")
                .iter()
                .map(|e| e["message"].clone())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The Job's one Pod and its log.
fn pod_and_log(kube: &Kube, ns: &str, job: &str) -> (Value, String) {
    let pods = kube.list("Pod", ns, &format!("job-name={job}"));
    assert_eq!(pods.len(), 1, "one Pod (backoffLimit 0): {pods:#?}");
    let name = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    let api: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
    let log = kube
        .block_on(api.logs(&name, &LogParams::default()))
        .unwrap();
    (pods[0].clone(), log)
}

/// Applies `docs`, creates the profile ConfigMap when given, starts the night and waits for it:
/// the Pod and its log, after checking it succeeded as deploy/ says it runs.
fn night(kube: &Kube, w: &World, docs: &[Value], profile: Option<&str>) -> String {
    cnpgops_sandbox::node::pods::images::provide_cnpgops(Path::new(bin()));
    apply(kube, w, docs);
    if let Some(text) = profile {
        let path = w.path("my-profile.yaml");
        std::fs::write(&path, text).unwrap();
        let from_file = format!("--from-file=config.yaml={}", path.display());
        let create = ["create", "configmap", "cnpgops-profile", &from_file];
        kubectl(kube, w, &[&["-n", "cnpgops"][..], &create].concat());
    }
    let from = format!("--from=cronjob/{CRONJOB}");
    kubectl(kube, w, &["-n", "cnpgops", "create", "job", &from, JOB]);

    let status = wait_finished(kube, "cnpgops", JOB);
    let (pod, log) = pod_and_log(kube, "cnpgops", JOB);
    assert_eq!(status["succeeded"], 1, "{status:#}\n{log}");
    // It ran as deploy/ says: its ServiceAccount, the image, admitted by PodSecurity
    // `restricted` (the namespace of deploy/base enforces it).
    assert_eq!(pod["spec"]["serviceAccountName"], "cnpgops");
    let image = &pod["spec"]["containers"][0]["image"];
    assert_eq!(image, "ghcr.io/synestra/cnpgops:0.1.0");
    let ns = kube.get("Namespace", "", "cnpgops").unwrap();
    let enforced = &ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"];
    assert_eq!(enforced, "restricted");
    // The last line is the JSON report of a succeeded run.
    let report: Value = serde_json::from_str(log.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the last log line is the report ({e}):\n{log}"));
    assert_eq!(report["event"], "run_finished", "{log}");
    assert_eq!(report["report"]["status"], "succeeded", "{log}");
    // The in-cluster path: straight to the Services, never a port-forward.
    for cluster in ["synestra-io-cnpg", "synestra-io-dev-cnpg"] {
        let service = format!("reached through Service {cluster}-rw.databases.svc:5432");
        assert!(log.contains(&service), "`{service}` in:\n{log}");
    }
    assert!(!log.contains("port-forward"), "{log}");
    assert_eq!(
        replicas(kube, "web-synestra-io-dev", "web"),
        2,
        "the app is back"
    );
    // Its state is in the namespace `cnpgops` (beside its artifacts).
    let selector = "app.kubernetes.io/managed-by=cnpgops,cnpgops.io/runbook=refresh-dev";
    let runs = kube.list("ConfigMap", "cnpgops", selector);
    assert_eq!(runs.len(), 1, "one run: {runs:#?}");
    log
}

/// Fingerprints of prod and dev (owner `synestra_io`, their passwords).
fn prod_and_dev(kube: &Kube, passwords: [&str; 2]) -> (fp::Fingerprint, fp::Fingerprint) {
    (
        fp::of(kube, "synestra-io-cnpg", OWNER, passwords[0]),
        fp::of(kube, "synestra-io-dev-cnpg", OWNER, passwords[1]),
    )
}

/// The tests' own oracle after the night: prod as it was, dev equal to it.
fn assert_refreshed(kube: &Kube, passwords: [&str; 2], prod_before: &fp::Fingerprint) {
    let (prod, dev) = prod_and_dev(kube, passwords);
    fp::assert_same(
        ("prod before", prod_before),
        ("prod", &prod),
        "prod unchanged",
    );
    fp::assert_same(("prod", &prod), ("dev", &dev), "dev refreshed from prod");
}

#[test]
fn the_cronjob_refreshes_dev_in_cluster_with_its_service_account_and_nothing_more() {
    let (w, kube) = (World::new(), Kube::start());
    kube.scenario("synestra.yaml");
    let (prod_before, dev_before) = prod_and_dev(&kube, [PASSWORD; 2]);
    assert_ne!(prod_before, dev_before, "dev starts different from prod");

    let log = night(&kube, &w, &manifests(), Some(PROFILE));
    // The profile from the ConfigMap, mounted where XDG_CONFIG_HOME points, was the one used.
    let selected = "the Deployments of namespace web-synestra-io-dev matching `app.kubernetes.io/part-of=synestra-io`";
    assert!(log.contains(selected), "`{selected}` in:\n{log}");
    assert!(!log.contains("insecure"), "TLS verified, no opt-out: {log}");
    // The Role was enough, and no more than that.
    let owner = "secrets/synestra-io-initdb-secret";
    assert!(sa_can(&kube, &w, "databases", "get", owner));
    for (ns, verb, resource) in [
        ("databases", "create", "pods/portforward"),
        ("databases", "get", "secrets/synestra-io-cnpg-superuser"),
        ("databases", "list", "secrets"),
        ("databases", "delete", "clusters.postgresql.cnpg.io"),
        (
            "databases",
            "patch",
            "clusters.postgresql.cnpg.io/synestra-io-cnpg",
        ),
        (
            "web-synestra-io-dev",
            "get",
            "secrets/web-synestra-io-dev-env",
        ),
        ("cnpgops", "create", "pods/exec"),
    ] {
        let allowed = sa_can(&kube, &w, ns, verb, resource);
        assert!(!allowed, "{verb} {resource} in {ns}");
    }
    assert_refreshed(&kube, [PASSWORD; 2], &prod_before);
}

/// With the real operator: TLS everywhere, verified against the Clusters' CAs, and plain text
/// from Pods refused by `pg_hba` (so the night cannot have gone without it).
#[test]
fn the_cronjob_refreshes_dev_in_cluster_over_verified_tls_with_the_real_operator() {
    let (w, kube) = (World::new(), Kube::start());
    let dbs = ["databases", "databases"];
    rw::world_with(&kube, "synestra-io", 500, dbs, rw::TLS_ONLY);
    kube.namespace("argocd");
    let passwords = [PROD_PASSWORD, DEV_PASSWORD];
    let (prod_before, dev_before) = prod_and_dev(&kube, passwords);
    assert_ne!(prod_before, dev_before, "dev starts different from prod");

    // This world's owner Secrets are `<app>-prod-owner` and `<app>-dev-owner`.
    let owners = ["synestra-io-prod-owner", "synestra-io-dev-owner"];
    let log = night(&kube, &w, &with_owner_secrets(manifests(), &owners), None);
    assert!(!log.contains("insecure"), "{log}");
    assert_refreshed(&kube, passwords, &prod_before);
}
