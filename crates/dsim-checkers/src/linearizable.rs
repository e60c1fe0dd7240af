//! The linearizability checker: Wing & Gong's search with Lowe's just-in-time
//! linearization and a memo of (linearized set, model state) pairs.
//!
//! Per partition (one key of a keyed model, or the whole history), the operations'
//! invocations and completions are laid out in a doubly linked list in real-time
//! order; an `info` operation's completion sits at +infinity, after everything. The
//! search walks the list from its head: at an invocation it tries to linearize that
//! operation now (the model accepts it, and the pair (set of linearized operations,
//! state after it) is new); if so, the operation's two entries are lifted out of the
//! list and the walk restarts from the head. Reaching a completion means the operation
//! it completes should already have been linearized: the search backtracks, undoing the
//! last choice. It succeeds once every `ok` operation is linearized (the `info` ones
//! left over simply never took effect) and fails when there is nothing to undo.
//!
//! Determinism: the list order, the order of tries and the memo (an ordered map keyed
//! by a Zobrist hash of the set and a structural hash of the state) depend only on the
//! history, so the verdict and its witness are the same on every run and machine.

use crate::history::{History, Op, OpType};
use crate::model::Model;
use dsim_core::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A linearization order for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// The partition key (`None` for an unkeyed model).
    pub key: Option<Value>,
    /// Operation ids in the order they take effect. `info` operations that are left
    /// out never took effect.
    pub order: Vec<usize>,
}

/// The smallest failing window of a history that is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The partition key (`None` for an unkeyed model).
    pub key: Option<Value>,
    /// The longest linearizable prefix the search found: operation ids in order.
    pub prefix: Vec<usize>,
    /// The model state after that prefix.
    pub state: Value,
    /// The operation that could not be placed: it completed, and no order of the
    /// operations invoked before its completion lets it take effect.
    pub stuck: usize,
    /// The operations involved: those invoked before `stuck` completed that are not in
    /// the prefix (none of them can be placed next either), `stuck` included, by id.
    pub window: Vec<usize>,
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every partition has a linearization; one per partition, in key order.
    Linearizable {
        /// One order per partition.
        witnesses: Vec<Witness>,
        /// Model steps tried.
        states_explored: u64,
    },
    /// Some partition has none; the first such partition in key order.
    NotLinearizable {
        /// Why.
        counterexample: Box<Counterexample>,
        /// Model steps tried.
        states_explored: u64,
    },
    /// The budget (of steps, or of memo memory) ran out before a verdict.
    Unknown {
        /// Model steps tried (the budget).
        states_explored: u64,
        /// The partition being searched when the budget ran out.
        key: Option<Value>,
    },
}

impl Verdict {
    /// Model steps tried.
    pub fn states_explored(&self) -> u64 {
        match self {
            Verdict::Linearizable {
                states_explored, ..
            }
            | Verdict::NotLinearizable {
                states_explored, ..
            }
            | Verdict::Unknown {
                states_explored, ..
            } => *states_explored,
        }
    }

    /// Whether the history was found linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable { .. })
    }
}

/// The default budget of model steps: enough for the published Jepsen histories and
/// for dsim runs of hundreds of thousands of operations, small enough to answer in
/// seconds.
pub const DEFAULT_BUDGET: u64 = 20_000_000;

/// Checks `history` against `model`, trying at most `budget` model steps in total
/// (and holding at most [`MEMO_BYTES_MAX`] of memo per partition).
///
/// `fail` operations are dropped (they did not happen); `info` operations may take
/// effect at any time after their invocation, or never (indeterminate reads are
/// dropped: they constrain nothing). Operations are assumed valid for the model
/// (see [`validate`]); an operation the model does not know can never be placed.
pub fn linearizable<M: Model + ?Sized>(history: &History, model: &M, budget: u64) -> Verdict {
    let mut partitions: BTreeMap<Option<Value>, Vec<usize>> = BTreeMap::new();
    for op in &history.ops {
        let dropped = match op.op_type {
            OpType::Fail => true,
            OpType::Info => model.is_read_only(op),
            OpType::Ok => false,
        };
        if !dropped {
            partitions
                .entry(model.partition_key(op))
                .or_default()
                .push(op.id);
        }
    }
    let mut explored = 0u64;
    let mut witnesses = Vec::with_capacity(partitions.len());
    for (key, mut ids) in partitions {
        drop_unobserved_info(history, model, &mut ids);
        let mut search = Search::new(history, model, &ids, budget.saturating_sub(explored));
        let outcome = search.run();
        explored += search.steps;
        match outcome {
            Outcome::Linearizable(order) => witnesses.push(Witness { key, order }),
            Outcome::Illegal(failure) => {
                return Verdict::NotLinearizable {
                    counterexample: Box::new(Counterexample {
                        key,
                        prefix: failure.prefix,
                        state: failure.state,
                        stuck: failure.stuck,
                        window: failure.window,
                    }),
                    states_explored: explored,
                };
            }
            Outcome::OutOfBudget => {
                return Verdict::Unknown {
                    states_explored: explored,
                    key,
                };
            }
        }
    }
    Verdict::Linearizable {
        witnesses,
        states_explored: explored,
    }
}

/// Drops the `info` operations of one partition whose effect nobody could have seen:
/// the value an operation would leave in the state ([`Model::effect_value`]) that
/// appears nowhere else in the partition — in no argument and no result, not even
/// inside a list. Had such an operation taken effect, the next operation to depend on
/// the state would have had to mention that value, so the only operations after it
/// that touch the state overwrite it: the same order without it is legal too, and
/// "it never took effect" is always allowed for an `info` operation. Without this,
/// every unobserved timed-out write or append multiplies the states the search must
/// try when it backtracks.
fn drop_unobserved_info<M: Model + ?Sized>(history: &History, model: &M, ids: &mut Vec<usize>) {
    let effects: BTreeMap<usize, Value> = ids
        .iter()
        .map(|&id| &history.ops[id])
        .filter(|op| op.op_type == OpType::Info)
        .filter_map(|op| model.effect_value(op).map(|v| (op.id, v)))
        .collect();
    if effects.is_empty() {
        return;
    }
    // How often each effect value occurs anywhere in the partition.
    let mut counts: BTreeMap<&Value, usize> = effects.values().map(|v| (v, 0)).collect();
    fn visit(value: &Value, counts: &mut BTreeMap<&Value, usize>) {
        if let Some(count) = counts.get_mut(value) {
            *count += 1;
        }
        if let Value::List(items) = value {
            for item in items {
                visit(item, counts);
            }
        }
    }
    for &id in ids.iter() {
        let op = &history.ops[id];
        visit(&op.value, &mut counts);
        if op.op_type == OpType::Ok {
            visit(&op.ret, &mut counts);
        }
    }
    ids.retain(|id| match effects.get(id) {
        Some(effect) => {
            let op = &history.ops[*id];
            let mut own: BTreeMap<&Value, usize> = BTreeMap::from([(effect, 0)]);
            visit(&op.value, &mut own);
            counts.get(effect).copied().unwrap_or(0) > own[effect]
        }
        None => true,
    });
}

/// Checks every operation of `history` against what `model` knows.
pub fn validate<M: Model + ?Sized>(
    history: &History,
    model: &M,
) -> Result<(), crate::history::HistoryError> {
    for op in &history.ops {
        model.validate(op).map_err(|message| {
            crate::history::HistoryError::new(
                op.pos,
                crate::history::HistoryErrorKind::Model {
                    model: model.name().to_string(),
                    message,
                },
            )
        })?;
    }
    Ok(())
}

/// A readable account of a verdict: the witness size, or the failing window with the
/// prefix's last operations, the state and the operation that could not be placed.
pub fn explain<M: Model + ?Sized>(verdict: &Verdict, history: &History, model: &M) -> String {
    let mut out = String::new();
    let key_text = |key: &Option<Value>| match key {
        Some(key) => format!(" for key {key}"),
        None => String::new(),
    };
    let line = |op: &Op| {
        let at = match op.pos {
            Some(pos) => format!("line {}", pos.line),
            None => format!("event {}", op.invoke_index),
        };
        format!("op {} ({at}): {}", op.id, model.describe(op))
    };
    match verdict {
        Verdict::Linearizable {
            witnesses,
            states_explored,
        } => {
            let placed: usize = witnesses.iter().map(|w| w.order.len()).sum();
            let _ = writeln!(
                out,
                "linearizable: {placed} operations ordered in {} partition(s), {states_explored} states explored",
                witnesses.len()
            );
        }
        Verdict::NotLinearizable {
            counterexample: cx,
            states_explored,
        } => {
            let _ = writeln!(
                out,
                "not linearizable{}: {states_explored} states explored",
                key_text(&cx.key)
            );
            let _ = writeln!(
                out,
                "longest linearizable prefix: {} operations; the last ones:",
                cx.prefix.len()
            );
            let shown = cx.prefix.len().saturating_sub(5);
            if shown > 0 {
                let _ = writeln!(out, "  ... {shown} earlier operations");
            }
            for &id in &cx.prefix[shown..] {
                let _ = writeln!(out, "  {}", line(&history.ops[id]));
            }
            let _ = writeln!(
                out,
                "state after the prefix: {}",
                model.describe_state(&cx.state)
            );
            let _ = writeln!(out, "cannot be placed: {}", line(&history.ops[cx.stuck]));
            let _ = writeln!(
                out,
                "failing window: {} operation(s) not in the prefix, invoked before it completed; none can go next:",
                cx.window.len()
            );
            for &id in &cx.window {
                let _ = writeln!(out, "  {}", line(&history.ops[id]));
            }
        }
        Verdict::Unknown {
            states_explored,
            key,
        } => {
            let _ = writeln!(
                out,
                "unknown: the search ran out of budget after {states_explored} states explored{}",
                key_text(key)
            );
        }
    }
    out
}

/// What one partition's search found.
enum Outcome {
    Linearizable(Vec<usize>),
    Illegal(Failure),
    OutOfBudget,
}

/// The deepest point the search reached, as global op ids.
struct Failure {
    prefix: Vec<usize>,
    state: Value,
    stuck: usize,
    window: Vec<usize>,
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// One partition's search state. List nodes: 0 is the head; node `1 + 2j` is local
/// operation j's invocation and `2 + 2j` its completion.
struct Search<'a, M: Model + ?Sized> {
    history: &'a History,
    model: &'a M,
    /// Local operation j is global op `ids[j]`.
    ids: &'a [usize],
    next: Vec<usize>,
    prev: Vec<usize>,
    budget: u64,
    steps: u64,
}

fn is_call(node: usize) -> bool {
    node % 2 == 1
}

fn local_op(node: usize) -> usize {
    (node - 1) / 2
}

/// A fixed 64-bit value per operation, so that the hash of a set of linearized
/// operations is the XOR of its members' values (Zobrist hashing, updated in O(1)).
fn zobrist(j: usize) -> u64 {
    let mut z = (j as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A structural FNV-1a hash of a value, independent of std's hasher.
fn hash_value(value: &Value, mut h: u64) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mix = |h: &mut u64, bytes: &[u8]| {
        for &b in bytes {
            *h = (*h ^ u64::from(b)).wrapping_mul(PRIME);
        }
    };
    match value {
        Value::Nil => mix(&mut h, &[0]),
        Value::Bool(b) => mix(&mut h, &[1, u8::from(*b)]),
        Value::Int(v) => {
            mix(&mut h, &[2]);
            mix(&mut h, &v.to_le_bytes());
        }
        Value::Str(s) => {
            mix(&mut h, &[3]);
            mix(&mut h, s.as_bytes());
            mix(&mut h, &[0xFF]);
        }
        Value::Keyword(s) => {
            mix(&mut h, &[4]);
            mix(&mut h, s.as_bytes());
            mix(&mut h, &[0xFF]);
        }
        Value::List(items) => {
            mix(&mut h, &[5]);
            for item in items {
                h = hash_value(item, h);
            }
            mix(&mut h, &[0xFE]);
        }
    }
    h
}

/// One explored pair: the linearized set and the state after it.
type Explored = (LinearizedSet, Value);

/// A set of linearized operations as the memo keeps it: the number of leading words of
/// the bit set that are all ones, then the words after them up to the last non-zero
/// one. The search linearizes operations roughly in invocation order, so the set is a
/// long run of ones followed by a few scattered bits: storing the whole bit set made
/// each memo entry grow with the partition, and the memo of a long run grow with the
/// square of its length (about 200 MB for 40,000 operations of one key). Every set has
/// exactly one such form, so comparing forms compares sets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LinearizedSet {
    full_words: u32,
    rest: Box<[u64]>,
}

impl LinearizedSet {
    fn new(bits: &[u64]) -> LinearizedSet {
        let full = bits.iter().take_while(|&&word| word == u64::MAX).count();
        let end = bits
            .iter()
            .rposition(|&word| word != 0)
            .map_or(0, |last| last + 1);
        LinearizedSet {
            full_words: full as u32,
            rest: bits[full..end.max(full)].into(),
        }
    }
}

/// Approximate heap bytes of a value.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Str(s) | Value::Keyword(s) => s.len(),
        Value::List(items) => items
            .iter()
            .map(|item| std::mem::size_of::<Value>() + value_bytes(item))
            .sum(),
        _ => 0,
    }
}

/// The memo of (linearized set, state) pairs already explored, bucketed by hash.
#[derive(Default)]
struct Memo {
    buckets: BTreeMap<u64, Vec<Explored>>,
    /// Approximate bytes held, bounded by [`MEMO_BYTES_MAX`].
    bytes: usize,
}

/// The most memory the memo of one search may hold (about 1 GiB): a search that would
/// need more answers [`Verdict::Unknown`] instead of exhausting the machine.
pub const MEMO_BYTES_MAX: usize = 1 << 30;

impl Memo {
    /// Inserts the pair; false if it was already there.
    fn insert(&mut self, hash: u64, bits: &[u64], state: &Value) -> bool {
        let set = LinearizedSet::new(bits);
        let bucket = self.buckets.entry(hash).or_default();
        if bucket.iter().any(|(b, s)| *b == set && s == state) {
            return false;
        }
        self.bytes +=
            8 * set.rest.len() + std::mem::size_of::<Explored>() + 64 + value_bytes(state);
        bucket.push((set, state.clone()));
        true
    }
}

impl<'a, M: Model + ?Sized> Search<'a, M> {
    fn new(history: &'a History, model: &'a M, ids: &'a [usize], budget: u64) -> Self {
        let n = ids.len();
        // Entries in real-time order: (time, node). Completions of info operations at
        // +infinity, in operation order.
        let mut entries: Vec<(usize, usize)> = Vec::with_capacity(2 * n);
        for (j, &id) in ids.iter().enumerate() {
            let op = &history.ops[id];
            entries.push((op.invoke_index, 1 + 2 * j));
            let done = match (op.op_type, op.complete_index) {
                (OpType::Ok, Some(index)) => index,
                _ => usize::MAX,
            };
            entries.push((done, 2 + 2 * j));
        }
        entries.sort_unstable();
        let mut next = vec![NIL; 2 * n + 1];
        let mut prev = vec![NIL; 2 * n + 1];
        let mut last = HEAD;
        for &(_, node) in &entries {
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        Search {
            history,
            model,
            ids,
            next,
            prev,
            budget,
            steps: 0,
        }
    }

    /// Removes an invocation and its completion from the list.
    fn lift(&mut self, call: usize) {
        for node in [call, call + 1] {
            let (p, n) = (self.prev[node], self.next[node]);
            self.next[p] = n;
            if n != NIL {
                self.prev[n] = p;
            }
        }
    }

    /// Puts them back (in the reverse order of `lift`).
    fn unlift(&mut self, call: usize) {
        for node in [call + 1, call] {
            let (p, n) = (self.prev[node], self.next[node]);
            self.next[p] = node;
            if n != NIL {
                self.prev[n] = node;
            }
        }
    }

    fn op(&self, j: usize) -> &'a Op {
        &self.history.ops[self.ids[j]]
    }

    fn run(&mut self) -> Outcome {
        let n = self.ids.len();
        let mut remaining = (0..n).filter(|&j| self.op(j).op_type == OpType::Ok).count();
        let mut bits = vec![0u64; n.div_ceil(64).max(1)];
        let mut set_hash = 0u64;
        let mut state = self.model.init();
        let mut memo = Memo::default();
        // The linearized invocations, with the state before each.
        let mut calls: Vec<(usize, Value)> = Vec::new();
        // The deepest failure seen, and how much of `calls` still equals its prefix.
        let mut best: Option<Failure> = None;
        let mut best_local: Vec<usize> = Vec::new();
        let mut agree = 0usize;
        let mut node = self.next[HEAD];
        // Each choice point tries the ok candidates first, then (second pass) the info
        // ones: an indeterminate operation is placed only when no ok one can go, which
        // keeps the search from enumerating subsets of timed-out writes it does not
        // need. Every candidate is still tried once per choice point, so the search
        // stays complete.
        let mut info_pass = false;
        loop {
            if remaining == 0 {
                let order = calls.iter().map(|&(c, _)| self.ids[local_op(c)]).collect();
                return Outcome::Linearizable(order);
            }
            if node != NIL && is_call(node) {
                let j = local_op(node);
                let op = self.op(j);
                if (op.op_type != OpType::Ok) != info_pass {
                    node = self.next[node];
                    continue;
                }
                // An operation that overwrites the state, right after an info one: the
                // info operation changed nothing that lasts, and the same order without
                // it (it placed later, or never) is tried at the choice point before it.
                let after_info = calls
                    .last()
                    .is_some_and(|&(c, _)| self.op(local_op(c)).op_type != OpType::Ok);
                if after_info && self.model.overwrites(op) {
                    node = self.next[node];
                    continue;
                }
                if self.steps >= self.budget {
                    return Outcome::OutOfBudget;
                }
                self.steps += 1;
                if let Some(next_state) = self.model.step(&state, op) {
                    let new_hash = set_hash ^ zobrist(j);
                    bits[j / 64] |= 1 << (j % 64);
                    if memo.insert(hash_value(&next_state, new_hash), &bits, &next_state) {
                        if memo.bytes > MEMO_BYTES_MAX {
                            return Outcome::OutOfBudget;
                        }
                        if agree == calls.len() && best_local.get(agree) == Some(&j) {
                            agree += 1;
                        }
                        calls.push((node, std::mem::replace(&mut state, next_state)));
                        set_hash = new_hash;
                        if op.op_type == OpType::Ok {
                            remaining -= 1;
                        }
                        self.lift(node);
                        node = self.next[HEAD];
                        info_pass = false;
                        continue;
                    }
                    bits[j / 64] &= !(1 << (j % 64));
                }
                node = self.next[node];
                continue;
            }
            if !info_pass {
                info_pass = true;
                node = self.next[HEAD];
                continue;
            }
            // Stuck at a completion: remember the deepest such point, then backtrack.
            if node != NIL && best.as_ref().is_none_or(|b| calls.len() > b.prefix.len()) {
                best_local.truncate(agree);
                best_local.extend(calls[agree..].iter().map(|&(c, _)| local_op(c)));
                agree = best_local.len();
                best = Some(self.failure(&best_local, &state, node));
            }
            let Some((call, before)) = calls.pop() else {
                return match best {
                    Some(failure) => Outcome::Illegal(failure),
                    // Unreachable: with an ok operation left, the walk always stops at
                    // its completion and records a failure. Should it ever happen, say
                    // "unknown" rather than claim a verdict.
                    None => Outcome::OutOfBudget,
                };
            };
            let j = local_op(call);
            bits[j / 64] &= !(1 << (j % 64));
            set_hash ^= zobrist(j);
            state = before;
            if self.op(j).op_type == OpType::Ok {
                remaining += 1;
            }
            agree = agree.min(calls.len());
            self.unlift(call);
            node = self.next[call];
            info_pass = self.op(j).op_type != OpType::Ok;
        }
    }

    /// The failure at `stuck` (a completion node) after the prefix `local`.
    fn failure(&self, local: &[usize], state: &Value, stuck: usize) -> Failure {
        let mut window = Vec::new();
        let mut node = self.next[HEAD];
        while node != NIL && node != stuck {
            if is_call(node) {
                window.push(self.ids[local_op(node)]);
            }
            node = self.next[node];
        }
        let stuck_id = self.ids[local_op(stuck)];
        if !window.contains(&stuck_id) {
            window.push(stuck_id);
        }
        window.sort_unstable();
        Failure {
            prefix: local.iter().map(|&j| self.ids[j]).collect(),
            state: state.clone(),
            stuck: stuck_id,
            window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType};
    use crate::models::{CasRegister, Kv, Mutex, Register};

    fn inv(p: u64, f: &str, v: Value) -> Event {
        Event::new(p, EventType::Invoke, f, v)
    }
    fn ok(p: u64, f: &str, v: Value) -> Event {
        Event::new(p, EventType::Ok, f, v)
    }
    fn info(p: u64, f: &str, v: Value) -> Event {
        Event::new(p, EventType::Info, f, v)
    }
    fn check<M: Model>(events: &[Event], model: &M) -> Verdict {
        let history = History::from_events(events).unwrap();
        linearizable(&history, model, DEFAULT_BUDGET)
    }

    #[test]
    fn the_memo_keeps_a_set_as_its_run_of_full_words_and_the_rest() {
        // One set, one form: equal bit sets must compare equal (or the memo would miss
        // states it explored and the search would redo them), and sets that differ in
        // any bit must not (or the memo would skip states never explored).
        let set = |bits: &[u64]| LinearizedSet::new(bits);
        let form = set(&[u64::MAX, u64::MAX, 0b101, 0, 0]);
        assert_eq!(form.full_words, 2);
        assert_eq!(*form.rest, [0b101]);
        // Trailing zero words are not part of the set: a longer vector, same set.
        assert_eq!(form, set(&[u64::MAX, u64::MAX, 0b101]));
        assert_ne!(form, set(&[u64::MAX, u64::MAX, 0b111]));
        assert_ne!(form, set(&[u64::MAX, 0, 0b101]));
        // A full word after a gap stays in the rest, so it is not confused with a
        // longer leading run.
        let gap = set(&[u64::MAX, 0, u64::MAX]);
        assert_eq!((gap.full_words, &*gap.rest), (1, &[0, u64::MAX][..]));
        assert_ne!(gap, set(&[u64::MAX, u64::MAX, 0]));
        let empty = set(&[0, 0]);
        assert_eq!((empty.full_words, empty.rest.len()), (0, 0));
        assert_eq!(set(&[u64::MAX]), set(&[u64::MAX, 0]));
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        // Porcupine's first register example (6.824 quiz): write 100 overlaps a read
        // of 100 and a read of 0; both orders exist.
        let events = [
            inv(0, "write", Value::Int(100)),
            inv(1, "read", Value::Nil),
            inv(2, "read", Value::Nil),
            ok(2, "read", Value::Int(0)),
            ok(1, "read", Value::Int(100)),
            ok(0, "write", Value::Int(100)),
        ];
        let register = Register;
        // Start from 0 as in the quiz: a write of 0 first, completed before all.
        let mut with_zero = vec![
            inv(3, "write", Value::Int(0)),
            ok(3, "write", Value::Int(0)),
        ];
        with_zero.extend(events);
        let verdict = check(&with_zero, &register);
        // The witness must put the read of 0 before the write of 100 and the read of
        // 100 after it; any other order would be illegal.
        let Verdict::Linearizable { witnesses, .. } = verdict else {
            panic!("expected linearizable, got {verdict:?}")
        };
        assert_eq!(witnesses[0].order, vec![0, 3, 1, 2]);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught_with_its_window() {
        // write 200 (long) overlaps read -> 200 which completes, then a later read
        // returns 0: once a read saw 200, a later read cannot see the older 0.
        let events = [
            inv(9, "write", Value::Int(0)),
            ok(9, "write", Value::Int(0)),
            inv(0, "write", Value::Int(200)),
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Int(200)),
            inv(2, "read", Value::Nil),
            ok(2, "read", Value::Int(0)),
            ok(0, "write", Value::Int(200)),
        ];
        let verdict = check(&events, &Register);
        let Verdict::NotLinearizable { counterexample, .. } = verdict else {
            panic!("expected a violation, got {verdict:?}")
        };
        // Longest prefix: write 0, write 200, read 200; then the read of 0 (op 3) is
        // stuck with nothing else to place.
        assert_eq!(counterexample.prefix, vec![0, 1, 2]);
        assert_eq!(counterexample.state, Value::Int(200));
        assert_eq!(counterexample.stuck, 3);
        assert_eq!(counterexample.window, vec![3]);
    }

    #[test]
    fn an_info_write_may_take_effect_late_or_never() {
        // p0's write of 1 timed out. A later read of 1 is legal (it took effect late);
        // a history where nobody reads 1 is legal too (it never took effect).
        let late = [
            inv(0, "write", Value::Int(1)),
            info(0, "write", Value::keyword("timed-out")),
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Nil),
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Int(1)),
        ];
        assert!(check(&late, &Register).is_linearizable());
        let never = [
            inv(0, "cas", Value::ints(&[5, 6])),
            info(0, "cas", Value::keyword("timed-out")),
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Nil),
        ];
        // The cas from 5 can never match; being info, it is simply left out.
        let verdict = check(&never, &CasRegister);
        let Verdict::Linearizable { witnesses, .. } = verdict else {
            panic!("expected linearizable, got {verdict:?}")
        };
        assert_eq!(witnesses[0].order, vec![1]);
        // But an info write cannot take effect before it was invoked.
        let early = [
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Int(1)),
            inv(0, "write", Value::Int(1)),
            info(0, "write", Value::Nil),
        ];
        assert!(!check(&early, &Register).is_linearizable());
    }

    #[test]
    fn failed_operations_are_dropped() {
        // A failed write did not happen, so a read of nil after it is legal; if the
        // checker kept it, the read of nil would be illegal.
        let events = [
            inv(0, "write", Value::Int(1)),
            Event::new(0, EventType::Fail, "write", Value::Int(1)),
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Nil),
        ];
        assert!(check(&events, &Register).is_linearizable());
    }

    #[test]
    fn keys_are_checked_independently() {
        // Key 1 is fine; key 2 reads a value nobody wrote. The violation names key 2.
        let events = [
            inv(0, "put", Value::Int(5)).with_key(Value::Int(1)),
            ok(0, "put", Value::Int(5)).with_key(Value::Int(1)),
            inv(0, "get", Value::Nil).with_key(Value::Int(1)),
            ok(0, "get", Value::Int(5)).with_key(Value::Int(1)),
            inv(1, "get", Value::Nil).with_key(Value::Int(2)),
            ok(1, "get", Value::Int(5)).with_key(Value::Int(2)),
        ];
        let verdict = check(&events, &Kv);
        let Verdict::NotLinearizable { counterexample, .. } = verdict else {
            panic!("expected a violation, got {verdict:?}")
        };
        assert_eq!(counterexample.key, Some(Value::Int(2)));
        assert_eq!(counterexample.stuck, 2);
    }

    #[test]
    fn two_holders_of_one_lock_are_caught_and_two_locks_are_not() {
        let hold = |p: u64, lock: i64| {
            [
                inv(p, "acquire", Value::Nil).with_key(Value::Int(lock)),
                ok(p, "acquire", Value::Nil).with_key(Value::Int(lock)),
            ]
        };
        // p0 and p1 both acquire lock 7 without a release in between.
        let both: Vec<Event> = hold(0, 7).into_iter().chain(hold(1, 7)).collect();
        assert!(!check(&both, &Mutex).is_linearizable());
        // Different locks are independent.
        let apart: Vec<Event> = hold(0, 7).into_iter().chain(hold(1, 8)).collect();
        assert!(check(&apart, &Mutex).is_linearizable());
    }

    #[test]
    fn a_spent_budget_answers_unknown() {
        let events = [
            inv(0, "write", Value::Int(1)),
            inv(1, "read", Value::Nil),
            ok(0, "write", Value::Int(1)),
            ok(1, "read", Value::Int(1)),
        ];
        let history = History::from_events(&events).unwrap();
        // One step is not enough to place two operations.
        assert_eq!(
            linearizable(&history, &Register, 1),
            Verdict::Unknown {
                states_explored: 1,
                key: None
            }
        );
    }

    #[test]
    fn the_explanation_names_the_stuck_operation_and_the_state() {
        let events = [
            inv(0, "write", Value::Int(1)),
            ok(0, "write", Value::Int(1)),
            inv(1, "read", Value::Nil),
            ok(1, "read", Value::Int(2)),
        ];
        let history = History::from_events(&events).unwrap();
        let verdict = linearizable(&history, &Register, DEFAULT_BUDGET);
        let text = explain(&verdict, &history, &Register);
        assert!(text.contains("state after the prefix: 1"), "{text}");
        assert!(
            text.contains("cannot be placed: op 1 (event 2): p1 read -> 2"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod info_tests {
    use super::*;
    use crate::history::{Event, EventType};
    use crate::models::Kv;

    #[test]
    fn unobserved_timed_out_appends_do_not_blow_up_the_search() {
        // Twenty appends time out and nobody ever reads their values; then a read
        // returns a value nobody wrote. Trying every subset and order of the twenty
        // would need millions of states; dropping the unobservable ones answers within
        // a budget of 1,000 steps. The verdict must still be "not linearizable".
        let key = Value::Int(1);
        let mut events = Vec::new();
        for p in 0..20u64 {
            events.push(
                Event::new(p, EventType::Invoke, "append", Value::Int(100 + p as i64))
                    .with_key(key.clone()),
            );
            events.push(
                Event::new(p, EventType::Info, "append", Value::keyword("timed-out"))
                    .with_key(key.clone()),
            );
        }
        events
            .push(Event::new(50, EventType::Invoke, "append", Value::Int(1)).with_key(key.clone()));
        events.push(Event::new(50, EventType::Ok, "append", Value::Int(1)).with_key(key.clone()));
        events.push(Event::new(51, EventType::Invoke, "get", Value::Nil).with_key(key.clone()));
        events
            .push(Event::new(51, EventType::Ok, "get", Value::ints(&[1, 2])).with_key(key.clone()));
        let history = History::from_events(&events).unwrap();
        let verdict = linearizable(&history, &Kv, 1_000);
        let Verdict::NotLinearizable { counterexample, .. } = verdict else {
            panic!("expected a violation, got {verdict:?}")
        };
        assert_eq!(counterexample.stuck, 21);
        // An observed timed-out append is kept: reading [1 7] is legal when the
        // timed-out append of 7 took effect.
        let mut observed = vec![
            Event::new(0, EventType::Invoke, "append", Value::Int(7)).with_key(key.clone()),
            Event::new(0, EventType::Info, "append", Value::keyword("timed-out"))
                .with_key(key.clone()),
        ];
        observed.extend(events[40..42].iter().cloned());
        observed.push(Event::new(51, EventType::Invoke, "get", Value::Nil).with_key(key.clone()));
        observed
            .push(Event::new(51, EventType::Ok, "get", Value::ints(&[1, 7])).with_key(key.clone()));
        let history = History::from_events(&observed).unwrap();
        assert!(linearizable(&history, &Kv, 1_000).is_linearizable());
    }
}
