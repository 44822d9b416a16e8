//! A sandbox Kubernetes API server per test, on its own runtime, with a kube-rs client, object
//! helpers, and a dump of every object (to assert nothing changed, or to debug a failure).

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cnpgops::support::resources;
use cnpgops_sandbox::server::Cnpg;
use cnpgops_sandbox::Sandbox;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::DynamicObject;
use kube::{Api, Client, Config};
use serde_json::Value;

use crate::harness::{Ran, World};

/// A running sandbox and a client for it.
pub(crate) struct Kube {
    rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    pub client: Client,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    cnpg: Cnpg,
}

impl Kube {
    /// A sandbox with the real CloudNativePG operator (1.30.0, with the barman-cloud plugin
    /// v0.14.0; their Pods in the node agent).
    pub(crate) fn start() -> Self {
        Self::start_with(Cnpg::Real)
    }

    /// A sandbox without CloudNativePG (its CRDs only): for tests of what needs no database,
    /// which then neither wait for an operator to install nor share the cores with one.
    pub(crate) fn plain() -> Self {
        Self::start_with(Cnpg::None)
    }

    fn start_with(cnpg: Cnpg) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sandbox = rt
            .block_on(async {
                let world = cnpgops_sandbox::world::World::new(dir.path())?;
                Sandbox::start_with_cnpg(dir.path(), world, cnpg).await
            })
            .expect("sandbox starts");
        let kubeconfig = sandbox.kubeconfig_path();
        let client = rt.block_on(async {
            let kc = Kubeconfig::read_from(&kubeconfig).unwrap();
            let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .unwrap();
            Client::try_from(config).unwrap()
        });
        Self {
            cnpg,
            rt,
            sandbox: Some(sandbox),
            client,
            kubeconfig,
            _dir: dir,
        }
    }

    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs `f` in the background on this sandbox's runtime (e.g. a watch that counts writes).
    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(f)
    }

    /// The sandbox's S3 server (moto, SigV4 enforced), started on first use.
    pub(crate) fn s3(&self) -> cnpgops_sandbox::world::s3::S3Info {
        let sandbox = self.sandbox.as_ref().expect("running");
        self.block_on(sandbox.world.s3()).expect("S3 server")
    }

    /// The running sandbox (its API server's fault injection, its world's S3 fault proxy).
    pub(crate) fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// The Api for a listed kind (see `cnpgops::support::resources`) in `ns`.
    pub(crate) fn api(&self, kind: &str, ns: &str) -> Api<DynamicObject> {
        let kind = resources::known(kind, None).expect("a listed kind");
        if kind.namespaced {
            Api::namespaced_with(self.client.clone(), ns, &kind.resource)
        } else {
            Api::all_with(self.client.clone(), &kind.resource)
        }
    }

    /// Creates every object of a (multi-document) YAML text.
    pub(crate) fn create(&self, yaml: &str) {
        for doc in yaml.split("\n---\n") {
            let obj: DynamicObject = serde_saphyr::from_str(doc).expect("object yaml");
            let kind = obj.types.as_ref().unwrap().kind.clone();
            let ns = obj.metadata.namespace.clone().unwrap_or("default".into());
            self.block_on(self.api(&kind, &ns).create(&PostParams::default(), &obj))
                .unwrap_or_else(|e| panic!("create {kind}: {e}"));
        }
    }

    /// Creates a namespace and waits for its `default` ServiceAccount (Pods need it, as on a
    /// real cluster, where the serviceaccount controller creates it a moment later).
    pub(crate) fn namespace(&self, name: &str) {
        self.create(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"
        ));
        let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client.clone(), name);
        for _ in 0..300 {
            if self
                .block_on(sas.get_opt("default"))
                .ok()
                .flatten()
                .is_some()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The object as JSON, or `None`.
    pub(crate) fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let obj = self.block_on(self.api(kind, ns).get_opt(name)).unwrap();
        obj.map(|o| serde_json::to_value(o).unwrap())
    }

    /// Objects of `kind` in `ns` matching a label selector.
    pub(crate) fn list(&self, kind: &str, ns: &str, selector: &str) -> Vec<Value> {
        let lp = ListParams::default().labels(selector);
        let list = self.block_on(self.api(kind, ns).list(&lp)).unwrap();
        list.items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect()
    }

    /// Sets `status` (a merge patch of the status subresource), as an operator would.
    pub(crate) fn set_status(&self, kind: &str, ns: &str, name: &str, status: Value) {
        let patch = Patch::Merge(serde_json::json!({ "status": status }));
        self.block_on(
            self.api(kind, ns)
                .patch_status(name, &PatchParams::default(), &patch),
        )
        .unwrap_or_else(|e| panic!("status of {kind} {ns}/{name}: {e}"));
    }

    /// Merge-patches the object (metadata or spec), as a person with kubectl would.
    pub(crate) fn merge(&self, kind: &str, ns: &str, name: &str, patch: Value) {
        self.block_on(self.api(kind, ns).patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        ))
        .unwrap_or_else(|e| panic!("patch of {kind} {ns}/{name}: {e}"));
    }

    /// Turns CNPG's reconciliation of a Cluster off (`cnpg.io/reconciliationLoop: disabled`) or
    /// back on: what a test forging the Cluster's status or deleting its Secrets needs, else
    /// the operator puts them right at once.
    pub(crate) fn cnpg_reconciles(&self, ns: &str, cluster: &str, on: bool) {
        let value = if on {
            Value::Null
        } else {
            Value::from("disabled")
        };
        let patch =
            serde_json::json!({"metadata": {"annotations": {"cnpg.io/reconciliationLoop": value}}});
        self.merge("Cluster", ns, cluster, patch);
    }

    /// Brings up a scenario of `sandbox/scenarios/` (platform first, then the Argo CD
    /// Applications, each synced once) and waits until it is ready.
    pub(crate) fn scenario(&self, name: &str) {
        let path = crate::harness::root().join("sandbox/scenarios").join(name);
        let sandbox = self.sandbox.as_ref().unwrap();
        let objects = cnpgops_sandbox::scenario::load(&path).unwrap();
        let up = cnpgops_sandbox::scenario::up(
            &sandbox.api,
            &sandbox.world,
            objects,
            Duration::from_secs(240),
        );
        self.block_on(up)
            .unwrap_or_else(|e| panic!("scenario {name}: {e:#}"));
    }

    /// Every object the cluster holds, as sorted JSON lines, and the etcd revision of the newest
    /// write to any object but the Leases renewed on their own.
    pub(crate) fn everything(&self) -> (Vec<String>, u64) {
        let sandbox = self.sandbox.as_ref().unwrap();
        let (objects, rev) = self
            .block_on(sandbox.everything())
            .expect("everything lists");
        let mut all: Vec<String> = objects
            .iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect();
        all.sort();
        (all, rev)
    }

    /// Waits until the controllers stop writing: [`Kube::everything`] (the objects and etcd's
    /// newest write, both leaving out the leases renewed on their own) unchanged for 2 s.
    pub(crate) fn settle(&self) {
        let t0 = Instant::now();
        let (mut last, mut since) = (self.everything(), Instant::now());
        while since.elapsed() < Duration::from_secs(2) {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the sandbox never settled"
            );
            std::thread::sleep(Duration::from_millis(250));
            let now = self.everything();
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
    }

    /// Runs cnpgops against this sandbox.
    pub(crate) fn run(&self, w: &World, args: &[&str]) -> Ran {
        w.run_with(self.cmd(w, args))
    }

    pub(crate) fn cmd(&self, w: &World, args: &[&str]) -> std::process::Command {
        let mut cmd = w.cmd(args);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.rt.block_on(sandbox.stop());
        }
    }
}

/// A fixture file under `tests/it/fixtures/kube/`.
pub(crate) fn fixture(name: &str) -> String {
    crate::harness::root()
        .join("tests/it/fixtures/kube")
        .join(name)
        .display()
        .to_string()
}

/// A CNPG Cluster, waited for until healthy: the sandbox's CNPG operator makes it so (a real
/// PostgreSQL); in a sandbox without CNPG ([`Kube::plain`]) the test writes the status itself
/// (for steps that only read it).
pub(crate) fn healthy_cluster(kube: &Kube, ns: &str, name: &str) {
    kube.create(&format!(
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{instances: 1, imageName: 'ghcr.io/cloudnative-pg/postgresql:15', storage: {{size: 1Gi}}}}\n"
    ));
    if kube.cnpg == Cnpg::None {
        let healthy = serde_json::json!({"phase": "Cluster in healthy state"});
        return kube.set_status("Cluster", ns, name, healthy);
    }
    let t0 = Instant::now();
    loop {
        let c = kube.get("Cluster", ns, name).unwrap();
        if c["status"]["phase"] == "Cluster in healthy state" {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "never healthy: {c:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A Deployment with `replicas`.
pub(crate) fn deployment(kube: &Kube, ns: &str, name: &str, replicas: u32) {
    kube.create(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: app, image: busybox}}]}}\n"
    ));
}

/// A Deployment's `spec.replicas`.
pub(crate) fn replicas(kube: &Kube, ns: &str, name: &str) -> i64 {
    kube.get("Deployment", ns, name).unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap()
}
