//! The Multi-Paxos replica: acceptor, proposer (leader when its ballot stands) and
//! learner in one node. See the module essay in `mod.rs` for the algorithm.

use super::log;
use super::{
    Ballot, KvOp, KvResult, LEARN_BATCH_MAX, Msg, NOOP, PROPOSALS_IN_FLIGHT_MAX, PaxosConfig,
    PaxosEvent, PaxosNode, PromiseEntry, QUEUE_MAX, Timer, Variant, bit, command_op, command_parts,
};
use dsim_core::rng::below;
use dsim_core::{Ctx, NodeId, Observation, SimDuration, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// The most slots a follower scans per message when it infers chosen values from the
/// leader's commit index; anything further it fetches with `CatchUp`.
const INFER_SCAN_MAX: u64 = 64;

/// The most proposals a leader retransmits per heartbeat tick.
const RETRANSMIT_PER_TICK_MAX: usize = 64;

/// A Multi-Paxos replica (variants `correct`, `no-adopt`, `stale-read`, `follower-read`).
#[derive(Clone, Debug)]
pub struct Replica {
    id: NodeId,
    config: PaxosConfig,
    role: Role,
    /// The leader this replica follows, if it knows one.
    leader: Option<NodeId>,
    /// The ballot of the leader it follows (`NONE` when unknown).
    leader_ballot: Ballot,
    /// The highest commit index heard under `leader_ballot`.
    leader_commit: u64,
    /// Local time of the last sign of a leader (or of the start of our own campaign).
    last_contact: SimTime,
    /// How long silence must last before we campaign; redrawn on every attempt.
    election_wait: SimDuration,
    /// Failed campaigns since we last heard a leader (drives the backoff).
    attempts: u32,
    /// The highest round seen in any ballot, so a new ballot beats all of them.
    max_round_seen: u32,
    /// First slot whose chosen value this replica does not know.
    first_unchosen: u64,
    /// When we last asked the leader for chosen values.
    catch_up_sent: Option<SimTime>,
    /// Client commands held while campaigning, proposed once we lead.
    queue: VecDeque<u64>,
    /// Durable state changed since the last sync.
    dirty: bool,
    /// Client replies to send once durable state is synced.
    replies: Vec<u64>,
}

#[derive(Clone, Debug)]
enum Role {
    Follower,
    Candidate(Campaign),
    Leader(Leading),
}

/// Phase 1 in progress.
#[derive(Clone, Debug)]
struct Campaign {
    ballot: Ballot,
    from_slot: u64,
    promised_by: u32,
    /// Per slot, the highest-ballot accepted value any promise reported.
    adopted: BTreeMap<u64, (Ballot, u64)>,
    sent_at: SimTime,
}

/// Phase 2 under a ballot that stands.
#[derive(Clone, Debug)]
struct Leading {
    ballot: Ballot,
    next_slot: u64,
    proposals: BTreeMap<u64, Proposal>,
    /// Commands proposed but not yet applied, to their slot: a client's retry of one
    /// of these is not proposed again.
    in_flight: BTreeMap<u64, u64>,
    /// Commands waiting for room in `proposals`.
    waiting: VecDeque<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Proposal {
    value: u64,
    acks: u32,
    sent_at: SimTime,
}

impl Replica {
    /// Replica `id` of a run with `config`.
    pub fn new(config: PaxosConfig, id: NodeId) -> Replica {
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
            replies: Vec::new(),
        }
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

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        self.first_unchosen = ctx.durable().first_unchosen_from(0);
        self.max_round_seen = ctx.durable().promised.round;
        self.last_contact = ctx.now();
        self.election_wait = self.draw_wait(ctx);
        // A crash cannot fall between learning and applying (both sync in one handler),
        // but applying here keeps the state machine right even if it did.
        self.apply(ctx);
        self.persist(ctx);
        ctx.set_timer(self.election_wait, Timer::Election);
        ctx.set_timer(self.config.heartbeat_interval, Timer::Tick);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Request { value, forwarded } => self.on_request(ctx, value, forwarded),
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
            Msg::CatchUp { from_slot } => self.on_catch_up(ctx, source, from_slot),
            Msg::Learn { entries } => self.on_learn(ctx, &entries),
            // Clients' and seed-naive messages mean nothing to a Multi-Paxos replica.
            Msg::Reply { .. } | Msg::Proposal { .. } => {}
        }
        self.persist(ctx);
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>, timer: Timer) {
        match timer {
            Timer::Election => self.on_election_timer(ctx),
            Timer::Tick => self.on_tick(ctx),
            Timer::Client(_) | Timer::Decide { .. } => {}
        }
        self.persist(ctx);
    }

    // ----- timers -------------------------------------------------------------------

    /// The election wait: uniform in `[t, t + t * 2^attempts)`, at most `[t, 9t)`.
    fn draw_wait(&self, ctx: &mut Ctx<'_, PaxosNode>) -> SimDuration {
        let base_ns = self.config.election_timeout.as_nanos();
        let spread_ns = base_ns.saturating_mul(1 << self.attempts.min(3)).max(1);
        SimDuration(base_ns + below(ctx.rng(), spread_ns))
    }

    fn on_election_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let now = ctx.now();
        if matches!(self.role, Role::Leader(_)) {
            // A leader never times out on itself; the timer keeps running so that it
            // is there again after a step-down.
            ctx.set_timer(self.config.election_timeout, Timer::Election);
            return;
        }
        let silent = now.saturating_since(self.last_contact);
        if silent >= self.election_wait {
            self.start_election(ctx);
            ctx.set_timer(self.election_wait, Timer::Election);
        } else {
            ctx.set_timer(
                SimDuration(self.election_wait.0 - silent.0),
                Timer::Election,
            );
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let now = ctx.now();
        let interval = self.config.heartbeat_interval;
        let commit = self.first_unchosen;
        let me = self.id;
        let replicas = self.config.replicas;
        match &mut self.role {
            Role::Leader(leading) => {
                let ballot = leading.ballot;
                for peer in peers(me, replicas) {
                    ctx.send(peer, Msg::Heartbeat { ballot, commit });
                }
                // Retransmit accepts the network lost (or whose acks it lost), oldest
                // first and a bounded number per tick, so a leader cut off from its
                // followers does not flood the network with its whole window.
                for (&slot, proposal) in leading.proposals.iter_mut().take(RETRANSMIT_PER_TICK_MAX)
                {
                    if now.saturating_since(proposal.sent_at) < interval {
                        continue;
                    }
                    proposal.sent_at = now;
                    for peer in peers(me, replicas) {
                        if proposal.acks & bit(peer) == 0 {
                            ctx.send(
                                peer,
                                Msg::Accept {
                                    ballot,
                                    slot,
                                    value: proposal.value,
                                    commit,
                                },
                            );
                        }
                    }
                }
            }
            Role::Candidate(campaign) => {
                if now.saturating_since(campaign.sent_at) >= interval {
                    campaign.sent_at = now;
                    for peer in peers(me, replicas) {
                        if campaign.promised_by & bit(peer) == 0 {
                            ctx.send(
                                peer,
                                Msg::Prepare {
                                    ballot: campaign.ballot,
                                    from_slot: campaign.from_slot,
                                },
                            );
                        }
                    }
                }
            }
            Role::Follower => self.maybe_catch_up(ctx),
        }
        ctx.set_timer(interval, Timer::Tick);
    }

    // ----- proposer: phase 1 --------------------------------------------------------

    /// Starts phase 1 with a ballot above every round seen.
    fn start_election(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let now = ctx.now();
        let round = self.max_round_seen.max(ctx.durable().promised.round) + 1;
        let ballot = Ballot {
            round,
            node: self.id.0,
        };
        self.max_round_seen = round;
        // We promise our own ballot first: durable before anyone hears of it.
        ctx.durable_mut().promised = ballot;
        self.dirty = true;
        self.persist(ctx);
        self.attempts = self.attempts.saturating_add(1);
        self.election_wait = self.draw_wait(ctx);
        self.last_contact = now;
        self.leader = None;
        self.leader_ballot = Ballot::NONE;
        self.leader_commit = 0;
        let from_slot = self.first_unchosen;
        let mut adopted = BTreeMap::new();
        for entry in promise_contents(ctx, from_slot).0 {
            adopted.insert(entry.slot, (entry.ballot, entry.value));
        }
        self.role = Role::Candidate(Campaign {
            ballot,
            from_slot,
            promised_by: bit(self.id),
            adopted,
            sent_at: now,
        });
        for peer in peers(self.id, self.config.replicas) {
            ctx.send(peer, Msg::Prepare { ballot, from_slot });
        }
        if self.config.majority() == 1 {
            self.become_leader(ctx);
        }
    }

    /// Acceptor: phase 1b.
    fn on_prepare(
        &mut self,
        ctx: &mut Ctx<'_, PaxosNode>,
        source: NodeId,
        ballot: Ballot,
        from_slot: u64,
    ) {
        if !self.admit(ctx, source, ballot) {
            return;
        }
        if self.raise_promise(ctx, ballot) {
            if !matches!(self.role, Role::Follower) {
                self.step_down();
            }
            // Whoever wins this ballot leads next; give the candidate a full wait.
            self.leader = None;
            self.leader_ballot = Ballot::NONE;
            self.leader_commit = 0;
            self.last_contact = ctx.now();
        }
        let (entries, chosen) = promise_contents(ctx, from_slot);
        // The promise must be durable before the proposer can count on it.
        self.persist(ctx);
        ctx.send(
            source,
            Msg::Promise {
                ballot,
                entries,
                chosen,
            },
        );
    }

    /// Proposer: collects promises; a majority makes us leader.
    fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, PaxosNode>,
        source: NodeId,
        ballot: Ballot,
        entries: &[PromiseEntry],
        chosen: &[(u64, u64)],
    ) {
        let Role::Candidate(campaign) = &mut self.role else {
            return;
        };
        if campaign.ballot != ballot || campaign.promised_by & bit(source) != 0 {
            return;
        }
        campaign.promised_by |= bit(source);
        // Values an acceptor learned as chosen are chosen: learning them is always safe.
        for &(slot, value) in chosen {
            if log::learn(ctx, slot, value) {
                self.dirty = true;
            }
        }
        for entry in entries {
            if entry.slot < campaign.from_slot {
                continue;
            }
            let best = campaign
                .adopted
                .entry(entry.slot)
                .or_insert((entry.ballot, entry.value));
            if entry.ballot > best.0 {
                *best = (entry.ballot, entry.value);
            }
        }
        let won = campaign.promised_by.count_ones() as usize >= self.config.majority();
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        if won {
            self.become_leader(ctx);
        }
    }

    /// Phase 1 succeeded: re-propose every slot from `from_slot` on (adopting reported
    /// values, or not in `no-adopt`), then serve clients with phase 2 only.
    fn become_leader(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let Role::Candidate(campaign) = std::mem::replace(&mut self.role, Role::Follower) else {
            unreachable!("only a candidate becomes leader");
        };
        let ballot = campaign.ballot;
        ctx.observe(Observation::Protocol(PaxosEvent::LeaderElected { ballot }));
        self.leader = Some(self.id);
        self.leader_ballot = ballot;
        self.attempts = 0;
        let end = campaign
            .adopted
            .last_key_value()
            .map_or(0, |(&slot, _)| slot + 1)
            .max(campaign.from_slot)
            .max(ctx.durable().log_len());
        let mut leading = Leading {
            ballot,
            next_slot: end,
            proposals: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            waiting: std::mem::take(&mut self.queue),
        };
        let mut batch = Vec::new();
        for slot in campaign.from_slot..end {
            if ctx.durable().chosen(slot).is_some() {
                continue;
            }
            let value = match self.config.variant {
                Variant::NoAdopt => next_own_value(ctx, &mut leading.waiting),
                _ => campaign
                    .adopted
                    .get(&slot)
                    .map_or(NOOP, |&(_, value)| value),
            };
            batch.push((slot, value));
        }
        self.role = Role::Leader(leading);
        let commit = self.first_unchosen;
        for peer in peers(self.id, self.config.replicas) {
            ctx.send(peer, Msg::Heartbeat { ballot, commit });
        }
        self.propose(ctx, &batch);
        self.pump(ctx);
    }

    // ----- proposer: phase 2 --------------------------------------------------------

    /// Leader: runs or queues a client command (at most once in flight).
    fn submit(&mut self, ctx: &mut Ctx<'_, PaxosNode>, value: u64) {
        if log::has_run(ctx.durable(), value) {
            self.reply_to(value);
            return;
        }
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        if leading.in_flight.contains_key(&value) || leading.waiting.contains(&value) {
            return;
        }
        if leading.proposals.len() >= PROPOSALS_IN_FLIGHT_MAX {
            if leading.waiting.len() < QUEUE_MAX {
                leading.waiting.push_back(value);
            }
            return;
        }
        let slot = leading.next_slot;
        leading.next_slot += 1;
        self.propose(ctx, &[(slot, value)]);
    }

    /// Proposes waiting commands while there is room.
    fn pump(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        loop {
            let Role::Leader(leading) = &mut self.role else {
                return;
            };
            if leading.proposals.len() >= PROPOSALS_IN_FLIGHT_MAX {
                return;
            }
            let Some(value) = leading.waiting.pop_front() else {
                return;
            };
            self.submit(ctx, value);
        }
    }

    /// Leader: accepts `(slot, value)` pairs itself (durably), then sends phase 2a.
    fn propose(&mut self, ctx: &mut Ctx<'_, PaxosNode>, batch: &[(u64, u64)]) {
        if batch.is_empty() {
            return;
        }
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        let ballot = leading.ballot;
        assert_eq!(
            ctx.durable().promised,
            ballot,
            "a leader whose promise moved on must have stepped down"
        );
        let now = ctx.now();
        for &(slot, value) in batch {
            assert!(
                ctx.durable().chosen(slot).is_none(),
                "leader proposes in slot {slot}, already chosen"
            );
            let record = ctx.durable_mut().slot_mut(slot);
            record.accepted_ballot = ballot;
            record.accepted_value = value;
            ctx.observe(Observation::Protocol(PaxosEvent::Accepted {
                slot,
                ballot,
                value,
            }));
            leading.proposals.insert(
                slot,
                Proposal {
                    value,
                    acks: bit(self.id),
                    sent_at: now,
                },
            );
            if value != NOOP {
                leading.in_flight.insert(value, slot);
            }
        }
        self.dirty = true;
        // Our own acceptance counts towards the quorum: durable first.
        self.persist(ctx);
        let commit = self.first_unchosen;
        for &(slot, value) in batch {
            for peer in peers(self.id, self.config.replicas) {
                ctx.send(
                    peer,
                    Msg::Accept {
                        ballot,
                        slot,
                        value,
                        commit,
                    },
                );
            }
        }
        if self.config.majority() == 1 {
            for &(slot, _) in batch {
                self.chosen(ctx, slot);
            }
        }
    }

    /// Leader: counts phase 2b answers.
    fn on_accepted(
        &mut self,
        ctx: &mut Ctx<'_, PaxosNode>,
        source: NodeId,
        ballot: Ballot,
        slot: u64,
    ) {
        let majority = self.config.majority();
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        if leading.ballot != ballot || !self.config.is_replica(source) {
            return;
        }
        let Some(proposal) = leading.proposals.get_mut(&slot) else {
            return;
        };
        proposal.acks |= bit(source);
        if proposal.acks.count_ones() as usize >= majority {
            self.chosen(ctx, slot);
        }
    }

    /// Leader: a majority accepted `slot` in our ballot, so its value is chosen.
    fn chosen(&mut self, ctx: &mut Ctx<'_, PaxosNode>, slot: u64) {
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        let Some(proposal) = leading.proposals.remove(&slot) else {
            return;
        };
        if log::learn(ctx, slot, proposal.value) {
            self.dirty = true;
        }
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        self.persist(ctx);
        self.pump(ctx);
    }

    // ----- acceptor: phase 2 and leader contact -------------------------------------

    /// Acceptor: phase 2b; also learns what the commit index reveals.
    fn on_accept(
        &mut self,
        ctx: &mut Ctx<'_, PaxosNode>,
        source: NodeId,
        ballot: Ballot,
        slot: u64,
        value: u64,
        commit: u64,
    ) {
        if !self.admit(ctx, source, ballot) {
            return;
        }
        self.raise_promise(ctx, ballot);
        self.follow(ctx, ballot, commit);
        let record = ctx.durable().slot(slot);
        if record.accepted_ballot != ballot || record.accepted_value != value {
            let record = ctx.durable_mut().slot_mut(slot);
            record.accepted_ballot = ballot;
            record.accepted_value = value;
            self.dirty = true;
            ctx.observe(Observation::Protocol(PaxosEvent::Accepted {
                slot,
                ballot,
                value,
            }));
        }
        if slot < self.leader_commit && log::learn(ctx, slot, value) {
            self.dirty = true;
        }
        self.learn_from_commit(ctx);
        // The acceptance must be durable before the leader can count it.
        self.persist(ctx);
        ctx.send(source, Msg::Accepted { ballot, slot });
        self.maybe_catch_up(ctx);
    }

    fn on_heartbeat(
        &mut self,
        ctx: &mut Ctx<'_, PaxosNode>,
        source: NodeId,
        ballot: Ballot,
        commit: u64,
    ) {
        if !self.admit(ctx, source, ballot) {
            return;
        }
        self.follow(ctx, ballot, commit);
        self.learn_from_commit(ctx);
        self.maybe_catch_up(ctx);
    }

    /// Notes `ballot`'s round; a ballot below our promise is answered with a Nack
    /// (so its proposer learns it is stale) and refused with `false`.
    fn admit(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, ballot: Ballot) -> bool {
        self.max_round_seen = self.max_round_seen.max(ballot.round);
        let promised = ctx.durable().promised;
        if ballot < promised {
            ctx.send(source, Msg::Nack { promised });
            return false;
        }
        true
    }

    /// Raises our promise to `ballot` when it is higher (persisted by the caller before
    /// it replies); returns whether it rose.
    fn raise_promise(&mut self, ctx: &mut Ctx<'_, PaxosNode>, ballot: Ballot) -> bool {
        if ballot <= ctx.durable().promised {
            return false;
        }
        ctx.durable_mut().promised = ballot;
        self.dirty = true;
        true
    }

    /// A leader at `ballot` (not below our promise) spoke: follow it.
    fn follow(&mut self, ctx: &mut Ctx<'_, PaxosNode>, ballot: Ballot, commit: u64) {
        if !matches!(self.role, Role::Follower) {
            // Our own ballot is at most our promise, and this one is at least our
            // promise and not ours: it is higher.
            self.step_down();
        }
        if ballot != self.leader_ballot {
            self.leader_ballot = ballot;
            self.leader_commit = 0;
        }
        self.leader = Some(NodeId(ballot.node));
        self.leader_commit = self.leader_commit.max(commit);
        self.last_contact = ctx.now();
        if self.attempts != 0 {
            self.attempts = 0;
            self.election_wait = self.draw_wait(ctx);
        }
    }

    fn on_nack(&mut self, ctx: &mut Ctx<'_, PaxosNode>, promised: Ballot) {
        self.max_round_seen = self.max_round_seen.max(promised.round);
        let mine = match &self.role {
            Role::Follower => return,
            Role::Candidate(campaign) => campaign.ballot,
            Role::Leader(leading) => leading.ballot,
        };
        if promised > mine {
            self.step_down();
            self.leader = None;
            self.last_contact = ctx.now();
        }
    }

    /// Leaves the leader or candidate role; in-flight work is dropped (clients retry).
    fn step_down(&mut self) {
        self.role = Role::Follower;
        self.queue.clear();
    }

    // ----- learner ------------------------------------------------------------------

    /// Learns the slots below the leader's commit index that we accepted in the
    /// leader's own ballot: the leader proposes one value per slot and ballot, so that
    /// value is the chosen one.
    fn learn_from_commit(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let end = self
            .leader_commit
            .min(self.first_unchosen + INFER_SCAN_MAX)
            .min(ctx.durable().log_len());
        for slot in self.first_unchosen..end {
            let record = ctx.durable().slot(slot);
            if record.chosen.is_none()
                && record.accepted_ballot == self.leader_ballot
                && log::learn(ctx, slot, record.accepted_value)
            {
                self.dirty = true;
            }
        }
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
    }

    /// Asks the leader for chosen values we cannot infer, at most once per heartbeat
    /// interval unless an answer came in.
    fn maybe_catch_up(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        if self.first_unchosen >= self.leader_commit {
            self.catch_up_sent = None;
            return;
        }
        let Some(leader) = self.leader.filter(|&leader| leader != self.id) else {
            return;
        };
        let now = ctx.now();
        if self
            .catch_up_sent
            .is_some_and(|sent| now.saturating_since(sent) < self.config.heartbeat_interval)
        {
            return;
        }
        self.catch_up_sent = Some(now);
        ctx.send(
            leader,
            Msg::CatchUp {
                from_slot: self.first_unchosen,
            },
        );
    }

    /// Anyone: sends the chosen values it knows from `from_slot` on.
    fn on_catch_up(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, from_slot: u64) {
        let end = from_slot
            .saturating_add(LEARN_BATCH_MAX)
            .min(ctx.durable().log_len());
        let entries: Vec<(u64, u64)> = (from_slot..end)
            .filter_map(|slot| ctx.durable().chosen(slot).map(|value| (slot, value)))
            .collect();
        if !entries.is_empty() {
            ctx.send(source, Msg::Learn { entries });
        }
    }

    fn on_learn(&mut self, ctx: &mut Ctx<'_, PaxosNode>, entries: &[(u64, u64)]) {
        for &(slot, value) in entries {
            if log::learn(ctx, slot, value) {
                self.dirty = true;
            }
        }
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        self.catch_up_sent = None;
        self.maybe_catch_up(ctx);
    }

    /// Applies chosen slots in order; the leader answers the clients.
    fn apply(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let replies = &mut self.replies;
        let window = self.config.client_window;
        let applied = match &mut self.role {
            Role::Leader(leading) => log::apply_ready(ctx, window, |_, value, _| {
                leading.in_flight.remove(&value);
                replies.push(value);
            }),
            _ => log::apply_ready(ctx, window, |_, _, _| {}),
        };
        if applied > 0 {
            self.dirty = true;
        }
    }

    // ----- clients ------------------------------------------------------------------

    fn on_request(&mut self, ctx: &mut Ctx<'_, PaxosNode>, value: u64, forwarded: bool) {
        let Some((client, seq)) = command_parts(value) else {
            return;
        };
        if self.config.is_replica(client) || client.index() >= self.config.total_nodes() {
            return;
        }
        let leader = matches!(self.role, Role::Leader(_));
        if let Some(KvOp::Get { key }) = command_op(value)
            && self.config.variant.reads_locally(leader)
        {
            // The planted bug: a read served from this replica's own applied state,
            // which may lag behind what a newer leader (or this one's log) already chose.
            let result = KvResult::Read(ctx.durable().store().get(&key).copied());
            ctx.send(client, Msg::Reply { seq, result });
            return;
        }
        match &mut self.role {
            Role::Leader(_) => self.submit(ctx, value),
            Role::Candidate(_) => {
                if self.queue.len() < QUEUE_MAX && !self.queue.contains(&value) {
                    self.queue.push_back(value);
                }
            }
            Role::Follower => {
                if log::has_run(ctx.durable(), value) {
                    self.reply_to(value);
                } else if let Some(leader) = self.leader.filter(|&leader| leader != self.id)
                    && !forwarded
                {
                    ctx.send(
                        leader,
                        Msg::Request {
                            value,
                            forwarded: true,
                        },
                    );
                }
            }
        }
    }

    fn reply_to(&mut self, value: u64) {
        self.replies.push(value);
    }

    /// Syncs durable state if it changed, then sends the client replies that waited
    /// for it. Every handler ends here, and every reply that depends on durable state
    /// comes after a call.
    fn persist(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        if self.dirty {
            ctx.sync();
            self.dirty = false;
        }
        for value in self.replies.drain(..) {
            // A command whose result the session no longer holds has a client that
            // no longer waits for it: it needs no answer (and must not get a made-up one).
            if let Some((client, reply)) = log::reply(ctx.durable(), value) {
                ctx.send(client, reply);
            }
        }
    }
}

/// Every replica but `me`.
fn peers(me: NodeId, replicas: usize) -> impl Iterator<Item = NodeId> {
    (0..replicas as u32)
        .map(NodeId)
        .filter(move |&peer| peer != me)
}

/// What a promise reports from `from_slot` on: the accepted (ballot, value) of every
/// slot whose chosen value is unknown here, and the (slot, value) of every learned one.
fn promise_contents(
    ctx: &Ctx<'_, PaxosNode>,
    from_slot: u64,
) -> (Vec<PromiseEntry>, Vec<(u64, u64)>) {
    let slots = &ctx.durable().slots;
    let start = usize::try_from(from_slot)
        .unwrap_or(usize::MAX)
        .min(slots.len());
    let mut accepted = Vec::new();
    let mut chosen = Vec::new();
    for (offset, record) in slots.skip(start).iter().enumerate() {
        let slot = (start + offset) as u64;
        if let Some(value) = record.chosen {
            chosen.push((slot, value));
        } else if record.accepted_ballot != Ballot::NONE {
            accepted.push(PromiseEntry {
                slot,
                ballot: record.accepted_ballot,
                value: record.accepted_value,
            });
        }
    }
    (accepted, chosen)
}

/// `no-adopt`: the new leader's "own value" for a slot, a waiting command or a no-op.
fn next_own_value(ctx: &Ctx<'_, PaxosNode>, waiting: &mut VecDeque<u64>) -> u64 {
    while let Some(value) = waiting.pop_front() {
        if !log::has_run(ctx.durable(), value) {
            return value;
        }
    }
    NOOP
}

#[cfg(test)]
mod tests {
    use super::super::{PaxosDurable, Workload, command_value};
    use super::*;
    use dsim_core::{CtxParts, Effect, Node};

    const REPLICAS: usize = 3;

    fn config(variant: Variant) -> PaxosConfig {
        let mut config = PaxosConfig::new(
            REPLICAS,
            Workload {
                clients: 1,
                rate_per_s: 100.0,
                ..Workload::default()
            },
        );
        config.variant = variant;
        config
    }

    fn replica(id: u32, variant: Variant) -> (PaxosNode, CtxParts<PaxosNode>) {
        let config = config(variant);
        let mut parts = CtxParts::new(NodeId(id), config.total_nodes(), 7);
        let mut node = PaxosNode::new(&config, NodeId(id));
        node.on_start(&mut parts.ctx());
        parts.take_effects();
        (node, parts)
    }

    fn ballot(round: u32, node: u32) -> Ballot {
        Ballot { round, node }
    }

    /// Index of the first effect matching `pred`.
    fn position(effects: &[Effect<PaxosNode>], pred: impl Fn(&Effect<PaxosNode>) -> bool) -> usize {
        effects.iter().position(pred).expect("effect present")
    }

    fn sends(effects: &[Effect<PaxosNode>]) -> Vec<(NodeId, Msg)> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Send { target, msg } => Some((*target, msg.clone())),
                _ => None,
            })
            .collect()
    }

    /// Drives node 0 through an election it wins with node 1's promise.
    fn elected_leader(
        variant: Variant,
        promise: Vec<PromiseEntry>,
    ) -> (PaxosNode, CtxParts<PaxosNode>) {
        let (mut node, mut parts) = replica(0, variant);
        parts.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Election);
        let effects = parts.take_effects();
        let prepare = sends(&effects)
            .into_iter()
            .find_map(|(_, msg)| match msg {
                Msg::Prepare { ballot, .. } => Some(ballot),
                _ => None,
            })
            .expect("an election sends prepares");
        node.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Promise {
                ballot: prepare,
                entries: promise,
                chosen: Vec::new(),
            },
        );
        (node, parts)
    }

    #[test]
    fn prepare_above_promise_is_promised_durably_before_the_reply() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        parts.durable.slot_mut(4).accepted_ballot = ballot(1, 2);
        parts.durable.slot_mut(4).accepted_value = 99;
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Prepare {
                ballot: ballot(3, 0),
                from_slot: 2,
            },
        );
        let effects = parts.take_effects();
        // The promise must survive a crash: the sync comes before the reply, or a
        // restarted acceptor could accept a lower ballot it promised to refuse.
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        assert!(sync < reply);
        assert_eq!(parts.durable.promised, ballot(3, 0));
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(0),
                Msg::Promise {
                    ballot: ballot(3, 0),
                    entries: vec![PromiseEntry {
                        slot: 4,
                        ballot: ballot(1, 2),
                        value: 99
                    }],
                    chosen: Vec::new(),
                }
            )],
            "the promise carries the accepted value so the proposer can adopt it"
        );
    }

    #[test]
    fn prepare_below_promise_is_refused_with_the_promise() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        parts.durable.promised = ballot(5, 2);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Prepare {
                ballot: ballot(4, 0),
                from_slot: 0,
            },
        );
        // Promising a lower ballot would let two leaders choose different values.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(0),
                Msg::Nack {
                    promised: ballot(5, 2)
                }
            )]
        );
        assert_eq!(parts.durable.promised, ballot(5, 2));
    }

    #[test]
    fn accept_is_stored_and_synced_before_accepted_is_sent() {
        let (mut node, mut parts) = replica(2, Variant::Correct);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Accept {
                ballot: ballot(1, 0),
                slot: 0,
                value: 42,
                commit: 0,
            },
        );
        let effects = parts.take_effects();
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        // An acceptance the leader counts but the acceptor forgets breaks quorums.
        assert!(sync < reply);
        assert_eq!(parts.durable.slot(0).accepted_ballot, ballot(1, 0));
        assert_eq!(parts.durable.slot(0).accepted_value, 42);
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::Observe(Observation::Protocol(PaxosEvent::Accepted {
                slot: 0,
                value: 42,
                ..
            }))
        )));
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(0),
                Msg::Accepted {
                    ballot: ballot(1, 0),
                    slot: 0
                }
            )]
        );
    }

    #[test]
    fn accept_below_promise_is_refused() {
        let (mut node, mut parts) = replica(2, Variant::Correct);
        parts.durable.promised = ballot(2, 1);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Accept {
                ballot: ballot(1, 0),
                slot: 0,
                value: 42,
                commit: 0,
            },
        );
        // Accepting under a broken promise is exactly how two values get chosen.
        assert_eq!(parts.durable.slot(0).accepted_ballot, Ballot::NONE);
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(0),
                Msg::Nack {
                    promised: ballot(2, 1)
                }
            )]
        );
    }

    #[test]
    fn commit_index_teaches_followers_the_values_they_accepted_in_that_ballot() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        for slot in 0..2 {
            node.on_message(
                &mut parts.ctx(),
                NodeId(0),
                Msg::Accept {
                    ballot: ballot(1, 0),
                    slot,
                    value: command_value(NodeId(3), slot),
                    commit: 0,
                },
            );
        }
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Heartbeat {
                ballot: ballot(1, 0),
                commit: 2,
            },
        );
        // Without learning from the commit index followers would never apply anything.
        assert_eq!(parts.durable.chosen(0), Some(command_value(NodeId(3), 0)));
        assert_eq!(parts.durable.chosen(1), Some(command_value(NodeId(3), 1)));
        assert_eq!(parts.durable.applied(), 2);
    }

    #[test]
    fn follower_asks_leader_for_values_it_cannot_infer() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Heartbeat {
                ballot: ballot(1, 0),
                commit: 3,
            },
        );
        // The follower accepted nothing, so only catch-up can fill its log.
        assert_eq!(
            parts.take_sends(),
            vec![(NodeId(0), Msg::CatchUp { from_slot: 0 })]
        );
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Learn {
                entries: vec![
                    (0, NOOP),
                    (1, command_value(NodeId(3), 7)),
                    (2, command_value(NodeId(3), 8)),
                ],
            },
        );
        assert_eq!(parts.durable.applied(), 3);
        assert!(
            parts.take_sends().is_empty(),
            "caught up: nothing more to ask"
        );
    }

    #[test]
    fn election_sends_prepares_above_every_round_seen() {
        let (mut node, mut parts) = replica(0, Variant::Correct);
        node.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Nack {
                promised: ballot(6, 2),
            },
        );
        parts.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Election);
        let sent = parts.take_sends();
        // A ballot at or below round 6 would be refused by node 2's acceptors forever.
        assert_eq!(sent.len(), REPLICAS - 1);
        for (_, msg) in sent {
            assert_eq!(
                msg,
                Msg::Prepare {
                    ballot: ballot(7, 0),
                    from_slot: 0
                }
            );
        }
        assert_eq!(parts.durable.promised, ballot(7, 0));
    }

    #[test]
    fn new_leader_adopts_the_highest_ballot_value_from_promises() {
        // Node 0 itself accepted 5 under (1,2); node 1 reports 9 under (2,1), higher.
        let (_, mut parts0) = replica(0, Variant::Correct);
        parts0.durable.slot_mut(0).accepted_ballot = ballot(1, 2);
        parts0.durable.slot_mut(0).accepted_value = command_value(NodeId(3), 5);
        let config = config(Variant::Correct);
        let mut node = PaxosNode::new(&config, NodeId(0));
        node.on_start(&mut parts0.ctx());
        parts0.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut parts0.ctx(), Timer::Election);
        let prepare = match parts0.take_sends().remove(0).1 {
            Msg::Prepare { ballot, .. } => ballot,
            other => panic!("expected a prepare, got {other:?}"),
        };
        let adopted = command_value(NodeId(3), 9);
        node.on_message(
            &mut parts0.ctx(),
            NodeId(1),
            Msg::Promise {
                ballot: prepare,
                entries: vec![PromiseEntry {
                    slot: 0,
                    ballot: ballot(2, 1),
                    value: adopted,
                }],
                chosen: Vec::new(),
            },
        );
        // Proposing anything but the highest-ballot value could overwrite a chosen one.
        assert_eq!(node.leading(), Some(prepare));
        let accepts: Vec<Msg> = parts0
            .take_sends()
            .into_iter()
            .map(|(_, msg)| msg)
            .filter(|msg| matches!(msg, Msg::Accept { .. }))
            .collect();
        assert_eq!(accepts.len(), REPLICAS - 1);
        assert!(
            accepts
                .iter()
                .all(|msg| matches!(msg, Msg::Accept { slot: 0, value, .. } if *value == adopted))
        );
    }

    #[test]
    fn lagging_candidate_learns_chosen_values_from_promises_instead_of_reproposing() {
        let chosen = command_value(NodeId(3), 4);
        let (mut node, mut fresh) = replica(0, Variant::Correct);
        fresh.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut fresh.ctx(), Timer::Election);
        let prepare = match fresh.take_sends().remove(0).1 {
            Msg::Prepare { ballot, .. } => ballot,
            other => panic!("expected a prepare, got {other:?}"),
        };
        node.on_message(
            &mut fresh.ctx(),
            NodeId(1),
            Msg::Promise {
                ballot: prepare,
                entries: Vec::new(),
                chosen: vec![(0, chosen)],
            },
        );
        // Slot 0 is known chosen: it is learned and applied, and the new leader
        // proposes nothing for it (re-proposing a whole lagging log would be wasteful).
        assert_eq!(fresh.durable.chosen(0), Some(chosen));
        assert_eq!(fresh.durable.applied(), 1);
        assert!(
            !fresh
                .take_sends()
                .iter()
                .any(|(_, msg)| matches!(msg, Msg::Accept { .. }))
        );
    }

    #[test]
    fn no_adopt_leader_overwrites_reported_values() {
        let reported = command_value(NodeId(3), 9);
        let (node, mut parts) = elected_leader(
            Variant::NoAdopt,
            vec![PromiseEntry {
                slot: 0,
                ballot: ballot(1, 1),
                value: reported,
            }],
        );
        assert!(node.leading().is_some());
        // The planted bug: slot 0 gets the leader's own no-op, not the reported value.
        let accepts: Vec<Msg> = parts
            .take_sends()
            .into_iter()
            .map(|(_, msg)| msg)
            .filter(|msg| matches!(msg, Msg::Accept { .. }))
            .collect();
        assert!(accepts.iter().all(|msg| matches!(
            msg,
            Msg::Accept {
                slot: 0,
                value: NOOP,
                ..
            }
        )));
    }

    #[test]
    fn leader_learns_applies_and_replies_after_a_majority_accepts() {
        let (mut node, mut parts) = elected_leader(Variant::Correct, Vec::new());
        let leading = node.leading().expect("node 0 leads");
        parts.take_effects();
        let client = NodeId(REPLICAS as u32);
        let value = command_value(client, 0);
        node.on_message(
            &mut parts.ctx(),
            client,
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        let accepts = parts.take_sends();
        assert_eq!(accepts.len(), REPLICAS - 1, "phase 2 only: no new prepare");
        node.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Accepted {
                ballot: leading,
                slot: 0,
            },
        );
        // Two of three accepted: the value is chosen, applied and answered.
        assert_eq!(parts.durable.chosen(0), Some(value));
        assert_eq!(parts.durable.applied(), 1);
        let effects = parts.take_effects();
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        assert!(sync < reply, "the client hears only what survives a crash");
        assert_eq!(
            sends(&effects),
            vec![(
                client,
                Msg::Reply {
                    seq: 0,
                    result: KvResult::Read(None),
                }
            )]
        );
        // A retry of the same command is answered from the client table, not re-run.
        node.on_message(
            &mut parts.ctx(),
            client,
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        assert_eq!(
            parts.take_sends(),
            vec![(
                client,
                Msg::Reply {
                    seq: 0,
                    result: KvResult::Read(None),
                }
            )]
        );
    }

    #[test]
    fn leader_retransmits_unacknowledged_accepts_on_tick() {
        let (mut node, mut parts) = elected_leader(Variant::Correct, Vec::new());
        let client = NodeId(REPLICAS as u32);
        node.on_message(
            &mut parts.ctx(),
            client,
            Msg::Request {
                value: command_value(client, 0),
                forwarded: false,
            },
        );
        parts.take_effects();
        parts.local_now = SimTime(parts.local_now.0 + 1_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Tick);
        let accepts = parts
            .take_sends()
            .into_iter()
            .filter(|(_, msg)| matches!(msg, Msg::Accept { slot: 0, .. }))
            .count();
        // Under message loss a leader that never retransmits stalls forever.
        assert_eq!(accepts, REPLICAS - 1);
    }

    #[test]
    fn higher_ballot_makes_the_leader_step_down_and_follow() {
        let (mut node, mut parts) = elected_leader(Variant::Correct, Vec::new());
        assert!(node.leading().is_some());
        node.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Heartbeat {
                ballot: ballot(9, 2),
                commit: 0,
            },
        );
        // Two nodes both acting as leader would only livelock, but a leader deaf to
        // higher ballots would never let a new one finish.
        assert_eq!(node.leading(), None);
        match &node {
            PaxosNode::Replica(replica) => assert_eq!(replica.known_leader(), Some(NodeId(2))),
            _ => unreachable!(),
        }
    }

    #[test]
    fn follower_forwards_requests_once_to_the_leader() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        node.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Heartbeat {
                ballot: ballot(1, 2),
                commit: 0,
            },
        );
        parts.take_effects();
        let value = command_value(NodeId(3), 1);
        node.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(2),
                Msg::Request {
                    value,
                    forwarded: true
                }
            )]
        );
        // A forwarded request is never forwarded again, so stale views cannot loop.
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Request {
                value,
                forwarded: true,
            },
        );
        assert!(parts.take_sends().is_empty());
    }

    #[test]
    fn single_replica_elects_itself_and_decides_alone() {
        let mut config = config(Variant::Correct);
        config.replicas = 1;
        let mut parts: CtxParts<PaxosNode> = CtxParts::new(NodeId(0), 2, 1);
        let mut node = PaxosNode::new(&config, NodeId(0));
        node.on_start(&mut parts.ctx());
        parts.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Election);
        // A majority of one is the node itself: no messages needed.
        assert!(node.leading().is_some());
        let value = command_value(NodeId(1), 0);
        node.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        assert_eq!(parts.durable.chosen(0), Some(value));
        assert!(parts.take_sends().contains(&(
            NodeId(1),
            Msg::Reply {
                seq: 0,
                result: KvResult::Read(None),
            }
        )));
    }

    #[test]
    fn restarted_replica_keeps_its_promise() {
        let config = config(Variant::Correct);
        let durable = PaxosDurable {
            promised: ballot(4, 1),
            ..PaxosDurable::default()
        };
        let mut parts: CtxParts<PaxosNode> = CtxParts::new(NodeId(2), config.total_nodes(), 3);
        parts.durable = durable;
        let mut node = PaxosNode::new(&config, NodeId(2));
        node.on_start(&mut parts.ctx());
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Accept {
                ballot: ballot(3, 0),
                slot: 0,
                value: 5,
                commit: 0,
            },
        );
        // Forgetting a promise across a restart is the classic durable-state bug.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(0),
                Msg::Nack {
                    promised: ballot(4, 1)
                }
            )]
        );
    }
}
