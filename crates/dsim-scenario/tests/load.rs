//! The load model's scenario sections: `[nodes]` (with per-node overrides) and
//! `storage = { mode, sync }` read into the engine's `LoadConfig`, bad values refused
//! with file:line:col, the sections written back by `emit`, and a costed protocol's
//! latency growing with them.

use dsim_core::{Delay, LoadConfig, NodeCpu, NodeId, StorageMode};
use dsim_scenario::{Origin, Registry, RunOptions, Scenario, ScenarioError, emit, run_scenario};
use std::path::Path;

/// A short Paxos scenario: 3 replicas, 2 clients at 100 ops/s, constant 1 ms links,
/// with `extra` appended.
fn paxos(extra: &str) -> String {
    format!(
        r#"name = "paxos-load"
seed = 7
duration = "1s"
{extra}
[protocol]
kind = "paxos"
nodes = 3

[workload]
clients = 2
rate = "100/s"

[network]
latency = "1ms"
"#
    )
}

fn read(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_text(Path::new("load.toml"), text, &[], &Registry::builtin())
}

/// The 1-based line of an error in `load.toml`.
fn line_of(error: &ScenarioError) -> usize {
    match &error.origin {
        Origin::File { line, .. } => *line,
        other => panic!("expected a file position, got {other}"),
    }
}

#[test]
fn nodes_and_storage_sections_read_into_the_load_model() {
    // Every field lands where the engine reads it: the default capacity, node 0's
    // override (inheriting the unset queue_capacity), the sync latency, the crash mode.
    let text = paxos(
        r#"storage = { mode = "lose-unsynced", sync = "2ms" }
[nodes]
cores = 2
cpu = { dist = "exponential", mean = "50us" }
queue_capacity = 100

[[nodes.overrides]]
node = 0
cores = 4
cpu = "10us"
"#,
    );
    let scenario = read(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.storage, StorageMode::LoseUnsynced);
    let expected = LoadConfig {
        cpu: NodeCpu {
            cores: 2,
            cpu: Delay::Exponential { mean_ns: 50_000.0 },
            queue_capacity: Some(100),
        },
        overrides: [(
            NodeId(0),
            NodeCpu {
                cores: 4,
                cpu: Delay::Constant { ns: 10_000 },
                queue_capacity: Some(100),
            },
        )]
        .into_iter()
        .collect(),
        sync: Some(Delay::Constant { ns: 2_000_000 }),
        ..LoadConfig::default()
    };
    assert_eq!(scenario.load, Some(expected));
}

#[test]
fn a_file_without_load_sections_has_no_load_model() {
    // No [nodes], storage as the plain string: the engine must get no model at all,
    // which is what keeps every existing scenario's fingerprint (the golden tests).
    let scenario = read(&paxos("storage = \"keep-all\"")).unwrap();
    assert_eq!(scenario.load, None);
    assert_eq!(scenario.storage, StorageMode::KeepAll);
}

#[test]
fn a_sync_latency_alone_leaves_handlers_free() {
    // Only a sync latency: the model is on for syncs, but the per-unit CPU time is zero,
    // so a protocol's declared costs take no time.
    let scenario = read(&paxos("[storage]\nsync = \"1ms\"\n")).unwrap();
    let load = scenario.load.expect("a sync latency turns the model on");
    assert_eq!(load.cpu.cpu, Delay::Constant { ns: 0 });
    assert_eq!(load.sync, Some(Delay::Constant { ns: 1_000_000 }));
}

#[test]
fn bad_load_values_are_refused_with_their_position() {
    // Each mistake is reported at the line that holds it, naming the field; a run
    // would otherwise start with a nonsense model (no core, a queue that drops all).
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "[nodes]\nqueue_capacity = 0\n",
            5,
            "nodes.queue_capacity",
            "found 0",
        ),
        ("[nodes]\ncores = 0\n", 5, "nodes.cores", "found 0"),
        ("[nodes]\ncpu = \"-1ms\"\n", 5, "nodes.cpu", ""),
        (
            "[nodes]\ncpu = { dist = \"lognormal\", median = \"1ms\", sigma = nan }\n",
            5,
            "nodes.cpu",
            "",
        ),
        (
            "[nodes]\n[[nodes.overrides]]\nnode = 9\n",
            6,
            "nodes.overrides[0].node",
            "found node 9",
        ),
        (
            "storage = { mode = \"keep-some\" }\n",
            4,
            "storage.mode",
            "found \"keep-some\"",
        ),
        (
            "[nodes]\nthreads = 2\n",
            5,
            "nodes.threads",
            "unknown field",
        ),
    ];
    for (extra, line, field, problem) in cases {
        let error = match read(&paxos(extra)) {
            Ok(_) => panic!("{extra:?} should be refused"),
            Err(error) => error,
        };
        assert_eq!(line_of(&error), *line, "{extra:?}: {error}");
        assert!(
            error.field.starts_with(field),
            "{extra:?}: field {:?}",
            error.field
        );
        assert!(
            error.problem.contains(problem),
            "{extra:?}: problem {:?}",
            error.problem
        );
    }
}

#[test]
fn emit_writes_the_load_model_back() {
    // shrink and --emit-scenario write scenarios back out; the load model must survive
    // the round trip, or a shrunk failure would replay without it.
    let text = paxos(
        r#"storage = { sync = { dist = "uniform", min = "1ms", max = "3ms" } }
[nodes]
cores = 3
cpu = "20us"
queue_capacity = 7

[[nodes.overrides]]
node = 1
cpu = { dist = "exponential", mean = "1ms" }
"#,
    );
    let text = format!(
        "{text}\n[[faults]]\nat = \"100ms\"\nslow = 0\nfactor = 20\nduration = \"300ms\"\n\n[[faults]]\nat = \"200ms\"\nslow_disk = 1\nfactor = 2.5\nduration = \"1ms\"\n"
    );
    let scenario = read(&text).unwrap();
    let written = emit::emit(&scenario, &scenario.faults, true, "");
    let again = read(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(again.load, scenario.load);
    assert_eq!(again.storage, scenario.storage);
    assert_eq!(again.faults, scenario.faults);
}

#[test]
fn slow_faults_read_with_their_factor_and_duration() {
    // A fail-slow CPU and a fail-slow disk, as the engine applies them; a missing or
    // non-positive factor and a missing duration are refused at their line.
    let fault = |body: &str| paxos(&format!("[nodes]\n\n[[faults]]\nat = \"100ms\"\n{body}\n"));
    let scenario = read(&fault("slow = 2\nfactor = 20\nduration = \"300ms\"")).unwrap();
    assert_eq!(
        scenario.faults[0].fault,
        dsim_core::Fault::Slow {
            node: NodeId(2),
            factor: 20.0,
            duration: dsim_core::SimDuration::from_millis(300),
        }
    );
    let scenario = read(&fault("slow_disk = 1\nfactor = 3.5\nduration = \"1s\"")).unwrap();
    assert_eq!(
        scenario.faults[0].fault,
        dsim_core::Fault::SlowDisk {
            node: NodeId(1),
            factor: 3.5,
            duration: dsim_core::SimDuration::from_secs(1),
        }
    );
    for (body, line, field) in [
        (
            "slow = 0\nfactor = 0\nduration = \"1s\"",
            9,
            "faults[0].factor",
        ),
        (
            "slow = 0\nfactor = -1\nduration = \"1s\"",
            9,
            "faults[0].factor",
        ),
        ("slow = 0\nduration = \"1s\"", 8, "faults[0].factor"),
        ("slow_disk = 0\nfactor = 2", 8, "faults[0].duration"),
    ] {
        let error = read(&fault(body)).expect_err(body);
        assert_eq!(line_of(&error), line, "{body}: {error}");
        assert_eq!(error.field, field, "{body}: {error}");
    }
}

#[test]
fn the_nemesis_draws_slow_faults_when_asked() {
    // `slow` and `slow_disk` are nemesis kinds: a nemesis limited to them draws only
    // fail-slow faults, with the nemesis factor.
    let text = paxos("[nodes]\n[nemesis]\nevery = \"100ms\"\nfaults = [\"slow\", \"slow_disk\"]\n");
    let scenario = read(&text).unwrap_or_else(|e| panic!("{e}"));
    let faults = scenario.concrete_faults();
    assert!(faults.len() >= 3, "{faults:?}");
    for fault in &faults {
        match fault.fault {
            dsim_core::Fault::Slow { factor, .. } | dsim_core::Fault::SlowDisk { factor, .. } => {
                assert_eq!(factor, dsim_scenario::nemesis::NEMESIS_SLOW_FACTOR)
            }
            ref other => panic!("not a slow fault: {other:?}"),
        }
    }
}

#[test]
fn paxos_latency_grows_with_cpu_cost_and_fsync() {
    // Paxos declares a cost per replica message. With 200 us per unit on one core and
    // a 1 ms fsync, every operation waits for several services and at least one sync
    // on its path, so its mean latency must rise by well over a millisecond; with the
    // model ignored, both runs would be the same.
    let registry = Registry::builtin();
    let mean_latency = |extra: &str| {
        let scenario = read(&paxos(extra)).unwrap();
        let result = run_scenario(&registry, &scenario, RunOptions::default()).unwrap();
        assert!(
            result.verdict.violations.is_empty(),
            "{:?}",
            result.verdict.violations
        );
        let latencies: Vec<u64> = ok_latencies(&result.output);
        assert!(latencies.len() > 50, "only {} operations", latencies.len());
        latencies.iter().sum::<u64>() / latencies.len() as u64
    };
    let free = mean_latency("");
    let loaded = mean_latency("storage = { sync = \"1ms\" }\n[nodes]\ncpu = \"200us\"\n");
    assert!(
        loaded > free + 1_000_000,
        "mean latency {free} ns without the model, {loaded} ns with it"
    );
}

/// Latencies of completed `ok` operations, as the engine paired them.
fn ok_latencies(output: &dsim_core::RunOutput<dsim_core::NoEvent>) -> Vec<u64> {
    let ops = &output.ops;
    // In completion order, as the observations came.
    dsim_core::ops::events(ops)
        .filter(|&(index, invocation)| !invocation && ops[index].is_ok())
        .filter_map(|(index, _)| ops[index].latency_ns())
        .collect()
}
