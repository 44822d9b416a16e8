//! What validation needs to know about step kinds: their inputs, outputs and resume behaviour.
//!
//! The engine's registry provides these; the runbook module never sees the kinds' code.

/// One input a step kind accepts under `with:`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputSpec {
    pub name: &'static str,
    pub required: bool,
    /// What the input means, for people reading the kind (checked non-empty by the registry's
    /// tests; cnpgops does not print it).
    #[allow(dead_code, reason = "read by people and by tests")]
    pub description: &'static str,
}

/// An [`InputSpec`] in one line, for kinds' signature tables.
pub(crate) const fn input(
    name: &'static str,
    required: bool,
    description: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        required,
        description,
    }
}

/// The static description of a step kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindSignature {
    /// The `uses:` value.
    pub name: &'static str,
    /// What the kind does, in one line (checked non-empty by the registry's tests).
    #[allow(dead_code, reason = "read by people and by tests")]
    pub summary: &'static str,
    pub inputs: &'static [InputSpec],
    /// Output keys later steps may read as `steps.<id>.outputs.<key>`; `"*"`
    /// ([`super::template::ANY_OUTPUT`]) when the kind names them at run time.
    pub outputs: &'static [&'static str],
    /// Running it again after a partial or complete run is safe: it finds and adopts what a
    /// previous attempt did (e.g. objects labelled with the run and step id). Only idempotent
    /// kinds may be retried, or resumed after an interruption, when marked destructive.
    pub idempotent: bool,
}

/// Looks up kinds by name.
pub(crate) trait KindSignatures {
    fn signature(&self, name: &str) -> Option<&KindSignature>;
    fn names(&self) -> Vec<&'static str>;
}
