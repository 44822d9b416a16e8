//! The Node object as a kubelet registers it: addresses, the kubelet endpoint, capacity, node
//! info, and a Ready condition.
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{KUBELET_PORT, NODE};
use crate::cluster::Cluster;
use crate::control_plane::binaries::K8S_VERSION;

pub async fn register(cluster: &Arc<Cluster>, ip: Ipv4Addr) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "labels": {
            "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        }},
    }))?;
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let resources =
        json!({"cpu": "2", "memory": "24Gi", "pods": "110", "ephemeral-storage": "50Gi"});
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": ip.to_string()}, {"type": "Hostname", "address": NODE}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "capacity": resources, "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "the sandbox's node agent is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "nodeInfo": {"kubeletVersion": format!("v{K8S_VERSION}"), "kubeProxyVersion": "",
            "operatingSystem": "linux", "architecture": std::env::consts::ARCH,
            "containerRuntimeVersion": "cnpgops-sandbox://processes", "osImage": "host processes",
            "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
    }});
    api.patch_status(NODE, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}
