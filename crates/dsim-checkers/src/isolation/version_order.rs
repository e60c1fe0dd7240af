//! Inference: from what transactions read to version orders, dependency edges and
//! the anomalies that need no cycle.
//!
//! **list-append.** Per key, the longest committed read is the version order: list
//! values only grow, so every committed read must be a prefix of it (a read that is
//! not is an `incompatible-order` anomaly). Position `p` of the order is the version
//! that element `p` completed; its writer is the transaction that appended it
//! (values are unique per key). Edges between graph transactions:
//! - ww: the writer of element `p` -> the writer of element `p + 1`;
//! - wr: the writer of the last element a read saw from others -> the reader;
//! - rw: a reader -> the writer of the next element after what it saw from others.
//!
//! An append of a committed transaction that no read contains came after every
//! element of the order (had it come earlier, the longest read would hold it), so,
//! on keys whose reads all agree: ww from the writer of the order's last element to
//! it, and rw from each read that saw the whole order (but for its own appends) to
//! it. Such an edge may skip versions nobody read; as for rw-register below, a cycle
//! through it stands for one through the skipped ww edges, of the same class. This
//! is Elle's inference too: without it, Elle's published `si-without-g-single`
//! history would show no cycle.
//!
//! **rw-register.** Values are unique per key, so a read names its writer (wr). The
//! version order is known only in part: a transaction that read version `x` of a key
//! and then wrote the key installed a later version (ww from `x`'s writer), and every
//! write follows the initial version `nil`. An rw edge goes from a reader of `x` to a
//! writer known to follow `x` (when the reader does not write the key itself). Such an
//! edge may skip intermediate versions; a cycle through it stands for a cycle through
//! the skipped ww edges with the same number of rw and wr edges, so its class is the
//! same.

use super::anomaly::{Anomaly, AnomalyKind};
use super::graph::{EdgeKind, Graph, Why};
use super::txn::{MopKind, Txns};
use super::{IsolationOptions, Workload};
use crate::history::OpType;
use dsim_core::Value;
use std::collections::BTreeMap;

/// Who wrote a value: a transaction and its micro-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Writer {
    pub txn: u32,
    pub mop: u32,
}

/// One key's recovered version order (list-append).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyOrder {
    /// The longest committed read.
    pub order: Vec<Value>,
    /// The writer of each element of `order` (`None`: nobody appended it).
    pub writers: Vec<Option<Writer>>,
    /// The read the order comes from (transaction, micro-op).
    pub source: Option<Writer>,
}

/// Everything inferred from a history: transactions, orders, graph, anomalies.
pub(crate) struct Analysis<'h> {
    pub txns: Txns<'h>,
    pub orders: Vec<KeyOrder>,
    /// Whether a transaction is a graph node: `ok`, or `info` and seen by a read.
    pub in_graph: Vec<bool>,
    pub graph: Graph,
    pub anomalies: Vec<Anomaly>,
}

fn list_of(value: &Value) -> &[Value] {
    value.as_list().unwrap_or(&[])
}

impl<'h> Analysis<'h> {
    /// `T12` for the transaction at index `t`.
    pub fn t(&self, t: u32) -> String {
        format!("T{}", self.txns.txns[t as usize].op)
    }

    fn key(&self, key: u32) -> &Value {
        &self.txns.keys[key as usize]
    }

    fn mop(&self, t: u32, m: u32) -> &super::txn::Mop<'h> {
        &self.txns.txns[t as usize].mops[m as usize]
    }

    fn push(&mut self, kind: AnomalyKind, txns: &[u32], explanation: String) {
        let ops = txns
            .iter()
            .map(|&t| self.txns.txns[t as usize].op)
            .collect();
        self.anomalies.push(Anomaly {
            kind,
            ops,
            cycle: Vec::new(),
            explanation,
        });
    }

    /// Words for one edge of a cycle.
    pub fn why(&self, from: u32, to: u32, why: Why) -> String {
        let (a, b) = (self.t(from), self.t(to));
        match why {
            Why::AppendWw { key, pos } => {
                let order = &self.orders[key as usize];
                let source = order.source.map_or_else(String::new, |s| {
                    format!(
                        " (version order of key {} from {}'s read {})",
                        self.key(key),
                        self.t(s.txn),
                        self.mop(s.txn, s.mop).value
                    )
                });
                format!(
                    "{a} appended {} to key {} and {b} appended {} right after it{source}",
                    order.order[pos as usize],
                    self.key(key),
                    order.order[pos as usize + 1]
                )
            }
            Why::AppendWr { mop, pos } => {
                let read = self.mop(to, mop);
                format!(
                    "{b} read {} of key {}, which {a} appended {} to",
                    read.value,
                    self.key(read.key),
                    list_of(read.value)[pos as usize]
                )
            }
            Why::AppendRw { mop, pos } => {
                let read = self.mop(from, mop);
                let order = &self.orders[read.key as usize];
                format!(
                    "{a} read {} of key {}, which lacks {}, the next element, appended by {b}",
                    read.value,
                    self.key(read.key),
                    order.order[pos as usize]
                )
            }
            Why::AppendRwUnread { mop, write_mop } => {
                let read = self.mop(from, mop);
                format!(
                    "{a} read {} of key {}, its whole known order, and {b} appended {}, which no read contains, so later",
                    read.value,
                    self.key(read.key),
                    self.mop(to, write_mop).value
                )
            }
            Why::AppendWwUnread { key, write_mop } => {
                let order = &self.orders[key as usize];
                format!(
                    "{a} appended {} to key {}, the last element any read saw, and {b} appended {}, which no read contains, so later",
                    order.order.last().map_or(Value::Nil, Clone::clone),
                    self.key(key),
                    self.mop(to, write_mop).value
                )
            }
            Why::RegisterWr { mop } => {
                let read = self.mop(to, mop);
                format!(
                    "{b} read {} of key {}, which {a} wrote",
                    read.value,
                    self.key(read.key)
                )
            }
            Why::RegisterWw { mop } => {
                let read = self.mop(to, mop);
                format!(
                    "{b} read {} of key {} (written by {a}) and then wrote the key",
                    read.value,
                    self.key(read.key)
                )
            }
            Why::RegisterRw { mop, write_mop } => {
                let read = self.mop(from, mop);
                let write = self.mop(to, write_mop);
                let after = if read.value.is_nil() {
                    "every write follows the initial version".to_string()
                } else {
                    format!("{b} read {} itself before writing", read.value)
                };
                format!(
                    "{a} read {} of key {}, and {b} wrote {} over that version ({after})",
                    read.value,
                    self.key(read.key),
                    write.value
                )
            }
            Why::Process => format!(
                "{a} and then {b} ran on process {}",
                self.txns.txns[from as usize].process
            ),
            Why::Realtime => format!("{a} completed before {b} was invoked"),
        }
    }
}

/// Runs the inference for the options' workload and adds order edges.
pub(crate) fn analyze<'h>(txns: Txns<'h>, options: &IsolationOptions) -> Analysis<'h> {
    let n = txns.txns.len();
    let mut analysis = Analysis {
        orders: Vec::new(),
        in_graph: txns.txns.iter().map(|t| t.status == OpType::Ok).collect(),
        graph: Graph::new(n),
        anomalies: Vec::new(),
        txns,
    };
    match options.workload {
        Workload::ListAppend => list_append(&mut analysis),
        Workload::RwRegister => rw_register(&mut analysis),
    }
    if options.process {
        process_edges(&mut analysis);
    }
    if options.realtime {
        realtime_edges(&mut analysis);
    }
    analysis.graph.finish();
    analysis
}

/// Every append or write: per key, value -> first writer; duplicates reported.
fn writers_of(a: &mut Analysis<'_>, kind: MopKind) -> Vec<BTreeMap<Value, Writer>> {
    let mut writers: Vec<BTreeMap<Value, Writer>> = vec![BTreeMap::new(); a.txns.keys.len()];
    let mut duplicates = Vec::new();
    for (t, txn) in a.txns.txns.iter().enumerate() {
        for (m, mop) in txn.mops.iter().enumerate() {
            if mop.kind != kind {
                continue;
            }
            let here = Writer {
                txn: t as u32,
                mop: m as u32,
            };
            let first = *writers[mop.key as usize]
                .entry(mop.value.clone())
                .or_insert(here);
            if first != here {
                duplicates.push((first, here));
            }
        }
    }
    for (first, again) in duplicates {
        let mop = *a.mop(again.txn, again.mop);
        let verb = if kind == MopKind::Append {
            "appended"
        } else {
            "wrote"
        };
        let text = format!(
            "{} and {} both {verb} {} to key {}: values must be unique per key, so reads of it cannot be attributed",
            a.t(first.txn),
            a.t(again.txn),
            mop.value,
            a.key(mop.key)
        );
        a.push(AnomalyKind::DuplicateWrite, &[first.txn, again.txn], text);
    }
    writers
}

/// One key as a transaction has seen it so far: key, what its last read of the key
/// saw, what it appended since.
type KeyState<'a> = (u32, Option<&'a [Value]>, Vec<&'a Value>);

/// Reads that disagree with the transaction's own earlier reads and appends.
fn internal_list_append(a: &mut Analysis<'_>) {
    let mut found = Vec::new();
    for (t, txn) in a.txns.txns.iter().enumerate() {
        if txn.status != OpType::Ok {
            continue;
        }
        let mut state: Vec<KeyState<'_>> = Vec::new();
        for mop in &txn.mops {
            let at = match state.iter().position(|s| s.0 == mop.key) {
                Some(at) => at,
                None => {
                    state.push((mop.key, None, Vec::new()));
                    state.len() - 1
                }
            };
            let (_, known, appended) = &mut state[at];
            match mop.kind {
                MopKind::Append => appended.push(mop.value),
                MopKind::Read => {
                    let read = list_of(mop.value);
                    let ok = match known {
                        Some(prev) => {
                            read.len() == prev.len() + appended.len()
                                && read.starts_with(prev)
                                && read[prev.len()..].iter().eq(appended.iter().copied())
                        }
                        None => {
                            read.len() >= appended.len()
                                && read[read.len() - appended.len()..]
                                    .iter()
                                    .eq(appended.iter().copied())
                        }
                    };
                    if !ok {
                        let own: Vec<Value> = appended.iter().map(|v| (*v).clone()).collect();
                        let expected = match known {
                            Some(prev) => format!(
                                "its earlier read saw {} and it appended {} since",
                                Value::List(prev.to_vec()),
                                Value::List(own)
                            ),
                            None => format!(
                                "it had appended {} to it earlier, so the read must end with those",
                                Value::List(own)
                            ),
                        };
                        found.push((t as u32, mop.key, mop.value.clone(), expected));
                    }
                    *known = Some(read);
                    appended.clear();
                }
                MopKind::Write => {}
            }
        }
    }
    for (t, key, read, expected) in found {
        let text = format!(
            "{} read {read} of key {}, but {expected}",
            a.t(t),
            a.key(key)
        );
        a.push(AnomalyKind::Internal, &[t], text);
    }
}

/// Whether transaction `t` appends or writes `key` in a micro-op after `after`.
fn writes_later(a: &Analysis<'_>, t: u32, key: u32, after: u32) -> bool {
    a.txns.txns[t as usize].mops[after as usize + 1..]
        .iter()
        .any(|m| m.key == key && m.kind != MopKind::Read)
}

fn list_append(a: &mut Analysis<'_>) {
    let writers = writers_of(a, MopKind::Append);
    internal_list_append(a);
    let keys = a.txns.keys.len();
    // Committed reads per key, in transaction order.
    let mut reads: Vec<Vec<Writer>> = vec![Vec::new(); keys];
    for (t, txn) in a.txns.txns.iter().enumerate() {
        if txn.status != OpType::Ok {
            continue;
        }
        for (m, mop) in txn.mops.iter().enumerate() {
            if mop.kind == MopKind::Read {
                reads[mop.key as usize].push(Writer {
                    txn: t as u32,
                    mop: m as u32,
                });
            }
        }
    }
    let mut orders = Vec::with_capacity(keys);
    for key in 0..keys {
        // The longest read (the first of the longest, in transaction order).
        let mut source = None;
        let mut longest: &[Value] = &[];
        for &r in &reads[key] {
            let read = list_of(a.mop(r.txn, r.mop).value);
            if source.is_none() || read.len() > longest.len() {
                source = Some(r);
                longest = read;
            }
        }
        let writers_here: Vec<Option<Writer>> = longest
            .iter()
            .map(|v| writers[key].get(v).copied())
            .collect();
        orders.push(KeyOrder {
            order: longest.to_vec(),
            writers: writers_here,
            source,
        });
    }
    a.orders = orders;

    // Per key: read compatibility, then per-position facts of the order.
    let mut incompatible: Vec<Vec<Writer>> = vec![Vec::new(); keys];
    for key in 0..keys {
        let order = &a.orders[key].order;
        for &r in &reads[key] {
            if !order.starts_with(list_of(a.mop(r.txn, r.mop).value)) {
                incompatible[key].push(r);
            }
        }
    }
    for (key, bad) in incompatible.iter().enumerate() {
        if let (Some(&first), Some(source)) = (bad.first(), a.orders[key].source) {
            let text = format!(
                "{} read {} of key {} and {} read {}: neither is a prefix of the other, so no single order of appends explains both{}",
                a.t(source.txn),
                a.mop(source.txn, source.mop).value,
                a.key(key as u32),
                a.t(first.txn),
                a.mop(first.txn, first.mop).value,
                if bad.len() > 1 {
                    format!(
                        " ({} reads of this key disagree with the longest)",
                        bad.len()
                    )
                } else {
                    String::new()
                }
            );
            a.push(
                AnomalyKind::IncompatibleOrder,
                &[source.txn, first.txn],
                text,
            );
        }
    }

    // Element checks: every element of the order, and of each incompatible read.
    // For a compatible read the facts about its elements are those of the order's
    // first positions, so each is checked once and blamed on the first read that
    // contains it.
    let mut seen_bad: Vec<(u32, Value)> = Vec::new();
    for key in 0..keys {
        let order = &a.orders[key];
        let mut checks: Vec<(Writer, Vec<Value>)> = Vec::new();
        if let Some(source) = order.source {
            checks.push((source, order.order.clone()));
        }
        for &r in &incompatible[key] {
            checks.push((r, list_of(a.mop(r.txn, r.mop).value).to_vec()));
        }
        for (reader, list) in checks {
            // Duplicates within the read.
            let mut sorted: Vec<&Value> = list.iter().collect();
            sorted.sort();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                let text = format!(
                    "{} read {} of key {}, which holds {} twice",
                    a.t(reader.txn),
                    Value::List(list.clone()),
                    a.key(key as u32),
                    w[0]
                );
                a.push(AnomalyKind::DuplicateElements, &[reader.txn], text);
            }
            for (i, v) in list.iter().enumerate() {
                let first_reader = |a: &Analysis<'_>| -> Writer {
                    // The first compatible read containing position i, else this one.
                    reads[key]
                        .iter()
                        .copied()
                        .find(|r| {
                            let l = list_of(a.mop(r.txn, r.mop).value);
                            l.len() > i && l[i] == *v
                        })
                        .unwrap_or(reader)
                };
                match writers[key].get(v) {
                    None => {
                        if !seen_bad.contains(&(key as u32, v.clone())) {
                            seen_bad.push((key as u32, v.clone()));
                            let r = first_reader(a);
                            let text = format!(
                                "{} read {} of key {}, but nobody appended {v} to it",
                                a.t(r.txn),
                                a.mop(r.txn, r.mop).value,
                                a.key(key as u32)
                            );
                            a.push(AnomalyKind::GarbageRead, &[r.txn], text);
                        }
                    }
                    Some(w) => {
                        let w = *w;
                        let status = a.txns.txns[w.txn as usize].status;
                        if status == OpType::Info {
                            a.in_graph[w.txn as usize] = true;
                        }
                        if status == OpType::Fail && !seen_bad.contains(&(key as u32, v.clone())) {
                            seen_bad.push((key as u32, v.clone()));
                            let r = first_reader(a);
                            let text = format!(
                                "{} read {} of key {}, which contains {v}, appended by {}, which failed (aborted)",
                                a.t(r.txn),
                                a.mop(r.txn, r.mop).value,
                                a.key(key as u32),
                                a.t(w.txn)
                            );
                            a.push(AnomalyKind::G1a, &[r.txn, w.txn], text);
                        }
                    }
                }
            }
        }
    }
    let observed_values: Vec<std::collections::BTreeSet<Value>> = (0..keys)
        .map(|key| {
            let mut set: std::collections::BTreeSet<Value> =
                a.orders[key].order.iter().cloned().collect();
            for &r in &incompatible[key] {
                set.extend(list_of(a.mop(r.txn, r.mop).value).iter().cloned());
            }
            set
        })
        .collect();

    // Edges and intermediate reads, read by read.
    let mut g1b = Vec::new();
    let mut edges: Vec<(u32, u32, EdgeKind, Why)> = Vec::new();
    for key in 0..keys {
        for &r in &reads[key] {
            let read = list_of(a.mop(r.txn, r.mop).value);
            let compatible = !incompatible[key].contains(&r);
            let writer_at = |i: usize| -> Option<Writer> {
                if compatible {
                    a.orders[key].writers[i]
                } else {
                    writers[key].get(&read[i]).copied()
                }
            };
            // The last element this read saw from other transactions.
            let mut last = read.len();
            while last > 0 && writer_at(last - 1).is_some_and(|w| w.txn == r.txn) {
                last -= 1;
            }
            if last > 0
                && let Some(w) = writer_at(last - 1)
            {
                if a.in_graph[w.txn as usize] {
                    edges.push((
                        w.txn,
                        r.txn,
                        EdgeKind::Wr,
                        Why::AppendWr {
                            mop: r.mop,
                            pos: (last - 1) as u32,
                        },
                    ));
                }
                if a.txns.txns[w.txn as usize].status != OpType::Fail
                    && writes_later(a, w.txn, key as u32, w.mop)
                {
                    g1b.push((r, w, read[last - 1].clone()));
                }
            }
            if !compatible {
                continue;
            }
            let order = &a.orders[key];
            let mut next = last;
            while next < order.order.len() && order.writers[next].is_some_and(|w| w.txn == r.txn) {
                next += 1;
            }
            if let Some(Some(w)) = order.writers.get(next)
                && a.in_graph[w.txn as usize]
            {
                edges.push((
                    r.txn,
                    w.txn,
                    EdgeKind::Rw,
                    Why::AppendRw {
                        mop: r.mop,
                        pos: next as u32,
                    },
                ));
            }
        }
        // Committed appends no read contains: after the whole order.
        if incompatible[key].is_empty() {
            let order = &a.orders[key];
            let unread: Vec<Writer> = writers[key]
                .iter()
                .filter(|(value, w)| {
                    a.in_graph[w.txn as usize] && !observed_values[key].contains(*value)
                })
                .map(|(_, w)| *w)
                .collect();
            let mut unread = unread;
            unread.sort();
            if let Some(Some(last)) = order.writers.last()
                && a.in_graph[last.txn as usize]
            {
                for w in &unread {
                    if w.txn != last.txn {
                        edges.push((
                            last.txn,
                            w.txn,
                            EdgeKind::Ww,
                            Why::AppendWwUnread {
                                key: key as u32,
                                write_mop: w.mop,
                            },
                        ));
                    }
                }
            }
            for &r in &reads[key] {
                let read = list_of(a.mop(r.txn, r.mop).value);
                // The read saw the whole order, but for appends of its own at the end.
                let mut seen = read.len();
                while seen < order.order.len()
                    && order.writers[seen].is_some_and(|w| w.txn == r.txn)
                {
                    seen += 1;
                }
                if seen < order.order.len() {
                    continue;
                }
                for w in &unread {
                    if w.txn != r.txn {
                        edges.push((
                            r.txn,
                            w.txn,
                            EdgeKind::Rw,
                            Why::AppendRwUnread {
                                mop: r.mop,
                                write_mop: w.mop,
                            },
                        ));
                    }
                }
            }
        }
        // ww between consecutive elements of the order.
        let order = &a.orders[key];
        for (p, pair) in order.writers.windows(2).enumerate() {
            if let [Some(w1), Some(w2)] = pair
                && a.in_graph[w1.txn as usize]
                && a.in_graph[w2.txn as usize]
            {
                edges.push((
                    w1.txn,
                    w2.txn,
                    EdgeKind::Ww,
                    Why::AppendWw {
                        key: key as u32,
                        pos: p as u32,
                    },
                ));
            }
        }
    }
    for (from, to, kind, why) in edges {
        a.graph.add(from, to, kind, why);
    }
    for (r, w, value) in g1b {
        let mop = *a.mop(r.txn, r.mop);
        let text = format!(
            "{} read {} of key {}, ending with {}'s append of {value}, but {} appended to key {} again afterwards: the read saw an intermediate state",
            a.t(r.txn),
            mop.value,
            a.key(mop.key),
            a.t(w.txn),
            a.t(w.txn),
            a.key(mop.key)
        );
        a.push(AnomalyKind::G1b, &[r.txn, w.txn], text);
    }

    // Lost appends: acknowledged, in no read, though a read of the key began after.
    let mut lost = Vec::new();
    for key in 0..keys {
        let latest = reads[key].iter().copied().max_by_key(|r| {
            (
                a.txns.txns[r.txn as usize].invoke_index,
                std::cmp::Reverse(r.txn),
            )
        });
        let Some(latest) = latest else { continue };
        let latest_invoke = a.txns.txns[latest.txn as usize].invoke_index;
        for (value, w) in &writers[key] {
            let txn = &a.txns.txns[w.txn as usize];
            if let Some(done) = txn.ok_index
                && done < latest_invoke
                && !observed_values[key].contains(value)
            {
                lost.push((*w, latest, value.clone()));
            }
        }
    }
    lost.sort_by_key(|(w, _, _)| (w.txn, w.mop));
    for (w, r, value) in lost {
        let mop = *a.mop(r.txn, r.mop);
        let text = format!(
            "{} appended {value} to key {} and completed; {} was invoked after that and read {}, and no read of the key contains {value}",
            a.t(w.txn),
            a.key(mop.key),
            a.t(r.txn),
            mop.value
        );
        a.push(AnomalyKind::LostAppend, &[w.txn, r.txn], text);
    }
}

fn rw_register(a: &mut Analysis<'_>) {
    let writers = writers_of(a, MopKind::Write);
    let keys = a.txns.keys.len();
    // External reads: (reader, mop) whose key the reader had not written before.
    struct ExternalRead {
        r: Writer,
        key: u32,
        /// The reader writes this key later in the transaction: its first such write.
        then_writes: Option<u32>,
        writes_key: bool,
    }
    let mut external = Vec::new();
    let mut internal = Vec::new();
    for (t, txn) in a.txns.txns.iter().enumerate() {
        if txn.status != OpType::Ok {
            continue;
        }
        // key -> last value written or read by this transaction
        let mut known: Vec<(u32, &Value, bool)> = Vec::new();
        for (m, mop) in txn.mops.iter().enumerate() {
            let at = known.iter().position(|k| k.0 == mop.key);
            match mop.kind {
                MopKind::Write => match at {
                    Some(at) => known[at] = (mop.key, mop.value, true),
                    None => known.push((mop.key, mop.value, true)),
                },
                _ => {
                    if let Some(at) = at {
                        let (_, expected, wrote) = known[at];
                        if expected != mop.value {
                            internal.push((t as u32, m as u32, expected.clone(), wrote));
                        }
                        if wrote {
                            continue;
                        }
                        known[at].1 = mop.value;
                    } else {
                        known.push((mop.key, mop.value, false));
                        let then_writes = txn.mops[m + 1..]
                            .iter()
                            .position(|w| w.key == mop.key && w.kind == MopKind::Write)
                            .map(|i| (m + 1 + i) as u32);
                        let writes_key = txn
                            .mops
                            .iter()
                            .any(|w| w.key == mop.key && w.kind == MopKind::Write);
                        external.push(ExternalRead {
                            r: Writer {
                                txn: t as u32,
                                mop: m as u32,
                            },
                            key: mop.key,
                            then_writes,
                            writes_key,
                        });
                    }
                }
            }
        }
    }
    for (t, m, expected, wrote) in internal {
        let mop = *a.mop(t, m);
        let text = format!(
            "{} read {} of key {}, but it had {} {expected} there earlier in the same transaction",
            a.t(t),
            mop.value,
            a.key(mop.key),
            if wrote { "written" } else { "read" }
        );
        a.push(AnomalyKind::Internal, &[t], text);
    }
    // Values read per reader: writer, anomalies, observed info writers.
    let mut version_writer: Vec<Option<Writer>> = Vec::with_capacity(external.len());
    for e in &external {
        let value = a.mop(e.r.txn, e.r.mop).value.clone();
        if value.is_nil() {
            version_writer.push(None);
            continue;
        }
        match writers[e.key as usize].get(&value).copied() {
            None => {
                let text = format!(
                    "{} read {value} of key {}, but nobody wrote {value} to it",
                    a.t(e.r.txn),
                    a.key(e.key)
                );
                a.push(AnomalyKind::GarbageRead, &[e.r.txn], text);
                version_writer.push(None);
            }
            Some(w) => {
                let status = a.txns.txns[w.txn as usize].status;
                if w.txn == e.r.txn {
                    let text = format!(
                        "{} read {value} of key {} before writing that value itself later in the transaction",
                        a.t(e.r.txn),
                        a.key(e.key)
                    );
                    a.push(AnomalyKind::Internal, &[e.r.txn], text);
                } else if status == OpType::Fail {
                    let text = format!(
                        "{} read {value} of key {}, written by {}, which failed (aborted)",
                        a.t(e.r.txn),
                        a.key(e.key),
                        a.t(w.txn)
                    );
                    a.push(AnomalyKind::G1a, &[e.r.txn, w.txn], text);
                } else {
                    if status == OpType::Info {
                        a.in_graph[w.txn as usize] = true;
                    }
                    if writes_later(a, w.txn, e.key, w.mop) {
                        let text = format!(
                            "{} read {value} of key {}, which {} wrote and then overwrote within itself: the read saw an intermediate state",
                            a.t(e.r.txn),
                            a.key(e.key),
                            a.t(w.txn)
                        );
                        a.push(AnomalyKind::G1b, &[e.r.txn, w.txn], text);
                    }
                }
                version_writer.push(Some(w).filter(|w| w.txn != e.r.txn && status != OpType::Fail));
            }
        }
    }
    // Which writes are known to follow which version: key, version -> writers.
    // `None` is the initial version, which every write follows.
    let mut follows: BTreeMap<(u32, Option<Writer>), Vec<Writer>> = BTreeMap::new();
    let mut writers_of_key: Vec<Vec<Writer>> = vec![Vec::new(); keys];
    for (t, txn) in a.txns.txns.iter().enumerate() {
        if !a.in_graph[t] {
            continue;
        }
        let mut done: Vec<u32> = Vec::new();
        for (m, mop) in txn.mops.iter().enumerate() {
            if mop.kind == MopKind::Write && !done.contains(&mop.key) {
                done.push(mop.key);
                writers_of_key[mop.key as usize].push(Writer {
                    txn: t as u32,
                    mop: m as u32,
                });
            }
        }
    }
    for (e, w) in external.iter().zip(&version_writer) {
        let value_is_nil = a.mop(e.r.txn, e.r.mop).value.is_nil();
        if let Some(wm) = e.then_writes
            && (value_is_nil || w.is_some())
        {
            follows.entry((e.key, *w)).or_default().push(Writer {
                txn: e.r.txn,
                mop: wm,
            });
        }
    }
    for (e, w) in external.iter().zip(&version_writer) {
        let value_is_nil = a.mop(e.r.txn, e.r.mop).value.is_nil();
        if let Some(w) = w {
            if a.in_graph[w.txn as usize] {
                a.graph.add(
                    w.txn,
                    e.r.txn,
                    EdgeKind::Wr,
                    Why::RegisterWr { mop: e.r.mop },
                );
                if e.then_writes.is_some() {
                    a.graph.add(
                        w.txn,
                        e.r.txn,
                        EdgeKind::Ww,
                        Why::RegisterWw { mop: e.r.mop },
                    );
                }
            }
        } else if !value_is_nil {
            continue;
        }
        if e.writes_key {
            continue;
        }
        let later: &[Writer] = if value_is_nil {
            &writers_of_key[e.key as usize]
        } else {
            follows.get(&(e.key, *w)).map_or(&[], Vec::as_slice)
        };
        for later in later.iter().copied() {
            a.graph.add(
                e.r.txn,
                later.txn,
                EdgeKind::Rw,
                Why::RegisterRw {
                    mop: e.r.mop,
                    write_mop: later.mop,
                },
            );
        }
    }
}

/// Per-process order: each transaction after the process's previous `ok` one.
fn process_edges(a: &mut Analysis<'_>) {
    let mut last_ok: BTreeMap<u64, u32> = BTreeMap::new();
    for (t, txn) in a.txns.txns.iter().enumerate() {
        if !a.in_graph[t] {
            continue;
        }
        if let Some(&prev) = last_ok.get(&txn.process) {
            a.graph.add(prev, t as u32, EdgeKind::Process, Why::Process);
        }
        if txn.status == OpType::Ok {
            last_ok.insert(txn.process, t as u32);
        }
    }
}

/// Real-time order, transitively reduced as Elle does: an invocation gets an edge
/// from every `ok` transaction on the frontier (completed, and not yet followed by a
/// completed transaction invoked after it); a completion replaces on the frontier the
/// transactions that preceded it.
fn realtime_edges(a: &mut Analysis<'_>) {
    // (event index, is completion, txn)
    let mut events: Vec<(usize, bool, u32)> = Vec::new();
    for (t, txn) in a.txns.txns.iter().enumerate() {
        if !a.in_graph[t] {
            continue;
        }
        events.push((txn.invoke_index, false, t as u32));
        if let Some(done) = txn.ok_index {
            events.push((done, true, t as u32));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<u32> = Vec::new();
    let mut preceded: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (_, done, t) in events {
        if done {
            let before = preceded.remove(&t).unwrap_or_default();
            frontier.retain(|f| !before.contains(f));
            frontier.push(t);
        } else {
            for &f in &frontier {
                a.graph.add(f, t, EdgeKind::Realtime, Why::Realtime);
            }
            if a.txns.txns[t as usize].ok_index.is_some() {
                preceded.insert(t, frontier.clone());
            }
        }
    }
}
