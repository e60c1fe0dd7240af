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
            eprintln!("error: {}", error_text(&error));
            ExitCode::from(exit::USAGE)
        }
    }
}

/// An error and its causes, joined with `: `, each said once: a cause whose text the
/// message already ends with (an error type that prints its source in its own message)
/// is not repeated, so an OS error never reads
/// "Read-only file system (os error 30): Read-only file system (os error 30)".
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;
    use std::io;

    /// An error that prints its source in its own message and also returns it as its
    /// source, as `#[error("{path}: {source}")]` does.
    #[derive(Debug)]
    struct Echoing(io::Error);

    impl fmt::Display for Echoing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "out/sweep.csv: {}", self.0)
        }
    }

    impl std::error::Error for Echoing {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn os_errors_are_printed_once() {
        let os = io::Error::from_raw_os_error(30);
        let os_text = os.to_string();
        let error = anyhow::Error::new(Echoing(os)).context("writing the sweep failed");
        let text = error_text(&error);
        // Printed with `{:#}`, the OS error appeared twice in a row.
        assert_eq!(text.matches(&os_text).count(), 1, "{text}");
        assert_eq!(
            text,
            format!("writing the sweep failed: out/sweep.csv: {os_text}")
        );
        let plain = anyhow::Error::new(io::Error::from_raw_os_error(2)).context("cannot read x");
        assert!(error_text(&plain).starts_with("cannot read x: "));
    }
}
