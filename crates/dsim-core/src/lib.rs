//! # dsim-core: the deterministic engine
//!
//! One seed and one configuration fully determine a run: every message delay, drop,
//! crash and timer firing. The crate knows no protocol and no file format.
//!
//! Map of the crate:
//! - [`time`] — `SimTime` / `SimDuration`, integer nanoseconds.
//! - [`id`] — `NodeId`.
//! - [`rng`] — one ChaCha8 stream per purpose and the raw samplers.
//! - [`dist`] — delay distributions (constant, uniform, normal, exponential, lognormal,
//!   pareto), sampled with our own code.
//! - [`node`] — the `Node` trait and `Ctx`, whose handlers record effects as data.
//! - [`network`] — topology (full mesh or `petgraph` graph), link models, partitions,
//!   cuts and degradation windows.
//! - [`clock`] — per-node local clocks with offset and drift.
//! - [`fault`] — the `Fault` enum.
//! - [`observe`] — observations for metrics and checkers.
//! - [`ops`] — client operations, paired from their observations as they happen.
//! - [`progress`] — progress of a long run at virtual-time checkpoints.
//! - [`trace`] — the event trace and the run fingerprint.
//! - [`value`] — history values (EDN-printable) carried by client operations.
//! - [`queue`] — the event queue, ordered by `(time, seq)`.
//! - [`sim`] — `Simulation`, the scheduler that ties it all together.
//! - [`hold`] — the engine benchmark protocol.
//! - [`protocol`] — the interface protocols offer to tools (`dsim list`, `dsim run`).
//!
//! ```
//! use dsim_core::{hold::HoldNode, SimConfig, SimTime, Simulation};
//!
//! // 10 nodes keep 20 messages in flight over 1 ms links for 100 ms of virtual time.
//! let config = SimConfig { seed: 7, ..SimConfig::default() };
//! let mut sim = Simulation::new(config, 10, |_, _| HoldNode::new(2)).unwrap();
//! sim.run_until(SimTime(100_000_000)).unwrap();
//! // Every message takes exactly 1 ms, so each of the 20 makes 100 hops.
//! assert_eq!(sim.counters().messages_delivered, 20 * 100);
//! println!("fingerprint {:016x}", sim.fingerprint());
//! ```

#![warn(missing_docs)]

pub mod clock;
pub mod dist;
pub mod error;
pub mod fault;
pub mod hold;
pub mod id;
pub mod load;
pub mod message_log;
pub mod network;
pub mod node;
pub mod observe;
pub mod ops;
pub mod progress;
pub mod protocol;
pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;
pub mod trace;
pub mod value;

pub use clock::LocalClock;
pub use dist::Delay;
pub use error::{ConfigError, SimError};
pub use fault::Fault;
pub use id::NodeId;
pub use load::{Bandwidth, LinkBandwidth, LoadConfig, NodeCpu};
pub use message_log::{MessageLog, MessageRecord};
pub use network::{Link, LinkModel, LinkOrder, NetworkConfig, Topology};
pub use node::{Ctx, CtxParts, DEFAULT_MESSAGE_SIZE_BYTES, Effect, Node, TimerId};
pub use observe::{NoEvent, Observation, ObservationRecord, ObservationSink, Outcome, Retain};
pub use ops::{OpRecord, OpSink};
pub use protocol::{
    Arrival, Backoff, ClosedLoop, DURATION_MAX, Formula, IdleClients, Jitter, NodeGroup, ParamKind,
    ParamProblem, ParamSpec, ParamValue, Params, PhaseError, Protocol, ProtocolInfo,
    ProtocolVariant, RatePhase, RatePhases, RatioMax, RetryPolicy, RunError, RunRequest, RunResult,
    Setup, VariantSpec, Verdict, Violation, Workload,
};
pub use sim::{
    Counters, DropReason, FaultRecord, MessageFate, RunOutput, SimConfig, Simulation, StorageMode,
};
pub use time::{SimDuration, SimTime};
pub use trace::{TraceEvent, TraceKind, TraceWriter, fingerprint_hex};
pub use value::Value;
