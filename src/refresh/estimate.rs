//! How long each way of refreshing dev is expected to take for a database of a given size:
//! by dump (`refresh-dev`, the Job) and by recovery from the object store
//! (`refresh-dev-recovery`). Each method's time is a line, `seconds = a + b * GiB`, fitted by
//! least squares to the earlier successful runs of the same app and target env (their run
//! states hold the size, recorded by the `estimate` step, and every step's duration) once two
//! sizes are known, else the built-in fits measured by `scripts/bench.sh` (docs/RELIABILITY.md,
//! "choosing the method"). Pure: the step `refresh.estimate` reads the runs and logs the result.

use serde::Serialize;

use crate::engine::checkpoint::{RunState, RunStatus};
use crate::engine::step::RunMode;

/// The runbook `refresh-dev --method dump` runs.
pub(crate) const DUMP_RUNBOOK: &str = "refresh-dev";
/// The runbook `refresh-dev --method recovery` runs.
pub(crate) const RECOVERY_RUNBOOK: &str = "refresh-dev-recovery";
/// The step id whose `bytes` output records a run's size.
pub(crate) const STEP: &str = "estimate";

/// Built-in fit of `refresh-dev --method dump` (the default stream mode, whole command), measured
/// by `METHOD_SCALES="10 50 100 200" scripts/bench.sh` on the sandbox with the real CloudNativePG
/// 1.30.0 (2026-12-06 02:25-02:41 UTC, pgbench 157 MiB-2.93 GiB, load average 0.2-2.7;
/// docs/RELIABILITY.md, "choosing the method").
pub(crate) const DEFAULT_DUMP: Fit = Fit { a: 1.88, b: 10.62 };
/// Built-in fit of `refresh-dev --method recovery` (a fresh base backup, little WAL to replay),
/// measured in the same run: ~21 s to delete dev and have CNPG recreate it (the restore Job,
/// the instance's start), then 4.4 s per GiB. The lines cross at 3.14 GiB.
pub(crate) const DEFAULT_RECOVERY: Fit = Fit { a: 21.46, b: 4.38 };

const GIB: f64 = (1u64 << 30) as f64;

/// `seconds = a + b * GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Fit {
    /// Seconds whatever the size.
    pub a: f64,
    /// Seconds per GiB.
    pub b: f64,
}

impl Fit {
    /// The expected seconds at `bytes`.
    pub(crate) fn at(&self, bytes: u64) -> f64 {
        self.a + self.b * bytes as f64 / GIB
    }
}

/// The least-squares line through `(bytes, seconds)`; `None` with fewer than two sizes.
pub(crate) fn fit(points: &[(u64, f64)]) -> Option<Fit> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let xs: Vec<f64> = points.iter().map(|p| p.0 as f64 / GIB).collect();
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs
        .iter()
        .zip(points)
        .map(|(x, p)| (x - mean_x) * (p.1 - mean_y))
        .sum();
    let b = sxy / sxx;
    Some(Fit {
        a: mean_y - b * mean_x,
        b,
    })
}

/// A refresh method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Method {
    Dump,
    Recovery,
}

impl Method {
    fn of_runbook(name: &str) -> Option<Self> {
        match name {
            DUMP_RUNBOOK => Some(Method::Dump),
            RECOVERY_RUNBOOK => Some(Method::Recovery),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Dump => "dump",
            Method::Recovery => "recovery",
        }
    }
}

/// One earlier run: its method, size and seconds (its steps' durations summed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub method: Method,
    pub bytes: u64,
    pub secs: f64,
}

/// The samples among `runs`: real, successful refreshes of `app` into env `to` that recorded
/// their size.
pub(crate) fn samples(runs: &[RunState], app: &str, to: &str) -> Vec<Sample> {
    let param = |r: &RunState, k: &str| r.params.get(k).and_then(|v| v.as_str()).map(String::from);
    runs.iter()
        .filter(|r| r.status == RunStatus::Succeeded && r.mode == RunMode::Real)
        .filter(|r| param(r, "app").as_deref() == Some(app))
        .filter(|r| param(r, "to").as_deref().unwrap_or("dev") == to)
        .filter_map(|r| {
            let method = Method::of_runbook(&r.runbook.name)?;
            let bytes = r.step(STEP)?.outputs.get("bytes")?.as_u64()?;
            let ms: i64 = r
                .steps
                .iter()
                .filter_map(|s| Some((s.finished_at? - s.started_at?).num_milliseconds()))
                .sum();
            Some(Sample {
                method,
                bytes,
                secs: ms as f64 / 1000.0,
            })
        })
        .collect()
}

/// One method's expected time and where its line came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MethodEstimate {
    pub seconds: f64,
    pub fit: Fit,
    /// Earlier runs the fit came from; 0: the built-in fit.
    pub runs: usize,
}

/// Both methods' expected times at one size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Estimate {
    pub bytes: u64,
    pub dump: MethodEstimate,
    pub recovery: MethodEstimate,
}

/// Both methods at `bytes`, each from its earlier runs when they span two sizes.
pub(crate) fn estimate(bytes: u64, samples: &[Sample]) -> Estimate {
    let one = |method: Method, default: Fit| {
        let points: Vec<(u64, f64)> = samples
            .iter()
            .filter(|s| s.method == method)
            .map(|s| (s.bytes, s.secs))
            .collect();
        let (fit, runs) = match fit(&points) {
            Some(f) => (f, points.len()),
            None => (default, 0),
        };
        MethodEstimate {
            seconds: fit.at(bytes).max(0.0),
            fit,
            runs,
        }
    };
    Estimate {
        bytes,
        dump: one(Method::Dump, DEFAULT_DUMP),
        recovery: one(Method::Recovery, DEFAULT_RECOVERY),
    }
}

impl Estimate {
    /// The method expected to finish first (dump on a tie: it does not recreate the Cluster).
    pub(crate) fn faster(&self) -> Method {
        if self.recovery.seconds < self.dump.seconds {
            Method::Recovery
        } else {
            Method::Dump
        }
    }

    /// The size at which both lines meet, when they do at a positive size.
    pub(crate) fn crossover(&self) -> Option<u64> {
        let (d, r) = (self.dump.fit, self.recovery.fit);
        let gib = (r.a - d.a) / (d.b - r.b);
        (gib.is_finite() && gib > 0.0).then_some((gib * GIB) as u64)
    }

    /// One line for a person.
    pub(crate) fn line(&self) -> String {
        let part = |m: &MethodEstimate| {
            let basis = match m.runs {
                0 => "built-in fit".to_string(),
                n => format!("fit of {n} earlier runs"),
            };
            format!(
                "{:.1}s ({basis}: {:.2}s + {:.2}s/GiB)",
                m.seconds, m.fit.a, m.fit.b
            )
        };
        let crossover = match self.crossover() {
            Some(b) => format!("; the lines cross at {:.2} GiB", b as f64 / GIB),
            None => String::new(),
        };
        format!(
            "estimate for {} bytes ({:.2} GiB): by dump {}, by recovery {}: {} expected faster{crossover}",
            self.bytes,
            self.bytes as f64 / GIB,
            part(&self.dump),
            part(&self.recovery),
            self.faster().name()
        )
    }
}

#[cfg(test)]
mod tests;
