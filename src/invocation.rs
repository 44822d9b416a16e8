//! How the binary was invoked: as `cnpgops`, or as the kubectl plugin `kubectl-cnpgops`
//! (`kubectl cnpgops ...` runs `kubectl-cnpgops` found on PATH with the rest of the line).
//! The arguments are the same either way; only the name help and errors show differs.

use std::ffi::OsString;
use std::path::Path;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// The name to show for a program invoked as `argv0`: `kubectl cnpgops` for the plugin.
pub(crate) fn shown_name(argv0: Option<&OsString>) -> &'static str {
    let file = argv0
        .map(Path::new)
        .and_then(Path::file_name)
        .and_then(|f| f.to_str())
        .unwrap_or("cnpgops");
    let stem = file.strip_suffix(".exe").unwrap_or(file);
    if stem.starts_with("kubectl-") {
        "kubectl cnpgops"
    } else {
        "cnpgops"
    }
}

/// Parses the process's arguments (exits with clap's message and code on bad usage).
pub(crate) fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    let name = shown_name(args.first());
    let matches = Cli::command().bin_name(name).get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubectl_plugin_name_is_shown_as_kubectl_cnpgops() {
        let name = |s: &str| shown_name(Some(&OsString::from(s)));
        assert_eq!(name("/usr/local/bin/kubectl-cnpgops"), "kubectl cnpgops");
        assert_eq!(name("kubectl-cnpgops.exe"), "kubectl cnpgops");
        assert_eq!(name("/usr/bin/cnpgops"), "cnpgops");
        assert_eq!(name("./target/debug/cnpgops"), "cnpgops");
        assert_eq!(shown_name(None), "cnpgops");
    }
}
