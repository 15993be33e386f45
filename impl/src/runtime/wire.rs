//! The wire format of the UDP engine: one frame per datagram.
//!
//! ```text
//! byte 0       version (WIRE_VERSION)
//! bytes 1..3   sender node id, u16 little-endian
//! bytes 3..7   cycle, u32 little-endian: the cycle in which the receiver reads
//!              the frame (the sender computed it in the cycle before)
//! bytes 7..    the frame, postcard-encoded (Frame<Value>)
//! ```
//!
//! A datagram of the header alone is a *request* ([`encode_request`]): its
//! sender awaits `cycle` and asks the receiver for its frames from `cycle`
//! on (a lost frame is repaired by the receiver asking for it again; see
//! `udp::node`). A frame always has a payload, so the two never mix.
//!
//! The header is fixed-size so that a receiver can drop a datagram of the
//! wrong version, sender or cycle without decoding the frame. A datagram is
//! at most [`DATAGRAM_BYTES_MAX`] bytes; the runtime refuses a configuration
//! whose largest frame could exceed it ([`frame_bytes_max`]).
//!
//! Decoding never panics: a short datagram, an unknown version or a payload
//! postcard cannot decode is a [`WireError`], and a decoded frame whose kind
//! or slot count does not fit its link fails [`fits_link`].

use super::value::Value;
use crate::node::Frame;
use crate::topology::{Link, LinkKind};

/// The version byte every datagram starts with.
pub const WIRE_VERSION: u8 = 2;
/// Header bytes before the frame.
pub const HEADER_BYTES: usize = 7;
/// Largest datagram the engine sends (the IPv4 UDP payload limit is 65,507).
pub const DATAGRAM_BYTES_MAX: usize = 65_000;

/// A datagram that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("datagram of {0} bytes is shorter than the header")]
    Short(usize),
    #[error("wire version {0}, expected {WIRE_VERSION}")]
    Version(u8),
    #[error("frame does not decode: {0}")]
    Garbled(String),
}

/// The fixed header of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub from: u16,
    pub cycle: u32,
}

/// Appends a datagram carrying `frame` to `buf` (cleared first).
pub fn encode(buf: &mut Vec<u8>, header: Header, frame: &Frame<Value>) -> Result<(), WireError> {
    encode_request(buf, header);
    let taken = std::mem::take(buf);
    *buf = postcard::to_extend(frame, taken).map_err(|e| WireError::Garbled(e.to_string()))?;
    Ok(())
}

/// Writes into `buf` (cleared first) a request: "I, `header.from`, await
/// cycle `header.cycle`; send me your frames from that cycle on".
pub fn encode_request(buf: &mut Vec<u8>, header: Header) {
    buf.clear();
    buf.push(WIRE_VERSION);
    buf.extend_from_slice(&header.from.to_le_bytes());
    buf.extend_from_slice(&header.cycle.to_le_bytes());
}

/// The payload of an *absent* datagram: the sender lives but has no frame
/// on this link this cycle (a restarted replica catching up is silent on
/// its FE and protocol links; the receiver reads `None` without waiting for
/// a timeout). No postcard frame is this one byte (a varint with its
/// continuation bit set and nothing after it does not decode).
pub const ABSENT: u8 = 0xFF;

/// Writes into `buf` (cleared first) an absent datagram (see [`ABSENT`]).
pub fn encode_absent(buf: &mut Vec<u8>, header: Header) {
    encode_request(buf, header);
    buf.push(ABSENT);
}

/// Whether a datagram whose header reads is an absent one.
pub fn is_absent(bytes: &[u8]) -> bool {
    bytes.len() == HEADER_BYTES + 1 && bytes[HEADER_BYTES] == ABSENT
}

/// An upper bound on the postcard size of a transfer frame (see
/// [`crate::node::recovery::Transfer`]) carrying `entries` snapshot entries,
/// a delta of at most `delta` keys and `clients` sessions, with values of
/// `value_bytes` bytes.
pub fn transfer_bytes_max(entries: usize, delta: usize, clients: usize, value_bytes: usize) -> usize {
    let value = 3 + value_bytes;
    let status = 1 + 1 + 1 + 5;
    let session = 1 + 10 + 1 + 1 + value;
    let chunk =
        1 + 1 + 2 * (1 + 5) + 5 + entries * (5 + value) + 5 + delta * (5 + 1 + value) + 5 + clients * session + 5;
    1 + status + chunk
}

/// Whether a datagram whose header reads is a request (no payload).
pub fn is_request(bytes: &[u8]) -> bool {
    bytes.len() == HEADER_BYTES
}

/// Reads the header; the payload is `&bytes[HEADER_BYTES..]`.
pub fn decode_header(bytes: &[u8]) -> Result<Header, WireError> {
    if bytes.len() < HEADER_BYTES {
        return Err(WireError::Short(bytes.len()));
    }
    if bytes[0] != WIRE_VERSION {
        return Err(WireError::Version(bytes[0]));
    }
    Ok(Header {
        from: u16::from_le_bytes([bytes[1], bytes[2]]),
        cycle: u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]),
    })
}

/// Decodes the frame of a datagram whose header was read; trailing bytes are
/// an error.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame<Value>, WireError> {
    let payload = &bytes[HEADER_BYTES.min(bytes.len())..];
    match postcard::take_from_bytes::<Frame<Value>>(payload) {
        Ok((frame, [])) => Ok(frame),
        Ok((_, rest)) => Err(WireError::Garbled(format!("{} trailing bytes", rest.len()))),
        Err(e) => Err(WireError::Garbled(e.to_string())),
    }
}

/// Whether a frame has the kind and slot count of `link`: the node logic
/// relies on both (a wrong kind is a wiring bug there and panics).
pub fn fits_link(frame: &Frame<Value>, link: &Link) -> bool {
    match (frame, link.kind) {
        (Frame::Up(s), LinkKind::Up) => s.len() == link.slots,
        (Frame::Down(s), LinkKind::Down) => s.len() == link.slots,
        (Frame::Peer(s), LinkKind::Peer) => s.len() == link.slots,
        (Frame::Transfer(_), LinkKind::Transfer) => true,
        _ => false,
    }
}

/// An upper bound on the postcard size of any frame on a link with `slots`
/// slots when values are `value_bytes` long. Per slot: the `Option` tag,
/// then at worst an update (tag, op with key and value, result with a
/// previous value, order, version), varints at their longest.
pub fn frame_bytes_max(slots: usize, value_bytes: usize) -> usize {
    let value = 3 + value_bytes;
    let update = 5 + (1 + 5 + value) + (1 + value) + 3 + 10;
    1 + 5 + slots * (1 + update)
}

/// The encoded size of a frame, without the header.
pub fn frame_bytes(frame: &Frame<Value>) -> usize {
    // Serializing into the `Size` flavor only counts; it cannot fail for
    // these types.
    postcard::serialize_with_flavor::<_, _, usize>(frame, postcard::ser_flavors::Size::default()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Op, OpResult, Request, Response, Update};

    fn link(kind: LinkKind, slots: usize) -> Link {
        Link {
            from: 0,
            to: 1,
            kind,
            slots,
            name: "a→b".into(),
        }
    }

    #[test]
    fn round_trip_and_header() {
        let frame = Frame::Up(
            vec![
                None,
                Some(Request {
                    tag: 3,
                    op: Op::Put(9, Value::new(42, 16)),
                    version: 0,
                }),
            ]
            .into(),
        );
        let mut buf = Vec::new();
        encode(&mut buf, Header { from: 5, cycle: 77 }, &frame).unwrap();
        assert_eq!(decode_header(&buf).unwrap(), Header { from: 5, cycle: 77 });
        assert_eq!(decode_frame(&buf).unwrap(), frame);
        assert_eq!(buf.len(), HEADER_BYTES + frame_bytes(&frame));
        assert!(fits_link(&frame, &link(LinkKind::Up, 2)));
        assert!(!fits_link(&frame, &link(LinkKind::Up, 3)));
        assert!(!fits_link(&frame, &link(LinkKind::Down, 2)));
        assert!(!is_request(&buf));
        encode_request(&mut buf, Header { from: 5, cycle: 78 });
        assert!(is_request(&buf));
        assert_eq!(decode_header(&buf).unwrap(), Header { from: 5, cycle: 78 });
        assert!(decode_frame(&buf).is_err(), "a request carries no frame");
    }

    /// The largest transfer frame (every key, tag and epoch at its widest
    /// varint, every session holding a value, a snapshot range of two keys)
    /// fits [`transfer_bytes_max`]; an absent datagram is no frame.
    #[test]
    fn transfer_bytes_max_bounds_the_largest_transfer_frame() {
        use crate::node::recovery::{Chunk, Status, Transfer};
        use crate::node::server::Session;
        use crate::node::OpResult;
        for (entries, delta, clients, vb) in [(1, 0, 1, 8), (4, 6, 3, 64), (16, 32, 16, 200)] {
            let v = || Value::new(u64::MAX, vb);
            let frame = Frame::Transfer(Transfer {
                status: Status::Joining {
                    donor: Some(u8::MAX),
                    epoch: u32::MAX,
                },
                chunk: Some(Chunk {
                    range: Some((Some(u32::MAX), Some(u32::MAX))),
                    entries: (0..entries).map(|i| (u32::MAX - i as u32, v())).collect(),
                    delta: (0..delta).map(|i| (u32::MAX - i as u32, Some(v()))).collect(),
                    sessions: (0..clients)
                        .map(|_| {
                            Some(Session {
                                tag: u32::MAX,
                                result: OpResult::Modified(v()),
                            })
                        })
                        .collect(),
                    epoch: u32::MAX,
                }),
            });
            let size = frame_bytes(&frame);
            let bound = transfer_bytes_max(entries, delta, clients, vb);
            assert!(size <= bound, "{size} > {bound}");
            assert!(bound < size * 2, "a loose bound: {bound} for {size}");
        }
        let mut buf = Vec::new();
        encode_absent(&mut buf, Header { from: 1, cycle: 9 });
        assert!(is_absent(&buf) && !is_request(&buf));
        assert!(decode_frame(&buf).is_err(), "an absent datagram carries no frame");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode_header(&[1, 2]), Err(WireError::Short(2)));
        assert_eq!(decode_header(&[9, 0, 0, 0, 0, 0, 0]), Err(WireError::Version(9)));
        let mut rng = crate::runtime::rng::Stream::new(1, "garbage");
        for len in 0..200 {
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if len > 0 {
                bytes[0] = WIRE_VERSION;
            }
            let _ = decode_header(&bytes);
            let _ = decode_frame(&bytes);
        }
        // A valid frame with a byte too many.
        let mut buf = Vec::new();
        encode(&mut buf, Header { from: 0, cycle: 1 }, &Frame::Down(vec![None].into())).unwrap();
        buf.push(0);
        assert!(matches!(decode_frame(&buf), Err(WireError::Garbled(_))));
    }

    #[test]
    fn frame_bytes_max_bounds_the_largest_frames() {
        let b = 100;
        let v = |id| Value::new(id, b);
        let slots = 7;
        let worst_update = Some(Update {
            tag: u32::MAX,
            op: Op::Modify(u32::MAX, v(1)),
            result: OpResult::Modified(v(2)),
            seq: u16::MAX,
            version: u64::MAX,
        });
        let worst_response = Some(Response {
            tag: u32::MAX,
            result: OpResult::Modified(v(2)),
            version: u64::MAX,
        });
        for f in [
            Frame::Peer(vec![worst_update; slots].into()),
            Frame::Down(vec![worst_response; slots].into()),
        ] {
            assert!(frame_bytes(&f) <= frame_bytes_max(slots, b), "{}", frame_bytes(&f));
        }
    }
}
