//! The leader lease (optional, [`Config::lease`](super::Config::lease)): Chubby's
//! master lease on the Multi-Paxos core.
//!
//! A leader renews its lease once per heartbeat tick in a *lease round*: it sends every
//! peer a `LeaseRound` (its heartbeat, numbered) and counts the `LeaseAck`s. An
//! acceptor that acknowledges a round promises the sender not to help any other
//! candidate into office for `duration`, measured on its own clock from the moment it
//! got the round: until then it ignores other candidates' `Prepare`s (it does not even
//! Nack them). When a majority (the leader counting itself) acknowledged round `k`,
//! sent at leader-local time `s_k`, the leader holds its lease until `s_k + usable` on
//! *its* clock, `usable` being `duration` shortened by a drift margin. A promise of
//! phase 1 is not a lease, so dueling candidates never lock each other out.
//!
//! A restarted acceptor may have acknowledged a round just before its crash and no
//! longer knows whose: for one `duration` after a restart it helps nobody into office,
//! itself included. That keeps the lease promise across a crash without a sync per
//! round.

use dsim_core::{NodeId, SimDuration, SimTime};
use std::collections::VecDeque;

/// The most lease rounds a leader remembers while it waits for their acknowledgements.
const ROUNDS_KEPT: usize = 32;

/// The settings of the leader lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long an acceptor that acknowledged a round refuses other candidates, on its
    /// own clock from when it got the round.
    pub duration: SimDuration,
    /// The part of `duration` the leader counts on, on its clock from when it sent the
    /// round (shorter than `duration` by the clock-drift margin).
    pub usable: SimDuration,
}

/// An acceptor's lease promise: until `until` (its clock) it helps no node but
/// `holder` into office. `holder: None` with a future `until` (after a restart)
/// refuses every candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LeasePromise {
    pub(super) holder: Option<NodeId>,
    pub(super) until: SimTime,
}

impl LeasePromise {
    /// The promise of an acceptor that just restarted at `now`: nobody, for a lease.
    pub(super) fn after_restart(now: SimTime, lease: LeaseConfig) -> LeasePromise {
        LeasePromise {
            holder: None,
            until: now.saturating_add(lease.duration),
        }
    }

    /// True while the promise forbids helping `candidate` into office.
    pub(super) fn blocks(&self, candidate: NodeId, now: SimTime) -> bool {
        now < self.until && self.holder != Some(candidate)
    }

    /// Promises `holder` a lease from `now`.
    pub(super) fn grant(&mut self, holder: NodeId, now: SimTime, lease: LeaseConfig) {
        self.holder = Some(holder);
        self.until = now.saturating_add(lease.duration);
    }
}

/// A leader's lease rounds and the lease they established.
#[derive(Clone, Debug)]
pub(super) struct LeaseRounds {
    /// When phase 1 succeeded (leader clock): without any acknowledged round, the
    /// leader gives up a lease after this.
    elected_at: SimTime,
    /// The current round number (0 before the first).
    round: u64,
    /// Recent rounds: (round, send time, acknowledgers as a bit per replica).
    pending: VecDeque<(u64, SimTime, u64)>,
    /// The lease: valid while the leader's clock is below it.
    end: Option<SimTime>,
}

impl LeaseRounds {
    /// No round yet; elected at `now`.
    pub(super) fn new(now: SimTime) -> LeaseRounds {
        LeaseRounds {
            elected_at: now,
            round: 0,
            pending: VecDeque::new(),
            end: None,
        }
    }

    /// Starts the next round at `now`, acknowledged by `me` (the leader's own acceptor
    /// renews its promise to itself); returns its number.
    pub(super) fn start(
        &mut self,
        me: NodeId,
        now: SimTime,
        majority: usize,
        lease: LeaseConfig,
    ) -> u64 {
        self.round += 1;
        self.pending.push_back((self.round, now, 0));
        while self.pending.len() > ROUNDS_KEPT {
            self.pending.pop_front();
        }
        let round = self.round;
        self.ack(round, me, majority, lease);
        round
    }

    /// `source` acknowledged `round`; once a majority did, the lease runs until the
    /// round's send time plus the usable lease. True if the lease was extended.
    pub(super) fn ack(
        &mut self,
        round: u64,
        source: NodeId,
        majority: usize,
        lease: LeaseConfig,
    ) -> bool {
        let Some(position) = self.pending.iter().position(|&(r, _, _)| r == round) else {
            return false;
        };
        assert!(source.0 < 64, "lease rounds count at most 64 replicas");
        let (_, sent_at, acks) = &mut self.pending[position];
        *acks |= 1 << source.0;
        if (acks.count_ones() as usize) < majority {
            return false;
        }
        let end = sent_at.saturating_add(lease.usable);
        self.end = Some(self.end.map_or(end, |current| current.max(end)));
        // Older rounds can only give an earlier end.
        self.pending.drain(..=position);
        true
    }

    /// True while the lease holds at `now`.
    pub(super) fn holds(&self, now: SimTime) -> bool {
        self.end.is_some_and(|end| now < end)
    }

    /// True once the leader must give up: its lease ran out, or no round was
    /// acknowledged within a lease of its election.
    pub(super) fn lost(&self, now: SimTime, lease: LeaseConfig) -> bool {
        match self.end {
            Some(end) => now >= end,
            None => now.saturating_since(self.elected_at) >= lease.duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: LeaseConfig = LeaseConfig {
        duration: SimDuration(300),
        usable: SimDuration(294),
    };

    #[test]
    fn a_lease_runs_from_the_send_time_of_the_newest_round_a_majority_acknowledged() {
        let mut rounds = LeaseRounds::new(SimTime(0));
        let first = rounds.start(NodeId(0), SimTime(10), 2, LEASE);
        let second = rounds.start(NodeId(0), SimTime(30), 2, LEASE);
        // Only the leader itself so far: no lease, or a minority could keep it in office.
        assert!(!rounds.holds(SimTime(31)));
        assert!(rounds.ack(second, NodeId(2), 2, LEASE));
        assert!(rounds.holds(SimTime(323)) && !rounds.holds(SimTime(324)));
        // A late ack of an older round cannot move the end back (it was dropped).
        assert!(!rounds.ack(first, NodeId(1), 2, LEASE));
        assert!(rounds.holds(SimTime(323)));
    }

    #[test]
    fn a_leader_without_any_acknowledged_round_gives_up_after_a_lease() {
        let rounds = LeaseRounds::new(SimTime(100));
        // Serving on would let it act while a majority promised someone else.
        assert!(!rounds.lost(SimTime(399), LEASE));
        assert!(rounds.lost(SimTime(400), LEASE));
    }

    #[test]
    fn a_restarted_acceptor_blocks_every_candidate_for_a_lease() {
        let promise = LeasePromise::after_restart(SimTime(1000), LEASE);
        // It may have acknowledged a round it no longer remembers.
        assert!(promise.blocks(NodeId(0), SimTime(1299)));
        assert!(promise.blocks(NodeId(3), SimTime(1299)));
        assert!(!promise.blocks(NodeId(3), SimTime(1300)));
        let mut promise = promise;
        promise.grant(NodeId(1), SimTime(1300), LEASE);
        assert!(!promise.blocks(NodeId(1), SimTime(1400)));
        assert!(promise.blocks(NodeId(2), SimTime(1599)));
    }
}
