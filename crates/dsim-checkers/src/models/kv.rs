//! `kv`: a key-value map, one independent register per `:key`.

use crate::history::Op;
use crate::model::{Model, unknown_f};
use crate::models::{cas_step, read_step, validate_cas};
use dsim_core::Value;

/// A key-value map: `get`, `put v`, `append v` and `cas [from to]`, each on its
/// operation's `:key`. Keys are independent, so the checker searches each key's
/// operations separately; a key's state is its value, `nil` at first.
///
/// `append` concatenates: a string appended to a string (or to `nil`) gives the
/// joined string; anything else is collected into a list (`nil` + 3 = `[3]`,
/// `[3]` + 4 = `[3 4]`, `"ab"` + 4 = `["ab" 4]`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Kv;

/// The value of a key after appending `item` to `current`.
pub(crate) fn append(current: &Value, item: &Value) -> Value {
    match (current, item) {
        (Value::Nil, Value::Str(s)) => Value::Str(s.clone()),
        (Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
        (Value::Nil, item) => Value::List(vec![item.clone()]),
        (Value::List(items), item) => {
            let mut items = items.clone();
            items.push(item.clone());
            Value::List(items)
        }
        (other, item) => Value::List(vec![other.clone(), item.clone()]),
    }
}

impl Model for Kv {
    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> Value {
        Value::Nil
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f.as_str() {
            "get" | "read" => read_step(state, op),
            "put" | "write" => Some(op.value.clone()),
            "append" => Some(append(state, &op.value)),
            "cas" => cas_step(state, op),
            _ => None,
        }
    }

    fn validate(&self, op: &Op) -> Result<(), String> {
        if op.key.is_none() {
            return Err(format!(
                ":{} of process {} has no :key (the kv model needs one per operation)",
                op.f, op.process
            ));
        }
        match op.f.as_str() {
            "get" | "read" | "put" | "write" | "append" => Ok(()),
            "cas" => validate_cas(op),
            _ => Err(unknown_f(op, ":get, :put, :append and :cas")),
        }
    }

    fn partition_key(&self, op: &Op) -> Option<Value> {
        op.key.clone()
    }

    fn is_read_only(&self, op: &Op) -> bool {
        op.f == "get" || op.f == "read"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_concatenates_strings_and_collects_other_values() {
        // Strings join; integers collect into a list, in order.
        let s = append(&append(&Value::Nil, &"ab".into()), &"c".into());
        assert_eq!(s, Value::from("abc"));
        let l = append(&append(&Value::Nil, &Value::Int(3)), &Value::Int(4));
        assert_eq!(l, Value::ints(&[3, 4]));
    }
}
