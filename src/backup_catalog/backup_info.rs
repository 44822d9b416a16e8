//! The `backup.info` file barman-cloud-backup uploads last (also for failed backups): one
//! `key=value` per line, split on the first `=`; `None` for null; datetimes as Python's
//! `str()` of an aware datetime (`2024-06-16 14:22:36.123456+00:00`); dicts and lists as Python
//! reprs (kept as text here). Its `server_name` is the literal `cloud`: the real server name is
//! only in the key path, so it is not read.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::Serialize;

/// `status` values barman writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    Done,
    Failed,
    Started,
    Empty,
    WaitingForWals,
    Syncing,
    /// A value this version does not know.
    #[serde(untagged)]
    Other(String),
}

impl Status {
    fn parse(text: &str) -> Self {
        match text {
            "DONE" => Status::Done,
            "FAILED" => Status::Failed,
            "STARTED" => Status::Started,
            "EMPTY" => Status::Empty,
            "WAITING_FOR_WALS" => Status::WaitingForWals,
            "SYNCING" => Status::Syncing,
            other => Status::Other(other.to_string()),
        }
    }

    /// As written in the file.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Status::Done => "DONE",
            Status::Failed => "FAILED",
            Status::Started => "STARTED",
            Status::Empty => "EMPTY",
            Status::WaitingForWals => "WAITING_FOR_WALS",
            Status::Syncing => "SYNCING",
            Status::Other(s) => s,
        }
    }
}

/// The fields of `backup.info` cnpgops uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BackupInfo {
    pub status: Status,
    /// `backup_name` (`--name`; CNPG passes `backup-<YYYYMMDDhhmmss>`).
    pub name: Option<String>,
    pub begin_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub begin_wal: Option<String>,
    pub end_wal: Option<String>,
    /// `begin_xlog` / `end_xlog`: LSNs like `0/3000028`.
    pub begin_lsn: Option<String>,
    pub end_lsn: Option<String>,
    pub timeline: Option<u32>,
    /// `size` (bytes uploaded), else `cluster_size` (barman-cloud leaves `size` at `None`).
    pub size: Option<u64>,
    /// PostgreSQL `server_version_num`, e.g. 150010.
    pub version: Option<u32>,
    pub systemid: Option<String>,
    pub segment_size: Option<u64>,
    /// `failure <phase> (<first line>)` for a FAILED backup.
    pub error: Option<String>,
}

/// Why a `backup.info` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("line {line} is not `key=value`")]
    NotKeyValue { line: usize },
    #[error("it has no `status`")]
    NoStatus,
    #[error("`{key}` is not a valid value: `{value}`")]
    BadValue { key: String, value: String },
}

/// Parses the text of a `backup.info`.
pub(crate) fn parse(text: &str) -> Result<BackupInfo, ParseError> {
    let fields = key_values(text)?;
    let text_of = |k: &str| fields.get(k).cloned().flatten();
    let time = |k: &str| {
        text_of(k)
            .map(|v| parse_time(&v).ok_or_else(|| bad(k, &v)))
            .transpose()
    };
    let num = |k: &str| {
        text_of(k)
            .map(|v| v.parse::<u64>().map_err(|_| bad(k, &v)))
            .transpose()
    };
    let status = text_of("status").ok_or(ParseError::NoStatus)?;
    Ok(BackupInfo {
        status: Status::parse(&status),
        name: text_of("backup_name"),
        begin_time: time("begin_time")?,
        end_time: time("end_time")?,
        begin_wal: text_of("begin_wal"),
        end_wal: text_of("end_wal"),
        begin_lsn: text_of("begin_xlog"),
        end_lsn: text_of("end_xlog"),
        timeline: num("timeline")?.and_then(|t| u32::try_from(t).ok()),
        size: num("size")?.or(num("cluster_size")?),
        version: num("version")?.and_then(|t| u32::try_from(t).ok()),
        systemid: text_of("systemid"),
        segment_size: num("xlog_segment_size")?,
        error: text_of("error"),
    })
}

fn bad(key: &str, value: &str) -> ParseError {
    ParseError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// Every `key=value` line; `None` for the literal `None`. Blank lines are skipped.
fn key_values(text: &str) -> Result<BTreeMap<String, Option<String>>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or(ParseError::NotKeyValue { line: i + 1 })?;
        let v = (v != "None").then(|| v.to_string());
        out.insert(k.trim().to_string(), v);
    }
    Ok(out)
}

/// Python's `str(datetime)`: `YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]`; a naive time (barman
/// reads it as local time) is taken as UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(text, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests;
