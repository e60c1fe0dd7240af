//! The `Model` trait: a sequential specification of an object.
//!
//! As in Porcupine, a model is a few functions: an initial state, a step function that
//! says whether an operation with its observed result is legal in a state (and the
//! state after it), and descriptions for people. States are [`Value`]s, so every model
//! fits behind one `&dyn Model` (the CLI picks models by name) and states compare and
//! hash deterministically for the checker's memo table.
//!
//! A model may also name a **partition key** for an operation: operations with different
//! keys act on independent objects (P-compositionality, Horn & Kroening 2015), so a
//! history is linearizable if and only if each key's sub-history is, and the checker
//! searches each one on its own.

use crate::history::Op;
use crate::models::{CasRegister, Kv, Mutex, Register, Set};
use dsim_core::Value;

/// A sequential specification, judged against histories by
/// [`linearizable`](crate::linearizable()).
pub trait Model: Send + Sync {
    /// The model's name as the CLI spells it (`cas-register`).
    fn name(&self) -> &'static str;

    /// The state before any operation.
    fn init(&self) -> Value;

    /// Whether `op` with its observed outcome is legal in `state`; if so, the state
    /// after it. For an `Info` operation the result is unknown: accept any result.
    fn step(&self, state: &Value, op: &Op) -> Option<Value>;

    /// Checks that `op` is one this model knows (its `:f`, the shape of its argument,
    /// a key when the model needs one); the message names what is wrong.
    fn validate(&self, op: &Op) -> Result<(), String>;

    /// The independent object `op` acts on, if the model is keyed.
    fn partition_key(&self, _op: &Op) -> Option<Value> {
        None
    }

    /// Whether `op` never changes the state (a read). Indeterminate reads constrain
    /// nothing, so the checker drops them.
    fn is_read_only(&self, _op: &Op) -> bool {
        false
    }

    /// A description of `op` for reports.
    fn describe(&self, op: &Op) -> String {
        op.to_string()
    }

    /// A description of a state for reports.
    fn describe_state(&self, state: &Value) -> String {
        state.to_string()
    }
}

/// The names [`model_by_name`] knows, in the order `dsim history check` lists them.
pub const MODEL_NAMES: &[&str] = &["register", "cas-register", "kv", "mutex", "set"];

/// The model called `name` (Jepsen's names: `register`, `cas-register`, `kv`, `mutex`,
/// `set`), or `None`.
pub fn model_by_name(name: &str) -> Option<Box<dyn Model>> {
    match name {
        "register" => Some(Box::new(Register)),
        "cas-register" => Some(Box::new(CasRegister)),
        "kv" => Some(Box::new(Kv)),
        "mutex" => Some(Box::new(Mutex)),
        "set" => Some(Box::new(Set)),
        _ => None,
    }
}

/// The message for an operation whose `:f` the model does not know.
pub(crate) fn unknown_f(op: &Op, known: &str) -> String {
    format!("unknown operation :{} (this model knows {known})", op.f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_resolves_to_a_model_of_that_name() {
        // A name in the list that model_by_name does not know (or maps to another
        // model) would make `dsim history check --model` advertise a broken choice.
        for name in MODEL_NAMES {
            assert_eq!(model_by_name(name).map(|m| m.name()), Some(*name));
        }
        assert!(model_by_name("queue").is_none());
    }
}
