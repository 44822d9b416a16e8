//! Tests of run ids, the file store and the checkpoint handle.

use super::*;

fn state(id: &str) -> RunState {
    serde_json::from_value(serde_json::json!({
        "version": 1, "run_id": id,
        "runbook": {"name": "t", "origin": "builtin:t.yaml", "digest": "sha256:0"},
        "mode": "real", "params": {"a": 1}, "status": "running", "message": null,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "steps": [{"id": "s", "uses": "log", "destructive": false, "status": "pending", "attempts": 0,
                   "started_at": null, "finished_at": null, "error": null}]
    }))
    .unwrap()
}

#[test]
fn run_ids_are_time_sortable_and_checked() {
    let id = new_run_id();
    assert!(is_run_id(&id), "{id}");
    assert!(!is_run_id("../../etc/passwd"));
    assert!(!is_run_id("20261124-003012-ab1"));
    assert!(is_run_id("20261124-003012-ab12"));
}

#[tokio::test]
async fn file_store_saves_loads_and_lists_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("runs"));
    assert!(store.list().await.unwrap().is_empty());
    store.save(&state("20260101-000000-0001")).await.unwrap();
    store.save(&state("20260101-000001-0002")).await.unwrap();
    let loaded = store.load("20260101-000000-0001").await.unwrap();
    assert_eq!(loaded, state("20260101-000000-0001"));
    let ids: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.run_id)
        .collect();
    assert_eq!(ids, ["20260101-000000-0001", "20260101-000001-0002"]);
    let leftovers: Vec<_> = std::fs::read_dir(store.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind");
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().to_path_buf());
    assert!(matches!(
        store.load("20260101-000000-9999").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.load("../x").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn handle_saves_every_update_redacted_and_keeps_notes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let redactor = Redactor::new();
    redactor.learn_str("hunter2-secret");
    let handle = CheckpointHandle::new(state("20260101-000000-0003"), store.clone(), redactor);
    handle
        .update(|s| {
            s.steps[0]
                .outputs
                .insert("uri".into(), Value::from("postgres://u:hunter2-secret@h"));
        })
        .await
        .unwrap();
    handle
        .note("s", "deadline", Value::from("later"))
        .await
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("20260101-000000-0003.json")).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("\"deadline\""), "{text}");
    assert_eq!(handle.notes("s").await["deadline"], "later");
}

#[tokio::test]
async fn artifacts_live_beside_the_state_redacted_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let redactor = Redactor::new();
    redactor.learn_str("hunter2-secret");
    let id = "20260101-000000-0004";
    let handle = CheckpointHandle::new(state(id), store.clone(), redactor.clone());
    let big = serde_json::json!({"tables": {"public.t": 3}, "note": "hunter2-secret"});
    let reference = handle
        .put_artifact("s.inventory", big.clone())
        .await
        .unwrap();
    handle
        .update(|s| {
            s.steps[0]
                .outputs
                .insert("inventory".into(), reference.clone());
        })
        .await
        .unwrap();
    let r = artifact::ArtifactRef::from_value(&reference).unwrap();
    assert_eq!(handle.artifact(&r).await.unwrap(), big, "from memory");
    assert_eq!(store.list().await.unwrap().len(), 1, "not listed as a run");

    // A resumed process reads it back from the store: redacted, digest checked.
    let resumed = CheckpointHandle::new(state(id), store.clone(), redactor);
    let read = resumed.artifact(&r).await.unwrap();
    assert_eq!(read["tables"], big["tables"]);
    assert!(!read.to_string().contains("hunter2"), "{read}");
    store
        .save_artifact(id, "s.inventory", b"{\"tables\": {}}")
        .await
        .unwrap();
    let fresh = CheckpointHandle::new(state(id), store, Redactor::new());
    let err = fresh.artifact(&r).await.unwrap_err().to_string();
    assert!(err.contains("digest"), "{err}");
    assert!(handle.put_artifact("../x", Value::Null).await.is_err());
}
