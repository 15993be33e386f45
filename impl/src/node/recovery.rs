//! Crash-recovery: a dead replica restarts as a new incarnation, catches up
//! from a live peer and rejoins; what survives a restart depends on the
//! persistence mode.
//!
//! Everything here is pure node logic. A driver (the model, the runtime)
//! restarts a node by handing [`Server::restarted`] the node's durable image
//! ([`Image`], what [`Server::durable_image`] said was durable when it died);
//! the node describes each cycle what must be durable before its frames go
//! out ([`Server::durable_image`] for `sync`, one cycle behind for `async`).
//!
//! # Links
//! With recovery configured, every replica has a *transfer link* to every
//! other replica of its shard (after its front and peer links). Each cycle a
//! live replica sends on each a [`Transfer`] frame: its status (serving or
//! joining, and from whom) and, if it feeds the receiver, a [`Chunk`].
//!
//! # The hand-over
//! 1. A restarted replica (a *joiner*) is silent on its FE and protocol peer
//!    links (no frame: the FE and the other replicas see it dead, exactly as
//!    before its restart) and speaks only on its transfer links. In its
//!    first cycle it has heard nobody yet; from its second it names a
//!    *donor*: its nearest serving predecessor in replica order, or else
//!    the lowest serving replica. With no serving peer at all (every
//!    replica of the shard went down), it waits until every replica is
//!    back; then the one whose durable store holds the most writes (see
//!    [`Recovery::writes`]) serves from it, and the others join from it.
//! 2. The donor, each cycle after it serves, sends the joiner `K`
//!    (`--transfer-keys`) entries of its store after a cursor (and the key
//!    range they cover, so the joiner drops what the donor does not hold),
//!    the *current* value of every key its step touched this cycle (a
//!    delta), and its sessions. Every value sent is the donor's value at the
//!    end of that cycle, so the joiner, applying them, never goes back: a
//!    key written after the cursor passed it comes with the delta, one not
//!    yet reached comes with the snapshot, whichever order.
//! 3. The joiner applies each chunk on arrival; the chunk whose range
//!    reaches the end of the store completes the copy: in that cycle it
//!    runs its protocol step and speaks on every link again. The FE sees it
//!    a cycle later and routes to it from then on; requests the FE sent
//!    before reach the donor only, so the donor sends its deltas for two
//!    more cycles (the one in which it sees the joiner serving, and the
//!    one before) and the joiner keeps applying them before it serves.
//!
//! A donor that dies (its frame missing) sends the joiner back to step 1
//! with what it has. A protocol where this hand-over is not shown correct
//! refuses recovery ([`supports`]).

use super::server::{Server, ServerCtx, Session, Store};
use super::{Frame, Key, Outputs, Val};
use crate::protocol::Protocol;
use serde::{Deserialize, Serialize};

/// What survives a restart.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Persist {
    /// Nothing: a restarted replica starts empty.
    #[default]
    None,
    /// A cycle's writes are durable before any frame of that cycle goes
    /// out: whatever the node acknowledged is durable.
    Sync,
    /// A cycle's writes become durable at the end of the next cycle: a crash
    /// loses the writes of its last cycle or two, acknowledged or not.
    Async,
}

impl Persist {
    pub const ALL: [Persist; 3] = [Persist::None, Persist::Sync, Persist::Async];

    pub fn name(self) -> &'static str {
        match self {
            Persist::None => "none",
            Persist::Sync => "sync",
            Persist::Async => "async",
        }
    }

    pub fn parse(s: &str) -> Option<Persist> {
        Persist::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// How a topology recovers replicas.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RecoveryConfig {
    pub persist: Persist,
    /// Store entries a donor sends per cycle (`--transfer-keys`).
    pub transfer_keys: u32,
    /// The most keys a store holds (the driver's key space): what
    /// [`rejoin_bound`] is derived from.
    pub keys_max: u32,
}

/// Entries a donor may send per cycle at most (frames stay bounded).
pub const TRANSFER_KEYS_MAX: u32 = 1 << 16;

/// Whether `protocol` supports recovery, or why not (the message names the
/// flag).
pub fn supports(protocol: Protocol) -> Result<(), String> {
    match protocol {
        Protocol::Fanout | Protocol::Chain => Ok(()),
        p => Err(format!(
            "--recoveries: --protocol {p} cannot take a restarted replica back (only fanout and chain: {})",
            match p {
                Protocol::Seed | Protocol::Owner =>
                    "its replicas forward the writes they serve to each other, and a write in flight to a \
                     joiner while it is still silent would be lost to it",
                _ => "its replicas differ by design, so no single donor holds the state a joiner must have",
            }
        )),
    }
}

/// The cycles a restarted replica may take to be serving again, counted
/// from its restart (or from its donor's death): one cycle to hear its
/// peers; one more when every replica restarted at once and a lower one
/// starts serving from its durable store first; one to name its donor; then
/// one chunk of `transfer_keys` entries per cycle over a store of at most
/// `keys` keys (one chunk for an empty store), each applied the cycle after
/// it is sent. (Without the waiting cycle, 2 + chunks, the checker finds two
/// replicas restarted together where the second takes one cycle more.)
pub fn rejoin_bound(keys: u32, transfer_keys: u32) -> u32 {
    assert!(transfer_keys > 0, "transfer_keys is at least 1");
    3 + keys.max(1).div_ceil(transfer_keys)
}

/// What a node keeps across a restart.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Image<V, S> {
    pub store: S,
    pub sessions: Vec<Option<Session<V>>>,
    /// Its [`Recovery::writes`] (durable with the store it counts).
    pub writes: u32,
}

/// A replica's status, sent on every transfer link every cycle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Status {
    Serving,
    /// Catching up, from `donor` (a replica index) once it named one; its
    /// durable store's [`Recovery::writes`].
    Joining {
        donor: Option<u8>,
        writes: u32,
    },
}

/// Part of a donor's state for one joiner.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Chunk<V> {
    /// The snapshot part: the donor's entries with keys in `(after, upto]`
    /// (`upto` `None`: to the end of its store, the last snapshot chunk).
    /// `None` once the snapshot is complete (deltas only).
    pub range: Option<(Option<Key>, Option<Key>)>,
    pub entries: Vec<(Key, V)>,
    /// The keys the donor's step touched this cycle, with their values now.
    pub delta: Vec<(Key, Option<V>)>,
    /// The donor's sessions (one per client).
    pub sessions: Vec<Option<Session<V>>>,
    /// The donor's [`Recovery::writes`] (after this cycle's step).
    pub writes: u32,
}

/// What a transfer link carries in one cycle.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Transfer<V> {
    pub status: Status,
    /// For the receiver, when the sender is its donor.
    pub chunk: Option<Chunk<V>>,
}

impl<V> Transfer<V> {
    /// The frame of a live replica with nothing to send but its status.
    pub fn serving() -> Self {
        Transfer {
            status: Status::Serving,
            chunk: None,
        }
    }

    /// One line for traces: `joining from r1`, `serving; 2 entries [0, 1) + delta k0=Some(1)`.
    pub fn text(&self) -> String
    where
        V: std::fmt::Debug,
    {
        let mut s = match self.status {
            Status::Serving => "serving".to_string(),
            Status::Joining { donor: None, writes } => format!("joining ({writes} write cycles)"),
            Status::Joining { donor: Some(d), .. } => format!("joining from replica {d}"),
        };
        if let Some(c) = &self.chunk {
            if let Some((after, upto)) = c.range {
                let show = |k: Option<Key>, none: &str| k.map_or(none.to_string(), |k| format!("k{k}"));
                s += &format!(
                    "; snapshot ({}, {}]: {:?}",
                    show(after, "start"),
                    show(upto, "end"),
                    c.entries
                );
            }
            if !c.delta.is_empty() {
                s += &format!("; delta {:?}", c.delta);
            }
        }
        s
    }

    /// Entries carried (snapshot and delta), for frame accounting.
    pub fn used(&self) -> usize {
        self.chunk.as_ref().map_or(0, |c| c.entries.len() + c.delta.len())
    }
}

/// A donor's progress feeding one joiner.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Feed {
    /// Sending the snapshot; the last key sent (`None`: none yet).
    Snapshot { after: Option<Key> },
    /// The snapshot is sent; deltas go on while the joiner says it joins.
    Sent,
    /// The joiner said it serves; one more delta was sent.
    Finishing,
}

/// A joiner's progress.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Joining {
    /// Its donor, once named.
    pub donor: Option<u8>,
    /// Whether it heard its peers yet (false in its first cycle: the frames
    /// of its previous life's links were dropped while it was dead).
    pub heard: bool,
    /// Cycles since its restart or its donor's death (capped: see
    /// [`rejoin_bound`]).
    pub cycles: u16,
}

/// What a replica with recovery configured keeps beside its store. Default
/// (and unchanged) without recovery.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Recovery<V, S> {
    /// `Some` while catching up.
    pub joining: Option<Joining>,
    /// Per replica it feeds: its progress (sorted by replica).
    pub feeds: Vec<(u8, Feed)>,
    /// With `--persist async`: the durable image, one cycle behind.
    pub lag: Option<Box<Image<V, S>>>,
    /// Its incarnation: 0 for the first, the driver numbers restarts.
    pub incarnation: u8,
    /// The cycles in which it applied a write while serving, counted over
    /// the shard's history: a joiner that completes its copy takes its
    /// donor's count (and the count each later delta carries). After every
    /// replica of the shard went down, the one with the highest count holds
    /// every acknowledged write any of them holds; it serves first (lowest
    /// replica among equals, which hold the same writes). Durable with the
    /// store: it counts the writes of the store it is kept with.
    pub writes: u32,
}

impl<V, S> Default for Recovery<V, S> {
    fn default() -> Self {
        Recovery {
            joining: None,
            feeds: Vec::new(),
            lag: None,
            incarnation: 0,
            writes: 0,
        }
    }
}

impl<V: Val, S: Store<V>> Server<V, S> {
    /// A restarted replica: incarnation `incarnation`, holding `image` (its
    /// durable state, empty for `--persist none`), joining.
    pub fn restarted(clients: usize, image: Option<Image<V, S>>, incarnation: u8) -> Self {
        let mut s = Server::new(clients);
        if let Some(img) = image {
            assert_eq!(img.sessions.len(), clients, "an image has one session per client");
            s.store = img.store;
            s.sessions = img.sessions;
            s.recovery.writes = img.writes;
        }
        s.recovery.joining = Some(Joining {
            donor: None,
            heard: false,
            cycles: 0,
        });
        s.recovery.incarnation = incarnation;
        s
    }

    /// Whether it is catching up (silent on its FE and peer links).
    pub fn is_joining(&self) -> bool {
        self.recovery.joining.is_some()
    }

    /// What is durable now, as the persistence mode says: for `sync` the
    /// state after its last step (its frames went out after it was made
    /// durable), for `async` the state one cycle before, `None` for `none`.
    pub fn durable_image(&self, persist: Persist) -> Option<Image<V, S>> {
        match persist {
            Persist::None => None,
            Persist::Sync => Some(Image {
                store: self.store.clone(),
                sessions: self.sessions.clone(),
                writes: self.recovery.writes,
            }),
            Persist::Async => Some(self.recovery.lag.as_deref().cloned().unwrap_or_else(|| Image {
                store: S::default(),
                sessions: vec![None; self.sessions.len()],
                writes: 0,
            })),
        }
    }

    /// One cycle of a replica with recovery configured: the joiner's
    /// catch-up, or the protocol's step followed by feeding joiners.
    pub fn recovery_step<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &ServerCtx,
        rc: RecoveryConfig,
        inputs: &[Option<&Frame<V>>],
        outs: &mut O,
    ) {
        let first = ctx.front_links() + ctx.peers;
        debug_assert_eq!(
            inputs.len(),
            first + ctx.transfers,
            "server inputs: front + peers + transfers"
        );
        if rc.persist == Persist::Async {
            // What the previous cycle wrote is durable from now on.
            self.recovery.lag = Some(Box::new(Image {
                store: self.store.clone(),
                sessions: self.sessions.clone(),
                writes: self.recovery.writes,
            }));
        }
        let transfer_in = &inputs[first..];
        // Chunks addressed to it (a joiner's, or a new server's last deltas).
        for (i, frame) in transfer_in.iter().enumerate() {
            if let Some(chunk) = frame.and_then(|f| f.transfer().chunk.as_ref()) {
                debug_assert!(i < ctx.transfers);
                self.apply_chunk(chunk);
            }
        }
        if self.recovery.joining.is_some() && !self.join(ctx, rc, transfer_in) {
            let me = Status::Joining {
                donor: self.recovery.joining.and_then(|j| j.donor),
                writes: self.recovery.writes,
            };
            for i in 0..ctx.transfers {
                *outs.out(first + i).transfer_mut() = Transfer {
                    status: me,
                    chunk: None,
                };
            }
            return;
        }
        let touched = touched_keys(&inputs[..first]);
        if !touched.is_empty() {
            // It applies a write (or an update) while serving.
            self.recovery.writes += 1;
        }
        ctx.protocol.replica_step(self, ctx, &inputs[..first], outs);
        self.feed(ctx, rc, transfer_in, &touched, first, outs);
    }

    /// A joiner's cycle; returns whether it has caught up (and serves from
    /// this cycle on).
    fn join(&mut self, ctx: &ServerCtx, rc: RecoveryConfig, transfer_in: &[Option<&Frame<V>>]) -> bool {
        let mut j = self.recovery.joining.expect("join is for joiners");
        let bound = rejoin_bound(rc.keys_max, rc.transfer_keys) as u16;
        j.cycles = (j.cycles + 1).min(bound.saturating_add(1));
        let status = |r: usize| transfer_in[peer_slot(ctx.replica, r)].map(|f| f.transfer().status);
        let peers = (0..ctx.replicas).filter(|&r| r != ctx.replica);
        if !j.heard {
            j.heard = true;
            self.recovery.joining = Some(j);
            return false;
        }
        if let Some(d) = j.donor {
            match transfer_in[peer_slot(ctx.replica, d as usize)] {
                None => {
                    // The donor died: start again with what it has.
                    j.donor = None;
                    j.cycles = 1;
                }
                Some(f) => {
                    if f.transfer()
                        .chunk
                        .as_ref()
                        .is_some_and(|c| matches!(c.range, Some((_, None))))
                    {
                        self.recovery.joining = None;
                        return true;
                    }
                }
            }
        }
        if j.donor.is_none() {
            let serving: Vec<usize> = peers.clone().filter(|&r| status(r) == Some(Status::Serving)).collect();
            let below = serving.iter().copied().filter(|&r| r < ctx.replica).max();
            match below.or(serving.first().copied()) {
                Some(d) => j.donor = Some(d as u8),
                None => {
                    // Nobody serves: every replica of the shard went down.
                    // Once all are back, the one whose durable store holds
                    // the most writes (the highest count; the lowest
                    // replica among equals) serves from it and the others
                    // join from it; until then it waits (not counted as
                    // catching up).
                    let all_back = peers.clone().all(|r| matches!(status(r), Some(Status::Joining { .. })));
                    let mine = (self.recovery.writes, std::cmp::Reverse(ctx.replica));
                    let best = peers.clone().all(|r| match status(r) {
                        Some(Status::Joining { writes, .. }) => (writes, std::cmp::Reverse(r)) < mine,
                        _ => true,
                    });
                    if all_back && best {
                        self.recovery.joining = None;
                        return true;
                    }
                    j.cycles = 1;
                }
            }
        }
        self.recovery.joining = Some(j);
        false
    }

    /// Applies a donor's chunk: the snapshot range (dropping what the donor
    /// does not hold in it), the delta, and the newer sessions.
    pub fn apply_chunk(&mut self, chunk: &Chunk<V>) {
        if let Some((after, upto)) = chunk.range {
            let stale: Vec<Key> = self
                .store
                .entries_after(after, usize::MAX)
                .into_iter()
                .map(|(k, _)| k)
                .take_while(|k| upto.is_none_or(|u| *k <= u))
                .collect();
            for k in stale {
                self.store.remove(&k);
            }
            for (k, v) in &chunk.entries {
                self.store.insert(*k, v.clone());
            }
        }
        for (k, v) in &chunk.delta {
            match v {
                Some(v) => {
                    self.store.insert(*k, v.clone());
                }
                None => {
                    self.store.remove(k);
                }
            }
        }
        // The donor's count, once the copy is complete (the last snapshot
        // chunk, or a delta after it): a joiner part-way through holds its
        // own durable writes and only some of the donor's, and keeps its
        // own count.
        if self.recovery.joining.is_none() || matches!(chunk.range, Some((_, None))) {
            self.recovery.writes = self.recovery.writes.max(chunk.writes);
        }
        for (mine, theirs) in self.sessions.iter_mut().zip(&chunk.sessions) {
            if let Some(t) = theirs {
                if mine.as_ref().is_none_or(|m| m.tag < t.tag) {
                    *mine = Some(t.clone());
                }
            }
        }
    }

    /// After its step, a serving replica sends its status on every transfer
    /// link, and a chunk to each joiner that named it.
    fn feed<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &ServerCtx,
        rc: RecoveryConfig,
        transfer_in: &[Option<&Frame<V>>],
        touched: &[Key],
        first: usize,
        outs: &mut O,
    ) {
        let mut feeds = Vec::new();
        for r in (0..ctx.replicas).filter(|&r| r != ctx.replica) {
            let slot = peer_slot(ctx.replica, r);
            let old = self.recovery.feeds.iter().find(|f| f.0 as usize == r).map(|f| f.1);
            let next = match transfer_in[slot].map(|f| f.transfer().status) {
                Some(Status::Joining { donor: Some(d), .. }) if d as usize == ctx.replica => match old {
                    None | Some(Feed::Finishing) => Some(Feed::Snapshot { after: None }),
                    Some(f) => Some(f),
                },
                Some(Status::Serving) => match old {
                    Some(Feed::Sent) => Some(Feed::Finishing),
                    _ => None,
                },
                _ => None,
            };
            let mut frame = Transfer::serving();
            if let Some(feed) = next {
                let (chunk, after) = self.chunk(ctx, rc, feed, touched);
                frame.chunk = Some(chunk);
                match (feed, after) {
                    (Feed::Snapshot { .. }, Some(a)) => feeds.push((r as u8, Feed::Snapshot { after: a })),
                    (Feed::Snapshot { .. }, None) => feeds.push((r as u8, Feed::Sent)),
                    (f, _) => feeds.push((r as u8, f)),
                }
            }
            *outs.out(first + slot).transfer_mut() = frame;
        }
        self.recovery.feeds = feeds;
    }

    /// The chunk for a joiner at `feed`, and where the snapshot stands after
    /// it (`Some(after)`: more to send; `None`: done or not sending one).
    fn chunk(
        &self,
        ctx: &ServerCtx,
        rc: RecoveryConfig,
        feed: Feed,
        touched: &[Key],
    ) -> (Chunk<V>, Option<Option<Key>>) {
        let delta = touched.iter().map(|k| (*k, self.store.get(k).cloned())).collect();
        let sessions = self.sessions.clone();
        let writes = self.recovery.writes;
        debug_assert_eq!(sessions.len(), ctx.clients);
        let Feed::Snapshot { after } = feed else {
            return (
                Chunk {
                    range: None,
                    entries: Vec::new(),
                    delta,
                    sessions,
                    writes,
                },
                None,
            );
        };
        let n = rc.transfer_keys as usize;
        let mut entries = self.store.entries_after(after, n + 1);
        let more = entries.len() > n;
        entries.truncate(n);
        let upto = if more { entries.last().map(|e| e.0) } else { None };
        let chunk = Chunk {
            range: Some((after, upto)),
            entries,
            delta,
            sessions,
            writes,
        };
        (chunk, more.then_some(upto))
    }
}

/// The transfer link index (among a replica's transfer links) of peer `r`.
pub fn peer_slot(me: usize, r: usize) -> usize {
    debug_assert_ne!(me, r);
    if r < me {
        r
    } else {
        r - 1
    }
}

/// The keys a replica's step may change this cycle: those of the writes on
/// its front links and of the updates on its peer links, ascending.
fn touched_keys<V: Val>(inputs: &[Option<&Frame<V>>]) -> Vec<Key> {
    let mut keys = Vec::new();
    for frame in inputs.iter().flatten() {
        match frame {
            Frame::Up(s) => keys.extend(s.iter().filter(|(_, r)| r.op.is_write()).map(|(_, r)| r.op.key())),
            Frame::Peer(s) => keys.extend(s.iter().map(|(_, u)| u.op.key())),
            Frame::Down(_) | Frame::Transfer(_) => {}
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}
