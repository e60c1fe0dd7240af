//! Typed access to the value tree with errors that name the field, what was found and
//! what is allowed. Every table is read through a [`TableReader`], which refuses keys
//! nobody asked for.

use crate::error::{Origin, ScenarioError};
use crate::tree::{Item, Value};
use crate::units::{self, DURATION_HELP};
use dsim_core::{DURATION_MAX, SimDuration};

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub origin: Origin,
}

/// Builds an error for `field` at `origin`.
pub fn error(
    origin: &Origin,
    field: &str,
    problem: impl Into<String>,
    allowed: impl Into<String>,
) -> ScenarioError {
    ScenarioError {
        origin: origin.clone(),
        field: field.to_string(),
        problem: problem.into(),
        allowed: allowed.into(),
    }
}

/// Longest text (in characters) that errors quote whole; longer texts are cut.
pub const QUOTE_CHARS_MAX: usize = 60;

/// Quotes user text for an error: `"fast"`, or for long text its first
/// [`QUOTE_CHARS_MAX`] characters, an ellipsis and the full length, so that a 100 KB
/// string is not echoed whole.
pub fn quote(text: &str) -> String {
    let length = text.chars().count();
    if length <= QUOTE_CHARS_MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(QUOTE_CHARS_MAX).collect();
        format!("{head:?}… ({length} characters)")
    }
}

/// Describes a found value briefly: `found "fast" (a string)`.
pub fn found(item: &Item) -> String {
    let shown = match &item.value {
        Value::Text(text) => quote(text),
        Value::Int(v) => v.to_string(),
        Value::Float(v) => v.to_string(),
        Value::BigInt(digits) => digits.clone(),
        Value::Bool(v) => v.to_string(),
        Value::Datetime(v) => v.clone(),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
    };
    match &item.value {
        Value::Array(_) | Value::Table(_) => format!("found {shown}"),
        other => format!("found {shown} ({})", other.type_name()),
    }
}

/// Reads the fields of one table.
pub struct TableReader {
    path: String,
    origin: Origin,
    entries: Vec<(String, Item)>,
}

impl TableReader {
    /// A reader over `item`, which must be a table; `path` names it in errors.
    pub fn new(item: Item, path: &str) -> Result<TableReader, ScenarioError> {
        match item.value {
            Value::Table(entries) => Ok(TableReader {
                path: path.to_string(),
                origin: item.origin,
                entries,
            }),
            _ => Err(error(&item.origin, path, found(&item), "a table")),
        }
    }

    /// Where the table itself is.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The dotted path of `key` in this table.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Removes and returns `key`, if present.
    pub fn take(&mut self, key: &str) -> Option<Item> {
        let index = self.entries.iter().position(|(name, _)| name == key)?;
        Some(self.entries.remove(index).1)
    }

    /// True if `key` is present (and not yet taken).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(name, _)| name == key)
    }

    /// Removes every remaining entry, for tables whose keys are open-ended.
    pub fn take_rest(&mut self) -> Vec<(String, Item)> {
        std::mem::take(&mut self.entries)
    }

    /// `key`, which must be present.
    pub fn require(&mut self, key: &str, allowed: &str) -> Result<Item, ScenarioError> {
        self.take(key).ok_or_else(|| {
            error(
                &self.origin,
                &self.field(key),
                "missing required field",
                allowed,
            )
        })
    }

    /// Fails on the first key nobody read, naming the keys that are allowed.
    pub fn finish(self, allowed: &[&str]) -> Result<(), ScenarioError> {
        match self.entries.first() {
            None => Ok(()),
            Some((key, item)) => Err(error(
                &item.origin,
                &self.field(key),
                format!("unknown field `{key}`"),
                format!("the fields {}", allowed.join(", ")),
            )),
        }
    }

    /// Optional string.
    pub fn text(&mut self, key: &str, allowed: &str) -> Result<Option<At<String>>, ScenarioError> {
        let field = self.field(key);
        self.take(key)
            .map(|item| as_text(item, &field, allowed))
            .transpose()
    }

    /// Optional integer.
    pub fn int(&mut self, key: &str, allowed: &str) -> Result<Option<At<i64>>, ScenarioError> {
        let field = self.field(key);
        self.take(key)
            .map(|item| as_int(item, &field, allowed))
            .transpose()
    }

    /// Optional number (integer or float).
    pub fn number(&mut self, key: &str, allowed: &str) -> Result<Option<At<f64>>, ScenarioError> {
        let field = self.field(key);
        self.take(key)
            .map(|item| as_number(item, &field, allowed))
            .transpose()
    }

    /// Optional probability in `[0, 1]`.
    pub fn probability(&mut self, key: &str) -> Result<Option<At<f64>>, ScenarioError> {
        let field = self.field(key);
        self.take(key)
            .map(|item| as_probability(item, &field))
            .transpose()
    }

    /// Optional boolean.
    pub fn boolean(&mut self, key: &str) -> Result<Option<At<bool>>, ScenarioError> {
        let field = self.field(key);
        self.take(key).map(|item| as_bool(item, &field)).transpose()
    }

    /// Optional duration written as a string.
    pub fn duration(&mut self, key: &str) -> Result<Option<At<SimDuration>>, ScenarioError> {
        let field = self.field(key);
        self.take(key)
            .map(|item| as_duration(item, &field))
            .transpose()
    }
}

/// A string.
pub fn as_text(item: Item, field: &str, allowed: &str) -> Result<At<String>, ScenarioError> {
    match item.value {
        Value::Text(text) => Ok(At {
            value: text,
            origin: item.origin,
        }),
        _ => Err(error(&item.origin, field, found(&item), allowed)),
    }
}

/// An integer.
pub fn as_int(item: Item, field: &str, allowed: &str) -> Result<At<i64>, ScenarioError> {
    match item.value {
        Value::Int(v) => Ok(At {
            value: v,
            origin: item.origin,
        }),
        _ => Err(error(&item.origin, field, found(&item), allowed)),
    }
}

/// A node id: an integer that is not negative (range is checked later).
pub fn as_node(item: Item, field: &str) -> Result<At<u32>, ScenarioError> {
    let allowed = "a node id: a whole number from 0 (replicas first, then clients)";
    let origin = item.origin.clone();
    let at = as_int(item, field, allowed)?;
    match u32::try_from(at.value) {
        Ok(id) => Ok(At { value: id, origin }),
        Err(_) => Err(error(
            &origin,
            field,
            format!("found {}", at.value),
            allowed,
        )),
    }
}

/// An array of node ids.
pub fn as_nodes(item: Item, field: &str) -> Result<At<Vec<u32>>, ScenarioError> {
    let origin = item.origin.clone();
    let elements = as_array(item, field, "an array of node ids, e.g. [0, 1]")?;
    let ids = elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| as_node(element, &format!("{field}[{i}]")).map(|at| at.value))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(At { value: ids, origin })
}

/// An array.
pub fn as_array(item: Item, field: &str, allowed: &str) -> Result<Vec<Item>, ScenarioError> {
    match item.value {
        Value::Array(elements) => Ok(elements),
        _ => Err(error(&item.origin, field, found(&item), allowed)),
    }
}

/// An integer or float, finite.
pub fn as_number(item: Item, field: &str, allowed: &str) -> Result<At<f64>, ScenarioError> {
    let value = match item.value {
        Value::Int(v) => v as f64,
        Value::Float(v) => v,
        _ => return Err(error(&item.origin, field, found(&item), allowed)),
    };
    if !value.is_finite() {
        return Err(error(
            &item.origin,
            field,
            format!("found {value}"),
            allowed,
        ));
    }
    Ok(At {
        value,
        origin: item.origin,
    })
}

/// A probability in `[0, 1]` (NaN refused).
pub fn as_probability(item: Item, field: &str) -> Result<At<f64>, ScenarioError> {
    let allowed = "a probability from 0 to 1, e.g. 0.01";
    let origin = item.origin.clone();
    let at = match item.value {
        Value::Int(v) => v as f64,
        Value::Float(v) => v,
        _ => return Err(error(&origin, field, found(&item), allowed)),
    };
    if !(0.0..=1.0).contains(&at) {
        return Err(error(
            &origin,
            field,
            format!("found {at}, outside [0, 1]"),
            allowed,
        ));
    }
    Ok(At { value: at, origin })
}

/// A boolean.
pub fn as_bool(item: Item, field: &str) -> Result<At<bool>, ScenarioError> {
    match item.value {
        Value::Bool(v) => Ok(At {
            value: v,
            origin: item.origin,
        }),
        _ => Err(error(&item.origin, field, found(&item), "true or false")),
    }
}

/// A duration string such as `"150ms"`.
pub fn as_duration(item: Item, field: &str) -> Result<At<SimDuration>, ScenarioError> {
    let origin = item.origin.clone();
    match &item.value {
        Value::Text(text) => {
            if text.trim_start().starts_with('-') {
                return Err(error(
                    &origin,
                    field,
                    format!("found {}: negative times are not allowed", quote(text)),
                    DURATION_HELP,
                ));
            }
            match units::parse_duration(text) {
                Some(duration) if duration > DURATION_MAX => Err(error(
                    &origin,
                    field,
                    format!("found {}, longer than the limit of 100000h", quote(text)),
                    DURATION_HELP,
                )),
                Some(duration) => Ok(At {
                    value: duration,
                    origin,
                }),
                None => Err(error(
                    &origin,
                    field,
                    format!("cannot read {} as a duration", quote(text)),
                    DURATION_HELP,
                )),
            }
        }
        Value::Int(0) => Ok(At {
            value: SimDuration::ZERO,
            origin,
        }),
        Value::Int(v) if *v < 0 => Err(error(
            &origin,
            field,
            format!("found {v}: negative times are not allowed"),
            DURATION_HELP,
        )),
        _ => Err(error(&origin, field, found(&item), DURATION_HELP)),
    }
}
