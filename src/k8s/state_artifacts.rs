//! `--state kubernetes` artifacts (see `engine::checkpoint::artifact`): each in ConfigMaps of
//! its own beside the run's, `cnpgops-run-<id>-<name>-<n>`, the JSON cut into pieces of at
//! most [`CHUNK`] bytes, so no object nears Kubernetes' 1 MiB limit whatever the schema's
//! size. The first piece says how many there are; every piece is owned by the run's ConfigMap,
//! so deleting the run deletes them (garbage collection).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use super::error::status_code;
use super::{MANAGED_BY, RUN_ID_LABEL};
use crate::engine::checkpoint::artifact::chunks;
use crate::engine::StoreError;

/// The most JSON one piece holds (well under the 1 MiB object limit, with room for metadata).
pub(crate) const CHUNK: usize = 768 * 1024;
/// The data key of a piece.
pub(crate) const KEY: &str = "part";
const PIECES: &str = "cnpgops.io/artifact-pieces";
const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "run-artifact");

/// The ConfigMap holding piece `n` of artifact `name` of a run.
pub(crate) fn piece_name(run_id: &str, name: &str, n: usize) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}-{name}-{n}", super::state_store::name(run_id))
}

fn backend(action: &'static str, location: String, e: kube::Error) -> StoreError {
    StoreError::Backend {
        action,
        location,
        source: Box::new(e),
    }
}

/// Writes the pieces (replacing any of an earlier attempt), owned by `owner`.
pub(crate) async fn save(
    api: &Api<ConfigMap>,
    ns: &str,
    owner: Option<OwnerReference>,
    run_id: &str,
    name: &str,
    text: &str,
) -> Result<(), StoreError> {
    let parts = chunks(text, CHUNK);
    let count = parts.len().max(1);
    for n in 0..count {
        let piece = piece_name(run_id, name, n);
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(piece.clone()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
                    (COMPONENT.0.to_string(), COMPONENT.1.to_string()),
                    (RUN_ID_LABEL.to_string(), run_id.to_string()),
                ])),
                annotations: Some(BTreeMap::from([(PIECES.to_string(), count.to_string())])),
                owner_references: owner.clone().map(|o| vec![o]),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                KEY.to_string(),
                parts.get(n).copied().unwrap_or("").to_string(),
            )])),
            ..Default::default()
        };
        let location = format!("ConfigMap {ns}/{piece}");
        match api.create(&PostParams::default(), &cm).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(409) => {
                let old = api
                    .get(&piece)
                    .await
                    .map_err(|e| backend("read", location.clone(), e))?;
                cm.metadata.resource_version = old.metadata.resource_version;
                api.replace(&piece, &PostParams::default(), &cm)
                    .await
                    .map_err(|e| backend("save an artifact", location, e))?;
            }
            Err(e) => return Err(backend("save an artifact", location, e)),
        }
    }
    Ok(())
}

/// Reads the pieces back, joined.
pub(crate) async fn load(
    api: &Api<ConfigMap>,
    ns: &str,
    run_id: &str,
    name: &str,
) -> Result<Vec<u8>, StoreError> {
    let mut text = String::new();
    let mut count = 1;
    let mut n = 0;
    while n < count {
        let piece = piece_name(run_id, name, n);
        let location = format!("ConfigMap {ns}/{piece}");
        let cm = api
            .get_opt(&piece)
            .await
            .map_err(|e| backend("read an artifact", location.clone(), e))?
            .ok_or_else(|| StoreError::NotFound {
                run_id: run_id.into(),
                location: format!("{location} (artifact `{name}`, piece {n} of {count})"),
            })?;
        if n == 0 {
            count = cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(PIECES))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
        }
        if let Some(part) = cm.data.as_ref().and_then(|d| d.get(KEY)) {
            text.push_str(part);
        }
        n += 1;
    }
    Ok(text.into_bytes())
}

/// An owner reference to the run's ConfigMap (its pieces go when it goes).
pub(crate) fn owner(run: &ConfigMap) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: run.metadata.name.clone()?,
        uid: run.metadata.uid.clone()?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn piece_names_are_object_names() {
        assert_eq!(
            super::piece_name("20260101-000000-ab12", "dump_restore.source_inventory", 2),
            "cnpgops-run-20260101-000000-ab12-dump-restore-source-inventory-2"
        );
    }
}
