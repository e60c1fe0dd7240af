//! One module per subcommand.

pub mod check;
pub mod compare;
pub mod goodput;
pub mod history;
pub mod list;
pub mod merge;
pub mod run;
pub mod shrink;
pub mod sweep;
pub mod vary;

use crate::cli::Command;
use crate::output::Printer;
use dsim_scenario::Registry;

/// Runs a parsed command; returns the exit code, or an error that means exit code 2.
pub fn dispatch(command: Command, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    match command {
        Command::Run(args) => run::run(args, registry, printer),
        Command::Check(args) => check::check(args, registry, printer),
        Command::List => list::list(registry, printer),
        Command::Sweep(args) => sweep::sweep(args, registry, printer),
        Command::Merge(args) => merge::merge(args, printer),
        Command::Compare(args) => compare::compare(args, registry, printer),
        Command::Goodput(args) => goodput::goodput(args, printer),
        Command::Shrink(args) => shrink::shrink(args, registry, printer),
        Command::History(args) => history::history(args, printer),
        Command::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            // Completions are for the binary that is running (a plug-in's own name).
            let program = crate::replay::program_name();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, program, &mut script);
            crate::output::print_bytes(&script);
            Ok(crate::exit::OK)
        }
    }
}
