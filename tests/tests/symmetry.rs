//! The state reductions change no verdict of the default suite: replica
//! symmetry on every suite configuration where it applies, and the client
//! reduction together with it (what `check` uses by default) on every suite
//! configuration, each checked with and without, agreeing on every verdict,
//! every `sometimes` twin and the length of every (minimal) counterexample.
//! The suite turns them on for exactly the configurations where they are
//! sound (depth-first), which is pinned too, and so are the reductions.

use tidekv::node::Protocol;
use tidekv::topology::Kind;
use tidekv_model::checker::runner::{search as check, search_representatives, Report, RunOptions};
use tidekv_model::checker::suite::{default_suite, run_options};
use tidekv_model::model::{ModelConfig, Reduction};

const REPLICAS: Reduction = Reduction {
    replicas: true,
    ..Reduction::NONE
};

fn opts(symmetry: Reduction) -> RunOptions {
    RunOptions {
        threads: 2,
        bfs: false,
        symmetry,
        progress: false,
    }
}

fn run(c: &ModelConfig, symmetry: Reduction) -> Report {
    check(c, &opts(symmetry)).expect("suite configurations are valid")
}

fn assert_same(plain: &Report, sym: &Report) {
    assert_equivalent(plain, sym);
    let label = plain.config.label();
    assert!(
        sym.unique_states < plain.unique_states,
        "{label}: {} states with symmetry, {} without",
        sym.unique_states,
        plain.unique_states
    );
}

/// The same verdicts, twins and counterexample lengths, and no more states.
fn assert_equivalent(plain: &Report, sym: &Report) {
    let label = plain.config.label();
    assert_eq!(plain.verdicts, sym.verdicts, "{label}: verdicts");
    assert_eq!(plain.twins, sym.twins, "{label}: twins reached");
    let lengths = |r: &Report| {
        r.counterexamples
            .iter()
            .map(|c| (c.property, c.steps.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(lengths(plain), lengths(sym), "{label}: counterexamples");
    assert!(sym.surprises().is_empty(), "{label}: unexpected {:?}", sym.surprises());
    assert!(
        sym.unreached_twins().is_empty(),
        "{label}: unreached {:?}",
        sym.unreached_twins()
    );
    assert!(sym.unique_states <= plain.unique_states, "{label}");
}

/// The suite configurations where symmetry applies: every fanout one with
/// replicas but those with recovery (a joiner picks its donor by replica
/// index), and nothing else.
fn symmetric_suite() -> Vec<ModelConfig> {
    let suite = default_suite();
    for c in &suite {
        let t = &c.topology;
        let fanout =
            t.kind == Kind::Replicated && t.protocol == Protocol::Fanout && t.replicas >= 2 && t.recovery.is_none();
        assert_eq!(c.replicas_symmetric(), fanout, "{}", c.label());
    }
    suite.into_iter().filter(|c| c.replicas_symmetric()).collect()
}

/// Every suite configuration without any reduction, with replica symmetry
/// alone where it applies (every fanout configuration with replicas but
/// those with recovery, as the suite runs them), and with every reduction
/// that is sound for it (what `check` uses on one configuration: the client
/// reduction everywhere but the two-level FE tree, FE queues and recovery,
/// replica symmetry where it applies, value symmetry wherever values are
/// written, the horizon everywhere but the single server): the same
/// verdicts, twins and counterexample lengths. One test, so each
/// configuration's unreduced search runs once. The reductions are pinned:
/// 20,961,395 unique states without any, 19,250,184 with replica symmetry
/// alone (the suite's), 7,086,152 with every sound one (14,660,780 before
/// value symmetry and the horizon). Replica symmetry does not apply to
/// `quorum` (neither replica- nor client-symmetric), to the recovery
/// configurations (a joiner picks its donor by replica index) or with two
/// FE levels (caches); the client reduction not to the `--slots`
/// configurations either (the FE queue lists clients in arrival order).
#[test]
#[ignore = "about 5 minutes on 2 cores: the whole suite with and without reductions; .ci/run runs it \
            (cargo test -p tidekv-tests --test symmetry -- --ignored)"]
fn the_reductions_change_no_verdict_of_the_default_suite() {
    let symmetric = symmetric_suite();
    assert_eq!(
        symmetric.len(),
        12,
        "fanout: 2 failure-free, 4 crash, R=3, 2 FE crash, 3 with bounded frames"
    );
    let (mut without, mut replicas, mut with) = (0, 0, 0);
    for c in default_suite() {
        let plain = run(&c, Reduction::NONE);
        let replica_only = if c.replicas_symmetric() {
            let sym = run(&c, REPLICAS);
            assert_same(&plain, &sym);
            sym.unique_states
        } else {
            plain.unique_states
        };
        let sound = Reduction::sound(&c);
        let reduced = if sound == Reduction::NONE {
            // Nothing to compare: the reduced search is the plain one.
            plain.unique_states
        } else {
            let reduced = run(&c, sound);
            assert_equivalent(&plain, &reduced);
            // What `check` runs: only representatives kept, the same classes.
            let kept = search_representatives(&c, &opts(sound)).unwrap();
            assert_eq!(
                (&kept.verdicts, &kept.twins, kept.unique_states),
                (&reduced.verdicts, &reduced.twins, reduced.unique_states),
                "{}: keeping only representatives",
                c.label()
            );
            if sound.clients {
                assert!(reduced.unique_states < plain.unique_states, "{}", c.label());
            }
            reduced.unique_states
        };
        without += plain.unique_states;
        replicas += replica_only;
        with += reduced;
    }
    assert_eq!(
        (without, replicas, with),
        (20_961_395, 19_250_184, 5_973_711),
        "unique states without any reduction, with replica symmetry, with every sound one"
    );
}

#[test]
fn the_suite_uses_symmetry_exactly_where_it_applies_and_searches_depth_first() {
    let base = opts(Reduction::ALL);
    for c in default_suite() {
        let o = run_options(&c, &base);
        assert_eq!(o.symmetry.replicas, c.replicas_symmetric(), "{}", c.label());
        // The client reduction costs more per state than it saves on the
        // suite's two clients: `check` on one configuration uses it.
        assert!(!o.symmetry.clients, "{}", c.label());
        // `--no-symmetry`: none.
        assert_eq!(run_options(&c, &opts(Reduction::NONE)).symmetry, Reduction::NONE);
        assert_eq!((o.threads, o.bfs, o.progress), (base.threads, base.bfs, base.progress));
        // Breadth-first ignores symmetry in stateright and the runner
        // refuses the combination: `--bfs` turns it off.
        let bfs = run_options(
            &c,
            &RunOptions {
                bfs: true,
                ..base.clone()
            },
        );
        assert_eq!(bfs.symmetry, Reduction::NONE, "{}", c.label());
    }
}

/// Replicas sorted by their state and frames alone tie when only the FE's
/// in-flight target sets tell them apart, and the representative then
/// depended on the order the search met the class: state counts changed
/// with the threads (10,493,817 and 10,492,795 unique states in two runs of
/// the suite). With the target sets in the sort key it is canonical.
#[test]
fn the_representative_is_canonical_whatever_the_threads() {
    let mut c = ModelConfig::new(Kind::Replicated);
    c.topology.replicas = 3;
    c.topology.protocol = Protocol::Fanout;
    c.ops = vec![tidekv_model::model::OpKind::Get, tidekv_model::model::OpKind::Put];
    c.crashes = 2;
    c.crash_mode = tidekv_model::model::CrashMode::MidSend;
    c.cycles = c.ops_per_client * c.topology.latency_cycles() + 2;
    let clients_x_replicas = Reduction {
        values: false,
        horizon: false,
        ..Reduction::ALL
    };
    for (reduction, pinned) in [
        (REPLICAS, 341_329),
        (clients_x_replicas, PINNED_R3_BOTH),
        (Reduction::ALL, PINNED_R3_ALL),
    ] {
        let one = check(
            &c,
            &RunOptions {
                threads: 1,
                ..opts(reduction)
            },
        )
        .unwrap();
        for _ in 0..2 {
            let two = check(&c, &opts(reduction)).unwrap();
            assert_eq!(one.unique_states, two.unique_states, "{}", c.label());
            // Keeping only representatives (what `check` does) meets the
            // same classes.
            let kept = search_representatives(&c, &opts(reduction)).unwrap();
            assert_eq!(one.unique_states, kept.unique_states, "{}: representatives", c.label());
        }
        assert_eq!(one.unique_states, pinned, "{:?}", reduction);
    }
}

/// Only the root FE names replicas; an inner FE's target bit 0 is its
/// parent. Renaming inner FEs' target sets too (as the representative once
/// did) made states no run can reach: 504,511 states instead of 283,007 here.
#[test]
fn symmetry_with_two_levels_of_fes_changes_no_verdict() {
    let mut c = ModelConfig::new(Kind::Replicated);
    c.topology.replicas = 3;
    c.topology.levels = 2;
    c.topology.protocol = Protocol::Fanout;
    c.ops = vec![tidekv_model::model::OpKind::Get, tidekv_model::model::OpKind::Put];
    c.crashes = 1;
    c.cycles = c.ops_per_client * c.topology.latency_cycles() + 2;
    let (plain, sym) = (run(&c, Reduction::NONE), run(&c, REPLICAS));
    assert_same(&plain, &sym);
    assert_eq!(sym.unique_states, 283_007, "{}", c.label());
}

/// `replicated R=3 fanout F=2 mid-send get,put` (1,301,252 states without
/// any reduction): with replica symmetry and the client reduction.
const PINNED_R3_BOTH: usize = 246_882;

/// The same with value symmetry and the horizon too (what `check` uses):
/// about 40% (the two values of every state but those holding none are
/// one state; the horizon leaves out starts in the last two cycles; 122,466
/// when it left out the last cycle's only).
const PINNED_R3_ALL: usize = 99_503;
