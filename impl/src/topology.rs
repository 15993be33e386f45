//! The static wiring of a cluster: nodes, their names, and the links between them.
//!
//! Node order is fixed: clients `c0…`, then FEs level by level (level 0 is
//! nearest the clients), then servers (`server`; `s0…`; or `r<shard>.<replica>`
//! shard-major). Links are numbered in the order they are created; every node
//! lists its input and output links in the order its step function expects.

use crate::node::cache::{CacheConfig, CACHE_KEYS_MAX};
use crate::node::fe::{Child, Downstream, FeCtx};
use crate::node::recovery::{self, RecoveryConfig};
use crate::node::server::ServerCtx;
use crate::node::{Frame, Protocol, Slots, Val};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a node in [`Topology::nodes`].
pub type NodeId = usize;
/// Index of a link in [`Topology::links`].
pub type LinkId = usize;

/// The three topologies of the seed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Kind {
    Single,
    Sharded,
    Replicated,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Single, Kind::Sharded, Kind::Replicated];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Sharded => "sharded",
            Kind::Replicated => "replicated",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Limits that keep frames, bit sets and state bounded.
pub const CLIENTS_MAX: usize = 1024;
pub const SHARDS_MAX: usize = 256;
/// Replica sets are `u32` bit sets.
pub const REPLICAS_MAX: usize = 32;
pub const LEVELS_MAX: usize = 8;

/// What a topology is made of. Build with the fields, check with
/// [`TopologyConfig::validate`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TopologyConfig {
    pub kind: Kind,
    pub clients: usize,
    /// Shards (1 for `single`).
    pub shards: usize,
    /// Replicas per shard (1 unless `replicated`).
    pub replicas: usize,
    /// Levels of FEs (0 for `single`, at least 1 otherwise).
    pub levels: usize,
    /// Replication protocol (only meaningful for `replicated`).
    pub protocol: Protocol,
    /// A read cache at each level-0 FE (`--cache`; needs two FE levels or
    /// more), `None` without.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    /// Crash-recovery (`--recoveries`, `--persist`, `--transfer-keys`):
    /// replicas get transfer links to each other. `None`: no restarts, and
    /// the wiring of before.
    #[serde(default)]
    pub recovery: Option<RecoveryConfig>,
    /// Requests per FE→server link per cycle (`--slots K`); 0: one slot per
    /// client, no queue (the seed's frames).
    #[serde(default)]
    pub slots: usize,
    /// Root-FE queue entries per shard (`--queue Q ≥ K`; only with `--slots`).
    #[serde(default)]
    pub queue: usize,
}

/// Bounds on `--slots` and `--queue`.
pub const SLOTS_MAX: usize = CLIENTS_MAX;
pub const QUEUE_MAX: usize = CLIENTS_MAX;

/// The latencies a topology and protocol guarantee, in cycles.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Latency {
    /// A read's latency without failures.
    pub read: u32,
    /// A write's latency without failures.
    pub write: u32,
    /// The most one crash may add to a request's latency.
    pub per_crash: u32,
    /// With a cache: a read answered from it takes exactly this (2: client
    /// to level-0 FE and back) instead of `read`; 0 without a cache.
    #[serde(default)]
    pub hit: u32,
}

impl Latency {
    /// The longer of the two failure-free latencies.
    pub fn slowest(&self) -> u32 {
        self.read.max(self.write)
    }

    /// The failure-free latency of an operation.
    pub fn of(&self, is_write: bool) -> u32 {
        if is_write {
            self.write
        } else {
            self.read
        }
    }

    /// The longest an operation may take when `crashes` crashes happened
    /// by the time it is answered.
    pub fn bound(&self, is_write: bool, crashes: u32) -> u32 {
        self.of(is_write) + self.per_crash * crashes
    }
}

/// The same latency for reads and writes, 2 cycles per crash (every
/// topology and protocol but `chain`'s writes).
impl From<u32> for Latency {
    fn from(base: u32) -> Self {
        Latency {
            read: base,
            write: base,
            per_crash: 2,
            hit: 0,
        }
    }
}

/// A topology that cannot be built; the message says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl TopologyConfig {
    /// A configuration with the usual defaults for `kind`.
    pub fn new(kind: Kind, clients: usize) -> Self {
        let (shards, replicas, levels) = match kind {
            Kind::Single => (1, 1, 0),
            Kind::Sharded => (2, 1, 1),
            Kind::Replicated => (1, 3, 1),
        };
        TopologyConfig {
            kind,
            clients,
            shards,
            replicas,
            levels,
            protocol: Protocol::Fanout,
            cache: None,
            recovery: None,
            slots: 0,
            queue: 0,
        }
    }

    /// The root FE's queueing bounds, when `--slots` is given.
    pub fn bounded(&self) -> Option<crate::node::fe::Bounded> {
        (self.slots > 0).then_some(crate::node::fe::Bounded {
            slots: self.slots,
            queue: self.queue,
        })
    }

    /// `--slots` and `--queue`: where they apply and their bounds.
    fn validate_slots(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.slots == 0 {
            if self.queue != 0 {
                return err("--queue needs --slots: the FE queues only what does not fit in K slots".into());
            }
            return Ok(());
        }
        if self.slots > SLOTS_MAX {
            return err(format!("--slots must be 1..={SLOTS_MAX}, got {}", self.slots));
        }
        if self.queue < self.slots || self.queue > QUEUE_MAX {
            return err(format!(
                "--queue must be {}..={QUEUE_MAX} (at least --slots: every request sent passes through the queue), got {}",
                self.slots, self.queue
            ));
        }
        if self.kind == Kind::Single {
            return err("--slots needs a front end: use --topology sharded or replicated".into());
        }
        if self.kind == Kind::Replicated {
            // The bound on a reply link holds when each replica answers, in
            // the next cycle, exactly the requests it was sent: not so for a
            // protocol whose answers come later or from another replica
            // (`chain`'s tail) or that sends repairs (`quorum`).
            let p = self.protocol.resolved(self.replicas);
            let r = self.replicas;
            if p.versioned() || p.extra_latency(true, r) != 0 || p.extra_latency(false, r) != 0 {
                return err(format!(
                    "--slots works with --protocol seed, owner or fanout, not {} (its replicas answer more requests in a cycle than they were sent)",
                    self.protocol.label(self.replicas)
                ));
            }
        }
        Ok(())
    }

    /// Checks every bound; the error names the offending flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.clients == 0 || self.clients > CLIENTS_MAX {
            return err(format!("--clients must be 1..={CLIENTS_MAX}, got {}", self.clients));
        }
        match self.kind {
            Kind::Single => {
                if self.shards != 1 || self.replicas != 1 {
                    return err("--topology single has one server: --shards and --replicas must be 1".into());
                }
                if self.levels != 0 {
                    return err("--topology single has no front end: --levels must be 0".into());
                }
                if self.cache.is_some() {
                    return err(
                        "--topology single has no front end to cache at: --cache needs sharded or replicated".into(),
                    );
                }
            }
            Kind::Sharded | Kind::Replicated => {
                if self.shards == 0 || self.shards > SHARDS_MAX {
                    return err(format!("--shards must be 1..={SHARDS_MAX}, got {}", self.shards));
                }
                if self.levels == 0 || self.levels > LEVELS_MAX {
                    return err(format!("--levels must be 1..={LEVELS_MAX}, got {}", self.levels));
                }
                if self.kind == Kind::Sharded && self.replicas != 1 {
                    return err("--topology sharded has no replicas: use --topology replicated".into());
                }
                if self.kind == Kind::Replicated && (self.replicas == 0 || self.replicas > REPLICAS_MAX) {
                    return err(format!("--replicas must be 1..={REPLICAS_MAX}, got {}", self.replicas));
                }
                if self.kind == Kind::Replicated {
                    self.protocol.validate(self.replicas).map_err(ConfigError)?;
                }
                if let Some(cache) = &self.cache {
                    if self.levels < 2 {
                        return err("--cache needs --levels 2 or more (caches sit at level-0 FEs below a root)".into());
                    }
                    if cache.keys == 0 || cache.keys > CACHE_KEYS_MAX {
                        return err(format!("--cache-keys must be 1..={CACHE_KEYS_MAX}, got {}", cache.keys));
                    }
                    if cache.lease_cycles == 0 {
                        return err("--lease-cycles must be at least 1".into());
                    }
                }
            }
        }
        if let Some(rc) = self.recovery {
            if self.kind != Kind::Replicated || self.replicas < 2 {
                return err("--recoveries: a restarted server catches up from a live replica: use --topology replicated with --replicas 2 or more".into());
            }
            recovery::supports(self.protocol).map_err(ConfigError)?;
            if rc.transfer_keys == 0 || rc.transfer_keys > recovery::TRANSFER_KEYS_MAX {
                return err(format!(
                    "--transfer-keys must be 1..={}, got {}",
                    recovery::TRANSFER_KEYS_MAX,
                    rc.transfer_keys
                ));
            }
        }
        self.validate_slots()
    }

    /// Client-observed latency of a read without failures: 2 for `single`,
    /// plus 2 per FE level (the protocol may add cycles to a write: see
    /// [`TopologyConfig::latency`]).
    pub fn latency_cycles(&self) -> u32 {
        2 + 2 * self.levels as u32
    }

    /// The latencies the FE guarantees: reads and writes without failures,
    /// and what each crash may add.
    pub fn latency(&self) -> Latency {
        let base = self.latency_cycles();
        let hit = if self.cache.is_some() { 2 } else { 0 };
        if self.kind != Kind::Replicated {
            return Latency {
                hit,
                ..Latency::from(base)
            };
        }
        let p = self.protocol;
        Latency {
            read: base + p.extra_latency(false, self.replicas),
            write: base + p.extra_latency(true, self.replicas),
            per_crash: p.crash_delay(self.replicas),
            hit,
        }
    }

    /// Number of FEs at `level`: one root, doubling towards the clients
    /// (capped at one per client).
    pub fn fes_at(&self, level: usize) -> usize {
        assert!(level < self.levels);
        let from_root = self.levels - 1 - level;
        (1usize << from_root.min(20)).min(self.clients)
    }

    /// A short label, e.g. `replicated S=1 R=3 C=2 fanout`.
    pub fn label(&self) -> String {
        let mut s = format!("{} C={}", self.kind, self.clients);
        if self.kind != Kind::Single {
            s += &format!(" S={}", self.shards);
        }
        if self.kind == Kind::Replicated {
            s += &format!(" R={} {}", self.replicas, self.protocol.label(self.replicas));
        }
        if self.levels > 1 {
            s += &format!(" L={}", self.levels);
        }
        if let Some(c) = &self.cache {
            s += &format!(" cache={}", c.label());
        }
        if self.slots > 0 {
            s += &format!(" slots={} queue={}", self.slots, self.queue);
        }
        s
    }
}

/// What a node is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    Client(usize),
    Fe {
        level: usize,
        index: usize,
    },
    /// The single server is shard 0, replica 0.
    Server {
        shard: usize,
        replica: usize,
    },
}

/// How a node steps, with what it needs to know about its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeCtx {
    Client,
    Fe(FeCtx),
    Server(ServerCtx),
}

/// A node of the topology.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub role: Role,
    pub ctx: NodeCtx,
    pub inputs: Vec<LinkId>,
    pub outputs: Vec<LinkId>,
}

/// The kind of frame a link carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkKind {
    Up,
    Down,
    Peer,
    /// Between replicas, with recovery configured (see [`crate::node::recovery`]).
    Transfer,
}

/// A one-cycle link from one node to another.
#[derive(Clone, Debug)]
pub struct Link {
    pub from: NodeId,
    pub to: NodeId,
    pub kind: LinkKind,
    /// Slots per frame.
    pub slots: usize,
    /// `from→to`, e.g. `c0→fe`.
    pub name: String,
    /// With `--slots K`, on a link between the root FE and a server: K,
    /// the most slots that may be full. The frame in memory still has
    /// `slots` (one per client, indexed by client); on the wire it is a
    /// frame of K slots, each carrying its client's id
    /// (`crate::runtime::wire`). 0: the frame is `slots` slots on the wire too.
    pub bound: usize,
}

/// A built topology.
#[derive(Clone, Debug)]
pub struct Topology {
    pub config: TopologyConfig,
    pub nodes: Vec<NodeInfo>,
    pub links: Vec<Link>,
}

impl Topology {
    /// Builds the wiring; the configuration must be valid.
    pub fn new(config: TopologyConfig) -> Result<Topology, ConfigError> {
        config.validate()?;
        let c = config.clients;
        let mut t = Topology {
            config: config.clone(),
            nodes: Vec::new(),
            links: Vec::new(),
        };
        for i in 0..c {
            t.add_node(format!("c{i}"), Role::Client(i), NodeCtx::Client);
        }
        // FEs: fe_ids[level][index].
        let mut fe_ids: Vec<Vec<NodeId>> = Vec::new();
        for level in 0..config.levels {
            let n = config.fes_at(level);
            let ids = (0..n)
                .map(|index| {
                    let name = if config.levels == 1 {
                        "fe".to_string()
                    } else {
                        format!("fe{level}.{index}")
                    };
                    // The context is filled in below, once the links exist.
                    t.add_node(name, Role::Fe { level, index }, NodeCtx::Client)
                })
                .collect();
            fe_ids.push(ids);
        }
        let (shards, replicas) = (config.shards, config.replicas);
        let mut servers = vec![vec![0; replicas]; shards];
        for (s, row) in servers.iter_mut().enumerate() {
            for (r, id) in row.iter_mut().enumerate() {
                let name = match config.kind {
                    Kind::Single => "server".to_string(),
                    Kind::Sharded => format!("s{s}"),
                    Kind::Replicated => format!("r{s}.{r}"),
                };
                *id = t.add_node(name, Role::Server { shard: s, replica: r }, NodeCtx::Client);
            }
        }
        let peers = config.kind == Kind::Replicated && config.protocol.has_peer_links();
        // A lone server behaves the same in every protocol.
        let protocol = if config.kind == Kind::Replicated {
            config.protocol.resolved(replicas)
        } else {
            Protocol::Fanout
        };
        if config.kind == Kind::Single {
            let server = servers[0][0];
            for i in 0..c {
                t.connect(i, server, LinkKind::Up, 1);
                t.connect(server, i, LinkKind::Down, 1);
            }
        } else {
            // Children of each FE, in order: clients (level 0) or lower FEs.
            for level in 0..config.levels {
                let (nchild, child_ids): (usize, Vec<NodeId>) = if level == 0 {
                    (c, (0..c).collect())
                } else {
                    (fe_ids[level - 1].len(), fe_ids[level - 1].clone())
                };
                let n = fe_ids[level].len();
                for (j, &child) in child_ids.iter().enumerate() {
                    let parent = fe_ids[level][j * n / nchild];
                    let slots = if level == 0 { 1 } else { c };
                    t.connect(child, parent, LinkKind::Up, slots);
                    t.connect(parent, child, LinkKind::Down, slots);
                }
            }
            let root = fe_ids[config.levels - 1][0];
            for row in &servers {
                for &srv in row {
                    t.connect(root, srv, LinkKind::Up, c);
                    t.connect(srv, root, LinkKind::Down, c);
                    // `--slots K`: the FE sends at most K requests, and each
                    // replica answers exactly what it was sent (`seed`,
                    // `owner`, `fanout`: `validate_slots`), so both ways
                    // carry at most K.
                    let n = t.links.len();
                    for l in &mut t.links[n - 2..] {
                        l.bound = config.slots;
                    }
                }
            }
        }
        if peers {
            for row in &servers {
                for &a in row {
                    for &b in row {
                        if a != b {
                            t.connect(a, b, LinkKind::Peer, c);
                        }
                    }
                }
            }
        }
        let transfers = if config.recovery.is_some() { replicas - 1 } else { 0 };
        if transfers > 0 {
            for row in &servers {
                for &a in row {
                    for &b in row {
                        if a != b {
                            t.connect(a, b, LinkKind::Transfer, 1);
                        }
                    }
                }
            }
        }
        // Contexts, now that the link order is known.
        for level in 0..config.levels {
            for (index, &id) in fe_ids[level].iter().enumerate() {
                let _ = index;
                let children: Vec<Child> = t.nodes[id]
                    .inputs
                    .iter()
                    .map(|&l| t.links[l].from)
                    .filter(|&from| match t.nodes[from].role {
                        Role::Client(_) => true,
                        Role::Fe { level: l, .. } => l + 1 == level,
                        Role::Server { .. } => false,
                    })
                    .map(|from| match t.nodes[from].role {
                        Role::Client(i) => Child {
                            clients: i..i + 1,
                            is_client: true,
                        },
                        _ => {
                            let range = t.client_range(from);
                            Child {
                                clients: range,
                                is_client: false,
                            }
                        }
                    })
                    .collect();
                let downstream = if level + 1 < config.levels {
                    Downstream::Parent
                } else {
                    Downstream::Servers {
                        shards,
                        replicas,
                        protocol,
                        rehash: config.kind == Kind::Sharded,
                    }
                };
                let bounded = if level + 1 == config.levels {
                    config.bounded()
                } else {
                    None
                };
                t.nodes[id].ctx = NodeCtx::Fe(FeCtx {
                    clients: c,
                    children,
                    downstream,
                    cache: if level == 0 { config.cache } else { None },
                    broadcast: level > 0 && config.cache.is_some(),
                    bounded,
                });
            }
        }
        for row in &servers {
            for (replica, &id) in row.iter().enumerate() {
                t.nodes[id].ctx = NodeCtx::Server(ServerCtx {
                    clients: c,
                    direct_clients: config.kind == Kind::Single,
                    peers: if peers { replicas - 1 } else { 0 },
                    replica,
                    replicas,
                    protocol,
                    transfers,
                    recovery: config.recovery,
                });
            }
        }
        t.check_wiring();
        Ok(t)
    }

    fn add_node(&mut self, name: String, role: Role, ctx: NodeCtx) -> NodeId {
        self.nodes.push(NodeInfo {
            name,
            role,
            ctx,
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn connect(&mut self, from: NodeId, to: NodeId, kind: LinkKind, slots: usize) {
        let name = format!("{}→{}", self.nodes[from].name, self.nodes[to].name);
        self.links.push(Link {
            from,
            to,
            kind,
            slots,
            name,
            bound: 0,
        });
        let id = self.links.len() - 1;
        self.nodes[from].outputs.push(id);
        self.nodes[to].inputs.push(id);
    }

    /// The clients behind an FE (a contiguous block).
    fn client_range(&self, fe: NodeId) -> std::ops::Range<usize> {
        let mut lo = usize::MAX;
        let mut hi = 0;
        for &l in &self.nodes[fe].inputs {
            let from = self.links[l].from;
            match self.nodes[from].role {
                Role::Client(i) => {
                    lo = lo.min(i);
                    hi = hi.max(i + 1);
                }
                Role::Fe { level, .. } if matches!(self.nodes[fe].role, Role::Fe { level: me, .. } if level + 1 == me) =>
                {
                    let r = self.client_range(from);
                    lo = lo.min(r.start);
                    hi = hi.max(r.end);
                }
                _ => {}
            }
        }
        assert!(lo < hi, "an FE without clients");
        lo..hi
    }

    /// Programmer-error checks on the wiring the step functions rely on.
    fn check_wiring(&self) {
        for n in &self.nodes {
            assert_eq!(n.inputs.len(), n.outputs.len(), "{}: every link is paired", n.name);
            match &n.ctx {
                NodeCtx::Client => assert_eq!(n.inputs.len(), 1, "{}: one upstream", n.name),
                NodeCtx::Fe(ctx) => {
                    assert_eq!(
                        n.inputs.len(),
                        ctx.children.len() + ctx.downstream_links(),
                        "{}",
                        n.name
                    )
                }
                NodeCtx::Server(ctx) => {
                    assert_eq!(
                        n.inputs.len(),
                        ctx.front_links() + ctx.peers + ctx.transfers,
                        "{}",
                        n.name
                    )
                }
            }
        }
    }

    /// Looks a node up by name.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub fn clients(&self) -> usize {
        self.config.clients
    }

    /// Server node ids, shard-major.
    pub fn servers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.role, Role::Server { .. }))
            .map(|(i, _)| i)
    }

    /// The FEs.
    pub fn fes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.role, Role::Fe { .. }))
            .map(|(i, _)| i)
    }

    /// The server of a shard's replica.
    pub fn server(&self, shard: usize, replica: usize) -> NodeId {
        let first = self.config.clients + (0..self.config.levels).map(|l| self.config.fes_at(l)).sum::<usize>();
        first + shard * self.config.replicas + replica
    }

    /// The empty frame a link carries when its sender has nothing to say.
    pub fn empty_frame<V: Val>(&self, link: LinkId) -> Frame<V> {
        let l = &self.links[link];
        match l.kind {
            LinkKind::Up => Frame::Up(Slots::new(l.slots)),
            LinkKind::Down => Frame::Down(Slots::new(l.slots)),
            LinkKind::Peer => Frame::Peer(Slots::new(l.slots)),
            LinkKind::Transfer => Frame::Transfer(crate::node::recovery::Transfer::serving()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_links() {
        let mut cfg = TopologyConfig::new(Kind::Replicated, 2);
        cfg.replicas = 2;
        cfg.protocol = Protocol::Seed;
        let t = Topology::new(cfg).unwrap();
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["c0", "c1", "fe", "r0.0", "r0.1"]);
        let links: Vec<&str> = t.links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            links,
            [
                "c0→fe",
                "fe→c0",
                "c1→fe",
                "fe→c1",
                "fe→r0.0",
                "r0.0→fe",
                "fe→r0.1",
                "r0.1→fe",
                "r0.0→r0.1",
                "r0.1→r0.0"
            ]
        );
        assert_eq!(t.server(0, 1), 4);
    }

    #[test]
    fn levels_build_a_tree() {
        let mut cfg = TopologyConfig::new(Kind::Sharded, 3);
        cfg.levels = 2;
        let t = Topology::new(cfg).unwrap();
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["c0", "c1", "c2", "fe0.0", "fe0.1", "fe1.0", "s0", "s1"]);
        let NodeCtx::Fe(root) = &t.nodes[5].ctx else { panic!() };
        assert_eq!(
            root.children.iter().map(|c| c.clients.clone()).collect::<Vec<_>>(),
            [0..2, 2..3]
        );
        assert_eq!(t.config.latency_cycles(), 6);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let mut cfg = TopologyConfig::new(Kind::Replicated, 2);
        cfg.replicas = 0;
        assert_eq!(cfg.validate().unwrap_err().0, "--replicas must be 1..=32, got 0");
        let cfg = TopologyConfig::new(Kind::Single, 0);
        assert!(cfg.validate().unwrap_err().0.starts_with("--clients"));
    }
}
