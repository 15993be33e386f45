//! `quorum`: partial-write quorums (W + Q > R) on the lockstep network.
//!
//! The FE sends each write to `W` of the live replicas of its shard and each
//! read to `Q` of them. Which ones is an open choice of the driver (the model
//! explores every subset; the runtime draws one from its seeded generator,
//! outside the node logic), so the writes of a shard spread over its
//! replicas: each replica applies about `W/R` of them instead of all.
//!
//! # Versions
//! The root FE stamps each write with a version: the cycle in which it
//! accepted the write, then the client ([`crate::node::version`]). The
//! global cycle counter of a lockstep network orders writes without any
//! coordination: a write accepted after another was answered has a higher
//! version. A replica keeps the version of each key it holds (a `Delete`
//! leaves a tombstone version) and applies a versioned write only if it is
//! newer, so a write applied twice (a retry, a repair, anti-entropy) changes
//! nothing the second time.
//!
//! # Completion
//! A write completes when all `W` targets acknowledged it; a read when all
//! `Q` answered, with the value of the highest version among the answers.
//! In lockstep the targets of one send answer in the same cycle, so the FE
//! waits for one cycle's answers; if a target dies first, it sends the
//! request again (same tag, same version) to `W` (or `Q`) of the replicas
//! left, and answers `Unavailable` when fewer than that are alive.
//!
//! # Read repair (`--read-repair`)
//! Before answering a read, the FE writes the newest version it saw back to
//! the targets that answered with an older one and waits for their
//! acknowledgements (2 cycles more; the read is answered anyway if one of
//! them dies).
//!
//! # Anti-entropy (`--anti-entropy`)
//! Replicas are linked to each other. Each cycle a replica sends every peer
//! up to [`ANTI_ENTROPY_ENTRIES`] of the entries it holds (value or
//! tombstone with its version), sweeping its keys in order from where it
//! stopped the cycle before; a peer applies the newer ones. Once writes
//! stop, every entry of a live replica reaches every live peer within
//! `ceil(K / B) + 1` cycles for `K` keys and `B` entries per cycle
//! ([`converge_cycles`]).
//!
//! # Operations
//! `get`, `put` and `delete` only: a conditional operation (`insert`,
//! `modify`) decided by one replica that lags would be decided on a stale
//! value, and deciding it on a quorum needs a second round. The
//! configuration refuses them ([`crate::topology::TopologyConfig::validate`]
//! for the runtime, the model's flags for the checker).

use super::{Dispatch, Finding, PeerLinks, Replication, Scenario, Sent};
use crate::node::server::{Server, ServerCtx, Store};
use crate::node::{Frame, Key, Op, OpResult, Outputs, Response, Update, Val, Version};
use serde::{Deserialize, Serialize};

/// Entries a replica sends each peer per cycle for anti-entropy (at most one
/// per slot of a peer frame, so at most the client count).
pub const ANTI_ENTROPY_ENTRIES: usize = 4;

/// The parameters of the quorum protocol. A quorum of 0 means "a majority
/// of the replicas" until [`QuorumParams::resolved`] makes it a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuorumParams {
    /// W: replicas each write goes to (0: a majority).
    pub write: u8,
    /// Q: replicas each read goes to (0: a majority).
    pub read: u8,
    /// Write the newest version back to stale replicas before answering a read.
    pub read_repair: bool,
    /// Replicas exchange entries over peer links in the background.
    pub anti_entropy: bool,
}

impl QuorumParams {
    /// Majorities, no repair, no anti-entropy.
    pub const DEFAULT: QuorumParams = QuorumParams {
        write: 0,
        read: 0,
        read_repair: false,
        anti_entropy: false,
    };

    /// The same with majorities of `replicas` filled in.
    pub fn resolved(self, replicas: usize) -> QuorumParams {
        let majority = (replicas / 2 + 1).min(u8::MAX as usize) as u8;
        let pick = |q: u8| if q == 0 { majority } else { q };
        QuorumParams {
            write: pick(self.write),
            read: pick(self.read),
            ..self
        }
    }

    /// Checks the quorums against the replica count; the message names the flag.
    pub fn validate(self, replicas: usize) -> Result<(), String> {
        let r = self.resolved(replicas);
        for (flag, q) in [("--write-quorum", r.write), ("--read-quorum", r.read)] {
            if q == 0 || q as usize > replicas {
                return Err(format!("{flag} must be 1..={replicas} (the replicas), got {q}"));
            }
        }
        Ok(())
    }

    /// A label, e.g. `W=2 Q=2 +rr +ae`.
    pub fn label(self, replicas: usize) -> String {
        let r = self.resolved(replicas);
        let mut s = format!("W={} Q={}", r.write, r.read);
        if r.read_repair {
            s += " +rr";
        }
        if r.anti_entropy {
            s += " +ae";
        }
        s
    }

    /// The command-line flags that give these parameters.
    pub fn flags(self, replicas: usize) -> String {
        let r = self.resolved(replicas);
        let mut s = format!("--write-quorum {} --read-quorum {}", r.write, r.read);
        if r.read_repair {
            s += " --read-repair";
        }
        if r.anti_entropy {
            s += " --anti-entropy";
        }
        s
    }
}

/// Cycles within which the live replicas agree once writes stop, with
/// anti-entropy, `keys` keys and `clients` slots per peer frame: a sweep of
/// every key sends each entry within `ceil(keys / B)` cycles, and it is
/// applied the cycle after. `None` without anti-entropy: nothing reconciles
/// replicas that a partial write left apart.
pub fn converge_cycles(params: QuorumParams, keys: u32, clients: usize) -> Option<u32> {
    let b = ANTI_ENTROPY_ENTRIES.min(clients).max(1) as u32;
    params.anti_entropy.then(|| keys.div_ceil(b) + 1)
}

/// Partial-write quorums.
pub struct Quorum(pub QuorumParams);

/// The scenario's quorum parameters, resolved.
fn params(s: &Scenario) -> QuorumParams {
    match s.protocol {
        super::Protocol::Quorum(p) => p.resolved(s.replicas),
        _ => QuorumParams::DEFAULT.resolved(s.replicas),
    }
}

/// A write reaches fewer replicas than there are.
fn partial(s: &Scenario) -> bool {
    (params(s).write as usize) < s.replicas
}

/// Whether anti-entropy can leave replicas apart at the start of a cycle
/// (entries in flight counted as applied, as `converged` counts them): when a
/// replica may hold more keys than a sweep sends per cycle, plus one. With
/// fewer, the checker finds every entry in flight every cycle (a new key is
/// sent in the cycle it is written), so `converged` holds: at the bounds
/// checked, C=2 K=1, C=1 K=2 and C=2 K=3 hold, C=1 K=3 does not
/// (docs/RESULTS.md, "quorum").
pub fn apart_despite_anti_entropy(s: &Scenario) -> bool {
    let b = ANTI_ENTROPY_ENTRIES.min(s.clients).max(1) as u32;
    s.keys > b + 1
}

/// The findings of the quorum protocol (docs/RESULTS.md, "quorum").
const FINDINGS: &[Finding] = &[
    Finding {
        id: "Q1",
        summary: "quorum: a write goes to W < R replicas, so the others miss it: replicas stay apart (converged), and without anti-entropy nothing brings them together (converges)",
        violates: &[
            ("converged", |s: &Scenario| partial(s) && (!params(s).anti_entropy || apart_despite_anti_entropy(s))),
            ("converges", |s: &Scenario| partial(s) && !params(s).anti_entropy),
        ],
    },
    Finding {
        id: "Q5",
        summary: "quorum: an FE crashing mid-send delivers a write to some of its targets only: replicas diverge (unobservable: no FE is left to read them)",
        violates: &[
            ("converged", |s: &Scenario| s.crash_fe && s.mid_send),
            ("converges", |s: &Scenario| s.crash_fe && s.mid_send && !params(s).anti_entropy),
        ],
    },
    Finding {
        id: "Q2",
        summary: "quorum: with W + Q <= R a read quorum can miss every replica of a completed write: a stale read, with no failure",
        violates: &[("linearizable", |s: &Scenario| {
            let q = params(s);
            (q.write + q.read) as usize <= s.replicas
        })],
    },
    Finding {
        id: "Q3",
        summary: "quorum: an acknowledged write is held by W replicas; W crashes lose it (fewer than the R - 1 the seed claims for a replicated shard when W < R)",
        // With anti-entropy a replica sends a new entry to its peers in the
        // cycle it applies it (when it holds no more keys than a sweep
        // sends), before the acknowledgement reaches the client: only a
        // crash mid-send loses the write then.
        violates: &[("no-lost-writes", |s: &Scenario| {
            s.crashes >= params(s).write as usize && (s.mid_send || !params(s).anti_entropy)
        })],
    },
    Finding {
        id: "Q4",
        summary: "quorum: a request needs W (write) or Q (read) live replicas: after R - max(W, Q) + 1 crashes some are answered unavailable",
        violates: &[("available", |s: &Scenario| {
            let q = params(s);
            s.crashes + (q.write.max(q.read) as usize) > s.replicas
        })],
    },
    Finding {
        id: "Q6",
        summary: "quorum: with read repair a read takes 4 cycles, or 6 when it repairs: latency is no longer fixed (6 is the bound)",
        violates: &[("latency", |s: &Scenario| params(s).read_repair)],
    },
];

impl Replication for Quorum {
    const NAME: &'static str = "quorum";
    const SUMMARY: &'static str =
        "each write to W of the live replicas, each read to Q, the highest version wins (--write-quorum, --read-quorum, --read-repair, --anti-entropy)";

    fn route(&self, _key: Key, is_write: bool, live: u32) -> Dispatch {
        let size = if is_write { self.0.write } else { self.0.read } as u32;
        if live.count_ones() < size {
            return Dispatch::Unavailable;
        }
        Dispatch::Subset { candidates: live, size }
    }

    fn failover(&self, sent: Sent, live: u32) -> Option<Sent> {
        // Every target must answer: a dead one means sending again.
        (sent.targets & live == sent.targets).then_some(sent)
    }

    fn peer_links(&self) -> PeerLinks {
        if self.0.anti_entropy {
            PeerLinks::All
        } else {
            PeerLinks::None
        }
    }

    fn replica_step<V: Val, S: Store<V>, O: Outputs<V> + ?Sized>(
        &self,
        server: &mut Server<V, S>,
        ctx: &ServerCtx,
        inputs: &[Option<&Frame<V>>],
        outs: &mut O,
    ) {
        step(server, ctx, inputs, outs)
    }

    fn extra_latency(&self, is_write: bool, _replicas: usize) -> u32 {
        // A repair is one more round trip from the FE.
        if !is_write && self.0.read_repair {
            2
        } else {
            0
        }
    }

    fn versioned(&self) -> bool {
        true
    }

    fn read_repair(&self) -> bool {
        self.0.read_repair
    }

    fn converges_lazily(&self) -> bool {
        true
    }

    fn findings(&self) -> &'static [Finding] {
        FINDINGS
    }
}

/// Applies a versioned write if it is newer than what the replica holds.
/// Returns whether it was applied.
pub fn apply_versioned<V: Val, S: Store<V>>(server: &mut Server<V, S>, op: &Op<V>, version: Version) -> bool {
    debug_assert!(version > 0, "a versioned write carries a version");
    let key = op.key();
    if server.versions.by_key.get(&key).is_some_and(|&held| held >= version) {
        return false;
    }
    match op {
        Op::Put(k, v) => {
            server.store.insert(*k, v.clone());
        }
        Op::Delete(k) => {
            server.store.remove(k);
        }
        _ => return false,
    }
    server.versions.by_key.insert(key, version);
    true
}

/// One cycle of a quorum replica: apply the peers' newer entries, serve the
/// FE's requests (reads with the version held, versioned writes), and send
/// the next entries of the anti-entropy sweep to every peer.
fn step<V: Val, S: Store<V>, O: Outputs<V> + ?Sized>(
    server: &mut Server<V, S>,
    ctx: &ServerCtx,
    inputs: &[Option<&Frame<V>>],
    outs: &mut O,
) {
    assert!(!ctx.direct_clients, "a quorum replica sits behind an FE");
    debug_assert_eq!(inputs.len(), 1 + ctx.peers, "replica inputs: FE + peers");
    server.apply_updates(&inputs[1..]);
    if let Some(frame) = inputs[0] {
        for (client, req) in frame.up().iter() {
            let (result, version) = match &req.op {
                Op::Get(k) => (
                    OpResult::Value(server.store.get(k).cloned()),
                    server.versions.by_key.get(k).copied().unwrap_or(0),
                ),
                Op::Put(..) | Op::Delete(_) => {
                    apply_versioned(server, &req.op, req.version);
                    (OpResult::Ok, req.version)
                }
                // Refused by the configuration (see the module documentation).
                Op::Insert(..) | Op::Modify(..) => (OpResult::Unavailable, 0),
            };
            outs.out(0).down_mut().set(
                client,
                Response {
                    tag: req.tag,
                    result,
                    version,
                },
            );
        }
    }
    if ctx.peers > 0 {
        sweep(server, ctx, outs);
    }
}

/// The anti-entropy sweep: the next entries from the key where the last
/// cycle's stopped, wrapping around, to every peer.
fn sweep<V: Val, S: Store<V>, O: Outputs<V> + ?Sized>(server: &mut Server<V, S>, ctx: &ServerCtx, outs: &mut O) {
    let entries = &server.versions.by_key;
    let n = entries.len().min(ANTI_ENTROPY_ENTRIES).min(ctx.clients);
    if n == 0 {
        return;
    }
    let start = entries
        .iter()
        .position(|(k, _)| *k >= server.versions.sweep)
        .unwrap_or(0);
    let all: Vec<(Key, Version)> = entries.iter().map(|(k, v)| (*k, *v)).collect();
    let mut last = 0;
    for i in 0..n {
        let (key, version) = all[(start + i) % all.len()];
        let op = match server.store.get(&key) {
            Some(v) => Op::Put(key, v.clone()),
            None => Op::Delete(key),
        };
        let update = Update {
            tag: 0,
            op,
            result: OpResult::Ok,
            seq: 0,
            version,
        };
        for p in 0..ctx.peers {
            outs.out(1 + p).peer_mut().set(i, update.clone());
        }
        last = key;
    }
    server.versions.sweep = last.wrapping_add(1);
}

/// The `size`-subsets of `candidates`, as bit sets in ascending order.
pub fn subsets(candidates: u32, size: u32) -> impl Iterator<Item = u32> {
    let top = 32 - candidates.leading_zeros();
    (1u64..1u64 << top)
        .map(|m| m as u32)
        .filter(move |m| m & !candidates == 0 && m.count_ones() == size)
}

/// The replicas among `answered` whose version is below the newest.
pub fn stale(answers: impl Iterator<Item = (usize, Version)> + Clone) -> u32 {
    let newest = answers.clone().map(|(_, v)| v).max().unwrap_or(0);
    answers.filter(|&(_, v)| v < newest).fold(0, |m, (r, _)| m | 1 << r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_of_three_replicas() {
        assert_eq!(subsets(0b111, 2).collect::<Vec<_>>(), [0b011, 0b101, 0b110]);
        assert_eq!(subsets(0b101, 2).collect::<Vec<_>>(), [0b101]);
        assert_eq!(subsets(0b110, 1).collect::<Vec<_>>(), [0b010, 0b100]);
    }

    #[test]
    fn majorities_and_bounds() {
        let p = QuorumParams::DEFAULT.resolved(3);
        assert_eq!((p.write, p.read), (2, 2));
        assert_eq!(QuorumParams::DEFAULT.resolved(5).write, 3);
        let bad = QuorumParams {
            write: 4,
            ..QuorumParams::DEFAULT
        };
        assert_eq!(
            bad.validate(3).unwrap_err(),
            "--write-quorum must be 1..=3 (the replicas), got 4"
        );
        assert!(QuorumParams::DEFAULT.validate(1).is_ok());
        let ae = QuorumParams {
            anti_entropy: true,
            ..QuorumParams::DEFAULT
        };
        assert_eq!(converge_cycles(ae, 1, 2), Some(2));
        assert_eq!(converge_cycles(ae, 9, 8), Some(4));
        assert_eq!(converge_cycles(QuorumParams::DEFAULT, 1, 2), None);
    }

    #[test]
    fn routes_to_a_quorum_or_refuses() {
        let q = Quorum(QuorumParams::DEFAULT.resolved(3));
        assert_eq!(
            q.route(0, true, 0b111),
            Dispatch::Subset {
                candidates: 0b111,
                size: 2
            }
        );
        assert_eq!(q.route(0, false, 0b100), Dispatch::Unavailable);
        let sent = Sent {
            targets: 0b011,
            answer: 0b011,
            is_write: true,
        };
        assert_eq!(q.failover(sent, 0b111), Some(sent));
        assert_eq!(q.failover(sent, 0b101), None, "a target died: send again");
    }

    #[test]
    fn stale_answers_are_those_below_the_newest() {
        assert_eq!(stale([(0, 5), (2, 3)].into_iter()), 0b100);
        assert_eq!(stale([(0, 5), (1, 5)].into_iter()), 0);
    }
}
