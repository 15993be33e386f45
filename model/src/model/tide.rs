//! [`TideModel`]: one configuration's model, its limits and its discovery
//! bookkeeping.

use super::config::{CrashMode, ModelConfig, OpKind, MID_SEND_LINKS_MAX, MID_SEND_MASK_LINKS_MAX, V};
use super::state::{State, Symmetry};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tidekv::node::Op;
use tidekv::topology::{ConfigError, Role, Topology};
use tidekv_checks::{Property, Scope};

/// The crashing node with the most output links in a mid-send model, and
/// their number.
fn widest_crasher(config: &ModelConfig, topo: &Topology) -> Option<(String, usize)> {
    if config.crash_mode != CrashMode::MidSend {
        return None;
    }
    let may_crash = |role: &Role| match role {
        Role::Server { .. } => config.crashes > 0,
        Role::Fe { .. } => config.crash_fe,
        Role::Client(_) => false,
    };
    topo.nodes
        .iter()
        .filter(|n| may_crash(&n.role))
        .map(|n| (n.name.clone(), n.outputs.len()))
        .max_by_key(|(_, links)| *links)
}

/// The model of one configuration.
pub struct TideModel {
    pub config: ModelConfig,
    pub topo: Arc<Topology>,
    /// Operation alphabet: every op a client may start.
    alphabet: Vec<Op<V>>,
    /// When set, a property reports a discovery only on a path no larger than
    /// the smallest seen so far, so the path stateright keeps (it keeps
    /// overwriting discoveries) is a minimal one. Off in the Explorer.
    pub minimize: bool,
    /// Keep the full history in the state (see [`State::trace`]).
    pub keep_trace: bool,
    /// Set by [`TideModel::with_symmetry`].
    pub symmetry: Symmetry,
    /// Successors are representatives ([`super::canonical`]): the search
    /// then keeps and hashes one state per class, not the model's state and
    /// its representative. Its paths are paths of the reduced model (each
    /// step may rename clients, replicas and values), so only where no path
    /// is shown: [`crate::checker::check`] searches without reductions
    /// again when it finds a violation. Off by default.
    pub canonical_successors: bool,
    min_cycle: Arc<[AtomicU32; 2 * Property::COUNT]>,
}

impl TideModel {
    pub fn new(config: ModelConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let topo = Arc::new(Topology::new(config.topology.clone())?);
        if let Some((name, links)) = widest_crasher(&config, &topo) {
            if links > MID_SEND_MASK_LINKS_MAX {
                return Err(ConfigError(format!(
                    "--crash-mode mid-send: {name} has {links} output links, more than the {MID_SEND_MASK_LINKS_MAX} \
                     a crash can name; use --crash-mode atomic or a smaller topology"
                )));
            }
        }
        let mut alphabet = Vec::new();
        for &kind in &config.ops {
            for k in 0..config.keys {
                match kind {
                    OpKind::Get => alphabet.push(Op::Get(k)),
                    OpKind::Delete => alphabet.push(Op::Delete(k)),
                    _ => {
                        for v in 1..=config.values {
                            alphabet.push(match kind {
                                OpKind::Put => Op::Put(k, v),
                                OpKind::Insert => Op::Insert(k, v),
                                _ => Op::Modify(k, v),
                            });
                        }
                    }
                }
            }
        }
        Ok(TideModel {
            config,
            topo,
            alphabet,
            minimize: true,
            keep_trace: false,
            symmetry: Symmetry::default(),
            canonical_successors: false,
            min_cycle: Arc::new(std::array::from_fn(|_| AtomicU32::new(u32::MAX))),
        })
    }

    /// Checks the bounds an exhaustive search (or the Explorer, which lists
    /// every action) relies on beyond [`TideModel::new`]'s: a mid-send crash
    /// of a node with `m` output links is `2^m - 1` actions.
    pub fn exhaustive_limits(&self) -> Result<(), ConfigError> {
        if let Some((name, links)) = widest_crasher(&self.config, &self.topo) {
            if links > MID_SEND_LINKS_MAX {
                return Err(ConfigError(format!(
                    "--crash-mode mid-send: {name} has {links} output links, and an exhaustive search explores \
                     every subset (2^{links}); at most {MID_SEND_LINKS_MAX} links per crashing node. Use \
                     --simulate WALKS, --crash-mode atomic, or fewer shards, replicas or clients"
                )));
            }
        }
        Ok(())
    }

    /// Why `--crash-mode mid-send` explores exactly the states `atomic`
    /// does here, when it does: every node that may crash has one output
    /// link, so a crash delivers none of its frames (the atomic crash) or
    /// all of them (an atomic crash one cycle later). `None` otherwise.
    pub fn mid_send_as_atomic(&self) -> Option<String> {
        let (name, links) = widest_crasher(&self.config, &self.topo)?;
        (links <= 1).then(|| {
            format!(
                "--crash-mode mid-send explores the same states as atomic here: every node that may crash \
                 (e.g. {name}) has one output link, so a partial delivery is all or nothing (nothing: an atomic \
                 crash; everything: an atomic crash one cycle later)"
            )
        })
    }

    /// The same model, keeping the full history in every state.
    pub fn with_trace(mut self) -> Self {
        self.keep_trace = true;
        self.minimize = false;
        self
    }

    /// What decides whether a property applies here.
    pub fn scope(&self) -> Scope {
        self.config.scope()
    }

    /// The size (see [`TideModel::size`]) of the smallest path on which
    /// discovery slot `i` was seen to fail (an `always` property: its
    /// index) or be reached (a twin: [`twin_slot`]).
    pub fn min_size(&self, i: usize) -> Option<u32> {
        let c = self.min_cycle[i].load(Ordering::Relaxed);
        (c != u32::MAX).then_some(c)
    }

    /// Records that property `i` has a discovery on a path of `size`, and
    /// says whether to report it (see [`TideModel::minimize`]).
    pub(super) fn discovery(&self, i: usize, size: u32) -> bool {
        let prev = self.min_cycle[i].fetch_min(size, Ordering::Relaxed);
        !self.minimize || size <= prev
    }

    /// How small a path to `s` is: cycles first, then operations started and
    /// crashes, so that the kept counterexample is the shortest and, among
    /// the shortest, one with the fewest events.
    pub fn size(s: &State) -> u32 {
        let ops: u32 = (0..s.monitor.clients()).map(|c| s.cluster.client(c).next_tag).sum();
        (s.cluster.cycle << 16) | (ops + s.monitor.crashes()).min(0xffff)
    }

    /// Every operation a client may start.
    pub fn alphabet(&self) -> &[Op<V>] {
        &self.alphabet
    }
}
