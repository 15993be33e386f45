//! `chain`: chain replication (van Renesse & Schneider, OSDI 2004) on the
//! lockstep network.
//!
//! The live replicas of a shard form a chain in replica order. The FE sends
//! writes to the *head* (the lowest live replica) and reads to the *tail*
//! (the highest); each replica applies the updates from its predecessor and
//! the writes it serves, and forwards them to its successor; the tail
//! answers the FE, for writes and reads alike. A write is acknowledged only
//! once the tail applied it, and every replica holds a prefix of its
//! predecessor's writes, so a read at the tail sees every acknowledged write.
//!
//! # Latency
//! A read takes the topology's latency; a write travels the chain first,
//! `R − 1` extra hops: `latency + R − 1` cycles without failures. A crash
//! adds at most `max(R, 2)` cycles (see `crash_delay` below).
//!
//! # Re-linking on a death (the perfect failure detector)
//! Every replica has a link to every other one, so a missing frame tells
//! each replica which peers are dead; each one computes its successor as the
//! next live replica. When its successor changes (a death), a replica
//! re-sends the updates it forwarded in the last [`WINDOW`] cycles (its
//! "sent" list): the dead successor may have died before passing them on.
//! [`WINDOW`] is 3 because a replica learns of its successor's death one or
//! two cycles after the crash cycle (two when the dying node still delivered
//! its last frame to it), and the crashing successor may have left the
//! updates of the cycle before its crash unforwarded. Updates carry their
//! order within the frame (`seq`), so a re-sent batch is applied in the order
//! the head applied it; a replica applies an update only if its tag is newer
//! than the session of its client, so nothing is applied twice. Only a
//! replica whose successor has a successor keeps a sent list: when the tail
//! dies, its predecessor becomes the tail holding every update the old tail
//! had, and the FE sends the unanswered requests again.
//!
//! The FE keeps waiting while the head and the tail it sent to live (a
//! middle replica's death is repaired by the re-send), and otherwise sends
//! the request again, to the new head (writes) or the new tail (reads);
//! replicas answer a retried write from their sessions and pass it on, so
//! the new tail answers it.

use super::{Dispatch, PeerLinks, Replication, Sent};
use crate::node::server::{Server, ServerCtx, Store};
use crate::node::{ClientId, Frame, Key, Outputs, Response, Update, Val};

/// Chain replication.
pub struct Chain;

/// Cycles of forwarded updates a replica keeps to re-send after a re-link.
pub const WINDOW: usize = 3;

// A replica index fits the relay's `u8`, and a frame's updates (one per
// client) number their order in a `u16`.
const _: () = assert!(crate::topology::REPLICAS_MAX <= u8::MAX as usize);
const _: () = assert!(crate::topology::CLIENTS_MAX <= u16::MAX as usize);

fn head(live: u32) -> u32 {
    1 << live.trailing_zeros()
}

fn tail(live: u32) -> u32 {
    1 << (31 - live.leading_zeros())
}

impl Replication for Chain {
    /// Client numbers are slot indices and frame order only (see
    /// `Replication::clients_symmetric`).
    fn clients_symmetric(&self) -> bool {
        true
    }

    const NAME: &'static str = "chain";
    const SUMMARY: &'static str =
        "chain replication: writes enter at the head and travel the chain of live replicas, the tail answers and serves reads; re-linked on a death";

    fn route(&self, _key: Key, is_write: bool, live: u32) -> Dispatch {
        let targets = if is_write { head(live) } else { tail(live) };
        Dispatch::Fixed {
            targets,
            answer: tail(live),
        }
    }

    fn failover(&self, sent: Sent, live: u32) -> Option<Sent> {
        let ends = sent.targets | sent.answer;
        (ends & live == ends).then_some(sent)
    }

    fn peer_links(&self) -> PeerLinks {
        PeerLinks::All
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

    fn extra_latency(&self, is_write: bool, replicas: usize) -> u32 {
        if is_write {
            replicas as u32 - 1
        } else {
            0
        }
    }

    fn crash_delay(&self, replicas: usize) -> u32 {
        // The worst crash is the tail's just before a write reaches it: the
        // FE learns of it one or two cycles later and sends the write through
        // the R - 1 replicas left, R cycles later than the old tail would
        // have answered. A head or middle crash costs 1 (2 when the dying node
        // still delivered its last frame to the FE or its predecessor), as
        // in the other protocols. The checker finds `latency` violated with
        // one cycle less (scripts/chain-ablations.sh delay).
        (replicas as u32).max(2)
    }

    fn settle_cycles(&self, replicas: usize) -> u32 {
        // The chain's length, plus the cycles a re-link takes to be noticed.
        replicas as u32 + WINDOW as u32
    }

    fn single_writer(&self) -> bool {
        true
    }
}

/// Answers `client` on the FE link unless a newer answer is already there
/// (a re-sent old write and a new read may reach the tail in one cycle).
fn answer<V: Val, O: Outputs<V> + ?Sized>(outs: &mut O, client: ClientId, resp: Response<V>) {
    let slots = outs.out(0).down_mut();
    if slots.get(client).is_none_or(|old| old.tag < resp.tag) {
        slots.set(client, resp);
    }
}

/// One cycle of a chain replica.
fn step<V: Val, S: Store<V>, O: Outputs<V> + ?Sized>(
    server: &mut Server<V, S>,
    ctx: &ServerCtx,
    inputs: &[Option<&Frame<V>>],
    outs: &mut O,
) {
    assert!(!ctx.direct_clients, "a chain replica sits behind an FE");
    let me = ctx.replica;
    let peer = |r: usize| 1 + if r < me { r } else { r - 1 };
    let alive = |r: usize| r == me || inputs[peer(r)].is_some();
    let next = (me + 1..ctx.replicas).find(|&r| alive(r));
    let mut batch: Vec<(ClientId, Update<V>)> = Vec::new();
    // 1. The updates from the predecessors (any live lower replica: after a
    //    re-link two may speak in one cycle), each frame in its order.
    for r in 0..me {
        let Some(frame) = inputs[peer(r)] else { continue };
        let mut updates: Vec<(ClientId, &Update<V>)> = frame.peer().iter().collect();
        updates.sort_by_key(|(c, u)| (u.seq, *c));
        for (client, update) in updates {
            server.apply_once(client, update);
            batch.push((client, update.clone()));
        }
    }
    // 2. The FE's requests: it sends writes to the head and reads to the
    //    tail, as it sees them; serve what it sends.
    if let Some(frame) = inputs[0] {
        for (client, req) in frame.up().iter() {
            let result = server.serve(client, req);
            if req.op.is_write() {
                let (tag, op, seq) = (req.tag, req.op.clone(), 0);
                batch.push((
                    client,
                    Update {
                        tag,
                        op,
                        result,
                        seq,
                        version: 0,
                    },
                ));
            } else {
                answer(
                    outs,
                    client,
                    Response {
                        tag: req.tag,
                        result,
                        version: 0,
                    },
                );
            }
        }
    }
    // 3. Forward to the successor (re-sending the sent list if it changed),
    //    or, as the tail, answer.
    let relay = &mut server.relay;
    match next {
        Some(n) => {
            let relinked = relay.next.is_some_and(|old| old as usize != n);
            if ctx.recovery.is_some() {
                // A restarted replica joined behind this one, the tail until
                // now: the FE still waits for this replica's answer to the
                // writes it routed before it saw the new tail, so answer
                // them too for as many cycles as a write takes to get here.
                // (`next` is also `None` before the first cycle: a replica
                // that was never the tail answers its first writes too,
                // which the FE ignores: it takes answers from the tail it
                // routed to only.)
                if relay.next.is_none() {
                    relay.was_tail = ctx.replicas as u8 + 1;
                }
                if relay.was_tail > 0 {
                    relay.was_tail -= 1;
                    for (client, u) in &batch {
                        let resp = Response {
                            tag: u.tag,
                            result: u.result.clone(),
                            version: 0,
                        };
                        answer(outs, *client, resp);
                    }
                }
            }
            let slots = outs.out(peer(n)).peer_mut();
            let mut sent = Vec::new();
            let resend = relay.sent.iter().flatten().filter(|_| relinked);
            for (client, update) in resend.chain(batch.iter()) {
                if slots.get(*client).is_none() {
                    let seq = sent.len() as u16;
                    slots.set(*client, Update { seq, ..update.clone() });
                    sent.push((
                        *client,
                        Update {
                            seq: 0,
                            ..update.clone()
                        },
                    ));
                }
            }
            // Only a successor in the middle of the chain can die with
            // updates it did not pass on: a dying tail leaves this replica
            // the tail, holding them all (the FE sends the unanswered ones
            // again). So the sent list is kept only while the successor has
            // a successor.
            // With recovery a restarted replica may join behind the tail,
            // which then becomes a middle replica without this one having
            // kept its sent list: keep it always then.
            if ctx.recovery.is_some() || (n + 1..ctx.replicas).any(|r| alive(r)) {
                relay.sent.push(sent);
                if relay.sent.len() > WINDOW {
                    relay.sent.remove(0);
                }
            } else {
                relay.sent.clear();
            }
        }
        None => {
            for (client, u) in &batch {
                let resp = Response {
                    tag: u.tag,
                    result: u.result.clone(),
                    version: 0,
                };
                answer(outs, *client, resp);
            }
            relay.sent.clear();
        }
    }
    relay.next = next.map(|n| n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_enter_at_the_head_and_the_tail_answers() {
        assert_eq!(
            Chain.route(0, true, 0b111),
            Dispatch::Fixed {
                targets: 0b001,
                answer: 0b100
            }
        );
        assert_eq!(
            Chain.route(0, false, 0b110),
            Dispatch::Fixed {
                targets: 0b100,
                answer: 0b100
            }
        );
        let w = Sent {
            targets: 0b001,
            answer: 0b100,
            is_write: true,
        };
        assert_eq!(
            Chain.failover(w, 0b101),
            Some(w),
            "a middle death is repaired by the re-send"
        );
        assert_eq!(Chain.failover(w, 0b110), None, "the head died");
        assert_eq!(Chain.failover(w, 0b011), None, "the tail died");
    }
}
