//! The event queue: entries ordered by `(time, seq)`, payloads kept elsewhere.
//!
//! `seq` is unique per scheduled event, so the order is total and the same on every
//! machine. Entries are 24 bytes; the simulation keeps payloads in a slab, and each
//! queued entry names its slab slot, which no other queued entry shares.
//!
//! The queue is a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan 1990) over the event
//! time, with 8-bit digits, which suits a discrete-event simulation: the time of an
//! event being scheduled is never before the time of the event being handled, so the
//! keys are monotone. The earliest entries wait at the front, at or before a base time;
//! every other entry sits in the bucket named by the highest digit in which its time
//! differs from the base time and its own value of that digit: each bucket covers a
//! range of times, later than every lower bucket's. A bucket is a vector of the entries
//! themselves, so taking one to the front or relinking its entries reads it front to
//! back: with random latencies and millions of events pending, a bucket threaded
//! through a table indexed by slot (as this queue first was) made every entry a cache
//! miss at each move, a sixth of a paper-scale MapReduce run's time. A bit per slot
//! says which slots are queued (the check that no two entries share one). Pushing is a
//! bucket index and a vector push.
//!
//! The front is a sorted run plus a small binary heap. When the front is empty and an
//! entry is wanted, the lowest non-empty bucket is taken: one of the two lowest digit
//! positions (entries within 2^16 ns of each other) is sorted into the run whole; a
//! higher one has its entries at its earliest time moved to the run and the others
//! relinked into the buckets below it. The front is refilled only when an entry is
//! wanted, not when the last one leaves: the handler of that last entry schedules
//! relative to a base time that is still its own time, so its events go to the
//! buckets, however far the next pending event is. An entry pushed at or before the
//! base time that does not extend the run (an event due sooner than entries the run
//! already holds) goes to the front's heap, so a burst that lands among them costs
//! O(log n) per entry, never a shift of the run. With 10,000 events pending and delays
//! around a millisecond an entry is linked twice over its life and sorted with one or
//! two others. The order that comes out is exactly the `(time, seq)` order of a heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

/// A bucket vector whose capacity grew beyond this many entries is given back to the
/// allocator once emptied, so one burst does not hold its memory for the whole run.
const BUCKET_CAPACITY_KEPT: usize = 1 << 16;

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

/// A front entry in the front's heap: the earliest `(time, seq)` is the greatest, so
/// the standard max-heap pops it first.
#[derive(Clone, Copy, Debug)]
struct Early(QueueEntry);

impl PartialEq for Early {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Early {}

impl PartialOrd for Early {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Early {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.key().cmp(&self.0.key())
    }
}

/// The event queue: a monotone priority queue of entries by `(time, seq)`.
///
/// Monotone: an entry pushed must not come before the last entry popped, that is its
/// time is at or after that entry's time and, at an equal time, its `seq` is not smaller.
/// The engine's events always are (an event is scheduled at or after the current time,
/// with the next `seq`). Each queued entry must name a slot that no other queued entry
/// names. [`EventQueue::push`] asserts both.
pub struct EventQueue {
    /// At or after every front entry and the last entry popped, before every bucket
    /// entry: buckets are relative to it.
    base_time: u64,
    /// The `(time, seq)` of the last entry popped, for the monotonicity check.
    last_popped: (u64, u64),
    /// Front entries sorted by `(time, seq)`, from `run_next` on (the ones before it
    /// were popped). A new front entry that comes after its last joins it.
    run: Vec<QueueEntry>,
    /// The next entry of `run` to pop.
    run_next: usize,
    /// Front entries that came before the run's last when they were pushed.
    early: BinaryHeap<Early>,
    /// Bit `slot % 64` of word `slot / 64` is set while an entry names `slot`.
    queued: Vec<u64>,
    /// The entries of each bucket, in no particular order.
    buckets: Vec<Vec<QueueEntry>>,
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
            early: BinaryHeap::new(),
            queued: Vec::new(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
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

    /// The earliest entry (taking the lowest bucket to the front when the front is
    /// empty).
    #[inline]
    pub fn peek(&mut self) -> Option<QueueEntry> {
        if self.front_is_empty() {
            if self.len == 0 {
                return None;
            }
            self.refill_run();
        }
        Some(self.front_min())
    }

    /// The time of the earliest entry, leaving the queue as it is.
    pub fn peek_time(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if self.front_is_empty() {
            return Some(self.earliest[self.lowest_bucket()]);
        }
        Some(self.front_min().time)
    }

    /// True when neither the run nor the front's heap holds an entry.
    #[inline(always)]
    fn front_is_empty(&self) -> bool {
        self.run_next == self.run.len() && self.early.is_empty()
    }

    /// The earliest front entry; the front must not be empty.
    #[inline(always)]
    fn front_min(&self) -> QueueEntry {
        match (self.run.get(self.run_next), self.early.peek()) {
            (Some(&head), None) => head,
            (Some(&head), Some(early)) if head.key() < early.0.key() => head,
            (_, Some(early)) => early.0,
            (None, None) => unreachable!("the front is not empty"),
        }
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
        let word = entry.slot as usize / 64;
        let bit = 1u64 << (entry.slot % 64);
        if word >= self.queued.len() {
            self.queued.resize(word + 1, 0);
        }
        if self.queued[word] & bit != 0 {
            slot_queued_twice(entry.slot);
        }
        self.queued[word] |= bit;
        self.len += 1;
        if entry.time > self.base_time {
            let index = bucket_of(entry.time, self.base_time).expect("time after the base");
            self.link(index, entry);
        } else {
            self.push_front(entry);
        }
    }

    /// Adds an entry at or before the base time to the front: to the run when it comes
    /// after the run's last entry (the engine's usual case: an event at the current
    /// time with the largest `seq` so far), otherwise to the front's heap.
    #[inline]
    fn push_front(&mut self, entry: QueueEntry) {
        match self.run[self.run_next..].last() {
            Some(last) if last.key() > entry.key() => self.early.push(Early(entry)),
            _ => self.run.push(entry),
        }
    }

    /// Adds `entry` to bucket `index`.
    #[inline]
    fn link(&mut self, index: usize, entry: QueueEntry) {
        let word = index / 64;
        let bit = 1u64 << (index % 64);
        let was_occupied = self.occupied[word] & bit != 0;
        self.buckets[index].push(entry);
        self.earliest[index] = if was_occupied {
            self.earliest[index].min(entry.time)
        } else {
            entry.time
        };
        self.occupied[word] |= bit;
        self.occupied_words |= 1 << word;
    }

    /// Removes and returns the earliest entry by `(time, seq)`.
    #[inline]
    pub fn pop(&mut self) -> Option<QueueEntry> {
        if !self.early.is_empty() {
            return Some(self.pop_front());
        }
        // The usual case: the front is the run alone.
        if self.run_next == self.run.len() {
            if self.len == 0 {
                return None;
            }
            // A refill fills the run only.
            self.refill_run();
        }
        let head = self.run[self.run_next];
        self.run_next += 1;
        if self.run_next == self.run.len() {
            self.run.clear();
            self.run_next = 0;
        }
        Some(self.popped(head))
    }

    /// Bookkeeping for an entry just taken from the front.
    #[inline(always)]
    fn popped(&mut self, entry: QueueEntry) -> QueueEntry {
        self.queued[entry.slot as usize / 64] &= !(1u64 << (entry.slot % 64));
        self.len -= 1;
        self.last_popped = entry.key();
        entry
    }

    /// Removes and returns the earliest front entry; the front must not be empty.
    #[inline(always)]
    fn pop_front(&mut self) -> QueueEntry {
        let entry = match (self.run.get(self.run_next), self.early.peek()) {
            (Some(&head), early) if early.is_none_or(|early| head.key() < early.0.key()) => {
                self.run_next += 1;
                if self.run_next == self.run.len() {
                    self.run.clear();
                    self.run_next = 0;
                }
                head
            }
            _ => self.early.pop().expect("the front is not empty").0,
        };
        self.popped(entry)
    }

    /// Removes and returns the earliest entry if its time is at or before `deadline`;
    /// otherwise leaves the queue as it is and returns `None`. The base time never
    /// passes the deadline here, so an entry pushed afterwards between the deadline and
    /// the next entry still goes to a bucket.
    #[inline]
    pub fn pop_at_or_before(&mut self, deadline: u64) -> Option<QueueEntry> {
        if self.front_is_empty() {
            if self.len == 0 || self.earliest[self.lowest_bucket()] > deadline {
                return None;
            }
            self.refill_run();
        } else if self.front_min().time > deadline {
            return None;
        }
        Some(self.pop_front())
    }

    /// The index of the lowest non-empty bucket; some bucket must be occupied.
    #[inline]
    fn lowest_bucket(&self) -> usize {
        assert!(
            self.occupied_words != 0,
            "a non-empty queue with an empty front has an occupied bucket"
        );
        let word = self.occupied_words.trailing_zeros() as usize;
        word * 64 + self.occupied[word].trailing_zeros() as usize
    }

    /// Refills the empty front from the lowest non-empty bucket.
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
        let index = self.lowest_bucket();
        let word = index / 64;
        self.occupied[word] &= !(1 << (index % 64));
        if self.occupied[word] == 0 {
            self.occupied_words &= !(1 << word);
        }
        debug_assert!(self.run.is_empty() && self.run_next == 0);
        let mut bucket = std::mem::take(&mut self.buckets[index]);
        if index < SORTED_BUCKETS {
            // The bucket becomes the run; the run's empty vector becomes the bucket.
            self.base_time = bucket.iter().map(|entry| entry.time).max().unwrap_or(0);
            std::mem::swap(&mut self.run, &mut bucket);
            sort_run(&mut self.run);
        } else {
            let earliest = self.earliest[index];
            self.base_time = earliest;
            for &entry in &bucket {
                match bucket_of(entry.time, earliest) {
                    None => self.run.push(entry),
                    Some(lower) => self.link(lower, entry),
                }
            }
            // All at one time: this orders them by seq.
            sort_run(&mut self.run);
            bucket.clear();
        }
        if bucket.capacity() <= BUCKET_CAPACITY_KEPT {
            self.buckets[index] = bucket;
        }
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
        /// sorted list gives, and peek and peek_time always show the entry pop returns
        /// next.
        #[test]
        fn pops_in_time_then_seq_order(operations in proptest::collection::vec((step(), 0u8..4), 1..600)) {
            let mut queue = EventQueue::default();
            let mut reference: Vec<(u64, u64)> = Vec::new();
            let mut seq = 0u64;
            let mut now = 0u64;
            for (offset, action) in operations {
                reference.sort_unstable();
                let expected_next = reference.first().copied();
                prop_assert_eq!(queue.peek_time(), expected_next.map(|(time, _)| time));
                match action {
                    3 => {
                        // peek takes the lowest bucket to the front when it is empty.
                        prop_assert_eq!(queue.peek().map(|entry| (entry.time, entry.seq)), expected_next);
                    }
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

        /// Bursts as a handler makes them: many events scheduled at once from the current
        /// time over a window (shorter than a low bucket, about a low bucket, and about
        /// a millisecond of random latency), in no time order, with a few handled
        /// between bursts. They land among entries already at the front and in every
        /// bucket; the order must still be exactly that of a sorted list. A front that
        /// mixed up its run and its heap, or a refill that skipped the heap, would
        /// return some entry early here.
        #[test]
        fn bursts_pop_in_time_then_seq_order(
            bursts in proptest::collection::vec(
                prop_oneof![Just(300u64), Just(70_000u64), Just(3_000_000u64)].prop_flat_map(|window| {
                    (proptest::collection::vec(0..window, 0..150), 0usize..120)
                }),
                1..30,
            )
        ) {
            let mut queue = EventQueue::default();
            let mut reference: Vec<(u64, u64)> = Vec::new();
            let mut seq = 0u64;
            let mut now = 0u64;
            for (offsets, pops) in bursts {
                for offset in offsets {
                    queue.push(QueueEntry { time: now + offset, seq, slot: seq as u32 });
                    reference.push((now + offset, seq));
                    seq += 1;
                }
                reference.sort_unstable_by(|a, b| b.cmp(a));
                for _ in 0..pops {
                    let expected = reference.pop();
                    prop_assert_eq!(queue.pop().map(|entry| (entry.time, entry.seq)), expected);
                    if let Some((time, _)) = expected {
                        now = time;
                    }
                }
            }
            while let Some(expected) = reference.pop() {
                prop_assert_eq!(queue.pop().map(|entry| (entry.time, entry.seq)), Some(expected));
            }
            prop_assert!(queue.is_empty());
        }
    }

    /// An entry at `time` with `seq`, in slot `seq`.
    fn entry(time: u64, seq: u64) -> QueueEntry {
        QueueEntry {
            time,
            seq,
            slot: seq as u32,
        }
    }

    #[test]
    fn a_burst_before_the_next_pending_event_goes_to_the_buckets() {
        // The handler of the last front entry (time 0) schedules a burst before the next
        // pending event (10 ms). The front is refilled only when an entry is wanted, so
        // the base time is still 0 and the burst is linked into buckets: nothing is
        // shifted. If the front were refilled as its last entry left, the base time
        // would be 10 ms and all 1,000 entries would crowd the front.
        let mut queue = EventQueue::default();
        queue.push(entry(0, 0));
        queue.push(entry(10_000_000, 1));
        assert_eq!(queue.pop(), Some(entry(0, 0)));
        for seq in 2..1_002 {
            queue.push(entry(10_000_000 - seq * 1_000, seq));
        }
        assert_eq!(queue.run.len() - queue.run_next + queue.early.len(), 0);
        assert_eq!(queue.peek_time(), Some(10_000_000 - 1_001 * 1_000));
        let times: Vec<u64> = std::iter::from_fn(|| queue.pop().map(|e| e.time)).collect();
        assert_eq!(times.len(), 1_001);
        assert!(times.is_sorted(), "popped out of time order");
        assert_eq!(times.last(), Some(&10_000_000));
    }

    #[test]
    fn entries_due_before_the_runs_last_wait_in_the_front_heap() {
        // 200 entries within 200 ns form one sorted run (base time 10,199). Entries then
        // pushed between the current time and the run's last must not be inserted into
        // the run one shift at a time: they wait in the front's heap, and come out
        // interleaved with the run exactly by (time, seq). If they went to the run, the
        // heap would be empty; if pop ignored the heap, 10,001 would not come second.
        let mut queue = EventQueue::default();
        queue.push(entry(10_000, 0));
        for seq in 1..201 {
            queue.push(entry(10_000 + seq - 1, seq));
        }
        assert_eq!(queue.pop(), Some(entry(10_000, 0)));
        // Refilled: one 256 ns bucket became the run.
        assert_eq!(queue.pop(), Some(entry(10_000, 1)));
        assert_eq!(queue.base_time, 10_199);
        // 99 entries from 10,001 to 10,197, all before the run's last.
        for seq in 201..300 {
            queue.push(entry(10_001 + (seq - 201) * 2, seq));
        }
        assert_eq!(queue.early.len(), 99);
        assert_eq!(queue.pop(), Some(entry(10_001, 2)));
        assert_eq!(queue.pop(), Some(entry(10_001, 201)));
        let keys: Vec<(u64, u64)> =
            std::iter::from_fn(|| queue.pop().map(|e| (e.time, e.seq))).collect();
        assert_eq!(keys.len(), 296);
        assert!(keys.is_sorted(), "popped out of (time, seq) order");
    }

    #[test]
    fn equal_times_come_out_in_seq_order() {
        // Entries at time 100 pushed while the base time was 0, 64 and 99 (moved between
        // buckets as it advanced), then at 100 itself while the run already held some,
        // once with a seq below the run's last. If ties were broken by bucket position
        // or arrival in the run instead of seq, 3 would not come first, nor 5, 6, 7, 8 after.
        let mut queue = EventQueue::default();
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
    fn a_drained_burst_gives_its_bucket_memory_back() {
        // 200,000 entries within 60 us, about 16.8 ms ahead, all land in one high
        // bucket, then move down to the low ones as the front reaches them. Once all
        // are popped, no bucket may keep a vector sized for the burst: without the
        // release, that bucket would hold room for 200,000 entries for the whole run.
        let mut queue = EventQueue::default();
        let mut state = 7u64;
        for seq in 0..200_000u64 {
            let time = (1 << 24) + crate::rng::splitmix64(&mut state) % 60_000;
            queue.push(entry(time, seq));
        }
        let mut last = (0, 0);
        while let Some(popped) = queue.pop() {
            assert!(popped.key() > last, "popped out of (time, seq) order");
            last = popped.key();
        }
        let kept = queue.buckets.iter().map(Vec::capacity).max().unwrap_or(0);
        assert!(
            kept <= BUCKET_CAPACITY_KEPT,
            "a bucket kept {kept} entries of room"
        );
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
