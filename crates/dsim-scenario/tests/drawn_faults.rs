//! `crash = { count, among }` (and `restart`, `pause`): N nodes of a protocol's group,
//! drawn from the run's seed, the same nodes for the same seed.

use dsim_core::{Fault, NodeId};
use dsim_scenario::emit::emit;
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::path::Path;

/// A small word count: master 0, workers 1 to 20; five workers crash at 100 ms, two of
/// them come back at 300 ms, and three are paused at 200 ms.
const TEXT: &str = r#"
name = "drawn"
seed = 7
duration = "3s"
[protocol]
kind = "mapreduce"
nodes = 21
map_tasks = 40
reduce_tasks = 4
corpus_words = 4000
vocabulary = 300
[workload]
clients = 0
[[faults]]
at = "100ms"
crash = { count = 5, among = "workers" }
[[faults]]
at = "200ms"
pause = { count = 3, among = "workers" }
duration = "50ms"
[[faults]]
at = "300ms"
restart = { count = 2, among = "workers" }
"#;

fn scenario(seed: u64) -> Scenario {
    let mut scenario =
        Scenario::from_text(Path::new("drawn.toml"), TEXT, &[], &Registry::builtin())
            .expect("valid scenario");
    scenario.seed = seed;
    scenario
}

/// The nodes the faults of `action` name, in order.
fn nodes_of(scenario: &Scenario, wanted: fn(&Fault) -> Option<NodeId>) -> Vec<NodeId> {
    scenario
        .concrete_faults()
        .iter()
        .filter_map(|scheduled| wanted(&scheduled.fault))
        .collect()
}

fn crashed(fault: &Fault) -> Option<NodeId> {
    match fault {
        Fault::Crash(node) => Some(*node),
        _ => None,
    }
}

fn restarted(fault: &Fault) -> Option<NodeId> {
    match fault {
        Fault::Restart(node) => Some(*node),
        _ => None,
    }
}

#[test]
fn the_same_seed_picks_the_same_workers_and_another_seed_others() {
    let first = nodes_of(&scenario(7), crashed);
    let again = nodes_of(&scenario(7), crashed);
    // Reading the file again and drawing again must give the very same nodes, or a
    // seed would not replay.
    assert_eq!(first, again);
    // Among 20 workers, 5 drawn: two seeds pick the same set with probability
    // 1 / C(20, 5) = 1 / 15,504, so for 8 other seeds at least one must differ (and with
    // these fixed seeds, all do); equal sets would mean the seed is not used.
    let differing = (8..16)
        .filter(|&seed| nodes_of(&scenario(seed), crashed) != first)
        .count();
    assert_eq!(
        differing, 8,
        "seeds 8..16 all pick other workers than seed 7"
    );
}

#[test]
fn the_count_is_exact_and_every_pick_is_a_distinct_worker() {
    for seed in 0..30 {
        let scenario = scenario(seed);
        let crashes = nodes_of(&scenario, crashed);
        let restarts = nodes_of(&scenario, restarted);
        // Exactly `count` faults per entry, one per distinct worker (1..=20, never the
        // master 0): a repeat or an off-by-one would change these numbers.
        assert_eq!(crashes.len(), 5, "seed {seed}: {crashes:?}");
        assert!(crashes.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(crashes.iter().all(|node| (1..=20).contains(&node.0)));
        assert_eq!(restarts.len(), 2, "seed {seed}: {restarts:?}");
        // A restart brings back nodes the drawn crash took down.
        assert!(restarts.iter().all(|node| crashes.contains(node)));
        let paused: Vec<NodeId> = scenario
            .concrete_faults()
            .iter()
            .filter_map(|scheduled| match scheduled.fault {
                Fault::Pause { node, .. } => Some(node),
                _ => None,
            })
            .collect();
        assert_eq!(paused.len(), 3, "seed {seed}");
        // A pause at 200 ms picks among the workers that are up then.
        assert!(paused.iter().all(|node| !crashes.contains(node)));
        assert_eq!(scenario.drawn_picks()[0], crashes);
    }
}

#[test]
fn the_run_applies_the_drawn_crashes_and_a_written_out_file_replays_it() {
    let registry = Registry::builtin();
    let scenario = scenario(7);
    let result = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    let crashes: Vec<NodeId> = result
        .output
        .fault_log
        .iter()
        .filter_map(|record| crashed(&record.fault))
        .collect();
    // The engine's fault log (what the timeline and report show) names the drawn nodes.
    assert_eq!(crashes, nodes_of(&scenario, crashed));
    assert!(
        result.verdict.violations.is_empty(),
        "{:?}",
        result.verdict.violations
    );
    // Written out node by node (as `--emit-scenario` and `dsim shrink` do), the run is
    // the same run: a different draw or order would change the fingerprint.
    let concrete = emit(&scenario, &scenario.concrete_faults(), false, "");
    assert!(!concrete.contains("among"), "{concrete}");
    let reread = Scenario::from_text(Path::new("concrete.toml"), &concrete, &[], &registry)
        .expect("the emitted file reads back");
    assert!(reread.drawn_faults.is_empty());
    let replay = run_scenario(&registry, &reread, RunOptions::default()).expect("runs");
    assert_eq!(replay.output.fingerprint, result.output.fingerprint);
    // Written compactly, the entries read back as they were.
    let compact = emit(&scenario, &scenario.faults, true, "");
    let reread = Scenario::from_text(Path::new("compact.toml"), &compact, &[], &registry)
        .expect("the compact file reads back");
    assert_eq!(reread.drawn_faults, scenario.drawn_faults);
    assert_eq!(reread.concrete_faults(), scenario.concrete_faults());
}

#[test]
fn drawn_entries_never_pick_a_node_an_explicit_entry_names() {
    let text = TEXT.replace(
        "[[faults]]\nat = \"100ms\"",
        "[[faults]]\nat = \"50ms\"\ncrash = 4\n[[faults]]\nat = \"100ms\"",
    );
    let registry = Registry::builtin();
    for seed in 0..40 {
        let mut scenario = Scenario::from_text(Path::new("t.toml"), &text, &[], &registry)
            .expect("valid scenario");
        scenario.seed = seed;
        let crashes = nodes_of(&scenario, crashed);
        // Node 4's own crash plus 5 drawn ones; drawing 4 again would crash a node that
        // is down, which the engine refuses.
        assert_eq!(crashes.len(), 6);
        assert_eq!(crashes.iter().filter(|node| node.0 == 4).count(), 1);
        assert!(!scenario.drawn_faults[0].candidates.contains(&NodeId(4)));
    }
}

#[test]
fn every_builtin_kind_names_disjoint_groups_inside_its_nodes() {
    let registry = Registry::builtin();
    let params = dsim_core::Params::default();
    for kind in registry.kinds() {
        let protocol = registry.get(kind).expect("listed");
        let (min, _) = protocol.info().nodes_range;
        let workload = dsim_core::Workload {
            clients: 2,
            ..dsim_core::Workload::default()
        };
        let nodes = min.max(3).min(protocol.info().nodes_range.1);
        let setup = dsim_core::Setup {
            nodes,
            variant: "correct",
            params: &params,
            workload,
        };
        let groups = protocol.node_groups(&setup);
        let total = protocol.total_nodes(nodes, &workload) as u32;
        // Groups in id order, without overlap, inside the node count: overlapping groups
        // would make the count check depend on the seed.
        assert!(!groups.is_empty(), "{kind} names no group");
        assert!(
            groups
                .windows(2)
                .all(|pair| pair[0].nodes.end <= pair[1].nodes.start),
            "{kind}: {groups:?}"
        );
        assert!(
            groups.iter().all(|group| group.nodes.end <= total),
            "{kind}"
        );
        let covered: usize = groups.iter().map(|group| group.len()).sum();
        assert_eq!(covered as u32, total, "{kind}: every node is in a group");
    }
}
