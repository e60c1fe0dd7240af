//! The lock service through the engine: mutual exclusion at the guarded resource
//! through master crashes, partitions that isolate the master, client pauses and
//! message loss; a liveness phase after healing; the buggy variants caught by the
//! checker; and the clock-drift bound of the master lease, shown from both sides.
//!
//! The seed-sweep tests build in code the same runs as the ready scenario files
//! `scenarios/lock-master-failover.toml`, `scenarios/lock-pause-without-fencing.toml`
//! and `scenarios/clock-skew-lease.toml` (this crate cannot read scenario files: the
//! scenario crate sits above it).

use dsim_core::{
    ClosedLoop, Delay, Fault, LinkModel, LinkOrder, NetworkConfig, NodeId, Observation,
    ObservationRecord, Outcome, ParamValue, Params, Protocol, RunOutput, RunRequest, SimConfig,
    SimDuration, SimTime, Simulation, StorageMode, Topology, Verdict, Workload,
};
use dsim_protocols::lock_service::{
    self, LockConfig, LockEvent, LockNode, LockService, build_simulation,
};

const MS: u64 = 1_000_000;

fn at_ms(ms: u64) -> SimTime {
    SimTime(ms * MS)
}

fn network(median_ms: f64, sigma: f64, drop_ratio: f64, duplicate_ratio: f64) -> NetworkConfig {
    NetworkConfig {
        default_link: LinkModel {
            delay: Delay::LogNormal {
                median_ns: median_ms * MS as f64,
                sigma,
            },
            drop_ratio,
            duplicate_ratio,
            order: LinkOrder::Unordered,
        },
        topology: Topology::FullMesh,
    }
}

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    Params(
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect(),
    )
}

fn duration(ms: u64) -> ParamValue {
    ParamValue::Duration(SimDuration::from_millis(ms))
}

/// The run of `scenarios/lock-master-failover.toml` with `seed` and `variant`.
fn master_failover(seed: u64, variant: &str) -> RunRequest {
    RunRequest {
        config: SimConfig {
            seed,
            network: network(2.0, 0.6, 0.01, 0.001),
            storage: StorageMode::LoseUnsynced,
            message_log_limit: 0,
            load: None,
        },
        nodes: 5,
        variant: variant.to_string(),
        params: Params::default(),
        workload: Workload {
            clients: 5,
            rate_per_s: 50.0,
            ..Workload::default()
        },
        duration: SimDuration::from_secs(4),
        faults: vec![
            (at_ms(1_000), Fault::Crash(NodeId(0))),
            (at_ms(2_500), Fault::Restart(NodeId(0))),
        ],
        trace: None,
        ops_sink: None,
    }
}

fn run(request: RunRequest) -> Verdict {
    LockService
        .run(request)
        .expect("the run is configured correctly")
        .verdict
}

/// The run of `scenarios/lock-pause-without-fencing.toml` with `seed` and `variant`.
fn client_pause(seed: u64, variant: &str) -> RunRequest {
    RunRequest {
        config: SimConfig {
            seed,
            network: network(2.0, 0.5, 0.0, 0.0),
            storage: StorageMode::KeepAll,
            message_log_limit: 0,
            load: None,
        },
        nodes: 5,
        variant: variant.to_string(),
        params: params(&[("locks", ParamValue::Int(3)), ("hold_time", duration(80))]),
        workload: Workload {
            clients: 4,
            rate_per_s: 40.0,
            ..Workload::default()
        },
        duration: SimDuration::from_millis(2_500),
        faults: vec![(
            at_ms(1_000),
            Fault::Pause {
                node: NodeId(5),
                duration: SimDuration::from_secs(1),
            },
        )],
        trace: None,
        ops_sink: None,
    }
}

/// The run of `scenarios/clock-skew-lease.toml` with `seed`, the master's (node 0)
/// clock drift and a replica's (node 1) drift, in parts per million.
fn clock_skew(seed: u64, master_drift_ppm: i64, replica_drift_ppm: i64) -> RunRequest {
    let nodes = |ids: &[u32]| ids.iter().copied().map(NodeId).collect::<Vec<_>>();
    RunRequest {
        config: SimConfig {
            seed,
            network: network(2.0, 0.5, 0.0, 0.0),
            storage: StorageMode::KeepAll,
            message_log_limit: 0,
            load: None,
        },
        nodes: 5,
        variant: "correct".to_string(),
        params: params(&[
            ("master_lease", duration(1_000)),
            ("election_timeout", duration(20)),
            ("heartbeat_interval", duration(10)),
        ]),
        workload: Workload {
            clients: 4,
            rate_per_s: 40.0,
            ..Workload::default()
        },
        duration: SimDuration::from_secs(4),
        faults: vec![
            (
                at_ms(0),
                Fault::ClockDrift {
                    node: NodeId(0),
                    drift_ppm: master_drift_ppm,
                },
            ),
            (
                at_ms(0),
                Fault::ClockDrift {
                    node: NodeId(1),
                    drift_ppm: replica_drift_ppm,
                },
            ),
            (
                at_ms(1_000),
                Fault::Partition(vec![nodes(&[0]), nodes(&[1, 2, 3, 4])]),
            ),
            (at_ms(3_000), Fault::Heal),
        ],
        trace: None,
        ops_sink: None,
    }
}

fn extra(verdict: &Verdict, name: &str) -> u64 {
    verdict
        .column(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// Runs `seeds` and returns the seeds whose verdict has a violation of `check`.
fn seeds_violating(
    seeds: std::ops::RangeInclusive<u64>,
    check: &str,
    request: impl Fn(u64) -> RunRequest,
) -> Vec<u64> {
    seeds
        .filter(|&seed| {
            run(request(seed))
                .violations
                .iter()
                .any(|v| v.check == check)
        })
        .collect()
}

// ----- the buggy variants are caught; correct is clean on the same seeds ----------

#[test]
fn no_fencing_is_caught_landing_a_paused_holders_stale_write() {
    let caught = seeds_violating(1..=200, "stale_write", |seed| {
        client_pause(seed, "no-fencing")
    });
    println!(
        "no-fencing: {} of 200 seeds land a stale write, first {:?}",
        caught.len(),
        caught.first()
    );
    // A resource that checked sequencers would refuse the write, so no seed could show it.
    assert!(!caught.is_empty(), "no seed in 1..=200 caught no-fencing");
    // The ready scenario's own seed shows it.
    assert!(
        caught.contains(&44),
        "seed 44 of the ready scenario must show the bug"
    );
}

#[test]
fn correct_resource_refuses_the_paused_holders_stale_write_on_every_seed() {
    let mut refused_seeds = 0;
    for seed in 1..=200 {
        let verdict = run(client_pause(seed, "correct"));
        // Any violation is a real safety bug in the service, the resource or the checker.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        // The paused client's session must have been judged expired: its lease ran out.
        assert!(extra(&verdict, "sessions_expired") >= 1, "seed {seed}");
        if extra(&verdict, "writes_refused") > 0 {
            refused_seeds += 1;
        }
    }
    println!("correct: fencing refused a stale write on {refused_seeds} of 200 seeds");
    // Without fencing doing the work, these seeds would be the no-fencing violations.
    assert!(refused_seeds > 0);
    let verdict = run(client_pause(44, "correct"));
    assert_eq!(
        extra(&verdict, "writes_refused"),
        1,
        "the ready scenario's story"
    );
}

#[test]
fn seed_naive_is_caught_reusing_generations_after_its_server_crashes() {
    let caught = seeds_violating(1..=200, "mutual_exclusion", |seed| {
        master_failover(seed, "seed-naive")
    });
    println!(
        "seed-naive: {} of 200 seeds break mutual exclusion, first {:?}",
        caught.len(),
        caught.first()
    );
    // A server that kept its generations across the crash would never grant one twice.
    assert!(!caught.is_empty(), "no seed in 1..=200 caught seed-naive");
}

/// `scenarios/lock-master-failover.toml` with holds longer than the server's outage:
/// `--set protocol.hold_time=200ms --set faults.1.at=1.1s` (node 0 down 100 ms).
fn short_failover(seed: u64, variant: &str) -> RunRequest {
    let mut request = master_failover(seed, variant);
    request.params = params(&[("hold_time", duration(200))]);
    request.faults[1].0 = at_ms(1_100);
    request
}

#[test]
fn seed_naive_restarting_inside_a_hold_is_caught_by_the_clients_mutex_history() {
    let caught = seeds_violating(1..=40, "mutex_history", |seed| {
        short_failover(seed, "seed-naive")
    });
    println!(
        "seed-naive: {} of 40 seeds break the clients' mutex history, first {:?}",
        caught.len(),
        caught.first()
    );
    // The restarted server forgets holds still in use and grants those locks again:
    // two clients hold one lock at once, each releasing it after the other's grant. A
    // server that kept its holders (or a checker that ignored releases) shows none.
    assert!(caught.len() >= 5, "caught on {caught:?}");
    let verdict = run(short_failover(caught[0], "seed-naive"));
    let violation = verdict
        .violations
        .iter()
        .find(|v| v.check == "mutex_history")
        .expect("the caught seed has the violation");
    // The report names the operations by their ops.csv rows.
    assert!(
        violation
            .details
            .contains("ops involved (op ids as in ops.csv): [op "),
        "{}",
        violation.details
    );
}

#[test]
fn correct_with_holds_longer_than_the_failover_keeps_a_clean_mutex_history() {
    for seed in 1..=40 {
        let verdict = run(short_failover(seed, "correct"));
        // The replicated cell keeps every hold across the failover: any violation here
        // (mutex_history included) is a bug in the service, the client or the checker.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
    }
}

#[test]
fn correct_keeps_locks_and_sessions_through_master_failover_on_every_seed() {
    let mut unavailable_ns_max = 0;
    let mut unavailable_ns_min = u64::MAX;
    for seed in 1..=200 {
        let verdict = run(master_failover(seed, "correct"));
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        // The crashed master is replaced: at least two masterships.
        assert!(extra(&verdict, "master_changes") >= 2, "seed {seed}");
        // The failover grace keeps every session: none is judged expired.
        assert_eq!(extra(&verdict, "sessions_expired"), 0, "seed {seed}");
        let unavailable_ns = extra(&verdict, "unavailable_ns");
        unavailable_ns_max = unavailable_ns_max.max(unavailable_ns);
        unavailable_ns_min = unavailable_ns_min.min(unavailable_ns);
    }
    println!(
        "failover: no serving master for {:.0} to {:.0} ms",
        unavailable_ns_min as f64 / 1e6,
        unavailable_ns_max as f64 / 1e6
    );
    // Nobody may be elected while the old master's lease promise stands (300 ms from the
    // last acknowledgement, at most one 20 ms heartbeat before the crash): a shorter gap
    // would mean the lease was not honoured. An election plus recovery after that stays
    // well under 300 ms more.
    assert!(unavailable_ns_min >= 250 * MS, "min {unavailable_ns_min}");
    assert!(unavailable_ns_max <= 600 * MS, "max {unavailable_ns_max}");
}

// ----- clock drift: the bound the lease margin covers, from both sides ---------------

/// The drift bound of the default 2% lease margin: the master's clock may run up to
/// about 20,000 ppm slower than a replica's.
#[test]
fn drift_within_the_lease_margin_keeps_master_leases_disjoint() {
    for seed in 1..=50 {
        // 0.98 x 1.004 = 0.98392 <= 0.985: within the bound.
        let verdict = run(clock_skew(seed, -15_000, 4_000));
        // An overlap here would mean the margin does not cover the drift it claims to.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        assert!(
            extra(&verdict, "master_changes") >= 2,
            "seed {seed}: no failover"
        );
    }
}

#[test]
fn drift_beyond_the_lease_margin_lets_an_old_master_act_after_a_new_one_started() {
    let overlapping = seeds_violating(1..=20, "master_lease", |seed| clock_skew(seed, -60_000, 0));
    println!(
        "master 60,000 ppm slow: overlapping master leases on {} of 20 seeds",
        overlapping.len()
    );
    // At three times the bound the old master's lease outlives the replicas' promise by
    // ~40 ms, longer than an election takes: the checker must see two masters at once.
    assert!(overlapping.len() >= 10, "only {overlapping:?}");
}

// ----- faults one by one, with a liveness phase after healing -----------------------

/// After the last fault healed, every client is granted a lock within this much virtual
/// time (the master lease, an election, and a client retry or two fit well inside).
const LIVENESS_BOUND: SimDuration = SimDuration::from_secs(1);

const REPLICAS: u32 = 5;
const CLIENTS: u32 = 5;

fn cell_config() -> LockConfig {
    LockConfig::new(
        REPLICAS as usize,
        Workload {
            clients: CLIENTS as usize,
            rate_per_s: 50.0,
            ..Workload::default()
        },
    )
}

fn simulation(seed: u64, storage: StorageMode, config: &LockConfig) -> Simulation<LockNode> {
    let sim = SimConfig {
        seed,
        network: network(2.0, 0.6, 0.01, 0.005),
        storage,
        message_log_limit: 0,
        load: None,
    };
    build_simulation(sim, config).expect("valid configuration")
}

fn serving_master(sim: &Simulation<LockNode>) -> Option<NodeId> {
    (0..REPLICAS)
        .map(NodeId)
        .find(|&id| sim.node(id).and_then(LockNode::serving).is_some())
}

fn clients() -> impl Iterator<Item = NodeId> {
    (REPLICAS..REPLICAS + CLIENTS).map(NodeId)
}

/// The liveness phase: every client completes an acquire within [`LIVENESS_BOUND`]
/// after `heal`, and every acquire invoked after `heal + LIVENESS_BOUND` (up to a second
/// before the end) is granted. Returns the slowest first grant after `heal`.
fn assert_live(observations: &[ObservationRecord<LockEvent>], heal: SimTime) -> SimDuration {
    let end = observations.last().map_or(heal, |record| record.time);
    let settled = heal + LIVENESS_BOUND;
    let mut first_grant = std::collections::BTreeMap::new();
    let mut invoked = std::collections::BTreeMap::new();
    for record in observations {
        match record.observation {
            // Acquires only: releases are confirmed by later replies, not granted.
            Observation::OpInvoked {
                op, f: "acquire", ..
            } => {
                invoked.insert((record.node, op), (record.time, None));
            }
            Observation::OpCompleted { op, outcome, .. } => {
                let Some(entry) = invoked.get_mut(&(record.node, op)) else {
                    continue;
                };
                entry.1 = Some(outcome);
                if outcome == dsim_core::Outcome::Ok && record.time >= heal {
                    first_grant.entry(record.node).or_insert(record.time);
                }
            }
            _ => {}
        }
    }
    let mut slowest = SimDuration::ZERO;
    for client in clients() {
        let granted = first_grant
            .get(&client)
            .unwrap_or_else(|| panic!("{client} was never granted a lock after {heal}"));
        let waited = granted.saturating_since(heal);
        // Grants must resume within the stated bound once everything healed.
        assert!(
            waited <= LIVENESS_BOUND,
            "{client} waited {waited} after {heal}"
        );
        slowest = slowest.max(waited);
    }
    for ((client, op), (at, outcome)) in invoked {
        if at >= settled && at.0 + 1_000 * MS < end.0 {
            assert_eq!(
                outcome,
                Some(dsim_core::Outcome::Ok),
                "acquire {op} of {client} at {at}, after the cell settled"
            );
        }
    }
    slowest
}

fn output_of(sim: Simulation<LockNode>) -> RunOutput<LockEvent> {
    sim.into_output()
}

fn assert_clean(output: &RunOutput<LockEvent>, config: &LockConfig, what: &str) -> Verdict {
    let verdict = lock_service::check(output, config);
    assert!(
        verdict.violations.is_empty(),
        "{what}: {:?}",
        verdict.violations
    );
    verdict
}

#[test]
fn crash_of_the_serving_master_keeps_mutual_exclusion_and_grants_resume() {
    let config = cell_config();
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::LoseUnsynced, &config);
        sim.run_until(at_ms(800)).expect("runs");
        let master = serving_master(&sim).expect("a master serves after 800 ms");
        let crash = sim.now();
        sim.schedule_fault(crash, Fault::Crash(master)).unwrap();
        sim.run_until(crash + SimDuration::from_millis(1_200))
            .expect("runs");
        let successor = serving_master(&sim);
        // A majority of four survivors elects a new master once the lease ran out.
        assert!(
            successor.is_some_and(|m| m != master),
            "seed {seed}: found {successor:?}"
        );
        sim.schedule_fault(sim.now(), Fault::Restart(master))
            .unwrap();
        sim.run_until(crash + SimDuration::from_secs(4))
            .expect("runs");
        let slowest = assert_live(sim.observations(), crash);
        println!("seed {seed}: every client granted within {slowest} of the crash");
        let output = output_of(sim);
        let verdict = assert_clean(&output, &config, &format!("seed {seed}"));
        assert_eq!(extra(&verdict, "sessions_expired"), 0, "seed {seed}");
    }
}

#[test]
fn partition_isolating_the_master_hands_over_only_after_its_lease_and_heals() {
    let config = cell_config();
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::KeepAll, &config);
        sim.run_until(at_ms(800)).expect("runs");
        let old = serving_master(&sim).expect("a master serves");
        let others: Vec<NodeId> = (0..REPLICAS).map(NodeId).filter(|&n| n != old).collect();
        let cut = sim.now();
        // Clients are in no group: they still reach the old master, which keeps its
        // lease but can commit nothing, and the majority side.
        sim.schedule_fault(cut, Fault::Partition(vec![vec![old], others]))
            .unwrap();
        sim.run_until(cut + SimDuration::from_millis(1_500))
            .expect("runs");
        let new = serving_master(&sim).expect("the majority elects a master");
        assert_ne!(new, old, "seed {seed}");
        let stopped = sim.observations().iter().find_map(|r| match r.observation {
            Observation::Protocol(LockEvent::ServingStopped { .. }) if r.node == old => {
                Some(r.time)
            }
            _ => None,
        });
        let started = sim.observations().iter().find_map(|r| match r.observation {
            Observation::Protocol(LockEvent::ServingStarted { .. })
                if r.node == new && r.time > cut =>
            {
                Some(r.time)
            }
            _ => None,
        });
        let (stopped, started) = (stopped.expect("old stopped"), started.expect("new started"));
        // The lease at work: the old master gives up before the new one starts, and the
        // new one cannot start before the promise it was given ran out.
        assert!(stopped <= started, "seed {seed}: {stopped} > {started}");
        assert!(
            started.saturating_since(cut) >= config.master_lease_safe(),
            "seed {seed}: a new master {} after the cut",
            started.saturating_since(cut)
        );
        let heal = sim.now();
        sim.schedule_fault(heal, Fault::Heal).unwrap();
        sim.run_until(heal + SimDuration::from_secs(3))
            .expect("runs");
        assert_live(sim.observations(), heal);
        assert_clean(&output_of(sim), &config, &format!("seed {seed}"));
    }
}

#[test]
fn isolated_master_with_its_clients_cut_off_too_is_replaced_and_catches_up() {
    let config = cell_config();
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::KeepAll, &config);
        sim.run_until(at_ms(800)).expect("runs");
        let old = serving_master(&sim).expect("a master serves");
        sim.schedule_fault(sim.now(), Fault::Isolate(old)).unwrap();
        sim.run_until(at_ms(2_000)).expect("runs");
        assert!(
            serving_master(&sim).is_some_and(|m| m != old),
            "seed {seed}"
        );
        let heal = sim.now();
        sim.schedule_fault(heal, Fault::Heal).unwrap();
        sim.run_until(heal + SimDuration::from_secs(3))
            .expect("runs");
        assert_live(sim.observations(), heal);
        // The old master's log caught up after the heal: it learned what was chosen
        // while it was away.
        let replica = |id: NodeId| sim.node(id).and_then(LockNode::replica).expect("up");
        let master = serving_master(&sim).expect("a master");
        assert!(
            replica(master).first_unchosen() - replica(old).first_unchosen() < 64,
            "seed {seed}: the old master lags"
        );
        assert_clean(&output_of(sim), &config, &format!("seed {seed}"));
    }
}

#[test]
fn client_pauses_longer_than_the_session_lease_never_break_mutual_exclusion() {
    let config = cell_config();
    let mut refused = 0;
    for seed in 1..=10 {
        let mut sim = simulation(seed, StorageMode::KeepAll, &config);
        for (index, client) in clients().enumerate() {
            let at = at_ms(600 + 150 * index as u64);
            let duration = SimDuration::from_millis(700 + 100 * index as u64);
            sim.schedule_fault(
                at,
                Fault::Pause {
                    node: client,
                    duration,
                },
            )
            .unwrap();
        }
        let heal = at_ms(600 + 150 * 4 + 1_100);
        sim.run_until(heal + SimDuration::from_secs(2))
            .expect("runs");
        // The paused clients' sessions expired; they open new ones and get locks again.
        assert_live(sim.observations(), heal);
        let verdict = assert_clean(&output_of(sim), &config, &format!("seed {seed}"));
        assert!(extra(&verdict, "sessions_expired") >= 3, "seed {seed}");
        refused += extra(&verdict, "writes_refused");
    }
    println!("fencing refused {refused} stale writes over 10 seeds");
}

#[test]
fn a_lock_freed_by_session_expiry_is_granted_again_only_after_lock_delay() {
    let config = cell_config();
    let mut checked = 0;
    for seed in 1..=20 {
        let mut sim = simulation(seed, StorageMode::KeepAll, &config);
        for client in clients() {
            sim.schedule_fault(
                at_ms(1_000),
                Fault::Pause {
                    node: client,
                    duration: SimDuration::from_millis(900),
                },
            )
            .unwrap();
        }
        sim.run_until(at_ms(3_000)).expect("runs");
        let observations = sim.observations();
        for (index, record) in observations.iter().enumerate() {
            let Observation::Protocol(LockEvent::LockDelayed { lock, .. }) = record.observation
            else {
                continue;
            };
            let regrant = observations[index..]
                .iter()
                .find_map(|r| match r.observation {
                    Observation::Protocol(LockEvent::Granted { sequencer, .. })
                        if sequencer.lock == lock =>
                    {
                        Some(r.time)
                    }
                    _ => None,
                });
            if let Some(regrant) = regrant {
                checked += 1;
                // Granting sooner would let the dead holder's late writes reach a
                // resource that does not check sequencers.
                assert!(
                    regrant.saturating_since(record.time) >= config.lock_delay,
                    "seed {seed}: lock-{lock} regranted {} after the expiry",
                    regrant.saturating_since(record.time)
                );
            }
        }
    }
    println!("lock-delay held on {checked} regrants");
    assert!(checked > 0, "no expired holder's lock was ever regranted");
}

#[test]
fn heavy_loss_and_duplication_keep_the_resource_safe_and_locks_moving() {
    let mut total = 0;
    for seed in 1..=5 {
        let mut request = master_failover(seed, "correct");
        request.config.network = network(1.0, 0.8, 0.1, 0.1);
        request.faults.clear();
        let verdict = run(request);
        // Lost requests and appends are retried, duplicates are idempotent.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        // Under 10% loss a run grants 34 to 140 locks (seeds 1..=30; a few runs lose
        // their first master's lease rounds and spend part of the run electing): a
        // client that stopped retrying, or a lock stuck with a lost grant, would leave
        // a run far below that.
        let grants = extra(&verdict, "grants");
        assert!(grants > 30, "seed {seed}: only {grants} grants");
        total += grants;
    }
    // About 100 grants per run on average; a systematic slowdown of the retry path
    // would pull the sum of five runs well below 400.
    assert!(total > 400, "{total} grants over 5 seeds");
}

#[test]
fn every_replica_count_from_one_to_nine_grants_locks() {
    for replicas in 1..=9 {
        let mut request = master_failover(replicas as u64, "correct");
        request.nodes = replicas;
        request.faults.clear();
        request.duration = SimDuration::from_millis(2_000);
        let verdict = run(request);
        // Quorum arithmetic (n / 2 + 1) must hold for odd and even n alike.
        assert!(
            verdict.violations.is_empty(),
            "n={replicas}: {:?}",
            verdict.violations
        );
        assert!(extra(&verdict, "grants") > 50, "n={replicas}: no progress");
        assert_eq!(
            extra(&verdict, "master_changes"),
            1,
            "n={replicas}: unstable"
        );
    }
}

#[test]
fn rolling_replica_crashes_with_unsynced_loss_keep_mutual_exclusion() {
    for seed in 1..=5 {
        let mut request = master_failover(seed, "correct");
        request.faults = (0..REPLICAS)
            .flat_map(|replica| {
                let start = 500 + 700 * u64::from(replica);
                [
                    (at_ms(start), Fault::Crash(NodeId(replica))),
                    (at_ms(start + 400), Fault::Restart(NodeId(replica))),
                ]
            })
            .collect();
        request.duration = SimDuration::from_millis(4_500);
        let verdict = run(request);
        // Acceptors sync before every reply: losing unsynced writes loses nothing a
        // quorum counted on, so no generation is granted twice.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        assert!(extra(&verdict, "master_changes") >= 2, "seed {seed}");
    }
}

#[test]
fn same_seed_gives_the_same_fingerprint_and_verdict() {
    let first = LockService
        .run(master_failover(7, "correct"))
        .expect("runs");
    let second = LockService
        .run(master_failover(7, "correct"))
        .expect("runs");
    // Any hidden nondeterminism (hash order, wall clock) would change the fingerprint.
    assert_eq!(first.output.fingerprint, second.output.fingerprint);
    assert_eq!(first.verdict, second.verdict);
    assert_eq!(first.output.observations, second.output.observations);
    assert_eq!(first.output.ops, second.output.ops);
}

// ----- audit regressions -------------------------------------------------------------

/// The audit's starvation run (`scenarios/regressions/lock_lost_grant_starvation.toml`):
/// 3 replicas, one lock, two clients at 2/s holding it 955 ms, constant 1 ms links; the
/// cell's messages to client node 4 are cut for 9 ms just as its queued acquire is
/// granted, so the `Granted` is lost.
fn lost_grant(seed: u64) -> RunRequest {
    let nodes = |ids: &[u32]| ids.iter().copied().map(NodeId).collect::<Vec<_>>();
    RunRequest {
        config: SimConfig {
            seed,
            network: NetworkConfig {
                default_link: LinkModel {
                    delay: Delay::Constant { ns: MS },
                    drop_ratio: 0.0,
                    duplicate_ratio: 0.0,
                    order: LinkOrder::Unordered,
                },
                topology: Topology::FullMesh,
            },
            storage: StorageMode::KeepAll,
            message_log_limit: 0,
            load: None,
        },
        nodes: 3,
        variant: "correct".to_string(),
        params: params(&[("locks", ParamValue::Int(1)), ("hold_time", duration(955))]),
        workload: Workload {
            clients: 2,
            rate_per_s: 2.0,
            ..Workload::default()
        },
        duration: SimDuration::from_secs(8),
        faults: vec![
            (
                SimTime(1_436 * MS),
                Fault::Cut {
                    from: nodes(&[0, 1, 2]),
                    to: nodes(&[4]),
                },
            ),
            (SimTime(1_445 * MS), Fault::Heal),
        ],
        trace: None,
        ops_sink: None,
    }
}

#[test]
fn a_lost_grant_does_not_starve_the_lock_after_the_cut_heals() {
    let result = LockService.run(lost_grant(1)).expect("runs");
    let heal = SimTime(1_445 * MS);
    let mut granted_after_heal = std::collections::BTreeMap::new();
    for op in &result.output.ops {
        if op.is_ok() && op.end.is_some_and(|end| end >= heal) {
            *granted_after_heal.entry(op.client).or_insert(0u32) += 1;
        }
    }
    // Before the fix client 4 timed its acquire out, kept the lock it never heard of,
    // and every later acquire of both clients queued behind that forgotten hold: one
    // grant in 8 s, then only timeouts, and no grant after the heal at all.
    for client in [NodeId(3), NodeId(4)] {
        let grants = granted_after_heal.get(&client).copied().unwrap_or(0);
        assert!(
            grants >= 2,
            "{client}: {grants} grants after the heal ({granted_after_heal:?})"
        );
    }
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
}

#[test]
fn closed_loop_clients_keep_one_acquire_in_flight_and_think_after_each_grant() {
    // Longer than the 20 ms hold, so that a slot's next acquire is due only after the
    // hold ended: its start is then exactly think_time after the last acquire ended.
    let think_time = SimDuration::from_millis(50);
    let config = LockConfig::new(
        REPLICAS as usize,
        Workload {
            clients: CLIENTS as usize,
            closed_loop: Some(ClosedLoop {
                outstanding: 1,
                think_time,
            }),
            ..Workload::default()
        },
    );
    for seed in 1..=3 {
        let mut sim = simulation(seed, StorageMode::KeepAll, &config);
        sim.run_until(at_ms(3_000)).expect("runs");
        let output = output_of(sim);
        assert_clean(&output, &config, &format!("seed {seed}"));
        // Per client: the acquire in flight, and when its last acquire ended.
        let mut in_flight: std::collections::BTreeMap<NodeId, u64> = Default::default();
        let mut ended: std::collections::BTreeMap<NodeId, SimTime> = Default::default();
        let mut granted: std::collections::BTreeMap<NodeId, usize> = Default::default();
        for record in &output.observations {
            match record.observation {
                Observation::OpInvoked {
                    op, f: "acquire", ..
                } => {
                    // Closed loop with one slot: a second acquire while one is in flight
                    // would mean the driver paced this client open loop.
                    assert_eq!(
                        in_flight.insert(record.node, op),
                        None,
                        "seed {seed}: client {} started op {op} with an acquire in flight",
                        record.node.0
                    );
                    // The slot thinks for think_time after each acquire ends, then
                    // starts the next: sooner would mean an open-loop arrival (at 250/s
                    // this test fails here), much later a slot not rearmed.
                    if let Some(&last) = ended.get(&record.node) {
                        let gap = record.time.saturating_since(last);
                        assert!(
                            gap >= think_time && gap <= think_time + SimDuration::from_millis(5),
                            "seed {seed}: client {} acquired {gap} after its last acquire ended",
                            record.node.0,
                        );
                    }
                }
                Observation::OpCompleted { op, outcome, .. }
                    if op & lock_service::RELEASE_OP_BIT == 0 =>
                {
                    assert_eq!(in_flight.remove(&record.node), Some(op), "seed {seed}");
                    ended.insert(record.node, record.time);
                    if outcome == Outcome::Ok {
                        *granted.entry(record.node).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        // Every client keeps acquiring: a cycle is a grant and 50 ms of thinking, so a
        // slot the driver leaked (never freed) would stop a client after one acquire,
        // far below 10 grants in 3 s.
        assert_eq!(granted.len(), CLIENTS as usize, "seed {seed}: {granted:?}");
        assert!(
            granted.values().all(|&count| count >= 10),
            "seed {seed}: {granted:?}"
        );
    }
}

// ----- log compaction ---------------------------------------------------------------

/// `cell_config` with a snapshot every `interval` applied slots.
fn compacting_config(interval: u64) -> LockConfig {
    let mut config = cell_config();
    config.snapshot_interval = interval;
    config
}

/// The `through` of the first snapshot `node` installed at or after `since`.
fn snapshot_installed(
    observations: &[ObservationRecord<LockEvent>],
    node: NodeId,
    since: SimTime,
) -> Option<u64> {
    observations
        .iter()
        .filter(|record| record.node == node && record.time >= since)
        .find_map(|record| match record.observation {
            Observation::Protocol(LockEvent::SnapshotInstalled { through }) => Some(through),
            _ => None,
        })
}

#[test]
fn replica_restarted_after_compaction_catches_up_from_a_snapshot_and_the_checks_hold() {
    let config = compacting_config(16);
    for seed in 1..=3 {
        let mut sim = simulation(seed, StorageMode::LoseUnsynced, &config);
        sim.run_until(at_ms(800)).expect("runs");
        let down = NodeId((serving_master(&sim).expect("a master by 800 ms").0 + 1) % REPLICAS);
        sim.schedule_fault(sim.now(), Fault::Crash(down)).unwrap();
        sim.run_until(at_ms(2_500)).expect("runs");
        let master = serving_master(&sim).expect("the majority keeps a master");
        let (behind, ahead) = (sim.durable(down).applied(), sim.durable(master).applied());
        // The others went on and compacted past everything the crashed replica has: the
        // slots it misses exist only in their snapshots.
        let compacted_from = sim.durable(master).log_start();
        assert!(
            compacted_from > behind,
            "seed {seed}: {compacted_from} <= {behind}"
        );
        let restart = sim.now();
        sim.schedule_fault(restart, Fault::Restart(down)).unwrap();
        sim.run_until(restart + SimDuration::from_secs(2))
            .expect("runs");
        // Without InstallSnapshot (of the lock database: locks and sessions) it would
        // stay behind forever.
        let through = snapshot_installed(sim.observations(), down, restart);
        assert!(
            through.is_some_and(|through| through > behind),
            "seed {seed}: {down} installed {through:?}, had applied {behind}"
        );
        let caught_up = sim.durable(down).applied();
        assert!(caught_up >= ahead, "seed {seed}: {caught_up} < {ahead}");
        // Same database as the master's once caught up: sessions and lock holders.
        let master = serving_master(&sim).expect("a master serves");
        if sim.durable(down).applied() == sim.durable(master).applied() {
            assert_eq!(
                sim.durable(down).db(),
                sim.durable(master).db(),
                "seed {seed}"
            );
        }
        // Grants go on and every check holds: mutual exclusion, the mutex history,
        // lock-delay, master leases, liveness.
        assert_live(sim.observations(), restart);
        assert_clean(&output_of(sim), &config, &format!("seed {seed}"));
    }
}

#[test]
fn durable_lock_log_stays_within_about_the_snapshot_interval_in_a_long_run() {
    let interval = 50;
    let config = compacting_config(interval);
    let mut sim = simulation(3, StorageMode::LoseUnsynced, &config);
    let mut longest = 0;
    for step in 1..=200 {
        sim.run_until(at_ms(100 * step)).expect("runs");
        for id in (0..REPLICAS).map(NodeId) {
            let durable = sim.durable(id);
            longest = longest.max(durable.log_len() - durable.log_start());
        }
    }
    let applied = sim.durable(NodeId(0)).applied();
    // 20 s of sessions, acquires and releases: well over a thousand slots, which an
    // uncompacted log would all hold; a compacted one holds at most an interval plus
    // the group in flight.
    assert!(applied > 20 * interval, "only {applied} slots applied");
    assert!(
        longest <= interval + 16,
        "a durable log held {longest} slots (interval {interval})"
    );
    println!("longest durable log: {longest} slots, {applied} applied");
    assert_clean(&output_of(sim), &config, "long run");
}

#[test]
fn judged_as_it_runs_a_run_keeps_its_operations_paired_and_the_same_verdict() {
    // `run` judges heartbeats, grants and writes as they happen and keeps only the
    // clients' operations, paired. If the live checker saw anything differently, its
    // verdict would differ from `check` over every observation of the same run.
    for (request, variant, seed) in [
        (master_failover as fn(u64, &str) -> RunRequest, "correct", 1),
        (client_pause, "no-fencing", 3),
        (master_failover, "seed-naive", 2),
    ] {
        let live = LockService.run(request(seed, variant)).expect("valid");
        let full_request = request(seed, variant);
        let config = LockConfig::from_request(&full_request).expect("valid");
        let (full, _) = dsim_core::protocol::execute(full_request, config.total_nodes(), {
            move |id, _| LockNode::new(&config, id)
        })
        .expect("valid");
        assert_eq!(
            live.verdict,
            lock_service::check(&full, &config),
            "{variant} seed {seed}"
        );
        let invoked = full
            .observations
            .iter()
            .filter(|r| matches!(r.observation, Observation::OpInvoked { .. }))
            .count();
        // Neither protocol events nor the clients' operations stay as observations:
        // the engine paired every operation as it happened, exactly as it pairs them
        // with every observation kept (a kept observation would show up here; a
        // different pairing would make the tables differ).
        assert!(live.output.observations.iter().all(|r| !matches!(
            r.observation,
            Observation::Protocol(_)
                | Observation::OpInvoked { .. }
                | Observation::OpCompleted { .. }
        )));
        assert_eq!(live.output.ops.len(), invoked);
        assert_eq!(live.output.ops, full.ops, "{variant} seed {seed}");
        // The run had protocol events to let go of.
        assert!(full.observations.len() > invoked, "{variant} seed {seed}");
        assert_eq!(live.output.fingerprint, full.fingerprint);
    }
}
