//! # One Multi-Paxos core
//!
//! The consensus part of every log-replicated protocol here: ballots, the durable
//! acceptor, the proposer (phase 1 with adoption of the highest-ballot accepted value
//! per slot, then phase 2 only while its ballot stands: a stable leader with
//! heartbeats), and the learner (the leader's commit index, catch-up of chosen values).
//! It is generic over the replicated [`StateMachine`] (its command type, its output)
//! and over the host protocol's node type through [`Host`], which maps the core's
//! messages, timers and observations into the protocol's own enums and answers
//! clients. The protocol keeps only what is its own: the client interface, sessions,
//! read paths and their buggy variants.
//!
//! The algorithm is Lamport's ("The Part-Time Parliament", "Paxos Made Simple"); see
//! the `paxos` module essay for how the key-value store uses it, and that module for
//! the guarantees and the failure model (crash-recovery with stable storage: every
//! reply that depends on durable state leaves after a `sync`).
//!
//! Quorum collection is the kit's ([`crate::kit::quorum`]): the proposer's promises
//! and each slot's acceptances are a [`QuorumCall`](crate::kit::quorum::QuorumCall)
//! with the replica's own durable vote counted up front, resent from the heartbeat
//! tick to the replicas that have not answered.
//!
//! Files: [`ballot`] (ballot numbers), [`msg`] (messages and timers), [`machine`]
//! (the state-machine trait), [`durable`] (the acceptor's durable state and the
//! learned log), `replica` (roles, timers and persistence), `proposer` (phases 1
//! and 2), `acceptor` (promises and acceptances), `learner` (commit index,
//! catch-up, applying).
//!
//! Options of the core ([`Config`]) carry the buggy variants that live inside
//! consensus: [`Adoption::Ignore`] is `paxos`'s `no-adopt`, and
//! [`Compaction::DiscardUnchosen`] its `compact-unchosen`. Other options serve hosts
//! that need more of consensus than the key-value store does (the Chubby cell of
//! `lock_service`): a leader lease ([`lease`]), group commit, the monotonic clock, a
//! staggered first election, and the outputs of the commands the leader applied
//! ([`Host::KEEPS_OUTPUTS`]). A leader *serves* ([`Replica::serving`]) once its lease
//! holds (when configured) and it applied every slot up to its phase-1 high-water mark.

pub mod ballot;
pub mod durable;
pub mod lease;
pub mod machine;
pub mod msg;

mod acceptor;
mod learner;
mod proposer;
mod replica;

pub use ballot::Ballot;
pub use durable::{Durable, SlotRecord};
pub use lease::LeaseConfig;
pub use machine::StateMachine;
pub use msg::{Msg, PromiseEntry, Timer};
pub use replica::Replica;

use dsim_core::{Ctx, Node, NodeId, SimDuration, SimTime};

/// The command type of a host's state machine.
pub type Cmd<H> = <<H as Host>::Machine as StateMachine>::Command;

/// What a new leader proposes in slots its phase-1 quorum reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Adoption {
    /// The value with the highest accepted ballot (Paxos).
    #[default]
    Highest,
    /// Its own value, ignoring what was reported: the planted `no-adopt` bug.
    Ignore,
}

/// What a snapshot discards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compaction {
    /// The chosen, applied prefix of the log (the machine holds it).
    #[default]
    ChosenPrefix,
    /// Also the accepted values of slots not known chosen: the planted
    /// `compact-unchosen` bug (an acceptor forgets a value a quorum may have chosen).
    DiscardUnchosen,
}

/// Which clock a replica measures timeouts and leases on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The node's local clock ([`Ctx::now`]): it drifts and may be stepped.
    #[default]
    Local,
    /// The node's monotonic clock ([`Ctx::monotonic`]): it drifts but never jumps, as
    /// leases need.
    Monotonic,
}

/// How long a replica waits before its first campaign on the first start of the cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FirstElection {
    /// An election wait drawn at random, like every later one.
    #[default]
    Random,
    /// `(id + 1) * election_timeout / 2`: replica 0 is the usual first leader, so that
    /// scenarios can name the leader they crash. Restarts draw at random.
    Staggered,
}

/// The core's settings for one run.
#[derive(Debug)]
pub struct Config<S: StateMachine> {
    /// Replica count: nodes `0..replicas`.
    pub replicas: usize,
    /// Base election timeout `t`: waits are drawn from `[t, 2t)`, the spread doubling
    /// per failed campaign (at most `[t, 9t)`).
    pub election_timeout: SimDuration,
    /// Heartbeat and retransmission period.
    pub heartbeat_interval: SimDuration,
    /// What a new leader proposes in reported slots.
    pub adoption: Adoption,
    /// A replica snapshots its machine and compacts its log once this many applied
    /// slots accumulated since the last snapshot (at least 1).
    pub snapshot_interval: u64,
    /// What a snapshot discards.
    pub compaction: Compaction,
    /// The clock timeouts and leases are measured on.
    pub clock: Clock,
    /// The wait before the first campaign of the cell.
    pub first_election: FirstElection,
    /// The leader lease, if the host needs one (see [`lease`]). With a lease, a leader
    /// refused by a higher promise runs phase 1 again above it at once (the acceptors
    /// that hold its lease let it through) instead of stepping down.
    pub lease: Option<LeaseConfig>,
    /// Group commit: with `Some(interval)` a leader proposes the commands that arrived
    /// meanwhile together (one sync for the group), once every slot it proposed before
    /// is chosen and `interval` passed since the previous group; with `None` it
    /// proposes each command as it arrives, up to a window of slots in flight.
    pub group_commit: Option<SimDuration>,
    /// The state machine's settings.
    pub machine: S::Config,
}

impl<S: StateMachine> Clone for Config<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: StateMachine> Copy for Config<S> {}

impl<S: StateMachine> Config<S> {
    /// Smallest number of replicas that forms a quorum.
    pub fn majority(&self) -> usize {
        self.replicas / 2 + 1
    }

    /// Whether `node` is a replica.
    pub fn is_replica(&self, node: NodeId) -> bool {
        node.index() < self.replicas
    }

    /// The time on the configured clock.
    pub fn now<N: Node>(&self, ctx: &Ctx<'_, N>) -> SimTime {
        match self.clock {
            Clock::Local => ctx.now(),
            Clock::Monotonic => ctx.monotonic(),
        }
    }
}

/// What the core reports; the host turns each into its own observations.
#[derive(Debug)]
pub enum Event<'a, S: StateMachine> {
    /// This replica accepted `value` in `slot` under `ballot`.
    Accepted {
        /// The slot.
        slot: u64,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: S::Command,
    },
    /// This replica learned `value` chosen for `slot`.
    Decided {
        /// The slot.
        slot: u64,
        /// The value.
        value: S::Command,
    },
    /// This replica applied `slot`.
    Applied {
        /// The slot.
        slot: u64,
        /// The command.
        value: S::Command,
        /// What the state machine said.
        output: &'a S::Output,
    },
    /// This replica installed another's snapshot of the slots below `through`.
    SnapshotInstalled {
        /// First slot not in the snapshot: the next one it applies.
        through: u64,
    },
    /// This replica won phase 1 with `ballot`.
    LeaderElected {
        /// The ballot.
        ballot: Ballot,
    },
}

/// A protocol whose replicas run the core: its node type maps the core's parts into
/// its own.
pub trait Host: Node + Sized {
    /// The replicated state machine.
    type Machine: StateMachine;

    /// The core's durable state inside the node's.
    fn core(durable: &Self::Durable) -> &Durable<Self::Machine>;

    /// The core's durable state inside the node's, mutably.
    fn core_mut(durable: &mut Self::Durable) -> &mut Durable<Self::Machine>;

    /// The protocol message carrying a core message.
    fn message(msg: Msg<Self::Machine>) -> Self::Msg;

    /// The protocol timer standing for a core timer.
    fn timer(timer: Timer) -> Self::Timer;

    /// Records what the core reports.
    fn observe(ctx: &mut Ctx<'_, Self>, event: Event<'_, Self::Machine>);

    /// Answers the client of `cmd` (it ran, or ran before): called after the sync
    /// that made its result durable.
    fn answer(ctx: &mut Ctx<'_, Self>, cmd: Cmd<Self>);

    /// Whether the leader keeps the output of every command it applies for the host to
    /// take ([`Replica::take_outputs`]): for hosts whose answers depend on more than
    /// the command (the lock service's grants, queues and expiries).
    const KEEPS_OUTPUTS: bool = false;
}

/// The output of one command a leader applied: slot, command, what the machine said.
pub type Output<H> = (u64, Cmd<H>, <<H as Host>::Machine as StateMachine>::Output);

/// Learns `value` chosen in `slot` (durably once the caller syncs); false if known.
pub fn learn<H: Host>(ctx: &mut Ctx<'_, H>, slot: u64, value: Cmd<H>) -> bool {
    if !H::core_mut(ctx.durable_mut()).learn(slot, value) {
        return false;
    }
    H::observe(ctx, Event::Decided { slot, value });
    true
}

/// Applies every chosen slot that is next in order, calling `each` after each one;
/// returns how many it applied.
pub fn apply_ready<H: Host>(
    ctx: &mut Ctx<'_, H>,
    config: &<H::Machine as StateMachine>::Config,
    mut each: impl FnMut(&mut Ctx<'_, H>, Cmd<H>),
) -> u64 {
    apply_ready_with(ctx, config, |ctx, value, _| each(ctx, value))
}

/// [`apply_ready`], handing `each` the machine's output too.
pub fn apply_ready_with<H: Host>(
    ctx: &mut Ctx<'_, H>,
    config: &<H::Machine as StateMachine>::Config,
    mut each: impl FnMut(&mut Ctx<'_, H>, Cmd<H>, <H::Machine as StateMachine>::Output),
) -> u64 {
    let mut count = 0;
    while let Some((slot, value, output)) = H::core_mut(ctx.durable_mut()).apply_next(config) {
        H::observe(
            ctx,
            Event::Applied {
                slot,
                value,
                output: &output,
            },
        );
        each(ctx, value, output);
        count += 1;
    }
    count
}
