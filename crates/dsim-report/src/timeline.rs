//! `timeline.csv`: throughput, availability and active faults per interval of virtual
//! time.
//!
//! The interval width is a hundredth of the run's virtual duration rounded up to a
//! whole millisecond (1 ms at least), so a run has at most 100 intervals; the last one
//! may be shorter and ends with the run. An operation counts in the interval in which
//! it completed. `throughput_ops_per_s` is the `ok` operations completed in the
//! interval divided by its length in virtual seconds; `availability_ratio` is `ok /
//! completed` in the interval, empty when nothing completed; `faults_active` lists the
//! labels of the fault windows overlapping the interval, joined by `;`.

use crate::faults::FaultWindow;
use crate::metrics::format_ratio;
use crate::ops::OpRow;
use dsim_core::SimTime;

const MILLISECOND_NS: u64 = 1_000_000;

/// Columns of `timeline.csv`.
pub const TIMELINE_HEADER: [&str; 8] = [
    "interval_start_ns",
    "interval_end_ns",
    "ops_completed",
    "ops_ok",
    "ops_failed",
    "throughput_ops_per_s",
    "availability_ratio",
    "faults_active",
];

/// One interval of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineRow {
    /// Start of the interval (included).
    pub start: SimTime,
    /// End of the interval (excluded, except for the run's last instant).
    pub end: SimTime,
    /// Operations that completed in the interval, with any outcome.
    pub ops_completed: u64,
    /// Of those, the `ok` ones.
    pub ops_ok: u64,
    /// Of those, the failed ones.
    pub ops_failed: u64,
    /// Labels of the fault windows overlapping the interval, without repeats.
    pub faults_active: Vec<String>,
}

impl TimelineRow {
    /// `ok` operations per virtual second.
    pub fn throughput_ops_per_s(&self) -> f64 {
        let seconds = self.end.saturating_since(self.start).as_nanos() as f64 / 1e9;
        if seconds > 0.0 {
            self.ops_ok as f64 / seconds
        } else {
            0.0
        }
    }

    /// `ok / completed`, or `None` when nothing completed.
    pub fn availability_ratio(&self) -> Option<f64> {
        (self.ops_completed > 0).then(|| self.ops_ok as f64 / self.ops_completed as f64)
    }

    /// The row as `timeline.csv` fields, in [`TIMELINE_HEADER`] order.
    pub fn fields(&self) -> Vec<String> {
        vec![
            self.start.as_nanos().to_string(),
            self.end.as_nanos().to_string(),
            self.ops_completed.to_string(),
            self.ops_ok.to_string(),
            self.ops_failed.to_string(),
            format_ratio(self.throughput_ops_per_s()),
            self.availability_ratio()
                .map(format_ratio)
                .unwrap_or_default(),
            self.faults_active.join(";"),
        ]
    }
}

/// The interval width for a run of `span_ns` virtual nanoseconds: `span_ns / 100`
/// rounded up to a whole millisecond, at least 1 ms.
pub fn timeline_interval_ns(span_ns: u64) -> u64 {
    span_ns
        .div_ceil(100)
        .div_ceil(MILLISECOND_NS)
        .max(1)
        .saturating_mul(MILLISECOND_NS)
}

/// The timeline of a run that lasted until `span` (virtual time).
pub fn timeline(ops: &[OpRow], windows: &[FaultWindow], span: SimTime) -> Vec<TimelineRow> {
    let width = timeline_interval_ns(span.as_nanos());
    let count = span.as_nanos().div_ceil(width).max(1);
    let mut rows: Vec<TimelineRow> = (0..count)
        .map(|index| {
            let start = SimTime(index * width);
            let end = SimTime(((index + 1) * width).min(span.as_nanos()));
            let mut faults_active: Vec<String> = Vec::new();
            for window in windows {
                if window.overlaps(start, end) && !faults_active.contains(&window.label) {
                    faults_active.push(window.label.clone());
                }
            }
            TimelineRow {
                start,
                end,
                ops_completed: 0,
                ops_ok: 0,
                ops_failed: 0,
                faults_active,
            }
        })
        .collect();
    for op in ops {
        let Some(end) = op.end else { continue };
        let index = (end.as_nanos() / width).min(count - 1) as usize;
        let row = &mut rows[index];
        row.ops_completed += 1;
        if op.is_ok() {
            row.ops_ok += 1;
        } else if op.is_failed() {
            row.ops_failed += 1;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::fault_windows;
    use dsim_core::{Fault, FaultRecord, NodeId, Outcome};

    #[test]
    fn interval_is_a_hundredth_of_the_run_rounded_up_to_a_millisecond() {
        assert_eq!(timeline_interval_ns(10_000_000_000), 100_000_000); // 10 s -> 100 ms
        assert_eq!(timeline_interval_ns(1_050_000_000), 11_000_000); // 10.5 ms -> 11 ms
        assert_eq!(timeline_interval_ns(5_000_000), 1_000_000); // at least 1 ms
        assert_eq!(timeline_interval_ns(0), 1_000_000);
    }

    fn op(end_ms: u64, outcome: Outcome) -> OpRow {
        OpRow {
            op_id: 0,
            client: NodeId(3),
            client_op: 0,
            kind: "put",
            key: None,
            arg: dsim_core::Value::Nil,
            ret: dsim_core::Value::Nil,
            start: SimTime(0),
            end: Some(SimTime(end_ms * 1_000_000)),
            outcome: Some(outcome),
            // Charts read times, not the events' order.
            invoke_seq: 0,
            complete_seq: 0,
        }
    }

    #[test]
    fn ops_count_where_they_completed_and_faults_where_they_overlap() {
        let span = SimTime(1_000_000_000); // 1 s -> 10 ms intervals
        let ops = [
            op(5, Outcome::Ok),
            op(9, Outcome::Info("timeout")),
            op(10, Outcome::Ok),    // boundary: second interval
            op(1_000, Outcome::Ok), // the run's last instant: last interval
        ];
        let log = [
            FaultRecord {
                time: SimTime(15_000_000),
                fault: Fault::Crash(NodeId(2)),
            },
            FaultRecord {
                time: SimTime(15_000_000),
                fault: Fault::Partition(vec![vec![NodeId(0)]]),
            },
            FaultRecord {
                time: SimTime(20_000_000),
                fault: Fault::Heal,
            },
        ];
        let rows = timeline(&ops, &fault_windows(&log, span), span);
        assert_eq!(rows.len(), 100);
        assert_eq!(
            (rows[0].ops_completed, rows[0].ops_ok, rows[0].ops_failed),
            (2, 1, 1)
        );
        // One ok op in 10 ms is 100 ops/s; availability is ok / completed.
        assert_eq!(rows[0].fields()[5..7], ["100.000000", "0.500000"]);
        assert_eq!(
            rows[1].ops_ok, 1,
            "an op ending on a boundary belongs to the later interval"
        );
        assert_eq!(
            rows[99].ops_ok, 1,
            "an op ending with the run belongs to the last interval"
        );
        assert_eq!(
            rows[2].fields()[6],
            "",
            "no completions: availability is unknown, not 0"
        );
        assert_eq!(rows[1].faults_active, ["crash n2", "partition"]);
        // The partition healed at 20 ms, the crash never restarted.
        assert_eq!(rows[2].faults_active, ["crash n2"]);
        assert_eq!(rows[99].end, span);
    }
}
