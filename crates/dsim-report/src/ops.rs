//! Client operations as `ops.csv` rows: one [`OpRow`] per operation the engine paired
//! ([`dsim_core::ops`], [`dsim_core::RunOutput::ops`]), which becomes one row of
//! `ops.csv` and one invocation (plus its completion, if any) in `history.edn`.

use dsim_core::{OpRecord, OpSink, Value};
use std::collections::VecDeque;
use std::io;

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

/// Writes `ops.csv` incrementally, in invocation order: fed each invocation and
/// completion as the engine pairs them ([`OpSink`]), it writes a row as soon as its
/// operation and every operation invoked before it have completed, so it holds only the
/// rows from the oldest open operation on. [`OpsCsvWriter::finish`] writes the rest
/// (operations the run ended in the middle of). The bytes are those of
/// [`crate::csv_bytes`] over [`OPS_HEADER`] and [`fields`]. The first write error stops
/// it; `finish` returns it.
pub struct OpsCsvWriter<W: io::Write> {
    csv: csv::Writer<W>,
    /// The operations from the oldest open one on, in invocation order: `pending[i]`
    /// has `op_id` `base + i`.
    pending: VecDeque<OpRecord>,
    base: u64,
    error: Option<io::Error>,
}

impl<W: io::Write> OpsCsvWriter<W> {
    /// A writer of `ops.csv` to `out`; writes the header.
    pub fn new(out: W) -> OpsCsvWriter<W> {
        let mut csv = crate::write::csv_writer(out);
        let error = csv.write_record(OPS_HEADER).err().map(io::Error::from);
        OpsCsvWriter {
            csv,
            pending: VecDeque::new(),
            base: 0,
            error,
        }
    }

    /// The `op_id`s of the rows held, not yet written.
    pub fn held(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().map(|op| op.op_id)
    }

    /// Writes the rows held (the unfinished operations last), flushes, and hands back
    /// `out`, or the first write error.
    pub fn finish(mut self) -> io::Result<W> {
        while let Some(op) = self.pending.pop_front() {
            self.row(&op);
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.csv.flush()?;
        self.csv
            .into_inner()
            .map_err(|error| io::Error::other(error.to_string()))
    }

    fn row(&mut self, op: &OpRecord) {
        if self.error.is_none() {
            self.error = self.csv.write_record(fields(op)).err().map(io::Error::from);
        }
    }
}

impl<W: io::Write> OpSink for OpsCsvWriter<W> {
    fn invoked(&mut self, op: &OpRecord) {
        if self.pending.is_empty() {
            self.base = op.op_id;
        }
        self.pending.push_back(op.clone());
    }

    fn completed(&mut self, op: &OpRecord) {
        let Some(held) = op
            .op_id
            .checked_sub(self.base)
            .and_then(|at| self.pending.get_mut(at as usize))
        else {
            return;
        };
        held.clone_from(op);
        while self.pending.front().is_some_and(|op| op.end.is_some()) {
            if let Some(done) = self.pending.pop_front() {
                self.base += 1;
                self.row(&done);
            }
        }
    }
}

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

    #[test]
    fn ops_csv_writer_holds_only_rows_from_the_oldest_open_operation_on() {
        let at = |time, node, observation| ObservationRecord {
            time: SimTime(time),
            node: NodeId(node),
            observation,
        };
        let done = |op| Observation::OpCompleted {
            op,
            outcome: Outcome::Ok,
            ret: Value::Nil,
        };
        let records: Vec<ObservationRecord<NoEvent>> = vec![
            at(1, 2, invoked(0, "put", 1)),
            at(2, 3, invoked(0, "get", 2)),
            at(3, 4, invoked(0, "put", 3)),
            at(4, 3, done(0)),
            at(5, 2, done(0)),
            at(6, 2, invoked(1, "get", 4)),
            at(7, 4, done(0)),
        ];
        let table = dsim_core::ops::pair(&records);
        // What the engine hands over at an invocation: the record with no completion.
        let open = |op: &OpRecord| OpRecord {
            end: None,
            outcome: None,
            ret: Value::Nil,
            ..op.clone()
        };
        let mut writer = OpsCsvWriter::new(Vec::new());
        let held = |writer: &OpsCsvWriter<Vec<u8>>| writer.held().collect::<Vec<u64>>();
        writer.invoked(&open(&table[0]));
        writer.invoked(&open(&table[1]));
        writer.invoked(&open(&table[2]));
        writer.completed(&table[1]);
        // Op 1 is done but op 0, invoked before it, is open: its row must wait, or
        // the rows would come out of invocation order.
        assert_eq!(held(&writer), [0, 1, 2]);
        writer.completed(&table[0]);
        // Ops 0 and 1 are written; a writer that kept them would grow with the run.
        assert_eq!(held(&writer), [2]);
        writer.invoked(&open(&table[3]));
        writer.completed(&table[2]);
        assert_eq!(held(&writer), [3]);
        // The unfinished op 3 is written at the end, after every earlier row.
        let bytes = writer.finish().expect("writes to memory");
        assert_eq!(
            bytes,
            crate::csv_bytes(&OPS_HEADER, table.iter().map(fields))
        );
    }
}
