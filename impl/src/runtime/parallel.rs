//! Stepping a cluster on one thread or on two.
//!
//! The in-process engine drives a [`Stepper`]. [`Sequential`] is
//! [`Cluster::step_with`] on this thread. [`Split`] runs the same cycle on two
//! threads: this one steps the clients and front ends, a worker steps the
//! servers, concurrently. Within a cycle every node reads only last cycle's
//! frames and writes only its own outputs (the lockstep rule the model is
//! built on), so the two groups share nothing but the read-only inbox, and
//! the result is the same as the sequential step's, bit for bit (a test holds
//! it to that). Clients and FEs make every choice and produce every event, so
//! those stay on the calling thread, in order.
//!
//! The two threads meet twice per cycle (the worker is handed the servers and
//! hands them back) through a [`Handoff`], which spins before it sleeps: a
//! channel's sleep and wake-up cost tens of microseconds per handover, more
//! than most cycles' work. Even so, on the 2-core machine measured in
//! `docs/PERFORMANCE.md` the split is slower than one thread: every request
//! and response then crosses between the cores' caches, and that costs the
//! servers more than the thread saves.

use crate::cluster::{step_nodes, Chooser, Cluster, CycleInputs, NodeState, StepBuffers};
use crate::node::client::ClientEvent;
use crate::node::server::Store;
use crate::node::{ClientId, Frame, Val};
use crate::topology::{NodeId, Topology};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Executes cycles of a cluster.
pub trait Stepper<V> {
    /// Whether client `c` may be handed a new operation this cycle.
    fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool;
    /// Executes one cycle, as [`Cluster::step`].
    fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    );
    /// Per link: the frame sent last cycle (`None`: sender dead).
    fn inbox(&self) -> &[Option<Frame<V>>];
    /// Serializes every live server's state and replaces it with what
    /// deserializes back, as the seed's platform does between cycles; returns
    /// the bytes serialized.
    fn round_trip_servers(&mut self) -> u64;
    /// The state of FE `id`, if it lives (queue depths, `--slots`).
    fn fe(&self, id: NodeId) -> Option<&crate::node::fe::Fe<V>>;
    /// The stepper as [`std::any::Any`], for a driver that needs the cluster
    /// itself (restarts: only [`Sequential`] gives it).
    fn as_any(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }
}

/// [`Stepper::round_trip_servers`] over `nodes`.
pub fn round_trip_servers<V: Val, S: Store<V>>(nodes: &mut [NodeState<V, S>]) -> u64 {
    let mut bytes = 0;
    for node in nodes.iter_mut() {
        if let NodeState::Server(s) = node {
            let b = postcard::to_allocvec(&*s).expect("a server's state serializes");
            bytes += b.len() as u64;
            *s = postcard::from_bytes(&b).expect("a serialized server's state deserializes");
        }
    }
    bytes
}

/// [`Cluster::step_with`] on the calling thread.
pub struct Sequential<V, S> {
    pub cluster: Cluster<V, S>,
    bufs: StepBuffers<V, S>,
}

impl<V: Val, S: Store<V>> Sequential<V, S> {
    pub fn new(cluster: Cluster<V, S>) -> Self {
        Sequential {
            cluster,
            bufs: StepBuffers::default(),
        }
    }
}

impl<V: Val, S: Store<V> + 'static> Stepper<V> for Sequential<V, S> {
    #[inline]
    fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool {
        self.cluster.will_be_idle(topo, c)
    }

    fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    ) {
        self.cluster.step_with(topo, inputs, choose, events, &mut self.bufs);
    }

    fn inbox(&self) -> &[Option<Frame<V>>] {
        &self.cluster.inbox
    }

    fn round_trip_servers(&mut self) -> u64 {
        round_trip_servers(&mut self.cluster.nodes)
    }

    fn fe(&self, id: NodeId) -> Option<&crate::node::fe::Fe<V>> {
        match &self.cluster.nodes[id] {
            NodeState::Fe(f) => Some(f),
            _ => None,
        }
    }

    fn as_any(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

type Inbox<V> = Arc<Vec<Option<Frame<V>>>>;

/// The servers, lent to the worker for one cycle.
struct Job<V, S> {
    nodes: Vec<NodeState<V, S>>,
    bufs: StepBuffers<V, S>,
    inbox: Inbox<V>,
    inputs: CycleInputs<V>,
}

/// The cluster split over two threads: see the module documentation.
pub struct Split<V, S> {
    /// Nodes `0..split`: the clients and the FEs.
    front: Vec<NodeState<V, S>>,
    front_bufs: StepBuffers<V, S>,
    /// Nodes `split..`: the servers with their buffers, while on this thread.
    back: Option<(Vec<NodeState<V, S>>, StepBuffers<V, S>, CycleInputs<V>)>,
    inbox: Inbox<V>,
    split: NodeId,
    cycle: u32,
    jobs: Closing<Job<V, S>>,
    done: Arc<Handoff<Job<V, S>>>,
}

/// Runs `f` with `cluster` split over this thread and a worker; returns the
/// cluster as it is afterwards, and what `f` returned.
pub fn run_split<V, S, R>(
    cluster: Cluster<V, S>,
    topo: &Topology,
    f: impl FnOnce(&mut Split<V, S>) -> R,
) -> (Cluster<V, S>, R)
where
    V: Val,
    S: Store<V> + Send,
{
    let split = topo.servers().min().expect("every topology has a server");
    debug_assert!(topo.servers().all(|s| s >= split), "servers come last");
    let jobs = Arc::new(Handoff::<Job<V, S>>::new());
    let done = Arc::new(Handoff::<Job<V, S>>::new());
    std::thread::scope(|scope| {
        let (worker_jobs, worker_done) = (Arc::clone(&jobs), Closing(Arc::clone(&done)));
        scope.spawn(move || {
            let mut events = Vec::new();
            while let Some(mut job) = worker_jobs.recv() {
                let mut no_choice =
                    |_: NodeId, _: ClientId, _: &[usize]| -> usize { unreachable!("servers make no choices") };
                step_nodes(
                    &mut job.nodes,
                    split,
                    topo,
                    &job.inbox,
                    &job.inputs,
                    &mut no_choice,
                    &mut events,
                    &mut job.bufs,
                );
                // Release the inbox before handing back, so that the caller
                // may update it.
                job.inbox = Arc::new(Vec::new());
                worker_done.send(job);
            }
            // Dropping `worker_done` closes it: a caller waiting hears it.
        });
        let Cluster {
            cycle,
            mut nodes,
            inbox,
            durable,
        } = cluster;
        // The split stepper keeps no durable images: a run with recovery
        // steps on one thread (`runtime::inproc`).
        debug_assert!(durable.is_empty(), "recovery runs on the sequential stepper");
        let back = nodes.split_off(split);
        let links = topo.links.len();
        let mut st = Split {
            front: nodes,
            front_bufs: StepBuffers::with_links(links),
            back: Some((
                back,
                StepBuffers::with_links(links),
                CycleInputs {
                    ops: Vec::new(),
                    crashes: Vec::new(),
                },
            )),
            inbox: Arc::new(inbox),
            split,
            cycle,
            jobs: Closing(jobs),
            done,
        };
        let r = f(&mut st);
        let Split {
            mut front,
            back,
            inbox,
            cycle,
            jobs,
            ..
        } = st;
        drop(jobs); // ends the worker's loop
        front.extend(back.expect("the servers are back").0);
        let inbox = Arc::try_unwrap(inbox).ok().expect("nobody else holds the inbox");
        (
            Cluster {
                cycle,
                nodes: front,
                inbox,
                durable,
            },
            r,
        )
    })
}

impl<V: Val, S: Store<V> + Send> Stepper<V> for Split<V, S> {
    fn will_be_idle(&self, topo: &Topology, c: ClientId) -> bool {
        match &self.front[c] {
            NodeState::Client(cl) => cl.will_be_idle(self.inbox[topo.nodes[c].inputs[0]].as_ref()),
            _ => false,
        }
    }

    fn step(
        &mut self,
        topo: &Topology,
        inputs: &CycleInputs<V>,
        choose: &mut Chooser<'_>,
        events: &mut Vec<(ClientId, ClientEvent<V>)>,
    ) {
        let (nodes, bufs, mut server_inputs) = self.back.take().expect("the servers are on this thread");
        // The servers need only the crashes (reusing the vector's buffer).
        server_inputs.crashes.clear();
        server_inputs.crashes.extend_from_slice(&inputs.crashes);
        let job = Job {
            nodes,
            bufs,
            inbox: Arc::clone(&self.inbox),
            inputs: server_inputs,
        };
        self.jobs.send(job);
        step_nodes(
            &mut self.front,
            0,
            topo,
            &self.inbox,
            inputs,
            choose,
            events,
            &mut self.front_bufs,
        );
        let Job {
            nodes,
            mut bufs,
            inputs,
            ..
        } = self.done.recv().expect("the worker runs until the split ends");
        let inbox = Arc::get_mut(&mut self.inbox).expect("the worker released the inbox");
        for (l, link) in topo.links.iter().enumerate() {
            let to_dead = if link.to < self.split {
                matches!(self.front[link.to], NodeState::Dead)
            } else {
                matches!(nodes[link.to - self.split], NodeState::Dead)
            };
            // Each link's frame buffer stays with its sender's group.
            let spare = if link.from < self.split {
                self.front_bufs.spare_mut()
            } else {
                bufs.spare_mut()
            };
            if to_dead {
                spare[l] = None;
            }
            std::mem::swap(&mut inbox[l], &mut spare[l]);
        }
        self.back = Some((nodes, bufs, inputs));
        self.cycle += 1;
    }

    fn fe(&self, id: NodeId) -> Option<&crate::node::fe::Fe<V>> {
        match self.front.get(id) {
            Some(NodeState::Fe(f)) => Some(f),
            _ => None,
        }
    }

    fn inbox(&self) -> &[Option<Frame<V>>] {
        &self.inbox
    }

    fn round_trip_servers(&mut self) -> u64 {
        let (back, _, _) = self
            .back
            .as_mut()
            .expect("the servers are on this thread between cycles");
        round_trip_servers(back)
    }
}

/// A one-place mailbox from one thread to another: [`Handoff::send`] leaves a
/// value, [`Handoff::recv`] waits for it. A cycle hands over twice, every few
/// microseconds, so the receiver spins first (for [`SPIN`]) and parks only
/// when the wait runs long.
pub struct Handoff<T> {
    slot: Mutex<Option<T>>,
    state: AtomicU8,
    /// The receiving thread, once it has waited.
    receiver: OnceLock<Thread>,
}

/// How long a receiver spins before it parks.
const SPIN: Duration = Duration::from_micros(200);

const EMPTY: u8 = 0;
const FULL: u8 = 1;
const PARKED: u8 = 2;
const CLOSED: u8 = 3;

impl<T> Handoff<T> {
    pub fn new() -> Self {
        Handoff {
            slot: Mutex::new(None),
            state: AtomicU8::new(EMPTY),
            receiver: OnceLock::new(),
        }
    }

    /// Leaves `x` for the receiver, which must have taken the previous one.
    pub fn send(&self, x: T) {
        let previous = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            debug_assert!(slot.is_none(), "one value at a time");
            *slot = Some(x);
            self.state.swap(FULL, Ordering::AcqRel)
        };
        if previous == PARKED {
            self.receiver.get().expect("a parked receiver registered").unpark();
        }
    }

    /// No more values: a receiver waiting, or to come, gets the value left
    /// before, if any, then `None`.
    pub fn close(&self) {
        let _slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if self.state.swap(CLOSED, Ordering::AcqRel) == PARKED {
            self.receiver.get().expect("a parked receiver registered").unpark();
        }
    }

    /// Waits for the next value; `None` once closed.
    pub fn recv(&self) -> Option<T> {
        let mut waiting_since = None;
        let mut spins = 0u32;
        loop {
            match self.state.load(Ordering::Acquire) {
                FULL => break,
                // A value sent before the close is still there.
                CLOSED => return self.slot.lock().unwrap_or_else(|e| e.into_inner()).take(),
                PARKED => std::thread::park(),
                _ => {
                    spins = spins.wrapping_add(1);
                    if spins % 128 != 0 {
                        std::hint::spin_loop();
                        continue;
                    }
                    if waiting_since.get_or_insert_with(Instant::now).elapsed() < SPIN {
                        continue;
                    }
                    self.receiver.get_or_init(std::thread::current);
                    // Fails if a value (or the close) came in between: look again.
                    let _ = self
                        .state
                        .compare_exchange(EMPTY, PARKED, Ordering::AcqRel, Ordering::Acquire);
                }
            }
        }
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock, so that a close cannot come between.
        if self.state.load(Ordering::Acquire) == FULL {
            self.state.store(EMPTY, Ordering::Release);
        }
        slot.take()
    }
}

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Handoff::new()
    }
}

/// The sending side of a [`Handoff`], which closes it when dropped (also when
/// its thread unwinds), so that the other side never waits for nothing.
struct Closing<T>(Arc<Handoff<T>>);

impl<T> Closing<T> {
    fn send(&self, x: T) {
        self.0.send(x)
    }
}

impl<T> Drop for Closing<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::server::HashStore;
    use crate::node::{Op, Protocol};
    use crate::topology::{Kind, TopologyConfig};

    /// Values arrive in order, across threads, whether the receiver finds
    /// them while spinning or is woken from a park; a close wakes a parked
    /// receiver, and a value sent before the close is still received.
    #[test]
    fn the_handoff_delivers_in_order_and_wakes_a_parked_receiver() {
        let there = Arc::new(Handoff::<u32>::new());
        let back = Arc::new(Handoff::<u32>::new());
        std::thread::scope(|scope| {
            let (there2, back2) = (Arc::clone(&there), Closing(Arc::clone(&back)));
            scope.spawn(move || {
                while let Some(x) = there2.recv() {
                    back2.send(x + 1);
                }
            });
            let there = Closing(Arc::clone(&there));
            for i in 0..2000u32 {
                if i % 500 == 0 {
                    // Long enough for the worker to park.
                    std::thread::sleep(SPIN * 5);
                }
                there.send(i);
                assert_eq!(back.recv(), Some(i + 1));
            }
            there.send(7);
            std::thread::sleep(SPIN * 5);
            drop(there);
            // Long enough for the worker to end and close `back`.
            std::thread::sleep(SPIN * 5);
            assert_eq!(back.recv(), Some(8), "sent before the close");
            assert_eq!(back.recv(), None, "closed when the worker ended");
        });
    }

    /// The split stepper computes exactly what the sequential one computes,
    /// through crashes of servers and of the FE.
    #[test]
    fn two_threads_compute_what_one_computes() {
        for (kind, protocol) in [
            (Kind::Single, Protocol::Fanout),
            (Kind::Sharded, Protocol::Fanout),
            (Kind::Replicated, Protocol::Seed),
            (Kind::Replicated, Protocol::Fanout),
        ] {
            let mut config = TopologyConfig::new(kind, 5);
            config.protocol = protocol;
            let topo = Topology::new(config).unwrap();
            let mut seq = Sequential::new(Cluster::<u8, HashStore<u8>>::new(&topo));
            let doomed: Vec<NodeId> = topo.servers().take(2).chain(topo.fes()).collect();
            let (cluster, ()) = run_split(Cluster::<u8, HashStore<u8>>::new(&topo), &topo, |split| {
                let mut x = 7u64;
                for cycle in 0..200u32 {
                    let ops = (0..topo.clients())
                        .map(|c| {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                            let idle = seq.will_be_idle(&topo, c);
                            assert_eq!(idle, split.will_be_idle(&topo, c));
                            let (k, v) = ((x >> 40) as u32 % 3, (x >> 50) as u8);
                            idle.then(|| if x >> 63 == 0 { Op::Get(k) } else { Op::Put(k, v) })
                        })
                        .collect();
                    let crash = |i: usize, kind| doomed.get(i).map(|&node| crate::cluster::Crash { node, kind });
                    let crashes: Vec<_> = match cycle {
                        60 => crash(0, crate::cluster::CrashKind::MidSend(1)),
                        90 => crash(1, crate::cluster::CrashKind::Atomic),
                        150 => crash(2, crate::cluster::CrashKind::Atomic),
                        _ => None,
                    }
                    .into_iter()
                    .collect();
                    let inputs = CycleInputs { ops, crashes };
                    let (mut e1, mut e2) = (Vec::new(), Vec::new());
                    seq.step(
                        &topo,
                        &inputs,
                        &mut |_, c, cands| (c + cycle as usize) % cands.len(),
                        &mut e1,
                    );
                    split.step(
                        &topo,
                        &inputs,
                        &mut |_, c, cands| (c + cycle as usize) % cands.len(),
                        &mut e2,
                    );
                    assert_eq!(e1, e2, "{kind} {protocol} cycle {cycle}");
                    assert_eq!(seq.inbox(), split.inbox(), "{kind} {protocol} cycle {cycle}");
                }
            });
            assert_eq!(cluster.cycle, seq.cluster.cycle);
            assert_eq!(cluster.inbox, seq.cluster.inbox);
            assert_eq!(
                format!("{:?}", cluster.nodes.len()),
                format!("{:?}", seq.cluster.nodes.len())
            );
            for (a, b) in cluster.nodes.iter().zip(&seq.cluster.nodes) {
                match (a, b) {
                    (NodeState::Server(a), NodeState::Server(b)) => {
                        assert_eq!(a.store, b.store);
                        assert_eq!(a.sessions, b.sessions);
                    }
                    (NodeState::Client(a), NodeState::Client(b)) => assert_eq!(a, b),
                    (NodeState::Fe(a), NodeState::Fe(b)) => assert_eq!(a, b),
                    (NodeState::Dead, NodeState::Dead) => {}
                    _ => panic!("{kind} {protocol}: one is dead, the other not"),
                }
            }
        }
    }
}
