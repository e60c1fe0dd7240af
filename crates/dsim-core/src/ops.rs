//! Client operations, paired as they happen: every `OpInvoked` observation opens one
//! [`OpRecord`], and the `OpCompleted` of the same client and op number closes it.
//!
//! The engine keeps this table for every run ([`crate::RunOutput::ops`]) instead of the
//! two observation records of each operation, so a long run holds each operation once,
//! in one record, from the moment it is invoked. The history checks, `ops.csv`,
//! `history.edn` and the report's charts all read it.
//!
//! Pairing rules: records come in invocation order and are numbered `0..` (`op_id`). A
//! completion with no open invocation, or a second completion of one op, is ignored; if
//! a client reuses an op number, the later invocation takes the later completions. Each
//! invocation and each paired completion also gets its position in the run's sequence
//! of operation events ([`OpRecord::invoke_seq`], [`OpRecord::complete_seq`]), so that
//! a history can interleave them exactly as they were observed.
//!
//! An [`OpSink`] attached to the table ([`OpLog::set_sink`], [`crate::RunRequest::ops_sink`])
//! sees each invocation and each paired completion the moment the table takes it in,
//! in that same order, so that files such as `ops.csv` and `history.edn` can be written
//! during the run; [`replay`] hands a finished table's records to a sink in the same
//! order, so a writer fed either way writes the same bytes.

use crate::id::NodeId;
use crate::observe::{Observation, ObservationRecord, Outcome};
use crate::time::SimTime;
use crate::value::Value;
use std::collections::BTreeMap;

/// The reason written for an operation that never completed (its outcome is `info`:
/// the run ended while it was in flight, so it may or may not have happened).
pub const UNFINISHED: &str = "unfinished";

/// Marks a completion sequence number of an operation that has not completed.
const NOT_COMPLETED: u32 = u32::MAX;

/// One client operation: its invocation and, once it completed, its completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    /// Run-wide number, `0..`, in order of invocation.
    pub op_id: u64,
    /// The client node that invoked it.
    pub client: NodeId,
    /// The client's own number for it (as in its observations).
    pub client_op: u64,
    /// Jepsen's function name, `f` (`put`, `txn`, `acquire`, `task`, ...).
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
    /// Position of the invocation among the run's operation events (invocations and
    /// paired completions, in observation order).
    pub invoke_seq: u32,
    /// Position of the completion among the same events; meaningless while `end` is
    /// `None` (use [`OpRecord::completion_seq`]).
    pub complete_seq: u32,
}

impl OpRecord {
    /// Completion time minus invocation time, in nanoseconds, if it completed.
    pub fn latency_ns(&self) -> Option<u64> {
        self.end
            .map(|end| end.saturating_since(self.start).as_nanos())
    }

    /// True when it completed with [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        self.outcome == Some(Outcome::Ok)
    }

    /// True when it completed, but not `ok` (`fail` or `info`). Unfinished operations
    /// are not counted.
    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Fail(_) | Outcome::Info(_)))
    }

    /// The outcome's kind: `ok`, `fail` or `info`; an unfinished operation is `info`
    /// (indeterminate, as Jepsen treats an invocation without completion).
    pub fn outcome_word(&self) -> &'static str {
        self.outcome.map_or("info", Outcome::word)
    }

    /// The word of a `fail` or `info` outcome, [`UNFINISHED`] for an operation that
    /// never completed, empty for `ok`.
    pub fn reason(&self) -> &'static str {
        self.outcome.map_or(UNFINISHED, Outcome::reason)
    }

    /// The completion's position among the run's operation events, if it completed.
    pub fn completion_seq(&self) -> Option<u32> {
        self.end.map(|_| self.complete_seq)
    }
}

/// Receives a run's operation events as they are paired: every invocation, then
/// every paired completion, in the order they were observed (stray and repeated
/// completions never reach it). A sink only watches: it cannot change the run.
pub trait OpSink {
    /// `op` was just invoked. During a run it has no completion yet; in a [`replay`]
    /// it is already the finished record, so a sink takes only the invocation's fields
    /// from it here.
    fn invoked(&mut self, op: &OpRecord);
    /// `op` just completed: it carries its completion now.
    fn completed(&mut self, op: &OpRecord);
}

/// Hands the records of a finished table (`ops`, in invocation order) to `sink` as the
/// engine would have during the run: each invocation and completion in the order it
/// was observed ([`events`]).
pub fn replay(ops: &[OpRecord], sink: &mut dyn OpSink) {
    for (index, invocation) in events(ops) {
        if invocation {
            sink.invoked(&ops[index]);
        } else {
            sink.completed(&ops[index]);
        }
    }
}

/// The operations of a run so far, with the invocations still waiting for their
/// completion.
#[derive(Default)]
pub struct OpLog {
    ops: Vec<OpRecord>,
    /// Open operations by (client, op number): their index in `ops`.
    open: BTreeMap<(NodeId, u64), usize>,
    /// Operation events paired so far.
    events: u32,
    /// Sees each operation event as it is paired, if attached.
    sink: Option<Box<dyn OpSink>>,
}

impl std::fmt::Debug for OpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLog")
            .field("ops", &self.ops)
            .field("open", &self.open)
            .field("events", &self.events)
            .field("sink", &self.sink.as_ref().map(|_| "attached"))
            .finish()
    }
}

impl OpLog {
    /// Hands every operation event from now on to `sink` as it is paired.
    pub fn set_sink(&mut self, sink: Box<dyn OpSink>) {
        self.sink = Some(sink);
    }

    /// Takes in one observation, moving the values of an operation's invocation or
    /// completion into the table; any other observation is handed back untouched.
    pub fn take<E>(&mut self, record: ObservationRecord<E>) -> Option<ObservationRecord<E>> {
        match record.observation {
            Observation::OpInvoked { op, f, key, arg } => {
                self.invoke(record.node, record.time, op, f, key, arg);
                None
            }
            Observation::OpCompleted { op, outcome, ret } => {
                self.complete(record.node, record.time, op, outcome, ret);
                None
            }
            _ => Some(record),
        }
    }

    /// Takes in one observation by reference, copying the values of an operation's
    /// invocation or completion into the table; true when it was one.
    pub fn copy<E>(&mut self, record: &ObservationRecord<E>) -> bool {
        match &record.observation {
            Observation::OpInvoked { op, f, key, arg } => {
                self.invoke(record.node, record.time, *op, f, key.clone(), arg.clone());
                true
            }
            Observation::OpCompleted { op, outcome, ret } => {
                self.complete(record.node, record.time, *op, *outcome, ret.clone());
                true
            }
            _ => false,
        }
    }

    fn invoke(
        &mut self,
        client: NodeId,
        time: SimTime,
        op: u64,
        f: &'static str,
        key: Option<Value>,
        arg: Value,
    ) {
        let invoke_seq = self.next_seq();
        self.open.insert((client, op), self.ops.len());
        self.ops.push(OpRecord {
            op_id: self.ops.len() as u64,
            client,
            client_op: op,
            kind: f,
            key,
            arg,
            ret: Value::Nil,
            start: time,
            end: None,
            outcome: None,
            invoke_seq,
            complete_seq: NOT_COMPLETED,
        });
        if let (Some(sink), Some(record)) = (&mut self.sink, self.ops.last()) {
            sink.invoked(record);
        }
    }

    fn complete(&mut self, client: NodeId, time: SimTime, op: u64, outcome: Outcome, ret: Value) {
        let Some(index) = self.open.remove(&(client, op)) else {
            return;
        };
        let seq = self.next_seq();
        let record = &mut self.ops[index];
        record.end = Some(time);
        record.outcome = Some(outcome);
        record.ret = ret;
        record.complete_seq = seq;
        if let Some(sink) = &mut self.sink {
            sink.completed(record);
        }
    }

    fn next_seq(&mut self) -> u32 {
        let seq = self.events;
        assert!(
            seq < NOT_COMPLETED,
            "fewer than 2^32 - 1 operation events in a run"
        );
        self.events += 1;
        seq
    }

    /// The operations so far, in invocation order.
    pub fn ops(&self) -> &[OpRecord] {
        &self.ops
    }

    /// The table, done: every operation, in invocation order.
    pub fn into_ops(self) -> Vec<OpRecord> {
        self.ops
    }
}

/// Pairs the operations among `records` (in observation order) by the rules of
/// [`OpLog`]: what the engine does as a run happens, for observations gathered some
/// other way (a test's hand-made run).
pub fn pair<'a, E: 'a>(
    records: impl IntoIterator<Item = &'a ObservationRecord<E>>,
) -> Vec<OpRecord> {
    let mut log = OpLog::default();
    for record in records {
        log.copy(record);
    }
    log.into_ops()
}

/// The operation events of `ops` (one table's records) in the order they were observed:
/// `(index in ops, true)` for an invocation, `(index, false)` for a completion.
pub fn events(ops: &[OpRecord]) -> impl Iterator<Item = (usize, bool)> + '_ {
    let mut completions: Vec<(u32, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(index, op)| op.completion_seq().map(|seq| (seq, index)))
        .collect();
    completions.sort_unstable();
    let mut completions = completions.into_iter().peekable();
    let mut invocations = ops.iter().enumerate().peekable();
    std::iter::from_fn(move || {
        let next_invocation = invocations.peek().map(|(_, op)| op.invoke_seq);
        let next_completion = completions.peek().map(|&(seq, _)| seq);
        match (next_invocation, next_completion) {
            (Some(invoke), Some(complete)) if complete < invoke => {
                completions.next().map(|(_, index)| (index, false))
            }
            (Some(_), _) => invocations.next().map(|(index, _)| (index, true)),
            (None, Some(_)) => completions.next().map(|(_, index)| (index, false)),
            (None, None) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::NoEvent;

    fn at(time: u64, node: u32, observation: Observation<NoEvent>) -> ObservationRecord<NoEvent> {
        ObservationRecord {
            time: SimTime(time),
            node: NodeId(node),
            observation,
        }
    }

    fn invoked(op: u64, arg: i64) -> Observation<NoEvent> {
        Observation::OpInvoked {
            op,
            f: "put",
            key: Some(Value::from("k")),
            arg: Value::Int(arg),
        }
    }

    fn completed(op: u64, outcome: Outcome, ret: i64) -> Observation<NoEvent> {
        Observation::OpCompleted {
            op,
            outcome,
            ret: Value::Int(ret),
        }
    }

    #[test]
    fn ops_pair_by_client_and_op_number_and_keep_their_event_order() {
        let records = vec![
            at(10, 2, invoked(0, 5)),
            at(12, 3, invoked(0, 6)),
            at(15, 3, completed(0, Outcome::Info("timeout"), 0)),
            at(30, 2, completed(0, Outcome::Ok, 7)),
            // A repeated completion and a stray one: neither is an event.
            at(31, 2, completed(0, Outcome::Ok, 8)),
            at(
                32,
                2,
                Observation::Metric {
                    name: "m",
                    value: 1,
                },
            ),
            at(40, 2, invoked(1, 9)),
            at(41, 2, completed(9, Outcome::Ok, 0)),
        ];
        let ops = pair(&records);
        // Pairing by op number alone would give client 3's timeout to client 2's put.
        assert_eq!(ops.len(), 3);
        assert_eq!(
            (ops[0].end, ops[0].ret.clone(), ops[0].reason()),
            (Some(SimTime(30)), Value::Int(7), "")
        );
        assert_eq!(
            (ops[1].outcome_word(), ops[1].reason()),
            ("info", "timeout")
        );
        // Never completed: indeterminate, and the stray completion of op 9 left it open.
        assert_eq!((ops[2].end, ops[2].reason()), (None, UNFINISHED));
        // Sequence numbers count paired events only, so the interleaving is the
        // observed one: invoke 0, invoke 1, complete 1, complete 0, invoke 2.
        let order: Vec<(usize, bool)> = events(&ops).collect();
        assert_eq!(
            order,
            vec![(0, true), (1, true), (1, false), (0, false), (2, true)]
        );
        assert_eq!(ops[2].invoke_seq, 4);
    }

    #[test]
    fn taking_an_observation_moves_only_operations() {
        let mut log = OpLog::default();
        let metric = at(
            1,
            0,
            Observation::Metric {
                name: "m",
                value: 3,
            },
        );
        // A metric is not an operation: it comes back for the engine to keep.
        assert_eq!(log.take(metric.clone()), Some(metric));
        assert_eq!(log.take(at(2, 4, invoked(0, 1))), None);
        assert_eq!(log.ops().len(), 1);
    }
}
