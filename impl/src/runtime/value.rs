//! The runtime's value type: `--value-bytes B` real bytes, named by a unique id.
//!
//! Histories are checked for linearizability, so every written value must be
//! unique and nameable. A [`Value`] is a shared, immutable byte string whose
//! first 8 bytes are a little-endian write id (see
//! [`crate::runtime::workload::value_id`]); the rest repeats the id so that
//! the bytes are not all zero. The bytes are real: they are encoded into every
//! frame that carries the value (and so travel in UDP datagrams and count in
//! the bytes-per-link figures) and sit in every store that holds it. Cloning is
//! a reference-count increment, so the node logic's frame copies stay cheap.
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

/// A value of at least [`VALUE_BYTES_MIN`] bytes, the first 8 its id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(Arc<[u8]>);

impl Value {
    /// A value of `bytes` bytes named `id`.
    pub fn new(id: u64, bytes: usize) -> Value {
        assert!(
            (VALUE_BYTES_MIN..=VALUE_BYTES_MAX).contains(&bytes),
            "value size {bytes} out of bounds"
        );
        let id_bytes = id.to_le_bytes();
        // One allocation: `Arc<[u8]>: FromIterator` sizes a trusted-length
        // iterator up front.
        Value((0..bytes).map(|i| id_bytes[i % 8]).collect())
    }

    /// The write id.
    pub fn id(&self) -> u64 {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(id)
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a value holds at least its id.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.id())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
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
        Ok(Value(Arc::from(bytes)))
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
    fn short_values_are_refused() {
        let bytes = postcard::to_stdvec(&serde_bytes_of(&[1, 2, 3])).unwrap();
        assert!(postcard::from_bytes::<Value>(&bytes).is_err());
    }

    fn serde_bytes_of(b: &[u8]) -> Vec<u8> {
        // postcard encodes a byte string and a `Vec<u8>` alike: length, bytes.
        b.to_vec()
    }
}
