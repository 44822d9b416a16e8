//! Pods reaching the databases: a Job running `pg_dump | psql` between two clusters through
//! their Service names copies the data and its logs are readable while it runs; a port-forward
//! to an instance Pod reaches PostgreSQL.
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::Api;
use serde_json::json;

use crate::harness::{
    await_healthy, create_cluster, key, namespace, psql, secret, service_address, start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_copies_data_between_clusters_with_pg_dump_and_psql() {
    let w = start().await;
    let c = &w.client;
    namespace(c, "db").await;
    let spec = json!({"instances": 1, "storage": {"size": "1Gi"}, "bootstrap": {"initdb": {"database": "app", "owner": "app"}}});
    create_cluster(c, "db", "src", spec.clone()).await;
    create_cluster(c, "db", "dst", spec).await;
    await_healthy(c, "db", "src", 60).await;
    await_healthy(c, "db", "dst", 60).await;
    let src_pw = key(&secret(c, "db", "src-app").await.unwrap(), "password");
    let src_addr = service_address(c, "db", "src-rw").await;
    psql(&src_addr, "app", &src_pw, "app", "create table t (id int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, 5000) g").unwrap();

    // Credentials only through secretKeyRef; hosts are the Services' DNS names.
    let script =
        "echo starting copy; pg_dump -v --no-owner -h src-rw.db.svc -U app app 2>dump.log \
        | PGPASSWORD=$DST_PASSWORD psql -v ON_ERROR_STOP=1 -q -h dst-rw -U app -d app \
        && grep -c 'dumping contents' dump.log && sleep 1 && echo copy done";
    let pw = |var: &str, secret: &str| json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}});
    let job = json!({"metadata": {"name": "copy"}, "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "copy", "image": "ghcr.io/cloudnative-pg/postgresql:15", "command": ["/bin/sh", "-c", script],
            "env": [pw("PGPASSWORD", "src-app"), pw("DST_PASSWORD", "dst-app")]}]}}}});
    let jobs: Api<Job> = Api::namespaced(c.clone(), "db");
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(job).unwrap(),
    )
    .await
    .unwrap();

    // Follow the logs while it runs.
    let pods: Api<Pod> = Api::namespaced(c.clone(), "db");
    let pod = loop {
        if let Some(p) = pods
            .list(&ListParams::default().labels("job-name=copy"))
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
        {
            break p.metadata.name.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|ph| ph != "Pending")
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods.clone(), &pod, running),
    )
    .await
    .unwrap()
    .unwrap();
    let mut lines = pods
        .log_stream(
            &pod,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "starting copy");
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(jobs, "copy", conditions::is_job_completed()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(done.unwrap().status.unwrap().succeeded == Some(1));
    let rest: Vec<String> = lines.filter_map(|l| async { l.ok() }).collect().await;
    assert!(rest.contains(&"copy done".to_string()), "{rest:?}");

    let dst_pw = key(&secret(c, "db", "dst-app").await.unwrap(), "password");
    let dst_addr = service_address(c, "db", "dst-rw").await;
    assert_eq!(
        psql(
            &dst_addr,
            "app",
            &dst_pw,
            "app",
            "select count(*), md5(string_agg(v, ',' order by id)) from t"
        )
        .unwrap(),
        psql(
            &src_addr,
            "app",
            &src_pw,
            "app",
            "select count(*), md5(string_agg(v, ',' order by id)) from t"
        )
        .unwrap()
    );
    let args = pods.get(&pod).await.unwrap().spec.unwrap().containers[0]
        .command
        .clone()
        .unwrap()
        .join(" ");
    assert!(
        !args.contains(&src_pw) && !args.contains(&dst_pw),
        "no password in pod args"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_forward_reaches_postgresql() {
    let w = start().await;
    let c = &w.client;
    namespace(c, "db").await;
    create_cluster(c, "db", "pf", json!({"instances": 1, "storage": {"size": "1Gi"}, "bootstrap": {"initdb": {"database": "app", "owner": "app"}}})).await;
    await_healthy(c, "db", "pf", 60).await;
    let pw = key(&secret(c, "db", "pf-app").await.unwrap(), "password");
    // A local listener relays each connection through `Api::<Pod>::portforward`, as
    // `kubectl port-forward` does; psql then talks to the server through it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let pods: Api<Pod> = Api::namespaced(c.clone(), "db");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut pf = pods.portforward("pf-1", &[5432]).await.unwrap();
            let mut upstream = pf.take_stream(5432).unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                drop(pf);
            });
        }
    });
    let out = tokio::task::spawn_blocking(move || {
        psql(
            &format!("127.0.0.1:{port}"),
            "app",
            &pw,
            "app",
            "select current_user || '@' || current_database()",
        )
    })
    .await
    .unwrap();
    assert_eq!(out.unwrap(), "app@app");
}
