//! Golden digests of every chart, run charts and sweep charts, drawn from fixed inputs
//! built by hand (no simulation runs, so engine changes cannot move them).
//!
//! Each SVG is pinned by a 64-bit FNV-1a digest of its bytes. A chart's bytes are part
//! of the report's contract (equal runs give equal files), so a refactor of the drawing
//! code must leave every digest unchanged; a deliberate change of a chart updates the
//! digest here, in a reviewed diff, with the reason in the commit message.

use dsim_core::{DropReason, MessageFate, MessageLog, NodeId, Outcome, SimTime, Violation};
use dsim_report::charts::{Chart, ChartInput, render_svg, write_png};
use dsim_report::metrics::SUMMARY_COLUMNS;
use dsim_report::sweep::{SweepStats, SweepTable, write_comparison, write_sweep_report};
use dsim_report::{FaultWindow, OpRow, WindowKind, timeline};
use std::fs;
use std::path::Path;

/// With `DSIM_CHART_DUMP=DIR` set, the folder where every chart is also written, as
/// `DIR/<case>/<chart>.svg` and `.png`, to compare the charts of two builds when a
/// digest moves.
fn dump_dir(name: &str) -> Option<std::path::PathBuf> {
    let dir = Path::new(&std::env::var_os("DSIM_CHART_DUMP")?).join(name);
    fs::create_dir_all(dir.parent().unwrap()).unwrap();
    Some(dir)
}

/// 64-bit FNV-1a over `bytes`.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A fixed pseudo-random sequence (xorshift64), so inputs are varied but never change.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const MS: u64 = 1_000_000;

/// `count` operations from 4 clients over 10 s: mostly ok with log-ish latencies, some
/// failed, a few unfinished.
fn ops(count: u64) -> Vec<OpRow> {
    let mut sequence = Sequence(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|op_id| {
            let start = SimTime(op_id * 10_000 * MS / count.max(1));
            let draw = sequence.next();
            let latency_ns = 200_000 + (draw % 1000) * (draw % 1000) * 30 + (draw >> 60) * MS;
            let (end, outcome) = match draw % 23 {
                0 => (None, None),
                1 | 2 => (
                    Some(SimTime(start.as_nanos() + 50 * MS)),
                    Some(Outcome::Info("timeout")),
                ),
                _ => (
                    Some(SimTime(start.as_nanos() + latency_ns)),
                    Some(Outcome::Ok),
                ),
            };
            OpRow {
                op_id,
                client: NodeId(5 + (op_id % 4) as u32),
                client_op: op_id / 4,
                kind: "put",
                key: None,
                arg: dsim_core::Value::Nil,
                ret: dsim_core::Value::Nil,
                start,
                end,
                outcome,
                // Charts read times, not the events' order.
                invoke_seq: 0,
                complete_seq: 0,
            }
        })
        .collect()
}

fn window(kind: WindowKind, nodes: &[u32], start_ms: u64, end_ms: u64, label: &str) -> FaultWindow {
    FaultWindow {
        kind,
        nodes: nodes.iter().map(|&n| NodeId(n)).collect(),
        start: SimTime(start_ms * MS),
        end: SimTime(end_ms * MS),
        open_at_end: end_ms == 10_000,
        label: label.to_string(),
        details: format!("{label} details"),
    }
}

/// One window of every kind, one zero-length, one open at the end.
fn windows() -> Vec<FaultWindow> {
    vec![
        window(WindowKind::Partition, &[0, 1], 2_000, 6_000, "partition"),
        window(WindowKind::Crash, &[2], 3, 9, "crash n2"),
        window(WindowKind::Pause, &[1], 5, 12, "pause n1"),
        window(WindowKind::Isolate, &[3], 4_000, 4_000, "isolate n3"),
        window(WindowKind::Cut, &[0, 4], 1, 20, "cut"),
        window(WindowKind::Degrade, &[], 7_000, 10_000, "degrade"),
        window(WindowKind::Crash, &[2], 8_000, 9_000, "crash n2"),
    ]
}

/// Fifteen lanes, more than the timeline draws.
fn many_windows() -> Vec<FaultWindow> {
    (0..15u64)
        .map(|i| {
            window(
                WindowKind::ALL[i as usize % 6],
                &[(i % 5) as u32],
                i * 600,
                i * 600 + 300,
                &format!("fault {i}"),
            )
        })
        .collect()
}

/// `count` messages among `nodes` nodes in the first 30 ms: delivered, dropped and in
/// flight.
fn messages(count: u64, nodes: u64) -> MessageLog {
    let mut sequence = Sequence(0x2545_f491_4f6c_dd1d);
    let mut log = MessageLog::new();
    for i in 0..count {
        {
            let draw = sequence.next();
            let source = draw % nodes;
            let target = (source + 1 + (draw >> 8) % (nodes - 1)) % nodes;
            let sent_at = SimTime(i * 30 * MS / count);
            let at = SimTime(sent_at.as_nanos() + 500_000 + (draw >> 20) % (3 * MS));
            let fate = match draw % 11 {
                0 => MessageFate::InFlight,
                1 => MessageFate::Dropped(at, DropReason::Link),
                2 => MessageFate::Dropped(at, DropReason::Partition),
                _ => MessageFate::Delivered(at),
            };
            let record = log.push(
                NodeId(source as u32),
                NodeId(target as u32),
                sent_at,
                &format!("Prepare {{ ballot: {i} }}"),
            );
            log.set_fate(record, fate);
        }
    }
    log
}

/// Every run chart of one input, as (name, digest).
fn run_chart_digests(
    case: &str,
    ops: &[OpRow],
    windows: &[FaultWindow],
    messages: &MessageLog,
    violations: &[Violation],
    node_count: usize,
) -> Vec<(String, u64)> {
    let span = SimTime(10_000 * MS);
    let rows = timeline(ops, windows, span);
    let input = ChartInput {
        scenario: "digest <&> case",
        ops,
        timeline: &rows,
        windows,
        messages,
        violations,
        node_count,
        span,
        rates: &[],
    };
    Chart::ALL
        .iter()
        .map(|&chart| {
            let svg = render_svg(chart, &input).unwrap();
            let name = format!("{case}/{}", chart.name());
            if let Some(path) = dump_dir(&name) {
                fs::write(path.with_extension("svg"), &svg).unwrap();
                write_png(chart, &input, &path.with_extension("png")).unwrap();
            }
            (name, fnv1a(svg.as_bytes()))
        })
        .collect()
}

/// A sweep table of `seeds` seeds with the columns `dsim sweep` writes: the summary
/// columns, the first violation (optional) and the swarm draw (optional). Columns the
/// charts do not read stay empty.
fn sweep_table(
    seeds: u64,
    formula: &str,
    first_violation: bool,
    swarm: bool,
    checks: u64,
) -> SweepTable {
    let mut header: Vec<&str> = SUMMARY_COLUMNS.to_vec();
    if first_violation {
        header.extend(["first_violation_check", "first_violation_ns"]);
    }
    if swarm {
        header.extend(["swarm_faults", "swarm_every_scale_percent"]);
    }
    let mut sequence = Sequence(0xdead_beef_cafe_f00d);
    let rows = (1..=seeds)
        .map(|seed| {
            let draw = sequence.next();
            let violating = draw.is_multiple_of(3);
            let has_latency = !draw.is_multiple_of(17);
            let p50 = 2 * MS + (draw >> 8) % (9 * MS);
            let p99 = p50 * 4 + (draw >> 16) % (200 * MS);
            let value = if formula == "f(x)" {
                format!("{:.6}", 0.6 + ((draw >> 24) % 400) as f64 / 1000.0)
            } else {
                ((p50 + p99) / 3).to_string()
            };
            let when = |yes: bool, text: String| if yes { text } else { String::new() };
            header
                .iter()
                .map(|&column| match column {
                    "scenario" => "digest".to_string(),
                    "protocol" => "two_phase_commit".to_string(),
                    "variant" => "seed-naive".to_string(),
                    "seed" => seed.to_string(),
                    "latency_p50_ns" => when(has_latency, p50.to_string()),
                    "latency_p99_ns" => when(has_latency, p99.to_string()),
                    "formula" => formula.to_string(),
                    "formula_value" => when(has_latency, value.clone()),
                    "violations" if violating => (1 + draw % 4).to_string(),
                    "violations" => "0".to_string(),
                    "first_violation_check" => {
                        when(violating, format!("check_{}", (draw >> 32) % checks.max(1)))
                    }
                    "first_violation_ns" => {
                        when(violating, ((draw >> 12) % (5_000 * MS)).to_string())
                    }
                    "swarm_faults" => "crash+partition".to_string(),
                    "swarm_every_scale_percent" => "150".to_string(),
                    _ => String::new(),
                })
                .collect()
        })
        .collect();
    SweepTable::new(header.iter().map(|h| h.to_string()).collect(), rows)
}

/// The SVG files `dir` holds, as (case/stem, digest), by file name.
fn svg_digests(case: &str, dir: &Path) -> Vec<(String, u64)> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).unwrap();
            let stem = name.trim_end_matches(".svg");
            let name = format!("{case}/{stem}");
            if let Some(path) = dump_dir(&name) {
                fs::write(path.with_extension("svg"), &bytes).unwrap();
                let png = dir.join(format!("{stem}.png"));
                fs::copy(png, path.with_extension("png")).unwrap();
            }
            (name, fnv1a(&bytes))
        })
        .collect()
}

fn sweep_digests(case: &str, table: &SweepTable) -> Vec<(String, u64)> {
    let dir = tempfile::tempdir().unwrap();
    write_sweep_report(
        dir.path(),
        "digest <&> sweep",
        table,
        "dsim run scenarios/digest.toml",
    )
    .unwrap();
    svg_digests(case, dir.path())
}

fn comparison_digests(case: &str, sweeps: &[(String, SweepStats)]) -> Vec<(String, u64)> {
    let dir = tempfile::tempdir().unwrap();
    write_comparison(dir.path(), sweeps).unwrap();
    svg_digests(case, dir.path())
}

/// Every digest, in a fixed order.
fn all_digests() -> Vec<(String, u64)> {
    let mut digests = Vec::new();
    digests.extend(run_chart_digests(
        "run",
        &ops(800),
        &windows(),
        &messages(60, 5),
        &[],
        9,
    ));
    digests.extend(run_chart_digests(
        "run-large",
        &ops(2_600),
        &many_windows(),
        &messages(50, 40),
        &[],
        40,
    ));
    digests.extend(run_chart_digests(
        "run-empty",
        &[],
        &[],
        &MessageLog::new(),
        &[],
        3,
    ));
    // A violation at 20 ms (the space-time chart centres on it, not on the fault at the
    // start), and latencies over three decades (the CDF's axis turns logarithmic).
    let wide: Vec<OpRow> = ops(300)
        .into_iter()
        .map(|mut op| {
            if op.op_id % 7 == 0
                && let Some(end) = op.end
            {
                let latency = end.as_nanos() - op.start.as_nanos();
                op.end = Some(SimTime(op.start.as_nanos() + latency * 2_000));
            }
            op
        })
        .collect();
    digests.extend(run_chart_digests(
        "run-violation",
        &wide,
        &windows(),
        &messages(300, 5),
        &[Violation {
            time: SimTime(20 * MS),
            check: "agreement",
            nodes: vec![NodeId(1), NodeId(2)],
            details: "two values chosen".into(),
            ops: Vec::new(),
            figure: None,
        }],
        5,
    ));

    digests.extend(sweep_digests(
        "sweep-t",
        &sweep_table(60, "T", true, false, 3),
    ));
    digests.extend(sweep_digests(
        "sweep-fx",
        &sweep_table(25, "f(x)", false, false, 1),
    ));
    digests.extend(sweep_digests(
        "sweep-swarm",
        &sweep_table(300, "L", true, true, 15),
    ));
    digests.extend(sweep_digests(
        "sweep-empty",
        &SweepTable::new(sweep_table(1, "T", true, false, 1).header, Vec::new()),
    ));

    let labelled = |label: &str, table: &SweepTable| (label.to_string(), SweepStats::of(table));
    let no_latency = {
        let mut table = sweep_table(4, "T", true, false, 2);
        let columns = ["latency_p50_ns", "latency_p99_ns"].map(|name| table.column(name).unwrap());
        for row in &mut table.rows {
            for column in columns {
                row[column].clear();
            }
        }
        table
    };
    digests.extend(comparison_digests(
        "compare",
        &[
            labelled("correct", &sweep_table(30, "T", true, false, 2)),
            labelled(
                "seed-naive <long label of a variant>",
                &sweep_table(30, "T", true, false, 4),
            ),
            labelled("no-latency", &no_latency),
        ],
    ));
    let many: Vec<(String, SweepStats)> = (0..33)
        .map(|i| {
            labelled(
                &format!("variant {i}"),
                &sweep_table(5 + i, "R", true, false, 2),
            )
        })
        .collect();
    digests.extend(comparison_digests("compare-many", &many));
    digests.extend(comparison_digests("compare-empty", &[]));
    digests
}

/// The digests every chart must keep (see the module doc).
const EXPECTED: &[(&str, u64)] = &[
    ("run/timeline", 0x17b8748c4d244751),
    ("run/latency_cdf", 0x8ecd94da58e1e2d4),
    ("run/latency_histogram", 0x2de3caace6e6f172),
    ("run/spacetime", 0x5b0a303c07fb0137),
    ("run-large/timeline", 0xad268482a4edbb68),
    ("run-large/latency_cdf", 0xe9f922c4ed52c6d1),
    ("run-large/latency_histogram", 0x080740739b20e564),
    ("run-large/spacetime", 0x75d6faca7e75ebf6),
    ("run-empty/timeline", 0x81be9eaf87bd0be3),
    ("run-empty/latency_cdf", 0x4d676a3011076c3a),
    ("run-empty/latency_histogram", 0x4844295d586d02c3),
    ("run-empty/spacetime", 0xb633cd46e6282900),
    ("run-violation/timeline", 0xbbee7f3a032afe08),
    ("run-violation/latency_cdf", 0xb6cbe75204f75bac),
    ("run-violation/latency_histogram", 0x14374caff74db7c3),
    ("run-violation/spacetime", 0xe9af1f5ca8f60da6),
    ("sweep-t/sweep_formula", 0xba99ec03fe917c71),
    ("sweep-t/sweep_latency", 0xe79e3d8074b62180),
    ("sweep-t/sweep_violations", 0xe11ad6dc77105f2a),
    ("sweep-fx/sweep_formula", 0x5c94bdd3a036f06d),
    ("sweep-fx/sweep_latency", 0x072de16372f1e145),
    ("sweep-fx/sweep_violations", 0x857b855edd044df2),
    ("sweep-swarm/sweep_formula", 0x390aa9f9718b0a28),
    ("sweep-swarm/sweep_latency", 0x2ada59a5a5a39c2c),
    ("sweep-swarm/sweep_violations", 0x33de361c6ceee400),
    ("sweep-empty/sweep_formula", 0xda7a5909cfde634f),
    ("sweep-empty/sweep_latency", 0x53349a7db4a98bd6),
    ("sweep-empty/sweep_violations", 0x0311ad6abd0d9a4b),
    ("compare/comparison", 0x0b4a14d2c242ee5d),
    ("compare-many/comparison", 0xac13bac748ffdf23),
    ("compare-empty/comparison", 0x0f1bf6aca2d9898d),
];

#[test]
fn every_chart_keeps_its_golden_svg_digest() {
    let actual = all_digests();
    let listing: String = actual
        .iter()
        .map(|(name, digest)| format!("    (\"{name}\", 0x{digest:016x}),\n"))
        .collect();
    let expected: Vec<(String, u64)> = EXPECTED
        .iter()
        .map(|(name, digest)| (name.to_string(), *digest))
        .collect();
    // A different digest means a chart's bytes changed: equal inputs no longer give the
    // charts they gave before (compare the SVGs, then update the list if intended).
    assert_eq!(actual, expected, "actual digests:\n{listing}");
}
