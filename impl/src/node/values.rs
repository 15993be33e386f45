//! Every value a piece of state holds, through one function: what the
//! model's value symmetry renames (`tidekv-model`'s `Reduction::values`).
//!
//! Node logic stores values, compares them for equality and returns them; it
//! never orders them, computes with them or picks one by its size (versions,
//! tags and client numbers decide every race). So renaming the values of a
//! reachable state by a permutation gives a state whose every future is the
//! renamed future of the original. These visitors are how the renaming
//! reaches each value; they add nothing to a step.

use super::cache::Cache;
use super::client::Client;
use super::fe::{Fe, InFlight};
use super::recovery::{Chunk, Image, Recovery, Transfer};
use super::server::{Relay, Server, Session};
use super::{Frame, Op, OpResult, Request, Response, Update, VecStore};
use crate::cluster::{Cluster, NodeState};

/// A visitor of every value held (`f` sees each once).
pub trait Values<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V));
}

fn option<V>(x: &mut Option<V>, f: &mut dyn FnMut(&mut V)) {
    if let Some(v) = x {
        f(v);
    }
}

fn all<V, T: Values<V>>(xs: &mut [T], f: &mut dyn FnMut(&mut V)) {
    xs.iter_mut().for_each(|x| x.each_value(f));
}

fn sessions<V>(xs: &mut [Option<Session<V>>], f: &mut dyn FnMut(&mut V)) {
    xs.iter_mut().flatten().for_each(|s| s.result.each_value(f));
}

impl<V> Values<V> for Op<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        match self {
            Op::Put(_, v) | Op::Insert(_, v) | Op::Modify(_, v) => f(v),
            Op::Get(_) | Op::Delete(_) => {}
        }
    }
}

impl<V> Values<V> for OpResult<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        match self {
            OpResult::Value(v) => option(v, f),
            OpResult::Modified(v) => f(v),
            OpResult::Ok | OpResult::Exists | OpResult::Absent | OpResult::Unavailable | OpResult::Busy => {}
        }
    }
}

impl<V> Values<V> for Request<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.op.each_value(f);
    }
}

impl<V> Values<V> for Response<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.result.each_value(f);
    }
}

impl<V> Values<V> for Update<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.op.each_value(f);
        self.result.each_value(f);
    }
}

impl<V> Values<V> for Chunk<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.entries.iter_mut().for_each(|(_, v)| f(v));
        self.delta.iter_mut().for_each(|(_, v)| option(v, f));
        sessions(&mut self.sessions, f);
    }
}

impl<V> Values<V> for Frame<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        match self {
            Frame::Up(x) => x.values_mut().for_each(|r| r.each_value(f)),
            Frame::Down(x) => x.values_mut().for_each(|r| r.each_value(f)),
            Frame::Peer(x) => x.values_mut().for_each(|u| u.each_value(f)),
            Frame::Transfer(Transfer { chunk, .. }) => {
                if let Some(c) = chunk {
                    c.each_value(f);
                }
            }
        }
    }
}

impl<V> Values<V> for VecStore<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.values_mut().for_each(f);
    }
}

impl<V> Values<V> for Image<V, VecStore<V>> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.store.each_value(f);
        sessions(&mut self.sessions, f);
    }
}

impl<V> Values<V> for Relay<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.sent.iter_mut().flatten().for_each(|(_, u)| u.each_value(f));
    }
}

impl<V> Values<V> for Recovery<V, VecStore<V>> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        if let Some(lag) = &mut self.lag {
            lag.each_value(f);
        }
    }
}

impl<V> Values<V> for Server<V, VecStore<V>> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.store.each_value(f);
        sessions(&mut self.sessions, f);
        self.relay.each_value(f);
        self.recovery.each_value(f);
    }
}

impl<V> Values<V> for InFlight<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.req.each_value(f);
        if let Some(r) = &mut self.repair {
            r.each_value(f);
        }
    }
}

impl<V> Values<V> for Cache<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.entries.values_mut().for_each(|e| option(&mut e.value, f));
    }
}

impl<V> Values<V> for Fe<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        self.inflight.iter_mut().flatten().for_each(|x| x.each_value(f));
        if let Some(c) = &mut self.cache {
            c.each_value(f);
        }
    }
}

impl<V> Values<V> for Client<V> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        if let Some(r) = &mut self.pending {
            r.each_value(f);
        }
    }
}

impl<V> Values<V> for NodeState<V, VecStore<V>> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        match self {
            NodeState::Client(c) => c.each_value(f),
            NodeState::Fe(fe) => fe.each_value(f),
            NodeState::Server(s) => s.each_value(f),
            NodeState::Dead => {}
        }
    }
}

impl<V> Values<V> for Cluster<V, VecStore<V>> {
    fn each_value(&mut self, f: &mut dyn FnMut(&mut V)) {
        all(&mut self.nodes, f);
        self.inbox.iter_mut().flatten().for_each(|x| x.each_value(f));
        self.durable.iter_mut().for_each(|(_, image)| image.each_value(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Slots;

    /// Every value of a frame is visited once: renaming 1 ↔ 2 twice gives
    /// the frame back, and once swaps exactly the values.
    #[test]
    fn a_frame_renames_every_value_once() {
        let mut slots = Slots::new(3);
        slots.set(
            0,
            Update {
                tag: 1,
                op: Op::Modify(0, 1u8),
                result: OpResult::Modified(2),
                seq: 0,
                version: 0,
            },
        );
        slots.set(
            2,
            Update {
                tag: 1,
                op: Op::Put(0, 2),
                result: OpResult::Ok,
                seq: 1,
                version: 0,
            },
        );
        let original = Frame::Peer(slots);
        let mut f = original.clone();
        let mut seen = 0;
        f.each_value(&mut |v| {
            *v = 3 - *v;
            seen += 1;
        });
        assert_eq!(seen, 3);
        let values: Vec<(Op<u8>, OpResult<u8>)> =
            f.peer().iter().map(|(_, u)| (u.op.clone(), u.result.clone())).collect();
        assert_eq!(
            values,
            [(Op::Modify(0, 2), OpResult::Modified(1)), (Op::Put(0, 1), OpResult::Ok)]
        );
        f.each_value(&mut |v| *v = 3 - *v);
        assert_eq!(f, original);
    }
}
