//! Shared helpers of the dsim-core integration tests: an in-memory trace buffer and its
//! parser, a probe protocol whose every message and timer is visible to a checker, and
//! a tiny gossip protocol for determinism checks.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

use dsim_core::rng::{below, chance};
use dsim_core::{
    Ctx, Node, NodeId, Observation, ObservationRecord, SimDuration, Simulation, TimerId,
    TraceWriter,
};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::rc::Rc;

// ---------------------------------------------------------------------------------------
// Trace capture
// ---------------------------------------------------------------------------------------

/// A `Write` into a buffer the test keeps a handle to.
pub struct SharedBuffer(pub Rc<RefCell<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts tracing `sim` into memory; returns the buffer.
pub fn capture_trace<N: Node>(sim: &mut Simulation<N>) -> Rc<RefCell<Vec<u8>>> {
    let buffer = Rc::new(RefCell::new(Vec::new()));
    sim.set_trace(TraceWriter::new(Box::new(SharedBuffer(buffer.clone()))));
    buffer
}

/// Flushes the trace of `sim` and returns its text.
pub fn finish_trace<N: Node>(sim: &mut Simulation<N>, buffer: &Rc<RefCell<Vec<u8>>>) -> String {
    sim.finish_trace().expect("in-memory trace writes succeed");
    String::from_utf8(buffer.borrow().clone()).expect("the trace is UTF-8")
}

/// One parsed trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub time_ns: u64,
    pub kind: String,
    pub source: u32,
    pub target: u32,
    pub digest: u64,
}

/// Parses the CSV a `TraceWriter` writes, checking the header.
pub fn parse_trace(text: &str) -> Vec<TraceLine> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_ns,kind,source,target,digest"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 5, "trace line {line:?}");
            TraceLine {
                time_ns: fields[0].parse().expect("time_ns"),
                kind: fields[1].to_string(),
                source: fields[2].parse().expect("source"),
                target: fields[3].parse().expect("target"),
                digest: u64::from_str_radix(fields[4], 16).expect("digest"),
            }
        })
        .collect()
}

/// FNV-1a of some bytes: a compact digest of a whole trace for cross-process checks.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xCBF2_9CE4_8422_2325u64;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}

// ---------------------------------------------------------------------------------------
// The probe protocol
// ---------------------------------------------------------------------------------------

/// A probe message: its ends and its sequence number on that (source, target) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeMsg {
    pub source: u32,
    pub target: u32,
    pub seq: u32,
}

impl ProbeMsg {
    /// A unique id per (source, target, seq); the message digest in the trace.
    pub fn id(self) -> u64 {
        pack_id(self.source, self.target, self.seq)
    }
}

/// The id of a probe message; see [`ProbeMsg::id`].
pub fn pack_id(source: u32, target: u32, seq: u32) -> u64 {
    assert!(source < 1 << 16 && target < 1 << 16 && seq < 1 << 30);
    (u64::from(source) << 48) | (u64::from(target) << 32) | (u64::from(seq) + 1)
}

/// The (source, target, seq) of a probe message id.
pub fn unpack_id(id: u64) -> (u32, u32, u32) {
    (
        (id >> 48) as u32,
        ((id >> 32) & 0xFFFF) as u32,
        (id & 0xFFFF_FFFF) as u32 - 1,
    )
}

/// Probe timers: the periodic send tick, and extra timers that only check timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeTimer {
    Tick,
    Probe { token: u64 },
}

/// What a probe observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeEvent {
    Started,
    Sent {
        id: u64,
    },
    Received {
        id: u64,
    },
    TimerSet {
        token: u64,
        local_ns: u64,
        after_ns: u64,
    },
    TimerFired {
        token: u64,
        local_ns: u64,
    },
    TimerCancelled {
        token: u64,
    },
}

/// What survives a probe's crash: its sequence numbers and timer tokens, so ids stay
/// unique across restarts.
#[derive(Clone, Debug, Default)]
pub struct ProbeDurable {
    pub next_seq: Vec<u32>,
    pub next_token: u64,
}

/// How a probe behaves.
#[derive(Clone, Copy, Debug)]
pub struct ProbeConfig {
    /// Ticks come every 1..=tick_ms_max whole milliseconds of local time.
    pub tick_ms_max: u64,
    /// Extra timers get a delay in 0..probe_after_ns_max nanoseconds (0 disables them).
    pub probe_after_ns_max: u64,
    /// Chance that a tick cancels the pending extra timer instead of letting it run.
    pub cancel_ratio: f64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            tick_ms_max: 5,
            probe_after_ns_max: 20_000_000,
            cancel_ratio: 0.3,
        }
    }
}

/// Sends one message per tick to a random node (itself included) and keeps one extra
/// timer in play; observes everything it does.
#[derive(Clone, Debug)]
pub struct ProbeNode {
    pub config: ProbeConfig,
    pub pending_probe: Option<(TimerId, u64)>,
}

impl ProbeNode {
    pub fn new(config: ProbeConfig) -> Self {
        ProbeNode {
            config,
            pending_probe: None,
        }
    }

    fn schedule_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        let interval_ms = 1 + below(ctx.rng(), self.config.tick_ms_max);
        ctx.set_timer(SimDuration::from_millis(interval_ms), ProbeTimer::Tick);
    }
}

impl Node for ProbeNode {
    type Msg = ProbeMsg;
    type Timer = ProbeTimer;
    type Durable = ProbeDurable;
    type Event = ProbeEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let node_count = ctx.node_count();
        ctx.durable_mut().next_seq.resize(node_count, 0);
        ctx.observe(Observation::Protocol(ProbeEvent::Started));
        self.schedule_tick(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: ProbeMsg) {
        assert_eq!(
            msg.source, source.0,
            "the engine hands over the true source"
        );
        assert_eq!(
            msg.target,
            ctx.id().0,
            "the engine delivers to the addressee"
        );
        ctx.observe(Observation::Protocol(ProbeEvent::Received { id: msg.id() }));
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: ProbeTimer) {
        match timer {
            ProbeTimer::Tick => {
                let node_count = ctx.node_count() as u64;
                let target = below(ctx.rng(), node_count) as u32;
                let source = ctx.id().0;
                let seq = {
                    let next = &mut ctx.durable_mut().next_seq[target as usize];
                    *next += 1;
                    *next - 1
                };
                let msg = ProbeMsg {
                    source,
                    target,
                    seq,
                };
                ctx.send(NodeId(target), msg);
                ctx.observe(Observation::Protocol(ProbeEvent::Sent { id: msg.id() }));
                if self.config.probe_after_ns_max > 0 {
                    if let Some((id, token)) = self.pending_probe
                        && chance(ctx.rng(), self.config.cancel_ratio)
                    {
                        ctx.cancel_timer(id);
                        ctx.observe(Observation::Protocol(ProbeEvent::TimerCancelled { token }));
                        self.pending_probe = None;
                    }
                    if self.pending_probe.is_none() {
                        let after_ns = below(ctx.rng(), self.config.probe_after_ns_max);
                        let token = ctx.durable().next_token;
                        ctx.durable_mut().next_token += 1;
                        let local_ns = ctx.now().0;
                        let id = ctx.set_timer(SimDuration(after_ns), ProbeTimer::Probe { token });
                        ctx.observe(Observation::Protocol(ProbeEvent::TimerSet {
                            token,
                            local_ns,
                            after_ns,
                        }));
                        self.pending_probe = Some((id, token));
                    }
                }
                self.schedule_tick(ctx);
            }
            ProbeTimer::Probe { token } => {
                let local_ns = ctx.now().0;
                ctx.observe(Observation::Protocol(ProbeEvent::TimerFired {
                    token,
                    local_ns,
                }));
                if self.pending_probe.map(|(_, t)| t) == Some(token) {
                    self.pending_probe = None;
                }
            }
        }
    }

    fn message_digest(msg: &ProbeMsg) -> u64 {
        msg.id()
    }
}

/// The protocol events of a run, with time and node.
pub fn probe_events(records: &[ObservationRecord<ProbeEvent>]) -> Vec<(u64, u32, ProbeEvent)> {
    records
        .iter()
        .filter_map(|record| match record.observation {
            Observation::Protocol(event) => Some((record.time.0, record.node.0, event)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// A small gossip protocol with timers and observations
// ---------------------------------------------------------------------------------------

/// Gossip messages: push what you know, acknowledge a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GossipMsg {
    Push { rumors: Vec<u32> },
    Ack { known: u32 },
}

/// Gossip timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipTimer {
    Round,
}

/// A node of the gossip protocol: every round (10 ms plus jitter) it pushes its rumors
/// to a random peer; node `i` starts knowing rumor `i` if `i` is even. Rumors it
/// learns are durable; the round counter is volatile.
#[derive(Clone, Debug, Default)]
pub struct GossipNode {
    pub rounds: u64,
}

impl Node for GossipNode {
    type Msg = GossipMsg;
    type Timer = GossipTimer;
    type Durable = BTreeSet<u32>;
    type Event = u32;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let id = ctx.id().0;
        if id % 2 == 0 {
            ctx.durable_mut().insert(id);
        }
        let jitter_ns = below(ctx.rng(), 5_000_000);
        ctx.set_timer(SimDuration(jitter_ns), GossipTimer::Round);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: GossipMsg) {
        match msg {
            GossipMsg::Push { rumors } => {
                let mut learned = 0;
                for rumor in rumors {
                    if ctx.durable_mut().insert(rumor) {
                        learned += 1;
                        ctx.observe(Observation::Protocol(rumor));
                    }
                }
                if learned > 0 {
                    ctx.sync();
                }
                let known = ctx.durable().len() as u32;
                ctx.send(source, GossipMsg::Ack { known });
            }
            GossipMsg::Ack { known } => ctx.observe(Observation::Metric {
                name: "peer_known",
                value: u64::from(known),
            }),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: GossipTimer) {
        match timer {
            GossipTimer::Round => {
                self.rounds += 1;
                let node_count = ctx.node_count() as u64;
                let peer = below(ctx.rng(), node_count) as u32;
                let rumors: Vec<u32> = ctx.durable().iter().copied().collect();
                if peer != ctx.id().0 {
                    ctx.send(NodeId(peer), GossipMsg::Push { rumors });
                }
                let jitter_ns = below(ctx.rng(), 5_000_000);
                ctx.set_timer(SimDuration(10_000_000 + jitter_ns), GossipTimer::Round);
            }
        }
    }
}
