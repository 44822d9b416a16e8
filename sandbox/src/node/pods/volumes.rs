//! Pod volumes on the local disk: emptyDir and PVCs as directories, Secret and ConfigMap volumes
//! as files; the hosts file that maps Service DNS names to the sandbox's addresses.
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::cluster::Cluster;

fn write_items(dir: &Path, obj: &Value, secret: bool, mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        let bytes = if secret {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        } else {
            text.as_bytes().to_vec()
        };
        let path = dir.join(k);
        std::fs::write(&path, bytes)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Materializes the pod's volumes under `pod_dir` and returns (directory, mountPath) per mount
/// of `container`, or a message when a volume cannot be set up.
pub fn mounts(
    api: &Cluster,
    pod: &Value,
    container: &Value,
    pod_dir: &Path,
    sandbox_dir: &Path,
) -> Result<Vec<(PathBuf, String)>, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = vec![];
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap_or_default();
        let target = m["mountPath"].as_str().unwrap_or_default().to_string();
        let v = volumes
            .iter()
            .find(|v| v["name"] == name)
            .ok_or_else(|| format!("volume \"{name}\" not found in the pod"))?;
        let dir = if let Some(claim) = v
            .pointer("/persistentVolumeClaim/claimName")
            .and_then(Value::as_str)
        {
            sandbox_dir.join("pvc").join(ns).join(claim)
        } else {
            pod_dir.join("volumes").join(name)
        };
        let io = |e: std::io::Error| format!("volume \"{name}\": {e}");
        if let Some(secret) = v.get("secret") {
            let sname = secret["secretName"].as_str().unwrap_or_default();
            match api.get_obj("", "secrets", ns, sname) {
                Some(obj) => write_items(&dir, &obj, true, 0o600).map_err(io)?,
                None if secret["optional"].as_bool().unwrap_or(false) => {
                    std::fs::create_dir_all(&dir).map_err(io)?
                }
                None => return Err(format!("secret \"{sname}\" not found")),
            }
        } else if let Some(cm) = v.get("configMap") {
            let cname = cm["name"].as_str().unwrap_or_default();
            match api.get_obj("", "configmaps", ns, cname) {
                Some(obj) => write_items(&dir, &obj, false, 0o644).map_err(io)?,
                None if cm["optional"].as_bool().unwrap_or(false) => {
                    std::fs::create_dir_all(&dir).map_err(io)?
                }
                None => return Err(format!("configmap \"{cname}\" not found")),
            }
        } else if let Some(projected) = v.get("projected") {
            projected_volume(api, pod, projected, &dir)
                .map_err(|e| format!("volume \"{name}\": {e}"))?;
        } else {
            std::fs::create_dir_all(&dir).map_err(io)?;
        }
        let src = match m["subPath"].as_str() {
            Some(sub) if !sub.is_empty() => dir.join(sub),
            _ => dir,
        };
        out.push((src, target));
    }
    Ok(out)
}

/// A projected volume (what the ServiceAccount admission adds to every Pod: a bound token, the
/// cluster CA from `kube-root-ca.crt`, the namespace): each source's items as files.
fn projected_volume(
    api: &Cluster,
    pod: &Value,
    projected: &Value,
    dir: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let write = |path: &str, bytes: &[u8]| -> Result<(), String> {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))
    };
    for source in projected["sources"].as_array().into_iter().flatten() {
        if let Some(t) = source.get("serviceAccountToken") {
            let sa = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default");
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
            let token = api
                .pod_token(ns, sa, name, uid)
                .map_err(|e| format!("token for {sa}: {e}"))?;
            write(t["path"].as_str().unwrap_or("token"), token.as_bytes())?;
        }
        for (key, secret) in [("configMap", false), ("secret", true)] {
            let Some(src) = source.get(key) else { continue };
            let sname = src["name"].as_str().unwrap_or_default();
            let plural = if secret { "secrets" } else { "configmaps" };
            let Some(obj) = api.get_obj("", plural, ns, sname) else {
                if src["optional"].as_bool().unwrap_or(false) {
                    continue;
                }
                return Err(format!("{key} \"{sname}\" not found"));
            };
            for item in src["items"].as_array().into_iter().flatten() {
                let k = item["key"].as_str().unwrap_or_default();
                let Some(text) = obj["data"][k].as_str() else {
                    continue;
                };
                let bytes = if secret {
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .unwrap_or_default()
                } else {
                    text.as_bytes().to_vec()
                };
                write(item["path"].as_str().unwrap_or(k), &bytes)?;
            }
        }
        if let Some(d) = source.get("downwardAPI") {
            for item in d["items"].as_array().into_iter().flatten() {
                let field = item
                    .pointer("/fieldRef/fieldPath")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let value = match field {
                    "metadata.namespace" => ns.to_string(),
                    "metadata.name" => pod["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    "metadata.uid" => pod["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    _ => continue,
                };
                write(item["path"].as_str().unwrap_or_default(), value.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// The address part (IP) of a `sandbox.cnpgops.io/address` annotation.
pub fn address_ip(obj: &Value) -> Option<String> {
    let addr = obj
        .pointer("/metadata/annotations")?
        .get(super::ADDRESS)?
        .as_str()?;
    Some(
        addr.rsplit_once(':')
            .map(|(ip, _)| ip)
            .unwrap_or(addr)
            .to_string(),
    )
}

/// `/etc/hosts` for a pod in `pod_ns`: every Service with an address under its DNS names (the
/// short name only for Services in the pod's own namespace, as the DNS search path resolves it).
pub fn hosts_file(api: &Cluster, path: &Path, pod_ns: &str) -> std::io::Result<()> {
    let mut text =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for svc in api.list_objs("", "services", None) {
        let Some(ip) = address_ip(&svc) else { continue };
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
        let short = if ns == pod_ns {
            format!(" {name}")
        } else {
            String::new()
        };
        text.push_str(&format!(
            "{ip}\t{name}.{ns}.svc.cluster.local {name}.{ns}.svc {name}.{ns}{short}\n"
        ));
    }
    std::fs::write(path, text)
}
