//! The Job a recovery runs as in CNPG, `<cluster>-1-full-recovery` (`cnpg.io/jobRole:
//! full-recovery`). The Job controller creates its Pod; the operator "runs" it (the Pod carries
//! `sandbox.cnpgops.io/process: cnpg`): Running while the recovery runs, then Succeeded or
//! Failed with the recovery's log (barman's and PostgreSQL's errors, e.g. "Expected empty
//! archive"), readable with `pods/log`. The sandbox does not retry a failed recovery, so the
//! Job's `backoffLimit` is 0.
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::children::PROCESS;
use super::cluster::ClusterView;
use super::error::CnpgError;
use super::status::now;
use super::{Ctx, MANAGER};

const ROLE: &str = "full-recovery";

pub struct RecoveryJob {
    ns: String,
    image: String,
    job: String,
    pod: Option<String>,
}

fn job_object(c: &ClusterView, name: &str) -> Value {
    let labels = json!({"cnpg.io/cluster": c.name, "cnpg.io/instanceName": c.primary(),
        "cnpg.io/jobRole": ROLE, "app.kubernetes.io/managed-by": "cloudnative-pg"});
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": c.ns, "labels": labels, "ownerReferences": c.owner_ref()},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"labels": labels, "annotations": {PROCESS: "cnpg"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": ROLE, "image": c.image,
                "command": ["/controller/manager", "instance", "restore"]}]}}},
    })
}

impl RecoveryJob {
    /// Creates the Job (kept if it exists) and marks its Pod running once it appears.
    pub async fn start(ctx: &Ctx, c: &ClusterView) -> Result<RecoveryJob, CnpgError> {
        let job = format!("{}-{ROLE}", c.primary());
        match ctx.api.create_obj(&job_object(c, &job), MANAGER) {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(CnpgError::api(&c.id(), format!("creating Job {job}"), e)),
        }
        let mut this = RecoveryJob {
            ns: c.ns.clone(),
            image: c.image.clone(),
            job,
            pod: None,
        };
        this.pod = this.find_pod(ctx).await;
        let running = json!({"phase": "Running", "startTime": now(), "containerStatuses": [{
            "name": ROLE, "image": c.image, "imageID": "", "ready": true, "started": true,
            "restartCount": 0, "state": {"running": {"startedAt": now()}}}]});
        this.patch_pod(ctx, running);
        Ok(this)
    }

    /// The Job's Pod, waited for a few seconds (the Job controller creates it).
    async fn find_pod(&self, ctx: &Ctx) -> Option<String> {
        let t0 = Instant::now();
        loop {
            let pods = ctx.api.list_objs("", "pods", Some(&self.ns));
            let found = pods.iter().find(|p| {
                p.pointer("/metadata/labels/job-name")
                    .is_some_and(|j| j == self.job.as_str())
            });
            if let Some(name) = found.and_then(|p| p.pointer("/metadata/name")?.as_str()) {
                return Some(name.to_string());
            }
            if t0.elapsed() > Duration::from_secs(5) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn patch_pod(&self, ctx: &Ctx, status: Value) {
        let Some(pod) = &self.pod else { return };
        let body = json!({"status": status});
        if let Err(e) = ctx
            .api
            .merge_patch("", "pods", &self.ns, pod, &body, true, MANAGER)
        {
            tracing::warn!(pod, error = %e.message, "cnpg: writing the recovery pod's status");
        }
    }

    /// A line of the recovery's log.
    pub fn log(&self, ctx: &Ctx, line: &str) {
        if let Some(pod) = &self.pod {
            let key = (self.ns.clone(), pod.clone(), ROLE.to_string());
            ctx.api.logs.append(&key, &format!("{line}\n"));
        }
    }

    /// Ends the Pod: exit 0, or exit 1 with `error` as the last log line.
    pub async fn finish(mut self, ctx: &Ctx, error: Option<&str>) {
        if self.pod.is_none() {
            self.pod = self.find_pod(ctx).await;
        }
        if let Some(e) = error {
            self.log(ctx, e);
        }
        if let Some(pod) = &self.pod {
            ctx.api
                .logs
                .finish(&(self.ns.clone(), pod.clone(), ROLE.to_string()));
        }
        let (phase, code, reason) = match error {
            None => ("Succeeded", 0, "Completed"),
            Some(_) => ("Failed", 1, "Error"),
        };
        let t = now();
        self.patch_pod(
            ctx,
            json!({"phase": phase, "containerStatuses": [{"name": ROLE, "ready": false,
                "started": false, "restartCount": 0, "image": self.image, "imageID": "",
                "state": {"terminated": {"exitCode": code, "reason": reason,
                    "startedAt": t, "finishedAt": t}}}]}),
        );
    }
}
