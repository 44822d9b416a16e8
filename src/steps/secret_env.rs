//! `uses: secret.env`: read a secret from an environment variable (e.g. S3 keys in a CronJob).
//!
//! The value becomes the secret output `value`: templates can use it, the redactor masks it,
//! and it is never written to a checkpoint (resume reads it again).

use crate::redact::SecretString;
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct SecretEnv;

static SIGNATURE: KindSignature = KindSignature {
    name: "secret.env",
    summary: "read a secret from an environment variable",
    inputs: &[input("name", true, "the variable's name")],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunMode;
    use crate::steps::testing::{context, inputs};
    use secrecy::ExposeSecret;
    use serde_json::json;

    #[test]
    fn the_plan_names_the_variable_not_its_value() {
        let plan = SecretEnv.plan(&inputs(json!({"name": "PATH"}))).unwrap();
        assert_eq!(plan.description, "read secret $PATH");
        assert!(SecretEnv.plan(&inputs(json!({}))).is_err());
    }

    #[tokio::test]
    async fn the_value_is_a_secret_output_the_redactor_masks() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = context(json!({"name": "CARGO_PKG_NAME"}), RunMode::Real, dir.path());
        let expected = std::env::var("CARGO_PKG_NAME").unwrap();
        let out = SecretEnv.run(&ctx).await.unwrap();
        assert!(out.values.is_empty(), "never a plain output");
        assert_eq!(out.secrets["value"].expose_secret(), expected);
        assert!(!ctx
            .redactor
            .redact(&format!("x {expected} y"))
            .contains(&expected));
    }

    #[tokio::test]
    async fn an_unset_variable_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let name = "CNPGOPS_TEST_SURELY_UNSET_VARIABLE";
        let (ctx, _) = context(json!({"name": name}), RunMode::Real, dir.path());
        let err = SecretEnv.run(&ctx).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("${name} is not set")),
            "{err}"
        );
    }
}
