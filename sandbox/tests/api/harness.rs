//! Starts a sandbox (without CloudNativePG: these are tests of the API, the node agent and
//! the faults) for one test and gives a kube-rs client for it.
use cnpgops_sandbox::server::Cnpg;
use cnpgops_sandbox::Sandbox;
use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Status;
use kube::{Api, Client, Config};
use serde_json::json;

pub struct World {
    pub sandbox: Sandbox,
    pub client: Client,
    pub _dir: tempfile::TempDir,
}

pub async fn start() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = cnpgops_sandbox::world::World::new(dir.path()).expect("world");
    let sandbox = Sandbox::start_with_cnpg(dir.path(), world, Cnpg::None)
        .await
        .expect("sandbox starts");
    let kc = Kubeconfig::read_from(sandbox.kubeconfig_path()).expect("kubeconfig written");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    let client = Client::try_from(config).expect("client");
    World {
        sandbox,
        client,
        _dir: dir,
    }
}

impl World {
    /// Creates a namespace for the test and returns its name.
    pub async fn namespace(&self, name: &str) -> String {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&Default::default(), &ns)
            .await
            .expect("namespace created");
        // As on a real cluster, Pods can be created once the serviceaccount controller has
        // given the namespace its `default` ServiceAccount.
        let sas = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
            self.client.clone(),
            name,
        );
        for _ in 0..300 {
            if sas.get_opt("default").await.ok().flatten().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        name.to_string()
    }
}

/// The API error behind a kube-rs error (panics if it is another kind of error).
pub fn api_err(e: kube::Error) -> Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
