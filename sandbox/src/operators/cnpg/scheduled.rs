//! `ScheduledBackup`: robfig's six-field cron (seconds first, day of week optional, 0 = Sunday)
//! parsed with the `cron` crate; `immediate`, `suspend`, `backupOwnerReference`, `method`. It
//! creates `Backup` objects named `<name>-<YYYYMMDDhhmmss>` with CNPG's labels and writes
//! `lastCheckTime`, `lastScheduleTime`, `nextScheduleTime` as CNPG's controller does.
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::cluster::GROUP;
use super::error::CnpgError;
use super::{Ctx, MANAGER};

const DAYS: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// robfig's day-of-week numbers (0-7, Sunday 0 and 7) as names the `cron` crate reads.
fn day_names(field: &str) -> String {
    let (days, step) = match field.split_once('/') {
        Some((d, s)) => (d, Some(s)),
        None => (field, None),
    };
    let mut out = String::new();
    let mut num = String::new();
    for ch in days.chars().chain(std::iter::once(',')) {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        if !num.is_empty() {
            let day = num.parse::<usize>().ok().and_then(|n| DAYS.get(n));
            out.push_str(day.copied().unwrap_or(num.as_str()));
            num.clear();
        }
        out.push(ch);
    }
    out.pop();
    step.map_or(out.clone(), |s| format!("{out}/{s}"))
}

/// Parses a CNPG schedule: six fields (seconds first) or five (day of week omitted), or a
/// descriptor (`@daily`, ...).
pub fn parse(schedule: &str) -> Result<cron::Schedule, String> {
    let mut fields: Vec<String> = schedule.split_whitespace().map(String::from).collect();
    if fields.len() == 5 {
        fields.push("*".into());
    }
    if fields.len() == 6 {
        fields[5] = day_names(&fields[5]);
    }
    cron::Schedule::from_str(&fields.join(" "))
        .map_err(|e| format!("invalid schedule {schedule:?}: {e}"))
}

fn k8s(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn next_after(s: &cron::Schedule, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    s.after(&t).next()
}

/// One reconcile of a ScheduledBackup at `now`.
pub fn reconcile(ctx: &Ctx, ns: &str, name: &str, now: DateTime<Utc>) -> Result<(), CnpgError> {
    let Some(sb) = ctx.api.get_obj(GROUP, "scheduledbackups", ns, name) else {
        return Ok(());
    };
    if sb.pointer("/metadata/deletionTimestamp").is_some()
        || sb.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
    {
        return Ok(());
    }
    let cron_spec = sb
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .unwrap_or("");
    let schedule = match parse(cron_spec) {
        Ok(s) => s,
        Err(e) => return write_status(ctx, ns, name, json!({"error": e})),
    };
    let last_check = sb
        .pointer("/status/lastCheckTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(last_check) = last_check else {
        if sb.pointer("/spec/immediate").and_then(Value::as_bool) == Some(true) {
            return create_backup(ctx, &sb, &schedule, now, now, true);
        }
        let next = next_after(&schedule, now).map(k8s);
        let status = json!({"lastCheckTime": k8s(now), "nextScheduleTime": next});
        return write_status(ctx, ns, name, status);
    };
    match next_after(&schedule, last_check) {
        Some(due) if due <= now && !running(ctx, ns, name) => {
            create_backup(ctx, &sb, &schedule, due, now, false)
        }
        _ => Ok(()),
    }
}

/// Whether a Backup this schedule created is still in progress (CNPG waits for it).
fn running(ctx: &Ctx, ns: &str, name: &str) -> bool {
    ctx.api
        .list_objs(GROUP, "backups", Some(ns))
        .iter()
        .filter(|b| {
            b.pointer("/metadata/labels/cnpg.io~1scheduled-backup")
                .is_some_and(|l| l == name)
        })
        .any(|b| {
            let phase = b.pointer("/status/phase").and_then(Value::as_str);
            !matches!(phase, Some("completed") | Some("failed"))
        })
}

fn write_status(ctx: &Ctx, ns: &str, name: &str, status: Value) -> Result<(), CnpgError> {
    ctx.api
        .merge_patch(
            GROUP,
            "scheduledbackups",
            ns,
            name,
            &json!({"status": status}),
            true,
            MANAGER,
        )
        .map(|_| ())
        .map_err(|e| CnpgError::api(&format!("{ns}/{name}"), "writing ScheduledBackup status", e))
}

/// The Backup for the run at `at` (its name makes retries idempotent), then the status.
fn create_backup(
    ctx: &Ctx,
    sb: &Value,
    schedule: &cron::Schedule,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    immediate: bool,
) -> Result<(), CnpgError> {
    let ns = sb
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = sb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let spec = &sb["spec"];
    let cluster = spec
        .pointer("/cluster/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut backup_spec = json!({"cluster": {"name": cluster},
        "method": spec["method"].as_str().unwrap_or("barmanObjectStore")});
    for k in [
        "target",
        "pluginConfiguration",
        "online",
        "onlineConfiguration",
    ] {
        if !spec[k].is_null() {
            backup_spec[k] = spec[k].clone();
        }
    }
    let mut meta = json!({"name": format!("{name}-{}", at.format("%Y%m%d%H%M%S")), "namespace": ns,
        "labels": {"cnpg.io/cluster": cluster, "cnpg.io/immediateBackup": immediate.to_string(),
                   "cnpg.io/scheduled-backup": name}});
    if let Some(owner) = owner_reference(ctx, sb, ns, cluster) {
        meta["ownerReferences"] = json!([owner]);
    }
    let backup = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Backup",
        "metadata": meta, "spec": backup_spec});
    match ctx.api.create_obj(&backup, MANAGER) {
        Ok(_) => {}
        Err(e) if e.code == 409 => {}
        Err(e) => {
            return Err(CnpgError::api(
                &format!("{ns}/{name}"),
                "creating a Backup",
                e,
            ))
        }
    }
    let status = json!({"lastCheckTime": k8s(now), "lastScheduleTime": k8s(at),
        "nextScheduleTime": next_after(schedule, now).map(k8s)});
    write_status(ctx, ns, name, status)
}

/// `backupOwnerReference`: `none` (default), `self` (the ScheduledBackup), `cluster`.
fn owner_reference(ctx: &Ctx, sb: &Value, ns: &str, cluster: &str) -> Option<Value> {
    let (kind, owner) = match sb
        .pointer("/spec/backupOwnerReference")
        .and_then(Value::as_str)
    {
        Some("self") => ("ScheduledBackup", sb.clone()),
        Some("cluster") => ("Cluster", ctx.api.get_obj(GROUP, "clusters", ns, cluster)?),
        _ => return None,
    };
    Some(json!({"apiVersion": format!("{GROUP}/v1"), "kind": kind,
        "name": owner.pointer("/metadata/name"), "uid": owner.pointer("/metadata/uid"),
        "controller": true, "blockOwnerDeletion": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn six_fields_with_seconds_first() {
        let s = parse("30 0 2 * * *").expect("parses");
        let next = next_after(&s, at("2024-01-01T00:00:00Z")).expect("next");
        assert_eq!(k8s(next), "2024-01-01T02:00:30Z");
        let s = parse("*/5 * * * * *").expect("every 5 s");
        assert_eq!(
            k8s(next_after(&s, at("2024-01-01T00:00:01Z")).expect("next")),
            "2024-01-01T00:00:05Z"
        );
    }

    #[test]
    fn robfig_day_numbers_and_optional_day_field() {
        assert_eq!(day_names("0"), "SUN");
        assert_eq!(day_names("1-5"), "MON-FRI");
        assert_eq!(day_names("*/2"), "*/2");
        assert_eq!(day_names("0,6"), "SUN,SAT");
        // 2024-01-01 is a Monday: the next Sunday midnight is the 7th.
        let s = parse("0 0 0 * * 0").expect("parses");
        assert_eq!(
            k8s(next_after(&s, at("2024-01-01T00:00:00Z")).expect("next")),
            "2024-01-07T00:00:00Z"
        );
        let s = parse("0 0 3 * *").expect("five fields: no day of week");
        assert_eq!(
            k8s(next_after(&s, at("2024-01-01T04:00:00Z")).expect("next")),
            "2024-01-02T03:00:00Z"
        );
        assert!(parse("not a schedule").is_err());
    }
}
