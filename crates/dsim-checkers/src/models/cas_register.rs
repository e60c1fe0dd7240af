//! `cas-register`: a register with compare-and-set, `nil` at first.

use crate::history::Op;
use crate::model::{Model, unknown_f};
use crate::models::{cas_args, cas_step, read_step, validate_cas};
use dsim_core::Value;

/// A register with `read`, `write v` and `cas [from to]` (sets `to` if the value is
/// `from`). A cas that did not match completes `:fail` in Jepsen histories and is
/// dropped, so an `ok` cas must have matched.
#[derive(Clone, Copy, Debug, Default)]
pub struct CasRegister;

impl Model for CasRegister {
    fn name(&self) -> &'static str {
        "cas-register"
    }

    fn init(&self) -> Value {
        Value::Nil
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f.as_str() {
            "read" => read_step(state, op),
            "write" => Some(op.value.clone()),
            "cas" => cas_step(state, op),
            _ => None,
        }
    }

    fn validate(&self, op: &Op) -> Result<(), String> {
        match op.f.as_str() {
            "read" | "write" => Ok(()),
            "cas" => validate_cas(op),
            _ => Err(unknown_f(op, ":read, :write and :cas")),
        }
    }

    fn overwrites(&self, op: &Op) -> bool {
        op.f == "write"
    }

    fn effect_value(&self, op: &Op) -> Option<Value> {
        match op.f.as_str() {
            "write" => Some(op.value.clone()),
            "cas" => cas_args(&op.value).map(|[_, to]| to.clone()),
            _ => None,
        }
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
    fn cas_succeeds_only_from_the_current_value() {
        let state = Value::Int(1);
        let cas = op("cas", Value::ints(&[1, 4]), Value::ints(&[1, 4]));
        // From 1 the cas sets 4; from 2 it cannot have succeeded.
        assert_eq!(CasRegister.step(&state, &cas), Some(Value::Int(4)));
        assert_eq!(CasRegister.step(&Value::Int(2), &cas), None);
        let bad = op("cas", Value::Int(1), Value::Int(1));
        assert_eq!(
            CasRegister.validate(&bad),
            Err(":cas takes [from to], found 1 (process 0)".to_string())
        );
    }
}
