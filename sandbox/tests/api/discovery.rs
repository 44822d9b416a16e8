//! Discovery as kube-rs uses it: groups, versions, resources with verbs and subresources.
use kube::discovery::{verbs, Discovery, Scope};

use crate::harness::start;

#[tokio::test]
async fn kube_discovery_finds_builtin_and_custom_resources() {
    let w = start().await;
    let discovery = Discovery::new(w.client.clone()).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    for g in [
        "",
        "apps",
        "batch",
        "coordination.k8s.io",
        "rbac.authorization.k8s.io",
        "postgresql.cnpg.io",
        "barmancloud.cnpg.io",
        "argoproj.io",
    ] {
        assert!(
            groups.contains(&g.to_string()),
            "group {g:?} missing from {groups:?}"
        );
    }
    let cnpg = discovery.get("postgresql.cnpg.io").unwrap();
    let kinds: Vec<String> = cnpg
        .recommended_resources()
        .into_iter()
        .map(|(ar, _)| ar.kind)
        .collect();
    for k in ["Cluster", "Backup", "ScheduledBackup", "Database", "Pooler"] {
        assert!(kinds.contains(&k.to_string()), "{k} missing");
    }
    let (ar, caps) = cnpg.recommended_kind("Cluster").unwrap();
    assert_eq!(
        (ar.plural.as_str(), ar.api_version.as_str()),
        ("clusters", "postgresql.cnpg.io/v1")
    );
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.supports_operation(verbs::WATCH) && caps.supports_operation(verbs::PATCH));
    let subs: Vec<String> = caps
        .subresources
        .iter()
        .map(|(s, _)| s.plural.clone())
        .collect();
    assert!(
        subs.contains(&"status".to_string()) && subs.contains(&"scale".to_string()),
        "{subs:?}"
    );
    let core = discovery.get("").unwrap();
    let (ns, caps) = core.recommended_kind("Namespace").unwrap();
    assert_eq!(
        (ns.plural.as_str(), caps.scope.clone()),
        ("namespaces", Scope::Cluster)
    );
    let (_, pod_caps) = core.recommended_kind("Pod").unwrap();
    assert!(pod_caps.subresources.iter().any(|(s, _)| s.plural == "log"));
    let version = w.client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
}
