//! # tidekv-checks
//!
//! The properties of tidekv, written once as plain functions over a recorded
//! [`History`] or a cluster snapshot, with no stateright in sight. The model
//! wraps them as stateright properties; `tidekv verify` applies them to the
//! histories the runtime records.
//!
//! | property | function | over |
//! |---|---|---|
//! | `linearizable` | [`linearizable`] | a history |
//! | `converged` | [`converged`] | the settled stores of each shard's live replicas |
//! | `no-lost-writes` | [`no_lost_writes`] (cluster: the live servers' stores) / [`no_stale_reads`] (history) | both |
//! | `latency` | [`latency`] | a history, the crash cycles, the current cycle |
//! | `available` | [`available`] | a history, the crash cycles, the current cycle |
//! | `stale-reads` | [`stale_reads`] | a history and the bound `--max-staleness` |
//!
//! Each returns `Ok(())` or `Err(explanation)`; the explanation names the
//! operations involved so a reader can find them in the trace.

pub mod monitor;
pub mod property;
pub mod wgl;

pub use monitor::{latency_bound, Monitor, Queueing};
pub use property::{PerProperty, Property, Scope};
pub use tidekv::topology::Latency;

use std::collections::{BTreeMap, HashMap};
use tidekv::history::{History, OpRecord, Outcome};
use tidekv::node::{Key, Op, OpResult, Val, VecStore};

/// Property names (see [`Property`]).
pub const LINEARIZABLE: &str = Property::Linearizable.name();
pub const CONVERGED: &str = Property::Converged.name();
pub const NO_LOST_WRITES: &str = Property::NoLostWrites.name();
pub const LATENCY: &str = Property::Latency.name();
pub const AVAILABLE: &str = Property::Available.name();
pub const STALE_READS: &str = Property::StaleReads.name();

/// A verdict, as `check` and `verify` print it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Violated,
    #[serde(rename = "n/a")]
    NotApplicable,
    /// The check did not finish (a bounded search gave up): neither holds
    /// nor violated.
    Unknown,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::NotApplicable => "n/a",
            Verdict::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "holds" => Some(Verdict::Holds),
            "violated" => Some(Verdict::Violated),
            "n/a" => Some(Verdict::NotApplicable),
            "unknown" => Some(Verdict::Unknown),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// A short description of an operation for explanations: `c1 Get(k0)=absent @4..8`.
pub fn describe<V: Val>(op: &OpRecord<V>) -> String {
    match &op.ret {
        Some(r) => format!("c{} {}={} @{}..{}", op.client, op.op, r.result, op.invoke, r.cycle),
        None => format!("c{} {} @{}..", op.client, op.op, op.invoke),
    }
}

/// A server's store as the checks see it: its name and its settled store
/// (after applying the updates already in flight to it).
pub type StoreView<'a, V> = (&'a str, &'a VecStore<V>);

/// `converged`: every shard's live replicas hold the same store. `shards` is,
/// per shard, the settled store of each live replica.
pub fn converged<V: Val>(shards: &[Vec<StoreView<'_, V>>]) -> Result<(), String> {
    for (s, replicas) in shards.iter().enumerate() {
        if let Some((first_name, first)) = replicas.first() {
            for (name, store) in &replicas[1..] {
                if store != first {
                    return Err(format!(
                        "shard {s}: {first_name} holds {first:?} but {name} holds {store:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The effect a write leaves on its key: `Some(v)` or `None` (absent).
fn effect<V: Val>(op: &Op<V>) -> Option<Option<V>> {
    match op {
        Op::Put(_, v) | Op::Insert(_, v) | Op::Modify(_, v) => Some(Some(v.clone())),
        Op::Delete(_) => Some(None),
        Op::Get(_) => None,
    }
}

/// Whether an operation is known to have written (acknowledged).
fn acked<V: Val>(op: &OpRecord<V>) -> bool {
    op.ret.as_ref().is_some_and(|r| r.result.wrote(&op.op))
}

/// Whether an operation may have written: acknowledged, or of unknown outcome.
fn may_have_written<V: Val>(op: &OpRecord<V>) -> bool {
    op.op.is_write() && (acked(op) || op.outcome() == Outcome::Info)
}

/// Feeds a history through a [`Monitor`] in time order, collecting the
/// violations it reports (the first per property).
pub fn monitor_history<V: Val>(
    history: &History<V>,
    latency: impl Into<Latency>,
) -> (Monitor<V>, BTreeMap<&'static str, String>) {
    monitor_history_bounded(history, latency, monitor::CONFIGS_MAX)
}

/// [`monitor_history`] with at most `max_configs` configurations per key.
pub fn monitor_history_bounded<V: Val>(
    history: &History<V>,
    latency: impl Into<Latency>,
    max_configs: usize,
) -> (Monitor<V>, BTreeMap<&'static str, String>) {
    let clients = history.ops.iter().map(|o| o.client as usize + 1).max().unwrap_or(0);
    let mut m = Monitor::new(clients, latency).with_max_configs(max_configs);
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(history.ops.len() * 2);
    for (i, op) in history.ops.iter().enumerate() {
        events.push((op.invoke_time(), i, false));
        if let Some(t) = op.return_time() {
            events.push((t, i, true));
        }
    }
    events.sort_unstable();
    let mut found = BTreeMap::new();
    for (_, i, is_return) in events {
        let op = &history.ops[i];
        if is_return {
            let r = op.ret.as_ref().expect("a return event has a return");
            for (p, why) in m.ret(r.cycle, op.client as usize, op.tag, r.result.clone()) {
                found.entry(p).or_insert(why);
            }
        } else {
            m.invoke(op.invoke, op.client as usize, op.tag, op.op.clone());
        }
    }
    (m, found)
}

/// `linearizable`: the history is linearizable against a sequential map;
/// operations without an answer (or answered `Unavailable`) may or may not
/// have taken effect.
pub fn linearizable<V: Val>(history: &History<V>) -> Result<(), String> {
    match monitor_history(history, 0).1.remove(LINEARIZABLE) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Why [`linearizability`] does not say "holds".
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NotLinearizable {
    /// The history is not linearizable; why.
    Violated(String),
    /// The search gave up: which key, and how many operations were
    /// concurrent there.
    Unknown(String),
}

/// `linearizable` with three outcomes, decided offline by [`wgl`]: holds,
/// violated, or unknown when the search needs more than `max_configs`
/// configurations on some key (a violation on another key still wins).
pub fn linearizability<V: Val>(history: &History<V>, max_configs: usize) -> Result<(), NotLinearizable> {
    wgl::linearizability(history, max_configs)
}

/// [`linearizability`] by the online [`Monitor`], as the model decides it
/// (it stops at the first key it gives up on).
pub fn linearizability_online<V: Val>(history: &History<V>, max_configs: usize) -> Result<(), NotLinearizable> {
    let (m, mut found) = monitor_history_bounded(history, 0, max_configs);
    match found.remove(LINEARIZABLE) {
        None => Ok(()),
        Some(why) if m.flags.gave_up => Err(NotLinearizable::Unknown(why)),
        Some(why) => Err(NotLinearizable::Violated(why)),
    }
}

/// `no-lost-writes` on a cluster state: for every key with an acknowledged
/// write, some live server holds a value that a write not superseded in real
/// time could have left (see [`monitor`]). `stores` lists the settled stores
/// of the live servers.
pub fn no_lost_writes<V: Val>(history: &History<V>, stores: &[StoreView<'_, V>]) -> Result<(), String> {
    monitor_history(history, 0).0.no_lost_writes(stores)
}

/// `no-lost-writes` on a recorded history: no read misses an acknowledged
/// write. A `Get` must return what some write could have left: one not
/// superseded before the `Get` was invoked, where a write is superseded once
/// an acknowledged write that was invoked after it returned has itself
/// returned. (The initial absent value is a write that returned at time 0.)
/// Weaker than [`linearizable`]; one pass per key in time order.
pub fn no_stale_reads<V: Val>(history: &History<V>) -> Result<(), String> {
    stale_reads(history, 0)
}

/// `stale-reads` with bound `max` cycles on a recorded history: a `Get`
/// invoked at cycle `i` may return a value superseded at cycle `s` (see
/// [`no_stale_reads`]; the value was current at `s − 1` at the latest) only
/// if `i − s + 1 ≤ max`. With `max = 0` it is [`no_stale_reads`].
pub fn stale_reads<V: Val>(history: &History<V>, max: u32) -> Result<(), String> {
    let mut by_key: HashMap<Key, Vec<&OpRecord<V>>> = HashMap::new();
    for op in &history.ops {
        let read = matches!(
            (&op.op, op.ret.as_ref().map(|r| &r.result)),
            (Op::Get(_), Some(OpResult::Value(_)))
        );
        if read || may_have_written(op) {
            by_key.entry(op.op.key()).or_default().push(op);
        }
    }
    let mut keys: Vec<Key> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        stale_reads_of_key(key, &by_key[&key], max)?;
    }
    Ok(())
}

fn stale_reads_of_key<V: Val>(key: Key, ops: &[&OpRecord<V>], max: u32) -> Result<(), String> {
    struct Cand<V> {
        effect: Option<V>,
        returned: Option<u64>,
        superseded: Option<u64>,
    }
    let mut events: Vec<(u64, usize)> = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke_time(), i));
        if let Some(t) = op.return_time() {
            events.push((t, i));
        }
    }
    // Times are distinct between an op's invoke and return, and the sort
    // keeps each op's invoke before its return.
    events.sort_unstable();
    let mut cands: Vec<Cand<V>> = vec![Cand {
        effect: None,
        returned: Some(0),
        superseded: None,
    }];
    let mut cand_of: HashMap<usize, usize> = HashMap::new();
    let mut open_reads: std::collections::BTreeSet<(u64, usize)> = Default::default();
    for (t, i) in events {
        let op = ops[i];
        let inv = op.invoke_time();
        if t == inv {
            if op.op.is_write() {
                cands.push(Cand {
                    effect: effect(&op.op).expect("a write"),
                    returned: None,
                    superseded: None,
                });
                cand_of.insert(i, cands.len() - 1);
            } else {
                open_reads.insert((inv, i));
            }
            continue;
        }
        if op.op.is_write() {
            cands[cand_of[&i]].returned = Some(t);
            if acked(op) {
                for c in cands.iter_mut() {
                    if c.superseded.is_none() && c.returned.is_some_and(|r| r < inv) {
                        c.superseded = Some(t);
                    }
                }
            }
            continue;
        }
        open_reads.remove(&(inv, i));
        let Some(OpResult::Value(v)) = op.ret.as_ref().map(|r| &r.result) else {
            continue;
        };
        // Staleness in cycles: the read's invocation cycle, minus the cycle
        // its value was superseded in, plus one.
        let fresh = |s: u64| s > inv || (inv / 3 + 1).saturating_sub(s / 3) <= max as u64;
        if !cands.iter().any(|c| c.superseded.is_none_or(fresh) && &c.effect == v) {
            if max == 0 {
                return Err(format!("k{key}: {} missed an acknowledged write", describe(op)));
            }
            return Err(format!(
                "k{key}: {} returned a value superseded more than {max} cycles before it was invoked",
                describe(op)
            ));
        }
        // Forget what no open read can still see, so long histories stay linear.
        let horizon = open_reads.first().map_or(u64::MAX, |(t, _)| *t);
        if cands.len() > 64 {
            let before = cands.len();
            let slack = 3 * max as u64;
            let keep: Vec<bool> = cands
                .iter()
                .map(|c| c.superseded.is_none_or(|s| s + slack > horizon))
                .collect();
            if keep.iter().filter(|k| **k).count() < before / 2 {
                let mut remap = vec![usize::MAX; before];
                let mut next = Vec::new();
                for (old, c) in std::mem::take(&mut cands).into_iter().enumerate() {
                    if keep[old] {
                        remap[old] = next.len();
                        next.push(c);
                    }
                }
                cands = next;
                cand_of.retain(|_, pos| {
                    *pos = remap[*pos];
                    *pos != usize::MAX
                });
            }
        }
    }
    Ok(())
}

fn crashes_by(crash_cycles: &[u32], cycle: u32) -> u32 {
    crash_cycles.iter().filter(|&&c| c <= cycle).count() as u32
}

/// `latency`: with no crash up to its return, every operation returns exactly
/// its failure-free latency after it was invoked; with crashes, within
/// [`latency_bound`]. No operation is pending longer than the bound at cycle
/// `now` (the cycle about to execute): nothing hangs.
pub fn latency<V: Val>(
    history: &History<V>,
    crash_cycles: &[u32],
    now: u32,
    latency: impl Into<Latency>,
) -> Result<(), String> {
    let lat = latency.into();
    for op in &history.ops {
        let is_write = op.op.is_write();
        match &op.ret {
            Some(r) => {
                let crashes = crashes_by(crash_cycles, r.cycle);
                if let Some(why) = monitor::latency_violation(r.cycle - op.invoke, crashes, lat, is_write) {
                    return Err(format!("{} {why}", describe(op)));
                }
            }
            None => {
                let bound = latency_bound(lat, is_write, crashes_by(crash_cycles, now));
                if now - op.invoke > bound {
                    return Err(format!(
                        "{} still pending at cycle {now}, over the bound {bound}",
                        describe(op)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `available`: every request gets an answer other than `Unavailable`, within
/// the latency bound.
pub fn available<V: Val>(
    history: &History<V>,
    crash_cycles: &[u32],
    now: u32,
    latency: impl Into<Latency>,
) -> Result<(), String> {
    let lat = latency.into();
    for op in &history.ops {
        match &op.ret {
            Some(r) if r.result == OpResult::Unavailable => {
                return Err(format!("{} was answered unavailable", describe(op)));
            }
            None => {
                let bound = latency_bound(lat, op.op.is_write(), crashes_by(crash_cycles, now));
                if now - op.invoke > bound {
                    return Err(format!("{} got no answer by cycle {now}", describe(op)));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A request the root FE sent to `shard`, or that waits in its queue for
/// it: the client's invocation cycle and number (the order in which
/// requests arrive at the root FE: every path to it is equally long, and
/// requests arriving in one cycle queue in client order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Queued {
    pub shard: usize,
    pub invoke: u32,
    pub client: usize,
}

/// `fifo`: per shard, no request sent this cycle arrived after one that
/// still waits (it would have been served before an earlier request it
/// waited behind).
pub fn fifo(sent: &[Queued], waiting: &[Queued]) -> Result<(), String> {
    for w in waiting {
        if let Some(s) = sent
            .iter()
            .find(|s| s.shard == w.shard && (s.invoke, s.client) > (w.invoke, w.client))
        {
            return Err(format!(
                "shard {}: c{} (invoked @{}) was sent while c{} (invoked @{}), ahead of it, still waits",
                w.shard, s.client, s.invoke, w.client, w.invoke
            ));
        }
    }
    Ok(())
}

/// Reached when a `Get` returned a value that an acknowledged write, returned
/// before the `Get` was invoked, had written: a write, then a read of it.
pub fn write_then_read<V: Val>(history: &History<V>) -> bool {
    monitor_history(history, 0).0.flags.write_then_read
}

#[cfg(test)]
mod tests;
