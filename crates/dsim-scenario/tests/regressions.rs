//! Every scenario under `scenarios/regressions/` — a shrunk or hand-made reproduction of
//! a bug dsim found in itself, with its post-mortem in the header — runs, and every
//! `# expect: <column> <op> <number>` line of its header holds against its summary row
//! (`op` is one of `=`, `>=`, `<=`, `>`, `<`). Each file also must hold every check.

use dsim_report::{RunMeta, Summary};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::{Path, PathBuf};

fn regression_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("regressions folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn holds(value: f64, op: &str, expected: f64) -> bool {
    match op {
        "=" => value == expected,
        ">=" => value >= expected,
        "<=" => value <= expected,
        ">" => value > expected,
        "<" => value < expected,
        other => panic!("unknown operator {other:?} in an expect line"),
    }
}

#[test]
fn every_regression_holds_its_expectations() {
    let registry = Registry::builtin();
    let files = regression_files();
    assert!(!files.is_empty(), "no regression scenarios");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let expectations: Vec<(String, String, f64)> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# expect:"))
            .map(|rule| {
                let parts: Vec<&str> = rule.split_whitespace().collect();
                assert_eq!(
                    parts.len(),
                    3,
                    "{}: bad expect line {rule:?}",
                    path.display()
                );
                let number = parts[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: bad number in {rule:?}", path.display()));
                (parts[0].to_string(), parts[1].to_string(), number)
            })
            .collect();
        assert!(
            !expectations.is_empty(),
            "{} states no expectation",
            path.display()
        );
        assert!(
            text.contains("What broke") && text.contains("Fix"),
            "{} has no post-mortem",
            path.display()
        );
        let scenario = Scenario::load(&path, &[], &registry).unwrap_or_else(|e| panic!("{e}"));
        let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
        let meta = RunMeta {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            ..RunMeta::default()
        };
        let summary = Summary::from_run(&meta, &result);
        let header = summary.header();
        let values = summary.values();
        for (column, op, expected) in expectations {
            let index = header
                .iter()
                .position(|c| *c == column)
                .unwrap_or_else(|| panic!("{}: no column {column}", path.display()));
            let value: f64 = values[index].parse().unwrap_or_else(|_| {
                panic!(
                    "{}: {column} = {:?} is not a number",
                    path.display(),
                    values[index]
                )
            });
            assert!(
                holds(value, &op, expected),
                "{}: expected {column} {op} {expected}, found {value}",
                path.display()
            );
        }
    }
}
