//! Micro-benchmarks of the node step functions and of frame encoding, with
//! the baselines to read them against in the same run:
//!
//! - `cycle`: one lockstep cycle of a whole cluster (`Cluster::step_with`:
//!   every client, the FE and the servers), 1 shard × 3 replicas (fanout),
//!   in steady state with every idle client starting an operation (50%
//!   writes). `hashmap_ops` applies as many operations as such a cycle
//!   completes (clients ÷ latency) to a `HashMap` (same key range, same
//!   mix): the store work alone, without distribution.
//! - `encode` / `decode`: one FE→server frame of `clients` slots, a quarter of
//!   them carrying a request (the steady state above), on the wire format.
//!
//! `cargo bench -p tidekv --bench node_step` (divan; `-- --sample-count N`).

use std::collections::HashMap;
use std::hint::black_box;
use tidekv::cluster::{Cluster, CycleInputs, StepBuffers};
use tidekv::node::server::HashStore;
use tidekv::node::{Frame, Op, Request};
use tidekv::runtime::value::Value;
use tidekv::runtime::wire::{decode_frame, encode, Header};
use tidekv::topology::{Kind, Topology, TopologyConfig};

fn main() {
    divan::main();
}

const CLIENTS: &[usize] = &[16, 256];

/// A tiny deterministic generator (the benchmark's own "random" choices).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

struct Running {
    topo: Topology,
    cluster: Cluster<Value, HashStore<Value>>,
    bufs: StepBuffers<Value, HashStore<Value>>,
    inputs: CycleInputs<Value>,
    events: Vec<(usize, tidekv::node::client::ClientEvent<Value>)>,
    rng: Lcg,
}

impl Running {
    fn new(clients: usize) -> Running {
        let mut config = TopologyConfig::new(Kind::Replicated, clients);
        config.shards = 1;
        config.replicas = 3;
        config.protocol = tidekv::node::Protocol::Fanout;
        let topo = Topology::new(config).unwrap();
        let cluster = Cluster::new(&topo);
        let mut r = Running {
            bufs: StepBuffers::with_links(topo.links.len()),
            inputs: CycleInputs {
                ops: vec![None; clients],
                crashes: vec![],
            },
            topo,
            cluster,
            events: Vec::new(),
            rng: Lcg(7),
        };
        for _ in 0..64 {
            r.cycle();
        }
        r
    }

    fn cycle(&mut self) {
        let Running {
            topo,
            cluster,
            bufs,
            inputs,
            events,
            rng,
        } = self;
        for c in 0..topo.clients() {
            inputs.ops[c] = cluster.will_be_idle(topo, c).then(|| {
                let k = rng.below(100_000) as u32;
                if rng.below(2) == 0 {
                    Op::Get(k)
                } else {
                    Op::Put(k, Value::new(rng.below(1 << 40), 8))
                }
            });
        }
        let mut choose = |_, _, c: &[usize]| c.len() - 1;
        cluster.step_with(topo, inputs, &mut choose, events, bufs);
        events.clear();
    }
}

#[divan::bench(args = CLIENTS)]
fn cycle(bencher: divan::Bencher, clients: usize) {
    let mut r = Running::new(clients);
    bencher.bench_local(|| r.cycle());
}

#[divan::bench(args = CLIENTS)]
fn hashmap_ops(bencher: divan::Bencher, clients: usize) {
    let latency = 4;
    let mut map: HashMap<u32, Value> = HashMap::new();
    let mut rng = Lcg(7);
    let value = Value::new(1, 8);
    bencher.bench_local(|| {
        for _ in 0..clients / latency {
            let k = rng.below(100_000) as u32;
            if rng.below(2) == 0 {
                black_box(map.get(&k));
            } else {
                black_box(map.insert(k, value.clone()));
            }
        }
    });
}

fn quarter_full_frame(clients: usize) -> Frame<Value> {
    Frame::Up(
        (0..clients)
            .map(|c| {
                (c % 4 == 0).then(|| Request {
                    tag: c as u32,
                    op: Op::Put(c as u32, Value::new(c as u64, 8)),
                    version: 0,
                })
            })
            .collect(),
    )
}

#[divan::bench(args = CLIENTS)]
fn encode_frame(bencher: divan::Bencher, clients: usize) {
    let frame = quarter_full_frame(clients);
    let mut buf = Vec::new();
    bencher.bench_local(|| encode(&mut buf, Header { from: 1, cycle: 9 }, black_box(&frame)).unwrap());
}

#[divan::bench(args = CLIENTS)]
fn decode(bencher: divan::Bencher, clients: usize) {
    let mut buf = Vec::new();
    encode(&mut buf, Header { from: 1, cycle: 9 }, &quarter_full_frame(clients)).unwrap();
    bencher.bench_local(|| decode_frame(black_box(&buf)).unwrap());
}
