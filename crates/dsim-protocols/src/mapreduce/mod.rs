//! MapReduce (Dean & Ghemawat, OSDI 2004): a word count or the paper's sort, run by one
//! master and many workers, with re-execution after worker failure, stragglers and
//! backup tasks, and a model of the bytes the job moves through disks and the network.
//!
//! # The algorithm
//!
//! The input is a deterministic text corpus (Zipf-distributed words over a vocabulary,
//! drawn from the run's workload stream), cut into `M` splits. The master hands each idle
//! worker a task. A *map* task reads its split, counts its words (the map function with
//! its combiner) and writes the pairs, partitioned by `hash(word) mod R`, to the
//! worker's *local* disk: map output never leaves the mapping worker until a reducer asks
//! for it. When every map task is complete, the master hands out the `R` *reduce* tasks
//! with the location of every map output; a reducer fetches its partition from each
//! mapping worker by message, merges and sums the pairs, sorts them by word, and reports
//! its partition to the master, which commits it to the "global file system" (the
//! protocol event [`MrEvent::PartitionCommitted`]). The job is done when all `R`
//! partitions are committed. Computing is simulated: a worker sets a timer for
//! `work / speed` (`map_ns_per_word` per input word, `reduce_ns_per_record` per fetched
//! pair, times `slow_factor` on slow workers), then does the real counting.
//!
//! # Jobs
//!
//! `job = "wordcount"` (the default) is the above: its Zipf skew makes a few partitions
//! far larger than the rest, and those reduce tasks set a normal run's tail.
//! `job = "sort"` is the paper's sort benchmark (section 5.3): `input_bytes` of
//! `record_bytes` records (100 in the paper), cut into `M` equal splits and
//! range-partitioned into `R` partitions that are equal in expectation. Records stay
//! abstract (1 TB cannot be materialised): the output of map task `m` for partition `r`
//! is a *run* `(records, bytes, checksum)` drawn from the seed ([`sort_run`]; the runs of
//! one split add up to the split exactly). A reducer merges one run from every map task
//! and "writes" the partition's `(records, bytes, checksum)`; the checker compares every
//! committed partition with the sequential merge ([`expected_sort`]), so a map output
//! merged twice or never is an `output_mismatch`. For the sort, `map_ns_per_word` and
//! `reduce_ns_per_record` are per record. R must not exceed `key_space`, the number of
//! distinct keys (a range partition without a key could never be filled).
//!
//! # Bytes, disks and the network
//!
//! Sizes, in bytes: a word-count split is its words × `bytes_per_word` (default 6), its
//! intermediate files and outputs 12 bytes per `(word, count)` pair ([`PAIR_BYTES`]); a
//! sort split is its records × `record_bytes`, its intermediate data the same bytes, a
//! partition the bytes of its records. With `disk_bytes_per_s` (bytes per second; unset,
//! the default, disks take no time and every run is as before) each worker has two
//! disks (the paper's machines had two), each a FIFO resource. On the first, a map
//! attempt reads its split, computes, then writes its intermediate data; serving a
//! fetch reads the requested runs (the reply leaves when the read is done); a reduce
//! attempt reads its own machine's runs locally. The reduce attempt then computes and
//! writes its partition `output_replicas` times (the paper's sort wrote 2) on the
//! second disk, so output writes do not hold up the fetches other reducers wait for. Fetch
//! replies weigh the intermediate bytes they carry ([`message_size`]), so with `[nodes]
//! nic` or `[network] bandwidth` the shuffle takes `bytes × 8 / bandwidth` on the
//! engine's NICs and links, and a mapper's pongs queue behind its replies. With
//! `fetch_parallelism = k` a reducer asks at most k mappers at once and the next when
//! one answers (the fetch timeout's rounds restart with each answer); the default, 0,
//! asks every mapper at once, which at 1,746 workers puts three million fetches in
//! flight. The timeouts matter here:
//! `failure_timeout` and `fetch_timeout` must outlast the transfers they wait behind.
//!
//! # Variability and stragglers
//!
//! - `task_time_sigma`: each attempt's CPU and disk times are multiplied by a lognormal
//!   factor with median 1 and this sigma, drawn from the worker's own stream when the
//!   attempt starts (0, the default, draws nothing).
//! - `background_load`: each machine's times are multiplied by `1 + background_load × u`,
//!   `u` uniform in `[0, 1)` per machine from the seed (other jobs on the machine, the
//!   paper's section 3.6).
//! - `bad_disks = N`: N machines drawn from the seed (not workers `1..N`) have a disk
//!   `bad_disk_factor` times slower (default 30: the paper's section 3.6 saw reads fall
//!   from 30 MB/s to 1 MB/s); only their disk phases slow down, not their CPU or NIC.
//! - `slow_workers`/`slow_factor` (workers `1..=k`, everything slower) remain for the
//!   older scenarios.
//!
//! # Task slots
//!
//! `slots_per_worker = s` (default 1) lets a worker run s attempts at once: the master
//! hands a worker tasks while it has a free slot, a pong lists every attempt the worker
//! runs, and the attempts share the worker's disks and NIC (their CPU phases overlap).
//! A worker keeps one unacknowledged report to re-send, so with several slots a lost
//! report can be written off after `failure_timeout` and its task run again.
//!
//! Fault tolerance, as in the paper's section 3.3:
//! - The master pings every worker each `heartbeat_interval`; a worker silent for longer
//!   than `failure_timeout` is declared failed. Its in-progress task (map or reduce) goes
//!   back to idle unless another attempt (a backup) still runs, and its *completed* map
//!   tasks are reset too, because their output sat on its now unreachable disk.
//!   Completed reduce tasks are not redone: their output is already committed.
//! - A reducer whose fetch from a mapper fails (no reply after three tries
//!   `fetch_timeout` apart, or the mapper lost the output in a crash) reports the missing
//!   map tasks; the master re-executes them and reschedules the reduce task.
//! - Lost messages: a worker answers each ping with what it runs and the last attempt it
//!   reported, and re-sends an unacknowledged report; an assignment the worker never saw
//!   is written off after `failure_timeout`. Every assignment carries a fresh attempt id,
//!   so stale and duplicate reports are ignored.
//! - A worker declared failed that answers a ping again (a restart, the end of a pause or
//!   partition) is re-admitted as a fresh idle worker.
//! - Stragglers and backup tasks: when no task of the current phase is left to hand out
//!   and at most `max(1, backup_remaining_ratio × tasks of the phase)` are still running,
//!   each idle worker gets a backup attempt of a running task that has none; whichever
//!   attempt finishes first completes the task (`backup_tasks = false` turns this off).
//!   Backups apply to both phases, because the map phase ends in a barrier. When one
//!   attempt completes, the master sends every other attempt's worker `Abandon`: the
//!   worker stops (giving back the disk time it had queued last) and the master counts
//!   it free at once, so a losing copy never holds a worker, its disk or its link.
//!
//! # Guarantees
//!
//! Safety: map and reduce are deterministic, each map task's output is merged by a
//! reducer exactly once (outputs are keyed by map task) and the master commits each
//! partition once, so whatever workers fail, every committed partition equals the
//! sequential word count's partition, sorted by word. The checker recomputes that count
//! from the seed and parameters and flags any difference as `output_mismatch`.
//! Liveness: as long as the master is up and at least one worker is reachable long
//! enough, the job completes. The `liveness` check holds the run to it: once the last
//! fault ended, with the master never crashed, a majority of workers up and the network
//! whole, the job must be done within `liveness_bound` (default 5 s; the shipped jobs
//! take under 1 s fault-free), or the run fails with a `liveness` violation; a run that
//! ends before that deadline is not judged. `job_completed` and `job_time_ns` in the
//! summary say how it went.
//!
//! `fetch_timeout` must exceed the network's mean round trip (twice the default link's
//! mean delay): below it every fetch timed out before its reply arrived, the master
//! re-executed healthy map tasks forever, and a fault-free run exited 0 with
//! `job_completed = false` (found by the issue-10 audit). Such a configuration is now
//! refused before the run (exit 2, naming the key), and the liveness check fails any
//! run that still never finishes.
//!
//! # Failure model
//!
//! Workers may crash, restart (with empty disks), pause, be partitioned, or be slow;
//! messages may be lost, duplicated or reordered. **Master failure is not tolerated**, as
//! in the paper ("we abort the MapReduce computation if the master fails"): a restarted
//! master finds the job marked started in its durable state and stays inert, so the
//! job never completes, which the report shows as `job_completed = false`.
//!
//! # Node layout
//!
//! Node 0 is the master; nodes `1..=W` are workers, with `W = nodes - 1` (`nodes` is at
//! least 2). The job is the workload: `[workload]` clients are ignored (write
//! `clients = 0`) and [`Protocol::total_nodes`] is `nodes`. Workers `1..=slow_workers`
//! run `slow_factor` times slower. Each task execution, as the master sees it, is one
//! operation in `ops.csv` (kind `map` or `reduce`, client node 0): it starts when the
//! task is first assigned and ends when the task completes, so re-assignments after a
//! failure and backups lengthen it, and a completed map task redone because its output
//! was lost counts as a new operation. `R = (1/k) Σ r_i` is the mean of these times;
//! `job_time_ns` is the time from job start to the last commit.
//!
//! # Variants
//!
//! - `correct`: everything above.
//! - `seed-naive`: the five steps of the source article: split the corpus, send each
//!   worker its splits (round-robin, all at once), let it process them one after the
//!   other, gather the per-split counts at the master and combine them. No pings, no
//!   re-execution: a crashed worker's unfinished splits are lost with it, and when
//!   `gather_timeout` passes the master combines what it has. The checker catches the
//!   wrong total as `output_mismatch`.
//!
//! # Departures from the paper
//!
//! No input locality (tasks go to the lowest-numbered idle worker and read their split
//! from their own disk), reduce tasks start after the map
//! barrier (the paper's reducers start copying as soon as map outputs exist), a reducer
//! holds what it fetched in memory (no external sort spilling to disk), output replicas
//! are written to the reducer's own disk rather than to other machines through the
//! network, and the "global file system" is the master's commit.

mod checker;
mod corpus;
mod master;
mod model;
mod worker;

use crate::liveness::LivenessPhase;
pub use checker::{JobSummary, LiveCheck, check, liveness};
pub use corpus::{
    Corpus, LocalDisk, MapOutput, Zipf, expected_partitions, merge_counts, mix64, partition_counts,
    partition_of, untag, word_count,
};
pub use master::{Master, NaiveMaster};
pub use model::{
    JobKind, Machines, SortOutput, SortRun, disk_ns, expected_sort, sort_records, sort_run,
    split_records,
};
pub use worker::{FETCH_ROUNDS, Worker};

use dsim_core::protocol::{execute_with_sink, generic_output};
use dsim_core::{
    ConfigError, Ctx, Delay, Formula, NetworkConfig, Node, NodeId, ParamKind, ParamProblem,
    ParamSpec, Params, Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimDuration,
    VariantSpec, Workload,
};
use std::fmt;
use std::sync::Arc;

/// The `mapreduce` kind, for the registry.
pub struct MapReduce;

/// The variants, `correct` first.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        help: "Dean & Ghemawat: heartbeats, re-execution of lost work, backup tasks",
    },
    VariantSpec {
        name: "seed-naive",
        help: "split, send, process, gather: no re-execution, results die with their worker",
    },
];

/// The keys accepted under `[protocol]`.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        key: "map_tasks",
        kind: ParamKind::Int {
            default: 32,
            min: 1,
            max: 1_000_000,
        },
        help: "M: number of map tasks (input splits)",
    },
    ParamSpec {
        key: "reduce_tasks",
        kind: ParamKind::Int {
            default: 8,
            min: 1,
            max: 1_000_000,
        },
        help: "R: number of reduce tasks (output partitions: hash(word) mod R, or the sort's key ranges)",
    },
    ParamSpec {
        key: "corpus_words",
        kind: ParamKind::Int {
            default: 64_000,
            min: 0,
            max: 100_000_000,
        },
        help: "words in the generated input corpus",
    },
    ParamSpec {
        key: "vocabulary",
        kind: ParamKind::Int {
            default: 5_000,
            min: 1,
            max: 10_000_000,
        },
        help: "distinct words; frequencies follow Zipf's law with exponent 1",
    },
    ParamSpec {
        key: "map_ns_per_word",
        kind: ParamKind::Int {
            default: 25_000,
            min: 0,
            max: 1_000_000_000,
        },
        help: "simulated map work per input word (per record for the sort) on a full-speed worker, in ns",
    },
    ParamSpec {
        key: "reduce_ns_per_record",
        kind: ParamKind::Int {
            default: 10_000,
            min: 0,
            max: 1_000_000_000,
        },
        help: "simulated reduce work per fetched (word, count) pair (per record for the sort), in ns",
    },
    ParamSpec {
        key: "heartbeat_interval",
        kind: ParamKind::duration(SimDuration::from_millis(50)),
        help: "how often the master pings every worker",
    },
    ParamSpec {
        key: "failure_timeout",
        kind: ParamKind::duration(SimDuration::from_millis(250)),
        help: "silence after which the master declares a worker failed (>= 2 heartbeats)",
    },
    ParamSpec {
        key: "fetch_timeout",
        kind: ParamKind::duration(SimDuration::from_millis(100)),
        help: "a reducer re-sends an unanswered fetch after this, and gives up after 3 tries",
    },
    ParamSpec {
        key: "liveness_bound",
        kind: ParamKind::duration(SimDuration::from_secs(5)),
        help: "liveness check: once the last fault ended, with the master and a majority of workers up and the network whole, the job completes within this (else a liveness violation)",
    },
    ParamSpec {
        key: "backup_tasks",
        kind: ParamKind::Bool(true),
        help: "launch backup attempts of the last running tasks of each phase",
    },
    ParamSpec {
        key: "backup_remaining_ratio",
        kind: ParamKind::ratio(0.05),
        help: "backups start when at most max(1, this share of a phase's tasks) still run",
    },
    ParamSpec {
        key: "slow_workers",
        kind: ParamKind::Int {
            default: 0,
            min: 0,
            max: 1_000_000,
        },
        help: "workers 1..=slow_workers are stragglers",
    },
    ParamSpec {
        key: "slow_factor",
        kind: ParamKind::Int {
            default: 1,
            min: 1,
            max: 1_000_000,
        },
        help: "a straggler's tasks take this many times longer",
    },
    ParamSpec {
        key: "slots_per_worker",
        kind: ParamKind::Int {
            default: 1,
            min: 1,
            max: 64,
        },
        help: "task slots per worker: attempts a worker runs at once, sharing its disks and NIC",
    },
    ParamSpec {
        key: "fetch_parallelism",
        kind: ParamKind::Int {
            default: 0,
            min: 0,
            max: 1_000_000,
        },
        help: "a reducer asks at most this many mappers at once, the next when one answers (0: all at once)",
    },
    ParamSpec {
        key: "job",
        kind: ParamKind::Choice {
            default: "wordcount",
            allowed: &["wordcount", "sort"],
        },
        help: "the job: a word count over a Zipf corpus, or the paper's sort of fixed-size records",
    },
    ParamSpec {
        key: "bytes_per_word",
        kind: ParamKind::Int {
            default: 6,
            min: 1,
            max: 1_000_000,
        },
        help: "wordcount: bytes of input text per word (a split is words x this)",
    },
    ParamSpec {
        key: "input_bytes",
        kind: ParamKind::Int {
            default: 64_000_000,
            min: 1,
            max: 1_000_000_000_000_000,
        },
        help: "sort: bytes of input, cut into M equal splits",
    },
    ParamSpec {
        key: "record_bytes",
        kind: ParamKind::Int {
            default: 100,
            min: 1,
            max: 1_000_000_000,
        },
        help: "sort: bytes per record (the paper's benchmark: 100)",
    },
    ParamSpec {
        key: "key_space",
        kind: ParamKind::Int {
            default: 1_000_000_000_000_000,
            min: 1,
            max: 1_000_000_000_000_000,
        },
        help: "sort: distinct keys; range partitioning needs R <= key_space",
    },
    ParamSpec {
        key: "output_replicas",
        kind: ParamKind::Int {
            default: 1,
            min: 1,
            max: 16,
        },
        help: "copies of each reduce output written (the paper's sort wrote 2)",
    },
    ParamSpec {
        key: "disk_bytes_per_s",
        kind: ParamKind::Int {
            default: 0,
            min: 0,
            max: 1_000_000_000_000_000,
        },
        help: "each of a worker's two disks' bandwidth in bytes/s (one: split reads, map output writes and reads; the other: reduce output writes); unset: disks take no time",
    },
    ParamSpec {
        key: "bad_disks",
        kind: ParamKind::Int {
            default: 0,
            min: 0,
            max: 1_000_000,
        },
        help: "workers drawn from the seed whose disk is bad_disk_factor times slower (needs disk_bytes_per_s)",
    },
    ParamSpec {
        key: "bad_disk_factor",
        kind: ParamKind::Int {
            default: 30,
            min: 1,
            max: 1_000_000,
        },
        help: "a bad disk's slowdown (paper section 3.6: 30 MB/s down to 1 MB/s)",
    },
    ParamSpec {
        key: "task_time_sigma",
        kind: ParamKind::Ratio {
            default: 0.0,
            max: dsim_core::RatioMax::Included(4.0),
        },
        help: "each task attempt's durations are multiplied by a lognormal factor with median 1 and this sigma",
    },
    ParamSpec {
        key: "background_load",
        kind: ParamKind::Ratio {
            default: 0.0,
            max: dsim_core::RatioMax::Included(100.0),
        },
        help: "each worker machine's durations are multiplied by 1 + this x u, u uniform in [0, 1) per machine (other jobs)",
    },
    ParamSpec {
        key: "gather_timeout",
        kind: ParamKind::duration(SimDuration::from_secs(5)),
        help: "seed-naive only: the master combines what it has after this long",
    },
];

/// Which algorithm the master runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Dean & Ghemawat with re-execution and backups.
    Correct,
    /// Split, send, process, gather: no fault tolerance.
    SeedNaive,
}

impl Variant {
    /// The variant named in a scenario file.
    pub fn from_name(name: &str) -> Result<Variant, ConfigError> {
        match name {
            "correct" => Ok(Variant::Correct),
            "seed-naive" => Ok(Variant::SeedNaive),
            other => Err(ConfigError::Invalid(format!(
                "mapreduce has no variant {other:?} (allowed: correct, seed-naive)"
            ))),
        }
    }
}

/// The validated parameters of one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobConfig {
    /// The master's algorithm.
    pub variant: Variant,
    /// W: worker nodes `1..=workers`.
    pub workers: u32,
    /// M.
    pub map_tasks: u32,
    /// R.
    pub reduce_tasks: u32,
    /// Words in the corpus.
    pub corpus_words: u64,
    /// Distinct words.
    pub vocabulary: u32,
    /// Map work per input word at full speed, ns.
    pub map_ns_per_word: u64,
    /// Reduce work per fetched pair at full speed, ns.
    pub reduce_ns_per_record: u64,
    /// Ping period.
    pub heartbeat_interval: SimDuration,
    /// Silence that makes a worker failed.
    pub failure_timeout: SimDuration,
    /// Fetch retry period.
    pub fetch_timeout: SimDuration,
    /// The liveness check's deadline for the job, counted from the end of the last
    /// fault.
    pub liveness_bound: SimDuration,
    /// Whether backup attempts are launched.
    pub backup_tasks: bool,
    /// Share of a phase's tasks still running below which backups start.
    pub backup_remaining_ratio: f64,
    /// Workers `1..=slow_workers` are slow.
    pub slow_workers: u32,
    /// Their slowdown.
    pub slow_factor: u64,
    /// When the naive master stops waiting.
    pub gather_timeout: SimDuration,
    /// Most mappers a reducer asks at once (0: all at once).
    pub fetch_parallelism: u32,
    /// Attempts a worker runs at once.
    pub slots_per_worker: u32,
    /// Word count or sort.
    pub job: JobKind,
    /// Word count: bytes of input per word.
    pub bytes_per_word: u64,
    /// Sort: bytes of input.
    pub input_bytes: u64,
    /// Sort: bytes per record.
    pub record_bytes: u64,
    /// Sort: distinct keys.
    pub key_space: u64,
    /// Copies of each reduce output written to disk.
    pub output_replicas: u64,
    /// Disk bandwidth of every worker in bytes/s; 0: disks take no time.
    pub disk_bytes_per_s: u64,
    /// Workers with a bad disk, drawn from the seed.
    pub bad_disks: u32,
    /// A bad disk's slowdown.
    pub bad_disk_factor: u64,
    /// Sigma of each attempt's lognormal duration factor (0: none).
    pub task_time_sigma: f64,
    /// Background-load spread across machines (0: none).
    pub background_load: f64,
}

fn int_param(params: &Params, key: &'static str) -> Result<i64, ConfigError> {
    let spec = PARAMS.iter().find(|s| s.key == key).expect("declared key");
    let value = params.int(PARAMS, key);
    match spec.kind {
        ParamKind::Int { min, max, .. } if value < min || value > max => Err(ConfigError::Invalid(
            format!("mapreduce {key} must be in [{min}, {max}], found {value}"),
        )),
        _ => Ok(value),
    }
}

fn positive_duration(params: &Params, key: &'static str) -> Result<SimDuration, ConfigError> {
    let value = params.duration(PARAMS, key);
    if value == SimDuration::ZERO {
        return Err(ConfigError::Invalid(format!(
            "mapreduce {key} must be positive"
        )));
    }
    Ok(value)
}

impl JobConfig {
    /// Validates the `[protocol]` keys for a cell of `nodes` nodes (master + workers).
    pub fn from_params(
        nodes: usize,
        variant: &str,
        params: &Params,
    ) -> Result<JobConfig, ConfigError> {
        let variant = Variant::from_name(variant)?;
        if nodes < 2 || nodes > u32::MAX as usize / 2 {
            return Err(ConfigError::Invalid(format!(
                "mapreduce needs nodes >= 2 (a master and at least one worker), found {nodes}"
            )));
        }
        params.check(PARAMS)?;
        let workers = (nodes - 1) as u32;
        let slow_workers = int_param(params, "slow_workers")? as u32;
        if slow_workers > workers {
            return Err(ParamProblem {
                keys: vec!["slow_workers", "nodes"],
                problem: format!("found {slow_workers}, more than the {workers} workers"),
                allowed: "at most nodes - 1: workers are nodes 1..nodes (node 0 is the master)"
                    .into(),
            }
            .into());
        }
        let heartbeat_interval = positive_duration(params, "heartbeat_interval")?;
        let failure_timeout = positive_duration(params, "failure_timeout")?;
        if failure_timeout.0 < heartbeat_interval.0.saturating_mul(2) {
            return Err(ParamProblem {
                keys: vec!["failure_timeout", "heartbeat_interval"],
                problem: format!(
                    "failure_timeout ({failure_timeout}) is less than two heartbeat intervals (heartbeat_interval = {heartbeat_interval})"
                ),
                allowed: "failure_timeout >= 2 * heartbeat_interval".into(),
            }
            .into());
        }
        let job = JobKind::from_name(params.choice(PARAMS, "job"));
        let reduce_tasks = int_param(params, "reduce_tasks")? as u32;
        let key_space = int_param(params, "key_space")? as u64;
        if job == JobKind::Sort && u64::from(reduce_tasks) > key_space {
            return Err(ParamProblem {
                keys: vec!["reduce_tasks", "key_space"],
                problem: format!(
                    "a sort into R = {reduce_tasks} range partitions over a key space of {key_space} keys leaves partitions without a key"
                ),
                allowed: "reduce_tasks <= key_space".into(),
            }
            .into());
        }
        if job == JobKind::Sort && variant == Variant::SeedNaive {
            return Err(ParamProblem {
                keys: vec!["job"],
                problem: "the seed-naive variant runs the word count only".into(),
                allowed: "job = \"wordcount\" with variant = \"seed-naive\"".into(),
            }
            .into());
        }
        if params.0.get("disk_bytes_per_s") == Some(&dsim_core::ParamValue::Int(0)) {
            return Err(ParamProblem {
                keys: vec!["disk_bytes_per_s"],
                problem: "a disk bandwidth of 0 bytes/s moves nothing".into(),
                allowed: "a bandwidth of at least 1 byte/s, or leave the key out for disks that take no time".into(),
            }
            .into());
        }
        let disk_bytes_per_s = int_param(params, "disk_bytes_per_s")? as u64;
        let bad_disks = int_param(params, "bad_disks")? as u32;
        if bad_disks > workers {
            return Err(ParamProblem {
                keys: vec!["bad_disks", "nodes"],
                problem: format!("found {bad_disks}, more than the {workers} workers"),
                allowed: "at most nodes - 1".into(),
            }
            .into());
        }
        if bad_disks > 0 && disk_bytes_per_s == 0 {
            return Err(ParamProblem {
                keys: vec!["bad_disks", "disk_bytes_per_s"],
                problem: "bad disks need a disk bandwidth to slow down".into(),
                allowed: "set disk_bytes_per_s with bad_disks".into(),
            }
            .into());
        }
        let input_bytes = int_param(params, "input_bytes")? as u64;
        let record_bytes = int_param(params, "record_bytes")? as u64;
        if job == JobKind::Sort && input_bytes < record_bytes {
            return Err(ParamProblem {
                keys: vec!["input_bytes", "record_bytes"],
                problem: format!(
                    "input_bytes ({input_bytes}) holds no whole record of {record_bytes} bytes"
                ),
                allowed: "input_bytes >= record_bytes".into(),
            }
            .into());
        }
        let backup_remaining_ratio = params.ratio(PARAMS, "backup_remaining_ratio");
        dsim_core::network::check_probability("backup_remaining_ratio", backup_remaining_ratio)?;
        Ok(JobConfig {
            variant,
            workers,
            map_tasks: int_param(params, "map_tasks")? as u32,
            reduce_tasks,
            corpus_words: int_param(params, "corpus_words")? as u64,
            vocabulary: int_param(params, "vocabulary")? as u32,
            map_ns_per_word: int_param(params, "map_ns_per_word")? as u64,
            reduce_ns_per_record: int_param(params, "reduce_ns_per_record")? as u64,
            heartbeat_interval,
            failure_timeout,
            fetch_timeout: positive_duration(params, "fetch_timeout")?,
            liveness_bound: positive_duration(params, "liveness_bound")?,
            backup_tasks: params.bool(PARAMS, "backup_tasks"),
            backup_remaining_ratio,
            slow_workers,
            slow_factor: int_param(params, "slow_factor")? as u64,
            gather_timeout: positive_duration(params, "gather_timeout")?,
            fetch_parallelism: int_param(params, "fetch_parallelism")? as u32,
            slots_per_worker: int_param(params, "slots_per_worker")? as u32,
            job,
            bytes_per_word: int_param(params, "bytes_per_word")? as u64,
            input_bytes,
            record_bytes,
            key_space,
            output_replicas: int_param(params, "output_replicas")? as u64,
            disk_bytes_per_s,
            bad_disks,
            bad_disk_factor: int_param(params, "bad_disk_factor")? as u64,
            task_time_sigma: params.ratio(PARAMS, "task_time_sigma"),
            background_load: params.ratio(PARAMS, "background_load"),
        })
    }

    /// Refuses a `fetch_timeout` shorter than the mean round trip of `network`'s
    /// default link (twice its mean delay; a heavy-tailed delay without a mean counts
    /// its minimum): every fetch would time out before its reply could arrive, and the
    /// master would re-execute healthy map tasks forever (the audit's finding).
    pub fn check_latency(&self, network: &NetworkConfig) -> Result<(), ConfigError> {
        let delay = &network.default_link.delay;
        let one_way_ns = match *delay {
            Delay::Pareto { scale_ns, .. } => delay.mean_ns().unwrap_or(scale_ns),
            _ => delay.mean_ns().unwrap_or(0.0),
        };
        let round_trip = SimDuration((2.0 * one_way_ns).min(u64::MAX as f64 / 2.0) as u64);
        if self.fetch_timeout < round_trip {
            return Err(ConfigError::Invalid(format!(
                "mapreduce fetch_timeout ({}) is shorter than the network's mean round trip ({round_trip}, twice the mean latency): every fetch would time out before its reply arrives and healthy map tasks would be re-executed forever; set fetch_timeout above {round_trip}",
                self.fetch_timeout
            )));
        }
        Ok(())
    }

    /// The defaults for `nodes` nodes and a variant (tests, benches).
    pub fn defaults(nodes: usize, variant: Variant) -> JobConfig {
        let name = match variant {
            Variant::Correct => "correct",
            Variant::SeedNaive => "seed-naive",
        };
        JobConfig::from_params(nodes, name, &Params::default()).expect("defaults are valid")
    }

    /// How many times slower than full speed `node` computes.
    pub fn slowdown(&self, node: NodeId) -> u64 {
        if node.0 >= 1 && node.0 <= self.slow_workers {
            self.slow_factor
        } else {
            1
        }
    }

    /// Simulated time for a map task over `words` words on `node`.
    pub fn map_duration(&self, node: NodeId, words: usize) -> SimDuration {
        work_duration(self.map_ns_per_word, words, self.slowdown(node))
    }

    /// Simulated time for a reduce task over `records` fetched pairs on `node`.
    pub fn reduce_duration(&self, node: NodeId, records: usize) -> SimDuration {
        work_duration(self.reduce_ns_per_record, records, self.slowdown(node))
    }

    /// The phase threshold for backups: at most this many running tasks of a phase of
    /// `phase_tasks` tasks.
    pub fn backup_threshold(&self, phase_tasks: u32) -> usize {
        let share = (self.backup_remaining_ratio * f64::from(phase_tasks)).floor() as usize;
        share.max(1)
    }
}

/// Longest simulated task: about 31 years, so time arithmetic cannot overflow.
pub(crate) const MAX_TASK_NS: u64 = 1_000_000_000_000_000_000;

fn work_duration(ns_per_unit: u64, units: usize, slowdown: u64) -> SimDuration {
    let ns = ns_per_unit
        .saturating_mul(units as u64)
        .saturating_mul(slowdown)
        .min(MAX_TASK_NS);
    SimDuration(ns)
}

/// What every node of a run shares: the configuration, the input corpus (the input
/// files every worker can read), the seed the sort's records derive from, and the
/// machines (background load, bad disks).
#[derive(Debug)]
pub struct Job {
    /// Parameters.
    pub config: JobConfig,
    /// The input of the word count (empty for the sort).
    pub corpus: Corpus,
    /// The run's seed.
    pub seed: u64,
    /// The worker machines.
    pub machines: Machines,
}

impl Job {
    /// The job of the run with `seed`.
    pub fn new(config: JobConfig, seed: u64) -> Job {
        let words = match config.job {
            JobKind::WordCount => config.corpus_words,
            JobKind::Sort => 0,
        };
        let corpus = Corpus::generate(seed, words, config.vocabulary, config.map_tasks);
        let machines = Machines::new(&config, seed);
        Job {
            config,
            corpus,
            seed,
            machines,
        }
    }

    /// Bytes of split `task`: words × `bytes_per_word`, or the sort split's records.
    pub fn split_bytes(&self, task: u32) -> u64 {
        match self.config.job {
            JobKind::WordCount => self.corpus.split(task).len() as u64 * self.config.bytes_per_word,
            JobKind::Sort => split_records(&self.config, task) * self.config.record_bytes,
        }
    }

    /// Records (words for the word count) of split `task`: the unit of map work.
    pub fn split_units(&self, task: u32) -> usize {
        match self.config.job {
            JobKind::WordCount => self.corpus.split(task).len(),
            JobKind::Sort => split_records(&self.config, task) as usize,
        }
    }

    /// The disk-time factor of `node`: its background load, times the bad-disk factor
    /// when its disk is bad.
    pub fn disk_factor(&self, node: NodeId) -> f64 {
        let bad = if self.machines.has_bad_disk(node) {
            self.config.bad_disk_factor as f64
        } else {
            1.0
        };
        self.machines.load(node) * bad
    }

    /// Nanoseconds `node` needs to read or write `bytes` on its disk, times `attempt`
    /// (the attempt's own variability factor).
    pub fn disk_ns(&self, node: NodeId, bytes: u64, attempt: f64) -> u64 {
        disk_ns(
            bytes,
            self.config.disk_bytes_per_s,
            self.disk_factor(node) * attempt,
        )
    }
}

/// Map or reduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskKind {
    /// A map task: count one split.
    Map,
    /// A reduce task: sum one partition.
    Reduce,
}

impl TaskKind {
    /// The operation kind in `ops.csv`.
    pub fn word(self) -> &'static str {
        match self {
            TaskKind::Map => "map",
            TaskKind::Reduce => "reduce",
        }
    }

    /// The invocation of operation `op`, the execution of `task` of this kind: a `task`
    /// operation keyed `[:map 3]` (the key names the task, so re-executions of one task
    /// share it).
    pub fn invocation<E>(self, op: u64, task: u32) -> dsim_core::Observation<E> {
        dsim_core::Observation::OpInvoked {
            op,
            f: TASK_F,
            key: Some(dsim_core::Value::List(vec![
                dsim_core::Value::keyword(self.word()),
                dsim_core::Value::Int(i64::from(task)),
            ])),
            arg: dsim_core::Value::Nil,
        }
    }
}

/// The function name of task operations in histories.
pub const TASK_F: &str = "task";

/// Why the master put a task back to idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// The worker running it, or holding its output, was declared failed.
    WorkerFailed,
    /// A reducer could not fetch the map output.
    FetchFailed,
    /// The worker never confirmed the assignment or its report was lost.
    AttemptLost,
}

/// Where the completed map outputs are, grouped by worker: the master's table that a
/// reduce assignment carries. Shared (`Arc`), so handing it to R reducers is cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct Locations(pub Arc<LocationTable>);

/// Map outputs grouped by the worker holding them (compressed rows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocationTable {
    /// Worker node ids, ascending.
    pub workers: Vec<u32>,
    /// `tasks[starts[i]..starts[i + 1]]` are the map tasks held by `workers[i]`.
    pub starts: Vec<u32>,
    /// Map task ids, grouped by worker.
    pub tasks: Vec<u32>,
}

impl LocationTable {
    /// Builds the table from `(map task, worker)` pairs, one per map task.
    pub fn from_pairs(mut pairs: Vec<(u32, u32)>) -> LocationTable {
        pairs.sort_unstable_by_key(|&(task, worker)| (worker, task));
        let mut table = LocationTable::default();
        for (task, worker) in pairs {
            if table.workers.last() != Some(&worker) {
                table.workers.push(worker);
                table.starts.push(table.tasks.len() as u32);
            }
            table.tasks.push(task);
        }
        table.starts.push(table.tasks.len() as u32);
        table
    }

    /// The map tasks of row `row`.
    pub fn tasks_of(&self, row: usize) -> &[u32] {
        &self.tasks[self.starts[row] as usize..self.starts[row + 1] as usize]
    }
}

impl fmt::Debug for Locations {
    /// Short on purpose: message labels and logs must not print 10,000 entries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Locations({} tasks on {} workers)",
            self.0.tasks.len(),
            self.0.workers.len()
        )
    }
}

/// The messages of MapReduce. Counts travel as `(word_id, count)` pairs.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// Master to worker: are you alive? `acked` is the last attempt of this worker the
    /// master has dealt with, so the worker can stop re-sending its report.
    Ping {
        /// Heartbeat round.
        seq: u64,
        /// Highest attempt id of this worker the master has settled.
        acked: u32,
    },
    /// Worker to master: alive, running attempt `running` (0: idle), last reported
    /// attempt `reported` (0: none).
    Pong {
        /// The ping's round.
        seq: u64,
        /// Attempt being worked on, 0 when idle.
        running: u32,
        /// Last attempt reported, 0 when none.
        reported: u32,
        /// The attempts running on its other task slots (empty with one slot).
        more: Vec<u32>,
    },
    /// Master to worker: run map task `task` as attempt `attempt`.
    AssignMap {
        /// Map task (split) id.
        task: u32,
        /// Fresh attempt id.
        attempt: u32,
    },
    /// Master to worker: run reduce task `partition`, fetching from `locations`.
    AssignReduce {
        /// Partition id.
        partition: u32,
        /// Fresh attempt id.
        attempt: u32,
        /// Where each map output is.
        locations: Locations,
    },
    /// Worker to master: map attempt done, output on my disk.
    MapDone {
        /// Map task id.
        task: u32,
        /// The attempt.
        attempt: u32,
    },
    /// Worker to master: reduce attempt done, here is the partition's output.
    ReduceDone {
        /// Partition id.
        partition: u32,
        /// The attempt.
        attempt: u32,
        /// `(word, count)`, sorted by word (word count).
        counts: Vec<(u32, u64)>,
        /// The sorted partition (sort job).
        sorted: Option<SortOutput>,
    },
    /// Worker to master: reduce attempt `attempt` could not fetch these `(map task,
    /// worker)` outputs (the mapper said it lacks them, or never answered). The reducer
    /// keeps what it fetched and waits for [`Msg::MapOutputsAt`]; it sends this again
    /// every `fetch_timeout` until then.
    OutputsLost {
        /// Partition id.
        partition: u32,
        /// The attempt.
        attempt: u32,
        /// Map outputs that could not be fetched, with the worker that should hold them.
        missing: Vec<(u32, u32)>,
    },
    /// Master to a reducer: these map tasks were executed again, their outputs are on
    /// these workers (paper section 3.3: reducers are notified of a re-execution and
    /// read from the new worker whatever they have not read yet). Sent with each
    /// heartbeat round (one message per reduce attempt, not one per map task: a
    /// thousand re-executions times a thousand reducers would queue the master's link
    /// for longer than the failure timeout), and in answer to [`Msg::OutputsLost`].
    MapOutputsAt {
        /// The reduce attempt told.
        attempt: u32,
        /// `(map task, worker holding its output now)`.
        outputs: Vec<(u32, u32)>,
    },
    /// Reducer to mapper: send me `partition` of these map outputs.
    Fetch {
        /// Partition id.
        partition: u32,
        /// The reducer's attempt, echoed in the reply.
        attempt: u32,
        /// Map tasks whose output is wanted.
        tasks: Vec<u32>,
    },
    /// Mapper to reducer: the pairs of the outputs it has, and the tasks it lacks.
    FetchReply {
        /// Partition id.
        partition: u32,
        /// The reducer's attempt.
        attempt: u32,
        /// Requested map tasks whose output this reply carries.
        served: Vec<u32>,
        /// Requested map tasks this worker has no output for.
        missing: Vec<u32>,
        /// `(map task, word, count)` entries of the outputs it has (word count): tagged
        /// by map task so a reducer merges each map output once.
        counts: Vec<(u32, u32, u64)>,
        /// The runs of the outputs it has, by map task (sort job).
        runs: Vec<SortRun>,
    },
    /// Master to worker: another attempt of your task `attempt` completed it first;
    /// stop, and free the slot, disk and link it holds.
    Abandon {
        /// The losing attempt.
        attempt: u32,
    },
    /// seed-naive, master to worker: process these splits.
    NaiveAssign {
        /// Map task ids, processed in order.
        tasks: Vec<u32>,
    },
    /// seed-naive, worker to master: the word count of one split.
    NaiveResult {
        /// Map task id.
        task: u32,
        /// `(word, count)`, sorted by word.
        counts: Vec<(u32, u64)>,
    },
}

/// The timers of MapReduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Master: ping round and failure detection.
    Heartbeat,
    /// Worker: the simulated computation of `attempt` is over.
    TaskDone {
        /// The attempt.
        attempt: u32,
    },
    /// Worker: fetch round `round` of reduce `attempt` timed out.
    FetchTimeout {
        /// The attempt.
        attempt: u32,
        /// 1-based round.
        round: u32,
    },
    /// Worker: the disk read serving the oldest queued fetch is done; send its reply.
    FetchServed,
    /// seed-naive worker: split `task` is counted.
    NaiveTaskDone {
        /// Map task id.
        task: u32,
    },
    /// seed-naive master: stop waiting and combine.
    GatherDeadline,
}

/// What the master reports for the checker.
#[derive(Clone, Debug, PartialEq)]
pub enum MrEvent {
    /// The job began.
    JobStarted,
    /// Partition `partition` is in the global file system with these counts.
    PartitionCommitted {
        /// Partition id.
        partition: u32,
        /// `(word, count)`, sorted by word.
        counts: Vec<(u32, u64)>,
    },
    /// Partition `partition` of the sort job is in the global file system.
    SortedCommitted {
        /// Partition id.
        partition: u32,
        /// What the reducer wrote.
        output: SortOutput,
    },
    /// The master declared the job finished.
    JobDone,
    /// A task went back to idle and will run again.
    TaskReset {
        /// Map or reduce.
        kind: TaskKind,
        /// Task id.
        task: u32,
        /// The worker that ran it or held its output.
        worker: u32,
        /// Why.
        reason: ResetReason,
    },
    /// A backup attempt of a running task was launched.
    BackupLaunched {
        /// Map or reduce.
        kind: TaskKind,
        /// Task id.
        task: u32,
        /// The worker running the backup.
        worker: u32,
    },
    /// The master declared a worker failed.
    WorkerFailed {
        /// Worker node id.
        worker: u32,
    },
    /// A worker declared failed answered again and was re-admitted.
    WorkerReadmitted {
        /// Worker node id.
        worker: u32,
    },
    /// The master restarted after a crash and, as in the paper, abandoned the job.
    MasterRestarted,
}

/// What survives a crash. Only the master uses it: whether the job was started (a
/// restarted master abandons it) and which partitions are committed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MrDurable {
    /// The master has started the job.
    pub job_started: bool,
    /// Partitions committed to the global file system.
    pub committed_partitions: u32,
}

/// One node: the master (either variant) or a worker.
#[derive(Debug)]
pub enum MrNode {
    /// Node 0, variant `correct`.
    Master(Box<Master>),
    /// Node 0, variant `seed-naive`.
    NaiveMaster(Box<NaiveMaster>),
    /// Nodes `1..=W`.
    Worker(Box<Worker>),
}

impl MrNode {
    /// The node with id `id` of `job`.
    pub fn new(id: NodeId, job: Arc<Job>) -> MrNode {
        if id.0 == 0 {
            match job.config.variant {
                Variant::Correct => MrNode::Master(Box::new(Master::new(job))),
                Variant::SeedNaive => MrNode::NaiveMaster(Box::new(NaiveMaster::new(job))),
            }
        } else {
            MrNode::Worker(Box::new(Worker::new(id, job)))
        }
    }
}

impl Node for MrNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = MrDurable;
    type Event = MrEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            MrNode::Master(master) => master.on_start(ctx),
            MrNode::NaiveMaster(master) => master.on_start(ctx),
            MrNode::Worker(worker) => worker.on_start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Msg) {
        match self {
            MrNode::Master(master) => master.on_message(ctx, source, msg),
            MrNode::NaiveMaster(master) => master.on_message(ctx, source, msg),
            MrNode::Worker(worker) => worker.on_message(ctx, source, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            MrNode::Master(master) => master.on_timer(ctx, timer),
            MrNode::NaiveMaster(master) => master.on_timer(ctx, timer),
            MrNode::Worker(worker) => worker.on_timer(ctx, timer),
        }
    }

    fn message_digest(msg: &Msg) -> u64 {
        message_digest(msg)
    }

    fn message_size(msg: &Msg) -> u64 {
        message_size(msg)
    }
}

/// Bytes of a message's fixed part: its kind, ids and attempt, with RPC and TCP/IP
/// headers (the engine's default size of a message without data).
pub const MESSAGE_HEADER_BYTES: u64 = dsim_core::DEFAULT_MESSAGE_SIZE_BYTES;

/// Bytes of one `(word_id, count)` pair of an intermediate file or an output on the
/// wire: a 4-byte word id and an 8-byte count.
pub const PAIR_BYTES: u64 = 12;

/// The size of `msg` on the wire (see [`dsim_core::Node::message_size`]): the header,
/// plus 12 bytes per `(word, count)` pair it carries (the intermediate files a reducer
/// fetches, a reduce's output, a naive split's counts) and 4 bytes per task or worker
/// id in its lists. Splits are read from the worker's local disk, as in the paper, so
/// assignments carry task ids, not text.
pub fn message_size(msg: &Msg) -> u64 {
    let ids = |n: usize| 4 * n as u64;
    let pairs = |n: usize| PAIR_BYTES * n as u64;
    MESSAGE_HEADER_BYTES
        + match msg {
            Msg::Ping { .. }
            | Msg::AssignMap { .. }
            | Msg::MapDone { .. }
            | Msg::Abandon { .. } => 0,
            Msg::AssignReduce { locations, .. } => {
                ids(locations.0.workers.len() + locations.0.starts.len() + locations.0.tasks.len())
            }
            Msg::ReduceDone { counts, .. } | Msg::NaiveResult { counts, .. } => pairs(counts.len()),
            Msg::OutputsLost { missing, .. } => ids(2 * missing.len()),
            Msg::MapOutputsAt { outputs, .. } => ids(2 * outputs.len()),
            Msg::Pong { more, .. } => ids(more.len()),
            Msg::Fetch { tasks, .. } => ids(tasks.len()),
            Msg::FetchReply {
                served,
                missing,
                counts,
                runs,
                ..
            } => {
                ids(served.len() + missing.len())
                    + pairs(counts.len())
                    + runs.iter().map(|r| r.bytes).sum::<u64>()
            }
            Msg::NaiveAssign { tasks } => ids(tasks.len()),
        }
}

/// Folds words into a digest.
struct Digest(u64);

impl Digest {
    fn new(tag: u64) -> Digest {
        Digest(mix64(tag ^ 0x6d72_5f64_6967_6573))
    }
    fn add(&mut self, word: u64) {
        self.0 = mix64(self.0.rotate_left(17) ^ word);
    }
    fn add_pairs(&mut self, pairs: &[(u32, u64)]) {
        self.add(pairs.len() as u64);
        for &(word, count) in pairs {
            self.add((u64::from(word) << 32) ^ count);
        }
    }
}

/// A cheap, stable digest of a message for the run fingerprint (hashing `Debug` text
/// would cost more than simulating the message).
pub fn message_digest(msg: &Msg) -> u64 {
    let mut d;
    match msg {
        Msg::Ping { seq, acked } => {
            d = Digest::new(1);
            d.add(*seq);
            d.add(u64::from(*acked));
        }
        Msg::Pong {
            seq,
            running,
            reported,
            more,
        } => {
            d = Digest::new(2);
            d.add(*seq);
            d.add(u64::from(*running));
            d.add(u64::from(*reported));
            for &attempt in more {
                d.add(u64::from(attempt));
            }
        }
        Msg::AssignMap { task, attempt } => {
            d = Digest::new(3);
            d.add(u64::from(*task));
            d.add(u64::from(*attempt));
        }
        Msg::AssignReduce {
            partition,
            attempt,
            locations,
        } => {
            d = Digest::new(4);
            d.add(u64::from(*partition));
            d.add(u64::from(*attempt));
            d.add(locations.0.tasks.len() as u64);
            d.add(locations.0.workers.len() as u64);
        }
        Msg::MapDone { task, attempt } => {
            d = Digest::new(5);
            d.add(u64::from(*task));
            d.add(u64::from(*attempt));
        }
        Msg::ReduceDone {
            partition,
            attempt,
            counts,
            sorted,
        } => {
            d = Digest::new(6);
            d.add(u64::from(*partition));
            d.add(u64::from(*attempt));
            d.add_pairs(counts);
            if let Some(output) = sorted {
                d.add(output.records);
                d.add(output.checksum);
            }
        }
        Msg::OutputsLost {
            partition,
            attempt,
            missing,
        } => {
            d = Digest::new(7);
            d.add(u64::from(*partition));
            d.add(u64::from(*attempt));
            for &(task, worker) in missing {
                d.add((u64::from(task) << 32) ^ u64::from(worker));
            }
        }
        Msg::Fetch {
            partition,
            attempt,
            tasks,
        } => {
            d = Digest::new(8);
            d.add(u64::from(*partition));
            d.add(u64::from(*attempt));
            for &task in tasks {
                d.add(u64::from(task));
            }
        }
        Msg::FetchReply {
            partition,
            attempt,
            served: _,
            missing,
            counts,
            runs,
        } => {
            d = Digest::new(9);
            d.add(u64::from(*partition));
            d.add(u64::from(*attempt));
            for &task in missing {
                d.add(u64::from(task));
            }
            d.add(counts.len() as u64);
            for &(task, word, count) in counts {
                d.add((u64::from(task) << 32) ^ u64::from(word));
                d.add(count);
            }
            for run in runs {
                d.add((u64::from(run.task) << 32) ^ run.records);
                d.add(run.checksum);
            }
        }
        Msg::Abandon { attempt } => {
            d = Digest::new(12);
            d.add(u64::from(*attempt));
        }
        Msg::MapOutputsAt { attempt, outputs } => {
            d = Digest::new(13);
            d.add(u64::from(*attempt));
            for &(task, holder) in outputs {
                d.add((u64::from(task) << 32) ^ u64::from(holder));
            }
        }
        Msg::NaiveAssign { tasks } => {
            d = Digest::new(10);
            for &task in tasks {
                d.add(u64::from(task));
            }
        }
        Msg::NaiveResult { task, counts } => {
            d = Digest::new(11);
            d.add(u64::from(*task));
            d.add_pairs(counts);
        }
    }
    d.0
}

impl Protocol for MapReduce {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "mapreduce",
            summary: "MapReduce word count or sort (Dean & Ghemawat): master + workers, re-execution, backup tasks, disks and bandwidth",
            variants: VARIANTS,
            params: PARAMS,
            nodes_range: (2, 1_000_001),
        }
    }

    /// Node 0 is the master, `1..nodes` the workers; `[workload]` clients are ignored.
    fn total_nodes(&self, nodes: usize, _workload: &Workload) -> usize {
        nodes
    }

    /// `master` (node 0) and `workers` (`1..nodes`), so that a scenario can crash
    /// `count` workers drawn from the seed: `crash = { count = 200, among = "workers" }`.
    fn node_groups(&self, setup: &Setup<'_>) -> Vec<dsim_core::NodeGroup> {
        vec![
            dsim_core::NodeGroup::new("master", 0..1),
            dsim_core::NodeGroup::new("workers", 1..setup.nodes as u32),
        ]
    }

    fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        JobConfig::from_params(setup.nodes, setup.variant, setup.params).map(|_| ())
    }

    /// `fetch_timeout` must outlast the mean round trip of the default link
    /// ([`JobConfig::check_latency`], which `run` calls too).
    fn check_network(&self, setup: &Setup<'_>, network: &NetworkConfig) -> Result<(), ConfigError> {
        JobConfig::from_params(setup.nodes, setup.variant, setup.params)?.check_latency(network)
    }

    /// The corpus (4 bytes a word, held by the job; none for the sort), the Zipf table
    /// over the vocabulary, the map outputs (at most one 16-byte record per corpus
    /// word), and the shuffle: with every mapper asked at once, every reduce task
    /// fetches from every map task, M × R messages counted at 64 bytes each; with
    /// `fetch_parallelism = k`, at most `min(W, R) × k` fetches are in flight, each
    /// counted at 64 bytes plus 32 per map output it names (`M / W` of them).
    fn memory_estimate_bytes(&self, setup: &Setup<'_>) -> u64 {
        let int = |key| setup.params.int(PARAMS, key).max(0) as u64;
        let words = if setup.params.choice(PARAMS, "job") == "sort" {
            0
        } else {
            int("corpus_words")
        };
        let (maps, reduces) = (int("map_tasks"), int("reduce_tasks"));
        let workers = (setup.nodes as u64).saturating_sub(1).max(1);
        let window = int("fetch_parallelism");
        let shuffle = if window == 0 {
            maps.saturating_mul(reduces).saturating_mul(64)
        } else {
            let per_fetch = 64 + 32 * maps.div_ceil(workers);
            workers
                .min(reduces)
                .saturating_mul(window)
                .saturating_mul(per_fetch)
        };
        words
            .saturating_mul(4)
            .saturating_add(int("vocabulary").saturating_mul(16))
            .saturating_add(shuffle)
            .saturating_add(words.saturating_mul(16))
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        let config = JobConfig::from_params(request.nodes, &request.variant, &request.params)?;
        config.check_latency(&request.config.network)?;
        let seed = request.config.seed;
        let job = Arc::new(Job::new(config.clone(), seed));
        let nodes = request.nodes;
        // Judged as it runs, so that the master's events are not held to the end.
        let check = LiveCheck::new(&config, seed);
        let (output, trace_error) = execute_with_sink(
            request,
            nodes,
            move |id, _durable: &MrDurable| MrNode::new(id, job.clone()),
            Some(check.sink()),
        )?;
        let mut summary = check.finish();
        summary.violations.extend(liveness(
            &config,
            &summary,
            &LivenessPhase::of(&output.fault_log),
            output.end_time,
        ));
        Ok(RunResult {
            output: generic_output(output),
            verdict: summary.verdict(Formula::MeanOkLatency { name: "R" }),
            trace_error,
        })
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared helpers for the handler unit tests.

    use super::{Job, JobConfig, MrEvent, MrNode, Msg, Variant};
    use dsim_core::{Effect, NodeId, Observation, SimDuration};
    use std::sync::Arc;

    /// A small job: `workers` workers, `maps` map tasks over `words` words, `reduces`
    /// reduce tasks, 1 ms per word, 1 ms per record, 10 ms heartbeats, 50 ms timeout.
    pub fn job(
        workers: u32,
        maps: u32,
        reduces: u32,
        words: u64,
        tweak: impl FnOnce(&mut JobConfig),
    ) -> Arc<Job> {
        let mut config = JobConfig::defaults(workers as usize + 1, Variant::Correct);
        config.map_tasks = maps;
        config.reduce_tasks = reduces;
        config.corpus_words = words;
        config.vocabulary = 20;
        config.map_ns_per_word = 1_000_000;
        config.reduce_ns_per_record = 1_000_000;
        config.heartbeat_interval = SimDuration::from_millis(10);
        config.failure_timeout = SimDuration::from_millis(50);
        config.fetch_timeout = SimDuration::from_millis(20);
        tweak(&mut config);
        Arc::new(Job::new(config, 7))
    }

    /// The messages among `effects`, as (target, message).
    pub fn sends(effects: &[Effect<MrNode>]) -> Vec<(NodeId, Msg)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { target, msg } => Some((*target, msg.clone())),
                _ => None,
            })
            .collect()
    }

    /// The protocol events among `effects`.
    pub fn events(effects: &[Effect<MrNode>]) -> Vec<MrEvent> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Observe(Observation::Protocol(event)) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// The generic observations (operations) among `effects`.
    pub fn ops(effects: &[Effect<MrNode>]) -> Vec<Observation<MrEvent>> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Observe(
                    o @ (Observation::OpInvoked { .. } | Observation::OpCompleted { .. }),
                ) => Some(o.clone()),
                _ => None,
            })
            .collect()
    }

    /// The timers set among `effects`, as (after, timer).
    pub fn timers(effects: &[Effect<MrNode>]) -> Vec<(SimDuration, super::Timer)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::SetTimer { after, timer, .. } => Some((*after, *timer)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod size_tests {
    use super::{Msg, message_size};

    #[test]
    fn messages_weigh_their_header_plus_the_pairs_and_ids_they_carry() {
        // A fetch reply with 1,000 pairs is an intermediate file of 12 kB: under a
        // bandwidth it must take 120 times longer to send than a ping. Were every
        // message the default size, the shuffle would cost nothing more than pings.
        let ping = Msg::Ping { seq: 1, acked: 0 };
        let reply = Msg::FetchReply {
            partition: 0,
            attempt: 1,
            served: Vec::new(),
            missing: vec![3, 4],
            counts: (0..1_000).map(|word| (0, word, 1)).collect(),
            runs: Vec::new(),
        };
        assert_eq!(message_size(&ping), 100);
        assert_eq!(message_size(&reply), 100 + 8 + 12_000);
    }
}
