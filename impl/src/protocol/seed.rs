//! `seed`: the slides' protocol. The FE sends each request to one replica
//! chosen at random (in the model: every choice is explored); each replica,
//! each cycle, applies the updates its peers sent, serves its requests, and
//! sends the writes it served to every peer (the default
//! [`Replication::replica_step`]).

use super::{Dispatch, Finding, PeerLinks, Replication, Scenario};
use crate::node::Key;

/// The slides' protocol.
pub struct Seed;

impl Replication for Seed {
    /// Client numbers are slot indices and frame order only (see
    /// `Replication::clients_symmetric`).
    fn clients_symmetric(&self) -> bool {
        true
    }

    const NAME: &'static str = "seed";
    const SUMMARY: &'static str =
        "the slides: the FE sends each request to one replica chosen at random; replicas forward the writes they served to every peer";

    fn route(&self, _key: Key, _is_write: bool, live: u32) -> Dispatch {
        Dispatch::Open { candidates: live }
    }

    fn peer_links(&self) -> PeerLinks {
        PeerLinks::All
    }

    fn findings(&self) -> &'static [Finding] {
        &[
            Finding {
                id: "F1",
                summary: "seed: two writes to one key served at two replicas in one cycle swap values: replicas diverge and reads disagree, with no failure",
                violates: &[
                    ("linearizable", |_| true),
                    // Divergence needs two different values to swap.
                    ("converged", |s: &Scenario| s.values >= 2),
                ],
            },
            Finding {
                id: "F2",
                summary: "seed: a replica crashing mid-send after answering a write but before its update reaches a peer loses the acknowledged write (1 crash, R=2)",
                violates: &[("no-lost-writes", |s: &Scenario| s.mid_send && s.crashes >= 1)],
            },
        ]
    }
}
