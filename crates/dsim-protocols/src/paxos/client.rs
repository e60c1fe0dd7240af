//! The Paxos client: issues key-value operations (get, put, cas over `keys`, in the
//! `read_ratio` / `cas_ratio` mix) at its share of the workload rate, keeps the commands
//! it has in flight within `client_window` consecutive sequence numbers, and resends a
//! command to the next replica when no reply came within `client_timeout`. It never
//! gives up on a command: one still unanswered when the run ends stays indeterminate.

use super::{
    KvOp, KvResult, Msg, PaxosConfig, PaxosEvent, PaxosNode, Timer, VALUE_RANGE, command_op,
    encode_command,
};
use dsim_core::rng::{below, unit_f64};
use dsim_core::{Ctx, NodeId, Observation, Outcome, SimDuration, SimTime, Value};
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
        let Msg::Reply { seq, result } = msg else {
            return;
        };
        if source.index() < self.config.replicas {
            // Only the leader answers new commands: stick with it.
            self.target = source;
        }
        if let Some((value, _)) = self.outstanding.remove(&seq) {
            let arg = command_op(value).map_or(Value::Nil, KvOp::arg);
            let (outcome, ret) = match result {
                KvResult::Read(read) => (
                    Outcome::Ok,
                    read.map_or(Value::Nil, |v| Value::Int(i64::from(v))),
                ),
                KvResult::Written => (Outcome::Ok, arg),
                // The state machine refused it: it certainly did not write.
                KvResult::CasFailed => (Outcome::Fail("cas-failed"), Value::Nil),
            };
            ctx.observe(Observation::OpCompleted {
                op: seq,
                outcome,
                ret,
            });
        }
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>, timer: Timer) {
        match timer {
            Timer::Issue => {
                if self.window_open() {
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

    /// True when the next command stays within `client_window` sequence numbers of the
    /// oldest one in flight. The replicas' client table relies on it: when `seq` runs,
    /// this client completed everything below `seq + 1 - client_window`.
    fn window_open(&self) -> bool {
        self.outstanding
            .first_key_value()
            .is_none_or(|(&oldest, _)| self.next_seq - oldest < self.config.client_window as u64)
    }

    /// The next operation: a get, cas or put on a uniformly drawn key, values from
    /// `0..VALUE_RANGE`.
    fn next_op(&self, ctx: &mut Ctx<'_, PaxosNode>) -> KvOp {
        let draw = unit_f64(ctx.rng());
        let key = below(ctx.rng(), u64::from(self.config.keys)) as u8;
        let mut value = || below(ctx.rng(), u64::from(VALUE_RANGE)) as u8;
        if draw < self.config.read_ratio {
            KvOp::Get { key }
        } else if draw < self.config.read_ratio + self.config.cas_ratio {
            KvOp::Cas {
                key,
                from: value(),
                to: value(),
            }
        } else {
            KvOp::Put {
                key,
                value: value(),
            }
        }
    }

    fn issue(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        ctx.durable_mut().client_next_seq = self.next_seq;
        ctx.sync();
        let op = self.next_op(ctx);
        let value = encode_command(self.id, seq, op);
        ctx.observe(Observation::Protocol(PaxosEvent::Submitted { value }));
        ctx.observe(Observation::OpInvoked {
            op: seq,
            f: op.f(),
            key: Some(Value::Int(i64::from(op.key()))),
            arg: op.arg(),
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
    use super::super::{Workload, command_parts};
    use super::*;
    use dsim_core::{CtxParts, Effect, Node};

    fn client() -> (PaxosNode, CtxParts<PaxosNode>) {
        let config = PaxosConfig::new(
            3,
            Workload {
                clients: 2,
                rate_per_s: 100.0,
                ..Workload::default()
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
        let submitted = effects
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Effect::Observe(Observation::Protocol(PaxosEvent::Submitted { value: v }))
                        if command_parts(*v) == Some((NodeId(4), 0))
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
        let Msg::Request { value, .. } = parts.take_sends()[0].1 else {
            panic!("a client sends requests");
        };
        parts.local_now = SimTime(1_000_000_000);
        node.on_timer(&mut parts.ctx(), Timer::Retry);
        // Retrying the same (dead) replica forever would never make progress.
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(2),
                Msg::Request {
                    value,
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
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Reply {
                seq: 0,
                result: KvResult::Written,
            },
        );
        node.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::Reply {
                seq: 0,
                result: KvResult::Written,
            },
        );
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

    #[test]
    fn window_spans_sequence_numbers_not_a_count() {
        let (mut node, mut parts) = client();
        for _ in 0..8 {
            node.on_timer(&mut parts.ctx(), Timer::Issue);
        }
        for seq in 1..8 {
            let reply = Msg::Reply {
                seq,
                result: KvResult::Written,
            };
            node.on_message(&mut parts.ctx(), NodeId(0), reply);
        }
        parts.take_effects();
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        // Seven slots are free, but command 0 is still open: issuing 8 would let the
        // replicas' client table forget 0 before it ran (the audit's acked-but-never-run
        // bug). Only a reply to 0 may open the window.
        assert!(parts.take_sends().is_empty());
        let reply = Msg::Reply {
            seq: 0,
            result: KvResult::Written,
        };
        node.on_message(&mut parts.ctx(), NodeId(0), reply);
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        assert_eq!(parts.take_sends().len(), 1);
    }

    #[test]
    fn failed_cas_completes_as_fail_and_reads_return_their_value() {
        let (mut node, mut parts) = client();
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        node.on_timer(&mut parts.ctx(), Timer::Issue);
        parts.take_effects();
        let cas_failed = Msg::Reply {
            seq: 0,
            result: KvResult::CasFailed,
        };
        node.on_message(&mut parts.ctx(), NodeId(0), cas_failed);
        let read = Msg::Reply {
            seq: 1,
            result: KvResult::Read(Some(3)),
        };
        node.on_message(&mut parts.ctx(), NodeId(0), read);
        let completions: Vec<(Outcome, Value)> = parts
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Observe(Observation::OpCompleted { outcome, ret, .. }) => {
                    Some((outcome, ret))
                }
                _ => None,
            })
            .collect();
        // A refused cas certainly did not write: `fail`, so the checker drops it; a
        // read's value is what linearizability is judged on.
        assert_eq!(
            completions,
            vec![
                (Outcome::Fail("cas-failed"), Value::Nil),
                (Outcome::Ok, Value::Int(3)),
            ]
        );
    }
}
