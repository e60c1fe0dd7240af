//! The checker: the job's output must equal a sequential word count of the same corpus,
//! exactly, whatever failed. It regenerates the corpus from the seed and the parameters
//! and judges only from the master's observations.

use super::{Corpus, JobConfig, JobKind, MrEvent, SortOutput, expected_partitions, expected_sort};
use crate::liveness::LivenessPhase;
use dsim_core::{
    Formula, NodeId, Observation, ObservationRecord, ObservationSink, Retain, SimTime, Verdict,
    Violation,
};
use std::cell::RefCell;
use std::rc::Rc;

/// The name of the one safety check.
pub const OUTPUT_MISMATCH: &str = "output_mismatch";

/// The name of the liveness check.
pub const LIVENESS: &str = "liveness";

/// What the checker found in one run.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSummary {
    /// Safety violations (`output_mismatch`); empty when the output was right.
    pub violations: Vec<Violation>,
    /// The master declared the job done.
    pub job_completed: bool,
    /// From job start to job done, when it completed.
    pub job_time_ns: Option<u64>,
    /// When the master declared the job done.
    pub job_done_at: Option<SimTime>,
    /// Times a task went back to idle to be run again.
    pub tasks_reexecuted: u64,
    /// Backup attempts launched.
    pub backup_tasks_launched: u64,
    /// Times the master declared a worker failed.
    pub workers_failed: u64,
    /// Distinct partitions committed.
    pub partitions_committed: u32,
}

impl JobSummary {
    /// The verdict for the report: `job_time_ns` first among the extra columns (empty
    /// when the job did not complete, which is not a violation).
    pub fn verdict(&self, formula: Formula) -> Verdict {
        Verdict {
            violations: self.violations.clone(),
            formula,
            agreement: 1.0,
            extra_columns: vec![
                (
                    "job_time_ns",
                    self.job_time_ns
                        .map(|ns| ns.to_string())
                        .unwrap_or_default(),
                ),
                ("job_completed", self.job_completed.to_string()),
                ("tasks_reexecuted", self.tasks_reexecuted.to_string()),
                (
                    "backup_tasks_launched",
                    self.backup_tasks_launched.to_string(),
                ),
                ("workers_failed", self.workers_failed.to_string()),
                (
                    "partitions_committed",
                    self.partitions_committed.to_string(),
                ),
            ],
        }
    }
}

/// Sum of counts and number of distinct words.
fn totals(counts: &[(u32, u64)]) -> (usize, u64) {
    (counts.len(), counts.iter().map(|&(_, c)| c).sum())
}

/// One line saying how `got` differs from `expected`.
fn describe_difference(partition: u32, expected: &[(u32, u64)], got: &[(u32, u64)]) -> String {
    let (expected_words, expected_total) = totals(expected);
    let (got_words, got_total) = totals(got);
    let first = expected
        .iter()
        .zip(got)
        .position(|(e, g)| e != g)
        .unwrap_or(expected.len().min(got.len()));
    let at = match (expected.get(first), got.get(first)) {
        (Some(e), Some(g)) => format!(
            "first difference at entry {first}: expected word {} x{}, got word {} x{}",
            e.0, e.1, g.0, g.1
        ),
        (Some(e), None) => format!("output ends early: missing word {} x{}", e.0, e.1),
        (None, Some(g)) => format!("extra word {} x{}", g.0, g.1),
        (None, None) => "same entries".to_string(),
    };
    format!(
        "partition {partition}: expected {expected_words} words / {expected_total} occurrences, got {got_words} / {got_total}; {at}"
    )
}

/// Judges a run of `config` with `seed` from the master's observations.
pub fn check(
    config: &JobConfig,
    seed: u64,
    observations: &[ObservationRecord<MrEvent>],
) -> JobSummary {
    let mut job = JobCheck::new(config, seed);
    for record in observations {
        job.observe(record);
    }
    job.finish()
}

/// [`check`] one observation at a time.
struct JobCheck {
    reduce_tasks: u32,
    map_tasks: u32,
    /// Word count's expected partitions (empty for a sort).
    expected: Vec<Vec<(u32, u64)>>,
    /// The sort's expected partitions (empty for a word count).
    expected_sorted: Vec<SortOutput>,
    committed: Vec<bool>,
    summary: JobSummary,
    started_at: Option<SimTime>,
}

impl JobCheck {
    fn new(config: &JobConfig, seed: u64) -> JobCheck {
        let (expected, expected_sorted) = match config.job {
            JobKind::WordCount => {
                let corpus = Corpus::generate(
                    seed,
                    config.corpus_words,
                    config.vocabulary,
                    config.map_tasks,
                );
                let expected =
                    expected_partitions(corpus.words(), config.vocabulary, config.reduce_tasks);
                (expected, Vec::new())
            }
            JobKind::Sort => (Vec::new(), expected_sort(config, seed)),
        };
        JobCheck {
            reduce_tasks: config.reduce_tasks,
            map_tasks: config.map_tasks,
            expected,
            expected_sorted,
            committed: vec![false; config.reduce_tasks as usize],
            summary: JobSummary {
                violations: Vec::new(),
                job_completed: false,
                job_time_ns: None,
                job_done_at: None,
                tasks_reexecuted: 0,
                backup_tasks_launched: 0,
                workers_failed: 0,
                partitions_committed: 0,
            },
            started_at: None,
        }
    }

    fn observe(&mut self, record: &ObservationRecord<MrEvent>) {
        let Observation::Protocol(event) = &record.observation else {
            return;
        };
        let violation = |details: String| Violation {
            time: record.time,
            check: OUTPUT_MISMATCH,
            nodes: vec![record.node],
            details,
            ops: Vec::new(),
            figure: None,
        };
        let summary = &mut self.summary;
        match event {
            MrEvent::JobStarted => {
                self.started_at.get_or_insert(record.time);
            }
            MrEvent::PartitionCommitted { partition, counts } => {
                let Some(want) = self.expected.get(*partition as usize) else {
                    summary.violations.push(violation(format!(
                        "partition {partition} committed, but the job has only {} partitions",
                        self.reduce_tasks
                    )));
                    return;
                };
                if counts != want {
                    summary
                        .violations
                        .push(violation(describe_difference(*partition, want, counts)));
                }
                if !self.committed[*partition as usize] {
                    self.committed[*partition as usize] = true;
                    summary.partitions_committed += 1;
                }
            }
            MrEvent::SortedCommitted { partition, output } => {
                let Some(want) = self.expected_sorted.get(*partition as usize) else {
                    summary.violations.push(violation(format!(
                        "sorted partition {partition} committed, but the job is not a sort of {} partitions",
                        self.reduce_tasks
                    )));
                    return;
                };
                if output != want {
                    summary.violations.push(violation(format!(
                        "partition {partition}: expected {} records / {} bytes / checksum {:016x} (the merge of one run from each of the {} map tasks), got {} / {} / {:016x}",
                        want.records,
                        want.bytes,
                        want.checksum,
                        self.map_tasks,
                        output.records,
                        output.bytes,
                        output.checksum
                    )));
                }
                if !self.committed[*partition as usize] {
                    self.committed[*partition as usize] = true;
                    summary.partitions_committed += 1;
                }
            }
            MrEvent::JobDone => {
                let committed = &self.committed;
                let missing: Vec<usize> = (0..committed.len()).filter(|&p| !committed[p]).collect();
                if !missing.is_empty() {
                    summary.violations.push(violation(format!(
                        "job declared done with {} of {} partitions never committed (first: {})",
                        missing.len(),
                        committed.len(),
                        missing[0]
                    )));
                }
                if !summary.job_completed {
                    summary.job_completed = true;
                    summary.job_done_at = Some(record.time);
                    let start = self.started_at.unwrap_or(SimTime::ZERO);
                    summary.job_time_ns = Some(record.time.saturating_since(start).as_nanos());
                }
            }
            MrEvent::TaskReset { .. } => summary.tasks_reexecuted += 1,
            MrEvent::BackupLaunched { .. } => summary.backup_tasks_launched += 1,
            MrEvent::WorkerFailed { .. } => summary.workers_failed += 1,
            MrEvent::WorkerReadmitted { .. } | MrEvent::MasterRestarted => {}
        }
    }

    fn finish(self) -> JobSummary {
        self.summary
    }
}

/// [`check`] while the run happens: [`LiveCheck::sink`] is the engine's observation
/// sink, which judges each of the master's observations as it is made and releases
/// it, and releases the task operations' observations too (the engine pairs each
/// operation into `RunOutput::ops` as it happens), keeping only the metrics the report's
/// rate chart reads, so a long run does not hold every task reset, committed
/// partition's counts or task operation twice.
/// [`LiveCheck::finish`] gives the summary [`check`] gives on the whole run.
pub struct LiveCheck {
    job: Rc<RefCell<Option<JobCheck>>>,
}

impl LiveCheck {
    /// A check of the job `config` run with `seed`.
    pub fn new(config: &JobConfig, seed: u64) -> LiveCheck {
        LiveCheck {
            job: Rc::new(RefCell::new(Some(JobCheck::new(config, seed)))),
        }
    }

    /// The observation sink to attach to the run.
    pub fn sink(&self) -> Box<dyn ObservationSink<MrEvent>> {
        let job = Rc::clone(&self.job);
        Box::new(move |record: &ObservationRecord<MrEvent>| {
            if let Some(job) = job.borrow_mut().as_mut() {
                job.observe(record);
            }
            Retain::after_judging(&record.observation)
        })
    }

    /// The job's summary, as [`check`] gives it.
    pub fn finish(self) -> JobSummary {
        self.job
            .borrow_mut()
            .take()
            .map(JobCheck::finish)
            .expect("a LiveCheck finishes once")
    }
}

/// The liveness check: once the last fault ended (`phase.start`), with the master never
/// crashed (master failure is not tolerated, by design), a majority of workers up and
/// the network whole, the job completes within `config.liveness_bound`. A job not done
/// by that deadline is a `liveness` violation (a run that ends before it is not
/// judged). Before this check a job that could never finish exited 0.
pub fn liveness(
    config: &JobConfig,
    summary: &JobSummary,
    phase: &LivenessPhase,
    end_time: SimTime,
) -> Option<Violation> {
    let master = NodeId(0);
    let workers = (1..=config.workers).map(NodeId);
    let workers_up = phase.up_among(workers);
    let healthy = phase.network_whole
        && !phase.ever_crashed.contains(&master)
        && workers_up * 2 > config.workers as usize;
    let deadline = phase.start.saturating_add(config.liveness_bound);
    let in_time = summary.job_done_at.is_some_and(|done| done <= deadline);
    if in_time || !healthy || end_time < deadline {
        return None;
    }
    let outcome = match summary.job_done_at {
        Some(done) => format!("it was done only at {done}"),
        None => format!(
            "{} of {} partitions committed, {} task re-executions",
            summary.partitions_committed, config.reduce_tasks, summary.tasks_reexecuted
        ),
    };
    Some(Violation {
        time: deadline,
        check: LIVENESS,
        nodes: vec![master],
        details: format!(
            "the job was not done {} after the last fault ended at {} ({workers_up} of {} workers up, the network whole): {outcome}",
            config.liveness_bound, phase.start, config.workers,
        ),
        ops: Vec::new(),
        figure: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapreduce::{TaskKind, Variant};

    fn config() -> JobConfig {
        let mut config = JobConfig::defaults(3, Variant::Correct);
        config.map_tasks = 4;
        config.reduce_tasks = 3;
        config.corpus_words = 500;
        config.vocabulary = 40;
        config
    }

    fn record(ms: u64, event: MrEvent) -> ObservationRecord<MrEvent> {
        ObservationRecord {
            time: SimTime(ms * 1_000_000),
            node: NodeId(0),
            observation: Observation::Protocol(event),
        }
    }

    /// A run that commits `partitions` (index = partition) and then says done.
    fn run_with(partitions: Vec<Vec<(u32, u64)>>) -> Vec<ObservationRecord<MrEvent>> {
        let mut records = vec![record(2, MrEvent::JobStarted)];
        for (partition, counts) in partitions.into_iter().enumerate() {
            records.push(record(
                10 + partition as u64,
                MrEvent::PartitionCommitted {
                    partition: partition as u32,
                    counts,
                },
            ));
        }
        records.push(record(40, MrEvent::JobDone));
        records
    }

    fn expected(config: &JobConfig, seed: u64) -> Vec<Vec<(u32, u64)>> {
        let corpus = Corpus::generate(
            seed,
            config.corpus_words,
            config.vocabulary,
            config.map_tasks,
        );
        expected_partitions(corpus.words(), config.vocabulary, config.reduce_tasks)
    }

    #[test]
    fn judged_as_it_runs_master_events_and_task_operations_are_released_metrics_kept() {
        // The sink must judge every master event as `check` does (a wrong count from
        // seed 6's partitions, a missing partition at done) and release it, release a
        // task operation too (the engine pairs it into `RunOutput::ops`), while a
        // metric stays for the report's rate chart. A sink that kept protocol or
        // operation events, dropped a metric, or judged one differently, fails below.
        let config = config();
        let mut records = run_with(expected(&config, 6));
        records[2] = record(
            11,
            MrEvent::PartitionCommitted {
                partition: 1,
                counts: vec![(0, 1)],
            },
        );
        records.push(ObservationRecord {
            time: SimTime(50),
            node: NodeId(0),
            observation: Observation::OpInvoked {
                op: 0,
                f: "task",
                key: None,
                arg: dsim_core::Value::Nil,
            },
        });
        records.push(ObservationRecord {
            time: SimTime(51),
            node: NodeId(1),
            observation: Observation::Metric {
                name: "mr_output_bytes",
                value: 10,
            },
        });
        let live = LiveCheck::new(&config, 6);
        let mut sink = live.sink();
        let kept: Vec<Retain> = records.iter().map(|record| sink.observe(record)).collect();
        drop(sink);
        let mut expected_kept = vec![Retain::Release; records.len() - 1];
        expected_kept.push(Retain::Keep);
        assert_eq!(kept, expected_kept);
        let summary = live.finish();
        let whole = check(&config, 6, &records);
        assert_eq!(summary.violations, whole.violations);
        assert_eq!(summary.violations.len(), 1, "{:?}", summary.violations);
        assert_eq!(
            (summary.job_time_ns, summary.partitions_committed),
            (whole.job_time_ns, whole.partitions_committed)
        );
    }

    #[test]
    fn sorted_partition_with_a_dropped_or_doubled_map_output_is_a_mismatch() {
        use crate::mapreduce::{JobKind, SortOutput, sort_run};
        let mut config = config();
        config.job = JobKind::Sort;
        config.input_bytes = 40_000;
        let seed = 3;
        let runs = |partition: u32| -> Vec<crate::mapreduce::SortRun> {
            (0..4)
                .map(|t| sort_run(&config, seed, t, partition))
                .collect()
        };
        let commit = |ms: u64, partition: u32, output: SortOutput| {
            record(ms, MrEvent::SortedCommitted { partition, output })
        };
        let mut doubled = runs(1);
        doubled.push(doubled[0]);
        let records = vec![
            record(1, MrEvent::JobStarted),
            commit(2, 0, SortOutput::merge(&runs(0))),
            // Partition 1 merged map 0's run twice (a re-executed map fetched twice),
            // partition 2 lost map 3's run (a crashed mapper's output skipped).
            commit(3, 1, SortOutput::merge(&doubled)),
            commit(4, 2, SortOutput::merge(&runs(2)[..3])),
            record(5, MrEvent::JobDone),
        ];
        let summary = check(&config, seed, &records);
        let bad: Vec<bool> = summary
            .violations
            .iter()
            .map(|v| v.details.starts_with("partition 1:") || v.details.starts_with("partition 2:"))
            .collect();
        // Exactly the two faulty partitions are flagged; the right one is not.
        assert_eq!(bad, vec![true, true], "{:?}", summary.violations);
        assert_eq!(summary.partitions_committed, 3);
    }

    #[test]
    fn exact_output_passes_and_job_time_runs_from_start_to_done() {
        let config = config();
        let mut records = run_with(expected(&config, 5));
        records.insert(
            1,
            record(
                3,
                MrEvent::BackupLaunched {
                    kind: TaskKind::Map,
                    task: 1,
                    worker: 2,
                },
            ),
        );
        let summary = check(&config, 5, &records);
        assert!(summary.violations.is_empty(), "{:?}", summary.violations);
        assert!(summary.job_completed);
        // JobStarted at 2 ms, JobDone at 40 ms.
        assert_eq!(summary.job_time_ns, Some(38_000_000));
        assert_eq!(summary.backup_tasks_launched, 1);
        let verdict = summary.verdict(Formula::MeanOkLatency { name: "R" });
        assert_eq!(
            verdict.extra_columns[0],
            ("job_time_ns", "38000000".to_string())
        );
    }

    #[test]
    fn one_missing_occurrence_is_an_output_mismatch() {
        // Off by one in one word of one partition: the smallest possible loss (one
        // word of a lost split) must still be caught.
        let config = config();
        let mut partitions = expected(&config, 5);
        partitions[1][0].1 -= 1;
        let summary = check(&config, 5, &run_with(partitions));
        assert_eq!(summary.violations.len(), 1);
        assert_eq!(summary.violations[0].check, OUTPUT_MISMATCH);
        assert!(
            summary.violations[0].details.starts_with("partition 1:"),
            "{}",
            summary.violations[0].details
        );
    }

    #[test]
    fn output_from_another_seed_is_caught() {
        // The checker must regenerate the corpus from the run's own seed.
        let config = config();
        let summary = check(&config, 6, &run_with(expected(&config, 5)));
        assert!(!summary.violations.is_empty());
    }

    #[test]
    fn job_declared_done_with_a_partition_never_committed_is_a_mismatch() {
        let config = config();
        let mut partitions = expected(&config, 5);
        partitions.pop();
        let summary = check(&config, 5, &run_with(partitions));
        assert_eq!(summary.violations.len(), 1);
        assert!(summary.violations[0].details.contains("never committed"));
    }

    #[test]
    fn unfinished_job_is_reported_but_not_a_violation() {
        // A master crash leaves the job incomplete: liveness, not safety.
        let config = config();
        let mut records = run_with(expected(&config, 5));
        records.truncate(2);
        let summary = check(&config, 5, &records);
        assert!(summary.violations.is_empty());
        assert!(!summary.job_completed);
        assert_eq!(summary.job_time_ns, None);
        let verdict = summary.verdict(Formula::MeanOkLatency { name: "R" });
        assert_eq!(verdict.extra_columns[0], ("job_time_ns", String::new()));
        assert_eq!(
            verdict.extra_columns[1],
            ("job_completed", "false".to_string())
        );
    }

    #[test]
    fn a_job_unfinished_long_after_the_last_fault_is_a_liveness_violation() {
        let config = config();
        let phase = LivenessPhase::of(&[]);
        let unfinished = check(&config, 5, &[record(2, MrEvent::JobStarted)]);
        let end = SimTime::ZERO.saturating_add(config.liveness_bound);
        // Fault-free, two workers up, the deadline reached: a job that never finished
        // (the audit's fetch_timeout run) must not pass quietly.
        let found = liveness(&config, &unfinished, &phase, end);
        assert_eq!(found.map(|v| v.check), Some(LIVENESS));
        // A run that ends before the deadline is not judged.
        let early = SimTime(end.0 - 1);
        assert!(liveness(&config, &unfinished, &phase, early).is_none());
        // A finished job is live.
        let finished = check(&config, 5, &run_with(expected(&config, 5)));
        assert!(liveness(&config, &finished, &phase, end).is_none());
        // With the master crashed the job may legitimately never finish.
        let master_crashed = LivenessPhase::of(&[dsim_core::FaultRecord {
            time: SimTime(1),
            fault: dsim_core::Fault::Crash(NodeId(0)),
        }]);
        let late = SimTime(end.0 + 1);
        assert!(liveness(&config, &unfinished, &master_crashed, late).is_none());
    }
}
