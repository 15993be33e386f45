//! `tidekv bench`: every performance figure next to its baseline, measured in
//! one process and one run, so that the ratio is what is reported (these
//! machines are shared and noisy).

use clap::Args;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::time::Instant;
use tidekv::node::Protocol;
use tidekv::runtime::bench::runtime_vs_hashmap;
use tidekv::runtime::workload::{OpKind, WorkloadSpec};
use tidekv::runtime::RunSpec;
use tidekv::topology::{Kind, TopologyConfig};

/// Flags of `tidekv bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Print one JSON object on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Only these parts, comma-separated: runtime, checker, udp.
    #[arg(long, value_delimiter = ',', default_value = "runtime,checker,udp")]
    pub only: Vec<String>,
    /// Runs of each side of the runtime comparison (alternating; medians compared).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Cycles of each runtime run.
    #[arg(long, default_value_t = 20_000)]
    pub cycles: u32,
    /// Clients of the runtime comparison.
    #[arg(long, default_value_t = 256)]
    pub clients: usize,
    /// Keys of the runtime comparison.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u32,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// The runtime comparison's run: replicated, 1 shard × 3 replicas (fanout),
/// 50% writes.
pub fn runtime_spec(args: &BenchArgs) -> RunSpec {
    let mut topology = TopologyConfig::new(Kind::Replicated, args.clients);
    topology.shards = 1;
    topology.replicas = 3;
    topology.protocol = Protocol::Fanout;
    RunSpec {
        topology,
        workload: WorkloadSpec {
            keys: args.keys,
            write_ratio: 0.5,
            ops: vec![OpKind::Get, OpKind::Put],
            ..WorkloadSpec::default()
        },
        seed: 1,
        cycles: args.cycles,
        crashes: vec![],
    }
}

pub fn main(args: BenchArgs) -> u8 {
    for part in &args.only {
        if !["runtime", "checker", "udp"].contains(&part.as_str()) {
            eprintln!("error: --only: unknown part {part:?} (expected runtime, checker, udp)");
            return 2;
        }
    }
    if args.repeats == 0 || args.cycles == 0 || args.clients == 0 || args.keys == 0 {
        eprintln!("error: --repeats, --cycles, --clients and --keys must be at least 1");
        return 2;
    }
    let quiet = args.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("bench: {line}");
        }
    };
    let start = Instant::now();
    let mut out = serde_json::Map::new();
    if args.only.iter().any(|p| p == "runtime") {
        match runtime_vs_hashmap(&runtime_spec(&args), args.repeats, &mut progress) {
            Ok(r) => {
                out.insert("runtime_vs_hashmap".into(), json!(r.ratio));
                out.insert("runtime".into(), serde_json::to_value(&r).expect("serializable"));
            }
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        }
    }
    out.insert("seconds".into(), json!(start.elapsed().as_secs_f64()));
    let out = Json::Object(out);
    if args.json {
        println!("{out}");
    } else {
        print_table(&out);
    }
    let _ = std::io::stdout().flush();
    0
}

fn print_table(out: &Json) {
    if let Some(r) = out.get("runtime") {
        println!(
            "runtime_vs_hashmap  {:.3}  (runtime {:.0} ops/s, HashMap {:.0} ops/s, limit {:.2}; {})",
            r["ratio"].as_f64().unwrap_or(0.0),
            r["runtime_ops_per_s"].as_f64().unwrap_or(0.0),
            r["hashmap_ops_per_s"].as_f64().unwrap_or(0.0),
            r["physical_limit"].as_f64().unwrap_or(0.0),
            r["topology"].as_str().unwrap_or("")
        );
    }
}
