//! MapReduce at scale: one master, 1,000 workers, 10,000 map tasks and 1,000 reduce
//! tasks over a 1,000,000-word corpus (100 words per split, 10,000-word vocabulary).
//!
//! The shuffle dominates: every reducer fetches its partition from every mapping worker,
//! about 1,000 x 1,000 fetch requests and as many replies, so a run handles roughly
//! 2.1 million deliveries. Target: a run in under a few seconds of wall time
//! (`cargo bench -p dsim-benches --bench mapreduce -- --warm-up-time 1 --measurement-time 3`).
//!
//! The same job runs twice: over the default constant 1 ms links, where every burst of
//! messages lands at one instant, and over log-normal links (median 1 ms, sigma 0.5),
//! where a burst spreads over a window and most new events fall among events already
//! due: the case that used to make the event queue insert one entry at a time into a
//! long sorted run.

use criterion::{Criterion, criterion_group, criterion_main};
use dsim_core::{
    Delay, LinkModel, NetworkConfig, ParamValue, Params, Protocol, RunRequest, SimConfig,
    SimDuration, Workload,
};
use dsim_protocols::mapreduce::MapReduce;
use std::hint::black_box;

/// The 1,000-worker job as a run request, over links with this delay.
fn big_job(delay: Delay) -> RunRequest {
    let params = [
        ("map_tasks", 10_000),
        ("reduce_tasks", 1_000),
        ("corpus_words", 1_000_000),
        ("vocabulary", 10_000),
        ("map_ns_per_word", 100_000),
        ("reduce_ns_per_record", 10_000),
    ];
    RunRequest {
        config: SimConfig {
            seed: 42,
            network: NetworkConfig {
                default_link: LinkModel {
                    delay,
                    ..LinkModel::default()
                },
                ..NetworkConfig::default()
            },
            ..SimConfig::default()
        },
        nodes: 1_001,
        variant: "correct".to_string(),
        params: Params(
            params
                .iter()
                .map(|&(key, value)| (key.to_string(), ParamValue::Int(value)))
                .collect(),
        ),
        workload: Workload {
            clients: 0,
            rate_per_s: 0.0,
            ..Workload::default()
        },
        duration: SimDuration::from_secs(60),
        faults: Vec::new(),
        trace: None,
        ops_sink: None,
    }
}

/// Runs the job and checks its output, returning its event count.
fn run_job(delay: Delay) -> u64 {
    let result = MapReduce.run(big_job(delay)).expect("the job runs");
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    result.output.counters.events
}

fn bench_big_job(c: &mut Criterion) {
    let mut group = c.benchmark_group("mapreduce");
    group.sample_size(10);
    group.bench_function("1000_workers_10000_maps_1000_reduces", |b| {
        b.iter(|| black_box(run_job(Delay::Constant { ns: 1_000_000 })))
    });
    group.bench_function("1000_workers_10000_maps_1000_reduces_lognormal", |b| {
        b.iter(|| {
            black_box(run_job(Delay::LogNormal {
                median_ns: 1_000_000.0,
                sigma: 0.5,
            }))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_big_job);
criterion_main!(benches);
