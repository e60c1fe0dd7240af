//! # dsim-cli: the `dsim` command
//!
//! Thin by design: parse flags, call dsim-scenario and dsim-report, print. Also a
//! library so that a crate with its own protocol can run the full CLI with that
//! protocol registered:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let mut registry = dsim_scenario::Registry::builtin();
//!     // registry.register(Box::new(my_protocol::MyProtocol));
//!     dsim_cli::main_with(registry)
//! }
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod exit;
mod logging;
pub mod outdir;
pub mod output;
pub mod replay;

use clap::Parser;
use dsim_scenario::Registry;
use std::process::ExitCode;

/// Parses the process arguments and runs the command with `registry`'s protocols.
pub fn main_with(registry: Registry) -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are not errors; everything else is a usage error.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    logging::init(cli.verbose, cli.quiet);
    let printer = output::Printer::new(cli.quiet);
    match commands::dispatch(cli.command, &registry, &printer) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}
