//! The default suite: every topology × protocol × crash budget × crash mode,
//! each at the largest bounds that keep the whole suite to a couple of
//! minutes on 2 cores. Bounds are in each configuration's label; `tidekv
//! check --topology … ` explores any configuration at any bounds.

use crate::checker::runner::RunOptions;
use crate::model::{CrashMode, ModelConfig, OpKind, Reduction};
use tidekv::node::cache::{CacheConfig, CacheMode, CacheOrder};
use tidekv::node::Protocol;
use tidekv::topology::Kind;

fn config(kind: Kind, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    let mut c = ModelConfig::new(kind);
    c.ops = vec![OpKind::Get, OpKind::Put];
    f(&mut c);
    let lat = c.topology.latency().slowest();
    c.cycles = c.ops_per_client * lat + 2;
    c
}

/// Which configurations `tidekv check` runs without `--topology`
/// (`--suite default|full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// About a minute on 2 cores: every topology, protocol, crash budget
    /// and crash mode at small bounds.
    Default,
    /// The default suite and the larger configurations of `full_extras`
    /// (their time is in docs/RESULTS.md).
    Full,
}

impl Suite {
    pub fn configs(self) -> Vec<ModelConfig> {
        match self {
            Suite::Default => default_suite(),
            Suite::Full => {
                let mut v = default_suite();
                v.extend(full_extras());
                v
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Suite::Default => "default",
            Suite::Full => "full",
        }
    }
}

/// What `--suite full` adds to the default suite: configurations too big
/// for the default's minute.
pub fn full_extras() -> Vec<ModelConfig> {
    use CrashMode::MidSend;
    // The README's check: fanout, three replicas, two mid-send crashes.
    let mut out = vec![config(Kind::Replicated, |c| {
        c.topology.protocol = Protocol::Fanout;
        c.crashes = 2;
        c.crash_mode = MidSend;
    })];
    // Every cache mode with the other order, and the three modes over every
    // schedule of three operations per client (20 cycles, not 14).
    for mode in [CacheMode::Lease, CacheMode::Update] {
        out.push(cache_config(mode, CacheOrder::InvalidationsFirst, 14));
    }
    for mode in CacheMode::ALL {
        out.push(cache_config(mode, CacheOrder::Slot, 20));
    }
    // Issue 19's first check, at the command line's defaults (every
    // operation kind, two per client): a replica of two dies and returns
    // twice, one at a time (45.7 million states: docs/RECOVERY.md).
    let mut rec = ModelConfig::new(Kind::Replicated);
    rec.topology.replicas = 2;
    rec.crashes = 1;
    rec.recoveries = 2;
    rec.topology.recovery = Some(tidekv::node::recovery::RecoveryConfig {
        persist: tidekv::node::recovery::Persist::None,
        transfer_keys: 1,
        keys_max: 1,
    });
    rec.cycles = rec.ops_per_client * rec.topology.latency().slowest() + 2;
    out.push(rec);
    // Chain with a middle replica: a restarted replica joins behind the
    // tail or in the middle.
    let mut chain = recovery_config(Protocol::Chain, 1, tidekv::node::recovery::Persist::None);
    chain.topology.replicas = 3;
    chain.recoveries = 1;
    chain.cycles = 12;
    out.push(chain);
    out.extend(slots_full());
    out
}

/// A cache configuration: two clients, each behind its own level-0 FE
/// (two FE levels, one shard), sharing one key; reads and writes, three
/// operations per client, `cycles` cycles (14: a miss, a racing write and a
/// hit fit; a fill and a hit need a read to miss first).
pub fn cache_config(mode: CacheMode, order: CacheOrder, cycles: u32) -> ModelConfig {
    let mut c = config(Kind::Sharded, |c| {
        c.topology.shards = 1;
        c.topology.levels = 2;
        c.ops_per_client = 3;
        c.topology.cache = Some(CacheConfig {
            order,
            ..CacheConfig::new(mode)
        });
    });
    c.cycles = cycles;
    c
}

/// The default suite's cache configurations: each mode in slot order (all
/// hold), and `naive` applying invalidations before fills (the stale set,
/// finding C1).
pub fn cache_suite() -> Vec<ModelConfig> {
    let mut out: Vec<ModelConfig> = CacheMode::ALL
        .into_iter()
        .map(|m| cache_config(m, CacheOrder::Slot, 14))
        .collect();
    out.push(cache_config(CacheMode::Naive, CacheOrder::InvalidationsFirst, 14));
    out
}

/// The configurations `tidekv check` runs without `--topology`.
pub fn default_suite() -> Vec<ModelConfig> {
    use CrashMode::{Atomic, MidSend};
    let mut out = Vec::new();
    // Failure-free: freshness and exact latency, every operation kind.
    out.push(config(Kind::Single, |c| c.ops = OpKind::ALL.to_vec()));
    out.push(config(Kind::Sharded, |c| c.keys = 2));
    out.push(config(Kind::Sharded, |c| c.topology.levels = 2));
    for p in Protocol::ALL {
        out.push(config(Kind::Replicated, |c| {
            c.topology.replicas = 2;
            c.topology.protocol = p;
        }));
        // Conditional operations (refused by a versioned protocol).
        if !p.versioned() {
            out.push(config(Kind::Replicated, |c| {
                c.topology.replicas = 2;
                c.topology.protocol = p;
                c.ops = vec![OpKind::Get, OpKind::Put, OpKind::Insert, OpKind::Modify];
                c.values = 1;
            }));
        }
    }
    // Server crashes: budgets 1..=R (per shard), both modes.
    for mode in [Atomic, MidSend] {
        out.push(config(Kind::Single, |c| {
            c.crashes = 1;
            c.crash_mode = mode;
        }));
        out.push(config(Kind::Sharded, |c| {
            c.crashes = 1;
            c.crash_mode = mode;
        }));
    }
    // A versioned protocol's crashes are checked with three replicas
    // (`quorum_suite`): with two, its majorities are every replica.
    for p in Protocol::ALL.into_iter().filter(|p| !p.versioned()) {
        for crashes in 1..=2 {
            for mode in [Atomic, MidSend] {
                out.push(config(Kind::Replicated, |c| {
                    c.topology.replicas = 2;
                    c.topology.protocol = p;
                    c.crashes = crashes;
                    c.crash_mode = mode;
                }));
            }
        }
    }
    // Three replicas: R-1 = 2 crashes for the protocol that should take them,
    // one crash for the owner protocol (which breaks with two live replicas).
    out.push(config(Kind::Replicated, |c| {
        c.topology.protocol = Protocol::Fanout;
        c.crashes = 2;
        c.crash_mode = MidSend;
    }));
    out.push(config(Kind::Replicated, |c| {
        c.topology.protocol = Protocol::Owner;
        c.crashes = 1;
        c.crash_mode = MidSend;
    }));
    // Chain with a middle replica: any two of head, middle and tail may die
    // mid-send (the re-linking rule). One operation per client, and the
    // cycles a write then a read take (6 + 4) plus one.
    let mut chain = config(Kind::Replicated, |c| {
        c.topology.protocol = Protocol::Chain;
        c.crashes = 2;
        c.crash_mode = MidSend;
        c.ops_per_client = 1;
    });
    let lat = chain.topology.latency();
    chain.cycles = lat.write + lat.read + 1;
    out.push(chain);
    out.extend(quorum_suite());
    out.extend(cache_suite());
    out.extend(recovery_suite());
    out.extend(slots_suite());
    // Front-end crashes.
    out.push(config(Kind::Sharded, |c| c.crash_fe = true));
    for p in Protocol::ALL {
        for mode in [Atomic, MidSend] {
            out.push(config(Kind::Replicated, |c| {
                c.topology.replicas = 2;
                c.topology.protocol = p;
                c.crash_fe = true;
                c.crash_mode = mode;
            }));
        }
    }
    out
}

/// One recovery configuration (`--recoveries 2 --transfer-keys 1`): two
/// replicas, one operation per client, the cycles a write takes plus four
/// (enough for a crash, a restart and a catch-up).
pub fn recovery_config(p: Protocol, crashes: usize, persist: tidekv::node::recovery::Persist) -> ModelConfig {
    let mut c = config(Kind::Replicated, |c| {
        c.topology.replicas = 2;
        c.topology.protocol = p;
        c.ops_per_client = 1;
        c.crashes = crashes;
        c.recoveries = 2;
        c.topology.recovery = Some(tidekv::node::recovery::RecoveryConfig {
            persist,
            transfer_keys: 1,
            keys_max: c.keys,
        });
    });
    c.cycles = c.topology.latency().slowest() + 4;
    c
}

/// Both replicas down at once with `persist`, one cycle longer than
/// [`recovery_config`] (9): the smallest bound at which the checker found
/// the total-failure rule that served from the replica that "died last"
/// (the highest epoch) lose an acknowledged write with `--persist sync`
/// (docs/RECOVERY.md).
pub fn recovery_total_failure(persist: tidekv::node::recovery::Persist) -> ModelConfig {
    let mut c = recovery_config(Protocol::Fanout, 2, persist);
    c.cycles += 1;
    c
}

/// Crash-recovery in the default suite (docs/RECOVERY.md): one replica
/// down at a time, dying and returning twice, for `fanout` and `chain`;
/// both down at once with each persistence mode; and both down at once
/// with `sync` one cycle longer (the total-failure reproducer).
pub fn recovery_suite() -> Vec<ModelConfig> {
    use tidekv::node::recovery::Persist;
    let mut out = vec![
        recovery_config(Protocol::Fanout, 1, Persist::None),
        recovery_config(Protocol::Chain, 1, Persist::None),
    ];
    for persist in Persist::ALL {
        out.push(recovery_config(Protocol::Fanout, 2, persist));
    }
    out.push(recovery_total_failure(Persist::Sync));
    out
}

/// Bounded frames (`--slots 1`, docs/QUEUES.md), two clients: with a
/// queue of two one request waits a cycle behind the other (fanout with two
/// replicas, failure-free and with a replica crash: retries go back to the
/// queue's head, oldest first); with a queue of one the second is answered
/// busy (fanout with an FE crash: the queue is lost, nothing acknowledged
/// with it; sharded with a key per shard).
pub fn slots_suite() -> Vec<ModelConfig> {
    let replicated = |queue: usize, f: fn(&mut ModelConfig)| {
        config(Kind::Replicated, |c| {
            c.topology.replicas = 2;
            c.topology.slots = 1;
            c.topology.queue = queue;
            f(c);
        })
    };
    vec![
        replicated(2, |_| {}),
        replicated(2, |c| c.crashes = 1),
        replicated(1, |c| c.crash_fe = true),
        config(Kind::Sharded, |c| {
            c.topology.slots = 1;
            c.topology.queue = 1;
            c.keys = 2;
            c.values = 1;
        }),
    ]
}

/// Larger bounded-frame configurations for `--suite full`: three clients
/// on one shard (one slot and a queue of two; two slots and a queue of two).
pub fn slots_full() -> Vec<ModelConfig> {
    [(1, 2, 2), (2, 2, 1)]
        .into_iter()
        .map(|(slots, queue, values)| {
            config(Kind::Replicated, |c| {
                c.topology.replicas = 2;
                c.topology.clients = 3;
                c.topology.slots = slots;
                c.topology.queue = queue;
                c.values = values;
            })
        })
        .collect()
}

/// The quorum protocol with three replicas, one operation per client and
/// the cycles a write then a read take (plus one): small enough for the
/// default suite, large enough for each finding's counterexample (a stale
/// read needs a write, then a read) and for a majority to show what it
/// keeps with one crash and loses with two.
pub fn quorum_suite() -> Vec<ModelConfig> {
    use tidekv::protocol::quorum::QuorumParams;
    let q = QuorumParams::DEFAULT;
    let cases: [(QuorumParams, usize); 5] = [
        // Majorities: W = Q = 2.
        (q, 0),
        (q, 1),
        (q, 2),
        // W + Q <= R: disjoint quorums.
        (QuorumParams { write: 1, read: 1, ..q }, 0),
        // Majorities with read repair and anti-entropy.
        (
            QuorumParams {
                read_repair: true,
                anti_entropy: true,
                ..q
            },
            1,
        ),
    ];
    let mut out: Vec<ModelConfig> = cases
        .into_iter()
        .map(|(params, crashes)| {
            let mut c = config(Kind::Replicated, |c| {
                c.topology.protocol = Protocol::Quorum(params);
                c.ops_per_client = 1;
                c.crashes = crashes;
            });
            let lat = c.topology.latency();
            c.cycles = lat.write + lat.read + 1;
            c
        })
        .collect();
    // Anti-entropy reconciling writes to one replica each (W = 1): one
    // client writing three keys, a sweep of one entry per cycle, so that
    // replicas are apart and agree within the bound (the `converges` twin).
    out.push(config(Kind::Replicated, |c| {
        c.topology.protocol = Protocol::Quorum(QuorumParams {
            write: 1,
            read: 3,
            anti_entropy: true,
            ..q
        });
        c.topology.clients = 1;
        c.keys = 3;
        c.values = 1;
        c.ops = vec![OpKind::Put];
        c.ops_per_client = 3;
    }));
    out
}

/// The options the suite checks `config` with: `opts`, with replica
/// symmetry where `opts.symmetry` allows it and it is sound (none
/// breadth-first, which ignores it), and without the client reduction: on
/// the suite's two-client configurations it removes 5% of the states
/// (15,315,472 → 14,529,988 where no violation is expected, pinned in
/// `tests/tests/symmetry.rs`) at a higher cost per state, so the suite
/// would get slower, and with a violation it would change which minimal
/// counterexample `--json` prints. Both change no verdict
/// (`tests/tests/symmetry.rs`).
pub fn run_options(config: &ModelConfig, opts: &RunOptions) -> RunOptions {
    let mut symmetry = if opts.bfs {
        Reduction::NONE
    } else {
        opts.symmetry.within(config)
    };
    symmetry.clients = false;
    symmetry.values = false;
    symmetry.horizon = false;
    RunOptions {
        symmetry,
        ..opts.clone()
    }
}
