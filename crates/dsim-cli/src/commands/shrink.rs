//! `dsim shrink`: a failing run reduced to a minimal scenario file.

use crate::cli::ShrinkArgs;
use crate::commands::sweep::apply_swarm;
use crate::exit;
use crate::outdir::check_scenario_target;
use crate::output::Printer;
use crate::replay::{ReplayCommand, file_name, for_terminal, program_name};
use anyhow::Context;
use dsim_scenario::emit::emit;
use dsim_scenario::shrink::shrink as shrink_scenario;
use dsim_scenario::sweep::write_atomically;
use dsim_scenario::{Registry, Scenario};

/// Shrinks the run and writes the minimal scenario with a comment header.
pub fn shrink(args: ShrinkArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let mut scenario = Scenario::load_with_limit(
        &args.scenario.scenario,
        &args.scenario.set,
        registry,
        args.scenario.work_limit(),
    )?;
    check_scenario_target(&args.out, "--out", &[&args.scenario.scenario])?;
    scenario.seed = args.seed;
    if args.swarm {
        apply_swarm(&mut scenario)?;
    }
    printer.line(format!(
        "shrinking {} seed {}",
        scenario.name, scenario.seed
    ));
    let outcome = shrink_scenario(registry, &scenario, &mut |step| {
        printer.line(format!("  {step}"))
    })?;
    let minimal = &outcome.scenario;
    let header = format!(
        "Shrunk by `{} shrink` from {} (seed {}{}).\n\
         Failing check: {}\n\
         Before: {} fault windows ({} entries), {} of virtual time, {} clients at {}/s.\n\
         After:  {} fault windows ({} entries), {} of virtual time, {} clients at {}/s ({} runs).",
        program_name(),
        file_name(&scenario.path),
        scenario.seed,
        if args.scenario.set.is_empty() {
            String::new()
        } else {
            format!(", --set {}", args.scenario.set.join(" --set "))
        },
        outcome.check,
        outcome.original_windows,
        outcome.original_faults,
        outcome.original_duration,
        outcome.original_workload.clients,
        outcome.original_workload.rate_per_s,
        outcome.windows,
        minimal.faults.len(),
        minimal.duration,
        minimal.workload.clients,
        minimal.workload.rate_per_s,
        outcome.runs,
    );
    let text = emit(minimal, &minimal.faults, false, &header);
    // The written file must read back to a scenario that still fails.
    let reread = Scenario::from_text(&args.out, &text, &[], registry)
        .context("the shrunk scenario does not read back; this is a bug in dsim")?;
    write_atomically(&args.out, text.as_bytes())?;
    printer.line(format!(
        "before: {} fault windows, {}   after: {} fault windows, {}   check: {}",
        outcome.original_windows,
        outcome.original_duration,
        outcome.windows,
        minimal.duration,
        outcome.check
    ));
    printer.line(format!("wrote {}", for_terminal(&args.out)));
    let shrunk = for_terminal(&args.out);
    let replay = ReplayCommand {
        scenario: &shrunk,
        seed: Some(reread.seed),
        set: &[],
        swarm: false,
    };
    printer.line(format!("replay: {}", replay.render(&program_name())));
    Ok(exit::OK)
}
