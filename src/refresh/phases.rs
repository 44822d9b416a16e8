//! Where a refresh Job's time goes: the Job's script marks each phase of the restore (clean,
//! schema, data, index builds, constraints, masking, ANALYZE, commit) with a statement raising the warning
//! `cnpgops: phase NAME`, which the target executes in order, so psql prints it (on stderr, at
//! once: stdout into a pipe is buffered to the end) when everything before it has run; the
//! step times the marker lines (and the dump's) as they arrive into a [`Timeline`], recorded
//! in the run report. A warning passes the restore's `client_min_messages = warning`.
//!
//! In atomic mode the restore list is split without touching its order: each entry goes to the
//! phase of its type, phases only ever advance (`phase_of` keeps the highest so far), so the
//! segments restored one after another are the list in its original order (a misread type
//! only moves time between phases). Markers sit between whole pg_restore outputs, never inside
//! the SQL. In stream mode the dump and the restore overlap in one pipe, each section of the
//! source a pg_dump of its own (same snapshot): `dump` is the post-data archive taken first,
//! then the same restore phases, each marker between two whole outputs; parallel mode has
//! `dump` and `restore`.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::job_manifest::{DUMP_START, RESTORE_DONE, RESTORE_START};

/// What a phase marker line holds (psql prints `psql:<stdin>:N: WARNING:  cnpgops: phase x`).
pub(crate) const MARKER: &str = "cnpgops: phase ";

/// The restore's phases in the order the markers name them.
pub(crate) const RESTORE_PHASES: [&str; 4] = ["schema", "data", "indexes", "constraints"];

/// The phases that follow the data copy, in either single-transaction mode.
const AFTER_DATA: [&str; 5] = ["indexes", "constraints", "mask", "analyze", "commit"];

/// awk: the phase (index into [`RESTORE_PHASES`]) of an entry of type `t` after phase `p`:
/// before the first data entry everything is schema; then data, index builds (primary keys,
/// unique constraints, indexes), and the rest (foreign keys, triggers, materialized views).
pub(crate) const PHASE_OF_AWK: &str = r#"function phase_of(t, p,   c) { c = (t == "TABLE DATA" || t == "SEQUENCE SET" || t == "BLOBS") ? 1 : (t == "INDEX" || t == "CONSTRAINT" || t == "INDEX ATTACH") ? 2 : 3; if (p <= 0 && c != 1) c = 0; return c > p ? c : p }"#;

/// Shell functions of the Job's script: `phase NAME` prints the marker statement (plain SQL:
/// allowed inside pg_dump's `\restrict`), `toc_split LIST [AFTER]` writes `LIST.<phase>` for
/// every phase (possibly empty), in order; AFTER names the phase already reached (`data` for a
/// post-data archive: its entries are index builds or the rest, never schema).
pub(crate) fn shell() -> String {
    format!(
        r#"phase() {{ printf 'DO $$BEGIN RAISE WARNING %s; END$$;\n' "'cnpgops: phase $1'"; }}
toc_split() {{ awk -v list="$1" -v after="${{2:-}}" '{PHASE_OF_AWK}
BEGIN {{ split("{names}", n, " "); for (i = 1; i <= 4; i++) {{ printf "" > (list "." n[i]); if (n[i] == after) p = i - 1 }} }}
/^;/ || NF < 4 {{ next }}
{{ t = $4; if ($5 ~ /^(DATA|SET|CONSTRAINT|ATTACH)$/) t = t " " $5; p = phase_of(t, p); print > (list "." n[p + 1]) }}' "$1"; }}"#,
        names = RESTORE_PHASES.join(" ")
    )
}

/// One phase's time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PhaseTime {
    pub phase: String,
    pub ms: u64,
}

/// Phase starts as their lines arrived; a phase lasts until the next one starts.
#[derive(Debug)]
pub(crate) struct Timeline {
    marks: Vec<(String, Instant)>,
}

impl Timeline {
    /// Starts with `job_start`: the Job was just created (or is being followed).
    pub(crate) fn new(at: Instant) -> Self {
        Self {
            marks: vec![("job_start".into(), at)],
        }
    }

    /// Notes `line` if it starts a phase.
    pub(crate) fn feed(&mut self, line: &str, at: Instant) {
        let line = line.trim();
        let name = match line {
            DUMP_START => "dump",
            RESTORE_START => "restore",
            RESTORE_DONE => "job_finish",
            _ => match line.find(MARKER).map(|i| line[i + MARKER.len()..].trim()) {
                Some(name) if !name.is_empty() => name,
                _ => return,
            },
        };
        self.marks.push((name.to_string(), at));
    }

    /// Whether a phase after the data copy began (every table's rows are in the transaction).
    pub(crate) fn data_copied(&self) -> bool {
        self.marks
            .iter()
            .any(|(name, _)| AFTER_DATA.contains(&name.as_str()))
    }

    /// Every phase's duration (repeated names summed), in the order they first began; the
    /// last lasts until `end`.
    pub(crate) fn finish(&self, end: Instant) -> Vec<PhaseTime> {
        let mut out: Vec<PhaseTime> = Vec::new();
        for (i, (name, start)) in self.marks.iter().enumerate() {
            let until = self.marks.get(i + 1).map_or(end, |m| m.1);
            let ms = until.saturating_duration_since(*start).as_millis() as u64;
            match out.iter_mut().find(|p| &p.phase == name) {
                Some(p) => p.ms += ms,
                None => out.push(PhaseTime {
                    phase: name.clone(),
                    ms,
                }),
            }
        }
        out
    }
}

/// `dump 1.2s, data 3.4s, ...` for a log line.
pub(crate) fn summary(phases: &[PhaseTime]) -> String {
    phases
        .iter()
        .map(|p| {
            let secs = Duration::from_millis(p.ms).as_secs_f64();
            format!("{} {secs:.1}s", p.phase)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
