//! Node-logic behaviour that `cargo mutants` found no test pinning (see
//! docs/TESTING.md, "Mutation testing"): the words operations and protocols
//! print as, which results count as writes, which protocols have peer links,
//! the runtime store's key hash, key placement on shards, and the FE's
//! routing and waiting on a cluster of more than one replicated shard.

use std::hash::{BuildHasher, BuildHasherDefault};
use tidekv::cluster::{Cluster, CycleInputs};
use tidekv::node::client::ClientEvent;
use tidekv::node::hash::home_shard;
use tidekv::node::server::KeyHasher;
use tidekv::node::{Op, OpResult, Protocol};
use tidekv::topology::{Kind, Topology, TopologyConfig};

#[test]
fn operations_results_and_protocols_print_as_the_docs_show_them() {
    let ops: [(Op<u8>, &str); 5] = [
        (Op::Get(3), "Get(k3)"),
        (Op::Put(3, 7), "Put(k3,7)"),
        (Op::Delete(3), "Delete(k3)"),
        (Op::Insert(3, 7), "Insert(k3,7)"),
        (Op::Modify(3, 7), "Modify(k3,7)"),
    ];
    for (op, text) in ops {
        assert_eq!(op.to_string(), text);
    }
    let results: [(OpResult<u8>, &str); 7] = [
        (OpResult::Value(Some(7)), "7"),
        (OpResult::Value(None), "absent"),
        (OpResult::Ok, "ok"),
        (OpResult::Exists, "exists"),
        (OpResult::Modified(7), "ok(was 7)"),
        (OpResult::Absent, "absent"),
        (OpResult::Unavailable, "unavailable"),
    ];
    for (r, text) in results {
        assert_eq!(r.to_string(), text);
    }
    for p in Protocol::ALL {
        assert_eq!(p.to_string(), p.name());
        assert_eq!(Protocol::parse(&p.to_string()), Some(p));
    }
}

#[test]
fn only_successful_writes_count_as_written() {
    let written = |op: Op<u8>, r: OpResult<u8>| r.wrote(&op);
    assert!(written(Op::Put(0, 1), OpResult::Ok));
    assert!(written(Op::Delete(0), OpResult::Ok));
    assert!(written(Op::Insert(0, 1), OpResult::Ok));
    assert!(written(Op::Modify(0, 1), OpResult::Modified(2)));
    assert!(!written(Op::Insert(0, 1), OpResult::Exists));
    assert!(!written(Op::Modify(0, 1), OpResult::Absent));
    assert!(!written(Op::Get(0), OpResult::Value(Some(1))));
    for op in [Op::Put(0, 1), Op::Delete(0), Op::Insert(0, 1), Op::Modify(0, 1)] {
        assert!(!written(op, OpResult::Unavailable), "unknown outcome");
    }
}

#[test]
fn seed_and_owner_replicas_talk_to_their_peers_and_fanout_replicas_do_not() {
    assert!(Protocol::Seed.has_peer_links());
    assert!(Protocol::Owner.has_peer_links());
    assert!(!Protocol::Fanout.has_peer_links());
    let mut c = TopologyConfig::new(Kind::Replicated, 2);
    c.replicas = 3;
    c.protocol = Protocol::Fanout;
    let t = Topology::new(c).unwrap();
    assert!(t.links.iter().all(|l| l.kind != tidekv::topology::LinkKind::Peer));
}

/// The runtime's store hashes keys with `KeyHasher`: any hash is correct,
/// but a constant or degenerate one turns the map into a list. Distinct keys
/// must get distinct hashes, spread over the high bits too.
#[test]
fn the_key_hasher_separates_keys() {
    let b = BuildHasherDefault::<KeyHasher>::default();
    let hashes: std::collections::BTreeSet<u64> = (0u32..10_000).map(|k| b.hash_one(k)).collect();
    assert_eq!(hashes.len(), 10_000, "distinct keys, distinct hashes");
    let top: std::collections::BTreeSet<u64> = (0u32..1000).map(|k| b.hash_one(k) >> 56).collect();
    assert!(top.len() > 200, "the top byte varies: {} values", top.len());
    // Bytes and u64 writes agree with the u32 path for the same value.
    let mut h1 = b.build_hasher();
    std::hash::Hasher::write_u32(&mut h1, 7);
    let mut h2 = b.build_hasher();
    std::hash::Hasher::write_u64(&mut h2, 7);
    assert_eq!(std::hash::Hasher::finish(&h1), std::hash::Hasher::finish(&h2));
    let mut h3 = b.build_hasher();
    std::hash::Hasher::write(&mut h3, &[1, 2]);
    assert_ne!(std::hash::Hasher::finish(&h3), 0);
    assert_ne!(
        std::hash::Hasher::finish(&h3),
        std::hash::Hasher::finish(&b.build_hasher())
    );
}

#[test]
fn keys_spread_over_every_shard() {
    for shards in 1..=5 {
        let mut used = vec![0; shards];
        for k in 0..500 {
            let s = home_shard(k, shards);
            assert!(s < shards);
            used[s] += 1;
        }
        assert!(used.iter().all(|&n| n > 500 / shards / 2), "{shards} shards: {used:?}");
    }
}

/// Two shards of two replicas: every operation reaches its home shard and
/// returns after exactly the failure-free latency of its kind (the
/// topology's, plus what the protocol adds to a write: `chain`'s hop), for
/// every protocol and for keys on both shards; a write then read of each key
/// sees the write.
#[test]
fn a_multi_shard_replicated_cluster_routes_and_answers_every_key() {
    for protocol in Protocol::ALL {
        let mut c = TopologyConfig::new(Kind::Replicated, 2);
        c.shards = 2;
        c.replicas = 2;
        c.protocol = protocol;
        let latency = c.latency();
        let t = Topology::new(c).unwrap();
        let keys: Vec<u32> = [0usize, 1]
            .iter()
            .map(|&s| (0..).find(|&k| home_shard(k, 2) == s).unwrap())
            .collect();
        let mut cluster = Cluster::<u8>::new(&t);
        let mut script: Vec<(u32, Op<u8>)> = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            script.push((0, Op::Put(k, 1 + i as u8)));
            script.push((0, Op::Get(k)));
        }
        // Client 0 runs the script in order; client 1 stays idle.
        let mut next = 0;
        let mut returns = Vec::new();
        let mut invoked_at = std::collections::VecDeque::new();
        for cycle in 0..(latency.slowest() * 6) {
            let mut ops = vec![None, None];
            if next < script.len() && cluster.will_be_idle(&t, 0) {
                ops[0] = Some(script[next].1.clone());
                invoked_at.push_back((cycle, script[next].1.is_write()));
                next += 1;
            }
            let inputs = CycleInputs { ops, crashes: vec![] };
            let mut events = Vec::new();
            cluster.step(&t, &inputs, &mut |_, _, cands: &[usize]| cands.len() - 1, &mut events);
            for (_, e) in events {
                if let ClientEvent::Return { result, .. } = e {
                    let (at, is_write) = invoked_at.pop_front().expect("a return follows an invocation");
                    assert_eq!(cycle - at, latency.of(is_write), "{protocol}: exact latency");
                    returns.push(result);
                }
            }
        }
        assert_eq!(
            returns,
            vec![
                OpResult::Ok,
                OpResult::Value(Some(1)),
                OpResult::Ok,
                OpResult::Value(Some(2))
            ],
            "{protocol}"
        );
        // Each key's value sits on its home shard's replicas only.
        for (i, &k) in keys.iter().enumerate() {
            for s in 0..2 {
                for r in 0..2 {
                    let store = cluster.settled_store(&t, t.server(s, r)).unwrap();
                    let want = (s == i).then_some(1 + i as u8);
                    assert_eq!(store.get(&k).copied(), want, "{protocol}: k{k} on r{s}.{r}");
                }
            }
        }
    }
}
