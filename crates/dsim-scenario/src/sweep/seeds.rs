//! Seeds of a sweep: a range, a shard of it, and the set one machine runs, counted and
//! enumerated but never collected.

use super::MAX_SEEDS_PER_SWEEP;

/// A range of seeds, both ends included: `A..B` (as in the shell's `{A..B}`) or
/// `A..=B`; a single number is a range of one. `--seeds 1..1000` is 1,000 seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub first: u64,
    /// Last seed, included.
    pub last: u64,
}

impl SeedRange {
    /// Parses `A..B` or `A..=B` (both inclusive) or `N`.
    pub fn parse(text: &str) -> Result<SeedRange, String> {
        let help = "seeds as A..B (both included), e.g. 1..1000";
        let number = |s: &str| {
            s.trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("cannot read {s:?} as a seed; {help}"))
        };
        let range = match text.split_once("..") {
            Some((a, b)) => SeedRange {
                first: number(a)?,
                last: number(b.strip_prefix('=').unwrap_or(b))?,
            },
            None => {
                let seed = number(text)?;
                SeedRange {
                    first: seed,
                    last: seed,
                }
            }
        };
        if range.first > range.last {
            return Err(format!("{text:?} is empty; {help}"));
        }
        Ok(range)
    }

    /// How many seeds (up to 2^64, hence `u128`).
    pub fn len(&self) -> u128 {
        u128::from(self.last - self.first) + 1
    }

    /// Never true: a parsed range holds at least one seed.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

/// `--shard I/N`: this machine runs the seeds whose index in the range, mod N, is I-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with 1 <= I <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let help = "a shard as I/N with 1 <= I <= N, e.g. 3/8";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("cannot read {text:?}; {help}"))?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| format!("cannot read {text:?}; {help}"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("cannot read {text:?}; {help}"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?} is out of range; {help}"));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds one sweep runs: a range, or one shard of it. Never materialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSet {
    /// The whole range of the sweep.
    pub range: SeedRange,
    /// The shard this machine runs, if any.
    pub shard: Option<Shard>,
}

impl SeedSet {
    /// The index (from 0) of this set's first seed in the range, and the step.
    fn offset_and_step(&self) -> (u128, u128) {
        match self.shard {
            Some(shard) => (u128::from(shard.index - 1), u128::from(shard.count)),
            None => (0, 1),
        }
    }

    /// How many seeds (0 for a shard with more shards than seeds).
    pub fn len(&self) -> u128 {
        let (offset, step) = self.offset_and_step();
        let all = self.range.len();
        if all <= offset {
            0
        } else {
            (all - offset - 1) / step + 1
        }
    }

    /// True for a shard that gets no seed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if this set runs `seed`.
    pub fn contains(&self, seed: u64) -> bool {
        if seed < self.range.first || seed > self.range.last {
            return false;
        }
        let (offset, step) = self.offset_and_step();
        u128::from(seed - self.range.first) % step == offset
    }

    /// The `k`-th seed (from 0); `k` must be below [`SeedSet::len`].
    pub fn nth(&self, k: u64) -> u64 {
        assert!(u128::from(k) < self.len(), "seed index {k} out of the set");
        let (offset, step) = self.offset_and_step();
        let index = offset + u128::from(k) * step;
        self.range.first + u64::try_from(index).expect("an index inside a u64 range")
    }

    /// The seeds in increasing order, one at a time.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let len = u64::try_from(self.len()).unwrap_or(u64::MAX);
        (0..len).map(|k| self.nth(k))
    }

    /// Refuses a sweep over more than [`MAX_SEEDS_PER_SWEEP`] seeds.
    pub fn check_size(&self) -> Result<(), String> {
        let all = self.range.len();
        if all > MAX_SEEDS_PER_SWEEP {
            return Err(format!(
                "--seeds {} holds {all} seeds; a sweep covers at most {MAX_SEEDS_PER_SWEEP} (its table is held in memory): split the study into sweeps over consecutive ranges",
                self.range
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_include_both_ends() {
        assert_eq!(
            SeedRange::parse("1..4"),
            Ok(SeedRange { first: 1, last: 4 })
        );
        assert_eq!(
            SeedRange::parse("1..=4"),
            Ok(SeedRange { first: 1, last: 4 })
        );
        assert_eq!(SeedRange::parse("7"), Ok(SeedRange { first: 7, last: 7 }));
        assert_eq!(
            SeedRange::parse("5..5"),
            Ok(SeedRange { first: 5, last: 5 })
        );
        assert!(SeedRange::parse("6..5").is_err());
        assert!(SeedRange::parse("a..b").is_err());
        assert_eq!(SeedRange::parse("1..1000").map(|r| r.len()), Ok(1000));
    }

    #[test]
    fn shards_partition_the_seeds() {
        let range = SeedRange {
            first: 10,
            last: 19,
        };
        let shard = |index| SeedSet {
            range,
            shard: Some(Shard { index, count: 3 }),
        };
        let mut all: Vec<u64> = (1..=3)
            .flat_map(|i| shard(i).iter().collect::<Vec<_>>())
            .collect();
        all.sort();
        // Every seed in exactly one shard, or a merge would miss or double rows.
        assert_eq!(all, (10..=19).collect::<Vec<_>>());
        assert_eq!(shard(1).iter().collect::<Vec<_>>(), vec![10, 13, 16, 19]);
        assert_eq!(shard(2).len(), 3);
        assert!(shard(2).contains(14) && !shard(2).contains(13) && !shard(2).contains(20));
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
    }

    #[test]
    fn huge_seed_ranges_are_counted_not_collected() {
        // `1..u64::MAX` overflowed a capacity computation before; `0..u64::MAX` holds
        // 2^64 seeds, one more than a u64 counts.
        let everything = SeedSet {
            range: SeedRange::parse("0..18446744073709551615").expect("range"),
            shard: None,
        };
        assert_eq!(everything.len(), 1u128 << 64);
        assert!(everything.check_size().is_err());
        let billion = SeedSet {
            range: SeedRange::parse("1..1000000000").expect("range"),
            shard: Some(Shard { index: 2, count: 7 }),
        };
        assert_eq!(billion.len(), 142_857_143);
        assert_eq!(billion.nth(142_857_142), 999_999_996);
        let message = billion.check_size().expect_err("above the limit");
        assert!(message.contains("1000000000 seeds"), "{message}");
        // More shards than seeds: the third shard of two seeds is empty, not an error.
        let empty = SeedSet {
            range: SeedRange { first: 1, last: 2 },
            shard: Some(Shard { index: 3, count: 3 }),
        };
        assert!(empty.is_empty());
        assert_eq!(empty.iter().count(), 0);
    }
}
