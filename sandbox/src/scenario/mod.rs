//! Scenarios: a YAML file of objects (several documents, or one list) applied at start in order,
//! then waited for until ready: CNPG Clusters healthy, Backups completed, Deployments available,
//! Argo CD Applications synced once (whatever the outcome: a scenario may start with a failed
//! sync). The platform comes first: Applications are applied once everything else is ready, as
//! their sync hooks expect the databases to be there. See [`prepare`] for S3 placeholders.
pub mod prepare;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::world::World;

/// Reads the objects of a scenario file.
pub fn load(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read scenario {}", path.display()))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .with_context(|| format!("failed to parse scenario {}", path.display()))?;
    Ok(docs
        .into_iter()
        .flat_map(|d| {
            if let Value::Array(items) = d {
                items
            } else {
                vec![d]
            }
        })
        .filter(|d| d.is_object())
        .collect())
}

/// Creates every object (those that exist are left as they are).
pub fn apply(api: &Cluster, objects: &[Value]) -> anyhow::Result<()> {
    for obj in objects {
        let what = format!(
            "{} {}",
            obj["kind"].as_str().unwrap_or("?"),
            obj.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
        match api.create_obj(obj, "sandbox-scenario") {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => bail!("failed to create {what}: {}", e.message),
        }
    }
    Ok(())
}

/// Why an object is not ready yet (None when it is).
fn not_ready(api: &Cluster, obj: &Value) -> Option<String> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let get = |g: &str, p: &str| api.get_obj(g, p, ns, name);
    let field = |o: &Option<Value>, p: &str| {
        o.as_ref()
            .and_then(|o| o.pointer(p))
            .cloned()
            .unwrap_or(Value::Null)
    };
    match obj["kind"].as_str().unwrap_or_default() {
        "Cluster" => {
            let c = get("postgresql.cnpg.io", "clusters");
            (field(&c, "/status/phase") != "Cluster in healthy state")
                .then(|| format!("Cluster {ns}/{name}: {}", field(&c, "/status/phase")))
        }
        "Backup" => {
            let b = get("postgresql.cnpg.io", "backups");
            (field(&b, "/status/phase") != "completed")
                .then(|| format!("Backup {ns}/{name}: {}", field(&b, "/status/phase")))
        }
        "Database" => {
            let d = get("postgresql.cnpg.io", "databases");
            (field(&d, "/status/applied") != true)
                .then(|| format!("Database {ns}/{name}: {}", field(&d, "/status/message")))
        }
        "Deployment" => {
            let d = get("apps", "deployments");
            (field(&d, "/status/availableReplicas").as_i64().unwrap_or(0)
                < field(&d, "/spec/replicas").as_i64().unwrap_or(1))
            .then(|| format!("Deployment {ns}/{name}"))
        }
        "Application" => {
            let a = get("argoproj.io", "applications");
            // An automated Application is ready once its first sync has finished.
            let automated = !obj
                .pointer("/spec/syncPolicy/automated")
                .is_none_or(Value::is_null);
            let phase = field(&a, "/status/operationState/phase");
            let pending = !field(&a, "/operation").is_null()
                || phase == "Running"
                || (automated && phase.is_null());
            pending.then(|| format!("Application {ns}/{name}"))
        }
        _ => None,
    }
}

/// A Backup of the scenario that failed (it will never complete), with its error.
fn failed_backup(api: &Cluster, obj: &Value) -> Option<String> {
    if obj["kind"] != "Backup" {
        return None;
    }
    let ns = obj.pointer("/metadata/namespace")?.as_str()?;
    let name = obj.pointer("/metadata/name")?.as_str()?;
    let b = api.get_obj("postgresql.cnpg.io", "backups", ns, name)?;
    (b.pointer("/status/phase")? == "failed").then(|| {
        let error = b.pointer("/status/error").and_then(Value::as_str);
        format!(
            "Backup {ns}/{name} failed: {}",
            error.unwrap_or("no error given")
        )
    })
}

/// Waits until every object is ready, or fails naming those that are not.
pub async fn wait_ready(
    api: &Cluster,
    objects: &[Value],
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        let pending: Vec<String> = objects.iter().filter_map(|o| not_ready(api, o)).collect();
        if pending.is_empty() {
            return Ok(start.elapsed());
        }
        if let Some(failed) = objects.iter().find_map(|o| failed_backup(api, o)) {
            bail!("scenario cannot become ready: {failed}");
        }
        if start.elapsed() > timeout {
            bail!(
                "scenario not ready after {}s: {}",
                timeout.as_secs(),
                pending.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Brings a scenario up: S3 placeholders filled, the platform applied and waited for, then the
/// Argo CD Applications; returns the total time.
pub async fn up(
    api: &Cluster,
    world: &World,
    objects: Vec<Value>,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let objects = prepare::prepare(world, objects).await?;
    let (apps, platform): (Vec<Value>, Vec<Value>) = objects
        .into_iter()
        .partition(|o| o["kind"] == "Application");
    apply(api, &platform)?;
    wait_ready(api, &platform, timeout).await?;
    apply(api, &apps)?;
    let left = timeout.saturating_sub(start.elapsed());
    wait_ready(api, &apps, left).await?;
    Ok(start.elapsed())
}
