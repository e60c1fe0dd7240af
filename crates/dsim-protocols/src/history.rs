//! The clients' history of a run, as `dsim-checkers` judges it: every protocol whose
//! clients record `OpInvoked` / `OpCompleted` observations builds its history here, from
//! the operations the engine paired as they happened ([`RunOutput::ops`]), so that all
//! of them number operations and place them in time the same way (operation `id` =
//! `op_id` in `ops.csv`).

use dsim_checkers::{History, Op, OpType};
use dsim_core::{NodeId, OpRecord, Outcome, RunOutput, SimTime, Value};
use std::collections::BTreeSet;

/// One client operation of a run: its history operation, its client node, and the op
/// number the client gave it in `OpInvoked` (what pairs a lock's release with its
/// acquire, for example).
#[derive(Clone, Debug)]
pub struct ClientOp {
    /// The operation as the checkers see it.
    pub op: Op,
    /// The client node that invoked it.
    pub node: NodeId,
    /// The client's own number for it.
    pub number: u64,
}

/// The clients' operations of a run: one per operation of a client node (nodes from
/// `replicas` on) in the run's paired operations ([`RunOutput::ops`]; an operation the
/// run ended in the middle of is `info`), with its time and event position, in
/// invocation order.
pub fn client_ops<E>(output: &RunOutput<E>, replicas: usize) -> Vec<ClientOp> {
    client_ops_where(output, replicas, |_, _| true)
        .into_iter()
        .map(|(_, client_op)| client_op)
        .collect()
}

/// The part of [`client_ops`] that `keep` (given an operation's run-wide id, its
/// position in [`client_ops`], and its key) selects, each with that run-wide id. Each
/// [`Op::id`] is the operation's position in the returned list, so the operations form
/// a [`History`] of their own, while event positions and times stay those of the whole
/// run: a checker can judge one key's operations at a time without holding the whole
/// history twice.
pub fn client_ops_where<E>(
    output: &RunOutput<E>,
    replicas: usize,
    keep: impl Fn(usize, &Option<Value>) -> bool,
) -> Vec<(usize, ClientOp)> {
    let mut ops: Vec<(usize, ClientOp)> = Vec::new();
    for (id, record) in of_clients(output, replicas).enumerate() {
        if !keep(id, &record.key) {
            continue;
        }
        let mut op = history_op_of_times(record, ops.len());
        op.key = record.key.clone();
        op.value = record.arg.clone();
        op.ret = record.ret.clone();
        ops.push((
            id,
            ClientOp {
                op,
                node: record.client,
                number: record.client_op,
            },
        ));
    }
    ops
}

/// `record` as operation `id` of a history, with `nil` key, argument and return value
/// (the caller copies or moves them in).
fn history_op_of_times(record: &OpRecord, id: usize) -> Op {
    Op {
        id,
        process: u64::from(record.client.0),
        f: record.kind.to_string(),
        key: None,
        value: Value::Nil,
        ret: Value::Nil,
        op_type: match record.outcome {
            Some(Outcome::Ok) => OpType::Ok,
            Some(Outcome::Fail(_)) => OpType::Fail,
            Some(Outcome::Info(_)) | None => OpType::Info,
        },
        invoke_index: record.invoke_seq as usize,
        complete_index: record.completion_seq().map(|seq| seq as usize),
        invoke_time_ns: Some(record.start.as_nanos()),
        complete_time_ns: record.end.map(SimTime::as_nanos),
        pos: None,
    }
}

/// The run's operations invoked by client nodes (nodes from `replicas` on).
/// The clients' operation records (those not invoked by one of the first `replicas`
/// nodes), in invocation order: the enumeration index is the op id the history
/// checks report.
pub fn of_clients<E>(output: &RunOutput<E>, replicas: usize) -> impl Iterator<Item = &OpRecord> {
    output
        .ops
        .iter()
        .filter(move |record| record.client.index() >= replicas)
}

/// The distinct keys of the clients' operations (`None` for unkeyed ones), in order.
pub fn client_keys<E>(output: &RunOutput<E>, replicas: usize) -> BTreeSet<Option<Value>> {
    let mut keys = BTreeSet::new();
    for record in of_clients(output, replicas) {
        if !keys.contains(&record.key) {
            keys.insert(record.key.clone());
        }
    }
    keys
}

/// [`client_history`] for a caller that owns the run's output: the operations' key,
/// argument and return value are moved out of `output.ops` into the history instead of
/// copied (a transactional history's reads can be most of a run's memory: a list-append
/// read returns the whole list), and [`return_client_history`] puts them back. Until
/// then those operations in `output.ops` hold `nil` values.
pub fn lend_client_history<E>(output: &mut RunOutput<E>, replicas: usize) -> History {
    let mut ops = Vec::new();
    for (record, id) in output
        .ops
        .iter_mut()
        .filter(|record| record.client.index() >= replicas)
        .zip(0..)
    {
        let mut op = history_op_of_times(record, id);
        op.key = record.key.take();
        op.value = std::mem::take(&mut record.arg);
        op.ret = std::mem::take(&mut record.ret);
        ops.push(op);
    }
    History { ops }
}

/// Puts the values [`lend_client_history`] took back into `output.ops`.
pub fn return_client_history<E>(output: &mut RunOutput<E>, replicas: usize, history: History) {
    for (record, op) in output
        .ops
        .iter_mut()
        .filter(|record| record.client.index() >= replicas)
        .zip(history.ops)
    {
        record.key = op.key;
        record.arg = op.value;
        record.ret = op.ret;
    }
}

/// The clients' history of a run ([`client_ops`] as a [`History`]), with each
/// operation's client node.
pub fn client_history<E>(output: &RunOutput<E>, replicas: usize) -> (History, Vec<NodeId>) {
    let ops = client_ops(output, replicas);
    let clients = ops.iter().map(|client_op| client_op.node).collect();
    let ops = ops.into_iter().map(|client_op| client_op.op).collect();
    (History { ops }, clients)
}

/// A linearizability counterexample in the words a violation needs: when it happened,
/// the operations involved and the last ones placed before them, each as
/// `op <ops.csv id>: <operation>`, and their `ops.csv` ids. Every history checker
/// (Paxos' key-value store, the lock service's mutex history, the register example)
/// reports its failing window this way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterexampleView {
    /// The stuck operation's completion, else its invocation.
    pub time: SimTime,
    /// The operations the search could not order, described.
    pub window: Vec<String>,
    /// The last (at most three) operations placed before them, described.
    pub last: Vec<String>,
    /// The `ops.csv` ids of the window, ascending.
    pub ops: Vec<u64>,
}

/// Describes `counterexample`, found in `history`, whose operation `i` is `ops.csv`'s
/// op `op_id(i)`.
pub fn describe_counterexample(
    history: &History,
    counterexample: &dsim_checkers::Counterexample,
    op_id: impl Fn(usize) -> usize,
) -> CounterexampleView {
    let stuck = &history.ops[counterexample.stuck];
    let time = SimTime(
        stuck
            .complete_time_ns
            .or(stuck.invoke_time_ns)
            .unwrap_or_default(),
    );
    let shown = |&local: &usize| format!("op {}: {}", op_id(local), history.ops[local]);
    let tail = counterexample.prefix.len().saturating_sub(3);
    let mut ops: Vec<u64> = counterexample
        .window
        .iter()
        .map(|&local| op_id(local) as u64)
        .collect();
    ops.sort_unstable();
    CounterexampleView {
        time,
        window: counterexample.window.iter().map(shown).collect(),
        last: counterexample.prefix[tail..].iter().map(shown).collect(),
        ops,
    }
}
