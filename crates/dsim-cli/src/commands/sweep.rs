//! `dsim sweep`: many seeds in parallel, a progress bar, a resumable journal, and a
//! table sorted by seed.

use crate::cli::SweepArgs;
use crate::exit;
use crate::output::{Printer, thousands};
use anyhow::{Context, bail};
use dsim_core::RunResult;
use dsim_report::sweep::{SweepStats, SweepTable, write_sweep_report};
use dsim_report::{RunMeta, Summary};
use dsim_scenario::nemesis::SwarmDraw;
use dsim_scenario::sweep::{
    Journal, SWEEP_FILE, SeedPlan, SeedRange, Shard, SweepRow, run_seeds, write_table,
};
use dsim_scenario::{Registry, Scenario, replay_command, shell_quote};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The column that holds the seed in every sweep table.
pub const SEED_COLUMN: &str = "seed";

/// Applies this seed's swarm draw to the scenario's nemesis; refuses scenarios without
/// a `[nemesis]` table.
pub fn apply_swarm(scenario: &mut Scenario) -> anyhow::Result<SwarmDraw> {
    let seed = scenario.seed;
    let Some(nemesis) = scenario.nemesis.as_mut() else {
        bail!(
            "--swarm draws the nemesis knobs per seed, but {} has no [nemesis] table",
            scenario.path.display()
        );
    };
    let draw = SwarmDraw::draw(seed, &nemesis.faults);
    draw.apply(nemesis);
    Ok(draw)
}

/// The replay command of one seed of a sweep.
pub fn seed_replay(scenario: &Scenario, swarm: bool) -> String {
    let mut command = replay_command(scenario);
    if swarm {
        command.push_str(" --swarm");
    }
    command
}

/// The command that replays any seed of a sweep of the scenario at `path` with the
/// `--set` flags `set`, without its `--seed N` (and without `--swarm`): the sweep
/// report appends both per failing seed.
pub fn replay_prefix(path: &Path, set: &[String]) -> String {
    let mut command = format!("dsim run {}", shell_quote(&path.display().to_string()));
    for flag in set {
        command.push_str(" --set ");
        command.push_str(&shell_quote(flag));
    }
    command
}

/// A sweep row: the summary columns, the first violation, and the swarm draw.
pub fn sweep_row(scenario: &Scenario, result: &RunResult, swarm: Option<&SwarmDraw>) -> SweepRow {
    let meta = RunMeta {
        scenario: scenario.name.clone(),
        protocol: scenario.kind.clone(),
        variant: scenario.variant.clone(),
        seed: scenario.seed,
        replay_command: seed_replay(scenario, swarm.is_some()),
        scenario_toml: String::new(),
        duration_ns: scenario.duration.as_nanos(),
    };
    let summary = Summary::from_run(&meta, result);
    let mut header = summary.header();
    let mut values = summary.values();
    let first = result.verdict.violations.first();
    header.push("first_violation_check".into());
    values.push(first.map_or(String::new(), |v| v.check.to_string()));
    header.push("first_violation_ns".into());
    values.push(first.map_or(String::new(), |v| v.time.as_nanos().to_string()));
    if let Some(draw) = swarm {
        header.push("swarm_faults".into());
        values.push(draw.faults_label());
        header.push("swarm_every_scale_percent".into());
        values.push(draw.every_scale_percent.to_string());
    }
    SweepRow {
        seed: scenario.seed,
        header,
        values,
        violated: !result.verdict.violations.is_empty(),
    }
}

/// What identifies a sweep in its folder: the scenario and the flags that shape runs.
pub fn identity(path: &Path, set: &[String], swarm: bool) -> String {
    format!(
        "scenario: {}\nset: {}\nswarm: {swarm}",
        path.display(),
        set.join(" ")
    )
}

/// Everything a sweep needs, shared by `sweep` and `compare`.
pub struct SweepJob<'a> {
    /// The scenario (seed replaced per row).
    pub scenario: &'a Scenario,
    /// The seeds this machine runs.
    pub seeds: Vec<u64>,
    /// Worker threads.
    pub jobs: usize,
    /// Output folder.
    pub out: PathBuf,
    /// Swarm testing on.
    pub swarm: bool,
    /// `--set` flags, for the identity and replay commands.
    pub set: &'a [String],
}

/// Runs a sweep into its folder and writes sweep.csv and the sweep report; returns the
/// table of this sweep's seeds.
pub fn execute(
    job: &SweepJob<'_>,
    registry: &Registry,
    printer: &Printer,
    quiet: bool,
) -> anyhow::Result<SweepTable> {
    let mut journal = Journal::open(&job.out, &identity(&job.scenario.path, job.set, job.swarm))?;
    let done = journal.rows().len();
    let total = job.seeds.len() as u64;
    let progress = Progress::new(total, quiet);
    if done > 0 {
        printer.line(format!(
            "resuming {}: {} rows already in the journal",
            job.out.display(),
            done
        ));
    }
    let seed_index = journal
        .header()
        .and_then(|h| h.iter().position(|c| c == SEED_COLUMN))
        .unwrap_or(3);
    let already: std::collections::BTreeSet<u64> = journal
        .rows()
        .iter()
        .filter_map(|row| row.get(seed_index)?.parse().ok())
        .collect();
    progress.advance(
        job.seeds.iter().filter(|s| already.contains(s)).count() as u64,
        0,
    );
    let failing = Mutex::new(0u64);
    let swarm = job.swarm;
    let plan = SeedPlan {
        scenario: job.scenario,
        seeds: &job.seeds,
        jobs: job.jobs,
        seed_column: seed_index,
    };
    run_seeds(
        registry,
        &plan,
        &mut journal,
        |scenario| {
            if swarm {
                apply_swarm(scenario).expect("swarm availability was checked before the sweep");
            }
        },
        |scenario, result| {
            let draw = swarm.then(|| {
                SwarmDraw::draw(
                    scenario.seed,
                    &job.scenario.nemesis.as_ref().expect("checked").faults,
                )
            });
            sweep_row(scenario, result, draw.as_ref())
        },
        |row| {
            let mut failing = failing.lock().expect("counter lock");
            if row.violated {
                *failing += 1;
                let mut seeded = job.scenario.clone();
                seeded.seed = row.seed;
                progress.println(format!(
                    "FAIL seed {}: replay with  {}",
                    row.seed,
                    seed_replay(&seeded, swarm)
                ));
            }
            progress.advance(1, *failing);
        },
    )?;
    progress.finish();
    let header = journal
        .header()
        .map(<[String]>::to_vec)
        .context("the sweep produced no rows")?;
    let seed_index = header
        .iter()
        .position(|c| c == SEED_COLUMN)
        .context("no seed column")?;
    let wanted: std::collections::BTreeSet<u64> = job.seeds.iter().copied().collect();
    let rows: Vec<Vec<String>> = journal
        .into_rows()?
        .into_iter()
        .filter(|row| {
            row.get(seed_index)
                .and_then(|s| s.parse().ok())
                .is_some_and(|s| wanted.contains(&s))
        })
        .collect();
    let rows = write_table(&job.out.join(SWEEP_FILE), &header, rows, seed_index)?;
    let table = SweepTable::new(header, rows);
    write_sweep_report(
        &job.out,
        &job.scenario.name,
        &table,
        &replay_prefix(&job.scenario.path, job.set),
    )
    .context("writing the sweep report failed")?;
    Ok(table)
}

/// `dsim sweep`.
pub fn sweep(args: SweepArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    let scenario = Scenario::load_with_limit(
        &args.scenario.scenario,
        &args.scenario.set,
        registry,
        args.scenario.work_limit(),
    )?;
    let range = SeedRange::parse(&args.seeds).map_err(anyhow::Error::msg)?;
    let shard = args
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if args.swarm && scenario.nemesis.is_none() {
        bail!(
            "--swarm draws the nemesis knobs per seed, but {} has no [nemesis] table",
            scenario.path.display()
        );
    }
    let seeds = match shard {
        Some(shard) => shard.seeds(range),
        None => (range.first..=range.last).collect(),
    };
    let default_dir = match shard {
        Some(shard) => format!("sweep-shard-{}-of-{}", shard.index, shard.count),
        None => "sweep".to_string(),
    };
    let out = args
        .out
        .unwrap_or_else(|| Path::new("results").join(&scenario.name).join(default_dir));
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    printer.line(format!(
        "sweeping {} over {} seeds ({}..{}{}) on {jobs} threads into {}",
        scenario.name,
        thousands(seeds.len() as u64),
        range.first,
        range.last,
        shard.map_or(String::new(), |s| format!(
            ", shard {}/{}",
            s.index, s.count
        )),
        out.display()
    ));
    let job = SweepJob {
        scenario: &scenario,
        seeds,
        jobs,
        out: out.clone(),
        swarm: args.swarm,
        set: &args.scenario.set,
    };
    let table = execute(&job, registry, printer, printer.is_quiet())?;
    let stats = SweepStats::of(&table);
    printer.line(format!(
        "{} seeds, {} violated a check ({:.1}%); table {}",
        stats.seeds,
        stats.violating,
        stats.violation_rate * 100.0,
        out.join(SWEEP_FILE).display()
    ));
    printer.line(format!("report {}", out.join("sweep.html").display()));
    Ok(if stats.violating > 0 {
        exit::VIOLATION
    } else {
        exit::OK
    })
}

/// The number of cores, for `--jobs`.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A progress bar on a terminal; plain lines every 5% otherwise; nothing with --quiet.
struct Progress {
    bar: Option<ProgressBar>,
    plain: Option<Mutex<(u64, u64)>>,
    total: u64,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Progress {
        if quiet {
            return Progress {
                bar: None,
                plain: None,
                total,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} seeds  {per_sec}  eta {eta}  {msg}",
                )
                .expect("valid template"),
            );
            Progress {
                bar: Some(bar),
                plain: None,
                total,
            }
        } else {
            Progress {
                bar: None,
                plain: Some(Mutex::new((0, 0))),
                total,
            }
        }
    }

    fn advance(&self, by: u64, failing: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(by);
            bar.set_message(format!("{failing} failing"));
        }
        if let Some(plain) = &self.plain {
            let mut state = plain.lock().expect("progress lock");
            let before = state.0;
            state.0 += by;
            let step = (self.total / 20).max(1);
            if by > 0 && (state.0 / step != before / step || state.0 == self.total) {
                eprintln!("swept {}/{} seeds, {failing} failing", state.0, self.total);
            }
            state.1 = failing;
        }
    }

    fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
