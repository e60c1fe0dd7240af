//! Long runs: `paxos-nemesis` with `storage = "lose-unsynced"` for 10 s, 100 s and
//! 1,000 s of virtual time, in engine events per wall second (issue 16).
//!
//! The goal: a run's cost per event does not grow with its length, so the 1,000 s
//! figure stays at least 0.8x the 10 s one. Before the durable logs became persistent
//! vectors, every `Ctx::sync` copied a replica's whole log and a run was quadratic in
//! its length.
//!
//! One iteration loads `scenarios/paxos-nemesis.toml` with `duration`, `storage` and
//! `nemesis.stop` (80% of the duration, so faults keep coming through the whole run and
//! the last fifth is the liveness phase) overridden the way `--set` does, then runs and
//! judges it through `run_scenario`, the path `dsim run` takes (checkers included;
//! report files are not written). Criterion's throughput counts engine events, so its
//! `elem/s` is events per wall second; the bench also prints that figure from one timed
//! run per duration.
//!
//! Peak memory is not measured here; use the CLI, e.g.
//! `/usr/bin/time -v target/release/dsim run scenarios/paxos-nemesis.toml --set duration=1000s --set storage=lose-unsynced --set nemesis.stop=800s --out /tmp/long`
//! (`dsim sweep ... --seeds 42..42 --jobs 1` for the run and its checks without the
//! report). Measured on the 2-core machine (issue 16, point 3), peak RSS of `dsim run`:
//!
//! | virtual time | client ops | events | before | after |
//! |---|---|---|---|---|
//! | 10 s | 2,092 | 26,746 | 26 MB | 26 MB |
//! | 100 s | 22,282 | 286,921 | 133 MB | 121 MB |
//! | 1,000 s | 228,051 | 2,923,734 | 1,017 MB | 542 MB |
//!
//! Between 100 s and 1,000 s that is ~2,050 bytes per client operation (was ~4,300).
//! Events per CPU second of the run and its checks (`dsim sweep`, user + sys time,
//! seeds 1..50 / 1..5 / 42): 1.5 M at 10 s, 1.5 M at 100 s, 0.96 M at 1,000 s (0.6x;
//! before: 1.5 M, 1.3 M, 0.87 M).
//!
//! "Before" held every observation to the end (4.0 M at 1,000 s, 104 bytes each) and
//! judged them afterwards; now the Paxos checker is the engine's observation sink and
//! only the clients' operations are kept (see `LiveCheck`). What remains grows with the
//! run: the checker's per-slot state (~150 MB at 1,000 s), the kept operations (~59 MB),
//! the replicas' logs (~39 MB, until compaction lands) and, at the end, the history and
//! liveness checks (~265 MB transient); the message log for the explorer is capped
//! (400,000 messages, ~66 MB). The bench prints how many observations each run kept.
//!
//! Run: `cargo bench -p dsim-benches --bench long_run -- --warm-up-time 1 --measurement-time 5`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dsim_scenario::{Registry, RunOptions, Scenario, WorkLimit, run_scenario};
use std::hint::black_box;
use std::path::Path;

/// The scenario file, from the workspace root.
const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/paxos-nemesis.toml"
);

/// Virtual durations benched, in seconds.
const DURATIONS_S: [u64; 3] = [10, 100, 1_000];

/// The scenario run for `duration_s` virtual seconds, losing unsynced writes on crash.
fn scenario(registry: &Registry, text: &str, duration_s: u64) -> Scenario {
    let overrides = [
        format!("duration={duration_s}s"),
        "storage=lose-unsynced".to_string(),
        format!("nemesis.stop={}ms", duration_s * 800),
    ];
    Scenario::from_text_with_limit(
        Path::new(SCENARIO),
        text,
        &overrides,
        registry,
        WorkLimit::Lifted,
    )
    .expect("the overridden paxos-nemesis scenario is valid")
}

/// Runs and judges `scenario`; returns its engine event count and how many observations
/// the engine kept to the end.
fn run_once(registry: &Registry, scenario: &Scenario) -> (u64, usize) {
    let result = run_scenario(
        registry,
        scenario,
        RunOptions {
            trace: None,
            message_log_limit: Some(0),
        },
    )
    .expect("the run completes");
    assert!(
        result.verdict.violations.is_empty(),
        "correct Paxos holds every check on {}",
        scenario.name
    );
    (
        result.output.counters.events,
        result.output.observations.len(),
    )
}

#[allow(clippy::disallowed_methods)] // the wall clock is what a bench measures
fn print_rates(registry: &Registry, text: &str) {
    for duration_s in DURATIONS_S {
        let scenario = scenario(registry, text, duration_s);
        let start = std::time::Instant::now();
        let (events, kept) = run_once(registry, &scenario);
        let wall_s = start.elapsed().as_secs_f64();
        println!(
            "long_run: {duration_s} virtual s, {events} events in {wall_s:.3} wall s = {:.0} events/s; {kept} observations kept to the end",
            events as f64 / wall_s
        );
    }
}

fn long_run(c: &mut Criterion) {
    let registry = Registry::builtin();
    let text = std::fs::read_to_string(SCENARIO).expect("scenarios/paxos-nemesis.toml reads");
    print_rates(&registry, &text);
    let mut group = c.benchmark_group("long_run");
    group.sample_size(10);
    for duration_s in DURATIONS_S {
        let scenario = scenario(&registry, &text, duration_s);
        let (events, _) = run_once(&registry, &scenario);
        group.throughput(Throughput::Elements(events));
        group.bench_function(format!("paxos_nemesis_lose_unsynced_{duration_s}s"), |b| {
            b.iter(|| run_once(&registry, black_box(&scenario)))
        });
    }
    group.finish();
}

criterion_group!(benches, long_run);
criterion_main!(benches);
