//! Run state persisted after every step transition, and the stores that keep it.
//!
//! The state never holds a secret: outputs and errors pass through the redactor before every
//! save, and secret outputs ([`super::step::Outputs::secrets`]) are not stored at all.
//! [`FileStore`] writes `<dir>/<run-id>.json` atomically (temp file, fsync, rename); a
//! ConfigMap store for CronJobs implements the same [`StateStore`] trait in the k8s code.
//! Large step results live beside the state as [`artifact`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::redact::Redactor;

/// A step's progress through a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Refused,
    Interrupted,
    /// A destructive step may or may not have happened; a person must look (see `resume`).
    NeedsManualCheck,
    /// A step found its target missing or unusable (exit code 2).
    BadInput,
}

impl RunStatus {
    /// Whether `cnpgops resume` may continue it.
    pub fn resumable(self) -> bool {
        !matches!(self, RunStatus::Succeeded)
    }
}

/// Which runbook a run executes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookRef {
    pub name: String,
    /// `builtin:<file>` or an absolute path.
    pub origin: String,
    /// `sha256:<hex>` of the runbook text.
    pub digest: String,
}

/// One step's persisted state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub id: String,
    pub uses: String,
    pub destructive: bool,
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// It also produced secret outputs, which are not stored: resume runs it again.
    #[serde(default)]
    pub has_secrets: bool,
    /// Progress a step saved through [`CheckpointHandle::note`], to adopt it on resume.
    #[serde(default)]
    pub notes: BTreeMap<String, Value>,
    pub error: Option<String>,
}

/// A run's persisted state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The state format's version.
    pub version: u32,
    /// The run's id (`20261124-003012-ab12`).
    pub run_id: String,
    /// Which runbook, where from, and its digest (a changed runbook is not resumed).
    pub runbook: RunbookRef,
    /// Plan, dry run or real.
    pub mode: super::RunMode,
    /// Parameter values as given (parameters are never secrets).
    pub params: BTreeMap<String, Value>,
    /// Where the run stands.
    pub status: RunStatus,
    /// Why it stopped, when it did not succeed.
    pub message: Option<String>,
    /// When the run started.
    pub created_at: DateTime<Utc>,
    /// When this state was last saved.
    pub updated_at: DateTime<Utc>,
    /// Every step of the runbook, in order, with its status and outputs.
    pub steps: Vec<StepState>,
}

impl RunState {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The step with this id, to change it.
    pub fn step_mut(&mut self, id: &str) -> Option<&mut StepState> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// A copy with every string masked by `redactor`.
    pub fn redacted(&self, redactor: &Redactor) -> Result<RunState, serde_json::Error> {
        serde_json::from_value(redactor.redact_json(&serde_json::to_value(self)?))
    }
}

/// A new time-sortable run id: `20261124-003012-ab12` (UTC).
pub(crate) fn new_run_id() -> String {
    format!(
        "{}-{:04x}",
        Utc::now().format("%Y%m%d-%H%M%S"),
        fastrand::u16(..)
    )
}

/// Whether `id` has the shape of a run id (it becomes a file or object name).
pub(crate) fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 15 => *c == b'-',
            16..=19 => c.is_ascii_hexdigit(),
            _ => c.is_ascii_digit(),
        })
}

/// Why run state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No run with this id is stored here.
    #[error("failed to find run `{run_id}` in {location}")]
    NotFound {
        /// The run asked for.
        run_id: String,
        /// The directory or namespace looked in.
        location: String,
    },
    /// Reading or writing a local file failed.
    #[error("failed to access run state at {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored state that does not parse.
    #[error("failed to read run state {path}: not a cnpgops run state")]
    Corrupt {
        /// The file or object.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The store cannot do what was asked.
    #[error("failed to use state store: {0}")]
    Unsupported(String),
    /// Another writer changed the stored state since it was read.
    #[error("failed to save run `{run_id}` in {location}: it was changed by another writer since resourceVersion {seen}; not overwriting it (is another cnpgops process continuing this run?)")]
    Conflict {
        /// The run.
        run_id: String,
        /// Where it is stored.
        location: String,
        /// The resourceVersion this process last saw.
        seen: String,
    },
    /// The state does not fit in one Kubernetes object.
    #[error("failed to save run `{run_id}` in {location}: its state is {bytes} bytes, over the {limit}-byte limit of a Kubernetes object; the largest parts: {largest}. Large step results belong in artifacts (see engine::checkpoint::artifact)")]
    TooLarge {
        /// The run.
        run_id: String,
        /// Where it is stored.
        location: String,
        /// The state's size.
        bytes: usize,
        /// The object size limit.
        limit: usize,
        /// Its largest parts, for the message.
        largest: String,
    },
    /// The backend (the Kubernetes API) failed.
    #[error("failed to {action} run state in {location}")]
    Backend {
        /// What was being done (`read`, `save`, ...).
        action: &'static str,
        /// Where.
        location: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where run state lives (a local directory, or a ConfigMap for CronJobs).
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The stored state of `run_id`.
    async fn load(&self, run_id: &str) -> Result<RunState, StoreError>;
    /// Replaces the stored state atomically.
    async fn save(&self, state: &RunState) -> Result<(), StoreError>;
    /// Every stored run, oldest first.
    async fn list(&self) -> Result<Vec<RunState>, StoreError>;
    /// Stores (or replaces) artifact `name` of a run (see [`artifact`]).
    async fn save_artifact(&self, run_id: &str, name: &str, bytes: &[u8])
        -> Result<(), StoreError>;
    /// Reads artifact `name` of a run back.
    async fn load_artifact(&self, run_id: &str, name: &str) -> Result<Vec<u8>, StoreError>;
}

/// Run state as JSON files in a directory.
#[derive(Debug, Clone)]
pub(crate) struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// `$CNPGOPS_STATE_DIR`, else `$XDG_STATE_HOME/cnpgops/runs`, else `~/.local/state/cnpgops/runs`.
    pub(crate) fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("CNPGOPS_STATE_DIR") {
            return PathBuf::from(dir);
        }
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from(".cnpgops-state"));
        base.join("cnpgops").join("runs")
    }

    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, run_id: &str) -> PathBuf {
        self.dir.join(format!("{run_id}.json"))
    }

    /// `<dir>/<run-id>.artifacts/<name>.json`: not listed as a run (not a `.json` file).
    fn artifact_path(&self, run_id: &str, name: &str) -> PathBuf {
        self.dir
            .join(format!("{run_id}.artifacts"))
            .join(format!("{name}.json"))
    }

    fn read(&self, path: &Path) -> Result<RunState, StoreError> {
        let text = std::fs::read(path).map_err(|source| StoreError::Io {
            path: path.into(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| StoreError::Corrupt {
            path: path.into(),
            source,
        })
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    }
}

#[async_trait::async_trait]
impl StateStore for FileStore {
    async fn load(&self, run_id: &str) -> Result<RunState, StoreError> {
        let path = self.path(run_id);
        if !is_run_id(run_id) || !path.is_file() {
            return Err(StoreError::NotFound {
                run_id: run_id.into(),
                location: self.dir.display().to_string(),
            });
        }
        self.read(&path)
    }

    async fn save(&self, state: &RunState) -> Result<(), StoreError> {
        let path = self.path(&state.run_id);
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        self.write_atomically(&path, &bytes)
            .map_err(|source| StoreError::Io { path, source })
    }

    async fn list(&self) -> Result<Vec<RunState>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        let mut runs = paths
            .iter()
            .map(|p| self.read(p))
            .collect::<Result<Vec<_>, _>>()?;
        runs.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));
        Ok(runs)
    }

    async fn save_artifact(
        &self,
        run_id: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let path = self.artifact_path(run_id, name);
        self.write_atomically(&path, bytes)
            .map_err(|source| StoreError::Io { path, source })
    }

    async fn load_artifact(&self, run_id: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.artifact_path(run_id, name);
        std::fs::read(&path).map_err(|source| StoreError::Io { path, source })
    }
}

/// The engine's and steps' shared handle on the current run state; every change is saved.
#[derive(Clone)]
pub(crate) struct CheckpointHandle {
    state: Arc<Mutex<RunState>>,
    store: Arc<dyn StateStore>,
    redactor: Redactor,
    /// Artifacts this process stored or read, unredacted.
    artifacts: Arc<Mutex<BTreeMap<String, Value>>>,
}

impl CheckpointHandle {
    pub(crate) fn new(state: RunState, store: Arc<dyn StateStore>, redactor: Redactor) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
            store,
            redactor,
            artifacts: Arc::default(),
        }
    }

    /// Every run in the store, this one included, oldest first (what earlier runs took).
    pub(crate) async fn runs(&self) -> Result<Vec<RunState>, StoreError> {
        self.store.list().await
    }

    /// A copy of the current state.
    pub(crate) async fn snapshot(&self) -> RunState {
        self.state.lock().await.clone()
    }

    /// Applies `change` and persists the (redacted) result.
    pub(crate) async fn update(
        &self,
        change: impl FnOnce(&mut RunState),
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        change(&mut state);
        state.updated_at = Utc::now();
        let redacted = state
            .redacted(&self.redactor)
            .map_err(|e| StoreError::Unsupported(format!("failed to redact run state: {e}")))?;
        self.store.save(&redacted).await?;
        tracing::trace!(run_id = %redacted.run_id, status = ?redacted.status, "checkpoint saved");
        Ok(())
    }

    /// Saves a step's progress so a resumed attempt can adopt it (e.g. the name of an object
    /// it created).
    pub(crate) async fn note(&self, step: &str, key: &str, value: Value) -> Result<(), StoreError> {
        self.update(|s| {
            if let Some(st) = s.step_mut(step) {
                st.notes.insert(key.to_string(), value);
            }
        })
        .await
    }

    /// What earlier attempts of `step` noted.
    pub(crate) async fn notes(&self, step: &str) -> BTreeMap<String, Value> {
        self.state
            .lock()
            .await
            .step(step)
            .map(|s| s.notes.clone())
            .unwrap_or_default()
    }
}

pub(crate) mod artifact;
#[cfg(test)]
mod tests;
