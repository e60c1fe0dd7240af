//! Two-phase commit speed: virtual seconds simulated per wall second, with a
//! coordinator, 5 participants and 2 clients at 200 transactions per second over a
//! lossy lognormal network.
//!
//! Criterion's throughput counts *virtual milliseconds* as elements, so its
//! `thrpt: N Kelem/s` reads directly as N virtual seconds per wall second.
//! `engine_only` runs the simulation alone; `run_and_check` is what `dsim run` pays
//! (simulation, checker, in-doubt measures, stripping protocol events).
//!
//! Run briefly: `cargo bench -p dsim-benches --bench two_phase_commit -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dsim_core::{
    Delay, LinkModel, LinkOrder, NetworkConfig, Params, Protocol, RunRequest, SimConfig,
    SimDuration, SimTime, StorageMode, Topology, Workload,
};
use dsim_protocols::two_phase_commit::{TpcSettings, TwoPhaseCommit, Variant, simulation};
use std::hint::black_box;

/// Coordinator plus 5 participants.
const NODES: usize = 6;
const CLIENTS: usize = 2;
const RATE_PER_S: f64 = 200.0;
const VIRTUAL_MS: u64 = 10_000;

fn config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        network: NetworkConfig {
            default_link: LinkModel {
                delay: Delay::LogNormal {
                    median_ns: 2e6,
                    sigma: 0.5,
                },
                drop_ratio: 0.01,
                duplicate_ratio: 0.01,
                order: LinkOrder::Unordered,
            },
            topology: Topology::FullMesh,
        },
        storage: StorageMode::KeepAll,
        message_log_limit: 0,
        load: None,
    }
}

fn workload() -> Workload {
    Workload {
        clients: CLIENTS,
        rate_per_s: RATE_PER_S,
        ..Workload::default()
    }
}

fn request(seed: u64) -> RunRequest {
    RunRequest {
        config: config(seed),
        nodes: NODES,
        variant: "correct".to_string(),
        params: Params::default(),
        workload: workload(),
        duration: SimDuration::from_millis(VIRTUAL_MS),
        faults: Vec::new(),
        trace: None,
        ops_sink: None,
    }
}

fn bench_two_phase_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_phase_commit_5_participants");
    group.throughput(Throughput::Elements(VIRTUAL_MS));
    group.sample_size(10);
    group.bench_function("engine_only", |b| {
        let settings =
            TpcSettings::from_params(&Params::default(), NODES, &workload(), Variant::Correct)
                .expect("valid settings");
        b.iter(|| {
            let mut sim = simulation(config(1), settings).expect("valid");
            sim.run_until(SimTime::ZERO + SimDuration::from_millis(VIRTUAL_MS))
                .expect("runs");
            black_box(sim.fingerprint())
        })
    });
    group.bench_function("run_and_check", |b| {
        b.iter(|| {
            let result = TwoPhaseCommit.run(request(1)).expect("runs");
            black_box(result.verdict.violations.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_two_phase_commit);
criterion_main!(benches);
