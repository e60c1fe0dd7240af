//! The event queue: entries ordered by `(time, seq)`, payloads kept elsewhere.
//!
//! `seq` is unique per scheduled event, so the order is total and the same on every
//! machine. Entries are 24 bytes; the simulation keeps payloads in a slab.

/// A queue entry: the earliest `(time, seq)` comes out first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// Virtual time in nanoseconds.
    pub time: u64,
    /// Scheduling order among equal times.
    pub seq: u64,
    /// Index of the payload in the simulation's slab.
    pub slot: u32,
}

/// The event queue: a 4-ary min-heap of entries by `(time, seq)` — half the depth of a
/// binary heap, and the four children of a node share a cache line or two.
#[derive(Default)]
pub struct EventQueue {
    entries: Vec<QueueEntry>,
}

impl EventQueue {
    #[inline]
    fn key(entry: &QueueEntry) -> (u64, u64) {
        (entry.time, entry.seq)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The earliest entry.
    pub fn peek(&self) -> Option<&QueueEntry> {
        self.entries.first()
    }

    #[inline]
    fn sift_up(&mut self, mut hole: usize, entry: QueueEntry) {
        let key = Self::key(&entry);
        while hole > 0 {
            let parent = (hole - 1) / 4;
            if Self::key(&self.entries[parent]) <= key {
                break;
            }
            self.entries[hole] = self.entries[parent];
            hole = parent;
        }
        self.entries[hole] = entry;
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: QueueEntry) {
        let hole = self.entries.len();
        self.entries.push(entry);
        self.sift_up(hole, entry);
    }

    /// Removes and returns the earliest entry by `(time, seq)`.
    pub fn pop(&mut self) -> Option<QueueEntry> {
        let last = self.entries.pop()?;
        if self.entries.is_empty() {
            return Some(last);
        }
        let top = self.entries[0];
        let len = self.entries.len();
        // Bottom-up: move the smallest child up until the bottom, then sift `last` up.
        let mut hole = 0;
        loop {
            let first = 4 * hole + 1;
            if first + 4 <= len {
                let c = &self.entries[first..first + 4];
                let a = if Self::key(&c[1]) < Self::key(&c[0]) {
                    1
                } else {
                    0
                };
                let b = if Self::key(&c[3]) < Self::key(&c[2]) {
                    3
                } else {
                    2
                };
                let best = first
                    + if Self::key(&c[b]) < Self::key(&c[a]) {
                        b
                    } else {
                        a
                    };
                self.entries[hole] = self.entries[best];
                hole = best;
            } else {
                if first < len {
                    let mut best = first;
                    for child in first + 1..len {
                        if Self::key(&self.entries[child]) < Self::key(&self.entries[best]) {
                            best = child;
                        }
                    }
                    self.entries[hole] = self.entries[best];
                    hole = best;
                }
                break;
            }
        }
        self.sift_up(hole, last);
        Some(top)
    }
}

impl EventQueue {
    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the interleaving of pushes and pops, entries come out in exactly
        /// the `(time, seq)` order a sorted list gives.
        #[test]
        fn pops_in_time_then_seq_order(operations in proptest::collection::vec((0u64..50, any::<bool>()), 1..400)) {
            let mut queue = EventQueue::default();
            let mut reference: Vec<(u64, u64)> = Vec::new();
            let mut seq = 0u64;
            for (time, pop) in operations {
                if pop {
                    reference.sort_unstable();
                    let expected = if reference.is_empty() { None } else { Some(reference.remove(0)) };
                    let got = queue.pop().map(|entry| (entry.time, entry.seq));
                    prop_assert_eq!(got, expected);
                } else {
                    queue.push(QueueEntry { time, seq, slot: seq as u32 });
                    reference.push((time, seq));
                    seq += 1;
                }
                prop_assert_eq!(queue.len(), reference.len());
            }
        }
    }
}
