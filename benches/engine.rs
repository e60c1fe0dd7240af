//! The engine against the floor any heap scheduler pays, in delivered events per second.
//!
//! Both functions run the classic "hold" model with 10,000 events pending: every event
//! handled schedules one more at a random later time.
//!
//! - `engine_hold`: `dsim_core::hold::HoldNode` on 1,000 nodes, 10 messages each, over
//!   log-normal links (median 1 ms, sigma 0.5), no drops. Each iteration steps the
//!   engine through [`EVENTS_PER_ITERATION`] deliveries of a run that is already in its
//!   steady state (the set-up and warm-up happen once, outside the timed part).
//! - `binary_heap_floor`: a bare `BinaryHeap<Reverse<(time, seq, target)>>` of the same
//!   size; each event pops the minimum and pushes a new entry at time + random delay to
//!   a random target, with an inline xorshift. No payloads, no network model, no
//!   handlers: what a scheduler costs before it does anything useful.
//!
//! Run: `cargo bench -p dsim-benches --bench engine -- --warm-up-time 2 --measurement-time 5`.
//! The ratio of the two throughputs is the engine's overhead over a bare heap.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use dsim_core::hold::HoldNode;
use dsim_core::{Delay, LinkModel, LinkOrder, NetworkConfig, SimConfig, SimTime, Simulation};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

/// Nodes in the hold model.
const NODES: usize = 1_000;
/// Messages each node keeps in flight.
const MESSAGES_PER_NODE: u32 = 10;
/// Events pending at any time: 10,000.
const PENDING: usize = NODES * MESSAGES_PER_NODE as usize;
/// Delivered events per timed iteration.
const EVENTS_PER_ITERATION: u64 = 100_000;

/// The hold run in its steady state: every node started, 10,000 messages in flight.
fn steady_hold_engine() -> Simulation<HoldNode> {
    let config = SimConfig {
        seed: 1,
        network: NetworkConfig {
            default_link: LinkModel {
                delay: Delay::LogNormal {
                    median_ns: 1_000_000.0,
                    sigma: 0.5,
                },
                drop_ratio: 0.0,
                duplicate_ratio: 0.0,
                order: LinkOrder::Unordered,
            },
            ..NetworkConfig::default()
        },
        ..SimConfig::default()
    };
    let mut sim = Simulation::new(config, NODES, |_, _| HoldNode::new(MESSAGES_PER_NODE))
        .expect("the hold configuration is valid");
    // 10 ms of virtual time: every start handled and about ten hops per message.
    sim.run_until(SimTime(10_000_000))
        .expect("hold sends only to real nodes");
    assert_eq!(
        sim.pending_events(),
        PENDING,
        "no drops: the population is constant"
    );
    sim
}

/// The bare-heap hold model at the same queue size.
struct HeapHold {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    seq: u64,
    state: u64,
}

impl HeapHold {
    fn new() -> Self {
        let mut hold = HeapHold {
            heap: BinaryHeap::with_capacity(PENDING),
            seq: 0,
            state: 0x9E37_79B9_7F4A_7C15,
        };
        for _ in 0..PENDING {
            let (delay, target) = hold.draw();
            hold.push(delay, target);
        }
        hold
    }

    /// xorshift64: a delay uniform in [0.5 ms, 1.5 ms) and a random target.
    #[inline]
    fn draw(&mut self) -> (u64, u32) {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        let delay = 500_000 + (x & 0xF_FFFF) % 1_000_000;
        let target = ((x >> 32) % NODES as u64) as u32;
        (delay, target)
    }

    #[inline]
    fn push(&mut self, time: u64, target: u32) {
        self.seq += 1;
        self.heap.push(Reverse((time, self.seq, target)));
    }

    /// Handles one event: pop the earliest, schedule its successor.
    #[inline]
    fn step(&mut self) -> u32 {
        let Reverse((time, _, target)) = self.heap.pop().expect("the population is constant");
        let (delay, next_target) = self.draw();
        self.push(time + delay, next_target);
        target
    }
}

fn engine_vs_heap(c: &mut Criterion) {
    let mut group = c.benchmark_group("hold_10k_pending");
    group.throughput(Throughput::Elements(EVENTS_PER_ITERATION));
    // Each iteration is long (tens of milliseconds): flat sampling, fewer samples.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(50);

    let mut sim = steady_hold_engine();
    // Check once that one iteration is exactly EVENTS_PER_ITERATION deliveries.
    let before = sim.counters().messages_delivered;
    for _ in 0..EVENTS_PER_ITERATION {
        assert!(sim.step());
    }
    assert_eq!(
        sim.counters().messages_delivered - before,
        EVENTS_PER_ITERATION
    );
    group.bench_function("engine_hold", |b| {
        b.iter(|| {
            for _ in 0..EVENTS_PER_ITERATION {
                sim.step();
            }
            black_box(sim.now())
        })
    });

    let mut heap = HeapHold::new();
    group.bench_function("binary_heap_floor", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for _ in 0..EVENTS_PER_ITERATION {
                sum = sum.wrapping_add(u64::from(heap.step()));
            }
            black_box(sum)
        })
    });
    assert_eq!(heap.heap.len(), PENDING);
    group.finish();
}

criterion_group!(benches, engine_vs_heap);
criterion_main!(benches);
