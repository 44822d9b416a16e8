//! `pods/NAME/portforward` over WebSocket with the `v4.channel.k8s.io` protocol (what kube-rs and
//! kubectl speak): per port a data channel (2i) and an error channel (2i+1), each opened with
//! the port number, bytes relayed to the pod's address on the sandbox's loopback.
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::request::{Query, Target};
use super::status::ApiError;
use super::ApiServer;
use crate::operators::pods::volumes::address_ip;

/// Answers the upgrade for `ports` of the target pod.
pub fn portforward(
    api: &Arc<ApiServer>,
    t: &Target,
    q: &Query,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let pod = api
        .get_obj("", "pods", &ns, &name)
        .ok_or_else(|| ApiError::not_found("", "pods", &name))?;
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::bad_request(format!("pod {name} is not running")));
    }
    let ports: Vec<u16> = q
        .get("ports")
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().parse::<u16>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::bad_request("ports must be a comma-separated list of port numbers")
        })?;
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least one port must be given"));
    }
    let ip = address_ip(&pod).unwrap_or_else(|| "127.0.0.1".to_string());
    Ok(ws
        .protocols(["v4.channel.k8s.io"])
        .on_upgrade(move |socket| relay(socket, ip, ports))
        .into_response())
}

fn frame(ch: u8, payload: &[u8]) -> Message {
    let mut v = Vec::with_capacity(payload.len() + 1);
    v.push(ch);
    v.extend_from_slice(payload);
    Message::Binary(v.into())
}

async fn relay(socket: WebSocket, ip: String, ports: Vec<u16>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let mut writers: HashMap<u8, OwnedWriteHalf> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, err) = ((2 * i) as u8, (2 * i + 1) as u8);
        let _ = tx.send(frame(data, &port.to_le_bytes())).await;
        let _ = tx.send(frame(err, &port.to_le_bytes())).await;
        match tokio::net::TcpStream::connect((ip.as_str(), *port)).await {
            Ok(conn) => {
                let (mut r, w) = conn.into_split();
                writers.insert(data, w);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 || tx.send(frame(data, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                    let _ = tx.send(Message::Close(None)).await;
                });
            }
            Err(e) => {
                let _ = tx
                    .send(frame(
                        err,
                        format!("error forwarding port {port} to pod: {e}").as_bytes(),
                    ))
                    .await;
            }
        }
    }
    drop(tx);
    // Ends when a pod connection closed (after a Close frame); with nothing left to send, the
    // socket stays open until the client closes it, as the kubelet's does.
    let send = async {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                return;
            }
        }
        futures::future::pending::<()>().await
    };
    let receive = async {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if b.len() > 1 => {
                    if let Some(w) = writers.get_mut(&b[0]) {
                        if w.write_all(&b[1..]).await.is_err() {
                            break;
                        }
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::select! {
        _ = send => {}
        _ = receive => {}
    }
}
