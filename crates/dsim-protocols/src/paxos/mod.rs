//! # Multi-Paxos (kind `paxos`): a replicated key-value store
//!
//! Clients issue `get`, `put` and `cas` operations on `keys` keys (the mix set by
//! `read_ratio` and `cas_ratio`, values from `0..5`); every operation, reads included,
//! is a command in the replicated log, and each replica's state machine — one value per
//! key plus the client table — applies the log in slot order and answers with the
//! result (the value read; written; or, for a cas whose expected value did not match,
//! `cas-failed`, which the client reports as Jepsen's `fail`). Since reads go through
//! the log, every answer is the state at one point of the one log order: the store is
//! linearizable, and the checker verifies exactly that from the clients' history.
//!
//! ## The algorithm
//!
//! The consensus part lives in the shared Multi-Paxos core, [`crate::multipaxos`]; this
//! module adds the state machine ([`KvMachine`]), the client interface and the
//! local-read variants.
//!
//! Paxos (Lamport, "The Part-Time Parliament" and "Paxos Made Simple") chooses one value
//! per *slot* of a replicated log. Each replica plays three roles:
//!
//! - **acceptor**: keeps a *promised* ballot and, per slot, the ballot and value it last
//!   *accepted*. It answers `Prepare(b)` with a `Promise` carrying every accepted
//!   (ballot, value) from the proposer's first unknown slot on (and the values it already
//!   learned as chosen, so a lagging proposer need not re-propose them), provided `b` is
//!   not below its promise, and answers `Accept(b, slot, v)` with `Accepted` under the
//!   same rule. Both write the new state to durable storage and `sync` it *before*
//!   replying.
//! - **proposer**: a ballot is `(round, node id)`, ordered by round then node, so no two
//!   proposers ever share one. Phase 1 (prepare/promise) with a majority makes the
//!   proposer the leader of its ballot; for every slot some promise reported, it must
//!   propose the value with the highest accepted ballot (it *adopts* it), and fills the
//!   remaining gaps with a no-op. Phase 2 (accept/accepted) then chooses a value as soon
//!   as a majority of acceptors accepted it in the same ballot.
//! - **learner**: learns chosen values and applies them to a state machine strictly in
//!   slot order.
//!
//! Multi-Paxos keeps one *stable leader*: while its ballot stands, it skips phase 1 for
//! new slots and runs only phase 2, one round trip per command. A replica that hears no
//! leader for an election timeout starts phase 1 with a ballot above every round it has
//! seen. The timeout is drawn from `[t, 2t)` with the replica's own seeded stream, and
//! the spread above `t` doubles after each failed campaign (seeded randomized backoff,
//! at most `[t, 9t)`) so that dueling candidates drift apart. Any message carrying a
//! higher ballot makes a leader or candidate step down.
//!
//! The leader is the distinguished learner: when a majority accepted a slot it learns it,
//! applies it and answers the client. Followers learn from the leader's *commit index*,
//! piggybacked on `Accept` and `Heartbeat`: a slot below the commit index that the
//! follower accepted in the leader's own ballot holds the chosen value; anything else a
//! follower fetches with `CatchUp`/`Learn`. Heartbeats also drive retransmission of
//! prepares and accepts lost by the network.
//!
//! Clients send a command (a unique `(client, seq)` pair and the operation, encoded in
//! one `u64`, see [`encode_command`]) to one replica; a follower forwards it once to the leader it knows.
//! A client that hears nothing for `client_timeout` (or the workload's retry timeout)
//! resends to the next replica, under the workload's retry policy. A
//! command may therefore be chosen in two slots; the state machine keeps a per-client
//! session (the classic client table, [`Session`]) and applies each command at most
//! once, reporting the second slot as a duplicate and answering it with the result the
//! first one recorded. A client keeps its commands in flight within `client_window`
//! consecutive sequence numbers, which is what lets the table forget old results
//! without ever taking a command that did not run for one that did.
//!
//! ## What it guarantees
//!
//! Safety, under any message loss, duplication, reordering, partition, pause, clock skew
//! and crash/restart: at most one value is chosen per slot (*agreement*), only values
//! clients submitted (or the leader's no-op) are chosen (*validity*), and every replica
//! applies the chosen log in slot order, each command at most once. Liveness: once the
//! network heals and a majority of replicas is up and connected, a leader emerges and
//! every pending client command is decided and answered. The checker's `liveness` check
//! states the bound: once the last fault healed with a majority of replicas up, every
//! client operation completes within `liveness_bound` (default 2 s) of the later of the
//! heal and its invocation; a starved operation fails the run (exit 1).
//!
//! ## Log compaction
//!
//! Every `snapshot_interval` applied slots (default 1,000) a replica compacts: the
//! durable state machine (store and client table) is the snapshot of the applied prefix,
//! and the log below it is discarded; durable state is the promise, the snapshot and the
//! log after it. A replica asked (by `CatchUp`, or by a `Prepare` from a candidate) for
//! slots it compacted answers with `Snapshot`, Raft's InstallSnapshot: the receiver
//! replaces its log below the snapshot with it, then fetches the chosen values after it
//! as usual; a candidate prepares again from after the snapshot. Only chosen, applied
//! slots are ever discarded, so what an acceptor accepted in an undecided slot is never
//! lost.
//!
//! ## Failure model
//!
//! Crash-recovery with stable storage: acceptor state (promise, accepted ballot and
//! value per slot), the learned log and the state machine live in [`PaxosDurable`] and are
//! synced before any reply depends on them, so `storage = "lose-unsynced"` is safe.
//! Messages may be lost, duplicated, delayed and reordered; nodes may pause and their
//! clocks may step or drift (timeouts only ever compare readings of one local clock); no
//! Byzantine behaviour. Safety needs nothing else; liveness needs a connected majority.
//! A client that crashes loses its outstanding commands (they stay unfinished in the
//! report) but keeps its sequence counter, so it never reuses a command value.
//!
//! ## Node layout
//!
//! Replicas are nodes `0..nodes`; clients are `nodes..nodes + clients`. Client `c`
//! first talks to replica `(c - nodes) % nodes` and afterwards to whichever replica
//! answered it last (the leader).
//!
//! ## Variants (each with the bug it plants)
//!
//! - `correct`: the protocol above.
//! - `no-adopt`: after phase 1 the new leader ignores the accepted values its quorum
//!   reported and proposes its own (queued client commands, or a no-op) in those slots,
//!   so a value already chosen under an older ballot can be overwritten: the checker's
//!   `agreement` check sees two values chosen for one slot.
//! - `seed-naive`: the recipe of the source article: no ballots, no quorums; for each
//!   slot every replica with a pending command broadcasts it, and after `naive_round`
//!   each replica decides the smallest value it heard. Under loss or a partition
//!   replicas hear different sets and decide differently: `agreement` fails.
//! - `stale-read`: a replica that believes it leads answers a get from its own state at
//!   once, without a quorum round or a lease to confirm it still leads. A leader cut off
//!   from the majority keeps answering while a new leader takes writes: the log agrees
//!   everywhere, but a client reads a value overwritten before its get began —
//!   `linearizable` fails.
//! - `compact-unchosen`: when a replica snapshots, it also discards what it accepted in
//!   the slots it does not yet know chosen. A value a quorum chose can so be forgotten by
//!   members of that quorum, and a new leader whose phase-1 quorum holds them proposes
//!   something else in the slot: `agreement` fails (with frequent snapshots, e.g.
//!   `snapshot_interval = 16` on `paxos-nemesis`).
//! - `follower-read`: every replica answers gets from its own state; followers apply the
//!   log a heartbeat (or a catch-up) behind the leader, so a get misses a put that
//!   already completed — `linearizable` fails.
//!
//! ## Where we depart from the papers
//!
//! One command per slot (no batching); the leader learns from its own `Accepted`
//! messages and followers from the commit index (no all-to-all `Accepted`); no
//! reconfiguration; the client table is a sliding window
//! per client (a command more than `client_window` commands behind its client's
//! newest applied one is taken for abandoned and suppressed).
//!
//! ## The checker
//!
//! [`check`] judges a run from observations only. First what clients saw: the history
//! of gets, puts and cases, with values, must be linearizable for the `kv` model, per
//! key ([`dsim_checkers::linearizable()`]). Then what the protocol's nodes report: acceptors report every acceptance
//! ([`PaxosEvent::Accepted`]), so the checker itself knows when a majority accepted a
//! value in one ballot, i.e. when it was chosen; replicas report what they learned
//! (`Observation::Decided`) and applied ([`PaxosEvent::Applied`]); clients report what
//! they submitted ([`PaxosEvent::Submitted`]). The summary formula is the source
//! article's `f(x) = argmax_v sum_i p(v | x_i)`, per slot over the replicas' learned
//! values; `agreement` is the winner's support over the replica count, averaged over
//! the slots any replica learned.

mod checker;
mod client;
mod naive;
mod replica;

pub use checker::{LIVENESS_BOUND, LiveCheck, check, check_with, client_history};
pub use client::Client;
pub use naive::NaiveReplica;
pub use replica::Replica;

use crate::multipaxos;
use crate::multipaxos::Msg as Core;
use dsim_core::protocol::{execute_with_sink, generic_output};
use dsim_core::{
    ConfigError, Ctx, Node, NodeId, Observation, ParamKind, ParamSpec, Protocol, ProtocolInfo,
    RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration, Simulation, VariantSpec,
    Workload,
};
use std::collections::BTreeMap;

pub use crate::multipaxos::Ballot;

/// The value of the leader's no-op, used to fill log gaps; never a client command.
pub const NOOP: u64 = 0;

/// Bits of a command value that hold the operation (kind, key, operands).
const OP_BITS: u32 = 24;

/// Bits of a command value that hold the client's sequence number.
const SEQ_BITS: u32 = 30;

/// Largest sequence number a client may use.
pub const SEQ_MAX: u64 = (1 << SEQ_BITS) - 1;

/// Largest node id a client may have (10 bits hold `client + 1`).
pub const CLIENT_NODE_MAX: u32 = (1 << (64 - OP_BITS - SEQ_BITS)) - 2;

/// Most keys of the store (6 bits of a command).
pub const KEYS_MAX: u32 = 64;

/// Values clients write are drawn from `0..VALUE_RANGE`: a small domain, as in Jepsen's
/// cas-register tests, so that a cas finds its expected value often enough to succeed.
pub const VALUE_RANGE: u8 = 5;

/// The most commands a replica queues while it has no leader to hand them to.
const QUEUE_MAX: usize = 4096;

/// One operation on the replicated key-value store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KvOp {
    /// Read `key`: its value, or nil if never written.
    Get {
        /// The key, `0..keys`.
        key: u8,
    },
    /// Write `value` to `key`.
    Put {
        /// The key.
        key: u8,
        /// The value written.
        value: u8,
    },
    /// Compare-and-set: if `key` holds `from`, write `to`; otherwise fail.
    Cas {
        /// The key.
        key: u8,
        /// The expected value.
        from: u8,
        /// The new value.
        to: u8,
    },
}

impl KvOp {
    /// Jepsen's function name: `get`, `put` or `cas`.
    pub fn f(self) -> &'static str {
        match self {
            KvOp::Get { .. } => "get",
            KvOp::Put { .. } => "put",
            KvOp::Cas { .. } => "cas",
        }
    }

    /// The key addressed.
    pub fn key(self) -> u8 {
        match self {
            KvOp::Get { key } | KvOp::Put { key, .. } | KvOp::Cas { key, .. } => key,
        }
    }

    /// The history argument: `nil` for a get, the value of a put, `[from to]` of a cas.
    pub fn arg(self) -> dsim_core::Value {
        match self {
            KvOp::Get { .. } => dsim_core::Value::Nil,
            KvOp::Put { value, .. } => dsim_core::Value::Int(i64::from(value)),
            KvOp::Cas { from, to, .. } => dsim_core::Value::ints(&[i64::from(from), i64::from(to)]),
        }
    }

    /// 24 bits: kind (2), key (6), two operands (8 each).
    fn bits(self) -> u64 {
        let (kind, key, a, b) = match self {
            KvOp::Get { key } => (0, key, 0, 0),
            KvOp::Put { key, value } => (1, key, value, 0),
            KvOp::Cas { key, from, to } => (2, key, from, to),
        };
        (kind << 22) | (u64::from(key) & 0x3f) << 16 | u64::from(a) << 8 | u64::from(b)
    }

    fn from_bits(bits: u64) -> Option<KvOp> {
        let key = ((bits >> 16) & 0x3f) as u8;
        let (a, b) = (((bits >> 8) & 0xff) as u8, (bits & 0xff) as u8);
        match bits >> 22 {
            0 => Some(KvOp::Get { key }),
            1 => Some(KvOp::Put { key, value: a }),
            2 => Some(KvOp::Cas {
                key,
                from: a,
                to: b,
            }),
            _ => None,
        }
    }
}

/// What the state machine answered for one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvResult {
    /// A get: the key's value, `None` if never written.
    Read(Option<u8>),
    /// A put, or a cas whose expected value matched: written.
    Written,
    /// A cas whose expected value did not match: nothing written.
    CasFailed,
}

impl KvResult {
    /// A small integer for message digests.
    fn key(self) -> u64 {
        match self {
            KvResult::Read(None) => 1,
            KvResult::Read(Some(value)) => 2 + u64::from(value),
            KvResult::Written => 300,
            KvResult::CasFailed => 301,
        }
    }
}

/// Runs `op` on `store` (one value per key) and says what happened.
pub fn execute_kv(store: &mut BTreeMap<u8, u8>, op: KvOp) -> KvResult {
    match op {
        KvOp::Get { key } => KvResult::Read(store.get(&key).copied()),
        KvOp::Put { key, value } => {
            store.insert(key, value);
            KvResult::Written
        }
        KvOp::Cas { key, from, to } => {
            if store.get(&key) == Some(&from) {
                store.insert(key, to);
                KvResult::Written
            } else {
                KvResult::CasFailed
            }
        }
    }
}

/// The value of command `seq` of client `client` running `op`, one `u64` that the log,
/// the acceptors and every message carry opaquely: `(client + 1) << 54 | seq << 24 | op`
/// (see [`KvOp`]'s 24 bits). Unique per (client, seq) and never [`NOOP`].
pub fn encode_command(client: NodeId, seq: u64, op: KvOp) -> u64 {
    assert!(
        seq <= SEQ_MAX,
        "client sequence number {seq} overflows {SEQ_BITS} bits"
    );
    assert!(
        client.0 <= CLIENT_NODE_MAX,
        "client node {client} overflows the command's client field"
    );
    ((u64::from(client.0) + 1) << (SEQ_BITS + OP_BITS)) | (seq << OP_BITS) | op.bits()
}

/// The value of command `seq` of `client`, a get of key 0 (for tests that only need a
/// distinct command).
pub fn command_value(client: NodeId, seq: u64) -> u64 {
    encode_command(client, seq, KvOp::Get { key: 0 })
}

/// The (client, seq) of a command value; `None` for [`NOOP`] and for values no client
/// could have made.
pub fn command_parts(value: u64) -> Option<(NodeId, u64)> {
    let high = value >> (SEQ_BITS + OP_BITS);
    if high == 0 {
        // NOOP, or no value any client could have made.
        return None;
    }
    KvOp::from_bits(value & ((1 << OP_BITS) - 1))?;
    Some((NodeId((high - 1) as u32), (value >> OP_BITS) & SEQ_MAX))
}

/// The operation of a command value; `None` for [`NOOP`] and values no client made.
pub fn command_op(value: u64) -> Option<KvOp> {
    command_parts(value)?;
    KvOp::from_bits(value & ((1 << OP_BITS) - 1))
}

/// The named variants of the protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Variant {
    /// Multi-Paxos as described in the module docs.
    #[default]
    Correct,
    /// Phase 2 ignores the values phase 1 reported.
    NoAdopt,
    /// The source article's recipe: broadcast, decide the smallest heard.
    SeedNaive,
    /// A leader answers gets from its own state, without confirming it still leads.
    StaleRead,
    /// Every replica answers gets from its own state.
    FollowerRead,
    /// A snapshot also discards accepted values of slots not known chosen.
    CompactUnchosen,
}

impl Variant {
    /// The variant called `name` in scenario files.
    pub fn parse(name: &str) -> Option<Variant> {
        match name {
            "correct" => Some(Variant::Correct),
            "no-adopt" => Some(Variant::NoAdopt),
            "seed-naive" => Some(Variant::SeedNaive),
            "stale-read" => Some(Variant::StaleRead),
            "follower-read" => Some(Variant::FollowerRead),
            "compact-unchosen" => Some(Variant::CompactUnchosen),
            _ => None,
        }
    }

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::NoAdopt => "no-adopt",
            Variant::SeedNaive => "seed-naive",
            Variant::StaleRead => "stale-read",
            Variant::FollowerRead => "follower-read",
            Variant::CompactUnchosen => "compact-unchosen",
        }
    }

    /// Whether a replica in `role` answers a get from its local state instead of
    /// running it through the log.
    fn reads_locally(self, leader: bool) -> bool {
        match self {
            Variant::StaleRead => leader,
            Variant::FollowerRead => true,
            Variant::Correct | Variant::NoAdopt | Variant::SeedNaive | Variant::CompactUnchosen => {
                false
            }
        }
    }
}

/// The variants `dsim list` shows, `correct` first.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        help: "Multi-Paxos with a stable leader, durable acceptors and client retries",
    },
    VariantSpec {
        name: "no-adopt",
        help: "bug: a new leader proposes its own value even where phase 1 reported an accepted one",
    },
    VariantSpec {
        name: "seed-naive",
        help: "bug: the article's recipe, every replica broadcasts and decides the smallest value heard",
    },
    VariantSpec {
        name: "stale-read",
        help: "bug: a leader answers gets from its own state without confirming it still leads (no lease, no quorum round)",
    },
    VariantSpec {
        name: "follower-read",
        help: "bug: every replica answers gets from its own, possibly lagging, state",
    },
    VariantSpec {
        name: "compact-unchosen",
        help: "bug: a snapshot also discards the accepted values of slots not yet known chosen, so a value a quorum chose can be forgotten",
    },
];

/// Applied slots between two snapshots unless `snapshot_interval` says otherwise: the
/// durable log stays near this length however long a run lasts.
pub const SNAPSHOT_INTERVAL_DEFAULT: i64 = 1000;

/// The keys accepted under `[protocol]`.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        key: "election_timeout",
        kind: ParamKind::duration(SimDuration::from_millis(150)),
        help: "base election timeout t: waits are drawn from [t, 2t), the spread doubling per failed campaign",
    },
    ParamSpec {
        key: "heartbeat_interval",
        kind: ParamKind::duration(SimDuration::from_millis(30)),
        help: "leader heartbeat period, also the retransmission period of prepares and accepts",
    },
    ParamSpec {
        key: "client_timeout",
        kind: ParamKind::duration(SimDuration::from_millis(100)),
        help: "a client resends a command to the next replica after this long without a reply",
    },
    ParamSpec {
        key: "client_window",
        kind: ParamKind::Int {
            default: 8,
            min: 1,
            max: 1024,
        },
        help: "a client's commands in flight span fewer than this many sequence numbers; it skips issuing while full",
    },
    ParamSpec {
        key: "keys",
        kind: ParamKind::Int {
            default: 5,
            min: 1,
            max: KEYS_MAX as i64,
        },
        help: "keys of the replicated key-value store; each op picks one uniformly",
    },
    ParamSpec {
        key: "read_ratio",
        kind: ParamKind::ratio(0.5),
        help: "share of client ops that are gets",
    },
    ParamSpec {
        key: "cas_ratio",
        kind: ParamKind::ratio(0.25),
        help: "share of client ops that are compare-and-sets (the rest of the non-gets are puts)",
    },
    ParamSpec {
        key: "liveness_bound",
        kind: ParamKind::duration(LIVENESS_BOUND),
        help: "liveness check: once every fault healed with a majority of replicas up, each op completes within this long (of the heal, or of its invocation if later)",
    },
    ParamSpec {
        key: "snapshot_interval",
        kind: ParamKind::Int {
            default: SNAPSHOT_INTERVAL_DEFAULT,
            min: 1,
            max: 1 << 40,
        },
        help: "a replica snapshots its state machine and discards the log below it every this many applied slots; a lagging replica catches up from a snapshot",
    },
    ParamSpec {
        key: "naive_round",
        kind: ParamKind::duration(SimDuration::from_millis(20)),
        help: "seed-naive only: how long a replica collects proposals before deciding the smallest",
    },
];

/// Everything the nodes of one Paxos run need to know.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaxosConfig {
    /// Replica count (nodes `0..replicas`).
    pub replicas: usize,
    /// Client count (nodes `replicas..replicas + clients`).
    pub clients: usize,
    /// Clients that issue nothing (`[workload] idle_clients`).
    pub idle_clients: dsim_core::IdleClients,
    /// Which variant the replicas run.
    pub variant: Variant,
    /// Base election timeout.
    pub election_timeout: SimDuration,
    /// Heartbeat and retransmission period.
    pub heartbeat_interval: SimDuration,
    /// Client attempt timeout (unless `[workload.retry] timeout` sets one).
    pub client_timeout: SimDuration,
    /// The workload the clients run (pacing, phases, retry policy).
    pub workload: Workload,
    /// Gap between two commands of one client.
    pub client_interval: SimDuration,
    /// Most outstanding commands per client.
    pub client_window: usize,
    /// Decision delay of the `seed-naive` variant.
    pub naive_round: SimDuration,
    /// Keys of the store.
    pub keys: u8,
    /// Share of gets.
    pub read_ratio: f64,
    /// Share of compare-and-sets.
    pub cas_ratio: f64,
    /// The liveness check's bound.
    pub liveness_bound: SimDuration,
    /// Applied slots between two snapshots (log compactions).
    pub snapshot_interval: u64,
}

impl PaxosConfig {
    /// The defaults of every key, for `replicas` replicas and a workload.
    pub fn new(replicas: usize, workload: Workload) -> PaxosConfig {
        Self::from_params(
            replicas,
            workload,
            Variant::Correct,
            &dsim_core::Params::default(),
        )
    }

    fn from_params(
        replicas: usize,
        workload: Workload,
        variant: Variant,
        params: &dsim_core::Params,
    ) -> PaxosConfig {
        PaxosConfig {
            replicas,
            clients: workload.clients,
            idle_clients: workload.idle_clients,
            variant,
            election_timeout: params.duration(PARAMS, "election_timeout"),
            heartbeat_interval: params.duration(PARAMS, "heartbeat_interval"),
            client_timeout: params.duration(PARAMS, "client_timeout"),
            workload,
            client_interval: workload.client_interval(),
            client_window: params.int(PARAMS, "client_window").clamp(1, 1024) as usize,
            naive_round: params.duration(PARAMS, "naive_round"),
            keys: params.int(PARAMS, "keys").clamp(1, i64::from(KEYS_MAX)) as u8,
            read_ratio: params.ratio(PARAMS, "read_ratio"),
            cas_ratio: params.ratio(PARAMS, "cas_ratio"),
            liveness_bound: params.duration(PARAMS, "liveness_bound"),
            snapshot_interval: params.int(PARAMS, "snapshot_interval").max(1) as u64,
        }
    }

    /// The configuration a run request describes.
    pub fn from_request(request: &RunRequest) -> Result<PaxosConfig, ConfigError> {
        Self::from_setup(&request.setup())
    }

    /// The configuration a setup describes; what `dsim check` and `run` both refuse.
    pub fn from_setup(setup: &Setup<'_>) -> Result<PaxosConfig, ConfigError> {
        let variant = Variant::parse(setup.variant).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "paxos has no variant {:?} (correct, no-adopt, seed-naive, stale-read, follower-read, compact-unchosen)",
                setup.variant
            ))
        })?;
        setup.params.check(PARAMS)?;
        let config = Self::from_params(setup.nodes, setup.workload, variant, setup.params);
        config.validate()?;
        Ok(config)
    }

    /// Refuses configurations the protocol cannot run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=9).contains(&self.replicas) {
            return Err(ConfigError::Invalid(format!(
                "paxos needs 1 to 9 replicas, found {}",
                self.replicas
            )));
        }
        if self.total_nodes() > CLIENT_NODE_MAX as usize + 1 {
            return Err(ConfigError::Invalid(format!(
                "paxos supports at most {} nodes (replicas plus clients), found {}",
                CLIENT_NODE_MAX + 1,
                self.total_nodes()
            )));
        }
        if self.read_ratio + self.cas_ratio > 1.0 {
            return Err(ConfigError::Invalid(format!(
                "paxos read_ratio + cas_ratio must be at most 1, found {} + {}",
                self.read_ratio, self.cas_ratio
            )));
        }
        for (name, value) in [
            ("election_timeout", self.election_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("client_timeout", self.client_timeout),
            ("naive_round", self.naive_round),
        ] {
            if value == SimDuration::ZERO {
                return Err(ConfigError::Invalid(format!(
                    "paxos {name} must be above zero"
                )));
            }
        }
        Ok(())
    }

    /// Replicas plus clients.
    pub fn total_nodes(&self) -> usize {
        self.replicas + self.clients
    }

    /// Smallest number of replicas that forms a quorum.
    pub fn majority(&self) -> usize {
        self.replicas / 2 + 1
    }

    fn is_replica(&self, node: NodeId) -> bool {
        node.index() < self.replicas
    }

    /// The Multi-Paxos core's settings for this run.
    fn core(&self) -> multipaxos::Config<KvMachine> {
        multipaxos::Config {
            replicas: self.replicas,
            election_timeout: self.election_timeout,
            heartbeat_interval: self.heartbeat_interval,
            adoption: match self.variant {
                Variant::NoAdopt => multipaxos::Adoption::Ignore,
                _ => multipaxos::Adoption::Highest,
            },
            snapshot_interval: self.snapshot_interval,
            compaction: match self.variant {
                Variant::CompactUnchosen => multipaxos::Compaction::DiscardUnchosen,
                _ => multipaxos::Compaction::ChosenPrefix,
            },
            clock: multipaxos::Clock::Local,
            first_election: multipaxos::FirstElection::Random,
            lease: None,
            group_commit: None,
            machine: self.client_window as u64,
        }
    }
}

/// The entries of a promise: one accepted (ballot, value) per slot.
pub type PromiseEntry = multipaxos::PromiseEntry<u64>;

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Client to replica (or follower to leader, then `forwarded`): run this command.
    Request {
        /// The command, see [`command_value`].
        value: u64,
        /// True once a follower forwarded it; it is not forwarded again.
        forwarded: bool,
    },
    /// Replica to client: command `seq` ran with this result.
    Reply {
        /// The client's sequence number.
        seq: u64,
        /// What the state machine answered.
        result: KvResult,
    },
    /// Replica to replica: a message of the Multi-Paxos core.
    Core(multipaxos::Msg<KvMachine>),
    /// `seed-naive`: my proposal for `slot`.
    Proposal {
        /// The log slot.
        slot: u64,
        /// The proposed value.
        value: u64,
    },
}

/// Every timer of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Replica: check whether the leader went quiet (and campaign if so).
    Election,
    /// Replica: heartbeat, retransmission and catch-up period.
    Tick,
    /// Client: a timer of its driver (next command, attempt timeout, retry backoff).
    Client(crate::kit::client::DriverTimer),
    /// `seed-naive`: decide `slot` now.
    Decide {
        /// The slot to decide.
        slot: u64,
    },
}

/// What a replica did with a chosen slot when it applied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApplyOutcome {
    /// The command ran on the state machine.
    Executed,
    /// The command had already run (it was chosen in an earlier slot too): suppressed.
    Duplicate,
    /// A no-op slot.
    Noop,
}

/// Paxos observations for the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaxosEvent {
    /// A replica installed a snapshot of slots below `through` (from another replica)
    /// in place of its log: it applies `through` next.
    SnapshotInstalled {
        /// First slot not in the snapshot.
        through: u64,
    },
    /// A client submitted this command value (observed before it is sent).
    Submitted {
        /// The command.
        value: u64,
    },
    /// An acceptor accepted `value` for `slot` under `ballot` (observed once durable).
    Accepted {
        /// The log slot.
        slot: u64,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: u64,
    },
    /// A replica applied `slot` to its state machine.
    Applied {
        /// The log slot.
        slot: u64,
        /// The value it held.
        value: u64,
        /// What applying it did.
        outcome: ApplyOutcome,
    },
    /// A replica won phase 1 with a majority and leads `ballot`.
    LeaderElected {
        /// The new leader's ballot.
        ballot: Ballot,
    },
}

/// One slot of a replica's durable log.
pub type SlotRecord = multipaxos::SlotRecord<u64>;

/// The client table entry of one client: which of its commands ran, and their results.
///
/// A client keeps the commands it has in flight within `client_window` consecutive
/// sequence numbers: it issues `seq` only once every command below
/// `seq + 1 - client_window` has completed (it received the reply), or was forgotten in
/// a crash. So when `seq` runs, everything below that mark needs no answer any more,
/// and the table drops it: at most `client_window` entries, and no command is ever
/// taken for run before it ran or its client stopped waiting for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// Every sequence number below this ran, or its client no longer waits for it.
    pub low: u64,
    /// Sequence numbers at or above `low` that ran, with what they returned.
    pub above: BTreeMap<u64, KvResult>,
}

impl Session {
    /// True when command `seq` already ran (or its client no longer waits for it).
    pub fn has_run(&self, seq: u64) -> bool {
        seq < self.low || self.above.contains_key(&seq)
    }

    /// The result of `seq`, while the table still holds it.
    pub fn result(&self, seq: u64) -> Option<KvResult> {
        self.above.get(&seq).copied()
    }

    /// Records that `seq` ran with `result`, and forgets what the client's window says
    /// it no longer waits for.
    fn record(&mut self, seq: u64, result: KvResult, window: u64) {
        assert!(!self.has_run(seq), "command {seq} recorded twice");
        self.above.insert(seq, result);
        let low = (seq + 1).saturating_sub(window.max(1));
        if low > self.low {
            self.low = low;
            self.above = self.above.split_off(&low);
        }
    }
}

/// The replicated state machine of the key-value store: one value per key, and the
/// client table that makes every command run at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvMachine {
    sessions: BTreeMap<u32, Session>,
    store: BTreeMap<u8, u8>,
}

impl KvMachine {
    /// The store: one value per key written so far.
    pub fn store(&self) -> &BTreeMap<u8, u8> {
        &self.store
    }

    /// What command `seq` of `client` returned, while the client table holds it.
    pub fn result(&self, client: NodeId, seq: u64) -> Option<KvResult> {
        self.sessions.get(&client.0)?.result(seq)
    }
}

impl multipaxos::StateMachine for KvMachine {
    type Command = u64;
    type Output = ApplyOutcome;
    /// The client window: how many results a session keeps.
    type Config = u64;
    const NOOP: u64 = NOOP;

    fn apply(&mut self, window: &u64, value: u64) -> ApplyOutcome {
        match (command_parts(value), command_op(value)) {
            (Some((client, seq)), Some(op)) => {
                let session = self.sessions.entry(client.0).or_default();
                if session.has_run(seq) {
                    ApplyOutcome::Duplicate
                } else {
                    let result = execute_kv(&mut self.store, op);
                    session.record(seq, result, *window);
                    ApplyOutcome::Executed
                }
            }
            _ => ApplyOutcome::Noop,
        }
    }

    fn has_run(&self, value: u64) -> bool {
        match command_parts(value) {
            None => true,
            Some((client, seq)) => self
                .sessions
                .get(&client.0)
                .is_some_and(|session| session.has_run(seq)),
        }
    }
}

/// Everything a Paxos node keeps across crashes. Replicas use the Multi-Paxos core's
/// durable state (promise, log, the key-value machine); clients only `client_next_seq`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaxosDurable {
    /// The core's acceptor state, log and state machine. The log is a persistent
    /// vector: `Ctx::sync` snapshots the durable state by cloning it, and a clone
    /// shares every chunk, so a sync costs O(1) however long the log grew.
    core: multipaxos::Durable<KvMachine>,
    client_next_seq: u64,
}

impl PaxosDurable {
    /// The acceptor's promise.
    pub fn promised(&self) -> Ballot {
        self.core.promised()
    }

    /// The record of `slot` (default when never touched).
    pub fn slot(&self, slot: u64) -> SlotRecord {
        self.core.slot(slot)
    }

    /// The chosen value of `slot`, if learned.
    pub fn chosen(&self, slot: u64) -> Option<u64> {
        self.core.chosen(slot)
    }

    /// One past the last slot the log holds.
    pub fn log_len(&self) -> u64 {
        self.core.log_len()
    }

    /// Slots below this were applied to the store.
    pub fn applied(&self) -> u64 {
        self.core.applied()
    }

    /// First slot the log still holds: the ones below were compacted into the
    /// snapshot (the store and client table).
    pub fn log_start(&self) -> u64 {
        self.core.log_start()
    }

    /// The store: one value per key written so far.
    pub fn store(&self) -> &BTreeMap<u8, u8> {
        self.core.machine().store()
    }

    /// What command `seq` of `client` returned, while the client table holds it.
    pub fn result(&self, client: NodeId, seq: u64) -> Option<KvResult> {
        self.core.machine().result(client, seq)
    }

    /// A client's next sequence number (clients only).
    pub fn client_next_seq(&self) -> u64 {
        self.client_next_seq
    }

    fn first_unchosen_from(&self, from: u64) -> u64 {
        self.core.first_unchosen_from(from)
    }

    #[cfg(test)]
    fn slot_mut(&mut self, slot: u64) -> &mut SlotRecord {
        self.core.slot_mut(slot)
    }

    #[cfg(test)]
    fn set_promised(&mut self, ballot: Ballot) {
        self.core.set_promised(ballot);
    }
}

/// The log helpers the seed-naive replica and the client answers share.
mod log {
    use super::*;

    /// Learns `value` chosen in `slot`; false if already known.
    pub(super) fn learn(ctx: &mut Ctx<'_, PaxosNode>, slot: u64, value: u64) -> bool {
        multipaxos::learn(ctx, slot, value)
    }

    /// Applies every chosen slot next in order (observing each), calling `applied`.
    pub(super) fn apply_ready(
        ctx: &mut Ctx<'_, PaxosNode>,
        window: usize,
        applied: impl FnMut(&mut Ctx<'_, PaxosNode>, u64),
    ) -> u64 {
        multipaxos::apply_ready(ctx, &(window as u64), applied)
    }

    /// The reply to the client of `value`, if the client table still holds its result.
    pub(super) fn reply(durable: &PaxosDurable, value: u64) -> Option<(NodeId, Msg)> {
        let (client, seq) = command_parts(value)?;
        let result = durable.result(client, seq)?;
        Some((client, Msg::Reply { seq, result }))
    }

    /// True when `value` already ran (the no-op always counts as run).
    pub(super) fn has_run(durable: &PaxosDurable, value: u64) -> bool {
        multipaxos::StateMachine::has_run(durable.core.machine(), value)
    }
}

impl multipaxos::Host for PaxosNode {
    type Machine = KvMachine;

    fn core(durable: &PaxosDurable) -> &multipaxos::Durable<KvMachine> {
        &durable.core
    }

    fn core_mut(durable: &mut PaxosDurable) -> &mut multipaxos::Durable<KvMachine> {
        &mut durable.core
    }

    fn message(msg: multipaxos::Msg<KvMachine>) -> Msg {
        Msg::Core(msg)
    }

    fn timer(timer: multipaxos::Timer) -> Timer {
        match timer {
            multipaxos::Timer::Election => Timer::Election,
            multipaxos::Timer::Tick => Timer::Tick,
        }
    }

    fn observe(ctx: &mut Ctx<'_, PaxosNode>, event: multipaxos::Event<'_, KvMachine>) {
        let observation = match event {
            multipaxos::Event::Accepted {
                slot,
                ballot,
                value,
            } => Observation::Protocol(PaxosEvent::Accepted {
                slot,
                ballot,
                value,
            }),
            multipaxos::Event::Decided { slot, value } => Observation::Decided { slot, value },
            multipaxos::Event::Applied {
                slot,
                value,
                output,
            } => Observation::Protocol(PaxosEvent::Applied {
                slot,
                value,
                outcome: *output,
            }),
            multipaxos::Event::SnapshotInstalled { through } => {
                Observation::Protocol(PaxosEvent::SnapshotInstalled { through })
            }
            multipaxos::Event::LeaderElected { ballot } => {
                Observation::Protocol(PaxosEvent::LeaderElected { ballot })
            }
        };
        ctx.observe(observation);
    }

    fn answer(ctx: &mut Ctx<'_, PaxosNode>, value: u64) {
        // A command whose result the session no longer holds has a client that no
        // longer waits for it: it needs no answer (and must not get a made-up one).
        if let Some((client, reply)) = log::reply(ctx.durable(), value) {
            ctx.send(client, reply);
        }
    }
}

/// One node of a Paxos run: a replica of the configured variant, or a client.
#[derive(Clone, Debug)]
pub enum PaxosNode {
    /// A Multi-Paxos replica (`correct`, `no-adopt`).
    Replica(Replica),
    /// A `seed-naive` replica.
    Naive(NaiveReplica),
    /// A client.
    Client(Client),
}

impl PaxosNode {
    /// The node with id `id` of a run with `config`.
    pub fn new(config: &PaxosConfig, id: NodeId) -> PaxosNode {
        if !config.is_replica(id) {
            return PaxosNode::Client(Client::new(*config, id));
        }
        match config.variant {
            Variant::Correct
            | Variant::NoAdopt
            | Variant::StaleRead
            | Variant::FollowerRead
            | Variant::CompactUnchosen => PaxosNode::Replica(Replica::new(*config, id)),
            Variant::SeedNaive => PaxosNode::Naive(NaiveReplica::new(*config, id)),
        }
    }

    /// The ballot this node leads, if it is a Multi-Paxos leader right now.
    pub fn leading(&self) -> Option<Ballot> {
        match self {
            PaxosNode::Replica(replica) => replica.leading(),
            _ => None,
        }
    }
}

impl Node for PaxosNode {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = PaxosDurable;
    type Event = PaxosEvent;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            PaxosNode::Replica(node) => node.on_start(ctx),
            PaxosNode::Naive(node) => node.on_start(ctx),
            PaxosNode::Client(node) => node.on_start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Msg) {
        match self {
            PaxosNode::Replica(node) => node.on_message(ctx, source, msg),
            PaxosNode::Naive(node) => node.on_message(ctx, source, msg),
            PaxosNode::Client(node) => node.on_message(ctx, source, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match self {
            PaxosNode::Replica(node) => node.on_timer(ctx, timer),
            PaxosNode::Naive(node) => node.on_timer(ctx, timer),
            PaxosNode::Client(node) => node.on_timer(ctx, timer),
        }
    }

    /// CPU cost under the load model, in units of `[nodes] cpu`: one unit to handle
    /// any replica message (plus one per entry a Promise or Learn carries, which the
    /// handler walks), nothing for the client's reply (clients are not the servers
    /// being modelled). Timers cost nothing.
    fn message_cost(msg: &Msg) -> u32 {
        match msg {
            Msg::Reply { .. } => 0,
            Msg::Core(Core::Promise { entries, .. }) => 1u32.saturating_add(entries.len() as u32),
            Msg::Core(Core::Learn { entries }) => 1u32.saturating_add(entries.len() as u32),
            Msg::Core(Core::Snapshot { machine, .. }) => {
                1u32.saturating_add(machine.store.len() as u32)
            }
            _ => 1,
        }
    }

    fn message_digest(msg: &Msg) -> u64 {
        // One multiply-xor step per field that tells messages apart, then a single
        // finaliser: far cheaper than hashing the Debug text on the hot path.
        let words: [u64; 4] = match msg {
            Msg::Request { value, forwarded } => [1, *value, u64::from(*forwarded), 0],
            Msg::Reply { seq, result } => [2, *seq, result.key(), 0],
            Msg::Core(Core::Prepare { ballot, from_slot }) => [3, ballot.key(), *from_slot, 0],
            Msg::Core(Core::Promise {
                ballot,
                entries,
                chosen,
            }) => [
                4,
                ballot.key(),
                entries.len() as u64 | (chosen.len() as u64) << 32,
                entries.iter().fold(0, |acc, entry| {
                    mix(acc ^ entry.slot ^ entry.ballot.key().rotate_left(17) ^ entry.value)
                }) ^ chosen.iter().fold(0, |acc, (slot, value)| {
                    mix(acc ^ slot ^ value.rotate_left(29))
                }),
            ],
            Msg::Core(Core::Accept {
                ballot,
                slot,
                value,
                commit,
            }) => [5, ballot.key(), *slot ^ commit.rotate_left(32), *value],
            Msg::Core(Core::Accepted { ballot, slot }) => [6, ballot.key(), *slot, 0],
            Msg::Core(Core::Nack { promised }) => [7, promised.key(), 0, 0],
            Msg::Core(Core::Heartbeat { ballot, commit }) => [8, ballot.key(), *commit, 0],
            // The store runs the core without a lease: these never travel.
            Msg::Core(Core::LeaseRound {
                ballot,
                round,
                commit,
            }) => [13, ballot.key(), *round, *commit],
            Msg::Core(Core::LeaseAck { ballot, round }) => [14, ballot.key(), *round, 0],
            Msg::Core(Core::CatchUp { from_slot }) => [9, *from_slot, 0, 0],
            Msg::Core(Core::Learn { entries }) => [
                10,
                entries.len() as u64,
                entries.iter().fold(0, |acc, (slot, value)| {
                    mix(acc ^ slot ^ value.rotate_left(29))
                }),
                0,
            ],
            Msg::Proposal { slot, value } => [11, *slot, *value, 0],
            Msg::Core(Core::Snapshot { through, machine }) => [
                12,
                *through,
                machine.store.iter().fold(0, |acc, (&key, &value)| {
                    mix(acc ^ u64::from(key) ^ u64::from(value).rotate_left(29))
                }),
                machine.sessions.iter().fold(0, |acc, (&client, session)| {
                    mix(acc ^ u64::from(client) ^ session.low.rotate_left(17))
                }),
            ],
        };
        mix(words.iter().fold(0x9E37_79B9_7F4A_7C15, |acc, &word| {
            (acc.rotate_left(23) ^ word).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        }))
    }
}

/// One round of the SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Builds (but does not run) the simulation of a Paxos run: every replica and client,
/// starting at time zero. Tests and benches drive it with `run_until` and faults.
pub fn build_simulation(
    sim: SimConfig,
    config: &PaxosConfig,
) -> Result<Simulation<PaxosNode>, ConfigError> {
    config.validate()?;
    let config = *config;
    Simulation::new(sim, config.total_nodes(), move |id, _durable| {
        PaxosNode::new(&config, id)
    })
}

/// The `paxos` kind, for the registry.
pub struct Paxos;

impl Protocol for Paxos {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "paxos",
            summary: "Multi-Paxos: stable leader, ballots, durable acceptors, client retries",
            variants: VARIANTS,
            params: PARAMS,
            nodes_range: (1, 9),
        }
    }

    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize {
        nodes + workload.clients
    }

    /// `replicas` (`0..nodes`) and `clients`: the default layout, named here so that
    /// every kind states its groups.
    fn node_groups(&self, setup: &Setup<'_>) -> Vec<dsim_core::NodeGroup> {
        let replicas = setup.nodes as u32;
        let clients = setup.workload.clients as u32;
        vec![
            dsim_core::NodeGroup::new("replicas", 0..replicas),
            dsim_core::NodeGroup::new("clients", replicas..replicas + clients),
        ]
    }

    fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        PaxosConfig::from_setup(setup).map(|_| ())
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        let config = PaxosConfig::from_request(&request)?;
        // Judged as it runs, so that only the clients' operations are held to the end.
        let check = LiveCheck::new(config.replicas);
        let (output, trace_error) = execute_with_sink(
            request,
            config.total_nodes(),
            move |id, _| PaxosNode::new(&config, id),
            Some(check.sink()),
        )?;
        let verdict = check.finish(&output, config.liveness_bound);
        Ok(RunResult {
            output: generic_output(output),
            verdict,
            trace_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_values_round_trip_and_never_collide_with_noop() {
        // If the encoding lost bits, the checker could not tell clients' commands apart.
        let value = command_value(NodeId(7), 12_345);
        assert_ne!(value, NOOP);
        assert_eq!(command_parts(value), Some((NodeId(7), 12_345)));
        assert_eq!(
            command_parts(command_value(NodeId(0), 0)),
            Some((NodeId(0), 0))
        );
        assert_eq!(command_parts(NOOP), None);
    }

    #[test]
    fn sync_snapshot_shares_the_log_yet_loses_writes_made_after_it() {
        // The sync snapshot is a clone of a persistent vector that shares its chunks
        // with the live log. 300 slots span several chunks. If a write after the sync
        // reached the shared chunks, the "crashed" copy below would show it (slot 5's
        // ballot, slot 250's value or the 301st slot) and these assertions would fail.
        let mut parts: dsim_core::CtxParts<PaxosNode> = dsim_core::CtxParts::new(NodeId(0), 8, 1);
        let mut synced = Some(PaxosDurable::default());
        let ballot = Ballot { round: 1, node: 0 };
        let later = Ballot { round: 2, node: 3 };
        {
            let mut ctx = parts.ctx().with_sync_snapshot(&mut synced);
            for slot in 0..300 {
                let record = ctx.durable_mut().slot_mut(slot);
                record.accepted_ballot = ballot;
                record.accepted_value = slot * 10;
            }
            ctx.sync();
            ctx.durable_mut().slot_mut(5).accepted_ballot = later;
            ctx.durable_mut().slot_mut(250).accepted_value = 7;
            ctx.durable_mut().slot_mut(300).chosen = Some(9);
        }
        // What a crash under lose-unsynced restores: the snapshot.
        let crashed = synced.clone().expect("the run loses unsynced writes");
        assert_eq!(crashed.log_len(), 300);
        assert_eq!(crashed.slot(5).accepted_ballot, ballot);
        assert_eq!(crashed.slot(250).accepted_value, 2_500);
        assert_eq!(crashed.slot(299).accepted_value, 2_990);
        assert_eq!(crashed.chosen(300), None);
        // The live state did take the writes (so the test is not vacuous).
        assert_eq!(parts.durable.slot(5).accepted_ballot, later);
        assert_eq!(parts.durable.slot(250).accepted_value, 7);
        assert_eq!(parts.durable.chosen(300), Some(9));
        // A second sync persists them.
        parts.ctx().with_sync_snapshot(&mut synced).sync();
        assert_eq!(synced.as_ref(), Some(&parts.durable));
    }

    #[test]
    fn ballots_order_by_round_then_node() {
        // Ballots must be totally ordered with the round first, or two proposers could
        // both believe they hold the highest ballot.
        let low = Ballot { round: 1, node: 4 };
        let high = Ballot { round: 2, node: 0 };
        assert!(low < high);
        assert!(Ballot { round: 2, node: 1 } > high);
        assert!(Ballot::NONE < low);
    }

    #[test]
    fn session_keeps_results_until_the_clients_window_moves_past_them() {
        // At-most-once apply and answering retries rest on this table.
        let mut session = Session::default();
        session.record(1, KvResult::Written, 4);
        session.record(0, KvResult::Read(Some(3)), 4);
        assert!(session.has_run(0) && session.has_run(1) && !session.has_run(2));
        // A retry of 0 must get the read's value back, not a guess.
        assert_eq!(session.result(0), Some(KvResult::Read(Some(3))));
        // Running 5 with a window of 4 means the client completed everything below 2:
        // only those entries may go. Command 3 never ran and must not count as run
        // (the audit bug: a suppressed command answered as if it had run).
        session.record(5, KvResult::CasFailed, 4);
        assert_eq!(session.low, 2);
        assert!(!session.has_run(3) && !session.has_run(4) && session.has_run(1));
        assert_eq!(
            session.result(1),
            None,
            "forgotten once the client moved on"
        );
        for seq in 6..2_000 {
            session.record(seq, KvResult::Written, 4);
        }
        assert!(session.above.len() <= 4, "the window bounds the table");
    }

    #[test]
    fn commands_encode_client_seq_and_operation() {
        // The state machine decodes what the client meant from the log's u64 alone.
        let op = KvOp::Cas {
            key: 63,
            from: 4,
            to: 255,
        };
        let value = encode_command(NodeId(CLIENT_NODE_MAX), SEQ_MAX, op);
        assert_eq!(
            command_parts(value),
            Some((NodeId(CLIENT_NODE_MAX), SEQ_MAX))
        );
        assert_eq!(command_op(value), Some(op));
        let put = encode_command(NodeId(3), 7, KvOp::Put { key: 2, value: 1 });
        assert_eq!(command_op(put), Some(KvOp::Put { key: 2, value: 1 }));
        assert_eq!(command_op(NOOP), None);
    }

    #[test]
    fn store_runs_get_put_and_cas() {
        let mut store = BTreeMap::new();
        assert_eq!(
            execute_kv(&mut store, KvOp::Get { key: 1 }),
            KvResult::Read(None)
        );
        assert_eq!(
            execute_kv(&mut store, KvOp::Put { key: 1, value: 2 }),
            KvResult::Written
        );
        // A cas with the wrong expected value writes nothing.
        assert_eq!(
            execute_kv(
                &mut store,
                KvOp::Cas {
                    key: 1,
                    from: 3,
                    to: 4
                }
            ),
            KvResult::CasFailed
        );
        assert_eq!(
            execute_kv(
                &mut store,
                KvOp::Cas {
                    key: 1,
                    from: 2,
                    to: 4
                }
            ),
            KvResult::Written
        );
        assert_eq!(
            execute_kv(&mut store, KvOp::Get { key: 1 }),
            KvResult::Read(Some(4))
        );
    }

    #[test]
    fn request_config_rejects_unknown_variants_and_zero_timeouts() {
        // Bad input must be a typed error, never a panic inside a node.
        let mut config = PaxosConfig::new(
            3,
            Workload {
                clients: 1,
                rate_per_s: 10.0,
                ..Workload::default()
            },
        );
        assert!(config.validate().is_ok());
        config.heartbeat_interval = SimDuration::ZERO;
        assert!(config.validate().is_err());
        config.heartbeat_interval = SimDuration::from_millis(10);
        config.replicas = 10;
        assert!(config.validate().is_err());
        assert_eq!(Variant::parse("no-adopt"), Some(Variant::NoAdopt));
        assert_eq!(Variant::parse("bogus"), None);
        for spec in VARIANTS {
            assert_eq!(
                Variant::parse(spec.name).map(Variant::name),
                Some(spec.name)
            );
        }
    }

    #[test]
    fn digests_tell_messages_apart() {
        // The fingerprint relies on different messages hashing differently.
        let a = PaxosNode::message_digest(&Msg::Core(Core::Accepted {
            ballot: Ballot { round: 1, node: 0 },
            slot: 3,
        }));
        let b = PaxosNode::message_digest(&Msg::Core(Core::Accepted {
            ballot: Ballot { round: 1, node: 0 },
            slot: 4,
        }));
        assert_ne!(a, b);
    }
}
