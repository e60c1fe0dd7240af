//! The messages replicas exchange, generic over the command type `C`.

use super::{Ballot, StateMachine};

/// One accepted (ballot, value) a promise reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromiseEntry<C> {
    /// The log slot.
    pub slot: u64,
    /// The ballot in which the acceptor accepted `value`.
    pub ballot: Ballot,
    /// The accepted value.
    pub value: C,
}

/// Every message between replicas of the Multi-Paxos core, for state machine `S`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg<S: StateMachine> {
    /// Phase 1a: promise not to accept below `ballot`, and report accepted values from
    /// `from_slot` on.
    Prepare {
        /// The proposer's ballot.
        ballot: Ballot,
        /// First slot the proposer does not know to be chosen.
        from_slot: u64,
    },
    /// Phase 1b: the acceptor's promise and its accepted values.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// Accepted (ballot, value) per slot from `from_slot` on, for the slots whose
        /// chosen value the acceptor does not know.
        entries: Vec<PromiseEntry<S::Command>>,
        /// (slot, value) the acceptor already learned as chosen from `from_slot` on.
        chosen: Vec<(u64, S::Command)>,
    },
    /// Phase 2a: accept `value` in `slot` under `ballot`.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The log slot.
        slot: u64,
        /// The proposed value.
        value: S::Command,
        /// The leader's commit index: every slot below it is chosen.
        commit: u64,
    },
    /// Phase 2b: the acceptor accepted `slot` under `ballot`.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// The log slot.
        slot: u64,
    },
    /// Refusal: the acceptor promised a higher ballot.
    Nack {
        /// The acceptor's promise.
        promised: Ballot,
    },
    /// Leader keep-alive with its commit index.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// Every slot below it is chosen.
        commit: u64,
    },
    /// Leader keep-alive under a lease ([`super::lease`]): renews the lease (round
    /// `round`) and carries the commit index.
    LeaseRound {
        /// The leader's ballot.
        ballot: Ballot,
        /// The lease round.
        round: u64,
        /// Every slot below it is chosen.
        commit: u64,
    },
    /// The acceptor promised the sender a lease from when it got round `round`.
    LeaseAck {
        /// The leader's ballot.
        ballot: Ballot,
        /// The round acknowledged.
        round: u64,
    },
    /// A lagging learner asks for chosen values from `from_slot` on.
    CatchUp {
        /// First slot the learner does not know.
        from_slot: u64,
    },
    /// Chosen (slot, value) pairs, the answer to `CatchUp`.
    Learn {
        /// The chosen entries.
        entries: Vec<(u64, S::Command)>,
    },
    /// The answer to a `CatchUp` or `Prepare` for slots the sender compacted: its
    /// state machine after applying every slot below `through` (all chosen), as
    /// Raft's InstallSnapshot. The receiver asks for the log after it with `CatchUp`.
    Snapshot {
        /// Slots below this are applied in `machine`.
        through: u64,
        /// The sender's state machine.
        machine: S,
    },
}

/// The timers of the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Election timeout check.
    Election,
    /// Heartbeat and retransmission period.
    Tick,
}
