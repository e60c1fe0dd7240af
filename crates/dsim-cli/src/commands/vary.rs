//! `dsim sweep --vary KEY=V1,V2,...`: a load sweep, one sub-sweep per value.
//!
//! Each value is a `--set KEY=V` on top of the other `--set` flags, and every value is
//! loaded and validated before anything is written. Value `i` sweeps the seeds into
//! its own folder `value-NN-<value>/` (an ordinary sweep folder: `sweep.csv`, its
//! journal, `sweep.meta` and `sweep.html`), so each value resumes, replays and reads
//! like any sweep; `vary.csv`, the load charts and `vary.html` are written around them.
//! The top folder's `vary.meta` records the key, the values, the seeds and the base
//! scenario, so a rerun with another list refuses to mix into it.

use crate::cli::SweepArgs;
use crate::commands::sweep::{SweepJob, default_jobs, execute};
use crate::exit;
use crate::outdir::{Marker, OutputKind, check_target, open_in_place};
use crate::output::{Printer, thousands};
use crate::replay::for_terminal;
use anyhow::{Context, bail};
use dsim_report::sweep::SweepStats;
use dsim_report::vary::{VaryPoint, write_vary_report};
use dsim_scenario::sweep::{
    SeedRange, SeedSet, VARY_META_FILE, VaryIdentity, VarySpec, scenario_digest, write_atomically,
};
use dsim_scenario::{Registry, Scenario};
use std::fs;
use std::path::Path;

/// The configured offered load of a scenario: its clients' total rate, when it has
/// clients and a rate.
fn configured_offered_per_s(scenario: &Scenario) -> Option<f64> {
    let workload = &scenario.workload;
    (workload.clients > 0 && workload.rate_per_s > 0.0 && workload.rate_per_s.is_finite())
        .then_some(workload.rate_per_s)
}

/// `dsim sweep ... --vary KEY=V1,V2,...`.
pub fn vary(args: SweepArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let flag = args.vary.as_deref().context("--vary is set")?;
    let spec = VarySpec::parse(flag)?;
    if args.shard.is_some() {
        bail!(
            "--shard cannot be combined with --vary: shard a load sweep by running one --vary value per machine instead"
        );
    }
    let limit = args.scenario.work_limit();
    let base =
        Scenario::load_with_limit(&args.scenario.scenario, &args.scenario.set, registry, limit)?;
    // Every value is loaded and validated before anything runs or is written.
    let mut scenarios = Vec::with_capacity(spec.values.len());
    for index in 0..spec.values.len() {
        let mut set = args.scenario.set.clone();
        set.push(spec.set_flag(index));
        let scenario = Scenario::load_with_limit(&args.scenario.scenario, &set, registry, limit)
            .map_err(|error| {
                anyhow::anyhow!(
                    "--vary {}: the value {:?} is refused: {error}",
                    spec.key,
                    spec.values[index]
                )
            })?;
        if args.swarm && scenario.nemesis.is_none() {
            bail!(
                "--swarm draws the nemesis knobs per seed, but {} has no [nemesis] table",
                scenario.path.display()
            );
        }
        scenarios.push((set, scenario));
    }
    let range = SeedRange::parse(&args.seeds).map_err(anyhow::Error::msg)?;
    let seeds = SeedSet { range, shard: None };
    seeds.check_size().map_err(anyhow::Error::msg)?;
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let out = args
        .out
        .unwrap_or_else(|| Path::new("results").join(&base.name).join("vary"));
    check_target(&out, OutputKind::Vary, &[&base.path])?;
    let identity = VaryIdentity {
        scenario_name: base.name.clone(),
        base_digest: scenario_digest(&base),
        seeds: range.to_string(),
        swarm: args.swarm,
        spec: spec.clone(),
    };
    let meta_path = out.join(VARY_META_FILE);
    if let Ok(text) = fs::read_to_string(&meta_path) {
        let changes = identity.changes_from(&text);
        if !changes.is_empty() {
            bail!(
                "{} holds another load sweep ({}); rerun the same command to resume it, or choose another --out",
                out.display(),
                changes.join("; ")
            );
        }
    }
    open_in_place(&out, &Marker::new(OutputKind::Vary, &base.name))?;
    write_atomically(&meta_path, identity.render().as_bytes())?;
    printer.line(format!(
        "load sweep of {} over {} values of {} x {} seeds ({range}) on {jobs} threads into {}",
        base.name,
        spec.values.len(),
        spec.key,
        thousands(u64::try_from(seeds.len()).unwrap_or(u64::MAX)),
        for_terminal(&out)
    ));
    let mut points = Vec::with_capacity(scenarios.len());
    let mut folders = Vec::with_capacity(scenarios.len());
    let mut violating = 0usize;
    for (index, (set, scenario)) in scenarios.iter().enumerate() {
        let folder = spec.folder(index);
        printer.line(format!("== {}", spec.set_flag(index)));
        let job = SweepJob {
            scenario,
            seeds,
            jobs,
            out: out.join(&folder),
            swarm: args.swarm,
            set,
        };
        let table = execute(&job, registry, printer, printer.is_quiet())?
            .context("a load sweep's seed range holds at least one seed")?;
        violating += SweepStats::of(&table).violating;
        points.push(VaryPoint {
            value: spec.values[index].clone(),
            configured_offered_per_s: configured_offered_per_s(scenario),
            table,
        });
        folders.push(folder);
    }
    write_vary_report(&out, &base.name, &spec.key, &points, &folders)
        .context("writing the load sweep report failed")?;
    printer.line(format!(
        "{} values swept; {} seed runs violated a check; table {}",
        points.len(),
        violating,
        for_terminal(&out.join("vary.csv"))
    ));
    printer.line(format!("report {}", for_terminal(&out.join("vary.html"))));
    Ok(if violating > 0 {
        exit::VIOLATION
    } else {
        exit::OK
    })
}
