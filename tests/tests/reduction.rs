//! The state reductions are sound, checked state by state: over the whole
//! reachable state space of small configurations, every two states with one
//! representative ([`representative`]) agree on every property and twin,
//! and their successors have the same representatives. So whichever state
//! of a class a search meets first, it explores the same classes and sees
//! the same verdicts: the reduced search is the unreduced one, quotiented.
//! The representative itself is such a member (its own representative, the
//! same properties and successors), so a search that keeps only
//! representatives (`TideModel::canonical_successors`) explores the same.
//!
//! And why clients are not renamed freely: two clients' racing writes in one
//! frame resolve by client number, so swapping the clients of a state gives
//! successors no renaming maps back.

use stateright::Model;
use std::collections::{HashMap, HashSet, VecDeque};
use tidekv::node::{Op, Protocol};
use tidekv::topology::Kind;
use tidekv_checks::Property;
use tidekv_model::model::{representative, CrashMode, CycleAction, ModelConfig, OpKind, Reduction, State, TideModel};

fn config(kind: Kind, protocol: Protocol, replicas: usize, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    let mut c = ModelConfig::new(kind);
    c.topology.replicas = replicas;
    c.topology.protocol = protocol;
    c.ops = vec![OpKind::Get, OpKind::Put];
    f(&mut c);
    c.cycles = c.ops_per_client * c.topology.latency().slowest() + 2;
    c
}

/// Every property's verdict and every twin in `s`: what states of one class
/// must agree on.
fn props(m: &TideModel, s: &State) -> Vec<bool> {
    Property::ALL
        .into_iter()
        .flat_map(|p| [m.holds(p, s), m.reached(p, s)])
        .collect()
}

/// Every reachable state, breadth-first; per class: the first member's
/// property values and successor representatives, which every other member
/// must match. Returns (states, classes).
fn check_classes(c: &ModelConfig) -> (usize, usize) {
    check_classes_with(c, Reduction::sound(c))
}

fn check_classes_with(c: &ModelConfig, reduction: Reduction) -> (usize, usize) {
    let m = TideModel::new(c.clone()).unwrap().with_reduction(reduction).unwrap();
    let props = |s: &State| props(&m, s);
    let init = m.init_states().pop().unwrap();
    let mut seen = HashSet::from([init.clone()]);
    let mut queue = VecDeque::from([init]);
    let mut classes: HashMap<State, (State, Vec<bool>, HashSet<State>)> = HashMap::new();
    let mut actions: Vec<CycleAction> = Vec::new();
    while let Some(s) = queue.pop_front() {
        // Every action: what the reduced search leaves out is checked by
        // `left_out_actions_change_nothing`.
        m.every_action(&s, &mut actions);
        let mut succ = HashSet::new();
        for a in actions.drain(..) {
            let n = m.next_state(&s, a).expect("every action applies");
            succ.insert(representative(&n));
            if seen.insert(n.clone()) {
                queue.push_back(n);
            }
        }
        let p = props(&s);
        let rep = representative(&s);
        if !classes.contains_key(&rep) {
            // The representative is a member of its class too (what a search
            // keeping only representatives explores: `canonical_successors`).
            assert_eq!(
                representative(&rep),
                rep,
                "{}: the representative is not its own:\n{s:?}",
                c.label()
            );
            assert_eq!(
                props(&rep),
                p,
                "{}: properties differ from the representative's:\n{s:?}",
                c.label()
            );
            m.every_action(&rep, &mut actions);
            let rsucc: HashSet<State> = actions
                .drain(..)
                .map(|a| representative(&m.next_state(&rep, a).expect("every action applies")))
                .collect();
            assert!(
                rsucc == succ,
                "{}: the representative's successors differ:\n{s:?}\n{rep:?}\nonly the state's: {:?}\nonly the representative's: {:?}",
                c.label(),
                succ.difference(&rsucc).next(),
                rsucc.difference(&succ).next()
            );
        }
        let (first, fp, fsucc) = classes
            .entry(rep)
            .or_insert_with(|| (s.clone(), p.clone(), succ.clone()));
        assert_eq!(
            *fp,
            p,
            "{}: properties differ within a class:\n{first:?}\n{s:?}",
            c.label()
        );
        if *fsucc != succ {
            let a: Vec<_> = fsucc.difference(&succ).collect();
            let b: Vec<_> = succ.difference(fsucc).collect();
            panic!(
                "{}: successors differ within a class:\n{first:?}\n{s:?}\nonly first's: {:?}\nonly second's: {:?}",
                c.label(),
                a.first(),
                b.first()
            );
        }
    }
    (seen.len(), classes.len())
}

#[test]
fn states_with_one_representative_are_bisimilar() {
    let configs = [
        config(Kind::Replicated, Protocol::Fanout, 3, |c| {
            c.ops_per_client = 1;
            c.crashes = 2;
            c.crash_mode = CrashMode::MidSend;
        }),
        config(Kind::Replicated, Protocol::Fanout, 2, |c| {
            c.topology.clients = 3;
            c.ops_per_client = 1;
            c.ops = OpKind::ALL.to_vec();
            c.values = 1;
        }),
        config(Kind::Replicated, Protocol::Chain, 2, |c| {
            c.ops_per_client = 1;
            c.crashes = 1;
            c.crash_mode = CrashMode::MidSend;
        }),
        config(Kind::Replicated, Protocol::Seed, 2, |c| {
            c.ops_per_client = 1;
            c.crashes = 1;
            c.crash_mode = CrashMode::MidSend;
        }),
        config(Kind::Replicated, Protocol::Owner, 2, |c| {
            c.ops_per_client = 1;
            c.crash_fe = true;
            c.crash_mode = CrashMode::MidSend;
        }),
        config(Kind::Single, Protocol::Fanout, 1, |c| c.topology.clients = 3),
        config(Kind::Single, Protocol::Fanout, 1, |c| {
            c.crashes = 1;
            c.crash_mode = CrashMode::MidSend;
        }),
        config(Kind::Sharded, Protocol::Fanout, 1, |c| {
            c.topology.shards = 2;
            c.keys = 2;
            c.ops_per_client = 1;
            c.crashes = 1;
        }),
    ];
    for c in &configs {
        let (states, classes) = check_classes(c);
        assert!(classes < states, "{}: {classes} classes of {states} states", c.label());
    }
}

/// Value symmetry (renaming values, alone or with the other reductions)
/// where the client and replica reductions do not reach: every protocol,
/// three values, every operation, a cache, a queue, a staleness bound,
/// recovery with durable images; and the value reduction alone, whose
/// classes are at most pairs of states here (two values).
#[test]
fn states_with_one_value_representative_are_bisimilar() {
    use tidekv::node::recovery::Persist;
    use tidekv_model::checker::suite;
    let quorum = suite::quorum_suite().swap_remove(0);
    let mut configs = vec![
        config(Kind::Replicated, Protocol::Fanout, 2, |c| {
            c.ops_per_client = 1;
            c.ops = OpKind::ALL.to_vec();
            c.values = 3;
        }),
        config(Kind::Replicated, Protocol::Chain, 3, |c| {
            c.ops_per_client = 1;
            c.crashes = 1;
        }),
        config(Kind::Replicated, Protocol::Fanout, 2, |c| {
            c.ops_per_client = 2;
            c.max_staleness = Some(1);
        }),
        quorum,
        suite::recovery_config(Protocol::Fanout, 1, Persist::Sync),
        suite::recovery_config(Protocol::Chain, 1, Persist::Async),
        suite::slots_suite().swap_remove(1),
    ];
    let mut cache = suite::cache_config(
        tidekv::node::cache::CacheMode::Naive,
        tidekv::node::cache::CacheOrder::InvalidationsFirst,
        10,
    );
    cache.ops_per_client = 2;
    configs.push(cache);
    for c in &configs {
        assert!(Reduction::sound(c).values, "{}: value symmetry applies", c.label());
        let (states, classes) = check_classes(c);
        assert!(classes < states, "{}: {classes} classes of {states} states", c.label());
    }
    let c = config(Kind::Replicated, Protocol::Seed, 2, |c| {
        c.ops_per_client = 1;
        c.crashes = 1;
    });
    let only_values = Reduction {
        values: true,
        ..Reduction::NONE
    };
    let (states, classes) = check_classes_with(&c, only_values);
    assert!(
        classes < states && 2 * classes > states,
        "{classes} classes of {states} states"
    );
}

/// What a reduced search's actions leave out ([`TideModel::cycle_actions`]
/// against [`TideModel::every_action`]) changes nothing, checked on every
/// reachable state: an action left out for its picks leads to a state with
/// the representative of a successor the search does generate (it only
/// swaps replicas nothing tells apart), and one left out for the horizon
/// (operations started behind an FE in the last cycle, or the one before)
/// leads to a state with every property and twin as the same action without
/// those starts, which the search generates (or one with its
/// representative); two cycles before the horizon, so does every action
/// after it, matched with the same action without the new requests' picks.
#[test]
fn left_out_actions_change_nothing() {
    use tidekv_model::checker::suite;
    let mut cache = suite::cache_config(
        tidekv::node::cache::CacheMode::Naive,
        tidekv::node::cache::CacheOrder::Slot,
        8,
    );
    cache.ops_per_client = 2;
    let configs = [
        config(Kind::Replicated, Protocol::Fanout, 3, |c| {
            c.topology.clients = 3;
            c.ops_per_client = 1;
        }),
        config(Kind::Replicated, Protocol::Fanout, 3, |c| {
            c.ops_per_client = 1;
            c.crashes = 1;
            c.crash_mode = CrashMode::MidSend;
        }),
        config(Kind::Replicated, Protocol::Chain, 2, |c| c.ops = OpKind::ALL.to_vec()),
        suite::quorum_suite().swap_remove(0),
        config(Kind::Sharded, Protocol::Fanout, 1, |c| {
            c.topology.shards = 2;
            c.keys = 2;
            c.ops_per_client = 1;
        }),
        suite::slots_suite().swap_remove(0),
        cache,
    ];
    let (mut by_picks, mut by_horizon, mut by_two) = (0, 0, 0);
    for c in &configs {
        let m = TideModel::new(c.clone())
            .unwrap()
            .with_reduction(Reduction::sound(c))
            .unwrap();
        let props = |s: &State| props(&m, s);
        let init = m.init_states().pop().unwrap();
        let mut seen = HashSet::from([init.clone()]);
        let mut queue = VecDeque::from([init]);
        let (mut kept, mut every) = (Vec::new(), Vec::new());
        while let Some(s) = queue.pop_front() {
            m.actions(&s, &mut kept);
            m.every_action(&s, &mut every);
            let reps: HashSet<State> = kept
                .iter()
                .map(|a| representative(&m.next_state(&s, a.clone()).unwrap()))
                .collect();
            for a in every.drain(..) {
                let n = m.next_state(&s, a.clone()).unwrap();
                if !kept.contains(&a) {
                    if reps.contains(&representative(&n)) {
                        by_picks += 1;
                    } else {
                        let to_end = c.cycles - s.cluster.cycle;
                        assert!(
                            to_end <= m.horizon_cycles(),
                            "{}: only starts {} cycles before the horizon are left out",
                            c.label(),
                            m.horizon_cycles()
                        );
                        let without = CycleAction {
                            ops: vec![None; a.ops.len()],
                            ..a.clone()
                        };
                        let n0 = m.next_state(&s, without.clone()).unwrap();
                        assert!(
                            kept.contains(&without) || reps.contains(&representative(&n0)),
                            "{}: {a:?} without its starts is kept",
                            c.label()
                        );
                        assert_eq!(props(&n), props(&n0), "{}: {a:?} from\n{s:?}", c.label());
                        by_horizon += 1;
                        if to_end == 2 {
                            // One cycle more: the FE picks where the new
                            // requests go; every final state agrees with the
                            // one reached without those picks.
                            let started: Vec<usize> = (0..a.ops.len()).filter(|&i| a.ops[i].is_some()).collect();
                            let (mut next, mut next0) = (Vec::new(), Vec::new());
                            m.every_action(&n, &mut next);
                            m.every_action(&n0, &mut next0);
                            for b in next {
                                let b0 = CycleAction {
                                    picks: b
                                        .picks
                                        .iter()
                                        .filter(|p| !started.contains(&p.client))
                                        .cloned()
                                        .collect(),
                                    ..b.clone()
                                };
                                assert!(next0.contains(&b0), "{}: {b:?} without the new picks", c.label());
                                let (f, f0) = (m.next_state(&n, b.clone()).unwrap(), m.next_state(&n0, b0).unwrap());
                                assert_eq!(props(&f), props(&f0), "{}: {a:?} then {b:?} from\n{s:?}", c.label());
                            }
                            by_two += 1;
                        }
                    }
                }
                if seen.insert(n.clone()) {
                    queue.push_back(n);
                }
            }
            kept.clear();
        }
    }
    assert!(
        by_picks > 0 && by_horizon > by_two && by_two > 0,
        "{by_picks} by picks, {by_horizon} by the horizon ({by_two} two cycles before it)"
    );
}

/// `c0 Put(k0,1)` and `c1 Put(k0,2)` reach the replicas in one frame: the
/// store ends with c1's 2. With the clients swapped (c0 puts 2, c1 puts 1)
/// it ends with 1, so renaming the clients of one successor never gives the
/// other: a permutation of all clients is not a symmetry of the model.
#[test]
fn swapping_racing_clients_changes_who_wins() {
    let c = config(Kind::Replicated, Protocol::Fanout, 2, |_| {});
    let m = TideModel::new(c).unwrap();
    let run = |ops: [Op<u8>; 2]| -> Vec<Option<u8>> {
        let mut s = m.init_states().pop().unwrap();
        let first = CycleAction {
            ops: ops.into_iter().map(Some).collect(),
            picks: vec![],
            crashes: vec![],
            restarts: vec![],
        };
        s = m.next_state(&s, first).unwrap();
        for _ in 0..2 {
            let idle = CycleAction {
                ops: vec![None, None],
                picks: vec![],
                crashes: vec![],
                restarts: vec![],
            };
            s = m.next_state(&s, idle).unwrap();
        }
        (3..5)
            .map(|n| match &s.cluster.nodes[n] {
                tidekv::cluster::NodeState::Server(sv) => sv.store.get(&0).copied(),
                _ => panic!("node {n} is a replica"),
            })
            .collect()
    };
    assert_eq!(run([Op::Put(0, 1), Op::Put(0, 2)]), vec![Some(2), Some(2)]);
    assert_eq!(run([Op::Put(0, 2), Op::Put(0, 1)]), vec![Some(1), Some(1)]);
}
