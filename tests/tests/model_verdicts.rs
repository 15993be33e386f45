//! The checker's verdicts, state counts and counterexamples, pinned: any
//! change to the semantics of the node logic or the model shows here.
//!
//! Checks run on one thread so that, among the minimal counterexamples, the
//! same one is kept every time (depth-first, the default search).

use tidekv::node::Protocol;
use tidekv::topology::Kind;
use tidekv_checks::Property;
use tidekv_checks::Verdict::{self, Holds, NotApplicable as NA, Violated};
use tidekv_model::checker::runner::{check, search, Report, RunOptions};
use tidekv_model::model::{CrashMode, ModelConfig, OpKind, Reduction};

fn config(kind: Kind, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    let mut c = ModelConfig::new(kind);
    f(&mut c);
    c.cycles = c.ops_per_client * c.topology.latency().slowest() + 2;
    c
}

fn get_put(c: &mut ModelConfig) {
    c.ops = vec![OpKind::Get, OpKind::Put];
}

/// The search with replica symmetry as it runs (`check` would search again
/// without it on a violation, to print the unreduced counterexample).
fn run_sym(c: &ModelConfig) -> Report {
    search(
        c,
        &RunOptions {
            threads: 1,
            bfs: false,
            symmetry: Reduction {
                replicas: true,
                ..Reduction::NONE
            },
            progress: false,
        },
    )
    .expect("valid configuration")
}

fn run(c: &ModelConfig) -> Report {
    check(
        c,
        &RunOptions {
            threads: 1,
            bfs: false,
            symmetry: Reduction::NONE,
            progress: false,
        },
    )
    .expect("valid configuration")
}

fn assert_verdicts(r: &Report, expected: [Verdict; Property::COUNT]) {
    assert_eq!(r.verdicts.0, expected, "{}", r.config.label());
    assert!(
        r.surprises().is_empty(),
        "{}: unexpected {:?}",
        r.config.label(),
        r.surprises()
    );
    assert!(
        r.unreached_twins().is_empty(),
        "{}: unreached {:?}",
        r.config.label(),
        r.unreached_twins()
    );
}

fn trace(r: &Report, property: &str) -> (String, Vec<String>) {
    let c = r
        .counterexamples
        .iter()
        .find(|c| c.property.name() == property)
        .unwrap_or_else(|| panic!("{}: no counterexample for {property}", r.config.label()));
    (c.explanation.clone(), c.steps.clone())
}

#[test]
fn single_two_clients_is_fresh_with_latency_exactly_2() {
    let r = run(&config(Kind::Single, |_| {}));
    assert_eq!(r.config.topology.latency_cycles(), 2);
    assert_verdicts(&r, [Holds, NA, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 82_131);
    assert!(
        r.twins[Property::Linearizable] && r.twins[Property::Latency],
        "a write then a read of it, and a completed op, are reached"
    );
}

#[test]
fn sharded_two_shards_latency_exactly_4() {
    let r = run(&config(Kind::Sharded, |c| {
        get_put(c);
        c.keys = 2;
    }));
    assert_eq!(r.config.topology.latency_cycles(), 4);
    assert_verdicts(&r, [Holds, NA, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 170_583);
}

#[test]
fn two_levels_of_front_ends_latency_exactly_6() {
    let r = run(&config(Kind::Sharded, |c| {
        get_put(c);
        c.topology.levels = 2;
    }));
    assert_eq!(r.config.topology.latency_cycles(), 6);
    assert_verdicts(&r, [Holds, NA, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 51_229);
}

fn replicated(p: Protocol, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    config(Kind::Replicated, |c| {
        get_put(c);
        c.topology.replicas = 2;
        c.topology.protocol = p;
        f(c);
    })
}

#[test]
fn seed_protocol_racing_writes_diverge_in_three_cycles() {
    let r = run(&replicated(Protocol::Seed, |_| {}));
    assert_verdicts(&r, [Violated, Violated, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 48_707);
    let (why, steps) = trace(&r, "converged");
    assert_eq!(why, "shard 0: r0.0 holds {0: 2} but r0.1 holds {0: 1}");
    assert_eq!(
        steps,
        [
            "cycle 0: c0 Put(k0,1), c1 Put(k0,2)",
            "cycle 1: no requests; c0→r0.0, c1→r0.1",
            "cycle 2: no requests"
        ]
    );
    let (why, steps) = trace(&r, "linearizable");
    assert_eq!(why, "k0: c1 Get(k0)=2 @4..8 cannot be linearized");
    assert_eq!(
        steps,
        [
            "cycle 0: c0 Put(k0,1), c1 Put(k0,2)",
            "cycle 1: no requests; c0→r0.0, c1→r0.1",
            "cycle 2: no requests",
            "cycle 3: no requests",
            "cycle 4: c0 Get(k0), c1 Get(k0)",
            "cycle 5: no requests; c0→r0.1, c1→r0.0",
            "cycle 6: no requests",
            "cycle 7: no requests",
            "cycle 8: no requests",
        ]
    );
}

#[test]
fn owner_and_fanout_hold_everything_without_failures() {
    let r = run(&replicated(Protocol::Owner, |_| {}));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 28_427);
    let r = run(&replicated(Protocol::Fanout, |_| {}));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 28_115);
}

#[test]
fn fanout_three_replicas_two_mid_send_crashes_lose_nothing() {
    let r = run(&config(Kind::Replicated, |c| {
        get_put(c);
        c.topology.replicas = 3;
        c.crashes = 2;
        c.crash_mode = CrashMode::MidSend;
    }));
    assert_eq!(r.config.topology.protocol, Protocol::Fanout, "the default protocol");
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 1_301_252);
    assert!(
        r.twins[Property::NoLostWrites] && r.twins[Property::Available],
        "a write survives a crash; an op is answered after one"
    );
}

/// R=2, both replicas dead: the minimal lost write (the same for every
/// protocol that writes through one replica's answer).
const LOST_WRITE: (&str, [&str; 5]) = (
    "k0: an acknowledged write is lost: no server is alive; one of them should hold one of [1]",
    [
        "cycle 0: c1 Put(k0,1)",
        "cycle 1: no requests; crash r0.1",
        "cycle 2: no requests",
        "cycle 3: no requests; crash r0.0",
        "cycle 4: no requests",
    ],
);

#[test]
fn two_replicas_two_crashes_lose_a_write() {
    let r = run(&replicated(Protocol::Fanout, |c| c.crashes = 2));
    assert_verdicts(&r, [Holds, Holds, Violated, Holds, Violated, NA, NA, NA, NA]);
    let (why, steps) = trace(&r, "no-lost-writes");
    assert_eq!(why, LOST_WRITE.0);
    assert_eq!(steps, LOST_WRITE.1);
}

/// Chain replication, R=3: any two of head, middle and tail may die, each
/// delivering any subset of its frames; nothing is lost, reads stay fresh,
/// and a write takes exactly 4 + R − 1 = 6 cycles without failures (the
/// `latency` twin: an operation completes, at exactly its kind's latency).
#[test]
fn chain_three_replicas_two_mid_send_crashes_lose_nothing() {
    let mut c = replicated(Protocol::Chain, |c| {
        get_put(c);
        c.topology.replicas = 3;
        c.crashes = 2;
        c.crash_mode = CrashMode::MidSend;
        c.ops_per_client = 1;
    });
    let lat = c.topology.latency();
    assert_eq!((lat.read, lat.write, lat.per_crash), (4, 6, 3));
    c.cycles = lat.write + lat.read + 1;
    let r = run(&c);
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 812_477);
}

/// Chain, R=2, both replicas dead: an acknowledged write is lost and a
/// request is answered `Unavailable`, as for every protocol.
#[test]
fn chain_two_replicas_two_crashes_lose_a_write() {
    let r = run(&replicated(Protocol::Chain, |c| c.crashes = 2));
    assert_verdicts(&r, [Holds, Holds, Violated, Holds, Violated, NA, NA, NA, NA]);
    assert_eq!(r.unique_states, 683_861);
    let (why, steps) = trace(&r, "no-lost-writes");
    assert_eq!(why, LOST_WRITE.0);
    assert_eq!(steps, LOST_WRITE.1);
}

#[test]
fn sharded_shard_crash_loses_its_data_and_rehashes() {
    let r = run(&config(Kind::Sharded, |c| {
        get_put(c);
        c.crashes = 1;
    }));
    // Available holds: the FE re-hashes the dead shard's keys.
    assert_verdicts(&r, [Violated, NA, Violated, Holds, Holds, NA, NA, NA, NA]);
    let (why, steps) = trace(&r, "no-lost-writes");
    assert_eq!(
        why,
        "k0: an acknowledged write is lost: s1 holds absent; one of them should hold one of [1]"
    );
    assert_eq!(steps[3], "cycle 3: no requests; crash s0");
    let (why, _) = trace(&r, "linearizable");
    assert_eq!(why, "k0: c1 Get(k0)=absent @4..8 cannot be linearized");
}

#[test]
fn single_server_crash_is_fatal() {
    let r = run(&config(Kind::Single, |c| {
        get_put(c);
        c.crashes = 1;
    }));
    assert_verdicts(&r, [Holds, NA, Violated, Holds, Violated, NA, NA, NA, NA]);
    let (why, steps) = trace(&r, "available");
    assert_eq!(why, "c1 Get(k0)=unavailable @0..1 was answered unavailable");
    assert_eq!(steps, ["cycle 0: c1 Get(k0); crash server", "cycle 1: no requests"]);
}

#[test]
fn fe_crash_is_fatal_but_loses_no_state() {
    for p in [Protocol::Owner, Protocol::Fanout] {
        let r = run(&replicated(p, |c| c.crash_fe = true));
        assert_verdicts(&r, [Holds, Holds, Holds, Holds, Violated, NA, NA, NA, NA]);
        let (why, _) = trace(&r, "available");
        assert_eq!(why, "c1 Get(k0)=unavailable @0..1 was answered unavailable");
    }
}

#[test]
fn owner_mid_send_crash_loses_an_acknowledged_write() {
    let r = run(&replicated(Protocol::Owner, |c| {
        c.crashes = 1;
        c.crash_mode = CrashMode::MidSend;
    }));
    assert_verdicts(&r, [Violated, Holds, Violated, Holds, Holds, NA, NA, NA, NA]);
    let (_, steps) = trace(&r, "no-lost-writes");
    assert_eq!(
        steps,
        [
            "cycle 0: c1 Put(k0,1)",
            "cycle 1: no requests",
            "cycle 2: no requests; crash r0.0 (mid-send: only r0.0→fe delivered)",
            "cycle 3: no requests",
            "cycle 4: no requests"
        ]
    );
}

#[test]
fn symmetry_over_replicas_changes_no_verdict() {
    let configs = [
        config(Kind::Replicated, |c| {
            get_put(c);
            c.crashes = 2;
            c.crash_mode = CrashMode::MidSend;
        }),
        replicated(Protocol::Fanout, |c| c.crashes = 2),
        replicated(Protocol::Fanout, |c| {
            c.crash_fe = true;
            c.crash_mode = CrashMode::MidSend;
        }),
        replicated(Protocol::Fanout, |c| {
            c.ops = vec![OpKind::Get, OpKind::Insert, OpKind::Modify]
        }),
    ];
    for c in &configs {
        let plain = run(c);
        let sym = run_sym(c);
        assert_eq!(plain.verdicts, sym.verdicts, "{}", c.label());
        assert_eq!(plain.twins, sym.twins, "{}", c.label());
        for (a, b) in plain.counterexamples.iter().zip(&sym.counterexamples) {
            assert_eq!(a.steps.len(), b.steps.len(), "{}: minimal either way", c.label());
        }
        assert!(sym.unique_states < plain.unique_states, "{}", c.label());
    }
    let r3 = run_sym(&configs[0]);
    assert_eq!(r3.unique_states, 341_329, "R=3: 1,301,252 states without symmetry");
}

#[test]
fn symmetry_refuses_protocols_whose_replicas_differ() {
    for p in [Protocol::Seed, Protocol::Owner] {
        let err = check(
            &replicated(p, |_| {}),
            &RunOptions {
                threads: 1,
                bfs: false,
                symmetry: Reduction {
                    replicas: true,
                    ..Reduction::NONE
                },
                progress: false,
            },
        )
        .unwrap_err();
        assert!(
            err.0.contains("a protocol whose replicas are interchangeable (fanout)"),
            "{err}"
        );
    }
}

/// The quorum configurations of the default suite, by position
/// (`tidekv_model::checker::suite::quorum_suite`).
fn quorum(i: usize) -> ModelConfig {
    tidekv_model::checker::suite::quorum_suite()[i].clone()
}

#[test]
fn quorum_majority_of_three_keeps_freshness_and_writes_with_one_crash() {
    let r = run(&quorum(1));
    assert_eq!(
        r.config.label(),
        "replicated C=2 S=1 R=3 quorum W=2 Q=2 K=1 V=2 O=1 H=9 ops=get,put F=1 atomic"
    );
    assert_verdicts(&r, [Holds, Violated, Holds, Holds, Holds, Violated, NA, NA, NA]);
    assert_eq!(r.unique_states, 73_833);
    // Q1: a write reaches two of the three replicas; nothing reconciles them.
    let (why, steps) = trace(&r, "converged");
    assert_eq!(why, "shard 0: r0.0 holds {0: 1} but r0.2 holds {}");
    assert_eq!(
        steps,
        [
            "cycle 0: c1 Put(k0,1)",
            "cycle 1: no requests; c1→{r0.0,r0.1}",
            "cycle 2: no requests"
        ]
    );
}

#[test]
fn quorum_majority_of_three_loses_a_write_to_two_crashes() {
    let r = run(&quorum(2));
    assert_verdicts(&r, [Holds, Violated, Violated, Holds, Violated, Violated, NA, NA, NA]);
    assert_eq!(r.unique_states, 175_455);
    // Q3: both replicas of the write die; the third never had it.
    let (why, steps) = trace(&r, "no-lost-writes");
    assert_eq!(
        why,
        "k0: an acknowledged write is lost: r0.2 holds absent; one of them should hold one of [1]"
    );
    assert_eq!(
        steps,
        [
            "cycle 0: c1 Put(k0,1)",
            "cycle 1: no requests; c1→{r0.0,r0.1}",
            "cycle 2: no requests",
            "cycle 3: no requests; crash r0.0; crash r0.1",
            "cycle 4: no requests"
        ]
    );
}

#[test]
fn quorum_of_one_reads_a_stale_value_without_failures() {
    let r = run(&quorum(3));
    assert_verdicts(&r, [Violated, Violated, Holds, Holds, Holds, Violated, NA, NA, NA]);
    // Q2: W + Q = 2 <= 3: the read goes to a replica the write missed.
    let (why, steps) = trace(&r, "linearizable");
    assert_eq!(why, "k0: c0 Get(k0)=absent @4..8 cannot be linearized");
    assert_eq!(
        &steps[..6],
        [
            "cycle 0: c1 Put(k0,1)",
            "cycle 1: no requests; c1→{r0.0}",
            "cycle 2: no requests",
            "cycle 3: no requests",
            "cycle 4: c0 Get(k0)",
            "cycle 5: no requests; c0→{r0.2}"
        ]
    );
}

#[test]
fn quorum_anti_entropy_brings_replicas_together_within_its_bound() {
    let r = run(&quorum(5));
    assert_verdicts(&r, [Holds, Violated, Holds, Holds, Holds, Holds, NA, NA, NA]);
    assert!(r.twins[Property::Converges], "replicas apart, then agreeing");
    // Without anti-entropy the same writes leave them apart for good (Q1).
    let mut c = quorum(5);
    c.topology.protocol = Protocol::Quorum(tidekv::protocol::quorum::QuorumParams {
        write: 1,
        read: 3,
        ..Default::default()
    });
    let r = run(&c);
    assert_eq!(r.verdicts[Property::Converges], Violated);
}

/// The cache configurations of the default suite, by position
/// (`tidekv_model::checker::suite::cache_suite`): naive, lease, update in
/// slot order, then naive applying invalidations first.
fn cache(i: usize) -> ModelConfig {
    tidekv_model::checker::suite::cache_suite()[i].clone()
}

/// Each cache mode, applying one frame's fills and invalidations in slot
/// order, is linearizable and never stale with two level-0 FEs sharing a
/// key; hits, fills and fills raced by an invalidation are all reached.
#[test]
fn every_cache_mode_in_slot_order_is_fresh_with_two_front_ends() {
    let expected = [("naive", 324_297), ("lease/8", 269_421), ("update", 325_537)];
    for (i, (mode, states)) in expected.into_iter().enumerate() {
        let r = run(&cache(i));
        assert_eq!(
            r.config.label(),
            format!("sharded C=2 S=1 L=2 cache={mode} k=2 K=1 V=2 O=3 H=14 ops=get,put")
        );
        assert_verdicts(&r, [Holds, NA, Holds, Holds, Holds, NA, Holds, NA, NA]);
        assert!(
            r.twins[Property::StaleReads],
            "{mode}: hit, fill and raced fill reached"
        );
        assert!(r.twins[Property::Latency]);
        assert_eq!(r.unique_states, states, "{mode}");
    }
}

/// C1, memcache's stale set: c0's read is served just before c1's write in
/// the same cycle; the fill (absent) and the write's invalidation reach
/// fe0.0 in one frame, and applied invalidation first the fill outlives
/// the write: c0 reads absent from its cache after the write was
/// acknowledged. `lease` refuses that fill and holds.
#[test]
fn naive_applying_invalidations_first_keeps_a_stale_set_and_lease_does_not() {
    let r = run(&cache(3));
    assert_verdicts(&r, [Violated, NA, Holds, Holds, Holds, NA, Violated, NA, NA]);
    assert_eq!(r.unique_states, 328_585);
    let steps = [
        "cycle 0: c0 Get(k0), c1 Put(k0,1)",
        "cycle 1: no requests",
        "cycle 2: no requests",
        "cycle 3: no requests",
        "cycle 4: no requests",
        "cycle 5: no requests",
        "cycle 6: c0 Get(k0)",
        "cycle 7: no requests",
        "cycle 8: no requests",
    ];
    let (why, got) = trace(&r, "linearizable");
    assert_eq!(why, "k0: c0 Get(k0)=absent @6..8 cannot be linearized");
    assert_eq!(got, steps);
    let (why, got) = trace(&r, "stale-reads");
    assert_eq!(why, "k0: c0 Get(k0)=absent @6..8 missed an acknowledged write");
    assert_eq!(got, steps);
    // The same order with leases: the raced fill is refused.
    let mut c = cache(3);
    c.topology.cache.as_mut().unwrap().mode = tidekv::node::cache::CacheMode::Lease;
    let r = run(&c);
    assert_verdicts(&r, [Holds, NA, Holds, Holds, Holds, NA, Holds, NA, NA]);
    assert_eq!(r.unique_states, 269_421, "the order does not matter to lease");
}

/// `stale-reads` with a bound: the stale set of C1 stays in the cache for
/// good, so how stale a read gets is bounded only by the horizon: within 14
/// cycles the last read can be invoked at cycle 11, 6 cycles after the
/// write's acknowledgement at 6 (its value was last current at cycle 5).
/// Violated up to T = 5, holds from T = 6.
#[test]
fn the_staleness_bound_measures_how_stale_the_stale_set_gets() {
    for (t, verdict) in [(5, Violated), (6, Holds)] {
        let mut c = cache(3);
        c.max_staleness = Some(t);
        let r = run(&c);
        assert_eq!(r.verdicts[Property::StaleReads], verdict, "T={t}");
        assert!(r.surprises().is_empty(), "T={t}: {:?}", r.surprises());
        if verdict == Violated {
            let (why, steps) = trace(&r, "stale-reads");
            assert_eq!(
                why,
                "k0: c0 Get(k0)=absent @11..13 returned a value superseded more than 5 cycles before it was invoked"
            );
            assert_eq!(steps.len(), 14);
        }
    }
}

/// Recovery configurations (`--recoveries`): one operation per client, two
/// replicas of one shard, atomic crashes. With a one-at-a-time crash budget
/// a replica may die and come back twice and every property holds, the
/// `rejoins` twin reached; with both replicas down at once, `none` and
/// `async` lose an acknowledged write (pinned traces) and `sync` keeps it.
fn recovery(p: Protocol, crashes: usize, persist: tidekv::node::recovery::Persist) -> ModelConfig {
    tidekv_model::checker::suite::recovery_config(p, crashes, persist)
}

#[test]
fn recovery_one_down_at_a_time_fanout_and_chain_hold_everything() {
    use tidekv::node::recovery::Persist;
    for (p, states) in [(Protocol::Fanout, 82_526), (Protocol::Chain, 175_557)] {
        let r = run(&recovery(p, 1, Persist::None));
        assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, Holds, NA]);
        assert_eq!(r.unique_states, states, "{p}");
    }
}

#[test]
fn recovery_all_down_loses_a_write_without_sync_persistence() {
    use tidekv::node::recovery::Persist;
    // `none`: r0.0 restarts empty and is still catching up when the replica
    // that held the write dies. `async`: r0.0 served the write alone (r0.1
    // was dead) at cycle 2 and died at cycle 3, its durable store a cycle
    // behind; the client hears `ok` at cycle 4.
    let cases = [
        (
            Persist::None,
            190_423,
            "k0: an acknowledged write is lost: r0.0 (catching up) holds absent; one of them should hold one of [1]\n\
             cycle 0: c1 Put(k0,1)\n\
             cycle 1: no requests; crash r0.0\n\
             cycle 2: no requests\n\
             cycle 3: no requests; restart r0.0\n\
             cycle 4: no requests; crash r0.1",
        ),
        (
            Persist::Async,
            220_377,
            "k0: an acknowledged write is lost: r0.0 (dead; durable) holds absent, r0.1 (dead; durable) holds absent; \
             one of them should hold one of [1]\n\
             cycle 0: c1 Put(k0,1)\n\
             cycle 1: no requests; crash r0.1\n\
             cycle 2: no requests\n\
             cycle 3: no requests; crash r0.0\n\
             cycle 4: no requests",
        ),
    ];
    for (persist, states, lost) in cases {
        let r = run(&recovery(Protocol::Fanout, 2, persist));
        assert_verdicts(&r, [Holds, Holds, Violated, Holds, Violated, NA, NA, Holds, NA]);
        assert_eq!(r.unique_states, states, "{persist:?}");
        let (why, steps) = trace(&r, "no-lost-writes");
        assert_eq!(format!("{why}\n{}", steps.join("\n")), lost, "{persist:?}");
        // `check --json` lists the restarts in its `steps` objects too.
        let c = r
            .counterexamples
            .iter()
            .find(|c| c.property == Property::NoLostWrites)
            .unwrap();
        let restarts: Vec<String> = c.steps_json.iter().map(|s| s["restarts"].to_string()).collect();
        let want = match persist {
            Persist::None => ["[]", "[]", "[]", "[\"r0.0\"]", "[]"],
            _ => ["[]"; 5],
        };
        assert_eq!(restarts, want, "{persist:?}");
    }
    let r = run(&recovery(Protocol::Fanout, 2, Persist::Sync));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Violated, NA, NA, Holds, NA]);
    assert_eq!(r.unique_states, 219_311, "sync");
}

/// Both replicas down at once, 9 cycles (docs/RECOVERY.md): r0.0 dies
/// (atomic) at cycle 2 before applying c1's write, r0.1 applies it durably
/// and answers, r0.0 restarts empty at 3 while r0.1 dies at 3. The old rule
/// (the highest epoch, "died last", serves; ties to the lowest) let empty
/// r0.0 serve and r0.1 copy from it: the write lost with `sync`. The rule
/// now serves from the replica that applied the most writes while serving
/// (r0.1), so `sync` holds; `none` and `async` still lose writes.
#[test]
fn recovery_total_failure_serves_the_replica_holding_the_acknowledged_writes() {
    use tidekv::node::recovery::Persist;
    use tidekv_model::checker::suite::recovery_total_failure;
    let r = run(&recovery_total_failure(Persist::Sync));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Violated, NA, NA, Holds, NA]);
    assert_eq!(r.unique_states, 310_866, "sync");
    for persist in [Persist::None, Persist::Async] {
        let r = run(&recovery_total_failure(persist));
        assert_eq!(r.verdicts[Property::NoLostWrites], Violated, "{persist:?}");
    }
}

/// `--persist none`, both replicas down and back at 10 cycles: the restarted
/// shard is empty, so a read invoked after a write's acknowledgement misses
/// it, and `linearizable` fails as `no-lost-writes` does (expected:
/// `expect::recovered_empty_read`; at 8 cycles, above, a read cannot follow).
/// `async` the same: the write applied at cycle 2 was not durable yet when
/// r0.0 died at 3 (same trace); `sync` keeps it.
#[test]
fn recovery_all_down_without_persistence_a_read_misses_an_acknowledged_write() {
    use tidekv::node::recovery::Persist;
    let mut c = recovery(Protocol::Fanout, 2, Persist::Sync);
    c.cycles = 10;
    let r = run(&c);
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Violated, NA, NA, Holds, NA]);
    for (persist, states) in [(Persist::None, 343_858), (Persist::Async, 417_228)] {
        c.topology.recovery.as_mut().unwrap().persist = persist;
        let r = run(&c);
        assert_verdicts(&r, [Violated, Holds, Violated, Holds, Violated, NA, NA, Holds, NA]);
        assert_eq!(r.unique_states, states, "{persist:?}");
        let (why, steps) = trace(&r, "linearizable");
        assert_eq!(
            format!("{why}\n{}", steps.join("\n")),
            "k0: c0 Get(k0)=absent @5..9 cannot be linearized\n\
         cycle 0: c1 Put(k0,1); crash r0.1\n\
         cycle 1: no requests; restart r0.1\n\
         cycle 2: no requests\n\
         cycle 3: no requests; crash r0.0\n\
         cycle 4: no requests; restart r0.0\n\
         cycle 5: c0 Get(k0)\n\
         cycle 6: no requests\n\
         cycle 7: no requests\n\
         cycle 8: no requests\n\
         cycle 9: no requests",
            "{persist:?}"
        );
    }
}

/// `rejoins` can fail: told the store holds at most one key while a client
/// writes three, the bound (3 + 1 chunk) is short of a catch-up that needs
/// three chunks, and the checker says so.
#[test]
fn rejoins_fails_when_the_bound_undercounts_the_store() {
    use tidekv::node::recovery::{rejoin_bound, Persist};
    assert_eq!(rejoin_bound(1, 1), 4);
    assert_eq!(rejoin_bound(0, 1), 4, "an empty store still takes one chunk");
    let mut c = recovery(Protocol::Fanout, 1, Persist::None);
    c.topology.clients = 1;
    c.keys = 3;
    c.values = 1;
    c.ops = vec![tidekv_model::model::OpKind::Put];
    c.ops_per_client = 3;
    c.recoveries = 1;
    c.cycles = 20;
    c.topology.recovery.as_mut().unwrap().keys_max = 3;
    let r = run(&c);
    assert_eq!(r.verdicts[Property::Rejoins], Holds, "with the true bound");
    c.topology.recovery.as_mut().unwrap().keys_max = 1;
    let r = run(&c);
    assert_eq!(r.verdicts[Property::Rejoins], Violated, "with a bound one chunk short");
}

/// Bounded frames: `--slots slots --queue queue`, `clients` clients.
fn bounded(c: &mut ModelConfig, clients: usize, slots: usize, queue: usize) {
    c.topology.clients = clients;
    c.topology.slots = slots;
    c.topology.queue = queue;
}

#[test]
fn one_slot_queue_of_two_three_clients_fifo_busy_and_the_derived_latency() {
    let r = run(&replicated(Protocol::Fanout, |c| {
        bounded(c, 3, 1, 2);
        c.values = 1;
    }));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, NA, Holds]);
    assert!(r.twins[Property::Fifo], "a full queue answers busy");
    assert!(
        !r.twins[Property::Converged],
        "one slot: no two writes meet at a replica"
    );
    assert_eq!(r.unique_states, 395_302);
}

#[test]
fn sharded_one_slot_per_shard_fifo_and_busy() {
    let r = run(&config(Kind::Sharded, |c| {
        get_put(c);
        bounded(c, 2, 1, 1);
        c.keys = 2;
        c.values = 1;
    }));
    assert_verdicts(&r, [Holds, NA, Holds, Holds, Holds, NA, NA, NA, Holds]);
    assert!(r.twins[Property::Fifo]);
    assert_eq!(r.unique_states, 42_051);
}

#[test]
fn slots_with_a_replica_crash_or_an_fe_crash_lose_nothing_acknowledged() {
    let r = run(&replicated(Protocol::Fanout, |c| {
        bounded(c, 2, 1, 2);
        c.crashes = 1;
    }));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Holds, NA, NA, NA, Holds]);
    assert_eq!(r.unique_states, 193_597);
    // The FE's queue dies with it: what was queued was never acknowledged.
    let r = run(&replicated(Protocol::Fanout, |c| {
        bounded(c, 2, 1, 1);
        c.crash_fe = true;
    }));
    assert_verdicts(&r, [Holds, Holds, Holds, Holds, Violated, NA, NA, NA, Holds]);
    assert!(r.twins[Property::NoLostWrites]);
    assert_eq!(r.unique_states, 62_935);
}

/// The derived bound is tight: one cycle less for a request that waited in
/// the queue, and `latency` fails, on the shortest path where one waits.
#[test]
fn shrinking_the_queueing_bound_by_one_cycle_fails_latency() {
    let c = replicated(Protocol::Fanout, |c| {
        bounded(c, 2, 1, 2);
        c.latency_tighten = 1;
    });
    let r = check(
        &c,
        &RunOptions {
            threads: 1,
            bfs: false,
            symmetry: Reduction::NONE,
            progress: false,
        },
    )
    .expect("valid configuration");
    assert_eq!(r.verdicts[Property::Latency], Violated);
    let (why, steps) = trace(&r, "latency");
    assert_eq!(why, "c1 Get(k0) @0.. still pending at cycle 5, over the bound 4");
    assert_eq!(
        steps,
        [
            "cycle 0: c0 Get(k0), c1 Get(k0)",
            "cycle 1: no requests; c0→r0.1",
            "cycle 2: no requests; c1→r0.1",
            "cycle 3: no requests",
            "cycle 4: no requests"
        ]
    );
}
