//! The stateright model: the pure [`Cluster`] stepped one cycle per action.
//!
//! One model step is one cycle. Its [`CycleAction`] records every
//! nondeterministic choice of the cycle: the operation each idle client
//! starts (or none), the replica the root FE picks where the protocol leaves
//! it open, and which nodes crash and how. `next_state` hands exactly these to
//! [`Cluster::step`], the function the runtime calls too, so the model checks
//! the code that runs.
//!
//! The state is the cluster (node states and frames in flight), the history
//! the clients observed, and the crashes so far. The search is bounded by
//! `cycles`, `ops_per_client`, `keys` and `values`.

use serde::Serialize;
use stateright::Model;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tidekv::cluster::{Cluster, Crash, CrashKind, CycleInputs};
use tidekv::history::History;
use tidekv::node::client::ClientEvent;
use tidekv::node::{ClientId, Key, Op};
use tidekv::topology::{ConfigError, Kind, NodeId, Role, Topology, TopologyConfig};
use tidekv_checks as checks;
use tidekv_checks::{Monitor, Property, Scope};

/// Values in the model: small integers `1..=values`.
pub type V = u8;

/// Operation kinds a model client may start.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub enum OpKind {
    Get,
    Put,
    Delete,
    Insert,
    Modify,
}

impl OpKind {
    pub const ALL: [OpKind; 5] = [OpKind::Get, OpKind::Put, OpKind::Delete, OpKind::Insert, OpKind::Modify];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Delete => "delete",
            OpKind::Insert => "insert",
            OpKind::Modify => "modify",
        }
    }

    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How crashing nodes behave in their crash cycle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub enum CrashMode {
    Atomic,
    MidSend,
}

impl CrashMode {
    pub fn name(self) -> &'static str {
        match self {
            CrashMode::Atomic => "atomic",
            CrashMode::MidSend => "mid-send",
        }
    }

    pub fn parse(s: &str) -> Option<CrashMode> {
        [CrashMode::Atomic, CrashMode::MidSend]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// Everything that defines one model.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ModelConfig {
    pub topology: TopologyConfig,
    pub keys: u32,
    pub values: u8,
    pub ops_per_client: u32,
    pub cycles: u32,
    pub ops: Vec<OpKind>,
    /// Server crashes allowed: per shard for `replicated`, in all otherwise.
    pub crashes: usize,
    pub crash_mode: CrashMode,
    /// Whether one FE may crash too.
    pub crash_fe: bool,
}

/// Limits on the model's own bounds.
pub const KEYS_MAX: u32 = 8;
pub const VALUES_MAX: u8 = 16;
pub const CYCLES_MAX: u32 = 64;
/// An exhaustive search with mid-send crashes enumerates every subset of a
/// crashing node's output links: at most this many links per node (4,094
/// ways to crash).
pub const MID_SEND_LINKS_MAX: usize = 12;
/// A mid-send crash names the links it delivers in a 64-bit mask (the
/// all-links subset is never drawn: it is an atomic crash a cycle later).
pub const MID_SEND_MASK_LINKS_MAX: usize = 63;

impl ModelConfig {
    /// A small configuration of `kind`: 2 clients, 1 key, 2 values, 2
    /// operations per client, every op kind, no crashes.
    pub fn new(kind: Kind) -> Self {
        let topology = TopologyConfig::new(kind, 2);
        let cycles = 2 * topology.latency_cycles() + 2;
        ModelConfig {
            topology,
            keys: 1,
            values: 2,
            ops_per_client: 2,
            cycles,
            ops: OpKind::ALL.to_vec(),
            crashes: 0,
            crash_mode: CrashMode::Atomic,
            crash_fe: false,
        }
    }

    /// Checks every bound; the message names the flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.topology.validate()?;
        let err = |m: String| Err(ConfigError(m));
        if self.keys == 0 || self.keys > KEYS_MAX {
            return err(format!("--keys must be 1..={KEYS_MAX}, got {}", self.keys));
        }
        if self.values == 0 || self.values > VALUES_MAX {
            return err(format!("--values must be 1..={VALUES_MAX}, got {}", self.values));
        }
        if self.cycles == 0 || self.cycles > CYCLES_MAX {
            return err(format!("--cycles must be 1..={CYCLES_MAX}, got {}", self.cycles));
        }
        if self.ops.is_empty() {
            return err("--ops must name at least one of get,put,delete,insert,modify".into());
        }
        if self.topology.clients > 8 {
            return err(format!(
                "the model supports up to 8 clients, got {}",
                self.topology.clients
            ));
        }
        let per = if self.topology.kind == Kind::Replicated {
            self.topology.replicas
        } else {
            self.topology.shards
        };
        if self.crashes > per {
            return err(format!(
                "--crashes {} exceeds the {} servers that can crash{}",
                self.crashes,
                per,
                if self.topology.kind == Kind::Replicated {
                    " per shard"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }

    /// Whether some shard has two or more replicas (then `converged`
    /// applies, and the protocol matters).
    pub fn has_replicas(&self) -> bool {
        self.topology.kind == Kind::Replicated && self.topology.replicas > 1
    }

    /// What decides whether a property applies.
    pub fn scope(&self) -> Scope {
        Scope {
            replicas: self.has_replicas(),
        }
    }

    /// Whether the replicas of a shard are interchangeable, so that
    /// `--symmetry` ([`TideModel::with_symmetry`]) applies: 2 or more
    /// replicas of a protocol that says so (`fanout`).
    pub fn replicas_symmetric(&self) -> bool {
        self.has_replicas() && self.topology.protocol.replicas_symmetric()
    }

    /// Whether writes to one key reach one server at a time.
    pub fn single_writer(&self) -> bool {
        !self.has_replicas() || self.topology.protocol.single_writer()
    }

    /// A label for tables: the topology, then bounds and failures.
    pub fn label(&self) -> String {
        let mut s = self.topology.label();
        s += &format!(
            " K={} V={} O={} H={}",
            self.keys, self.values, self.ops_per_client, self.cycles
        );
        if self.ops.len() != OpKind::ALL.len() {
            s += &format!(
                " ops={}",
                self.ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(",")
            );
        }
        if self.crashes > 0 || self.crash_fe {
            s += &format!(" F={} {}", self.crashes, self.crash_mode.name());
        }
        if self.crash_fe {
            s += " +fe";
        }
        s
    }

    /// The model flags that reproduce this configuration.
    pub fn flags(&self) -> String {
        let t = &self.topology;
        let mut s = format!("--topology {} --clients {}", t.kind, t.clients);
        if t.kind != Kind::Single {
            s += &format!(" --shards {}", t.shards);
            if t.levels != 1 {
                s += &format!(" --levels {}", t.levels);
            }
        }
        if t.kind == Kind::Replicated {
            s += &format!(" --replicas {} --protocol {}", t.replicas, t.protocol);
        }
        s += &format!(
            " --keys {} --values {} --ops-per-client {} --cycles {}",
            self.keys, self.values, self.ops_per_client, self.cycles
        );
        if self.ops.len() != OpKind::ALL.len() {
            s += &format!(
                " --ops {}",
                self.ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(",")
            );
        }
        if self.crashes > 0 || self.crash_fe {
            s += &format!(" --crashes {} --crash-mode {}", self.crashes, self.crash_mode.name());
        }
        if self.crash_fe {
            s += " --crash-fe";
        }
        s
    }
}

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

/// What symmetry reduction needs: the root FE (the one node that names
/// replicas, in its in-flight target sets), and the replicas of each shard:
/// per shard, per replica, `(server node, fe→server link, server→fe link)`.
#[derive(Clone, Debug, Default)]
pub struct Symmetry(Option<Arc<(NodeId, Vec<Vec<(NodeId, usize, usize)>>)>>);

impl std::hash::Hash for Symmetry {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}
impl PartialEq for Symmetry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Symmetry {}

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

/// The protocols whose replicas are interchangeable, for messages.
pub fn symmetric_protocols() -> String {
    let names: Vec<&str> = tidekv::node::Protocol::ALL
        .into_iter()
        .filter(|p| p.replicas_symmetric())
        .map(|p| p.name())
        .collect();
    names.join(", ")
}

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

/// A `sometimes` twin's discovery slot in [`TideModel::min_size`]: after the
/// `always` properties'.
pub fn twin_slot(p: Property) -> usize {
    Property::COUNT + p.index()
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
            min_cycle: Arc::new(std::array::from_fn(|_| AtomicU32::new(u32::MAX))),
        })
    }

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
    fn discovery(&self, i: usize, size: u32) -> bool {
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

    fn always(&self, p: Property, s: &State) -> bool {
        self.holds(p, s) || !self.discovery(p.index(), Self::size(s))
    }

    fn sometimes(&self, p: Property, s: &State) -> bool {
        self.reached(p, s) && self.discovery(twin_slot(p), Self::size(s))
    }

    /// Whether the `sometimes` twin of `p` is reached in `s`.
    pub fn reached(&self, p: Property, s: &State) -> bool {
        match p {
            Property::Linearizable => s.monitor.flags.write_then_read,
            Property::Converged => self.race(s),
            Property::NoLostWrites => s.monitor.crashes() > 0 && s.monitor.any_acked() && self.lost_writes(s).is_ok(),
            Property::Latency => s.monitor.flags.completed,
            Property::Available => s.monitor.flags.answered_after_crash,
        }
    }

    /// Calls `f` with, per shard, the stores of its live servers once the
    /// updates in flight settle (what `converged` compares).
    pub fn with_stores<R>(&self, s: &State, f: impl FnOnce(&[Vec<checks::StoreView<'_, V>>]) -> R) -> R {
        let stores = s.cluster.converging_stores(&self.topo);
        let mut shards: Vec<Vec<checks::StoreView<'_, V>>> = vec![Vec::new(); self.config.topology.shards];
        for (shard, id, st) in &stores {
            shards[*shard].push((self.topo.nodes[*id].name.as_str(), st.as_ref()));
        }
        f(&shards)
    }

    /// Whether property `p` holds in state `s` (the monitor's sticky
    /// verdicts plus the checks on the current cluster state); a property
    /// that does not apply holds.
    pub fn holds(&self, p: Property, s: &State) -> bool {
        if !p.applies(self.scope()) {
            return true;
        }
        let now = s.cluster.cycle;
        let f = &s.monitor.flags;
        match p {
            Property::Linearizable => !f.not_linearizable,
            Property::Converged => self.with_stores(s, checks::converged).is_ok(),
            Property::NoLostWrites => self.lost_writes(s).is_ok(),
            Property::Latency => !f.latency_violated && s.monitor.check_pending(now).is_ok(),
            Property::Available => !f.unavailable && s.monitor.check_pending(now).is_ok(),
        }
    }

    fn lost_writes(&self, s: &State) -> Result<(), String> {
        let stores = s.cluster.live_stores(&self.topo);
        let views: Vec<checks::StoreView<'_, V>> = stores
            .iter()
            .map(|(_, id, st)| (self.topo.nodes[*id].name.as_str(), st.as_ref()))
            .collect();
        s.monitor.no_lost_writes(&views)
    }

    /// Why property `p` fails in a state of a model built
    /// [`TideModel::with_trace`], computed by the `checks` functions from the
    /// full history.
    pub fn explain(&self, p: Property, s: &State) -> Option<String> {
        let trace = s.trace.as_ref()?;
        let lat = self.config.topology.latency();
        let now = s.cluster.cycle;
        let r = match p {
            Property::Linearizable => checks::linearizable(&trace.history),
            Property::Converged => self.with_stores(s, checks::converged),
            Property::NoLostWrites => self.lost_writes(s),
            Property::Latency => checks::latency(&trace.history, &trace.crash_cycles(), now, lat),
            Property::Available => checks::available(&trace.history, &trace.crash_cycles(), now, lat),
        };
        r.err()
    }

    /// Whether two clients' writes to one key reach servers of one shard in
    /// this cycle (at two different servers, where the protocol allows it).
    fn race(&self, s: &State) -> bool {
        let mut writes: Vec<(usize, NodeId, ClientId, Key)> = Vec::new();
        for id in self.topo.servers() {
            let Role::Server { shard, .. } = self.topo.nodes[id].role else {
                continue;
            };
            if !s.cluster.is_alive(id) {
                continue;
            }
            for (i, frame) in s.cluster.inputs(&self.topo, id).into_iter().enumerate() {
                let Some(f) = frame else { continue };
                if self.topo.links[self.topo.nodes[id].inputs[i]].kind != tidekv::topology::LinkKind::Up {
                    continue;
                }
                let direct = self.config.topology.kind == Kind::Single;
                for (j, req) in f.up().iter() {
                    if req.op.is_write() {
                        writes.push((shard, id, if direct { i } else { j }, req.op.key()));
                    }
                }
            }
        }
        // Where the protocol lets one key's writes reach several servers, the
        // interesting race is at two different servers.
        let distinct = !self.config.single_writer();
        writes.iter().any(|a| {
            writes
                .iter()
                .any(|b| a.0 == b.0 && a.2 < b.2 && a.3 == b.3 && (!distinct || a.1 != b.1))
        })
    }

    /// The nodes that may crash in this state: `(node, budget group,
    /// crashes left in the group)`. Groups: a shard (replicated), all servers
    /// (single, sharded), or `usize::MAX` for the one FE crash.
    pub fn crash_candidates(&self, s: &State) -> Vec<(NodeId, usize, usize)> {
        let t = &self.config.topology;
        // Crashed nodes are exactly the dead ones (crash-stop).
        let dead = |id: NodeId| !s.cluster.is_alive(id);
        let crashed_servers = |shard: Option<usize>| {
            self.topo
                .servers()
                .filter(|&n| dead(n))
                .filter(|&n| match self.topo.nodes[n].role {
                    Role::Server { shard: sh, .. } => shard.is_none_or(|x| x == sh),
                    _ => false,
                })
                .count()
        };
        let fe_crashed = self.topo.fes().any(dead);
        let mut cands = Vec::new();
        for id in 0..self.topo.nodes.len() {
            if dead(id) {
                continue;
            }
            match self.topo.nodes[id].role {
                Role::Server { shard, .. } => {
                    let (group, used) = if t.kind == Kind::Replicated {
                        (shard, crashed_servers(Some(shard)))
                    } else {
                        (0, crashed_servers(None))
                    };
                    if used < self.config.crashes {
                        cands.push((id, group, self.config.crashes - used));
                    }
                }
                Role::Fe { .. } if self.config.crash_fe && !fe_crashed => cands.push((id, usize::MAX, 1)),
                _ => {}
            }
        }
        cands
    }

    /// How many ways [`TideModel::crash_kinds`] lists for `id`, without
    /// listing them.
    pub fn crash_kind_count(&self, id: NodeId) -> u64 {
        match self.config.crash_mode {
            CrashMode::Atomic => 1,
            CrashMode::MidSend => (1u64 << self.topo.nodes[id].outputs.len()) - 1,
        }
    }

    /// The `i`-th of [`TideModel::crash_kinds`] (`i < crash_kind_count`).
    pub fn crash_kind(&self, i: u64) -> CrashKind {
        if i == 0 {
            CrashKind::Atomic
        } else {
            CrashKind::MidSend(i)
        }
    }

    /// How a node may crash in this model's crash mode.
    /// Mid-send: delivering nothing is the atomic crash; delivering
    /// everything is not explored, being the same as an atomic crash in the
    /// next cycle, which is.
    pub fn crash_kinds(&self, id: NodeId) -> Vec<CrashKind> {
        (0..self.crash_kind_count(id)).map(|i| self.crash_kind(i)).collect()
    }

    fn crash_options(&self, s: &State) -> Vec<Vec<Crash>> {
        let cands = self.crash_candidates(s);
        // Every subset of candidates within budget.
        let mut sets: Vec<Vec<NodeId>> = vec![Vec::new()];
        for &(id, group, left) in &cands {
            let mut more = Vec::new();
            for set in &sets {
                let used = set
                    .iter()
                    .filter(|n| cands.iter().any(|c| c.0 == **n && c.1 == group))
                    .count();
                if used < left {
                    let mut s2 = set.clone();
                    s2.push(id);
                    more.push(s2);
                }
            }
            sets.extend(more);
        }
        // Each crashing node: every way it may crash.
        let mut out = Vec::new();
        for set in sets {
            let mut combos: Vec<Vec<Crash>> = vec![Vec::new()];
            for &id in &set {
                let kinds = self.crash_kinds(id);
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        kinds.iter().map(move |&kind| {
                            let mut c2 = c.clone();
                            c2.push(Crash { node: id, kind });
                            c2
                        })
                    })
                    .collect();
            }
            out.extend(combos);
        }
        out
    }

    /// Client `c` may start an operation in this state.
    pub fn may_start(&self, s: &State, c: ClientId) -> bool {
        s.cluster.will_be_idle(&self.topo, c) && s.cluster.client(c).next_tag < self.config.ops_per_client
    }

    /// Every operation a client may start.
    pub fn alphabet(&self) -> &[Op<V>] {
        &self.alphabet
    }

    /// Human-readable one-line description of a cycle's choices.
    pub fn describe_action(&self, cycle: u32, a: &CycleAction) -> String {
        let mut s = format!("cycle {cycle}:");
        let sends: Vec<String> = a
            .ops
            .iter()
            .enumerate()
            .filter_map(|(c, o)| o.as_ref().map(|o| format!("c{c} {o}")))
            .collect();
        if sends.is_empty() {
            s += " no requests";
        } else {
            s += &format!(" {}", sends.join(", "));
        }
        if !a.picks.is_empty() {
            let picks: Vec<String> = a
                .picks
                .iter()
                .map(|p| format!("c{}→{}", p.client, self.topo.nodes[p.server].name))
                .collect();
            let _ = write!(s, "; {}", picks.join(", "));
        }
        for crash in &a.crashes {
            let name = &self.topo.nodes[crash.node].name;
            match crash.kind {
                CrashKind::Atomic => {
                    let _ = write!(s, "; crash {name}");
                }
                CrashKind::MidSend(mask) => {
                    let outs: Vec<&str> = self.topo.nodes[crash.node]
                        .outputs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, &l)| self.topo.links[l].name.as_str())
                        .collect();
                    let _ = write!(s, "; crash {name} (mid-send: only {} delivered)", outs.join(", "));
                }
            }
        }
        s
    }
}

thread_local! {
    /// Scratch space for [`Cluster::successor_with`], per checker thread:
    /// buffers only, emptied and refilled by every step, never part of a
    /// state (it saves a handful of allocations per state).
    static SCRATCH: std::cell::RefCell<tidekv::cluster::StepBuffers<V>> =
        std::cell::RefCell::new(tidekv::cluster::StepBuffers::default());
}

impl Model for TideModel {
    type State = State;
    type Action = CycleAction;

    fn init_states(&self) -> Vec<State> {
        let monitor = Monitor::new(self.topo.clients(), self.config.topology.latency());
        let trace = self.keep_trace.then(Trace::default);
        vec![State {
            cluster: Cluster::new(&self.topo),
            monitor,
            trace,
            symmetry: self.symmetry.clone(),
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<CycleAction>) {
        if s.cluster.cycle >= self.config.cycles {
            return;
        }
        let topo = &self.topo;
        // Clients: idle ones with operations left may start any op, or none.
        // Every combination, the last client varying fastest (an odometer
        // over per-client option counts: one vector per action, no others).
        let options: Vec<usize> = (0..topo.clients())
            .map(|c| {
                if self.may_start(s, c) {
                    1 + self.alphabet.len()
                } else {
                    1
                }
            })
            .collect();
        let option = |choice: usize| (choice > 0).then(|| self.alphabet[choice - 1].clone());
        let mut op_sets: Vec<Vec<Option<Op<V>>>> = Vec::with_capacity(options.iter().product());
        let mut digits = vec![0usize; options.len()];
        loop {
            op_sets.push(digits.iter().map(|&d| option(d)).collect());
            // The next combination: increment from the last client.
            let mut i = digits.len();
            loop {
                if i == 0 {
                    break;
                }
                i -= 1;
                digits[i] += 1;
                if digits[i] < options[i] {
                    break;
                }
                digits[i] = 0;
            }
            if digits.iter().all(|&d| d == 0) {
                break;
            }
        }
        let points = s.cluster.choice_points(topo);
        for crashes in self.crash_options(s) {
            // An FE crashing atomically makes no choices this cycle.
            let live_points: Vec<&(NodeId, ClientId, usize, Vec<usize>)> = points
                .iter()
                .filter(|(fe, ..)| !crashes.iter().any(|c| c.node == *fe && c.kind == CrashKind::Atomic))
                .collect();
            let mut pick_sets: Vec<Vec<Pick>> = vec![Vec::new()];
            for &&(fe, client, shard, ref cands) in &live_points {
                pick_sets = pick_sets
                    .into_iter()
                    .flat_map(|prefix| {
                        cands.iter().map(move |&replica| {
                            let mut p = prefix.clone();
                            p.push(Pick {
                                fe,
                                client,
                                replica,
                                server: topo.server(shard, replica),
                            });
                            p
                        })
                    })
                    .collect();
            }
            for ops in &op_sets {
                for picks in &pick_sets {
                    actions.push(CycleAction {
                        ops: ops.clone(),
                        picks: picks.clone(),
                        crashes: crashes.clone(),
                    });
                }
            }
        }
    }

    fn next_state(&self, last: &State, action: CycleAction) -> Option<State> {
        let cycle = last.cluster.cycle;
        let inputs = CycleInputs {
            ops: action.ops,
            crashes: action.crashes.clone(),
        };
        let mut events = Vec::new();
        let picks = &action.picks;
        let cluster = SCRATCH.with_borrow_mut(|bufs| {
            last.cluster.successor_with(
                &self.topo,
                &inputs,
                &mut |fe, c, cands| {
                    let p = picks
                        .iter()
                        .find(|p| p.fe == fe && p.client == c)
                        .expect("the action has a pick for every open choice");
                    cands
                        .iter()
                        .position(|&x| x == p.replica)
                        .expect("the pick is a candidate")
                },
                &mut events,
                bufs,
            )
        });
        let mut s = State {
            cluster,
            monitor: last.monitor.clone(),
            trace: last.trace.clone(),
            symmetry: last.symmetry.clone(),
        };
        for _ in &action.crashes {
            s.monitor.crash();
        }
        // Time order within the cycle: every response read, then every
        // request sent (and a client's own immediate `Unavailable` answer).
        for (c, e) in &events {
            if let ClientEvent::Return { tag, result } = e {
                if s.monitor.pending(*c).is_some_and(|p| p.tag == *tag && p.invoke < cycle) {
                    s.monitor.ret(cycle, *c, *tag, result.clone());
                }
            }
        }
        for (c, e) in &events {
            match e {
                ClientEvent::Invoke { tag, op } => s.monitor.invoke(cycle, *c, *tag, op.clone()),
                ClientEvent::Return { tag, result } => {
                    if s.monitor.pending(*c).is_some_and(|p| p.tag == *tag) {
                        s.monitor.ret(cycle, *c, *tag, result.clone());
                    }
                }
            }
        }
        if let Some(trace) = &mut s.trace {
            for (c, e) in &events {
                trace.history.record(cycle, *c, e);
            }
            for crash in &action.crashes {
                trace.crashes.push((cycle, crash.node));
            }
        }
        Some(s)
    }

    fn within_boundary(&self, s: &State) -> bool {
        s.cluster.cycle <= self.config.cycles
    }

    fn format_action(&self, a: &CycleAction) -> String {
        self.describe_action(u32::MAX, a)
            .replacen(&format!("cycle {}:", u32::MAX), "", 1)
            .trim()
            .to_string()
    }

    fn format_step(&self, last: &State, a: CycleAction) -> Option<String> {
        let next = self.next_state(last, a.clone())?;
        Some(crate::display::describe_state(self, &next))
    }

    /// The Explorer's timing diagram of the path (see [`crate::svg`]).
    fn as_svg(&self, path: stateright::Path<State, CycleAction>) -> Option<String> {
        Some(crate::svg::timing_diagram(self, path))
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        let always = Property::ALL
            .into_iter()
            .map(|p| stateright::Property::always(p.name(), CONDITIONS[p.index()].0));
        let sometimes = Property::ALL
            .into_iter()
            .map(|p| stateright::Property::sometimes(p.twin(), CONDITIONS[p.index()].1));
        always.chain(sometimes).collect()
    }
}

/// A stateright condition: a plain function pointer.
type Condition = fn(&TideModel, &State) -> bool;

fn always<const I: usize>(m: &TideModel, s: &State) -> bool {
    m.always(Property::ALL[I], s)
}

fn sometimes<const I: usize>(m: &TideModel, s: &State) -> bool {
    m.sometimes(Property::ALL[I], s)
}

/// Per property (by position in [`Property::ALL`]): its `always` and
/// `sometimes` conditions. Stateright takes function pointers, so each
/// property gets its own instance; the array's length is
/// [`Property::COUNT`], so a new property does not compile without its row.
const CONDITIONS: [(Condition, Condition); Property::COUNT] = [
    (always::<0>, sometimes::<0>),
    (always::<1>, sometimes::<1>),
    (always::<2>, sometimes::<2>),
    (always::<3>, sometimes::<3>),
    (always::<4>, sometimes::<4>),
];
