//! Controllers every Kubernetes cluster runs: namespace finalization and garbage collection.
pub mod gc;
pub mod namespaces;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::apiserver::store::{EventType, ResKey};
use crate::apiserver::ApiServer;

/// Creates `default`, `kube-system` and `kube-public`, as every cluster has them.
pub fn seed_namespaces(api: &ApiServer) {
    let res = ResKey::new("", "namespaces");
    let mut txn = api.store.lock();
    for name in ["default", "kube-system", "kube-public"] {
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        if let Some(rt) = api.registry.find("", "v1", "namespaces") {
            crate::apiserver::meta::prepare_create(rt, &mut obj);
        }
        txn.put(&res, (String::new(), name.into()), obj, EventType::Added);
    }
}

/// Runs the controllers until the server stops: on every change, and every half second.
pub fn spawn(api: Arc<ApiServer>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = api.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            // Let a burst of writes land before reconciling.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut changed = true;
            let mut rounds = 0;
            while changed && rounds < 20 {
                changed = namespaces::reconcile(&api) | gc::reconcile(&api);
                rounds += 1;
            }
        }
    })
}
