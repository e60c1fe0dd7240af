//! `mutex`: a lock (one per `:key` when operations carry keys).

use crate::history::Op;
use crate::model::{Model, unknown_f};
use dsim_core::Value;

/// A lock: `acquire` is legal only while it is free, `release` only while it is held.
/// Operations with a `:key` act on the lock of that name; the checker searches each
/// lock's operations separately. The state is `false` (free) or `true` (held).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutex;

impl Model for Mutex {
    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> Value {
        Value::Bool(false)
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        let held = *state == Value::Bool(true);
        match op.f.as_str() {
            "acquire" if !held => Some(Value::Bool(true)),
            "release" if held => Some(Value::Bool(false)),
            _ => None,
        }
    }

    fn validate(&self, op: &Op) -> Result<(), String> {
        match op.f.as_str() {
            "acquire" | "release" => Ok(()),
            _ => Err(unknown_f(op, ":acquire and :release")),
        }
    }

    fn partition_key(&self, op: &Op) -> Option<Value> {
        op.key.clone()
    }

    fn describe_state(&self, state: &Value) -> String {
        if *state == Value::Bool(true) {
            "held".to_string()
        } else {
            "free".to_string()
        }
    }
}
