//! State reduction: states that no property and no future step can tell
//! apart are one state. Three reductions, each sound only where its
//! condition holds, combined in [`representative`]:
//!
//! - **Replicas** ([`Reduction::replicas`]): a permutation of a shard's
//!   interchangeable replicas (`fanout`: seed replicas apply peers' updates
//!   in replica order, and owner picks owners by replica id).
//! - **Clients** ([`Reduction::clients`]): a renaming of the clients that
//!   keeps the order of every client that may still send, and sessions
//!   nothing can read any more forgotten.
//! - **Values** ([`Reduction::values`]): a permutation of the values. Node
//!   logic and the monitor compare values only for equality
//!   (`tidekv::node::values`), so every protocol qualifies; the
//!   representative is the least of the states that the renamings ordering
//!   values by where they occur reduce to (usually one).
//!
//! And two that leave actions out instead of merging states
//! ([`TideModel::cycle_actions`]): with replica symmetry, picks that only
//! swap replicas no step can tell apart in the current state (they lead to
//! states with one representative: state counts do not change, fewer
//! states are generated); and with [`Reduction::horizon`], operations a
//! client behind an FE would start in the last cycle, which reach no node
//! before the horizon (the final state differs from the one without them
//! only in pending invocations, which changes no property and no twin:
//! `tests/tests/reduction.rs` checks both on every reachable state).
//!
//! # Why clients are not fully interchangeable
//! A server serves a frame's requests in slot order, which is client order,
//! so when two clients' requests to one key meet in one frame the lower
//! client's goes first. Swapping two clients that will still send swaps who
//! wins their future races: from `c0 Put(k,1), c1 Put(k,2)` the store ends
//! with 2, from the swapped state with 1, and no renaming of clients maps
//! one successor onto the other. A reduction under every permutation of
//! the clients would explore, from the swapped state, successors the
//! unswapped one cannot have, and miss some it has: not a symmetry of the
//! model. What is one: a renaming that keeps the *relative order* of the
//! clients that may still send (every future race resolves as before), with
//! the clients that are done — no operations left, nothing of theirs in
//! flight, in any frame, FE table or relay list — placed after them in a
//! canonical order. Done clients differ only in what the property monitor
//! remembers of their writes, under their names, and in the frames on their
//! own links (empty, or none after a crash); the monitor's finished writes
//! are renamed canonically first, so the order is by those frames.
//!
//! # Forgotten sessions
//! A server's session for a client (the tag and answer of its last write)
//! is read only when a request or update with that tag (or, for `chain`'s
//! updates, an older one) arrives. Once no frame, FE table or relay list
//! holds anything of the client's and neither the client nor an FE has that
//! tag pending, nothing can arrive with it again: tags grow, and a session
//! of `None` and one with an older tag give every later request and update
//! the same treatment. Such sessions are dropped in the representative.
//!
//! A search that shows paths (the default suite, the tests, `--max-states`
//! and `--max-seconds`) keeps exploring the states the model produced, not
//! their representatives (stateright's depth-first search uses the
//! representative only to decide whether it has seen a state), so every
//! counterexample is a path of the unreduced model. `check` keeps only
//! representatives ([`TideModel::canonical_successors`]: a representative
//! is a member of its class, its own representative, with the same
//! properties and successors, which `tests/tests/reduction.rs` checks), and
//! on a violation searches again without reductions.

use super::state::{Canon, ClientLinks, ShardReplicas, State, Symmetry};
use super::tide::TideModel;
use std::sync::Arc;
use tidekv::cluster::NodeState;
use tidekv::node::server::Session;
use tidekv::node::{Frame, Slots, Tag};
use tidekv::topology::{ConfigError, NodeId};

/// Which reductions a search uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reduction {
    /// Permutations of a shard's replicas.
    pub replicas: bool,
    /// Order-keeping renamings of the clients, and forgotten sessions.
    pub clients: bool,
    /// Permutations of the values (`1..=--values`).
    pub values: bool,
    /// No operation starts behind an FE in the last cycle, nor, without
    /// caches or queues, in the one before (nothing but the property monitor
    /// and the FE would see it before the horizon).
    pub horizon: bool,
}

impl Reduction {
    /// No reduction.
    pub const NONE: Reduction = Reduction {
        replicas: false,
        clients: false,
        values: false,
        horizon: false,
    };

    /// Every reduction, where sound ([`Reduction::within`]).
    pub const ALL: Reduction = Reduction {
        replicas: true,
        clients: true,
        values: true,
        horizon: true,
    };

    /// The reductions of `self` that are sound for `config`.
    pub fn within(self, config: &super::config::ModelConfig) -> Reduction {
        let sound = Reduction::sound(config);
        Reduction {
            replicas: self.replicas && sound.replicas,
            clients: self.clients && sound.clients,
            values: self.values && sound.values,
            horizon: self.horizon && sound.horizon,
        }
    }

    /// Every reduction that is sound for `config`.
    pub fn sound(config: &super::config::ModelConfig) -> Reduction {
        Reduction {
            replicas: config.replicas_symmetric(),
            clients: config.clients_symmetric(),
            values: config.values_symmetric(),
            horizon: config.topology.kind != tidekv::topology::Kind::Single,
        }
    }

    pub fn any(self) -> bool {
        self.replicas || self.clients || self.values || self.horizon
    }

    /// For messages: the reductions on, joined by ` × ` (`clients ×
    /// replicas × values`, then ` + horizon`), or `none`.
    pub fn name(self) -> String {
        let on: Vec<&str> = [
            (self.clients, "clients"),
            (self.replicas, "replicas"),
            (self.values, "values"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        match (on.is_empty(), self.horizon) {
            (true, false) => "none".into(),
            (true, true) => "horizon".into(),
            (false, false) => on.join(" × "),
            (false, true) => format!("{} + horizon", on.join(" × ")),
        }
    }
}

/// The representative of a state's class under the model's reductions
/// ([`TideModel::with_reduction`]): sessions nothing can read dropped, done
/// clients after the others in a canonical order, then each shard's
/// replicas sorted. Canonical: two states of one class give the same
/// representative (so state counts do not depend on the search order or
/// the threads).
pub fn representative(s: &State) -> State {
    canonical(s.clone())
}

/// [`representative`], taking the state by value: it renames `s` in place
/// (no copy unless values tie), so a search that keeps only representatives
/// ([`TideModel::canonical_successors`]) pays no clone for it.
pub fn canonical(s: State) -> State {
    let Some(canon) = s.symmetry.0.clone() else { return s };
    let reduce = |mut out: State| {
        if let Some(links) = &canon.clients {
            reduce_clients(&mut out, links);
        }
        if let Some((root, shards)) = &canon.replicas {
            permute_replicas(&mut out, *root, shards);
        }
        out
    };
    let Some(perms) = &canon.values else {
        return reduce(s);
    };
    // Not with a kept trace or a latency note: their texts name values.
    if s.trace.is_some() || s.monitor.latency_note.is_some() {
        return reduce(s);
    }
    // Values are ordered by where they occur (counts that no renaming of
    // clients or replicas changes); the renamings that put them in that
    // order are the candidates, and the least state they reduce to is the
    // representative. Each reduction above is canonical for its renamings,
    // and renaming values commutes with them, so every state of a class has
    // the same candidates up to renaming, hence the same least one. Mostly
    // the counts differ and there is one candidate: one reduction, as
    // without values, and no copy.
    let mut s = s;
    let sig = value_signature(&mut s, perms[0].len());
    let mut candidates = perms
        .iter()
        .filter(|to| (1..to.len()).all(|v| (1..to.len()).all(|w| sig[v] >= sig[w] || to[v] < to[w])));
    let first = candidates.next().expect("the sorting renaming is a candidate");
    let reduce_as = |mut t: State, to: &[super::config::V]| {
        if to.iter().enumerate().any(|(v, &w)| v != w as usize) {
            rename_values(&mut t, to);
        }
        reduce(t)
    };
    let rest: Vec<&Vec<super::config::V>> = candidates.collect();
    if rest.is_empty() {
        return reduce_as(s, first);
    }
    let mut best = reduce_as(s.clone(), first);
    for to in rest {
        let c = reduce_as(s.clone(), to);
        if order_key(&c) < order_key(&best) {
            best = c;
        }
    }
    best
}

/// Per value (indexed by value): how often it occurs in each kind of place
/// that no renaming of clients or replicas, no forgotten session and no
/// renaming of finished writes changes the count of: clients' requests, FE
/// tables and caches, server stores, relay lists, frames, durable stores,
/// the monitor's pending operations and configurations. (Leaves `t` as it
/// is: the visitor only counts.)
fn value_signature(t: &mut State, n: usize) -> Vec<[u16; 7]> {
    use tidekv::node::values::Values;
    let mut counts = vec![[0u16; 7]; n];
    {
        let mut at = |place: usize, v: &super::config::V| {
            let c = &mut counts[*v as usize][place];
            *c = c.saturating_add(1);
        };
        for node in t.cluster.nodes.iter_mut() {
            match node {
                NodeState::Client(c) => c.each_value(&mut |v| at(0, v)),
                NodeState::Fe(fe) => fe.each_value(&mut |v| at(1, v)),
                NodeState::Server(sv) => {
                    sv.store.each_value(&mut |v| at(2, v));
                    sv.relay.each_value(&mut |v| at(3, v));
                }
                NodeState::Dead => {}
            }
        }
        for f in t.cluster.inbox.iter_mut().flatten() {
            f.each_value(&mut |v| at(4, v));
        }
        for (_, image) in t.cluster.durable.iter_mut() {
            image.store.each_value(&mut |v| at(5, v));
        }
        t.monitor.each_stable_value(&mut |v| at(6, v));
    }
    counts
}

/// The total order the value reduction picks the least candidate by.
fn order_key(
    s: &State,
) -> (
    &tidekv::cluster::Cluster<super::config::V>,
    &tidekv_checks::Monitor<super::config::V>,
    u8,
) {
    (&s.cluster, &s.monitor, s.restarts)
}

/// Renames value `v` to `to[v]` everywhere: stores, sessions, frames, FE
/// tables and caches, relay lists, durable images, the monitor (then put
/// back in its canonical form).
fn rename_values(out: &mut State, to: &[super::config::V]) {
    use tidekv::node::values::Values;
    let mut f = |v: &mut super::config::V| *v = to[*v as usize];
    out.cluster.each_value(&mut f);
    out.monitor.rename_values(&mut f);
}

/// Per client: what still names it in the cluster.
struct Named {
    /// Something of its in a frame, an FE table or a relay list.
    anywhere: Vec<bool>,
    /// The lowest tag of its requests and updates in frames and relay lists
    /// (what a server could read its session for).
    request: Vec<Option<Tag>>,
    /// The lowest tag an FE holds in flight for it.
    fe_tag: Vec<Option<Tag>>,
}

fn named(s: &State, links: &ClientLinks) -> Named {
    let n = links.links.len();
    let mut named = Named {
        anywhere: vec![false; n],
        request: vec![None; n],
        fe_tag: vec![None; n],
    };
    let lowest = |t: &mut Option<Tag>, tag: Tag| *t = Some(t.map_or(tag, |t| t.min(tag)));
    for (l, f) in s.cluster.inbox.iter().enumerate() {
        let Some(f) = f else { continue };
        let owner = links.owner[l];
        // No per-frame allocation: this runs on every generated state.
        let mut note = |i: usize, tag: Option<Tag>| {
            let c = owner.unwrap_or(i);
            named.anywhere[c] = true;
            if let Some(tag) = tag {
                lowest(&mut named.request[c], tag);
            }
        };
        match f {
            Frame::Up(x) => x.iter().for_each(|(i, r)| note(i, Some(r.tag))),
            Frame::Peer(x) => x.iter().for_each(|(i, u)| note(i, Some(u.tag))),
            Frame::Down(x) => x.iter().for_each(|(i, _)| note(i, None)),
            // No reduction applies with recovery (ModelConfig::clients_symmetric).
            Frame::Transfer(_) => {}
        }
    }
    for node in &s.cluster.nodes {
        match node {
            NodeState::Fe(fe) => {
                for (c, f) in fe.inflight.iter().enumerate() {
                    if let Some(f) = f {
                        named.anywhere[c] = true;
                        lowest(&mut named.fe_tag[c], f.req.tag);
                    }
                }
            }
            NodeState::Server(sv) => {
                for (c, u) in sv.relay.sent.iter().flatten() {
                    named.anywhere[*c] = true;
                    lowest(&mut named.request[*c], u.tag);
                }
            }
            _ => {}
        }
    }
    named
}

/// Drops the sessions nothing can read, then renames the clients: those
/// that may still send first, in their order, then the done ones sorted by
/// the frames on their links (the monitor names them nowhere once its
/// finished writes are renamed).
fn reduce_clients(out: &mut State, links: &ClientLinks) {
    let n = links.links.len();
    let named = named(out, links);
    let pending: Vec<Option<Tag>> = (0..n)
        .map(|c| out.cluster.client(c).pending.as_ref().map(|r| r.tag))
        .collect();
    let after = |t: Option<Tag>, tag: Tag| t.is_none_or(|t| t > tag);
    for node in out.cluster.nodes.iter_mut() {
        if let NodeState::Server(sv) = node {
            for (c, session) in sv.sessions.iter_mut().enumerate() {
                let dead = |x: &Session<_>| {
                    [pending[c], named.fe_tag[c], named.request[c]]
                        .into_iter()
                        .all(|t| after(t, x.tag))
                };
                if session.as_ref().is_some_and(dead) {
                    *session = None;
                }
            }
        }
    }
    let done =
        |c: usize| !named.anywhere[c] && pending[c].is_none() && out.cluster.client(c).next_tag >= links.ops_per_client;
    let (mut perm, mut finished): (Vec<usize>, Vec<usize>) = (0..n).partition(|&c| !done(c));
    // A done client's writes are all finished: once they lose its name
    // (`canonical_write_names` below), the monitor names it nowhere, its
    // sessions are gone, and what is left of it is the frames on its own
    // links (empty, or none after a crash). Ordered by those, done clients
    // come out in one order however they were named, and whatever names
    // their finished writes had.
    let active = perm.len();
    let frames = |c: usize| {
        let (up, down) = links.links[c];
        (&out.cluster.inbox[up], &out.cluster.inbox[down])
    };
    finished.sort_by(|&a, &b| frames(a).cmp(&frames(b)).then(a.cmp(&b)));
    perm.extend(finished);
    if perm.iter().enumerate().any(|(i, &p)| i != p) {
        let mut to = vec![0; n];
        for (new, &old) in perm.iter().enumerate() {
            to[old] = new;
        }
        rename_clients(out, links, &to);
    }
    out.monitor.canonical_write_names();
    debug_assert!((active..n).all(|c| out.monitor.footprint(c).is_empty()));
}

/// Renames client `c` to `to[c]` everywhere: client nodes, their links,
/// every frame's slots, FE tables, sessions, relay lists, the monitor.
fn rename_clients(out: &mut State, links: &ClientLinks, to: &[usize]) {
    let n = to.len();
    let clients: Vec<NodeState<_>> = out.cluster.nodes[..n].to_vec();
    for (c, node) in clients.into_iter().enumerate() {
        out.cluster.nodes[to[c]] = node;
    }
    let inbox = std::mem::take(&mut out.cluster.inbox);
    out.cluster.inbox = vec![None; inbox.len()];
    for (l, f) in inbox.into_iter().enumerate() {
        match links.owner[l] {
            Some(c) => {
                let (up, down) = links.links[to[c]];
                let dest = if l == links.links[c].0 { up } else { down };
                out.cluster.inbox[dest] = f;
            }
            None => out.cluster.inbox[l] = f.map(|f| rename_frame(f, to)),
        }
    }
    for node in out.cluster.nodes[n..].iter_mut() {
        match node {
            NodeState::Fe(fe) => fe.inflight = permuted(&fe.inflight, to),
            NodeState::Server(sv) => {
                sv.sessions = permuted(&sv.sessions, to);
                for (c, _) in sv.relay.sent.iter_mut().flatten() {
                    *c = to[*c];
                }
            }
            _ => {}
        }
    }
    out.monitor = out.monitor.rename_clients(to);
}

fn permuted<T: Clone>(v: &[T], to: &[usize]) -> Vec<T> {
    let mut out = v.to_vec();
    for (c, x) in v.iter().enumerate() {
        out[to[c]] = x.clone();
    }
    out
}

fn rename_frame<V: Clone>(f: Frame<V>, to: &[usize]) -> Frame<V> {
    fn slots<T: Clone>(x: &Slots<T>, to: &[usize]) -> Slots<T> {
        let mut out = Slots::new(x.len());
        for (i, e) in x.iter() {
            out.set(to[i], e.clone());
        }
        out
    }
    match &f {
        Frame::Up(x) => Frame::Up(slots(x, to)),
        Frame::Down(x) => Frame::Down(slots(x, to)),
        Frame::Peer(x) => Frame::Peer(slots(x, to)),
        Frame::Transfer(_) => unreachable!("no client reduction with recovery"),
    }
}

/// The replicas of `s` that no step can tell apart, when the replica
/// reduction is on: per shard, its classes of two or more replicas whose
/// swap leaves `s` as it is (same state, same frames to and from them, and
/// targeted and awaited by the same requests of the root FE). Swapping two
/// of them in an action's picks gives a successor that is the same swap of
/// the original's, so it has the same representative: the model generates
/// only one action of each such family ([`picks_canonical`]). Empty when
/// there is no such class.
pub(super) fn identical_replicas(s: &State) -> Vec<(usize, Vec<usize>)> {
    let Some(canon) = &s.symmetry.0 else { return Vec::new() };
    let Some((root, shards)) = &canon.replicas else {
        return Vec::new();
    };
    let inflight = match &s.cluster.nodes[*root] {
        NodeState::Fe(fe) => Some(&fe.inflight),
        _ => None,
    };
    let mut out = Vec::new();
    for (shard, replicas) in shards.iter().enumerate() {
        let bits = |r: usize| {
            inflight
                .into_iter()
                .flatten()
                .flatten()
                .filter(|f| f.shard as usize == shard)
                .map(move |f| ((f.targets >> r) & 1, (f.answer >> r) & 1))
        };
        let same = |a: usize, b: usize| {
            let ((ia, ta, fa), (ib, tb, fb)) = (replicas[a], replicas[b]);
            s.cluster.nodes[ia] == s.cluster.nodes[ib]
                && s.cluster.inbox[ta] == s.cluster.inbox[tb]
                && s.cluster.inbox[fa] == s.cluster.inbox[fb]
                && bits(a).eq(bits(b))
        };
        let mut placed = vec![false; replicas.len()];
        for a in 0..replicas.len() {
            if placed[a] {
                continue;
            }
            let class: Vec<usize> = (a..replicas.len())
                .filter(|&b| !placed[b] && (b == a || same(a, b)))
                .collect();
            if class.len() >= 2 {
                class.iter().for_each(|&b| placed[b] = true);
                out.push((shard, class));
            }
        }
    }
    out
}

/// Whether `picks` (one replica each, in the FE's order) is the one of its
/// family that [`identical_replicas`]' `classes` keep: within each class,
/// the replicas picked appear first in the class's order (the first one
/// picked is its lowest, the next new one its second, …). Every family has
/// exactly one such member: rename the class's replicas in order of first
/// use.
pub(super) fn picks_canonical(classes: &[(usize, Vec<usize>)], picks: &[(usize, usize)]) -> bool {
    classes.iter().all(|(shard, class)| {
        let mut used = 0;
        picks
            .iter()
            .filter(|(s, _)| s == shard)
            .all(|&(_, r)| match class.iter().position(|&m| m == r) {
                Some(i) if i < used => true,
                Some(i) if i == used => {
                    used += 1;
                    true
                }
                Some(_) => false,
                None => true,
            })
    })
}

/// Sorts each shard's replicas by (state, frame to them, frame from them,
/// which of the root FE's requests in flight target them), the root FE's
/// in-flight target sets renamed to match.
fn permute_replicas(out: &mut State, root: NodeId, shards: &ShardReplicas) {
    for (shard, replicas) in shards.iter().enumerate() {
        let perm = {
            let s = &*out;
            let inflight = match &s.cluster.nodes[root] {
                NodeState::Fe(fe) => Some(&fe.inflight),
                _ => None,
            };
            // Per replica: which of the root FE's in-flight requests to this
            // shard target it. With it in the key, replicas that tie are
            // interchangeable in every respect, so the order found is
            // canonical: every state of a class maps to one representative.
            let targeted = |r: usize| -> Vec<bool> {
                inflight
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|f| f.shard as usize == shard)
                    .map(|f| (f.targets >> r) & 1 == 1)
                    .collect()
            };
            let key = |r: usize| {
                let (id, to, from) = replicas[r];
                (
                    &s.cluster.nodes[id],
                    &s.cluster.inbox[to],
                    &s.cluster.inbox[from],
                    targeted(r),
                )
            };
            let keys: Vec<_> = (0..replicas.len()).map(key).collect();
            let mut perm: Vec<usize> = (0..replicas.len()).collect();
            perm.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
            perm
        };
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            continue;
        }
        // Move the shard's replica parts out and back in their new places
        // (no clone of the whole state).
        let mut taken: Vec<_> = replicas
            .iter()
            .map(|&(id, to, from)| {
                (
                    std::mem::replace(&mut out.cluster.nodes[id], NodeState::Dead),
                    out.cluster.inbox[to].take(),
                    out.cluster.inbox[from].take(),
                )
            })
            .map(Some)
            .collect();
        for (new, &old) in perm.iter().enumerate() {
            let (nid, nto, nfrom) = replicas[new];
            let (node, to, from) = taken[old].take().expect("a permutation moves each replica once");
            out.cluster.nodes[nid] = node;
            out.cluster.inbox[nto] = to;
            out.cluster.inbox[nfrom] = from;
        }
        // Only the root FE names replicas: an inner FE's target bit 0 means
        // its parent, whatever the shard field says.
        if let NodeState::Fe(fe) = &mut out.cluster.nodes[root] {
            for f in fe.inflight.iter_mut().flatten() {
                if f.shard as usize == shard {
                    let rename = |old: u32| {
                        perm.iter()
                            .enumerate()
                            .fold(0, |m, (new, &o)| m | (((old >> o) & 1) << new))
                    };
                    (f.targets, f.answer) = (rename(f.targets), rename(f.answer));
                }
            }
        }
    }
}

/// Every permutation of the values `1..=values`, the identity first, each as
/// a table `to[v]` (value 0 is never written: it stays).
fn value_permutations(values: super::config::V) -> Vec<Vec<super::config::V>> {
    fn extend(prefix: &mut Vec<super::config::V>, values: super::config::V, out: &mut Vec<Vec<super::config::V>>) {
        if prefix.len() == values as usize + 1 {
            out.push(prefix.clone());
            return;
        }
        for v in 1..=values {
            if !prefix.contains(&v) {
                prefix.push(v);
                extend(prefix, values, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    extend(&mut vec![0], values, &mut out);
    out
}

/// The protocols whose replicas are interchangeable, for messages.
pub fn symmetric_protocols() -> String {
    let names: Vec<&str> = tidekv::node::Protocol::ALL
        .into_iter()
        .filter(|p| p.replicas_symmetric())
        .map(|p| p.name())
        .collect();
    names.join(", ")
}

impl TideModel {
    /// The same model, with replica symmetry only (what `--symmetry` meant
    /// before the client reduction). Errors unless replicas are
    /// interchangeable (`fanout`, R ≥ 2).
    pub fn with_symmetry(self) -> Result<Self, ConfigError> {
        self.with_reduction(Reduction {
            replicas: true,
            ..Reduction::NONE
        })
    }

    /// The same model, with states carrying what [`representative`] needs
    /// for `reduction`. Errors when a reduction asked for is not sound here
    /// ([`Reduction::sound`]).
    pub fn with_reduction(mut self, reduction: Reduction) -> Result<Self, ConfigError> {
        let sound = Reduction::sound(&self.config);
        if reduction.replicas && !sound.replicas {
            return Err(ConfigError(format!(
                "replica symmetry needs --topology replicated with 2 or more replicas and a protocol whose \
                 replicas are interchangeable ({})",
                symmetric_protocols()
            )));
        }
        if reduction.clients && !sound.clients {
            return Err(ConfigError(
                "the client reduction needs 2 to 64 clients, one FE level, and a protocol that uses client \
                 numbers only as slots (Replication::clients_symmetric)"
                    .into(),
            ));
        }
        if reduction.values && !sound.values {
            return Err(ConfigError(format!(
                "value symmetry needs 2 to {} values and operations that write them",
                super::config::VALUES_SYMMETRIC_MAX
            )));
        }
        if !reduction.any() {
            self.symmetry = Symmetry::default();
            return Ok(self);
        }
        let replicas = reduction.replicas.then(|| self.replica_links());
        let clients = reduction.clients.then(|| self.client_links());
        let values = reduction.values.then(|| value_permutations(self.config.values));
        self.symmetry = Symmetry(Some(Arc::new(Canon {
            replicas,
            clients,
            values,
            horizon: if reduction.horizon { self.horizon_cycles() } else { 0 },
        })));
        Ok(self)
    }

    /// In how many final cycles the horizon reduction leaves out the
    /// operations clients behind an FE would start: the last one, where the
    /// request reaches no node before the horizon; and the one before, where
    /// it reaches the FE and no further, unless a cache (which answers and
    /// fills at the FE) or a queue (which makes other clients wait) lets it
    /// change the FE's other answers, or an operation may be overdue two
    /// cycles after it starts. Two cycles before the horizon a request
    /// reaches servers at the horizon, where `converged`'s twin no longer
    /// looks (the horizon's inputs are never processed).
    pub fn horizon_cycles(&self) -> u32 {
        let t = &self.config.topology;
        let lat = t.latency();
        if t.cache.is_none() && t.slots == 0 && lat.read.min(lat.write) > 2 {
            2
        } else {
            1
        }
    }

    fn link(&self, from: NodeId, to: NodeId) -> usize {
        self.topo
            .links
            .iter()
            .position(|l| l.from == from && l.to == to)
            .expect("the topology links these nodes")
    }

    fn replica_links(&self) -> (NodeId, ShardReplicas) {
        let t = &self.config.topology;
        let topo = &self.topo;
        let fe = topo.fes().last().expect("a replicated topology has a root FE");
        let shards = (0..t.shards)
            .map(|s| {
                (0..t.replicas)
                    .map(|r| {
                        let id = topo.server(s, r);
                        (id, self.link(fe, id), self.link(id, fe))
                    })
                    .collect()
            })
            .collect();
        (fe, shards)
    }

    fn client_links(&self) -> ClientLinks {
        let topo = &self.topo;
        let mut owner = vec![None; topo.links.len()];
        let links = (0..topo.clients())
            .map(|c| {
                let up = topo.nodes[c].outputs[0];
                let down = topo.nodes[c].inputs[0];
                assert_eq!(
                    (topo.nodes[c].outputs.len(), topo.nodes[c].inputs.len()),
                    (1, 1),
                    "a client has one link each way"
                );
                owner[up] = Some(c);
                owner[down] = Some(c);
                (up, down)
            })
            .collect();
        for (l, link) in topo.links.iter().enumerate() {
            assert!(
                owner[l].is_some() || link.slots == topo.clients(),
                "a link that is not a client's has one slot per client"
            );
        }
        ClientLinks {
            links,
            owner,
            ops_per_client: self.config.ops_per_client,
        }
    }
}
