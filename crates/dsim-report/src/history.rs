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
//! `:process` is the client's node id, `:time` virtual nanoseconds. An `:ok` completion
//! carries the return value; a `:fail` or `:info` completion carries the invocation's
//! argument, as Jepsen writes them, and its reason as `:error`. `:key` is left out for
//! unkeyed operations. An operation the run ended in the middle of has no completion
//! line (Jepsen's tools treat it as indeterminate). The pairing rules are those of
//! [`crate::ops_table`]: a stray or repeated completion is left out.

use dsim_core::{NoEvent, NodeId, Observation, Outcome, RunOutput, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The text of `history.edn` for a run: one line per invocation and completion.
pub fn history_edn(output: &RunOutput<NoEvent>) -> String {
    let mut text = String::new();
    let mut open: BTreeMap<(NodeId, u64), (&'static str, Option<&Value>, &Value)> = BTreeMap::new();
    let mut index: u64 = 0;
    for record in &output.observations {
        let (kind, f, key, value, error) = match &record.observation {
            Observation::OpInvoked { op, f, key, arg } => {
                open.insert((record.node, *op), (f, key.as_ref(), arg));
                ("invoke", *f, key.as_ref(), arg, "")
            }
            Observation::OpCompleted { op, outcome, ret } => {
                let Some((f, key, arg)) = open.remove(&(record.node, *op)) else {
                    continue;
                };
                let value = if *outcome == Outcome::Ok { ret } else { arg };
                (outcome.word(), f, key, value, outcome.reason())
            }
            _ => continue,
        };
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "{{:index {index}, :time {}, :process {}, :type :{kind}, :f :{f}",
            record.time.as_nanos(),
            record.node.0
        );
        if let Some(key) = key {
            let _ = write!(text, ", :key {key}");
        }
        let _ = write!(text, ", :value {value}");
        if !error.is_empty() {
            let _ = write!(text, ", :error :{error}");
        }
        text.push_str("}\n");
        index += 1;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{Counters, ObservationRecord, SimTime};

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
            observations,
            fault_log: Vec::new(),
            messages: Vec::new(),
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
{:index 0, :time 1500000, :process 5, :type :invoke, :f :cas, :key 3, :value [1 4]}
{:index 1, :time 1600000, :process 4, :type :invoke, :f :get, :key 3, :value nil}
{:index 2, :time 2000000, :process 4, :type :ok, :f :get, :key 3, :value 1}
{:index 3, :time 2100000, :process 5, :type :fail, :f :cas, :key 3, :value [1 4], :error :cas-failed}
{:index 4, :time 3000000, :process 4, :type :invoke, :f :txn, :value [[:w 2 9]]}
{:index 5, :time 3500000, :process 4, :type :info, :f :txn, :value [[:w 2 9]], :error :timeout}
";
        assert_eq!(text, expected);
    }
}
