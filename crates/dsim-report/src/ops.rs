//! Client operations as `ops.csv` rows: one [`OpRow`] per operation the engine paired
//! ([`dsim_core::ops`], [`dsim_core::RunOutput::ops`]), which becomes one row of
//! `ops.csv` and one invocation (plus its completion, if any) in `history.edn`.

use dsim_core::Value;

pub use dsim_core::ops::UNFINISHED;

/// One client operation, as the engine paired it: a row of `ops.csv` ([`OPS_HEADER`],
/// [`fields`]). Its `kind` is Jepsen's `f`, written in both the `kind` and `f` columns.
pub type OpRow = dsim_core::OpRecord;

/// The row as `ops.csv` fields, in [`OPS_HEADER`] order; end and latency are empty for
/// an unfinished operation, `key` is empty when the operation has none, values are EDN.
/// `outcome` is `info` for an unfinished operation (it may or may not have happened),
/// with reason [`UNFINISHED`].
pub fn fields(row: &OpRow) -> Vec<String> {
    vec![
        row.op_id.to_string(),
        row.client.0.to_string(),
        row.kind.to_string(),
        row.start.as_nanos().to_string(),
        row.end
            .map(|end| end.as_nanos().to_string())
            .unwrap_or_default(),
        row.latency_ns()
            .map(|ns| ns.to_string())
            .unwrap_or_default(),
        row.outcome_word().to_string(),
        row.kind.to_string(),
        row.key.as_ref().map(Value::to_string).unwrap_or_default(),
        row.arg.to_string(),
        row.ret.to_string(),
        row.reason().to_string(),
    ]
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

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{NoEvent, NodeId, Observation, ObservationRecord, Outcome, SimTime};

    fn invoked(op: u64, f: &'static str, arg: i64) -> Observation<NoEvent> {
        Observation::OpInvoked {
            op,
            f,
            key: Some(Value::from("k")),
            arg: Value::Int(arg),
        }
    }

    #[test]
    fn rows_write_every_column_and_leave_an_unfinished_op_indeterminate() {
        let records: Vec<ObservationRecord<NoEvent>> = vec![
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
            (40, 2, invoked(1, "put", 6)),
        ]
        .into_iter()
        .map(|(time, node, observation)| ObservationRecord {
            time: SimTime(time),
            node: NodeId(node),
            observation,
        })
        .collect();
        let table = dsim_core::ops::pair(&records);
        assert_eq!(
            fields(&table[0]),
            [
                "0", "2", "put", "10", "30", "20", "ok", "put", "\"k\"", "5", "7", ""
            ]
        );
        assert_eq!(
            fields(&table[1]),
            [
                "1", "3", "get", "12", "15", "3", "info", "get", "\"k\"", "5", "nil", "timeout"
            ]
        );
        // Never completed: empty end and latency, outcome `info` (it may or may not
        // have happened) with reason `unfinished`.
        assert_eq!(
            fields(&table[2]),
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
