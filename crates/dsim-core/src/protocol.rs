//! The interface a protocol offers to tools: a description for `dsim list`, and a
//! function that runs one configured simulation and judges it.
//!
//! Built-in protocols (dsim-protocols) and a user's own (see the `examples/` crate)
//! implement [`Protocol`] the same way; the scenario crate's registry maps kind names
//! to them. The engine itself never calls this.

use crate::error::{ConfigError, SimError};
use crate::fault::Fault;
use crate::id::NodeId;
use crate::network::NetworkConfig;
use crate::node::Node;
use crate::observe::NoEvent;
use crate::progress::{CHECKPOINTS, Progress, checkpoint, report};
use crate::sim::{RunOutput, SimConfig, Simulation};
use crate::time::{SimDuration, SimTime};
use crate::trace::TraceWriter;
use std::collections::BTreeMap;
use std::fmt;

/// A value of a protocol key from the scenario's `[protocol]` table.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text, including durations such as `"150ms"` (parsed by the scenario crate into
    /// nanoseconds before it reaches a protocol: see [`ParamValue::Duration`]).
    Text(String),
    /// A duration, already parsed.
    Duration(SimDuration),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v:?}"),
            ParamValue::Duration(v) => write!(f, "\"{v}\""),
        }
    }
}

/// The longest duration a protocol key (or any duration of a scenario) may hold:
/// 100,000 hours. Far more than any run needs, and small enough that adding a few of
/// them to a virtual time can never overflow `u64` nanoseconds.
pub const DURATION_MAX: SimDuration = SimDuration::from_secs(100_000 * 3600);

/// The upper end of a ratio key's range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RatioMax {
    /// The value itself is allowed: `[0, max]`.
    Included(f64),
    /// Only values below it: `[0, max)`.
    Excluded(f64),
}

/// What kind of value a protocol key takes, with its default and its bounds. A value
/// outside the bounds is refused by `dsim check` at the key's position, and by
/// [`Params::check`] at run time, with the same words.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamKind {
    /// A boolean.
    Bool(bool),
    /// A whole number in `[min, max]`.
    Int {
        /// Default.
        default: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A ratio from 0 up to `max`.
    Ratio {
        /// Default.
        default: f64,
        /// Upper end of the range.
        max: RatioMax,
    },
    /// A duration in `[min, max]` (given as text like `"150ms"` in files).
    Duration {
        /// Default.
        default: SimDuration,
        /// Shortest allowed.
        min: SimDuration,
        /// Longest allowed.
        max: SimDuration,
    },
    /// One of a fixed list of words (given as text in files, e.g. `"list-append"`).
    Choice {
        /// Default, one of `allowed`.
        default: &'static str,
        /// Every accepted word.
        allowed: &'static [&'static str],
    },
}

impl ParamKind {
    /// A probability in `[0, 1]`.
    pub const fn ratio(default: f64) -> ParamKind {
        ParamKind::Ratio {
            default,
            max: RatioMax::Included(1.0),
        }
    }

    /// A period or timeout that must be above zero: `[1ns, DURATION_MAX]`.
    pub const fn duration(default: SimDuration) -> ParamKind {
        ParamKind::Duration {
            default,
            min: SimDuration(1),
            max: DURATION_MAX,
        }
    }

    /// A delay where zero means "none": `[0, DURATION_MAX]`.
    pub const fn duration_or_zero(default: SimDuration) -> ParamKind {
        ParamKind::Duration {
            default,
            min: SimDuration::ZERO,
            max: DURATION_MAX,
        }
    }

    /// The default, as a value.
    pub fn default_value(&self) -> ParamValue {
        match *self {
            ParamKind::Bool(default) => ParamValue::Bool(default),
            ParamKind::Int { default, .. } => ParamValue::Int(default),
            ParamKind::Ratio { default, .. } => ParamValue::Float(default),
            ParamKind::Duration { default, .. } => ParamValue::Duration(default),
            ParamKind::Choice { default, .. } => ParamValue::Text(default.to_string()),
        }
    }

    /// What the key accepts, in words: `a whole number from 1 to 16`.
    pub fn allowed(&self) -> String {
        match *self {
            ParamKind::Bool(_) => "true or false".into(),
            ParamKind::Int { min, max, .. } => format!("a whole number from {min} to {max}"),
            ParamKind::Ratio { max, .. } => match max {
                RatioMax::Included(max) => format!("a ratio from 0 to {max}"),
                RatioMax::Excluded(max) => format!("a ratio from 0 up to (not including) {max}"),
            },
            ParamKind::Duration { min, max, .. } => {
                let (min, max) = (duration_text(min), duration_text(max));
                if min == "0ns" {
                    format!("a duration from 0 to {max} (0 means none)")
                } else {
                    format!("a duration from {min} to {max}")
                }
            }
            ParamKind::Choice { allowed, .. } => {
                let words: Vec<String> = allowed.iter().map(|w| format!("{w:?}")).collect();
                format!("one of {}", words.join(", "))
            }
        }
    }
}

/// A duration as a scenario file writes it, in whole hours when it is some.
fn duration_text(duration: SimDuration) -> String {
    const HOUR_NS: u64 = 3_600_000_000_000;
    if duration.0 >= HOUR_NS && duration.0.is_multiple_of(HOUR_NS) {
        format!("\"{}h\"", duration.0 / HOUR_NS)
    } else {
        format!("\"{duration}\"")
    }
}

/// A protocol configuration refused, naming the `[protocol]` keys at fault (a key of
/// the protocol, or `nodes`), most specific first, so that `dsim check` can point at
/// the first of them the file sets.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("protocol.{}: {problem}; allowed: {allowed}", keys.first().copied().unwrap_or("kind"))]
pub struct ParamProblem {
    /// The keys involved, most specific first; never empty.
    pub keys: Vec<&'static str>,
    /// What is wrong, with the values found.
    pub problem: String,
    /// What would be accepted.
    pub allowed: String,
}

/// One key a protocol accepts under `[protocol]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// The key, snake_case.
    pub key: &'static str,
    /// Type, default and bounds.
    pub kind: ParamKind,
    /// One line saying what it does.
    pub help: &'static str,
}

impl ParamSpec {
    /// Checks one value against the declared type and bounds.
    pub fn check(&self, value: &ParamValue) -> Result<(), ParamProblem> {
        let in_bounds = match (self.kind, value) {
            (ParamKind::Bool(_), ParamValue::Bool(_)) => true,
            (ParamKind::Int { min, max, .. }, ParamValue::Int(v)) => (min..=max).contains(v),
            (ParamKind::Ratio { max, .. }, ParamValue::Float(v)) => match max {
                RatioMax::Included(max) => (0.0..=max).contains(v),
                RatioMax::Excluded(max) => (0.0..max).contains(v),
            },
            (ParamKind::Ratio { max, .. }, ParamValue::Int(v)) => match max {
                RatioMax::Included(max) => (0.0..=max).contains(&(*v as f64)),
                RatioMax::Excluded(max) => (0.0..max).contains(&(*v as f64)),
            },
            (ParamKind::Duration { min, max, .. }, ParamValue::Duration(v)) => {
                (min..=max).contains(v)
            }
            (ParamKind::Choice { allowed, .. }, ParamValue::Text(v)) => {
                allowed.contains(&v.as_str())
            }
            _ => false,
        };
        if in_bounds {
            Ok(())
        } else {
            Err(ParamProblem {
                keys: vec![self.key],
                problem: format!("found {value}"),
                allowed: format!("{} ({})", self.kind.allowed(), self.help),
            })
        }
    }
}
/// A named variant of a protocol: `correct` or a planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariantSpec {
    /// The name used in scenario files.
    pub name: &'static str,
    /// What it does differently, in one line.
    pub help: &'static str,
}

/// What `dsim list` shows about a protocol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProtocolInfo {
    /// Kind name in scenario files.
    pub kind: &'static str,
    /// One line about the protocol.
    pub summary: &'static str,
    /// Variants, `correct` first.
    pub variants: &'static [VariantSpec],
    /// Keys accepted under `[protocol]`.
    pub params: &'static [ParamSpec],
    /// Smallest and largest `nodes` (replica count) allowed.
    pub nodes_range: (usize, usize),
}

/// How an open-loop client spaces its operations (`[workload] arrival`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arrival {
    /// One operation every [`Workload::client_interval`], after a random phase: the
    /// behaviour every protocol had before `arrival` existed, and the default.
    #[default]
    Fixed,
    /// A Poisson process: exponential gaps with mean [`Workload::client_interval`], so
    /// that all clients together form a Poisson stream of `rate_per_s`. Protocols that
    /// support it say so in their docs; the others keep fixed gaps.
    Poisson,
}

impl Arrival {
    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Fixed => "fixed",
            Arrival::Poisson => "poisson",
        }
    }
}

/// The `[workload]` of a scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Workload {
    /// Client nodes (added after the replicas).
    pub clients: usize,
    /// Operations per second across all clients, idle ones included: an idle client
    /// keeps its share of the rate, so the others keep their schedules.
    pub rate_per_s: f64,
    /// Clients that stay idle: they keep their node ids and their random streams but
    /// issue no operation (see [`IdleClients`]). Empty by default.
    pub idle_clients: IdleClients,
    /// How each client spaces its operations.
    pub arrival: Arrival,
}

/// The clients of a workload that stay idle, by client number (client `c` is node
/// `replicas + c`). An idle client is still a node with the same id and the same random
/// stream; it asks [`IdleClients::is_idle`] at start and then does nothing, so the other
/// clients' own draws and schedules are exactly those of a run where it was active.
/// Used by `dsim shrink` to drop clients without renumbering the rest.
///
/// A fixed-size bitset so that [`Workload`] stays `Copy`: client numbers from 0 to
/// [`IdleClients::MAX`] - 1 can be idle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleClients([u64; 4]);

impl IdleClients {
    /// No idle client: every client runs.
    pub const NONE: IdleClients = IdleClients([0; 4]);
    /// How many client numbers the set can hold (0 to `MAX - 1`).
    pub const MAX: usize = 256;

    /// The set of the given client numbers, or the first number that is `MAX` or more.
    pub fn from_clients(clients: &[usize]) -> Result<IdleClients, usize> {
        let mut set = IdleClients::NONE;
        for &client in clients {
            if client >= Self::MAX {
                return Err(client);
            }
            set.0[client / 64] |= 1 << (client % 64);
        }
        Ok(set)
    }

    /// True if client number `client` stays idle.
    pub fn is_idle(&self, client: usize) -> bool {
        client < Self::MAX && self.0[client / 64] & (1 << (client % 64)) != 0
    }

    /// True if no client is idle.
    pub fn is_empty(&self) -> bool {
        *self == IdleClients::NONE
    }

    /// The idle client numbers, in increasing order.
    pub fn clients(&self) -> Vec<usize> {
        (0..Self::MAX).filter(|&c| self.is_idle(c)).collect()
    }

    /// True if the client at node `node` stays idle, for a protocol whose clients are
    /// the nodes after its `replicas` replicas; false for every other node. The one
    /// question a client asks at start.
    pub fn is_idle_node(&self, replicas: usize, node: crate::NodeId) -> bool {
        node.index()
            .checked_sub(replicas)
            .is_some_and(|client| self.is_idle(client))
    }
}

impl Workload {
    /// The gap between two operations of one client, so that all clients together run
    /// at `rate_per_s`. Idle clients count: dropping a client leaves the gap unchanged.
    pub fn client_interval(&self) -> SimDuration {
        if self.rate_per_s <= 0.0 || self.clients == 0 {
            return SimDuration::from_secs(1);
        }
        let ns = (self.clients as f64 * 1e9 / self.rate_per_s).round();
        SimDuration(ns.clamp(1.0, 1e18) as u64)
    }
}

/// The protocol keys of a scenario, already type-checked against [`ParamSpec`]s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    /// Checks every value against its declared spec: an undeclared key, a value of the
    /// wrong type or one outside its bounds is refused with the words `dsim check` uses.
    pub fn check(&self, specs: &[ParamSpec]) -> Result<(), ParamProblem> {
        for (key, value) in &self.0 {
            match specs.iter().find(|spec| spec.key == key) {
                Some(spec) => spec.check(value)?,
                None => {
                    return Err(ParamProblem {
                        keys: vec!["kind"],
                        problem: format!("unknown key `{key}`"),
                        allowed: specs
                            .iter()
                            .map(|spec| spec.key)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    fn spec<'a>(specs: &'a [ParamSpec], key: &str) -> &'a ParamSpec {
        specs
            .iter()
            .find(|spec| spec.key == key)
            .unwrap_or_else(|| panic!("protocol asked for undeclared key {key}"))
    }

    /// The boolean `key`, or its declared default.
    pub fn bool(&self, specs: &[ParamSpec], key: &str) -> bool {
        match (self.0.get(key), Self::spec(specs, key).kind) {
            (Some(ParamValue::Bool(v)), _) => *v,
            (_, ParamKind::Bool(default)) => default,
            _ => panic!("key {key} is not declared as a bool"),
        }
    }

    /// The integer `key`, or its declared default.
    pub fn int(&self, specs: &[ParamSpec], key: &str) -> i64 {
        match (self.0.get(key), Self::spec(specs, key).kind) {
            (Some(ParamValue::Int(v)), _) => *v,
            (_, ParamKind::Int { default, .. }) => default,
            _ => panic!("key {key} is not declared as an int"),
        }
    }

    /// The ratio `key`, or its declared default.
    pub fn ratio(&self, specs: &[ParamSpec], key: &str) -> f64 {
        match (self.0.get(key), Self::spec(specs, key).kind) {
            (Some(ParamValue::Float(v)), _) => *v,
            (Some(ParamValue::Int(v)), _) => *v as f64,
            (_, ParamKind::Ratio { default, .. }) => default,
            _ => panic!("key {key} is not declared as a ratio"),
        }
    }

    /// The duration `key`, or its declared default.
    pub fn duration(&self, specs: &[ParamSpec], key: &str) -> SimDuration {
        match (self.0.get(key), Self::spec(specs, key).kind) {
            (Some(ParamValue::Duration(v)), _) => *v,
            (_, ParamKind::Duration { default, .. }) => default,
            _ => panic!("key {key} is not declared as a duration"),
        }
    }

    /// The word chosen for the choice `key`, or its declared default.
    pub fn choice<'a>(&'a self, specs: &[ParamSpec], key: &str) -> &'a str {
        match (self.0.get(key), Self::spec(specs, key).kind) {
            (Some(ParamValue::Text(v)), _) => v,
            (_, ParamKind::Choice { default, .. }) => default,
            _ => panic!("key {key} is not declared as a choice"),
        }
    }
}

/// The protocol-level part of a run request: what [`Protocol::check_setup`] judges.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// Replica count (`[protocol] nodes`).
    pub nodes: usize,
    /// Variant name.
    pub variant: &'a str,
    /// Protocol keys.
    pub params: &'a Params,
    /// Clients and rate.
    pub workload: Workload,
}

/// Everything needed for one run of a protocol, protocol-agnostic.
pub struct RunRequest {
    /// Seed, network, storage mode, message log size.
    pub config: SimConfig,
    /// Replica count (`[protocol] nodes`).
    pub nodes: usize,
    /// Variant name, already checked against the protocol's list.
    pub variant: String,
    /// Protocol keys, already checked against the protocol's specs.
    pub params: Params,
    /// Clients and rate.
    pub workload: Workload,
    /// Virtual time to run for.
    pub duration: SimDuration,
    /// Scheduled faults.
    pub faults: Vec<(SimTime, Fault)>,
    /// Where to stream the event trace, if anywhere.
    pub trace: Option<TraceWriter>,
}

impl RunRequest {
    /// The protocol-level part of the request.
    pub fn setup(&self) -> Setup<'_> {
        Setup {
            nodes: self.nodes,
            variant: &self.variant,
            params: &self.params,
            workload: self.workload,
        }
    }
}

/// One broken invariant, found by a checker from observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Virtual time at which the checker saw the violation.
    pub time: SimTime,
    /// Name of the check, e.g. `agreement`, `atomicity`, `mutual_exclusion`.
    pub check: &'static str,
    /// Nodes involved.
    pub nodes: Vec<NodeId>,
    /// What happened, in one line.
    pub details: String,
}

/// The metric formula a protocol reports in `summary.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Formula {
    /// A value the checker computed (Paxos agreement).
    Value {
        /// Formula name, e.g. `f(x)`.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// The mean latency of the `ok` operations in `ops.csv` (T, L, R), which the
    /// report computes so that anyone can recompute it from the file.
    MeanOkLatency {
        /// Formula name: `T`, `L` or `R`.
        name: &'static str,
    },
    /// The mean latency of the `ok` operations of one function (`f`) in `ops.csv`: the
    /// lock service's L averages acquisitions only, though its clients also record
    /// releases.
    MeanOkLatencyOf {
        /// Formula name, e.g. `L`.
        name: &'static str,
        /// The `f` column value of the rows averaged, e.g. `acquire`.
        f: &'static str,
    },
}

/// A checker's judgement of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Every violation found; empty when all checks held.
    pub violations: Vec<Violation>,
    /// The protocol's formula metric.
    pub formula: Formula,
    /// Agreement ratio in `[0, 1]` (1.0 for protocols without a notion of it).
    pub agreement: f64,
    /// Protocol-specific summary columns, appended after the standard ones.
    pub extra_columns: Vec<(&'static str, String)>,
}

/// A finished, judged run.
pub struct RunResult {
    /// Engine output without protocol-specific observations.
    pub output: RunOutput<NoEvent>,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// Error from writing the trace, if one was requested and failed.
    pub trace_error: Option<std::io::Error>,
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node asked for something impossible during the run.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// A protocol that tools can list and run.
pub trait Protocol: Send + Sync {
    /// Kind name, variants and keys.
    fn info(&self) -> ProtocolInfo;
    /// Total node count (replicas, clients and any helper nodes) for a request, so that
    /// fault node ids can be checked before running.
    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize;
    /// Refuses configurations the protocol cannot run, beyond each key's declared
    /// bounds (which the scenario checks): keys against each other, against the node
    /// count or the workload. `run` must refuse exactly what this refuses, so build both
    /// from one function. The default accepts everything.
    fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        let _ = setup;
        Ok(())
    }
    /// Refuses keys that cannot work with the scenario's network model (a timeout
    /// shorter than the mean round trip, ...). The scenario calls it once the network
    /// is known, so `dsim check` reports it; `run` must refuse exactly what this
    /// refuses, so build both from one function. The default accepts everything.
    fn check_network(&self, setup: &Setup<'_>, network: &NetworkConfig) -> Result<(), ConfigError> {
        let _ = (setup, network);
        Ok(())
    }
    /// A rough, generous estimate of the memory this protocol's own state takes for a
    /// setup (corpora, messages in flight, tables sized by keys), in bytes, so that
    /// tools can refuse valid but huge work before starting it. The engine's per-node
    /// and per-fault costs are counted by the caller. The default is 0 (nothing big).
    fn memory_estimate_bytes(&self, setup: &Setup<'_>) -> u64 {
        let _ = setup;
        0
    }
    /// Runs and judges one simulation.
    fn run(&self, request: RunRequest) -> Result<RunResult, RunError>;
}

/// The common body of [`Protocol::run`]: builds the simulation, schedules the faults,
/// attaches the trace, runs for the requested duration and hands back the output.
pub fn execute<N: Node>(
    request: RunRequest,
    node_count: usize,
    factory: impl FnMut(NodeId, &N::Durable) -> N + 'static,
) -> Result<(RunOutput<N::Event>, Option<std::io::Error>), RunError> {
    let mut sim = Simulation::new(request.config, node_count, factory)?;
    for (at, fault) in request.faults {
        sim.schedule_fault(at, fault)?;
    }
    if let Some(trace) = request.trace {
        sim.set_trace(trace);
    }
    // In slices of virtual time, so that a watcher sees progress; the slices are the
    // same whether or not anyone watches, and do not change the run (see progress.rs).
    let end = SimTime::ZERO + request.duration;
    for index in 1..=CHECKPOINTS {
        sim.run_until(checkpoint(end, index))?;
        report(&Progress {
            now: sim.now(),
            end,
            events: sim.counters().events,
        });
    }
    let trace_error = sim.finish_trace().err();
    Ok((sim.into_output(), trace_error))
}

/// Strips protocol-specific observations, for reports.
pub fn generic_output<E>(output: RunOutput<E>) -> RunOutput<NoEvent> {
    RunOutput {
        seed: output.seed,
        node_count: output.node_count,
        end_time: output.end_time,
        counters: output.counters,
        fingerprint: output.fingerprint,
        observations: output
            .observations
            .iter()
            .filter_map(|record| record.generic())
            .collect(),
        fault_log: output.fault_log,
        messages: output.messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;

    #[test]
    fn idle_clients_name_client_numbers_and_leave_the_interval_alone() {
        let idle = IdleClients::from_clients(&[0, 65, 255]).expect("in range");
        // A set that lost a word or a bit would answer some of these wrongly.
        assert_eq!(idle.clients(), vec![0, 65, 255]);
        assert!(idle.is_idle(65) && !idle.is_idle(64) && !idle.is_idle(256));
        assert_eq!(IdleClients::from_clients(&[256]), Err(256));
        // Clients follow the replicas: with 3 replicas, node 3 is client 0 and node 0
        // is a replica, never idle.
        assert!(idle.is_idle_node(3, NodeId(3)));
        assert!(!idle.is_idle_node(3, NodeId(0)) && !idle.is_idle_node(3, NodeId(4)));
        // Idle clients keep their share of the rate, so the others' gap is unchanged.
        let all = Workload {
            clients: 4,
            rate_per_s: 100.0,
            idle_clients: IdleClients::NONE,
            arrival: Arrival::Fixed,
        };
        let some_idle = Workload {
            idle_clients: IdleClients::from_clients(&[1, 2]).expect("in range"),
            ..all
        };
        assert_eq!(some_idle.client_interval(), all.client_interval());
        assert!(IdleClients::NONE.is_empty() && !some_idle.idle_clients.is_empty());
    }
}
