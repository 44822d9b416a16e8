//! Limits on every PostgreSQL connection cnpgops opens: a connect timeout (TCP, port-forward
//! and startup together), TCP keepalives (a half-open connection is noticed instead of hanging
//! forever) and a `statement_timeout`. Set once per process from the global flags
//! `--pg-connect-timeout` / `--pg-statement-timeout`; defaults otherwise.

use std::sync::OnceLock;
use std::time::Duration;

/// The limits; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Reaching the server and finishing the startup handshake.
    pub connect_timeout: Duration,
    /// Idle time before the first keepalive probe (the interval is a third of it).
    pub keepalive_idle: Duration,
    /// The server cancels any statement running longer (0: no limit).
    pub statement_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            keepalive_idle: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30 * 60),
        }
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Sets the process's limits (the first call wins).
pub(crate) fn set(limits: Limits) {
    let _ = LIMITS.set(limits);
}

/// The process's limits.
pub(crate) fn get() -> Limits {
    LIMITS.get().copied().unwrap_or_default()
}

impl Limits {
    /// The startup `options` (`-c` settings) of a connection.
    pub(crate) fn options(&self, read_only: bool) -> String {
        let mut options = format!(
            "-c statement_timeout={}",
            self.statement_timeout.as_millis()
        );
        if read_only {
            options.push_str(" -c default_transaction_read_only=on");
        }
        options
    }

    /// A tokio-postgres configuration with these limits for `user`@`database`.
    pub(crate) fn config(
        &self,
        user: &str,
        password: &str,
        database: &str,
        read_only: bool,
    ) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .user(user)
            .password(password)
            .dbname(database)
            .application_name("cnpgops")
            .options(self.options(read_only))
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(self.keepalive_idle)
            .keepalives_interval(self.keepalive_idle / 3)
            .keepalives_retries(3);
        config
    }

    /// [`Limits::config`] for an endpoint.
    pub(crate) fn config_for(&self, ep: &super::Endpoint) -> tokio_postgres::Config {
        use crate::redact::ExposeSecret;
        self.config(
            &ep.user,
            ep.password.expose_secret(),
            &ep.database,
            ep.read_only,
        )
    }

    /// Turns keepalives on for a socket cnpgops opened itself.
    pub(crate) fn keep_alive(&self, stream: &tokio::net::TcpStream) -> std::io::Result<()> {
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(self.keepalive_idle)
            .with_interval(self.keepalive_idle / 3);
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_has_a_connect_timeout_keepalives_and_a_statement_timeout() {
        let limits = Limits {
            connect_timeout: Duration::from_secs(3),
            keepalive_idle: Duration::from_secs(15),
            statement_timeout: Duration::from_secs(90),
        };
        let c = limits.config("u", "p", "db", true);
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(15));
        assert_eq!(c.get_keepalives_interval(), Some(Duration::from_secs(5)));
        assert_eq!(
            c.get_options(),
            Some("-c statement_timeout=90000 -c default_transaction_read_only=on")
        );
        let rw = limits.config("u", "p", "db", false);
        assert_eq!(rw.get_options(), Some("-c statement_timeout=90000"));
        assert_eq!(
            Limits::default().statement_timeout,
            Duration::from_secs(1800)
        );
    }
}
