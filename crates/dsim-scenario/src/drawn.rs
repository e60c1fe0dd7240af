//! Fault entries that name a count of nodes in a group instead of node ids:
//! `crash = { count = 200, among = "workers" }`, and the same for `restart` and `pause`.
//!
//! Groups come from the protocol ([`dsim_core::Protocol::node_groups`]), so this module
//! knows no protocol. Which nodes an entry hits is drawn when the run's faults are made
//! concrete ([`crate::Scenario::concrete_faults`]), from a stream of its own
//! ([`Stream::FaultDraws`]), so the same seed picks the same nodes, another seed others,
//! and no other stream's draws move (a scenario without such an entry runs exactly as
//! before they existed).
//!
//! Rules, checked when the file is read so that every seed's draw is valid:
//! - an entry draws only among its group's nodes that no explicit `crash`, `restart` or
//!   `pause` entry names (the two never contradict each other);
//! - `crash` and `pause` draw among those that are up (not taken down by an earlier
//!   drawn crash), `restart` among those an earlier drawn crash took down;
//! - `count` is at least 1 and at most the nodes it may draw among. Groups are disjoint,
//!   so how many of a group's nodes are down at any time does not depend on the seed,
//!   only which ones.

use crate::scenario::ScheduledFault;
use dsim_core::rng::{Stream, below, stream_rng};
use dsim_core::{Fault, NodeId, SimDuration, SimTime};
use std::collections::BTreeSet;

/// What a drawn entry does to each node it picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrawnAction {
    /// Crash nodes that are up.
    Crash,
    /// Restart nodes that an earlier drawn crash of the same group took down.
    Restart,
    /// Pause nodes that are up, for `duration`.
    Pause {
        /// How long each picked node is paused.
        duration: SimDuration,
    },
}

impl DrawnAction {
    /// The action's key in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            DrawnAction::Crash => "crash",
            DrawnAction::Restart => "restart",
            DrawnAction::Pause { .. } => "pause",
        }
    }

    fn fault(self, node: NodeId) -> Fault {
        match self {
            DrawnAction::Crash => Fault::Crash(node),
            DrawnAction::Restart => Fault::Restart(node),
            DrawnAction::Pause { duration } => Fault::Pause { node, duration },
        }
    }
}

/// One `[[faults]]` entry with `count` and `among`, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnFault {
    /// When it applies.
    pub at: SimTime,
    /// What it does to each picked node.
    pub action: DrawnAction,
    /// How many nodes it picks (at least 1, never more than it may draw among).
    pub count: usize,
    /// The group's name (`among`).
    pub group: String,
    /// The group's nodes it may draw among, in id order: the group minus the nodes that
    /// explicit crash, restart or pause entries name.
    pub candidates: Vec<NodeId>,
}

/// The nodes each entry of `drawn` (in time order, file order at equal times) picks
/// in the run with `seed`, each list in id order.
pub fn draw(seed: u64, drawn: &[DrawnFault]) -> Vec<Vec<NodeId>> {
    let mut rng = stream_rng(seed, Stream::FaultDraws);
    let mut down: BTreeSet<NodeId> = BTreeSet::new();
    let mut picks = Vec::with_capacity(drawn.len());
    for entry in drawn {
        let mut pool: Vec<NodeId> = entry
            .candidates
            .iter()
            .copied()
            .filter(|node| match entry.action {
                DrawnAction::Restart => down.contains(node),
                DrawnAction::Crash | DrawnAction::Pause { .. } => !down.contains(node),
            })
            .collect();
        assert!(
            entry.count <= pool.len(),
            "validation guarantees {} nodes to draw from, found {}",
            entry.count,
            pool.len()
        );
        // A partial Fisher-Yates shuffle: the first `count` places hold a uniform draw
        // without replacement.
        for i in 0..entry.count {
            let j = i + below(&mut rng, (pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        let mut picked = pool[..entry.count].to_vec();
        picked.sort_unstable();
        match entry.action {
            DrawnAction::Crash => down.extend(picked.iter().copied()),
            DrawnAction::Restart => {
                for node in &picked {
                    down.remove(node);
                }
            }
            DrawnAction::Pause { .. } => {}
        }
        picks.push(picked);
    }
    picks
}

/// The faults of `drawn` in the run with `seed`: one per picked node, in the entry's
/// time and node-id order.
pub fn expand(seed: u64, drawn: &[DrawnFault]) -> Vec<ScheduledFault> {
    drawn
        .iter()
        .zip(draw(seed, drawn))
        .flat_map(|(entry, picked)| {
            picked.into_iter().map(|node| ScheduledFault {
                at: entry.at,
                fault: entry.action.fault(node),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: u64, action: DrawnAction, count: usize, candidates: u32) -> DrawnFault {
        DrawnFault {
            at: SimTime(ms * 1_000_000),
            action,
            count,
            group: "workers".into(),
            candidates: (1..=candidates).map(NodeId).collect(),
        }
    }

    #[test]
    fn a_restart_picks_only_nodes_an_earlier_drawn_crash_took_down() {
        let drawn = [
            entry(1, DrawnAction::Crash, 5, 20),
            entry(2, DrawnAction::Restart, 3, 20),
            entry(3, DrawnAction::Crash, 15, 20),
        ];
        for seed in 0..50 {
            let picks = draw(seed, &drawn);
            // A restart of a node that is up, or a crash of one that is down, would
            // make the engine refuse the schedule: each pick must stay in its pool.
            assert!(
                picks[1].iter().all(|node| picks[0].contains(node)),
                "{picks:?}"
            );
            let still_down: Vec<NodeId> = picks[0]
                .iter()
                .copied()
                .filter(|node| !picks[1].contains(node))
                .collect();
            assert!(
                picks[2].iter().all(|node| !still_down.contains(node)),
                "{picks:?}"
            );
            // 2 still down, so the second crash takes every one of the other 18 but 3.
            assert_eq!(picks[2].len(), 15);
        }
    }

    #[test]
    fn expanded_faults_follow_the_entries_in_node_order() {
        let drawn = [entry(
            7,
            DrawnAction::Pause {
                duration: SimDuration::from_millis(5),
            },
            3,
            10,
        )];
        let faults = expand(9, &drawn);
        assert_eq!(faults.len(), 3);
        let nodes: Vec<NodeId> = faults
            .iter()
            .map(|scheduled| match scheduled.fault {
                Fault::Pause { node, duration } => {
                    assert_eq!(duration, SimDuration::from_millis(5));
                    node
                }
                ref other => panic!("a drawn pause expands to pauses, found {other:?}"),
            })
            .collect();
        // Sorted and distinct: unsorted or repeated ids would mean a broken draw.
        assert!(nodes.windows(2).all(|pair| pair[0] < pair[1]), "{nodes:?}");
        assert!(faults.iter().all(|f| f.at == SimTime(7_000_000)));
    }
}
