//! A participant: a store of lists (list-append) or registers (rw-register) under
//! strict two-phase locking. It does the work of a transaction (takes a shared lock
//! per key read and an exclusive lock per key written, reads, stages the writes),
//! forces a prepared record before voting yes, and, once in doubt, holds its locks and
//! asks until it learns the outcome. Locks are released only when the outcome is
//! applied.
//!
//! Lock conflicts follow **no-wait**: a request that conflicts with a lock another
//! transaction holds is not queued; the requester aborts at once and votes no. No
//! transaction ever waits for a lock, so there is no deadlock (and no wait-for graph
//! to search); the price is aborts under contention, which clients see as `fail`.
//!
//! Writes are staged in place: each key holds its entries in order, committed ones
//! and, after them, the staged ones of transactions holding its lock. A read sees the
//! committed entries and its own transaction's staged ones; a commit marks the
//! transaction's entries committed, an abort removes them (the undo).

use super::node::TpcNode;
use super::types::{
    Decision, Key, Mop, MopKind, PreparedRecord, ReadValue, Resolution, TpcEvent, TpcMsg, TpcTimer,
    TxnId, Value, Vote, VoteReason,
};
use super::{COORDINATOR, TpcSettings, TxnWorkload, Variant};
use dsim_core::rng::chance;
use dsim_core::{Ctx, NodeId, Observation, TimerId};
use std::collections::{BTreeMap, BTreeSet};

/// Work done, locks held, not yet asked to prepare (volatile).
#[derive(Clone, Debug)]
struct Working {
    writes: Vec<(Key, Value)>,
    /// Keys read under a shared lock.
    reads: Vec<Key>,
    /// What the reads returned, in order (repeated in a resent `Ready`).
    read_values: Vec<ReadValue>,
    participants: Vec<NodeId>,
    deadline: TimerId,
}

/// What running a transaction's micro-ops produced.
#[derive(Clone, Debug, Default)]
struct Executed {
    writes: Vec<(Key, Value)>,
    reads: Vec<Key>,
    read_values: Vec<ReadValue>,
}

impl Executed {
    fn written_keys(&self) -> Vec<Key> {
        self.writes.iter().map(|&(key, _)| key).collect()
    }
}

/// Voted yes, in doubt.
#[derive(Clone, Debug)]
struct Prepared {
    record: PreparedRecord,
    /// The pending `InDoubt` timer.
    timer: TimerId,
}

/// The locks on one key: shared (readers) and exclusive (one writer). A transaction
/// that holds the only shared lock may also take the exclusive one (an upgrade).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLock {
    /// Transactions holding a shared (read) lock.
    pub readers: BTreeSet<TxnId>,
    /// The transaction holding the exclusive (write) lock.
    pub writer: Option<TxnId>,
}

impl KeyLock {
    fn readable_by(&self, txn: TxnId) -> bool {
        self.writer.is_none_or(|writer| writer == txn)
    }

    fn writable_by(&self, txn: TxnId) -> bool {
        self.readable_by(txn) && self.readers.iter().all(|&reader| reader == txn)
    }

    fn is_free(&self) -> bool {
        self.readers.is_empty() && self.writer.is_none()
    }
}

/// One value of a key: committed (no writer) or staged by a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    value: Value,
    writer: Option<TxnId>,
}

/// The participant role (nodes `1..nodes`).
#[derive(Clone, Debug)]
pub struct Participant {
    settings: TpcSettings,
    locks: BTreeMap<Key, KeyLock>,
    /// Each key's entries, committed and staged, in the order they were written.
    data: BTreeMap<Key, Vec<Entry>>,
    working: BTreeMap<TxnId, Working>,
    /// In-doubt transactions. In every variant but `seed-naive`, each also has its
    /// forced record in durable state, from which this map is rebuilt on restart.
    prepared: BTreeMap<TxnId, Prepared>,
}

impl Participant {
    /// A participant with no locks and no transactions.
    pub fn new(settings: TpcSettings) -> Participant {
        Participant {
            settings,
            locks: BTreeMap::new(),
            data: BTreeMap::new(),
            working: BTreeMap::new(),
            prepared: BTreeMap::new(),
        }
    }

    /// Transactions this participant is in doubt about.
    pub fn in_doubt(&self) -> Vec<TxnId> {
        self.prepared.keys().copied().collect()
    }

    /// The transaction holding `key`'s exclusive lock, if any.
    pub fn lock_holder(&self, key: Key) -> Option<TxnId> {
        self.locks.get(&key).and_then(|lock| lock.writer)
    }

    /// The locks held on `key` (none: the default, free).
    pub fn locks_on(&self, key: Key) -> KeyLock {
        self.locks.get(&key).cloned().unwrap_or_default()
    }

    /// Start and restart: load the committed store; every prepared record is an
    /// in-doubt transaction: take its locks back, stage its writes again, and ask for
    /// the outcome at once.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        self.data = ctx
            .durable()
            .store
            .iter()
            .map(|(&key, values)| {
                let entries = values
                    .iter()
                    .map(|&value| Entry {
                        value,
                        writer: None,
                    })
                    .collect();
                (key, entries)
            })
            .collect();
        let records: Vec<(TxnId, PreparedRecord)> = ctx
            .durable()
            .prepared
            .iter()
            .map(|(txn, record)| (*txn, record.clone()))
            .collect();
        for (txn, record) in records {
            if self.settings.variant != Variant::EarlyLockRelease {
                for &(key, _) in &record.writes {
                    let lock = self.locks.entry(key).or_default();
                    assert!(
                        lock.writable_by(txn),
                        "prepared transaction {txn} and {lock:?} both hold key {key}"
                    );
                    lock.writer = Some(txn);
                }
                for &key in &record.reads {
                    let lock = self.locks.entry(key).or_default();
                    assert!(
                        lock.readable_by(txn),
                        "prepared transaction {txn} reads key {key} that {lock:?} writes"
                    );
                    lock.readers.insert(txn);
                }
            }
            for &(key, value) in &record.writes {
                self.data.entry(key).or_default().push(Entry {
                    value,
                    writer: Some(txn),
                });
            }
            self.query(ctx, txn, &record);
            let timer = ctx.set_timer(self.settings.query_interval, TpcTimer::InDoubt(txn));
            self.prepared.insert(txn, Prepared { record, timer });
        }
    }

    /// Handles the coordinator's requests and decisions, and peers' queries and answers.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, TpcNode>, source: NodeId, msg: TpcMsg) {
        match msg {
            TpcMsg::Work {
                txn,
                mops,
                participants,
            } if source == COORDINATOR => self.on_work(ctx, txn, mops, participants),
            TpcMsg::Prepare { txn } if source == COORDINATOR => self.on_prepare(ctx, txn),
            TpcMsg::Decide { txn, decision } if source == COORDINATOR => {
                self.on_decision(ctx, txn, decision, Resolution::Coordinator)
            }
            TpcMsg::Answer { txn, decision } => {
                let how = if source == COORDINATOR {
                    Resolution::Coordinator
                } else {
                    Resolution::Peer
                };
                self.on_decision(ctx, txn, decision, how);
            }
            TpcMsg::Query { txn } if source != COORDINATOR => self.on_peer_query(ctx, source, txn),
            _ => {}
        }
    }

    /// Prepare deadlines and in-doubt queries.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, TpcNode>, timer: TpcTimer) {
        match timer {
            TpcTimer::PrepareDeadline(txn) => {
                if self.working.contains_key(&txn) {
                    self.vote_no(ctx, txn, VoteReason::PrepareTimeout);
                }
            }
            TpcTimer::InDoubt(txn) => {
                let Some(prepared) = self.prepared.get(&txn) else {
                    return;
                };
                if self.settings.variant == Variant::CommitOnTimeout {
                    // The planted bug: deciding alone while in doubt.
                    let prepared = self.prepared.remove(&txn).expect("just seen");
                    self.resolve(
                        ctx,
                        txn,
                        &prepared.record.writes,
                        Decision::Commit,
                        Resolution::OwnTimeout,
                    );
                    return;
                }
                let record = prepared.record.clone();
                self.query(ctx, txn, &record);
                let timer = ctx.set_timer(self.settings.query_interval, TpcTimer::InDoubt(txn));
                self.prepared.get_mut(&txn).expect("just seen").timer = timer;
            }
            TpcTimer::VoteDeadline(_) | TpcTimer::Retry | TpcTimer::Client(_) => {}
        }
    }

    /// Whether reads take shared locks (and so wait for no writer): every variant but
    /// the two that plant a read bug.
    fn reads_lock(&self) -> bool {
        !matches!(
            self.settings.variant,
            Variant::NoReadLocks | Variant::ReadUncommitted
        )
    }

    /// Whether `writer`'s staged entries are visible to other transactions: only in
    /// the buggy variants, once it has voted yes (`early-lock-release` let go of its
    /// locks then; `read-uncommitted` reads past them).
    fn exposed(&self, writer: TxnId) -> bool {
        matches!(
            self.settings.variant,
            Variant::EarlyLockRelease | Variant::ReadUncommitted
        ) && self.prepared.contains_key(&writer)
    }

    /// What `reader` reads at `key`: the committed entries, its own staged ones, and
    /// any exposed ones, in order; a register's value is the last of them.
    fn read(&self, reader: TxnId, key: Key) -> ReadValue {
        let mut visible = self.data.get(&key).into_iter().flatten().filter(|entry| {
            entry
                .writer
                .is_none_or(|writer| writer == reader || self.exposed(writer))
        });
        match self.settings.workload {
            TxnWorkload::ListAppend => visible.map(|entry| entry.value).collect(),
            TxnWorkload::RwRegister => visible
                .next_back()
                .map(|entry| entry.value)
                .into_iter()
                .collect(),
        }
    }

    /// Runs a transaction's micro-ops on this participant's keys, in order, taking
    /// each lock as it goes (no-wait: a conflict aborts the transaction here, and the
    /// error lists the keys it staged writes on so far).
    fn execute(&mut self, txn: TxnId, mops: &[Mop]) -> Result<Executed, Vec<Key>> {
        let mut done = Executed::default();
        for mop in mops {
            let lock = self.locks.get(&mop.key);
            match mop.kind {
                MopKind::Read => {
                    if self.reads_lock() {
                        if !lock.is_none_or(|lock| lock.readable_by(txn)) {
                            return Err(done.written_keys());
                        }
                        self.locks.entry(mop.key).or_default().readers.insert(txn);
                        done.reads.push(mop.key);
                    }
                    done.read_values.push(self.read(txn, mop.key));
                }
                MopKind::Write => {
                    if !lock.is_none_or(|lock| lock.writable_by(txn)) {
                        return Err(done.written_keys());
                    }
                    self.locks.entry(mop.key).or_default().writer = Some(txn);
                    self.data.entry(mop.key).or_default().push(Entry {
                        value: mop.value,
                        writer: Some(txn),
                    });
                    done.writes.push((mop.key, mop.value));
                }
            }
        }
        done.reads.sort_unstable();
        done.reads.dedup();
        Ok(done)
    }

    fn on_work(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        txn: TxnId,
        mops: Vec<Mop>,
        participants: Vec<NodeId>,
    ) {
        if let Some(&decision) = ctx.durable().decided.get(&txn) {
            if decision == Decision::Abort {
                ctx.send(
                    COORDINATOR,
                    TpcMsg::Vote {
                        txn,
                        vote: Vote::No,
                    },
                );
            }
            return;
        }
        if self.prepared.contains_key(&txn) {
            return;
        }
        if let Some(work) = self.working.get(&txn) {
            let reads = work.read_values.clone();
            ctx.send(COORDINATOR, TpcMsg::Ready { txn, reads });
            return;
        }
        let done = match self.execute(txn, &mops) {
            Ok(done) => done,
            Err(staged) => {
                self.undo(txn, &staged);
                self.vote_no(ctx, txn, VoteReason::LockConflict);
                return;
            }
        };
        let deadline = ctx.set_timer(
            self.settings.prepare_timeout,
            TpcTimer::PrepareDeadline(txn),
        );
        let reads = done.read_values.clone();
        self.working.insert(
            txn,
            Working {
                writes: done.writes,
                reads: done.reads,
                read_values: done.read_values,
                participants,
                deadline,
            },
        );
        ctx.send(COORDINATOR, TpcMsg::Ready { txn, reads });
    }

    fn on_prepare(&mut self, ctx: &mut Ctx<'_, TpcNode>, txn: TxnId) {
        if let Some(&decision) = ctx.durable().decided.get(&txn) {
            if decision == Decision::Abort {
                ctx.send(
                    COORDINATOR,
                    TpcMsg::Vote {
                        txn,
                        vote: Vote::No,
                    },
                );
            }
            return;
        }
        if self.prepared.contains_key(&txn) {
            // Our yes vote was lost or the prepare duplicated: vote again, same way.
            ctx.send(
                COORDINATOR,
                TpcMsg::Vote {
                    txn,
                    vote: Vote::Yes,
                },
            );
            return;
        }
        if !self.working.contains_key(&txn) {
            // The work was lost in a crash, or never arrived: cannot prepare.
            self.vote_no(ctx, txn, VoteReason::Unknown);
            return;
        }
        if chance(ctx.rng(), self.settings.abort_ratio) {
            self.vote_no(ctx, txn, VoteReason::AbortRatio);
            return;
        }
        let work = self.working.remove(&txn).expect("just seen");
        ctx.cancel_timer(work.deadline);
        let record = PreparedRecord {
            writes: work.writes,
            reads: work.reads,
            participants: work.participants,
        };
        if self.settings.variant != Variant::SeedNaive {
            // Forced before the vote leaves: after a crash we must still be able to
            // commit what we promised.
            ctx.durable_mut().prepared.insert(txn, record.clone());
            ctx.sync();
        }
        if self.settings.variant == Variant::EarlyLockRelease {
            // The planted bug: the locks go with the vote, before the outcome is known,
            // so others read (and overwrite) writes that may yet abort.
            self.release(txn);
        }
        ctx.observe(Observation::Protocol(TpcEvent::Voted {
            txn,
            vote: Vote::Yes,
            reason: VoteReason::Prepared,
        }));
        ctx.send(
            COORDINATOR,
            TpcMsg::Vote {
                txn,
                vote: Vote::Yes,
            },
        );
        let timer = ctx.set_timer(self.settings.query_interval, TpcTimer::InDoubt(txn));
        self.prepared.insert(txn, Prepared { record, timer });
    }

    fn on_decision(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        txn: TxnId,
        decision: Decision,
        how: Resolution,
    ) {
        if let Some(&known) = ctx.durable().decided.get(&txn) {
            // Final already. Acknowledge a repeated commit so the coordinator can end
            // its record; a contradicting message changes nothing here.
            if known == Decision::Commit && decision == Decision::Commit {
                ctx.send(COORDINATOR, TpcMsg::Ack { txn });
            }
            return;
        }
        if let Some(prepared) = self.prepared.remove(&txn) {
            ctx.cancel_timer(prepared.timer);
            self.resolve(ctx, txn, &prepared.record.writes, decision, how);
            return;
        }
        if decision == Decision::Abort {
            if let Some(work) = self.working.remove(&txn) {
                ctx.cancel_timer(work.deadline);
                self.resolve(ctx, txn, &work.writes, Decision::Abort, how);
            }
            // An abort of a transaction we never worked on needs nothing.
            return;
        }
        if self.working.contains_key(&txn) {
            // A commit without our yes vote cannot come from a correct coordinator.
            return;
        }
        // A commit of a transaction we know nothing about: only a crash that erased a
        // yes vote (`seed-naive`) gets here. The writes are gone; in effect, an abort.
        self.resolve(ctx, txn, &[], Decision::Abort, Resolution::Forgotten);
        ctx.send(COORDINATOR, TpcMsg::Ack { txn });
    }

    fn on_peer_query(&mut self, ctx: &mut Ctx<'_, TpcNode>, source: NodeId, txn: TxnId) {
        if let Some(&decision) = ctx.durable().decided.get(&txn) {
            ctx.send(source, TpcMsg::Answer { txn, decision });
            return;
        }
        if self.prepared.contains_key(&txn) {
            // In doubt too: nothing to tell.
            return;
        }
        // We have not voted yes, so the coordinator cannot commit: abort now (and vote
        // no for good), which lets the asker abort too.
        let reason = if self.working.contains_key(&txn) {
            VoteReason::PeerQuery
        } else {
            VoteReason::Unknown
        };
        self.vote_no(ctx, txn, reason);
        ctx.send(
            source,
            TpcMsg::Answer {
                txn,
                decision: Decision::Abort,
            },
        );
    }

    /// Asks the coordinator, and with cooperative termination every peer, for the
    /// outcome of an in-doubt transaction.
    fn query(&self, ctx: &mut Ctx<'_, TpcNode>, txn: TxnId, record: &PreparedRecord) {
        ctx.send(COORDINATOR, TpcMsg::Query { txn });
        if self.settings.cooperative_termination {
            let me = ctx.id();
            for &peer in &record.participants {
                if peer != me {
                    ctx.send(peer, TpcMsg::Query { txn });
                }
            }
        }
    }

    /// Unilateral abort before voting yes: drop the work and its locks, log the abort
    /// (so that a later prepare or a resent work is refused), and tell the coordinator.
    fn vote_no(&mut self, ctx: &mut Ctx<'_, TpcNode>, txn: TxnId, reason: VoteReason) {
        assert!(
            !self.prepared.contains_key(&txn),
            "{txn}: a yes vote cannot be taken back"
        );
        if let Some(work) = self.working.remove(&txn) {
            ctx.cancel_timer(work.deadline);
            let keys: Vec<Key> = work.writes.iter().map(|&(key, _)| key).collect();
            self.undo(txn, &keys);
        }
        ctx.durable_mut().decided.insert(txn, Decision::Abort);
        ctx.sync();
        ctx.observe(Observation::Protocol(TpcEvent::Voted {
            txn,
            vote: Vote::No,
            reason,
        }));
        ctx.observe(Observation::Protocol(TpcEvent::Resolved {
            txn,
            decision: Decision::Abort,
            how: Resolution::Unilateral,
        }));
        ctx.send(
            COORDINATOR,
            TpcMsg::Vote {
                txn,
                vote: Vote::No,
            },
        );
    }

    /// Final outcome: apply (commit) or drop (abort) the writes, log the outcome and
    /// drop the prepared record in one forced write, release the locks; acknowledge
    /// commits.
    fn resolve(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        txn: TxnId,
        writes: &[(Key, Value)],
        decision: Decision,
        how: Resolution,
    ) {
        match decision {
            Decision::Commit => self.install(txn, writes),
            Decision::Abort => {
                let keys: Vec<Key> = writes.iter().map(|&(key, _)| key).collect();
                self.undo(txn, &keys);
            }
        }
        let durable = ctx.durable_mut();
        durable.prepared.remove(&txn);
        if decision == Decision::Commit {
            for &(key, _) in writes {
                let committed = self.data.get(&key).into_iter().flatten();
                durable.store.insert(
                    key,
                    committed
                        .filter(|entry| entry.writer.is_none())
                        .map(|entry| entry.value)
                        .collect(),
                );
            }
        }
        durable.decided.insert(txn, decision);
        ctx.sync();
        if decision == Decision::Commit {
            ctx.observe(Observation::Protocol(TpcEvent::Applied {
                txn,
                writes: writes.to_vec(),
            }));
        }
        ctx.observe(Observation::Protocol(TpcEvent::Resolved {
            txn,
            decision,
            how,
        }));
        if decision == Decision::Commit {
            ctx.send(COORDINATOR, TpcMsg::Ack { txn });
        }
    }

    /// Commits `txn`'s writes where they stand (its staged entries become committed;
    /// a write with no staged entry, as after a crash that lost it, is appended) and
    /// releases its locks.
    fn install(&mut self, txn: TxnId, writes: &[(Key, Value)]) {
        for &(key, value) in writes {
            let entries = self.data.entry(key).or_default();
            match entries
                .iter_mut()
                .find(|entry| entry.writer == Some(txn) && entry.value == value)
            {
                Some(entry) => entry.writer = None,
                None => entries.push(Entry {
                    value,
                    writer: None,
                }),
            }
        }
        self.release(txn);
    }

    /// Drops `txn`'s staged entries on `keys` and releases its locks.
    fn undo(&mut self, txn: TxnId, keys: &[Key]) {
        for key in keys {
            if let Some(entries) = self.data.get_mut(key) {
                entries.retain(|entry| entry.writer != Some(txn));
            }
        }
        self.release(txn);
    }

    /// Releases every lock `txn` holds here.
    fn release(&mut self, txn: TxnId) {
        self.locks.retain(|_, lock| {
            lock.readers.remove(&txn);
            if lock.writer == Some(txn) {
                lock.writer = None;
            }
            !lock.is_free()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{events, parts, sends, timers, txn};
    use super::super::types::Mop;
    use super::*;
    use dsim_core::{CtxParts, Effect};

    fn settings(variant: Variant) -> TpcSettings {
        TpcSettings {
            variant,
            abort_ratio: 0.0,
            ..TpcSettings::default()
        }
    }

    fn participant(settings: TpcSettings) -> (Participant, CtxParts<TpcNode>) {
        let mut parts = parts(NodeId(1), settings);
        let mut participant = Participant::new(settings);
        participant.on_start(&mut parts.ctx());
        (participant, parts)
    }

    /// Work writing `100 + k` to each of `keys`.
    fn work(participant: &mut Participant, parts: &mut CtxParts<TpcNode>, t: TxnId, keys: &[Key]) {
        let mops = keys
            .iter()
            .map(|&k| Mop::write(k, 100 + u64::from(k)))
            .collect();
        run(participant, parts, t, mops);
    }

    /// Work with the given micro-ops.
    fn run(participant: &mut Participant, parts: &mut CtxParts<TpcNode>, t: TxnId, mops: Vec<Mop>) {
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Work {
                txn: t,
                mops,
                participants: vec![NodeId(1), NodeId(2)],
            },
        );
    }

    /// What the `Ready` among the sends so far reported as read (the sends are
    /// taken); `None` if none was sent (a no vote instead).
    fn ready_reads(parts: &mut CtxParts<TpcNode>) -> Option<Vec<ReadValue>> {
        sends(parts).into_iter().find_map(|(_, msg)| match msg {
            TpcMsg::Ready { reads, .. } => Some(reads),
            _ => None,
        })
    }

    fn decide(
        participant: &mut Participant,
        parts: &mut CtxParts<TpcNode>,
        t: TxnId,
        decision: Decision,
    ) {
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Decide { txn: t, decision },
        );
    }

    /// Work then prepare: the participant votes yes and is in doubt.
    fn in_doubt(participant: &mut Participant, parts: &mut CtxParts<TpcNode>, t: TxnId) {
        work(participant, parts, t, &[0, 4]);
        participant.on_message(&mut parts.ctx(), COORDINATOR, TpcMsg::Prepare { txn: t });
        parts.take_effects();
    }

    #[test]
    fn work_takes_the_locks_and_answers_ready() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        work(&mut participant, &mut parts, t, &[0, 4]);
        // Without the locks, a second transaction could prepare the same keys.
        assert_eq!(participant.lock_holder(0), Some(t));
        assert_eq!(participant.lock_holder(4), Some(t));
        assert_eq!(
            sends(&mut parts),
            vec![(
                COORDINATOR,
                TpcMsg::Ready {
                    txn: t,
                    reads: vec![]
                }
            )]
        );
        assert_eq!(timers(&parts), vec![TpcTimer::PrepareDeadline(t)]);
    }

    #[test]
    fn a_lock_conflict_votes_no_at_once() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let (first, second) = (txn(5, 0), txn(6, 0));
        work(&mut participant, &mut parts, first, &[0]);
        parts.take_effects();
        work(&mut participant, &mut parts, second, &[4, 0]);
        // Key 0 is held by the first: the second must not get key 4 either.
        assert_eq!(
            sends(&mut parts),
            vec![(
                COORDINATOR,
                TpcMsg::Vote {
                    txn: second,
                    vote: Vote::No
                }
            )]
        );
        assert_eq!(participant.lock_holder(4), None);
        assert_eq!(
            events(&parts)[0],
            TpcEvent::Voted {
                txn: second,
                vote: Vote::No,
                reason: VoteReason::LockConflict
            }
        );
        assert_eq!(parts.durable.decided.get(&second), Some(&Decision::Abort));
    }

    #[test]
    fn the_prepared_record_is_forced_before_the_yes_vote() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        work(&mut participant, &mut parts, t, &[0, 4]);
        parts.take_effects();
        participant.on_message(&mut parts.ctx(), COORDINATOR, TpcMsg::Prepare { txn: t });
        let record = parts
            .durable
            .prepared
            .get(&t)
            .expect("prepared record written");
        assert_eq!(record.writes, vec![(0, 100), (4, 104)]);
        // Sync before send: a crash between the two must not forget a yes vote.
        let effects = parts.take_effects();
        let sync_at = effects
            .iter()
            .position(|e| matches!(e, Effect::Sync))
            .expect("forced");
        let vote_at = effects
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Effect::Send {
                        msg: TpcMsg::Vote {
                            vote: Vote::Yes,
                            ..
                        },
                        ..
                    }
                )
            })
            .expect("voted yes");
        assert!(sync_at < vote_at);
        assert_eq!(participant.in_doubt(), vec![t]);
    }

    #[test]
    fn abort_ratio_one_always_votes_no_and_releases() {
        let settings = TpcSettings {
            abort_ratio: 1.0,
            ..settings(Variant::Correct)
        };
        let (mut participant, mut parts) = participant(settings);
        let t = txn(5, 0);
        work(&mut participant, &mut parts, t, &[0]);
        parts.take_effects();
        participant.on_message(&mut parts.ctx(), COORDINATOR, TpcMsg::Prepare { txn: t });
        // A no vote that kept the lock would block key 0 for nothing.
        assert_eq!(
            sends(&mut parts),
            vec![(
                COORDINATOR,
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::No
                }
            )]
        );
        assert_eq!(participant.lock_holder(0), None);
        assert!(parts.durable.prepared.is_empty());
    }

    #[test]
    fn prepare_for_unknown_work_votes_no() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        participant.on_message(&mut parts.ctx(), COORDINATOR, TpcMsg::Prepare { txn: t });
        // The work (and its locks) were lost in a crash: a yes would commit nothing.
        assert_eq!(
            sends(&mut parts),
            vec![(
                COORDINATOR,
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::No
                }
            )]
        );
        // And a late resend of the work is refused for good.
        work(&mut participant, &mut parts, t, &[0]);
        assert_eq!(
            sends(&mut parts),
            vec![(
                COORDINATOR,
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::No
                }
            )]
        );
        assert_eq!(participant.lock_holder(0), None);
    }

    #[test]
    fn prepare_deadline_aborts_unilaterally_before_voting() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        work(&mut participant, &mut parts, t, &[0]);
        parts.take_effects();
        participant.on_timer(&mut parts.ctx(), TpcTimer::PrepareDeadline(t));
        // A lost coordinator must not keep our locks before we voted.
        assert_eq!(participant.lock_holder(0), None);
        assert!(events(&parts).contains(&TpcEvent::Resolved {
            txn: t,
            decision: Decision::Abort,
            how: Resolution::Unilateral
        }));
    }

    #[test]
    fn in_doubt_participant_asks_the_coordinator_and_keeps_its_locks() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        participant.on_timer(&mut parts.ctx(), TpcTimer::InDoubt(t));
        // Without cooperative termination only the coordinator is asked; deciding
        // alone here is the commit-on-timeout bug.
        assert_eq!(
            sends(&mut parts),
            vec![(COORDINATOR, TpcMsg::Query { txn: t })]
        );
        assert_eq!(events(&parts), vec![]);
        assert_eq!(participant.lock_holder(0), Some(t));
        assert_eq!(timers(&parts), vec![TpcTimer::InDoubt(t)]);
    }

    #[test]
    fn cooperative_termination_also_asks_peers() {
        let settings = TpcSettings {
            cooperative_termination: true,
            ..settings(Variant::Correct)
        };
        let (mut participant, mut parts) = participant(settings);
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        participant.on_timer(&mut parts.ctx(), TpcTimer::InDoubt(t));
        assert_eq!(
            sends(&mut parts),
            vec![
                (COORDINATOR, TpcMsg::Query { txn: t }),
                (NodeId(2), TpcMsg::Query { txn: t })
            ]
        );
        participant.on_message(
            &mut parts.ctx(),
            NodeId(2),
            TpcMsg::Answer {
                txn: t,
                decision: Decision::Commit,
            },
        );
        // A peer that knows the outcome ends the doubt, and the commit is applied.
        assert_eq!(parts.durable.store.get(&0), Some(&vec![100]));
        assert!(events(&parts).contains(&TpcEvent::Resolved {
            txn: t,
            decision: Decision::Commit,
            how: Resolution::Peer
        }));
    }

    #[test]
    fn peer_query_before_voting_aborts_and_answers_abort() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        work(&mut participant, &mut parts, t, &[0]);
        parts.take_effects();
        participant.on_message(&mut parts.ctx(), NodeId(2), TpcMsg::Query { txn: t });
        // We had not voted yes, so abort is safe, and must then be final.
        assert_eq!(
            sends(&mut parts),
            vec![
                (
                    COORDINATOR,
                    TpcMsg::Vote {
                        txn: t,
                        vote: Vote::No
                    }
                ),
                (
                    NodeId(2),
                    TpcMsg::Answer {
                        txn: t,
                        decision: Decision::Abort
                    }
                ),
            ]
        );
        participant.on_message(&mut parts.ctx(), COORDINATOR, TpcMsg::Prepare { txn: t });
        assert_eq!(
            sends(&mut parts),
            vec![(
                COORDINATOR,
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::No
                }
            )]
        );
    }

    #[test]
    fn peer_query_while_in_doubt_gets_no_answer() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        participant.on_message(&mut parts.ctx(), NodeId(2), TpcMsg::Query { txn: t });
        // Answering "abort" here would contradict a commit the coordinator may have made.
        assert_eq!(sends(&mut parts), vec![]);
    }

    #[test]
    fn commit_applies_writes_releases_locks_and_acks() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Decide {
                txn: t,
                decision: Decision::Commit,
            },
        );
        assert_eq!(parts.durable.store.get(&4), Some(&vec![104]));
        assert!(
            parts.durable.prepared.is_empty(),
            "the prepared record is dropped with the commit"
        );
        assert_eq!(participant.lock_holder(0), None);
        assert_eq!(
            sends(&mut parts),
            vec![(COORDINATOR, TpcMsg::Ack { txn: t })]
        );
        // A duplicate commit is acknowledged again but applied once.
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Decide {
                txn: t,
                decision: Decision::Commit,
            },
        );
        assert_eq!(
            sends(&mut parts),
            vec![(COORDINATOR, TpcMsg::Ack { txn: t })]
        );
        let resolved = events(&parts)
            .iter()
            .filter(|e| matches!(e, TpcEvent::Resolved { .. }))
            .count();
        assert_eq!(resolved, 1);
    }

    #[test]
    fn a_late_abort_answer_does_not_undo_a_commit() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Decide {
                txn: t,
                decision: Decision::Commit,
            },
        );
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Answer {
                txn: t,
                decision: Decision::Abort,
            },
        );
        // A stale presumed-abort answer (the coordinator ended its record) must be
        // ignored: outcomes are final.
        assert_eq!(parts.durable.decided.get(&t), Some(&Decision::Commit));
    }

    #[test]
    fn restart_takes_back_locks_of_prepared_transactions_and_asks() {
        let settings = settings(Variant::Correct);
        let (mut participant, mut parts) = participant(settings);
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        // Crash: volatile state gone, durable state kept.
        let mut restarted = Participant::new(settings);
        restarted.on_start(&mut parts.ctx());
        assert_eq!(restarted.in_doubt(), vec![t]);
        assert_eq!(restarted.lock_holder(4), Some(t));
        assert_eq!(
            sends(&mut parts),
            vec![(COORDINATOR, TpcMsg::Query { txn: t })]
        );
    }

    #[test]
    fn seed_naive_forgets_its_yes_vote_in_a_crash() {
        let settings = settings(Variant::SeedNaive);
        let (mut participant, mut parts) = participant(settings);
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        // The planted bug: nothing was forced, so after a crash the vote is gone.
        assert!(parts.durable.prepared.is_empty());
        let mut restarted = Participant::new(settings);
        restarted.on_start(&mut parts.ctx());
        assert_eq!(restarted.in_doubt(), vec![]);
        restarted.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Decide {
                txn: t,
                decision: Decision::Commit,
            },
        );
        assert!(events(&parts).contains(&TpcEvent::Resolved {
            txn: t,
            decision: Decision::Abort,
            how: Resolution::Forgotten
        }));
    }

    #[test]
    fn commit_on_timeout_commits_alone() {
        let (mut participant, mut parts) = participant(settings(Variant::CommitOnTimeout));
        let t = txn(5, 0);
        in_doubt(&mut participant, &mut parts, t);
        participant.on_timer(&mut parts.ctx(), TpcTimer::InDoubt(t));
        // The planted bug: a commit nobody decided, its writes applied to the store.
        assert_eq!(
            events(&parts),
            vec![
                TpcEvent::Applied {
                    txn: t,
                    writes: vec![(0, 100), (4, 104)]
                },
                TpcEvent::Resolved {
                    txn: t,
                    decision: Decision::Commit,
                    how: Resolution::OwnTimeout
                }
            ]
        );
    }

    #[test]
    fn reads_see_committed_appends_and_their_own_in_order() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let first = txn(5, 0);
        run(
            &mut participant,
            &mut parts,
            first,
            vec![Mop::write(0, 1), Mop::read(0)],
        );
        // A transaction sees its own append.
        assert_eq!(ready_reads(&mut parts), Some(vec![vec![1]]));
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Prepare { txn: first },
        );
        decide(&mut participant, &mut parts, first, Decision::Commit);
        parts.take_effects();
        let second = txn(6, 0);
        run(
            &mut participant,
            &mut parts,
            second,
            vec![Mop::read(0), Mop::write(0, 2), Mop::read(0), Mop::read(4)],
        );
        // The list grows in commit order; an unwritten key reads as the empty list.
        // Reads that missed the commit or their own append would make Elle infer
        // cycles that never happened.
        assert_eq!(
            ready_reads(&mut parts),
            Some(vec![vec![1], vec![1, 2], vec![]])
        );
    }

    #[test]
    fn a_register_read_returns_the_last_write() {
        let settings = TpcSettings {
            workload: TxnWorkload::RwRegister,
            ..settings(Variant::Correct)
        };
        let (mut participant, mut parts) = participant(settings);
        let t = txn(5, 0);
        run(
            &mut participant,
            &mut parts,
            t,
            vec![
                Mop::read(0),
                Mop::write(0, 7),
                Mop::write(0, 8),
                Mop::read(0),
            ],
        );
        // An unwritten register reads as nothing (nil); later, its latest value only.
        assert_eq!(ready_reads(&mut parts), Some(vec![vec![], vec![8]]));
    }

    #[test]
    fn strict_2pl_refuses_a_read_of_a_key_another_transaction_writes() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let (writer, reader) = (txn(5, 0), txn(6, 0));
        work(&mut participant, &mut parts, writer, &[0]);
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Prepare { txn: writer },
        );
        parts.take_effects();
        run(
            &mut participant,
            &mut parts,
            reader,
            vec![Mop::read(4), Mop::read(0)],
        );
        // No-wait: the reader votes no at once, and gives back the lock on key 4 it
        // took before the conflict; reading key 0 would be a dirty read.
        assert_eq!(ready_reads(&mut parts), None);
        assert_eq!(participant.locks_on(4), KeyLock::default());
        assert_eq!(
            events(&parts)[0],
            TpcEvent::Voted {
                txn: reader,
                vote: Vote::No,
                reason: VoteReason::LockConflict
            }
        );
    }

    #[test]
    fn strict_2pl_refuses_a_write_of_a_key_another_transaction_read() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let (reader, writer) = (txn(5, 0), txn(6, 0));
        run(&mut participant, &mut parts, reader, vec![Mop::read(0)]);
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Prepare { txn: reader },
        );
        parts.take_effects();
        work(&mut participant, &mut parts, writer, &[0]);
        // The reader's shared lock is held until its outcome: a write now would be
        // the anti-dependency of write skew.
        assert_eq!(ready_reads(&mut parts), None);
        assert_eq!(participant.locks_on(0).readers, BTreeSet::from([reader]));
        // Once the reader's outcome is applied, the lock is free.
        decide(&mut participant, &mut parts, reader, Decision::Commit);
        assert_eq!(participant.locks_on(0), KeyLock::default());
    }

    #[test]
    fn an_abort_undoes_the_staged_appends() {
        let (mut participant, mut parts) = participant(settings(Variant::Correct));
        let (aborted, later) = (txn(5, 0), txn(6, 0));
        work(&mut participant, &mut parts, aborted, &[0]);
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Prepare { txn: aborted },
        );
        decide(&mut participant, &mut parts, aborted, Decision::Abort);
        parts.take_effects();
        run(&mut participant, &mut parts, later, vec![Mop::read(0)]);
        // An aborted append left in the list would be read: G1a.
        assert_eq!(ready_reads(&mut parts), Some(vec![vec![]]));
        assert_eq!(parts.durable.store.get(&0), None);
    }

    #[test]
    fn restart_takes_back_read_locks_of_prepared_transactions() {
        let settings = settings(Variant::Correct);
        let (mut participant, mut parts) = participant(settings);
        let t = txn(5, 0);
        run(
            &mut participant,
            &mut parts,
            t,
            vec![Mop::read(0), Mop::write(4, 9)],
        );
        participant.on_message(&mut parts.ctx(), COORDINATOR, TpcMsg::Prepare { txn: t });
        assert_eq!(parts.durable.prepared[&t].reads, vec![0]);
        let mut restarted = Participant::new(settings);
        restarted.on_start(&mut parts.ctx());
        // Strict 2PL holds read locks until the outcome, across a crash too.
        assert_eq!(restarted.locks_on(0).readers, BTreeSet::from([t]));
        assert_eq!(restarted.lock_holder(4), Some(t));
    }

    #[test]
    fn early_lock_release_lets_others_read_undecided_appends() {
        let (mut participant, mut parts) = participant(settings(Variant::EarlyLockRelease));
        let (writer, reader) = (txn(5, 0), txn(6, 0));
        work(&mut participant, &mut parts, writer, &[0]);
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Prepare { txn: writer },
        );
        // The planted bug: the vote takes the locks with it.
        assert_eq!(participant.locks_on(0), KeyLock::default());
        parts.take_effects();
        run(&mut participant, &mut parts, reader, vec![Mop::read(0)]);
        // A dirty read of the undecided append: G1a if the writer aborts.
        assert_eq!(ready_reads(&mut parts), Some(vec![vec![100]]));
    }

    #[test]
    fn no_read_locks_lets_a_write_follow_a_read_before_its_outcome() {
        let (mut participant, mut parts) = participant(settings(Variant::NoReadLocks));
        let (reader, writer) = (txn(5, 0), txn(6, 0));
        run(&mut participant, &mut parts, reader, vec![Mop::read(0)]);
        parts.take_effects();
        work(&mut participant, &mut parts, writer, &[0]);
        // The planted bug: the write is granted while the reader is undecided.
        assert_eq!(participant.lock_holder(0), Some(writer));
        assert_eq!(ready_reads(&mut parts), Some(vec![]));
    }

    #[test]
    fn read_uncommitted_reads_prepared_writes_past_their_lock() {
        let (mut participant, mut parts) = participant(settings(Variant::ReadUncommitted));
        let (writer, reader, early) = (txn(5, 0), txn(6, 0), txn(7, 0));
        work(&mut participant, &mut parts, writer, &[0]);
        parts.take_effects();
        run(&mut participant, &mut parts, early, vec![Mop::read(0)]);
        // Before the writer prepared, its write is invisible.
        assert_eq!(ready_reads(&mut parts), Some(vec![vec![]]));
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Prepare { txn: writer },
        );
        parts.take_effects();
        run(&mut participant, &mut parts, reader, vec![Mop::read(0)]);
        // The planted bug: the prepared write is read though its lock is held.
        assert_eq!(participant.lock_holder(0), Some(writer));
        assert_eq!(ready_reads(&mut parts), Some(vec![vec![100]]));
    }
}
