//! `tidekv compare`: for one configuration, every registered protocol (and
//! quorum variants) side by side — what the checker says about each property
//! per crash budget and mode, and what a short run of the runtime measures.
//!
//! Every figure comes from the same code `check` and `run` use: the verdicts
//! and shortest counterexamples from [`runner::check`], the latencies from
//! the topology's derived latency (which the `latency` property checks
//! exactly at 0 crashes), the load, bytes and ops/s from
//! [`tidekv::runtime::inproc::run`], one protocol after another in this
//! process, so that the columns compare.

use crate::checker::runner::{self, RunOptions};
use crate::checker::suite;
use crate::cli::args::ModelArgs;
use crate::model::{CrashMode, ModelConfig, OpKind};
use serde_json::{json, Value as Json};
use std::io::{IsTerminal, Write};
use std::time::Instant;
use tidekv::node::Protocol;
use tidekv::protocol::quorum::QuorumParams;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::workload::{self, WorkloadSpec};
use tidekv::runtime::RunSpec;
use tidekv::topology::{Kind, LinkKind, Topology};
use tidekv_checks::{PerProperty, Property, Verdict};

/// Arguments of `tidekv compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Checker threads [default: the number of cores, at most 2].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Cycles of each protocol's runtime run (in process, seed 1).
    #[arg(long, value_name = "N", default_value_t = 4000)]
    pub run_cycles: u32,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// One crash scenario: a budget and a mode (`None` at 0 crashes).
type Scenario = (usize, Option<CrashMode>);

/// What the checker said about one protocol in one crash scenario.
struct Checked {
    scenario: Scenario,
    verdicts: PerProperty<Verdict>,
    /// Per property: the shortest counterexample's length in cycles.
    shortest: PerProperty<Option<usize>>,
    states: usize,
    seconds: f64,
}

/// What a runtime run measured.
struct Measured {
    ops_per_sec: f64,
    /// Requests each replica receives from the FE per cycle (mean over the replicas).
    load: f64,
    /// Of those, writes.
    write_load: f64,
    /// Mean bytes per cycle on an FE→replica link, and on a replica→replica
    /// link (`None`: no such links).
    fe_bytes: f64,
    peer_bytes: Option<f64>,
}

/// One protocol's row.
struct Row {
    protocol: Protocol,
    label: String,
    read_latency: u32,
    write_latency: u32,
    checks: Vec<Checked>,
    measured: Measured,
}

/// The protocols compared: every registered one with its defaults, the
/// quorum also with read repair and anti-entropy and with W=1, Q=R; and the
/// quorum the flags describe, if they describe one.
fn protocols(args: &ModelArgs, replicas: usize) -> Vec<Protocol> {
    let mut out: Vec<Protocol> = Protocol::ALL.to_vec();
    let q = QuorumParams::DEFAULT;
    out.push(Protocol::Quorum(QuorumParams {
        read_repair: true,
        anti_entropy: true,
        ..q
    }));
    out.push(Protocol::Quorum(QuorumParams {
        write: 1,
        read: replicas.min(u8::MAX as usize) as u8,
        ..q
    }));
    if let Ok(p @ Protocol::Quorum(_)) = args.quorum.apply(Protocol::Quorum(q)) {
        if args.quorum.any_given() {
            out.push(p);
        }
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let r = p.resolved(replicas);
        let fresh = !seen.contains(&r);
        seen.push(r);
        fresh
    });
    out
}

/// The model configuration of `protocol`: the flags, with compare's own
/// defaults where they are not given (get and put, one operation per
/// client, and the cycles a write then a read take, plus one).
fn model_config(args: &ModelArgs, protocol: Protocol, crashes: usize, mode: CrashMode) -> Result<ModelConfig, String> {
    let mut a = args.clone();
    a.topology = Some(Kind::Replicated);
    a.protocol = Some(Protocol::Fanout);
    a.quorum = Default::default();
    a.ops = Some(args.ops.clone().unwrap_or(vec![OpKind::Get, OpKind::Put]));
    a.ops_per_client = Some(args.ops_per_client.unwrap_or(1));
    a.crashes = Some(crashes);
    a.crash_mode = Some(mode);
    let mut c = a.to_config(Kind::Replicated).map_err(|e| e.0)?;
    c.topology.protocol = protocol;
    if let Some(ops) = &args.ops {
        if protocol.versioned() && ops.iter().any(|o| o.conditional()) {
            c.ops = ops.iter().copied().filter(|o| !o.conditional()).collect();
        }
    }
    let lat = c.topology.latency();
    c.cycles = args
        .cycles
        .unwrap_or(c.ops_per_client * lat.slowest() + lat.read.min(lat.write) + 1);
    c.validate().map_err(|e| e.0)?;
    Ok(c)
}

/// The crash scenarios: none, then each budget up to `crashes` in each mode.
fn scenarios(crashes: usize) -> Vec<Scenario> {
    let mut out = vec![(0, None)];
    for f in 1..=crashes {
        out.push((f, Some(CrashMode::Atomic)));
        out.push((f, Some(CrashMode::MidSend)));
    }
    out
}

fn check_one(config: &ModelConfig, scenario: Scenario, threads: usize) -> Result<Checked, String> {
    let base = RunOptions {
        threads,
        bfs: false,
        symmetry: crate::model::Reduction::ALL,
        progress: false,
    };
    let report = runner::check(config, &suite::run_options(config, &base)).map_err(|e| e.0)?;
    let shortest = PerProperty::from_fn(|p| {
        report
            .counterexamples
            .iter()
            .filter(|c| c.property == p)
            .map(|c| c.steps.len())
            .min()
    });
    Ok(Checked {
        scenario,
        verdicts: report.verdicts,
        shortest,
        states: report.unique_states,
        seconds: report.seconds,
    })
}

/// A short in-process run of `protocol` on the flags' topology.
fn measure(args: &ModelArgs, config: &ModelConfig, cycles: u32) -> Result<Measured, String> {
    let t = config.topology.clone();
    let ops = args
        .ops
        .clone()
        .unwrap_or_else(|| vec![OpKind::Get, OpKind::Put])
        .into_iter()
        .filter_map(|o| workload::OpKind::parse(o.name()))
        .filter(|o| !(t.protocol.versioned() && o.conditional()))
        .collect();
    let spec = RunSpec {
        topology: t.clone(),
        workload: WorkloadSpec {
            keys: config.keys,
            ops,
            ..WorkloadSpec::default()
        },
        seed: 1,
        cycles,
        crashes: Vec::new(),
    };
    let opts = InprocOptions {
        bytes_sample_every: 1,
        ..InprocOptions::default()
    };
    let report = inproc::run(&spec, opts).map_err(|e| e.to_string())?;
    let topo = Topology::new(t).map_err(|e| e.0)?;
    let mean = |f: &dyn Fn(&tidekv::topology::Link) -> bool,
                g: &dyn Fn(&tidekv::runtime::metrics::LinkBytes) -> f64| {
        let v: Vec<f64> = topo
            .links
            .iter()
            .zip(&report.links)
            .filter(|(l, _)| f(l))
            .map(|(_, (_, b))| g(b))
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let to_replica = |l: &tidekv::topology::Link| l.kind == LinkKind::Up && topo.servers().any(|s| s == l.to);
    let per_frame = |x: u64, b: &tidekv::runtime::metrics::LinkBytes| x as f64 / b.frames.max(1) as f64;
    Ok(Measured {
        ops_per_sec: report.ops_per_sec(),
        load: mean(&to_replica, &|b| per_frame(b.slots, b)).unwrap_or(0.0),
        write_load: mean(&to_replica, &|b| per_frame(b.writes, b)).unwrap_or(0.0),
        fe_bytes: mean(&to_replica, &|b| per_frame(b.bytes, b)).unwrap_or(0.0),
        peer_bytes: mean(&|l| l.kind == LinkKind::Peer, &|b| per_frame(b.bytes, b)),
    })
}

/// Runs `compare`; returns the exit code.
pub fn main(args: CompareArgs) -> u8 {
    match run(&args) {
        Ok(()) => 0,
        Err((code, e)) => {
            eprintln!("error: {e}");
            code
        }
    }
}

fn run(args: &CompareArgs) -> Result<(), (u8, String)> {
    let usage = |e: String| (2, e);
    if args.model.topology.is_some_and(|k| k != Kind::Replicated) {
        return Err(usage(
            "compare compares replication protocols: --topology replicated (the default)".into(),
        ));
    }
    if args.model.protocol.is_some() {
        return Err(usage(
            "compare runs every protocol: drop --protocol (quorum flags add a quorum variant)".into(),
        ));
    }
    if args.model.crash_mode.is_some() {
        return Err(usage("compare checks both crash modes: drop --crash-mode".into()));
    }
    let threads = args.threads.unwrap_or_else(crate::cli::args::default_threads);
    if threads == 0 {
        return Err(usage("--threads must be at least 1".into()));
    }
    if args.run_cycles == 0 {
        return Err(usage("--run-cycles must be at least 1".into()));
    }
    let crashes = args.model.crashes.unwrap_or(0);
    // Validate the flags once, with the default protocol.
    let base = model_config(&args.model, Protocol::Fanout, crashes, CrashMode::Atomic).map_err(usage)?;
    let replicas = base.topology.replicas;
    if replicas < 2 {
        return Err(usage("compare needs --replicas 2 or more".into()));
    }
    let protocols = protocols(&args.model, replicas);
    for p in &protocols {
        p.validate(replicas).map_err(usage)?;
    }
    let scenarios = scenarios(crashes);
    let total = protocols.len() * (scenarios.len() + 1);
    let mut progress = ProgressLine::new(!args.quiet && std::io::stderr().is_terminal(), total);
    let start = Instant::now();
    let mut rows = Vec::new();
    for &protocol in &protocols {
        let label = protocol.label(replicas);
        let mut checks = Vec::new();
        for &(f, mode) in &scenarios {
            progress.step(&format!("{label}: check {}", scenario_label((f, mode))));
            let c = model_config(&args.model, protocol, f, mode.unwrap_or(CrashMode::Atomic)).map_err(usage)?;
            checks.push(check_one(&c, (f, mode), threads).map_err(|e| (1, e))?);
        }
        progress.step(&format!("{label}: run {} cycles", args.run_cycles));
        let c = model_config(&args.model, protocol, 0, CrashMode::Atomic).map_err(usage)?;
        let measured = measure(&args.model, &c, args.run_cycles).map_err(|e| (1, e))?;
        let lat = c.topology.latency();
        rows.push(Row {
            protocol,
            label,
            read_latency: lat.read,
            write_latency: lat.write,
            checks,
            measured,
        });
    }
    progress.done();
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        println!("{}", to_json(&base, &rows, seconds));
    } else {
        print_tables(&base, &rows, seconds);
    }
    Ok(())
}

fn scenario_label((f, mode): Scenario) -> String {
    match mode {
        None => "F=0".into(),
        Some(m) => format!("F={f} {}", m.name()),
    }
}

fn cell(v: Verdict, shortest: Option<usize>) -> String {
    match (v, shortest) {
        (Verdict::Violated, Some(n)) => format!("VIOLATED ({n})"),
        (v, _) => v.word().to_string(),
    }
}

fn print_tables(base: &ModelConfig, rows: &[Row], seconds: f64) {
    println!(
        "compare: replicated C={} S={} R={}, model K={} V={} O={} ops={} (H = a write then a read), runtime seed 1, write ratio 0.5",
        base.topology.clients,
        base.topology.shards,
        base.topology.replicas,
        base.keys,
        base.values,
        base.ops_per_client,
        base.ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(","),
    );
    println!();
    print!("{:<24} {:<12}", "protocol", "crashes");
    for p in Property::ALL {
        print!(" {:<15}", p.name());
    }
    println!(" {:>9} {:>6}", "states", "secs");
    for r in rows {
        for c in &r.checks {
            print!("{:<24} {:<12}", r.label, scenario_label(c.scenario));
            for p in Property::ALL {
                print!(" {:<15}", cell(c.verdicts[p], c.shortest[p]));
            }
            println!(" {:>9} {:>6.1}", c.states, c.seconds);
        }
    }
    println!();
    println!(
        "{:<24} {:>5} {:>6} {:>10} {:>11} {:>10} {:>10} {:>10}",
        "protocol", "read", "write", "load", "write load", "B fe→r", "B r→r", "ops/s"
    );
    for r in rows {
        let m = &r.measured;
        println!(
            "{:<24} {:>5} {:>6} {:>10.3} {:>11.3} {:>10.1} {:>10} {:>10.0}",
            r.label,
            r.read_latency,
            r.write_latency,
            m.load,
            m.write_load,
            m.fe_bytes,
            m.peer_bytes.map_or("-".into(), |b| format!("{b:.1}")),
            m.ops_per_sec
        );
    }
    println!();
    println!(
        "verdict cells: holds / VIOLATED (cycles of the shortest counterexample) / n/a; read, write: failure-free \
         latency in cycles; load: requests each replica receives per cycle (mean over replicas), write load: \
         the writes among them; B: bytes per cycle per link (FE→replica, replica→replica); ops/s: one \
         in-process run per protocol, one after another. {:.0}s in all.",
        seconds
    );
}

fn to_json(base: &ModelConfig, rows: &[Row], seconds: f64) -> Json {
    let rows: Vec<Json> = rows
        .iter()
        .map(|r| {
            let checks: Vec<Json> = r
                .checks
                .iter()
                .map(|c| {
                    let props: serde_json::Map<String, Json> = Property::ALL
                        .iter()
                        .map(|&p| {
                            (
                                p.name().to_string(),
                                json!({"verdict": c.verdicts[p].word(), "shortest_counterexample_cycles": c.shortest[p]}),
                            )
                        })
                        .collect();
                    json!({
                        "crashes": c.scenario.0,
                        "crash_mode": c.scenario.1.map(|m| m.name()),
                        "properties": props,
                        "unique_states": c.states,
                        "seconds": (c.seconds * 1000.0).round() / 1000.0,
                    })
                })
                .collect();
            let m = &r.measured;
            json!({
                "protocol": r.protocol.name(),
                "label": r.label,
                "flags": r.protocol.flags(base.topology.replicas),
                "latency_cycles": {"read": r.read_latency, "write": r.write_latency},
                "checks": checks,
                "runtime": {
                    "ops_per_sec": m.ops_per_sec.round(),
                    "requests_per_replica_cycle": m.load,
                    "writes_per_replica_cycle": m.write_load,
                    "bytes_per_fe_replica_link_cycle": m.fe_bytes,
                    "bytes_per_peer_link_cycle": m.peer_bytes,
                },
            })
        })
        .collect();
    json!({
        "clients": base.topology.clients,
        "shards": base.topology.shards,
        "replicas": base.topology.replicas,
        "keys": base.keys,
        "values": base.values,
        "ops_per_client": base.ops_per_client,
        "ops": base.ops.iter().map(|o| o.name()).collect::<Vec<_>>(),
        "protocols": rows,
        "seconds": (seconds * 10.0).round() / 10.0,
    })
}

/// One line on stderr, rewritten in place: which step of how many.
struct ProgressLine {
    enabled: bool,
    total: usize,
    done: usize,
}

impl ProgressLine {
    fn new(enabled: bool, total: usize) -> Self {
        ProgressLine {
            enabled,
            total,
            done: 0,
        }
    }

    fn step(&mut self, what: &str) {
        self.done += 1;
        if self.enabled {
            eprint!("\r\x1b[Kcompare [{}/{}] {what}", self.done, self.total);
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}
