//! # tidekv-model
//!
//! The stateright model of tidekv ([`model::TideModel`]), which drives the
//! pure node logic of the `tidekv` crate one cycle per step, and the `tidekv`
//! command line: `check` (exhaustive checks and the default suite), `run` and
//! `node` (the runtime), `verify` (recorded histories).

pub mod bench_checker;
pub mod bench_cmd;
pub mod bench_paxos;
pub mod bench_scaling;
pub mod check_cmd;
pub mod display;
pub mod expect;
pub mod explore_cmd;
pub mod model;
pub mod plot;
pub mod run_cmd;
pub mod runner;
pub mod simulate;
pub mod suite;
pub mod svg;
pub mod verify_cmd;
