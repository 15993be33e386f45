//! A whole cluster stepped in lockstep: every node's state plus the frames on
//! every link. Pure: the model's state *is* a [`Cluster`], and the in-process
//! runtime loops over [`Cluster::step`].
//!
//! # One cycle
//! Every live node reads the frame each of its input links carried from the
//! previous cycle and writes one frame to each output link, delivered next
//! cycle. The driver supplies, through [`CycleInputs`] and the chooser, every
//! choice of the cycle: the operation each idle client starts, the replica the
//! root FE picks where the protocol leaves it open, and the nodes that crash.
//!
//! A node crashing *atomically* at cycle `t` executes nothing from `t` on: its
//! links carry no frame at `t+1`. A node crashing *mid-send* at `t` computes,
//! and only the output frames of a chosen subset of its links are delivered.

use crate::node::client::{Client, ClientEvent};
use crate::node::fe::{Fe, Plan};
use crate::node::recovery::Image;
use crate::node::server::{Server, Store};
use crate::node::{ClientId, Frame, Op, Outputs, Val, VecStore};
use crate::topology::{LinkId, LinkKind, NodeCtx, NodeId, Role, Topology};
use std::borrow::Cow;

/// A node's state. A dead node keeps no state: nothing can observe it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum NodeState<V, S = VecStore<V>> {
    Client(Client<V>),
    Fe(Fe<V>),
    Server(Server<V, S>),
    Dead,
}

impl<V: Val, S: Store<V>> NodeState<V, S> {
    /// One cycle of a live node, whatever its kind: the one place where node
    /// kinds are told apart (the cluster step, and each process of the UDP
    /// engine, call it). `inputs` are the frames of its input links; `op`
    /// is the operation a client starts now (clients only); `choose` makes
    /// an FE's open choices; each client event goes to `event`; `outs` are
    /// the node's output frames, empty; `plan` is an FE's scratch.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn step_into<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &NodeCtx,
        inputs: &[Option<&Frame<V>>],
        op: Option<&Op<V>>,
        choose: &mut dyn FnMut(ClientId, &[usize]) -> usize,
        event: &mut impl FnMut(ClientEvent<V>),
        outs: &mut O,
        plan: &mut Plan,
    ) {
        match (self, ctx) {
            (NodeState::Client(cl), NodeCtx::Client) => cl.step_into(inputs[0], op, event, outs.out(0)),
            (NodeState::Fe(fe), NodeCtx::Fe(ctx)) => fe.step_into(ctx, inputs, choose, outs, plan),
            (NodeState::Server(s), NodeCtx::Server(ctx)) => s.step_into(ctx, inputs, outs),
            (NodeState::Dead, _) => {}
            (_, ctx) => panic!("wiring bug: a node's state is not of its kind ({ctx:?})"),
        }
    }
}

/// How a node crashes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum CrashKind {
    /// Executes nothing in its crash cycle.
    Atomic,
    /// Computes in its crash cycle; only the outputs whose bit is set in the
    /// mask (bit `i` = the node's `i`-th output link) are delivered.
    MidSend(u64),
}

/// One node crash in one cycle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Crash {
    pub node: NodeId,
    pub kind: CrashKind,
}

/// Everything the driver decides for one cycle, apart from FE choices.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct CycleInputs<V> {
    /// Per client: the operation it starts this cycle. Only for clients that
    /// [`Cluster::will_be_idle`].
    pub ops: Vec<Option<Op<V>>>,
    /// Nodes that crash this cycle.
    pub crashes: Vec<Crash>,
}

/// The FE choices of one cycle: `(fe node, client, candidate replicas)` →
/// index of the chosen candidate.
pub type Chooser<'a> = dyn FnMut(NodeId, ClientId, &[usize]) -> usize + 'a;

/// Scratch space for [`Cluster::step_with`]: no part of the cluster's state.
pub struct StepBuffers<V, S = VecStore<V>> {
    /// Per link: last cycle's frame, emptied and refilled this cycle.
    spare: Vec<Option<Frame<V>>>,
    plan: Plan,
    /// The durable images of the servers that died this cycle (with
    /// `--persist sync|async`), for the cluster to keep.
    buried: Vec<(NodeId, Image<V, S>)>,
}

impl<V, S> StepBuffers<V, S> {
    /// Buffers for a topology of `links` links.
    pub fn with_links(links: usize) -> Self {
        let mut b = StepBuffers::default();
        b.spare.resize_with(links, || None);
        b
    }

    /// Per link: the frame buffer of the cycle being stepped.
    pub fn spare_mut(&mut self) -> &mut Vec<Option<Frame<V>>> {
        &mut self.spare
    }
}

impl<V, S> Default for StepBuffers<V, S> {
    fn default() -> Self {
        StepBuffers {
            spare: Vec::new(),
            plan: Plan::new(),
            buried: Vec::new(),
        }
    }
}

/// All node states and the frames in flight.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Cluster<V, S = VecStore<V>> {
    /// The cycle about to execute.
    pub cycle: u32,
    pub nodes: Vec<NodeState<V, S>>,
    /// Per link: the frame it delivers this cycle (`None`: sender dead).
    pub inbox: Vec<Option<Frame<V>>>,
    /// The durable images of dead servers, by node (with `--persist
    /// sync|async`; always empty otherwise): what a restart brings back.
    pub durable: Vec<(NodeId, Image<V, S>)>,
}

impl<V: Val, S: Store<V>> Cluster<V, S> {
    /// Cycle 0: every node fresh, every link carrying an empty frame.
    pub fn new(topo: &Topology) -> Self {
        let c = topo.clients();
        let nodes = topo
            .nodes
            .iter()
            .map(|n| match &n.ctx {
                NodeCtx::Client => NodeState::Client(Client::default()),
                NodeCtx::Fe(ctx) => NodeState::Fe(Fe::for_ctx(c, ctx)),
                NodeCtx::Server(_) => NodeState::Server(Server::new(c)),
            })
            .collect();
        let inbox = (0..topo.links.len()).map(|l| Some(topo.empty_frame(l))).collect();
        Cluster {
            cycle: 0,
            nodes,
            inbox,
            durable: Vec::new(),
        }
    }

    /// Restarts dead server `node` as incarnation `incarnation`, holding
    /// its durable image if it has one; it catches up before it serves
    /// (see [`crate::node::recovery`]). Only with recovery configured, and
    /// only once no frame of its previous life is in flight.
    pub fn restart(&mut self, topo: &Topology, node: NodeId, incarnation: u8) {
        assert!(topo.config.recovery.is_some(), "restarts need recovery configured");
        assert!(!self.is_alive(node), "only a dead node restarts");
        assert!(
            self.quiet(topo, node),
            "no frame of the previous incarnation is in flight"
        );
        let image = self
            .durable
            .iter()
            .position(|(n, _)| *n == node)
            .map(|i| self.durable.remove(i).1);
        self.nodes[node] = NodeState::Server(Server::restarted(topo.clients(), image, incarnation));
    }

    /// Whether no frame `node` sent is in flight (a dead node may be
    /// restarted then: its neighbours have seen it dead).
    pub fn quiet(&self, topo: &Topology, node: NodeId) -> bool {
        topo.nodes[node].outputs.iter().all(|&l| self.inbox[l].is_none())
    }

    /// Whether `node` is a live server catching up after a restart.
    pub fn is_joining(&self, node: NodeId) -> bool {
        matches!(&self.nodes[node], NodeState::Server(s) if s.is_joining())
    }

    fn bury(&mut self, buried: &mut Vec<(NodeId, Image<V, S>)>) {
        for (node, image) in buried.drain(..) {
            match self.durable.binary_search_by_key(&node, |e| e.0) {
                Ok(i) => self.durable[i].1 = image,
                Err(i) => self.durable.insert(i, (node, image)),
            }
        }
    }

    pub fn is_alive(&self, node: NodeId) -> bool {
        !matches!(self.nodes[node], NodeState::Dead)
    }

    /// The frames a node reads this cycle, in its input order.
    pub fn inputs<'a>(&'a self, topo: &Topology, node: NodeId) -> Vec<Option<&'a Frame<V>>> {
        topo.nodes[node]
            .inputs
            .iter()
            .map(|&l| self.inbox[l].as_ref())
            .collect()
    }

    /// Whether client `c` may be handed a new operation this cycle.
    #[inline]
    pub fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool {
        match &self.nodes[c] {
            NodeState::Client(cl) => cl.will_be_idle(self.inbox[topo.nodes[c].inputs[0]].as_ref()),
            _ => false,
        }
    }

    /// The client's state.
    pub fn client(&self, c: ClientId) -> &Client<V> {
        match &self.nodes[c] {
            NodeState::Client(cl) => cl,
            _ => panic!("node {c} is not a client"),
        }
    }

    /// The open FE choices of this cycle: `(fe, client, shard, candidate
    /// replicas)`, in the order the chooser will be asked.
    pub fn choice_points(&self, topo: &Topology) -> Vec<(NodeId, ClientId, usize, Vec<usize>)> {
        let mut out = Vec::new();
        for id in topo.fes() {
            if let (NodeState::Fe(fe), NodeCtx::Fe(ctx)) = (&self.nodes[id], &topo.nodes[id].ctx) {
                for (c, shard, cands) in fe.choice_points(ctx, &self.inputs(topo, id)) {
                    out.push((id, c, shard, cands));
                }
            }
        }
        out
    }

    /// Executes one cycle. Client events are appended to `events` in client
    /// order (a client's response before its new request).
    pub fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    ) {
        self.step_with(topo, inputs, choose, events, &mut StepBuffers::default());
    }

    /// [`Cluster::step`] with buffers kept from one cycle to the next: the
    /// frames delivered last cycle are emptied and refilled, so that a
    /// long run allocates no frames (the in-process runtime). The result is
    /// the same as [`Cluster::step`]'s, whatever the buffers hold.
    pub fn step_with(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
        bufs: &mut StepBuffers<V, S>,
    ) {
        bufs.spare.resize_with(topo.links.len(), || None);
        let Cluster {
            nodes, inbox, cycle, ..
        } = self;
        if step_nodes(nodes, 0, topo, inbox, inputs, choose, events, bufs) {
            drop_frames_to_dead(topo, nodes, &mut bufs.spare);
        }
        std::mem::swap(inbox, &mut bufs.spare);
        *cycle += 1;
        self.bury(&mut bufs.buried);
    }

    /// The cluster one cycle later, `self` unchanged: [`Cluster::step`] on a
    /// copy, except that the frames in flight are read where they are, not
    /// copied first (the model checker's successor function).
    pub fn successor(
        &self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    ) -> Self {
        self.successor_with(topo, inputs, choose, events, &mut StepBuffers::default())
    }

    /// [`Cluster::successor`] with scratch buffers kept by the caller (their
    /// contents do not matter; the frames of the new state are new).
    pub fn successor_with(
        &self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
        bufs: &mut StepBuffers<V, S>,
    ) -> Self {
        bufs.spare = Vec::with_capacity(topo.links.len());
        bufs.spare.resize_with(topo.links.len(), || None);
        let mut nodes = self.nodes.clone();
        if step_nodes(&mut nodes, 0, topo, &self.inbox, inputs, choose, events, bufs) {
            drop_frames_to_dead(topo, &nodes, &mut bufs.spare);
        }
        let mut next = Cluster {
            cycle: self.cycle + 1,
            nodes,
            inbox: std::mem::take(&mut bufs.spare),
            durable: self.durable.clone(),
        };
        next.bury(&mut bufs.buried);
        next
    }

    /// A live server's store as it stands once it has applied the updates in
    /// flight to it (phase 1 of its next cycle); `None` for a dead server.
    /// Borrowed when nothing is in flight to it.
    /// A replica catching up after a restart counts as not live here.
    pub fn settled_store(&self, topo: &Topology, id: NodeId) -> Option<Cow<'_, S>> {
        let NodeState::Server(s) = &self.nodes[id] else {
            return None;
        };
        if s.is_joining() {
            return None;
        }
        let NodeCtx::Server(ctx) = &topo.nodes[id].ctx else {
            return None;
        };
        let peer_links = &topo.nodes[id].inputs[ctx.front_links()..];
        let carries = |l: &usize| self.inbox[*l].as_ref().is_some_and(|f| f.used_slots() > 0);
        if !peer_links.iter().any(carries) {
            return Some(Cow::Borrowed(&s.store));
        }
        let (peers, transfers) = peer_links.split_at(ctx.peers);
        let peer_inputs: Vec<Option<&Frame<V>>> = peers.iter().map(|&l| self.inbox[l].as_ref()).collect();
        let mut s = s.clone();
        // A donor's chunk in flight applies first, as in the step.
        for f in transfers.iter().filter_map(|&l| self.inbox[l].as_ref()) {
            if let Some(chunk) = &f.transfer().chunk {
                s.apply_chunk(chunk);
            }
        }
        s.apply_updates(&peer_inputs);
        Some(Cow::Owned(s.store))
    }

    /// The settled stores of the live servers: `(shard, server, store)`.
    pub fn live_stores(&self, topo: &Topology) -> Vec<(usize, NodeId, Cow<'_, S>)> {
        topo.servers()
            .filter_map(|id| match topo.nodes[id].role {
                Role::Server { shard, .. } => self.settled_store(topo, id).map(|st| (shard, id, st)),
                _ => None,
            })
            .collect()
    }

    /// The stores of the live servers once every update in flight between
    /// them has been applied: [`Cluster::live_stores`] for protocols whose
    /// updates take one cycle, and for the others (see
    /// [`crate::protocol::Replication::settle_cycles`]) the stores after
    /// the servers alone run that many more cycles, serving nothing new.
    /// What `converged` compares.
    pub fn converging_stores(&self, topo: &Topology) -> Vec<(usize, NodeId, Cow<'_, S>)> {
        self.quiet_stores(topo, settle_cycles(topo))
    }

    /// The stores of the live servers after the servers alone run `settle`
    /// more cycles, exchanging what is on the links between them and
    /// receiving nothing from the FE ([`Cluster::live_stores`] for 0): what
    /// the replicas would hold if writes stopped now (`converged` with the
    /// protocol's settling time, `converges` with its convergence bound).
    pub fn quiet_stores(&self, topo: &Topology, settle: u32) -> Vec<(usize, NodeId, Cow<'_, S>)> {
        if settle == 0 {
            return self.live_stores(topo);
        }
        let Some(first) = topo.servers().next() else {
            return Vec::new();
        };
        debug_assert!(topo.servers().eq(first..topo.nodes.len()), "servers come last");
        let mut nodes = self.nodes[first..].to_vec();
        // Only the frames between servers: no request reaches them.
        let peer = |l: usize| matches!(topo.links[l].kind, LinkKind::Peer | LinkKind::Transfer);
        let mut inbox: Vec<Option<Frame<V>>> = (0..topo.links.len())
            .map(|l| if peer(l) { self.inbox[l].clone() } else { None })
            .collect();
        let mut bufs = StepBuffers::with_links(topo.links.len());
        let (quiet, mut events) = (
            CycleInputs {
                ops: Vec::new(),
                crashes: Vec::new(),
            },
            Vec::new(),
        );
        for _ in 0..settle {
            step_nodes(
                &mut nodes,
                first,
                topo,
                &inbox,
                &quiet,
                &mut |_, _, _| 0,
                &mut events,
                &mut bufs,
            );
            for (l, frame) in bufs.spare.iter_mut().enumerate() {
                if !peer(l) {
                    *frame = None;
                }
            }
            std::mem::swap(&mut inbox, &mut bufs.spare);
        }
        nodes
            .into_iter()
            .enumerate()
            .filter_map(|(i, n)| match (n, &topo.nodes[first + i].role) {
                // A replica still catching up counts as not live.
                (NodeState::Server(s), Role::Server { shard, .. }) if !s.is_joining() => {
                    Some((*shard, first + i, Cow::Owned(s.store)))
                }
                _ => None,
            })
            .collect()
    }
}

/// The cycles a topology's updates take to settle (see
/// [`crate::protocol::Replication::settle_cycles`]); 0 without replicas.
fn settle_cycles(topo: &Topology) -> u32 {
    let t = &topo.config;
    if t.kind == crate::topology::Kind::Replicated && t.replicas > 1 {
        t.protocol.settle_cycles(t.replicas)
    } else {
        0
    }
}

/// Frames to dead nodes are never read: drops them from `frames` (one per
/// link) so that equal situations are equal states.
fn drop_frames_to_dead<V, S>(topo: &Topology, nodes: &[NodeState<V, S>], frames: &mut [Option<Frame<V>>]) {
    for (l, link) in topo.links.iter().enumerate() {
        if matches!(nodes[link.to], NodeState::Dead) {
            frames[l] = None;
        }
    }
}

/// Steps `nodes`, which are the topology's nodes `first..first + nodes.len()`,
/// reading last cycle's frames from `inbox` and leaving each output frame in
/// `bufs.spare` (indexed by link; `None` where nothing is delivered). The
/// part of one cycle that [`Cluster::step_with`] runs for all nodes at once and
/// the in-process runtime's parallel stepper for two groups of nodes
/// concurrently. `bufs.spare` must have one entry per link. Returns whether
/// any of the nodes is dead at the end of the cycle.
#[allow(clippy::too_many_arguments)]
pub fn step_nodes<V: Val, S: Store<V>>(
    nodes: &mut [NodeState<V, S>],
    first: NodeId,
    topo: &Topology,
    inbox: &[Option<Frame<V>>],
    inputs: &CycleInputs<V>,
    choose: &mut Chooser<'_>,
    events: &mut Vec<(ClientId, ClientEvent<V>)>,
    bufs: &mut StepBuffers<V, S>,
) -> bool {
    let mut any_dead = false;
    let mut ins: Vec<Option<&Frame<V>>> = Vec::new();
    for (i, state) in nodes.iter_mut().enumerate() {
        let id = first + i;
        let info = &topo.nodes[id];
        let crash = inputs.crashes.iter().find(|c| c.node == id).map(|c| c.kind);
        if crash == Some(CrashKind::Atomic) {
            bury(state, id, info, &mut bufs.buried);
            *state = NodeState::Dead;
        }
        if matches!(state, NodeState::Dead) {
            any_dead = true;
            for &l in &info.outputs {
                bufs.spare[l] = None;
            }
            continue;
        }
        if let (NodeState::Client(cl), None) = (&mut *state, crash) {
            // Fast path: a client has one input and one output, and writes
            // the one slot of its frame whatever it holds.
            let l = info.outputs[0];
            let out = bufs.spare[l].get_or_insert_with(|| topo.empty_frame(l));
            let op = inputs.ops.get(id).and_then(Option::as_ref);
            cl.step_into(inbox[info.inputs[0]].as_ref(), op, &mut |e| events.push((id, e)), out);
            continue;
        }
        ins.clear();
        ins.extend(info.inputs.iter().map(|&l| inbox[l].as_ref()));
        // The node writes its frames where they will be delivered from:
        // last cycle's frame of each output link, emptied in place.
        for &l in &info.outputs {
            match &mut bufs.spare[l] {
                Some(f) => f.clear(),
                slot => *slot = Some(topo.empty_frame(l)),
            }
        }
        let mut outs = LinkFrames {
            spare: &mut bufs.spare,
            links: &info.outputs,
        };
        let op = inputs.ops.get(id).and_then(Option::as_ref);
        state.step_into(
            &info.ctx,
            &ins,
            op,
            &mut |c, cands| choose(id, c, cands),
            &mut |e| events.push((id, e)),
            &mut outs,
            &mut bufs.plan,
        );
        if let NodeState::Server(s) = &*state {
            if s.is_joining() {
                // A joiner is silent on its FE and peer links: to them it is
                // still dead (see `node::recovery`).
                let NodeCtx::Server(ctx) = &info.ctx else {
                    unreachable!()
                };
                for &l in &info.outputs[..ctx.front_links() + ctx.peers] {
                    bufs.spare[l] = None;
                }
            }
        }
        if let Some(CrashKind::MidSend(mask)) = crash {
            for (i, &l) in info.outputs.iter().enumerate() {
                if mask & (1 << i) == 0 {
                    bufs.spare[l] = None;
                }
            }
        }
        if crash.is_some() {
            bury(state, id, info, &mut bufs.buried);
            *state = NodeState::Dead;
            any_dead = true;
        }
    }
    any_dead
}

/// Keeps a dying server's durable image, if its persistence mode keeps one.
fn bury<V: Val, S: Store<V>>(
    state: &NodeState<V, S>,
    id: NodeId,
    info: &crate::topology::NodeInfo,
    buried: &mut Vec<(NodeId, Image<V, S>)>,
) {
    if let (NodeState::Server(s), NodeCtx::Server(ctx)) = (state, &info.ctx) {
        if let Some(image) = ctx.recovery.and_then(|rc| s.durable_image(rc.persist)) {
            buried.push((id, image));
        }
    }
}

/// A node's output frames in place in the per-link buffers (see
/// [`Outputs`]): output `i` is the frame of link `links[i]`, which
/// [`step_nodes`] has made present and empty.
struct LinkFrames<'a, V> {
    spare: &'a mut [Option<Frame<V>>],
    links: &'a [LinkId],
}

impl<V> Outputs<V> for LinkFrames<'_, V> {
    #[inline]
    fn out(&mut self, i: usize) -> &mut Frame<V> {
        self.spare[self.links[i]]
            .as_mut()
            .expect("step_nodes prepares every output frame")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::server::HashStore;
    use crate::node::{Op, Protocol};
    use crate::topology::{Kind, TopologyConfig};
    use crate::Lcg;

    /// `step_with` on reused buffers and a hash store, and `successor`,
    /// compute exactly what `step` computes on fresh buffers and an ordered
    /// store, cycle after
    /// cycle, through atomic and mid-send crashes of every kind of node.
    #[test]
    fn reused_buffers_and_hash_store_change_nothing() {
        let mut configs = Vec::new();
        for kind in [Kind::Single, Kind::Sharded, Kind::Replicated] {
            for protocol in Protocol::ALL {
                let mut c = TopologyConfig::new(kind, 3);
                c.protocol = protocol;
                if kind == Kind::Replicated {
                    c.shards = 2;
                }
                configs.push(c);
            }
        }
        let mut levels = TopologyConfig::new(Kind::Replicated, 4);
        levels.levels = 2;
        configs.push(levels);
        for (n, config) in configs.into_iter().enumerate() {
            let topo = Topology::new(config.clone()).unwrap();
            let mut rng = Lcg(n as u64);
            let mut fresh = Cluster::<u8>::new(&topo);
            let mut reused = Cluster::<u8, HashStore<u8>>::new(&topo);
            let mut bufs = StepBuffers::default();
            let servers: Vec<NodeId> = topo.servers().chain(topo.fes()).collect();
            for cycle in 0..120u32 {
                let ops = (0..topo.clients())
                    .map(|c| {
                        let idle = fresh.will_be_idle(&topo, c);
                        assert_eq!(idle, reused.will_be_idle(&topo, c));
                        let k = rng.below(3) as u32;
                        let v = rng.below(4) as u8;
                        (idle && rng.below(3) > 0).then(|| match rng.below(5) {
                            0 => Op::Get(k),
                            1 => Op::Put(k, v),
                            2 => Op::Insert(k, v),
                            3 => Op::Modify(k, v),
                            _ => Op::Delete(k),
                        })
                    })
                    .collect();
                let mut crashes = Vec::new();
                if cycle % 30 == 17 {
                    let node = servers[rng.below(servers.len() as u64) as usize];
                    let kind = if rng.below(2) == 0 {
                        CrashKind::Atomic
                    } else {
                        CrashKind::MidSend(rng.below(1 << topo.nodes[node].outputs.len().min(16)))
                    };
                    crashes.push(Crash { node, kind });
                }
                let inputs = CycleInputs { ops, crashes };
                let picks: Vec<u64> = (0..64).map(|_| rng.below(1 << 20)).collect();
                let (mut e1, mut e2) = (Vec::new(), Vec::new());
                let mut i1 = 0;
                let mut e0 = Vec::new();
                let mut i0 = 0;
                let next = fresh.successor(
                    &topo,
                    &inputs,
                    &mut |_, _, c: &[usize]| {
                        i0 += 1;
                        picks[i0] as usize % c.len()
                    },
                    &mut e0,
                );
                fresh.step(
                    &topo,
                    &inputs,
                    &mut |_, _, c: &[usize]| {
                        i1 += 1;
                        picks[i1] as usize % c.len()
                    },
                    &mut e1,
                );
                assert_eq!(next, fresh, "{config:?} cycle {cycle}: successor is step");
                assert_eq!(e0, e1, "{config:?} cycle {cycle}: successor's events");
                let mut i2 = 0;
                reused.step_with(
                    &topo,
                    &inputs,
                    &mut |_, _, c: &[usize]| {
                        i2 += 1;
                        picks[i2] as usize % c.len()
                    },
                    &mut e2,
                    &mut bufs,
                );
                assert_eq!(e1, e2, "{config:?} cycle {cycle}: events");
                assert_eq!(fresh.inbox, reused.inbox, "{config:?} cycle {cycle}: frames");
                for (a, b) in fresh.nodes.iter().zip(&reused.nodes) {
                    match (a, b) {
                        (NodeState::Server(a), NodeState::Server(b)) => {
                            let b_sorted: VecStore<u8> = b.store.iter().map(|(k, v)| (*k, *v)).collect();
                            assert_eq!(a.store, b_sorted, "{config:?} cycle {cycle}: store");
                            assert_eq!(a.sessions, b.sessions);
                        }
                        (NodeState::Client(a), NodeState::Client(b)) => assert_eq!(a, b),
                        (NodeState::Fe(a), NodeState::Fe(b)) => assert_eq!(a, b),
                        (NodeState::Dead, NodeState::Dead) => {}
                        _ => panic!("{config:?} cycle {cycle}: one is dead, the other not"),
                    }
                }
            }
            assert!(
                fresh.nodes.iter().any(|n| matches!(n, NodeState::Dead)),
                "{config:?}: crashes happened"
            );
        }
    }
}
