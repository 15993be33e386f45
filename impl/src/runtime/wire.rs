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
//!
//! # K-slot frames (`--slots K`)
//!
//! On a link between the root FE and a server of a topology with `--slots K`
//! ([`Link::bound`] = K) the frame is K slots whatever the number of
//! clients ([`encode_on`], [`decode_frame_on`]):
//!
//! ```text
//! byte 0       the frame's kind: 0 Up (requests), 1 Down (responses)
//! K times      0: an empty slot, or
//!              1, the client id (u16 little-endian), the request or
//!              response (postcard)
//! ```
//!
//! The full slots come first, by ascending client id. In memory the frame
//! is still indexed by client (the node logic is the same with or without
//! `--slots`); the encoder refuses a frame with more than K full slots and
//! the decoder a frame that is not exactly K slots, names a client beyond
//! the topology's, or is out of order. The client id is a fixed two bytes so
//! that a frame's size does not depend on how many clients there are.

use super::value::Value;
use crate::node::{Frame, Request, Response, Slots};
use crate::topology::{Link, LinkKind};
use serde::de::DeserializeOwned;
use serde::Serialize;

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
    #[error("a frame of {used} full slots on a link of {bound}")]
    Overfull { used: usize, bound: usize },
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

/// [`encode`] for `link`: a K-slot frame where [`Link::bound`] is K.
pub fn encode_on(buf: &mut Vec<u8>, header: Header, frame: &Frame<Value>, link: &Link) -> Result<(), WireError> {
    if link.bound == 0 {
        return encode(buf, header, frame);
    }
    encode_request(buf, header);
    match frame {
        Frame::Up(s) => encode_bounded(buf, 0, s, link.bound),
        Frame::Down(s) => encode_bounded(buf, 1, s, link.bound),
        _ => Err(WireError::Garbled(
            "only requests and responses travel in K-slot frames".into(),
        )),
    }
}

fn encode_bounded<T: Serialize>(buf: &mut Vec<u8>, kind: u8, s: &Slots<T>, bound: usize) -> Result<(), WireError> {
    if s.used() > bound {
        return Err(WireError::Overfull { used: s.used(), bound });
    }
    buf.push(kind);
    for (client, x) in s.iter() {
        let id = u16::try_from(client).map_err(|_| WireError::Garbled(format!("client {client}")))?;
        buf.push(1);
        buf.extend_from_slice(&id.to_le_bytes());
        let taken = std::mem::take(buf);
        *buf = postcard::to_extend(x, taken).map_err(|e| WireError::Garbled(e.to_string()))?;
    }
    buf.resize(buf.len() + bound - s.used(), 0);
    Ok(())
}

/// [`decode_frame`] for `link`: reads a K-slot frame where [`Link::bound`]
/// is K, into a frame of [`Link::slots`] slots indexed by client.
pub fn decode_frame_on(bytes: &[u8], link: &Link) -> Result<Frame<Value>, WireError> {
    if link.bound == 0 {
        return decode_frame(bytes);
    }
    let payload = &bytes[HEADER_BYTES.min(bytes.len())..];
    let garbled = |m: &str| WireError::Garbled(m.to_string());
    let (&kind, rest) = payload.split_first().ok_or_else(|| garbled("no payload"))?;
    match kind {
        0 => decode_bounded::<Request<Value>>(rest, link).map(Frame::Up),
        1 => decode_bounded::<Response<Value>>(rest, link).map(Frame::Down),
        k => Err(WireError::Garbled(format!("K-slot frame kind {k}"))),
    }
}

fn decode_bounded<T: DeserializeOwned>(mut rest: &[u8], link: &Link) -> Result<Slots<T>, WireError> {
    let garbled = |m: String| WireError::Garbled(m);
    let mut out = Slots::new(link.slots);
    let mut last: Option<usize> = None;
    let mut empty_seen = false;
    for slot in 0..link.bound {
        let (&tag, after) = rest
            .split_first()
            .ok_or_else(|| garbled(format!("{slot} slots of {}", link.bound)))?;
        rest = after;
        match tag {
            0 => empty_seen = true,
            1 if empty_seen => return Err(garbled(format!("slot {slot}: a full slot after an empty one"))),
            1 => {
                let [a, b, after @ ..] = rest else {
                    return Err(garbled(format!("slot {slot}: no client id")));
                };
                let client = u16::from_le_bytes([*a, *b]) as usize;
                if client >= link.slots {
                    return Err(garbled(format!("slot {slot}: client {client} of {}", link.slots)));
                }
                if last.is_some_and(|l| l >= client) {
                    return Err(garbled(format!("slot {slot}: client {client} out of order")));
                }
                let (x, after) = postcard::take_from_bytes::<T>(after).map_err(|e| garbled(e.to_string()))?;
                out.set(client, x);
                last = Some(client);
                rest = after;
            }
            t => return Err(garbled(format!("slot {slot}: tag {t}"))),
        }
    }
    if !rest.is_empty() {
        return Err(garbled(format!("{} trailing bytes", rest.len())));
    }
    Ok(out)
}

/// [`frame_bytes`] as the frame travels on `link` ([`encode_on`]).
pub fn frame_bytes_on(frame: &Frame<Value>, link: &Link) -> usize {
    if link.bound == 0 {
        return frame_bytes(frame);
    }
    fn size<T: Serialize>(x: &T) -> usize {
        postcard::serialize_with_flavor::<_, _, usize>(x, postcard::ser_flavors::Size::default()).unwrap_or(0)
    }
    let items: usize = match frame {
        Frame::Up(s) => s.iter().map(|(_, x)| 2 + size(x)).sum(),
        Frame::Down(s) => s.iter().map(|(_, x)| 2 + size(x)).sum(),
        _ => 0,
    };
    1 + link.bound + items
}

/// [`frame_bytes_max`] for `link`: of K slots where [`Link::bound`] is K
/// (each a client id more).
pub fn frame_bytes_max_on(link: &Link, value_bytes: usize) -> usize {
    if link.bound == 0 {
        frame_bytes_max(link.slots, value_bytes)
    } else {
        frame_bytes_max(link.bound, value_bytes) + 2 * link.bound
    }
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
            bound: 0,
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

    /// The largest transfer frame (every key, tag and write count at its widest
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
                    writes: u32::MAX,
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
                    writes: u32::MAX,
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

    fn bounded(kind: LinkKind, slots: usize, bound: usize) -> Link {
        Link {
            bound,
            ..link(kind, slots)
        }
    }

    fn request(tag: u32) -> Request<Value> {
        Request {
            tag,
            op: Op::Put(tag, Value::new(u64::from(tag), 16)),
            version: 0,
        }
    }

    /// A K-slot frame round-trips into the frame of one slot per client;
    /// its size is K slots whatever the number of clients.
    #[test]
    fn k_slot_frames_round_trip_and_do_not_grow_with_clients() {
        let mut sizes = Vec::new();
        for clients in [64, 1024] {
            let l = bounded(LinkKind::Up, clients, 4);
            let mut s = Slots::new(clients);
            for c in [3, 40, clients - 1] {
                s.set(c, request(9));
            }
            let frame = Frame::Up(s);
            let mut buf = Vec::new();
            encode_on(&mut buf, Header { from: 2, cycle: 9 }, &frame, &l).unwrap();
            assert_eq!(decode_frame_on(&buf, &l).unwrap(), frame);
            assert!(fits_link(&frame, &l));
            assert_eq!(buf.len(), HEADER_BYTES + frame_bytes_on(&frame, &l));
            assert!(frame_bytes_on(&frame, &l) <= frame_bytes_max_on(&l, 16));
            sizes.push(buf.len());
            // Empty: the kind and K empty slots.
            let empty = Frame::Up(Slots::new(clients));
            encode_on(&mut buf, Header { from: 2, cycle: 9 }, &empty, &l).unwrap();
            assert_eq!(buf.len(), HEADER_BYTES + 1 + 4);
            assert_eq!(decode_frame_on(&buf, &l).unwrap(), empty);
            // Dense, the same frame takes a byte per client at least.
            assert!(frame_bytes(&frame) > clients);
        }
        assert_eq!(sizes[0], sizes[1], "the same frame, 64 or 1024 clients");
        // Responses too.
        let l = bounded(LinkKind::Down, 10, 2);
        let frame = Frame::Down(
            (0..10)
                .map(|c| {
                    (c == 6).then_some(Response {
                        tag: 1,
                        result: OpResult::Value(None),
                        version: 0,
                    })
                })
                .collect::<Vec<_>>()
                .into(),
        );
        let mut buf = Vec::new();
        encode_on(&mut buf, Header { from: 1, cycle: 2 }, &frame, &l).unwrap();
        assert_eq!(decode_frame_on(&buf, &l).unwrap(), frame);
    }

    #[test]
    fn bad_k_slot_frames_are_errors_not_panics() {
        let l = bounded(LinkKind::Up, 8, 2);
        let mut s = Slots::new(8);
        for c in [1, 5, 6] {
            s.set(c, request(c as u32));
        }
        let mut buf = Vec::new();
        let h = Header { from: 0, cycle: 1 };
        assert_eq!(
            encode_on(&mut buf, h, &Frame::Up(s.clone()), &l),
            Err(WireError::Overfull { used: 3, bound: 2 })
        );
        let mut two = Slots::new(8);
        two.set(1, request(1));
        two.set(5, request(5));
        encode_on(&mut buf, h, &Frame::Up(two), &l).unwrap();
        let good = buf.clone();
        // Every truncation, a byte too many, the other slot order, a client
        // beyond the topology, an unknown kind or slot tag.
        for cut in HEADER_BYTES..good.len() {
            assert!(decode_frame_on(&good[..cut], &l).is_err(), "cut at {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode_frame_on(&long, &l).is_err());
        let second = HEADER_BYTES + 1 + (good.len() - HEADER_BYTES - 1) / 2;
        let mut swapped = good.clone();
        swapped[HEADER_BYTES + 2..HEADER_BYTES + 4].copy_from_slice(&5u16.to_le_bytes());
        swapped[second + 1..second + 3].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(decode_frame_on(&swapped, &l), Err(WireError::Garbled(m)) if m.contains("out of order")));
        let mut beyond = good.clone();
        beyond[HEADER_BYTES + 2..HEADER_BYTES + 4].copy_from_slice(&8u16.to_le_bytes());
        assert!(decode_frame_on(&beyond, &l).is_err());
        let mut kind = good.clone();
        kind[HEADER_BYTES] = 2;
        assert!(decode_frame_on(&kind, &l).is_err());
        let mut rng = crate::runtime::rng::Stream::new(3, "garbage");
        for _ in 0..2000 {
            let mut b = good.clone();
            let i = HEADER_BYTES + rng.below((b.len() - HEADER_BYTES) as u64) as usize;
            b[i] = rng.next_u64() as u8;
            let _ = decode_frame_on(&b, &l);
        }
    }
}
