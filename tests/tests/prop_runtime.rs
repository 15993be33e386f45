//! Property-based tests of the runtime: random clusters, workloads and crash
//! schedules, executed by the in-process engine, their histories checked by
//! the same `checks` code as the model. What the checker proves for a
//! protocol within small bounds must hold on long random runs; what it
//! refutes, proptest must find and shrink too.
//!
//! `PROPTEST_CASES` raises the number of cases (default 24 per property).

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tidekv::history::{read_jsonl, History};
use tidekv::node::Protocol;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::workload::WorkloadSpec;
use tidekv::runtime::{CrashAt, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};

/// One random run.
#[derive(Clone, Debug)]
struct Case {
    shards: usize,
    replicas: usize,
    clients: usize,
    keys: u32,
    seed: u64,
    cycles: u32,
    /// (shard, replica, cycle): atomic crashes.
    crashes: Vec<(usize, usize, u32)>,
}

/// A `Write` the test keeps a handle to.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn history(protocol: Protocol, case: &Case) -> History<u64> {
    let mut topology = TopologyConfig::new(Kind::Replicated, case.clients);
    topology.shards = case.shards;
    topology.replicas = case.replicas;
    topology.protocol = protocol;
    let mut crashes: Vec<CrashAt> = Vec::new();
    for &(s, r, cycle) in &case.crashes {
        let node = format!("r{s}.{r}");
        if !crashes.iter().any(|c| c.node == node) {
            crashes.push(CrashAt { node, cycle });
        }
    }
    let spec = RunSpec {
        topology,
        workload: WorkloadSpec {
            keys: case.keys,
            ..WorkloadSpec::default()
        },
        seed: case.seed,
        cycles: case.cycles,
        crashes,
    };
    let buf = Buffer::default();
    let opts = InprocOptions {
        history: Some(Box::new(buf.clone())),
        ..InprocOptions::default()
    };
    inproc::run(&spec, opts).expect("a valid spec runs");
    let bytes = buf.0.lock().unwrap().clone();
    read_jsonl(&bytes[..]).expect("the runtime writes valid histories")
}

/// The checks the model proves for the protocol: `Err` names the violation.
fn verdict(protocol: Protocol, case: &Case) -> Result<(), String> {
    let h = history(protocol, case);
    tidekv_checks::linearizable(&h)?;
    tidekv_checks::no_stale_reads(&h)?;
    Ok(())
}

/// Clusters, workloads and crash schedules; `max_crashes(replicas)` bounds
/// the crashes per shard.
fn cases(max_crashes: fn(usize) -> usize) -> impl Strategy<Value = Case> {
    // Shrinking goes left to right: the cycles shrink before the seed.
    (1usize..=2, 2usize..=3, 2usize..=5, 1u32..=3, 20u32..=300, any::<u64>()).prop_flat_map(
        move |(shards, replicas, clients, keys, cycles, seed)| {
            let crash = (0..shards, 0..replicas, 0..cycles);
            let n = max_crashes(replicas) * shards;
            proptest::collection::vec(crash, 0..=n).prop_map(move |mut crashes| {
                // At most max_crashes per shard.
                let mut per = vec![0; shards];
                crashes.retain(|&(s, _, _)| {
                    per[s] += 1;
                    per[s] <= max_crashes(replicas)
                });
                Case {
                    shards,
                    replicas,
                    clients,
                    keys,
                    seed,
                    cycles,
                    crashes,
                }
            })
        },
    )
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24);
    ProptestConfig {
        cases,
        // Failing cases are saved next to this file and replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Proved by the checker: fanout, up to R−1 crashes per shard.
    #[test]
    fn fanout_with_r_minus_1_crashes_is_linearizable(case in cases(|r| r - 1)) {
        prop_assert_eq!(verdict(Protocol::Fanout, &case), Ok(()));
    }

    /// Proved by the checker: owner with atomic crashes (the runtime's
    /// `--crash` is atomic), up to R−1 per shard.
    #[test]
    fn owner_with_atomic_crashes_is_linearizable(case in cases(|r| r - 1)) {
        prop_assert_eq!(verdict(Protocol::Owner, &case), Ok(()));
    }
}

/// The checker refutes `seed` (finding F1: racing writes at two replicas);
/// proptest finds a failing run and shrinks it to a small one, without any
/// crash — as the checker's minimal counterexample has none.
#[test]
fn proptest_finds_and_shrinks_the_seed_race() {
    let config = Config {
        cases: 256,
        max_shrink_iters: 2048,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&cases(|r| r - 1), |case| {
        verdict(Protocol::Seed, &case).map_err(TestCaseError::fail)
    });
    match result {
        Err(TestError::Fail(why, minimal)) => {
            eprintln!("minimal failing case: {minimal:?}\n  {why}");
            // The workload is drawn from the seed, the client count and the
            // cycle count, so those shrink little; the structure shrinks to
            // its minimum: one shard of two replicas, one key, no crash.
            assert!(minimal.crashes.is_empty(), "the race needs no crash: {minimal:?}");
            assert_eq!(
                (minimal.shards, minimal.replicas, minimal.keys),
                (1, 2, 1),
                "{minimal:?}"
            );
        }
        other => panic!("proptest did not catch the seed protocol: {other:?}"),
    }
}

/// Beyond the budget the runtime loses data, as the checker says (all R
/// replicas of a shard dead): a later read misses an acknowledged write or
/// the run keeps answering `Unavailable`.
#[test]
fn all_replicas_of_a_shard_dead_is_caught() {
    let case = Case {
        shards: 1,
        replicas: 2,
        clients: 3,
        keys: 1,
        seed: 5,
        cycles: 200,
        crashes: vec![(0, 0, 50), (0, 1, 60)],
    };
    let h = history(Protocol::Fanout, &case);
    let unavailable = h
        .ops
        .iter()
        .filter(|o| {
            o.ret
                .as_ref()
                .is_some_and(|r| r.result == tidekv::node::OpResult::Unavailable)
        })
        .count();
    assert!(unavailable > 0, "with every replica dead the FE answers unavailable");
    assert_eq!(
        verdict(Protocol::Fanout, &case),
        Ok(()),
        "nothing is served, so nothing stale is read"
    );
}
