//! Pure per-cycle node logic: the one copy of every topology and protocol.
//!
//! Nothing in this module does IO, reads a clock, draws randomness or touches
//! global state. A node is a value; each cycle a driver (the stateright model
//! in `tidekv-model`, or the runtimes in [`crate::runtime`]) hands it the frames
//! its input links carried from the previous cycle plus every "random" choice
//! the cycle needs, and gets back the frames for its output links. Both drivers
//! call exactly these functions.
//!
//! # Frames
//! Every link carries exactly one [`Frame`] per cycle while its sender lives. A
//! frame has a fixed shape: one `Option` slot per client (per its own client
//! for a client's link), kept sparsely in memory ([`Slots`]) and densely on
//! the wire. "Nothing to say" is an empty slot; a *missing*
//! frame means the sender is dead. In a synchronous system this is a perfect
//! failure detector, and the nodes rely on it.
//!
//! # Nodes
//! - [`client::Client`]: one outstanding operation at a time (a Jepsen process).
//! - [`fe::Fe`]: a front end; the root one hashes keys to shards and asks
//!   the [`Protocol`] (see [`crate::protocol`]) which replicas to use, the
//!   others forward.
//! - [`server::Server`]: the single server, a shard, or a replica.

pub mod cache;
pub mod client;
pub mod fe;
pub mod hash;
pub mod persist;
pub mod recovery;
pub mod server;
pub mod slots;
pub mod values;
pub mod vec_map;

pub use slots::Slots;
pub use vec_map::{VecMap, VecSet, VecStore};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::{self, Debug};
use std::hash::Hash;

/// A key. Keys are small integers; the runtime maps workload keys onto them.
pub type Key = u32;
/// A client's per-operation sequence number; a retried request keeps its tag.
pub type Tag = u32;
/// Index of a client, `0..clients`; also the slot index in server-side frames.
pub type ClientId = usize;
/// The version of a write, for protocols that order writes by version
/// (`quorum`): 0 for "none" (a request no FE stamped, a key never written),
/// otherwise [`version`] of the cycle the root FE accepted the write and the
/// client that sent it. The global cycle counter of a lockstep network orders
/// writes without coordination: a write accepted after another was answered
/// has a higher version.
pub type Version = u64;

/// The version of a write the root FE accepts in `cycle` from `client`:
/// cycle first, client second, never 0.
pub fn version(cycle: u32, client: ClientId) -> Version {
    debug_assert!(client < 1 << 16, "clients fit 16 bits (CLIENTS_MAX)");
    ((cycle as Version) << 16 | client as Version) + 1
}

/// What a value must be. The model uses `u8`; the runtime uses byte strings.
pub trait Val: Clone + Eq + Ord + Hash + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T> Val for T where T: Clone + Eq + Ord + Hash + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {}

/// The five operations of the store.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Op<V> {
    /// Read a key.
    Get(Key),
    /// Write a key unconditionally.
    Put(Key, V),
    /// Remove a key (succeeds whether or not it was present).
    Delete(Key),
    /// Write a key that must be absent; fails with [`OpResult::Exists`] otherwise.
    Insert(Key, V),
    /// Overwrite a key that must be present, returning its previous value;
    /// fails with [`OpResult::Absent`] otherwise.
    Modify(Key, V),
}

impl<V> Op<V> {
    /// The key the operation touches.
    pub fn key(&self) -> Key {
        match self {
            Op::Get(k) | Op::Put(k, _) | Op::Delete(k) | Op::Insert(k, _) | Op::Modify(k, _) => *k,
        }
    }

    /// Everything but `Get` may change the store.
    pub fn is_write(&self) -> bool {
        !matches!(self, Op::Get(_))
    }

    /// The value written, if any.
    pub fn value(&self) -> Option<&V> {
        match self {
            Op::Put(_, v) | Op::Insert(_, v) | Op::Modify(_, v) => Some(v),
            Op::Get(_) | Op::Delete(_) => None,
        }
    }

    /// The same operation with its value, if any, through `f` (histories
    /// name runtime values by id; tests rename values).
    pub fn map_value<W>(&self, mut f: impl FnMut(&V) -> W) -> Op<W> {
        match self {
            Op::Get(k) => Op::Get(*k),
            Op::Put(k, v) => Op::Put(*k, f(v)),
            Op::Delete(k) => Op::Delete(*k),
            Op::Insert(k, v) => Op::Insert(*k, f(v)),
            Op::Modify(k, v) => Op::Modify(*k, f(v)),
        }
    }

    /// The operation's name in histories (`"get"`, `"put"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Get(_) => "get",
            Op::Put(..) => "put",
            Op::Delete(_) => "delete",
            Op::Insert(..) => "insert",
            Op::Modify(..) => "modify",
        }
    }
}

impl<V: Debug> fmt::Display for Op<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get(k) => write!(f, "Get(k{k})"),
            Op::Put(k, v) => write!(f, "Put(k{k},{v:?})"),
            Op::Delete(k) => write!(f, "Delete(k{k})"),
            Op::Insert(k, v) => write!(f, "Insert(k{k},{v:?})"),
            Op::Modify(k, v) => write!(f, "Modify(k{k},{v:?})"),
        }
    }
}

/// The answer to an operation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum OpResult<V> {
    /// `Get`: the value, or `None` when absent.
    Value(Option<V>),
    /// `Put`, `Delete`, and a successful `Insert`.
    Ok,
    /// `Insert` failed: the key was present.
    Exists,
    /// `Modify` succeeded: the previous value.
    Modified(V),
    /// `Modify` failed: the key was absent.
    Absent,
    /// The system knows it could not serve the request. The operation may or
    /// may not have taken effect (a history records it as `info`).
    Unavailable,
    /// The FE's queue for the request's shard was full (`--queue`): the
    /// request was never sent, so it did not take effect, and the client
    /// may retry it (a history records it as `fail` with `"error":"busy"`).
    Busy,
}

impl<V> OpResult<V> {
    /// The same answer with its value, if any, through `f`.
    pub fn map_value<W>(&self, mut f: impl FnMut(&V) -> W) -> OpResult<W> {
        match self {
            OpResult::Value(v) => OpResult::Value(v.as_ref().map(f)),
            OpResult::Ok => OpResult::Ok,
            OpResult::Exists => OpResult::Exists,
            OpResult::Modified(v) => OpResult::Modified(f(v)),
            OpResult::Absent => OpResult::Absent,
            OpResult::Unavailable => OpResult::Unavailable,
            OpResult::Busy => OpResult::Busy,
        }
    }

    /// Whether the operation is known to have changed the store.
    /// `Unavailable` is unknown and answers `false` here.
    pub fn wrote(&self, op: &Op<V>) -> bool {
        matches!(
            (op, self),
            (Op::Put(..) | Op::Delete(_) | Op::Insert(..), OpResult::Ok) | (Op::Modify(..), OpResult::Modified(_))
        )
    }
}

impl<V: Debug> fmt::Display for OpResult<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpResult::Value(Some(v)) => write!(f, "{v:?}"),
            OpResult::Value(None) => write!(f, "absent"),
            OpResult::Ok => write!(f, "ok"),
            OpResult::Exists => write!(f, "exists"),
            OpResult::Modified(v) => write!(f, "ok(was {v:?})"),
            OpResult::Absent => write!(f, "absent"),
            OpResult::Unavailable => write!(f, "unavailable"),
            OpResult::Busy => write!(f, "busy"),
        }
    }
}

/// A request travelling from a client towards the servers.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Request<V> {
    pub tag: Tag,
    pub op: Op<V>,
    /// The write's version where the protocol stamps one (0 otherwise).
    pub version: Version,
}

/// A response travelling from a server towards a client.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Response<V> {
    pub tag: Tag,
    pub result: OpResult<V>,
    /// For a protocol that versions writes: the version of the value read
    /// (0: never written), or of the write acknowledged. 0 otherwise.
    pub version: Version,
}

/// A write one replica served, sent to other replicas of its shard
/// (protocols `seed`, `owner` and `chain`). It carries the result so that the receiver
/// applies exactly the serving replica's effect and remembers the answer for a
/// retry of the same request.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Update<V> {
    pub tag: Tag,
    pub op: Op<V>,
    pub result: OpResult<V>,
    /// The order in which the receiver applies the frame's updates, lowest
    /// first, then by client: 0 unless a protocol re-sends older updates
    /// beside newer ones (`chain`, after a re-link).
    pub seq: u16,
    /// The write's version (`quorum`'s anti-entropy; 0 for the others).
    pub version: Version,
}

/// What one link carries in one cycle.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Frame<V> {
    /// Towards the servers: one request slot per client.
    Up(Slots<Request<V>>),
    /// Towards the clients: one response slot per client.
    Down(Slots<Response<V>>),
    /// Between the replicas of one shard: one update slot per client.
    Peer(Slots<Update<V>>),
    /// Between the replicas of one shard, with recovery configured: the
    /// sender's status and, for a joiner it feeds, a chunk of its state.
    Transfer(recovery::Transfer<V>),
}

impl<V> Frame<V> {
    /// Number of slots that carry something.
    #[inline]
    pub fn used_slots(&self) -> usize {
        match self {
            Frame::Up(s) => s.used(),
            Frame::Down(s) => s.used(),
            Frame::Peer(s) => s.used(),
            Frame::Transfer(t) => t.used(),
        }
    }

    /// Empties every slot, keeping the frame's kind and size: a frame buffer
    /// reused from one cycle to the next.
    #[inline]
    pub fn clear(&mut self) {
        match self {
            Frame::Up(s) => s.clear(),
            Frame::Down(s) => s.clear(),
            Frame::Peer(s) => s.clear(),
            Frame::Transfer(t) => *t = recovery::Transfer::serving(),
        }
    }

    /// The request slots, to fill; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn up_mut(&mut self) -> &mut Slots<Request<V>> {
        match self {
            Frame::Up(s) => s,
            _ => panic!("wiring bug: expected an Up frame"),
        }
    }

    /// The response slots, to fill; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn down_mut(&mut self) -> &mut Slots<Response<V>> {
        match self {
            Frame::Down(s) => s,
            _ => panic!("wiring bug: expected a Down frame"),
        }
    }

    /// The update slots, to fill; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn peer_mut(&mut self) -> &mut Slots<Update<V>> {
        match self {
            Frame::Peer(s) => s,
            _ => panic!("wiring bug: expected a Peer frame"),
        }
    }

    /// The transfer frame, to fill; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn transfer_mut(&mut self) -> &mut recovery::Transfer<V> {
        match self {
            Frame::Transfer(t) => t,
            _ => panic!("wiring bug: expected a Transfer frame"),
        }
    }

    /// The transfer frame; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn transfer(&self) -> &recovery::Transfer<V> {
        match self {
            Frame::Transfer(t) => t,
            _ => panic!("wiring bug: expected a Transfer frame"),
        }
    }

    /// The request slots; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn up(&self) -> &Slots<Request<V>> {
        match self {
            Frame::Up(s) => s,
            _ => panic!("wiring bug: expected an Up frame"),
        }
    }

    /// The response slots; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn down(&self) -> &Slots<Response<V>> {
        match self {
            Frame::Down(s) => s,
            _ => panic!("wiring bug: expected a Down frame"),
        }
    }

    /// The update slots; panics on another kind, which is a wiring bug.
    #[inline]
    pub fn peer(&self) -> &Slots<Update<V>> {
        match self {
            Frame::Peer(s) => s,
            _ => panic!("wiring bug: expected a Peer frame"),
        }
    }
}

/// Where a node writes its frames in one cycle: `out(i)` is the frame for
/// the node's `i`-th output link, empty when the step begins. A slice of
/// frames serves; the in-process runtime hands its per-link buffers over in
/// place, so that a front end with hundreds of links moves no frames.
pub trait Outputs<V> {
    /// The frame for output link `i`.
    fn out(&mut self, i: usize) -> &mut Frame<V>;
}

impl<V> Outputs<V> for [Frame<V>] {
    #[inline]
    fn out(&mut self, i: usize) -> &mut Frame<V> {
        &mut self[i]
    }
}

pub use crate::protocol::Protocol;
