//! The `dsim` binary with the built-in protocols.

use std::process::ExitCode;

fn main() -> ExitCode {
    dsim_cli::main_with(dsim_scenario::Registry::builtin())
}
