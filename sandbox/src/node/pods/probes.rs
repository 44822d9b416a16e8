//! Readiness as the kubelet decides it: a container with a `readinessProbe` is ready only while
//! its probe passes (httpGet over HTTP or HTTPS without verifying the certificate, tcpSocket,
//! exec inside the container); one without is ready once started. Probes go from the host to
//! the Pod's address, as the kubelet's do. They run every `periodSeconds` but at least every
//! 2 s (tests need not wait out CNPG's 10 s periods); liveness probes are not run.
use std::time::Duration;

use serde_json::Value;

/// Whether `container` has a readiness probe.
pub fn has_readiness(container: &Value) -> bool {
    container
        .get("readinessProbe")
        .is_some_and(Value::is_object)
}

fn port_of(container: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

/// Runs `probe` of `container` once against the Pod at `ip`; `pid` is the container's process
/// (for exec probes).
pub async fn passes(probe: &Value, container: &Value, ip: &str, pid: Option<u32>) -> bool {
    let timeout = Duration::from_secs(probe["timeoutSeconds"].as_u64().unwrap_or(1).max(1));
    if let Some(http) = probe.get("httpGet") {
        let Some(port) = port_of(container, &http["port"]) else {
            return false;
        };
        let scheme = http["scheme"].as_str().unwrap_or("HTTP").to_lowercase();
        let path = http["path"].as_str().unwrap_or("/");
        let url = format!("{scheme}://{ip}:{port}{path}");
        let out = tokio::process::Command::new("curl")
            .args([
                "-k",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
            ])
            .arg(timeout.as_secs().to_string())
            .arg(&url)
            .kill_on_drop(true)
            .output()
            .await;
        let code: u16 = out
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0);
        return (200..400).contains(&code);
    }
    if let Some(tcp) = probe.get("tcpSocket") {
        let Some(port) = port_of(container, &tcp["port"]) else {
            return false;
        };
        let connect = tokio::net::TcpStream::connect((ip, port));
        return matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_)));
    }
    if let (Some(exec), Some(pid)) = (probe.get("exec"), pid) {
        let argv: Vec<&str> = exec["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if argv.is_empty() {
            return false;
        }
        let run = tokio::process::Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-m", "-n", "-u", "--"])
            .args(&argv)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        return matches!(tokio::time::timeout(timeout, run).await, Ok(Ok(s)) if s.success());
    }
    false
}
