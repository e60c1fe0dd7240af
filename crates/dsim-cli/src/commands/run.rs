//! `dsim run`: one scenario, one seed, one report folder.

use crate::cli::RunArgs;
use crate::commands::sweep::{Shown, seed_replay};
use crate::exit;
use crate::outdir::{Marker, OutputKind, Staging, check_scenario_target, check_target};
use crate::output::{Printer, human_ns, thousands};
use crate::replay::{file_name, for_terminal, program_name};
use anyhow::{Context, bail};
use dsim_core::progress::Progress;
use dsim_core::{RunResult, TraceWriter, fingerprint_hex};
use dsim_report::stream::StreamedOps;
use dsim_report::{Perf, RunMeta, Summary, write_streamed_run_report};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Runs one scenario and writes its report folder atomically.
pub fn run(args: RunArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let mut scenario = Scenario::load_with_limit(
        &args.scenario.scenario,
        &args.scenario.set,
        registry,
        args.scenario.work_limit(),
    )?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if args.swarm {
        crate::commands::sweep::apply_swarm(&mut scenario)?;
    }
    let out = args.out.unwrap_or_else(|| default_out_dir(&scenario));
    let mut inputs: Vec<&Path> = vec![&args.scenario.scenario];
    inputs.extend(args.emit_scenario.as_deref());
    check_target(&out, OutputKind::Run, &inputs)?;
    if let Some(path) = &args.emit_scenario {
        check_scenario_target(path, "--emit-scenario", &[&args.scenario.scenario])?;
        let header = format!(
            "The concrete scenario of {} with seed {}, written by `{} run --emit-scenario`:\nevery nemesis fault and drawn `count`/`among` entry written out node by node. Running it gives the same fingerprint as the original run.",
            file_name(&scenario.path),
            scenario.seed,
            program_name()
        );
        let text =
            dsim_scenario::emit::emit(&scenario, &scenario.concrete_faults(), false, &header);
        dsim_scenario::sweep::write_atomically(path, text.as_bytes())?;
        tracing::info!(path = %path.display(), "wrote the concrete scenario");
    }
    let staging = Staging::create(&out, &Marker::new(OutputKind::Run, &scenario.name))?;
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
    // ops.csv and history.edn are written as the run pairs each operation, not held to
    // the end; an error exit drops them (their temporary files with them).
    let streamed = StreamedOps::create(&staging.dir, scenario.total_nodes)
        .context("cannot start writing the run's operations")?;
    options.ops_sink = Some(streamed.sink());
    let watcher = ProgressWatcher::new(printer.is_quiet());
    let hook = watcher.hook();
    let wall_seconds = wall_time(|| {
        dsim_core::progress::watch(hook, || run_scenario(registry, &scenario, options))
    });
    watcher.finish();
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
        replay_command: seed_replay(&scenario, args.swarm, Shown::InFiles),
        scenario_toml: scenario.text.clone(),
        duration_ns: scenario.duration.as_nanos(),
    };
    tracing::info!(wall_seconds, "writing the report");
    write_streamed_run_report(
        &staging.dir,
        &meta,
        &result,
        &Perf { wall_seconds },
        streamed,
    )
    .context("writing the report failed")?;
    staging.commit()?;

    let replay = seed_replay(&scenario, args.swarm, Shown::OnTerminal);
    let summary = Summary::from_run(&meta, &result);
    print_summary(
        printer,
        &scenario,
        &summary,
        &replay,
        &result,
        wall_seconds,
        &out,
    );
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

/// Wall seconds before a run shows its progress bar.
const BAR_AFTER_SECONDS: f64 = 2.0;
/// Wall seconds between two `-v` progress lines.
const LOG_EVERY_SECONDS: f64 = 5.0;

/// Shows a run's progress (virtual time, events, events per wall second): a bar on a
/// terminal once the run has taken [`BAR_AFTER_SECONDS`], and with `-v` a log line
/// every [`LOG_EVERY_SECONDS`]; nothing otherwise. It is fed by the engine's
/// virtual-time checkpoints, which are the same with or without it.
struct ProgressWatcher {
    state: std::rc::Rc<std::cell::RefCell<WatchState>>,
}

struct WatchState {
    start: std::time::Instant,
    terminal: bool,
    bar: Option<ProgressBar>,
    logged_at: f64,
}

impl ProgressWatcher {
    #[allow(clippy::disallowed_methods)] // wall clock for display only, never the run
    fn new(quiet: bool) -> ProgressWatcher {
        ProgressWatcher {
            state: std::rc::Rc::new(std::cell::RefCell::new(WatchState {
                start: std::time::Instant::now(),
                terminal: !quiet && std::io::stderr().is_terminal(),
                bar: None,
                logged_at: 0.0,
            })),
        }
    }

    fn hook(&self) -> impl FnMut(&Progress) + 'static {
        let state = self.state.clone();
        move |progress| state.borrow_mut().update(progress)
    }

    fn finish(&self) {
        if let Some(bar) = self.state.borrow_mut().bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl WatchState {
    fn update(&mut self, progress: &Progress) {
        let wall = self.start.elapsed().as_secs_f64();
        let events_per_s = if wall > 0.0 {
            (progress.events as f64 / wall) as u64
        } else {
            0
        };
        let text = format!(
            "virtual {} of {}, {} events, {} events/s",
            human_ns(progress.now.as_nanos()),
            human_ns(progress.end.as_nanos()),
            thousands(progress.events),
            thousands(events_per_s)
        );
        if self.terminal && wall >= BAR_AFTER_SECONDS {
            let bar = self.bar.get_or_insert_with(|| {
                let bar = ProgressBar::new(progress.end.as_nanos());
                bar.set_style(
                    ProgressStyle::with_template("{bar:40} {msg}").expect("valid template"),
                );
                bar
            });
            bar.set_position(progress.now.as_nanos());
            bar.set_message(text.clone());
        }
        if wall - self.logged_at >= LOG_EVERY_SECONDS {
            self.logged_at = wall;
            let line = text;
            match &self.bar {
                Some(bar) => bar.suspend(|| tracing::info!("{line}")),
                None => tracing::info!("{line}"),
            }
        }
    }
}

fn print_summary(
    printer: &Printer,
    scenario: &Scenario,
    summary: &Summary,
    replay: &str,
    result: &RunResult,
    wall_seconds: f64,
    out: &Path,
) {
    let counters = result.output.counters;
    printer.line(replay);
    printer.line(format!(
        "  protocol     {} ({}), {} replicas, {} nodes in all",
        scenario.kind, scenario.variant, scenario.nodes, scenario.total_nodes
    ));
    for (entry, picked) in scenario.drawn_faults.iter().zip(scenario.drawn_picks()) {
        let ids: Vec<String> = picked.iter().map(|node| node.0.to_string()).collect();
        printer.line(format!(
            "  drawn        {} of {} among {} at {}: nodes {}",
            entry.action.name(),
            entry.count,
            entry.group,
            entry.at,
            ids.join(" ")
        ));
    }
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
        printer.always(format!("  replay       {replay}"));
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
        for_terminal(&out.join("report.html"))
    ));
}
