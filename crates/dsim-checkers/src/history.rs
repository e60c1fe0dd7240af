//! Histories: what clients saw, as invocation and completion events paired into
//! operations.
//!
//! A client operation is observed twice. Its **invocation** names the process, the
//! function `f`, an optional key and the argument; its **completion** says how it ended:
//! - `ok`: it happened, and the completion's value is its result;
//! - `fail`: it certainly did not happen (it is dropped before any check);
//! - `info`: indeterminate (a timeout): it may take effect at any time after its
//!   invocation, or never. An invocation that never completes is `info` too.
//!
//! These are Jepsen's semantics exactly. [`History::from_events`] pairs a stream of
//! [`Event`]s (in real-time order, as a Jepsen history is) into [`Op`]s and refuses
//! streams that cannot have happened: a completion with no pending invocation, a second
//! invocation by a process whose previous operation is still pending, a completion of
//! another function than the one invoked, a completion timed before its invocation.

use dsim_core::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A position in a history file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, counted in characters.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// What an event is: an invocation, or one of the three kinds of completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// `:invoke`: the client started the operation.
    Invoke,
    /// `:ok`: the operation happened.
    Ok,
    /// `:fail`: the operation certainly did not happen.
    Fail,
    /// `:info`: the outcome is unknown.
    Info,
}

impl EventType {
    /// The Jepsen keyword name (`invoke`, `ok`, `fail`, `info`).
    pub fn name(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }

    /// Parses a Jepsen `:type` keyword name.
    pub fn from_name(name: &str) -> Option<EventType> {
        match name {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpType {
    /// It happened; its result is known.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Indeterminate: it may take effect at any time after its invocation, or never.
    Info,
}

impl OpType {
    /// The Jepsen keyword name (`ok`, `fail`, `info`).
    pub fn name(self) -> &'static str {
        match self {
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }
}

/// One line of a history: an invocation or a completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The client process (Jepsen's `:process`).
    pub process: u64,
    /// Invocation or completion kind (Jepsen's `:type`).
    pub kind: EventType,
    /// The function, e.g. `read`, `write`, `cas` (Jepsen's `:f`, without the colon).
    pub f: String,
    /// The key the operation addresses, if the model is keyed (`:key`).
    pub key: Option<Value>,
    /// The argument (on an invocation) or the result (on a completion) (`:value`).
    pub value: Value,
    /// Wall or virtual time in nanoseconds, if the source recorded one (`:time`).
    pub time_ns: Option<u64>,
    /// Where the event was read, if it came from a file.
    pub pos: Option<Pos>,
}

impl Event {
    /// An event with no key, time or position.
    pub fn new(process: u64, kind: EventType, f: &str, value: Value) -> Event {
        Event {
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
            time_ns: None,
            pos: None,
        }
    }

    /// This event with a key.
    pub fn with_key(mut self, key: Value) -> Event {
        self.key = Some(key);
        self
    }

    /// This event with a time in nanoseconds.
    pub fn with_time(mut self, time_ns: u64) -> Event {
        self.time_ns = Some(time_ns);
        self
    }
}

/// One client operation: an invocation paired with its completion (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Index of this operation in [`History::ops`] (operations are numbered in the
    /// order of their invocations).
    pub id: usize,
    /// The client process.
    pub process: u64,
    /// The function (`read`, `write`, `cas`, ...).
    pub f: String,
    /// The key, for keyed models.
    pub key: Option<Value>,
    /// The argument given at invocation.
    pub value: Value,
    /// The value of the completion: the result of an `ok` operation (`nil` if the
    /// operation never completed).
    pub ret: Value,
    /// How the operation ended (`Info` if it never completed).
    pub op_type: OpType,
    /// Position of the invocation in the event stream (0-based).
    pub invoke_index: usize,
    /// Position of the completion in the event stream, if it completed.
    pub complete_index: Option<usize>,
    /// Time of the invocation in nanoseconds, if recorded.
    pub invoke_time_ns: Option<u64>,
    /// Time of the completion in nanoseconds, if recorded.
    pub complete_time_ns: Option<u64>,
    /// Where the invocation was read, if it came from a file.
    pub pos: Option<Pos>,
}

impl fmt::Display for Op {
    /// `p3 cas [1 4] -> ok`, `p0 read -> 2`, `p2 write 1 -> info`, with `k=5` for keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{} {}", self.process, self.f)?;
        if let Some(key) = &self.key {
            write!(f, " k={key}")?;
        }
        if !self.value.is_nil() {
            write!(f, " {}", self.value)?;
        }
        match self.op_type {
            OpType::Ok if self.value.is_nil() || self.ret != self.value => {
                write!(f, " -> {}", self.ret)
            }
            OpType::Ok => f.write_str(" -> ok"),
            OpType::Fail => f.write_str(" -> fail"),
            OpType::Info => f.write_str(" -> info"),
        }
    }
}

/// A paired history: every operation with its outcome, in invocation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The operations, numbered by invocation order.
    pub ops: Vec<Op>,
}

/// What is wrong with a history, without its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryErrorKind {
    /// The text is not valid EDN (or not a valid log line).
    #[error("{0}")]
    Syntax(String),
    /// An operation map is missing a field or has one of the wrong kind.
    #[error("{0}")]
    BadOp(String),
    /// The file is not UTF-8.
    #[error("the file is not valid UTF-8")]
    NotUtf8,
    /// The file holds no operations.
    #[error("the history is empty: no operations found")]
    Empty,
    /// A completion whose process has no pending invocation.
    #[error("process {process} completes :{f} but has no pending invocation")]
    UnmatchedCompletion {
        /// The process.
        process: u64,
        /// The completion's function.
        f: String,
    },
    /// A process invoked again while its previous operation was still pending.
    #[error(
        "process {process} invokes :{f} while its previous operation (:{pending_f}, invoked at {pending_at}) is still pending"
    )]
    AlreadyPending {
        /// The process.
        process: u64,
        /// The new invocation's function.
        f: String,
        /// The pending operation's function.
        pending_f: String,
        /// Where the pending operation was invoked (position or event number).
        pending_at: String,
    },
    /// A completion names another function than its invocation.
    #[error("process {process} invoked :{invoked} but completes :{completed}")]
    MismatchedCompletion {
        /// The process.
        process: u64,
        /// The invoked function.
        invoked: String,
        /// The completion's function.
        completed: String,
    },
    /// A completion's `:time` is before its invocation's.
    #[error(
        "process {process} completes :{f} at time {complete_ns} ns, before its invocation at {invoke_ns} ns"
    )]
    CompletionBeforeInvocation {
        /// The process.
        process: u64,
        /// The function.
        f: String,
        /// Invocation time.
        invoke_ns: u64,
        /// Completion time.
        complete_ns: u64,
    },
    /// The model does not know this operation (an unknown `:f`, a malformed argument).
    #[error("model {model}: {message}")]
    Model {
        /// The model's name.
        model: String,
        /// What is wrong.
        message: String,
    },
}

/// A history that cannot be read or cannot have happened, with where (if known).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", match pos { Some(pos) => format!("{pos}: "), None => String::new() })]
pub struct HistoryError {
    /// Line and column in the file, when the history came from one.
    pub pos: Option<Pos>,
    /// What is wrong.
    pub kind: HistoryErrorKind,
}

impl HistoryError {
    /// An error at `pos`.
    pub fn new(pos: Option<Pos>, kind: HistoryErrorKind) -> HistoryError {
        HistoryError { pos, kind }
    }
}

fn where_is(pos: Option<Pos>, index: usize) -> String {
    match pos {
        Some(pos) => pos.to_string(),
        None => format!("event {index}"),
    }
}

impl History {
    /// Pairs a stream of events (in real-time order) into operations.
    ///
    /// Invocations that never complete become `Info` operations. Errors name the
    /// offending event's position.
    pub fn from_events(events: &[Event]) -> Result<History, HistoryError> {
        let mut ops: Vec<Op> = Vec::new();
        // process -> index in `ops` of its pending invocation
        let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
        for (index, event) in events.iter().enumerate() {
            let fail = |kind| Err(HistoryError::new(event.pos, kind));
            if event.kind == EventType::Invoke {
                if let Some(&open) = pending.get(&event.process) {
                    let open = &ops[open];
                    return fail(HistoryErrorKind::AlreadyPending {
                        process: event.process,
                        f: event.f.clone(),
                        pending_f: open.f.clone(),
                        pending_at: where_is(open.pos, open.invoke_index),
                    });
                }
                pending.insert(event.process, ops.len());
                ops.push(Op {
                    id: ops.len(),
                    process: event.process,
                    f: event.f.clone(),
                    key: event.key.clone(),
                    value: event.value.clone(),
                    ret: Value::Nil,
                    op_type: OpType::Info,
                    invoke_index: index,
                    complete_index: None,
                    invoke_time_ns: event.time_ns,
                    complete_time_ns: None,
                    pos: event.pos,
                });
                continue;
            }
            let Some(open) = pending.remove(&event.process) else {
                return fail(HistoryErrorKind::UnmatchedCompletion {
                    process: event.process,
                    f: event.f.clone(),
                });
            };
            let op = &mut ops[open];
            if op.f != event.f {
                return fail(HistoryErrorKind::MismatchedCompletion {
                    process: event.process,
                    invoked: op.f.clone(),
                    completed: event.f.clone(),
                });
            }
            if let (Some(invoke_ns), Some(complete_ns)) = (op.invoke_time_ns, event.time_ns)
                && complete_ns < invoke_ns
            {
                return fail(HistoryErrorKind::CompletionBeforeInvocation {
                    process: event.process,
                    f: event.f.clone(),
                    invoke_ns,
                    complete_ns,
                });
            }
            op.op_type = match event.kind {
                EventType::Ok => OpType::Ok,
                EventType::Fail => OpType::Fail,
                _ => OpType::Info,
            };
            op.ret = event.value.clone();
            if op.key.is_none() {
                op.key = event.key.clone();
            }
            op.complete_index = Some(index);
            op.complete_time_ns = event.time_ns;
        }
        Ok(History { ops })
    }

    /// The events this history was paired from, in stream order: each operation's
    /// invocation and (if it completed) its completion.
    pub fn events(&self) -> Vec<Event> {
        let mut indexed: Vec<(usize, Event)> = Vec::with_capacity(self.ops.len() * 2);
        for op in &self.ops {
            indexed.push((
                op.invoke_index,
                Event {
                    process: op.process,
                    kind: EventType::Invoke,
                    f: op.f.clone(),
                    key: op.key.clone(),
                    value: op.value.clone(),
                    time_ns: op.invoke_time_ns,
                    pos: op.pos,
                },
            ));
            if let Some(index) = op.complete_index {
                indexed.push((
                    index,
                    Event {
                        process: op.process,
                        kind: match op.op_type {
                            OpType::Ok => EventType::Ok,
                            OpType::Fail => EventType::Fail,
                            OpType::Info => EventType::Info,
                        },
                        f: op.f.clone(),
                        key: op.key.clone(),
                        value: op.ret.clone(),
                        time_ns: op.complete_time_ns,
                        pos: None,
                    },
                ));
            }
        }
        indexed.sort_by_key(|(index, _)| *index);
        indexed.into_iter().map(|(_, event)| event).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(process: u64, kind: EventType, f: &str, value: Value) -> Event {
        Event::new(process, kind, f, value)
    }

    #[test]
    fn events_pair_into_operations_with_their_outcomes() {
        let events = vec![
            ev(0, EventType::Invoke, "write", Value::Int(1)),
            ev(1, EventType::Invoke, "read", Value::Nil),
            ev(0, EventType::Ok, "write", Value::Int(1)),
            ev(2, EventType::Invoke, "cas", Value::ints(&[1, 2])),
            ev(1, EventType::Ok, "read", Value::Int(1)),
            ev(2, EventType::Fail, "cas", Value::ints(&[1, 2])),
            ev(3, EventType::Invoke, "write", Value::Int(5)),
        ];
        let history = History::from_events(&events).unwrap();
        // Operations are numbered by invocation; the read's result is its completion
        // value; the invocation that never completed is indeterminate.
        let kinds: Vec<(u64, &str, OpType, Option<usize>)> = history
            .ops
            .iter()
            .map(|op| (op.process, op.f.as_str(), op.op_type, op.complete_index))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, "write", OpType::Ok, Some(2)),
                (1, "read", OpType::Ok, Some(4)),
                (2, "cas", OpType::Fail, Some(5)),
                (3, "write", OpType::Info, None),
            ]
        );
        assert_eq!(history.ops[1].ret, Value::Int(1));
        // Writing the events back gives the same stream.
        assert_eq!(history.events(), events);
    }

    #[test]
    fn a_completion_without_invocation_is_refused() {
        let events = vec![ev(4, EventType::Ok, "read", Value::Int(1))];
        let error = History::from_events(&events).unwrap_err();
        assert_eq!(
            error.kind,
            HistoryErrorKind::UnmatchedCompletion {
                process: 4,
                f: "read".into()
            }
        );
    }

    #[test]
    fn a_second_invocation_while_pending_is_refused() {
        let mut second = ev(0, EventType::Invoke, "read", Value::Nil);
        second.pos = Some(Pos { line: 2, col: 1 });
        let mut first = ev(0, EventType::Invoke, "write", Value::Int(1));
        first.pos = Some(Pos { line: 1, col: 1 });
        let error = History::from_events(&[first, second]).unwrap_err();
        // The message names both the new invocation's position and the pending one's.
        assert_eq!(
            error.to_string(),
            "2:1: process 0 invokes :read while its previous operation (:write, invoked at 1:1) is still pending"
        );
    }

    #[test]
    fn a_completion_timed_before_its_invocation_is_refused() {
        let events = vec![
            ev(0, EventType::Invoke, "read", Value::Nil).with_time(100),
            ev(0, EventType::Ok, "read", Value::Int(1)).with_time(50),
        ];
        let error = History::from_events(&events).unwrap_err();
        assert!(matches!(
            error.kind,
            HistoryErrorKind::CompletionBeforeInvocation {
                invoke_ns: 100,
                complete_ns: 50,
                ..
            }
        ));
    }

    #[test]
    fn a_completion_of_another_function_is_refused() {
        let events = vec![
            ev(0, EventType::Invoke, "read", Value::Nil),
            ev(0, EventType::Ok, "write", Value::Int(1)),
        ];
        let error = History::from_events(&events).unwrap_err();
        assert!(matches!(
            error.kind,
            HistoryErrorKind::MismatchedCompletion { .. }
        ));
    }

    #[test]
    fn operations_print_readably() {
        let events = vec![
            ev(3, EventType::Invoke, "cas", Value::ints(&[1, 4])),
            ev(0, EventType::Invoke, "read", Value::Nil),
            ev(3, EventType::Ok, "cas", Value::ints(&[1, 4])),
            ev(0, EventType::Ok, "read", Value::Int(2)),
        ];
        let history = History::from_events(&events).unwrap();
        assert_eq!(history.ops[0].to_string(), "p3 cas [1 4] -> ok");
        assert_eq!(history.ops[1].to_string(), "p0 read -> 2");
    }
}
