//! What one model checks: the configuration (topology, workload bounds,
//! crash budget and mode) and the limits the search relies on.

use serde::Serialize;
use tidekv::topology::{ConfigError, Kind, TopologyConfig};
use tidekv_checks::Scope;

/// Values in the model: small integers `1..=values`.
/// The most values value symmetry takes ([`ModelConfig::values_symmetric`]):
/// a state's representative is the least of up to `values!` candidates.
pub const VALUES_SYMMETRIC_MAX: u8 = 3;
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

    /// Whether the operation is conditional (decided on the value held).
    pub fn conditional(self) -> bool {
        matches!(self, OpKind::Insert | OpKind::Modify)
    }

    /// The operation kinds a model of `protocol` starts by default: all
    /// five, except for a versioned protocol (`quorum`), which refuses the
    /// conditional ones.
    pub fn defaults(protocol: tidekv::node::Protocol) -> Vec<OpKind> {
        OpKind::ALL
            .into_iter()
            .filter(|k| !(protocol.versioned() && k.conditional()))
            .collect()
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
    /// `stale-reads`' bound in cycles (`--max-staleness`); with a cache and
    /// no bound given, 0.
    pub max_staleness: Option<u32>,
    /// Restarts of dead servers the model may choose, in all
    /// (`--recoveries`); with it, `crashes` bounds the servers of a shard
    /// down at once (dead, or restarted and not caught up yet). The
    /// persistence mode and transfer size are in `topology.recovery`.
    pub recoveries: u32,
    /// Cycles taken off the derived queueing allowance of `latency` with
    /// `--slots` (always 0 but in the test that shows the bound is tight).
    pub latency_tighten: u32,
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
/// Restarts the model may choose in all (incarnations are numbered in a `u8`).
pub const RECOVERIES_MAX: u32 = 16;

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
            max_staleness: None,
            recoveries: 0,
            latency_tighten: 0,
        }
    }

    /// The staleness bound `stale-reads` checks, if it applies.
    pub fn staleness_bound(&self) -> Option<u32> {
        match (self.max_staleness, self.topology.cache) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => Some(0),
            (None, None) => None,
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
        if self.has_replicas() && self.topology.protocol.versioned() && self.ops.iter().any(|o| o.conditional()) {
            return err(format!(
                "--protocol {} supports get, put and delete only: a conditional operation (insert, modify) \
                 decided by a lagging replica would be decided on a stale value",
                self.topology.protocol
            ));
        }
        if self.topology.clients > 8 {
            return err(format!(
                "the model supports up to 8 clients, got {}",
                self.topology.clients
            ));
        }
        if self.recoveries > 0 {
            if self.topology.recovery.is_none() {
                return err("--recoveries needs a recovery configuration (a wiring bug)".into());
            }
            if self.crashes == 0 {
                return err("--recoveries restarts crashed servers: give --crashes 1 or more".into());
            }
            if self.recoveries > RECOVERIES_MAX {
                return err(format!(
                    "--recoveries must be 0..={RECOVERIES_MAX}, got {}",
                    self.recoveries
                ));
            }
        } else if self.topology.recovery.is_some() {
            return err("--persist and --transfer-keys apply with --recoveries N".into());
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
            lazy: self.has_replicas() && self.topology.protocol.converges_lazily(),
            staleness: self.staleness_bound().is_some(),
            recovery: self.recoveries > 0,
            queues: self.topology.slots > 0,
        }
    }

    /// The cycles within which live replicas must agree once writes stop
    /// (`converges`): the protocol's settling time, or, for a quorum with
    /// anti-entropy, its sweep's bound; `None` when nothing reconciles them.
    pub fn converge_cycles(&self) -> Option<u32> {
        let t = &self.topology;
        match t.protocol.resolved(t.replicas) {
            tidekv::node::Protocol::Quorum(q) => tidekv::protocol::quorum::converge_cycles(q, self.keys, t.clients),
            p => Some(p.settle_cycles(t.replicas)),
        }
    }

    /// Whether the replicas of a shard are interchangeable, so that
    /// `--symmetry` ([`TideModel::with_symmetry`]) applies: 2 or more
    /// replicas of a protocol that says so (`fanout`).
    pub fn replicas_symmetric(&self) -> bool {
        // A joiner picks its donor by replica index, and transfer links are
        // not renamed: no replica symmetry with recovery.
        self.has_replicas() && self.topology.protocol.replicas_symmetric() && self.topology.recovery.is_none()
    }

    /// Whether value symmetry ([`crate::model::Reduction::values`])
    /// applies: 2 to [`VALUES_SYMMETRIC_MAX`] values and an operation that
    /// writes them. Node logic and the monitor compare values only for
    /// equality (see `tidekv::node::values`), so every protocol qualifies;
    /// a state whose values occur alike costs one representative per
    /// permutation that keeps that order (up to `values!`), which bounds how
    /// many values are worth it.
    pub fn values_symmetric(&self) -> bool {
        (2..=VALUES_SYMMETRIC_MAX).contains(&self.values)
            && self.ops.iter().any(|k| *k != OpKind::Get && *k != OpKind::Delete)
    }

    /// Whether the client reduction ([`crate::model::Reduction::clients`])
    /// applies: two or more clients, one FE level (inner FEs serve ranges
    /// of client numbers), at most 64 clients, and a protocol that uses
    /// client numbers only as slot indices and frame order
    /// (`Replication::clients_symmetric`; single and sharded servers run the
    /// plain step, which does).
    pub fn clients_symmetric(&self) -> bool {
        let t = &self.topology;
        let protocol_ok = t.kind != Kind::Replicated || t.protocol.clients_symmetric();
        // (A cache needs two FE levels, so it never gets here.) Transfer
        // frames carry sessions the reduction does not rename. The root
        // FE's queue (`--slots`) lists clients in arrival order: renaming
        // clients would have to rename it too, which the reduction does not.
        t.clients >= 2 && t.clients <= 64 && t.levels <= 1 && protocol_ok && t.recovery.is_none() && t.slots == 0
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
        if self.ops.len() != OpKind::defaults(self.topology.protocol).len() {
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
        if let Some(t) = self.max_staleness {
            s += &format!(" T={t}");
        }
        if let Some(rc) = self.topology.recovery {
            s += &format!(
                " +rec {} persist={} xfer={}",
                self.recoveries,
                rc.persist.name(),
                rc.transfer_keys
            );
        }
        s
    }

    /// Whether the model may crash any node (`--crashes` or `--crash-fe`);
    /// `--crash-mode` means nothing otherwise.
    pub fn crashes_allowed(&self) -> bool {
        self.crashes > 0 || self.crash_fe
    }

    /// The crash mode's name, `none` when no crash is allowed.
    pub fn crash_mode_name(&self) -> &'static str {
        if self.crashes_allowed() {
            self.crash_mode.name()
        } else {
            "none"
        }
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
            s += &format!(" --replicas {} {}", t.replicas, t.protocol.flags(t.replicas));
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
        if let Some(c) = &t.cache {
            s += &format!(" --cache {} --cache-keys {}", c.mode.name(), c.keys);
            if c.mode == tidekv::node::cache::CacheMode::Lease {
                s += &format!(" --lease-cycles {}", c.lease_cycles);
            }
            if c.order != tidekv::node::cache::CacheOrder::Slot {
                s += &format!(" --cache-order {}", c.order.name());
            }
        }
        if let Some(m) = self.max_staleness {
            s += &format!(" --max-staleness {m}");
        }
        if let Some(rc) = self.topology.recovery {
            s += &format!(
                " --recoveries {} --persist {} --transfer-keys {}",
                self.recoveries,
                rc.persist.name(),
                rc.transfer_keys
            );
        }
        if t.slots > 0 {
            s += &format!(" --slots {} --queue {}", t.slots, t.queue);
        }
        s
    }

    /// The cycles within which a restarted replica must serve again
    /// (`rejoins`), with recovery configured.
    pub fn rejoin_cycles(&self) -> Option<u32> {
        let rc = self.topology.recovery?;
        Some(tidekv::node::recovery::rejoin_bound(rc.keys_max, rc.transfer_keys))
    }
}
