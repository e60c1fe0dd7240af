//! The scheduler: a virtual-time event loop over nodes of one protocol.
//!
//! Events are totally ordered by `(time, seq)`, where `seq` counts every scheduled
//! event, so equal inputs replay in equal order on every machine. Queue entries are 24
//! bytes and point into a slab that holds payloads (its free slots form a list through
//! the slab itself); timers are cancelled lazily through generation numbers (see
//! [`crate::node::TimerTable`]).
//!
//! The hot path (deliver a message, run the handler, send its messages) touches a
//! compact per-node status array for the liveness checks at send and delivery time, and
//! the bulky per-node slot (state, random stream, timers) only for the node that runs.

use crate::clock::LocalClock;
use crate::error::{ConfigError, SimError};
use crate::fault::Fault;
use crate::id::NodeId;
use crate::load::{BandwidthState, CpuState, LoadConfig, scaled};
use crate::message_log::MessageLog;
use crate::network::{Network, NetworkConfig, Transmission};
use crate::node::{Ctx, Effect, Node, TimerId, TimerTable};
use crate::observe::{ObservationRecord, ObservationSink, Retain};
use crate::ops::{OpLog, OpRecord};
use crate::queue::{EventQueue, QueueEntry};
use crate::rng::{SimRng, Stream, stream_rng};
use crate::time::{SimDuration, SimTime};
use crate::trace::{Fingerprint, TraceEvent, TraceKind, TraceWriter};
use std::collections::VecDeque;
use std::io;

/// What happens to durable writes when a node crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageMode {
    /// Every write to durable state survives a crash.
    #[default]
    KeepAll,
    /// Only durable state as of the node's last `ctx.sync()` survives a crash.
    LoseUnsynced,
}

/// Settings of one run.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    /// The run seed; every random stream derives from it.
    pub seed: u64,
    /// Topology and link models.
    pub network: NetworkConfig,
    /// Crash behaviour of durable storage.
    pub storage: StorageMode,
    /// How many of the first messages to keep for the space-time diagram.
    pub message_log_limit: usize,
    /// The load model (service times, arrival queues, sync latency); `None` for none,
    /// the default: every handler takes no time. See [`crate::load`].
    pub load: Option<LoadConfig>,
}

/// Counts of what the engine did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events handled: starts, deliveries, timer firings, faults.
    pub events: u64,
    /// Messages nodes sent.
    pub messages_sent: u64,
    /// Messages (and duplicates) handed to their target.
    pub messages_delivered: u64,
    /// Messages lost, for any reason (the three counts below).
    pub messages_dropped: u64,
    /// Extra copies made by the duplication fault.
    pub messages_duplicated: u64,
    /// Timers that fired and were handled.
    pub timers_fired: u64,
    /// Lost by a link's drop ratio.
    pub dropped_by_link: u64,
    /// Lost to a partition, cut or isolation (at send or in flight).
    pub dropped_by_partition: u64,
    /// Lost because the target was down or restarted while it was in flight.
    pub dropped_at_crashed_node: u64,
    /// Lost because the target's arrival queue was full (the load model's
    /// `queue_capacity`).
    pub dropped_by_overload: u64,
}

/// Why a message was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The link's drop ratio.
    Link,
    /// A partition or cut, at send time or while in flight.
    Partition,
    /// The target was down, or crashed while the message was in flight.
    CrashedTarget,
    /// The target's arrival queue was full (load model).
    Overload,
}

impl DropReason {
    /// Snake-case word for outputs.
    pub fn word(self) -> &'static str {
        match self {
            DropReason::Link => "link",
            DropReason::Partition => "partition",
            DropReason::CrashedTarget => "crashed_target",
            DropReason::Overload => "overload",
        }
    }
}

/// What became of a logged message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageFate {
    /// Still travelling when the run ended.
    InFlight,
    /// Handled by its target at this time.
    Delivered(SimTime),
    /// Lost at this time.
    Dropped(SimTime, DropReason),
}

/// Longest message label ([`MessageLog::label`]), in bytes.
const LABEL_BYTES_MAX: usize = 48;

/// A message's label, at most 48 bytes of text held inline, with no allocation.
///
/// The engine computes a logged message's label on the stack, then the message log
/// stores its text once in the log's shared arena ([`MessageLog`]). It reads as a
/// `&str` (`Deref`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct MessageLabel {
    /// Length of the text in `bytes`.
    len: u8,
    /// The text, UTF-8, in the first `len` bytes.
    bytes: [u8; LABEL_BYTES_MAX],
}

impl MessageLabel {
    /// The label's text.
    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this never falls back.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

#[cfg(test)]
impl From<&str> for MessageLabel {
    /// The first 48 bytes of `text`, cut before a character that would straddle them.
    fn from(text: &str) -> Self {
        let cut = whole_chars_within(text, LABEL_BYTES_MAX);
        let mut bytes = [0; LABEL_BYTES_MAX];
        bytes[..cut].copy_from_slice(&text.as_bytes()[..cut]);
        MessageLabel {
            len: cut as u8,
            bytes,
        }
    }
}

impl std::ops::Deref for MessageLabel {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for MessageLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
impl PartialEq<str> for MessageLabel {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
impl PartialEq<&str> for MessageLabel {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The length of the longest prefix of `text` that is whole characters and at most
/// `max` bytes long.
fn whole_chars_within(text: &str, max: usize) -> usize {
    (0..=max.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The first [`LABEL_BYTES_MAX`] bytes (whole characters) of `value`'s `Debug` text.
///
/// Formatting stops there (the writer refuses the rest, which ends `Debug`), so a
/// large message (a snapshot, a batch) costs no more than a small one, and the label
/// is held inline in its record ([`MessageLabel`]), with no allocation of its own.
fn short_debug(value: &impl std::fmt::Debug) -> MessageLabel {
    /// The label so far; `full` once a piece did not fit, after which nothing more is
    /// taken (even from a `Debug` that ignores the error).
    struct Bounded {
        bytes: [u8; LABEL_BYTES_MAX],
        len: usize,
        full: bool,
    }
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            if self.full {
                return Err(std::fmt::Error);
            }
            let room = LABEL_BYTES_MAX - self.len;
            let take = if text.len() <= room {
                text.len()
            } else {
                self.full = true;
                whole_chars_within(text, room)
            };
            self.bytes[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
            self.len += take;
            if self.full {
                Err(std::fmt::Error)
            } else {
                Ok(())
            }
        }
    }
    let mut label = Bounded {
        bytes: [0; LABEL_BYTES_MAX],
        len: 0,
        full: false,
    };
    // An error only means the label is full.
    let _ = std::fmt::write(&mut label, format_args!("{value:?}"));
    // Whole characters were copied, so the bytes are UTF-8.
    MessageLabel {
        len: label.len as u8,
        bytes: label.bytes,
    }
}

/// A fault as it was applied.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRecord {
    /// When it took effect.
    pub time: SimTime,
    /// What it was.
    pub fault: Fault,
}

/// Everything a finished run leaves behind for checkers and reports.
#[derive(Clone, Debug)]
pub struct RunOutput<E> {
    /// The run seed.
    pub seed: u64,
    /// How many nodes took part.
    pub node_count: usize,
    /// Virtual time when the run stopped.
    pub end_time: SimTime,
    /// Engine counters.
    pub counters: Counters,
    /// Fingerprint of the ordered event trace.
    pub fingerprint: u64,
    /// Every observation, in order; with an observation sink, those it kept.
    pub observations: Vec<ObservationRecord<E>>,
    /// The client operations, paired as they happened ([`crate::ops`]), in invocation
    /// order: whether or not the sink kept their observations.
    pub ops: Vec<OpRecord>,
    /// Every fault applied, in order.
    pub fault_log: Vec<FaultRecord>,
    /// The first messages of the run.
    pub messages: MessageLog,
}

/// How many observations the engine gathers before handing them to the observation
/// sink: a bound on what it holds for the sink (about 400 KB for Paxos' records).
const SINK_BATCH: usize = 4_096;

/// Marks a message that is not in the message log.
const NOT_LOGGED: u32 = u32::MAX;

/// Marks the end of the slab's free list.
const NO_SLOT: u32 = u32::MAX;

/// What a queue entry stands for; lives in the slab.
enum Payload<N: Node> {
    /// An unused slot; `next` is the next free slot, or [`NO_SLOT`].
    Free {
        next: u32,
    },
    Start {
        node: NodeId,
    },
    Deliver {
        source: NodeId,
        target: NodeId,
        target_incarnation: u32,
        record: u32,
        sent_epoch: u32,
        digest: u64,
        msg: N::Msg,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        id: TimerId,
        deadline_local: SimTime,
        timer: N::Timer,
    },
    Fault {
        index: u32,
    },
    Resume {
        node: NodeId,
    },
    DegradeEnd {
        id: u64,
    },
    /// The end of a `degrade` fault's bandwidth cut (load model with bandwidth).
    BandwidthCutEnd {
        id: u64,
    },
    /// The service of the delivery or timer held in slab slot `held` ends: its handler
    /// runs now (load model).
    ServiceEnd {
        node: NodeId,
        incarnation: u32,
        held: u32,
    },
    /// The end of a `slow` or `slow_disk` fault (load model).
    SlowEnd {
        node: NodeId,
        part: SlowPart,
        generation: u32,
    },
    /// Effects a handler recorded after a `ctx.sync()`, due when the sync completes
    /// (load model).
    Effects {
        node: NodeId,
        incarnation: u32,
        effects: Vec<Effect<N>>,
    },
}

/// What a fail-slow fault slows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlowPart {
    Cpu,
    Disk,
}

/// The load model's state: its configuration, each node's servers, and its stream.
struct LoadState {
    config: LoadConfig,
    cpus: Vec<CpuState>,
    rng: SimRng,
    /// Link and NIC reservations; `None` when no link or NIC has a bandwidth.
    bandwidth: Option<BandwidthState>,
}

/// Builds a node from its durable state: at time zero and after every restart.
pub type NodeFactory<N> = Box<dyn FnMut(NodeId, &<N as Node>::Durable) -> N>;

/// What every send and delivery checks about a node, kept in an array of its own (8
/// bytes a node) so that checking a random target does not pull in its whole slot.
#[derive(Clone, Copy, Debug, Default)]
struct NodeStatus {
    /// Bumped on every crash: messages and timers of an earlier life are dropped.
    incarnation: u32,
    /// False while the node is crashed (its slot's `node` is `None`).
    up: bool,
    /// True while the node is paused (its slot's `paused_until` is `Some`).
    paused: bool,
}

struct NodeSlot<N: Node> {
    node: Option<N>,
    durable: N::Durable,
    synced: Option<N::Durable>,
    rng: SimRng,
    timers: TimerTable,
    clock: LocalClock,
    /// Sum of the steps applied to `clock` by `ClockOffset` faults ([`Ctx::monotonic`]).
    clock_steps_ns: i64,
    paused_until: Option<SimTime>,
    held: VecDeque<u32>,
}

/// A simulation of `N` nodes: the engine.
pub struct Simulation<N: Node> {
    now: SimTime,
    seq: u64,
    queue: EventQueue,
    slab: Vec<Payload<N>>,
    /// Head of the free list threaded through `slab`, or [`NO_SLOT`].
    free_head: u32,
    status: Vec<NodeStatus>,
    nodes: Vec<NodeSlot<N>>,
    factory: NodeFactory<N>,
    network: Network,
    network_rng: SimRng,
    seed: u64,
    counters: Counters,
    fingerprint: Fingerprint,
    trace: Option<TraceWriter>,
    observations: Vec<ObservationRecord<N::Event>>,
    /// The client operations, paired as their observations are made.
    ops: OpLog,
    /// Sees every observation first and decides which the engine keeps.
    observation_sink: Option<Box<dyn ObservationSink<N::Event>>>,
    /// Observations made while a sink is attached that it has not seen yet: handed
    /// over in batches of [`SINK_BATCH`] (the sink's work stays in cache, as when it
    /// ran after the run) and whenever `step` or `run_until` returns.
    unsunk: Vec<ObservationRecord<N::Event>>,
    scheduled_faults: Vec<Fault>,
    fault_log: Vec<FaultRecord>,
    messages: MessageLog,
    message_log_limit: usize,
    effects: Vec<Effect<N>>,
    error: Option<SimError>,
    /// The load model, when the run has one (see [`crate::load`]).
    load: Option<Box<LoadState>>,
}

impl<N: Node> Simulation<N> {
    /// A simulation of `node_count` nodes, each built by `factory` from default durable
    /// state; all start at time zero in id order.
    pub fn new(
        config: SimConfig,
        node_count: usize,
        mut factory: impl FnMut(NodeId, &N::Durable) -> N + 'static,
    ) -> Result<Self, ConfigError> {
        if node_count == 0 {
            return Err(ConfigError::NoNodes);
        }
        if node_count > u32::MAX as usize / 2 {
            return Err(ConfigError::Invalid(format!(
                "{node_count} nodes is too many"
            )));
        }
        let network = Network::new(config.network, node_count)?;
        let load = config.load;
        let nodes = (0..node_count)
            .map(|index| {
                let id = NodeId(index as u32);
                let durable = N::Durable::default();
                NodeSlot {
                    node: Some(factory(id, &durable)),
                    synced: (config.storage == StorageMode::LoseUnsynced).then(|| durable.clone()),
                    durable,
                    rng: stream_rng(config.seed, Stream::Node(id)),
                    timers: TimerTable::default(),
                    clock: LocalClock::default(),
                    clock_steps_ns: 0,
                    paused_until: None,
                    held: VecDeque::new(),
                }
            })
            .collect();
        let mut sim = Simulation {
            now: SimTime::ZERO,
            seq: 0,
            queue: EventQueue::default(),
            slab: Vec::new(),
            free_head: NO_SLOT,
            status: vec![
                NodeStatus {
                    incarnation: 0,
                    up: true,
                    paused: false,
                };
                node_count
            ],
            nodes,
            factory: Box::new(factory),
            network,
            network_rng: stream_rng(config.seed, Stream::Network),
            seed: config.seed,
            counters: Counters::default(),
            fingerprint: Fingerprint::default(),
            trace: None,
            observations: Vec::new(),
            ops: OpLog::default(),
            observation_sink: None,
            unsunk: Vec::new(),
            scheduled_faults: Vec::new(),
            fault_log: Vec::new(),
            messages: MessageLog::new(),
            message_log_limit: config.message_log_limit,
            effects: Vec::new(),
            error: None,
            load: None,
        };
        if let Some(load) = load {
            sim.set_load(load)?;
        }
        for index in 0..node_count {
            sim.schedule(
                SimTime::ZERO,
                Payload::Start {
                    node: NodeId(index as u32),
                },
            );
        }
        Ok(sim)
    }

    /// Turns the load model on (see [`crate::load`]): service times and arrival queues
    /// at nodes, storage sync latency. Call it before the run starts; without it every
    /// handler takes no time, as always.
    pub fn set_load(&mut self, config: LoadConfig) -> Result<(), ConfigError> {
        config.validate(self.nodes.len())?;
        let bandwidth = config
            .bandwidth
            .is_on()
            .then(|| BandwidthState::new(config.bandwidth.clone(), self.nodes.len()));
        self.load = Some(Box::new(LoadState {
            config,
            cpus: vec![CpuState::idle(); self.nodes.len()],
            rng: stream_rng(self.seed, Stream::Load),
            bandwidth,
        }));
        Ok(())
    }

    /// Streams the event trace to `writer` from now on.
    pub fn set_trace(&mut self, writer: TraceWriter) {
        self.trace = Some(writer);
    }

    /// Hands every observation from now on to `sink` as it is made; the engine keeps
    /// only those the sink answers [`Retain::Keep`] for (without a sink it keeps all).
    /// The run itself (events, fingerprint) is the same either way.
    /// By the time `step`, `run_until` or `into_output` returns, the sink has seen every
    /// observation made so far, in order.
    pub fn set_observation_sink(&mut self, sink: Box<dyn ObservationSink<N::Event>>) {
        self.flush_observations();
        self.observation_sink = Some(sink);
    }

    /// Detaches the observation sink, if one is attached, and returns it (after it has
    /// seen every observation made so far).
    pub fn take_observation_sink(&mut self) -> Option<Box<dyn ObservationSink<N::Event>>> {
        self.flush_observations();
        self.observation_sink.take()
    }

    /// Hands the observations the sink has not seen yet to it, keeping those it keeps.
    fn flush_observations(&mut self) {
        if self.unsunk.is_empty() {
            return;
        }
        let Some(sink) = &mut self.observation_sink else {
            for record in &self.unsunk {
                self.ops.copy(record);
            }
            self.observations.append(&mut self.unsunk);
            return;
        };
        // A released operation's values move into its op record; a kept one's are
        // copied, since its observation stays too.
        for record in self.unsunk.drain(..) {
            if sink.observe(&record) == Retain::Keep {
                self.ops.copy(&record);
                self.observations.push(record);
            } else {
                self.ops.take(record);
            }
        }
    }

    /// Hands every client operation event from now on to `sink` as the engine pairs it
    /// ([`crate::ops::OpSink`]); the run itself is the same with or without it.
    pub fn set_op_sink(&mut self, sink: Box<dyn crate::ops::OpSink>) {
        self.flush_observations();
        self.ops.set_sink(sink);
    }

    /// Stops tracing, flushes, and reports the first write error.
    pub fn finish_trace(&mut self) -> io::Result<()> {
        match self.trace.take() {
            Some(writer) => writer.finish(),
            None => Ok(()),
        }
    }

    /// Sets a node's clock before or during a run (drift changes keep the reading
    /// continuous; see [`Fault::ClockDrift`]).
    pub fn set_clock(&mut self, node: NodeId, clock: LocalClock) -> Result<(), ConfigError> {
        self.check_node(node)?;
        clock.validate()?;
        self.nodes[node.index()].clock = clock;
        Ok(())
    }

    /// Schedules `fault` at virtual time `at`, after checking every node it names and
    /// its parameters. Faults at equal times apply in the order they were scheduled.
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) -> Result<(), ConfigError> {
        for node in fault.nodes() {
            self.check_node(node)?;
        }
        match &fault {
            Fault::ClockDrift { drift_ppm, .. } => LocalClock {
                offset_ns: 0,
                drift_ppm: *drift_ppm,
            }
            .validate()?,
            Fault::Degrade {
                delay,
                drop_ratio,
                bandwidth_factor,
                ..
            } => {
                if let Some(delay) = delay {
                    delay.validate()?;
                }
                if let Some(ratio) = drop_ratio {
                    crate::network::check_probability("degrade drop", *ratio)?;
                }
                if let Some(factor) = bandwidth_factor
                    && !(factor.is_finite() && *factor > 0.0)
                {
                    return Err(ConfigError::Invalid(format!(
                        "degrade bandwidth_factor {factor} is not a finite positive number"
                    )));
                }
            }
            Fault::Slow { factor, .. } | Fault::SlowDisk { factor, .. }
                if !(factor.is_finite() && *factor > 0.0) =>
            {
                return Err(ConfigError::Invalid(format!(
                    "slow factor {factor} is not a finite positive number"
                )));
            }
            Fault::Partition(groups) if groups.len() > 63 => {
                return Err(ConfigError::Invalid("at most 63 partition groups".into()));
            }
            _ => {}
        }
        let at = at.max(self.now);
        let index = u32::try_from(self.scheduled_faults.len())
            .map_err(|_| ConfigError::Invalid("too many faults".into()))?;
        self.scheduled_faults.push(fault);
        self.schedule(at, Payload::Fault { index });
        Ok(())
    }

    fn check_node(&self, node: NodeId) -> Result<(), ConfigError> {
        if node.index() < self.nodes.len() {
            Ok(())
        } else {
            Err(ConfigError::UnknownNode {
                node,
                node_count: self.nodes.len(),
            })
        }
    }

    /// Current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Engine counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Fingerprint of the events so far.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint.value()
    }

    /// Observations kept so far: all of them, or with an observation sink attached,
    /// those it asked the engine to keep.
    pub fn observations(&self) -> &[ObservationRecord<N::Event>] {
        &self.observations
    }

    /// The client operations so far, paired ([`crate::ops`]); with an observation sink
    /// attached, up to the observations it has seen.
    pub fn ops(&self) -> &[OpRecord] {
        self.ops.ops()
    }

    /// Faults applied so far.
    pub fn fault_log(&self) -> &[FaultRecord] {
        &self.fault_log
    }

    /// The node's state, or `None` while it is crashed.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.nodes
            .get(id.index())
            .and_then(|slot| slot.node.as_ref())
    }

    /// The node's durable state.
    pub fn durable(&self, id: NodeId) -> &N::Durable {
        &self.nodes[id.index()].durable
    }

    /// True unless the node is crashed.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.node(id).is_some()
    }

    /// True while the node is paused.
    pub fn is_paused(&self, id: NodeId) -> bool {
        self.status[id.index()].paused
    }

    /// The node's local clock reading now.
    pub fn local_time(&self, id: NodeId) -> SimTime {
        self.nodes[id.index()].clock.local(self.now)
    }

    /// The network, for inspection and direct fault injection in tests.
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// Number of events waiting, including cancelled timers not yet skipped.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// Time of the next event, if any.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_time().map(SimTime)
    }

    /// Handles the next event. Returns false when there is none, or when the run
    /// stopped on an error.
    #[inline]
    pub fn step(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        let Some(entry) = self.queue.pop() else {
            return false;
        };
        self.handle(entry);
        self.flush_observations();
        true
    }

    /// Handles every event up to and including `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: SimTime) -> Result<(), SimError> {
        while self.error.is_none() {
            let Some(entry) = self.queue.pop_at_or_before(deadline.0) else {
                break;
            };
            self.handle(entry);
        }
        self.flush_observations();
        self.now = self.now.max(deadline);
        self.result()
    }

    /// Handles one entry just taken from the queue.
    #[inline(always)]
    fn handle(&mut self, entry: QueueEntry) {
        assert!(
            entry.time >= self.now.0,
            "virtual time went back from {} to {}",
            self.now.0,
            entry.time
        );
        self.now = SimTime(entry.time);
        let payload = self.take_slot(entry.slot);
        self.dispatch(payload);
    }

    /// Runs for `duration` of virtual time from now.
    pub fn run_for(&mut self, duration: SimDuration) -> Result<(), SimError> {
        self.run_until(self.now + duration)
    }

    /// Handles events until none is left. Protocols with periodic timers never go
    /// quiet: use [`Simulation::run_until`] for them.
    pub fn run_until_quiescent(&mut self) -> Result<(), SimError> {
        while self.step() {}
        self.result()
    }

    fn result(&self) -> Result<(), SimError> {
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Ends the run and hands over what it produced.
    pub fn into_output(mut self) -> RunOutput<N::Event> {
        self.flush_observations();
        RunOutput {
            seed: self.seed,
            node_count: self.nodes.len(),
            end_time: self.now,
            counters: self.counters,
            fingerprint: self.fingerprint.value(),
            observations: self.observations,
            ops: self.ops.into_ops(),
            fault_log: self.fault_log,
            messages: {
                self.messages.finish();
                self.messages
            },
        }
    }

    #[inline]
    fn schedule(&mut self, at: SimTime, payload: Payload<N>) {
        let slot = self.store(payload);
        self.push_entry(at, slot);
    }

    /// Puts a payload in a free slot of the slab (the most recently freed one, whose
    /// memory is likely still in cache) and returns the slot.
    #[inline]
    fn store(&mut self, payload: Payload<N>) -> u32 {
        if self.free_head == NO_SLOT {
            let slot = u32::try_from(self.slab.len())
                .ok()
                .filter(|&slot| slot != NO_SLOT)
                .expect("fewer than 2^32 - 1 pending events");
            self.slab.push(payload);
            return slot;
        }
        let slot = self.free_head;
        match std::mem::replace(&mut self.slab[slot as usize], payload) {
            Payload::Free { next } => self.free_head = next,
            _ => unreachable!("the free list holds only free slots"),
        }
        slot
    }

    /// Takes the payload out of a slot and frees the slot.
    #[inline]
    fn take_slot(&mut self, slot: u32) -> Payload<N> {
        let free = Payload::Free {
            next: self.free_head,
        };
        let payload = std::mem::replace(&mut self.slab[slot as usize], free);
        assert!(
            !matches!(payload, Payload::Free { .. }),
            "a queued or held slot holds a payload"
        );
        self.free_head = slot;
        payload
    }

    /// Stores a delivery or timer that arrived while its node is paused; it is handled
    /// when the node resumes.
    fn hold(&mut self, node: NodeId, payload: Payload<N>) {
        let slot = self.store(payload);
        self.nodes[node.index()].held.push_back(slot);
    }

    #[inline]
    fn push_entry(&mut self, at: SimTime, slot: u32) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(QueueEntry {
            time: at.0,
            seq,
            slot,
        });
    }

    #[inline]
    fn log(&mut self, kind: TraceKind, source: NodeId, target: NodeId, digest: u64) {
        let event = TraceEvent {
            time: self.now,
            kind,
            source,
            target,
            digest,
        };
        self.fingerprint.record(&event);
        if let Some(trace) = self.trace.as_mut() {
            trace.write(&event);
        }
    }

    #[inline(always)]
    fn dispatch(&mut self, payload: Payload<N>) {
        match payload {
            Payload::Deliver {
                source,
                target,
                target_incarnation,
                record,
                sent_epoch,
                digest,
                ..
            } => {
                let status = self.status[target.index()];
                let reason = if !status.up || status.incarnation != target_incarnation {
                    Some(DropReason::CrashedTarget)
                } else if sent_epoch != self.network.cut_epoch()
                    && self.network.lost_in_flight(source, target, sent_epoch)
                {
                    Some(DropReason::Partition)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    self.drop_message(source, target, digest, record, reason);
                } else if status.paused {
                    self.hold(target, payload);
                } else if self.load.is_some() {
                    self.arrive(target, payload);
                } else if let Payload::Deliver { msg, .. } = payload {
                    self.deliver(source, target, digest, record, msg);
                }
            }
            Payload::Timer {
                node,
                incarnation,
                id,
                ..
            } => {
                let status = self.status[node.index()];
                if status.incarnation != incarnation || !self.nodes[node.index()].timers.is_live(id)
                {
                    // Cancelled, or it belonged to a life of the node that crashed.
                    return;
                }
                if status.paused {
                    self.hold(node, payload);
                } else if let Payload::Timer {
                    deadline_local,
                    timer,
                    ..
                } = payload
                {
                    self.fire_when_due(node, incarnation, id, deadline_local, timer);
                }
            }
            Payload::Start { node } => {
                self.counters.events += 1;
                self.log(TraceKind::Start, node, node, 0);
                self.call(node, |state, ctx| state.on_start(ctx));
            }
            Payload::Fault { index } => {
                let fault = self.scheduled_faults[index as usize].clone();
                self.apply_fault(fault);
            }
            Payload::Resume { node } => self.resume(node),
            Payload::DegradeEnd { id } => self.network.end_degradation(id),
            Payload::BandwidthCutEnd { id } => {
                if let Some(bandwidth) = self.load.as_mut().and_then(|l| l.bandwidth.as_mut()) {
                    bandwidth.end_cut(id);
                }
            }
            Payload::ServiceEnd {
                node,
                incarnation,
                held,
            } => self.service_end(node, incarnation, held),
            Payload::Effects {
                node,
                incarnation,
                effects,
            } => self.apply_synced(node, incarnation, effects),
            Payload::SlowEnd {
                node,
                part,
                generation,
            } => self.slow_end(node, part, generation),
            Payload::Free { .. } => unreachable!("take_slot never returns a free slot"),
        }
    }

    #[inline(always)]
    fn deliver(&mut self, source: NodeId, target: NodeId, digest: u64, record: u32, msg: N::Msg) {
        self.counters.events += 1;
        self.counters.messages_delivered += 1;
        if record != NOT_LOGGED {
            self.set_fate(record, MessageFate::Delivered(self.now));
        }
        self.log(TraceKind::Deliver, source, target, digest);
        self.call(target, |state, ctx| state.on_message(ctx, source, msg));
    }

    /// Records what became of a logged message.
    #[cold]
    fn set_fate(&mut self, record: u32, fate: MessageFate) {
        self.messages.set_fate(record, fate);
    }

    /// Fires a live timer of a running node, or, when the node's clock was stepped
    /// back and its local time has not reached the deadline yet, queues it again for
    /// the virtual time when it will: timers never fire early by local time.
    fn fire_when_due(
        &mut self,
        node: NodeId,
        incarnation: u32,
        id: TimerId,
        deadline_local: SimTime,
        timer: N::Timer,
    ) {
        let clock = self.nodes[node.index()].clock;
        if clock.local(self.now) < deadline_local {
            let at = clock.virtual_when(deadline_local, self.now);
            self.schedule(
                at,
                Payload::Timer {
                    node,
                    incarnation,
                    id,
                    deadline_local,
                    timer,
                },
            );
            return;
        }
        if self.load.is_some() {
            self.arrive(
                node,
                Payload::Timer {
                    node,
                    incarnation,
                    id,
                    deadline_local,
                    timer,
                },
            );
            return;
        }
        self.fire_timer(node, id, timer);
    }

    fn fire_timer(&mut self, node: NodeId, id: TimerId, timer: N::Timer) {
        let retired = self.nodes[node.index()].timers.retire(id);
        assert!(retired, "a timer fires only while live");
        self.counters.events += 1;
        self.counters.timers_fired += 1;
        self.log(
            TraceKind::Timer,
            node,
            node,
            crate::trace::digest_debug(&timer),
        );
        self.call(node, |state, ctx| state.on_timer(ctx, timer));
    }

    fn drop_message(
        &mut self,
        source: NodeId,
        target: NodeId,
        digest: u64,
        record: u32,
        reason: DropReason,
    ) {
        self.counters.messages_dropped += 1;
        match reason {
            DropReason::Link => self.counters.dropped_by_link += 1,
            DropReason::Partition => self.counters.dropped_by_partition += 1,
            DropReason::CrashedTarget => self.counters.dropped_at_crashed_node += 1,
            DropReason::Overload => self.counters.dropped_by_overload += 1,
        }
        if record != NOT_LOGGED {
            self.set_fate(record, MessageFate::Dropped(self.now, reason));
        }
        self.log(TraceKind::Drop, source, target, digest);
    }

    /// Runs one handler of `node` (if it is up) and applies its effects.
    #[inline(always)]
    fn call(&mut self, node: NodeId, handler: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let node_count = self.nodes.len();
        let mut effects = std::mem::take(&mut self.effects);
        let slot = &mut self.nodes[node.index()];
        let Some(state) = slot.node.as_mut() else {
            self.effects = effects;
            return;
        };
        let local_now = slot.clock.local(self.now);
        {
            let mut ctx = Ctx::new(
                node,
                node_count,
                local_now,
                &mut slot.rng,
                &mut slot.durable,
                &mut slot.timers,
                &mut effects,
            )
            .with_sync_snapshot(&mut slot.synced)
            .with_clock_steps(slot.clock_steps_ns);
            handler(state, &mut ctx);
        }
        if self
            .load
            .as_ref()
            .is_some_and(|load| load.config.sync.is_some())
            && effects.iter().any(|effect| matches!(effect, Effect::Sync))
        {
            self.apply_with_syncs(node, local_now, &mut effects);
        } else {
            for effect in effects.drain(..) {
                self.apply_effect(node, local_now, effect);
            }
        }
        self.effects = effects;
    }

    #[inline(always)]
    fn apply_effect(&mut self, node: NodeId, local_now: SimTime, effect: Effect<N>) {
        match effect {
            Effect::Send { target, msg } => self.send(node, target, msg),
            Effect::SetTimer { id, after, timer } => {
                let deadline_local = local_now.saturating_add(after);
                let at = self.nodes[node.index()]
                    .clock
                    .virtual_when(deadline_local, self.now);
                let incarnation = self.status[node.index()].incarnation;
                self.schedule(
                    at,
                    Payload::Timer {
                        node,
                        incarnation,
                        id,
                        deadline_local,
                        timer,
                    },
                );
            }
            // Ctx already retired the id; the queue entry is skipped when it comes up.
            Effect::CancelTimer(_) => {}
            // `Ctx::sync` took the snapshot when it was called.
            Effect::Sync => {}
            Effect::Observe(observation) => {
                let record = ObservationRecord {
                    time: self.now,
                    node,
                    observation,
                };
                if self.observation_sink.is_some() {
                    self.unsunk.push(record);
                    if self.unsunk.len() >= SINK_BATCH {
                        self.flush_observations();
                    }
                } else {
                    self.ops.copy(&record);
                    self.observations.push(record);
                }
            }
        }
    }

    #[inline(always)]
    fn send(&mut self, source: NodeId, target: NodeId, msg: N::Msg) {
        let Some(&NodeStatus {
            incarnation: target_incarnation,
            ..
        }) = self.status.get(target.index())
        else {
            self.error = Some(SimError::UnknownTarget {
                source_node: source,
                target,
                node_count: self.nodes.len(),
            });
            return;
        };
        self.counters.messages_sent += 1;
        let digest = N::message_digest(&msg);
        self.log(TraceKind::Send, source, target, digest);
        let record = if self.messages.len() < self.message_log_limit {
            self.log_message(source, target, &msg)
        } else {
            NOT_LOGGED
        };
        match self
            .network
            .transmit(&mut self.network_rng, self.now, source, target)
        {
            Transmission::Unreachable => {
                self.drop_message(source, target, digest, record, DropReason::Partition)
            }
            Transmission::Dropped => {
                self.drop_message(source, target, digest, record, DropReason::Link)
            }
            Transmission::Scheduled {
                mut at,
                mut duplicate_at,
            } => {
                if source != target
                    && let Some(load) = self.load.as_deref_mut()
                    && let Some(bandwidth) = load.bandwidth.as_mut()
                {
                    (at, duplicate_at) =
                        Self::transmit(bandwidth, self.now, source, target, &msg, at, duplicate_at);
                }
                let sent_epoch = self.network.cut_epoch();
                if let Some(copy_at) = duplicate_at {
                    self.counters.messages_duplicated += 1;
                    self.log(TraceKind::Duplicate, source, target, digest);
                    let copy_record = self.log_copy(record);
                    self.schedule(
                        copy_at,
                        Payload::Deliver {
                            source,
                            target,
                            target_incarnation,
                            record: copy_record,
                            sent_epoch,
                            digest,
                            msg: msg.clone(),
                        },
                    );
                }
                self.schedule(
                    at,
                    Payload::Deliver {
                        source,
                        target,
                        target_incarnation,
                        record,
                        sent_epoch,
                        digest,
                        msg,
                    },
                );
            }
        }
    }

    /// Adds the transmission time of `msg` over its links and NICs with bandwidth to
    /// the network's arrival times (`at`, and the duplicate's), keeping the link's
    /// deliveries in order (load model with bandwidth).
    fn transmit(
        bandwidth: &mut BandwidthState,
        now: SimTime,
        source: NodeId,
        target: NodeId,
        msg: &N::Msg,
        at: SimTime,
        duplicate_at: Option<SimTime>,
    ) -> (SimTime, Option<SimTime>) {
        let Some(transmit_ns) = bandwidth.transmit(now.0, source, target, N::message_size(msg))
        else {
            return (at, duplicate_at);
        };
        let mut shifted = |time: SimTime| {
            SimTime(bandwidth.in_order(source, target, time.0.saturating_add(transmit_ns)))
        };
        let at = shifted(at);
        let duplicate_at = duplicate_at.map(&mut shifted);
        (at, duplicate_at)
    }

    /// Adds a message to the message log; returns its record number.
    #[cold]
    fn log_message(&mut self, source: NodeId, target: NodeId, msg: &N::Msg) -> u32 {
        let label = short_debug(msg);
        self.messages.push(source, target, self.now, &label)
    }

    /// Logs the network's copy of logged message `record` (while the log has room);
    /// returns the copy's record number, or [`NOT_LOGGED`].
    #[cold]
    fn log_copy(&mut self, record: u32) -> u32 {
        if record == NOT_LOGGED || self.messages.len() >= self.message_log_limit {
            return NOT_LOGGED;
        }
        self.messages.push_copy(record).unwrap_or(NOT_LOGGED)
    }

    fn apply_fault(&mut self, fault: Fault) {
        self.counters.events += 1;
        let now = self.now;
        let applied = match &fault {
            Fault::Crash(node) => self.crash(*node),
            Fault::Restart(node) => self.restart(*node),
            Fault::Pause { node, duration } => self.pause(*node, *duration),
            Fault::Partition(groups) => {
                self.network
                    .partition(groups)
                    .expect("partition groups were checked when scheduled");
                true
            }
            Fault::Cut { from, to } => {
                self.network
                    .cut(from, to)
                    .expect("cut nodes were checked when scheduled");
                true
            }
            Fault::Isolate(node) => {
                self.network
                    .isolate(*node)
                    .expect("isolated node was checked when scheduled");
                true
            }
            Fault::Heal => {
                self.network.heal();
                true
            }
            Fault::ClockOffset { node, offset_ns } => {
                let slot = &mut self.nodes[node.index()];
                let step = offset_ns.saturating_sub(slot.clock.offset_ns);
                slot.clock_steps_ns = slot.clock_steps_ns.saturating_add(step);
                slot.clock.offset_ns = *offset_ns;
                true
            }
            Fault::ClockDrift { node, drift_ppm } => {
                // Keep the reading continuous: only the rate changes.
                let clock = &mut self.nodes[node.index()].clock;
                let reading = i128::from(clock.local(now).0);
                let virtual_ns = i128::from(now.0);
                clock.drift_ppm = *drift_ppm;
                let offset = reading - virtual_ns - virtual_ns * i128::from(*drift_ppm) / 1_000_000;
                clock.offset_ns = offset.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                true
            }
            Fault::Degrade {
                nodes,
                delay,
                drop_ratio,
                bandwidth_factor,
                duration,
            } => {
                let id = self
                    .network
                    .degrade(nodes, delay.clone(), *drop_ratio)
                    .expect("degradation was checked when scheduled");
                self.schedule(now + *duration, Payload::DegradeEnd { id });
                // Without bandwidth, transmission takes no time: nothing to cut.
                if let Some(factor) = bandwidth_factor
                    && let Some(bandwidth) = self.load.as_mut().and_then(|l| l.bandwidth.as_mut())
                {
                    let cut = bandwidth.cut(nodes, *factor);
                    self.schedule(now + *duration, Payload::BandwidthCutEnd { id: cut });
                }
                true
            }
            Fault::Slow {
                node,
                factor,
                duration,
            } => {
                self.slow(*node, SlowPart::Cpu, *factor, *duration);
                true
            }
            Fault::SlowDisk {
                node,
                factor,
                duration,
            } => {
                self.slow(*node, SlowPart::Disk, *factor, *duration);
                true
            }
        };
        if applied {
            let digest = fault.digest();
            let node = fault.nodes().first().copied().unwrap_or_default();
            let kind = match fault {
                Fault::Crash(_) => TraceKind::Crash,
                Fault::Restart(_) => TraceKind::Restart,
                Fault::Pause { .. } => TraceKind::Pause,
                _ => TraceKind::Fault,
            };
            // `restart` already logged the restart, before `on_start` ran.
            if kind != TraceKind::Restart {
                self.log(kind, node, node, digest);
            }
            self.fault_log.push(FaultRecord { time: now, fault });
        }
    }

    /// The declared cost of handling a held delivery or timer (load model).
    fn cost_of(payload: &Payload<N>) -> u32 {
        match payload {
            Payload::Deliver { msg, .. } => N::message_cost(msg),
            Payload::Timer { timer, .. } => N::timer_cost(timer),
            _ => 0,
        }
    }

    /// A delivery or timer reaches its up, unpaused node under the load model: handled
    /// now when it costs nothing, put in service when a core is free, otherwise queued
    /// (or, for a message beyond the queue's capacity, dropped).
    fn arrive(&mut self, node: NodeId, payload: Payload<N>) {
        let cost = Self::cost_of(&payload);
        if cost == 0 {
            self.handle_now(node, payload);
            return;
        }
        let load = self
            .load
            .as_mut()
            .expect("arrive runs under the load model");
        let capacity = load.config.node(node);
        let (cores, queue_capacity) = (capacity.cores, capacity.queue_capacity);
        let cpu = &mut load.cpus[node.index()];
        if cpu.busy < cores {
            self.start_service(node, cost, payload);
            return;
        }
        let full = queue_capacity.is_some_and(|limit| cpu.waiting.len() >= limit as usize);
        match payload {
            Payload::Deliver {
                source,
                digest,
                record,
                ..
            } if full => {
                self.drop_message(source, node, digest, record, DropReason::Overload);
            }
            payload => {
                let slot = self.store(payload);
                self.load.as_mut().expect("load model").cpus[node.index()]
                    .waiting
                    .push_back(slot);
            }
        }
    }

    /// Occupies a free core with `payload` until its service ends; a service of zero
    /// time needs no core, and its handler runs at once.
    fn start_service(&mut self, node: NodeId, cost: u32, payload: Payload<N>) {
        let load = self
            .load
            .as_mut()
            .expect("service runs under the load model");
        let per_unit_ns = load.config.node(node).cpu.sample(&mut load.rng).0;
        let cpu = &mut load.cpus[node.index()];
        let service_ns = scaled(per_unit_ns, cost, cpu.cpu_factor);
        if service_ns == 0 {
            self.handle_now(node, payload);
            return;
        }
        cpu.busy += 1;
        let incarnation = self.status[node.index()].incarnation;
        let held = self.store(payload);
        self.schedule(
            self.now + SimDuration(service_ns),
            Payload::ServiceEnd {
                node,
                incarnation,
                held,
            },
        );
    }

    /// A service ends: the core is freed, the handler runs, and the next waiting
    /// arrival (if any) takes the core.
    fn service_end(&mut self, node: NodeId, incarnation: u32, held: u32) {
        let status = self.status[node.index()];
        if status.incarnation != incarnation {
            // The node crashed during the service (which freed its cores): lost.
            if let Payload::Deliver {
                source,
                digest,
                record,
                ..
            } = self.take_slot(held)
            {
                self.drop_message(source, node, digest, record, DropReason::CrashedTarget);
            }
            return;
        }
        if status.paused {
            self.hold(
                node,
                Payload::ServiceEnd {
                    node,
                    incarnation,
                    held,
                },
            );
            return;
        }
        let payload = self.take_slot(held);
        self.handle_now(node, payload);
        let load = self
            .load
            .as_mut()
            .expect("service runs under the load model");
        let cpu = &mut load.cpus[node.index()];
        // The handler cannot crash its own node, so the core is still counted busy.
        cpu.busy -= 1;
        self.start_waiting(node);
    }

    /// Puts waiting arrivals in service while cores are free.
    fn start_waiting(&mut self, node: NodeId) {
        loop {
            let Some(load) = self.load.as_mut() else {
                return;
            };
            let cores = load.config.node(node).cores;
            let cpu = &mut load.cpus[node.index()];
            if cpu.busy >= cores {
                return;
            }
            let Some(slot) = cpu.waiting.pop_front() else {
                return;
            };
            let payload = self.take_slot(slot);
            if let Payload::Timer { id, .. } = &payload
                && !self.nodes[node.index()].timers.is_live(*id)
            {
                // Cancelled while it waited: it takes no core.
                continue;
            }
            let cost = Self::cost_of(&payload);
            self.start_service(node, cost, payload);
        }
    }

    /// Runs the handler of a delivery or a (still live) timer at once.
    fn handle_now(&mut self, node: NodeId, payload: Payload<N>) {
        match payload {
            Payload::Deliver {
                source,
                digest,
                record,
                msg,
                ..
            } => self.deliver(source, node, digest, record, msg),
            Payload::Timer { id, timer, .. } => {
                if self.nodes[node.index()].timers.is_live(id) {
                    self.fire_timer(node, id, timer);
                }
            }
            _ => unreachable!("only deliveries and timers are handled"),
        }
    }

    /// Applies a handler's effects under a sync latency: those before its first sync
    /// now, each later group once every sync before it has completed.
    #[cold]
    fn apply_with_syncs(&mut self, node: NodeId, local_now: SimTime, effects: &mut Vec<Effect<N>>) {
        let incarnation = self.status[node.index()].incarnation;
        let mut delay_ns = 0u64;
        let mut group: Vec<Effect<N>> = Vec::new();
        let mut now_group = true;
        for effect in effects.drain(..) {
            if matches!(effect, Effect::Sync) {
                if !now_group && !group.is_empty() {
                    self.schedule_synced(node, incarnation, delay_ns, std::mem::take(&mut group));
                }
                now_group = false;
                let load = self
                    .load
                    .as_mut()
                    .expect("syncs take time under the load model");
                let sync = load.config.sync.as_ref().expect("a sync latency is set");
                let sample = sync.sample(&mut load.rng).0;
                delay_ns =
                    delay_ns.saturating_add(scaled(sample, 1, load.cpus[node.index()].disk_factor));
                continue;
            }
            if now_group {
                self.apply_effect(node, local_now, effect);
            } else {
                group.push(effect);
            }
        }
        if !group.is_empty() {
            self.schedule_synced(node, incarnation, delay_ns, group);
        }
    }

    /// Queues effects for when the syncs before them complete.
    fn schedule_synced(
        &mut self,
        node: NodeId,
        incarnation: u32,
        delay_ns: u64,
        effects: Vec<Effect<N>>,
    ) {
        self.schedule(
            self.now + SimDuration(delay_ns),
            Payload::Effects {
                node,
                incarnation,
                effects,
            },
        );
    }

    /// Applies effects whose syncs completed, unless the node crashed meanwhile (the
    /// reply that waited for its fsync never leaves) or is paused (they wait).
    fn apply_synced(&mut self, node: NodeId, incarnation: u32, effects: Vec<Effect<N>>) {
        let status = self.status[node.index()];
        if status.incarnation != incarnation || !status.up {
            return;
        }
        if status.paused {
            self.hold(
                node,
                Payload::Effects {
                    node,
                    incarnation,
                    effects,
                },
            );
            return;
        }
        let local_now = self.nodes[node.index()].clock.local(self.now);
        for effect in effects {
            self.apply_effect(node, local_now, effect);
        }
    }

    /// Multiplies a node's service times or sync latencies by `factor` for `duration`;
    /// a later slow fault of the same part replaces an earlier one. Without a load
    /// model nothing takes time, so nothing changes.
    fn slow(&mut self, node: NodeId, part: SlowPart, factor: f64, duration: SimDuration) {
        let Some(load) = self.load.as_mut() else {
            return;
        };
        let cpu = &mut load.cpus[node.index()];
        let generation = match part {
            SlowPart::Cpu => {
                cpu.cpu_factor = factor;
                cpu.slow_generation += 1;
                cpu.slow_generation
            }
            SlowPart::Disk => {
                cpu.disk_factor = factor;
                cpu.slow_disk_generation += 1;
                cpu.slow_disk_generation
            }
        };
        self.schedule(
            self.now + duration,
            Payload::SlowEnd {
                node,
                part,
                generation,
            },
        );
    }

    /// Ends a slow fault, unless a later one of the same part replaced it.
    fn slow_end(&mut self, node: NodeId, part: SlowPart, generation: u32) {
        let Some(load) = self.load.as_mut() else {
            return;
        };
        let cpu = &mut load.cpus[node.index()];
        match part {
            SlowPart::Cpu if cpu.slow_generation == generation => cpu.cpu_factor = 1.0,
            SlowPart::Disk if cpu.slow_disk_generation == generation => cpu.disk_factor = 1.0,
            _ => {}
        }
    }

    /// Crashes a node; false (and nothing happens) if it is already down.
    fn crash(&mut self, node: NodeId) -> bool {
        let slot = &mut self.nodes[node.index()];
        if slot.node.is_none() {
            return false;
        }
        slot.node = None;
        slot.timers = TimerTable::default();
        slot.paused_until = None;
        if let Some(synced) = &slot.synced {
            slot.durable = synced.clone();
        }
        let held: Vec<u32> = slot.held.drain(..).collect();
        let status = &mut self.status[node.index()];
        status.up = false;
        status.paused = false;
        status.incarnation += 1;
        let mut lost = held;
        if let Some(load) = self.load.as_mut() {
            let cpu = &mut load.cpus[node.index()];
            cpu.busy = 0;
            lost.extend(cpu.waiting.drain(..));
        }
        for lost_slot in lost {
            let payload = match self.take_slot(lost_slot) {
                // A service cut short: the delivery or timer it held is lost too.
                Payload::ServiceEnd { held, .. } => self.take_slot(held),
                payload => payload,
            };
            if let Payload::Deliver {
                source,
                digest,
                record,
                ..
            } = payload
            {
                self.drop_message(source, node, digest, record, DropReason::CrashedTarget);
            }
        }
        true
    }

    /// Restarts a crashed node from its durable state; false if it is up.
    fn restart(&mut self, node: NodeId) -> bool {
        let slot = &mut self.nodes[node.index()];
        if slot.node.is_some() {
            return false;
        }
        slot.node = Some((self.factory)(node, &slot.durable));
        self.status[node.index()].up = true;
        // Logged before on_start runs so the trace shows the restart first.
        self.log(TraceKind::Restart, node, node, 0);
        self.call(node, |state, ctx| state.on_start(ctx));
        true
    }

    /// Pauses a node; overlapping pauses extend to the later end.
    fn pause(&mut self, node: NodeId, duration: SimDuration) -> bool {
        let until = self.now + duration;
        let slot = &mut self.nodes[node.index()];
        if slot.node.is_none() {
            return false;
        }
        let end = slot
            .paused_until
            .map_or(until, |current| current.max(until));
        slot.paused_until = Some(end);
        self.status[node.index()].paused = true;
        self.schedule(end, Payload::Resume { node });
        true
    }

    /// Ends a pause (if this is its end) and handles everything that queued meanwhile,
    /// in arrival order.
    fn resume(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        match slot.paused_until {
            Some(end) if end <= self.now => slot.paused_until = None,
            _ => return,
        }
        self.status[node.index()].paused = false;
        self.log(TraceKind::Resume, node, node, 0);
        while let Some(held_slot) = self.nodes[node.index()].held.pop_front() {
            match self.take_slot(held_slot) {
                Payload::Deliver {
                    source,
                    digest,
                    record,
                    msg,
                    ..
                } if self.load.is_none() => self.deliver(source, node, digest, record, msg),
                deliver @ Payload::Deliver { .. } => self.arrive(node, deliver),
                Payload::ServiceEnd {
                    incarnation, held, ..
                } => self.service_end(node, incarnation, held),
                Payload::Effects {
                    incarnation,
                    effects,
                    ..
                } => self.apply_synced(node, incarnation, effects),
                Payload::Timer {
                    incarnation,
                    id,
                    deadline_local,
                    timer,
                    ..
                } => {
                    if self.nodes[node.index()].timers.is_live(id) {
                        self.fire_when_due(node, incarnation, id, deadline_local, timer);
                    }
                }
                _ => unreachable!("only deliveries, timers and their service ends are held"),
            }
            if self.error.is_some() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old label: the whole `Debug` text, cut at a character boundary.
    fn cut_whole(text: &str) -> &str {
        let cut = (0..=LABEL_BYTES_MAX.min(text.len()))
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        &text[..cut]
    }

    #[test]
    fn a_label_is_the_debug_text_cut_at_48_bytes_of_whole_characters() {
        // Stopping the formatter early must give exactly what formatting everything and
        // cutting gave, or report.html's labels would change; and a label cut from the
        // text (tests and reports building records) must equal the formatter's.
        #[derive(Debug)]
        #[allow(dead_code)] // read through Debug only
        struct Msg {
            name: &'static str,
            items: Vec<u64>,
        }
        let cases = [
            format!(
                "{:?}",
                Msg {
                    name: "short",
                    items: vec![1]
                }
            ),
            format!(
                "{:?}",
                Msg {
                    name: "long",
                    items: (0..1_000).collect()
                }
            ),
            // A two-byte character straddling byte 48: the cut goes before it.
            format!(
                "{:?}",
                Msg {
                    name: "ééééééééééééééééééééééééééééééé",
                    items: vec![]
                }
            ),
        ];
        let values: [&dyn std::fmt::Debug; 3] = [
            &Msg {
                name: "short",
                items: vec![1],
            },
            &Msg {
                name: "long",
                items: (0..1_000).collect(),
            },
            &Msg {
                name: "ééééééééééééééééééééééééééééééé",
                items: vec![],
            },
        ];
        for (text, value) in cases.iter().zip(values) {
            let label = short_debug(&value);
            assert_eq!(label, cut_whole(text));
            assert_eq!(MessageLabel::from(text.as_str()), label);
        }
        assert!(short_debug(&cases[1]).len() <= LABEL_BYTES_MAX);
        assert!(cut_whole(&cases[2]).len() < LABEL_BYTES_MAX);
    }

    #[test]
    fn a_message_label_is_at_most_48_bytes_with_no_allocation() {
        // A label is computed on the stack before the message log stores its text
        // (`MessageLog`): a `Copy` type cannot own heap memory, so computing one
        // allocates nothing; a label past 48 bytes would show here.
        fn no_heap<T: Copy>() {}
        no_heap::<MessageLabel>();
        let label =
            MessageLabel::from("Prepare { ballot: Ballot { round: 3, node: 1 }, slot: 12 }");
        assert_eq!(label.len(), LABEL_BYTES_MAX);
        assert_eq!(label, "Prepare { ballot: Ballot { round: 3, node: 1 }, ");
    }
}
