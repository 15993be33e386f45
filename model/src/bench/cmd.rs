//! `tidekv bench`: every performance figure next to its baseline, measured in
//! one process and one run, so that the ratio is what is reported (these
//! machines are shared and noisy).

use crate::bench::checker::{checker_bench, CheckerBenchOptions};
use crate::bench::plot::{self, Series};
use crate::bench::scaling::{growth, scaling, Scaling, ScalingOptions};
use clap::Args;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::time::Instant;
use tidekv::node::Protocol;
use tidekv::runtime::bench::{median, runtime_vs_hashmap, udp_pingpong_hops_per_s};
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::udp::{self, UdpOptions};
use tidekv::runtime::workload::{OpKind, WorkloadSpec};
use tidekv::runtime::RunSpec;
use tidekv::topology::{Kind, TopologyConfig};
use tidekv_model::cli::args::default_threads;

/// Flags of `tidekv bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Print one JSON object on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Only these parts, comma-separated: runtime, checker, udp, scaling, growth, cache, durability
    /// (durability is not in the default set).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "runtime,checker,udp,scaling,growth,cache"
    )]
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
    /// Threads of the checker runs [default: 2 if the machine has 2 cores or more].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub threads: Option<u8>,
    /// Threads of the in-process engine (`tidekv run --threads`).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2), default_value_t = 1)]
    pub runtime_threads: u8,
    /// Seconds of each time-bounded checker run (the default replicated
    /// configuration and the like-for-like paxos run).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub checker_seconds: f64,
    /// Cycles of the UDP run (1 shard × 3 replicas).
    #[arg(long, default_value_t = 5_000)]
    pub udp_cycles: u32,
    /// Clients of the UDP run.
    #[arg(long, default_value_t = 4)]
    pub udp_clients: usize,
    /// Write the scaling curves as SVG charts into this directory
    /// (bytes_vs_clients.svg, serialize_state.svg, and the --slots curves
    /// queues_bytes.svg, queues_server_time.svg, queues_latency.svg).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<std::path::PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Cycles of each run of the durability part (--persist none, async, sync).
    #[arg(long, default_value_t = 5_000)]
    pub durability_cycles: u32,
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
        if !["runtime", "checker", "udp", "scaling", "growth", "cache", "durability"].contains(&part.as_str()) {
            eprintln!(
                "error: --only: unknown part {part:?} (expected runtime, checker, udp, scaling, growth, cache, durability)"
            );
            return 2;
        }
    }
    if args.repeats == 0
        || args.cycles == 0
        || args.clients == 0
        || args.keys == 0
        || args.udp_cycles == 0
        || args.udp_clients == 0
        || args.durability_cycles == 0
    {
        eprintln!(
            "error: --repeats, --cycles, --clients, --keys, --udp-cycles, --udp-clients and --durability-cycles must be at least 1"
        );
        return 2;
    }
    if !(args.checker_seconds > 0.0 && args.checker_seconds.is_finite()) {
        eprintln!("error: --checker-seconds must be a positive number of seconds");
        return 2;
    }
    if args.plots.is_some() && !args.only.iter().any(|p| p == "scaling") {
        eprintln!("error: --plots draws the scaling part: add scaling to --only");
        return 2;
    }
    if let Some(dir) = &args.plots {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: --plots {}: {e}", dir.display());
            return 2;
        }
    }
    let threads = args.threads.map_or_else(default_threads, usize::from);
    let quiet = args.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("bench: {line}");
        }
    };
    let start = Instant::now();
    let mut out = serde_json::Map::new();
    if args.only.iter().any(|p| p == "runtime") {
        match runtime_vs_hashmap(
            &runtime_spec(&args),
            args.repeats,
            usize::from(args.runtime_threads),
            &mut progress,
        ) {
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
    if args.only.iter().any(|p| p == "checker") {
        let opts = CheckerBenchOptions {
            threads,
            bounded_seconds: args.checker_seconds,
            ..CheckerBenchOptions::default()
        };
        let b = checker_bench(&opts, &mut progress);
        for (k, v) in [
            ("symmetry_reduction", b.symmetry_reduction),
            ("client_reduction", b.client_reduction),
            ("clients_x_replicas_reduction", b.clients_x_replicas_reduction),
            ("value_reduction", b.value_reduction),
            ("all_reductions", b.all_reductions),
            ("checker_vs_paxos", b.checker_vs_paxos),
            ("checker_vs_paxos_like_for_like", b.checker_vs_paxos_like_for_like),
            ("dfs_vs_bfs_states_per_s", b.dfs_vs_bfs_states_per_s),
            ("threads2_vs_1", b.threads2_vs_1),
        ] {
            out.insert(k.into(), json!(v));
        }
        out.insert("checker".into(), serde_json::to_value(&b).expect("serializable"));
    }
    if args.only.iter().any(|p| p == "udp") {
        match udp_bench(&args, usize::from(args.runtime_threads), &mut progress) {
            Ok(u) => {
                out.insert("udp_cycles_per_s".into(), u["udp_cycles_per_s"].clone());
                out.insert("udp_vs_pingpong".into(), u["udp_vs_pingpong"].clone());
                out.insert("udp".into(), u);
            }
            Err(code) => return code,
        }
    }
    if args.only.iter().any(|p| p == "scaling") {
        match scaling(&ScalingOptions::default(), &mut progress) {
            Ok(sc) => {
                if let Some(dir) = &args.plots {
                    if let Err(e) = write_plots(dir, &sc) {
                        eprintln!("error: --plots {}: {e}", dir.display());
                        return 1;
                    }
                }
                out.insert("scaling".into(), serde_json::to_value(&sc).expect("serializable"));
            }
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        }
    }
    if args.only.iter().any(|p| p == "growth") {
        match growth(threads, &mut progress) {
            Ok(g) => {
                out.insert("growth".into(), serde_json::to_value(&g).expect("serializable"));
            }
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        }
    }
    if args.only.iter().any(|p| p == "cache") {
        match crate::bench::cache::cache_bench(args.cycles, &mut progress) {
            Ok(c) => {
                out.insert("cache".into(), serde_json::to_value(&c).expect("serializable"));
            }
            Err(e) => {
                eprintln!("error: {e}");
                return e.exit_code();
            }
        }
    }
    if args.only.iter().any(|p| p == "durability") {
        match crate::bench::durability::durability_bench(args.durability_cycles, args.repeats, &mut progress) {
            Ok(d) => {
                out.insert("durability".into(), serde_json::to_value(&d).expect("serializable"));
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

/// The UDP run's spec: replicated, 1 shard × 3 replicas (fanout).
pub fn udp_spec(args: &BenchArgs) -> RunSpec {
    let mut s = runtime_spec(args);
    s.topology.clients = args.udp_clients;
    s.workload.keys = 1000;
    s.cycles = args.udp_cycles;
    s
}

/// One node per process on loopback, its cycles per second next to two
/// baselines measured in the same command: the in-process engine on the same
/// spec, and a UDP ping-pong between two threads (hops per second: an upper
/// bound on cycles per second, since a cycle waits for at least one hop).
fn udp_bench(args: &BenchArgs, threads: usize, progress: &mut dyn FnMut(&str)) -> Result<Json, u8> {
    let spec = udp_spec(args);
    let exe = std::env::current_exe().map_err(|e| {
        eprintln!("error: cannot find the tidekv executable to start nodes: {e}");
        1u8
    })?;
    let mut hops = Vec::new();
    let mut udp_rates = Vec::new();
    let mut udp_reports = Vec::new();
    for i in 0..2 {
        let h = udp_pingpong_hops_per_s(20_000).map_err(|e| {
            eprintln!("error: loopback ping-pong: {e}");
            1u8
        })?;
        hops.push(h);
        let r = udp::run(&spec, UdpOptions::new(udp::exe_launcher(exe.clone()))).map_err(|e| {
            eprintln!("error: udp run: {e}");
            e.exit_code()
        })?;
        let rate = f64::from(r.cycles) / r.seconds;
        progress(&format!(
            "udp {}/2: {rate:.0} cycles/s ({} processes); loopback ping-pong {h:.0} hops/s",
            i + 1,
            topo_nodes(&spec)
        ));
        udp_rates.push(rate);
        udp_reports.push(r);
    }
    let inproc_report = inproc::run(
        &spec,
        InprocOptions {
            threads,
            ..InprocOptions::default()
        },
    )
    .map_err(|e| {
        eprintln!("error: inproc run: {e}");
        e.exit_code()
    })?;
    let inproc_rate = f64::from(inproc_report.cycles) / inproc_report.seconds;
    let udp_rate = median(&udp_rates);
    let hop_rate = median(&hops);
    let last = udp_reports.last().expect("two runs");
    Ok(json!({
        "topology": spec.topology.label(),
        "processes": topo_nodes(&spec),
        "cycles": spec.cycles,
        "udp_cycles_per_s": udp_rate,
        "udp_runs_cycles_per_s": udp_rates,
        "udp_ops_per_s": last.ops_per_sec(),
        "udp_dropped_frames": last.dropped_frames(),
        "inproc_cycles_per_s": inproc_rate,
        "pingpong_hops_per_s": hop_rate,
        "udp_vs_pingpong": udp_rate / hop_rate,
        "udp_vs_inproc": udp_rate / inproc_rate,
    }))
}

fn write_plots(dir: &std::path::Path, sc: &Scaling) -> std::io::Result<()> {
    let mut bytes: Vec<Series> = sc
        .bytes
        .iter()
        .map(|c| Series {
            name: format!("{} FE→server", c.label.replace("replicated S=1 R=3 ", "R=3 ")),
            points: c.points.iter().map(|p| (p.clients as f64, p.fe_to_server)).collect(),
        })
        .collect();
    let seed_name = Protocol::Seed.name();
    if let Some(seed) = sc.bytes.iter().find(|c| c.label.ends_with(seed_name)) {
        bytes.push(Series {
            name: format!("R=3 {seed_name} peer"),
            points: seed
                .points
                .iter()
                .filter_map(|p| p.peer.map(|b| (p.clients as f64, b)))
                .collect(),
        });
    }
    std::fs::write(
        dir.join("bytes_vs_clients.svg"),
        plot::log_log(
            "bytes per link per cycle vs clients",
            "clients",
            "bytes per frame (postcard)",
            &bytes,
        ),
    )?;
    let ser = |f: &dyn Fn(&crate::bench::scaling::SerializePoint) -> f64, name: &str| Series {
        name: name.into(),
        points: sc
            .serialize
            .iter()
            .filter(|p| p.keys > 0)
            .map(|p| (f64::from(p.keys), f(p)))
            .collect(),
    };
    if let Some(q) = &sc.queues {
        write_queue_plots(dir, q)?;
    }
    std::fs::write(
        dir.join("serialize_state.svg"),
        plot::log_log(
            &format!("per-cycle cost vs store size ({})", sc.serialize_topology),
            "keys in the store",
            "µs per cycle",
            &[
                ser(&|p| p.us_per_cycle_serialized, "--serialize-state"),
                ser(&|p| p.us_per_cycle_plain, "plain"),
            ],
        ),
    )
}

/// The `--slots` curves: queues_bytes.svg, queues_server_time.svg,
/// queues_latency.svg.
fn write_queue_plots(dir: &std::path::Path, q: &crate::bench::queues::Queues) -> std::io::Result<()> {
    let by_slots = |slots: usize, f: &dyn Fn(&crate::bench::queues::ClientsPoint) -> f64| Series {
        name: if slots == 0 {
            "one slot per client".into()
        } else {
            format!("--slots {slots}")
        },
        points: q
            .clients
            .iter()
            .filter(|p| p.slots == slots)
            .map(|p| (p.clients as f64, f(p)))
            .collect(),
    };
    let k = crate::bench::queues::SLOTS;
    std::fs::write(
        dir.join("queues_bytes.svg"),
        plot::log_log(
            "bytes per FE↔server link per cycle vs clients",
            "clients",
            "bytes per frame (wire)",
            &[by_slots(0, &|p| p.fe_server_bytes), by_slots(k, &|p| p.fe_server_bytes)],
        ),
    )?;
    std::fs::write(
        dir.join("queues_server_time.svg"),
        plot::log_log(
            "server step time per cycle vs clients",
            "clients",
            "relative to 1 client, no --slots",
            &[
                by_slots(0, &|p| p.server_time_ratio),
                by_slots(k, &|p| p.server_time_ratio),
            ],
        ),
    )?;
    let mut lat = Vec::new();
    for d in ["uniform", "zipf:1"] {
        for (name, f) in [
            (
                "p50",
                &(|p: &crate::bench::queues::LoadPoint| f64::from(p.p50)) as &dyn Fn(&_) -> f64,
            ),
            ("p99", &|p: &crate::bench::queues::LoadPoint| f64::from(p.p99)),
        ] {
            lat.push(Series {
                name: format!("{d} {name}"),
                points: q
                    .load
                    .iter()
                    .filter(|p| p.distribution == d)
                    .map(|p| (p.offered, f(p)))
                    .collect(),
            });
        }
    }
    std::fs::write(
        dir.join("queues_latency.svg"),
        plot::log_log(
            &format!("latency vs offered load (capacity {} per cycle)", q.capacity),
            "offered load (requests per cycle)",
            "latency (cycles)",
            &lat,
        ),
    )
}

fn topo_nodes(spec: &RunSpec) -> usize {
    spec.build().map_or(0, |t| t.nodes.len())
}

fn print_table(out: &Json) {
    if let Some(d) = out.get("durability") {
        for p in d["points"].as_array().into_iter().flatten() {
            let f = |k: &str| p[k].as_f64().unwrap_or(0.0);
            println!(
                "durability_{:<5}    {:.3}  ({:.0} ops/s, {:.0} cycles/s, {:.2} commits/cycle; ratio to --persist none; {}, {} cycles, median of {})",
                p["persist"].as_str().unwrap_or(""),
                f("ratio_to_none"),
                f("ops_per_s"),
                f("cycles_per_s"),
                f("commits_per_cycle"),
                d["topology"].as_str().unwrap_or(""),
                d["cycles"],
                d["repeats"]
            );
        }
    }
    if let Some(c) = out.get("cache") {
        for p in c["points"].as_array().into_iter().flatten() {
            let f = |k: &str| p[k].as_f64().unwrap_or(0.0);
            println!(
                "cache_read_latency  {:.3}  ({}: hit rate {:.3}, mean read latency {:.3} cycles with the cache, {:.3} without; {})",
                f("ratio"),
                p["distribution"].as_str().unwrap_or(""),
                f("hit_rate"),
                f("read_latency_cached"),
                f("read_latency_uncached"),
                c["topology"].as_str().unwrap_or("")
            );
        }
    }
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
    if let Some(c) = out.get("checker") {
        let f = |k: &str| c[k].as_f64().unwrap_or(0.0);
        let sym = &c["symmetry"];
        println!(
            "symmetry_reduction  {:.2}  ({} → {} unique states; {})",
            f("symmetry_reduction"),
            sym["without"]["unique_states"],
            sym["with"]["unique_states"],
            sym["configuration"].as_str().unwrap_or("")
        );
        println!(
            "client_reduction    {:.2}  ({} → {} unique states); clients × replicas {:.2} ({} unique states)",
            f("client_reduction"),
            sym["without"]["unique_states"],
            sym["clients"]["unique_states"],
            f("clients_x_replicas_reduction"),
            sym["clients_x_replicas"]["unique_states"]
        );
        println!(
            "value_reduction     {:.2}  ({} → {} unique states); clients × replicas × values {:.2} ({} unique states; {:.2}× as fast as clients × replicas)",
            f("value_reduction"),
            sym["without"]["unique_states"],
            sym["values"]["unique_states"],
            f("all_reductions"),
            sym["all"]["unique_states"],
            sym["values_speedup"].as_f64().unwrap_or(0.0)
        );
        let p = &c["paxos"];
        println!(
            "checker_vs_paxos    {:.2}  ({:.0} vs {:.0} unique states/s; like for like, both depth-first: {:.2})",
            f("checker_vs_paxos"),
            p["tidekv"]["unique_states_per_s"].as_f64().unwrap_or(0.0),
            p["paxos_bfs"]["unique_states_per_s"].as_f64().unwrap_or(0.0),
            f("checker_vs_paxos_like_for_like")
        );
        println!(
            "dfs_vs_bfs          {:.2}  (unique states/s; {})",
            f("dfs_vs_bfs_states_per_s"),
            c["searches"][0]["configuration"].as_str().unwrap_or("")
        );
        println!(
            "threads2_vs_1       {:.2}  (depth-first, unique states/s)",
            f("threads2_vs_1")
        );
    }
    if let Some(u) = out.get("udp") {
        println!(
            "udp_cycles_per_s    {:.0}  ({}, {} processes; {:.2} of loopback ping-pong hops/s, {:.3} of inproc)",
            u["udp_cycles_per_s"].as_f64().unwrap_or(0.0),
            u["topology"].as_str().unwrap_or(""),
            u["processes"],
            u["udp_vs_pingpong"].as_f64().unwrap_or(0.0),
            u["udp_vs_inproc"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(sc) = out.get("scaling") {
        for c in sc["bytes"].as_array().into_iter().flatten() {
            let pts = c["points"].as_array().cloned().unwrap_or_default();
            let row: Vec<String> = pts
                .iter()
                .map(|p| format!("{}:{:.0}", p["clients"], p["fe_to_server"].as_f64().unwrap_or(0.0)))
                .collect();
            println!(
                "bytes FE→server     {:<26} clients:bytes {}",
                c["label"].as_str().unwrap_or(""),
                row.join(" ")
            );
        }
        for p in sc["serialize"].as_array().into_iter().flatten() {
            println!(
                "serialize-state     {:>7} keys: {:>10.0} bytes/cycle, {:>9.1} µs/cycle vs {:>6.1} plain ({:.0}×)",
                p["keys"],
                p["state_bytes_per_cycle"].as_f64().unwrap_or(0.0),
                p["us_per_cycle_serialized"].as_f64().unwrap_or(0.0),
                p["us_per_cycle_plain"].as_f64().unwrap_or(0.0),
                p["slowdown"].as_f64().unwrap_or(0.0)
            );
        }
    }
    if let Some(q) = out
        .get("scaling")
        .and_then(|s| s.get("queues"))
        .filter(|q| !q.is_null())
    {
        for p in q["clients"].as_array().into_iter().flatten() {
            println!(
                "queues clients      {:>5} slots {}: {:>8.1} bytes per FE↔server frame, {:>6.2} full slots, server step {:>6.2}× (1 client, no --slots)",
                p["clients"],
                p["slots"],
                p["fe_server_bytes"].as_f64().unwrap_or(0.0),
                p["fe_server_slots"].as_f64().unwrap_or(0.0),
                p["server_time_ratio"].as_f64().unwrap_or(0.0)
            );
        }
        for p in q["load"].as_array().into_iter().flatten() {
            println!(
                "queues load         {:<8} offered {:>5.2}/cycle ({:>3} clients): served {:>5.2}/cycle, p50 {} p99 {} max {}, busy {:.3}, queue max {}, hottest queue mean {:.1}",
                p["distribution"].as_str().unwrap_or(""),
                p["offered"].as_f64().unwrap_or(0.0),
                p["clients"],
                p["served_per_cycle"].as_f64().unwrap_or(0.0),
                p["p50"],
                p["p99"],
                p["max"],
                p["busy_share"].as_f64().unwrap_or(0.0),
                p["queue_max"],
                p["queue_mean_max"].as_f64().unwrap_or(0.0)
            );
        }
    }
    if let Some(g) = out.get("growth") {
        for (part, key) in [("checker", "unique_states"), ("runtime", "ops_per_s")] {
            for p in g[part].as_array().into_iter().flatten() {
                let per = if part == "checker" {
                    format!("{:.0} states/s", p["per_s"].as_f64().unwrap_or(0.0))
                } else {
                    format!("{:.1} µs/cycle", p["us_per_cycle"].as_f64().unwrap_or(0.0))
                };
                println!(
                    "growth {part:<8}    {:<30} {:>5}: {:>12.0} {key}, {:.2}s, {per}",
                    p["varies"].as_str().unwrap_or(""),
                    p["value"],
                    p[key].as_f64().unwrap_or(0.0),
                    p["seconds"].as_f64().unwrap_or(0.0)
                );
            }
        }
    }
    if let Some(s) = out.get("seconds") {
        println!("seconds             {:.1}", s.as_f64().unwrap_or(0.0));
    }
}
