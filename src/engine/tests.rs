//! Engine behaviour with test step kinds, a recording reporter and scripted confirmations.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::confirm::ScriptedConfirmer;
use super::step::{Outputs, Step, StepContext, StepPlan};
use super::*;
use crate::runbook::{input, KindSignature, Loaded, Source};
use crate::ui::Recording;

/// `count`: adds one to a counter each run; fails while `fail_first` runs remain.
struct Count {
    runs: AtomicU32,
    fail_first: u32,
}

static COUNT: KindSignature = KindSignature {
    name: "count",
    summary: "count runs",
    inputs: &[input("prod", false, ""), input("note", false, "")],
    outputs: &["n"],
    idempotent: false,
};

#[async_trait::async_trait]
impl Step for Count {
    fn signature(&self) -> &'static KindSignature {
        &COUNT
    }
    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        Ok(StepPlan {
            description: "count".into(),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }
    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(note) = ctx.inputs.opt_str("note")? {
            ctx.events.log(note);
        }
        if n <= self.fail_first {
            return Err(StepError::Failed(format!("flaky failure {n}")));
        }
        Ok(Outputs::default().with("n", n))
    }
}

struct Harness {
    dir: tempfile::TempDir,
    count: Arc<Count>,
    rec: Arc<Recording>,
    redactor: Redactor,
}

impl Harness {
    fn new(fail_first: u32) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            count: Arc::new(Count {
                runs: AtomicU32::new(0),
                fail_first,
            }),
            rec: Arc::new(Recording::default()),
            redactor: Redactor::new(),
        }
    }

    fn engine(
        &self,
        policy: Policy,
        confirmer: Arc<dyn Confirmer>,
        cancel: CancellationToken,
    ) -> Engine {
        let mut registry = crate::steps::registry();
        registry.register(self.count.clone());
        Engine::new(EngineParts {
            registry: Arc::new(registry),
            reporter: self.rec.clone(),
            redactor: self.redactor.clone(),
            store: Arc::new(FileStore::new(self.dir.path().to_path_buf())),
            confirmer,
            policy,
            cancel,
            profile: Default::default(),
            locker: None,
        })
    }

    fn yes(&self) -> Engine {
        let policy = Policy {
            yes: true,
            allow_prod: false,
        };
        self.engine(
            policy,
            Arc::new(ScriptedConfirmer::new(false, &[])),
            CancellationToken::new(),
        )
    }

    fn load(&self, steps: &str) -> Loaded {
        let text = format!("name: t\nsummary: s\nsteps:\n{steps}");
        let mut registry = crate::steps::registry();
        registry.register(self.count.clone());
        crate::runbook::load(Source::builtin("t.yaml", &text), &registry).unwrap()
    }

    fn runs(&self) -> u32 {
        self.count.runs.load(Ordering::SeqCst)
    }

    async fn state(&self, engine: &Engine, run_id: &str) -> RunState {
        engine.store.load(run_id).await.unwrap()
    }
}

fn statuses(state: &RunState) -> Vec<StepStatus> {
    state.steps.iter().map(|s| s.status).collect()
}

const DESTRUCTIVE: &str =
    "  - id: d\n    uses: count\n    destructive: true\n    confirm: app-dev\n";

#[tokio::test]
async fn a_run_checkpoints_every_step_and_passes_outputs_on() {
    let h = Harness::new(0);
    let rb = h.load("  - id: a\n    uses: count\n  - id: b\n    uses: log\n    with: {message: \"n={{ steps.a.outputs.n }}\"}\n");
    let engine = h.yes();
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    let state = h.state(&engine, &report.run_id).await;
    assert_eq!(
        statuses(&state),
        [StepStatus::Succeeded, StepStatus::Succeeded]
    );
    assert_eq!(state.steps[1].outputs["message"], "n=1");
    assert!(state.steps[0].started_at.is_some() && state.steps[0].finished_at.is_some());
    assert!(matches!(
        h.rec.events().last(),
        Some(Event::RunFinished { .. })
    ));
}

#[tokio::test]
async fn retries_back_off_then_succeed() {
    let h = Harness::new(2);
    let rb = h.load("  - id: a\n    uses: count\n    retries: {attempts: 3, backoff: 1ms}\n");
    let report = h
        .yes()
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.steps[0].attempts, 3);
    let warnings = h
        .rec
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::StepLog {
                    level: events::Level::Warn,
                    ..
                }
            )
        })
        .count();
    assert_eq!(warnings, 2);
}

#[tokio::test]
async fn a_timeout_fails_the_step_and_always_steps_still_run() {
    let h = Harness::new(0);
    let rb = h.load("  - id: slow\n    uses: sleep\n    timeout: 20ms\n    with: {duration: 1h}\n  - id: next\n    uses: count\n  - id: cleanup\n    uses: log\n    always: true\n    with: {message: bye}\n");
    let engine = h.yes();
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert!(
        report
            .message
            .as_deref()
            .unwrap_or("")
            .contains("timed out after 20ms"),
        "{report:?}"
    );
    let state = h.state(&engine, &report.run_id).await;
    assert_eq!(
        statuses(&state),
        [
            StepStatus::Failed,
            StepStatus::Pending,
            StepStatus::Succeeded
        ]
    );
    assert_eq!(h.runs(), 0);
}

#[tokio::test]
async fn a_false_when_skips_the_step() {
    let h = Harness::new(0);
    let rb = h.load("  - id: a\n    uses: count\n    when: \"1 > 2\"\n");
    let report = h
        .yes()
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.steps[0].status, StepStatus::Skipped);
    assert_eq!(h.runs(), 0);
}

#[tokio::test]
async fn declining_leaves_the_destructive_step_unrun() {
    let h = Harness::new(0);
    let rb = h.load(DESTRUCTIVE);
    let confirmer = Arc::new(ScriptedConfirmer::new(true, &["app-prod"]));
    let engine = h.engine(
        Policy::default(),
        confirmer.clone(),
        CancellationToken::new(),
    );
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Refused);
    assert_eq!(h.runs(), 0);
    assert_eq!(confirmer.asked()[0].target, "app-dev");
    assert_eq!(report.steps[0].status, StepStatus::Pending);
}

#[tokio::test]
async fn typing_the_name_runs_it_once() {
    let h = Harness::new(0);
    let rb = h.load(DESTRUCTIVE);
    let engine = h.engine(
        Policy::default(),
        Arc::new(ScriptedConfirmer::new(true, &["app-dev"])),
        CancellationToken::new(),
    );
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!((report.status, h.runs()), (RunStatus::Succeeded, 1));
}

#[tokio::test]
async fn no_terminal_and_no_yes_refuses_before_any_step() {
    let h = Harness::new(0);
    let rb = h.load(&format!("  - id: first\n    uses: count\n{DESTRUCTIVE}"));
    let engine = h.engine(
        Policy::default(),
        Arc::new(ScriptedConfirmer::new(false, &[])),
        CancellationToken::new(),
    );
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Refused);
    assert!(report.message.unwrap().contains("--yes"));
    assert_eq!(h.runs(), 0);
}

#[tokio::test]
async fn prod_targets_need_allow_prod_and_dry_run_never_asks() {
    let h = Harness::new(0);
    let rb = h.load("  - id: d\n    uses: count\n    destructive: true\n    confirm: app\n    with: {prod: true}\n");
    let report = h
        .yes()
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Refused);
    assert!(report.message.unwrap().contains("--allow-prod"));
    let engine = h.engine(
        Policy::default(),
        Arc::new(ScriptedConfirmer::new(false, &[])),
        CancellationToken::new(),
    );
    let report = engine
        .start(&rb, Default::default(), RunMode::DryRun)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn an_interrupted_run_resumes_and_never_repeats_a_destructive_step() {
    let h = Harness::new(0);
    let rb = h.load(&format!("{DESTRUCTIVE}  - id: wait\n    uses: sleep\n    with: {{duration: 200ms}}\n  - id: after\n    uses: log\n    with: {{message: \"n={{{{ steps.d.outputs.n }}}}\"}}\n"));
    let cancel = CancellationToken::new();
    let engine = h.engine(
        Policy {
            yes: true,
            allow_prod: false,
        },
        Arc::new(ScriptedConfirmer::new(false, &[])),
        cancel.clone(),
    );
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        cancel.cancel();
    });
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    canceller.await.unwrap();
    assert_eq!(report.status, RunStatus::Interrupted);
    let state = h.state(&engine, &report.run_id).await;
    assert_eq!(
        statuses(&state),
        [
            StepStatus::Succeeded,
            StepStatus::Running,
            StepStatus::Pending
        ]
    );

    let resumed = h
        .yes()
        .resume(&rb, &report.run_id, &ResumeOptions::default())
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded);
    assert_eq!(h.runs(), 1, "the destructive step ran again");
    let state = h.state(&engine, &report.run_id).await;
    assert_eq!(state.steps[2].outputs["message"], "n=1");
    assert!(h
        .yes()
        .resume(&rb, &report.run_id, &ResumeOptions::default())
        .await
        .is_err());
}

#[tokio::test]
async fn a_destructive_step_found_running_needs_a_manual_check() {
    let h = Harness::new(0);
    let rb = h.load(DESTRUCTIVE);
    let engine = h.yes();
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    // Pretend the process died while the step was running.
    let mut state = h.state(&engine, &report.run_id).await;
    state.status = RunStatus::Running;
    state.steps[0].status = StepStatus::Running;
    engine.store.save(&state).await.unwrap();

    let stopped = engine
        .resume(&rb, &report.run_id, &ResumeOptions::default())
        .await
        .unwrap();
    assert_eq!(stopped.status, RunStatus::NeedsManualCheck);
    assert!(stopped.message.unwrap().contains("--mark-done d"));
    assert_eq!(h.runs(), 1);

    let done = ResumeOptions {
        mark_done: vec!["d".into()],
        rerun: vec![],
    };
    assert_eq!(
        engine
            .resume(&rb, &report.run_id, &done)
            .await
            .unwrap()
            .status,
        RunStatus::Succeeded
    );
    assert_eq!(h.runs(), 1);
}

#[tokio::test]
async fn resume_refuses_a_changed_runbook() {
    let h = Harness::new(1);
    let rb = h.load("  - id: a\n    uses: count\n");
    let engine = h.yes();
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let changed = h.load("  - id: a\n    uses: count\n    description: edited\n");
    let err = engine
        .resume(&changed, &report.run_id, &ResumeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::DigestChanged { .. }), "{err}");
    // The unchanged runbook resumes the failed (non-destructive) step.
    assert_eq!(
        engine
            .resume(&rb, &report.run_id, &ResumeOptions::default())
            .await
            .unwrap()
            .status,
        RunStatus::Succeeded
    );
}

#[tokio::test]
async fn secret_outputs_are_masked_in_events_and_never_stored() {
    let h = Harness::new(0);
    std::env::set_var("CNPGOPS_TEST_ENGINE_SECRET", "pl4nted-s3cret-value");
    let rb = h.load("  - id: s\n    uses: secret.env\n    with: {name: CNPGOPS_TEST_ENGINE_SECRET}\n  - id: a\n    uses: count\n    with: {note: \"uri=postgres://u:{{ steps.s.outputs.value | urlencode }}@h b64={{ steps.s.outputs.value | b64encode }}\"}\n  - id: b\n    uses: assert\n    with: {that: false, message: \"{{ steps.s.outputs.value }}\"}\n");
    let engine = h.yes();
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let events = serde_json::to_string(&h.rec.events()).unwrap();
    assert!(events.contains("uri=postgres://u:********@h"), "{events}");
    let stored = serde_json::to_string(&h.state(&engine, &report.run_id).await).unwrap();
    for text in [&events, &stored] {
        assert!(!text.contains("pl4nted"), "{text}");
        assert!(
            !text.contains("cGw0bnRlZC1zM2NyZXQtdmFsdWU"),
            "base64 leaked: {text}"
        );
    }
}
