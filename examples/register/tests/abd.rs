//! The ABD register judged by the linearizability checker over seeds: the correct
//! algorithm always passes, the `no-write-back` variant is caught within a bounded
//! sweep and shrinks (through the library path `dsim-register shrink` uses) to a
//! smaller scenario that still fails the same check.

use dsim_register::registry;
use dsim_scenario::emit::emit;
use dsim_scenario::shrink::{active_clients, shrink};
use dsim_scenario::{RunOptions, Scenario, run_scenario};
use std::path::Path;

fn scenario(sets: &[&str]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("register.toml");
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Scenario::load(&path, &sets, &registry()).unwrap_or_else(|e| panic!("{e}"))
}

fn checks(scenario: &Scenario) -> Vec<&'static str> {
    let result = run_scenario(&registry(), scenario, RunOptions::default()).expect("runs");
    result.verdict.violations.iter().map(|v| v.check).collect()
}

#[test]
fn correct_abd_histories_are_linearizable_on_every_seed() {
    let registry = registry();
    let mut base = scenario(&[]);
    for seed in 1..=30 {
        base.seed = seed;
        let result = run_scenario(&registry, &base, RunOptions::default()).expect("runs");
        // A violation here means ABD (with write-back, through crashes and a
        // partition) produced a history the register model cannot explain.
        assert!(
            result.verdict.violations.is_empty(),
            "seed {seed}: {:?}",
            result.verdict.violations
        );
        // The check had something to judge: reads that saw written values.
        let reads_of_writes = result
            .output
            .observations
            .iter()
            .filter(|r| {
                matches!(&r.observation, dsim_core::Observation::OpCompleted { ret, .. }
                    if *ret != dsim_core::Value::Nil)
            })
            .count();
        assert!(reads_of_writes > 50, "seed {seed}: {reads_of_writes}");
    }
}

#[test]
fn no_write_back_is_caught_by_linearizability_and_shrinks_to_a_smaller_failing_scenario() {
    let registry = registry();
    let mut base = scenario(&["protocol.variant=no-write-back"]);
    let seed = (1..=40)
        .find(|&seed| {
            base.seed = seed;
            !checks(&base).is_empty()
        })
        .expect("no-write-back must show a new-old inversion within seeds 1..=40");
    base.seed = seed;
    // Only the history check can see the bug: no node misbehaves by its own account.
    assert_eq!(checks(&base), vec!["linearizable"], "seed {seed}");
    // The violation carries the failing window's operations as data (ops.csv op ids),
    // each of them a read or write the details name.
    let result = run_scenario(&registry, &base, RunOptions::default()).expect("runs");
    let violation = &result.verdict.violations[0];
    assert!(!violation.ops.is_empty(), "{violation:?}");
    for id in &violation.ops {
        assert!(
            violation.details.contains(&format!("op {id}: ")),
            "{violation:?}"
        );
    }

    let outcome = shrink(&registry, &base, &mut |_| {}).expect("shrinks");
    let minimal = &outcome.scenario;
    assert_eq!(outcome.check, "linearizable");
    // Smaller: a shorter run, fewer fault windows or fewer active clients. A shrink
    // that kept everything would fail this.
    let smaller = minimal.duration < base.duration
        || outcome.windows < outcome.original_windows
        || active_clients(&minimal.workload).len() < active_clients(&base.workload).len();
    assert!(
        smaller,
        "seed {seed}: nothing removed ({} -> {})",
        base.duration, minimal.duration
    );
    assert!(minimal.duration <= base.duration);
    assert!(outcome.windows <= outcome.original_windows);
    // The file shrink writes reads back and still fails the same check, same seed.
    let text = emit(minimal, &minimal.faults, false, "test");
    let reread = Scenario::from_text(Path::new("min.toml"), &text, &[], &registry)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(reread.seed, seed);
    assert!(checks(&reread).contains(&"linearizable"), "{text}");
}

#[test]
fn the_same_seed_gives_the_same_fingerprint() {
    let registry = registry();
    let base = scenario(&["protocol.variant=no-write-back"]);
    let a = run_scenario(&registry, &base, RunOptions::default()).expect("runs");
    let b = run_scenario(&registry, &base, RunOptions::default()).expect("runs");
    // Any hash-order or wall-clock dependence in the example would split these.
    assert_eq!(a.output.fingerprint, b.output.fingerprint);
    assert_eq!(a.verdict, b.verdict);
}

#[test]
fn an_unknown_variant_is_refused_with_the_names_allowed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("register.toml");
    let error = Scenario::load(
        &path,
        &["protocol.variant=no-writeback".to_string()],
        &registry(),
    )
    .expect_err("a typo in the variant is refused")
    .to_string();
    assert!(error.contains("no-write-back"), "{error}");
}
