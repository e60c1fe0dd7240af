//! A participant: a key-value store with one exclusive lock per key. It does the work
//! of a transaction, forces a prepared record before voting yes, and, once in doubt,
//! holds its locks and asks until it learns the outcome.

use super::node::TpcNode;
use super::types::{
    Decision, Key, PreparedRecord, Resolution, TpcEvent, TpcMsg, TpcTimer, TxnId, Value, Vote,
    VoteReason,
};
use super::{COORDINATOR, TpcSettings, Variant};
use dsim_core::rng::chance;
use dsim_core::{Ctx, NodeId, Observation, TimerId};
use std::collections::BTreeMap;

/// Work done, locks held, not yet asked to prepare (volatile).
#[derive(Clone, Debug)]
struct Working {
    writes: Vec<(Key, Value)>,
    participants: Vec<NodeId>,
    deadline: TimerId,
}

/// Voted yes, in doubt.
#[derive(Clone, Debug)]
struct Prepared {
    record: PreparedRecord,
    /// The pending `InDoubt` timer.
    timer: TimerId,
}

/// The participant role (nodes `1..nodes`).
#[derive(Clone, Debug)]
pub struct Participant {
    settings: TpcSettings,
    locks: BTreeMap<Key, TxnId>,
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
            working: BTreeMap::new(),
            prepared: BTreeMap::new(),
        }
    }

    /// Transactions this participant is in doubt about.
    pub fn in_doubt(&self) -> Vec<TxnId> {
        self.prepared.keys().copied().collect()
    }

    /// The transaction holding `key`'s lock, if any.
    pub fn lock_holder(&self, key: Key) -> Option<TxnId> {
        self.locks.get(&key).copied()
    }

    /// Start and restart: every prepared record is an in-doubt transaction; take its
    /// locks back and ask for the outcome at once.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        let records: Vec<(TxnId, PreparedRecord)> = ctx
            .durable()
            .prepared
            .iter()
            .map(|(txn, record)| (*txn, record.clone()))
            .collect();
        for (txn, record) in records {
            for (key, _) in &record.writes {
                let previous = self.locks.insert(*key, txn);
                assert!(
                    previous.is_none(),
                    "prepared transactions {txn} and {previous:?} both hold key {key}"
                );
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
                writes,
                participants,
            } if source == COORDINATOR => self.on_work(ctx, txn, writes, participants),
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
            TpcTimer::VoteDeadline(_)
            | TpcTimer::Retry
            | TpcTimer::Submit
            | TpcTimer::ClientDeadline(_) => {}
        }
    }

    fn on_work(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        txn: TxnId,
        writes: Vec<(Key, Value)>,
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
        if self.working.contains_key(&txn) {
            ctx.send(COORDINATOR, TpcMsg::Ready { txn });
            return;
        }
        let conflict = writes
            .iter()
            .any(|(key, _)| self.locks.get(key).is_some_and(|holder| *holder != txn));
        if conflict {
            self.vote_no(ctx, txn, VoteReason::LockConflict);
            return;
        }
        for (key, _) in &writes {
            self.locks.insert(*key, txn);
        }
        let deadline = ctx.set_timer(
            self.settings.prepare_timeout,
            TpcTimer::PrepareDeadline(txn),
        );
        self.working.insert(
            txn,
            Working {
                writes,
                participants,
                deadline,
            },
        );
        ctx.send(COORDINATOR, TpcMsg::Ready { txn });
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
            participants: work.participants,
        };
        if self.settings.variant != Variant::SeedNaive {
            // Forced before the vote leaves: after a crash we must still be able to
            // commit what we promised.
            ctx.durable_mut().prepared.insert(txn, record.clone());
            ctx.sync();
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
            self.release(txn, &work.writes);
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
        self.release(txn, writes);
        let durable = ctx.durable_mut();
        durable.prepared.remove(&txn);
        if decision == Decision::Commit {
            for &(key, value) in writes {
                durable.store.insert(key, value);
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

    fn release(&mut self, txn: TxnId, writes: &[(Key, Value)]) {
        for (key, _) in writes {
            if self.locks.get(key) == Some(&txn) {
                self.locks.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{events, parts, sends, timers, txn};
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

    fn work(participant: &mut Participant, parts: &mut CtxParts<TpcNode>, t: TxnId, keys: &[Key]) {
        let writes = keys.iter().map(|&k| (k, 100 + u64::from(k))).collect();
        participant.on_message(
            &mut parts.ctx(),
            COORDINATOR,
            TpcMsg::Work {
                txn: t,
                writes,
                participants: vec![NodeId(1), NodeId(2)],
            },
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
            vec![(COORDINATOR, TpcMsg::Ready { txn: t })]
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
        assert_eq!(parts.durable.store.get(&0), Some(&100));
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
        assert_eq!(parts.durable.store.get(&4), Some(&104));
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
}
