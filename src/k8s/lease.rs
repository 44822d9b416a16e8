//! The run lock as a `coordination.k8s.io/v1` Lease per target ([`crate::engine::Locker`]).
//!
//! Lease `cnpgops-lock-<namespace>-<name>` in the target's namespace; `holderIdentity` is
//! `<run-id>@<host>`. It is taken when absent, released (no holder) or expired (`renewTime` +
//! `leaseDurationSeconds` in the past), renewed every third of its duration while the run lasts,
//! and deleted on release only if it is still ours (resourceVersion precondition). Every write
//! is resourceVersion-checked, so two runs racing for it cannot both win. A resume finding the
//! lease held by an earlier process of its own run (killed, maybe on another host) waits up to
//! twice the TTL for it to expire instead of refusing; a holder that keeps renewing is refused.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ObjectMeta, PostParams, Preconditions};
use kube::Api;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::error::{status_code, K8sError, ObjectRef};
use super::{Connector, MANAGED_BY};
use crate::engine::{LockError, LockGuard, LockTarget, Locker};

/// Takes Leases through a (lazily connected) client.
pub(crate) struct LeaseLocker {
    connector: Connector,
    ttl: Duration,
}

impl LeaseLocker {
    /// `ttl`: how long a lease outlives its last renewal (a killed run's lock frees after it).
    pub(crate) fn new(connector: Connector, ttl: Duration) -> Self {
        Self { connector, ttl }
    }
}

/// The Lease's name for a target.
pub(crate) fn lease_name(target: &LockTarget) -> String {
    format!("cnpgops-lock-{}-{}", target.namespace, target.name)
}

/// `<run-id>@<host>`.
pub(crate) fn identity(run_id: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{run_id}@{host}")
}

/// Whether a lease holder is a process of run `run_id` (any host).
fn same_run(holder: &str, run_id: &str) -> bool {
    holder
        .strip_prefix(run_id)
        .is_some_and(|rest| rest.starts_with('@'))
}

fn micro(t: DateTime<Utc>) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(t.timestamp_micros()).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn chrono_of(t: &Option<MicroTime>) -> Option<DateTime<Utc>> {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp_micros(t.0.as_microsecond()))
}

/// Who holds a lease now, if anyone: (holder, since, expires).
pub(crate) fn holder(
    lease: &Lease,
    now: DateTime<Utc>,
) -> Option<(String, DateTime<Utc>, DateTime<Utc>)> {
    let spec = lease.spec.as_ref()?;
    let who = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    let renewed = chrono_of(&spec.renew_time).or(chrono_of(&spec.acquire_time))?;
    let ttl = chrono::Duration::seconds(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    let expires = renewed + ttl;
    let since = chrono_of(&spec.acquire_time).unwrap_or(renewed);
    (expires > now).then_some((who, since, expires))
}

fn fresh_spec(me: &str, ttl: Duration, transitions: i32) -> LeaseSpec {
    let now = micro(Utc::now());
    LeaseSpec {
        holder_identity: Some(me.into()),
        lease_duration_seconds: Some(ttl.as_secs().max(1).try_into().unwrap_or(i32::MAX)),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        lease_transitions: Some(transitions),
        ..Default::default()
    }
}

impl LeaseLocker {
    fn held(&self, target: &LockTarget, lease: &Lease, name: &str) -> Option<LockError> {
        let (holder, since, expires) = holder(lease, Utc::now())?;
        Some(LockError::Held {
            target: target.to_string(),
            holder,
            since,
            expires,
            location: format!("Lease {}/{name}", target.namespace),
            break_with: format!("kubectl -n {} delete lease {name}", target.namespace),
        })
    }

    fn failed(
        &self,
        target: &LockTarget,
        name: &str,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> LockError {
        LockError::Failed {
            target: target.to_string(),
            location: format!("Lease {}/{name}", target.namespace),
            source: e.into(),
        }
    }

    /// One attempt: create, or take over a free lease; `Err(Held)` when someone has it.
    async fn take(
        &self,
        api: &Api<Lease>,
        target: &LockTarget,
        me: &str,
    ) -> Result<Lease, LockError> {
        let name = lease_name(target);
        let object = ObjectRef::new("Lease", Some(&target.namespace), &name);
        let current = api
            .get_opt(&name)
            .await
            .map_err(|e| self.failed(target, &name, K8sError::api("read", &object)(e)))?;
        let pp = PostParams::default();
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        labels: Some([(MANAGED_BY.0.into(), MANAGED_BY.1.into())].into()),
                        ..Default::default()
                    },
                    spec: Some(fresh_spec(me, self.ttl, 0)),
                };
                api.create(&pp, &lease).await
            }
            Some(lease) => {
                if let Some(held) = self.held(target, &lease, &name) {
                    return Err(held);
                }
                let transitions = lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.lease_transitions)
                    .unwrap_or(0);
                let mut next = lease.clone();
                next.spec = Some(fresh_spec(me, self.ttl, transitions + 1));
                api.replace(&name, &pp, &next).await
            }
        };
        match written {
            Ok(lease) => Ok(lease),
            // Someone else wrote it between our read and write: report them.
            Err(e) if status_code(&e) == Some(409) => match api.get_opt(&name).await {
                Ok(Some(now)) => Err(self.held(target, &now, &name).unwrap_or_else(|| {
                    self.failed(target, &name, K8sError::api("take", &object)(e))
                })),
                _ => Err(self.failed(target, &name, K8sError::api("take", &object)(e))),
            },
            Err(e) => Err(self.failed(target, &name, K8sError::api("write", &object)(e))),
        }
    }
}

#[async_trait::async_trait]
impl Locker for LeaseLocker {
    async fn acquire(
        &self,
        target: &LockTarget,
        run_id: &str,
        lost: CancellationToken,
    ) -> Result<Box<dyn LockGuard>, LockError> {
        let kube = self.connector.get().await.map_err(|e| match e {
            K8sError::Config { .. } => LockError::Config {
                target: target.to_string(),
                message: crate::error::chain(&e),
            },
            e => self.failed(target, &lease_name(target), e),
        })?;
        let api: Api<Lease> = Api::namespaced(kube.client, &target.namespace);
        let me = identity(run_id);
        let deadline = Utc::now() + chrono::Duration::from_std(self.ttl * 2).unwrap_or_default();
        let lease = loop {
            match self.take(&api, target, &me).await {
                // Held by an earlier process of this very run (a resume after a kill, maybe on
                // another host): wait for it to expire rather than refuse, but never take it
                // over early — if that process still lives it keeps renewing, and we refuse.
                Err(LockError::Held {
                    holder, expires, ..
                }) if same_run(&holder, run_id) && Utc::now() < deadline => {
                    tracing::warn!(
                        lease = %lease_name(target), %holder,
                        "the lock is held by an earlier process of this run (killed?): waiting until it expires at {}",
                        expires.format("%H:%M:%S")
                    );
                    let wait = (expires - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait + Duration::from_millis(250)).await;
                }
                other => break other?,
            }
        };
        Ok(Box::new(LeaseGuard::start(
            api, target, lease, self.ttl, lost,
        )))
    }
}

/// A held Lease, renewed in the background until released.
pub(crate) struct LeaseGuard {
    api: Api<Lease>,
    target: LockTarget,
    name: String,
    current: Arc<Mutex<Lease>>,
    stop: CancellationToken,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl LeaseGuard {
    fn start(
        api: Api<Lease>,
        target: &LockTarget,
        lease: Lease,
        ttl: Duration,
        lost: CancellationToken,
    ) -> Self {
        let name = lease.metadata.name.clone().unwrap_or_default();
        let current = Arc::new(Mutex::new(lease));
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(api.clone(), current.clone(), ttl, stop.clone(), lost));
        Self {
            api,
            target: target.clone(),
            name,
            current,
            stop,
            renewer: Some(renewer),
        }
    }
}

/// Renews every `ttl / 3`; cancels `lost` when the lease is gone or taken, or not renewed in time.
async fn renew(
    api: Api<Lease>,
    current: Arc<Mutex<Lease>>,
    ttl: Duration,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let mut last_ok = Utc::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ttl / 3) => {}
        }
        let mut lease = current.lock().await;
        let mut next = lease.clone();
        if let Some(spec) = next.spec.as_mut() {
            spec.renew_time = Some(micro(Utc::now()));
        }
        let name = next.metadata.name.clone().unwrap_or_default();
        match api.replace(&name, &PostParams::default(), &next).await {
            Ok(renewed) => {
                *lease = renewed;
                last_ok = Utc::now();
            }
            Err(e) if matches!(status_code(&e), Some(404) | Some(409)) => {
                tracing::warn!(lease = %name, "lost the run lock (deleted or taken over): stopping the run");
                return lost.cancel();
            }
            Err(e)
                if Utc::now() - last_ok > chrono::Duration::from_std(ttl).unwrap_or_default() =>
            {
                tracing::warn!(lease = %name, error = %e, "could not renew the run lock in time: stopping the run");
                return lost.cancel();
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "failed to renew the run lock; retrying")
            }
        }
    }
}

#[async_trait::async_trait]
impl LockGuard for LeaseGuard {
    fn location(&self) -> String {
        format!("Lease {}/{}", self.target.namespace, self.name)
    }

    async fn release(mut self: Box<Self>) -> Result<(), LockError> {
        self.stop.cancel();
        if let Some(task) = self.renewer.take() {
            let _ = task.await;
        }
        let rv = self.current.lock().await.metadata.resource_version.clone();
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: rv,
                uid: None,
            }),
            ..Default::default()
        };
        let object = ObjectRef::new("Lease", Some(&self.target.namespace), &self.name);
        match self.api.delete(&self.name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(LockError::Failed {
                target: self.target.to_string(),
                location: self.location(),
                source: Box::new(K8sError::api("release", &object)(e)),
            }),
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        // Not released (an error path): stop renewing so the lease expires.
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64, ttl: i32) -> Lease {
        let t = Utc::now() - chrono::Duration::seconds(renewed_secs_ago);
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(ttl),
                acquire_time: Some(micro(t - chrono::Duration::seconds(60))),
                renew_time: Some(micro(t)),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_holder_of_the_same_run_is_recognised_on_any_host() {
        assert!(same_run(
            "20260101-000000-abcd@pod-1",
            "20260101-000000-abcd"
        ));
        assert!(same_run(
            "20260101-000000-abcd@laptop",
            "20260101-000000-abcd"
        ));
        assert!(!same_run(
            "20260101-000000-abcde@pod",
            "20260101-000000-abcd"
        ));
        assert!(!same_run("other@pod", "20260101-000000-abcd"));
    }

    #[test]
    fn a_lease_is_held_until_it_expires_or_has_no_holder() {
        let now = Utc::now();
        let (who, since, expires) = holder(&lease("run@h", 5, 30), now).unwrap();
        assert_eq!(who, "run@h");
        assert!(since < now - chrono::Duration::seconds(60));
        assert!(expires > now);
        assert!(holder(&lease("run@h", 31, 30), now).is_none(), "expired");
        assert!(holder(&lease("", 1, 30), now).is_none(), "released");
        assert!(holder(&Lease::default(), now).is_none());
    }

    #[test]
    fn names_and_identities() {
        let t = LockTarget::parse("databases/app-dev-cnpg").unwrap();
        assert_eq!(lease_name(&t), "cnpgops-lock-databases-app-dev-cnpg");
        assert!(identity("20260101-000000-abcd").starts_with("20260101-000000-abcd@"));
    }
}
