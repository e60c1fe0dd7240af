//! # dsim-scenario: scenario files into runs
//!
//! A scenario file (TOML) describes a cluster, a workload, a network and a fault
//! schedule. This crate reads it in two stages — the raw value tree (with positions),
//! then validation into a typed [`Scenario`] — and runs it through the protocol that
//! the [`Registry`] maps its kind to.
//!
//! - [`tree`] — TOML text into values that remember their file position; `--set`.
//! - [`reader`] — typed field access with errors naming field, found value and allowed.
//! - [`scenario`] — the [`Scenario`] plan and its validation.
//! - [`registry`] — protocol kinds.
//! - [`run`] — running a scenario; shell quoting for replay commands (the CLI builds
//!   them, naming the binary that is running).
//! - [`nemesis`] — seeded random faults and swarm draws.
//! - [`drawn`] — fault entries that crash, restart or pause N nodes of a named group.
//! - [`emit`] — a scenario back to TOML (`--emit-scenario`, `dsim shrink`).
//! - [`shrink`] — a failing run reduced to a minimal scenario.
//! - [`sweep`] — many seeds in parallel, journal, shards.
//! - [`units`] — durations and rates.
//! - [`workload`] — closed loop, rate phases and the retry policy of `[workload]`.
//!
//! ```
//! use dsim_scenario::{Registry, Scenario, run_scenario, RunOptions};
//! use std::path::Path;
//!
//! let text = r#"
//! name = "tiny"
//! duration = "100ms"
//! [protocol]
//! kind = "hold"
//! nodes = 4
//! "#;
//! let registry = Registry::builtin();
//! let scenario = Scenario::from_text(Path::new("tiny.toml"), text, &[], &registry).unwrap();
//! let result = run_scenario(&registry, &scenario, RunOptions::default()).unwrap();
//! // 4 nodes keep 40 messages in flight over 1 ms links for 100 ms.
//! assert_eq!(result.output.counters.messages_delivered, 40 * 100);
//! ```

#![warn(missing_docs)]

pub mod drawn;
pub mod emit;
pub mod error;
mod load;
pub mod nemesis;
pub mod reader;
pub mod registry;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod sweep;
pub mod tree;
pub mod units;
pub mod workload;

pub use error::{Origin, ScenarioError};
pub use registry::Registry;
pub use run::{RunOptions, run_scenario, shell_quote};
pub use scenario::{Scenario, ScheduledFault, WorkLimit};
