//! `dsim check` accepts exactly what `dsim run` accepts.
//!
//! For every built-in protocol, proptest draws `[protocol]` tables — each key left at
//! its default or set to an edge value around its declared bounds (and the node count
//! around its range) — and compares the two paths:
//! - check (`Scenario::from_text`) accepts ⇒ the run starts and finishes (a tiny
//!   duration keeps it fast);
//! - check refuses ⇒ the error has a file position, and the protocol's own `run`, given
//!   the same values directly (bypassing the scenario checks), refuses them too — unless
//!   the refusal is the up-front work limit, which is the scenario's own rule.

use dsim_core::{ParamKind, ParamValue, Params, RatioMax, RunRequest, SimConfig, SimDuration};
use dsim_scenario::scenario::FORCE_HINT;
use dsim_scenario::{Origin, Registry, RunOptions, Scenario, run_scenario};
use proptest::prelude::*;
use std::path::Path;

/// Virtual time of each run: enough for every node's start-up handlers.
const RUN_NS: u64 = 1_000;

/// Runs whose estimate is above this are checked but not run, to keep the test fast.
const RUN_BYTES_MAX: u64 = 64 << 20;

/// Edge values around a key's declared bounds, as typed values.
fn edges(kind: ParamKind) -> Vec<ParamValue> {
    match kind {
        ParamKind::Bool(default) => vec![ParamValue::Bool(default), ParamValue::Bool(!default)],
        ParamKind::Int { default, min, max } => [
            min.saturating_sub(1),
            min,
            min.saturating_add(1),
            default,
            max.saturating_sub(1),
            max,
            max.saturating_add(1),
            -1,
            0,
        ]
        .into_iter()
        .map(ParamValue::Int)
        .collect(),
        ParamKind::Ratio { default, max } => {
            let top = match max {
                RatioMax::Included(top) | RatioMax::Excluded(top) => top,
            };
            [-0.01, 0.0, default, top - 0.01, top, top + 0.01, 1.0, 1.5]
                .into_iter()
                .map(ParamValue::Float)
                .collect()
        }
        ParamKind::Duration { default, min, max } => [
            0,
            1,
            min.0.saturating_sub(1),
            min.0,
            default.0,
            default.0.saturating_mul(10),
            default.0 / 10,
            3_600_000_000_000,
            max.0,
            max.0.saturating_add(1),
        ]
        .into_iter()
        .map(|ns| ParamValue::Duration(SimDuration(ns)))
        .collect(),
        ParamKind::Choice { default, allowed } => allowed
            .iter()
            .chain([&default, &"no-such-choice", &""])
            .map(|word| ParamValue::Text(word.to_string()))
            .collect(),
    }
}

/// A value as TOML.
fn toml_value(value: &ParamValue) -> String {
    match value {
        ParamValue::Bool(v) => v.to_string(),
        ParamValue::Int(v) => v.to_string(),
        ParamValue::Float(v) => format!("{v:?}"),
        ParamValue::Text(v) => format!("{v:?}"),
        ParamValue::Duration(v) => format!("\"{}ns\"", v.0),
    }
}

/// One drawn configuration of a protocol.
#[derive(Clone, Debug)]
struct Draw {
    nodes: i64,
    variant: usize,
    clients: u32,
    params: Vec<(&'static str, ParamValue)>,
}

fn draw(kind: &'static str) -> impl Strategy<Value = Draw> {
    let registry = Registry::builtin();
    let info = registry.get(kind).expect("built-in").info();
    let (min, max) = info.nodes_range;
    let (min, max) = (min as i64, max as i64);
    // Around both ends of small ranges; near the bottom only for the huge ones (a
    // million hold nodes is valid and is covered by the limit tests, not run here).
    let mut nodes = vec![min - 1, min, min + 1, min + 2, min + 4];
    if max <= 100 {
        nodes.extend([max - 1, max, max + 1]);
    }
    let keys: Vec<_> = info
        .params
        .iter()
        .map(|spec| {
            let values = edges(spec.kind);
            // Mostly defaults, so that accepted draws are common too.
            proptest::option::weighted(0.25, proptest::sample::select(values))
                .prop_map(move |value| value.map(|value| (spec.key, value)))
        })
        .collect();
    (
        proptest::sample::select(nodes),
        0..info.variants.len(),
        0u32..3,
        keys,
    )
        .prop_map(|(nodes, variant, clients, keys)| Draw {
            nodes,
            variant,
            clients,
            params: keys.into_iter().flatten().collect(),
        })
}

fn scenario_text(kind: &str, variant: &str, draw: &Draw) -> String {
    let mut text = format!(
        "name = \"edge\"\nduration = \"{RUN_NS}ns\"\n[workload]\nclients = {}\nrate = \"1000/s\"\n[protocol]\nkind = \"{kind}\"\nnodes = {}\nvariant = \"{variant}\"\n",
        draw.clients, draw.nodes
    );
    for (key, value) in &draw.params {
        text.push_str(&format!("{key} = {}\n", toml_value(value)));
    }
    text
}

fn check_matches_run(kind: &'static str, draw: Draw) -> Result<(), TestCaseError> {
    let registry = Registry::builtin();
    let protocol = registry.get(kind).expect("built-in");
    let variant = protocol.info().variants[draw.variant].name;
    let text = scenario_text(kind, variant, &draw);
    match Scenario::from_text(Path::new("edge.toml"), &text, &[], &registry) {
        Ok(scenario) => {
            if scenario.memory_estimate_bytes(&registry) > RUN_BYTES_MAX {
                return Ok(());
            }
            // check said yes: the run must not fail (before, 47 such inputs did).
            let result = run_scenario(&registry, &scenario, RunOptions::default());
            prop_assert!(
                result.is_ok(),
                "check accepted but run refused:\n{text}\n{:?}",
                result.err()
            );
        }
        Err(error) => {
            prop_assert!(
                matches!(error.origin, Origin::File { .. }),
                "refusal without a position: {error}"
            );
            if error.allowed.contains(FORCE_HINT) || draw.nodes < 1 {
                return Ok(());
            }
            // check said no: the protocol itself must refuse the same values.
            let nodes = draw.nodes as usize;
            let request = RunRequest {
                config: SimConfig {
                    seed: 1,
                    network: Default::default(),
                    storage: Default::default(),
                    message_log_limit: 0,
                    load: None,
                },
                nodes,
                variant: variant.to_string(),
                params: Params(
                    draw.params
                        .iter()
                        .map(|(key, value)| (key.to_string(), value.clone()))
                        .collect(),
                ),
                workload: dsim_core::Workload {
                    clients: draw.clients as usize,
                    rate_per_s: 1000.0,
                    ..dsim_core::Workload::default()
                },
                duration: SimDuration(RUN_NS),
                faults: Vec::new(),
                trace: None,
                ops_sink: None,
            };
            let info = protocol.info();
            let in_range = (info.nodes_range.0..=info.nodes_range.1).contains(&nodes);
            if in_range {
                prop_assert!(
                    protocol.run(request).is_err(),
                    "check refused ({error}) but run accepted:\n{text}"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn paxos_check_accepts_exactly_what_run_accepts(draw in draw("paxos")) {
        check_matches_run("paxos", draw)?;
    }

    #[test]
    fn lock_service_check_accepts_exactly_what_run_accepts(draw in draw("lock_service")) {
        check_matches_run("lock_service", draw)?;
    }

    #[test]
    fn two_phase_commit_check_accepts_exactly_what_run_accepts(draw in draw("two_phase_commit")) {
        check_matches_run("two_phase_commit", draw)?;
    }

    #[test]
    fn mapreduce_check_accepts_exactly_what_run_accepts(draw in draw("mapreduce")) {
        check_matches_run("mapreduce", draw)?;
    }

    #[test]
    fn hold_check_accepts_exactly_what_run_accepts(draw in draw("hold")) {
        check_matches_run("hold", draw)?;
    }

    #[test]
    fn queue_check_accepts_exactly_what_run_accepts(draw in draw("queue")) {
        check_matches_run("queue", draw)?;
    }
}
