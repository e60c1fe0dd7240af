//! `dsim sweep`: many seeds in parallel, a progress bar, a resumable journal, and a
//! table sorted by seed.

use crate::cli::SweepArgs;
use crate::exit;
use crate::outdir::{Marker, OutputKind, check_target, open_in_place};
use crate::output::{Printer, thousands};
use crate::replay::{ReplayCommand, file_name, for_terminal, program_name};
use anyhow::{Context, bail};
use dsim_core::RunResult;
use dsim_report::metrics::ok_latencies;
use dsim_report::sweep::{SweepStats, SweepTable, write_sweep_report};
use dsim_report::vary::{P999_COLUMN, p999_ns};
use dsim_report::{RunMeta, Summary};
use dsim_scenario::nemesis::SwarmDraw;
use dsim_scenario::sweep::{
    Journal, META_FILE, SWEEP_FILE, SeedPlan, SeedRange, SeedSet, Shard, SweepIdentity, SweepRow,
    run_seeds, write_table,
};
use dsim_scenario::{Registry, Scenario};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use dsim_scenario::sweep::SEED_COLUMN;

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

/// How a replay command shows the scenario path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// By its file name: for files, whose bytes must not depend on the current folder.
    InFiles,
    /// Relative to the current folder: for the terminal.
    OnTerminal,
}

/// The replay command of one seed of a sweep (or of a run), naming the running binary.
pub fn seed_replay(scenario: &Scenario, swarm: bool, shown: Shown) -> String {
    let path = match shown {
        Shown::InFiles => file_name(&scenario.path),
        Shown::OnTerminal => for_terminal(&scenario.path),
    };
    ReplayCommand {
        scenario: &path,
        seed: Some(scenario.seed),
        set: &scenario.overrides,
        swarm,
    }
    .render(&program_name())
}

/// The command that replays any seed of a sweep (of the scenario file named in its
/// identity, with its `--set` flags), without its `--seed N` (and without `--swarm`):
/// the sweep report appends both per failing seed.
pub fn replay_prefix(identity: &SweepIdentity) -> String {
    ReplayCommand {
        scenario: &identity.scenario_file,
        seed: None,
        set: &identity.set,
        swarm: false,
    }
    .render(&program_name())
}

/// A sweep row: the summary columns, the first violation, the swarm draw, and the
/// 99.9th percentile latency of ok operations (`latency_p999_ns`).
pub fn sweep_row(scenario: &Scenario, result: &RunResult, swarm: Option<&SwarmDraw>) -> SweepRow {
    let meta = RunMeta {
        scenario: scenario.name.clone(),
        protocol: scenario.kind.clone(),
        variant: scenario.variant.clone(),
        seed: scenario.seed,
        replay_command: seed_replay(scenario, swarm.is_some(), Shown::InFiles),
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
    // Last, so every earlier column keeps its place: load sweeps read the tail latency.
    header.push(P999_COLUMN.into());
    values
        .push(p999_ns(&ok_latencies(&result.output.ops)).map_or(String::new(), |v| v.to_string()));
    SweepRow {
        seed: scenario.seed,
        header,
        values,
        violated: !result.verdict.violations.is_empty(),
    }
}

/// Everything a sweep needs, shared by `sweep` and `compare`.
pub struct SweepJob<'a> {
    /// The scenario (seed replaced per row).
    pub scenario: &'a Scenario,
    /// The seeds this machine runs.
    pub seeds: SeedSet,
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
/// table of this sweep's seeds, or `None` for a shard without seeds (whose folder then
/// holds only its marker, identity and an empty journal, so that `dsim merge` sees it).
pub fn execute(
    job: &SweepJob<'_>,
    registry: &Registry,
    printer: &Printer,
    quiet: bool,
) -> anyhow::Result<Option<SweepTable>> {
    if Marker::read(&job.out).is_none() && job.out.join(META_FILE).is_file() {
        bail!(
            "{} is a sweep folder of an older dsim (no .dsim-output marker; its {META_FILE} records no digest of the scenario, so a resume could mix two experiments); finish it with the dsim that started it, or use another --out",
            job.out.display()
        );
    }
    check_target(&job.out, OutputKind::Sweep, &[&job.scenario.path])?;
    open_in_place(
        &job.out,
        &Marker::new(OutputKind::Sweep, &job.scenario.name),
    )?;
    let identity = SweepIdentity::of(job.scenario, job.swarm, job.seeds);
    let mut journal = Journal::open(&job.out, &identity)?;
    if job.seeds.is_empty() {
        return Ok(None);
    }
    let done = journal.rows().len() as u64;
    let total = u64::try_from(job.seeds.len()).unwrap_or(u64::MAX);
    let progress = Progress::new(total, quiet);
    if done > 0 {
        printer.line(format!(
            "resuming {}: {} rows already in the journal",
            for_terminal(&job.out),
            done
        ));
    }
    let seed_index = journal
        .header()
        .and_then(|h| h.iter().position(|c| c == SEED_COLUMN))
        .unwrap_or(3);
    // Every resumed row is one of this sweep's seeds (the journal checks it).
    progress.advance(done, 0);
    let failing = Mutex::new(0u64);
    let swarm = job.swarm;
    let plan = SeedPlan {
        scenario: job.scenario,
        seeds: job.seeds,
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
                    seed_replay(&seeded, swarm, Shown::OnTerminal)
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
    let rows = journal.into_rows()?;
    let rows = write_table(&job.out.join(SWEEP_FILE), &header, rows, seed_index)?;
    let table = SweepTable::new(header, rows);
    write_sweep_report(
        &job.out,
        &job.scenario.name,
        &table,
        &replay_prefix(&identity),
    )
    .context("writing the sweep report failed")?;
    Ok(Some(table))
}

/// `dsim sweep`.
pub fn sweep(args: SweepArgs, registry: &Registry, printer: &Printer) -> anyhow::Result<u8> {
    if args.vary.is_some() {
        return crate::commands::vary::vary(args, registry, printer);
    }
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
    let seeds = SeedSet { range, shard };
    seeds.check_size().map_err(anyhow::Error::msg)?;
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
        thousands(u64::try_from(seeds.len()).unwrap_or(u64::MAX)),
        range.first,
        range.last,
        shard.map_or(String::new(), |s| format!(
            ", shard {}/{}",
            s.index, s.count
        )),
        for_terminal(&out)
    ));
    let job = SweepJob {
        scenario: &scenario,
        seeds,
        jobs,
        out: out.clone(),
        swarm: args.swarm,
        set: &args.scenario.set,
    };
    let Some(table) = execute(&job, registry, printer, printer.is_quiet())? else {
        printer.line(format!(
            "this shard has no seeds: --seeds {range} holds {} seeds, so shard {} gets none; wrote its empty folder {} (dsim merge accepts it)",
            range.len(),
            shard.map_or(String::new(), |s| s.to_string()),
            for_terminal(&out)
        ));
        return Ok(exit::OK);
    };
    let stats = SweepStats::of(&table);
    printer.line(format!(
        "{} seeds, {} violated a check ({:.1}%); table {}",
        stats.seeds,
        stats.violating,
        stats.violation_rate * 100.0,
        for_terminal(&out.join(SWEEP_FILE))
    ));
    printer.line(format!("report {}", for_terminal(&out.join("sweep.html"))));
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
            None => crate::output::print_line(&line),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
