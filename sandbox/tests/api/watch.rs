//! Watches: events from a resourceVersion, selectors, bookmarks, 410 Gone for a compacted
//! resourceVersion, and kube-runtime's watcher surviving a forced 410 and a dropped stream.
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;

use crate::harness::start;

fn cm(name: &str, team: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"team": team}}})).unwrap()
}

#[tokio::test]
async fn watch_from_a_resource_version_with_a_selector() {
    let w = start().await;
    let ns = w.namespace("watch").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    api.create(&PostParams::default(), &cm("before", "a"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("team=a").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("other-team", "b"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("x", "a"))
        .await
        .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    api.delete("x", &Default::default()).await.unwrap();
    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.metadata.name.unwrap())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED x", "MODIFIED x", "DELETED x"]);
}

#[tokio::test]
async fn bookmarks_when_asked_and_410_for_a_compacted_version() {
    let w = start().await;
    let ns = w.namespace("watch").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..Default::default()
            }
            .timeout(10),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("bookmark in time")
        .unwrap()
        .unwrap();
    assert!(matches!(first, WatchEvent::Bookmark(_)), "{first:?}");

    api.create(&PostParams::default(), &cm("y", "a"))
        .await
        .unwrap();
    w.sandbox.api.store.compact();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_runtime_watcher_survives_a_forced_410_and_dropped_streams() {
    let w = start().await;
    let ns = w.namespace("watcher").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    api.create(&PostParams::default(), &cm("first", "a"))
        .await
        .unwrap();
    let mut names = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .map_ok(|o| o.metadata.name.unwrap())
        .boxed();
    assert_eq!(next(&mut names).await, "first");
    // Compact the history and drop every stream: the watcher gets 410 on re-watch and re-lists.
    w.sandbox.api.store.compact();
    w.sandbox.api.drop_watches();
    api.create(&PostParams::default(), &cm("second", "a"))
        .await
        .unwrap();
    let mut got = vec![];
    while !got.contains(&"second".to_string()) {
        got.push(next(&mut names).await);
    }
    w.sandbox.api.drop_watches();
    api.create(&PostParams::default(), &cm("third", "a"))
        .await
        .unwrap();
    while next(&mut names).await != "third" {}
}

#[tokio::test]
async fn await_condition_sees_a_status_change() {
    use k8s_openapi::api::batch::v1::Job;
    use kube::runtime::wait::{await_condition, conditions};
    let w = start().await;
    let ns = w.namespace("cond").await;
    let jobs: Api<Job> = Api::namespaced(w.client.clone(), &ns);
    let job = serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}})).unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let waiter = tokio::spawn(await_condition(
        jobs.clone(),
        "j",
        conditions::is_job_completed(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());
    let status =
        json!({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}});
    jobs.patch_status("j", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("condition in time")
        .unwrap()
        .unwrap();
    assert!(done.is_some());
}

async fn next(
    s: &mut futures::stream::BoxStream<'static, Result<String, watcher::Error>>,
) -> String {
    tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .expect("watcher event in time")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn leaving_and_entering_a_selection_are_deleted_and_added() {
    let w = start().await;
    let ns = w.namespace("sel").await;
    let api: Api<ConfigMap> = Api::namespaced(w.client.clone(), &ns);
    api.create(&PostParams::default(), &cm("m", "a"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("team=a").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let relabel = |team: &str| Patch::Merge(json!({"metadata": {"labels": {"team": team}}}));
    api.patch("m", &PatchParams::default(), &relabel("b"))
        .await
        .unwrap();
    api.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ignored": "yes"}})),
    )
    .await
    .unwrap();
    api.patch("m", &PatchParams::default(), &relabel("a"))
        .await
        .unwrap();
    let mut seen = vec![];
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(o) => {
                seen.push(format!("ADDED {}", o.metadata.labels.unwrap()["team"]))
            }
            WatchEvent::Deleted(o) => {
                seen.push(format!("DELETED {}", o.metadata.labels.unwrap()["team"]))
            }
            WatchEvent::Modified(o) => {
                seen.push(format!("MODIFIED {}", o.metadata.labels.unwrap()["team"]))
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["DELETED b", "ADDED a"]);
}
