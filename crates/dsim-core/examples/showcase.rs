//! A self-contained tour of the engine (a quick start until the `dsim` CLI exists):
//! five nodes ping each other over a lossy network, one of them crashes and restarts,
//! and the run prints its counters, what the clients saw, and the fingerprint.
//!
//! ```text
//! cargo run -p dsim-core --example showcase            # seed 42
//! cargo run -p dsim-core --example showcase -- 7       # another seed
//! ```
//!
//! Run it twice with the same seed: every number and the fingerprint repeat exactly.

use dsim_core::rng::below;
use dsim_core::{
    Ctx, Delay, Fault, LinkModel, LinkOrder, NetworkConfig, Node, NodeId, Observation, Outcome,
    SimConfig, SimDuration, SimTime, Simulation, StorageMode, TimerId, Value, fingerprint_hex,
};
use std::process::ExitCode;

/// A ping carries the sender's operation number; the pong echoes it.
#[derive(Clone, Copy, Debug)]
enum Msg {
    Ping { op: u64 },
    Pong { op: u64 },
}

#[derive(Clone, Copy, Debug)]
enum Timer {
    /// Time to start the next ping.
    Next,
    /// No pong for `op` in time.
    Timeout { op: u64 },
}

/// Survives crashes: the next operation number, so ops stay unique per node.
#[derive(Clone, Debug, Default)]
struct Durable {
    next_op: u64,
}

/// Every 20 ms (plus jitter) pings a random peer and waits up to 50 ms for the pong.
#[derive(Default)]
struct Pinger {
    /// The outstanding ping, if any, and its timeout timer.
    waiting: Option<(u64, TimerId)>,
}

const PING_EVERY_NS: u64 = 20_000_000;
const TIMEOUT: SimDuration = SimDuration::from_millis(50);

impl Pinger {
    fn schedule_next(ctx: &mut Ctx<'_, Self>) {
        let jitter_ns = below(ctx.rng(), 5_000_000);
        ctx.set_timer(SimDuration(PING_EVERY_NS + jitter_ns), Timer::Next);
    }
}

impl Node for Pinger {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;
    type Event = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        Self::schedule_next(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Ping { op } => ctx.send(source, Msg::Pong { op }),
            Msg::Pong { op } => {
                // Late or duplicated pongs of an op we gave up on are ignored.
                if let Some((waiting, timer)) = self.waiting
                    && waiting == op
                {
                    ctx.cancel_timer(timer);
                    ctx.observe(Observation::OpCompleted {
                        op,
                        outcome: Outcome::Ok,
                        ret: Value::Nil,
                    });
                    self.waiting = None;
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Next => {
                if self.waiting.is_none() {
                    let op = ctx.durable().next_op;
                    ctx.durable_mut().next_op += 1;
                    ctx.sync();
                    let node_count = ctx.node_count() as u64;
                    let me = u64::from(ctx.id().0);
                    // A random peer other than ourselves.
                    let peer = (me + 1 + below(ctx.rng(), node_count - 1)) % node_count;
                    ctx.observe(Observation::OpInvoked {
                        op,
                        f: "ping",
                        key: Some(Value::Int(peer as i64)),
                        arg: Value::Nil,
                    });
                    ctx.send(NodeId(peer as u32), Msg::Ping { op });
                    let timeout = ctx.set_timer(TIMEOUT, Timer::Timeout { op });
                    self.waiting = Some((op, timeout));
                }
                Self::schedule_next(ctx);
            }
            Timer::Timeout { op } => {
                // The ping may still arrive: indeterminate.
                ctx.observe(Observation::OpCompleted {
                    op,
                    outcome: Outcome::Info("timeout"),
                    ret: Value::Nil,
                });
                self.waiting = None;
            }
        }
    }
}

fn main() -> ExitCode {
    let seed = match std::env::args().nth(1).map(|text| text.parse::<u64>()) {
        None => 42,
        Some(Ok(seed)) => seed,
        Some(Err(_)) => {
            eprintln!("usage: showcase [SEED]");
            return ExitCode::from(2);
        }
    };
    let config = SimConfig {
        seed,
        network: NetworkConfig {
            default_link: LinkModel {
                delay: Delay::LogNormal {
                    median_ns: 2_000_000.0,
                    sigma: 0.6,
                },
                drop_ratio: 0.1,
                duplicate_ratio: 0.05,
                order: LinkOrder::Unordered,
            },
            ..NetworkConfig::default()
        },
        storage: StorageMode::LoseUnsynced,
        message_log_limit: 0,
        load: None,
    };
    let nodes = 5;
    let mut sim = Simulation::new(config, nodes, |_, _| Pinger::default())
        .expect("the showcase configuration is valid");
    let ms = |n: u64| SimTime(n * 1_000_000);
    let faults = [
        (ms(300), Fault::Crash(NodeId(2))),
        (ms(600), Fault::Restart(NodeId(2))),
    ];
    for (at, fault) in faults {
        sim.schedule_fault(at, fault).expect("node 2 exists");
    }
    if let Err(error) = sim.run_until(ms(1_000)) {
        eprintln!("showcase: {error}");
        return ExitCode::FAILURE;
    }

    // What the clients saw, from observations only (as a checker would).
    let (mut invoked, mut ok, mut timeouts) = (0, 0, 0);
    let mut per_node_ok = vec![0u32; nodes];
    for record in sim.observations() {
        match record.observation {
            Observation::OpInvoked { .. } => invoked += 1,
            Observation::OpCompleted {
                outcome: Outcome::Ok,
                ..
            } => {
                ok += 1;
                per_node_ok[record.node.index()] += 1;
            }
            Observation::OpCompleted { .. } => timeouts += 1,
            _ => {}
        }
    }
    let c = sim.counters();
    println!(
        "dsim showcase: 5 pingers, lossy network (drop 0.1, duplicate 0.05, lognormal 2ms), node 2 down 300ms..600ms"
    );
    println!("seed                   {seed}");
    println!("virtual_time_ns        {}", sim.now().0);
    println!("events                 {}", c.events);
    println!("messages_sent          {}", c.messages_sent);
    println!("messages_delivered     {}", c.messages_delivered);
    println!("messages_duplicated    {}", c.messages_duplicated);
    println!("dropped_by_link        {}", c.dropped_by_link);
    println!("dropped_at_crashed     {}", c.dropped_at_crashed_node);
    println!("timers_fired           {}", c.timers_fired);
    println!("pings invoked/ok/timeout {invoked}/{ok}/{timeouts}");
    println!("pings ok per node      {per_node_ok:?}");
    for record in sim.fault_log() {
        println!(
            "fault at {:>6}          {}",
            record.time.to_string(),
            record.fault.word()
        );
    }
    println!(
        "fingerprint            {}",
        fingerprint_hex(sim.fingerprint())
    );
    ExitCode::SUCCESS
}
