//! Seeded simulation: replays exactly, and finds what the exhaustive check
//! finds, in configurations far too big to check exhaustively.

use tidekv::node::Protocol;
use tidekv::topology::Kind;
use tidekv_checks::Property;
use tidekv_checks::Verdict::{Holds, NotApplicable as NA, Violated};
use tidekv_model::checker::simulate::{simulate, SimOptions};
use tidekv_model::model::{CrashMode, ModelConfig};

/// 8 clients, 4 shards × 3 replicas, 50 cycles, two mid-send crashes per shard.
fn big(protocol: Protocol) -> ModelConfig {
    let mut c = ModelConfig::new(Kind::Replicated);
    c.topology.clients = 8;
    c.topology.shards = 4;
    c.topology.replicas = 3;
    c.topology.protocol = protocol;
    c.keys = 4;
    c.ops_per_client = 10;
    c.cycles = 50;
    c.crashes = 2;
    c.crash_mode = CrashMode::MidSend;
    c
}

fn opts(runs: u64, seed: u64) -> SimOptions {
    SimOptions {
        runs,
        seed,
        progress: false,
    }
}

#[test]
fn same_seed_same_walks() {
    let a = simulate(&big(Protocol::Seed), &opts(300, 11)).unwrap();
    let b = simulate(&big(Protocol::Seed), &opts(300, 11)).unwrap();
    assert!(!a.counterexamples.is_empty());
    assert_eq!(
        (a.states, a.unique_states, a.verdicts),
        (b.states, b.unique_states, b.verdicts)
    );
    let steps = |r: &tidekv_model::checker::runner::Report| {
        r.counterexamples.iter().map(|c| c.steps.clone()).collect::<Vec<_>>()
    };
    assert_eq!(steps(&a), steps(&b));
}

#[test]
fn big_fanout_cluster_holds_on_random_walks() {
    let r = simulate(&big(Protocol::Fanout), &opts(500, 1)).unwrap();
    // `converges` is for protocols that reconcile replicas in the background;
    // `fifo` for FE queues (`--slots`).
    assert_eq!(r.verdicts.0, [Holds, Holds, Holds, Holds, Holds, NA, NA]);
    assert!(
        r.twins
            .iter()
            .all(|(p, t)| *t || p == Property::Converges || p == Property::Fifo),
        "every interesting case reached: {:?}",
        r.twins
    );
}

#[test]
fn big_seed_and_owner_clusters_are_caught() {
    let r = simulate(&big(Protocol::Seed), &opts(500, 1)).unwrap();
    assert_eq!(r.verdicts[Property::Linearizable], Violated, "F1 on random walks");
    assert_eq!(r.verdicts[Property::Converged], Violated);
    let r = simulate(&big(Protocol::Owner), &opts(2000, 7)).unwrap();
    assert_eq!(
        r.verdicts[Property::NoLostWrites],
        Violated,
        "F3: a lost write on random walks"
    );
    // Every reported walk replays to a real violation.
    for c in &r.counterexamples {
        assert!(
            !c.explanation.contains("model bug"),
            "{}: {}",
            c.property,
            c.explanation
        );
    }
}
