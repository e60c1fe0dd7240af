//! `dsim history check`: judge a history that dsim did not necessarily produce.
//!
//! Reads Jepsen EDN or `jepsen.util` log lines, checks every operation against the
//! model, and runs the linearizability checker. Exit codes: 0 linearizable, 1 not
//! (the failing window is printed with the command that reproduces the verdict),
//! 2 bad input (`file:line:col: problem`), 3 unknown (the budget ran out).

use crate::exit;
use crate::output::{Printer, thousands};
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use dsim_checkers::{
    DEFAULT_BUDGET, HistoryError, MODEL_NAMES, OpType, Verdict, explain, io, linearizable,
    model_by_name, validate,
};
use dsim_scenario::shell_quote;
use std::path::{Path, PathBuf};

/// The verdict is unknown: the search budget ran out.
pub const UNKNOWN: u8 = 3;

/// `dsim history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// What to do with the history.
    #[command(subcommand)]
    pub command: HistoryCommand,
}

/// The `dsim history` subcommands.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Check a Jepsen-format history (EDN or jepsen.util log lines) against a model.
    /// Exit codes: 0 linearizable, 1 not, 2 bad input, 3 unknown (budget spent).
    Check(HistoryCheckArgs),
}

/// `dsim history check`.
#[derive(Debug, Args)]
pub struct HistoryCheckArgs {
    /// The history file: Jepsen EDN (a vector of operation maps or one map per line)
    /// or jepsen.util log lines.
    pub file: PathBuf,
    /// The model the history is judged by.
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(MODEL_NAMES))]
    pub model: String,
    /// The most model steps to try before answering "unknown" (exit 3).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BUDGET)]
    pub budget: u64,
}

/// Runs a `dsim history` subcommand.
pub fn history(args: HistoryArgs, printer: &Printer) -> anyhow::Result<u8> {
    match args.command {
        HistoryCommand::Check(args) => check(args, printer),
    }
}

/// `file:line:col: problem` (or `file: problem` without a position).
fn located(file: &Path, error: &HistoryError) -> anyhow::Error {
    match error.pos {
        Some(pos) => anyhow!(
            "{}:{}:{}: {}",
            file.display(),
            pos.line,
            pos.col,
            error.kind
        ),
        None => anyhow!("{}: {}", file.display(), error.kind),
    }
}

fn check(args: HistoryCheckArgs, printer: &Printer) -> anyhow::Result<u8> {
    let file = &args.file;
    let model = model_by_name(&args.model).ok_or_else(|| {
        anyhow!(
            "unknown model {} (known: {})",
            args.model,
            MODEL_NAMES.join(", ")
        )
    })?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let history = io::read_history(&bytes).map_err(|e| located(file, &e))?;
    validate(&history, model.as_ref()).map_err(|e| located(file, &e))?;
    let count = |kind: OpType| history.ops.iter().filter(|op| op.op_type == kind).count();
    let summary = format!(
        "{}: {} operations ({} ok, {} fail, {} info), model {}",
        file.display(),
        thousands(history.ops.len() as u64),
        thousands(count(OpType::Ok) as u64),
        thousands(count(OpType::Fail) as u64),
        thousands(count(OpType::Info) as u64),
        model.name()
    );
    let verdict = linearizable(&history, model.as_ref(), args.budget);
    let explanation = explain(&verdict, &history, model.as_ref());
    let replay = format!(
        "dsim history check {} --model {}",
        shell_quote(&file.display().to_string()),
        model.name()
    );
    match verdict {
        Verdict::Linearizable { .. } => {
            printer.line(&summary);
            printer.line(explanation.trim_end());
            Ok(exit::OK)
        }
        Verdict::NotLinearizable { .. } => {
            printer.always(&summary);
            printer.always(explanation.trim_end());
            printer.always(
                "hint: every order of the window's operations after the prefix fails the model; \
                 look for a stale or lost value among them.",
            );
            printer.always(format!("replay: {replay}"));
            Ok(exit::VIOLATION)
        }
        Verdict::Unknown {
            states_explored, ..
        } => {
            printer.always(&summary);
            printer.always(explanation.trim_end());
            printer.always(format!(
                "hint: raise the budget: {replay} --budget {}",
                states_explored.saturating_mul(10)
            ));
            Ok(UNKNOWN)
        }
    }
}
