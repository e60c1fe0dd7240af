//! Writing a scenario back out as TOML: `--emit-scenario` (every nemesis fault made
//! explicit) and `dsim shrink` (the minimal failing scenario). The output reads back to
//! the same [`Scenario`], so it runs to the same fingerprint.

use crate::nemesis::NemesisFault;
use crate::scenario::{Scenario, ScheduledFault};
use dsim_core::{Delay, Fault, LinkModel, LinkOrder, NodeId, SimDuration, StorageMode, Topology};
use std::fmt::Write as _;

/// The scenario as a TOML file with `header` as a leading comment block. Faults are
/// `faults` (pass [`Scenario::concrete_faults`] to make a nemesis and the drawn
/// `count`/`among` entries explicit, one fault per picked node); the seeded parts, the
/// `[nemesis]` table and the drawn entries in their compact form
/// (`crash = { count = 200, among = "workers" }`), are written only when `keep_nemesis`
/// is true (then pass the explicit [`Scenario::faults`]).
pub fn emit(
    scenario: &Scenario,
    faults: &[ScheduledFault],
    keep_nemesis: bool,
    header: &str,
) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    if !header.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "name = {}", quote(&scenario.name));
    let _ = writeln!(out, "seed = {}", scenario.seed);
    let _ = writeln!(out, "duration = {}", duration(scenario.duration));
    let sync = scenario.load.as_ref().and_then(|load| load.sync.as_ref());
    match (scenario.storage, sync) {
        (StorageMode::KeepAll, None) => {}
        (StorageMode::LoseUnsynced, None) => {
            let _ = writeln!(out, "storage = \"lose-unsynced\"");
        }
        (mode, Some(sync)) => {
            let mode = match mode {
                StorageMode::KeepAll => "keep-all",
                StorageMode::LoseUnsynced => "lose-unsynced",
            };
            let _ = writeln!(
                out,
                "storage = {{ mode = \"{mode}\", sync = {} }}",
                delay(sync)
            );
        }
    }
    let _ = writeln!(out, "\n[protocol]");
    let _ = writeln!(out, "kind = {}", quote(&scenario.kind));
    let _ = writeln!(out, "nodes = {}", scenario.nodes);
    let _ = writeln!(out, "variant = {}", quote(&scenario.variant));
    for (key, value) in &scenario.params.0 {
        let _ = writeln!(out, "{key} = {value}");
    }
    let _ = writeln!(out, "\n[workload]");
    let _ = writeln!(out, "clients = {}", scenario.workload.clients);
    match scenario.workload.closed_loop {
        None => {
            let _ = writeln!(out, "rate = \"{}/s\"", scenario.workload.rate_per_s);
        }
        Some(closed) => {
            let _ = writeln!(out, "outstanding = {}", closed.outstanding);
            let _ = writeln!(out, "think_time = {}", duration(closed.think_time));
        }
    }
    if !scenario.workload.idle_clients.is_empty() {
        let ids: Vec<NodeId> = scenario
            .workload
            .idle_clients
            .clients()
            .into_iter()
            .map(|client| NodeId((scenario.nodes + client) as u32))
            .collect();
        let _ = writeln!(out, "idle_clients = {}", nodes(&ids));
    }
    if scenario.workload.arrival != dsim_core::Arrival::Fixed {
        let _ = writeln!(out, "arrival = \"{}\"", scenario.workload.arrival.name());
    }
    workload_shape(&mut out, &scenario.workload);
    let bandwidth = scenario
        .load
        .as_ref()
        .map(|load| load.bandwidth.clone())
        .unwrap_or_default();
    let _ = writeln!(out, "\n[network]");
    link_fields(&mut out, &scenario.network.default_link);
    if let Some(rate) = bandwidth.link {
        let _ = writeln!(out, "bandwidth = {}", rate_text(rate));
    }
    match &scenario.network.topology {
        Topology::FullMesh => {}
        Topology::FullMeshWithOverrides(pairs) => {
            for (source, target, model) in pairs {
                let _ = writeln!(out, "\n[[network.links]]");
                let _ = writeln!(out, "between = [{}, {}]", source.0, target.0);
                let _ = writeln!(out, "one_way = true");
                link_fields(&mut out, model);
                if let Some(rate) = bandwidth.pairs.get(&(*source, *target)) {
                    let _ = writeln!(out, "bandwidth = {}", rate_text(*rate));
                }
            }
        }
        Topology::Graph(links) => {
            let _ = writeln!(out, "topology = \"graph\"");
            for link in links {
                let _ = writeln!(out, "\n[[network.links]]");
                let _ = writeln!(out, "between = [{}, {}]", link.a.0, link.b.0);
                if !link.both_ways {
                    let _ = writeln!(out, "one_way = true");
                }
                if let Some(model) = &link.model {
                    link_fields(&mut out, model);
                }
            }
        }
    }
    if let Some(load) = &scenario.load {
        let _ = writeln!(out, "\n[nodes]");
        cpu_fields(&mut out, &load.cpu);
        if let Some(rate) = load.bandwidth.nic {
            let _ = writeln!(out, "nic = {}", rate_text(rate));
        }
        let mut overridden: Vec<NodeId> = load.overrides.keys().copied().collect();
        overridden.extend(load.bandwidth.nics.keys().copied());
        overridden.sort_unstable();
        overridden.dedup();
        for node in overridden {
            let _ = writeln!(out, "\n[[nodes.overrides]]");
            let _ = writeln!(out, "node = {}", node.0);
            if let Some(cpu) = load.overrides.get(&node) {
                cpu_fields(&mut out, cpu);
            }
            if let Some(rate) = load.bandwidth.nics.get(&node) {
                let _ = writeln!(out, "nic = {}", rate_text(*rate));
            }
        }
    }
    for fault in faults {
        let _ = writeln!(out, "\n[[faults]]");
        let _ = writeln!(
            out,
            "at = {}",
            duration(fault.at - dsim_core::SimTime::ZERO)
        );
        fault_fields(&mut out, &fault.fault);
    }
    if keep_nemesis {
        for entry in &scenario.drawn_faults {
            let _ = writeln!(out, "\n[[faults]]");
            let _ = writeln!(
                out,
                "at = {}",
                duration(entry.at - dsim_core::SimTime::ZERO)
            );
            let _ = writeln!(
                out,
                "{} = {{ count = {}, among = {} }}",
                entry.action.name(),
                entry.count,
                quote(&entry.group)
            );
            if let crate::drawn::DrawnAction::Pause { duration: length } = entry.action {
                let _ = writeln!(out, "duration = {}", duration(length));
            }
        }
    }
    if keep_nemesis && let Some(nemesis) = &scenario.nemesis {
        let kinds: Vec<String> = nemesis
            .faults
            .iter()
            .map(|kind: &NemesisFault| quote(kind.name()))
            .collect();
        let _ = writeln!(out, "\n[nemesis]");
        let _ = writeln!(out, "every = {}", duration(nemesis.every));
        let _ = writeln!(out, "faults = [{}]", kinds.join(", "));
        let _ = writeln!(out, "fault_duration = {}", duration(nemesis.fault_duration));
        let _ = writeln!(
            out,
            "start = {}",
            duration(nemesis.start - dsim_core::SimTime::ZERO)
        );
        let _ = writeln!(
            out,
            "stop = {}",
            duration(nemesis.stop - dsim_core::SimTime::ZERO)
        );
        let _ = writeln!(out, "max_down = {}", nemesis.max_down);
        let targets = match &nemesis.targets {
            crate::nemesis::Targets::Replicas => "\"replicas\"".to_string(),
            crate::nemesis::Targets::All => "\"all\"".to_string(),
            crate::nemesis::Targets::Nodes(list) => nodes(list),
        };
        let _ = writeln!(out, "targets = {targets}");
        let _ = writeln!(
            out,
            "max_clock_offset = {}",
            duration(nemesis.max_clock_offset)
        );
        let _ = writeln!(out, "max_drift_ppm = {}", nemesis.max_drift_ppm);
    }
    out
}

/// `cores`, `cpu` and `queue_capacity` of a `[nodes]` table or override, all explicit.
fn cpu_fields(out: &mut String, cpu: &dsim_core::NodeCpu) {
    let _ = writeln!(out, "cores = {}", cpu.cores);
    let _ = writeln!(out, "cpu = {}", delay(&cpu.cpu));
    if let Some(capacity) = cpu.queue_capacity {
        let _ = writeln!(out, "queue_capacity = {capacity}");
    }
}

/// A bandwidth exactly, in bits per second.
fn rate_text(rate: dsim_core::Bandwidth) -> String {
    format!("\"{}bit/s\"", rate.bits_per_s)
}

fn quote(text: &str) -> String {
    format!("{text:?}")
}

/// A duration as an exact string, in nanoseconds when it has no whole unit.
fn duration(d: SimDuration) -> String {
    format!("\"{d}\"")
}

fn nodes(list: &[NodeId]) -> String {
    let ids: Vec<String> = list.iter().map(|n| n.0.to_string()).collect();
    format!("[{}]", ids.join(", "))
}

fn delay(d: &Delay) -> String {
    // f64 parameters are whole nanoseconds when they came from a file, so printing
    // them as exact durations loses nothing.
    let ns = |v: f64| duration(SimDuration(v.round() as u64));
    match d {
        Delay::Constant { ns: value } => duration(SimDuration(*value)),
        Delay::Uniform { min_ns, max_ns } => format!(
            "{{ dist = \"uniform\", min = {}, max = {} }}",
            duration(SimDuration(*min_ns)),
            duration(SimDuration(*max_ns))
        ),
        Delay::Normal {
            mean_ns,
            std_dev_ns,
        } => format!(
            "{{ dist = \"normal\", mean = {}, std_dev = {} }}",
            ns(*mean_ns),
            ns(*std_dev_ns)
        ),
        Delay::Exponential { mean_ns } => {
            format!("{{ dist = \"exponential\", mean = {} }}", ns(*mean_ns))
        }
        Delay::LogNormal { median_ns, sigma } => format!(
            "{{ dist = \"lognormal\", median = {}, sigma = {sigma:?} }}",
            ns(*median_ns)
        ),
        Delay::Pareto { scale_ns, shape } => format!(
            "{{ dist = \"pareto\", scale = {}, shape = {shape:?} }}",
            ns(*scale_ns)
        ),
    }
}

fn link_fields(out: &mut String, model: &LinkModel) {
    let _ = writeln!(out, "latency = {}", delay(&model.delay));
    let _ = writeln!(out, "drop = {:?}", model.drop_ratio);
    let _ = writeln!(out, "duplicate = {:?}", model.duplicate_ratio);
    let _ = writeln!(out, "fifo = {}", model.order == LinkOrder::Fifo);
}

fn fault_fields(out: &mut String, fault: &Fault) {
    let _ = match fault {
        Fault::Crash(node) => writeln!(out, "crash = {}", node.0),
        Fault::Restart(node) => writeln!(out, "restart = {}", node.0),
        Fault::Isolate(node) => writeln!(out, "isolate = {}", node.0),
        Fault::Heal => writeln!(out, "heal = true"),
        Fault::Pause { node, duration: d } => {
            writeln!(out, "pause = {}\nduration = {}", node.0, duration(*d))
        }
        Fault::Partition(groups) => {
            let groups: Vec<String> = groups.iter().map(|g| nodes(g)).collect();
            // Bridges (a node in two groups) are written as groups with the node in both;
            // the reader accepts them back through `bridge` only, so spell that out.
            match bridge_of(&groups_as_ids(fault)) {
                Some((node, sides)) => writeln!(
                    out,
                    "bridge = {{ node = {node}, groups = [{}] }}",
                    sides.join(", ")
                ),
                None => writeln!(out, "partition = [{}]", groups.join(", ")),
            }
        }
        Fault::Cut { from, to } => writeln!(
            out,
            "cut = {{ from = {}, to = {} }}",
            nodes(from),
            nodes(to)
        ),
        Fault::ClockOffset { node, offset_ns } => {
            let sign = if *offset_ns < 0 { "-" } else { "" };
            writeln!(
                out,
                "clock = {{ node = {}, offset = \"{sign}{}\" }}",
                node.0,
                SimDuration(offset_ns.unsigned_abs())
            )
        }
        Fault::ClockDrift { node, drift_ppm } => writeln!(
            out,
            "clock = {{ node = {}, drift_ppm = {drift_ppm} }}",
            node.0
        ),
        Fault::Slow {
            node,
            factor,
            duration: length,
        } => writeln!(
            out,
            "slow = {}\nfactor = {factor:?}\nduration = {}",
            node.0,
            duration(*length)
        ),
        Fault::SlowDisk {
            node,
            factor,
            duration: length,
        } => writeln!(
            out,
            "slow_disk = {}\nfactor = {factor:?}\nduration = {}",
            node.0,
            duration(*length)
        ),
        Fault::Degrade {
            nodes: targets,
            delay: d,
            drop_ratio,
            bandwidth_factor,
            duration: length,
        } => {
            let mut fields = Vec::new();
            if !targets.is_empty() {
                fields.push(format!("nodes = {}", nodes(targets)));
            }
            if let Some(d) = d {
                fields.push(format!("latency = {}", delay(d)));
            }
            if let Some(ratio) = drop_ratio {
                fields.push(format!("drop = {ratio:?}"));
            }
            if let Some(factor) = bandwidth_factor {
                fields.push(format!("bandwidth_factor = {factor:?}"));
            }
            writeln!(
                out,
                "degrade = {{ {} }}\nduration = {}",
                fields.join(", "),
                duration(*length)
            )
        }
    };
}

fn groups_as_ids(fault: &Fault) -> Vec<Vec<u32>> {
    match fault {
        Fault::Partition(groups) => groups
            .iter()
            .map(|g| g.iter().map(|n| n.0).collect())
            .collect(),
        _ => Vec::new(),
    }
}

/// If exactly one node is in every group (and groups otherwise disjoint), the bridge
/// node and the groups without it.
fn bridge_of(groups: &[Vec<u32>]) -> Option<(u32, Vec<String>)> {
    let first = groups.first()?;
    let shared: Vec<u32> = first
        .iter()
        .copied()
        .filter(|id| groups.iter().all(|g| g.contains(id)))
        .collect();
    let [node] = shared.as_slice() else {
        return None;
    };
    let sides = groups
        .iter()
        .map(|g| {
            let ids: Vec<String> = g
                .iter()
                .filter(|id| *id != node)
                .map(|id| id.to_string())
                .collect();
            format!("[{}]", ids.join(", "))
        })
        .collect();
    Some((*node, sides))
}

/// The workload's rate phases and retry policy, when they differ from the defaults.
fn workload_shape(out: &mut String, workload: &dsim_core::Workload) {
    let retry = &workload.retry;
    if *retry != dsim_core::RetryPolicy::default() {
        let _ = writeln!(out, "\n[workload.retry]");
        let _ = writeln!(out, "policy = \"{}\"", retry.backoff.name());
        if let Some(timeout) = retry.timeout {
            let _ = writeln!(out, "timeout = {}", duration(timeout));
        }
        let _ = writeln!(out, "base = {}", duration(retry.base));
        let _ = writeln!(out, "cap = {}", duration(retry.cap));
        let _ = writeln!(out, "jitter = \"{}\"", retry.jitter.name());
        if let Some(attempts) = retry.max_attempts {
            let _ = writeln!(out, "max_attempts = {attempts}");
        }
        if let Some(budget) = retry.budget_ratio {
            let _ = writeln!(out, "budget = {budget:?}");
        }
    }
    for phase in workload.phases.as_slice() {
        let _ = writeln!(out, "\n[[workload.phase]]");
        let _ = writeln!(out, "at = {}", duration(SimDuration(phase.at.0)));
        let _ = writeln!(out, "rate = \"{}/s\"", phase.rate_per_s);
    }
}
