//! `rates.csv`: the bytes per second a MapReduce job moves over time, in three flows
//! like the panels of Dean & Ghemawat's Figure 3: *input* (map tasks reading their
//! splits), *shuffle* (reducers fetching intermediate data) and *output* (reducers
//! writing their partitions).
//!
//! The protocol observes each transfer as three [`Observation::Metric`]s made together
//! by one node: the bytes, named by the flow (`mr_input_bytes`, `mr_shuffle_bytes`,
//! `mr_output_bytes`), then `mr_transfer_start_ns` and `mr_transfer_end_ns`, the
//! virtual times it spans (these names are the ones `dsim_protocols::mapreduce`
//! declares; the report knows them as metric names, not as protocol internals). A
//! transfer's bytes are spread evenly over its span; each row gives a bin's bytes
//! divided by the bin's length. Runs without such metrics have no `rates.csv`.

use dsim_core::{NoEvent, Observation, ObservationRecord, SimTime};

/// The header of `rates.csv`.
pub const RATES_HEADER: [&str; 4] = ["bin_start_ns", "input_Bps", "shuffle_Bps", "output_Bps"];

/// Most bins in a run's table (the bin width is the smallest 1-2-5 step reaching it).
pub const BINS_MAX: u64 = 200;

/// The three flows, in column order.
const FLOWS: [&str; 3] = ["mr_input_bytes", "mr_shuffle_bytes", "mr_output_bytes"];
const START: &str = "mr_transfer_start_ns";
const END: &str = "mr_transfer_end_ns";

/// One bin of `rates.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateRow {
    /// Start of the bin, ns of virtual time.
    pub bin_start_ns: u64,
    /// Bytes per second of each flow in the bin: input, shuffle, output.
    pub bytes_per_s: [f64; 3],
}

impl RateRow {
    /// The CSV fields (rates rounded to whole bytes per second).
    pub fn fields(&self) -> Vec<String> {
        let mut fields = vec![self.bin_start_ns.to_string()];
        fields.extend(
            self.bytes_per_s
                .iter()
                .map(|rate| format!("{}", rate.round() as u64)),
        );
        fields
    }
}

/// One transfer: flow index, bytes, start, end.
type Transfer = (usize, u64, u64, u64);

/// The transfers among `observations`.
fn transfers(observations: &[ObservationRecord<NoEvent>]) -> Vec<Transfer> {
    let metric = |record: &ObservationRecord<NoEvent>| match record.observation {
        Observation::Metric { name, value } => Some((name, value)),
        _ => None,
    };
    let mut found = Vec::new();
    for (index, record) in observations.iter().enumerate() {
        let Some((name, bytes)) = metric(record) else {
            continue;
        };
        let Some(flow) = FLOWS.iter().position(|&f| f == name) else {
            continue;
        };
        let next = |offset: usize, want: &str| {
            observations
                .get(index + offset)
                .filter(|r| r.node == record.node && r.time == record.time)
                .and_then(metric)
                .filter(|(name, _)| *name == want)
                .map(|(_, value)| value)
        };
        if let (Some(start), Some(end)) = (next(1, START), next(2, END)) {
            found.push((flow, bytes, start.min(end), end.max(start)));
        }
    }
    found
}

/// The bin width for a run of `span_ns`: the smallest of 1, 2, 5 × 10^k ns giving at
/// most [`BINS_MAX`] bins.
pub fn bin_width_ns(span_ns: u64) -> u64 {
    let mut width = 1u64;
    loop {
        for step in [1, 2, 5] {
            let candidate = width.saturating_mul(step);
            if span_ns.div_ceil(candidate.max(1)) <= BINS_MAX || candidate == u64::MAX {
                return candidate;
            }
        }
        width = width.saturating_mul(10);
    }
}

/// The rows of `rates.csv` for a run ending at `span`, or `None` when the run observed
/// no transfer (not a MapReduce run with a byte model).
pub fn rates(observations: &[ObservationRecord<NoEvent>], span: SimTime) -> Option<Vec<RateRow>> {
    let transfers = transfers(observations);
    if transfers.is_empty() {
        return None;
    }
    let last_end = transfers.iter().map(|t| t.3).max().unwrap_or(0);
    let span_ns = span.as_nanos().max(last_end).max(1);
    let width = bin_width_ns(span_ns);
    let bins = span_ns.div_ceil(width) as usize;
    let mut bytes = vec![[0.0f64; 3]; bins];
    for (flow, size, start, end) in transfers {
        if end == start {
            let bin = ((start / width) as usize).min(bins - 1);
            bytes[bin][flow] += size as f64;
            continue;
        }
        let first = (start / width) as usize;
        let last = (((end - 1) / width) as usize).min(bins - 1);
        for (bin, slot) in bytes.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = (bin as u64 * width).max(start);
            let hi = ((bin as u64 + 1) * width).min(end);
            slot[flow] += size as f64 * (hi - lo) as f64 / (end - start) as f64;
        }
    }
    let seconds = width as f64 / 1e9;
    Some(
        bytes
            .into_iter()
            .enumerate()
            .map(|(bin, b)| RateRow {
                bin_start_ns: bin as u64 * width,
                bytes_per_s: [b[0] / seconds, b[1] / seconds, b[2] / seconds],
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::NodeId;

    fn metric(ms: u64, node: u32, name: &'static str, value: u64) -> ObservationRecord<NoEvent> {
        ObservationRecord {
            time: SimTime(ms * 1_000_000),
            node: NodeId(node),
            observation: Observation::Metric { name, value },
        }
    }

    fn transfer(
        at_ms: u64,
        node: u32,
        flow: &'static str,
        bytes: u64,
        start_s: u64,
        end_s: u64,
    ) -> Vec<ObservationRecord<NoEvent>> {
        vec![
            metric(at_ms, node, flow, bytes),
            metric(at_ms, node, START, start_s * 1_000_000_000),
            metric(at_ms, node, END, end_s * 1_000_000_000),
        ]
    }

    #[test]
    fn a_transfers_bytes_are_spread_evenly_over_the_bins_it_spans() {
        // A 200 s run has 1 s bins (200 of them). 30 MB read over seconds 10-13 is
        // 10 MB/s in bins 10, 11 and 12 and nothing elsewhere; 8 MB fetched over
        // 11-12 adds 8 MB/s of shuffle in bin 11; 5 MB written at one instant (start =
        // end = 20 s) is 5 MB/s in bin 20. Spreading by the wrong span, or counting a
        // transfer in the bin of its observation only, would move these values.
        let mut obs = transfer(1, 3, FLOWS[0], 30_000_000, 10, 13);
        obs.extend(transfer(2, 4, FLOWS[1], 8_000_000, 11, 12));
        obs.extend(transfer(3, 4, FLOWS[2], 5_000_000, 20, 20));
        let rows = rates(&obs, SimTime(200_000_000_000)).expect("transfers");
        assert_eq!(rows.len(), 200);
        assert_eq!(rows[10].bytes_per_s, [10e6, 0.0, 0.0]);
        assert_eq!(rows[11].bytes_per_s, [10e6, 8e6, 0.0]);
        assert_eq!(rows[12].bytes_per_s, [10e6, 0.0, 0.0]);
        assert_eq!(rows[13].bytes_per_s, [0.0, 0.0, 0.0]);
        assert_eq!(rows[20].bytes_per_s, [0.0, 0.0, 5e6]);
        assert_eq!(
            rows[11].fields(),
            vec!["11000000000", "10000000", "8000000", "0"]
        );
        let total: f64 = rows.iter().map(|r| r.bytes_per_s[0]).sum();
        assert_eq!(total, 30e6, "every input byte lands in some bin, once");
    }

    #[test]
    fn metrics_of_another_node_or_time_do_not_complete_a_transfer() {
        // The three metrics of a transfer are made together by one node; a bytes
        // metric followed by another node's start/end is not a transfer.
        let obs = vec![
            metric(1, 3, FLOWS[0], 1_000),
            metric(1, 4, START, 0),
            metric(1, 4, END, 1_000_000_000),
        ];
        assert_eq!(rates(&obs, SimTime(1_000_000_000)), None);
    }

    #[test]
    fn bins_are_the_smallest_one_two_five_step_within_the_bin_budget() {
        assert_eq!(bin_width_ns(200_000_000_000), 1_000_000_000);
        assert_eq!(bin_width_ns(900_000_000_000), 5_000_000_000);
        assert_eq!(bin_width_ns(300_000_000_000), 2_000_000_000);
        assert_eq!(bin_width_ns(100), 1);
    }
}
