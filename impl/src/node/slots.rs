//! [`Slots`]: a frame's fixed row of `Option` slots, stored sparsely.
//!
//! A frame has a fixed shape, one slot per client, and that shape is what the
//! protocol and the wire see: `len()` slots, each empty or holding a value,
//! encoded on the wire exactly as a `Vec<Option<T>>` of `len()` entries
//! would be. In memory only the slots that hold something are kept, in slot
//! order. Under load a minority of slots is used in any one cycle (a client
//! with an operation in flight speaks on one link in four), so every pass over
//! a frame — serving it, clearing it, comparing it, hashing it — costs what
//! the frame carries instead of what it could carry.
//!
//! Equality and order are those of the dense row: two `Slots` are equal when
//! they have the same length and the same contents in every slot, and they
//! order as the `Vec<Option<T>>`s would (slot by slot, an empty slot before a
//! full one, then by length). So replacing the dense row changed no state
//! count and no counterexample of the model.

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;

/// A row of `len()` optional slots, only the full ones stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Slots<T> {
    /// The number of slots.
    len: u32,
    /// The full slots, by ascending index, each index at most once.
    full: Vec<(u32, T)>,
}

impl<T> Slots<T> {
    /// `len` empty slots.
    pub fn new(len: usize) -> Self {
        Slots {
            len: u32::try_from(len).expect("a frame has fewer than 2^32 slots"),
            full: Vec::new(),
        }
    }

    /// The number of slots (the frame's shape), full or not.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the row has no slots at all (never, in a topology).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of full slots.
    #[inline]
    pub fn used(&self) -> usize {
        self.full.len()
    }

    /// What slot `i` holds.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        // Not through `position`: the one-entry case, a client's every
        // cycle, stays one comparison with no bounds check.
        match self.full.as_slice() {
            [] => None,
            [(j, x)] => (*j as usize == i).then_some(x),
            full => full
                .binary_search_by_key(&(i as u32), |(j, _)| *j)
                .ok()
                .map(|p| &full[p].1),
        }
    }

    /// Where slot `i` is among [`Slots::entries`], if it is full.
    #[inline]
    pub fn position(&self, i: usize) -> Option<usize> {
        match self.full.as_slice() {
            [] => None,
            [(j, _)] => (*j as usize == i).then_some(0),
            full => full.binary_search_by_key(&(i as u32), |(j, _)| *j).ok(),
        }
    }

    /// Fills slot `i` with `x` (replacing what it held). Cheapest in
    /// ascending slot order, which is how the nodes fill their frames.
    #[inline(always)]
    pub fn set(&mut self, i: usize, x: T) {
        assert!(i < self.len(), "slot {i} of a frame of {}", self.len);
        let i = i as u32;
        match self.full.last() {
            Some((last, _)) if *last >= i => self.set_before_last(i, x),
            _ => self.full.push((i, x)),
        }
    }

    /// [`Slots::set`] out of ascending order.
    #[cold]
    #[inline(never)]
    fn set_before_last(&mut self, i: u32, x: T) {
        match self.full.binary_search_by_key(&i, |(j, _)| *j) {
            Ok(p) => self.full[p].1 = x,
            Err(p) => self.full.insert(p, (i, x)),
        }
    }

    /// Empties every slot, keeping the length (and the buffer).
    #[inline]
    pub fn clear(&mut self) {
        // Most rows cleared are empty already (a busy client's, most
        // cycles): skip dropping their (no) contents, an out-of-line call.
        if !self.full.is_empty() {
            self.full.clear();
        }
    }

    /// The full slots, `(index, content)`, by ascending index.
    #[inline]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (usize, &T)> + ExactSizeIterator + '_ {
        self.full.iter().map(|(i, x)| (*i as usize, x))
    }

    /// The contents of the used slots, in slot order, to change in place
    /// (their slots stay as they are).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.full.iter_mut().map(|(_, x)| x)
    }

    /// The full slots, `(index, content)`, by ascending index, as a slice
    /// (for walking several rows together).
    #[inline]
    pub fn entries(&self) -> &[(u32, T)] {
        &self.full
    }

    /// Every slot in order, empty ones as `None`: the dense row.
    pub fn dense(&self) -> impl Iterator<Item = Option<&T>> + '_ {
        let mut full = self.full.iter().peekable();
        (0..self.len).map(move |i| match full.peek() {
            Some((j, _)) if *j == i => full.next().map(|(_, x)| x),
            _ => None,
        })
    }
}

impl<T> FromIterator<Option<T>> for Slots<T> {
    /// The row holding what the dense row holds.
    fn from_iter<I: IntoIterator<Item = Option<T>>>(dense: I) -> Self {
        let mut len = 0u32;
        let mut full = Vec::new();
        for x in dense {
            if let Some(x) = x {
                full.push((len, x));
            }
            len = len.checked_add(1).expect("a frame has fewer than 2^32 slots");
        }
        Slots { len, full }
    }
}

impl<T> From<Vec<Option<T>>> for Slots<T> {
    fn from(dense: Vec<Option<T>>) -> Self {
        dense.into_iter().collect()
    }
}

impl<T> Slots<T> {
    /// The order of the dense rows (`Vec<Option<T>>`): lexicographic by slot,
    /// `None < Some`, then the shorter first. Where one row holds something in
    /// a slot that the other leaves empty — or does not have — it is the
    /// greater, so only the full slots need visiting.
    fn dense_cmp(&self, other: &Self, cmp: impl Fn(&T, &T) -> Option<Ordering>) -> Option<Ordering> {
        let (mut a, mut b) = (self.full.iter(), other.full.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Some(self.len.cmp(&other.len)),
                (Some(_), None) => return Some(Ordering::Greater),
                (None, Some(_)) => return Some(Ordering::Less),
                (Some((i, x)), Some((j, y))) => match i.cmp(j) {
                    Ordering::Less => return Some(Ordering::Greater),
                    Ordering::Greater => return Some(Ordering::Less),
                    Ordering::Equal => match cmp(x, y)? {
                        Ordering::Equal => {}
                        unequal => return Some(unequal),
                    },
                },
            }
        }
    }
}

impl<T: PartialOrd> PartialOrd for Slots<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.dense_cmp(other, T::partial_cmp)
    }
}

impl<T: Ord> Ord for Slots<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dense_cmp(other, |x, y| Some(x.cmp(y))).expect("a total order")
    }
}

impl<T: fmt::Debug> fmt::Debug for Slots<T> {
    /// As the dense row prints: `[None, Some(…), …]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.dense()).finish()
    }
}

impl<T: Serialize> Serialize for Slots<T> {
    /// As the dense row: a sequence of `len()` options (the wire format).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for x in self.dense() {
            seq.serialize_element(&x)?;
        }
        seq.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Slots<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Row<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Row<T> {
            type Value = Slots<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of optional slots")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slots<T>, A::Error> {
                let mut full = Vec::new();
                let mut len: u32 = 0;
                while let Some(x) = seq.next_element::<Option<T>>()? {
                    if let Some(x) = x {
                        full.push((len, x));
                    }
                    len = len
                        .checked_add(1)
                        .ok_or_else(|| serde::de::Error::custom("too many slots"))?;
                }
                Ok(Slots { len, full })
            }
        }
        d.deserialize_seq(Row(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<Option<u8>>> {
        let mut out = vec![vec![], vec![None], vec![Some(0)], vec![Some(1)]];
        for a in [None, Some(0), Some(2)] {
            for b in [None, Some(1), Some(2)] {
                out.push(vec![a, b]);
                for c in [None, Some(0)] {
                    out.push(vec![a, b, c]);
                }
            }
        }
        out
    }

    #[test]
    fn equality_and_order_are_the_dense_rows() {
        for a in rows() {
            for b in rows() {
                let (sa, sb) = (Slots::from(a.clone()), Slots::from(b.clone()));
                assert_eq!(sa.cmp(&sb), a.cmp(&b), "{a:?} vs {b:?}");
                assert_eq!(sa.partial_cmp(&sb), a.partial_cmp(&b), "{a:?} vs {b:?}");
                assert_eq!(sa == sb, a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn the_wire_and_debug_forms_are_the_dense_rows() {
        for a in rows() {
            let s = Slots::from(a.clone());
            let bytes = postcard::to_allocvec(&s).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(&a).unwrap(), "{a:?}");
            assert_eq!(postcard::from_bytes::<Slots<u8>>(&bytes).unwrap(), s);
            assert_eq!(format!("{s:?}"), format!("{a:?}"));
            assert_eq!(s.dense().map(|x| x.copied()).collect::<Vec<_>>(), a);
            assert_eq!(s.len(), a.len());
            assert_eq!(s.used(), a.iter().flatten().count());
        }
    }

    #[test]
    fn set_and_get_in_any_order() {
        let mut s = Slots::new(6);
        for (i, x) in [(4, 40), (1, 10), (5, 50), (1, 11), (0, 0)] {
            s.set(i, x);
        }
        let dense: Vec<Option<i32>> = (0..6).map(|i| s.get(i).copied()).collect();
        assert_eq!(dense, vec![Some(0), Some(11), None, None, Some(40), Some(50)]);
        assert_eq!(s.iter().map(|(i, _)| i).collect::<Vec<_>>(), vec![0, 1, 4, 5]);
        s.set(2, 20);
        assert_eq!(
            s,
            Slots::from(vec![Some(0), Some(11), Some(20), None, Some(40), Some(50)])
        );
        s.clear();
        assert_eq!(s, Slots::new(6));
    }

    #[test]
    fn emptiness_and_malformed_input() {
        assert!(Slots::<u8>::new(0).is_empty());
        assert!(!Slots::<u8>::new(1).is_empty());
        let err = serde_json::from_str::<Slots<u8>>("5").unwrap_err().to_string();
        assert!(err.contains("a sequence of optional slots"), "{err}");
    }

    #[test]
    #[should_panic(expected = "slot 3 of a frame of 3")]
    fn a_slot_beyond_the_row_is_a_wiring_bug() {
        Slots::<u8>::new(3).set(3, 0);
    }
}
