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
//! `/usr/bin/time -v target/release/dsim run scenarios/paxos-nemesis.toml --set duration=1000s --set storage=lose-unsynced --set nemesis.stop=800000ms --out /tmp/long`
//! (`dsim sweep ... --seeds 42..42 --jobs 1` for the run and its checks without the
//! report). Measured on the shared 2-core machine, release build, seed 42 (issue 16,
//! points 3 and 4), peak RSS of `dsim run`: "before" is main before the memory work,
//! "round 1" after its first round, "round 2" with the message log's labels held
//! inline, "round 3" with operations paired as they happen, "now" with the message
//! log's labels in one shared arena (fourth round):
//!
//! | virtual time | client ops | events | before | round 1 | round 2 | round 3 | now | now, `dsim sweep` (no report) |
//! |---|---|---|---|---|---|---|---|---|
//! | 10 s | 2,178 | 28,752 | 27 MB | 22 MB | 20 MB | 17 MB | 15 MB | 15 MB (seeds 1..50, round 3) |
//! | 100 s | 22,779 | 307,114 | 127 MB | 87 MB | 74 MB | 53 MB | 42 MB | 26 MB (seeds 1..5, round 3) |
//! | 1,000 s | 235,189 | 3,126,633 | 585 MB | 199 MB | 184 MB | 129 MB | 114 MB | 94 MB (round 2: 150 MB) |
//!
//! The goal, under 100 MB + 100 bytes per client operation (~124 MB here), is met:
//! 114 MB. Between 100 s and 1,000 s `dsim run` grows ~340 bytes per client operation
//! (round 3: ~370; round 2: ~520; before: ~2,200). What the fourth round changed: the
//! message log (`dsim_core::MessageLog`, up to 400,000 records in a `dsim run`) keeps
//! a record in 40 bytes instead of 88: a label's text is no longer held in its record
//! but in one byte arena for the whole log, and a label equal to the one last stored
//! in its slot of a 4,096-slot table (by the text's hash) is not stored again, which
//! most are (a Paxos `Accept` or `Accepted` label is cut at 48 bytes before its slot
//! number, so all of a ballot's look alike; only client requests, which carry their
//! value, differ). The 1,000 s run's peak fell 15 MB: the log's 400,000 records take 16
//! MB instead of 35, plus the text of the labels that differ; `report.html` and every other output file are byte-identical
//! to the third round's (`paxos-nemesis` at 10 s and 1,000 s, `2pc-nemesis`,
//! `lock-nemesis`, `clock-skew-lease`, `mapreduce-nemesis`, `mapreduce-worker-failures`,
//! `queue-mm1`, `paxos-leader-crash`, `metastable-retry-storm`). `dsim sweep` logs
//! only 200 messages a run, so its figure does not move. What the third round changed: the engine pairs
//! each operation's invocation and completion into one record the moment they are
//! observed (`RunOutput::ops`, ~192 bytes an operation plus its values' heap blocks),
//! and the checkers release the observations, so an operation is no longer held as two
//! ~104-byte observation records and then, while the report paired them, as an ops-table
//! row too (183 -> 175 MB); the report renders its charts and explorer one after the
//! other instead of on threads whose allocator arenas each kept their peak (-> 144 MB);
//! the Paxos checker lets its slot and command tables go before the end-of-run history
//! check (-> 138 MB); the explorer's data goes straight into the page, never held twice
//! (-> 129 MB). Where the 1,000 s run's memory is now (heaptrack, heap 135 MB at the
//! peak, at the end-of-run history check; the report's explorer is a second peak of the
//! same height): the operation records (~45 MB), the message log (400,000 records of
//! 88 bytes, ~35 MB; not yet streamed to disk), one key's history and its memo (~25 MB),
//! the cas arguments' and results' list blocks (~5 MB). (Fourth round: the message log's
//! records are now 16 MB, plus the text of the labels that differ.)
//! What is held and what is streamed (fifth round): `dsim run` writes `ops.csv` and
//! `history.edn` during the run, as the engine pairs each operation (the `ops.csv`
//! writer holds only the rows from the oldest open operation on), and the trace when
//! asked; the operation records themselves are still held to the end, because the
//! end-of-run history checks and the report's summary, timeline, charts and explorer
//! read them, and so is the message log (up to 400,000 records). So streaming the two
//! files does not lower the peak: 1,000 s, seed 42, peak RSS 112.7 MB against 112.1 MB
//! for main's binary run beside it (twice each; the output folders byte-identical but
//! `perf.csv`).
//! Events per CPU second of the run and its checks (`dsim sweep --jobs 1`, user + sys
//! time; seeds 1..50 at 10 s, 1..5 at 100 s, 42 at 1,000 s): before 1.66 M, 1.48 M,
//! 1.15 M (0.70x); round 1 1.95 M, 1.86 M, 1.60 M (0.82x); round 2 1.93 M, 1.93 M,
//! 1.64 M (0.85x); now 2.11 M, 1.97 M, 1.68 M (0.80x; round 2's binary measured beside
//! it: 1.99 M, 1.84 M, 1.61 M, 0.81x: the spread is the shared machine's).
//!
//! Where the 1,000 s run's memory went before round 2 (heaptrack, heap at the peak,
//! 569 MB): the linearizability memo (204 MB: each entry held a bit set over the whole
//! key's operations, so the memo grew with the square of the run; now a run of full
//! words plus the rest), the Paxos checker's per-slot maps (~105 MB; now 32-byte slot
//! records in chunks, 4 bytes per command, and the votes of a chosen value dropped), a
//! second full copy of the client history for the checks (59 MB; now one key at a
//! time), the kept client observations (55 MB; now paired records), the explorer's
//! message log (65 MB: labels kept the capacity of the message's whole `Debug` text;
//! now 48 bytes at most) and the report's ops table copying the observations' values
//! (48 MB; now the engine's records are the table).
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

/// Runs and judges `scenario`; returns its engine event count, how many observations
/// the engine kept to the end, and how many client operations it paired.
fn run_once(registry: &Registry, scenario: &Scenario) -> (u64, usize, usize) {
    let result = run_scenario(
        registry,
        scenario,
        RunOptions {
            trace: None,
            ops_sink: None,
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
        result.output.ops.len(),
    )
}

#[allow(clippy::disallowed_methods)] // the wall clock is what a bench measures
fn print_rates(registry: &Registry, text: &str) {
    for duration_s in DURATIONS_S {
        let scenario = scenario(registry, text, duration_s);
        let start = std::time::Instant::now();
        let (events, kept, ops) = run_once(registry, &scenario);
        let wall_s = start.elapsed().as_secs_f64();
        println!(
            "long_run: {duration_s} virtual s, {events} events in {wall_s:.3} wall s = {:.0} events/s; {kept} observations kept to the end, {ops} operations paired",
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
        let (events, _, _) = run_once(&registry, &scenario);
        group.throughput(Throughput::Elements(events));
        group.bench_function(format!("paxos_nemesis_lose_unsynced_{duration_s}s"), |b| {
            b.iter(|| run_once(&registry, black_box(&scenario)))
        });
    }
    group.finish();
}

criterion_group!(benches, long_run);
criterion_main!(benches);
