//! # tidekv-model
//!
//! The stateright model of tidekv ([`model::TideModel`]), which drives the
//! pure node logic of the `tidekv` crate one cycle per step, and the `tidekv`
//! command line: `check` (exhaustive checks and the default suite), `run` and
//! `node` (the runtime), `verify` (recorded histories), `explore`.
//!
//! # Layers
//! Each module imports only the ones above it in this list, never one below
//! (the test `module_imports_are_acyclic` in `tests/layers.rs` checks it):
//! - [`model`]: the model: configuration, state, actions, properties,
//!   symmetry.
//! - [`view`]: what a person reads: a state as text, a path as a timing
//!   diagram, Explorer links.
//! - [`checker`]: the model as a stateright `Model`, exhaustive and simulated
//!   search, the expected verdicts, the default suite.
//! - [`cli`]: the commands `check`, `explore`, `run`, `node`, `verify`.
//!
//! `tidekv bench` lives in the binary (`src/bench/`), outside this library's
//! API.

pub mod checker;
pub mod cli;
pub mod model;
pub mod view;
