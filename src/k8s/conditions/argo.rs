//! Argo CD Application conditions `argo.sync` waits on: [`SyncOperationEnded`] (this run's
//! sync operation has ended, whichever way) and [`SyncedHealthy`] (a refresh after the
//! operation found the app `Synced` and `Healthy`). A missing Application never gets there.

use kube::core::DynamicObject;

use super::{Check, Judge};
use crate::k8s::argo::AppState;

/// `sync_operation_ended`: the operation written by run `run_id` has a final phase. Never, once
/// the Application carries no operation of this run any more (another writer replaced or
/// terminated it).
pub(crate) struct SyncOperationEnded<'a> {
    pub(crate) run_id: &'a str,
}

impl Judge<DynamicObject> for SyncOperationEnded<'_> {
    fn name(&self) -> &str {
        "sync_operation_ended"
    }

    fn check(&self, obj: Option<&DynamicObject>) -> Check {
        let Some(obj) = obj else {
            return Check::Never("the Application was deleted".into());
        };
        let state = AppState::of(obj);
        if state.run.as_deref() == Some(self.run_id) {
            return match state.completed() {
                true => Check::Ok,
                false => Check::Pending(progress_line(&state)),
            };
        }
        match state.operation_pending {
            true => Check::Pending("sync operation requested".into()),
            false => Check::Never(format!(
                "its sync operation disappeared (another writer replaced or terminated it): {}",
                state.summary()
            )),
        }
    }
}

/// `synced_healthy`: `Synced` and `Healthy` as reported by a refresh after the operation (the
/// operation's ending write leaves `status.sync`/`status.health` as they were before).
pub(crate) struct SyncedHealthy;

impl Judge<DynamicObject> for SyncedHealthy {
    fn name(&self) -> &str {
        "synced_healthy"
    }

    fn check(&self, obj: Option<&DynamicObject>) -> Check {
        let Some(obj) = obj else {
            return Check::Never("the Application was deleted".into());
        };
        let state = AppState::of(obj);
        match state.refreshed_since_operation() {
            true if state.sync == "Synced" && state.health == "Healthy" => Check::Ok,
            true => Check::Pending(format!(
                "waiting for Synced/Healthy: {}/{}",
                state.sync, state.health
            )),
            false => Check::Pending("waiting for Argo CD to refresh the app after the sync".into()),
        }
    }
}

/// The operation's phase and its hooks' phases: `sync operation Running; hook Job x: Running`.
pub(crate) fn progress_line(state: &AppState) -> String {
    let hooks: Vec<String> = state
        .resources
        .iter()
        .filter_map(|r| {
            r.hook_phase
                .as_ref()
                .map(|p| format!("hook Job {}: {p}", r.name))
        })
        .collect();
    let phase = state.phase.as_deref().unwrap_or("requested");
    match hooks.is_empty() {
        true => format!("sync operation {phase}"),
        false => format!("sync operation {phase}; {}", hooks.join(", ")),
    }
}

#[cfg(test)]
mod tests;
