//! The `Node` trait and `Ctx`: a node is a sans-IO state machine whose handlers record
//! effects as data; the engine applies, logs and fingerprints them.

use crate::id::NodeId;
use crate::observe::Observation;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use std::fmt;

/// A protocol participant. One type per simulation (use an enum for several roles),
/// one message enum, one timer enum.
pub trait Node: Sized {
    /// The messages this protocol sends (one enum per protocol).
    type Msg: Clone + fmt::Debug;
    /// The timers this protocol sets (one enum per protocol, never a string).
    type Timer: Clone + fmt::Debug;
    /// What survives a crash: the node is rebuilt from it on restart.
    type Durable: Clone + Default;
    /// Protocol-specific observations for the protocol's checker (use
    /// [`NoEvent`](crate::NoEvent) when there are none).
    type Event: Clone + fmt::Debug;

    /// Called once when the node first starts and again after every restart.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    /// Called for every message delivered to this node.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Self::Msg);
    /// Called when a timer this node set fires (and was not cancelled).
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// A 64-bit digest of a message for the run fingerprint. The default hashes the
    /// message's `Debug` text; hot protocols override it with something cheaper.
    fn message_digest(msg: &Self::Msg) -> u64 {
        crate::trace::digest_debug(msg)
    }

    /// The CPU cost of handling `msg`, in units of the node's per-unit time (see
    /// [`crate::load`]): 0, the default, means the handler takes no time. Only a run
    /// with a load model uses it.
    fn message_cost(msg: &Self::Msg) -> u32 {
        let _ = msg;
        0
    }

    /// The CPU cost of handling `timer`, like [`Node::message_cost`]; 0 by default.
    fn timer_cost(timer: &Self::Timer) -> u32 {
        let _ = timer;
        0
    }

    /// The size of `msg` on the wire, in bytes: with link or NIC bandwidth (see
    /// [`crate::load`]) its transmission takes `size * 8 / bandwidth`. The default is
    /// [`DEFAULT_MESSAGE_SIZE_BYTES`] for every message; protocols whose messages carry
    /// data override it. Only a run with bandwidth uses it.
    fn message_size(msg: &Self::Msg) -> u64 {
        let _ = msg;
        DEFAULT_MESSAGE_SIZE_BYTES
    }
}

/// The size of a message whose protocol does not declare one ([`Node::message_size`]):
/// 100 bytes, about a small RPC with its TCP/IP headers.
pub const DEFAULT_MESSAGE_SIZE_BYTES: u64 = 100;

/// Names a timer so that it can be cancelled. Lazy cancellation: the id's generation
/// stops matching its slot, and the queue entry is skipped when it comes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

/// The generation table behind [`TimerId`]s: set, cancel and fire are all O(1).
#[derive(Debug, Default)]
pub struct TimerTable {
    generations: Vec<u32>,
    free: Vec<u32>,
}

impl TimerTable {
    /// Reserves a slot for a new timer.
    pub fn allocate(&mut self) -> TimerId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.generations.push(0);
                u32::try_from(self.generations.len() - 1).expect("more than 2^32 live timers")
            }
        };
        TimerId {
            slot,
            generation: self.generations[slot as usize],
        }
    }

    /// True while the timer was neither cancelled nor fired.
    pub fn is_live(&self, id: TimerId) -> bool {
        self.generations[id.slot as usize] == id.generation
    }

    /// Ends a live timer (cancelled or fired) and frees its slot; returns false when the
    /// id was already dead, which is harmless.
    pub fn retire(&mut self, id: TimerId) -> bool {
        if !self.is_live(id) {
            return false;
        }
        let generation = &mut self.generations[id.slot as usize];
        *generation = generation.wrapping_add(1);
        self.free.push(id.slot);
        true
    }

    /// How many timers are live.
    pub fn live_count(&self) -> usize {
        self.generations.len() - self.free.len()
    }
}

/// One effect of a handler, applied by the engine after the handler returns.
#[derive(Clone, Debug)]
pub enum Effect<N: Node> {
    /// Send `msg` to `target` through the network model.
    Send {
        /// Receiver.
        target: NodeId,
        /// Payload.
        msg: N::Msg,
    },
    /// Fire `timer` once `after` has passed on this node's local clock.
    SetTimer {
        /// The id returned to the handler.
        id: TimerId,
        /// Local-clock delay.
        after: SimDuration,
        /// Payload handed back to `on_timer`.
        timer: N::Timer,
    },
    /// Cancel a timer (no effect if it already fired).
    CancelTimer(TimerId),
    /// Persist the durable state as it is now: with unsynced-write loss enabled, only
    /// synced state survives a crash.
    Sync,
    /// Record an observation.
    Observe(Observation<N::Event>),
}

/// What a handler can see and do. Effects are recorded, never applied directly.
pub struct Ctx<'a, N: Node> {
    id: NodeId,
    node_count: usize,
    local_now: SimTime,
    /// Sum of the steps (`ClockOffset` faults) applied to this node's clock so far.
    clock_steps_ns: i64,
    rng: &'a mut SimRng,
    durable: &'a mut N::Durable,
    timers: &'a mut TimerTable,
    effects: &'a mut Vec<Effect<N>>,
    /// Where `sync` stores its snapshot; `None` when every write survives a crash.
    synced: Option<&'a mut Option<N::Durable>>,
}

impl<'a, N: Node> Ctx<'a, N> {
    /// A context over the given parts. The engine builds one per handler call; tests
    /// use [`CtxParts`] instead.
    ///
    /// ```
    /// # use dsim_core::{Ctx, Effect, Node, NodeId, SimTime};
    /// # use dsim_core::node::TimerTable;
    /// # use dsim_core::rng::{Stream, stream_rng};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = (); type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// let mut rng = stream_rng(7, Stream::Node(NodeId(0)));
    /// let (mut durable, mut timers, mut effects) = (0u64, TimerTable::default(), Vec::new());
    /// let mut ctx: Ctx<'_, Pinger> = Ctx::new(
    ///     NodeId(0), 2, SimTime(5), &mut rng, &mut durable, &mut timers, &mut effects,
    /// );
    /// ctx.send(NodeId(1), Ping);
    /// assert_eq!(ctx.now(), SimTime(5));
    /// assert!(matches!(effects[..], [Effect::Send { target: NodeId(1), .. }]));
    /// ```
    pub fn new(
        id: NodeId,
        node_count: usize,
        local_now: SimTime,
        rng: &'a mut SimRng,
        durable: &'a mut N::Durable,
        timers: &'a mut TimerTable,
        effects: &'a mut Vec<Effect<N>>,
    ) -> Self {
        Ctx {
            id,
            node_count,
            local_now,
            clock_steps_ns: 0,
            rng,
            durable,
            timers,
            effects,
            synced: None,
        }
    }

    /// Tells the context how far the node's clock has been stepped in all (the sum of
    /// its `ClockOffset` changes), so that [`Ctx::monotonic`] can leave steps out.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// parts.local_now = SimTime(2_000_000_000);
    /// let ctx = parts.ctx().with_clock_steps(-500_000_000); // stepped back 0.5s
    /// assert_eq!(ctx.monotonic(), SimTime(2500_000_000));
    /// ```
    pub fn with_clock_steps(mut self, clock_steps_ns: i64) -> Self {
        self.clock_steps_ns = clock_steps_ns;
        self
    }

    /// Makes [`Ctx::sync`] store a snapshot of the durable state in `synced` at the
    /// moment it is called (for runs that lose unsynced writes). A `None` inside means
    /// the run keeps every write, and `sync` stores nothing.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let mut synced = Some(0u64); // the last synced state, as the engine keeps it
    /// let mut ctx = parts.ctx().with_sync_snapshot(&mut synced);
    /// *ctx.durable_mut() = 5;
    /// ctx.sync();
    /// *ctx.durable_mut() = 6; // not synced: a crash now would restart from 5
    /// assert_eq!(synced, Some(5));
    /// ```
    pub fn with_sync_snapshot(mut self, synced: &'a mut Option<N::Durable>) -> Self {
        self.synced = Some(synced);
        self
    }

    /// This node's id.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let ctx = parts.ctx();
    /// assert_eq!(ctx.id(), NodeId(1));
    /// ```
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// How many nodes the simulation has (ids `0..node_count`).
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let ctx = parts.ctx();
    /// // Every other node, e.g. to broadcast:
    /// let peers: Vec<NodeId> =
    ///     (0..ctx.node_count() as u32).map(NodeId).filter(|&n| n != ctx.id()).collect();
    /// assert_eq!(peers, vec![NodeId(0), NodeId(2)]);
    /// ```
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// This node's local clock: `offset + (1 + drift) * virtual time`. Like a wall
    /// clock it jumps when the clock is stepped (a `ClockOffset` fault).
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// parts.local_now = SimTime(250_000_000);
    /// let ctx = parts.ctx();
    /// assert_eq!(ctx.now(), SimTime(250_000_000));
    /// ```
    pub fn now(&self) -> SimTime {
        self.local_now
    }

    /// This node's monotonic clock: the local clock without its steps, so it runs at the
    /// local rate (drift included) but never jumps, like `CLOCK_MONOTONIC`. Measure
    /// intervals that safety depends on (leases) with this, not with [`Ctx::now`].
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// parts.local_now = SimTime(250_000_000);
    /// // The clock was stepped forward by 100ms at some point: `now` shows the step,
    /// // `monotonic` does not.
    /// let ctx = parts.ctx().with_clock_steps(100_000_000);
    /// assert_eq!(ctx.now(), SimTime(250_000_000));
    /// assert_eq!(ctx.monotonic(), SimTime(150_000_000));
    /// ```
    pub fn monotonic(&self) -> SimTime {
        SimTime(
            self.local_now
                .0
                .saturating_add_signed(self.clock_steps_ns.saturating_neg()),
        )
    }

    /// This node's own random stream.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// use dsim_core::rng::below;
    /// let mut ctx = parts.ctx();
    /// // Draw through dsim's samplers so that a dependency upgrade never changes a run.
    /// let peer = below(ctx.rng(), 3);
    /// assert!(peer < 3);
    /// // Same seed and node, same draws: runs replay.
    /// let mut again = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// assert_eq!(below(again.ctx().rng(), 3), peer);
    /// ```
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// The state that survives crashes.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// parts.durable = 41; // what a restarted node finds
    /// let ctx = parts.ctx();
    /// assert_eq!(*ctx.durable(), 41);
    /// ```
    pub fn durable(&self) -> &N::Durable {
        self.durable
    }

    /// Mutable durable state. Writes survive a crash unless the run loses unsynced
    /// writes and [`Ctx::sync`] was not called after them.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let mut ctx = parts.ctx();
    /// *ctx.durable_mut() += 1;
    /// ctx.sync(); // persist before telling anyone
    /// assert_eq!(parts.durable, 1);
    /// ```
    pub fn durable_mut(&mut self) -> &mut N::Durable {
        self.durable
    }

    /// Marks the durable state as persisted (an fsync).
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let mut ctx = parts.ctx();
    /// *ctx.durable_mut() = 9;
    /// ctx.sync();
    /// ctx.send(NodeId(0), Ping); // acknowledge only after the sync
    /// assert!(matches!(parts.effects[..], [Effect::Sync, Effect::Send { .. }]));
    /// ```
    pub fn sync(&mut self) {
        if let Some(Some(snapshot)) = self.synced.as_deref_mut() {
            snapshot.clone_from(self.durable);
        }
        self.effects.push(Effect::Sync);
    }

    /// Sends `msg` to `target`.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let mut ctx = parts.ctx();
    /// ctx.send(NodeId(2), Ping);
    /// // Recorded, not delivered: the engine applies it after the handler returns.
    /// assert_eq!(parts.take_sends(), vec![(NodeId(2), Ping)]);
    /// ```
    pub fn send(&mut self, target: NodeId, msg: N::Msg) {
        self.effects.push(Effect::Send { target, msg });
    }

    /// Sets a timer that fires after `after` on this node's local clock.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let mut ctx = parts.ctx();
    /// let id = ctx.set_timer(SimDuration::from_millis(50), Tick);
    /// assert!(matches!(
    ///     &parts.effects[..],
    ///     [Effect::SetTimer { id: set, after, timer: Tick }]
    ///         if *set == id && *after == SimDuration::from_millis(50)
    /// ));
    /// ```
    pub fn set_timer(&mut self, after: SimDuration, timer: N::Timer) -> TimerId {
        let id = self.timers.allocate();
        self.effects.push(Effect::SetTimer { id, after, timer });
        id
    }

    /// Cancels a timer; harmless if it already fired or was cancelled.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// let mut ctx = parts.ctx();
    /// let id = ctx.set_timer(SimDuration::from_millis(50), Tick);
    /// ctx.cancel_timer(id);
    /// ctx.cancel_timer(id); // a second cancel is harmless
    /// assert!(!parts.timers.is_live(id));
    /// assert_eq!(parts.timers.live_count(), 0);
    /// ```
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.timers.retire(id);
        self.effects.push(Effect::CancelTimer(id));
    }

    /// Records an observation for metrics and checkers.
    ///
    /// ```
    /// # use dsim_core::{Ctx, CtxParts, Effect, Node, NodeId, Observation, SimDuration, SimTime};
    /// # #[derive(Clone, Debug, PartialEq)] struct Ping;
    /// # #[derive(Clone, Debug, PartialEq)] struct Tick;
    /// # struct Pinger;
    /// # impl Node for Pinger {
    /// #     type Msg = Ping; type Timer = Tick; type Durable = u64; type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// // A pretend node 1 of 3 (seed 7), as tests drive handlers.
    /// let mut parts = CtxParts::<Pinger>::new(NodeId(1), 3, 7);
    /// use dsim_core::{Outcome, Value};
    /// let mut ctx = parts.ctx();
    /// ctx.observe(Observation::OpInvoked { op: 0, f: "read", key: None, arg: Value::Nil });
    /// ctx.observe(Observation::OpCompleted { op: 0, outcome: Outcome::Ok, ret: Value::Int(3) });
    /// assert_eq!(parts.effects.len(), 2);
    /// ```
    pub fn observe(&mut self, observation: Observation<N::Event>) {
        self.effects.push(Effect::Observe(observation));
    }
}

/// Everything a [`Ctx`] borrows, owned, so that tests can call handlers directly and
/// assert on the effects they record.
pub struct CtxParts<N: Node> {
    /// The node's id.
    pub id: NodeId,
    /// Number of nodes in the pretend simulation.
    pub node_count: usize,
    /// The local clock reading handlers will see.
    pub local_now: SimTime,
    /// The node's random stream.
    pub rng: SimRng,
    /// Durable state.
    pub durable: N::Durable,
    /// Timer generations.
    pub timers: TimerTable,
    /// Effects recorded so far.
    pub effects: Vec<Effect<N>>,
}

impl<N: Node> CtxParts<N> {
    /// Parts for node `id` of `node_count`, at local time zero, with a seeded stream.
    pub fn new(id: NodeId, node_count: usize, seed: u64) -> Self {
        CtxParts {
            id,
            node_count,
            local_now: SimTime::ZERO,
            rng: crate::rng::stream_rng(seed, crate::rng::Stream::Node(id)),
            durable: N::Durable::default(),
            timers: TimerTable::default(),
            effects: Vec::new(),
        }
    }

    /// A context borrowing these parts.
    pub fn ctx(&mut self) -> Ctx<'_, N> {
        Ctx::new(
            self.id,
            self.node_count,
            self.local_now,
            &mut self.rng,
            &mut self.durable,
            &mut self.timers,
            &mut self.effects,
        )
    }

    /// Takes the effects recorded so far.
    pub fn take_effects(&mut self) -> Vec<Effect<N>> {
        std::mem::take(&mut self.effects)
    }

    /// The messages sent so far, as (target, message), removing them from the effects.
    pub fn take_sends(&mut self) -> Vec<(NodeId, N::Msg)> {
        let mut sends = Vec::new();
        self.effects.retain(|effect| match effect {
            Effect::Send { target, msg } => {
                sends.push((*target, msg.clone()));
                false
            }
            _ => true,
        });
        sends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_timer_slot_is_reused_with_a_new_generation() {
        let mut table = TimerTable::default();
        let first = table.allocate();
        assert!(table.retire(first));
        let second = table.allocate();
        // Same slot, new generation: the old queue entry for `first` must not fire.
        assert_eq!(first.slot, second.slot);
        assert!(!table.is_live(first));
        assert!(table.is_live(second));
        assert!(
            !table.retire(first),
            "retiring a dead id must not free a live slot"
        );
        assert_eq!(table.live_count(), 1);
    }
}
