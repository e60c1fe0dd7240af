//! The Paxos checker: judges a run from its observations alone.
//!
//! - `agreement`: per slot at most one value is ever chosen, where *chosen* means
//!   accepted by a majority of acceptors in the same ballot (tracked here from the
//!   acceptors' [`PaxosEvent::Accepted`] reports, not taken from any node's word); and
//!   every replica that learned a slot learned that value (and the same value as every
//!   other replica).
//! - `validity`: every chosen or learned value is a no-op or a command some client
//!   submitted before.
//! - `apply_order`: each replica applies slots 0, 1, 2, ... in order, each with the
//!   chosen value (or, where the checker saw no majority, the value the replica itself
//!   learned), no-ops as no-ops, and no command twice. A replica that installs another's
//!   snapshot of the slots below `s` ([`PaxosEvent::SnapshotInstalled`]) resumes at `s`.
//! - `acked_applied`: every put or cas a client was told succeeded (`ok`) was executed
//!   (not suppressed as a duplicate, not skipped) by some replica's state machine before
//!   the client heard so. Gets are left to `linearizable`, which judges their values.
//! - `learned_once`: a replica learns each slot once; a second `Decided` for a slot with
//!   another value is a replica changing its mind about the log.
//! - `linearizable`: what the clients saw — every get, put and cas with its invocation,
//!   completion and value — is checked against the `kv` model, per key, with
//!   [`dsim_checkers::linearizable`]. This is the check that needs no trust in any node:
//!   an `ok` for a command that never ran, or a read answered from stale state, leaves a
//!   history no single copy of the store could have produced. A search that spends its
//!   budget is reported as a violation too (`linearizable_unknown`), never passed.
//! - `liveness`: once the last fault has healed (every partition, cut and isolation
//!   healed, every pause and degradation over) with a majority of replicas up, every
//!   client operation completes within the liveness bound (`liveness_bound`, default
//!   2 s) of the later of its invocation and that instant. Operations of a client that
//!   crashed after invoking them are exempt (the client forgot them). A run that ends
//!   with the network still split or a majority down has no liveness phase.
//!
//! The formula is the source article's `f(x) = argmax_v sum_i p(v | x_i)` per learned
//! slot, where `p(v | x_i)` is 1 when replica `i` learned `v`; `agreement` is the
//! winner's support over the replica count, averaged over every slot any replica
//! learned (1.0 when every replica learned every slot, or when nothing was learned).

use super::{ApplyOutcome, Ballot, NOOP, PaxosEvent, command_parts};
use dsim_checkers::Kv;
use dsim_core::{
    Fault, Formula, NodeId, Observation, ObservationRecord, Outcome, RunOutput, SimDuration,
    SimTime, Value, Verdict, Violation,
};
use dsim_core::{ObservationSink, Retain};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Violations kept per check; the rest are only counted (`violations_total`).
const VIOLATIONS_PER_CHECK_MAX: usize = 100;

/// Model steps the linearizability search may take per run: far above what a correct
/// run of the shipped scenarios needs (a few per operation), so `Unknown` means a
/// pathological history, reported rather than passed.
pub const LINEARIZABILITY_BUDGET: u64 = 5_000_000;

/// The default liveness bound: how long after the last fault healed (or after its
/// invocation, if later) a client operation may take to complete.
pub const LIVENESS_BOUND: SimDuration = SimDuration::from_secs(2);

/// Judges a Paxos run with `replicas` replicas (nodes `0..replicas`), with the default
/// [`LIVENESS_BOUND`].
pub fn check(output: &RunOutput<PaxosEvent>, replicas: usize) -> Verdict {
    check_with(output, replicas, LIVENESS_BOUND)
}

/// Judges a Paxos run with `replicas` replicas and the given liveness bound.
pub fn check_with(
    output: &RunOutput<PaxosEvent>,
    replicas: usize,
    liveness_bound: SimDuration,
) -> Verdict {
    let mut checker = Checker::new(replicas);
    for record in &output.observations {
        checker.observe(record);
    }
    checker.check_history(output);
    checker.check_liveness(output, liveness_bound);
    checker.verdict()
}

/// [`check_with`] while the run happens: [`LiveCheck::sink`] is the engine's observation
/// sink, which judges each observation as it is made and lets the engine keep only the
/// clients' operations (the history checks and the report need those at the end), so a
/// long run does not hold every acceptance and decision. [`LiveCheck::finish`] gives
/// the same verdict [`check_with`] gives on the whole run.
pub struct LiveCheck {
    checker: Rc<RefCell<Checker>>,
}

impl LiveCheck {
    /// A check of a run with `replicas` replicas.
    pub fn new(replicas: usize) -> LiveCheck {
        LiveCheck {
            checker: Rc::new(RefCell::new(Checker::new(replicas))),
        }
    }

    /// The observation sink to attach to the run.
    pub fn sink(&self) -> Box<dyn ObservationSink<PaxosEvent>> {
        let checker = Rc::clone(&self.checker);
        Box::new(move |record: &ObservationRecord<PaxosEvent>| {
            checker.borrow_mut().observe(record);
            match record.observation {
                Observation::OpInvoked { .. } | Observation::OpCompleted { .. } => Retain::Keep,
                _ => Retain::Release,
            }
        })
    }

    /// Finishes the checks on the run's output (its client operations and fault log).
    pub fn finish(self, output: &RunOutput<PaxosEvent>, liveness_bound: SimDuration) -> Verdict {
        let mut checker = self.checker.replace(Checker::new(0));
        checker.check_history(output);
        checker.check_liveness(output, liveness_bound);
        checker.verdict()
    }
}

/// When the run's last fault healed, if it did: `None` when the run ends with the
/// network split or a majority of the replicas down. Also returns every crash, per node.
fn healed_at(
    output: &RunOutput<PaxosEvent>,
    replicas: usize,
) -> (Option<SimTime>, BTreeMap<NodeId, Vec<SimTime>>) {
    let mut crashed: BTreeSet<NodeId> = BTreeSet::new();
    let mut crashes: BTreeMap<NodeId, Vec<SimTime>> = BTreeMap::new();
    let mut split = false;
    let mut settled = SimTime(0);
    for record in &output.fault_log {
        let mut until = record.time;
        match &record.fault {
            Fault::Crash(node) => {
                crashed.insert(*node);
                crashes.entry(*node).or_default().push(record.time);
            }
            Fault::Restart(node) => {
                crashed.remove(node);
            }
            Fault::Partition(_) | Fault::Cut { .. } | Fault::Isolate(_) => split = true,
            Fault::Heal => split = false,
            // A fail-slow node is not down, but it can hold back a majority's progress
            // (a slow leader keeps its leadership) until its slowness ends.
            Fault::Pause { duration, .. }
            | Fault::Degrade { duration, .. }
            | Fault::Slow { duration, .. }
            | Fault::SlowDisk { duration, .. } => {
                until = record.time.saturating_add(*duration);
            }
            // A clock step or drift does not stop a majority from making progress.
            _ => continue,
        }
        settled = settled.max(until);
    }
    let down = crashed
        .iter()
        .filter(|node| node.index() < replicas)
        .count();
    let healed = !split && replicas - down.min(replicas) > replicas / 2;
    (healed.then_some(settled), crashes)
}

pub use crate::history::client_history;

struct Checker {
    replicas: usize,
    majority: usize,
    submitted: BTreeSet<u64>,
    /// Per (slot, ballot): each accepted value and the acceptors (bit mask) that took it.
    votes: BTreeMap<(u64, Ballot), BTreeMap<u64, u32>>,
    /// The first value seen chosen per slot, and its ballot.
    chosen: BTreeMap<u64, (u64, Ballot)>,
    /// Per slot, what each replica learned first.
    learned: BTreeMap<u64, BTreeMap<u32, u64>>,
    /// Slots already reported under `agreement`, so one bad slot is one violation.
    disagreeing_slots: BTreeSet<u64>,
    next_apply: Vec<u64>,
    executed: Vec<BTreeSet<u64>>,
    leader_changes: u64,
    duplicates: u64,
    history_states: u64,
    /// Commands some replica executed, as (client, seq).
    executed_commands: BTreeSet<(NodeId, u64)>,
    /// Writes in flight: (client, seq) to `f`.
    writes: BTreeMap<(NodeId, u64), &'static str>,
    violations: Vec<Violation>,
    per_check: BTreeMap<&'static str, usize>,
    total: usize,
}

impl Checker {
    fn new(replicas: usize) -> Checker {
        Checker {
            replicas,
            majority: replicas / 2 + 1,
            submitted: BTreeSet::new(),
            votes: BTreeMap::new(),
            chosen: BTreeMap::new(),
            learned: BTreeMap::new(),
            disagreeing_slots: BTreeSet::new(),
            next_apply: vec![0; replicas],
            executed: vec![BTreeSet::new(); replicas],
            leader_changes: 0,
            duplicates: 0,
            history_states: 0,
            executed_commands: BTreeSet::new(),
            writes: BTreeMap::new(),
            violations: Vec::new(),
            per_check: BTreeMap::new(),
            total: 0,
        }
    }

    fn violation(
        &mut self,
        time: SimTime,
        check: &'static str,
        nodes: Vec<NodeId>,
        details: String,
    ) {
        self.total += 1;
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

    fn observe(&mut self, record: &ObservationRecord<PaxosEvent>) {
        let node = record.node;
        let is_replica = node.index() < self.replicas;
        match &record.observation {
            Observation::Protocol(PaxosEvent::Submitted { value }) => {
                self.submitted.insert(*value);
            }
            Observation::Protocol(PaxosEvent::Accepted {
                slot,
                ballot,
                value,
            }) if is_replica => self.on_accepted(record.time, node, *slot, *ballot, *value),
            Observation::Decided { slot, value } if is_replica => {
                self.on_learned(record.time, node, *slot, *value)
            }
            Observation::Protocol(PaxosEvent::Applied {
                slot,
                value,
                outcome,
            }) if is_replica => self.on_applied(record.time, node, *slot, *value, *outcome),
            Observation::Protocol(PaxosEvent::LeaderElected { .. }) => self.leader_changes += 1,
            Observation::Protocol(PaxosEvent::SnapshotInstalled { through }) if is_replica => {
                // The snapshot stands for every slot below `through`: applying resumes there.
                let next = &mut self.next_apply[node.index()];
                *next = (*next).max(*through);
            }
            Observation::OpInvoked { op, f, .. } if !is_replica && *f != "get" => {
                self.writes.insert((node, *op), f);
            }
            Observation::OpCompleted { op, outcome, .. } if !is_replica => {
                if let Some(f) = self.writes.remove(&(node, *op))
                    && *outcome == Outcome::Ok
                    && !self.executed_commands.contains(&(node, *op))
                {
                    self.violation(
                        record.time,
                        "acked_applied",
                        vec![node],
                        format!(
                            "client {} was told its {f} (seq {op}) succeeded, but no replica had executed it",
                            node.0
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    /// The `liveness` check: operations complete within `bound` of the heal.
    fn check_liveness(&mut self, output: &RunOutput<PaxosEvent>, bound: SimDuration) {
        let (Some(healed), crashes) = healed_at(output, self.replicas) else {
            return;
        };
        let (history, clients) = client_history(output, self.replicas);
        let mut late = history.ops.iter().filter(|op| {
            let invoked = SimTime(op.invoke_time_ns.unwrap_or(0));
            let deadline = invoked.max(healed).saturating_add(bound);
            let forgotten = crashes
                .get(&clients[op.id])
                .is_some_and(|times| times.iter().any(|&crash| crash >= invoked));
            deadline <= output.end_time
                && !forgotten
                && op
                    .complete_time_ns
                    .is_none_or(|done| done > deadline.as_nanos())
        });
        if let Some(first) = late.next() {
            let count = 1 + late.count();
            let invoked = SimTime(first.invoke_time_ns.unwrap_or(0));
            let deadline = invoked.max(healed).saturating_add(bound);
            self.violation(
                deadline,
                "liveness",
                vec![clients[first.id]],
                format!(
                    "op {} ({first}) invoked at {invoked} had not completed {bound} after the faults healed at {healed} (deadline {deadline}); {count} op(s) late in all",
                    first.id
                ),
            );
        }
    }

    /// The `linearizable` check of the clients' key-value history.
    fn check_history(&mut self, output: &RunOutput<PaxosEvent>) {
        let (history, clients) = client_history(output, self.replicas);
        if history.ops.is_empty() {
            return;
        }
        let verdict = dsim_checkers::linearizable(&history, &Kv, LINEARIZABILITY_BUDGET);
        self.history_states = verdict.states_explored();
        match verdict {
            dsim_checkers::Verdict::Linearizable { .. } => {}
            dsim_checkers::Verdict::NotLinearizable { counterexample, .. } => {
                let stuck = &history.ops[counterexample.stuck];
                let time = SimTime(stuck.complete_time_ns.unwrap_or(stuck.invoke_time_ns.unwrap_or(0)));
                let mut nodes: Vec<NodeId> =
                    counterexample.window.iter().map(|&id| clients[id]).collect();
                nodes.sort();
                nodes.dedup();
                let window: Vec<String> = counterexample
                    .window
                    .iter()
                    .map(|&id| format!("op {id}: {}", history.ops[id]))
                    .collect();
                let last: Vec<String> = counterexample
                    .prefix
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .map(|&id| format!("op {id}: {}", history.ops[id]))
                    .collect();
                self.violation(
                    time,
                    "linearizable",
                    nodes,
                    format!(
                        "key {}: no order of the clients' ops explains op {} ({}); the store held {} after [{}]; ops involved (op ids as in ops.csv): [{}]",
                        counterexample.key.as_ref().map_or("-".to_string(), Value::to_string),
                        counterexample.stuck,
                        stuck,
                        counterexample.state,
                        last.join("; "),
                        window.join("; ")
                    ),
                );
                // The operations as data (ops.csv op ids), for reports to highlight.
                if let Some(violation) = self.violations.last_mut().filter(|v| v.check == "linearizable") {
                    violation.ops = counterexample.window.iter().map(|&id| id as u64).collect();
                    violation.ops.sort_unstable();
                }
            }
            dsim_checkers::Verdict::Unknown {
                states_explored,
                key,
            } => self.violation(
                output.end_time,
                "linearizable_unknown",
                Vec::new(),
                format!(
                    "the linearizability search spent its budget ({states_explored} model steps) on key {}",
                    key.as_ref().map_or("-".to_string(), Value::to_string)
                ),
            ),
        }
    }

    fn check_validity(&mut self, time: SimTime, node: NodeId, slot: u64, value: u64, what: &str) {
        if value != NOOP && !self.submitted.contains(&value) {
            self.violation(
                time,
                "validity",
                vec![node],
                format!("slot {slot}: value {value:#x} {what} but no client submitted it"),
            );
        }
    }

    fn on_accepted(&mut self, time: SimTime, node: NodeId, slot: u64, ballot: Ballot, value: u64) {
        let acceptors = self
            .votes
            .entry((slot, ballot))
            .or_default()
            .entry(value)
            .or_default();
        let before = acceptors.count_ones() as usize;
        *acceptors |= 1 << node.0;
        let mask = *acceptors;
        if before < self.majority && mask.count_ones() as usize >= self.majority {
            self.on_chosen(time, slot, ballot, value, mask);
        }
    }

    fn on_chosen(&mut self, time: SimTime, slot: u64, ballot: Ballot, value: u64, mask: u32) {
        let acceptors = nodes_of(mask);
        self.check_validity(time, acceptors[0], slot, value, "was chosen");
        match self.chosen.get(&slot).copied() {
            None => {
                self.chosen.insert(slot, (value, ballot));
            }
            Some((first, _)) if first == value => {}
            Some((first, first_ballot)) => {
                if self.disagreeing_slots.insert(slot) {
                    self.violation(
                        time,
                        "agreement",
                        acceptors,
                        format!(
                            "slot {slot}: {value:#x} chosen in ballot ({}, {}) after {first:#x} was chosen in ballot ({}, {})",
                            ballot.round, ballot.node, first_ballot.round, first_ballot.node
                        ),
                    );
                }
                return;
            }
        }
        let mismatch = self
            .learned
            .get(&slot)
            .and_then(|by_node| by_node.iter().find(|&(_, &learned)| learned != value))
            .map(|(&replica, &learned)| (replica, learned));
        if let Some((replica, learned)) = mismatch
            && self.disagreeing_slots.insert(slot)
        {
            self.violation(
                time,
                "agreement",
                vec![NodeId(replica)],
                format!(
                    "slot {slot}: {value:#x} chosen but replica {replica} learned {learned:#x}"
                ),
            );
        }
    }

    fn on_learned(&mut self, time: SimTime, node: NodeId, slot: u64, value: u64) {
        self.check_validity(time, node, slot, value, "was learned");
        let by_node = self.learned.entry(slot).or_default();
        if let Some(&first) = by_node.get(&node.0) {
            if first != value {
                self.violation(
                    time,
                    "learned_once",
                    vec![node],
                    format!(
                        "replica {} learned slot {slot} again as {value:#x} after {first:#x}",
                        node.0
                    ),
                );
            }
            return;
        }
        let other = by_node
            .iter()
            .find(|&(_, &learned)| learned != value)
            .map(|(&replica, &learned)| (replica, learned));
        by_node.insert(node.0, value);
        if self.disagreeing_slots.contains(&slot) {
            return;
        }
        if let Some(&(chosen, _)) = self.chosen.get(&slot)
            && chosen != value
        {
            self.disagreeing_slots.insert(slot);
            self.violation(
                time,
                "agreement",
                vec![node],
                format!(
                    "slot {slot}: replica {} learned {value:#x} but {chosen:#x} was chosen",
                    node.0
                ),
            );
        } else if let Some((replica, learned)) = other {
            self.disagreeing_slots.insert(slot);
            self.violation(
                time,
                "agreement",
                vec![node, NodeId(replica)],
                format!(
                    "slot {slot}: replica {} learned {value:#x} but replica {replica} learned {learned:#x}",
                    node.0
                ),
            );
        }
    }

    fn on_applied(
        &mut self,
        time: SimTime,
        node: NodeId,
        slot: u64,
        value: u64,
        outcome: ApplyOutcome,
    ) {
        let replica = node.index();
        let expected = self.next_apply[replica];
        self.next_apply[replica] = slot + 1;
        if slot != expected {
            self.violation(
                time,
                "apply_order",
                vec![node],
                format!(
                    "replica {} applied slot {slot} when slot {expected} was next",
                    node.0
                ),
            );
        }
        let reference = self.chosen.get(&slot).map(|&(value, _)| value).or_else(|| {
            self.learned
                .get(&slot)
                .and_then(|by_node| by_node.get(&node.0))
                .copied()
        });
        match reference {
            None => self.violation(
                time,
                "apply_order",
                vec![node],
                format!(
                    "replica {} applied slot {slot} before it was decided",
                    node.0
                ),
            ),
            Some(reference) if reference != value => self.violation(
                time,
                "apply_order",
                vec![node],
                format!(
                    "replica {} applied {value:#x} at slot {slot} but the log holds {reference:#x}",
                    node.0
                ),
            ),
            Some(_) => {}
        }
        match outcome {
            ApplyOutcome::Noop if value != NOOP => self.violation(
                time,
                "apply_order",
                vec![node],
                format!(
                    "replica {} skipped command {value:#x} at slot {slot} as a no-op",
                    node.0
                ),
            ),
            ApplyOutcome::Noop => {}
            ApplyOutcome::Executed | ApplyOutcome::Duplicate if value == NOOP => self.violation(
                time,
                "apply_order",
                vec![node],
                format!("replica {} ran a no-op at slot {slot} as a command", node.0),
            ),
            ApplyOutcome::Executed => {
                if let Some(command) = command_parts(value) {
                    self.executed_commands.insert(command);
                }
                if !self.executed[replica].insert(value) {
                    self.violation(
                        time,
                        "apply_order",
                        vec![node],
                        format!(
                            "replica {} ran command {value:#x} twice (again at slot {slot})",
                            node.0
                        ),
                    );
                }
            }
            ApplyOutcome::Duplicate => self.duplicates += 1,
        }
    }

    fn agreement(&self) -> f64 {
        if self.learned.is_empty() {
            return 1.0;
        }
        let sum: f64 = self
            .learned
            .values()
            .map(|by_node| {
                let mut support: BTreeMap<u64, usize> = BTreeMap::new();
                for &value in by_node.values() {
                    *support.entry(value).or_default() += 1;
                }
                let winner = support.values().copied().max().unwrap_or(0);
                winner as f64 / self.replicas as f64
            })
            .sum();
        sum / self.learned.len() as f64
    }

    fn verdict(self) -> Verdict {
        let agreement = self.agreement();
        Verdict {
            formula: Formula::Value {
                name: "f(x)",
                value: agreement,
            },
            agreement,
            extra_columns: vec![
                ("slots_decided", self.learned.len().to_string()),
                ("slots_chosen", self.chosen.len().to_string()),
                ("leader_changes", self.leader_changes.to_string()),
                ("commands_submitted", self.submitted.len().to_string()),
                ("duplicates_suppressed", self.duplicates.to_string()),
                ("history_states_explored", self.history_states.to_string()),
                ("violations_total", self.total.to_string()),
            ],
            violations: self.violations,
        }
    }
}

fn nodes_of(mask: u32) -> Vec<NodeId> {
    (0..32)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(NodeId)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::command_value;
    use super::*;
    use dsim_core::Counters;

    const CLIENT: NodeId = NodeId(3);

    fn run(events: Vec<(u32, Observation<PaxosEvent>)>) -> Verdict {
        let observations = events
            .into_iter()
            .enumerate()
            .map(|(index, (node, observation))| ObservationRecord {
                time: SimTime(index as u64),
                node: NodeId(node),
                observation,
            })
            .collect();
        let output = RunOutput {
            seed: 1,
            node_count: 4,
            end_time: SimTime(1_000),
            counters: Counters::default(),
            fingerprint: 0,
            observations,
            fault_log: Vec::new(),
            messages: Vec::new(),
        };
        check(&output, 3)
    }

    fn submitted(value: u64) -> (u32, Observation<PaxosEvent>) {
        (
            CLIENT.0,
            Observation::Protocol(PaxosEvent::Submitted { value }),
        )
    }

    fn accepted(node: u32, slot: u64, round: u32, value: u64) -> (u32, Observation<PaxosEvent>) {
        (
            node,
            Observation::Protocol(PaxosEvent::Accepted {
                slot,
                ballot: Ballot { round, node: 0 },
                value,
            }),
        )
    }

    fn learned(node: u32, slot: u64, value: u64) -> (u32, Observation<PaxosEvent>) {
        (node, Observation::Decided { slot, value })
    }

    fn applied(
        node: u32,
        slot: u64,
        value: u64,
        outcome: ApplyOutcome,
    ) -> (u32, Observation<PaxosEvent>) {
        (
            node,
            Observation::Protocol(PaxosEvent::Applied {
                slot,
                value,
                outcome,
            }),
        )
    }

    fn checks(verdict: &Verdict) -> Vec<&'static str> {
        verdict.violations.iter().map(|v| v.check).collect()
    }

    #[test]
    fn clean_run_has_no_violations_and_full_agreement() {
        let a = command_value(CLIENT, 0);
        let mut events = vec![submitted(a), accepted(0, 0, 1, a), accepted(1, 0, 1, a)];
        for node in 0..3 {
            events.push(learned(node, 0, a));
            events.push(applied(node, 0, a, ApplyOutcome::Executed));
        }
        let verdict = run(events);
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!(verdict.agreement, 1.0);
        assert_eq!(
            verdict.formula,
            Formula::Value {
                name: "f(x)",
                value: 1.0
            }
        );
    }

    #[test]
    fn two_values_chosen_in_different_ballots_break_agreement() {
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let verdict = run(vec![
            submitted(a),
            submitted(b),
            accepted(0, 0, 1, a),
            accepted(1, 0, 1, a),
            accepted(1, 0, 2, b),
            accepted(2, 0, 2, b),
        ]);
        // Majorities {0,1} and {1,2} chose different values for slot 0.
        assert_eq!(checks(&verdict), vec!["agreement"]);
    }

    #[test]
    fn acceptances_split_across_ballots_do_not_count_as_chosen() {
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let verdict = run(vec![
            submitted(a),
            submitted(b),
            accepted(0, 0, 1, a),
            accepted(1, 0, 2, a),
            accepted(2, 0, 3, b),
            accepted(1, 0, 3, b),
        ]);
        // `a` never had a majority in one ballot, so only `b` was chosen: no violation.
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
    }

    #[test]
    fn replicas_learning_different_values_break_agreement_and_lower_the_metric() {
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let verdict = run(vec![
            submitted(a),
            submitted(b),
            learned(0, 0, a),
            learned(1, 0, a),
            learned(2, 0, b),
        ]);
        assert_eq!(checks(&verdict), vec!["agreement"]);
        // Two of three replicas back the winner.
        assert!((verdict.agreement - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unsubmitted_values_break_validity() {
        let verdict = run(vec![accepted(0, 0, 1, 77), accepted(1, 0, 1, 77)]);
        // 77 was never submitted: the protocol invented it.
        assert_eq!(checks(&verdict), vec!["validity"]);
    }

    #[test]
    fn out_of_order_or_repeated_apply_breaks_apply_order() {
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let verdict = run(vec![
            submitted(a),
            submitted(b),
            learned(0, 0, a),
            learned(0, 1, b),
            learned(0, 2, a),
            applied(0, 1, b, ApplyOutcome::Executed),
            applied(0, 2, a, ApplyOutcome::Executed),
            applied(0, 3, a, ApplyOutcome::Executed),
        ]);
        // Slot 1 before slot 0; slot 3 never decided, and `a` executed twice.
        assert_eq!(
            checks(&verdict),
            vec!["apply_order", "apply_order", "apply_order"]
        );
    }

    #[test]
    fn duplicate_suppression_is_allowed() {
        let a = command_value(CLIENT, 0);
        let verdict = run(vec![
            submitted(a),
            learned(0, 0, a),
            learned(0, 1, a),
            learned(0, 2, NOOP),
            applied(0, 0, a, ApplyOutcome::Executed),
            applied(0, 1, a, ApplyOutcome::Duplicate),
            applied(0, 2, NOOP, ApplyOutcome::Noop),
        ]);
        // A command chosen twice and applied once is exactly what the client table is for.
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert!(
            verdict
                .extra_columns
                .contains(&("duplicates_suppressed", "1".to_string()))
        );
    }

    fn put(op: u64, value: i64) -> (u32, Observation<PaxosEvent>) {
        (
            CLIENT.0,
            Observation::OpInvoked {
                op,
                f: "put",
                key: Some(Value::Int(0)),
                arg: Value::Int(value),
            },
        )
    }

    fn get(op: u64) -> (u32, Observation<PaxosEvent>) {
        (
            CLIENT.0,
            Observation::OpInvoked {
                op,
                f: "get",
                key: Some(Value::Int(0)),
                arg: Value::Nil,
            },
        )
    }

    fn ok(op: u64, ret: Value) -> (u32, Observation<PaxosEvent>) {
        (
            CLIENT.0,
            Observation::OpCompleted {
                op,
                outcome: Outcome::Ok,
                ret,
            },
        )
    }

    #[test]
    fn ok_for_a_write_no_replica_executed_breaks_acked_applied() {
        // The audit's bug: command 1 was only ever suppressed as a duplicate, yet its
        // client heard ok. Without this check (and the history check) nothing fired.
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let verdict = run(vec![
            submitted(a),
            put(0, 1),
            submitted(b),
            put(1, 2),
            learned(0, 0, a),
            applied(0, 0, a, ApplyOutcome::Executed),
            ok(0, Value::Int(1)),
            learned(0, 1, b),
            applied(0, 1, b, ApplyOutcome::Duplicate),
            ok(1, Value::Int(2)),
        ]);
        assert_eq!(checks(&verdict), vec!["acked_applied"]);
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_not_linearizable() {
        // put 1 and put 2 complete one after the other; a get invoked after both
        // returns 1. The log may agree everywhere: only the history shows the stale read.
        let verdict = run(vec![
            put(0, 1),
            ok(0, Value::Int(1)),
            put(1, 2),
            ok(1, Value::Int(2)),
            get(2),
            ok(2, Value::Int(1)),
        ]);
        assert!(checks(&verdict).contains(&"linearizable"), "{verdict:?}");
        // The stale get (the third op, op id 2) is named as data for reports too.
        let violation = verdict
            .violations
            .iter()
            .find(|v| v.check == "linearizable")
            .expect("found above");
        assert!(violation.ops.contains(&2), "{violation:?}");
    }

    #[test]
    fn a_second_decision_for_a_slot_breaks_learned_once() {
        // A replica that changes its mind about a slot had a log that was not a log.
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let verdict = run(vec![
            submitted(a),
            submitted(b),
            learned(0, 0, a),
            learned(0, 0, b),
        ]);
        assert!(checks(&verdict).contains(&"learned_once"), "{verdict:?}");
    }

    fn starved_run(faults: Vec<(u64, Fault)>) -> Verdict {
        let second = 1_000_000_000;
        let record = |time, observation| ObservationRecord {
            time: SimTime(time),
            node: CLIENT,
            observation,
        };
        let output = RunOutput {
            seed: 1,
            node_count: 4,
            end_time: SimTime(5 * second),
            counters: Counters::default(),
            fingerprint: 0,
            observations: vec![
                record(second, put(0, 1).1),
                record(second + 1, ok(0, Value::Int(1)).1),
                // Invoked before the heal at 2 s and never answered.
                record(second + 2, put(1, 2).1),
            ],
            fault_log: faults
                .into_iter()
                .map(|(time, fault)| dsim_core::FaultRecord {
                    time: SimTime(time),
                    fault,
                })
                .collect(),
            messages: Vec::new(),
        };
        check_with(&output, 3, SimDuration::from_secs(2))
    }

    #[test]
    fn an_op_still_open_after_the_bound_past_the_heal_breaks_liveness() {
        // Healed at 2 s with every replica up: op 1 had until 4 s and the run went to
        // 5 s. A starved client must fail the run, not pass quietly.
        let second = 1_000_000_000;
        let verdict = starved_run(vec![
            (
                second / 2,
                Fault::Partition(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]),
            ),
            (2 * second, Fault::Heal),
        ]);
        assert!(checks(&verdict).contains(&"liveness"), "{verdict:?}");
        let liveness = verdict.violations.iter().find(|v| v.check == "liveness");
        assert_eq!(liveness.map(|v| v.time), Some(SimTime(4 * second)));
    }

    #[test]
    fn no_liveness_phase_while_the_network_is_split_or_a_majority_is_down() {
        // Without a connected majority nothing can be required to complete.
        let second = 1_000_000_000;
        let split = starved_run(vec![(
            second / 2,
            Fault::Partition(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]),
        )]);
        assert!(!checks(&split).contains(&"liveness"), "{split:?}");
        let down = starved_run(vec![
            (second / 2, Fault::Crash(NodeId(0))),
            (second / 2, Fault::Crash(NodeId(1))),
        ]);
        assert!(!checks(&down).contains(&"liveness"), "{down:?}");
    }
}
