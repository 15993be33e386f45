//! [`VecMap`] and [`VecSet`]: ordered maps and sets kept as sorted vectors.
//!
//! The model checker clones, hashes, compares and drops every state it
//! visits, and the maps in a state — each server's store ([`VecStore`]), the
//! linearizability monitor's keys, candidates and configurations — hold a
//! handful of entries. A sorted vector does each of those in one pass over
//! one allocation (none when empty), where a `BTreeMap` walks and allocates
//! tree nodes. They behave as the `BTreeMap`/`BTreeSet` they replace: the
//! same contents, the same equality and order (entries in key order,
//! compared lexicographically), and they print alike (`{0: 1}`, `{a, b}`),
//! so no state count, trace or message changed with them.

use super::server::Store;
use super::{Key, Val};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// The model's store: keys to values, sorted by key.
pub type VecStore<V> = VecMap<Key, V>;

/// An ordered map kept as a vector of `(key, value)` sorted by key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K: Ord, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        VecMap(Vec::new())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + '_ {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + '_ {
        self.0.iter().map(|(_, v)| v)
    }

    /// The values in key order, to change.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator + '_ {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// The entries in key order, their values to change.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator + '_ {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The value held for `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    /// The value held for `k`, to change.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|i| &mut self.0[i].1)
    }

    /// Holds `v` for `k`; returns what `k` held before.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    /// Forgets `k`; returns what it held.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.find(k).ok().map(|i| self.0.remove(i).1)
    }

    /// The value held for `k`, first made by `make` if there is none.
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&k) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (k, make()));
                i
            }
        };
        &mut self.0[i].1
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(j, _)| j.cmp(k))
    }
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<V: Val> Store<V> for VecMap<Key, V> {
    fn get(&self, k: &Key) -> Option<&V> {
        VecMap::get(self, k)
    }
    fn get_mut(&mut self, k: &Key) -> Option<&mut V> {
        VecMap::get_mut(self, k)
    }
    fn insert(&mut self, k: Key, v: V) -> Option<V> {
        VecMap::insert(self, k, v)
    }
    fn remove(&mut self, k: &Key) -> Option<V> {
        VecMap::remove(self, k)
    }
    fn entries_after(&self, after: Option<Key>, n: usize) -> Vec<(Key, V)> {
        let start = after.map_or(0, |a| self.0.partition_point(|(k, _)| *k <= a));
        self.0[start..].iter().take(n).cloned().collect()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    /// Later entries replace earlier ones with the same key, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut v: Vec<(K, V)> = entries.into_iter().collect();
        // Stable: equal keys keep their order, and the last one wins below.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(K, V)> = Vec::with_capacity(v.len());
        for (k, x) in v {
            match out.last_mut() {
                Some((last, y)) if *last == k => *y = x,
                _ => out.push((k, x)),
            }
        }
        VecMap(out)
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for VecMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    /// As a map prints: `{0: 1, 3: 2}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(k, v)| (k, v))).finish()
    }
}

impl<K: Serialize, V: Serialize> Serialize for VecMap<K, V> {
    /// As a map.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for VecMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
            type Value = VecMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<VecMap<K, V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(kv) = m.next_entry::<K, V>()? {
                    entries.push(kv);
                }
                Ok(entries.into_iter().collect())
            }
        }
        d.deserialize_map(Entries(PhantomData))
    }
}

/// An ordered set kept as a sorted vector without duplicates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VecSet<T>(Vec<T>);

impl<T: Ord> VecSet<T> {
    /// An empty set.
    pub const fn new() -> Self {
        VecSet(Vec::new())
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets every member.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The members in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        VecSet(Vec::new())
    }
}

impl<T: Ord> FromIterator<T> for VecSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(members: I) -> Self {
        let mut v: Vec<T> = members.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        VecSet(v)
    }
}

impl<T: Ord, const N: usize> From<[T; N]> for VecSet<T> {
    fn from(members: [T; N]) -> Self {
        members.into_iter().collect()
    }
}

impl<T> IntoIterator for VecSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    /// The members in order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for VecSet<T> {
    /// As a set prints: `{a, b}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::server::execute;
    use crate::node::Op;
    use std::collections::BTreeMap;

    /// Every operation sequence gives the same answers and contents as on
    /// an ordered map; equality, order and the printed form are the map's.
    #[test]
    fn behaves_as_the_ordered_map() {
        let mut rng = crate::Lcg(7);
        let mut next = |n: u64| rng.below(n);
        let mut stores: Vec<(BTreeMap<Key, u8>, VecStore<u8>)> = Vec::new();
        for _ in 0..40 {
            let (mut a, mut b) = (BTreeMap::new(), VecStore::new());
            for _ in 0..next(12) {
                let (k, v) = (next(5) as Key, next(3) as u8);
                let op = match next(5) {
                    0 => Op::Get(k),
                    1 => Op::Put(k, v),
                    2 => Op::Delete(k),
                    3 => Op::Insert(k, v),
                    _ => Op::Modify(k, v),
                };
                assert_eq!(execute(&mut a, &op), execute(&mut b, &op), "{op:?}");
                assert_eq!(
                    b.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
                    a.clone().into_iter().collect::<Vec<_>>()
                );
            }
            assert_eq!(format!("{b:?}"), format!("{a:?}"));
            assert_eq!(b.len(), a.len());
            stores.push((a, b));
        }
        for (a1, b1) in &stores {
            for (a2, b2) in &stores {
                assert_eq!(b1.cmp(b2), a1.cmp(a2));
                assert_eq!(b1 == b2, a1 == a2);
            }
        }
    }

    #[test]
    fn sets_behave_as_ordered_sets() {
        use std::collections::BTreeSet;
        let lists: [&[u8]; 6] = [&[], &[1], &[2, 1], &[1, 1, 2], &[3, 0, 3], &[0, 3]];
        for a in lists {
            for b in lists {
                let (sa, sb): (VecSet<u8>, VecSet<u8>) = (a.iter().copied().collect(), b.iter().copied().collect());
                let (ta, tb): (BTreeSet<u8>, BTreeSet<u8>) = (a.iter().copied().collect(), b.iter().copied().collect());
                assert_eq!(sa.cmp(&sb), ta.cmp(&tb), "{a:?} vs {b:?}");
                assert_eq!(sa == sb, ta == tb);
                assert_eq!(format!("{sa:?}"), format!("{ta:?}"));
                assert_eq!(sa.len(), ta.len());
                assert_eq!(sa.into_iter().collect::<Vec<_>>(), ta.into_iter().collect::<Vec<_>>());
            }
        }
        let mut m: VecMap<(u16, u32), u8> = VecMap::new();
        *m.get_or_insert_with((1, 0), || 5) += 1;
        *m.get_or_insert_with((1, 0), || 9) += 1;
        m.get_or_insert_with((0, 7), || 1);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![1, 7]);
        for v in m.values_mut() {
            *v = 0;
        }
        assert_eq!(format!("{m:?}"), "{(0, 7): 0, (1, 0): 0}");
        let mut s = VecSet::from([2, 1]);
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert!(!s.is_empty() && !m.is_empty());
        s.clear();
        assert!(s.is_empty() && s.iter().next().is_none());
    }

    #[test]
    fn builds_and_serializes_as_a_map() {
        let s: VecStore<u8> = [(3, 1), (0, 2), (3, 4)].into();
        let m: BTreeMap<Key, u8> = [(3, 1), (0, 2), (3, 4)].into();
        assert_eq!(s.iter().map(|(k, v)| (*k, *v)).collect::<BTreeMap<_, _>>(), m);
        let bytes = postcard::to_allocvec(&s).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&m).unwrap());
        assert_eq!(postcard::from_bytes::<VecStore<u8>>(&bytes).unwrap(), s);
        assert!(VecStore::<u8>::default().is_empty());
        let err = serde_json::from_str::<VecStore<u8>>("5").unwrap_err().to_string();
        assert!(err.contains("a map"), "{err}");
    }
}
