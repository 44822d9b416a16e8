//! CNPG, barman-cloud and Argo CD custom resources through `DynamicObject`: structural schema
//! validation (422 with field causes), unknown fields (pruned, or 400 under Strict), defaults,
//! the CNPG webhook's rules, `/scale` and `/status` on a Cluster.
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::harness::{api_err, start};

fn clusters(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster"),
        "clusters",
    );
    Api::namespaced_with(client, ns, &ar)
}

fn cluster(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": name}, "spec": spec})).unwrap()
}

#[tokio::test]
async fn valid_cluster_is_stored_with_schema_defaults() {
    let w = start().await;
    let ns = w.namespace("cnpg").await;
    let api = clusters(w.client.clone(), &ns);
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"}, "bootstrap": {"initdb": {"database": "app", "owner": "app"}}});
    let made = api
        .create(&PostParams::default(), &cluster("synestra-io-cnpg", spec))
        .await
        .unwrap();
    assert_eq!(made.data["spec"]["logLevel"], "info");
    assert_eq!(made.data["spec"]["primaryUpdateStrategy"], "unsupervised");
    assert_eq!(made.metadata.generation, Some(1));
    let got = api.get("synestra-io-cnpg").await.unwrap();
    assert_eq!(got.data["spec"]["bootstrap"]["initdb"]["database"], "app");

    // kube-apiserver validates before its storage answers AlreadyExists: a taken name with an
    // invalid body is 422 (also as a dry run), a valid one 409.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let invalid = json!({"instances": "three", "storage": {"size": "1Gi"}});
    let err = api_err(
        api.create(&dry, &cluster("synestra-io-cnpg", invalid))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let valid = json!({"instances": 1, "storage": {"size": "1Gi"}});
    let err = api_err(
        api.create(&dry, &cluster("synestra-io-cnpg", valid))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
}

#[tokio::test]
async fn wrong_type_is_422_with_a_cause_naming_the_field() {
    let w = start().await;
    let ns = w.namespace("cnpg").await;
    let api = clusters(w.client.clone(), &ns);
    let err = api_err(
        api.create(
            &PostParams::default(),
            &cluster(
                "bad",
                json!({"instances": "three", "storage": {"size": "1Gi"}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let details = err.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.kind.as_str(),
            details.group.as_str()
        ),
        ("bad", "Cluster", "postgresql.cnpg.io")
    );
    assert_eq!(details.causes[0].field, "spec.instances");
    assert_eq!(details.causes[0].reason, "FieldValueTypeInvalid");
    assert!(
        err.message.starts_with(
            "Cluster.postgresql.cnpg.io \"bad\" is invalid: spec.instances: Invalid value:"
        ),
        "{}",
        err.message
    );
    assert!(
        api.get_opt("bad").await.unwrap().is_none(),
        "nothing stored"
    );
    // Below the schema's minimum.
    let err = api_err(
        api.create(
            &PostParams::default(),
            &cluster("zero", json!({"instances": 0, "storage": {"size": "1Gi"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.details.unwrap().causes[0].field, "spec.instances");
}

#[tokio::test]
async fn unknown_bootstrap_method_is_rejected_under_strict_and_pruned_otherwise() {
    let w = start().await;
    let ns = w.namespace("cnpg").await;
    let api = clusters(w.client.clone(), &ns);
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"}, "bootstrap": {"fromBackup": {"name": "x"}}});
    let strict = PatchParams::apply("test").validation_strict();
    let obj = cluster("c", spec.clone());
    let err = api_err(
        api.patch("c", &strict, &Patch::Apply(&obj))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert!(
        err.message
            .contains("unknown field \"spec.bootstrap.fromBackup\""),
        "{}",
        err.message
    );
    assert!(api.get_opt("c").await.unwrap().is_none());
    // Without Strict (kube's default is Warn) the field is pruned, as kube-apiserver does.
    let made = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(made.data["spec"]["bootstrap"], json!({}));
}

#[tokio::test]
async fn two_bootstrap_methods_are_refused_by_the_cnpg_webhook() {
    let w = start().await;
    let ns = w.namespace("cnpg").await;
    let api = clusters(w.client.clone(), &ns);
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"}, "bootstrap": {"initdb": {}, "recovery": {"source": "prod"}}});
    let err = api_err(
        api.create(&PostParams::default(), &cluster("two", spec))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.details.unwrap().causes[0].field, "spec.bootstrap");
}

#[tokio::test]
async fn cluster_status_and_scale_subresources() {
    let w = start().await;
    let ns = w.namespace("cnpg").await;
    let api = clusters(w.client.clone(), &ns);
    api.create(
        &PostParams::default(),
        &cluster("pg", json!({"instances": 1, "storage": {"size": "1Gi"}})),
    )
    .await
    .unwrap();
    let status = json!({"status": {"phase": "Cluster in healthy state", "readyInstances": 1, "instances": 1}});
    let out = api
        .patch_status("pg", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    assert_eq!(out.data["status"]["phase"], "Cluster in healthy state");
    let err = api_err(
        api.patch_status(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyInstances": "one"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422, "status is validated against the schema too");
    let scale = api
        .patch_scale(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(api.get("pg").await.unwrap().data["spec"]["instances"], 3);
    let err = api_err(
        api.patch(
            "pg",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"instances": 2}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        err.code, 415,
        "strategic merge patch is not supported for custom resources"
    );
}

#[tokio::test]
async fn barman_object_store_and_argo_application_are_served() {
    let w = start().await;
    let ns = w.namespace("argocd").await;
    let os_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("barmancloud.cnpg.io", "v1", "ObjectStore"),
        "objectstores",
    );
    let stores: Api<DynamicObject> = Api::namespaced_with(w.client.clone(), &ns, &os_ar);
    let os = serde_json::from_value(json!({"apiVersion": "barmancloud.cnpg.io/v1", "kind": "ObjectStore", "metadata": {"name": "store"},
        "spec": {"configuration": {"destinationPath": "s3://backups/", "endpointURL": "http://127.0.0.1:9000",
            "s3Credentials": {"accessKeyId": {"name": "s3", "key": "ACCESS_KEY_ID"}, "secretAccessKey": {"name": "s3", "key": "ACCESS_SECRET_KEY"}}}}})).unwrap();
    stores.create(&PostParams::default(), &os).await.unwrap();
    let app_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    let apps: Api<DynamicObject> = Api::namespaced_with(w.client.clone(), &ns, &app_ar);
    let app = serde_json::from_value(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "synestra-io-dev"},
        "spec": {"project": "default", "source": {"repoURL": "https://git.example/apps.git", "path": "apps/synestra-io/dev", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web-synestra-io-dev"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}})).unwrap();
    let made = apps.create(&PostParams::default(), &app).await.unwrap();
    assert_eq!(made.data["spec"]["syncPolicy"]["automated"]["prune"], true);
    let bad = serde_json::from_value(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "bad"}, "spec": {"project": "default"}})).unwrap();
    let err = api_err(apps.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(
        err.code, 422,
        "destination is required by the Application schema: {}",
        err.message
    );
}
