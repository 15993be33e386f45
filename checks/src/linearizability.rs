//! Linearizability of a map history, checked key by key.
//!
//! Every operation touches one key, and linearizability is local (Herlihy &
//! Wing): a history is linearizable iff its restriction to each key is. So the
//! history is partitioned by key (as Knossos and Porcupine do) and each key is
//! checked against a sequential register that may be absent.
//!
//! Per key, events are processed in time order while keeping the set of
//! *configurations* still possible: the register's value plus which of the
//! currently open operations have already been linearized. An invocation opens
//! an operation. At a return, every configuration must be extended by
//! linearizing open operations, in any order, until the returning one is
//! linearized; configurations that cannot are dropped, and if none is left the
//! history is not linearizable. Operations of unknown outcome (`Unavailable`,
//! or no response) stay open forever and may be linearized at any later point
//! or never. The work per return is bounded by the number of open operations,
//! so a long history with few concurrent operations per key is checked in
//! linear time.

use crate::describe;
use std::collections::{HashMap, HashSet};
use tidekv::history::{History, OpRecord, Outcome};
use tidekv::node::{Key, Op, OpResult, Val};

/// At most this many operations may be open on one key at once (bit sets).
pub const OPEN_OPS_MAX: usize = 128;

/// Applies `op` to register value `state` if the recorded `result` is
/// possible there; `None` if it is not. `result == None`: unknown outcome,
/// apply whatever the sequential map would have done.
fn apply<V: Val>(state: &Option<V>, op: &Op<V>, result: Option<&OpResult<V>>) -> Option<Option<V>> {
    let expected = sequential(state, op);
    match result {
        None => Some(expected.0),
        Some(r) if *r == expected.1 => Some(expected.0),
        Some(_) => None,
    }
}

/// The sequential map on one key: the new value and the answer.
fn sequential<V: Val>(state: &Option<V>, op: &Op<V>) -> (Option<V>, OpResult<V>) {
    match op {
        Op::Get(_) => (state.clone(), OpResult::Value(state.clone())),
        Op::Put(_, v) => (Some(v.clone()), OpResult::Ok),
        Op::Delete(_) => (None, OpResult::Ok),
        Op::Insert(_, v) => match state {
            Some(_) => (state.clone(), OpResult::Exists),
            None => (Some(v.clone()), OpResult::Ok),
        },
        Op::Modify(_, v) => match state {
            Some(old) => (Some(v.clone()), OpResult::Modified(old.clone())),
            None => (None, OpResult::Absent),
        },
    }
}

/// Checks that `history` is linearizable against a sequential map. On
/// failure, the explanation names the key and the operation that could not be
/// linearized.
pub fn linearizable<V: Val>(history: &History<V>) -> Result<(), String> {
    let mut by_key: HashMap<Key, Vec<&OpRecord<V>>> = HashMap::new();
    for op in &history.ops {
        // A read of unknown outcome constrains nothing.
        if op.outcome() == Outcome::Info && !op.op.is_write() {
            continue;
        }
        by_key.entry(op.op.key()).or_default().push(op);
    }
    let mut keys: Vec<Key> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        check_key(key, &by_key[&key])?;
    }
    Ok(())
}

type Config<V> = (Option<V>, u128);

fn check_key<V: Val>(key: Key, ops: &[&OpRecord<V>]) -> Result<(), String> {
    // (time, op index); an op's invoke sorts before its return.
    let mut events: Vec<(u64, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke_time(), i));
        if op.outcome() != Outcome::Info {
            events.push((op.return_time().expect("a completed op has a return"), i));
        }
    }
    events.sort_unstable();
    // Open operations: slot -> op index. Configurations carry a bit per slot.
    let mut slots: Vec<Option<usize>> = Vec::new();
    let mut slot_of: HashMap<usize, usize> = HashMap::new();
    let mut configs: HashSet<Config<V>> = HashSet::from([(None, 0)]);
    for (t, i) in events {
        let op = ops[i];
        if t == op.invoke_time() {
            let slot = match slots.iter().position(Option::is_none) {
                Some(s) => s,
                None => {
                    slots.push(None);
                    slots.len() - 1
                }
            };
            if slot >= OPEN_OPS_MAX {
                return Err(format!("k{key}: more than {OPEN_OPS_MAX} operations open at once; cannot check"));
            }
            slots[slot] = Some(i);
            slot_of.insert(i, slot);
            continue;
        }
        let me = slot_of.remove(&i).expect("returning op is open");
        let bit = 1u128 << me;
        let mut done: HashSet<Config<V>> = HashSet::new();
        let mut seen: HashSet<Config<V>> = HashSet::new();
        let mut stack: Vec<Config<V>> = configs.drain().collect();
        while let Some(cfg) = stack.pop() {
            if cfg.1 & bit != 0 {
                done.insert((cfg.0, cfg.1 & !bit));
                continue;
            }
            if !seen.insert(cfg.clone()) {
                continue;
            }
            for (s, slot) in slots.iter().enumerate() {
                let Some(j) = slot else { continue };
                if cfg.1 & (1 << s) != 0 {
                    continue;
                }
                let other = ops[*j];
                let result = if other.outcome() == Outcome::Info { None } else { other.ret.as_ref().map(|r| &r.result) };
                if let Some(next) = apply(&cfg.0, &other.op, result) {
                    stack.push((next, cfg.1 | (1 << s)));
                }
            }
        }
        slots[me] = None;
        if done.is_empty() {
            let concurrent: Vec<String> =
                slots.iter().flatten().map(|&j| describe(ops[j])).collect();
            return Err(format!(
                "k{key}: {} cannot be linearized{}",
                describe(op),
                if concurrent.is_empty() { String::new() } else { format!(" (open: {})", concurrent.join(", ")) }
            ));
        }
        configs = done;
    }
    Ok(())
}
