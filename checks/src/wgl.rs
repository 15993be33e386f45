//! Offline linearizability: Wing & Gong's search with Lowe's memoisation, per
//! key, as Porcupine does it.
//!
//! The online [`Monitor`](crate::Monitor) keeps every configuration still
//! possible after each return, which is what the model needs (a canonical
//! state), but their number grows with the interleavings of the concurrent
//! operations: 15 clients putting to one key at once already need more than
//! 100,000. Offline, the whole history is known, and a depth-first search
//! only has to find *one* linearization:
//!
//! - Operations are linearized one at a time. An operation may go next when
//!   it was invoked before every not yet linearized operation with a known
//!   answer returned (Wing & Gong); it must then get the answer it got.
//! - The search remembers every (set of linearized operations, value of the
//!   key) it has reached, and never explores one twice (Lowe): the rest of
//!   the search depends on nothing else. The set is kept as the smallest
//!   operation not linearized plus the linearized ones after it, which stay
//!   few: the operations concurrent at that point.
//! - Operations of unknown outcome (`Unavailable`, or no answer) have no
//!   return: they may take effect at any point after their invocation, or
//!   never, and any answer is theirs. They are tried after the operations
//!   with an answer, so that a history in which they had no visible effect
//!   is decided at once. A `Get` of unknown outcome has no effect at all and
//!   is left out.
//! - An operation answered `Unavailable` in the very cycle it was invoked
//!   was never sent (a client answers so itself when its front end is dead):
//!   it had no effect and is left out ([`OpRecord::outcome`] is `Fail`).
//!
//! - Before searching, `crossed` looks for two reads of two writes, each
//!   the only write of its value, that must each take effect after the
//!   other: the usual shape of a stale read, decided at once.
//! - While searching, a branch dies as soon as an operation still to go
//!   needs a value the key does not hold and no write left can give.
//!
//! The search succeeds as soon as every operation with an answer is
//! linearized. It is bounded by the number of (set, value) pairs remembered
//! per key; past the bound the key is undecided and the verdict `unknown`.
//! `checks/src/tests.rs` holds this search against the monitor and against a
//! brute-force oracle on random histories.

use crate::monitor::sequential;
use crate::{describe, NotLinearizable};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;
use tidekv::history::{History, OpRecord, Outcome};
use tidekv::node::{Key, Op, OpResult, Val};

/// Default bound on the (set, value) pairs remembered per key: about 200
/// bytes each, so at most some 200 MB; `tidekv verify --max-configs` changes
/// it.
pub const CONFIGS_MAX: usize = 1_000_000;

/// An operation as the search sees it.
struct Entry<'a, V> {
    rec: &'a OpRecord<V>,
    call: u64,
    /// `None` for an operation of unknown outcome.
    ret: Option<(u64, &'a OpResult<V>)>,
}

impl<V: Val> Entry<'_, V> {
    /// The value the key must hold when this operation takes effect, if its
    /// answer says exactly.
    fn requires(&self) -> Option<Option<V>> {
        match (&self.rec.op, self.ret?.1) {
            (Op::Get(_), OpResult::Value(v)) => Some(v.clone()),
            (Op::Modify(..), OpResult::Modified(p)) => Some(Some(p.clone())),
            (Op::Insert(..), OpResult::Ok) | (Op::Modify(..), OpResult::Absent) => Some(None),
            _ => None,
        }
    }

    /// The value this operation may leave, if it may write.
    fn provides(&self) -> Option<Option<V>> {
        let wrote = self.ret.is_none_or(|(_, r)| r.wrote(&self.rec.op));
        match &self.rec.op {
            Op::Put(_, v) | Op::Insert(_, v) | Op::Modify(_, v) if wrote => Some(Some(v.clone())),
            Op::Delete(_) => Some(None),
            _ => None,
        }
    }
}

/// Where the search gives up: after `configs` remembered (set, value) pairs
/// on a key, or at `deadline`.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    pub configs: usize,
    pub deadline: Option<Instant>,
}

/// Linearizability of a whole history, key by key, with at most
/// `max_configs` remembered (set, value) pairs per key. A violated key wins
/// over an undecided one.
pub fn linearizability<V: Val>(history: &History<V>, max_configs: usize) -> Result<(), NotLinearizable> {
    linearizability_bounded(
        history,
        Bound {
            configs: max_configs,
            deadline: None,
        },
    )
}

/// [`linearizability`] that also gives up at `bound.deadline`: the keys not
/// decided by then are undecided.
pub fn linearizability_bounded<V: Val>(history: &History<V>, bound: Bound) -> Result<(), NotLinearizable> {
    let mut by_key: BTreeMap<Key, Vec<&OpRecord<V>>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.op.key()).or_default().push(op);
    }
    let mut unknown = None;
    for (key, ops) in by_key {
        match check_key(key, &ops, bound) {
            Ok(()) => {}
            Err(NotLinearizable::Violated(why)) => return Err(NotLinearizable::Violated(why)),
            Err(NotLinearizable::Unknown(why)) => {
                unknown.get_or_insert(why);
            }
        }
    }
    unknown.map_or(Ok(()), |why| Err(NotLinearizable::Unknown(why)))
}

/// The search on the operations of one key.
pub fn check_key<V: Val>(key: Key, ops: &[&OpRecord<V>], bound: Bound) -> Result<(), NotLinearizable> {
    // Operations with an answer first (ids 0..d), then those of unknown
    // outcome (d..n), each part in invocation order.
    let mut definite: Vec<Entry<V>> = Vec::new();
    let mut unknown: Vec<Entry<V>> = Vec::new();
    for &rec in ops {
        let call = rec.invoke_time();
        match (rec.outcome(), &rec.ret) {
            (Outcome::Fail, Some(r)) if r.result == OpResult::Unavailable => {} // never sent
            (Outcome::Fail, Some(r)) if r.result == OpResult::Busy => {}        // never sent: a full FE queue
            (Outcome::Info, _) if !rec.op.is_write() => {}                      // no effect
            (Outcome::Info, _) => unknown.push(Entry { rec, call, ret: None }),
            (_, Some(r)) => definite.push(Entry {
                rec,
                call,
                ret: Some((rec.return_time().expect("answered"), &r.result)),
            }),
            (_, None) => unreachable!("an operation without an answer is of unknown outcome"),
        }
    }
    definite.sort_by_key(|e| e.call);
    unknown.sort_by_key(|e| e.call);
    let d = definite.len();
    let entries: Vec<Entry<V>> = definite.into_iter().chain(unknown).collect();
    let mut search = Search::new(&entries, d);
    search.run(bound).map_err(|fail| match fail {
        Fail::Violated { deepest, stuck } => NotLinearizable::Violated(format!(
            "k{key}: {} cannot be linearized (at best {deepest} of the key's {d} answered operations linearize)",
            describe(entries[stuck].rec)
        )),
        Fail::Crossed { reads, writes } => NotLinearizable::Violated(format!(
            "k{key}: {} and {} read the values of {} and {}, which must each take effect after the other",
            describe(entries[reads.0].rec),
            describe(entries[reads.1].rec),
            describe(entries[writes.0].rec),
            describe(entries[writes.1].rec)
        )),
        Fail::GaveUp { configs, timeout } => {
            let (concurrent, of_unknown) = concurrency(&entries);
            let why = if timeout {
                format!("gave up at the time limit after {configs} configurations")
            } else {
                format!("gave up after {configs} configurations")
            };
            NotLinearizable::Unknown(format!(
                "k{key}: {why}, with up to {concurrent} operations concurrent on the key ({of_unknown} of unknown outcome)"
            ))
        }
    })
}

/// The most operations open at once on the key (those of unknown outcome
/// stay open to the end), and how many are of unknown outcome.
fn concurrency<V>(entries: &[Entry<V>]) -> (usize, usize) {
    let mut events: Vec<(u64, i64)> = Vec::with_capacity(2 * entries.len());
    let mut of_unknown = 0;
    for e in entries {
        events.push((e.call, 1));
        match e.ret {
            Some((t, _)) => events.push((t, -1)),
            None => of_unknown += 1,
        }
    }
    events.sort_unstable();
    let mut open = 0i64;
    let mut most = 0i64;
    for (_, delta) in events {
        open += delta;
        most = most.max(open);
    }
    (most as usize, of_unknown)
}

enum Fail {
    /// No linearization: the most answered operations any partial one held,
    /// and the operation that then could not go next.
    Violated { deepest: usize, stuck: usize },
    /// Two operations need the values of two writes, each the only write of
    /// its value, and each write must precede the other's reader: see
    /// [`crossed`].
    Crossed {
        reads: (usize, usize),
        writes: (usize, usize),
    },
    /// Past the bound: how many configurations, and whether the time ran out.
    GaveUp { configs: usize, timeout: bool },
}

/// Two answers that no order can give, found before any search: operations
/// `r1` and `r2` need values `v1 != v2` ([`Entry::requires`]), each written
/// by exactly one operation on the key, `p1` and `p2`, both answered; and
/// `p2` returned before `r1` was invoked, `p1` before `r2`. Then `p2` goes
/// before `r1` and leaves `v2`, so `p1` must take effect between `p2` and
/// `r1`: after `p2`; and likewise `p2` after `p1`. Histories of concurrent
/// writes of unique values, with later reads that disagree on which came
/// last, are decided this way at once rather than by trying every order of
/// the writes. Returns `((r1, r2), (p1, p2))`.
fn crossed<V: Val>(entries: &[Entry<V>], d: usize) -> Option<((usize, usize), (usize, usize))> {
    let mut providers: HashMap<Option<V>, (u32, usize)> = HashMap::new();
    let mut last_reader: HashMap<Option<V>, (u64, usize)> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(v) = e.provides() {
            let p = providers.entry(v).or_insert((0, i));
            p.0 += 1;
        }
        if let Some(v) = e.requires() {
            let r = last_reader.entry(v).or_insert((e.call, i));
            if e.call > r.0 {
                *r = (e.call, i);
            }
        }
    }
    // Per value read: (the provider's return, the last reader's invocation),
    // where that provider is the only one, answered, not the reader itself,
    // and returned before the reader was invoked.
    let mut spans: Vec<(u64, u64, usize, usize)> = last_reader
        .iter()
        .filter_map(|(v, &(call, r))| {
            let &(n, p) = providers.get(v)?;
            let returned = entries[p].ret.filter(|_| n == 1 && p < d && p != r)?.0;
            (returned < call).then_some((returned, call, p, r))
        })
        .collect();
    spans.sort_unstable();
    // Two spans overlap: each provider returned before the other's reader.
    let mut widest: Option<(u64, usize, usize)> = None;
    for &(start, end, p, r) in &spans {
        if let Some((w_end, w_p, w_r)) = widest {
            if start < w_end {
                return Some(((w_r, r), (w_p, p)));
            }
        }
        if widest.is_none_or(|(w_end, _, _)| end > w_end) {
            widest = Some((end, p, r));
        }
    }
    None
}

/// One level of the depth-first search: the operations that may go next,
/// the next one to try, and the one linearized from here (with the value
/// before it) while the search is below.
struct Level<V> {
    candidates: Vec<u32>,
    next: usize,
    chosen: Option<(u32, Option<V>)>,
}

struct Search<'e, 'a, V> {
    entries: &'e [Entry<'a, V>],
    /// Number of operations with an answer (ids `0..d`).
    d: usize,
    linearized: Vec<bool>,
    /// Smallest id not linearized.
    lo: u32,
    /// Linearized ids above `lo`.
    above: BTreeSet<u32>,
    /// Answered operations not linearized, by return time.
    open: BTreeSet<(u64, u32)>,
    value: Option<V>,
    /// Per value: how many operations not linearized need the key to hold
    /// it ([`Entry::requires`]), and how many may still write it.
    needed: HashMap<Option<V>, u32>,
    providers: HashMap<Option<V>, u32>,
    /// The values needed that nothing left can write: if one of them is not
    /// the current value, no linearization can follow.
    starved: HashSet<Option<V>>,
}

impl<'e, 'a, V: Val> Search<'e, 'a, V> {
    fn new(entries: &'e [Entry<'a, V>], d: usize) -> Self {
        let open = entries[..d]
            .iter()
            .enumerate()
            .map(|(i, e)| (e.ret.expect("answered").0, i as u32))
            .collect();
        let mut search = Search {
            entries,
            d,
            linearized: vec![false; entries.len()],
            lo: 0,
            above: BTreeSet::new(),
            open,
            value: None,
            needed: HashMap::new(),
            providers: HashMap::new(),
            starved: HashSet::new(),
        };
        for x in 0..entries.len() as u32 {
            search.count(x, 1);
        }
        search
    }

    /// Adds `delta` to what operation `x` needs and provides.
    fn count(&mut self, x: u32, delta: i32) {
        let e = &self.entries[x as usize];
        let touched = [(e.requires(), true), (e.provides(), false)];
        for (v, need) in touched {
            let Some(v) = v else { continue };
            let map = if need { &mut self.needed } else { &mut self.providers };
            let n = map.entry(v.clone()).or_insert(0);
            *n = n.checked_add_signed(delta).expect("counts stay non-negative");
            let starved = self.needed.get(&v).is_some_and(|n| *n > 0) && self.providers.get(&v).is_none_or(|n| *n == 0);
            if starved {
                self.starved.insert(v);
            } else {
                self.starved.remove(&v);
            }
        }
    }

    /// Whether no linearization can follow from here with `value`: some
    /// operation still to go needs a value that the key does not hold and
    /// nothing left can write.
    fn dead(&self, value: &Option<V>) -> bool {
        match self.starved.len() {
            0 => false,
            1 => !self.starved.contains(value),
            _ => true,
        }
    }

    /// The operations that may go next: not linearized, and invoked before
    /// the earliest return of an answered operation not linearized.
    /// Answered ones first.
    ///
    /// One that leaves the value as it is whatever it is applied to, given
    /// its answer (a `Get`, an `Insert` answered `Exists`, a `Modify`
    /// answered `Absent`), and gets its answer now, is the only candidate:
    /// any linearization that places it later stays one with it moved here
    /// (nothing still to go must precede it in real time, since it is a
    /// candidate, and it changes no value).
    fn candidates(&self) -> Vec<u32> {
        let Some(&(horizon, _)) = self.open.first() else {
            return Vec::new();
        };
        let before = |part: &[Entry<V>]| part.partition_point(|e| e.call < horizon);
        let first = before(&self.entries[..self.d]);
        let later = self.d + before(&self.entries[self.d..]);
        let mut out = Vec::new();
        for i in (self.lo as usize..first).chain(self.d..later) {
            if self.linearized[i] {
                continue;
            }
            let e = &self.entries[i];
            if let Some((_, answer)) = e.ret {
                let read_only = matches!(
                    (&e.rec.op, answer),
                    (Op::Get(_), _) | (Op::Insert(..), OpResult::Exists) | (Op::Modify(..), OpResult::Absent)
                );
                if read_only && sequential(&self.value, &e.rec.op).1 == *answer {
                    return vec![i as u32];
                }
            }
            out.push(i as u32);
        }
        out
    }

    fn mark(&mut self, x: u32) {
        self.linearized[x as usize] = true;
        self.count(x, -1);
        if let Some((t, _)) = self.entries[x as usize].ret {
            self.open.remove(&(t, x));
        }
        if x == self.lo {
            self.lo += 1;
            while (self.lo as usize) < self.linearized.len() && self.linearized[self.lo as usize] {
                self.above.remove(&self.lo);
                self.lo += 1;
            }
        } else {
            self.above.insert(x);
        }
    }

    fn unmark(&mut self, x: u32) {
        self.linearized[x as usize] = false;
        self.count(x, 1);
        if let Some((t, _)) = self.entries[x as usize].ret {
            self.open.insert((t, x));
        }
        if x > self.lo {
            self.above.remove(&x);
        } else {
            self.above.extend(x + 1..self.lo);
            self.lo = x;
        }
    }

    /// What the search remembers: the linearized set and the value.
    fn memo_key(&self, value: &Option<V>) -> (Vec<u32>, Option<V>) {
        let mut set = Vec::with_capacity(self.above.len() + 1);
        set.push(self.lo);
        set.extend(self.above.iter().copied());
        (set, value.clone())
    }

    fn run(&mut self, bound: Bound) -> Result<(), Fail> {
        if self.open.is_empty() {
            return Ok(());
        }
        if let Some((reads, writes)) = crossed(self.entries, self.d) {
            return Err(Fail::Crossed { reads, writes });
        }
        if self.dead(&self.value) {
            // An answer no write on the key can explain: name it.
            let stuck = (0..self.d)
                .find(|&i| {
                    self.entries[i]
                        .requires()
                        .is_some_and(|v| v != self.value && self.starved.contains(&v))
                })
                .unwrap_or(0);
            return Err(Fail::Violated { deepest: 0, stuck });
        }
        let mut seen: HashSet<(Vec<u32>, Option<V>)> = HashSet::new();
        let mut levels = vec![Level {
            candidates: self.candidates(),
            next: 0,
            chosen: None,
        }];
        // The deepest partial linearization, for the explanation.
        let mut deepest = (0usize, self.open.first().map_or(0, |&(_, i)| i as usize));
        while let Some(level) = levels.last_mut() {
            if let Some((x, before)) = level.chosen.take() {
                self.unmark(x);
                self.value = before;
            }
            let Some(&x) = level.candidates.get(level.next) else {
                levels.pop();
                continue;
            };
            level.next += 1;
            let e = &self.entries[x as usize];
            let (value, answer) = sequential(&self.value, &e.rec.op);
            if e.ret.is_some_and(|(_, r)| *r != answer) {
                continue;
            }
            self.mark(x);
            if self.dead(&value) || !seen.insert(self.memo_key(&value)) {
                self.unmark(x);
                continue;
            }
            if seen.len() > bound.configs {
                return Err(Fail::GaveUp {
                    configs: bound.configs,
                    timeout: false,
                });
            }
            if seen.len() % 1024 == 0 && bound.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Fail::GaveUp {
                    configs: seen.len(),
                    timeout: true,
                });
            }
            level.chosen = Some((x, std::mem::replace(&mut self.value, value)));
            let Some(&(_, stuck)) = self.open.first() else {
                return Ok(());
            };
            let done = self.d - self.open.len();
            if done > deepest.0 {
                deepest = (done, stuck as usize);
            }
            levels.push(Level {
                candidates: self.candidates(),
                next: 0,
                chosen: None,
            });
        }
        Err(Fail::Violated {
            deepest: deepest.0,
            stuck: deepest.1,
        })
    }
}
