//! `tidekv bench`: the checker against a reference model and against
//! itself, the runtime against its baselines, and how both scale. Part of
//! the binary, not of the `tidekv_model` library's API.

pub mod cache;
pub mod checker;
pub mod cmd;
pub mod durability;
pub mod paxos;
pub mod plot;
pub mod queues;
pub mod scaling;
