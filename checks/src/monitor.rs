//! The properties as an online monitor: fed a history's events in time order,
//! it keeps only what future events can still depend on, in canonical form.
//!
//! This is how the properties are written once for both uses: the model keeps
//! a [`Monitor`] in its state (two paths whose histories differ only in
//! timings that no longer matter reach the *same* state, so stateright merges
//! them), and the batch functions of this crate feed a recorded history
//! through the same monitor.
//!
//! # Linearizability
//! Per key, the monitor keeps the set of *configurations* still possible: the
//! register's value, the pending operations already linearized (with the
//! answer they were assumed to get), and the operations of unknown outcome
//! not yet applied. When an operation returns, every configuration is
//! extended by linearizing open operations, in any order, until the returning
//! one is linearized with the answer it actually got; configurations that
//! cannot are dropped, and if none is left the history is not linearizable.
//! Linearizability is local (Herlihy & Wing), so keys are independent. An
//! operation answered `Unavailable` (or never answered) may take effect at
//! any later point, or never.
//!
//! # Lost writes
//! Per key, the *candidates*: writes whose effect a server may legitimately
//! hold now. A write stops being a candidate when an acknowledged write that
//! was invoked after it returned itself returns (it is superseded), or when
//! it fails. The initial absent value is a candidate that returned at time 0.

use std::collections::BTreeSet;
use tidekv::node::{ClientId, Key, Op, OpResult, Tag, Val, VecMap, VecSet};
use tidekv::topology::Latency;

/// Identity of a write: (client, tag); the initial value is `(u16::MAX, 0)`.
pub type WriteId = (u16, Tag);
const INITIAL: WriteId = (u16::MAX, 0);
/// Names of finished writes in canonical form count down from here
/// ([`Monitor::canonical_write_names`]); client numbers stay far below.
const FINISHED: u16 = u16::MAX - 1;

/// Default bound on configurations per key: a history that needs more is
/// reported as not checkable rather than exhausting memory
/// ([`Flags::gave_up`]); [`Monitor::with_max_configs`] changes it.
pub const CONFIGS_MAX: usize = 100_000;

/// An operation in flight.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pending<V> {
    pub tag: Tag,
    pub op: Op<V>,
    pub invoke: u32,
    /// Candidate writes that had returned when this write was invoked: what
    /// it supersedes if it is acknowledged.
    supersedes: Vec<WriteId>,
    /// For a `Get`: values of acknowledged writes returned before it.
    acked_before: Vec<Option<V>>,
    /// Crashes seen when it was invoked.
    crashes_at_invoke: u32,
    /// Cycles it may wait in an FE queue (`--slots`): `⌊ahead / K⌋` for
    /// the `ahead` requests queued before it when it arrived
    /// ([`Monitor::allow`]); 0 without queues.
    pub extra: u32,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Config<V> {
    value: Option<V>,
    /// Pending ops linearized, with the answer assumed: sorted by client.
    lin: Vec<(u16, OpResult<V>)>,
    /// Writes of unknown outcome not yet applied: sorted.
    floating: Vec<Op<V>>,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Cand<V> {
    effect: Option<V>,
    returned: bool,
    acked: bool,
}

/// A finished candidate write as its canonical name sees it: what it holds,
/// and which pending writes (in client order) supersede it.
type Finished<V> = (Cand<V>, Vec<bool>);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct KeyState<V> {
    configs: VecSet<Config<V>>,
    cands: VecMap<WriteId, Cand<V>>,
    has_acked: bool,
    /// With `stale-reads` on: per value a superseded candidate held, the
    /// last cycle it was superseded in (empty otherwise).
    superseded: VecMap<Option<V>, u32>,
}

impl<V: Val> KeyState<V> {
    fn new() -> Self {
        let config = Config {
            value: None,
            lin: Vec::new(),
            floating: Vec::new(),
        };
        let initial = Cand {
            effect: None,
            returned: true,
            acked: false,
        };
        KeyState {
            configs: VecSet::from([config]),
            cands: VecMap::from([(INITIAL, initial)]),
            has_acked: false,
            superseded: VecMap::new(),
        }
    }
}

/// Sticky verdicts and reached-flags.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Flags {
    pub not_linearizable: bool,
    pub latency_violated: bool,
    pub unavailable: bool,
    /// A `Get` returned a value an acknowledged write returned before it wrote.
    pub write_then_read: bool,
    /// An operation completed with an answer other than `Unavailable`.
    pub completed: bool,
    /// An operation invoked after a crash completed with a real answer.
    pub answered_after_crash: bool,
    /// The linearizability search gave up (more configurations than the
    /// bound). `not_linearizable` is set too, so that the model, which never
    /// reaches the bound, keeps its verdicts; offline checks read this flag
    /// to say "unknown" instead.
    pub gave_up: bool,
    /// A read returned a value superseded longer ago than the staleness
    /// bound (`stale-reads`).
    pub stale: bool,
    /// Set by the model from the caches' events: a read answered from a
    /// cache, a fill, a fill raced by an invalidation of its key.
    pub cache_hit: bool,
    pub cache_fill: bool,
    pub cache_raced: bool,
    /// A request was answered `Busy` (a full FE queue, `--queue`).
    pub busy: bool,
}

/// What queueing at the FE (`--slots K --queue Q`) changes in `latency`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Queueing {
    /// The exact latency of a `Busy` answer: the round trip to the root FE
    /// (2 per FE level).
    pub busy_cycles: u32,
    /// Cycles taken off each queued request's allowance (0; a test sets 1
    /// to show the derived bound is tight: then `latency` fails).
    pub tighten: u32,
}

/// What one crash may add to a queued request's wait, besides the
/// protocol's per-crash delay: a crash sends back to the front of a shard's
/// queue the requests in flight to the dead replica, at most two cycles'
/// worth (2K: those sent in the two cycles before the FE sees the death),
/// which delays every request behind them by at most 2 cycles.
pub const QUEUE_CRASH_CYCLES: u32 = 2;

/// The monitor's state.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Monitor<V> {
    pending: Vec<Option<Pending<V>>>,
    keys: VecMap<Key, KeyState<V>>,
    crashes: u32,
    /// The latencies the topology and protocol guarantee.
    latency: Latency,
    /// Bound on configurations per key ([`CONFIGS_MAX`] unless changed).
    max_configs: usize,
    /// `stale-reads`: the most cycles a read's value may have been
    /// superseded when the read is invoked; `None`: not checked.
    max_staleness: Option<u32>,
    /// FE queues, if the topology has them.
    queueing: Option<Queueing>,
    /// With FE queues: why `latency` failed, first (the queueing allowance
    /// is not in a recorded history, so the explanation is kept here).
    pub latency_note: Option<String>,
    pub flags: Flags,
}

/// The sequential map on one key: the new value and the answer.
pub fn sequential<V: Val>(state: &Option<V>, op: &Op<V>) -> (Option<V>, OpResult<V>) {
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

fn effect<V: Val>(op: &Op<V>) -> Option<Option<V>> {
    match op {
        Op::Put(_, v) | Op::Insert(_, v) | Op::Modify(_, v) => Some(Some(v.clone())),
        Op::Delete(_) => Some(None),
        Op::Get(_) => None,
    }
}

/// The latency bound the FE guarantees: the operation's failure-free
/// latency, plus the protocol's per-crash delay for each crash (two cycles
/// for most: one detection cycle and one retry hop).
pub fn latency_bound(latency: Latency, is_write: bool, crashes: u32) -> u32 {
    latency.bound(is_write, crashes)
}

/// Why a completed operation's latency breaks the rule, if it does.
pub fn latency_violation(took: u32, crashes: u32, latency: impl Into<Latency>, is_write: bool) -> Option<String> {
    let latency = latency.into();
    let base = latency.of(is_write);
    if !is_write && latency.hit != 0 && took == latency.hit {
        // A read answered from a level-0 FE's cache.
        return None;
    }
    if crashes == 0 && took != base {
        return Some(format!("took {took} cycles without failures, not {base}"));
    }
    let bound = latency_bound(latency, is_write, crashes);
    (took > bound).then(|| format!("took {took} cycles, over the bound {bound}"))
}

fn text<V: Val>(client: ClientId, op: &Op<V>, invoke: u32, ret: Option<(u32, &OpResult<V>)>) -> String {
    match ret {
        Some((c, r)) => format!("c{client} {op}={r} @{invoke}..{c}"),
        None => format!("c{client} {op} @{invoke}.."),
    }
}

impl<V: Val> Monitor<V> {
    /// A monitor for `clients` clients of a topology with these latencies
    /// (a plain number: the same for reads and writes).
    pub fn new(clients: usize, latency: impl Into<Latency>) -> Self {
        Monitor {
            pending: vec![None; clients],
            keys: VecMap::new(),
            crashes: 0,
            latency: latency.into(),
            max_configs: CONFIGS_MAX,
            max_staleness: None,
            queueing: None,
            latency_note: None,
            flags: Flags::default(),
        }
    }

    /// The same monitor checking `stale-reads` with bound `t` cycles: a
    /// read invoked at cycle `i` may return a value superseded at cycle `s`
    /// (an acknowledged write invoked after the value's write returned
    /// itself returned at `s`: the value was current at `s − 1` at the
    /// latest) only if its staleness `i − s + 1` is at most `t`. With `t =
    /// 0` no read may miss an acknowledged write.
    pub fn with_max_staleness(mut self, t: Option<u32>) -> Self {
        self.max_staleness = t;
        self
    }

    /// The same monitor for a topology whose root FE queues requests
    /// (`--slots`): latencies are checked against the queueing bound.
    pub fn with_queueing(mut self, q: Queueing) -> Self {
        self.queueing = Some(q);
        self
    }

    /// Client `c`'s pending request arrived at the root FE behind `ahead`
    /// queued requests of its shard, served `slots` per cycle: it may wait
    /// `⌊ahead / slots⌋` cycles more than the failure-free latency.
    pub fn allow(&mut self, c: ClientId, ahead: u32, slots: u32) {
        assert!(slots > 0, "a queue serves at least one request per cycle");
        let tighten = self.queueing.map_or(0, |q| q.tighten);
        if let Some(p) = &mut self.pending[c] {
            p.extra = (ahead / slots).saturating_sub(tighten);
        }
    }

    /// The longest operation `p` may take with `crashes` crashes by now.
    fn bound(&self, p: &Pending<V>) -> u32 {
        let queued = match self.queueing {
            Some(_) => p.extra + QUEUE_CRASH_CYCLES * self.crashes,
            None => 0,
        };
        latency_bound(self.latency, p.op.is_write(), self.crashes) + queued
    }

    /// Why `p`, answered `result` after `took` cycles, breaks `latency`.
    fn latency_of(&self, p: &Pending<V>, took: u32, result: &OpResult<V>) -> Option<String> {
        let Some(q) = self.queueing else {
            return latency_violation(took, self.crashes, self.latency, p.op.is_write());
        };
        if *result == OpResult::Busy {
            // Answered by the root FE the cycle the request arrived.
            return (took != q.busy_cycles)
                .then(|| format!("answered busy after {took} cycles, not {}", q.busy_cycles));
        }
        let exact = self.latency.of(p.op.is_write()) + p.extra;
        if self.crashes == 0 && took != exact {
            return Some(format!(
                "took {took} cycles without failures, not {exact} (queued {} cycles)",
                p.extra
            ));
        }
        let bound = self.bound(p);
        (took > bound).then(|| format!("took {took} cycles, over the bound {bound}"))
    }

    /// The same monitor with another bound on configurations per key.
    pub fn with_max_configs(mut self, max_configs: usize) -> Self {
        self.max_configs = max_configs;
        self
    }

    /// Number of clients.
    pub fn clients(&self) -> usize {
        self.pending.len()
    }

    pub fn crashes(&self) -> u32 {
        self.crashes
    }

    /// A node crashed (call before the returns of its cycle).
    pub fn crash(&mut self) {
        self.crashes += 1;
    }

    /// The operation client `c` has in flight.
    pub fn pending(&self, c: ClientId) -> Option<&Pending<V>> {
        self.pending[c].as_ref()
    }

    /// Client `c` invoked `op` at `cycle`.
    pub fn invoke(&mut self, cycle: u32, c: ClientId, tag: Tag, op: Op<V>) {
        assert!(
            self.pending[c].is_none(),
            "client {c} invoked with an operation in flight"
        );
        let ks = self.keys.get_or_insert_with(op.key(), KeyState::new);
        let mut supersedes = Vec::new();
        let mut acked_before = Vec::new();
        if let Some(e) = effect(&op) {
            supersedes = ks.cands.iter().filter(|(_, c)| c.returned).map(|(id, _)| *id).collect();
            ks.cands.insert(
                (c as u16, tag),
                Cand {
                    effect: e,
                    returned: false,
                    acked: false,
                },
            );
        } else {
            acked_before = ks
                .cands
                .values()
                .filter(|c| c.acked && c.returned)
                .map(|c| c.effect.clone())
                .collect();
        }
        self.pending[c] = Some(Pending {
            tag,
            op,
            invoke: cycle,
            supersedes,
            acked_before,
            crashes_at_invoke: self.crashes,
            extra: 0,
        });
    }

    /// Client `c`'s operation returned at `cycle` with `result`. Returns the
    /// violations it reveals: `(property, explanation)`.
    pub fn ret(&mut self, cycle: u32, c: ClientId, tag: Tag, result: OpResult<V>) -> Vec<(&'static str, String)> {
        let p = self.pending[c].take().expect("a return matches a pending operation");
        assert_eq!(p.tag, tag, "client {c}: return for tag {tag}, pending {}", p.tag);
        let mut out = Vec::new();
        let key = p.op.key();
        let desc = || text(c, &p.op, p.invoke, Some((cycle, &result)));
        if let Some(why) = self.latency_of(&p, cycle - p.invoke, &result) {
            if self.queueing.is_some() && self.latency_note.is_none() {
                self.latency_note = Some(format!("{} {why}", desc()));
            }
            self.flags.latency_violated = true;
            out.push((crate::LATENCY, format!("{} {why}", desc())));
        }
        if result == OpResult::Busy {
            // An answer the client may retry: not `Unavailable`, not a
            // completion either.
            self.flags.busy = true;
        } else if result == OpResult::Unavailable {
            self.flags.unavailable = true;
            out.push((crate::AVAILABLE, format!("{} was answered unavailable", desc())));
        } else {
            self.flags.completed = true;
            if p.crashes_at_invoke > 0 {
                self.flags.answered_after_crash = true;
            }
        }
        if let (Op::Get(_), OpResult::Value(Some(v))) = (&p.op, &result) {
            if p.acked_before.contains(&Some(v.clone())) {
                self.flags.write_then_read = true;
            }
        }
        let ks = self.keys.get_mut(&key).expect("the key was seen at invoke");
        // Lost writes: candidates.
        if p.op.is_write() {
            let id = (c as u16, tag);
            if result == OpResult::Unavailable {
                // Unknown outcome: stays a candidate, never superseded.
            } else if result.wrote(&p.op) {
                if let Some(cand) = ks.cands.get_mut(&id) {
                    cand.returned = true;
                    cand.acked = true;
                }
                ks.has_acked = true;
                for s in &p.supersedes {
                    let gone = ks.cands.remove(s);
                    if let (Some(gone), Some(_)) = (gone, self.max_staleness) {
                        let last = ks.superseded.get_or_insert_with(gone.effect, || cycle);
                        *last = (*last).max(cycle);
                    }
                }
            } else {
                ks.cands.remove(&id);
            }
        }
        // Staleness.
        if let (Some(t), Op::Get(_), OpResult::Value(v)) = (self.max_staleness, &p.op, &result) {
            let current = ks.cands.values().any(|c| &c.effect == v);
            if let (false, Some(&s)) = (current, ks.superseded.get(v)) {
                let stale = (p.invoke + 1).saturating_sub(s);
                if stale > t {
                    self.flags.stale = true;
                    out.push((
                        crate::STALE_READS,
                        format!(
                            "{} read a value superseded at cycle {s}: {stale} cycles stale, over the bound {t}",
                            desc()
                        ),
                    ));
                }
            }
        }
        // Linearizability.
        if !self.flags.not_linearizable {
            let me = c as u16;
            let mut open: Vec<(u16, Op<V>)> = Vec::with_capacity(self.pending.len() + 1);
            open.extend(self.pending.iter().enumerate().filter_map(|(d, x)| {
                x.as_ref()
                    .filter(|x| x.op.key() == key)
                    .map(|x| (d as u16, x.op.clone()))
            }));
            open.push((me, p.op.clone()));
            let configs = std::mem::take(&mut ks.configs);
            let next = if result == OpResult::Busy {
                // Never sent: it did not take effect. Configurations that
                // assumed a write of it applied are impossible; a read
                // assumed linearized changed nothing and is forgotten.
                Ok(configs
                    .into_iter()
                    .filter_map(|mut cfg| match cfg.lin.iter().position(|(d, _)| *d == me) {
                        Some(_) if p.op.is_write() => None,
                        Some(i) => {
                            cfg.lin.remove(i);
                            Some(cfg)
                        }
                        None => Some(cfg),
                    })
                    .collect())
            } else if result == OpResult::Unavailable {
                Ok(configs
                    .into_iter()
                    .map(|mut cfg| {
                        if let Some(i) = cfg.lin.iter().position(|(d, _)| *d == me) {
                            cfg.lin.remove(i);
                        } else if p.op.is_write() {
                            let at = cfg.floating.partition_point(|x| x < &p.op);
                            cfg.floating.insert(at, p.op.clone());
                        }
                        cfg
                    })
                    .collect())
            } else {
                linearize(configs, &open, me, &result, self.max_configs)
            };
            match next {
                Ok(n) if !n.is_empty() => ks.configs = n,
                Ok(_) => {
                    self.flags.not_linearizable = true;
                    let others: Vec<String> = self
                        .pending
                        .iter()
                        .enumerate()
                        .filter_map(|(d, x)| {
                            x.as_ref()
                                .filter(|x| x.op.key() == key)
                                .map(|x| text(d, &x.op, x.invoke, None))
                        })
                        .collect();
                    let open = if others.is_empty() {
                        String::new()
                    } else {
                        format!(" (open: {})", others.join(", "))
                    };
                    out.push((
                        crate::LINEARIZABLE,
                        format!("k{key}: {} cannot be linearized{open}", desc()),
                    ));
                }
                Err(e) => {
                    self.flags.not_linearizable = true;
                    self.flags.gave_up = true;
                    out.push((crate::LINEARIZABLE, format!("k{key}: {e}")));
                }
            }
            if self.flags.not_linearizable {
                // The verdict is settled: forget the configurations so that
                // violating states differing only there are one state.
                for ks in self.keys.values_mut() {
                    ks.configs.clear();
                }
            }
        }
        out
    }

    /// `latency` and `available` for the operations still in flight at cycle
    /// `now` (the cycle about to execute): none may be older than the bound.
    pub fn check_pending(&self, now: u32) -> Result<(), String> {
        for (c, p) in self.pending.iter().enumerate() {
            if let Some(p) = p {
                let bound = self.bound(p);
                if now - p.invoke > bound {
                    return Err(format!(
                        "{} still pending at cycle {now}, over the bound {bound}",
                        text(c, &p.op, p.invoke, None)
                    ));
                }
            }
        }
        Ok(())
    }

    /// `no-lost-writes` on a cluster state: for every key with an
    /// acknowledged write, some live server holds a candidate's effect.
    /// `stores`: `(name, settled store)` of every live server.
    pub fn no_lost_writes(&self, stores: &[crate::StoreView<'_, V>]) -> Result<(), String> {
        for (key, ks) in self.keys.iter() {
            if !ks.has_acked {
                continue;
            }
            let held = stores.iter().any(|(_, st)| {
                let v = st.get(key);
                ks.cands.values().any(|c| c.effect.as_ref() == v)
            });
            if !held {
                let show = |v: Option<&V>| v.map_or("absent".to_string(), |v| format!("{v:?}"));
                let allowed: Vec<String> = ks.cands.values().map(|c| show(c.effect.as_ref())).collect();
                let holders: Vec<String> = stores
                    .iter()
                    .map(|(n, s)| format!("{n} holds {}", show(s.get(key))))
                    .collect();
                let holders = if holders.is_empty() {
                    "no server is alive".to_string()
                } else {
                    holders.join(", ")
                };
                return Err(format!(
                    "k{key}: an acknowledged write is lost: {holders}; one of them should hold one of [{}]",
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether some key has an acknowledged write.
    pub fn any_acked(&self) -> bool {
        self.keys.values().any(|k| k.has_acked)
    }

    /// What the monitor records under client `c`'s name once it has nothing
    /// in flight: per key, its writes still candidates (tag, effect,
    /// returned, acknowledged), in key then tag order. Two such clients with
    /// the same footprint are interchangeable in the monitor.
    pub fn footprint(&self, c: ClientId) -> Vec<(Key, Tag, Option<V>, bool, bool)> {
        let mut out = Vec::new();
        for (key, ks) in self.keys.iter() {
            for (&(d, tag), cand) in ks.cands.iter() {
                if d as usize == c {
                    out.push((*key, tag, cand.effect.clone(), cand.returned, cand.acked));
                }
            }
        }
        out
    }

    /// Renames the candidate writes of finished operations canonically.
    ///
    /// A finished write's name `(client, tag)` is read again only through
    /// the lists of what pending writes supersede (its client has moved on,
    /// and every later invocation supersedes all returned candidates alike).
    /// So finished candidates are renamed in the order of (key, what they
    /// hold, which pending writes supersede them), and two with equal such
    /// data are merged: they stand or fall together, and `no-lost-writes`
    /// reads only the values the candidates hold. Monitors that differ only
    /// in who wrote what, long ago, become equal.
    ///
    /// Canonical names are reused from state to state, so a pending
    /// write's list first drops what names no candidate any more (a write
    /// superseded already): renamed, such a name could become another
    /// write's. (In a monitor that was never renamed, names are never
    /// reused and dropping first or last is the same.)
    pub fn canonical_write_names(&mut self) {
        for p in self.pending.iter_mut().flatten() {
            let cands = self.keys.get(&p.op.key()).map(|ks| &ks.cands);
            p.supersedes.retain(|w| cands.is_some_and(|c| c.get(w).is_some()));
        }
        let live: Vec<WriteId> = self
            .pending
            .iter()
            .enumerate()
            .filter_map(|(c, p)| p.as_ref().map(|p| (c as u16, p.tag)))
            .collect();
        let pending: Vec<usize> = (0..self.pending.len()).filter(|&c| self.pending[c].is_some()).collect();
        // Per key: (key, old name, new name). The initial value's name is
        // the same on every key, so a name alone does not say which write.
        let mut renames: Vec<(Key, WriteId, WriteId)> = Vec::new();
        let mut next = 0u16;
        for (key, ks) in self.keys.iter_mut() {
            // Per finished candidate: (what it holds, which pending ops supersede it), its name.
            let mut finished: Vec<(Finished<V>, WriteId)> = ks
                .cands
                .iter()
                .filter(|(id, _)| !live.contains(id))
                .map(|(id, cand)| {
                    let by: Vec<bool> = pending
                        .iter()
                        .map(|&c| self.pending[c].as_ref().is_some_and(|p| p.supersedes.contains(id)))
                        .collect();
                    ((cand.clone(), by), *id)
                })
                .collect();
            if finished.is_empty() {
                continue;
            }
            finished.sort();
            let mut cands: Vec<(WriteId, Cand<V>)> = ks
                .cands
                .iter()
                .filter(|(id, _)| live.contains(id))
                .map(|(id, c)| (*id, c.clone()))
                .collect();
            let mut prev: Option<&Finished<V>> = None;
            for (data, old) in &finished {
                if prev != Some(data) {
                    next += 1;
                    cands.push(((FINISHED - next, 0), data.0.clone()));
                }
                renames.push((*key, *old, (FINISHED - next, 0)));
                prev = Some(data);
            }
            ks.cands = cands.into_iter().collect();
        }
        renames.sort();
        for p in self.pending.iter_mut().flatten() {
            // Read only by `contains`: as a set, whoever wrote the values.
            p.acked_before.sort_unstable();
            p.acked_before.dedup();
            let key = p.op.key();
            for w in &mut p.supersedes {
                if let Ok(i) = renames.binary_search_by(|(k, old, _)| (*k, *old).cmp(&(key, *w))) {
                    *w = renames[i].2;
                }
            }
            p.supersedes.sort_unstable();
            p.supersedes.dedup();
        }
    }

    /// Passes `f` the values of the pending operations and of the
    /// linearizability configurations: what no renaming of clients or of
    /// finished writes' names changes the number of (the model's value
    /// symmetry orders values by such counts).
    pub fn each_stable_value(&self, f: &mut dyn FnMut(&V)) {
        let result = |r: &OpResult<V>, f: &mut dyn FnMut(&V)| match r {
            OpResult::Value(Some(v)) | OpResult::Modified(v) => f(v),
            _ => {}
        };
        for p in self.pending.iter().flatten() {
            p.op.value().into_iter().for_each(&mut *f);
        }
        for ks in self.keys.values() {
            for c in ks.configs.iter() {
                c.value.iter().for_each(&mut *f);
                c.lin.iter().for_each(|(_, r)| result(r, f));
                c.floating.iter().filter_map(|op| op.value()).for_each(&mut *f);
            }
        }
    }

    /// Passes every value the monitor remembers through `f` (a renaming of
    /// the values: the model's value symmetry), then puts back in order
    /// what is kept sorted by value. The checks compare values only for
    /// equality, so the renamed monitor accepts and rejects the renamed
    /// histories, and it is the monitor the renamed history builds (what
    /// is kept in arrival order stays so). Finished writes' canonical names
    /// ([`Monitor::canonical_write_names`]) follow the order of what they
    /// hold: call it again for a canonical form.
    pub fn rename_values(&mut self, mut f: &mut dyn FnMut(&mut V)) {
        use tidekv::node::values::Values;
        for p in self.pending.iter_mut().flatten() {
            p.op.each_value(&mut f);
            // In the order of the returns (the renamed history's order too).
            p.acked_before.iter_mut().flatten().for_each(&mut f);
        }
        for ks in self.keys.values_mut() {
            ks.configs = std::mem::take(&mut ks.configs)
                .into_iter()
                .map(|mut c| {
                    if let Some(v) = &mut c.value {
                        f(v);
                    }
                    c.lin.iter_mut().for_each(|(_, r)| r.each_value(&mut f));
                    c.floating.iter_mut().for_each(|op| op.each_value(&mut f));
                    c.floating.sort();
                    c
                })
                .collect();
            for cand in ks.cands.values_mut() {
                if let Some(v) = &mut cand.effect {
                    f(v);
                }
            }
            if !ks.superseded.is_empty() {
                ks.superseded = ks
                    .superseded
                    .iter()
                    .map(|(v, &at)| {
                        let mut v = v.clone();
                        if let Some(v) = &mut v {
                            f(v);
                        }
                        (v, at)
                    })
                    .collect();
            }
        }
    }

    /// The same monitor with client `c` renamed `to[c]` (`to` a permutation
    /// of the clients): what it records under each name moves to the new
    /// name, in canonical order. The monitor's checks treat client numbers
    /// as names only (configurations keep their linearized operations
    /// sorted by client for a canonical form, not for their meaning), so the
    /// renamed monitor accepts and rejects the same renamed histories.
    pub fn rename_clients(&self, to: &[usize]) -> Self {
        assert_eq!(to.len(), self.pending.len(), "a permutation of every client");
        // The initial value's and canonical names ([`Monitor::canonical_write_names`]) name no client.
        let id = |(c, tag): WriteId| match to.get(c as usize) {
            Some(&d) => (d as u16, tag),
            None => (c, tag),
        };
        let mut pending = vec![None; self.pending.len()];
        for (c, p) in self.pending.iter().enumerate() {
            pending[to[c]] = p.as_ref().map(|p| {
                let mut p = p.clone();
                for w in &mut p.supersedes {
                    *w = id(*w);
                }
                p.supersedes.sort_unstable();
                p
            });
        }
        let keys = self
            .keys
            .iter()
            .map(|(key, ks)| {
                let configs = ks
                    .configs
                    .iter()
                    .map(|cfg| {
                        let mut lin: Vec<(u16, OpResult<V>)> = cfg
                            .lin
                            .iter()
                            .map(|(d, r)| (to[*d as usize] as u16, r.clone()))
                            .collect();
                        lin.sort_unstable_by_key(|(d, _)| *d);
                        Config {
                            value: cfg.value.clone(),
                            lin,
                            floating: cfg.floating.clone(),
                        }
                    })
                    .collect();
                let cands = ks.cands.iter().map(|(w, c)| (id(*w), c.clone())).collect();
                let ks = KeyState {
                    configs,
                    cands,
                    has_acked: ks.has_acked,
                    superseded: ks.superseded.clone(),
                };
                (*key, ks)
            })
            .collect();
        Monitor {
            pending,
            keys,
            crashes: self.crashes,
            latency: self.latency,
            max_configs: self.max_configs,
            max_staleness: self.max_staleness,
            queueing: self.queueing,
            latency_note: self.latency_note.clone(),
            flags: self.flags,
        }
    }
}

/// Extends every configuration until client `me` is linearized with answer
/// `result`; returns the surviving configurations with `me` removed.
fn linearize<V: Val>(
    configs: VecSet<Config<V>>,
    open: &[(u16, Op<V>)],
    me: u16,
    result: &OpResult<V>,
    max_configs: usize,
) -> Result<VecSet<Config<V>>, String> {
    let mut done = Vec::new();
    let mut seen = BTreeSet::new();
    let floating = configs.iter().map(|c| c.floating.len()).max().unwrap_or(0);
    let mut stack: Vec<Config<V>> = configs.into_iter().collect();
    while let Some(cfg) = stack.pop() {
        if let Some(i) = cfg.lin.iter().position(|(d, _)| *d == me) {
            if &cfg.lin[i].1 == result {
                let mut c2 = cfg;
                c2.lin.remove(i);
                done.push(c2);
            }
            continue;
        }
        if seen.len() > max_configs {
            return Err(format!(
                "gave up after {max_configs} configurations, with {} operations concurrent on the key \
                 ({} open, {floating} of unknown outcome)",
                open.len() + floating,
                open.len()
            ));
        }
        if !seen.insert(cfg.clone()) {
            continue;
        }
        for (d, op) in open {
            if cfg.lin.iter().any(|(x, _)| x == d) {
                continue;
            }
            let (value, answer) = sequential(&cfg.value, op);
            let mut lin = Vec::with_capacity(cfg.lin.len() + 1);
            lin.extend_from_slice(&cfg.lin);
            let at = lin.partition_point(|(x, _)| x < d);
            lin.insert(at, (*d, answer));
            stack.push(Config {
                value,
                lin,
                floating: cfg.floating.clone(),
            });
        }
        for (i, f) in cfg.floating.iter().enumerate() {
            if i > 0 && cfg.floating[i - 1] == *f {
                continue; // identical floating writes are interchangeable
            }
            let mut floating = cfg.floating.clone();
            floating.remove(i);
            stack.push(Config {
                value: sequential(&cfg.value, f).0,
                lin: cfg.lin.clone(),
                floating,
            });
        }
    }
    Ok(done.into_iter().collect())
}
