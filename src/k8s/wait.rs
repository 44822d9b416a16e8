//! Waiting for a named [`Condition`] on one object with an explicit timeout, via kube-runtime's
//! `watch_object` watcher (a watch, not polling) with its default backoff. A dropped watch, a
//! 410 Gone (history compacted) or a 5xx/429 re-lists and goes on waiting, as a controller
//! would (kube-runtime's `await_condition` fails on the first watch error instead); other API
//! errors (403, 404 of the kind, ...) fail the wait at once.

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use kube::core::DynamicObject;
use kube::runtime::watcher::{self, watch_object};
use kube::runtime::WatchStreamExt;
use kube::Api;

use super::conditions::{Check, Condition};
use super::error::{K8sError, ObjectRef};

/// Waits until `condition` holds for `object` (the one with `uid`, for `deleted`); fails on
/// timeout (saying what the object looks like now) or when it can no longer hold.
pub(crate) async fn until(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    condition: Condition,
    uid: Option<String>,
    timeout: Duration,
) -> Result<Option<DynamicObject>, K8sError> {
    until_seeing(api, object, condition, uid, timeout, |_| {}).await
}

/// [`until`], showing `seen` every version of the object the watch delivers (for progress).
pub(crate) async fn until_seeing(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    condition: Condition,
    uid: Option<String>,
    timeout: Duration,
    seen: impl FnMut(&DynamicObject),
) -> Result<Option<DynamicObject>, K8sError> {
    let watch = settled(api, &object.name, condition, uid.as_deref(), seen);
    let found = match tokio::time::timeout(timeout, watch).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            return Err(K8sError::Invalid {
                object: object.clone(),
                message: format!("failed to watch it: {e}"),
            })
        }
        Err(_) => return Err(timed_out(api, object, condition, uid, timeout).await),
    };
    match condition.check(found.as_ref(), uid.as_deref()) {
        Check::Ok => Ok(found),
        Check::Never(reason) => Err(K8sError::Unreachable {
            object: object.clone(),
            condition: condition.name().into(),
            reason,
        }),
        Check::Pending(now) => Err(K8sError::Invalid {
            object: object.clone(),
            message: format!("the watch ended while it was {now}"),
        }),
    }
}

/// The object (or its absence) once `condition` has settled; transient watch errors retried.
async fn settled(
    api: &Api<DynamicObject>,
    name: &str,
    condition: Condition,
    uid: Option<&str>,
    mut seen: impl FnMut(&DynamicObject),
) -> Result<Option<DynamicObject>, watcher::Error> {
    let mut stream = pin!(watch_object(api.clone(), name).default_backoff());
    while let Some(event) = stream.next().await {
        if let Ok(Some(o)) = &event {
            seen(o);
        }
        match event {
            Ok(o) if condition.settled(o.as_ref(), uid) => return Ok(o),
            Ok(_) => {}
            Err(e) if transient(&e) => tracing::debug!(error = %e, "watch interrupted; re-listing"),
            Err(e) => return Err(e),
        }
    }
    Err(watcher::Error::NoResourceVersion)
}

/// A watch error worth re-listing for: 410 Gone, 5xx, 429, or no answer at all.
fn transient(e: &watcher::Error) -> bool {
    let retry = |code: u16| code == 410 || code == 429 || code >= 500;
    match e {
        watcher::Error::WatchError(status) => retry(status.code),
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => super::error::status_code(e).is_none_or(retry),
        watcher::Error::NoResourceVersion => false,
    }
}

async fn timed_out(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    condition: Condition,
    uid: Option<String>,
    after: Duration,
) -> K8sError {
    let last = match api.get_opt(&object.name).await {
        Ok(o) => match condition.check(o.as_ref(), uid.as_deref()) {
            Check::Pending(now) | Check::Never(now) => now,
            Check::Ok => "ready just after the deadline".into(),
        },
        Err(e) => format!("unknown ({e})"),
    };
    K8sError::TimedOut {
        object: object.clone(),
        condition: condition.name().into(),
        after,
        last,
    }
}
