//! The replicated state machine: what the log's chosen commands are applied to.

use std::fmt;

/// A deterministic state machine the Multi-Paxos log drives. Every replica applies the
/// same chosen commands in slot order, so every replica's machine passes through the
/// same states.
pub trait StateMachine: Clone + Default + fmt::Debug {
    /// One log entry. The default value is never proposed by a client.
    type Command: Copy + Eq + Ord + Default + fmt::Debug;
    /// What applying a command says (reported to the host protocol).
    type Output: Clone + fmt::Debug;
    /// Settings the machine needs to apply commands (fixed for a run).
    type Config: Copy + fmt::Debug;
    /// The command a new leader proposes in a log gap: applying it changes nothing.
    const NOOP: Self::Command;

    /// Applies one chosen command.
    fn apply(&mut self, config: &Self::Config, cmd: Self::Command) -> Self::Output;

    /// Whether `cmd` already took effect (a client's retry of it must not be proposed
    /// again). The no-op counts as run.
    fn has_run(&self, cmd: Self::Command) -> bool;
}
