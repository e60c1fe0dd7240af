//! The durable state of a replica: the acceptor's promise, the log of slots (accepted
//! and chosen values) and the state machine the chosen prefix was applied to.

use super::{Ballot, Compaction, StateMachine};

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

    /// Snapshot and compaction: discards the log below `applied` (every slot there
    /// is chosen and applied, and the durable machine is the snapshot of them). Under
    /// [`Compaction::DiscardUnchosen`] it also forgets what it accepted in every slot
    /// it does not know chosen: the planted bug.
    pub fn compact(&mut self, compaction: Compaction) {
        let cut = self.applied;
        if cut > self.base {
            let skip = usize::try_from(cut - self.base)
                .unwrap_or(usize::MAX)
                .min(self.slots.len());
            self.slots = self.slots.skip(skip);
            self.base = cut;
        }
        if compaction == Compaction::DiscardUnchosen {
            for record in self.slots.iter_mut() {
                if record.chosen.is_none() {
                    *record = SlotRecord::default();
                }
            }
        }
    }

    /// Installs `machine`, the state after applying every slot below `through`, in
    /// place of the log below it; false (and nothing changes) unless it is ahead of
    /// what this replica applied.
    pub fn install(&mut self, through: u64, machine: S) -> bool {
        if through <= self.applied {
            return false;
        }
        let skip = usize::try_from(through.saturating_sub(self.base))
            .unwrap_or(usize::MAX)
            .min(self.slots.len());
        self.slots = self.slots.skip(skip);
        self.base = through;
        self.applied = through;
        self.machine = machine;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine that sums its commands (0 is the no-op).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    struct Sum(u64);

    impl StateMachine for Sum {
        type Command = u64;
        type Output = u64;
        type Config = ();
        const NOOP: u64 = 0;

        fn apply(&mut self, _: &(), cmd: u64) -> u64 {
            self.0 += cmd;
            self.0
        }

        fn has_run(&self, _: u64) -> bool {
            false
        }
    }

    /// Slots `0..chosen` chosen with values 1, 2, ...; `accepted` more only accepted.
    fn log(chosen: u64, accepted: u64) -> Durable<Sum> {
        let mut durable = Durable::<Sum>::default();
        for slot in 0..chosen + accepted {
            let record = durable.slot_mut(slot);
            record.accepted_ballot = Ballot { round: 1, node: 0 };
            record.accepted_value = slot + 1;
        }
        for slot in 0..chosen {
            assert!(durable.learn(slot, slot + 1));
        }
        while durable.apply_next(&()).is_some() {}
        durable
    }

    #[test]
    fn compaction_keeps_the_snapshot_and_the_log_after_it() {
        let mut durable = log(10, 3);
        durable.compact(Compaction::ChosenPrefix);
        // Slots 0..10 live on only in the machine (1 + ... + 10); the log keeps the
        // three accepted slots after them, which a new leader must still hear about.
        assert_eq!(durable.log_start(), 10);
        assert_eq!(durable.log_len(), 13);
        assert_eq!(durable.machine(), &Sum(55));
        assert!(durable.is_chosen(3), "compacted slots count as chosen");
        assert_eq!(durable.slot(11).accepted_value, 12);
        assert_eq!(durable.first_unchosen_from(0), 10);
    }

    #[test]
    fn discard_unchosen_compaction_forgets_accepted_values() {
        let mut durable = log(10, 3);
        durable.compact(Compaction::DiscardUnchosen);
        // The planted bug: slot 11 may have been chosen by a quorum this acceptor was in.
        assert_eq!(durable.slot(11).accepted_ballot, Ballot::NONE);
    }

    #[test]
    fn installing_a_snapshot_replaces_the_log_below_it_and_only_moves_forward() {
        let mut durable = log(2, 5);
        assert!(durable.install(5, Sum(15)));
        assert_eq!((durable.log_start(), durable.applied()), (5, 5));
        assert_eq!(durable.machine(), &Sum(15));
        // Slot 6's acceptance survives: it is above the snapshot.
        assert_eq!(durable.slot(6).accepted_value, 7);
        // An older snapshot would roll the machine back: refused.
        assert!(!durable.install(4, Sum(10)));
        assert_eq!(durable.machine(), &Sum(15));
    }
}
