//! Loading CustomResourceDefinitions (the real CNPG, barman-cloud plugin and Argo CD ones) into
//! the apiserver and waiting until each is Established.
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;

/// Applies every CustomResourceDefinition of `from` (a directory of `*.yaml` files, or one
/// multi-document manifest, of which only the CRDs are taken) and waits for them to be served.
pub async fn load_dir(client: &Client, from: &Path) -> anyhow::Result<Vec<String>> {
    let mut files: Vec<_> = if from.is_dir() {
        std::fs::read_dir(from)
            .with_context(|| format!("failed to read the CRDs of {}", from.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect()
    } else {
        anyhow::ensure!(
            from.exists(),
            "{} is missing: run scripts/setup.sh (world/build.sh cnpg plugin)",
            from.display()
        );
        vec![from.to_path_buf()]
    };
    files.sort();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("cnpgops-sandbox").force();
    let mut names = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("failed to read {}", f.display()))?;
        for doc in text.split("\n---") {
            if !doc.contains("kind: CustomResourceDefinition") {
                continue;
            }
            let crd: CustomResourceDefinition = serde_saphyr::from_str(doc).with_context(|| {
                format!(
                    "a CustomResourceDefinition of {} does not parse",
                    f.display()
                )
            })?;
            let name = crd.metadata.name.clone().context("a CRD without a name")?;
            api.patch(&name, &pp, &Patch::Apply(&crd))
                .await
                .with_context(|| format!("failed to apply CRD {name} of {}", f.display()))?;
            names.push(name);
        }
    }
    for name in &names {
        let established = await_condition(api.clone(), name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .with_context(|| format!("CRD {name} not established within 30s"))??;
    }
    Ok(names)
}
