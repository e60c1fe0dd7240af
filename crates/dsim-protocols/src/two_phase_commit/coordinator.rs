//! The coordinator: runs each transaction through work, prepare and decide; forces
//! commit records before announcing them; answers in-doubt participants from its log,
//! presuming abort for transactions it has no record of.

use super::node::TpcNode;
use super::types::{
    Decision, DecisionReason, Mop, MopKind, ReadValue, TpcEvent, TpcMsg, TpcTimer, TxnId, Vote,
};
use super::{TpcSettings, Variant};
use dsim_core::{Ctx, NodeId, Observation, TimerId};
use std::collections::{BTreeMap, BTreeSet};

/// Where a running transaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for every participant's `Ready`, keeping what each one's reads
    /// returned.
    Working {
        ready: BTreeMap<NodeId, Vec<ReadValue>>,
    },
    /// `Prepare` sent; waiting for every yes vote.
    Preparing {
        yes: BTreeSet<NodeId>,
        reads: BTreeMap<NodeId, Vec<ReadValue>>,
    },
}

/// A transaction the coordinator is running (volatile: lost in a crash).
#[derive(Clone, Debug)]
struct ActiveTxn {
    client: NodeId,
    /// The transaction's micro-ops, in order (to put the reads back in order).
    mops: Vec<Mop>,
    /// The micro-ops of each participant; its keys are the participant set.
    work: BTreeMap<NodeId, Vec<Mop>>,
    phase: Phase,
    deadline: TimerId,
}

/// The coordinator role (node 0).
#[derive(Clone, Debug)]
pub struct Coordinator {
    settings: TpcSettings,
    active: BTreeMap<TxnId, ActiveTxn>,
    /// Outcomes decided or presumed in this life (answers duplicates and queries, and
    /// keeps a late `Begin` from running a transaction twice).
    finished: BTreeMap<TxnId, Decision>,
    /// Commits whose participants have not all acknowledged yet.
    unacked: BTreeMap<TxnId, BTreeSet<NodeId>>,
    /// What the reads of each transaction committed in this life returned, in
    /// transaction order (to repeat the outcome to a duplicate `Begin`).
    committed_reads: BTreeMap<TxnId, Vec<ReadValue>>,
}

impl Coordinator {
    /// A coordinator with empty volatile state.
    pub fn new(settings: TpcSettings) -> Coordinator {
        Coordinator {
            settings,
            active: BTreeMap::new(),
            finished: BTreeMap::new(),
            unacked: BTreeMap::new(),
            committed_reads: BTreeMap::new(),
        }
    }

    /// Transactions still collecting work or votes.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Commits still waiting for acknowledgements.
    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Start and restart: every commit record in the log is a decided commit whose
    /// participants may not know it yet; tell them again.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        let log: Vec<(TxnId, Vec<NodeId>)> = ctx
            .durable()
            .commit_log
            .iter()
            .map(|(txn, participants)| (*txn, participants.clone()))
            .collect();
        for (txn, participants) in log {
            self.finished.insert(txn, Decision::Commit);
            for &participant in &participants {
                ctx.send(
                    participant,
                    TpcMsg::Decide {
                        txn,
                        decision: Decision::Commit,
                    },
                );
            }
            self.unacked.insert(txn, participants.into_iter().collect());
        }
        ctx.set_timer(self.settings.retry_interval, TpcTimer::Retry);
    }

    /// Handles a client request or a participant's reply.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, TpcNode>, source: NodeId, msg: TpcMsg) {
        match msg {
            TpcMsg::Begin { txn, mops } => self.on_begin(ctx, source, txn, mops),
            TpcMsg::Ready { txn, reads } => self.on_ready(ctx, source, txn, reads),
            TpcMsg::Vote { txn, vote } => self.on_vote(ctx, source, txn, vote),
            TpcMsg::Ack { txn } => self.on_ack(ctx, source, txn),
            TpcMsg::Query { txn } => {
                if let Some(decision) = self.known_or_presumed(txn) {
                    ctx.send(source, TpcMsg::Answer { txn, decision });
                }
            }
            // Not addressed to a coordinator.
            TpcMsg::Outcome { .. }
            | TpcMsg::Work { .. }
            | TpcMsg::Prepare { .. }
            | TpcMsg::Decide { .. }
            | TpcMsg::Answer { .. } => {}
        }
    }

    /// Vote deadlines and the periodic resend.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, TpcNode>, timer: TpcTimer) {
        match timer {
            TpcTimer::VoteDeadline(txn) => {
                if self.active.contains_key(&txn) {
                    self.decide(ctx, txn, Decision::Abort, DecisionReason::Timeout);
                }
            }
            TpcTimer::Retry => {
                self.resend(ctx);
                ctx.set_timer(self.settings.retry_interval, TpcTimer::Retry);
            }
            TpcTimer::PrepareDeadline(_) | TpcTimer::InDoubt(_) | TpcTimer::Client(_) => {}
        }
    }

    fn on_begin(&mut self, ctx: &mut Ctx<'_, TpcNode>, source: NodeId, txn: TxnId, mops: Vec<Mop>) {
        if let Some(&decision) = self.finished.get(&txn) {
            // A duplicate of a finished transaction: repeat the outcome.
            let reads = self.committed_reads.get(&txn).cloned();
            ctx.send(
                source,
                TpcMsg::Outcome {
                    txn,
                    decision,
                    reads,
                },
            );
            return;
        }
        if self.active.contains_key(&txn) {
            return;
        }
        if txn.client != source || mops.is_empty() {
            // Malformed: refuse without running anything.
            ctx.send(
                source,
                TpcMsg::Outcome {
                    txn,
                    decision: Decision::Abort,
                    reads: None,
                },
            );
            return;
        }
        let mut work: BTreeMap<NodeId, Vec<Mop>> = BTreeMap::new();
        for &mop in &mops {
            work.entry(self.settings.owner(mop.key))
                .or_default()
                .push(mop);
        }
        let participants: Vec<NodeId> = work.keys().copied().collect();
        ctx.observe(Observation::Protocol(TpcEvent::Began {
            txn,
            participants: participants.clone(),
        }));
        for (&participant, mops) in &work {
            ctx.send(
                participant,
                TpcMsg::Work {
                    txn,
                    mops: mops.clone(),
                    participants: participants.clone(),
                },
            );
        }
        let deadline = ctx.set_timer(self.settings.vote_timeout, TpcTimer::VoteDeadline(txn));
        self.active.insert(
            txn,
            ActiveTxn {
                client: source,
                mops,
                work,
                phase: Phase::Working {
                    ready: BTreeMap::new(),
                },
                deadline,
            },
        );
    }

    fn on_ready(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        source: NodeId,
        txn: TxnId,
        reads: Vec<ReadValue>,
    ) {
        let Some(active) = self.active.get_mut(&txn) else {
            // The participant holds locks for a transaction this coordinator no longer
            // runs (a previous life's, or one that timed out): let it go at once.
            if let Some(decision) = self.known_or_presumed(txn) {
                ctx.send(source, TpcMsg::Decide { txn, decision });
            }
            return;
        };
        if !active.work.contains_key(&source) {
            return;
        }
        if let Phase::Working { ready } = &mut active.phase {
            ready.entry(source).or_insert(reads);
            if ready.len() == active.work.len() {
                active.phase = Phase::Preparing {
                    yes: BTreeSet::new(),
                    reads: std::mem::take(ready),
                };
                for &participant in active.work.keys() {
                    ctx.send(participant, TpcMsg::Prepare { txn });
                }
            }
        }
    }

    fn on_vote(&mut self, ctx: &mut Ctx<'_, TpcNode>, source: NodeId, txn: TxnId, vote: Vote) {
        let Some(active) = self.active.get_mut(&txn) else {
            if vote == Vote::Yes {
                // An in-doubt participant of a transaction decided (or forgotten)
                // already: its outcome, presumed abort if there is no record.
                if let Some(decision) = self.known_or_presumed(txn) {
                    ctx.send(source, TpcMsg::Decide { txn, decision });
                }
            }
            return;
        };
        if !active.work.contains_key(&source) {
            return;
        }
        match vote {
            Vote::No => self.decide(ctx, txn, Decision::Abort, DecisionReason::VotedNo),
            Vote::Yes => {
                // Yes votes count only once prepare went out: participants never vote
                // yes unasked.
                if let Phase::Preparing { yes, .. } = &mut active.phase {
                    yes.insert(source);
                    if yes.len() == active.work.len() {
                        self.decide(ctx, txn, Decision::Commit, DecisionReason::Unanimous);
                    }
                }
            }
        }
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, TpcNode>, source: NodeId, txn: TxnId) {
        let Some(waiting) = self.unacked.get_mut(&txn) else {
            return;
        };
        waiting.remove(&source);
        if waiting.is_empty() {
            self.unacked.remove(&txn);
            // The lazy end record: not forced. If a crash loses it, recovery resends
            // the commit and the participants acknowledge again.
            ctx.durable_mut().commit_log.remove(&txn);
        }
    }

    /// The outcome to tell someone asking about `txn`: what this life decided, a commit
    /// record (loaded into `finished` at start), or presumed abort when there is no
    /// record; `None` while the transaction is still running.
    fn known_or_presumed(&mut self, txn: TxnId) -> Option<Decision> {
        if self.active.contains_key(&txn) {
            return None;
        }
        Some(*self.finished.entry(txn).or_insert(Decision::Abort))
    }

    /// Ends a running transaction: forces a commit record (unless the variant forgets
    /// to), then tells participants and client.
    fn decide(
        &mut self,
        ctx: &mut Ctx<'_, TpcNode>,
        txn: TxnId,
        decision: Decision,
        reason: DecisionReason,
    ) {
        let active = self
            .active
            .remove(&txn)
            .expect("only running transactions are decided");
        ctx.cancel_timer(active.deadline);
        let participants: Vec<NodeId> = active.work.keys().copied().collect();
        let mut reads = None;
        if decision == Decision::Commit {
            let Phase::Preparing {
                yes,
                reads: by_participant,
            } = &active.phase
            else {
                panic!("commit of {txn} before prepare");
            };
            assert!(
                yes.len() == participants.len(),
                "commit of {txn} without every yes vote"
            );
            reads = in_transaction_order(&self.settings, &active.mops, by_participant);
            if let Some(in_order) = &reads {
                self.committed_reads.insert(txn, in_order.clone());
            }
            if self.settings.variant != Variant::NoDurableDecision {
                // Presumed abort: only commits are logged, and they are forced before
                // anyone hears of them.
                ctx.durable_mut()
                    .commit_log
                    .insert(txn, participants.clone());
                ctx.sync();
            }
            self.unacked
                .insert(txn, participants.iter().copied().collect());
        }
        self.finished.insert(txn, decision);
        ctx.observe(Observation::Protocol(TpcEvent::Decided {
            txn,
            decision,
            reason,
        }));
        for &participant in &participants {
            ctx.send(participant, TpcMsg::Decide { txn, decision });
        }
        ctx.send(
            active.client,
            TpcMsg::Outcome {
                txn,
                decision,
                reads,
            },
        );
    }

    /// Resends what may have been lost: work to participants not ready, prepare to
    /// participants that did not vote yes, commits to participants that did not ack.
    fn resend(&mut self, ctx: &mut Ctx<'_, TpcNode>) {
        for (&txn, active) in &self.active {
            match &active.phase {
                Phase::Working { ready } => {
                    let participants: Vec<NodeId> = active.work.keys().copied().collect();
                    for (&participant, mops) in &active.work {
                        if !ready.contains_key(&participant) {
                            ctx.send(
                                participant,
                                TpcMsg::Work {
                                    txn,
                                    mops: mops.clone(),
                                    participants: participants.clone(),
                                },
                            );
                        }
                    }
                }
                Phase::Preparing { yes, .. } => {
                    for &participant in active.work.keys() {
                        if !yes.contains(&participant) {
                            ctx.send(participant, TpcMsg::Prepare { txn });
                        }
                    }
                }
            }
        }
        for (&txn, waiting) in &self.unacked {
            for &participant in waiting {
                ctx.send(
                    participant,
                    TpcMsg::Decide {
                        txn,
                        decision: Decision::Commit,
                    },
                );
            }
        }
    }
}

/// The reads of a transaction in its own order: each participant's reads come back
/// in the order of its micro-ops, so the n-th read of a participant is the n-th read
/// mop on its keys. `None` if a participant sent fewer reads than it was given (then
/// the client cannot know what its reads returned).
fn in_transaction_order(
    settings: &TpcSettings,
    mops: &[Mop],
    by_participant: &BTreeMap<NodeId, Vec<ReadValue>>,
) -> Option<Vec<ReadValue>> {
    let mut next: BTreeMap<NodeId, usize> = BTreeMap::new();
    mops.iter()
        .filter(|mop| mop.kind == MopKind::Read)
        .map(|mop| {
            let owner = settings.owner(mop.key);
            let index = next.entry(owner).or_insert(0);
            let read = by_participant
                .get(&owner)
                .and_then(|reads| reads.get(*index))
                .cloned();
            *index += 1;
            read
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{events, parts, sends, txn};
    use super::*;
    use dsim_core::{CtxParts, Effect};

    fn coordinator(variant: Variant) -> (Coordinator, CtxParts<TpcNode>) {
        let settings = TpcSettings {
            variant,
            ..TpcSettings::default()
        };
        let mut parts = parts(NodeId(0), settings);
        let mut coordinator = Coordinator::new(settings);
        coordinator.on_start(&mut parts.ctx());
        parts.take_effects();
        (coordinator, parts)
    }

    /// Begins txn 5#0 writing key 0 and reading key 1 (participants 1 and 2) and
    /// collects both readies (participant 2 read `[4 5]`), so that prepare went out.
    fn prepared(coordinator: &mut Coordinator, parts: &mut CtxParts<TpcNode>) -> TxnId {
        let t = txn(5, 0);
        let mops = vec![Mop::write(0, 10), Mop::read(1)];
        coordinator.on_message(&mut parts.ctx(), NodeId(5), TpcMsg::Begin { txn: t, mops });
        let ready = |reads| TpcMsg::Ready { txn: t, reads };
        coordinator.on_message(&mut parts.ctx(), NodeId(1), ready(vec![]));
        coordinator.on_message(&mut parts.ctx(), NodeId(2), ready(vec![vec![4, 5]]));
        parts.take_effects();
        t
    }

    #[test]
    fn begin_sends_each_participant_its_own_writes() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = txn(5, 0);
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(5),
            TpcMsg::Begin {
                txn: t,
                mops: vec![Mop::write(0, 10), Mop::read(4), Mop::write(2, 12)],
            },
        );
        // Keys 0 and 4 live at participant 1, key 2 at participant 3: two Work messages,
        // each carrying only the target's micro-ops, in order. A wrong grouping would
        // lose writes.
        let participants = vec![NodeId(1), NodeId(3)];
        assert_eq!(
            sends(&mut parts),
            vec![
                (
                    NodeId(1),
                    TpcMsg::Work {
                        txn: t,
                        mops: vec![Mop::write(0, 10), Mop::read(4)],
                        participants: participants.clone()
                    }
                ),
                (
                    NodeId(3),
                    TpcMsg::Work {
                        txn: t,
                        mops: vec![Mop::write(2, 12)],
                        participants: participants.clone()
                    }
                ),
            ]
        );
        assert_eq!(
            events(&parts),
            vec![TpcEvent::Began {
                txn: t,
                participants
            }]
        );
    }

    #[test]
    fn prepare_goes_out_only_when_every_participant_is_ready() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = txn(5, 0);
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(5),
            TpcMsg::Begin {
                txn: t,
                mops: vec![Mop::write(0, 1), Mop::write(1, 2)],
            },
        );
        parts.take_effects();
        let ready = TpcMsg::Ready {
            txn: t,
            reads: vec![],
        };
        coordinator.on_message(&mut parts.ctx(), NodeId(1), ready.clone());
        // One of two ready: preparing now would let a participant that never did the
        // work vote.
        assert_eq!(sends(&mut parts), vec![]);
        coordinator.on_message(&mut parts.ctx(), NodeId(2), ready);
        assert_eq!(
            sends(&mut parts),
            vec![
                (NodeId(1), TpcMsg::Prepare { txn: t }),
                (NodeId(2), TpcMsg::Prepare { txn: t })
            ]
        );
    }

    #[test]
    fn unanimous_yes_forces_the_commit_record_before_anyone_hears() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = prepared(&mut coordinator, &mut parts);
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(1),
            TpcMsg::Vote {
                txn: t,
                vote: Vote::Yes,
            },
        );
        assert_eq!(sends(&mut parts), vec![], "one yes of two decides nothing");
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(2),
            TpcMsg::Vote {
                txn: t,
                vote: Vote::Yes,
            },
        );
        assert_eq!(
            parts.durable.commit_log.get(&t),
            Some(&vec![NodeId(1), NodeId(2)])
        );
        // The sync must come before the first send: a crash right after a send with the
        // record unforced would let recovery presume abort for a commit.
        let effects = parts.take_effects();
        let sync_at = effects
            .iter()
            .position(|e| matches!(e, Effect::Sync))
            .expect("forced");
        let first_send = effects
            .iter()
            .position(|e| matches!(e, Effect::Send { .. }))
            .expect("sent");
        assert!(
            sync_at < first_send,
            "sync at {sync_at}, first send at {first_send}"
        );
        let decided: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { target, msg } => Some((*target, msg.clone())),
                _ => None,
            })
            .collect();
        let commit = Decision::Commit;
        assert_eq!(
            decided,
            vec![
                (
                    NodeId(1),
                    TpcMsg::Decide {
                        txn: t,
                        decision: commit
                    }
                ),
                (
                    NodeId(2),
                    TpcMsg::Decide {
                        txn: t,
                        decision: commit
                    }
                ),
                (
                    NodeId(5),
                    TpcMsg::Outcome {
                        txn: t,
                        decision: commit,
                        // Participant 2's read, back in the client's order.
                        reads: Some(vec![vec![4, 5]])
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_no_vote_aborts_without_logging() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = prepared(&mut coordinator, &mut parts);
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(2),
            TpcMsg::Vote {
                txn: t,
                vote: Vote::No,
            },
        );
        // Presumed abort: an abort leaves no record and forces nothing.
        assert!(parts.durable.commit_log.is_empty());
        let effects = parts.take_effects();
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Sync)),
            "aborts are not forced"
        );
        assert_eq!(coordinator.active_count(), 0);
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::Observe(Observation::Protocol(TpcEvent::Decided {
                decision: Decision::Abort,
                reason: DecisionReason::VotedNo,
                ..
            }))
        )));
    }

    #[test]
    fn missing_votes_abort_at_the_deadline() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = prepared(&mut coordinator, &mut parts);
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(1),
            TpcMsg::Vote {
                txn: t,
                vote: Vote::Yes,
            },
        );
        coordinator.on_timer(&mut parts.ctx(), TpcTimer::VoteDeadline(t));
        // Participant 2 never voted: waiting forever would block every lock it holds.
        assert_eq!(
            events(&parts),
            vec![TpcEvent::Decided {
                txn: t,
                decision: Decision::Abort,
                reason: DecisionReason::Timeout
            }]
        );
        assert!(sends(&mut parts).contains(&(
            NodeId(5),
            TpcMsg::Outcome {
                txn: t,
                decision: Decision::Abort,
                reads: None,
            }
        )));
    }

    #[test]
    fn query_about_an_unknown_transaction_is_answered_abort() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = txn(6, 3);
        coordinator.on_message(&mut parts.ctx(), NodeId(2), TpcMsg::Query { txn: t });
        // No record means abort: the participant may release its locks.
        assert_eq!(
            sends(&mut parts),
            vec![(
                NodeId(2),
                TpcMsg::Answer {
                    txn: t,
                    decision: Decision::Abort
                }
            )]
        );
        // And the coordinator will not run it afterwards.
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(6),
            TpcMsg::Begin {
                txn: t,
                mops: vec![Mop::write(0, 1)],
            },
        );
        assert_eq!(
            sends(&mut parts),
            vec![(
                NodeId(6),
                TpcMsg::Outcome {
                    txn: t,
                    decision: Decision::Abort,
                    reads: None,
                }
            )]
        );
    }

    #[test]
    fn query_about_a_running_transaction_gets_no_answer_yet() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = prepared(&mut coordinator, &mut parts);
        coordinator.on_message(&mut parts.ctx(), NodeId(1), TpcMsg::Query { txn: t });
        // Answering "abort" here would contradict a commit a moment later.
        assert_eq!(sends(&mut parts), vec![]);
    }

    #[test]
    fn restart_resends_logged_commits_and_answers_from_the_log() {
        let settings = TpcSettings::default();
        let mut parts = parts(NodeId(0), settings);
        let t = txn(5, 7);
        parts
            .durable
            .commit_log
            .insert(t, vec![NodeId(1), NodeId(3)]);
        let mut coordinator = Coordinator::new(settings);
        coordinator.on_start(&mut parts.ctx());
        let commit = Decision::Commit;
        // Recovery must finish phase two for every logged commit.
        assert_eq!(
            sends(&mut parts),
            vec![
                (
                    NodeId(1),
                    TpcMsg::Decide {
                        txn: t,
                        decision: commit
                    }
                ),
                (
                    NodeId(3),
                    TpcMsg::Decide {
                        txn: t,
                        decision: commit
                    }
                ),
            ]
        );
        coordinator.on_message(&mut parts.ctx(), NodeId(3), TpcMsg::Query { txn: t });
        assert_eq!(
            sends(&mut parts),
            vec![(
                NodeId(3),
                TpcMsg::Answer {
                    txn: t,
                    decision: commit
                }
            )]
        );
    }

    #[test]
    fn the_last_ack_removes_the_commit_record() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = prepared(&mut coordinator, &mut parts);
        for participant in [1, 2] {
            coordinator.on_message(
                &mut parts.ctx(),
                NodeId(participant),
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::Yes,
                },
            );
        }
        coordinator.on_message(&mut parts.ctx(), NodeId(1), TpcMsg::Ack { txn: t });
        // One ack of two: participant 2 may still ask, so the record must stay.
        assert!(parts.durable.commit_log.contains_key(&t));
        coordinator.on_message(&mut parts.ctx(), NodeId(2), TpcMsg::Ack { txn: t });
        assert!(!parts.durable.commit_log.contains_key(&t));
        assert_eq!(coordinator.unacked_count(), 0);
    }

    #[test]
    fn retry_resends_commit_to_participants_that_did_not_ack() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = prepared(&mut coordinator, &mut parts);
        for participant in [1, 2] {
            coordinator.on_message(
                &mut parts.ctx(),
                NodeId(participant),
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::Yes,
                },
            );
        }
        coordinator.on_message(&mut parts.ctx(), NodeId(2), TpcMsg::Ack { txn: t });
        parts.take_effects();
        coordinator.on_timer(&mut parts.ctx(), TpcTimer::Retry);
        // A lost Decide would leave participant 1 in doubt until it asks.
        assert_eq!(
            sends(&mut parts),
            vec![(
                NodeId(1),
                TpcMsg::Decide {
                    txn: t,
                    decision: Decision::Commit
                }
            )]
        );
    }

    #[test]
    fn no_durable_decision_variant_keeps_commits_in_memory_only() {
        let (mut coordinator, mut parts) = coordinator(Variant::NoDurableDecision);
        let t = prepared(&mut coordinator, &mut parts);
        for participant in [1, 2] {
            coordinator.on_message(
                &mut parts.ctx(),
                NodeId(participant),
                TpcMsg::Vote {
                    txn: t,
                    vote: Vote::Yes,
                },
            );
        }
        // The planted bug: nothing reaches the log, so a restart presumes abort.
        assert!(parts.durable.commit_log.is_empty());
        let mut restarted = Coordinator::new(coordinator.settings);
        restarted.on_start(&mut parts.ctx());
        parts.take_effects();
        restarted.on_message(&mut parts.ctx(), NodeId(1), TpcMsg::Query { txn: t });
        assert_eq!(
            sends(&mut parts),
            vec![(
                NodeId(1),
                TpcMsg::Answer {
                    txn: t,
                    decision: Decision::Abort
                }
            )]
        );
    }

    #[test]
    fn yes_vote_for_a_forgotten_transaction_is_told_abort() {
        let (mut coordinator, mut parts) = coordinator(Variant::Correct);
        let t = txn(5, 9);
        coordinator.on_message(
            &mut parts.ctx(),
            NodeId(2),
            TpcMsg::Vote {
                txn: t,
                vote: Vote::Yes,
            },
        );
        // A prepare from the previous life reached participant 2; without this answer it
        // would stay in doubt until its first query.
        assert_eq!(
            sends(&mut parts),
            vec![(
                NodeId(2),
                TpcMsg::Decide {
                    txn: t,
                    decision: Decision::Abort
                }
            )]
        );
    }
}
