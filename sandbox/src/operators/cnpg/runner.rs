//! The operator's loop: work from store changes and a resync every few seconds, each piece done
//! once per round with a backoff after errors. Clusters reconcile in their own tasks (a
//! bootstrap or a recovery takes seconds and must not hold up other clusters, Backups and
//! schedules), one at a time per Cluster; the tasks live in a `JoinSet` owned by the loop, so
//! stopping the operator stops them.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::error::CnpgError;
use super::{all_work, backup, reconcile, relevant, scheduled, Ctx, Work};

const RESYNC: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// Backoff after errors, and the Clusters being reconciled (plus those asked for meanwhile).
#[derive(Default)]
struct Pace {
    backoff: HashMap<Work, (Instant, u32)>,
    in_flight: HashSet<Work>,
    dirty: HashSet<Work>,
}

impl Pace {
    fn waiting(&self, work: &Work) -> bool {
        self.backoff
            .get(work)
            .is_some_and(|(until, _)| *until > Instant::now())
    }

    fn record(&mut self, work: Work, result: Result<(), CnpgError>) {
        match result {
            Ok(()) => {
                self.backoff.remove(&work);
            }
            Err(e) => {
                let n = self.backoff.get(&work).map_or(0, |(_, n)| n + 1);
                let wait = Duration::from_millis(500 << n.min(5)).min(MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cnpg: reconcile failed");
                self.backoff.insert(work, (Instant::now() + wait, n));
            }
        }
    }
}

type Outcome = (Work, Result<(), CnpgError>);

pub async fn run(ctx: Arc<Ctx>) {
    let mut changes = ctx.api.subscribe();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut tick = tokio::time::interval(RESYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pace = Pace::default();
    loop {
        let mut queue = BTreeSet::new();
        tokio::select! {
            c = changes.recv() => match c {
                Ok(change) => queue.extend(relevant(&change)),
                Err(RecvError::Lagged(_)) => queue.extend(all_work(&ctx)),
                Err(RecvError::Closed) => return,
            },
            Some(done) = done_rx.recv() => {
                if let Err(e) = backup::finish(&ctx, done) {
                    tracing::warn!(error = %e, "cnpg: recording a backup failed");
                }
            },
            Some(joined) = tasks.join_next() => match joined {
                Ok((work, result)) => {
                    pace.in_flight.remove(&work);
                    if pace.dirty.remove(&work) {
                        queue.insert(work.clone());
                    }
                    pace.record(work, result);
                }
                Err(e) => tracing::error!(error = %e, "cnpg: a reconcile task panicked"),
            },
            _ = tick.tick() => queue.extend(all_work(&ctx)),
        }
        // Take whatever else arrived meanwhile, then do each piece of work once.
        while let Ok(change) = changes.try_recv() {
            queue.extend(relevant(&change));
        }
        for work in queue {
            if pace.waiting(&work) {
                continue;
            }
            let result = match &work {
                Work::Cluster(ns, name) => {
                    if !pace.in_flight.insert(work.clone()) {
                        pace.dirty.insert(work);
                        continue;
                    }
                    let (ctx, ns, name) = (ctx.clone(), ns.clone(), name.clone());
                    tasks.spawn(async move {
                        let r = reconcile::reconcile(&ctx, &ns, &name).await;
                        (Work::Cluster(ns, name), r)
                    });
                    continue;
                }
                Work::Backup(ns, name) => backup::reconcile(&ctx, ns, name, &done_tx).await,
                Work::Scheduled(ns, name) => {
                    scheduled::reconcile(&ctx, ns, name, chrono::Utc::now())
                }
            };
            pace.record(work, result);
        }
    }
}
