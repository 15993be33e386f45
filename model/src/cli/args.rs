//! The flags several commands share: the model's (`check`, `explore`),
//! `--protocol`'s parser and help (also `run`'s), the default thread count.

use crate::model::{CrashMode, ModelConfig, OpKind};
use tidekv::node::cache::{CacheConfig, CacheMode, CacheOrder};
use tidekv::node::recovery::{Persist, RecoveryConfig};
use tidekv::node::Protocol;
use tidekv::topology::{ConfigError, Kind, TopologyConfig};

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::parse(s).ok_or_else(|| format!("expected single, sharded or replicated, got {s:?}"))
}
pub fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s).ok_or_else(|| Protocol::unknown(s))
}

/// `--protocol`'s help, from the registry: one line per protocol.
pub fn protocol_help() -> String {
    let mut s = format!("Replication protocol: {} [default: fanout]", Protocol::names(" | "));
    for p in Protocol::ALL {
        s += &format!("\n  {}: {}", p.name(), p.summary());
    }
    s
}
fn parse_mode(s: &str) -> Result<CrashMode, String> {
    CrashMode::parse(s).ok_or_else(|| format!("expected atomic or mid-send, got {s:?}"))
}
fn parse_cache(s: &str) -> Result<CacheMode, String> {
    CacheMode::parse(s).ok_or_else(|| format!("expected naive, lease or update, got {s:?}"))
}
fn parse_cache_order(s: &str) -> Result<CacheOrder, String> {
    CacheOrder::parse(s).ok_or_else(|| format!("expected slot or invalidations-first, got {s:?}"))
}

/// The cache's flags (shared by the model's flags and `run`'s).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CacheArgs {
    /// A read cache at each level-0 FE: naive | lease | update (needs --levels 2 or more, the
    /// default with --cache) [default: none].
    #[arg(long, value_parser = parse_cache)]
    pub cache: Option<CacheMode>,
    /// --cache: entries per FE; the one filled longest ago is evicted [default: 2].
    #[arg(long, value_name = "N")]
    pub cache_keys: Option<usize>,
    /// --cache lease: cycles an entry serves after its fill [default: 8].
    #[arg(long, value_name = "L")]
    pub lease_cycles: Option<u32>,
    /// --cache: order of one frame's fills and invalidations: slot | invalidations-first [default: slot].
    #[arg(long, value_parser = parse_cache_order)]
    pub cache_order: Option<CacheOrder>,
}

impl CacheArgs {
    /// The cache configuration these flags give, or `None` without
    /// `--cache`; the other flags without it are an error.
    pub fn config(&self) -> Result<Option<CacheConfig>, ConfigError> {
        let Some(mode) = self.cache else {
            if self.cache_keys.is_some() || self.lease_cycles.is_some() || self.cache_order.is_some() {
                return Err(ConfigError(
                    "--cache-keys, --lease-cycles and --cache-order need --cache".into(),
                ));
            }
            return Ok(None);
        };
        if self.lease_cycles.is_some() && mode != CacheMode::Lease {
            return Err(ConfigError(format!(
                "--lease-cycles applies to --cache lease, not {}",
                mode.name()
            )));
        }
        let mut c = CacheConfig::new(mode);
        if let Some(k) = self.cache_keys {
            c.keys = k;
        }
        if let Some(l) = self.lease_cycles {
            c.lease_cycles = l;
        }
        if let Some(o) = self.cache_order {
            c.order = o;
        }
        Ok(Some(c))
    }

    pub fn any_given(&self) -> bool {
        self.cache.is_some() || self.cache_keys.is_some() || self.lease_cycles.is_some() || self.cache_order.is_some()
    }
}

fn parse_op(s: &str) -> Result<OpKind, String> {
    OpKind::parse(s).ok_or_else(|| format!("expected get, put, delete, insert or modify, got {s:?}"))
}

/// The `quorum` protocol's parameters (shared by the model's flags and `run`'s).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct QuorumArgs {
    /// quorum: replicas each write goes to, 1..=R [default: a majority, R/2+1].
    #[arg(long, value_name = "W")]
    pub write_quorum: Option<u8>,
    /// quorum: replicas each read goes to, 1..=R [default: a majority, R/2+1].
    #[arg(long, value_name = "Q")]
    pub read_quorum: Option<u8>,
    /// quorum: write the newest version back to stale replicas before answering a read.
    #[arg(long)]
    pub read_repair: bool,
    /// quorum: replicas exchange entries with their peers in the background so they converge.
    #[arg(long)]
    pub anti_entropy: bool,
}

impl QuorumArgs {
    /// Whether any quorum flag was given.
    pub fn any_given(&self) -> bool {
        self.write_quorum.is_some() || self.read_quorum.is_some() || self.read_repair || self.anti_entropy
    }

    /// `protocol` with these parameters: only `quorum` takes them, and a
    /// quorum of 0 is refused here (0 stands for "a majority" inside).
    pub fn apply(&self, protocol: Protocol) -> Result<Protocol, ConfigError> {
        let Protocol::Quorum(mut q) = protocol else {
            if self.any_given() {
                return Err(ConfigError(format!(
                    "--write-quorum, --read-quorum, --read-repair and --anti-entropy apply to --protocol quorum, not {protocol}"
                )));
            }
            return Ok(protocol);
        };
        for (flag, given, field) in [
            ("--write-quorum", self.write_quorum, &mut q.write),
            ("--read-quorum", self.read_quorum, &mut q.read),
        ] {
            if let Some(n) = given {
                if n == 0 {
                    return Err(ConfigError(format!("{flag} must be at least 1, got 0")));
                }
                *field = n;
            }
        }
        q.read_repair |= self.read_repair;
        q.anti_entropy |= self.anti_entropy;
        Ok(Protocol::Quorum(q))
    }
}

/// The model flags (shared by `check` and `explore`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Topology: single | sharded | replicated. Without it, `check` runs the default suite.
    #[arg(long, value_parser = parse_kind)]
    pub topology: Option<Kind>,
    /// Number of clients [default: 2].
    #[arg(long)]
    pub clients: Option<usize>,
    /// Number of shards [default: 2 sharded, 1 replicated].
    #[arg(long)]
    pub shards: Option<usize>,
    /// Replicas per shard (replicated) [default: 3].
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Levels of front ends; each adds 2 cycles of latency [default: 1; single has none].
    #[arg(long)]
    pub levels: Option<usize>,
    /// Keys clients may use [default: 1].
    #[arg(long)]
    pub keys: Option<u32>,
    /// Values clients may write, 1..=V [default: 2].
    #[arg(long)]
    pub values: Option<u8>,
    /// Operations each client starts at most [default: 2].
    #[arg(long)]
    pub ops_per_client: Option<u32>,
    /// Cycles to explore [default: ops-per-client × latency + 2].
    #[arg(long)]
    pub cycles: Option<u32>,
    #[arg(long, value_parser = parse_protocol, long_help = protocol_help(),
          help = format!("Replication protocol: {} [default: fanout]", Protocol::names(" | ")))]
    pub protocol: Option<Protocol>,
    /// Operation kinds clients may start, comma-separated [default: get,put,delete,insert,modify;
    /// quorum: get,put,delete].
    #[arg(long, value_delimiter = ',', value_parser = parse_op)]
    pub ops: Option<Vec<OpKind>>,
    /// Server crashes the model may inject (per shard for replicated) [default: 0]; with
    /// --recoveries, servers of a shard down at once (dead, or restarted and catching up).
    #[arg(long)]
    pub crashes: Option<usize>,
    /// atomic: a crashing node executes nothing; mid-send: it computes and any subset of its frames is delivered.
    #[arg(long, value_parser = parse_mode)]
    pub crash_mode: Option<CrashMode>,
    /// Let the model crash one front end too.
    #[arg(long)]
    pub crash_fe: bool,
    /// Requests per FE→server link per cycle, whatever the number of clients; the root FE queues the rest [default: one slot per client, no queue].
    #[arg(long)]
    pub slots: Option<usize>,
    /// Root-FE queue entries per shard (with --slots, at least K); a request arriving at a full queue is answered busy [default: K].
    #[arg(long)]
    pub queue: Option<usize>,
    #[command(flatten)]
    pub quorum: QuorumArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// stale-reads: no read may return a value superseded more than T cycles before it was invoked
    /// [default: 0 with --cache; otherwise the property is n/a].
    #[arg(long, value_name = "T")]
    pub max_staleness: Option<u32>,
    #[command(flatten)]
    pub recovery: RecoveryArgs,
}

fn parse_persist(s: &str) -> Result<Persist, String> {
    Persist::parse(s).ok_or_else(|| format!("expected none, sync or async, got {s:?}"))
}

/// Crash-recovery flags (`check`, `explore`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RecoveryArgs {
    /// Restarts of dead servers the model may choose, in all (replicated fanout or chain). With it,
    /// --crashes F bounds the servers of a shard down at once (dead, or restarted and still catching
    /// up): a server may die and return any number of times within N restarts [default: 0].
    #[arg(long, value_name = "N")]
    pub recoveries: Option<u32>,
    /// What a restarted server keeps: none (nothing), sync (every write it acknowledged; durable
    /// before its frames go out), async (writes durable one cycle later) [default: none].
    #[arg(long, value_parser = parse_persist)]
    pub persist: Option<Persist>,
    /// Store entries a live replica sends a restarted one per cycle while it catches up [default: 1].
    #[arg(long, value_name = "K")]
    pub transfer_keys: Option<u32>,
}

impl RecoveryArgs {
    fn any_given(&self) -> bool {
        self.recoveries.is_some() || self.persist.is_some() || self.transfer_keys.is_some()
    }

    /// The recovery configuration for a model over `keys` keys, if
    /// `--recoveries` is at least 1.
    fn config(&self, keys: u32) -> Result<Option<RecoveryConfig>, ConfigError> {
        if self.recoveries.unwrap_or(0) == 0 {
            if self.persist.is_some() || self.transfer_keys.is_some() {
                return Err(ConfigError(
                    "--persist and --transfer-keys apply with --recoveries N (N ≥ 1)".into(),
                ));
            }
            return Ok(None);
        }
        Ok(Some(RecoveryConfig {
            persist: self.persist.unwrap_or_default(),
            transfer_keys: self.transfer_keys.unwrap_or(1),
            keys_max: keys,
        }))
    }
}

impl ModelArgs {
    /// Whether any flag other than --topology was given.
    pub fn any_given(&self) -> bool {
        self.clients.is_some()
            || self.shards.is_some()
            || self.replicas.is_some()
            || self.levels.is_some()
            || self.keys.is_some()
            || self.values.is_some()
            || self.ops_per_client.is_some()
            || self.cycles.is_some()
            || self.protocol.is_some()
            || self.ops.is_some()
            || self.crashes.is_some()
            || self.crash_mode.is_some()
            || self.crash_fe
            || self.slots.is_some()
            || self.queue.is_some()
            || self.quorum.any_given()
            || self.cache.any_given()
            || self.max_staleness.is_some()
            || self.recovery.any_given()
    }

    /// The configuration these flags describe, with defaults filled in.
    pub fn to_config(&self, kind: Kind) -> Result<ModelConfig, ConfigError> {
        let mut t = TopologyConfig::new(kind, self.clients.unwrap_or(2));
        if let Some(s) = self.shards {
            t.shards = s;
        }
        if let Some(r) = self.replicas {
            t.replicas = r;
        }
        if let Some(l) = self.levels {
            t.levels = l;
        } else if self.cache.cache.is_some() && kind != Kind::Single {
            // A cache sits below a root FE: two levels unless told.
            t.levels = 2;
        }
        if let Some(p) = self.protocol {
            if kind != Kind::Replicated {
                return Err(ConfigError(format!(
                    "--protocol applies to --topology replicated, not {kind}"
                )));
            }
            t.protocol = p;
        }
        t.protocol = self.quorum.apply(t.protocol)?;
        t.cache = self.cache.config()?;
        t.recovery = self.recovery.config(self.keys.unwrap_or(1))?;
        if self.slots == Some(0) {
            return Err(ConfigError(
                "--slots must be at least 1 (leave it out for one slot per client)".into(),
            ));
        }
        t.slots = self.slots.unwrap_or(0);
        t.queue = self.queue.unwrap_or(t.slots);
        if self.crash_fe && kind == Kind::Single {
            return Err(ConfigError("--crash-fe: --topology single has no front end".into()));
        }
        t.validate()?;
        let ops_per_client = self.ops_per_client.unwrap_or(2);
        let default_ops = OpKind::defaults(t.protocol);
        let cfg = ModelConfig {
            cycles: self.cycles.unwrap_or(ops_per_client * t.latency().slowest() + 2),
            topology: t,
            keys: self.keys.unwrap_or(1),
            values: self.values.unwrap_or(2),
            ops_per_client,
            ops: self.ops.clone().unwrap_or(default_ops),
            crashes: self.crashes.unwrap_or(0),
            crash_mode: self.crash_mode.unwrap_or(CrashMode::Atomic),
            crash_fe: self.crash_fe,
            max_staleness: self.max_staleness,
            recoveries: self.recovery.recoveries.unwrap_or(0),
            latency_tighten: 0,
        };
        if cfg.ops_per_client == 0 {
            return Err(ConfigError("--ops-per-client must be at least 1".into()));
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Two threads when the machine has two cores or more (the checker's default).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}
