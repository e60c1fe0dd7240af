//! `linearizable` cross-checked against a brute-force reference on random small
//! histories (≤ 7 operations, 2–3 processes, register and cas-register, with `fail`
//! and `info` outcomes and invocations that never complete).
//!
//! The reference is the definition itself: search every order of the operations that
//! respects real time (an `ok` operation that completed before another was invoked comes
//! first), in which every `ok` operation appears once, each `info` operation at most
//! once, `fail` operations never, and the model accepts each step.

use dsim_checkers::{
    DEFAULT_BUDGET, Event, EventType, History, Model, Op, OpType, Verdict, linearizable,
    model_by_name,
};
use dsim_core::Value;
use proptest::prelude::*;

/// Whether some legal order extends `placed` (a bitmask of op ids) from `state`.
fn reference(ops: &[Op], model: &dyn Model, placed: u32, state: &Value) -> bool {
    let all_ok_placed = ops
        .iter()
        .all(|op| op.op_type != OpType::Ok || placed & (1 << op.id) != 0);
    if all_ok_placed {
        return true;
    }
    for op in ops {
        if op.op_type == OpType::Fail || placed & (1 << op.id) != 0 {
            continue;
        }
        // Every ok operation that completed before `op` was invoked must be placed.
        let ready = ops.iter().all(|before| {
            before.op_type != OpType::Ok
                || before
                    .complete_index
                    .is_none_or(|done| done > op.invoke_index)
                || placed & (1 << before.id) != 0
        });
        if !ready {
            continue;
        }
        if let Some(next) = model.step(state, op)
            && reference(ops, model, placed | (1 << op.id), &next)
        {
            return true;
        }
    }
    false
}

/// Whether `order` is a legal linearization of `history` (for an unkeyed model).
fn witness_is_legal(history: &History, model: &dyn Model, order: &[usize]) -> bool {
    let mut state = model.init();
    for (at, &id) in order.iter().enumerate() {
        let op = &history.ops[id];
        // No later op in the order may have completed (ok) before this one was invoked.
        let respects_time = order[at + 1..].iter().all(|&later| {
            let later = &history.ops[later];
            later.op_type != OpType::Ok
                || later
                    .complete_index
                    .is_none_or(|done| done > op.invoke_index)
        });
        match model.step(&state, op) {
            Some(next) if respects_time && op.op_type != OpType::Fail => state = next,
            _ => return false,
        }
    }
    history
        .ops
        .iter()
        .all(|op| op.op_type != OpType::Ok || order.contains(&op.id))
}

/// One planned operation: process, function, arguments, outcome, returned value.
type Plan = (u64, u8, i64, i64, u8, u8);

/// Lays out planned operations as events: each process's operations in sequence (an
/// operation that never completes ends its process), interleaved by `schedule`.
fn events_of(plans: &[Plan], processes: u64, schedule: &[u8], with_cas: bool) -> Vec<Event> {
    let f_name = |code: u8| match code % if with_cas { 3 } else { 2 } {
        0 => "read",
        1 => "write",
        _ => "cas",
    };
    let small = |v: u8| {
        if v >= 3 {
            Value::Nil
        } else {
            Value::Int(i64::from(v))
        }
    };
    let mut streams: Vec<Vec<Event>> = vec![Vec::new(); processes as usize];
    let mut stopped = vec![false; processes as usize];
    for &(p, f, a, b, outcome, ret) in plans {
        let p = (p % processes) as usize;
        if stopped[p] {
            continue;
        }
        let f = f_name(f);
        let arg = match f {
            "read" => Value::Nil,
            "write" => Value::Int(a),
            _ => Value::ints(&[a, b]),
        };
        streams[p].push(Event::new(p as u64, EventType::Invoke, f, arg.clone()));
        let kind = match outcome % 8 {
            0..=4 => EventType::Ok,
            5 => EventType::Fail,
            6 => EventType::Info,
            _ => {
                stopped[p] = true;
                continue;
            }
        };
        let value = if f == "read" { small(ret) } else { arg };
        streams[p].push(Event::new(p as u64, kind, f, value));
    }
    for stream in &mut streams {
        stream.reverse();
    }
    let mut events = Vec::new();
    for &choice in schedule {
        if let Some(event) = streams[usize::from(choice) % processes as usize].pop() {
            events.push(event);
        }
    }
    for stream in &mut streams {
        while let Some(event) = stream.pop() {
            events.push(event);
        }
    }
    events
}

fn plan_strategy() -> impl Strategy<Value = Plan> {
    (0u64..3, 0u8..3, 0i64..3, 0i64..3, 0u8..8, 0u8..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn checker_agrees_with_brute_force_on_small_histories(
        plans in proptest::collection::vec(plan_strategy(), 1..=7),
        processes in 2u64..=3,
        schedule in proptest::collection::vec(0u8..3, 0..20),
        with_cas in any::<bool>(),
    ) {
        let events = events_of(&plans, processes, &schedule, with_cas);
        let history = History::from_events(&events).expect("generated events pair");
        let model = model_by_name(if with_cas { "cas-register" } else { "register" }).unwrap();
        let expected = reference(&history.ops, model.as_ref(), 0, &model.init());
        let verdict = linearizable(&history, model.as_ref(), DEFAULT_BUDGET);
        // A disagreement means the search skipped a legal order or accepted an
        // illegal one (e.g. placing an info op before its invocation).
        prop_assert_eq!(verdict.is_linearizable(), expected, "{:?}\n{:?}", events, verdict);
        match &verdict {
            Verdict::Linearizable { witnesses, .. } => {
                let order = witnesses.first().map(|w| w.order.clone()).unwrap_or_default();
                prop_assert!(witness_is_legal(&history, model.as_ref(), &order), "{:?}", order);
            }
            Verdict::NotLinearizable { counterexample, .. } => {
                // The prefix itself is legal, and the stuck op is an ok op outside it.
                prop_assert!(!counterexample.prefix.contains(&counterexample.stuck));
                prop_assert_eq!(history.ops[counterexample.stuck].op_type, OpType::Ok);
            }
            Verdict::Unknown { .. } => prop_assert!(false, "budget spent on a tiny history"),
        }
    }
}
