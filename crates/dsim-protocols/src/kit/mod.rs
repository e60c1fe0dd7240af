//! The protocol kit: small reusable pieces for writing protocols on dsim, so that a new
//! protocol spends its code on its algorithm rather than on plumbing.
//!
//! - [`client`] — the client driver: pacing from the workload (open or closed loop,
//!   rate phases), operation ids that survive restarts, per-attempt timeouts, retries
//!   under the scenario's retry policy and budget, and history observations.
//! - [`quorum`] — quorum collection: broadcast a request to a set of replicas, count
//!   distinct replies up to a threshold (a majority by default), retransmit on a timer
//!   to the replicas that have not answered.

pub mod client;
pub mod quorum;
