//! A small synestra-like world for refresh-dev tests: prod `APP-cnpg` and dev `APP-dev-cnpg`
//! in `databases` (real PostgreSQL 15 each, separate owner passwords), the app's Deployment
//! `web` (2 replicas) in `web-APP-dev`, and the realistic prod dataset of
//! `fixtures/refresh/prod.sql` created as the owner, with stale dev data beside it.

use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::sandbox::{deployment, Kube};

pub(crate) const PROD_PASSWORD: &str = "prod-Planted-Pa55word-7f3a";
pub(crate) const DEV_PASSWORD: &str = "dev-Planted-Pa55word-91bc";

/// The two clusters of `app`, the app, and the data (`rows` orders in prod; 0: no data).
pub(crate) fn world(kube: &Kube, app: &str, rows: u32) {
    world_in(kube, app, rows, ["databases", "databases"]);
}

/// [`world`] with prod's and dev's clusters (and their owner Secrets) in namespaces
/// `[prod, dev]`.
pub(crate) fn world_in(kube: &Kube, app: &str, rows: u32, namespaces: [&str; 2]) {
    world_with(kube, app, rows, namespaces, "");
}

/// `pg_hba` lines refusing every connection without TLS that comes through a port-forward
/// (127.0.0.1 inside the Pod) or from another Pod; the host's own (the tests' oracle) may still
/// connect in plain text. Only the real operator applies them.
pub(crate) const TLS_ONLY: &str = "  postgresql:\n    pg_hba:\n    - hostnossl all all 127.0.0.1/32 reject\n    - hostnossl all all 10.244.128.0/17 reject\n";

/// [`world_in`] with `extra` appended to each Cluster's spec (YAML lines indented by two).
pub(crate) fn world_with(kube: &Kube, app: &str, rows: u32, namespaces: [&str; 2], extra: &str) {
    for ns in namespaces
        .iter()
        .skip(usize::from(namespaces[0] == namespaces[1]))
    {
        kube.namespace(ns);
    }
    kube.namespace(&format!("web-{app}-dev"));
    let owner = app.replace('-', "_");
    for (ns, cluster, secret, password) in [
        (
            namespaces[0],
            format!("{app}-cnpg"),
            format!("{app}-prod-owner"),
            PROD_PASSWORD,
        ),
        (
            namespaces[1],
            format!("{app}-dev-cnpg"),
            format!("{app}-dev-owner"),
            DEV_PASSWORD,
        ),
    ] {
        kube.create(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {secret}, namespace: {ns}}}\ntype: kubernetes.io/basic-auth\nstringData: {{username: {owner}, password: {password}}}\n"
        ));
        kube.create(&format!(
            "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {{name: {cluster}, namespace: {ns}}}\nspec:\n  instances: 1\n  imageName: ghcr.io/cloudnative-pg/postgresql:15.10\n  storage: {{size: 5Gi}}\n  bootstrap: {{initdb: {{database: {owner}, owner: {owner}, secret: {{name: {secret}}}}}}}\n{extra}"
        ));
    }
    kube.create(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: web-{app}-dev-env, namespace: web-{app}-dev}}\nstringData: {{DATABASE_URI: 'postgresql://{owner}:{DEV_PASSWORD}@{app}-dev-cnpg-rw.databases.svc.cluster.local:5432/{owner}'}}\n"
    ));
    deployment(kube, &format!("web-{app}-dev"), "web", 2);
    let clusters = [format!("{app}-cnpg"), format!("{app}-dev-cnpg")];
    for (ns, c) in namespaces.iter().zip(&clusters) {
        wait_healthy_in(kube, ns, c);
    }
    if rows > 0 {
        let prod = include_str!("fixtures/refresh/prod.sql").replace("ROWS", &rows.to_string());
        let (p, d) = (
            address_in(kube, namespaces[0], &clusters[0]),
            address_in(kube, namespaces[1], &clusters[1]),
        );
        kube.block_on(async {
            connect(&p, &owner, PROD_PASSWORD)
                .await
                .batch_execute(&prod)
                .await
                .unwrap();
            let dev = connect(&d, &owner, DEV_PASSWORD).await;
            dev.batch_execute(include_str!("fixtures/refresh/dev.sql"))
                .await
                .unwrap();
        });
    }
}

pub(crate) fn wait_healthy(kube: &Kube, cluster: &str) {
    wait_healthy_in(kube, "databases", cluster);
}

pub(crate) fn wait_healthy_in(kube: &Kube, ns: &str, cluster: &str) {
    let t0 = Instant::now();
    loop {
        let c = kube.get("Cluster", ns, cluster).unwrap();
        if c["status"]["phase"] == "Cluster in healthy state" {
            return;
        }
        // The real operator's instances start in a few tens of seconds; a loaded machine
        // takes longer.
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "never healthy: {c:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The sandbox's loopback address of `<cluster>-rw` in `databases`.
pub(crate) fn address(kube: &Kube, cluster: &str) -> String {
    address_in(kube, "databases", cluster)
}

/// Where `<cluster>-rw` in `ns` is reached from the host: the primary Pod's address on the
/// sandbox network (what the Service's endpoint is; an address annotation for a selector-less
/// Service).
pub(crate) fn address_in(kube: &Kube, ns: &str, cluster: &str) -> String {
    let svc = kube.get("Service", ns, &format!("{cluster}-rw")).unwrap();
    if let Some(addr) = svc["metadata"]["annotations"]["sandbox.cnpgops.io/address"].as_str() {
        return addr.to_string();
    }
    let c = kube.get("Cluster", ns, cluster).unwrap();
    let primary = c["status"]["currentPrimary"].as_str().expect("a primary");
    let pod = kube.get("Pod", ns, primary).unwrap();
    format!(
        "{}:5432",
        pod["status"]["podIP"].as_str().expect("a Pod IP")
    )
}

/// A direct connection to `addr`, database named like the user.
pub(crate) async fn connect(addr: &str, user: &str, password: &str) -> Client {
    try_connect(addr, user, password).await.expect("connects")
}

pub(crate) async fn try_connect(
    addr: &str,
    user: &str,
    password: &str,
) -> Result<Client, tokio_postgres::Error> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let db = user;
    let (client, conn) = tokio_postgres::Config::new()
        .host(host)
        .port(port.parse().unwrap())
        .user(user)
        .password(password)
        .dbname(db)
        .connect(NoTls)
        .await?;
    tokio::spawn(conn);
    Ok(client)
}

/// No run holds the lock on `cluster` (no Lease, or one without a holder).
pub(crate) fn lock_released(kube: &Kube, cluster: &str) -> bool {
    let lease = format!("cnpgops-lock-databases-{cluster}");
    kube.get("Lease", "databases", &lease).is_none_or(|l| {
        l["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    })
}
