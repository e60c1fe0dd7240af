//! Client operations, paired from observations: one [`OpRow`] per `OpInvoked`, which
//! becomes one row of `ops.csv` and one invocation (plus its completion, if any) in
//! `history.edn`.

use dsim_core::{
    NoEvent, NodeId, Observation, ObservationRecord, Outcome, RunOutput, SimTime, Value,
};
use std::collections::BTreeMap;

/// The reason written to `ops.csv` for an operation that never completed (its outcome
/// is `info`: the run ended while it was in flight, so it may or may not have happened).
pub const UNFINISHED: &str = "unfinished";

/// One client operation: a row of `ops.csv` ([`OPS_HEADER`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRow {
    /// Run-wide number, `0..`, in order of invocation.
    pub op_id: u64,
    /// The client node that invoked it.
    pub client: NodeId,
    /// The client's own number for it (as in its observations).
    pub client_op: u64,
    /// Jepsen's function name, `f` (`put`, `txn`, `acquire`, `task`, ...); also the
    /// `kind` column.
    pub kind: &'static str,
    /// The key the operation addresses, if keyed.
    pub key: Option<Value>,
    /// The invocation's argument.
    pub arg: Value,
    /// The completion's return value (`nil` until it completes).
    pub ret: Value,
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

    /// True when it completed, but not `ok` (`fail` or `info`): the `ops_failed`
    /// count. Unfinished operations are not counted.
    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Fail(_) | Outcome::Info(_)))
    }

    /// The `outcome` column: `ok`, `fail` or `info`; an unfinished operation is `info`
    /// (indeterminate, as Jepsen treats an invocation without completion).
    pub fn outcome_word(&self) -> &'static str {
        self.outcome.map_or("info", Outcome::word)
    }

    /// The `reason` column: the word of a `fail` or `info` outcome, [`UNFINISHED`] for
    /// an operation that never completed, empty for `ok`.
    pub fn reason(&self) -> &'static str {
        self.outcome.map_or(UNFINISHED, Outcome::reason)
    }

    /// The row as `ops.csv` fields, in [`OPS_HEADER`] order; end and latency are empty
    /// for an unfinished operation, `key` is empty when the operation has none, values
    /// are EDN.
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
            self.kind.to_string(),
            self.key.as_ref().map(Value::to_string).unwrap_or_default(),
            self.arg.to_string(),
            self.ret.to_string(),
            self.reason().to_string(),
        ]
    }
}

/// Columns of `ops.csv`: the timing columns, then the history columns (`f`, `key`,
/// `arg`, `ret` as EDN) and the outcome's `reason` word.
pub const OPS_HEADER: [&str; 12] = [
    "op_id",
    "client",
    "kind",
    "start_ns",
    "end_ns",
    "latency_ns",
    "outcome",
    "f",
    "key",
    "arg",
    "ret",
    "reason",
];

/// Pairs every `OpInvoked` with the `OpCompleted` of the same client and op number.
///
/// Rows come in invocation order (observations are in time order) and are numbered
/// `0..`. A completion with no open invocation, or a second completion of one op, is
/// ignored; if a client reuses an op number, the later invocation takes the later
/// completions.
pub fn ops_table(output: &RunOutput<NoEvent>) -> Vec<OpRow> {
    pair(output.observations.iter().cloned())
}

/// [`ops_table`] for a caller done with the operations: takes them out of `output` and
/// moves their values into the rows instead of copying them, so a long run's operations
/// are held once, not twice. Every other observation stays in `output`, in order: the
/// report still reads them (MapReduce's transfer metrics make `rates.csv`).
pub fn take_ops_table(output: &mut RunOutput<NoEvent>) -> Vec<OpRow> {
    let mut rest = Vec::new();
    let operations = std::mem::take(&mut output.observations)
        .into_iter()
        .filter_map(|record| match record.observation {
            Observation::OpInvoked { .. } | Observation::OpCompleted { .. } => Some(record),
            _ => {
                rest.push(record);
                None
            }
        });
    let rows = pair(operations);
    output.observations = rest;
    rows
}

/// The pairing of [`ops_table`], over records in observation order.
fn pair(records: impl Iterator<Item = ObservationRecord<NoEvent>>) -> Vec<OpRow> {
    let mut rows: Vec<OpRow> = Vec::new();
    let mut open: BTreeMap<(NodeId, u64), usize> = BTreeMap::new();
    for record in records {
        match record.observation {
            Observation::OpInvoked { op, f, key, arg } => {
                open.insert((record.node, op), rows.len());
                rows.push(OpRow {
                    op_id: rows.len() as u64,
                    client: record.node,
                    client_op: op,
                    kind: f,
                    key,
                    arg,
                    ret: Value::Nil,
                    start: record.time,
                    end: None,
                    outcome: None,
                });
            }
            Observation::OpCompleted { op, outcome, ret } => {
                if let Some(index) = open.remove(&(record.node, op)) {
                    let row = &mut rows[index];
                    row.end = Some(record.time);
                    row.outcome = Some(outcome);
                    row.ret = ret;
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

    fn invoked(op: u64, f: &'static str, arg: i64) -> Observation<NoEvent> {
        Observation::OpInvoked {
            op,
            f,
            key: Some(Value::from("k")),
            arg: Value::Int(arg),
        }
    }

    #[test]
    fn taking_the_ops_table_moves_the_same_rows_out() {
        // `dsim run` reports through `take_ops_table`; any row it built differently
        // from `ops_table` would change ops.csv and the charts.
        let mut taken = output(vec![
            (
                1,
                3,
                Observation::OpInvoked {
                    op: 0,
                    f: "put",
                    key: Some(Value::Int(1)),
                    arg: Value::ints(&[1, 2]),
                },
            ),
            (
                2,
                4,
                Observation::OpInvoked {
                    op: 0,
                    f: "get",
                    key: Some(Value::Int(1)),
                    arg: Value::Nil,
                },
            ),
            (
                3,
                3,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Ok,
                    ret: Value::Int(5),
                },
            ),
            (
                4,
                3,
                Observation::Metric {
                    name: "m",
                    value: 1,
                },
            ),
            (
                5,
                4,
                Observation::OpCompleted {
                    op: 9,
                    outcome: Outcome::Ok,
                    ret: Value::Nil,
                },
            ),
        ]);
        let rows = ops_table(&taken);
        assert_eq!(rows.len(), 2);
        assert_eq!(take_ops_table(&mut taken), rows);
        // Only the metric stays: the report reads it after the ops are taken (MapReduce's
        // transfer metrics make rates.csv; taking every observation lost that file).
        let left: Vec<(u64, bool)> = taken
            .observations
            .iter()
            .map(|r| {
                (
                    r.time.0,
                    matches!(r.observation, Observation::Metric { .. }),
                )
            })
            .collect();
        assert_eq!(left, vec![(4, true)]);
    }

    #[test]
    fn ops_pair_by_client_and_op_number() {
        let table = ops_table(&output(vec![
            (10, 2, invoked(0, "put", 5)),
            (12, 3, invoked(0, "get", 5)),
            (
                15,
                3,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Info("timeout"),
                    ret: Value::Nil,
                },
            ),
            (
                30,
                2,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Ok,
                    ret: Value::Int(7),
                },
            ),
            (
                31,
                2,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Ok,
                    ret: Value::Int(7),
                },
            ),
            (40, 2, invoked(1, "put", 6)),
            (
                41,
                2,
                Observation::OpCompleted {
                    op: 9,
                    outcome: Outcome::Ok,
                    ret: Value::Nil,
                },
            ),
        ]));
        // Pairing by op number alone would give client 3's timeout to client 2's put.
        assert_eq!(table.len(), 3);
        // The first completion's return value is kept; the duplicate changes nothing.
        assert_eq!(
            table[0].fields(),
            [
                "0", "2", "put", "10", "30", "20", "ok", "put", "\"k\"", "5", "7", ""
            ]
        );
        assert_eq!(
            table[1].fields(),
            [
                "1", "3", "get", "12", "15", "3", "info", "get", "\"k\"", "5", "nil", "timeout"
            ]
        );
        // Never completed: empty end and latency, outcome `info` (it may or may not
        // have happened) with reason `unfinished`; the stray completion of op 9 must
        // not finish it.
        assert_eq!(
            table[2].fields(),
            [
                "2",
                "2",
                "put",
                "40",
                "",
                "",
                "info",
                "put",
                "\"k\"",
                "6",
                "nil",
                "unfinished"
            ]
        );
        assert!(table[1].is_failed() && !table[2].is_failed() && !table[2].is_ok());
    }
}
