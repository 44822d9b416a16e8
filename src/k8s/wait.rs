//! The one wait helper: waiting for a named condition with kube-runtime's watcher (a watch,
//! not polling) and its default backoff. A dropped watch, a 410 Gone (history compacted) or a
//! 5xx/429 re-lists and goes on waiting, as a controller would (kube-runtime's
//! `await_condition` fails on the first watch error instead); other API errors (403, 404 of
//! the kind, ...) fail the wait at once.
//!
//! - [`until`] / [`until_seeing`]: one object (`watch_object`) and a [`Judge`] of it, with an
//!   explicit timeout; [`Check::Never`] ends the wait at once with the cluster's reason.
//! - [`until_judged`]: a judge reading the stores of several watched sets ([`watched`]: e.g. a
//!   Job, its Pods and the Events about it), judged once every set is listed and again after
//!   each change. Callers bound it with their own timeout and cancellation.

use std::fmt::Debug;
use std::hash::Hash;
use std::pin::pin;
use std::time::Duration;

use futures::stream::{self, BoxStream, SelectAll};
use futures::StreamExt;
use kube::core::DynamicObject;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watch_object, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::conditions::{Check, Condition, Judge, On};
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
    let judge = On { condition, uid };
    until_seeing(api, object, &judge, timeout, |_| {}).await
}

/// Waits until `judge` holds for `object`, showing `seen` every version of the object the
/// watch delivers (for progress); fails on timeout (saying what the object looks like now) or
/// at once when the judge says it never will ([`K8sError::Unreachable`], with its reason).
pub(crate) async fn until_seeing<K, J>(
    api: &Api<K>,
    object: &ObjectRef,
    judge: &J,
    timeout: Duration,
    seen: impl FnMut(&K),
) -> Result<Option<K>, K8sError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    J: Judge<K>,
{
    let watch = settled(api, &object.name, judge, seen);
    let found = match tokio::time::timeout(timeout, watch).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return Err(watch_failed(object)(e)),
        Err(_) => return Err(timed_out(api, object, judge, timeout).await),
    };
    match judge.check(found.as_ref()) {
        Check::Ok => Ok(found),
        Check::Never(reason) => Err(K8sError::Unreachable {
            object: object.clone(),
            condition: judge.name().into(),
            reason,
        }),
        Check::Pending(now) => Err(K8sError::Invalid {
            object: object.clone(),
            message: format!("the watch ended while it was {now}"),
        }),
    }
}

/// The error of a watch that failed for good (not a transient error), about `object`.
pub(crate) fn watch_failed(object: &ObjectRef) -> impl FnOnce(watcher::Error) -> K8sError + '_ {
    move |e| K8sError::Invalid {
        object: object.clone(),
        message: format!("failed to watch it: {e}"),
    }
}

/// The object (or its absence) once `judge` has settled; transient watch errors retried.
async fn settled<K: Resource + Clone + DeserializeOwned + Debug + Send + 'static>(
    api: &Api<K>,
    name: &str,
    judge: &impl Judge<K>,
    mut seen: impl FnMut(&K),
) -> Result<Option<K>, watcher::Error> {
    let mut stream = pin!(watch_object(api.clone(), name).default_backoff());
    while let Some(event) = stream.next().await {
        if let Ok(Some(o)) = &event {
            seen(o);
        }
        match event {
            Ok(o) if !matches!(judge.check(o.as_ref()), Check::Pending(_)) => return Ok(o),
            Ok(_) => {}
            Err(e) => retry_or_fail(e)?,
        }
    }
    Err(watcher::Error::NoResourceVersion)
}

/// A watched set of objects: its store, and its changes for [`until_judged`].
pub(crate) struct Watched<K: Resource + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// The objects as last listed and watched (whole once the first list is done).
    pub(crate) store: Store<K>,
    /// Yields once the first list is in the store, then after each change applied to it.
    pub(crate) changes: Changes,
}

/// The changes of one [`Watched`] set (or errors of its watch).
pub(crate) type Changes = BoxStream<'static, Result<(), watcher::Error>>;

/// Watches the objects of `api` selected by `config` into a store (kube-runtime's reflector;
/// a re-list replaces the store's content only once it is complete).
pub(crate) fn watched<K>(api: Api<K>, config: watcher::Config) -> Watched<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(api, config))
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                Ok(_) => Some(Ok(())),
                Err(e) => Some(Err(e)),
            }
        })
        .boxed();
    Watched { store, changes }
}

/// Judges with `judge` (which reads the stores of the sets `changes` come from) once every set
/// is listed, then after each change, and also every `recheck` (for a condition that depends on
/// the time, such as a grace period), until it returns something. Transient watch errors
/// re-list (the stores keep their content meanwhile); others end the wait.
pub(crate) async fn until_judged<T>(
    changes: Vec<Changes>,
    recheck: Option<Duration>,
    judge: impl FnMut() -> Option<T>,
) -> Result<T, watcher::Error> {
    Sets::new(changes, recheck).until(judge).await
}

/// A change of the set with this index (`None`: a recheck tick), or its watch's error.
type Tagged = (Option<usize>, Result<(), watcher::Error>);

/// The changes of several [`Watched`] sets, kept across judgements (a Job followed through
/// several Pods is judged again and again on the same watches).
pub(crate) struct Sets {
    all: SelectAll<BoxStream<'static, Tagged>>,
    listed: Vec<bool>,
}

impl Sets {
    /// Merges `changes` (and a tick every `recheck`, when given).
    pub(crate) fn new(changes: Vec<Changes>, recheck: Option<Duration>) -> Self {
        let listed = vec![false; changes.len()];
        let mut all = stream::select_all(
            changes
                .into_iter()
                .enumerate()
                .map(|(i, c)| c.map(move |r| (Some(i), r)).boxed()),
        );
        if let Some(every) = recheck {
            all.push(ticks(every).map(|()| (None, Ok(()))).boxed());
        }
        Self { all, listed }
    }

    /// Judges now if every set is listed, then after each change, until `judge` returns
    /// something.
    pub(crate) async fn until<T>(
        &mut self,
        mut judge: impl FnMut() -> Option<T>,
    ) -> Result<T, watcher::Error> {
        loop {
            if self.listed.iter().all(|l| *l) {
                if let Some(done) = judge() {
                    return Ok(done);
                }
            }
            self.changed().await?;
        }
    }

    /// Waits for the next change (or tick); transient watch errors are waited through.
    pub(crate) async fn changed(&mut self) -> Result<(), watcher::Error> {
        while let Some((set, change)) = self.all.next().await {
            match change {
                Ok(()) => {
                    if let Some(i) = set {
                        self.listed[i] = true;
                    }
                    return Ok(());
                }
                Err(e) => retry_or_fail(e)?,
            }
        }
        Err(watcher::Error::NoResourceVersion)
    }
}

/// A tick every `every`, the first after `every`.
fn ticks(every: Duration) -> impl futures::Stream<Item = ()> + Send {
    stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some(((), ()))
    })
}

/// `Ok` for a watch error worth re-listing for (the watcher re-lists by itself), else the error.
fn retry_or_fail(e: watcher::Error) -> Result<(), watcher::Error> {
    match transient(&e) {
        true => {
            tracing::debug!(error = %e, "watch interrupted; re-listing");
            Ok(())
        }
        false => Err(e),
    }
}

/// A watch error worth re-listing for: 410 Gone, 5xx, 429, or no answer at all.
pub(crate) fn transient(e: &watcher::Error) -> bool {
    let retry = |code: u16| code == 410 || code == 429 || code >= 500;
    match e {
        watcher::Error::WatchError(status) => retry(status.code),
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => super::error::status_code(e).is_none_or(retry),
        watcher::Error::NoResourceVersion => false,
    }
}

async fn timed_out<K: Resource + Clone + DeserializeOwned + Debug>(
    api: &Api<K>,
    object: &ObjectRef,
    judge: &impl Judge<K>,
    after: Duration,
) -> K8sError {
    let last = match api.get_opt(&object.name).await {
        Ok(o) => match judge.check(o.as_ref()) {
            Check::Pending(now) | Check::Never(now) => now,
            Check::Ok => "ready just after the deadline".into(),
        },
        Err(e) => format!("unknown ({e})"),
    };
    K8sError::TimedOut {
        object: object.clone(),
        condition: judge.name().into(),
        after,
        last,
    }
}
