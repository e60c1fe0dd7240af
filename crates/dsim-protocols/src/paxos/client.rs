//! The Paxos client: issues commands at its share of the workload rate, keeps at most
//! `client_window` outstanding, and resends a command to the next replica when no reply
//! came within `client_timeout`.

use super::{Msg, PaxosConfig, PaxosEvent, PaxosNode, Timer, command_value};
use dsim_core::rng::below;
use dsim_core::{Ctx, NodeId, Observation, Outcome, SimDuration, SimTime};
use std::collections::BTreeMap;

/// A client node.
#[derive(Clone, Debug)]
pub struct Client {
    id: NodeId,
    config: PaxosConfig,
    /// The replica we send to: the last one that answered, or the next after a timeout.
    target: NodeId,
    next_seq: u64,
    /// Commands awaiting a reply: sequence number to (value, last send time).
    outstanding: BTreeMap<u64, (u64, SimTime)>,
}

impl Client {
    /// Client `id` of a run with `config`.
    pub fn new(config: PaxosConfig, id: NodeId) -> Client {
        assert!(
            !config.is_replica(id),
            "node {id} is a replica, not a client"
        );
        let index = (id.index() - config.replicas) % config.replicas;
        Client {
            id,
            config,
            target: NodeId(index as u32),
            next_seq: 0,
            outstanding: BTreeMap::new(),
        }
    }

    /// Commands awaiting a reply.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    fn retry_period(&self) -> SimDuration {
        SimDuration((self.config.client_timeout.as_nanos() / 4).max(1))
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        if self
            .config
            .idle_clients
            .is_idle_node(self.config.replicas, ctx.id())
        {
            return;
        }
        // Sequence numbers survive a restart, so a command value is never reused.
        self.next_seq = ctx.durable().client_next_seq();
        // Clients start at a random phase so that they do not issue in lockstep.
        let interval = self.config.client_interval.as_nanos().max(1);
        let phase = SimDuration(below(ctx.rng(), interval));
        ctx.set_timer(phase, Timer::Issue);
        ctx.set_timer(self.retry_period(), Timer::Retry);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, msg: Msg) {
        let Msg::Reply { seq } = msg else {
            return;
        };
        if source.index() < self.config.replicas {
            // Only the leader answers new commands: stick with it.
            self.target = source;
        }
        if self.outstanding.remove(&seq).is_some() {
            ctx.observe(Observation::OpCompleted {
                op: seq,
                outcome: Outcome::Ok,
            });
        }
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>, timer: Timer) {
        match timer {
            Timer::Issue => {
                if self.outstanding.len() < self.config.client_window {
                    self.issue(ctx);
                }
                ctx.set_timer(self.config.client_interval, Timer::Issue);
            }
            Timer::Retry => {
                self.retry(ctx);
                ctx.set_timer(self.retry_period(), Timer::Retry);
            }
            Timer::Election | Timer::Tick | Timer::Decide { .. } => {}
        }
    }

    fn issue(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        ctx.durable_mut().client_next_seq = self.next_seq;
        ctx.sync();
        let value = command_value(self.id, seq);
        ctx.observe(Observation::Protocol(PaxosEvent::Submitted { value }));
        ctx.observe(Observation::OpInvoked {
            op: seq,
            kind: "put",
        });
        ctx.send(
            self.target,
            Msg::Request {
                value,
                forwarded: false,
            },
        );
        self.outstanding.insert(seq, (value, ctx.now()));
    }

    /// Resends every timed-out command, to the next replica.
    fn retry(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let now = ctx.now();
        let mut rotated = false;
        for (value, sent_at) in self.outstanding.values_mut() {
            if now.saturating_since(*sent_at) < self.config.client_timeout {
                continue;
            }
            if !rotated {
                self.target = NodeId((self.target.0 + 1) % self.config.replicas as u32);
                rotated = true;
            }
            *sent_at = now;
            ctx.send(
                self.target,
                Msg::Request {
                    value: *value,
                    forwarded: false,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Workload;
    use super::*;
    use dsim_core::{CtxParts, Effect, Node};

    fn client() -> (PaxosNode, CtxParts<PaxosNode>) {
        let config = PaxosConfig::new(
            3,
            Workload {
                clients: 2,
                rate_per_s: 100.0,
                idle_clients: Default::default(),
            },
        );
        // Node 4 is the second client: it starts with replica (4 - 3) % 3 = 1.
        let mut parts = CtxParts::new(NodeId(4), config.total_nodes(), 9);
        let mut node = PaxosNode::new(&config, NodeId(4));
        node.on_start(&mut parts.ctx());
        parts.take_effects();
        (node, parts)
    }

    #[test]
    fn issue_observes_the_submission_before_sending() {
        let (mut node, mut parts) = client();
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        let effects = parts.take_effects();
        let value = command_value(NodeId(4), 0);
        let submitted = effects
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Effect::Observe(Observation::Protocol(PaxosEvent::Submitted { value: v }))
                        if *v == value
                )
            })
            .expect("submission observed");
        let sent = effects
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Effect::Send {
                        target: NodeId(1),
                        ..
                    }
                )
            })
            .expect("request sent to replica 1");
        // Validity is judged against submissions: one observed late would look invented.
        assert!(submitted < sent);
        assert_eq!(
            parts.durable.client_next_seq(),
            1,
            "the counter survives restarts"
        );
    }

    #[test]
    fn timed_out_command_goes_to_the_next_replica() {
        let (mut node, mut parts) = client();
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        parts.take_effects();
        parts.local_now = SimTime(1_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Retry);
        // Retrying the same (dead) replica forever would never make progress.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(2),
                Msg::Request {
                    value: command_value(NodeId(4), 0),
                    forwarded: false
                }
            )]
        );
    }

    #[test]
    fn reply_completes_the_op_once_and_pins_the_leader() {
        let (mut node, mut parts) = client();
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        parts.take_effects();
        node.on_message(&mut parts.ctx(), NodeId(0), Msg::Reply { seq: 0 });
        node.on_message(&mut parts.ctx(), NodeId(0), Msg::Reply { seq: 0 });
        let completed = parts
            .take_effects()
            .iter()
            .filter(|e| matches!(e, Effect::Observe(Observation::OpCompleted { op: 0, .. })))
            .count();
        // A duplicated reply must not complete the op twice.
        assert_eq!(completed, 1);
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        assert_eq!(
            parts.take_sends()[0].0,
            NodeId(0),
            "next command goes to the leader"
        );
    }

    #[test]
    fn full_window_skips_issuing() {
        let (mut node, mut parts) = client();
        for _ in 0..20 {
            node.on_timer(&mut parts.ctx(), Timer::Issue);
        }
        // The window bounds outstanding commands, so a stalled cluster cannot make a
        // client's memory grow without limit.
        match &node {
            PaxosNode::Client(client) => assert_eq!(client.outstanding(), 8),
            _ => unreachable!(),
        }
    }
}
