//! The acceptor: promises (phase 1b), acceptances (phase 2b), and following the leader
//! whose ballot it accepts.

use super::proposer::promise_contents;
use super::replica::Role;
use super::{Ballot, Cmd, Event, Host, Msg, Replica};
use dsim_core::{Ctx, NodeId};

/// Records (durably once synced) and reports the acceptance of `value` in `slot`
/// under `ballot`.
pub(super) fn accept<H: Host>(ctx: &mut Ctx<'_, H>, slot: u64, ballot: Ballot, value: Cmd<H>) {
    let record = H::core_mut(ctx.durable_mut()).slot_mut(slot);
    record.accepted_ballot = ballot;
    record.accepted_value = value;
    H::observe(
        ctx,
        Event::Accepted {
            slot,
            ballot,
            value,
        },
    );
}

impl<H: Host> Replica<H> {
    /// Phase 1b.
    pub(super) fn on_prepare(
        &mut self,
        ctx: &mut Ctx<'_, H>,
        source: NodeId,
        ballot: Ballot,
        from_slot: u64,
    ) {
        if !self.admit(ctx, source, ballot) {
            return;
        }
        if self.config.lease.is_some() && self.lease.blocks(source, self.config.now(ctx)) {
            // Our lease promise to the current leader stands: the candidate retries
            // later (no Nack: its ballot is not the problem).
            return;
        }
        // A prepare for slots we compacted cannot be answered with their accepted
        // values: the candidate gets our snapshot instead (no promise), installs it,
        // and prepares again from after it.
        if self.send_snapshot_below(ctx, source, from_slot) {
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
            self.last_contact = self.config.now(ctx);
        }
        let (entries, chosen) = promise_contents::<H>(ctx, from_slot);
        // The promise must be durable before the proposer can count on it.
        self.persist(ctx);
        ctx.send(
            source,
            H::message(Msg::Promise {
                ballot,
                entries,
                chosen,
            }),
        );
    }

    /// Phase 2b; also learns what the commit index reveals.
    pub(super) fn on_accept(
        &mut self,
        ctx: &mut Ctx<'_, H>,
        source: NodeId,
        ballot: Ballot,
        slot: u64,
        value: Cmd<H>,
        commit: u64,
    ) {
        if !self.admit(ctx, source, ballot) {
            return;
        }
        self.raise_promise(ctx, ballot);
        self.follow(ctx, ballot, commit);
        if let Some(lease) = self.config.lease {
            // Every acceptance renews the leader's lease promise too (the leader
            // counts only its rounds' acknowledgements; promising longer is safe).
            let now = self.config.now(ctx);
            self.lease.grant(source, now, lease);
        }
        if slot < H::core(ctx.durable()).log_start() {
            // Compacted: chosen, and any proposal for a chosen slot carries the chosen
            // value, so it counts as accepted without a record.
            self.learn_from_commit(ctx);
            self.persist(ctx);
            ctx.send(source, H::message(Msg::Accepted { ballot, slot }));
            return;
        }
        let record = H::core(ctx.durable()).slot(slot);
        if record.accepted_ballot != ballot || record.accepted_value != value {
            accept::<H>(ctx, slot, ballot, value);
            self.dirty = true;
        }
        if slot < self.leader_commit && super::learn(ctx, slot, value) {
            self.dirty = true;
        }
        self.learn_from_commit(ctx);
        // The acceptance must be durable before the leader can count it.
        self.persist(ctx);
        ctx.send(source, H::message(Msg::Accepted { ballot, slot }));
        self.maybe_catch_up(ctx);
    }

    /// A leader's keep-alive: follow it and learn from its commit index.
    pub(super) fn on_heartbeat(
        &mut self,
        ctx: &mut Ctx<'_, H>,
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

    /// A leader's lease round: a heartbeat that also asks for our lease promise, given
    /// from now on our clock, and acknowledged.
    pub(super) fn on_lease_round(
        &mut self,
        ctx: &mut Ctx<'_, H>,
        source: NodeId,
        ballot: Ballot,
        round: u64,
        commit: u64,
    ) {
        let Some(lease) = self.config.lease else {
            return;
        };
        if !self.config.is_replica(source) || source == self.id || !self.admit(ctx, source, ballot)
        {
            return;
        }
        self.raise_promise(ctx, ballot);
        self.follow(ctx, ballot, commit);
        let now = self.config.now(ctx);
        self.lease.grant(source, now, lease);
        self.learn_from_commit(ctx);
        // A raised promise must be durable before the leader counts on this acceptor.
        self.persist(ctx);
        ctx.send(source, H::message(Msg::LeaseAck { ballot, round }));
        self.maybe_catch_up(ctx);
    }

    /// Notes `ballot`'s round; a ballot below our promise is answered with a Nack
    /// (so its proposer learns it is stale) and refused with `false`.
    fn admit(&mut self, ctx: &mut Ctx<'_, H>, source: NodeId, ballot: Ballot) -> bool {
        self.max_round_seen = self.max_round_seen.max(ballot.round);
        let promised = H::core(ctx.durable()).promised;
        if ballot < promised {
            ctx.send(source, H::message(Msg::Nack { promised }));
            return false;
        }
        true
    }

    /// Raises our promise to `ballot` when it is higher (persisted by the caller before
    /// it replies); returns whether it rose.
    fn raise_promise(&mut self, ctx: &mut Ctx<'_, H>, ballot: Ballot) -> bool {
        if ballot <= H::core(ctx.durable()).promised {
            return false;
        }
        H::core_mut(ctx.durable_mut()).promised = ballot;
        self.dirty = true;
        true
    }

    /// A leader at `ballot` (not below our promise) spoke: follow it.
    fn follow(&mut self, ctx: &mut Ctx<'_, H>, ballot: Ballot, commit: u64) {
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
        self.last_contact = self.config.now(ctx);
        if self.attempts != 0 {
            self.attempts = 0;
            self.election_wait = self.draw_wait(ctx);
        }
    }
}
