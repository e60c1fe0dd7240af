//! The proposer: phase 1 (prepare, promises, adoption), the stable leader's phase 2
//! (accept, accepted, chosen) and its heartbeats and retransmissions.

use super::lease::LeaseRounds;
use super::replica::{Campaign, Leading, QUEUE_MAX, Role, has_run, peers, quorum_of_replicas};
use super::{Adoption, Ballot, Cmd, Event, Host, Msg, PromiseEntry, Replica, StateMachine};
use crate::kit::quorum::Reply;
use dsim_core::Ctx;
use dsim_core::NodeId;
use std::collections::{BTreeMap, VecDeque};

/// The most proposals a leader keeps in flight; further commands wait in its queue.
const PROPOSALS_IN_FLIGHT_MAX: usize = 256;

/// The most proposals a leader retransmits per heartbeat tick.
const RETRANSMIT_PER_TICK_MAX: usize = 64;

impl<H: Host> Replica<H> {
    /// Leader: heartbeats with the commit index, then retransmits accepts the network
    /// lost (or whose acks it lost) to the acceptors that have not accepted, with the
    /// commit index of now. It looks at the oldest proposals only, a bounded number
    /// per tick, so a leader cut off from its followers does not flood the network
    /// with its window.
    pub(super) fn leader_tick(&mut self, ctx: &mut Ctx<'_, H>) {
        let now = self.config.now(ctx);
        if let Some(lease) = self.config.lease
            && let Role::Leader(leading) = &self.role
            && leading.lease.lost(now, lease)
        {
            // No majority renewed the lease in time: we may no longer act as leader.
            self.step_down();
            self.leader = None;
            self.last_contact = now;
            return;
        }
        let commit = self.first_unchosen;
        self.send_heartbeats(ctx);
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        let ballot = leading.ballot;
        for (&slot, acceptances) in leading.proposals.iter_mut().take(RETRANSMIT_PER_TICK_MAX) {
            if acceptances.is_due(now) {
                acceptances.send_to_missing(ctx, |&value| accept::<H>(ballot, slot, value, commit));
            }
        }
        self.flush(ctx);
    }

    /// Leader: a heartbeat to every peer with the commit index; with a lease, a new
    /// lease round (our own acceptor renews its promise to us first).
    pub(super) fn send_heartbeats(&mut self, ctx: &mut Ctx<'_, H>) {
        let now = self.config.now(ctx);
        let commit = self.first_unchosen;
        let me = self.id;
        let majority = self.config.majority();
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        let ballot = leading.ballot;
        let Some(lease) = self.config.lease else {
            for peer in peers(me, self.config.replicas) {
                ctx.send(peer, H::message(Msg::Heartbeat { ballot, commit }));
            }
            return;
        };
        self.lease.grant(me, now, lease);
        let round = leading.lease.start(me, now, majority, lease);
        for peer in peers(me, self.config.replicas) {
            ctx.send(
                peer,
                H::message(Msg::LeaseRound {
                    ballot,
                    round,
                    commit,
                }),
            );
        }
    }

    /// Leader: `source` acknowledged lease round `round` of `ballot`.
    pub(super) fn on_lease_ack(
        &mut self,
        _ctx: &mut Ctx<'_, H>,
        source: NodeId,
        ballot: Ballot,
        round: u64,
    ) {
        let majority = self.config.majority();
        let (Some(lease), Role::Leader(leading)) = (self.config.lease, &mut self.role) else {
            return;
        };
        if leading.ballot == ballot && self.config.is_replica(source) {
            leading.lease.ack(round, source, majority, lease);
        }
    }

    /// Candidate: resends prepares to the acceptors that have not promised yet.
    pub(super) fn candidate_tick(&mut self, ctx: &mut Ctx<'_, H>) {
        let now = self.config.now(ctx);
        let Role::Candidate(campaign) = &mut self.role else {
            return;
        };
        if campaign.promises.is_due(now) {
            let from_slot = campaign.from_slot;
            campaign.promises.send_to_missing(ctx, |&ballot| {
                H::message(Msg::Prepare { ballot, from_slot })
            });
        }
    }

    // ----- phase 1 ------------------------------------------------------------------

    /// Starts phase 1 with a ballot above every round seen.
    pub(super) fn start_election(&mut self, ctx: &mut Ctx<'_, H>) {
        let now = self.config.now(ctx);
        if self.config.lease.is_some() && self.lease.blocks(self.id, now) {
            // Our own lease promise to another leader (or a restart's) still stands.
            return;
        }
        if matches!(self.role, Role::Leader(_)) {
            self.step_down();
        }
        let round = self
            .max_round_seen
            .max(H::core(ctx.durable()).promised.round)
            + 1;
        let ballot = Ballot {
            round,
            node: self.id.0,
        };
        self.max_round_seen = round;
        // We promise our own ballot first: durable before anyone hears of it.
        H::core_mut(ctx.durable_mut()).promised = ballot;
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
        for entry in promise_contents::<H>(ctx, from_slot).0 {
            adopted.insert(entry.slot, (entry.ballot, entry.value));
        }
        let mut promises = quorum_of_replicas(
            self.id,
            self.config.replicas,
            ballot,
            self.config.heartbeat_interval,
        );
        promises.send_to_missing(ctx, |&ballot| {
            H::message(Msg::Prepare { ballot, from_slot })
        });
        let won = promises.is_complete();
        self.role = Role::Candidate(Box::new(Campaign {
            from_slot,
            promises,
            adopted,
        }));
        if won {
            self.become_leader(ctx);
        }
    }

    /// Collects promises; a majority makes us leader.
    pub(super) fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, H>,
        source: NodeId,
        ballot: Ballot,
        entries: &[PromiseEntry<Cmd<H>>],
        chosen: &[(u64, Cmd<H>)],
    ) {
        let Role::Candidate(campaign) = &mut self.role else {
            return;
        };
        // A promise for another ballot, a second one from the same acceptor, or one
        // from a node that is no replica does not count.
        if campaign.ballot() != ballot || campaign.promises.on_reply(source, ()) != Reply::Counted {
            return;
        }
        // Values an acceptor learned as chosen are chosen: learning them is always safe.
        for &(slot, value) in chosen {
            if super::learn(ctx, slot, value) {
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
        let won = campaign.promises.is_complete();
        self.first_unchosen = H::core(ctx.durable()).first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        if won {
            self.become_leader(ctx);
        }
    }

    /// Phase 1 succeeded: re-propose every slot from `from_slot` on (adopting reported
    /// values, or not under [`Adoption::Ignore`]), then serve with phase 2 only.
    fn become_leader(&mut self, ctx: &mut Ctx<'_, H>) {
        let Role::Candidate(campaign) = std::mem::replace(&mut self.role, Role::Follower) else {
            unreachable!("only a candidate becomes leader");
        };
        let ballot = campaign.ballot();
        let now = self.config.now(ctx);
        H::observe(ctx, Event::LeaderElected { ballot });
        self.leader = Some(self.id);
        self.leader_ballot = ballot;
        self.attempts = 0;
        let end = campaign
            .adopted
            .last_key_value()
            .map_or(0, |(&slot, _)| slot + 1)
            .max(campaign.from_slot)
            .max(H::core(ctx.durable()).log_len());
        let mut leading = Leading {
            ballot,
            next_slot: end,
            proposals: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            waiting: std::mem::take(&mut self.queue),
            recovery_end: end,
            lease: LeaseRounds::new(now),
            flushed_at: now,
        };
        let mut batch = Vec::new();
        for slot in campaign.from_slot..end {
            if H::core(ctx.durable()).is_chosen(slot) {
                continue;
            }
            let value = match self.config.adoption {
                Adoption::Ignore => next_own_value::<H>(ctx, &mut leading.waiting),
                Adoption::Highest => campaign
                    .adopted
                    .get(&slot)
                    .map_or(H::Machine::NOOP, |&(_, value)| value),
            };
            batch.push((slot, value));
        }
        self.role = Role::Leader(Box::new(leading));
        self.send_heartbeats(ctx);
        self.propose(ctx, &batch);
        self.pump(ctx);
    }

    // ----- phase 2 ------------------------------------------------------------------

    /// Leader: runs or queues a client command (at most once in flight).
    pub(super) fn submit(&mut self, ctx: &mut Ctx<'_, H>, value: Cmd<H>) {
        if has_run::<H>(ctx, value) {
            self.answers.push(value);
            return;
        }
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        if leading.in_flight.contains_key(&value) || leading.waiting.contains(&value) {
            return;
        }
        if self.config.group_commit.is_some() {
            if leading.waiting.len() < QUEUE_MAX {
                leading.waiting.push_back(value);
            }
            self.flush(ctx);
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

    /// Group commit: proposes every waiting command as one group once the previous
    /// group is chosen and the interval passed (the next arrival, choice or tick sends
    /// it otherwise).
    fn flush(&mut self, ctx: &mut Ctx<'_, H>) {
        let Some(interval) = self.config.group_commit else {
            return;
        };
        let now = self.config.now(ctx);
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        if leading.waiting.is_empty()
            || !leading.proposals.is_empty()
            || now < leading.flushed_at.saturating_add(interval)
        {
            return;
        }
        leading.flushed_at = now;
        let mut group = Vec::new();
        while group.len() < PROPOSALS_IN_FLIGHT_MAX
            && let Some(value) = leading.waiting.pop_front()
        {
            if !has_run::<H>(ctx, value) && !leading.in_flight.contains_key(&value) {
                group.push((leading.next_slot, value));
                leading.next_slot += 1;
            }
        }
        self.propose(ctx, &group);
    }

    /// Proposes waiting commands while there is room.
    fn pump(&mut self, ctx: &mut Ctx<'_, H>) {
        if self.config.group_commit.is_some() {
            self.flush(ctx);
            return;
        }
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
    fn propose(&mut self, ctx: &mut Ctx<'_, H>, batch: &[(u64, Cmd<H>)]) {
        if batch.is_empty() {
            return;
        }
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        let ballot = leading.ballot;
        assert_eq!(
            H::core(ctx.durable()).promised,
            ballot,
            "a leader whose promise moved on must have stepped down"
        );
        for &(slot, value) in batch {
            assert!(
                !H::core(ctx.durable()).is_chosen(slot),
                "leader proposes in slot {slot}, already chosen"
            );
            super::acceptor::accept::<H>(ctx, slot, ballot, value);
            leading.proposals.insert(
                slot,
                quorum_of_replicas(
                    self.id,
                    self.config.replicas,
                    value,
                    self.config.heartbeat_interval,
                ),
            );
            if value != H::Machine::NOOP {
                leading.in_flight.insert(value, slot);
            }
        }
        self.dirty = true;
        // Our own acceptance counts towards the quorum: durable first.
        self.persist(ctx);
        let commit = self.first_unchosen;
        let mut complete = Vec::new();
        if let Role::Leader(leading) = &mut self.role {
            for &(slot, _) in batch {
                let acceptances = leading
                    .proposals
                    .get_mut(&slot)
                    .expect("a proposal just made is open");
                acceptances.send_to_missing(ctx, |&value| accept::<H>(ballot, slot, value, commit));
                if acceptances.is_complete() {
                    complete.push(slot);
                }
            }
        }
        // Only with a single replica: our own acceptance is a majority.
        for slot in complete {
            self.chosen(ctx, slot);
        }
    }

    /// Leader: counts phase 2b answers.
    pub(super) fn on_accepted(
        &mut self,
        ctx: &mut Ctx<'_, H>,
        source: NodeId,
        ballot: Ballot,
        slot: u64,
    ) {
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        if leading.ballot != ballot {
            return;
        }
        let Some(acceptances) = leading.proposals.get_mut(&slot) else {
            return;
        };
        // Only a first acceptance from a replica counts; a complete call was removed.
        if acceptances.on_reply(source, ()) == Reply::Counted && acceptances.is_complete() {
            self.chosen(ctx, slot);
        }
    }

    /// Leader: a majority accepted `slot` in our ballot, so its value is chosen.
    fn chosen(&mut self, ctx: &mut Ctx<'_, H>, slot: u64) {
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        let Some(acceptances) = leading.proposals.remove(&slot) else {
            return;
        };
        if super::learn(ctx, slot, *acceptances.request()) {
            self.dirty = true;
        }
        self.first_unchosen = H::core(ctx.durable()).first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        self.persist(ctx);
        self.pump(ctx);
    }

    /// A refusal: a higher promise than our ballot makes us step down.
    pub(super) fn on_nack(&mut self, ctx: &mut Ctx<'_, H>, promised: Ballot) {
        self.max_round_seen = self.max_round_seen.max(promised.round);
        let mine = match &self.role {
            Role::Follower => return,
            Role::Candidate(campaign) => campaign.ballot(),
            Role::Leader(leading) => leading.ballot,
        };
        if promised <= mine {
            return;
        }
        if self.config.lease.is_some() && matches!(self.role, Role::Leader(_)) {
            // Someone campaigned (typically a replica cut off from us, now back). Its
            // higher promise would starve our ballot: run phase 1 again above it. The
            // acceptors that hold our lease let us through at once.
            self.start_election(ctx);
            return;
        }
        self.step_down();
        self.leader = None;
        self.last_contact = self.config.now(ctx);
    }
}

/// The phase 2a message for `value` in `slot`, with the leader's commit index.
fn accept<H: Host>(ballot: Ballot, slot: u64, value: Cmd<H>, commit: u64) -> H::Msg {
    H::message(Msg::Accept {
        ballot,
        slot,
        value,
        commit,
    })
}

/// What a promise reports from `from_slot` on: the accepted (ballot, value) of every
/// slot whose chosen value is unknown here, and the (slot, value) of every learned one.
#[allow(clippy::type_complexity)]
pub(super) fn promise_contents<H: Host>(
    ctx: &Ctx<'_, H>,
    from_slot: u64,
) -> (Vec<PromiseEntry<Cmd<H>>>, Vec<(u64, Cmd<H>)>) {
    let durable = H::core(ctx.durable());
    let start = from_slot.max(durable.base).min(durable.log_len());
    let skip = usize::try_from(start - durable.base).unwrap_or(usize::MAX);
    let mut accepted = Vec::new();
    let mut chosen = Vec::new();
    for (offset, record) in durable.slots.skip(skip).iter().enumerate() {
        let slot = start + offset as u64;
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

/// [`Adoption::Ignore`]: the new leader's "own value" for a slot, a waiting command or
/// a no-op.
fn next_own_value<H: Host>(ctx: &Ctx<'_, H>, waiting: &mut VecDeque<Cmd<H>>) -> Cmd<H> {
    while let Some(value) = waiting.pop_front() {
        if !has_run::<H>(ctx, value) {
            return value;
        }
    }
    H::Machine::NOOP
}

#[cfg(test)]
mod tests {
    //! The core's quorum collection, driven through the `paxos` host with five
    //! replicas (so that a majority needs two peers besides the proposer).
    use crate::multipaxos::{Ballot, Msg as Core};
    use crate::paxos::{Msg, PaxosConfig, PaxosNode, Timer, command_value};
    use dsim_core::{CtxParts, Node, NodeId, SimTime, Workload};

    const REPLICAS: usize = 5;
    const CLIENT: NodeId = NodeId(REPLICAS as u32);

    fn candidate() -> (PaxosNode, CtxParts<PaxosNode>, Ballot) {
        let config = PaxosConfig::new(
            REPLICAS,
            Workload {
                clients: 1,
                rate_per_s: 100.0,
                ..Workload::default()
            },
        );
        let mut parts = CtxParts::new(NodeId(0), config.total_nodes(), 7);
        let mut node = PaxosNode::new(&config, NodeId(0));
        node.on_start(&mut parts.ctx());
        parts.take_effects();
        parts.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Election);
        let sends = parts.take_sends();
        let to: Vec<u32> = sends.iter().map(|(target, _)| target.0).collect();
        // Our own promise is counted up front: no prepare goes to ourselves.
        assert_eq!(to, vec![1, 2, 3, 4]);
        let Msg::Core(Core::Prepare { ballot, .. }) = sends[0].1 else {
            panic!("an election sends prepares, got {:?}", sends[0].1);
        };
        (node, parts, ballot)
    }

    /// The targets of the sends taken from `parts` that `kind` matches, in order.
    fn targets(parts: &mut CtxParts<PaxosNode>, kind: fn(&Msg) -> bool) -> Vec<u32> {
        parts
            .take_sends()
            .into_iter()
            .filter(|(_, msg)| kind(msg))
            .map(|(target, _)| target.0)
            .collect()
    }

    fn is_prepare(msg: &Msg) -> bool {
        matches!(msg, Msg::Core(Core::Prepare { .. }))
    }

    fn is_accept(msg: &Msg) -> bool {
        matches!(msg, Msg::Core(Core::Accept { slot: 0, .. }))
    }

    fn promise(ballot: Ballot) -> Msg {
        Msg::Core(Core::Promise {
            ballot,
            entries: Vec::new(),
            chosen: Vec::new(),
        })
    }

    fn accepted(ballot: Ballot) -> Msg {
        Msg::Core(Core::Accepted { ballot, slot: 0 })
    }

    #[test]
    fn promises_count_once_per_replica_and_only_from_replicas() {
        let (mut node, mut parts, ballot) = candidate();
        for source in [NodeId(1), NodeId(1), CLIENT] {
            node.on_message(&mut parts.ctx(), source, promise(ballot));
        }
        // Own + node 1 twice + a client would be 4 with a counter; it is 2 of 3 needed.
        assert_eq!(node.leading(), None);
        parts.take_effects();
        parts.local_now = SimTime(parts.local_now.0 + 1_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Tick);
        // Node 1 promised: resending to it wastes a message; skipping 2..4 stalls.
        assert_eq!(targets(&mut parts, is_prepare), vec![2, 3, 4]);
        node.on_message(&mut parts.ctx(), NodeId(3), promise(ballot));
        assert_eq!(node.leading(), Some(ballot), "own, 1 and 3: a majority");
    }

    #[test]
    fn an_accept_is_chosen_by_a_majority_of_distinct_acceptors_and_resent_to_the_rest() {
        let (mut node, mut parts, ballot) = candidate();
        node.on_message(&mut parts.ctx(), NodeId(1), promise(ballot));
        node.on_message(&mut parts.ctx(), NodeId(2), promise(ballot));
        assert_eq!(node.leading(), Some(ballot));
        let value = command_value(CLIENT, 0);
        node.on_message(
            &mut parts.ctx(),
            CLIENT,
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        assert_eq!(
            targets(&mut parts, is_accept),
            vec![1, 2, 3, 4],
            "the leader accepted slot 0 itself"
        );
        node.on_message(&mut parts.ctx(), NodeId(4), accepted(ballot));
        node.on_message(&mut parts.ctx(), NodeId(4), accepted(ballot));
        node.on_message(&mut parts.ctx(), CLIENT, accepted(ballot));
        // A duplicated ack (or a stranger's) counted twice would choose with two votes.
        assert_eq!(parts.durable.chosen(0), None);
        parts.local_now = SimTime(parts.local_now.0 + 1_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Tick);
        assert_eq!(
            targets(&mut parts, is_accept),
            vec![1, 2, 3],
            "only to the acceptors that have not accepted"
        );
        node.on_message(&mut parts.ctx(), NodeId(2), accepted(ballot));
        assert_eq!(parts.durable.chosen(0), Some(value), "own, 4 and 2: chosen");
    }
}
