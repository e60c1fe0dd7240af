//! History values: the arguments and results of client operations.
//!
//! A small tree able to express Jepsen histories: `nil`, booleans, integers, strings,
//! keywords (`:append`, `:r` in transactions) and lists (vectors and tuples alike, such
//! as a cas argument `[1 4]` or a transaction `[[:append 9 2] [:r 8 [1 2]]]`).
//! [`Value`]'s `Display` writes EDN, the notation of `history.edn`, so what a report
//! writes is what Jepsen's tools read.
//!
//! The order (`Ord`) is structural and total, so values can key ordered maps (a model's
//! state, a memo table) without hashing.

use std::fmt;

/// One value in a client history, printed as EDN.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Value {
    /// EDN `nil`: no value (a read of an unset key, the value of an invocation that
    /// does not know its result yet).
    #[default]
    Nil,
    /// EDN `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A string, written with EDN escapes.
    Str(String),
    /// A keyword, written `:name` (without the colon here).
    Keyword(String),
    /// A vector or tuple, written `[a b c]`.
    List(Vec<Value>),
}

impl Value {
    /// A keyword value, `:name`.
    pub fn keyword(name: &str) -> Value {
        Value::Keyword(name.to_string())
    }

    /// A list of integers, the common shape of list-append reads and cas arguments.
    pub fn ints(values: &[i64]) -> Value {
        Value::List(values.iter().map(|&v| Value::Int(v)).collect())
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

impl fmt::Display for Value {
    /// EDN: `nil`, `true`, `42`, `"a\"b"`, `:append`, `[1 [2 3]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(s) => write_edn_string(f, s),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Writes `s` as an EDN string literal with `\"`, `\\`, `\n`, `\r`, `\t` escaped.
fn write_edn_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_edn() {
        let txn = Value::List(vec![
            Value::List(vec![Value::keyword("append"), Value::Int(9), Value::Int(2)]),
            Value::List(vec![
                Value::keyword("r"),
                Value::Int(8),
                Value::ints(&[1, 2]),
            ]),
        ]);
        assert_eq!(txn.to_string(), "[[:append 9 2] [:r 8 [1 2]]]");
        assert_eq!(Value::Nil.to_string(), "nil");
        assert_eq!(Value::Bool(true).to_string(), "true");
        assert_eq!(Value::from("a\"b\\c\n").to_string(), r#""a\"b\\c\n""#);
        assert_eq!(Value::Int(-3).to_string(), "-3");
    }

    #[test]
    fn order_is_total_and_structural() {
        // Nil sorts first, then by variant, then by contents: a memo table keyed by
        // values needs nothing else.
        let mut values = vec![Value::Int(2), Value::Nil, Value::Int(1), Value::ints(&[1])];
        values.sort();
        assert_eq!(
            values,
            vec![Value::Nil, Value::Int(1), Value::Int(2), Value::ints(&[1])]
        );
    }
}
