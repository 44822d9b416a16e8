//! `bootstrap.recovery.recoveryTarget`: parsed as CNPG reads it (at most one target; `targetTLI`
//! with any; `exclusive`), the base backup it picks from barman's catalog (BCAPI
//! `FindBackupInfo`), and the PostgreSQL recovery settings it becomes.
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::world::postgres::quote_literal;

/// The one target a recovery stops at (none: the end of the archived WAL).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Time(DateTime<Utc>),
    Lsn(u64, String),
    Name(String),
    Xid(String),
    Immediate,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub kind: Option<Kind>,
    pub tli: Option<String>,
    pub backup_id: Option<String>,
    pub exclusive: bool,
}

/// `targetTime`: RFC 3339 or a PostgreSQL timestamp; without a zone it is UTC (as CNPG).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

/// An LSN `X/Y` as a number.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

impl Target {
    /// Reads `recoveryTarget` (absent: no target); errors read like CNPG's webhook.
    pub fn parse(v: &Value) -> Result<Target, String> {
        let s = |k: &str| v[k].as_str().filter(|x| !x.is_empty()).map(String::from);
        let mut kinds = Vec::new();
        if let Some(t) = s("targetTime") {
            kinds.push(Kind::Time(parse_time(&t).ok_or_else(|| {
                format!("the targetTime {t} is not a valid time")
            })?));
        }
        if let Some(l) = s("targetLSN") {
            let n = parse_lsn(&l).ok_or_else(|| format!("the targetLSN {l} is not a valid LSN"))?;
            kinds.push(Kind::Lsn(n, l));
        }
        kinds.extend(s("targetName").map(Kind::Name));
        kinds.extend(s("targetXID").map(Kind::Xid));
        if v["targetImmediate"].as_bool() == Some(true) {
            kinds.push(Kind::Immediate);
        }
        if kinds.len() > 1 {
            return Err(
                "recovery target too broad, expect one of targetXID, targetName, \
                        targetTime, targetLSN or targetImmediate"
                    .into(),
            );
        }
        Ok(Target {
            kind: kinds.pop(),
            tli: s("targetTLI"),
            backup_id: s("backupID"),
            exclusive: v["exclusive"].as_bool().unwrap_or(false),
        })
    }

    /// The base backup to restore: `backupID`, else the newest completed one fitting the target
    /// (completed = with begin and end times, as CNPG counts them).
    pub fn select<'a>(&self, catalog: &'a [Value]) -> Result<&'a Value, String> {
        let mut usable: Vec<&Value> = catalog
            .iter()
            .filter(|b| b["begin_time_iso"].is_string() && b["end_time_iso"].is_string())
            .collect();
        usable.sort_by(|a, b| a["backup_id"].as_str().cmp(&b["backup_id"].as_str()));
        if let Some(id) = &self.backup_id {
            return usable
                .into_iter()
                .find(|b| b["backup_id"] == id.as_str() || b["backup_name"] == id.as_str())
                .ok_or_else(|| format!("no backup found with ID {id}"));
        }
        if let Some(tli) = self.tli.as_deref().and_then(|t| t.parse::<u64>().ok()) {
            usable.retain(|b| b["timeline"].as_u64() == Some(tli));
        }
        let fits = |b: &&Value| match &self.kind {
            Some(Kind::Time(t)) => b["end_time_iso"]
                .as_str()
                .and_then(parse_time)
                .is_some_and(|end| end <= *t),
            Some(Kind::Lsn(lsn, _)) => b["end_xlog"]
                .as_str()
                .and_then(parse_lsn)
                .is_some_and(|end| end < *lsn),
            _ => true,
        };
        usable
            .into_iter()
            .rev()
            .find(fits)
            .ok_or_else(|| "no target backup found".to_string())
    }

    /// The recovery settings for postgresql.conf (the server promotes at the target).
    pub fn settings(&self) -> String {
        let mut out = String::new();
        let mut set = |k: &str, v: &str| out.push_str(&format!("{k} = {}\n", quote_literal(v)));
        match &self.kind {
            Some(Kind::Time(t)) => set(
                "recovery_target_time",
                &t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            ),
            Some(Kind::Lsn(_, l)) => set("recovery_target_lsn", l),
            Some(Kind::Name(n)) => set("recovery_target_name", n),
            Some(Kind::Xid(x)) => set("recovery_target_xid", x),
            Some(Kind::Immediate) => set("recovery_target", "immediate"),
            None => {}
        }
        if self.kind.is_some() && self.exclusive {
            set("recovery_target_inclusive", "off");
        }
        set(
            "recovery_target_timeline",
            self.tli.as_deref().unwrap_or("latest"),
        );
        set("recovery_target_action", "promote");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Vec<Value> {
        vec![
            json!({"backup_id": "20240101T000000", "backup_name": "backup-a", "timeline": 1,
                   "begin_time_iso": "2024-01-01T00:00:00+00:00", "end_time_iso": "2024-01-01T00:01:00+00:00",
                   "end_xlog": "0/3000100"}),
            json!({"backup_id": "20240102T000000", "backup_name": "backup-b", "timeline": 1,
                   "begin_time_iso": "2024-01-02T00:00:00+00:00", "end_time_iso": "2024-01-02T00:01:00+00:00",
                   "end_xlog": "0/5000100"}),
            json!({"backup_id": "20240103T000000", "begin_time_iso": "2024-01-03T00:00:00+00:00",
                   "end_time_iso": null}),
        ]
    }

    fn pick(target: Value) -> Result<String, String> {
        let t = Target::parse(&target)?;
        let cat = catalog();
        t.select(&cat)
            .map(|b| b["backup_id"].as_str().unwrap_or_default().to_string())
    }

    #[test]
    fn picks_the_newest_completed_backup_ending_before_the_target() {
        assert_eq!(pick(json!({})).as_deref(), Ok("20240102T000000"));
        let t = json!({"targetTime": "2024-01-01 12:00:00+00"});
        assert_eq!(pick(t).as_deref(), Ok("20240101T000000"));
        let t = json!({"targetTime": "2024-01-02T00:01:00Z"});
        assert_eq!(pick(t).as_deref(), Ok("20240102T000000"));
        assert_eq!(
            pick(json!({"targetLSN": "0/4000000"})).as_deref(),
            Ok("20240101T000000")
        );
        assert_eq!(
            pick(json!({"targetTime": "2023-12-31T00:00:00Z"})),
            Err("no target backup found".into())
        );
        let by_id = json!({"backupID": "20240101T000000", "targetName": "x"});
        assert_eq!(pick(by_id).as_deref(), Ok("20240101T000000"));
        assert!(
            pick(json!({"backupID": "20240103T000000"})).is_err(),
            "not completed"
        );
        assert!(pick(json!({"targetXID": "7", "targetName": "x"})).is_err());
    }

    #[test]
    fn settings_read_as_postgresql_wants_them() {
        let t = Target::parse(&json!({"targetTime": "2024-01-01 10:00:00", "exclusive": true}))
            .expect("parses");
        let s = t.settings();
        assert!(
            s.contains("recovery_target_time = '2024-01-01 10:00:00.000000+00'\n"),
            "{s}"
        );
        assert!(s.contains("recovery_target_inclusive = 'off'\n"), "{s}");
        assert!(s.contains("recovery_target_timeline = 'latest'\n"), "{s}");
        assert!(s.ends_with("recovery_target_action = 'promote'\n"), "{s}");
        let s = Target::parse(&json!({"targetImmediate": true, "targetTLI": "1"}))
            .expect("parses")
            .settings();
        assert!(
            s.starts_with("recovery_target = 'immediate'\nrecovery_target_timeline = '1'\n"),
            "{s}"
        );
        let s = Target::parse(&json!({"backupID": "x"}))
            .expect("parses")
            .settings();
        assert!(
            !s.contains("recovery_target_inclusive") && !s.contains("recovery_target ="),
            "{s}"
        );
    }
}
