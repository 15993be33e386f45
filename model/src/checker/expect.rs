//! What the seed claims for each configuration and property, and the verdict
//! the project expects: the seed's claim, unless a finding documented in
//! `docs/RESULTS.md` refutes it with a counterexample.

use crate::model::{CrashMode, ModelConfig, OpKind};
use tidekv::protocol::{Finding, Scenario};
use tidekv::topology::Kind;
use tidekv_checks::{Property, Verdict};

/// What the seed says about a property in a configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Claim {
    Holds,
    Violated,
    /// The seed says nothing about it.
    None,
    NotApplicable,
}

/// Whether the crash budget exceeds what the topology is claimed to tolerate.
fn fatal_server_crashes(c: &ModelConfig) -> bool {
    match c.topology.kind {
        Kind::Single => c.crashes >= 1,
        // The seed claims data loss on a failed shard, and that the FE re-hashes.
        Kind::Sharded => false,
        Kind::Replicated => c.crashes >= c.topology.replicas,
    }
}

/// The seed's claim (slides 000): freshness ("the most up-to-date value is
/// served"), fixed latency, and its failure section.
pub fn seed_claim(c: &ModelConfig, p: Property) -> Claim {
    let kind = c.topology.kind;
    let failures = c.crashes > 0 || c.crash_fe;
    if !p.applies(c.scope()) {
        return Claim::NotApplicable;
    }
    match p {
        Property::Linearizable => {
            if kind == Kind::Sharded && c.crashes > 0 {
                Claim::Violated // "loss of data on the failed shard"
            } else {
                Claim::Holds
            }
        }
        Property::Converged => Claim::Holds, // "replica updates are processed exactly in 1 cycle"
        // The seed has no replicas that differ by design, and no restarts.
        Property::Converges | Property::Rejoins => Claim::None,
        // The seed asks "Caching?" and claims nothing.
        Property::StaleReads => Claim::None,
        // The seed proposes FE queues as future work, claiming nothing.
        Property::Fifo => Claim::None,
        Property::NoLostWrites => {
            if fatal_server_crashes(c) || (kind == Kind::Sharded && c.crashes > 0) {
                Claim::Violated
            } else {
                Claim::Holds // "FE server failure is fatal; no state is lost"
            }
        }
        Property::Latency => {
            if failures {
                Claim::None
            } else {
                Claim::Holds // "latencies are known and fixed"
            }
        }
        Property::Available => {
            if fatal_server_crashes(c) || c.crash_fe {
                Claim::Violated // "server failure is fatal!", "FE server failure is fatal"
            } else {
                Claim::Holds
            }
        }
    }
}

/// The findings, each documented with its counterexample in
/// `docs/RESULTS.md`: every registered protocol's (see
/// [`tidekv::protocol::Replication::findings`]).
pub fn findings() -> impl Iterator<Item = &'static Finding> {
    tidekv::node::Protocol::all_findings().map(|(_, f)| f)
}

/// What the protocol's findings depend on in this configuration.
pub fn scenario(c: &ModelConfig) -> Scenario {
    Scenario {
        protocol: c.topology.protocol.resolved(c.topology.replicas),
        replicas: c.topology.replicas,
        clients: c.topology.clients,
        keys: c.keys,
        values: c.values,
        crashes: c.crashes,
        mid_send: c.crash_mode == CrashMode::MidSend,
        crash_fe: c.crash_fe,
    }
}

/// The verdict the project expects, with the finding behind it where it is
/// not simply the seed's claim.
pub fn expected(c: &ModelConfig, p: Property) -> (Verdict, Option<&'static str>) {
    if let Some(f) = cache_finding(c, p) {
        return (Verdict::Violated, Some(f));
    }
    // With every replica of a shard down at once, `sync` persistence keeps
    // every acknowledged write in a dead replica's durable store, which a
    // restart brings back (docs/RECOVERY.md); `none` and `async` lose them,
    // as the seed says of a failed shard.
    if p == Property::NoLostWrites && c.recoveries > 0 {
        if let Some(rc) = c.topology.recovery {
            if rc.persist == tidekv::node::recovery::Persist::Sync {
                return (Verdict::Holds, None);
            }
        }
    }
    if p == Property::Linearizable && recovered_empty_read(c) {
        return (Verdict::Violated, None);
    }
    if c.has_replicas() {
        let s = scenario(c);
        let finding = c
            .topology
            .protocol
            .findings()
            .iter()
            .find(|f| f.violates.iter().any(|(name, when)| *name == p.name() && when(&s)));
        if let Some(f) = finding {
            return (Verdict::Violated, Some(f.id));
        }
    }
    let v = match seed_claim(c, p) {
        Claim::Holds | Claim::None => Verdict::Holds,
        Claim::Violated => Verdict::Violated,
        Claim::NotApplicable => Verdict::NotApplicable,
    };
    (v, None)
}

/// With `--persist none` (or `async`, whose last cycle's writes a crash
/// loses), every replica of a shard down and back, a read answered by the
/// restarted shard misses a write acknowledged before: `linearizable` fails
/// as `no-lost-writes` does (docs/RECOVERY.md).
/// The checker's shortest trace, R = 2: a put acknowledged at cycle 4, both
/// replicas dead and restarted by then, a get invoked at 5 and answered
/// `absent` at 9, so 10 cycles. Checked for two replicas only.
fn recovered_empty_read(c: &ModelConfig) -> bool {
    let Some(rc) = c.topology.recovery else {
        return false;
    };
    let writes = c.ops.iter().any(|o| *o != OpKind::Get);
    rc.persist != tidekv::node::recovery::Persist::Sync
        && c.topology.replicas == 2
        && c.crashes >= 2
        && c.recoveries >= 2
        && writes
        && c.ops.contains(&OpKind::Get)
        && c.ops_per_client * c.topology.clients as u32 >= 2
        && c.cycles >= 10
}

/// Finding C1 (docs/CACHING.md): a cache that applies a frame's
/// invalidations before its fills, and keeps a fill whatever arrived since
/// its miss (`naive`, `update`), keeps a value read just before a write in
/// the same cycle: memcache's stale set. It needs a reader and a writer, a
/// miss and the write (9 cycles).
pub fn cache_finding(c: &ModelConfig, p: Property) -> Option<&'static str> {
    use tidekv::node::cache::{CacheMode, CacheOrder};
    let cache = c.topology.cache?;
    let writes = c.ops.iter().any(|o| *o != OpKind::Get);
    let stale = cache.order == CacheOrder::InvalidationsFirst
        && cache.mode != CacheMode::Lease
        && writes
        && c.ops.contains(&OpKind::Get)
        && c.topology.clients >= 2
        && c.ops_per_client >= 2
        && c.cycles >= 9
        && !c.crashes_allowed();
    // The stale value stays until evicted: a read invoked as late as cycle
    // H − 3 (a hit answers in 2) is H − 8 cycles stale (the write is
    // acknowledged at cycle 6 at the earliest).
    let beyond_bound = c.staleness_bound().is_some_and(|t| t + 8 < c.cycles);
    let violated = match p {
        Property::Linearizable => true,
        Property::StaleReads => beyond_bound,
        _ => false,
    };
    (stale && violated).then_some("C1")
}

/// Whether the `sometimes` twin of property `p` must be reached for its
/// verdict to mean anything in this configuration.
pub fn twin_expected(c: &ModelConfig, p: Property) -> bool {
    let writes = c.ops.iter().any(|o| *o != OpKind::Get);
    let reads = c.ops.contains(&OpKind::Get);
    let total_ops = c.ops_per_client * c.topology.clients as u32;
    let lat = c.topology.latency();
    let (read, write) = (lat.read, lat.write);
    match p {
        Property::Linearizable => writes && reads && total_ops >= 2 && c.cycles > write + read,
        // With one slot per shard and cycle (`--slots 1`) no two requests
        // reach a shard in one cycle: there is no race to reach.
        Property::Converged => writes && c.topology.clients >= 2 && c.cycles > read / 2 && c.topology.slots != 1,
        // A single server's crash leaves no server to hold anything.
        Property::NoLostWrites => {
            writes && (c.crashes > 0 || c.crash_fe) && c.topology.kind != Kind::Single && c.cycles > write
        }
        Property::Latency => c.cycles > read,
        // A Busy answer needs more requests for one shard at once than its
        // queue holds (Q, the requests not yet sent, this cycle's included);
        // it takes the round trip to the root FE.
        Property::Fifo => {
            c.topology.slots > 0 && c.topology.clients > c.topology.queue && c.cycles > 2 * c.topology.levels as u32
        }
        Property::Available => c.crashes > 0 && c.topology.kind != Kind::Single && c.cycles > read + 2,
        // A crash, a restart a cycle later, and the catch-up within its bound.
        Property::Rejoins => c.rejoin_cycles().is_some_and(|b| c.recoveries > 0 && c.cycles > b + 2),
        // Replicas left apart by a partial write, then reconciled: needs a
        // write quorum smaller than the replicas and anti-entropy.
        Property::Converges => {
            let apart = tidekv::protocol::quorum::apart_despite_anti_entropy(&scenario(c));
            let q = c.topology.protocol.resolved(c.topology.replicas).quorum();
            writes
                && apart
                && q.is_some_and(|q| q.anti_entropy && (q.write as usize) < c.topology.replicas)
                && c.cycles > write
        }
        // A fill needs a read miss answered, a race a write's invalidation
        // in flight with it: two clients, reads and writes, room for a miss,
        // a hit and a write.
        Property::StaleReads => {
            c.topology.cache.is_some() && writes && reads && c.topology.clients >= 2 && c.cycles > read + write
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_names_a_property() {
        for f in findings() {
            for (name, _) in f.violates {
                assert!(Property::parse(name).is_some(), "{}: {name} is not a property", f.id);
            }
        }
    }
}
