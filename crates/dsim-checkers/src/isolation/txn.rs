//! Transactions as micro-operations: parsing `:f :txn` operations of a history.
//!
//! A transaction's value is a list of micro-ops `[f k v]`: list-append uses
//! `[:append k v]` and `[:r k nil|[..]]`, rw-register uses `[:w k v]` and `[:r k v]`.
//! The completion of an `ok` transaction carries the values its reads returned; the
//! reads of `fail` and `info` transactions are unknown and never used. Keys are
//! interned to dense numbers so that per-key tables are vectors.

use super::Workload;
use crate::history::{History, HistoryError, HistoryErrorKind, OpType};
use dsim_core::Value;
use std::collections::BTreeMap;

/// What a micro-op does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MopKind {
    /// `[:append k v]` (list-append).
    Append,
    /// `[:w k v]` (rw-register).
    Write,
    /// `[:r k v]`: `v` is what the read returned (`nil` before completion).
    Read,
}

/// One micro-op with its key interned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mop<'h> {
    pub kind: MopKind,
    pub key: u32,
    pub value: &'h Value,
}

/// One transaction: a `:txn` operation of the history.
#[derive(Clone, Debug)]
pub(crate) struct Txn<'h> {
    /// The operation's index in [`History::ops`].
    pub op: usize,
    pub process: u64,
    pub status: OpType,
    pub invoke_index: usize,
    /// The completion's event index, for `ok` transactions only (an `info`
    /// completion bounds nothing in real time).
    pub ok_index: Option<usize>,
    pub mops: Vec<Mop<'h>>,
}

/// Every transaction of a history and the keys they use.
#[derive(Clone, Debug, Default)]
pub(crate) struct Txns<'h> {
    pub txns: Vec<Txn<'h>>,
    /// Interned key number -> the key.
    pub keys: Vec<Value>,
}

fn bad(history: &History, op: usize, message: String) -> HistoryError {
    HistoryError::new(history.ops[op].pos, HistoryErrorKind::BadOp(message))
}

/// Parses every operation of `history` as a transaction of `workload`.
///
/// Errors name the operation's invocation position: an `:f` other than `:txn`, a
/// value that is not a list of micro-ops, a micro-op of the other workload, a
/// list-append read that returned neither `nil` nor a list.
pub(crate) fn parse(history: &History, workload: Workload) -> Result<Txns<'_>, HistoryError> {
    let mut keys: BTreeMap<Value, u32> = BTreeMap::new();
    let mut out = Txns::default();
    for op in &history.ops {
        if op.f != "txn" {
            return Err(bad(
                history,
                op.id,
                format!(
                    "model {}: every operation must be :txn, found :{}",
                    workload.name(),
                    op.f
                ),
            ));
        }
        // The completion of an ok transaction carries the values read; otherwise the
        // invocation says what was attempted.
        if op.op_type == OpType::Ok && op.ret.is_nil() {
            return Err(bad(
                history,
                op.id,
                "an ok transaction's completion must carry its micro-ops with the values read, found nil".into(),
            ));
        }
        let (value, place) = if op.op_type == OpType::Ok {
            (&op.ret, "its completion")
        } else {
            (&op.value, "its invocation")
        };
        let Some(items) = value.as_list() else {
            return Err(bad(
                history,
                op.id,
                format!("the value of {place} must be a list of micro-ops, found {value}"),
            ));
        };
        let mut mops = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let shape = || {
                format!(
                    "micro-op {} of {place}, {item}, must be {}",
                    i + 1,
                    workload.mop_shape()
                )
            };
            let Some([Value::Keyword(f), key, v]) = item.as_list() else {
                return Err(bad(history, op.id, shape()));
            };
            let kind = match (workload, f.as_str()) {
                (_, "r") => MopKind::Read,
                (Workload::ListAppend, "append") => MopKind::Append,
                (Workload::RwRegister, "w") => MopKind::Write,
                _ => return Err(bad(history, op.id, shape())),
            };
            if workload == Workload::ListAppend
                && kind == MopKind::Read
                && op.op_type == OpType::Ok
                && !(v.is_nil() || v.as_list().is_some())
            {
                return Err(bad(
                    history,
                    op.id,
                    format!(
                        "micro-op {} of {place}, {item}: a list-append read returns nil or a list",
                        i + 1
                    ),
                ));
            }
            let next = keys.len() as u32;
            let key = *keys.entry(key.clone()).or_insert(next);
            mops.push(Mop {
                kind,
                key,
                value: v,
            });
        }
        out.txns.push(Txn {
            op: op.id,
            process: op.process,
            status: op.op_type,
            invoke_index: op.invoke_index,
            ok_index: if op.op_type == OpType::Ok {
                op.complete_index
            } else {
                None
            },
            mops,
        });
    }
    out.keys = vec![Value::Nil; keys.len()];
    for (key, n) in keys {
        out.keys[n as usize] = key;
    }
    Ok(out)
}
