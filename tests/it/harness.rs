//! A fluent harness: a private state dir per test, the binary, and snapshot filters. Every
//! process a test starts gets a hermetic environment ([`hermetic`]): nothing of the developer's
//! or the CI runner's (`KUBERNETES_SERVICE_HOST`, `~/.kube`, `CNPGOPS_*`, `RUST_LOG`) reaches it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The only variables a spawned process inherits: where programs are, where temp files go, and
/// the test run's marker (`scripts/test.sh`'s leak check finds this run's processes by it).
pub(crate) const INHERITED: &[&str] = &["PATH", "TMPDIR", "CNPGOPS_TEST_RUN"];

/// Clears `cmd`'s environment but for [`INHERITED`], and gives it its own `HOME` and `XDG_*`
/// directories under `home`.
pub(crate) fn hermetic<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env_clear();
    for var in INHERITED {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.env("HOME", home);
    for (var, dir) in [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
    ] {
        cmd.env(var, home.join(dir));
    }
    cmd
}

/// One test's world: its own state directory and scratch directory.
pub(crate) struct World {
    pub state: tempfile::TempDir,
    pub scratch: tempfile::TempDir,
}

/// What a command printed and returned.
pub(crate) struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl World {
    pub(crate) fn new() -> Self {
        Self {
            state: tempfile::tempdir().unwrap(),
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// A path in the scratch directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// The command, with this world's state dir, a hermetic environment and no terminal.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.program(bin());
        cmd.args(args).stdin(std::process::Stdio::null());
        cmd
    }

    /// Any program (e.g. `sh` or `script` around the binary) in this world's hermetic
    /// environment (home under the scratch dir) with its state dir.
    pub(crate) fn program(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let home = self.path("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new(program);
        hermetic(&mut cmd, &home).env("CNPGOPS_STATE_DIR", self.state.path());
        cmd
    }

    /// Runs to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Ran {
        self.run_with(self.cmd(args))
    }

    pub(crate) fn run_with(&self, mut cmd: std::process::Command) -> Ran {
        let out: Output = cmd.output().expect("cnpgops runs");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every checkpoint file's text.
    pub(crate) fn checkpoints(&self) -> Vec<String> {
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
    pub(crate) fn only_run(&self) -> serde_json::Value {
        let all = self.checkpoints();
        assert_eq!(all.len(), 1, "expected one run");
        serde_json::from_str(&all[0]).unwrap()
    }

    /// Insta settings that hide run ids, times, durations and this world's paths.
    pub(crate) fn settings(&self) -> insta::Settings {
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
    pub(crate) fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts stderr mentions every one of `parts`.
    pub(crate) fn says(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(self.stderr.contains(part), "`{part}` in: {}", self.stderr);
        }
        self
    }
}

pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cnpgops")
}

/// The repository's directory.
pub(crate) fn root() -> &'static Path {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// What a process started like the binary sees: only the allow-list, its own home, its state.
    #[test]
    fn a_spawned_process_sees_only_the_allow_list_and_its_own_home() {
        let w = World::new();
        let out = w.program("env").output().unwrap();
        let env: BTreeMap<String, String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let home = w.path("home").display().to_string();
        for (var, value) in &env {
            let own = var == "HOME" || var.starts_with("XDG_") || var == "CNPGOPS_STATE_DIR";
            assert!(
                own || INHERITED.contains(&var.as_str()),
                "{var}={value} reached a spawned process"
            );
            if var.starts_with("XDG_") {
                assert!(value.starts_with(&home), "{var}={value}");
            }
        }
        assert_eq!(env["HOME"], home);
        assert_eq!(
            env["CNPGOPS_STATE_DIR"],
            w.state.path().display().to_string()
        );
    }

    /// The test above, run by a child of this test binary whose own environment has everything
    /// a CI runner in a Pod or a developer's shell would add.
    #[test]
    fn a_polluted_parent_environment_does_not_reach_spawned_processes() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "harness::tests::a_spawned_process_sees_only_the_allow_list_and_its_own_home",
                "--exact",
                "--test-threads=1",
            ])
            .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
            .env("KUBERNETES_SERVICE_PORT", "443")
            .env("KUBECONFIG", "/polluted/kubeconfig")
            .env("HOME", "/polluted-home")
            .env("XDG_CONFIG_HOME", "/polluted-home/.config")
            .env("XDG_STATE_HOME", "/polluted-home/.local/state")
            .env("CNPGOPS_PROFILE", "polluted")
            .env("CNPGOPS_CONFIG", "/polluted/config.yaml")
            .env("CNPGOPS_NOTIFY_URL", "http://polluted.invalid/")
            .env("CNPGOPS_PAUSE_AFTER_STEP", "polluted")
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
