//! The protocol kit: small reusable pieces for writing protocols on dsim, so that a new
//! protocol spends its code on its algorithm rather than on plumbing.
//!
//! - [`quorum`] — quorum collection: broadcast a request to a set of replicas, count
//!   distinct replies up to a threshold (a majority by default), retransmit on a timer
//!   to the replicas that have not answered.

pub mod quorum;
