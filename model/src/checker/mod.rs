//! The checker: [`crate::model::TideModel`] as a stateright `Model`
//! (`model_impl`), exhaustive search ([`runner`]), random walks
//! ([`simulate`]), the verdicts each configuration should give ([`expect`]),
//! and the default suite ([`suite`]).

mod model_impl;

pub mod expect;
pub mod runner;
pub mod simulate;
pub mod suite;
