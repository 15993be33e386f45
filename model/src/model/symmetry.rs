//! State reduction: states that no property and no future step can tell
//! apart are one state. Two reductions, each sound only where its
//! condition holds, combined in [`representative`]:
//!
//! - **Replicas** ([`Reduction::replicas`]): a permutation of a shard's
//!   interchangeable replicas (`fanout`: seed replicas apply peers' updates
//!   in replica order, and owner picks owners by replica id).
//! - **Clients** ([`Reduction::clients`]): a renaming of the clients that
//!   keeps the order of every client that may still send, and sessions
//!   nothing can read any more forgotten.
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
//! remembers of their writes, and the monitor uses client numbers as names.
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
//! The checker keeps exploring the states the model produced, not their
//! representatives (stateright's depth-first search uses the representative
//! only to decide whether it has seen a state), so every counterexample is a
//! path of the unreduced model.

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
}

impl Reduction {
    /// No reduction.
    pub const NONE: Reduction = Reduction {
        replicas: false,
        clients: false,
    };

    /// Every reduction, where sound ([`Reduction::within`]).
    pub const ALL: Reduction = Reduction {
        replicas: true,
        clients: true,
    };

    /// The reductions of `self` that are sound for `config`.
    pub fn within(self, config: &super::config::ModelConfig) -> Reduction {
        let sound = Reduction::sound(config);
        Reduction {
            replicas: self.replicas && sound.replicas,
            clients: self.clients && sound.clients,
        }
    }

    /// Every reduction that is sound for `config`.
    pub fn sound(config: &super::config::ModelConfig) -> Reduction {
        Reduction {
            replicas: config.replicas_symmetric(),
            clients: config.clients_symmetric(),
        }
    }

    pub fn any(self) -> bool {
        self.replicas || self.clients
    }

    /// For messages: `replicas`, `clients`, `clients × replicas` or `none`.
    pub fn name(self) -> &'static str {
        match (self.clients, self.replicas) {
            (true, true) => "clients × replicas",
            (true, false) => "clients",
            (false, true) => "replicas",
            (false, false) => "none",
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
    let Some(canon) = &s.symmetry.0 else { return s.clone() };
    let mut out = s.clone();
    if let Some(links) = &canon.clients {
        reduce_clients(&mut out, links);
    }
    if let Some((root, shards)) = &canon.replicas {
        permute_replicas(&mut out, *root, shards);
    }
    out
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
/// what the monitor remembers of them.
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
    let footprints: Vec<_> = (0..n).map(|c| done(c).then(|| out.monitor.footprint(c))).collect();
    finished.sort_by(|&a, &b| footprints[a].cmp(&footprints[b]).then(a.cmp(&b)));
    perm.extend(finished);
    if perm.iter().enumerate().any(|(i, &p)| i != p) {
        let mut to = vec![0; n];
        for (new, &old) in perm.iter().enumerate() {
            to[old] = new;
        }
        rename_clients(out, links, &to);
    }
    out.monitor.canonical_write_names();
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
            clients: false,
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
        if !reduction.any() {
            self.symmetry = Symmetry::default();
            return Ok(self);
        }
        let replicas = reduction.replicas.then(|| self.replica_links());
        let clients = reduction.clients.then(|| self.client_links());
        self.symmetry = Symmetry(Some(Arc::new(Canon { replicas, clients })));
        Ok(self)
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
