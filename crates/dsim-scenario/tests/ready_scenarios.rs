//! Every ready scenario under `scenarios/` loads, runs, and holds every check with its
//! own variant; the showcase scenarios keep their golden fingerprints, so a change that
//! alters a seeded run is a deliberate, reviewed change (update the table below and say
//! why in the commit).

use dsim_core::fingerprint_hex;
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::{Path, PathBuf};

fn ready_scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

/// (scenario file, fingerprint of its run with its own seed), taken from a release
/// build of `dsim run`; the test runs them in a debug build, so it also checks that the
/// build profile does not change a run. `bench-hold` is cut short here and not pinned.
const GOLDEN: &[(&str, &str)] = &[
    ("2pc-coordinator-crash-in-doubt.toml", "b2c8c796323d1e28"),
    ("2pc-lossy.toml", "eebdd52ed7e5f8cf"),
    ("2pc-nemesis.toml", "03d40124d53f1edf"),
    ("clock-skew-lease.toml", "04e1add73e61e999"),
    ("fail-slow-leader.toml", "b613da7b09c510d4"),
    ("lock-master-failover.toml", "0c56f13db9a0a181"),
    ("lock-nemesis.toml", "999d3486601030aa"),
    ("lock-pause-without-fencing.toml", "8027396d2caa51bd"),
    ("mapreduce-nemesis.toml", "83e4fa8802757c72"),
    ("mapreduce-stragglers-backup.toml", "11c2d1865853f61b"),
    ("mapreduce-worker-failures.toml", "dab914117e27e10c"),
    ("paxos-dueling-proposers.toml", "e75ca69854d73503"),
    ("paxos-latency-vs-load.toml", "ce998fbefb0b4445"),
    ("paxos-leader-crash.toml", "18c298dacb1bb6a1"),
    ("paxos-minority-partition.toml", "1f23bfb223fb81ca"),
    ("paxos-nemesis.toml", "cb3849e894bde272"),
    ("metastable-retry-storm.toml", "0b9d350756b18dc5"),
    ("queue-mm1.toml", "3ebadf3d35d0d6cb"),
];

#[test]
fn every_ready_scenario_runs_clean_with_its_own_variant() {
    let registry = Registry::builtin();
    let files = ready_scenarios();
    assert!(files.len() >= 8, "only {} ready scenarios", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let mut scenario = Scenario::load(path, &[], &registry).unwrap_or_else(|e| panic!("{e}"));
        // The engine benchmark is long by design; a slice of it is enough here.
        if scenario.kind == "hold" {
            scenario.duration = dsim_core::SimDuration::from_millis(20);
        }
        // The paper-scale MapReduce showcases take a minute each: they load here, and
        // mapreduce_fig3.rs runs them at 1/20 scale.
        if path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("mapreduce-paper-fig3"))
        {
            continue;
        }
        let result = run_scenario(&registry, &scenario, RunOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let header = std::fs::read_to_string(path).expect("readable");
        // A ready scenario that plants a bug says so in its variant; all others must hold.
        if scenario.variant == "correct" && !result.verdict.violations.is_empty() {
            failures.push(format!(
                "{}: {:?}",
                path.display(),
                result.verdict.violations.first()
            ));
        }
        assert!(
            header.starts_with('#'),
            "{} has no comment header",
            path.display()
        );
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if scenario.kind != "hold" {
            assert!(
                GOLDEN.iter().any(|(file, _)| *file == name),
                "{name} has no golden fingerprint: add it to GOLDEN"
            );
        }
        if let Some((_, golden)) = GOLDEN.iter().find(|(file, _)| *file == name) {
            assert_eq!(
                fingerprint_hex(result.output.fingerprint),
                *golden,
                "{name}: the seeded run changed; if that is intended, update GOLDEN and say why"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
