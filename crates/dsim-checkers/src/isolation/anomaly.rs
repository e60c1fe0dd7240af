//! Anomalies: their names, the consistency models each rules out, and pictures of
//! cycles (DOT and SVG).

use super::graph::EdgeKind;
use std::fmt::Write as _;

/// The consistency models a history can be judged against, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsistencyModel {
    /// Adya's PL-1: proscribes G0 (write cycles).
    ReadUncommitted,
    /// Adya's PL-2: proscribes G0 and G1 (G1a, G1b, G1c).
    ReadCommitted,
    /// Adya's PL-2.99: proscribes G1 and G2-item (item anti-dependency cycles,
    /// G-single among them).
    RepeatableRead,
    /// Adya's PL-SI: proscribes G1 and G-single (and needs a start-ordered view).
    SnapshotIsolation,
    /// Adya's PL-3 (conflict serializability): proscribes every dependency cycle.
    Serializable,
    /// PL-SS: serializable in an order consistent with real time.
    StrictSerializable,
}

impl ConsistencyModel {
    /// Every model, weakest first.
    pub const ALL: [ConsistencyModel; 6] = [
        ConsistencyModel::ReadUncommitted,
        ConsistencyModel::ReadCommitted,
        ConsistencyModel::RepeatableRead,
        ConsistencyModel::SnapshotIsolation,
        ConsistencyModel::Serializable,
        ConsistencyModel::StrictSerializable,
    ];

    /// Elle's name for the model (`read-committed`, `strict-serializable`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ConsistencyModel::ReadUncommitted => "read-uncommitted",
            ConsistencyModel::ReadCommitted => "read-committed",
            ConsistencyModel::RepeatableRead => "repeatable-read",
            ConsistencyModel::SnapshotIsolation => "snapshot-isolation",
            ConsistencyModel::Serializable => "serializable",
            ConsistencyModel::StrictSerializable => "strict-serializable",
        }
    }
}

/// Adya's cycle classes, by the edges a cycle uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CycleClass {
    /// Write cycle: ww edges only.
    G0,
    /// Circular information flow: ww and wr edges, at least one wr.
    G1c,
    /// Exactly one rw (anti-dependency) edge.
    GSingle,
    /// Two or more rw edges.
    G2Item,
}

impl CycleClass {
    /// `G0`, `G1c`, `G-single`, `G2-item`.
    pub fn name(self) -> &'static str {
        match self {
            CycleClass::G0 => "G0",
            CycleClass::G1c => "G1c",
            CycleClass::GSingle => "G-single",
            CycleClass::G2Item => "G2-item",
        }
    }
}

/// Which order edges a cycle needs besides data dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// Data dependencies only (ww, wr, rw).
    Data,
    /// At least one per-process order edge (and no real-time edge).
    Process,
    /// At least one real-time edge.
    Realtime,
}

/// What kind of anomaly was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// A dependency cycle of a class, with or without order edges.
    Cycle {
        /// Adya's class.
        class: CycleClass,
        /// Data only, or with process / real-time edges.
        via: Via,
    },
    /// A strongly connected component whose cycle search ran out of budget: a cycle
    /// exists, of class at most `at_most` (judged from the edge kinds present).
    UnclassifiedCycle {
        /// The worst class the component's edge kinds allow.
        at_most: CycleClass,
        /// Whether the component needs order edges.
        via: Via,
    },
    /// G1a, aborted read: a committed read saw a value written by a failed transaction.
    G1a,
    /// G1b, intermediate read: a read saw a version another transaction later
    /// overwrote within itself.
    G1b,
    /// Two committed reads of a key that no single version order explains (neither is
    /// a prefix of the other).
    IncompatibleOrder,
    /// A read returned the same element twice.
    DuplicateElements,
    /// A read returned a value nobody wrote.
    GarbageRead,
    /// Two writes (or appends) of the same value to a key: the workload promised
    /// unique values, so reads of it cannot be attributed.
    DuplicateWrite,
    /// A transaction's read disagrees with its own earlier reads and writes.
    Internal,
    /// An acknowledged append that no read contains, although a read of the key
    /// began after the append completed.
    LostAppend,
}

impl AnomalyKind {
    /// Elle's name: `G0`, `G1c-realtime`, `G-single-process`, `G1a`,
    /// `incompatible-order`, `lost-append`, ...
    pub fn name(&self) -> String {
        let suffix = |via: Via| match via {
            Via::Data => "",
            Via::Process => "-process",
            Via::Realtime => "-realtime",
        };
        match *self {
            AnomalyKind::Cycle { class, via } => format!("{}{}", class.name(), suffix(via)),
            AnomalyKind::UnclassifiedCycle { at_most, via } => {
                format!("cycle<={}{}", at_most.name(), suffix(via))
            }
            AnomalyKind::G1a => "G1a".into(),
            AnomalyKind::G1b => "G1b".into(),
            AnomalyKind::IncompatibleOrder => "incompatible-order".into(),
            AnomalyKind::DuplicateElements => "duplicate-elements".into(),
            AnomalyKind::GarbageRead => "garbage-read".into(),
            AnomalyKind::DuplicateWrite => "duplicate-write".into(),
            AnomalyKind::Internal => "internal".into(),
            AnomalyKind::LostAppend => "lost-append".into(),
        }
    }

    /// The consistency models this anomaly rules out (see the mapping in the module
    /// essay).
    pub fn rules_out(&self) -> &'static [ConsistencyModel] {
        use ConsistencyModel::*;
        const ALL: &[ConsistencyModel] = &ConsistencyModel::ALL;
        const FROM_RC: &[ConsistencyModel] = &[
            ReadCommitted,
            RepeatableRead,
            SnapshotIsolation,
            Serializable,
            StrictSerializable,
        ];
        const G_SINGLE: &[ConsistencyModel] = &[
            RepeatableRead,
            SnapshotIsolation,
            Serializable,
            StrictSerializable,
        ];
        const G2: &[ConsistencyModel] = &[RepeatableRead, Serializable, StrictSerializable];
        const SER: &[ConsistencyModel] = &[Serializable, StrictSerializable];
        const STRICT: &[ConsistencyModel] = &[StrictSerializable];
        match *self {
            AnomalyKind::Cycle {
                via: Via::Data,
                class,
            } => match class {
                CycleClass::G0 => ALL,
                CycleClass::G1c => FROM_RC,
                CycleClass::GSingle => G_SINGLE,
                CycleClass::G2Item => G2,
            },
            AnomalyKind::UnclassifiedCycle {
                via: Via::Data,
                at_most,
            } => match at_most {
                CycleClass::G0 => ALL,
                CycleClass::G1c => FROM_RC,
                CycleClass::GSingle | CycleClass::G2Item => SER,
            },
            AnomalyKind::Cycle { .. } | AnomalyKind::UnclassifiedCycle { .. } => STRICT,
            AnomalyKind::G1a
            | AnomalyKind::G1b
            | AnomalyKind::IncompatibleOrder
            | AnomalyKind::Internal => FROM_RC,
            AnomalyKind::DuplicateElements | AnomalyKind::GarbageRead => ALL,
            AnomalyKind::DuplicateWrite => &[],
            AnomalyKind::LostAppend => STRICT,
        }
    }
}

/// One edge of a cycle, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleStep {
    /// The source transaction (its operation index in the history).
    pub from: usize,
    /// The target transaction (its operation index).
    pub to: usize,
    /// The kind of dependency.
    pub kind: EdgeKind,
    /// Why the edge exists, in words a person can check against the history.
    pub why: String,
}

/// One anomaly: what, which operations, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// What kind of anomaly.
    pub kind: AnomalyKind,
    /// The operations involved (indices into the history's operations), in the order
    /// the explanation names them.
    pub ops: Vec<usize>,
    /// For cycles: the edges, each from the previous one's target, back to the start.
    pub cycle: Vec<CycleStep>,
    /// The explanation, one or more lines.
    pub explanation: String,
}

impl Anomaly {
    /// The cycle as a Graphviz DOT digraph (`None` when this is not a cycle).
    pub fn dot(&self) -> Option<String> {
        if self.cycle.is_empty() {
            return None;
        }
        let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", self.kind.name());
        for step in &self.cycle {
            let _ = writeln!(
                out,
                "  \"T{}\" -> \"T{}\" [label=\"{}\"];",
                step.from,
                step.to,
                step.kind.name()
            );
        }
        out.push_str("}\n");
        Some(out)
    }

    /// The cycle as a small self-contained SVG: transactions in a row, each edge an
    /// arrow labelled with its kind, the closing edge an arc underneath. Integer
    /// coordinates only, so the bytes are the same on every machine.
    pub fn svg(&self) -> Option<String> {
        if self.cycle.is_empty() {
            return None;
        }
        let n = self.cycle.len();
        let x = |i: usize| 70 + 150 * i as i64;
        let width = x(n - 1) + 70;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"150\" \
             viewBox=\"0 0 {width} 150\" font-family=\"sans-serif\" font-size=\"13\">\n\
             <defs><marker id=\"a\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\"/></marker></defs>\n"
        );
        for (i, step) in self.cycle.iter().enumerate() {
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"30\" width=\"80\" height=\"30\" rx=\"6\" fill=\"#eef\" stroke=\"#336\"/>\
                 <text x=\"{}\" y=\"50\" text-anchor=\"middle\">T{}</text>",
                x(i) - 40,
                x(i),
                step.from
            );
            let colour = match step.kind {
                EdgeKind::Rw => "#c33",
                EdgeKind::Wr => "#36c",
                EdgeKind::Ww => "#333",
                EdgeKind::Process | EdgeKind::Realtime => "#393",
            };
            if i + 1 < n {
                let _ = writeln!(
                    out,
                    "<line x1=\"{}\" y1=\"45\" x2=\"{}\" y2=\"45\" stroke=\"{colour}\" marker-end=\"url(#a)\"/>\
                     <text x=\"{}\" y=\"38\" text-anchor=\"middle\" fill=\"{colour}\">{}</text>",
                    x(i) + 40,
                    x(i + 1) - 40,
                    x(i) + 75,
                    step.kind.name()
                );
            } else {
                let (from, to) = (x(i), x(0));
                let _ = writeln!(
                    out,
                    "<path d=\"M{from},60 C{from},130 {to},130 {to},60\" fill=\"none\" stroke=\"{colour}\" marker-end=\"url(#a)\"/>\
                     <text x=\"{}\" y=\"125\" text-anchor=\"middle\" fill=\"{colour}\">{}</text>",
                    (from + to) / 2,
                    step.kind.name()
                );
            }
        }
        out.push_str("</svg>\n");
        Some(out)
    }
}
