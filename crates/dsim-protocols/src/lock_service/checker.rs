//! The lock-service checker: judges a run from its observations alone.
//!
//! At the resource (what the guarded data actually saw):
//! - `mutual_exclusion`: the resource accepted writes from two different clients under
//!   one (lock, generation). A generation names one grant, so two writers under it are
//!   two holders the resource cannot tell apart: fencing is void for that lock.
//! - `stale_write`: the resource accepted a write under (lock, g) after it had accepted
//!   one under (lock, g') with g' > g: the lock had already been granted to someone
//!   else under a newer generation, who had already used it, and the old holder's
//!   write landed inside the new holder's critical section.
//!
//! At the replicas (what the masters did):
//! - `master_lease`: a master acted on its lease (started serving, found its lease held
//!   at a tick, or served a client request: every act is observed, so an overlap
//!   shorter than a tick is seen too) after a *different* node had started serving
//!   under a higher ballot. Master leases exist to make this impossible; it happens
//!   only when clocks drift beyond the lease margin or step (see the module essay).
//! - `grant_while_held`: a master granted a lock under generation `g` while an older
//!   grant of it had not ended (no release or expiry of it was applied): two holders
//!   by the service's own records.
//! - `lock_delay`: a lock freed by a session expiry was granted again sooner than
//!   `lock_delay * (1 - lease_margin)` (the delay as the slowest clock within the drift
//!   bound counts it) after the expiry was applied.
//!
//! At the clients (what they saw, with Jepsen's semantics):
//! - `mutex_history`: the clients' lock history, checked against the `mutex` model
//!   per lock name with [`dsim_checkers::linearizable()`] (see [`mutex_history`] for
//!   which operations it judges and why that is sound). A search that spends its
//!   budget is `mutex_history_unknown`, a violation, never a pass.
//! - `liveness` (see [`liveness`]).
//!
//! Measured: `unavailable_ns`, the virtual time from the first moment a master served
//! to the end of the run during which no master served. A mastership serves from its
//! `ServingStarted` to its `ServingStopped` or, when it went silent (a crash or pause),
//! to one heartbeat interval after its last `LeaseHeld` tick. `master_changes` counts
//! masterships (including the first), `grants` the distinct grants masters applied,
//! `writes_accepted` / `writes_refused` what the resource did, `sessions_expired` the
//! session expiries masters applied. The formula is `L = (1/m) sum l_i`, the mean
//! latency of the `ok` acquires in `ops.csv`.

use super::LockConfig;
use super::client::RELEASE_OP_BIT;
use super::types::{LockEvent, LockId};
use crate::history::describe_counterexample;
use crate::liveness::{LivenessPhase, starved};
use crate::paxos::Ballot;
use dsim_checkers::{History, Mutex, Op, OpType};
use dsim_core::{
    Formula, NodeId, Observation, ObservationRecord, Outcome, RunOutput, SimDuration, SimTime,
    Value, Verdict, Violation,
};
use dsim_core::{ObservationSink, Retain};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The checks, in the order the verdict reports them.
pub const CHECKS: &[&str] = &[
    "mutual_exclusion",
    "stale_write",
    "master_lease",
    "grant_while_held",
    "lock_delay",
    "mutex_history",
    "mutex_history_unknown",
    "liveness",
];

/// Model steps the `mutex_history` search may spend before it answers `Unknown`.
pub const MUTEX_HISTORY_BUDGET: u64 = 5_000_000;

/// Violations kept per check; the rest are only counted.
const VIOLATIONS_PER_CHECK_MAX: usize = 100;

/// Judges a lock-service run.
pub fn check(output: &RunOutput<LockEvent>, config: &LockConfig) -> Verdict {
    let mut checker = Checker::new(config);
    for record in &output.observations {
        checker.observe(record);
    }
    let mut verdict = checker.verdict(output.end_time);
    verdict.violations.extend(mutex_history(output));
    verdict.violations.extend(liveness(output, config));
    verdict
}

/// [`check`] while the run happens: [`LiveCheck::sink`] is the engine's observation
/// sink, which judges each protocol observation as it is made (the masters' and the
/// resource's checks need nothing else) and lets the engine keep no client operation
/// observation either: the engine pairs those as they happen ([`RunOutput::ops`], what
/// `mutex_history`, `liveness` and the report read at the end), so a long run does not
/// hold every heartbeat, grant and write, nor two records per operation.
/// [`LiveCheck::finish`] gives the verdict [`check`] gives on the whole run.
pub struct LiveCheck {
    checker: Rc<RefCell<Option<Checker>>>,
}

impl LiveCheck {
    /// A check of a run of the service configured as `config`.
    pub fn new(config: &LockConfig) -> LiveCheck {
        LiveCheck {
            checker: Rc::new(RefCell::new(Some(Checker::new(config)))),
        }
    }

    /// The observation sink to attach to the run.
    pub fn sink(&self) -> Box<dyn ObservationSink<LockEvent>> {
        let checker = Rc::clone(&self.checker);
        Box::new(move |record: &ObservationRecord<LockEvent>| {
            if let Some(checker) = checker.borrow_mut().as_mut() {
                checker.observe(record);
            }
            Retain::after_judging(&record.observation)
        })
    }

    /// Finishes the checks on the run's output (its client operations and fault log).
    pub fn finish(self, output: &RunOutput<LockEvent>, config: &LockConfig) -> Verdict {
        let checker = self
            .checker
            .borrow_mut()
            .take()
            .unwrap_or_else(|| Checker::new(config));
        let mut verdict = checker.verdict(output.end_time);
        verdict.violations.extend(mutex_history(output));
        verdict.violations.extend(liveness(output, config));
        verdict
    }
}

/// The clients' history as the `mutex` model judges it, with each operation's row in
/// `ops.csv` (operations are numbered there as here: every `OpInvoked` of the run in
/// order). An operation the run ended in the middle of is `info`.
///
/// It keeps the operations whose outcome says something certain about the lock:
/// - every `release`: the client invokes one only when its hold ended with its own
///   lease view still holding (the client's own rule; see below), `ok` once a reply
///   reports it applied or once the session expired (either way the lock was free by
///   then), `info` when the client moved on without a confirmation;
/// - an `ok` acquire only when the same client's next operation is the `release` of
///   that hold (the release carries the acquire's operation number with
///   [`RELEASE_OP_BIT`] set): a *verified* hold.
///
/// It leaves out `info` acquires (which may always be placed "never", so they cannot
/// turn a linearizable history into one that is not) and `ok` acquires with no release
/// of their own: the client crashed while holding, its session expired under it, it
/// got the grant with its lease view already run out and handed it back, or its lease
/// view ran out before the hold ended (a pause).
///
/// Why this is sound, i.e. `correct` is never flagged: a client's lease view ends
/// before the master can expire its session (within the drift bound; see the module
/// essay), so a client that is inside its lease view both when the grant arrives
/// (it only uses a grant then) and when its hold ends knows its session, and with it
/// the hold, was alive at the master all along: the master applied the grant after
/// the acquire was invoked and before its reply arrived, and the hold ends (by the
/// release, or by the session's expiry) after the release was invoked and before
/// the client learned so. Grants are exclusive at the master, so the verified holds
/// place their acquires and releases in one sequence that the mutex model accepts.
/// Counting holds the client merely *believed* in would not be sound: a client paused
/// between its grant and its write still believes it holds a lock its session lost
/// (that is what fencing is for, and why `no-fencing` shows up at the resource, not
/// here). A hold dropped here is still judged at the resource.
pub fn mutex_history_of<E>(output: &RunOutput<E>) -> (History, Vec<(usize, NodeId)>) {
    // Every client operation with its node and its client's op number; ops carry their
    // ops.csv row as their id.
    let all: Vec<(Op, NodeId, u64)> = crate::history::client_ops(output, 0)
        .into_iter()
        .map(|client_op| (client_op.op, client_op.node, client_op.number))
        .collect();
    // Per client, its operations in invocation order: an acquire is verified when the
    // client's next operation is its own release.
    let mut next_of: BTreeMap<usize, usize> = BTreeMap::new();
    let mut last: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (index, (_, node, _)) in all.iter().enumerate() {
        if let Some(previous) = last.insert(*node, index) {
            next_of.insert(previous, index);
        }
    }
    let mut ops = Vec::new();
    let mut rows = Vec::new();
    for (index, (op, node, number)) in all.iter().enumerate() {
        let keep = match op.f.as_str() {
            "release" => true,
            "acquire" => {
                op.op_type == OpType::Ok
                    && next_of.get(&index).is_some_and(|&next| {
                        let (release, _, release_number) = &all[next];
                        release.f == "release" && *release_number == number | RELEASE_OP_BIT
                    })
            }
            _ => false,
        };
        if keep {
            let mut op = op.clone();
            op.id = ops.len();
            ops.push(op);
            rows.push((index, *node));
        }
    }
    (History { ops }, rows)
}

/// The `mutex_history` check: [`mutex_history_of`] judged by the `mutex` model per lock
/// name. `NotLinearizable` is a `mutex_history` violation naming the lock, the
/// operation that could not be placed and the operations involved (by their `op_id`
/// in `ops.csv`); a spent budget is `mutex_history_unknown`.
pub fn mutex_history<E>(output: &RunOutput<E>) -> Vec<Violation> {
    let (history, rows) = mutex_history_of(output);
    if history.ops.is_empty() {
        return Vec::new();
    }
    match dsim_checkers::linearizable(&history, &Mutex, MUTEX_HISTORY_BUDGET) {
        dsim_checkers::Verdict::Linearizable { .. } => Vec::new(),
        dsim_checkers::Verdict::NotLinearizable { counterexample, .. } => {
            let view = describe_counterexample(&history, &counterexample, |id| rows[id].0);
            // The clients of the operations that could not be placed and of the last
            // ones placed before them (the holder the lock was still with).
            let tail = counterexample.prefix.len().saturating_sub(3);
            let mut nodes: Vec<NodeId> = counterexample.prefix[tail..]
                .iter()
                .chain(&counterexample.window)
                .map(|&id| rows[id].1)
                .collect();
            nodes.sort();
            nodes.dedup();
            vec![Violation {
                time: view.time,
                check: "mutex_history",
                nodes,
                details: format!(
                    "lock-{}: no order of the clients' acquires and releases explains op {}: {}; the lock was {} after [{}]; ops involved (op ids as in ops.csv): [{}]",
                    counterexample
                        .key
                        .as_ref()
                        .map_or("-".to_string(), Value::to_string),
                    rows[counterexample.stuck].0,
                    history.ops[counterexample.stuck],
                    if counterexample.state == Value::Bool(true) {
                        "held"
                    } else {
                        "free"
                    },
                    view.last.join("; "),
                    view.window.join("; ")
                ),
                ops: view.ops,
                figure: None,
            }]
        }
        dsim_checkers::Verdict::Unknown {
            states_explored,
            key,
        } => vec![Violation {
            time: output.end_time,
            check: "mutex_history_unknown",
            nodes: Vec::new(),
            details: format!(
                "the mutex-history search spent its budget ({states_explored} model steps) on lock-{}",
                key.as_ref().map_or("-".to_string(), Value::to_string)
            ),
            ops: Vec::new(),
            figure: None,
        }],
    }
}

/// Acquires of one client in a row that must fail before the liveness check calls it
/// starvation. A client retries an acquire every `client_retry` until `acquire_timeout`,
/// so on a healthy cell a timeout takes heavy loss or contention; three in a row do not
/// happen on the shipped scenarios, while a starved lock fails every acquire.
pub const STARVED_IN_A_ROW: usize = 3;

/// The liveness check. Its phase starts `liveness_bound` after the last fault ended
/// (time for an election, the old master's lease, session expiries and lock-delay),
/// and is judged only while a majority of replicas is up and the network is whole at
/// the end. In it, a client up at the end must keep being granted locks:
/// [`STARVED_IN_A_ROW`] of its acquires in a row that timed out or lost their session
/// (or are still waiting long after their `acquire_timeout`) is starvation. Reports the
/// first such run per client.
pub fn liveness(output: &RunOutput<LockEvent>, config: &LockConfig) -> Vec<Violation> {
    let phase = LivenessPhase::of(&output.fault_log);
    let replicas_up = phase.up_among((0..config.replicas as u32).map(NodeId));
    if !phase.network_whole || replicas_up < config.majority() {
        return Vec::new();
    }
    // Only acquires are judged: a release is answered by the next reply that reports
    // it applied, and one the client moved on from is `info` without any starvation.
    let acquires = output
        .ops
        .iter()
        .filter(|record| record.client_op & RELEASE_OP_BIT == 0);
    starved(
        acquires,
        &phase,
        phase.start.saturating_add(config.liveness_bound),
        output.end_time,
        config.acquire_timeout,
        STARVED_IN_A_ROW,
        |outcome| outcome == Outcome::Ok,
    )
    .into_iter()
    .map(|found| Violation {
        time: found.last.1.saturating_add(config.acquire_timeout),
        check: "liveness",
        nodes: vec![found.client],
        details: format!(
            "client {} was granted none of {STARVED_IN_A_ROW} acquires in a row (op {} at {} through op {} at {}), though the last fault ended at {} and {replicas_up} of {} replicas were up",
            found.client.0,
            found.first.0,
            found.first.1,
            found.last.0,
            found.last.1,
            phase.start,
            config.replicas
        ),
        ops: Vec::new(),
        figure: None,
    })
    .collect()
}

/// One mastership still serving, per node.
#[derive(Clone, Copy, Debug)]
struct Serving {
    ballot: Ballot,
    start: SimTime,
    last_act: SimTime,
}

struct Checker {
    replicas: usize,
    heartbeat: SimDuration,
    /// The shortest real time a lock-delay may last within the drift bound.
    lock_delay_min: SimDuration,
    /// Per lock in lock-delay: when the expiry that freed it was applied.
    delayed_since: BTreeMap<LockId, SimTime>,
    /// Grants seen and not yet ended, as (lock, generation).
    holding: BTreeSet<(LockId, u64)>,
    /// Holds seen ended. A master that lost its office may apply (and observe) a
    /// grant after its successor already applied (and observed) the grant's end.
    ended: BTreeSet<(LockId, u64)>,
    /// Per lock: the newest generation the resource accepted, and per generation the
    /// first client that wrote under it.
    newest: BTreeMap<LockId, u64>,
    writers: BTreeMap<(LockId, u64), NodeId>,
    reported_pairs: BTreeSet<(LockId, u64)>,
    /// The highest-ballot mastership that started serving so far.
    newest_master: Option<(Ballot, NodeId, SimTime)>,
    overlap_pairs: BTreeSet<(Ballot, Ballot)>,
    open: BTreeMap<NodeId, Serving>,
    intervals: Vec<(SimTime, SimTime)>,
    first_serving: Option<SimTime>,
    master_changes: u64,
    grants: BTreeSet<(LockId, u64)>,
    writes_accepted: u64,
    writes_refused: u64,
    sessions_expired: u64,
    violations: Vec<Violation>,
    per_check: BTreeMap<&'static str, usize>,
}

impl Checker {
    fn new(config: &LockConfig) -> Checker {
        Checker {
            replicas: config.replicas,
            heartbeat: config.heartbeat_interval,
            lock_delay_min: SimDuration(
                (config.lock_delay.0 as f64 * (1.0 - config.lease_margin)) as u64,
            ),
            delayed_since: BTreeMap::new(),
            holding: BTreeSet::new(),
            ended: BTreeSet::new(),
            newest: BTreeMap::new(),
            writers: BTreeMap::new(),
            reported_pairs: BTreeSet::new(),
            newest_master: None,
            overlap_pairs: BTreeSet::new(),
            open: BTreeMap::new(),
            intervals: Vec::new(),
            first_serving: None,
            master_changes: 0,
            grants: BTreeSet::new(),
            writes_accepted: 0,
            writes_refused: 0,
            sessions_expired: 0,
            violations: Vec::new(),
            per_check: BTreeMap::new(),
        }
    }

    fn violation(
        &mut self,
        time: SimTime,
        check: &'static str,
        nodes: Vec<NodeId>,
        details: String,
    ) {
        let kept = self.per_check.entry(check).or_default();
        if *kept < VIOLATIONS_PER_CHECK_MAX {
            *kept += 1;
            self.violations.push(Violation {
                time,
                check,
                nodes,
                details,
                ops: Vec::new(),
                figure: None,
            });
        }
    }

    fn observe(&mut self, record: &ObservationRecord<LockEvent>) {
        let Observation::Protocol(event) = &record.observation else {
            return;
        };
        let (time, node) = (record.time, record.node);
        let from_replica = node.index() < self.replicas;
        match *event {
            LockEvent::WriteAccepted { client, sequencer } => {
                self.writes_accepted += 1;
                self.on_write(time, node, client, sequencer.lock, sequencer.generation);
            }
            LockEvent::WriteRefused { .. } => self.writes_refused += 1,
            LockEvent::Freed { sequencer } if from_replica => {
                let hold = (sequencer.lock, sequencer.generation);
                self.holding.remove(&hold);
                self.ended.insert(hold);
            }
            LockEvent::Granted { client, sequencer } if from_replica => {
                self.grants.insert((sequencer.lock, sequencer.generation));
                let lock = sequencer.lock;
                let older: Vec<u64> = self
                    .holding
                    .range((lock, 0)..(lock, sequencer.generation))
                    .map(|&(_, generation)| generation)
                    .collect();
                for generation in older {
                    // Reported once per unended grant.
                    self.holding.remove(&(lock, generation));
                    self.violation(
                        time,
                        "grant_while_held",
                        vec![node, client],
                        format!(
                            "lock-{lock} was granted to client {} under generation {} while its grant under generation {generation} had not been released or expired",
                            client.0, sequencer.generation
                        ),
                    );
                }
                if !self.ended.contains(&(lock, sequencer.generation)) {
                    self.holding.insert((lock, sequencer.generation));
                }
                if let Some(since) = self.delayed_since.remove(&sequencer.lock)
                    && time < since.saturating_add(self.lock_delay_min)
                {
                    self.violation(
                        time,
                        "lock_delay",
                        vec![node, client],
                        format!(
                            "lock-{} was granted to client {} at {time}, {} after a session expiry freed it at {since}; lock_delay allows no grant before {}",
                            sequencer.lock,
                            client.0,
                            time.saturating_since(since),
                            self.lock_delay_min
                        ),
                    );
                }
            }
            LockEvent::LockDelayed { lock, .. } if from_replica => {
                self.delayed_since.insert(lock, time);
            }
            LockEvent::SessionExpired { .. } if from_replica => self.sessions_expired += 1,
            LockEvent::ServingStarted { ballot } if from_replica => {
                self.master_changes += 1;
                self.first_serving.get_or_insert(time);
                self.close(node, time);
                self.open.insert(
                    node,
                    Serving {
                        ballot,
                        start: time,
                        last_act: time,
                    },
                );
                self.check_lease(time, node, ballot);
                if self
                    .newest_master
                    .is_none_or(|(newest, _, _)| ballot > newest)
                {
                    self.newest_master = Some((ballot, node, time));
                }
            }
            LockEvent::LeaseHeld { ballot } if from_replica => {
                if let Some(serving) = self.open.get_mut(&node)
                    && serving.ballot == ballot
                {
                    serving.last_act = time;
                }
                self.check_lease(time, node, ballot);
            }
            LockEvent::ServingStopped { .. } if from_replica => self.close(node, time),
            _ => {}
        }
    }

    fn on_write(&mut self, time: SimTime, resource: NodeId, client: NodeId, lock: LockId, g: u64) {
        match self.writers.get(&(lock, g)).copied() {
            None => {
                self.writers.insert((lock, g), client);
            }
            Some(first) if first != client && self.reported_pairs.insert((lock, g)) => {
                self.violation(
                    time,
                    "mutual_exclusion",
                    vec![first, client, resource],
                    format!(
                        "lock-{lock}: the resource accepted writes from clients {} and {} under the same generation {g}",
                        first.0, client.0
                    ),
                );
            }
            Some(_) => {}
        }
        let newest = self.newest.entry(lock).or_default();
        if g < *newest {
            let newer = *newest;
            let newer_writer = self.writers.get(&(lock, newer)).copied();
            self.violation(
                time,
                "stale_write",
                newer_writer
                    .into_iter()
                    .chain([client, resource])
                    .collect(),
                format!(
                    "lock-{lock}: the resource accepted client {}'s write under generation {g} after a write under generation {newer}",
                    client.0
                ),
            );
        } else {
            *newest = g;
        }
    }

    /// A master acting under `ballot` after another node started serving under a
    /// higher ballot means two masters at once.
    fn check_lease(&mut self, time: SimTime, node: NodeId, ballot: Ballot) {
        let Some((newest, newest_node, started)) = self.newest_master else {
            return;
        };
        if newest > ballot && newest_node != node && self.overlap_pairs.insert((ballot, newest)) {
            self.violation(
                time,
                "master_lease",
                vec![node, newest_node],
                format!(
                    "replica {} acted as master under ballot ({}, {}) after replica {} started serving under ({}, {}) at {started}",
                    node.0, ballot.round, ballot.node, newest_node.0, newest.round, newest.node
                ),
            );
        }
    }

    /// Ends `node`'s open mastership at `time`, or one heartbeat after its last act if
    /// it went silent before.
    fn close(&mut self, node: NodeId, time: SimTime) {
        if let Some(serving) = self.open.remove(&node) {
            let end = time.min(serving.last_act.saturating_add(self.heartbeat));
            self.intervals.push((serving.start, end.max(serving.start)));
        }
    }

    fn verdict(mut self, end_time: SimTime) -> Verdict {
        let open: Vec<NodeId> = self.open.keys().copied().collect();
        for node in open {
            self.close(node, end_time);
        }
        let unavailable_ns = match self.first_serving {
            None => end_time.as_nanos(),
            Some(first) => {
                self.intervals.sort();
                let mut covered = 0u64;
                let mut reach = first;
                for &(start, end) in &self.intervals {
                    let start = start.max(reach);
                    let end = end.min(end_time);
                    if end > start {
                        covered += end.0 - start.0;
                        reach = end;
                    }
                }
                end_time.saturating_since(first).as_nanos() - covered
            }
        };
        Verdict {
            violations: self.violations,
            formula: Formula::MeanOkLatencyOf {
                name: "L",
                f: "acquire",
            },
            agreement: 1.0,
            extra_columns: vec![
                ("unavailable_ns", unavailable_ns.to_string()),
                ("master_changes", self.master_changes.to_string()),
                ("grants", self.grants.len().to_string()),
                ("writes_accepted", self.writes_accepted.to_string()),
                ("writes_refused", self.writes_refused.to_string()),
                ("sessions_expired", self.sessions_expired.to_string()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::config;
    use super::super::types::Sequencer;
    use super::*;
    use dsim_core::{Counters, Value};

    const MS: u64 = 1_000_000;

    fn record(ms: u64, node: u32, event: LockEvent) -> ObservationRecord<LockEvent> {
        ObservationRecord {
            time: SimTime(ms * MS),
            node: NodeId(node),
            observation: Observation::Protocol(event),
        }
    }

    fn write(ms: u64, client: u32, lock: LockId, generation: u64) -> ObservationRecord<LockEvent> {
        record(
            ms,
            5,
            LockEvent::WriteAccepted {
                client: NodeId(client),
                sequencer: Sequencer { lock, generation },
            },
        )
    }

    fn run(observations: Vec<ObservationRecord<LockEvent>>, end_ms: u64) -> Verdict {
        let output = RunOutput {
            seed: 1,
            node_count: 6,
            end_time: SimTime(end_ms * MS),
            counters: Counters::default(),
            fingerprint: 0,
            ops: dsim_core::ops::pair(&observations),
            observations,
            fault_log: Vec::new(),
            messages: dsim_core::MessageLog::new(),
        };
        check(&output, &config(3, 2))
    }

    fn column(verdict: &Verdict, name: &str) -> String {
        verdict
            .column(name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .to_string()
    }

    fn checks(verdict: &Verdict) -> Vec<&'static str> {
        verdict.violations.iter().map(|v| v.check).collect()
    }

    #[test]
    fn ordered_generations_from_one_writer_each_are_clean() {
        let verdict = run(
            vec![
                write(1, 3, 0, 1),
                write(2, 3, 0, 1),
                write(3, 4, 0, 2),
                write(4, 3, 1, 1),
            ],
            10,
        );
        // Each generation has one writer and generations never go back per lock.
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!(column(&verdict, "writes_accepted"), "4");
    }

    #[test]
    fn old_generation_after_a_newer_one_is_a_stale_write() {
        let verdict = run(
            vec![write(1, 3, 0, 1), write(2, 4, 0, 2), write(3, 3, 0, 1)],
            10,
        );
        // Client 3's write under generation 1 landed inside client 4's hold.
        assert_eq!(checks(&verdict), vec!["stale_write"]);
        assert_eq!(
            verdict.violations[0].nodes,
            vec![NodeId(4), NodeId(3), NodeId(5)]
        );
    }

    #[test]
    fn two_clients_under_one_generation_break_mutual_exclusion() {
        let verdict = run(
            vec![write(1, 3, 2, 7), write(2, 4, 2, 7), write(3, 3, 2, 7)],
            10,
        );
        // One generation names one grant: a second writer is a second holder. Reported
        // once per generation.
        assert_eq!(checks(&verdict), vec!["mutual_exclusion"]);
    }

    #[test]
    fn an_older_master_acting_after_a_newer_one_started_breaks_the_lease() {
        let old = Ballot { round: 1, node: 0 };
        let new = Ballot { round: 2, node: 1 };
        let verdict = run(
            vec![
                record(10, 0, LockEvent::ServingStarted { ballot: old }),
                record(100, 1, LockEvent::ServingStarted { ballot: new }),
                record(110, 0, LockEvent::LeaseHeld { ballot: old }),
                record(130, 0, LockEvent::LeaseHeld { ballot: old }),
            ],
            200,
        );
        // Replica 0 still believed in its lease 10 ms after replica 1 took over.
        assert_eq!(checks(&verdict), vec!["master_lease"]);
        // The same node under a newer ballot (re-election) is no overlap.
        let verdict = run(
            vec![
                record(10, 0, LockEvent::ServingStarted { ballot: old }),
                record(
                    100,
                    0,
                    LockEvent::ServingStarted {
                        ballot: Ballot { round: 3, node: 0 },
                    },
                ),
                record(
                    110,
                    0,
                    LockEvent::LeaseHeld {
                        ballot: Ballot { round: 3, node: 0 },
                    },
                ),
            ],
            200,
        );
        assert!(verdict.violations.is_empty());
    }

    #[test]
    fn unavailability_counts_gaps_between_masterships() {
        let first = Ballot { round: 1, node: 0 };
        let second = Ballot { round: 2, node: 1 };
        let heartbeat_ms = config(3, 2).heartbeat_interval.0 / MS;
        let verdict = run(
            vec![
                record(100, 0, LockEvent::ServingStarted { ballot: first }),
                record(200, 0, LockEvent::LeaseHeld { ballot: first }),
                // Replica 0 crashes silently after 200 ms.
                record(600, 1, LockEvent::ServingStarted { ballot: second }),
                record(610, 1, LockEvent::ServingStopped { ballot: second }),
            ],
            1_000,
        );
        // Served 100..(200 + heartbeat) and 600..610 of the 900 ms after 100 ms.
        let served = (200 + heartbeat_ms - 100) + 10;
        assert_eq!(
            column(&verdict, "unavailable_ns"),
            ((900 - served) * MS).to_string()
        );
        assert_eq!(column(&verdict, "master_changes"), "2");
        assert!(
            verdict.violations.is_empty(),
            "a crashed master does not overlap"
        );
    }

    fn op_record(
        ms: u64,
        client: u32,
        observation: Observation<LockEvent>,
    ) -> ObservationRecord<LockEvent> {
        ObservationRecord {
            time: SimTime(ms * MS),
            node: NodeId(client),
            observation,
        }
    }

    fn output_with(
        observations: Vec<ObservationRecord<LockEvent>>,
        fault_log: Vec<dsim_core::FaultRecord>,
    ) -> RunOutput<LockEvent> {
        RunOutput {
            seed: 1,
            node_count: 6,
            end_time: SimTime(5_000 * MS),
            counters: Counters::default(),
            fingerprint: 0,
            ops: dsim_core::ops::pair(&observations),
            observations,
            fault_log,
            messages: dsim_core::MessageLog::new(),
        }
    }

    #[test]
    fn acquires_that_time_out_long_after_the_last_fault_are_starvation() {
        let config = config(3, 2);
        let invoked = |ms, client, op| {
            op_record(
                ms,
                client,
                Observation::OpInvoked {
                    op,
                    f: "acquire",
                    key: Some(Value::Int(0)),
                    arg: Value::Nil,
                },
            )
        };
        let done = |ms, client, op, outcome| {
            op_record(
                ms,
                client,
                Observation::OpCompleted {
                    op,
                    outcome,
                    ret: Value::Nil,
                },
            )
        };
        let timeout = Outcome::Info("timeout");
        let observations = vec![
            invoked(1_500, 3, 1),
            done(1_510, 3, 1, Outcome::Ok),
            invoked(1_600, 4, 2),
            done(2_600, 4, 2, timeout),
            invoked(2_600, 4, 3),
            done(3_600, 4, 3, timeout),
            // Still waiting at the end, long after its timeout ran out.
            invoked(3_700, 4, 4),
            // Invoked too late for its timeout to have run out: not judged.
            invoked(4_500, 3, 5),
        ];
        let found = liveness(&output_with(observations.clone(), Vec::new()), &config);
        // The audit's starvation: client 4 was granted none of three acquires in a row
        // while the cell was healthy, and such a run used to pass every check.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].check, found[0].nodes.clone()),
            ("liveness", vec![NodeId(4)])
        );
        // With two of three replicas crashed for good there is no quorum: not judged.
        let crashes = [0, 1]
            .into_iter()
            .map(|node| dsim_core::FaultRecord {
                time: SimTime(10 * MS),
                fault: dsim_core::Fault::Crash(NodeId(node)),
            })
            .collect();
        assert!(liveness(&output_with(observations, crashes), &config).is_empty());
    }

    #[test]
    fn a_grant_inside_the_lock_delay_after_an_expiry_is_a_violation() {
        let config = config(3, 2);
        let delay_ms = config.lock_delay.0 / MS;
        let expired = LockEvent::LockDelayed {
            lock: 1,
            session: crate::lock_service::SessionId {
                client: 3,
                epoch: 0,
            },
        };
        let granted = |generation| LockEvent::Granted {
            client: NodeId(4),
            sequencer: Sequencer {
                lock: 1,
                generation,
            },
        };
        let early = run(
            vec![
                record(100, 0, expired),
                record(100 + delay_ms / 2, 0, granted(2)),
            ],
            1_000,
        );
        // Half the lock-delay: a non-fencing resource could see the dead holder's late
        // write interleave with the new holder's. Only lock_delay can see it.
        assert_eq!(checks(&early), vec!["lock_delay"]);
        let on_time = run(
            vec![
                record(100, 0, expired),
                record(100 + delay_ms, 0, granted(2)),
            ],
            1_000,
        );
        assert!(on_time.violations.is_empty());
    }

    #[test]
    fn a_client_request_served_after_a_newer_master_started_breaks_the_lease_between_ticks() {
        let old = Ballot { round: 1, node: 0 };
        let new = Ballot { round: 2, node: 1 };
        // The old master's ticks were all before the takeover; one request it served
        // 3 ms after it (less than a tick) is observed as an act under its lease.
        let verdict = run(
            vec![
                record(10, 0, LockEvent::ServingStarted { ballot: old }),
                record(90, 0, LockEvent::LeaseHeld { ballot: old }),
                record(100, 1, LockEvent::ServingStarted { ballot: new }),
                record(103, 0, LockEvent::LeaseHeld { ballot: old }),
            ],
            200,
        );
        assert_eq!(checks(&verdict), vec!["master_lease"]);
    }

    #[test]
    fn a_grant_before_the_previous_hold_ended_is_a_grant_while_held() {
        let granted = |client, generation| LockEvent::Granted {
            client: NodeId(client),
            sequencer: Sequencer {
                lock: 0,
                generation,
            },
        };
        let freed = |generation| LockEvent::Freed {
            sequencer: Sequencer {
                lock: 0,
                generation,
            },
        };
        let clean = run(
            vec![
                record(10, 0, granted(3, 1)),
                record(20, 0, freed(1)),
                record(30, 0, granted(4, 2)),
            ],
            100,
        );
        assert!(clean.violations.is_empty(), "{:?}", clean.violations);
        let stale_master = run(
            vec![
                record(10, 1, freed(1)),
                // A deposed master applies the old grant late: it had already ended.
                record(15, 0, granted(3, 1)),
                record(30, 1, granted(4, 2)),
            ],
            100,
        );
        assert!(
            stale_master.violations.is_empty(),
            "{:?}",
            stale_master.violations
        );
        let twice = run(
            vec![
                record(10, 0, granted(3, 1)),
                record(30, 0, granted(4, 2)),
                record(40, 0, freed(1)),
            ],
            100,
        );
        // Generation 2 went out while client 3 still held generation 1: the resource's
        // fencing would hide it, so only the service's own records show it.
        assert_eq!(checks(&twice), vec!["grant_while_held"]);
    }

    /// A hold of lock 0 by `client`: acquire invoked at `from_ms`, granted (`ok`,
    /// generation `generation`) 1 ms later, and, when `released`, its release invoked at
    /// `to_ms` and confirmed 1 ms later.
    fn hold(
        client: u32,
        op: u64,
        generation: i64,
        from_ms: u64,
        to_ms: u64,
        released: bool,
    ) -> Vec<ObservationRecord<LockEvent>> {
        let key = Some(Value::Int(0));
        let mut records = vec![
            op_record(
                from_ms,
                client,
                Observation::OpInvoked {
                    op,
                    f: "acquire",
                    key: key.clone(),
                    arg: Value::Nil,
                },
            ),
            op_record(
                from_ms + 1,
                client,
                Observation::OpCompleted {
                    op,
                    outcome: Outcome::Ok,
                    ret: Value::Int(generation),
                },
            ),
        ];
        if released {
            records.push(op_record(
                to_ms,
                client,
                Observation::OpInvoked {
                    op: op | RELEASE_OP_BIT,
                    f: "release",
                    key,
                    arg: Value::Int(generation),
                },
            ));
            records.push(op_record(
                to_ms + 1,
                client,
                Observation::OpCompleted {
                    op: op | RELEASE_OP_BIT,
                    outcome: Outcome::Ok,
                    ret: Value::Nil,
                },
            ));
        }
        records
    }

    fn in_time_order(mut records: Vec<ObservationRecord<LockEvent>>) -> RunOutput<LockEvent> {
        records.sort_by_key(|record| record.time);
        output_with(records, Vec::new())
    }

    #[test]
    fn two_overlapping_released_holds_of_one_lock_break_the_mutex_history() {
        // Client 3 holds lock 0 from 10 ms to 100 ms; client 4 is granted it at 51 ms.
        let mut records = hold(3, 1, 1, 10, 100, true);
        records.extend(hold(4, 1, 2, 50, 150, true));
        let violations = mutex_history(&in_time_order(records));
        // Two verified holds overlap: no order of acquires and releases has the lock
        // free when client 4's acquire completes.
        assert_eq!(violations.len(), 1, "{violations:?}");
        let violation = &violations[0];
        assert_eq!(violation.check, "mutex_history");
        assert_eq!(violation.nodes, vec![NodeId(3), NodeId(4)]);
        // The op ids are the ops.csv rows: 0 and 1 are the acquires (invocation order),
        // 2 is client 3's release.
        assert!(
            violation.details.contains("op 1: p4 acquire"),
            "{}",
            violation.details
        );
        assert!(
            violation.details.contains("op 0: p3 acquire"),
            "{}",
            violation.details
        );
        // The same window as data, for reports: client 4's acquire (op 1) could not be
        // placed, so it is among the operations involved.
        assert!(violation.ops.contains(&1), "{:?}", violation.ops);
    }

    #[test]
    fn holds_one_after_the_other_are_a_clean_mutex_history() {
        let mut records = hold(3, 1, 1, 10, 100, true);
        records.extend(hold(4, 1, 2, 100, 150, true));
        // Client 4's acquire was pending when client 3 released: ordering the release
        // first explains it, so a checker that ignored real-time overlap would misfire.
        assert!(mutex_history(&in_time_order(records)).is_empty());
    }

    #[test]
    fn a_hold_without_its_own_release_is_not_judged() {
        // Client 3's hold lapsed (a pause: no release observed, its next op is a new
        // acquire); client 4 got the lock meanwhile, as the session expiry allowed.
        let mut records = hold(3, 1, 1, 10, 0, false);
        records.extend(hold(4, 1, 2, 50, 150, true));
        records.extend(hold(3, 2, 3, 300, 400, true));
        let output = in_time_order(records);
        let (history, rows) = mutex_history_of(&output);
        // Counting the lapsed hold would flag `correct` under every long client pause.
        assert!(mutex_history(&output).is_empty());
        // The lapsed acquire (row 0) is left out; the verified holds are kept.
        assert_eq!(history.ops.len(), 4);
        assert_eq!(rows.first().map(|row| row.0), Some(1));
    }
}
