//! A sandbox per test (without CloudNativePG: these tests are of Argo CD, S3 and the sandbox's
//! command line) and a kube client for it.
use std::path::Path;

use cnpgops_sandbox::server::Cnpg;
use cnpgops_sandbox::Sandbox;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

pub struct World {
    pub sandbox: Sandbox,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    // No CloudNativePG: these tests are of the node agent's Jobs, Argo CD and S3.
    let world = cnpgops_sandbox::world::World::new(dir.path()).expect("world");
    let sandbox = Sandbox::start_with_cnpg(dir.path(), world, Cnpg::None)
        .await
        .expect("sandbox starts");
    let client = client_for(&sandbox.kubeconfig_path()).await;
    World {
        sandbox,
        client,
        dir,
    }
}

pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig written");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    Client::try_from(config).expect("client")
}

pub async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
    // As on a real cluster, Pods can be created once the serviceaccount controller has given the
    // namespace its `default` ServiceAccount.
    let sas = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), name);
    for _ in 0..300 {
        if sas.get_opt("default").await.ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
