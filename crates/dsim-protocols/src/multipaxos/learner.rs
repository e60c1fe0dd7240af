//! The learner: chosen values from the leader's commit index, catch-up of the ones it
//! cannot infer, and applying the chosen prefix to the state machine.

use super::replica::Role;
use super::{Cmd, Event, Host, Msg, Replica};
use dsim_core::{Ctx, NodeId};

/// The most slots a follower scans per message when it infers chosen values from the
/// leader's commit index; anything further it fetches with `CatchUp`.
const INFER_SCAN_MAX: u64 = 64;

/// The most chosen entries one `Learn` message carries.
const LEARN_BATCH_MAX: u64 = 256;

impl<H: Host> Replica<H> {
    /// Learns the slots below the leader's commit index that we accepted in the
    /// leader's own ballot: the leader proposes one value per slot and ballot, so that
    /// value is the chosen one.
    pub(super) fn learn_from_commit(&mut self, ctx: &mut Ctx<'_, H>) {
        let end = self
            .leader_commit
            .min(self.first_unchosen + INFER_SCAN_MAX)
            .min(H::core(ctx.durable()).log_len());
        for slot in self.first_unchosen..end {
            let record = H::core(ctx.durable()).slot(slot);
            if record.chosen.is_none()
                && record.accepted_ballot == self.leader_ballot
                && super::learn(ctx, slot, record.accepted_value)
            {
                self.dirty = true;
            }
        }
        self.first_unchosen = H::core(ctx.durable()).first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
    }

    /// Asks the leader for chosen values we cannot infer, at most once per heartbeat
    /// interval unless an answer came in.
    pub(super) fn maybe_catch_up(&mut self, ctx: &mut Ctx<'_, H>) {
        if self.first_unchosen >= self.leader_commit {
            self.catch_up_sent = None;
            return;
        }
        let Some(leader) = self.leader.filter(|&leader| leader != self.id) else {
            return;
        };
        let now = self.config.now(ctx);
        if self
            .catch_up_sent
            .is_some_and(|sent| now.saturating_since(sent) < self.config.heartbeat_interval)
        {
            return;
        }
        self.catch_up_sent = Some(now);
        ctx.send(
            leader,
            H::message(Msg::CatchUp {
                from_slot: self.first_unchosen,
            }),
        );
    }

    /// Anyone: sends the chosen values it knows from `from_slot` on, or its snapshot
    /// when it compacted some of them.
    pub(super) fn on_catch_up(&mut self, ctx: &mut Ctx<'_, H>, source: NodeId, from_slot: u64) {
        if self.send_snapshot_below(ctx, source, from_slot) {
            return;
        }
        let durable = H::core(ctx.durable());
        let end = from_slot
            .saturating_add(LEARN_BATCH_MAX)
            .min(durable.log_len());
        let entries: Vec<(u64, Cmd<H>)> = (from_slot..end)
            .filter_map(|slot| durable.chosen(slot).map(|value| (slot, value)))
            .collect();
        if !entries.is_empty() {
            ctx.send(source, H::message(Msg::Learn { entries }));
        }
    }

    /// Chosen values arrived: learn and apply them, and ask for more if still behind.
    pub(super) fn on_learn(&mut self, ctx: &mut Ctx<'_, H>, entries: &[(u64, Cmd<H>)]) {
        for &(slot, value) in entries {
            if super::learn(ctx, slot, value) {
                self.dirty = true;
            }
        }
        self.first_unchosen = H::core(ctx.durable()).first_unchosen_from(self.first_unchosen);
        self.apply(ctx);
        self.catch_up_sent = None;
        self.maybe_catch_up(ctx);
    }

    /// Sends our snapshot to `target` if it asks for slots from `from_slot` on and we
    /// compacted some of them; true if it did.
    pub(super) fn send_snapshot_below(
        &mut self,
        ctx: &mut Ctx<'_, H>,
        target: NodeId,
        from_slot: u64,
    ) -> bool {
        let durable = H::core(ctx.durable());
        if from_slot >= durable.log_start() {
            return false;
        }
        let msg = Msg::Snapshot {
            through: durable.applied(),
            machine: durable.machine().clone(),
        };
        ctx.send(target, H::message(msg));
        true
    }

    /// A snapshot arrived: a follower or candidate behind it installs it in place of
    /// its log below, then fetches the chosen values after it. A leader never needs
    /// one (its phase 1 brought it up to its quorum's log) and ignores it.
    pub(super) fn on_snapshot(&mut self, ctx: &mut Ctx<'_, H>, through: u64, machine: H::Machine) {
        if matches!(self.role, Role::Leader(_)) {
            return;
        }
        let installed = H::core_mut(ctx.durable_mut()).install(through, machine);
        if installed {
            self.dirty = true;
            H::observe(ctx, Event::SnapshotInstalled { through });
            self.first_unchosen = H::core(ctx.durable()).first_unchosen_from(self.first_unchosen);
        }
        if let Role::Candidate(campaign) = &mut self.role {
            // Every slot below `first_unchosen` is known chosen (installed, or learned
            // during the campaign): phase 1 need only report what comes after, and the
            // next prepare asks from there, which the sender can answer with a promise.
            campaign.from_slot = campaign.from_slot.max(self.first_unchosen);
            let from_slot = campaign.from_slot;
            campaign.adopted.retain(|&slot, _| slot >= from_slot);
        }
        if installed {
            self.apply(ctx);
            self.catch_up_sent = None;
            self.maybe_catch_up(ctx);
        }
    }

    /// Applies chosen slots in order; a leader answers the clients. Every
    /// `snapshot_interval` applied slots the log below is compacted.
    pub(super) fn apply(&mut self, ctx: &mut Ctx<'_, H>) {
        let answers = &mut self.answers;
        let outputs = &mut self.outputs;
        let machine = self.config.machine;
        let applied = match &mut self.role {
            Role::Leader(leading) => {
                super::apply_ready_with(ctx, &machine, |ctx, value, output| {
                    leading.in_flight.remove(&value);
                    answers.push(value);
                    if H::KEEPS_OUTPUTS {
                        let slot = H::core(ctx.durable()).applied() - 1;
                        outputs.push((slot, value, output));
                    }
                })
            }
            _ => super::apply_ready(ctx, &machine, |_, _| {}),
        };
        if applied > 0 {
            self.dirty = true;
            let durable = H::core_mut(ctx.durable_mut());
            if durable.applied() - durable.log_start() >= self.config.snapshot_interval {
                durable.compact(self.config.compaction);
            }
        }
    }
}
