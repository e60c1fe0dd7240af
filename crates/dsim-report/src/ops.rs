//! Client operations, paired from observations: one [`OpRow`] per `OpInvoked`, which
//! becomes one row of `ops.csv`.

use dsim_core::{NoEvent, NodeId, Observation, Outcome, RunOutput, SimTime};
use std::collections::BTreeMap;

/// The word written to `ops.csv` for an operation that never completed.
pub const UNFINISHED: &str = "unfinished";

/// One client operation: `ops.csv` columns `op_id, client, kind, start_ns, end_ns,
/// latency_ns, outcome`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRow {
    /// Run-wide number, `0..`, in order of invocation.
    pub op_id: u64,
    /// The client node that invoked it.
    pub client: NodeId,
    /// The client's own number for it (as in its observations).
    pub client_op: u64,
    /// What kind of operation (`put`, `txn`, `acquire`, `task`, ...).
    pub kind: &'static str,
    /// Virtual time of the invocation.
    pub start: SimTime,
    /// Virtual time of the completion, if it completed.
    pub end: Option<SimTime>,
    /// How it ended, if it completed.
    pub outcome: Option<Outcome>,
}

impl OpRow {
    /// Completion time minus invocation time, in nanoseconds, if it completed.
    pub fn latency_ns(&self) -> Option<u64> {
        self.end
            .map(|end| end.saturating_since(self.start).as_nanos())
    }

    /// True when it completed with [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        self.outcome == Some(Outcome::Ok)
    }

    /// True when it completed with a failure outcome (unfinished ones are not failed).
    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Failed(_)))
    }

    /// The `outcome` column: `ok`, the failure word, or `unfinished`.
    pub fn outcome_word(&self) -> &'static str {
        self.outcome.map_or(UNFINISHED, Outcome::word)
    }

    /// The row as `ops.csv` fields, in [`OPS_HEADER`] order; end and latency are empty
    /// for an unfinished operation.
    pub fn fields(&self) -> Vec<String> {
        vec![
            self.op_id.to_string(),
            self.client.0.to_string(),
            self.kind.to_string(),
            self.start.as_nanos().to_string(),
            self.end
                .map(|end| end.as_nanos().to_string())
                .unwrap_or_default(),
            self.latency_ns()
                .map(|ns| ns.to_string())
                .unwrap_or_default(),
            self.outcome_word().to_string(),
        ]
    }
}

/// Columns of `ops.csv`.
pub const OPS_HEADER: [&str; 7] = [
    "op_id",
    "client",
    "kind",
    "start_ns",
    "end_ns",
    "latency_ns",
    "outcome",
];

/// Pairs every `OpInvoked` with the `OpCompleted` of the same client and op number.
///
/// Rows come in invocation order (observations are in time order) and are numbered
/// `0..`. A completion with no open invocation, or a second completion of one op, is
/// ignored; if a client reuses an op number, the later invocation takes the later
/// completions.
pub fn ops_table(output: &RunOutput<NoEvent>) -> Vec<OpRow> {
    let mut rows: Vec<OpRow> = Vec::new();
    let mut open: BTreeMap<(NodeId, u64), usize> = BTreeMap::new();
    for record in &output.observations {
        match record.observation {
            Observation::OpInvoked { op, kind } => {
                open.insert((record.node, op), rows.len());
                rows.push(OpRow {
                    op_id: rows.len() as u64,
                    client: record.node,
                    client_op: op,
                    kind,
                    start: record.time,
                    end: None,
                    outcome: None,
                });
            }
            Observation::OpCompleted { op, outcome } => {
                if let Some(index) = open.remove(&(record.node, op)) {
                    let row = &mut rows[index];
                    row.end = Some(record.time);
                    row.outcome = Some(outcome);
                }
            }
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{Counters, ObservationRecord};

    fn output(observations: Vec<(u64, u32, Observation<NoEvent>)>) -> RunOutput<NoEvent> {
        RunOutput {
            seed: 1,
            node_count: 4,
            end_time: SimTime(1_000),
            counters: Counters::default(),
            fingerprint: 0,
            observations: observations
                .into_iter()
                .map(|(time, node, observation)| ObservationRecord {
                    time: SimTime(time),
                    node: NodeId(node),
                    observation,
                })
                .collect(),
            fault_log: Vec::new(),
            messages: Vec::new(),
        }
    }

    #[test]
    fn ops_pair_by_client_and_op_number() {
        let table = ops_table(&output(vec![
            (10, 2, Observation::OpInvoked { op: 0, kind: "put" }),
            (12, 3, Observation::OpInvoked { op: 0, kind: "get" }),
            (
                15,
                3,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Failed("timeout"),
                },
            ),
            (
                30,
                2,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Ok,
                },
            ),
            (
                31,
                2,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Ok,
                },
            ),
            (40, 2, Observation::OpInvoked { op: 1, kind: "put" }),
            (
                41,
                2,
                Observation::OpCompleted {
                    op: 9,
                    outcome: Outcome::Ok,
                },
            ),
        ]));
        // Pairing by op number alone would give client 3's timeout to client 2's put.
        assert_eq!(table.len(), 3);
        assert_eq!(table[0].fields(), ["0", "2", "put", "10", "30", "20", "ok"]);
        assert_eq!(
            table[1].fields(),
            ["1", "3", "get", "12", "15", "3", "timeout"]
        );
        // Never completed: empty end and latency, outcome `unfinished`; the stray
        // completion of op 9 must not finish it.
        assert_eq!(
            table[2].fields(),
            ["2", "2", "put", "40", "", "", "unfinished"]
        );
        assert!(table[1].is_failed() && !table[2].is_failed() && !table[2].is_ok());
    }
}
