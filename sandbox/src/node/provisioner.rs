//! The node's storage provisioner (as a local-path provisioner does): a PersistentVolume on the
//! node's disk for every PersistentVolumeClaim without one, pre-bound to its claim, so the real
//! persistentvolume-binder controller binds them. Pods mount `DIR/pvc/<ns>/<claim>`.
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

use crate::cluster::{Cluster, EventType};

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// The volume for `pvc`, pre-bound to it.
pub fn volume(pvc: &Value, dir: &std::path::Path) -> Value {
    let (ns, name, uid) = (
        s(pvc, "/metadata/namespace"),
        s(pvc, "/metadata/name"),
        s(pvc, "/metadata/uid"),
    );
    let size = pvc
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or(json!("1Gi"));
    let modes = pvc
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or(json!(["ReadWriteOnce"]));
    let class = s(pvc, "/spec/storageClassName");
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": format!("pvc-{uid}"), "labels": {"sandbox.cnpgops.io/provisioned": "true"}},
        "spec": {"capacity": {"storage": size}, "accessModes": modes, "storageClassName": class,
            "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem",
            "hostPath": {"path": dir.join("pvc").join(ns).join(name).display().to_string(), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid}},
    })
}

pub fn spawn(cluster: Arc<Cluster>, dir: PathBuf) -> tokio::task::JoinHandle<()> {
    let mut changes = cluster.subscribe();
    let initial = cluster.list_objs("", "persistentvolumeclaims", None);
    tokio::spawn(async move {
        for pvc in initial {
            provision(&cluster, &dir, &pvc).await;
        }
        loop {
            match changes.recv().await {
                Ok(c)
                    if c.res.plural == "persistentvolumeclaims" && c.kind != EventType::Deleted =>
                {
                    provision(&cluster, &dir, &c.object).await
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for pvc in cluster.list_objs("", "persistentvolumeclaims", None) {
                        provision(&cluster, &dir, &pvc).await;
                    }
                }
                Err(_) => return,
            }
        }
    })
}

async fn provision(cluster: &Cluster, dir: &std::path::Path, pvc: &Value) {
    if !s(pvc, "/spec/volumeName").is_empty()
        || pvc.pointer("/metadata/deletionTimestamp").is_some()
    {
        return;
    }
    let api: Api<PersistentVolume> = Api::all(cluster.client.clone());
    let Ok(pv) = serde_json::from_value::<PersistentVolume>(volume(pvc, dir)) else {
        return;
    };
    match api.create(&PostParams::default(), &pv).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => tracing::warn!(
            pvc = s(pvc, "/metadata/name"),
            "provisioning a volume failed: {e}"
        ),
    }
}
