//! Ballot numbers: `(round, node)`, totally ordered, never shared by two proposers.

/// A ballot number: ordered by round, then by the proposer's node id, so two proposers
/// never share a ballot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    /// The round; real ballots start at round 1.
    pub round: u32,
    /// The proposer that owns this ballot.
    pub node: u32,
}

impl Ballot {
    /// Below every real ballot: "nothing promised / accepted yet".
    pub const NONE: Ballot = Ballot { round: 0, node: 0 };

    /// A 64-bit key for message digests.
    pub fn key(self) -> u64 {
        (u64::from(self.round) << 32) | u64::from(self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        // A proposer that ordered by node first could never outbid a lower-id leader.
        assert!(Ballot { round: 2, node: 0 } > Ballot { round: 1, node: 9 });
        assert!(Ballot { round: 1, node: 2 } > Ballot { round: 1, node: 1 });
        assert!(Ballot::NONE < Ballot { round: 1, node: 0 });
        assert_ne!(
            Ballot { round: 1, node: 2 }.key(),
            Ballot { round: 2, node: 1 }.key()
        );
    }
}
