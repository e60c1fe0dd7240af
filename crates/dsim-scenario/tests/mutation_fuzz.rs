//! The audit's mutation fuzzer, as a bounded proptest: every shipped scenario, mutated
//! (lines deleted, duplicated or swapped, values replaced by huge, negative, NaN,
//! empty or unicode ones, stray characters inserted), must never panic `check`; a
//! refusal must say where; and a mutated file that `check` accepts must run (for a
//! tiny virtual duration) without failing.

use dsim_core::SimDuration;
use dsim_scenario::{Origin, Registry, RunOptions, Scenario, run_scenario};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Virtual time each accepted mutant runs for.
const RUN: SimDuration = SimDuration::from_millis(20);

/// Accepted mutants estimated above this (for the tiny run) are checked, not run.
const RUN_BYTES_MAX: u64 = 16 << 20;

/// Values a mutation writes after a `=`.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "0.5",
    "1.5",
    "\"\"",
    "\"0s\"",
    "\"1ns\"",
    "\"100000h\"",
    "\"-5ms\"",
    "\"NaNms\"",
    "\"1e400s\"",
    "\"ünïcødé 🎲\"",
    "true",
    "[]",
    "[[0, 1], [1, 2]]",
    "{}",
    "{ dist = \"pareto\", scale = \"0ns\", shape = 0 }",
    "\"9999999999999999999h\"",
    "\"5/0s\"",
];

fn shipped() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("regressions")] {
        for entry in std::fs::read_dir(&dir).expect("scenarios folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                let text = std::fs::read_to_string(&path).expect("readable");
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

/// One edit of a file's lines.
#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace the value after the line's first `=`.
    Value(usize, usize),
    /// Insert a character at a byte position (moved to a char boundary).
    Insert(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), 0..VALUES.len()).prop_map(|(line, value)| Mutation::Value(line, value)),
        (
            any::<usize>(),
            prop_oneof![
                Just('"'),
                Just('['),
                Just('='),
                Just('é'),
                Just('\u{0}'),
                Just('\n')
            ]
        )
            .prop_map(|(at, c)| Mutation::Insert(at, c)),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let n = lines.len();
    match *mutation {
        Mutation::Delete(i) => {
            lines.remove(i % n);
        }
        Mutation::Duplicate(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Mutation::Swap(a, b) => lines.swap(a % n, b % n),
        Mutation::Value(i, value) => {
            let line = &mut lines[i % n];
            if let Some((key, _)) = line.split_once('=') {
                *line = format!("{key}= {}", VALUES[value]);
            }
        }
        Mutation::Insert(at, c) => {
            let mut joined = lines.join("\n");
            let mut at = at % (joined.len() + 1);
            while !joined.is_char_boundary(at) {
                at -= 1;
            }
            joined.insert(at, c);
            return joined;
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_shipped_scenarios_never_panic_and_what_check_accepts_runs(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let files = shipped();
        let (path, original) = &files[file.index(files.len())];
        let text = mutations.iter().fold(original.clone(), |text, m| apply(&text, m));
        let registry = Registry::builtin();
        match Scenario::from_text(path, &text, &[], &registry) {
            Err(error) => {
                // A refusal names the file, and a line unless the file as a whole is bad.
                let positioned = match &error.origin {
                    Origin::File { path: at, line, .. } => at == path && *line >= 1,
                    Origin::WholeFile(at) => at == path,
                    Origin::Flag(_) => false,
                };
                prop_assert!(positioned, "unpositioned refusal: {error}");
                prop_assert!(error.to_string().len() < 2_000, "overlong error: {error}");
            }
            Ok(mut scenario) => {
                scenario.duration = scenario.duration.min(RUN);
                if scenario.memory_estimate_bytes(&registry) > RUN_BYTES_MAX {
                    return Ok(());
                }
                // check said yes, so the run must start and finish.
                let result = run_scenario(&registry, &scenario, RunOptions::default());
                prop_assert!(result.is_ok(), "check accepted but run failed: {:?}\n{text}", result.err());
            }
        }
    }
}
