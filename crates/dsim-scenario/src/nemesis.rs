//! The seeded nemesis: random faults drawn from the run's nemesis stream, Jepsen-style,
//! turned into an explicit fault list before the run starts.
//!
//! Because the whole schedule is drawn up front from `Stream::Nemesis`, a run with a
//! nemesis is exactly a run with those faults written out: `dsim run --emit-scenario`
//! writes them as `[[faults]]` entries and the emitted file has the same fingerprint.
//!
//! Limits: at most `max_down` targets are crashed, paused or isolated at once (default:
//! a minority of the replicas); one network fault (partition, cut, isolate) at a time;
//! every fault ends by `stop` (default 80% of the run), so the rest of the run is a
//! liveness phase with everything healed and every node up.

use crate::scenario::ScheduledFault;
use dsim_core::rng::{SimRng, Stream, below, stream_rng};
use dsim_core::{Delay, Fault, NodeId, SimDuration, SimTime};

/// A kind of fault the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NemesisFault {
    /// Split the targets into two sides, then heal.
    Partition,
    /// A one-way cut between two random sets, then heal.
    Cut,
    /// Isolate one target, then heal.
    Isolate,
    /// Crash one target, then restart it.
    Crash,
    /// Pause one target for a while.
    Pause,
    /// Step a target's clock and set a drift, then put both back.
    ClockSkew,
    /// Degrade the links of one target (slow and lossy) for a while.
    Degrade,
    /// Make one target's CPU [`NEMESIS_SLOW_FACTOR`] times slower for a while (load
    /// model).
    Slow,
    /// Make one target's disk syncs [`NEMESIS_SLOW_FACTOR`] times slower for a while
    /// (load model).
    SlowDisk,
}

/// How much slower the nemesis makes a CPU or a disk.
pub const NEMESIS_SLOW_FACTOR: f64 = 10.0;

impl NemesisFault {
    /// Every kind, in the order names are listed.
    pub const ALL: [NemesisFault; 9] = [
        NemesisFault::Partition,
        NemesisFault::Cut,
        NemesisFault::Isolate,
        NemesisFault::Crash,
        NemesisFault::Pause,
        NemesisFault::ClockSkew,
        NemesisFault::Degrade,
        NemesisFault::Slow,
        NemesisFault::SlowDisk,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            NemesisFault::Partition => "partition",
            NemesisFault::Cut => "cut",
            NemesisFault::Isolate => "isolate",
            NemesisFault::Crash => "crash",
            NemesisFault::Pause => "pause",
            NemesisFault::ClockSkew => "clock_skew",
            NemesisFault::Degrade => "degrade",
            NemesisFault::Slow => "slow",
            NemesisFault::SlowDisk => "slow_disk",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<NemesisFault> {
        NemesisFault::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// Which nodes the nemesis may target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Only replicas (`0..nodes`).
    Replicas,
    /// Every node, clients and helpers included.
    All,
    /// Exactly these nodes (e.g. MapReduce workers but not the master).
    Nodes(Vec<NodeId>),
}

/// The `[nemesis]` table, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisConfig {
    /// Mean gap between two faults (each gap is uniform in [every/2, 3*every/2]).
    pub every: SimDuration,
    /// Fault kinds to draw from.
    pub faults: Vec<NemesisFault>,
    /// Mean length of a fault (uniform in [d/2, 3d/2]).
    pub fault_duration: SimDuration,
    /// No fault before this.
    pub start: SimTime,
    /// Every fault has ended by this.
    pub stop: SimTime,
    /// Most targets down (crashed, paused or isolated) at once.
    pub max_down: usize,
    /// Who may be hit.
    pub targets: Targets,
    /// Largest clock step, either way.
    pub max_clock_offset: SimDuration,
    /// Largest drift, either way, in parts per million.
    pub max_drift_ppm: i64,
}

/// What swarm testing drew for one seed: a subset of the fault kinds and a rate scale.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmDraw {
    /// The kinds this seed enables.
    pub faults: Vec<NemesisFault>,
    /// `every` is multiplied by `every_scale_percent / 100`.
    pub every_scale_percent: u64,
}

impl SwarmDraw {
    /// Draws the knobs for `seed` from the swarm stream: each of `kinds` is kept with
    /// probability 1/2 (at least one), and the gap between faults is scaled by one of
    /// 25%, 50%, 100%, 200% or 400%.
    pub fn draw(seed: u64, kinds: &[NemesisFault]) -> SwarmDraw {
        assert!(!kinds.is_empty(), "swarm needs fault kinds to choose from");
        let mut rng = stream_rng(seed, Stream::Swarm);
        let mut faults: Vec<NemesisFault> = kinds
            .iter()
            .copied()
            .filter(|_| below(&mut rng, 2) == 1)
            .collect();
        if faults.is_empty() {
            faults.push(kinds[below(&mut rng, kinds.len() as u64) as usize]);
        }
        let scales = [25, 50, 100, 200, 400];
        let every_scale_percent = scales[below(&mut rng, scales.len() as u64) as usize];
        SwarmDraw {
            faults,
            every_scale_percent,
        }
    }

    /// The kinds as `crash+partition`, for sweep.csv.
    pub fn faults_label(&self) -> String {
        self.faults
            .iter()
            .map(|kind| kind.name())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Applies the draw to a nemesis configuration.
    pub fn apply(&self, config: &mut NemesisConfig) {
        config.faults = self.faults.clone();
        config.every = SimDuration(
            (config
                .every
                .as_nanos()
                .saturating_mul(self.every_scale_percent)
                / 100)
                .max(1),
        );
    }
}

/// Uniform in `[mean/2, 3*mean/2]`.
fn around(rng: &mut SimRng, mean: SimDuration) -> SimDuration {
    let half = mean.as_nanos() / 2;
    SimDuration(half + below(rng, mean.as_nanos().saturating_add(1)))
}

/// A random non-empty proper subset split of `nodes` into two sides.
fn split(rng: &mut SimRng, nodes: &[NodeId]) -> (Vec<NodeId>, Vec<NodeId>) {
    let mut shuffled = nodes.to_vec();
    for i in (1..shuffled.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        shuffled.swap(i, j);
    }
    let cut = 1 + below(rng, shuffled.len() as u64 - 1) as usize;
    let (a, b) = shuffled.split_at(cut);
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    (a, b)
}

/// The most faults [`NemesisConfig::generate`] pushes, whatever the configuration: a
/// backstop far above what `dsim check` accepts ([`crate::scenario::NEMESIS_FAULTS_MAX`]
/// draws, each two or four faults, times four for swarm's shortest `every`), so that
/// no configuration can grow the schedule until memory runs out.
pub const GENERATED_FAULTS_MAX: usize = 2_000_000;

impl NemesisConfig {
    /// About how many faults the nemesis draws between `start` and `stop`: the window
    /// over the mean gap `every`, plus one.
    pub fn fault_count_estimate(&self) -> u64 {
        let window = self.stop.saturating_since(self.start).as_nanos();
        window / self.every.as_nanos().max(1) + 1
    }

    /// Draws the fault schedule for `seed`. `candidates` are the nodes it may target
    /// (already excluding nodes that explicit faults crash or pause).
    pub fn generate(&self, seed: u64, candidates: &[NodeId]) -> Vec<ScheduledFault> {
        let mut rng = stream_rng(seed, Stream::Nemesis);
        let mut faults = Vec::new();
        // (end time, node) of every target currently down.
        let mut down: Vec<(SimTime, NodeId)> = Vec::new();
        let mut network_busy_until = SimTime::ZERO;
        let mut clock_busy_until = SimTime::ZERO;
        let mut at = self.start;
        if self.faults.is_empty() || candidates.is_empty() {
            return faults;
        }
        loop {
            at += around(&mut rng, self.every);
            if at >= self.stop || faults.len() >= GENERATED_FAULTS_MAX {
                break;
            }
            let kind = self.faults[below(&mut rng, self.faults.len() as u64) as usize];
            let length = around(&mut rng, self.fault_duration).max(SimDuration(1));
            let end = (at + length).min(self.stop);
            if end <= at {
                continue;
            }
            down.retain(|(until, _)| *until > at);
            let free: Vec<NodeId> = candidates
                .iter()
                .copied()
                .filter(|node| down.iter().all(|(_, busy)| busy != node))
                .collect();
            let room = self.max_down > down.len() && !free.is_empty();
            let mut push =
                |time: SimTime, fault: Fault| faults.push(ScheduledFault { at: time, fault });
            match kind {
                NemesisFault::Partition | NemesisFault::Cut
                    if network_busy_until <= at && candidates.len() >= 2 =>
                {
                    let (a, b) = split(&mut rng, candidates);
                    let fault = if kind == NemesisFault::Partition {
                        Fault::Partition(vec![a, b])
                    } else {
                        Fault::Cut { from: a, to: b }
                    };
                    push(at, fault);
                    push(end, Fault::Heal);
                    network_busy_until = end;
                }
                NemesisFault::Isolate if network_busy_until <= at && room => {
                    let node = free[below(&mut rng, free.len() as u64) as usize];
                    push(at, Fault::Isolate(node));
                    push(end, Fault::Heal);
                    network_busy_until = end;
                    down.push((end, node));
                }
                NemesisFault::Crash if room => {
                    let node = free[below(&mut rng, free.len() as u64) as usize];
                    push(at, Fault::Crash(node));
                    push(end, Fault::Restart(node));
                    down.push((end, node));
                }
                NemesisFault::Pause if room => {
                    let node = free[below(&mut rng, free.len() as u64) as usize];
                    push(
                        at,
                        Fault::Pause {
                            node,
                            duration: end - at,
                        },
                    );
                    down.push((end, node));
                }
                NemesisFault::ClockSkew if clock_busy_until <= at => {
                    let node = candidates[below(&mut rng, candidates.len() as u64) as usize];
                    let span = self.max_clock_offset.as_nanos();
                    let offset_ns = below(&mut rng, 2 * span + 1) as i64 - span as i64;
                    let drift_span = self.max_drift_ppm.max(0) as u64;
                    let drift_ppm = below(&mut rng, 2 * drift_span + 1) as i64 - drift_span as i64;
                    push(at, Fault::ClockOffset { node, offset_ns });
                    push(at, Fault::ClockDrift { node, drift_ppm });
                    push(end, Fault::ClockDrift { node, drift_ppm: 0 });
                    push(end, Fault::ClockOffset { node, offset_ns: 0 });
                    clock_busy_until = end;
                }
                NemesisFault::Degrade => {
                    let node = candidates[below(&mut rng, candidates.len() as u64) as usize];
                    push(
                        at,
                        Fault::Degrade {
                            nodes: vec![node],
                            delay: Some(Delay::LogNormal {
                                median_ns: 20_000_000.0,
                                sigma: 0.8,
                            }),
                            drop_ratio: Some(0.2),
                            bandwidth_factor: None,
                            duration: end - at,
                        },
                    );
                }
                NemesisFault::Slow | NemesisFault::SlowDisk => {
                    // A slow node is not down: it counts against no limit.
                    let node = candidates[below(&mut rng, candidates.len() as u64) as usize];
                    let (factor, duration) = (NEMESIS_SLOW_FACTOR, end - at);
                    let fault = if kind == NemesisFault::Slow {
                        Fault::Slow {
                            node,
                            factor,
                            duration,
                        }
                    } else {
                        Fault::SlowDisk {
                            node,
                            factor,
                            duration,
                        }
                    };
                    push(at, fault);
                }
                // The kind drawn has no room now (too many down, network busy): skip it.
                _ => {}
            }
        }
        faults.sort_by_key(|fault| fault.at);
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kinds: &[NemesisFault]) -> NemesisConfig {
        NemesisConfig {
            every: SimDuration::from_millis(200),
            faults: kinds.to_vec(),
            fault_duration: SimDuration::from_millis(300),
            start: SimTime::ZERO,
            stop: SimTime(8_000_000_000),
            max_down: 2,
            targets: Targets::Replicas,
            max_clock_offset: SimDuration::from_millis(100),
            max_drift_ppm: 1_000,
        }
    }

    fn replicas(n: u32) -> Vec<NodeId> {
        (0..n).map(NodeId).collect()
    }

    #[test]
    fn same_seed_same_schedule_and_seeds_differ() {
        let c = config(&NemesisFault::ALL);
        assert_eq!(c.generate(5, &replicas(5)), c.generate(5, &replicas(5)));
        assert_ne!(c.generate(5, &replicas(5)), c.generate(6, &replicas(5)));
    }

    #[test]
    fn never_more_than_max_down_and_everything_ends_by_stop() {
        let c = config(&[
            NemesisFault::Crash,
            NemesisFault::Pause,
            NemesisFault::Isolate,
        ]);
        for seed in 0..50 {
            let schedule = c.generate(seed, &replicas(5));
            assert!(!schedule.is_empty());
            // Replay the schedule and count who is down at every fault: crashed until
            // restarted, paused for its duration, isolated until the next heal.
            let mut crashed: Vec<NodeId> = Vec::new();
            let mut paused: Vec<(NodeId, SimTime)> = Vec::new();
            let mut isolated: Vec<NodeId> = Vec::new();
            for fault in &schedule {
                assert!(fault.at <= c.stop, "fault after stop: {fault:?}");
                paused.retain(|(_, until)| *until > fault.at);
                match &fault.fault {
                    Fault::Crash(node) => crashed.push(*node),
                    Fault::Restart(node) => crashed.retain(|n| n != node),
                    Fault::Pause { node, duration } => paused.push((*node, fault.at + *duration)),
                    Fault::Isolate(node) => isolated.push(*node),
                    Fault::Heal => isolated.clear(),
                    _ => {}
                }
                let down = crashed.len() + paused.len() + isolated.len();
                assert!(
                    down <= c.max_down,
                    "seed {seed}: {down} down at {}",
                    fault.at
                );
            }
            let crashes = schedule
                .iter()
                .filter(|f| matches!(f.fault, Fault::Crash(_)))
                .count();
            let restarts = schedule
                .iter()
                .filter(|f| matches!(f.fault, Fault::Restart(_)))
                .count();
            assert_eq!(crashes, restarts, "every crash is followed by a restart");
        }
    }

    #[test]
    fn swarm_draws_a_subset_and_a_scale() {
        let draw = SwarmDraw::draw(11, &NemesisFault::ALL);
        assert!(!draw.faults.is_empty());
        assert!(
            draw.faults
                .iter()
                .all(|kind| NemesisFault::ALL.contains(kind))
        );
        assert!([25, 50, 100, 200, 400].contains(&draw.every_scale_percent));
        assert_eq!(draw, SwarmDraw::draw(11, &NemesisFault::ALL));
        let labels: Vec<String> = (0..20)
            .map(|seed| SwarmDraw::draw(seed, &NemesisFault::ALL).faults_label())
            .collect();
        assert!(
            labels.windows(2).any(|w| w[0] != w[1]),
            "swarm varies by seed"
        );
    }
}
