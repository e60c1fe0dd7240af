//! A replica of the core: acceptor, proposer (leader when its ballot stands) and
//! learner in one; its roles, timers and persistence. The phases live in
//! `proposer.rs`, `acceptor.rs` and `learner.rs`.

use super::lease::{LeasePromise, LeaseRounds};
use super::{Ballot, Cmd, Config, FirstElection, Host, Msg, Output, StateMachine, Timer};
use crate::kit::quorum::{QuorumCall, Threshold};
use dsim_core::rng::below;
use dsim_core::{Ctx, NodeId, SimDuration, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// The most commands a replica queues while it has no leader to hand them to.
pub(super) const QUEUE_MAX: usize = 4096;

/// A Multi-Paxos replica driving the state machine of host `H`.
#[derive(Clone, Debug)]
pub struct Replica<H: Host> {
    pub(super) id: NodeId,
    pub(super) config: Config<H::Machine>,
    pub(super) role: Role<Cmd<H>>,
    /// The leader this replica follows, if it knows one.
    pub(super) leader: Option<NodeId>,
    /// The ballot of the leader it follows (`NONE` when unknown).
    pub(super) leader_ballot: Ballot,
    /// The highest commit index heard under `leader_ballot`.
    pub(super) leader_commit: u64,
    /// Local time of the last sign of a leader (or of the start of our own campaign).
    pub(super) last_contact: SimTime,
    /// How long silence must last before we campaign; redrawn on every attempt.
    pub(super) election_wait: SimDuration,
    /// Failed campaigns since we last heard a leader (drives the backoff).
    pub(super) attempts: u32,
    /// The highest round seen in any ballot, so a new ballot beats all of them.
    pub(super) max_round_seen: u32,
    /// First slot whose chosen value this replica does not know.
    pub(super) first_unchosen: u64,
    /// When we last asked the leader for chosen values.
    pub(super) catch_up_sent: Option<SimTime>,
    /// Client commands held while campaigning, proposed once we lead.
    pub(super) queue: VecDeque<Cmd<H>>,
    /// Durable state changed since the last sync.
    pub(super) dirty: bool,
    /// Commands whose clients get an answer once durable state is synced.
    pub(super) answers: Vec<Cmd<H>>,
    /// The acceptor's lease promise (volatile: a restart promises nobody for a lease).
    pub(super) lease: LeasePromise,
    /// What the leader applied, for the host to take ([`Host::KEEPS_OUTPUTS`]).
    pub(super) outputs: Vec<Output<H>>,
}

#[derive(Clone, Debug)]
pub(super) enum Role<C> {
    Follower,
    /// Boxed: a campaign is short-lived and holds a quorum call, and the role sits
    /// inline in every node of the host's node enum.
    Candidate(Box<Campaign<C>>),
    /// Boxed for the same reason.
    Leader(Box<Leading<C>>),
}

/// Phase 1 in progress.
#[derive(Clone, Debug)]
pub(super) struct Campaign<C> {
    /// First slot the prepares ask about; it moves up when a snapshot arrives, so
    /// each (re)send builds its prepare afresh.
    pub(super) from_slot: u64,
    /// The promises collected: the call's request is the ballot campaigned for, and
    /// our own promise is counted up front.
    pub(super) promises: QuorumCall<Ballot, ()>,
    /// Per slot, the highest-ballot accepted value any promise reported.
    pub(super) adopted: BTreeMap<u64, (Ballot, C)>,
}

impl<C> Campaign<C> {
    /// The ballot campaigned for.
    pub(super) fn ballot(&self) -> Ballot {
        *self.promises.request()
    }
}

/// Phase 2 under a ballot that stands.
#[derive(Clone, Debug)]
pub(super) struct Leading<C> {
    pub(super) ballot: Ballot,
    pub(super) next_slot: u64,
    /// Per slot not yet chosen, the acceptances of its proposed value (the call's
    /// request), our own counted up front.
    pub(super) proposals: BTreeMap<u64, QuorumCall<C, ()>>,
    /// Commands proposed but not yet applied, to their slot: a client's retry of one
    /// of these is not proposed again.
    pub(super) in_flight: BTreeMap<C, u64>,
    /// Commands waiting for room in `proposals` (or for the next group).
    pub(super) waiting: VecDeque<C>,
    /// Phase 1 reported slots below this: they must be applied before we serve.
    pub(super) recovery_end: u64,
    /// The lease rounds (unused without a lease).
    pub(super) lease: LeaseRounds,
    /// Group commit: when the last group went out.
    pub(super) flushed_at: SimTime,
}

impl<H: Host> Replica<H> {
    /// Replica `id` of a run with `config`.
    pub fn new(config: Config<H::Machine>, id: NodeId) -> Replica<H> {
        assert!(config.is_replica(id), "node {id} is not a replica");
        Replica {
            id,
            config,
            role: Role::Follower,
            leader: None,
            leader_ballot: Ballot::NONE,
            leader_commit: 0,
            last_contact: SimTime::ZERO,
            election_wait: config.election_timeout,
            attempts: 0,
            max_round_seen: 0,
            first_unchosen: 0,
            catch_up_sent: None,
            queue: VecDeque::new(),
            dirty: false,
            answers: Vec::new(),
            lease: LeasePromise::default(),
            outputs: Vec::new(),
        }
    }

    /// The ballot this replica serves under: it leads, its lease holds (when the core
    /// has one) and it applied every slot phase 1 recovered. A leader whose lease ran
    /// out steps down here.
    pub fn serving(&mut self, ctx: &mut Ctx<'_, H>) -> Option<Ballot> {
        let now = self.config.now(ctx);
        let Role::Leader(leading) = &self.role else {
            return None;
        };
        let ballot = leading.ballot;
        if let Some(lease) = self.config.lease {
            if leading.lease.lost(now, lease) {
                self.step_down();
                self.leader = None;
                self.last_contact = now;
                return None;
            }
            if !leading.lease.holds(now) {
                return None;
            }
        }
        if H::core(ctx.durable()).applied() < leading.recovery_end {
            return None;
        }
        Some(ballot)
    }

    /// The outputs of the commands the leader applied since the last call (only with
    /// [`Host::KEEPS_OUTPUTS`]).
    pub fn take_outputs(&mut self) -> Vec<Output<H>> {
        std::mem::take(&mut self.outputs)
    }

    /// The ballot this replica leads, if it is the leader.
    pub fn leading(&self) -> Option<Ballot> {
        match &self.role {
            Role::Leader(leading) => Some(leading.ballot),
            _ => None,
        }
    }

    /// The leader this replica currently follows (itself when leading).
    pub fn known_leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// First slot whose chosen value this replica does not know.
    pub fn first_unchosen(&self) -> u64 {
        self.first_unchosen
    }

    /// The core's settings.
    pub fn config(&self) -> &Config<H::Machine> {
        &self.config
    }

    /// Starts (or restarts, from durable state) the replica.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, H>) {
        let now = self.config.now(ctx);
        let durable = H::core(ctx.durable());
        let restart = durable.promised != Ballot::NONE || durable.log_len() > 0;
        self.first_unchosen = durable.first_unchosen_from(0);
        self.max_round_seen = durable.promised.round;
        self.last_contact = now;
        self.election_wait = if !restart && self.config.first_election == FirstElection::Staggered {
            let step = self.config.election_timeout.0 / 2;
            SimDuration(step.saturating_mul(u64::from(self.id.0) + 1))
        } else {
            self.draw_wait(ctx)
        };
        if restart && let Some(lease) = self.config.lease {
            // This acceptor may have acknowledged a lease round just before the crash
            // and no longer knows whose: it helps nobody into office for a lease.
            self.lease = LeasePromise::after_restart(now, lease);
        }
        // A crash cannot fall between learning and applying (both sync in one handler),
        // but applying here keeps the state machine right even if it did.
        self.apply(ctx);
        self.persist(ctx);
        ctx.set_timer(self.election_wait, H::timer(Timer::Election));
        ctx.set_timer(self.config.heartbeat_interval, H::timer(Timer::Tick));
    }

    /// Handles a core message; the caller ends the handler with [`Replica::persist`].
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, H>, source: NodeId, msg: Msg<H::Machine>) {
        match msg {
            Msg::Prepare { ballot, from_slot } => self.on_prepare(ctx, source, ballot, from_slot),
            Msg::Promise {
                ballot,
                entries,
                chosen,
            } => self.on_promise(ctx, source, ballot, &entries, &chosen),
            Msg::Accept {
                ballot,
                slot,
                value,
                commit,
            } => self.on_accept(ctx, source, ballot, slot, value, commit),
            Msg::Accepted { ballot, slot } => self.on_accepted(ctx, source, ballot, slot),
            Msg::Nack { promised } => self.on_nack(ctx, promised),
            Msg::Heartbeat { ballot, commit } => self.on_heartbeat(ctx, source, ballot, commit),
            Msg::LeaseRound {
                ballot,
                round,
                commit,
            } => self.on_lease_round(ctx, source, ballot, round, commit),
            Msg::LeaseAck { ballot, round } => self.on_lease_ack(ctx, source, ballot, round),
            Msg::CatchUp { from_slot } => self.on_catch_up(ctx, source, from_slot),
            Msg::Learn { entries } => self.on_learn(ctx, &entries),
            Msg::Snapshot { through, machine } => self.on_snapshot(ctx, through, machine),
        }
    }

    /// Handles a core timer; the caller ends the handler with [`Replica::persist`].
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, H>, timer: Timer) {
        match timer {
            Timer::Election => self.on_election_timer(ctx),
            Timer::Tick => self.on_tick(ctx),
        }
    }

    /// A client command reached this replica: a leader proposes it (at most once in
    /// flight), a candidate holds it, a follower answers it if it already ran. Returns
    /// the leader a follower should forward it to, if it knows another one.
    pub fn client_command(&mut self, ctx: &mut Ctx<'_, H>, cmd: Cmd<H>) -> Option<NodeId> {
        match &mut self.role {
            Role::Leader(_) => self.submit(ctx, cmd),
            Role::Candidate(_) => {
                if self.queue.len() < QUEUE_MAX && !self.queue.contains(&cmd) {
                    self.queue.push_back(cmd);
                }
            }
            Role::Follower => {
                if H::core(ctx.durable()).machine.has_run(cmd) {
                    self.answers.push(cmd);
                } else {
                    return self.leader.filter(|&leader| leader != self.id);
                }
            }
        }
        None
    }

    /// Syncs durable state if it changed, then answers the clients that waited for
    /// it. Every handler ends here, and every answer that depends on durable state
    /// comes after a call.
    pub fn persist(&mut self, ctx: &mut Ctx<'_, H>) {
        if self.dirty {
            ctx.sync();
            self.dirty = false;
        }
        for cmd in self.answers.drain(..) {
            H::answer(ctx, cmd);
        }
    }

    // ----- timers -------------------------------------------------------------------

    /// The election wait: uniform in `[t, t + t * 2^attempts)`, at most `[t, 9t)`.
    pub(super) fn draw_wait(&self, ctx: &mut Ctx<'_, H>) -> SimDuration {
        let base_ns = self.config.election_timeout.as_nanos();
        let spread_ns = base_ns.saturating_mul(1 << self.attempts.min(3)).max(1);
        SimDuration(base_ns + below(ctx.rng(), spread_ns))
    }

    fn on_election_timer(&mut self, ctx: &mut Ctx<'_, H>) {
        let now = self.config.now(ctx);
        if matches!(self.role, Role::Leader(_)) {
            // A leader never times out on itself; the timer keeps running so that it
            // is there again after a step-down.
            ctx.set_timer(self.config.election_timeout, H::timer(Timer::Election));
            return;
        }
        let due = self.election_due();
        if now >= due {
            self.start_election(ctx);
            ctx.set_timer(self.election_wait, H::timer(Timer::Election));
        } else {
            ctx.set_timer(SimDuration(due.0 - now.0), H::timer(Timer::Election));
        }
    }

    /// When a replica campaigns: an election wait after the last sign of a leader, and
    /// (with a lease) not before its lease promise to another leader ran out plus the
    /// random part of the wait, so that replicas whose promises end together do not
    /// all campaign at once.
    fn election_due(&self) -> SimTime {
        let after_contact = self.last_contact.saturating_add(self.election_wait);
        if self.config.lease.is_none() || self.lease.holder == Some(self.id) {
            return after_contact;
        }
        let jitter = SimDuration(
            self.election_wait
                .0
                .saturating_sub(self.config.election_timeout.0),
        );
        after_contact.max(self.lease.until.saturating_add(jitter))
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, H>) {
        match &self.role {
            Role::Leader(_) => self.leader_tick(ctx),
            Role::Candidate(_) => self.candidate_tick(ctx),
            Role::Follower => self.maybe_catch_up(ctx),
        }
        ctx.set_timer(self.config.heartbeat_interval, H::timer(Timer::Tick));
    }

    /// Leaves the leader or candidate role; in-flight work is dropped (clients retry).
    pub(super) fn step_down(&mut self) {
        self.role = Role::Follower;
        self.queue.clear();
    }
}

/// Every replica but `me`.
pub(super) fn peers(me: NodeId, replicas: usize) -> impl Iterator<Item = NodeId> {
    (0..replicas as u32)
        .map(NodeId)
        .filter(move |&peer| peer != me)
}

/// A majority call among all replicas for `request`, resent every `resend_after` by
/// the tick, with `me`'s own answer already counted: the caller has made it durable
/// (a promise, an acceptance) before anyone hears of the request.
pub(super) fn quorum_of_replicas<M: Clone>(
    me: NodeId,
    replicas: usize,
    request: M,
    resend_after: SimDuration,
) -> QuorumCall<M, ()> {
    let all = (0..replicas as u32).map(NodeId).collect();
    let mut call = QuorumCall::new(all, Threshold::Majority, request, resend_after);
    call.on_reply(me, ());
    call
}

/// Whether `cmd` already ran on this replica's state machine.
pub(super) fn has_run<H: Host>(ctx: &Ctx<'_, H>, cmd: Cmd<H>) -> bool {
    <H::Machine as StateMachine>::has_run(&H::core(ctx.durable()).machine, cmd)
}
