//! Observations: what nodes report about themselves for metrics and checkers.
//!
//! Checkers judge from observations, never from a node's internal state. Generic
//! observations (operations, decisions, metrics) feed the reports; protocol-specific
//! ones (`Observation::Protocol`) carry what a protocol's checker needs, such as an
//! acceptor's acceptance of a ballot or a resource's accepted write.

use crate::id::NodeId;
use crate::time::SimTime;
use crate::value::Value;

/// How a client operation ended, in Jepsen's three kinds.
///
/// `Fail` and `Info` carry a reason word for people (`aborted`, `timeout`, ...); the
/// kind is what checkers use. A client that gives up waiting reports `Info` unless the
/// protocol guarantees that the operation can no longer take effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The operation took effect (`:ok`).
    Ok,
    /// The operation certainly did not take effect (`:fail`); the word says why.
    Fail(&'static str),
    /// Indeterminate (`:info`): the operation may take effect at any time after its
    /// invocation, or never; the word says why the client stopped waiting.
    Info(&'static str),
}

impl Outcome {
    /// The kind written to `ops.csv` and `history.edn`: `ok`, `fail` or `info`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail(_) => "fail",
            Outcome::Info(_) => "info",
        }
    }

    /// The reason word of a `fail` or `info` outcome; empty for `ok`.
    pub fn reason(self) -> &'static str {
        match self {
            Outcome::Ok => "",
            Outcome::Fail(reason) | Outcome::Info(reason) => reason,
        }
    }
}

/// One thing a node observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation<E> {
    /// A client started operation `op` (unique per client): Jepsen's `:invoke`.
    OpInvoked {
        /// The client's own operation number.
        op: u64,
        /// Jepsen's function name: `read`, `write`, `cas`, `get`, `put`, `txn`,
        /// `acquire`, `task`, ...
        f: &'static str,
        /// The key (object) the operation addresses, if the object is keyed.
        key: Option<Value>,
        /// The argument: the value written, `[from to]` for a cas, a transaction's
        /// micro-operations; `nil` for a read.
        arg: Value,
    },
    /// A client's operation `op` ended: Jepsen's `:ok`, `:fail` or `:info`.
    OpCompleted {
        /// The client's own operation number, as in `OpInvoked`.
        op: u64,
        /// How it ended.
        outcome: Outcome,
        /// What the client was told: the value read, the transaction's results;
        /// `nil` when nothing came back.
        ret: Value,
    },
    /// The node learned that `value` was decided for `slot` (consensus-style protocols).
    Decided {
        /// The log position.
        slot: u64,
        /// A digest of the decided value.
        value: u64,
    },
    /// A named numeric measurement.
    Metric {
        /// Snake-case name, used as a column or label.
        name: &'static str,
        /// The value, in the unit the name states.
        value: u64,
    },
    /// A protocol-specific observation for the protocol's checker.
    Protocol(E),
}

/// An observation stamped with where and when (virtual time) it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationRecord<E> {
    /// Virtual time of the observation.
    pub time: SimTime,
    /// The node that made it.
    pub node: NodeId,
    /// What was observed.
    pub observation: Observation<E>,
}

/// What the engine does with an observation after its sink has seen it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retain {
    /// Keep it in the run's output ([`crate::RunOutput::observations`]): someone still
    /// needs it when the run ends.
    Keep,
    /// Let it go: the sink has consumed it (judged it, written it out), so a long run
    /// does not hold it in memory.
    Release,
}

impl Retain {
    /// What a checker's sink answers for an observation it has judged: client
    /// operations are released (the engine pairs them into [`crate::RunOutput::ops`]
    /// as they happen), and so are protocol-specific ones (only the checker reads them);
    /// decisions and metrics are kept for the report (MapReduce's transfer metrics make
    /// `rates.csv`).
    pub fn after_judging<E>(observation: &Observation<E>) -> Retain {
        match observation {
            Observation::Protocol(_)
            | Observation::OpInvoked { .. }
            | Observation::OpCompleted { .. } => Retain::Release,
            Observation::Decided { .. } | Observation::Metric { .. } => Retain::Keep,
        }
    }
}

/// Takes observations as they happen, in the run's order (time, then the order the
/// engine applied effects), so that a long run need not hold them all: a checker that
/// judges incrementally, a writer that streams them to a file. Attach one with
/// [`crate::Simulation::set_observation_sink`]; it never changes the run itself.
pub trait ObservationSink<E> {
    /// Sees one observation; says whether the engine still keeps it.
    fn observe(&mut self, record: &ObservationRecord<E>) -> Retain;
}

impl<E, F: FnMut(&ObservationRecord<E>) -> Retain> ObservationSink<E> for F {
    fn observe(&mut self, record: &ObservationRecord<E>) -> Retain {
        self(record)
    }
}

/// A protocol with no protocol-specific observations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEvent {}

impl<E> ObservationRecord<E> {
    /// [`ObservationRecord::generic`] by value: moves the values instead of cloning them
    /// (what [`crate::protocol::generic_output`] uses, so the run's observations are not
    /// held twice while the output is converted).
    pub fn into_generic(self) -> Option<ObservationRecord<NoEvent>> {
        let observation = match self.observation {
            Observation::OpInvoked { op, f, key, arg } => {
                Observation::OpInvoked { op, f, key, arg }
            }
            Observation::OpCompleted { op, outcome, ret } => {
                Observation::OpCompleted { op, outcome, ret }
            }
            Observation::Decided { slot, value } => Observation::Decided { slot, value },
            Observation::Metric { name, value } => Observation::Metric { name, value },
            Observation::Protocol(_) => return None,
        };
        Some(ObservationRecord {
            time: self.time,
            node: self.node,
            observation,
        })
    }

    /// The record without its protocol-specific payload, for protocol-agnostic reports;
    /// `None` for `Observation::Protocol`.
    pub fn generic(&self) -> Option<ObservationRecord<NoEvent>> {
        let observation = match &self.observation {
            Observation::OpInvoked { op, f, key, arg } => Observation::OpInvoked {
                op: *op,
                f,
                key: key.clone(),
                arg: arg.clone(),
            },
            Observation::OpCompleted { op, outcome, ret } => Observation::OpCompleted {
                op: *op,
                outcome: *outcome,
                ret: ret.clone(),
            },
            Observation::Decided { slot, value } => Observation::Decided {
                slot: *slot,
                value: *value,
            },
            Observation::Metric { name, value } => Observation::Metric {
                name,
                value: *value,
            },
            Observation::Protocol(_) => return None,
        };
        Some(ObservationRecord {
            time: self.time,
            node: self.node,
            observation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_judged_observation_stays_only_when_the_report_reads_it() {
        // Operations and protocol events held to the end would grow a long run's memory
        // for nothing (the engine pairs operations itself); a released metric would
        // leave MapReduce's rates.csv empty.
        let released: [Observation<u8>; 3] = [
            Observation::OpInvoked {
                op: 1,
                f: "read",
                key: None,
                arg: Value::Nil,
            },
            Observation::OpCompleted {
                op: 1,
                outcome: Outcome::Ok,
                ret: Value::Int(3),
            },
            Observation::Protocol(7),
        ];
        for observation in &released {
            assert_eq!(Retain::after_judging(observation), Retain::Release);
        }
        let kept: [Observation<u8>; 2] = [
            Observation::Decided { slot: 4, value: 9 },
            Observation::Metric {
                name: "input_bytes",
                value: 64,
            },
        ];
        for observation in &kept {
            assert_eq!(Retain::after_judging(observation), Retain::Keep);
        }
    }
}
