//! The runtime's value type: `--value-bytes B` real bytes, named by a unique id.
//!
//! Histories are checked for linearizability, so every written value must be
//! unique and nameable. A [`Value`] is a shared, immutable byte string whose
//! first 8 bytes are a little-endian write id (see
//! [`crate::runtime::workload::value_id`]); the rest repeats the id so that
//! the bytes are not all zero. The bytes are real: they are encoded into every
//! frame that carries the value (and so travel in UDP datagrams and count in
//! the bytes-per-link figures) and sit in every store that holds it. A value
//! of up to [`VALUE_INLINE_MAX`] bytes lives in place (copying it copies 24
//! bytes, with no allocation and no shared counter); a longer one is shared
//! behind a reference count, so the node logic's frame copies stay cheap.
//! Equality, order and hashing are those of the bytes, whichever the form.
//!
//! Histories name a value by its id (a `u64`), which is what `tidekv verify`
//! reads back.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// Smallest value: the id alone.
pub const VALUE_BYTES_MIN: usize = 8;
/// Largest value. A frame must fit one UDP datagram, which bounds the UDP
/// engine further (see [`crate::runtime::wire::frame_bytes_max`]).
pub const VALUE_BYTES_MAX: usize = 16 * 1024;

/// Longest value kept in place rather than behind a reference count.
pub const VALUE_INLINE_MAX: usize = 22;

/// A value of at least [`VALUE_BYTES_MIN`] bytes, the first 8 its id.
#[derive(Clone)]
pub struct Value(Repr);

#[derive(Clone)]
enum Repr {
    /// `len <= VALUE_INLINE_MAX` bytes in place (always, for such a length).
    Inline { len: u8, bytes: [u8; VALUE_INLINE_MAX] },
    /// Longer values, shared.
    Shared(Arc<[u8]>),
}

impl Value {
    /// A value of `bytes` bytes named `id`.
    pub fn new(id: u64, bytes: usize) -> Value {
        assert!(
            (VALUE_BYTES_MIN..=VALUE_BYTES_MAX).contains(&bytes),
            "value size {bytes} out of bounds"
        );
        let id_bytes = id.to_le_bytes();
        if bytes <= VALUE_INLINE_MAX {
            let mut b = [0u8; VALUE_INLINE_MAX];
            for (i, x) in b.iter_mut().take(bytes).enumerate() {
                *x = id_bytes[i % 8];
            }
            return Value(Repr::Inline {
                len: bytes as u8,
                bytes: b,
            });
        }
        // One allocation: `Arc<[u8]>: FromIterator` sizes a trusted-length
        // iterator up front.
        Value(Repr::Shared((0..bytes).map(|i| id_bytes[i % 8]).collect()))
    }

    /// The value holding exactly `bytes` (any length; the wire checks it).
    fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= VALUE_INLINE_MAX {
            let mut b = [0u8; VALUE_INLINE_MAX];
            b[..bytes.len()].copy_from_slice(bytes);
            Value(Repr::Inline {
                len: bytes.len() as u8,
                bytes: b,
            })
        } else {
            Value(Repr::Shared(Arc::from(bytes)))
        }
    }

    /// The write id.
    pub fn id(&self) -> u64 {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.bytes()[..8]);
        u64::from_le_bytes(id)
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Never true: a value holds at least its id.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The raw bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Shared(b) => b,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.bytes().hash(h)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.id())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.bytes())
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_bytes(ValueVisitor)
    }
}

struct ValueVisitor;

impl ValueVisitor {
    fn checked<E: de::Error>(bytes: &[u8]) -> Result<Value, E> {
        if !(VALUE_BYTES_MIN..=VALUE_BYTES_MAX).contains(&bytes.len()) {
            return Err(E::invalid_length(bytes.len(), &"8 to 16384 bytes"));
        }
        Ok(Value::from_bytes(bytes))
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string of 8 to 16384 bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Self::checked(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Self-describing formats (JSON) write bytes as a sequence.
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(VALUE_BYTES_MAX));
        while let Some(b) = seq.next_element::<u8>()? {
            if bytes.len() == VALUE_BYTES_MAX {
                return Err(de::Error::invalid_length(bytes.len() + 1, &self));
            }
            bytes.push(b);
        }
        Self::checked(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_size_survive_postcard() {
        let v = Value::new(0x0102_0304_0506_0708, 24);
        assert_eq!(v.len(), 24);
        assert_eq!(v.id(), 0x0102_0304_0506_0708);
        let bytes = postcard::to_stdvec(&v).unwrap();
        assert_eq!(bytes.len(), 1 + 24, "a length byte, then the bytes");
        let back: Value = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, v);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
    }

    #[test]
    fn in_place_and_shared_values_behave_alike() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let hash = |b: &[u8]| {
            let mut h = DefaultHasher::new();
            b.hash(&mut h);
            h.finish()
        };
        for bytes in [8, VALUE_INLINE_MAX, VALUE_INLINE_MAX + 1, 100] {
            let v = Value::new(7, bytes);
            assert_eq!(v.len(), bytes);
            assert_eq!(v.id(), 7);
            assert!(matches!(v.0, Repr::Inline { .. }) == (bytes <= VALUE_INLINE_MAX));
            let mut h = DefaultHasher::new();
            v.hash(&mut h);
            assert_eq!(h.finish(), hash(v.bytes()), "hashes as its bytes");
            let back: Value = postcard::from_bytes(&postcard::to_stdvec(&v).unwrap()).unwrap();
            assert_eq!(back, v);
            assert_eq!(back.bytes(), v.bytes());
        }
        // Order is the bytes' order, across forms.
        let (short, long) = (Value::new(1, 8), Value::new(1, 30));
        assert_eq!(short.cmp(&long), short.bytes().cmp(long.bytes()));
        assert!(Value::new(1, 8) < Value::new(2, 8));
    }

    #[test]
    fn short_values_are_refused() {
        let bytes = postcard::to_stdvec(&serde_bytes_of(&[1, 2, 3])).unwrap();
        assert!(postcard::from_bytes::<Value>(&bytes).is_err());
    }

    fn serde_bytes_of(b: &[u8]) -> Vec<u8> {
        // postcard encodes a byte string and a `Vec<u8>` alike: length, bytes.
        b.to_vec()
    }
}
