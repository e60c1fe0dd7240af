//! The observation sink: observations handed out as they happen, so that a long run
//! holds only what is still needed at its end (issue 16). Memory is judged on values:
//! how many observations the engine retains against how many the sink wrote out.

mod common;

use common::{ProbeConfig, ProbeEvent, ProbeNode};
use dsim_core::{
    Observation, ObservationRecord, Retain, SimConfig, SimDuration, SimTime, Simulation,
};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

const NODES: usize = 5;

fn probe_sim(seed: u64) -> Simulation<ProbeNode> {
    let config = SimConfig {
        seed,
        ..SimConfig::default()
    };
    let probe = ProbeConfig::default();
    Simulation::new(config, NODES, move |_, _| ProbeNode::new(probe)).expect("valid config")
}

/// One CSV row per observation, as a streaming writer would put it in a file.
fn row(record: &ObservationRecord<ProbeEvent>) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{},{},{:?}",
        record.time.0, record.node.0, record.observation
    );
    text
}

/// A sink that appends every observation to `file` and keeps what `keep` selects.
fn streaming_sink(
    file: &Rc<RefCell<String>>,
    keep: fn(&ObservationRecord<ProbeEvent>) -> bool,
) -> Box<dyn dsim_core::ObservationSink<ProbeEvent>> {
    let file = Rc::clone(file);
    Box::new(move |record: &ObservationRecord<ProbeEvent>| {
        file.borrow_mut().push_str(&row(record));
        if keep(record) {
            Retain::Keep
        } else {
            Retain::Release
        }
    })
}

#[test]
fn sink_that_releases_everything_keeps_retained_observations_at_zero_while_its_file_grows() {
    let file = Rc::new(RefCell::new(String::new()));
    let mut sim = probe_sim(3);
    sim.set_observation_sink(streaming_sink(&file, |_| false));
    let mut rows_before = 0;
    for second in 1..=4 {
        sim.run_until(SimTime::ZERO + SimDuration::from_secs(second))
            .expect("runs");
        let rows = file.borrow().lines().count();
        // Bounded memory on values: after every second of virtual time the engine holds
        // no observation, however many the run made. If the engine stored observations
        // despite the sink's answer, this count would grow with virtual time.
        assert_eq!(sim.observations().len(), 0, "after {second} s");
        // ... while the streamed file did get every one (5 probes each send a message
        // every 3 ms on average, and observe sends, receipts and timers).
        assert!(
            rows > rows_before + 1_000,
            "after {second} s: {rows} rows, {rows_before} a second earlier"
        );
        rows_before = rows;
    }
    assert_eq!(sim.into_output().observations.len(), 0);
}

#[test]
fn streamed_rows_are_exactly_the_observations_a_run_without_sink_keeps() {
    let until = SimTime::ZERO + SimDuration::from_secs(2);
    let mut plain = probe_sim(11);
    plain.run_until(until).expect("runs");
    let plain = plain.into_output();

    let file = Rc::new(RefCell::new(String::new()));
    let mut streamed = probe_sim(11);
    streamed.set_observation_sink(streaming_sink(&file, |record| {
        matches!(
            record.observation,
            Observation::Protocol(ProbeEvent::Sent { .. })
        )
    }));
    streamed.run_until(until).expect("runs");
    let streamed = streamed.into_output();

    // The sink never shapes the run: same events, same fingerprint.
    assert_eq!(streamed.fingerprint, plain.fingerprint);
    assert_eq!(streamed.counters.events, plain.counters.events);
    // The file holds every observation, in the engine's order: a sink that missed one,
    // or saw them out of order, would make these texts differ.
    let expected: String = plain.observations.iter().map(row).collect();
    assert!(plain.observations.len() > 1_000);
    assert_eq!(*file.borrow(), expected);
    // The engine kept exactly those the sink asked for, in order.
    let sent: Vec<_> = plain
        .observations
        .iter()
        .filter(|record| {
            matches!(
                record.observation,
                Observation::Protocol(ProbeEvent::Sent { .. })
            )
        })
        .cloned()
        .collect();
    assert!(!sent.is_empty() && sent.len() < plain.observations.len());
    assert_eq!(streamed.observations, sent);
}

#[test]
fn detached_sink_gives_the_engine_back_every_later_observation() {
    let file = Rc::new(RefCell::new(String::new()));
    let mut sim = probe_sim(5);
    sim.set_observation_sink(streaming_sink(&file, |_| false));
    sim.run_until(SimTime::ZERO + SimDuration::from_millis(500))
        .expect("runs");
    assert!(sim.take_observation_sink().is_some());
    let streamed = file.borrow().lines().count();
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(1))
        .expect("runs");
    // After detaching, the file stops growing and the engine keeps everything again;
    // a sink still attached would keep adding rows and the engine would hold none.
    assert_eq!(file.borrow().lines().count(), streamed);
    assert!(sim.observations().len() > 100);
    assert!(
        sim.observations()
            .iter()
            .all(|record| record.time > SimTime::ZERO + SimDuration::from_millis(500))
    );
}
