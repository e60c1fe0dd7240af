//! The clients' history of a run, as `dsim-checkers` judges it: every protocol whose
//! clients record `OpInvoked` / `OpCompleted` observations builds its history here, so
//! that all of them pair invocations with completions, number operations and place them
//! in time the same way (operation `id` = `op_id` in `ops.csv`).

use dsim_checkers::{History, Op, OpType};
use dsim_core::{NodeId, Observation, Outcome, RunOutput, Value};
use std::collections::BTreeMap;

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

/// The clients' operations of a run: one per `OpInvoked` of a client node (nodes from
/// `replicas` on), paired with its completion (an operation the run ended in the
/// middle of is `info`), with its time and event position, in invocation order.
pub fn client_ops<E>(output: &RunOutput<E>, replicas: usize) -> Vec<ClientOp> {
    let mut ops: Vec<ClientOp> = Vec::new();
    let mut open: BTreeMap<(NodeId, u64), usize> = BTreeMap::new();
    let mut events = 0usize;
    for record in &output.observations {
        if record.node.index() < replicas {
            continue;
        }
        match &record.observation {
            Observation::OpInvoked { op, f, key, arg } => {
                open.insert((record.node, *op), ops.len());
                ops.push(ClientOp {
                    op: Op {
                        id: ops.len(),
                        process: u64::from(record.node.0),
                        f: f.to_string(),
                        key: key.clone(),
                        value: arg.clone(),
                        ret: Value::Nil,
                        op_type: OpType::Info,
                        invoke_index: events,
                        complete_index: None,
                        invoke_time_ns: Some(record.time.as_nanos()),
                        complete_time_ns: None,
                        pos: None,
                    },
                    node: record.node,
                    number: *op,
                });
            }
            Observation::OpCompleted { op, outcome, ret } => {
                let Some(index) = open.remove(&(record.node, *op)) else {
                    continue;
                };
                let entry = &mut ops[index].op;
                entry.op_type = match outcome {
                    Outcome::Ok => OpType::Ok,
                    Outcome::Fail(_) => OpType::Fail,
                    Outcome::Info(_) => OpType::Info,
                };
                entry.ret = ret.clone();
                entry.complete_index = Some(events);
                entry.complete_time_ns = Some(record.time.as_nanos());
            }
            _ => continue,
        }
        events += 1;
    }
    ops
}

/// The clients' history of a run ([`client_ops`] as a [`History`]), with each
/// operation's client node.
pub fn client_history<E>(output: &RunOutput<E>, replicas: usize) -> (History, Vec<NodeId>) {
    let ops = client_ops(output, replicas);
    let clients = ops.iter().map(|client_op| client_op.node).collect();
    let ops = ops.into_iter().map(|client_op| client_op.op).collect();
    (History { ops }, clients)
}
