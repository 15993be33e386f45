//! A server: the single server, a shard, or a replica of a shard.
//!
//! All three run the same code. A server holds the store and, per client, the
//! answer to the last write it applied for that client (its *session*), so
//! that a request the FE retries after a crash is answered from the session
//! instead of taking effect twice.
//!
//! # One cycle ([`Server::step`])
//! A replica's cycle is its protocol's ([`crate::protocol::Replication::replica_step`]);
//! the single server, a shard, and the replicas of `seed`, `owner` and
//! `fanout` run [`Server::broadcast_step`]:
//! 1. Apply every [`Update`] received from the peer replicas, in peer order
//!    then slot order (protocols `seed` and `owner`).
//! 2. Serve the requests of the FE's frame in slot (client) order.
//! 3. Answer the FE with one response per request, and send the writes served
//!    to every peer.
//!
//! A missing FE frame means the FE is dead: nothing is served. A missing peer
//! frame means that peer is dead: there is nothing to apply from it.

use super::{ClientId, Frame, Key, Op, OpResult, Outputs, Request, Response, Slots, Tag, Update, Val};
use crate::protocol::Protocol;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// The answer a server gave to a client's last write.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Session<V> {
    pub tag: Tag,
    pub result: OpResult<V>,
}

/// What a server keeps its data in: an ordered map in the model (its states
/// must hash and compare; a sorted vector, [`super::VecStore`]), a hash map in
/// the runtime (fewer cache misses on a large store). All give every
/// operation the same answer.
pub trait Store<V>: Clone + Default + Serialize + serde::de::DeserializeOwned {
    fn get(&self, k: &Key) -> Option<&V>;
    fn get_mut(&mut self, k: &Key) -> Option<&mut V>;
    fn insert(&mut self, k: Key, v: V) -> Option<V>;
    fn remove(&mut self, k: &Key) -> Option<V>;
    fn contains_key(&self, k: &Key) -> bool {
        self.get(k).is_some()
    }
    /// A hint that `k` is about to be used: a store whose lookups miss the
    /// cache looks it up now, so that a frame's lookups overlap in memory
    /// instead of waiting one after the other. No effect on the contents.
    #[inline]
    fn prefetch(&self, _k: &Key) {}
    /// The first `n` entries with keys above `after` (all keys for `None`),
    /// in key order (a donor's snapshot chunks).
    fn entries_after(&self, after: Option<Key>, n: usize) -> Vec<(Key, V)>;
}

impl<V: Val> Store<V> for BTreeMap<Key, V> {
    fn get(&self, k: &Key) -> Option<&V> {
        BTreeMap::get(self, k)
    }
    fn get_mut(&mut self, k: &Key) -> Option<&mut V> {
        BTreeMap::get_mut(self, k)
    }
    fn insert(&mut self, k: Key, v: V) -> Option<V> {
        BTreeMap::insert(self, k, v)
    }
    fn remove(&mut self, k: &Key) -> Option<V> {
        BTreeMap::remove(self, k)
    }
    fn entries_after(&self, after: Option<Key>, n: usize) -> Vec<(Key, V)> {
        let lo = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        self.range((lo, std::ops::Bound::Unbounded))
            .take(n)
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

/// The runtime's store: a hash map with a fixed, seedless hash of the key
/// (no hidden randomness; iteration order is never observed).
pub type HashStore<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

impl<V: Val> Store<V> for HashStore<V> {
    fn get(&self, k: &Key) -> Option<&V> {
        HashMap::get(self, k)
    }
    fn get_mut(&mut self, k: &Key) -> Option<&mut V> {
        HashMap::get_mut(self, k)
    }
    fn insert(&mut self, k: Key, v: V) -> Option<V> {
        HashMap::insert(self, k, v)
    }
    fn remove(&mut self, k: &Key) -> Option<V> {
        HashMap::remove(self, k)
    }
    #[inline]
    fn prefetch(&self, k: &Key) {
        std::hint::black_box(HashMap::get(self, k));
    }
    /// A hash map has no order: it sorts the keys above `after` (a donor
    /// pays this once per chunk, only while it feeds a joiner).
    fn entries_after(&self, after: Option<Key>, n: usize) -> Vec<(Key, V)> {
        let mut keys: Vec<Key> = self.keys().copied().filter(|k| after.is_none_or(|a| *k > a)).collect();
        keys.sort_unstable();
        keys.truncate(n);
        keys.into_iter().map(|k| (k, self[&k].clone())).collect()
    }
}

/// A multiply-fold hash of a `u32` key: deterministic and cheap.
#[derive(Clone, Copy, Default, Debug)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        let m = ((self.0 ^ x) as u128) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// One server's state, its store of type `S` (see [`Store`]). It serializes
/// (`tidekv run --serialize-state` round-trips it every cycle, as the seed's
/// platform does with a node's state).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Server<V, S = super::VecStore<V>> {
    /// The key-value store.
    pub store: S,
    /// Per client, the last write applied for it (`clients` entries).
    pub sessions: Vec<Option<Session<V>>>,
    /// What the replica remembers of the updates it forwarded, for
    /// protocols that re-send them after a re-link (`chain`); empty for the
    /// others.
    pub relay: Relay<V>,
    /// The versions of the keys it holds, for protocols that version writes
    /// (`quorum`); empty for the others.
    pub versions: Versions,
    /// Catch-up, feeding and persistence state with recovery configured
    /// (see [`super::recovery`]); default otherwise.
    pub recovery: super::recovery::Recovery<V, S>,
}

/// What a replica of a versioning protocol keeps beside its store (see
/// [`crate::protocol::quorum`]).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Versions {
    /// Per key written: the version of the value held, or of the `Delete`
    /// that removed it (a tombstone).
    pub by_key: super::VecMap<Key, super::Version>,
    /// The key the next anti-entropy sweep starts from.
    pub sweep: Key,
}

/// The updates a replica forwarded in its last cycles and to whom (see
/// [`crate::protocol::chain`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Relay<V> {
    /// The replica it forwarded to in its last cycle; `None` before its
    /// first cycle and while it has no successor.
    pub next: Option<u8>,
    /// The batches it forwarded, oldest first, each in the order applied.
    pub sent: Vec<Vec<(ClientId, Update<V>)>>,
    /// With recovery: cycles it still answers the writes it forwards,
    /// having stopped being the tail when a restarted replica joined
    /// behind it (see `protocol::chain`); 0 otherwise.
    pub was_tail: u8,
}

impl<V> Default for Relay<V> {
    fn default() -> Self {
        Relay {
            next: None,
            sent: Vec::new(),
            was_tail: 0,
        }
    }
}

/// What a server needs to know about its place in the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCtx {
    /// Number of clients: the slot count of FE and peer frames.
    pub clients: usize,
    /// `true` for the single server, linked to each client directly (one
    /// one-slot link per client); `false` behind an FE (one link, a slot per
    /// client).
    pub direct_clients: bool,
    /// Number of peer replicas this server exchanges updates with (0 unless
    /// the protocol has peer links). Inputs and outputs list the front links
    /// (FE, or clients) first, then one link per peer in replica order.
    pub peers: usize,
    /// This server's replica index in its shard, and the shard's replica
    /// count (0 and 1 for the single server and a shard).
    pub replica: usize,
    pub replicas: usize,
    /// The replication protocol ([`Protocol::Fanout`] where there are no
    /// replicas: a lone server's step is the same in every protocol).
    pub protocol: Protocol,
    /// Transfer links, after the peer links: one per other replica of the
    /// shard with recovery configured, none otherwise.
    pub transfers: usize,
    /// Crash-recovery (see [`super::recovery`]), when configured.
    pub recovery: Option<super::recovery::RecoveryConfig>,
}

impl ServerCtx {
    /// Number of links to the front (clients or FE).
    pub fn front_links(&self) -> usize {
        if self.direct_clients {
            self.clients
        } else {
            1
        }
    }
}

impl<V: Val, S: Store<V>> Server<V, S> {
    /// An empty server for `clients` clients.
    pub fn new(clients: usize) -> Self {
        Server {
            store: S::default(),
            sessions: vec![None; clients],
            relay: Relay::default(),
            versions: Versions::default(),
            recovery: Default::default(),
        }
    }

    /// Phase 1 alone: applies the updates carried by the peer frames.
    /// `peer_inputs` are the frames of the peer links, in replica order.
    pub fn apply_updates(&mut self, peer_inputs: &[Option<&Frame<V>>]) {
        for frame in peer_inputs.iter().flatten() {
            for (client, update) in frame.peer().iter() {
                if update.version != 0 {
                    // A versioned entry (`quorum`'s anti-entropy) applies
                    // only if it is newer than what the replica holds.
                    crate::protocol::quorum::apply_versioned(self, &update.op, update.version);
                } else {
                    self.apply_update(client, update);
                }
            }
        }
    }

    /// Applies an update unless the client's session shows it (or a later
    /// write of the client) applied already; its session becomes the
    /// update's. Returns whether it was applied.
    pub fn apply_once(&mut self, client: ClientId, update: &Update<V>) -> bool {
        if self.sessions[client].as_ref().is_some_and(|s| s.tag >= update.tag) {
            return false;
        }
        self.apply_update(client, update);
        true
    }

    fn apply_update(&mut self, client: ClientId, update: &Update<V>) {
        apply_effect(&mut self.store, &update.op, &update.result);
        self.sessions[client] = Some(Session {
            tag: update.tag,
            result: update.result.clone(),
        });
    }

    /// Serves one request, writes going through the session table.
    pub fn serve(&mut self, client: ClientId, req: &Request<V>) -> OpResult<V> {
        if !req.op.is_write() {
            return execute(&mut self.store, &req.op);
        }
        if let Some(s) = &self.sessions[client] {
            if s.tag == req.tag {
                // A retry of a write this server (or a peer, through an update)
                // already applied: answer as the first time, change nothing.
                return s.result.clone();
            }
        }
        let result = execute(&mut self.store, &req.op);
        self.sessions[client] = Some(Session {
            tag: req.tag,
            result: result.clone(),
        });
        result
    }

    /// One cycle. `inputs` are the front links' frames then the peers'
    /// frames; the returned frames are for the front links then each peer.
    pub fn step(&mut self, ctx: &ServerCtx, inputs: &[Option<&Frame<V>>]) -> Vec<Frame<V>> {
        let mut out = ctx.empty_outputs();
        self.step_into(ctx, inputs, &mut out[..]);
        out
    }

    /// [`Server::step`] writing into `outs`, frames of the shapes
    /// [`ServerCtx::empty_outputs`] makes with every slot empty (buffers
    /// reused from cycle to cycle by the in-process runtime): the protocol's
    /// replica step.
    #[inline]
    pub fn step_into<O: Outputs<V> + ?Sized>(&mut self, ctx: &ServerCtx, inputs: &[Option<&Frame<V>>], outs: &mut O) {
        match ctx.recovery {
            None => ctx.protocol.replica_step(self, ctx, inputs, outs),
            Some(rc) => self.recovery_step(ctx, rc, inputs, outs),
        }
    }

    /// The slides' replica step (the default of
    /// [`crate::protocol::Replication::replica_step`]): apply the peers'
    /// updates, serve, answer, and send the writes served to every peer.
    pub fn broadcast_step<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &ServerCtx,
        inputs: &[Option<&Frame<V>>],
        outs: &mut O,
    ) {
        let front = ctx.front_links();
        debug_assert_eq!(inputs.len(), front + ctx.peers, "server inputs: front + peers");
        self.apply_updates(&inputs[front..]);
        for frame in inputs[..front].iter().flatten() {
            for (_, req) in frame.up().iter() {
                self.store.prefetch(&req.op.key());
            }
        }
        for (i, frame) in inputs[..front].iter().enumerate() {
            let Some(frame) = frame else { continue };
            for (j, req) in frame.up().iter() {
                let (client, out, out_slot) = if ctx.direct_clients { (i, i, 0) } else { (j, 0, j) };
                let result = self.serve(client, req);
                if req.op.is_write() {
                    // Every peer hears the same updates.
                    for p in 0..ctx.peers {
                        outs.out(front + p).peer_mut().set(
                            client,
                            Update {
                                tag: req.tag,
                                op: req.op.clone(),
                                result: result.clone(),
                                seq: 0,
                                version: 0,
                            },
                        );
                    }
                }
                outs.out(out).down_mut().set(
                    out_slot,
                    Response {
                        tag: req.tag,
                        result,
                        version: 0,
                    },
                );
            }
        }
    }
}

impl ServerCtx {
    /// Fresh, empty output frames: the front links, then one per peer.
    pub fn empty_outputs<V>(&self) -> Vec<Frame<V>> {
        let mut out: Vec<Frame<V>> = if self.direct_clients {
            (0..self.clients).map(|_| Frame::Down(Slots::new(1))).collect()
        } else {
            vec![Frame::Down(Slots::new(self.clients))]
        };
        out.extend((0..self.peers).map(|_| Frame::Peer(Slots::new(self.clients))));
        out.extend((0..self.transfers).map(|_| Frame::Transfer(super::recovery::Transfer::serving())));
        out
    }
}

/// Executes an operation on a store and returns its answer.
pub fn execute<V: Val, S: Store<V>>(store: &mut S, op: &Op<V>) -> OpResult<V> {
    match op {
        Op::Get(k) => OpResult::Value(store.get(k).cloned()),
        Op::Put(k, v) => {
            store.insert(*k, v.clone());
            OpResult::Ok
        }
        Op::Delete(k) => {
            store.remove(k);
            OpResult::Ok
        }
        Op::Insert(k, v) => {
            if store.contains_key(k) {
                OpResult::Exists
            } else {
                store.insert(*k, v.clone());
                OpResult::Ok
            }
        }
        Op::Modify(k, v) => match store.get_mut(k) {
            Some(old) => OpResult::Modified(std::mem::replace(old, v.clone())),
            None => OpResult::Absent,
        },
    }
}

/// Applies the effect that `op` had where it was served with answer `result`.
pub fn apply_effect<V: Val, S: Store<V>>(store: &mut S, op: &Op<V>, result: &OpResult<V>) {
    if !result.wrote(op) {
        return;
    }
    match op {
        Op::Put(k, v) | Op::Insert(k, v) | Op::Modify(k, v) => {
            store.insert(*k, v.clone());
        }
        Op::Delete(k) => {
            store.remove(k);
        }
        Op::Get(_) => unreachable!("a Get never writes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(tag: Tag, op: Op<u8>) -> Option<Request<u8>> {
        Some(Request { tag, op, version: 0 })
    }

    #[test]
    fn operations_follow_the_sequential_map() {
        let mut s = BTreeMap::new();
        assert_eq!(execute(&mut s, &Op::Get(0)), OpResult::Value(None));
        assert_eq!(execute(&mut s, &Op::Modify(0, 1u8)), OpResult::Absent);
        assert_eq!(execute(&mut s, &Op::Insert(0, 1)), OpResult::Ok);
        assert_eq!(execute(&mut s, &Op::Insert(0, 2)), OpResult::Exists);
        assert_eq!(execute(&mut s, &Op::Modify(0, 3)), OpResult::Modified(1));
        assert_eq!(execute(&mut s, &Op::Get(0)), OpResult::Value(Some(3)));
        assert_eq!(execute(&mut s, &Op::Put(0, 4)), OpResult::Ok);
        assert_eq!(execute(&mut s, &Op::Delete(0)), OpResult::Ok);
        assert_eq!(execute(&mut s, &Op::Get(0)), OpResult::Value(None));
    }

    #[test]
    fn retried_insert_takes_effect_once() {
        let ctx = ServerCtx {
            clients: 2,
            direct_clients: false,
            peers: 0,
            replica: 0,
            replicas: 1,
            protocol: Protocol::Fanout,
            transfers: 0,
            recovery: None,
        };
        let mut s = Server::<u8>::new(2);
        let f = Frame::Up(vec![req(7, Op::Insert(0, 1)), None].into());
        let out = s.step(&ctx, &[Some(&f)]);
        assert_eq!(out[0].down().get(0).unwrap().result, OpResult::Ok);
        // The same request again (a retry): answered from the session.
        let out = s.step(&ctx, &[Some(&f)]);
        assert_eq!(out[0].down().get(0).unwrap().result, OpResult::Ok);
        // A new request with the same op fails as it should.
        let f2 = Frame::Up(vec![req(8, Op::Insert(0, 1)), None].into());
        let out = s.step(&ctx, &[Some(&f2)]);
        assert_eq!(out[0].down().get(0).unwrap().result, OpResult::Exists);
    }

    #[test]
    fn updates_apply_before_requests_and_carry_sessions() {
        let ctx = ServerCtx {
            clients: 2,
            direct_clients: false,
            peers: 1,
            replica: 0,
            replicas: 2,
            protocol: Protocol::Seed,
            transfers: 0,
            recovery: None,
        };
        let mut a = Server::<u8>::new(2);
        let mut b = Server::<u8>::new(2);
        let f = Frame::Up(vec![req(1, Op::Modify(0, 5)), req(1, Op::Put(0, 2))].into());
        let out_a = a.step(&ctx, &[Some(&f), None]);
        // Slot order: c0's Modify finds nothing, then c1's Put writes.
        assert_eq!(a.store.get(&0), Some(&2));
        let peer = &out_a[1];
        assert_eq!(peer.used_slots(), 2, "both writes are sent to the peer");
        let get = Frame::Up(vec![req(2, Op::Get(0)), None].into());
        let out_b = b.step(&ctx, &[Some(&get), Some(peer)]);
        assert_eq!(out_b[0].down().get(0).unwrap().result, OpResult::Value(Some(2)));
        // A retry of c1's Put at b is answered from the update's session.
        let retry = Frame::Up(vec![None, req(1, Op::Put(0, 2))].into());
        let before = b.clone();
        let out = b.step(&ctx, &[Some(&retry), None]);
        assert_eq!(out[0].down().get(1).unwrap().result, OpResult::Ok);
        assert_eq!(b.store, before.store);
    }

    #[test]
    fn dead_fe_means_nothing_served() {
        let ctx = ServerCtx {
            clients: 1,
            direct_clients: false,
            peers: 0,
            replica: 0,
            replicas: 1,
            protocol: Protocol::Fanout,
            transfers: 0,
            recovery: None,
        };
        let mut s = Server::<u8>::new(1);
        let out = s.step(&ctx, &[None]);
        assert_eq!(out[0].used_slots(), 0);
    }
}
