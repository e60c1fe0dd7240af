//! Loading a scenario file with many `[[faults]]` tables, as `--emit-scenario` writes
//! for a busy nemesis run.
//!
//! One iteration parses and validates a file of [`FAULTS`] fault tables (isolate and
//! heal in turn, 5 ms apart) through `Scenario::from_text`, the path `dsim check` and
//! `dsim run` take. Before positions were looked up in a line index, each value's
//! position was found by scanning the text before it, so loading grew with the square
//! of the file size (16,000 faults took over 10 s in a release build).
//!
//! Run: `cargo bench -p dsim-benches --bench scenario_load -- --warm-up-time 1 --measurement-time 3`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dsim_scenario::{Registry, Scenario};
use std::hint::black_box;
use std::path::Path;

/// Fault tables in the generated file.
const FAULTS: usize = 16_000;

/// A valid scenario with `faults` fault tables.
fn scenario_text(faults: usize) -> String {
    let mut text = String::from(
        "name = \"many-faults\"\nduration = \"100s\"\n[protocol]\nkind = \"hold\"\nnodes = 4\n",
    );
    for index in 0..faults {
        let action = if index % 2 == 0 {
            "isolate = 1"
        } else {
            "heal = true"
        };
        text.push_str(&format!(
            "\n[[faults]]\nat = \"{}ms\"\n{action}\n",
            index * 5
        ));
    }
    text
}

fn load(c: &mut Criterion) {
    let registry = Registry::builtin();
    let text = scenario_text(FAULTS);
    let mut group = c.benchmark_group("scenario_load");
    group.throughput(Throughput::Elements(FAULTS as u64));
    group.sample_size(10);
    group.bench_function("16000_faults", |b| {
        b.iter(|| {
            let scenario =
                Scenario::from_text(Path::new("many.toml"), black_box(&text), &[], &registry)
                    .expect("the generated scenario is valid");
            assert_eq!(scenario.faults.len(), FAULTS);
            scenario
        })
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
