//! The command line, as clap parses it (stage one: raw flags). Commands turn these into
//! validated plans through dsim-scenario.

// The doc comments here are the `--help` text users read, written as it should print
// (`[protocol]`, `results/<scenario name>/`), not as rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// dsim: a deterministic simulator for distributed protocols.
///
/// Every run is fully determined by its scenario file and seed: same inputs, same
/// event trace, same fingerprint, same output files.
#[derive(Debug, Parser)]
#[command(name = "dsim", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 all checks held; 1 an invariant was violated; 2 bad input or usage.\n\nStart with: dsim run scenarios/paxos-leader-crash.toml"
)]
pub struct Cli {
    /// More logging on stderr: -v for progress, -vv for details.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print only errors and violations (with their replay commands).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario with one seed, write its report and print a summary.
    Run(RunArgs),
    /// Validate a scenario file (and --set flags) without running it.
    Check(CheckArgs),
    /// List protocol kinds, their variants and their [protocol] keys with defaults.
    List,
    /// Run one scenario over many seeds in parallel: sweep.csv, charts, sweep.html.
    Sweep(SweepArgs),
    /// Join the folders of a sharded sweep into one, as if run on one machine.
    Merge(MergeArgs),
    /// Sweep several scenarios (or variants) over the same seeds and compare them.
    Compare(CompareArgs),
    /// Chart the goodput over time of several run folders on one chart.
    Goodput(GoodputArgs),
    /// Reduce a failing run to a minimal scenario that fails the same check.
    Shrink(ShrinkArgs),
    /// Check client histories: `dsim history check FILE --model NAME`.
    History(crate::commands::history::HistoryArgs),
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Flags shared by everything that reads a scenario.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Override a scenario field by its dotted path, e.g. --set protocol.variant=no-adopt
    /// or --set network.drop=0.05 (repeatable; validated like the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Accept a scenario whose up-front memory estimate is above the limit (4 GiB; see
    /// "Limits" in the README).
    #[arg(long)]
    pub force: bool,
}

impl ScenarioArgs {
    /// The work limit these flags ask for.
    pub fn work_limit(&self) -> dsim_scenario::WorkLimit {
        if self.force {
            dsim_scenario::WorkLimit::Lifted
        } else {
            dsim_scenario::WorkLimit::Enforced
        }
    }
}

/// `dsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario and its overrides.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Seed of the run (default: the scenario's `seed`, or 42).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: results/<scenario name>/seed-<N>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the full event trace as trace.csv in the output folder.
    #[arg(long)]
    pub trace: bool,
    /// Write the fully concrete scenario that ran (nemesis faults as explicit
    /// [[faults]]) to FILE; running that file gives the same fingerprint.
    #[arg(long, value_name = "FILE")]
    pub emit_scenario: Option<PathBuf>,
    /// Let the seed also draw the nemesis knobs (as `dsim sweep --swarm` does), so a
    /// failing swarm seed replays exactly.
    #[arg(long)]
    pub swarm: bool,
}

/// `dsim sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario and its overrides.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Seeds: A..B, both ends included (1..1000 is 1,000 seeds).
    #[arg(long, value_name = "A..B")]
    pub seeds: String,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "J")]
    pub jobs: Option<usize>,
    /// Run only shard I of N: the seeds whose index in the range mod N is I-1.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Output folder (default: results/<scenario name>/sweep/, or sweep-shard-I-of-N).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Swarm testing: each seed also draws which nemesis fault kinds are on and how often.
    #[arg(long)]
    pub swarm: bool,
    /// A load sweep: run the seeds once per value of KEY (each value a --set KEY=V on top
    /// of the other --set flags), e.g. --vary workload.rate=500/s,1000/s or
    /// --vary network.drop=0..0.1:0.02; writes vary.csv, load charts and vary.html.
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub vary: Option<String>,
}

/// `dsim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard folders written by `dsim sweep --shard`.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged sweep goes.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Merge even when seeds are missing (a shard not given or not finished); the
    /// merged folder lists them in missing-seeds.txt.
    #[arg(long)]
    pub allow_partial: bool,
}

/// `dsim compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenario files to compare (one file with several --variant compares variants).
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// A protocol variant to compare (repeatable); applies to every scenario.
    #[arg(long = "variant")]
    pub variants: Vec<String>,
    /// Seeds: A..B, both ends included (1..1000 is 1,000 seeds).
    #[arg(long, value_name = "A..B")]
    pub seeds: String,
    /// Override a field in every scenario (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "J")]
    pub jobs: Option<usize>,
    /// Output folder (default: results/compare/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `dsim goodput`.
#[derive(Debug, Args)]
pub struct GoodputArgs {
    /// Run folders (written by `dsim run`), each drawn as one line labelled by its name.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write goodput_over_time.svg and .png.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The chart's title.
    #[arg(long)]
    pub title: Option<String>,
}

/// `dsim shrink`.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The scenario and its overrides.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// The failing seed.
    #[arg(long)]
    pub seed: u64,
    /// Apply the swarm draw of this seed (if it failed in a --swarm sweep).
    #[arg(long)]
    pub swarm: bool,
    /// Where to write the minimal scenario.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `dsim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario and its overrides.
    #[command(flatten)]
    pub scenario: ScenarioArgs,
}
