//! Seeded list-append histories that are strict serializable by construction, for
//! tests and benches.
//!
//! Each process runs one transaction at a time with random durations and think
//! times, so transactions of different processes overlap; each takes effect
//! atomically at a random instant strictly inside its interval, and its reads return
//! the lists as of that instant. The effect instants are a serial order consistent
//! with real time, so the checker must find no anomaly. Appended values are unique per
//! key (a per-key counter). SplitMix64 seeded by the caller: same seed, same history.

use crate::history::{Event, EventType, History};
use dsim_core::Value;

/// The shape of a generated history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListAppendShape {
    /// Transactions.
    pub txns: usize,
    /// Concurrent client processes.
    pub processes: u64,
    /// Distinct keys.
    pub keys: u64,
    /// Micro-ops per transaction (each an append or a read, half and half).
    pub mops: usize,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// One planned transaction: invoked, takes effect, completes; by whom; its micro-ops
/// as (append?, key).
type Plan = (u64, u64, u64, u64, Vec<(bool, i64)>);

/// A strict-serializable list-append history of `shape` from `seed`.
pub fn list_append_history(seed: u64, shape: ListAppendShape) -> History {
    let mut rng = SplitMix(seed);
    let processes = shape.processes.max(1);
    let mut free_at = vec![0u64; processes as usize];
    let mut planned: Vec<Plan> = Vec::with_capacity(shape.txns);
    for _ in 0..shape.txns {
        let process = rng.below(processes);
        let invoke = free_at[process as usize] + rng.below(20);
        let duration = 2 + rng.below(40);
        let effect = invoke + 1 + rng.below(duration - 1);
        let complete = invoke + duration;
        free_at[process as usize] = complete + 1;
        let mops = (0..shape.mops.max(1))
            .map(|_| (rng.below(2) == 0, rng.below(shape.keys.max(1)) as i64))
            .collect();
        planned.push((invoke, effect, complete, process, mops));
    }
    // Apply in effect order (ties by plan order); record each transaction's value.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].1, i));
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); shape.keys.max(1) as usize];
    let mut invoked: Vec<Value> = vec![Value::Nil; planned.len()];
    let mut completed: Vec<Value> = vec![Value::Nil; planned.len()];
    for i in order {
        let mut before = Vec::new();
        let mut after = Vec::new();
        for &(append, key) in &planned[i].4 {
            let list = &mut lists[key as usize];
            let kw = |name: &str| Value::keyword(name);
            if append {
                let value = list.len() as i64 + 1;
                list.push(value);
                let mop = Value::List(vec![kw("append"), Value::Int(key), Value::Int(value)]);
                before.push(mop.clone());
                after.push(mop);
            } else {
                before.push(Value::List(vec![kw("r"), Value::Int(key), Value::Nil]));
                let read = if list.is_empty() {
                    Value::Nil
                } else {
                    Value::ints(list)
                };
                after.push(Value::List(vec![kw("r"), Value::Int(key), read]));
            }
        }
        invoked[i] = Value::List(before);
        completed[i] = Value::List(after);
    }
    // Events in time order; at equal instants invocations come first, so a shared
    // instant never fakes a real-time order.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(planned.len() * 2);
    for (i, p) in planned.iter().enumerate() {
        events.push((p.0, 0, i));
        events.push((p.2, 1, i));
    }
    events.sort_unstable();
    let events: Vec<Event> = events
        .into_iter()
        .map(|(time, kind, i)| {
            let process = planned[i].3;
            if kind == 0 {
                Event::new(process, EventType::Invoke, "txn", invoked[i].clone()).with_time(time)
            } else {
                Event::new(process, EventType::Ok, "txn", completed[i].clone()).with_time(time)
            }
        })
        .collect();
    History::from_events(&events).expect("generated events pair up")
}
