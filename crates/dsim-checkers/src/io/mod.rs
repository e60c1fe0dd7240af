//! History I/O: Jepsen EDN and `jepsen.util` log lines in, EDN out.
//!
//! Two input formats, told apart by the first non-blank line (EDN starts with `{`,
//! `[`, `(`, `;` or `#`; anything else is read as a log):
//! - **EDN**: a vector of operation maps, or one map per line (any whitespace between
//!   them), as Jepsen's `history.edn`:
//!   `{:index 0, :time 1500000, :process 5, :type :invoke, :f :cas, :key 3, :value [1 4]}`.
//!   `:type`, `:process` and `:f` are required; `:value`, `:key` and `:time` optional;
//!   other keys (`:index`, `:error`, ...) are ignored. Events are taken in file order.
//! - **`jepsen.util` log lines**, the format in which the etcd histories of the
//!   linearizability literature (Knossos, Porcupine) are published:
//!   `INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]` (process, type, f, value). Lines
//!   without `jepsen.util` are other loggers' lines and are skipped.
//!
//! Operations of the `:nemesis` process (any non-integer process) are skipped in both.
//! Output is EDN, one operation map per line, in the format above.

mod edn;

use crate::history::{Event, EventType, History, HistoryError, HistoryErrorKind, Pos};
use dsim_core::Value;
use edn::{Form, Node};
use std::fmt::Write as _;
use std::io;

pub use edn::MAX_DEPTH;

/// Reads the events of a history file (EDN or `jepsen.util` log lines).
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>, HistoryError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        // The prefix is valid UTF-8 by construction.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        HistoryError::new(Some(end_pos(prefix)), HistoryErrorKind::NotUtf8)
    })?;
    let first = text.lines().map(str::trim).find(|line| !line.is_empty());
    let events = match first {
        None => Vec::new(),
        Some(line) if !line.starts_with(['{', '[', '(', ';', '#']) => read_log(text)?,
        Some(_) => read_edn(text)?,
    };
    if events.is_empty() {
        return Err(HistoryError::new(
            Some(Pos { line: 1, col: 1 }),
            HistoryErrorKind::Empty,
        ));
    }
    Ok(events)
}

/// Reads a history file and pairs its events into operations.
pub fn read_history(bytes: &[u8]) -> Result<History, HistoryError> {
    History::from_events(&read_events(bytes)?)
}

/// The position just after `text`.
fn end_pos(text: &str) -> Pos {
    let line = 1 + text.matches('\n').count() as u32;
    let last = text.rsplit('\n').next().unwrap_or_default();
    Pos {
        line,
        col: 1 + last.chars().count() as u32,
    }
}

fn bad_op(pos: Pos, message: String) -> HistoryError {
    HistoryError::new(Some(pos), HistoryErrorKind::BadOp(message))
}

fn read_edn(text: &str) -> Result<Vec<Event>, HistoryError> {
    let mut events = Vec::new();
    for node in edn::read_all(text)? {
        if let Some(event) = event_of_map(node)? {
            events.push(event);
        }
    }
    Ok(events)
}

/// An operation map as an event; `None` for a nemesis operation.
fn event_of_map(node: Node) -> Result<Option<Event>, HistoryError> {
    let pos = node.pos;
    let Form::Map(entries) = node.form else {
        return Err(bad_op(
            pos,
            "expected an operation map `{:type ..., :process ..., :f ...}`".to_string(),
        ));
    };
    let mut kind = None;
    let mut process = None;
    let mut f = None;
    let mut event = Event::new(0, EventType::Invoke, "", Value::Nil);
    event.pos = Some(pos);
    for (key, value) in entries {
        let Form::Value(Value::Keyword(name)) = &key.form else {
            return Err(bad_op(
                key.pos,
                "operation map keys must be keywords".into(),
            ));
        };
        let value_pos = value.pos;
        let value = value.into_value();
        match name.as_str() {
            "type" => {
                let found = match &value {
                    Value::Keyword(k) => EventType::from_name(k),
                    _ => None,
                };
                kind = Some(found.ok_or_else(|| {
                    bad_op(
                        value_pos,
                        format!(":type must be :invoke, :ok, :fail or :info, found {value}"),
                    )
                })?);
            }
            "process" => process = Some(value),
            "f" => {
                f = Some(match value {
                    Value::Keyword(k) | Value::Str(k) => k,
                    other => {
                        return Err(bad_op(
                            value_pos,
                            format!(":f must be a keyword, found {other}"),
                        ));
                    }
                });
            }
            "value" => event.value = value,
            "key" => event.key = Some(value),
            "time" => {
                event.time_ns = Some(match value {
                    Value::Int(t) if t >= 0 => t as u64,
                    other => {
                        return Err(bad_op(
                            value_pos,
                            format!(":time must be a non-negative integer, found {other}"),
                        ));
                    }
                });
            }
            _ => {}
        }
    }
    let missing = |field: &str| bad_op(pos, format!("operation map has no :{field}"));
    event.kind = kind.ok_or_else(|| missing("type"))?;
    event.f = f.ok_or_else(|| missing("f"))?;
    match process.ok_or_else(|| missing("process"))? {
        Value::Int(p) if p >= 0 => event.process = p as u64,
        Value::Keyword(_) => return Ok(None),
        other => {
            return Err(bad_op(
                pos,
                format!(":process must be a non-negative integer or :nemesis, found {other}"),
            ));
        }
    }
    Ok(Some(event))
}

/// Reads `jepsen.util` log lines.
fn read_log(text: &str) -> Result<Vec<Event>, HistoryError> {
    const MARK: &str = "jepsen.util - ";
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let Some(at) = line.find(MARK) else {
            continue;
        };
        let start = at + MARK.len();
        // Fields: process, type, f, then the value (the rest of the line).
        let mut fields: Vec<(Pos, &str)> = Vec::with_capacity(3);
        let mut rest = start;
        for _ in 0..3 {
            let tail = &line[rest..];
            let skipped = tail.len() - tail.trim_start().len();
            let begin = rest + skipped;
            let len = line[begin..]
                .find(char::is_whitespace)
                .unwrap_or(line.len() - begin);
            let col = 1 + line[..begin].chars().count() as u32;
            fields.push((Pos { line: line_no, col }, &line[begin..begin + len]));
            rest = begin + len;
        }
        let value_col = {
            let tail = &line[rest..];
            rest + (tail.len() - tail.trim_start().len())
        };
        let value_pos = Pos {
            line: line_no,
            col: 1 + line[..value_col].chars().count() as u32,
        };
        let [(p_pos, process), (t_pos, kind), (f_pos, f)] = [fields[0], fields[1], fields[2]];
        if f.is_empty() || line[value_col..].trim().is_empty() {
            return Err(bad_op(
                Pos {
                    line: line_no,
                    col: 1 + line.chars().count() as u32,
                },
                "a jepsen.util line needs a process, a type, an :f and a value".into(),
            ));
        }
        if process.starts_with(':') {
            continue; // :nemesis
        }
        let process: u64 = process.parse().map_err(|_| {
            bad_op(
                p_pos,
                format!("process must be a non-negative integer, found `{process}`"),
            )
        })?;
        let kind = kind
            .strip_prefix(':')
            .and_then(EventType::from_name)
            .ok_or_else(|| {
                bad_op(
                    t_pos,
                    format!("type must be :invoke, :ok, :fail or :info, found `{kind}`"),
                )
            })?;
        let Some(f) = f.strip_prefix(':').filter(|f| !f.is_empty()) else {
            return Err(bad_op(f_pos, format!(":f must be a keyword, found `{f}`")));
        };
        let value = edn::read_one(&line[value_col..], value_pos)?.into_value();
        let mut event = Event::new(process, kind, f, value);
        event.pos = Some(Pos {
            line: line_no,
            col: 1,
        });
        events.push(event);
    }
    Ok(events)
}

/// One event as a Jepsen operation map:
/// `{:index 0, :time 1500000, :process 5, :type :invoke, :f :cas, :key 3, :value [1 4]}`
/// (`:time` and `:key` only when present).
pub fn event_to_edn(index: usize, event: &Event) -> String {
    let mut out = format!("{{:index {index}");
    if let Some(time) = event.time_ns {
        let _ = write!(out, ", :time {time}");
    }
    let _ = write!(
        out,
        ", :process {}, :type :{}, :f {}",
        event.process,
        event.kind.name(),
        Value::Keyword(event.f.clone())
    );
    if let Some(key) = &event.key {
        let _ = write!(out, ", :key {key}");
    }
    let _ = write!(out, ", :value {}}}", event.value);
    out
}

/// Writes events as EDN, one operation map per line, `:index` counting from 0.
pub fn write_edn<W: io::Write>(events: &[Event], out: &mut W) -> io::Result<()> {
    for (index, event) in events.iter().enumerate() {
        writeln!(out, "{}", event_to_edn(index, event))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &[u8]) -> String {
        read_events(text).unwrap_err().to_string()
    }

    #[test]
    fn edn_maps_one_per_line_and_a_vector_read_alike() {
        let lines = "{:type :invoke, :f :cas, :process 5, :key 3, :value [1 4], :time 15, :index 0}\n\
                     ; a comment\n\
                     {:type :ok, :f :cas, :process 5, :key 3, :value [1 4], :time 20}\n\
                     {:type :info, :f :start, :process :nemesis, :value nil}\n";
        let without_comment: Vec<&str> = lines.lines().filter(|l| !l.starts_with(';')).collect();
        let vector = format!("[{}]", without_comment.join(" "));
        let a = read_events(lines.as_bytes()).unwrap();
        let b = read_events(vector.as_bytes()).unwrap();
        // The nemesis operation is skipped; positions differ, nothing else does.
        assert_eq!(a.len(), 2);
        let strip = |events: Vec<Event>| -> Vec<Event> {
            events
                .into_iter()
                .map(|e| Event { pos: None, ..e })
                .collect()
        };
        assert_eq!(strip(a.clone()), strip(b));
        assert_eq!(
            strip(a.clone())[0],
            Event::new(5, EventType::Invoke, "cas", Value::ints(&[1, 4]))
                .with_key(Value::Int(3))
                .with_time(15)
        );
        assert_eq!(a[1].pos, Some(Pos { line: 3, col: 1 }));
    }

    #[test]
    fn written_edn_reads_back_to_the_same_events() {
        let events = vec![
            Event::new(5, EventType::Invoke, "cas", Value::ints(&[1, 4]))
                .with_key(Value::Int(3))
                .with_time(1_500_000),
            Event::new(5, EventType::Info, "cas", Value::keyword("timed-out")),
            Event::new(1, EventType::Invoke, "append", Value::from("x\"y")),
        ];
        let mut out = Vec::new();
        write_edn(&events, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "{:index 0, :time 1500000, :process 5, :type :invoke, :f :cas, :key 3, :value [1 4]}"
        );
        let back: Vec<Event> = read_events(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| Event { pos: None, ..e })
            .collect();
        assert_eq!(back, events);
    }

    #[test]
    fn jepsen_log_lines_read_with_their_values() {
        let text = "INFO  jepsen.core - starting\n\
                    INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\n\
                    INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
                    INFO  jepsen.util - 3\t:info\t:cas\t:timed-out\n";
        let events = read_events(text.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].value, Value::ints(&[1, 4]));
        assert_eq!(events[0].pos, Some(Pos { line: 2, col: 1 }));
        assert_eq!(events[1].kind, EventType::Info);
        assert_eq!(events[1].value, Value::keyword("timed-out"));
    }

    #[test]
    fn bad_files_are_refused_with_a_position() {
        // Each would otherwise be read as a different history or crash the reader.
        assert_eq!(error(b""), "1:1: the history is empty: no operations found");
        assert_eq!(
            error(b"  \n ; only a comment\n"),
            "1:1: the history is empty: no operations found"
        );
        assert_eq!(
            error(b"{:type :ok}\n\xff"),
            "2:1: the file is not valid UTF-8"
        );
        assert_eq!(
            error(b"{:type :ok, :f :read}"),
            "1:1: operation map has no :process"
        );
        assert_eq!(
            error(b"{:type :done, :f :read, :process 1}"),
            "1:8: :type must be :invoke, :ok, :fail or :info, found :done"
        );
        assert_eq!(
            error(b"[1 2]"),
            "1:2: expected an operation map `{:type ..., :process ..., :f ...}`"
        );
        assert_eq!(
            error(b"INFO  jepsen.util - x\t:invoke\t:read\tnil\n"),
            "1:21: process must be a non-negative integer, found `x`"
        );
        assert_eq!(
            error(b"INFO  jepsen.util - 1\t:invoke\t:read\t[1\n"),
            "1:39: `[` opened at 1:37 is never closed"
        );
        assert_eq!(
            error(b"INFO  jepsen.util - 1\t:invoke\t:read\n"),
            "1:36: a jepsen.util line needs a process, a type, an :f and a value"
        );
    }
}
