//! What a person reads: a state as text ([`display`]), a path as a timing
//! diagram ([`svg`]), and the Explorer's addresses ([`link`]).

pub mod display;
pub mod link;
pub mod svg;
