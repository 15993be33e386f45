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
use crate::node::fe::Fe;
use crate::node::server::Server;
use crate::node::{ClientId, Frame, Key, Op, Val};
use crate::topology::{NodeCtx, NodeId, Role, Topology};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A node's state. A dead node keeps no state: nothing can observe it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum NodeState<V> {
    Client(Client<V>),
    Fe(Fe<V>),
    Server(Server<V>),
    Dead,
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

/// All node states and the frames in flight.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Cluster<V> {
    /// The cycle about to execute.
    pub cycle: u32,
    pub nodes: Vec<NodeState<V>>,
    /// Per link: the frame it delivers this cycle (`None`: sender dead).
    pub inbox: Vec<Option<Frame<V>>>,
}

impl<V: Val> Cluster<V> {
    /// Cycle 0: every node fresh, every link carrying an empty frame.
    pub fn new(topo: &Topology) -> Self {
        let c = topo.clients();
        let nodes = topo
            .nodes
            .iter()
            .map(|n| match n.ctx {
                NodeCtx::Client => NodeState::Client(Client::default()),
                NodeCtx::Fe(_) => NodeState::Fe(Fe::new(c)),
                NodeCtx::Server(_) => NodeState::Server(Server::new(c)),
            })
            .collect();
        let inbox = (0..topo.links.len()).map(|l| Some(topo.empty_frame(l))).collect();
        Cluster { cycle: 0, nodes, inbox }
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
        let mut next: Vec<Option<Frame<V>>> = vec![None; topo.links.len()];
        let mut scratch = Vec::new();
        for id in 0..topo.nodes.len() {
            if !self.is_alive(id) {
                continue;
            }
            let crash = inputs.crashes.iter().find(|c| c.node == id).map(|c| c.kind);
            if crash == Some(CrashKind::Atomic) {
                self.nodes[id] = NodeState::Dead;
                continue;
            }
            let info = &topo.nodes[id];
            let ins: Vec<Option<&Frame<V>>> = info.inputs.iter().map(|&l| self.inbox[l].as_ref()).collect();
            let outs = match (&mut self.nodes[id], &info.ctx) {
                (NodeState::Client(cl), NodeCtx::Client) => {
                    let op = inputs.ops.get(id).cloned().flatten();
                    scratch.clear();
                    let f = cl.step(ins[0], op, &mut scratch);
                    events.extend(scratch.drain(..).map(|e| (id, e)));
                    vec![f]
                }
                (NodeState::Fe(fe), NodeCtx::Fe(ctx)) => fe.step(ctx, &ins, &mut |c, cands| choose(id, c, cands)),
                (NodeState::Server(s), NodeCtx::Server(ctx)) => s.step(ctx, &ins),
                _ => unreachable!("node state matches its role"),
            };
            debug_assert_eq!(outs.len(), info.outputs.len());
            for (i, frame) in outs.into_iter().enumerate() {
                if let Some(CrashKind::MidSend(mask)) = crash {
                    if mask & (1 << i) == 0 {
                        continue;
                    }
                }
                next[info.outputs[i]] = Some(frame);
            }
            if crash.is_some() {
                self.nodes[id] = NodeState::Dead;
            }
        }
        // Frames to dead nodes are never read: drop them so that equal
        // situations are equal states.
        for (l, link) in topo.links.iter().enumerate() {
            if !self.is_alive(link.to) {
                next[l] = None;
            }
        }
        self.inbox = next;
        self.cycle += 1;
    }

    /// A live server's store as it stands once it has applied the updates in
    /// flight to it (phase 1 of its next cycle); `None` for a dead server.
    /// Borrowed when nothing is in flight to it.
    pub fn settled_store(&self, topo: &Topology, id: NodeId) -> Option<Cow<'_, BTreeMap<Key, V>>> {
        let NodeState::Server(s) = &self.nodes[id] else {
            return None;
        };
        let NodeCtx::Server(ctx) = &topo.nodes[id].ctx else {
            return None;
        };
        let ins = self.inputs(topo, id);
        let peer_inputs = &ins[ctx.front_links()..];
        if peer_inputs.iter().all(|f| f.is_none_or(|f| f.used_slots() == 0)) {
            return Some(Cow::Borrowed(&s.store));
        }
        let mut s = s.clone();
        s.apply_updates(peer_inputs);
        Some(Cow::Owned(s.store))
    }

    /// The settled stores of the live servers: `(shard, server, store)`.
    pub fn live_stores(&self, topo: &Topology) -> Vec<(usize, NodeId, Cow<'_, BTreeMap<Key, V>>)> {
        topo.servers()
            .filter_map(|id| match topo.nodes[id].role {
                Role::Server { shard, .. } => self.settled_store(topo, id).map(|st| (shard, id, st)),
                _ => None,
            })
            .collect()
    }
}
