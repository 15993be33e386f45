//! The networked engine: one OS process per node, frames as UDP datagrams
//! on loopback.
//!
//! - [`supervisor`]: `tidekv run --transport udp` writes the cluster file,
//!   starts, supervises and stops the node processes, and gathers their
//!   histories and metrics into one [`Report`](crate::runtime::Report).
//! - [`node`]: `tidekv node --config FILE --id NODE`, one node: logical
//!   synchrony over UDP, failure detection by silence, exact crash cycles.
//! - [`inbox`]: the receive rules (window, drops, duplicates, requests), pure.
//! - [`sys`]: POSIX calls `std` lacks: self-kill, SIGTERM/SIGINT, process
//!   existence.
//!
//! The node processes execute the same pure step functions as
//! [`Cluster::step`](crate::cluster::Cluster::step) and draw from the same
//! named random streams, so without crashes (and with crashes too: a node
//! parks at its exact crash cycle before it is killed) the history equals the
//! in-process engine's, byte for byte, as long as no live node is silent for
//! longer than the death timeout. Lost datagrams are repaired (the receiver
//! asks again; see [`node`]) with the same bytes, so loss does not change
//! the history either.

pub mod inbox;
pub mod node;
pub mod supervisor;
pub mod sys;

pub use node::node_main;
pub use supervisor::{exe_launcher, run, Launcher, UdpOptions};
