//! # Two-phase commit (Gray), with presumed abort
//!
//! ## The algorithm
//! A client asks the coordinator to run a transaction: a list of micro-operations over
//! keys spread across several participants, Elle's transactional workloads (Kingsbury
//! and Alvaro, VLDB 2020): `[:append k v]` and `[:r k nil]` over lists
//! (`workload = "list-append"`, the default) or `[:w k v]` and `[:r k nil]` over
//! registers (`"rw-register"`). Each participant stores its keys under **strict
//! two-phase locking** (Eswaran, Gray, Lorie and Traiger, 1976): a shared lock per key
//! read, an exclusive lock per key written, all held until the transaction's outcome is
//! applied. The coordinator runs it in three rounds:
//! 1. *work*: each participant touched gets its micro-ops, in transaction order
//!    (`Work`); it takes each lock, reads (committed values and the transaction's own
//!    earlier writes), stages the writes, and answers `Ready` with the values read; on
//!    a lock conflict it votes `No` at once. That is the **no-wait** policy: nobody
//!    ever waits for a lock, so there is no deadlock; contention shows as aborts;
//! 2. *prepare* (phase one): once all are ready, `Prepare`; a participant votes `No`
//!    with probability `abort_ratio`, otherwise it forces a *prepared* record (its
//!    writes and the peer list) to durable storage and only then votes `Yes`;
//! 3. *decide* (phase two): all yes means commit, anything else (a `No`, or votes still
//!    missing after `vote_timeout`) means abort. A commit is forced to the coordinator's
//!    log *before* any participant or the client hears of it, with the reads of every
//!    participant put back in transaction order. Participants apply the writes on
//!    commit, undo them on abort, release the locks, and acknowledge commits.
//!
//! Presumed abort (Mohan, Lindsay and Obermarck): aborts are never logged and never
//! acknowledged; a coordinator asked about a transaction it has no record of answers
//! "abort". Commit records are removed, without forcing, once every participant has
//! acknowledged (the lazy "end" record). What each role logs is listed on
//! [`TpcDurable`].
//!
//! Timeouts: the coordinator aborts when votes are missing after `vote_timeout`. A
//! participant that did the work but was not asked to prepare within `prepare_timeout`
//! aborts unilaterally (and says `No`). A participant that voted yes is *in doubt*: it
//! may not decide alone, so it holds its locks and asks the coordinator every
//! `query_interval` until it learns the outcome; with `cooperative_termination` it also
//! asks its peers, and a peer that has not voted yes aborts and answers "abort".
//!
//! ## Guarantees, and the known blocking
//! Safety under crashes, restarts, pauses, loss, duplication, reordering and partitions:
//! *atomicity* (no transaction commits at one participant and aborts at another),
//! *commit only on unanimous yes*, and *durability* of a commit once the client was told.
//! Liveness only once the coordinator is back and the network heals: 2PC *blocks*.
//! The `liveness` check holds every run to that much: from `liveness_bound` (default
//! 1 s) after the last fault ended, with the coordinator up and the network whole at
//! the end, a client up at the end must keep getting outcomes (committed or aborted)
//! within `client_timeout` (default 1 s); five of its transactions in a row without one
//! is starvation and the run exits 1. (One timeout alone is not: the client sends
//! `Begin` once and the coordinator the outcome once, so a lost message is a timeout.) A
//! participant that voted yes and lost the coordinator stays in doubt, holding its
//! locks (so later transactions on those keys vote no), for as long as the coordinator
//! is away. Cooperative termination shortens this when some peer already learned the
//! outcome or has not voted yet, but not when every peer is in doubt too.
//!
//! ## Failure model
//! Crash-recovery nodes with durable storage (`sync` is the force; with
//! `storage = "lose-unsynced"` unforced writes vanish in a crash), an asynchronous
//! network that loses, duplicates and reorders messages, partitions, pauses and clock
//! drift. No Byzantine behaviour. Messages sent to a node before it crashed are lost
//! even if it restarts before they arrive (the engine's rule); the coordinator relies on
//! it, and on remembering every transaction it finished in this life, never to run a
//! transaction twice.
//!
//! ## Node layout
//! Node 0 is the coordinator, nodes `1..nodes` are the participants (key `k` lives at
//! participant `1 + k % (nodes - 1)`), nodes `nodes..nodes + clients` are the clients
//! from `[workload]`. Each client submits transactions through the kit's
//! [`ClientDriver`](crate::kit::client::ClientDriver), paced by `[workload]` (open loop
//! at its share of the rate, `fixed` or `poisson`, rate phases, or closed loop with
//! `outstanding` and `think_time`), each of `txn_length_min..=txn_length_max` micro-ops on keys drawn from
//! `0..keys` with its own `ctx.rng()`, a read with probability `read_ratio`, else a
//! write of a value unique per key ([`written_value`]). It records each transaction as
//! one `:txn` operation of `history.edn`: the micro-ops on invocation; `ok` with the
//! values read filled in on a commit; `fail` on an abort (presumed abort makes that
//! final); `info` on a timeout after `client_timeout` (or `[workload.retry] timeout`),
//! or on a commit whose reads it cannot know (one answered from the log after a
//! coordinator restart). A transaction has one attempt: `[workload.retry]
//! max_attempts` above 1 is refused, because re-submitting a transaction is not safe
//! under this protocol: the coordinator forgets, in a crash, the transactions it
//! finished (a commit record is dropped once every participant acknowledged), so a
//! second `Begin` after its restart would run a committed transaction again and apply
//! its writes twice.
//!
//! ## Departures from the textbook
//! The separate work round stands for the transaction's execution before commit, so that
//! "participant times out before voting" has a meaning; a transaction's micro-ops on
//! different participants run concurrently, and those on one participant in order.
//! Writes are staged in place and undone on abort; the forced prepared record holds the
//! writes and the keys read, so a restarted participant takes back both kinds of lock. The coordinator re-sends `Work`,
//! `Prepare` and unacknowledged commits every `retry_interval`; a coordinator that
//! receives a yes vote or a `Ready` for a transaction it no longer runs answers with the
//! outcome (presumed abort) at once, which shortens in-doubt time after a restart.
//!
//! ## Variants and the bug each plants
//! - `correct`: as above.
//! - `no-durable-decision`: the coordinator keeps its decisions in memory only; after a
//!   crash it "decides afresh", presuming abort for a commit it forgot, so an in-doubt
//!   participant aborts what the client was told was committed. Caught by `durability`
//!   (and `atomicity` when another participant already committed).
//! - `commit-on-timeout`: an in-doubt participant commits on its own when its first
//!   `query_interval` runs out. Caught by `unanimous_commit` (a peer had not voted yes),
//!   `atomicity`, and `client_outcome` (the coordinator aborted and told the client so
//!   while every participant committed).
//! - `seed-naive`: the source article's "send your state, the coordinator decides"
//!   without prepare durability: the prepared record stays in memory, so a participant
//!   that crashes after voting yes forgets its vote, votes no or tells a peer "abort",
//!   and loses the writes of a commit. Caught by `atomicity`; in the history, as
//!   `lost-append` (committed appends missing from later reads).
//! - `early-lock-release`: a participant releases its locks when it votes yes, before
//!   the decision, so later transactions read (and append after) writes that may still
//!   abort. Only the history shows it: `G1a` (a committed read of an aborted append),
//!   `incompatible-order`, and cycles.
//! - `no-read-locks`: reads take no lock, so a key read may be overwritten before the
//!   reader commits: write skew, `G-single` and `G2-item` cycles (often closed by
//!   real-time order), and stale reads of acknowledged commits (`lost-append`).
//! - `read-uncommitted`: reads ignore write locks and see the writes of prepared,
//!   undecided transactions: `G1a` when those abort.
//!
//! The older variants are seen through the history too: `commit-on-timeout` as `G1a`
//! (the client was told "aborted", yet the lone commit's appends are read), and
//! `no-durable-decision` as `lost-append`.
//!
//! ## Checks and measures (see [`check`])
//! `isolation` (the clients' history judged by [`dsim_checkers::isolation()`] with
//! real-time edges: strict two-phase locking under two-phase commit is strict
//! serializable, so any anomaly is a violation, named by it and explained edge by edge;
//! see [`isolation`]), `atomicity`, `unanimous_commit` (every participant's yes vote, as
//! the participants observed it, precedes any commit), `durability` (after the coordinator reported a
//! commit, nothing aborts the transaction), `client_outcome` (what the client was told
//! matches what the participants did: told aborted, no participant applied the writes;
//! told committed, every participant voted yes and none aborted; a client timeout is
//! Jepsen's `info` and accepts either) and `writes_applied` (each participant applied
//! exactly the client's writes to its keys). A transaction's participants are the ones
//! its client asked for (the owners of the keys it touched), never the coordinator's
//! list. `client_outcome` caught `commit-on-timeout` telling a client "aborted" while
//! both participants committed, which every other check let through
//! (`scenarios/regressions/2pc_told_aborted_but_committed.toml`). Summary columns `in_doubt_total_ns` and
//! `in_doubt_max_ns` measure blocking; the formula `T = (1/n) sum t_i` is the mean
//! latency of the `ok` transactions in `ops.csv`.

mod checker;
mod client;
mod coordinator;
mod node;
mod participant;
#[cfg(test)]
mod testkit;
mod types;

pub use checker::{
    CHECKS, ISOLATION_BUDGET, InDoubtStats, InDoubtTotals, LiveCheck, check, check_all, in_doubt,
    isolation, liveness, txn_history, violations,
};
pub use client::Client;
pub use client::{txn_value, written_value};
pub use coordinator::Coordinator;
pub use node::TpcNode;
pub use participant::KeyLock;
pub use participant::Participant;
pub use types::{
    Decision, DecisionReason, Key, Mop, MopKind, PreparedRecord, ReadValue, Resolution, TpcDurable,
    TpcEvent, TpcMsg, TpcTimer, TxnId, Value, Vote, VoteReason,
};

pub use dsim_checkers::isolation::Workload as TxnWorkload;
use dsim_core::protocol::{execute_with_sink, generic_output};
use dsim_core::{
    ConfigError, NodeId, ParamKind, ParamProblem, ParamSpec, Params, Protocol, ProtocolInfo,
    RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration, Simulation, VariantSpec,
    Workload,
};

/// The coordinator's node id.
pub const COORDINATOR: NodeId = NodeId(0);

/// Which version of the protocol the nodes run: `correct` or a planted bug.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Variant {
    /// The protocol as described in the module essay.
    #[default]
    Correct,
    /// BUG: commit decisions live only in the coordinator's memory.
    NoDurableDecision,
    /// BUG: an in-doubt participant commits on its own after a timeout.
    CommitOnTimeout,
    /// BUG: participants do not force their prepared state (the article's sketch).
    SeedNaive,
    /// BUG: a participant releases its locks when it votes yes, before the decision.
    EarlyLockRelease,
    /// BUG: reads take no locks.
    NoReadLocks,
    /// BUG: reads see the writes of prepared, undecided transactions.
    ReadUncommitted,
}

const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        help: "forced commit record, forced prepared record, in-doubt participants wait",
    },
    VariantSpec {
        name: "no-durable-decision",
        help: "BUG: the coordinator keeps decisions in memory and presumes abort after a crash",
    },
    VariantSpec {
        name: "commit-on-timeout",
        help: "BUG: an in-doubt participant commits on its own after query_interval",
    },
    VariantSpec {
        name: "seed-naive",
        help: "BUG: the article's sketch, prepared state not forced, a crash forgets yes votes",
    },
    VariantSpec {
        name: "early-lock-release",
        help: "BUG: participants release their locks when voting yes, so others read undecided writes (G1a, G1c)",
    },
    VariantSpec {
        name: "no-read-locks",
        help: "BUG: reads take no locks, so a read value may be overwritten before commit (G-single, G2)",
    },
    VariantSpec {
        name: "read-uncommitted",
        help: "BUG: reads ignore write locks and see prepared, undecided writes (G1a when those abort)",
    },
];

impl Variant {
    /// The variant named `name` in a scenario file.
    pub fn parse(name: &str) -> Option<Variant> {
        match name {
            "correct" => Some(Variant::Correct),
            "no-durable-decision" => Some(Variant::NoDurableDecision),
            "commit-on-timeout" => Some(Variant::CommitOnTimeout),
            "seed-naive" => Some(Variant::SeedNaive),
            "early-lock-release" => Some(Variant::EarlyLockRelease),
            "no-read-locks" => Some(Variant::NoReadLocks),
            "read-uncommitted" => Some(Variant::ReadUncommitted),
            _ => None,
        }
    }

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::NoDurableDecision => "no-durable-decision",
            Variant::CommitOnTimeout => "commit-on-timeout",
            Variant::SeedNaive => "seed-naive",
            Variant::EarlyLockRelease => "early-lock-release",
            Variant::NoReadLocks => "no-read-locks",
            Variant::ReadUncommitted => "read-uncommitted",
        }
    }
}

/// The keys two-phase commit accepts under `[protocol]`.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        key: "abort_ratio",
        kind: ParamKind::ratio(0.02),
        help: "probability that a participant votes no when asked to prepare",
    },
    ParamSpec {
        key: "cooperative_termination",
        kind: ParamKind::Bool(false),
        help: "in-doubt participants also ask their peers for the outcome",
    },
    ParamSpec {
        key: "keys",
        kind: ParamKind::Int {
            default: 64,
            min: 1,
            max: 1_000_000,
        },
        help: "keys across all participants (key k lives at participant 1 + k % participants)",
    },
    ParamSpec {
        key: "txn_length_min",
        kind: ParamKind::Int {
            default: 1,
            min: 1,
            max: TXN_LENGTH_MAX as i64,
        },
        help: "fewest micro-operations in a transaction",
    },
    ParamSpec {
        key: "txn_length_max",
        kind: ParamKind::Int {
            default: 4,
            min: 1,
            max: TXN_LENGTH_MAX as i64,
        },
        help: "most micro-operations in a transaction (at least txn_length_min)",
    },
    ParamSpec {
        key: "read_ratio",
        kind: ParamKind::ratio(0.5),
        help: "share of micro-operations that are reads (the rest append or write)",
    },
    ParamSpec {
        key: "workload",
        kind: ParamKind::Choice {
            default: "list-append",
            allowed: &["list-append", "rw-register"],
        },
        help: "Elle's list-append ([:append k v], [:r k nil]) or rw-register ([:w k v], [:r k nil])",
    },
    ParamSpec {
        key: "vote_timeout",
        kind: ParamKind::duration_or_zero(SimDuration::from_millis(200)),
        help: "coordinator: abort when votes are still missing this long after begin",
    },
    ParamSpec {
        key: "retry_interval",
        kind: ParamKind::duration(SimDuration::from_millis(50)),
        help: "coordinator: resend work, prepare and unacknowledged commits this often",
    },
    ParamSpec {
        key: "prepare_timeout",
        kind: ParamKind::duration_or_zero(SimDuration::from_millis(500)),
        help: "participant: abort unilaterally when not asked to prepare this long after the work",
    },
    ParamSpec {
        key: "query_interval",
        kind: ParamKind::duration(SimDuration::from_millis(100)),
        help: "participant: while in doubt, ask for the outcome this often",
    },
    ParamSpec {
        key: "client_timeout",
        kind: ParamKind::duration_or_zero(SimDuration::from_secs(1)),
        help: "client: report a transaction as timed out after this long without an outcome",
    },
    ParamSpec {
        key: "liveness_bound",
        kind: ParamKind::duration(SimDuration::from_secs(1)),
        help: "liveness check: from this long after the last fault ended, with the coordinator up and the network whole, 5 transactions of a live client in a row without an outcome within client_timeout are a liveness violation",
    },
];

/// Everything the nodes of one run share: layout, variant and protocol keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TpcSettings {
    /// Coordinator plus participants (`[protocol] nodes`), at least 2.
    pub nodes: usize,
    /// Client nodes after them.
    pub clients: usize,
    /// Clients that issue nothing (`[workload] idle_clients`).
    pub idle_clients: dsim_core::IdleClients,
    /// The scenario's `[workload]` as the clients run it: pacing (open or closed
    /// loop, rate phases) and the retry policy (whose `timeout` replaces
    /// `client_timeout`; `max_attempts` above 1 is refused, see [`Self::validate`]).
    pub client_workload: Workload,
    /// Bug to plant, if any.
    pub variant: Variant,
    /// Keys across all participants.
    pub keys: u32,
    /// Fewest micro-operations per transaction.
    pub txn_length_min: u32,
    /// Most micro-operations per transaction.
    pub txn_length_max: u32,
    /// Share of micro-operations that are reads.
    pub read_ratio: f64,
    /// List-append or rw-register.
    pub workload: TxnWorkload,
    /// Probability of a no vote at prepare.
    pub abort_ratio: f64,
    /// In-doubt participants also ask their peers.
    pub cooperative_termination: bool,
    /// Coordinator: votes are due this long after begin.
    pub vote_timeout: SimDuration,
    /// Coordinator: resend period.
    pub retry_interval: SimDuration,
    /// Participant: prepare is due this long after the work.
    pub prepare_timeout: SimDuration,
    /// Participant: in-doubt query period.
    pub query_interval: SimDuration,
    /// Client: give up after this long (`[workload.retry] timeout` when set, else the
    /// `client_timeout` key).
    pub client_timeout: SimDuration,
    /// How long after the last fault the liveness check starts judging transactions.
    pub liveness_bound: SimDuration,
}

impl Default for TpcSettings {
    /// Four participants, two clients at 100 transactions per second together, and the
    /// declared defaults of every key.
    fn default() -> Self {
        let workload = Workload {
            clients: 2,
            ..Workload::default()
        };
        TpcSettings::from_params(&Params::default(), 5, &workload, Variant::Correct)
            .expect("the declared defaults are valid")
    }
}

/// The role a node id plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Node 0.
    Coordinator,
    /// Nodes `1..nodes`.
    Participant,
    /// Nodes `nodes..nodes + clients`.
    Client,
}

impl TpcSettings {
    /// Settings from checked protocol keys, the replica count and the workload (client
    /// count, pacing, retry policy); refuses combinations the keys' own ranges cannot
    /// catch.
    pub fn from_params(
        params: &Params,
        nodes: usize,
        workload: &Workload,
        variant: Variant,
    ) -> Result<TpcSettings, ConfigError> {
        let settings = TpcSettings {
            nodes,
            clients: workload.clients,
            idle_clients: workload.idle_clients,
            client_workload: *workload,
            variant,
            keys: int_param(params, "keys")?,
            txn_length_min: int_param(params, "txn_length_min")?,
            txn_length_max: int_param(params, "txn_length_max")?,
            read_ratio: params.ratio(PARAMS, "read_ratio"),
            workload: TxnWorkload::from_name(params.choice(PARAMS, "workload")).ok_or_else(
                || {
                    ConfigError::Invalid(format!(
                        "workload must be \"list-append\" or \"rw-register\", found {:?}",
                        params.choice(PARAMS, "workload")
                    ))
                },
            )?,
            abort_ratio: params.ratio(PARAMS, "abort_ratio"),
            cooperative_termination: params.bool(PARAMS, "cooperative_termination"),
            vote_timeout: params.duration(PARAMS, "vote_timeout"),
            retry_interval: params.duration(PARAMS, "retry_interval"),
            prepare_timeout: params.duration(PARAMS, "prepare_timeout"),
            query_interval: params.duration(PARAMS, "query_interval"),
            client_timeout: workload
                .retry
                .timeout
                .unwrap_or(params.duration(PARAMS, "client_timeout")),
            liveness_bound: params.duration(PARAMS, "liveness_bound"),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Settings for a run request (variant, keys, layout and workload).
    pub fn from_request(request: &RunRequest) -> Result<TpcSettings, ConfigError> {
        Self::from_setup(&request.setup())
    }

    /// Settings for a setup; what `dsim check` and `run` both refuse.
    pub fn from_setup(setup: &Setup<'_>) -> Result<TpcSettings, ConfigError> {
        let variant = Variant::parse(setup.variant).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "two_phase_commit has no variant {:?}; known: {}",
                setup.variant,
                VARIANTS
                    .iter()
                    .map(|v| v.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        setup.params.check(PARAMS)?;
        TpcSettings::from_params(setup.params, setup.nodes, &setup.workload, variant)
    }

    /// Checks what the per-key ranges cannot: node count, keys per transaction against
    /// keys, ratios, and periods that must not be zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = NODES_RANGE;
        if self.nodes < min || self.nodes > max {
            return Err(ConfigError::Invalid(format!(
                "two_phase_commit needs {min}..={max} nodes (a coordinator and participants), found {}",
                self.nodes
            )));
        }
        if self.txn_length_min == 0
            || self.txn_length_min > self.txn_length_max
            || self.txn_length_max > TXN_LENGTH_MAX
        {
            return Err(ParamProblem {
                keys: vec!["txn_length_min", "txn_length_max"],
                problem: format!(
                    "found txn_length_min = {} with txn_length_max = {}",
                    self.txn_length_min, self.txn_length_max
                ),
                allowed: format!(
                    "1 <= txn_length_min <= txn_length_max <= {TXN_LENGTH_MAX}: the fewest and most micro-operations of a transaction"
                ),
            }
            .into());
        }
        if self.keys == 0 {
            return Err(ConfigError::Invalid("keys must be at least 1".into()));
        }
        if self.total_nodes() >= NODE_IDS_MAX {
            return Err(ConfigError::Invalid(format!(
                "two_phase_commit supports fewer than {NODE_IDS_MAX} nodes and clients together (written values encode the client's node id), found {}",
                self.total_nodes()
            )));
        }
        dsim_core::network::check_probability("abort_ratio", self.abort_ratio)?;
        dsim_core::network::check_probability("read_ratio", self.read_ratio)?;
        if let Some(attempts) = self
            .client_workload
            .retry
            .max_attempts
            .filter(|&attempts| attempts > 1)
        {
            return Err(ConfigError::Invalid(format!(
                "two_phase_commit refuses workload.retry.max_attempts = {attempts}: a transaction has exactly one attempt (set max_attempts = 1 or leave it out), because re-submitting it is not safe: after a coordinator restart, a second Begin of a transaction that already committed (its commit record dropped once every participant acknowledged) would run it again and apply its writes twice"
            )));
        }
        for (name, value) in [
            ("retry_interval", self.retry_interval),
            ("query_interval", self.query_interval),
        ] {
            if value == SimDuration::ZERO {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be longer than zero"
                )));
            }
        }
        Ok(())
    }

    /// Coordinator, participants and clients.
    pub fn total_nodes(&self) -> usize {
        self.nodes + self.clients
    }

    /// Number of participants.
    pub fn participants(&self) -> u32 {
        (self.nodes - 1) as u32
    }

    /// The participant that stores `key`.
    pub fn owner(&self, key: Key) -> NodeId {
        NodeId(1 + key % self.participants())
    }

    /// The role of node `id`.
    pub fn role(&self, id: NodeId) -> Role {
        match id.index() {
            0 => Role::Coordinator,
            i if i < self.nodes => Role::Participant,
            _ => Role::Client,
        }
    }
}

fn int_param(params: &Params, key: &'static str) -> Result<u32, ConfigError> {
    let value = params.int(PARAMS, key);
    u32::try_from(value).map_err(|_| {
        ConfigError::Invalid(format!(
            "{key} must be a positive whole number, found {value}"
        ))
    })
}

/// Smallest and largest `nodes` (coordinator plus participants).
const NODES_RANGE: (usize, usize) = (2, 65);

/// The most micro-operations a transaction may have (values written encode the
/// micro-op's position in two decimal digits: see [`client::written_value`]).
pub const TXN_LENGTH_MAX: u32 = 64;

/// Node ids (coordinator, participants and clients) stay below this (values written
/// encode the client's node id in three decimal digits).
pub const NODE_IDS_MAX: usize = 1000;

/// A simulation of two-phase commit with the given settings, ready to run; tests add
/// faults with [`Simulation::schedule_fault`] and run it in phases.
pub fn simulation(
    config: SimConfig,
    settings: TpcSettings,
) -> Result<Simulation<TpcNode>, ConfigError> {
    settings.validate()?;
    Simulation::new(config, settings.total_nodes(), move |id, _| {
        TpcNode::new(id, settings)
    })
}

/// The `two_phase_commit` kind, for the registry.
pub struct TwoPhaseCommit;

impl Protocol for TwoPhaseCommit {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "two_phase_commit",
            summary: "two-phase commit (Gray) with presumed abort over strict two-phase locking: a coordinator, list-append or rw-register participants, transactional clients judged by isolation",
            variants: VARIANTS,
            params: PARAMS,
            nodes_range: NODES_RANGE,
        }
    }

    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize {
        nodes + workload.clients
    }

    /// `coordinator` (node 0), `participants` (`1..nodes`), then the `clients`.
    fn node_groups(&self, setup: &Setup<'_>) -> Vec<dsim_core::NodeGroup> {
        let nodes = setup.nodes as u32;
        let clients = setup.workload.clients as u32;
        vec![
            dsim_core::NodeGroup::new("coordinator", 0..1),
            dsim_core::NodeGroup::new("participants", 1..nodes),
            dsim_core::NodeGroup::new("clients", nodes..nodes + clients),
        ]
    }

    fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        TpcSettings::from_setup(setup).map(|_| ())
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        let settings = TpcSettings::from_request(&request)?;
        // Judged as it runs, so that only the clients' operations are held to the end.
        let check = LiveCheck::new();
        let (mut output, trace_error) = execute_with_sink(
            request,
            settings.total_nodes(),
            move |id, _| TpcNode::new(id, settings),
            Some(check.sink()),
        )?;
        let verdict = check.finish(&mut output, &settings);
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
    use dsim_core::ParamValue;

    #[test]
    fn every_declared_variant_parses_to_itself() {
        // If a declared name did not parse, a scenario naming it would be refused.
        for spec in VARIANTS {
            let variant = Variant::parse(spec.name).expect("declared variants parse");
            assert_eq!(variant.name(), spec.name);
        }
        assert_eq!(Variant::parse("no-such-bug"), None);
    }

    #[test]
    fn keys_are_spread_over_participants() {
        let settings = TpcSettings::default();
        // Four participants: keys 0..4 land on nodes 1..=4, key 4 wraps to node 1.
        assert_eq!(settings.owner(0), NodeId(1));
        assert_eq!(settings.owner(3), NodeId(4));
        assert_eq!(settings.owner(4), NodeId(1));
        assert_eq!(settings.role(NodeId(0)), Role::Coordinator);
        assert_eq!(settings.role(NodeId(4)), Role::Participant);
        assert_eq!(settings.role(NodeId(5)), Role::Client);
    }

    #[test]
    fn a_shortest_transaction_longer_than_the_longest_is_refused() {
        let mut params = Params::default();
        params.0.insert("txn_length_min".into(), ParamValue::Int(5));
        params.0.insert("txn_length_max".into(), ParamValue::Int(3));
        // Clients draw a length from min..=max: an empty range has nothing to draw.
        let result = TpcSettings::from_params(&params, 5, &Workload::default(), Variant::Correct);
        assert!(
            matches!(&result, Err(ConfigError::Param(problem)) if problem.keys[0] == "txn_length_min"),
            "{result:?}"
        );
    }

    #[test]
    fn zero_retry_interval_is_refused() {
        let mut params = Params::default();
        params.0.insert(
            "retry_interval".into(),
            ParamValue::Duration(SimDuration::ZERO),
        );
        // A zero period would re-arm the retry timer at the same instant forever.
        let result = TpcSettings::from_params(&params, 5, &Workload::default(), Variant::Correct);
        assert!(matches!(result, Err(ConfigError::Invalid(_))), "{result:?}");
    }

    #[test]
    fn a_coordinator_alone_is_refused() {
        let result = TpcSettings::from_params(
            &Params::default(),
            1,
            &Workload::default(),
            Variant::Correct,
        );
        // With no participant, key ownership would divide by zero.
        assert!(matches!(result, Err(ConfigError::Invalid(_))), "{result:?}");
    }
}
