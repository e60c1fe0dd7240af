//! The key-value store's replica: the Multi-Paxos core (acceptor, proposer, learner;
//! see [`crate::multipaxos`]) driving a [`super::KvMachine`], plus what is the store's own:
//! the client interface and the planted local-read bugs.

use super::{KvOp, KvResult, Msg, PaxosConfig, PaxosNode, Timer, command_op, command_parts};
use crate::multipaxos::{self, Ballot};
use dsim_core::{Ctx, NodeId};

/// A key-value replica (variants `correct`, `no-adopt`, `stale-read`, `follower-read`).
#[derive(Clone, Debug)]
pub struct Replica {
    config: PaxosConfig,
    core: multipaxos::Replica<PaxosNode>,
}

impl Replica {
    /// Replica `id` of a run with `config`.
    pub fn new(config: PaxosConfig, id: NodeId) -> Replica {
        Replica {
            config,
            core: multipaxos::Replica::new(config.core(), id),
        }
    }

    /// The ballot this replica leads, if it is the leader.
    pub fn leading(&self) -> Option<Ballot> {
        self.core.leading()
    }

    /// The leader this replica currently follows (itself when leading).
    pub fn known_leader(&self) -> Option<NodeId> {
        self.core.known_leader()
    }

    /// First slot whose chosen value this replica does not know.
    pub fn first_unchosen(&self) -> u64 {
        self.core.first_unchosen()
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        self.core.on_start(ctx);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Core(core) => self.core.on_message(ctx, source, core),
            Msg::Request { value, forwarded } => self.on_request(ctx, value, forwarded),
            // Clients' and seed-naive messages mean nothing to a Multi-Paxos replica.
            Msg::Reply { .. } | Msg::Proposal { .. } => {}
        }
        self.core.persist(ctx);
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>, timer: Timer) {
        match timer {
            Timer::Election => self.core.on_timer(ctx, multipaxos::Timer::Election),
            Timer::Tick => self.core.on_timer(ctx, multipaxos::Timer::Tick),
            Timer::Client(_) | Timer::Decide { .. } => {}
        }
        self.core.persist(ctx);
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, PaxosNode>, value: u64, forwarded: bool) {
        let Some((client, seq)) = command_parts(value) else {
            return;
        };
        if self.config.is_replica(client) || client.index() >= self.config.total_nodes() {
            return;
        }
        let leader = self.core.leading().is_some();
        if let Some(KvOp::Get { key }) = command_op(value)
            && self.config.variant.reads_locally(leader)
        {
            // The planted bug: a read served from this replica's own applied state,
            // which may lag behind what a newer leader (or this one's log) already chose.
            let result = KvResult::Read(ctx.durable().store().get(&key).copied());
            ctx.send(client, Msg::Reply { seq, result });
            return;
        }
        if let Some(leader) = self.core.client_command(ctx, value)
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

#[cfg(test)]
mod tests {
    use super::super::PaxosEvent;
    use super::super::{NOOP, PaxosDurable, PromiseEntry, Variant, Workload, command_value};
    use super::*;
    use crate::multipaxos::{Compaction, Msg as Core};
    use dsim_core::{CtxParts, Effect, Node, Observation, SimTime};

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

    /// Replica 1 following `leader` (ballot `(1, leader)`) that announced `commit`.
    fn follower_of(leader: u32, commit: u64) -> (PaxosNode, CtxParts<PaxosNode>) {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        node.on_message(
            &mut parts.ctx(),
            NodeId(leader),
            Msg::Core(Core::Heartbeat {
                ballot: ballot(1, leader),
                commit,
            }),
        );
        parts.take_effects();
        (node, parts)
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
                Msg::Core(Core::Prepare { ballot, .. }) => Some(ballot),
                _ => None,
            })
            .expect("an election sends prepares");
        node.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::Core(Core::Promise {
                ballot: prepare,
                entries: promise,
                chosen: Vec::new(),
            }),
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
            Msg::Core(Core::Prepare {
                ballot: ballot(3, 0),
                from_slot: 2,
            }),
        );
        let effects = parts.take_effects();
        // The promise must survive a crash: the sync comes before the reply, or a
        // restarted acceptor could accept a lower ballot it promised to refuse.
        let sync = position(&effects, |e| matches!(e, Effect::Sync));
        let reply = position(&effects, |e| matches!(e, Effect::Send { .. }));
        assert!(sync < reply);
        assert_eq!(parts.durable.promised(), ballot(3, 0));
        assert_eq!(
            sends(&effects),
            vec![(
                NodeId(0),
                Msg::Core(Core::Promise {
                    ballot: ballot(3, 0),
                    entries: vec![PromiseEntry {
                        slot: 4,
                        ballot: ballot(1, 2),
                        value: 99
                    }],
                    chosen: Vec::new(),
                })
            )],
            "the promise carries the accepted value so the proposer can adopt it"
        );
    }

    #[test]
    fn prepare_below_promise_is_refused_with_the_promise() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        parts.durable.set_promised(ballot(5, 2));
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Prepare {
                ballot: ballot(4, 0),
                from_slot: 0,
            }),
        );
        // Promising a lower ballot would let two leaders choose different values.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(0),
                Msg::Core(Core::Nack {
                    promised: ballot(5, 2)
                })
            )]
        );
        assert_eq!(parts.durable.promised(), ballot(5, 2));
    }

    #[test]
    fn accept_is_stored_and_synced_before_accepted_is_sent() {
        let (mut node, mut parts) = replica(2, Variant::Correct);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Accept {
                ballot: ballot(1, 0),
                slot: 0,
                value: 42,
                commit: 0,
            }),
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
                Msg::Core(Core::Accepted {
                    ballot: ballot(1, 0),
                    slot: 0
                })
            )]
        );
    }

    #[test]
    fn accept_below_promise_is_refused() {
        let (mut node, mut parts) = replica(2, Variant::Correct);
        parts.durable.set_promised(ballot(2, 1));
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Accept {
                ballot: ballot(1, 0),
                slot: 0,
                value: 42,
                commit: 0,
            }),
        );
        // Accepting under a broken promise is exactly how two values get chosen.
        assert_eq!(parts.durable.slot(0).accepted_ballot, Ballot::NONE);
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(0),
                Msg::Core(Core::Nack {
                    promised: ballot(2, 1)
                })
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
                Msg::Core(Core::Accept {
                    ballot: ballot(1, 0),
                    slot,
                    value: command_value(NodeId(3), slot),
                    commit: 0,
                }),
            );
        }
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Heartbeat {
                ballot: ballot(1, 0),
                commit: 2,
            }),
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
            Msg::Core(Core::Heartbeat {
                ballot: ballot(1, 0),
                commit: 3,
            }),
        );
        // The follower accepted nothing, so only catch-up can fill its log.
        assert_eq!(
            parts.take_sends(),
            vec![(NodeId(0), Msg::Core(Core::CatchUp { from_slot: 0 }))]
        );
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Learn {
                entries: vec![
                    (0, NOOP),
                    (1, command_value(NodeId(3), 7)),
                    (2, command_value(NodeId(3), 8)),
                ],
            }),
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
            Msg::Core(Core::Nack {
                promised: ballot(6, 2),
            }),
        );
        parts.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Election);
        let sent = parts.take_sends();
        // A ballot at or below round 6 would be refused by node 2's acceptors forever.
        assert_eq!(sent.len(), REPLICAS - 1);
        for (_, msg) in sent {
            assert_eq!(
                msg,
                Msg::Core(Core::Prepare {
                    ballot: ballot(7, 0),
                    from_slot: 0
                })
            );
        }
        assert_eq!(parts.durable.promised(), ballot(7, 0));
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
            Msg::Core(Core::Prepare { ballot, .. }) => ballot,
            other => panic!("expected a prepare, got {other:?}"),
        };
        let adopted = command_value(NodeId(3), 9);
        node.on_message(
            &mut parts0.ctx(),
            NodeId(1),
            Msg::Core(Core::Promise {
                ballot: prepare,
                entries: vec![PromiseEntry {
                    slot: 0,
                    ballot: ballot(2, 1),
                    value: adopted,
                }],
                chosen: Vec::new(),
            }),
        );
        // Proposing anything but the highest-ballot value could overwrite a chosen one.
        assert_eq!(node.leading(), Some(prepare));
        let accepts: Vec<Msg> = parts0
            .take_sends()
            .into_iter()
            .map(|(_, msg)| msg)
            .filter(|msg| matches!(msg, Msg::Core(Core::Accept { .. })))
            .collect();
        assert_eq!(accepts.len(), REPLICAS - 1);
        assert!(accepts.iter().all(
            |msg| matches!(msg, Msg::Core(Core::Accept { slot: 0, value, .. }) if *value == adopted)
        ));
    }

    #[test]
    fn lagging_candidate_learns_chosen_values_from_promises_instead_of_reproposing() {
        let chosen = command_value(NodeId(3), 4);
        let (mut node, mut fresh) = replica(0, Variant::Correct);
        fresh.local_now = SimTime(10_000_000_000);
        node.on_timer(&mut fresh.ctx(), Timer::Election);
        let prepare = match fresh.take_sends().remove(0).1 {
            Msg::Core(Core::Prepare { ballot, .. }) => ballot,
            other => panic!("expected a prepare, got {other:?}"),
        };
        node.on_message(
            &mut fresh.ctx(),
            NodeId(1),
            Msg::Core(Core::Promise {
                ballot: prepare,
                entries: Vec::new(),
                chosen: vec![(0, chosen)],
            }),
        );
        // Slot 0 is known chosen: it is learned and applied, and the new leader
        // proposes nothing for it (re-proposing a whole lagging log would be wasteful).
        assert_eq!(fresh.durable.chosen(0), Some(chosen));
        assert_eq!(fresh.durable.applied(), 1);
        assert!(
            !fresh
                .take_sends()
                .iter()
                .any(|(_, msg)| matches!(msg, Msg::Core(Core::Accept { .. })))
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
            .filter(|msg| matches!(msg, Msg::Core(Core::Accept { .. })))
            .collect();
        assert!(accepts.iter().all(|msg| matches!(
            msg,
            Msg::Core(Core::Accept {
                slot: 0,
                value: NOOP,
                ..
            })
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
            Msg::Core(Core::Accepted {
                ballot: leading,
                slot: 0,
            }),
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
            .filter(|(_, msg)| matches!(msg, Msg::Core(Core::Accept { slot: 0, .. })))
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
            Msg::Core(Core::Heartbeat {
                ballot: ballot(9, 2),
                commit: 0,
            }),
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
        let (mut node, mut parts) = follower_of(2, 0);
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
        let mut durable = PaxosDurable::default();
        durable.set_promised(ballot(4, 1));
        let mut parts: CtxParts<PaxosNode> = CtxParts::new(NodeId(2), config.total_nodes(), 3);
        parts.durable = durable;
        let mut node = PaxosNode::new(&config, NodeId(2));
        node.on_start(&mut parts.ctx());
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Accept {
                ballot: ballot(3, 0),
                slot: 0,
                value: 5,
                commit: 0,
            }),
        );
        // Forgetting a promise across a restart is the classic durable-state bug.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(0),
                Msg::Core(Core::Nack {
                    promised: ballot(4, 1)
                })
            )]
        );
    }

    #[test]
    fn prepare_for_compacted_slots_is_answered_with_the_snapshot_not_a_promise() {
        let (mut node, mut parts) = replica(1, Variant::Correct);
        let value = command_value(NodeId(3), 0);
        assert!(parts.durable.core.learn(0, value));
        assert!(parts.durable.core.apply_next(&8).is_some());
        parts.durable.core.compact(Compaction::ChosenPrefix);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Prepare {
                ballot: ballot(3, 0),
                from_slot: 0,
            }),
        );
        // A promise from slot 0 could not report slot 0 (compacted), so the candidate
        // would not learn it is chosen and could propose another value there.
        let sent = parts.take_sends();
        assert_eq!(sent.len(), 1, "{sent:?}");
        match &sent[0] {
            (NodeId(0), Msg::Core(Core::Snapshot { through, machine })) => {
                assert_eq!(*through, 1);
                assert_eq!(machine.result(NodeId(3), 0), Some(KvResult::Read(None)));
            }
            other => panic!("expected a snapshot to node 0, got {other:?}"),
        }
        assert_eq!(parts.durable.promised(), Ballot::NONE, "no promise given");
    }

    #[test]
    fn follower_installs_a_snapshot_then_fetches_the_log_after_it() {
        let (mut node, mut parts) = follower_of(0, 5);
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Core(Core::Snapshot {
                through: 3,
                machine: super::super::KvMachine::default(),
            }),
        );
        // Slots 0..3 now live in the installed machine; the follower resumes at 3 and
        // asks for 3 and 4, which the leader still holds as log entries.
        assert_eq!(parts.durable.applied(), 3);
        assert_eq!(parts.durable.log_start(), 3);
        assert_eq!(
            parts.take_sends(),
            vec![(NodeId(0), Msg::Core(Core::CatchUp { from_slot: 3 }))]
        );
    }
}
