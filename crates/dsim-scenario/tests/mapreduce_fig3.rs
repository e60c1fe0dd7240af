//! The Figure 3 showcase (`mapreduce-paper-fig3.toml` and its `-killed` twin) at 1/20
//! of the paper's scale: 87 workers, M = 750, R = 200, 50 GB, so every split (64 MB),
//! partition (250 MB) and machine is as in the paper but there are twenty times fewer
//! of them, and one bad disk instead of five. The full scale takes a minute or more
//! (see the README); this keeps the mechanisms' effects under test in about a second.

use dsim_core::{NoEvent, Observation, RunOutput};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::PathBuf;

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// Parses `text` as scenario `file` with `flags` applied, as `dsim run --set` does.
fn parse(file: &str, text: &str, flags: &[String]) -> Scenario {
    Scenario::from_text(&scenario_path(file), text, flags, &Registry::builtin())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`parse`] of scenario `file` as it is in `scenarios/`.
fn load(file: &str, flags: &[String]) -> Scenario {
    let text = std::fs::read_to_string(scenario_path(file)).expect("file");
    parse(file, &text, flags)
}

/// The scale-down, as `--set` flags.
fn scaled(extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "protocol.nodes=88",
        "protocol.map_tasks=750",
        "protocol.reduce_tasks=200",
        "protocol.input_bytes=50000000000",
        "protocol.bad_disks=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

/// Runs `text` (read as `file`) with `flags`; returns (job time s, end of the last map
/// task s, backups launched).
fn run(file: &str, text: &str, flags: &[String]) -> (f64, f64, u64) {
    let registry = Registry::builtin();
    let scenario = parse(file, text, flags);
    let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    assert!(
        result.verdict.violations.is_empty(),
        "{file}: {:?}",
        result.verdict.violations
    );
    let column = |name: &str| result.verdict.column(name).unwrap_or_default();
    assert_eq!(column("job_completed"), "true", "{file}");
    let job_s = column("job_time_ns").parse::<f64>().expect("a time") / 1e9;
    let output: &RunOutput<NoEvent> = &result.output;
    let mut last_map_end = 0u64;
    for op in &output.ops {
        let is_map = op
            .key
            .as_ref()
            .and_then(|k| k.as_list())
            .is_some_and(|k| k[0] == dsim_core::Value::keyword("map"));
        if is_map && let Some(end) = op.end {
            last_map_end = last_map_end.max(end.0);
        }
    }
    let backups = column("backup_tasks_launched").parse().expect("a count");
    (job_s, last_map_end as f64 / 1e9, backups)
}

#[test]
fn figure_3_at_a_twentieth_scale_backups_shorten_the_job_and_killing_workers_costs_less() {
    let normal_text =
        std::fs::read_to_string(scenario_path("mapreduce-paper-fig3.toml")).expect("file");
    let (normal, map_end, backups) = run("mapreduce-paper-fig3.toml", &normal_text, &scaled(&[]));
    let (without, _, none) = run(
        "mapreduce-paper-fig3.toml",
        &normal_text,
        &scaled(&["protocol.backup_tasks=false"]),
    );
    let killed_text = std::fs::read_to_string(scenario_path("mapreduce-paper-fig3-killed.toml"))
        .expect("file")
        .replace("count = 200", "count = 10");
    let (killed, _, _) = run(
        "mapreduce-paper-fig3-killed.toml",
        &killed_text,
        &scaled(&[]),
    );
    eprintln!(
        "1/20 scale: normal {normal:.0} s (maps done at {map_end:.0} s), no backups \
         {without:.0} s, killed {killed:.0} s"
    );
    // The map phase ends near 200 s, as in the paper's Figure 3 (a): the CPU cost per
    // record was chosen for that, so a model that lost the disk phases or ran maps in
    // the wrong number of waves would move it.
    assert!(
        (150.0..250.0).contains(&map_end),
        "maps done at {map_end} s"
    );
    // Backups launch near the end of each phase; without them the job waits for the
    // stragglers (the bad disk, slow attempts): markedly longer (the paper: +44%;
    // measured here +40%). Were backups never launched, or their losing copies kept
    // running, the two times would be close.
    assert!(backups > 0 && none == 0);
    assert!(without > normal * 1.3, "{without} vs {normal}");
    // Killing a ninth of the workers 300 s in and restarting them costs little
    // (measured +4%; the paper: +5%): their map tasks run again and running reducers
    // fetch only the re-executed outputs from the new workers, keeping the rest (paper
    // section 3.3). When a reducer that finds one output missing started over instead,
    // this cost +17%, over the bound.
    assert!(killed > normal, "the killed workers' work is redone");
    assert!(killed < normal * 1.07, "{killed} vs {normal}");
    // The normal run lands near the paper's 891 s (measured 837 s at this scale, 894 s
    // at full scale): the reduce cost per record was chosen for that, with a shuffle
    // at the NICs' bandwidth. Under the old NIC queueing it took over 976 s here.
    assert!((780.0..950.0).contains(&normal), "normal run {normal} s");
}

#[test]
fn figure_3_at_a_twentieth_scale_replays_byte_for_byte_from_its_seed() {
    // Bad disks, background load and each attempt's variability are all drawn from the
    // seed: two runs must have the same fingerprint and the same observations (the
    // rate chart's transfers included). A draw from anything else (a hash order, the
    // wall clock) would make them differ.
    let registry = Registry::builtin();
    let flags = scaled(&["protocol.map_tasks=300", "protocol.reduce_tasks=60"]);
    let scenario = load("mapreduce-paper-fig3.toml", &flags);
    let a = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    let b = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    assert_eq!(a.output.fingerprint, b.output.fingerprint);
    assert_eq!(a.output.observations, b.output.observations);
    let transfers = a
        .output
        .observations
        .iter()
        .filter(|r| matches!(r.observation, Observation::Metric { .. }))
        .count();
    assert!(transfers > 0, "the byte flows were observed");
}

#[test]
fn an_all_to_all_shuffle_moves_at_the_nics_bandwidth() {
    // Eight workers, 16 splits of 125 MB, eight partitions, no bad disk, no load and
    // no variability: the maps end together and the eight reducers fetch at once,
    // each 7/8 of its 250 MB from the seven other machines over 100 Mbit/s NICs
    // (12.5 MB/s), while each machine sends as much. About 219 MB at 12.5 MB/s is
    // 17.5 s: every reducer's shuffle must stay within 1.7 times that (measured 1.06
    // to 1.55 times: five fetches at a time among seven mappers do not keep every NIC
    // busy). When a message held the sending and the receiving NIC in one
    // reservation, every NIC waited for the busiest of its peers and the shuffles
    // took 2.2 to 2.9 times the ideal (39.6 to 49.8 s).
    let registry = Registry::builtin();
    let flags: Vec<String> = [
        "protocol.nodes=9",
        "protocol.map_tasks=16",
        "protocol.reduce_tasks=8",
        "protocol.input_bytes=2000000000",
        "protocol.bad_disks=0",
        "protocol.background_load=0",
        "protocol.task_time_sigma=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let scenario = load("mapreduce-paper-fig3.toml", &flags);
    let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    assert!(result.verdict.violations.is_empty());
    let metrics: Vec<(&str, u64)> = result
        .output
        .observations
        .iter()
        .filter_map(|r| match r.observation {
            Observation::Metric { name, value } => Some((name, value)),
            _ => None,
        })
        .collect();
    let mut spans = Vec::new();
    for (i, &(name, bytes)) in metrics.iter().enumerate() {
        if name == "mr_shuffle_bytes" {
            let (start, end) = (metrics[i + 1].1, metrics[i + 2].1);
            spans.push((bytes, (end - start) as f64 / 1e9));
        }
    }
    assert_eq!(spans.len(), 8, "one shuffle per partition: {spans:?}");
    for (bytes, seconds) in spans {
        // The bytes it fetched from others (7/8 of them) over 12.5 MB/s.
        let ideal = bytes as f64 * 7.0 / 8.0 / 12.5e6;
        assert!(
            seconds < ideal * 1.7,
            "a {bytes}-byte shuffle took {seconds:.1} s, ideal {ideal:.1} s"
        );
    }
}
