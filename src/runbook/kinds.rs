//! What validation needs to know about step kinds: their inputs, outputs and resume behaviour.
//!
//! The engine's registry provides these; the runbook module never sees the kinds' code.

/// One input a step kind accepts under `with:`.
#[derive(Debug, Clone, Copy)]
pub struct InputSpec {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
}

/// An [`InputSpec`] in one line, for kinds' signature tables.
pub const fn input(name: &'static str, required: bool, description: &'static str) -> InputSpec {
    InputSpec {
        name,
        required,
        description,
    }
}

/// The static description of a step kind.
#[derive(Debug, Clone, Copy)]
pub struct KindSignature {
    /// The `uses:` value.
    pub name: &'static str,
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
pub trait KindSignatures {
    fn signature(&self, name: &str) -> Option<&KindSignature>;
    fn names(&self) -> Vec<&'static str>;
}
