//! The step kinds an engine can run, by `uses:` name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::step::Step;
use crate::runbook::{KindSignature, KindSignatures};

/// Step kinds by name; validation reads their signatures through [`KindSignatures`].
#[derive(Clone, Default)]
pub(crate) struct Registry {
    steps: BTreeMap<&'static str, Arc<dyn Step>>,
}

impl Registry {
    /// Adds a kind (a later one with the same name replaces it).
    pub(crate) fn register(&mut self, step: Arc<dyn Step>) {
        self.steps.insert(step.signature().name, step);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn Step>> {
        self.steps.get(name)
    }

    /// Every kind's signature, by name.
    #[cfg(test)]
    pub(crate) fn signatures(&self) -> impl Iterator<Item = &'static KindSignature> + '_ {
        self.steps.values().map(|s| s.signature())
    }
}

impl KindSignatures for Registry {
    fn signature(&self, name: &str) -> Option<&KindSignature> {
        self.steps.get(name).map(|s| s.signature())
    }

    fn names(&self) -> Vec<&'static str> {
        self.steps.keys().copied().collect()
    }
}
