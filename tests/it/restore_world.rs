//! The restore tests' world (shared by tests/it/restore.rs and tests/it/faults/restore.rs):
//! app `shop` whose Cluster `shop-cnpg` archives to the in-tree store `s3://backups/cnpg`, an
//! Argo CD Application `shop-prod` with automated sync managing it, a `web` Deployment to
//! restart; helpers to read the app's rows and every object's identity.

use std::collections::BTreeSet;

use base64::Engine;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{json, Value};

use crate::catalog::{store, store_config, wait_archiving, Store, NS};
use crate::harness::World;
use crate::refresh_world::{address, connect};
use crate::sandbox::{deployment, Kube};

/// Builds the shop world and waits until `shop-cnpg` archives; the store and the automated
/// sync policy as it was.
/// PostgreSQL 15 (what the sandbox's images run) named explicitly, as the real operator would
/// otherwise default to its newest image.
pub(crate) fn shop_world(kube: &Kube) -> (Store, Value) {
    kube.namespace(NS);
    let s3 = store(kube);
    argo_app(kube, "shop-prod", "web-shop-prod");
    kube.namespace("web-shop-prod");
    deployment(kube, "web-shop-prod", "web", 1);
    let cfg = store_config(&s3.endpoint, "cnpg", "s3-creds");
    kube.create(&format!(
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: shop-cnpg\n  namespace: {NS}\n  annotations: {{argocd.argoproj.io/tracking-id: 'shop-prod:postgresql.cnpg.io/Cluster:{NS}/shop-cnpg'}}\nspec:\n  instances: 1\n  imageName: ghcr.io/cloudnative-pg/postgresql:15\n  enableSuperuserAccess: true\n  storage: {{size: 1Gi}}\n  backup:\n    barmanObjectStore: {cfg}\n"
    ));
    wait_archiving(kube, "shop-cnpg");
    let sync = automated(kube, "shop-prod");
    assert!(sync.is_object(), "{sync}");
    (s3, sync)
}

/// The state of run `id` (local state).
pub(crate) fn run_state(w: &World, id: &str) -> Value {
    w.checkpoints()
        .iter()
        .filter_map(|t| serde_json::from_str::<Value>(t).ok())
        .find(|s| s["run_id"] == id)
        .unwrap_or_else(|| panic!("no run {id}"))
}

/// The `password` key of Secret `name` in `databases`.
pub(crate) fn secret_password(kube: &Kube, name: &str) -> String {
    let secret = kube
        .get("Secret", NS, name)
        .unwrap_or_else(|| panic!("Secret {name}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["password"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// The password in `<cluster>-app` (the `app` owner of database `app`).
pub(crate) fn app_password(kube: &Kube, cluster: &str) -> String {
    secret_password(kube, &format!("{cluster}-app"))
}

/// The password in `<cluster>-superuser` (`enableSuperuserAccess`).
pub(crate) fn superuser_password(kube: &Kube, cluster: &str) -> String {
    secret_password(kube, &format!("{cluster}-superuser"))
}

/// Runs `sql` as `user` on the cluster's database named like the user; the first column of
/// every row.
pub(crate) fn query(
    kube: &Kube,
    cluster: &str,
    user: &str,
    password: &str,
    sql: &str,
) -> Vec<String> {
    let addr = address(kube, cluster);
    kube.block_on(async {
        let c = connect(&addr, user, password).await;
        let rows = c.simple_query(sql).await.unwrap();
        rows.iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").into()),
                _ => None,
            })
            .collect()
    })
}

pub(crate) fn app_sql(kube: &Kube, cluster: &str, sql: &str) -> Vec<String> {
    query(kube, cluster, "app", &app_password(kube, cluster), sql)
}

pub(crate) fn marks(kube: &Kube, cluster: &str) -> Vec<String> {
    app_sql(kube, cluster, "select label from marks order by id")
}

/// The database server's clock now, RFC 3339 UTC.
pub(crate) const NOW: &str =
    "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

/// Every object's kind, namespace, name and UID, except Leases and Events (runs lock and tell).
pub(crate) fn identities(kube: &Kube) -> BTreeSet<String> {
    kube.everything()
        .0
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|o| !matches!(o["kind"].as_str(), Some("Lease" | "Event")))
        .map(|o| {
            let m = &o["metadata"];
            format!(
                "{} {}/{} {}",
                o["kind"], m["namespace"], m["name"], m["uid"]
            )
        })
        .collect()
}

/// Namespace `argocd`, an empty "Git" and Application `name` with automated sync.
pub(crate) fn argo_app(kube: &Kube, name: &str, dest: &str) {
    kube.namespace("argocd");
    kube.create(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-git, namespace: argocd}}\ndata: {{}}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd, annotations: {{sandbox.cnpgops.io/manifests: {name}-git}}}}\nspec:\n  project: default\n  source: {{repoURL: 'https://git.example/web.git', path: deploy, targetRevision: main}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {dest}}}\n  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}\n"
    ));
}

pub(crate) fn automated(kube: &Kube, app: &str) -> Value {
    kube.get("Application", "argocd", app).unwrap()["spec"]["syncPolicy"]["automated"].clone()
}

/// The run (of any state) whose runbook is `name` and status `status`.
pub(crate) fn run_with(w: &World, runbook: &str, status: &str) -> Option<Value> {
    w.checkpoints()
        .iter()
        .filter_map(|t| serde_json::from_str::<Value>(t).ok())
        .find(|s| s["runbook"]["name"] == runbook && s["status"] == status)
}

/// Sets a key of Secret `s3-creds` (data, base64).
pub(crate) fn set_secret_key(kube: &Kube, key: &str, value: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    let patch = Patch::Merge(json!({"data": {key: b64}}));
    kube.block_on(
        kube.api("Secret", NS)
            .patch("s3-creds", &PatchParams::default(), &patch),
    )
    .unwrap();
}

pub(crate) fn delete_cluster(kube: &Kube, name: &str) {
    kube.block_on(
        kube.api("Cluster", NS)
            .delete(name, &DeleteParams::default()),
    )
    .unwrap();
}
