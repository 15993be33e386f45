//! Bounded frames (`--slots K --queue Q`, issue 20) measured by
//! `tidekv bench --only scaling`:
//!
//! - **Bytes per FE↔server link per cycle, and server step time, against
//!   the number of clients** (1 … 1024), with and without `--slots 4
//!   --queue 8` (Q = 2K: with Q = K the clients that were answered busy
//!   retry in phase and half the slot-cycles go unused; see
//!   docs/QUEUES.md).
//!   Without it a frame between the root FE and a server has one slot per
//!   client and a server may be sent every client's request in one cycle;
//!   with it the frame has K slots and a server serves at most K requests
//!   per cycle. Bytes: every frame on those links, as encoded on the wire
//!   (`wire::frame_bytes_on`). Server step time: the time the servers' step
//!   functions take in a cycle (per server; the mean over the cycles but
//!   the slowest 1%, which a preemption lands in), measured around them
//!   alone (a copy of the
//!   in-process engine's loop that steps the clients and FEs, then the
//!   servers, with the clock read around the second part; the same run as
//!   `tidekv run`: the test below checks its statistics against the
//!   engine's). Reported relative to the first point (1 client, no
//!   `--slots`): the machine is shared and noisy, absolute times are not
//!   claims.
//! - **Latency against offered load** at fixed K and Q, uniform and zipf
//!   keys over four shards: clients with think time, the offered load being
//!   `clients ÷ (think + base latency)` requests per cycle (what the clients
//!   would send if nothing queued), against a capacity of K per shard per
//!   cycle. p50 and p99 of the answered operations (busy answers apart:
//!   they take exactly the round trip to the root FE), and the share
//!   answered busy. Zipf puts the hot keys on one shard, whose queue fills
//!   first.

use serde::Serialize;
use std::time::Instant;
use tidekv::cluster::{step_nodes, Cluster, CycleInputs, StepBuffers};
use tidekv::node::client::ClientEvent;
use tidekv::node::server::HashStore;
use tidekv::node::{ClientId, Protocol};
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::value::Value;
use tidekv::runtime::wire::frame_bytes_on;
use tidekv::runtime::workload::{Distribution, OpKind, WorkloadSpec};
use tidekv::runtime::{RunError, RunSpec};
use tidekv::topology::{Kind, Role, TopologyConfig};

/// K of both curves.
pub const SLOTS: usize = 4;
/// Q of the latency curve (a request waits at most ⌊(Q − 1) / K⌋ = 7 cycles).
pub const QUEUE: usize = 32;
/// Think cycles of the latency curve's clients.
pub const THINK: u32 = 4;

/// One point of the bytes and server-time curve.
#[derive(Clone, Debug, Serialize)]
pub struct ClientsPoint {
    pub clients: usize,
    /// `--slots K`, or 0 without.
    pub slots: usize,
    /// Mean wire bytes per frame on a link between the root FE and a
    /// server, both ways.
    pub fe_server_bytes: f64,
    /// Mean full slots per such frame.
    pub fe_server_slots: f64,
    /// Nanoseconds the servers' steps took in a cycle, per server (the
    /// mean over the cycles but the slowest 1%).
    pub server_ns_per_cycle: f64,
    /// `server_ns_per_cycle` ÷ that of the first point (1 client, no
    /// `--slots`).
    pub server_time_ratio: f64,
    /// Operations answered per cycle (busy ones included).
    pub ops_per_cycle: f64,
    pub busy: u64,
    pub command: String,
}

/// One point of the latency curve.
#[derive(Clone, Debug, Serialize)]
pub struct LoadPoint {
    pub distribution: String,
    pub clients: usize,
    /// `clients ÷ (think + base latency)`, requests per cycle.
    pub offered: f64,
    /// Answered (not busy) per cycle.
    pub served_per_cycle: f64,
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
    /// Busy answers ÷ answers.
    pub busy_share: f64,
    /// The most requests waiting for one shard after a cycle.
    pub queue_max: u64,
    /// The mean requests waiting after a cycle, of the shard with the most.
    pub queue_mean_max: f64,
    pub command: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Queues {
    /// The bytes/server-time curve's topology and workload.
    pub clients_topology: String,
    pub clients: Vec<ClientsPoint>,
    /// The latency curve's topology (K, Q) and workload.
    pub load_topology: String,
    /// Capacity: K × shards requests per cycle.
    pub capacity: f64,
    pub load: Vec<LoadPoint>,
}

/// What [`queues`] measures over.
#[derive(Clone, Debug)]
pub struct QueuesOptions {
    pub clients: Vec<usize>,
    /// Cycles of each bytes/server-time run.
    pub cycles: u32,
    pub load_clients: Vec<usize>,
    pub load_cycles: u32,
}

impl Default for QueuesOptions {
    fn default() -> Self {
        QueuesOptions {
            clients: vec![1, 4, 16, 64, 256, 1024],
            cycles: 1000,
            load_clients: vec![8, 16, 32, 64, 96, 112, 128, 160, 192, 256, 384, 512],
            load_cycles: 4000,
        }
    }
}

fn clients_spec(clients: usize, slots: usize, cycles: u32) -> RunSpec {
    let mut t = TopologyConfig::new(Kind::Replicated, clients);
    t.shards = 1;
    t.replicas = 3;
    t.protocol = Protocol::Fanout;
    t.slots = slots;
    t.queue = 2 * slots;
    crate::bench::get_put(t, cycles)
}

fn load_spec(clients: usize, distribution: Distribution, cycles: u32) -> RunSpec {
    let mut t = TopologyConfig::new(Kind::Sharded, clients);
    t.shards = 4;
    t.slots = SLOTS;
    t.queue = QUEUE;
    RunSpec {
        topology: t,
        workload: WorkloadSpec {
            keys: 1000,
            write_ratio: 0.5,
            ops: vec![OpKind::Get, OpKind::Put],
            distribution,
            think_cycles: THINK,
            ..WorkloadSpec::default()
        },
        seed: 1,
        cycles,
        crashes: vec![],
    }
}

/// The `tidekv run` command of a spec.
pub fn command(s: &RunSpec) -> String {
    let t = &s.topology;
    let w = &s.workload;
    let mut c = format!(
        "tidekv run --topology {} --clients {} --shards {}",
        t.kind, t.clients, t.shards
    );
    if t.kind == Kind::Replicated {
        c += &format!(" --replicas {} --protocol {}", t.replicas, t.protocol);
    }
    if t.slots > 0 {
        c += &format!(" --slots {} --queue {}", t.slots, t.queue);
    }
    c += &format!(
        " --keys {} --ops get,put --write-ratio {} --distribution {}",
        w.keys, w.write_ratio, w.distribution
    );
    if w.think_cycles > 0 {
        c += &format!(" --think-cycles {}", w.think_cycles);
    }
    c + &format!(" --seed {} --cycles {} --bytes-sample-every 1 --json", s.seed, s.cycles)
}

/// What [`timed_run`] measured.
pub struct Timed {
    pub fe_server_bytes: f64,
    pub fe_server_slots: f64,
    pub server_ns_per_cycle: f64,
    pub completed: u64,
    pub busy: u64,
}

/// The in-process engine's loop (no crashes, no history), with the servers
/// stepped after the clients and FEs and timed alone, and every frame
/// between the root FE and a server measured.
pub fn timed_run(spec: &RunSpec) -> Result<Timed, RunError> {
    let topo = spec.build()?;
    let clients = topo.clients();
    let mut cluster = Cluster::<Value, HashStore<Value>>::new(&topo);
    let mut drivers = inproc::drivers(spec, &topo);
    let mut choosers = inproc::choosers(spec, &topo);
    let first_server = topo.servers().next().expect("a topology has servers");
    let servers = topo.nodes.len() - first_server;
    let measured: Vec<usize> = (0..topo.links.len())
        .filter(|&l| {
            let (a, b) = (&topo.nodes[topo.links[l].from].role, &topo.nodes[topo.links[l].to].role);
            matches!(
                (a, b),
                (Role::Fe { .. }, Role::Server { .. }) | (Role::Server { .. }, Role::Fe { .. })
            )
        })
        .collect();
    let mut inputs = CycleInputs {
        ops: vec![None; clients],
        crashes: Vec::new(),
    };
    let mut events: Vec<(ClientId, ClientEvent<Value>)> = Vec::new();
    let mut bufs = StepBuffers::with_links(topo.links.len());
    let (mut bytes, mut slots, mut frames) = (0u64, 0u64, 0u64);
    let (mut completed, mut busy) = (0u64, 0u64);
    let mut server_ns: Vec<u64> = Vec::with_capacity(spec.cycles as usize);
    for cycle in 0..spec.cycles {
        for (c, driver) in drivers.iter_mut().enumerate() {
            let idle = cluster.will_be_idle(&topo, c);
            inputs.ops[c] = driver.poll(cycle, idle);
        }
        let mut choose = |fe: usize, _client: ClientId, candidates: &[usize]| {
            let stream = choosers[fe].as_mut().expect("only FEs make replica choices");
            stream.below(candidates.len() as u64) as usize
        };
        let Cluster {
            nodes,
            inbox,
            cycle: at,
            ..
        } = &mut cluster;
        let (front, back) = nodes.split_at_mut(first_server);
        step_nodes(front, 0, &topo, inbox, &inputs, &mut choose, &mut events, &mut bufs);
        let start = Instant::now();
        step_nodes(
            back,
            first_server,
            &topo,
            inbox,
            &inputs,
            &mut choose,
            &mut events,
            &mut bufs,
        );
        server_ns.push(start.elapsed().as_nanos() as u64);
        std::mem::swap(inbox, bufs.spare_mut());
        *at += 1;
        for &l in &measured {
            if let Some(f) = &cluster.inbox[l] {
                bytes += frame_bytes_on(f, &topo.links[l]) as u64;
                slots += f.used_slots() as u64;
                frames += 1;
            }
        }
        for (c, ev) in events.drain(..) {
            if let ClientEvent::Return { result, .. } = &ev {
                completed += 1;
                busy += u64::from(*result == tidekv::node::OpResult::Busy);
            }
            drivers[c].observe(cycle, &ev);
        }
    }
    let per = |x: u64| x as f64 / frames.max(1) as f64;
    Ok(Timed {
        fe_server_bytes: per(bytes),
        fe_server_slots: per(slots),
        server_ns_per_cycle: trimmed_mean(&mut server_ns) / servers as f64,
        completed,
        busy,
    })
}

/// The mean of `xs` without its largest 1% (0 for none): the cycles in
/// which the process was preempted do not count, and the load of the
/// others does (a median would pick one side of a run whose cycles
/// alternate between busy and idle).
fn trimmed_mean(xs: &mut [u64]) -> f64 {
    xs.sort_unstable();
    let kept = &xs[..xs.len() - xs.len() / 100];
    if kept.is_empty() {
        return 0.0;
    }
    kept.iter().sum::<u64>() as f64 / kept.len() as f64
}

/// Both curves.
pub fn queues(opts: &QueuesOptions, progress: &mut dyn FnMut(&str)) -> Result<Queues, RunError> {
    let mut clients = Vec::new();
    let mut base = None;
    for slots in [0, SLOTS] {
        for &c in &opts.clients {
            let s = clients_spec(c, slots, opts.cycles);
            let t = timed_run(&s)?;
            let base = *base.get_or_insert(t.server_ns_per_cycle);
            let p = ClientsPoint {
                clients: c,
                slots,
                fe_server_bytes: t.fe_server_bytes,
                fe_server_slots: t.fe_server_slots,
                server_ns_per_cycle: t.server_ns_per_cycle,
                server_time_ratio: t.server_ns_per_cycle / base.max(1e-9),
                ops_per_cycle: t.completed as f64 / f64::from(opts.cycles),
                busy: t.busy,
                command: command(&s),
            };
            progress(&format!(
                "queues, {c} clients, slots {slots}: {:.1} bytes per FE↔server frame, {:.2} full slots, server step {:.2}× the first point",
                p.fe_server_bytes, p.fe_server_slots, p.server_time_ratio
            ));
            clients.push(p);
        }
    }
    let mut load = Vec::new();
    let base_latency = load_spec(1, Distribution::Uniform, 1).topology.latency_cycles();
    for distribution in [Distribution::Uniform, Distribution::Zipf(1.0)] {
        for &c in &opts.load_clients {
            let s = load_spec(c, distribution, opts.load_cycles);
            let r = inproc::run(&s, InprocOptions::default())?;
            let st = &r.stats;
            let answered: u64 = st.latency.values().sum();
            let p = LoadPoint {
                distribution: distribution.to_string(),
                clients: c,
                offered: c as f64 / f64::from(THINK + base_latency),
                served_per_cycle: answered as f64 / f64::from(s.cycles),
                p50: st.latency_quantile(0.5).unwrap_or(0),
                p99: st.latency_quantile(0.99).unwrap_or(0),
                max: st.latency.keys().next_back().copied().unwrap_or(0),
                busy_share: st.busy as f64 / st.completed().max(1) as f64,
                queue_max: r
                    .queues
                    .as_ref()
                    .map_or(0, |q| q.max.iter().copied().max().unwrap_or(0)),
                queue_mean_max: r
                    .queues
                    .as_ref()
                    .map_or(0.0, |q| q.mean().into_iter().fold(0.0, f64::max)),
                command: command(&s),
            };
            progress(&format!(
                "queues, {distribution}, {c} clients (offered {:.2}/cycle): p50 {} p99 {} max {}, busy {:.3}, hottest queue mean {:.1}",
                p.offered, p.p50, p.p99, p.max, p.busy_share, p.queue_mean_max
            ));
            load.push(p);
        }
    }
    let cs = clients_spec(1, SLOTS, 1);
    let ls = load_spec(1, Distribution::Uniform, 1);
    Ok(Queues {
        clients_topology: format!(
            "{} (and without --slots), keys {}, ops get,put, write ratio 0.5, no think time, seed 1",
            cs.topology.label().replace("C=1 ", ""),
            cs.workload.keys
        ),
        clients,
        load_topology: format!(
            "{}, keys {}, ops get,put, write ratio 0.5, think {THINK} cycles, seed 1",
            ls.topology.label().replace("C=1 ", ""),
            ls.workload.keys
        ),
        capacity: (SLOTS * ls.topology.shards) as f64,
        load,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's loop is the engine's run: the same answers and busy
    /// count as `inproc::run`, and the same bytes on the FE↔server links.
    #[test]
    fn the_timed_loop_is_the_engines_run() {
        for slots in [0, 2] {
            let s = clients_spec(12, slots, 200);
            let t = timed_run(&s).unwrap();
            let r = inproc::run(
                &s,
                InprocOptions {
                    bytes_sample_every: 1,
                    ..InprocOptions::default()
                },
            )
            .unwrap();
            assert_eq!(t.completed, r.stats.completed(), "slots {slots}");
            assert_eq!(t.busy, r.stats.busy, "slots {slots}");
            let b = r.fe_server_bytes().unwrap();
            assert!((t.fe_server_bytes - b).abs() < 1e-9, "{} vs {b}", t.fe_server_bytes);
        }
    }

    #[test]
    fn slots_flatten_the_bytes_and_zipf_queues_first() {
        let opts = QueuesOptions {
            clients: vec![1, 64, 256],
            cycles: 100,
            load_clients: vec![8, 192],
            load_cycles: 1000,
        };
        let q = queues(&opts, &mut |_| {}).unwrap();
        let bytes = |slots: usize, c: usize| {
            q.clients
                .iter()
                .find(|p| p.slots == slots && p.clients == c)
                .unwrap()
                .fe_server_bytes
        };
        assert!(bytes(0, 256) > 3.0 * bytes(0, 64), "dense frames grow");
        assert_eq!(bytes(SLOTS, 64), bytes(SLOTS, 256), "K-slot frames do not");
        let at = |d: &str, c: usize| q.load.iter().find(|p| p.distribution == d && p.clients == c).unwrap();
        assert_eq!(at("uniform", 8).busy_share, 0.0, "light load: no busy answer");
        assert!(at("zipf:1", 192).busy_share > at("uniform", 192).busy_share);
        assert!(at("uniform", 192).p99 > at("uniform", 8).p99);
        assert!(at("zipf:1", 192).queue_mean_max > at("uniform", 192).queue_mean_max);
    }
}
