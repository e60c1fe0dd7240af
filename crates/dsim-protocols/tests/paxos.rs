//! Paxos through the engine: safety under loss, duplication, partitions, crashes and
//! pauses; a liveness phase after healing; and the buggy variants caught by the checker.
//!
//! The seed-sweep tests build in code the same runs as the ready scenario files
//! `scenarios/paxos-dueling-proposers.toml` and `scenarios/paxos-minority-partition.toml`.

use dsim_core::rng::{Stream, below, stream_rng};
use dsim_core::{
    Delay, Fault, LinkModel, LinkOrder, NetworkConfig, NodeId, Observation, OpRecord, ParamValue,
    Params, Protocol, RunOutput, RunRequest, SimConfig, SimDuration, SimTime, Simulation,
    StorageMode, Topology, Verdict, Workload,
};
use dsim_protocols::paxos::{
    self, Paxos, PaxosConfig, PaxosEvent, PaxosNode, Variant, build_simulation,
};
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;

/// After every fault has healed and a majority is up and connected, every client
/// command pending at the heal is decided (and answered) within this much virtual time.
const LIVENESS_BOUND: SimDuration = SimDuration::from_secs(2);

fn at_ms(ms: u64) -> SimTime {
    SimTime(ms * MS)
}

fn nodes(ids: &[u32]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
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

/// The run of `scenarios/paxos-dueling-proposers.toml` with `seed` and `variant`.
fn dueling_proposers(seed: u64, variant: &str) -> RunRequest {
    RunRequest {
        config: SimConfig {
            seed,
            network: network(2.0, 0.8, 0.02, 0.01),
            storage: StorageMode::KeepAll,
            message_log_limit: 0,
            load: None,
        },
        nodes: 5,
        variant: variant.to_string(),
        params: params(&[
            (
                "election_timeout",
                ParamValue::Duration(SimDuration::from_millis(40)),
            ),
            (
                "heartbeat_interval",
                ParamValue::Duration(SimDuration::from_millis(10)),
            ),
        ]),
        workload: Workload {
            clients: 3,
            rate_per_s: 300.0,
            ..Workload::default()
        },
        duration: SimDuration::from_millis(2_500),
        faults: vec![
            (
                at_ms(500),
                Fault::Partition(vec![nodes(&[0, 1]), nodes(&[2, 3, 4])]),
            ),
            (
                at_ms(800),
                Fault::Partition(vec![nodes(&[2, 3]), nodes(&[0, 1, 4])]),
            ),
            (
                at_ms(1_100),
                Fault::Partition(vec![nodes(&[4, 0]), nodes(&[1, 2, 3])]),
            ),
            (
                at_ms(1_400),
                Fault::Partition(vec![nodes(&[1, 3]), nodes(&[0, 2, 4])]),
            ),
            (at_ms(1_700), Fault::Heal),
        ],
        trace: None,
        ops_sink: None,
    }
}

/// The run of `scenarios/paxos-minority-partition.toml` with `seed` and `variant`.
fn minority_partition(seed: u64, variant: &str) -> RunRequest {
    RunRequest {
        config: SimConfig {
            seed,
            network: network(2.0, 0.6, 0.01, 0.005),
            storage: StorageMode::KeepAll,
            message_log_limit: 0,
            load: None,
        },
        nodes: 5,
        variant: variant.to_string(),
        params: Params::default(),
        workload: Workload {
            clients: 3,
            rate_per_s: 200.0,
            ..Workload::default()
        },
        duration: SimDuration::from_millis(2_500),
        faults: vec![
            (
                at_ms(800),
                Fault::Partition(vec![nodes(&[0, 1]), nodes(&[2, 3, 4])]),
            ),
            (at_ms(1_600), Fault::Heal),
        ],
        trace: None,
        ops_sink: None,
    }
}

/// The run of `scenarios/paxos-leader-crash.toml` (a rolling crash and restart of every
/// replica, so the leader is certainly among them), shortened to `duration`.
fn leader_crash(seed: u64, duration: SimDuration) -> RunRequest {
    let mut faults = Vec::new();
    for replica in 0..5u32 {
        let start = 1_000 + 1_000 * u64::from(replica);
        faults.push((at_ms(start), Fault::Crash(NodeId(replica))));
        faults.push((at_ms(start + 500), Fault::Restart(NodeId(replica))));
    }
    faults.retain(|(at, _)| at.0 < duration.0);
    RunRequest {
        config: SimConfig {
            seed,
            network: network(2.0, 0.6, 0.01, 0.001),
            storage: StorageMode::LoseUnsynced,
            message_log_limit: 0,
            load: None,
        },
        nodes: 5,
        variant: "correct".to_string(),
        params: Params::default(),
        workload: Workload {
            clients: 3,
            rate_per_s: 200.0,
            ..Workload::default()
        },
        duration,
        faults,
        trace: None,
        ops_sink: None,
    }
}

fn run(request: RunRequest) -> Verdict {
    Paxos
        .run(request)
        .expect("the run is configured correctly")
        .verdict
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

fn seeds_with_any_violation(
    seeds: std::ops::RangeInclusive<u64>,
    request: impl Fn(u64) -> RunRequest,
) -> Vec<(u64, String)> {
    seeds
        .filter_map(|seed| {
            let verdict = run(request(seed));
            verdict
                .violations
                .first()
                .map(|v| (seed, format!("{}: {}", v.check, v.details)))
        })
        .collect()
}

// ----- the buggy variants are caught; correct is clean on the same seeds ----------

#[test]
fn no_adopt_is_caught_breaking_agreement_under_dueling_proposers() {
    let caught = seeds_violating(1..=200, "agreement", |seed| {
        dueling_proposers(seed, "no-adopt")
    });
    println!(
        "no-adopt: {} of 200 seeds violate agreement, first {:?}",
        caught.len(),
        caught.first()
    );
    // If a new leader adopted reported values (the fix), no seed would choose two values.
    assert!(
        !caught.is_empty(),
        "no seed in 1..=200 caught the no-adopt bug"
    );
}

#[test]
fn correct_paxos_has_no_violations_under_dueling_proposers() {
    let bad = seeds_with_any_violation(1..=200, |seed| dueling_proposers(seed, "correct"));
    // Any violation here is a real safety bug in the correct protocol (or the checker).
    assert!(bad.is_empty(), "violations: {bad:?}");
}

#[test]
fn seed_naive_is_caught_breaking_agreement_under_a_minority_partition() {
    let caught = seeds_violating(1..=200, "agreement", |seed| {
        minority_partition(seed, "seed-naive")
    });
    println!(
        "seed-naive: {} of 200 seeds violate agreement, first {:?}",
        caught.len(),
        caught.first()
    );
    // Replicas deciding "the smallest value heard" on different sides decide differently.
    assert!(
        !caught.is_empty(),
        "no seed in 1..=200 caught the seed-naive bug"
    );
}

#[test]
fn correct_paxos_has_no_violations_under_a_minority_partition() {
    let bad = seeds_with_any_violation(1..=200, |seed| minority_partition(seed, "correct"));
    assert!(bad.is_empty(), "violations: {bad:?}");
}

// ----- faults, one by one -----------------------------------------------------------

#[test]
fn heavy_loss_and_duplication_keep_agreement_and_progress() {
    for seed in 1..=10 {
        let mut request = minority_partition(seed, "correct");
        request.config.network = network(1.0, 0.8, 0.15, 0.15);
        request.faults.clear();
        let verdict = run(request);
        // Lost accepts are retransmitted and duplicates are harmless, so a clean run
        // with plenty of decided slots; a leader that never retransmitted would stall.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        assert!(
            extra(&verdict, "slots_decided") > 200,
            "seed {seed}: too little progress"
        );
    }
}

#[test]
fn every_replica_count_from_one_to_nine_agrees_and_progresses() {
    for replicas in 1..=9 {
        let mut request = minority_partition(u64::from(replicas as u32), "correct");
        request.nodes = replicas;
        request.faults.clear();
        request.config.network = network(1.0, 0.5, 0.02, 0.01);
        request.duration = SimDuration::from_millis(1_500);
        let verdict = run(request);
        // Quorum arithmetic (n / 2 + 1) must hold for odd and even n alike.
        assert!(
            verdict.violations.is_empty(),
            "n={replicas}: {:?}",
            verdict.violations
        );
        assert!(
            extra(&verdict, "slots_decided") > 100,
            "n={replicas}: no progress"
        );
        assert!(
            verdict.agreement > 0.95,
            "n={replicas}: agreement {}",
            verdict.agreement
        );
    }
}

#[test]
fn same_seed_gives_the_same_fingerprint_and_verdict() {
    let first = Paxos.run(dueling_proposers(7, "correct")).expect("runs");
    let second = Paxos.run(dueling_proposers(7, "correct")).expect("runs");
    // Any hidden nondeterminism (hash order, wall clock) would change the fingerprint.
    assert_eq!(first.output.fingerprint, second.output.fingerprint);
    assert_eq!(first.verdict, second.verdict);
    assert_eq!(first.output.observations, second.output.observations);
    assert_eq!(first.output.ops, second.output.ops);
}

#[test]
fn rolling_crashes_with_unsynced_loss_keep_agreement() {
    for seed in 1..=10 {
        let verdict = run(leader_crash(seed, SimDuration::from_secs(6)));
        // Acceptor state is synced before every reply, so losing unsynced writes on
        // crash loses nothing a quorum counted on.
        assert!(
            verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            verdict.violations
        );
        // Every replica is crashed once, the leader among them: a new one is elected.
        assert!(extra(&verdict, "leader_changes") >= 2, "seed {seed}");
    }
}

// ----- liveness: faults, heal, then everything pending is decided --------------------

fn simulation(seed: u64, storage: StorageMode) -> Simulation<PaxosNode> {
    simulation_with(seed, storage, |_| {})
}

/// `simulation` with the defaults of `PaxosConfig` adjusted by `adjust`.
fn simulation_with(
    seed: u64,
    storage: StorageMode,
    adjust: impl FnOnce(&mut PaxosConfig),
) -> Simulation<PaxosNode> {
    let mut config = PaxosConfig::new(
        5,
        Workload {
            clients: 3,
            rate_per_s: 200.0,
            ..Workload::default()
        },
    );
    adjust(&mut config);
    let sim = SimConfig {
        seed,
        network: network(2.0, 0.6, 0.02, 0.01),
        storage,
        message_log_limit: 0,
        load: None,
    };
    build_simulation(sim, &config).expect("valid configuration")
}

fn current_leader(sim: &Simulation<PaxosNode>) -> Option<NodeId> {
    (0..5)
        .map(NodeId)
        .filter(|&id| sim.node(id).and_then(PaxosNode::leading).is_some())
        .max_by_key(|&id| sim.node(id).and_then(PaxosNode::leading))
}

/// Every op invoked before `invoked_before`: when it completed (None if it did not).
fn completions(
    ops: &[OpRecord],
    invoked_before: SimTime,
) -> BTreeMap<(NodeId, u64), (SimTime, Option<SimTime>)> {
    ops.iter()
        .filter(|record| record.start < invoked_before)
        .map(|record| {
            (
                (record.client, record.client_op),
                (record.start, record.end),
            )
        })
        .collect()
}

fn output(sim: Simulation<PaxosNode>) -> RunOutput<PaxosEvent> {
    sim.into_output()
}

/// Judges the run's observations (5 replicas), asserts that every check held, and
/// returns the verdict.
fn assert_checks_hold(sim: Simulation<PaxosNode>, seed: u64) -> Verdict {
    let verdict = paxos::check(&output(sim), 5);
    assert!(
        verdict.violations.is_empty(),
        "seed {seed}: {:?}",
        verdict.violations
    );
    verdict
}

/// Asserts the liveness phase: everything invoked before `heal` completed by
/// `heal + LIVENESS_BOUND`, and everything invoked later (up to a second before the end)
/// completed too. Returns the longest time from heal to completion.
fn assert_live(sim: &Simulation<PaxosNode>, heal: SimTime) -> SimDuration {
    assert_live_in(sim.ops(), sim.now(), heal)
}

fn assert_live_in(ops: &[OpRecord], end: SimTime, heal: SimTime) -> SimDuration {
    let mut slowest = SimDuration::ZERO;
    for ((client, op), (invoked, completed)) in completions(ops, SimTime(end.0 - SECOND)) {
        let completed = completed.unwrap_or_else(|| {
            panic!("op {op} of {client}, invoked at {invoked}, never completed (heal at {heal})")
        });
        if invoked < heal {
            let after_heal = completed.saturating_since(heal);
            slowest = slowest.max(after_heal);
            // Pending commands must be decided within the stated bound after healing.
            assert!(
                after_heal <= LIVENESS_BOUND,
                "op {op} of {client} completed {after_heal} after the heal"
            );
        }
    }
    slowest
}

#[test]
fn crash_of_leader_and_another_replica_then_restart_decides_everything_pending() {
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::LoseUnsynced);
        sim.run_until(at_ms(800)).expect("runs");
        let leader = current_leader(&sim).expect("a leader emerged in 800 ms");
        let other = NodeId((leader.0 + 1) % 5);
        // Crash a minority (2 of 5) that includes the leader.
        sim.schedule_fault(sim.now(), Fault::Crash(leader)).unwrap();
        sim.schedule_fault(sim.now(), Fault::Crash(other)).unwrap();
        sim.run_until(at_ms(1_800)).expect("runs");
        let during = current_leader(&sim);
        assert!(
            during.is_some_and(|l| l != leader && l != other),
            "seed {seed}: the surviving majority elects a new leader, found {during:?}"
        );
        let heal = sim.now();
        sim.schedule_fault(heal, Fault::Restart(leader)).unwrap();
        sim.schedule_fault(heal, Fault::Restart(other)).unwrap();
        sim.run_until(heal + SimDuration::from_secs(3))
            .expect("runs");
        let slowest = assert_live(&sim, heal);
        println!("seed {seed}: slowest pending op done {slowest} after restart");
        assert_checks_hold(sim, seed);
    }
}

#[test]
fn minority_side_of_a_partition_decides_nothing_and_the_majority_carries_on() {
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::KeepAll);
        sim.run_until(at_ms(800)).expect("runs");
        let leader = current_leader(&sim).expect("a leader emerged");
        // Put the leader on the minority side with one follower.
        let minority = [leader.0, (leader.0 + 1) % 5];
        let majority: Vec<u32> = (0..5).filter(|id| !minority.contains(id)).collect();
        let cut = sim.now();
        sim.schedule_fault(
            cut,
            Fault::Partition(vec![nodes(&minority), nodes(&majority)]),
        )
        .unwrap();
        sim.run_until(at_ms(2_300)).expect("runs");
        let heal = sim.now();
        // Minority side: nothing new can be chosen without a majority, so its replicas
        // learn nothing during the partition (beyond a short drain of in-flight messages).
        let drained = cut + SimDuration::from_millis(100);
        let learned_on = |side: &[u32]| {
            sim.observations()
                .iter()
                .filter(|r| r.time > drained && r.time <= heal && side.contains(&r.node.0))
                .filter(|r| matches!(r.observation, Observation::Decided { .. }))
                .count()
        };
        assert_eq!(
            learned_on(&minority),
            0,
            "seed {seed}: a minority decided something"
        );
        // Majority side: it elects its own leader and keeps deciding client commands.
        assert!(
            learned_on(&majority) > 100,
            "seed {seed}: the majority stalled"
        );
        sim.schedule_fault(heal, Fault::Heal).unwrap();
        sim.run_until(heal + SimDuration::from_secs(3))
            .expect("runs");
        assert_live(&sim, heal);
        let verdict = assert_checks_hold(sim, seed);
        // After healing, the old minority catches up: every replica learned nearly all.
        assert!(
            verdict.agreement > 0.95,
            "seed {seed}: agreement {}",
            verdict.agreement
        );
    }
}

#[test]
fn majority_side_split_stalls_then_recovers_after_heal() {
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::KeepAll);
        sim.run_until(at_ms(800)).expect("runs");
        // Three groups of 2, 2 and 1: no side has a majority, so nothing is chosen.
        let cut = sim.now();
        let groups = vec![nodes(&[0, 1]), nodes(&[2, 3]), nodes(&[4])];
        sim.schedule_fault(cut, Fault::Partition(groups)).unwrap();
        sim.run_until(at_ms(1_800)).expect("runs");
        let heal = sim.now();
        let drained = cut + SimDuration::from_millis(100);
        // When each slot was first learned by any replica. A replica may still learn,
        // during the partition, a value chosen before the cut (catching up from a peer
        // of its group): that is not a decision. A slot first learned after the drain
        // of in-flight messages would have been chosen without a majority.
        let mut first_learned: BTreeMap<u64, SimTime> = BTreeMap::new();
        for record in sim.observations() {
            if let Observation::Decided { slot, .. } = record.observation {
                first_learned.entry(slot).or_insert(record.time);
            }
        }
        let decided_in_partition = first_learned
            .values()
            .filter(|&&time| time > drained && time <= heal)
            .count();
        // Without any majority, deciding anything would be a safety bug.
        assert_eq!(
            decided_in_partition, 0,
            "seed {seed}: decided without a majority"
        );
        sim.schedule_fault(heal, Fault::Heal).unwrap();
        sim.run_until(heal + SimDuration::from_secs(3))
            .expect("runs");
        let slowest = assert_live(&sim, heal);
        println!("seed {seed}: slowest pending op done {slowest} after heal");
        assert_checks_hold(sim, seed);
    }
}

#[test]
fn paused_leader_is_replaced_and_steps_down_when_it_wakes() {
    for seed in 1..=5 {
        let mut sim = simulation(seed, StorageMode::KeepAll);
        sim.run_until(at_ms(800)).expect("runs");
        let leader = current_leader(&sim).expect("a leader emerged");
        let old_ballot = sim
            .node(leader)
            .and_then(PaxosNode::leading)
            .expect("it leads");
        let paused = sim.now();
        sim.schedule_fault(
            paused,
            Fault::Pause {
                node: leader,
                duration: SimDuration::from_millis(700),
            },
        )
        .unwrap();
        sim.run_until(at_ms(1_400)).expect("runs");
        let replacement = current_leader(&sim);
        assert!(
            replacement.is_some_and(|l| l != leader),
            "seed {seed}: the others elect a leader while {leader} is paused"
        );
        // The pause ends at 1.5 s; the old leader handles its backlog and must yield.
        let woke = at_ms(1_500);
        sim.run_until(woke + SimDuration::from_millis(200))
            .expect("runs");
        // Two leaders under stale ballots would not break safety, but one that never
        // yields would fight every new leader for ever.
        assert_ne!(
            sim.node(leader).and_then(PaxosNode::leading),
            Some(old_ballot),
            "seed {seed}: the woken leader still leads its old ballot"
        );
        sim.run_until(woke + SimDuration::from_secs(3))
            .expect("runs");
        assert_live(&sim, woke);
        let verdict = assert_checks_hold(sim, seed);
        assert!(extra(&verdict, "leader_changes") >= 2);
    }
}

#[test]
fn scenario_variants_are_listed_and_parse() {
    let info = Paxos.info();
    let names: Vec<&str> = info.variants.iter().map(|v| v.name).collect();
    // `dsim list` and `--set protocol.variant=` rely on these names.
    assert_eq!(
        names,
        vec![
            "correct",
            "no-adopt",
            "seed-naive",
            "stale-read",
            "follower-read",
            "compact-unchosen"
        ]
    );
    for name in names {
        assert!(Variant::parse(name).is_some());
    }
    assert_eq!(info.nodes_range, (1, 9));
}

/// A seeded random fault schedule for `replicas` replicas between 200 ms and 2.5 s:
/// partitions cutting off a minority, heals, crashes and restarts (never more than a
/// minority down at once), pauses, clock steps and drift. At `heal` everything heals
/// and every crashed replica restarts.
fn random_faults(seed: u64, replicas: u32, heal: SimTime) -> Vec<(SimTime, Fault)> {
    let mut rng = stream_rng(seed, Stream::Nemesis);
    let minority = (replicas - 1) / 2;
    let mut faults = Vec::new();
    let mut down: Vec<u32> = Vec::new();
    let mut time_ms = 200;
    while time_ms < 2_500 {
        let at = at_ms(time_ms);
        let node = below(&mut rng, u64::from(replicas)) as u32;
        match below(&mut rng, 7) {
            0 if minority > 0 => {
                // Rotate the ring by a random amount and cut off its first k members.
                let k = 1 + below(&mut rng, u64::from(minority)) as u32;
                let ring: Vec<u32> = (0..replicas).map(|i| (node + i) % replicas).collect();
                faults.push((
                    at,
                    Fault::Partition(vec![nodes(&ring[..k as usize]), nodes(&ring[k as usize..])]),
                ));
            }
            1 => faults.push((at, Fault::Heal)),
            2 if (down.len() as u32) < minority && !down.contains(&node) => {
                down.push(node);
                faults.push((at, Fault::Crash(NodeId(node))));
            }
            3 if !down.is_empty() => {
                faults.push((at, Fault::Restart(NodeId(down.remove(0)))));
            }
            4 => faults.push((
                at,
                Fault::Pause {
                    node: NodeId(node),
                    duration: SimDuration::from_millis(below(&mut rng, 400)),
                },
            )),
            5 => faults.push((
                at,
                Fault::ClockOffset {
                    node: NodeId(node),
                    offset_ns: below(&mut rng, 200 * MS) as i64 - (100 * MS) as i64,
                },
            )),
            6 => faults.push((
                at,
                Fault::ClockDrift {
                    node: NodeId(node),
                    drift_ppm: below(&mut rng, 20_000) as i64 - 10_000,
                },
            )),
            _ => {}
        }
        time_ms += 50 + below(&mut rng, 250);
    }
    faults.push((heal, Fault::Heal));
    for node in down {
        faults.push((heal, Fault::Restart(NodeId(node))));
    }
    faults
}

#[test]
fn random_fault_schedules_keep_safety_and_decide_everything_after_healing() {
    let heal = at_ms(2_600);
    for replicas in [3u32, 5, 7] {
        for seed in 1..=20 {
            let mut request = dueling_proposers(seed, "correct");
            request.nodes = replicas as usize;
            request.config.storage = StorageMode::LoseUnsynced;
            request.config.network = network(2.0, 1.0, 0.1, 0.05);
            request.faults = random_faults(seed, replicas, heal);
            request.duration = SimDuration::from_millis(4_500);
            let end = SimTime::ZERO + request.duration;
            let result = Paxos.run(request).expect("runs");
            // Safety holds under any schedule; a violation is a protocol bug.
            assert!(
                result.verdict.violations.is_empty(),
                "n={replicas} seed {seed}: {:?}",
                result.verdict.violations
            );
            // Liveness: healed, all replicas up, so everything pending gets decided.
            assert_live_in(&result.output.ops, end, heal);
        }
    }
}

// ----- log compaction ---------------------------------------------------------------

/// `simulation` with a snapshot every `interval` applied slots.
fn compacting_simulation(seed: u64, interval: u64) -> Simulation<PaxosNode> {
    simulation_with(seed, StorageMode::LoseUnsynced, |config| {
        config.snapshot_interval = interval
    })
}

#[test]
fn replica_restarted_after_compaction_catches_up_from_a_snapshot_and_stays_linearizable() {
    for seed in 1..=3 {
        let mut sim = compacting_simulation(seed, 16);
        sim.run_until(at_ms(800)).expect("runs");
        let leader = current_leader(&sim).expect("a leader emerged in 800 ms");
        let down = NodeId((leader.0 + 1) % 5);
        sim.schedule_fault(sim.now(), Fault::Crash(down)).unwrap();
        sim.run_until(at_ms(2_000)).expect("runs");
        let leader = current_leader(&sim).expect("the majority keeps a leader");
        let leader_applied = sim.durable(leader).applied();
        let down_applied = sim.durable(down).applied();
        // The others went on and compacted past everything the crashed replica has.
        assert!(
            sim.durable(leader).log_start() > down_applied,
            "seed {seed}: leader log starts at {}, crashed replica applied {down_applied}",
            sim.durable(leader).log_start()
        );
        let restart = sim.now();
        sim.schedule_fault(restart, Fault::Restart(down)).unwrap();
        sim.run_until(restart + SimDuration::from_secs(2))
            .expect("runs");
        // It could only get the compacted slots as a snapshot: without InstallSnapshot
        // it would stay behind forever (nobody holds those slots any more).
        let installed = sim.observations().iter().any(|record| {
            record.node == down
                && record.time >= restart
                && matches!(
                    record.observation,
                    Observation::Protocol(PaxosEvent::SnapshotInstalled { through })
                        if through > down_applied
                )
        });
        assert!(installed, "seed {seed}: no snapshot installed on {down}");
        assert!(
            sim.durable(down).applied() >= leader_applied,
            "seed {seed}: restarted replica applied {}, the leader had {leader_applied} at the restart",
            sim.durable(down).applied()
        );
        // The clients' history stays linearizable and the log checks hold (apply_order
        // resumes at the snapshot, agreement on every slot anyone learned).
        assert_checks_hold(sim, seed);
    }
}

#[test]
fn durable_log_stays_within_about_the_snapshot_interval_in_a_long_run() {
    let interval = 50;
    let mut sim = compacting_simulation(3, interval);
    let mut longest = 0;
    for step in 1..=200 {
        sim.run_until(at_ms(100 * step)).expect("runs");
        for id in (0..5).map(NodeId) {
            let durable = sim.durable(id);
            longest = longest.max(durable.log_len() - durable.log_start());
        }
    }
    let applied = sim.durable(NodeId(0)).applied();
    // 20 s at 200 commands/s: thousands of slots, so an uncompacted log would hold all
    // of them; a compacted one holds at most an interval plus the few in flight.
    assert!(applied > 40 * interval, "only {applied} slots applied");
    assert!(
        longest <= interval + 16,
        "a durable log held {longest} slots (interval {interval})"
    );
}
