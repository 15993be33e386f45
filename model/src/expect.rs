//! What the seed claims for each configuration and property, and the verdict
//! the project expects: the seed's claim, unless a finding documented in
//! `docs/RESULTS.md` refutes it with a counterexample.

use crate::model::{prop, ModelConfig, OpKind};
use tidekv::node::Protocol;
use tidekv::topology::Kind;
use tidekv_checks::Verdict;

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
pub fn seed_claim(c: &ModelConfig, p: usize) -> Claim {
    let kind = c.topology.kind;
    let replicas = kind == Kind::Replicated && c.topology.replicas > 1;
    let failures = c.crashes > 0 || c.crash_fe;
    match p {
        prop::LINEARIZABLE => {
            if kind == Kind::Sharded && c.crashes > 0 {
                Claim::Violated // "loss of data on the failed shard"
            } else {
                Claim::Holds
            }
        }
        prop::CONVERGED => {
            if replicas {
                Claim::Holds // "replica updates are processed exactly in 1 cycle"
            } else {
                Claim::NotApplicable
            }
        }
        prop::NO_LOST_WRITES => {
            if fatal_server_crashes(c) || (kind == Kind::Sharded && c.crashes > 0) {
                Claim::Violated
            } else {
                Claim::Holds // "FE server failure is fatal; no state is lost"
            }
        }
        prop::LATENCY => {
            if failures {
                Claim::None
            } else {
                Claim::Holds // "latencies are known and fixed"
            }
        }
        prop::AVAILABLE => {
            if fatal_server_crashes(c) || c.crash_fe {
                Claim::Violated // "server failure is fatal!", "FE server failure is fatal"
            } else {
                Claim::Holds
            }
        }
        _ => unreachable!(),
    }
}

/// A finding that refutes (or sharpens) a seed claim: id and one line.
pub struct Finding {
    pub id: &'static str,
    pub summary: &'static str,
}

/// The findings, documented with their counterexamples in `docs/RESULTS.md`.
pub const FINDINGS: &[Finding] = &[
    Finding {
        id: "F1",
        summary: "seed: two writes to one key served at two replicas in one cycle swap values: replicas diverge and reads disagree, with no failure",
    },
    Finding {
        id: "F2",
        summary: "seed: a replica crashing mid-send after answering a write but before its update reaches a peer loses the acknowledged write (1 crash, R=2)",
    },
    Finding {
        id: "F3",
        summary: "owner: the same mid-send crash of the owner loses the acknowledged write, and a read at another replica misses it",
    },
    Finding {
        id: "F4",
        summary: "fanout: an FE crashing mid-send delivers a write to some replicas only: replicas diverge (unobservable: no FE is left to read them)",
    },
];

/// The verdict the project expects, with the finding behind it where it is
/// not simply the seed's claim.
pub fn expected(c: &ModelConfig, p: usize) -> (Verdict, Option<&'static str>) {
    let t = &c.topology;
    let replicated = t.kind == Kind::Replicated && t.replicas > 1;
    let mid_send = c.crash_mode == crate::model::CrashMode::MidSend;
    let (seed, owner, fanout) = (
        t.protocol == Protocol::Seed,
        t.protocol == Protocol::Owner,
        t.protocol == Protocol::Fanout,
    );
    let replica_mid_send = replicated && mid_send && c.crashes >= 1;
    let finding = match p {
        prop::LINEARIZABLE if replicated && seed => Some("F1"),
        prop::LINEARIZABLE if replica_mid_send && owner => Some("F3"),
        // Divergence needs two different values to swap.
        prop::CONVERGED if replicated && seed && c.values >= 2 => Some("F1"),
        // Divergence needs two live replicas after the crash.
        prop::CONVERGED if replica_mid_send && owner && t.replicas >= 3 => Some("F3"),
        prop::CONVERGED if replicated && fanout && c.crash_fe && mid_send => Some("F4"),
        prop::NO_LOST_WRITES if replica_mid_send && seed => Some("F2"),
        prop::NO_LOST_WRITES if replica_mid_send && owner => Some("F3"),
        _ => None,
    };
    if let Some(f) = finding {
        return (Verdict::Violated, Some(f));
    }
    let v = match seed_claim(c, p) {
        Claim::Holds | Claim::None => Verdict::Holds,
        Claim::Violated => Verdict::Violated,
        Claim::NotApplicable => Verdict::NotApplicable,
    };
    (v, None)
}

/// Whether the `sometimes` twin of property `p` must be reached for its
/// verdict to mean anything in this configuration.
pub fn twin_expected(c: &ModelConfig, p: usize) -> bool {
    let writes = c.ops.iter().any(|o| *o != OpKind::Get);
    let reads = c.ops.contains(&OpKind::Get);
    let total_ops = c.ops_per_client * c.topology.clients as u32;
    let lat = c.topology.latency_cycles();
    match p {
        prop::LINEARIZABLE => writes && reads && total_ops >= 2 && c.cycles > 2 * lat,
        prop::CONVERGED => writes && c.topology.clients >= 2 && c.cycles > lat / 2,
        // A single server's crash leaves no server to hold anything.
        prop::NO_LOST_WRITES => {
            writes && (c.crashes > 0 || c.crash_fe) && c.topology.kind != Kind::Single && c.cycles > lat
        }
        prop::LATENCY => c.cycles > lat,
        prop::AVAILABLE => c.crashes > 0 && c.topology.kind != Kind::Single && c.cycles > lat + 2,
        _ => unreachable!(),
    }
}

/// Whether the protocol sends writes for one key to one server at a time.
pub fn single_writer(c: &ModelConfig) -> bool {
    c.topology.kind != Kind::Replicated || c.topology.replicas == 1 || c.topology.protocol == Protocol::Owner
}
