//! # Transactional isolation, Elle-style
//!
//! A history of transactions (`:f :txn` operations whose value is a list of
//! micro-ops) is judged by the anomalies it contains, and by the consistency models
//! those anomalies rule out. This is the approach of **Elle** (K. Kingsbury and
//! P. Alvaro, *Elle: Inferring Isolation Anomalies from Experimental Observations*,
//! VLDB 2020) over the formalism of **Adya** (A. Adya, *Weak Consistency: A
//! Generalized Theory and Optimistic Implementations for Distributed Transactions*,
//! PhD thesis, MIT, 2000).
//!
//! ## Adya's theory in one paragraph
//!
//! Every committed transaction installs versions of the objects it writes; each
//! object's versions form a *version order*. The *direct serialization graph* (DSG)
//! has a node per committed transaction and three kinds of edges: `Ti -ww-> Tj` when
//! Tj installs the version right after Ti's; `Ti -wr-> Tj` when Tj reads a version Ti
//! installed; `Ti -rw-> Tj` (an anti-dependency) when Ti reads a version and Tj
//! installs the next one. Isolation levels are defined by the cycles they proscribe:
//! **G0** (a cycle of ww edges), **G1c** (ww and wr edges, at least one wr),
//! **G-single** (exactly one rw edge), **G2-item** (rw edges, here: two or more), and
//! the non-cycle phenomena **G1a** (aborted read: a committed transaction read a
//! version written by an aborted one) and **G1b** (intermediate read: it read a
//! version that its writer later overwrote within itself).
//!
//! ## Elle's insight: make the version order observable
//!
//! A database does not tell us its version orders. Elle chooses workloads that do.
//! In **list-append**, each key holds a list, transactions append values unique per
//! key (`[:append k v]`) and read whole lists (`[:r k [1 2 3]]`). A read of `[1 2 3]`
//! reveals the whole history of the key up to that version: the version order is the
//! longest committed read, and every committed read must be a prefix of it. Each
//! element names the transaction that appended it, so ww, wr and rw edges follow
//! from reads alone (the `version_order` module lists the rules). In
//! **rw-register** (`[:w k v]`, `[:r k v]`, values unique per key) a read names its
//! writer (wr edges), but the order of versions is only partly visible: we infer
//! ww/rw edges only where a transaction read a version and then wrote the key (its
//! version must come later) and from the initial version `nil` (every write follows
//! it). We do **not** infer version orders from real time or from per-process order
//! (Elle can, under extra assumptions such as linearizable keys), nor from sequential
//! keys; rw-register checks therefore find fewer cycles than list-append ones.
//!
//! Transactions enter the graph when they are known to have committed: `ok` ones, and
//! `info` (indeterminate) ones whose writes some committed read observed. `fail`
//! transactions certainly did not commit: reading their writes is G1a. Besides data
//! edges, the graph can carry **real-time** edges (T1 completed before T2 was
//! invoked; Elle's transitive reduction keeps them linear in size) and
//! **per-process** edges, for the strict and session variants: a cycle that needs
//! them is reported as `G0-realtime`, `G-single-process`, and so on.
//!
//! ## The search
//!
//! Tarjan's algorithm finds the strongly connected components; a component with more
//! than one transaction contains a cycle. Within each, a breadth-first search
//! restricted to edge kinds finds a short cycle of each class: for G0, a ww edge
//! `a -> b` closed by the shortest ww path from `b` to `a`; for G1c, a wr edge closed
//! over ww/wr; for G-single, an rw edge closed over ww/wr; for G2-item, an rw edge
//! closed over any data edge (kept if it has two or more rw edges). Edges are tried
//! in node order; after the first cycle of a class, 64 more edges are tried for a
//! shorter one (a two-edge cycle ends the search at once), so the cycle reported is
//! the shortest through the edges tried, not always the shortest in the component
//! (Elle makes the same trade). The search is bounded by
//! a budget of edge visits ([`IsolationOptions::budget`]); when it runs out, a
//! component still proves a cycle, and the report says which class at worst its edge
//! kinds allow ("a cycle of type <= G-single must exist in this SCC") rather than
//! hanging.
//!
//! ## Non-cycle anomalies
//!
//! `incompatible-order` (two committed reads of a key neither of which is a prefix of
//! the other), `duplicate-elements` (a read holding an element twice),
//! `garbage-read` (a value nobody wrote), `duplicate-write` (a value written twice,
//! breaking the uniqueness the inference needs), `internal` (a transaction whose read
//! disagrees with its own earlier reads and writes of the key), G1a, G1b, and
//! `lost-append`: an `ok` append of `v` to `k` that **no committed read contains**,
//! although some committed read of `k` was **invoked after the append completed**.
//! Lists only grow, so in any real-time-respecting order that read follows the
//! append and must contain `v`; a serial order that ignores real time could still
//! place every read before the append, so a lost append rules out strict
//! serializability only.
//!
//! ## Which models an anomaly rules out
//!
//! Following Adya's definitions and Elle's `consistency-model` namespace:
//! - G0, `garbage-read`, `duplicate-elements`: every model from read uncommitted up;
//! - G1a, G1b, G1c, `internal`, `incompatible-order` (Elle: implies G1a): read
//!   committed and everything stronger;
//! - G-single: snapshot isolation, serializable, strict serializable, **and
//!   repeatable read**: Adya's G2-item is any cycle with an item anti-dependency, and
//!   a G-single cycle is one (Elle's own source notes that its G-singles are G2-item);
//! - G2-item (two or more rw): repeatable read, serializable, strict serializable —
//!   not snapshot isolation, which allows write skew;
//! - any `-process` or `-realtime` cycle, `lost-append`: strict serializable;
//! - a component whose search ran out of budget: serializable and up (read committed
//!   and up if it has no rw edge; every model if it has only ww edges);
//! - `duplicate-write`: none (it is the workload's fault, but it is reported).
//!
//! ## References
//! - A. Adya. *Weak Consistency: A Generalized Theory and Optimistic Implementations
//!   for Distributed Transactions.* PhD thesis, MIT, 2000.
//! - K. Kingsbury, P. Alvaro. *Elle: Inferring Isolation Anomalies from Experimental
//!   Observations.* PVLDB 14(3), 2020.
//! - R. Tarjan. *Depth-first search and linear graph algorithms.* SIAM J. Comput., 1972.

mod anomaly;
pub mod generate;
mod graph;
mod txn;
mod version_order;

pub use anomaly::{Anomaly, AnomalyKind, ConsistencyModel, CycleClass, CycleStep, Via};
pub use graph::EdgeKind;

use crate::history::{History, HistoryError};
use graph::{DATA, ORDER, Search, Step};
use std::fmt::Write as _;
use version_order::Analysis;

/// Edge visits the cycle search may spend before it stops classifying.
pub const DEFAULT_CYCLE_BUDGET: u64 = 50_000_000;

/// Which transactional workload a history comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// `[:append k v]` and `[:r k [..]]`: lists, version orders fully recoverable.
    ListAppend,
    /// `[:w k v]` and `[:r k v]`: registers, version orders partly recoverable.
    RwRegister,
}

impl Workload {
    /// `list-append` or `rw-register`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }

    /// Parses `list-append` or `rw-register`.
    pub fn from_name(name: &str) -> Option<Workload> {
        match name {
            "list-append" => Some(Workload::ListAppend),
            "rw-register" => Some(Workload::RwRegister),
            _ => None,
        }
    }

    pub(crate) fn mop_shape(self) -> &'static str {
        match self {
            Workload::ListAppend => "[:append key value] or [:r key nil-or-list]",
            Workload::RwRegister => "[:w key value] or [:r key value]",
        }
    }
}

/// What to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsolationOptions {
    /// The workload the history comes from.
    pub workload: Workload,
    /// Add real-time edges (needed to judge strict serializability).
    pub realtime: bool,
    /// Add per-process order edges (session variants).
    pub process: bool,
    /// Edge visits the cycle search may spend ([`DEFAULT_CYCLE_BUDGET`]).
    pub budget: u64,
}

impl IsolationOptions {
    /// Every check for `workload`: real-time and process edges, the default budget.
    pub fn new(workload: Workload) -> IsolationOptions {
        IsolationOptions {
            workload,
            realtime: true,
            process: true,
            budget: DEFAULT_CYCLE_BUDGET,
        }
    }
}

/// The verdict on a transactional history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolationReport {
    /// The workload checked.
    pub workload: Workload,
    /// Every anomaly found: non-cycle anomalies first, then cycles by component.
    pub anomalies: Vec<Anomaly>,
    /// The consistency models the anomalies rule out, weakest first.
    pub ruled_out: Vec<ConsistencyModel>,
    /// Whether the cycle search ran out of budget (some components unclassified, or
    /// classified only in part).
    pub budget_exhausted: bool,
    /// Transactions in the history.
    pub txns: usize,
    /// Transactions in the dependency graph (`ok`, and `info` ones seen committed).
    pub committed: usize,
    /// Edges in the dependency graph.
    pub edges: usize,
    /// Strongly connected components with more than one transaction.
    pub sccs: usize,
}

impl IsolationReport {
    /// Whether no anomaly was found.
    pub fn is_valid(&self) -> bool {
        self.anomalies.is_empty()
    }

    /// The names of the anomaly kinds found, sorted, without repeats.
    pub fn anomaly_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.anomalies.iter().map(|a| a.kind.name()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The anomalies of one kind.
    pub fn of_kind(&self, kind: AnomalyKind) -> Vec<&Anomaly> {
        self.anomalies.iter().filter(|a| a.kind == kind).collect()
    }
}

/// Checks a history of transactions for isolation anomalies.
///
/// Errors: an operation that is not a well-formed transaction of the workload (its
/// invocation's position is named).
pub fn isolation(
    history: &History,
    options: &IsolationOptions,
) -> Result<IsolationReport, HistoryError> {
    let txns = txn::parse(history, options.workload)?;
    let mut analysis = version_order::analyze(txns, options);
    let sccs = analysis.graph.sccs();
    let mut cycles = Vec::new();
    let exhausted = {
        let mut search = Search::new(&analysis.graph, &sccs, options.budget);
        let mut exhausted = false;
        for (c, members) in sccs.iter().enumerate() {
            match search_component(&mut search, &analysis, members, c as u32) {
                Ok(found) => cycles.extend(found),
                Err((found, unclassified)) => {
                    exhausted = true;
                    if found.is_empty() {
                        cycles.push(unclassified);
                    }
                    cycles.extend(found);
                }
            }
        }
        exhausted
    };
    analysis.anomalies.extend(cycles);
    let mut ruled_out: Vec<ConsistencyModel> = analysis
        .anomalies
        .iter()
        .flat_map(|a| a.kind.rules_out().iter().copied())
        .collect();
    ruled_out.sort();
    ruled_out.dedup();
    Ok(IsolationReport {
        workload: options.workload,
        ruled_out,
        budget_exhausted: exhausted,
        txns: analysis.txns.txns.len(),
        committed: analysis.in_graph.iter().filter(|&&g| g).count(),
        edges: analysis.graph.edge_count(),
        sccs: sccs.len(),
        anomalies: analysis.anomalies,
    })
}

/// The class and order variant of a cycle, from the edges it uses.
fn classify(cycle: &[Step]) -> (CycleClass, Via) {
    let count = |kind: EdgeKind| cycle.iter().filter(|s| s.kind == kind).count();
    let class = match (count(EdgeKind::Rw), count(EdgeKind::Wr)) {
        (0, 0) => CycleClass::G0,
        (0, _) => CycleClass::G1c,
        (1, _) => CycleClass::GSingle,
        _ => CycleClass::G2Item,
    };
    let via = if count(EdgeKind::Realtime) > 0 {
        Via::Realtime
    } else if count(EdgeKind::Process) > 0 {
        Via::Process
    } else {
        Via::Data
    };
    (class, via)
}

/// Searches one component for the shortest cycle of each class: data edges first,
/// then with order edges for the classes not found without them. On budget
/// exhaustion, returns what was found and an unclassified-cycle anomaly.
fn search_component(
    search: &mut Search<'_>,
    analysis: &Analysis,
    members: &[u32],
    c: u32,
) -> Result<Vec<Anomaly>, (Vec<Anomaly>, Anomaly)> {
    let mut kinds = 0u8;
    for &u in members {
        for out in &analysis.graph.adj[u as usize] {
            if members.binary_search(&out.to).is_ok() {
                kinds |= out.kind.bit();
            }
        }
    }
    let mut found: Vec<Anomaly> = Vec::new();
    let mut found_data: Vec<CycleClass> = Vec::new();
    let classes = [
        (CycleClass::G0, EdgeKind::Ww, EdgeKind::Ww.bit()),
        (
            CycleClass::G1c,
            EdgeKind::Wr,
            EdgeKind::Ww.bit() | EdgeKind::Wr.bit(),
        ),
        (
            CycleClass::GSingle,
            EdgeKind::Rw,
            EdgeKind::Ww.bit() | EdgeKind::Wr.bit(),
        ),
        (CycleClass::G2Item, EdgeKind::Rw, DATA),
    ];
    for with_order in [false, true] {
        if with_order && kinds & ORDER == 0 {
            break;
        }
        for (class, first, allowed) in classes {
            if kinds & first.bit() == 0 || (with_order && found_data.contains(&class)) {
                continue;
            }
            let allowed = if with_order { allowed | ORDER } else { allowed };
            let accept = |cycle: &[Step]| {
                let (got, via) = classify(cycle);
                got == class && (via != Via::Data) == with_order
            };
            let (cycle, status) = search.short_cycle(members, c, first, allowed, accept);
            if let Some(cycle) = cycle {
                if !with_order {
                    found_data.push(class);
                }
                found.push(cycle_anomaly(analysis, &cycle, members.len()));
            }
            if status.is_err() {
                let unclassified = unclassified(analysis, members, kinds);
                return Err((found, unclassified));
            }
        }
    }
    Ok(found)
}

fn cycle_anomaly(analysis: &Analysis, cycle: &[Step], scc_size: usize) -> Anomaly {
    let (class, via) = classify(cycle);
    let kind = AnomalyKind::Cycle { class, via };
    // Start at the earliest transaction, so the same cycle always reads the same.
    let start = (0..cycle.len()).min_by_key(|&i| cycle[i].from).unwrap_or(0);
    let steps: Vec<CycleStep> = cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .map(|s| CycleStep {
            from: analysis.txns.txns[s.from as usize].op,
            to: analysis.txns.txns[s.to as usize].op,
            kind: s.kind,
            why: analysis.why(s.from, s.to, s.why),
        })
        .collect();
    let mut explanation = format!(
        "a cycle of {} transactions (in a strongly connected component of {}):",
        cycle.len(),
        scc_size
    );
    for step in &steps {
        let _ = write!(
            explanation,
            "\n  T{} -{}-> T{}: {}",
            step.from,
            step.kind.name(),
            step.to,
            step.why
        );
    }
    Anomaly {
        kind,
        ops: steps.iter().map(|s| s.from).collect(),
        cycle: steps,
        explanation,
    }
}

fn unclassified(analysis: &Analysis, members: &[u32], kinds: u8) -> Anomaly {
    let at_most = if kinds & EdgeKind::Rw.bit() != 0 {
        CycleClass::G2Item
    } else if kinds & EdgeKind::Wr.bit() != 0 {
        CycleClass::G1c
    } else {
        CycleClass::G0
    };
    let via = if kinds & EdgeKind::Realtime.bit() != 0 {
        Via::Realtime
    } else if kinds & EdgeKind::Process.bit() != 0 {
        Via::Process
    } else {
        Via::Data
    };
    let kind = AnomalyKind::UnclassifiedCycle { at_most, via };
    let edges: Vec<&str> = [
        EdgeKind::Ww,
        EdgeKind::Wr,
        EdgeKind::Rw,
        EdgeKind::Process,
        EdgeKind::Realtime,
    ]
    .into_iter()
    .filter(|k| kinds & k.bit() != 0)
    .map(EdgeKind::name)
    .collect();
    let explanation = format!(
        "the cycle search ran out of budget: a cycle of type <= {}{} must exist in this strongly connected component of {} transactions (its edges: {})",
        at_most.name(),
        match via {
            Via::Data => "",
            Via::Process => " (with process edges)",
            Via::Realtime => " (with real-time edges)",
        },
        members.len(),
        edges.join(", ")
    );
    Anomaly {
        kind,
        ops: members
            .iter()
            .map(|&t| analysis.txns.txns[t as usize].op)
            .collect(),
        cycle: Vec::new(),
        explanation,
    }
}

/// The report for people: a summary line, the models ruled out, every anomaly with
/// its explanation and the operations it involves (as the history prints them).
pub fn explain(report: &IsolationReport, history: &History) -> String {
    let mut out = format!(
        "{} transactions ({} in the dependency graph, {} edges, {} cyclic components), workload {}\n",
        report.txns,
        report.committed,
        report.edges,
        report.sccs,
        report.workload.name()
    );
    if report.is_valid() {
        out.push_str("no anomalies: consistent with every model up to strict serializable\n");
        return out;
    }
    let names: Vec<&str> = report.ruled_out.iter().map(|m| m.name()).collect();
    let _ = writeln!(
        out,
        "{} {} ({}); ruled out: {}",
        report.anomalies.len(),
        if report.anomalies.len() == 1 {
            "anomaly"
        } else {
            "anomalies"
        },
        report.anomaly_names().join(", "),
        if names.is_empty() {
            "nothing".to_string()
        } else {
            names.join(", ")
        }
    );
    for anomaly in &report.anomalies {
        let _ = writeln!(out, "\n[{}] {}", anomaly.kind.name(), anomaly.explanation);
        let mut ops = anomaly.ops.clone();
        ops.sort_unstable();
        ops.dedup();
        for op in ops.iter().take(12) {
            let op = &history.ops[*op];
            let at = op
                .pos
                .map_or_else(String::new, |p| format!(" (line {})", p.line));
            let _ = writeln!(out, "  T{} = {op}{at}", op.id);
        }
        if ops.len() > 12 {
            let _ = writeln!(out, "  ... and {} more", ops.len() - 12);
        }
    }
    if report.budget_exhausted {
        out.push_str("\nthe cycle search ran out of budget; raise it to classify every cycle\n");
    }
    out
}
