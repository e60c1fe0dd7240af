//! The summary row and the averaging formulas.
//!
//! Latency statistics are over the `ok` rows of `ops.csv`, so anyone can recompute them
//! from that file:
//! - mean: the sum of latencies divided by their count, rounded to the nearest whole
//!   nanosecond (halves round up);
//! - percentiles: nearest rank, the value at 1-based rank `ceil(p / 100 * N)` of the
//!   sorted latencies (rank 1 at least);
//! - all three are empty when no operation completed `ok`.
//!
//! `formula_value` is the protocol's formula: for T and R ([`Formula::MeanOkLatency`])
//! it is exactly `latency_mean_ns`; for L ([`Formula::MeanOkLatencyOf`]) it is the same
//! mean over the `ok` rows whose `f` is `acquire` (lock clients also record releases); for a checker-computed value ([`Formula::Value`],
//! Paxos' `f(x)`) it is printed with 6 decimals, as is `agreement`.

use crate::RunMeta;
use crate::ops::OpRow;
use dsim_core::{Formula, RunResult, SimTime, fingerprint_hex};

/// Mean and nearest-rank percentiles of a set of latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    /// How many latencies.
    pub count: u64,
    /// Mean in nanoseconds, rounded to the nearest integer (halves up).
    pub mean_ns: Option<u64>,
    /// Median (nearest rank) in nanoseconds.
    pub p50_ns: Option<u64>,
    /// 99th percentile (nearest rank) in nanoseconds.
    pub p99_ns: Option<u64>,
}

impl LatencyStats {
    /// Statistics of `latencies_ns` (any order).
    pub fn of(latencies_ns: &[u64]) -> LatencyStats {
        let mut sorted = latencies_ns.to_vec();
        sorted.sort_unstable();
        LatencyStats {
            count: sorted.len() as u64,
            mean_ns: mean_rounded(&sorted),
            p50_ns: nearest_rank(&sorted, 50),
            p99_ns: nearest_rank(&sorted, 99),
        }
    }

    /// Statistics of the latencies of the `ok` operations in `ops`.
    pub fn of_ok(ops: &[OpRow]) -> LatencyStats {
        let latencies: Vec<u64> = ok_latencies(ops);
        LatencyStats::of(&latencies)
    }
}

/// Latencies of the `ok` operations, in `ops` order.
pub fn ok_latencies(ops: &[OpRow]) -> Vec<u64> {
    ops.iter()
        .filter(|op| op.is_ok())
        .filter_map(OpRow::latency_ns)
        .collect()
}

/// The mean rounded to the nearest integer, halves up; `None` for no values.
pub fn mean_rounded(values: &[u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let count = values.len() as u128;
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    Some(((sum + count / 2) / count) as u64)
}

/// Nearest-rank percentile `percent` (1..=100) of `sorted` (ascending): the value at
/// 1-based rank `ceil(percent / 100 * N)`; `None` for no values.
pub fn nearest_rank(sorted: &[u64], percent: u32) -> Option<u64> {
    debug_assert!(sorted.windows(2).all(|pair| pair[0] <= pair[1]));
    Some(sorted[nearest_rank_index(sorted.len(), percent)?])
}

/// The 0-based index of the nearest-rank percentile `percent` (1..=100) among `len`
/// sorted values: rank `ceil(percent / 100 * len)`, minus one; `None` when `len` is 0.
pub(crate) fn nearest_rank_index(len: usize, percent: u32) -> Option<usize> {
    assert!(
        (1..=100).contains(&percent),
        "percentile {percent} outside 1..=100"
    );
    if len == 0 {
        return None;
    }
    let rank = (u128::from(percent) * len as u128).div_ceil(100).max(1);
    Some((rank - 1) as usize)
}

/// A float as written in CSV: 6 decimals; empty when not finite.
pub fn format_ratio(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.6}")
    } else {
        String::new()
    }
}

/// `throughput_per_s`: the `ok` operations divided by the run's virtual time in seconds
/// (NaN, written empty, for a run of zero length).
pub fn throughput_per_s(ops: &[OpRow], end: SimTime) -> f64 {
    let ok = ops.iter().filter(|op| op.is_ok()).count() as f64;
    ok / (end.as_nanos() as f64 / 1e9)
}

/// `mean_in_flight`: the time-average number of operations in flight over the run,
/// `sum_i (min(end_i, T) - start_i) / T` with `T` the run's virtual time and an
/// unfinished operation in flight until `T`. Every operation counts, whatever its
/// outcome. By Little's law it approaches `throughput_per_s` times the mean latency
/// (in seconds) when nearly every operation completes `ok` within the run.
pub fn mean_in_flight(ops: &[OpRow], end: SimTime) -> f64 {
    let busy_ns: u128 = ops
        .iter()
        .map(|op| {
            let until = op.end.map_or(end, |done| done.min(end));
            u128::from(until.saturating_since(op.start).as_nanos())
        })
        .sum();
    busy_ns as f64 / end.as_nanos() as f64
}

fn optional(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The standard columns of `summary.csv`, in order; a protocol's extra columns follow.
pub const SUMMARY_COLUMNS: [&str; 23] = [
    "scenario",
    "protocol",
    "variant",
    "seed",
    "virtual_time_ns",
    "events",
    "messages_sent",
    "messages_delivered",
    "messages_dropped",
    "messages_duplicated",
    "ops_ok",
    "ops_failed",
    "latency_mean_ns",
    "latency_p50_ns",
    "latency_p99_ns",
    "formula",
    "formula_value",
    "agreement",
    "violations",
    "fingerprint",
    "messages_dropped_overload",
    "throughput_per_s",
    "mean_in_flight",
];

/// One row of `summary.csv` (and of a sweep's `sweep.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Protocol kind.
    pub protocol: String,
    /// Protocol variant.
    pub variant: String,
    /// Run seed.
    pub seed: u64,
    /// Virtual time at the end of the run.
    pub virtual_time_ns: u64,
    /// Events the engine handled.
    pub events: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages delivered (duplicates included).
    pub messages_delivered: u64,
    /// Messages lost.
    pub messages_dropped: u64,
    /// Extra copies made by duplication.
    pub messages_duplicated: u64,
    /// Messages dropped because their target's arrival queue was full (load model;
    /// also counted in `messages_dropped`).
    pub messages_dropped_overload: u64,
    /// Operations that completed `ok`.
    pub ops_ok: u64,
    /// Operations that completed with a failure outcome (unfinished ones not counted).
    pub ops_failed: u64,
    /// Operations still open when the run ended (not a `summary.csv` column; the
    /// `unfinished` rows of `ops.csv`).
    pub ops_unfinished: u64,
    /// Latency statistics of the `ok` operations.
    pub latency: LatencyStats,
    /// Formula name (`T`, `L`, `R`, `f(x)`, ...).
    pub formula: String,
    /// Formula value, as written (see the module doc).
    pub formula_value: String,
    /// Agreement ratio in `[0, 1]`.
    pub agreement: f64,
    /// Number of violations found.
    pub violations: u64,
    /// Run fingerprint.
    pub fingerprint: u64,
    /// Operations completed `ok` per virtual second of the run (see
    /// [`throughput_per_s`]).
    pub throughput_per_s: f64,
    /// Time-average number of operations in flight (see [`mean_in_flight`]).
    pub mean_in_flight: f64,
    /// The protocol's own columns, in order.
    pub extra_columns: Vec<(String, String)>,
}

impl Summary {
    /// The summary of a finished run, from its paired operations
    /// ([`dsim_core::RunOutput::ops`]).
    pub fn from_run(meta: &RunMeta, result: &RunResult) -> Summary {
        let output = &result.output;
        let ops = &output.ops[..];
        let verdict = &result.verdict;
        let latency = LatencyStats::of_ok(ops);
        let (formula, formula_value) = match verdict.formula {
            Formula::MeanOkLatency { name } => (name.to_string(), optional(latency.mean_ns)),
            Formula::MeanOkLatencyOf { name, f } => {
                let only: Vec<OpRow> = ops.iter().filter(|op| op.kind == f).cloned().collect();
                (
                    name.to_string(),
                    optional(LatencyStats::of_ok(&only).mean_ns),
                )
            }
            Formula::Value { name, value } => (name.to_string(), format_ratio(value)),
        };
        Summary {
            scenario: meta.scenario.clone(),
            protocol: meta.protocol.clone(),
            variant: meta.variant.clone(),
            seed: meta.seed,
            virtual_time_ns: output.end_time.as_nanos(),
            events: output.counters.events,
            messages_sent: output.counters.messages_sent,
            messages_delivered: output.counters.messages_delivered,
            messages_dropped: output.counters.messages_dropped,
            messages_duplicated: output.counters.messages_duplicated,
            messages_dropped_overload: output.counters.dropped_by_overload,
            ops_ok: ops.iter().filter(|op| op.is_ok()).count() as u64,
            ops_failed: ops.iter().filter(|op| op.is_failed()).count() as u64,
            ops_unfinished: ops.iter().filter(|op| op.outcome.is_none()).count() as u64,
            latency,
            formula,
            formula_value,
            agreement: verdict.agreement,
            violations: verdict.violations.len() as u64,
            fingerprint: output.fingerprint,
            throughput_per_s: throughput_per_s(ops, output.end_time),
            mean_in_flight: mean_in_flight(ops, output.end_time),
            extra_columns: verdict
                .extra_columns
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        }
    }

    /// Column names: [`SUMMARY_COLUMNS`], then the extra columns in order.
    pub fn header(&self) -> Vec<String> {
        SUMMARY_COLUMNS
            .iter()
            .map(|column| column.to_string())
            .chain(self.extra_columns.iter().map(|(name, _)| name.clone()))
            .collect()
    }

    /// Field values, in [`Summary::header`] order, as written to CSV.
    pub fn values(&self) -> Vec<String> {
        let standard = [
            self.scenario.clone(),
            self.protocol.clone(),
            self.variant.clone(),
            self.seed.to_string(),
            self.virtual_time_ns.to_string(),
            self.events.to_string(),
            self.messages_sent.to_string(),
            self.messages_delivered.to_string(),
            self.messages_dropped.to_string(),
            self.messages_duplicated.to_string(),
            self.ops_ok.to_string(),
            self.ops_failed.to_string(),
            optional(self.latency.mean_ns),
            optional(self.latency.p50_ns),
            optional(self.latency.p99_ns),
            self.formula.clone(),
            self.formula_value.clone(),
            format_ratio(self.agreement),
            self.violations.to_string(),
            fingerprint_hex(self.fingerprint),
            self.messages_dropped_overload.to_string(),
            format_ratio(self.throughput_per_s),
            format_ratio(self.mean_in_flight),
        ];
        standard
            .into_iter()
            .chain(self.extra_columns.iter().map(|(_, value)| value.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_uses_the_ceiling_rank() {
        let sorted: Vec<u64> = (1..=10).collect();
        // rank ceil(0.5 * 10) = 5 and ceil(0.99 * 10) = 10; interpolating would give
        // 5.5 and 9.91.
        assert_eq!(nearest_rank(&sorted, 50), Some(5));
        assert_eq!(nearest_rank(&sorted, 99), Some(10));
        assert_eq!(nearest_rank(&[7], 1), Some(7));
        assert_eq!(nearest_rank(&[3, 4, 5], 50), Some(4));
        let hundred: Vec<u64> = (1..=100).collect();
        // Exactly 99: a floating-point ceil(0.99 * 100) could give 100.
        assert_eq!(nearest_rank(&hundred, 99), Some(99));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn mean_rounds_halves_up() {
        // 5 / 2 = 2.5 rounds to 3; 4 / 3 = 1.33 rounds to 1. Truncation would give 2.
        assert_eq!(mean_rounded(&[2, 3]), Some(3));
        assert_eq!(mean_rounded(&[1, 1, 2]), Some(1));
        assert_eq!(mean_rounded(&[u64::MAX, u64::MAX]), Some(u64::MAX));
        assert_eq!(mean_rounded(&[]), None);
    }

    fn op(start_ns: u64, end_ns: Option<u64>, outcome: Option<dsim_core::Outcome>) -> OpRow {
        OpRow {
            op_id: start_ns,
            client: dsim_core::NodeId(1),
            client_op: start_ns,
            kind: "request",
            key: None,
            arg: dsim_core::Value::Nil,
            ret: dsim_core::Value::Nil,
            start: SimTime(start_ns),
            end: end_ns.map(SimTime),
            outcome,
            // Charts read times, not the events' order.
            invoke_seq: 0,
            complete_seq: 0,
        }
    }

    #[test]
    fn throughput_and_in_flight_follow_the_ops_intervals() {
        use dsim_core::Outcome;
        // A 2 s run: two ok ops of 0.5 s and 1 s, a failed one of 0.25 s and one still
        // open at the end since 1.5 s (counted in flight until 2 s).
        let ops = [
            op(0, Some(500_000_000), Some(Outcome::Ok)),
            op(100_000_000, Some(1_100_000_000), Some(Outcome::Ok)),
            op(
                200_000_000,
                Some(450_000_000),
                Some(Outcome::Fail("timeout")),
            ),
            op(1_500_000_000, None, None),
        ];
        let end = SimTime(2_000_000_000);
        // Only ok ops count: 2 per 2 s. Counting all four would give 2.0.
        assert_eq!(throughput_per_s(&ops, end), 1.0);
        // (0.5 + 1 + 0.25 + 0.5) s / 2 s = 1.125. Leaving out the failed op would give
        // 1.0, leaving out the open one 0.875.
        assert_eq!(mean_in_flight(&ops, end), 1.125);
        // A zero-length run has no rate: NaN, written as an empty field.
        assert_eq!(format_ratio(throughput_per_s(&[], SimTime(0))), "");
    }

    #[test]
    fn ratios_print_six_decimals_and_nothing_for_nan() {
        assert_eq!(format_ratio(2.0 / 3.0), "0.666667");
        assert_eq!(format_ratio(1.0), "1.000000");
        assert_eq!(format_ratio(f64::NAN), "");
    }
}
