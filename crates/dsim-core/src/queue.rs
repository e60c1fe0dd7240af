//! The event queue: entries ordered by `(time, seq)`, payloads kept elsewhere.
//!
//! `seq` is unique per scheduled event, so the order is total and the same on every
//! machine. Entries are 24 bytes; the simulation keeps payloads in a slab, and each
//! queued entry names its slab slot, which no other queued entry shares.
//!
//! The queue is a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan 1990) over the event
//! time, with 8-bit digits, which suits a discrete-event simulation: the time of an
//! event being scheduled is never before the time of the event being handled, so the
//! keys are monotone. The earliest entries wait in a short run, sorted. Every other
//! entry sits in the bucket named by the highest digit in which its time differs from a
//! base time (at or after every run entry) and its own value of that digit: each bucket
//! covers a range of times, later than every lower bucket's. A bucket is a list linked
//! through a table indexed by slot, so an entry is never copied and the queue holds 24
//! bytes per slot and nothing per bucket beyond its head. Pushing is a bucket index and
//! a few stores. When the run empties, the lowest non-empty bucket is taken: one of the
//! two lowest digit positions (entries within 2^16 ns of each other) is sorted into the
//! run whole; a higher one has its entries at its earliest time moved to the run and
//! the others relinked into the buckets below it. With 10,000 events pending and delays
//! around a millisecond an entry is linked twice over its life and sorted with one or
//! two others. The order that comes out is exactly the `(time, seq)` order of a heap.

/// A queue entry: the earliest `(time, seq)` comes out first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// Virtual time in nanoseconds.
    pub time: u64,
    /// Scheduling order among equal times.
    pub seq: u64,
    /// Index of the payload in the simulation's slab; unique among queued entries.
    pub slot: u32,
}

impl QueueEntry {
    /// The order of the queue.
    #[inline]
    fn key(&self) -> (u64, u64) {
        (self.time, self.seq)
    }
}

/// Bits per digit: times are split into 8 digits of 8 bits.
const DIGIT_BITS: u32 = 8;
/// Values of one digit.
const DIGIT_VALUES: usize = 1 << DIGIT_BITS;
/// One bucket per (digit position, digit value).
const BUCKETS: usize = (64 / DIGIT_BITS as usize) * DIGIT_VALUES;
/// Words of the occupancy bitmap.
const OCCUPANCY_WORDS: usize = BUCKETS / 64;
/// The buckets of the two lowest digit positions, which become the run whole.
const SORTED_BUCKETS: usize = 2 * DIGIT_VALUES;

/// `Link::next` of the last entry of a bucket.
const END: u32 = u32::MAX;
/// `Link::next` of a slot that is not queued.
const FREE: u32 = u32::MAX - 1;
/// `Link::next` of a slot waiting in the run.
const IN_RUN: u32 = u32::MAX - 2;

/// The bucket of `time` relative to `base_time`, or `None` when they are equal: the
/// position of the highest 8-bit digit in which they differ, then `time`'s value of
/// that digit. For times after the base time, buckets in index order hold ever later
/// times.
#[inline]
fn bucket_of(time: u64, base_time: u64) -> Option<usize> {
    let diff = time ^ base_time;
    if diff == 0 {
        return None;
    }
    let position = (63 - diff.leading_zeros()) / DIGIT_BITS;
    let value = (time >> (position * DIGIT_BITS)) as usize & (DIGIT_VALUES - 1);
    Some((position as usize * DIGIT_VALUES + value) & (BUCKETS - 1))
}

/// A queued entry's key and its successor in its bucket, stored at its slot.
#[derive(Clone, Copy, Debug)]
struct Link {
    time: u64,
    seq: u64,
    /// The next slot of the bucket, or [`END`], [`FREE`], [`IN_RUN`].
    next: u32,
}

/// The event queue: a monotone priority queue of entries by `(time, seq)`.
///
/// Monotone: an entry pushed must not come before the last entry popped, that is its
/// time is at or after that entry's time and, at an equal time, its `seq` is not smaller.
/// The engine's events always are (an event is scheduled at or after the current time,
/// with the next `seq`). Each queued entry must name a slot that no other queued entry
/// names. [`EventQueue::push`] asserts both.
pub struct EventQueue {
    /// At or after every run entry, before every bucket entry: buckets are relative to
    /// it.
    base_time: u64,
    /// The `(time, seq)` of the last entry popped, for the monotonicity check.
    last_popped: (u64, u64),
    /// The earliest entries, sorted by `(time, seq)`, all at or before `base_time`,
    /// from `run_next` on (the ones before it were popped); never exhausted while the
    /// queue is not empty. New entries at or before the base time join it in order.
    run: Vec<QueueEntry>,
    /// The next entry of `run` to pop.
    run_next: usize,
    /// Per slot: the key of the entry queued there and the bucket list through it.
    links: Vec<Link>,
    /// The first slot of each bucket's list (meaningful while the bucket is occupied).
    heads: Box<[u32; BUCKETS]>,
    /// The earliest time in each bucket (meaningful while the bucket is occupied).
    earliest: Box<[u64; BUCKETS]>,
    /// Bit `i % 64` of word `i / 64` is set when bucket `i` is not empty.
    occupied: [u64; OCCUPANCY_WORDS],
    /// Bit `w` is set when word `w` of `occupied` is not zero.
    occupied_words: u32,
    /// Number of entries.
    len: usize,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            base_time: 0,
            last_popped: (0, 0),
            run: Vec::new(),
            run_next: 0,
            links: Vec::new(),
            heads: Box::new([END; BUCKETS]),
            earliest: Box::new([0; BUCKETS]),
            occupied: [0; OCCUPANCY_WORDS],
            occupied_words: 0,
            len: 0,
        }
    }
}

impl EventQueue {
    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest entry.
    #[inline]
    pub fn peek(&self) -> Option<&QueueEntry> {
        self.run.get(self.run_next)
    }

    /// Adds an entry.
    ///
    /// Panics when the entry would come before the last entry popped (the queue is
    /// monotone, see [`EventQueue`]) or when its slot is already queued.
    #[inline(always)]
    pub fn push(&mut self, entry: QueueEntry) {
        if entry.key() < self.last_popped {
            out_of_order(entry, self.last_popped);
        }
        let slot = entry.slot as usize;
        if slot >= self.links.len() {
            self.grow_links(entry.slot);
        }
        if self.links[slot].next != FREE {
            slot_queued_twice(entry.slot);
        }
        self.len += 1;
        if entry.time > self.base_time && self.len > 1 {
            let index = bucket_of(entry.time, self.base_time).expect("time after the base");
            self.link(index, entry.slot, entry.time, entry.seq);
        } else {
            self.push_run(entry);
        }
    }

    /// Makes room in the link table for `slot`.
    #[cold]
    fn grow_links(&mut self, slot: u32) {
        assert!(slot < IN_RUN, "slot {slot} is out of the queue's range");
        let free = Link {
            time: 0,
            seq: 0,
            next: FREE,
        };
        self.links.resize(slot as usize + 1, free);
    }

    /// Adds an entry at or before the base time (or the first entry of an empty queue)
    /// to the run, in order: an entry at the base time with the largest `seq` so far,
    /// the engine's usual case, is an append.
    #[inline]
    fn push_run(&mut self, entry: QueueEntry) {
        self.links[entry.slot as usize].next = IN_RUN;
        match self.run.last() {
            None => {
                self.base_time = entry.time;
                self.run.push(entry);
            }
            Some(last) if last.key() <= entry.key() => self.run.push(entry),
            Some(_) => {
                let at = self.run_next
                    + self.run[self.run_next..]
                        .partition_point(|queued| queued.key() < entry.key());
                self.run.insert(at, entry);
            }
        }
    }

    /// Puts `slot` at the head of bucket `index`.
    #[inline]
    fn link(&mut self, index: usize, slot: u32, time: u64, seq: u64) {
        let word = index / 64;
        let bit = 1u64 << (index % 64);
        let was_occupied = self.occupied[word] & bit != 0;
        let next = if was_occupied { self.heads[index] } else { END };
        self.links[slot as usize] = Link { time, seq, next };
        self.heads[index] = slot;
        self.earliest[index] = if was_occupied {
            self.earliest[index].min(time)
        } else {
            time
        };
        self.occupied[word] |= bit;
        self.occupied_words |= 1 << word;
    }

    /// Removes and returns the earliest entry by `(time, seq)`.
    #[inline]
    pub fn pop(&mut self) -> Option<QueueEntry> {
        let entry = *self.run.get(self.run_next)?;
        self.run_next += 1;
        self.links[entry.slot as usize].next = FREE;
        self.len -= 1;
        self.last_popped = entry.key();
        if self.run_next == self.run.len() {
            self.run.clear();
            self.run_next = 0;
            if self.len > 0 {
                self.refill_run();
            }
        }
        Some(entry)
    }

    /// Removes and returns the earliest entry if its time is at or before `deadline`;
    /// otherwise leaves the queue as it is and returns `None`.
    #[inline]
    pub fn pop_at_or_before(&mut self, deadline: u64) -> Option<QueueEntry> {
        if self.peek()?.time > deadline {
            return None;
        }
        self.pop()
    }

    /// Refills the empty run from the lowest non-empty bucket.
    ///
    /// A bucket of the two lowest digit positions spans at most 2^16 ns, close ahead:
    /// it becomes the run whole, sorted, and its latest time the base time. A higher
    /// bucket's earliest time becomes the base time instead: its entries at that time
    /// form the run, and the others are relinked into buckets below it.
    ///
    /// Either way the base time is a time of the bucket, and every entry of the bucket
    /// agrees with it in the bucket's digit and all above it: the other (later) buckets
    /// stay valid relative to it, and each relinked entry lands lower.
    fn refill_run(&mut self) {
        assert!(
            self.occupied_words != 0,
            "a non-empty queue with an empty run has an occupied bucket"
        );
        let word = self.occupied_words.trailing_zeros() as usize;
        let index = word * 64 + self.occupied[word].trailing_zeros() as usize;
        self.occupied[word] &= !(1 << (index % 64));
        if self.occupied[word] == 0 {
            self.occupied_words &= !(1 << word);
        }
        let mut slot = self.heads[index];
        if index < SORTED_BUCKETS {
            let mut latest = 0;
            while slot != END {
                let link = self.links[slot as usize];
                self.links[slot as usize].next = IN_RUN;
                self.run.push(QueueEntry {
                    time: link.time,
                    seq: link.seq,
                    slot,
                });
                latest = latest.max(link.time);
                slot = link.next;
            }
            self.base_time = latest;
            sort_run(&mut self.run);
            return;
        }
        let earliest = self.earliest[index];
        self.base_time = earliest;
        while slot != END {
            let link = self.links[slot as usize];
            match bucket_of(link.time, earliest) {
                None => {
                    self.links[slot as usize].next = IN_RUN;
                    self.run.push(QueueEntry {
                        time: link.time,
                        seq: link.seq,
                        slot,
                    });
                }
                Some(lower) => self.link(lower, slot, link.time, link.seq),
            }
            slot = link.next;
        }
        // All at one time: this orders them by seq.
        sort_run(&mut self.run);
    }
}

/// Sorts a new run by `(time, seq)`: inline insertion for the few entries of a typical
/// bucket near the front, the standard sort beyond.
#[inline]
fn sort_run(run: &mut [QueueEntry]) {
    if run.len() > 8 {
        run.sort_unstable_by_key(QueueEntry::key);
        return;
    }
    for i in 1..run.len() {
        let entry = run[i];
        let mut at = i;
        while at > 0 && run[at - 1].key() > entry.key() {
            run[at] = run[at - 1];
            at -= 1;
        }
        run[at] = entry;
    }
}

/// The panic of [`EventQueue::push`] for an entry out of order.
#[cold]
#[inline(never)]
fn out_of_order(entry: QueueEntry, last_popped: (u64, u64)) -> ! {
    panic!(
        "event ({}, {}) scheduled before the last one handled ({}, {})",
        entry.time, entry.seq, last_popped.0, last_popped.1
    )
}

/// The panic of [`EventQueue::push`] for a slot already queued.
#[cold]
#[inline(never)]
fn slot_queued_twice(slot: u32) -> ! {
    panic!("slot {slot} is queued twice")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A time step: mostly small (many ties and low buckets), sometimes far (high
    /// buckets, including near the top of the u64 range).
    fn step() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..50,
            2 => 0u64..5_000_000,
            1 => 0u64..(1 << 40),
            1 => Just(0u64),
        ]
    }

    proptest! {
        /// Whatever the interleaving of pushes and pops (pushes never before the last
        /// pop, as in the engine), entries come out in exactly the `(time, seq)` order a
        /// sorted list gives, and peek always shows the entry pop returns next.
        #[test]
        fn pops_in_time_then_seq_order(operations in proptest::collection::vec((step(), 0u8..3), 1..600)) {
            let mut queue = EventQueue::default();
            let mut reference: Vec<(u64, u64)> = Vec::new();
            let mut seq = 0u64;
            let mut now = 0u64;
            for (offset, action) in operations {
                reference.sort_unstable();
                let expected_next = reference.first().copied();
                prop_assert_eq!(queue.peek().map(|entry| (entry.time, entry.seq)), expected_next);
                match action {
                    0 => {
                        let expected = if reference.is_empty() { None } else { Some(reference.remove(0)) };
                        let got = queue.pop().map(|entry| (entry.time, entry.seq));
                        prop_assert_eq!(got, expected);
                        if let Some((time, _)) = got {
                            now = time;
                        }
                    }
                    1 => {
                        // A bounded pop: takes the earliest only when it is due.
                        let deadline = now.saturating_add(offset);
                        let due = expected_next.filter(|&(time, _)| time <= deadline);
                        let got = queue.pop_at_or_before(deadline).map(|entry| (entry.time, entry.seq));
                        prop_assert_eq!(got, due);
                        if let Some(key) = due {
                            reference.retain(|&queued| queued != key);
                            now = key.0;
                        }
                    }
                    _ => {
                        let time = now.saturating_add(offset);
                        queue.push(QueueEntry { time, seq, slot: seq as u32 });
                        reference.push((time, seq));
                        seq += 1;
                    }
                }
                prop_assert_eq!(queue.len(), reference.len());
            }
        }
    }

    #[test]
    fn equal_times_come_out_in_seq_order() {
        // Entries at time 100 pushed while the base time was 0, 64 and 99 (moved between
        // buckets as it advanced), then at 100 itself while the run already held some,
        // once with a seq below the run's last. If ties were broken by bucket position
        // or arrival in the run instead of seq, 3 would not come first, nor 5, 6, 7, 8 after.
        let mut queue = EventQueue::default();
        let entry = |time, seq| QueueEntry {
            time,
            seq,
            slot: seq as u32,
        };
        queue.push(entry(64, 0));
        queue.push(entry(100, 3));
        assert_eq!(queue.pop(), Some(entry(64, 0)));
        queue.push(entry(100, 5));
        queue.push(entry(99, 1));
        assert_eq!(queue.pop(), Some(entry(99, 1)));
        queue.push(entry(100, 7));
        assert_eq!(queue.pop(), Some(entry(100, 3)));
        // The base time is now 100: these go straight to the run.
        queue.push(entry(100, 8));
        queue.push(entry(100, 6));
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop().map(|e| e.seq)).collect();
        assert_eq!(order, [5, 6, 7, 8]);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_deadline_before_the_next_entry_leaves_room_for_earlier_pushes() {
        // pop_at_or_before must not advance the base time past the deadline: the engine
        // may still schedule an event between the deadline and the next queued entry
        // (a fault at the deadline, say), and that event must come out first.
        let mut queue = EventQueue::default();
        queue.push(QueueEntry {
            time: 1_000,
            seq: 0,
            slot: 0,
        });
        assert_eq!(queue.pop_at_or_before(500), None);
        queue.push(QueueEntry {
            time: 600,
            seq: 1,
            slot: 1,
        });
        assert_eq!(queue.pop().map(|entry| entry.time), Some(600));
        assert_eq!(queue.pop().map(|entry| entry.time), Some(1_000));
        assert_eq!(queue.pop(), None);
    }
}
