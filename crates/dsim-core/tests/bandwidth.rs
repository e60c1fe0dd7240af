//! Link and NIC bandwidth (load model): a transmission takes size/bandwidth, links and
//! sending NICs transmit one message at a time in send order, a receiving NIC one at a
//! time in its first idle stretch, the propagation delay follows,
//! and `degrade` faults can cut bandwidth. Links are constant 1 ms in the worked
//! examples, so every time below is exact.

use dsim_core::{
    Bandwidth, Delay, Fault, LinkBandwidth, LinkModel, LoadConfig, NetworkConfig, Node, NodeCpu,
    NodeId, Observation, SimConfig, SimDuration, SimTime, Simulation,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;
const MEGABYTE: u64 = 1_000_000;

/// One planned send: at `at_ns`, to `target`, message `id` of `bytes` bytes.
#[derive(Clone, Debug)]
struct Send {
    at_ns: u64,
    target: NodeId,
    id: u64,
    bytes: u64,
}

/// A message of a given size.
#[derive(Clone, Debug)]
struct Packet {
    id: u64,
    bytes: u64,
}

/// Sends its plan (each entry from a timer due at its time) and observes every
/// arrival as the metric `arrived` with the message id.
struct Sender {
    plan: Vec<Send>,
}

impl Node for Sender {
    type Msg = Packet;
    type Timer = usize;
    type Durable = ();
    type Event = ();

    fn on_start(&mut self, ctx: &mut dsim_core::Ctx<'_, Self>) {
        for (index, send) in self.plan.iter().enumerate() {
            ctx.set_timer(SimDuration(send.at_ns), index);
        }
    }

    fn on_message(&mut self, ctx: &mut dsim_core::Ctx<'_, Self>, _source: NodeId, msg: Packet) {
        ctx.observe(Observation::Metric {
            name: "arrived",
            value: msg.id,
        });
    }

    fn on_timer(&mut self, ctx: &mut dsim_core::Ctx<'_, Self>, index: usize) {
        let send = &self.plan[index];
        ctx.send(
            send.target,
            Packet {
                id: send.id,
                bytes: send.bytes,
            },
        );
    }

    fn message_size(msg: &Packet) -> u64 {
        msg.bytes
    }
}

fn mbit(n: u64) -> Bandwidth {
    Bandwidth::bits_per_s(n * 1_000_000)
}

/// A load model with free handlers and these bandwidths.
fn with_bandwidth(bandwidth: LinkBandwidth) -> LoadConfig {
    LoadConfig {
        cpu: NodeCpu {
            cpu: Delay::Constant { ns: 0 },
            ..NodeCpu::default()
        },
        bandwidth,
        ..LoadConfig::default()
    }
}

/// `nodes` senders over `link`, each with its part of `plan` (by source).
fn simulation(
    nodes: usize,
    link: LinkModel,
    load: LoadConfig,
    plan: &[(NodeId, Send)],
) -> Simulation<Sender> {
    let mut plans: Vec<Vec<Send>> = vec![Vec::new(); nodes];
    for (source, send) in plan {
        plans[source.index()].push(send.clone());
    }
    let config = SimConfig {
        seed: 7,
        network: NetworkConfig {
            default_link: link,
            ..NetworkConfig::default()
        },
        load: Some(load),
        ..SimConfig::default()
    };
    Simulation::new(config, nodes, move |id, _| Sender {
        plan: plans[id.index()].clone(),
    })
    .expect("valid configuration")
}

fn one_ms_link() -> LinkModel {
    LinkModel {
        delay: Delay::Constant { ns: MS },
        ..LinkModel::default()
    }
}

fn send(source: u32, at_ns: u64, target: u32, id: u64, bytes: u64) -> (NodeId, Send) {
    (
        NodeId(source),
        Send {
            at_ns,
            target: NodeId(target),
            id,
            bytes,
        },
    )
}

/// Arrival time (ns) of each message id, in delivery order.
fn arrivals(sim: &Simulation<Sender>) -> Vec<(u64, u64)> {
    sim.observations()
        .iter()
        .filter_map(|record| match record.observation {
            Observation::Metric {
                name: "arrived",
                value,
            } => Some((value, record.time.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_megabyte_over_8_mbit_per_s_arrives_after_one_second_plus_propagation() {
    // 1 MB = 8 Mbit takes exactly 1 s at 8 Mbit/s, then the 1 ms link delay. Without
    // the transmission time it would arrive at 1 ms; at a bytes-for-bits mistake, 8 s
    // or 125 ms.
    let load = with_bandwidth(LinkBandwidth {
        link: Some(mbit(8)),
        ..LinkBandwidth::default()
    });
    let mut sim = simulation(2, one_ms_link(), load, &[send(0, 0, 1, 1, MEGABYTE)]);
    sim.run_until_quiescent().unwrap();
    assert_eq!(arrivals(&sim), [(1, SECOND + MS)]);
}

#[test]
fn a_small_message_behind_a_big_one_on_the_same_link_waits() {
    // The 100-byte message is sent right after the megabyte on link 0->1: it is
    // transmitted from 1 s to 1 s + 100 us, so it arrives at 1.0011 s. The same small
    // message on link 0->2 is not behind anything: 100 us + 1 ms. If links transmitted
    // in parallel the first small message would arrive at 1.1 ms too.
    let load = with_bandwidth(LinkBandwidth {
        link: Some(mbit(8)),
        ..LinkBandwidth::default()
    });
    let plan = [
        send(0, 0, 1, 1, MEGABYTE),
        send(0, 0, 1, 2, 100),
        send(0, 0, 2, 3, 100),
    ];
    let mut sim = simulation(3, one_ms_link(), load, &plan);
    sim.run_until_quiescent().unwrap();
    assert_eq!(
        arrivals(&sim),
        [
            (3, 100_000 + MS),
            (1, SECOND + MS),
            (2, SECOND + 100_000 + MS)
        ]
    );
}

#[test]
fn a_nic_shared_by_two_links_serializes_them() {
    // Node 0's NIC (8 Mbit/s) sends a megabyte to node 1, then one to node 2: the
    // second waits for the first, 1 s then 2 s. Links have no bandwidth of their own,
    // and node 3 (no NIC limit) sends to node 2 unhindered by node 0's NIC. Without the
    // NIC both megabytes would take 1 ms.
    let load = with_bandwidth(LinkBandwidth {
        nics: [(NodeId(0), mbit(8))].into_iter().collect(),
        ..LinkBandwidth::default()
    });
    let plan = [
        send(0, 0, 1, 1, MEGABYTE),
        send(0, 0, 2, 2, MEGABYTE),
        send(3, 0, 2, 3, MEGABYTE),
    ];
    let mut sim = simulation(4, one_ms_link(), load, &plan);
    sim.run_until_quiescent().unwrap();
    assert_eq!(
        arrivals(&sim),
        [(3, MS), (1, SECOND + MS), (2, 2 * SECOND + MS)]
    );
}

#[test]
fn a_receiving_nic_serializes_incoming_transmissions() {
    // Nodes 1 and 2 each send a megabyte to node 0 at once; node 0's NIC receives at
    // 8 Mbit/s, one transmission at a time: 1 s and 2 s (incast). With only sending
    // NICs modelled both would arrive at 1 s.
    let load = with_bandwidth(LinkBandwidth {
        nic: Some(mbit(8)),
        nics: [(NodeId(1), mbit(80)), (NodeId(2), mbit(80))]
            .into_iter()
            .collect(),
        ..LinkBandwidth::default()
    });
    let plan = [send(1, 0, 0, 1, MEGABYTE), send(2, 0, 0, 2, MEGABYTE)];
    let mut sim = simulation(3, one_ms_link(), load, &plan);
    sim.run_until_quiescent().unwrap();
    assert_eq!(arrivals(&sim), [(1, SECOND + MS), (2, 2 * SECOND + MS)]);
}

#[test]
fn a_nic_waits_only_for_its_own_transmissions_not_for_its_peers() {
    // Every NIC at 8 Mbit/s. Node 1 is busy sending a megabyte to node 2 until 1 s, so
    // its megabyte to node 0 (sent at 1 ms) is transmitted from 1 s to 2 s. Node 3's
    // 500 kB to node 0, sent at 2 ms, finds node 0's NIC idle until then and arrives
    // at 0.502 s (+1 ms); had node 1's queued message held node 0's NIC from its send
    // on (one reservation of both NICs), it would wait until 2.5 s. Likewise node 6's
    // megabyte to node 5 waits for node 5's NIC (busy with node 4's until 1 s), but
    // node 6's own NIC is free again at 1.001 s, so its 500 kB to node 7 arrives at
    // 1.501 s (+1 ms), not at 2.5 s behind the receiver node 5 was waiting for.
    let load = with_bandwidth(LinkBandwidth {
        nic: Some(mbit(8)),
        ..LinkBandwidth::default()
    });
    let plan = [
        send(1, 0, 2, 1, MEGABYTE),
        send(1, MS, 0, 2, MEGABYTE),
        send(3, 2 * MS, 0, 3, MEGABYTE / 2),
        send(4, 0, 5, 4, MEGABYTE),
        send(6, MS, 5, 5, MEGABYTE),
        send(6, 2 * MS, 7, 6, MEGABYTE / 2),
    ];
    let mut sim = simulation(8, one_ms_link(), load, &plan);
    sim.run_until_quiescent().unwrap();
    let mut arrived = arrivals(&sim);
    arrived.sort_unstable();
    assert_eq!(
        arrived,
        [
            (1, SECOND + MS),
            (2, 2 * SECOND + MS),
            (3, 502 * MS + MS),
            (4, SECOND + MS),
            (5, 2 * SECOND + MS),
            (6, SECOND + 501 * MS + MS),
        ]
    );
}

#[test]
fn degrade_cuts_bandwidth_while_it_lasts() {
    // From 0 to 5 s node 0's links run at half bandwidth: a megabyte sent at 1 ms
    // takes 2 s; one sent at 10 s, after the cut ended, takes 1 s again. A degrade
    // that ignored the factor would give 1 s both times; one that never ended, 2 s.
    let load = with_bandwidth(LinkBandwidth {
        link: Some(mbit(8)),
        ..LinkBandwidth::default()
    });
    let plan = [
        send(0, MS, 1, 1, MEGABYTE),
        send(0, 10 * SECOND, 1, 2, MEGABYTE),
    ];
    let mut sim = simulation(2, one_ms_link(), load, &plan);
    sim.schedule_fault(
        SimTime::ZERO,
        Fault::Degrade {
            nodes: vec![NodeId(0)],
            delay: None,
            drop_ratio: None,
            bandwidth_factor: Some(0.5),
            duration: SimDuration(5 * SECOND),
        },
    )
    .unwrap();
    sim.run_until_quiescent().unwrap();
    assert_eq!(
        arrivals(&sim),
        [(1, MS + 2 * SECOND + MS), (2, 11 * SECOND + MS)]
    );
}

#[test]
fn without_bandwidth_a_load_model_sends_in_zero_time() {
    // The same megabyte with a load model but no bandwidth anywhere takes only the
    // link delay: bandwidth is opt-in, and the model without it changes no arrival.
    let mut sim = simulation(
        2,
        one_ms_link(),
        with_bandwidth(LinkBandwidth::default()),
        &[send(0, 0, 1, 1, MEGABYTE)],
    );
    sim.run_until_quiescent().unwrap();
    assert_eq!(arrivals(&sim), [(1, MS)]);
}

#[test]
fn a_bandwidth_factor_that_is_not_positive_is_refused() {
    // A zero factor would be zero bandwidth: nothing could ever be sent.
    let mut sim = simulation(
        2,
        one_ms_link(),
        with_bandwidth(LinkBandwidth {
            link: Some(mbit(8)),
            ..LinkBandwidth::default()
        }),
        &[],
    );
    for factor in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let fault = Fault::Degrade {
            nodes: Vec::new(),
            delay: None,
            drop_ratio: None,
            bandwidth_factor: Some(factor),
            duration: SimDuration(SECOND),
        };
        assert!(
            sim.schedule_fault(SimTime::ZERO, fault).is_err(),
            "{factor}"
        );
    }
}

#[test]
fn zero_bandwidth_is_refused() {
    // Zero bits per second would hold every message forever.
    let config = LinkBandwidth {
        link: Some(Bandwidth::bits_per_s(0)),
        ..LinkBandwidth::default()
    };
    assert!(config.validate(2).is_err());
}

/// A random run: nodes, a lossy, duplicating lognormal link, link and NIC bandwidths,
/// and a plan of sends.
#[derive(Clone, Debug)]
struct Case {
    nodes: usize,
    link_mbit: Option<u64>,
    nic_mbit: Option<u64>,
    drop_ratio: f64,
    duplicate_ratio: f64,
    plan: Vec<(NodeId, Send)>,
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..5).prop_flat_map(|nodes| {
        let sends = prop::collection::vec(
            (
                0..nodes as u32,
                0..nodes as u32,
                0u64..50,
                prop_oneof![1u64..2_000, 10_000u64..200_000],
            ),
            1..60,
        );
        (
            Just(nodes),
            prop::option::of(1u64..100),
            prop::option::of(1u64..100),
            0.0..0.2f64,
            0.0..0.2f64,
            sends,
        )
            .prop_filter("some link or NIC has a bandwidth", |case| {
                case.1.is_some() || case.2.is_some()
            })
            .prop_map(
                |(nodes, link_mbit, nic_mbit, drop_ratio, duplicate_ratio, sends)| Case {
                    nodes,
                    link_mbit,
                    nic_mbit,
                    drop_ratio,
                    duplicate_ratio,
                    plan: sends
                        .into_iter()
                        .enumerate()
                        .filter(|(_, (source, target, _, _))| source != target)
                        .map(|(id, (source, target, at_ms, bytes))| {
                            send(source, at_ms * MS, target, id as u64, bytes)
                        })
                        .collect(),
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(0xBA4D_0001),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn with_bandwidth_links_deliver_in_send_order_and_never_before_size_over_bandwidth(
        case in case()
    ) {
        let bandwidth = LinkBandwidth {
            link: case.link_mbit.map(mbit),
            nic: case.nic_mbit.map(mbit),
            ..LinkBandwidth::default()
        };
        let slowest = [bandwidth.link, bandwidth.nic]
            .into_iter()
            .flatten()
            .min()
            .expect("the case has a bandwidth");
        let link = LinkModel {
            delay: Delay::LogNormal { median_ns: MS as f64, sigma: 1.0 },
            drop_ratio: case.drop_ratio,
            duplicate_ratio: case.duplicate_ratio,
            ..LinkModel::default()
        };
        let mut sim = simulation(case.nodes, link, with_bandwidth(bandwidth), &case.plan);
        sim.run_until_quiescent().unwrap();
        let sends: BTreeMap<u64, &(NodeId, Send)> =
            case.plan.iter().map(|entry| (entry.1.id, entry)).collect();
        // Per link, the send order of each message: its send time, then its place in
        // the plan (sends at one instant go out in plan order per source, and ids
        // grow in plan order).
        let mut last_on_link: BTreeMap<(u32, u32), (u64, u64)> = BTreeMap::new();
        for (id, arrived_ns) in arrivals(&sim) {
            let (source, send) = sends[&id];
            // Never before its own transmission at the slowest rate on the way: an
            // arrival earlier than that would mean the bytes moved faster than the
            // bandwidth allows.
            prop_assert!(
                arrived_ns >= send.at_ns + slowest.transmit_ns(send.bytes),
                "message {id} arrived at {arrived_ns} ns, sent at {} ns with {} bytes",
                send.at_ns,
                send.bytes
            );
            // FIFO per link: a message delivered after a later-sent one on the same
            // link would mean a link with bandwidth reordered its messages.
            let order = (send.at_ns, id);
            let link = (source.0, send.target.0);
            if let Some(previous) = last_on_link.get(&link) {
                prop_assert!(
                    order >= *previous,
                    "message {id} on {link:?} delivered after a later one {previous:?}"
                );
            }
            last_on_link.insert(link, order);
        }
    }
}
