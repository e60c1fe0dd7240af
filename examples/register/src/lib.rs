//! # The ABD atomic register as a dsim plug-in
//!
//! The fuller of the two plug-in examples (the other, `examples/gossip`, is one node
//! type and one check): two roles, per-role durable state, clients with a history of
//! values, quorum calls from [`dsim_protocols::kit::quorum`], a planted bug, and the
//! linearizability checker judging every run.
//!
//! ## The algorithm
//!
//! Attiya, Bar-Noy and Dolev ("Sharing memory robustly in message-passing systems",
//! JACM 1995) emulate an atomic (linearizable) read/write register over `n` replicas
//! of which any minority may crash, with no consensus and no leader. This is the
//! multi-writer form of Lynch and Shvartsman ("Robust emulation of shared memory using
//! dynamic quorum-acknowledged broadcasts", FTCS 1997). Each replica stores a value
//! with a tag `(seq, writer)`, ordered lexicographically. Every operation is two
//! phases, each a round trip to a majority:
//!
//! - **write v**: *query* a majority for their tags, take the largest `max`; *store*
//!   `(max.seq + 1, my id), v` at a majority. A replica keeps an offered value only if
//!   its tag is larger than the one it holds.
//! - **read**: *query* a majority, take the `(tag, value)` with the largest tag; *store*
//!   it back at a majority (the write-back), then return the value.
//!
//! Any two majorities intersect, so a query after a completed store sees its tag; the
//! read's write-back makes a returned value "completed" too, so a later read can never
//! return something older (no new-old inversion).
//!
//! ## Faults tolerated, and where this version departs
//!
//! Crashes of any minority of replicas (a replica's `(tag, value)` is durable and
//! synced before it acknowledges a store, so it survives a restart, even in runs that
//! lose unsynced writes); message loss, duplication and reordering (quorum calls
//! resend to silent replicas; replicas answer duplicates harmlessly); partitions (an
//! operation waits, and ends `info` at its timeout, when no majority is reachable). The
//! paper's clients wait forever; ours give up after `timeout` and report `info`, as a
//! real client would — the write may still take effect later, and the checker allows
//! exactly that.
//!
//! ## Variants
//!
//! - `correct`: the algorithm above.
//! - `no-write-back` (BUG): reads skip the store phase and return the queried maximum
//!   at once. A read that sees a write stored at only a minority returns the new value;
//!   a later read whose majority misses that minority returns the old one: a new-old
//!   inversion, which `linearizable` (the `register` model) catches.
//!
//! ## The check
//!
//! Every run's client history (reads and writes, with values, from
//! `OpInvoked`/`OpCompleted`) is judged by [`dsim_checkers::linearizable()`] with the
//! [`dsim_checkers::Register`] model; see [`check_history`].

#![warn(missing_docs)]

pub mod node;

use dsim_checkers::Register;
use dsim_core::protocol::{execute, generic_output};
use dsim_core::{
    ConfigError, Formula, NodeId, ParamSpec, Protocol, ProtocolInfo, ProtocolVariant, RunError,
    RunOutput, RunRequest, RunResult, SimDuration, Verdict, Violation,
};
use dsim_protocols::history::describe_counterexample;
use node::{Abd, Settings};

dsim_core::protocol_variants! {
    /// The register's variants.
    pub enum Variant {
        /// The algorithm as published.
        Correct => "correct": "reads write the value they return back to a majority before returning",
        /// The planted bug.
        NoWriteBack => "no-write-back": "BUG: reads return the queried maximum without writing it back (new-old inversion)",
    }
}

/// Keys under `[protocol]`.
const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        key: "timeout",
        kind: dsim_core::ParamKind::duration(SimDuration::from_millis(200)),
        help: "how long a client waits for an operation before reporting it info",
    },
    ParamSpec {
        key: "retransmit",
        kind: dsim_core::ParamKind::duration(SimDuration::from_millis(20)),
        help: "how often a quorum call resends to replicas that have not answered",
    },
];

/// The model steps the linearizability search may take per run.
pub const LINEARIZABILITY_BUDGET: u64 = 5_000_000;

/// The ABD register, kind `register`.
pub struct AbdRegister;

impl Protocol for AbdRegister {
    fn info(&self) -> ProtocolInfo {
        ProtocolInfo {
            kind: "register",
            summary: "ABD atomic register, multi-writer (the fuller plug-in example)",
            variants: Variant::SPECS,
            params: PARAMS,
            nodes_range: (1, 63),
        }
    }

    fn run(&self, request: RunRequest) -> Result<RunResult, RunError> {
        request.params.check(PARAMS).map_err(ConfigError::from)?;
        let replicas = request.nodes;
        let workload = request.workload;
        let settings = Settings {
            replicas,
            variant: request.variant_as::<Variant>()?,
            interval: workload.client_interval(),
            timeout: request.params.duration(PARAMS, "timeout"),
            retransmit: request.params.duration(PARAMS, "retransmit"),
        };
        let total = self.total_nodes(replicas, &workload);
        let (output, trace_error) = execute(request, total, move |id, _durable| {
            Abd::new(
                id,
                settings,
                workload.idle_clients.is_idle_node(replicas, id),
            )
        })?;
        let violations = check_history(&output, replicas);
        Ok(RunResult {
            output: generic_output(output),
            verdict: Verdict::new(violations).with_formula(Formula::MeanOkLatency {
                name: "mean_ok_latency",
            }),
            trace_error,
        })
    }
}

/// The `linearizable` check: the clients' register history (nodes from `replicas` on)
/// judged by [`dsim_checkers::linearizable()`] with the `register` model. A history that
/// is not linearizable gives one violation at the stuck operation's completion, naming
/// the clients and operations of the checker's failing window; a search that spends
/// its budget gives `linearizable_unknown` (never a pass).
pub fn check_history<E>(output: &RunOutput<E>, replicas: usize) -> Vec<Violation> {
    let (history, clients) = dsim_protocols::paxos::client_history(output, replicas);
    if history.ops.is_empty() {
        return Vec::new();
    }
    match dsim_checkers::linearizable(&history, &Register, LINEARIZABILITY_BUDGET) {
        dsim_checkers::Verdict::Linearizable { .. } => Vec::new(),
        dsim_checkers::Verdict::NotLinearizable { counterexample, .. } => {
            let view = describe_counterexample(&history, &counterexample, |id| id);
            let mut nodes: Vec<NodeId> = counterexample
                .window
                .iter()
                .map(|&id| clients[id])
                .collect();
            nodes.sort();
            nodes.dedup();
            vec![Violation {
                time: view.time,
                check: "linearizable",
                nodes,
                details: format!(
                    "no order of the clients' reads and writes explains op {} ({}); the register held {} after [{}]; ops involved (op ids as in ops.csv): [{}]",
                    counterexample.stuck,
                    history.ops[counterexample.stuck],
                    counterexample.state,
                    view.last.join("; "),
                    view.window.join("; "),
                ),
                ops: view.ops,
                figure: None,
            }]
        }
        dsim_checkers::Verdict::Unknown {
            states_explored, ..
        } => vec![Violation {
            time: output.end_time,
            check: "linearizable_unknown",
            nodes: Vec::new(),
            details: format!(
                "the linearizability search spent its budget ({states_explored} model steps)"
            ),
            ops: Vec::new(),
            figure: None,
        }],
    }
}

/// A registry with the built-in protocols and the register, as `dsim-register` uses.
pub fn registry() -> dsim_scenario::Registry {
    let mut registry = dsim_scenario::Registry::builtin();
    registry.register(Box::new(AbdRegister));
    registry
}
