//! `cnpgops-sandbox up --dir DIR [--port P] [--scenario FILE]`: runs the sandbox until SIGTERM /
//! SIGINT; `cnpgops-sandbox down --dir DIR` stops the one running there.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cnpgops-sandbox",
    about = "A single-node Kubernetes (real control plane, node agent) and CNPG world for testing cnpgops",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the sandbox and serve until SIGTERM or SIGINT.
    Up {
        /// Directory for kubeconfig, state.json and data.
        #[arg(long)]
        dir: PathBuf,
        /// Port on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// YAML objects to create at start, waited for until ready.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// How long to wait for the scenario to be ready, in seconds.
        #[arg(long, default_value_t = 120)]
        ready_timeout: u64,
        /// Whether CloudNativePG runs: the real operator (1.30.0, from its release manifest,
        /// with the barman-cloud plugin v0.14.0), or none (plain Kubernetes and Argo CD).
        #[arg(long, value_enum, env = "CNPGOPS_SANDBOX_CNPG", default_value = "real")]
        cnpg: cnpgops_sandbox::server::Cnpg,
    },
    /// Stop the sandbox running in DIR (SIGTERM, then wait for it to exit).
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up {
            dir,
            port,
            scenario,
            ready_timeout,
            cnpg,
        } => up(dir, port, scenario, ready_timeout, cnpg).await,
        Command::Down { dir } => down(dir).await,
    }
}

/// SIGTERM or SIGINT.
async fn signalled(term: &mut tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn up(
    dir: PathBuf,
    port: u16,
    scenario: Option<PathBuf>,
    ready_timeout: u64,
    cnpg: cnpgops_sandbox::server::Cnpg,
) -> anyhow::Result<()> {
    // Signals are ours from the first moment: a SIGTERM during startup stops what has started.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let objects = scenario
        .as_deref()
        .map(cnpgops_sandbox::scenario::load)
        .transpose()?;
    std::fs::create_dir_all(&dir)?;
    let world = cnpgops_sandbox::world::World::new(&dir)?;
    let _ = port;
    let sandbox = tokio::select! {
        s = cnpgops_sandbox::Sandbox::start_with_cnpg(&dir, world.clone(), cnpg) => s?,
        _ = signalled(&mut term) => {
            eprintln!("sandbox: interrupted while starting; stopping what started");
            cnpgops_sandbox::server::abandon(&dir, &world).await;
            return Ok(());
        }
    };
    eprintln!(
        "sandbox API at {} (kubeconfig: {})",
        sandbox.url,
        sandbox.kubeconfig_path().display()
    );
    if let Some(objects) = objects {
        let count = objects.len();
        let ready = cnpgops_sandbox::scenario::up(
            &sandbox.api,
            &sandbox.world,
            objects,
            Duration::from_secs(ready_timeout),
        );
        let outcome = tokio::select! {
            r = ready => Some(r),
            _ = signalled(&mut term) => None,
        };
        match outcome {
            Some(Ok(took)) => eprintln!(
                "scenario ready: {count} objects in {:.1}s",
                took.as_secs_f64()
            ),
            Some(Err(e)) => {
                sandbox.stop().await;
                return Err(e);
            }
            None => {
                eprintln!("sandbox: interrupted while loading the scenario; stopping");
                sandbox.stop().await;
                return Ok(());
            }
        }
    }
    std::fs::write(dir.join("ready"), "")?;
    signalled(&mut term).await;
    eprintln!("sandbox stopping");
    let _ = std::fs::remove_file(dir.join("ready"));
    sandbox.stop().await;
    Ok(())
}

async fn down(dir: PathBuf) -> anyhow::Result<()> {
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("state.json"))
            .context("no state.json: is a sandbox running there?")?,
    )?;
    let pid = state["pid"].as_i64().context("state.json has no pid")? as i32;
    // SAFETY: kill only sends a signal.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        eprintln!("sandbox (pid {pid}) is not running");
        return Ok(());
    }
    for _ in 0..300 {
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            eprintln!("sandbox stopped");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("sandbox (pid {pid}) did not stop within 30s")
}
