//! Faults the engine can inject, as plain data. Scenario files map onto these one to one.

use crate::dist::Delay;
use crate::id::NodeId;
use crate::time::SimDuration;

/// One fault, applied at a scheduled virtual time.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The node loses its volatile state, its timers and the messages addressed to it.
    Crash(NodeId),
    /// A crashed node is rebuilt from its durable state and started again.
    Restart(NodeId),
    /// The node handles nothing for `duration`; messages and timers queue meanwhile.
    Pause {
        /// The stalled node.
        node: NodeId,
        /// How long the stall lasts.
        duration: SimDuration,
    },
    /// Symmetric partition: nodes in different groups cannot talk. A node listed in two
    /// groups is a bridge; a node listed in none keeps talking to everyone.
    Partition(Vec<Vec<NodeId>>),
    /// Asymmetric cut: messages from any node in `from` to any node in `to` are lost.
    Cut {
        /// Senders whose messages are cut.
        from: Vec<NodeId>,
        /// Receivers they cannot reach.
        to: Vec<NodeId>,
    },
    /// The node can neither send to nor receive from anyone.
    Isolate(NodeId),
    /// Removes every partition, cut and isolation.
    Heal,
    /// Steps the node's clock to a new offset (nanoseconds, may be negative).
    ClockOffset {
        /// Whose clock.
        node: NodeId,
        /// New offset in nanoseconds.
        offset_ns: i64,
    },
    /// Sets the node's clock rate error in parts per million.
    ClockDrift {
        /// Whose clock.
        node: NodeId,
        /// New drift in parts per million.
        drift_ppm: i64,
    },
    /// For `duration`, links touching `nodes` (all links when empty) use a different
    /// delay and/or drop ratio, and/or transmit at `bandwidth_factor` times their
    /// bandwidth (links and NICs with one; see [`crate::load`]).
    Degrade {
        /// Nodes whose links degrade; empty means every link.
        nodes: Vec<NodeId>,
        /// Replacement delay distribution, if any.
        delay: Option<Delay>,
        /// Replacement drop ratio, if any.
        drop_ratio: Option<f64>,
        /// Multiplier of link and NIC bandwidth (finite, positive; 0.1 = a tenth), if
        /// any.
        bandwidth_factor: Option<f64>,
        /// How long the degradation lasts.
        duration: SimDuration,
    },
    /// For `duration`, the node's service times are multiplied by `factor`: a fail-slow
    /// CPU (load model; without one, handlers take no time and this changes nothing).
    Slow {
        /// The slowed node.
        node: NodeId,
        /// Multiplier of its service times; finite and positive.
        factor: f64,
        /// How long it lasts.
        duration: SimDuration,
    },
    /// For `duration`, the node's sync latencies are multiplied by `factor`: a fail-slow
    /// disk (load model with a sync latency).
    SlowDisk {
        /// The node whose disk slows.
        node: NodeId,
        /// Multiplier of its sync latencies; finite and positive.
        factor: f64,
        /// How long it lasts.
        duration: SimDuration,
    },
}

impl Fault {
    /// The snake-case name used in scenario files, fault logs and chart legends.
    pub fn word(&self) -> &'static str {
        match self {
            Fault::Crash(_) => "crash",
            Fault::Restart(_) => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Partition(_) => "partition",
            Fault::Cut { .. } => "cut",
            Fault::Isolate(_) => "isolate",
            Fault::Heal => "heal",
            Fault::ClockOffset { .. } => "clock_offset",
            Fault::ClockDrift { .. } => "clock_drift",
            Fault::Degrade { .. } => "degrade",
            Fault::Slow { .. } => "slow",
            Fault::SlowDisk { .. } => "slow_disk",
        }
    }

    /// A 64-bit digest of the fault for the run fingerprint: its `Debug` text, except
    /// that a `degrade` without a `bandwidth_factor` leaves the field out, so that runs
    /// from before bandwidth existed keep their fingerprints.
    pub fn digest(&self) -> u64 {
        match self {
            Fault::Degrade {
                nodes,
                delay,
                drop_ratio,
                bandwidth_factor: None,
                duration,
            } => crate::trace::digest_debug(&DegradeWithoutBandwidth {
                nodes,
                delay,
                drop_ratio,
                duration,
            }),
            fault => crate::trace::digest_debug(fault),
        }
    }

    /// Every node id the fault names, for validation.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Fault::Crash(node)
            | Fault::Restart(node)
            | Fault::Isolate(node)
            | Fault::Pause { node, .. }
            | Fault::ClockOffset { node, .. }
            | Fault::ClockDrift { node, .. }
            | Fault::Slow { node, .. }
            | Fault::SlowDisk { node, .. } => vec![*node],
            Fault::Partition(groups) => groups.iter().flatten().copied().collect(),
            Fault::Cut { from, to } => from.iter().chain(to).copied().collect(),
            Fault::Degrade { nodes, .. } => nodes.clone(),
            Fault::Heal => Vec::new(),
        }
    }
}

/// A `degrade` fault's `Debug` text as it was before `bandwidth_factor` existed.
struct DegradeWithoutBandwidth<'a> {
    nodes: &'a Vec<NodeId>,
    delay: &'a Option<Delay>,
    drop_ratio: &'a Option<f64>,
    duration: &'a SimDuration,
}

impl std::fmt::Debug for DegradeWithoutBandwidth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Degrade")
            .field("nodes", self.nodes)
            .field("delay", self.delay)
            .field("drop_ratio", self.drop_ratio)
            .field("duration", self.duration)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_degrade_without_bandwidth_digests_as_before_bandwidth_existed() {
        // The text `derive(Debug)` gave the fault before the field was added; a
        // different digest would change the fingerprint of every run with a degrade.
        let fault = Fault::Degrade {
            nodes: vec![NodeId(1)],
            delay: Some(Delay::Constant { ns: 5 }),
            drop_ratio: Some(0.5),
            bandwidth_factor: None,
            duration: SimDuration(7),
        };
        let before = "Degrade { nodes: [NodeId(1)], delay: Some(Constant { ns: 5 }), drop_ratio: Some(0.5), duration: SimDuration(7) }";
        struct Text(&'static str);
        impl std::fmt::Debug for Text {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        assert_eq!(fault.digest(), crate::trace::digest_debug(&Text(before)));
    }
}
