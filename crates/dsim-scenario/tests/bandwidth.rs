//! Bandwidth in scenario files: `[network] bandwidth`, `[[network.links]] bandwidth`,
//! `[nodes] nic` (and per-node overrides), and `degrade`'s `bandwidth_factor`, read
//! into the engine's `LinkBandwidth`; bad values refused with file:line:col; written
//! back by `emit`; and a run whose latency grows with the transmission time.

use dsim_core::{Bandwidth, Delay, Fault, LinkBandwidth, NodeId};
use dsim_scenario::{Origin, Registry, RunOptions, Scenario, ScenarioError, emit, run_scenario};
use std::path::Path;

/// A short Paxos scenario: 3 replicas, 2 clients at 100 ops/s, constant 1 ms links.
/// `top` goes before `[protocol]` (line 4 on); `network` is appended to `[network]`
/// (from line 15 on).
fn paxos(top: &str, network: &str) -> String {
    format!(
        r#"name = "paxos-bandwidth"
seed = 7
duration = "1s"
{top}
[protocol]
kind = "paxos"
nodes = 3

[workload]
clients = 2
rate = "100/s"

[network]
latency = "1ms"
{network}"#
    )
}

fn read(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_text(Path::new("bw.toml"), text, &[], &Registry::builtin())
}

fn line_of(error: &ScenarioError) -> usize {
    match &error.origin {
        Origin::File { line, .. } => *line,
        other => panic!("expected a file position, got {other}"),
    }
}

fn bits(n: u64) -> Bandwidth {
    Bandwidth::bits_per_s(n)
}

#[test]
fn bandwidth_fields_read_into_the_load_model() {
    // Every field lands where the engine reads it: the default link, a link override
    // both ways, every NIC, one node's NIC. A NIC-only override leaves the node's CPU
    // to [nodes] (no CPU override), or the round trip through emit would differ.
    let text = paxos(
        "[nodes]\nnic = \"125MB/s\"\n[[nodes.overrides]]\nnode = 1\nnic = \"10Gbit/s\"\n",
        "bandwidth = \"1Gbit/s\"\n[[network.links]]\nbetween = [0, 2]\nbandwidth = \"2.5Mbit/s\"\n",
    );
    let scenario = read(&text).unwrap_or_else(|e| panic!("{e}"));
    let load = scenario.load.expect("bandwidth turns the load model on");
    assert_eq!(
        load.bandwidth,
        LinkBandwidth {
            link: Some(bits(1_000_000_000)),
            pairs: [
                ((NodeId(0), NodeId(2)), bits(2_500_000)),
                ((NodeId(2), NodeId(0)), bits(2_500_000)),
            ]
            .into_iter()
            .collect(),
            nic: Some(bits(1_000_000_000)),
            nics: [(NodeId(1), bits(10_000_000_000))].into_iter().collect(),
        }
    );
    assert!(load.overrides.is_empty(), "{:?}", load.overrides);
}

#[test]
fn a_link_bandwidth_alone_leaves_handlers_free() {
    // Bandwidth without [nodes] must not start charging CPU time: handlers stay free.
    let scenario = read(&paxos("", "bandwidth = \"1Gbit/s\"\n")).unwrap();
    let load = scenario.load.expect("a load model");
    assert_eq!(load.cpu.cpu, Delay::Constant { ns: 0 });
    assert_eq!(load.bandwidth.link, Some(bits(1_000_000_000)));
}

#[test]
fn bad_bandwidth_values_are_refused_with_their_position() {
    // Each mistake is reported at its line, naming the field: zero bandwidth would
    // hold every message forever, a number without a unit is ambiguous (bits or
    // bytes?), and a factor that is not positive is not a bandwidth.
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (
            "",
            "bandwidth = \"0Gbit/s\"\n",
            15,
            "network.bandwidth",
            "found \"0Gbit/s\"",
        ),
        (
            "",
            "bandwidth = \"-1Gbit/s\"\n",
            15,
            "network.bandwidth",
            "found",
        ),
        (
            "",
            "bandwidth = \"1Gb/s\"\n",
            15,
            "network.bandwidth",
            "found \"1Gb/s\"",
        ),
        (
            "",
            "bandwidth = \"fast\"\n",
            15,
            "network.bandwidth",
            "found",
        ),
        (
            "",
            "bandwidth = 1000\n",
            15,
            "network.bandwidth",
            "found 1000",
        ),
        (
            "",
            "bandwidth = nan\n",
            15,
            "network.bandwidth",
            "found NaN",
        ),
        ("[nodes]\nnic = \"0.5bit/s\"\n", "", 5, "nodes.nic", "found"),
        (
            "[nodes]\n[[nodes.overrides]]\nnode = 0\nnic = \"0B/s\"\n",
            "",
            7,
            "nodes.overrides[0].nic",
            "found",
        ),
        (
            "",
            "topology = \"graph\"\n[[network.links]]\nbetween = [0, 1]\nbandwidth = \"1Gbit/s\"\n",
            18,
            "network.links[0].bandwidth",
            "graph topology",
        ),
        (
            "",
            "bandwidth = \"1Gbit/s\"\n[[faults]]\nat = \"1ms\"\ndegrade = { bandwidth_factor = 0 }\nduration = \"1ms\"\n",
            18,
            "faults[0].degrade.bandwidth_factor",
            "found 0",
        ),
        (
            "",
            "bandwidth = \"1Gbit/s\"\n[[faults]]\nat = \"1ms\"\ndegrade = { bandwidth_factor = nan }\nduration = \"1ms\"\n",
            18,
            "faults[0].degrade.bandwidth_factor",
            "found NaN",
        ),
        (
            "",
            "[[faults]]\nat = \"1ms\"\ndegrade = { bandwidth_factor = 0.5 }\nduration = \"1ms\"\n",
            17,
            "faults[0].degrade.bandwidth_factor",
            "no link or NIC has a bandwidth",
        ),
    ];
    for (top, network, line, field, problem) in cases {
        let text = paxos(top, network);
        let error = match read(&text) {
            Ok(_) => panic!("{text} should be refused"),
            Err(error) => error,
        };
        assert_eq!(line_of(&error), *line, "{top:?} {network:?}: {error}");
        assert!(
            error.field.starts_with(field),
            "{network:?}: field {:?} ({error})",
            error.field
        );
        assert!(
            error.problem.contains(problem),
            "{network:?}: problem {:?}",
            error.problem
        );
    }
}

#[test]
fn emit_writes_bandwidth_back() {
    // shrink and --emit-scenario write scenarios back out; bandwidths and a degrade's
    // bandwidth_factor must survive the round trip, or a shrunk failure would replay
    // with different transmission times.
    let text = paxos(
        "[nodes]\ncores = 2\nnic = \"1Gbit/s\"\n[[nodes.overrides]]\nnode = 2\nnic = \"8kbit/s\"\n",
        "bandwidth = \"100Mbit/s\"\n[[network.links]]\nbetween = [0, 1]\none_way = true\nbandwidth = \"1MiB/s\"\n\n[[faults]]\nat = \"100ms\"\ndegrade = { nodes = [0], bandwidth_factor = 0.25 }\nduration = \"200ms\"\n",
    );
    let scenario = read(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        scenario.faults[0].fault,
        Fault::Degrade {
            bandwidth_factor: Some(0.25),
            ..
        }
    ));
    let written = emit::emit(&scenario, &scenario.faults, true, "");
    let again = read(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(again.load, scenario.load);
    assert_eq!(again.network, scenario.network);
    assert_eq!(again.faults, scenario.faults);
}

#[test]
fn paxos_latency_grows_with_transmission_time() {
    // At 1 Mbit/s per NIC a 100-byte message takes 800 us to send, and every Paxos
    // operation crosses several NICs, several messages deep: its mean latency must
    // rise by well over a millisecond. Were bandwidth ignored, both runs would match.
    let registry = Registry::builtin();
    let mean_latency = |top: &str| {
        let scenario = read(&paxos(top, "")).unwrap();
        let result = run_scenario(&registry, &scenario, RunOptions::default()).unwrap();
        assert!(
            result.verdict.violations.is_empty(),
            "{:?}",
            result.verdict.violations
        );
        let (sum, count) = ok_latency_sum(&result.output);
        assert!(count > 50, "only {count} operations");
        sum / count
    };
    let free = mean_latency("");
    let slow = mean_latency("[nodes]\ncpu = \"0ns\"\nnic = \"1Mbit/s\"\n");
    assert!(
        slow > free + 1_000_000,
        "mean latency {free} ns without bandwidth, {slow} ns at 1 Mbit/s"
    );
}

/// Sum and count of the latencies of completed `ok` operations.
fn ok_latency_sum(output: &dsim_core::RunOutput<dsim_core::NoEvent>) -> (u64, u64) {
    let latencies: Vec<u64> = output
        .ops
        .iter()
        .filter(|op| op.is_ok())
        .filter_map(dsim_core::OpRecord::latency_ns)
        .collect();
    (latencies.iter().sum(), latencies.len() as u64)
}
