//! The load model worked out by hand: service times, the FIFO arrival queue, its
//! capacity, sync latency, crashes during service, and a model with free handlers that
//! changes nothing. Links are constant 1 ms and service is constant, so every time below
//! is exact.

use dsim_core::{
    Ctx, Delay, DropReason, LinkModel, LoadConfig, NetworkConfig, Node, NodeCpu, NodeId,
    Observation, SimConfig, SimDuration, SimTime, Simulation,
};

const MS: u64 = 1_000_000;

/// Messages of the little request/reply protocol.
#[derive(Clone, Debug)]
enum Msg {
    /// A client's request; costs 1 unit at the server.
    Request { op: u64 },
    /// The server's reply (free).
    Reply { op: u64 },
    /// A request the server answers twice: once before a sync, once after it.
    Durable { op: u64 },
}

/// A timer that makes the server send requests to itself (cost 2).
#[derive(Clone, Debug)]
enum Timer {
    Work,
}

/// Node 0 serves; every other node sends `requests` requests at time 0 and observes
/// each reply as a completed operation.
struct Station {
    requests: u64,
    durable_requests: bool,
    /// The server sets a `Work` timer due at once when it starts.
    work_at_start: bool,
}

impl Node for Station {
    type Msg = Msg;
    type Timer = Timer;
    type Durable = ();
    type Event = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            if self.work_at_start {
                ctx.set_timer(SimDuration(0), Timer::Work);
            }
            return;
        }
        for i in 0..self.requests {
            let op = u64::from(ctx.id().0) * 100 + i;
            ctx.observe(Observation::OpInvoked {
                op,
                f: "req",
                key: None,
                arg: dsim_core::Value::Nil,
            });
            let msg = if self.durable_requests {
                Msg::Durable { op }
            } else {
                Msg::Request { op }
            };
            ctx.send(NodeId(0), msg);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, source: NodeId, msg: Msg) {
        match msg {
            Msg::Request { op } => ctx.send(source, Msg::Reply { op }),
            Msg::Durable { op } => {
                ctx.send(source, Msg::Reply { op });
                ctx.sync();
                ctx.send(source, Msg::Reply { op: op + 50 });
            }
            Msg::Reply { op } => ctx.observe(Observation::OpCompleted {
                op,
                outcome: dsim_core::Outcome::Ok,
                ret: dsim_core::Value::Nil,
            }),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: Timer) {
        ctx.observe(Observation::Metric {
            name: "work_done",
            value: 1,
        });
    }

    fn message_cost(msg: &Msg) -> u32 {
        match msg {
            Msg::Request { .. } | Msg::Durable { .. } => 1,
            Msg::Reply { .. } => 0,
        }
    }

    fn timer_cost(_timer: &Timer) -> u32 {
        2
    }
}

/// `clients` clients of one server over constant 1 ms links.
fn station(clients: usize, requests: u64, durable_requests: bool) -> Simulation<Station> {
    station_with_work(clients, requests, durable_requests, false)
}

/// [`station`], optionally with the server's `Work` timer.
fn station_with_work(
    clients: usize,
    requests: u64,
    durable_requests: bool,
    work_at_start: bool,
) -> Simulation<Station> {
    let config = SimConfig {
        seed: 3,
        network: NetworkConfig {
            default_link: LinkModel {
                delay: Delay::Constant { ns: MS },
                ..LinkModel::default()
            },
            ..NetworkConfig::default()
        },
        ..SimConfig::default()
    };
    Simulation::new(config, clients + 1, move |_, _| Station {
        requests,
        durable_requests,
        work_at_start,
    })
    .expect("valid configuration")
}

/// A load model: `cores` cores at constant `per_unit_ns` per unit, optional capacity.
fn load(cores: u32, per_unit_ns: u64, queue_capacity: Option<u32>) -> LoadConfig {
    LoadConfig {
        cpu: NodeCpu {
            cores,
            cpu: Delay::Constant { ns: per_unit_ns },
            queue_capacity,
        },
        ..LoadConfig::default()
    }
}

/// Completion times of the operations, in ms, in completion order.
fn completions_ms(sim: &Simulation<Station>) -> Vec<(u64, u64)> {
    sim.observations()
        .iter()
        .filter_map(|record| match record.observation {
            Observation::OpCompleted { op, .. } => Some((record.time.0 / MS, op)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reply_leaves_when_the_service_ends() {
    // Request arrives at 1 ms, is served for 2 ms, the reply leaves at 3 ms and arrives
    // at 4 ms. Without service time it would arrive at 2 ms.
    let mut sim = station(1, 1, false);
    sim.set_load(load(1, 2 * MS, None)).unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(4, 100)]);
}

#[test]
fn arrivals_finding_every_core_busy_wait_in_fifo_order() {
    // Three requests reach a one-core server at 1 ms (clients 1, 2, 3 in that order):
    // served 1-2, 2-3, 3-4 ms, replies at 3, 4, 5 ms in arrival order. Served in
    // parallel (no queue) they would all be back at 3 ms; served out of order, the
    // ops would not be 100, 200, 300.
    let mut sim = station(3, 1, false);
    sim.set_load(load(1, MS, None)).unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(3, 100), (4, 200), (5, 300)]);
}

#[test]
fn a_timer_handler_occupies_a_core_too() {
    // The server's Work timer (cost 2) is served 0-2 ms; the request arriving at 1 ms
    // waits for it, is served 2-3 ms, and its reply arrives at 4 ms (3 ms if timers
    // took no core). The timer's handler itself runs when its service ends, at 2 ms.
    let mut sim = station_with_work(1, 1, false, true);
    sim.set_load(load(1, MS, None)).unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(4, 100)]);
    let work: Vec<u64> = sim
        .observations()
        .iter()
        .filter(|record| matches!(record.observation, Observation::Metric { .. }))
        .map(|record| record.time.0)
        .collect();
    assert_eq!(work, [2 * MS]);
}

#[test]
fn two_cores_serve_two_arrivals_at_once() {
    // With 2 cores the first two requests are served together (replies at 3 ms) and
    // the third waits for a core (reply at 4 ms).
    let mut sim = station(3, 1, false);
    sim.set_load(load(2, MS, None)).unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(3, 100), (3, 200), (4, 300)]);
}

#[test]
fn a_per_node_override_gives_the_server_its_own_capacity() {
    // The default is one slow core; the server's override is four fast ones: every
    // reply is back at 1 + 0.5 + 1 ms. With the default it would take 10 ms each.
    let mut sim = station(4, 1, false);
    let mut config = load(1, 10 * MS, None);
    config.overrides.insert(
        NodeId(0),
        NodeCpu {
            cores: 4,
            cpu: Delay::Constant { ns: MS / 2 },
            queue_capacity: None,
        },
    );
    sim.set_load(config).unwrap();
    sim.run_until_quiescent().unwrap();
    let times: Vec<u64> = sim
        .observations()
        .iter()
        .filter(|record| matches!(record.observation, Observation::OpCompleted { .. }))
        .map(|record| record.time.0)
        .collect();
    assert_eq!(times, [5 * MS / 2; 4]);
}

#[test]
fn messages_beyond_the_queue_capacity_are_dropped_as_overload() {
    // Five requests at once to one core with room for two waiting: one in service, two
    // queued, two dropped. The counters must say so, and only three replies come back.
    let mut sim = station(5, 1, false);
    sim.set_load(load(1, MS, Some(2))).unwrap();
    sim.run_until_quiescent().unwrap();
    let counters = sim.counters();
    assert_eq!(counters.dropped_by_overload, 2);
    assert_eq!(counters.messages_dropped, 2);
    assert_eq!(completions_ms(&sim), [(3, 100), (4, 200), (5, 300)]);
    assert_eq!(DropReason::Overload.word(), "overload");
}

#[test]
fn effects_after_a_sync_wait_for_the_sync_latency() {
    // The server replies, syncs (5 ms), replies again: served 1-2 ms, the first reply
    // arrives at 3 ms, the second leaves at 7 ms and arrives at 8 ms. A free sync would
    // bring both at 3 ms.
    let mut sim = station(1, 1, true);
    let mut config = load(1, MS, None);
    config.sync = Some(Delay::Constant { ns: 5 * MS });
    sim.set_load(config).unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(3, 100), (8, 150)]);
}

#[test]
fn a_crash_during_service_loses_the_message_and_frees_the_cores() {
    // The server crashes at 1.5 ms, in the middle of the first request's service, with
    // two more waiting: all three are lost (counted at the crashed node), no reply
    // comes back, and nothing is left queued (the service end of the lost request is
    // recognised as a previous life's).
    let mut sim = station(3, 1, false);
    sim.set_load(load(1, MS, None)).unwrap();
    sim.schedule_fault(SimTime(3 * MS / 2), dsim_core::Fault::Crash(NodeId(0)))
        .unwrap();
    sim.schedule_fault(SimTime(2 * MS), dsim_core::Fault::Restart(NodeId(0)))
        .unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(sim.counters().dropped_at_crashed_node, 3);
    assert!(completions_ms(&sim).is_empty());
    assert_eq!(sim.pending_events(), 0);
}

#[test]
fn a_pause_during_service_delays_the_handler_until_it_resumes() {
    // Service 1-2 ms, but the server is paused from 1.5 ms to 4 ms: the handler runs at
    // 4 ms and the reply arrives at 5 ms (3 ms without the pause).
    let mut sim = station(1, 1, false);
    sim.set_load(load(1, MS, None)).unwrap();
    sim.schedule_fault(
        SimTime(3 * MS / 2),
        dsim_core::Fault::Pause {
            node: NodeId(0),
            duration: SimDuration(5 * MS / 2),
        },
    )
    .unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(5, 100)]);
}

#[test]
fn a_load_model_with_free_handlers_changes_nothing() {
    // The same run with the model on and every cost at zero (a protocol that declares
    // none) takes no extra draw and schedules no extra event: the fingerprint must
    // equal the run without the model. Costs are zero here because the per-unit time
    // is zero.
    let mut off = station(3, 4, false);
    off.run_until_quiescent().unwrap();
    let mut on = station(3, 4, false);
    on.set_load(load(1, 0, None)).unwrap();
    on.run_until_quiescent().unwrap();
    assert_eq!(on.fingerprint(), off.fingerprint());
    assert_eq!(completions_ms(&on), completions_ms(&off));
}

#[test]
fn bad_capacity_settings_are_refused() {
    // No core, a zero-capacity queue, an override for a node that does not exist and a
    // NaN sync latency are all configuration errors, not runs.
    let mut sim = station(1, 1, false);
    assert!(sim.set_load(load(0, MS, None)).is_err());
    assert!(sim.set_load(load(1, MS, Some(0))).is_err());
    let mut unknown = load(1, MS, None);
    unknown.overrides.insert(NodeId(9), NodeCpu::default());
    assert!(sim.set_load(unknown).is_err());
    let mut nan = load(1, MS, None);
    nan.sync = Some(Delay::Exponential { mean_ns: f64::NAN });
    assert!(sim.set_load(nan).is_err());
}

#[test]
fn a_slow_fault_multiplies_service_times_while_it_lasts() {
    // The server's CPU is 3x slower from 0 to 5 ms: the first request (arriving at
    // 1 ms) takes 3 ms, its reply arrives at 5 ms. A second run with the fault over
    // (at 0.5 ms) before the request arrives serves it in 1 ms (reply at 3 ms): the factor must
    // end with the fault.
    let slowed = |duration_ns: u64| {
        let mut sim = station(1, 1, false);
        sim.set_load(load(1, MS, None)).unwrap();
        sim.schedule_fault(
            SimTime::ZERO,
            dsim_core::Fault::Slow {
                node: NodeId(0),
                factor: 3.0,
                duration: SimDuration(duration_ns),
            },
        )
        .unwrap();
        sim.run_until_quiescent().unwrap();
        completions_ms(&sim)
    };
    assert_eq!(slowed(5 * MS), [(5, 100)]);
    assert_eq!(slowed(MS / 2), [(3, 100)]);
}

#[test]
fn a_slow_disk_fault_multiplies_sync_latency() {
    // Sync 5 ms, disk 2x slower: the reply recorded after the sync leaves at
    // 2 + 10 = 12 ms and arrives at 13 ms (8 ms with a healthy disk).
    let mut sim = station(1, 1, true);
    let mut config = load(1, MS, None);
    config.sync = Some(Delay::Constant { ns: 5 * MS });
    sim.set_load(config).unwrap();
    sim.schedule_fault(
        SimTime::ZERO,
        dsim_core::Fault::SlowDisk {
            node: NodeId(0),
            factor: 2.0,
            duration: SimDuration(100 * MS),
        },
    )
    .unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(completions_ms(&sim), [(3, 100), (13, 150)]);
}

#[test]
fn a_slow_factor_must_be_finite_and_positive() {
    // A zero, negative or NaN factor would make service times vanish or nonsense.
    let mut sim = station(1, 1, false);
    for factor in [0.0, -2.0, f64::NAN, f64::INFINITY] {
        let fault = dsim_core::Fault::Slow {
            node: NodeId(0),
            factor,
            duration: SimDuration(MS),
        };
        assert!(
            sim.schedule_fault(SimTime::ZERO, fault).is_err(),
            "{factor}"
        );
    }
}
