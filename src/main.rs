//! The cnpgops binary: everything happens in [`cnpgops::entry::main_entry`].
fn main() -> std::process::ExitCode {
    cnpgops::entry::main_entry()
}
