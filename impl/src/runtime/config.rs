//! The cluster file of the UDP engine: what `tidekv run --transport udp`
//! writes and every `tidekv node --config FILE --id NODE` reads.
//!
//! ```toml
//! version = 1
//!
//! [run]                      # the RunSpec, spelled as the flags are
//! topology = "replicated"
//! clients = 4
//! shards = 3
//! replicas = 3
//! levels = 1
//! protocol = "fanout"
//! quorum = { write = 2, read = 2, read_repair = false, anti_entropy = false }
//!                            # protocol "quorum" only
//! cycles = 1000
//! seed = "42"                # a string: TOML integers stop at 2^63
//! keys = 100
//! write_ratio = 0.5
//! ops = ["get", "put", "insert", "modify", "delete"]
//! distribution = "uniform"
//! value_bytes = 8
//! think_cycles = 0
//! crashes = ["r1.1@500"]
//! slots = 4                  # --slots K and --queue Q; absent without them
//! queue = 8
//!
//! [net]
//! death_timeout_ms = 300     # silence for this long is death
//! startup_timeout_ms = 2000  # the same, before a neighbour's first datagram
//! out_dir = "/tmp/tidekv-run-…"   # client logs go here
//! drop_rate = 0.0            # testing: drop this share of sent datagrams (seeded)
//! kills = ["r0.1@700"]       # this node SIGKILLs itself mid-send in this cycle
//!
//! [nodes]                    # every node of the topology, loopback only
//! c0 = "127.0.0.1:40001"
//! "r0.1" = "127.0.0.1:40002"
//! ```
//!
//! Loading checks everything; a [`ConfigFileError`] is one line naming the
//! file and what is wrong.

use super::wire::{frame_bytes_max_on, DATAGRAM_BYTES_MAX, HEADER_BYTES};
use super::workload::{Distribution, OpKind, WorkloadSpec};
use super::{CrashAt, RunSpec};
use crate::node::Protocol;
use crate::topology::{Kind, Topology, TopologyConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The version of the cluster file format.
pub const CLUSTER_FILE_VERSION: u32 = 1;
/// Bounds on the death timeout.
pub const DEATH_TIMEOUT_MS_MIN: u64 = 10;
pub const DEATH_TIMEOUT_MS_MAX: u64 = 60_000;
/// Default death timeout: long against a cycle (tens of microseconds on
/// loopback) and against scheduling hiccups, short against a run.
pub const DEATH_TIMEOUT_MS_DEFAULT: u64 = 300;
pub const STARTUP_TIMEOUT_MS_DEFAULT: u64 = 2000;
/// The supervisor ends a run from whose nodes no line came for this long (a
/// hung cluster), with the history so far.
pub const SILENCE_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// At most this many node processes (the machine has a few cores).
pub const UDP_NODES_MAX: usize = 256;
/// The largest `--drop-rate`: beyond it a run mostly waits for repairs.
pub const DROP_RATE_MAX: f64 = 0.5;
/// A neighbour that keeps answering but delivers no new frame for this many
/// death timeouts is dead too (see [`NetConfig::stall_timeout`]).
pub const STALL_FACTOR: u32 = 4;

/// A cluster file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct ConfigFileError {
    pub file: String,
    pub msg: String,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    run: RunSection,
    net: NetSection,
    nodes: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RunSection {
    topology: String,
    clients: usize,
    shards: usize,
    replicas: usize,
    levels: usize,
    protocol: String,
    /// `quorum` only: its parameters (see `QuorumSection`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quorum: Option<QuorumSection>,
    /// `[run.cache]`: `mode`, `keys`, `lease_cycles`, `order` (`--cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache: Option<crate::node::cache::CacheConfig>,
    cycles: u32,
    seed: String,
    keys: u32,
    write_ratio: f64,
    ops: Vec<String>,
    distribution: String,
    value_bytes: usize,
    think_cycles: u32,
    crashes: Vec<String>,
    /// `--slots K` (0 or absent: one slot per client).
    #[serde(default, skip_serializing_if = "is_zero")]
    slots: usize,
    /// `--queue Q` (0 or absent: no queue).
    #[serde(default, skip_serializing_if = "is_zero")]
    queue: usize,
    /// `[run.recovery]`: `persist`, `transfer_keys`, `keys_max` (`--persist`,
    /// `--transfer-keys`, `--restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovery: Option<crate::node::recovery::RecoveryConfig>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `[run.quorum]`: `write = 2`, `read = 2`, `read_repair = false`,
/// `anti_entropy = false` (the `quorum` protocol's flags).
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct QuorumSection {
    write: u8,
    read: u8,
    read_repair: bool,
    anti_entropy: bool,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct NetSection {
    death_timeout_ms: u64,
    startup_timeout_ms: u64,
    out_dir: String,
    #[serde(default)]
    drop_rate: f64,
    #[serde(default)]
    kills: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    restarts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_dir: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    respawn: bool,
}

/// Timing and places of the UDP engine.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// A neighbour silent for this long is dead.
    pub death_timeout: Duration,
    /// The same before a neighbour's first datagram (processes start).
    pub startup_timeout: Duration,
    /// Where client processes write their logs.
    pub out_dir: PathBuf,
    /// Testing: every node drops this share of the datagrams it sends
    /// (frames, resends and requests alike), drawn from its own stream of
    /// the run's seed, so a loss pattern replays as far as timing allows.
    pub drop_rate: f64,
    /// Nodes that SIGKILL themselves in a cycle (`--kill`): after computing
    /// it and sending the first half of its frames, a mid-send crash.
    pub kills: Vec<CrashAt>,
    /// Replicas restarted at a cycle (`--restart`, with `--respawn`): the
    /// supervisor starts a new process for each once the old one died.
    pub restarts: Vec<CrashAt>,
    /// Where replicas keep their durable stores (`--persist sync|async`).
    pub data_dir: Option<PathBuf>,
    /// `--respawn`: deaths scheduled in this file (`--crash`, `--kill`) are
    /// read as deaths at their exact cycle by the neighbours, and restarts
    /// revive links (see `udp::node`).
    pub respawn: bool,
}

impl NetConfig {
    /// The longest a waiting node goes without asking a missing neighbour
    /// for its frame again (the first request goes out after
    /// [`REQUEST_FIRST`], then the gap doubles up to this).
    pub fn resend_interval(&self) -> Duration {
        (self.death_timeout / 5).clamp(Duration::from_millis(2), Duration::from_millis(100))
    }

    /// A neighbour that answers requests but delivers no new frame while
    /// awaited for this long is dead: liveness is progress, not datagrams.
    pub fn stall_timeout(&self) -> Duration {
        self.death_timeout * STALL_FACTOR
    }
}

/// A node waiting this long for a frame, with no gap showing that it was
/// lost, asks for it the first time (the kernel rounds a socket timeout up
/// to its timer tick, so in practice a few ms).
pub const REQUEST_FIRST: Duration = Duration::from_millis(1);

/// A loaded and checked cluster file.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub spec: RunSpec,
    pub net: NetConfig,
    /// Address of every node, by node id.
    pub addrs: Vec<SocketAddr>,
    pub topo: Topology,
}

impl ClusterConfig {
    /// Checks a spec and addresses and builds the configuration.
    pub fn new(spec: RunSpec, net: NetConfig, addrs: Vec<SocketAddr>) -> Result<ClusterConfig, String> {
        let topo = spec.build().map_err(|e| e.0)?;
        check_net(&net)?;
        for k in &net.kills {
            let mut with = spec.clone();
            with.crashes.push(k.clone());
            with.build().map_err(|e| e.0.replace("--crash", "--kill"))?;
        }
        if addrs.len() != topo.nodes.len() {
            return Err(format!("{} addresses for {} nodes", addrs.len(), topo.nodes.len()));
        }
        if topo.nodes.len() > UDP_NODES_MAX {
            return Err(format!(
                "{} nodes: the UDP engine runs at most {UDP_NODES_MAX} processes",
                topo.nodes.len()
            ));
        }
        for link in &topo.links {
            let worst = HEADER_BYTES + frame_bytes_max_on(link, spec.workload.value_bytes);
            if worst > DATAGRAM_BYTES_MAX {
                return Err(format!(
                    "link {}: a frame of {} slots with {}-byte values may take {worst} bytes, more than a datagram ({DATAGRAM_BYTES_MAX}); lower --value-bytes or --clients",
                    link.name, link.slots, spec.workload.value_bytes
                ));
            }
        }
        if let Some(rc) = topo.config.recovery {
            for link in topo
                .links
                .iter()
                .filter(|l| l.kind == crate::topology::LinkKind::Transfer)
            {
                // The delta holds at most the keys of the sender's front and
                // peer inputs' slots.
                let delta: usize = topo.nodes[link.from]
                    .inputs
                    .iter()
                    .map(|&l| &topo.links[l])
                    .filter(|l| l.kind != crate::topology::LinkKind::Transfer)
                    .map(|l| l.slots)
                    .sum();
                let worst = HEADER_BYTES
                    + crate::runtime::wire::transfer_bytes_max(
                        rc.transfer_keys as usize,
                        delta,
                        topo.clients(),
                        spec.workload.value_bytes,
                    );
                if worst > DATAGRAM_BYTES_MAX {
                    return Err(format!(
                        "link {}: a transfer frame of {} entries with {}-byte values may take {worst} bytes, more than a datagram ({DATAGRAM_BYTES_MAX}); lower --transfer-keys, --value-bytes or --clients",
                        link.name, rc.transfer_keys, spec.workload.value_bytes
                    ));
                }
            }
        }
        let deaths: Vec<CrashAt> = spec.crashes.iter().chain(&net.kills).cloned().collect();
        if !net.restarts.is_empty() && !net.respawn {
            return Err("net.restarts: a restart starts a new process: give --respawn".into());
        }
        crate::runtime::durable::restart_schedule(&topo, &net.restarts, &deaths, spec.cycles, 1, net.respawn, false)
            .map_err(|e| e.0)?;
        let mut seen = HashSet::new();
        for (a, n) in addrs.iter().zip(&topo.nodes) {
            if !a.ip().is_loopback() {
                return Err(format!(
                    "node {}: address {a} is not loopback (the UDP engine trusts its peers' source addresses and so runs on loopback only)",
                    n.name
                ));
            }
            if !seen.insert(*a) {
                return Err(format!("node {}: address {a} is used twice", n.name));
            }
        }
        Ok(ClusterConfig { spec, net, addrs, topo })
    }

    /// Reads and checks a cluster file.
    pub fn load(path: &Path) -> Result<ClusterConfig, ConfigFileError> {
        let err = |msg: String| ConfigFileError {
            file: path.display().to_string(),
            msg,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    /// Parses and checks the text of a cluster file.
    pub fn parse(text: &str) -> Result<ClusterConfig, String> {
        let file: File = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        if file.version != CLUSTER_FILE_VERSION {
            return Err(format!(
                "version {} (this tidekv reads version {CLUSTER_FILE_VERSION})",
                file.version
            ));
        }
        let r = &file.run;
        let kind = Kind::parse(&r.topology).ok_or_else(|| {
            format!(
                "run.topology: expected single, sharded or replicated, got {:?}",
                r.topology
            )
        })?;
        let mut protocol =
            Protocol::parse(&r.protocol).ok_or_else(|| format!("run.protocol: {}", Protocol::unknown(&r.protocol)))?;
        match (&mut protocol, &r.quorum) {
            (Protocol::Quorum(q), Some(s)) => {
                if s.write == 0 || s.read == 0 {
                    return Err("run.quorum: write and read must be at least 1".into());
                }
                (q.write, q.read, q.read_repair, q.anti_entropy) = (s.write, s.read, s.read_repair, s.anti_entropy);
            }
            (Protocol::Quorum(_), None) => {}
            (_, Some(_)) => {
                return Err(format!(
                    "run.quorum: applies to protocol \"quorum\", not {:?}",
                    r.protocol
                ))
            }
            (_, None) => {}
        }
        let seed = r
            .seed
            .parse::<u64>()
            .map_err(|_| format!("run.seed: expected an unsigned 64-bit number, got {:?}", r.seed))?;
        let ops = r
            .ops
            .iter()
            .map(|o| OpKind::parse(o).ok_or_else(|| format!("run.ops: unknown operation {o:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let distribution = Distribution::parse(&r.distribution).map_err(|e| format!("run.distribution: {e}"))?;
        let crashes = r
            .crashes
            .iter()
            .map(|c| CrashAt::parse(c).map_err(|e| format!("run.crashes: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let spec = RunSpec {
            topology: TopologyConfig {
                kind,
                clients: r.clients,
                shards: r.shards,
                replicas: r.replicas,
                levels: r.levels,
                protocol,
                cache: r.cache,
                recovery: r.recovery,
                slots: r.slots,
                queue: r.queue,
            },
            workload: WorkloadSpec {
                keys: r.keys,
                write_ratio: r.write_ratio,
                ops,
                distribution,
                value_bytes: r.value_bytes,
                think_cycles: r.think_cycles,
            },
            seed,
            cycles: r.cycles,
            crashes,
        };
        let parse = |list: &[String], what: &str| {
            list.iter()
                .map(|c| CrashAt::parse(c).map_err(|e| format!("net.{what}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        let kills = parse(&file.net.kills, "kills")?;
        let restarts = parse(&file.net.restarts, "restarts")?;
        let net = NetConfig {
            death_timeout: Duration::from_millis(file.net.death_timeout_ms),
            startup_timeout: Duration::from_millis(file.net.startup_timeout_ms),
            out_dir: PathBuf::from(&file.net.out_dir),
            drop_rate: file.net.drop_rate,
            kills,
            restarts,
            data_dir: file.net.data_dir.as_ref().map(PathBuf::from),
            respawn: file.net.respawn,
        };
        let topo = spec.build().map_err(|e| e.0)?;
        let mut nodes = file.nodes;
        let mut addrs = Vec::with_capacity(topo.nodes.len());
        for n in &topo.nodes {
            let a = nodes
                .remove(&n.name)
                .ok_or_else(|| format!("nodes: no address for node {}", n.name))?;
            let addr = a
                .parse::<SocketAddr>()
                .map_err(|_| format!("nodes.{}: {a:?} is not an IP address with a port", n.name))?;
            addrs.push(addr);
        }
        if let Some(extra) = nodes.keys().next() {
            return Err(format!("nodes: {extra:?} is not a node of this topology"));
        }
        ClusterConfig::new(spec, net, addrs)
    }

    /// The cluster file text.
    pub fn to_toml(&self) -> String {
        let s = &self.spec;
        let t = &s.topology;
        let w = &s.workload;
        let file = File {
            version: CLUSTER_FILE_VERSION,
            run: RunSection {
                topology: t.kind.name().into(),
                clients: t.clients,
                shards: t.shards,
                replicas: t.replicas,
                levels: t.levels,
                protocol: t.protocol.name().into(),
                quorum: t.protocol.quorum().map(|q| {
                    let q = q.resolved(t.replicas);
                    QuorumSection {
                        write: q.write,
                        read: q.read,
                        read_repair: q.read_repair,
                        anti_entropy: q.anti_entropy,
                    }
                }),
                cache: t.cache,
                cycles: s.cycles,
                seed: s.seed.to_string(),
                keys: w.keys,
                write_ratio: w.write_ratio,
                ops: w.ops.iter().map(|k| k.name().to_string()).collect(),
                distribution: w.distribution.to_string(),
                value_bytes: w.value_bytes,
                think_cycles: w.think_cycles,
                crashes: s.crashes.iter().map(|c| c.to_string()).collect(),
                slots: t.slots,
                queue: t.queue,
                recovery: t.recovery,
            },
            net: NetSection {
                death_timeout_ms: self.net.death_timeout.as_millis() as u64,
                startup_timeout_ms: self.net.startup_timeout.as_millis() as u64,
                out_dir: self.net.out_dir.display().to_string(),
                drop_rate: self.net.drop_rate,
                kills: self.net.kills.iter().map(|c| c.to_string()).collect(),
                restarts: self.net.restarts.iter().map(|c| c.to_string()).collect(),
                data_dir: self.net.data_dir.as_ref().map(|d| d.display().to_string()),
                respawn: self.net.respawn,
            },
            nodes: self
                .topo
                .nodes
                .iter()
                .zip(&self.addrs)
                .map(|(n, a)| (n.name.clone(), a.to_string()))
                .collect(),
        };
        toml::to_string(&file).expect("a cluster file always serializes")
    }
}

fn check_net(net: &NetConfig) -> Result<(), String> {
    let ms = net.death_timeout.as_millis() as u64;
    if !(DEATH_TIMEOUT_MS_MIN..=DEATH_TIMEOUT_MS_MAX).contains(&ms) {
        return Err(format!(
            "death timeout must be {DEATH_TIMEOUT_MS_MIN}..={DEATH_TIMEOUT_MS_MAX} ms, got {ms}"
        ));
    }
    if net.startup_timeout < net.death_timeout || net.startup_timeout > Duration::from_millis(DEATH_TIMEOUT_MS_MAX) {
        return Err(format!(
            "startup timeout must be between the death timeout and {DEATH_TIMEOUT_MS_MAX} ms, got {} ms",
            net.startup_timeout.as_millis()
        ));
    }
    if !(0.0..=DROP_RATE_MAX).contains(&net.drop_rate) {
        return Err(format!("drop rate must be 0..={DROP_RATE_MAX}, got {}", net.drop_rate));
    }
    Ok(())
}

/// TOML errors span several lines (the position, the quoted source line
/// with a caret under the culprit, the message); the contract is one line:
/// `TOML parse error at line 2, column 1: missing field `clients``.
fn one_line(msg: &str) -> String {
    let quoted = |l: &str| {
        let before_bar = l.split('|').next().unwrap_or("");
        l.contains('|') && before_bar.trim().chars().all(|c| c.is_ascii_digit())
    };
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !quoted(l))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        let mut t = TopologyConfig::new(Kind::Replicated, 2);
        t.shards = 2;
        let spec = RunSpec {
            topology: t,
            workload: WorkloadSpec::default(),
            seed: u64::MAX,
            cycles: 100,
            crashes: vec![CrashAt::parse("r1.1@50").unwrap()],
        };
        let net = NetConfig {
            death_timeout: Duration::from_millis(300),
            startup_timeout: Duration::from_millis(2000),
            out_dir: "/tmp/x".into(),
            drop_rate: 0.01,
            kills: vec![CrashAt::parse("r0.0@70").unwrap()],
            restarts: vec![CrashAt::parse("r0.0@80").unwrap()],
            data_dir: Some("/tmp/data".into()),
            respawn: true,
        };
        let mut spec = spec;
        spec.topology.recovery = Some(crate::node::recovery::RecoveryConfig {
            persist: crate::node::recovery::Persist::Sync,
            transfer_keys: 3,
            keys_max: 100,
        });
        let addrs = (0..9).map(|i| SocketAddr::from(([127, 0, 0, 1], 40000 + i))).collect();
        ClusterConfig::new(spec, net, addrs).unwrap()
    }

    #[test]
    fn round_trips_through_toml() {
        let c = config();
        let text = c.to_toml();
        assert!(text.contains("\"r0.1\" = \"127.0.0.1:40004\""), "{text}");
        let back = ClusterConfig::parse(&text).unwrap();
        assert_eq!(back.spec, c.spec);
        assert_eq!(back.net, c.net);
        assert_eq!(back.addrs, c.addrs);
    }

    #[test]
    fn slots_and_queue_travel_in_the_file() {
        let mut c = config();
        assert!(!c.to_toml().contains("slots"), "absent without --slots");
        c.spec.topology.slots = 2;
        c.spec.topology.queue = 5;
        let text = c.to_toml();
        let back = ClusterConfig::parse(&text).unwrap();
        assert_eq!((back.spec.topology.slots, back.spec.topology.queue), (2, 5));
        assert!(back.topo.links.iter().any(|l| l.bound == 2));
        let e = ClusterConfig::parse(&text.replace("queue = 5", "queue = 1")).unwrap_err();
        assert!(e.contains("--queue must be 2..="), "{e}");
    }

    #[test]
    fn bad_files_say_what_is_wrong_in_one_line() {
        let text = config().to_toml();
        let cases = [
            (text.replace("version = 1", "version = 7"), "version 7"),
            (
                text.replace("protocol = \"fanout\"", "protocol = \"paxos\""),
                "run.protocol",
            ),
            (text.replace("c0 = ", "c9 = "), "nodes: no address for node c0"),
            (text.replace("127.0.0.1:40004", "10.0.0.1:40004"), "not loopback"),
            (text.replace("127.0.0.1:40004", "127.0.0.1:40003"), "used twice"),
            (text.replace("127.0.0.1:40004", "localhost"), "not an IP address"),
            (text.replace("cycles = 100", "cycles = \"many\""), "invalid type"),
            (text.replace("[net]", "[net]\nbogus = 1"), "unknown field"),
            ("not toml at all [".to_string(), "TOML parse error at line 1"),
            (
                text.replace("clients = 2\n", ""),
                "TOML parse error at line 3, column 1: missing field `clients`",
            ),
            (text.replace("r1.1@50", "c0@50"), "clients do not fail"),
            (
                text.replace("death_timeout_ms = 300", "death_timeout_ms = 1"),
                "death timeout",
            ),
            (text.replace("drop_rate = 0.01", "drop_rate = 0.9"), "drop rate"),
            (text.replace("r0.0@70", "r0.0"), "net.kills"),
        ];
        for (bad, want) in cases {
            let e = ClusterConfig::parse(&bad).unwrap_err();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }
}
