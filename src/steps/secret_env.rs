//! `uses: secret.env`: read a secret from an environment variable (e.g. S3 keys in a CronJob).
//!
//! The value becomes the secret output `value`: templates can use it, the redactor masks it,
//! and it is never written to a checkpoint (resume reads it again).

use crate::redact::SecretString;
use crate::runbook::{InputSpec, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub struct SecretEnv;

static SIGNATURE: KindSignature = KindSignature {
    name: "secret.env",
    summary: "read a secret from an environment variable",
    inputs: &[InputSpec {
        name: "name",
        required: true,
        description: "the variable's name",
    }],
    outputs: &["value"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for SecretEnv {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        Ok(StepPlan {
            description: format!("read secret ${}", inputs.str("name")?),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let name = ctx.inputs.str("name")?;
        let value = std::env::var(&name).map_err(|_| {
            StepError::Failed(format!(
                "failed to read secret: environment variable ${name} is not set"
            ))
        })?;
        let secret = SecretString::from(value);
        ctx.redactor.learn(&secret);
        let mut out = Outputs::default();
        out.secrets.insert("value".into(), secret);
        Ok(out)
    }
}
