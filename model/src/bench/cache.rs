//! `tidekv bench --only cache`: what a `lease` cache at the level-0 FEs
//! buys against zipf skew. Each point runs the same workload (same seed)
//! with and without the cache in the in-process engine and reports the hit
//! rate and the mean read latency of each, in cycles: the ratio is exact
//! (latencies are cycle counts, not times), so the machine's noise does not
//! enter it.

use serde::Serialize;
use tidekv::node::cache::{CacheConfig, CacheMode};
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::workload::{Distribution, OpKind, WorkloadSpec};
use tidekv::runtime::{RunError, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};

/// The skews measured (`--distribution zipf:S`), then uniform.
pub const SKEWS: [f64; 4] = [0.5, 0.8, 1.1, 1.4];

/// One point: a distribution, with and without the cache.
#[derive(Clone, Debug, Serialize)]
pub struct CachePoint {
    pub distribution: String,
    pub hit_rate: f64,
    /// Mean read latency (reads answered with a value), cycles.
    pub read_latency_cached: f64,
    pub read_latency_uncached: f64,
    /// cached / uncached: below 1 means the cache made reads faster.
    pub ratio: f64,
    pub ops_per_cycle_cached: f64,
    pub ops_per_cycle_uncached: f64,
}

/// The configuration measured: sharded, 2 shards, two FE levels (two
/// level-0 FEs), 8 clients over 100 keys, 10% writes (get and put); the
/// cache `lease` with 16 entries per FE and leases of 1,000 cycles.
#[derive(Clone, Debug, Serialize)]
pub struct CacheBench {
    pub topology: String,
    pub cache: String,
    pub cycles: u32,
    pub points: Vec<CachePoint>,
}

fn spec(distribution: Distribution, cycles: u32, cache: Option<CacheConfig>) -> RunSpec {
    let mut topology = TopologyConfig::new(Kind::Sharded, 8);
    topology.levels = 2;
    topology.cache = cache;
    RunSpec {
        topology,
        workload: WorkloadSpec {
            keys: 100,
            write_ratio: 0.1,
            ops: vec![OpKind::Get, OpKind::Put],
            distribution,
            ..WorkloadSpec::default()
        },
        seed: 1,
        cycles,
        crashes: vec![],
    }
}

/// Runs every point.
pub fn cache_bench(cycles: u32, progress: &mut dyn FnMut(&str)) -> Result<CacheBench, RunError> {
    let cache = CacheConfig {
        keys: 16,
        lease_cycles: 1000,
        ..CacheConfig::new(CacheMode::Lease)
    };
    let mut dists: Vec<Distribution> = SKEWS.iter().map(|&s| Distribution::Zipf(s)).collect();
    dists.push(Distribution::Uniform);
    let mut points = Vec::new();
    for d in dists {
        let with = inproc::run(&spec(d, cycles, Some(cache)), InprocOptions::default())?;
        let without = inproc::run(&spec(d, cycles, None), InprocOptions::default())?;
        let hit_rate = with.cache_hits().map_or(0.0, |(_, r)| r);
        let lat = |r: &tidekv::runtime::Report| r.stats.reads().1.unwrap_or(0.0);
        let (a, b) = (lat(&with), lat(&without));
        progress(&format!(
            "cache, {d}: hit rate {hit_rate:.3}, mean read latency {a:.3} cycles against {b:.3} without"
        ));
        points.push(CachePoint {
            distribution: d.to_string(),
            hit_rate,
            read_latency_cached: a,
            read_latency_uncached: b,
            ratio: if b > 0.0 { a / b } else { 0.0 },
            ops_per_cycle_cached: with.ops_per_cycle(),
            ops_per_cycle_uncached: without.ops_per_cycle(),
        });
    }
    Ok(CacheBench {
        topology: spec(Distribution::Uniform, cycles, Some(cache)).topology.label(),
        cache: cache.label(),
        cycles,
        points,
    })
}
