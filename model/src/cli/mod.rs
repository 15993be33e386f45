//! The `tidekv` commands, one module each, and the flags they share
//! ([`args`]).

pub mod args;
pub mod check;
pub mod compare;
pub mod explore;
pub mod explorer_api;
pub mod http;
pub mod run;
pub mod verify;
