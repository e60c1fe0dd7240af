//! Typed errors for misuse a caller can cause: bad parameters at construction time, and
//! effects that name nodes that do not exist.

use crate::id::NodeId;
use thiserror::Error;

/// A configuration the engine refuses before a run starts.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A probability outside `[0, 1]`, or NaN.
    #[error("{field} must be a probability in [0, 1], found {value}")]
    Probability {
        /// Which parameter.
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A distribution parameter that is negative, NaN, infinite or otherwise out of range.
    #[error("{field} {problem}, found {value}")]
    Parameter {
        /// Which parameter.
        field: &'static str,
        /// What is wrong, e.g. "must be finite and positive".
        problem: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A node id at or beyond the node count.
    #[error("node {node} does not exist (the simulation has {node_count} nodes: 0..{node_count})")]
    UnknownNode {
        /// The rejected id.
        node: NodeId,
        /// How many nodes there are.
        node_count: usize,
    },
    /// A simulation needs at least one node.
    #[error("a simulation needs at least one node")]
    NoNodes,
    /// A topology or partition that does not make sense.
    #[error("{0}")]
    Invalid(String),
    /// A protocol key (or a combination of keys) out of range, naming the keys.
    #[error(transparent)]
    Param(#[from] crate::protocol::ParamProblem),
}

/// A run stopped because a node asked for something impossible.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    /// A node sent a message to a node id that does not exist.
    #[error(
        "node {source_node} sent a message to node {target}, which does not exist ({node_count} nodes)"
    )]
    UnknownTarget {
        /// The sender.
        source_node: NodeId,
        /// The bad target.
        target: NodeId,
        /// How many nodes there are.
        node_count: usize,
    },
}
