//! The stateright model: the pure [`Cluster`] stepped one cycle per action.
//!
//! One model step is one cycle. Its [`CycleAction`] records every
//! nondeterministic choice of the cycle: the operation each idle client
//! starts (or none), the replica the root FE picks where the protocol leaves
//! it open, and which nodes crash and how. `next_state` hands exactly these to
//! [`Cluster::step`], the function the runtime calls too, so the model checks
//! the code that runs.
//!
//! The state is the cluster (node states and frames in flight), the history
//! the clients observed, and the crashes so far. The search is bounded by
//! `cycles`, `ops_per_client`, `keys` and `values`.
//!
//! # Layout
//! - [`config`]: what one model checks ([`ModelConfig`]) and the limits.
//! - [`state`]: the state and the action of one cycle.
//! - [`tide`]: [`TideModel`], its construction and limits.
//! - [`actions`]: the actions of a state and the state each leads to.
//! - [`properties`]: whether each property holds, its twin, its reason.
//! - [`symmetry`]: replica symmetry (one representative per class).
//! - [`queues`]: what `latency` and `fifo` observe of the root FE's queue (`--slots`).
//!
//! This module knows nothing of stateright's `Model` trait beyond the
//! property conditions; `crate::checker` implements the trait over these
//! functions and the views of `crate::view`, so the model, the views and the
//! checker import one another in one direction only.

pub mod actions;
pub mod config;
pub mod properties;
pub mod queues;
pub mod state;
pub mod symmetry;
pub mod tide;

pub use config::{
    CrashMode, ModelConfig, OpKind, CYCLES_MAX, KEYS_MAX, MID_SEND_LINKS_MAX, MID_SEND_MASK_LINKS_MAX, V, VALUES_MAX,
};
pub use properties::twin_slot;
pub use state::{CycleAction, Pick, State, Symmetry, Trace};
pub use symmetry::{canonical, representative, symmetric_protocols, Reduction};
pub use tide::TideModel;
