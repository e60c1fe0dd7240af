//! Properties of the engine over random topologies, link models, clocks and fault
//! schedules (proptest).
//!
//! Every run uses the probe protocol (`common::ProbeNode`): each node sends one message
//! per tick to a random node, with a per-pair sequence number, and keeps an extra timer
//! in play. Messages carry unique ids that the probe uses as message digests, so the
//! event trace names every message; the checks replay the trace (in the engine's exact
//! event order) against a small model of what the engine promises.
//!
//! The proptest seed is fixed so the suite is reproducible; set `PROPTEST_RNG_SEED`
//! (and `PROPTEST_CASES`) to explore other cases.

mod common;

use common::{
    ProbeConfig, ProbeEvent, ProbeNode, TraceLine, capture_trace, finish_trace, parse_trace,
    probe_events, unpack_id,
};
use dsim_core::{
    Delay, DropReason, Fault, Link, LinkModel, LinkOrder, LocalClock, MessageFate, NetworkConfig,
    NodeId, RunOutput, SimConfig, SimDuration, SimTime, Simulation, Topology,
};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use std::collections::{BTreeMap, BTreeSet};

const MS: u64 = 1_000_000;
/// Virtual time every run lasts.
const RUN_MS: u64 = 200;
/// Faults happen at whole milliseconds plus this odd offset, so they never share an
/// instant with the probes' sends (which happen on whole milliseconds).
const FAULT_OFFSET_NS: u64 = 123_457;
/// Most nodes in a run.
const MAX_NODES: usize = 6;

fn config(cases: u32) -> ProptestConfig {
    // Default reads PROPTEST_* from the environment; we only pin what it left unset.
    let mut config = ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0xD51C_0DE5);
    }
    config
}

// ---------------------------------------------------------------------------------------
// Generated scenarios
// ---------------------------------------------------------------------------------------

/// A fault as generated: node numbers are taken modulo the node count.
#[derive(Clone, Debug)]
enum FaultSpec {
    /// Per node, a bit set of the (up to three) groups it belongs to; none = unnamed.
    Partition {
        memberships: Vec<u8>,
    },
    Cut {
        from: Vec<u8>,
        to: Vec<u8>,
    },
    Isolate(u8),
    Heal,
    Crash(u8),
    Restart(u8),
    Pause {
        node: u8,
        duration_ms: u64,
    },
    ClockOffset {
        node: u8,
        offset_ns: i64,
    },
    ClockDrift {
        node: u8,
        drift_ppm: i64,
    },
    Degrade {
        node: Option<u8>,
        delay_ms: u64,
        drop_ratio: Option<f64>,
        duration_ms: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Partition,
    Cut,
    Isolate,
    Heal,
    Crash,
    Restart,
    Pause,
    ClockOffset,
    ClockDrift,
    Degrade,
}

const NETWORK_KINDS: &[Kind] = &[Kind::Partition, Kind::Cut, Kind::Isolate, Kind::Heal];

fn fault_strategy(kinds: &[Kind]) -> BoxedStrategy<FaultSpec> {
    let node = || any::<u8>();
    let options: Vec<BoxedStrategy<FaultSpec>> = kinds
        .iter()
        .map(|kind| match kind {
            Kind::Partition => proptest::collection::vec(0u8..8, MAX_NODES)
                .prop_map(|memberships| FaultSpec::Partition { memberships })
                .boxed(),
            Kind::Cut => (
                proptest::collection::vec(node(), 1..3),
                proptest::collection::vec(node(), 1..3),
            )
                .prop_map(|(from, to)| FaultSpec::Cut { from, to })
                .boxed(),
            Kind::Isolate => node().prop_map(FaultSpec::Isolate).boxed(),
            Kind::Heal => Just(FaultSpec::Heal).boxed(),
            Kind::Crash => node().prop_map(FaultSpec::Crash).boxed(),
            Kind::Restart => node().prop_map(FaultSpec::Restart).boxed(),
            Kind::Pause => (node(), 1u64..40)
                .prop_map(|(node, duration_ms)| FaultSpec::Pause { node, duration_ms })
                .boxed(),
            Kind::ClockOffset => (node(), -30_000_000i64..30_000_000)
                .prop_map(|(node, offset_ns)| FaultSpec::ClockOffset { node, offset_ns })
                .boxed(),
            Kind::ClockDrift => (node(), -300_000i64..300_000)
                .prop_map(|(node, drift_ppm)| FaultSpec::ClockDrift { node, drift_ppm })
                .boxed(),
            Kind::Degrade => (
                proptest::option::of(node()),
                0u64..20,
                proptest::option::of(0.0f64..1.0),
                1u64..50,
            )
                .prop_map(
                    |(node, delay_ms, drop_ratio, duration_ms)| FaultSpec::Degrade {
                        node,
                        delay_ms,
                        drop_ratio,
                        duration_ms,
                    },
                )
                .boxed(),
        })
        .collect();
    Union::new(options).boxed()
}

/// A schedule of faults at `(whole ms, spec)`.
fn schedule_strategy(kinds: &[Kind], max_faults: usize) -> BoxedStrategy<Vec<(u64, FaultSpec)>> {
    proptest::collection::vec((0..RUN_MS, fault_strategy(kinds)), 0..max_faults).boxed()
}

/// Delay distributions, all in whole nanoseconds of realistic size.
#[derive(Clone, Debug)]
enum DelaySpec {
    Constant { ms: u64 },
    Uniform { min_us: u64, span_us: u64 },
    LogNormal { median_us: u64, sigma: f64 },
    Exponential { mean_us: u64 },
}

impl DelaySpec {
    fn delay(&self) -> Delay {
        match *self {
            DelaySpec::Constant { ms } => Delay::Constant { ns: ms * MS },
            DelaySpec::Uniform { min_us, span_us } => Delay::Uniform {
                min_ns: min_us * 1_000,
                max_ns: (min_us + span_us) * 1_000,
            },
            DelaySpec::LogNormal { median_us, sigma } => Delay::LogNormal {
                median_ns: median_us as f64 * 1_000.0,
                sigma,
            },
            DelaySpec::Exponential { mean_us } => Delay::Exponential {
                mean_ns: mean_us as f64 * 1_000.0,
            },
        }
    }
}

fn delay_strategy() -> impl Strategy<Value = DelaySpec> {
    prop_oneof![
        (1u64..10).prop_map(|ms| DelaySpec::Constant { ms }),
        (0u64..5_000, 0u64..10_000)
            .prop_map(|(min_us, span_us)| DelaySpec::Uniform { min_us, span_us }),
        (100u64..5_000, 0.0f64..1.2)
            .prop_map(|(median_us, sigma)| DelaySpec::LogNormal { median_us, sigma }),
        (100u64..5_000).prop_map(|mean_us| DelaySpec::Exponential { mean_us }),
    ]
}

/// Everything one generated run needs.
#[derive(Clone, Debug)]
struct Scenario {
    nodes: usize,
    seed: u64,
    delay: DelaySpec,
    drop_ratio: f64,
    duplicate_ratio: f64,
    order: LinkOrder,
    faults: Vec<(u64, FaultSpec)>,
    /// Faults a nemesis injects during the run, at whole milliseconds (the probes'
    /// send instants): each is scheduled at the current instant once virtual time
    /// reaches it, so it lands right after events of that same instant.
    live_faults: Vec<(u64, FaultSpec)>,
    /// Initial (offset, drift) of each node's clock.
    clocks: Vec<(i64, i64)>,
    /// True for an explicit graph topology made of `links`; false for a full mesh.
    graph: bool,
    /// Graph links (a, b, both ways).
    links: Vec<(u8, u8, bool)>,
}

/// Knobs that differ between properties.
#[derive(Clone, Copy)]
struct Shape {
    kinds: &'static [Kind],
    max_faults: usize,
    max_drop_ratio: f64,
    max_duplicate_ratio: f64,
    fifo: Option<bool>,
    constant_delay: bool,
    skewed_clocks: bool,
    graph: bool,
    live_faults: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            kinds: NETWORK_KINDS,
            max_faults: 12,
            max_drop_ratio: 0.0,
            max_duplicate_ratio: 0.0,
            fifo: Some(false),
            constant_delay: false,
            skewed_clocks: false,
            graph: false,
            live_faults: false,
        }
    }
}

fn scenario_strategy(shape: Shape) -> impl Strategy<Value = Scenario> {
    let delay = if shape.constant_delay {
        (1u64..10).prop_map(|ms| DelaySpec::Constant { ms }).boxed()
    } else {
        delay_strategy().boxed()
    };
    let order = match shape.fifo {
        Some(true) => Just(LinkOrder::Fifo).boxed(),
        Some(false) => Just(LinkOrder::Unordered).boxed(),
        None => prop_oneof![Just(LinkOrder::Fifo), Just(LinkOrder::Unordered)].boxed(),
    };
    let clocks = if shape.skewed_clocks {
        proptest::collection::vec(
            (-20_000_000i64..20_000_000, -200_000i64..200_000),
            MAX_NODES,
        )
        .boxed()
    } else {
        Just(vec![(0, 0); MAX_NODES]).boxed()
    };
    let links = if shape.graph {
        proptest::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..14).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let drop = if shape.max_drop_ratio > 0.0 {
        (0.0..shape.max_drop_ratio).boxed()
    } else {
        Just(0.0).boxed()
    };
    let duplicate = if shape.max_duplicate_ratio > 0.0 {
        (0.0..shape.max_duplicate_ratio).boxed()
    } else {
        Just(0.0).boxed()
    };
    let live_faults = if shape.live_faults {
        schedule_strategy(shape.kinds, shape.max_faults / 2)
    } else {
        Just(Vec::new()).boxed()
    };
    (
        2usize..=MAX_NODES,
        any::<u64>(),
        delay,
        drop,
        duplicate,
        order,
        schedule_strategy(shape.kinds, shape.max_faults),
        clocks,
        links,
        live_faults,
    )
        .prop_map(
            move |(
                nodes,
                seed,
                delay,
                drop_ratio,
                duplicate_ratio,
                order,
                faults,
                clocks,
                links,
                live_faults,
            )| {
                Scenario {
                    nodes,
                    seed,
                    delay,
                    drop_ratio,
                    duplicate_ratio,
                    order,
                    faults,
                    live_faults,
                    clocks,
                    graph: shape.graph,
                    links,
                }
            },
        )
}

impl Scenario {
    fn node(&self, raw: u8) -> NodeId {
        NodeId(u32::from(raw) % self.nodes as u32)
    }

    fn nodes_of(&self, raw: &[u8]) -> Vec<NodeId> {
        raw.iter().map(|&r| self.node(r)).collect()
    }

    fn link(&self) -> LinkModel {
        LinkModel {
            delay: self.delay.delay(),
            drop_ratio: self.drop_ratio,
            duplicate_ratio: self.duplicate_ratio,
            order: self.order,
        }
    }

    /// Graph links after dropping self-links (which the engine refuses).
    fn graph_links(&self) -> Vec<Link> {
        self.links
            .iter()
            .map(|&(a, b, both_ways)| (self.node(a), self.node(b), both_ways))
            .filter(|(a, b, _)| a != b)
            .map(|(a, b, both_ways)| Link {
                a,
                b,
                model: None,
                both_ways,
            })
            .collect()
    }

    fn fault(&self, spec: &FaultSpec) -> Fault {
        match spec {
            FaultSpec::Partition { memberships } => {
                let mut groups = vec![Vec::new(); 3];
                for (index, &bits) in memberships.iter().take(self.nodes).enumerate() {
                    for (group, members) in groups.iter_mut().enumerate() {
                        if bits & (1 << group) != 0 {
                            members.push(NodeId(index as u32));
                        }
                    }
                }
                Fault::Partition(groups)
            }
            FaultSpec::Cut { from, to } => Fault::Cut {
                from: self.nodes_of(from),
                to: self.nodes_of(to),
            },
            FaultSpec::Isolate(node) => Fault::Isolate(self.node(*node)),
            FaultSpec::Heal => Fault::Heal,
            FaultSpec::Crash(node) => Fault::Crash(self.node(*node)),
            FaultSpec::Restart(node) => Fault::Restart(self.node(*node)),
            FaultSpec::Pause { node, duration_ms } => Fault::Pause {
                node: self.node(*node),
                // One extra nanosecond keeps resumes off the fault instants too.
                duration: SimDuration(duration_ms * MS + 1),
            },
            FaultSpec::ClockOffset { node, offset_ns } => Fault::ClockOffset {
                node: self.node(*node),
                offset_ns: *offset_ns,
            },
            FaultSpec::ClockDrift { node, drift_ppm } => Fault::ClockDrift {
                node: self.node(*node),
                drift_ppm: *drift_ppm,
            },
            FaultSpec::Degrade {
                node,
                delay_ms,
                drop_ratio,
                duration_ms,
            } => Fault::Degrade {
                nodes: node.map(|n| vec![self.node(n)]).unwrap_or_default(),
                delay: Some(Delay::Constant { ns: delay_ms * MS }),
                drop_ratio: *drop_ratio,
                bandwidth_factor: None,
                duration: SimDuration::from_millis(*duration_ms),
            },
        }
    }
}

/// What a finished run leaves for the checks.
struct Run {
    trace: Vec<TraceLine>,
    output: RunOutput<ProbeEvent>,
}

/// Runs the scenario step by step (checking that virtual time never goes back between
/// steps) and returns the trace and the output.
fn run(scenario: &Scenario) -> Run {
    let topology = if scenario.graph {
        Topology::Graph(scenario.graph_links())
    } else {
        Topology::FullMesh
    };
    let config = SimConfig {
        seed: scenario.seed,
        network: NetworkConfig {
            default_link: scenario.link(),
            topology,
        },
        message_log_limit: usize::MAX,
        ..SimConfig::default()
    };
    let probe = ProbeConfig::default();
    let mut sim = Simulation::new(config, scenario.nodes, move |_, _| ProbeNode::new(probe))
        .expect("generated configs are valid");
    for (index, &(offset_ns, drift_ppm)) in scenario.clocks.iter().take(scenario.nodes).enumerate()
    {
        sim.set_clock(
            NodeId(index as u32),
            LocalClock {
                offset_ns,
                drift_ppm,
            },
        )
        .expect("generated clocks are valid");
    }
    for (at_ms, spec) in &scenario.faults {
        sim.schedule_fault(SimTime(at_ms * MS + FAULT_OFFSET_NS), scenario.fault(spec))
            .expect("generated faults are valid");
    }
    let buffer = capture_trace(&mut sim);
    let end = SimTime(RUN_MS * MS);
    let mut live: Vec<(u64, Fault)> = scenario
        .live_faults
        .iter()
        .map(|(at_ms, spec)| (at_ms * MS, scenario.fault(spec)))
        .collect();
    live.sort_by_key(|(at_ns, _)| std::cmp::Reverse(*at_ns));
    let mut last = sim.now();
    while sim.next_event_time().is_some_and(|t| t <= end) {
        while live.last().is_some_and(|(at_ns, _)| *at_ns <= sim.now().0) {
            let (_, fault) = live.pop().expect("checked");
            sim.schedule_fault(sim.now(), fault)
                .expect("generated faults are valid");
        }
        assert!(sim.step(), "a pending event is handled");
        // The scheduler must never move the clock back, whatever the faults did.
        assert!(
            sim.now() >= last,
            "virtual time went back from {last} to {}",
            sim.now()
        );
        last = sim.now();
    }
    sim.run_until(end).expect("probes only talk to real nodes");
    let text = finish_trace(&mut sim, &buffer);
    Run {
        trace: parse_trace(&text),
        output: sim.into_output(),
    }
}

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

/// Which pairs the partitions and cuts block, replayed from the fault log.
#[derive(Clone, Debug, Default)]
struct CutModel {
    /// Per node, the groups it is in (all ones for nodes in no group); empty when no
    /// partition is set.
    masks: Vec<u64>,
    one_way: Vec<(BTreeSet<u32>, BTreeSet<u32>)>,
}

impl CutModel {
    fn apply(&mut self, fault: &Fault, nodes: usize) {
        match fault {
            Fault::Partition(groups) => {
                let mut masks = vec![0u64; nodes];
                for (index, group) in groups.iter().enumerate() {
                    for node in group {
                        masks[node.index()] |= 1 << index;
                    }
                }
                for mask in &mut masks {
                    if *mask == 0 {
                        *mask = u64::MAX;
                    }
                }
                self.masks = masks;
            }
            Fault::Cut { from, to } => self.one_way.push((
                from.iter().map(|n| n.0).collect(),
                to.iter().map(|n| n.0).collect(),
            )),
            Fault::Isolate(node) => {
                let everyone: BTreeSet<u32> = (0..nodes as u32).collect();
                self.one_way.push(([node.0].into(), everyone.clone()));
                self.one_way.push((everyone, [node.0].into()));
            }
            Fault::Heal => *self = CutModel::default(),
            _ => {}
        }
    }

    fn blocks(&self, source: u32, target: u32) -> bool {
        if source == target {
            return false;
        }
        let grouped_apart = !self.masks.is_empty()
            && self.masks[source as usize] & self.masks[target as usize] == 0;
        grouped_apart
            || self
                .one_way
                .iter()
                .any(|(from, to)| from.contains(&source) && to.contains(&target))
    }

    /// Reachability over `links` (a full mesh when `None`) avoiding blocked pairs.
    fn reachable(&self, links: Option<&[(u32, u32)]>, source: u32, target: u32) -> bool {
        let Some(links) = links else {
            return !self.blocks(source, target);
        };
        if source == target {
            return true;
        }
        let mut seen = BTreeSet::from([source]);
        let mut frontier = vec![source];
        while let Some(node) = frontier.pop() {
            for &(a, b) in links {
                if a == node && !self.blocks(a, b) && seen.insert(b) {
                    if b == target {
                        return true;
                    }
                    frontier.push(b);
                }
            }
        }
        false
    }
}

/// True for faults that show up as `fault` lines in the trace.
fn is_fault_line_kind(fault: &Fault) -> bool {
    !matches!(
        fault,
        Fault::Crash(_) | Fault::Restart(_) | Fault::Pause { .. }
    )
}

/// Per message id, whether its pair was unreachable at send time or at any cut change
/// while it was in flight; replays the trace in order.
fn replay_cuts(run: &Run, nodes: usize, links: Option<&[(u32, u32)]>) -> BTreeMap<u64, bool> {
    let mut faults = run
        .output
        .fault_log
        .iter()
        .filter(|record| is_fault_line_kind(&record.fault));
    let mut model = CutModel::default();
    let mut outstanding: BTreeMap<u64, u32> = BTreeMap::new();
    let mut blocked: BTreeMap<u64, bool> = BTreeMap::new();
    for line in &run.trace {
        match line.kind.as_str() {
            "send" => {
                *outstanding.entry(line.digest).or_default() += 1;
                let cut = !model.reachable(links, line.source, line.target);
                assert!(blocked.insert(line.digest, cut).is_none(), "ids are unique");
            }
            "duplicate" => *outstanding.entry(line.digest).or_default() += 1,
            "deliver" | "drop" => {
                let count = outstanding.get_mut(&line.digest).expect("sent before");
                *count -= 1;
                if *count == 0 {
                    outstanding.remove(&line.digest);
                }
            }
            "fault" => {
                let record = faults.next().expect("every fault line is in the fault log");
                assert_eq!(record.time.0, line.time_ns);
                model.apply(&record.fault, nodes);
                for &id in outstanding.keys() {
                    let (source, target, _) = unpack_id(id);
                    if !model.reachable(links, source, target) {
                        blocked.insert(id, true);
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        faults.next().is_none(),
        "every logged network fault has a trace line"
    );
    blocked
}

/// Checks the message log against the cut replay: delivered messages were never cut
/// off; messages lost to a partition were.
fn check_cuts(run: &Run, blocked: &BTreeMap<u64, bool>) -> Result<(), TestCaseError> {
    let sends: Vec<&TraceLine> = run.trace.iter().filter(|l| l.kind == "send").collect();
    prop_assert_eq!(sends.len(), run.output.messages.len());
    for (line, record) in sends.iter().zip(&run.output.messages) {
        prop_assert_eq!(
            (line.source, line.target),
            (record.source.0, record.target.0)
        );
        let was_blocked = blocked[&line.digest];
        match record.fate {
            // A delivery across a cut (at send or while in flight) is the bug we hunt.
            MessageFate::Delivered(at) => prop_assert!(
                !was_blocked,
                "message {:?} sent at {} delivered at {} across a cut",
                unpack_id(line.digest),
                record.sent_at,
                at
            ),
            // A partition drop with no cut on its pair would be over-eager.
            MessageFate::Dropped(at, DropReason::Partition) => prop_assert!(
                was_blocked,
                "message {:?} sent at {} dropped at {} by a partition that never cut it",
                unpack_id(line.digest),
                record.sent_at,
                at
            ),
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Full mesh, random partitions, one-way cuts, isolations, heals, crashes and
    /// degradations, some injected mid-run at the instant of a send; no duplicates so
    /// every delivery maps to one logged message.
    #[test]
    fn nothing_crosses_a_cut(scenario in scenario_strategy(Shape {
        kinds: &[Kind::Partition, Kind::Cut, Kind::Isolate, Kind::Heal, Kind::Heal,
                 Kind::Crash, Kind::Restart, Kind::Degrade],
        max_drop_ratio: 0.2,
        fifo: None,
        live_faults: true,
        ..Shape::default()
    })) {
        let run = run(&scenario);
        let blocked = replay_cuts(&run, scenario.nodes, None);
        check_cuts(&run, &blocked)?;
    }

    /// Explicit graphs with random links: a message is delivered only if a route
    /// existed when it was sent and in every cut state while it travelled.
    #[test]
    fn graph_topology_delivers_only_along_existing_routes(scenario in scenario_strategy(Shape {
        kinds: &[Kind::Partition, Kind::Cut, Kind::Isolate, Kind::Heal],
        max_faults: 6,
        graph: true,
        live_faults: true,
        ..Shape::default()
    })) {
        let run = run(&scenario);
        let links: Vec<(u32, u32)> = scenario
            .graph_links()
            .iter()
            .flat_map(|link| {
                let forward = (link.a.0, link.b.0);
                let back = link.both_ways.then_some((link.b.0, link.a.0));
                std::iter::once(forward).chain(back)
            })
            .collect();
        let blocked = replay_cuts(&run, scenario.nodes, Some(&links));
        check_cuts(&run, &blocked)?;
        // Without any fault, reachability is the graph's: no message between
        // unconnected nodes may arrive, and every connected one does (drop ratio 0).
        if scenario.faults.is_empty() && scenario.live_faults.is_empty() {
            for record in &run.output.messages {
                let routed = CutModel::default().reachable(Some(&links), record.source.0, record.target.0);
                match record.fate {
                    MessageFate::Delivered(_) => prop_assert!(routed),
                    MessageFate::Dropped(_, reason) => {
                        prop_assert!(!routed);
                        prop_assert_eq!(reason, DropReason::Partition);
                    }
                    MessageFate::InFlight => prop_assert!(routed),
                }
            }
        }
    }

    /// Crashes, restarts, pauses and partitions, with duplicates: no delivery reaches a
    /// crashed node, nor a node that crashed (and maybe restarted) since the send.
    #[test]
    fn nothing_is_delivered_to_a_crashed_node(scenario in scenario_strategy(Shape {
        kinds: &[Kind::Crash, Kind::Crash, Kind::Restart, Kind::Restart, Kind::Pause,
                 Kind::Partition, Kind::Heal],
        max_faults: 16,
        max_drop_ratio: 0.1,
        max_duplicate_ratio: 0.2,
        fifo: None,
        ..Shape::default()
    })) {
        let run = run(&scenario);
        let mut up = vec![true; scenario.nodes];
        let mut lives = vec![0u32; scenario.nodes];
        let mut life_at_send: BTreeMap<u64, u32> = BTreeMap::new();
        let mut crashes = 0;
        for line in &run.trace {
            match line.kind.as_str() {
                "crash" => {
                    crashes += 1;
                    prop_assert!(up[line.source as usize], "crash of a crashed node logged");
                    up[line.source as usize] = false;
                    lives[line.source as usize] += 1;
                }
                "restart" => up[line.source as usize] = true,
                "send" => {
                    // A crashed node sends nothing.
                    prop_assert!(up[line.source as usize], "send from crashed node {}", line.source);
                    life_at_send.insert(line.digest, lives[line.target as usize]);
                }
                "deliver" => {
                    let target = line.target as usize;
                    prop_assert!(up[target], "delivery to crashed node {} at {}", target, line.time_ns);
                    // A message sent to an earlier life of the target is lost with it.
                    prop_assert_eq!(life_at_send[&line.digest], lives[target],
                        "delivery at {} to node {} that crashed after the send", line.time_ns, target);
                }
                "timer" => prop_assert!(up[line.source as usize], "timer on crashed node {}", line.source),
                _ => {}
            }
        }
        // Observations come only from live nodes, so none may fall inside a crash.
        let counters = run.output.counters;
        prop_assert_eq!(counters.messages_delivered as usize,
            run.trace.iter().filter(|l| l.kind == "deliver").count());
        if crashes == 0 {
            prop_assert_eq!(counters.dropped_at_crashed_node, 0);
        }
    }

    /// Constant delays (so arrival order is send order), pauses, crashes and restarts:
    /// a paused node handles nothing; at resume it handles what queued, in arrival order.
    #[test]
    fn paused_node_handles_nothing_until_resumed_then_in_arrival_order(scenario in scenario_strategy(Shape {
        kinds: &[Kind::Pause, Kind::Pause, Kind::Pause, Kind::Crash, Kind::Restart],
        max_faults: 16,
        max_drop_ratio: 0.1,
        constant_delay: true,
        ..Shape::default()
    })) {
        let run = run(&scenario);
        let DelaySpec::Constant { ms } = scenario.delay else { unreachable!("constant delays") };
        let delay_ns = ms * MS;
        let mut paused = vec![false; scenario.nodes];
        // Per node, closed pause windows (start, end, ended by a resume).
        let mut windows: Vec<Vec<(u64, u64, bool)>> = vec![Vec::new(); scenario.nodes];
        let mut open: Vec<u64> = vec![0; scenario.nodes];
        let mut send_position: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
        let mut last_position: Vec<Option<usize>> = vec![None; scenario.nodes];
        let mut deliveries = Vec::new();
        let mut pauses = 0;
        for (position, line) in run.trace.iter().enumerate() {
            let node = line.source as usize;
            match line.kind.as_str() {
                "pause" => {
                    pauses += 1;
                    if !paused[node] {
                        paused[node] = true;
                        open[node] = line.time_ns;
                    }
                }
                "resume" | "crash" if paused[node] => {
                    paused[node] = false;
                    windows[node].push((open[node], line.time_ns, line.kind == "resume"));
                }
                "send" => {
                    send_position.insert(line.digest, (position, line.time_ns));
                }
                "deliver" => {
                    let target = line.target as usize;
                    prop_assert!(!paused[target],
                        "node {} handled a message at {} while paused", target, line.time_ns);
                    // Deliveries to one node follow their sends' order: constant delay
                    // makes that the arrival order, which a pause must keep.
                    let (sent_position, sent_at) = send_position[&line.digest];
                    if let Some(previous) = last_position[target] {
                        prop_assert!(previous < sent_position,
                            "node {} handled message {:?} out of arrival order", target, unpack_id(line.digest));
                    }
                    last_position[target] = Some(sent_position);
                    deliveries.push((target, sent_at + delay_ns, line.time_ns));
                }
                "timer" => prop_assert!(!paused[node],
                    "node {} handled a timer at {} while paused", node, line.time_ns),
                _ => {}
            }
        }
        // A message is handled when it arrives, or, if it arrived during a pause, exactly
        // when that pause ends; never later, never earlier.
        for (target, arrival, handled) in deliveries {
            if handled == arrival {
                let inside = windows[target].iter().any(|&(start, end, _)| start < arrival && arrival < end);
                prop_assert!(!inside, "node {} handled a message at {} inside a pause", target, arrival);
            } else {
                prop_assert!(handled > arrival);
                let held = windows[target]
                    .iter()
                    .any(|&(start, end, resumed)| resumed && start <= arrival && arrival <= end && end == handled);
                prop_assert!(held, "node {} handled a message that arrived at {} only at {}", target, arrival, handled);
            }
        }
        if scenario.faults.is_empty() {
            prop_assert_eq!(pauses, 0);
        }
    }

    /// Random clock offsets and drifts, stepped during the run, with crashes: every
    /// timer fires no earlier than its delay by the node's own clock, and cancelled
    /// timers never fire.
    #[test]
    fn timers_never_fire_early_by_local_clock(scenario in scenario_strategy(Shape {
        kinds: &[Kind::ClockOffset, Kind::ClockDrift, Kind::Crash, Kind::Restart, Kind::Pause],
        max_faults: 16,
        skewed_clocks: true,
        ..Shape::default()
    })) {
        let run = run(&scenario);
        let mut set: BTreeMap<(u32, u64), (u64, u64)> = BTreeMap::new();
        let mut cancelled: BTreeSet<(u32, u64)> = BTreeSet::new();
        let mut fired: BTreeSet<(u32, u64)> = BTreeSet::new();
        for (_, node, event) in probe_events(&run.output.observations) {
            match event {
                ProbeEvent::TimerSet { token, local_ns, after_ns } => {
                    set.insert((node, token), (local_ns, after_ns));
                }
                ProbeEvent::TimerCancelled { token } => {
                    cancelled.insert((node, token));
                }
                ProbeEvent::TimerFired { token, local_ns } => {
                    let (set_local, after) = set[&(node, token)];
                    // Early firing by local time is what breaks lease protocols.
                    prop_assert!(local_ns >= set_local + after,
                        "node {} timer {} set at local {} for {} fired at local {}",
                        node, token, set_local, after, local_ns);
                    prop_assert!(!cancelled.contains(&(node, token)), "a cancelled timer fired");
                    prop_assert!(fired.insert((node, token)), "a timer fired twice");
                }
                _ => {}
            }
        }
        prop_assert!(!set.is_empty());
    }

    /// FIFO links with random delays, drops, duplicates, partitions, crashes, pauses and
    /// degradations: per (source, target) pair, sequence numbers arrive in order.
    #[test]
    fn fifo_links_keep_send_order(scenario in scenario_strategy(Shape {
        kinds: &[Kind::Partition, Kind::Cut, Kind::Heal, Kind::Crash, Kind::Restart,
                 Kind::Pause, Kind::Degrade],
        max_drop_ratio: 0.2,
        max_duplicate_ratio: 0.2,
        fifo: Some(true),
        ..Shape::default()
    })) {
        let run = run(&scenario);
        let mut last: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut received = 0;
        for (time, _, event) in probe_events(&run.output.observations) {
            if let ProbeEvent::Received { id } = event {
                received += 1;
                let (source, target, seq) = unpack_id(id);
                if let Some(&previous) = last.get(&(source, target)) {
                    // A duplicate may repeat the last number; an older one is a reorder.
                    prop_assert!(seq >= previous,
                        "{} -> {}: seq {} arrived at {} after seq {}", source, target, seq, time, previous);
                }
                last.insert((source, target), seq);
            }
        }
        prop_assert!(received > 0);
    }

    /// Every kind of fault, skewed clocks: virtual time never goes back, neither between
    /// steps (checked in `run`), nor in the trace, nor in the observations.
    #[test]
    fn virtual_time_never_goes_back(scenario in scenario_strategy(Shape {
        kinds: &[Kind::Partition, Kind::Cut, Kind::Isolate, Kind::Heal, Kind::Crash,
                 Kind::Restart, Kind::Pause, Kind::ClockOffset, Kind::ClockDrift, Kind::Degrade],
        max_faults: 16,
        max_drop_ratio: 0.2,
        max_duplicate_ratio: 0.2,
        fifo: None,
        skewed_clocks: true,
        ..Shape::default()
    })) {
        let run = run(&scenario);
        prop_assert!(run.trace.windows(2).all(|pair| pair[0].time_ns <= pair[1].time_ns));
        let times: Vec<SimTime> = run.output.observations.iter().map(|r| r.time).collect();
        prop_assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        prop_assert!(run.output.end_time == SimTime(RUN_MS * MS));
        prop_assert!(times.last().is_none_or(|&t| t <= run.output.end_time));
    }
}
