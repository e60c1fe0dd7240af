//! `dsim run`: one scenario, one seed, one report folder.

use crate::cli::RunArgs;
use crate::exit;
use crate::output::{Printer, human_ns, thousands};
use anyhow::{Context, bail};
use dsim_core::{RunResult, TraceWriter, fingerprint_hex};
use dsim_report::{Perf, RunMeta, Summary, write_run_report};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::fs;
use std::path::{Path, PathBuf};

/// Runs one scenario and writes its report folder atomically.
pub fn run(args: RunArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let mut scenario = Scenario::load(&args.scenario.scenario, &args.scenario.set, registry)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if args.swarm {
        crate::commands::sweep::apply_swarm(&mut scenario)?;
    }
    if let Some(path) = &args.emit_scenario {
        let header = format!(
            "The concrete scenario of {} with seed {}: every nemesis fault written out.\nRunning it gives the same fingerprint as the original run.",
            scenario.path.display(),
            scenario.seed
        );
        let text =
            dsim_scenario::emit::emit(&scenario, &scenario.concrete_faults(), false, &header);
        dsim_scenario::sweep::write_atomically(path, text.as_bytes())?;
        tracing::info!(path = %path.display(), "wrote the concrete scenario");
    }
    let out = args.out.unwrap_or_else(|| default_out_dir(&scenario));
    let staging = Staging::create(&out)?;
    tracing::info!(
        scenario = %scenario.name,
        seed = scenario.seed,
        protocol = %scenario.kind,
        variant = %scenario.variant,
        nodes = scenario.total_nodes,
        "running"
    );
    for fault in scenario.concrete_faults() {
        tracing::debug!(at = %fault.at, fault = ?fault.fault, "scheduled fault");
    }

    let mut options = RunOptions {
        message_log_limit: Some(dsim_report::explorer::MESSAGE_LOG_MAX),
        ..RunOptions::default()
    };
    if args.trace {
        let path = staging.dir.join("trace.csv");
        let file = fs::File::create(&path)
            .with_context(|| format!("cannot create the trace file {}", path.display()))?;
        options.trace = Some(TraceWriter::new(Box::new(file)));
    }
    let wall_seconds = wall_time(|| run_scenario(registry, &scenario, options));
    let (result, wall_seconds) = wall_seconds;
    let result = result.with_context(|| {
        format!(
            "the run of {} could not be carried out",
            scenario.path.display()
        )
    })?;
    if let Some(error) = &result.trace_error {
        bail!("writing trace.csv failed: {error}");
    }

    let meta = RunMeta {
        scenario: scenario.name.clone(),
        protocol: scenario.kind.clone(),
        variant: scenario.variant.clone(),
        seed: scenario.seed,
        replay_command: crate::commands::sweep::seed_replay(&scenario, args.swarm),
        scenario_toml: scenario.text.clone(),
        duration_ns: scenario.duration.as_nanos(),
    };
    tracing::info!(wall_seconds, "writing the report");
    write_run_report(&staging.dir, &meta, &result, &Perf { wall_seconds })
        .context("writing the report failed")?;
    staging.commit()?;

    print_summary(printer, &scenario, &meta, &result, wall_seconds, &out);
    Ok(if result.verdict.violations.is_empty() {
        exit::OK
    } else {
        exit::VIOLATION
    })
}

/// `results/<scenario name>/seed-<N>/`.
pub fn default_out_dir(scenario: &Scenario) -> PathBuf {
    Path::new("results")
        .join(&scenario.name)
        .join(format!("seed-{}", scenario.seed))
}

/// Wall-clock time of `work`, for perf.csv only (never shapes a run).
#[allow(clippy::disallowed_methods)]
fn wall_time<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let start = std::time::Instant::now();
    let value = work();
    (value, start.elapsed().as_secs_f64())
}

/// A hidden sibling folder the run writes into; renamed over the output folder only
/// when everything is written, so a failed run never leaves a half-written folder.
struct Staging {
    dir: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(target: &Path) -> anyhow::Result<Staging> {
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a folder name", target.display()))?
            .to_string_lossy()
            .into_owned();
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if target.exists() && !is_run_folder(target) {
            bail!(
                "{} exists and is not a dsim run folder (no summary.csv); choose another --out",
                target.display()
            );
        }
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the output folder {}", parent.display()))?;
        let dir = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        fs::create_dir(&dir)
            .with_context(|| format!("cannot write in the output folder {}", parent.display()))?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    fn commit(mut self) -> anyhow::Result<()> {
        if self.target.exists() {
            fs::remove_dir_all(&self.target)
                .with_context(|| format!("cannot replace {}", self.target.display()))?;
        }
        fs::rename(&self.dir, &self.target)
            .with_context(|| format!("cannot move the report into {}", self.target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn is_run_folder(path: &Path) -> bool {
    path.is_dir()
        && (path.join("summary.csv").is_file()
            || fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none()))
}

fn print_summary(
    printer: &Printer,
    scenario: &Scenario,
    meta: &RunMeta,
    result: &RunResult,
    wall_seconds: f64,
    out: &Path,
) {
    let summary = Summary::from_run(meta, result);
    let counters = result.output.counters;
    printer.line(&meta.replay_command);
    printer.line(format!(
        "  protocol     {} ({}), {} replicas, {} nodes in all",
        scenario.kind, scenario.variant, scenario.nodes, scenario.total_nodes
    ));
    printer.line(format!(
        "  virtual      {} simulated, {} events",
        human_ns(summary.virtual_time_ns),
        thousands(counters.events)
    ));
    printer.line(format!(
        "  messages     {} sent, {} delivered, {} dropped, {} duplicated",
        thousands(counters.messages_sent),
        thousands(counters.messages_delivered),
        thousands(counters.messages_dropped),
        thousands(counters.messages_duplicated)
    ));
    let latency = |value: Option<u64>| value.map_or("-".to_string(), human_ns);
    printer.line(format!(
        "  operations   {} ok, {} failed, {} unfinished; latency mean {} p50 {} p99 {}",
        thousands(summary.ops_ok),
        thousands(summary.ops_failed),
        thousands(summary.ops_unfinished),
        latency(summary.latency.mean_ns),
        latency(summary.latency.p50_ns),
        latency(summary.latency.p99_ns)
    ));
    printer.line(format!(
        "  formula      {} = {}   agreement {:.6}",
        summary.formula, summary.formula_value, summary.agreement
    ));
    for (name, value) in &summary.extra_columns {
        printer.line(format!("  {name:<12} {value}"));
    }
    let violations = &result.verdict.violations;
    if violations.is_empty() {
        printer.line("  checks       all held");
    } else {
        printer.always(format!("  checks       {} VIOLATION(S)", violations.len()));
        for violation in violations.iter().take(10) {
            let nodes: Vec<String> = violation.nodes.iter().map(|n| n.to_string()).collect();
            printer.always(format!(
                "    {} at {} on [{}]: {}",
                violation.check,
                violation.time,
                nodes.join(" "),
                violation.details
            ));
        }
        if violations.len() > 10 {
            printer.always(format!(
                "    ... and {} more in violations.csv",
                violations.len() - 10
            ));
        }
        printer.always(format!("  replay       {}", meta.replay_command));
    }
    printer.line(format!(
        "  fingerprint  {}",
        fingerprint_hex(result.output.fingerprint)
    ));
    let events_per_second = if wall_seconds > 0.0 {
        counters.events as f64 / wall_seconds
    } else {
        0.0
    };
    printer.line(format!(
        "  wall         {wall_seconds:.3}s ({} events/s)",
        thousands(events_per_second as u64)
    ));
    printer.line(format!(
        "  report       {}",
        out.join("report.html").display()
    ));
}
