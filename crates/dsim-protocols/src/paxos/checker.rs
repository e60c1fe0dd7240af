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

use super::{ApplyOutcome, Ballot, NOOP, OP_BITS, PaxosEvent, command_parts};
use dsim_checkers::Kv;
use dsim_core::{
    Fault, Formula, NodeId, Observation, ObservationRecord, OpRecord, Outcome, RunOutput,
    SimDuration, SimTime, Value, Verdict, Violation,
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
    let settled = checker.settle();
    checker.check_history(output);
    checker.check_liveness(output, liveness_bound);
    checker.verdict(settled)
}

/// [`check_with`] while the run happens: [`LiveCheck::sink`] is the engine's observation
/// sink, which judges each observation as it is made and lets the engine keep none:
/// the clients' operations, which the history checks and the report need at the end,
/// the engine pairs as they happen ([`RunOutput::ops`]), so a long run does not hold
/// every acceptance and decision, nor two records per operation. [`LiveCheck::finish`] gives
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
            // The clients' operations are paired by the engine as they happen
            // (`RunOutput::ops`): the history checks read them there.
            Retain::Release
        })
    }

    /// Finishes the checks on the run's output (its client operations and fault log).
    pub fn finish(self, output: &RunOutput<PaxosEvent>, liveness_bound: SimDuration) -> Verdict {
        let mut checker = self.checker.replace(Checker::new(0));
        let settled = checker.settle();
        checker.check_history(output);
        checker.check_liveness(output, liveness_bound);
        checker.verdict(settled)
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
use crate::history::{client_keys, client_ops_where, describe_counterexample, of_clients};
use dsim_checkers::History;

struct Checker {
    replicas: usize,
    majority: usize,
    /// Every command value a client submitted.
    submitted: CommandSet,
    /// Acceptances still able to choose a value: per (slot, ballot, value), the
    /// acceptors (bit mask) that took it. See [`Checker::on_accepted`] for what is
    /// dropped once a slot is chosen, and why nothing a later observation could
    /// contradict goes with it.
    votes: BTreeMap<(u64, Ballot, u64), u32>,
    /// Per slot: the first value seen chosen and its ballot, and what each replica
    /// learned first.
    slots: SlotTable,
    /// Learned values that differ from the first value learned for their slot, per
    /// (slot, replica): only a run that breaks agreement has any.
    learned_other: BTreeMap<(u64, u32), u64>,
    /// Slots already reported under `agreement`, so one bad slot is one violation.
    disagreeing_slots: BTreeSet<u64>,
    next_apply: Vec<u64>,
    /// Per replica, the commands its state machine executed.
    executed: Vec<CommandSet>,
    leader_changes: u64,
    duplicates: u64,
    history_states: u64,
    /// Commands some replica executed (by client and seq).
    executed_commands: CommandSet,
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
            submitted: CommandSet::default(),
            votes: BTreeMap::new(),
            slots: SlotTable::default(),
            learned_other: BTreeMap::new(),
            disagreeing_slots: BTreeSet::new(),
            next_apply: vec![0; replicas],
            executed: vec![CommandSet::default(); replicas],
            leader_changes: 0,
            duplicates: 0,
            history_states: 0,
            executed_commands: CommandSet::default(),
            writes: BTreeMap::new(),
            violations: Vec::new(),
            per_check: BTreeMap::new(),
            total: 0,
        }
    }

    /// What `replica` learned for `slot` first, if it learned it.
    fn learned_by(&self, slot: u64, replica: u32) -> Option<u64> {
        let facts = self.slots.get(slot);
        if facts.learned_mask & (1 << replica) != 0 {
            Some(facts.learned)
        } else {
            self.learned_other.get(&(slot, replica)).copied()
        }
    }

    /// Some replica's learned value for `slot` that is not `value`, if any (the lowest
    /// replica id first).
    fn learned_other_than(&self, slot: u64, value: u64) -> Option<(u32, u64)> {
        let facts = self.slots.get(slot);
        let mut found = self
            .learned_other
            .range((slot, 0)..=(slot, u32::MAX))
            .find(|&(_, &learned)| learned != value)
            .map(|(&(_, replica), &learned)| (replica, learned));
        if facts.learned_mask != 0 && facts.learned != value {
            let first = facts.learned_mask.trailing_zeros();
            if found.is_none_or(|(replica, _)| first < replica) {
                found = Some((first, facts.learned));
            }
        }
        found
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
                    && !self.executed_commands.contains_command(node, *op)
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

    /// The `liveness` check: operations complete within `bound` of the heal. Works from
    /// the operation records' times alone ([`of_clients`]); only the first late
    /// operation is built whole, for the report.
    fn check_liveness(&mut self, output: &RunOutput<PaxosEvent>, bound: SimDuration) {
        let (Some(healed), crashes) = healed_at(output, self.replicas) else {
            return;
        };
        let deadline_of = |op: &OpRecord| op.start.max(healed).saturating_add(bound);
        let mut late = of_clients(output, self.replicas)
            .enumerate()
            .filter(|(_, op)| {
                let deadline = deadline_of(op);
                let forgotten = crashes
                    .get(&op.client)
                    .is_some_and(|crashed| crashed.iter().any(|&crash| crash >= op.start));
                deadline <= output.end_time
                    && !forgotten
                    && op.end.is_none_or(|done| done > deadline)
            });
        if let Some((id, first)) = late.next() {
            let count = 1 + late.count();
            let invoked = first.start;
            let deadline = deadline_of(first);
            let node = first.client;
            let built = client_ops_where(output, self.replicas, |op_id, _| op_id == id);
            let shown = built
                .first()
                .map_or_else(String::new, |(_, client_op)| client_op.op.to_string());
            self.violation(
                deadline,
                "liveness",
                vec![node],
                format!(
                    "op {id} ({shown}) invoked at {invoked} had not completed {bound} after the faults healed at {healed} (deadline {deadline}); {count} op(s) late in all"
                ),
            );
        }
    }

    /// The `linearizable` check of the clients' key-value history, one key at a time
    /// (the `kv` model's keys are independent, and [`dsim_checkers::linearizable`]
    /// searches them one by one in key order with what is left of one budget; this does
    /// the same, so only one key's operations are built at a time).
    fn check_history(&mut self, output: &RunOutput<PaxosEvent>) {
        let keys = client_keys(output, self.replicas);
        let mut explored = 0u64;
        for key in keys {
            let part = client_ops_where(output, self.replicas, |_, op_key| *op_key == key);
            let ids: Vec<usize> = part.iter().map(|(id, _)| *id).collect();
            let clients: Vec<NodeId> = part.iter().map(|(_, op)| op.node).collect();
            let history = History {
                ops: part.into_iter().map(|(_, op)| op.op).collect(),
            };
            let verdict = dsim_checkers::linearizable(
                &history,
                &Kv,
                LINEARIZABILITY_BUDGET.saturating_sub(explored),
            );
            explored += verdict.states_explored();
            self.history_states = explored;
            match verdict {
                dsim_checkers::Verdict::Linearizable { .. } => {}
                dsim_checkers::Verdict::NotLinearizable { counterexample, .. } => {
                    self.not_linearizable(&history, &ids, &clients, &counterexample);
                    return;
                }
                dsim_checkers::Verdict::Unknown { key, .. } => {
                    self.violation(
                        output.end_time,
                        "linearizable_unknown",
                        Vec::new(),
                        format!(
                            "the linearizability search spent its budget ({explored} model steps) on key {}",
                            key.as_ref().map_or("-".to_string(), Value::to_string)
                        ),
                    );
                    return;
                }
            }
        }
    }

    /// Reports a `linearizable` violation found in `history`, one key's operations,
    /// whose run-wide ids (as in ops.csv) are `ids` and client nodes `clients`.
    fn not_linearizable(
        &mut self,
        history: &History,
        ids: &[usize],
        clients: &[NodeId],
        counterexample: &dsim_checkers::Counterexample,
    ) {
        let view = describe_counterexample(history, counterexample, |local| ids[local]);
        let mut nodes: Vec<NodeId> = counterexample
            .window
            .iter()
            .map(|&id| clients[id])
            .collect();
        nodes.sort();
        nodes.dedup();
        self.violation(
            view.time,
            "linearizable",
            nodes,
            format!(
                "key {}: no order of the clients' ops explains op {} ({}); the store held {} after [{}]; ops involved (op ids as in ops.csv): [{}]",
                counterexample.key.as_ref().map_or("-".to_string(), Value::to_string),
                ids[counterexample.stuck],
                history.ops[counterexample.stuck],
                counterexample.state,
                view.last.join("; "),
                view.window.join("; ")
            ),
        );
        // The operations as data (ops.csv op ids), for reports to highlight.
        if let Some(violation) = self
            .violations
            .last_mut()
            .filter(|v| v.check == "linearizable")
        {
            violation.ops = view.ops;
        }
    }

    fn check_validity(&mut self, time: SimTime, node: NodeId, slot: u64, value: u64, what: &str) {
        if !self.is_valid(value) {
            self.violation(
                time,
                "validity",
                vec![node],
                format!("slot {slot}: value {value:#x} {what} but no client submitted it"),
            );
        }
    }

    /// Counts an acceptance towards a majority for `value` in `ballot`.
    ///
    /// What is dropped, and why no violation goes with it: once slot `s` is chosen with
    /// a value `v` that is valid (a no-op or a submitted command), every acceptance of
    /// `v` for `s` (held or later) can only make `v` chosen again, which the checks
    /// accept without a word (same value; already valid, and `submitted` only grows;
    /// every replica that learned otherwise was reported when `v` was first chosen or
    /// when it learned). So those acceptances are forgotten and later ones ignored.
    /// Acceptances of any other value for `s` are kept whatever their ballot: they can
    /// still complete a majority for a second value, which is an `agreement` violation.
    /// In a run that keeps agreeing, that leaves only the rare minority acceptances of a
    /// value a later leader replaced, instead of one entry per slot and ballot.
    fn on_accepted(&mut self, time: SimTime, node: NodeId, slot: u64, ballot: Ballot, value: u64) {
        if self.slots.get(slot).chosen_value() == Some(value) && self.is_valid(value) {
            return;
        }
        let acceptors = self.votes.entry((slot, ballot, value)).or_default();
        let before = acceptors.count_ones() as usize;
        *acceptors |= 1 << node.0;
        let mask = *acceptors;
        if before < self.majority && mask.count_ones() as usize >= self.majority {
            self.on_chosen(time, slot, ballot, value, mask);
        }
    }

    /// True if `value` may be chosen or learned: a no-op or a submitted command.
    fn is_valid(&self, value: u64) -> bool {
        value == NOOP || self.submitted.contains(value)
    }

    fn on_chosen(&mut self, time: SimTime, slot: u64, ballot: Ballot, value: u64, mask: u32) {
        let acceptors = nodes_of(mask);
        self.check_validity(time, acceptors[0], slot, value, "was chosen");
        match self.slots.get(slot).chosen() {
            None => {
                self.slots.get_mut(slot).choose(value, ballot);
                if self.is_valid(value) {
                    // See `on_accepted`: these can never tell anything new.
                    let dead: Vec<(u64, Ballot, u64)> = self
                        .votes
                        .range((slot, Ballot::default(), 0)..=(slot, MAX_BALLOT, u64::MAX))
                        .filter(|&(&(_, _, voted), _)| voted == value)
                        .map(|(&key, _)| key)
                        .collect();
                    for key in dead {
                        self.votes.remove(&key);
                    }
                }
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
        if let Some((replica, learned)) = self.learned_other_than(slot, value)
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
        if let Some(first) = self.learned_by(slot, node.0) {
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
        let other = self.learned_other_than(slot, value);
        let facts = self.slots.get_mut(slot);
        if facts.learned_mask == 0 {
            facts.learned = value;
        }
        if facts.learned == value {
            facts.learned_mask |= 1 << node.0;
        } else {
            self.learned_other.insert((slot, node.0), value);
        }
        if self.disagreeing_slots.contains(&slot) {
            return;
        }
        if let Some((chosen, _)) = self.slots.get(slot).chosen()
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
        let reference = self
            .slots
            .get(slot)
            .chosen_value()
            .or_else(|| self.learned_by(slot, node.0));
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
                self.executed_commands.insert(value);
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
        let mut learned_slots = 0usize;
        let mut sum = 0.0;
        for (slot, facts) in self.slots.iter() {
            if facts.learned_mask == 0 {
                continue;
            }
            learned_slots += 1;
            let mut support: BTreeMap<u64, usize> = BTreeMap::new();
            *support.entry(facts.learned).or_default() += facts.learned_mask.count_ones() as usize;
            for (_, &value) in self.learned_other.range((slot, 0)..=(slot, u32::MAX)) {
                *support.entry(value).or_default() += 1;
            }
            let winner = support.values().copied().max().unwrap_or(0);
            sum += winner as f64 / self.replicas as f64;
        }
        if learned_slots == 0 {
            return 1.0;
        }
        sum / learned_slots as f64
    }

    /// Ends the judging of protocol observations: takes what the verdict reads from the
    /// per-slot and per-command tables, then lets the tables go, so that the history
    /// and liveness checks at the end of a long run (its memory peak) do not hold them
    /// too (about 15 MB after 1,000 s of `paxos-nemesis`). Nothing after it reads them.
    fn settle(&mut self) -> Settled {
        let settled = Settled {
            agreement: self.agreement(),
            slots_decided: self.slots.learned_count(),
            slots_chosen: self.slots.chosen_count(),
            commands_submitted: self.submitted.len(),
        };
        self.submitted = CommandSet::default();
        self.votes = BTreeMap::new();
        self.slots = SlotTable::default();
        self.learned_other = BTreeMap::new();
        self.disagreeing_slots = BTreeSet::new();
        self.executed = Vec::new();
        self.executed_commands = CommandSet::default();
        self.writes = BTreeMap::new();
        settled
    }

    fn verdict(self, settled: Settled) -> Verdict {
        let agreement = settled.agreement;
        Verdict {
            formula: Formula::Value {
                name: "f(x)",
                value: agreement,
            },
            agreement,
            extra_columns: vec![
                ("slots_decided", settled.slots_decided.to_string()),
                ("slots_chosen", settled.slots_chosen.to_string()),
                ("leader_changes", self.leader_changes.to_string()),
                ("commands_submitted", settled.commands_submitted.to_string()),
                ("duplicates_suppressed", self.duplicates.to_string()),
                ("history_states_explored", self.history_states.to_string()),
                ("violations_total", self.total.to_string()),
            ],
            violations: self.violations,
        }
    }
}

/// What the verdict takes from the checker's tables before they are let go
/// ([`Checker::settle`]).
struct Settled {
    agreement: f64,
    slots_decided: usize,
    slots_chosen: usize,
    commands_submitted: usize,
}

/// Above every ballot: the end of a slot's range of votes.
const MAX_BALLOT: Ballot = Ballot {
    round: u32::MAX,
    node: u32::MAX,
};

/// Entries per chunk of a [`SlotTable`] or [`CommandSet`]: slots and sequence numbers
/// are dense from 0, so chunks of consecutive keys hold them in a few bytes each, while
/// a stray large key costs one chunk, not a vector up to it.
const CHUNK: u64 = 64;

/// What the checker knows about one slot: 32 bytes, where maps of maps cost hundreds.
#[derive(Clone, Copy, Debug, Default)]
struct SlotFacts {
    /// The first value a replica learned for the slot (meaningful if `learned_mask`).
    learned: u64,
    /// The replicas (bit mask) whose first learned value is `learned`.
    learned_mask: u32,
    /// Whether a majority of acceptors was seen accepting a value in one ballot.
    is_chosen: bool,
    /// The first value seen chosen.
    chosen: u64,
    /// The ballot it was chosen in.
    ballot: Ballot,
}

impl SlotFacts {
    fn chosen(&self) -> Option<(u64, Ballot)> {
        self.is_chosen.then_some((self.chosen, self.ballot))
    }

    fn chosen_value(&self) -> Option<u64> {
        self.is_chosen.then_some(self.chosen)
    }

    fn choose(&mut self, value: u64, ballot: Ballot) {
        self.is_chosen = true;
        self.chosen = value;
        self.ballot = ballot;
    }
}

/// [`SlotFacts`] per slot, in chunks of [`CHUNK`] consecutive slots.
#[derive(Default)]
struct SlotTable {
    chunks: BTreeMap<u64, Box<[SlotFacts; CHUNK as usize]>>,
}

impl SlotTable {
    /// The facts of `slot` (all empty for a slot nobody reported on).
    fn get(&self, slot: u64) -> SlotFacts {
        self.chunks
            .get(&(slot / CHUNK))
            .map_or_else(SlotFacts::default, |chunk| chunk[(slot % CHUNK) as usize])
    }

    fn get_mut(&mut self, slot: u64) -> &mut SlotFacts {
        let chunk = self
            .chunks
            .entry(slot / CHUNK)
            .or_insert_with(|| Box::new([SlotFacts::default(); CHUNK as usize]));
        &mut chunk[(slot % CHUNK) as usize]
    }

    /// Every slot of the table's chunks with its facts, in slot order.
    fn iter(&self) -> impl Iterator<Item = (u64, &SlotFacts)> {
        self.chunks.iter().flat_map(|(&chunk, facts)| {
            facts
                .iter()
                .enumerate()
                .map(move |(offset, facts)| (chunk * CHUNK + offset as u64, facts))
        })
    }

    /// Slots some replica learned.
    fn learned_count(&self) -> usize {
        self.iter().filter(|(_, f)| f.learned_mask != 0).count()
    }

    /// Slots seen chosen.
    fn chosen_count(&self) -> usize {
        self.iter().filter(|(_, f)| f.is_chosen).count()
    }
}

/// A set of command values ([`super::command_value`]s), held as 4 bytes per command:
/// the operation bits of each (client, seq), in chunks of [`CHUNK`] consecutive seqs
/// (each client numbers its commands from 0). Values that are no client's command,
/// and a second value for a (client, seq) already held, go to `others`.
#[derive(Clone, Default)]
struct CommandSet {
    /// Per (client, seq / CHUNK): each seq's operation bits plus one; 0 for none.
    chunks: BTreeMap<(NodeId, u64), Box<[u32; CHUNK as usize]>>,
    others: BTreeSet<u64>,
    len: usize,
}

impl CommandSet {
    /// Where `value` lives: its chunk key, offset and stored bits; `None` if it is no
    /// command.
    fn place(value: u64) -> Option<((NodeId, u64), usize, u32)> {
        let (client, seq) = command_parts(value)?;
        let bits = (value & ((1 << OP_BITS) - 1)) as u32 + 1;
        Some(((client, seq / CHUNK), (seq % CHUNK) as usize, bits))
    }

    /// Adds `value`; false if it was there already.
    fn insert(&mut self, value: u64) -> bool {
        let added = match Self::place(value) {
            Some((key, offset, bits)) => {
                let chunk = self
                    .chunks
                    .entry(key)
                    .or_insert_with(|| Box::new([0; CHUNK as usize]));
                match chunk[offset] {
                    0 => {
                        chunk[offset] = bits;
                        true
                    }
                    held if held == bits => false,
                    _ => self.others.insert(value),
                }
            }
            None => self.others.insert(value),
        };
        self.len += usize::from(added);
        added
    }

    fn contains(&self, value: u64) -> bool {
        match Self::place(value) {
            Some((key, offset, bits)) => {
                self.chunks
                    .get(&key)
                    .is_some_and(|chunk| chunk[offset] == bits)
                    || self.others.contains(&value)
            }
            None => self.others.contains(&value),
        }
    }

    /// Whether some command of `client` numbered `seq` is in the set.
    fn contains_command(&self, client: NodeId, seq: u64) -> bool {
        self.chunks
            .get(&(client, seq / CHUNK))
            .is_some_and(|chunk| chunk[(seq % CHUNK) as usize] != 0)
    }

    fn len(&self) -> usize {
        self.len
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
            .collect::<Vec<_>>();
        let output = RunOutput {
            seed: 1,
            node_count: 4,
            end_time: SimTime(1_000),
            counters: Counters::default(),
            fingerprint: 0,
            ops: dsim_core::ops::pair(&observations),
            observations,
            fault_log: Vec::new(),
            messages: dsim_core::MessageLog::new(),
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
    fn votes_dropped_once_a_slot_is_chosen_never_hide_a_second_value() {
        // Slot 0 is chosen with `a` in ballot 1, so the checker drops the votes for `a`
        // there. Acceptor 2's earlier vote for `b` in ballot 1 is kept: when acceptor 1
        // also takes `b` in ballot 1 (a buggy acceptor), `b` has a majority there too.
        // Had the checker dropped every vote of the chosen slot, or stopped counting
        // acceptances for it, this second value would pass unseen.
        let (a, b) = (command_value(CLIENT, 0), command_value(CLIENT, 1));
        let same_ballot = run(vec![
            submitted(a),
            submitted(b),
            accepted(2, 0, 1, b),
            accepted(0, 0, 1, a),
            accepted(1, 0, 1, a),
            accepted(1, 0, 1, b),
        ]);
        assert_eq!(checks(&same_ballot), vec!["agreement"]);
        // A later ballot's majority for another value, on the chosen slot and on its
        // neighbour, is caught too: the dropped votes were only ever votes for `a`.
        let later_ballot = run(vec![
            submitted(a),
            submitted(b),
            accepted(0, 0, 1, a),
            accepted(1, 0, 1, a),
            accepted(0, 1, 1, a),
            accepted(1, 1, 1, a),
            accepted(0, 0, 1, a),
            accepted(1, 1, 2, b),
            accepted(2, 1, 2, b),
        ]);
        assert_eq!(checks(&later_ballot), vec!["agreement"]);
        let violation = &later_ballot.violations[0];
        assert!(violation.details.starts_with("slot 1:"), "{violation:?}");
        // Re-accepting the chosen value in any ballot stays silent, and the metric
        // still counts what the replicas learned.
        let clean = run(vec![
            submitted(a),
            accepted(0, 0, 1, a),
            accepted(1, 0, 1, a),
            accepted(1, 0, 2, a),
            accepted(2, 0, 2, a),
            learned(0, 0, a),
        ]);
        assert!(clean.violations.is_empty(), "{:?}", clean.violations);
        assert!(
            clean
                .extra_columns
                .contains(&("slots_chosen", "1".to_string()))
        );
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
    fn a_stale_read_on_one_key_names_run_wide_op_ids() {
        // Keys are judged one at a time; the ops of key 1 are ops 1, 3 and 5 of the run
        // (their positions in ops.csv), not 0, 1 and 2 of the key. If the ids of the
        // key's own history leaked out, `ops` would name the wrong rows.
        let on = |key: i64, observation: (u32, Observation<PaxosEvent>)| match observation {
            (node, Observation::OpInvoked { op, f, arg, .. }) => (
                node,
                Observation::OpInvoked {
                    op,
                    f,
                    key: Some(Value::Int(key)),
                    arg,
                },
            ),
            other => other,
        };
        let verdict = run(vec![
            on(0, put(0, 7)),
            ok(0, Value::Int(7)),
            on(1, put(1, 1)),
            ok(1, Value::Int(1)),
            on(0, get(2)),
            ok(2, Value::Int(7)),
            on(1, put(3, 2)),
            ok(3, Value::Int(2)),
            on(0, get(4)),
            ok(4, Value::Int(7)),
            on(1, get(5)),
            ok(5, Value::Int(1)),
        ]);
        let violation = verdict
            .violations
            .iter()
            .find(|v| v.check == "linearizable")
            .expect("the stale read of key 1 is caught");
        assert!(violation.ops.contains(&5), "{violation:?}");
        assert!(
            violation.ops.iter().all(|id| [1, 3, 5].contains(id)),
            "{violation:?}"
        );
        assert!(violation.details.starts_with("key 1:"), "{violation:?}");
        assert!(
            violation.details.contains("explains op 5 "),
            "{violation:?}"
        );
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
        let observations = vec![
            record(second, put(0, 1).1),
            record(second + 1, ok(0, Value::Int(1)).1),
            // Invoked before the heal at 2 s and never answered.
            record(second + 2, put(1, 2).1),
        ];
        let output = RunOutput {
            seed: 1,
            node_count: 4,
            end_time: SimTime(5 * second),
            counters: Counters::default(),
            fingerprint: 0,
            ops: dsim_core::ops::pair(&observations),
            observations,
            fault_log: faults
                .into_iter()
                .map(|(time, fault)| dsim_core::FaultRecord {
                    time: SimTime(time),
                    fault,
                })
                .collect(),
            messages: dsim_core::MessageLog::new(),
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
