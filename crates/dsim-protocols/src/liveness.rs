//! The liveness phase of a run, read from its fault log: when the last fault ended, which
//! nodes were still down at the end, and whether the network was whole again.
//!
//! Protocols judge liveness only inside this phase (TigerBeetle's VOPR does the same: a
//! safety phase with faults, then a liveness phase in which everything heals and the
//! system must converge by a deadline). Each protocol states its own bound and which
//! nodes must be up; this module only says what the faults left behind.

use dsim_core::{Fault, FaultRecord, NodeId, OpRecord, Outcome, SimDuration, SimTime};
use std::collections::{BTreeMap, BTreeSet};

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
                Fault::Pause { duration, .. }
                | Fault::Degrade { duration, .. }
                | Fault::Slow { duration, .. }
                | Fault::SlowDisk { duration, .. } => record.time.saturating_add(*duration),
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

/// A client starved in the liveness phase: `in_a_row` of its operations, judged in
/// invocation order, ended without the outcome the protocol promises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Starved {
    /// The client node.
    pub client: NodeId,
    /// The first operation of the run, and when it was invoked.
    pub first: (u64, SimTime),
    /// The operation that completed the run, and when it was invoked.
    pub last: (u64, SimTime),
}

/// Finds starved clients among the client operations `ops` (paired, as in
/// [`dsim_core::RunOutput::ops`]) invoked at or after `from`. `answered` says whether a completion outcome is the one liveness
/// promises; an operation still unfinished at `end` counts as unanswered once its
/// `timeout` ran out, and not at all before. Clients in `phase.down` are not judged.
/// Reports the first run of `in_a_row` unanswered operations per client.
pub fn starved<'a>(
    ops: impl IntoIterator<Item = &'a OpRecord>,
    phase: &LivenessPhase,
    from: SimTime,
    end: SimTime,
    timeout: SimDuration,
    in_a_row: usize,
    answered: impl Fn(Outcome) -> bool,
) -> Vec<Starved> {
    let mut per_client: BTreeMap<NodeId, Vec<(SimTime, u64, bool)>> = BTreeMap::new();
    for record in ops {
        let at = record.start;
        if at < from {
            continue;
        }
        let ok = match record.outcome {
            Some(outcome) => answered(outcome),
            None if at.saturating_add(timeout) < end => false,
            None => continue,
        };
        if !phase.down.contains(&record.client) {
            per_client
                .entry(record.client)
                .or_default()
                .push((at, record.client_op, ok));
        }
    }
    let mut found = Vec::new();
    for (client, mut ops) in per_client {
        ops.sort_unstable();
        let mut row: Vec<(u64, SimTime)> = Vec::new();
        for (at, op, ok) in ops {
            if ok {
                row.clear();
                continue;
            }
            row.push((op, at));
            if row.len() == in_a_row.max(1) {
                found.push(Starved {
                    client,
                    first: row[0],
                    last: (op, at),
                });
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{Observation, ObservationRecord, Value};

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

    #[test]
    fn only_a_run_of_unanswered_operations_in_a_row_is_starvation() {
        let ms = |ms: u64| SimTime(ms * 1_000_000);
        let op = |at: u64, node: u32, observation| ObservationRecord::<()> {
            time: ms(at),
            node: NodeId(node),
            observation,
        };
        let invoked = |op| Observation::OpInvoked {
            op,
            f: "op",
            key: None,
            arg: Value::Nil,
        };
        let done = |op, outcome| Observation::OpCompleted {
            op,
            outcome,
            ret: Value::Nil,
        };
        let timeout = Outcome::Info("timeout");
        let observations = vec![
            op(10, 7, invoked(1)), // before `from`: not judged
            op(100, 7, invoked(2)),
            op(150, 7, done(2, timeout)),
            op(200, 7, invoked(3)),
            op(250, 7, done(3, Outcome::Ok)),
            op(300, 7, invoked(4)),
            op(350, 7, done(4, timeout)),
            op(400, 7, invoked(5)),
            // op 5 never completes: its timeout ran out before the end.
            op(500, 8, invoked(1)),
            op(550, 8, done(1, timeout)),
        ];
        let phase = LivenessPhase::of(&[]);
        let found = starved(
            &dsim_core::ops::pair(&observations),
            &phase,
            ms(50),
            ms(2_000),
            SimDuration::from_millis(100),
            2,
            |o| o == Outcome::Ok,
        );
        // Client 7: op 2 failed but op 3 answered, then ops 4 and 5 went unanswered in a
        // row; client 8 failed once only.
        assert_eq!(
            found,
            vec![Starved {
                client: NodeId(7),
                first: (4, ms(300)),
                last: (5, ms(400)),
            }]
        );
    }
}
