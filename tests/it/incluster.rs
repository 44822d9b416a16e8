//! The in-cluster path runs: `deploy/base` applied with kubectl as an SRE would (namespace,
//! ServiceAccount, RBAC, the CronJob; the profile ConfigMap as docs/real-cluster.md creates it),
//! changed only where a user would (the CronJob suspended, the no-TLS opt-out of a cluster
//! without TLS), and a night started with `kubectl create job --from=cronjob/...`. The node
//! agent runs its Pod from the image `deploy/` names (the cnpgops this test built), as uid
//! 65532 under PodSecurity `restricted`, with the projected ServiceAccount token. Afterwards
//! dev is prod by the tests' own fingerprint, prod is unchanged, and the Pod's log shows the
//! in-cluster path: connections straight to the `-rw` Services, no port-forward (which its Role
//! does not allow). That proves `deploy/base/rbac.yaml` enough; requests outside it (other
//! Secrets, listing Secrets, port-forward, deleting Clusters) are forbidden.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::Api;
use serde_json::{json, Value};

use crate::fingerprint as fp;
use crate::harness::{bin, hermetic, World, INSECURE_NO_TLS_ENV};
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

/// `deploy/base` as applied here: what a user of a cluster without TLS changes, nothing else.
fn manifests() -> Vec<Value> {
    let mut docs = crate::deploy::rendered();
    let cronjob = docs
        .iter_mut()
        .find(|d| d["kind"] == "CronJob")
        .expect("a CronJob");
    // The test starts the night itself; the schedule must not start another.
    cronjob["spec"]["suspend"] = json!(true);
    // The simulated CNPG serves no TLS: the documented opt-out, as an environment variable.
    let env = cronjob
        .pointer_mut("/spec/jobTemplate/spec/template/spec/containers/0/env")
        .and_then(Value::as_array_mut)
        .expect("the container's env");
    env.push(json!({"name": INSECURE_NO_TLS_ENV, "value": "1"}));
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

#[test]
fn the_cronjob_refreshes_dev_in_cluster_with_its_service_account_and_nothing_more() {
    let (w, kube) = (World::new(), Kube::start());
    cnpgops_sandbox::node::pods::images::provide_cnpgops(Path::new(bin()));
    kube.scenario("synestra.yaml");
    let prod_before = fp::of(&kube, "synestra-io-cnpg", OWNER, PASSWORD);
    let dev_before = fp::of(&kube, "synestra-io-dev-cnpg", OWNER, PASSWORD);
    assert!(
        !prod_before.diff("prod", &dev_before, "dev").is_empty(),
        "dev starts different from prod"
    );

    apply(&kube, &w, &manifests());
    let profile = w.path("my-profile.yaml");
    std::fs::write(&profile, PROFILE).unwrap();
    let from_file = format!("--from-file=config.yaml={}", profile.display());
    kubectl(
        &kube,
        &w,
        &[
            "-n",
            "cnpgops",
            "create",
            "configmap",
            "cnpgops-profile",
            &from_file,
        ],
    );
    let from = format!("--from=cronjob/{CRONJOB}");
    kubectl(&kube, &w, &["-n", "cnpgops", "create", "job", &from, JOB]);

    let status = wait_finished(&kube, "cnpgops", JOB);
    let (pod, log) = pod_and_log(&kube, "cnpgops", JOB);
    assert_eq!(status["succeeded"], 1, "{status:#}\n{log}");

    // It ran as deploy/ says: its ServiceAccount, the image, uid 65532, admitted by
    // PodSecurity `restricted` (the namespace of deploy/base enforces it).
    assert_eq!(pod["spec"]["serviceAccountName"], "cnpgops");
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "ghcr.io/synestra/cnpgops:0.1.0"
    );
    let ns = kube.get("Namespace", "", "cnpgops").unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
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
    // The profile from the ConfigMap, mounted where XDG_CONFIG_HOME points, was the one used.
    let selected = "the Deployments of namespace web-synestra-io-dev matching `app.kubernetes.io/part-of=synestra-io`";
    assert!(log.contains(selected), "`{selected}` in:\n{log}");
    assert_eq!(
        replicas(&kube, "web-synestra-io-dev", "web"),
        2,
        "the app is back"
    );
    // The Role was enough, and no more than that.
    assert!(sa_can(
        &kube,
        &w,
        "databases",
        "get",
        "secrets/synestra-io-initdb-secret"
    ));
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
        assert!(
            !sa_can(&kube, &w, ns, verb, resource),
            "{verb} {resource} in {ns}"
        );
    }

    // The tests' own oracle: dev is prod, prod is as it was.
    let prod = fp::of(&kube, "synestra-io-cnpg", OWNER, PASSWORD);
    fp::assert_same(
        ("prod before", &prod_before),
        ("prod", &prod),
        "prod unchanged",
    );
    let dev = fp::of(&kube, "synestra-io-dev-cnpg", OWNER, PASSWORD);
    fp::assert_same(("prod", &prod), ("dev", &dev), "dev refreshed from prod");
    let runs = kube.block_on(
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(kube.client.clone(), "cnpgops")
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=cnpgops")),
    );
    assert_eq!(runs.unwrap().items.len(), 1, "the run's state in cnpgops");
}
