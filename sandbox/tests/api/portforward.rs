//! Port-forward over WebSocket (`v4.channel.k8s.io`) with kube-rs `Api::<Pod>::portforward`.
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::runtime::wait::await_condition;
use kube::Api;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::start;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn portforward_reaches_a_process_in_the_pod() {
    let w = start().await;
    let ns = w.namespace("pf").await;
    let port = free_port();
    let server = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen()\nc,_=s.accept()\nd=c.recv(100)\nc.sendall(b'echo:'+d)\nc.close()"
    );
    let pod = json!({"metadata": {"name": "echo"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "echo", "image": "python", "command": ["python3", "-c", server]}]}});
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Running")
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods.clone(), "echo", running),
    )
    .await
    .unwrap()
    .unwrap();
    // The process may need a moment to listen.
    let mut reply = String::new();
    for _ in 0..50 {
        let mut pf = pods.portforward("echo", &[port]).await.unwrap();
        let mut stream = pf.take_stream(port).unwrap();
        let errors = pf.take_error(port).unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut buf = vec![];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buf)).await;
        if read.is_ok() && !buf.is_empty() {
            reply = String::from_utf8_lossy(&buf).to_string();
            break;
        }
        drop(errors);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reply, "echo:ping");
}

#[tokio::test(flavor = "multi_thread")]
async fn portforward_to_a_closed_port_reports_on_the_error_channel() {
    let w = start().await;
    let ns = w.namespace("pf").await;
    let pod = json!({"metadata": {"name": "idle"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x", "command": ["sleep", "303.5"]}]}});
    let pods: Api<Pod> = Api::namespaced(w.client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Running")
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods.clone(), "idle", running),
    )
    .await
    .unwrap()
    .unwrap();
    let port = free_port();
    let mut pf = pods.portforward("idle", &[port]).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(5), pf.take_error(port).unwrap())
        .await
        .unwrap();
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.contains(&format!("error forwarding port {port}"))),
        "{error:?}"
    );
    pods.delete("idle", &Default::default()).await.unwrap();
}
