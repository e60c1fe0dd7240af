//! The liveness phase of a run, read from its fault log: when the last fault ended, which
//! nodes were still down at the end, and whether the network was whole again.
//!
//! Protocols judge liveness only inside this phase (TigerBeetle's VOPR does the same: a
//! safety phase with faults, then a liveness phase in which everything heals and the
//! system must converge by a deadline). Each protocol states its own bound and which
//! nodes must be up; this module only says what the faults left behind.

use dsim_core::{Fault, FaultRecord, NodeId, SimTime};
use std::collections::BTreeSet;

/// What the faults of a run left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivenessPhase {
    /// When the last fault that affects availability ended (a pause or degradation at
    /// its end, anything else when it was applied; clock faults do not count). Zero for
    /// a fault-free run.
    pub start: SimTime,
    /// Nodes crashed and not restarted by the end of the run.
    pub down: BTreeSet<NodeId>,
    /// Nodes that crashed at some point (restarted or not).
    pub ever_crashed: BTreeSet<NodeId>,
    /// True unless a partition, cut or isolation was left unhealed.
    pub network_whole: bool,
}

impl LivenessPhase {
    /// The phase of a run with this fault log (faults in the order they took effect).
    pub fn of(fault_log: &[FaultRecord]) -> LivenessPhase {
        let mut start = SimTime::ZERO;
        let mut down = BTreeSet::new();
        let mut ever_crashed = BTreeSet::new();
        let mut network_whole = true;
        for record in fault_log {
            let ended = match &record.fault {
                Fault::Crash(node) => {
                    down.insert(*node);
                    ever_crashed.insert(*node);
                    record.time
                }
                Fault::Restart(node) => {
                    down.remove(node);
                    record.time
                }
                Fault::Pause { duration, .. } | Fault::Degrade { duration, .. } => {
                    record.time.saturating_add(*duration)
                }
                Fault::Partition(_) | Fault::Cut { .. } | Fault::Isolate(_) => {
                    network_whole = false;
                    record.time
                }
                Fault::Heal => {
                    network_whole = true;
                    record.time
                }
                Fault::ClockOffset { .. } | Fault::ClockDrift { .. } => continue,
            };
            start = start.max(ended);
        }
        LivenessPhase {
            start,
            down,
            ever_crashed,
            network_whole,
        }
    }

    /// How many of `nodes` are up at the end of the run.
    pub fn up_among(&self, nodes: impl IntoIterator<Item = NodeId>) -> usize {
        nodes
            .into_iter()
            .filter(|node| !self.down.contains(node))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::SimDuration;

    fn at(ms: u64, fault: Fault) -> FaultRecord {
        FaultRecord {
            time: SimTime(ms * 1_000_000),
            fault,
        }
    }

    #[test]
    fn the_phase_starts_when_the_last_fault_ends_and_remembers_what_stayed_broken() {
        let log = vec![
            at(10, Fault::Crash(NodeId(1))),
            at(20, Fault::Partition(vec![vec![NodeId(0)], vec![NodeId(2)]])),
            at(
                30,
                Fault::Pause {
                    node: NodeId(2),
                    duration: SimDuration::from_millis(100),
                },
            ),
            at(40, Fault::Heal),
            at(
                500,
                Fault::ClockDrift {
                    node: NodeId(0),
                    drift_ppm: 50,
                },
            ),
        ];
        let phase = LivenessPhase::of(&log);
        // The pause ends at 130 ms, after the heal; the clock fault never blocks
        // progress, so it does not push the phase back.
        assert_eq!(phase.start, SimTime(130 * 1_000_000));
        assert_eq!(phase.down, BTreeSet::from([NodeId(1)]));
        assert_eq!(phase.ever_crashed, BTreeSet::from([NodeId(1)]));
        assert!(phase.network_whole);
        assert_eq!(phase.up_among((0..3).map(NodeId)), 2);
        let unhealed = LivenessPhase::of(&[at(5, Fault::Isolate(NodeId(0)))]);
        // An isolation never healed leaves no liveness phase to judge.
        assert!(!unhealed.network_whole);
        assert_eq!(LivenessPhase::of(&[]).start, SimTime::ZERO);
    }
}
