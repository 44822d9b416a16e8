//! A fluent harness: a private state dir per test, the binary, and snapshot filters.

use std::path::{Path, PathBuf};
use std::process::Output;

/// One test's world: its own state directory and scratch directory.
/// The opt-out of verified TLS for clusters without it, as an environment variable.
pub const INSECURE_NO_TLS_ENV: &str = "CNPGOPS_INSECURE_NO_TLS";

pub struct World {
    pub state: tempfile::TempDir,
    pub scratch: tempfile::TempDir,
}

/// What a command printed and returned.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl World {
    pub fn new() -> Self {
        Self {
            state: tempfile::tempdir().unwrap(),
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// The command, with this world's state dir and no terminal.
    ///
    /// `CNPGOPS_INSECURE_NO_TLS=1` (`refresh-dev --insecure-no-tls`): the sandbox's simulated
    /// CNPG serves no TLS and creates no `<cluster>-ca`. Remove it once the sandbox runs the
    /// real CNPG operator (which always creates the CA and serves TLS); tests of the refusal
    /// remove it themselves.
    pub fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(args)
            .env("CNPGOPS_STATE_DIR", self.state.path())
            .env(INSECURE_NO_TLS_ENV, "1")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs to completion.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_with(self.cmd(args))
    }

    pub fn run_with(&self, mut cmd: std::process::Command) -> Ran {
        let out: Output = cmd.output().expect("cnpgops runs");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every checkpoint file's text.
    pub fn checkpoints(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.state.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        // Only finished checkpoints: a run still writing has a temp file that is renamed away.
        files.retain(|f| f.extension().is_some_and(|e| e == "json"));
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    /// The only run's state as JSON.
    pub fn only_run(&self) -> serde_json::Value {
        let all = self.checkpoints();
        assert_eq!(all.len(), 1, "expected one run");
        serde_json::from_str(&all[0]).unwrap()
    }

    /// Insta settings that hide run ids, times, durations and this world's paths.
    pub fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.add_filter(&regex_escape(self.scratch.path()), "[SCRATCH]");
        s.add_filter(&regex_escape(self.state.path()), "[STATE]");
        s.add_filter(r"\d{8}-\d{6}-[0-9a-f]{4}", "[RUN_ID]");
        s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]");
        s.add_filter(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "[TIMESTAMP]",
        );
        s.add_filter(r"\b\d\d:\d\d:\d\d\b", "[TIME]");
        s.add_filter(r"\d+ms", "[MS]");
        s.add_filter(r#""duration_ms":\d+"#, r#""duration_ms":[MS]"#);
        s
    }
}

impl Ran {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts stderr mentions every one of `parts`.
    pub fn says(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(self.stderr.contains(part), "`{part}` in: {}", self.stderr);
        }
        self
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cnpgops")
}

/// The repository's directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn regex_escape(p: &Path) -> String {
    regex_lite_escape(&p.display().to_string())
}

fn regex_lite_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '/' || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}
