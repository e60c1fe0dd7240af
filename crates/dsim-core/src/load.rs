//! The load model: service time and arrival queues at nodes, and storage latency.
//!
//! Off by default: a simulation without a [`LoadConfig`] handles every event in zero
//! time with unbounded capacity, exactly as before the model existed (same draws, same
//! events, same fingerprint).
//!
//! With it, each node has `cores` servers. A delivery or timer whose kind the protocol
//! gives a cost ([`Node::message_cost`](crate::Node::message_cost),
//! [`Node::timer_cost`](crate::Node::timer_cost)) occupies one core for
//! `cost * sample(cpu)`, the node's per-unit time; its handler runs when that service
//! ends, so everything it does (sends, timers, observations) takes effect then.
//! Arrivals that find every core busy wait in the node's FIFO arrival queue; a message
//! arriving to a full queue (`queue_capacity`) is dropped and counted as an overload
//! drop. Zero-cost kinds (the default) need no core and are handled on arrival.
//!
//! Storage: with a `sync` latency, the effects a handler records after a `ctx.sync()`
//! wait for it (an acceptor's reply leaves after its fsync); after a second sync they
//! wait for both. The core is not held meanwhile (the disk works, not the CPU).
//!
//! Service and sync times are drawn from a stream of their own
//! ([`Stream::Load`](crate::rng::Stream::Load)), so turning the model on leaves the
//! network's and the nodes' draws as they were.

use crate::dist::Delay;
use crate::error::ConfigError;
use crate::id::NodeId;
use std::collections::BTreeMap;
use std::collections::VecDeque;

/// The processing capacity of one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeCpu {
    /// Servers: handlers that can be in service at once (at least 1).
    pub cores: u32,
    /// Time per unit of declared cost; a handler of cost `c` takes `c` times one draw.
    pub cpu: Delay,
    /// Most arrivals waiting for a core (not counting those in service); `None` for
    /// unbounded. Messages beyond it are dropped; timers always wait.
    pub queue_capacity: Option<u32>,
}

impl Default for NodeCpu {
    /// One core, 1 microsecond per unit of cost, an unbounded queue.
    fn default() -> Self {
        NodeCpu {
            cores: 1,
            cpu: Delay::Constant { ns: 1_000 },
            queue_capacity: None,
        }
    }
}

impl NodeCpu {
    /// Checks the numbers: at least one core, a valid distribution, a non-zero capacity.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cores == 0 {
            return Err(ConfigError::Invalid("cores must be at least 1".into()));
        }
        if self.queue_capacity == Some(0) {
            return Err(ConfigError::Invalid(
                "queue_capacity must be at least 1 (leave it out for an unbounded queue)".into(),
            ));
        }
        self.cpu.validate()
    }
}

/// The load model of a run: node capacity and storage latency.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadConfig {
    /// The capacity of every node not listed in `overrides`.
    pub cpu: NodeCpu,
    /// Per-node capacity, by node id.
    pub overrides: BTreeMap<NodeId, NodeCpu>,
    /// Latency of `ctx.sync()`; `None` for free syncs.
    pub sync: Option<Delay>,
}

impl LoadConfig {
    /// Checks every node's capacity and the sync latency, and that overrides name nodes
    /// of a simulation of `node_count` nodes.
    pub fn validate(&self, node_count: usize) -> Result<(), ConfigError> {
        self.cpu.validate()?;
        for (node, cpu) in &self.overrides {
            if node.index() >= node_count {
                return Err(ConfigError::UnknownNode {
                    node: *node,
                    node_count,
                });
            }
            cpu.validate()?;
        }
        if let Some(sync) = &self.sync {
            sync.validate()?;
        }
        Ok(())
    }

    /// The capacity of `node`.
    pub fn node(&self, node: NodeId) -> &NodeCpu {
        self.overrides.get(&node).unwrap_or(&self.cpu)
    }
}

/// One node's servers as the run goes.
#[derive(Clone, Debug, Default)]
pub(crate) struct CpuState {
    /// Cores in service now.
    pub busy: u32,
    /// Slab slots of the deliveries and timers waiting for a core, in arrival order.
    pub waiting: VecDeque<u32>,
    /// Multiplies service times (a `slow` fault); 1 when healthy.
    pub cpu_factor: f64,
    /// Multiplies sync latencies (a `slow_disk` fault); 1 when healthy.
    pub disk_factor: f64,
    /// Counts `slow` faults, so that only the latest one's end restores the CPU.
    pub slow_generation: u32,
    /// Counts `slow_disk` faults, likewise for the disk.
    pub slow_disk_generation: u32,
}

impl CpuState {
    /// A healthy, idle node.
    pub fn idle() -> Self {
        CpuState {
            busy: 0,
            waiting: VecDeque::new(),
            cpu_factor: 1.0,
            disk_factor: 1.0,
            slow_generation: 0,
            slow_disk_generation: 0,
        }
    }
}

/// `base_ns * cost * factor`, in whole nanoseconds (saturating; `factor` is finite and
/// positive).
pub(crate) fn scaled(base_ns: u64, cost: u32, factor: f64) -> u64 {
    let units = base_ns.saturating_mul(u64::from(cost));
    if factor == 1.0 {
        units
    } else {
        // f64 multiplication and rounding are exact IEEE operations: the same on
        // every machine.
        let scaled = (units as f64 * factor).round();
        if scaled >= u64::MAX as f64 {
            u64::MAX
        } else {
            scaled as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_multiplies_by_cost_and_factor() {
        // A 2-unit handler at 1.5 us per unit on a node slowed 10x takes 30 us; if cost
        // or factor were ignored this would be 1.5, 3 or 15 us.
        assert_eq!(scaled(1_500, 2, 10.0), 30_000);
        assert_eq!(scaled(1_500, 0, 10.0), 0);
        assert_eq!(scaled(u64::MAX, 2, 1.0), u64::MAX);
    }

    #[test]
    fn zero_cores_and_zero_capacity_are_refused() {
        // A node with no core could never handle anything, and a queue of capacity 0
        // would drop every message: both are configuration mistakes, not models.
        let no_cores = NodeCpu {
            cores: 0,
            ..NodeCpu::default()
        };
        assert!(no_cores.validate().is_err());
        let no_room = NodeCpu {
            queue_capacity: Some(0),
            ..NodeCpu::default()
        };
        assert!(no_room.validate().is_err());
        assert!(NodeCpu::default().validate().is_ok());
    }
}
