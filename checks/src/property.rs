//! The properties, one enum: each one's name (part of the contract: flags,
//! JSON, docs), its `sometimes` twin, and when it does not apply. Adding a
//! property is one variant here plus its check; every `match` on
//! [`Property`] that must handle it fails to compile until it does.

use std::fmt;
use std::ops::{Index, IndexMut};

/// A property of the store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Property {
    /// Freshness: every client-observed history is linearizable against a
    /// sequential map.
    Linearizable,
    /// At the start of every cycle, all live replicas of a shard hold the
    /// same store (once the updates in flight apply).
    Converged,
    /// Every acknowledged write, until overwritten, is held by a live server.
    NoLostWrites,
    /// Without failures every response arrives exactly at the failure-free
    /// latency; with failures within the derived bound.
    Latency,
    /// Every request gets an answer other than `Unavailable`.
    Available,
    /// Once writes stop, the live replicas of a shard agree within a bound
    /// the protocol derives (for protocols that leave replicas apart by
    /// design and reconcile them in the background).
    Converges,
    /// No read returns a value superseded more than `--max-staleness T`
    /// cycles before the read was invoked (with a cache, or when a bound is
    /// given).
    StaleReads,
    /// Every restarted replica is serving again within a bound derived from
    /// the store's size and the entries transferred per cycle (with
    /// `--recoveries`).
    Rejoins,
    /// Per shard, the root FE's queue (`--slots`) serves in order: no
    /// request is sent to its shard before an earlier one it waited behind.
    Fifo,
}

/// Where a property is evaluated: what decides whether it applies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Scope {
    /// Some shard has two or more replicas.
    pub replicas: bool,
    /// ... and the protocol reconciles them in the background (`quorum`).
    pub lazy: bool,
    /// A staleness bound applies (`--cache` or `--max-staleness`).
    pub staleness: bool,
    /// Dead replicas may restart (`--recoveries`).
    pub recovery: bool,
    /// The root FE queues requests (`--slots`).
    pub queues: bool,
}

impl Property {
    /// Every property, in table order.
    pub const ALL: [Property; 9] = [
        Property::Linearizable,
        Property::Converged,
        Property::NoLostWrites,
        Property::Latency,
        Property::Available,
        Property::Converges,
        Property::StaleReads,
        Property::Rejoins,
        Property::Fifo,
    ];
    /// How many there are.
    pub const COUNT: usize = Property::ALL.len();

    /// The property's name.
    pub const fn name(self) -> &'static str {
        match self {
            Property::Linearizable => "linearizable",
            Property::Converged => "converged",
            Property::NoLostWrites => "no-lost-writes",
            Property::Latency => "latency",
            Property::Available => "available",
            Property::Converges => "converges",
            Property::StaleReads => "stale-reads",
            Property::Rejoins => "rejoins",
            Property::Fifo => "fifo",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Position in [`Property::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name of the `sometimes` twin: a state that shows the property is
    /// not passing vacuously.
    pub const fn twin(self) -> &'static str {
        match self {
            Property::Linearizable => "reached: a write, then a read of it",
            Property::Converged => "reached: two clients race on one key in one cycle",
            Property::NoLostWrites => "reached: an acknowledged write held after a crash",
            Property::Latency => "reached: an operation completes",
            Property::Available => "reached: an operation answered after a crash",
            Property::Converges => "reached: live replicas apart, agreeing once writes stop",
            Property::StaleReads => "reached: a cache hit, a fill, and an invalidation racing a fill",
            Property::Rejoins => "reached: a restarted replica caught up and serves",
            Property::Fifo => "reached: a full queue answers busy",
        }
    }

    /// Whether the property means anything in `scope` (its verdict is `n/a`
    /// otherwise).
    pub const fn applies(self, scope: Scope) -> bool {
        match self {
            Property::Converged => scope.replicas,
            Property::Converges => scope.lazy,
            Property::StaleReads => scope.staleness,
            Property::Rejoins => scope.recovery,
            Property::Fifo => scope.queues,
            Property::Linearizable | Property::NoLostWrites | Property::Latency | Property::Available => true,
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per property, indexed by [`Property`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct PerProperty<T>(pub [T; Property::COUNT]);

impl<T> PerProperty<T> {
    /// A map with `f(p)` for every property.
    pub fn from_fn(mut f: impl FnMut(Property) -> T) -> Self {
        PerProperty(std::array::from_fn(|i| f(Property::ALL[i])))
    }

    /// The properties with their values, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (Property, &T)> {
        Property::ALL.into_iter().zip(self.0.iter())
    }
}

impl<T> Index<Property> for PerProperty<T> {
    type Output = T;
    fn index(&self, p: Property) -> &T {
        &self.0[p.index()]
    }
}

impl<T> IndexMut<Property> for PerProperty<T> {
    fn index_mut(&mut self, p: Property) -> &mut T {
        &mut self.0[p.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_twins_and_indices_are_consistent() {
        for (i, p) in Property::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(Property::parse(p.name()), Some(p));
            assert!(p.twin().starts_with("reached: "));
        }
        let twins: std::collections::BTreeSet<&str> = Property::ALL.iter().map(|p| p.twin()).collect();
        assert_eq!(twins.len(), Property::COUNT, "twins are distinct");
        let scope = |replicas, lazy| Scope {
            replicas,
            lazy,
            staleness: false,
            recovery: false,
            queues: false,
        };
        assert!(!Property::Converged.applies(scope(false, false)));
        assert!(Property::Converged.applies(scope(true, false)));
        assert!(!Property::Converges.applies(scope(true, false)));
        assert!(Property::Converges.applies(scope(true, true)));
        let m = PerProperty::from_fn(|p| p.name().len());
        assert_eq!(m[Property::NoLostWrites], "no-lost-writes".len());
    }
}
