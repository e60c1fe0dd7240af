//! The load model against queueing theory, through the `queue` kind: node 0 serves
//! requests from Poisson clients over links without delay, so a request's latency is its
//! wait in the server's FIFO queue plus its service time, both the engine's doing.
//!
//! How the bounds are chosen: each run is seeded (so the test is deterministic), long
//! (tens of thousands of requests) and starts measuring after a warm-up of many
//! relaxation times (`1 / (mu (1 - sqrt(rho))^2)`, about 0.4 s at rho = 0.9). Response
//! times are correlated, so the standard error of their mean comes from batch means: the
//! measured requests in arrival order are cut into [`BATCHES`] equal batches and the
//! spread of the batch means gives the standard error `se`. A test asserts
//! `|measured - theory| <= Z * se` with [`Z`] = 4 (about 1 in 1,000 for a correct
//! engine with 19 degrees of freedom), and also that `se` is at most [`SE_RATIO_MAX`]
//! of the theoretical value, so the bound cannot grow loose enough to pass a wrong
//! engine. The durations were sized with Whitt's asymptotic variance of the M/M/1
//! number in system, `2 rho (1 + rho) / (mu (1 - rho)^4)` per unit time ("Planning
//! queueing simulations", 1989): a relative standard error near 2-3% at rho = 0.9.

use dsim_report::metrics::{mean_in_flight, throughput_per_s};
use dsim_report::{OpRow, RunMeta, Summary};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

/// Batches for the batch-means standard error.
const BATCHES: usize = 20;
/// How many standard errors a measurement may stray from the theory.
const Z: f64 = 4.0;
/// The largest standard error, relative to the theory, that still makes a test.
const SE_RATIO_MAX: f64 = 0.05;
/// Requests that start before this are the warm-up and not measured (ns).
const WARMUP_NS: u64 = 5_000_000_000;

/// One server with `cores` cores and service time `cpu`, 10 Poisson clients at `rate`
/// per second in all, zero network latency, for `duration`.
fn station(cores: u32, cpu: &str, rate: u32, duration: &str) -> String {
    format!(
        r#"name = "queueing"
seed = 1
duration = "{duration}"

[protocol]
kind = "queue"
nodes = 1
cores = {cores}

[workload]
clients = 10
rate = "{rate}/s"
arrival = "poisson"

[network]
latency = "0ms"

[nodes]
cpu = {cpu}
"#
    )
}

const EXPONENTIAL_1MS: &str = r#"{ dist = "exponential", mean = "1ms" }"#;
/// The service rate of one core at a mean service time of 1 ms, per second.
const MU: f64 = 1_000.0;

/// Runs a scenario text; returns its ops and its run's virtual length (ns).
fn run(text: &str) -> (Vec<OpRow>, u64) {
    let registry = Registry::builtin();
    let scenario = Scenario::from_text(Path::new("queueing.toml"), text, &[], &registry)
        .unwrap_or_else(|e| panic!("{e}"));
    let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    let end_ns = result.output.end_time.as_nanos();
    (result.output.ops, end_ns)
}

/// The measured requests: started after the warm-up and completed, in arrival order.
fn measured(ops: &[OpRow]) -> Vec<&OpRow> {
    let mut rows: Vec<&OpRow> = ops
        .iter()
        .filter(|op| op.start.as_nanos() >= WARMUP_NS && op.is_ok())
        .collect();
    rows.sort_by_key(|op| (op.start, op.op_id));
    rows
}

/// The mean of `values` and its batch-means standard error.
fn mean_and_se(values: &[f64]) -> (f64, f64) {
    assert!(
        values.len() >= BATCHES * 100,
        "only {} values",
        values.len()
    );
    let per_batch = values.len() / BATCHES;
    let means: Vec<f64> = values
        .chunks_exact(per_batch)
        .take(BATCHES)
        .map(|batch| batch.iter().sum::<f64>() / per_batch as f64)
        .collect();
    let mean = means.iter().sum::<f64>() / BATCHES as f64;
    let variance = means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (BATCHES as f64 - 1.0);
    (mean, (variance / BATCHES as f64).sqrt())
}

/// Asserts `values`' mean is within `Z` batch standard errors of `theory`.
fn assert_near(what: &str, values: &[f64], theory: f64) {
    let (mean, se) = mean_and_se(values);
    eprintln!("{what}: measured {mean:.6}, theory {theory:.6}, standard error {se:.6}");
    assert!(
        se <= SE_RATIO_MAX * theory,
        "{what}: standard error {se:.4} is over {SE_RATIO_MAX} of {theory:.4}: run longer"
    );
    assert!(
        (mean - theory).abs() <= Z * se,
        "{what}: measured {mean:.4}, theory {theory:.4}, bound {Z} x {se:.4}"
    );
}

/// Response times (seconds) of the measured requests.
fn response_times_s(rows: &[&OpRow]) -> Vec<f64> {
    rows.iter()
        .map(|op| op.latency_ns().expect("completed") as f64 / 1e9)
        .collect()
}

/// Number in system over time, sampled per batch of virtual time: for each of
/// `BATCHES` equal slices of `[WARMUP_NS, end_ns)`, the time-average number of requests
/// in flight (in the system: the links have no delay) in that slice.
fn number_in_system_batches(ops: &[OpRow], end_ns: u64) -> Vec<f64> {
    let slice = (end_ns - WARMUP_NS) / BATCHES as u64;
    (0..BATCHES as u64)
        .map(|index| {
            let (from, to) = (WARMUP_NS + index * slice, WARMUP_NS + (index + 1) * slice);
            let busy: u64 = ops
                .iter()
                .map(|op| {
                    let start = op.start.as_nanos().max(from);
                    let end = op.end.map_or(end_ns, |end| end.as_nanos()).min(to);
                    end.saturating_sub(start)
                })
                .sum();
            busy as f64 / slice as f64
        })
        .collect()
}

/// Asserts the time-average number in system is within `Z` standard errors (from
/// `BATCHES` slices of time) of `theory`.
fn assert_number_in_system(what: &str, ops: &[OpRow], end_ns: u64, theory: f64) {
    let batches = number_in_system_batches(ops, end_ns);
    let mean = batches.iter().sum::<f64>() / BATCHES as f64;
    let variance = batches.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (BATCHES as f64 - 1.0);
    let se = (variance / BATCHES as f64).sqrt();
    eprintln!("{what}: measured {mean:.6}, theory {theory:.6}, standard error {se:.6}");
    assert!(
        se <= SE_RATIO_MAX * theory,
        "{what}: standard error {se:.4} is over {SE_RATIO_MAX} of {theory:.4}"
    );
    assert!(
        (mean - theory).abs() <= Z * se,
        "{what}: measured {mean:.4}, theory {theory:.4}, bound {Z} x {se:.4}"
    );
}

/// M/M/1 at utilisation `rho`: mean response time `1 / (mu - lambda)` and mean number in
/// system `rho / (1 - rho)`.
fn check_mm1(rho: f64, duration: &str) {
    let lambda = rho * MU;
    let (ops, end_ns) = run(&station(
        1,
        EXPONENTIAL_1MS,
        lambda.round() as u32,
        duration,
    ));
    let rows = measured(&ops);
    // If the server did not queue (infinite cores) W would be 1 ms; if it served in
    // LIFO or dropped work, or if service times were not exponential, W and L would
    // miss the formulas by far more than the bound.
    assert_near(
        &format!("M/M/1 rho={rho} mean response time (s)"),
        &response_times_s(&rows),
        1.0 / (MU - lambda),
    );
    assert_number_in_system(
        &format!("M/M/1 rho={rho} mean number in system"),
        &ops,
        end_ns,
        rho / (1.0 - rho),
    );
}

#[test]
fn mm1_at_half_load_matches_response_time_and_number_in_system() {
    // Theory: W = 2 ms, L = 1. About 50,000 measured requests.
    check_mm1(0.5, "105s");
}

#[test]
fn mm1_at_eighty_percent_load_matches_response_time_and_number_in_system() {
    // Theory: W = 5 ms, L = 4. About 160,000 measured requests.
    check_mm1(0.8, "205s");
}

#[test]
fn mm1_at_ninety_percent_load_matches_response_time_and_number_in_system() {
    // Theory: W = 10 ms, L = 9; the slowest to converge, hence the longest run
    // (about 360,000 measured requests).
    check_mm1(0.9, "405s");
}

#[test]
fn md1_waiting_time_follows_pollaczek_khinchine() {
    // Constant 1 ms service at rho = 0.8: Wq = rho / (2 mu (1 - rho)) = 2 ms, half the
    // M/M/1 wait (4 ms). Exponential service, or a service time drawn per unit rather
    // than fixed, would give about 4 ms, far outside the bound.
    let rho = 0.8;
    let (ops, _) = run(&station(1, r#""1ms""#, (rho * MU) as u32, "105s"));
    let rows = measured(&ops);
    let service_s = 1.0 / MU;
    // With constant service every response time is at least the service time.
    assert!(
        rows.iter()
            .all(|op| op.latency_ns().expect("completed") >= 1_000_000)
    );
    let waits: Vec<f64> = response_times_s(&rows)
        .into_iter()
        .map(|t| t - service_s)
        .collect();
    assert_near(
        "M/D/1 rho=0.8 mean waiting time (s)",
        &waits,
        rho / (2.0 * MU * (1.0 - rho)),
    );
}

/// Erlang's C formula: the probability that an arrival waits in an M/M/c queue with
/// offered load `a = lambda / mu` (in erlangs) and `c` servers.
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0; // a^k / k!
    let mut below_c = 0.0;
    for k in 0..c {
        below_c += term;
        term *= a / f64::from(k + 1);
    }
    // term is now a^c / c!.
    let top = term * f64::from(c) / (f64::from(c) - a);
    top / (below_c + top)
}

#[test]
fn erlang_c_of_known_values() {
    // Textbook values: one server, C = rho; 2 servers at a = 1, C = 1/3.
    assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn mmc_with_four_cores_waits_with_erlang_c_probability() {
    // c = 4 cores, 1 ms exponential service each, lambda = 3,200/s: a = 3.2 erlangs,
    // rho = 0.8, C(4, 3.2) = 0.5964. One core, or cores that do not share one queue,
    // would make nearly every arrival wait; unlimited cores would make none wait.
    let (c, lambda) = (4, 3_200.0);
    let a = lambda / MU;
    let (ops, _) = run(&station(c, EXPONENTIAL_1MS, lambda as u32, "55s"));
    let rows = measured(&ops);
    // PASTA: Poisson arrivals see time averages, so the share of arrivals that find
    // all c cores busy (c or more requests in the system) is the waiting probability.
    let mut in_system: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
    let mut found_busy = Vec::with_capacity(rows.len());
    let mut all: Vec<&OpRow> = ops.iter().filter(|op| op.end.is_some()).collect();
    all.sort_by_key(|op| (op.start, op.op_id));
    for op in all {
        let start = op.start.as_nanos();
        while in_system.peek().is_some_and(|Reverse(end)| *end <= start) {
            in_system.pop();
        }
        if start >= WARMUP_NS {
            found_busy.push(if in_system.len() >= c as usize {
                1.0
            } else {
                0.0
            });
        }
        in_system.push(Reverse(op.end.expect("completed").as_nanos()));
    }
    let wait_probability = erlang_c(c, a);
    assert!((wait_probability - 0.5964).abs() < 1e-4);
    assert_near("M/M/4 waiting probability", &found_busy, wait_probability);
    // The mean response time follows too: C / (c mu - lambda) + 1 / mu.
    assert_near(
        "M/M/4 mean response time (s)",
        &response_times_s(&rows),
        wait_probability / (f64::from(c) * MU - lambda) + 1.0 / MU,
    );
}

#[test]
fn littles_law_holds_on_the_summary_of_shipped_scenarios() {
    // L = lambda W on each run's summary: mean_in_flight against throughput_per_s times
    // latency_mean_ns. Over a whole run every operation starts inside the window, so
    // mean_in_flight is exactly lambda W of the ok operations plus the time-average in
    // flight of the others (failed, indeterminate, unfinished at the end), which is
    // computed here from ops.csv on its own. A column computed over a different time
    // base (wall time, the last op's end) or a different set of operations breaks the
    // equality; where the other operations are rare (under 1% of the time in flight)
    // the plain law must hold within 2%, as for the M/M/1 scenario.
    let registry = Registry::builtin();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut plain_law_checked = 0;
    for file in [
        "queue-mm1.toml",
        "paxos-leader-crash.toml",
        "2pc-lossy.toml",
        "lock-master-failover.toml",
    ] {
        let scenario =
            Scenario::load(&root.join(file), &[], &registry).unwrap_or_else(|e| panic!("{e}"));
        let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
        let summary = Summary::from_run(&RunMeta::default(), &result);
        let end_ns = result.output.end_time.as_nanos();
        let ops = &result.output.ops;
        let mean_latency_s = summary.latency.mean_ns.expect("some ok ops") as f64 / 1e9;
        let little = summary.throughput_per_s * mean_latency_s;
        let others: Vec<OpRow> = ops.iter().filter(|op| !op.is_ok()).cloned().collect();
        let others_in_flight = mean_in_flight(&others, result.output.end_time);
        // latency_mean_ns is rounded to a whole ns: a relative error far below 1e-6.
        assert!(
            (summary.mean_in_flight - (little + others_in_flight)).abs()
                <= 1e-6 * summary.mean_in_flight,
            "{file}: mean_in_flight {} but lambda W {little} + others {others_in_flight}",
            summary.mean_in_flight
        );
        eprintln!(
            "{file}: mean_in_flight {:.4}, lambda W {little:.4}, others {others_in_flight:.4}",
            summary.mean_in_flight
        );
        if others_in_flight <= 0.01 * summary.mean_in_flight {
            plain_law_checked += 1;
            assert!(
                (summary.mean_in_flight - little).abs() <= 0.02 * summary.mean_in_flight,
                "{file}: mean_in_flight {} but throughput_per_s x latency_mean = {little}",
                summary.mean_in_flight
            );
        }
        // throughput_per_s is the ok count per virtual second.
        let ok = ops.iter().filter(|op| op.is_ok()).count() as f64;
        assert_eq!(summary.throughput_per_s, ok / (end_ns as f64 / 1e9));
        assert_eq!(
            summary.throughput_per_s,
            throughput_per_s(ops, result.output.end_time)
        );
    }
    // At least the M/M/1 scenario, whose requests all complete, is held to the plain law.
    assert!(plain_law_checked >= 1);
}

#[test]
fn arrival_is_read_written_back_and_refused_at_its_line_when_unknown() {
    let registry = Registry::builtin();
    let read = |text: &str| Scenario::from_text(Path::new("queueing.toml"), text, &[], &registry);
    // Read: "poisson" reaches the workload; a file without the key keeps fixed gaps
    // (every existing scenario, so their fingerprints do not change).
    let poisson = read(&station(1, EXPONENTIAL_1MS, 500, "1s")).expect("valid");
    assert_eq!(poisson.workload.arrival, dsim_core::Arrival::Poisson);
    let fixed_text = station(1, EXPONENTIAL_1MS, 500, "1s").replace("arrival = \"poisson\"\n", "");
    let fixed = read(&fixed_text).expect("valid");
    assert_eq!(fixed.workload.arrival, dsim_core::Arrival::Fixed);
    // Written back by emit (shrink, --emit-scenario): a shrunk M/M/1 failure must
    // replay with Poisson arrivals, not fixed ones.
    let written = dsim_scenario::emit::emit(&poisson, &poisson.faults, true, "");
    let again = read(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(again.workload, poisson.workload);
    // An unknown shape is refused at its own line (line 13 of the text), naming the
    // field and what is allowed.
    let bad = station(1, EXPONENTIAL_1MS, 500, "1s").replace("\"poisson\"", "\"bursty\"");
    let error = read(&bad).expect_err("bursty is not an arrival shape");
    assert_eq!(error.field, "workload.arrival");
    assert!(error.allowed.contains("poisson"), "{}", error.allowed);
    match &error.origin {
        dsim_scenario::Origin::File { line, .. } => assert_eq!(*line, 13),
        other => panic!("expected a file position, got {other}"),
    }
}

#[test]
fn poisson_arrivals_have_exponential_gaps_and_fixed_ones_do_not() {
    // One client at 1,000/s for 20 s: Poisson gaps have mean 1 ms and a coefficient of
    // variation of 1 (sd of the mean 1 ms / sqrt(20,000) = 7 us, so 5% is over 7 sd);
    // fixed gaps are exactly 1 ms. A Poisson client that kept fixed gaps would show a
    // variation of 0, one that drew from the wrong mean would miss 1 ms.
    let one_client = |arrival: &str| {
        station(1, r#""1us""#, 1_000, "20s")
            .replace("clients = 10", "clients = 1")
            .replace("arrival = \"poisson\"", &format!("arrival = \"{arrival}\""))
    };
    let gaps = |text: &str| -> Vec<f64> {
        let (ops, _) = run(text);
        let mut starts: Vec<u64> = ops.iter().map(|op| op.start.as_nanos()).collect();
        starts.sort_unstable();
        starts.windows(2).map(|w| (w[1] - w[0]) as f64).collect()
    };
    let poisson = gaps(&one_client("poisson"));
    let mean = poisson.iter().sum::<f64>() / poisson.len() as f64;
    let sd =
        (poisson.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / poisson.len() as f64).sqrt();
    assert!((mean - 1e6).abs() <= 0.05e6, "mean gap {mean} ns");
    assert!(
        (sd / mean - 1.0).abs() <= 0.05,
        "coefficient of variation {}",
        sd / mean
    );
    let fixed = gaps(&one_client("fixed"));
    assert!(fixed.iter().all(|&g| g == 1e6), "fixed gaps vary");
}
