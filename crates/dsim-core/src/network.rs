//! The network model: topology, link models, partitions and cuts, degradation windows.
//!
//! The default topology is a full mesh with one link model (plus optional per-pair
//! overrides); it is never materialised, so 100,000 nodes cost nothing here. An explicit
//! topology is a `petgraph` graph of directed links; messages follow the shortest route
//! (by typical link delay) over links that no partition cuts, and each hop samples its
//! own delay and drop.
//!
//! Partitions act on node pairs. A message is checked when it is sent and again when it
//! arrives: if any partition state that began while it was in flight blocked its pair,
//! the message is lost.

use crate::dist::Delay;
use crate::error::ConfigError;
use crate::id::NodeId;
use crate::rng::{SimRng, chance};
use crate::time::{SimDuration, SimTime};
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;

/// Whether a link keeps messages in send order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkOrder {
    /// Each message has its own delay, so later messages may overtake earlier ones.
    #[default]
    Unordered,
    /// TCP-like: a message never arrives before one sent earlier on the same link.
    Fifo,
}

/// How one link behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkModel {
    /// Delay distribution per message.
    pub delay: Delay,
    /// Probability that a message is lost.
    pub drop_ratio: f64,
    /// Probability that a message is delivered twice (the copy has its own delay).
    pub duplicate_ratio: f64,
    /// Ordering guarantee.
    pub order: LinkOrder,
}

impl Default for LinkModel {
    /// A reliable 1 ms link.
    fn default() -> Self {
        LinkModel {
            delay: Delay::Constant { ns: 1_000_000 },
            drop_ratio: 0.0,
            duplicate_ratio: 0.0,
            order: LinkOrder::Unordered,
        }
    }
}

impl LinkModel {
    /// Checks the delay parameters and that both ratios are probabilities.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.delay.validate()?;
        check_probability("drop", self.drop_ratio)?;
        check_probability("duplicate", self.duplicate_ratio)
    }
}

/// Rejects NaN and values outside `[0, 1]`.
pub fn check_probability(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Probability { field, value })
    }
}

/// One explicit link of a graph topology.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// One end (the source when `both_ways` is false).
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// The link's model; `None` uses the network's default link.
    pub model: Option<LinkModel>,
    /// True for a pair of links a->b and b->a with the same model.
    pub both_ways: bool,
}

/// The shape of the network.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Topology {
    /// Every node reaches every other directly; `overrides` replace the default model
    /// for given (source, target) pairs.
    #[default]
    FullMesh,
    /// Full mesh with some pairs using their own model.
    FullMeshWithOverrides(Vec<(NodeId, NodeId, LinkModel)>),
    /// Only these links exist; messages are routed over them.
    Graph(Vec<Link>),
}

/// Everything needed to build the network of a simulation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkConfig {
    /// The model of every link not given its own.
    pub default_link: LinkModel,
    /// Full mesh or explicit graph.
    pub topology: Topology,
}

/// Which node pairs cannot talk right now.
#[derive(Clone, Debug, Default, PartialEq)]
struct CutState {
    /// Per node, a bit per partition group it belongs to; empty when no groups are set.
    group_masks: Vec<u64>,
    /// Asymmetric cuts: (sorted senders, sorted receivers).
    one_way: Vec<(Vec<u32>, Vec<u32>)>,
}

impl CutState {
    fn is_clear(&self) -> bool {
        self.group_masks.is_empty() && self.one_way.is_empty()
    }

    fn blocks(&self, source: NodeId, target: NodeId) -> bool {
        if source == target {
            return false;
        }
        if !self.group_masks.is_empty()
            && self.group_masks[source.index()] & self.group_masks[target.index()] == 0
        {
            return true;
        }
        self.one_way.iter().any(|(from, to)| {
            from.binary_search(&source.0).is_ok() && to.binary_search(&target.0).is_ok()
        })
    }
}

/// A temporary change to links touching some nodes.
#[derive(Clone, Debug)]
struct Degradation {
    id: u64,
    nodes: Vec<u32>,
    delay: Option<Delay>,
    drop_ratio: Option<f64>,
}

impl Degradation {
    fn applies(&self, source: NodeId, target: NodeId) -> bool {
        self.nodes.is_empty()
            || self.nodes.binary_search(&source.0).is_ok()
            || self.nodes.binary_search(&target.0).is_ok()
    }
}

/// What the network did with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmission {
    /// No route: a partition or cut separates the ends.
    Unreachable,
    /// Lost by the link's drop ratio.
    Dropped,
    /// Will arrive at `at`; a duplicate, if any, at `duplicate_at`.
    Scheduled {
        /// Arrival of the message.
        at: SimTime,
        /// Arrival of its duplicate, if the link duplicated it.
        duplicate_at: Option<SimTime>,
    },
}

/// The live network of a simulation.
#[derive(Debug)]
pub struct Network {
    node_count: usize,
    default_link: LinkModel,
    overrides: BTreeMap<(u32, u32), LinkModel>,
    graph: Option<DiGraph<NodeId, LinkModel>>,
    cuts: Rc<CutState>,
    /// Every partition state that began, with its start time, oldest first.
    cut_history: Vec<Rc<CutState>>,
    degradations: Vec<Degradation>,
    next_degradation: u64,
    fifo_last_arrival: BTreeMap<(u32, u32), SimTime>,
    /// For the graph topology: per source, the predecessor edge of each target on its
    /// shortest route under the current cuts.
    routes: BTreeMap<u32, Vec<Option<EdgeIndex>>>,
    /// `cut_history.len()`, kept as the `u32` every sent message records.
    epoch: u32,
    /// True while every message takes the default link with nothing in the way: a full
    /// mesh without overrides, no partition or cut, no degradation, unordered links.
    /// [`Network::transmit`] then skips straight to the link's draws.
    plain: bool,
}

impl Network {
    /// Builds and validates the network for `node_count` nodes.
    pub fn new(config: NetworkConfig, node_count: usize) -> Result<Network, ConfigError> {
        if node_count == 0 {
            return Err(ConfigError::NoNodes);
        }
        config.default_link.validate()?;
        let check_node = |node: NodeId| {
            if node.index() < node_count {
                Ok(())
            } else {
                Err(ConfigError::UnknownNode { node, node_count })
            }
        };
        let mut overrides = BTreeMap::new();
        let mut graph = None;
        match config.topology {
            Topology::FullMesh => {}
            Topology::FullMeshWithOverrides(pairs) => {
                for (source, target, model) in pairs {
                    check_node(source)?;
                    check_node(target)?;
                    model.validate()?;
                    overrides.insert((source.0, target.0), model);
                }
            }
            Topology::Graph(links) => {
                let mut g = DiGraph::with_capacity(node_count, links.len() * 2);
                for i in 0..node_count {
                    g.add_node(NodeId(i as u32));
                }
                for link in links {
                    check_node(link.a)?;
                    check_node(link.b)?;
                    if link.a == link.b {
                        return Err(ConfigError::Invalid(format!(
                            "link from node {} to itself",
                            link.a.0
                        )));
                    }
                    let model = link.model.unwrap_or_else(|| config.default_link.clone());
                    model.validate()?;
                    let (a, b) = (
                        NodeIndex::new(link.a.index()),
                        NodeIndex::new(link.b.index()),
                    );
                    g.add_edge(a, b, model.clone());
                    if link.both_ways {
                        g.add_edge(b, a, model);
                    }
                }
                graph = Some(g);
            }
        }
        let mut network = Network {
            node_count,
            default_link: config.default_link,
            overrides,
            graph,
            cuts: Rc::new(CutState::default()),
            cut_history: Vec::new(),
            degradations: Vec::new(),
            next_degradation: 0,
            fifo_last_arrival: BTreeMap::new(),
            routes: BTreeMap::new(),
            epoch: 0,
            plain: false,
        };
        network.refresh_plain();
        Ok(network)
    }

    /// Recomputes [`Network::plain`] after anything it depends on changed.
    fn refresh_plain(&mut self) {
        self.plain = self.graph.is_none()
            && self.overrides.is_empty()
            && self.cuts.is_clear()
            && self.degradations.is_empty()
            && self.default_link.order == LinkOrder::Unordered;
    }

    /// How many nodes the network connects.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// True when `source` can reach `target` now (directly in a full mesh, over some
    /// route in a graph).
    pub fn reachable(&mut self, source: NodeId, target: NodeId) -> bool {
        if source == target {
            return true;
        }
        match &self.graph {
            None => !self.cuts.blocks(source, target),
            Some(_) => self.route(source, target).is_some(),
        }
    }

    /// Decides the fate of one message sent at `now`, drawing from `rng`.
    #[inline(always)]
    pub fn transmit(
        &mut self,
        rng: &mut SimRng,
        now: SimTime,
        source: NodeId,
        target: NodeId,
    ) -> Transmission {
        if self.plain {
            // The same draws, in the same order, as the general path below takes for a
            // clear full mesh: drop, delay, duplicate, the duplicate's delay.
            let link = &self.default_link;
            if chance(rng, link.drop_ratio) {
                return Transmission::Dropped;
            }
            let at = arrival(now, link.delay.sample(rng));
            let duplicate_at = if chance(rng, link.duplicate_ratio) {
                Some(arrival(now, link.delay.sample(rng)))
            } else {
                None
            };
            return Transmission::Scheduled { at, duplicate_at };
        }
        self.transmit_general(rng, now, source, target)
    }

    /// [`Network::transmit`] for everything but a clear full mesh.
    fn transmit_general(
        &mut self,
        rng: &mut SimRng,
        now: SimTime,
        source: NodeId,
        target: NodeId,
    ) -> Transmission {
        let (delay, duplicate_at, order) = if self.graph.is_none() || source == target {
            if !self.cuts.is_clear() && self.cuts.blocks(source, target) {
                return Transmission::Unreachable;
            }
            let link = if self.overrides.is_empty() {
                &self.default_link
            } else {
                self.overrides
                    .get(&(source.0, target.0))
                    .unwrap_or(&self.default_link)
            };
            let degradation = self.degradation_for(source, target);
            let delay_model = degradation
                .and_then(|d| d.delay.as_ref())
                .unwrap_or(&link.delay);
            let drop_ratio = degradation
                .and_then(|d| d.drop_ratio)
                .unwrap_or(link.drop_ratio);
            if chance(rng, drop_ratio) {
                return Transmission::Dropped;
            }
            let delay = delay_model.sample(rng);
            let duplicate = if chance(rng, link.duplicate_ratio) {
                Some(delay_model.sample(rng))
            } else {
                None
            };
            (delay, duplicate, link.order)
        } else {
            let Some(path) = self.route(source, target) else {
                return Transmission::Unreachable;
            };
            match self.transmit_along(rng, &path) {
                Some(result) => result,
                None => return Transmission::Dropped,
            }
        };
        let mut at = now + delay;
        let mut duplicate_at = duplicate_at.map(|d| now + d);
        if order == LinkOrder::Fifo {
            let last = self
                .fifo_last_arrival
                .entry((source.0, target.0))
                .or_insert(SimTime::ZERO);
            at = at.max(*last);
            *last = at;
            if let Some(copy) = duplicate_at.as_mut() {
                *copy = (*copy).max(*last);
                *last = *copy;
            }
        }
        Transmission::Scheduled { at, duplicate_at }
    }

    /// Samples every hop of a route; `None` when some hop drops the message.
    fn transmit_along(
        &self,
        rng: &mut SimRng,
        path: &[EdgeIndex],
    ) -> Option<(SimDuration, Option<SimDuration>, LinkOrder)> {
        let graph = self
            .graph
            .as_ref()
            .expect("routes exist only in graph topologies");
        let mut total = SimDuration::ZERO;
        let mut duplicated = false;
        let mut order = LinkOrder::Fifo;
        let mut hop_models = Vec::with_capacity(path.len());
        for (hop, &edge) in path.iter().enumerate() {
            let (u, v) = graph.edge_endpoints(edge).expect("route edges exist");
            let link = &graph[edge];
            let degradation = self.degradation_for(graph[u], graph[v]);
            let delay_model = degradation
                .and_then(|d| d.delay.as_ref())
                .unwrap_or(&link.delay);
            let drop_ratio = degradation
                .and_then(|d| d.drop_ratio)
                .unwrap_or(link.drop_ratio);
            if chance(rng, drop_ratio) {
                return None;
            }
            total = total + delay_model.sample(rng);
            if hop == 0 {
                duplicated = chance(rng, link.duplicate_ratio);
            }
            if link.order == LinkOrder::Unordered {
                order = LinkOrder::Unordered;
            }
            hop_models.push(delay_model);
        }
        // A copy made on the first hop travels the whole route with delays of its own.
        let duplicate = duplicated.then(|| {
            hop_models
                .iter()
                .fold(SimDuration::ZERO, |sum, model| sum + model.sample(rng))
        });
        Some((total, duplicate, order))
    }

    fn degradation_for(&self, source: NodeId, target: NodeId) -> Option<&Degradation> {
        self.degradations
            .iter()
            .rev()
            .find(|d| d.applies(source, target))
    }

    /// The number of partition states so far. A message remembers the epoch it was
    /// sent in, so a cut applied later — even at the same virtual instant — is "while
    /// it was in flight".
    #[inline]
    pub fn cut_epoch(&self) -> u32 {
        self.epoch
    }

    /// True when a message sent in `sent_epoch` from `source` to `target` crossed a cut
    /// that began while it was in flight (including one already healed).
    pub fn lost_in_flight(&self, source: NodeId, target: NodeId, sent_epoch: u32) -> bool {
        for state in &self.cut_history[sent_epoch as usize..] {
            let blocked = match &self.graph {
                None => state.blocks(source, target),
                Some(graph) => {
                    shortest_routes(graph, state, source)[target.index()].is_none()
                        && source != target
                }
            };
            if blocked {
                return true;
            }
        }
        false
    }

    fn set_cuts(&mut self, state: CutState) {
        let state = Rc::new(state);
        self.cuts = state.clone();
        self.cut_history.push(state);
        self.epoch =
            u32::try_from(self.cut_history.len()).expect("fewer than 2^32 partition changes");
        self.routes.clear();
        self.refresh_plain();
    }

    /// Splits the nodes into groups; see [`crate::Fault::Partition`]. Replaces any
    /// earlier groups, keeps one-way cuts.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) -> Result<(), ConfigError> {
        if groups.len() > 63 {
            return Err(ConfigError::Invalid("at most 63 partition groups".into()));
        }
        let mut masks = vec![0u64; self.node_count];
        for (index, group) in groups.iter().enumerate() {
            for &node in group {
                self.check_node(node)?;
                masks[node.index()] |= 1 << index;
            }
        }
        // Nodes named in no group (clients, for instance) talk to every group.
        for mask in &mut masks {
            if *mask == 0 {
                *mask = u64::MAX;
            }
        }
        let mut state = (*self.cuts).clone();
        state.group_masks = masks;
        self.set_cuts(state);
        Ok(())
    }

    /// Adds a one-way cut from every node of `from` to every node of `to`.
    pub fn cut(&mut self, from: &[NodeId], to: &[NodeId]) -> Result<(), ConfigError> {
        for &node in from.iter().chain(to) {
            self.check_node(node)?;
        }
        let sorted = |nodes: &[NodeId]| {
            let mut ids: Vec<u32> = nodes.iter().map(|n| n.0).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let mut state = (*self.cuts).clone();
        state.one_way.push((sorted(from), sorted(to)));
        self.set_cuts(state);
        Ok(())
    }

    /// Cuts `node` off from everyone, both ways.
    pub fn isolate(&mut self, node: NodeId) -> Result<(), ConfigError> {
        self.check_node(node)?;
        let everyone: Vec<NodeId> = (0..self.node_count as u32).map(NodeId).collect();
        let mut state = (*self.cuts).clone();
        state
            .one_way
            .push((vec![node.0], everyone.iter().map(|n| n.0).collect()));
        state
            .one_way
            .push((everyone.iter().map(|n| n.0).collect(), vec![node.0]));
        self.set_cuts(state);
        Ok(())
    }

    /// Removes every partition and cut.
    pub fn heal(&mut self) {
        if !self.cuts.is_clear() {
            self.set_cuts(CutState::default());
        }
    }

    /// True when no partition or cut is active.
    pub fn is_healed(&self) -> bool {
        self.cuts.is_clear()
    }

    /// Starts a degradation window; returns its id for [`Network::end_degradation`].
    pub fn degrade(
        &mut self,
        nodes: &[NodeId],
        delay: Option<Delay>,
        drop_ratio: Option<f64>,
    ) -> Result<u64, ConfigError> {
        for &node in nodes {
            self.check_node(node)?;
        }
        if let Some(delay) = &delay {
            delay.validate()?;
        }
        if let Some(ratio) = drop_ratio {
            check_probability("degrade drop", ratio)?;
        }
        let mut ids: Vec<u32> = nodes.iter().map(|n| n.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let id = self.next_degradation;
        self.next_degradation += 1;
        self.degradations.push(Degradation {
            id,
            nodes: ids,
            delay,
            drop_ratio,
        });
        self.refresh_plain();
        Ok(id)
    }

    /// Ends a degradation window.
    pub fn end_degradation(&mut self, id: u64) {
        self.degradations.retain(|d| d.id != id);
        self.refresh_plain();
    }

    fn check_node(&self, node: NodeId) -> Result<(), ConfigError> {
        if node.index() < self.node_count {
            Ok(())
        } else {
            Err(ConfigError::UnknownNode {
                node,
                node_count: self.node_count,
            })
        }
    }

    /// The edges of the current shortest route, if any (graph topologies only).
    fn route(&mut self, source: NodeId, target: NodeId) -> Option<Vec<EdgeIndex>> {
        let graph = self.graph.as_ref()?;
        let predecessors = self
            .routes
            .entry(source.0)
            .or_insert_with(|| shortest_routes(graph, &self.cuts, source));
        let mut path = Vec::new();
        let mut at = target;
        while at != source {
            let edge = predecessors[at.index()]?;
            path.push(edge);
            at = graph[graph.edge_endpoints(edge).expect("edge exists").0];
        }
        path.reverse();
        Some(path)
    }
}

/// `now + delay`, with the overflow panic of `SimTime + SimDuration`, written out here
/// so that it inlines into the hot path.
#[inline]
fn arrival(now: SimTime, delay: SimDuration) -> SimTime {
    match now.0.checked_add(delay.0) {
        Some(at) => SimTime(at),
        None => panic!("virtual time overflowed u64 nanoseconds"),
    }
}

/// Dijkstra from `source` over links not blocked by `cuts`, weighted by typical delay;
/// ties go to the lower node index so routes are deterministic.
fn shortest_routes(
    graph: &DiGraph<NodeId, LinkModel>,
    cuts: &CutState,
    source: NodeId,
) -> Vec<Option<EdgeIndex>> {
    let n = graph.node_count();
    let mut distance = vec![u64::MAX; n];
    let mut predecessor = vec![None; n];
    let mut heap = BinaryHeap::new();
    distance[source.index()] = 0;
    heap.push(Reverse((0u64, source.0)));
    while let Some(Reverse((dist, node))) = heap.pop() {
        if dist > distance[node as usize] {
            continue;
        }
        for edge in graph.edges(NodeIndex::new(node as usize)) {
            let next = graph[edge.target()];
            if cuts.blocks(NodeId(node), next) {
                continue;
            }
            let weight = edge.weight().delay.typical_ns().max(1.0) as u64;
            let candidate = dist.saturating_add(weight);
            if candidate < distance[next.index()] {
                distance[next.index()] = candidate;
                predecessor[next.index()] = Some(edge.id());
                heap.push(Reverse((candidate, next.0)));
            }
        }
    }
    predecessor
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream_rng};
    use rand_core::RngCore;

    fn lossy_lognormal() -> LinkModel {
        LinkModel {
            delay: Delay::LogNormal {
                median_ns: 1_000_000.0,
                sigma: 0.5,
            },
            drop_ratio: 0.1,
            duplicate_ratio: 0.1,
            order: LinkOrder::Unordered,
        }
    }

    #[test]
    fn clear_full_mesh_fast_path_draws_like_the_general_path() {
        // The fast path must take the same draws in the same order as the general
        // path, or turning on (and off again) any partition, override or degradation
        // would shift every later delay of a seeded run. An override on a pair that is
        // never used forces the general path without changing any link that is.
        let mut plain = Network::new(
            NetworkConfig {
                default_link: lossy_lognormal(),
                topology: Topology::FullMesh,
            },
            8,
        )
        .expect("valid");
        let mut general = Network::new(
            NetworkConfig {
                default_link: lossy_lognormal(),
                topology: Topology::FullMeshWithOverrides(vec![(
                    NodeId(7),
                    NodeId(7),
                    LinkModel::default(),
                )]),
            },
            8,
        )
        .expect("valid");
        assert!(plain.plain && !general.plain);
        let mut plain_rng = stream_rng(3, Stream::Network);
        let mut general_rng = stream_rng(3, Stream::Network);
        let mut outcomes = [0usize; 3];
        for i in 0..2_000u64 {
            let now = SimTime(i * 1_000);
            let (source, target) = (NodeId((i % 7) as u32), NodeId((i * 3 % 7) as u32));
            let fast = plain.transmit(&mut plain_rng, now, source, target);
            let slow = general.transmit(&mut general_rng, now, source, target);
            assert_eq!(fast, slow, "message {i}");
            outcomes[match fast {
                Transmission::Dropped => 0,
                Transmission::Scheduled {
                    duplicate_at: None, ..
                } => 1,
                _ => 2,
            }] += 1;
        }
        // Every branch was taken: drops, single deliveries and duplicates.
        assert!(outcomes.iter().all(|&count| count > 100), "{outcomes:?}");
        assert_eq!(plain_rng.next_u64(), general_rng.next_u64());
    }

    #[test]
    fn fast_path_is_off_exactly_while_something_is_in_the_way() {
        // A partition or degradation left in place but skipped by the fast path would
        // deliver across a cut or at the wrong latency.
        let mut network = Network::new(NetworkConfig::default(), 4).expect("valid");
        assert!(network.plain);
        network
            .partition(&[vec![NodeId(0)], vec![NodeId(1)]])
            .expect("valid groups");
        assert!(!network.plain);
        network.heal();
        assert!(network.plain);
        let id = network
            .degrade(&[NodeId(2)], None, Some(0.5))
            .expect("valid degradation");
        assert!(!network.plain);
        network.end_degradation(id);
        assert!(network.plain);
        network.isolate(NodeId(3)).expect("valid node");
        assert!(!network.plain);
        assert_eq!(network.cut_epoch(), 3, "partition, heal and isolate");
        let fifo = Network::new(
            NetworkConfig {
                default_link: LinkModel {
                    order: LinkOrder::Fifo,
                    ..LinkModel::default()
                },
                topology: Topology::FullMesh,
            },
            4,
        )
        .expect("valid");
        assert!(!fifo.plain, "FIFO links keep per-pair state");
    }
}
