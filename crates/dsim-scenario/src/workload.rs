//! The workload's shape and retry policy: `[workload] outstanding` / `think_time`
//! (closed loop), `[[workload.phase]]` (rate changes) and `[workload.retry]`. The
//! open-loop keys (`clients`, `rate`, `arrival`, `idle_clients`) are read in
//! [`crate::scenario`], which calls [`parse_shape`] with the table it is reading.

use crate::error::ScenarioError;
use crate::reader::{At, TableReader, as_array, as_duration, as_text, error, quote};
use crate::tree::Item;
use crate::units::{self, RATE_HELP};
use dsim_core::{
    Backoff, ClosedLoop, Jitter, PhaseError, RatePhase, RatePhases, RetryPolicy, SimDuration,
    SimTime,
};

/// The keys this module reads from `[workload]`.
pub const SHAPE_FIELDS: &[&str] = &["outstanding", "think_time", "phase", "retry"];
const RETRY_FIELDS: &[&str] = &[
    "policy",
    "timeout",
    "base",
    "cap",
    "jitter",
    "max_attempts",
    "budget",
];
const PHASE_FIELDS: &[&str] = &["at", "rate"];
const OUTSTANDING_HELP: &str =
    "a whole number of operations each client keeps in flight, from 1 to 100000";
const OUTSTANDING_MAX: i64 = 100_000;
const POLICY_HELP: &str = "\"fixed\" (the same delay before every retry, the default) or \"exponential\" (base * 2^n, up to cap)";
const JITTER_HELP: &str = "\"none\" (the default) or \"full\" (each delay uniform in [0, delay])";
const ATTEMPTS_HELP: &str = "a whole number of attempts per operation, the first included, from 1 to 1000 (absent: retry until the run ends)";
const BUDGET_HELP: &str =
    "a ratio of retries per first attempt over the last 10s, from 0 to 10, e.g. 0.1";

/// The closed-loop, phase and retry parts of `[workload]`, as read from a table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shape {
    /// `outstanding` and `think_time`, if the workload is closed loop.
    pub closed_loop: Option<At<ClosedLoop>>,
    /// The rate phases, in time order.
    pub phases: RatePhases,
    /// The retry policy (the default when there is no `retry` table).
    pub retry: RetryPolicy,
}

/// Reads the keys of [`SHAPE_FIELDS`] from the `[workload]` table.
pub fn parse_shape(table: &mut TableReader) -> Result<Shape, ScenarioError> {
    let outstanding = table.int("outstanding", OUTSTANDING_HELP)?;
    let think_time = table.duration("think_time")?;
    let closed_loop = match (outstanding, think_time) {
        (None, None) => None,
        (None, Some(think)) => {
            return Err(error(
                &think.origin,
                "workload.think_time",
                "think_time without outstanding",
                "think_time only with outstanding = k (a closed-loop workload)",
            ));
        }
        (Some(at), think) => {
            if !(1..=OUTSTANDING_MAX).contains(&at.value) {
                return Err(error(
                    &at.origin,
                    "workload.outstanding",
                    format!("found {}", at.value),
                    OUTSTANDING_HELP,
                ));
            }
            Some(At {
                value: ClosedLoop {
                    outstanding: at.value as u32,
                    think_time: think.map_or(SimDuration::ZERO, |think| think.value),
                },
                origin: at.origin,
            })
        }
    };
    let phases = match table.take("phase") {
        None => RatePhases::NONE,
        Some(item) => parse_phases(item)?,
    };
    let retry = match table.take("retry") {
        None => RetryPolicy::default(),
        Some(item) => parse_retry(item)?,
    };
    Ok(Shape {
        closed_loop,
        phases,
        retry,
    })
}

/// A rate such as `"200/s"`: finite, from 0 to 1e9 per second.
pub fn parse_rate_item(item: Item, field: &str) -> Result<f64, ScenarioError> {
    let origin = item.origin.clone();
    let text = as_text(item, field, RATE_HELP)?;
    match units::parse_rate(&text.value) {
        Some(rate) if rate.is_finite() && (0.0..=1e9).contains(&rate) => Ok(rate),
        _ => Err(error(
            &origin,
            field,
            format!("cannot read {} as a rate", quote(&text.value)),
            RATE_HELP,
        )),
    }
}

/// `[[workload.phase]]`: tables of `at` and `rate`, strictly increasing in `at`.
fn parse_phases(item: Item) -> Result<RatePhases, ScenarioError> {
    let allowed = "[[workload.phase]] tables, each with at = \"10s\" and rate = \"500/s\"";
    let mut phases = RatePhases::NONE;
    for (i, element) in as_array(item, "workload.phase", allowed)?
        .into_iter()
        .enumerate()
    {
        let path = format!("workload.phase[{i}]");
        let mut table = TableReader::new(element, &path)?;
        let at = table.require("at", "when the phase starts, e.g. at = \"10s\"")?;
        let at = as_duration(at, &format!("{path}.at"))?;
        let rate = table.require("rate", RATE_HELP)?;
        let rate = parse_rate_item(rate, &format!("{path}.rate"))?;
        table.finish(PHASE_FIELDS)?;
        let phase = RatePhase {
            at: SimTime(at.value.as_nanos()),
            rate_per_s: rate,
        };
        if let Err(problem) = phases.push(phase) {
            let allowed = match problem {
                PhaseError::TooMany => format!("at most {} phases", RatePhases::MAX),
                PhaseError::OutOfOrder { .. } => {
                    "phases in time order, each starting after the previous one".to_string()
                }
                PhaseError::BadRate(_) => RATE_HELP.to_string(),
            };
            return Err(error(
                &at.origin,
                &format!("{path}.at"),
                problem.to_string(),
                allowed,
            ));
        }
    }
    Ok(phases)
}

/// `[workload.retry]`.
fn parse_retry(item: Item) -> Result<RetryPolicy, ScenarioError> {
    let mut table = TableReader::new(item, "workload.retry")?;
    let mut policy = RetryPolicy::default();
    if let Some(at) = table.text("policy", POLICY_HELP)? {
        policy.backoff = match at.value.as_str() {
            "fixed" => Backoff::Fixed,
            "exponential" => Backoff::Exponential,
            other => {
                return Err(error(
                    &at.origin,
                    "workload.retry.policy",
                    format!("found {}", quote(other)),
                    POLICY_HELP,
                ));
            }
        };
    }
    if let Some(at) = table.duration("timeout")? {
        if at.value == SimDuration::ZERO {
            return Err(error(
                &at.origin,
                "workload.retry.timeout",
                "found zero",
                "a positive per-attempt timeout, e.g. \"100ms\"",
            ));
        }
        policy.timeout = Some(at.value);
    }
    let base = table.duration("base")?;
    if let Some(at) = &base {
        policy.base = at.value;
    }
    if let Some(at) = table.duration("cap")? {
        if at.value < policy.base {
            return Err(error(
                &at.origin,
                "workload.retry.cap",
                format!("{} is below base {}", at.value, policy.base),
                "a cap at least as long as base",
            ));
        }
        policy.cap = at.value;
    } else if let Some(at) = &base
        && at.value > policy.cap
    {
        return Err(error(
            &at.origin,
            "workload.retry.base",
            format!("{} is above the default cap {}", at.value, policy.cap),
            "a base up to cap (set cap too)",
        ));
    }
    if let Some(at) = table.text("jitter", JITTER_HELP)? {
        policy.jitter = match at.value.as_str() {
            "none" => Jitter::None,
            "full" => Jitter::Full,
            other => {
                return Err(error(
                    &at.origin,
                    "workload.retry.jitter",
                    format!("found {}", quote(other)),
                    JITTER_HELP,
                ));
            }
        };
    }
    if let Some(at) = table.int("max_attempts", ATTEMPTS_HELP)? {
        if !(1..=1000).contains(&at.value) {
            return Err(error(
                &at.origin,
                "workload.retry.max_attempts",
                format!("found {}", at.value),
                ATTEMPTS_HELP,
            ));
        }
        policy.max_attempts = Some(at.value as u32);
    }
    if let Some(at) = table.number("budget", BUDGET_HELP)? {
        if !(0.0..=RetryPolicy::BUDGET_RATIO_MAX).contains(&at.value) {
            return Err(error(
                &at.origin,
                "workload.retry.budget",
                format!("found {}", at.value),
                BUDGET_HELP,
            ));
        }
        policy.budget_ratio = Some(at.value);
    }
    table.finish(RETRY_FIELDS)?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Item, Value, apply_override};

    fn shape_of(flags: &[&str]) -> Result<Shape, ScenarioError> {
        let mut root = Item {
            value: Value::Table(Vec::new()),
            origin: crate::error::Origin::Flag("test".into()),
        };
        for flag in flags {
            apply_override(&mut root, flag)?;
        }
        let mut top = TableReader::new(root, "")?;
        let workload = top.require("workload", "").expect("flags set workload");
        let mut table = TableReader::new(workload, "workload")?;
        let shape = parse_shape(&mut table)?;
        table.finish(SHAPE_FIELDS)?;
        Ok(shape)
    }

    #[test]
    fn retry_policy_set_by_flag_builds_a_table_that_was_not_there() {
        // `--set workload.retry.policy=exponential` on a scenario without a retry table
        // must switch the policy and leave every other setting at its default.
        let shape = shape_of(&[
            "workload.retry.policy=exponential",
            "workload.retry.jitter=full",
            "workload.retry.budget=0.1",
        ])
        .unwrap();
        assert_eq!(shape.retry.backoff, Backoff::Exponential);
        assert_eq!(shape.retry.jitter, Jitter::Full);
        assert_eq!(shape.retry.budget_ratio, Some(0.1));
        assert_eq!(shape.retry.timeout, RetryPolicy::default().timeout);
    }

    #[test]
    fn bad_retry_values_name_the_field() {
        // Each bad value must be refused at its own field; a silently accepted one
        // would run a different policy than the file says.
        for (flag, field) in [
            ("workload.retry.policy=linear", "workload.retry.policy"),
            ("workload.retry.jitter=half", "workload.retry.jitter"),
            ("workload.retry.budget=-0.1", "workload.retry.budget"),
            ("workload.retry.budget=11", "workload.retry.budget"),
            ("workload.retry.budget=nan", "workload.retry.budget"),
            (
                "workload.retry.max_attempts=0",
                "workload.retry.max_attempts",
            ),
            ("workload.retry.timeout=0s", "workload.retry.timeout"),
            ("workload.retry.base=-1s", "workload.retry.base"),
            ("workload.retry.colour=1", "workload.retry.colour"),
        ] {
            let error = shape_of(&[flag]).expect_err(flag);
            assert_eq!(error.field, field, "{flag}");
        }
        let error = shape_of(&["workload.retry.base=2s", "workload.retry.cap=1s"]).unwrap_err();
        assert_eq!(error.field, "workload.retry.cap");
    }

    #[test]
    fn think_time_needs_outstanding() {
        // think_time alone would silently run open loop.
        let error = shape_of(&["workload.think_time=10ms"]).unwrap_err();
        assert_eq!(error.field, "workload.think_time");
        let shape = shape_of(&["workload.outstanding=4", "workload.think_time=10ms"]).unwrap();
        assert_eq!(
            shape.closed_loop.map(|at| at.value),
            Some(ClosedLoop {
                outstanding: 4,
                think_time: SimDuration::from_millis(10)
            })
        );
        let error = shape_of(&["workload.outstanding=0"]).unwrap_err();
        assert_eq!(error.field, "workload.outstanding");
    }
}
