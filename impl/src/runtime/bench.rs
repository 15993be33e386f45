//! The runtime's side of `tidekv bench`: the in-process engine against a
//! plain `HashMap` applying the same operations, in the same process.
//!
//! The baseline is what a key-value store costs with no distribution at all:
//! one `std::collections::HashMap` (the default hasher), one thread, applying
//! the very operations the run's clients issued, in one client-interleaved
//! order, with the store's semantics ([`crate::node::server::execute`]'s, on
//! a `HashMap`). Its values are built before the clock starts; the runtime's
//! clients build theirs while it runs. The physical limit of the ratio on a
//! replicated topology with write ratio `w` and `R` replicas is
//! `1 / (1 - w + w·R)` (every write is applied `R` times): 0.5 for the
//! default `w = 0.5`, `R = 3`.
//!
//! The runtime side runs without the frame-size sampling of `tidekv run`
//! (instrumentation, about 2% of its instructions).
//!
//! Runs alternate (runtime, baseline, runtime, …) and the reported figure is
//! the ratio of the medians, so that a burst of load from another process
//! hits both sides.

use super::inproc::{self, InprocOptions};
use super::value::Value;
use super::{RunError, RunSpec};
use crate::node::client::ClientEvent;
use crate::node::{Key, Op, OpResult};
use serde::Serialize;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

/// The figures behind `runtime_vs_hashmap`.
#[derive(Clone, Debug, Serialize)]
pub struct RuntimeVsHashmap {
    pub topology: String,
    /// Threads of the in-process engine (2: servers on a second thread).
    pub threads: usize,
    pub workload: String,
    pub cycles: u32,
    /// Operations the runtime completed in one run (the baseline applies as many).
    pub ops: u64,
    pub repeats: usize,
    /// Median over the repeats.
    pub runtime_ops_per_s: f64,
    pub hashmap_ops_per_s: f64,
    /// Every repeat, in run order.
    pub runtime_seconds: Vec<f64>,
    pub hashmap_seconds: Vec<f64>,
    /// `runtime_ops_per_s / hashmap_ops_per_s`.
    pub ratio: f64,
    /// `1 / (1 - w + w·R)`: every write applied at `R` replicas.
    pub physical_limit: f64,
}

/// The operations the clients of `spec` issue, `total` of them, interleaved
/// one per client in turn (each client's own order kept).
pub fn op_stream(spec: &RunSpec, total: u64) -> Result<Vec<Op<Value>>, RunError> {
    let topo = spec.build()?;
    let mut drivers = inproc::drivers(spec, &topo);
    let done = ClientEvent::Return {
        tag: 0,
        result: OpResult::Ok,
    };
    let mut ops = Vec::with_capacity(total as usize);
    let mut cycle = 0;
    while (ops.len() as u64) < total {
        for d in drivers.iter_mut() {
            if (ops.len() as u64) == total {
                break;
            }
            ops.push(
                d.poll(cycle, true)
                    .expect("an idle client without think time starts an operation"),
            );
            d.observe(cycle, &done);
        }
        cycle += 1;
    }
    Ok(ops)
}

/// Applies `ops` to a fresh `HashMap` with the store's semantics; returns the
/// seconds it took.
pub fn hashmap_apply(ops: &[Op<Value>]) -> f64 {
    let mut map: HashMap<Key, Value> = HashMap::new();
    let start = Instant::now();
    for op in ops {
        let result = match op {
            Op::Get(k) => OpResult::Value(map.get(k).cloned()),
            Op::Put(k, v) => {
                map.insert(*k, v.clone());
                OpResult::Ok
            }
            Op::Delete(k) => {
                map.remove(k);
                OpResult::Ok
            }
            Op::Insert(k, v) => match map.entry(*k) {
                std::collections::hash_map::Entry::Occupied(_) => OpResult::Exists,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v.clone());
                    OpResult::Ok
                }
            },
            Op::Modify(k, v) => match map.get_mut(k) {
                Some(old) => OpResult::Modified(std::mem::replace(old, v.clone())),
                None => OpResult::Absent,
            },
        };
        black_box(result);
    }
    let seconds = start.elapsed().as_secs_f64();
    black_box(map);
    seconds
}

/// Runs `spec` on the in-process engine and the baseline `repeats` times
/// each, alternating. `progress` hears one line per run.
pub fn runtime_vs_hashmap(
    spec: &RunSpec,
    repeats: usize,
    threads: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<RuntimeVsHashmap, RunError> {
    assert!(repeats >= 1);
    let mut runtime_seconds = Vec::new();
    let mut hashmap_seconds = Vec::new();
    let mut ops = 0;
    let mut stream = Vec::new();
    for i in 0..repeats {
        let report = inproc::run(
            spec,
            InprocOptions {
                threads,
                // The bench times the engine, not its instrumentation: no
                // cycle of a run this short is sampled for frame sizes.
                bytes_sample_every: u32::MAX,
                ..InprocOptions::default()
            },
        )?;
        if i == 0 {
            ops = report.stats.completed();
            stream = op_stream(spec, ops)?;
        }
        runtime_seconds.push(report.seconds);
        let h = hashmap_apply(&stream);
        hashmap_seconds.push(h);
        progress(&format!(
            "runtime vs HashMap {}/{repeats}: {:.0} vs {:.0} ops/s",
            i + 1,
            ops as f64 / report.seconds,
            ops as f64 / h
        ));
    }
    let w = spec.workload.write_ratio;
    let r = match spec.topology.kind {
        crate::topology::Kind::Replicated => spec.topology.replicas as f64,
        _ => 1.0,
    };
    let runtime_ops_per_s = ops as f64 / median(&runtime_seconds);
    let hashmap_ops_per_s = ops as f64 / median(&hashmap_seconds);
    Ok(RuntimeVsHashmap {
        topology: spec.topology.label(),
        threads,
        workload: spec.workload_label(),
        cycles: spec.cycles,
        ops,
        repeats,
        runtime_ops_per_s,
        hashmap_ops_per_s,
        runtime_seconds,
        hashmap_seconds,
        ratio: runtime_ops_per_s / hashmap_ops_per_s,
        physical_limit: 1.0 / (1.0 - w + w * r),
    })
}

/// The baseline of the UDP engine's cycle rate: two threads on loopback
/// sockets passing one small datagram back and forth, `round_trips` times.
/// A cycle of the UDP engine needs at least one datagram hop between
/// neighbours (each node waits for all its inputs), so one hop is a lower
/// bound on a cycle's time: the figure returned is hops per second (twice
/// the round trips per second), an upper bound on cycles per second.
pub fn udp_pingpong_hops_per_s(round_trips: u32) -> std::io::Result<f64> {
    use std::net::UdpSocket;
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    let timeout = Some(std::time::Duration::from_secs(5));
    a.set_read_timeout(timeout)?;
    b.set_read_timeout(timeout)?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buf = [0u8; 64];
        for _ in 0..round_trips {
            let n = b.recv(&mut buf)?;
            b.send(&buf[..n])?;
        }
        Ok(())
    });
    let mut buf = [0u8; 64];
    let start = Instant::now();
    for i in 0..round_trips {
        a.send(&i.to_le_bytes())?;
        a.recv(&mut buf)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    echo.join().expect("the echo thread does not panic")?;
    Ok(2.0 * f64::from(round_trips) / seconds)
}

/// The median of a non-empty list.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::workload::WorkloadSpec;
    use crate::topology::{Kind, TopologyConfig};

    fn spec() -> RunSpec {
        RunSpec {
            topology: TopologyConfig::new(Kind::Replicated, 4),
            workload: WorkloadSpec::default(),
            seed: 3,
            cycles: 400,
            crashes: vec![],
        }
    }

    #[test]
    fn the_stream_is_the_clients_operations() {
        let s = spec();
        let ops = op_stream(&s, 10).unwrap();
        assert_eq!(ops.len(), 10);
        // Client 0's first and second operations come first and fifth.
        let topo = s.build().unwrap();
        let mut d = crate::runtime::workload::ClientDriver::new(&s.workload, s.seed, 0, &topo.nodes[0].name);
        assert_eq!(Some(ops[0].clone()), d.poll(0, true));
        assert_eq!(Some(ops[4].clone()), d.poll(1, true));
    }

    #[test]
    fn the_bench_reports_the_same_operation_count_on_both_sides() {
        let r = runtime_vs_hashmap(&spec(), 2, 1, &mut |_| {}).unwrap();
        assert_eq!(r.runtime_seconds.len(), 2);
        assert!(r.ops > 300, "{r:?}");
        assert!((r.physical_limit - 0.5).abs() < 1e-9);
        assert!(r.ratio > 0.0 && r.ratio.is_finite());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn loopback_pingpong_measures_a_rate() {
        let r = udp_pingpong_hops_per_s(200).unwrap();
        assert!(r.is_finite() && r > 0.0, "{r}");
    }
}
