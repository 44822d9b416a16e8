//! Ending sessions and waiting until they are gone. `pg_terminate_backend(pid)` only signals the
//! backend: it returns at once, and the session (its transaction, its locks) lives on until the
//! backend has rolled back and exited — seconds on a busy server. What says "ended" waits here.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

/// How often [`wait_gone`] looks again.
const POLL: Duration = Duration::from_millis(100);

/// Waits until none of `pids` is in `pg_stat_activity` any more, at most `timeout`; the number
/// still there at the end (0: all gone).
pub(crate) async fn wait_gone(
    client: &Client,
    pids: &[i32],
    timeout: Duration,
) -> Result<i64, tokio_postgres::Error> {
    let started = Instant::now();
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .await?;
        let left: i64 = row.get(0);
        if left == 0 || started.elapsed() >= timeout {
            return Ok(left);
        }
        tokio::time::sleep(POLL).await;
    }
}
