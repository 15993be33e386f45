//! The seed's scaling claims, measured by `tidekv bench --only scaling`.
//!
//! - **Bytes per FE→shard link per cycle against the number of clients.** The
//!   seed: "FE → shard communication size directly proportional with # of
//!   clients". Every frame has one slot per client whether or not the client
//!   has something in flight, so the bytes grow with the clients even when
//!   the load per client is the same. Measured on the in-process engine with
//!   every frame postcard-encoded (`--bytes-sample-every 1`), for the
//!   sharded topology and the three replication protocols, with the replica
//!   peer links beside (the `seed` and `owner` protocols forward writes to
//!   the peers, `fanout` does not).
//! - **Per-cycle cost against store size when node state is serialized
//!   every cycle** (`tidekv run --serialize-state`), as the seed's platform
//!   does: "does not scale for database-like stores". The stores start
//!   holding `keys` keys (`--prefill-keys`), and the same run is timed with
//!   and without the round trip.

use serde::Serialize;
use tidekv::node::Protocol;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::{RunError, RunSpec};
use tidekv::topology::{Kind, LinkKind, Role, Topology, TopologyConfig};

/// One configuration's bytes at one client count.
#[derive(Clone, Debug, Serialize)]
pub struct BytesPoint {
    pub clients: usize,
    /// Mean postcard-encoded bytes per frame on an FE→server link.
    pub fe_to_server: f64,
    /// On a replica→replica link (none without replicas).
    pub peer: Option<f64>,
    /// Every server-side link together (FE↔server and peer), per cycle.
    pub server_side_total: f64,
    /// The command that measures it.
    pub command: String,
}

/// One topology/protocol's curve.
#[derive(Clone, Debug, Serialize)]
pub struct BytesCurve {
    pub label: String,
    pub points: Vec<BytesPoint>,
    /// `fe_to_server` at the largest client count ÷ at the smallest, and the
    /// client counts' ratio: proportional means the two are close.
    pub growth: f64,
    pub clients_ratio: f64,
}

/// The per-cycle cost of serializing state at one store size.
#[derive(Clone, Debug, Serialize)]
pub struct SerializePoint {
    /// Keys in the store at the start (every server of a shard holds its keys).
    pub keys: u32,
    pub cycles: u32,
    pub state_bytes_per_cycle: f64,
    /// Microseconds per cycle without and with the round trip.
    pub us_per_cycle_plain: f64,
    pub us_per_cycle_serialized: f64,
    /// `us_per_cycle_serialized ÷ us_per_cycle_plain`.
    pub slowdown: f64,
    pub command: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scaling {
    pub bytes: Vec<BytesCurve>,
    pub serialize: Vec<SerializePoint>,
    /// The serialized run's clients and topology.
    pub serialize_topology: String,
    /// Bounded frames (`--slots`, `--queue`): see [`crate::bench::queues`].
    pub queues: Option<crate::bench::queues::Queues>,
}

/// What [`scaling`] measures over.
#[derive(Clone, Debug)]
pub struct ScalingOptions {
    pub clients: Vec<usize>,
    pub keys: Vec<u32>,
    /// Cycles of each bytes run.
    pub cycles: u32,
    /// The `--slots` curves, if measured.
    pub queues: Option<crate::bench::queues::QueuesOptions>,
}

impl Default for ScalingOptions {
    fn default() -> Self {
        ScalingOptions {
            clients: vec![2, 4, 8, 16, 32, 64, 128, 256],
            keys: vec![0, 1_000, 3_000, 10_000, 30_000, 100_000],
            cycles: 400,
            queues: Some(crate::bench::queues::QueuesOptions::default()),
        }
    }
}

fn spec(kind: Kind, protocol: Option<Protocol>, clients: usize, cycles: u32) -> RunSpec {
    let mut topology = TopologyConfig::new(kind, clients);
    if kind == Kind::Replicated {
        topology.shards = 1;
        topology.replicas = 3;
    }
    if kind == Kind::Sharded {
        topology.shards = 2;
    }
    if let Some(p) = protocol {
        topology.protocol = p;
    }
    crate::bench::get_put(topology, cycles)
}

fn command(s: &RunSpec, extra: &str) -> String {
    let t = &s.topology;
    let mut c = format!("tidekv run --topology {} --clients {}", t.kind, t.clients);
    if t.kind != Kind::Single {
        c += &format!(" --shards {}", t.shards);
    }
    if t.kind == Kind::Replicated {
        c += &format!(" --replicas {} --protocol {}", t.replicas, t.protocol);
    }
    c += &format!(
        " --keys {} --ops get,put --write-ratio 0.5 --cycles {}{extra}",
        s.workload.keys, s.cycles
    );
    c
}

fn is_server(topo: &Topology, id: usize) -> bool {
    matches!(topo.nodes[id].role, Role::Server { .. })
}

fn bytes_point(s: &RunSpec) -> Result<BytesPoint, RunError> {
    let topo = s.build()?;
    let report = inproc::run(
        s,
        InprocOptions {
            bytes_sample_every: 1,
            ..InprocOptions::default()
        },
    )?;
    let mean = |f: &dyn Fn(usize) -> bool| -> Option<f64> {
        let v: Vec<f64> = report
            .links
            .iter()
            .enumerate()
            .filter(|(l, _)| f(*l))
            .filter_map(|(_, (_, b))| b.mean())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let fe_to_server = |l: usize| {
        let link = &topo.links[l];
        link.kind == LinkKind::Up && is_server(&topo, link.to)
    };
    let peer = |l: usize| topo.links[l].kind == LinkKind::Peer;
    let server_side = |l: usize| {
        let link = &topo.links[l];
        is_server(&topo, link.to) || is_server(&topo, link.from)
    };
    let total: f64 = report
        .links
        .iter()
        .enumerate()
        .filter(|(l, _)| server_side(*l))
        .filter_map(|(_, (_, b))| b.mean())
        .sum();
    Ok(BytesPoint {
        clients: s.topology.clients,
        fe_to_server: mean(&fe_to_server).unwrap_or(0.0),
        peer: mean(&peer),
        server_side_total: total,
        command: command(s, " --bytes-sample-every 1 --json"),
    })
}

fn serialize_point(keys: u32, progress: &mut dyn FnMut(&str)) -> Result<SerializePoint, RunError> {
    // About the same work per size: fewer cycles for bigger stores.
    let cycles = (2_000_000 / (keys + 1_000)).clamp(20, 2_000);
    let mut s = spec(Kind::Replicated, Some(Protocol::Fanout), 16, cycles);
    s.workload.keys = keys.max(1);
    let run = |serialize_state| {
        inproc::run(
            &s,
            InprocOptions {
                serialize_state,
                prefill_keys: keys,
                ..InprocOptions::default()
            },
        )
    };
    // Plain, serialized, plain again: the plain figure is the mean of two
    // runs around the serialized one (the machine's load shifts).
    let a = run(false)?;
    let ser = run(true)?;
    let b = run(false)?;
    let plain = (a.seconds + b.seconds) / 2.0 / f64::from(cycles) * 1e6;
    let serialized = ser.seconds / f64::from(cycles) * 1e6;
    let p = SerializePoint {
        keys,
        cycles,
        state_bytes_per_cycle: ser.state_bytes_per_cycle.unwrap_or(0.0),
        us_per_cycle_plain: plain,
        us_per_cycle_serialized: serialized,
        slowdown: serialized / plain,
        command: command(&s, &format!(" --prefill-keys {keys} --serialize-state")),
    };
    progress(&format!(
        "serialize-state, {keys} keys: {:.0} bytes/cycle, {:.1} µs/cycle vs {:.1} plain ({:.1}×)",
        p.state_bytes_per_cycle, p.us_per_cycle_serialized, p.us_per_cycle_plain, p.slowdown
    ));
    Ok(p)
}

/// Runs both measurements.
pub fn scaling(opts: &ScalingOptions, progress: &mut dyn FnMut(&str)) -> Result<Scaling, RunError> {
    let configs: [(Kind, Option<Protocol>, &str); 4] = [
        (Kind::Sharded, None, "sharded S=2"),
        (Kind::Replicated, Some(Protocol::Seed), "replicated S=1 R=3 seed"),
        (Kind::Replicated, Some(Protocol::Owner), "replicated S=1 R=3 owner"),
        (Kind::Replicated, Some(Protocol::Fanout), "replicated S=1 R=3 fanout"),
    ];
    let mut bytes = Vec::new();
    for (kind, protocol, label) in configs {
        let mut points = Vec::new();
        for &c in &opts.clients {
            points.push(bytes_point(&spec(kind, protocol, c, opts.cycles))?);
        }
        let (first, last) = (points[0].clone(), points[points.len() - 1].clone());
        progress(&format!(
            "bytes, {label}: FE→server {:.1} → {:.1} bytes/cycle for {} → {} clients",
            first.fe_to_server, last.fe_to_server, first.clients, last.clients
        ));
        let curve = BytesCurve {
            label: label.to_string(),
            growth: last.fe_to_server / first.fe_to_server.max(1e-9),
            clients_ratio: last.clients as f64 / first.clients as f64,
            points,
        };
        bytes.push(curve);
    }
    let mut serialize = Vec::new();
    for &k in &opts.keys {
        serialize.push(serialize_point(k, progress)?);
    }
    let queues = match &opts.queues {
        Some(q) => Some(crate::bench::queues::queues(q, progress)?),
        None => None,
    };
    Ok(Scaling {
        queues,
        bytes,
        serialize,
        serialize_topology: spec(Kind::Replicated, Some(Protocol::Fanout), 16, 1).topology.label(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_grow_with_clients_and_serializing_costs_more_with_a_bigger_store() {
        let opts = ScalingOptions {
            clients: vec![2, 16],
            keys: vec![0, 5_000],
            cycles: 60,
            queues: None,
        };
        let s = scaling(&opts, &mut |_| {}).unwrap();
        assert_eq!(s.bytes.len(), 4);
        for c in &s.bytes {
            assert!(c.points[1].fe_to_server > 2.0 * c.points[0].fe_to_server, "{c:?}");
        }
        assert!(
            s.bytes[1].points.iter().all(|p| p.peer.is_some()),
            "seed replicas talk to their peers"
        );
        assert!(
            s.bytes[3].points.iter().all(|p| p.peer.is_none()),
            "fanout replicas do not"
        );
        assert!(
            s.bytes[0].points.iter().all(|p| p.peer.is_none()),
            "sharded has no replicas"
        );
        let (small, big) = (&s.serialize[0], &s.serialize[1]);
        assert!(
            big.state_bytes_per_cycle > 10.0 * small.state_bytes_per_cycle.max(1.0),
            "{s:?}"
        );
        assert!(big.command.contains("--prefill-keys 5000 --serialize-state"));
    }
}

/// One point of a growth table.
#[derive(Clone, Debug, Serialize)]
pub struct GrowthPoint {
    /// What varies, and its value.
    pub varies: &'static str,
    pub value: usize,
    pub command: String,
    /// Checker: unique states and states/s; runtime: cycles/s, ops/s.
    pub unique_states: Option<usize>,
    pub seconds: f64,
    pub per_s: f64,
    pub ops_per_s: Option<f64>,
    pub us_per_cycle: Option<f64>,
}

/// How cost grows with clients, shards, replicas and cycles: the checker on
/// small configurations (one dimension varied from `replicated C=2 S=1 R=3
/// fanout K=1 O=1 ops=get,put`, failure-free), and the runtime (from
/// `replicated C=64 S=1 R=3 fanout`, 100,000 keys, about 250,000 operations
/// per run).
#[derive(Clone, Debug, Serialize)]
pub struct Growth {
    pub checker: Vec<GrowthPoint>,
    pub runtime: Vec<GrowthPoint>,
}

pub fn growth(threads: usize, progress: &mut dyn FnMut(&str)) -> Result<Growth, RunError> {
    use tidekv_model::checker::runner::{check, RunOptions};
    use tidekv_model::model::{ModelConfig, OpKind as ModelOp};
    let base = || {
        let mut c = ModelConfig::new(Kind::Replicated);
        c.topology.clients = 2;
        c.topology.replicas = 3;
        c.topology.protocol = Protocol::Fanout;
        c.keys = 1;
        c.ops = vec![ModelOp::Get, ModelOp::Put];
        c.ops_per_client = 1;
        c
    };
    let mut configs: Vec<(&'static str, usize, ModelConfig)> = Vec::new();
    for n in 1..=3 {
        let mut c = base();
        c.topology.clients = n;
        configs.push(("clients", n, c));
    }
    for n in 1..=4 {
        let mut c = base();
        c.topology.replicas = n;
        configs.push(("replicas", n, c));
    }
    for n in 1..=3 {
        let mut c = base();
        c.topology.shards = n;
        c.topology.replicas = 1;
        c.keys = n as u32;
        configs.push(("shards (R=1, K=S)", n, c));
    }
    for n in 1..=3 {
        let mut c = base();
        c.ops_per_client = n as u32;
        configs.push(("ops per client (cycles 4·O+2)", n, c));
    }
    let opts = RunOptions {
        threads,
        bfs: false,
        symmetry: tidekv_model::model::Reduction::NONE,
        progress: false,
    };
    let mut checker = Vec::new();
    for (varies, value, mut c) in configs {
        c.cycles = c.ops_per_client * c.topology.latency_cycles() + 2;
        let r = check(&c, &opts).map_err(|e| RunError::Spec(tidekv::runtime::SpecError(e.0)))?;
        progress(&format!(
            "growth, checker, {varies} = {value}: {} unique states, {:.2}s",
            r.unique_states, r.seconds
        ));
        checker.push(GrowthPoint {
            varies,
            value,
            command: format!("tidekv check {} --threads {threads}", c.flags()),
            unique_states: Some(r.unique_states),
            seconds: r.seconds,
            per_s: r.unique_states as f64 / r.seconds.max(1e-9),
            ops_per_s: None,
            us_per_cycle: None,
        });
    }
    let mut runs: Vec<(&'static str, usize, RunSpec)> = Vec::new();
    let rt = |clients: usize, shards: usize, replicas: usize| {
        // About 250,000 operations per run, whatever the clients.
        let cycles = (1_000_000 / clients as u32).clamp(2_000, 50_000);
        let mut s = spec(Kind::Replicated, Some(Protocol::Fanout), clients, cycles);
        s.topology.shards = shards;
        s.topology.replicas = replicas;
        s.workload.keys = 100_000;
        s
    };
    for n in [16, 64, 256, 1024] {
        runs.push(("clients", n, rt(n, 1, 3)));
    }
    for n in [1, 2, 4, 8] {
        runs.push(("shards", n, rt(64, n, 3)));
    }
    for n in [1, 3, 5] {
        runs.push(("replicas", n, rt(64, 1, n)));
    }
    let mut runtime = Vec::new();
    for (varies, value, s) in runs {
        let r = inproc::run(&s, InprocOptions::default())?;
        let us = r.seconds / f64::from(s.cycles) * 1e6;
        progress(&format!(
            "growth, runtime, {varies} = {value}: {:.0} ops/s, {us:.1} µs/cycle",
            r.ops_per_sec()
        ));
        runtime.push(GrowthPoint {
            varies,
            value,
            command: command(&s, ""),
            unique_states: None,
            seconds: r.seconds,
            per_s: r.cycles_per_sec(),
            ops_per_s: Some(r.ops_per_sec()),
            us_per_cycle: Some(us),
        });
    }
    Ok(Growth { checker, runtime })
}
