//! Log compaction in the Multi-Paxos core, through shipped scenarios: the planted
//! `compact-unchosen` bug (a snapshot that also discards accepted values of slots not
//! known chosen) is caught within a bounded seed sweep, and `correct` with the same
//! frequent snapshots stays clean on the same seeds.

use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::Path;

/// Seeds `1..=seeds` of `paxos-nemesis` with `variant` and a snapshot every `interval`
/// applied slots: each seed with the checks its run violated (empty when clean).
fn sweep(variant: &str, interval: u64, seeds: u64) -> Vec<(u64, Vec<&'static str>)> {
    let registry = Registry::builtin();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/paxos-nemesis.toml");
    let overrides = [
        format!("protocol.variant={variant}"),
        format!("protocol.snapshot_interval={interval}"),
    ];
    let mut scenario =
        Scenario::load(&path, &overrides, &registry).unwrap_or_else(|e| panic!("{e}"));
    (1..=seeds)
        .map(|seed| {
            scenario.seed = seed;
            let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
            let checks = result.verdict.violations.iter().map(|v| v.check).collect();
            (seed, checks)
        })
        .collect()
}

/// Snapshots every 16 applied slots: hundreds of compactions per run, so a crashed or
/// cut-off replica usually comes back to find its peers compacted past it.
const INTERVAL: u64 = 16;

#[test]
fn compact_unchosen_is_caught_breaking_agreement_within_forty_seeds() {
    // The bug makes an acceptor forget a value a quorum may have chosen; a new leader
    // whose quorum holds that acceptor proposes something else in the slot. If
    // compaction discarded only the chosen prefix (as `correct` does), no seed would
    // show two values chosen for one slot.
    let caught = sweep("compact-unchosen", INTERVAL, 40)
        .into_iter()
        .find(|(_, checks)| !checks.is_empty());
    let (seed, checks) = caught.expect("compact-unchosen caught within 40 seeds");
    assert!(checks.contains(&"agreement"), "seed {seed}: {checks:?}");
}

#[test]
fn correct_with_frequent_snapshots_is_clean_on_the_same_seeds() {
    // Snapshot installs on restarted and lagging replicas, phase 1 against compacted
    // acceptors, linearizability of what clients saw: all must hold on every seed.
    for (seed, checks) in sweep("correct", INTERVAL, 10) {
        assert!(checks.is_empty(), "seed {seed}: {checks:?}");
    }
}
