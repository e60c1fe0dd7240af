//! The `metastable-retry-storm` showcase: a 10 s spike to 150% load leaves a server
//! that retries naively collapsed long after the spike, and one that retries with
//! exponential backoff, full jitter and a retry budget recovers.

use dsim_core::{Observation, Outcome};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::Path;

/// The offered rate outside the spike (ops per second), as the scenario file says.
const OFFERED_PER_S: f64 = 700.0;
/// The window measured after the spike (which ends at 20 s): from 25 s to 40 s.
const AFTER_SPIKE_NS: (u64, u64) = (25_000_000_000, 40_000_000_000);
/// The window measured before the spike: from 2 s to 10 s.
const BEFORE_SPIKE_NS: (u64, u64) = (2_000_000_000, 10_000_000_000);

/// (goodput before the spike, goodput after it, `info` operations after it), goodputs
/// as fractions of the offered rate, for the showcase with `overrides`.
fn goodput(overrides: &[&str]) -> (f64, f64, usize) {
    let registry = Registry::builtin();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/metastable-retry-storm.toml");
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::load(&path, &overrides, &registry).unwrap_or_else(|e| panic!("{e}"));
    let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    let completed = |window: (u64, u64), wanted: fn(&Outcome) -> bool| {
        result
            .output
            .observations
            .iter()
            .filter(|record| (window.0..window.1).contains(&record.time.0))
            .filter(|record| {
                matches!(&record.observation, Observation::OpCompleted { outcome, .. } if wanted(outcome))
            })
            .count()
    };
    let ratio = |window: (u64, u64)| {
        let seconds = (window.1 - window.0) as f64 / 1e9;
        completed(window, |outcome| *outcome == Outcome::Ok) as f64 / seconds / OFFERED_PER_S
    };
    let info = completed(AFTER_SPIKE_NS, |outcome| {
        matches!(outcome, Outcome::Info(_))
    });
    (ratio(BEFORE_SPIKE_NS), ratio(AFTER_SPIKE_NS), info)
}

#[test]
fn fixed_retries_without_budget_stay_collapsed_after_the_spike() {
    let (before, after, info) = goodput(&[]);
    // At 70% load the server keeps up: nearly every request is answered in time.
    assert!(before > 0.95, "goodput before the spike {before:.3}");
    // Five seconds after the spike ended, retries (up to 4 attempts per request) still
    // keep the queue full: goodput below 5% of offered. A system that recovered on its
    // own (no metastability) would be back near 100% here.
    assert!(after < 0.05, "goodput after the spike {after:.3}");
    // The server is busy all the while: the requests end `info` (timed out, out of
    // attempts), roughly all 700/s of them over the 15 s window.
    assert!(info > 9_000, "{info} info operations after the spike");
}

#[test]
fn exponential_backoff_with_jitter_and_budget_recovers_after_the_spike() {
    let (before, after, info) = goodput(&[
        "workload.retry.policy=exponential",
        "workload.retry.jitter=full",
        "workload.retry.budget=0.1",
    ]);
    assert!(before > 0.95, "goodput before the spike {before:.3}");
    // Retries add at most 10% (770/s < 1000/s): the queue drains and goodput returns
    // to the offered rate. Without the budget the retries would hold the queue full as
    // in the fixed case, and this would stay near 0.
    assert!(after > 0.95, "goodput after the spike {after:.3}");
    assert!(info < 50, "{info} info operations after the spike");
}

#[test]
fn the_retry_budget_not_the_backoff_is_what_recovers_here() {
    // The scenario header and README say so: backoff delays of 10-40 ms next to a
    // 100 ms timeout barely thin the retries, while capping retries at 10% of first
    // attempts keeps the offered load under capacity. If either claim broke, the
    // explanation would be wrong.
    let (_, backoff_only, _) = goodput(&[
        "workload.retry.policy=exponential",
        "workload.retry.jitter=full",
    ]);
    assert!(backoff_only < 0.05, "backoff alone: {backoff_only:.3}");
    let (_, budget_only, _) = goodput(&["workload.retry.budget=0.1"]);
    assert!(budget_only > 0.95, "budget alone: {budget_only:.3}");
}
