//! A read cache at each level-0 front end (`--cache naive|lease|update`),
//! and the invalidations that keep the caches of several FEs apart from
//! going stale.
//!
//! # Where it sits
//! Only an FE whose children are clients and whose downstream is a parent FE
//! caches (so a cache needs `--levels 2` or more: every write then passes the
//! root, which tells the other subtrees). Each level-0 FE caches for its own
//! clients, up to `keys` entries.
//!
//! # Invalidations
//! The shard's answer to a write travels up the FE tree as usual. An FE that
//! broadcasts ([`super::fe::FeCtx::broadcast`]: every FE above level 0 when a
//! cache is on) copies each write answer it delivers, and each invalidation
//! it receives from its parent, to every child FE *not* behind which the
//! writer sits, in the writer's slot: a slot that never carries a response
//! on that link. The copy carries the key in its `version` field (`key + 1`;
//! versions never travel below the root otherwise) and the result `Ok`. So an
//! invalidation reaches every level-0 FE in the same cycle as the write's
//! answer reaches the writer's FE: one cycle before the writer's client
//! reads its acknowledgement. A write whose answer is `Unavailable` (it may
//! have taken effect) invalidates too.
//!
//! # One cycle of a caching FE ([`Fe::step_cached`])
//! 1. Read the parent's frame in slot order: an answer to an own client's
//!    read is a *fill*, an answer to an own client's write or an entry in
//!    another client's slot is an *invalidation* of its key. Apply them in
//!    the configured [`CacheOrder`]. A fill records the value (evicting the
//!    entry filled longest ago, lowest key first, when full); an
//!    invalidation removes the key and marks every read miss of that key in
//!    flight as raced.
//! 2. Answer each new `Get` whose key is cached (and, for `lease`, whose
//!    lease has not run out) at once: a *hit*, 2 cycles end to end. The
//!    parent must be alive (a cut-off FE serves nothing).
//! 3. Everything else goes through the ordinary FE step; each read it sends
//!    on is recorded as a miss.
//!
//! # Modes
//! - `naive`: look-aside as in memcache without leases. Every fill is kept.
//! - `lease`: a fill is kept only if no invalidation of its key arrived
//!   since its miss was sent (memcache's lease token, which the lockstep
//!   network makes a per-miss flag), and an entry serves only for
//!   `lease_cycles` cycles after its fill.
//! - `update`: as `naive`, but the writer's own FE writes the acknowledged
//!   value into its cache instead of removing it (write-through); the other
//!   FEs are invalidated as always, before the writer is acknowledged.

use super::fe::{Fe, FeCtx, Plan};
use super::{ClientId, Frame, Key, Op, OpResult, Outputs, Response, Slots, Tag, Val, VecMap};
use serde::{Deserialize, Serialize};

/// The three cache protocols.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    Naive,
    Lease,
    Update,
}

impl CacheMode {
    pub const ALL: [CacheMode; 3] = [CacheMode::Naive, CacheMode::Lease, CacheMode::Update];

    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Naive => "naive",
            CacheMode::Lease => "lease",
            CacheMode::Update => "update",
        }
    }

    pub fn parse(s: &str) -> Option<CacheMode> {
        CacheMode::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// In what order a caching FE applies the fills and invalidations that
/// arrive in one frame.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOrder {
    /// Slot (client) order: the order in which the shard served them.
    #[default]
    Slot,
    /// Every invalidation first, then the fills: the order that lets a fill
    /// of a value read just before a write outlive the write's invalidation
    /// (memcache's stale set). Kept to show that race and what `lease` does
    /// about it.
    InvalidationsFirst,
}

impl CacheOrder {
    pub fn name(self) -> &'static str {
        match self {
            CacheOrder::Slot => "slot",
            CacheOrder::InvalidationsFirst => "invalidations-first",
        }
    }

    pub fn parse(s: &str) -> Option<CacheOrder> {
        [CacheOrder::Slot, CacheOrder::InvalidationsFirst]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// Most entries a cache may hold (`--cache-keys`).
pub const CACHE_KEYS_MAX: usize = 1 << 20;

/// A cache's configuration: the same at every level-0 FE.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct CacheConfig {
    pub mode: CacheMode,
    /// Most entries per FE.
    pub keys: usize,
    /// `lease`: cycles an entry may serve after its fill.
    pub lease_cycles: u32,
    #[serde(default)]
    pub order: CacheOrder,
}

impl CacheConfig {
    /// `mode` with the defaults: 2 keys, leases of 8 cycles, slot order.
    pub fn new(mode: CacheMode) -> Self {
        CacheConfig {
            mode,
            keys: 2,
            lease_cycles: 8,
            order: CacheOrder::Slot,
        }
    }

    /// A short label: `naive`, `lease/8`, with `/k=N` and the order when
    /// not the default.
    pub fn label(&self) -> String {
        let mut s = self.mode.name().to_string();
        if self.mode == CacheMode::Lease {
            s += &format!("/{}", self.lease_cycles);
        }
        s += &format!(" k={}", self.keys);
        if self.order != CacheOrder::Slot {
            s += &format!(" {}", self.order.name());
        }
        s
    }
}

/// One cached key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Entry<V> {
    /// The value (`None`: the key is absent).
    pub value: Option<V>,
    /// The cycle of the fill.
    pub filled: u32,
}

/// A read sent on because its key was not cached.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Miss {
    pub key: Key,
    pub tag: Tag,
    /// An invalidation of the key arrived after the miss was sent.
    pub raced: bool,
}

/// What a cache did in its last cycle (for the model's `sometimes` twins
/// and the runtime's counters). Not sticky: overwritten every cycle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct CacheEvents {
    pub hits: u16,
    pub misses: u16,
    pub fills: u16,
    /// Fills whose key was invalidated since the miss, or in the same frame.
    pub raced: u16,
    pub invalidations: u16,
}

/// A level-0 FE's cache.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Cache<V> {
    pub entries: VecMap<Key, Entry<V>>,
    /// Per own client: its read miss in flight.
    pub misses: VecMap<ClientId, Miss>,
    pub last: CacheEvents,
}

/// What one parent frame says to a cache, in slot order.
enum Event<V> {
    Fill {
        client: ClientId,
        key: Key,
        value: Option<V>,
    },
    Invalidate {
        key: Key,
        update: Option<Option<V>>,
    },
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Cache {
            entries: VecMap::new(),
            misses: VecMap::new(),
            last: CacheEvents::default(),
        }
    }
}

impl<V: Val> Cache<V> {
    fn invalidate(&mut self, key: Key, update: Option<Option<V>>, cycle: u32, mode: CacheMode) {
        self.last.invalidations += 1;
        for m in self.misses.values_mut() {
            if m.key == key {
                m.raced = true;
            }
        }
        match update {
            Some(value) if mode == CacheMode::Update && self.entries.get(&key).is_some() => {
                self.entries.insert(key, Entry { value, filled: cycle });
            }
            _ => {
                self.entries.remove(&key);
            }
        }
    }

    fn fill(&mut self, cfg: &CacheConfig, client: ClientId, key: Key, value: Option<V>, cycle: u32, raced_now: bool) {
        let Some(miss) = self.misses.remove(&client) else {
            return;
        };
        debug_assert_eq!(miss.key, key, "a fill answers its own miss");
        let raced = miss.raced || raced_now;
        if raced {
            self.last.raced += 1;
        }
        if raced && cfg.mode == CacheMode::Lease {
            // The lease was revoked: the value may predate the write.
            return;
        }
        self.last.fills += 1;
        if self.entries.get(&key).is_none() && self.entries.len() >= cfg.keys {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(k, e)| (e.filled, **k))
                .map(|(k, _)| *k)
                .expect("a full cache has an entry");
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, Entry { value, filled: cycle });
    }

    /// The cached value of `key`, if it may serve at `cycle`.
    fn lookup(&self, cfg: &CacheConfig, key: Key, cycle: u32) -> Option<&Option<V>> {
        let e = self.entries.get(&key)?;
        let live = cfg.mode != CacheMode::Lease || cycle < e.filled + cfg.lease_cycles;
        live.then_some(&e.value)
    }
}

/// The value an acknowledged write leaves, if its answer says (`update`).
fn written<V: Val>(op: &Op<V>, result: &OpResult<V>) -> Option<Option<V>> {
    if !result.wrote(op) {
        return None;
    }
    match op {
        Op::Delete(_) => Some(None),
        _ => op.value().map(|v| Some(v.clone())),
    }
}

impl<V: Val> Fe<V> {
    /// One cycle of a caching level-0 FE (see the module documentation).
    /// `ctx.cache` is set and the downstream is the parent.
    pub fn step_cached<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &FeCtx,
        inputs: &[Option<&Frame<V>>],
        choose: &mut dyn FnMut(ClientId, &[usize]) -> usize,
        outs: &mut O,
        plan: &mut Plan,
    ) {
        let cfg = ctx.cache.expect("a caching FE has a cache configuration");
        let nchildren = ctx.children.len();
        assert!(ctx.children.iter().all(|ch| ch.is_client), "only level-0 FEs cache");
        assert_eq!(ctx.downstream_links(), 1, "a caching FE has a parent");
        let cycle = self.cycle;
        let mut cache = self.cache.take().unwrap_or_default();
        cache.last = CacheEvents::default();
        let parent = inputs[nchildren];
        // 1. Fills and invalidations.
        match parent {
            None => cache.misses = VecMap::new(), // every read in flight is answered Unavailable
            Some(frame) => self.apply_parent(ctx, &cfg, &mut cache, frame.down(), cycle),
        }
        // 2. Hits.
        let empty = Frame::Up(Slots::new(1));
        let mut filtered: Vec<Option<&Frame<V>>> = inputs.to_vec();
        let mut reads: Vec<(ClientId, Key)> = Vec::new();
        for (i, child) in ctx.children.iter().enumerate() {
            let Some(frame) = inputs[i] else { continue };
            let Some(req) = frame.up().get(0) else { continue };
            let Op::Get(key) = req.op else { continue };
            let client = child.clients.start;
            match cache.lookup(&cfg, key, cycle).cloned() {
                Some(value) if parent.is_some() => {
                    cache.last.hits += 1;
                    let resp = Response {
                        tag: req.tag,
                        result: OpResult::Value(value),
                        version: 0,
                    };
                    outs.out(i).down_mut().set(0, resp);
                    filtered[i] = Some(&empty);
                }
                _ => reads.push((client, key)),
            }
        }
        // 3. The ordinary step; the reads it sent on are misses.
        let tags: Vec<Option<Tag>> = reads
            .iter()
            .map(|&(c, _)| inputs[ctx.child_of(c)].and_then(|f| f.up().get(0)).map(|r| r.tag))
            .collect();
        self.step_plain(ctx, &filtered, choose, outs, plan);
        for (&(client, key), tag) in reads.iter().zip(tags) {
            if let (Some(f), Some(tag)) = (&self.inflight[client], tag) {
                if f.req.tag == tag {
                    cache.last.misses += 1;
                    cache.misses.insert(client, Miss { key, tag, raced: false });
                }
            }
        }
        self.cache = Some(cache);
    }

    /// Step 1 of [`Fe::step_cached`]: the fills and invalidations of the
    /// parent's frame, applied in the configured order.
    fn apply_parent(
        &self,
        ctx: &FeCtx,
        cfg: &CacheConfig,
        cache: &mut Cache<V>,
        down: &Slots<Response<V>>,
        cycle: u32,
    ) {
        let own = |c: ClientId| ctx.children.iter().any(|ch| ch.clients.contains(&c));
        let mut events: Vec<Event<V>> = Vec::new();
        for (client, resp) in down.iter() {
            if !own(client) {
                if resp.version != 0 {
                    let key = (resp.version - 1) as Key;
                    events.push(Event::Invalidate { key, update: None });
                }
                continue;
            }
            let Some(f) = &self.inflight[client] else { continue };
            if f.req.tag != resp.tag {
                continue;
            }
            let key = f.req.op.key();
            match (&f.req.op, &resp.result) {
                (Op::Get(_), OpResult::Value(v)) => events.push(Event::Fill {
                    client,
                    key,
                    value: v.clone(),
                }),
                (Op::Get(_), _) => {
                    cache.misses.remove(&client);
                }
                (op, result) => events.push(Event::Invalidate {
                    key,
                    update: written(op, result),
                }),
            }
        }
        if cfg.order == CacheOrder::InvalidationsFirst {
            // A stable sort: invalidations first, each kind in slot order.
            events.sort_by_key(|e| matches!(e, Event::Fill { .. }));
        }
        let invalidated: Vec<Key> = events
            .iter()
            .filter_map(|e| match e {
                Event::Invalidate { key, .. } => Some(*key),
                Event::Fill { .. } => None,
            })
            .collect();
        for e in events {
            match e {
                Event::Invalidate { key, update } => cache.invalidate(key, update, cycle, cfg.mode),
                Event::Fill { client, key, value } => {
                    let same_frame = invalidated.contains(&key);
                    cache.fill(cfg, client, key, value, cycle, same_frame);
                }
            }
        }
    }

    /// The broadcast of [`FeCtx::broadcast`]: after an FE above level 0
    /// stepped, copy each write answer it delivered to a child FE, and each
    /// invalidation its parent sent for a client outside its subtree, to
    /// every other child FE, in the writer's slot with the key in `version`.
    /// `before`: per client, the request in flight before the step.
    pub fn broadcast<O: Outputs<V> + ?Sized>(
        ctx: &FeCtx,
        before: &[Option<(Tag, Key, bool)>],
        inputs: &[Option<&Frame<V>>],
        outs: &mut O,
    ) {
        let nchildren = ctx.children.len();
        let mut invals: Vec<(ClientId, Key)> = Vec::new();
        for (client, b) in before.iter().enumerate() {
            let Some((tag, key, true)) = *b else { continue };
            let child = ctx.child_of(client);
            if ctx.children[child].is_client {
                continue;
            }
            if outs.out(child).down().get(client).is_some_and(|r| r.tag == tag) {
                invals.push((client, key));
            }
        }
        if ctx.downstream_links() == 1 && matches!(ctx.downstream, super::fe::Downstream::Parent) {
            if let Some(frame) = inputs[nchildren] {
                for (client, resp) in frame.down().iter() {
                    let mine = ctx.children.iter().any(|ch| ch.clients.contains(&client));
                    if !mine && resp.version != 0 {
                        invals.push((client, (resp.version - 1) as Key));
                    }
                }
            }
        }
        invals.sort_unstable();
        for (client, key) in invals {
            for (i, ch) in ctx.children.iter().enumerate() {
                if ch.is_client || ch.clients.contains(&client) {
                    continue;
                }
                let inval = Response {
                    tag: 0,
                    result: OpResult::Ok,
                    version: key as u64 + 1,
                };
                outs.out(i).down_mut().set(client, inval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::fe::{Child, Downstream};
    use crate::node::Request;

    /// A level-0 FE with clients 0 and 1; client 2 sits behind another FE.
    fn ctx(cfg: CacheConfig) -> FeCtx {
        FeCtx {
            clients: 3,
            children: (0..2)
                .map(|c| Child {
                    clients: c..c + 1,
                    is_client: true,
                })
                .collect(),
            downstream: Downstream::Parent,
            cache: Some(cfg),
            broadcast: false,
            bounded: None,
        }
    }

    fn get(tag: Tag, key: Key) -> Frame<u8> {
        Frame::Up(
            vec![Some(Request {
                tag,
                op: Op::Get(key),
                version: 0,
            })]
            .into(),
        )
    }

    fn idle() -> Frame<u8> {
        Frame::Up(Slots::new(1))
    }

    /// A parent frame: `(client, tag, result, version)` per slot.
    fn down(entries: &[(usize, Tag, OpResult<u8>, u64)]) -> Frame<u8> {
        let mut s = Slots::new(3);
        for (c, tag, result, version) in entries.iter().cloned() {
            s.set(c, Response { tag, result, version });
        }
        Frame::Down(s)
    }

    fn step(fe: &mut Fe<u8>, ctx: &FeCtx, c0: &Frame<u8>, c1: &Frame<u8>, parent: &Frame<u8>) -> Vec<Frame<u8>> {
        let mut out = ctx.empty_outputs();
        fe.step_into(
            ctx,
            &[Some(c0), Some(c1), Some(parent)],
            &mut |_, _| 0,
            &mut out[..],
            &mut Plan::new(),
        );
        out
    }

    /// c0 misses k0 and its answer fills the cache; c1's read of k0 is a
    /// hit answered at once, nothing sent up; an invalidation of k0 in
    /// another client's slot removes it.
    #[test]
    fn a_miss_fills_a_hit_answers_at_once_and_an_invalidation_removes() {
        let ctx = ctx(CacheConfig::new(CacheMode::Naive));
        let mut fe = Fe::for_ctx(3, &ctx);
        let none = down(&[]);
        let out = step(&mut fe, &ctx, &get(0, 0), &idle(), &none);
        assert_eq!(out[2].used_slots(), 1, "the miss goes up");
        let c = fe.cache.as_ref().unwrap();
        assert_eq!((c.last.misses, c.misses.len()), (1, 1));
        let out = step(
            &mut fe,
            &ctx,
            &idle(),
            &idle(),
            &down(&[(0, 0, OpResult::Value(Some(7)), 0)]),
        );
        assert_eq!(out[0].down().get(0).unwrap().result, OpResult::Value(Some(7)));
        assert_eq!(fe.cache.as_ref().unwrap().last.fills, 1);
        let out = step(&mut fe, &ctx, &idle(), &get(0, 0), &none);
        assert_eq!(out[1].down().get(0).unwrap().result, OpResult::Value(Some(7)), "a hit");
        assert_eq!(out[2].used_slots(), 0, "nothing sent up");
        assert_eq!(fe.cache.as_ref().unwrap().last.hits, 1);
        step(&mut fe, &ctx, &idle(), &idle(), &down(&[(2, 0, OpResult::Ok, 1)]));
        let c = fe.cache.as_ref().unwrap();
        assert!(c.entries.is_empty(), "k0 invalidated");
        assert_eq!(c.last.invalidations, 1);
        let out = step(&mut fe, &ctx, &idle(), &get(1, 0), &none);
        assert_eq!(out[2].used_slots(), 1, "a miss again");
    }

    /// A fill and an invalidation of its key in one frame, the fill first
    /// in slot order: every mode keeps nothing in slot order; applying
    /// invalidations first, naive keeps the stale fill and lease refuses it.
    #[test]
    fn a_fill_raced_by_an_invalidation_is_kept_only_by_naive_applying_invalidations_first() {
        for (mode, order, kept) in [
            (CacheMode::Naive, CacheOrder::Slot, false),
            (CacheMode::Lease, CacheOrder::Slot, false),
            (CacheMode::Naive, CacheOrder::InvalidationsFirst, true),
            (CacheMode::Update, CacheOrder::InvalidationsFirst, true),
            (CacheMode::Lease, CacheOrder::InvalidationsFirst, false),
        ] {
            let ctx = ctx(CacheConfig {
                order,
                ..CacheConfig::new(mode)
            });
            let mut fe = Fe::for_ctx(3, &ctx);
            step(&mut fe, &ctx, &get(0, 0), &idle(), &down(&[]));
            let frame = down(&[(0, 0, OpResult::Value(None), 0), (2, 0, OpResult::Ok, 1)]);
            step(&mut fe, &ctx, &idle(), &idle(), &frame);
            let c = fe.cache.as_ref().unwrap();
            assert_eq!(c.entries.get(&0).is_some(), kept, "{mode:?} {order:?}");
            assert_eq!(c.last.raced, 1, "{mode:?} {order:?}: the race is seen");
        }
    }

    /// Lease: an invalidation between the miss and its fill revokes the
    /// fill; an entry serves `lease_cycles` cycles after its fill.
    #[test]
    fn a_lease_is_revoked_by_an_invalidation_and_runs_out() {
        let ctx = ctx(CacheConfig {
            lease_cycles: 3,
            ..CacheConfig::new(CacheMode::Lease)
        });
        let mut fe = Fe::for_ctx(3, &ctx);
        step(&mut fe, &ctx, &get(0, 0), &idle(), &down(&[]));
        step(&mut fe, &ctx, &idle(), &idle(), &down(&[(2, 0, OpResult::Ok, 1)]));
        step(
            &mut fe,
            &ctx,
            &idle(),
            &idle(),
            &down(&[(0, 0, OpResult::Value(Some(1)), 0)]),
        );
        assert!(fe.cache.as_ref().unwrap().entries.is_empty(), "revoked");
        step(&mut fe, &ctx, &get(1, 0), &idle(), &down(&[]));
        // Filled at cycle 4: serves at 5 and 6, not at 7.
        step(
            &mut fe,
            &ctx,
            &idle(),
            &idle(),
            &down(&[(0, 1, OpResult::Value(Some(1)), 0)]),
        );
        for (tag, hit) in [(0, true), (1, true), (2, false)] {
            let out = step(&mut fe, &ctx, &idle(), &get(tag, 0), &down(&[]));
            assert_eq!(out[1].down().used() == 1, hit, "tag {tag}");
            if !hit {
                break;
            }
        }
    }

    /// A full cache evicts the entry filled longest ago.
    #[test]
    fn a_full_cache_evicts_the_oldest_fill() {
        let ctx = ctx(CacheConfig {
            keys: 1,
            ..CacheConfig::new(CacheMode::Naive)
        });
        let mut fe = Fe::for_ctx(3, &ctx);
        step(&mut fe, &ctx, &get(0, 0), &get(0, 1), &down(&[]));
        let both = down(&[(0, 0, OpResult::Value(Some(1)), 0), (1, 0, OpResult::Value(Some(2)), 0)]);
        step(&mut fe, &ctx, &idle(), &idle(), &both);
        let keys: Vec<Key> = fe.cache.as_ref().unwrap().entries.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [1], "k0 filled first in slot order, then evicted");
    }

    /// The root copies a write answer it delivers to its other child FE, in
    /// the writer's slot with the key, and not to the writer's own FE.
    #[test]
    fn the_root_broadcasts_a_write_answer_to_the_other_front_ends() {
        let ctx = FeCtx {
            clients: 2,
            children: (0..2)
                .map(|c| Child {
                    clients: c..c + 1,
                    is_client: false,
                })
                .collect(),
            downstream: Downstream::Parent,
            cache: None,
            broadcast: true,
            bounded: None,
        };
        let mut outs = ctx.empty_outputs::<u8>();
        outs[0].down_mut().set(
            0,
            Response {
                tag: 4,
                result: OpResult::Ok,
                version: 0,
            },
        );
        let before = [Some((4, 9, true)), None];
        let parent = down(&[]);
        let inputs = [None, None, Some(&parent)];
        Fe::broadcast(&ctx, &before, &inputs, &mut outs[..]);
        assert_eq!(outs[1].down().get(0).map(|r| r.version), Some(10), "key 9, in slot 0");
        assert_eq!(outs[0].down().used(), 1, "the writer's FE gets the answer only");
        // A read answer is not copied.
        let mut outs2 = ctx.empty_outputs::<u8>();
        outs2[0].down_mut().set(
            0,
            Response {
                tag: 4,
                result: OpResult::Value(None),
                version: 0,
            },
        );
        Fe::broadcast(&ctx, &[Some((4, 9, false)), None], &inputs, &mut outs2[..]);
        assert_eq!(outs2[1].down().used(), 0);
    }
}
