//! Observations: what nodes report about themselves for metrics and checkers.
//!
//! Checkers judge from observations, never from a node's internal state. Generic
//! observations (operations, decisions, metrics) feed the reports; protocol-specific
//! ones (`Observation::Protocol`) carry what a protocol's checker needs, such as an
//! acceptor's acceptance of a ballot or a resource's accepted write.

use crate::id::NodeId;
use crate::time::SimTime;

/// How a client operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The operation succeeded.
    Ok,
    /// The operation failed; the word says how (`timeout`, `aborted`, `rejected`, ...).
    Failed(&'static str),
}

impl Outcome {
    /// The word written to `ops.csv`: `ok` or the failure word.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(word) => word,
        }
    }
}

/// One thing a node observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation<E> {
    /// A client started operation `op` (unique per client) of the given kind.
    OpInvoked {
        /// The client's own operation number.
        op: u64,
        /// What kind of operation: `put`, `txn`, `acquire`, `task`, ...
        kind: &'static str,
    },
    /// A client's operation `op` ended.
    OpCompleted {
        /// The client's own operation number, as in `OpInvoked`.
        op: u64,
        /// How it ended.
        outcome: Outcome,
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

/// A protocol with no protocol-specific observations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEvent {}

impl<E> ObservationRecord<E> {
    /// The record without its protocol-specific payload, for protocol-agnostic reports;
    /// `None` for `Observation::Protocol`.
    pub fn generic(&self) -> Option<ObservationRecord<NoEvent>> {
        let observation = match &self.observation {
            Observation::OpInvoked { op, kind } => Observation::OpInvoked { op: *op, kind },
            Observation::OpCompleted { op, outcome } => Observation::OpCompleted {
                op: *op,
                outcome: *outcome,
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
