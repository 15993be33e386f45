//! The flags several commands share: the model's (`check`, `explore`),
//! `--protocol`'s parser and help (also `run`'s), the default thread count.

use crate::model::{CrashMode, ModelConfig, OpKind};
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
    /// Server crashes the model may inject (per shard for replicated) [default: 0].
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
