//! Typed CRUD through kube-rs: create/get/list/replace/patch/delete, selectors, paging, dryRun,
//! server-owned metadata and Status errors.
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::harness::{api_err, start};

fn cm(name: &str, labels: serde_json::Value, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": data}))
        .unwrap()
}

#[tokio::test]
async fn create_get_replace_conflict_and_server_metadata() {
    let w = start().await;
    let ns = w.namespace("crud").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    let created = api
        .create(
            &PostParams::default(),
            &cm("a", json!({}), json!({"k": "v"})),
        )
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_ref().unwrap().parse().unwrap();

    let err = api_err(
        api.create(&PostParams::default(), &cm("a", json!({}), json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "configmaps \"a\" already exists");

    let mut changed = created.clone();
    changed.data = Some([("k".to_string(), "v2".to_string())].into());
    let replaced = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1, "resourceVersion is monotonic: {rv1} -> {rv2}");
    assert_eq!(replaced.metadata.uid, created.metadata.uid);

    // Replacing with the stale resourceVersion is a conflict.
    let err = api_err(
        api.replace("a", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    let err = api_err(api.get("missing").await.unwrap_err());
    assert_eq!(
        (err.code, err.reason.as_str(), err.message.as_str()),
        (404, "NotFound", "configmaps \"missing\" not found")
    );
    assert!(api.get_opt("missing").await.unwrap().is_none());
}

#[tokio::test]
async fn generate_name_and_missing_name() {
    let w = start().await;
    let ns = w.namespace("gen").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    let obj: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "run-"}})).unwrap();
    let made = api.create(&PostParams::default(), &obj).await.unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("run-") && name.len() == 9, "{name}");
    let err = api_err(
        api.create(&PostParams::default(), &ConfigMap::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let causes = err.details.unwrap().causes;
    assert_eq!(causes[0].field, "metadata.name");
}

#[tokio::test]
async fn list_with_label_and_field_selectors_and_paging() {
    let w = start().await;
    let ns = w.namespace("list").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    for (i, env) in ["dev", "prod", "dev", "test", "dev"].iter().enumerate() {
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i}"), json!({"env": env}), json!({})),
        )
        .await
        .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("env=dev"))
                .await
                .unwrap()
        ),
        ["c0", "c2", "c4"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("env in (prod,test)"))
                .await
                .unwrap()
        ),
        ["c1", "c3"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=c3"))
                .await
                .unwrap()
        ),
        ["c3"]
    );
    let err = api_err(
        api.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);

    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().expect("continue token");
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    let rest = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(first), ["c0", "c1"]);
    assert_eq!(names(second), ["c2", "c3"]);
    assert!(rest.metadata.continue_.is_none());
    assert_eq!(names(rest), ["c4"]);
    // All namespaces.
    let all: Api<ConfigMap> = Api::all(w.client.clone());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        5
    );
}

#[tokio::test]
async fn merge_json_strategic_and_apply_patches() {
    let w = start().await;
    let ns = w.namespace("patch").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    api.create(
        &PostParams::default(),
        &cm("p", json!({"a": "1"}), json!({"x": "1", "y": "2"})),
    )
    .await
    .unwrap();
    let pp = PatchParams::default();
    let out = api
        .patch(
            "p",
            &pp,
            &Patch::Merge(json!({"data": {"x": null, "z": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        out.data.unwrap(),
        [
            ("y".to_string(), "2".to_string()),
            ("z".to_string(), "3".to_string())
        ]
        .into()
    );
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/metadata/labels/b", "value": "2"}]))
            .unwrap();
    let out = api.patch("p", &pp, &Patch::Json::<()>(ops)).await.unwrap();
    assert_eq!(out.metadata.labels.unwrap().len(), 2);
    let out = api
        .patch("p", &pp, &Patch::Strategic(json!({"data": {"w": "4"}})))
        .await
        .unwrap();
    assert_eq!(out.data.unwrap().len(), 3);

    // Server-side apply: conflicts between managers, force takes ownership.
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"y": "from-alice"}});
    // The creator owns data.y, so alice must force to take it over.
    let err = api_err(
        api.patch("p", &PatchParams::apply("alice"), &Patch::Apply(&cfg))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    api.patch(
        "p",
        &PatchParams::apply("alice").force(),
        &Patch::Apply(&cfg),
    )
    .await
    .unwrap();
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"y": "from-bob"}});
    let err = api_err(
        api.patch("p", &PatchParams::apply("bob"), &Patch::Apply(&bob))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"alice\""),
        "{}",
        err.message
    );
    let out = api
        .patch("p", &PatchParams::apply("bob").force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    assert_eq!(out.data.as_ref().unwrap()["y"], "from-bob");
    let managers: Vec<String> = out
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"bob".to_string()) && !managers.contains(&"alice".to_string()),
        "{managers:?}"
    );
    // Apply creates a missing object.
    let new = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "b"}});
    let made = api
        .patch("applied", &PatchParams::apply("carol"), &Patch::Apply(&new))
        .await
        .unwrap();
    assert!(made.metadata.uid.is_some());
}

#[tokio::test]
async fn dry_run_validates_answers_and_stores_nothing() {
    let w = start().await;
    let ns = w.namespace("dry").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let answered = api
        .create(&dry, &cm("d", json!({}), json!({"k": "v"})))
        .await
        .unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("d"));
    assert!(api.get_opt("d").await.unwrap().is_none());
    api.create(
        &PostParams::default(),
        &cm("d", json!({}), json!({"k": "v"})),
    )
    .await
    .unwrap();
    let before = api.get("d").await.unwrap().metadata.resource_version;
    let pp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let out = api
        .patch("d", &pp, &Patch::Merge(json!({"data": {"k": "changed"}})))
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["k"], "changed");
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("d", &dp).await.unwrap();
    let after = api.get("d").await.unwrap();
    assert_eq!(after.data.unwrap()["k"], "v");
    assert_eq!(after.metadata.resource_version, before);
    // An invalid object is still rejected in dry-run.
    let bad: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(w.client.clone(), &ns);
    let job = serde_json::from_value(
        json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}}),
    )
    .unwrap();
    let err = api_err(bad.create(&dry, &job).await.unwrap_err());
    assert_eq!(err.code, 422);
}

#[tokio::test]
async fn bad_bodies_get_400_and_wrong_methods_405() {
    let w = start().await;
    let ns = w.namespace("bad").await;
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let err = w
        .raw("POST", &path, "application/json", "{not json")
        .await
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    let err = w
        .raw(
            "POST",
            &path,
            "application/json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    let err = w
        .raw("POST", &path, "application/json", "[1,2]")
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    let err = w
        .raw("POST", &format!("{path}/x"), "application/json", "{}")
        .await
        .unwrap_err();
    assert_eq!(err.code, 405);
    let err = w
        .raw("GET", "/api/v1/nonsense", "application/json", "")
        .await
        .unwrap_err();
    assert_eq!(err.code, 404);
    let err = w
        .raw("PATCH", &format!("{path}/x"), "text/plain", "{}")
        .await
        .unwrap_err();
    assert_eq!(err.code, 415);
    let err = w
        .raw(
            "POST",
            &format!("{path}?dryRun=Maybe"),
            "application/json",
            "{}",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    // Created in a namespace that does not exist.
    let err = w
        .raw(
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            "application/json",
            r#"{"metadata":{"name":"x"}}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[tokio::test]
async fn wrongly_shaped_bodies_are_rejected_not_crashed_on() {
    let w = start().await;
    let ns = w.namespace("shapes").await;
    let bodies = [
        (
            "/apis/batch/v1/namespaces/shapes/jobs",
            r#"{"metadata":{"name":"j"},"spec":{"template":"x"}}"#,
        ),
        (
            "/apis/batch/v1/namespaces/shapes/jobs",
            r#"{"metadata":{"name":"j"},"spec":"x"}"#,
        ),
        (
            "/api/v1/namespaces/shapes/secrets",
            r#"{"metadata":{"name":"s"},"data":"x"}"#,
        ),
        (
            "/api/v1/namespaces/shapes/secrets",
            r#"{"metadata":{"name":"s"},"stringData":{"k":1}}"#,
        ),
        (
            "/api/v1/namespaces/shapes/pods",
            r#"{"metadata":{"name":"p"},"spec":{"containers":[1]}}"#,
        ),
        (
            "/apis/apps/v1/namespaces/shapes/deployments",
            r#"{"metadata":{"name":"d"},"spec":{"template":{"metadata":"x"}}}"#,
        ),
        (
            "/apis/postgresql.cnpg.io/v1/namespaces/shapes/clusters",
            r#"{"metadata":{"name":"c"},"spec":[]}"#,
        ),
        (
            "/api/v1/namespaces",
            r#"{"metadata":{"name":"n"},"spec":"x"}"#,
        ),
    ];
    for (path, body) in bodies {
        let err = w
            .raw("POST", path, "application/json", body)
            .await
            .unwrap_err();
        assert!(matches!(err.code, 400 | 422), "{path} {body}: {err:?}");
    }
    let _ = ns;
    // A patch that breaks an existing object's shape is refused too.
    w.raw(
        "POST",
        "/api/v1/namespaces/shapes/secrets",
        "application/json",
        r#"{"metadata":{"name":"ok"},"stringData":{"k":"v"}}"#,
    )
    .await
    .unwrap();
    let err = w
        .raw(
            "PATCH",
            "/api/v1/namespaces/shapes/secrets/ok",
            "application/merge-patch+json",
            r#"{"data":"x"}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
}
