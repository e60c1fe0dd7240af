//! The Paxos client: issues key-value operations (get, put, cas over `keys`, in the
//! `read_ratio` / `cas_ratio` mix) through the kit's [`ClientDriver`] (paced by the
//! workload: open loop at its share of the rate, rate phases, or closed loop), keeps
//! the commands it has in flight within `client_window` consecutive sequence numbers,
//! and resends a command to the next replica when an attempt gets no reply within the
//! attempt timeout (`[workload.retry] timeout`, else `client_timeout`), under the
//! workload's retry policy. A reply to any attempt completes the command (every attempt
//! carries the same command, which the replicas apply at most once). By default it
//! never gives up: a command still unanswered when the run ends stays indeterminate;
//! with `max_attempts` or a retry `budget` it ends `info` when they run out.

use super::{
    KvOp, KvResult, Msg, PaxosConfig, PaxosEvent, PaxosNode, Timer, VALUE_RANGE, command_op,
    encode_command,
};
use crate::kit::client::{ClientApp, ClientDriver, DriverTimer, Invocation, Replies};
use dsim_core::rng::{below, unit_f64};
use dsim_core::{Ctx, NodeId, Observation, Outcome, SimDuration, SimTime, Value};

/// A client node.
#[derive(Clone, Debug)]
pub struct Client {
    commands: Commands,
    /// Pacing, timeouts, retries and history (boxed: it holds the whole workload).
    driver: Box<ClientDriver<u64>>,
}

/// The protocol side of the client: what a command is and where it goes.
#[derive(Clone, Debug)]
struct Commands {
    id: NodeId,
    config: PaxosConfig,
    /// The replica we send to: the last one that answered, or the next after a timeout.
    target: NodeId,
    /// When the target last moved on after a timeout: it moves at most once per quarter
    /// timeout, so commands timing out together do not spin it round the ring.
    rotated_at: Option<SimTime>,
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
            commands: Commands {
                id,
                config,
                target: NodeId(index as u32),
                rotated_at: None,
            },
            driver: Box::new(driver(&config, 0)),
        }
    }

    /// Commands awaiting a reply.
    pub fn outstanding(&self) -> usize {
        self.driver.in_flight()
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, PaxosNode>) {
        let config = &self.commands.config;
        if config.idle_clients.is_idle_node(config.replicas, ctx.id()) {
            return;
        }
        // Sequence numbers survive a restart, so a command value is never reused.
        *self.driver = driver(config, ctx.durable().client_next_seq());
        self.driver.start(ctx);
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, PaxosNode>, source: NodeId, msg: Msg) {
        let Msg::Reply { seq, result } = msg else {
            return;
        };
        if source.index() < self.commands.config.replicas {
            // Only the leader answers new commands: stick with it.
            self.commands.target = source;
        }
        // Every attempt carries the same command: any attempt's reply answers it.
        self.driver.on_reply(ctx, seq, 0, |&value| {
            let arg = command_op(value).map_or(Value::Nil, KvOp::arg);
            match result {
                KvResult::Read(read) => (
                    Outcome::Ok,
                    read.map_or(Value::Nil, |v| Value::Int(i64::from(v))),
                ),
                KvResult::Written => (Outcome::Ok, arg),
                // The state machine refused it: it certainly did not write.
                KvResult::CasFailed => (Outcome::Fail("cas-failed"), Value::Nil),
            }
        });
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, PaxosNode>, timer: Timer) {
        if let Timer::Client(timer) = timer {
            self.driver.on_timer(&mut self.commands, ctx, timer);
        }
    }
}

/// The driver of a client of `config`, numbering commands from `first_seq`.
fn driver(config: &PaxosConfig, first_seq: u64) -> ClientDriver<u64> {
    ClientDriver::new(
        &config.workload,
        Some(config.client_timeout),
        Replies::AnyAttempt,
        first_seq,
    )
}

impl From<DriverTimer> for Timer {
    fn from(timer: DriverTimer) -> Timer {
        Timer::Client(timer)
    }
}

impl Commands {
    /// The next operation: a get, cas or put on a uniformly drawn key, values from
    /// `0..VALUE_RANGE`.
    fn next_kv_op(&self, ctx: &mut Ctx<'_, PaxosNode>) -> KvOp {
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
}

impl ClientApp<PaxosNode> for Commands {
    /// The encoded command.
    type Op = u64;

    /// A new command numbered `seq`, if it stays within `client_window` sequence
    /// numbers of the oldest one in flight. The replicas' client table relies on it:
    /// when `seq` runs, this client completed everything below `seq + 1 -
    /// client_window`.
    fn next_op(
        &mut self,
        ctx: &mut Ctx<'_, PaxosNode>,
        seq: u64,
        oldest_in_flight: Option<u64>,
    ) -> Option<(u64, Invocation)> {
        if oldest_in_flight.is_some_and(|oldest| seq - oldest >= self.config.client_window as u64) {
            return None;
        }
        ctx.durable_mut().client_next_seq = seq + 1;
        ctx.sync();
        let op = self.next_kv_op(ctx);
        let value = encode_command(self.id, seq, op);
        // Validity is judged against submissions: observed before the request leaves.
        ctx.observe(Observation::Protocol(PaxosEvent::Submitted { value }));
        let invocation = Invocation {
            f: op.f(),
            key: Some(Value::Int(i64::from(op.key()))),
            arg: op.arg(),
        };
        Some((value, invocation))
    }

    /// Sends the command; a retry goes to the next replica (the one we sent to may be
    /// down or cut off).
    fn send(&mut self, ctx: &mut Ctx<'_, PaxosNode>, _: u64, attempt: u32, value: &u64) {
        if attempt > 0 {
            let now = ctx.now();
            let period = SimDuration((self.config.client_timeout.as_nanos() / 4).max(1));
            if self
                .rotated_at
                .is_none_or(|at| now.saturating_since(at) >= period)
            {
                self.target = NodeId((self.target.0 + 1) % self.config.replicas as u32);
                self.rotated_at = Some(now);
            }
        }
        ctx.send(
            self.target,
            Msg::Request {
                value: *value,
                forwarded: false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Workload, command_parts};
    use super::*;
    use dsim_core::{CtxParts, Effect, Node};

    const ARRIVE: Timer = Timer::Client(DriverTimer::Arrive);

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
        node.on_timer(&mut parts.ctx(), ARRIVE);
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
        node.on_timer(&mut parts.ctx(), ARRIVE);
        let Msg::Request { value, .. } = parts.take_sends()[0].1 else {
            panic!("a client sends requests");
        };
        parts.local_now = SimTime(1_000_000_000);
        let timeout = Timer::Client(DriverTimer::Timeout { op: 0, attempt: 0 });
        node.on_timer(&mut parts.ctx(), timeout);
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
        node.on_timer(&mut parts.ctx(), ARRIVE);
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
        node.on_timer(&mut parts.ctx(), ARRIVE);
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
            node.on_timer(&mut parts.ctx(), ARRIVE);
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
            node.on_timer(&mut parts.ctx(), ARRIVE);
        }
        for seq in 1..8 {
            let reply = Msg::Reply {
                seq,
                result: KvResult::Written,
            };
            node.on_message(&mut parts.ctx(), NodeId(0), reply);
        }
        parts.take_effects();
        node.on_timer(&mut parts.ctx(), ARRIVE);
        // Seven slots are free, but command 0 is still open: issuing 8 would let the
        // replicas' client table forget 0 before it ran (the audit's acked-but-never-run
        // bug). Only a reply to 0 may open the window.
        assert!(parts.take_sends().is_empty());
        let reply = Msg::Reply {
            seq: 0,
            result: KvResult::Written,
        };
        node.on_message(&mut parts.ctx(), NodeId(0), reply);
        node.on_timer(&mut parts.ctx(), ARRIVE);
        assert_eq!(parts.take_sends().len(), 1);
    }

    #[test]
    fn failed_cas_completes_as_fail_and_reads_return_their_value() {
        let (mut node, mut parts) = client();
        node.on_timer(&mut parts.ctx(), ARRIVE);
        node.on_timer(&mut parts.ctx(), ARRIVE);
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

    #[test]
    fn a_command_out_of_attempts_ends_info_and_ignores_a_late_reply() {
        let mut workload = Workload {
            clients: 2,
            rate_per_s: 100.0,
            ..Workload::default()
        };
        workload.retry.max_attempts = Some(2);
        let config = PaxosConfig::new(3, workload);
        let mut parts = CtxParts::new(NodeId(4), config.total_nodes(), 9);
        let mut node = PaxosNode::new(&config, NodeId(4));
        node.on_start(&mut parts.ctx());
        node.on_timer(&mut parts.ctx(), ARRIVE);
        parts.take_effects();
        let timeout = |attempt| Timer::Client(DriverTimer::Timeout { op: 0, attempt });
        node.on_timer(&mut parts.ctx(), timeout(0));
        // The second attempt goes out; the first timeout does not end the command.
        assert_eq!(parts.take_sends().len(), 1);
        node.on_timer(&mut parts.ctx(), timeout(1));
        let reply = Msg::Reply {
            seq: 0,
            result: KvResult::Written,
        };
        node.on_message(&mut parts.ctx(), NodeId(0), reply);
        let completions: Vec<Outcome> = parts
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Observe(Observation::OpCompleted { outcome, .. }) => Some(outcome),
                _ => None,
            })
            .collect();
        // Out of attempts: indeterminate (the command may still be chosen), recorded
        // once; a third send or an `ok` from the late reply would break the history.
        assert_eq!(completions, vec![Outcome::Info("timeout")]);
        assert!(parts.take_sends().is_empty());
    }
}
