//! The linearizability checker on large histories and on published Jepsen histories.
//!
//! - `cas_register_10k_5_processes`: a 10,000-operation cas-register history of 5
//!   clients whose operations overlap, generated from a seeded simulated linearizable
//!   execution (`dsim_checkers::generate`), checked end to end (parsing excluded).
//! - `kv_100k_100_keys`: a 100,000-operation key-value history (get/put/append) over
//!   100 keys, 10 clients; the checker splits it per key.
//! - `etcd_corpus`: the four published etcd histories of `crates/dsim-checkers/tests/data`
//!   read from memory, parsed and checked, as `dsim history check` does.
//!
//! Goal (issue 10): each large history in under 1 s. The bench prints one timed check
//! of each before criterion's measurements.
//!
//! Run: `cargo bench -p dsim-benches --bench checkers -- --warm-up-time 1 --measurement-time 3`.

use criterion::{Criterion, criterion_group, criterion_main};
use dsim_checkers::{
    CasRegister, DEFAULT_BUDGET, History, Kv, Verdict, generate, io, linearizable,
};
use std::hint::black_box;

const ETCD: [&[u8]; 4] = [
    include_bytes!("../crates/dsim-checkers/tests/data/etcd_000.log"),
    include_bytes!("../crates/dsim-checkers/tests/data/etcd_001.log"),
    include_bytes!("../crates/dsim-checkers/tests/data/etcd_002.log"),
    include_bytes!("../crates/dsim-checkers/tests/data/etcd_005.log"),
];

fn check_corpus() -> usize {
    ETCD.iter()
        .map(|bytes| {
            let history = io::read_history(bytes).expect("published history parses");
            let verdict = linearizable(&history, &CasRegister, DEFAULT_BUDGET);
            usize::from(verdict.is_linearizable())
        })
        .sum()
}

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable { .. } => "linearizable",
        Verdict::NotLinearizable { .. } => "NOT linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

#[allow(clippy::disallowed_methods)] // the wall clock is what a bench measures
fn print_once(cas: &History, kv: &History) {
    let start = std::time::Instant::now();
    let verdict = linearizable(cas, &CasRegister, DEFAULT_BUDGET);
    println!(
        "checkers: cas-register {} ops, 5 processes: {} in {:.1} ms ({} states)",
        cas.ops.len(),
        verdict_name(&verdict),
        start.elapsed().as_secs_f64() * 1e3,
        verdict.states_explored()
    );
    let start = std::time::Instant::now();
    let verdict = linearizable(kv, &Kv, DEFAULT_BUDGET);
    println!(
        "checkers: kv {} ops, 100 keys: {} in {:.1} ms ({} states)",
        kv.ops.len(),
        verdict_name(&verdict),
        start.elapsed().as_secs_f64() * 1e3,
        verdict.states_explored()
    );
    let start = std::time::Instant::now();
    let legal = check_corpus();
    println!(
        "checkers: etcd corpus ({} histories, {legal} linearizable) parsed and checked in {:.2} ms",
        ETCD.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
}

fn checkers(c: &mut Criterion) {
    let cas = generate::cas_register_history(1, 10_000, 5);
    let kv = generate::kv_history(1, 100_000, 10, 100);
    print_once(&cas, &kv);
    let mut group = c.benchmark_group("checkers");
    group.sample_size(10);
    group.bench_function("cas_register_10k_5_processes", |b| {
        b.iter(|| black_box(linearizable(&cas, &CasRegister, DEFAULT_BUDGET)))
    });
    group.bench_function("kv_100k_100_keys", |b| {
        b.iter(|| black_box(linearizable(&kv, &Kv, DEFAULT_BUDGET)))
    });
    group.bench_function("etcd_corpus", |b| b.iter(|| black_box(check_corpus())));
    group.finish();
}

criterion_group!(benches, checkers);
criterion_main!(benches);
