//! The run explorer: the interactive space-time diagram at the top of `report.html`.
//!
//! The page embeds the run as one JSON document in a compact columnar encoding (one
//! array per field, times as differences from the previous value, message labels and
//! kinds as indexes into tables of distinct strings) and a hand-written script
//! (`explorer.js`, no framework, no network) that draws it on a canvas: node lanes over
//! virtual time, message arrows, fault windows and instants, client operations as bars
//! on their client's lane, a minimap, zoom, pan, filters, details on click, and a
//! "jump to violation" button.
//!
//! Both the JSON and the script are written from the run alone, so the page stays
//! byte-identical for equal runs. A run with more than [`EVENTS_EMBED_MAX`] messages
//! and operations is embedded as a window of that many events around its first
//! violation (else its first fault, else its start); the page says what it left out.
//!
//! The operations and messages "involved" in a violation are those its checker named
//! (the operations' op ids in [`Violation::ops`], and their clients' messages while
//! they were open), or, for a check that names no operations, those of its nodes
//! around its time: see [`involved`].

use crate::faults::FaultWindow;
use crate::ops::{OPS_HEADER, OpRow};
use crate::page::escape_html;
use dsim_core::{
    DropReason, FaultRecord, MessageFate, MessageLog, MessageRecord, SimTime, Violation,
};
use std::collections::BTreeMap;
use std::fmt::Write;

/// At most this many events (logged messages plus client operations) are embedded.
pub const EVENTS_EMBED_MAX: usize = 200_000;

/// How many messages `dsim run` asks the engine to log for the explorer: twice
/// [`EVENTS_EMBED_MAX`], so a violation within the first 300,000 messages still gets a
/// full window around it. Logging costs time (each message's `Debug` text): logging a
/// million made `bench-hold`'s run about 17% slower, for messages that a run without
/// violations or faults never shows.
pub const MESSAGE_LOG_MAX: usize = 400_000;

/// How many messages before the violation the "jump to violation" window spans.
const VIOLATION_WINDOW_MESSAGES: usize = 60;

/// The explorer's own styles.
const STYLE: &str = "<style>\n#explorer canvas { display: block; width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }\n\
#explorer #ex-canvas { cursor: grab; }\n\
.ex-controls button { margin: 0 0.4em 0.4em 0; }\n\
#ex-filters label { margin-right: 0.7em; white-space: nowrap; }\n\
#ex-filters div { margin: 0.2em 0; }\n\
#ex-details { min-height: 4em; white-space: pre-wrap; }\n</style>\n";

/// The explorer's script, embedded as is.
const SCRIPT: &str = include_str!("explorer.js");

/// What the explorer draws: a run's messages, operations, faults and violations.
#[derive(Clone, Copy, Debug)]
pub struct ExplorerInput<'a> {
    /// Nodes in the run (lanes `n0..`).
    pub node_count: usize,
    /// The run's span of virtual time.
    pub span: SimTime,
    /// The engine's message log (in send order).
    pub messages: &'a MessageLog,
    /// Messages sent in the whole run, to say how many the log left out.
    pub messages_sent: u64,
    /// Client operations, as the engine paired them ([`dsim_core::RunOutput::ops`]).
    pub ops: &'a [OpRow],
    /// Every fault applied.
    pub fault_log: &'a [FaultRecord],
    /// Fault windows ([`crate::fault_windows`]).
    pub windows: &'a [FaultWindow],
    /// The checker's violations.
    pub violations: &'a [Violation],
}

/// The part of a run the explorer embeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Indexes of the embedded messages (into the message log), in send order.
    pub messages: Vec<usize>,
    /// Indexes of the embedded operations, in invocation order.
    pub ops: Vec<usize>,
    /// First embedded instant.
    pub from: SimTime,
    /// Last embedded instant.
    pub to: SimTime,
    /// One or two sentences saying what the explorer shows and what it left out.
    pub note: String,
}

/// Where a window of a large run is centred, and why.
fn anchor(input: &ExplorerInput<'_>) -> (SimTime, String) {
    if let Some(violation) = input.violations.iter().min_by_key(|v| v.time) {
        (
            violation.time,
            format!(
                "the first violation ({} at {})",
                violation.check, violation.time
            ),
        )
    } else if let Some(fault) = input.fault_log.first() {
        (
            fault.time,
            format!("the first fault ({} at {})", fault.fault.word(), fault.time),
        )
    } else {
        (SimTime::ZERO, "the start of the run".to_string())
    }
}

/// Chooses what to embed: everything when the run has at most `limit` messages and
/// operations, else a window of `limit` of them (by send or invocation time) around
/// the first violation, else the first fault, else the start.
pub fn select(input: &ExplorerInput<'_>, limit: usize) -> Selection {
    let total = input.messages.len() + input.ops.len();
    let mut note = String::new();
    let (messages, ops, from, to) = if total <= limit {
        let _ = write!(
            note,
            "The whole run: {} message{}, {} client operation{}, {} fault{}.",
            input.messages.len(),
            plural(input.messages.len()),
            input.ops.len(),
            plural(input.ops.len()),
            input.fault_log.len(),
            plural(input.fault_log.len())
        );
        (
            (0..input.messages.len()).collect::<Vec<_>>(),
            (0..input.ops.len()).collect::<Vec<_>>(),
            SimTime::ZERO,
            input.span,
        )
    } else {
        // Every event's time, in order: the two lists are each sorted already.
        let mut times: Vec<SimTime> = Vec::with_capacity(total);
        let (mut m, mut o) = (0, 0);
        while m < input.messages.len() || o < input.ops.len() {
            let take_message = o == input.ops.len()
                || (m < input.messages.len() && input.messages[m].sent_at <= input.ops[o].start);
            if take_message {
                times.push(input.messages[m].sent_at);
                m += 1;
            } else {
                times.push(input.ops[o].start);
                o += 1;
            }
        }
        let (at, why) = anchor(input);
        let keep = limit.max(1);
        let centre = times.partition_point(|&time| time < at);
        let low = centre.saturating_sub(keep / 2).min(total - keep);
        let (from, to) = (times[low], times[low + keep - 1]);
        let inside = |time: SimTime| time >= from && time <= to;
        let messages: Vec<usize> = (0..input.messages.len())
            .filter(|&i| inside(input.messages[i].sent_at))
            .collect();
        let ops: Vec<usize> = (0..input.ops.len())
            .filter(|&i| inside(input.ops[i].start))
            .collect();
        let _ = write!(
            note,
            "This run logged {total} messages and operations, more than the explorer embeds \
             ({limit}): it shows the window from {from} to {to} around {why}, with {} \
             message{} and {} operation{}; {} message{} and {} operation{} outside the \
             window were left out.",
            messages.len(),
            plural(messages.len()),
            ops.len(),
            plural(ops.len()),
            input.messages.len() - messages.len(),
            plural(input.messages.len() - messages.len()),
            input.ops.len() - ops.len(),
            plural(input.ops.len() - ops.len()),
        );
        (messages, ops, from, to)
    };
    let logged = input.messages.len() as u64;
    if input.messages_sent > logged {
        let last = input
            .messages
            .last()
            .map_or(SimTime::ZERO, |message| message.sent_at);
        let _ = write!(
            note,
            " The engine logged only the first {logged} of the {} messages sent (up to {last}); \
             later messages are not drawn.",
            input.messages_sent
        );
    }
    if input.messages.is_empty() {
        note.push_str(
            " No message was logged: the diagram shows lanes, faults and operations only.",
        );
    }
    Selection {
        messages,
        ops,
        from,
        to,
        note,
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// What a violation involves, as indexes into the embedded messages and operations,
/// and the window of time the "jump to violation" button shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Involved {
    /// Positions (in [`Selection::messages`]) of messages between the violation's nodes
    /// that arrived or were lost inside the window.
    pub messages: Vec<usize>,
    /// Positions (in [`Selection::ops`]) of operations of the violation's nodes that
    /// were open inside the window.
    pub ops: Vec<usize>,
    /// Start of the window.
    pub from: SimTime,
    /// End of the window.
    pub to: SimTime,
}

/// The window around `violation` and what in it the violation involves.
///
/// When the checker named operations ([`Violation::ops`], op ids as in `ops.csv`),
/// those are the involved operations, and the involved messages are those sent from or
/// to an involved operation's client while that operation was open (its requests and
/// replies); the window spans the operations and the violation's time, with an eighth
/// of that span as margin on each side. Named operations that were not embedded are
/// left out; if none was embedded, the rule below applies.
///
/// A violation that names no operations names nodes and a time, so "involved" means:
/// an operation of one of those nodes open at some point in the window up to the
/// violation, and a message from or to one of them that arrived (or was lost) in that
/// part of the window. The window starts at the send time of the
/// 60th-last embedded message sent before the violation (at least 1 ms before it) and
/// ends a quarter of that span after it.
pub fn involved(
    input: &ExplorerInput<'_>,
    selection: &Selection,
    violation: &Violation,
) -> Involved {
    if let Some(named) = named_ops(input, selection, violation) {
        return named;
    }
    let at = violation.time;
    let before = selection
        .messages
        .partition_point(|&i| input.messages[i].sent_at < at);
    let first_ns = before
        .checked_sub(VIOLATION_WINDOW_MESSAGES)
        .map_or(SimTime::ZERO, |index| {
            input.messages[selection.messages[index]].sent_at
        })
        .as_nanos();
    let width_ns = (at.as_nanos() - first_ns.min(at.as_nanos())).max(1_000_000);
    let from = SimTime(at.as_nanos().saturating_sub(width_ns));
    let to = SimTime(at.as_nanos().saturating_add(width_ns / 4));
    let names = |node: dsim_core::NodeId| violation.nodes.contains(&node);
    let messages = selection
        .messages
        .iter()
        .enumerate()
        .filter(|&(_, &i)| {
            let message = &input.messages[i];
            let end = match message.fate {
                MessageFate::Delivered(end) | MessageFate::Dropped(end, _) => end,
                MessageFate::InFlight => input.span,
            };
            (names(message.source) || names(message.target)) && end >= from && message.sent_at <= at
        })
        .map(|(position, _)| position)
        .collect();
    let ops = selection
        .ops
        .iter()
        .enumerate()
        .filter(|&(_, &i)| {
            let op = &input.ops[i];
            names(op.client) && op.start <= at && op.end.unwrap_or(input.span) >= from
        })
        .map(|(position, _)| position)
        .collect();
    Involved {
        messages,
        ops,
        from,
        to,
    }
}

/// What a violation that names operations involves (see [`involved`]); `None` when it
/// names none, or none of them was embedded.
fn named_ops(
    input: &ExplorerInput<'_>,
    selection: &Selection,
    violation: &Violation,
) -> Option<Involved> {
    let ops: Vec<usize> = selection
        .ops
        .iter()
        .enumerate()
        .filter(|&(_, &i)| violation.ops.contains(&input.ops[i].op_id))
        .map(|(position, _)| position)
        .collect();
    if ops.is_empty() {
        return None;
    }
    let spans: Vec<(dsim_core::NodeId, SimTime, SimTime)> = ops
        .iter()
        .map(|&position| {
            let op = &input.ops[selection.ops[position]];
            (op.client, op.start, op.end.unwrap_or(input.span))
        })
        .collect();
    let first = spans.iter().map(|&(_, start, _)| start).min()?;
    let last = spans
        .iter()
        .map(|&(_, _, end)| end)
        .max()?
        .max(violation.time)
        .min(input.span.max(violation.time));
    let first = first.min(violation.time);
    let margin_ns = ((last.as_nanos() - first.as_nanos()) / 8).max(500_000);
    let messages = selection
        .messages
        .iter()
        .enumerate()
        .filter(|&(_, &i)| {
            let message = &input.messages[i];
            spans.iter().any(|&(client, start, end)| {
                (message.source == client || message.target == client)
                    && message.sent_at >= start
                    && message.sent_at <= end
            })
        })
        .map(|(position, _)| position)
        .collect();
    Some(Involved {
        messages,
        ops,
        from: SimTime(first.as_nanos().saturating_sub(margin_ns)),
        to: SimTime(last.as_nanos().saturating_add(margin_ns)),
    })
}

/// The message's kind: its label up to the first space, brace or parenthesis.
pub fn message_kind(label: &str) -> &str {
    let end = label.find([' ', '{', '(']).unwrap_or(label.len());
    &label[..end]
}

/// Distinct strings in order of first appearance, each with its index.
#[derive(Default)]
struct Table<'a> {
    index: BTreeMap<&'a str, usize>,
    strings: Vec<&'a str>,
}

impl<'a> Table<'a> {
    fn add(&mut self, text: &'a str) -> usize {
        if let Some(&index) = self.index.get(text) {
            return index;
        }
        self.index.insert(text, self.strings.len());
        self.strings.push(text);
        self.strings.len() - 1
    }
}

/// Appends `text` as a JSON string; `<`, `>` and `&` are escaped too, so the document
/// can sit inside a `<script>` element.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_strings(out: &mut String, texts: &[&str]) {
    out.push('[');
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, text);
    }
    out.push(']');
}

fn json_numbers<T: std::fmt::Display>(out: &mut String, values: impl IntoIterator<Item = T>) {
    out.push('[');
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{value}");
    }
    out.push(']');
}

/// Differences from the previous value (the first from zero); the script adds them up.
fn deltas(values: impl IntoIterator<Item = u64>) -> Vec<i64> {
    let mut previous = 0i64;
    values
        .into_iter()
        .map(|value| {
            let value = value as i64;
            let delta = value - previous;
            previous = value;
            delta
        })
        .collect()
}

/// Fate codes of the embedded messages.
fn fate_code(fate: MessageFate) -> u8 {
    match fate {
        MessageFate::Delivered(_) => 0,
        MessageFate::Dropped(_, DropReason::Link) => 1,
        MessageFate::Dropped(_, DropReason::Partition) => 2,
        MessageFate::Dropped(_, DropReason::CrashedTarget) => 3,
        MessageFate::InFlight => 4,
        MessageFate::Dropped(_, DropReason::Overload) => 5,
    }
}

/// The embedded run as JSON (see the module doc for the encoding; `explorer.js` reads
/// it).
pub fn data_json(input: &ExplorerInput<'_>, selection: &Selection) -> String {
    let mut out = String::with_capacity(64 + selection.messages.len() * 24);
    write_data_json(&mut out, input, selection);
    out
}

/// Appends [`data_json`]'s text to `out`.
fn write_data_json(out: &mut String, input: &ExplorerInput<'_>, selection: &Selection) {
    let _ = write!(
        out,
        "{{\"version\":1,\"nodes\":{},\"span\":{},\"from\":{},\"to\":{},\"note\":",
        input.node_count.max(1),
        input.span.as_nanos(),
        selection.from.as_nanos(),
        selection.to.as_nanos()
    );
    json_string(out, &selection.note);

    // Messages.
    let mut kinds = Table::default();
    let mut labels = Table::default();
    let messages: Vec<&MessageRecord> = selection
        .messages
        .iter()
        .map(|&i| &input.messages[i])
        .collect();
    let kind_of: Vec<usize> = messages
        .iter()
        .map(|message| kinds.add(message_kind(input.messages.label(message))))
        .collect();
    let label_of: Vec<usize> = messages
        .iter()
        .map(|message| labels.add(input.messages.label(message)))
        .collect();
    out.push_str(",\"kinds\":");
    json_strings(out, &kinds.strings);
    out.push_str(",\"labels\":");
    json_strings(out, &labels.strings);
    out.push_str(",\"m\":{\"s\":");
    json_numbers(out, messages.iter().map(|message| message.source.0));
    out.push_str(",\"t\":");
    json_numbers(out, messages.iter().map(|message| message.target.0));
    out.push_str(",\"at\":");
    json_numbers(
        out,
        deltas(messages.iter().map(|message| message.sent_at.as_nanos())),
    );
    out.push_str(",\"d\":");
    json_numbers(
        out,
        messages.iter().map(|message| match message.fate {
            MessageFate::Delivered(end) | MessageFate::Dropped(end, _) => {
                end.saturating_since(message.sent_at).as_nanos() as i64
            }
            MessageFate::InFlight => -1,
        }),
    );
    out.push_str(",\"f\":");
    json_numbers(out, messages.iter().map(|message| fate_code(message.fate)));
    out.push_str(",\"k\":");
    json_numbers(out, kind_of);
    out.push_str(",\"l\":");
    json_numbers(out, label_of);
    out.push_str(",\"dup\":");
    json_numbers(
        out,
        messages
            .iter()
            .enumerate()
            .filter(|(_, message)| message.duplicate)
            .map(|(position, _)| position),
    );
    out.push('}');

    // Operations: the first seven `ops.csv` columns as arrays, any further columns (the
    // operation's values, when the history has them) as rows of strings.
    let ops: Vec<&OpRow> = selection.ops.iter().map(|&i| &input.ops[i]).collect();
    let mut op_kinds = Table::default();
    let mut outcomes = Table::default();
    let op_kind_of: Vec<usize> = ops.iter().map(|op| op_kinds.add(op.kind)).collect();
    let outcome_of: Vec<usize> = ops
        .iter()
        .map(|op| outcomes.add(op.outcome_word()))
        .collect();
    out.push_str(",\"opKinds\":");
    json_strings(out, &op_kinds.strings);
    out.push_str(",\"outcomes\":");
    json_strings(out, &outcomes.strings);
    out.push_str(",\"o\":{\"id\":");
    json_numbers(out, deltas(ops.iter().map(|op| op.op_id)));
    out.push_str(",\"c\":");
    json_numbers(out, ops.iter().map(|op| op.client.0));
    out.push_str(",\"n\":");
    json_numbers(out, ops.iter().map(|op| op.client_op));
    out.push_str(",\"at\":");
    json_numbers(out, deltas(ops.iter().map(|op| op.start.as_nanos())));
    out.push_str(",\"d\":");
    json_numbers(
        out,
        ops.iter()
            .map(|op| op.latency_ns().map_or(-1, |ns| ns as i64)),
    );
    out.push_str(",\"k\":");
    json_numbers(out, op_kind_of);
    out.push_str(",\"r\":");
    json_numbers(out, outcome_of);
    let extra_header: Vec<&str> = OPS_HEADER.iter().skip(7).copied().collect();
    out.push_str(",\"extraHeader\":");
    json_strings(out, &extra_header);
    out.push_str(",\"extra\":[");
    if !extra_header.is_empty() {
        for (i, op) in ops.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let fields = crate::ops::fields(op);
            let extra: Vec<&str> = fields.iter().skip(7).map(String::as_str).collect();
            json_strings(out, &extra);
        }
    }
    out.push_str("]}");

    // Faults: instants from the log, windows from the fault windows.
    out.push_str(",\"faults\":[");
    for (i, record) in input.fault_log.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"at\":{},\"word\":", record.time.as_nanos());
        json_string(out, record.fault.word());
        out.push_str(",\"nodes\":");
        json_numbers(out, record.fault.nodes().iter().map(|node| node.0));
        out.push_str(",\"details\":");
        json_string(out, &format!("{:?}", record.fault));
        out.push('}');
    }
    out.push_str("],\"windows\":[");
    for (i, window) in input.windows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"start\":{},\"end\":{},\"open\":{},\"kind\":",
            window.start.as_nanos(),
            window.end.as_nanos(),
            window.open_at_end
        );
        json_string(out, window.kind.word());
        out.push_str(",\"nodes\":");
        json_numbers(out, window.nodes.iter().map(|node| node.0));
        out.push_str(",\"label\":");
        json_string(out, &window.label);
        out.push_str(",\"details\":");
        json_string(out, &window.details);
        out.push('}');
    }

    // Violations, each with its window and what it involves.
    out.push_str("],\"violations\":[");
    let mut violations: Vec<&Violation> = input.violations.iter().collect();
    violations.sort_by_key(|violation| violation.time);
    for (i, violation) in violations.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let involved = involved(input, selection, violation);
        let _ = write!(
            out,
            "{{\"at\":{},\"from\":{},\"to\":{},\"check\":",
            violation.time.as_nanos(),
            involved.from.as_nanos(),
            involved.to.as_nanos()
        );
        json_string(out, violation.check);
        out.push_str(",\"nodes\":");
        json_numbers(out, violation.nodes.iter().map(|node| node.0));
        out.push_str(",\"details\":");
        json_string(out, &violation.details);
        out.push_str(",\"m\":");
        json_numbers(out, involved.messages);
        out.push_str(",\"o\":");
        json_numbers(out, involved.ops);
        out.push_str(",\"ids\":");
        json_numbers(out, violation.ops.iter().copied());
        out.push('}');
    }
    out.push_str("]}");
}

/// The explorer's HTML: a `<section id="explorer">` with its controls, canvases, the
/// embedded run and the script.
pub fn render(input: &ExplorerInput<'_>) -> String {
    let selection = select(input, EVENTS_EMBED_MAX);
    let has_violation = !input.violations.is_empty();
    // The data goes straight into the page's text, never into a string of its own:
    // for a long run it is megabytes, and two copies were the report's memory peak.
    let mut html = String::with_capacity(
        64 + (selection.messages.len() + selection.ops.len()) * 48 + SCRIPT.len() + 4096,
    );
    html.push_str("<section id=\"explorer\">\n");
    html.push_str(STYLE);
    html.push_str("<h2>Run explorer</h2>\n");
    let _ = writeln!(
        html,
        "<p id=\"ex-note\">{} Drag or use the wheel to pan and zoom; click a message or an \
         operation for its details.</p>",
        escape_html(&selection.note)
    );
    html.push_str(
        "<noscript><p>The run explorer needs JavaScript; the static space-time chart is \
         below.</p></noscript>\n<div class=\"ex-controls\">\
         <button id=\"ex-zoom-in\" type=\"button\">Zoom in</button>\
         <button id=\"ex-zoom-out\" type=\"button\">Zoom out</button>\
         <button id=\"ex-pan-left\" type=\"button\">◀ Earlier</button>\
         <button id=\"ex-pan-right\" type=\"button\">Later ▶</button>\
         <button id=\"ex-reset\" type=\"button\">Whole run</button>",
    );
    let _ = writeln!(
        html,
        "<button id=\"ex-violation\" type=\"button\"{}>{}</button></div>",
        if has_violation { "" } else { " disabled" },
        if has_violation {
            "Jump to violation"
        } else {
            "Jump to violation (none: all checks held)"
        }
    );
    html.push_str(
        "<div id=\"ex-filters\"><div id=\"ex-node-filter\"><b>Nodes</b> </div>\
         <div id=\"ex-kind-filter\"><b>Message kinds</b> </div></div>\n\
         <canvas id=\"ex-minimap\" width=\"1100\" height=\"56\"></canvas>\n\
         <canvas id=\"ex-canvas\" width=\"1100\" height=\"400\"></canvas>\n\
         <p id=\"ex-status\"></p>\n<pre id=\"ex-details\">Click a message or an operation \
         to see its fields.</pre>\n<script type=\"application/json\" id=\"explorer-data\">",
    );
    write_data_json(&mut html, input, &selection);
    html.push_str("</script>\n<script>\n");
    html.push_str(SCRIPT);
    html.push_str("</script>\n</section>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsim_core::{Fault, NodeId, Outcome, Value};

    /// A message: source, target, send and delivery times (ms), label.
    type Message = (u32, u32, u64, u64, &'static str);

    fn message(
        source: u32,
        target: u32,
        sent_ms: u64,
        end_ms: u64,
        label: &'static str,
    ) -> Message {
        (source, target, sent_ms, end_ms, label)
    }

    /// The log of `messages`, each delivered.
    fn log_of(messages: impl IntoIterator<Item = Message>) -> MessageLog {
        let mut log = MessageLog::new();
        for (source, target, sent_ms, end_ms, label) in messages {
            let record = log.push(
                NodeId(source),
                NodeId(target),
                SimTime(sent_ms * 1_000_000),
                label,
            );
            log.set_fate(record, MessageFate::Delivered(SimTime(end_ms * 1_000_000)));
        }
        log
    }

    fn op(op_id: u64, client: u32, start_ms: u64, end_ms: Option<u64>) -> OpRow {
        OpRow {
            op_id,
            client: NodeId(client),
            client_op: op_id,
            kind: "put",
            key: None,
            arg: Value::Nil,
            ret: Value::Nil,
            start: SimTime(start_ms * 1_000_000),
            end: end_ms.map(|ms| SimTime(ms * 1_000_000)),
            outcome: end_ms.map(|_| Outcome::Ok),
            // Charts read times, not the events' order.
            invoke_seq: 0,
            complete_seq: 0,
        }
    }

    fn input<'a>(
        messages: &'a MessageLog,
        ops: &'a [OpRow],
        faults: &'a [FaultRecord],
        violations: &'a [Violation],
    ) -> ExplorerInput<'a> {
        ExplorerInput {
            node_count: 4,
            span: SimTime(10_000_000_000),
            messages,
            messages_sent: messages.len() as u64,
            ops,
            fault_log: faults,
            windows: &[],
            violations,
        }
    }

    #[test]
    fn a_small_run_is_embedded_whole() {
        let messages = log_of([message(0, 1, 1, 2, "Ping { n: 1 }")]);
        let ops = [op(0, 3, 0, Some(5))];
        let selection = select(&input(&messages, &ops, &[], &[]), 10);
        // Cutting a small run would hide events the reader can see in ops.csv.
        assert_eq!(selection.messages, vec![0]);
        assert_eq!(selection.ops, vec![0]);
        assert_eq!(
            selection.note,
            "The whole run: 1 message, 1 client operation, 0 faults."
        );
    }

    #[test]
    fn a_large_run_keeps_a_window_around_its_first_violation() {
        let messages = log_of((0..1_000).map(|i| message(0, 1, i, i + 1, "Ping")));
        let violation = Violation {
            time: SimTime(700_000_000),
            check: "agreement",
            nodes: vec![NodeId(0)],
            details: String::new(),
            ops: Vec::new(),
            figure: None,
        };
        let faults = [FaultRecord {
            time: SimTime(100_000_000),
            fault: Fault::Crash(NodeId(2)),
        }];
        let violations = [violation];
        let selection = select(&input(&messages, &[], &faults, &violations), 100);
        // The window is centred on the violation (700 ms), not the fault or the start:
        // 50 messages before it and 50 from it on.
        assert_eq!(selection.messages.first(), Some(&650));
        assert_eq!(selection.messages.last(), Some(&749));
        assert!(
            selection
                .note
                .contains("the first violation (agreement at 700ms)"),
            "{}",
            selection.note
        );
        assert!(
            selection
                .note
                .contains("900 messages and 0 operations outside")
        );
    }

    #[test]
    fn without_a_violation_the_window_is_around_the_first_fault() {
        let messages = log_of((0..1_000).map(|i| message(0, 1, i, i + 1, "Ping")));
        let faults = [FaultRecord {
            time: SimTime(20_000_000),
            fault: Fault::Crash(NodeId(2)),
        }];
        let selection = select(&input(&messages, &[], &faults, &[]), 100);
        // 20 ms is near the start: the window cannot reach before message 0.
        assert_eq!(selection.messages.first(), Some(&0));
        assert_eq!(selection.messages.len(), 100);
        assert!(selection.note.contains("the first fault (crash at 20ms)"));
    }

    #[test]
    fn violation_involves_its_nodes_messages_and_open_operations_only() {
        let messages = log_of([
            message(0, 1, 10, 12, "Accept"),
            message(2, 3, 10, 12, "Accept"),
            message(1, 0, 30, 31, "Late"),
        ]);
        let ops = [
            op(0, 3, 5, Some(15)),
            op(1, 1, 5, Some(15)),
            op(2, 1, 25, None),
        ];
        let violation = Violation {
            time: SimTime(20_000_000),
            check: "agreement",
            nodes: vec![NodeId(0), NodeId(1)],
            details: String::new(),
            ops: Vec::new(),
            figure: None,
        };
        let violations = [violation.clone()];
        let input = input(&messages, &ops, &[], &violations);
        let selection = select(&input, 100);
        let involved = involved(&input, &selection, &violation);
        // Message 1 joins nodes the violation does not name; message 2 was sent after
        // it. Op 0 is another client's; op 2 started after the violation.
        assert_eq!(involved.messages, vec![0]);
        assert_eq!(involved.ops, vec![1]);
        assert_eq!(involved.from, SimTime::ZERO);
        assert_eq!(involved.to, SimTime(25_000_000));
    }

    #[test]
    fn a_violation_naming_operations_highlights_those_and_their_clients_messages() {
        let messages = log_of([
            message(3, 0, 6, 7, "Query"),
            message(0, 3, 8, 9, "QueryAck"),
            message(4, 0, 8, 9, "Query"),
            message(3, 0, 40, 41, "Query"),
        ]);
        let ops = [
            op(0, 3, 5, Some(10)),
            op(1, 4, 7, Some(12)),
            op(2, 3, 38, Some(45)),
        ];
        let violation = Violation::new(SimTime(45_000_000), "linearizable", vec![NodeId(3)], "")
            .with_ops(vec![0, 2]);
        let violations = [violation.clone()];
        let input = input(&messages, &ops, &[], &violations);
        let selection = select(&input, 100);
        let involved = involved(&input, &selection, &violation);
        // Exactly the named ops, not op 1 (unnamed, though open near them); the
        // messages of client 3 while op 0 or op 2 was open, not client 4's.
        assert_eq!(involved.ops, vec![0, 2]);
        assert_eq!(involved.messages, vec![0, 1, 3]);
        // From op 0's start (5 ms) to the violation (45 ms), 5 ms of margin each side.
        assert_eq!(involved.from, SimTime(0));
        assert_eq!(involved.to, SimTime(50_000_000));
        let json = data_json(&input, &selection);
        assert!(json.contains("\"o\":[0,2],\"ids\":[0,2]"), "{json}");
    }

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let mut out = String::new();
        json_string(&mut out, "</script><b>\"x\"\n\u{2028}");
        // A raw "</script>" in a label would end the data block and run the rest as HTML.
        assert_eq!(
            out,
            "\"\\u003c/script\\u003e\\u003cb\\u003e\\\"x\\\"\\n\\u2028\""
        );
    }

    #[test]
    fn times_and_labels_are_encoded_compactly() {
        let messages = log_of([
            message(0, 1, 10, 12, "Accept { b: 1 }"),
            message(1, 0, 12, 15, "Accept { b: 1 }"),
        ]);
        let input = input(&messages, &[], &[], &[]);
        let json = data_json(&input, &select(&input, 100));
        // Send times as differences, the second label pointing at the first.
        assert!(
            json.contains("\"at\":[10000000,2000000],\"d\":[2000000,3000000]"),
            "{json}"
        );
        assert!(json.contains("\"kinds\":[\"Accept\"],\"labels\":[\"Accept { b: 1 }\"]"));
        assert!(json.contains("\"l\":[0,0]"));
    }
}
