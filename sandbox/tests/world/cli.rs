//! The `cnpgops-sandbox` binary (with the real CloudNativePG operator, its default): `up
//! --scenario sandbox/scenarios/synestra.yaml` brings the
//! synestra world up, and `down` stops it leaving no process behind.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Processes whose command line or environment names `dir` (the control plane's and the
/// world's name it in their arguments, Pods' containers in `CNPGOPS_SANDBOX_POD`).
fn processes_under(dir: &Path) -> String {
    let needle = dir.to_str().unwrap().as_bytes();
    let me = std::process::id().to_string();
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let hit = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle);
        if hit(&cmdline) || hit(&environ) {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if stat.split_whitespace().nth(2) == Some("Z") {
                continue;
            }
            found.push(format!(
                "{pid} {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found.join("\n")
}

/// SIGTERM at moments all through startup (control plane, node agent, scenario): each time
/// the sandbox exits and leaves no process behind.
#[test]
fn sigterm_at_any_moment_of_startup_leaves_nothing_running() {
    let bin = env!("CARGO_BIN_EXE_cnpgops-sandbox");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/synestra.yaml");
    for after_ms in [300u64, 1500, 4000, 8000, 14000, 30000] {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
        let mut up = Command::new(bin)
            .args(["up", "--dir"])
            .arg(dir.path())
            .arg("--scenario")
            .arg(&scenario)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        let ready = dir.path().join("ready").exists();
        // SAFETY: kill only sends a signal to our own child.
        unsafe {
            libc::kill(up.id() as i32, libc::SIGTERM);
        }
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = up.try_wait().unwrap() {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no exit within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut left = processes_under(dir.path());
        for _ in 0..50 {
            if left.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            left = processes_under(dir.path());
        }
        eprintln!(
            "SIGTERM {after_ms} ms after start (ready: {ready}): exit {status} in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
        assert!(
            left.is_empty(),
            "SIGTERM {after_ms} ms after start left:\n{left}\n{}",
            std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default()
        );
    }
}

#[test]
fn up_with_the_synestra_scenario_then_down_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_cnpgops-sandbox");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/synestra.yaml");
    let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
    let t0 = Instant::now();
    let mut up = Command::new(bin)
        .args(["up", "--dir"])
        .arg(dir.path())
        .arg("--scenario")
        .arg(&scenario)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    while !dir.path().join("ready").exists() {
        assert!(
            up.try_wait().unwrap().is_none(),
            "sandbox exited: {}",
            std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default()
        );
        assert!(t0.elapsed() < Duration::from_secs(360), "not ready in 360s");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "synestra scenario ready in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert!(state["api"]
        .as_str()
        .unwrap()
        .starts_with("https://10.244.1."));
    assert!(
        !processes_under(dir.path()).is_empty(),
        "the world's servers run under the sandbox dir"
    );

    // `down` polls the pid until it is gone: reap `up` meanwhile, or it stays a zombie.
    let path = dir.path().to_path_buf();
    let down = std::thread::spawn(move || {
        Command::new(bin)
            .args(["down", "--dir"])
            .arg(path)
            .output()
            .unwrap()
    });
    let status = up.wait().unwrap();
    let down = down.join().unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(status.success(), "up exits cleanly on SIGTERM");
    let left = processes_under(dir.path());
    assert!(left.is_empty(), "processes left behind:\n{left}");
}
