//! A fixed amount of hold-model work for profilers (callgrind, perf): either the engine
//! or the bare `BinaryHeap` loop of `benches/engine.rs`, so that instruction counts per
//! event can be compared without wall-clock noise.
//!
//! ```text
//! cargo build --release -p dsim-core --example hold_profile
//! valgrind --tool=callgrind target/release/examples/hold_profile engine 200000
//! valgrind --tool=callgrind target/release/examples/hold_profile heap 200000
//! target/release/examples/hold_profile engine-constant 200000   # 1 ms constant links
//! ```
//!
//! `engine-constant` runs the engine with constant 1 ms links instead: the difference
//! to `engine` is what sampling log-normal delays costs.
//!
//! Instructions per event: run the same mode with two event counts (say 100,000 and
//! 300,000) and divide the difference of the two totals by the difference of the
//! counts, which cancels the set-up and warm-up.
//!
//! Both keep 10,000 events pending (1,000 nodes, 10 messages each; log-normal links with
//! median 1 ms and sigma 0.5, no drops, for the engine). The engine first runs 10 ms of
//! virtual time to reach its steady state, then handles `EVENTS` deliveries.

use dsim_core::hold::HoldNode;
use dsim_core::{
    Delay, LinkModel, LinkOrder, NetworkConfig, SimConfig, SimTime, Simulation, fingerprint_hex,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::process::ExitCode;

const NODES: usize = 1_000;
const MESSAGES_PER_NODE: u32 = 10;

fn engine(events: u64, delay: Delay) {
    let config = SimConfig {
        seed: 1,
        network: NetworkConfig {
            default_link: LinkModel {
                delay,
                drop_ratio: 0.0,
                duplicate_ratio: 0.0,
                order: LinkOrder::Unordered,
            },
            ..NetworkConfig::default()
        },
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config, NODES, |_, _| HoldNode::new(MESSAGES_PER_NODE))
        .expect("valid configuration");
    sim.run_until(SimTime(10_000_000))
        .expect("hold sends only to real nodes");
    let before = sim.counters().messages_delivered;
    for _ in 0..events {
        sim.step();
    }
    println!(
        "engine: {} deliveries, fingerprint {}",
        sim.counters().messages_delivered - before,
        fingerprint_hex(sim.fingerprint())
    );
}

fn heap(events: u64) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut draw = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (
            500_000 + (state & 0xF_FFFF) % 1_000_000,
            ((state >> 32) % NODES as u64) as u32,
        )
    };
    let pending = NODES * MESSAGES_PER_NODE as usize;
    let mut heap = BinaryHeap::with_capacity(pending);
    let mut seq = 0u64;
    for _ in 0..pending {
        let (delay, target) = draw();
        seq += 1;
        heap.push(Reverse((delay, seq, target)));
    }
    let mut sum = 0u64;
    for _ in 0..events {
        let Reverse((time, _, target)) = heap.pop().expect("constant population");
        sum = sum.wrapping_add(u64::from(target));
        let (delay, next) = draw();
        seq += 1;
        heap.push(Reverse((time + delay, seq, next)));
    }
    println!("heap: {events} events, checksum {sum}");
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "engine".to_string());
    let events = match args.next().map(|text| text.parse::<u64>()) {
        None => 200_000,
        Some(Ok(events)) => events,
        Some(Err(_)) => {
            eprintln!("usage: hold_profile engine|engine-constant|heap [EVENTS]");
            return ExitCode::from(2);
        }
    };
    match mode.as_str() {
        "engine" => engine(
            events,
            Delay::LogNormal {
                median_ns: 1_000_000.0,
                sigma: 0.5,
            },
        ),
        "engine-constant" => engine(events, Delay::Constant { ns: 1_000_000 }),
        "heap" => heap(events),
        _ => {
            eprintln!("usage: hold_profile engine|engine-constant|heap [EVENTS]");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
