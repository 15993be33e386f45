//! A node's receive side: which datagrams to use, which to drop, and the
//! frames it holds for the cycle it awaits. No sockets and no clocks here, so
//! every rule is unit-tested.
//!
//! # Window
//! A node awaiting cycle `t` (it has executed `t-1`) accepts frames for `t`
//! and `t+1`: a neighbour can be at most one cycle ahead, because it cannot
//! execute `t+1` before it holds this node's frame for `t+1`, sent only after
//! this node executes `t`. A frame for an earlier cycle (or a second copy of
//! a frame held) is a *duplicate*: a neighbour's resend, ignored. A request
//! (a header without a frame: the neighbour awaits a cycle and asks for this
//! node's frames from it on) is passed on for cycles up to `t+1`: a
//! neighbour cannot await a later cycle than the one after the last frame
//! this node sent. Anything else is *dropped* and counted by [`DropReason`];
//! so is anything from an address
//! not in the cluster file, with a header that lies about its sender, from a
//! node that is not an in-neighbour, from a neighbour already declared dead
//! (crash-stop: revived only for a restart scheduled in the cluster file,
//! [`Inbox::revive_from`]), that does not decode, or whose frame does
//! not fit its link.

use crate::node::Frame;
use crate::runtime::value::Value;
use crate::runtime::wire::{self, WireError};
use crate::topology::{Link, NodeId, Topology};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Why a datagram was dropped.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DropReason {
    /// Shorter than the header, or the frame does not decode.
    Garbled,
    /// Another wire version.
    Version,
    /// The source address is not in the cluster file.
    UnknownAddress,
    /// The header names another sender than the source address.
    Spoofed,
    /// The sender has no link to this node.
    NotNeighbour,
    /// The sender was declared dead.
    FromDead,
    /// A cycle outside the window.
    Cycle,
    /// The frame's kind or slot count does not fit the link.
    Shape,
}

impl DropReason {
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Garbled => "garbled",
            DropReason::Version => "version",
            DropReason::UnknownAddress => "unknown-address",
            DropReason::Spoofed => "spoofed",
            DropReason::NotNeighbour => "not-a-neighbour",
            DropReason::FromDead => "from-dead",
            DropReason::Cycle => "cycle",
            DropReason::Shape => "shape",
        }
    }
}

/// What became of a datagram that was not dropped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accepted {
    /// A frame for input `0`, kept.
    Frame(usize),
    /// A copy of a frame input `0` already delivered, ignored (it still
    /// shows that the sender lives).
    Duplicate(usize),
    /// A request from the sender of input `input`: it awaits `cycle` and
    /// asks for this node's frames from `cycle` on.
    Request { input: usize, cycle: u32 },
}

/// A frame held for a cycle (`None` inside: an absent datagram, see
/// [`wire::ABSENT`]).
type Held = Option<(u32, Option<Frame<Value>>)>;

/// The receive side of one node; see the module doc.
pub struct Inbox {
    by_addr: HashMap<SocketAddr, NodeId>,
    /// Per node: the index of its link into this node, if any.
    input_of: Vec<Option<usize>>,
    /// Per input: the link.
    links: Vec<Link>,
    /// Per input, per cycle parity: the frame held and its cycle.
    slots: Vec<[Held; 2]>,
    alive: Vec<bool>,
    /// Per input declared dead: the cycle from which its sender's next
    /// life is awaited (a scheduled restart; see `udp::node`).
    revive: Vec<Option<u32>>,
    awaiting: u32,
    pub dropped: BTreeMap<DropReason, u64>,
    pub duplicates: u64,
}

impl Inbox {
    /// The inbox of node `me`, awaiting cycle 1 (cycle 0 reads empty frames).
    pub fn new(topo: &Topology, me: NodeId, addrs: &[SocketAddr]) -> Inbox {
        assert_eq!(addrs.len(), topo.nodes.len());
        let inputs = &topo.nodes[me].inputs;
        let mut input_of = vec![None; topo.nodes.len()];
        for (i, &l) in inputs.iter().enumerate() {
            let from = topo.links[l].from;
            assert!(input_of[from].is_none(), "at most one link between two nodes");
            input_of[from] = Some(i);
        }
        Inbox {
            by_addr: addrs.iter().enumerate().map(|(n, a)| (*a, n)).collect(),
            input_of,
            links: inputs.iter().map(|&l| topo.links[l].clone()).collect(),
            slots: inputs.iter().map(|_| [None, None]).collect(),
            alive: vec![true; inputs.len()],
            revive: vec![None; inputs.len()],
            awaiting: 1,
            dropped: BTreeMap::new(),
            duplicates: 0,
        }
    }

    /// The cycle whose frames are awaited.
    pub fn awaiting(&self) -> u32 {
        self.awaiting
    }

    pub fn is_alive(&self, input: usize) -> bool {
        self.alive[input]
    }

    /// Dropped datagrams, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Sorts one datagram from `src`; a drop is counted here.
    pub fn accept(&mut self, src: SocketAddr, bytes: &[u8]) -> Result<Accepted, DropReason> {
        let r = self.classify(src, bytes);
        match r {
            Err(why) => *self.dropped.entry(why).or_insert(0) += 1,
            Ok(Accepted::Duplicate(_)) => self.duplicates += 1,
            Ok(Accepted::Frame(_) | Accepted::Request { .. }) => {}
        }
        r
    }

    fn classify(&mut self, src: SocketAddr, bytes: &[u8]) -> Result<Accepted, DropReason> {
        let header = wire::decode_header(bytes).map_err(|e| match e {
            WireError::Version(_) => DropReason::Version,
            _ => DropReason::Garbled,
        })?;
        let &sender = self.by_addr.get(&src).ok_or(DropReason::UnknownAddress)?;
        if header.from as usize != sender {
            return Err(DropReason::Spoofed);
        }
        let input = self.input_of[sender].ok_or(DropReason::NotNeighbour)?;
        let c = header.cycle;
        if !self.alive[input] && self.revive[input].is_none_or(|r| c < r) {
            return Err(DropReason::FromDead);
        }
        let t = self.awaiting;
        if c > t + 1 {
            return Err(DropReason::Cycle);
        }
        if wire::is_request(bytes) {
            return Ok(Accepted::Request { input, cycle: c });
        }
        if c < t {
            return Ok(Accepted::Duplicate(input));
        }
        let slot = &mut self.slots[input][(c % 2) as usize];
        if slot.as_ref().is_some_and(|(held, _)| *held == c) {
            return Ok(Accepted::Duplicate(input));
        }
        if wire::is_absent(bytes) {
            if self.links[input].kind == crate::topology::LinkKind::Transfer {
                return Err(DropReason::Shape);
            }
            *slot = Some((c, None));
            return Ok(Accepted::Frame(input));
        }
        let frame = wire::decode_frame_on(bytes, &self.links[input]).map_err(|_| DropReason::Garbled)?;
        if !wire::fits_link(&frame, &self.links[input]) {
            return Err(DropReason::Shape);
        }
        *slot = Some((c, Some(frame)));
        Ok(Accepted::Frame(input))
    }

    /// The live inputs whose frame for the awaited cycle has not arrived.
    pub fn missing(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.links.len()).filter(move |&i| self.is_missing(i))
    }

    /// Whether live input `input`'s frame for the awaited cycle is missing.
    pub fn is_missing(&self, input: usize) -> bool {
        let t = self.awaiting;
        self.alive[input] && !matches!(&self.slots[input][(t % 2) as usize], Some((c, _)) if *c == t)
    }

    /// Whether every live input's frame for the awaited cycle is here.
    pub fn ready(&self) -> bool {
        self.missing().next().is_none()
    }

    /// Input `input`'s sender is dead from the awaited cycle on: it will
    /// read `None` there forever.
    pub fn declare_dead(&mut self, input: usize) {
        self.alive[input] = false;
        self.slots[input] = [None, None];
    }

    /// Takes the frames of the awaited cycle (`None` for dead inputs) into
    /// `out` and awaits the next cycle. Call only when [`Inbox::ready`].
    pub fn take(&mut self, out: &mut Vec<Option<Frame<Value>>>) {
        assert!(self.ready(), "take before every live input's frame arrived");
        let t = self.awaiting;
        out.clear();
        for (i, slots) in self.slots.iter_mut().enumerate() {
            let frame = if self.alive[i] {
                slots[(t % 2) as usize].take().and_then(|(_, f)| f)
            } else {
                None
            };
            out.push(frame);
        }
        self.awaiting += 1;
        for i in 0..self.links.len() {
            if self.revive[i] == Some(self.awaiting) {
                self.revive[i] = None;
                self.alive[i] = true;
            }
        }
    }

    /// Input `input`, declared dead, is awaited again from cycle `cycle` on
    /// (its sender restarts: its next life's first frame is for `cycle`).
    pub fn revive_from(&mut self, input: usize, cycle: u32) {
        debug_assert!(!self.alive[input] && cycle > self.awaiting);
        self.revive[input] = Some(cycle);
    }

    /// A restarted node's inbox: it executes cycle `start` on no input
    /// frames and awaits `start + 1` next.
    pub fn start_at(&mut self, start: u32) {
        self.awaiting = start + 1;
    }

    /// The node at the far end of input `input`.
    pub fn sender(&self, input: usize) -> NodeId {
        self.links[input].from
    }

    /// The input from `node`, if it is an in-neighbour.
    pub fn input_from(&self, node: NodeId) -> Option<usize> {
        self.input_of[node]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::wire::{encode, Header};
    use crate::topology::{Kind, TopologyConfig};

    fn setup() -> (Topology, Vec<SocketAddr>, Inbox) {
        // c0, c1, fe, r0.0, r0.1, r0.2; the FE has 5 inputs.
        let topo = Topology::new(TopologyConfig::new(Kind::Replicated, 2)).unwrap();
        let addrs: Vec<SocketAddr> = (0..topo.nodes.len())
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 5000 + i as u16)))
            .collect();
        let fe = topo.node_by_name("fe").unwrap();
        let inbox = Inbox::new(&topo, fe, &addrs);
        (topo, addrs, inbox)
    }

    fn datagram(topo: &Topology, from: NodeId, to: NodeId, cycle: u32) -> Vec<u8> {
        let link = topo.nodes[from]
            .outputs
            .iter()
            .copied()
            .find(|&l| topo.links[l].to == to)
            .unwrap();
        let mut buf = Vec::new();
        let header = Header {
            from: from as u16,
            cycle,
        };
        encode(&mut buf, header, &topo.empty_frame::<Value>(link)).unwrap();
        buf
    }

    /// A replica declared dead with a restart scheduled: its datagrams are
    /// dropped until its next life's first cycle, which is accepted one
    /// cycle early and read once awaited; an absent datagram reads `None`
    /// but keeps the link alive (the cycle completes without waiting).
    #[test]
    fn a_revived_input_is_awaited_again_and_absent_reads_none() {
        let (topo, addrs, mut inbox) = setup();
        let (fe, r) = (2, 5);
        let i = inbox.input_from(r).unwrap();
        inbox.declare_dead(i);
        inbox.revive_from(i, 3);
        let all = |inbox: &mut Inbox, cycle: u32| {
            for n in [0, 1, 3, 4] {
                inbox.accept(addrs[n], &datagram(&topo, n, fe, cycle)).unwrap();
            }
        };
        all(&mut inbox, 1);
        // Its old life's frame for cycle 2 is from the dead; the next
        // life's for 3 is not (one cycle ahead of the awaited 2).
        assert_eq!(
            inbox.accept(addrs[r], &datagram(&topo, r, fe, 1)),
            Err(DropReason::FromDead)
        );
        assert!(inbox.ready(), "a dead input is not awaited");
        let mut frames = Vec::new();
        inbox.take(&mut frames);
        assert!(!inbox.is_alive(i));
        assert_eq!(
            inbox.accept(addrs[r], &datagram(&topo, r, fe, 3)),
            Ok(Accepted::Frame(i))
        );
        all(&mut inbox, 2);
        inbox.take(&mut frames);
        assert!(inbox.is_alive(i), "alive again from cycle 3");
        all(&mut inbox, 3);
        assert!(inbox.ready());
        inbox.take(&mut frames);
        assert!(frames[i].is_some());
        // Absent for cycle 4: read as `None`, the link still alive.
        all(&mut inbox, 4);
        assert!(!inbox.ready());
        let mut absent = Vec::new();
        wire::encode_absent(
            &mut absent,
            Header {
                from: r as u16,
                cycle: 4,
            },
        );
        assert_eq!(inbox.accept(addrs[r], &absent), Ok(Accepted::Frame(i)));
        assert!(inbox.ready());
        inbox.take(&mut frames);
        assert!(frames[i].is_none() && inbox.is_alive(i));
    }

    #[test]
    fn a_cycle_completes_when_every_live_input_arrived() {
        let (topo, addrs, mut inbox) = setup();
        let fe = 2;
        for n in [0, 1, 3, 4] {
            assert_eq!(
                inbox.accept(addrs[n], &datagram(&topo, n, fe, 1)),
                Ok(Accepted::Frame(inbox.input_from(n).unwrap()))
            );
        }
        assert!(!inbox.ready());
        assert_eq!(inbox.missing().collect::<Vec<_>>(), vec![inbox.input_from(5).unwrap()]);
        // One cycle ahead is kept; two is not.
        assert!(inbox.accept(addrs[0], &datagram(&topo, 0, fe, 2)).is_ok());
        assert_eq!(
            inbox.accept(addrs[0], &datagram(&topo, 0, fe, 3)),
            Err(DropReason::Cycle)
        );
        inbox.declare_dead(inbox.input_from(5).unwrap());
        assert!(inbox.ready());
        let mut frames = Vec::new();
        inbox.take(&mut frames);
        assert_eq!(frames.iter().filter(|f| f.is_some()).count(), 4);
        assert_eq!(inbox.awaiting(), 2);
        // The early frame of c0 is held; a resend of cycle 1 is a duplicate.
        assert_eq!(inbox.missing().count(), 3);
        assert_eq!(
            inbox.accept(addrs[1], &datagram(&topo, 1, fe, 1)),
            Ok(Accepted::Duplicate(1))
        );
        assert_eq!(
            inbox.accept(addrs[0], &datagram(&topo, 0, fe, 2)),
            Ok(Accepted::Duplicate(0))
        );
        assert_eq!(
            inbox.accept(addrs[5], &datagram(&topo, 5, fe, 2)),
            Err(DropReason::FromDead)
        );
        assert_eq!(inbox.duplicates, 2);
    }

    #[test]
    fn late_resends_are_duplicates_and_requests_are_passed_on() {
        let (topo, addrs, mut inbox) = setup();
        let fe = 2;
        let all = [0, 1, 3, 4, 5];
        for t in 1..=3 {
            for n in all {
                inbox.accept(addrs[n], &datagram(&topo, n, fe, t)).unwrap();
            }
            let mut frames = Vec::new();
            inbox.take(&mut frames);
        }
        assert_eq!(inbox.awaiting(), 4);
        // A resend of cycle 1 arriving two cycles late is a duplicate, not a drop.
        let (r00, r01, r02) = (
            inbox.input_from(3).unwrap(),
            inbox.input_from(4).unwrap(),
            inbox.input_from(5).unwrap(),
        );
        assert_eq!(
            inbox.accept(addrs[3], &datagram(&topo, 3, fe, 1)),
            Ok(Accepted::Duplicate(r00))
        );
        let request = |from: usize, cycle: u32| {
            let mut buf = Vec::new();
            wire::encode_request(
                &mut buf,
                Header {
                    from: from as u16,
                    cycle,
                },
            );
            buf
        };
        for cycle in [3, 4, 5] {
            assert_eq!(
                inbox.accept(addrs[4], &request(4, cycle)),
                Ok(Accepted::Request { input: r01, cycle })
            );
        }
        // Nobody can await a cycle this node has sent no frame before.
        assert_eq!(inbox.accept(addrs[4], &request(4, 6)), Err(DropReason::Cycle));
        assert_eq!(inbox.accept(addrs[0], &request(4, 4)), Err(DropReason::Spoofed));
        inbox.declare_dead(r02);
        assert_eq!(inbox.accept(addrs[5], &request(5, 4)), Err(DropReason::FromDead));
        assert_eq!((inbox.duplicates, inbox.dropped_total()), (1, 3));
    }

    #[test]
    fn bad_datagrams_are_dropped_and_counted() {
        let (topo, addrs, mut inbox) = setup();
        let fe = 2;
        let stranger = SocketAddr::from(([127, 0, 0, 1], 9));
        let good = datagram(&topo, 0, fe, 1);
        let mut wrong_version = good.clone();
        wrong_version[0] = 99;
        let mut truncated = good.clone();
        truncated.pop();
        // r0.0 sends its (Down) frame claiming to be c0: spoofed.
        let spoof = datagram(&topo, 3, fe, 1);
        // c0's frame from c0's address but on r0.0's link shape: a Down
        // frame on an Up link.
        let mut wrong_shape = datagram(&topo, 3, fe, 1);
        wrong_shape[1..3].copy_from_slice(&0u16.to_le_bytes());
        let cases: Vec<(SocketAddr, Vec<u8>, DropReason)> = vec![
            (addrs[0], vec![], DropReason::Garbled),
            (addrs[0], vec![1, 0, 0], DropReason::Garbled),
            (addrs[0], b"garbage garbage".to_vec(), DropReason::Version),
            (addrs[0], wrong_version, DropReason::Version),
            (addrs[0], truncated, DropReason::Garbled),
            (stranger, good.clone(), DropReason::UnknownAddress),
            (addrs[0], spoof, DropReason::Spoofed),
            (addrs[0], wrong_shape, DropReason::Shape),
        ];
        let n = cases.len() as u64;
        for (src, bytes, why) in cases {
            assert_eq!(inbox.accept(src, &bytes), Err(why));
        }
        assert_eq!(inbox.dropped_total(), n);
        // c0 → c1 is no link: a client's frame addressed to another client.
        let mut c1 = Inbox::new(&topo, 1, &addrs);
        let mut buf = Vec::new();
        encode(&mut buf, Header { from: 0, cycle: 1 }, &Frame::Up(vec![None].into())).unwrap();
        assert_eq!(c1.accept(addrs[0], &buf), Err(DropReason::NotNeighbour));
        // The real frame still gets in.
        assert_eq!(inbox.accept(addrs[0], &good), Ok(Accepted::Frame(0)));
    }

    /// `--slots 2`: a server's K-slot frame is read into the FE's frame of
    /// one slot per client; a truncated or corrupt one is dropped and
    /// counted as garbled.
    #[test]
    fn k_slot_frames_are_read_and_bad_ones_dropped_and_counted() {
        use crate::node::{OpResult, Response};
        let mut cfg = TopologyConfig::new(Kind::Replicated, 40);
        cfg.slots = 2;
        cfg.queue = 2;
        let topo = Topology::new(cfg).unwrap();
        let addrs: Vec<SocketAddr> = (0..topo.nodes.len())
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 6000 + i as u16)))
            .collect();
        let fe = topo.node_by_name("fe").unwrap();
        let r00 = topo.node_by_name("r0.0").unwrap();
        let mut inbox = Inbox::new(&topo, fe, &addrs);
        let link = topo.nodes[r00].outputs[0];
        assert_eq!((topo.links[link].slots, topo.links[link].bound), (40, 2));
        let mut frame = topo.empty_frame::<Value>(link);
        for c in [7, 33] {
            frame.down_mut().set(
                c,
                Response {
                    tag: 4,
                    result: OpResult::Ok,
                    version: 0,
                },
            );
        }
        let mut good = Vec::new();
        let header = Header {
            from: r00 as u16,
            cycle: 1,
        };
        wire::encode_on(&mut good, header, &frame, &topo.links[link]).unwrap();
        let mut truncated = good.clone();
        truncated.pop();
        let mut corrupt = good.clone();
        corrupt[wire::HEADER_BYTES + 1] = 7; // the first slot's tag
        let mut beyond = good.clone();
        beyond[wire::HEADER_BYTES + 2..wire::HEADER_BYTES + 4].copy_from_slice(&40u16.to_le_bytes());
        for bad in [truncated, corrupt, beyond] {
            assert_eq!(inbox.accept(addrs[r00], &bad), Err(DropReason::Garbled));
        }
        assert_eq!(inbox.dropped_total(), 3);
        let input = inbox.input_from(r00).unwrap();
        assert_eq!(inbox.accept(addrs[r00], &good), Ok(Accepted::Frame(input)));
        assert_eq!(
            inbox.slots[input][1].as_ref().and_then(|(_, f)| f.as_ref()),
            Some(&frame)
        );
    }
}
