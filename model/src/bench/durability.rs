//! `tidekv bench --only durability`: what durability costs. The same
//! in-process run (replicated, 1 shard × 3 replicas, fanout, recovery
//! configured) with `--persist none`, `async` and `sync`, alternating, each
//! `repeats` times; the medians of the operations per second are reported
//! as ratios to `none`'s, measured in the same command (the machine's
//! noise is shared). `sync` and `async` both commit one redb transaction
//! per cycle with the writes of every replica (fsync'd): `async` commits the
//! state one cycle older, not less often (see `runtime::durable`).

use serde::Serialize;
use tidekv::node::recovery::{Persist, RecoveryConfig};
use tidekv::node::Protocol;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::{RunError, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};

/// One persistence mode's medians.
#[derive(Clone, Debug, Serialize)]
pub struct DurabilityPoint {
    pub persist: String,
    pub ops_per_s: f64,
    pub cycles_per_s: f64,
    /// Commits per cycle (0 for `none`).
    pub commits_per_cycle: f64,
    /// This mode's ops/s over `none`'s.
    pub ratio_to_none: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DurabilityBench {
    pub topology: String,
    pub cycles: u32,
    pub repeats: usize,
    pub points: Vec<DurabilityPoint>,
}

/// The run measured: 16 clients over 1,000 keys, 50% writes (get, put).
pub fn spec(persist: Persist, cycles: u32) -> RunSpec {
    let mut topology = TopologyConfig::new(Kind::Replicated, 16);
    topology.replicas = 3;
    topology.protocol = Protocol::Fanout;
    topology.recovery = Some(RecoveryConfig {
        persist,
        transfer_keys: 1,
        keys_max: 1000,
    });
    crate::bench::get_put(topology, cycles)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the comparison.
pub fn durability_bench(
    cycles: u32,
    repeats: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<DurabilityBench, RunError> {
    let mut samples: Vec<(Vec<f64>, Vec<f64>, u64)> = vec![(Vec::new(), Vec::new(), 0); 3];
    for round in 0..repeats {
        for (i, persist) in [Persist::None, Persist::Async, Persist::Sync].into_iter().enumerate() {
            let r = inproc::run(&spec(persist, cycles), InprocOptions::default())?;
            progress(&format!(
                "durability {} round {}: {:.0} ops/s",
                persist.name(),
                round + 1,
                r.ops_per_sec()
            ));
            samples[i].0.push(r.ops_per_sec());
            samples[i].1.push(r.cycles_per_sec());
            samples[i].2 = r.commits;
        }
    }
    let base = median(samples[0].0.clone());
    let points = [Persist::None, Persist::Async, Persist::Sync]
        .into_iter()
        .zip(samples)
        .map(|(p, (ops, cyc, commits))| {
            let ops = median(ops);
            DurabilityPoint {
                persist: p.name().into(),
                ops_per_s: ops,
                cycles_per_s: median(cyc),
                commits_per_cycle: commits as f64 / f64::from(cycles),
                ratio_to_none: ops / base,
            }
        })
        .collect();
    Ok(DurabilityBench {
        topology: spec(Persist::None, cycles).topology.label(),
        cycles,
        repeats,
        points,
    })
}
