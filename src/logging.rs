//! tracing diagnostics on stderr (`-v`, `RUST_LOG`), passed through the redactor.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::redact::Redactor;

/// Installs the subscriber; `verbose` 0 = warnings, 1 = info, 2 = debug, 3+ = trace.
pub fn init(verbose: u8, redactor: Redactor) {
    let default = match verbose {
        0 => "warn",
        1 => "cnpgops=info",
        2 => "cnpgops=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr { redactor })
        .try_init();
}

/// A `MakeWriter` whose writers redact each formatted record before it reaches stderr.
#[derive(Clone)]
pub struct RedactingStderr {
    redactor: Redactor,
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redactor: self.redactor.clone(),
            buf: Vec::new(),
        }
    }
}

/// Buffers one record and writes it redacted when dropped.
pub struct RedactingWriter {
    redactor: Redactor,
    buf: Vec<u8>,
}

impl Write for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.buf);
        let result = std::io::stderr()
            .lock()
            .write_all(self.redactor.redact(&text).as_bytes());
        self.buf.clear();
        result
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
