//! Quorum collection: send one request to a set of replicas and wait until enough
//! *distinct* replicas have answered.
//!
//! Quorum systems (Gifford's weighted voting; the majorities of Paxos and of Attiya,
//! Bar-Noy & Dolev's register) rest on one fact: any two quorums intersect. That fact
//! only holds if a quorum is a set of different replicas, so a [`QuorumCall`] counts
//! replies in a set of node ids, never with a counter: a duplicated or retransmitted
//! reply from the same replica counts once, and a reply from a node outside the replica
//! set does not count at all.
//!
//! The network may drop the request or the reply. A call therefore keeps its request
//! and, every `retransmit_after` on the node's clock, sends it again to the replicas
//! that have not answered yet (never to those that have) until the threshold is
//! reached. Requests must be idempotent at the replicas — answering one twice must be
//! harmless — which is the usual contract of quorum protocols (ABD's queries and
//! stores are).
//!
//! The call is sans-IO like everything else in dsim: it records sends and timers
//! through the node's [`Ctx`]; the node routes its retransmission timer back to
//! [`QuorumCall::on_retransmit`] and each reply to [`QuorumCall::on_reply`].
//!
//! Two more uses are built in, for replicas that collect quorums among their peers
//! (the Multi-Paxos core's promises and acceptances):
//! - **A vote counted up front.** A replica that is itself one of the replicas counts
//!   its own answer with [`QuorumCall::on_reply`] before sending; every send goes only
//!   to the replicas that have not answered, so it never sends to itself.
//! - **Retransmission from the node's own tick.** A node with many calls in flight and
//!   one periodic timer sends with [`QuorumCall::send_to_missing`] (no timer per call),
//!   asks [`QuorumCall::is_due`] on each tick, and builds the message at each send,
//!   so a resend can carry fresher fields (a commit index) than the first one.
//!
//! ```
//! use dsim_core::{Ctx, CtxParts, Node, NodeId, SimDuration};
//! use dsim_protocols::kit::quorum::{QuorumCall, Reply, Threshold};
//!
//! # #[derive(Clone, Debug, PartialEq)] struct Ping;
//! # #[derive(Clone, Debug)] struct Again;
//! # struct Client;
//! # impl Node for Client {
//! #     type Msg = Ping; type Timer = Again; type Durable = (); type Event = ();
//! #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
//! #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Ping) {}
//! #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Again) {}
//! # }
//! let mut parts = CtxParts::<Client>::new(NodeId(3), 4, 1);
//! let replicas = vec![NodeId(0), NodeId(1), NodeId(2)];
//! let mut call = QuorumCall::new(replicas, Threshold::Majority, Ping, SimDuration::from_millis(20));
//! call.broadcast(&mut parts.ctx(), Again);
//! assert_eq!(parts.take_sends().len(), 3); // one request per replica
//! assert_eq!(call.on_reply(NodeId(1), "yes"), Reply::Counted);
//! assert_eq!(call.on_reply(NodeId(1), "yes"), Reply::Duplicate); // same replica
//! assert!(!call.is_complete());
//! assert_eq!(call.on_reply(NodeId(2), "yes"), Reply::Counted);
//! assert!(call.is_complete()); // 2 of 3 distinct replicas
//! ```

use dsim_core::{Ctx, Node, NodeId, SimDuration, SimTime, TimerId};
use std::collections::BTreeMap;

/// How many distinct replicas must answer for a call to complete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threshold {
    /// More than half of the replicas: `n / 2 + 1`. Any two majorities intersect.
    #[default]
    Majority,
    /// Every replica.
    All,
    /// A fixed number of replicas, from 1 to the replica count (a larger number is
    /// lowered to the replica count, so a call can always complete).
    Count(usize),
}

impl Threshold {
    /// The number of distinct replies needed out of `replicas`; at least 1 when there
    /// is at least one replica.
    pub fn needed(self, replicas: usize) -> usize {
        match self {
            Threshold::Majority => replicas / 2 + 1,
            Threshold::All => replicas,
            Threshold::Count(count) => count.clamp(1, replicas.max(1)),
        }
        .min(replicas)
    }
}

/// What [`QuorumCall::on_reply`] made of one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A first reply from this replica: it counts.
    Counted,
    /// This replica had already answered: ignored (its first reply is kept).
    Duplicate,
    /// The sender is not one of the call's replicas: ignored.
    Stranger,
}

/// One request broadcast to a set of replicas, with the distinct replies collected so
/// far. `M` is the request message, `R` whatever the caller keeps of each reply.
#[derive(Clone, Debug)]
pub struct QuorumCall<M, R> {
    replicas: Vec<NodeId>,
    needed: usize,
    request: M,
    retransmit_after: SimDuration,
    replies: BTreeMap<NodeId, R>,
    timer: Option<TimerId>,
    /// The node's local time at the last send, if any.
    sent_at: Option<SimTime>,
    retransmissions: u64,
}

impl<M: Clone, R> QuorumCall<M, R> {
    /// A call that will send `request` to `replicas` (duplicates in the list are
    /// removed) and complete once `threshold` of them answered, resending every
    /// `retransmit_after` to those that have not. Nothing is sent until
    /// [`QuorumCall::broadcast`].
    pub fn new(
        mut replicas: Vec<NodeId>,
        threshold: Threshold,
        request: M,
        retransmit_after: SimDuration,
    ) -> Self {
        replicas.sort();
        replicas.dedup();
        QuorumCall {
            needed: threshold.needed(replicas.len()),
            replicas,
            request,
            retransmit_after,
            replies: BTreeMap::new(),
            timer: None,
            sent_at: None,
            retransmissions: 0,
        }
    }

    /// Sends the request to every replica that has not answered (every replica, for a
    /// new call; a reply counted before, such as the caller's own vote, spares its
    /// sender) and sets the retransmission timer, whose payload `timer` the node hands
    /// back to [`QuorumCall::on_retransmit`] when it fires.
    pub fn broadcast<N: Node<Msg = M>>(&mut self, ctx: &mut Ctx<'_, N>, timer: N::Timer) {
        self.send_to_missing(ctx, M::clone);
        self.arm(ctx, timer);
    }

    /// Sends the request, made into the node's message by `message` at each send, to
    /// every replica that has not answered, in node id order, and notes the node's
    /// clock as the call's last send. Sets no timer: this is for a node that drives
    /// retransmission from a periodic tick of its own (see [`QuorumCall::is_due`]);
    /// every send after the first counts as a retransmission. Returns how many
    /// requests it sent.
    ///
    /// ```
    /// use dsim_core::{Ctx, CtxParts, Node, NodeId, SimDuration, SimTime};
    /// use dsim_protocols::kit::quorum::{QuorumCall, Threshold};
    ///
    /// # #[derive(Clone, Debug, PartialEq)] enum Msg { Accept { value: u64, commit: u64 } }
    /// # #[derive(Clone, Debug)] struct Tick;
    /// # struct Leader;
    /// # impl Node for Leader {
    /// #     type Msg = Msg; type Timer = Tick; type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Msg) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
    /// # }
    /// let mut parts = CtxParts::<Leader>::new(NodeId(0), 3, 1);
    /// let replicas = vec![NodeId(0), NodeId(1), NodeId(2)];
    /// // The request is the proposed value; each send adds the commit index of the moment.
    /// let mut call: QuorumCall<u64, ()> =
    ///     QuorumCall::new(replicas, Threshold::Majority, 7, SimDuration::from_millis(10));
    /// call.on_reply(NodeId(0), ()); // our own acceptance, counted up front
    /// let sent = call.send_to_missing(&mut parts.ctx(), |&value| Msg::Accept { value, commit: 0 });
    /// assert_eq!(sent, 2); // to nodes 1 and 2, not to ourselves
    /// assert!(!call.is_due(SimTime(5_000_000)), "a tick 5 ms later resends nothing yet");
    /// assert!(call.is_due(SimTime(10_000_000)));
    /// ```
    pub fn send_to_missing<N: Node>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        message: impl Fn(&M) -> N::Msg,
    ) -> usize {
        let mut sent = 0;
        for &replica in &self.replicas {
            if !self.replies.contains_key(&replica) {
                ctx.send(replica, message(&self.request));
                sent += 1;
            }
        }
        if self.sent_at.is_some() && sent > 0 {
            self.retransmissions += 1;
        }
        self.sent_at = Some(ctx.now());
        sent
    }

    /// Whether a tick-driven call should be sent again at local time `now`: it is
    /// incomplete and `retransmit_after` has passed since its last send (or it was
    /// never sent).
    pub fn is_due(&self, now: SimTime) -> bool {
        !self.is_complete()
            && self
                .sent_at
                .is_none_or(|sent_at| now.saturating_since(sent_at) >= self.retransmit_after)
    }

    /// The node's local time at the call's last send, if it was sent.
    pub fn sent_at(&self) -> Option<SimTime> {
        self.sent_at
    }

    /// Counts a reply from `from`: only the first reply of each replica counts.
    pub fn on_reply(&mut self, from: NodeId, reply: R) -> Reply {
        if self.replicas.binary_search(&from).is_err() {
            return Reply::Stranger;
        }
        if self.replies.contains_key(&from) {
            return Reply::Duplicate;
        }
        self.replies.insert(from, reply);
        Reply::Counted
    }

    /// The retransmission timer fired: while the call is incomplete, resends the
    /// request to each replica that has not answered and sets the timer again. Returns
    /// how many requests were resent (0 once complete: the timer is then not set again).
    pub fn on_retransmit<N: Node<Msg = M>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        timer: N::Timer,
    ) -> usize {
        self.timer = None;
        if self.is_complete() {
            return 0;
        }
        let sent = self.send_to_missing(ctx, M::clone);
        self.arm(ctx, timer);
        sent
    }

    /// Cancels the retransmission timer (call it once the call's result is used, or
    /// when the call is abandoned).
    pub fn stop<N: Node<Msg = M>>(&mut self, ctx: &mut Ctx<'_, N>) {
        if let Some(id) = self.timer.take() {
            ctx.cancel_timer(id);
        }
    }

    /// True once enough distinct replicas have answered.
    pub fn is_complete(&self) -> bool {
        self.replies.len() >= self.needed
    }

    /// The replies so far, one per replica, in node id order.
    pub fn replies(&self) -> &BTreeMap<NodeId, R> {
        &self.replies
    }

    /// The replicas that have not answered, in node id order.
    pub fn missing(&self) -> Vec<NodeId> {
        self.replicas
            .iter()
            .copied()
            .filter(|replica| !self.replies.contains_key(replica))
            .collect()
    }

    /// How many distinct replies complete the call.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// The request being collected for.
    pub fn request(&self) -> &M {
        &self.request
    }

    /// How many times the request was resent (sends after the first that sent
    /// anything).
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    fn arm<N: Node<Msg = M>>(&mut self, ctx: &mut Ctx<'_, N>, timer: N::Timer) {
        if let Some(id) = self.timer.take() {
            ctx.cancel_timer(id);
        }
        self.timer = Some(ctx.set_timer(self.retransmit_after, timer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{CtxParts, Effect};

    #[derive(Clone, Debug, PartialEq)]
    struct Query(u64);

    #[derive(Clone, Debug, PartialEq)]
    struct Resend;

    struct Client;

    impl Node for Client {
        type Msg = Query;
        type Timer = Resend;
        type Durable = ();
        type Event = ();
        fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
        fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Query) {}
        fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Resend) {}
    }

    fn five() -> Vec<NodeId> {
        (0..5).map(NodeId).collect()
    }

    fn targets(parts: &mut CtxParts<Client>) -> Vec<u32> {
        parts.take_sends().into_iter().map(|(t, _)| t.0).collect()
    }

    #[test]
    fn thresholds_count_replicas_and_majorities_intersect() {
        // n/2+1: with 4 replicas, 2 would let two disjoint "quorums" exist.
        assert_eq!(Threshold::Majority.needed(4), 3);
        assert_eq!(Threshold::Majority.needed(5), 3);
        assert_eq!(Threshold::Majority.needed(1), 1);
        assert_eq!(Threshold::All.needed(5), 5);
        assert_eq!(
            Threshold::Count(0).needed(5),
            1,
            "a call always needs someone"
        );
        assert_eq!(Threshold::Count(9).needed(5), 5, "and can always complete");
        assert_eq!(Threshold::default(), Threshold::Majority);
    }

    #[test]
    fn duplicate_replies_from_one_replica_count_once() {
        let mut call = QuorumCall::new(five(), Threshold::Majority, Query(1), SimDuration(10));
        assert_eq!(call.on_reply(NodeId(0), 7), Reply::Counted);
        // A counter would reach 3 here and complete with one replica's word.
        assert_eq!(call.on_reply(NodeId(0), 8), Reply::Duplicate);
        assert_eq!(call.on_reply(NodeId(0), 9), Reply::Duplicate);
        assert!(!call.is_complete());
        assert_eq!(call.replies()[&NodeId(0)], 7, "the first reply is kept");
        assert_eq!(call.on_reply(NodeId(4), 1), Reply::Counted);
        assert!(!call.is_complete());
        assert_eq!(call.on_reply(NodeId(2), 1), Reply::Counted);
        assert!(call.is_complete(), "3 distinct of 5");
        assert_eq!(
            call.replies().keys().map(|n| n.0).collect::<Vec<_>>(),
            vec![0, 2, 4]
        );
    }

    #[test]
    fn replies_from_outside_the_replica_set_do_not_count() {
        let mut call = QuorumCall::new(
            vec![NodeId(0), NodeId(1), NodeId(2)],
            Threshold::Majority,
            Query(1),
            SimDuration(10),
        );
        // A client or an unrelated node answering must not make up a quorum.
        assert_eq!(call.on_reply(NodeId(7), ()), Reply::Stranger);
        assert_eq!(call.on_reply(NodeId(3), ()), Reply::Stranger);
        assert!(call.replies().is_empty());
        assert_eq!(call.needed(), 2);
    }

    #[test]
    fn broadcast_sends_once_to_each_distinct_replica_and_arms_the_timer() {
        let mut parts = CtxParts::<Client>::new(NodeId(5), 6, 1);
        let replicas = vec![NodeId(2), NodeId(0), NodeId(2), NodeId(1)];
        let mut call: QuorumCall<Query, ()> =
            QuorumCall::new(replicas, Threshold::All, Query(42), SimDuration(30));
        call.broadcast(&mut parts.ctx(), Resend);
        let effects = parts.take_effects();
        // Listed replica 2 twice: it still gets one request, in id order.
        let sends: Vec<(u32, Query)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { target, msg } => Some((target.0, msg.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(sends, vec![(0, Query(42)), (1, Query(42)), (2, Query(42))]);
        let timers: Vec<u64> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::SetTimer { after, .. } => Some(after.0),
                _ => None,
            })
            .collect();
        assert_eq!(timers, vec![30], "one retransmission timer");
        assert_eq!(call.needed(), 3);
    }

    #[test]
    fn retransmit_goes_only_to_replicas_that_have_not_answered() {
        let mut parts = CtxParts::<Client>::new(NodeId(5), 6, 1);
        let mut call = QuorumCall::new(five(), Threshold::Majority, Query(3), SimDuration(30));
        call.broadcast(&mut parts.ctx(), Resend);
        parts.take_effects();
        call.on_reply(NodeId(1), ());
        call.on_reply(NodeId(3), ());
        assert_eq!(call.on_retransmit(&mut parts.ctx(), Resend), 3);
        // Resending to 1 or 3 would waste messages; missing 0, 2, 4 would stall.
        assert_eq!(targets(&mut parts), vec![0, 2, 4]);
        assert_eq!(call.missing(), vec![NodeId(0), NodeId(2), NodeId(4)]);
        assert_eq!(call.retransmissions(), 1);
        // The timer was set again for the next round.
        let rearmed = parts
            .take_effects()
            .iter()
            .filter(|e| matches!(e, Effect::SetTimer { .. }))
            .count();
        assert_eq!(rearmed, 1);
    }

    #[test]
    fn a_complete_call_stops_retransmitting() {
        let mut parts = CtxParts::<Client>::new(NodeId(5), 6, 1);
        let mut call = QuorumCall::new(five(), Threshold::Majority, Query(3), SimDuration(30));
        call.broadcast(&mut parts.ctx(), Resend);
        parts.take_effects();
        for replica in [4, 0, 2] {
            call.on_reply(NodeId(replica), ());
        }
        assert!(call.is_complete());
        assert_eq!(call.on_retransmit(&mut parts.ctx(), Resend), 0);
        // No sends and no new timer: a finished call must go quiet.
        assert!(parts.take_effects().is_empty());
        assert_eq!(call.retransmissions(), 0);
    }

    #[test]
    fn a_vote_counted_up_front_spares_its_sender_every_send() {
        // Replica 2 collects among 0..5 and counts its own answer first.
        let mut parts = CtxParts::<Client>::new(NodeId(2), 5, 1);
        let mut call = QuorumCall::new(five(), Threshold::Majority, Query(3), SimDuration(30));
        assert_eq!(call.on_reply(NodeId(2), ()), Reply::Counted);
        call.broadcast(&mut parts.ctx(), Resend);
        // Sending to itself would cost a message and a second, ignored, vote.
        assert_eq!(targets(&mut parts), vec![0, 1, 3, 4]);
        call.on_reply(NodeId(4), ());
        assert_eq!(call.on_retransmit(&mut parts.ctx(), Resend), 3);
        assert_eq!(targets(&mut parts), vec![0, 1, 3]);
        // Self plus one peer: a majority needs a third distinct replica.
        assert!(!call.is_complete());
        call.on_reply(NodeId(0), ());
        assert!(call.is_complete());
    }

    #[test]
    fn tick_driven_sends_set_no_timer_and_come_due_after_the_period() {
        let mut parts = CtxParts::<Client>::new(NodeId(0), 5, 1);
        let mut call = QuorumCall::new(five(), Threshold::Majority, 5, SimDuration(30));
        assert!(call.is_due(SimTime(0)), "a call never sent is due");
        call.on_reply(NodeId(0), ());
        let sent = call.send_to_missing(&mut parts.ctx(), |&n| Query(n));
        assert_eq!(sent, 4);
        let effects = parts.take_effects();
        // The node's own tick drives resends: a timer per call would flood the queue.
        assert!(!effects.iter().any(|e| matches!(e, Effect::SetTimer { .. })));
        assert_eq!(effects.len(), 4);
        assert_eq!(call.sent_at(), Some(SimTime(0)));
        assert_eq!(call.retransmissions(), 0, "the first send is not a resend");
        assert!(!call.is_due(SimTime(29)), "not before the period");
        assert!(call.is_due(SimTime(30)));
        call.on_reply(NodeId(3), ());
        // The message is built at each send: a resend may carry fresher fields.
        let sent = call.send_to_missing(&mut parts.ctx(), |&n| Query(n + 100));
        assert_eq!(sent, 3);
        let sends: Vec<(u32, Query)> = parts
            .take_sends()
            .into_iter()
            .map(|(target, msg)| (target.0, msg))
            .collect();
        assert_eq!(
            sends,
            vec![(1, Query(105)), (2, Query(105)), (4, Query(105))]
        );
        assert_eq!(call.retransmissions(), 1);
        call.on_reply(NodeId(1), ());
        // Complete: never due again, however long the node waits.
        assert!(!call.is_due(SimTime(u64::MAX)));
    }

    #[test]
    fn stop_cancels_the_pending_retransmission_timer() {
        let mut parts = CtxParts::<Client>::new(NodeId(5), 6, 1);
        let mut call: QuorumCall<Query, ()> =
            QuorumCall::new(five(), Threshold::Majority, Query(3), SimDuration(30));
        call.broadcast(&mut parts.ctx(), Resend);
        let set = parts
            .take_effects()
            .into_iter()
            .find_map(|e| match e {
                Effect::SetTimer { id, .. } => Some(id),
                _ => None,
            })
            .expect("broadcast sets a timer");
        call.stop(&mut parts.ctx());
        // The cancel names the timer broadcast set; a second stop has nothing to cancel.
        assert!(matches!(parts.take_effects()[..], [Effect::CancelTimer(id)] if id == set));
        call.stop(&mut parts.ctx());
        assert!(parts.take_effects().is_empty());
    }
}
