//! `fanout`: the FE sends every write to all live replicas of the shard and
//! each read to one; replicas never talk to each other. Every live replica
//! applies a write in the same cycle, so the replicas are interchangeable.

use super::{Dispatch, Finding, Replication, Scenario};
use crate::node::Key;

/// Writes to every live replica.
pub struct Fanout;

impl Replication for Fanout {
    /// Client numbers are slot indices and frame order only (see
    /// `Replication::clients_symmetric`).
    fn clients_symmetric(&self) -> bool {
        true
    }

    const NAME: &'static str = "fanout";
    const SUMMARY: &'static str =
        "the FE sends every write to all live replicas and each read to one; replicas never talk to each other (the default)";

    fn route(&self, _key: Key, is_write: bool, live: u32) -> Dispatch {
        if is_write {
            Dispatch::Fixed {
                targets: live,
                answer: live,
            }
        } else {
            Dispatch::Open { candidates: live }
        }
    }

    fn replicas_symmetric(&self) -> bool {
        true
    }

    fn findings(&self) -> &'static [Finding] {
        &[Finding {
            id: "F4",
            summary: "fanout: an FE crashing mid-send delivers a write to some replicas only: replicas diverge (unobservable: no FE is left to read them)",
            violates: &[("converged", |s: &Scenario| s.crash_fe && s.mid_send)],
        }]
    }
}
