//! `dsim shrink`: a failing run reduced to a minimal scenario file.

use crate::cli::ShrinkArgs;
use crate::commands::sweep::apply_swarm;
use crate::exit;
use crate::outdir::check_scenario_target;
use crate::output::Printer;
use crate::replay::{ReplayCommand, file_name, for_terminal, program_name};
use anyhow::Context;
use dsim_scenario::emit::emit;
use dsim_scenario::shrink::{ShrinkOutcome, shrink as shrink_scenario};
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
         After:  {} fault windows ({} entries), {} of virtual time, {} at {}/s ({} runs).\n\
         Kept: {}; the seed is the same ({}), so this file replays the failure as it is.",
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
        clients_after(&outcome),
        minimal.workload.rate_per_s,
        outcome.runs,
        kept(&outcome),
        minimal.seed,
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

/// The clients after shrinking: how many are active, of how many.
fn clients_after(outcome: &ShrinkOutcome) -> String {
    let workload = &outcome.scenario.workload;
    match &outcome.kept_clients {
        Some(kept) if kept.len() < workload.clients => {
            format!("{} of {} clients active", kept.len(), workload.clients)
        }
        _ => format!("{} clients", workload.clients),
    }
}

/// What the shrunk file keeps, in one line: faults, duration, clients (by node id) and
/// rate.
fn kept(outcome: &ShrinkOutcome) -> String {
    let minimal = &outcome.scenario;
    let faults = if minimal.faults.is_empty() {
        "no faults".to_string()
    } else {
        format!(
            "{} fault windows (the {} [[faults]] entries below)",
            outcome.windows,
            minimal.faults.len()
        )
    };
    let clients = match &outcome.kept_clients {
        None => format!(
            "{} clients (not nodes of this protocol)",
            minimal.workload.clients
        ),
        Some(kept) if kept.len() == minimal.workload.clients => {
            format!("all {} clients", minimal.workload.clients)
        }
        Some(kept) => {
            let nodes: Vec<String> = kept
                .iter()
                .take(16)
                .map(|client| (minimal.nodes + client).to_string())
                .collect();
            let more = if kept.len() > 16 { ", ..." } else { "" };
            format!(
                "clients at nodes [{}{more}] ({} of {}; the others stay as idle nodes with the same ids and random streams)",
                nodes.join(", "),
                kept.len(),
                minimal.workload.clients
            )
        }
    };
    format!(
        "{faults}; {} of virtual time; {clients}; rate {}/s",
        minimal.duration, minimal.workload.rate_per_s
    )
}
