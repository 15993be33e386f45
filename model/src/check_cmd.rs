//! `tidekv check`: one configuration, or the default suite.

use crate::expect;
use crate::model::{CrashMode, ModelConfig, OpKind};
use crate::runner::{self, Report, RunOptions};
use crate::suite;
use std::time::Instant;
use tidekv::node::Protocol;
use tidekv::topology::{ConfigError, Kind, TopologyConfig};
use tidekv_checks::{Property, Verdict};

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::parse(s).ok_or_else(|| format!("expected single, sharded or replicated, got {s:?}"))
}
pub(crate) fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s).ok_or_else(|| Protocol::unknown(s))
}

/// `--protocol`'s help, from the registry: one line per protocol.
pub(crate) fn protocol_help() -> String {
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
    /// Operation kinds clients may start, comma-separated [default: get,put,delete,insert,modify].
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
        if self.crash_fe && kind == Kind::Single {
            return Err(ConfigError("--crash-fe: --topology single has no front end".into()));
        }
        t.validate()?;
        let ops_per_client = self.ops_per_client.unwrap_or(2);
        let cfg = ModelConfig {
            cycles: self.cycles.unwrap_or(ops_per_client * t.latency().slowest() + 2),
            topology: t,
            keys: self.keys.unwrap_or(1),
            values: self.values.unwrap_or(2),
            ops_per_client,
            ops: self.ops.clone().unwrap_or_else(|| OpKind::ALL.to_vec()),
            crashes: self.crashes.unwrap_or(0),
            crash_mode: self.crash_mode.unwrap_or(CrashMode::Atomic),
            crash_fe: self.crash_fe,
        };
        if cfg.ops_per_client == 0 {
            return Err(ConfigError("--ops-per-client must be at least 1".into()));
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Arguments of `tidekv check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Checker threads [default: the number of cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object per configuration instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Search breadth-first instead of depth-first (same verdicts and minimal
    /// counterexamples; much more memory).
    #[arg(long)]
    pub bfs: bool,
    /// Symmetry reduction: explore one state per permutation of the replicas
    /// of each shard (fanout only; same verdicts, fewer states).
    #[arg(long)]
    pub symmetry: bool,
    /// Instead of the exhaustive search, run this many seeded random walks of
    /// --cycles cycles (for configurations too big to check exhaustively).
    #[arg(long, value_name = "WALKS")]
    pub simulate: Option<u64>,
    /// Seed of --simulate; the same seed and flags replay the same walks
    /// [default: drawn from the clock, and printed].
    #[arg(long, requires = "simulate")]
    pub seed: Option<u64>,
}

/// Runs `check`; returns the exit code.
pub fn main(args: CheckArgs) -> u8 {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        eprintln!("error: --threads must be at least 1");
        return 2;
    }
    let opts = RunOptions {
        threads,
        bfs: args.bfs,
        symmetry: args.symmetry,
        progress: true,
    };
    match args.model.topology {
        Some(kind) => {
            let cfg = match args.model.to_config(kind) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let result = match args.simulate {
                None => runner::check(&cfg, &opts),
                Some(0) => {
                    eprintln!("error: --simulate must be at least 1");
                    return 2;
                }
                Some(runs) => {
                    let seed = args.seed.unwrap_or_else(|| {
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(1, |d| d.as_nanos() as u64)
                    });
                    // Logged first, so that any run can be replayed.
                    eprintln!("simulation seed {seed} ({runs} walks); replay with --simulate {runs} --seed {seed}");
                    crate::simulate::simulate(
                        &cfg,
                        &crate::simulate::SimOptions {
                            runs,
                            seed,
                            progress: true,
                        },
                    )
                }
            };
            let report = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            if args.json {
                println!("{}", report.to_json());
            } else {
                print_one(&report);
            }
            let bad = report
                .verdicts
                .iter()
                .any(|(p, v)| *v == Verdict::Violated && expect::expected(&cfg, p).0 == Verdict::Holds);
            u8::from(bad)
        }
        None => {
            if args.model.any_given() || args.simulate.is_some() {
                eprintln!("error: model flags need --topology (without it, check runs the default suite)");
                return 2;
            }
            run_suite(&opts, args.json)
        }
    }
}

fn run_suite(opts: &RunOptions, json: bool) -> u8 {
    let configs = suite::default_suite();
    let start = Instant::now();
    let mut reports = Vec::new();
    if !json {
        println!(
            "default suite: {} configurations, {} threads",
            configs.len(),
            opts.threads
        );
        println!();
        print_header();
    }
    for cfg in &configs {
        let report = runner::check(cfg, &suite::run_options(cfg, opts)).expect("suite configurations are valid");
        if json {
            println!("{}", report.to_json());
        } else {
            print_row(&report);
        }
        reports.push(report);
    }
    let bad: Vec<&Report> = reports
        .iter()
        .filter(|r| !r.surprises().is_empty() || !r.unreached_twins().is_empty())
        .collect();
    if !json {
        println!();
        println!(
            "cells: the verdict; in parentheses, only where they differ from it: the seed's claim, the finding \
             (docs/RESULTS.md) behind the expected verdict, and `!` for a verdict the project does not expect"
        );
        let states: usize = reports.iter().map(|r| r.unique_states).sum();
        println!(
            "{} configurations, {} unique states, {:.1}s; {}",
            reports.len(),
            states,
            start.elapsed().as_secs_f64(),
            if bad.is_empty() {
                "every verdict as expected".to_string()
            } else {
                format!("{} unexpected", bad.len())
            }
        );
        for r in &bad {
            for p in r.surprises() {
                println!(
                    "  UNEXPECTED {}: {p} {} (expected {})",
                    r.config.label(),
                    r.verdicts[p],
                    expect::expected(&r.config, p).0
                );
            }
            for t in r.unreached_twins() {
                println!("  UNREACHED {}: {t}", r.config.label());
            }
        }
    }
    u8::from(!bad.is_empty())
}

const W_CONFIG: usize = 72;

fn print_header() {
    print!("{:<W_CONFIG$} {:>9} {:>6}", "configuration", "states", "secs");
    for p in Property::ALL {
        print!("  {:<27}", p.name());
    }
    println!();
}

/// A table cell: the verdict, then — only where they differ from it — the
/// seed's claim, the finding behind the expected verdict, and `!` with the
/// expected verdict when the checker disagrees with the project.
fn cell(r: &Report, p: Property) -> String {
    let v = r.verdicts[p];
    let mut s = match v {
        Verdict::Holds => "holds".to_string(),
        Verdict::Violated => "VIOLATED".to_string(),
        Verdict::NotApplicable => "n/a".to_string(),
        Verdict::Unknown => "unknown".to_string(),
    };
    let mut notes = Vec::new();
    let claim = expect::seed_claim(&r.config, p);
    let claimed = match claim {
        expect::Claim::Holds => Some(Verdict::Holds),
        expect::Claim::Violated => Some(Verdict::Violated),
        _ => None,
    };
    if claimed.is_some_and(|c| c != v) {
        notes.push(format!("seed: {}", claim.word()));
    }
    let (exp, finding) = expect::expected(&r.config, p);
    if let Some(f) = finding {
        notes.push(f.to_string());
    }
    if exp != v {
        notes.push(format!("! expected {exp}"));
    }
    if !notes.is_empty() {
        s += &format!(" ({})", notes.join("; "));
    }
    s
}

fn print_row(r: &Report) {
    print!(
        "{:<W_CONFIG$} {:>9} {:>6.1}",
        r.config.label(),
        r.unique_states,
        r.seconds
    );
    for p in Property::ALL {
        print!("  {:<27}", cell(r, p));
    }
    println!();
}

fn print_one(r: &Report) {
    println!("configuration: {}", r.config.label());
    match r.simulated {
        None => println!(
            "checked: {} unique states ({} generated), depth {}, {:.2}s, {} thread(s); exhaustive within --cycles {}",
            r.unique_states, r.states, r.max_depth, r.seconds, r.threads, r.config.cycles
        ),
        Some((walks, seed)) => println!(
            "simulated: {walks} random walks of {} cycles (seed {seed}), {} states ({} distinct), {:.2}s; \
             NOT exhaustive: `holds` means no walk found a violation",
            r.config.cycles, r.states, r.unique_states, r.seconds
        ),
    }
    println!();
    println!(
        "{:<16} {:<10} {:<10} {:<22} sometimes twin",
        "property", "verdict", "seed claim", "expected"
    );
    for p in Property::ALL {
        let (exp, finding) = expect::expected(&r.config, p);
        let exp_text = match finding {
            Some(f) => format!("{exp} [{f}]"),
            None => exp.to_string(),
        };
        let twin = if r.verdicts[p] == Verdict::NotApplicable {
            "-".to_string()
        } else if r.twins[p] {
            "reached".to_string()
        } else {
            "NOT reached".to_string()
        };
        let mark = if r.verdicts[p] != exp { "  <- unexpected" } else { "" };
        println!(
            "{:<16} {:<10} {:<10} {:<22} {twin} ({}){mark}",
            p.name(),
            r.verdicts[p].word(),
            expect::seed_claim(&r.config, p).word(),
            exp_text,
            p.twin().trim_start_matches("reached: ")
        );
    }
    for c in &r.counterexamples {
        println!();
        println!(
            "counterexample for {} ({} cycles): {}",
            c.property,
            c.steps.len(),
            c.explanation
        );
        for s in &c.steps {
            println!("  {s}");
        }
        println!("  history at the end:");
        for h in &c.history {
            println!("    {h}");
        }
        if !c.explore_url.is_empty() {
            println!("  explore it: tidekv explore {}", r.config.flags());
            println!("  then open:  {}", c.explore_url);
        }
    }
}
