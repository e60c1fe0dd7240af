//! The vocabulary of two-phase commit: transaction ids, votes and decisions, the one
//! message enum, the one timer enum, the checker's events and the durable state.

use dsim_core::NodeId;
use std::collections::BTreeMap;
use std::fmt;

/// A key of the participants' key-value stores. Key `k` lives at participant
/// `1 + k % participants` (see [`super::TpcSettings::owner`]).
pub type Key = u32;

/// A value written by a transaction.
pub type Value = u64;

/// What a micro-operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MopKind {
    /// `[:r k nil]`: read the key (the whole list, or the register's value).
    Read,
    /// `[:append k v]` (list-append) or `[:w k v]` (rw-register): write the key.
    Write,
}

/// One micro-operation of a transaction, Elle's `[f k v]`. Whether a write appends to
/// a list or overwrites a register is the run's workload
/// ([`super::TpcSettings::workload`]); reads carry no value (they return one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mop {
    /// Read or write.
    pub kind: MopKind,
    /// The key.
    pub key: Key,
    /// The value written (unique per key); 0 for a read.
    pub value: Value,
}

impl Mop {
    /// A read of `key`.
    pub fn read(key: Key) -> Mop {
        Mop {
            kind: MopKind::Read,
            key,
            value: 0,
        }
    }

    /// A write (append or overwrite) of `value` to `key`.
    pub fn write(key: Key, value: Value) -> Mop {
        Mop {
            kind: MopKind::Write,
            key,
            value,
        }
    }
}

/// What one read returned: the list (list-append), or the register's value as a list
/// of zero or one element (rw-register).
pub type ReadValue = Vec<Value>;

/// A transaction's identity: the client that submitted it and the client's own
/// operation number (the `op` of its `OpInvoked`). Unique because clients persist their
/// operation counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId {
    /// The submitting client node.
    pub client: NodeId,
    /// The client's operation number.
    pub seq: u64,
}

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.client, self.seq)
    }
}

/// A participant's vote in the prepare phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vote {
    /// Prepared: the participant logged its writes and will commit if told to.
    Yes,
    /// The participant aborts (lock conflict, `abort_ratio`, timeout, unknown txn).
    No,
}

/// The outcome of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    /// Every participant applies the writes.
    Commit,
    /// No participant applies the writes.
    Abort,
}

impl Decision {
    /// `commit` or `abort`.
    pub fn word(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Abort => "abort",
        }
    }
}

/// Why a participant voted the way it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VoteReason {
    /// Prepared normally.
    Prepared,
    /// A key was locked by another transaction.
    LockConflict,
    /// The scenario's `abort_ratio` draw said no.
    AbortRatio,
    /// No `Prepare` arrived before `prepare_timeout`: unilateral abort.
    PrepareTimeout,
    /// The participant knew nothing of the transaction (lost its work in a crash, or
    /// never received it) when asked to prepare or asked by a peer.
    Unknown,
    /// A peer's termination query reached it before it voted: it aborts so that the
    /// peer may abort too.
    PeerQuery,
}

/// How a participant learned (or chose) its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resolution {
    /// The coordinator's decision message or its answer to a query.
    Coordinator,
    /// A peer participant's answer (cooperative termination).
    Peer,
    /// The participant aborted on its own before voting yes.
    Unilateral,
    /// BUG (`commit-on-timeout`): an in-doubt participant committed on its own.
    OwnTimeout,
    /// BUG (`seed-naive`): a commit arrived for a transaction the participant forgot in
    /// a crash; its writes are lost, so in effect it aborted.
    Forgotten,
}

/// Why the coordinator decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DecisionReason {
    /// Every participant voted yes.
    Unanimous,
    /// A participant voted no.
    VotedNo,
    /// Not every vote arrived within `vote_timeout`.
    Timeout,
}

/// Protocol-specific observations for the checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TpcEvent {
    /// A client submitted a transaction: what it asked for, so that the checker judges
    /// the participants against the client's request rather than the coordinator's word.
    Submitted {
        /// The transaction.
        txn: TxnId,
        /// Its writes grouped by the participant that stores their keys (the cell's
        /// placement): every participant it touches, sorted, including the ones it
        /// only reads from (with no writes); writes in transaction order.
        writes: Vec<(NodeId, Vec<(Key, Value)>)>,
    },
    /// A participant applied a committed transaction's writes to its store (observed
    /// just before its `Resolved` commit).
    Applied {
        /// The transaction.
        txn: TxnId,
        /// The writes it applied.
        writes: Vec<(Key, Value)>,
    },
    /// The coordinator started a transaction with these participants (sorted).
    Began {
        /// The transaction.
        txn: TxnId,
        /// Every participant whose keys it touches.
        participants: Vec<NodeId>,
    },
    /// A participant cast a vote (observed once per transaction by the voter).
    Voted {
        /// The transaction.
        txn: TxnId,
        /// The vote.
        vote: Vote,
        /// Why.
        reason: VoteReason,
    },
    /// A participant reached its final outcome for a transaction (applied or dropped
    /// the writes and released the locks).
    Resolved {
        /// The transaction.
        txn: TxnId,
        /// The outcome at this participant.
        decision: Decision,
        /// How it got there.
        how: Resolution,
    },
    /// The coordinator decided (and, for commit, forced its log record), and told the
    /// client in the same step.
    Decided {
        /// The transaction.
        txn: TxnId,
        /// The decision.
        decision: Decision,
        /// Why.
        reason: DecisionReason,
    },
    /// A client learned the outcome of its transaction.
    ClientLearned {
        /// The transaction.
        txn: TxnId,
        /// What the coordinator told it.
        decision: Decision,
    },
}

/// The single message enum of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TpcMsg {
    /// Client to coordinator: run this transaction.
    Begin {
        /// The transaction.
        txn: TxnId,
        /// Its micro-operations, in order.
        mops: Vec<Mop>,
    },
    /// Coordinator to client: the outcome.
    Outcome {
        /// The transaction.
        txn: TxnId,
        /// The outcome.
        decision: Decision,
        /// On a commit decided in this life of the coordinator: what each read
        /// returned, in the order of the transaction's reads. `None` otherwise (an
        /// abort, or a commit recovered from the log, whose reads are not logged).
        reads: Option<Vec<ReadValue>>,
    },
    /// Coordinator to participant: do your part (take the locks, read, stage the
    /// writes).
    Work {
        /// The transaction.
        txn: TxnId,
        /// The micro-operations on this participant's keys, in transaction order.
        mops: Vec<Mop>,
        /// Every participant of the transaction (for cooperative termination).
        participants: Vec<NodeId>,
    },
    /// Participant to coordinator: work done, locks held, ready to be asked to prepare.
    Ready {
        /// The transaction.
        txn: TxnId,
        /// What each of this participant's reads returned, in order.
        reads: Vec<ReadValue>,
    },
    /// Coordinator to participant: phase one, prepare and vote.
    Prepare {
        /// The transaction.
        txn: TxnId,
    },
    /// Participant to coordinator: the vote (a `No` may also come early, unasked).
    Vote {
        /// The transaction.
        txn: TxnId,
        /// The vote.
        vote: Vote,
    },
    /// Coordinator to participant: phase two, the decision.
    Decide {
        /// The transaction.
        txn: TxnId,
        /// The decision.
        decision: Decision,
    },
    /// Participant to coordinator: commit applied and logged (aborts are not
    /// acknowledged under presumed abort).
    Ack {
        /// The transaction.
        txn: TxnId,
    },
    /// In-doubt participant to coordinator (or to a peer, with cooperative
    /// termination): what was decided?
    Query {
        /// The transaction.
        txn: TxnId,
    },
    /// Answer to a `Query`, from the coordinator or a peer that knows.
    Answer {
        /// The transaction.
        txn: TxnId,
        /// The outcome.
        decision: Decision,
    },
}

impl TpcMsg {
    /// The transaction the message is about.
    pub fn txn(&self) -> TxnId {
        match self {
            TpcMsg::Begin { txn, .. }
            | TpcMsg::Outcome { txn, .. }
            | TpcMsg::Work { txn, .. }
            | TpcMsg::Ready { txn, .. }
            | TpcMsg::Prepare { txn }
            | TpcMsg::Vote { txn, .. }
            | TpcMsg::Decide { txn, .. }
            | TpcMsg::Ack { txn }
            | TpcMsg::Query { txn }
            | TpcMsg::Answer { txn, .. } => *txn,
        }
    }

    /// A cheap digest for the run fingerprint: the variant, the transaction and the
    /// vote or decision (payload keys and values follow from the transaction id).
    pub fn digest(&self) -> u64 {
        let (tag, extra) = match self {
            TpcMsg::Begin { mops, .. } => (1, mops.len() as u64),
            TpcMsg::Outcome { decision, .. } => (2, *decision as u64),
            TpcMsg::Work { mops, .. } => (3, mops.len() as u64),
            TpcMsg::Ready { reads, .. } => (4, reads.len() as u64),
            TpcMsg::Prepare { .. } => (5, 0),
            TpcMsg::Vote { vote, .. } => (6, *vote as u64),
            TpcMsg::Decide { decision, .. } => (7, *decision as u64),
            TpcMsg::Ack { .. } => (8, 0),
            TpcMsg::Query { .. } => (9, 0),
            TpcMsg::Answer { decision, .. } => (10, *decision as u64),
        };
        let txn = self.txn();
        let mut state = (tag << 56) ^ (extra << 48) ^ (u64::from(txn.client.0) << 32) ^ txn.seq;
        dsim_core::rng::splitmix64(&mut state)
    }
}

/// The single timer enum of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpcTimer {
    /// Coordinator: the transaction's votes are due (`vote_timeout` after `Begin`).
    VoteDeadline(TxnId),
    /// Coordinator: periodic resend of `Work`, `Prepare` and unacknowledged commits.
    Retry,
    /// Participant: `Prepare` is due (`prepare_timeout` after the work was done).
    PrepareDeadline(TxnId),
    /// Participant: still in doubt, ask again (every `query_interval`).
    InDoubt(TxnId),
    /// Client: a timer of its [`ClientDriver`](crate::kit::client::ClientDriver)
    /// (the next arrival, or a transaction's attempt timeout).
    Client(crate::kit::client::DriverTimer),
}

/// A participant's forced "prepared" log record: enough to commit after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedRecord {
    /// The writes to apply on commit, in transaction order.
    pub writes: Vec<(Key, Value)>,
    /// The keys it read here: their read locks are held until the decision, across a
    /// crash too (strict two-phase locking).
    pub reads: Vec<Key>,
    /// Every participant of the transaction (peers for cooperative termination).
    pub participants: Vec<NodeId>,
}

/// What survives a crash. One type for every role; each role uses its own fields.
///
/// What is logged (presumed abort):
/// - coordinator: a commit record per committed transaction, forced (`sync`) before
///   the decision leaves; removed without forcing (the lazy "end" record) once every
///   participant acknowledged. Aborts are never logged: no record means abort.
/// - participant: a prepared record, forced before voting yes; the final outcome of
///   every transaction it resolved (forced before acknowledging a commit), and the
///   store's writes on commit.
/// - client: its next operation number, forced before the operation starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TpcDurable {
    /// Coordinator: commit records, with the participants still to be told.
    pub commit_log: BTreeMap<TxnId, Vec<NodeId>>,
    /// Participant: prepared (voted yes, undecided) transactions.
    pub prepared: BTreeMap<TxnId, PreparedRecord>,
    /// Participant: final outcomes.
    pub decided: BTreeMap<TxnId, Decision>,
    /// Participant: the committed store, each key's values in the order they were
    /// committed (list-append: the list; rw-register: the register's value is the
    /// last).
    pub store: BTreeMap<Key, Vec<Value>>,
    /// Client: the next operation number.
    pub next_op: u64,
}
