//! The load model's showcase scenarios show what their headers promise:
//! `paxos-latency-vs-load` has its knee where the leader's core saturates, with p99
//! climbing before p50; `fail-slow-leader` collapses throughput without a failover.
//! Latencies are the `ok` operations' (invocation to completion) over the whole run,
//! percentiles by the nearest-rank method, the knee by `vary.csv`'s rule (the first load
//! whose p99 exceeds twice the p99 at the lowest load), as one seed of `dsim sweep
//! --vary` computes them.

use dsim_core::{NoEvent, RunOutput};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::PathBuf;

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// (completion time ns, latency ns) of every `ok` operation, in completion order.
fn ok_ops<E>(output: &RunOutput<E>) -> Vec<(u64, u64)> {
    let ops = &output.ops;
    dsim_core::ops::events(ops)
        .filter(|&(index, invocation)| !invocation && ops[index].is_ok())
        .filter_map(|(index, _)| {
            let op = &ops[index];
            Some((op.end?.0, op.latency_ns()?))
        })
        .collect()
}

/// Nearest-rank percentile.
fn percentile(sorted: &[u64], p: u64) -> u64 {
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[test]
fn paxos_knee_is_where_the_leaders_core_saturates_and_p99_climbs_before_p50() {
    // The leader's core spends about 5 x 200 us per command, the followers' 1-2 x
    // 200 us, so the leader saturates first, near 1,000 commands/s: the knee (p99
    // above twice its value at the lowest load, measured over the whole 60 s run as
    // vary.csv does) must be at 850/s, where the leader is about 85% busy (at 1,000/s
    // the clients' retries overload it and the run collapses). A model whose service times were ignored
    // would have no knee, and one that charged followers like the leader (or nothing
    // for accepteds) would move it. Poisson arrivals queue by chance, so the tail
    // grows first: at every load up to the knee p99 has grown more (relatively) than
    // p50, and at the knee more than three times as much.
    let registry = Registry::builtin();
    let rates = [250u64, 500, 700, 850];
    let mut rows = Vec::new();
    for rate in rates {
        let overrides = [format!("workload.rate={rate}/s")];
        let scenario = Scenario::load(
            &scenario_path("paxos-latency-vs-load.toml"),
            &overrides,
            &registry,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let result = run_scenario(&registry, &scenario, RunOptions::default()).unwrap();
        assert!(
            result.verdict.violations.is_empty(),
            "{rate}/s: {:?}",
            result.verdict.violations
        );
        let mut latencies: Vec<u64> = ok_ops(&result.output)
            .into_iter()
            .map(|(_, latency)| latency)
            .collect();
        latencies.sort_unstable();
        let (p50, p99) = (percentile(&latencies, 50), percentile(&latencies, 99));
        println!(
            "{rate}/s: {} ops, p50 {p50} ns, p99 {p99} ns",
            latencies.len()
        );
        rows.push((rate, p50 as f64, p99 as f64));
    }
    let (_, p50_low, p99_low) = rows[0];
    let knee = rows
        .iter()
        .position(|(_, _, p99)| *p99 > 2.0 * p99_low)
        .expect("a knee");
    assert_eq!(rows[knee].0, 850, "{rows:?}");
    for (rate, p50, p99) in &rows[1..=knee] {
        assert!(
            p99 / p99_low > p50 / p50_low,
            "at {rate}/s p50 grew as fast as p99: {rows:?}"
        );
    }
    let (_, p50_knee, p99_knee) = rows[knee];
    let (p50_growth, p99_growth) = (p50_knee / p50_low - 1.0, p99_knee / p99_low - 1.0);
    assert!(
        p99_growth > 3.0 * p50_growth,
        "p99 grew {p99_growth:.2}, p50 {p50_growth:.2}: {rows:?}"
    );
}

#[test]
fn a_slow_leader_collapses_throughput_without_a_failover() {
    // From 2 s to 6 s the leader's (node 4's) CPU is 20x slower: ok operations per second
    // must fall to well under half of what they were before, and no election may
    // happen (leader_changes = 1: the first election). A failover would restore throughput
    // (and show as a second election); a slow fault that did nothing would keep it.
    let registry = Registry::builtin();
    let scenario = Scenario::load(&scenario_path("fail-slow-leader.toml"), &[], &registry)
        .unwrap_or_else(|e| panic!("{e}"));
    let result = run_scenario(&registry, &scenario, RunOptions::default()).unwrap();
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    let output: &RunOutput<NoEvent> = &result.output;
    let ops = ok_ops(output);
    let per_s = |from_s: u64, to_s: u64| {
        let count = ops
            .iter()
            .filter(|(done, _)| (from_s * 1_000_000_000..to_s * 1_000_000_000).contains(done))
            .count();
        count as f64 / (to_s - from_s) as f64
    };
    let (before, during) = (per_s(1, 2), per_s(3, 6));
    println!(
        "ok/s: before {before}, during {during}, after {}",
        per_s(7, 8)
    );
    assert!(before > 200.0, "before the fault: {before} ok/s");
    assert!(
        during < before / 2.0,
        "before {before} ok/s, during {during} ok/s"
    );
    // The checker counts LeaderElected observations into this summary column.
    assert_eq!(
        result.verdict.column("leader_changes"),
        Some("1"),
        "a failover happened"
    );
}
