//! Fault windows: the run's fault log turned into time spans, for `timeline.csv` and
//! the charts.
//!
//! - `crash n` lasts until `restart n` (or the end of the run);
//! - `pause n` lasts its duration; overlapping pauses of one node merge, as in the
//!   engine, and a crash ends a pause;
//! - `partition` lasts until the next partition (which replaces it) or `heal`;
//! - `cut` and `isolate n` last until `heal`;
//! - `degrade` lasts its duration.
//!
//! Clock offsets and drifts are instants, not windows, and are left out.

use dsim_core::{Delay, Fault, FaultRecord, NodeId, SimDuration, SimTime};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The kinds of fault that last for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WindowKind {
    /// A node is down.
    Crash,
    /// A node is stalled.
    Pause,
    /// The nodes are split into groups.
    Partition,
    /// A one-way cut between node sets.
    Cut,
    /// A node is cut off both ways.
    Isolate,
    /// Links are slower or lossier.
    Degrade,
}

impl WindowKind {
    /// Every kind, in legend order.
    pub const ALL: [WindowKind; 6] = [
        WindowKind::Crash,
        WindowKind::Pause,
        WindowKind::Partition,
        WindowKind::Cut,
        WindowKind::Isolate,
        WindowKind::Degrade,
    ];

    /// The fault's word, as in scenario files.
    pub fn word(self) -> &'static str {
        match self {
            WindowKind::Crash => "crash",
            WindowKind::Pause => "pause",
            WindowKind::Partition => "partition",
            WindowKind::Cut => "cut",
            WindowKind::Isolate => "isolate",
            WindowKind::Degrade => "degrade",
        }
    }
}

/// A span of virtual time during which one fault was in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// What kind of fault.
    pub kind: WindowKind,
    /// The nodes it names (empty for "every link" degradations).
    pub nodes: Vec<NodeId>,
    /// When it took effect.
    pub start: SimTime,
    /// When it stopped (the run's end if it never did).
    pub end: SimTime,
    /// True when it was still in effect when the run ended.
    pub open_at_end: bool,
    /// Short label for tables and charts: `crash n2`, `pause n1`, `partition`, `cut`,
    /// `isolate n3`, `degrade`.
    pub label: String,
    /// One line with everything the fault said, e.g. `partition {n0 n1} {n2 n3 n4}`.
    pub details: String,
}

impl FaultWindow {
    /// True when the window overlaps `[from, to)`; a zero-length window counts when
    /// its instant falls inside.
    pub fn overlaps(&self, from: SimTime, to: SimTime) -> bool {
        if self.start == self.end {
            self.start >= from && self.start < to
        } else {
            self.start < to && self.end > from
        }
    }
}

fn node_list(nodes: &[NodeId]) -> String {
    nodes
        .iter()
        .map(|node| node.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe_delay(delay: &Delay) -> String {
    let ns = |value: f64| SimDuration(value.max(0.0).round() as u64).to_string();
    match delay {
        Delay::Constant { ns: value } => format!("latency {}", SimDuration(*value)),
        Delay::Uniform { min_ns, max_ns } => {
            format!(
                "latency uniform {}..{}",
                SimDuration(*min_ns),
                SimDuration(*max_ns)
            )
        }
        Delay::Normal {
            mean_ns,
            std_dev_ns,
        } => {
            format!(
                "latency normal mean {} sd {}",
                ns(*mean_ns),
                ns(*std_dev_ns)
            )
        }
        Delay::Exponential { mean_ns } => format!("latency exponential mean {}", ns(*mean_ns)),
        Delay::LogNormal { median_ns, sigma } => {
            format!("latency lognormal median {} sigma {sigma}", ns(*median_ns))
        }
        Delay::Pareto { scale_ns, shape } => {
            format!("latency pareto scale {} shape {shape}", ns(*scale_ns))
        }
    }
}

struct Builder {
    windows: Vec<FaultWindow>,
    end: SimTime,
}

impl Builder {
    fn open(
        &mut self,
        kind: WindowKind,
        nodes: Vec<NodeId>,
        start: SimTime,
        label: String,
        details: String,
    ) -> usize {
        self.windows.push(FaultWindow {
            kind,
            nodes,
            start,
            end: self.end.max(start),
            open_at_end: true,
            label,
            details,
        });
        self.windows.len() - 1
    }

    fn close(&mut self, index: usize, at: SimTime) {
        let window = &mut self.windows[index];
        window.end = at.min(self.end).max(window.start);
        window.open_at_end = at > self.end;
    }

    /// A window of known length: ends at `start + duration`, or open at the run's end.
    fn timed(&mut self, index: usize, duration: SimDuration) {
        let until = self.windows[index].start.saturating_add(duration);
        if until < self.end {
            self.close(index, until);
        }
    }
}

/// The windows of `fault_log` (in the order the faults took effect), cut at `end`, the
/// end of the run.
pub fn fault_windows(fault_log: &[FaultRecord], end: SimTime) -> Vec<FaultWindow> {
    let mut builder = Builder {
        windows: Vec::new(),
        end,
    };
    let mut crashed: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut paused: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut partition: Option<usize> = None;
    let mut cuts: Vec<usize> = Vec::new();
    for record in fault_log {
        let at = record.time;
        match &record.fault {
            Fault::Crash(node) => {
                if let Some(index) = paused.remove(node)
                    && builder.windows[index].end > at
                {
                    builder.close(index, at);
                }
                if !crashed.contains_key(node) {
                    let label = format!("crash {node}");
                    let index =
                        builder.open(WindowKind::Crash, vec![*node], at, label.clone(), label);
                    crashed.insert(*node, index);
                }
            }
            Fault::Restart(node) => {
                if let Some(index) = crashed.remove(node) {
                    builder.close(index, at);
                }
            }
            Fault::Pause { node, duration } => {
                let until = at.saturating_add(*duration);
                match paused.get(node).copied() {
                    // Overlapping pauses extend to the later end, as in the engine.
                    Some(index) if builder.windows[index].end >= at => {
                        let window = &mut builder.windows[index];
                        if until < end {
                            window.end = window.end.max(until);
                        } else {
                            window.end = end.max(window.start);
                            window.open_at_end = true;
                        }
                        let length = window.end.saturating_since(window.start);
                        window.details = format!("pause {node} for {length}");
                    }
                    _ => {
                        let index = builder.open(
                            WindowKind::Pause,
                            vec![*node],
                            at,
                            format!("pause {node}"),
                            format!("pause {node} for {duration}"),
                        );
                        builder.timed(index, *duration);
                        paused.insert(*node, index);
                    }
                }
            }
            Fault::Partition(groups) => {
                if let Some(index) = partition.take() {
                    builder.close(index, at);
                }
                let mut details = String::from("partition");
                for group in groups {
                    let _ = write!(details, " {{{}}}", node_list(group));
                }
                let nodes = groups.iter().flatten().copied().collect();
                partition = Some(builder.open(
                    WindowKind::Partition,
                    nodes,
                    at,
                    "partition".into(),
                    details,
                ));
            }
            Fault::Cut { from, to } => {
                let details = format!("cut {} -> {}", node_list(from), node_list(to));
                let nodes = from.iter().chain(to).copied().collect();
                cuts.push(builder.open(WindowKind::Cut, nodes, at, "cut".into(), details));
            }
            Fault::Isolate(node) => {
                let label = format!("isolate {node}");
                cuts.push(builder.open(WindowKind::Isolate, vec![*node], at, label.clone(), label));
            }
            Fault::Heal => {
                for index in partition.take().into_iter().chain(cuts.drain(..)) {
                    builder.close(index, at);
                }
            }
            Fault::Degrade {
                nodes,
                delay,
                drop_ratio,
                bandwidth_factor,
                duration,
            } => {
                let mut details = if nodes.is_empty() {
                    String::from("degrade all links")
                } else {
                    format!("degrade {}", node_list(nodes))
                };
                let mut changes = Vec::new();
                if let Some(delay) = delay {
                    changes.push(describe_delay(delay));
                }
                if let Some(ratio) = drop_ratio {
                    changes.push(format!("drop {ratio}"));
                }
                if let Some(factor) = bandwidth_factor {
                    changes.push(format!("bandwidth x{factor}"));
                }
                if !changes.is_empty() {
                    let _ = write!(details, " ({})", changes.join(", "));
                }
                let _ = write!(details, " for {duration}");
                let index = builder.open(
                    WindowKind::Degrade,
                    nodes.clone(),
                    at,
                    "degrade".into(),
                    details,
                );
                builder.timed(index, *duration);
            }
            Fault::ClockOffset { .. } | Fault::ClockDrift { .. } => {}
            // Fail-slow faults degrade a node for a while: shaded like degradations.
            Fault::Slow {
                node,
                factor,
                duration,
            }
            | Fault::SlowDisk {
                node,
                factor,
                duration,
            } => {
                let word = if matches!(record.fault, Fault::Slow { .. }) {
                    "slow"
                } else {
                    "slow_disk"
                };
                let details = format!("{word} {node} x{factor} for {duration}");
                let index =
                    builder.open(WindowKind::Degrade, vec![*node], at, word.into(), details);
                builder.timed(index, *duration);
            }
        }
    }
    builder.windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, fault: Fault) -> FaultRecord {
        FaultRecord {
            time: SimTime(ms * 1_000_000),
            fault,
        }
    }

    fn ms(value: u64) -> SimTime {
        SimTime(value * 1_000_000)
    }

    #[test]
    fn a_crash_lasts_until_its_restart_and_a_second_crash_until_the_end() {
        let log = [
            at(100, Fault::Crash(NodeId(2))),
            at(300, Fault::Restart(NodeId(2))),
            at(400, Fault::Crash(NodeId(2))),
        ];
        let windows = fault_windows(&log, ms(1_000));
        // Pairing the crash with anything but its own node's restart, or dropping the
        // unrestarted crash, changes these spans.
        assert_eq!(windows.len(), 2);
        assert_eq!(
            (windows[0].start, windows[0].end, windows[0].open_at_end),
            (ms(100), ms(300), false)
        );
        assert_eq!(
            (windows[1].start, windows[1].end, windows[1].open_at_end),
            (ms(400), ms(1_000), true)
        );
        assert_eq!(windows[0].label, "crash n2");
    }

    #[test]
    fn heal_ends_partitions_cuts_and_isolations_and_a_new_partition_replaces_the_old() {
        let groups = vec![vec![NodeId(0), NodeId(1)], vec![NodeId(2)]];
        let log = [
            at(100, Fault::Partition(groups.clone())),
            at(
                200,
                Fault::Partition(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]),
            ),
            at(250, Fault::Isolate(NodeId(3))),
            at(
                260,
                Fault::Cut {
                    from: vec![NodeId(0)],
                    to: vec![NodeId(1), NodeId(2)],
                },
            ),
            at(500, Fault::Heal),
        ];
        let windows = fault_windows(&log, ms(1_000));
        let spans: Vec<_> = windows
            .iter()
            .map(|w| (w.label.as_str(), w.start, w.end))
            .collect();
        assert_eq!(
            spans,
            [
                ("partition", ms(100), ms(200)),
                ("partition", ms(200), ms(500)),
                ("isolate n3", ms(250), ms(500)),
                ("cut", ms(260), ms(500)),
            ]
        );
        assert_eq!(windows[0].details, "partition {n0 n1} {n2}");
        assert_eq!(windows[3].details, "cut n0 -> n1 n2");
    }

    #[test]
    fn a_pause_lasts_its_duration_overlaps_merge_and_a_crash_ends_it() {
        let pause = |node, ms_| Fault::Pause {
            node: NodeId(node),
            duration: SimDuration::from_millis(ms_),
        };
        let log = [
            at(100, pause(1, 50)),
            at(120, pause(1, 100)), // overlaps: extends to 220
            at(300, pause(1, 10)),  // separate window 300..310
            at(400, pause(4, 200)),
            at(450, Fault::Crash(NodeId(4))), // ends the pause at 450
            at(900, pause(5, 500)),           // runs past the end
        ];
        let windows = fault_windows(&log, ms(1_000));
        let spans: Vec<_> = windows
            .iter()
            .map(|w| (w.label.as_str(), w.start, w.end, w.open_at_end))
            .collect();
        assert_eq!(
            spans,
            [
                ("pause n1", ms(100), ms(220), false),
                ("pause n1", ms(300), ms(310), false),
                ("pause n4", ms(400), ms(450), false),
                ("crash n4", ms(450), ms(1_000), true),
                ("pause n5", ms(900), ms(1_000), true),
            ]
        );
        assert_eq!(windows[0].details, "pause n1 for 120ms");
    }

    #[test]
    fn slow_faults_shade_their_node_for_their_duration() {
        // A fail-slow CPU and disk each get a window on their node, shaded like a
        // degradation, lasting exactly their duration; without the arm they would make
        // no window at all and the chart would not show the gray failure.
        let log = [
            at(
                100,
                Fault::Slow {
                    node: NodeId(0),
                    factor: 20.0,
                    duration: SimDuration::from_millis(300),
                },
            ),
            at(
                500,
                Fault::SlowDisk {
                    node: NodeId(2),
                    factor: 2.5,
                    duration: SimDuration::from_millis(100),
                },
            ),
        ];
        let windows = fault_windows(&log, ms(1_000));
        let spans: Vec<_> = windows
            .iter()
            .map(|w| (w.kind, w.nodes.clone(), w.start, w.end))
            .collect();
        assert_eq!(
            spans,
            [
                (WindowKind::Degrade, vec![NodeId(0)], ms(100), ms(400)),
                (WindowKind::Degrade, vec![NodeId(2)], ms(500), ms(600)),
            ]
        );
        assert_eq!(windows[0].details, "slow n0 x20 for 300ms");
        assert_eq!(windows[1].details, "slow_disk n2 x2.5 for 100ms");
    }

    #[test]
    fn degradations_last_their_duration_and_clock_faults_make_no_window() {
        let log = [
            at(
                10,
                Fault::ClockOffset {
                    node: NodeId(1),
                    offset_ns: -5,
                },
            ),
            at(
                20,
                Fault::Degrade {
                    nodes: vec![NodeId(0)],
                    delay: Some(Delay::Constant { ns: 50_000_000 }),
                    drop_ratio: Some(0.3),
                    bandwidth_factor: Some(0.1),
                    duration: SimDuration::from_millis(200),
                },
            ),
        ];
        let windows = fault_windows(&log, ms(1_000));
        assert_eq!(windows.len(), 1, "clock faults are instants");
        assert_eq!((windows[0].start, windows[0].end), (ms(20), ms(220)));
        assert_eq!(
            windows[0].details,
            "degrade n0 (latency 50ms, drop 0.3, bandwidth x0.1) for 200ms"
        );
    }
}
