//! A client: one outstanding operation at a time, the same in every topology.
//!
//! The client is connected to one upstream node (the single server or a
//! front end) by one link each way; its frames have one slot. Each cycle
//! ([`Client::step`]) it first reads the response its input frame carries,
//! then, if the driver hands it a new operation and it is idle, sends it.
//! "Responses a client reads come before the requests it sends."
//!
//! A missing upstream frame means the upstream node is dead: the pending
//! operation, and every later one, is answered [`OpResult::Unavailable`] by
//! the client itself, so no request ever hangs.

use super::{Frame, Op, OpResult, Request, Slots, Tag, Val};

/// What happened at a client in one cycle, in order.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ClientEvent<V> {
    /// The client started an operation.
    Invoke { tag: Tag, op: Op<V> },
    /// An operation completed.
    Return { tag: Tag, result: OpResult<V> },
}

/// One client's state.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Client<V> {
    /// The operation in flight, if any.
    pub pending: Option<Request<V>>,
    /// The tag the next operation gets: the number of operations started.
    pub next_tag: Tag,
}

impl<V: Val> Default for Client<V> {
    fn default() -> Self {
        Client {
            pending: None,
            next_tag: 0,
        }
    }
}

impl<V: Val> Client<V> {
    /// Whether the client may start an operation this cycle. (A response read
    /// this cycle frees it first; see [`Client::will_be_idle`].)
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    /// Whether the client will be idle once it has read `input` this cycle,
    /// i.e. whether the driver may hand it a new operation.
    #[inline]
    pub fn will_be_idle(&self, input: Option<&Frame<V>>) -> bool {
        match (&self.pending, input) {
            (None, _) | (Some(_), None) => true,
            (Some(p), Some(f)) => f.down().get(0).is_some_and(|r| r.tag == p.tag),
        }
    }

    /// One cycle. `input` is the upstream frame (`None`: upstream dead);
    /// `new_op` is the operation the driver starts now, given only when
    /// [`Client::will_be_idle`]. Events are appended to `events`; the returned
    /// frame is the one for the upstream link.
    pub fn step(
        &mut self,
        input: Option<&Frame<V>>,
        new_op: Option<Op<V>>,
        events: &mut Vec<ClientEvent<V>>,
    ) -> Frame<V> {
        let mut out = Frame::Up(Slots::new(1));
        self.step_into(input, new_op.as_ref(), &mut |e| events.push(e), &mut out);
        out
    }

    /// [`Client::step`] writing into `out`, an `Up` frame of one slot (reused
    /// from cycle to cycle by the in-process runtime), the new operation
    /// borrowed (copied only if there is one), each event handed to `event`.
    pub fn step_into(
        &mut self,
        input: Option<&Frame<V>>,
        new_op: Option<&Op<V>>,
        event: &mut impl FnMut(ClientEvent<V>),
        out: &mut Frame<V>,
    ) {
        let upstream_alive = input.is_some();
        if let Some(p) = &self.pending {
            match input {
                None => {
                    event(ClientEvent::Return {
                        tag: p.tag,
                        result: OpResult::Unavailable,
                    });
                    self.pending = None;
                }
                Some(frame) => {
                    let slots = frame.down();
                    debug_assert_eq!(slots.len(), 1, "a client's frame has one slot");
                    if let Some(resp) = slots.get(0) {
                        if resp.tag == p.tag {
                            event(ClientEvent::Return {
                                tag: resp.tag,
                                result: resp.result.clone(),
                            });
                            self.pending = None;
                        }
                    }
                }
            }
        }
        let out = out.up_mut();
        out.clear();
        if let Some(op) = new_op {
            assert!(self.pending.is_none(), "driver bug: new operation for a busy client");
            let tag = self.next_tag;
            self.next_tag += 1;
            event(ClientEvent::Invoke { tag, op: op.clone() });
            if upstream_alive {
                out.set(
                    0,
                    Request {
                        tag,
                        op: op.clone(),
                        version: 0,
                    },
                );
                self.pending = Some(Request {
                    tag,
                    op: op.clone(),
                    version: 0,
                });
            } else {
                event(ClientEvent::Return {
                    tag,
                    result: OpResult::Unavailable,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Response;

    fn down(tag: Tag, result: OpResult<u8>) -> Frame<u8> {
        Frame::Down(
            vec![Some(Response {
                tag,
                result,
                version: 0,
            })]
            .into(),
        )
    }

    #[test]
    fn response_is_read_before_the_next_request() {
        let mut c = Client::<u8>::default();
        let mut ev = Vec::new();
        let f = c.step(Some(&Frame::Down(Slots::new(1))), Some(Op::Put(0, 1)), &mut ev);
        assert_eq!(f.used_slots(), 1);
        assert!(!c.is_idle());
        assert!(c.will_be_idle(Some(&down(0, OpResult::Ok))));
        assert!(!c.will_be_idle(Some(&Frame::Down(Slots::new(1)))));
        ev.clear();
        c.step(Some(&down(0, OpResult::Ok)), Some(Op::Get(0)), &mut ev);
        assert_eq!(
            ev,
            vec![
                ClientEvent::Return {
                    tag: 0,
                    result: OpResult::Ok
                },
                ClientEvent::Invoke { tag: 1, op: Op::Get(0) }
            ]
        );
    }

    #[test]
    fn dead_upstream_answers_unavailable() {
        let mut c = Client::<u8>::default();
        let mut ev = Vec::new();
        c.step(Some(&Frame::Down(Slots::new(1))), Some(Op::Get(0)), &mut ev);
        ev.clear();
        c.step(None, Some(Op::Get(0)), &mut ev);
        assert_eq!(
            ev,
            vec![
                ClientEvent::Return {
                    tag: 0,
                    result: OpResult::Unavailable
                },
                ClientEvent::Invoke { tag: 1, op: Op::Get(0) },
                ClientEvent::Return {
                    tag: 1,
                    result: OpResult::Unavailable
                },
            ]
        );
        assert!(c.is_idle());
    }

    #[test]
    fn a_stale_tag_is_ignored() {
        let mut c = Client::<u8>::default();
        let mut ev = Vec::new();
        c.step(Some(&Frame::Down(Slots::new(1))), Some(Op::Get(0)), &mut ev);
        ev.clear();
        c.step(Some(&down(5, OpResult::Ok)), None, &mut ev);
        assert!(ev.is_empty());
        assert!(!c.is_idle());
    }
}
