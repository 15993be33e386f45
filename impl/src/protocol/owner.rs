//! `owner`: writes for a key go to one deterministic owner among the live
//! replicas (rendezvous hashing), reads to any; the owner sends its writes to
//! the others exactly as `seed` replicas do (the default
//! [`Replication::replica_step`]).

use super::{bits, Dispatch, Finding, PeerLinks, Replication, Scenario};
use crate::node::hash::rendezvous;
use crate::node::Key;

/// One owner per key.
pub struct Owner;

/// The owner's counterexample needs a replica crashing mid-send.
fn mid_send_crash(s: &Scenario) -> bool {
    s.mid_send && s.crashes >= 1
}

impl Replication for Owner {
    /// Client numbers are slot indices and frame order only (see
    /// `Replication::clients_symmetric`).
    fn clients_symmetric(&self) -> bool {
        true
    }

    const NAME: &'static str = "owner";
    const SUMMARY: &'static str =
        "writes for a key go to its rendezvous owner among the live replicas, reads to any; the owner forwards its writes to every peer";

    fn route(&self, key: Key, is_write: bool, live: u32) -> Dispatch {
        if !is_write {
            return Dispatch::Open { candidates: live };
        }
        let owner = 1 << rendezvous(key, bits(live)).expect("live is not empty");
        Dispatch::Fixed {
            targets: owner,
            answer: owner,
        }
    }

    fn peer_links(&self) -> PeerLinks {
        PeerLinks::All
    }

    fn single_writer(&self) -> bool {
        true
    }

    fn findings(&self) -> &'static [Finding] {
        &[Finding {
            id: "F3",
            summary: "owner: the same mid-send crash of the owner loses the acknowledged write, and a read at another replica misses it",
            violates: &[
                ("linearizable", mid_send_crash),
                // Divergence needs two live replicas after the crash.
                ("converged", |s: &Scenario| mid_send_crash(s) && s.replicas >= 3),
                ("no-lost-writes", mid_send_crash),
            ],
        }]
    }
}
