//! Stage 0: TOML text into a tree of values that remember where they came from (file
//! position or `--set` flag), with `--set` overrides applied.

use crate::error::{Origin, ScenarioError};
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// A TOML value with its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The value.
    pub value: Value,
    /// Where it was written.
    pub origin: Origin,
}

/// The TOML value kinds a scenario uses.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An integer outside the 64-bit signed range, kept as written (digits only) so
    /// that errors can say what it was instead of calling it a float.
    BigInt(String),
    /// A boolean.
    Bool(bool),
    /// A date or time (never valid in a scenario, kept to report it).
    Datetime(String),
    /// An array.
    Array(Vec<Item>),
    /// A table, entries in file order.
    Table(Vec<(String, Item)>),
}

impl Value {
    /// The TOML type name, for "found a string" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::BigInt(digits) if digits.starts_with('-') => {
                "an integer too small, below -9223372036854775808"
            }
            Value::BigInt(_) => "an integer too large, above 9223372036854775807",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// The text of a scenario and the file it came from, for positions in errors.
pub struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
}

impl<'a> Source<'a> {
    /// A source over `text` read from `path`.
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            path,
            text,
            lines: LineIndex::new(text.as_bytes()),
        }
    }

    fn origin(&self, offset: usize) -> Origin {
        let (line, column) = self.lines.line_column(self.text.as_bytes(), offset);
        Origin::File {
            path: self.path.to_path_buf(),
            line,
            column,
        }
    }

    /// Parses the whole text into a root table item.
    pub fn parse(&self) -> Result<Item, ScenarioError> {
        if self.text.trim().is_empty() {
            return Err(ScenarioError {
                origin: Origin::WholeFile(self.path.to_path_buf()),
                field: String::new(),
                problem: "the scenario file is empty".into(),
                allowed: "a TOML scenario with at least `name`, `duration` and a [protocol] table (see scenarios/ for examples)".into(),
            });
        }
        let table = DeTable::parse(self.text).map_err(|error| {
            let origin = error
                .span()
                .map(|span| self.origin(span.start))
                .unwrap_or_else(|| Origin::WholeFile(self.path.to_path_buf()));
            ScenarioError {
                origin,
                field: String::new(),
                problem: format!("TOML syntax error: {}", error.message().trim()),
                allowed: "valid TOML (https://toml.io)".into(),
            }
        })?;
        let span = table.span();
        Ok(Item {
            value: self.convert_table(table.into_inner()),
            origin: self.origin(span.start),
        })
    }

    fn convert_table(&self, table: DeTable<'_>) -> Value {
        Value::Table(
            table
                .into_iter()
                .map(|(key, value)| {
                    let span = value.span();
                    let item = Item {
                        value: self.convert(value.into_inner()),
                        origin: self.origin(span.start),
                    };
                    (key.into_inner().into_owned(), item)
                })
                .collect(),
        )
    }

    fn convert(&self, value: DeValue<'_>) -> Value {
        convert_value(value, &mut |span| self.origin(span))
    }
}

/// Where each line of a text starts, built once so that turning a byte offset into a
/// line and column costs a binary search instead of a scan of everything before it
/// (a file with 16,000 `[[faults]]` tables has some 50,000 values to position).
struct LineIndex {
    /// Byte offset of the first byte of each line; `starts[0] == 0`.
    starts: Vec<usize>,
    /// Whether each line is pure ASCII, where the column is the byte distance.
    ascii: Vec<bool>,
}

impl LineIndex {
    fn new(bytes: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        let mut ascii = Vec::new();
        let mut line_ascii = true;
        for (index, &byte) in bytes.iter().enumerate() {
            line_ascii &= byte.is_ascii();
            if byte == b'\n' {
                starts.push(index + 1);
                ascii.push(line_ascii);
                line_ascii = true;
            }
        }
        ascii.push(line_ascii);
        LineIndex { starts, ascii }
    }

    /// The 1-based line and column (in characters) of byte `offset`, clamped to the
    /// text. Bytes that are not valid UTF-8 count one column each.
    fn line_column(&self, bytes: &[u8], offset: usize) -> (usize, usize) {
        let offset = offset.min(bytes.len());
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let start = self.starts[line];
        let column = if self.ascii[line] {
            offset - start
        } else {
            String::from_utf8_lossy(&bytes[start..offset])
                .chars()
                .count()
        };
        (line + 1, column + 1)
    }
}

fn convert_value(value: DeValue<'_>, origin_of: &mut dyn FnMut(usize) -> Origin) -> Value {
    match value {
        DeValue::String(text) => Value::Text(text.into_owned()),
        DeValue::Integer(int) => match i64::from_str_radix(int.as_str(), int.radix()) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::BigInt(int.to_string()),
        },
        DeValue::Float(float) => Value::Float(parse_toml_float(float.as_str())),
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(datetime) => Value::Datetime(datetime.to_string()),
        DeValue::Array(array) => Value::Array(
            array
                .into_iter()
                .map(|element| {
                    let span = element.span();
                    Item {
                        value: convert_value(element.into_inner(), origin_of),
                        origin: origin_of(span.start),
                    }
                })
                .collect(),
        ),
        DeValue::Table(table) => Value::Table(
            table
                .into_iter()
                .map(|(key, value)| {
                    let span = value.span();
                    let item = Item {
                        value: convert_value(value.into_inner(), origin_of),
                        origin: origin_of(span.start),
                    };
                    (key.into_inner().into_owned(), item)
                })
                .collect(),
        ),
    }
}

fn parse_toml_float(text: &str) -> f64 {
    let cleaned = text.replace('_', "");
    match cleaned.as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "+nan" | "-nan" => f64::NAN,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

/// Applies one `--set KEY=VALUE` flag to the tree. The value is read as a TOML value
/// (`5`, `0.1`, `true`, `"text"`, `[1, 2]`); anything that is not valid TOML is taken as
/// a plain string, so `--set duration=2s` works without quotes. Path segments that are
/// numbers index arrays: `--set faults.0.at=3s`.
pub fn apply_override(root: &mut Item, flag: &str) -> Result<(), ScenarioError> {
    let flag_error = |problem: String, allowed: &str| ScenarioError {
        origin: Origin::Flag(flag.to_string()),
        field: String::new(),
        problem,
        allowed: allowed.into(),
    };
    let Some((path, text)) = flag.split_once('=') else {
        return Err(flag_error(
            "missing `=`".into(),
            "KEY=VALUE with a dotted key, e.g. --set network.drop=0.05",
        ));
    };
    let path: Vec<&str> = path.trim().split('.').collect();
    if path.iter().any(|segment| segment.is_empty()) {
        return Err(flag_error(
            format!("`{}` is not a dotted key", path.join(".")),
            "a dotted key such as protocol.variant or faults.0.at",
        ));
    }
    let origin = Origin::Flag(flag.to_string());
    let value = match DeValue::parse(text.trim()) {
        Ok(parsed) => convert_value(parsed.into_inner(), &mut |_| origin.clone()),
        Err(_) => Value::Text(text.trim().to_string()),
    };
    let mut node = root;
    for (depth, segment) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let so_far = path[..=depth].join(".");
        node = match &mut node.value {
            Value::Table(entries) => {
                let index = match entries.iter().position(|(key, _)| key == segment) {
                    Some(index) => index,
                    None => {
                        let fresh = if last {
                            Value::Bool(false)
                        } else {
                            Value::Table(Vec::new())
                        };
                        entries.push((
                            segment.to_string(),
                            Item {
                                value: fresh,
                                origin: origin.clone(),
                            },
                        ));
                        entries.len() - 1
                    }
                };
                &mut entries[index].1
            }
            Value::Array(elements) => {
                let length = elements.len();
                let index = segment
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < length)
                    .ok_or_else(|| {
                        flag_error(
                            format!("`{so_far}`: no element {segment} in an array of {length}"),
                            "an index from 0 to the array's length - 1",
                        )
                    })?;
                &mut elements[index]
            }
            other => {
                return Err(flag_error(
                    format!(
                        "`{so_far}` goes inside {}, which has no fields",
                        other.type_name()
                    ),
                    "a key path through tables and arrays",
                ));
            }
        };
    }
    *node = Item { value, origin };
    Ok(())
}

/// Reads a scenario file, turning unreadable or non-UTF-8 files into scenario errors.
pub fn read_file(path: &Path) -> Result<String, ScenarioError> {
    let whole = |problem: String, allowed: &str| ScenarioError {
        origin: Origin::WholeFile(PathBuf::from(path)),
        field: String::new(),
        problem,
        allowed: allowed.into(),
    };
    let bytes = std::fs::read(path).map_err(|error| {
        whole(
            format!("cannot read the file: {error}"),
            "a readable scenario file",
        )
    })?;
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        let offset = error.utf8_error().valid_up_to();
        let (line, column) = LineIndex::new(bytes).line_column(bytes, offset);
        ScenarioError {
            origin: Origin::File {
                path: PathBuf::from(path),
                line,
                column,
            },
            field: String::new(),
            problem: format!(
                "the file is not valid UTF-8 (byte 0x{:02x} here cannot start or continue a character)",
                bytes[offset]
            ),
            allowed: "a UTF-8 text file".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(text: &str, offset: usize) -> (usize, usize) {
        LineIndex::new(text.as_bytes()).line_column(text.as_bytes(), offset)
    }

    #[test]
    fn line_index_positions_match_a_scan_of_the_text() {
        // The index must give what the old scan gave: lines from 1, columns in
        // characters (not bytes) on lines with multi-byte text, and the end clamped.
        let text = "a = 1\nname = \"héllo\" # ü\n\nb = [1, 2]\n";
        let scan = |offset: usize| {
            let before = &text[..offset];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            (line, before[start..].chars().count() + 1)
        };
        for (offset, _) in text.char_indices() {
            assert_eq!(position(text, offset), scan(offset), "offset {offset}");
        }
        assert_eq!(position(text, text.len() + 10), scan(text.len()));
    }

    #[test]
    fn values_after_unicode_are_positioned_by_character() {
        // `b` sits after a line with two-byte characters: a byte count would say 12.
        let root = Source::new(
            Path::new("u.toml"),
            "\"é\" = \"ü\"\nb = 5\nc = \"ééé\" \nd = 1",
        )
        .parse()
        .expect("valid TOML");
        let Value::Table(entries) = root.value else {
            panic!("root is a table")
        };
        let origin_of = |key: &str| {
            entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, item)| item.origin.clone())
                .expect("key present")
        };
        let file = |line, column| Origin::File {
            path: PathBuf::from("u.toml"),
            line,
            column,
        };
        assert_eq!(origin_of("é"), file(1, 7));
        assert_eq!(origin_of("b"), file(2, 5));
        assert_eq!(origin_of("c"), file(3, 5));
        assert_eq!(origin_of("d"), file(4, 5));
    }

    #[test]
    fn integers_beyond_i64_are_kept_as_big_integers_not_floats() {
        // They used to become an infinite float, so errors said "found inf (a float)".
        let root = Source::new(
            Path::new("b.toml"),
            "a = 18446744073709551615\nb = -9223372036854775809",
        )
        .parse()
        .expect("valid TOML");
        let Value::Table(entries) = root.value else {
            panic!("root is a table")
        };
        assert_eq!(
            entries[0].1.value,
            Value::BigInt("18446744073709551615".into())
        );
        assert_eq!(
            entries[0].1.value.type_name(),
            "an integer too large, above 9223372036854775807"
        );
        assert_eq!(
            entries[1].1.value.type_name(),
            "an integer too small, below -9223372036854775808"
        );
    }
}
