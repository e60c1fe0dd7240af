//! `set`: a grow-only set.

use crate::history::{Op, OpType};
use crate::model::{Model, unknown_f};
use dsim_core::Value;

/// A set: `add v` inserts, `read` returns every element (in any order; a read's
/// result is compared as a set). The state is the sorted list of elements.
#[derive(Clone, Copy, Debug, Default)]
pub struct Set;

fn sorted_unique(items: &[Value]) -> Vec<Value> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

impl Model for Set {
    fn name(&self) -> &'static str {
        "set"
    }

    fn init(&self) -> Value {
        Value::List(Vec::new())
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        let elements = state.as_list()?;
        match op.f.as_str() {
            "add" => {
                let mut next = elements.to_vec();
                if let Err(at) = next.binary_search(&op.value) {
                    next.insert(at, op.value.clone());
                }
                Some(Value::List(next))
            }
            "read" => match op.op_type {
                OpType::Ok => {
                    let seen = op.ret.as_list().map(sorted_unique).unwrap_or_default();
                    (seen == elements).then(|| state.clone())
                }
                _ => Some(state.clone()),
            },
            _ => None,
        }
    }

    fn validate(&self, op: &Op) -> Result<(), String> {
        match op.f.as_str() {
            "add" => Ok(()),
            "read" if op.op_type != OpType::Ok || op.ret.as_list().is_some() => Ok(()),
            "read" => Err(format!(
                ":read of process {} returned {}, not a set or list",
                op.process, op.ret
            )),
            _ => Err(unknown_f(op, ":add and :read")),
        }
    }

    fn is_read_only(&self, op: &Op) -> bool {
        op.f == "read"
    }
}
