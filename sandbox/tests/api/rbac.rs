//! Authentication and RBAC: a ServiceAccount token from `serviceaccounts/token` is allowed what
//! its Roles/ClusterRoles grant through bindings (resourceNames included) and gets 403 otherwise.
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Config};
use serde_json::json;

use crate::harness::{api_err, start, World};

async fn create(w: &World, path: &str, body: serde_json::Value) {
    w.raw("POST", path, "application/json", &body.to_string())
        .await
        .unwrap();
}

async fn client_for(w: &World, ns: &str, sa: &str) -> Client {
    let reply = w
        .raw(
            "POST",
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token"),
            "application/json",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#,
        )
        .await
        .unwrap();
    let token = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["status"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut config = Config::new(w.sandbox.url.parse().unwrap());
    config.default_namespace = ns.into();
    config.auth_info.token = Some(token.into());
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn service_account_gets_what_its_roles_grant_and_nothing_else() {
    let w = start().await;
    let ns = w.namespace("ops").await;
    create(
        &w,
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        json!({"metadata": {"name": "cnpgops"}}),
    )
    .await;
    for name in ["allowed", "other"] {
        create(
            &w,
            &format!("/api/v1/namespaces/{ns}/secrets"),
            json!({"metadata": {"name": name}, "stringData": {"k": "v"}}),
        )
        .await;
    }
    create(&w, &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"), json!({"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["allowed"], "verbs": ["get"]}]})).await;
    create(
        &w,
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
        json!({"metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "cnpgops", "namespace": ns}]}),
    )
    .await;
    let client = client_for(&w, &ns, "cnpgops").await;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.list(&ListParams::default()).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets.get("allowed").await.unwrap();
    let err = api_err(secrets.get("other").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(err.message, format!("secrets \"other\" is forbidden: User \"system:serviceaccount:{ns}:cnpgops\" cannot get resource \"secrets\" in API group \"\" in the namespace \"{ns}\""));
    let err = api_err(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    let other_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        api_err(other_ns.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
    // Discovery stays open to authenticated users.
    client.apiserver_version().await.unwrap();
}

#[tokio::test]
async fn cluster_roles_bound_in_a_namespace_and_cluster_wide() {
    let w = start().await;
    let ns = w.namespace("ops").await;
    create(
        &w,
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        json!({"metadata": {"name": "bot"}}),
    )
    .await;
    create(&w, "/apis/rbac.authorization.k8s.io/v1/clusterroles", json!({"metadata": {"name": "cm-editor"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]})).await;
    let client = client_for(&w, &ns, "bot").await;
    let here: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(
        api_err(here.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
    create(&w, &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"), json!({"metadata": {"name": "edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cm-editor"}, "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}]})).await;
    here.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "made"}})).unwrap(),
    )
    .await
    .unwrap();
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        api_err(elsewhere.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
    create(&w, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json!({"metadata": {"name": "edit-all"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cm-editor"}, "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}]})).await;
    elsewhere.list(&ListParams::default()).await.unwrap();
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized() {
    let w = start().await;
    let mut config = Config::new(w.sandbox.url.parse().unwrap());
    config.auth_info.token = Some("not-a-token".to_string().into());
    let client = Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    assert_eq!(
        api_err(cms.list(&ListParams::default()).await.unwrap_err()).code,
        401
    );
}
