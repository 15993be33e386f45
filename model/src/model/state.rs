//! The model's state and its actions: one [`CycleAction`] per cycle.

use super::config::V;
use std::sync::Arc;
use tidekv::cluster::{Cluster, Crash};
use tidekv::history::History;
use tidekv::node::{ClientId, Op};
use tidekv::topology::NodeId;
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
}

/// One open FE choice: `fe` sends `client`'s request to `replica` (the
/// server node `server`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pick {
    pub fe: NodeId,
    pub client: ClientId,
    pub replica: usize,
    pub server: NodeId,
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
}

/// What [`representative`] needs of the topology when a reduction is on
/// (see [`super::symmetry`]).
#[derive(Clone, Debug, Default)]
pub struct Symmetry(pub(super) Option<Arc<super::symmetry::Canon>>);

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
