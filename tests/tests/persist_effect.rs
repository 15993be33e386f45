//! Persistence as a described effect (`tidekv::node::persist`): replaying
//! the effects a replica describes cycle by cycle rebuilds exactly the
//! durable image the model keeps (`Server::durable_image`), for random runs
//! with crashes and restarts, `sync` and `async`, fanout and chain.

use proptest::prelude::*;
use tidekv::cluster::{Cluster, Crash, CrashKind, CycleInputs, NodeState};
use tidekv::node::persist::{apply, empty_image};
use tidekv::node::recovery::{Image, Persist, RecoveryConfig};
use tidekv::node::server::HashStore;
use tidekv::node::{Op, Protocol};
use tidekv::topology::{Kind, Topology, TopologyConfig};

type Img = Image<u8, HashStore<u8>>;

/// Sorted contents, for comparing hash stores.
fn contents(img: &Img) -> (Vec<(u32, u8)>, String, u32) {
    let mut s: Vec<(u32, u8)> = img.store.iter().map(|(k, v)| (*k, *v)).collect();
    s.sort_unstable();
    (s, format!("{:?}", img.sessions), img.writes)
}

/// Runs `script`; returns the restarts it made.
fn replay(protocol: Protocol, persist: Persist, script: &[(u8, u8, u8, u8)]) -> u32 {
    let mut config = TopologyConfig::new(Kind::Replicated, 2);
    config.protocol = protocol;
    config.replicas = 3;
    config.recovery = Some(RecoveryConfig {
        persist,
        transfer_keys: 1,
        keys_max: 4,
    });
    let topo = Topology::new(config).unwrap();
    let servers: Vec<usize> = topo.servers().collect();
    let mut cluster = Cluster::<u8, HashStore<u8>>::new(&topo);
    // Per server: the image its effects built (reset at a restart to what
    // the restart hands it).
    let mut disk: Vec<Img> = servers.iter().map(|_| empty_image(topo.clients())).collect();
    let mut events = Vec::new();
    let mut incarnation = 0u8;
    for (cycle, &(op, key, val, fault)) in script.iter().enumerate() {
        let ops = (0..topo.clients())
            .map(|c| {
                (cluster.will_be_idle(&topo, c) && op % 3 != 0).then(|| match (op + c as u8) % 4 {
                    0 => Op::Get(u32::from(key % 4)),
                    1 => Op::Put(u32::from(key % 4), val),
                    2 => Op::Modify(u32::from(key % 4), val),
                    _ => Op::Delete(u32::from(key % 4)),
                })
            })
            .collect();
        let s = servers[fault as usize % servers.len()];
        let dead = servers.iter().filter(|&&n| !cluster.is_alive(n)).count();
        let mut crashes = Vec::new();
        if fault % 5 == 1 && cluster.is_alive(s) && dead < servers.len() - 1 {
            crashes.push(Crash {
                node: s,
                kind: if fault % 2 == 0 {
                    CrashKind::Atomic
                } else {
                    CrashKind::MidSend(u64::from(fault))
                },
            });
        } else if fault % 5 == 2 && !cluster.is_alive(s) && cluster.quiet(&topo, s) {
            let i = servers.iter().position(|&n| n == s).unwrap();
            let kept = cluster
                .durable
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, img)| img.clone());
            // What the effects made durable is what the model kept.
            match &kept {
                Some(img) => assert_eq!(contents(&disk[i]), contents(img), "cycle {cycle}: image of {s}"),
                None => assert_eq!(persist, Persist::None),
            }
            incarnation += 1;
            cluster.restart(&topo, s, incarnation);
            disk[i] = kept.unwrap_or_else(|| empty_image(topo.clients()));
        }
        let mid_send: Vec<usize> = crashes
            .iter()
            .filter(|c| matches!(c.kind, CrashKind::MidSend(_)))
            .map(|c| c.node)
            .collect();
        cluster.step(
            &topo,
            &CycleInputs { ops, crashes },
            &mut |_, _, c| c.len() - 1,
            &mut events,
        );
        events.clear();
        // A mid-send crash computes its cycle: the runtime commits that
        // cycle's effect before the first frame goes out, so the image the
        // model buries is what it describes (the node is gone: taken from
        // the buried image).
        for n in mid_send {
            let i = servers.iter().position(|&s| s == n).unwrap();
            if let Some((_, img)) = cluster.durable.iter().find(|(m, _)| *m == n) {
                let e = tidekv::node::persist::diff(&disk[i], img);
                apply(&mut disk[i], &e);
            }
        }
        for (i, &n) in servers.iter().enumerate() {
            if let NodeState::Server(srv) = &cluster.nodes[n] {
                if let Some(effect) = srv.durable_effect(persist, &disk[i]) {
                    apply(&mut disk[i], &effect);
                    assert_eq!(
                        contents(&disk[i]),
                        contents(&srv.durable_image(persist).unwrap()),
                        "cycle {cycle}: server {n}"
                    );
                }
            }
        }
    }
    u32::from(incarnation)
}

/// A fixed script that writes, crashes r0.0, restarts it and lets it
/// catch up: the comparison at the restart and after it happens.
#[test]
fn a_crash_and_restart_replay_the_image() {
    let mut script = vec![(1, 1, 7, 0); 4];
    script.push((1, 2, 8, 6)); // crash server 0 (atomic)
    script.extend([(1, 3, 9, 0); 3]);
    script.push((1, 1, 4, 12)); // restart it
    script.extend([(1, 2, 5, 0); 10]);
    for persist in [Persist::Sync, Persist::Async] {
        assert_eq!(replay(Protocol::Fanout, persist, &script), 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn replayed_effects_are_the_durable_image(
        script in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 1..60),
        chain in any::<bool>(),
        sync in any::<bool>(),
    ) {
        let protocol = if chain { Protocol::Chain } else { Protocol::Fanout };
        replay(protocol, if sync { Persist::Sync } else { Persist::Async }, &script);
    }
}

/// The test can fail: an effect that drops its tombstones leaves a deleted
/// key durable, and the replay sees it.
#[test]
fn a_lost_tombstone_is_seen() {
    let mut img: Img = empty_image(1);
    let mut full: Img = empty_image(1);
    full.store.insert(1, 5);
    let e = tidekv::node::persist::diff(&img, &full);
    apply(&mut img, &e);
    assert_eq!(contents(&img), contents(&full));
    let emptied: Img = empty_image(1);
    let mut e = tidekv::node::persist::diff(&full, &emptied);
    assert_eq!(e.writes, vec![(1, None)]);
    e.writes.clear();
    apply(&mut img, &e);
    assert_ne!(contents(&img), contents(&emptied));
}
