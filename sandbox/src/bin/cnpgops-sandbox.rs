//! `cnpgops-sandbox up --dir DIR [--port P]`: runs the sandbox until SIGTERM / SIGINT.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cnpgops-sandbox",
    about = "A local Kubernetes API server and CNPG world for testing cnpgops",
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
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let Command::Up { dir, port } = Cli::parse().command;
    let sandbox = cnpgops_sandbox::Sandbox::start(&dir, port).await?;
    eprintln!(
        "sandbox API at {} (kubeconfig: {})",
        sandbox.url,
        sandbox.kubeconfig_path().display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("sandbox stopping");
    sandbox.stop().await;
    Ok(())
}
