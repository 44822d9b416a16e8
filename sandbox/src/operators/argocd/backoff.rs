//! The two waits of the application controller: a failed operation's retry backoff (from the
//! operation's `retry`, Argo CD's `RetryStrategy.NextRetryAt`) and the self-heal backoff between
//! self-heal syncs (the controller's `--self-heal-*` settings, read from the same environment
//! variables as Argo CD 3.x, with its defaults: no fixed timeout, backoff 2 s × 3 up to 300 s).
use std::time::Duration;

use serde_json::Value;

/// A Go duration (`90s`, `1m30s`, `500ms`) or a number of seconds, as Argo CD parses backoffs.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad = || format!("invalid duration {s:?}");
    let (mut total, mut rest) = (0f64, s);
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..split].parse().map_err(|_| bad())?;
        let unit_len = rest[split..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - split);
        let scale = match &rest[split..split + unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[split + unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// How long after a failed attempt the next one starts: duration × factor^retries, at most
/// maxDuration (defaults 5 s, 2, 3 min).
pub fn retry_delay(retry: &Value, retries: u32) -> Result<Duration, String> {
    let field = |k: &str| {
        retry
            .pointer(&format!("/backoff/{k}"))
            .and_then(Value::as_str)
    };
    let duration = field("duration").map_or(Ok(Duration::from_secs(5)), parse_duration)?;
    let max = field("maxDuration").map_or(Ok(Duration::from_secs(180)), parse_duration)?;
    let factor = retry
        .pointer("/backoff/factor")
        .and_then(Value::as_f64)
        .unwrap_or(2.0);
    let wait = duration.as_secs_f64() * factor.powi(retries as i32);
    Ok(Duration::from_secs_f64(match max.is_zero() {
        true => wait,
        false => wait.min(max.as_secs_f64()),
    }))
}

/// Whether a failed attempt is retried: fewer retries than `limit`, or a negative limit.
pub fn retries_left(retry: &Value, retries: u32) -> bool {
    let limit = retry.get("limit").and_then(Value::as_i64).unwrap_or(0);
    limit < 0 || i64::from(retries) < limit
}

/// The controller's self-heal settings.
#[derive(Clone, Copy, Debug)]
pub struct SelfHeal {
    /// `--self-heal-timeout-seconds`: used when the backoff is off.
    pub timeout: Duration,
    /// `--self-heal-backoff-timeout-seconds` (0: off), `-factor`, `-cap-seconds`.
    pub backoff: Option<(Duration, f64, Duration)>,
}

impl Default for SelfHeal {
    fn default() -> Self {
        SelfHeal {
            timeout: Duration::ZERO,
            backoff: Some((Duration::from_secs(2), 3.0, Duration::from_secs(300))),
        }
    }
}

fn env_secs(name: &str) -> Option<u64> {
    std::env::var(format!("ARGOCD_APPLICATION_CONTROLLER_{name}"))
        .ok()?
        .parse()
        .ok()
}

impl SelfHeal {
    /// The defaults, overridden by Argo CD's `ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_*`.
    pub fn from_env() -> Self {
        let d = SelfHeal::default();
        let (initial, factor, cap) = d.backoff.unwrap_or_default();
        let initial =
            env_secs("SELF_HEAL_BACKOFF_TIMEOUT_SECONDS").map_or(initial, Duration::from_secs);
        let factor = env_secs("SELF_HEAL_BACKOFF_FACTOR").map_or(factor, |f| f as f64);
        let cap = env_secs("SELF_HEAL_BACKOFF_CAP_SECONDS").map_or(cap, Duration::from_secs);
        SelfHeal {
            timeout: env_secs("SELF_HEAL_TIMEOUT_SECONDS").map_or(d.timeout, Duration::from_secs),
            backoff: (!initial.is_zero()).then_some((initial, factor, cap)),
        }
    }

    /// The wait before self-heal attempt `attempts + 1` (the first is immediate by default).
    pub fn delay(&self, attempts: u32) -> Duration {
        let Some((initial, factor, cap)) = self.backoff else {
            return self.timeout;
        };
        if attempts == 0 {
            return Duration::ZERO;
        }
        let wait = initial.as_secs_f64() * factor.powi(attempts as i32 - 1);
        Duration::from_secs_f64(if cap.is_zero() {
            wait
        } else {
            wait.min(cap.as_secs_f64())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_argo_cd_reads_them() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn retries_back_off_up_to_the_maximum() {
        let r =
            json!({"limit": 3, "backoff": {"duration": "1s", "factor": 3, "maxDuration": "5s"}});
        let secs: Vec<u64> = (0..3)
            .map(|n| retry_delay(&r, n).unwrap().as_secs())
            .collect();
        assert_eq!(secs, [1, 3, 5]);
        assert_eq!(retry_delay(&json!({}), 1).unwrap(), Duration::from_secs(10));
        assert!(retries_left(&r, 2) && !retries_left(&r, 3));
        assert!(!retries_left(&json!({}), 0) && retries_left(&json!({"limit": -1}), 99));
    }

    #[test]
    fn self_heal_is_immediate_then_backs_off_to_the_cap() {
        let s = SelfHeal::default();
        let secs: Vec<u64> = [0, 1, 2, 3, 7]
            .iter()
            .map(|n| s.delay(*n).as_secs())
            .collect();
        assert_eq!(secs, [0, 2, 6, 18, 300]);
        let fixed = SelfHeal {
            timeout: Duration::from_secs(5),
            backoff: None,
        };
        assert_eq!(fixed.delay(4), Duration::from_secs(5));
    }
}
