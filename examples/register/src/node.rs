//! The two roles of ABD as one dsim node type: replicas store a tagged value, clients
//! run reads and writes as two quorum phases each.

use crate::Variant;
use dsim_core::rng::below;
use dsim_core::{Ctx, Node, NodeId, Observation, Outcome, SimDuration, TimerId, Value};
use dsim_protocols::kit::quorum::{QuorumCall, Reply, Threshold};

/// A version of the register's value: compared by sequence number, then by writer id,
/// so two writers that pick the same sequence number still order their writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag {
    /// Grows with every write.
    pub seq: u64,
    /// The node id of the client that wrote it (0 for the initial value).
    pub writer: u32,
}

/// A replica's register: the highest-tagged value it has stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    /// The value's tag.
    pub tag: Tag,
    /// The value (`nil` before any write).
    pub value: Value,
}

/// What a client keeps across crashes: the number of its next operation, so that op
/// ids stay unique per client after a restart (the history pairs invocations and
/// completions by client and op id).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientLog {
    /// The next operation's number.
    pub next_op: u64,
}

/// Per-role durable state.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Durable {
    /// Nothing written yet (every node starts so).
    #[default]
    Fresh,
    /// A replica's register.
    Replica(Stored),
    /// A client's operation counter.
    Client(ClientLog),
}

/// A request names its operation and phase, so that a late reply to an earlier phase
/// is never counted for the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rid {
    /// The client's operation number.
    pub op: u64,
    /// 0 for the query phase, 1 for the store phase.
    pub phase: u8,
}

/// ABD's messages.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// Client to replica: what is your tag and value?
    Query(Rid),
    /// Replica to client: this.
    QueryAck(Rid, Stored),
    /// Client to replica: store this value if its tag is higher than yours.
    Store(Rid, Stored),
    /// Replica to client: stored (or already held something newer), and synced.
    StoreAck(Rid),
}

/// ABD's timers.
#[derive(Clone, Debug, PartialEq)]
pub enum Timer {
    /// Time for the client's next operation.
    NextOp,
    /// Resend the current phase's request to the replicas that have not answered.
    Retransmit(Rid),
    /// Give up on an operation: it ends `info`.
    Timeout(u64),
}

/// Settings shared by every node of a run.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Replica count: replicas are nodes `0..replicas`, clients the nodes after.
    pub replicas: usize,
    /// Which variant runs.
    pub variant: Variant,
    /// A client's gap between operations.
    pub interval: SimDuration,
    /// How long a client waits for an operation before reporting it `info`.
    pub timeout: SimDuration,
    /// How often a quorum call resends to silent replicas.
    pub retransmit: SimDuration,
}

/// Which operation a client is running, and where it is.
#[derive(Debug)]
enum Phase {
    /// Phase 1: collecting (tag, value) from a majority.
    Query(QuorumCall<Msg, Stored>),
    /// Phase 2: storing (tag, value) at a majority; `ret` is what the op returns.
    Store(QuorumCall<Msg, ()>, Value),
}

#[derive(Debug)]
struct Op {
    op: u64,
    /// `None` for a read, the value for a write.
    write: Option<Value>,
    phase: Phase,
    timeout: TimerId,
}

/// A client: one operation at a time, a read or a write at random.
#[derive(Debug)]
pub struct Client {
    settings: Settings,
    idle: bool,
    current: Option<Op>,
}

/// A node of the register: a replica or a client.
#[derive(Debug)]
pub enum Abd {
    /// Stores the register; its state lives only in its durable storage.
    Replica,
    /// Issues operations (boxed: a client's state is much larger than a replica's).
    Client(Box<Client>),
}

impl Abd {
    /// The node `id` of a run with these settings; an `idle` client issues nothing
    /// (see [`dsim_core::IdleClients`]).
    pub fn new(id: NodeId, settings: Settings, idle: bool) -> Abd {
        if id.index() < settings.replicas {
            Abd::Replica
        } else {
            Abd::Client(Box::new(Client {
                settings,
                idle,
                current: None,
            }))
        }
    }
}

fn replicas(settings: &Settings) -> Vec<NodeId> {
    (0..settings.replicas as u32).map(NodeId).collect()
}

impl Client {
    fn log<'c>(ctx: &'c mut Ctx<'_, Abd>) -> &'c mut ClientLog {
        if !matches!(ctx.durable(), Durable::Client(_)) {
            *ctx.durable_mut() = Durable::Client(ClientLog::default());
        }
        match ctx.durable_mut() {
            Durable::Client(log) => log,
            _ => unreachable!("set just above"),
        }
    }

    fn start_op(&mut self, ctx: &mut Ctx<'_, Abd>) {
        let log = Self::log(ctx);
        let op = log.next_op;
        log.next_op += 1;
        ctx.sync();
        let write = (below(ctx.rng(), 2) == 0).then(|| {
            // Unique per write, so that a read names the write it saw.
            Value::Int(i64::from(ctx.id().0) * 1_000_000 + op as i64)
        });
        let (f, arg) = match &write {
            Some(value) => ("write", value.clone()),
            None => ("read", Value::Nil),
        };
        ctx.observe(Observation::OpInvoked {
            op,
            f,
            key: None,
            arg,
        });
        let rid = Rid { op, phase: 0 };
        let mut call = QuorumCall::new(
            replicas(&self.settings),
            Threshold::Majority,
            Msg::Query(rid),
            self.settings.retransmit,
        );
        call.broadcast(ctx, Timer::Retransmit(rid));
        let timeout = ctx.set_timer(self.settings.timeout, Timer::Timeout(op));
        self.current = Some(Op {
            op,
            write,
            phase: Phase::Query(call),
            timeout,
        });
    }

    /// Phase 1 done: pick the highest (tag, value) and store it (a write with a new tag).
    fn queried(&mut self, ctx: &mut Ctx<'_, Abd>) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let Phase::Query(call) = &mut current.phase else {
            return;
        };
        call.stop(ctx);
        let max = call
            .replies()
            .values()
            .max_by_key(|stored| stored.tag)
            .cloned()
            .unwrap_or_default();
        let (stored, ret) = match &current.write {
            Some(value) => (
                Stored {
                    tag: Tag {
                        seq: max.tag.seq + 1,
                        writer: ctx.id().0,
                    },
                    value: value.clone(),
                },
                Value::Nil,
            ),
            None => {
                let ret = max.value.clone();
                if self.settings.variant == Variant::NoWriteBack {
                    // BUG: return what a majority's maximum says without making sure a
                    // majority holds it; a later read may see an older value.
                    self.finish(ctx, Outcome::Ok, ret);
                    return;
                }
                (max, ret)
            }
        };
        let rid = Rid {
            op: current.op,
            phase: 1,
        };
        let mut call = QuorumCall::new(
            replicas(&self.settings),
            Threshold::Majority,
            Msg::Store(rid, stored),
            self.settings.retransmit,
        );
        call.broadcast(ctx, Timer::Retransmit(rid));
        current.phase = Phase::Store(call, ret);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Abd>, outcome: Outcome, ret: Value) {
        let Some(mut current) = self.current.take() else {
            return;
        };
        match &mut current.phase {
            Phase::Query(call) => call.stop(ctx),
            Phase::Store(call, _) => call.stop(ctx),
        }
        ctx.cancel_timer(current.timeout);
        ctx.observe(Observation::OpCompleted {
            op: current.op,
            outcome,
            ret,
        });
        ctx.set_timer(self.settings.interval, Timer::NextOp);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Abd>, source: NodeId, msg: Msg) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let op = current.op;
        // Whether this reply completed the current phase's majority. A reply to an
        // earlier phase or operation, or a request, is not ours to count.
        let completed = match (msg, &mut current.phase) {
            (Msg::QueryAck(rid, stored), Phase::Query(call)) if rid == (Rid { op, phase: 0 }) => {
                call.on_reply(source, stored) == Reply::Counted && call.is_complete()
            }
            (Msg::StoreAck(rid), Phase::Store(call, _)) if rid == (Rid { op, phase: 1 }) => {
                call.on_reply(source, ()) == Reply::Counted && call.is_complete()
            }
            _ => false,
        };
        if !completed {
            return;
        }
        match &current.phase {
            Phase::Query(_) => self.queried(ctx),
            Phase::Store(_, ret) => {
                let ret = ret.clone();
                self.finish(ctx, Outcome::Ok, ret);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Abd>, timer: Timer) {
        match timer {
            Timer::NextOp => self.start_op(ctx),
            Timer::Timeout(op) => {
                if self
                    .current
                    .as_ref()
                    .is_some_and(|current| current.op == op)
                {
                    // The write may still reach a majority later: indeterminate.
                    self.finish(ctx, Outcome::Info("timeout"), Value::Nil);
                }
            }
            Timer::Retransmit(rid) => {
                let Some(current) = self.current.as_mut() else {
                    return;
                };
                if current.op != rid.op {
                    return;
                }
                match (&mut current.phase, rid.phase) {
                    (Phase::Query(call), 0) => {
                        call.on_retransmit(ctx, Timer::Retransmit(rid));
                    }
                    (Phase::Store(call, _), 1) => {
                        call.on_retransmit(ctx, Timer::Retransmit(rid));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A replica's handling of one request: answer queries with the stored (tag, value);
/// store a higher-tagged value, sync it, then acknowledge.
fn replica_on_message(ctx: &mut Ctx<'_, Abd>, source: NodeId, msg: Msg) {
    if !matches!(ctx.durable(), Durable::Replica(_)) {
        *ctx.durable_mut() = Durable::Replica(Stored::default());
    }
    let Durable::Replica(stored) = ctx.durable_mut() else {
        unreachable!("set just above");
    };
    match msg {
        Msg::Query(rid) => {
            let stored = stored.clone();
            ctx.send(source, Msg::QueryAck(rid, stored));
        }
        Msg::Store(rid, offered) => {
            if offered.tag > stored.tag {
                *stored = offered;
                // Durable before the acknowledgement: a majority that acked must still
                // hold the value after crashes, or a later read could miss it.
                ctx.sync();
            }
            ctx.send(source, Msg::StoreAck(rid));
        }
        Msg::QueryAck(..) | Msg::StoreAck(_) => {}
    }
}

impl Node for Abd {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;
    type Event = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Abd::Client(client) = self else {
            return;
        };
        if client.idle {
            // Dropped by shrink: keeps its id and stream, issues nothing.
            return;
        }
        let settings = client.settings;
        let phase = below(ctx.rng(), settings.interval.0.max(1));
        ctx.set_timer(SimDuration(phase), Timer::NextOp);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Msg) {
        match self {
            Abd::Replica => replica_on_message(ctx, source, msg),
            Abd::Client(client) => client.on_message(ctx, source, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if let Abd::Client(client) = self {
            client.on_timer(ctx, timer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{CtxParts, Effect};

    fn settings(variant: Variant) -> Settings {
        Settings {
            replicas: 3,
            variant,
            interval: SimDuration::from_millis(10),
            timeout: SimDuration::from_millis(200),
            retransmit: SimDuration::from_millis(20),
        }
    }

    fn stored(seq: u64, writer: u32, value: i64) -> Stored {
        Stored {
            tag: Tag { seq, writer },
            value: Value::Int(value),
        }
    }

    #[test]
    fn a_replica_keeps_only_higher_tags_and_syncs_before_acking() {
        let mut replica = Abd::new(NodeId(0), settings(Variant::Correct), false);
        let mut parts = CtxParts::<Abd>::new(NodeId(0), 5, 1);
        let rid = Rid { op: 0, phase: 1 };
        replica.on_message(
            &mut parts.ctx(),
            NodeId(3),
            Msg::Store(rid, stored(2, 4, 7)),
        );
        let effects = parts.take_effects();
        // Sync first, then the ack: acking an unsynced value would let a crash undo a
        // write that a majority confirmed.
        assert!(matches!(effects[0], Effect::Sync), "{effects:?}");
        assert!(matches!(
            &effects[1],
            Effect::Send { target: NodeId(3), msg: Msg::StoreAck(r) } if *r == rid
        ));
        // A lower tag (same seq, lower writer id) is acknowledged but not stored.
        replica.on_message(
            &mut parts.ctx(),
            NodeId(4),
            Msg::Store(rid, stored(2, 3, 9)),
        );
        assert_eq!(parts.durable, Durable::Replica(stored(2, 4, 7)));
        assert!(
            !parts
                .take_effects()
                .iter()
                .any(|e| matches!(e, Effect::Sync))
        );
        // A query returns what is stored.
        replica.on_message(
            &mut parts.ctx(),
            NodeId(4),
            Msg::Query(Rid { op: 5, phase: 0 }),
        );
        assert_eq!(
            parts.take_sends(),
            vec![(
                NodeId(4),
                Msg::QueryAck(Rid { op: 5, phase: 0 }, stored(2, 4, 7))
            )]
        );
    }

    /// Runs one read on client node 3 until its query phase completes, with replicas 0
    /// and 1 answering; returns the effects of the last reply.
    fn read_after_query(variant: Variant) -> Vec<Effect<Abd>> {
        let mut client = Abd::new(NodeId(3), settings(variant), false);
        let mut parts = CtxParts::<Abd>::new(NodeId(3), 4, 1);
        // Find a seed's first op that is a read: the op kind comes from the node's rng.
        loop {
            client.on_timer(&mut parts.ctx(), Timer::NextOp);
            let invoked_read = parts
                .take_effects()
                .iter()
                .any(|e| matches!(e, Effect::Observe(Observation::OpInvoked { f: "read", .. })));
            if invoked_read {
                break;
            }
            let Abd::Client(c) = &mut client else {
                unreachable!()
            };
            c.current = None;
        }
        let Abd::Client(c) = &client else {
            unreachable!()
        };
        let op = c.current.as_ref().expect("an op runs").op;
        let rid = Rid { op, phase: 0 };
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::QueryAck(rid, stored(1, 4, 5)),
        );
        // A duplicate from replica 0 must not complete the majority of 3.
        client.on_message(
            &mut parts.ctx(),
            NodeId(0),
            Msg::QueryAck(rid, stored(1, 4, 5)),
        );
        assert!(parts.take_sends().is_empty());
        client.on_message(
            &mut parts.ctx(),
            NodeId(1),
            Msg::QueryAck(rid, Stored::default()),
        );
        parts.take_effects()
    }

    #[test]
    fn a_correct_read_writes_the_highest_value_back_before_returning() {
        let effects = read_after_query(Variant::Correct);
        let stores: Vec<u32> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send {
                    target,
                    msg: Msg::Store(_, s),
                } if *s == stored(1, 4, 5) => Some(target.0),
                _ => None,
            })
            .collect();
        // The write-back of the highest tag goes to every replica, and the read has not
        // returned yet.
        assert_eq!(stores, vec![0, 1, 2]);
        assert!(!effects.iter().any(|e| matches!(e, Effect::Observe(_))));
    }

    #[test]
    fn a_no_write_back_read_returns_at_once_without_storing() {
        let effects = read_after_query(Variant::NoWriteBack);
        assert!(!effects.iter().any(|e| matches!(e, Effect::Send { .. })));
        // It returns the highest-tagged value of the majority it heard.
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::Observe(Observation::OpCompleted {
                outcome: Outcome::Ok,
                ret: Value::Int(5),
                ..
            })
        )));
    }
}
