//! Tests of the sweep statistics, the sweep report and the comparison of sweeps, on
//! sweep tables built by hand with known values.

use dsim_report::sweep::{
    COMPARISON_COLUMNS, SweepStats, SweepTable, write_comparison, write_sweep_report,
};
use std::fs;
use std::path::{Path, PathBuf};

/// The columns a sweep table has: the summary columns the statistics read, then the
/// first violation as `dsim sweep` appends it.
const HEADER: [&str; 11] = [
    "scenario",
    "protocol",
    "variant",
    "seed",
    "latency_p50_ns",
    "latency_p99_ns",
    "formula",
    "formula_value",
    "violations",
    "first_violation_check",
    "first_violation_ns",
];

/// The replay command of a seed of the demo sweep, without `--seed N`.
const REPLAY: &str = "dsim run scenarios/demo.toml --set protocol.variant=seed-naive";

/// One row per seed, in `HEADER` order; "" for an empty cell.
struct Seed {
    seed: u64,
    p50_ns: &'static str,
    p99_ns: &'static str,
    formula_value: &'static str,
    violations: u64,
    check: &'static str,
    first_ns: &'static str,
}

fn table(seeds: &[Seed]) -> SweepTable {
    let rows = seeds
        .iter()
        .map(|s| {
            vec![
                "demo".to_string(),
                "two_phase_commit".to_string(),
                "seed-naive".to_string(),
                s.seed.to_string(),
                s.p50_ns.to_string(),
                s.p99_ns.to_string(),
                "T".to_string(),
                s.formula_value.to_string(),
                s.violations.to_string(),
                s.check.to_string(),
                s.first_ns.to_string(),
            ]
        })
        .collect();
    SweepTable::new(HEADER.iter().map(|h| h.to_string()).collect(), rows)
}

/// Five seeds with known values: two violate (seeds 2 and 4), one has no ok operation.
fn five_seeds() -> SweepTable {
    let seed = |seed, p50_ns, p99_ns, formula_value, violations, check, first_ns| Seed {
        seed,
        p50_ns,
        p99_ns,
        formula_value,
        violations,
        check,
        first_ns,
    };
    table(&[
        seed(1, "30000000", "100000000", "10000000", 0, "", ""),
        seed(
            2,
            "10000000",
            "400000000",
            "20000000",
            2,
            "validity",
            "700000000",
        ),
        seed(3, "50000000", "200000000", "30000000", 0, "", ""),
        seed(
            4,
            "20000000",
            "300000000",
            "60000000",
            1,
            "atomicity",
            "300000000",
        ),
        seed(5, "40000000", "", "", 0, "", ""),
    ])
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sweep_stats_count_violating_seeds_and_take_nearest_rank_medians() {
    let stats = SweepStats::of(&five_seeds());
    assert_eq!(stats.seeds, 5);
    // Seeds 2 and 4 have violations > 0; counting rows or non-zero cells wrongly
    // would give another count or rate.
    assert_eq!(stats.violating, 2);
    assert_eq!(stats.violation_rate, 0.4);
    assert_eq!(stats.formula, "T");
    // p50s sorted: 10, 20, 30, 40, 50 ms; rank ceil(0.5 * 5) = 3 gives 30 ms.
    assert_eq!(
        stats.p50_ns,
        vec![10_000_000, 20_000_000, 30_000_000, 40_000_000, 50_000_000]
    );
    assert_eq!(stats.median_p50_ns(), Some(30_000_000));
    // Four p99s (seed 5 has none): rank ceil(0.5 * 4) = 2 gives 200 ms, where an
    // interpolating median would give 250 ms and counting the empty cell would shift it.
    assert_eq!(stats.median_p99_ns(), Some(200_000_000));
    // Mean of 10, 20, 30, 60 ms over the four seeds with a value.
    assert_eq!(stats.mean_formula(), Some(30_000_000.0));
    // Sorted 300, 700 ms: rank 1 of 2 is 300 ms.
    assert_eq!(stats.first_violation_ns, vec![300_000_000, 700_000_000]);
    assert_eq!(stats.median_first_violation_ns(), Some(300_000_000));
}

#[test]
fn sweep_stats_of_an_empty_table_are_zero_and_absent() {
    let stats = SweepStats::of(&SweepTable::new(Vec::new(), Vec::new()));
    // No seeds must not divide by zero nor invent medians.
    assert_eq!((stats.seeds, stats.violating), (0, 0));
    assert_eq!(stats.violation_rate, 0.0);
    assert_eq!(stats.median_p50_ns(), None);
    assert_eq!(stats.mean_formula(), None);
}

#[test]
fn sweep_report_writes_every_chart_as_svg_and_png_and_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_sweep_report(dir.path(), "demo", &five_seeds(), REPLAY).unwrap();
    // The list is what the CLI prints; a missing chart or format would show here.
    assert_eq!(
        names(&files),
        [
            "sweep_violations.svg",
            "sweep_violations.png",
            "sweep_formula.svg",
            "sweep_formula.png",
            "sweep_latency.svg",
            "sweep_latency.png",
            "sweep.html",
        ]
    );
    for file in &files {
        let bytes = fs::read(file).unwrap();
        if file.extension().is_some_and(|e| e == "png") {
            // A PNG signature: the bitmap encoder wrote a real image.
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", file.display());
        }
    }
    // No temporary file is left behind by the atomic writes.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sweep_report_is_byte_identical_across_calls() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let table = five_seeds();
    let a = write_sweep_report(first.path(), "demo", &table, REPLAY).unwrap();
    let b = write_sweep_report(second.path(), "demo", &table, REPLAY).unwrap();
    assert_eq!(names(&a), names(&b));
    for (a, b) in a.iter().zip(&b) {
        // Any HashMap iteration, timestamp or path in the output would differ here.
        assert!(
            fs::read(a).unwrap() == fs::read(b).unwrap(),
            "{} differs between two calls",
            a.display()
        );
    }
}

#[test]
fn sweep_charts_carry_their_titles_and_values() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep_report(dir.path(), "demo", &five_seeds(), REPLAY).unwrap();
    let formula = read(&dir.path().join("sweep_formula.svg"));
    // The formula's name comes from the table, its mean (30 ms) and median (rank 2 of
    // 4: 20 ms) from the values; a wrong column or statistic changes these labels.
    assert!(
        formula.contains("demo: formula T across seeds"),
        "{formula}"
    );
    assert!(formula.contains("mean = 30 ms"));
    assert!(formula.contains("median = 20 ms"));
    assert!(formula.contains("4 of 5 seeds have a value"));
    let latency = read(&dir.path().join("sweep_latency.svg"));
    assert!(latency.contains("demo: p50 and p99 latency of each seed, across seeds"));
    assert!(latency.contains("p50 latency of each seed (median 30 ms)"));
    assert!(latency.contains("p99 latency of each seed (median 200 ms)"));
    let violations = read(&dir.path().join("sweep_violations.svg"));
    assert!(violations.contains("demo: violations across 5 seeds"));
    assert!(violations.contains("2 of 5 seeds (40.0%) violated at least one check"));
    assert!(violations.contains("3 (60.0%)"));
    // One bar per first violated check, and the median time to the first violation.
    assert!(violations.contains("\natomicity\n") && violations.contains("\nvalidity\n"));
    assert!(violations.contains("median 300 ms"));
    assert!(!violations.contains("no data"));
}

#[test]
fn sweep_page_shows_rate_statistics_and_failing_seeds() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep_report(dir.path(), "demo <&>", &five_seeds(), REPLAY).unwrap();
    let page = read(&dir.path().join("sweep.html"));
    // The name is escaped: raw, it would inject markup.
    assert!(page.contains("<h1>Sweep demo &lt;&amp;&gt;</h1>"));
    assert!(!page.contains("demo <&>"));
    assert!(page.contains("<b>5</b> seeds (seeds 1..=5)"));
    assert!(page.contains("Violation rate 40.0%: 2 of 5 seeds violated a check"));
    // Aggregate statistics, in human units with exact nanoseconds.
    assert!(page.contains("30 ms (30000000 ns)"), "median p50");
    assert!(page.contains("200 ms (200000000 ns)"), "median p99");
    assert!(page.contains("mean formula value (T)</th><td class=\"value\">30 ms (30000000 ns)"));
    assert!(
        page.contains("300 ms (300000000 ns)"),
        "median first violation"
    );
    // Failing seeds: 2 then 4 (table order), each with its check, time and replay.
    let failing = &page[page.find("id=\"failing-seeds\"").expect("failing table")..];
    let two = failing
        .find("<td><code>dsim run scenarios/demo.toml --set protocol.variant=seed-naive --seed 2</code></td>")
        .expect("seed 2 listed with its exact replay command");
    let four = failing.find("--seed 4</code>").expect("seed 4 listed");
    assert!(two < four);
    assert!(!failing.contains("--seed 1<") && !failing.contains("--seed 3<"));
    assert!(failing.contains("<td>validity</td><td>700 ms</td><td class=\"value\">700000000</td>"));
    // Checks table ordered by name.
    let checks = &page[page.find("id=\"checks\"").expect("checks table")..];
    assert!(checks.find("atomicity").unwrap() < checks.find("validity").unwrap());
    // Self-contained: the charts are inline, nothing is fetched.
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(!page.contains("src=\"http") && !page.contains("<script"));
}

#[test]
fn sweep_page_lists_at_most_one_hundred_failing_seeds() {
    let seeds: Vec<Seed> = (1..=150)
        .map(|seed| Seed {
            seed,
            p50_ns: "1000",
            p99_ns: "2000",
            formula_value: "1500",
            violations: 1,
            check: "agreement",
            first_ns: "5000",
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_sweep_report(dir.path(), "many", &table(&seeds), REPLAY).unwrap();
    let page = read(&dir.path().join("sweep.html"));
    // A page listing thousands of seeds would be unreadable; the cap says so.
    assert_eq!(
        page.matches(
            "<td><code>dsim run scenarios/demo.toml --set protocol.variant=seed-naive --seed "
        )
        .count(),
        100
    );
    assert!(page.contains("--seed 100</code>") && !page.contains("--seed 101</code>"));
    assert!(page.contains("The first 100 of 150 failing seeds"));
}

#[test]
fn sweep_page_lists_failing_seeds_by_seed_whatever_the_row_order() {
    // A sweep's journal holds rows in completion order, which varies with threads; a
    // page that followed it would differ between equal sweeps.
    let sorted = five_seeds();
    let mut shuffled = sorted.clone();
    shuffled.rows.reverse();
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_sweep_report(first.path(), "demo", &sorted, REPLAY).unwrap();
    write_sweep_report(second.path(), "demo", &shuffled, REPLAY).unwrap();
    assert_eq!(
        read(&first.path().join("sweep.html")),
        read(&second.path().join("sweep.html"))
    );
}

#[test]
fn replay_commands_add_swarm_for_swarm_tables_and_are_escaped() {
    let mut table = five_seeds();
    table.header.push("swarm_faults".to_string());
    for row in &mut table.rows {
        row.push("crash+pause".to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    write_sweep_report(dir.path(), "demo", &table, "dsim run 'my dir/x.toml'").unwrap();
    let page = read(&dir.path().join("sweep.html"));
    // Without --swarm the command would replay the scenario's own nemesis, not the
    // seed's swarm draw; unescaped quotes would break the page's markup.
    assert!(
        page.contains("<td><code>dsim run &#39;my dir/x.toml&#39; --seed 2 --swarm</code></td>")
    );
    assert!(page.contains(
        "Replay one with <code>dsim run &#39;my dir/x.toml&#39; --seed N --swarm</code>"
    ));
}

#[test]
fn empty_sweep_tables_render_no_data_charts() {
    // Without rows, with and without a header: both must give a report, not an error.
    for table in [
        SweepTable::new(Vec::new(), Vec::new()),
        SweepTable::new(HEADER.iter().map(|h| h.to_string()).collect(), Vec::new()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let files = write_sweep_report(dir.path(), "empty", &table, REPLAY).unwrap();
        assert_eq!(files.len(), 7);
        for chart in ["sweep_formula", "sweep_latency", "sweep_violations"] {
            let svg = read(&dir.path().join(format!("{chart}.svg")));
            assert!(svg.contains("no data"), "{chart}");
            assert!(svg.contains("The sweep has no seeds."), "{chart}");
        }
        let page = read(&dir.path().join("sweep.html"));
        assert!(page.contains("<b>0</b> seeds (no seeds)"));
        assert!(!page.contains("id=\"failing\""));
    }
}

#[test]
fn seeds_without_operations_give_no_data_latency_and_formula_charts() {
    // A hold sweep: every seed ran, none had client operations or a formula value.
    let seeds: Vec<Seed> = (1..=3)
        .map(|seed| Seed {
            seed,
            p50_ns: "",
            p99_ns: "",
            formula_value: "",
            violations: 0,
            check: "",
            first_ns: "",
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_sweep_report(dir.path(), "hold", &table(&seeds), REPLAY).unwrap();
    let latency = read(&dir.path().join("sweep_latency.svg"));
    assert!(latency.contains("None of the 3 seeds completed an operation ok"));
    let formula = read(&dir.path().join("sweep_formula.svg"));
    assert!(formula.contains("None of the 3 seeds has a formula value"));
    // The violations chart still has data: three clean seeds.
    let violations = read(&dir.path().join("sweep_violations.svg"));
    assert!(!violations.contains("no data"));
    assert!(violations.contains("3 (100.0%)"));
    assert!(violations.contains("no seed violated a check"));
    let page = read(&dir.path().join("sweep.html"));
    assert!(page.contains("Violation rate 0%: all 3 seeds held every check."));
}

fn two_sweeps() -> Vec<(String, SweepStats)> {
    let clean = SweepTable::new(
        HEADER.iter().map(|h| h.to_string()).collect(),
        vec![
            vec![
                "demo", "paxos", "correct", "1", "9000", "20000", "f(x)", "0.5", "0", "", "",
            ],
            vec![
                "demo", "paxos", "correct", "2", "7000", "30000", "f(x)", "1", "0", "", "",
            ],
        ]
        .into_iter()
        .map(|row| row.into_iter().map(String::from).collect())
        .collect(),
    );
    let buggy = SweepTable::new(
        HEADER.iter().map(|h| h.to_string()).collect(),
        vec![
            vec![
                "demo",
                "paxos",
                "seed-naive",
                "1",
                "",
                "",
                "f(x)",
                "",
                "3",
                "agreement",
                "1500",
            ],
            vec![
                "demo",
                "paxos",
                "seed-naive",
                "2",
                "",
                "",
                "f(x)",
                "",
                "0",
                "",
                "",
            ],
            vec![
                "demo",
                "paxos",
                "seed-naive",
                "3",
                "",
                "",
                "f(x)",
                "",
                "1",
                "agreement",
                "500",
            ],
        ]
        .into_iter()
        .map(|row| row.into_iter().map(String::from).collect())
        .collect(),
    );
    vec![
        ("correct".to_string(), SweepStats::of(&clean)),
        ("seed-naive".to_string(), SweepStats::of(&buggy)),
    ]
}

#[test]
fn comparison_csv_has_one_exact_row_per_label() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested").join("compare");
    let files = write_comparison(&out, &two_sweeps()).unwrap();
    assert_eq!(
        names(&files),
        [
            "comparison.csv",
            "comparison.svg",
            "comparison.png",
            "compare.html"
        ]
    );
    assert_eq!(COMPARISON_COLUMNS.len(), 9);
    // Medians by nearest rank (7000 of {7000, 9000}; 20000 of {20000, 30000}), the rate
    // and mean with 6 decimals, empty cells where no seed had a value (seed-naive has no
    // latency or formula value; correct has no violation). Rank 2 of 2 first-violation
    // times would be 1500, not 500.
    assert_eq!(
        read(&out.join("comparison.csv")),
        "label,seeds,violating_seeds,violation_rate,latency_p50_ns_median,latency_p99_ns_median,\
         formula,formula_value_mean,first_violation_ns_median\n\
         correct,2,0,0.000000,7000,20000,f(x),0.750000,\n\
         seed-naive,3,2,0.666667,,,f(x),,500\n"
    );
}

#[test]
fn comparison_chart_and_page_name_every_label() {
    let dir = tempfile::tempdir().unwrap();
    let mut sweeps = two_sweeps();
    sweeps[1].0 = "demo/<seed-naive>".to_string();
    write_comparison(dir.path(), &sweeps).unwrap();
    let svg = read(&dir.path().join("comparison.svg"));
    // Title, axis names with units, legend, and one row per label.
    assert!(svg.contains("Comparison of 2 sweeps: violation rate and latency"));
    assert!(svg.contains("seeds that violated a check (%)"));
    assert!(svg.contains("latency (µs)"));
    assert!(svg.contains("median p50 latency") && svg.contains("median p99 latency"));
    assert!(svg.contains("\ncorrect\n") && svg.contains("demo/&lt;seed-naive&gt;"));
    assert!(svg.contains("66.7% (2 of 3)"));
    assert!(svg.contains("p50: no ok operation"));
    let page = read(&dir.path().join("compare.html"));
    assert!(page.contains("<th>demo/&lt;seed-naive&gt;</th>"));
    assert!(page.contains("7 µs (7000 ns)"));
    assert_eq!(page.matches("<svg").count(), 1);
    // Equal inputs, equal bytes.
    let again = tempfile::tempdir().unwrap();
    write_comparison(again.path(), &sweeps).unwrap();
    for name in [
        "comparison.csv",
        "comparison.svg",
        "comparison.png",
        "compare.html",
    ] {
        assert!(
            fs::read(dir.path().join(name)).unwrap() == fs::read(again.path().join(name)).unwrap(),
            "{name} differs between two calls"
        );
    }
}

#[test]
fn comparison_of_nothing_renders_a_no_data_chart() {
    let dir = tempfile::tempdir().unwrap();
    write_comparison(dir.path(), &[]).unwrap();
    // Just the header row, and a chart that says why it is empty.
    assert_eq!(read(&dir.path().join("comparison.csv")).lines().count(), 1);
    let svg = read(&dir.path().join("comparison.svg"));
    assert!(svg.contains("no data") && svg.contains("No sweep was given to compare."));
}
