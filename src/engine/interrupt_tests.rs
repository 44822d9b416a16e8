//! An interrupted run runs its `always` steps within the grace budget, then stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::confirm::ScriptedConfirmer;
use super::*;
use crate::runbook::{Loaded, Source};
use crate::ui::Recording;

fn load(steps: &str) -> Loaded {
    let text = format!("name: t\nsummary: s\nsteps:\n{steps}");
    crate::runbook::load(Source::builtin("t.yaml", &text), &crate::steps::registry()).unwrap()
}

fn engine(dir: &std::path::Path, cancel: CancellationToken, grace: Duration) -> Engine {
    Engine::new(EngineParts {
        registry: Arc::new(crate::steps::registry()),
        reporter: Arc::new(Recording::default()),
        redactor: Redactor::new(),
        store: Arc::new(FileStore::new(dir.to_path_buf())),
        confirmer: Arc::new(ScriptedConfirmer::new(false, &[])),
        policy: Policy {
            yes: true,
            allow_prod: false,
        },
        cancel,
        profile: Default::default(),
        locker: None,
    })
    .with_grace(grace)
}

/// Starts `rb`, cancels it after 200ms; the report and how long the run took.
async fn interrupted(rb: &Loaded, grace: Duration) -> (Report, Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let e = engine(dir.path(), cancel.clone(), grace);
    let t0 = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let report = e
        .start(rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    (report, t0.elapsed(), dir)
}

fn status(report: &Report, id: &str) -> StepStatus {
    report.steps.iter().find(|s| s.id == id).unwrap().status
}

const WORK: &str = "  - id: work\n    uses: sleep\n    with: {duration: 60s}\n  - id: next\n    uses: log\n    with: {message: not reached}\n";

#[tokio::test]
async fn cleanup_steps_run_after_an_interruption_and_the_run_ends_interrupted() {
    let rb = load(&format!(
        "{WORK}  - id: cleanup\n    uses: log\n    always: true\n    with: {{message: app back}}\n"
    ));
    let (report, took, _dir) = interrupted(&rb, Duration::from_secs(5)).await;
    assert_eq!(report.status, RunStatus::Interrupted, "{report:?}");
    assert_eq!(
        status(&report, "work"),
        StepStatus::Running,
        "resume re-runs it"
    );
    assert_eq!(
        status(&report, "next"),
        StepStatus::Pending,
        "not an `always` step"
    );
    assert_eq!(status(&report, "cleanup"), StepStatus::Succeeded);
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_cleanup_longer_than_the_grace_budget_is_cut_and_left_for_resume() {
    let rb = load(&format!(
        "{WORK}  - id: slow_cleanup\n    uses: sleep\n    always: true\n    with: {{duration: 60s}}\n  - id: after\n    uses: log\n    always: true\n    with: {{message: x}}\n"
    ));
    let grace = Duration::from_millis(500);
    let (report, took, _dir) = interrupted(&rb, grace).await;
    assert_eq!(report.status, RunStatus::Interrupted, "{report:?}");
    assert!(took >= grace && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(status(&report, "slow_cleanup"), StepStatus::Running);
    assert_eq!(
        status(&report, "after"),
        StepStatus::Pending,
        "the budget was spent"
    );
    assert!(report.resume.is_some(), "resumable: {report:?}");
}
