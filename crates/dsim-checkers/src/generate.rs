//! Seeded synthetic histories, for tests and benches.
//!
//! [`cas_register_history`] simulates clients of one linearizable cas register: each
//! process issues one operation at a time; every operation takes effect at a random
//! instant strictly inside its interval, so operations overlap freely and the history
//! is linearizable by construction (the effect instants are a witness). A cas whose
//! `from` does not match at its effect instant completes `:fail`, as in Jepsen.
//! [`kv_history`] does the same per key for the `kv` model. The random numbers come
//! from SplitMix64 seeded by the caller: same seed, same history.

use crate::history::{Event, EventType, History};
use dsim_core::Value;

/// SplitMix64: a tiny deterministic generator for synthetic workloads.
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

/// One planned operation: who, what, and when it is invoked, takes effect, completes.
struct Planned {
    process: u64,
    key: Option<i64>,
    f: &'static str,
    arg: Value,
    invoke: u64,
    effect: u64,
    complete: u64,
}

/// Plans `ops` operations over `processes` clients: each client runs one operation at
/// a time with a random duration and think time, so operations of different clients
/// overlap. `pick` chooses the function, argument and key of each.
fn plan(
    rng: &mut SplitMix,
    ops: usize,
    processes: u64,
    mut pick: impl FnMut(&mut SplitMix) -> (&'static str, Value, Option<i64>),
) -> Vec<Planned> {
    let mut free_at = vec![0u64; processes as usize];
    let mut planned = Vec::with_capacity(ops);
    for i in 0..ops {
        let process = (i as u64) % processes;
        let invoke = free_at[process as usize] + rng.below(20);
        let duration = 10 + rng.below(100);
        let effect = invoke + 1 + rng.below(duration - 1);
        let complete = invoke + duration;
        free_at[process as usize] = complete + 1;
        let (f, arg, key) = pick(rng);
        planned.push(Planned {
            process,
            key,
            f,
            arg,
            invoke,
            effect,
            complete,
        });
    }
    planned
}

/// Applies the plan in effect order with `apply` (which returns the operation's result
/// and whether it succeeded) and lays out the events in time order.
fn lay_out(planned: &[Planned], mut apply: impl FnMut(&Planned) -> (Value, bool)) -> History {
    let mut by_effect: Vec<usize> = (0..planned.len()).collect();
    by_effect.sort_by_key(|&i| (planned[i].effect, i));
    let mut results = vec![(Value::Nil, true); planned.len()];
    for i in by_effect {
        results[i] = apply(&planned[i]);
    }
    // (time, completion-before-invocation at equal times, op) for every event.
    let mut timeline: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * planned.len());
    for (i, p) in planned.iter().enumerate() {
        timeline.push((p.invoke, 1, i));
        timeline.push((p.complete, 0, i));
    }
    timeline.sort_unstable();
    let events: Vec<Event> = timeline
        .into_iter()
        .map(|(time, completion, i)| {
            let p = &planned[i];
            let (kind, value) = if completion == 1 {
                let arg = if p.f == "read" || p.f == "get" {
                    Value::Nil
                } else {
                    p.arg.clone()
                };
                (EventType::Invoke, arg)
            } else {
                let (ret, ok) = &results[i];
                (
                    if *ok { EventType::Ok } else { EventType::Fail },
                    ret.clone(),
                )
            };
            let mut event = Event::new(p.process, kind, p.f, value).with_time(time * 1_000);
            event.key = p.key.map(Value::Int);
            event
        })
        .collect();
    // Every process runs one operation at a time, so the events always pair.
    History::from_events(&events).unwrap_or_default()
}

/// A linearizable `cas-register` history of `ops` operations by `processes` clients
/// (reads, writes and cas over the values 0..5).
pub fn cas_register_history(seed: u64, ops: usize, processes: u64) -> History {
    let mut rng = SplitMix(seed);
    let planned = plan(&mut rng, ops, processes.max(1), |rng| match rng.below(3) {
        0 => ("read", Value::Nil, None),
        1 => ("write", Value::Int(rng.below(5) as i64), None),
        _ => (
            "cas",
            Value::ints(&[rng.below(5) as i64, rng.below(5) as i64]),
            None,
        ),
    });
    let mut state = Value::Nil;
    lay_out(&planned, |p| match p.f {
        "read" => (state.clone(), true),
        "write" => {
            state = p.arg.clone();
            (p.arg.clone(), true)
        }
        _ => {
            let list = p.arg.as_list().unwrap_or_default();
            if list.first() == Some(&state) {
                state = list[1].clone();
                (p.arg.clone(), true)
            } else {
                (p.arg.clone(), false)
            }
        }
    })
}

/// A linearizable `kv` history of `ops` operations by `processes` clients over `keys`
/// keys (gets, puts and appends of small integers).
pub fn kv_history(seed: u64, ops: usize, processes: u64, keys: u64) -> History {
    let mut rng = SplitMix(seed);
    let keys = keys.max(1);
    let planned = plan(&mut rng, ops, processes.max(1), |rng| {
        let key = Some(rng.below(keys) as i64);
        match rng.below(3) {
            0 => ("get", Value::Nil, key),
            1 => ("put", Value::Int(rng.below(100) as i64), key),
            _ => ("append", Value::Int(rng.below(100) as i64), key),
        }
    });
    let mut store = vec![Value::Nil; keys as usize];
    lay_out(&planned, |p| {
        let slot = &mut store[p.key.unwrap_or(0) as usize];
        match p.f {
            "get" => (slot.clone(), true),
            "put" => {
                *slot = p.arg.clone();
                (p.arg.clone(), true)
            }
            _ => {
                *slot = crate::models::append_value(slot, &p.arg);
                (p.arg.clone(), true)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType;
    use crate::models::{CasRegister, Kv};
    use crate::{DEFAULT_BUDGET, Verdict, linearizable};

    #[test]
    fn generated_histories_are_linearizable_and_overlap() {
        let history = cas_register_history(7, 2_000, 5);
        assert_eq!(history.ops.len(), 2_000);
        // Operations of different clients overlap: some invocation happens while
        // another operation is open (else the search would be trivially sequential).
        let overlapping = history
            .ops
            .windows(2)
            .filter(|w| {
                w[0].complete_index
                    .is_some_and(|done| done > w[1].invoke_index)
            })
            .count();
        assert!(overlapping > 500, "{overlapping}");
        assert!(history.ops.iter().any(|op| op.op_type == OpType::Fail));
        assert!(linearizable(&history, &CasRegister, DEFAULT_BUDGET).is_linearizable());
        let kv = kv_history(7, 5_000, 5, 10);
        let verdict = linearizable(&kv, &Kv, DEFAULT_BUDGET);
        let Verdict::Linearizable { witnesses, .. } = verdict else {
            panic!("expected linearizable, got {verdict:?}")
        };
        assert_eq!(witnesses.len(), 10);
    }

    #[test]
    fn one_corrupted_read_makes_a_generated_history_illegal() {
        // The same history with one ok read returning a value never written (99):
        // the checker must find it, and name exactly that read as unplaceable.
        let mut history = cas_register_history(3, 1_000, 5);
        let read = history
            .ops
            .iter()
            .position(|op| op.f == "read" && op.op_type == OpType::Ok && op.id > 500)
            .expect("a read");
        history.ops[read].ret = Value::Int(99);
        let verdict = linearizable(&history, &CasRegister, DEFAULT_BUDGET);
        let Verdict::NotLinearizable { counterexample, .. } = verdict else {
            panic!("expected a violation, got {verdict:?}")
        };
        assert_eq!(counterexample.stuck, read);
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        assert_eq!(
            cas_register_history(5, 300, 3),
            cas_register_history(5, 300, 3)
        );
        assert_ne!(
            cas_register_history(5, 300, 3),
            cas_register_history(6, 300, 3)
        );
    }
}
