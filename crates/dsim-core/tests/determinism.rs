//! Determinism: one seed fully determines a run, in one process and across processes,
//! and different seeds give different runs.
//!
//! The cross-process test re-executes this very test binary (`std::env::current_exe()`)
//! with `--exact child_prints_run_digests` and the environment variable
//! [`CHILD_ENV`] set; the child test prints the fingerprints and a digest of the trace,
//! and the parent compares them with its own. Without the variable the child test does
//! nothing, so a normal `cargo test` run is unaffected.

mod common;

use common::{GossipNode, capture_trace, finish_trace, fnv1a, parse_trace};
use dsim_core::hold::HoldNode;
use dsim_core::{
    Counters, Delay, Fault, LinkModel, LinkOrder, NetworkConfig, NodeId, SimConfig, SimDuration,
    SimTime, Simulation, StorageMode, fingerprint_hex,
};
use std::collections::BTreeSet;
use std::process::Command;

/// Tells the child test to print its digests.
const CHILD_ENV: &str = "DSIM_DETERMINISM_CHILD";
/// The seed every single-seed test uses.
const SEED: u64 = 0x5EED_2024;

/// The lossy network of the issue: drop 0.1, duplicate 0.05, log-normal delays.
fn lossy_network() -> NetworkConfig {
    NetworkConfig {
        default_link: LinkModel {
            delay: Delay::LogNormal {
                median_ns: 2_000_000.0,
                sigma: 0.6,
            },
            drop_ratio: 0.1,
            duplicate_ratio: 0.05,
            order: LinkOrder::Unordered,
        },
        ..NetworkConfig::default()
    }
}

/// What a run leaves behind for comparison.
#[derive(Debug, PartialEq)]
struct RunDigest {
    fingerprint: u64,
    trace: String,
    counters: Counters,
    observation_count: usize,
}

/// Eight gossip nodes on the lossy network, with a partition, a crash and a restart.
fn run_gossip(seed: u64) -> RunDigest {
    let config = SimConfig {
        seed,
        network: lossy_network(),
        storage: StorageMode::LoseUnsynced,
        message_log_limit: 0,
        load: None,
    };
    let mut sim = Simulation::new(config, 8, |_, _| GossipNode::default()).expect("valid config");
    let trace = capture_trace(&mut sim);
    let ms = |n: u64| SimTime(n * 1_000_000);
    let faults = [
        (
            ms(50),
            Fault::Partition(vec![vec![NodeId(0), NodeId(1), NodeId(2)], vec![NodeId(3)]]),
        ),
        (ms(100), Fault::Crash(NodeId(2))),
        (ms(150), Fault::Heal),
        (ms(200), Fault::Restart(NodeId(2))),
        (
            ms(250),
            Fault::Pause {
                node: NodeId(5),
                duration: SimDuration::from_millis(30),
            },
        ),
    ];
    for (at, fault) in faults {
        sim.schedule_fault(at, fault).expect("valid fault");
    }
    sim.run_until(ms(400))
        .expect("gossip only talks to real nodes");
    let trace = finish_trace(&mut sim, &trace);
    RunDigest {
        fingerprint: sim.fingerprint(),
        trace,
        counters: sim.counters(),
        observation_count: sim.observations().len(),
    }
}

/// Ten hold nodes, three messages each, on the lossy network for 20 ms.
fn run_hold(seed: u64) -> RunDigest {
    let config = SimConfig {
        seed,
        network: lossy_network(),
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config, 10, |_, _| HoldNode::new(3)).expect("valid config");
    let trace = capture_trace(&mut sim);
    sim.run_until(SimTime(20_000_000))
        .expect("hold only talks to real nodes");
    let trace = finish_trace(&mut sim, &trace);
    RunDigest {
        fingerprint: sim.fingerprint(),
        trace,
        counters: sim.counters(),
        observation_count: sim.observations().len(),
    }
}

/// The line a child prints, and the parent's expectation of it.
fn digest_line(gossip: &RunDigest, hold: &RunDigest) -> String {
    format!(
        "DSIM-DIGESTS gossip_fingerprint={} gossip_trace={:016x} gossip_trace_bytes={} hold_fingerprint={} hold_trace={:016x}",
        fingerprint_hex(gossip.fingerprint),
        fnv1a(gossip.trace.as_bytes()),
        gossip.trace.len(),
        fingerprint_hex(hold.fingerprint),
        fnv1a(hold.trace.as_bytes()),
    )
}

#[test]
fn same_seed_gives_same_fingerprint_and_trace_in_one_process() {
    let first = run_gossip(SEED);
    let second = run_gossip(SEED);
    // The run must actually exercise the lossy network, or equality would be cheap.
    assert!(
        first.counters.messages_delivered > 100,
        "{:?}",
        first.counters
    );
    assert!(first.counters.dropped_by_link > 0, "{:?}", first.counters);
    assert!(
        first.counters.messages_duplicated > 0,
        "{:?}",
        first.counters
    );
    assert!(
        first.counters.dropped_by_partition > 0,
        "{:?}",
        first.counters
    );
    assert!(first.counters.timers_fired > 100, "{:?}", first.counters);
    assert!(first.observation_count > 10);
    // Any hidden source of nondeterminism (hash order, addresses, wall clock) would make
    // the second run take another path: different trace, different fingerprint.
    assert_eq!(first.fingerprint, second.fingerprint);
    assert_eq!(first.trace, second.trace);
    assert_eq!(first, second);

    let hold_first = run_hold(SEED);
    let hold_second = run_hold(SEED);
    assert!(
        hold_first.counters.messages_delivered > 50,
        "{:?}",
        hold_first.counters
    );
    assert_eq!(hold_first, hold_second);
}

#[test]
fn trace_lines_fold_into_the_fingerprint_in_order() {
    let run = run_gossip(SEED);
    let lines = parse_trace(&run.trace);
    // Every handled event is in the trace: deliveries, timers and faults match the counters.
    // If tracing skipped events, a trace could match while the runs differed.
    let count = |kind: &str| lines.iter().filter(|line| line.kind == kind).count() as u64;
    assert_eq!(count("deliver"), run.counters.messages_delivered);
    assert_eq!(count("timer"), run.counters.timers_fired);
    assert_eq!(count("send"), run.counters.messages_sent);
    assert_eq!(count("duplicate"), run.counters.messages_duplicated);
    assert_eq!(count("drop"), run.counters.messages_dropped);
    assert_eq!(count("crash"), 1);
    // Virtual time in the trace never goes back.
    assert!(
        lines
            .windows(2)
            .all(|pair| pair[0].time_ns <= pair[1].time_ns)
    );
}

#[test]
fn same_seed_gives_same_fingerprint_across_processes() {
    let expected = digest_line(&run_gossip(SEED), &run_hold(SEED));
    let exe = std::env::current_exe().expect("the test binary knows its path");
    for child in 0..2 {
        let output = Command::new(&exe)
            .args([
                "--exact",
                "child_prints_run_digests",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, "1")
            .output()
            .expect("the test binary can run itself");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child {child} failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|line| line.find("DSIM-DIGESTS ").map(|start| &line[start..]))
            .unwrap_or_else(|| panic!("child {child} printed no digests: {stdout}"));
        // A fresh process has fresh heap addresses, hash seeds and timing; if any of them
        // leaked into the run, the child's fingerprint or trace would differ from ours.
        assert_eq!(line, expected, "child {child}");
    }
}

/// The child half of the cross-process test: a no-op unless [`CHILD_ENV`] is set.
#[test]
fn child_prints_run_digests() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    println!("{}", digest_line(&run_gossip(SEED), &run_hold(SEED)));
}

#[test]
fn twenty_seeds_give_twenty_distinct_fingerprints() {
    let mut gossip = BTreeSet::new();
    let mut hold = BTreeSet::new();
    let mut traces = BTreeSet::new();
    for seed in 0..20 {
        let run = run_gossip(seed);
        assert!(run.counters.messages_delivered > 0);
        gossip.insert(run.fingerprint);
        traces.insert(fnv1a(run.trace.as_bytes()));
        hold.insert(run_hold(seed).fingerprint);
    }
    // If the seed did not reach every random stream (network, nodes), some seeds would
    // replay the same run and collapse into one fingerprint.
    assert_eq!(gossip.len(), 20);
    assert_eq!(traces.len(), 20);
    assert_eq!(hold.len(), 20);
    // Gossip and hold never collide either.
    assert!(gossip.is_disjoint(&hold));
}
