//! A small EDN reader: just what Jepsen histories use.
//!
//! Reads `nil`, `true`/`false`, integers, strings, keywords, vectors, lists, sets
//! (`#{}`, read as sorted lists), maps, `;` comments, commas as whitespace, `#_`
//! discards and tagged literals (`#jepsen.history.Op{...}`: the tag is dropped). Every
//! form remembers its line and column; every error names them. Floats, ratios,
//! characters and bare symbols are refused with a message saying so. Nesting is bounded
//! ([`MAX_DEPTH`]), so no input can overflow the stack, and the reader only moves
//! forward, so none can make it loop.

use crate::history::{HistoryError, HistoryErrorKind, Pos};
use dsim_core::Value;

/// The deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 128;

/// One EDN form with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub form: Form,
}

/// The shapes of forms that matter to histories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// A scalar or a collection without structure that matters (vector, list, set).
    Value(Value),
    /// A map, its entries in file order.
    Map(Vec<(Node, Node)>),
}

/// Reads every top-level form of `text`; a top-level vector or list is opened, so
/// that its elements count as top-level forms (a history may be one vector of maps).
pub(crate) fn read_all(text: &str) -> Result<Vec<Node>, HistoryError> {
    let mut reader = Reader::new(text);
    let mut forms = Vec::new();
    loop {
        reader.skip_space(0)?;
        let open_pos = reader.pos();
        match reader.peek() {
            None => return Ok(forms),
            Some(open @ ('[' | '(')) => {
                reader.bump();
                let close = if open == '[' { ']' } else { ')' };
                loop {
                    reader.skip_space(1)?;
                    match reader.peek() {
                        None => {
                            return Err(syntax(
                                reader.pos(),
                                &format!("`{open}` opened at {open_pos} is never closed"),
                            ));
                        }
                        Some(c) if c == close => {
                            reader.bump();
                            break;
                        }
                        Some(_) => forms.push(reader.form(1)?),
                    }
                }
            }
            Some(_) => forms.push(reader.form(0)?),
        }
    }
}

/// Reads exactly one form from `text` (a log line's value field), starting at `pos`.
pub(crate) fn read_one(text: &str, pos: Pos) -> Result<Node, HistoryError> {
    let mut reader = Reader::new(text);
    reader.line = pos.line;
    reader.col = pos.col;
    reader.skip_space(0)?;
    let start = reader.pos();
    if reader.peek().is_none() {
        return Err(syntax(start, "expected a value"));
    }
    let node = reader.form(0)?;
    reader.skip_space(0)?;
    if reader.peek().is_some() {
        return Err(syntax(reader.pos(), "unexpected text after the value"));
    }
    Ok(node)
}

fn syntax(pos: Pos, message: &str) -> HistoryError {
    HistoryError::new(Some(pos), HistoryErrorKind::Syntax(message.to_string()))
}

struct Reader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    col: u32,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | '[' | ']' | '(' | ')' | '{' | '}' | '"')
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            chars: text.chars().peekable(),
            line: 1,
            col: 1,
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms (read at `depth`).
    fn skip_space(&mut self, depth: usize) -> Result<(), HistoryError> {
        if depth > MAX_DEPTH {
            return Err(syntax(
                self.pos(),
                &format!("collections nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.bump();
            } else if c == '#' {
                let mut look = self.chars.clone();
                look.next();
                if look.peek() != Some(&'_') {
                    break;
                }
                self.bump();
                self.bump();
                self.skip_space(depth + 1)?;
                self.form(depth + 1)?;
            } else if c == ';' {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    /// The characters up to the next delimiter.
    fn token(&mut self) -> String {
        let mut token = String::new();
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            token.push(c);
            self.bump();
        }
        token
    }

    fn form(&mut self, depth: usize) -> Result<Node, HistoryError> {
        let pos = self.pos();
        if depth > MAX_DEPTH {
            return Err(syntax(
                pos,
                &format!("collections nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let Some(c) = self.peek() else {
            return Err(syntax(pos, "unexpected end of file"));
        };
        let value = |v| Node {
            pos,
            form: Form::Value(v),
        };
        match c {
            '[' | '(' => {
                self.bump();
                let close = if c == '[' { ']' } else { ')' };
                let items = self.items(pos, c, close, depth)?;
                Ok(value(Value::List(items)))
            }
            '{' => {
                self.bump();
                self.map(pos, depth)
            }
            ']' | ')' | '}' => Err(syntax(pos, &format!("unexpected `{c}`"))),
            '"' => {
                self.bump();
                self.string(pos).map(|s| value(Value::Str(s)))
            }
            ':' => {
                self.bump();
                let name = self.token();
                if name.is_empty() {
                    return Err(syntax(pos, "a keyword needs a name after `:`"));
                }
                Ok(value(Value::Keyword(name)))
            }
            '\\' => Err(syntax(pos, "character literals are not supported")),
            '#' => {
                self.bump();
                match self.peek() {
                    Some('{') => {
                        self.bump();
                        let mut items = self.items(pos, '{', '}', depth)?;
                        items.sort();
                        items.dedup();
                        Ok(value(Value::List(items)))
                    }
                    Some(c) if !is_delimiter(c) => {
                        // A tagged literal: drop the tag, keep the form.
                        self.token();
                        self.skip_space(depth + 1)?;
                        self.form(depth + 1)
                    }
                    _ => Err(syntax(pos, "`#` must start a set `#{`, a tag or `#_`")),
                }
            }
            _ => {
                let token = self.token();
                scalar(&token, pos).map(value)
            }
        }
    }

    fn items(
        &mut self,
        open_pos: Pos,
        open: char,
        close: char,
        depth: usize,
    ) -> Result<Vec<Value>, HistoryError> {
        let mut items = Vec::new();
        loop {
            self.skip_space(depth + 1)?;
            match self.peek() {
                None => {
                    return Err(syntax(
                        self.pos(),
                        &format!("`{open}` opened at {open_pos} is never closed"),
                    ));
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => {
                    let node = self.form(depth + 1)?;
                    items.push(node.into_value());
                }
            }
        }
    }

    fn map(&mut self, open_pos: Pos, depth: usize) -> Result<Node, HistoryError> {
        let mut entries = Vec::new();
        loop {
            self.skip_space(depth + 1)?;
            match self.peek() {
                None => {
                    return Err(syntax(
                        self.pos(),
                        &format!("`{{` opened at {open_pos} is never closed"),
                    ));
                }
                Some('}') => {
                    self.bump();
                    return Ok(Node {
                        pos: open_pos,
                        form: Form::Map(entries),
                    });
                }
                Some(_) => {
                    let key = self.form(depth + 1)?;
                    self.skip_space(depth + 1)?;
                    if self.peek() == Some('}') || self.peek().is_none() {
                        return Err(syntax(
                            key.pos,
                            "a map needs a value for every key (odd number of forms)",
                        ));
                    }
                    let value = self.form(depth + 1)?;
                    entries.push((key, value));
                }
            }
        }
    }

    fn string(&mut self, open_pos: Pos) -> Result<String, HistoryError> {
        let mut out = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None => {
                    return Err(syntax(
                        here,
                        &format!("string opened at {open_pos} is never closed"),
                    ));
                }
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('u') => {
                        let mut code = String::new();
                        for _ in 0..4 {
                            match self.bump() {
                                Some(c) => code.push(c),
                                None => break,
                            }
                        }
                        let c = u32::from_str_radix(&code, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| syntax(here, "bad \\u escape in string"))?;
                        out.push(c);
                    }
                    _ => return Err(syntax(here, "unknown escape in string")),
                },
                Some(c) => out.push(c),
            }
        }
    }
}

impl Node {
    /// The node as a value; a map becomes a list of `[key value]` pairs.
    pub(crate) fn into_value(self) -> Value {
        match self.form {
            Form::Value(v) => v,
            Form::Map(entries) => Value::List(
                entries
                    .into_iter()
                    .map(|(k, v)| Value::List(vec![k.into_value(), v.into_value()]))
                    .collect(),
            ),
        }
    }
}

/// A token that is not a collection, string or keyword: nil, a boolean or an integer.
fn scalar(token: &str, pos: Pos) -> Result<Value, HistoryError> {
    match token {
        "nil" => return Ok(Value::Nil),
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let digits = token.strip_prefix(['+', '-']).unwrap_or(token);
    if digits.starts_with(|c: char| c.is_ascii_digit()) {
        let integer = token.strip_suffix('N').unwrap_or(token);
        if integer.contains(['.', 'e', 'E', '/', 'M']) {
            return Err(syntax(
                pos,
                &format!("`{token}`: only integers are supported, not floats or ratios"),
            ));
        }
        return integer
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| syntax(pos, &format!("`{token}` is not an integer in range")));
    }
    Err(syntax(
        pos,
        &format!(
            "unexpected symbol `{token}` (expected nil, true, false, a number, a string, a keyword or a collection)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Value> {
        read_all(text)
            .unwrap()
            .into_iter()
            .map(Node::into_value)
            .collect()
    }

    fn error(text: &str) -> String {
        read_all(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_forms_of_jepsen_histories() {
        assert_eq!(
            values("[nil true] -3 \"a\\\"b\" :timed-out ([1 (2 3)]) #{3 1} ; comment\n 12N"),
            vec![
                Value::Nil,
                Value::Bool(true),
                Value::Int(-3),
                Value::from("a\"b"),
                Value::keyword("timed-out"),
                Value::List(vec![Value::Int(1), Value::ints(&[2, 3])]),
                Value::ints(&[1, 3]),
                Value::Int(12),
            ]
        );
        // Tags are dropped, discards skipped, maps inside values become pairs.
        assert_eq!(
            values("#_ 99 #inst \"2020\" {:a 1} ([1 #_ 2])"),
            vec![
                Value::from("2020"),
                Value::List(vec![Value::List(vec![Value::keyword("a"), Value::Int(1)])]),
                Value::ints(&[1]),
            ]
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        // Each message points at the offending character so a user can fix the file.
        assert_eq!(error("[1 2\n 3"), "2:3: `[` opened at 1:1 is never closed");
        assert_eq!(error("{:a 1}\n  ]"), "2:3: unexpected `]`");
        assert_eq!(
            error("[1.5]"),
            "1:2: `1.5`: only integers are supported, not floats or ratios"
        );
        assert_eq!(
            error("{:a}"),
            "1:2: a map needs a value for every key (odd number of forms)"
        );
        assert_eq!(error("\"abc"), "1:5: string opened at 1:1 is never closed");
        assert!(error("foo").starts_with("1:1: unexpected symbol `foo`"));
        assert_eq!(
            error("99999999999999999999"),
            "1:1: `99999999999999999999` is not an integer in range"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // Without the depth bound, this would recurse a million frames deep.
        let text = "[".repeat(1_000_000);
        assert!(error(&text).contains("nested deeper than 128"));
        for text in ["#_[".repeat(1_000_000), "#_".repeat(1_000_000)] {
            assert!(error(&text).contains("nested deeper than 128"));
        }
    }
}
