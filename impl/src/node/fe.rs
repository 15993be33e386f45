//! A front end (FE): stateless apart from the requests it has in flight.
//!
//! FEs form a tree between the clients and the servers. A *root* FE (the one
//! next to the servers) hashes each key to its shard and picks the replica(s)
//! according to the [`Protocol`]; an inner FE forwards requests up and
//! responses down.
//!
//! # Links
//! Inputs and outputs list the children first (clients or lower FEs, in
//! order), then the downstream links: the parent FE for an inner FE, or one
//! link per server in shard-major order (`s*replicas + r`) for the root.
//!
//! # One cycle ([`Fe::step`])
//! 1. Liveness: a downstream link without a frame this cycle leads to a dead
//!    node (crash-stop, so it stays dead).
//! 2. For each request in flight: deliver the response if it arrived; if every
//!    node it was sent to is dead, route it again (same tag: servers answer a
//!    retried write from their session, so it takes effect once), or answer
//!    [`OpResult::Unavailable`] when no live node can serve it.
//! 3. Route the new requests from the children.
//! 4. Send one frame on every output link.
//!
//! Routing ([`Fe::plan`]): the home shard is `hash(key) mod shards`; if it has
//! no live server, a sharded topology re-hashes the key to a live shard by
//! rendezvous hashing (only the dead shard's keys move) and a replicated one
//! answers `Unavailable`. Within the shard the [`Protocol`] decides
//! ([`crate::protocol::Replication::route`]): which replicas the request goes
//! to, whose answer completes it, or an open choice among candidates, which
//! is asked of the driver's chooser. When replicas die, the protocol's
//! failover rule says whether a request keeps waiting or is routed again.
//!
//! Every request is answered within its failure-free latency plus the
//! protocol's per-crash delay for each crash
//! ([`crate::topology::Latency::bound`]): each retry is caused by a crash of
//! a node the request was waiting for.

use super::cache::{Cache, CacheConfig};
use super::hash::{home_shard, rendezvous};
use super::{ClientId, Frame, Op, OpResult, Outputs, Protocol, Request, Response, Slots, Val};
use crate::protocol::quorum::subsets;
use crate::protocol::{bits, Dispatch, Sent};
use std::ops::Range;

/// A child of an FE: a client, or an FE one level nearer the clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    /// The clients behind this child (a contiguous block).
    pub clients: Range<ClientId>,
    /// A client's frames have one slot; an FE's have one per client.
    pub is_client: bool,
}

/// Where an FE sends requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Downstream {
    /// An inner FE: one link to the FE one level nearer the servers.
    Parent,
    /// The root FE: one link per server, shard-major.
    Servers {
        shards: usize,
        replicas: usize,
        protocol: Protocol,
        /// Sharded topology: re-hash the keys of a dead shard to live shards.
        rehash: bool,
    },
}

/// An FE's place in the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeCtx {
    pub clients: usize,
    pub children: Vec<Child>,
    pub downstream: Downstream,
    /// A level-0 FE's cache (`--cache`), `None` without one
    /// ([`super::cache`]).
    pub cache: Option<CacheConfig>,
    /// An FE above level 0 with caches below: it copies write answers and
    /// invalidations to its other child FEs ([`Fe::broadcast`]).
    pub broadcast: bool,
    /// The root FE's bounds on what it sends (`--slots`, `--queue`); `None`
    /// for an inner FE and for the seed's frames (one slot per client).
    pub bounded: Option<Bounded>,
}

/// Bounded frames (`--slots K --queue Q`): the root FE sends at most
/// `slots` requests per shard per cycle (so at most K on each FE→server
/// link, and, as each replica answers exactly what it was sent, on each
/// reply link). Every request for a shard passes through the shard's FIFO
/// queue of `queue` entries (Q ≥ K): each cycle the new requests join its
/// tail and the first K leave its head; a request arriving when Q wait
/// already is answered [`OpResult::Busy`].
///
/// Service order, per shard and cycle: requests to route again (their
/// replicas died; oldest first, in client order), then the queue from its
/// head, then the new requests in client order. The first K are sent, the
/// rest wait. A request accepted once keeps its place (a retry may make the
/// queue longer than Q for a while); a new one is accepted only while fewer
/// than Q are ahead of it. So a new request with `ahead` requests before it
/// in that order is answered `Busy` exactly when `ahead ≥ Q`, and otherwise
/// sent `⌊ahead / K⌋` cycles after it arrives when nothing fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounded {
    /// Requests per shard per cycle, K ≥ 1.
    pub slots: usize,
    /// Queue entries per shard, Q ≥ K.
    pub queue: usize,
}

impl FeCtx {
    /// Downstream links per shard: the replicas, or 1 (the parent).
    pub fn replicas(&self) -> usize {
        match self.downstream {
            Downstream::Parent => 1,
            Downstream::Servers { replicas, .. } => replicas,
        }
    }

    /// Number of downstream links.
    pub fn downstream_links(&self) -> usize {
        match self.downstream {
            Downstream::Parent => 1,
            Downstream::Servers { shards, replicas, .. } => shards * replicas,
        }
    }
}

/// A request the FE has sent on and awaits the answer to.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct InFlight<V> {
    pub req: Request<V>,
    /// The shard it was sent to (0 for an inner FE).
    pub shard: u16,
    /// The replicas it was sent to, as a bit set (bit 0 for an inner FE).
    pub targets: u32,
    /// The replicas whose answer completes it (the targets, except in
    /// protocols where another replica answers, e.g. `chain`'s tail).
    pub answer: u32,
    /// A read of a [`crate::protocol::Replication::versioned`] protocol
    /// being repaired: the answer it will give once the stale targets
    /// acknowledged the newest version (`None` otherwise).
    pub repair: Option<Response<V>>,
    /// With [`Bounded`] frames: the FE cycle it arrived in, so that
    /// requests to route again are served oldest first (0 otherwise).
    pub since: u32,
}

/// An FE's state: what it has in flight, per client, and the cycle it is
/// in (a versioned protocol's writes carry it; in a lockstep network every
/// node's step count is the global cycle).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Fe<V> {
    pub inflight: Vec<Option<InFlight<V>>>,
    pub cycle: u32,
    /// A caching level-0 FE's cache (`None` otherwise).
    pub cache: Option<Cache<V>>,
    /// With [`Bounded`] frames: the requests waiting to be sent, oldest
    /// first, every shard's queue interleaved (a waiting request is in
    /// [`Fe::inflight`] with no targets, its shard in `shard`). Always empty
    /// otherwise.
    pub queue: Vec<ClientId>,
}

impl<V> Fe<V> {
    /// How many requests wait for `shard`.
    pub fn queued(&self, shard: usize) -> usize {
        self.queue
            .iter()
            .filter(|&&c| self.inflight[c].as_ref().is_some_and(|f| f.shard as usize == shard))
            .count()
    }
}

impl<V> InFlight<V> {
    /// Whether it waits in the FE's queue (not sent yet).
    pub fn is_queued(&self) -> bool {
        self.targets == 0
    }
}

/// A request the FE must route this cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub client: ClientId,
    /// Where the request is.
    pub source: Source,
    pub route: Route,
}

/// Where the request of a [`Job`] is, read where it lies rather than copied
/// into the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// New: the `entry`-th full slot of the frame of input `input`.
    Child { input: usize, entry: usize },
    /// The request in flight for the client, to route again.
    Retry,
    /// A versioned read's repair: write the newest answer, the `entry`-th
    /// full slot of the frame of downstream link `link`, back to the stale
    /// targets (the route's).
    Repair { link: usize, entry: usize },
}

/// A response to send towards its client: the `entry`-th full slot of the
/// frame of downstream link `link`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub client: ClientId,
    pub link: usize,
    pub entry: usize,
}

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// To the parent FE.
    Parent,
    /// Nowhere can serve it: answer `Unavailable`.
    Unavailable,
    /// To `targets` of this shard, completed by an answer from `answer`.
    Fixed { shard: usize, targets: u32, answer: u32 },
    /// To one of these replicas of this shard: the driver chooses.
    Open { shard: usize, candidates: u32 },
    /// To `size` of these replicas of this shard: the driver chooses which
    /// (among [`crate::protocol::quorum::subsets`], when there are several).
    Subset { shard: usize, candidates: u32, size: u32 },
}

/// What an FE will do this cycle, before the open choices are made. It
/// points into the cycle's input frames and the FE's in-flight table rather
/// than copying requests and responses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Responses to send towards the clients, in client order.
    pub deliver: Vec<Delivery>,
    /// Requests to route (retries first, then new ones, in client order).
    pub jobs: Vec<Job>,
    /// In-flight entries that keep waiting for fewer replicas (the
    /// protocol's failover rule): `(client, targets, answer)`.
    pub still_waiting: Vec<(ClientId, u32, u32)>,
    /// Repaired reads to answer with their repaired value, in client order.
    pub finish: Vec<ClientId>,
    /// [`Bounded`]: new requests to queue, `(job, shard)`.
    pub enqueue: Vec<(Job, usize)>,
    /// [`Bounded`]: new requests to answer `Busy` (their shard's queue is full).
    pub busy: Vec<Job>,
    /// [`Bounded`]: requests in flight or queued that (stay or go back to)
    /// wait, `(client, shard)`.
    pub requeue: Vec<(ClientId, usize)>,
    /// [`Bounded`]: the queue after this cycle.
    pub queue_next: Vec<ClientId>,
    /// Per downstream shard (the parent, for an inner FE): the live
    /// replicas, a bit set.
    live: Vec<u32>,
    /// Scratch: a read position per downstream frame.
    cursors: Vec<usize>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Plan::default()
    }
}

impl FeCtx {
    /// The child behind which `client` sits.
    pub fn child_of(&self, client: ClientId) -> usize {
        // Children that are clients hold one client each, in order: try the
        // child at the client's offset first (the blocks are disjoint, so
        // the one that contains the client is the answer).
        let guess = client.wrapping_sub(self.children.first().map_or(0, |ch| ch.clients.start));
        if self.children.get(guess).is_some_and(|ch| ch.clients.contains(&client)) {
            return guess;
        }
        self.children.partition_point(|ch| ch.clients.end <= client)
    }

    /// Fresh, empty output frames: children first, then downstream.
    pub fn empty_outputs<V>(&self) -> Vec<Frame<V>> {
        let mut out: Vec<Frame<V>> = self
            .children
            .iter()
            .map(|ch| {
                let slots = if ch.is_client { 1 } else { self.clients };
                Frame::Down(Slots::new(slots))
            })
            .collect();
        out.extend((0..self.downstream_links()).map(|_| Frame::Up(Slots::new(self.clients))));
        out
    }
}

impl<V: Val> Fe<V> {
    /// An FE with nothing in flight.
    pub fn new(clients: usize) -> Self {
        Fe {
            inflight: vec![None; clients],
            cycle: 0,
            cache: None,
            queue: Vec::new(),
        }
    }

    /// An FE with nothing in flight for its place `ctx` (an empty cache
    /// where it caches).
    pub fn for_ctx(clients: usize, ctx: &FeCtx) -> Self {
        Fe {
            cache: ctx.cache.map(|_| Cache::default()),
            ..Fe::new(clients)
        }
    }

    /// Computes this cycle's deliveries and routing jobs without changing
    /// anything. The model calls it to learn the open choices of a cycle.
    pub fn plan(&self, ctx: &FeCtx, inputs: &[Option<&Frame<V>>]) -> Plan {
        let mut plan = Plan::new();
        self.plan_into(ctx, inputs, &mut plan);
        plan
    }

    /// [`Fe::plan`] into `plan`, whose contents are replaced (its buffers are
    /// reused).
    pub fn plan_into(&self, ctx: &FeCtx, inputs: &[Option<&Frame<V>>], plan: &mut Plan) {
        let nchildren = ctx.children.len();
        debug_assert_eq!(inputs.len(), nchildren + ctx.downstream_links());
        let down = &inputs[nchildren..];
        plan.deliver.clear();
        plan.jobs.clear();
        plan.still_waiting.clear();
        plan.finish.clear();
        plan.enqueue.clear();
        plan.busy.clear();
        plan.requeue.clear();
        plan.queue_next.clear();
        // 1. Liveness, per downstream shard.
        let replicas = ctx.replicas();
        plan.live.clear();
        plan.live.extend(down.chunks(replicas).map(|shard| {
            shard
                .iter()
                .enumerate()
                .filter(|(_, f)| f.is_some())
                .fold(0, |m, (r, _)| m | 1 << r)
        }));
        // 2. Requests in flight.
        let versioned = matches!(ctx.downstream, Downstream::Servers { protocol, .. } if protocol.versioned());
        if down.iter().all(Option::is_some) && !versioned {
            // Nothing to retry or re-target: only the answers matter.
            self.deliver_arrived(replicas, down, plan);
        } else {
            self.check_inflight(ctx, down, plan);
        }
        // 3. New requests from the children.
        for (i, (child, frame)) in ctx.children.iter().zip(inputs).enumerate() {
            let Some(frame) = frame else { continue };
            for (entry, (j, req)) in frame.up().iter().enumerate() {
                let client = if child.is_client { child.clients.start } else { j };
                if !child.clients.contains(&client) || self.inflight[client].is_some() {
                    // A child may only speak for its own clients, one request
                    // at a time; anything else is a wiring bug upstream.
                    debug_assert!(false, "FE: unexpected request for client {client}");
                    continue;
                }
                plan.jobs.push(Job {
                    client,
                    source: Source::Child { input: i, entry },
                    route: route(ctx, &plan.live, req),
                });
            }
        }
        // 4. Bounded frames: what fits is sent, the rest queued or busy.
        if let Some(b) = ctx.bounded {
            self.bound_jobs(ctx, b, plan);
        }
    }

    /// Step 4 of [`Fe::plan`] with [`Bounded`] frames: per shard, in service
    /// order (retries, the queue, new requests), the first K jobs stay jobs
    /// and the rest wait; a new request finding Q ahead of it is answered
    /// `Busy` instead. Jobs that go to no shard (answered `Unavailable`)
    /// stay jobs and take no slot.
    fn bound_jobs(&self, ctx: &FeCtx, b: Bounded, plan: &mut Plan) {
        assert!(b.slots > 0, "K ≥ 1: a queue must drain");
        let Downstream::Servers { shards, .. } = ctx.downstream else {
            unreachable!("only the root FE bounds its frames")
        };
        let jobs = std::mem::take(&mut plan.jobs);
        let (mut retries, new): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.source == Source::Retry);
        // Oldest first (a crash can leave a younger request's retry before
        // an older one's in client order: the checker found it, `fifo`).
        retries.sort_by_key(|j| (self.inflight[j.client].as_ref().map_or(0, |f| f.since), j.client));
        debug_assert!(new.iter().all(|j| matches!(j.source, Source::Child { .. })));
        let mut budget = vec![b.slots; shards];
        // Per shard: the requests before the next one in service order.
        let mut ahead = vec![0usize; shards];
        let queued = self.queue.iter().map(|&client| {
            let f = self.inflight[client].as_ref().expect("a queued request is in flight");
            debug_assert!(f.is_queued());
            Job {
                client,
                source: Source::Retry,
                route: route(ctx, &plan.live, &f.req),
            }
        });
        // Requests accepted earlier: sent if a slot is left, else they wait.
        for job in retries.into_iter().chain(queued) {
            if let Some(s) = job.route.shard() {
                ahead[s] += 1;
            }
            match job.route.shard() {
                Some(s) if budget[s] == 0 => {
                    plan.requeue.push((job.client, s));
                    plan.queue_next.push(job.client);
                }
                Some(s) => {
                    budget[s] -= 1;
                    plan.jobs.push(job);
                }
                None => plan.jobs.push(job),
            }
        }
        for job in new {
            match job.route.shard() {
                Some(s) if ahead[s] >= b.queue => plan.busy.push(job),
                Some(s) if budget[s] == 0 => {
                    ahead[s] += 1;
                    plan.queue_next.push(job.client);
                    plan.enqueue.push((job, s));
                }
                Some(s) => {
                    ahead[s] += 1;
                    budget[s] -= 1;
                    plan.jobs.push(job);
                }
                None => plan.jobs.push(job),
            }
        }
    }

    /// Step 2 of [`Fe::plan`]: for each request in flight, its answer if it
    /// arrived (from the lowest target replica carrying its tag); else, if
    /// some targets died, the live ones left, or a new route if none is left.
    fn check_inflight(&self, ctx: &FeCtx, down: &[Option<&Frame<V>>], plan: &mut Plan) {
        let replicas = ctx.replicas();
        let (versioned, repair) = match ctx.downstream {
            Downstream::Servers { protocol, .. } => (protocol.versioned(), protocol.read_repair()),
            Downstream::Parent => (false, false),
        };
        for (client, entry) in self.inflight.iter().enumerate() {
            let Some(f) = entry else { continue };
            if f.is_queued() {
                // Waiting in the queue: step 4 decides (bound_jobs).
                continue;
            }
            let link = |r: usize| f.shard as usize * replicas + r;
            if versioned && self.check_versioned(client, f, down, replicas, repair, plan) {
                continue;
            }
            // A versioned request is answered by all its targets at once,
            // never by the first (check_versioned).
            let answer = bits(if versioned { 0 } else { f.answer }).find_map(|r| {
                let slots = down[link(r)]?.down();
                let entry = slots.position(client)?;
                (slots.entries()[entry].1.tag == f.req.tag).then_some(Delivery {
                    client,
                    link: link(r),
                    entry,
                })
            });
            if let Some(d) = answer {
                plan.deliver.push(d);
                continue;
            }
            let live = plan.live[f.shard as usize];
            let sent = Sent {
                targets: f.targets,
                answer: f.answer,
                is_write: f.req.op.is_write(),
            };
            let waiting = match ctx.downstream {
                Downstream::Servers { protocol, .. } => protocol.failover(sent, live),
                Downstream::Parent => (live != 0).then_some(sent),
            };
            if let Some(w) = waiting {
                if w != sent {
                    plan.still_waiting.push((client, w.targets, w.answer));
                }
                continue;
            }
            plan.jobs.push(Job {
                client,
                source: Source::Retry,
                route: route(ctx, &plan.live, &f.req),
            });
        }
    }

    /// Step 2 of [`Fe::plan`] for one request of a versioned protocol: it
    /// completes when every target answered (in lockstep they answer in the
    /// same cycle), a write with any answer, a read with the newest one or,
    /// with read repair and stale targets, by repairing them first; a repair
    /// completes when its targets acknowledged it, or when one of them died
    /// (it is best effort). Returns whether it decided the request's fate;
    /// otherwise the protocol's failover rule does.
    fn check_versioned(
        &self,
        client: ClientId,
        f: &InFlight<V>,
        down: &[Option<&Frame<V>>],
        replicas: usize,
        repair: bool,
        plan: &mut Plan,
    ) -> bool {
        let shard = f.shard as usize;
        let link = |r: usize| shard * replicas + r;
        let answer = |r: usize| {
            let slots = down[link(r)]?.down();
            let entry = slots.position(client)?;
            let resp = &slots.entries()[entry].1;
            (resp.tag == f.req.tag).then_some((r, entry, resp.version))
        };
        let all = bits(f.targets).all(|r| answer(r).is_some());
        if f.repair.is_some() {
            if all || bits(f.targets).any(|r| down[link(r)].is_none()) {
                plan.finish.push(client);
                return true;
            }
            return false;
        }
        if !all {
            return false;
        }
        let answers: Vec<(usize, usize, u64)> = bits(f.targets).filter_map(answer).collect();
        // The newest answer, the lowest replica among equals.
        let (r, entry, _) = *answers
            .iter()
            .max_by_key(|&&(r, _, v)| (v, std::cmp::Reverse(r)))
            .expect("a request has targets");
        let stale = crate::protocol::quorum::stale(answers.iter().map(|&(r, _, v)| (r, v)));
        if repair && !f.req.op.is_write() && stale != 0 {
            plan.jobs.push(Job {
                client,
                source: Source::Repair { link: link(r), entry },
                route: Route::Fixed {
                    shard,
                    targets: stale,
                    answer: stale,
                },
            });
        } else {
            plan.deliver.push(Delivery {
                client,
                link: link(r),
                entry,
            });
        }
        true
    }

    /// Step 2 of [`Fe::plan`] when every downstream frame arrived: no target
    /// died, so only the answers matter, and they are found from the frames'
    /// side (what arrived) instead of the in-flight side (every client
    /// waiting), with the result of [`Fe::check_inflight`]. The frames' slots
    /// are in client order: walking them together, client by client (a
    /// k-way merge), yields the answers in client order, and the frames of a
    /// client's shard in replica order.
    fn deliver_arrived(&self, replicas: usize, down: &[Option<&Frame<V>>], plan: &mut Plan) {
        let frames = |l: usize| down[l].map_or(&[][..], |f| f.down().entries());
        let cursors = &mut plan.cursors;
        cursors.clear();
        cursors.resize(down.len(), 0);
        loop {
            let next = (0..down.len())
                .filter_map(|l| frames(l).get(cursors[l]).map(|e| e.0))
                .min();
            let Some(client) = next else { break };
            let mut answer = None;
            for (l, cursor) in cursors.iter_mut().enumerate() {
                let entry = *cursor;
                let Some((c, resp)) = frames(l).get(entry) else {
                    continue;
                };
                if *c != client {
                    continue;
                }
                *cursor += 1;
                if answer.is_some() {
                    continue;
                }
                let Some(f) = &self.inflight[client as usize] else {
                    continue;
                };
                let (shard, r) = (l / replicas, l % replicas);
                if shard == f.shard as usize && f.answer & (1 << r) != 0 && resp.tag == f.req.tag {
                    answer = Some(Delivery {
                        client: client as usize,
                        link: l,
                        entry,
                    });
                }
            }
            plan.deliver.extend(answer);
        }
    }

    /// [`Bounded`] frames, in [`Fe::step_into`]: answers `Busy`, queues the
    /// new requests that wait, marks the requests that wait again as
    /// unsent, and installs the next queue.
    fn apply_queue(
        &mut self,
        inputs: &[Option<&Frame<V>>],
        plan: &mut Plan,
        respond: &mut dyn FnMut(ClientId, Response<V>),
    ) {
        let request = |job: &Job| {
            let Source::Child { input, entry } = job.source else {
                unreachable!("only new requests are queued or busy")
            };
            let frame = inputs[input].expect("a new request comes from a frame that arrived");
            &frame.up().entries()[entry].1
        };
        for job in plan.busy.drain(..) {
            debug_assert!(self.inflight[job.client].is_none());
            let tag = request(&job).tag;
            respond(
                job.client,
                Response {
                    tag,
                    result: OpResult::Busy,
                    version: 0,
                },
            );
        }
        for (job, shard) in plan.enqueue.drain(..) {
            let req = request(&job).clone();
            self.inflight[job.client] = Some(InFlight {
                req,
                shard: shard as u16,
                targets: 0,
                answer: 0,
                repair: None,
                since: self.cycle,
            });
        }
        for &(client, shard) in &plan.requeue {
            let f = self.inflight[client].as_mut().expect("a waiting request is in flight");
            (f.shard, f.targets, f.answer) = (shard as u16, 0, 0);
        }
        std::mem::swap(&mut self.queue, &mut plan.queue_next);
        debug_assert!(self
            .queue
            .iter()
            .all(|&c| self.inflight[c].as_ref().is_some_and(InFlight::is_queued)));
    }

    /// The open choices of this cycle: for each, the client, the shard and
    /// the candidate replicas in ascending order (for a [`Route::Subset`]
    /// with more than one subset: the candidate subsets, as bit sets, in
    /// ascending order). The chooser passed to
    /// [`Fe::step`] is asked exactly these, in this order.
    pub fn choice_points(&self, ctx: &FeCtx, inputs: &[Option<&Frame<V>>]) -> Vec<(ClientId, usize, Vec<usize>)> {
        self.plan(ctx, inputs)
            .jobs
            .into_iter()
            .filter_map(|j| match j.route {
                Route::Open { shard, candidates } => Some((j.client, shard, bits(candidates).collect())),
                Route::Subset {
                    shard,
                    candidates,
                    size,
                } => {
                    let sets: Vec<usize> = subsets(candidates, size).map(|m| m as usize).collect();
                    (sets.len() > 1).then_some((j.client, shard, sets))
                }
                _ => None,
            })
            .collect()
    }

    /// One cycle. `choose(client, candidates)` picks the index of one of the
    /// candidate replicas (ascending order) for each open choice. Returns one
    /// frame per output link (children first, then downstream).
    pub fn step(
        &mut self,
        ctx: &FeCtx,
        inputs: &[Option<&Frame<V>>],
        choose: &mut dyn FnMut(ClientId, &[usize]) -> usize,
    ) -> Vec<Frame<V>> {
        let mut out = ctx.empty_outputs();
        self.step_into(ctx, inputs, choose, &mut out[..], &mut Plan::new());
        out
    }

    /// [`Fe::step`] writing into `outs`, frames of the shapes
    /// [`FeCtx::empty_outputs`] makes with every slot empty (buffers reused
    /// from cycle to cycle by the in-process runtime); `plan` is scratch.
    pub fn step_into<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &FeCtx,
        inputs: &[Option<&Frame<V>>],
        choose: &mut dyn FnMut(ClientId, &[usize]) -> usize,
        outs: &mut O,
        plan: &mut Plan,
    ) {
        if ctx.cache.is_some() {
            self.step_cached(ctx, inputs, choose, outs, plan);
        } else if ctx.broadcast {
            let before: Vec<_> = self
                .inflight
                .iter()
                .map(|f| f.as_ref().map(|f| (f.req.tag, f.req.op.key(), f.req.op.is_write())))
                .collect();
            self.step_plain(ctx, inputs, choose, outs, plan);
            Fe::broadcast(ctx, &before, inputs, outs);
        } else {
            self.step_plain(ctx, inputs, choose, outs, plan);
        }
    }

    /// [`Fe::step_into`] without a cache or a broadcast.
    pub(super) fn step_plain<O: Outputs<V> + ?Sized>(
        &mut self,
        ctx: &FeCtx,
        inputs: &[Option<&Frame<V>>],
        choose: &mut dyn FnMut(ClientId, &[usize]) -> usize,
        outs: &mut O,
        plan: &mut Plan,
    ) {
        self.plan_into(ctx, inputs, plan);
        let nchildren = ctx.children.len();
        let respond = |outs: &mut O, client: ClientId, resp: Response<V>| {
            let child = ctx.child_of(client);
            let slot = if ctx.children[child].is_client { 0 } else { client };
            outs.out(child).down_mut().set(slot, resp);
        };
        for d in plan.deliver.drain(..) {
            self.inflight[d.client] = None;
            let frame = inputs[nchildren + d.link].expect("a delivery comes from a frame that arrived");
            let mut resp = frame.down().entries()[d.entry].1.clone();
            // Versions stay between the FE and the replicas.
            resp.version = 0;
            respond(outs, d.client, resp);
        }
        for client in plan.finish.drain(..) {
            let f = self.inflight[client].take().expect("a repaired read is in flight");
            let mut resp = f.repair.expect("a finished repair has its answer");
            resp.version = 0;
            respond(outs, client, resp);
        }
        for &(client, targets, answer) in &plan.still_waiting {
            if let Some(f) = &mut self.inflight[client] {
                (f.targets, f.answer) = (targets, answer);
            }
        }
        if ctx.bounded.is_some() {
            self.apply_queue(inputs, plan, &mut |client, resp| respond(outs, client, resp));
        }
        let replicas = ctx.replicas();
        let versioned = matches!(ctx.downstream, Downstream::Servers { protocol, .. } if protocol.versioned());
        for job in plan.jobs.drain(..) {
            let mut repaired = None;
            let owned: Request<V>;
            let req = match job.source {
                Source::Child { input, entry } => {
                    let frame = inputs[input].expect("a new request comes from a frame that arrived");
                    let req = &frame.up().entries()[entry].1;
                    if versioned && req.op.is_write() {
                        // A new write's version: this cycle, this client.
                        owned = Request {
                            version: crate::node::version(self.cycle, job.client),
                            ..req.clone()
                        };
                        &owned
                    } else {
                        req
                    }
                }
                Source::Retry => &self.inflight[job.client].as_ref().expect("a retry is in flight").req,
                Source::Repair { link, entry } => {
                    let frame = inputs[nchildren + link].expect("a repair comes from a frame that arrived");
                    let newest = frame.down().entries()[entry].1.clone();
                    let f = self.inflight[job.client]
                        .as_ref()
                        .expect("a repaired read is in flight");
                    let key = f.req.op.key();
                    let op = match &newest.result {
                        OpResult::Value(Some(v)) => Op::Put(key, v.clone()),
                        _ => Op::Delete(key),
                    };
                    owned = Request {
                        tag: f.req.tag,
                        op,
                        version: newest.version,
                    };
                    repaired = Some(newest);
                    &owned
                }
            };
            let (shard, targets, answer) = match job.route {
                Route::Unavailable => {
                    let tag = req.tag;
                    self.inflight[job.client] = None;
                    let result = OpResult::Unavailable;
                    respond(
                        outs,
                        job.client,
                        Response {
                            tag,
                            result,
                            version: 0,
                        },
                    );
                    continue;
                }
                Route::Parent => (0, 1, 1),
                Route::Fixed { shard, targets, answer } => (shard, targets, answer),
                Route::Subset {
                    shard,
                    candidates,
                    size,
                } => {
                    let mut list = [0u32; 64];
                    let mut n = 0;
                    for m in subsets(candidates, size) {
                        assert!(n < list.len(), "at most {} subsets to choose from", list.len());
                        list[n] = m;
                        n += 1;
                    }
                    let i = if n == 1 {
                        0
                    } else {
                        let sets: Vec<usize> = list[..n].iter().map(|&m| m as usize).collect();
                        choose(job.client, &sets)
                    };
                    assert!(i < n, "chooser returned {i} of {n} subsets");
                    (shard, list[i], list[i])
                }
                Route::Open { shard, candidates } => {
                    let mut list = [0usize; 32];
                    let mut n = 0;
                    for r in bits(candidates) {
                        list[n] = r;
                        n += 1;
                    }
                    let i = choose(job.client, &list[..n]);
                    assert!(i < n, "chooser returned {i} of {n} candidates");
                    (shard, 1 << list[i], 1 << list[i])
                }
            };
            for r in bits(targets) {
                outs.out(nchildren + shard * replicas + r)
                    .up_mut()
                    .set(job.client, req.clone());
            }
            let shard = shard as u16;
            match job.source {
                Source::Retry => {
                    let f = self.inflight[job.client].as_mut().expect("a retry is in flight");
                    (f.shard, f.targets, f.answer) = (shard, targets, answer);
                }
                Source::Repair { .. } => {
                    let f = self.inflight[job.client]
                        .as_mut()
                        .expect("a repaired read is in flight");
                    (f.targets, f.answer, f.repair) = (targets, answer, repaired);
                }
                Source::Child { .. } => {
                    let req = req.clone();
                    self.inflight[job.client] = Some(InFlight {
                        req,
                        shard,
                        targets,
                        answer,
                        repair: None,
                        since: if ctx.bounded.is_some() { self.cycle } else { 0 },
                    });
                }
            }
        }
        self.cycle += 1;
    }
}

impl Route {
    /// The shard it goes to, if any.
    pub fn shard(&self) -> Option<usize> {
        match *self {
            Route::Fixed { shard, .. } | Route::Open { shard, .. } | Route::Subset { shard, .. } => Some(shard),
            Route::Parent | Route::Unavailable => None,
        }
    }
}

/// Where `req` goes, given the live replicas of each downstream shard.
fn route<V>(ctx: &FeCtx, live: &[u32], req: &Request<V>) -> Route {
    let Downstream::Servers {
        shards,
        protocol,
        rehash,
        ..
    } = ctx.downstream
    else {
        return if live[0] != 0 {
            Route::Parent
        } else {
            Route::Unavailable
        };
    };
    let key = req.op.key();
    // One shard: every key's home (`hash mod 1`), without hashing.
    let home = if shards == 1 { 0 } else { home_shard(key, shards) };
    let shard = if live[home] != 0 {
        home
    } else if rehash {
        match rendezvous(key, (0..shards).filter(|&s| live[s] != 0)) {
            Some(s) => s,
            None => return Route::Unavailable,
        }
    } else {
        return Route::Unavailable;
    };
    let live = live[shard];
    if live.count_ones() == 1 && !protocol.versioned() {
        // A lone live replica serves everything, whatever the protocol.
        return Route::Fixed {
            shard,
            targets: live,
            answer: live,
        };
    }
    match protocol.route(key, req.op.is_write(), live) {
        Dispatch::Fixed { targets, answer } => Route::Fixed { shard, targets, answer },
        Dispatch::Open { candidates } => Route::Open { shard, candidates },
        Dispatch::Subset { candidates, size } => Route::Subset {
            shard,
            candidates,
            size,
        },
        Dispatch::Unavailable => Route::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Op, Tag};
    use crate::Lcg;

    /// With every downstream frame present, the merge over the frames that
    /// arrived delivers exactly what the scan over the in-flight table
    /// delivers (and the scan finds nothing else to do): random in-flight
    /// tables, targets and answers, stale tags included.
    #[test]
    fn the_merge_of_the_answers_finds_what_the_scan_finds() {
        let mut rng = Lcg(11);
        let mut delivered = 0;
        for _ in 0..3000 {
            let shards = 1 + rng.below(3) as usize;
            let replicas = 1 + rng.below(3) as usize;
            let clients = 1 + rng.below(6) as usize;
            let ctx = FeCtx {
                clients,
                children: (0..clients)
                    .map(|c| Child {
                        clients: c..c + 1,
                        is_client: true,
                    })
                    .collect(),
                downstream: Downstream::Servers {
                    shards,
                    replicas,
                    protocol: Protocol::Fanout,
                    rehash: false,
                },
                cache: None,
                broadcast: false,
                bounded: None,
            };
            let mut fe = Fe::<u8>::new(clients);
            for entry in fe.inflight.iter_mut() {
                if rng.below(4) != 0 {
                    let targets = 1 + rng.below((1 << replicas) - 1) as u32;
                    *entry = Some(InFlight {
                        req: Request {
                            tag: rng.below(3) as Tag,
                            op: Op::Get(0),
                            version: 0,
                        },
                        shard: rng.below(shards as u64) as u16,
                        targets,
                        answer: targets,
                        repair: None,
                        since: 0,
                    });
                }
            }
            let frames: Vec<Frame<u8>> = (0..shards * replicas)
                .map(|_| {
                    Frame::Down(
                        (0..clients)
                            .map(|_| {
                                (rng.below(2) == 0).then(|| Response {
                                    tag: rng.below(3) as Tag,
                                    result: OpResult::Value(Some(rng.below(4) as u8)),
                                    version: 0,
                                })
                            })
                            .collect(),
                    )
                })
                .collect();
            let down: Vec<Option<&Frame<u8>>> = frames.iter().map(Some).collect();
            let mut merge = Plan::new();
            fe.deliver_arrived(replicas, &down, &mut merge);
            let mut scan = Plan::new();
            scan.live = vec![(1 << replicas) - 1; shards];
            fe.check_inflight(&ctx, &down, &mut scan);
            assert_eq!(merge.deliver, scan.deliver);
            assert!(scan.jobs.is_empty() && scan.still_waiting.is_empty());
            delivered += merge.deliver.len();
        }
        assert!(delivered > 1000, "the cases deliver something: {delivered}");
    }

    fn root(protocol: Protocol, shards: usize, replicas: usize, rehash: bool) -> FeCtx {
        FeCtx {
            clients: 2,
            children: vec![
                Child {
                    clients: 0..1,
                    is_client: true,
                },
                Child {
                    clients: 1..2,
                    is_client: true,
                },
            ],
            downstream: Downstream::Servers {
                shards,
                replicas,
                protocol,
                rehash,
            },
            cache: None,
            broadcast: false,
            bounded: None,
        }
    }

    fn up(op: Op<u8>) -> Frame<u8> {
        Frame::Up(vec![Some(Request { tag: 0, op, version: 0 })].into())
    }

    fn empty_down() -> Frame<u8> {
        Frame::Down(Slots::new(2))
    }

    #[test]
    fn fanout_sends_writes_to_all_and_reads_to_one() {
        let ctx = root(Protocol::Fanout, 1, 3, false);
        let fe = Fe::<u8>::new(2);
        let (w, r, d) = (up(Op::Put(0, 1)), up(Op::Get(0)), empty_down());
        let inputs = [Some(&w), Some(&r), Some(&d), Some(&d), Some(&d)];
        assert_eq!(fe.choice_points(&ctx, &inputs), vec![(1, 0, vec![0, 1, 2])]);
        let mut fe2 = fe.clone();
        let out = fe2.step(&ctx, &inputs, &mut |_, _| 2);
        let used: Vec<usize> = out[2..].iter().map(|f| f.used_slots()).collect();
        assert_eq!(used, vec![1, 1, 2], "write to all three, read to r2");
    }

    #[test]
    fn dead_replica_is_not_a_candidate_and_inflight_is_retried() {
        let ctx = root(Protocol::Seed, 1, 2, false);
        let mut fe = Fe::<u8>::new(2);
        let (w, none, d) = (up(Op::Put(0, 1)), Frame::Up(Slots::new(1)), empty_down());
        fe.step(&ctx, &[Some(&w), Some(&none), Some(&d), Some(&d)], &mut |_, _| 0);
        assert_eq!(fe.inflight[0].as_ref().unwrap().targets, 0b01);
        // r0 dies before answering: the request goes to r1, the only one left.
        let out = fe.step(&ctx, &[Some(&none), Some(&none), None, Some(&d)], &mut |_, _| panic!());
        assert_eq!(out[3].used_slots(), 1);
        assert_eq!(fe.inflight[0].as_ref().unwrap().targets, 0b10);
        // r1 dies too: Unavailable.
        let out = fe.step(&ctx, &[Some(&none), Some(&none), None, None], &mut |_, _| panic!());
        assert_eq!(out[0].down().get(0).unwrap().result, OpResult::Unavailable);
        assert!(fe.inflight[0].is_none());
    }

    #[test]
    fn sharded_rehashes_a_dead_shards_keys() {
        let ctx = root(Protocol::Seed, 2, 1, true);
        let fe = Fe::<u8>::new(2);
        let key = (0..).find(|&k| home_shard(k, 2) == 0).unwrap();
        let (g, none, d) = (up(Op::Get(key)), Frame::Up(Slots::new(1)), empty_down());
        let plan = fe.plan(&ctx, &[Some(&g), Some(&none), None, Some(&d)]);
        assert_eq!(
            plan.jobs[0].route,
            Route::Fixed {
                shard: 1,
                targets: 1,
                answer: 1
            }
        );
        let plan = fe.plan(&ctx, &[Some(&g), Some(&none), None, None]);
        assert_eq!(plan.jobs[0].route, Route::Unavailable);
    }

    #[test]
    fn owner_writes_go_to_the_rendezvous_owner() {
        let ctx = root(Protocol::Owner, 1, 3, false);
        let fe = Fe::<u8>::new(2);
        let (w, none, d) = (up(Op::Put(3, 1)), Frame::Up(Slots::new(1)), empty_down());
        let plan = fe.plan(&ctx, &[Some(&w), Some(&none), Some(&d), Some(&d), Some(&d)]);
        let owner = rendezvous(3, 0..3).unwrap();
        assert_eq!(
            plan.jobs[0].route,
            Route::Fixed {
                shard: 0,
                targets: 1 << owner,
                answer: 1 << owner
            }
        );
    }
}
