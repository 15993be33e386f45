//! # tidekv
//!
//! A key-value store for logically synchronous, statically scheduled networks
//! (bittide), built as a protocol design lab.
//!
//! This crate draws the line between logic and IO, as `quinn-proto` does:
//! - [`node`] is the pure per-cycle logic of every node (client, front end,
//!   server/shard/replica) for every protocol. No IO, no clocks, no
//!   randomness, no global state: time is the cycle number the driver counts,
//!   and every "random" choice is an argument.
//! - [`protocol`] is the replication protocols, one module each behind one
//!   interface, and their registry (pure node logic too).
//! - [`topology`] is the static wiring; [`cluster`] steps a whole cluster in
//!   lockstep (still pure: the stateright model's state *is* a
//!   [`cluster::Cluster`]).
//! - [`history`] records what clients observed.
//!
//! The drivers are the stateright model (crate `tidekv-model`) and the
//! runtimes, which feed inputs and deliver the frames the nodes return.

pub mod cluster;
pub mod history;
pub mod node;
pub mod protocol;
pub mod runtime;
pub mod topology;

/// A tiny deterministic generator for the unit tests' random cases.
#[cfg(test)]
pub(crate) struct Lcg(pub u64);

#[cfg(test)]
impl Lcg {
    /// Uniform enough in `0..n` for a test (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
