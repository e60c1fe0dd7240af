//! # dsim-protocols: real protocols, their checkers and their seeded bugs
//!
//! Each module implements one protocol as the literature defines it, a checker that
//! judges runs from observations alone, and named buggy variants that the checker must
//! catch. Each exposes a unit struct implementing [`dsim_core::Protocol`] so that the
//! scenario registry can list and run it.
//!
//! - [`paxos`] — multi-decree Paxos (Lamport), kind `paxos`.
//! - [`multipaxos`] — the one Multi-Paxos core `paxos` replicates its store with.
//! - [`two_phase_commit`]: two-phase commit (Gray), kind `two_phase_commit`.
//! - [`lock_service`] — a Chubby-style lock service (Burrows), kind `lock_service`.
//! - [`mapreduce`] — MapReduce (Dean & Ghemawat), kind `mapreduce`.
//! - [`hold`] — the engine benchmark, kind `hold`.
//! - [`queue`] — one service station and open-loop clients, kind `queue`: the load
//!   model checked against queueing theory.
//! - [`history`] — the clients' history of a run, built once for every protocol's checks.
//! - [`kit`] — reusable pieces for writing protocols: the client driver (pacing,
//!   retries, history) and quorum collection.
//! - [`liveness`] — the liveness phase of a run (after its last fault), shared by the
//!   protocols' liveness checks.

#![warn(missing_docs)]

pub mod history;
pub mod hold;
pub mod kit;
pub mod liveness;
pub mod lock_service;
pub mod mapreduce;
pub mod multipaxos;
pub mod paxos;
pub mod queue;
pub mod two_phase_commit;

use dsim_core::Protocol;

/// Every built-in protocol, in the order `dsim list` shows them.
pub fn builtin() -> Vec<Box<dyn Protocol>> {
    vec![
        Box::new(paxos::Paxos),
        Box::new(two_phase_commit::TwoPhaseCommit),
        Box::new(lock_service::LockService),
        Box::new(mapreduce::MapReduce),
        Box::new(hold::Hold),
        Box::new(queue::Queue),
    ]
}
