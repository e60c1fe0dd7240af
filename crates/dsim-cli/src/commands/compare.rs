//! `dsim compare`: the same seeds through several scenarios or variants, side by side.

use crate::cli::CompareArgs;
use crate::commands::sweep::{SweepJob, default_jobs, execute};
use crate::exit;
use crate::outdir::{Marker, OutputKind, check_target, open_in_place};
use crate::output::Printer;
use crate::replay::for_terminal;
use anyhow::{Context, bail};
use dsim_report::sweep::{SweepStats, write_comparison};
use dsim_scenario::sweep::{SeedRange, SeedSet};
use dsim_scenario::{Registry, Scenario};
use std::path::{Path, PathBuf};

/// Sweeps every (scenario, variant) pair over the same seeds and writes a comparison.
pub fn compare(args: CompareArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let range = SeedRange::parse(&args.seeds).map_err(anyhow::Error::msg)?;
    let seeds = SeedSet { range, shard: None };
    seeds.check_size().map_err(anyhow::Error::msg)?;
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if args.scenarios.len() < 2 && args.variants.len() < 2 {
        bail!("compare needs two scenario files or two --variant values");
    }
    let out = args
        .out
        .unwrap_or_else(|| Path::new("results").join("compare"));
    let inputs: Vec<&Path> = args.scenarios.iter().map(PathBuf::as_path).collect();
    check_target(&out, OutputKind::Compare, &inputs)?;
    let variants: Vec<Option<&String>> = if args.variants.is_empty() {
        vec![None]
    } else {
        args.variants.iter().map(Some).collect()
    };
    let mut compared = Vec::new();
    for path in &args.scenarios {
        for variant in &variants {
            let mut set = args.set.clone();
            if let Some(variant) = variant {
                set.push(format!("protocol.variant={variant}"));
            }
            let scenario = Scenario::load(path, &set, registry)?;
            let label = match variant {
                Some(_) if args.scenarios.len() == 1 => scenario.variant.clone(),
                _ => format!("{}/{}", scenario.name, scenario.variant),
            };
            if compared.is_empty() {
                open_in_place(&out, &Marker::new(OutputKind::Compare, &scenario.name))?;
            }
            let folder = label.replace(['/', ' '], "_");
            printer.line(format!("== {label}"));
            let job = SweepJob {
                scenario: &scenario,
                seeds,
                jobs,
                out: out.join(folder),
                swarm: false,
                set: &set,
            };
            let table = execute(&job, registry, printer, printer.is_quiet())?
                .context("a comparison's seed range holds at least one seed")?;
            compared.push((label, SweepStats::of(&table)));
        }
    }
    let files = write_comparison(&out, &compared)?;
    printer.line(format!(
        "{:<32} {:>9} {:>10} {:>14} {:>14} {:>12}",
        "label", "seeds", "violating", "p50 median ns", "p99 median ns", "formula mean"
    ));
    for (label, stats) in &compared {
        printer.line(format!(
            "{:<32} {:>9} {:>9.1}% {:>14} {:>14} {:>12}",
            label,
            stats.seeds,
            stats.violation_rate * 100.0,
            stats.median_p50_ns().map_or("-".into(), |v| v.to_string()),
            stats.median_p99_ns().map_or("-".into(), |v| v.to_string()),
            stats
                .mean_formula()
                .map_or("-".into(), |v| format!("{v:.3}")),
        ));
    }
    for file in files {
        printer.line(format!("wrote {}", for_terminal(&file)));
    }
    Ok(if compared.iter().any(|(_, s)| s.violating > 0) {
        exit::VIOLATION
    } else {
        exit::OK
    })
}
