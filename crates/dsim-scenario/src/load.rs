//! The load model's sections of a scenario file (see `dsim_core::load`):
//!
//! ```toml
//! storage = { mode = "keep-all", sync = "1ms" }   # or the plain string mode, as before
//! [nodes]
//! cores = 2                     # servers per node (default 1)
//! cpu = "20us"                  # time per unit of declared cost, or a distribution
//! queue_capacity = 1000         # waiting arrivals beyond this are dropped (default: no limit)
//! nic = "1Gbit/s"               # every node's network interface, each direction
//! [[nodes.overrides]]           # one node's own settings; unset fields follow [nodes]
//! node = 0
//! cores = 8
//! nic = "10Gbit/s"
//! ```
//!
//! Link bandwidths come from `[network] bandwidth` and `[[network.links]] bandwidth`.
//! Without `[nodes]`, a sync latency or a bandwidth the run has no load model at all
//! (the same runs as before it existed). With only a sync latency or a link bandwidth,
//! handlers stay free.

use crate::error::ScenarioError;
use crate::reader::{At, TableReader, as_array, as_node, as_text, error, found};
use crate::scenario::parse_delay;
use crate::tree::{Item, Value};
use crate::units::BANDWIDTH_HELP;
use dsim_core::{Bandwidth, Delay, LinkBandwidth, LoadConfig, NodeCpu, NodeId, StorageMode};
use std::collections::BTreeMap;

const NODES_FIELDS: &[&str] = &["cores", "cpu", "queue_capacity", "overrides", "nic"];
const OVERRIDE_FIELDS: &[&str] = &["node", "cores", "cpu", "queue_capacity", "nic"];
/// The fields of an override that set its CPU (an override with only `nic` leaves the
/// node's CPU as `[nodes]` sets it).
const CPU_FIELDS: &[&str] = &["cores", "cpu", "queue_capacity"];
const STORAGE_FIELDS: &[&str] = &["mode", "sync"];
const STORAGE_HELP: &str =
    "\"keep-all\" or \"lose-unsynced\", or a table { mode = \"keep-all\", sync = \"1ms\" }";

/// The per-unit CPU time when `[nodes]` leaves `cpu` out: 1 microsecond.
const DEFAULT_CPU_NS: u64 = 1_000;

/// `storage`: the crash mode and the sync latency, if any.
pub(crate) fn parse_storage(
    item: Option<Item>,
) -> Result<(StorageMode, Option<Delay>), ScenarioError> {
    let Some(item) = item else {
        return Ok((StorageMode::KeepAll, None));
    };
    if !matches!(item.value, Value::Table(_)) {
        return Ok((
            parse_mode(as_text(item, "storage", STORAGE_HELP)?, "storage")?,
            None,
        ));
    }
    let mut table = TableReader::new(item, "storage")?;
    let mode = match table.text("mode", STORAGE_HELP)? {
        None => StorageMode::KeepAll,
        Some(at) => parse_mode(at, "storage.mode")?,
    };
    let sync = table
        .take("sync")
        .map(|item| parse_delay(item, "storage.sync"))
        .transpose()?;
    table.finish(STORAGE_FIELDS)?;
    Ok((mode, sync))
}

fn parse_mode(at: At<String>, field: &str) -> Result<StorageMode, ScenarioError> {
    match at.value.as_str() {
        "keep-all" => Ok(StorageMode::KeepAll),
        "lose-unsynced" => Ok(StorageMode::LoseUnsynced),
        other => Err(error(
            &at.origin,
            field,
            format!("found {other:?}"),
            "\"keep-all\" or \"lose-unsynced\"",
        )),
    }
}

/// A bandwidth such as `"1Gbit/s"`: a string with a unit, above zero.
pub(crate) fn parse_bandwidth(item: Item, field: &str) -> Result<Bandwidth, ScenarioError> {
    let Value::Text(text) = &item.value else {
        return Err(error(&item.origin, field, found(&item), BANDWIDTH_HELP));
    };
    match crate::units::parse_bandwidth(text) {
        Some(0) => Err(error(
            &item.origin,
            field,
            format!(
                "found {} (nothing could be sent)",
                crate::reader::quote(text)
            ),
            BANDWIDTH_HELP,
        )),
        Some(bits_per_s) => Ok(Bandwidth::bits_per_s(bits_per_s)),
        None => Err(error(&item.origin, field, found(&item), BANDWIDTH_HELP)),
    }
}

/// The load model from `[nodes]`, the sync latency and the links' bandwidths, or
/// `None` when the file has none of them.
pub(crate) fn parse_load(
    nodes: Option<Item>,
    sync: Option<Delay>,
    mut bandwidth: LinkBandwidth,
    total: usize,
) -> Result<Option<LoadConfig>, ScenarioError> {
    let Some(item) = nodes else {
        if sync.is_none() && !bandwidth.is_on() {
            return Ok(None);
        }
        return Ok(Some(LoadConfig {
            cpu: NodeCpu {
                cpu: Delay::Constant { ns: 0 },
                ..NodeCpu::default()
            },
            overrides: BTreeMap::new(),
            sync,
            bandwidth,
        }));
    };
    let mut table = TableReader::new(item, "nodes")?;
    let base = NodeCpu {
        cpu: Delay::Constant { ns: DEFAULT_CPU_NS },
        ..NodeCpu::default()
    };
    let cpu = parse_cpu(&mut table, "nodes", &base)?;
    bandwidth.nic = table
        .take("nic")
        .map(|item| parse_bandwidth(item, "nodes.nic"))
        .transpose()?;
    let mut overrides = BTreeMap::new();
    let mut seen: Vec<u32> = Vec::new();
    if let Some(item) = table.take("overrides") {
        let elements = as_array(
            item,
            "nodes.overrides",
            "an array of tables: [[nodes.overrides]] with node and any of cores, cpu, queue_capacity",
        )?;
        for (index, element) in elements.into_iter().enumerate() {
            let path = format!("nodes.overrides[{index}]");
            let mut entry = TableReader::new(element, &path)?;
            let node_item = entry.require("node", "the node id these settings are for")?;
            let node = as_node(node_item, &format!("{path}.node"))?;
            if node.value as usize >= total {
                return Err(error(
                    &node.origin,
                    &format!("{path}.node"),
                    format!("found node {}", node.value),
                    format!("a node id from 0 to {}", total - 1),
                ));
            }
            if seen.contains(&node.value) {
                return Err(error(
                    &node.origin,
                    &format!("{path}.node"),
                    format!("node {} has settings already", node.value),
                    "one [[nodes.overrides]] entry per node",
                ));
            }
            seen.push(node.value);
            if let Some(item) = entry.take("nic") {
                let nic = parse_bandwidth(item, &format!("{path}.nic"))?;
                bandwidth.nics.insert(NodeId(node.value), nic);
            }
            let sets_cpu = CPU_FIELDS.iter().any(|field| entry.has(field));
            let settings = parse_cpu(&mut entry, &path, &cpu)?;
            entry.finish(OVERRIDE_FIELDS)?;
            if sets_cpu {
                overrides.insert(NodeId(node.value), settings);
            }
        }
    }
    table.finish(NODES_FIELDS)?;
    Ok(Some(LoadConfig {
        cpu,
        overrides,
        sync,
        bandwidth,
    }))
}

/// `cores`, `cpu` and `queue_capacity` of a table, each defaulting to `base`'s.
fn parse_cpu(
    table: &mut TableReader,
    path: &str,
    base: &NodeCpu,
) -> Result<NodeCpu, ScenarioError> {
    let cores = match table.int("cores", "a whole number of cores from 1 to 4096")? {
        None => base.cores,
        Some(at) if (1..=4_096).contains(&at.value) => at.value as u32,
        Some(at) => {
            return Err(error(
                &at.origin,
                &format!("{path}.cores"),
                format!("found {}", at.value),
                "a whole number of cores from 1 to 4096",
            ));
        }
    };
    let cpu = match table.take("cpu") {
        None => base.cpu.clone(),
        Some(item) => parse_delay(item, &format!("{path}.cpu"))?,
    };
    let capacity_help =
        "a whole number of waiting arrivals from 1 to 4294967295 (leave it out for no limit)";
    let queue_capacity = match table.int("queue_capacity", capacity_help)? {
        None => base.queue_capacity,
        Some(at) if (1..=i64::from(u32::MAX)).contains(&at.value) => Some(at.value as u32),
        Some(at) => {
            return Err(error(
                &at.origin,
                &format!("{path}.queue_capacity"),
                format!("found {}", at.value),
                capacity_help,
            ));
        }
    };
    Ok(NodeCpu {
        cores,
        cpu,
        queue_capacity,
    })
}
