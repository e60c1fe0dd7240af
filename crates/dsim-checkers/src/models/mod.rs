//! The models, with Jepsen's names and operation names.
//!
//! | name | operations | state |
//! |---|---|---|
//! | `register` | `read`, `write` | the value (`nil` at first) |
//! | `cas-register` | `read`, `write`, `cas [from to]` | the value |
//! | `kv` | `get`, `put`, `append`, `cas [from to]` per `:key` | one key's value |
//! | `mutex` | `acquire`, `release` (per `:key` when keyed) | held or free |
//! | `set` | `add`, `read` | the sorted elements |

mod cas_register;
mod kv;
mod mutex;
mod register;
mod set;

pub use cas_register::CasRegister;
pub use kv::Kv;
pub use mutex::Mutex;
pub use register::Register;
pub use set::Set;

use crate::history::{Op, OpType};
use dsim_core::Value;

/// A read's step: legal if the observed result is the state (or unknown).
pub(crate) fn read_step(state: &Value, op: &Op) -> Option<Value> {
    match op.op_type {
        OpType::Ok if op.ret != *state => None,
        _ => Some(state.clone()),
    }
}

/// A compare-and-set's step: legal if the state is `from`; the state becomes `to`.
pub(crate) fn cas_step(state: &Value, op: &Op) -> Option<Value> {
    let [from, to] = cas_args(&op.value)?;
    (state == from).then(|| to.clone())
}

/// The `[from to]` of a cas argument.
pub(crate) fn cas_args(value: &Value) -> Option<&[Value; 2]> {
    value.as_list()?.try_into().ok()
}

/// Validates a cas argument.
pub(crate) fn validate_cas(op: &Op) -> Result<(), String> {
    match cas_args(&op.value) {
        Some(_) => Ok(()),
        None => Err(format!(
            ":cas takes [from to], found {} (process {})",
            op.value, op.process
        )),
    }
}
pub(crate) use kv::append as append_value;

/// One process's completed `ok` operation, for the models' unit tests.
#[cfg(test)]
pub(crate) fn test_op(f: &str, value: Value, ret: Value) -> Op {
    use crate::history::{Event, EventType, History};
    let events = [
        Event::new(0, EventType::Invoke, f, value),
        Event::new(0, EventType::Ok, f, ret),
    ];
    History::from_events(&events).unwrap().ops.remove(0)
}
