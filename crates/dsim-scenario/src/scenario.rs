//! Stage 1 and 2: the value tree into a validated, typed [`Scenario`] that can run.
//!
//! Stage 1 reads each table with a [`TableReader`] (types, required fields, unknown
//! fields). Stage 2 checks what needs the whole picture: the protocol kind, variant and
//! keys against the registry, node ids against the node count, and the fault schedule
//! in time order (no restart of a node that is up, no crash of one that is down).

use crate::drawn::{self, DrawnAction, DrawnFault};
use crate::error::{Origin, ScenarioError};
use crate::load::parse_bandwidth;
use crate::nemesis::{NemesisConfig, NemesisFault, Targets};
use crate::reader::{
    At, TableReader, as_array, as_duration, as_node, as_nodes, as_number, as_text, error, found,
    quote,
};
use crate::registry::Registry;
use crate::tree::{Item, Source, Value, apply_override, read_file};
use crate::units;
use dsim_core::{
    Arrival, ConfigError, Delay, Fault, IdleClients, Link, LinkBandwidth, LinkModel, LinkOrder,
    LoadConfig, NetworkConfig, NodeGroup, NodeId, ParamKind, ParamValue, Params, Setup,
    SimDuration, SimTime, StorageMode, Topology, Workload,
};
use std::path::{Path, PathBuf};

/// A fault at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    /// When it applies.
    pub at: SimTime,
    /// What it does.
    pub fault: Fault,
}

/// A validated scenario: everything needed for a run, all checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The scenario's name (output folders use it).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text, shown in reports.
    pub text: String,
    /// The `--set` flags applied, in order.
    pub overrides: Vec<String>,
    /// The run seed (the file's, or `--seed`).
    pub seed: u64,
    /// Virtual time to run.
    pub duration: SimDuration,
    /// Crash behaviour of durable storage.
    pub storage: StorageMode,
    /// Protocol kind name.
    pub kind: String,
    /// Replica count.
    pub nodes: usize,
    /// Variant name.
    pub variant: String,
    /// Protocol keys.
    pub params: Params,
    /// Clients and rate.
    pub workload: Workload,
    /// Total nodes (replicas, clients, helpers) as the protocol lays them out.
    pub total_nodes: usize,
    /// Links.
    pub network: NetworkConfig,
    /// Explicit faults, sorted by time (stable).
    pub faults: Vec<ScheduledFault>,
    /// Fault entries that name a count of a group's nodes
    /// (`crash = { count = 200, among = "workers" }`), sorted by time (stable); which
    /// nodes they hit is drawn per seed by [`Scenario::concrete_faults`].
    pub drawn_faults: Vec<DrawnFault>,
    /// The seeded nemesis, if the file has a `[nemesis]` table.
    pub nemesis: Option<NemesisConfig>,
    /// The load model (`[nodes]`, a storage sync latency), if the file has one.
    pub load: Option<LoadConfig>,
}

impl Scenario {
    /// Every fault of a run with this scenario's seed: the explicit ones, the drawn
    /// entries' faults (one per picked node) and those the nemesis draws, in time order
    /// (explicit, then drawn, then nemesis at equal times).
    pub fn concrete_faults(&self) -> Vec<ScheduledFault> {
        let mut faults = self.faults.clone();
        if !self.drawn_faults.is_empty() {
            faults.extend(drawn::expand(self.seed, &self.drawn_faults));
            faults.sort_by_key(|fault| fault.at);
        }
        if let Some(nemesis) = &self.nemesis {
            let candidates = self.nemesis_candidates(nemesis, &faults);
            faults.extend(nemesis.generate(self.seed, &candidates));
            faults.sort_by_key(|fault| fault.at);
        }
        faults
    }

    /// The nodes each drawn entry ([`Scenario::drawn_faults`], in order) picks with
    /// this scenario's seed, each list in id order: what `dsim run` shows.
    pub fn drawn_picks(&self) -> Vec<Vec<NodeId>> {
        drawn::draw(self.seed, &self.drawn_faults)
    }

    /// Nodes the nemesis may crash, pause or isolate: its targets, minus nodes that
    /// `faults` (the explicit and drawn ones) crash, restart or pause (so the two never
    /// contradict each other).
    fn nemesis_candidates(
        &self,
        nemesis: &NemesisConfig,
        faults: &[ScheduledFault],
    ) -> Vec<NodeId> {
        let targets: Vec<NodeId> = match &nemesis.targets {
            Targets::Replicas => (0..self.nodes as u32).map(NodeId).collect(),
            Targets::All => (0..self.total_nodes as u32).map(NodeId).collect(),
            Targets::Nodes(nodes) => nodes.clone(),
        };
        let claimed: Vec<NodeId> = faults
            .iter()
            .filter_map(|scheduled| match scheduled.fault {
                Fault::Crash(node) | Fault::Restart(node) | Fault::Pause { node, .. } => Some(node),
                _ => None,
            })
            .collect();
        targets
            .into_iter()
            .filter(|node| !claimed.contains(node))
            .collect()
    }
}

/// The fields of the top level of a scenario file.
const TOP_FIELDS: &[&str] = &[
    "name", "seed", "duration", "storage", "protocol", "workload", "network", "faults", "nemesis",
    "nodes",
];
const NEMESIS_FIELDS: &[&str] = &[
    "every",
    "faults",
    "fault_duration",
    "start",
    "stop",
    "max_down",
    "targets",
    "max_clock_offset",
    "max_drift_ppm",
];
const NETWORK_FIELDS: &[&str] = &[
    "latency",
    "drop",
    "duplicate",
    "fifo",
    "topology",
    "links",
    "bandwidth",
];
const LINK_FIELDS: &[&str] = &[
    "between",
    "latency",
    "drop",
    "duplicate",
    "fifo",
    "one_way",
    "bandwidth",
];
const WORKLOAD_FIELDS: &[&str] = &["clients", "rate", "idle_clients", "arrival"];
const ARRIVAL_HELP: &str =
    "\"fixed\" (one operation per client interval, the default) or \"poisson\" (exponential gaps)";
const FAULT_ACTIONS: &[&str] = &[
    "crash",
    "restart",
    "pause",
    "partition",
    "bridge",
    "cut",
    "isolate",
    "heal",
    "clock",
    "degrade",
    "slow",
    "slow_disk",
];
const LATENCY_HELP: &str = "a duration like \"2ms\", or a table such as { dist = \"lognormal\", median = \"2ms\", sigma = 0.6 } (dist: constant, uniform, normal, exponential, lognormal, pareto)";

/// Whether the up-front estimate of a run's memory may refuse a valid scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkLimit {
    /// Refuse scenarios estimated above [`MEMORY_ESTIMATE_MAX_BYTES`] (the default).
    Enforced,
    /// Run them anyway (`--force`).
    Lifted,
}

/// The largest up-front memory estimate of a run accepted without `--force`: 4 GiB.
pub const MEMORY_ESTIMATE_MAX_BYTES: u64 = 4 << 30;

/// The most nemesis faults a run may draw: `(stop - start) / every` above this is
/// refused (each fault is kept in memory before the run starts).
pub const NEMESIS_FAULTS_MAX: u64 = 100_000;

/// What `dsim check` and `--force` say about the estimate limit.
pub const FORCE_HINT: &str = "or pass --force to run it anyway";

/// Rough per-item costs of the up-front memory estimate, in bytes.
const NODE_BYTES: u64 = 1_024;
const FAULT_BYTES: u64 = 128;
const CLIENT_OP_BYTES: u64 = 256;

impl Scenario {
    /// Reads and validates a scenario file, applying `--set` flags.
    pub fn load(
        path: &Path,
        overrides: &[String],
        registry: &Registry,
    ) -> Result<Scenario, ScenarioError> {
        Scenario::load_with_limit(path, overrides, registry, WorkLimit::Enforced)
    }

    /// [`Scenario::load`], with the work limit enforced or lifted (`--force`).
    pub fn load_with_limit(
        path: &Path,
        overrides: &[String],
        registry: &Registry,
        limit: WorkLimit,
    ) -> Result<Scenario, ScenarioError> {
        let text = read_file(path)?;
        Scenario::from_text_with_limit(path, &text, overrides, registry, limit)
    }

    /// Validates scenario `text` as if read from `path`.
    pub fn from_text(
        path: &Path,
        text: &str,
        overrides: &[String],
        registry: &Registry,
    ) -> Result<Scenario, ScenarioError> {
        Scenario::from_text_with_limit(path, text, overrides, registry, WorkLimit::Enforced)
    }

    /// [`Scenario::from_text`], with the work limit enforced or lifted (`--force`).
    pub fn from_text_with_limit(
        path: &Path,
        text: &str,
        overrides: &[String],
        registry: &Registry,
        limit: WorkLimit,
    ) -> Result<Scenario, ScenarioError> {
        let mut root = Source::new(path, text).parse()?;
        for flag in overrides {
            apply_override(&mut root, flag)?;
        }
        switch_loop_by_flags(&mut root, overrides);
        let mut top = TableReader::new(root, "")?;
        let name = top
            .text("name", "a short name, used for the output folder")?
            .ok_or_else(|| {
                error(
                    top.origin(),
                    "name",
                    "missing required field",
                    "a short name, e.g. name = \"paxos-leader-crash\"",
                )
            })?;
        if name.value.trim().is_empty()
            || name.value.contains(['/', '\\'])
            || name.value.starts_with('.')
        {
            return Err(error(
                &name.origin,
                "name",
                format!("found {}", quote(&name.value)),
                "a non-empty name without slashes that does not start with a dot",
            ));
        }
        let seed = match top.take("seed") {
            None => 42,
            Some(item) => parse_seed(&item)?,
        };
        let duration = top.duration("duration")?.ok_or_else(|| {
            error(
                top.origin(),
                "duration",
                "missing required field",
                "how long to run, e.g. duration = \"10s\"",
            )
        })?;
        if duration.value == SimDuration::ZERO {
            return Err(error(
                &duration.origin,
                "duration",
                "found zero",
                "a positive duration, e.g. \"10s\"",
            ));
        }
        let (storage, sync) = crate::load::parse_storage(top.take("storage"))?;
        let protocol_item = top.require("protocol", "a [protocol] table with kind and nodes")?;
        let (mut workload, idle_ids) = match top.take("workload") {
            Some(item) => parse_workload(item)?,
            None => (
                Workload {
                    clients: 1,
                    rate_per_s: 100.0,
                    ..Workload::default()
                },
                Vec::new(),
            ),
        };
        let protocol_origin = protocol_item.origin.clone();
        let (kind, nodes, variant, params, total_nodes) =
            parse_protocol(protocol_item, registry, &workload)?;
        workload.idle_clients = check_idle_clients(&idle_ids, registry, &kind, nodes, &workload)?;
        let (network, link_bandwidth) = match top.take("network") {
            Some(item) => parse_network(item, total_nodes)?,
            None => (NetworkConfig::default(), LinkBandwidth::default()),
        };
        if let Some(protocol) = registry.get(&kind) {
            let setup = Setup {
                nodes,
                variant: &variant,
                params: &params,
                workload,
            };
            protocol
                .check_network(&setup, &network)
                .map_err(|refusal| {
                    error(
                        &protocol_origin,
                        "protocol",
                        refusal.to_string(),
                        "protocol keys that fit the [network] latency model",
                    )
                })?;
        }
        let load = crate::load::parse_load(top.take("nodes"), sync, link_bandwidth, total_nodes)?;
        let has_bandwidth = load.as_ref().is_some_and(|load| load.bandwidth.is_on());
        let groups = registry.get(&kind).map_or_else(Vec::new, |protocol| {
            protocol.node_groups(&Setup {
                nodes,
                variant: &variant,
                params: &params,
                workload,
            })
        });
        for group in &groups {
            assert!(
                group.nodes.end as usize <= total_nodes,
                "protocol {kind} names group {} (nodes {:?}) beyond its {total_nodes} nodes",
                group.name,
                group.nodes
            );
        }
        let (faults, drawn_faults) = match top.take("faults") {
            Some(item) => parse_faults(item, total_nodes, duration.value, has_bandwidth, &groups)?,
            None => (Vec::new(), Vec::new()),
        };
        let nemesis = top
            .take("nemesis")
            .map(|item| parse_nemesis(item, nodes, total_nodes, duration.value))
            .transpose()?;
        top.finish(TOP_FIELDS)?;
        let scenario = Scenario {
            name: name.value,
            path: path.to_path_buf(),
            text: text.to_string(),
            overrides: overrides.to_vec(),
            seed,
            duration: duration.value,
            storage,
            kind,
            nodes,
            variant,
            params,
            workload,
            total_nodes,
            network,
            faults,
            drawn_faults,
            nemesis,
            load,
        };
        let estimate = scenario.memory_estimate_bytes(registry);
        if limit == WorkLimit::Enforced && estimate > MEMORY_ESTIMATE_MAX_BYTES {
            return Err(error(
                &protocol_origin,
                "protocol",
                format!(
                    "this run would hold about {} in memory (an up-front estimate from the node count, the protocol keys, the workload over the duration and the faults), above the limit of {}",
                    bytes_text(estimate),
                    bytes_text(MEMORY_ESTIMATE_MAX_BYTES)
                ),
                format!("a smaller configuration, {FORCE_HINT}"),
            ));
        }
        Ok(scenario)
    }

    /// A rough, deliberately generous estimate of the memory a run of this scenario
    /// holds: the protocol's own estimate (corpora, messages in flight), every node,
    /// every fault, and the observations of every client operation over the duration.
    pub fn memory_estimate_bytes(&self, registry: &Registry) -> u64 {
        let protocol = registry.get(&self.kind).map_or(0, |protocol| {
            protocol.memory_estimate_bytes(&Setup {
                nodes: self.nodes,
                variant: &self.variant,
                params: &self.params,
                workload: self.workload,
            })
        });
        let nemesis_faults = self
            .nemesis
            .as_ref()
            .map_or(0, NemesisConfig::fault_count_estimate);
        let drawn: u64 = self
            .drawn_faults
            .iter()
            .map(|entry| entry.count as u64)
            .sum();
        let faults = (self.faults.len() as u64)
            .saturating_add(drawn)
            .saturating_add(nemesis_faults.saturating_mul(2));
        let ops = if self.workload.clients == 0 {
            0.0
        } else {
            self.workload.rate_per_s * self.duration.as_nanos() as f64 / 1e9
        };
        let ops_bytes = (ops * CLIENT_OP_BYTES as f64).min(u64::MAX as f64) as u64;
        protocol
            .saturating_add((self.total_nodes as u64).saturating_mul(NODE_BYTES))
            .saturating_add(faults.saturating_mul(FAULT_BYTES))
            .saturating_add(ops_bytes)
    }
}

/// Bytes as `512 MiB`, `4 GiB`, `58 TiB`.
fn bytes_text(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.0} {}", units[unit])
}

/// What a seed may be, in the file's `seed`, `--set seed=` and `--seed` alike.
pub const SEED_HELP: &str = "a whole number from 0 to 18446744073709551615 (2^64-1)";

/// The file's `seed`: any `u64`, the same rule as `--seed` (integers above 2^63-1,
/// which TOML itself cannot hold as integers, are read from their digits).
fn parse_seed(item: &Item) -> Result<u64, ScenarioError> {
    let seed = match &item.value {
        Value::Int(v) => u64::try_from(*v).ok(),
        Value::BigInt(digits) => digits.parse::<u64>().ok(),
        _ => return Err(error(&item.origin, "seed", found(item), SEED_HELP)),
    };
    seed.ok_or_else(|| error(&item.origin, "seed", found(item), SEED_HELP))
}

/// The `[workload]` table, and the raw `idle_clients` node ids (checked later, once the
/// replica count is known).
fn parse_workload(item: Item) -> Result<(Workload, Vec<At<u32>>), ScenarioError> {
    let mut table = TableReader::new(item, "workload")?;
    let clients = match table.int("clients", "a whole number of client nodes from 0 to 10000")? {
        None => 1,
        Some(at) if (0..=10_000).contains(&at.value) => at.value as usize,
        Some(at) => {
            return Err(error(
                &at.origin,
                "workload.clients",
                format!("found {}", at.value),
                "a whole number from 0 to 10000",
            ));
        }
    };
    let rate = table
        .take("rate")
        .map(|item| {
            let origin = item.origin.clone();
            crate::workload::parse_rate_item(item, "workload.rate").map(|rate| (rate, origin))
        })
        .transpose()?;
    let rate_per_s = rate.as_ref().map_or(100.0, |(rate, _)| *rate);
    let arrival_at = table.text("arrival", ARRIVAL_HELP)?;
    let arrival_origin = arrival_at.as_ref().map(|at| at.origin.clone());
    let arrival = match arrival_at {
        None => Arrival::Fixed,
        Some(at) => match at.value.as_str() {
            "fixed" => Arrival::Fixed,
            "poisson" => Arrival::Poisson,
            other => {
                return Err(error(
                    &at.origin,
                    "workload.arrival",
                    format!("found {}", quote(other)),
                    ARRIVAL_HELP,
                ));
            }
        },
    };
    let idle_ids = match table.take("idle_clients") {
        None => Vec::new(),
        Some(item) => as_array(item, "workload.idle_clients", IDLE_CLIENTS_HELP)?
            .into_iter()
            .enumerate()
            .map(|(i, element)| as_node(element, &format!("workload.idle_clients[{i}]")))
            .collect::<Result<_, _>>()?,
    };
    let shape = crate::workload::parse_shape(&mut table)?;
    if let Some(closed) = &shape.closed_loop {
        let open_loop_key = if rate.is_some() {
            Some("rate")
        } else if arrival_origin.is_some() {
            Some("arrival")
        } else if !shape.phases.is_empty() {
            Some("phase")
        } else {
            None
        };
        if let Some(key) = open_loop_key {
            return Err(error(
                &closed.origin,
                "workload.outstanding",
                format!("a closed-loop workload (outstanding) cannot also set `{key}`"),
                "either outstanding (+ think_time) for a closed loop, or rate (+ arrival, phase) for an open loop",
            ));
        }
    }
    let mut fields = WORKLOAD_FIELDS.to_vec();
    fields.extend_from_slice(crate::workload::SHAPE_FIELDS);
    table.finish(&fields)?;
    Ok((
        Workload {
            clients,
            rate_per_s,
            arrival,
            closed_loop: shape.closed_loop.map(|at| at.value),
            phases: shape.phases,
            retry: shape.retry,
            ..Workload::default()
        },
        idle_ids,
    ))
}

const IDLE_CLIENTS_HELP: &str =
    "an array of client node ids, e.g. [6, 7]: clients that keep their ids but issue nothing";

/// `[workload] idle_clients`: client node ids (`nodes..nodes + clients`), each once,
/// for a protocol whose clients are nodes.
fn check_idle_clients(
    ids: &[At<u32>],
    registry: &Registry,
    kind: &str,
    nodes: usize,
    workload: &Workload,
) -> Result<IdleClients, ScenarioError> {
    let Some(first) = ids.first() else {
        return Ok(IdleClients::NONE);
    };
    let protocol = registry.get(kind).expect("the kind was checked");
    let without_clients = Workload {
        clients: 0,
        ..*workload
    };
    if protocol.total_nodes(nodes, workload) == protocol.total_nodes(nodes, &without_clients) {
        return Err(error(
            &first.origin,
            "workload.idle_clients",
            format!("{kind} has no client nodes"),
            "no idle_clients key for this protocol",
        ));
    }
    let mut clients = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("workload.idle_clients[{i}]");
        let node = id.value as usize;
        let Some(client) = node
            .checked_sub(nodes)
            .filter(|&client| client < workload.clients)
        else {
            let allowed = if workload.clients == 0 {
                "no ids: this scenario has no clients".to_string()
            } else {
                format!(
                    "a client node id from {nodes} to {} (replicas are 0 to {}, clients follow)",
                    nodes + workload.clients - 1,
                    nodes.saturating_sub(1)
                )
            };
            return Err(error(
                &id.origin,
                &field,
                format!("node {node} is not a client"),
                allowed,
            ));
        };
        if clients.contains(&client) {
            return Err(error(
                &id.origin,
                &field,
                format!("node {node} is listed twice"),
                "each client node id at most once",
            ));
        }
        if client >= IdleClients::MAX {
            return Err(error(
                &id.origin,
                &field,
                format!("node {node} is client number {client}"),
                format!(
                    "one of the first {} clients (nodes {nodes} to {})",
                    IdleClients::MAX,
                    nodes + IdleClients::MAX - 1
                ),
            ));
        }
        clients.push(client);
    }
    Ok(IdleClients::from_clients(&clients).expect("every client number was checked"))
}

type ProtocolParts = (String, usize, String, Params, usize);

fn parse_protocol(
    item: Item,
    registry: &Registry,
    workload: &Workload,
) -> Result<ProtocolParts, ScenarioError> {
    let mut table = TableReader::new(item, "protocol")?;
    let kinds = registry.kinds().join(", ");
    let kind = table.text("kind", &kinds)?.ok_or_else(|| {
        error(
            table.origin(),
            "protocol.kind",
            "missing required field",
            format!("one of {kinds}"),
        )
    })?;
    let Some(protocol) = registry.get(&kind.value) else {
        return Err(error(
            &kind.origin,
            "protocol.kind",
            format!("unknown protocol kind {}", quote(&kind.value)),
            format!("one of {kinds}"),
        ));
    };
    let info = protocol.info();
    let (min_nodes, max_nodes) = info.nodes_range;
    let nodes_help = format!(
        "a whole number of replicas from {min_nodes} to {max_nodes} for {}",
        info.kind
    );
    let nodes = table.int("nodes", &nodes_help)?.ok_or_else(|| {
        error(
            table.origin(),
            "protocol.nodes",
            "missing required field",
            nodes_help.clone(),
        )
    })?;
    if nodes.value < min_nodes as i64 || nodes.value > max_nodes as i64 {
        return Err(error(
            &nodes.origin,
            "protocol.nodes",
            format!("found {}", nodes.value),
            nodes_help,
        ));
    }
    let variant_names: Vec<&str> = info.variants.iter().map(|v| v.name).collect();
    let variants_help = format!("one of {}", variant_names.join(", "));
    let variant = match table.text("variant", &variants_help)? {
        None => "correct".to_string(),
        Some(at) if variant_names.contains(&at.value.as_str()) => at.value,
        Some(at) => {
            return Err(error(
                &at.origin,
                "protocol.variant",
                format!("unknown variant {} of {}", quote(&at.value), info.kind),
                variants_help,
            ));
        }
    };
    let mut params = Params::default();
    let mut written: Vec<(&str, Origin)> = vec![("nodes", nodes.origin.clone())];
    let key_names: Vec<&str> = info.params.iter().map(|spec| spec.key).collect();
    for (key, item) in table.take_rest() {
        let field = format!("protocol.{key}");
        let Some(spec) = info.params.iter().find(|spec| spec.key == key) else {
            let mut allowed = vec!["kind", "nodes", "variant"];
            allowed.extend(&key_names);
            return Err(error(
                &item.origin,
                &field,
                format!("unknown field `{key}` for {}", info.kind),
                format!("the fields {}", allowed.join(", ")),
            ));
        };
        let allowed = format!("{} ({})", spec.kind.allowed(), spec.help);
        let origin = item.origin.clone();
        let value = match spec.kind {
            ParamKind::Bool(_) => ParamValue::Bool(crate::reader::as_bool(item, &field)?.value),
            ParamKind::Int { .. } => {
                ParamValue::Int(crate::reader::as_int(item, &field, &allowed)?.value)
            }
            ParamKind::Ratio { .. } => ParamValue::Float(as_number(item, &field, &allowed)?.value),
            ParamKind::Duration { .. } => ParamValue::Duration(as_duration(item, &field)?.value),
            ParamKind::Choice { .. } => {
                ParamValue::Text(crate::reader::as_text(item, &field, &allowed)?.value)
            }
        };
        spec.check(&value)
            .map_err(|problem| error(&origin, &field, problem.problem, problem.allowed))?;
        written.push((spec.key, origin));
        params.0.insert(key, value);
    }
    let setup = Setup {
        nodes: nodes.value as usize,
        variant: &variant,
        params: &params,
        workload: *workload,
    };
    if let Err(refusal) = protocol.check_setup(&setup) {
        return Err(match refusal {
            ConfigError::Param(problem) => {
                // Point at the first key involved that the file sets; a key left at its
                // default has no position, so then the [protocol] table is named.
                let at = problem.keys.iter().find_map(|key| {
                    written
                        .iter()
                        .find(|(name, _)| name == key)
                        .map(|(name, origin)| (*name, origin.clone()))
                });
                let (key, origin) = at.unwrap_or((problem.keys[0], table.origin().clone()));
                error(
                    &origin,
                    &format!("protocol.{key}"),
                    problem.problem,
                    problem.allowed,
                )
            }
            other => error(
                table.origin(),
                "protocol",
                other.to_string(),
                format!("a configuration {} can run", info.kind),
            ),
        });
    }
    let total = protocol.total_nodes(nodes.value as usize, workload);
    Ok((
        info.kind.to_string(),
        nodes.value as usize,
        variant,
        params,
        total,
    ))
}

pub(crate) fn parse_delay(item: Item, field: &str) -> Result<Delay, ScenarioError> {
    let origin = item.origin.clone();
    let delay = match item.value {
        Value::Text(_) => Delay::Constant {
            ns: as_duration(item, field)?.value.as_nanos(),
        },
        Value::Table(_) => {
            let mut table = TableReader::new(item, field)?;
            let dist = table
                .text(
                    "dist",
                    "constant, uniform, normal, exponential, lognormal or pareto",
                )?
                .ok_or_else(|| {
                    error(
                        &origin,
                        &format!("{field}.dist"),
                        "missing required field",
                        "dist = constant, uniform, normal, exponential, lognormal or pareto",
                    )
                })?;
            let need = |table: &mut TableReader, key: &str| -> Result<f64, ScenarioError> {
                let sub = table.field(key);
                let item =
                    table.require(key, &format!("{key} for the {} distribution", dist.value))?;
                Ok(as_duration(item, &sub)?.value.as_nanos() as f64)
            };
            let (delay, fields): (Delay, &[&str]) = match dist.value.as_str() {
                "constant" => (
                    Delay::Constant {
                        ns: need(&mut table, "value")? as u64,
                    },
                    &["dist", "value"],
                ),
                "uniform" => (
                    Delay::Uniform {
                        min_ns: need(&mut table, "min")? as u64,
                        max_ns: need(&mut table, "max")? as u64,
                    },
                    &["dist", "min", "max"],
                ),
                "normal" => (
                    Delay::Normal {
                        mean_ns: need(&mut table, "mean")?,
                        std_dev_ns: need(&mut table, "std_dev")?,
                    },
                    &["dist", "mean", "std_dev"],
                ),
                "exponential" => (
                    Delay::Exponential {
                        mean_ns: need(&mut table, "mean")?,
                    },
                    &["dist", "mean"],
                ),
                "lognormal" => {
                    let median_ns = need(&mut table, "median")?;
                    let sigma_item = table.require(
                        "sigma",
                        "sigma, the standard deviation of the log, e.g. 0.6",
                    )?;
                    let sigma = as_number(
                        sigma_item,
                        &format!("{field}.sigma"),
                        "a number >= 0, e.g. 0.6",
                    )?
                    .value;
                    (
                        Delay::LogNormal { median_ns, sigma },
                        &["dist", "median", "sigma"],
                    )
                }
                "pareto" => {
                    let scale_ns = need(&mut table, "scale")?;
                    let shape_item =
                        table.require("shape", "shape (tail index alpha), e.g. 2.5")?;
                    let shape = as_number(
                        shape_item,
                        &format!("{field}.shape"),
                        "a number > 0, e.g. 2.5",
                    )?
                    .value;
                    (
                        Delay::Pareto { scale_ns, shape },
                        &["dist", "scale", "shape"],
                    )
                }
                other => {
                    return Err(error(
                        &dist.origin,
                        &format!("{field}.dist"),
                        format!("unknown distribution {}", quote(other)),
                        "constant, uniform, normal, exponential, lognormal or pareto",
                    ));
                }
            };
            table.finish(fields)?;
            delay
        }
        _ => return Err(error(&origin, field, found(&item), LATENCY_HELP)),
    };
    delay
        .validate()
        .map_err(|problem| error(&origin, field, problem.to_string(), LATENCY_HELP))?;
    Ok(delay)
}

fn parse_link_model(table: &mut TableReader, base: &LinkModel) -> Result<LinkModel, ScenarioError> {
    let mut model = base.clone();
    if let Some(item) = table.take("latency") {
        model.delay = parse_delay(item, &table.field("latency"))?;
    }
    if let Some(at) = table.probability("drop")? {
        model.drop_ratio = at.value;
    }
    if let Some(at) = table.probability("duplicate")? {
        model.duplicate_ratio = at.value;
    }
    if let Some(at) = table.boolean("fifo")? {
        model.order = if at.value {
            LinkOrder::Fifo
        } else {
            LinkOrder::Unordered
        };
    }
    Ok(model)
}

fn check_node(id: At<u32>, field: &str, total: usize) -> Result<NodeId, ScenarioError> {
    if (id.value as usize) < total {
        Ok(NodeId(id.value))
    } else {
        Err(error(
            &id.origin,
            field,
            format!("node {} does not exist", id.value),
            format!(
                "a node id from 0 to {} (this scenario has {total} nodes: replicas, then clients)",
                total - 1
            ),
        ))
    }
}

fn check_nodes(ids: At<Vec<u32>>, field: &str, total: usize) -> Result<Vec<NodeId>, ScenarioError> {
    ids.value
        .iter()
        .map(|&id| {
            check_node(
                At {
                    value: id,
                    origin: ids.origin.clone(),
                },
                field,
                total,
            )
        })
        .collect()
}

/// `[network]`: the link models and topology, and the links' bandwidths (which the
/// load model carries).
fn parse_network(
    item: Item,
    total: usize,
) -> Result<(NetworkConfig, LinkBandwidth), ScenarioError> {
    let mut table = TableReader::new(item, "network")?;
    let default_link = parse_link_model(&mut table, &LinkModel::default())?;
    let mut bandwidth = LinkBandwidth {
        link: table
            .take("bandwidth")
            .map(|item| parse_bandwidth(item, "network.bandwidth"))
            .transpose()?,
        ..LinkBandwidth::default()
    };
    let graph = match table.text("topology", "\"mesh\" (default) or \"graph\"")? {
        None => false,
        Some(at) => match at.value.as_str() {
            "mesh" => false,
            "graph" => true,
            other => {
                return Err(error(
                    &at.origin,
                    "network.topology",
                    format!("found {}", quote(other)),
                    "\"mesh\" (every pair linked; [[network.links]] override pairs) or \"graph\" (only [[network.links]] exist)",
                ));
            }
        },
    };
    let mut links = Vec::new();
    if let Some(item) = table.take("links") {
        let elements = as_array(
            item,
            "network.links",
            "an array of tables: [[network.links]]",
        )?;
        for (index, element) in elements.into_iter().enumerate() {
            let path = format!("network.links[{index}]");
            let mut link_table = TableReader::new(element, &path)?;
            let between_item =
                link_table.require("between", "between = [a, b], the two node ids")?;
            let between_field = format!("{path}.between");
            let between = as_nodes(between_item, &between_field)?;
            if between.value.len() != 2 || between.value[0] == between.value[1] {
                return Err(error(
                    &between.origin,
                    &between_field,
                    format!("found {:?}", between.value),
                    "two different node ids, e.g. [0, 1]",
                ));
            }
            let ends = check_nodes(between, &between_field, total)?;
            let model = parse_link_model(&mut link_table, &default_link)?;
            let one_way = link_table.boolean("one_way")?.is_some_and(|at| at.value);
            if let Some(item) = link_table.take("bandwidth") {
                let origin = item.origin.clone();
                let rate = parse_bandwidth(item, &format!("{path}.bandwidth"))?;
                if graph {
                    return Err(error(
                        &origin,
                        &format!("{path}.bandwidth"),
                        "per-link bandwidth in a graph topology (messages cross several links, and bandwidth is modelled end to end)",
                        "network.bandwidth for every source-target pair, or nodes.nic per node",
                    ));
                }
                bandwidth.pairs.insert((ends[0], ends[1]), rate);
                if !one_way {
                    bandwidth.pairs.insert((ends[1], ends[0]), rate);
                }
            }
            link_table.finish(LINK_FIELDS)?;
            links.push(Link {
                a: ends[0],
                b: ends[1],
                model: Some(model),
                both_ways: !one_way,
            });
        }
    }
    table.finish(NETWORK_FIELDS)?;
    let topology = if graph {
        Topology::Graph(links)
    } else if links.is_empty() {
        Topology::FullMesh
    } else {
        let mut pairs = Vec::new();
        for link in links {
            let model = link.model.expect("parsed links carry a model");
            if link.both_ways {
                pairs.push((link.b, link.a, model.clone()));
            }
            pairs.push((link.a, link.b, model));
        }
        Topology::FullMeshWithOverrides(pairs)
    };
    Ok((
        NetworkConfig {
            default_link,
            topology,
        },
        bandwidth,
    ))
}

fn parse_groups(item: Item, field: &str, total: usize) -> Result<Vec<Vec<NodeId>>, ScenarioError> {
    let origin = item.origin.clone();
    let allowed = "an array of node groups, e.g. [[0, 1], [2, 3, 4]]";
    let groups = as_array(item, field, allowed)?;
    if groups.len() < 2 {
        return Err(error(
            &origin,
            field,
            format!("found {} group(s)", groups.len()),
            "at least two groups",
        ));
    }
    let mut seen: Vec<(NodeId, usize)> = Vec::new();
    let mut result = Vec::new();
    for (index, group) in groups.into_iter().enumerate() {
        let group_field = format!("{field}[{index}]");
        let ids = as_nodes(group, &group_field)?;
        if ids.value.is_empty() {
            return Err(error(
                &ids.origin,
                &group_field,
                "found an empty group",
                "groups with at least one node",
            ));
        }
        let group_origin = ids.origin.clone();
        let nodes = check_nodes(ids, &group_field, total)?;
        for &node in &nodes {
            if let Some((_, other)) = seen.iter().find(|(seen_node, _)| *seen_node == node) {
                return Err(error(
                    &group_origin,
                    &group_field,
                    format!(
                        "node {} is also in group {other}: partition groups overlap",
                        node.0
                    ),
                    "disjoint groups (to let one node talk to both sides use `bridge = { node = 2, groups = [[0, 1], [3, 4]] }`)",
                ));
            }
            seen.push((node, index));
        }
        result.push(nodes);
    }
    Ok(result)
}

/// Node state while checking the fault schedule in time order.
#[derive(Clone, Copy, PartialEq)]
enum Life {
    Up,
    Down,
}

/// A drawn entry as read, before its count is checked against what it may draw among.
struct PendingDraw {
    at: SimTime,
    action: DrawnAction,
    count: At<i64>,
    group: NodeGroup,
    field: String,
}

/// The explicit faults and the drawn (`count`/`among`) entries of `[[faults]]`.
type ParsedFaults = (Vec<ScheduledFault>, Vec<DrawnFault>);

fn parse_faults(
    item: Item,
    total: usize,
    run: SimDuration,
    has_bandwidth: bool,
    groups: &[NodeGroup],
) -> Result<ParsedFaults, ScenarioError> {
    let entries = as_array(item, "faults", "an array of tables: [[faults]]")?;
    let mut parsed: Vec<(ScheduledFault, Origin, String)> = Vec::new();
    let mut pending: Vec<PendingDraw> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let path = format!("faults[{index}]");
        let mut table = TableReader::new(entry, &path)?;
        let at = table.duration("at")?.ok_or_else(|| {
            error(
                table.origin(),
                &format!("{path}.at"),
                "missing required field",
                "when the fault happens, e.g. at = \"2s\"",
            )
        })?;
        if at.value > run {
            return Err(error(
                &at.origin,
                &format!("{path}.at"),
                format!("{} is after the end of the run ({run})", at.value),
                format!("a time from 0 to {run}"),
            ));
        }
        let actions: Vec<&str> = FAULT_ACTIONS
            .iter()
            .copied()
            .filter(|action| table.has(action))
            .collect();
        let action = match actions.as_slice() {
            [one] => *one,
            [] => {
                return Err(error(
                    table.origin(),
                    &path,
                    "no fault action",
                    format!("exactly one of {}", FAULT_ACTIONS.join(", ")),
                ));
            }
            several => {
                return Err(error(
                    table.origin(),
                    &path,
                    format!(
                        "{} actions in one fault entry ({})",
                        several.len(),
                        several.join(", ")
                    ),
                    "exactly one action per [[faults]] entry: split it into several entries",
                ));
            }
        };
        let field = format!("{path}.{action}");
        let value = table.take(action).expect("action key is present");
        let origin = value.origin.clone();
        let mut duration = || -> Result<SimDuration, ScenarioError> {
            let d = table.duration("duration")?.ok_or_else(|| {
                error(
                    &origin,
                    &format!("{path}.duration"),
                    format!("missing: {action} needs a duration"),
                    "duration = \"1s\"",
                )
            })?;
            if d.value == SimDuration::ZERO {
                return Err(error(
                    &d.origin,
                    &format!("{path}.duration"),
                    "found zero",
                    "a positive duration",
                ));
            }
            Ok(d.value)
        };
        if matches!(action, "crash" | "restart" | "pause") && matches!(value.value, Value::Table(_))
        {
            let (count, group) = parse_draw(value, &field, groups)?;
            let action = match action {
                "crash" => DrawnAction::Crash,
                "restart" => DrawnAction::Restart,
                _ => DrawnAction::Pause {
                    duration: duration()?,
                },
            };
            if !matches!(action, DrawnAction::Pause { .. }) && table.has("duration") {
                return Err(error(
                    table.origin(),
                    &format!("{path}.duration"),
                    format!("{} takes no duration", action.name()),
                    "duration only with pause, degrade, slow and slow_disk (for crash use a later restart)",
                ));
            }
            table.finish(&["at", action.name(), "duration"])?;
            pending.push(PendingDraw {
                at: SimTime::ZERO + at.value,
                action,
                count,
                group,
                field,
            });
            continue;
        }
        let fault = match action {
            "crash" => Fault::Crash(check_node(as_life_node(value, &field)?, &field, total)?),
            "restart" => Fault::Restart(check_node(as_life_node(value, &field)?, &field, total)?),
            "isolate" => Fault::Isolate(check_node(as_node(value, &field)?, &field, total)?),
            "pause" => {
                let node = check_node(as_life_node(value, &field)?, &field, total)?;
                Fault::Pause {
                    node,
                    duration: duration()?,
                }
            }
            "slow" | "slow_disk" => {
                let node = check_node(as_node(value, &field)?, &field, total)?;
                let duration = duration()?;
                let factor_help = "factor = a finite multiplier above 0, e.g. factor = 20";
                let factor = table.number("factor", factor_help)?.ok_or_else(|| {
                    error(
                        &origin,
                        &format!("{path}.factor"),
                        format!("missing: {action} needs a factor"),
                        factor_help,
                    )
                })?;
                if !(factor.value.is_finite() && factor.value > 0.0) {
                    return Err(error(
                        &factor.origin,
                        &format!("{path}.factor"),
                        format!("found {}", factor.value),
                        factor_help,
                    ));
                }
                if action == "slow" {
                    Fault::Slow {
                        node,
                        factor: factor.value,
                        duration,
                    }
                } else {
                    Fault::SlowDisk {
                        node,
                        factor: factor.value,
                        duration,
                    }
                }
            }
            "heal" => match value.value {
                Value::Bool(true) => Fault::Heal,
                _ => return Err(error(&origin, &field, found(&value), "heal = true")),
            },
            "partition" => Fault::Partition(parse_groups(value, &field, total)?),
            "bridge" => {
                let mut bridge = TableReader::new(value, &field)?;
                let node_item = bridge.require("node", "node = the bridging node id")?;
                let node = check_node(
                    as_node(node_item, &format!("{field}.node"))?,
                    &format!("{field}.node"),
                    total,
                )?;
                let groups_item =
                    bridge.require("groups", "groups = [[0, 1], [3, 4]], the sides it joins")?;
                let mut groups = parse_groups(groups_item, &format!("{field}.groups"), total)?;
                bridge.finish(&["node", "groups"])?;
                for group in &mut groups {
                    if group.contains(&node) {
                        return Err(error(
                            &origin,
                            &format!("{field}.groups"),
                            format!("the bridge node {} is also listed in a group", node.0),
                            "groups that leave out the bridge node",
                        ));
                    }
                    group.push(node);
                }
                Fault::Partition(groups)
            }
            "cut" => {
                let mut cut = TableReader::new(value, &field)?;
                let from_item = cut.require("from", "from = [node ids whose messages are cut]")?;
                let from = check_nodes(
                    as_nodes(from_item, &format!("{field}.from"))?,
                    &format!("{field}.from"),
                    total,
                )?;
                let to_item = cut.require("to", "to = [node ids they can no longer reach]")?;
                let to = check_nodes(
                    as_nodes(to_item, &format!("{field}.to"))?,
                    &format!("{field}.to"),
                    total,
                )?;
                cut.finish(&["from", "to"])?;
                if from.is_empty() || to.is_empty() {
                    return Err(error(
                        &origin,
                        &field,
                        "empty side",
                        "non-empty from and to",
                    ));
                }
                Fault::Cut { from, to }
            }
            "clock" => {
                let (first, second) = parse_clock(value, &field, total)?;
                if let Some(second) = second {
                    // Offset and drift in one entry: apply the offset first, then the drift.
                    parsed.push((
                        ScheduledFault {
                            at: SimTime::ZERO + at.value,
                            fault: first,
                        },
                        origin.clone(),
                        field.clone(),
                    ));
                    second
                } else {
                    first
                }
            }
            "degrade" => {
                let mut degrade = TableReader::new(value, &field)?;
                let nodes = match degrade.take("nodes") {
                    Some(item) => check_nodes(
                        as_nodes(item, &format!("{field}.nodes"))?,
                        &format!("{field}.nodes"),
                        total,
                    )?,
                    None => Vec::new(),
                };
                let delay = degrade
                    .take("latency")
                    .map(|item| parse_delay(item, &format!("{field}.latency")))
                    .transpose()?;
                let drop_ratio = degrade.probability("drop")?.map(|at| at.value);
                let factor_help = "a number above 0 that multiplies the bandwidth of the links and NICs it touches (0.1 = a tenth)";
                let bandwidth_factor = match degrade.number("bandwidth_factor", factor_help)? {
                    Some(at) if at.value <= 0.0 => {
                        return Err(error(
                            &at.origin,
                            &format!("{field}.bandwidth_factor"),
                            format!("found {}", at.value),
                            factor_help,
                        ));
                    }
                    Some(at) if !has_bandwidth => {
                        return Err(error(
                            &at.origin,
                            &format!("{field}.bandwidth_factor"),
                            "no link or NIC has a bandwidth to cut",
                            "network.bandwidth, a link's bandwidth or nodes.nic first",
                        ));
                    }
                    other => other.map(|at| at.value),
                };
                degrade.finish(&["nodes", "latency", "drop", "bandwidth_factor"])?;
                if delay.is_none() && drop_ratio.is_none() && bandwidth_factor.is_none() {
                    return Err(error(
                        &origin,
                        &field,
                        "changes nothing",
                        "latency, drop and/or bandwidth_factor",
                    ));
                }
                Fault::Degrade {
                    nodes,
                    delay,
                    drop_ratio,
                    bandwidth_factor,
                    duration: duration()?,
                }
            }
            _ => unreachable!("every action in FAULT_ACTIONS is handled"),
        };
        let allowed: Vec<&str> = ["at", action, "duration", "factor"]
            .into_iter()
            .filter(|key| *key != "factor" || matches!(action, "slow" | "slow_disk"))
            .collect();
        if !matches!(
            fault,
            Fault::Pause { .. }
                | Fault::Degrade { .. }
                | Fault::Slow { .. }
                | Fault::SlowDisk { .. }
        ) && table.has("duration")
        {
            return Err(error(
                table.origin(),
                &format!("{path}.duration"),
                format!("{action} takes no duration"),
                "duration only with pause, degrade, slow and slow_disk (for crash use a later restart, for partitions a later heal)",
            ));
        }
        table.finish(&allowed)?;
        parsed.push((
            ScheduledFault {
                at: SimTime::ZERO + at.value,
                fault,
            },
            origin,
            field,
        ));
    }
    // Faults apply in time order; equal times keep file order.
    parsed.sort_by_key(|(fault, _, _)| fault.at);
    let mut life = vec![Life::Up; total];
    for (scheduled, origin, field) in &parsed {
        match scheduled.fault {
            Fault::Crash(node) => {
                if life[node.index()] == Life::Down {
                    return Err(error(
                        origin,
                        field,
                        format!(
                            "crash of node {} at {}, which is already down",
                            node.0, scheduled.at
                        ),
                        "crash a node that is up (restart it first)",
                    ));
                }
                life[node.index()] = Life::Down;
            }
            Fault::Restart(node) => {
                if life[node.index()] == Life::Up {
                    return Err(error(
                        origin,
                        field,
                        format!(
                            "restart of node {} at {}, which is up",
                            node.0, scheduled.at
                        ),
                        "restart a node after a crash",
                    ));
                }
                life[node.index()] = Life::Up;
            }
            _ => {}
        }
    }
    let faults: Vec<ScheduledFault> = parsed.into_iter().map(|(fault, _, _)| fault).collect();
    let drawn = check_draws(pending, &faults)?;
    Ok((faults, drawn))
}

/// What `crash`, `restart` and `pause` accept.
const LIFE_NODE_HELP: &str = "a node id (a whole number from 0), or { count = N, among = \"group\" }: N nodes of a protocol's group drawn from the seed";

/// A node id of a `crash`, `restart` or `pause` entry (whose table form is read by
/// [`parse_draw`]).
fn as_life_node(item: Item, field: &str) -> Result<At<u32>, ScenarioError> {
    match item.value {
        Value::Int(_) => as_node(item, field),
        _ => Err(error(&item.origin, field, found(&item), LIFE_NODE_HELP)),
    }
}

/// The group names a protocol offers, for errors: `"master" (node 0), "workers" (nodes
/// 1 to 1745)`.
fn groups_help(groups: &[NodeGroup]) -> String {
    let names: Vec<String> = groups
        .iter()
        .map(|group| match group.len() {
            0 => format!("{} (empty)", quote(group.name)),
            1 => format!("{} (node {})", quote(group.name), group.nodes.start),
            _ => format!(
                "{} (nodes {} to {})",
                quote(group.name),
                group.nodes.start,
                group.nodes.end - 1
            ),
        })
        .collect();
    if names.is_empty() {
        "none: this protocol names no node groups".to_string()
    } else {
        format!("one of {}", names.join(", "))
    }
}

/// `{ count = N, among = "group" }`: the count (checked later against what the entry
/// may draw among) and the group.
fn parse_draw(
    item: Item,
    field: &str,
    groups: &[NodeGroup],
) -> Result<(At<i64>, NodeGroup), ScenarioError> {
    let mut draw = TableReader::new(item, field)?;
    let among_field = format!("{field}.among");
    let among = draw.text("among", &groups_help(groups))?.ok_or_else(|| {
        error(
            draw.origin(),
            &among_field,
            "missing required field",
            format!("the group to draw from, {}", groups_help(groups)),
        )
    })?;
    let Some(group) = groups.iter().find(|group| group.name == among.value) else {
        return Err(error(
            &among.origin,
            &among_field,
            format!("unknown node group {}", quote(&among.value)),
            groups_help(groups),
        ));
    };
    let count_field = format!("{field}.count");
    let count_help = format!(
        "a whole number of nodes from 1 to {} (the group {} has {} nodes)",
        group.len(),
        quote(group.name),
        group.len()
    );
    let count = draw.int("count", &count_help)?.ok_or_else(|| {
        error(
            draw.origin(),
            &count_field,
            "missing required field",
            count_help.clone(),
        )
    })?;
    if count.value < 1 || count.value as u64 > group.len() as u64 {
        let problem = if count.value < 1 {
            format!("found {}", count.value)
        } else {
            format!(
                "found {}, more than the {} nodes of the group {}",
                count.value,
                group.len(),
                quote(group.name)
            )
        };
        return Err(error(&count.origin, &count_field, problem, count_help));
    }
    draw.finish(&["count", "among"])?;
    Ok((count, group.clone()))
}

/// Checks each drawn entry, in time order, against the nodes it may draw among, and
/// fixes those nodes: its group minus the nodes explicit crash, restart and pause
/// entries name; for `crash` and `pause` those up, for `restart` those a drawn crash
/// took down. Groups are disjoint, so the counts do not depend on the seed.
fn check_draws(
    mut pending: Vec<PendingDraw>,
    explicit: &[ScheduledFault],
) -> Result<Vec<DrawnFault>, ScenarioError> {
    pending.sort_by_key(|draw| draw.at);
    let claimed: std::collections::BTreeSet<NodeId> = explicit
        .iter()
        .filter_map(|scheduled| match scheduled.fault {
            Fault::Crash(node) | Fault::Restart(node) | Fault::Pause { node, .. } => Some(node),
            _ => None,
        })
        .collect();
    // Drawn-down nodes per group name.
    let mut down: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut drawn = Vec::with_capacity(pending.len());
    for draw in pending {
        let candidates: Vec<NodeId> = draw
            .group
            .members()
            .filter(|node| !claimed.contains(node))
            .collect();
        let down_now = down.get(draw.group.name).copied().unwrap_or(0);
        let available = match draw.action {
            DrawnAction::Restart => down_now,
            DrawnAction::Crash | DrawnAction::Pause { .. } => candidates.len() - down_now,
        };
        let count = draw.count.value as usize;
        if count > available {
            let group = quote(draw.group.name);
            let named = draw.group.len() - candidates.len();
            let (problem, allowed) = match draw.action {
                DrawnAction::Restart => (
                    format!(
                        "restart of {count} nodes among {group} at {}, but only {down_now} of them are down from earlier drawn crashes",
                        draw.at
                    ),
                    format!(
                        "a count from 1 to {down_now}: a drawn restart brings back nodes that a drawn crash of the same group took down"
                    ),
                ),
                action => (
                    format!(
                        "{} of {count} nodes among {group} at {}, but only {available} can be drawn: the group has {} nodes, {named} named by explicit crash, restart or pause entries, {down_now} down from earlier drawn crashes",
                        action.name(),
                        draw.at,
                        draw.group.len()
                    ),
                    if available == 0 {
                        "no drawn crash or pause of this group at that time (restart some first)"
                            .to_string()
                    } else {
                        format!("a count from 1 to {available}")
                    },
                ),
            };
            return Err(error(
                &draw.count.origin,
                &format!("{}.count", draw.field),
                problem,
                allowed,
            ));
        }
        match draw.action {
            DrawnAction::Crash => *down.entry(draw.group.name).or_default() += count,
            DrawnAction::Restart => *down.entry(draw.group.name).or_default() -= count,
            DrawnAction::Pause { .. } => {}
        }
        drawn.push(DrawnFault {
            at: draw.at,
            action: draw.action,
            count,
            group: draw.group.name.to_string(),
            candidates,
        });
    }
    Ok(drawn)
}

fn parse_clock(
    item: Item,
    field: &str,
    total: usize,
) -> Result<(Fault, Option<Fault>), ScenarioError> {
    let origin = item.origin.clone();
    let mut clock = TableReader::new(item, field)?;
    let node_item = clock.require("node", "node = the node whose clock changes")?;
    let node = check_node(
        as_node(node_item, &format!("{field}.node"))?,
        &format!("{field}.node"),
        total,
    )?;
    let offset = match clock.take("offset") {
        None => None,
        Some(item) => {
            let sub = format!("{field}.offset");
            let item_origin = item.origin.clone();
            let text = as_text(item, &sub, "a signed duration such as \"-50ms\"")?;
            Some(units::parse_signed_duration(&text.value).ok_or_else(|| {
                error(
                    &item_origin,
                    &sub,
                    format!("cannot read {}", quote(&text.value)),
                    "a signed duration such as \"-50ms\" or \"20ms\"",
                )
            })?)
        }
    };
    let drift = match clock.int("drift_ppm", "parts per million, greater than -1000000")? {
        None => None,
        Some(at) if at.value > -1_000_000 && at.value <= 1_000_000 => Some(at.value),
        Some(at) => {
            return Err(error(
                &at.origin,
                &format!("{field}.drift_ppm"),
                format!("found {}", at.value),
                "a whole number of parts per million from -999999 to 1000000",
            ));
        }
    };
    clock.finish(&["node", "offset", "drift_ppm"])?;
    match (offset, drift) {
        (Some(offset_ns), None) => Ok((Fault::ClockOffset { node, offset_ns }, None)),
        (None, Some(drift_ppm)) => Ok((Fault::ClockDrift { node, drift_ppm }, None)),
        (Some(offset_ns), Some(drift_ppm)) => Ok((
            Fault::ClockOffset { node, offset_ns },
            Some(Fault::ClockDrift { node, drift_ppm }),
        )),
        (None, None) => Err(error(
            &origin,
            field,
            "changes nothing",
            "offset = \"-50ms\" or drift_ppm = 100",
        )),
    }
}

fn parse_nemesis(
    item: Item,
    replicas: usize,
    total: usize,
    run: SimDuration,
) -> Result<NemesisConfig, ScenarioError> {
    let mut table = TableReader::new(item, "nemesis")?;
    let names: Vec<&str> = NemesisFault::ALL.iter().map(|kind| kind.name()).collect();
    let kinds_help = format!("an array of fault kinds from {}", names.join(", "));
    let every = table.duration("every")?.ok_or_else(|| {
        error(
            table.origin(),
            "nemesis.every",
            "missing required field",
            "the mean gap between faults, e.g. every = \"500ms\"",
        )
    })?;
    if every.value == SimDuration::ZERO {
        return Err(error(
            &every.origin,
            "nemesis.every",
            "found zero",
            "a positive duration",
        ));
    }
    let faults_item = table.require("faults", &kinds_help)?;
    let faults_origin = faults_item.origin.clone();
    let mut faults = Vec::new();
    for (index, element) in as_array(faults_item, "nemesis.faults", &kinds_help)?
        .into_iter()
        .enumerate()
    {
        let field = format!("nemesis.faults[{index}]");
        let name = as_text(element, &field, &kinds_help)?;
        match NemesisFault::from_name(&name.value) {
            Some(kind) if !faults.contains(&kind) => faults.push(kind),
            Some(_) => {
                return Err(error(
                    &name.origin,
                    &field,
                    format!("{} is listed twice", quote(&name.value)),
                    kinds_help.clone(),
                ));
            }
            None => {
                return Err(error(
                    &name.origin,
                    &field,
                    format!("unknown fault kind {}", quote(&name.value)),
                    kinds_help.clone(),
                ));
            }
        }
    }
    if faults.is_empty() {
        return Err(error(
            &faults_origin,
            "nemesis.faults",
            "found an empty list",
            kinds_help,
        ));
    }
    let fault_duration = table
        .duration("fault_duration")?
        .map_or(every.value, |at| at.value);
    let start = table
        .duration("start")?
        .map_or(SimDuration::ZERO, |at| at.value);
    let default_stop = SimDuration(run.as_nanos() / 5 * 4);
    let stop = match table.duration("stop")? {
        None => default_stop,
        Some(at) if at.value <= run && at.value > start => at.value,
        Some(at) => {
            return Err(error(
                &at.origin,
                "nemesis.stop",
                format!("found {}", at.value),
                format!("a time after start and no later than the run's duration ({run})"),
            ));
        }
    };
    let minority = replicas.saturating_sub(1) / 2;
    let max_down = match table.int("max_down", "a whole number of nodes")? {
        None => minority,
        Some(at) if at.value >= 0 => at.value as usize,
        Some(at) => {
            return Err(error(
                &at.origin,
                "nemesis.max_down",
                format!("found {}", at.value),
                "a whole number >= 0 (default: a minority of the replicas)",
            ));
        }
    };
    let targets_help =
        "\"replicas\" (default), \"all\" (clients and helper nodes too), or a list of node ids";
    let targets = match table.take("targets") {
        None => Targets::Replicas,
        Some(item) => match &item.value {
            Value::Text(text) if text == "replicas" => Targets::Replicas,
            Value::Text(text) if text == "all" => Targets::All,
            Value::Array(_) => {
                let ids = as_nodes(item, "nemesis.targets")?;
                if ids.value.is_empty() {
                    return Err(error(
                        &ids.origin,
                        "nemesis.targets",
                        "found an empty list",
                        targets_help,
                    ));
                }
                Targets::Nodes(check_nodes(ids, "nemesis.targets", total)?)
            }
            _ => {
                return Err(error(
                    &item.origin,
                    "nemesis.targets",
                    found(&item),
                    targets_help,
                ));
            }
        },
    };
    let max_clock_offset = table
        .duration("max_clock_offset")?
        .map_or(SimDuration::from_millis(100), |at| at.value);
    let max_drift_ppm = match table.int("max_drift_ppm", "parts per million")? {
        None => 1_000,
        Some(at) if (0..1_000_000).contains(&at.value) => at.value,
        Some(at) => {
            return Err(error(
                &at.origin,
                "nemesis.max_drift_ppm",
                format!("found {}", at.value),
                "a whole number from 0 to 999999",
            ));
        }
    };
    table.finish(NEMESIS_FIELDS)?;
    let config = NemesisConfig {
        every: every.value,
        faults,
        fault_duration,
        start: SimTime::ZERO + start,
        stop: SimTime::ZERO + stop,
        max_down,
        targets,
        max_clock_offset,
        max_drift_ppm,
    };
    let count = config.fault_count_estimate();
    if count > NEMESIS_FAULTS_MAX {
        let window = config.stop.saturating_since(config.start);
        return Err(error(
            &every.origin,
            "nemesis.every",
            format!(
                "{} between start and stop ({window}) would draw about {count} faults, above the limit of {NEMESIS_FAULTS_MAX} nemesis faults per run",
                every.value
            ),
            format!(
                "every at least {} for this window",
                SimDuration(window.as_nanos().div_ceil(NEMESIS_FAULTS_MAX - 1))
            ),
        ));
    }
    Ok(config)
}

/// The `[workload]` keys of an open loop (`rate`, `arrival`, `phase`) and of a closed
/// loop (`outstanding`, `think_time`): a scenario sets one kind or the other.
const OPEN_LOOP_KEYS: [&str; 3] = ["rate", "arrival", "phase"];
const CLOSED_LOOP_KEYS: [&str; 2] = ["outstanding", "think_time"];

/// Lets `--set` switch a scenario's workload between open and closed loop: a flag that
/// sets a key of one kind, with no flag setting a key of the other, removes the file's
/// keys of the other kind (`--set workload.outstanding=2` on a file with `rate` runs a
/// closed loop). Keys of both kinds set by flags, or in the file alone, are left for
/// the parser to refuse.
fn switch_loop_by_flags(root: &mut Item, overrides: &[String]) {
    let flagged = |keys: &[&str]| {
        overrides.iter().any(|flag| {
            let key = flag
                .split_once('=')
                .map_or(flag.as_str(), |(key, _)| key)
                .trim();
            let Some(rest) = key.strip_prefix("workload.") else {
                return false;
            };
            let first = rest.split('.').next().unwrap_or_default();
            keys.contains(&first)
        })
    };
    let drop_keys: &[&str] = match (flagged(&OPEN_LOOP_KEYS), flagged(&CLOSED_LOOP_KEYS)) {
        (true, false) => &CLOSED_LOOP_KEYS,
        (false, true) => &OPEN_LOOP_KEYS,
        _ => return,
    };
    let Value::Table(entries) = &mut root.value else {
        return;
    };
    let Some((_, workload)) = entries.iter_mut().find(|(key, _)| key == "workload") else {
        return;
    };
    if let Value::Table(fields) = &mut workload.value {
        fields.retain(|(key, _)| !drop_keys.contains(&key.as_str()));
    }
}
