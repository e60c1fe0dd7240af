//! The protocol kit: pieces a protocol's nodes reuse instead of writing their own.
//!
//! - [`client`] — the client driver: pacing from the workload (open or closed loop,
//!   rate phases), operation ids that survive restarts, per-attempt timeouts, retries
//!   under the scenario's retry policy and budget, and history observations.

pub mod client;
