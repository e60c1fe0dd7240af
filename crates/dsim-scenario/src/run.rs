//! Running a validated scenario through its protocol.

use crate::registry::Registry;
use crate::scenario::Scenario;
use dsim_core::{OpSink, RunError, RunRequest, RunResult, SimConfig, TraceWriter};

/// How many of the first messages a run keeps for the space-time diagram.
pub const MESSAGE_LOG_LIMIT: usize = 200;

/// Options of one run that are not part of the scenario.
#[derive(Default)]
pub struct RunOptions {
    /// Streams the event trace here.
    pub trace: Option<TraceWriter>,
    /// Sees each client operation as the engine pairs it (`dsim run` streams `ops.csv`
    /// and `history.edn` through it).
    pub ops_sink: Option<Box<dyn OpSink>>,
    /// How many of the first messages the engine logs; `None`: [`MESSAGE_LOG_LIMIT`]
    /// (enough for the static space-time chart; `dsim run` asks for more, for the
    /// report's run explorer).
    pub message_log_limit: Option<usize>,
}

/// Runs `scenario` with its own seed and judges the run.
pub fn run_scenario(
    registry: &Registry,
    scenario: &Scenario,
    options: RunOptions,
) -> Result<RunResult, RunError> {
    let protocol = registry
        .get(&scenario.kind)
        .expect("a validated scenario names a registered protocol");
    let request = RunRequest {
        config: SimConfig {
            seed: scenario.seed,
            network: scenario.network.clone(),
            storage: scenario.storage,
            message_log_limit: options.message_log_limit.unwrap_or(MESSAGE_LOG_LIMIT),
            load: scenario.load.clone(),
        },
        nodes: scenario.nodes,
        variant: scenario.variant.clone(),
        params: scenario.params.clone(),
        workload: scenario.workload,
        duration: scenario.duration,
        faults: scenario
            .concrete_faults()
            .into_iter()
            .map(|scheduled| (scheduled.at, scheduled.fault))
            .collect(),
        trace: options.trace,
        ops_sink: options.ops_sink,
    };
    protocol.run(request)
}

/// Quotes `text` for a POSIX shell when it needs it.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
