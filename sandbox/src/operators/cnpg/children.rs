//! The objects CNPG creates for a Cluster besides secrets: Services `-rw`/`-ro`/`-r`, one PVC
//! and one Pod per instance, with CNPG's labels and the sandbox's address annotation.
use serde_json::{json, Value};

use super::cluster::ClusterView;

/// Annotation holding the loopback `ip:port` a Service or Pod reaches.
pub const ADDRESS: &str = "sandbox.cnpgops.io/address";
/// Annotation telling the pod runner that another controller runs this pod.
pub const PROCESS: &str = "sandbox.cnpgops.io/process";

/// `(suffix, selector role label, value)` of CNPG's three default services.
const SERVICES: [(&str, &str, &str); 3] = [
    ("rw", "cnpg.io/instanceRole", "primary"),
    ("ro", "cnpg.io/instanceRole", "replica"),
    ("r", "cnpg.io/podRole", "instance"),
];

/// The three services; `-ro` has an address only when there are replicas (as it has
/// endpoints only then).
pub fn services(c: &ClusterView, addr: &str) -> Vec<Value> {
    SERVICES
        .iter()
        .map(|(suffix, key, value)| {
            let mut annotations = serde_json::Map::new();
            if *suffix != "ro" || c.instances > 1 {
                annotations.insert(ADDRESS.into(), json!(addr));
            }
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("{}-{suffix}", c.name), "namespace": c.ns,
                    "labels": {"cnpg.io/cluster": c.name}, "annotations": annotations,
                    "ownerReferences": c.owner_ref()},
                "spec": {"type": "ClusterIP",
                    "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP", "targetPort": 5432}],
                    "selector": {"cnpg.io/cluster": c.name, *key: value}},
            })
        })
        .collect()
}

fn instance_labels(c: &ClusterView, serial: u32) -> Value {
    let role = if serial == 1 { "primary" } else { "replica" };
    json!({
        "cnpg.io/cluster": c.name, "cnpg.io/instanceName": c.instance_name(serial),
        "cnpg.io/podRole": "instance", "cnpg.io/instanceRole": role, "role": role,
        "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": c.name,
        "app.kubernetes.io/version": c.image_major().map(|m| m.to_string()).unwrap_or_default(),
        "app.kubernetes.io/component": "database", "app.kubernetes.io/managed-by": "cloudnative-pg",
    })
}

pub fn pvc(c: &ClusterView, serial: u32) -> Value {
    let mut spec = json!({"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": c.storage_size}}});
    if let Some(sc) = &c.storage_class {
        spec["storageClassName"] = json!(sc);
    }
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": c.instance_name(serial), "namespace": c.ns,
            "labels": {"cnpg.io/cluster": c.name, "cnpg.io/instanceName": c.instance_name(serial),
                       "cnpg.io/pvcRole": "PG_DATA"},
            "annotations": {"cnpg.io/nodeSerial": serial.to_string(), "cnpg.io/pvcStatus": "ready"},
            "ownerReferences": c.owner_ref()},
        "spec": spec,
    })
}

pub fn pod(c: &ClusterView, serial: u32, addr: &str) -> Value {
    let name = c.instance_name(serial);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": c.ns, "labels": instance_labels(c, serial),
            "annotations": {"cnpg.io/nodeSerial": serial.to_string(), ADDRESS: addr, PROCESS: "cnpg"},
            "ownerReferences": c.owner_ref()},
        "spec": {
            "hostname": name, "subdomain": format!("{}-any", c.name), "nodeName": "sandbox",
            "restartPolicy": "Always",
            "containers": [{"name": "postgres", "image": c.image,
                "command": ["/controller/manager", "instance", "run"],
                "ports": [{"name": "postgresql", "containerPort": 5432, "protocol": "TCP"}]}],
            "volumes": [{"name": "pgdata", "persistentVolumeClaim": {"claimName": name}}],
        },
    })
}

/// A running, ready instance pod (status subresource body).
pub fn pod_status(c: &ClusterView, addr: &str, started: &str) -> Value {
    let ip = addr.split(':').next().unwrap_or_default();
    let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": started});
    json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1",
        "startTime": started, "qosClass": "BestEffort",
        "conditions": [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")],
        "containerStatuses": [{"name": "postgres", "image": c.image, "imageID": c.image,
            "ready": true, "started": true, "restartCount": 0,
            "state": {"running": {"startedAt": started}}}],
    }})
}
