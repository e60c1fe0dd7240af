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
//! Links: with a [`LinkBandwidth`], a message of [`Node::message_size`](crate::Node::message_size)
//! bytes between two different nodes is transmitted for `size * 8 / bandwidth`, where
//! the bandwidth is the smallest of the sender's NIC, the link's and the receiver's NIC
//! (those that have one), each cut by any `degrade` fault's `bandwidth_factor` on it.
//! The sending side (the sender's NIC and the link) transmits one message at a time, in
//! the order they were sent (a FIFO reservation made at send time). The receiving NIC
//! also takes one transmission at a time, but as a switch port would: a message whose
//! receiver is busy waits in the switch, not on the sender's NIC, and takes the
//! receiver's first idle stretch long enough for it from when its sending started,
//! even one before a transmission reserved earlier (a message queued behind a busy
//! sender does not hold the receiver idle until then). Holding both NICs in one
//! reservation instead made every NIC wait for the busiest of its peers: in an
//! all-to-all shuffle a 100-byte request waited seconds and NICs ran at a tenth of
//! their bandwidth. The link's sampled propagation delay follows the transmission,
//! and a link with bandwidth delivers in order (no message overtakes an earlier one on
//! the same source-target pair). A node's messages to itself skip the network and take
//! no bandwidth; a message the network drops or cannot route takes none either, and a
//! duplicate the network makes arrives with the original's transmission time added to
//! its own delay, without a transmission of its own.
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
    /// Link and NIC bandwidths; none by default (transmission takes no time).
    pub bandwidth: LinkBandwidth,
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
        self.bandwidth.validate(node_count)
    }

    /// The capacity of `node`.
    pub fn node(&self, node: NodeId) -> &NodeCpu {
        self.overrides.get(&node).unwrap_or(&self.cpu)
    }
}

/// A transmission rate in bits per second (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bandwidth {
    /// Bits per second.
    pub bits_per_s: u64,
}

impl Bandwidth {
    /// `bits_per_s` bits per second.
    pub const fn bits_per_s(bits_per_s: u64) -> Self {
        Bandwidth { bits_per_s }
    }

    /// Nanoseconds to transmit `bytes` at this rate, rounded up (so that no message
    /// arrives before its size allows); saturating.
    pub fn transmit_ns(self, bytes: u64) -> u64 {
        let bits = u128::from(bytes) * 8 * 1_000_000_000;
        let rate = u128::from(self.bits_per_s.max(1));
        u64::try_from(bits.div_ceil(rate)).unwrap_or(u64::MAX)
    }
}

/// Bandwidths of links and network interfaces (see the module text). Every field is
/// optional; the default has none, and transmission takes no time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkBandwidth {
    /// Bandwidth of every source-target link not listed in `pairs`.
    pub link: Option<Bandwidth>,
    /// Per directed (source, target) pair, replacing `link`.
    pub pairs: BTreeMap<(NodeId, NodeId), Bandwidth>,
    /// Bandwidth of every node's NIC not listed in `nics` (each direction: a NIC sends
    /// and receives at this rate at the same time).
    pub nic: Option<Bandwidth>,
    /// Per node NIC, replacing `nic`.
    pub nics: BTreeMap<NodeId, Bandwidth>,
}

impl LinkBandwidth {
    /// True when some link or NIC has a bandwidth.
    pub fn is_on(&self) -> bool {
        self.link.is_some() || self.nic.is_some() || !self.pairs.is_empty() || !self.nics.is_empty()
    }

    /// Checks that every rate is at least 1 bit/s and that nodes exist.
    pub fn validate(&self, node_count: usize) -> Result<(), ConfigError> {
        let check_rate = |rate: &Bandwidth| {
            if rate.bits_per_s == 0 {
                Err(ConfigError::Invalid(
                    "bandwidth must be above 0 bit/s".into(),
                ))
            } else {
                Ok(())
            }
        };
        let check_node = |node: NodeId| {
            if node.index() < node_count {
                Ok(())
            } else {
                Err(ConfigError::UnknownNode { node, node_count })
            }
        };
        for rate in self.link.iter().chain(self.nic.iter()) {
            check_rate(rate)?;
        }
        for ((source, target), rate) in &self.pairs {
            check_node(*source)?;
            check_node(*target)?;
            check_rate(rate)?;
        }
        for (node, rate) in &self.nics {
            check_node(*node)?;
            check_rate(rate)?;
        }
        Ok(())
    }

    /// The NIC bandwidth of `node`, if it has one.
    pub fn nic_of(&self, node: NodeId) -> Option<Bandwidth> {
        if self.nics.is_empty() {
            self.nic
        } else {
            self.nics.get(&node).copied().or(self.nic)
        }
    }

    /// The bandwidth of the `source` to `target` link, if it has one.
    pub fn link_of(&self, source: NodeId, target: NodeId) -> Option<Bandwidth> {
        if self.pairs.is_empty() {
            self.link
        } else {
            self.pairs.get(&(source, target)).copied().or(self.link)
        }
    }
}

/// What a link with bandwidth remembers between messages.
#[derive(Clone, Copy, Debug, Default)]
struct PairState {
    /// When the link finishes its last reserved transmission (ns).
    free_ns: u64,
    /// The latest arrival scheduled on it (ns), so later messages never overtake.
    last_arrival_ns: u64,
}

/// A `degrade` fault's cut of bandwidth while it lasts.
#[derive(Clone, Debug)]
struct BandwidthCut {
    id: u64,
    /// Sorted node ids whose links and NICs it cuts; empty for all.
    nodes: Vec<u32>,
    factor: f64,
}

impl BandwidthCut {
    fn touches(&self, node: NodeId) -> bool {
        self.nodes.is_empty() || self.nodes.binary_search(&node.0).is_ok()
    }
}

/// The links' and NICs' reservations as the run goes. Per message it does a few array
/// reads, one ordered-map lookup and, with a receiving NIC, binary searches among that
/// NIC's reserved stretches (those not over yet); it allocates only when a pair first
/// sends or a NIC's stretches outgrow their buffer.
#[derive(Clone, Debug)]
pub(crate) struct BandwidthState {
    config: LinkBandwidth,
    /// Per node: when its NIC finishes sending what it has reserved.
    tx_free_ns: Vec<u64>,
    /// Per node: the stretches its NIC is reserved to receive, `[start, end)` in ns,
    /// ascending, disjoint and not touching (touching ones are merged).
    rx_busy_ns: Vec<VecDeque<(u64, u64)>>,
    pairs: BTreeMap<(u32, u32), PairState>,
    cuts: Vec<BandwidthCut>,
    next_cut: u64,
}

impl BandwidthState {
    /// Idle links and NICs for `node_count` nodes.
    pub fn new(config: LinkBandwidth, node_count: usize) -> Self {
        BandwidthState {
            config,
            tx_free_ns: vec![0; node_count],
            rx_busy_ns: vec![VecDeque::new(); node_count],
            pairs: BTreeMap::new(),
            cuts: Vec::new(),
            next_cut: 0,
        }
    }

    /// Cuts the bandwidth of links and NICs touching `nodes` (all when empty) by
    /// `factor` until [`BandwidthState::end_cut`]; returns the cut's id. Cuts that
    /// overlap multiply.
    pub fn cut(&mut self, nodes: &[NodeId], factor: f64) -> u64 {
        let mut ids: Vec<u32> = nodes.iter().map(|n| n.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let id = self.next_cut;
        self.next_cut += 1;
        self.cuts.push(BandwidthCut {
            id,
            nodes: ids,
            factor,
        });
        id
    }

    /// Ends a cut.
    pub fn end_cut(&mut self, id: u64) {
        self.cuts.retain(|cut| cut.id != id);
    }

    /// Reserves the transmission of a `bytes`-byte message sent at `now_ns` from
    /// `source` to `target` and returns how long after `now_ns` it ends, or `None` when
    /// neither the link nor a NIC on the way has a bandwidth.
    pub fn transmit(
        &mut self,
        now_ns: u64,
        source: NodeId,
        target: NodeId,
        bytes: u64,
    ) -> Option<u64> {
        let rates = [
            self.config.nic_of(source),
            self.config.link_of(source, target),
            self.config.nic_of(target),
        ];
        let slowest = rates.iter().flatten().min().copied()?;
        let mut duration_ns = slowest.transmit_ns(bytes);
        let factor: f64 = self
            .cuts
            .iter()
            .filter(|cut| cut.touches(source) || cut.touches(target))
            .map(|cut| cut.factor)
            .product();
        if factor != 1.0 {
            // Exact IEEE division and rounding: the same on every machine.
            let cut = (duration_ns as f64 / factor).ceil();
            duration_ns = if cut >= u64::MAX as f64 {
                u64::MAX
            } else {
                cut as u64
            };
        }
        let pair = self.pairs.entry((source.0, target.0)).or_default();
        let mut start_ns = now_ns.max(pair.free_ns);
        if rates[0].is_some() {
            start_ns = start_ns.max(self.tx_free_ns[source.index()]);
        }
        let sent_ns = start_ns.saturating_add(duration_ns);
        pair.free_ns = sent_ns;
        if rates[0].is_some() {
            self.tx_free_ns[source.index()] = sent_ns;
        }
        let end_ns = if rates[2].is_some() {
            reserve_gap(
                &mut self.rx_busy_ns[target.index()],
                now_ns,
                start_ns,
                duration_ns,
            )
        } else {
            sent_ns
        };
        Some(end_ns - now_ns)
    }

    /// The arrival time of a message on the `source` to `target` link that would
    /// arrive at `at_ns` on its own: never before the link's latest arrival so far.
    pub fn in_order(&mut self, source: NodeId, target: NodeId, at_ns: u64) -> u64 {
        let pair = self.pairs.entry((source.0, target.0)).or_default();
        let at_ns = at_ns.max(pair.last_arrival_ns);
        pair.last_arrival_ns = at_ns;
        at_ns
    }
}

/// Reserves `duration_ns` of a receiving NIC whose reserved stretches are `busy`, in
/// its first idle stretch at or after `from_ns` long enough for it; forgets stretches
/// that ended by `now_ns` (no later reservation can start before now). Returns when
/// the reservation ends.
fn reserve_gap(
    busy: &mut VecDeque<(u64, u64)>,
    now_ns: u64,
    from_ns: u64,
    duration_ns: u64,
) -> u64 {
    let ended = busy.partition_point(|&(_, end)| end <= now_ns);
    busy.drain(..ended);
    let mut start_ns = from_ns;
    let mut index = busy.partition_point(|&(_, end)| end <= start_ns);
    while let Some(&(busy_start, busy_end)) = busy.get(index) {
        if busy_start >= start_ns.saturating_add(duration_ns) {
            break;
        }
        start_ns = start_ns.max(busy_end);
        index += 1;
    }
    let end_ns = start_ns.saturating_add(duration_ns);
    if duration_ns == 0 {
        return end_ns;
    }
    // Insert [start, end) before `index`, merging with the neighbours it touches.
    let joins_previous = index > 0 && busy[index - 1].1 == start_ns;
    let joins_next = busy
        .get(index)
        .is_some_and(|&(next_start, _)| next_start == end_ns);
    match (joins_previous, joins_next) {
        (true, true) => {
            let next_end = busy[index].1;
            busy[index - 1].1 = next_end;
            busy.remove(index);
        }
        (true, false) => busy[index - 1].1 = end_ns,
        (false, true) => busy[index].0 = start_ns,
        (false, false) => busy.insert(index, (start_ns, end_ns)),
    }
    end_ns
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
    fn a_receiving_nic_fills_its_first_idle_stretch_long_enough() {
        // Reserved 10-20 and 30-40: a 5-long transmission from 0 fits at 0-5; one of
        // 15 from 0 fits nowhere before 40 (the gap 20-30 is too short); one of 10 from
        // 12 fits exactly at 20-30 and merges the three stretches into one. A FIFO
        // receiver would have put each after 40; one that ignored reservations would
        // overlap them.
        let mut busy: VecDeque<(u64, u64)> = [(10, 20), (30, 40)].into_iter().collect();
        assert_eq!(reserve_gap(&mut busy, 0, 0, 5), 5);
        assert_eq!(reserve_gap(&mut busy, 0, 0, 15), 55);
        assert_eq!(reserve_gap(&mut busy, 0, 12, 10), 30);
        assert_eq!(busy, [(0, 5), (10, 55)]);
        // Stretches over by now are forgotten; the next starts no earlier than asked.
        assert_eq!(reserve_gap(&mut busy, 8, 8, 1), 9);
        assert_eq!(busy, [(8, 9), (10, 55)]);
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
