//! Progress from the Job's log: pg_dump / pg_restore `--verbose` lines counted against the
//! number of tables, with an ETA from the rate so far.

use std::time::{Duration, Instant};

use super::job_manifest::{DUMP_DONE, DUMP_START, RESTORE_DONE, RESTORE_START};

/// Which half of the refresh a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting,
    Dump,
    Restore,
    Done,
}

/// What a log line meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A phase began or ended.
    Phase(Phase),
    /// A table's data was dumped or restored.
    Table(String),
    Other,
}

/// Reads one log line.
pub(crate) fn parse(line: &str) -> Seen {
    let line = line.trim();
    match line {
        DUMP_START => return Seen::Phase(Phase::Dump),
        DUMP_DONE | RESTORE_START => return Seen::Phase(Phase::Restore),
        RESTORE_DONE => return Seen::Phase(Phase::Done),
        _ => {}
    }
    for marker in [
        "pg_dump: dumping contents of table ",
        "pg_restore: processing data for table ",
    ] {
        if let Some(rest) = line.strip_prefix(marker) {
            return Seen::Table(rest.trim_matches('"').to_string());
        }
    }
    if let Some(rest) = line.strip_prefix("pg_restore: finished item ") {
        if let Some((_, table)) = rest.split_once(" TABLE DATA ") {
            return Seen::Table(table.to_string());
        }
    }
    Seen::Other
}

/// pg_dump / pg_restore `--verbose` lines that only feed progress (not worth a log line).
pub(crate) fn chatter(line: &str) -> bool {
    let verbose = line.starts_with("pg_dump: ") || line.starts_with("pg_restore: ");
    let lower = line.to_ascii_lowercase();
    verbose && !lower.contains("error") && !lower.contains("warning")
}

/// Tables done per phase, and when each phase started.
#[derive(Debug)]
pub(crate) struct Tracker {
    pub total: u64,
    pub phase: Phase,
    pub done: u64,
    started: Instant,
}

impl Tracker {
    pub(crate) fn new(total: u64) -> Self {
        Self {
            total,
            phase: Phase::Starting,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Feeds a line; `Some(message, done, total)` when progress moved.
    pub(crate) fn feed(&mut self, line: &str) -> Option<(String, u64, u64)> {
        match parse(line) {
            Seen::Phase(Phase::Done) => {
                self.phase = Phase::Done;
                Some((
                    format!("restore finished: {} tables", self.done),
                    self.done,
                    self.done,
                ))
            }
            Seen::Phase(p) if p != self.phase => {
                self.phase = p;
                self.done = 0;
                self.started = Instant::now();
                Some((self.label().to_string(), 0, self.total))
            }
            Seen::Table(t) if matches!(self.phase, Phase::Dump | Phase::Restore) => {
                self.done += 1;
                let eta = eta(self.started.elapsed(), self.done, self.total)
                    .map(|d| format!(", ETA {}", humantime::format_duration(d)))
                    .unwrap_or_default();
                Some((
                    format!(
                        "{}: {}/{} tables ({t}){eta}",
                        self.label(),
                        self.done,
                        self.total
                    ),
                    self.done,
                    self.total,
                ))
            }
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self.phase {
            Phase::Starting => "starting",
            Phase::Dump => "dump",
            Phase::Restore => "restore",
            Phase::Done => "restore finished",
        }
    }
}

/// Time left at the rate so far, rounded to seconds.
pub(crate) fn eta(elapsed: Duration, done: u64, total: u64) -> Option<Duration> {
    if done == 0 || total <= done || elapsed.is_zero() {
        return None;
    }
    let per = elapsed.as_secs_f64() / done as f64;
    Some(Duration::from_secs(
        (per * (total - done) as f64).round() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_lines_are_tables() {
        assert_eq!(
            parse("pg_dump: dumping contents of table \"public.pages\""),
            Seen::Table("public.pages".into())
        );
        assert_eq!(
            parse("pg_restore: processing data for table \"shop.orders\""),
            Seen::Table("shop.orders".into())
        );
        assert_eq!(
            parse("pg_restore: finished item 3456 TABLE DATA orders"),
            Seen::Table("orders".into())
        );
        assert_eq!(parse("pg_dump: reading extensions"), Seen::Other);
        assert_eq!(parse(DUMP_START), Seen::Phase(Phase::Dump));
        assert!(chatter("pg_dump: reading extensions"));
        assert!(!chatter("pg_restore: error: could not execute query"));
        assert!(!chatter("cnpgops: dump started"));
    }

    #[test]
    fn the_tracker_counts_per_phase() {
        let mut t = Tracker::new(2);
        assert!(
            t.feed("pg_dump: dumping contents of table \"a\"").is_none(),
            "before the dump marker"
        );
        t.feed(DUMP_START);
        let (msg, done, total) = t
            .feed("pg_dump: dumping contents of table \"public.a\"")
            .unwrap();
        assert_eq!((done, total), (1, 2));
        assert!(msg.starts_with("dump: 1/2 tables (public.a)"), "{msg}");
        t.feed(DUMP_DONE);
        assert_eq!((t.phase, t.done), (Phase::Restore, 0));
        assert_eq!(
            eta(Duration::from_secs(10), 1, 3),
            Some(Duration::from_secs(20))
        );
        assert_eq!(eta(Duration::from_secs(10), 0, 3), None);
        assert_eq!(eta(Duration::ZERO, 1, 3), None, "no rate yet");
    }
}
