//! The cnpgops binary: parse the command line, run, map the result to an exit code.
fn main() -> std::process::ExitCode {
    cnpgops::main_entry()
}
