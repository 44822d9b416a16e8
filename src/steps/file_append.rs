//! `uses: file.append`: append a line to a local file (an audit trail, or a marker in tests).
//!
//! It is a write: a dry run only describes it. Appending twice leaves two lines, so it is not
//! idempotent, and a destructive `file.append` is never repeated by resume.

use std::io::Write;

use crate::engine::step::RunMode;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct FileAppend;

static SIGNATURE: KindSignature = KindSignature {
    name: "file.append",
    summary: "append a line to a local file",
    inputs: &[
        input("path", true, "the file (created if missing)"),
        input("line", true, "the text to append"),
        input("prod", false, "treat the file as a production target"),
    ],
    outputs: &["path"],
    idempotent: false,
};

#[async_trait::async_trait]
impl Step for FileAppend {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        Ok(StepPlan {
            description: format!("append a line to {}", inputs.str("path")?),
            writes: true,
            prod: inputs.bool_or("prod", false)?,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let path = ctx.inputs.str("path")?;
        let line = ctx.inputs.str("line")?;
        if ctx.mode != RunMode::Real {
            ctx.events
                .log(format!("dry run: would append a line to {path}"));
            return Ok(Outputs::default().with("path", path));
        }
        let io = |source| StepError::Io {
            context: format!("failed to append to {path}"),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        writeln!(file, "{line}").map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Outputs::default().with("path", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_for_real_and_only_describes_in_dry_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.log");
        let inputs = serde_json::json!({"path": file.to_str().unwrap(), "line": "x"});
        let (ctx, _) = super::super::testing::context(inputs.clone(), RunMode::DryRun, dir.path());
        FileAppend.run(&ctx).await.unwrap();
        assert!(!file.exists());
        let (ctx, _) = super::super::testing::context(inputs, RunMode::Real, dir.path());
        FileAppend.run(&ctx).await.unwrap();
        FileAppend.run(&ctx).await.unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x\nx\n");
    }
}
