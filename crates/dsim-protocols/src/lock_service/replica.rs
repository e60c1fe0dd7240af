//! A cell replica: Multi-Paxos acceptor and learner for the lock-database log, and the
//! Chubby master (the stable Paxos leader) when elected. See the module essay.

use super::types::{
    Applied, Cmd, Holder, LockEvent, LockId, Msg, PromiseEntry, Sequencer, SessionId, SessionTable,
    Timer,
};
use super::{Ballot, LockConfig, LockNode, bit};
use dsim_core::rng::below;
use dsim_core::{Ctx, NodeId, Observation, SimDuration, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// The most slots a follower infers from one commit index before asking to catch up.
const INFER_SCAN_MAX: u64 = 256;

/// The most chosen commands one `Learn` carries.
const LEARN_BATCH_MAX: u64 = 256;

/// The most commands one retransmitted `Append` carries.
const RETRANSMIT_MAX: u64 = 128;

/// Lease rounds the master remembers while waiting for their acknowledgements.
const ROUNDS_KEPT: usize = 32;

/// Most waiting acquires the master keeps per lock (further requests are retried by
/// their clients).
const WAITERS_PER_LOCK_MAX: usize = 1024;

/// A replica of the cell.
#[derive(Clone, Debug)]
pub struct Replica {
    id: NodeId,
    config: LockConfig,
    role: Role,
    /// The master this replica follows, if it knows one.
    leader: Option<NodeId>,
    /// Ballot of the master it follows.
    leader_ballot: Ballot,
    /// The highest commit index heard under `leader_ballot`.
    leader_commit: u64,
    /// Local time of the last sign of a master (or of a promise we gave).
    last_contact: SimTime,
    /// Silence that makes us campaign; redrawn on every attempt.
    election_wait: SimDuration,
    /// Failed campaigns since we last heard a master (drives the backoff).
    attempts: u32,
    /// The highest round seen in any ballot.
    max_round_seen: u32,
    /// First slot whose chosen command this replica does not know.
    first_unchosen: u64,
    /// When we last asked the master for chosen commands.
    catch_up_sent: Option<SimTime>,
    /// The acceptor's master-lease promise: until `lease_until` (local time) it helps
    /// no node but `lease_holder` into office. `None` with a future `lease_until` (after
    /// a restart) refuses every candidate.
    lease_holder: Option<NodeId>,
    /// End of the promise, local time.
    lease_until: SimTime,
    /// Durable state changed since the last sync.
    dirty: bool,
}

#[derive(Clone, Debug)]
enum Role {
    Follower,
    Candidate(Campaign),
    Master(Box<Mastership>),
}

/// Phase 1 in progress.
#[derive(Clone, Debug)]
struct Campaign {
    ballot: Ballot,
    from_slot: u64,
    promised_by: u32,
    /// Per slot, the highest-ballot accepted command any promise (ours included)
    /// reported.
    adopted: BTreeMap<u64, (Ballot, Cmd)>,
    /// Slots some promise reported as chosen.
    chosen: BTreeMap<u64, Cmd>,
    started_at: SimTime,
}

/// The master's volatile state.
#[derive(Clone, Debug)]
struct Mastership {
    ballot: Ballot,
    elected_at: SimTime,
    next_slot: u64,
    /// Slot to acceptors that acknowledged it (bit mask); the command is in the log.
    proposals: BTreeMap<u64, u32>,
    /// Commands waiting for the batch in flight to be chosen (group commit).
    batch: Vec<Cmd>,
    /// End (exclusive) of the last batch sent: a batch is in flight while the commit
    /// index is below it.
    flushed_end: u64,
    /// When the last batch was sent.
    flushed_at: SimTime,
    /// A batch went out since the last tick (it carried the current lease round, so
    /// the tick need not send a heartbeat).
    appended_since_tick: bool,
    /// `next_slot` at the last tick: proposals below it have waited a whole tick.
    next_slot_at_tick: u64,
    /// Current lease round, started at the last tick.
    round: u64,
    /// Recent rounds: (round, local send time, acknowledgers).
    rounds: VecDeque<(u64, SimTime, u32)>,
    /// The master lease: valid while local time is below it (`None` before the first
    /// round a majority acknowledged).
    lease_end: Option<SimTime>,
    /// Phase 1 reported the slots from here on; grants below it were observed by the
    /// masters that chose them.
    recovery_start: u64,
    /// Slots below this were recovered through phase 1 and must be applied before the
    /// master serves.
    recovery_end: u64,
    serving: bool,
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
            lease_holder: None,
            lease_until: SimTime::ZERO,
            dirty: false,
        }
    }

    /// The ballot of this replica's mastership, if it is a master serving right now.
    pub fn serving(&self) -> Option<Ballot> {
        match &self.role {
            Role::Master(master) if master.serving => Some(master.ballot),
            _ => None,
        }
    }

    /// The ballot this replica leads as master (serving or still recovering).
    pub fn leading(&self) -> Option<Ballot> {
        match &self.role {
            Role::Master(master) => Some(master.ballot),
            _ => None,
        }
    }

    /// The master this replica follows (itself when master).
    pub fn known_leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// First slot whose chosen command this replica does not know.
    pub fn first_unchosen(&self) -> u64 {
        self.first_unchosen
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        self.first_unchosen = ctx.durable().first_unchosen_from(0);
        self.max_round_seen = ctx.durable().promised.round;
        self.last_contact = now;
        if ctx.durable().promised == Ballot::NONE && ctx.durable().log_len() == 0 {
            // First start of the cell: staggered waits make replica 0 the usual first
            // master, so scenarios can name the master they crash.
            let step = self.config.election_timeout.0 / 2;
            self.election_wait = SimDuration(step.saturating_mul(u64::from(self.id.0) + 1));
        } else {
            // A restart: this replica may have granted a master lease just before the
            // crash and no longer remembers to whom, so it helps nobody into office
            // for a whole lease.
            self.lease_holder = None;
            self.lease_until = now.saturating_add(self.config.master_lease);
            self.election_wait = self.draw_wait(ctx);
        }
        self.persist(ctx);
        ctx.set_timer(self.config.heartbeat_interval, Timer::Tick);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { ballot, from_slot } => self.on_prepare(ctx, source, ballot, from_slot),
            Msg::Promise { ballot, entries } => self.on_promise(ctx, source, ballot, &entries),
            Msg::Nack { promised } => self.on_nack(ctx, promised),
            Msg::Append {
                ballot,
                round,
                commit,
                first_slot,
                cmds,
            } => self.on_append(ctx, source, ballot, round, commit, first_slot, &cmds),
            Msg::AppendOk {
                ballot,
                round,
                first_slot,
                count,
            } => self.on_append_ok(ctx, source, ballot, round, first_slot, count),
            Msg::CatchUp { from_slot } => self.on_catch_up(ctx, source, from_slot),
            Msg::Learn { first_slot, cmds } => self.on_learn(ctx, first_slot, &cmds),
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
        self.persist(ctx);
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, LockNode>, timer: Timer) {
        if timer == Timer::Tick {
            self.on_tick(ctx);
            ctx.set_timer(self.config.heartbeat_interval, Timer::Tick);
        }
        self.persist(ctx);
    }

    fn persist(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        if self.dirty {
            ctx.sync();
            self.dirty = false;
        }
    }

    // ----- elections --------------------------------------------------------------

    /// The election wait: uniform in `[t, t + t * 2^attempts)`, at most `[t, 9t)`.
    fn draw_wait(&self, ctx: &mut Ctx<'_, LockNode>) -> SimDuration {
        let base_ns = self.config.election_timeout.as_nanos();
        let spread_ns = base_ns.saturating_mul(1 << self.attempts.min(3)).max(1);
        SimDuration(base_ns + below(ctx.rng(), spread_ns))
    }

    /// When a follower campaigns: an election wait after the last sign of a master,
    /// and not before its lease promise to another master ran out plus the random part
    /// of the wait (so that replicas whose promises end together do not all campaign
    /// at once).
    fn election_due(&self) -> SimTime {
        let after_contact = self.last_contact.saturating_add(self.election_wait);
        if self.lease_holder == Some(self.id) {
            return after_contact;
        }
        let jitter = SimDuration(
            self.election_wait
                .0
                .saturating_sub(self.config.election_timeout.0),
        );
        after_contact.max(self.lease_until.saturating_add(jitter))
    }

    /// True while this replica's lease promise forbids helping `candidate`.
    fn lease_blocks(&self, candidate: NodeId, now: SimTime) -> bool {
        now < self.lease_until && self.lease_holder != Some(candidate)
    }

    fn grant_lease(&mut self, holder: NodeId, now: SimTime) {
        self.lease_holder = Some(holder);
        self.lease_until = now.saturating_add(self.config.master_lease);
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        match &self.role {
            Role::Master(_) => self.master_tick(ctx),
            Role::Candidate(campaign) => {
                if now.saturating_since(campaign.started_at) >= self.election_wait {
                    // The campaign failed: try again with a higher ballot.
                    self.start_election(ctx);
                } else {
                    self.send_prepares(ctx);
                }
            }
            Role::Follower => {
                if now >= self.election_due() {
                    self.start_election(ctx);
                } else {
                    self.maybe_catch_up(ctx);
                }
            }
        }
    }

    /// Starts phase 1 with a ballot above every round seen, unless our own lease
    /// promise to another master still stands.
    fn start_election(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        if self.lease_blocks(self.id, now) {
            return;
        }
        if matches!(self.role, Role::Master(_)) {
            self.step_down(ctx);
        }
        let round = self.max_round_seen.max(ctx.durable().promised.round) + 1;
        self.max_round_seen = round;
        let ballot = Ballot {
            round,
            node: self.id.0,
        };
        ctx.durable_mut().promised = ballot;
        self.dirty = true;
        self.leader = None;
        let from_slot = self.first_unchosen;
        let mut adopted = BTreeMap::new();
        let mut chosen = BTreeMap::new();
        for slot in from_slot..ctx.durable().log_len() {
            let record = ctx.durable().slot(slot);
            if record.chosen {
                chosen.insert(slot, record.cmd);
            } else if record.ballot != Ballot::NONE {
                adopted.insert(slot, (record.ballot, record.cmd));
            }
        }
        self.role = Role::Candidate(Campaign {
            ballot,
            from_slot,
            promised_by: bit(self.id),
            adopted,
            chosen,
            started_at: now,
        });
        self.attempts = self.attempts.saturating_add(1);
        self.election_wait = self.draw_wait(ctx);
        // Our own promise must be durable before anyone counts on our ballot.
        self.persist(ctx);
        if self.config.majority() == 1 {
            self.become_master(ctx);
        } else {
            self.send_prepares(ctx);
        }
    }

    fn send_prepares(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let Role::Candidate(campaign) = &self.role else {
            return;
        };
        for peer in peers(self.id, self.config.replicas) {
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

    /// Acceptor: phase 1b. The promise binds the ballot, not the lease: only an
    /// acknowledged `Append` round is a lease grant.
    fn on_prepare(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        source: NodeId,
        ballot: Ballot,
        from_slot: u64,
    ) {
        if !self.config.is_replica(source) {
            return;
        }
        self.max_round_seen = self.max_round_seen.max(ballot.round);
        let now = ctx.monotonic();
        let promised = ctx.durable().promised;
        if ballot < promised {
            ctx.send(source, Msg::Nack { promised });
            return;
        }
        if self.lease_blocks(source, now) {
            // The promise to the current master stands: the candidate retries later.
            return;
        }
        if !matches!(self.role, Role::Follower) {
            // Our own ballot is at most our promise and not this one: it is lower.
            self.step_down(ctx);
        }
        if ballot > promised {
            ctx.durable_mut().promised = ballot;
            self.dirty = true;
        }
        // A promise is not a lease: only a master's `Append` rounds grant one, so that
        // dueling candidates never lock each other out for a whole lease.
        self.last_contact = now;
        let durable = ctx.durable();
        let entries: Vec<PromiseEntry> = (from_slot..durable.log_len())
            .filter_map(|slot| {
                let record = durable.slot(slot);
                (record.chosen || record.ballot != Ballot::NONE).then_some(PromiseEntry {
                    slot,
                    ballot: record.ballot,
                    cmd: record.cmd,
                    chosen: record.chosen,
                })
            })
            .collect();
        // The promise must survive a crash before the candidate counts on it.
        self.persist(ctx);
        ctx.send(source, Msg::Promise { ballot, entries });
    }

    fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        source: NodeId,
        ballot: Ballot,
        entries: &[PromiseEntry],
    ) {
        let majority = self.config.majority();
        let Role::Candidate(campaign) = &mut self.role else {
            return;
        };
        if campaign.ballot != ballot || !self.config.is_replica(source) {
            return;
        }
        if campaign.promised_by & bit(source) != 0 {
            return;
        }
        campaign.promised_by |= bit(source);
        for entry in entries {
            if entry.chosen {
                campaign.chosen.insert(entry.slot, entry.cmd);
            } else {
                let adopted = campaign
                    .adopted
                    .entry(entry.slot)
                    .or_insert((entry.ballot, entry.cmd));
                if entry.ballot > adopted.0 {
                    *adopted = (entry.ballot, entry.cmd);
                }
            }
        }
        if campaign.promised_by.count_ones() as usize >= majority {
            self.become_master(ctx);
        }
    }

    /// Phase 1 succeeded: learn what promises reported chosen, re-propose the
    /// highest-ballot command of every other reported slot (a no-op in gaps), and start
    /// the first lease round.
    fn become_master(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let Role::Candidate(campaign) = std::mem::replace(&mut self.role, Role::Follower) else {
            return;
        };
        let now = ctx.monotonic();
        for (&slot, &cmd) in &campaign.chosen {
            let record = ctx.durable_mut().slot_mut(slot);
            if !record.chosen {
                record.cmd = cmd;
                record.chosen = true;
                self.dirty = true;
            }
        }
        let end = [
            campaign.adopted.keys().next_back(),
            campaign.chosen.keys().next_back(),
        ]
        .into_iter()
        .flatten()
        .map(|&slot| slot + 1)
        .max()
        .unwrap_or(0)
        .max(campaign.from_slot);
        let ballot = campaign.ballot;
        let mut proposals = BTreeMap::new();
        for slot in campaign.from_slot..end {
            if ctx.durable().slot(slot).chosen {
                continue;
            }
            let cmd = campaign
                .adopted
                .get(&slot)
                .map_or(Cmd::Noop, |&(_, cmd)| cmd);
            let record = ctx.durable_mut().slot_mut(slot);
            record.ballot = ballot;
            record.cmd = cmd;
            proposals.insert(slot, bit(self.id));
            self.dirty = true;
        }
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.leader = Some(self.id);
        self.leader_ballot = ballot;
        self.attempts = 0;
        self.role = Role::Master(Box::new(Mastership {
            ballot,
            elected_at: now,
            next_slot: end,
            proposals,
            batch: Vec::new(),
            flushed_end: end,
            flushed_at: now,
            appended_since_tick: false,
            next_slot_at_tick: end,
            round: 0,
            rounds: VecDeque::new(),
            lease_end: None,
            recovery_start: campaign.from_slot,
            recovery_end: end,
            serving: false,
            sessions: SessionTable::default(),
            opening: BTreeMap::new(),
            waiters: vec![VecDeque::new(); self.config.locks as usize],
            busy: vec![false; self.config.locks as usize],
            delays: BTreeMap::new(),
        }));
        self.apply(ctx);
        // Our own acceptances of the recovered slots are durable before anyone counts.
        self.persist(ctx);
        self.master_round(ctx);
        if self.config.majority() == 1 {
            let slots: Vec<u64> = match &self.role {
                Role::Master(master) => master.proposals.keys().copied().collect(),
                _ => Vec::new(),
            };
            for slot in slots {
                self.chosen(ctx, slot);
            }
            self.after_commit(ctx);
        }
    }

    fn on_nack(&mut self, ctx: &mut Ctx<'_, LockNode>, promised: Ballot) {
        self.max_round_seen = self.max_round_seen.max(promised.round);
        if let Role::Master(master) = &self.role
            && promised > master.ballot
        {
            // Someone campaigned (typically a replica cut off from us, now back). Its
            // higher promise would starve our ballot: run phase 1 again above it. Our
            // lease promises name this node, so the acceptors let us through at once.
            self.start_election(ctx);
        }
    }

    /// Leaves the master or candidate role, dropping volatile master state.
    fn step_down(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        if let Role::Master(master) = &self.role {
            if master.serving {
                ctx.observe(Observation::Protocol(LockEvent::ServingStopped {
                    ballot: master.ballot,
                }));
            }
            if self.leader == Some(self.id) {
                self.leader = None;
            }
        }
        self.role = Role::Follower;
        self.last_contact = ctx.monotonic();
    }

    // ----- the master: lease rounds, phase 2, group commit ---------------------------

    /// Master tick: check the lease, start a lease round (heartbeat plus
    /// retransmission), and run the session and lock-delay bookkeeping.
    fn master_tick(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        let Role::Master(master) = &self.role else {
            return;
        };
        let expired = match master.lease_end {
            Some(end) => now >= end,
            None => now.saturating_since(master.elected_at) >= self.config.master_lease,
        };
        if expired {
            // No majority renewed the lease in time: we may no longer act as master.
            self.step_down(ctx);
            return;
        }
        self.master_round(ctx);
        let Role::Master(master) = &self.role else {
            return;
        };
        if master.serving {
            ctx.observe(Observation::Protocol(LockEvent::LeaseHeld {
                ballot: master.ballot,
            }));
            self.expire_sessions(ctx);
            self.end_delays(ctx);
        }
        self.flush(ctx);
    }

    /// Starts a lease round: renews our own acceptor's promise and sends every peer an
    /// `Append`: the proposals it has not acknowledged for a whole tick, or else an empty
    /// heartbeat, unless a batch went out since the last tick (the next batch carries
    /// the new round then; without one, the next tick sends heartbeats).
    fn master_round(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        let me = self.id;
        let replicas = self.config.replicas;
        let commit = self.first_unchosen;
        self.grant_lease(me, now);
        let Role::Master(master) = &mut self.role else {
            return;
        };
        master.round += 1;
        master.rounds.push_back((master.round, now, bit(me)));
        while master.rounds.len() > ROUNDS_KEPT {
            master.rounds.pop_front();
        }
        let ballot = master.ballot;
        let round = master.round;
        let next_slot = master.next_slot;
        let overdue_below = master.next_slot_at_tick;
        let heartbeat = !master.appended_since_tick;
        master.appended_since_tick = false;
        master.next_slot_at_tick = next_slot;
        for peer in peers(me, replicas) {
            let unacknowledged = master
                .proposals
                .iter()
                .find(|&(&slot, &acks)| slot < overdue_below && acks & bit(peer) == 0)
                .map(|(&slot, _)| slot);
            if unacknowledged.is_none() && !heartbeat {
                continue;
            }
            let first_slot = unacknowledged.unwrap_or(next_slot);
            let end = next_slot.min(first_slot + RETRANSMIT_MAX);
            let cmds: Vec<Cmd> = (first_slot..end)
                .map(|slot| ctx.durable().slot(slot).cmd)
                .collect();
            ctx.send(
                peer,
                Msg::Append {
                    ballot,
                    round,
                    commit,
                    first_slot,
                    cmds,
                },
            );
        }
        if self.config.majority() == 1 {
            self.lease_acknowledged(ctx, round, me);
        }
    }

    /// Queues a command for the next batch and sends it if no batch is in flight.
    fn submit(&mut self, ctx: &mut Ctx<'_, LockNode>, cmd: Cmd) {
        let Role::Master(master) = &mut self.role else {
            return;
        };
        master.batch.push(cmd);
        self.flush(ctx);
    }

    /// Group commit: sends the waiting commands as one batch once the previous batch
    /// is chosen and `batch_interval` has passed since it was sent (the next arrival,
    /// commit or tick sends it otherwise).
    fn flush(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let me = self.id;
        let now = ctx.monotonic();
        let commit = self.first_unchosen;
        let Role::Master(master) = &mut self.role else {
            return;
        };
        if master.batch.is_empty()
            || commit < master.flushed_end
            || now < master.flushed_at.saturating_add(self.config.batch_interval)
        {
            return;
        }
        master.flushed_at = now;
        let ballot = master.ballot;
        let first_slot = master.next_slot;
        master.appended_since_tick = true;
        // Keep the batch's allocation for the next one.
        let cmds = master.batch.clone();
        master.batch.clear();
        for (offset, &cmd) in cmds.iter().enumerate() {
            let slot = first_slot + offset as u64;
            let record = ctx.durable_mut().slot_mut(slot);
            assert!(
                !record.chosen,
                "master proposes in slot {slot}, already chosen"
            );
            record.ballot = ballot;
            record.cmd = cmd;
            master.proposals.insert(slot, bit(me));
        }
        master.next_slot = first_slot + cmds.len() as u64;
        master.flushed_end = master.next_slot;
        let round = master.round;
        let end = master.next_slot;
        self.dirty = true;
        // Our own acceptance counts towards the quorum: durable first.
        self.persist(ctx);
        for peer in peers(me, self.config.replicas) {
            ctx.send(
                peer,
                Msg::Append {
                    ballot,
                    round,
                    commit,
                    first_slot,
                    cmds: cmds.clone(),
                },
            );
        }
        if self.config.majority() == 1 {
            for slot in first_slot..end {
                self.chosen(ctx, slot);
            }
            self.after_commit(ctx);
        }
    }

    /// Master: counts phase 2b answers and lease acknowledgements.
    fn on_append_ok(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        source: NodeId,
        ballot: Ballot,
        round: u64,
        first_slot: u64,
        count: u32,
    ) {
        let majority = self.config.majority();
        let Role::Master(master) = &mut self.role else {
            return;
        };
        if master.ballot != ballot || !self.config.is_replica(source) {
            return;
        }
        let mut newly_chosen = Vec::new();
        for slot in first_slot..first_slot + u64::from(count) {
            if let Some(acks) = master.proposals.get_mut(&slot) {
                *acks |= bit(source);
                if acks.count_ones() as usize >= majority {
                    newly_chosen.push(slot);
                }
            }
        }
        self.lease_acknowledged(ctx, round, source);
        if newly_chosen.is_empty() {
            return;
        }
        for slot in newly_chosen {
            self.chosen(ctx, slot);
        }
        self.after_commit(ctx);
    }

    /// A replica acknowledged lease round `round`: once a majority did, the lease runs
    /// until the round's send time plus the usable lease.
    fn lease_acknowledged(&mut self, ctx: &mut Ctx<'_, LockNode>, round: u64, source: NodeId) {
        let majority = self.config.majority();
        let usable = self.config.master_lease_safe();
        let Role::Master(master) = &mut self.role else {
            return;
        };
        let Some(position) = master.rounds.iter().position(|&(r, _, _)| r == round) else {
            return;
        };
        let (_, sent_at, acks) = &mut master.rounds[position];
        *acks |= bit(source);
        if acks.count_ones() as usize >= majority {
            let end = sent_at.saturating_add(usable);
            master.lease_end = Some(master.lease_end.map_or(end, |current| current.max(end)));
            // Older rounds can only give an earlier end.
            master.rounds.drain(..=position);
            self.maybe_start_serving(ctx);
        }
    }

    /// Master: a majority accepted `slot` in our ballot, so its command is chosen.
    fn chosen(&mut self, ctx: &mut Ctx<'_, LockNode>, slot: u64) {
        let Role::Master(master) = &mut self.role else {
            return;
        };
        if master.proposals.remove(&slot).is_none() {
            return;
        }
        let record = ctx.durable_mut().slot_mut(slot);
        if !record.chosen {
            record.chosen = true;
            self.dirty = true;
        }
    }

    /// After new slots were chosen: apply them, maybe start serving, send the next
    /// batch.
    fn after_commit(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        self.persist(ctx);
        self.maybe_start_serving(ctx);
        self.flush(ctx);
    }

    /// Serving starts once the lease is held and every recovered slot is applied. The
    /// new master then extends every session by a lease plus the failover grace, and
    /// restarts the lock-delay of every delayed lock on its own clock.
    fn maybe_start_serving(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let now = ctx.monotonic();
        let applied = ctx.durable().applied;
        let Role::Master(master) = &mut self.role else {
            return;
        };
        if master.serving
            || master.lease_end.is_none_or(|end| now >= end)
            || applied < master.recovery_end
        {
            return;
        }
        master.serving = true;
        let grace_end = now
            .saturating_add(self.config.session_lease)
            .saturating_add(self.config.failover_grace);
        let db = &ctx.durable().db;
        master.sessions = SessionTable::default();
        for session in db.sessions() {
            master
                .sessions
                .get_or_insert_with(session, || SessionLease::fresh(grace_end, SimTime::ZERO));
        }
        let delay_end = now.saturating_add(self.config.lock_delay);
        master.delays = db
            .delayed_locks()
            .into_iter()
            .map(|lock| (lock, delay_end))
            .collect();
        let ballot = master.ballot;
        ctx.observe(Observation::Protocol(LockEvent::ServingStarted { ballot }));
    }

    // ----- acceptor: phase 2 and following the master ---------------------------------

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        ctx: &mut Ctx<'_, LockNode>,
        source: NodeId,
        ballot: Ballot,
        round: u64,
        commit: u64,
        first_slot: u64,
        cmds: &[Cmd],
    ) {
        if !self.config.is_replica(source) || source == self.id {
            return;
        }
        self.max_round_seen = self.max_round_seen.max(ballot.round);
        let now = ctx.monotonic();
        let promised = ctx.durable().promised;
        if ballot < promised {
            ctx.send(source, Msg::Nack { promised });
            return;
        }
        if ballot > promised {
            ctx.durable_mut().promised = ballot;
            self.dirty = true;
        }
        self.follow(ctx, ballot, commit);
        self.grant_lease(source, now);
        for (offset, &cmd) in cmds.iter().enumerate() {
            let slot = first_slot + offset as u64;
            let record = ctx.durable().slot(slot);
            if record.chosen || (record.ballot == ballot && record.cmd == cmd) {
                continue;
            }
            let record = ctx.durable_mut().slot_mut(slot);
            record.ballot = ballot;
            record.cmd = cmd;
            self.dirty = true;
        }
        self.learn_from_commit(ctx);
        // The acceptances must be durable before the master can count them.
        self.persist(ctx);
        ctx.send(
            source,
            Msg::AppendOk {
                ballot,
                round,
                first_slot,
                count: cmds.len() as u32,
            },
        );
        self.maybe_catch_up(ctx);
    }

    /// A master at `ballot` (not below our promise) spoke: follow it.
    fn follow(&mut self, ctx: &mut Ctx<'_, LockNode>, ballot: Ballot, commit: u64) {
        if !matches!(self.role, Role::Follower) {
            self.step_down(ctx);
        }
        if ballot != self.leader_ballot {
            self.leader_ballot = ballot;
            self.leader_commit = 0;
        }
        self.leader = Some(NodeId(ballot.node));
        self.leader_commit = self.leader_commit.max(commit);
        self.last_contact = ctx.monotonic();
        if self.attempts != 0 {
            self.attempts = 0;
            self.election_wait = self.draw_wait(ctx);
        }
    }

    // ----- learner ----------------------------------------------------------------

    /// Learns the slots below the master's commit index that we accepted in its ballot:
    /// a master proposes one command per slot and ballot, so that one is chosen.
    fn learn_from_commit(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        let end = self
            .leader_commit
            .min(self.first_unchosen + INFER_SCAN_MAX)
            .min(ctx.durable().log_len());
        for slot in self.first_unchosen..end {
            let record = ctx.durable().slot(slot);
            if !record.chosen && record.ballot == self.leader_ballot {
                ctx.durable_mut().slot_mut(slot).chosen = true;
                self.dirty = true;
            }
        }
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
    }

    /// Asks the master for chosen commands we cannot infer, at most once per heartbeat
    /// interval unless an answer came in.
    fn maybe_catch_up(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        if self.first_unchosen >= self.leader_commit {
            self.catch_up_sent = None;
            return;
        }
        let Some(leader) = self.leader.filter(|&leader| leader != self.id) else {
            return;
        };
        let now = ctx.monotonic();
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

    /// Anyone: sends the chosen commands it knows from `from_slot` on.
    fn on_catch_up(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, from_slot: u64) {
        let durable = ctx.durable();
        let cmds: Vec<Cmd> = (from_slot..from_slot.saturating_add(LEARN_BATCH_MAX))
            .map_while(|slot| {
                let record = durable.slot(slot);
                record.chosen.then_some(record.cmd)
            })
            .collect();
        if !cmds.is_empty() {
            ctx.send(
                source,
                Msg::Learn {
                    first_slot: from_slot,
                    cmds,
                },
            );
        }
    }

    fn on_learn(&mut self, ctx: &mut Ctx<'_, LockNode>, first_slot: u64, cmds: &[Cmd]) {
        for (offset, &cmd) in cmds.iter().enumerate() {
            let record = ctx.durable_mut().slot_mut(first_slot + offset as u64);
            if !record.chosen {
                record.cmd = cmd;
                record.chosen = true;
                self.dirty = true;
            }
        }
        self.first_unchosen = ctx.durable().first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        self.catch_up_sent = None;
        self.maybe_catch_up(ctx);
    }

    /// Applies chosen slots to the database in order; the master reacts to each.
    /// Followers keep the chosen log but apply nothing: a replica brings its database
    /// up to date when it becomes master, so the cell pays for one copy of the state
    /// machine, not five.
    fn apply(&mut self, ctx: &mut Ctx<'_, LockNode>) {
        if !matches!(self.role, Role::Master(_)) {
            return;
        }
        loop {
            let slot = ctx.durable().applied;
            let record = ctx.durable().slot(slot);
            if !record.chosen {
                return;
            }
            let frees = matches!(record.cmd, Cmd::Release { .. } | Cmd::ExpireSession { .. });
            let held_before = if frees { self.held(ctx) } else { Vec::new() };
            let durable = ctx.durable_mut();
            let result = durable.db.apply(&record.cmd);
            durable.applied = slot + 1;
            self.dirty = true;
            for sequencer in held_before {
                if ctx.durable().db.lock(sequencer.lock).holder.is_none() {
                    ctx.observe(Observation::Protocol(LockEvent::Freed { sequencer }));
                }
            }
            self.react(ctx, slot, result);
        }
    }

    /// The sequencers of every lock held in the database.
    fn held(&self, ctx: &Ctx<'_, LockNode>) -> Vec<Sequencer> {
        (0..self.config.locks)
            .map(|lock| (lock, ctx.durable().db.lock(lock)))
            .filter(|(_, record)| record.holder.is_some())
            .map(|(lock, record)| Sequencer {
                lock,
                generation: record.generation,
            })
            .collect()
    }

    // ----- the master serving clients ---------------------------------------------

    /// True when we are a serving master whose lease holds right now; a master whose
    /// lease ran out steps down here.
    fn check_serving(&mut self, ctx: &mut Ctx<'_, LockNode>) -> bool {
        let now = ctx.monotonic();
        match &self.role {
            Role::Master(master) if master.serving => {
                if master.lease_end.is_some_and(|end| now < end) {
                    // Every act under the lease is observed, not only the ticks: the
                    // checker sees an overlap with a newer master however short.
                    ctx.observe(Observation::Protocol(LockEvent::LeaseHeld {
                        ballot: master.ballot,
                    }));
                    true
                } else {
                    self.step_down(ctx);
                    false
                }
            }
            _ => false,
        }
    }

    fn on_client_request(&mut self, ctx: &mut Ctx<'_, LockNode>, source: NodeId, msg: Msg) {
        if !self.config.is_client(source) {
            return;
        }
        if !self.check_serving(ctx) {
            if !matches!(self.role, Role::Master(_)) {
                let hint = self.leader.filter(|&leader| leader != self.id);
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
                if ctx.durable().db.session(session).is_some() {
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
                let Role::Master(master) = &mut self.role else {
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
                let record = ctx.durable().db.lock(lock);
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
                let Role::Master(master) = &mut self.role else {
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
                let Role::Master(master) = &mut self.role else {
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
        let Role::Master(master) = &self.role else {
            return false;
        };
        if ctx.durable().db.session(session).is_none() {
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
        let Role::Master(master) = &mut self.role else {
            return None;
        };
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
        let record = ctx.durable().db.lock(lock);
        let Role::Master(master) = &mut self.role else {
            return;
        };
        let index = lock as usize;
        if !master.serving || master.busy[index] || record.holder.is_some() || record.delayed {
            return;
        }
        while let Some(waiter) = master.waiters[index].pop_front() {
            let usable = ctx.durable().db.session(waiter.session).is_some()
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
        let Role::Master(master) = &mut self.role else {
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
        let Role::Master(master) = &mut self.role else {
            return;
        };
        let due: Vec<LockId> = master
            .delays
            .iter()
            .filter(|&(&lock, &end)| now >= end && !master.busy[lock as usize])
            .map(|(&lock, _)| lock)
            .collect();
        for lock in due {
            if !ctx.durable().db.lock(lock).delayed {
                if let Role::Master(master) = &mut self.role {
                    master.delays.remove(&lock);
                }
                continue;
            }
            if let Role::Master(master) = &mut self.role {
                master.busy[lock as usize] = true;
            }
            self.submit(ctx, Cmd::EndDelay { lock });
        }
    }

    /// The master's reaction to one applied command of `slot`: observations, replies,
    /// and the next grant. Before it serves (recovery) it only observes the grants of
    /// recovered slots.
    fn react(&mut self, ctx: &mut Ctx<'_, LockNode>, slot: u64, result: Applied) {
        let now = ctx.monotonic();
        let Role::Master(master) = &mut self.role else {
            return;
        };
        if let Applied::Granted {
            session, sequencer, ..
        } = result
            && slot >= master.recovery_start
        {
            ctx.observe(Observation::Protocol(LockEvent::Granted {
                client: session.client_node(),
                sequencer,
            }));
        }
        if !master.serving {
            return;
        }
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
                if ctx.durable().db.session(session).is_some() {
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
        .db
        .session(session)
        .map_or(0, |record| record.released_op)
}

/// Every replica but `me`.
fn peers(me: NodeId, replicas: usize) -> impl Iterator<Item = NodeId> {
    (0..replicas as u32).map(NodeId).filter(move |&id| id != me)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use dsim_core::{CtxParts, Effect};

    fn ballot(round: u32, node: u32) -> Ballot {
        Ballot { round, node }
    }

    /// Replica 0 of a 3-replica cell, elected master with promises from replica 1 that
    /// report `entries`, its first lease round acknowledged by replica 1.
    fn master_with(entries: Vec<PromiseEntry>) -> (Replica, CtxParts<LockNode>) {
        let config = config(3, 2);
        let mut parts = parts(&config, 0);
        let mut replica = Replica::new(config, NodeId(0));
        replica.on_start(&mut parts.ctx());
        parts.local_now = SimTime(60_000_000);
        replica.on_timer(&mut parts.ctx(), Timer::Tick);
        let prepare = parts
            .take_sends()
            .into_iter()
            .find_map(|(_, msg)| match msg {
                Msg::Prepare { ballot, .. } => Some(ballot),
                _ => None,
            })
            .expect("replica 0 campaigns after its startup wait");
        replica.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Promise {
                ballot: prepare,
                entries,
            },
        );
        (replica, parts)
    }

    fn append_round(sends: &[(NodeId, Msg)]) -> u64 {
        sends
            .iter()
            .find_map(|(_, msg)| match msg {
                Msg::Append { round, .. } => Some(*round),
                _ => None,
            })
            .expect("an append went out")
    }

    #[test]
    fn first_start_staggers_elections_so_replica_zero_campaigns_first() {
        let config = config(3, 2);
        let mut zero = parts(&config, 0);
        let mut one = parts(&config, 1);
        let mut r0 = Replica::new(config, NodeId(0));
        let mut r1 = Replica::new(config, NodeId(1));
        r0.on_start(&mut zero.ctx());
        r1.on_start(&mut one.ctx());
        zero.local_now = SimTime(60_000_000);
        one.local_now = SimTime(60_000_000);
        r0.on_timer(&mut zero.ctx(), Timer::Tick);
        r1.on_timer(&mut one.ctx(), Timer::Tick);
        // Scenarios crash node 0 to show a master failover: it must be the first master.
        assert!(
            zero.take_sends()
                .iter()
                .any(|(_, m)| matches!(m, Msg::Prepare { .. }))
        );
        assert!(
            !one.take_sends()
                .iter()
                .any(|(_, m)| matches!(m, Msg::Prepare { .. }))
        );
    }

    #[test]
    fn promise_is_synced_before_it_is_sent_but_is_no_lease() {
        let config = config(3, 2);
        let mut parts = parts(&config, 1);
        let mut replica = Replica::new(config, NodeId(1));
        replica.on_start(&mut parts.ctx());
        parts.take_effects();
        replica.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Prepare {
                ballot: ballot(1, 0),
                from_slot: 0,
            },
        );
        let effects = parts.take_effects();
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        // A promise forgotten in a crash lets two candidates both win phase 1.
        assert!(sync < reply);
        assert_eq!(parts.durable.promised(), ballot(1, 0));
        // A higher candidate right after is promised too: if promises were leases,
        // dueling candidates would lock each other out for a whole lease.
        replica.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Prepare {
                ballot: ballot(2, 2),
                from_slot: 0,
            },
        );
        assert!(matches!(
            parts.take_sends().as_slice(),
            [(NodeId(2), Msg::Promise { .. })]
        ));
    }

    #[test]
    fn acknowledged_master_lease_refuses_other_candidates_until_it_runs_out() {
        let config = config(3, 2);
        let mut parts = parts(&config, 1);
        let mut replica = Replica::new(config, NodeId(1));
        replica.on_start(&mut parts.ctx());
        replica.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Append {
                ballot: ballot(1, 0),
                round: 1,
                commit: 0,
                first_slot: 0,
                cmds: Vec::new(),
            },
        );
        parts.take_effects();
        parts.local_now = SimTime(config.master_lease.0 - 1);
        replica.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Prepare {
                ballot: ballot(5, 2),
                from_slot: 0,
            },
        );
        // The master counts on this acknowledgement for its lease: promising another
        // candidate now could put two masters in office.
        assert!(parts.take_sends().is_empty(), "lease promise broken");
        assert_eq!(parts.durable.promised(), ballot(1, 0));
        // Once the lease ran out on this replica's clock, the higher ballot wins.
        parts.local_now = SimTime(config.master_lease.0);
        replica.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Prepare {
                ballot: ballot(5, 2),
                from_slot: 0,
            },
        );
        assert!(matches!(
            parts.take_sends().as_slice(),
            [(NodeId(2), Msg::Promise { .. })]
        ));
    }

    #[test]
    fn restarted_replica_helps_nobody_into_office_for_a_lease() {
        let config = config(3, 2);
        let mut parts = parts(&config, 1);
        parts.durable.promised = ballot(2, 0);
        parts.local_now = SimTime(1_000_000_000);
        let mut replica = Replica::new(config, NodeId(1));
        replica.on_start(&mut parts.ctx());
        replica.on_message(
            &mut parts.ctx(),
            NodeId(2),
            Msg::Prepare {
                ballot: ballot(3, 2),
                from_slot: 0,
            },
        );
        // It may have acknowledged node 0's lease just before crashing; promising node 2
        // now could put two masters in office.
        assert!(parts.take_sends().is_empty());
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
            cmd: adopted,
            chosen: false,
        }]);
        assert!(replica.leading().is_some());
        assert_eq!(replica.serving(), None, "nothing recovered yet");
        let sends = parts.take_sends();
        // Proposing anything but the reported command could lose a chosen one.
        assert!(sends.iter().any(|(_, msg)| matches!(
            msg,
            Msg::Append { first_slot: 0, cmds, .. } if cmds == &vec![adopted]
        )));
        let round = append_round(&sends);
        let leading = replica.leading().unwrap();
        replica.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::AppendOk {
                ballot: leading,
                round,
                first_slot: 0,
                count: 1,
            },
        );
        // Slot 0 chosen and applied, lease acknowledged by a majority: serving.
        assert_eq!(replica.serving(), Some(leading));
        assert!(parts.durable.db().session(session).is_some());
        assert!(events(&parts).contains(&LockEvent::ServingStarted { ballot: leading }));
    }

    #[test]
    fn master_stops_serving_when_its_lease_runs_out() {
        let (mut replica, mut parts) = master_with(Vec::new());
        let round = append_round(&parts.take_sends());
        let leading = replica.leading().unwrap();
        replica.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::AppendOk {
                ballot: leading,
                round,
                first_slot: 0,
                count: 0,
            },
        );
        assert!(replica.serving().is_some());
        // No renewal for a whole lease: the other replicas may elect someone else now,
        // so serving on would let two masters act at once.
        parts.local_now = SimTime(parts.local_now.0 + config(3, 2).master_lease.0);
        replica.on_timer(&mut parts.ctx(), Timer::Tick);
        assert_eq!(replica.serving(), None);
        assert!(events(&parts).contains(&LockEvent::ServingStopped { ballot: leading }));
    }

    #[test]
    fn follower_accepts_syncs_then_acknowledges_and_redirects_clients() {
        let config = config(3, 2);
        let mut parts = parts(&config, 1);
        let mut replica = Replica::new(config, NodeId(1));
        replica.on_start(&mut parts.ctx());
        parts.take_effects();
        replica.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Append {
                ballot: ballot(1, 0),
                round: 4,
                commit: 0,
                first_slot: 0,
                cmds: vec![Cmd::Noop, Cmd::EndDelay { lock: 1 }],
            },
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
                Msg::AppendOk {
                    ballot: ballot(1, 0),
                    round: 4,
                    first_slot: 0,
                    count: 2
                }
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
        let leading = replica.leading().unwrap();
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
        let appends: Vec<(u64, Vec<Cmd>)> = parts
            .take_sends()
            .into_iter()
            .filter_map(|(target, msg)| match msg {
                Msg::Append {
                    first_slot, cmds, ..
                } if target == NodeId(1) && !cmds.is_empty() => Some((first_slot, cmds)),
                _ => None,
            })
            .collect();
        assert_eq!(appends.len(), 1);
        let (slot, cmds) = appends[0].clone();
        assert_eq!(
            cmds,
            vec![Cmd::Acquire {
                session: alice,
                lock: 1,
                op: 7
            }]
        );
        // Nothing is granted before a majority accepted: a grant the log could lose
        // would be a grant a new master does not know.
        assert!(
            !parts
                .take_sends()
                .iter()
                .any(|(_, m)| matches!(m, Msg::Granted { .. }))
        );
        replica.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::AppendOk {
                ballot: leading,
                round: 1,
                first_slot: slot,
                count: 1,
            },
        );
        let granted = parts
            .take_sends()
            .into_iter()
            .find_map(|(target, msg)| match msg {
                Msg::Granted { sequencer, .. } => Some((target, sequencer)),
                _ => None,
            });
        assert_eq!(
            granted,
            Some((
                NodeId(3),
                Sequencer {
                    lock: 1,
                    generation: 1
                }
            ))
        );
        assert!(events(&parts).contains(&LockEvent::Granted {
            client: NodeId(3),
            sequencer: Sequencer {
                lock: 1,
                generation: 1
            }
        }));
    }

    #[test]
    fn expired_session_frees_its_lock_only_after_lock_delay() {
        let (mut replica, mut parts) = serving_master();
        let leading = replica.leading().unwrap();
        let alice = SessionId {
            client: 3,
            epoch: 0,
        };
        open_session(&mut replica, &mut parts, alice);
        commit_request(
            &mut replica,
            &mut parts,
            leading,
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
        keep_lease(&mut replica, &mut parts, leading, SimTime(silent_until));
        let expire = take_batch(&mut parts);
        assert_eq!(expire.1, vec![Cmd::ExpireSession { session: alice }]);
        ack(&mut replica, &mut parts, leading, expire.0, 1);
        assert!(parts.durable.db().lock(0).delayed);
        assert!(events(&parts).contains(&LockEvent::SessionExpired { session: alice }));
        assert!(events(&parts).contains(&LockEvent::LockDelayed {
            lock: 0,
            session: alice
        }));
        // Before the delay ends no EndDelay is proposed.
        let half_delay = SimTime(parts.local_now.0 + config.lock_delay.0 / 2);
        keep_lease(&mut replica, &mut parts, leading, half_delay);
        assert!(take_batch_opt(&mut parts).is_none());
        let delay_over = SimTime(parts.local_now.0 + config.lock_delay.0);
        keep_lease(&mut replica, &mut parts, leading, delay_over);
        assert_eq!(take_batch(&mut parts).1, vec![Cmd::EndDelay { lock: 0 }]);
    }

    #[test]
    fn release_hands_the_lock_to_the_next_waiter_under_a_newer_generation() {
        let (mut replica, mut parts) = serving_master();
        let leading = replica.leading().unwrap();
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
            leading,
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
        assert!(take_batch_opt(&mut parts).is_none());
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
        let (slot, cmds) = take_batch(&mut parts);
        assert!(matches!(cmds[..], [Cmd::Release { op: 1, .. }]));
        ack(&mut replica, &mut parts, leading, slot, 1);
        // The end of Alice's hold is observed, or the checker would take Bob's grant
        // below for a grant while held.
        assert!(events(&parts).contains(&LockEvent::Freed {
            sequencer: Sequencer {
                lock: 1,
                generation: 1
            }
        }));
        // Applying the release queues Bob's grant; once chosen, Bob holds generation 2.
        let (slot, cmds) = take_batch(&mut parts);
        assert_eq!(
            cmds,
            vec![Cmd::Acquire {
                session: bob,
                lock: 1,
                op: 1
            }]
        );
        ack(&mut replica, &mut parts, leading, slot, 1);
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
            Msg::Nack {
                promised: ballot(old.round + 3, 2),
            },
        );
        // Stepping down for good would leave the cell without a master for a whole
        // lease; ignoring the Nack would starve our ballot at that acceptor forever.
        let prepares: Vec<Ballot> = parts
            .take_sends()
            .into_iter()
            .filter_map(|(_, msg)| match msg {
                Msg::Prepare { ballot, .. } => Some(ballot),
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

    fn serving_master() -> (Replica, CtxParts<LockNode>) {
        let (mut replica, mut parts) = master_with(Vec::new());
        let round = append_round(&parts.take_sends());
        let leading = replica.leading().unwrap();
        replica.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::AppendOk {
                ballot: leading,
                round,
                first_slot: 0,
                count: 0,
            },
        );
        assert!(replica.serving().is_some());
        parts.take_effects();
        (replica, parts)
    }

    fn take_batch_opt(parts: &mut CtxParts<LockNode>) -> Option<(u64, Vec<Cmd>)> {
        parts
            .take_sends()
            .into_iter()
            .find_map(|(target, msg)| match msg {
                Msg::Append {
                    first_slot, cmds, ..
                } if target == NodeId(1) && !cmds.is_empty() => Some((first_slot, cmds)),
                _ => None,
            })
    }

    fn take_batch(parts: &mut CtxParts<LockNode>) -> (u64, Vec<Cmd>) {
        take_batch_opt(parts).expect("a batch was sent")
    }

    fn ack(
        replica: &mut Replica,
        parts: &mut CtxParts<LockNode>,
        leading: Ballot,
        first_slot: u64,
        count: u32,
    ) {
        let round = match &replica.role {
            Role::Master(master) => master.round,
            _ => panic!("not master"),
        };
        replica.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::AppendOk {
                ballot: leading,
                round,
                first_slot,
                count,
            },
        );
    }

    /// Advances to `until` in heartbeat steps, with replica 1 acknowledging each lease
    /// round (and nothing else), so the master keeps its lease.
    fn keep_lease(
        replica: &mut Replica,
        parts: &mut CtxParts<LockNode>,
        leading: Ballot,
        until: SimTime,
    ) {
        let step = config(3, 2).heartbeat_interval.0;
        while parts.local_now < until {
            parts.local_now = SimTime((parts.local_now.0 + step).min(until.0));
            replica.on_timer(&mut parts.ctx(), Timer::Tick);
            ack(replica, parts, leading, 0, 0);
        }
    }

    fn open_session(replica: &mut Replica, parts: &mut CtxParts<LockNode>, session: SessionId) {
        let leading = replica.leading().unwrap();
        commit_request(
            replica,
            parts,
            leading,
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
        leading: Ballot,
        source: NodeId,
        msg: Msg,
    ) {
        replica.on_message(&mut parts.ctx(), source, msg);
        let (slot, cmds) = take_batch(parts);
        ack(replica, parts, leading, slot, cmds.len() as u32);
        parts.take_effects();
    }
}
