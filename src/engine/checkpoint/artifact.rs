//! Artifacts: step results too big for the run state (a source's per-table inventory: a
//! schema of 5,000 tables makes megabytes), kept beside it by the same [`StateStore`] and
//! referenced from the step's outputs by a small [`ArtifactRef`]. The run state then stays
//! small whatever the schema (Kubernetes refuses a ConfigMap over 1 MiB).
//!
//! An artifact is redacted like the run state before it is stored, checked against its
//! sha256 when read back, and kept in memory for the rest of the process, so a run that does
//! not resume never reads it back at all.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CheckpointHandle, StoreError};

/// What a step output holds in place of a large value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ArtifactRef {
    /// `<step>.<output>`: unique in a run.
    pub artifact: String,
    /// The stored JSON's length.
    pub bytes: usize,
    /// `sha256:<hex>` of the stored JSON.
    pub sha256: String,
}

impl ArtifactRef {
    /// The reference in `value`, if it is one.
    pub(crate) fn from_value(value: &Value) -> Option<Self> {
        value.get("artifact")?;
        serde_json::from_value(value.clone()).ok()
    }
}

/// Whether `name` can name an artifact (it becomes part of a file or object name).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

fn digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

impl CheckpointHandle {
    /// Stores `value` (redacted) as artifact `name` of this run and returns the reference to
    /// put in the step's outputs.
    pub(crate) async fn put_artifact(&self, name: &str, value: Value) -> Result<Value, StoreError> {
        if !valid_name(name) {
            return Err(StoreError::Unsupported(format!(
                "artifact name `{name}`: use at most 40 of [a-z0-9._-]"
            )));
        }
        let redacted = self.redactor.redact_json(&value);
        let bytes = serde_json::to_vec(&redacted)
            .map_err(|e| StoreError::Unsupported(format!("failed to encode `{name}`: {e}")))?;
        let run_id = self.state.lock().await.run_id.clone();
        self.store.save_artifact(&run_id, name, &bytes).await?;
        let reference = ArtifactRef {
            artifact: name.into(),
            bytes: bytes.len(),
            sha256: digest(&bytes),
        };
        self.artifacts.lock().await.insert(name.into(), value);
        serde_json::to_value(reference)
            .map_err(|e| StoreError::Unsupported(format!("failed to encode a reference: {e}")))
    }

    /// The value `reference` points at: from memory when this process stored it, else from
    /// the store (checked against its digest).
    pub(crate) async fn artifact(&self, reference: &ArtifactRef) -> Result<Value, StoreError> {
        if let Some(v) = self.artifacts.lock().await.get(&reference.artifact) {
            return Ok(v.clone());
        }
        let run_id = self.state.lock().await.run_id.clone();
        let bytes = self
            .store
            .load_artifact(&run_id, &reference.artifact)
            .await?;
        let found = digest(&bytes);
        if found != reference.sha256 {
            return Err(StoreError::Unsupported(format!(
                "artifact `{}` of run {run_id} has digest {found}, the run state expects {}: it was changed or cut; run the step again (resume after deleting the artifact, or start a new run)",
                reference.artifact, reference.sha256
            )));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::Unsupported(format!(
                "artifact `{}` of run {run_id} is not JSON: {e}",
                reference.artifact
            ))
        })?;
        self.artifacts
            .lock()
            .await
            .insert(reference.artifact.clone(), value.clone());
        Ok(value)
    }
}

/// `bytes` cut into pieces of at most `max` bytes, each whole UTF-8 (the JSON is text).
pub(crate) fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max.max(4));
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_references() {
        assert!(valid_name("dump_restore.source_inventory"));
        assert!(!valid_name("Restore/../x"));
        assert!(!valid_name(""));
        let r = ArtifactRef {
            artifact: "a.b".into(),
            bytes: 3,
            sha256: digest(b"abc"),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(ArtifactRef::from_value(&v), Some(r));
        assert_eq!(
            ArtifactRef::from_value(&serde_json::json!({"tables": {}})),
            None
        );
    }

    #[test]
    fn chunks_keep_characters_whole() {
        assert_eq!(chunks("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        let text = "aé€😀".repeat(3);
        let parts = chunks(&text, 5);
        assert!(parts.iter().all(|p| p.len() <= 5));
        assert_eq!(parts.concat(), text);
        assert!(chunks("", 4).is_empty());
    }
}
