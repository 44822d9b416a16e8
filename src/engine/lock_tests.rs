//! The run lock in the engine, with an in-memory [`Locker`]: taken before the first step,
//! released however the run ends, a held lock refuses the run before any step.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::confirm::ScriptedConfirmer;
use super::*;
use crate::runbook::{Loaded, Source};
use crate::ui::Recording;

/// Targets held, by holder run id; `log` records acquire/release in order.
#[derive(Default)]
struct Fake {
    held: Mutex<BTreeMap<String, String>>,
    log: Mutex<Vec<String>>,
}

struct FakeGuard(Arc<Fake>, String);

#[async_trait::async_trait]
impl Locker for Arc<Fake> {
    async fn acquire(
        &self,
        target: &LockTarget,
        run_id: &str,
        _lost: CancellationToken,
    ) -> Result<Box<dyn LockGuard>, LockError> {
        let mut held = self.held.lock().unwrap();
        if let Some(holder) = held.get(&target.to_string()) {
            return Err(LockError::Held {
                target: target.to_string(),
                holder: holder.clone(),
                since: chrono::Utc::now(),
                expires: chrono::Utc::now(),
                location: "memory".into(),
                break_with: "nothing".into(),
            });
        }
        held.insert(target.to_string(), run_id.into());
        self.log.lock().unwrap().push(format!("acquire {target}"));
        Ok(Box::new(FakeGuard(self.clone(), target.to_string())))
    }
}

#[async_trait::async_trait]
impl LockGuard for FakeGuard {
    fn location(&self) -> String {
        "memory".into()
    }
    async fn release(self: Box<Self>) -> Result<(), LockError> {
        self.0.held.lock().unwrap().remove(&self.1);
        self.0
            .log
            .lock()
            .unwrap()
            .push(format!("release {}", self.1));
        Ok(())
    }
}

fn engine(fake: &Arc<Fake>, dir: &std::path::Path) -> Engine {
    Engine::new(EngineParts {
        registry: Arc::new(crate::steps::registry()),
        reporter: Arc::new(Recording::default()),
        redactor: Redactor::new(),
        store: Arc::new(FileStore::new(dir.to_path_buf())),
        confirmer: Arc::new(ScriptedConfirmer::new(false, &[])),
        policy: Policy::default(),
        cancel: CancellationToken::new(),
        profile: Default::default(),
        locker: Some(Arc::new(fake.clone())),
    })
}

fn load(fail: bool) -> Loaded {
    let text = format!("name: t\nsummary: s\nparams:\n  - {{name: db, type: string, default: app}}\nlock: \"databases/{{{{ params.db }}}}\"\nsteps:\n  - id: a\n    uses: assert\n    with: {{that: {}}}\n", !fail);
    crate::runbook::load(Source::builtin("t.yaml", &text), &crate::steps::registry()).unwrap()
}

fn params() -> crate::runbook::ParamValues {
    BTreeMap::from([("db".to_string(), serde_json::Value::from("app"))])
}

#[tokio::test]
async fn the_lock_is_held_for_the_run_and_released_after_success_or_failure() {
    let (fake, dir) = (Arc::new(Fake::default()), tempfile::tempdir().unwrap());
    for fail in [false, true] {
        let report = engine(&fake, dir.path())
            .start(&load(fail), params(), RunMode::Real)
            .await
            .unwrap();
        let expected = if fail {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        assert_eq!(report.status, expected);
        assert!(fake.held.lock().unwrap().is_empty(), "released");
    }
    let log = fake.log.lock().unwrap().clone();
    assert_eq!(
        log,
        ["acquire databases/app", "release databases/app"].repeat(2)
    );
}

#[tokio::test]
async fn a_held_lock_refuses_before_any_step_and_dry_runs_do_not_lock() {
    let (fake, dir) = (Arc::new(Fake::default()), tempfile::tempdir().unwrap());
    fake.held
        .lock()
        .unwrap()
        .insert("databases/app".into(), "other-run".into());
    let e = engine(&fake, dir.path());
    let report = e
        .start(&load(false), params(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Refused);
    assert!(report.message.unwrap().contains("locked by `other-run`"));
    assert_eq!(report.steps[0].status, StepStatus::Pending);
    let dry = e
        .start(&load(false), params(), RunMode::DryRun)
        .await
        .unwrap();
    assert_eq!(dry.status, RunStatus::Succeeded);
    assert!(fake.log.lock().unwrap().is_empty());
}
