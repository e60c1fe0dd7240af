//! Progress reporting must not change a run: the engine runs in virtual-time slices
//! whether or not anyone watches, the slices give the same run as one `run_until`, and
//! a watcher sees virtual time rise to the end with the event count.

use dsim_core::hold::HoldNode;
use dsim_core::progress::{CHECKPOINTS, Progress, watch};
use dsim_core::{SimConfig, SimTime, Simulation};
use dsim_scenario::{Registry, RunOptions, Scenario, run_scenario};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

fn scenario(name: &str, duration: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    Scenario::load(
        &path,
        &[format!("duration={duration}")],
        &Registry::builtin(),
    )
    .expect("shipped scenario")
}

#[test]
fn fingerprints_are_identical_with_progress_watched_and_not() {
    // A watcher that changed the run (by its timing or by how the run is sliced) would
    // change the fingerprint or the counters of this nemesis run.
    let registry = Registry::builtin();
    let scenario = scenario("paxos-nemesis.toml", "1s");
    let plain = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    let seen: Rc<RefCell<Vec<Progress>>> = Rc::default();
    let sink = seen.clone();
    let watched = watch(
        move |progress| sink.borrow_mut().push(*progress),
        || run_scenario(&registry, &scenario, RunOptions::default()),
    )
    .expect("runs");
    assert_eq!(watched.output.fingerprint, plain.output.fingerprint);
    assert_eq!(watched.output.counters, plain.output.counters);

    // The watcher saw every checkpoint, virtual time rising to the end, and the
    // final event count.
    let seen = seen.borrow();
    assert_eq!(seen.len() as u64, CHECKPOINTS);
    assert!(
        seen.windows(2)
            .all(|pair| pair[0].now <= pair[1].now && pair[0].events <= pair[1].events)
    );
    let last = seen.last().expect("reports");
    assert_eq!(last.now, SimTime::ZERO + scenario.duration);
    assert_eq!(last.end, last.now);
    assert_eq!(last.events, plain.output.counters.events);
}

#[test]
fn a_sliced_run_is_the_same_run_as_one_run_until() {
    // The protocol path (sliced into CHECKPOINTS runs) against the engine driven in one
    // go: a slice boundary that dropped, repeated or reordered an event would differ.
    let registry = Registry::builtin();
    let scenario = scenario("bench-hold.toml", "50ms");
    let sliced = run_scenario(&registry, &scenario, RunOptions::default()).expect("runs");
    let config = SimConfig {
        seed: scenario.seed,
        network: scenario.network.clone(),
        storage: scenario.storage,
        message_log_limit: dsim_scenario::run::MESSAGE_LOG_LIMIT,
        load: None,
    };
    let mut sim =
        Simulation::new(config, scenario.total_nodes, |_, _| HoldNode::new(10)).expect("valid");
    sim.run_until(SimTime::ZERO + scenario.duration)
        .expect("runs");
    let whole = sim.into_output();
    assert_eq!(sliced.output.fingerprint, whole.fingerprint);
    assert_eq!(sliced.output.counters, whole.counters);
}
