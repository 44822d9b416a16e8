//! Connecting to Kubernetes: `--kubeconfig` / `--context`, else in-cluster, else the default
//! kubeconfig; connected lazily, once per process, so `plan` and file-only runs never connect.

use std::path::PathBuf;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

use super::error::K8sError;

/// Where to connect, from the global flags.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// `--kubeconfig` (or `$KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `-n/--namespace`: the default for steps without `namespace:`; else the context's.
    pub namespace: Option<String>,
}

/// A connected client and the namespace steps default to.
#[derive(Clone)]
pub struct Kube {
    pub client: Client,
    pub namespace: String,
    /// The configuration is the Pod's own service account (in-cluster): Services resolve, so
    /// databases are reached directly; otherwise through a port-forward.
    pub in_cluster: bool,
}

/// Connects on first use and shares the client afterwards.
#[derive(Clone, Default)]
pub struct Connector {
    options: KubeOptions,
    cell: Arc<OnceCell<Kube>>,
}

impl Connector {
    /// A connector for `options`; nothing is contacted until [`Connector::get`].
    pub fn new(options: KubeOptions) -> Self {
        Self {
            options,
            cell: Arc::new(OnceCell::new()),
        }
    }

    /// The client, connecting now if this is the first use.
    pub async fn get(&self) -> Result<Kube, K8sError> {
        self.cell
            .get_or_try_init(|| connect(&self.options))
            .await
            .cloned()
    }
}

#[cfg(test)]
impl Connector {
    /// A connector already connected to `client` (the mock-apiserver tier).
    pub(crate) fn connected(client: Client, namespace: &str) -> Self {
        let kube = Kube {
            client,
            namespace: namespace.into(),
            in_cluster: false,
        };
        Self {
            options: KubeOptions::default(),
            cell: Arc::new(OnceCell::new_with(Some(kube))),
        }
    }
}

/// Builds a client from `options`.
pub(crate) async fn connect(options: &KubeOptions) -> Result<Kube, K8sError> {
    let (config, in_cluster) = config(options).await?;
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(K8sError::Client)?;
    Ok(Kube {
        client,
        namespace,
        in_cluster,
    })
}

/// The configuration and whether it is the in-cluster one (decided here, from what was
/// actually loaded, not from `KUBERNETES_SERVICE_HOST` alone: a `--kubeconfig` or `--context`
/// given inside a Pod points elsewhere, where this Pod's Service names mean nothing).
async fn config(options: &KubeOptions) -> Result<(Config, bool), K8sError> {
    let kc_options = KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let boxed = |what: &str| {
        let what = what.to_string();
        move |e: kube::config::KubeconfigError| K8sError::Config {
            what,
            source: Box::new(e),
        }
    };
    if let Some(path) = &options.kubeconfig {
        let kc = Kubeconfig::read_from(path).map_err(|source| K8sError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })?;
        return Config::from_custom_kubeconfig(kc, &kc_options)
            .await
            .map(|c| (c, false))
            .map_err(boxed(&format!("kubeconfig {}", path.display())));
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && options.context.is_none() {
        return Config::incluster()
            .map(|c| (c, true))
            .map_err(|e| K8sError::Config {
                what: "in-cluster service account".into(),
                source: Box::new(e),
            });
    }
    Config::from_kubeconfig(&kc_options)
        .await
        .map(|c| (c, false))
        .map_err(boxed("default kubeconfig"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'http://127.0.0.1:1'}\n- name: b\n  cluster: {server: 'http://127.0.0.1:2'}\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: a\n  context: {cluster: a, user: u, namespace: ns-a}\n- name: b\n  context: {cluster: b, user: u}\ncurrent-context: a\n";

    #[tokio::test]
    async fn context_flag_picks_the_cluster_and_namespace_flag_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let mut options = KubeOptions {
            kubeconfig: Some(path.clone()),
            ..Default::default()
        };
        let kube = connect(&options).await.unwrap();
        assert_eq!(kube.namespace, "ns-a");
        assert!(!kube.in_cluster, "a kubeconfig is never in-cluster");
        options.context = Some("b".into());
        assert_eq!(
            config(&options).await.unwrap().0.cluster_url.port_u16(),
            Some(2)
        );
        assert_eq!(connect(&options).await.unwrap().namespace, "default");
        options.namespace = Some("mine".into());
        assert_eq!(connect(&options).await.unwrap().namespace, "mine");
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_names_the_file() {
        let options = KubeOptions {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..Default::default()
        };
        let err = connect(&options).await.err().unwrap();
        assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
    }
}
