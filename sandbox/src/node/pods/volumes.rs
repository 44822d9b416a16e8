//! Pod volumes on the local disk: emptyDir and PVCs as directories, Secret and ConfigMap volumes
//! as files; the hosts file that maps Service DNS names to the sandbox's addresses.
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};

use crate::cluster::Cluster;

/// Writes a Secret's or ConfigMap's keys as files (only the listed `items`, at their paths,
/// when the volume lists any), with the volume's mode (`defaultMode`, else 0644).
fn write_items(dir: &Path, obj: &Value, secret: bool, volume: &Value) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let default_mode = volume["defaultMode"].as_u64().unwrap_or(0o644) as u32;
    let data = obj["data"].as_object().cloned().unwrap_or_default();
    let items: Vec<(String, String, u32)> = match volume["items"].as_array() {
        Some(items) => items
            .iter()
            .map(|i| {
                let key = i["key"].as_str().unwrap_or_default().to_string();
                let path = i["path"].as_str().unwrap_or(&key).to_string();
                let mode = i["mode"].as_u64().map(|m| m as u32).unwrap_or(default_mode);
                (key, path, mode)
            })
            .collect(),
        None => data
            .keys()
            .map(|k| (k.clone(), k.clone(), default_mode))
            .collect(),
    };
    for (key, path, mode) in items {
        let Some(text) = data.get(&key).and_then(Value::as_str) else {
            continue;
        };
        let bytes = if secret {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        } else {
            text.as_bytes().to_vec()
        };
        let path = dir.join(path);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Replaced whole (a reader never sees a half-written key), as the kubelet's atomic
        // writer does.
        let tmp = path.with_extension("cnpgops-tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}

/// Gives a volume's files to the Pod's `fsGroup` as the kubelet does before the containers
/// start (`SetVolumeOwnership`): group `gid`, plus g+rw (g+r when read-only), directories also
/// g+x and setgid.
fn chown_fs_group(path: &Path, gid: u32, readonly: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::lchown(path, None, Some(gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mut mask = if readonly { 0o440 } else { 0o660 };
    if meta.is_dir() {
        mask |= 0o2110;
    }
    let mode = meta.permissions().mode() | mask;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_fs_group(&entry?.path(), gid, readonly)?;
        }
    }
    Ok(())
}

/// Rewrites the pod's Secret and ConfigMap volumes from their objects as they are now (the
/// kubelet's periodic volume sync: a Secret created or changed after the start shows up).
pub fn refresh(api: &Cluster, pod: &Value, pod_dir: &Path) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let fs_group = pod
        .pointer("/spec/securityContext/fsGroup")
        .and_then(Value::as_u64);
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default();
        let dir = pod_dir.join("volumes").join(name);
        for (key, plural, secret, name_key) in [
            ("secret", "secrets", true, "secretName"),
            ("configMap", "configmaps", false, "name"),
        ] {
            let Some(src) = v.get(key) else { continue };
            let obj_name = src[name_key].as_str().unwrap_or_default();
            if let Some(obj) = api.get_obj("", plural, ns, obj_name) {
                if write_items(&dir, &obj, secret, src).is_ok() {
                    if let Some(gid) = fs_group {
                        let _ = chown_fs_group(&dir, gid as u32, true);
                    }
                }
            }
        }
    }
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
                Some(obj) => write_items(&dir, &obj, true, secret).map_err(io)?,
                None if secret["optional"].as_bool().unwrap_or(false) => {
                    std::fs::create_dir_all(&dir).map_err(io)?
                }
                None => return Err(format!("secret \"{sname}\" not found")),
            }
        } else if let Some(cm) = v.get("configMap") {
            let cname = cm["name"].as_str().unwrap_or_default();
            match api.get_obj("", "configmaps", ns, cname) {
                Some(obj) => write_items(&dir, &obj, false, cm).map_err(io)?,
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
        if let Some(gid) = pod
            .pointer("/spec/securityContext/fsGroup")
            .and_then(Value::as_u64)
        {
            let readonly = ["secret", "configMap", "projected"]
                .iter()
                .any(|k| v.get(*k).is_some());
            chown_fs_group(&dir, gid as u32, readonly).map_err(io)?;
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

/// Where each Service resolves: the first ready endpoint of its EndpointSlices (cluster DNS
/// and kube-proxy, folded into one hosts line), else its address annotation (a Service
/// without a selector that the world points somewhere itself).
fn service_ip(api: &Cluster, svc: &Value) -> Option<String> {
    let name = svc["metadata"]["name"].as_str().unwrap_or_default();
    let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut ready: Vec<String> = api
        .list_objs("discovery.k8s.io", "endpointslices", Some(ns))
        .iter()
        .filter(|s| s.pointer("/metadata/labels/kubernetes.io~1service-name") == Some(&json!(name)))
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e.pointer("/conditions/ready") != Some(&json!(false)))
        .filter_map(|e| e["addresses"][0].as_str().map(String::from))
        .collect();
    ready.sort();
    ready.into_iter().next().or_else(|| address_ip(svc))
}

/// The file in a pod's directory naming its own address and hostname (`IP\tNAME`).
pub const SELF_ENTRY: &str = "self-host";

/// Writes `pod_dir/hosts`: the pod's own name, then every Service that resolves, under its DNS
/// names (the short name only for Services in the pod's own namespace, as the DNS search path
/// resolves it).
pub fn hosts_file(api: &Cluster, pod_dir: &Path, pod_ns: &str) -> std::io::Result<()> {
    let mut text =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if let Ok(own) = std::fs::read_to_string(pod_dir.join(SELF_ENTRY)) {
        text.push_str(own.trim_end());
        text.push('\n');
    }
    for svc in api.list_objs("", "services", None) {
        let Some(ip) = service_ip(api, &svc) else {
            continue;
        };
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
    // Rewritten in place (same inode) so a bind mount of it sees the change.
    std::fs::write(pod_dir.join("hosts"), text)
}
