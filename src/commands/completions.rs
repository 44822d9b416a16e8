//! `cnpgops completions bash|zsh|fish|...`: print a shell completion script (clap_complete).

use clap::CommandFactory;

use super::Context;
use crate::cli::Cli;
use crate::error::Error;

pub(super) fn run(ctx: &Context, shell: clap_complete::Shell) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cnpgops", &mut script);
    ctx.print(&String::from_utf8_lossy(&script));
    Ok(())
}
