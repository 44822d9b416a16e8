//! The target's real free space, measured before a refresh writes into it.
//!
//! `spec.storage.size` says what was asked for, not what is left: WAL kept for a slow
//! archiver, bloat, or a node-local provisioner that shares the node's disk can leave far
//! less. A short Job (the probe) mounts the target primary's data claim **read-only** on the
//! primary's node and prints `df` (the filesystem's free bytes, statfs) and `du` (what the
//! volume holds). Free space is the smaller of the filesystem's free bytes and the claim's
//! size less what it holds: the second bounds it where the filesystem is bigger than the
//! claim (local-path and hostPath volumes share the node's disk).
//!
//! It needs no right the refresh does not already have (`jobs: create`, `pods`/`pods/log`:
//! get), unlike the kubelet's stats summary (`nodes/proxy`, cluster-wide, lets its holder
//! reach the kubelet API of every node) or `pods/exec` into the instance (a shell beside the
//! database's superuser socket). See docs/real-cluster.md.

use serde_json::{json, Value};

use super::pod::{self, Resources};
use crate::k8s::{MANAGED_BY, RUN_ID_LABEL, STEP_LABEL};

/// The probe's output line: `cnpgops-space avail=<bytes> used=<bytes>`.
pub(crate) const MARK: &str = "cnpgops-space";
/// Where the claim is mounted in the probe.
const MOUNT: &str = "/pgdata";

/// What the probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Measured {
    /// The filesystem's free bytes for an unprivileged writer (`df`).
    pub available: i64,
    /// What the volume holds (`du`).
    pub used: i64,
}

impl Measured {
    /// Free bytes: the filesystem's, bounded by the claim's `capacity` less what it holds.
    pub(crate) fn free(&self, capacity: Option<i64>) -> i64 {
        match capacity {
            Some(c) => self.available.min((c - self.used).max(0)),
            None => self.available,
        }
    }
}

/// Reads the probe's line.
pub(crate) fn parse(line: &str) -> Option<Measured> {
    let rest = line.trim().strip_prefix(MARK)?;
    let field = |key: &str| {
        rest.split_whitespace()
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse::<i64>().ok())
    };
    Some(Measured {
        available: field("avail")?,
        used: field("used").unwrap_or(0),
    })
}

/// Everything the probe Job is made from.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub name: String,
    pub namespace: String,
    pub run_id: String,
    pub step: String,
    pub image: String,
    /// The primary's node and data claim.
    pub node: String,
    pub claim: String,
    pub pull_secrets: Vec<String>,
}

/// The probe's name: `cnpgops-space-<cluster>-<run id's tail>`.
pub(crate) fn name(cluster: &str, run_id: &str) -> String {
    let tail = run_id.rsplit('-').next().unwrap_or(run_id);
    let cluster: String = cluster.chars().take(40).collect();
    format!("cnpgops-space-{}-{tail}", cluster.trim_end_matches('-'))
}

/// The probe's script: no writes anywhere (read-only root, read-only claim).
pub(crate) fn script() -> String {
    format!(
        "avail=$(df -P -B1 {MOUNT} | awk 'NR == 2 {{ print $4 }}')\n\
         used=$(du -s -x -B1 {MOUNT} 2>/dev/null | cut -f1) || true\n\
         echo \"{MARK} avail=$avail used=${{used:-0}}\""
    )
}

/// The probe Job: on the primary's node (a ReadWriteOnce claim can be mounted by several Pods
/// of one node), the claim read-only, as `restricted` admits it. No `fsGroup`: the kubelet
/// would otherwise walk the database's files to change their group.
pub(crate) fn manifest(p: &Probe) -> Value {
    let labels = json!({MANAGED_BY.0: MANAGED_BY.1, RUN_ID_LABEL: p.run_id, STEP_LABEL: p.step});
    let mut security = pod::pod_security();
    if let Some(s) = security.as_object_mut() {
        s.remove("fsGroup");
    }
    let resources = Resources {
        cpu: Some("100m".into()),
        memory: Some("64Mi".into()),
    };
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": p.name, "namespace": p.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod::job_pod_spec(security, &p.pull_secrets, json!({
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": [p.node]}]}]}}},
                    "volumes": [{"name": "data",
                        "persistentVolumeClaim": {"claimName": p.claim, "readOnly": true}}],
                    "containers": [{
                        "name": "df",
                        "image": p.image,
                        "command": ["/bin/bash", "-c", pod::literal(&script())],
                        "volumeMounts": [{"name": "data", "mountPath": MOUNT, "readOnly": true}],
                        "securityContext": pod::container_security(),
                        "resources": resources.manifest("16Mi"),
                    }],
                })),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_read_and_free_space_is_bounded_by_the_claim() {
        let m = parse("cnpgops-space avail=5000 used=700").unwrap();
        assert_eq!(
            m,
            Measured {
                available: 5000,
                used: 700
            }
        );
        assert_eq!(m.free(Some(1000)), 300, "the claim is the bound");
        assert_eq!(m.free(Some(100_000)), 5000, "the filesystem is the bound");
        assert_eq!(m.free(Some(500)), 0);
        assert_eq!(m.free(None), 5000);
        assert_eq!(parse("cnpgops-space avail= used=1"), None);
        assert_eq!(parse("other"), None);
    }

    #[test]
    fn the_probe_mounts_the_claim_read_only_on_the_primarys_node() {
        let p = Probe {
            name: name("shop-dev-cnpg", "20260101-000000-abcd"),
            namespace: "databases".into(),
            run_id: "20260101-000000-abcd".into(),
            step: "preflight".into(),
            image: "ghcr.io/cloudnative-pg/postgresql:15.10".into(),
            node: "node-a".into(),
            claim: "shop-dev-cnpg-1".into(),
            pull_secrets: vec![],
        };
        assert_eq!(p.name, "cnpgops-space-shop-dev-cnpg-abcd");
        let m = manifest(&p);
        let spec = &m["spec"]["template"]["spec"];
        assert_eq!(
            spec["volumes"][0]["persistentVolumeClaim"]["readOnly"],
            true
        );
        assert_eq!(spec["containers"][0]["volumeMounts"][0]["readOnly"], true);
        assert!(spec["securityContext"].get("fsGroup").is_none());
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        let term = &spec["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchFields"][0];
        assert_eq!(term["values"][0], "node-a");
        assert!(name(&"x".repeat(80), "r-ffff").len() <= 63);
        let restricted = crate::refresh::job_manifest::tests::pss::violations(spec);
        assert_eq!(restricted, Vec::<String>::new());
    }
}
