//! Waiting for a named [`Condition`] on one object with an explicit timeout, via kube-runtime's
//! `await_condition` (a watch, not polling).

use std::time::Duration;

use kube::core::DynamicObject;
use kube::runtime::wait::await_condition;
use kube::Api;

use super::conditions::{Check, Condition};
use super::error::{K8sError, ObjectRef};

/// Waits until `condition` holds for `object` (the one with `uid`, for `deleted`); fails on
/// timeout (saying what the object looks like now) or when it can no longer hold.
pub async fn until(
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    condition: Condition,
    uid: Option<String>,
    timeout: Duration,
) -> Result<Option<DynamicObject>, K8sError> {
    let uid_for_watch = uid.clone();
    let watch = await_condition(
        api.clone(),
        &object.name,
        move |o: Option<&DynamicObject>| condition.settled(o, uid_for_watch.as_deref()),
    );
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
