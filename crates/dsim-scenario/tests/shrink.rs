//! Every buggy variant of every protocol shrinks, from a failing nemesis seed, to a
//! scenario of at most three faults that still fails the same check and reads back.
//! A fault here is a fault window: a crash with its restart, a partition, cut or
//! isolation with its heal (see `dsim_scenario::shrink::fault_windows`).

use dsim_scenario::emit::emit;
use dsim_scenario::shrink::shrink;
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::Path;

/// (nemesis scenario, variant).
const BUGS: &[(&str, &str)] = &[
    ("paxos-nemesis.toml", "no-adopt"),
    ("paxos-nemesis.toml", "seed-naive"),
    ("2pc-nemesis.toml", "no-durable-decision"),
    ("2pc-nemesis.toml", "commit-on-timeout"),
    ("2pc-nemesis.toml", "seed-naive"),
    ("mapreduce-nemesis.toml", "seed-naive"),
    ("lock-nemesis.toml", "no-fencing"),
    ("lock-nemesis.toml", "seed-naive"),
];

fn scenario(file: &str, variant: &str, registry: &Registry) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(file);
    Scenario::load(&path, &[format!("protocol.variant={variant}")], registry)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_buggy_variant_shrinks_to_at_most_three_faults() {
    let registry = Registry::builtin();
    let mut report = Vec::new();
    for &(file, variant) in BUGS {
        let mut base = scenario(file, variant, &registry);
        // The first failing seed of 1..=100.
        let seed = (1..=100)
            .find(|&seed| {
                base.seed = seed;
                let result = run_scenario(&registry, &base, RunOptions::default()).expect("runs");
                !result.verdict.violations.is_empty()
            })
            .unwrap_or_else(|| panic!("{variant} on {file}: no failing seed in 1..=100"));
        base.seed = seed;
        let outcome = shrink(&registry, &base, &mut |_| {}).expect("shrinks");
        let minimal = &outcome.scenario;
        report.push(format!(
            "{variant:>20} on {file:<24} seed {seed:>3}: {} -> {} fault windows ({} -> {} entries), {} -> {}, check {}",
            outcome.original_windows,
            outcome.windows,
            outcome.original_faults,
            minimal.faults.len(),
            outcome.original_duration,
            minimal.duration,
            outcome.check
        ));
        // At most three faults: the bug needs very little to show.
        assert!(outcome.windows <= 3, "{}", report.last().expect("line"));
        assert!(minimal.duration <= outcome.original_duration);
        // The written file reads back and still fails the same check.
        let text = emit(minimal, &minimal.faults, false, "test");
        let reread = Scenario::from_text(Path::new("min.toml"), &text, &[], &registry)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let result = run_scenario(&registry, &reread, RunOptions::default()).expect("runs");
        assert!(
            result
                .verdict
                .violations
                .iter()
                .any(|v| v.check == outcome.check),
            "{variant}: the shrunk file no longer fails {}",
            outcome.check
        );
    }
    println!("{}", report.join("\n"));
}
