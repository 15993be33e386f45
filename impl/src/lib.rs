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
pub mod runtime;
pub mod topology;
