//! `dsim check`: validate without running.

use crate::cli::CheckArgs;
use crate::exit;
use crate::output::Printer;
use dsim_scenario::{Registry, Scenario};

/// Validates the scenario and prints what it would run.
pub fn check(args: CheckArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let scenario = Scenario::load_with_limit(
        &args.scenario.scenario,
        &args.scenario.set,
        registry,
        args.scenario.work_limit(),
    )?;
    printer.line(format!(
        "ok: {} — {} ({}), {} replicas, {} nodes in all, {} faults, {} of virtual time, seed {}",
        scenario.name,
        scenario.kind,
        scenario.variant,
        scenario.nodes,
        scenario.total_nodes,
        scenario.faults.len()
            + scenario
                .drawn_faults
                .iter()
                .map(|entry| entry.count)
                .sum::<usize>(),
        scenario.duration,
        scenario.seed
    ));
    Ok(exit::OK)
}
