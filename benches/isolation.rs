//! The isolation checker on large transactional histories.
//!
//! - `list_append_100k`: a 100,000-transaction list-append history (5 micro-ops each,
//!   1,000 keys, 10 concurrent clients) generated from a seeded strict-serializable
//!   execution (`dsim_checkers::isolation::generate`), checked with real-time and
//!   process edges (parsing excluded). Goal (issue 11): under 5 s on one core.
//! - `one_scc_10k`: 10,000 transactions whose ww edges form one ring (each appends to
//!   its own key and to its neighbour's, and a final read orders every key against
//!   the ring) plus an rw edge each (each reads a key seven places on, empty): one
//!   strongly connected component of 10,000 transactions. The cycle search is bounded
//!   by the budget of edge visits, not by memory or time.
//!
//! The bench prints one timed check of each before criterion's measurements.
//!
//! Run: `cargo bench -p dsim-benches --bench isolation -- --warm-up-time 1 --measurement-time 5`.

use criterion::{Criterion, criterion_group, criterion_main};
use dsim_checkers::isolation::generate::{ListAppendShape, list_append_history};
use dsim_checkers::isolation::{IsolationOptions, Workload, isolation};
use dsim_checkers::{Event, EventType, History};
use dsim_core::Value;
use std::hint::black_box;

fn mop(f: &str, key: i64, value: Value) -> Value {
    Value::List(vec![Value::keyword(f), Value::Int(key), value])
}

/// The ring history described in the module documentation.
fn one_scc(n: i64) -> History {
    // Every transaction reads its far key empty: the same value on invocation and
    // completion.
    let txn = |i: i64| {
        Value::List(vec![
            mop("append", i, Value::Int(1)),
            mop("append", (i + 1) % n, Value::Int(2)),
            mop("r", (i + 7) % n, Value::Nil),
        ])
    };
    let mut events = Vec::new();
    for i in 0..n {
        events.push(Event::new(i as u64, EventType::Invoke, "txn", txn(i)));
    }
    for i in 0..n {
        events.push(Event::new(i as u64, EventType::Ok, "txn", txn(i)));
    }
    let reads = |filled: bool| {
        Value::List(
            (0..n)
                .map(|k| {
                    mop(
                        "r",
                        k,
                        if filled {
                            Value::ints(&[1, 2])
                        } else {
                            Value::Nil
                        },
                    )
                })
                .collect(),
        )
    };
    events.push(Event::new(n as u64, EventType::Invoke, "txn", reads(false)));
    events.push(Event::new(n as u64, EventType::Ok, "txn", reads(true)));
    History::from_events(&events).expect("ring history pairs up")
}

#[allow(clippy::disallowed_methods)] // the wall clock is what a bench measures
fn print_once(big: &History, scc: &History) {
    let options = IsolationOptions::new(Workload::ListAppend);
    let start = std::time::Instant::now();
    let report = isolation(big, &options).expect("generated history is well formed");
    println!(
        "isolation: list-append {} txns: {} anomalies, {} edges, in {:.0} ms",
        report.txns,
        report.anomalies.len(),
        report.edges,
        start.elapsed().as_secs_f64() * 1e3
    );
    let start = std::time::Instant::now();
    let report = isolation(scc, &options).expect("ring history is well formed");
    println!(
        "isolation: one SCC of {} txns ({} edges), budget {}: {:?}, budget exhausted {} in {:.0} ms",
        report.txns - 1,
        report.edges,
        options.budget,
        report.anomaly_names(),
        report.budget_exhausted,
        start.elapsed().as_secs_f64() * 1e3
    );
    let mut small = options;
    small.budget = 1_000_000;
    let start = std::time::Instant::now();
    let report = isolation(scc, &small).expect("ring history is well formed");
    println!(
        "isolation: the same SCC, budget {}: {:?}, budget exhausted {} in {:.0} ms",
        small.budget,
        report.anomaly_names(),
        report.budget_exhausted,
        start.elapsed().as_secs_f64() * 1e3
    );
}

fn isolation_bench(c: &mut Criterion) {
    let big = list_append_history(
        1,
        ListAppendShape {
            txns: 100_000,
            processes: 10,
            keys: 1_000,
            mops: 5,
        },
    );
    let scc = one_scc(10_000);
    print_once(&big, &scc);
    let options = IsolationOptions::new(Workload::ListAppend);
    let mut group = c.benchmark_group("isolation");
    group.sample_size(10);
    group.bench_function("list_append_100k", |b| {
        b.iter(|| black_box(isolation(&big, &options).expect("well formed")))
    });
    group.bench_function("one_scc_10k", |b| {
        b.iter(|| black_box(isolation(&scc, &options).expect("well formed")))
    });
    group.finish();
}

criterion_group!(benches, isolation_bench);
criterion_main!(benches);
