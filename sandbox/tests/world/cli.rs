//! The `cnpgops-sandbox` binary: `up --scenario sandbox/scenarios/synestra.yaml` brings the
//! synestra world up, and `down` stops it leaving no process behind.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn processes_under(dir: &Path) -> String {
    let out = Command::new("pgrep")
        .arg("-af")
        .arg(dir.to_str().unwrap())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .collect::<Vec<_>>()
        .join("\n")
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
        assert!(t0.elapsed() < Duration::from_secs(180), "not ready in 180s");
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
        .starts_with("https://127.11."));
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
