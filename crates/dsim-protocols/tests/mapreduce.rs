//! Integration tests of the `mapreduce` kind, run through `Protocol::run`.

use dsim_core::{
    Delay, Fault, Formula, LinkModel, NetworkConfig, NodeId, Observation, Outcome, ParamValue,
    Params, Protocol, RunRequest, RunResult, SimConfig, SimDuration, SimTime, Value, Workload,
};
use dsim_protocols::mapreduce::MapReduce;

struct Job {
    nodes: usize,
    variant: &'static str,
    params: Vec<(&'static str, ParamValue)>,
    seed: u64,
    duration: SimDuration,
    faults: Vec<(SimTime, Fault)>,
    link: LinkModel,
}

impl Job {
    fn new(nodes: usize) -> Job {
        Job {
            nodes,
            variant: "correct",
            params: Vec::new(),
            seed: 1,
            duration: SimDuration::from_secs(30),
            faults: Vec::new(),
            link: LinkModel::default(),
        }
    }

    fn set(mut self, key: &'static str, value: ParamValue) -> Job {
        self.params.push((key, value));
        self
    }

    fn run(&self) -> RunResult {
        let params = Params(
            self.params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        );
        let request = RunRequest {
            config: SimConfig {
                seed: self.seed,
                network: NetworkConfig {
                    default_link: self.link.clone(),
                    ..NetworkConfig::default()
                },
                ..SimConfig::default()
            },
            nodes: self.nodes,
            variant: self.variant.to_string(),
            params,
            workload: Workload {
                clients: 0,
                rate_per_s: 0.0,
                ..Workload::default()
            },
            duration: self.duration,
            faults: self.faults.clone(),
            trace: None,
            ops_sink: None,
        };
        MapReduce.run(request).expect("run")
    }
}

fn column(result: &RunResult, name: &str) -> String {
    result
        .verdict
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .to_string()
}

fn job_time_ns(result: &RunResult) -> Option<u64> {
    column(result, "job_time_ns").parse().ok()
}

fn job_completed(result: &RunResult) -> bool {
    column(result, "job_completed") == "true"
}

fn count(result: &RunResult, name: &str) -> u64 {
    column(result, name).parse().expect("a number")
}

/// The default job (8 workers, M = 32, R = 8, 64,000 words, 50 ms map tasks).
fn default_job() -> Job {
    Job::new(9)
}

fn lognormal_link(drop_ratio: f64, duplicate_ratio: f64) -> LinkModel {
    LinkModel {
        delay: Delay::LogNormal {
            median_ns: 1_000_000.0,
            sigma: 0.5,
        },
        drop_ratio,
        duplicate_ratio,
        ..LinkModel::default()
    }
}

fn ms(value: u64) -> SimTime {
    SimTime(value * 1_000_000)
}

#[test]
fn fault_free_job_counts_exactly_with_one_operation_per_task() {
    let result = default_job().run();
    // No violation means every committed partition equals the sequential count's.
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    assert!(job_completed(&result));
    assert_eq!(count(&result, "partitions_committed"), 8);
    assert_eq!(count(&result, "tasks_reexecuted"), 0);
    // ops.csv: one row per task, M + R = 40, every one ok. Backups do not add rows.
    let mut invoked = Vec::new();
    let mut ok = 0;
    // The checker's sink releases the task operations' observations once the engine
    // has paired them into `ops`: one left behind would be held to the end of a long
    // run for nothing.
    assert!(!result.output.observations.iter().any(|r| matches!(
        r.observation,
        Observation::OpInvoked { .. } | Observation::OpCompleted { .. }
    )));
    for op in &result.output.ops {
        // Task operations are keyed `[:map 3]` / `[:reduce 0]`.
        let kind = op
            .key
            .as_ref()
            .and_then(|key| key.as_list())
            .map(|k| k[0].clone());
        invoked.push(kind.expect("task ops are keyed"));
        if let Some(outcome) = op.outcome {
            assert_eq!(outcome, Outcome::Ok);
            ok += 1;
        }
        assert_eq!(op.client, NodeId(0), "operations are the master's view");
    }
    let kinds = |word: &str| {
        invoked
            .iter()
            .filter(|&k| *k == Value::keyword(word))
            .count()
    };
    assert_eq!(kinds("map"), 32);
    assert_eq!(kinds("reduce"), 8);
    assert_eq!(ok, 40);
    assert_eq!(result.verdict.formula, Formula::MeanOkLatency { name: "R" });
    // 32 maps of 2,000 words at 25 us on 8 workers: 4 waves of 50 ms, then the
    // reduces. Far more would mean idle workers or a stalled barrier.
    let job_time = job_time_ns(&result).expect("completed");
    assert!((200_000_000..400_000_000).contains(&job_time), "{job_time}");
}

#[test]
fn same_seed_replays_the_same_run() {
    let mut job = default_job();
    job.link = lognormal_link(0.01, 0.01);
    job.faults = vec![(ms(120), Fault::Crash(NodeId(3)))];
    let a = job.run();
    let b = job.run();
    // Any hidden nondeterminism (hash order, wall clock) would change the fingerprint.
    assert_eq!(a.output.fingerprint, b.output.fingerprint);
    assert_eq!(a.verdict, b.verdict);
    job.seed = 2;
    assert_ne!(job.run().output.fingerprint, a.output.fingerprint);
}

/// The straggler setup: worker 1 is 25 times slower than the others.
fn straggler_job(backup_tasks: bool) -> Job {
    default_job()
        .set("slow_workers", ParamValue::Int(1))
        .set("slow_factor", ParamValue::Int(25))
        .set("backup_tasks", ParamValue::Bool(backup_tasks))
}

#[test]
fn backup_tasks_finish_a_job_with_a_straggler_sooner() {
    let with = straggler_job(true).run();
    let without = straggler_job(false).run();
    for result in [&with, &without] {
        assert!(
            result.verdict.violations.is_empty(),
            "{:?}",
            result.verdict.violations
        );
        assert!(job_completed(result));
    }
    let with_ns = job_time_ns(&with).expect("completed");
    let without_ns = job_time_ns(&without).expect("completed");
    let ratio = without_ns as f64 / with_ns as f64;
    eprintln!(
        "stragglers: job time {with_ns} ns with backups, {without_ns} ns without: {ratio:.2}x \
         (the paper measured 1.44x for its sort)"
    );
    // Without backups the job waits for the straggler's 1.25 s map task (and then a
    // 25x reduce); with them an idle worker redoes that task in 50 ms. If backups were
    // never launched, or the slow primary's completion were awaited anyway, the two
    // times would be equal.
    assert!(count(&with, "backup_tasks_launched") >= 1);
    assert_eq!(count(&without, "backup_tasks_launched"), 0);
    assert!(ratio > 2.0, "ratio {ratio}");
}

#[test]
fn killing_a_quarter_of_the_workers_mid_job_still_yields_the_exact_count() {
    let fault_free_ns = job_time_ns(&default_job().run()).expect("completed");
    // Crash 2 of 8 workers during the map phase, and in another run 2 during the
    // reduce phase, when their completed map output is already being fetched.
    for (at, victims) in [
        (ms(110), [NodeId(2), NodeId(7)]),
        (ms(230), [NodeId(4), NodeId(5)]),
    ] {
        let mut job = default_job();
        job.link = lognormal_link(0.0, 0.0);
        job.faults = victims.iter().map(|&v| (at, Fault::Crash(v))).collect();
        let result = job.run();
        // Safety: the output is the sequential count, whatever was lost.
        assert!(
            result.verdict.violations.is_empty(),
            "{:?}",
            result.verdict.violations
        );
        assert_eq!(count(&result, "workers_failed"), 2);
        assert!(
            count(&result, "tasks_reexecuted") >= 2,
            "their work was redone"
        );
        // Liveness, stated bound: the job ends within twice the fault-free time plus
        // the failure timeout (250 ms), a heartbeat (50 ms) and a reducer's three
        // fetch rounds (300 ms). Lost work is redone on 6 workers, so this holds with
        // room; missing it means the master stalled on a dead worker.
        assert!(job_completed(&result));
        let job_ns = job_time_ns(&result).expect("completed");
        let bound_ns = 2 * fault_free_ns + 250_000_000 + 50_000_000 + 300_000_000;
        eprintln!(
            "quarter killed at {at}: job {job_ns} ns (fault-free {fault_free_ns}, bound {bound_ns})"
        );
        assert!(job_ns <= bound_ns, "{job_ns} > {bound_ns}");
    }
}

/// A small job for seed loops: 4 workers, M = 8, R = 2, 800 words (10 ms map tasks),
/// lognormal links, and worker `1 + seed % 4` crashing at a seed-chosen time in
/// [1, 40) ms, around the middle of the ~30 ms job.
fn crash_job(seed: u64, variant: &'static str) -> Job {
    use ParamValue::*;
    let mut job = Job::new(5)
        .set("map_tasks", Int(8))
        .set("reduce_tasks", Int(2))
        .set("corpus_words", Int(800))
        .set("vocabulary", Int(100))
        .set("map_ns_per_word", Int(100_000))
        .set("reduce_ns_per_record", Int(100_000))
        .set("heartbeat_interval", Duration(SimDuration::from_millis(5)))
        .set("failure_timeout", Duration(SimDuration::from_millis(20)))
        .set("fetch_timeout", Duration(SimDuration::from_millis(10)))
        .set("gather_timeout", Duration(SimDuration::from_millis(200)));
    job.variant = variant;
    job.seed = seed;
    job.duration = SimDuration::from_secs(1);
    job.link = lognormal_link(0.0, 0.0);
    let mut state = seed;
    let crash_ms = 1 + dsim_core::rng::splitmix64(&mut state) % 39;
    let victim = NodeId(1 + (seed % 4) as u32);
    job.faults = vec![(ms(crash_ms), Fault::Crash(victim))];
    job
}

#[test]
fn seed_naive_is_caught_and_correct_never_over_200_crash_seeds() {
    let mut naive_caught = 0;
    for seed in 1..=200 {
        let correct = crash_job(seed, "correct").run();
        // The correct master re-executes whatever the crash took: never a violation,
        // and the job always completes within the second.
        assert!(
            correct.verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            correct.verdict.violations
        );
        assert!(job_completed(&correct), "seed {seed} did not complete");
        let naive = crash_job(seed, "seed-naive").run();
        if !naive.verdict.violations.is_empty() {
            assert!(
                naive
                    .verdict
                    .violations
                    .iter()
                    .all(|v| v.check == "output_mismatch")
            );
            naive_caught += 1;
        }
    }
    eprintln!("seed-naive caught on {naive_caught} of 200 seeds");
    // The naive master combines whatever it gathered; a crash before the victim's last
    // split was sent loses counts. It must be caught on some seeds (not all: a crash
    // after the victim's results were sent loses nothing).
    assert!(naive_caught >= 1);
}

#[test]
fn seed_naive_is_exact_when_nothing_fails() {
    // The checker is not over-eager: without faults the naive scheme counts right.
    let mut job = crash_job(3, "seed-naive");
    job.faults.clear();
    let result = job.run();
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    assert!(job_completed(&result));
}

#[test]
fn lossy_duplicating_network_still_yields_the_exact_count() {
    // 5% of messages lost and 5% duplicated: lost assignments are written off, lost
    // reports re-sent with pongs, lost fetches retried; duplicates are ignored by
    // attempt id. Any gap would stall the job or count a map output twice.
    for seed in 1..=5 {
        let mut job = default_job();
        job.seed = seed;
        job.link = lognormal_link(0.05, 0.05);
        let result = job.run();
        assert!(
            result.verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            result.verdict.violations
        );
        assert!(job_completed(&result), "seed {seed}");
    }
}

#[test]
fn job_completes_after_the_workers_are_cut_off_and_the_partition_heals() {
    // Safety phase: from 60 ms to 1 s the master cannot reach any worker, so it
    // declares them all failed. Liveness phase: after the heal they answer pings,
    // are re-admitted, and the job must complete within 1 s of the heal.
    let mut job = default_job();
    job.link = lognormal_link(0.0, 0.0);
    let workers: Vec<NodeId> = (1..9).map(NodeId).collect();
    job.faults = vec![
        (ms(60), Fault::Partition(vec![vec![NodeId(0)], workers])),
        (ms(1_000), Fault::Heal),
    ];
    let result = job.run();
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    assert_eq!(count(&result, "workers_failed"), 8);
    let job_ns = job_time_ns(&result).expect("completed after the heal");
    assert!(job_ns > 1_000_000_000 && job_ns < 2_000_000_000, "{job_ns}");
}

#[test]
fn restarted_worker_comes_back_with_an_empty_disk_and_the_count_stays_exact() {
    // Worker 3 crashes in the reduce phase and restarts 100 ms later, before the
    // master's 250 ms timeout: reducers fetching from it hear that its outputs are
    // missing (not silence), and those map tasks are redone.
    let mut job = default_job();
    job.faults = vec![
        (ms(215), Fault::Crash(NodeId(3))),
        (ms(315), Fault::Restart(NodeId(3))),
    ];
    let result = job.run();
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    assert!(job_completed(&result));
    assert!(count(&result, "tasks_reexecuted") >= 1);
}

#[test]
fn master_crash_leaves_the_job_incomplete_but_is_no_violation() {
    // Master failure is not tolerated (as in the paper): the restarted master
    // abandons the job. Nothing wrong was committed, so nothing is a violation.
    let mut job = default_job();
    job.faults = vec![
        (ms(100), Fault::Crash(NodeId(0))),
        (ms(150), Fault::Restart(NodeId(0))),
    ];
    let result = job.run();
    assert!(result.verdict.violations.is_empty());
    assert!(!job_completed(&result));
    assert_eq!(column(&result, "job_time_ns"), "");
}

#[test]
fn bad_parameters_are_refused_with_a_clear_error() {
    let refused = |job: Job| -> String {
        let params = Params(
            job.params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        );
        let request = RunRequest {
            config: SimConfig::default(),
            nodes: job.nodes,
            variant: job.variant.to_string(),
            params,
            workload: Workload {
                clients: 0,
                rate_per_s: 0.0,
                ..Workload::default()
            },
            duration: SimDuration::from_secs(1),
            faults: Vec::new(),
            trace: None,
            ops_sink: None,
        };
        match MapReduce.run(request) {
            Err(err) => err.to_string(),
            Ok(_) => "accepted".to_string(),
        }
    };
    assert!(refused(Job::new(1)).contains("nodes >= 2"));
    assert!(refused(Job::new(3).set("slow_workers", ParamValue::Int(3))).contains("slow_workers"));
    assert!(
        refused(Job::new(3).set(
            "failure_timeout",
            ParamValue::Duration(SimDuration::from_millis(60))
        ))
        .contains("failure_timeout")
    );
    let mut unknown = Job::new(3);
    unknown.variant = "optimistic";
    assert!(refused(unknown).contains("no variant"));
}

#[test]
fn protocol_reports_its_kind_and_node_layout() {
    let info = MapReduce.info();
    assert_eq!(info.kind, "mapreduce");
    assert_eq!(info.variants[0].name, "correct");
    assert!(info.variants.iter().any(|v| v.name == "seed-naive"));
    // The job is the workload: clients add no nodes.
    let workload = Workload {
        clients: 3,
        rate_per_s: 10.0,
        ..Workload::default()
    };
    assert_eq!(MapReduce.total_nodes(9, &workload), 9);
}

/// Seeded random faults for the first 100 ms of the small crash job, on a network that
/// loses 5% and duplicates 2% of messages: worker crashes and restarts, and pauses,
/// isolations and partitions of any node (the master too, but it never crashes: that
/// is not tolerated). At 100 ms everything heals and every worker is restarted.
fn random_fault_job(seed: u64) -> Job {
    let mut job = crash_job(seed, "correct");
    job.link = lognormal_link(0.05, 0.02);
    job.faults.clear();
    let mut state = seed ^ 0x5eed;
    let mut next = |bound: u64| dsim_core::rng::splitmix64(&mut state) % bound;
    for _ in 0..8 {
        let at = ms(1 + next(99));
        let node = NodeId(next(5) as u32);
        let fault = match next(5) {
            0 if node.0 > 0 => Fault::Crash(node),
            0 | 1 => Fault::Restart(node),
            2 => Fault::Pause {
                node,
                duration: SimDuration::from_millis(5 + next(40)),
            },
            3 => Fault::Isolate(node),
            _ => Fault::Partition(vec![
                vec![NodeId(0), node],
                vec![NodeId(1 + next(4) as u32)],
            ]),
        };
        job.faults.push((at, fault));
    }
    job.faults.push((ms(100), Fault::Heal));
    for worker in 1..=4 {
        job.faults.push((ms(100), Fault::Restart(NodeId(worker))));
    }
    job
}

#[test]
fn random_faults_never_corrupt_the_count_and_the_job_ends_after_the_heal() {
    let mut latest_ns = 0;
    for seed in 1..=100 {
        let result = random_fault_job(seed).run();
        // Safety under any mix of worker faults and message loss.
        assert!(
            result.verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            result.verdict.violations
        );
        // Liveness: once everything is healed at 100 ms, the ~30 ms job must finish
        // within 400 ms more (failure timeout 20 ms, three fetch rounds 30 ms, a full
        // rerun of the job, and retries of lost messages).
        let job_ns = job_time_ns(&result).unwrap_or_else(|| panic!("seed {seed} never completed"));
        assert!(job_ns <= 500_000_000, "seed {seed}: {job_ns}");
        latest_ns = latest_ns.max(job_ns);
    }
    eprintln!("random faults: latest job end {latest_ns} ns");
}

// ----- audit regressions: fetch_timeout below the round trip, and liveness ------------

#[test]
fn fetch_timeout_below_the_round_trip_is_refused_before_running() {
    let request = |fetch_ms: u64| RunRequest {
        config: SimConfig {
            network: NetworkConfig {
                default_link: LinkModel {
                    delay: Delay::Constant { ns: 2_000_000 },
                    ..LinkModel::default()
                },
                ..NetworkConfig::default()
            },
            ..SimConfig::default()
        },
        nodes: 4,
        variant: "correct".to_string(),
        params: Params(
            [(
                "fetch_timeout".to_string(),
                ParamValue::Duration(SimDuration::from_millis(fetch_ms)),
            )]
            .into_iter()
            .collect(),
        ),
        workload: Workload {
            clients: 0,
            rate_per_s: 0.0,
            ..Workload::default()
        },
        duration: SimDuration::from_secs(20),
        faults: Vec::new(),
        trace: None,
        ops_sink: None,
    };
    // 1 ms against a 4 ms round trip: every fetch timed out, healthy map tasks were
    // re-executed forever, and the run exited 0 with job_completed = false.
    let refused = MapReduce.run(request(1)).err().expect("refused");
    let message = refused.to_string();
    assert!(
        message.contains("fetch_timeout") && message.contains("round trip"),
        "{message}"
    );
    // Above the round trip the same job runs and completes.
    let result = MapReduce.run(request(5)).expect("accepted");
    assert!(job_completed(&result));
    assert!(result.verdict.violations.is_empty());
}

#[test]
fn a_job_not_done_within_the_liveness_bound_of_a_healthy_cell_is_a_liveness_violation() {
    // The fault-free default job takes about 0.3 s; a 10 ms bound cannot hold. Without
    // the check an unfinished job was only a summary column.
    let result = default_job()
        .set(
            "liveness_bound",
            ParamValue::Duration(SimDuration::from_millis(10)),
        )
        .run();
    let checks: Vec<&str> = result.verdict.violations.iter().map(|v| v.check).collect();
    assert!(job_completed(&result));
    assert_eq!(checks, vec!["liveness"]);
    // With the default bound (5 s) the same job is live.
    assert!(default_job().run().verdict.violations.is_empty());
}
