//! `dsim-register`: the full dsim CLI, with the ABD register plugged in as kind
//! `register` next to the built-in protocols.
//!
//!     cargo run -p dsim-example-register -- run examples/register/register.toml
//!     cargo run -p dsim-example-register -- sweep examples/register/register.toml \
//!         --seeds 1..50 --set protocol.variant=no-write-back

use std::process::ExitCode;

fn main() -> ExitCode {
    dsim_cli::main_with(dsim_register::registry())
}
