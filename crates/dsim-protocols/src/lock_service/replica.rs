//! A cell replica: the Multi-Paxos core ([`crate::multipaxos`], with its master lease)
//! replicating the lock database, and what is Chubby's own: the master's session
//! leases and KeepAlives, the client interface, lock waiters, lock-delay and the
//! sequencers its grants carry. See the module essay.

use super::types::{
    Applied, Cmd, Holder, LockEvent, LockId, Msg, Outcome, Sequencer, SessionId, SessionTable,
    Timer,
};
use super::{Ballot, LockConfig, LockNode};
use crate::multipaxos;
use dsim_core::{Ctx, NodeId, Observation, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// Most waiting acquires the master keeps per lock (further requests are retried by
/// their clients).
const WAITERS_PER_LOCK_MAX: usize = 1024;

/// A replica of the cell.
#[derive(Clone, Debug)]
pub struct Replica {
    id: NodeId,
    config: LockConfig,
    /// Acceptor, proposer (the master when elected) and learner of the lock database.
    core: multipaxos::Replica<LockNode>,
    /// The master's own state, while the core says it serves.
    master: Option<Box<Mastership>>,
}

/// The serving master's volatile state: rebuilt from the database when it starts
/// serving, dropped when it stops.
#[derive(Clone, Debug)]
struct Mastership {
    ballot: Ballot,
    sessions: SessionTable<SessionLease>,
    /// Sessions whose `OpenSession` is in flight, with the request's send time.
    opening: BTreeMap<SessionId, SimTime>,
    /// Per lock, the acquires waiting for it.
    waiters: Vec<VecDeque<Holder>>,
    /// Per lock: an Acquire or EndDelay about it is in flight.
    busy: Vec<bool>,
    /// Locks in lock-delay, to the local time it ends.
    delays: BTreeMap<LockId, SimTime>,
}

impl SessionLease {
    fn fresh(lease_end: SimTime, last_sent_at: SimTime) -> SessionLease {
        SessionLease {
            lease_end,
            last_sent_at,
            expiring: false,
            releasing: 0,
        }
    }
}

/// The master's view of one session's lease.
#[derive(Clone, Copy, Debug)]
struct SessionLease {
    /// Master-clock end of the lease.
    lease_end: SimTime,
    /// Client-clock send time of the newest request that extended it.
    last_sent_at: SimTime,
    /// An `ExpireSession` is in flight.
    expiring: bool,
    /// The newest operation whose release is in flight (0 for none).
    releasing: u64,
}

impl Replica {
    /// Replica `id` of a run with `config`.
    pub fn new(config: LockConfig, id: NodeId) -> Replica {
        assert!(config.is_replica(id), "node {id} is not a replica");
        Replica {
            id,
            config,
            core: multipaxos::Replica::new(config.core(), id),
            master: None,
        }
    }

    /// The ballot of this replica's mastership, if it is a master serving right now.
    pub fn serving(&self) -> Option<Ballot> {
        self.master.as_ref().map(|master| master.ballot)
    }

    /// The ballot this replica leads as master (serving or still recovering).
    pub fn leading(&self) -> Option<Ballot> {
        self.core.leading()
    }

    /// The master this replica follows (itself when master).
    pub fn known_leader(&self) -> Option<NodeId> {
        self.core.known_leader()
    }

    /// First slot whose chosen command this replica does not know.
    pub fn first_unchosen(&self) -> u64 {
        self.core.first_unchosen()
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        self.core.on_start(ctx);
        self.settle(ctx);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Core(msg) => {
                if self.config.is_replica(source) {
                    self.core.on_message(ctx, source, msg);
                }
            }
            Msg::OpenSession { .. }
            | Msg::KeepAlive { .. }
            | Msg::Acquire { .. }
            | Msg::Release { .. } => self.on_client_request(ctx, source, msg),
            // Replies to clients and writes to the resource mean nothing here.
            Msg::SessionOpened { .. }
            | Msg::KeepAliveAck { .. }
            | Msg::Granted { .. }
            | Msg::SessionExpired { .. }
            | Msg::NotMaster { .. }
            | Msg::Write { .. } => {}
        }
        self.settle(ctx);
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, LockNode>, timer: Timer) {
        match timer {
            Timer::Tick => {
                // The core's tick: the lease round (or the step-down of a master whose
                // lease ran out), heartbeat, retransmission, group commit.
                self.core.on_timer(ctx, multipaxos::Timer::Tick);
                self.settle(ctx);
                if let Some(master) = &self.master {
                    ctx.observe(Observation::Protocol(LockEvent::LeaseHeld {
                        ballot: master.ballot,
                    }));
                    self.expire_sessions(ctx);
                    self.end_delays(ctx);
                }
            }
            Timer::Election => self.core.on_timer(ctx, multipaxos::Timer::Election),
            Timer::ClientTick | Timer::HoldEnd | Timer::Client(_) => {}
        }
        self.settle(ctx);
    }

    /// Ends every handler: syncs what the core changed, reacts to what the master
    /// applied (after that sync: a grant is never told before it is durable), then
    /// starts or stops serving as the core's lease and recovery say.
    fn settle(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        loop {
            self.core.persist(ctx);
            let outputs = self.core.take_outputs();
            if outputs.is_empty() {
                break;
            }
            for (_, _, outcome) in outputs {
                self.react(ctx, outcome);
            }
        }
        self.track_serving(ctx);
        self.core.persist(ctx);
    }

    /// Follows the core: a master starts serving once its lease holds and it applied
    /// every recovered slot, and stops when it loses either.
    fn track_serving(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let serving = self.core.serving(ctx);
        if let Some(master) = &self.master
            && serving != Some(master.ballot)
        {
            ctx.observe(Observation::Protocol(LockEvent::ServingStopped {
                ballot: master.ballot,
            }));
            self.master = None;
        }
        if self.master.is_none()
            && let Some(ballot) = serving
        {
            self.start_serving(ctx, ballot);
        }
    }

    /// The new master extends every session by a lease plus the failover grace, and
    /// restarts the lock-delay of every delayed lock on its own clock.
    fn start_serving(&mut self, ctx: &mut Ctx<'_, LockNode>, ballot: Ballot) {
        let now = ctx.monotonic();
        let grace_end = now
            .saturating_add(self.config.session_lease)
            .saturating_add(self.config.failover_grace);
        let db = ctx.durable().db();
        let mut sessions = SessionTable::default();
        for session in db.sessions() {
            sessions.get_or_insert_with(session, || SessionLease::fresh(grace_end, SimTime::ZERO));
        }
        let delay_end = now.saturating_add(self.config.lock_delay);
        let delays = db
            .delayed_locks()
            .into_iter()
            .map(|lock| (lock, delay_end))
            .collect();
        self.master = Some(Box::new(Mastership {
            ballot,
            sessions,
            opening: BTreeMap::new(),
            waiters: vec![VecDeque::new(); self.config.locks as usize],
            busy: vec![false; self.config.locks as usize],
            delays,
        }));
        ctx.observe(Observation::Protocol(LockEvent::ServingStarted { ballot }));
    }

    /// Proposes a command through the core (the master's group commit).
    fn submit(&mut self, ctx: &mut Ctx<'_, LockNode>, cmd: Cmd) {
        self.core.client_command(ctx, cmd);
    }

    /// True when we are a serving master whose lease holds right now (observed as an
    /// act under the lease); a master whose lease ran out steps down here.
    fn check_serving(&mut self, ctx: &mut Ctx<'_, LockNode>) -> bool {
        self.track_serving(ctx);
        let Some(master) = &self.master else {
            return false;
        };
        // Every act under the lease is observed, not only the ticks: the checker sees
        // an overlap with a newer master however short.
        ctx.observe(Observation::Protocol(LockEvent::LeaseHeld {
            ballot: master.ballot,
        }));
        true
    }

    // ----- the master serving clients ---------------------------------------------

    fn on_client_request(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        if !self.config.is_client(source) {
            return;
        }
        if !self.check_serving(ctx) {
            if self.core.leading().is_none() {
                let hint = self.core.known_leader().filter(|&leader| leader != self.id);
                ctx.send(source, Msg::NotMaster { hint });
            }
            // A recovering master stays quiet: the client retries.
            return;
        }
        match msg {
            Msg::OpenSession { session, sent_at } => {
                if session.client != source.0 {
                    return;
                }
                if ctx.durable().db().session(session).is_some() {
                    if let Some(lease_from) = self.extend(ctx, session, sent_at) {
                        ctx.send(
                            source,
                            Msg::SessionOpened {
                                session,
                                lease_from,
                            },
                        );
                    }
                    return;
                }
                let Some(master) = self.master.as_deref_mut() else {
                    return;
                };
                let fresh = !master.opening.contains_key(&session);
                let entry = master.opening.entry(session).or_insert(sent_at);
                *entry = (*entry).max(sent_at);
                if fresh {
                    self.submit(ctx, Cmd::OpenSession { session });
                }
            }
            Msg::KeepAlive { session, sent_at } => {
                if !self.session_usable(ctx, source, session) {
                    return;
                }
                if let Some(lease_from) = self.extend(ctx, session, sent_at) {
                    let released_op = released_op(ctx, session);
                    ctx.send(
                        source,
                        Msg::KeepAliveAck {
                            session,
                            lease_from,
                            released_op,
                        },
                    );
                }
            }
            Msg::Acquire {
                session,
                lock,
                op,
                sent_at,
            } => {
                if lock >= self.config.locks || !self.session_usable(ctx, source, session) {
                    return;
                }
                let Some(lease_from) = self.extend(ctx, session, sent_at) else {
                    return;
                };
                if released_op(ctx, session) >= op {
                    // A stale duplicate of an operation the client already finished.
                    return;
                }
                let record = ctx.durable().db().lock(lock);
                if record.holder == Some(Holder { session, op }) {
                    let released_op = released_op(ctx, session);
                    ctx.send(
                        source,
                        Msg::Granted {
                            session,
                            sequencer: Sequencer {
                                lock,
                                generation: record.generation,
                            },
                            op,
                            lease_from,
                            released_op,
                        },
                    );
                    return;
                }
                let Some(master) = self.master.as_deref_mut() else {
                    return;
                };
                let queue = &mut master.waiters[lock as usize];
                let waiter = Holder { session, op };
                if !queue.contains(&waiter) && queue.len() < WAITERS_PER_LOCK_MAX {
                    queue.push_back(waiter);
                }
                self.try_grant(ctx, lock);
            }
            Msg::Release {
                session,
                sequencer,
                op,
                sent_at,
            } => {
                if sequencer.lock >= self.config.locks || !self.session_usable(ctx, source, session)
                {
                    return;
                }
                if self.extend(ctx, session, sent_at).is_none() {
                    return;
                }
                if released_op(ctx, session) >= op {
                    return;
                }
                let Some(master) = self.master.as_deref_mut() else {
                    return;
                };
                master.waiters[sequencer.lock as usize]
                    .retain(|waiter| *waiter != Holder { session, op });
                let Some(lease) = master.sessions.get_mut(session) else {
                    return;
                };
                if lease.releasing < op {
                    lease.releasing = op;
                    self.submit(
                        ctx,
                        Cmd::Release {
                            session,
                            lock: sequencer.lock,
                            generation: sequencer.generation,
                            op,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// True when `session` (of client `source`) is open and not being expired;
    /// otherwise tells the client its session is gone (unless it is still opening).
    fn session_usable(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        source: NodeId,
        session: SessionId,
    ) -> bool {
        if session.client != source.0 {
            return false;
        }
        let Some(master) = self.master.as_deref() else {
            return false;
        };
        if ctx.durable().db().session(session).is_none() {
            if !master.opening.contains_key(&session) {
                ctx.send(source, Msg::SessionExpired { session });
            }
            return false;
        }
        // An expiry in flight: the client hears once it is applied.
        !master
            .sessions
            .get(session)
            .is_some_and(|lease| lease.expiring)
    }

    /// Extends `session`'s lease from now; returns the client-clock send time of the
    /// newest request that extended it.
    fn extend(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        session: SessionId,
        sent_at: SimTime,
    ) -> Option<SimTime> {
        let lease_end = ctx.monotonic().saturating_add(self.config.session_lease);
        let master = self.master.as_deref_mut()?;
        let lease = master
            .sessions
            .get_or_insert_with(session, || SessionLease::fresh(lease_end, sent_at));
        if lease.expiring {
            return None;
        }
        lease.lease_end = lease.lease_end.max(lease_end);
        lease.last_sent_at = lease.last_sent_at.max(sent_at);
        Some(lease.last_sent_at)
    }

    /// Proposes the grant of `lock` to its first waiter, if it is free, out of
    /// lock-delay and no command about it is in flight.
    fn try_grant(&mut self, ctx: &mut Ctx<'_, LockNode>, lock: LockId) {
        let record = ctx.durable().db().lock(lock);
        let Some(master) = self.master.as_deref_mut() else {
            return;
        };
        let index = lock as usize;
        if master.busy[index] || record.holder.is_some() || record.delayed {
            return;
        }
        while let Some(waiter) = master.waiters[index].pop_front() {
            let usable = ctx.durable().db().session(waiter.session).is_some()
                && !master
                    .sessions
                    .get(waiter.session)
                    .is_some_and(|lease| lease.expiring);
            if usable {
                master.busy[index] = true;
                self.submit(
                    ctx,
                    Cmd::Acquire {
                        session: waiter.session,
                        lock,
                        op: waiter.op,
                    },
                );
                return;
            }
        }
    }

    /// Serving master tick: proposes the expiry of every session whose lease ran out.
    fn expire_sessions(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        let Some(master) = self.master.as_deref_mut() else {
            return;
        };
        let mut expired = Vec::new();
        for (session, lease) in master.sessions.iter_mut() {
            if !lease.expiring && now >= lease.lease_end {
                lease.expiring = true;
                expired.push(session);
            }
        }
        for session in expired {
            self.submit(ctx, Cmd::ExpireSession { session });
        }
    }

    /// Serving master tick: ends the lock-delay of locks whose delay ran out.
    fn end_delays(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        let Some(master) = self.master.as_deref_mut() else {
            return;
        };
        let due: Vec<LockId> = master
            .delays
            .iter()
            .filter(|&(&lock, &end)| now >= end && !master.busy[lock as usize])
            .map(|(&lock, _)| lock)
            .collect();
        for lock in due {
            if !ctx.durable().db().lock(lock).delayed {
                if let Some(master) = self.master.as_deref_mut() {
                    master.delays.remove(&lock);
                }
                continue;
            }
            if let Some(master) = self.master.as_deref_mut() {
                master.busy[lock as usize] = true;
            }
            self.submit(ctx, Cmd::EndDelay { lock });
        }
    }

    /// The master's reaction to one command it applied: observations, and once it
    /// serves, replies and the next grant. Before it serves (recovery) it only
    /// observes.
    fn react(&mut self, ctx: &mut Ctx<'_, LockNode>, outcome: Outcome) {
        let now = ctx.monotonic();
        for sequencer in outcome.freed {
            ctx.observe(Observation::Protocol(LockEvent::Freed { sequencer }));
        }
        let result = outcome.applied;
        if let Applied::Granted {
            session, sequencer, ..
        } = result
        {
            ctx.observe(Observation::Protocol(LockEvent::Granted {
                client: session.client_node(),
                sequencer,
            }));
        }
        let Some(master) = self.master.as_deref_mut() else {
            return;
        };
        match result {
            Applied::Nothing => {}
            Applied::SessionOpened { session } => {
                let lease_end = now.saturating_add(self.config.session_lease);
                let Some(sent_at) = master.opening.remove(&session) else {
                    return;
                };
                let lease = master
                    .sessions
                    .get_or_insert_with(session, || SessionLease::fresh(lease_end, sent_at));
                lease.lease_end = lease.lease_end.max(lease_end);
                lease.last_sent_at = lease.last_sent_at.max(sent_at);
                let lease_from = lease.last_sent_at;
                ctx.send(
                    session.client_node(),
                    Msg::SessionOpened {
                        session,
                        lease_from,
                    },
                );
            }
            Applied::SessionExpired { session, freed } => {
                master.sessions.remove(session);
                ctx.observe(Observation::Protocol(LockEvent::SessionExpired { session }));
                let delay_end = now.saturating_add(self.config.lock_delay);
                for lock in freed {
                    master.delays.insert(lock, delay_end);
                    ctx.observe(Observation::Protocol(LockEvent::LockDelayed {
                        lock,
                        session,
                    }));
                }
                ctx.send(session.client_node(), Msg::SessionExpired { session });
            }
            Applied::Granted {
                session,
                sequencer,
                op,
            } => {
                master.busy[sequencer.lock as usize] = false;
                let lease_from = master
                    .sessions
                    .get(session)
                    .map_or(SimTime::ZERO, |lease| lease.last_sent_at);
                let released_op = released_op(ctx, session);
                ctx.send(
                    session.client_node(),
                    Msg::Granted {
                        session,
                        sequencer,
                        op,
                        lease_from,
                        released_op,
                    },
                );
            }
            Applied::NotGranted { session, lock, op } => {
                master.busy[lock as usize] = false;
                if ctx.durable().db().session(session).is_some() {
                    master.waiters[lock as usize].push_front(Holder { session, op });
                }
                self.try_grant(ctx, lock);
            }
            Applied::Released {
                session,
                op,
                freed,
                freed_older,
            } => {
                if let Some(lease) = master.sessions.get_mut(session)
                    && lease.releasing <= op
                {
                    lease.releasing = 0;
                }
                if freed_older {
                    // Rare: a lost release's hold ended too; look at every queue.
                    for lock in 0..self.config.locks {
                        self.try_grant(ctx, lock);
                    }
                } else if let Some(lock) = freed {
                    self.try_grant(ctx, lock);
                }
            }
            Applied::DelayEnded { lock } => {
                master.busy[lock as usize] = false;
                master.delays.remove(&lock);
                self.try_grant(ctx, lock);
            }
        }
    }
}

/// The highest released operation the database records for `session`.
fn released_op(ctx: &Ctx<'_, LockNode>, session: SessionId) -> u64 {
    ctx.durable()
        .db()
        .session(session)
        .map_or(0, |record| record.released_op)
}

#[cfg(test)]
mod tests {
    use super::super::LockDb;
    use super::super::testkit::*;
    use super::*;
    use crate::multipaxos::{Msg as Core, PromiseEntry};
    use dsim_core::{CtxParts, Effect};

    fn ballot(round: u32, node: u32) -> Ballot {
        Ballot { round, node }
    }

    fn started(id: u32) -> (Replica, CtxParts<LockNode>) {
        let config = config(3, 2);
        let mut parts = parts(&config, id);
        let mut replica = Replica::new(config, NodeId(id));
        replica.on_start(&mut parts.ctx());
        parts.take_effects();
        (replica, parts)
    }

    fn prepare(round: u32, node: u32) -> Msg {
        Msg::Core(Core::Prepare {
            ballot: ballot(round, node),
            from_slot: 0,
        })
    }

    fn lease_round(leader: u32, round: u64) -> Msg {
        Msg::Core(Core::LeaseRound {
            ballot: ballot(1, leader),
            round,
            commit: 0,
        })
    }

    /// Replica 0 of a 3-replica cell, elected master with a promise from replica 1 that
    /// reports `entries`; nothing acknowledged yet.
    fn master_with(entries: Vec<PromiseEntry<Cmd>>) -> (Replica, CtxParts<LockNode>) {
        let (mut replica, mut parts) = started(0);
        parts.local_now = SimTime(60_000_000);
        replica.on_timer(&mut parts.ctx(), Timer::Election);
        let prepare = parts
            .take_sends()
            .into_iter()
            .find_map(|(_, msg)| match msg {
                Msg::Core(Core::Prepare { ballot, .. }) => Some(ballot),
                _ => None,
            })
            .expect("replica 0 campaigns after its startup wait");
        replica.hear_from_one(
            &mut parts,
            Core::Promise {
                ballot: prepare,
                entries,
                chosen: Vec::new(),
            },
        );
        (replica, parts)
    }

    fn lease_round_of(sends: &[(NodeId, Msg)]) -> u64 {
        sends
            .iter()
            .find_map(|(_, msg)| match msg {
                Msg::Core(Core::LeaseRound { round, .. }) => Some(*round),
                _ => None,
            })
            .expect("a lease round went out")
    }

    /// The (slot, command) pairs proposed to replica 1 among `sends`.
    fn accepts(sends: Vec<(NodeId, Msg)>) -> Vec<(u64, Cmd)> {
        sends
            .into_iter()
            .filter_map(|(target, msg)| match msg {
                Msg::Core(Core::Accept { slot, value, .. }) if target == NodeId(1) => {
                    Some((slot, value))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn first_start_staggers_elections_so_replica_zero_campaigns_first() {
        let (mut r0, mut zero) = started(0);
        let (mut r1, mut one) = started(1);
        zero.local_now = SimTime(60_000_000);
        one.local_now = SimTime(60_000_000);
        r0.on_timer(&mut zero.ctx(), Timer::Election);
        r1.on_timer(&mut one.ctx(), Timer::Election);
        // Scenarios crash node 0 to show a master failover: it must be the first master.
        let campaigns = |sends: Vec<(NodeId, Msg)>| {
            sends
                .iter()
                .any(|(_, m)| matches!(m, Msg::Core(Core::Prepare { .. })))
        };
        assert!(campaigns(zero.take_sends()));
        assert!(!campaigns(one.take_sends()));
    }

    #[test]
    fn promise_is_synced_before_it_is_sent_but_is_no_lease() {
        let (mut replica, mut parts) = started(1);
        replica.on_message(&mut parts.ctx(), NodeId(0), prepare(1, 0));
        let effects = parts.take_effects();
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        // A promise forgotten in a crash lets two candidates both win phase 1.
        assert!(sync < reply);
        assert_eq!(parts.durable.promised(), ballot(1, 0));
        // A higher candidate right after is promised too: if promises were leases,
        // dueling candidates would lock each other out for a whole lease.
        replica.on_message(&mut parts.ctx(), NodeId(2), prepare(2, 2));
        assert!(matches!(
            parts.take_sends().as_slice(),
            [(NodeId(2), Msg::Core(Core::Promise { .. }))]
        ));
    }

    #[test]
    fn acknowledged_master_lease_refuses_other_candidates_until_it_runs_out() {
        let config = config(3, 2);
        let (mut replica, mut parts) = started(1);
        replica.on_message(&mut parts.ctx(), NodeId(0), lease_round(0, 1));
        // The round is acknowledged (after the promise of ballot 1 is durable).
        let effects = parts.take_effects();
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(0),
                Msg::Core(Core::LeaseAck {
                    ballot: ballot(1, 0),
                    round: 1
                })
            )]
        );
        parts.local_now = SimTime(config.master_lease.0 - 1);
        replica.on_message(&mut parts.ctx(), NodeId(2), prepare(5, 2));
        // The master counts on this acknowledgement for its lease: promising another
        // candidate now could put two masters in office.
        assert!(parts.take_sends().is_empty(), "lease promise broken");
        assert_eq!(parts.durable.promised(), ballot(1, 0));
        // Once the lease ran out on this replica's clock, the higher ballot wins.
        parts.local_now = SimTime(config.master_lease.0);
        replica.on_message(&mut parts.ctx(), NodeId(2), prepare(5, 2));
        assert!(matches!(
            parts.take_sends().as_slice(),
            [(NodeId(2), Msg::Core(Core::Promise { .. }))]
        ));
    }

    #[test]
    fn restarted_replica_helps_nobody_into_office_for_a_lease() {
        let config = config(3, 2);
        let mut parts = parts(&config, 1);
        parts.durable.core.set_promised(ballot(2, 0));
        parts.local_now = SimTime(1_000_000_000);
        let mut replica = Replica::new(config, NodeId(1));
        replica.on_start(&mut parts.ctx());
        parts.take_effects();
        replica.on_message(&mut parts.ctx(), NodeId(2), prepare(3, 2));
        // It may have acknowledged node 0's lease just before crashing; promising node 2
        // now could put two masters in office.
        assert!(parts.take_sends().is_empty());
        // Nor does it campaign itself before the lease could have run out.
        parts.local_now = SimTime(1_000_000_000 + config.master_lease.0 - 1);
        replica.on_timer(&mut parts.ctx(), Timer::Election);
        assert!(parts.take_sends().is_empty());
        parts.local_now = SimTime(1_000_000_000 + config.master_lease.0);
        replica.on_message(&mut parts.ctx(), NodeId(2), prepare(3, 2));
        assert!(matches!(
            parts.take_sends().as_slice(),
            [(NodeId(2), Msg::Core(Core::Promise { .. }))]
        ));
    }

    #[test]
    fn new_master_adopts_reported_commands_and_serves_only_after_lease_and_recovery() {
        let session = SessionId {
            client: 3,
            epoch: 0,
        };
        let adopted = Cmd::OpenSession { session };
        let (mut replica, mut parts) = master_with(vec![PromiseEntry {
            slot: 0,
            ballot: ballot(1, 1),
            value: adopted,
        }]);
        let leading = replica.leading().expect("phase 1 won");
        assert_eq!(replica.serving(), None, "nothing recovered yet");
        let sends = parts.take_sends();
        // Proposing anything but the reported command could lose a chosen one.
        assert_eq!(accepts(sends.clone()), vec![(0, adopted)]);
        let round = lease_round_of(&sends);
        replica.hear_from_one(
            &mut parts,
            Core::LeaseAck {
                ballot: leading,
                round,
            },
        );
        // The lease holds, but slot 0 is not applied: serving now could grant a lock
        // the recovered log already gave away.
        assert_eq!(replica.serving(), None);
        ack(&mut replica, &mut parts, &[(0, adopted)]);
        assert_eq!(replica.serving(), Some(leading));
        assert!(parts.durable.db().session(session).is_some());
        assert!(events(&parts).contains(&LockEvent::ServingStarted { ballot: leading }));
    }

    #[test]
    fn master_stops_serving_when_its_lease_runs_out() {
        let (mut replica, mut parts) = serving_master();
        let leading = replica.leading().unwrap();
        // No renewal for a whole lease: the other replicas may elect someone else now,
        // so serving on would let two masters act at once.
        parts.local_now = SimTime(parts.local_now.0 + config(3, 2).master_lease.0);
        replica.on_timer(&mut parts.ctx(), Timer::Tick);
        assert_eq!(replica.serving(), None);
        assert_eq!(replica.leading(), None);
        assert!(events(&parts).contains(&LockEvent::ServingStopped { ballot: leading }));
    }

    #[test]
    fn follower_accepts_syncs_then_acknowledges_and_redirects_clients() {
        let (mut replica, mut parts) = started(1);
        replica.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Accept {
                ballot: ballot(1, 0),
                slot: 0,
                value: Cmd::EndDelay { lock: 1 },
                commit: 0,
            }),
        );
        let effects = parts.take_effects();
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        // An acceptance the master counts but the acceptor forgets breaks quorums.
        assert!(sync < reply);
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(0),
                Msg::Core(Core::Accepted {
                    ballot: ballot(1, 0),
                    slot: 0
                })
            )]
        );
        replica.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::KeepAlive {
                session: SessionId {
                    client: 3,
                    epoch: 0,
                },
                sent_at: SimTime::ZERO,
            },
        );
        // Clients find the master through followers' hints.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(3),
                Msg::NotMaster {
                    hint: Some(NodeId(0))
                }
            )]
        );
    }

    #[test]
    fn serving_master_grants_a_free_lock_through_the_log_then_queues_the_next() {
        let (mut replica, mut parts) = serving_master();
        let alice = SessionId {
            client: 3,
            epoch: 0,
        };
        let bob = SessionId {
            client: 4,
            epoch: 0,
        };
        open_session(&mut replica, &mut parts, alice);
        open_session(&mut replica, &mut parts, bob);
        for (session, source) in [(alice, 3), (bob, 4)] {
            replica.on_message(
                &mut parts.ctx(),
                NodeId(source),
                Msg::Acquire {
                    session,
                    lock: 1,
                    op: 7,
                    sent_at: SimTime(5),
                },
            );
        }
        // Only one acquire is proposed: the lock is busy while its grant is in flight.
        let effects = parts.take_effects();
        let proposed = accepts(sends(&effects));
        assert_eq!(
            proposed.iter().map(|&(_, cmd)| cmd).collect::<Vec<_>>(),
            vec![Cmd::Acquire {
                session: alice,
                lock: 1,
                op: 7
            }]
        );
        // Nothing is granted before a majority accepted: a grant the log could lose
        // would be a grant a new master does not know.
        assert!(
            !sends(&effects)
                .iter()
                .any(|(_, m)| matches!(m, Msg::Granted { .. }))
        );
        ack(&mut replica, &mut parts, &proposed);
        let granted = parts
            .take_sends()
            .into_iter()
            .find_map(|(target, msg)| match msg {
                Msg::Granted { sequencer, .. } => Some((target, sequencer)),
                _ => None,
            });
        let sequencer = Sequencer {
            lock: 1,
            generation: 1,
        };
        assert_eq!(granted, Some((NodeId(3), sequencer)));
        assert!(events(&parts).contains(&LockEvent::Granted {
            client: NodeId(3),
            sequencer
        }));
    }

    #[test]
    fn commands_arriving_while_a_group_is_in_flight_go_out_together_after_it_is_chosen() {
        let (mut replica, mut parts) = serving_master();
        let session = |client, epoch| SessionId { client, epoch };
        let open = |client, epoch| Msg::OpenSession {
            session: session(client, epoch),
            sent_at: SimTime(1),
        };
        replica.on_message(&mut parts.ctx(), NodeId(3), open(3, 0));
        let first = take_batch(&mut parts);
        assert_eq!(first.len(), 1);
        replica.on_message(&mut parts.ctx(), NodeId(4), open(4, 0));
        replica.on_message(&mut parts.ctx(), NodeId(3), open(3, 1));
        // Group commit: nothing more goes out while the first group is open, or every
        // command would cost its own sync at every acceptor.
        assert!(accepts(sends(&parts.take_effects())).is_empty());
        ack(&mut replica, &mut parts, &first);
        let effects = parts.take_effects();
        let group = accepts(sends(&effects));
        assert_eq!(
            group.iter().map(|&(_, cmd)| cmd).collect::<Vec<_>>(),
            vec![
                Cmd::OpenSession {
                    session: session(4, 0)
                },
                Cmd::OpenSession {
                    session: session(3, 1)
                }
            ]
        );
        // Consecutive slots, accepted by the master in one sync before any Accept left.
        assert_eq!(group[1].0, group[0].0 + 1);
        let syncs = effects
            .iter()
            .filter(|effect| matches!(effect, Effect::Sync))
            .count();
        assert_eq!(syncs, 2, "one for the chosen slot, one for the new group");
        let group_sync = effects
            .iter()
            .rposition(|effect| matches!(effect, Effect::Sync))
            .expect("synced");
        let first_accept = position(&effects, |effect| {
            matches!(
                effect,
                Effect::Send {
                    msg: Msg::Core(Core::Accept { .. }),
                    ..
                }
            )
        });
        assert!(group_sync < first_accept);
    }

    #[test]
    fn expired_session_frees_its_lock_only_after_lock_delay() {
        let (mut replica, mut parts) = serving_master();
        let alice = SessionId {
            client: 3,
            epoch: 0,
        };
        open_session(&mut replica, &mut parts, alice);
        commit_request(
            &mut replica,
            &mut parts,
            NodeId(3),
            Msg::Acquire {
                session: alice,
                lock: 0,
                op: 1,
                sent_at: SimTime(1),
            },
        );
        assert_eq!(parts.durable.db().lock(0).generation, 1);
        // Alice goes silent past her session lease.
        let config = config(3, 2);
        let silent_until = parts.local_now.0 + config.session_lease.0 + config.failover_grace.0;
        keep_lease(&mut replica, &mut parts, SimTime(silent_until));
        let expire = take_batch(&mut parts);
        assert_eq!(
            expire.iter().map(|&(_, cmd)| cmd).collect::<Vec<_>>(),
            vec![Cmd::ExpireSession { session: alice }]
        );
        ack(&mut replica, &mut parts, &expire);
        assert!(parts.durable.db().lock(0).delayed);
        assert!(events(&parts).contains(&LockEvent::SessionExpired { session: alice }));
        assert!(events(&parts).contains(&LockEvent::LockDelayed {
            lock: 0,
            session: alice
        }));
        // Before the delay ends no EndDelay is proposed.
        let half_delay = SimTime(parts.local_now.0 + config.lock_delay.0 / 2);
        keep_lease(&mut replica, &mut parts, half_delay);
        assert!(take_batch(&mut parts).is_empty());
        let delay_over = SimTime(parts.local_now.0 + config.lock_delay.0);
        keep_lease(&mut replica, &mut parts, delay_over);
        assert_eq!(
            take_batch(&mut parts)
                .iter()
                .map(|&(_, cmd)| cmd)
                .collect::<Vec<_>>(),
            vec![Cmd::EndDelay { lock: 0 }]
        );
    }

    #[test]
    fn release_hands_the_lock_to_the_next_waiter_under_a_newer_generation() {
        let (mut replica, mut parts) = serving_master();
        let alice = SessionId {
            client: 3,
            epoch: 0,
        };
        let bob = SessionId {
            client: 4,
            epoch: 0,
        };
        open_session(&mut replica, &mut parts, alice);
        open_session(&mut replica, &mut parts, bob);
        commit_request(
            &mut replica,
            &mut parts,
            NodeId(3),
            Msg::Acquire {
                session: alice,
                lock: 1,
                op: 1,
                sent_at: SimTime(2),
            },
        );
        // Bob waits: the lock is Alice's.
        replica.on_message(
            &mut parts.ctx(),
            NodeId(4),
            Msg::Acquire {
                session: bob,
                lock: 1,
                op: 1,
                sent_at: SimTime(3),
            },
        );
        assert!(take_batch(&mut parts).is_empty());
        replica.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::Release {
                session: alice,
                sequencer: Sequencer {
                    lock: 1,
                    generation: 1,
                },
                op: 1,
                sent_at: SimTime(4),
            },
        );
        let release = take_batch(&mut parts);
        assert!(matches!(release[..], [(_, Cmd::Release { op: 1, .. })]));
        ack(&mut replica, &mut parts, &release);
        // The end of Alice's hold is observed, or the checker would take Bob's grant
        // below for a grant while held.
        assert!(events(&parts).contains(&LockEvent::Freed {
            sequencer: Sequencer {
                lock: 1,
                generation: 1
            }
        }));
        // Applying the release queues Bob's grant; once chosen, Bob holds generation 2.
        let grant = take_batch(&mut parts);
        assert_eq!(
            grant.iter().map(|&(_, cmd)| cmd).collect::<Vec<_>>(),
            vec![Cmd::Acquire {
                session: bob,
                lock: 1,
                op: 1
            }]
        );
        ack(&mut replica, &mut parts, &grant);
        let granted = parts
            .take_sends()
            .into_iter()
            .find_map(|(target, msg)| match msg {
                Msg::Granted { sequencer, .. } => Some((target, sequencer)),
                _ => None,
            });
        // A newer holder with the same generation would defeat fencing.
        assert_eq!(
            granted,
            Some((
                NodeId(4),
                Sequencer {
                    lock: 1,
                    generation: 2
                }
            ))
        );
    }

    #[test]
    fn unknown_session_is_told_it_expired() {
        let (mut replica, mut parts) = serving_master();
        let ghost = SessionId {
            client: 3,
            epoch: 9,
        };
        replica.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::KeepAlive {
                session: ghost,
                sent_at: SimTime(1),
            },
        );
        // Acking a session the database does not know would revive an expired one.
        assert_eq!(
            parts.take_sends(),
            vec![(NodeId(3), Msg::SessionExpired { session: ghost })]
        );
    }

    #[test]
    fn keepalive_extends_the_session_and_echoes_the_clients_send_time() {
        let (mut replica, mut parts) = serving_master();
        let alice = SessionId {
            client: 3,
            epoch: 0,
        };
        open_session(&mut replica, &mut parts, alice);
        replica.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::KeepAlive {
                session: alice,
                sent_at: SimTime(77),
            },
        );
        // The client counts its lease from its own send time, which must come back.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(3),
                Msg::KeepAliveAck {
                    session: alice,
                    lease_from: SimTime(77),
                    released_op: 0
                }
            )]
        );
    }

    #[test]
    fn every_client_request_served_is_observed_as_an_act_under_the_lease() {
        let (mut replica, mut parts) = serving_master();
        let alice = SessionId {
            client: 3,
            epoch: 0,
        };
        open_session(&mut replica, &mut parts, alice);
        parts.take_effects();
        let ballot = replica.leading().expect("leading");
        replica.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::KeepAlive {
                session: alice,
                sent_at: SimTime(77),
            },
        );
        // Observed only at ticks, an overlap with a newer master shorter than a tick
        // went unseen by the master_lease check.
        assert_eq!(events(&parts), vec![LockEvent::LeaseHeld { ballot }]);
    }

    #[test]
    fn master_nacked_by_a_higher_promise_runs_phase_one_again_above_it() {
        let (mut replica, mut parts) = serving_master();
        let old = replica.leading().unwrap();
        replica.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Core(Core::Nack {
                promised: ballot(old.round + 3, 2),
            }),
        );
        // Stepping down for good would leave the cell without a master for a whole
        // lease; ignoring the Nack would starve our ballot at that acceptor forever.
        let prepares: Vec<Ballot> = parts
            .take_sends()
            .into_iter()
            .filter_map(|(_, msg)| match msg {
                Msg::Core(Core::Prepare { ballot, .. }) => Some(ballot),
                _ => None,
            })
            .collect();
        assert_eq!(prepares.len(), 2);
        assert!(
            prepares
                .iter()
                .all(|b| *b > ballot(old.round + 3, 2) && b.node == 0)
        );
        assert!(events(&parts).contains(&LockEvent::ServingStopped { ballot: old }));
    }

    // ----- helpers ------------------------------------------------------------------

    impl Replica {
        /// Hands this replica a core message from replica 1.
        fn hear_from_one(&mut self, parts: &mut CtxParts<LockNode>, msg: Core<LockDb>) {
            self.on_message(&mut parts.ctx(), NodeId(1), Msg::Core(msg));
        }
    }

    /// Replica 0 elected, its first lease round acknowledged by replica 1: serving.
    fn serving_master() -> (Replica, CtxParts<LockNode>) {
        let (mut replica, mut parts) = master_with(Vec::new());
        let round = lease_round_of(&parts.take_sends());
        let leading = replica.leading().unwrap();
        replica.hear_from_one(
            &mut parts,
            Core::LeaseAck {
                ballot: leading,
                round,
            },
        );
        assert!(replica.serving().is_some());
        parts.take_effects();
        (replica, parts)
    }

    /// The commands proposed to replica 1 since the last look.
    fn take_batch(parts: &mut CtxParts<LockNode>) -> Vec<(u64, Cmd)> {
        accepts(parts.take_sends())
    }

    /// Replica 1 accepts `batch`: with the master's own acceptance, a majority.
    fn ack(replica: &mut Replica, parts: &mut CtxParts<LockNode>, batch: &[(u64, Cmd)]) {
        let leading = replica.leading().expect("leading");
        for &(slot, _) in batch {
            replica.hear_from_one(
                parts,
                Core::Accepted {
                    ballot: leading,
                    slot,
                },
            );
        }
    }

    /// Advances to `until` in heartbeat steps, with replica 1 acknowledging each lease
    /// round (and nothing else), so the master keeps its lease.
    fn keep_lease(replica: &mut Replica, parts: &mut CtxParts<LockNode>, until: SimTime) {
        let step = config(3, 2).heartbeat_interval.0;
        let leading = replica.leading().expect("leading");
        let mut proposed = Vec::new();
        while parts.local_now < until {
            parts.local_now = SimTime((parts.local_now.0 + step).min(until.0));
            replica.on_timer(&mut parts.ctx(), Timer::Tick);
            let sends = parts.take_sends();
            let round = lease_round_of(&sends);
            for (slot, value) in accepts(sends) {
                // Retransmissions of a slot still open are not new proposals.
                if !proposed.iter().any(|&(seen, _)| seen == slot) {
                    proposed.push((slot, value));
                }
            }
            replica.hear_from_one(
                parts,
                Core::LeaseAck {
                    ballot: leading,
                    round,
                },
            );
        }
        // What was proposed meanwhile is left for the test to look at, as if new.
        for (slot, value) in proposed {
            parts.effects.push(Effect::Send {
                target: NodeId(1),
                msg: Msg::Core(Core::Accept {
                    ballot: leading,
                    slot,
                    value,
                    commit: 0,
                }),
            });
        }
    }

    fn open_session(replica: &mut Replica, parts: &mut CtxParts<LockNode>, session: SessionId) {
        commit_request(
            replica,
            parts,
            session.client_node(),
            Msg::OpenSession {
                session,
                sent_at: SimTime(1),
            },
        );
        assert!(parts.durable.db().session(session).is_some());
    }

    fn commit_request(
        replica: &mut Replica,
        parts: &mut CtxParts<LockNode>,
        source: NodeId,
        msg: Msg,
    ) {
        replica.on_message(&mut parts.ctx(), source, msg);
        let batch = take_batch(parts);
        assert!(!batch.is_empty(), "the request was proposed");
        ack(replica, parts, &batch);
        parts.take_effects();
    }
}
