//! Progress a person can check, from PostgreSQL's progress views (`pg::progress`) read every
//! few seconds: bytes and rows per table being copied, the running total (tables that left the
//! view count with their last reading: a few seconds' worth short at most), index builds with
//! their blocks, and an ETA from the total so far against the source database's size (which
//! includes its indexes, so the ETA leans long during the copy). Once the Job's phase markers
//! say the data is in, index builds are shown as what runs after a complete copy.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::pg::progress::{Building, Reading};

/// The copy on one side, accumulated over readings.
#[derive(Debug, Default)]
pub(crate) struct CopyTracker {
    /// Tables seen copying, with their last `(bytes, rows)`.
    tables: BTreeMap<String, (i64, i64)>,
    /// Those still copying at the last reading.
    running: Vec<String>,
    /// When this side was first seen busy (its ETA's rate starts there), since the watch began.
    started: Option<Duration>,
    /// The Job's phase markers say every table's data is in: what runs now (index builds) is
    /// not counted in bytes, and the tables copied between two readings were never seen.
    data_copied: bool,
}

/// One progress line and its numbers (bytes done, of the source's size).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub message: String,
    pub done: u64,
    pub total: Option<u64>,
}

impl CopyTracker {
    /// The data copy is over (the Job's phase markers went past `data`).
    pub(crate) fn data_copied(&mut self) {
        self.data_copied = true;
    }

    /// Takes a reading made `now` after the watch began; `None` when nothing is running.
    pub(crate) fn update(
        &mut self,
        side: &str,
        r: &Reading,
        now: Duration,
        total: Option<u64>,
    ) -> Option<Line> {
        for c in &r.copies {
            self.tables.insert(c.table.clone(), (c.bytes, c.rows));
        }
        self.running = r.copies.iter().map(|c| c.table.clone()).collect();
        if r.copies.is_empty() && r.indexes.is_empty() {
            return None;
        }
        let elapsed = now.saturating_sub(*self.started.get_or_insert(now));
        let done: i64 = self.tables.values().map(|v| v.0).sum();
        let done = u64::try_from(done).unwrap_or(0);
        let finished = self.tables.len() - self.running.len();
        if self.data_copied {
            // Every byte of data is in: 100%, no ETA from a rate that no longer runs.
            let done = total.unwrap_or(done);
            let mut parts = vec![format!("{side}: data copied")];
            parts.extend(r.indexes.iter().map(building));
            return Some(Line {
                message: parts.join("; "),
                done,
                total: Some(done),
            });
        }
        let mut parts = vec![match total {
            Some(t) => format!(
                "{side}: {} of ~{} ({:.0}%), {finished} tables done{}",
                human(done),
                human(t),
                100.0 * done as f64 / t as f64,
                super::progress::eta(elapsed, done, t)
                    .map(|d| format!(", ETA {}", humantime::format_duration(d)))
                    .unwrap_or_default()
            ),
            None => format!("{side}: {}, {finished} tables done", human(done)),
        }];
        for c in &r.copies {
            parts.push(format!(
                "copying {}: {} rows, {}",
                c.table,
                c.rows,
                human(u64::try_from(c.bytes).unwrap_or(0))
            ));
        }
        parts.extend(r.indexes.iter().map(building));
        Some(Line {
            message: parts.join("; "),
            done,
            total,
        })
    }
}

/// `index shop.orders_pkey: building index: scanning table 5/10 blocks`.
fn building(i: &Building) -> String {
    format!(
        "index {}: {} {}/{} blocks",
        i.index, i.phase, i.blocks_done, i.blocks_total
    )
}

fn human(bytes: u64) -> String {
    human_bytes(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// `12.3 MiB`.
pub(crate) fn human_bytes(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::progress::Copying;

    fn copying(table: &str, mib: i64, rows: i64) -> Copying {
        Copying {
            table: table.into(),
            bytes: mib << 20,
            rows,
        }
    }

    #[test]
    fn finished_tables_keep_counting_and_the_eta_follows_the_rate() {
        let mut t = CopyTracker::default();
        let total = Some(400u64 << 20);
        let first = Reading {
            copies: vec![copying("public.a", 50, 1000), copying("public.b", 50, 10)],
            indexes: vec![],
        };
        assert_eq!(
            t.update(
                "restore",
                &Reading::default(),
                Duration::from_secs(4),
                total
            ),
            None,
            "nothing running yet: nothing to say, and the clock has not started"
        );
        let start = Reading {
            copies: vec![copying("public.a", 0, 0)],
            indexes: vec![],
        };
        t.update("restore", &start, Duration::from_secs(6), total);
        let l = t
            .update("restore", &first, Duration::from_secs(16), total)
            .unwrap();
        assert_eq!(l.done, 100 << 20);
        assert!(
            l.message.starts_with("restore: 100.0 MiB of ~400.0 MiB (25%), 0 tables done, ETA 30s; copying public.a: 1000 rows, 50.0 MiB"),
            "{}",
            l.message
        );
        // `a` finished (gone from the view): its last reading still counts.
        let second = Reading {
            copies: vec![copying("public.b", 150, 30)],
            indexes: vec![Building {
                index: "public.a_pkey".into(),
                phase: "building index: scanning table".into(),
                blocks_done: 5,
                blocks_total: 10,
            }],
        };
        let l = t
            .update("restore", &second, Duration::from_secs(26), total)
            .unwrap();
        assert_eq!(l.done, 200 << 20);
        assert!(
            l.message.contains("1 tables done, ETA 20s"),
            "{}",
            l.message
        );
        assert!(
            l.message
                .ends_with("index public.a_pkey: building index: scanning table 5/10 blocks"),
            "{}",
            l.message
        );
        assert_eq!(
            t.update(
                "restore",
                &Reading::default(),
                Duration::from_secs(30),
                total
            ),
            None,
            "nothing running: nothing to say"
        );
        // Past the data phase: the copy is complete whatever the readings saw, and an index
        // build says so with no ETA from the copy's rate.
        t.data_copied();
        let building = Reading {
            copies: vec![],
            indexes: second.indexes.clone(),
        };
        let l = t
            .update("restore", &building, Duration::from_secs(40), total)
            .unwrap();
        assert_eq!((l.done, l.total), (400 << 20, total));
        assert_eq!(
            l.message,
            "restore: data copied; index public.a_pkey: building index: scanning table 5/10 blocks"
        );
    }
}
