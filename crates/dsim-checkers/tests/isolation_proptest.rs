//! Properties of the isolation checker on generated list-append histories.
//!
//! Histories come from `isolation::generate`: concurrent clients whose transactions
//! take effect atomically at an instant inside their intervals, so every history is
//! strict serializable by construction and must check clean. Swapping the results of
//! two reads of one key that returned different lists must always be caught: the
//! transaction that now sees the shorter list either misses its own earlier append
//! (internal) or misses an append that finished before it began, which closes a cycle
//! through real-time edges (or shows up as a lost append).

use dsim_checkers::isolation::generate::{ListAppendShape, list_append_history};
use dsim_checkers::isolation::{IsolationOptions, Workload, isolation};
use dsim_checkers::{History, OpType};
use dsim_core::Value;
use proptest::prelude::*;

fn shape(txns: usize, processes: u64, keys: u64) -> ListAppendShape {
    ListAppendShape {
        txns,
        processes,
        keys,
        mops: 4,
    }
}

/// Every read micro-op of an ok transaction: (op index, micro-op index, key, list).
fn reads(history: &History) -> Vec<(usize, usize, Value, Value)> {
    let mut out = Vec::new();
    for op in &history.ops {
        if op.op_type != OpType::Ok {
            continue;
        }
        for (m, mop) in op.ret.as_list().unwrap().iter().enumerate() {
            let mop = mop.as_list().unwrap();
            if mop[0] == Value::keyword("r") {
                out.push((op.id, m, mop[1].clone(), mop[2].clone()));
            }
        }
    }
    out
}

fn set_read(history: &mut History, op: usize, mop: usize, value: Value) {
    let Value::List(mops) = &mut history.ops[op].ret else {
        unreachable!("generated completions are lists")
    };
    let Value::List(parts) = &mut mops[mop] else {
        unreachable!("generated micro-ops are lists")
    };
    parts[2] = value;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn histories_from_a_serial_execution_are_always_valid(
        seed in any::<u64>(),
        txns in 1usize..60,
        processes in 1u64..5,
        keys in 1u64..5,
    ) {
        let history = list_append_history(seed, shape(txns, processes, keys));
        let report = isolation(&history, &IsolationOptions::new(Workload::ListAppend)).unwrap();
        // A false anomaly here is a bug in inference (a wrong edge or version order).
        prop_assert!(report.is_valid(), "{:?}", report.anomalies);
        prop_assert_eq!(report.committed, txns);
    }

    #[test]
    fn swapping_two_different_reads_of_a_key_is_always_caught(
        seed in any::<u64>(),
        txns in 4usize..60,
        processes in 1u64..5,
        pick in any::<u64>(),
    ) {
        let mut history = list_append_history(seed, shape(txns, processes, 2));
        let reads = reads(&history);
        // Pairs of reads of the same key that returned different lists.
        let pairs: Vec<(usize, usize)> = (0..reads.len())
            .flat_map(|i| (i + 1..reads.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| reads[i].2 == reads[j].2 && reads[i].3 != reads[j].3)
            .collect();
        prop_assume!(!pairs.is_empty());
        let (i, j) = pairs[(pick % pairs.len() as u64) as usize];
        set_read(&mut history, reads[i].0, reads[i].1, reads[j].3.clone());
        set_read(&mut history, reads[j].0, reads[j].1, reads[i].3.clone());
        let report = isolation(&history, &IsolationOptions::new(Workload::ListAppend)).unwrap();
        prop_assert!(!report.is_valid(), "swap of reads {:?} and {:?} went unnoticed", reads[i], reads[j]);
        // The checker never claims a swapped history is strict serializable.
        prop_assert!(report.ruled_out.contains(&dsim_checkers::ConsistencyModel::StrictSerializable));
    }
}
