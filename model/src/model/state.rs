//! The model's state and its actions: one [`CycleAction`] per cycle.

use super::config::V;
use std::sync::Arc;
use tidekv::cluster::{Cluster, Crash};
use tidekv::history::History;
use tidekv::node::{ClientId, Op, Tag};
use tidekv::topology::{NodeId, Topology};
use tidekv_checks::Monitor;

/// One cycle's choices.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CycleAction {
    /// Per client: the operation started this cycle.
    pub ops: Vec<Option<Op<V>>>,
    /// Open FE choices, in the order the FE asks them.
    pub picks: Vec<Pick>,
    /// Nodes crashing this cycle.
    pub crashes: Vec<Crash>,
    /// Dead servers restarting this cycle (before it executes), with
    /// `--recoveries`.
    pub restarts: Vec<NodeId>,
}

/// One open FE choice: `fe` sends `client`'s request to `replica` (the
/// server node `server`). For a protocol that routes to subsets (`quorum`),
/// `replica` is the chosen subset as a bit set, and `server` its lowest
/// replica.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pick {
    pub fe: NodeId,
    pub client: ClientId,
    pub replica: usize,
    pub server: NodeId,
}

impl Pick {
    /// The pick of `candidate`, one of the candidates the FE listed for
    /// `client`'s request to `shard` ([`Cluster::choice_points`]).
    pub fn new(topo: &Topology, fe: NodeId, client: ClientId, shard: usize, candidate: usize) -> Pick {
        let lowest = if Pick::subsets(topo) {
            candidate.trailing_zeros() as usize
        } else {
            candidate
        };
        Pick {
            fe,
            client,
            replica: candidate,
            server: topo.server(shard, lowest),
        }
    }

    /// Whether the topology's choices are subsets of replicas.
    pub fn subsets(topo: &Topology) -> bool {
        topo.config.kind == tidekv::topology::Kind::Replicated && topo.config.protocol.versioned()
    }

    /// The replica index of `server` in its shard.
    pub fn server_replica(&self, topo: &Topology) -> usize {
        match topo.nodes[self.server].role {
            tidekv::topology::Role::Server { replica, .. } => replica,
            _ => 0,
        }
    }

    /// The replicas the request goes to, as a bit set.
    pub fn targets(&self, topo: &Topology) -> u32 {
        if Pick::subsets(topo) {
            self.replica as u32
        } else {
            1 << self.replica
        }
    }
}

/// The model's state: the cluster, and what the property monitor needs of
/// the history so far. Completed operations are forgotten once nothing can
/// depend on them, so paths that differ only in such timings merge.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct State {
    pub cluster: Cluster<V>,
    pub monitor: Monitor<V>,
    /// The full history and crash cycles, kept only when the model is built
    /// [`TideModel::with_trace`] (the Explorer, counterexample replay).
    pub trace: Option<Trace>,
    /// What [`representative`] needs to know, when symmetry is on. Constant
    /// per model: it takes no part in hashing or equality.
    pub symmetry: Symmetry,
    /// Restarts so far (`--recoveries` bounds them; 0 without).
    pub restarts: u8,
}

/// What [`representative`] needs of the topology when a reduction is on
/// (see [`super::symmetry`]).
#[derive(Clone, Debug, Default)]
pub struct Symmetry(pub(super) Option<Arc<Canon>>);

/// What [`super::representative`] needs of the topology; constant per model.
#[derive(Debug)]
pub struct Canon {
    /// The root FE (the one node that names replicas, in its in-flight
    /// target sets) and the replicas of each shard.
    pub(super) replicas: Option<(NodeId, ShardReplicas)>,
    pub(super) clients: Option<ClientLinks>,
    /// Every value renaming, the identity first, as tables `to[v]`.
    pub(super) values: Option<Vec<Vec<V>>>,
    /// In how many final cycles clients behind an FE start nothing (0: no
    /// horizon reduction; [`super::TideModel::horizon_cycles`]).
    pub(super) horizon: u32,
}

/// Per shard, per replica: `(server node, fe→server link, server→fe link)`.
pub type ShardReplicas = Vec<Vec<(NodeId, usize, usize)>>;

/// The links of each client, for renaming clients.
#[derive(Debug)]
pub struct ClientLinks {
    /// Per client: its link up (to the FE or server), its link down.
    pub(super) links: Vec<(usize, usize)>,
    /// Per link: the client it belongs to, if it is a client's own link
    /// (one slot); other links carry one slot per client.
    pub(super) owner: Vec<Option<ClientId>>,
    pub(super) ops_per_client: Tag,
}

impl std::hash::Hash for Symmetry {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl PartialEq for Symmetry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Symmetry {}

/// The full record of a path: the history and the crashes.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Trace {
    pub history: History<V>,
    /// (cycle, node) of every crash, in order.
    pub crashes: Vec<(u32, NodeId)>,
}

impl Trace {
    pub fn crash_cycles(&self) -> Vec<u32> {
        self.crashes.iter().map(|c| c.0).collect()
    }
}
