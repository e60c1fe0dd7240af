//! `register`: a single read/write register, `nil` at first.

use crate::history::Op;
use crate::model::{Model, unknown_f};
use crate::models::read_step;
use dsim_core::Value;

/// A read/write register: `read` returns the last value written (`nil` before any
/// write); `write v` sets it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

impl Model for Register {
    fn name(&self) -> &'static str {
        "register"
    }

    fn init(&self) -> Value {
        Value::Nil
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f.as_str() {
            "read" => read_step(state, op),
            "write" => Some(op.value.clone()),
            _ => None,
        }
    }

    fn validate(&self, op: &Op) -> Result<(), String> {
        match op.f.as_str() {
            "read" | "write" => Ok(()),
            _ => Err(unknown_f(op, ":read and :write")),
        }
    }

    fn overwrites(&self, op: &Op) -> bool {
        op.f == "write"
    }

    fn effect_value(&self, op: &Op) -> Option<Value> {
        (op.f == "write").then(|| op.value.clone())
    }

    fn is_read_only(&self, op: &Op) -> bool {
        op.f == "read"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_op as op;

    #[test]
    fn reads_see_the_last_write_and_nil_first() {
        let state = Register.init();
        // A read of nil before any write is legal; a read of 1 is not.
        assert_eq!(
            Register.step(&state, &op("read", Value::Nil, Value::Nil)),
            Some(Value::Nil)
        );
        assert_eq!(
            Register.step(&state, &op("read", Value::Nil, Value::Int(1))),
            None
        );
        let state = Register
            .step(&state, &op("write", Value::Int(1), Value::Int(1)))
            .unwrap();
        assert_eq!(state, Value::Int(1));
        assert_eq!(
            Register.step(&state, &op("read", Value::Nil, Value::Int(1))),
            Some(Value::Int(1))
        );
        assert!(
            Register
                .validate(&op("cas", Value::ints(&[1, 2]), Value::Nil))
                .is_err()
        );
    }
}
