//! Running a validated scenario through its protocol.

use crate::registry::Registry;
use crate::scenario::Scenario;
use dsim_core::{RunError, RunRequest, RunResult, SimConfig, TraceWriter};

/// How many of the first messages a run keeps for the space-time diagram.
pub const MESSAGE_LOG_LIMIT: usize = 200;

/// Options of one run that are not part of the scenario.
#[derive(Default)]
pub struct RunOptions {
    /// Streams the event trace here.
    pub trace: Option<TraceWriter>,
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
            message_log_limit: MESSAGE_LOG_LIMIT,
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
    };
    protocol.run(request)
}

/// The command that replays this scenario's run: `dsim run FILE --seed N [--set ...]`.
pub fn replay_command(scenario: &Scenario) -> String {
    let mut command = format!(
        "dsim run {} --seed {}",
        shell_quote(&scenario.path.display().to_string()),
        scenario.seed
    );
    for flag in &scenario.overrides {
        command.push_str(" --set ");
        command.push_str(&shell_quote(flag));
    }
    command
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
