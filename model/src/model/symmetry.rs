//! Replica symmetry: states that differ only by a permutation of a shard's
//! interchangeable replicas are one state.

use super::state::{State, Symmetry};
use super::tide::TideModel;
use std::sync::Arc;
use tidekv::topology::{ConfigError, NodeId};

/// The representative of a state's class under permutations of the replicas
/// within each shard: replicas sorted by (state, frame to them, frame from
/// them, which of the root FE's requests in flight target them), the root
/// FE's in-flight target sets renamed to match. Canonical: two states of one
/// class give the same representative (so state counts do not depend on the
/// search order or the threads). Sound only where
/// replicas are interchangeable: the `fanout` protocol (seed replicas apply
/// peers' updates in replica order, and owner picks owners by replica id).
pub fn representative(s: &State) -> State {
    let Some(sym) = &s.symmetry.0 else { return s.clone() };
    let (root, shards) = (sym.0, &sym.1);
    let inflight = match &s.cluster.nodes[root] {
        tidekv::cluster::NodeState::Fe(fe) => Some(&fe.inflight),
        _ => None,
    };
    let mut out = s.clone();
    for (shard, replicas) in shards.iter().enumerate() {
        // Per replica: which of the root FE's in-flight requests to this
        // shard target it. With it in the key, replicas that tie are
        // interchangeable in every respect, so the order found is canonical:
        // every state of a class maps to one representative.
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
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            continue;
        }
        for (new, &old) in perm.iter().enumerate() {
            let (nid, nto, nfrom) = replicas[new];
            let (oid, oto, ofrom) = replicas[old];
            out.cluster.nodes[nid] = s.cluster.nodes[oid].clone();
            out.cluster.inbox[nto] = s.cluster.inbox[oto].clone();
            out.cluster.inbox[nfrom] = s.cluster.inbox[ofrom].clone();
        }
        // Only the root FE names replicas: an inner FE's target bit 0 means
        // its parent, whatever the shard field says.
        if let tidekv::cluster::NodeState::Fe(fe) = &mut out.cluster.nodes[root] {
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
    /// The same model, with states carrying what [`representative`] needs.
    /// Errors unless replicas are interchangeable (`fanout`, R ≥ 2).
    pub fn with_symmetry(mut self) -> Result<Self, ConfigError> {
        let t = &self.config.topology;
        if !self.config.replicas_symmetric() {
            return Err(ConfigError(format!(
                "--symmetry needs --topology replicated with 2 or more replicas and a protocol whose replicas \
                     are interchangeable ({})",
                symmetric_protocols()
            )));
        }
        let topo = &self.topo;
        let fe = topo.fes().last().expect("a replicated topology has a root FE");
        let link = |from: NodeId, to: NodeId| {
            topo.links
                .iter()
                .position(|l| l.from == from && l.to == to)
                .expect("the root FE links every replica")
        };
        let shards = (0..t.shards)
            .map(|s| {
                (0..t.replicas)
                    .map(|r| {
                        let id = topo.server(s, r);
                        (id, link(fe, id), link(id, fe))
                    })
                    .collect()
            })
            .collect();
        self.symmetry = Symmetry(Some(Arc::new((fe, shards))));
        Ok(self)
    }
}
