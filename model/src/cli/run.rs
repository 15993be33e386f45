//! `tidekv run` and `tidekv node`: the command line of the runtime
//! ([`tidekv::runtime`]). Parsing and validation live here; everything else
//! is the runtime's.
//!
//! Exit codes: 0 when the run completed (UDP: also when a node process died
//! untold, a crash, or a client did), 1 when it could not be carried out or
//! ended early (a file could not be written, the cluster hung, SIGTERM; after
//! the run began, the history so far is still written), 2 on a usage error
//! (one line on stderr).

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;
use tidekv::node::recovery::{Persist, RecoveryConfig};
use tidekv::node::Protocol;
use tidekv::runtime::config::{
    DEATH_TIMEOUT_MS_DEFAULT, DROP_RATE_MAX, SILENCE_TIMEOUT_MS_DEFAULT, STARTUP_TIMEOUT_MS_DEFAULT,
};
use tidekv::runtime::inproc::{self, InprocOptions, BYTES_SAMPLE_EVERY_DEFAULT};
use tidekv::runtime::udp::{self, UdpOptions};
use tidekv::runtime::workload::{Distribution, OpKind, WorkloadSpec};
use tidekv::runtime::{CrashAt, Report, RunError, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::parse(s).ok_or_else(|| format!("expected single, sharded or replicated, got {s:?}"))
}
use crate::cli::args::{parse_protocol, protocol_help, CacheArgs, QuorumArgs};
fn parse_op(s: &str) -> Result<OpKind, String> {
    OpKind::parse(s).ok_or_else(|| format!("expected get, put, insert, modify or delete, got {s:?}"))
}

/// Which engine executes the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// The whole cluster in this process, in lockstep.
    Inproc,
    /// One process per node, frames over loopback UDP.
    Udp,
}

/// Arguments of `tidekv run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Topology: single | sharded | replicated.
    #[arg(long, value_parser = parse_kind, default_value = "replicated")]
    pub topology: Kind,
    /// Number of clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Number of shards [default: 2 sharded, 1 replicated].
    #[arg(long)]
    pub shards: Option<usize>,
    /// Replicas per shard (replicated) [default: 3].
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Levels of front ends; each adds 2 cycles of latency [default: 1; single has none].
    #[arg(long)]
    pub levels: Option<usize>,
    #[arg(long, value_parser = parse_protocol, long_help = protocol_help(),
          help = format!("Replication protocol: {} [default: fanout]", Protocol::names(" | ")))]
    pub protocol: Option<Protocol>,
    #[command(flatten)]
    pub quorum: QuorumArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Cycles to execute.
    #[arg(long, default_value_t = 100_000)]
    pub cycles: u32,
    /// inproc: lockstep in this process; udp: one process per node on loopback.
    #[arg(long, value_enum, default_value = "inproc")]
    pub transport: Transport,
    /// Keys clients use: 0..K.
    #[arg(long, default_value_t = 100)]
    pub keys: u32,
    /// Probability that an operation is a write.
    #[arg(long, default_value_t = 0.5)]
    pub write_ratio: f64,
    /// Operation kinds clients use, comma-separated [default: get,put,insert,modify,delete;
    /// quorum: get,put,delete].
    #[arg(long, value_delimiter = ',', value_parser = parse_op)]
    pub ops: Option<Vec<OpKind>>,
    /// Key distribution: uniform | zipf:S (S > 0; key 0 is the hottest).
    #[arg(long, value_parser = Distribution::parse, default_value = "uniform")]
    pub distribution: Distribution,
    /// Bytes per written value (at least 8: a value carries its unique id).
    #[arg(long, default_value_t = 8)]
    pub value_bytes: usize,
    /// Cycles a client waits after a response before its next request.
    #[arg(long, default_value_t = 0)]
    pub think_cycles: u32,
    /// Seed of every random choice (workloads, replica choices): a run replays exactly.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Crash a server or FE atomically at a cycle, e.g. r0.1@1000 (repeatable; clients do not fail).
    #[arg(long = "crash", value_name = "NODE@CYCLE", value_parser = CrashAt::parse)]
    pub crashes: Vec<CrashAt>,
    /// udp: a server or FE process SIGKILLs itself without warning in exactly this cycle, after
    /// computing it and sending its frames on the first half of its links (a mid-send crash;
    /// repeatable). The supervisor sees a process die, as if killed by hand.
    #[arg(long = "kill", value_name = "NODE@CYCLE", value_parser = CrashAt::parse)]
    pub kills: Vec<CrashAt>,
    /// Write the client-observed history here as JSON lines (values as their integer ids).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// inproc: measure frame sizes every N cycles (1: every cycle).
    #[arg(long, value_name = "N", default_value_t = BYTES_SAMPLE_EVERY_DEFAULT)]
    pub bytes_sample_every: u32,
    /// inproc: 1 steps every node on one thread; 2 steps the servers on a second thread
    /// (same result; on the 2-core machine measured, slower than 1: every request and
    /// response crosses between the cores, see docs/PERFORMANCE.md).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2), default_value_t = 1)]
    pub threads: u8,
    /// inproc: serialize every server's state after every cycle and continue from what
    /// deserializes back, as the seed's platform does (shows what that costs).
    #[arg(long)]
    pub serialize_state: bool,
    /// inproc, for measurements: the stores start holding keys 0..N (on their home shard).
    /// Reads then return values no client wrote, so it takes no --history.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub prefill_keys: u32,
    /// udp: a neighbour silent for this long (or answering without progress for 4 times this
    /// long) while awaited is taken for dead from the awaited cycle on.
    #[arg(long, value_name = "MS", default_value_t = DEATH_TIMEOUT_MS_DEFAULT)]
    pub death_timeout_ms: u64,
    /// udp: the same, before a neighbour's first datagram [default: max(2000, death timeout)].
    #[arg(long, value_name = "MS")]
    pub startup_timeout_ms: Option<u64>,
    /// udp: end the run when no node has reported for this long (a hung cluster): every node
    /// is stopped, the history so far is written (operations not returned are pending) and the
    /// exit code is 1.
    #[arg(long, value_name = "MS", default_value_t = SILENCE_TIMEOUT_MS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub silence_timeout_ms: u64,
    /// udp: keep the cluster file and client logs in this directory.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// udp, for testing: every node drops this share of the datagrams it sends (0..=0.5), drawn
    /// from a stream of --seed; lost frames are repaired, so the history does not change.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Requests per FE→server link per cycle, whatever the number of clients: frames between the
    /// root FE and the servers have K slots; the root FE queues the rest [default: one slot per
    /// client, no queue].
    #[arg(long, value_name = "K")]
    pub slots: Option<usize>,
    /// Root-FE queue entries per shard (with --slots, at least K); a request arriving at a full
    /// queue is answered busy (history: fail, "busy") and its client moves on to its next
    /// operation [default: K].
    #[arg(long, value_name = "Q")]
    pub queue: Option<usize>,
    /// Restart a dead replica at a cycle, e.g. r0.1@2000 (repeatable; it must have died earlier by
    /// --crash or, udp, --kill; in-process a replica may die and restart again and again, its
    /// --crash and --restart cycles alternating; udp once per replica). It catches up from a live replica over transfer
    /// links (replicated fanout or chain; see docs/RECOVERY.md).
    #[arg(long = "restart", value_name = "NODE@CYCLE", value_parser = CrashAt::parse)]
    pub restarts: Vec<CrashAt>,
    /// What a restarted replica keeps: none, sync (every write it acknowledged: committed to disk
    /// before its frames go out), async (one cycle behind) [default: none].
    #[arg(long, value_parser = parse_persist)]
    pub persist: Option<Persist>,
    /// Store entries a live replica sends a restarted one per cycle [default: 1].
    #[arg(long, value_name = "K")]
    pub transfer_keys: Option<u32>,
    /// With --persist sync|async: the directory of the durable stores (redb files; kept) [default:
    /// a temporary directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// udp: when a replica's process dies (--kill, --crash, or a SIGKILL from outside), start a new
    /// process for it at the cycle its --restart names.
    #[arg(long)]
    pub respawn: bool,
}

fn parse_persist(s: &str) -> Result<Persist, String> {
    Persist::parse(s).ok_or_else(|| format!("expected none, sync or async, got {s:?}"))
}

/// Arguments of `tidekv node`.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The cluster file written by `tidekv run --transport udp`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The node to run, by name (c0, fe, r0.1, …).
    #[arg(long, value_name = "NODE")]
    pub id: String,
    /// Which life of the node: 0, or 1 for a replica restarted at its --restart cycle (the
    /// supervisor says it in the environment, TIDEKV_NODE_INCARNATION) [default: 0].
    #[arg(long)]
    pub incarnation: Option<u8>,
}

/// `tidekv run`'s flags alone, for [`RunArgs::try_parse_flags`].
#[derive(clap::Parser)]
#[command(name = "run")]
struct RunOnly {
    #[command(flatten)]
    run: RunArgs,
}

impl RunArgs {
    /// Parses the flags that follow `tidekv run` (tests and other front ends).
    pub fn try_parse_flags<I, T>(flags: I) -> Result<RunArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let argv = std::iter::once(std::ffi::OsString::from("run")).chain(flags.into_iter().map(Into::into));
        RunOnly::try_parse_from(argv).map(|r| r.run)
    }

    /// The run these flags describe, with defaults filled in.
    pub fn to_spec(&self) -> Result<RunSpec, String> {
        let kind = self.topology;
        let mut t = TopologyConfig::new(kind, self.clients);
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
                return Err(format!("--protocol applies to --topology replicated, not {kind}"));
            }
            t.protocol = p;
        }
        t.protocol = self.quorum.apply(t.protocol).map_err(|e| e.0)?;
        t.cache = self.cache.config().map_err(|e| e.0)?;
        if self.slots == Some(0) {
            return Err("--slots must be at least 1 (leave it out for one slot per client)".into());
        }
        t.slots = self.slots.unwrap_or(0);
        t.queue = self.queue.unwrap_or(t.slots);
        if self.bytes_sample_every == 0 {
            return Err("--bytes-sample-every must be at least 1".into());
        }
        if self.transport == Transport::Inproc
            && (self.run_dir.is_some()
                || !self.kills.is_empty()
                || self.startup_timeout_ms.is_some()
                || self.death_timeout_ms != DEATH_TIMEOUT_MS_DEFAULT
                || self.silence_timeout_ms != SILENCE_TIMEOUT_MS_DEFAULT
                || self.drop_rate != 0.0)
        {
            return Err(
                "--kill, --run-dir, --drop-rate, --death-timeout-ms, --startup-timeout-ms and \
                 --silence-timeout-ms apply to --transport udp"
                    .into(),
            );
        }
        if !(0.0..=DROP_RATE_MAX).contains(&self.drop_rate) {
            return Err(format!(
                "--drop-rate must be 0..={DROP_RATE_MAX}, got {}",
                self.drop_rate
            ));
        }
        if self.transport == Transport::Udp && (self.serialize_state || self.prefill_keys > 0 || self.threads != 1) {
            return Err("--serialize-state, --prefill-keys and --threads apply to --transport inproc".into());
        }
        let recovering = !self.restarts.is_empty()
            || self.persist.is_some()
            || self.transfer_keys.is_some()
            || self.data_dir.is_some()
            || self.respawn;
        if recovering {
            t.recovery = Some(RecoveryConfig {
                persist: self.persist.unwrap_or_default(),
                transfer_keys: self.transfer_keys.unwrap_or(1),
                keys_max: self.keys,
            });
            if self.data_dir.is_some() && self.persist.unwrap_or_default() == Persist::None {
                return Err("--data-dir applies with --persist sync or async".into());
            }
            if self.respawn && self.transport != Transport::Udp {
                return Err("--respawn applies to --transport udp (inproc restarts by --restart alone)".into());
            }
            if self.transport == Transport::Udp && !self.restarts.is_empty() && !self.respawn {
                return Err("--transport udp: --restart starts a new process: give --respawn".into());
            }
            if self.prefill_keys > 0 || self.serialize_state {
                return Err(
                    "--restart, --persist and --transfer-keys take no --prefill-keys or --serialize-state".into(),
                );
            }
        }
        if self.prefill_keys > 0 && self.history.is_some() {
            return Err("--prefill-keys makes reads return values no client wrote: it takes no --history".into());
        }
        let spec = RunSpec {
            topology: t.clone(),
            workload: WorkloadSpec {
                keys: self.keys,
                write_ratio: self.write_ratio,
                ops: self.ops.clone().unwrap_or_else(|| OpKind::defaults(t.protocol)),
                distribution: self.distribution,
                value_bytes: self.value_bytes,
                think_cycles: self.think_cycles,
            },
            seed: self.seed,
            cycles: self.cycles,
            crashes: self.crashes.clone(),
        };
        spec.build()
            .map_err(|e| e.0.replace("--recoveries:", "--restart/--persist/--transfer-keys:"))?;
        Ok(spec)
    }
}

/// Runs `tidekv run`; returns the exit code.
pub fn run_main(args: RunArgs) -> u8 {
    let spec = match args.to_spec() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let history: Option<Box<dyn std::io::Write + Send>> = match &args.history {
        None => None,
        Some(p) => match File::create(p) {
            Ok(f) => Some(Box::new(f)),
            Err(e) => {
                eprintln!("error: --history {}: {e}", p.display());
                return 2;
            }
        },
    };
    let progress = !args.quiet;
    let result: Result<Report, RunError> = match args.transport {
        Transport::Inproc => inproc::run(
            &spec,
            InprocOptions {
                history,
                history_path: args.history.clone(),
                progress,
                bytes_sample_every: args.bytes_sample_every,
                threads: usize::from(args.threads),
                serialize_state: args.serialize_state,
                prefill_keys: args.prefill_keys,
                recorder: None,
                restarts: args.restarts.clone(),
                data_dir: args.data_dir.clone(),
            },
        ),
        Transport::Udp => {
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: cannot find the tidekv executable to start nodes: {e}");
                    return 1;
                }
            };
            let mut opts = UdpOptions::new(udp::exe_launcher(exe));
            opts.history = history;
            opts.history_path = args.history.clone();
            opts.progress = progress;
            opts.death_timeout = Duration::from_millis(args.death_timeout_ms);
            opts.startup_timeout = Duration::from_millis(
                args.startup_timeout_ms
                    .unwrap_or(STARTUP_TIMEOUT_MS_DEFAULT.max(args.death_timeout_ms)),
            );
            opts.run_dir = args.run_dir.clone();
            opts.kills = args.kills.clone();
            opts.drop_rate = args.drop_rate;
            opts.silence_timeout = Duration::from_millis(args.silence_timeout_ms);
            opts.restarts = args.restarts.clone();
            opts.respawn = args.respawn;
            opts.data_dir = args.data_dir.clone();
            udp::run(&spec, opts)
        }
    };
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.summary());
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Runs `tidekv node`; returns the exit code.
pub fn node_main(args: NodeArgs) -> u8 {
    match args.incarnation {
        Some(i) => udp::node::node_main_incarnation(&args.config, &args.id, i),
        None => udp::node_main(&args.config, &args.id),
    }
}
