//! `history.edn`: the run's client history in Jepsen's format, so that Knossos, Elle or
//! Porcupine can check a dsim run unchanged.
//!
//! One operation map per line, invocations and completions in the order they were
//! observed (time order), numbered by `:index`:
//!
//! ```text
//! {:index 0, :time 1500000, :process 5, :type :invoke, :f :cas, :key 3, :value [1 4]}
//! {:index 1, :time 2100000, :process 5, :type :fail, :f :cas, :key 3, :value [1 4], :error :cas-failed}
//! ```
//!
//! `:time` is virtual nanoseconds and `:node` the client node. `:process` follows
//! Jepsen's rule that a process runs one operation at a time and never invokes again
//! after an `:info` (its operation stays open forever): a client node's first lane is
//! its node id; a node with several operations in flight (a Paxos client's window, the
//! MapReduce master's tasks) or one whose lane was retired by an `:info` gets further
//! process numbers, allocated above every node id in order of first use. An `:ok` completion
//! carries the return value; a `:fail` or `:info` completion carries the invocation's
//! argument, as Jepsen writes them, and its reason as `:error`. `:key` is left out for
//! unkeyed operations. An operation the run ended in the middle of has no completion
//! line (Jepsen's tools treat it as indeterminate). The lines come from the operations
//! the engine paired ([`dsim_core::ops`]): a stray or repeated completion is left out.

use dsim_core::{NoEvent, NodeId, OpRecord, OpSink, Outcome, RunOutput};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

/// Jepsen processes of the client nodes: lanes of one node, each busy with at most one
/// operation, retired after an `:info`.
struct Processes {
    /// Next process number for a lane beyond a node's first.
    next: u64,
    /// Per node: its lanes as (process, state).
    lanes: BTreeMap<NodeId, Vec<(u64, Lane)>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Free,
    Busy,
    Retired,
}

impl Processes {
    /// The process for a new operation of `node`: its first free lane, or a new one.
    fn take(&mut self, node: NodeId) -> u64 {
        let lanes = self.lanes.entry(node).or_default();
        if let Some(lane) = lanes.iter_mut().find(|(_, state)| *state == Lane::Free) {
            lane.1 = Lane::Busy;
            return lane.0;
        }
        let process = if lanes.is_empty() {
            u64::from(node.0)
        } else {
            self.next += 1;
            self.next - 1
        };
        lanes.push((process, Lane::Busy));
        process
    }

    /// Ends `process`'s operation; an `:info` retires it for good.
    fn finish(&mut self, node: NodeId, process: u64, outcome: Outcome) {
        let state = if matches!(outcome, Outcome::Info(_)) {
            Lane::Retired
        } else {
            Lane::Free
        };
        if let Some(lane) = self
            .lanes
            .get_mut(&node)
            .and_then(|lanes| lanes.iter_mut().find(|(p, _)| *p == process))
        {
            lane.1 = state;
        }
    }
}

/// The text of `history.edn` for a run: one line per invocation and completion.
pub fn history_edn(output: &RunOutput<NoEvent>) -> String {
    let mut bytes = Vec::new();
    write_history_edn(output, &mut bytes).expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("EDN text is UTF-8")
}

/// Writes `history.edn` ([`history_edn`]'s text) to `out` line by line, holding one
/// line at a time: the run's paired operations ([`RunOutput::ops`]) replayed through a
/// [`HistoryWriter`] in the order their invocations and completions were observed, as
/// `dsim run` streams them during the run.
pub fn write_history_edn(output: &RunOutput<NoEvent>, out: &mut dyn io::Write) -> io::Result<()> {
    let mut writer = HistoryWriter::new(out, output.node_count);
    dsim_core::ops::replay(&output.ops, &mut writer);
    writer.finish().map(|_| ())
}

/// Writes `history.edn` incrementally: fed each invocation and completion in the order
/// they were observed ([`OpSink`]), it writes that event's line at once, holding only
/// the processes of the operations still open. The first write error stops it; it is
/// returned by [`HistoryWriter::finish`].
pub struct HistoryWriter<W: io::Write> {
    out: W,
    processes: Processes,
    /// The process of each open operation, by `op_id`.
    open: BTreeMap<u64, u64>,
    /// `:index` of the next line.
    index: u64,
    /// The line being written (kept to reuse its allocation).
    text: String,
    error: Option<io::Error>,
}

impl<W: io::Write> HistoryWriter<W> {
    /// A writer of the history of a run of `node_count` nodes (client processes beyond
    /// a node's first lane are numbered from `node_count` up) to `out`.
    pub fn new(out: W, node_count: usize) -> HistoryWriter<W> {
        HistoryWriter {
            out,
            processes: Processes {
                next: node_count as u64,
                lanes: BTreeMap::new(),
            },
            open: BTreeMap::new(),
            index: 0,
            text: String::new(),
            error: None,
        }
    }

    /// Flushes the lines written and hands back `out`, or the first write error.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes the line of one event of `op` by `process`.
    fn line(&mut self, op: &OpRecord, process: u64, invocation: bool) {
        if self.error.is_some() {
            return;
        }
        let (time, kind, value, error) = match (invocation, op.outcome, op.end) {
            (false, Some(outcome), Some(end)) => {
                let value = if outcome == Outcome::Ok {
                    &op.ret
                } else {
                    &op.arg
                };
                (end, outcome.word(), value, outcome.reason())
            }
            _ => (op.start, "invoke", &op.arg, ""),
        };
        let text = &mut self.text;
        text.clear();
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "{{:index {}, :time {}, :process {process}, :type :{kind}, :f :{}",
            self.index,
            time.as_nanos(),
            op.kind,
        );
        if let Some(key) = &op.key {
            let _ = write!(text, ", :key {key}");
        }
        let _ = write!(text, ", :value {value}");
        if !error.is_empty() {
            let _ = write!(text, ", :error :{error}");
        }
        let _ = write!(text, ", :node {}", op.client.0);
        text.push_str("}\n");
        self.index += 1;
        if let Err(error) = self.out.write_all(self.text.as_bytes()) {
            self.error = Some(error);
        }
    }
}

impl<W: io::Write> OpSink for HistoryWriter<W> {
    fn invoked(&mut self, op: &OpRecord) {
        let process = self.processes.take(op.client);
        self.open.insert(op.op_id, process);
        self.line(op, process, true);
    }

    fn completed(&mut self, op: &OpRecord) {
        // The engine pairs a completion only with an open invocation, which this writer
        // was handed first; a completion of anything else is not part of the history.
        let (Some(process), Some(outcome)) = (self.open.remove(&op.op_id), op.outcome) else {
            return;
        };
        self.processes.finish(op.client, process, outcome);
        self.line(op, process, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{Counters, Observation, ObservationRecord, SimTime, Value};

    fn record(
        time: u64,
        node: u32,
        observation: Observation<NoEvent>,
    ) -> ObservationRecord<NoEvent> {
        ObservationRecord {
            time: SimTime(time),
            node: NodeId(node),
            observation,
        }
    }

    fn output(observations: Vec<ObservationRecord<NoEvent>>) -> RunOutput<NoEvent> {
        RunOutput {
            seed: 1,
            node_count: 6,
            end_time: SimTime(10_000_000),
            counters: Counters::default(),
            fingerprint: 0,
            ops: dsim_core::ops::pair(&observations),
            observations,
            fault_log: Vec::new(),
            messages: dsim_core::MessageLog::new(),
        }
    }

    #[test]
    fn history_lines_are_jepsen_op_maps_in_observation_order() {
        let cas = Value::ints(&[1, 4]);
        let text = history_edn(&output(vec![
            record(
                1_500_000,
                5,
                Observation::OpInvoked {
                    op: 0,
                    f: "cas",
                    key: Some(Value::Int(3)),
                    arg: cas.clone(),
                },
            ),
            record(
                1_600_000,
                4,
                Observation::OpInvoked {
                    op: 7,
                    f: "get",
                    key: Some(Value::Int(3)),
                    arg: Value::Nil,
                },
            ),
            record(
                2_000_000,
                4,
                Observation::OpCompleted {
                    op: 7,
                    outcome: Outcome::Ok,
                    ret: Value::Int(1),
                },
            ),
            record(
                2_100_000,
                5,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Fail("cas-failed"),
                    ret: Value::Nil,
                },
            ),
            // A stray completion (no open invocation) is not part of the history.
            record(
                2_200_000,
                5,
                Observation::OpCompleted {
                    op: 0,
                    outcome: Outcome::Ok,
                    ret: Value::Nil,
                },
            ),
            record(
                3_000_000,
                4,
                Observation::OpInvoked {
                    op: 8,
                    f: "txn",
                    key: None,
                    arg: Value::List(vec![Value::List(vec![
                        Value::keyword("w"),
                        Value::Int(2),
                        Value::Int(9),
                    ])]),
                },
            ),
            record(
                3_500_000,
                4,
                Observation::OpCompleted {
                    op: 8,
                    outcome: Outcome::Info("timeout"),
                    ret: Value::Nil,
                },
            ),
        ]));
        // Knossos and Porcupine read exactly these fields: an ok read must carry what
        // it returned, a failed or indeterminate op what it was invoked with.
        let expected = "\
{:index 0, :time 1500000, :process 5, :type :invoke, :f :cas, :key 3, :value [1 4], :node 5}
{:index 1, :time 1600000, :process 4, :type :invoke, :f :get, :key 3, :value nil, :node 4}
{:index 2, :time 2000000, :process 4, :type :ok, :f :get, :key 3, :value 1, :node 4}
{:index 3, :time 2100000, :process 5, :type :fail, :f :cas, :key 3, :value [1 4], :error :cas-failed, :node 5}
{:index 4, :time 3000000, :process 4, :type :invoke, :f :txn, :value [[:w 2 9]], :node 4}
{:index 5, :time 3500000, :process 4, :type :info, :f :txn, :value [[:w 2 9]], :error :timeout, :node 4}
";
        assert_eq!(text, expected);
    }

    #[test]
    fn concurrent_and_crashed_operations_get_processes_of_their_own() {
        let invoke = |op| Observation::OpInvoked {
            op,
            f: "get",
            key: Some(Value::Int(0)),
            arg: Value::Nil,
        };
        let done = |op, outcome| Observation::OpCompleted {
            op,
            outcome,
            ret: Value::Nil,
        };
        let text = history_edn(&output(vec![
            record(1, 5, invoke(0)),
            record(2, 5, invoke(1)),
            record(3, 5, done(0, Outcome::Info("timeout"))),
            record(4, 5, done(1, Outcome::Ok)),
            record(5, 5, invoke(2)),
            record(6, 5, invoke(3)),
        ]));
        let processes: Vec<&str> = text
            .lines()
            .map(|line| line.split(", ").nth(2).expect("a :process field"))
            .collect();
        // Jepsen's tools refuse a process with two operations open, and one that
        // invokes again after an :info (whose op stays open forever): op 1 overlaps op 0
        // so it runs as process 6 (above the 6 node ids), op 2 reuses 6 once op 1 is
        // done, and op 3 may not reuse 5 (retired by op 0's :info), so it gets 7.
        assert_eq!(
            processes,
            [
                ":process 5",
                ":process 6",
                ":process 5",
                ":process 6",
                ":process 6",
                ":process 7"
            ]
        );
    }
}
