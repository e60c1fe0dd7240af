//! The `seed-naive` replica: the source article's recipe, implemented as written.
//!
//! There are no ballots and no quorums. Slots are decided one after another. For the
//! slot at hand, every replica with a pending client command broadcasts it as its
//! proposal; a replica that hears a proposal for the slot joins in (proposing its own
//! pending command, if any). `naive_round` after it joined, each replica decides the
//! smallest value it heard (a no-op if it heard none). Replicas that hear different
//! sets, through loss or a partition, decide different values for the same slot, which
//! the checker reports as an `agreement` violation.

use super::log;
use super::{Msg, NOOP, PaxosConfig, PaxosNode, QUEUE_MAX, Timer, command_parts};
use dsim_core::{Ctx, NodeId};
use std::collections::{BTreeMap, VecDeque};

/// A replica of the `seed-naive` variant.
#[derive(Clone, Debug)]
pub struct NaiveReplica {
    id: NodeId,
    config: PaxosConfig,
    /// Client commands not yet decided here, oldest first.
    pending: VecDeque<u64>,
    /// The slot being decided and the smallest value heard for it.
    current: Option<(u64, Option<u64>)>,
    /// Smallest value heard per later slot (proposals that arrived early).
    early: BTreeMap<u64, u64>,
    /// First undecided slot.
    next_slot: u64,
}

impl NaiveReplica {
    /// Replica `id` of a run with `config`.
    pub fn new(config: PaxosConfig, id: NodeId) -> NaiveReplica {
        assert!(config.is_replica(id), "node {id} is not a replica");
        NaiveReplica {
            id,
            config,
            pending: VecDeque::new(),
            current: None,
            early: BTreeMap::new(),
            next_slot: 0,
        }
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        self.next_slot = ctx.durable().first_unchosen_from(0);
        if log::apply_ready(ctx, self.config.client_window, |_, _| {}) > 0 {
            ctx.sync();
        }
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Request { value, .. } => self.on_request(ctx, source, value),
            Msg::Proposal { slot, value } => self.on_proposal(ctx, slot, value),
            _ => {}
        }
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>, timer: Timer) {
        if let Timer::Decide { slot } = timer {
            self.decide(ctx, slot);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, value: u64) {
        let Some((client, _)) = command_parts(value) else {
            return;
        };
        if client != source {
            return;
        }
        if log::has_run(ctx.durable(), value) {
            if let Some((client, reply)) = log::reply(ctx.durable(), value) {
                ctx.send(client, reply);
            }
            return;
        }
        if !self.pending.contains(&value) && self.pending.len() < QUEUE_MAX {
            self.pending.push_back(value);
        }
        self.maybe_start(ctx);
    }

    fn on_proposal(&mut self, ctx: &mut Ctx<'_, PaxosNode>, slot: u64, value: u64) {
        if slot < self.next_slot {
            return;
        }
        match &mut self.current {
            Some((current, heard)) if *current == slot => {
                *heard = Some(heard.map_or(value, |smallest| smallest.min(value)));
            }
            _ => {
                let smallest = self.early.entry(slot).or_insert(value);
                *smallest = (*smallest).min(value);
            }
        }
        self.maybe_start(ctx);
    }

    /// Joins the next slot when there is something to decide: our own command, or a
    /// proposal heard for this or a later slot.
    fn maybe_start(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        if self.current.is_some() {
            return;
        }
        if self.pending.is_empty() && self.early.is_empty() {
            return;
        }
        let slot = self.next_slot;
        let mut heard = self.early.remove(&slot);
        if let Some(&own) = self.pending.front() {
            heard = Some(heard.map_or(own, |smallest| smallest.min(own)));
            for peer in (0..self.config.replicas as u32).map(NodeId) {
                if peer != self.id {
                    ctx.send(peer, Msg::Proposal { slot, value: own });
                }
            }
        }
        self.current = Some((slot, heard));
        ctx.set_timer(self.config.naive_round, Timer::Decide { slot });
    }

    /// Decides the smallest value heard for `slot`.
    fn decide(&mut self, ctx: &mut Ctx<'_, PaxosNode>, slot: u64) {
        let Some((current, heard)) = self.current else {
            return;
        };
        if current != slot {
            return;
        }
        let value = heard.unwrap_or(NOOP);
        log::learn(ctx, slot, value);
        self.pending.retain(|&pending| pending != value);
        log::apply_ready(ctx, self.config.client_window, |ctx, value| {
            if let Some((client, reply)) = log::reply(ctx.durable(), value) {
                ctx.send(client, reply);
            }
        });
        self.early.retain(|&early, _| early > slot);
        self.next_slot = slot + 1;
        self.current = None;
        // Decided, applied and synced before any reply leaves (effects apply in order
        // after the handler, and the engine never crashes a node mid-handler).
        ctx.sync();
        self.maybe_start(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{KvResult, PaxosEvent, Variant, Workload, command_value};
    use super::*;
    use dsim_core::{CtxParts, Effect, Node, Observation};

    fn naive(id: u32) -> (PaxosNode, CtxParts<PaxosNode>) {
        let mut config = PaxosConfig::new(
            3,
            Workload {
                clients: 2,
                rate_per_s: 10.0,
                ..Workload::default()
            },
        );
        config.variant = Variant::SeedNaive;
        let mut parts = CtxParts::new(NodeId(id), config.total_nodes(), 5);
        let mut node = PaxosNode::new(&config, NodeId(id));
        node.on_start(&mut parts.ctx());
        (node, parts)
    }

    #[test]
    fn request_starts_a_round_that_broadcasts_the_command() {
        let (mut node, mut parts) = naive(0);
        let value = command_value(NodeId(3), 0);
        node.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        // Every replica proposes: the command goes to both peers for slot 0.
        assert_eq!(
            parts.take_sends(),
            vec![
                (NodeId(1), Msg::Proposal { slot: 0, value }),
                (NodeId(2), Msg::Proposal { slot: 0, value })
            ]
        );
        assert!(parts.take_effects().iter().any(|effect| matches!(
            effect,
            Effect::SetTimer {
                timer: Timer::Decide { slot: 0 },
                ..
            }
        )));
    }

    #[test]
    fn round_decides_the_smallest_value_heard() {
        let (mut node, mut parts) = naive(1);
        let larger = command_value(NodeId(4), 0);
        let smaller = command_value(NodeId(3), 0);
        node.on_message(
            &mut parts.ctx(),
            NodeId(4),
            Msg::Request {
                value: larger,
                forwarded: false,
            },
        );
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Proposal {
                slot: 0,
                value: smaller,
            },
        );
        parts.take_effects();
        node.on_timer(&mut parts.ctx(), Timer::Decide { slot: 0 });
        // The article's rule: the smallest proposal heard wins the slot.
        assert_eq!(parts.durable.chosen(0), Some(smaller));
        // The winner's client hears back; our own command lost slot 0, so we propose it
        // again for slot 1.
        assert_eq!(
            parts.take_sends(),
            vec![
                (
                    NodeId(3),
                    Msg::Reply {
                        seq: 0,
                        result: KvResult::Read(None)
                    }
                ),
                (
                    NodeId(0),
                    Msg::Proposal {
                        slot: 1,
                        value: larger
                    }
                ),
                (
                    NodeId(2),
                    Msg::Proposal {
                        slot: 1,
                        value: larger
                    }
                )
            ]
        );
        let applied = parts.take_effects().into_iter().any(|effect| {
            matches!(
                effect,
                Effect::Observe(Observation::Protocol(PaxosEvent::Applied { slot: 0, .. }))
            )
        });
        assert!(applied);
    }

    #[test]
    fn replicas_that_hear_different_sets_decide_differently() {
        // The planted bug in one test: replica 0 never hears replica 1's smaller value.
        let (mut a, mut parts_a) = naive(0);
        let (mut b, mut parts_b) = naive(1);
        let big = command_value(NodeId(4), 0);
        let small = command_value(NodeId(3), 0);
        a.on_message(
            &mut parts_a.ctx(),
            NodeId(4),
            Msg::Request {
                value: big,
                forwarded: false,
            },
        );
        b.on_message(
            &mut parts_b.ctx(),
            NodeId(3),
            Msg::Request {
                value: small,
                forwarded: false,
            },
        );
        b.on_message(
            &mut parts_b.ctx(),
            NodeId(0),
            Msg::Proposal {
                slot: 0,
                value: big,
            },
        );
        a.on_timer(&mut parts_a.ctx(), Timer::Decide { slot: 0 });
        b.on_timer(&mut parts_b.ctx(), Timer::Decide { slot: 0 });
        assert_eq!(parts_a.durable.chosen(0), Some(big));
        assert_eq!(parts_b.durable.chosen(0), Some(small));
    }
}
