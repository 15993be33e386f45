//! Replication protocols: one module per protocol, one registry.
//!
//! A protocol says everything the rest of the system needs to know about how
//! the replicas of a shard are kept consistent, through [`Replication`]:
//!
//! | question | method |
//! |---|---|
//! | which replicas the root FE sends a request to, and whose answer completes it | [`Replication::route`] |
//! | what the FE does when the perfect failure detector reports a death | [`Replication::failover`] |
//! | what a replica does in one cycle (serve, apply, forward to which peers) | [`Replication::replica_step`] |
//! | which peer links the topology wires | [`Replication::peer_links`] |
//! | the failure-free latency it adds, and what a crash may add | [`Replication::extra_latency`], [`Replication::crash_delay`] |
//! | whether replicas are interchangeable (symmetry reduction) | [`Replication::replicas_symmetric`] |
//! | the findings the project records for it (expected violations) | [`Replication::findings`] |
//!
//! The FE and the server stay generic: the FE finds the home shard and the
//! live replicas, and asks the protocol the rest; a server hands its cycle to
//! the protocol's replica step. Everything here is pure node logic.
//!
//! # Adding a protocol
//! Write one file beside this one with a unit struct implementing
//! [`Replication`], and add one line to the [`registry!`] call below. The
//! command line (`--protocol` help and errors), the model, both runtimes,
//! `verify`, the default suite and the expected verdicts pick it up from the
//! registry.

pub mod chain;
pub mod fanout;
pub mod owner;
pub mod quorum;
pub mod seed;

use crate::node::server::{Server, ServerCtx, Store};
use crate::node::{Frame, Key, Outputs, Val};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where the root FE sends a request within its shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// To the replicas in `targets` (a bit set); the first answer carrying
    /// the request's tag from a replica in `answer` completes it.
    Fixed { targets: u32, answer: u32 },
    /// To one of `candidates`, which the driver chooses (the model explores
    /// every choice; the runtime draws one from its seeded generator). The
    /// chosen replica's answer completes it.
    Open { candidates: u32 },
    /// To `size` of `candidates`, which subset the driver chooses (the model
    /// explores every one); only a protocol that is
    /// [`Replication::versioned`] routes so, and every target's answer
    /// completes the request.
    Subset { candidates: u32, size: u32 },
    /// Nowhere: too few replicas are alive; the FE answers `Unavailable`.
    Unavailable,
}

/// A request the FE has sent: to `targets`, completed by an answer from a
/// replica in `answer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub targets: u32,
    pub answer: u32,
    pub is_write: bool,
}

/// Which links a protocol needs between the replicas of a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerLinks {
    /// None: replicas never talk to each other.
    None,
    /// A link from every replica to every other one (their frames are also
    /// each other's failure detector).
    All,
}

/// What a finding depends on: the parts of a model configuration that decide
/// whether a protocol's known counterexample can occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The protocol, with its parameters.
    pub protocol: Protocol,
    pub replicas: usize,
    pub clients: usize,
    pub keys: u32,
    /// Distinct values a write may carry.
    pub values: u8,
    /// Server crashes allowed per shard.
    pub crashes: usize,
    /// Crashing nodes deliver an arbitrary subset of their frames.
    pub mid_send: bool,
    /// The FE may crash.
    pub crash_fe: bool,
}

/// A finding: properties the checker shows violated for a protocol, against
/// the seed's claim, with the counterexample documented in `docs/RESULTS.md`.
#[derive(Clone, Copy, Debug)]
pub struct Finding {
    pub id: &'static str,
    pub summary: &'static str,
    /// The properties it violates, by name (`tidekv_checks::Property`; a
    /// test checks that each names one), each with the scenarios in which
    /// its counterexample can occur.
    pub violates: &'static [(&'static str, fn(&Scenario) -> bool)],
}

/// The interface of a replication protocol (see the module documentation).
/// Every method is pure.
pub trait Replication {
    /// The command-line name (`--protocol NAME`).
    const NAME: &'static str;
    /// One line for `--help`.
    const SUMMARY: &'static str;

    /// Where a request for `key` goes, given the live replicas of its shard
    /// (a bit set with at least two members, unless the protocol is
    /// [`Replication::versioned`]: otherwise a lone live replica gets every
    /// request, whatever the protocol).
    fn route(&self, key: Key, is_write: bool, live: u32) -> Dispatch;

    /// The perfect failure detector reported deaths: `live` replicas of the
    /// shard are left. Returns what the request still waits for, or `None`
    /// to route it again (with the same tag: replicas answer a retried write
    /// from their sessions, so it takes effect once). The default keeps
    /// waiting while one of the targets lives, for the answer of any live
    /// target.
    fn failover(&self, sent: Sent, live: u32) -> Option<Sent> {
        let targets = sent.targets & live;
        (targets != 0).then_some(Sent {
            targets,
            answer: sent.answer & live,
            is_write: sent.is_write,
        })
    }

    /// The links between replicas.
    fn peer_links(&self) -> PeerLinks {
        PeerLinks::None
    }

    /// One cycle of a replica (see [`Server::step_into`] for the inputs and
    /// outputs). The default is the slides' replica: apply every peer's
    /// updates, serve the FE's requests, send the writes served to every
    /// peer (none without peer links).
    fn replica_step<V: Val, S: Store<V>, O: Outputs<V> + ?Sized>(
        &self,
        server: &mut Server<V, S>,
        ctx: &ServerCtx,
        inputs: &[Option<&Frame<V>>],
        outs: &mut O,
    ) {
        server.broadcast_step(ctx, inputs, outs)
    }

    /// Cycles the protocol adds to the topology's failure-free latency for a
    /// read or a write with `replicas` replicas per shard.
    fn extra_latency(&self, _is_write: bool, _replicas: usize) -> u32 {
        0
    }

    /// The most cycles one crash may add to a request's latency: the FE
    /// learns of a death one cycle late and sends the request again, so a
    /// crash costs a round trip from the FE (2 cycles) unless the protocol
    /// says more.
    fn crash_delay(&self, _replicas: usize) -> u32 {
        2
    }

    /// Cycles after which the updates in flight between live replicas have
    /// all been applied (0: they are applied at the start of the next cycle,
    /// as in the slides). `converged` compares the replicas' stores as they
    /// will stand then.
    fn settle_cycles(&self, _replicas: usize) -> u32 {
        0
    }

    /// Whether writes to one key reach one replica at a time (so the
    /// interesting race is two writes at one replica, not at two).
    fn single_writer(&self) -> bool {
        false
    }

    /// Whether the replicas of a shard are interchangeable, so that states
    /// differing by a permutation of them may be merged.
    fn replicas_symmetric(&self) -> bool {
        false
    }

    /// Whether writes carry versions and reads return the newest of several
    /// answers: the root FE stamps each write with a version
    /// ([`crate::node::version`]), waits for the answer of *every* target
    /// (not the first), answers a read with the highest-versioned answer,
    /// and leaves the routing of a lone live replica to the protocol. The
    /// default, `false`, changes nothing in the FE.
    fn versioned(&self) -> bool {
        false
    }

    /// Whether the FE writes the newest version back to the targets of a
    /// read that answered with an older one before answering it (only for
    /// a [`Replication::versioned`] protocol).
    fn read_repair(&self) -> bool {
        false
    }

    /// Whether replicas may differ by design and are reconciled in the
    /// background, so that `converges` (they agree within a bound once
    /// writes stop) is the property to judge them by; `converges` does not
    /// apply otherwise (`converged` holds them to agreeing every cycle).
    fn converges_lazily(&self) -> bool {
        false
    }

    /// Whether clients may be renamed: the protocol uses a client's number
    /// only to index slots and sessions and to order the entries of a frame
    /// (never to choose a replica or otherwise break a tie), and reads a
    /// server's sessions only through [`Server::serve`] and
    /// [`Server::apply_once`]. Then renaming clients while keeping the order
    /// of every client that may still send, and forgetting sessions no
    /// request can reach any more, changes nothing the properties see (the
    /// model merges such states).
    fn clients_symmetric(&self) -> bool {
        false
    }

    /// The findings recorded for the protocol.
    fn findings(&self) -> &'static [Finding] {
        &[]
    }
}

/// The members of a bit set, ascending.
pub fn bits(mut set: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if set == 0 {
            return None;
        }
        let i = set.trailing_zeros() as usize;
        set &= set - 1;
        Some(i)
    })
}

/// The registry: `Variant => module::Type`, one line per protocol. It
/// generates the [`Protocol`] handle and its dispatch to each module.
macro_rules! registry {
    // A variant's pattern, binding its parameters (if any) to `$p`.
    (@pat $variant:ident $p:ident) => { Protocol::$variant };
    (@pat $variant:ident $p:ident $param:ty) => { Protocol::$variant($p) };
    // The protocol's value, built from its parameters.
    (@val $module:ident $ty:ident $p:ident) => { $module::$ty };
    (@val $module:ident $ty:ident $p:ident $param:ty) => { $module::$ty($p) };
    // A variant's pattern, whatever its parameters.
    (@any $variant:ident) => { Protocol::$variant };
    (@any $variant:ident $param:ty) => { Protocol::$variant(_) };
    // A variant with default parameters.
    (@default $variant:ident) => { Protocol::$variant };
    (@default $variant:ident $param:ty) => { Protocol::$variant(<$param>::DEFAULT) };
    ($($variant:ident $(($param:ty))? => $module:ident :: $ty:ident),+ $(,)?) => {
        /// A registered replication protocol (see the module documentation),
        /// with its parameters where it has any.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        pub enum Protocol {
            $(
                #[doc = concat!("[`", stringify!($module), "::", stringify!($ty), "`]")]
                $variant $(($param))?,
            )+
        }

        impl Protocol {
            /// Every registered protocol, in registry order, with default
            /// parameters.
            pub const ALL: [Protocol; [$(stringify!($variant)),+].len()] = [$(registry!(@default $variant $($param)?)),+];

            /// The protocol's command-line name.
            pub fn name(self) -> &'static str {
                match self { $(registry!(@any $variant $($param)?) => <$module::$ty as Replication>::NAME),+ }
            }

            /// One line describing the protocol.
            pub fn summary(self) -> &'static str {
                match self { $(registry!(@any $variant $($param)?) => <$module::$ty as Replication>::SUMMARY),+ }
            }

            /// See [`Replication::route`].
            pub fn route(self, key: Key, is_write: bool, live: u32) -> Dispatch {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).route(key, is_write, live)),+ }
            }

            /// See [`Replication::failover`].
            pub fn failover(self, sent: Sent, live: u32) -> Option<Sent> {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).failover(sent, live)),+ }
            }

            /// See [`Replication::peer_links`].
            pub fn peer_links(self) -> PeerLinks {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).peer_links()),+ }
            }

            /// See [`Replication::replica_step`].
            #[inline]
            pub fn replica_step<V: Val, S: Store<V>, O: Outputs<V> + ?Sized>(
                self,
                server: &mut Server<V, S>,
                ctx: &ServerCtx,
                inputs: &[Option<&Frame<V>>],
                outs: &mut O,
            ) {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).replica_step(server, ctx, inputs, outs)),+ }
            }

            /// See [`Replication::extra_latency`].
            pub fn extra_latency(self, is_write: bool, replicas: usize) -> u32 {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).extra_latency(is_write, replicas)),+ }
            }

            /// See [`Replication::crash_delay`].
            pub fn crash_delay(self, replicas: usize) -> u32 {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).crash_delay(replicas)),+ }
            }

            /// See [`Replication::settle_cycles`].
            pub fn settle_cycles(self, replicas: usize) -> u32 {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).settle_cycles(replicas)),+ }
            }

            /// See [`Replication::single_writer`].
            pub fn single_writer(self) -> bool {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).single_writer()),+ }
            }

            /// See [`Replication::replicas_symmetric`].
            pub fn replicas_symmetric(self) -> bool {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).replicas_symmetric()),+ }
            }

            /// See [`Replication::versioned`].
            pub fn versioned(self) -> bool {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).versioned()),+ }
            }

            /// See [`Replication::read_repair`].
            pub fn read_repair(self) -> bool {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).read_repair()),+ }
            }

            /// See [`Replication::converges_lazily`].
            pub fn converges_lazily(self) -> bool {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).converges_lazily()),+ }
            }

            /// See [`Replication::clients_symmetric`].
            pub fn clients_symmetric(self) -> bool {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).clients_symmetric()),+ }
            }

            /// See [`Replication::findings`].
            pub fn findings(self) -> &'static [Finding] {
                match self { $(registry!(@pat $variant p $($param)?) => registry!(@val $module $ty p $($param)?).findings()),+ }
            }
        }
    };
}

registry! {
    Seed => seed::Seed,
    Owner => owner::Owner,
    Fanout => fanout::Fanout,
    Chain => chain::Chain,
    Quorum(quorum::QuorumParams) => quorum::Quorum,
}

impl Protocol {
    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The registered names, `a | b | c`, for help texts.
    pub fn names(sep: &str) -> String {
        Protocol::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(sep)
    }

    /// The error for an unknown name, listing the registered ones.
    pub fn unknown(s: &str) -> String {
        format!("unknown protocol {s:?}: expected one of {}", Protocol::names(", "))
    }

    /// The protocol with every parameter that depends on the replica count
    /// made a number (a quorum's majorities): what the nodes run.
    pub fn resolved(self, replicas: usize) -> Protocol {
        match self {
            Protocol::Quorum(q) => Protocol::Quorum(q.resolved(replicas)),
            p => p,
        }
    }

    /// The protocol's parameters, if it has any.
    pub fn quorum(self) -> Option<quorum::QuorumParams> {
        match self {
            Protocol::Quorum(q) => Some(q),
            _ => None,
        }
    }

    /// Checks the parameters against the replica count; the message names
    /// the flag.
    pub fn validate(self, replicas: usize) -> Result<(), String> {
        match self {
            Protocol::Quorum(q) => q.validate(replicas),
            _ => Ok(()),
        }
    }

    /// The name with its parameters, e.g. `quorum W=2 Q=2 +rr`.
    pub fn label(self, replicas: usize) -> String {
        match self {
            Protocol::Quorum(q) => format!("{} {}", self.name(), q.label(replicas)),
            p => p.name().to_string(),
        }
    }

    /// The command-line flags that select this protocol with its parameters.
    pub fn flags(self, replicas: usize) -> String {
        match self {
            Protocol::Quorum(q) => format!("--protocol {} {}", self.name(), q.flags(replicas)),
            p => format!("--protocol {}", p.name()),
        }
    }

    /// Whether replicas exchange frames (and so have peer links).
    pub fn has_peer_links(self) -> bool {
        self.peer_links() != PeerLinks::None
    }

    /// Every finding of every protocol, with its protocol.
    pub fn all_findings() -> impl Iterator<Item = (Protocol, &'static Finding)> {
        Protocol::ALL
            .into_iter()
            .flat_map(|p| p.findings().iter().map(move |f| (p, f)))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.name()), Some(p));
            assert_eq!(Protocol::ALL.iter().filter(|q| q.name() == p.name()).count(), 1);
        }
        assert_eq!(Protocol::parse("paxos"), None);
        assert!(Protocol::unknown("paxos").contains("seed, owner, fanout, chain, quorum"));
    }

    #[test]
    fn finding_ids_are_unique() {
        let ids: Vec<&str> = Protocol::all_findings().map(|(_, f)| f.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids.len(), sorted.len(), "{ids:?}");
    }
}
