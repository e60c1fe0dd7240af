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
use crate::observe::{NoEvent, ObservationRecord};
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

/// A protocol's variants as a Rust enum, so that code matches on `Variant::NoWriteBack`
/// instead of comparing strings: a typo is a compile error, and the names `dsim list`
/// shows, `dsim check` accepts and the protocol runs are the same list, declared once.
///
/// Declare one with [`protocol_variants!`](crate::protocol_variants), which writes the
/// enum and this impl; [`ProtocolVariant::SPECS`] is what [`ProtocolInfo::variants`]
/// takes, and [`RunRequest::variant_as`] turns the scenario's text into the enum.
///
/// ```
/// use dsim_core::ProtocolVariant;
///
/// dsim_core::protocol_variants! {
///     /// How this register behaves.
///     pub enum Variant {
///         /// The algorithm as published.
///         Correct => "correct": "reads write back before returning",
///         /// A planted bug.
///         NoWriteBack => "no-write-back": "BUG: reads return without writing back",
///     }
/// }
///
/// assert_eq!(Variant::NoWriteBack.name(), "no-write-back");
/// assert_eq!(Variant::from_name("correct").ok(), Some(Variant::Correct));
/// assert_eq!(Variant::SPECS[1].help, "BUG: reads return without writing back");
/// let typo = Variant::from_name("no-writeback").unwrap_err().to_string();
/// assert!(typo.contains("correct, no-write-back"), "{typo}");
/// ```
pub trait ProtocolVariant: Copy + Eq + fmt::Debug + 'static {
    /// Every variant's name and help, `correct` first, in the order of [`Self::ALL`].
    const SPECS: &'static [VariantSpec];
    /// Every variant, in the order of [`Self::SPECS`].
    const ALL: &'static [Self];

    /// The variant's name in scenario files.
    fn name(self) -> &'static str {
        self.spec().name
    }

    /// What the variant does differently, in one line.
    fn description(self) -> &'static str {
        self.spec().help
    }

    /// The variant's entry in [`Self::SPECS`].
    fn spec(self) -> VariantSpec {
        let index = Self::ALL
            .iter()
            .position(|&variant| variant == self)
            .expect("ProtocolVariant::ALL lists every variant");
        Self::SPECS[index]
    }

    /// The variant named `name`, or an error listing the names allowed.
    fn from_name(name: &str) -> Result<Self, ConfigError> {
        Self::ALL
            .iter()
            .copied()
            .find(|variant| variant.name() == name)
            .ok_or_else(|| {
                let allowed: Vec<&str> = Self::SPECS.iter().map(|spec| spec.name).collect();
                ConfigError::Invalid(format!(
                    "protocol.variant: unknown variant `{name}`; allowed: {}",
                    allowed.join(", ")
                ))
            })
    }
}

/// Declares a protocol's variants: an enum (`Clone, Copy, Debug, PartialEq, Eq`) and its
/// [`ProtocolVariant`] impl, each variant written `Ident => "name": "help"`, `correct`
/// first. See [`ProtocolVariant`] for an example.
#[macro_export]
macro_rules! protocol_variants {
    (
        $(#[$meta:meta])*
        $vis:vis enum $enum:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $name:literal : $help:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $enum {
            $($(#[$variant_meta])* $variant),+
        }

        impl $crate::ProtocolVariant for $enum {
            const SPECS: &'static [$crate::VariantSpec] = &[
                $($crate::VariantSpec { name: $name, help: $help }),+
            ];
            const ALL: &'static [Self] = &[$($enum::$variant),+];
        }
    };
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
    /// How each client spaces its operations (open loop).
    pub arrival: Arrival,
    /// Closed loop instead of open loop (`[workload] outstanding`, `think_time`): each
    /// client keeps this many operations in flight and ignores `rate_per_s`,
    /// `arrival` and `phases`. `None` (the default) is open loop.
    pub closed_loop: Option<ClosedLoop>,
    /// Rate changes over the run (`[[workload.phase]]`), in time order; empty by default.
    pub phases: RatePhases,
    /// How clients time out and retry an operation (`[workload.retry]`).
    pub retry: RetryPolicy,
}

impl Default for Workload {
    /// One client at 100 operations per second, fixed gaps, open loop, no phases, the
    /// default retry policy: what a scenario without a `[workload]` table runs.
    fn default() -> Workload {
        Workload {
            clients: 1,
            rate_per_s: 100.0,
            idle_clients: IdleClients::NONE,
            arrival: Arrival::Fixed,
            closed_loop: None,
            phases: RatePhases::NONE,
            retry: RetryPolicy::default(),
        }
    }
}

/// A closed-loop workload: a client starts an operation only when one of its
/// `outstanding` slots is free, after `think_time` (the interactive response time law's
/// Z) since that slot's last operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedLoop {
    /// Operations each client keeps in flight, at least 1.
    pub outstanding: u32,
    /// Pause between an operation's end and the next one in the same slot.
    pub think_time: SimDuration,
}

/// From `at` on, all clients together run at `rate_per_s` (`[[workload.phase]]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatePhase {
    /// When the phase starts (virtual time since the run's start).
    pub at: SimTime,
    /// Operations per second across all clients from then on; 0 pauses the workload.
    pub rate_per_s: f64,
}

/// The rate phases of a workload, in strictly increasing `at` order, at most
/// [`RatePhases::MAX`] of them. A fixed-size array so that [`Workload`] stays `Copy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatePhases {
    len: usize,
    phases: [RatePhase; RatePhases::MAX],
}

/// Why a [`RatePhases::push`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum PhaseError {
    /// More than [`RatePhases::MAX`] phases.
    #[error("more than {} phases", RatePhases::MAX)]
    TooMany,
    /// The phase does not start after the previous one.
    #[error("starts at {at}, not after the previous phase at {previous}")]
    OutOfOrder {
        /// This phase's start.
        at: SimTime,
        /// The previous phase's start.
        previous: SimTime,
    },
    /// The rate is negative, infinite or NaN.
    #[error("rate {0} is not a finite number of operations per second from 0")]
    BadRate(f64),
}

impl Default for RatePhases {
    fn default() -> RatePhases {
        RatePhases::NONE
    }
}

impl RatePhases {
    /// How many phases a workload can hold.
    pub const MAX: usize = 32;
    /// No phase: the workload's `rate_per_s` holds for the whole run.
    pub const NONE: RatePhases = RatePhases {
        len: 0,
        phases: [RatePhase {
            at: SimTime::ZERO,
            rate_per_s: 0.0,
        }; RatePhases::MAX],
    };

    /// Appends a phase, which must start after the last one and have a finite rate
    /// from 0.
    pub fn push(&mut self, phase: RatePhase) -> Result<(), PhaseError> {
        if !(phase.rate_per_s.is_finite() && phase.rate_per_s >= 0.0) {
            return Err(PhaseError::BadRate(phase.rate_per_s));
        }
        if let Some(last) = self.as_slice().last()
            && phase.at <= last.at
        {
            return Err(PhaseError::OutOfOrder {
                at: phase.at,
                previous: last.at,
            });
        }
        if self.len == Self::MAX {
            return Err(PhaseError::TooMany);
        }
        self.phases[self.len] = phase;
        self.len += 1;
        Ok(())
    }

    /// The phases, in time order.
    pub fn as_slice(&self) -> &[RatePhase] {
        &self.phases[..self.len]
    }

    /// True if there is no phase.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How long a client waits between a timed-out attempt and the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backoff {
    /// Always `base` (capped by `cap`): the naive policy.
    #[default]
    Fixed,
    /// `min(cap, base * 2^n)` before retry number `n` (from 0).
    Exponential,
}

impl Backoff {
    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Backoff::Fixed => "fixed",
            Backoff::Exponential => "exponential",
        }
    }
}

/// Randomization of a backoff delay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// The delay exactly.
    #[default]
    None,
    /// Uniform in `[0, delay]` ("full jitter", Brooker, AWS Architecture Blog 2015).
    Full,
}

impl Jitter {
    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
        }
    }
}

/// A client's retry policy (`[workload.retry]`): per-attempt timeout, backoff between
/// attempts, attempt limit, and a retry budget.
///
/// The budget is Finagle's `RetryBudget` (and gRPC's retry throttling) in its simplest
/// form: within the last [`RetryPolicy::BUDGET_WINDOW`], a client sends at most
/// `budget_ratio` retries per first attempt; a retry over budget is not sent and the
/// operation ends `info`. It is what keeps retries from multiplying load in overload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Per-attempt timeout; `None` leaves it to the protocol (its own key, or for the
    /// `queue` kind: wait forever, never retry).
    pub timeout: Option<SimDuration>,
    /// Fixed or exponential backoff.
    pub backoff: Backoff,
    /// Delay before the first retry (and every retry with `Fixed`).
    pub base: SimDuration,
    /// Longest delay between attempts.
    pub cap: SimDuration,
    /// Randomization of each delay.
    pub jitter: Jitter,
    /// Attempts per operation, the first included; `None` retries until the run ends.
    pub max_attempts: Option<u32>,
    /// Retries allowed per first attempt within the budget window; `None` is no budget.
    pub budget_ratio: Option<f64>,
}

impl RetryPolicy {
    /// The window over which the budget counts first attempts and retries: 10 s, as
    /// Finagle's default `ttl`.
    pub const BUDGET_WINDOW: SimDuration = SimDuration::from_secs(10);
    /// The largest `budget_ratio` accepted: 10 retries per first attempt.
    pub const BUDGET_RATIO_MAX: f64 = 10.0;
}

impl Default for RetryPolicy {
    /// The protocol's own timeout, retry immediately, forever, no jitter, no budget:
    /// how every built-in client behaved before retry policies existed.
    fn default() -> RetryPolicy {
        RetryPolicy {
            timeout: None,
            backoff: Backoff::Fixed,
            base: SimDuration::ZERO,
            cap: SimDuration::from_secs(10),
            jitter: Jitter::None,
            max_attempts: None,
            budget_ratio: None,
        }
    }
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
        self.interval_at_rate(self.rate_per_s)
            .unwrap_or(SimDuration::from_secs(1))
    }

    /// The gap between two operations of one client when all clients together run at
    /// `rate_per_s`; `None` for a rate of 0 (or no clients).
    pub fn interval_at_rate(&self, rate_per_s: f64) -> Option<SimDuration> {
        if rate_per_s <= 0.0 || self.clients == 0 {
            return None;
        }
        let ns = (self.clients as f64 * 1e9 / rate_per_s).round();
        Some(SimDuration(ns.clamp(1.0, 1e18) as u64))
    }

    /// The rate in force at `time`: the last phase started by then, else `rate_per_s`.
    pub fn rate_at(&self, time: SimTime) -> f64 {
        self.phases
            .as_slice()
            .iter()
            .rev()
            .find(|phase| phase.at <= time)
            .map_or(self.rate_per_s, |phase| phase.rate_per_s)
    }

    /// The start of the first phase strictly after `time`, if any.
    pub fn next_phase_after(&self, time: SimTime) -> Option<SimTime> {
        self.phases
            .as_slice()
            .iter()
            .map(|phase| phase.at)
            .find(|&at| at > time)
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

/// A named set of a protocol's nodes (see [`Protocol::node_groups`]): the ids
/// `nodes.start..nodes.end`, e.g. MapReduce's `workers` or 2PC's `participants`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeGroup {
    /// The name scenario files use (`among = "workers"`).
    pub name: &'static str,
    /// The node ids of the group, a contiguous range.
    pub nodes: std::ops::Range<u32>,
}

impl NodeGroup {
    /// The group `name` of the nodes `nodes`.
    pub fn new(name: &'static str, nodes: std::ops::Range<u32>) -> NodeGroup {
        NodeGroup { name, nodes }
    }

    /// Its node ids, in order.
    pub fn members(&self) -> impl Iterator<Item = crate::NodeId> + '_ {
        self.nodes.clone().map(crate::NodeId)
    }

    /// How many nodes it holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if it holds no node (a protocol run without clients).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
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
    /// Sees each client operation's invocation and completion as the engine pairs them
    /// ([`crate::ops::OpSink`]), e.g. to write `ops.csv` and `history.edn` during the
    /// run; the run is the same with or without it.
    pub ops_sink: Option<Box<dyn crate::ops::OpSink>>,
}

impl RunRequest {
    /// The request's variant as the protocol's enum (see [`ProtocolVariant`]); an
    /// unknown name is refused with the names allowed.
    ///
    /// ```
    /// # dsim_core::protocol_variants! { enum Variant { Correct => "correct": "as published" } }
    /// # use dsim_core::{Arrival, IdleClients, Params, RunRequest, SimConfig, SimDuration, Workload};
    /// let request = RunRequest {
    ///     config: SimConfig::default(),
    ///     nodes: 3,
    ///     variant: "correct".into(),
    ///     params: Params::default(),
    ///     workload: Workload::default(),
    ///     duration: SimDuration::from_secs(1),
    ///     faults: Vec::new(),
    ///     trace: None, ops_sink: None,
    /// };
    /// assert_eq!(request.variant_as::<Variant>().ok(), Some(Variant::Correct));
    /// ```
    pub fn variant_as<V: ProtocolVariant>(&self) -> Result<V, ConfigError> {
        V::from_name(&self.variant)
    }

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
    /// The client operations involved, by their `op_id` in `ops.csv` (the order of
    /// invocation over the run, from 0): for a history check, the checker's failing
    /// window. Empty when the check is not about operations.
    pub ops: Vec<u64>,
    /// A small SVG picture of the violation for the report, when the checker draws one
    /// (an isolation anomaly's dependency cycle); `None` otherwise.
    pub figure: Option<String>,
}

impl Violation {
    /// A violation involving no operations; add them with [`Violation::with_ops`].
    ///
    /// ```
    /// use dsim_core::{NodeId, SimTime, Violation};
    ///
    /// let violation = Violation::new(SimTime(9), "linearizable", vec![NodeId(4)], "a stale read")
    ///     .with_ops(vec![12, 7, 12]);
    /// assert_eq!(violation.check, "linearizable");
    /// assert_eq!(violation.ops, vec![7, 12], "sorted, each once");
    /// ```
    pub fn new(
        time: SimTime,
        check: &'static str,
        nodes: Vec<NodeId>,
        details: impl Into<String>,
    ) -> Violation {
        Violation {
            time,
            check,
            nodes,
            details: details.into(),
            ops: Vec::new(),
            figure: None,
        }
    }

    /// The violation with these operations (`ops.csv` op ids) involved, sorted and each
    /// once.
    pub fn with_ops(mut self, mut ops: Vec<u64>) -> Violation {
        ops.sort_unstable();
        ops.dedup();
        self.ops = ops;
        self
    }

    /// The violation with an SVG picture (a complete `<svg>` element) that the report
    /// shows under the violations table.
    pub fn with_figure(mut self, svg: impl Into<String>) -> Violation {
        self.figure = Some(svg.into());
        self
    }
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

impl Verdict {
    /// The formula [`Verdict::new`] reports unless told otherwise: the mean latency of
    /// the `ok` operations in `ops.csv`.
    pub const DEFAULT_FORMULA: Formula = Formula::MeanOkLatency {
        name: "mean_ok_latency",
    };

    /// A verdict with these violations, the default formula
    /// ([`Verdict::DEFAULT_FORMULA`]), agreement 1.0 and no extra columns; change
    /// those with the `with_` methods.
    ///
    /// ```
    /// use dsim_core::{Formula, SimTime, Verdict, Violation};
    ///
    /// let verdict = Verdict::new(Vec::new());
    /// assert!(verdict.violations.is_empty());
    /// assert_eq!((verdict.formula, verdict.agreement), (Verdict::DEFAULT_FORMULA, 1.0));
    ///
    /// let broken = Violation::new(SimTime(5), "linearizable", Vec::new(), "a stale read");
    /// let verdict = Verdict::new(vec![broken])
    ///     .with_formula(Formula::MeanOkLatency { name: "R" })
    ///     .with_agreement(0.8)
    ///     .with_column("reads", "12".into());
    /// assert_eq!(verdict.violations[0].check, "linearizable");
    /// assert_eq!(verdict.agreement, 0.8);
    /// assert_eq!(verdict.extra_columns, vec![("reads", "12".to_string())]);
    /// ```
    pub fn new(violations: Vec<Violation>) -> Verdict {
        Verdict {
            violations,
            formula: Verdict::DEFAULT_FORMULA,
            agreement: 1.0,
            extra_columns: Vec::new(),
        }
    }

    /// The verdict with `formula` as the protocol's formula metric.
    pub fn with_formula(mut self, formula: Formula) -> Verdict {
        self.formula = formula;
        self
    }

    /// The verdict with this agreement ratio (in `[0, 1]`).
    pub fn with_agreement(mut self, agreement: f64) -> Verdict {
        self.agreement = agreement;
        self
    }

    /// The verdict with one more protocol-specific summary column, after those already
    /// added.
    pub fn with_column(mut self, name: &'static str, value: String) -> Verdict {
        self.extra_columns.push((name, value));
        self
    }

    /// The value of the protocol-specific summary column `name`, if the verdict has it.
    ///
    /// ```
    /// use dsim_core::Verdict;
    ///
    /// let verdict = Verdict::new(Vec::new()).with_column("reads", "12".into());
    /// assert_eq!(verdict.column("reads"), Some("12"));
    /// assert_eq!(verdict.column("writes"), None);
    /// ```
    pub fn column(&self, name: &str) -> Option<&str> {
        self.extra_columns
            .iter()
            .find(|(column, _)| *column == name)
            .map(|(_, value)| value.as_str())
    }
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
///
/// Two methods are required, [`Protocol::info`] and [`Protocol::run`]; the others have
/// defaults. A whole protocol, with a node that pings node 0 once:
///
/// ```
/// use dsim_core::protocol::{execute, generic_output};
/// use dsim_core::{
///     Ctx, Node, NodeId, Protocol, ProtocolInfo, RunError, RunRequest, RunResult, VariantSpec,
///     Verdict,
/// };
///
/// struct Pinger;
///
/// impl Node for Pinger {
///     type Msg = ();
///     type Timer = ();
///     type Durable = ();
///     type Event = ();
///     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
///         if ctx.id() != NodeId(0) {
///             ctx.send(NodeId(0), ());
///         }
///     }
///     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
///     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
/// }
///
/// struct Ping;
///
/// impl Protocol for Ping {
///     fn info(&self) -> ProtocolInfo {
///         ProtocolInfo {
///             kind: "ping",
///             summary: "every node pings node 0",
///             variants: &[VariantSpec { name: "correct", help: "as is" }],
///             params: &[],
///             nodes_range: (1, 9),
///         }
///     }
///
///     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
///         let nodes = self.total_nodes(request.nodes, &request.workload);
///         let (output, trace_error) = execute(request, nodes, |_, _| Pinger)?;
///         // Judge from observations here; this protocol has nothing to check.
///         let verdict = Verdict::new(Vec::new());
///         Ok(RunResult { output: generic_output(output), verdict, trace_error })
///     }
/// }
/// # assert_eq!(Ping.info().kind, "ping");
/// ```
pub trait Protocol: Send + Sync {
    /// Kind name, variants and keys.
    ///
    /// ```
    /// # use dsim_core::protocol::{execute, generic_output};
    /// # use dsim_core::{Arrival, ConfigError, Ctx, IdleClients, NetworkConfig, Node, NodeId, Params,
    /// #     Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    /// #     VariantSpec, Verdict, Workload};
    /// # struct Quiet;
    /// # impl Node for Quiet {
    /// #     type Msg = (); type Timer = (); type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
    /// #         if ctx.id() != NodeId(0) { ctx.send(NodeId(0), ()); }
    /// #     }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// # fn workload(clients: usize) -> Workload {
    /// #     Workload { clients, rate_per_s: 10.0, ..Workload::default() }
    /// # }
    /// # fn request(nodes: usize, clients: usize) -> RunRequest {
    /// #     RunRequest { config: SimConfig::default(), nodes, variant: "correct".into(),
    /// #         params: Params::default(), workload: workload(clients),
    /// #         duration: SimDuration::from_millis(100), faults: Vec::new(), trace: None, ops_sink: None }
    /// # }
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
    /// #         let nodes = self.total_nodes(request.nodes, &request.workload);
    /// #         let (output, trace_error) = execute(request, nodes, |_, _| Quiet)?;
    /// #         Ok(RunResult { output: generic_output(output), verdict: Verdict::new(Vec::new()), trace_error })
    /// #     }
    /// # }
    /// let info = Ping.info();
    /// // What `dsim list` shows, and what `dsim check` accepts for `kind` and `variant`.
    /// assert_eq!(info.kind, "ping");
    /// assert_eq!(info.variants[0].name, "correct");
    /// assert_eq!(info.nodes_range, (1, 9));
    /// ```
    fn info(&self) -> ProtocolInfo;
    /// Total node count (replicas, clients and any helper nodes) for a request, so that
    /// fault node ids can be checked before running. The default is the replicas
    /// followed by one node per client, `nodes + workload.clients`; a protocol with
    /// helper nodes, or whose clients are not nodes, overrides it.
    ///
    /// ```
    /// # use dsim_core::protocol::{execute, generic_output};
    /// # use dsim_core::{Arrival, ConfigError, Ctx, IdleClients, NetworkConfig, Node, NodeId, Params,
    /// #     Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    /// #     VariantSpec, Verdict, Workload};
    /// # struct Quiet;
    /// # impl Node for Quiet {
    /// #     type Msg = (); type Timer = (); type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
    /// #         if ctx.id() != NodeId(0) { ctx.send(NodeId(0), ()); }
    /// #     }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// # fn workload(clients: usize) -> Workload {
    /// #     Workload { clients, rate_per_s: 10.0, ..Workload::default() }
    /// # }
    /// # fn request(nodes: usize, clients: usize) -> RunRequest {
    /// #     RunRequest { config: SimConfig::default(), nodes, variant: "correct".into(),
    /// #         params: Params::default(), workload: workload(clients),
    /// #         duration: SimDuration::from_millis(100), faults: Vec::new(), trace: None, ops_sink: None }
    /// # }
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
    /// #         let nodes = self.total_nodes(request.nodes, &request.workload);
    /// #         let (output, trace_error) = execute(request, nodes, |_, _| Quiet)?;
    /// #         Ok(RunResult { output: generic_output(output), verdict: Verdict::new(Vec::new()), trace_error })
    /// #     }
    /// # }
    /// // The default: 3 replicas followed by 2 client nodes, so a fault may name 0..5.
    /// assert_eq!(Ping.total_nodes(3, &workload(2)), 5);
    /// ```
    fn total_nodes(&self, nodes: usize, workload: &Workload) -> usize {
        nodes + workload.clients
    }
    /// Refuses configurations the protocol cannot run, beyond each key's declared
    /// bounds (which the scenario checks): keys against each other, against the node
    /// count or the workload. `run` must refuse exactly what this refuses, so build both
    /// from one function. The default accepts everything.
    ///
    /// ```
    /// # use dsim_core::protocol::{execute, generic_output};
    /// # use dsim_core::{Arrival, ConfigError, Ctx, IdleClients, NetworkConfig, Node, NodeId, Params,
    /// #     Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    /// #     VariantSpec, Verdict, Workload};
    /// # struct Quiet;
    /// # impl Node for Quiet {
    /// #     type Msg = (); type Timer = (); type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
    /// #         if ctx.id() != NodeId(0) { ctx.send(NodeId(0), ()); }
    /// #     }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// # fn workload(clients: usize) -> Workload {
    /// #     Workload { clients, rate_per_s: 10.0, ..Workload::default() }
    /// # }
    /// # fn request(nodes: usize, clients: usize) -> RunRequest {
    /// #     RunRequest { config: SimConfig::default(), nodes, variant: "correct".into(),
    /// #         params: Params::default(), workload: workload(clients),
    /// #         duration: SimDuration::from_millis(100), faults: Vec::new(), trace: None, ops_sink: None }
    /// # }
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> { odd_replicas(setup) }
    /// #     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
    /// #         let nodes = self.total_nodes(request.nodes, &request.workload);
    /// #         let (output, trace_error) = execute(request, nodes, |_, _| Quiet)?;
    /// #         Ok(RunResult { output: generic_output(output), verdict: Verdict::new(Vec::new()), trace_error })
    /// #     }
    /// # }
    /// // One function that both `check_setup` and `run` call:
    /// fn odd_replicas(setup: &Setup<'_>) -> Result<(), ConfigError> {
    ///     if setup.nodes % 2 == 0 {
    ///         return Err(ConfigError::Invalid(format!(
    ///             "protocol.nodes: {} replicas; use an odd number", setup.nodes
    ///         )));
    ///     }
    ///     Ok(())
    /// }
    /// let params = Params::default();
    /// let setup = |nodes| Setup { nodes, variant: "correct", params: &params, workload: workload(1) };
    /// assert!(Ping.check_setup(&setup(3)).is_ok());
    /// let refused = Ping.check_setup(&setup(4)).unwrap_err().to_string();
    /// assert!(refused.contains("odd"), "{refused}");
    /// ```
    fn check_setup(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        let _ = setup;
        Ok(())
    }
    /// Refuses keys that cannot work with the scenario's network model (a timeout
    /// shorter than the mean round trip, ...). The scenario calls it once the network
    /// is known, so `dsim check` reports it; `run` must refuse exactly what this
    /// refuses, so build both from one function. The default accepts everything.
    ///
    /// ```
    /// # use dsim_core::protocol::{execute, generic_output};
    /// # use dsim_core::{Arrival, ConfigError, Ctx, IdleClients, NetworkConfig, Node, NodeId, Params,
    /// #     Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    /// #     VariantSpec, Verdict, Workload};
    /// # struct Quiet;
    /// # impl Node for Quiet {
    /// #     type Msg = (); type Timer = (); type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
    /// #         if ctx.id() != NodeId(0) { ctx.send(NodeId(0), ()); }
    /// #     }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// # fn workload(clients: usize) -> Workload {
    /// #     Workload { clients, rate_per_s: 10.0, ..Workload::default() }
    /// # }
    /// # fn request(nodes: usize, clients: usize) -> RunRequest {
    /// #     RunRequest { config: SimConfig::default(), nodes, variant: "correct".into(),
    /// #         params: Params::default(), workload: workload(clients),
    /// #         duration: SimDuration::from_millis(100), faults: Vec::new(), trace: None, ops_sink: None }
    /// # }
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
    /// #         let nodes = self.total_nodes(request.nodes, &request.workload);
    /// #         let (output, trace_error) = execute(request, nodes, |_, _| Quiet)?;
    /// #         Ok(RunResult { output: generic_output(output), verdict: Verdict::new(Vec::new()), trace_error })
    /// #     }
    /// # }
    /// let params = Params::default();
    /// let setup = Setup { nodes: 3, variant: "correct", params: &params, workload: workload(1) };
    /// // The default accepts any network.
    /// assert!(Ping.check_network(&setup, &NetworkConfig::default()).is_ok());
    /// ```
    fn check_network(&self, setup: &Setup<'_>, network: &NetworkConfig) -> Result<(), ConfigError> {
        let _ = (setup, network);
        Ok(())
    }
    /// A rough, generous estimate of the memory this protocol's own state takes for a
    /// setup (corpora, messages in flight, tables sized by keys), in bytes, so that
    /// tools can refuse valid but huge work before starting it. The engine's per-node
    /// and per-fault costs are counted by the caller. The default is 0 (nothing big).
    ///
    /// ```
    /// # use dsim_core::protocol::{execute, generic_output};
    /// # use dsim_core::{Arrival, ConfigError, Ctx, IdleClients, NetworkConfig, Node, NodeId, Params,
    /// #     Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    /// #     VariantSpec, Verdict, Workload};
    /// # struct Quiet;
    /// # impl Node for Quiet {
    /// #     type Msg = (); type Timer = (); type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
    /// #         if ctx.id() != NodeId(0) { ctx.send(NodeId(0), ()); }
    /// #     }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// # fn workload(clients: usize) -> Workload {
    /// #     Workload { clients, rate_per_s: 10.0, ..Workload::default() }
    /// # }
    /// # fn request(nodes: usize, clients: usize) -> RunRequest {
    /// #     RunRequest { config: SimConfig::default(), nodes, variant: "correct".into(),
    /// #         params: Params::default(), workload: workload(clients),
    /// #         duration: SimDuration::from_millis(100), faults: Vec::new(), trace: None, ops_sink: None }
    /// # }
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
    /// #         let nodes = self.total_nodes(request.nodes, &request.workload);
    /// #         let (output, trace_error) = execute(request, nodes, |_, _| Quiet)?;
    /// #         Ok(RunResult { output: generic_output(output), verdict: Verdict::new(Vec::new()), trace_error })
    /// #     }
    /// # }
    /// let params = Params::default();
    /// let setup = Setup { nodes: 3, variant: "correct", params: &params, workload: workload(1) };
    /// // Nothing big by default; a protocol holding a corpus would estimate its bytes.
    /// assert_eq!(Ping.memory_estimate_bytes(&setup), 0);
    /// ```
    fn memory_estimate_bytes(&self, setup: &Setup<'_>) -> u64 {
        let _ = setup;
        0
    }
    /// The protocol's named node groups for a setup, so that a scenario can name a
    /// group instead of node ids (`crash = { count = 200, among = "workers" }`) while
    /// the scenario parser knows no protocol. Groups are disjoint, in node-id order,
    /// and lie within [`Self::total_nodes`]; an empty group (no clients) is listed
    /// too. The default matches the default [`Self::total_nodes`]: `replicas` are
    /// `0..nodes` and `clients` follow them.
    ///
    /// ```
    /// # use dsim_core::{NodeGroup, Params, Protocol, ProtocolInfo, RunError, RunRequest,
    /// #     RunResult, Setup, VariantSpec, Workload};
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn run(&self, _: RunRequest) -> Result<RunResult, RunError> { unreachable!() }
    /// # }
    /// let params = Params::default();
    /// let workload = Workload { clients: 2, ..Workload::default() };
    /// let setup = Setup { nodes: 3, variant: "correct", params: &params, workload };
    /// // The default layout: replicas 0, 1, 2, then the clients 3 and 4.
    /// assert_eq!(
    ///     Ping.node_groups(&setup),
    ///     vec![NodeGroup::new("replicas", 0..3), NodeGroup::new("clients", 3..5)]
    /// );
    /// ```
    fn node_groups(&self, setup: &Setup<'_>) -> Vec<NodeGroup> {
        let replicas = setup.nodes as u32;
        let clients = setup.workload.clients as u32;
        vec![
            NodeGroup::new("replicas", 0..replicas),
            NodeGroup::new("clients", replicas..replicas + clients),
        ]
    }
    /// Runs and judges one simulation.
    ///
    /// ```
    /// # use dsim_core::protocol::{execute, generic_output};
    /// # use dsim_core::{Arrival, ConfigError, Ctx, IdleClients, NetworkConfig, Node, NodeId, Params,
    /// #     Protocol, ProtocolInfo, RunError, RunRequest, RunResult, Setup, SimConfig, SimDuration,
    /// #     VariantSpec, Verdict, Workload};
    /// # struct Quiet;
    /// # impl Node for Quiet {
    /// #     type Msg = (); type Timer = (); type Durable = (); type Event = ();
    /// #     fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
    /// #         if ctx.id() != NodeId(0) { ctx.send(NodeId(0), ()); }
    /// #     }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    /// # }
    /// # fn workload(clients: usize) -> Workload {
    /// #     Workload { clients, rate_per_s: 10.0, ..Workload::default() }
    /// # }
    /// # fn request(nodes: usize, clients: usize) -> RunRequest {
    /// #     RunRequest { config: SimConfig::default(), nodes, variant: "correct".into(),
    /// #         params: Params::default(), workload: workload(clients),
    /// #         duration: SimDuration::from_millis(100), faults: Vec::new(), trace: None, ops_sink: None }
    /// # }
    /// # struct Ping;
    /// # impl Protocol for Ping {
    /// #     fn info(&self) -> ProtocolInfo {
    /// #         ProtocolInfo { kind: "ping", summary: "every node pings node 0",
    /// #             variants: &[VariantSpec { name: "correct", help: "as is" }],
    /// #             params: &[], nodes_range: (1, 9) }
    /// #     }
    /// #     fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
    /// #         let nodes = self.total_nodes(request.nodes, &request.workload);
    /// #         let (output, trace_error) = execute(request, nodes, |_, _| Quiet)?;
    /// #         Ok(RunResult { output: generic_output(output), verdict: Verdict::new(Vec::new()), trace_error })
    /// #     }
    /// # }
    /// let result = Ping.run(request(3, 2)).expect("runs");
    /// // 3 replicas and 2 clients; every node but 0 sent one ping.
    /// assert_eq!(result.output.node_count, 5);
    /// assert_eq!(result.output.counters.messages_sent, 4);
    /// assert!(result.verdict.violations.is_empty());
    /// ```
    fn run(&self, request: RunRequest) -> Result<RunResult, RunError>;
}

/// The common body of [`Protocol::run`]: builds the simulation, schedules the faults,
/// attaches the trace, runs for the requested duration and hands back the output.
pub fn execute<N: Node>(
    request: RunRequest,
    node_count: usize,
    factory: impl FnMut(NodeId, &N::Durable) -> N + 'static,
) -> Result<(RunOutput<N::Event>, Option<std::io::Error>), RunError> {
    execute_with_sink(request, node_count, factory, None)
}

/// [`execute`] with an observation sink attached for the whole run (see
/// [`crate::ObservationSink`]): the output keeps only the observations the sink asked to
/// keep. A protocol whose checker judges incrementally uses this so that a long run's
/// memory does not grow with observations nobody needs at the end.
pub fn execute_with_sink<N: Node>(
    request: RunRequest,
    node_count: usize,
    factory: impl FnMut(NodeId, &N::Durable) -> N + 'static,
    sink: Option<Box<dyn crate::ObservationSink<N::Event>>>,
) -> Result<(RunOutput<N::Event>, Option<std::io::Error>), RunError> {
    let mut sim = Simulation::new(request.config, node_count, factory)?;
    for (at, fault) in request.faults {
        sim.schedule_fault(at, fault)?;
    }
    if let Some(trace) = request.trace {
        sim.set_trace(trace);
    }
    if let Some(ops_sink) = request.ops_sink {
        sim.set_op_sink(ops_sink);
    }
    if let Some(sink) = sink {
        sim.set_observation_sink(sink);
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
            .into_iter()
            .filter_map(ObservationRecord::into_generic)
            .collect(),
        ops: output.ops,
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
            ..Workload::default()
        };
        let some_idle = Workload {
            idle_clients: IdleClients::from_clients(&[1, 2]).expect("in range"),
            ..all
        };
        assert_eq!(some_idle.client_interval(), all.client_interval());
        assert!(IdleClients::NONE.is_empty() && !some_idle.idle_clients.is_empty());
    }
}
