//! Engine behaviour added for runbooks like refresh-dev: steps that refuse (exit 3) or find
//! bad input (exit 2) still let `always` steps run; a target is typed once per run;
//! `rerun_on_resume` steps run again when a failed run is resumed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::confirm::ScriptedConfirmer;
use super::step::{Outputs, Step, StepContext, StepPlan};
use super::*;
use crate::runbook::{input, KindSignature, Loaded, Source};
use crate::ui::Recording;

/// `probe`: counts runs per step id; `outcome: refused|bad|fail-once|ok` decides the result.
#[derive(Default)]
struct Probe {
    runs: Mutex<HashMap<String, u32>>,
}

static PROBE: KindSignature = KindSignature {
    name: "probe",
    summary: "test outcomes",
    inputs: &[input("outcome", false, "")],
    outputs: &["n"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for Probe {
    fn signature(&self) -> &'static KindSignature {
        &PROBE
    }
    fn plan(&self, _: &Inputs) -> Result<StepPlan, StepError> {
        Ok(StepPlan {
            description: "probe".into(),
            writes: true,
            prod: false,
        })
    }
    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let n = {
            let mut runs = self.runs.lock().unwrap();
            let n = runs.entry(ctx.step_id.clone()).or_default();
            *n += 1;
            *n
        };
        match ctx.inputs.opt_str("outcome")?.as_deref() {
            Some("refused") => Err(StepError::Refused("refused: it is prod".into())),
            Some("bad") => Err(StepError::BadInput("failed to find Cluster db/x".into())),
            Some("fail-once") if n == 1 => Err(StepError::Failed("first time fails".into())),
            _ => Ok(Outputs::default().with("n", n)),
        }
    }
}

struct H {
    dir: tempfile::TempDir,
    probe: Arc<Probe>,
}

impl H {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            probe: Arc::new(Probe::default()),
        }
    }
    fn registry(&self) -> Registry {
        let mut r = crate::steps::registry();
        r.register(self.probe.clone());
        r
    }
    fn load(&self, steps: &str) -> Loaded {
        let text = format!("name: t\nsummary: s\nsteps:\n{steps}");
        crate::runbook::load(Source::builtin("t.yaml", &text), &self.registry()).unwrap()
    }
    fn engine(&self, confirmer: Arc<ScriptedConfirmer>, yes: bool) -> Engine {
        Engine::new(EngineParts {
            registry: Arc::new(self.registry()),
            reporter: Arc::new(Recording::default()),
            redactor: Redactor::new(),
            store: Arc::new(FileStore::new(self.dir.path().to_path_buf())),
            confirmer,
            policy: Policy {
                yes,
                allow_prod: false,
            },
            cancel: CancellationToken::new(),
            profile: Default::default(),
            locker: None,
        })
    }
    fn runs(&self, id: &str) -> u32 {
        self.probe
            .runs
            .lock()
            .unwrap()
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}

const CLEANUP: &str = "  - id: cleanup\n    uses: probe\n    always: true\n";

#[tokio::test]
async fn a_refusing_step_ends_refused_after_cleanup() {
    let h = H::new();
    let engine = h.engine(Arc::new(ScriptedConfirmer::new(false, &[])), true);
    for (outcome, status) in [
        ("refused", RunStatus::Refused),
        ("bad", RunStatus::BadInput),
    ] {
        let rb = h.load(&format!(
            "  - id: {outcome}\n    uses: probe\n    with: {{outcome: {outcome}}}\n  - id: next\n    uses: probe\n{CLEANUP}"
        ));
        let report = engine
            .start(&rb, Default::default(), RunMode::Real)
            .await
            .unwrap();
        assert_eq!(report.status, status, "{report:?}");
        assert_eq!(h.runs(outcome), 1, "refusals are not retried");
        assert_eq!(h.runs("next"), 0);
    }
    assert_eq!(h.runs("cleanup"), 2, "cleanup ran after both");
    let err = crate::error::Error::from_report(&crate::engine::Report {
        status: RunStatus::BadInput,
        ..engine
            .start(&h.load(CLEANUP), Default::default(), RunMode::Real)
            .await
            .unwrap()
    })
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
}

#[tokio::test]
async fn the_same_target_is_typed_once_per_run() {
    let h = H::new();
    let confirmer = Arc::new(ScriptedConfirmer::new(true, &["app-dev"]));
    let step = |id: &str| {
        format!("  - id: {id}\n    uses: probe\n    destructive: true\n    confirm: app-dev\n")
    };
    let rb = h.load(&format!("{}{}", step("stop"), step("restore")));
    let report = h
        .engine(confirmer.clone(), false)
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(confirmer.asked().len(), 1, "asked once for both steps");
    assert_eq!((h.runs("stop"), h.runs("restore")), (1, 1));
}

#[tokio::test]
async fn rerun_on_resume_steps_run_again_before_the_resumed_step() {
    let h = H::new();
    let rb = h.load(&format!(
        "  - id: stop\n    uses: probe\n    rerun_on_resume: true\n  - id: work\n    uses: probe\n    with: {{outcome: fail-once}}\n{CLEANUP}"
    ));
    let engine = h.engine(Arc::new(ScriptedConfirmer::new(false, &[])), true);
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!((h.runs("stop"), h.runs("cleanup")), (1, 1));
    let resumed = engine
        .resume(&rb, &report.run_id, &ResumeOptions::default())
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{resumed:?}");
    assert_eq!(
        (h.runs("stop"), h.runs("work"), h.runs("cleanup")),
        (2, 2, 2),
        "the step the cleanup undid ran again, then the failed one, then the cleanup"
    );
}

#[tokio::test]
async fn a_finished_cleanup_runs_again_when_a_step_it_undid_is_rerun() {
    let h = H::new();
    let rb = h.load(
        "  - id: stop\n    uses: probe\n    rerun_on_resume: true\n  - id: work\n    uses: probe\n  - id: start\n    uses: probe\n    always: true\n  - id: unpause\n    uses: probe\n    always: true\n    with: {outcome: fail-once}\n",
    );
    let engine = h.engine(Arc::new(ScriptedConfirmer::new(false, &[])), true);
    let report = engine
        .start(&rb, Default::default(), RunMode::Real)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    let resumed = engine
        .resume(&rb, &report.run_id, &ResumeOptions::default())
        .await
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{resumed:?}");
    assert_eq!(
        (
            h.runs("stop"),
            h.runs("work"),
            h.runs("start"),
            h.runs("unpause")
        ),
        (2, 1, 2, 2),
        "stopped again, so started again (not left stopped)"
    );
}
