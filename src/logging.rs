//! tracing diagnostics on stderr (`-v`, `-q`, `RUST_LOG`, `--log-format`), passed through the
//! redactor: text records are masked as text, JSON records string by string (so a secret is
//! found even where JSON escaping changed its bytes).

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::redact::Redactor;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format).
    Json,
}

/// How diagnostics are shown, from the global flags.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogOptions {
    /// `-v` count: 0 = warnings, 1 = info, 2 = debug, 3+ = trace.
    pub verbose: u8,
    /// `-q`: errors only.
    pub quiet: bool,
    pub format: LogFormat,
    /// ANSI colours (text format only).
    pub color: bool,
}

/// The filter used when `RUST_LOG` is not set.
pub(crate) fn default_filter(options: &LogOptions) -> &'static str {
    if options.quiet {
        return "error";
    }
    match options.verbose {
        0 => "warn",
        1 => "cnpgops=info",
        2 => "cnpgops=debug",
        _ => "trace",
    }
}

/// Installs the subscriber.
pub(crate) fn init(options: LogOptions, redactor: Redactor) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(&options)));
    let json = options.format == LogFormat::Json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr { redactor, json });
    let _ = if json {
        builder
            .json()
            .with_ansi(false)
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_ansi(options.color).try_init()
    };
}

/// A `MakeWriter` whose writers redact each formatted record before it reaches stderr.
#[derive(Clone)]
pub(crate) struct RedactingStderr {
    redactor: Redactor,
    json: bool,
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redactor: self.redactor.clone(),
            json: self.json,
            buf: Vec::new(),
        }
    }
}

/// Buffers one record and writes it redacted when dropped.
pub(crate) struct RedactingWriter {
    redactor: Redactor,
    json: bool,
    buf: Vec<u8>,
}

impl RedactingWriter {
    /// The buffered record, redacted.
    fn redacted(&self) -> String {
        let text = String::from_utf8_lossy(&self.buf);
        if !self.json {
            return self.redactor.redact(&text).into_owned();
        }
        text.lines()
            .map(|line| redact_json_line(&self.redactor, line))
            .map(|line| line + "\n")
            .collect()
    }
}

/// A JSON record with every string masked; a line that is not JSON is masked as text.
pub(crate) fn redact_json_line(redactor: &Redactor, line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(value) => redactor.redact_json(&value).to_string(),
        Err(_) => redactor.redact(line).into_owned(),
    }
}

impl Write for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = self.redacted();
        self.buf.clear();
        std::io::stderr().lock().write_all(text.as_bytes())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_records_are_masked_even_when_escaping_changed_the_secret() {
        let r = Redactor::new();
        r.learn_str("pa\"ss\\word");
        let line = serde_json::json!({"fields": {"message": "pw=pa\"ss\\word"}}).to_string();
        assert!(!line.contains("pa\"ss"), "escaped form differs: {line}");
        let out = redact_json_line(&r, &line);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["fields"]["message"], "pw=********");
    }

    #[test]
    fn quiet_wins_and_verbosity_raises_the_level() {
        let o = |verbose, quiet| LogOptions {
            verbose,
            quiet,
            ..Default::default()
        };
        assert_eq!(default_filter(&o(0, true)), "error");
        assert_eq!(default_filter(&o(0, false)), "warn");
        assert_eq!(default_filter(&o(3, false)), "trace");
    }
}
