//! `DIR/state.json`, shared with the API server (which writes `api`, `kubeconfig`, `pid`): the
//! world adds its keys (`s3`, `databases`) by read-modify-write, never overwriting the rest.
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::error::{Result, WorldError};

static LOCK: Mutex<()> = Mutex::new(());

/// Applies `edit` to the top-level object of `dir/state.json` (created if missing).
pub fn update(dir: &Path, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<()> {
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let path = dir.join("state.json");
    let mut state = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    edit(&mut state);
    let text = serde_json::to_string_pretty(&Value::Object(state))
        .map_err(|e| WorldError::invalid("state.json", e.to_string()))?;
    let tmp = dir.join("state.json.world.tmp");
    std::fs::write(&tmp, text).map_err(|e| WorldError::io("state.json", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| WorldError::io("state.json", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_other_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("state.json"),
            r#"{"api": "http://x", "pid": 7}"#,
        )
        .expect("seed");
        update(dir.path(), |m| {
            m.insert("s3".into(), json!({"endpoint": "http://127.0.0.1:1"}));
        })
        .expect("update");
        let text = std::fs::read_to_string(dir.path().join("state.json")).expect("read");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["api"], "http://x");
        assert_eq!(v["pid"], 7);
        assert_eq!(v["s3"]["endpoint"], "http://127.0.0.1:1");
    }
}
