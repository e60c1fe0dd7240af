//! The durable state of a replica: the acceptor's promise, the log of slots (accepted
//! and chosen values) and the state machine the chosen prefix was applied to.

use super::{Ballot, StateMachine};

/// One slot of the log as an acceptor and learner sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotRecord<C> {
    /// The ballot of the last acceptance (`Ballot::NONE` if none).
    pub accepted_ballot: Ballot,
    /// The value accepted in `accepted_ballot`.
    pub accepted_value: C,
    /// The chosen value, once learned.
    pub chosen: Option<C>,
}

/// What survives a crash: promise, log and state machine. The log is an
/// `imbl::Vector`, so the engine's snapshot at `sync` shares every unchanged chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable<S: StateMachine> {
    /// The acceptor's promise: no acceptance below it.
    pub(super) promised: Ballot,
    /// Slot `base + i` is `slots[i]`.
    pub(super) slots: imbl::Vector<SlotRecord<S::Command>>,
    /// Slots below `base` were compacted: all chosen and applied to `machine`.
    pub(super) base: u64,
    /// Slots below this are applied to `machine`.
    pub(super) applied: u64,
    /// The state machine after applying slots `0..applied`.
    pub(super) machine: S,
}

impl<S: StateMachine> Durable<S> {
    /// The acceptor's promise.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// Raises (or, in tests, sets) the promise.
    pub fn set_promised(&mut self, ballot: Ballot) {
        self.promised = ballot;
    }

    /// The record of `slot` (default when never touched or compacted).
    pub fn slot(&self, slot: u64) -> SlotRecord<S::Command> {
        slot.checked_sub(self.base)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|index| self.slots.get(index))
            .copied()
            .unwrap_or_default()
    }

    /// The record of `slot`, created (with every slot before it) if needed.
    ///
    /// # Panics
    /// If `slot` was compacted: only chosen, applied slots are, and nobody writes them.
    pub fn slot_mut(&mut self, slot: u64) -> &mut SlotRecord<S::Command> {
        assert!(
            slot >= self.base,
            "slot {slot} was compacted (log starts at {})",
            self.base
        );
        let index = usize::try_from(slot - self.base).expect("slot numbers fit in memory");
        while self.slots.len() <= index {
            self.slots.push_back(SlotRecord::default());
        }
        &mut self.slots[index]
    }

    /// The chosen value of `slot`, if learned and not compacted.
    pub fn chosen(&self, slot: u64) -> Option<S::Command> {
        self.slot(slot).chosen
    }

    /// Whether `slot` is known chosen here (compacted slots are).
    pub fn is_chosen(&self, slot: u64) -> bool {
        slot < self.base || self.slot(slot).chosen.is_some()
    }

    /// One past the last slot the log holds.
    pub fn log_len(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// First slot the log still holds; slots below were compacted.
    pub fn log_start(&self) -> u64 {
        self.base
    }

    /// Slots below this were applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The state machine.
    pub fn machine(&self) -> &S {
        &self.machine
    }

    /// The state machine, mutably (for hosts that keep more than the log in it).
    pub fn machine_mut(&mut self) -> &mut S {
        &mut self.machine
    }

    /// First slot at or after `from` whose chosen value is unknown here.
    pub fn first_unchosen_from(&self, from: u64) -> u64 {
        let mut slot = from.max(self.base);
        while self.chosen(slot).is_some() {
            slot += 1;
        }
        slot
    }

    /// Learns that `value` is chosen in `slot`; false if it already knew.
    pub fn learn(&mut self, slot: u64, value: S::Command) -> bool {
        if self.is_chosen(slot) {
            return false;
        }
        self.slot_mut(slot).chosen = Some(value);
        true
    }

    /// Applies the next chosen slot, if known: `(slot, command, output)`.
    pub fn apply_next(&mut self, config: &S::Config) -> Option<(u64, S::Command, S::Output)> {
        let slot = self.applied;
        let cmd = self.chosen(slot)?;
        let output = self.machine.apply(config, cmd);
        self.applied = slot + 1;
        Some((slot, cmd, output))
    }
}
