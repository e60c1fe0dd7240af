//! The checker: judges a run from observations alone (what each client asked for and
//! was told, votes, outcomes and applied writes as the participants saw them, the
//! coordinator's reported decisions), and measures blocking as in-doubt time.
//!
//! A transaction's participants are the ones its *client* asked for (the owners of the
//! keys it touched, from its `Submitted` observation), not the list the coordinator
//! reports: a coordinator that left a participant out must not be believed.
//!
//! On top of these protocol checks, [`isolation`] judges the clients' transactional
//! history alone (what they asked, read and were told) with
//! [`dsim_checkers::isolation()`]: every anomaly Elle's inference finds is one
//! `isolation` violation naming the anomaly, with the checker's explanation.

use super::types::{Decision, Key, Resolution, TpcEvent, TxnId, Value, Vote};
use super::{COORDINATOR, TpcSettings};
use crate::liveness::{LivenessPhase, starved};
use dsim_checkers::{History, IsolationOptions};
use dsim_core::{
    Formula, NodeId, Observation, ObservationRecord, ObservationSink, Outcome, Retain, RunOutput,
    SimTime, Verdict, Violation,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The check names a verdict may report.
pub const CHECKS: [&str; 7] = [
    "atomicity",
    "unanimous_commit",
    "durability",
    "client_outcome",
    "writes_applied",
    "liveness",
    "isolation",
];

/// Edge visits the isolation checker's cycle search may spend on one run's history
/// (a run of seconds has thousands of transactions; the search needs far fewer).
pub const ISOLATION_BUDGET: u64 = 5_000_000;

/// A transaction's writes to one participant's keys.
type Writes = Vec<(Key, Value)>;

/// What the observations say about one transaction.
#[derive(Clone, Debug, Default)]
struct TxnFacts {
    participants: Option<Vec<NodeId>>,
    /// First yes and first no vote per participant.
    yes: BTreeMap<NodeId, SimTime>,
    no: BTreeMap<NodeId, SimTime>,
    /// Participants' outcomes, in time order.
    resolved: Vec<(SimTime, NodeId, Decision, Resolution)>,
    /// The coordinator's decisions, in time order.
    decided: Vec<(SimTime, Decision)>,
    /// When a client learned "committed".
    client_commit: Option<SimTime>,
    /// What the client was told first (none: it timed out or never heard: `info`).
    client_told: Option<(SimTime, Decision)>,
    /// What the client asked for: its writes, per participant owning their keys, and
    /// those participants.
    requested: Option<(BTreeMap<NodeId, Writes>, Vec<NodeId>)>,
    /// Writes the participants applied on commit, in time order.
    applied: Vec<(SimTime, NodeId, Writes)>,
}

impl TxnFacts {
    /// The participants to hold the transaction to: the client's request when it was
    /// observed, else the coordinator's list.
    fn participants(&self) -> Option<&[NodeId]> {
        match &self.requested {
            Some((_, participants)) => Some(participants),
            None => self.participants.as_deref(),
        }
    }
}

fn gather(observations: &[ObservationRecord<TpcEvent>]) -> BTreeMap<TxnId, TxnFacts> {
    let mut txns: BTreeMap<TxnId, TxnFacts> = BTreeMap::new();
    for record in observations {
        gather_one(&mut txns, record);
    }
    txns
}

/// Adds what one observation says to the facts of its transaction.
fn gather_one(txns: &mut BTreeMap<TxnId, TxnFacts>, record: &ObservationRecord<TpcEvent>) {
    {
        let Observation::Protocol(event) = &record.observation else {
            return;
        };
        let (time, node) = (record.time, record.node);
        match event {
            TpcEvent::Began { txn, participants } => {
                txns.entry(*txn).or_default().participants = Some(participants.clone());
            }
            TpcEvent::Voted { txn, vote, .. } => {
                let facts = txns.entry(*txn).or_default();
                let votes = match vote {
                    Vote::Yes => &mut facts.yes,
                    Vote::No => &mut facts.no,
                };
                votes.entry(node).or_insert(time);
            }
            TpcEvent::Resolved { txn, decision, how } => {
                txns.entry(*txn)
                    .or_default()
                    .resolved
                    .push((time, node, *decision, *how));
            }
            TpcEvent::Decided { txn, decision, .. } => {
                txns.entry(*txn)
                    .or_default()
                    .decided
                    .push((time, *decision));
            }
            TpcEvent::Submitted { txn, writes } => {
                let by_owner: BTreeMap<NodeId, Writes> = writes.iter().cloned().collect();
                let participants = by_owner.keys().copied().collect();
                txns.entry(*txn).or_default().requested = Some((by_owner, participants));
            }
            TpcEvent::Applied { txn, writes } => {
                txns.entry(*txn)
                    .or_default()
                    .applied
                    .push((time, node, writes.clone()));
            }
            TpcEvent::ClientLearned { txn, decision } => {
                txns.entry(*txn)
                    .or_default()
                    .client_told
                    .get_or_insert((time, *decision));
                if *decision == Decision::Commit {
                    txns.entry(*txn)
                        .or_default()
                        .client_commit
                        .get_or_insert(time);
                }
            }
        }
    }
}

fn nodes_with(facts: &TxnFacts, decision: Decision) -> BTreeSet<NodeId> {
    facts
        .resolved
        .iter()
        .filter(|(_, _, d, _)| *d == decision)
        .map(|(_, node, _, _)| *node)
        .collect()
}

fn first_time(facts: &TxnFacts, decision: Decision) -> Option<SimTime> {
    facts
        .resolved
        .iter()
        .find(|(_, _, d, _)| *d == decision)
        .map(|(time, _, _, _)| *time)
}

fn list(nodes: &BTreeSet<NodeId>) -> String {
    nodes
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Atomicity: no transaction commits at one participant and aborts at another (or at
/// the same one).
fn atomicity(txn: TxnId, facts: &TxnFacts) -> Option<Violation> {
    let (Some(commit_at), Some(abort_at)) = (
        first_time(facts, Decision::Commit),
        first_time(facts, Decision::Abort),
    ) else {
        return None;
    };
    let committed = nodes_with(facts, Decision::Commit);
    let aborted = nodes_with(facts, Decision::Abort);
    Some(Violation {
        time: commit_at.max(abort_at),
        check: "atomicity",
        nodes: committed.union(&aborted).copied().collect(),
        details: format!(
            "txn {txn} committed at [{}] but aborted at [{}]",
            list(&committed),
            list(&aborted)
        ),
        ops: Vec::new(),
        figure: None,
    })
}

/// Commit only on unanimous yes: when any participant commits, every participant of
/// the transaction has already voted yes, and none voted no.
fn unanimous_commit(txn: TxnId, facts: &TxnFacts) -> Option<Violation> {
    for &(time, node, decision, _) in &facts.resolved {
        if decision != Decision::Commit {
            continue;
        }
        let Some(participants) = facts.participants() else {
            return Some(Violation {
                time,
                check: "unanimous_commit",
                nodes: vec![node],
                details: format!(
                    "txn {txn} committed at {node} but the coordinator never began it"
                ),
                ops: Vec::new(),
                figure: None,
            });
        };
        let missing: BTreeSet<NodeId> = participants
            .iter()
            .copied()
            .filter(|p| facts.yes.get(p).is_none_or(|&yes_at| yes_at > time))
            .collect();
        let against: BTreeSet<NodeId> = facts
            .no
            .iter()
            .filter(|&(_, &no_at)| no_at <= time)
            .map(|(p, _)| *p)
            .collect();
        if !missing.is_empty() || !against.is_empty() {
            let mut nodes: BTreeSet<NodeId> = missing.union(&against).copied().collect();
            nodes.insert(node);
            return Some(Violation {
                time,
                check: "unanimous_commit",
                nodes: nodes.into_iter().collect(),
                details: format!(
                    "txn {txn} committed at {node} at {time} without a yes vote from [{}] (no votes from [{}])",
                    list(&missing),
                    list(&against)
                ),
                ops: Vec::new(),
                figure: None,
            });
        }
    }
    None
}

/// Durability: once the coordinator reported a commit (or a client learned it), nothing
/// aborts the transaction afterwards, at a participant or at the coordinator.
fn durability(txn: TxnId, facts: &TxnFacts) -> Option<Violation> {
    let coordinator_commit = facts
        .decided
        .iter()
        .find(|(_, d)| *d == Decision::Commit)
        .map(|(t, _)| *t);
    let reported = match (coordinator_commit, facts.client_commit) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let participant_abort = facts
        .resolved
        .iter()
        .find(|(time, _, d, _)| *d == Decision::Abort && *time >= reported)
        .map(|(time, node, _, _)| (*time, *node));
    let coordinator_abort = facts
        .decided
        .iter()
        .find(|(time, d)| *d == Decision::Abort && *time >= reported)
        .map(|(time, _)| *time);
    let (time, node, by) = match (participant_abort, coordinator_abort) {
        (Some((pt, _)), Some(ct)) if ct < pt => (ct, super::COORDINATOR, "the coordinator"),
        (Some((pt, node)), _) => (pt, node, "a participant"),
        (None, Some(ct)) => (ct, super::COORDINATOR, "the coordinator"),
        (None, None) => return None,
    };
    Some(Violation {
        time,
        check: "durability",
        nodes: vec![node],
        details: format!(
            "txn {txn} was reported committed at {reported} but {by} ({node}) aborted it at {time}"
        ),
        ops: Vec::new(),
        figure: None,
    })
}

/// What a client was told matches what the participants did. Told aborted: no
/// participant applied the transaction's writes, ever. Told committed: every
/// participant the client asked for voted yes, and none aborted (the ones that did not
/// resolve by the end are in doubt and will commit). Told nothing (a timeout, Jepsen's
/// `info`): either outcome, but one (that is `atomicity`).
fn client_outcome(txn: TxnId, facts: &TxnFacts) -> Option<Violation> {
    let (told_at, told) = facts.client_told?;
    match told {
        Decision::Abort => {
            let committed = nodes_with(facts, Decision::Commit);
            let time = first_time(facts, Decision::Commit)?;
            let mut nodes: Vec<NodeId> = committed.iter().copied().collect();
            nodes.push(txn.client);
            Some(Violation {
                time: time.max(told_at),
                check: "client_outcome",
                nodes,
                details: format!(
                    "client {} was told txn {txn} aborted at {told_at}, but [{}] committed it",
                    txn.client,
                    list(&committed)
                ),
                ops: Vec::new(),
                figure: None,
            })
        }
        Decision::Commit => {
            let participants = facts.participants()?;
            let unvoted: BTreeSet<NodeId> = participants
                .iter()
                .copied()
                .filter(|p| facts.yes.get(p).is_none_or(|&yes_at| yes_at > told_at))
                .collect();
            let aborted = nodes_with(facts, Decision::Abort);
            if unvoted.is_empty() && aborted.is_empty() {
                return None;
            }
            let mut nodes: BTreeSet<NodeId> = unvoted.union(&aborted).copied().collect();
            nodes.insert(txn.client);
            Some(Violation {
                time: told_at,
                check: "client_outcome",
                nodes: nodes.into_iter().collect(),
                details: format!(
                    "client {} was told txn {txn} committed at {told_at}, but [{}] had not voted yes and [{}] aborted it",
                    txn.client,
                    list(&unvoted),
                    list(&aborted)
                ),
                ops: Vec::new(),
                figure: None,
            })
        }
    }
}

/// The stores against the clients' writes: a participant that applied a transaction
/// is one the client asked for, and applied exactly the client's writes to the keys it
/// stores, no more, no fewer, with the client's values.
fn writes_applied(txn: TxnId, facts: &TxnFacts) -> Option<Violation> {
    let (by_owner, participants) = facts.requested.as_ref()?;
    for (time, node, applied) in &facts.applied {
        let details = match by_owner.get(node) {
            None => format!(
                "{node} applied txn {txn}, but client {} asked only [{}]",
                txn.client,
                list(&participants.iter().copied().collect())
            ),
            Some(expected) if sorted(expected) != sorted(applied) => format!(
                "{node} applied {applied:?} for txn {txn}, but client {} wrote {expected:?} to its keys",
                txn.client
            ),
            Some(_) => continue,
        };
        return Some(Violation {
            time: *time,
            check: "writes_applied",
            nodes: vec![*node, txn.client],
            details,
            ops: Vec::new(),
            figure: None,
        });
    }
    None
}

fn sorted(writes: &[(Key, Value)]) -> Vec<(Key, Value)> {
    let mut writes = writes.to_vec();
    writes.sort_unstable();
    writes
}

/// Every violation in the observations, in time order (ties by check name).
pub fn violations(observations: &[ObservationRecord<TpcEvent>]) -> Vec<Violation> {
    violations_of(&gather(observations))
}

/// [`violations`] from the gathered facts.
fn violations_of(txns: &BTreeMap<TxnId, TxnFacts>) -> Vec<Violation> {
    let mut found = Vec::new();
    for (&txn, facts) in txns {
        found.extend(atomicity(txn, facts));
        found.extend(unanimous_commit(txn, facts));
        found.extend(durability(txn, facts));
        found.extend(client_outcome(txn, facts));
        found.extend(writes_applied(txn, facts));
    }
    found.sort_by(|a, b| (a.time, a.check, &a.details).cmp(&(b.time, b.check, &b.details)));
    found
}

/// The clients' transactional history of a run: one `:txn` operation per client
/// transaction, its process the client's node id, as `history.edn` holds it (whose
/// `:process` numbers may differ: it gives a client with several transactions in
/// flight more than one).
pub fn txn_history<E>(output: &RunOutput<E>) -> History {
    // Only clients record operations in 2PC, so no node is skipped.
    crate::history::client_history(output, 0).0
}

/// The `isolation` check: the clients' history judged by
/// [`dsim_checkers::isolation()`] for the run's workload, with real-time edges (strict
/// serializability is what strict two-phase locking with two-phase commit promises).
/// Per-process edges are left out: a 2PC client has several transactions in flight,
/// so its own order is not a session order, and real time already orders the
/// transactions that do not overlap. One violation per anomaly, named by it
/// (`G1a`, `G-single-realtime`, `lost-append`, ...) and explained edge by edge; its
/// time is the latest completion among the transactions involved.
pub fn isolation(output: &RunOutput<TpcEvent>, settings: &TpcSettings) -> Vec<Violation> {
    isolation_of(&txn_history(output), output.end_time, settings)
}

/// [`isolation`] of `history` (the run's transactional history) in a run that ended at
/// `end`.
fn isolation_of(history: &History, end: SimTime, settings: &TpcSettings) -> Vec<Violation> {
    if history.ops.is_empty() {
        return Vec::new();
    }
    let options = IsolationOptions {
        workload: settings.workload,
        realtime: true,
        process: false,
        budget: ISOLATION_BUDGET,
    };
    let report = match dsim_checkers::isolation(history, &options) {
        Ok(report) => report,
        Err(error) => {
            return vec![Violation {
                time: end,
                check: "isolation",
                nodes: Vec::new(),
                details: format!(
                    "the clients' history is not a {} history: {error}",
                    settings.workload.name()
                ),
                ops: Vec::new(),
                figure: None,
            }];
        }
    };
    report
        .anomalies
        .iter()
        .map(|anomaly| {
            let ops = || anomaly.ops.iter().map(|&id| &history.ops[id]);
            let time = ops()
                .filter_map(|op| op.complete_time_ns.or(op.invoke_time_ns))
                .max()
                .map_or(end, SimTime);
            let mut nodes: Vec<NodeId> = ops().map(|op| NodeId(op.process as u32)).collect();
            nodes.sort();
            nodes.dedup();
            let models: Vec<&str> = anomaly.kind.rules_out().iter().map(|m| m.name()).collect();
            Violation {
                time,
                check: "isolation",
                nodes,
                details: format!(
                    "{}: {} (rules out {}; T<n> is op_id n of ops.csv)",
                    anomaly.kind.name(),
                    anomaly.explanation,
                    if models.is_empty() {
                        "nothing".to_string()
                    } else {
                        models.join(", ")
                    }
                ),
                ops: ops().map(|op| op.id as u64).collect(),
                figure: anomaly.svg(),
            }
        })
        .collect()
}

/// Transactions of one client in a row that must go unanswered before the liveness
/// check calls it starvation. Clients send `Begin` once and the coordinator sends the
/// outcome once, so a single lost message is a timeout, not starvation; five in a row
/// on a healthy cell is (at 1% loss, about one chance in 10^9 per window).
pub const STARVED_IN_A_ROW: usize = 5;

/// The liveness check. Its phase starts `liveness_bound` after the last fault ended and
/// is judged only when the coordinator is up at the end and the network is whole (2PC
/// blocks without its coordinator, by design). In it, the transactions that a client up
/// at the end submitted, early enough that its `client_timeout` ran out before the end,
/// must keep getting outcomes (committed or aborted): `STARVED_IN_A_ROW` of them in a
/// row without one means the protocol stopped answering that client. Reports the first
/// such run per client.
pub fn liveness(output: &RunOutput<TpcEvent>, settings: &TpcSettings) -> Vec<Violation> {
    let phase = LivenessPhase::of(&output.fault_log);
    if !phase.network_whole || phase.down.contains(&COORDINATOR) {
        return Vec::new();
    }
    starved(
        &output.ops,
        &phase,
        phase.start.saturating_add(settings.liveness_bound),
        output.end_time,
        settings.client_timeout,
        STARVED_IN_A_ROW,
        |outcome| !matches!(outcome, Outcome::Info(_)),
    )
    .into_iter()
    .map(|found| Violation {
        time: found.last.1.saturating_add(settings.client_timeout),
        check: "liveness",
        nodes: vec![found.client, COORDINATOR],
        details: format!(
            "client {} got no outcome for {STARVED_IN_A_ROW} transactions in a row (txn {} submitted at {} through txn {} at {}), though the last fault ended at {} and the coordinator was up",
            found.client.0, found.first.0, found.first.1, found.last.0, found.last.1, phase.start
        ),
        ops: Vec::new(),
        figure: None,
    })
    .collect()
}

/// One participant's in-doubt time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InDoubtTotals {
    /// Sum over its transactions of the time from its yes vote to its outcome.
    pub total_ns: u64,
    /// The longest single such span.
    pub max_ns: u64,
    /// How many transactions it was in doubt about.
    pub txns: u64,
}

/// In-doubt time across a run: from a participant's yes vote until it learns the
/// outcome (spans still open count until the end of the run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InDoubtStats {
    /// Per participant.
    pub per_participant: BTreeMap<NodeId, InDoubtTotals>,
    /// Sum over all participants.
    pub total_ns: u64,
    /// Longest single span at any participant.
    pub max_ns: u64,
    /// Spans still open at the end: (participant, transaction, yes-vote time).
    pub unresolved: Vec<(NodeId, TxnId, SimTime)>,
}

/// In-doubt time from the observations, spans still open counted up to `end`.
pub fn in_doubt(observations: &[ObservationRecord<TpcEvent>], end: SimTime) -> InDoubtStats {
    let mut fold = InDoubtFold::default();
    for record in observations {
        fold.observe(record);
    }
    fold.finish(end)
}

/// [`in_doubt`] one observation at a time.
#[derive(Default)]
struct InDoubtFold {
    open: BTreeMap<(NodeId, TxnId), SimTime>,
    closed: BTreeSet<(NodeId, TxnId)>,
    stats: InDoubtStats,
}

impl InDoubtFold {
    fn add(stats: &mut InDoubtStats, node: NodeId, span_ns: u64) {
        let totals = stats.per_participant.entry(node).or_default();
        totals.total_ns += span_ns;
        totals.max_ns = totals.max_ns.max(span_ns);
        totals.txns += 1;
        stats.total_ns += span_ns;
        stats.max_ns = stats.max_ns.max(span_ns);
    }

    fn observe(&mut self, record: &ObservationRecord<TpcEvent>) {
        let Observation::Protocol(event) = &record.observation else {
            return;
        };
        match event {
            TpcEvent::Voted {
                txn,
                vote: Vote::Yes,
                ..
            } => {
                let key = (record.node, *txn);
                if !self.closed.contains(&key) {
                    self.open.entry(key).or_insert(record.time);
                }
            }
            TpcEvent::Resolved { txn, .. } => {
                let key = (record.node, *txn);
                if let Some(start) = self.open.remove(&key) {
                    self.closed.insert(key);
                    Self::add(
                        &mut self.stats,
                        record.node,
                        record.time.saturating_since(start).as_nanos(),
                    );
                }
            }
            _ => {}
        }
    }

    fn finish(self, end: SimTime) -> InDoubtStats {
        let mut stats = self.stats;
        for ((node, txn), start) in self.open {
            Self::add(&mut stats, node, end.saturating_since(start).as_nanos());
            stats.unresolved.push((node, txn, start));
        }
        stats
            .unresolved
            .sort_by_key(|&(node, txn, start)| (start, node, txn));
        stats
    }
}

/// Judges a run: the three checks, the formula `T` (mean latency of the `ok`
/// transactions, computed by the report from `ops.csv`), agreement as the share of
/// resolved transactions with one outcome everywhere, and summary columns
/// `in_doubt_total_ns`, `in_doubt_max_ns`, `in_doubt_open`, `txns_committed`,
/// `txns_aborted`.
pub fn check(output: &RunOutput<TpcEvent>) -> Verdict {
    verdict_of(
        &gather(&output.observations),
        in_doubt(&output.observations, output.end_time),
    )
}

/// [`check`] from the gathered facts and in-doubt time.
fn verdict_of(txns: &BTreeMap<TxnId, TxnFacts>, stats: InDoubtStats) -> Verdict {
    let mut resolved = 0u64;
    let mut atomic = 0u64;
    let mut committed = 0u64;
    let mut aborted = 0u64;
    for facts in txns.values() {
        if !facts.resolved.is_empty() {
            resolved += 1;
            let first = facts.resolved[0].2;
            if facts.resolved.iter().all(|(_, _, d, _)| *d == first) {
                atomic += 1;
            }
        }
        match facts.decided.first() {
            Some((_, Decision::Commit)) => committed += 1,
            Some((_, Decision::Abort)) => aborted += 1,
            None => {}
        }
    }
    let agreement = if resolved == 0 {
        1.0
    } else {
        atomic as f64 / resolved as f64
    };
    Verdict {
        violations: violations_of(txns),
        formula: Formula::MeanOkLatency { name: "T" },
        agreement,
        extra_columns: vec![
            ("in_doubt_total_ns", stats.total_ns.to_string()),
            ("in_doubt_max_ns", stats.max_ns.to_string()),
            ("in_doubt_open", stats.unresolved.len().to_string()),
            ("txns_committed", committed.to_string()),
            ("txns_aborted", aborted.to_string()),
        ],
    }
}

/// Every check of a run ([`check`], [`liveness`], [`isolation`]), in one time order
/// (ties by check name), as `dsim run` reports them.
pub fn check_all(output: &RunOutput<TpcEvent>, settings: &TpcSettings) -> Verdict {
    let verdict = check(output);
    with_history_checks(verdict, output, settings)
}

/// Adds the checks that need the clients' history at the end, and sorts.
fn with_history_checks(
    mut verdict: Verdict,
    output: &RunOutput<TpcEvent>,
    settings: &TpcSettings,
) -> Verdict {
    verdict.violations.extend(liveness(output, settings));
    verdict.violations.extend(isolation(output, settings));
    sort_by_time(&mut verdict);
    verdict
}

/// One time order for all checks (ties by check name, then words), so that the first
/// violation is the earliest.
fn sort_by_time(verdict: &mut Verdict) {
    verdict
        .violations
        .sort_by(|a, b| (a.time, a.check, &a.details).cmp(&(b.time, b.check, &b.details)));
}

/// [`check_all`] while the run happens: [`LiveCheck::sink`] is the engine's observation
/// sink, which folds every protocol observation into the per-transaction facts and the
/// in-doubt spans as it is made and lets the engine keep no client operation
/// observation either: the engine pairs those as they happen ([`RunOutput::ops`], what
/// `isolation`, `liveness` and the report read at the end), so a long run does not hold
/// every vote, decision and applied write, nor two records per operation. [`LiveCheck::finish`] gives the
/// verdict [`check_all`] gives on the whole run.
pub struct LiveCheck {
    folded: Rc<RefCell<(BTreeMap<TxnId, TxnFacts>, InDoubtFold)>>,
}

impl Default for LiveCheck {
    fn default() -> LiveCheck {
        LiveCheck::new()
    }
}

impl LiveCheck {
    /// A check of one run.
    pub fn new() -> LiveCheck {
        LiveCheck {
            folded: Rc::new(RefCell::new((BTreeMap::new(), InDoubtFold::default()))),
        }
    }

    /// The observation sink to attach to the run.
    pub fn sink(&self) -> Box<dyn ObservationSink<TpcEvent>> {
        let folded = Rc::clone(&self.folded);
        Box::new(move |record: &ObservationRecord<TpcEvent>| {
            let (txns, doubt) = &mut *folded.borrow_mut();
            gather_one(txns, record);
            doubt.observe(record);
            Retain::after_judging(&record.observation)
        })
    }

    /// Finishes the checks on the run's output (its client operations and fault log).
    /// The isolation check borrows the operations' values from `output` for its history
    /// instead of copying them ([`crate::history::lend_client_history`]; a long
    /// list-append run's reads are most of its memory) and puts them back.
    pub fn finish(self, output: &mut RunOutput<TpcEvent>, settings: &TpcSettings) -> Verdict {
        let (txns, doubt) = self
            .folded
            .replace((BTreeMap::new(), InDoubtFold::default()));
        let mut verdict = verdict_of(&txns, doubt.finish(output.end_time));
        verdict.violations.extend(liveness(output, settings));
        let history = crate::history::lend_client_history(output, 0);
        verdict
            .violations
            .extend(isolation_of(&history, output.end_time, settings));
        crate::history::return_client_history(output, 0, history);
        sort_by_time(&mut verdict);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{DecisionReason, VoteReason};
    use super::*;

    fn t() -> TxnId {
        TxnId {
            client: NodeId(9),
            seq: 1,
        }
    }

    fn at(ms: u64, node: u32, event: TpcEvent) -> ObservationRecord<TpcEvent> {
        ObservationRecord {
            time: SimTime(ms * 1_000_000),
            node: NodeId(node),
            observation: Observation::Protocol(event),
        }
    }

    fn began(ms: u64) -> ObservationRecord<TpcEvent> {
        at(
            ms,
            0,
            TpcEvent::Began {
                txn: t(),
                participants: vec![NodeId(1), NodeId(2)],
            },
        )
    }

    fn voted(ms: u64, node: u32, vote: Vote) -> ObservationRecord<TpcEvent> {
        at(
            ms,
            node,
            TpcEvent::Voted {
                txn: t(),
                vote,
                reason: VoteReason::Prepared,
            },
        )
    }

    fn resolved(ms: u64, node: u32, decision: Decision) -> ObservationRecord<TpcEvent> {
        at(
            ms,
            node,
            TpcEvent::Resolved {
                txn: t(),
                decision,
                how: Resolution::Coordinator,
            },
        )
    }

    fn decided(ms: u64, decision: Decision) -> ObservationRecord<TpcEvent> {
        at(
            ms,
            0,
            TpcEvent::Decided {
                txn: t(),
                decision,
                reason: DecisionReason::Unanimous,
            },
        )
    }

    /// Client 9 asked participants 1 and 2 for writes to keys 1 and 2.
    fn submitted(ms: u64) -> ObservationRecord<TpcEvent> {
        at(
            ms,
            9,
            TpcEvent::Submitted {
                txn: t(),
                writes: vec![(NodeId(1), vec![(1, 10)]), (NodeId(2), vec![(2, 20)])],
            },
        )
    }

    fn applied(ms: u64, node: u32, writes: Vec<(Key, Value)>) -> ObservationRecord<TpcEvent> {
        at(ms, node, TpcEvent::Applied { txn: t(), writes })
    }

    fn told(ms: u64, decision: Decision) -> ObservationRecord<TpcEvent> {
        at(ms, 9, TpcEvent::ClientLearned { txn: t(), decision })
    }

    #[test]
    fn told_aborted_while_every_participant_committed_is_a_client_outcome_violation() {
        // The audit's commit-on-timeout run: both yes votes lost to a partition, the
        // coordinator aborts and tells the client, both in-doubt participants commit.
        // Atomicity and unanimity hold; only the client's view shows the lie.
        let observations = vec![
            submitted(0),
            began(1),
            voted(3, 1, Vote::Yes),
            voted(3, 2, Vote::Yes),
            decided(200, Decision::Abort),
            told(201, Decision::Abort),
            applied(300, 1, vec![(1, 10)]),
            resolved(300, 1, Decision::Commit),
            applied(300, 2, vec![(2, 20)]),
            resolved(300, 2, Decision::Commit),
        ];
        assert_eq!(checks(&observations), vec!["client_outcome"]);
        assert_eq!(
            violations(&observations)[0].nodes,
            vec![NodeId(1), NodeId(2), NodeId(9)]
        );
    }

    #[test]
    fn told_committed_needs_every_requested_participants_yes_not_the_coordinators_list() {
        // The coordinator began the transaction with participant 1 only; the client
        // asked for 1 and 2. Trusting the coordinator's list would pass this commit.
        let observations = vec![
            submitted(0),
            at(
                1,
                0,
                TpcEvent::Began {
                    txn: t(),
                    participants: vec![NodeId(1)],
                },
            ),
            voted(3, 1, Vote::Yes),
            decided(4, Decision::Commit),
            told(5, Decision::Commit),
            applied(6, 1, vec![(1, 10)]),
            resolved(6, 1, Decision::Commit),
        ];
        assert_eq!(
            checks(&observations),
            vec!["client_outcome", "unanimous_commit"]
        );
    }

    #[test]
    fn applied_writes_must_be_the_clients_writes_at_the_participants_it_asked() {
        let clean = vec![
            submitted(0),
            began(1),
            voted(3, 1, Vote::Yes),
            voted(3, 2, Vote::Yes),
            decided(4, Decision::Commit),
            told(5, Decision::Commit),
            applied(6, 1, vec![(1, 10)]),
            resolved(6, 1, Decision::Commit),
        ];
        // Participant 2 has not resolved yet: in doubt, not a violation.
        assert!(checks(&clean).is_empty(), "{:?}", violations(&clean));
        let mut wrong_value = clean.clone();
        wrong_value.push(applied(7, 2, vec![(2, 21)]));
        // A store holding a value the client never wrote.
        assert_eq!(checks(&wrong_value), vec!["writes_applied"]);
        let mut foreign = clean.clone();
        foreign.push(applied(7, 3, vec![(3, 30)]));
        // A participant the client never asked applied writes for the transaction.
        assert_eq!(checks(&foreign), vec!["writes_applied"]);
    }

    #[test]
    fn a_timed_out_client_accepts_either_outcome() {
        // Jepsen's info: the client heard nothing, so a commit or an abort is fine.
        let observations = vec![
            submitted(0),
            began(1),
            voted(3, 1, Vote::Yes),
            voted(3, 2, Vote::Yes),
            decided(4, Decision::Commit),
            applied(6, 1, vec![(1, 10)]),
            resolved(6, 1, Decision::Commit),
            applied(6, 2, vec![(2, 20)]),
            resolved(6, 2, Decision::Commit),
        ];
        assert!(checks(&observations).is_empty());
    }

    fn checks(observations: &[ObservationRecord<TpcEvent>]) -> Vec<&'static str> {
        violations(observations).iter().map(|v| v.check).collect()
    }

    #[test]
    fn a_clean_commit_passes_every_check() {
        let run = [
            began(0),
            voted(1, 1, Vote::Yes),
            voted(1, 2, Vote::Yes),
            decided(2, Decision::Commit),
            resolved(3, 1, Decision::Commit),
            resolved(4, 2, Decision::Commit),
        ];
        // Nothing wrong: any violation here is a false alarm.
        assert_eq!(checks(&run), Vec::<&str>::new());
    }

    #[test]
    fn commit_here_and_abort_there_breaks_atomicity() {
        let run = [
            began(0),
            voted(1, 1, Vote::Yes),
            voted(1, 2, Vote::Yes),
            resolved(3, 1, Decision::Commit),
            resolved(4, 2, Decision::Abort),
        ];
        let found = violations(&run);
        assert_eq!(checks(&run), vec!["atomicity"]);
        // Reported when the second outcome appears, naming both participants.
        assert_eq!(found[0].time, SimTime(4_000_000));
        assert_eq!(found[0].nodes, vec![NodeId(1), NodeId(2)]);
    }

    #[test]
    fn commit_before_every_yes_breaks_unanimity() {
        let run = [
            began(0),
            voted(1, 1, Vote::Yes),
            resolved(3, 1, Decision::Commit),
            voted(5, 2, Vote::Yes),
            resolved(6, 2, Decision::Commit),
        ];
        // Participant 2's yes came after participant 1 committed: the commit was not
        // backed by every vote when it happened.
        assert_eq!(checks(&run), vec!["unanimous_commit"]);
        assert_eq!(violations(&run)[0].nodes, vec![NodeId(1), NodeId(2)]);
    }

    #[test]
    fn abort_after_a_reported_commit_breaks_durability() {
        let run = [
            began(0),
            voted(1, 1, Vote::Yes),
            voted(1, 2, Vote::Yes),
            decided(2, Decision::Commit),
            resolved(3, 1, Decision::Commit),
            resolved(9, 2, Decision::Abort),
        ];
        let found = checks(&run);
        // Both: the client was told "committed" and participant 2 aborted later.
        assert_eq!(found, vec!["atomicity", "durability"]);
    }

    #[test]
    fn in_doubt_spans_run_from_yes_vote_to_outcome() {
        let run = [
            began(0),
            voted(1, 1, Vote::Yes),
            voted(2, 2, Vote::Yes),
            resolved(11, 1, Decision::Commit),
        ];
        let stats = in_doubt(&run, SimTime(42_000_000));
        // Participant 1: 10 ms; participant 2 still open at 42 ms: 40 ms.
        assert_eq!(stats.per_participant[&NodeId(1)].total_ns, 10_000_000);
        assert_eq!(stats.per_participant[&NodeId(2)].max_ns, 40_000_000);
        assert_eq!(stats.total_ns, 50_000_000);
        assert_eq!(stats.max_ns, 40_000_000);
        assert_eq!(stats.unresolved, vec![(NodeId(2), t(), SimTime(2_000_000))]);
    }

    #[test]
    fn transactions_timing_out_long_after_the_last_fault_are_a_liveness_violation() {
        let settings = TpcSettings::default();
        let client = |ms: u64, observation| ObservationRecord {
            time: SimTime(ms * 1_000_000),
            node: NodeId(5),
            observation,
        };
        let txn = |observations: &mut Vec<_>, ms: u64, op: u64, outcome: &'static str| {
            observations.push(client(
                ms,
                Observation::OpInvoked {
                    op,
                    f: "txn",
                    key: None,
                    arg: dsim_core::Value::Nil,
                },
            ));
            observations.push(client(
                ms + 10,
                Observation::OpCompleted {
                    op,
                    outcome: if outcome == "timeout" {
                        Outcome::Info(outcome)
                    } else {
                        Outcome::Fail(outcome)
                    },
                    ret: dsim_core::Value::Nil,
                },
            ));
        };
        let mut observations = Vec::new();
        // One lost message is a timeout, not starvation; an abort is an answer.
        txn(&mut observations, 1_100, 1, "timeout");
        txn(&mut observations, 1_200, 2, "aborted");
        for op in 3..3 + STARVED_IN_A_ROW as u64 {
            txn(&mut observations, 1_000 + 100 * op, op, "timeout");
        }
        let output = |fault_log| RunOutput {
            seed: 1,
            node_count: 7,
            end_time: SimTime(5_000_000_000),
            counters: dsim_core::Counters::default(),
            fingerprint: 0,
            ops: dsim_core::ops::pair(&observations),
            observations: observations.clone(),
            fault_log,
            messages: dsim_core::MessageLog::new(),
        };
        // A fault-free run whose client then got no outcome five times in a row: the
        // protocol stopped answering it (the isolated timeout before did not count).
        let found = liveness(&output(Vec::new()), &settings);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].check, "liveness");
        // With the coordinator down at the end, 2PC blocks by design: not judged.
        let crashed = vec![dsim_core::FaultRecord {
            time: SimTime(1_000_000),
            fault: dsim_core::Fault::Crash(COORDINATOR),
        }];
        assert!(liveness(&output(crashed), &settings).is_empty());
    }
}
