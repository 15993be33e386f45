//! Property-based tests of the runtime: random clusters, workloads and crash
//! schedules, executed by the in-process engine, their histories checked by
//! the same `checks` code as the model. What the checker proves for a
//! protocol within small bounds must hold on long random runs; what it
//! refutes, proptest must find and shrink too.
//!
//! Beyond the replicated runs with their linearizability and stale-read
//! checks, `every_topology_satisfies_what_the_checker_proves` draws single,
//! sharded and replicated clusters of every protocol with crashes within
//! the budget, and requires each history property the project expects to
//! hold there (`tidekv_model::expect`, the table the checker's verdicts are
//! held to) to hold on the run: linearizable, latency, available.
//!
//! `PROPTEST_CASES` raises the number of cases (default 24 per property).

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use tidekv::history::{read_jsonl, History};
use tidekv::node::Protocol;
use tidekv::runtime::inproc::{self, InprocOptions};
use tidekv::runtime::workload::WorkloadSpec;
use tidekv::runtime::{CrashAt, Report, RunSpec};
use tidekv::topology::{Kind, TopologyConfig};
use tidekv_tests::SharedBuffer;

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
    run_with_history(&spec).1
}

/// Runs `spec` on the in-process engine, keeping its history.
fn run_with_history(spec: &RunSpec) -> (Report, History<u64>) {
    let buf = SharedBuffer::default();
    let opts = InprocOptions {
        history: Some(Box::new(buf.clone())),
        ..InprocOptions::default()
    };
    let report = inproc::run(spec, opts).expect("a valid spec runs");
    let h = read_jsonl(&buf.bytes()[..]).expect("the runtime writes valid histories");
    (report, h)
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

/// A cluster of any topology: its crashes are `(node name, cycle)`.
#[derive(Clone, Debug)]
struct AnyCase {
    kind: Kind,
    protocol: Protocol,
    shards: usize,
    replicas: usize,
    clients: usize,
    keys: u32,
    seed: u64,
    cycles: u32,
    crashes: Vec<(String, u32)>,
}

impl AnyCase {
    fn spec(&self) -> RunSpec {
        let mut topology = TopologyConfig::new(self.kind, self.clients);
        topology.shards = self.shards;
        topology.replicas = self.replicas;
        if self.kind == Kind::Replicated {
            topology.protocol = self.protocol;
        }
        RunSpec {
            topology,
            workload: WorkloadSpec {
                keys: self.keys,
                ..WorkloadSpec::default()
            },
            seed: self.seed,
            cycles: self.cycles,
            crashes: self
                .crashes
                .iter()
                .map(|(node, cycle)| CrashAt {
                    node: node.clone(),
                    cycle: *cycle,
                })
                .collect(),
        }
    }

    /// The model configuration whose verdicts the run is held to.
    fn model(&self) -> tidekv_model::model::ModelConfig {
        let mut c = tidekv_model::model::ModelConfig::new(self.kind);
        c.topology = self.spec().topology;
        c.keys = self.keys.min(tidekv_model::model::KEYS_MAX);
        // Crashes per budget group: a shard (replicated) or all servers.
        let per_group = if self.kind == Kind::Replicated {
            (0..self.shards)
                .map(|s| {
                    self.crashes
                        .iter()
                        .filter(|(n, _)| n.starts_with(&format!("r{s}.")))
                        .count()
                })
                .max()
                .unwrap_or(0)
        } else {
            self.crashes.len()
        };
        c.crashes = per_group;
        c
    }
}

/// Every topology and protocol; crashes up to `budget(servers per group)`
/// per group (distinct nodes, atomic, at random cycles).
fn any_cases(budget: fn(usize) -> usize) -> impl Strategy<Value = AnyCase> {
    let kinds = prop_oneof![Just(Kind::Single), Just(Kind::Sharded), Just(Kind::Replicated)];
    let protocols = prop_oneof![Just(Protocol::Seed), Just(Protocol::Owner), Just(Protocol::Fanout)];
    (
        kinds,
        protocols,
        1usize..=2,
        2usize..=3,
        1usize..=4,
        1u32..=3,
        20u32..=200,
        any::<u64>(),
    )
        .prop_flat_map(move |(kind, protocol, shards, replicas, clients, keys, cycles, seed)| {
            let (shards, replicas) = match kind {
                Kind::Single => (1, 1),
                Kind::Sharded => (shards.max(2), 1),
                Kind::Replicated => (shards, replicas),
            };
            let nodes: Vec<(usize, String)> = (0..shards)
                .flat_map(|s| {
                    (0..replicas).map(move |r| {
                        let name = match kind {
                            Kind::Single => "server".to_string(),
                            Kind::Sharded => format!("s{s}"),
                            Kind::Replicated => format!("r{s}.{r}"),
                        };
                        (if kind == Kind::Replicated { s } else { 0 }, name)
                    })
                })
                .collect();
            let group_size = if kind == Kind::Replicated { replicas } else { shards };
            let picks = proptest::collection::vec((0..nodes.len(), 0..cycles), 0..=nodes.len());
            picks.prop_map(move |picks| {
                let mut crashes: Vec<(String, u32)> = Vec::new();
                let mut per = vec![0; shards];
                for (i, cycle) in picks {
                    let (group, name) = &nodes[i];
                    if crashes.iter().any(|(n, _)| n == name) || per[*group] >= budget(group_size) {
                        continue;
                    }
                    per[*group] += 1;
                    crashes.push((name.clone(), cycle));
                }
                AnyCase {
                    kind,
                    protocol,
                    shards,
                    replicas,
                    clients,
                    keys,
                    seed,
                    cycles,
                    crashes,
                }
            })
        })
}

/// The history properties of a run of `case` that the project expects to
/// hold for its configuration, each checked on the run's history: `Err`
/// names the first that fails.
fn expected_properties_hold(case: &AnyCase) -> Result<(), String> {
    use tidekv_checks::{Property, Verdict};
    use tidekv_model::checker::expect::expected;
    let spec = case.spec();
    let (report, h) = run_with_history(&spec);
    let crash_cycles: Vec<u32> = report.crashes.iter().map(|c| c.cycle).collect();
    let lat = spec.topology.latency();
    let model = case.model();
    let checks: [(Property, Result<(), String>); 3] = [
        (Property::Linearizable, tidekv_checks::linearizable(&h)),
        (
            Property::Latency,
            tidekv_checks::latency(&h, &crash_cycles, spec.cycles, lat),
        ),
        (
            Property::Available,
            tidekv_checks::available(&h, &crash_cycles, spec.cycles, lat),
        ),
    ];
    for (p, r) in checks {
        if expected(&model, p).0 == Verdict::Holds {
            r.map_err(|e| format!("{p}: {e}"))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Every topology and protocol, crashes within the budget (R−1 per
    /// shard; none for the single server, whose crash is fatal by the
    /// seed's own account): what the checker proves holds on long runs.
    #[test]
    fn every_topology_satisfies_what_the_checker_proves(case in any_cases(|n| n - 1)) {
        prop_assert_eq!(expected_properties_hold(&case), Ok(()));
    }
}

/// A runner that searches 256 cases from a fixed seed and shrinks a
/// failure with up to `max_shrink_iters` steps, persisting nothing.
fn shrinking_runner(max_shrink_iters: u32) -> TestRunner {
    let config = Config {
        cases: 256,
        max_shrink_iters,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Beyond the budget — every replica of a shard dead — `available` fails,
/// and proptest shrinks a failing run to a minimal one: one shard of two
/// replicas, both crashed. (The checker's `available` verdict for such a
/// configuration is violated too: `tidekv check --topology replicated
/// --replicas 2 --crashes 2`.)
#[test]
fn proptest_finds_and_shrinks_a_crash_beyond_the_budget() {
    let mut runner = shrinking_runner(4096);
    let result = runner.run(&any_cases(|n| n), |case| {
        let spec = case.spec();
        let (report, h) = run_with_history(&spec);
        let crash_cycles: Vec<u32> = report.crashes.iter().map(|c| c.cycle).collect();
        tidekv_checks::available(&h, &crash_cycles, spec.cycles, spec.topology.latency()).map_err(TestCaseError::fail)
    });
    match result {
        Err(TestError::Fail(why, minimal)) => {
            eprintln!("minimal failing case: {minimal:?}\n  {why}");
            // Unavailability needs a whole group dead: the single server, or
            // every replica of a shard (sharded clusters re-hash a dead
            // shard's keys to the live ones).
            let group = match minimal.kind {
                Kind::Single => 1,
                Kind::Sharded => minimal.shards,
                Kind::Replicated => minimal.replicas,
            };
            assert!(minimal.crashes.len() >= group, "a whole group is dead: {minimal:?}");
            assert_eq!(
                (minimal.shards, minimal.clients, minimal.keys),
                (1, 1, 1),
                "shrunk: {minimal:?}"
            );
        }
        other => panic!("proptest did not find a run beyond the budget failing: {other:?}"),
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
    let mut runner = shrinking_runner(2048);
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
