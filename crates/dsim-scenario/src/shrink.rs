//! Shrinking a failing run to a minimal scenario that still fails the same check.
//!
//! Three passes, each keeping the seed and requiring the *same* check to fail:
//! 1. delta debugging (Zeller's ddmin) over the concrete fault list, grouped into fault
//!    windows — a crash with its restart, a partition, cut or isolation with its heal —
//!    so every candidate stays valid and a "fault" is what a person would call one;
//! 2. the shortest duration (binary search, to the millisecond) that still fails;
//! 3. a lighter workload: fewer active clients (ddmin again), then a lower rate.
//!
//! A client is dropped by making it idle (`[workload] idle_clients`), not by lowering
//! the client count: every node keeps its id, its random stream and (through the
//! unchanged per-client interval) its schedule, so the remaining clients issue what they
//! issued before, and faults naming client or helper nodes stay valid.

use crate::registry::Registry;
use crate::run::{RunOptions, run_scenario};
use crate::scenario::{Scenario, ScheduledFault};
use dsim_core::{Fault, IdleClients, RunError, SimDuration, SimTime, Workload};

/// What shrinking found.
#[derive(Clone, Debug)]
pub struct ShrinkOutcome {
    /// The check that fails (the first violation's) in the original and the result.
    pub check: &'static str,
    /// The minimal scenario (faults explicit: nemesis and drawn entries written out).
    pub scenario: Scenario,
    /// Faults before shrinking (explicit, drawn and nemesis).
    pub original_faults: usize,
    /// Fault windows before shrinking (see [`fault_windows`]).
    pub original_windows: usize,
    /// Fault windows after shrinking.
    pub windows: usize,
    /// Duration before shrinking.
    pub original_duration: SimDuration,
    /// Workload before shrinking.
    pub original_workload: Workload,
    /// The client numbers still active in the result (client `c` is node
    /// `nodes + c`), or `None` when the protocol has no client nodes to drop.
    pub kept_clients: Option<Vec<usize>>,
    /// Runs it took.
    pub runs: usize,
}

/// Why shrinking could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The original run holds every check: nothing to shrink.
    #[error("seed {0} does not fail any check: nothing to shrink")]
    DoesNotFail(u64),
    /// A run could not be carried out.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A fault window: faults removed or kept together.
type Unit = Vec<ScheduledFault>;

/// True for faults that a `Heal` ends.
fn is_network_fault(fault: &Fault) -> bool {
    matches!(
        fault,
        Fault::Partition(_) | Fault::Cut { .. } | Fault::Isolate(_)
    )
}

/// Groups faults into fault windows, removed or kept together: a crash with the next
/// restart of the same node, a partition, cut or isolation with the heal that ends it
/// (when no other network fault starts in between); every other fault on its own.
pub fn fault_windows(faults: &[ScheduledFault]) -> Vec<Vec<ScheduledFault>> {
    let mut taken = vec![false; faults.len()];
    let mut result = Vec::new();
    for i in 0..faults.len() {
        if taken[i] {
            continue;
        }
        taken[i] = true;
        let mut unit = vec![faults[i].clone()];
        let end = match faults[i].fault {
            Fault::Crash(node) => (i + 1..faults.len())
                .find(|&j| !taken[j] && faults[j].fault == Fault::Restart(node)),
            ref fault if is_network_fault(fault) => (i + 1..faults.len())
                .find(|&j| faults[j].fault == Fault::Heal || is_network_fault(&faults[j].fault))
                .filter(|&j| !taken[j] && faults[j].fault == Fault::Heal),
            _ => None,
        };
        if let Some(j) = end {
            taken[j] = true;
            unit.push(faults[j].clone());
        }
        result.push(unit);
    }
    result
}

fn flatten(units: &[Unit]) -> Vec<ScheduledFault> {
    let mut faults: Vec<ScheduledFault> = units.iter().flatten().cloned().collect();
    faults.sort_by_key(|fault| fault.at);
    faults
}

struct Shrinker<'a> {
    registry: &'a Registry,
    check: &'static str,
    runs: usize,
    progress: &'a mut dyn FnMut(&str),
}

impl Shrinker<'_> {
    /// True if `scenario` still fails `self.check`.
    fn fails(&mut self, scenario: &Scenario) -> Result<bool, RunError> {
        self.runs += 1;
        let result = run_scenario(self.registry, scenario, RunOptions::default())?;
        Ok(result
            .verdict
            .violations
            .iter()
            .any(|v| v.check == self.check))
    }

    fn with_faults(base: &Scenario, units: &[Unit]) -> Scenario {
        let mut candidate = base.clone();
        candidate.faults = flatten(units);
        candidate
    }

    /// ddmin over the fault windows.
    fn minimise_faults(
        &mut self,
        base: &Scenario,
        current: Vec<Unit>,
    ) -> Result<Vec<Unit>, RunError> {
        self.ddmin(current, "faults", &mut |units| {
            Self::with_faults(base, units)
        })
    }

    /// ddmin: the smallest subset of `current` (1-minimal) whose scenario, built by
    /// `candidate`, still fails.
    fn ddmin<T: Clone>(
        &mut self,
        mut current: Vec<T>,
        what: &str,
        candidate: &mut dyn FnMut(&[T]) -> Scenario,
    ) -> Result<Vec<T>, RunError> {
        let mut granularity = 2usize;
        while current.len() >= 2 {
            let chunk = current.len().div_ceil(granularity);
            let chunks: Vec<Vec<T>> = current.chunks(chunk).map(<[T]>::to_vec).collect();
            let mut reduced = false;
            // Try each chunk alone, then each complement.
            for subset in &chunks {
                if self.fails(&candidate(subset))? {
                    current = subset.clone();
                    granularity = 2;
                    reduced = true;
                    break;
                }
            }
            if !reduced && chunks.len() > 2 {
                for skip in 0..chunks.len() {
                    let complement: Vec<T> = chunks
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != skip)
                        .flat_map(|(_, c)| c.clone())
                        .collect();
                    if self.fails(&candidate(&complement))? {
                        current = complement;
                        granularity = (granularity - 1).max(2);
                        reduced = true;
                        break;
                    }
                }
            }
            if !reduced {
                if granularity >= current.len() {
                    break;
                }
                granularity = (granularity * 2).min(current.len());
            }
            (self.progress)(&format!("{what}: {} left", current.len()));
        }
        // A single remaining element may not be needed at all.
        if current.len() == 1 && self.fails(&candidate(&[]))? {
            current.clear();
        }
        Ok(current)
    }

    /// The shortest duration, to the millisecond, that still fails.
    fn minimise_duration(&mut self, scenario: &mut Scenario) -> Result<(), RunError> {
        let last_fault = scenario
            .faults
            .iter()
            .map(|f| f.at)
            .max()
            .unwrap_or(SimTime::ZERO);
        let step = 1_000_000u64;
        let mut low = (last_fault.as_nanos() / step).max(1); // may not fail
        let mut high = scenario.duration.as_nanos().div_ceil(step); // fails
        while low + 1 < high {
            let middle = low + (high - low) / 2;
            let mut candidate = scenario.clone();
            candidate.duration = SimDuration(middle * step);
            if self.fails(&candidate)? {
                high = middle;
            } else {
                low = middle;
            }
        }
        let shortest = SimDuration(high * step).min(scenario.duration);
        if shortest < scenario.duration {
            let mut candidate = scenario.clone();
            candidate.duration = shortest;
            if self.fails(&candidate)? {
                scenario.duration = shortest;
            }
        }
        (self.progress)(&format!("duration: {}", scenario.duration));
        Ok(())
    }

    /// Fewer active clients (the others idle, keeping their ids), then a lower rate,
    /// while it still fails.
    fn minimise_workload(&mut self, scenario: &mut Scenario) -> Result<(), RunError> {
        if self.has_client_nodes(scenario) {
            let active = active_clients(&scenario.workload);
            let base = scenario.clone();
            let kept = self.ddmin(active, "clients", &mut |kept| with_active(&base, kept))?;
            *scenario = with_active(&base, &kept);
        }
        while scenario.workload.rate_per_s > 1.0 {
            let mut candidate = scenario.clone();
            candidate.workload.rate_per_s = (scenario.workload.rate_per_s / 2.0).floor().max(1.0);
            if !self.fails(&candidate)? {
                break;
            }
            *scenario = candidate;
        }
        (self.progress)(&format!(
            "workload: {} of {} clients active at {}/s",
            active_clients(&scenario.workload).len(),
            scenario.workload.clients,
            scenario.workload.rate_per_s
        ));
        Ok(())
    }

    /// True if the scenario's protocol lays its clients out as nodes (so that they can
    /// be made idle); MapReduce and `hold` have none.
    fn has_client_nodes(&self, scenario: &Scenario) -> bool {
        let protocol = self
            .registry
            .get(&scenario.kind)
            .expect("kind is registered");
        let without = Workload {
            clients: 0,
            ..scenario.workload
        };
        protocol.total_nodes(scenario.nodes, &scenario.workload)
            != protocol.total_nodes(scenario.nodes, &without)
    }
}

/// The client numbers that issue operations: not idle, and only the first
/// [`IdleClients::MAX`] (a client past those cannot be made idle, so it is not offered).
pub fn active_clients(workload: &Workload) -> Vec<usize> {
    (0..workload.clients.min(IdleClients::MAX))
        .filter(|&client| !workload.idle_clients.is_idle(client))
        .collect()
}

/// `base` with only the clients in `kept` active, among those [`active_clients`] offers.
fn with_active(base: &Scenario, kept: &[usize]) -> Scenario {
    let idle: Vec<usize> = (0..base.workload.clients.min(IdleClients::MAX))
        .filter(|client| !kept.contains(client))
        .collect();
    let mut candidate = base.clone();
    candidate.workload.idle_clients =
        IdleClients::from_clients(&idle).expect("client numbers below IdleClients::MAX");
    candidate
}

/// Shrinks `scenario` (with its seed) to a minimal scenario that fails the same check.
/// `progress` hears a line after each step.
pub fn shrink(
    registry: &Registry,
    scenario: &Scenario,
    progress: &mut dyn FnMut(&str),
) -> Result<ShrinkOutcome, ShrinkError> {
    let original = run_scenario(registry, scenario, RunOptions::default())?;
    let Some(first) = original.verdict.violations.first() else {
        return Err(ShrinkError::DoesNotFail(scenario.seed));
    };
    let concrete = scenario.concrete_faults();
    let mut base = scenario.clone();
    base.nemesis = None;
    // The drawn entries' picks are in `concrete`, one fault per node, so each picked
    // crash shrinks with its own restart.
    base.drawn_faults.clear();
    base.faults = concrete.clone();
    let mut shrinker = Shrinker {
        registry,
        check: first.check,
        runs: 1,
        progress,
    };
    let kept = shrinker.minimise_faults(&base, fault_windows(&concrete))?;
    let mut minimal = base.clone();
    minimal.faults = flatten(&kept);
    shrinker.minimise_duration(&mut minimal)?;
    shrinker.minimise_workload(&mut minimal)?;
    let kept_clients = shrinker
        .has_client_nodes(&minimal)
        .then(|| active_clients(&minimal.workload));
    let check = shrinker.check;
    let runs = shrinker.runs;
    Ok(ShrinkOutcome {
        check,
        scenario: minimal,
        original_faults: concrete.len(),
        original_windows: fault_windows(&concrete).len(),
        windows: kept.len(),
        original_duration: scenario.duration,
        original_workload: scenario.workload,
        kept_clients,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::NodeId;

    fn at(ms: u64, fault: Fault) -> ScheduledFault {
        ScheduledFault {
            at: SimTime(ms * 1_000_000),
            fault,
        }
    }

    #[test]
    fn a_crash_and_its_restart_shrink_together() {
        let faults = vec![
            at(1, Fault::Crash(NodeId(1))),
            at(2, Fault::Heal),
            at(3, Fault::Restart(NodeId(1))),
            at(4, Fault::Restart(NodeId(2))),
        ];
        let grouped = fault_windows(&faults);
        assert_eq!(grouped.len(), 3);
        assert_eq!(grouped[0].len(), 2, "crash 1 travels with restart 1");
        assert_eq!(flatten(&grouped), faults, "flattening restores time order");
        let network = vec![
            at(1, Fault::Isolate(NodeId(3))),
            at(2, Fault::Partition(vec![vec![NodeId(0)], vec![NodeId(1)]])),
            at(3, Fault::Heal),
        ];
        let grouped = fault_windows(&network);
        // The heal ends the partition that started last; the isolation stands alone.
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].len(), 1);
        assert_eq!(grouped[1].len(), 2);
    }
}
