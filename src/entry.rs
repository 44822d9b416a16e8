//! The whole program as `main` runs it: parse the command line once, set up colours and
//! diagnostics, run the command on a runtime, print the error (redacted) and map the outcome to
//! a documented exit code.

use std::process::ExitCode;

use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::redact::Redactor;

/// Parses, runs, reports: what `main` returns.
pub fn main_entry() -> ExitCode {
    let cli = crate::invocation::parse();
    let redactor = Redactor::new();
    init_output(&cli.global, &redactor);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
        .and_then(|rt| rt.block_on(crate::commands::dispatch(cli, redactor.clone())));
    match result {
        Ok(()) => ExitCode::from(crate::error::exit::OK),
        Err(err) => ExitCode::from(crate::error::report(&err, &redactor)),
    }
}

/// Colours (`--no-color`, `$NO_COLOR`, a terminal) and tracing diagnostics (`-v`, `-q`,
/// `--log-format`), redacted like every other output.
fn init_output(global: &GlobalArgs, redactor: &Redactor) {
    let color = crate::ui::color_enabled(global.no_color);
    console::set_colors_enabled(color);
    console::set_colors_enabled_stderr(color);
    let log = crate::logging::LogOptions {
        verbose: global.verbose,
        quiet: global.quiet,
        format: global.log_format,
        color,
    };
    crate::logging::init(log, redactor.clone());
}
