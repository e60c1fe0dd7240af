//! The isolation checker on hand-built minimal histories, one per anomaly, in Elle's
//! EDN format (`{:process 0, :type :ok, :f :txn, :value [[:append 1 2] [:r 3 [1]]]}`).
//! These are written by hand after the examples of the Elle paper and Adya's thesis,
//! not copied from Elle's repository.

use dsim_checkers::isolation::{
    AnomalyKind, ConsistencyModel, CycleClass, EdgeKind, IsolationOptions, IsolationReport, Via,
    Workload, explain, isolation,
};
use dsim_checkers::{History, io};

/// One history line: `(process, type, value)`.
fn line(process: u64, kind: &str, value: &str) -> String {
    format!("{{:process {process}, :type :{kind}, :f :txn, :value {value}}}")
}

fn history(lines: &[(u64, &str, &str)]) -> History {
    let text: Vec<String> = lines.iter().map(|(p, k, v)| line(*p, k, v)).collect();
    io::read_history(text.join("\n").as_bytes()).expect("test history parses")
}

fn check_with(lines: &[(u64, &str, &str)], options: IsolationOptions) -> IsolationReport {
    isolation(&history(lines), &options).expect("test history is well formed")
}

fn check(lines: &[(u64, &str, &str)]) -> IsolationReport {
    check_with(lines, IsolationOptions::new(Workload::ListAppend))
}

fn cycle(class: CycleClass, via: Via) -> AnomalyKind {
    AnomalyKind::Cycle { class, via }
}

/// The kinds and (from, to) op ids of the first anomaly of `kind`'s cycle.
fn edges(report: &IsolationReport, kind: AnomalyKind) -> Vec<(usize, EdgeKind, usize)> {
    let found = report.of_kind(kind);
    assert!(
        !found.is_empty(),
        "no {} in {:?}",
        kind.name(),
        report.anomaly_names()
    );
    found[0]
        .cycle
        .iter()
        .map(|s| (s.from, s.kind, s.to))
        .collect()
}

use ConsistencyModel::*;

#[test]
fn a_serial_history_has_no_anomalies() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:r 2 nil]]"),
        (0, "ok", "[[:append 1 1] [:r 2 nil]]"),
        (1, "invoke", "[[:r 1 nil] [:append 2 1] [:append 1 2]]"),
        (1, "ok", "[[:r 1 [1]] [:append 2 1] [:append 1 2]]"),
        (0, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
        (0, "ok", "[[:r 1 [1 2]] [:r 2 [1]]]"),
    ]);
    // Every read is the state after the transactions before it: any false edge or
    // misread order would show up as an anomaly here.
    assert!(report.is_valid(), "{:?}", report.anomalies);
    assert!(report.ruled_out.is_empty());
    assert_eq!((report.txns, report.committed, report.sccs), (3, 3, 0));
}

#[test]
fn interleaved_appends_to_two_keys_are_a_g0_write_cycle() {
    // T0 and T1 both append to keys 1 and 2; a later read shows T0 first on key 1
    // and T1 first on key 2: each overwrote the other.
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:append 2 1]]"),
        (1, "invoke", "[[:append 1 2] [:append 2 2]]"),
        (0, "ok", "[[:append 1 1] [:append 2 1]]"),
        (1, "ok", "[[:append 1 2] [:append 2 2]]"),
        (2, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
        (2, "ok", "[[:r 1 [1 2]] [:r 2 [2 1]]]"),
    ]);
    let g0 = cycle(CycleClass::G0, Via::Data);
    // Without the ww edges from the version orders there would be no cycle.
    assert_eq!(
        edges(&report, g0),
        vec![(0, EdgeKind::Ww, 1), (1, EdgeKind::Ww, 0)]
    );
    assert_eq!(report.of_kind(g0)[0].ops, vec![0, 1]);
    assert_eq!(report.ruled_out, ConsistencyModel::ALL.to_vec());
    assert!(
        report.of_kind(g0)[0].cycle[0]
            .why
            .contains("T0 appended 1 to key 1 and T1 appended 2 right after it")
    );
}

#[test]
fn reading_an_aborted_append_is_g1a() {
    let report = check(&[
        (0, "invoke", "[[:append 7 1]]"),
        (0, "fail", "[[:append 7 1]]"),
        (1, "invoke", "[[:r 7 nil]]"),
        (1, "ok", "[[:r 7 [1]]]"),
    ]);
    let g1a = report.of_kind(AnomalyKind::G1a);
    // The failed transaction certainly did not happen, yet its 1 was read.
    assert_eq!(g1a.len(), 1);
    assert_eq!(g1a[0].ops, vec![1, 0]);
    assert_eq!(
        g1a[0].explanation,
        "T1 read [1] of key 7, which contains 1, appended by T0, which failed (aborted)"
    );
    assert_eq!(report.ruled_out[0], ReadCommitted);
    assert!(!report.ruled_out.contains(&ReadUncommitted));
}

#[test]
fn reading_the_middle_of_another_transaction_is_g1b() {
    let report = check(&[
        (0, "invoke", "[[:append 7 1] [:append 7 2]]"),
        (1, "invoke", "[[:r 7 nil]]"),
        (1, "ok", "[[:r 7 [1]]]"),
        (0, "ok", "[[:append 7 1] [:append 7 2]]"),
    ]);
    let g1b = report.of_kind(AnomalyKind::G1b);
    // T1 saw 1 without 2: a state that never existed outside T0.
    assert_eq!(g1b.len(), 1);
    assert_eq!(g1b[0].ops, vec![1, 0]);
    assert!(report.ruled_out.contains(&ReadCommitted));
}

#[test]
fn each_reading_the_other_is_g1c() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:r 2 nil]]"),
        (1, "invoke", "[[:append 2 1] [:r 1 nil]]"),
        (0, "ok", "[[:append 1 1] [:r 2 [1]]]"),
        (1, "ok", "[[:append 2 1] [:r 1 [1]]]"),
    ]);
    let g1c = cycle(CycleClass::G1c, Via::Data);
    // Information flowed both ways: each wr edge comes from one read.
    assert_eq!(
        edges(&report, g1c),
        vec![(0, EdgeKind::Wr, 1), (1, EdgeKind::Wr, 0)]
    );
    assert_eq!(
        report.of_kind(g1c)[0].cycle[0].why,
        "T1 read [1] of key 1, which T0 appended 1 to"
    );
    assert_eq!(report.ruled_out[0], ReadCommitted);
}

#[test]
fn read_skew_is_g_single() {
    // T1 sees T0's append to key 2 but not its append to key 1.
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:append 2 1]]"),
        (1, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
        (0, "ok", "[[:append 1 1] [:append 2 1]]"),
        (1, "ok", "[[:r 1 nil] [:r 2 [1]]]"),
        (2, "invoke", "[[:r 1 nil]]"),
        (2, "ok", "[[:r 1 [1]]]"),
    ]);
    let single = cycle(CycleClass::GSingle, Via::Data);
    assert_eq!(
        edges(&report, single),
        vec![(0, EdgeKind::Wr, 1), (1, EdgeKind::Rw, 0)]
    );
    assert_eq!(
        report.of_kind(single)[0].cycle[1].why,
        "T1 read nil of key 1, which lacks 1, the next element, appended by T0"
    );
    // G-single is allowed by read committed, not by snapshot isolation or
    // repeatable read (Adya's G2-item includes it).
    assert_eq!(
        report.ruled_out,
        vec![
            RepeatableRead,
            SnapshotIsolation,
            Serializable,
            StrictSerializable
        ]
    );
}

#[test]
fn write_skew_is_g2_item_and_allowed_by_snapshot_isolation() {
    let report = check(&[
        (0, "invoke", "[[:r 1 nil] [:append 2 1]]"),
        (1, "invoke", "[[:r 2 nil] [:append 1 1]]"),
        (0, "ok", "[[:r 1 nil] [:append 2 1]]"),
        (1, "ok", "[[:r 2 nil] [:append 1 1]]"),
        (2, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
        (2, "ok", "[[:r 1 [1]] [:r 2 [1]]]"),
    ]);
    let g2 = cycle(CycleClass::G2Item, Via::Data);
    assert_eq!(
        edges(&report, g2),
        vec![(0, EdgeKind::Rw, 1), (1, EdgeKind::Rw, 0)]
    );
    assert!(
        report
            .of_kind(cycle(CycleClass::GSingle, Via::Data))
            .is_empty()
    );
    assert_eq!(
        report.ruled_out,
        vec![RepeatableRead, Serializable, StrictSerializable]
    );
}

#[test]
fn a_stale_read_after_completion_is_g_single_realtime() {
    let lines = [
        (0, "invoke", "[[:append 1 1]]"),
        (0, "ok", "[[:append 1 1]]"),
        (1, "invoke", "[[:r 1 nil]]"),
        (1, "ok", "[[:r 1 nil]]"),
        (2, "invoke", "[[:r 1 nil]]"),
        (2, "ok", "[[:r 1 [1]]]"),
    ];
    let report = check(&lines);
    let rt = cycle(CycleClass::GSingle, Via::Realtime);
    // Serializable (T1 before T0) but not in real-time order.
    assert_eq!(
        edges(&report, rt),
        vec![(0, EdgeKind::Realtime, 1), (1, EdgeKind::Rw, 0)]
    );
    assert_eq!(report.ruled_out, vec![StrictSerializable]);
    assert_eq!(
        report.of_kind(rt)[0].cycle[0].why,
        "T0 completed before T1 was invoked"
    );
    // Without real-time edges the history is serializable.
    let mut options = IsolationOptions::new(Workload::ListAppend);
    options.realtime = false;
    options.process = false;
    assert!(check_with(&lines, options).is_valid());
}

#[test]
fn a_process_not_seeing_its_own_append_is_g_single_process() {
    let mut options = IsolationOptions::new(Workload::ListAppend);
    options.realtime = false;
    let report = check_with(
        &[
            (0, "invoke", "[[:append 1 1]]"),
            (0, "ok", "[[:append 1 1]]"),
            (0, "invoke", "[[:r 1 nil]]"),
            (0, "ok", "[[:r 1 nil]]"),
            (2, "invoke", "[[:r 1 nil]]"),
            (2, "ok", "[[:r 1 [1]]]"),
        ],
        options,
    );
    let process = cycle(CycleClass::GSingle, Via::Process);
    assert_eq!(
        edges(&report, process),
        vec![(0, EdgeKind::Process, 1), (1, EdgeKind::Rw, 0)]
    );
    assert_eq!(report.ruled_out, vec![StrictSerializable]);
}

#[test]
fn not_seeing_an_own_earlier_append_is_internal() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:r 1 nil]]"),
        (0, "ok", "[[:append 1 1] [:r 1 nil]]"),
    ]);
    let internal = report.of_kind(AnomalyKind::Internal);
    assert_eq!(internal.len(), 1);
    assert_eq!(
        internal[0].explanation,
        "T0 read nil of key 1, but it had appended [1] to it earlier, so the read must end with those"
    );
}

#[test]
fn reads_that_are_not_prefixes_of_one_order_are_incompatible() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:append 1 2]]"),
        (0, "ok", "[[:append 1 1] [:append 1 2]]"),
        (1, "invoke", "[[:append 1 3]]"),
        (1, "ok", "[[:append 1 3]]"),
        (2, "invoke", "[[:r 1 nil]]"),
        (2, "ok", "[[:r 1 [1 2]]]"),
        (3, "invoke", "[[:r 1 nil]]"),
        (3, "ok", "[[:r 1 [1 3]]]"),
    ]);
    let bad = report.of_kind(AnomalyKind::IncompatibleOrder);
    // [1 2] and [1 3] cannot both be versions of one list.
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].ops, vec![2, 3]);
    assert!(report.ruled_out.contains(&ReadCommitted));
}

#[test]
fn duplicate_elements_garbage_and_duplicate_appends_are_reported() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1]]"),
        (0, "ok", "[[:append 1 1]]"),
        (1, "invoke", "[[:append 1 1]]"),
        (1, "ok", "[[:append 1 1]]"),
        (2, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
        (2, "ok", "[[:r 1 [1 1]] [:r 2 [9]]]"),
    ]);
    assert_eq!(
        report.anomaly_names(),
        vec!["duplicate-elements", "duplicate-write", "garbage-read"]
    );
    assert_eq!(
        report.of_kind(AnomalyKind::GarbageRead)[0].explanation,
        "T2 read [9] of key 2, but nobody appended 9 to it"
    );
    assert_eq!(
        report.of_kind(AnomalyKind::DuplicateWrite)[0].ops,
        vec![0, 1]
    );
}

#[test]
fn an_acknowledged_append_missing_from_a_later_read_is_lost() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1]]"),
        (0, "ok", "[[:append 1 1]]"),
        (1, "invoke", "[[:append 1 2]]"),
        (1, "ok", "[[:append 1 2]]"),
        (2, "invoke", "[[:r 1 nil]]"),
        (2, "ok", "[[:r 1 [2]]]"),
    ]);
    let lost = report.of_kind(AnomalyKind::LostAppend);
    // 1 was acknowledged before T2 began, and T2's read of key 1 lacks it.
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].ops, vec![0, 2]);
    assert!(report.ruled_out.contains(&StrictSerializable));
}

#[test]
fn an_indeterminate_transaction_seen_by_a_read_joins_the_graph() {
    let report = check(&[
        (0, "invoke", "[[:append 1 1] [:r 2 nil]]"),
        (1, "invoke", "[[:append 2 1] [:r 1 nil]]"),
        (0, "info", "[[:append 1 1] [:r 2 nil]]"),
        (1, "ok", "[[:append 2 1] [:r 1 [1]]]"),
    ]);
    // T0 timed out but T1 read its append: it committed, so it is a graph node;
    // an unseen info transaction would not be. Its own reads are unknown, so no cycle.
    assert!(report.is_valid());
    assert_eq!(report.committed, 2);
    assert_eq!(report.edges, 1);
}

#[test]
fn a_spent_budget_still_reports_the_component_as_a_cycle() {
    let lines = [
        (0, "invoke", "[[:append 1 1] [:append 2 1]]"),
        (1, "invoke", "[[:append 1 2] [:append 2 2]]"),
        (0, "ok", "[[:append 1 1] [:append 2 1]]"),
        (1, "ok", "[[:append 1 2] [:append 2 2]]"),
        (2, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
        (2, "ok", "[[:r 1 [1 2]] [:r 2 [2 1]]]"),
    ];
    let mut options = IsolationOptions::new(Workload::ListAppend);
    options.budget = 0;
    let report = check_with(&lines, options);
    // The search may not classify the cycle, but the component proves one.
    assert!(report.budget_exhausted);
    let kind = AnomalyKind::UnclassifiedCycle {
        at_most: CycleClass::G0,
        via: Via::Data,
    };
    let found = report.of_kind(kind);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ops, vec![0, 1]);
    assert!(found[0].explanation.contains(
        "a cycle of type <= G0 must exist in this strongly connected component of 2 transactions"
    ));
}

#[test]
fn rw_register_cycles_come_from_unique_values_and_read_then_write() {
    let options = IsolationOptions::new(Workload::RwRegister);
    // G1c: each reads the other's write.
    let g1c = check_with(
        &[
            (0, "invoke", "[[:w 1 1] [:r 2 nil]]"),
            (1, "invoke", "[[:w 2 1] [:r 1 nil]]"),
            (0, "ok", "[[:w 1 1] [:r 2 1]]"),
            (1, "ok", "[[:w 2 1] [:r 1 1]]"),
        ],
        options,
    );
    assert_eq!(
        edges(&g1c, cycle(CycleClass::G1c, Via::Data)),
        vec![(0, EdgeKind::Wr, 1), (1, EdgeKind::Wr, 0)]
    );
    // G-single: T1 reads the initial key 1 (which T0 overwrites) and T0's key 2.
    let single = check_with(
        &[
            (0, "invoke", "[[:w 1 5] [:w 2 6]]"),
            (1, "invoke", "[[:r 1 nil] [:r 2 nil]]"),
            (0, "ok", "[[:w 1 5] [:w 2 6]]"),
            (1, "ok", "[[:r 1 nil] [:r 2 6]]"),
        ],
        options,
    );
    let found = single.of_kind(cycle(CycleClass::GSingle, Via::Data));
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].cycle[1].why,
        "T1 read nil of key 1, and T0 wrote 5 over that version (every write follows the initial version)"
    );
    // Aborted read.
    let g1a = check_with(
        &[
            (0, "invoke", "[[:w 1 5]]"),
            (0, "fail", "[[:w 1 5]]"),
            (1, "invoke", "[[:r 1 nil]]"),
            (1, "ok", "[[:r 1 5]]"),
        ],
        options,
    );
    assert_eq!(g1a.anomaly_names(), vec!["G1a"]);
}

#[test]
fn explanations_name_the_transactions_and_draw_the_cycle() {
    let lines = [
        (0, "invoke", "[[:append 7 3] [:r 8 nil]]"),
        (1, "invoke", "[[:append 8 1] [:r 7 nil]]"),
        (0, "ok", "[[:append 7 3] [:r 8 [1]]]"),
        (1, "ok", "[[:append 8 1] [:r 7 [3]]]"),
    ];
    let h = history(&lines);
    let report = isolation(&h, &IsolationOptions::new(Workload::ListAppend)).unwrap();
    let text = explain(&report, &h);
    assert!(
        text.contains("ruled out: read-committed, repeatable-read"),
        "{text}"
    );
    assert!(
        text.contains("T1 -wr-> T0: T0 read [1] of key 8, which T1 appended 1 to"),
        "{text}"
    );
    assert!(text.contains("T0 = p0 txn"), "{text}");
    let anomaly = &report.anomalies[0];
    assert_eq!(
        anomaly.dot().unwrap(),
        "digraph \"G1c\" {\n  rankdir=LR;\n  \"T0\" -> \"T1\" [label=\"wr\"];\n  \"T1\" -> \"T0\" [label=\"wr\"];\n}\n"
    );
    let svg = anomaly.svg().unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(">T1</text>") && svg.ends_with("</svg>\n"));
}

#[test]
fn malformed_transactions_are_refused_with_their_position() {
    let bad = |value: &str, f: &str| {
        let text = format!("{{:process 0, :type :invoke, :f :{f}, :value {value}}}");
        let h = io::read_history(text.as_bytes()).unwrap();
        isolation(&h, &IsolationOptions::new(Workload::ListAppend))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad("[[:append 1 1]]", "read"),
        "1:1: model list-append: every operation must be :txn, found :read"
    );
    assert_eq!(
        bad("[[:w 1 1]]", "txn"),
        "1:1: micro-op 1 of its invocation, [:w 1 1], must be [:append key value] or [:r key nil-or-list]"
    );
    let h = io::read_history(
        b"{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}\n{:process 0, :type :ok, :f :txn}",
    )
    .unwrap();
    // Without the values read, the reads would pass for empty ones.
    assert_eq!(
        isolation(&h, &IsolationOptions::new(Workload::ListAppend))
            .unwrap_err()
            .to_string(),
        "1:1: an ok transaction's completion must carry its micro-ops with the values read, found nil"
    );
    assert_eq!(
        bad("5", "txn"),
        "1:1: the value of its invocation must be a list of micro-ops, found 5"
    );
}

/// `n` concurrent transactions, each appending to its own key and its neighbour's,
/// and a final read ordering every key so that the ww edges form one ring
/// T(k) -> T(k-1) -> ... -> T(k+1): one strongly connected component of `n`.
fn ring(n: usize) -> Vec<(u64, &'static str, String)> {
    let txn = |i: usize| format!("[[:append {i} 1] [:append {} 2]]", (i + 1) % n);
    let mut lines = Vec::new();
    for i in 0..n {
        lines.push((i as u64, "invoke", txn(i)));
    }
    for i in 0..n {
        lines.push((i as u64, "ok", txn(i)));
    }
    let reads = |filled: &str| {
        let mops: Vec<String> = (0..n).map(|k| format!("[:r {k} {filled}]")).collect();
        format!("[{}]", mops.join(" "))
    };
    lines.push((n as u64, "invoke", reads("nil")));
    lines.push((n as u64, "ok", reads("[1 2]")));
    lines
}

fn check_ring(n: usize, budget: u64) -> IsolationReport {
    let lines = ring(n);
    let borrowed: Vec<(u64, &str, &str)> =
        lines.iter().map(|(p, k, v)| (*p, *k, v.as_str())).collect();
    let mut options = IsolationOptions::new(Workload::ListAppend);
    options.budget = budget;
    check_with(&borrowed, options)
}

#[test]
fn a_ring_of_overwrites_is_one_component_and_one_g0_cycle_through_all() {
    let report = check_ring(20, 1_000_000);
    let g0 = report.of_kind(cycle(CycleClass::G0, Via::Data));
    // Tarjan must put the whole ring in one component, and the only ww cycle runs
    // through every transaction.
    assert_eq!(report.sccs, 1);
    assert_eq!(g0.len(), 1);
    assert_eq!(g0[0].cycle.len(), 20);
    assert_eq!(g0[0].cycle[0].from, 0);
    assert_eq!(g0[0].cycle[0].to, 19);
    assert!(!report.budget_exhausted);
}

#[test]
fn a_cycle_found_before_the_budget_runs_out_is_kept() {
    // Enough budget for the first search (it scans at most every edge once), not for
    // the searches that look for a shorter cycle afterwards.
    let edges = check_ring(20, 1_000_000).edges as u64;
    let report = check_ring(20, edges + 1);
    assert!(report.budget_exhausted);
    // The G0 ring is reported as such, not as an unclassified component.
    assert_eq!(report.anomaly_names(), vec!["G0"]);
}
